//! The smallest HTTP/1.0 and 1.1 server a Prometheus scrape needs: one
//! connection at a time, one request per connection, `GET /metrics` only.
//!
//! It runs on a thread of its own, apart from the POP3 pool and MGMT, and
//! bounds what any client can cost it: the request head may be at most
//! [`MAX_REQUEST_HEAD`] octets and must arrive within [`REQUEST_DEADLINE`]
//! of the connection (so a client trickling bytes is cut off, not just one
//! that is silent), the reply must be taken within [`WRITE_TIMEOUT`], and
//! the body of a request is never read. A slow or hostile client can thus
//! delay the next scrape by a few seconds, and nothing else.
//!
//! Anything but `GET` (or `HEAD`) gets 405, any path but `/metrics` 404, a
//! request that is not HTTP 400, a head too long 431; every reply closes
//! the connection.

use std::io::{self, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::net::{self, is_timeout};

/// The most a request line and its headers may take. A scraper sends a few
/// hundred octets.
pub const MAX_REQUEST_HEAD: usize = 8192;
/// From accepting a connection to the end of its request head.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(2);
/// How long one write of the reply may stay blocked.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(2);

/// After the reply, what is left of a request (a body, the rest of a head
/// too large) is read and thrown away, for at most this long and this
/// much, so that closing does not reset the connection and destroy the
/// reply before the client has read it.
const LINGER: Duration = Duration::from_millis(500);
const MAX_LINGER_OCTETS: usize = 64 * 1024;

/// The one path served.
pub const METRICS_PATH: &str = "/metrics";

/// What a well-formed request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// The path, without any query string.
    pub path: String,
}

/// Why a request head is not one this server answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestError {
    /// Not an HTTP/1.x request line.
    Malformed,
    /// Longer than [`MAX_REQUEST_HEAD`].
    TooLarge,
}

/// The status line and the body of a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: &'static str,
    pub content_type: &'static str,
    pub body: String,
    /// `HEAD`: the headers of the reply without its body.
    pub head_only: bool,
}

impl Reply {
    fn text(status: &'static str, body: &str) -> Self {
        Self { status, content_type: "text/plain; charset=utf-8", body: format!("{body}\n"), head_only: false }
    }

    /// The reply to `request`, with `metrics` called for the body of a
    /// scrape only.
    pub fn for_request(request: Result<Request, RequestError>, metrics: impl FnOnce() -> String) -> Self {
        let request = match request {
            Ok(request) => request,
            Err(RequestError::Malformed) => return Reply::text("400 Bad Request", "bad request"),
            Err(RequestError::TooLarge) => {
                return Reply::text("431 Request Header Fields Too Large", "request head too large")
            }
        };
        let head_only = match request.method.as_str() {
            "GET" => false,
            "HEAD" => true,
            _ => return Reply::text("405 Method Not Allowed", "only GET is served"),
        };
        if request.path != METRICS_PATH {
            return Reply { head_only, ..Reply::text("404 Not Found", "not found; try /metrics") };
        }
        Reply { status: "200 OK", content_type: super::exposition::CONTENT_TYPE, body: metrics(), head_only }
    }

    /// The whole reply on the wire.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = format!(
            "HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n{}\r\n",
            self.status,
            self.content_type,
            self.body.len(),
            if self.status.starts_with("405") { "Allow: GET, HEAD\r\n" } else { "" },
        )
        .into_bytes();
        if !self.head_only {
            bytes.extend_from_slice(self.body.as_bytes());
        }
        bytes
    }
}

/// Reads the request line from a complete head (up to and including the
/// blank line); the headers themselves are not needed.
pub fn parse_request(head: &[u8]) -> Result<Request, RequestError> {
    let line_end = memchr::memchr(b'\n', head).ok_or(RequestError::Malformed)?;
    let line = std::str::from_utf8(&head[..line_end]).map_err(|_| RequestError::Malformed)?;
    let line = line.strip_suffix('\r').unwrap_or(line);
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(RequestError::Malformed);
    };
    let valid_method = !method.is_empty() && method.bytes().all(|b| b.is_ascii_uppercase());
    if !valid_method || !target.starts_with('/') || !matches!(version, "HTTP/1.0" | "HTTP/1.1") {
        return Err(RequestError::Malformed);
    }
    let path = target.split('?').next().unwrap_or(target);
    Ok(Request { method: method.to_owned(), path: path.to_owned() })
}

/// Where the head ends: the index after its blank line, if it has arrived.
fn head_end(received: &[u8]) -> Option<usize> {
    memchr::memmem::find(received, b"\r\n\r\n").map(|at| at + 4).or_else(|| {
        // Bare LF line ends, which RFC 9112 §2.2 lets a server accept.
        memchr::memmem::find(received, b"\n\n").map(|at| at + 2)
    })
}

