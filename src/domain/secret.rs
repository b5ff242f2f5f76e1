//! Random tokens, from a CSPRNG seeded by the operating system (`rand`'s thread generator).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// A fresh random token of 192 bits, URL-safe base64 (32 characters): CSRF tokens and the
/// nonces of anonymous ones.
pub fn random_token() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 24]>())
}
