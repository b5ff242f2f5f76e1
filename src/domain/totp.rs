//! Two-factor sign-in, the rules without I/O: RFC 6238 codes ([`TotpSecret`]), the secret's
//! encryption at rest ([`TotpKeys`]), and recovery codes with their hashes ([`RecoveryCode`]).
//!
//! - Codes: SHA-1, 6 digits, 30-second steps, one step of drift either way (RFC 6238 and what
//!   every authenticator app does). Which step a code matched is returned, so the caller can
//!   keep the last used step and refuse a code whose step is not above it: each code works
//!   once.
//! - Secrets: 160 random bits (RFC 4226's recommendation), sealed with XChaCha20-Poly1305
//!   under a key of [`TotpKeys`]. The member's id is the associated data: a sealed secret
//!   copied into another member's row does not open. The sealed form names its key by a
//!   4-byte id, so several keys can open secrets while one seals new ones (key rotation).
//! - Recovery codes: 80 random bits in 16 characters of a 32-letter alphabet without look-alikes
//!   (`0`–`9`, `a`–`z` less `i l o u`), shown as `xxxx-xxxx-xxxx-xxxx`. Stored as SHA-256 of
//!   the member id and the code: a fast hash is enough for 80 random bits (2^80 guesses per
//!   code is out of reach of any offline search), where a password needs a slow one because
//!   people pick guessable ones. The member id in the hash keeps equal codes of two members
//!   apart and rules out one table precomputed for everyone.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::domain::os_random;

/// Seconds per code.
pub const STEP_SECS: u64 = 30;
/// Digits per code.
pub const DIGITS: usize = 6;
/// Bytes of a secret: 160 bits.
pub const SECRET_BYTES: usize = 20;
/// Recovery codes issued at a time.
pub const RECOVERY_CODES: usize = 10;
/// The issuer named in the `otpauth://` URI (what authenticator apps show above the code).
pub const ISSUER: &str = "member-portal";
/// The shortest `TOTP_KEY`, in bytes.
pub const MIN_KEY_BYTES: usize = 32;

/// The first byte of a sealed secret: the format.
const SEALED_V1: u8 = 1;
const KEY_ID_BYTES: usize = 4;
const NONCE_BYTES: usize = 24;

/// A TOTP secret. Never printed: its `Debug` says only that it is one.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpSecret([u8; SECRET_BYTES]);

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret(…)")
    }
}

/// What a submitted code is, for a member whose last used step is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeCheck {
    /// The code of this step, which is newer than the last one used.
    Valid(u64),
    /// The code of a step already used (or older than it): a replay.
    Used,
    /// Not the code of any step within one of now.
    Wrong,
}

impl TotpSecret {
    /// A fresh secret from the OS CSPRNG.
    pub fn generate() -> Self {
        Self(os_random())
    }

    /// The secret in base32 (RFC 4648, no padding), as people type it into an app.
    pub fn base32(&self) -> String {
        base32::encode(base32::Alphabet::Rfc4648 { padding: false }, &self.0)
    }

    /// The `otpauth://totp/…` URI that authenticator apps read from the QR code.
    pub fn otpauth_uri(&self, account: &str) -> String {
        let label = format!("{ISSUER}:{account}");
        let label =
            percent_encoding::utf8_percent_encode(&label, percent_encoding::NON_ALPHANUMERIC);
        format!(
            "otpauth://totp/{label}?secret={}&issuer={ISSUER}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
            self.base32()
        )
    }

    /// The QR code of [`otpauth_uri`](Self::otpauth_uri) as an `<svg>` element to put inline
    /// in a page (no XML declaration, no script, no style attribute: the CSP allows it).
    pub fn qr_svg(&self, account: &str) -> String {
        let svg = qrcode::QrCode::with_error_correction_level(
            self.otpauth_uri(account).as_bytes(),
            qrcode::EcLevel::M,
        )
        .map(|code| {
            code.render::<qrcode::render::svg::Color<'_>>()
                .min_dimensions(200, 200)
                .quiet_zone(true)
                .build()
        })
        .unwrap_or_default();
        match svg.find("<svg") {
            Some(start) => svg[start..].replacen(
                "<svg ",
                r#"<svg role="img" aria-label="QR code for your authenticator app" "#,
                1,
            ),
            None => String::new(),
        }
    }

    fn totp(&self) -> totp_rs::TOTP {
        totp_rs::TOTP::new_unchecked(
            totp_rs::Algorithm::SHA1,
            DIGITS,
            1,
            STEP_SECS,
            self.0.to_vec(),
        )
    }

    /// The code of `step` (the Unix time divided by [`STEP_SECS`]).
    pub fn code_at(&self, step: u64) -> String {
        self.totp().generate(step * STEP_SECS)
    }

