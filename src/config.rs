//! Configuration from the environment (and a `.env` file, if present).
//!
//! Every variable has a development default so `cargo run` works against a local MySQL. A bad
//! value stops the app with one line naming the variable; secrets are never echoed back.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use actix_web::cookie::Key;
use base64::Engine;

use crate::domain::TotpKeys;
use crate::mail::smtp_endpoint;
pub use crate::mail::MailTransport;
use crate::web::TrustedProxies;
use crate::web::{Frontend, SiteOrigin};

/// `development` or `production`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    /// Plain cookies over HTTP, a random session key if none is given.
    Development,
    /// `Secure` cookies; refuses to start without `SESSION_KEY`.
    Production,
}

/// The lowest zxcvbn score of a new password unless `PASSWORD_MIN_SCORE` says otherwise: 2
/// refuses `password1`, `pppppppp` and the username, and takes an 8-character random
/// password.
pub const DEFAULT_PASSWORD_MIN_SCORE: u8 = 2;

/// Sign-in attempts a minute per client IP unless `LOGIN_IP_LIMIT` says otherwise.
pub const DEFAULT_LOGIN_IP_LIMIT: u32 = 30;

/// The longest timeout or interval accepted: 400 days, the longest lifetime browsers give any
/// cookie. A longer one is a typo, not a policy.
const MAX_DURATION: Duration = Duration::from_secs(400 * 24 * 60 * 60);

/// The app's settings.
#[derive(Clone)]
pub struct Settings {
    /// `DATABASE_URL`: where members and sessions live.
    pub database_url: String,
    /// `BIND`: the listen address.
    pub bind: SocketAddr,
    /// `APP_ENV`.
    pub environment: Environment,
    /// `SESSION_KEY`: encrypts session cookies and signs CSRF tokens.
    pub session_key: Key,
    /// Whether `session_key` was generated for this run (development only).
    pub session_key_generated: bool,
    /// `SESSION_IDLE_TIMEOUT`: the store's TTL, sliding.
    pub idle_timeout: Duration,
    /// `SESSION_ABSOLUTE_TIMEOUT`: counted from sign-in.
    pub absolute_timeout: Duration,
    /// `SESSION_TOUCH_INTERVAL`: how often a session's expiry is written at most.
    pub touch_interval: Duration,
    /// `LOGIN_IP_LIMIT`: sign-in attempts a minute per client IP; 0 turns the limit off.
    pub login_ip_limit: u32,
    /// `MAX_SESSIONS_PER_MEMBER`: live sessions per member; signing in beyond it ends the
    /// least recently seen.
    pub max_sessions_per_member: u32,
    /// `PUBLIC_ORIGIN` and `TRUSTED_PROXIES`: how browsers reach the app.
    pub frontend: Frontend,
    /// `METRICS_BIND`: where Prometheus metrics are served; `None` (the default) for nowhere.
    pub metrics_bind: Option<SocketAddr>,
    /// `RUST_LOG`: the log filter (checked here, applied by [`crate::init_tracing`]).
    pub log_filter: String,
    /// `PASSWORD_MIN_SCORE`: the lowest zxcvbn score (0–4) a new password may have; 0 turns
    /// the check off.
    pub password_min_score: u8,
    /// `PWNED_PASSWORDS_URL`: the k-anonymity range API new passwords are looked up in
    /// (checked to be an http(s) base URL); `None` (the default) for none.
    pub pwned_passwords_url: Option<String>,
    /// `REMEMBER_FOR`: the idle and absolute timeout of a "keep me signed in" session; `None`
    /// (`REMEMBER_FOR=0`) when the option is off.
    pub remember_for: Option<Duration>,
    /// `TOTP_KEY` (or the key derived from `SESSION_KEY`): seals two-factor secrets at rest.
    pub totp_keys: TotpKeys,
    /// Whether the TOTP key is random for this run (development without `SESSION_KEY` or
    /// `TOTP_KEY`): a secret sealed now could not be opened after a restart, so enrolment is
    /// refused.
    pub totp_key_ephemeral: bool,
    /// `SMTP_URL`, `MAIL_FROM`, `MAIL_DIR`, `RESET_LINK_TTL`, `VERIFY_LINK_TTL`.
    pub mail: MailSettings,
}

