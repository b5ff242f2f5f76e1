//! The domain layer: the rules, with no I/O. Validated input (a value of these types has
//! passed the rules for usernames, display names and passwords), password hashing on threads
//! of its own, random tokens, and [`ClientInfo`], who did something.
//!
//! - `input`: [`Username`], [`DisplayName`], [`ProfileText`], [`NewPassword`], [`safe_next`];
//! - `password`: argon2id hashing and verification off the async workers ([`Hasher`]);
//! - `secret`: random secrets from the OS CSPRNG ([`os_random`], [`random_token`]);
//! - `strength`: how hard a new password must be to guess ([`PasswordPolicy`], zxcvbn);
//! - `client`: [`ClientInfo`];
//! - `email`: e-mail addresses ([`EmailAddress`]) and the tokens of mailed links
//!   ([`LinkToken`], stored only as their SHA-256);
//! - `mail`: what the app mails ([`Letter`]) and how a letter waits in the outbox, sealed
//!   ([`MailSeal`]);
//! - `totp`: two-factor sign-in: RFC 6238 codes ([`TotpSecret`]), the secrets' encryption at
//!   rest ([`TotpKeys`]), recovery codes and their hashes ([`RecoveryCode`]).
//!
//! May touch: nothing of the app.

mod client;
mod email;
mod input;
mod mail;
mod password;
mod secret;
mod strength;
mod totp;

pub use client::{ClientInfo, USER_AGENT_MAX};
pub use email::{address_key, link_token_hash, EmailAddress, LinkToken, EMAIL_MAX};
pub use input::{safe_next, DisplayName, NewPassword, ProfileText, Username};
pub use mail::{in_words, message_id_local, Letter, MailSeal};
pub use password::{password_stamp, weak_hash_for_tests, HashError, Hasher, Verdict};
pub use secret::{os_random, random_token};
pub use strength::PasswordPolicy;
pub use totp::{
    is_totp_code, CodeCheck, RecoveryCode, ShortKey, TotpKeys, TotpSecret, ISSUER, MIN_KEY_BYTES,
    RECOVERY_CODES, STEP_SECS,
};
