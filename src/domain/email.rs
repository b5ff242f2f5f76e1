//! E-mail addresses as members give them, and the tokens of the links mailed to them.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::domain::os_random;

/// The longest address, in characters (RFC 5321's path limit less its angle brackets).
pub const EMAIL_MAX: usize = 254;

/// A valid address: `local@domain`, the domain lower-cased, the local part kept as typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailAddress(String);

impl EmailAddress {
    /// Check `input` (trimmed): at most [`EMAIL_MAX`] characters, one `local@domain` with no
    /// spaces, control characters or characters that would need quoting in a mail header, and
    /// a domain of dot-separated labels. The error is the sentence the form shows.
    pub fn parse(input: &str) -> Result<Self, &'static str> {
        const INVALID: &str = "Enter an e-mail address such as name@example.com.";
        let input = input.trim();
        if input.is_empty() {
            return Err("Enter an e-mail address.");
        }
        if input.chars().count() > EMAIL_MAX {
            return Err("An e-mail address has at most 254 characters.");
        }
        let Some((local, domain)) = input.rsplit_once('@') else {
            return Err(INVALID);
        };
        let forbidden = |c: char| {
            c.is_whitespace()
                || c.is_control()
                || matches!(
                    c,
                    '<' | '>' | '(' | ')' | '[' | ']' | ',' | ';' | ':' | '"' | '\\' | '@'
                )
                || is_invisible(c)
        };
        if local.is_empty()
            || local.starts_with('.')
            || local.ends_with('.')
            || local.contains("..")
            || local.chars().any(forbidden)
        {
            return Err(INVALID);
        }
        let domain = domain.to_lowercase();
        let label_ok = |label: &str| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .chars()
                    .all(|c| c == '-' || c.is_alphanumeric() && !is_invisible(c))
        };
        if domain.split('.').any(|label| !label_ok(label)) {
            return Err(INVALID);
        }
        let address = format!("{local}@{domain}");
        // What the mail library will put in the envelope must parse there too.
        if address.parse::<lettre::Address>().is_err() {
            return Err(INVALID);
        }
        Ok(Self(address))
    }

    /// The address as stored and shown.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key two addresses are compared by: ASCII letters lower-cased.
    pub fn key(&self) -> String {
        address_key(&self.0)
    }
}

/// [`EmailAddress::key`] of any address text: ASCII letters lower-cased.
pub fn address_key(address: &str) -> String {
    address.to_ascii_lowercase()
}

/// Characters that show as nothing: an address must read as what it is.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

/// Random bytes in a link token: 256 bits from the operating system's generator.
const TOKEN_BYTES: usize = 32;
/// Their length in URL-safe base64 without padding.
const TOKEN_CHARS: usize = 43;

/// A link's token: what the mail carries (once, in the clear) and the SHA-256 the database
/// keeps. Never printed by `Debug`.
#[derive(Clone)]
pub struct LinkToken {
    text: String,
    hash: [u8; 32],
}

impl std::fmt::Debug for LinkToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkToken(..)")
    }
}

impl LinkToken {
    /// A fresh token.
    pub fn generate() -> Self {
        let text = URL_SAFE_NO_PAD.encode(os_random::<TOKEN_BYTES>());
        let hash = Sha256::digest(text.as_bytes()).into();
        Self { text, hash }
    }

    /// The token as it goes into a link.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// What the database keeps.
    pub fn hash(&self) -> [u8; 32] {
        self.hash
    }
}

/// The stored hash of a token taken from a link or a form, or `None` if it cannot be one of
/// ours (then nothing need be looked up).
pub fn link_token_hash(token: &str) -> Option<[u8; 32]> {
    let well_formed = token.len() == TOKEN_CHARS
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    well_formed.then(|| Sha256::digest(token.as_bytes()).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_keep_the_local_part_and_lower_case_the_domain() {
        let a = EmailAddress::parse("  Ann.Lee@Example.COM ").expect("valid");
        assert_eq!(a.as_str(), "Ann.Lee@example.com");
        assert_eq!(a.key(), "ann.lee@example.com");
        assert!(EmailAddress::parse("ann@localhost").is_ok());
        assert!(EmailAddress::parse("ann+tag@mail.example.org").is_ok());
    }

    #[test]
    fn bad_addresses_are_refused() {
        let long = format!("{}@example.com", "a".repeat(250));
        for bad in [
            "",
            "ann",
            "@example.com",
            "ann@",
            "ann@@example.com",
            "an n@example.com",
            "ann@exa mple.com",
            "ann@example..com",
            "ann@-example.com",
            ".ann@example.com",
            "ann.@example.com",
            "a\u{0}n@example.com",
            "ann\r\nBcc: x@example.com@example.com",
            "<ann>@example.com",
            "ann@exam\u{200B}ple.com",
            long.as_str(),
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn tokens_have_256_bits_and_only_their_hash_matches() {
        let token = LinkToken::generate();
        assert_eq!(token.as_str().len(), TOKEN_CHARS);
        assert_eq!(link_token_hash(token.as_str()), Some(token.hash()));
        assert_ne!(LinkToken::generate().as_str(), token.as_str());
        assert_eq!(link_token_hash("short"), None);
        assert_eq!(link_token_hash(&"=".repeat(TOKEN_CHARS)), None);
        assert!(!format!("{token:?}").contains(token.as_str()));
    }

    mod properties {
        use proptest::prelude::*;

        use super::super::*;

        proptest! {
            #[test]
            fn an_accepted_address_is_bounded_clean_and_stable(input in "\\PC{0,40}|[A-Za-z0-9._+-]{1,20}@[A-Za-z0-9.-]{1,20}") {
                if let Ok(address) = EmailAddress::parse(&input) {
                    let text = address.as_str();
                    prop_assert!(text.chars().count() <= EMAIL_MAX);
                    prop_assert!(!text.chars().any(|c| c.is_whitespace() || c.is_control()));
                    let (_, domain) = text.rsplit_once('@').expect("an @");
                    prop_assert_eq!(domain.to_lowercase(), domain);
                    prop_assert!(text.parse::<lettre::Address>().is_ok());
                    prop_assert_eq!(EmailAddress::parse(text), Ok(address.clone()));
                }
            }
        }
    }
}