/// Reads a request head from `stream`, within the limits above.
///
/// # Errors
/// I/O errors, including `TimedOut` past the deadline; a head too large
/// or malformed comes back as `Ok(Err(..))`, to be answered.
pub fn read_request(stream: &TcpStream) -> io::Result<Result<Request, RequestError>> {
    let deadline = Instant::now() + REQUEST_DEADLINE;
    let mut received = Vec::with_capacity(1024);
    let mut chunk = [0; 1024];
    loop {
        if let Some(end) = head_end(&received) {
            return Ok(parse_request(&received[..end]));
        }
        if received.len() >= MAX_REQUEST_HEAD {
            return Ok(Err(RequestError::TooLarge));
        }
        let wanted = chunk.len().min(MAX_REQUEST_HEAD - received.len());
        let read = net::read_before(stream, deadline, &mut chunk[..wanted])?;
        if read == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        received.extend_from_slice(&chunk[..read]);
    }
}

/// Answers one connection, then closes it.
pub fn answer(mut stream: TcpStream, metrics: impl FnOnce() -> String) {
    let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
    let peer = net::peer_name(&stream);
    let request = match read_request(&stream) {
        Ok(request) => request,
        Err(error) if is_timeout(&error) => {
            log::debug!("metrics: {peer} sent no complete request in time");
            return;
        }
        Err(error) => {
            log::debug!("metrics: {peer}: {error}");
            return;
        }
    };
    let reply = Reply::for_request(request, metrics);
    if let Err(error) = stream.write_all(&reply.to_bytes()) {
        log::debug!("metrics: cannot answer {peer}: {error}");
    }
    let _ = stream.shutdown(std::net::Shutdown::Write);
    discard_rest(&stream);
}

/// Reads what the client still sends, within [`LINGER`] and
/// [`MAX_LINGER_OCTETS`]: unread input would make the close a reset.
fn discard_rest(stream: &TcpStream) {
    let deadline = Instant::now() + LINGER;
    let mut left = MAX_LINGER_OCTETS;
    let mut sink = [0; 4096];
    while left > 0 {
        match net::read_before(stream, deadline, &mut sink) {
            Ok(0) | Err(_) => return,
            Ok(read) => left = left.saturating_sub(read),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply_to(head: &str) -> Reply {
        Reply::for_request(parse_request(head.as_bytes()), || "m 1\n".to_owned())
    }

    #[test]
    fn requests_get_the_reply_their_method_and_path_deserve() {
        let cases = [
            ("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", "200 OK", "m 1\n"),
            ("GET /metrics?x=1 HTTP/1.0\r\n\r\n", "200 OK", "m 1\n"),
            ("GET / HTTP/1.1\r\n\r\n", "404 Not Found", "not found; try /metrics\n"),
            ("GET /metrics/x HTTP/1.1\r\n\r\n", "404 Not Found", "not found; try /metrics\n"),
            ("POST /metrics HTTP/1.1\r\n\r\n", "405 Method Not Allowed", "only GET is served\n"),
            ("GET /metrics HTTP/2.0\r\n\r\n", "400 Bad Request", "bad request\n"),
            ("GET  /metrics HTTP/1.1\r\n\r\n", "400 Bad Request", "bad request\n"),
            ("get /metrics HTTP/1.1\r\n\r\n", "400 Bad Request", "bad request\n"),
            ("\u{1}\r\n\r\n", "400 Bad Request", "bad request\n"),
        ];
        for (head, status, body) in cases {
            let reply = reply_to(head);
            assert_eq!((reply.status, reply.body.as_str()), (status, body), "{head:?}");
        }
    }

    #[test]
    fn the_reply_says_its_length_and_closes() {
        let bytes = reply_to("GET /metrics HTTP/1.1\r\n\r\n").to_bytes();
        let text = String::from_utf8(bytes).unwrap();
        assert_eq!(
            text,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n\
             Content-Length: 4\r\nConnection: close\r\n\r\nm 1\n"
        );
        let head = String::from_utf8(reply_to("HEAD /metrics HTTP/1.1\r\n\r\n").to_bytes()).unwrap();
        assert!(head.ends_with("Content-Length: 4\r\nConnection: close\r\n\r\n"), "{head}");
        let refused = String::from_utf8(reply_to("PUT /metrics HTTP/1.1\r\n\r\n").to_bytes()).unwrap();
        assert!(refused.contains("\r\nAllow: GET, HEAD\r\n"), "{refused}");
    }

    #[test]
    fn a_head_ends_at_its_blank_line() {
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nA: b\r\n\r\nbody"), Some(24));
        assert_eq!(head_end(b"GET / HTTP/1.1\nA: b\n\n"), Some(21));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nA: b\r\n"), None);
    }
}
