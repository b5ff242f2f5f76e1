//! Validated input: a value of these types has passed the rules for usernames, display names
//! and passwords (README, "Routes").

/// A username: 3–40 characters of `[A-Za-z0-9_.-]`, trimmed and lower-cased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    /// Validate and normalise `raw`.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let name = raw.trim().to_ascii_lowercase();
        if !(3..=40).contains(&name.len()) {
            return Err("Usernames are 3 to 40 characters long.");
        }
        if !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        {
            return Err("Usernames may contain only letters, digits, '_', '.' and '-'.");
        }
        Ok(Self(name))
    }

    /// The normalised name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An author display name: 1–40 characters after trimming; no control characters, no
/// bidirectional overrides or isolates (they make a name display as something else, and leak
/// their reordering into the text around it), and at least one visible character.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    /// Validate and trim `raw`.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let name = raw.trim();
        let chars = name.chars().count();
        if chars == 0 {
            return Err("Please enter a display name.");
        }
        if chars > 40 {
            return Err("Display names are at most 40 characters long.");
        }
        if name.chars().any(char::is_control) {
            return Err("Display names cannot contain control characters.");
        }
        if name.chars().any(is_bidi_control) {
            return Err("Display names cannot contain text-direction control characters.");
        }
        if name.chars().all(is_invisible) {
            return Err("Display names need at least one visible character.");
        }
        Ok(Self(name.to_owned()))
    }

    /// The trimmed name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The Unicode bidirectional formatting characters: embeddings and overrides (U+202A–U+202E),
/// isolates (U+2066–U+2069), and the implicit marks (U+200E, U+200F, U+061C).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

/// Characters that render as nothing (Unicode's default-ignorable code points) or as blank
/// space without being white space (the Hangul fillers, the blank Braille pattern).
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{17B4}'
            | '\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{2800}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF0}'..='\u{FFF8}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E0FFF}'
    )
}

/// An author's profile text: at most 200 characters after trimming; empty means none. Line
/// breaks and tabs are kept, other control characters are refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileText(Option<String>);

impl ProfileText {
    /// The longest profile, in characters (the `author.profile` column's width).
    pub const MAX_CHARS: usize = 200;

    /// Validate and trim `raw`.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        // Browsers send textarea line breaks as CRLF: one break is one character.
        let text = raw.trim().replace("\r\n", "\n");
        if text.chars().count() > Self::MAX_CHARS {
            return Err("Profiles are at most 200 characters long.");
        }
        if text
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\t'))
        {
            return Err("Profiles cannot contain control characters.");
        }
        Ok(Self((!text.is_empty()).then_some(text)))
    }

    /// The trimmed text, or `None` for an empty profile.
    pub fn as_deref(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

/// A new password: 8 to 1024 Unicode code points, used exactly as typed (never trimmed or
/// truncated).
#[derive(Clone, PartialEq, Eq)]
pub struct NewPassword(String);

impl std::fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewPassword(…)")
    }
}

impl NewPassword {
    /// Validate `password` against its confirmation.
    pub fn parse(password: &str, confirmation: &str) -> Result<Self, &'static str> {
        let chars = password.chars().count();
        if chars < 8 {
            return Err("Passwords need at least 8 characters.");
        }
        if chars > 1024 {
            return Err("Passwords can have at most 1024 characters.");
        }
        if password != confirmation {
            return Err("The two passwords do not match.");
        }
        Ok(Self(password.to_owned()))
    }

    /// The password, for the strength check.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The password, for hashing.
    pub fn into_inner(self) -> String {
        self.0
    }
}

