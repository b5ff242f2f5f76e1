//! What the app mails, in words ([`Letter`]), and how a letter waits in the outbox
//! ([`MailSeal`]: encrypted, so a database reader learns no link from it).
//!
//! Every letter is plain text. A link stands on a line of its own and starts with the site's
//! public origin. Notices carry no link that signs anyone in.

use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// What a letter says. Each variant is one kind of mail.
#[derive(Clone, PartialEq, Eq)]
pub enum Letter {
    /// Follow this link to verify the address.
    VerifyAddress {
        /// The account.
        username: String,
        /// The verification link.
        link: String,
        /// How long it works, in words.
        valid_for: String,
    },
    /// Someone asked to use this address for an account, but it already belongs to another:
    /// no link.
    AddressInUse,
    /// Follow this link to choose a new password.
    ResetPassword {
        /// The account.
        username: String,
        /// The reset link.
        link: String,
        /// How long it works, in words.
        valid_for: String,
    },
    /// The password was changed.
    PasswordChanged {
        /// The account.
        username: String,
        /// Through a reset link (else a form or the command line).
        by_reset: bool,
    },
    /// The account's address changed (sent to the old one).
    AddressChanged {
        /// The account.
        username: String,
        /// The address now on the account.
        new_address: String,
    },
    /// Two-factor sign-in was turned on or off.
    TwoFactor {
        /// The account.
        username: String,
        /// On (true) or off.
        on: bool,
    },
    /// A recovery code was used to sign in.
    RecoveryCodeUsed {
        /// The account.
        username: String,
        /// How many are left.
        left: u32,
    },
    /// The account was deleted.
    AccountDeleted {
        /// The account.
        username: String,
    },
    /// A sign-in from a browser and system not seen on the account in 90 days.
    NewSignIn {
        /// The account.
        username: String,
        /// Browser, in words.
        browser: String,
        /// Operating system, in words.
        system: String,
        /// The client's IP.
        ip: String,
    },
    /// `member-portal mail send-test`.
    Test,
}

impl std::fmt::Debug for Letter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A letter may hold a link: only its kind is printed.
        write!(f, "Letter({})", self.kind())
    }
}

impl Letter {
    /// The kind, as the outbox stores it and metrics and logs name it.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::VerifyAddress { .. } => "verify_address",
            Self::AddressInUse => "address_in_use",
            Self::ResetPassword { .. } => "reset_password",
            Self::PasswordChanged { .. } => "password_changed",
            Self::AddressChanged { .. } => "address_changed",
            Self::TwoFactor { .. } => "two_factor",
            Self::RecoveryCodeUsed { .. } => "recovery_code_used",
            Self::AccountDeleted { .. } => "account_deleted",
            Self::NewSignIn { .. } => "new_sign_in",
            Self::Test => "test",
        }
    }

    /// The subject and the body, for the site at `origin` (its public origin).
    pub fn compose(&self, origin: &str) -> (String, String) {
        let not_you = format!(
            "If this was not you, change your password at once:\n\n{origin}/account/password\n\nor, if you cannot sign in, ask for a new one:\n\n{origin}/forgot-password\n"
        );
        match self {
            Self::VerifyAddress {
                username,
                link,
                valid_for,
            } => (
                "Confirm your e-mail address".to_owned(),
                format!(
                    "Hello {username},\n\nto confirm that this address belongs to your account {username}, open this link and press the button on the page:\n\n{link}\n\nThe link works for {valid_for}, once. If you did not ask for it, ignore this mail: nothing changes.\n"
                ),
            ),
            Self::AddressInUse => (
                "Someone tried to use your e-mail address".to_owned(),
                format!(
                    "Hello,\n\nsomeone asked to use this e-mail address for an account at {origin}, but it already belongs to an account there, so no link was sent and nothing changed.\n\nIf this was you: you already have an account. Sign in at {origin}/login, or choose a new password at {origin}/forgot-password.\n\nIf it was not you, you need not do anything.\n"
                ),
            ),
            Self::ResetPassword {
                username,
                link,
                valid_for,
            } => (
                "Choose a new password".to_owned(),
                format!(
                    "Hello {username},\n\nsomeone (we hope you) asked to reset the password of your account {username}. To choose a new password, open this link:\n\n{link}\n\nThe link works for {valid_for}, once, and not after your password changes. Every device signed in to the account will be signed out.\n\nIf you did not ask for it, ignore this mail: your password stays as it is.\n"
                ),
            ),
            Self::PasswordChanged { username, by_reset } => (
                "Your password was changed".to_owned(),
                format!(
                    "Hello {username},\n\nthe password of your account {username} was just changed{}. Every other device was signed out.\n\n{not_you}",
                    if *by_reset { " through a reset link" } else { "" }
                ),
            ),
            Self::AddressChanged {
                username,
                new_address,
            } => (
                "Your e-mail address was changed".to_owned(),
                format!(
                    "Hello {username},\n\nthe e-mail address of your account {username} is now {new_address}. This address will get no more mail about the account.\n\n{not_you}"
                ),
            ),
            Self::TwoFactor { username, on } => (
                format!(
                    "Two-factor sign-in was turned {}",
                    if *on { "on" } else { "off" }
                ),
                format!(
                    "Hello {username},\n\ntwo-factor sign-in of your account {username} was just turned {}.\n\n{not_you}",
                    if *on { "on: signing in now also asks for a code from your authenticator app" } else { "off: signing in now asks for your password only" }
                ),
            ),
            Self::RecoveryCodeUsed { username, left } => (
                "A recovery code was used".to_owned(),
                format!(
                    "Hello {username},\n\nsomeone signed in to your account {username} with one of your recovery codes. It is used up; {left} are left. You can make new ones at {origin}/account/two-factor.\n\n{not_you}"
                ),
            ),
            Self::AccountDeleted { username } => (
                "Your account was deleted".to_owned(),
                format!(
                    "Hello {username},\n\nyour account {username} at {origin} and everything in it were deleted, and every device was signed out. This is the last mail you get from us about it.\n"
                ),
            ),
            Self::NewSignIn {
                username,
                browser,
                system,
                ip,
            } => (
                "A sign-in from a new device".to_owned(),
                format!(
                    "Hello {username},\n\nsomeone signed in to your account {username} with {browser} on {system} (from {ip}), a browser and system not seen on the account in the last 90 days. If that was you, you need not do anything. You can see every device at {origin}/sessions.\n\n{not_you}"
                ),
            ),
            Self::Test => (
                "A test mail from member-portal".to_owned(),
                format!("This is a test mail from member-portal at {origin}. It arrived: mail works.\n"),
            ),
        }
    }
}

