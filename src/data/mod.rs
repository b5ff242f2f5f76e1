//! The data layer: the pool and migrations, and every SQL statement the app runs, grouped by
//! table. Nothing above this layer writes SQL; nothing here knows about HTTP.
//!
//! - `db`: pool options, creating the database, migrations, bounded waits, retried
//!   transactions, and [`DbError`] (the error policy for everything that touches MySQL);
//! - `members`: members and their authors, password changes, revocations that go with them;
//! - `events`: security events, the activity page's rows;
//! - `throttle`: sign-in throttling per account name;
//! - `two_factor`: two-factor secrets (sealed), the last used code step, recovery code hashes;
//! - `email`: members' addresses, and the links mailed to them (stored as hashes);
//! - `outbox`: mail waiting to be sent ([`Outbox`] queues it in the caller's transaction; the
//!   senders claim, retry and purge it).
//!
//! Sessions themselves are the `actix-session-mysql` store's.
//!
//! May touch: [`crate::domain`].

mod db;
mod email;
mod events;
mod members;
mod outbox;
mod throttle;
mod two_factor;

pub use db::{
    create_database, migrate, on_new_database, ping, pool_opts, DbError, DEFAULT_POOL_MAX,
    FIRST_START_COMMAND, OPERATION_TIMEOUT,
};
pub use email::{
    member_addresses, purge_old_links, request_address, request_reset, resend_verification,
    reset_link, reset_password, verification_link, verify_address, withdraw_pending_address,
    AddressRequest, Addresses, EmailState, LinkOwner, Resend, Verification,
};
pub use events::{
    event_page, purge_old_events, record_event, record_sign_in, record_throttled_sign_in, Event,
    EventKind, EventPage, EVENT_PAGE_SIZE, EVENT_RETENTION_DAYS,
};
pub use members::{
    change_password, create_member, delete_member, find_member, member_credentials,
    revoke_all_sessions, revoke_other_sessions, revoke_session, update_profile, upgrade_hash,
    CreateError, Credentials, Deleted, Member, PasswordChanged,
};
pub use outbox::{
    claim_mail, mail_failed, mail_retry, mail_sent, mail_status, purge_failed_mail, Outbox,
    OutboxStatus, QueuedMail,
};
pub use throttle::{
    clear_attempts, count_attempt, purge_stale_attempts, Attempt, FREE_ATTEMPTS, MAX_LOCK_SECS,
};
pub use two_factor::{
    clear_code_attempts, count_code_attempt, disable_two_factor, enable_two_factor,
    replace_recovery_codes, two_factor_secret, use_code_step, use_recovery_code, TwoFactor,
    TwoFactorSecret,
};
