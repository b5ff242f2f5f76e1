//! A real SMTP server (an RFC 5321 subset, plain TCP on the loopback) that a test runs in its
//! own process, so the app's real mail transport delivers to it: no mock, no TLS, no AUTH.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::Notify;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

const MAX_LINE: usize = 1024 * 1024;
const MAX_MESSAGE: usize = 10 * 1024 * 1024;

/// What the server answers at the end of `DATA`; every other command is accepted normally, so
/// the client always reaches the end of the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reply {
    /// 250: the message is stored.
    #[default]
    Accept,
    /// 451: a temporary failure, the client should try again later.
    TempFail,
    /// 554: a permanent failure.
    PermFail,
}

/// What the accept loop and the connections share.
#[derive(Debug, Default)]
struct State {
    reply: Mutex<Reply>,
    messages: Mutex<Vec<Mail>>,
    attempts: AtomicUsize,
    arrived: Notify,
}

#[derive(Debug)]
struct Inner {
    port: u16,
    state: Arc<State>,
    /// The accept loop; it owns the listener and every connection, so aborting it closes all.
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(task) = self.task.lock().unwrap().take() {
            task.abort();
        }
    }
}

/// A handle on an SMTP server on `127.0.0.1`; clones share the server, which stops when the
/// last one is dropped.
#[derive(Debug, Clone)]
pub struct SmtpServer {
    inner: Arc<Inner>,
}

impl SmtpServer {
    /// Bind a free loopback port and accept connections on the current tokio runtime.
    pub async fn start() -> SmtpServer {
        Self::start_on(0).await
    }

    /// [`start`](Self::start) on `port` (0: any free one), for a benchmark's fixed address.
    pub async fn start_on(port: u16) -> SmtpServer {
        let listener = bind(port)
            .unwrap_or_else(|e| panic!("test SMTP server: cannot bind 127.0.0.1:{port}: {e}"));
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(State::default());
        let task = tokio::spawn(accept_loop(listener, state.clone()));
        let inner = Inner {
            port,
            state,
            task: Mutex::new(Some(task)),
        };
        SmtpServer {
            inner: Arc::new(inner),
        }
    }

    pub fn port(&self) -> u16 {
        self.inner.port
    }

    /// `smtp://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port())
    }

    /// What the end of the next messages' `DATA` is answered with.
    pub fn set_reply(&self, reply: Reply) {
        *self.inner.state.reply.lock().unwrap() = reply;
    }

    /// Close the port (connections are refused) and every open connection, pooled ones too, so
    /// nothing can be delivered until [`resume`](Self::resume).
    pub async fn stop(&self) {
        let task = self.inner.task.lock().unwrap().take();
        if let Some(task) = task {
            task.abort();
            let _ = task.await; // resolves once the listener and the connections are dropped
        }
    }

    /// Listen on the same port again (retrying for up to 5 s: the port may linger in TIME_WAIT).
    pub async fn resume(&self) {
        if self.inner.task.lock().unwrap().is_some() {
            return;
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        let listener = loop {
            match bind(self.port()) {
                Ok(listener) => break listener,
                Err(e) if Instant::now() >= deadline => {
                    panic!(
                        "test SMTP server: cannot bind port {} again: {e}",
                        self.port()
                    )
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        };
        let task = tokio::spawn(accept_loop(listener, self.inner.state.clone()));
        *self.inner.task.lock().unwrap() = Some(task);
    }

    /// Every message accepted (250) so far, in order.
    pub fn messages(&self) -> Vec<Mail> {
        self.inner.state.messages.lock().unwrap().clone()
    }

    /// How many messages were accepted so far (without copying them).
    pub fn received(&self) -> usize {
        self.inner.state.messages.lock().unwrap().len()
    }

    /// How many transactions reached the end of `DATA`, accepted or refused: retries show here.
    pub fn attempts(&self) -> usize {
        self.inner.state.attempts.load(Ordering::SeqCst)
    }

    /// All messages, once at least `count` were accepted; panics if that takes longer than
    /// `within`.
    pub async fn wait_for(&self, count: usize, within: Duration) -> Vec<Mail> {
        let got = self.wait_until(within, |m| m.len() >= count).await;
        got.unwrap_or_else(|m| {
            panic!(
                "test SMTP server: expected {count} message(s) within {within:?}, {} arrived \
                 ({} attempt(s))",
                m.len(),
                self.attempts()
            )
        })
    }

    /// The first accepted message whose envelope recipients include `recipient` (ASCII
    /// case-insensitive); panics if none arrives within `within`.
    pub async fn wait_for_to(&self, recipient: &str, within: Duration) -> Mail {
        let is_for = |m: &Mail| m.to.iter().any(|t| t.eq_ignore_ascii_case(recipient));
        match self.wait_until(within, |all| all.iter().any(is_for)).await {
            Ok(all) => all.into_iter().find(is_for).unwrap(),
            Err(all) => {
                let seen: Vec<&String> = all.iter().flat_map(|m| &m.to).collect();
                panic!("test SMTP server: no message to {recipient} within {within:?}; recipients seen: {seen:?}")
            }
        }
    }

    async fn wait_until(
        &self,
        within: Duration,
        done: impl Fn(&[Mail]) -> bool,
    ) -> Result<Vec<Mail>, Vec<Mail>> {
        let deadline = Instant::now() + within;
        loop {
            let mut arrived = std::pin::pin!(self.inner.state.arrived.notified());
            arrived.as_mut().enable(); // registered before looking, so no arrival is missed
            let messages = self.messages();
            if done(&messages) {
                return Ok(messages);
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                let messages = self.messages();
                return if done(&messages) {
                    Ok(messages)
                } else {
                    Err(messages)
                };
            }
        }
    }
}

fn bind(port: u16) -> std::io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(SocketAddr::from(([127, 0, 0, 1], port)))?;
    socket.listen(128)
}

async fn accept_loop(listener: TcpListener, state: Arc<State>) {
    // Owned here so that aborting this task closes the connections as well.
    let mut connections = JoinSet::new();
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                connections.spawn(serve(stream, state.clone()));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await, // e.g. out of fds
        }
        while connections.try_join_next().is_some() {}
    }
}

