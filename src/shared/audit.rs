//! The log lines a ban tool reads: failed logins and limit hits, each one
//! line in a fixed `key=value` form, and each counted in [`Stats`].
//!
//! ```text
//! auth failed: service=pop3 rip=192.0.2.7 user="alice" reason=password
//! limit hit: service=pop3 rip=192.0.2.7 limit=auth-failures user="alice"
//! ```
//!
//! The fields come in a fixed order, and every field a client chooses
//! comes after `rip`, quoted: the user name is written with `"` and `\`
//! escaped and every byte outside printable ASCII as `\xNN` (or `\u{..}`),
//! so no name can end the line, close its quotes early, or put a second
//! `rip=` where a filter anchored at the start of the line would take it.
//! The password is never passed here.
//!
//! `contrib/fail2ban/filter.d/pop3d.conf` matches these lines; change the
//! two together.

use std::fmt::{self, Write as _};
use std::net::IpAddr;

use super::stats::{Limit, ListenerKind, LoginResult, Stats};

/// Why a login failed, as its `reason=` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// Unknown user or wrong password (the log does not say which, as the
    /// client is not told either).
    Password,
    /// AUTH PLAIN asked to act as another user.
    Proxy,
}

impl AuthFailure {
    fn name(self) -> &'static str {
        match self {
            AuthFailure::Password => "password",
            AuthFailure::Proxy => "proxy",
        }
    }
}

/// The client's address as `rip=` shows it: the bare IP, IPv4 clients of
/// a dual-stack socket as `a.b.c.d`, and `unknown` when it is not known.
pub struct RemoteIp(pub Option<IpAddr>);

impl fmt::Display for RemoteIp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(ip) => ip.to_canonical().fmt(f),
            None => f.write_str("unknown"),
        }
    }
}

/// A user name as a client typed it, quoted and escaped (see the module
/// documentation).
pub struct QuotedName<'a>(pub &'a str);

impl fmt::Display for QuotedName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_char('"')?;
        for c in self.0.chars() {
            match c {
                '"' => f.write_str("\\\"")?,
                '\\' => f.write_str("\\\\")?,
                ' '..='~' => f.write_char(c)?,
                c if c.is_ascii() => write!(f, "\\x{:02x}", c as u32)?,
                c => write!(f, "\\u{{{:x}}}", c as u32)?,
            }
        }
        f.write_char('"')
    }
}

/// The `auth failed:` line, without logging it.
pub fn auth_failed_line(service: ListenerKind, ip: Option<IpAddr>, user: &str, reason: AuthFailure) -> String {
    format!("auth failed: service={service} rip={} user={} reason={}", RemoteIp(ip), QuotedName(user), reason.name())
}

/// The `limit hit:` line, without logging it.
pub fn limit_hit_line(service: ListenerKind, ip: Option<IpAddr>, limit: Limit, user: Option<&str>) -> String {
    let mut line = format!("limit hit: service={service} rip={} limit={limit}", RemoteIp(ip));
    if let Some(user) = user {
        let _ = write!(line, " user={}", QuotedName(user));
    }
    line
}

/// Logs and counts a failed login on `service` (POP3, POP3S or MGMT).
pub fn auth_failed(stats: &Stats, service: ListenerKind, ip: Option<IpAddr>, user: &str, reason: AuthFailure) {
    let logins = if service == ListenerKind::Mgmt { &stats.mgmt_logins } else { &stats.pop3_logins };
    logins.increment(LoginResult::Failure);
    log::warn!("{}", auth_failed_line(service, ip, user, reason));
}

/// Logs and counts a client running into `limit`; `user` is the name
/// logged in, or being logged in, if any.
pub fn limit_hit(stats: &Stats, service: ListenerKind, ip: Option<IpAddr>, limit: Limit, user: Option<&str>) {
    stats.limit_hits.increment(limit);
    log::warn!("{}", limit_hit_line(service, ip, limit, user));
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLIENT: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 7)));

    #[test]
    fn lines_have_the_documented_form() {
        assert_eq!(
            auth_failed_line(ListenerKind::Pop3, CLIENT, "alice", AuthFailure::Password),
            r#"auth failed: service=pop3 rip=192.0.2.7 user="alice" reason=password"#
        );
        assert_eq!(
            limit_hit_line(ListenerKind::Mgmt, None, Limit::AuthFailures, Some("admin")),
            r#"limit hit: service=mgmt rip=unknown limit=auth-failures user="admin""#
        );
        assert_eq!(
            limit_hit_line(ListenerKind::Pop3s, CLIENT, Limit::PerAddress, None),
            "limit hit: service=pop3s rip=192.0.2.7 limit=per-address"
        );
        let mapped = Some(IpAddr::V6(std::net::Ipv4Addr::new(192, 0, 2, 7).to_ipv6_mapped()));
        assert!(limit_hit_line(ListenerKind::Pop3, mapped, Limit::Connections, None).contains(" rip=192.0.2.7 "));
    }

    /// A hostile name stays inside its quotes, on its line.
    #[test]
    fn a_user_name_cannot_forge_fields_or_lines() {
        let cases = [
            (r#"x" rip=10.0.0.1 reason="#, r#""x\" rip=10.0.0.1 reason=""#),
            ("a\r\nauth failed: rip=10.0.0.1", r#""a\x0d\x0aauth failed: rip=10.0.0.1""#),
            (r"back\slash", r#""back\\slash""#),
            ("\u{1b}[2Jé\u{2028}", r#""\x1b[2J\u{e9}\u{2028}""#),
        ];
        for (name, quoted) in cases {
            assert_eq!(QuotedName(name).to_string(), quoted, "{name:?}");
            let line = auth_failed_line(ListenerKind::Pop3, CLIENT, name, AuthFailure::Password);
            assert!(line.chars().all(|c| (' '..='~').contains(&c)), "{line:?}");
            assert_eq!(line.matches(" rip=").count(), 1 + name.matches(" rip=").count());
            assert!(line.starts_with("auth failed: service=pop3 rip=192.0.2.7 user=\""), "{line}");
        }
    }
}
