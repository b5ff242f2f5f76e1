//! Mail delivery: the transport (SMTP through `lettre`, or `.eml` files in development) and
//! the sender that delivers the outbox. What a mail says is the domain's ([`crate::domain::Letter`]);
//! when it is queued, the data layer's ([`crate::data::Outbox`], in the transaction of what
//! causes it).
//!
//! - `transport`: [`Transport`] and [`compose`], the message with its headers;
//! - `sender`: [`Sender`], the background job (one per instance) that claims, delivers,
//!   retries and gives up.
//!
//! May touch: [`crate::telemetry`], [`crate::data`], [`crate::domain`].

mod sender;
mod transport;

pub use sender::Sender;
pub use transport::{compose, smtp_endpoint, MailTransport, SendError, Transport, SEND_TIMEOUT};