enum Line {
    Eof,
    TooLong,
    Data(Vec<u8>),
}

async fn read_line(reader: &mut (impl AsyncBufRead + Unpin)) -> std::io::Result<Line> {
    let mut buf = Vec::new();
    (&mut *reader)
        .take(MAX_LINE as u64 + 1)
        .read_until(b'\n', &mut buf)
        .await?;
    Ok(match buf.len() {
        0 => Line::Eof,
        n if n > MAX_LINE => Line::TooLong,
        _ => Line::Data(buf),
    })
}

/// The address in `FROM:<a@b> PARAMS` / `TO:<a@b>` after `keyword`, without the brackets.
fn path_arg(arg: &str, keyword: &str) -> Option<String> {
    let head = arg.get(..keyword.len())?;
    if !head.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = arg[keyword.len()..].trim_start();
    match rest.strip_prefix('<') {
        Some(inner) => inner.find('>').map(|end| inner[..end].to_owned()),
        None => rest.split_whitespace().next().map(str::to_owned),
    }
}

async fn serve(stream: TcpStream, state: Arc<State>) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    write.write_all(b"220 test-smtp ready\r\n").await?;
    let mut from: Option<String> = None;
    let mut to: Vec<String> = Vec::new();
    loop {
        let line = match read_line(&mut reader).await? {
            Line::Eof => return Ok(()),
            Line::TooLong => {
                write.write_all(b"500 5.5.2 line too long\r\n").await?;
                return Ok(());
            }
            Line::Data(line) => String::from_utf8_lossy(&line).trim_end().to_owned(),
        };
        let (verb, arg) = line.split_once(' ').unwrap_or((&line, ""));
        let reply: &[u8] = match verb.to_ascii_uppercase().as_str() {
            "EHLO" => {
                (from, to) = (None, Vec::new());
                b"250-test-smtp\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 SIZE 10485760\r\n"
            }
            "HELO" => {
                (from, to) = (None, Vec::new());
                b"250 test-smtp\r\n"
            }
            "MAIL" => match path_arg(arg.trim(), "FROM:") {
                Some(address) => {
                    (from, to) = (Some(address), Vec::new());
                    b"250 2.1.0 OK\r\n"
                }
                None => b"501 5.5.4 syntax: MAIL FROM:<address>\r\n",
            },
            "RCPT" if from.is_none() => b"503 5.5.1 MAIL first\r\n",
            "RCPT" => match path_arg(arg.trim(), "TO:") {
                Some(address) => {
                    to.push(address);
                    b"250 2.1.5 OK\r\n"
                }
                None => b"501 5.5.4 syntax: RCPT TO:<address>\r\n",
            },
            "DATA" if from.is_none() || to.is_empty() => b"503 5.5.1 MAIL and RCPT first\r\n",
            "DATA" => {
                write
                    .write_all(b"354 end data with <CR><LF>.<CR><LF>\r\n")
                    .await?;
                let Some(data) = read_data(&mut reader).await? else {
                    write.write_all(b"552 5.3.4 line too long\r\n").await?;
                    return Ok(());
                };
                state.attempts.fetch_add(1, Ordering::SeqCst);
                let envelope = (from.take().unwrap_or_default(), std::mem::take(&mut to));
                match (data, *state.reply.lock().unwrap()) {
                    (None, _) => b"552 5.3.4 message too big\r\n",
                    (Some(_), Reply::TempFail) => b"451 4.3.0 try again later\r\n",
                    (Some(_), Reply::PermFail) => b"554 5.7.1 rejected\r\n",
                    (Some(raw), Reply::Accept) => {
                        let (from, to) = envelope;
                        let raw = String::from_utf8_lossy(&raw).into_owned();
                        state.messages.lock().unwrap().push(Mail { from, to, raw });
                        state.arrived.notify_waiters();
                        b"250 2.0.0 OK queued\r\n"
                    }
                }
            }
            "RSET" => {
                (from, to) = (None, Vec::new());
                b"250 2.0.0 OK\r\n"
            }
            "NOOP" => b"250 2.0.0 OK\r\n",
            "QUIT" => {
                write.write_all(b"221 2.0.0 bye\r\n").await?;
                return Ok(());
            }
            _ => b"502 5.5.1 command not implemented\r\n",
        };
        write.write_all(reply).await?;
    }
}

