//! [`PasswordPolicy`]: how hard a new password must be to guess (NIST SP 800-63B §3.1.1.2:
//! no common, repetitive, sequential or context-specific passwords), as zxcvbn estimates it.
//!
//! The estimator reads the password with the account's own words as "user inputs" — the
//! username, the display name and the site's name — so `nina2024` for Nina scores low. It
//! looks at the first 100 characters only, so a 1024-character password costs what a
//! 100-character one does (well under a millisecond on the request path).

use crate::domain::NewPassword;

/// The site's name, a word no password of it should be built on.
const SITE: &str = "member-portal";

/// The strength a new password must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordPolicy {
    min_score: u8,
}

impl PasswordPolicy {
    /// Passwords whose zxcvbn score (0–4) is at least `min_score`; 0 accepts any.
    pub fn new(min_score: u8) -> Self {
        Self {
            min_score: min_score.min(4),
        }
    }

    /// Whether `password` is strong enough for the account named `username` whose display
    /// name is `display_name`. `Err` holds what the member reads: the estimator's own warning
    /// and advice.
    pub fn check(
        &self,
        password: &NewPassword,
        username: &str,
        display_name: &str,
    ) -> Result<(), String> {
        if self.min_score == 0 {
            return Ok(());
        }
        let entropy = zxcvbn::zxcvbn(password.as_str(), &[username, display_name, SITE]);
        if u8::from(entropy.score()) >= self.min_score {
            return Ok(());
        }
        let mut advice = String::from("That password is too easy to guess.");
        if let Some(feedback) = entropy.feedback() {
            if let Some(warning) = feedback.warning() {
                advice = format!("That password is too easy to guess: {warning}");
            }
            for suggestion in feedback.suggestions() {
                advice.push(' ');
                advice.push_str(&suggestion.to_string());
            }
        } else {
            advice.push_str(" Add another word or two; uncommon words are better.");
        }
        Err(advice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(password: &str) -> NewPassword {
        NewPassword::parse(password, password).expect("8 to 1024 characters")
    }

    #[test]
    fn common_repetitive_and_personal_passwords_are_refused_with_advice() {
        let policy = PasswordPolicy::new(2);
        for weak in ["pppppppp", "password1", "12345678", "abcdefgh", "qwertyui"] {
            let advice = policy
                .check(&new(weak), "someone", "Someone")
                .expect_err(weak);
            assert!(
                advice.starts_with("That password is too easy to guess"),
                "{advice}"
            );
        }
        assert!(policy.check(&new("nina2024"), "nina", "Nina").is_err());
        assert!(policy.check(&new("member-portal1"), "x", "X").is_err());
        for strong in ["k8Jd2mQx", "q7#Vt2pL", "correct horse battery staple"] {
            assert_eq!(
                policy.check(&new(strong), "someone", "Someone"),
                Ok(()),
                "{strong}"
            );
        }
        assert_eq!(
            PasswordPolicy::new(0).check(&new("pppppppp"), "p", "P"),
            Ok(())
        );
    }

    #[test]
    fn the_longest_passwords_are_judged_by_their_first_hundred_characters() {
        let policy = PasswordPolicy::new(2);
        let long: String = "Tb7#qL2x".repeat(128);
        assert_eq!(long.chars().count(), 1024);
        assert_eq!(policy.check(&new(&long), "someone", "Someone"), Ok(()));
        assert!(policy
            .check(&new(&"a".repeat(1024)), "someone", "Someone")
            .is_err());
    }
}