    /// Check `code` at Unix time `now` for a member whose last used step is `last_used`: the
    /// steps one before and one after now count too (clocks drift), and a step that is not
    /// above `last_used` is a replay.
    pub fn check(&self, code: &str, now: u64, last_used: u64) -> CodeCheck {
        let Some(code) = normalise_code(code) else {
            return CodeCheck::Wrong;
        };
        let totp = self.totp();
        let now_step = now / STEP_SECS;
        let mut used = false;
        for step in now_step.saturating_sub(1)..=now_step + 1 {
            let expected = totp.generate(step * STEP_SECS);
            if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) {
                if step > last_used {
                    return CodeCheck::Valid(step);
                }
                used = true;
            }
        }
        if used {
            CodeCheck::Used
        } else {
            CodeCheck::Wrong
        }
    }
}

/// `code` without spaces if it is six ASCII digits (what apps show, often as `123 456`).
fn normalise_code(code: &str) -> Option<String> {
    let digits: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    (digits.len() == DIGITS && digits.bytes().all(|b| b.is_ascii_digit())).then_some(digits)
}

/// Whether `input` looks like a TOTP code (six digits, spaces allowed) rather than a recovery
/// code.
pub fn is_totp_code(input: &str) -> bool {
    normalise_code(input).is_some()
}

/// The keys that seal and open TOTP secrets: the first seals, every one opens. Never printed.
#[derive(Clone)]
pub struct TotpKeys {
    keys: Vec<SealingKey>,
}

#[derive(Clone)]
struct SealingKey {
    id: [u8; KEY_ID_BYTES],
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for TotpKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpKeys")
            .field("keys", &self.keys.len())
            .finish()
    }
}

/// A `TOTP_KEY` shorter than [`MIN_KEY_BYTES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0} bytes; at least {MIN_KEY_BYTES} are needed")]
pub struct ShortKey(pub usize);

impl TotpKeys {
    /// Keys from raw key material, the sealing one first (each at least [`MIN_KEY_BYTES`]).
    /// Each is stretched with a purpose label into the cipher's key, so the same bytes used
    /// elsewhere never serve as this key as they are.
    pub fn new<'a>(materials: impl IntoIterator<Item = &'a [u8]>) -> Result<Self, ShortKey> {
        let keys = materials
            .into_iter()
            .map(|material| {
                if material.len() < MIN_KEY_BYTES {
                    return Err(ShortKey(material.len()));
                }
                Ok(SealingKey::from_material(material))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { keys })
    }

    /// The key derived from the session key's master bytes (`TOTP_KEY` unset), with a label
    /// of its own: the two keys are independent, though one secret underlies both.
    pub fn derive_from_session_key(master: &[u8]) -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::new_from_slice(master).expect("HMAC takes any key");
        mac.update(b"member-portal totp key from SESSION_KEY v1");
        mac.finalize().into_bytes().into()
    }

    /// The same keys and `more` after them (openers only).
    #[must_use]
    pub fn with_openers(mut self, more: TotpKeys) -> Self {
        for key in more.keys {
            if !self.keys.iter().any(|k| k.id == key.id) {
                self.keys.push(key);
            }
        }
        self
    }

    /// `secret` sealed for `member` under the first key.
    pub fn seal(&self, secret: &TotpSecret, member: &str) -> Vec<u8> {
        let key = &self.keys[0];
        let nonce: [u8; NONCE_BYTES] = rand::random();
        let aad = associated_data(member);
        let sealed = key
            .cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: &secret.0,
                    aad: &aad,
                },
            )
            .expect("XChaCha20-Poly1305 seals any 20 bytes");
        let mut out = Vec::with_capacity(1 + KEY_ID_BYTES + NONCE_BYTES + sealed.len());
        out.push(SEALED_V1);
        out.extend_from_slice(&key.id);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// The secret in `sealed` if one of the keys seals it for `member`; `None` for another
    /// key, another member, or altered bytes.
    pub fn open(&self, sealed: &[u8], member: &str) -> Option<TotpSecret> {
        let (&version, rest) = sealed.split_first()?;
        if version != SEALED_V1 || rest.len() < KEY_ID_BYTES + NONCE_BYTES {
            return None;
        }
        let (id, rest) = rest.split_at(KEY_ID_BYTES);
        let (nonce, ciphertext) = rest.split_at(NONCE_BYTES);
        let key = self.keys.iter().find(|k| k.id == id)?;
        let nonce: [u8; NONCE_BYTES] = nonce.try_into().ok()?;
        let aad = associated_data(member);
        let plain = key
            .cipher
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .ok()?;
        Some(TotpSecret(plain.try_into().ok()?))
    }

    /// Whether `sealed` is sealed under the first key (else a rotation has yet to reach it).
    pub fn is_current(&self, sealed: &[u8]) -> bool {
        sealed.get(1..1 + KEY_ID_BYTES) == Some(&self.keys[0].id[..])
    }

    /// [`seal`](Self::seal), as URL-safe base64: for a secret waiting in a session.
    pub fn seal_text(&self, secret: &TotpSecret, member: &str) -> String {
        URL_SAFE_NO_PAD.encode(self.seal(secret, member))
    }

    /// [`open`](Self::open) of a [`seal_text`](Self::seal_text).
    pub fn open_text(&self, sealed: &str, member: &str) -> Option<TotpSecret> {
        self.open(&URL_SAFE_NO_PAD.decode(sealed).ok()?, member)
    }
}