/// The message up to the line `.`, dot-unstuffed: `Ok(None)` on a line over 1 MiB (the
/// connection is then dropped), `Ok(Some(None))` when the message exceeded 10 MiB (it was read
/// to its end and discarded).
async fn read_data(
    reader: &mut (impl AsyncBufRead + Unpin),
) -> std::io::Result<Option<Option<Vec<u8>>>> {
    let mut data = Some(Vec::new());
    loop {
        let line = match read_line(reader).await? {
            Line::Eof => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            Line::TooLong => return Ok(None),
            Line::Data(line) => line,
        };
        if line == b".\r\n" || line == b".\n" || line == b"." {
            return Ok(Some(data));
        }
        let line = line.strip_prefix(b".").unwrap_or(&line);
        if let Some(buf) = data.as_mut() {
            buf.extend_from_slice(line);
            if buf.len() > MAX_MESSAGE {
                data = None;
            }
        }
    }
}

/// A message the server accepted: its envelope and its data as received.
#[derive(Debug, Clone)]
pub struct Mail {
    /// The envelope sender (`MAIL FROM`), without the brackets.
    pub from: String,
    /// The envelope recipients (`RCPT TO`), without the brackets.
    pub to: Vec<String>,
    /// The message data, dot-unstuffed, CRLF kept.
    pub raw: String,
}

impl Mail {
    /// A header's value: the name is case-insensitive, folded lines are unfolded and RFC 2047
    /// encoded-words (how lettre writes non-ASCII subjects) decoded.
    pub fn header(&self, name: &str) -> Option<String> {
        let (head, _) = split_head(&self.raw);
        header_in(head, name).map(|v| decode_words(&v))
    }

    /// The decoded subject (empty if there is none).
    pub fn subject(&self) -> String {
        self.header("subject").unwrap_or_default()
    }

    /// The decoded text body (the first `text/plain` part of a multipart message), with LF line
    /// ends.
    pub fn text(&self) -> String {
        let (head, body) = split_head(&self.raw);
        text_of(head, body)
            .unwrap_or_default()
            .replace("\r\n", "\n")
    }

    /// Every `http://` or `https://` URL in [`text`](Self::text), in order (a trailing
    /// sentence punctuation mark is not part of it).
    pub fn links(&self) -> Vec<String> {
        let text = self.text();
        let mut links = Vec::new();
        let mut rest = text.as_str();
        while let Some(start) = [rest.find("http://"), rest.find("https://")]
            .into_iter()
            .flatten()
            .min()
        {
            let url = &rest[start..];
            let end = url
                .find(|c: char| c.is_whitespace() || "<>\"".contains(c))
                .unwrap_or(url.len());
            links.push(
                url[..end]
                    .trim_end_matches(['.', ',', ';', ':', '!', '?', ')'])
                    .to_owned(),
            );
            rest = &url[end..];
        }
        links
    }

