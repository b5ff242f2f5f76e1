//! The domain layer: the rules, with no I/O. Validated input (a value of these types has
//! passed the rules for usernames, display names and passwords), password hashing on threads
//! of its own, random tokens, and [`ClientInfo`], who did something.
//!
//! - `input`: [`Username`], [`DisplayName`], [`ProfileText`], [`NewPassword`], [`safe_next`];
//! - `password`: argon2id hashing and verification off the async workers ([`Hasher`]);
//! - `secret`: random tokens ([`random_token`]);
//! - `strength`: how hard a new password must be to guess ([`PasswordPolicy`], zxcvbn);
//! - `client`: [`ClientInfo`];
//! - `totp`: two-factor sign-in: RFC 6238 codes ([`TotpSecret`]), the secrets' encryption at
//!   rest ([`TotpKeys`]), recovery codes and their hashes ([`RecoveryCode`]).
//!
//! May touch: nothing of the app.

mod client;
mod input;
mod password;
mod secret;
mod strength;
mod totp;

pub use client::{ClientInfo, USER_AGENT_MAX};
pub use input::{safe_next, DisplayName, NewPassword, ProfileText, Username};
pub use password::{weak_hash_for_tests, HashError, Hasher, Verdict};
pub use secret::random_token;
pub use strength::PasswordPolicy;
pub use totp::{
    is_totp_code, CodeCheck, RecoveryCode, ShortKey, TotpKeys, TotpSecret, ISSUER, MIN_KEY_BYTES,
    RECOVERY_CODES, STEP_SECS,
};