impl SealingKey {
    fn from_material(material: &[u8]) -> Self {
        let mut mac = Hmac::<Sha256>::new_from_slice(material).expect("HMAC takes any key");
        mac.update(b"member-portal totp secrets v1");
        let key: [u8; 32] = mac.finalize().into_bytes().into();
        let digest = Sha256::new()
            .chain_update(b"member-portal totp key id\0")
            .chain_update(key)
            .finalize();
        let mut id = [0_u8; KEY_ID_BYTES];
        id.copy_from_slice(&digest[..KEY_ID_BYTES]);
        Self {
            id,
            cipher: XChaCha20Poly1305::new(&key.into()),
        }
    }
}

fn associated_data(member: &str) -> Vec<u8> {
    let mut aad = b"member-portal totp secret\0".to_vec();
    aad.extend_from_slice(member.as_bytes());
    aad
}

/// The recovery codes' alphabet: digits and letters without `i`, `l`, `o`, `u`.
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
/// Characters per recovery code: 16 × 5 bits = 80 bits.
const RECOVERY_CHARS: usize = 16;

/// A recovery code, normalised (16 characters of the alphabet). Never printed by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct RecoveryCode(String);

impl std::fmt::Debug for RecoveryCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecoveryCode(…)")
    }
}

impl RecoveryCode {
    /// [`RECOVERY_CODES`] fresh codes from the OS CSPRNG.
    pub fn generate_set() -> Vec<Self> {
        (0..RECOVERY_CODES).map(|_| Self::generate()).collect()
    }

    fn generate() -> Self {
        let bytes: [u8; RECOVERY_CHARS] = os_random();
        Self(
            bytes
                .iter()
                .map(|b| char::from(ALPHABET[usize::from(b & 31)]))
                .collect(),
        )
    }

    /// `input` as a recovery code: case, dashes and spaces do not matter, and the look-alikes
    /// `o`, `i`, `l` read as `0`, `1`, `1`.
    pub fn parse(input: &str) -> Option<Self> {
        let mut code = String::with_capacity(RECOVERY_CHARS);
        for c in input.chars() {
            let c = match c.to_ascii_lowercase() {
                '-' | ' ' => continue,
                'o' => '0',
                'i' | 'l' => '1',
                c => c,
            };
            if !c.is_ascii() || !ALPHABET.contains(&(c as u8)) {
                return None;
            }
            code.push(c);
        }
        (code.len() == RECOVERY_CHARS).then_some(Self(code))
    }

    /// The code as shown to the member: four groups of four.
    pub fn display(&self) -> String {
        let mut shown = String::with_capacity(RECOVERY_CHARS + 3);
        for (i, c) in self.0.chars().enumerate() {
            if i > 0 && i % 4 == 0 {
                shown.push('-');
            }
            shown.push(c);
        }
        shown
    }

