//! Random secrets straight from the operating system's CSPRNG (`getrandom`), for everything
//! that grants something: CSRF tokens, mailed links, two-factor secrets, recovery codes. (Nonces
//! and salts, which grant nothing, use `rand`'s thread generator, seeded from the same source.)

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::rngs::OsRng;
use rand::{RngCore, TryRngCore};

/// `N` bytes from the operating system's CSPRNG.
///
/// # Panics
///
/// Only when the operating system has no random source to give (`getrandom` fails), where
/// no secret can be made at all; `rand`'s thread generator would panic there too.
pub fn os_random<const N: usize>() -> [u8; N] {
    let mut bytes = [0_u8; N];
    OsRng.unwrap_err().fill_bytes(&mut bytes);
    bytes
}

/// A fresh random token of 192 bits, URL-safe base64 (32 characters): CSRF tokens and the
/// nonces of anonymous ones.
pub fn random_token() -> String {
    URL_SAFE_NO_PAD.encode(os_random::<24>())
}
