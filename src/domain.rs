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

/// An author display name: 1–40 characters after trimming, no control characters.
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
        Ok(Self(name.to_owned()))
    }

    /// The trimmed name.
    pub fn as_str(&self) -> &str {
        &self.0
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

    /// The password, for hashing.
    pub fn into_inner(self) -> String {
        self.0
    }
}

/// Where to go after signing in: `next` if it is a local path, else `/`.
///
/// Local means one leading `/` (not `//`, which browsers read as another host, nor `/\`, which
/// some read the same way) and no control characters (a header-splitting risk).
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.starts_with("/\\")
                && !path.chars().any(char::is_control) =>
        {
            path.to_owned()
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
}