    /// What is stored for this code of `member`: SHA-256 of the member id and the code.
    pub fn hash(&self, member: &str) -> [u8; 32] {
        Sha256::new()
            .chain_update(b"member-portal recovery code\0")
            .chain_update(member.as_bytes())
            .chain_update(b"\0")
            .chain_update(self.0.as_bytes())
            .finalize()
            .into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238, appendix B: the SHA-1 secret "12345678901234567890".
    #[test]
    fn codes_follow_rfc_6238() {
        let secret = TotpSecret(*b"12345678901234567890");
        // The RFC's 8-digit values, cut to their last six digits.
        for (time, code) in [
            (59, "287082"),
            (1_111_111_109, "081804"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
        ] {
            assert_eq!(secret.code_at(time / STEP_SECS), code, "t = {time}");
        }
        assert_eq!(secret.base32(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
    }

    #[test]
    fn one_step_of_drift_and_each_step_once() {
        let secret = TotpSecret::generate();
        let now = 1_700_000_015;
        let step = now / STEP_SECS;
        for s in [step - 1, step, step + 1] {
            let code = secret.code_at(s);
            assert_eq!(secret.check(&code, now, 0), CodeCheck::Valid(s));
            assert_eq!(secret.check(&code, now, s), CodeCheck::Used);
        }
        for s in [step - 2, step + 2] {
            let code = secret.code_at(s);
            if code != secret.code_at(step - 1)
                && code != secret.code_at(step)
                && code != secret.code_at(step + 1)
            {
                assert_eq!(secret.check(&code, now, 0), CodeCheck::Wrong);
            }
        }
        let spaced = format!(
            "{} {}",
            &secret.code_at(step)[..3],
            &secret.code_at(step)[3..]
        );
        assert_eq!(secret.check(&spaced, now, 0), CodeCheck::Valid(step));
        assert_eq!(secret.check("12345", now, 0), CodeCheck::Wrong);
        assert_eq!(secret.check("abcdef", now, 0), CodeCheck::Wrong);
        assert!(is_totp_code("123 456") && !is_totp_code("1234-5678"));
    }

    #[test]
    fn the_uri_names_issuer_account_and_secret() {
        let secret = TotpSecret(*b"12345678901234567890");
        assert_eq!(
            secret.otpauth_uri("ann.b"),
            "otpauth://totp/member%2Dportal%3Aann%2Eb?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=member-portal&algorithm=SHA1&digits=6&period=30"
        );
        let svg = secret.qr_svg("ann.b");
        assert!(svg.starts_with("<svg "), "{}", &svg[..40]);
        assert!(svg.ends_with("</svg>"));
        assert!(!svg.contains("style") && !svg.contains("script"));
        assert!(
            !svg.contains(&secret.base32()),
            "the QR code is drawn, not written"
        );
    }

    #[test]
    fn secrets_open_only_for_their_member_and_key() {
        let keys = TotpKeys::new([&[7_u8; 32][..]]).expect("a key");
        let secret = TotpSecret::generate();
        let sealed = keys.seal(&secret, "ann");
        assert_eq!(keys.open(&sealed, "ann"), Some(secret.clone()));
        assert_eq!(keys.open(&sealed, "bob"), None, "bound to the member");
        assert!(!sealed
            .windows(SECRET_BYTES)
            .any(|w| w == secret.0.as_slice()));
        let mut altered = sealed.clone();
        *altered.last_mut().expect("bytes") ^= 1;
        assert_eq!(keys.open(&altered, "ann"), None);
        let other = TotpKeys::new([&[8_u8; 40][..]]).expect("a key");
        assert_eq!(other.open(&sealed, "ann"), None, "another key");
        assert!(keys.is_current(&sealed) && !other.is_current(&sealed));
        // A rotation: the new key seals, the old one still opens.
        let rotated = TotpKeys::new([&[8_u8; 40][..], &[7_u8; 32][..]]).expect("keys");
        assert_eq!(rotated.open(&sealed, "ann"), Some(secret.clone()));
        assert!(!rotated.is_current(&sealed));
        assert!(rotated.is_current(&rotated.seal(&secret, "ann")));
        let text = keys.seal_text(&secret, "ann");
        assert_eq!(keys.open_text(&text, "ann"), Some(secret));
        assert_eq!(TotpKeys::new([&[1_u8; 31][..]]).err(), Some(ShortKey(31)));
        assert_eq!(format!("{keys:?}"), "TotpKeys { keys: 1 }");
    }

    #[test]
    fn recovery_codes_are_80_bits_forgiving_to_type_and_hashed_per_member() {
        let codes = RecoveryCode::generate_set();
        assert_eq!(codes.len(), RECOVERY_CODES);
        let code = &codes[0];
        let shown = code.display();
        assert_eq!(shown.len(), 19);
        assert_eq!(shown.matches('-').count(), 3);
        assert_eq!(RecoveryCode::parse(&shown).as_ref(), Some(code));
        assert_eq!(
            RecoveryCode::parse(&shown.to_uppercase().replace('-', " ")).as_ref(),
            Some(code)
        );
        assert_eq!(
            RecoveryCode::parse("O1L1-abcd-efgh-jkmn").map(|c| c.display()),
            Some("0111-abcd-efgh-jkmn".to_owned())
        );
        assert!(RecoveryCode::parse("abcd-efgh-jkmn").is_none());
        assert!(RecoveryCode::parse("abcd-efgh-jkmn-pqrsu").is_none());
        assert!(RecoveryCode::parse("abcd-efgh-jkmn-pqr!").is_none());
        assert_ne!(code.hash("ann"), code.hash("bob"));
        assert_eq!(format!("{code:?}"), "RecoveryCode(…)");
        assert_eq!(format!("{:?}", TotpSecret::generate()), "TotpSecret(…)");
    }
}