/// The e-mail settings.
#[derive(Debug, Clone)]
pub struct MailSettings {
    /// `SMTP_URL` (and `MAIL_DIR`).
    pub transport: MailTransport,
    /// `MAIL_FROM`: the `From` of every mail.
    pub from: lettre::message::Mailbox,
    /// `RESET_LINK_TTL`.
    pub reset_ttl: Duration,
    /// `VERIFY_LINK_TTL`.
    pub verify_ttl: Duration,
}

impl MailSettings {
    /// Whether e-mail features are on.
    pub fn is_on(&self) -> bool {
        self.transport != MailTransport::Off
    }
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // No URL (it may hold a password) and no key.
        f.debug_struct("Settings")
            .field("bind", &self.bind)
            .field("environment", &self.environment)
            .field("idle_timeout", &self.idle_timeout)
            .field("absolute_timeout", &self.absolute_timeout)
            .field("touch_interval", &self.touch_interval)
            .field("max_sessions_per_member", &self.max_sessions_per_member)
            .field("frontend", &self.frontend)
            .field("metrics_bind", &self.metrics_bind)
            .field("remember_for", &self.remember_for)
            .field("pwned_passwords_url", &self.pwned_passwords_url)
            .field("totp_key_ephemeral", &self.totp_key_ephemeral)
            .field("mail", &self.mail)
            .finish_non_exhaustive()
    }
}

/// A configuration variable had a value the app cannot use.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {variable}: {problem}")]
pub struct ConfigError {
    /// The variable's name.
    pub variable: &'static str,
    /// What is wrong, without the value if it is secret.
    pub problem: String,
}

fn bad(variable: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        variable,
        problem: problem.into(),
    }
}