    /// The first link starting with `prefix`; panics with the links there are if none does.
    pub fn link_starting_with(&self, prefix: &str) -> String {
        let links = self.links();
        match links.iter().find(|l| l.starts_with(prefix)) {
            Some(link) => link.clone(),
            None => panic!(
                "no link starting with {prefix} in the mail to {:?}; links: {links:?}",
                self.to
            ),
        }
    }
}

/// Headers and body, split at the first empty line.
fn split_head(raw: &str) -> (&str, &str) {
    let crlf = raw.find("\r\n\r\n").map(|i| (i, 4));
    let lf = raw.find("\n\n").map(|i| (i, 2));
    match [crlf, lf].into_iter().flatten().min() {
        Some((i, len)) => (&raw[..i], &raw[i + len..]),
        None => (raw, ""),
    }
}

/// A header's raw value (unfolded, trimmed, not decoded).
fn header_in(head: &str, name: &str) -> Option<String> {
    let mut found: Option<String> = None;
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some(value) = found.as_mut() {
                value.push_str(line);
                continue;
            }
        } else if found.is_some() {
            break;
        } else if let Some((n, value)) = line.split_once(':') {
            if n.trim().eq_ignore_ascii_case(name) {
                found = Some(value.to_owned());
            }
        }
    }
    found.map(|v| v.trim().to_owned())
}

/// A parameter of a header value such as `multipart/mixed; boundary="x"`.
fn param(value: &str, name: &str) -> Option<String> {
    value.split(';').skip(1).find_map(|p| {
        let (key, v) = p.split_once('=')?;
        key.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().trim_matches('"').to_owned())
    })
}

/// The first text/plain part of an entity (itself, if it is not multipart), decoded.
fn text_of(head: &str, body: &str) -> Option<String> {
    let content_type = header_in(head, "content-type").unwrap_or_else(|| "text/plain".into());
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if !mime.starts_with("multipart/") {
        return Some(decode_body(head, body));
    }
    let delimiter = format!("--{}", param(&content_type, "boundary")?);
    let mut parts: Vec<String> = Vec::new();
    let mut current: Option<String> = None;
    for line in body.split_inclusive('\n') {
        if let Some(after) = line.trim_end().strip_prefix(&delimiter) {
            parts.extend(current.take());
            if after.starts_with("--") {
                break;
            }
            current = Some(String::new());
        } else if let Some(part) = current.as_mut() {
            part.push_str(line);
        }
    }
    parts.extend(current);
    parts.iter().find_map(|part| {
        // The line end before a delimiter belongs to the delimiter.
        let part = part
            .strip_suffix("\r\n")
            .or(part.strip_suffix('\n'))
            .unwrap_or(part);
        let (head, body) = split_head(part);
        let content_type = header_in(head, "content-type").unwrap_or_else(|| "text/plain".into());
        let mime = content_type.to_ascii_lowercase();
        (mime.starts_with("text/plain") || mime.starts_with("multipart/"))
            .then(|| text_of(head, body))
            .flatten()
    })
}

fn decode_body(head: &str, body: &str) -> String {
    let encoding = header_in(head, "content-transfer-encoding").unwrap_or_default();
    match encoding.to_ascii_lowercase().as_str() {
        "quoted-printable" => String::from_utf8_lossy(&quoted_printable(body, false)).into_owned(),
        "base64" => base64_text(body),
        _ => body.to_owned(),
    }
}

fn base64_text(encoded: &str) -> String {
    let compact: String = encoded.chars().filter(|c| !c.is_whitespace()).collect();
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    let bytes = engine
        .decode(compact)
        .unwrap_or_else(|e| panic!("bad base64 in a mail ({e}): {encoded}"));
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Quoted-printable (`q_word`: the RFC 2047 Q variant, where `_` is a space).
fn quoted_printable(text: &str, q_word: bool) -> Vec<u8> {
    let text = text.replace("=\r\n", "").replace("=\n", "");
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'=', Some(byte)) => {
                out.push(byte);
                i += 3;
                continue;
            }
            (b'_', _) if q_word => out.push(b' '),
            (byte, _) => out.push(byte),
        }
        i += 1;
    }
    out
}

