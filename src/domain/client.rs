//! [`ClientInfo`]: who did something — the client's IP and browser — as the activity page
//! and the devices page show it. The HTTP layer extracts it from a request
//! (`crate::web::client_info`); the command line has one of its own.

/// The longest user agent kept: the header is the client's to make as long as it likes (the
/// width of the columns and session fields it goes into).
pub const USER_AGENT_MAX: usize = 512;

/// The user agent recorded for what is done on the server's command line.
const COMMAND_LINE: &str = "member-portal command line";

/// Where a request came from: the client's IP and its user agent (cut to
/// [`USER_AGENT_MAX`] characters).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientInfo {
    /// The client's IP address as text; empty when unknown.
    pub ip: String,
    /// The raw `User-Agent`, bounded; empty when absent.
    pub user_agent: String,
}

impl ClientInfo {
    /// A client at `ip` with `user_agent`, cut to [`USER_AGENT_MAX`] characters.
    pub fn new(ip: String, user_agent: &str) -> Self {
        Self {
            ip,
            user_agent: user_agent.chars().take(USER_AGENT_MAX).collect(),
        }
    }

    /// The command line (no IP; "command line" where a browser would be).
    pub fn command_line() -> Self {
        Self {
            ip: String::new(),
            user_agent: COMMAND_LINE.to_owned(),
        }
    }

    /// Whether this is [`ClientInfo::command_line`].
    pub fn is_command_line(&self) -> bool {
        self.ip.is_empty() && self.user_agent == COMMAND_LINE
    }

    /// The browser's name (no version) and the operating system, as a device is recognised
    /// again: a browser that updates itself is still the same device.
    pub fn device_family(&self) -> (String, String) {
        match woothee::parser::Parser::new().parse(&self.user_agent) {
            Some(r) => (r.name.to_owned(), r.os.to_owned()),
            None => ("UNKNOWN".to_owned(), "UNKNOWN".to_owned()),
        }
    }

    /// The browser (name and major version) and operating system, in words, parsed from the
    /// user agent.
    pub fn browser_and_os(&self) -> (String, String) {
        match woothee::parser::Parser::new().parse(&self.user_agent) {
            Some(r) if r.name != "UNKNOWN" => {
                let browser = if r.version.is_empty() || r.version == "UNKNOWN" {
                    r.name.to_owned()
                } else {
                    format!(
                        "{} {}",
                        r.name,
                        r.version.split('.').next().unwrap_or(r.version)
                    )
                };
                let os = if r.os == "UNKNOWN" {
                    "an unknown system".to_owned()
                } else {
                    r.os.to_owned()
                };
                (browser, os)
            }
            _ => ("Unknown browser".to_owned(), "an unknown system".to_owned()),
        }
    }
}