impl Settings {
    /// Read the settings from the process environment (after loading `.env`, if present).
    pub fn from_env() -> Result<Self, ConfigError> {
        // A missing .env is normal; a broken one is reported by the variables it leaves unset.
        let _ = dotenvy::dotenv();
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Read the settings through `lookup`, which returns a variable's value if it is set.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let environment = match get("APP_ENV").as_deref().map(str::trim) {
            None | Some("development") => Environment::Development,
            Some("production") => Environment::Production,
            Some(other) => {
                return Err(bad(
                    "APP_ENV",
                    format!("{other:?} is neither \"development\" nor \"production\""),
                ))
            }
        };
        let database_url = get("DATABASE_URL")
            .unwrap_or_else(|| "mysql://root@127.0.0.1:3306/member_portal".to_owned());
        let opts = mysql_async::Opts::from_url(&database_url)
            .map_err(|e| bad("DATABASE_URL", format!("not a mysql:// URL ({e})")))?;
        if opts.db_name().is_none() {
            return Err(bad("DATABASE_URL", "the URL names no database"));
        }
        let bind = get("BIND")
            .unwrap_or_else(|| "127.0.0.1:8080".to_owned())
            .trim()
            .parse()
            .map_err(|_| bad("BIND", "expected an address such as 127.0.0.1:8080"))?;
        let metrics_bind: Option<SocketAddr> = get("METRICS_BIND")
            .map(|text| {
                text.trim().parse().map_err(|_| {
                    bad(
                        "METRICS_BIND",
                        format!("{text:?} is not an address such as 127.0.0.1:9090"),
                    )
                })
            })
            .transpose()?;
        // Port 0 asks for any free port, so two of them never collide.
        if metrics_bind.is_some_and(|m| m == bind && m.port() != 0) {
            return Err(bad(
                "METRICS_BIND",
                "must differ from BIND: metrics are never served on the public listener",
            ));
        }
        let (session_key, session_key_generated) = match get("SESSION_KEY") {
            Some(encoded) => (parse_key(encoded.trim())?, false),
            None if environment == Environment::Production => {
                return Err(bad(
                    "SESSION_KEY",
                    "required when APP_ENV=production (64+ random bytes, base64; e.g. \
                     `openssl rand -base64 64`)",
                ))
            }
            None => (Key::generate(), true),
        };
        let derived = TotpKeys::derive_from_session_key(session_key.master());
        let derived = TotpKeys::new([&derived[..]]).expect("a 32-byte key");
        let (totp_keys, totp_key_ephemeral) = match get("TOTP_KEY") {
            Some(list) => {
                let materials = list
                    .split(|c: char| c == ',' || c.is_ascii_whitespace())
                    .filter(|part| !part.is_empty())
                    .map(|part| decode_base64("TOTP_KEY", part))
                    .collect::<Result<Vec<_>, _>>()?;
                let keys = TotpKeys::new(materials.iter().map(Vec::as_slice))
                    .map_err(|short| bad("TOTP_KEY", format!("a key of {short} after decoding")))?;
                // Secrets sealed before TOTP_KEY was set (under the key derived from
                // SESSION_KEY) still open, so setting it locks nobody out.
                let keys = if session_key_generated {
                    keys
                } else {
                    keys.with_openers(derived)
                };
                (keys, false)
            }
            None => (derived, session_key_generated),
        };
        let duration = |name: &'static str, default: &str| -> Result<Duration, ConfigError> {
            let text = get(name).unwrap_or_else(|| default.to_owned());
            let value = humantime::parse_duration(text.trim()).map_err(|e| {
                bad(
                    name,
                    format!("{text:?} is not a duration such as 30m ({e})"),
                )
            })?;
            if value.is_zero() {
                return Err(bad(name, "must be greater than zero"));
            }
            if value > MAX_DURATION {
                return Err(bad(
                    name,
                    "must be at most 400 days, the longest any browser keeps a cookie",
                ));
            }
            Ok(value)
        };
        let idle_timeout = duration("SESSION_IDLE_TIMEOUT", "30m")?;
        let absolute_timeout = duration("SESSION_ABSOLUTE_TIMEOUT", "12h")?;
        let touch_interval = duration("SESSION_TOUCH_INTERVAL", "60s")?;
        let remember_for = match get("REMEMBER_FOR").as_deref().map(str::trim) {
            Some("0") => None,
            _ => Some(duration("REMEMBER_FOR", "30days")?),
        };
        if remember_for.is_some_and(|r| r <= touch_interval) {
            return Err(bad(
                "REMEMBER_FOR",
                "must be longer than SESSION_TOUCH_INTERVAL (or 0 to turn the option off)",
            ));
        }
        if touch_interval >= idle_timeout {
            return Err(bad(
                "SESSION_TOUCH_INTERVAL",
                "must be shorter than SESSION_IDLE_TIMEOUT",
            ));
        }
        let max_sessions_per_member = match get("MAX_SESSIONS_PER_MEMBER") {
            None => 10,
            Some(text) => match text.trim().parse::<u32>() {
                Ok(n) if n >= 1 => n,
                _ => {
                    return Err(bad(
                        "MAX_SESSIONS_PER_MEMBER",
                        format!("{text:?} is not a whole number of at least 1"),
                    ))
                }
            },
        };
        let public_origin = get("PUBLIC_ORIGIN")
            .map(|text| {
                SiteOrigin::parse(text.trim()).ok_or_else(|| {
                    bad(
                        "PUBLIC_ORIGIN",
                        format!(
                            "{text:?} is not an origin such as https://portal.example.com \
                             (scheme and host, optional port, no path)"
                        ),
                    )
                })
            })
            .transpose()?;
        let login_ip_limit = match get("LOGIN_IP_LIMIT") {
            None => DEFAULT_LOGIN_IP_LIMIT,
            Some(text) => text.trim().parse::<u32>().map_err(|_| {
                bad(
                    "LOGIN_IP_LIMIT",
                    format!("{text:?} is not a whole number of sign-ins a minute (0 turns it off)"),
                )
            })?,
        };
        let trusted_proxies = TrustedProxies::parse(&get("TRUSTED_PROXIES").unwrap_or_default())
            .map_err(|problem| bad("TRUSTED_PROXIES", problem))?;
        let password_min_score = match get("PASSWORD_MIN_SCORE") {
            None => DEFAULT_PASSWORD_MIN_SCORE,
            Some(text) => match text.trim().parse::<u8>() {
                Ok(n) if n <= 4 => n,
                _ => {
                    return Err(bad(
                        "PASSWORD_MIN_SCORE",
                        format!("{text:?} is not a score from 0 to 4 (0 turns the check off)"),
                    ))
                }
            },
        };
        let pwned_passwords_url = get("PWNED_PASSWORDS_URL")
            .map(|url| {
                crate::breaches::BreachedPasswords::new(&url)
                    .map(|_| url.trim().to_owned())
                    .map_err(|e| bad("PWNED_PASSWORDS_URL", e.to_string()))
            })
            .transpose()?;
        let transport = match get("SMTP_URL").as_deref().map(str::trim) {
            Some("off") => MailTransport::Off,
            Some(url) => {
                check_smtp_url(url)?;
                MailTransport::Smtp(url.to_owned())
            }
            None if environment == Environment::Production => MailTransport::Off,
            None => MailTransport::Files(PathBuf::from(
                get("MAIL_DIR").map_or_else(|| "mail".to_owned(), |d| d.trim().to_owned()),
            )),
        };
        if transport != MailTransport::Off
            && environment == Environment::Production
            && public_origin.is_none()
        {
            return Err(bad(
                "PUBLIC_ORIGIN",
                "required when APP_ENV=production and e-mail is on: every link in a mail \
                 starts with it (or set SMTP_URL=off)",
            ));
        }
        let from_text =
            get("MAIL_FROM").unwrap_or_else(|| "member-portal <no-reply@localhost>".to_owned());
        let from = from_text.trim().parse::<lettre::message::Mailbox>().map_err(|_| {
            bad(
                "MAIL_FROM",
                format!("{from_text:?} is not an address such as \"member-portal <no-reply@example.com>\""),
            )
        })?;
        let mail = MailSettings {
            transport,
            from,
            reset_ttl: duration("RESET_LINK_TTL", "30m")?,
            verify_ttl: duration("VERIFY_LINK_TTL", "24h")?,
        };
        let log_filter = get("RUST_LOG").unwrap_or_else(|| "info".to_owned());
        if let Err(e) = tracing_subscriber::EnvFilter::builder().parse(log_filter.trim()) {
            return Err(bad(
                "RUST_LOG",
                format!("{log_filter:?} is not a tracing filter such as info or warn,member_portal=debug ({e})"),
            ));
        }
        Ok(Self {
            database_url,
            bind,
            environment,
            session_key,
            session_key_generated,
            idle_timeout,
            absolute_timeout,
            touch_interval,
            login_ip_limit,
            max_sessions_per_member,
            frontend: Frontend {
                public_origin,
                trusted_proxies,
            },
            metrics_bind,
            log_filter,
            password_min_score,
            pwned_passwords_url,
            remember_for,
            totp_keys,
            totp_key_ephemeral,
            mail,
        })
    }

    /// Whether cookies get the `Secure` attribute.
    pub fn secure_cookies(&self) -> bool {
        self.environment == Environment::Production
    }
}