/// `d` in words for people: "30 days", "12 hours", "90 minutes".
pub fn in_words(d: std::time::Duration) -> String {
    let secs = d.as_secs();
    let (n, unit) = match secs {
        s if s >= 86_400 && s % 86_400 == 0 => (s / 86_400, "day"),
        s if s >= 3_600 && s % 3_600 == 0 => (s / 3_600, "hour"),
        s if s >= 60 && s % 60 == 0 => (s / 60, "minute"),
        s => (s, "second"),
    };
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

/// Bytes of the nonce, and of the key id, in a sealed letter.
const NONCE_BYTES: usize = 24;
const SEALED_V1: u8 = 1;

/// Seals and opens letters waiting in the outbox. The key is derived from the session key
/// (every instance shares it); a letter sealed under another key does not open. Never
/// printed.
#[derive(Clone)]
pub struct MailSeal {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for MailSeal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MailSeal(..)")
    }
}

impl MailSeal {
    /// The seal derived from the session key's master bytes, with a label of its own.
    pub fn from_session_key(master: &[u8]) -> Self {
        let mut mac = Hmac::<Sha256>::new_from_slice(master).expect("HMAC takes any key");
        mac.update(b"member-portal mail outbox v1");
        let key: [u8; 32] = mac.finalize().into_bytes().into();
        Self {
            cipher: XChaCha20Poly1305::new(&key.into()),
        }
    }

    /// `subject` and `body` sealed for `recipient`.
    pub fn seal(&self, recipient: &str, subject: &str, body: &str) -> Vec<u8> {
        let nonce: [u8; NONCE_BYTES] = rand::random();
        let plain = format!("{subject}\n{body}");
        let sealed = self
            .cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plain.as_bytes(),
                    aad: recipient.as_bytes(),
                },
            )
            .expect("XChaCha20-Poly1305 seals any letter");
        let mut out = Vec::with_capacity(1 + NONCE_BYTES + sealed.len());
        out.push(SEALED_V1);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// The subject and body in `sealed`, if this key sealed it for `recipient`.
    pub fn open(&self, recipient: &str, sealed: &[u8]) -> Option<(String, String)> {
        let (&version, rest) = sealed.split_first()?;
        if version != SEALED_V1 || rest.len() < NONCE_BYTES {
            return None;
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_BYTES);
        let nonce: [u8; NONCE_BYTES] = nonce.try_into().ok()?;
        let plain = self
            .cipher
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: recipient.as_bytes(),
                },
            )
            .ok()?;
        let plain = String::from_utf8(plain).ok()?;
        let (subject, body) = plain.split_once('\n')?;
        Some((subject.to_owned(), body.to_owned()))
    }
}

/// A short, stable name for a message id's local part: 16 random bytes, URL-safe.
pub fn message_id_local() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_open_only_for_their_recipient_and_key() {
        let seal = MailSeal::from_session_key(&[7; 64]);
        let sealed = seal.seal("ann@example.com", "Subject", "Body\nwith lines");
        assert_eq!(
            seal.open("ann@example.com", &sealed),
            Some(("Subject".to_owned(), "Body\nwith lines".to_owned()))
        );
        assert_eq!(seal.open("bob@example.com", &sealed), None);
        assert_eq!(
            MailSeal::from_session_key(&[8; 64]).open("ann@example.com", &sealed),
            None
        );
        assert!(!String::from_utf8_lossy(&sealed).contains("Body"));
    }

    #[test]
    fn links_stand_on_lines_of_their_own() {
        let letter = Letter::ResetPassword {
            username: "ann".to_owned(),
            link: "https://portal.example.com/reset-password/abc".to_owned(),
            valid_for: "30 minutes".to_owned(),
        };
        let (_, body) = letter.compose("https://portal.example.com");
        assert!(body
            .lines()
            .any(|l| l == "https://portal.example.com/reset-password/abc"));
        assert!(body.contains("ann"));
        assert_eq!(format!("{letter:?}"), "Letter(reset_password)");
    }
}