/// Where to go after signing in: `next` if it is a local path, else `/`.
///
/// Local means one leading `/` (not `//`, which browsers read as another host, nor `/\`, which
/// some read the same way) and no control characters (a header-splitting risk). Bytes a
/// `Location` header cannot carry as they are (non-ASCII, spaces) and a `%` that starts no
/// escape come back percent-encoded; escapes already there are kept.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.starts_with("/\\")
                && !path.chars().any(char::is_control) =>
        {
            let bytes = path.as_bytes();
            let mut encoded = String::with_capacity(path.len());
            for (i, &byte) in bytes.iter().enumerate() {
                // A `%` that starts an escape stays; a stray one is a literal percent sign.
                let escape = byte == b'%'
                    && bytes
                        .get(i + 1..i + 3)
                        .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit));
                if byte.is_ascii_graphic() && (byte != b'%' || escape) {
                    encoded.push(char::from(byte));
                } else {
                    encoded.push_str(&format!("%{byte:02X}"));
                }
            }
            encoded
        }
        _ => "/".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert_eq!(
            Username::parse("  Alice.B-1 ").map(|u| u.0),
            Ok("alice.b-1".into())
        );
        for bad in ["ab", "a b c", "<script>", "ünï", &"x".repeat(41)] {
            assert!(Username::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn display_names() {
        assert_eq!(DisplayName::parse("  Ann  ").map(|d| d.0), Ok("Ann".into()));
        assert!(DisplayName::parse("   ").is_err());
        assert!(DisplayName::parse(&"é".repeat(40)).is_ok());
        assert!(DisplayName::parse(&"é".repeat(41)).is_err());
        for bad in [
            "evil\u{202E}gnp.exe",
            "\u{2066}Ann\u{2069}",
            "Ann\u{200F}",
            "\u{061C}Ann",
            "\u{200B}",
            "\u{200B}\u{200C}\u{200D}\u{2060}\u{FEFF}",
            " \u{3164} ",
            "\u{E0041}\u{E0042}",
        ] {
            assert!(DisplayName::parse(bad).is_err(), "{bad:?}");
        }
        // Joiners inside a visible name are how some scripts and emoji are written.
        for good in ["Ann\u{200D}e", "👩\u{200D}💻", "नमस्\u{200C}ते", "中文名"]
        {
            assert!(DisplayName::parse(good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn profiles() {
        assert_eq!(ProfileText::parse("   ").map(|p| p.0), Ok(None));
        assert_eq!(
            ProfileText::parse(" Line one\r\nline two ").map(|p| p.0),
            Ok(Some("Line one\nline two".into()))
        );
        assert!(ProfileText::parse(&"é".repeat(200)).is_ok());
        assert!(ProfileText::parse(&"é".repeat(201)).is_err());
        assert!(ProfileText::parse(&format!("{}\r\n", "x".repeat(199))).is_ok());
        assert!(ProfileText::parse("bell \u{7}").is_err());
    }

    #[test]
    fn passwords_count_code_points_and_are_kept_whole() {
        assert!(NewPassword::parse("1234567", "1234567").is_err());
        assert!(NewPassword::parse("한국어비밀번호야", "한국어비밀번호야").is_ok());
        let long = "p".repeat(1024);
        assert_eq!(
            NewPassword::parse(&long, &long).map(NewPassword::into_inner),
            Ok(long)
        );
        assert!(NewPassword::parse(&"p".repeat(1025), &"p".repeat(1025)).is_err());
        assert!(NewPassword::parse("password1", "password2").is_err());
        assert!(NewPassword::parse(" spaces around ", " spaces around ").is_ok());
    }

    #[test]
    fn next_is_local_only() {
        assert_eq!(safe_next(Some("/sessions?x=1")), "/sessions?x=1");
        assert_eq!(safe_next(Some("/café au lait")), "/caf%C3%A9%20au%20lait");
        assert_eq!(safe_next(Some("/a%20b")), "/a%20b");
        assert_eq!(safe_next(Some("/100%")), "/100%25");
        assert_eq!(safe_next(Some("/%zz%4")), "/%25zz%254");
        for bad in [
            "//evil.example",
            "https://evil.example",
            "/\\evil",
            "evil",
            "/\r\nLocation: x",
            "",
        ] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad:?}");
        }
        assert_eq!(safe_next(None), "/");
    }

    mod properties {
        use proptest::prelude::*;

        use super::super::*;

        proptest! {
            #[test]
            fn next_is_always_a_local_path_and_stable(next in proptest::option::of("\\PC{0,60}|/[ -~]{0,60}|//.{0,10}")) {
                let safe = safe_next(next.as_deref());
                prop_assert!(safe.starts_with('/'));
                prop_assert!(!safe.starts_with("//") && !safe.starts_with("/\\"));
                prop_assert!(safe.bytes().all(|b| b.is_ascii_graphic()));
                prop_assert_eq!(safe_next(Some(&safe)), safe.clone());
            }

            #[test]
            fn accepted_usernames_round_trip(raw in "\\PC{0,50}") {
                if let Ok(name) = Username::parse(&raw) {
                    prop_assert_eq!(Username::parse(name.as_str()), Ok(name.clone()));
                    prop_assert!((3..=40).contains(&name.as_str().len()));
                }
            }

            #[test]
            fn accepted_display_names_round_trip(raw in "\\PC{0,50}") {
                if let Ok(name) = DisplayName::parse(&raw) {
                    prop_assert_eq!(DisplayName::parse(name.as_str()), Ok(name.clone()));
                    prop_assert!(!name.as_str().chars().any(char::is_control));
                }
            }

            #[test]
            fn new_passwords_are_kept_exactly(password in "\\PC{8,80}") {
                let parsed = NewPassword::parse(&password, &password).expect("8 to 80 characters");
                prop_assert_eq!(parsed.as_str(), password.as_str());
            }
        }
    }
}