/// Check an `SMTP_URL` as the mail library reads it, without connecting.
fn check_smtp_url(url: &str) -> Result<(), ConfigError> {
    use lettre::{AsyncSmtpTransport, Tokio1Executor};
    AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
        .map(drop)
        .map_err(|_| {
            bad(
                "SMTP_URL",
                format!(
                    "{} is not an SMTP URL such as smtp://localhost:1025, \
                     smtp://user:pass@host:587?tls=required or smtps://user:pass@host:465 \
                     (or off)",
                    smtp_endpoint(url)
                ),
            )
        })
}

fn parse_key(encoded: &str) -> Result<Key, ConfigError> {
    let bytes = decode_base64("SESSION_KEY", encoded)?;
    Key::try_from(bytes.as_slice()).map_err(|_| {
        bad(
            "SESSION_KEY",
            format!(
                "{} bytes after decoding; at least 64 are needed",
                bytes.len()
            ),
        )
    })
}

/// The bytes of `encoded`, the value of `variable`, in base64 however it was written.
fn decode_base64(variable: &'static str, encoded: &str) -> Result<Vec<u8>, ConfigError> {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    // Standard or URL-safe alphabet, with or without `=` padding: however the key was encoded.
    let config =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    let standard = GeneralPurpose::new(&base64::alphabet::STANDARD, config);
    let url_safe = GeneralPurpose::new(&base64::alphabet::URL_SAFE, config);
    // `openssl rand -base64 64` wraps its output at 64 characters: the line breaks are not
    // part of the key.
    let encoded: String = encoded.split_ascii_whitespace().collect();
    standard
        .decode(&encoded)
        .or_else(|_| url_safe.decode(&encoded))
        .map_err(|_| bad(variable, "not valid base64"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_work_in_development() {
        let s = settings(&[]).expect("defaults");
        assert_eq!(s.environment, Environment::Development);
        assert!(s.session_key_generated);
        assert_eq!(s.idle_timeout, Duration::from_secs(1800));
        assert_eq!(s.absolute_timeout, Duration::from_secs(12 * 3600));
        assert_eq!(s.touch_interval, Duration::from_secs(60));
        assert_eq!(s.max_sessions_per_member, 10);
        assert!(!s.secure_cookies());
        assert_eq!(s.metrics_bind, None);
        assert!(s.frontend.public_origin.is_none());
        assert!(s.frontend.trusted_proxies.is_empty());
        assert_eq!(s.remember_for, Some(Duration::from_secs(30 * 24 * 3600)));
        assert!(s.totp_key_ephemeral, "random SESSION_KEY, no TOTP_KEY");
    }

    #[test]
    fn remember_for_and_totp_keys() {
        let key = base64::engine::general_purpose::STANDARD.encode([7_u8; 64]);
        let s = settings(&[("SESSION_KEY", &key), ("REMEMBER_FOR", "0")]).expect("valid");
        assert_eq!(s.remember_for, None, "0 turns the option off");
        assert!(
            !s.totp_key_ephemeral,
            "derived from a SESSION_KEY that lasts"
        );
        let s = settings(&[("REMEMBER_FOR", "7days")]).expect("valid");
        assert_eq!(s.remember_for, Some(Duration::from_secs(7 * 24 * 3600)));

        // The key derived from SESSION_KEY keeps opening what it sealed once TOTP_KEY is set,
        // and an old TOTP_KEY listed after the new one still opens its secrets.
        let secret = crate::domain::TotpSecret::generate();
        let derived = settings(&[("SESSION_KEY", &key)]).expect("valid").totp_keys;
        let old = base64::engine::general_purpose::STANDARD.encode([1_u8; 32]);
        let new = base64::engine::general_purpose::STANDARD.encode([2_u8; 48]);
        let s = settings(&[("SESSION_KEY", &key), ("TOTP_KEY", &old)]).expect("valid");
        assert!(!s.totp_key_ephemeral);
        let sealed_derived = derived.seal(&secret, "ann");
        let sealed_old = s.totp_keys.seal(&secret, "ann");
        assert_eq!(
            s.totp_keys.open(&sealed_derived, "ann"),
            Some(secret.clone())
        );
        let both = format!("{new}, {old}");
        let s = settings(&[("SESSION_KEY", &key), ("TOTP_KEY", &both)]).expect("valid");
        assert_eq!(s.totp_keys.open(&sealed_old, "ann"), Some(secret.clone()));
        assert!(!s.totp_keys.is_current(&sealed_old));
        let s = settings(&[("TOTP_KEY", &new)]).expect("valid");
        assert!(
            !s.totp_key_ephemeral,
            "a TOTP_KEY lasts even without SESSION_KEY"
        );
    }

    #[test]
    fn origin_and_proxies() {
        let s = settings(&[
            ("PUBLIC_ORIGIN", "https://Portal.example.com/"),
            ("TRUSTED_PROXIES", "10.0.0.0/8, ::1"),
        ])
        .expect("valid");
        assert_eq!(
            s.frontend.public_origin.map(|o| o.to_string()).as_deref(),
            Some("https://portal.example.com")
        );
        assert!(s.frontend.trusted_proxies.contains([10, 1, 2, 3].into()));
        assert!(!s.frontend.trusted_proxies.contains([11, 1, 2, 3].into()));
    }

    #[test]
    fn metrics_get_a_listener_of_their_own() {
        let s = settings(&[("METRICS_BIND", "127.0.0.1:9090")]).expect("metrics");
        assert_eq!(
            s.metrics_bind,
            Some("127.0.0.1:9090".parse().expect("addr"))
        );
        let s = settings(&[("BIND", "127.0.0.1:0"), ("METRICS_BIND", "127.0.0.1:0")]);
        assert!(s.is_ok(), "two random ports never collide");
    }

    #[test]
    fn keys_decode_with_or_without_padding_or_line_breaks_in_either_alphabet() {
        use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};
        let bytes = [0xfb_u8; 65];
        let wrapped = STANDARD.encode(bytes);
        let wrapped = format!("{}\n{}\n", &wrapped[..64], &wrapped[64..]);
        for encoded in [
            STANDARD.encode(bytes),
            STANDARD_NO_PAD.encode(bytes),
            URL_SAFE_NO_PAD.encode(bytes),
            wrapped,
        ] {
            let s = settings(&[("SESSION_KEY", &encoded)]).expect("a valid key");
            assert_eq!(s.session_key.master(), Key::from(&bytes).master());
        }
    }

    #[test]
    fn mail_settings() {
        let s = settings(&[]).expect("defaults");
        assert_eq!(
            s.mail.transport,
            MailTransport::Files(PathBuf::from("mail"))
        );
        assert_eq!(s.mail.reset_ttl, Duration::from_secs(1800));
        assert_eq!(s.mail.verify_ttl, Duration::from_secs(86_400));
        let s = settings(&[(
            "SMTP_URL",
            "smtp://user:secret@mail.example.com:587?tls=required",
        )])
        .expect("valid");
        assert!(!format!("{s:?}").contains("secret"));
        assert!(format!("{s:?}").contains("smtp://mail.example.com:587"));
        let key = base64::engine::general_purpose::STANDARD.encode([7_u8; 64]);
        let s = settings(&[("APP_ENV", "production"), ("SESSION_KEY", &key)]).expect("valid");
        assert!(!s.mail.is_on(), "production without SMTP_URL: off");
        let err = settings(&[
            ("APP_ENV", "production"),
            ("SESSION_KEY", &key),
            ("SMTP_URL", "smtp://mail.example.com"),
        ])
        .expect_err("links need an origin");
        assert_eq!(err.variable, "PUBLIC_ORIGIN");
        let s = settings(&[("SMTP_URL", "off")]).expect("valid");
        assert!(!s.mail.is_on());
    }

    #[test]
    fn log_filters_are_checked() {
        for filter in ["warn", "info,member_portal=debug", "actix_web=warn,debug"] {
            let s = settings(&[("RUST_LOG", filter)]).expect(filter);
            assert_eq!(s.log_filter, filter);
        }
    }

    #[test]
    fn the_breached_password_service_is_an_http_base_url() {
        assert_eq!(settings(&[]).expect("defaults").pwned_passwords_url, None);
        let s = settings(&[("PWNED_PASSWORDS_URL", " https://api.pwnedpasswords.com ")])
            .expect("valid");
        assert_eq!(
            s.pwned_passwords_url.as_deref(),
            Some("https://api.pwnedpasswords.com")
        );
        for bad in [
            "api.pwnedpasswords.com",
            "file:///etc/passwd",
            "https://x.test/?a=1",
        ] {
            let err = settings(&[("PWNED_PASSWORDS_URL", bad)]).expect_err(bad);
            assert_eq!(err.variable, "PWNED_PASSWORDS_URL");
        }
    }

    #[test]
    fn production_needs_a_key() {
        let err = settings(&[("APP_ENV", "production")]).expect_err("no key");
        assert_eq!(err.variable, "SESSION_KEY");
        let key = base64::engine::general_purpose::STANDARD.encode([7_u8; 64]);
        let s = settings(&[("APP_ENV", "production"), ("SESSION_KEY", &key)]).expect("key");
        assert!(s.secure_cookies());
        assert!(!s.session_key_generated);
    }

    #[test]
    fn bad_values_name_their_variable() {
        let short = base64::engine::general_purpose::STANDARD.encode([7_u8; 32]);
        let short_totp = base64::engine::general_purpose::STANDARD.encode([7_u8; 31]);
        for (var, value) in [
            ("APP_ENV", "staging"),
            ("BIND", "nowhere"),
            ("DATABASE_URL", "postgres://x"),
            ("SESSION_KEY", "%%%"),
            ("SESSION_KEY", short.as_str()),
            ("SESSION_IDLE_TIMEOUT", "soon"),
            ("SESSION_ABSOLUTE_TIMEOUT", "0s"),
            ("SESSION_TOUCH_INTERVAL", "1h"),
            ("MAX_SESSIONS_PER_MEMBER", "0"),
            ("MAX_SESSIONS_PER_MEMBER", "ten"),
            ("MAX_SESSIONS_PER_MEMBER", "-3"),
            ("PUBLIC_ORIGIN", "portal.example.com"),
            ("PUBLIC_ORIGIN", "https://portal.example.com/app"),
            ("PUBLIC_ORIGIN", "ftp://portal.example.com"),
            ("TRUSTED_PROXIES", "10.0.0.1, proxy.local"),
            ("TRUSTED_PROXIES", "10.0.0.0/40"),
            ("METRICS_BIND", "9090"),
            ("METRICS_BIND", "127.0.0.1:8080"),
            ("SESSION_IDLE_TIMEOUT", "1000000000y"),
            ("SESSION_ABSOLUTE_TIMEOUT", "401days"),
            ("PUBLIC_ORIGIN", "https://portal.example.com:99999"),
            ("RUST_LOG", "[[[bad"),
            ("RUST_LOG", "info,member_portal=bogus"),
            ("REMEMBER_FOR", "forever"),
            ("REMEMBER_FOR", "401days"),
            ("REMEMBER_FOR", "30s"),
            ("TOTP_KEY", "%%%"),
            ("TOTP_KEY", short_totp.as_str()),
            ("SMTP_URL", "http://mail.example.com"),
            ("SMTP_URL", "smtp://"),
            ("SMTP_URL", "smtp://host?tls=sometimes"),
            ("MAIL_FROM", "not an address"),
            ("RESET_LINK_TTL", "soon"),
            ("VERIFY_LINK_TTL", "0s"),
        ] {
            let err = settings(&[(var, value)]).expect_err(var);
            assert_eq!(err.variable, var, "{value}");
            assert!(!err.to_string().contains("%%%"));
        }
    }

    mod properties {
        use proptest::prelude::*;

        use super::super::*;

        proptest! {
            #[test]
            fn any_duration_is_taken_within_bounds_or_refused_naming_it(text in "\\PC{0,24}|[0-9]{1,12}(s|m|h|days|ms|us)") {
                let settings = Settings::from_lookup(|name| {
                    (name == "SESSION_IDLE_TIMEOUT").then(|| text.clone())
                });
                match settings {
                    Ok(s) => {
                        // Blank means the default.
                        prop_assert!(s.idle_timeout > Duration::ZERO && s.idle_timeout <= MAX_DURATION);
                    }
                    Err(e) => prop_assert!(e.to_string().contains("SESSION_IDLE_TIMEOUT")),
                }
            }
        }
    }
}