/// A header value with its RFC 2047 encoded-words decoded (whitespace between two of them
/// dropped, as the RFC says).
fn decode_words(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    let mut after_word = false;
    while let Some(start) = rest.find("=?") {
        let (before, candidate) = rest.split_at(start);
        match decode_word(candidate) {
            Some((decoded, len)) => {
                if !(after_word && before.chars().all(char::is_whitespace)) {
                    out.push_str(before);
                }
                out.push_str(&decoded);
                rest = &candidate[len..];
                after_word = true;
            }
            None => {
                out.push_str(before);
                out.push_str("=?");
                rest = &candidate[2..];
                after_word = false;
            }
        }
    }
    out.push_str(rest);
    out
}

/// One `=?charset?b|q?text?=` at the start of `s`: its text and its length.
fn decode_word(s: &str) -> Option<(String, usize)> {
    let inner = s.strip_prefix("=?")?;
    let (charset, inner) = inner.split_once('?')?;
    let (encoding, inner) = inner.split_once('?')?;
    let end = inner.find("?=")?;
    let text = &inner[..end];
    if text.contains(char::is_whitespace) || charset.contains(char::is_whitespace) {
        return None;
    }
    let bytes = match encoding {
        "b" | "B" => base64::engine::general_purpose::STANDARD
            .decode(text)
            .ok()?,
        "q" | "Q" => quoted_printable(text, true),
        _ => return None,
    };
    let len = 2 + charset.len() + 1 + encoding.len() + 1 + end + 2;
    let charset = charset.split('*').next().unwrap_or("").to_ascii_lowercase();
    let decoded = match charset.as_str() {
        "iso-8859-1" | "latin1" => bytes.iter().map(|&b| char::from(b)).collect(),
        _ => String::from_utf8_lossy(&bytes).into_owned(),
    };
    Some((decoded, len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

    struct Client {
        reader: BufReader<OwnedReadHalf>,
        writer: OwnedWriteHalf,
    }

    impl Client {
        async fn connect(port: u16) -> Client {
            let (read, writer) = TcpStream::connect(("127.0.0.1", port))
                .await
                .unwrap()
                .into_split();
            let mut client = Client {
                reader: BufReader::new(read),
                writer,
            };
            assert_eq!(client.reply().await, "220 test-smtp ready\r\n");
            client
        }

        /// A whole reply, every line of a multiline one.
        async fn reply(&mut self) -> String {
            let mut all = String::new();
            loop {
                let mut line = String::new();
                assert!(
                    self.reader.read_line(&mut line).await.unwrap() > 0,
                    "closed after {all:?}"
                );
                all.push_str(&line);
                if line.as_bytes().get(3) != Some(&b'-') {
                    return all;
                }
            }
        }

        async fn send(&mut self, text: &str) -> String {
            self.writer.write_all(text.as_bytes()).await.unwrap();
            self.reply().await
        }
    }

    const WITHIN: Duration = Duration::from_secs(5);

    #[tokio::test]
    async fn delivers_and_decodes_a_message() {
        let server = SmtpServer::start().await;
        assert_eq!(server.url(), format!("smtp://127.0.0.1:{}", server.port()));
        let mut c = Client::connect(server.port()).await;
        let ehlo = c.send("ehlo client.test\r\n").await;
        assert!(
            ehlo.starts_with("250-test-smtp\r\n") && ehlo.contains("250-8BITMIME\r\n"),
            "{ehlo}"
        );
        assert!(
            !ehlo.contains("STARTTLS") && !ehlo.contains("AUTH"),
            "{ehlo}"
        );
        assert!(c
            .send("MAIL FROM:<portal@example.org> BODY=8BITMIME SMTPUTF8\r\n")
            .await
            .starts_with("250"));
        assert!(c
            .send("RCPT TO:<Ada@Example.ORG>\r\n")
            .await
            .starts_with("250"));
        assert!(c.send("DATA\r\n").await.starts_with("354"));
        let data = "From: Portal <portal@example.org>\r\n\
            Subject: =?utf-8?b?QmVzdMOkdGlnZW4g?=\r\n =?utf-8?q?Sie_Ihre_Adresse_=E2=9C=93?=\r\n\
            Content-Type: text/plain; charset=utf-8\r\n\
            Content-Transfer-Encoding: quoted-printable\r\n\
            \r\n\
            Gr=C3=BC=C3=9Fe! Bitte best=C3=A4tigen:\r\n\
            https://portal.example.org/confirm?token=3Dab=\r\ncd.\r\n\
            ..Punkt am Anfang, <http://localhost:8080/x>\r\n\
            .\r\n";
        assert!(c.send(data).await.starts_with("250"));
        assert!(c.send("QUIT\r\n").await.starts_with("221"));

        let mail = server.wait_for_to("ada@example.org", WITHIN).await;
        assert_eq!(mail.from, "portal@example.org");
        assert_eq!(mail.to, ["Ada@Example.ORG"]);
        assert_eq!(mail.subject(), "Bestätigen Sie Ihre Adresse ✓");
        assert_eq!(mail.header("FROM").unwrap(), "Portal <portal@example.org>");
        assert_eq!(
            mail.text(),
            "Grüße! Bitte bestätigen:\nhttps://portal.example.org/confirm?token=abcd.\n\
             .Punkt am Anfang, <http://localhost:8080/x>\n"
        );
        assert_eq!(
            mail.links(),
            [
                "https://portal.example.org/confirm?token=abcd",
                "http://localhost:8080/x"
            ]
        );
        assert_eq!(
            mail.link_starting_with("http://localhost"),
            "http://localhost:8080/x"
        );
        assert_eq!(server.wait_for(1, WITHIN).await.len(), 1);
        assert_eq!(server.attempts(), 1);
    }

    #[test]
    fn reads_the_text_part_of_a_multipart_message_in_base64() {
        let text = base64::engine::general_purpose::STANDARD
            .encode("Hallo Jürgen,\r\nhttps://a.test/r?t=1\r\n");
        let (first, second) = text.split_at(12);
        let raw = format!(
            "Subject: plain\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative;\r\n boundary=\"b1\"\r\n\r\n\
             --b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n\
             {first}\r\n{second}\r\n--b1\r\nContent-Type: text/html\r\n\r\n<p>x</p>\r\n--b1--\r\n"
        );
        let mail = Mail {
            from: String::new(),
            to: vec![],
            raw,
        };
        assert_eq!(mail.subject(), "plain");
        assert_eq!(mail.text(), "Hallo Jürgen,\nhttps://a.test/r?t=1\n");
        assert_eq!(mail.links(), ["https://a.test/r?t=1"]);
    }

    #[tokio::test]
    async fn a_refused_message_is_counted_not_stored() {
        let server = SmtpServer::start().await;
        server.set_reply(Reply::PermFail);
        let mut c = Client::connect(server.port()).await;
        assert!(c.send("HELO client.test\r\n").await.starts_with("250"));
        let message = "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\nSubject: x\r\n\r\nbody\r\n.\r\n";
        c.writer.write_all(message.as_bytes()).await.unwrap();
        for expected in ["250", "250", "354", "554"] {
            let reply = c.reply().await;
            assert!(
                reply.starts_with(expected),
                "expected {expected}, got {reply}"
            );
        }
        assert_eq!((server.attempts(), server.messages().len()), (1, 0));

        server.set_reply(Reply::Accept);
        assert!(c.send("RSET\r\n").await.starts_with("250"));
        assert!(c.send("NOOP\r\n").await.starts_with("250"));
        assert!(c.send("VRFY b\r\n").await.starts_with("502"));
        assert!(c.send("DATA\r\n").await.starts_with("503"));
        c.writer.write_all(message.as_bytes()).await.unwrap();
        for expected in ["250", "250", "354", "250"] {
            let reply = c.reply().await;
            assert!(
                reply.starts_with(expected),
                "expected {expected}, got {reply}"
            );
        }
        assert_eq!(server.wait_for(1, WITHIN).await[0].text(), "body\n");
        assert_eq!(server.attempts(), 2);
    }

    #[tokio::test]
    async fn stop_refuses_connections_and_resume_accepts_on_the_same_port() {
        let server = SmtpServer::start().await;
        let port = server.port();
        let mut open = Client::connect(port).await;
        server.stop().await;
        assert!(
            TcpStream::connect(("127.0.0.1", port)).await.is_err(),
            "port {port} still open"
        );
        let mut rest = Vec::new();
        let closed = open.reader.read_to_end(&mut rest).await;
        assert!(
            matches!(closed, Ok(0) | Err(_)),
            "an open connection survived stop()"
        );

        server.resume().await;
        assert_eq!(server.port(), port);
        let mut c = Client::connect(port).await;
        assert!(c.send("QUIT\r\n").await.starts_with("221"));
    }
}
