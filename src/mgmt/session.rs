//! One admin's progress through MGMT: the AUTH state, then the ACTIVE
//! state, and the one place a command is dispatched.
//!
//! [`MgmtSession`] turns each framed line into replies written to any
//! `Write`; it never sees the socket (that is [`super::connection`]).
//! Logging in is its own business, since it changes the state and counts
//! failures; every other command goes to a handler in
//! [`super::handlers`]. Every refusal becomes one `-ERR` line, and the
//! connection stays open except after [`MAX_LOGIN_FAILURES`] failed logins
//! or when it has no slot to go on with (see [`super::slots`]): a session
//! logging in holds a login slot, and trades it for an admin slot only when
//! the password is right.

use std::io::{self, Write};

use super::command;
use super::error::MgmtError;
use super::handlers::{queries, settings, users, MgmtRequest};
use super::slots::{AdminSlot, LoginSlot};
use super::verbs::{MgmtCommand, MgmtVerb};
use super::{Context, MAX_ADMIN_SESSIONS};
use crate::accounts::users::Password;
use crate::wire::line::LineRead;
use crate::wire::reply::{self, Failure};

/// After this many failed logins the connection is closed.
pub const MAX_LOGIN_FAILURES: u32 = 3;

/// What the connection loop does after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MgmtFlow {
    Continue,
    Close,
}

/// Where an admin is in the protocol, and the slot that goes with it.
#[derive(Debug)]
pub enum MgmtState<'a> {
    /// Not logged in: only logging in, the capability list and quitting work.
    Auth {
        /// The name given, waiting for its password.
        user: Option<String>,
        failures: u32,
        /// This connection's place among those logging in.
        slot: LoginSlot<'a>,
    },
    /// Logged in as the admin: every command but the two of logging in works.
    Active {
        /// Held until the connection ends; nobody can take it away.
        slot: AdminSlot<'a>,
    },
}

/// One admin connection's state, apart from its socket.
pub struct MgmtSession<'a> {
    context: &'a Context,
    /// For log lines only.
    peer: String,
    state: MgmtState<'a>,
}

impl<'a> MgmtSession<'a> {
    /// A session not yet logged in, on the login `slot` its connection got.
    pub fn new(context: &'a Context, peer: String, slot: LoginSlot<'a>) -> Self {
        Self { context, peer, state: MgmtState::Auth { user: None, failures: 0, slot } }
    }

    pub fn is_authenticated(&self) -> bool {
        matches!(self.state, MgmtState::Active { .. })
    }

    /// True if a newer connection took this session's login slot; the
    /// connection must then say so and close.
    pub fn lost_login_slot(&self) -> bool {
        matches!(&self.state, MgmtState::Auth { slot, .. } if slot.is_displaced())
    }

    /// Where the admin connected from, for the connection's log lines.
    pub fn peer(&self) -> &str {
        &self.peer
    }

    /// Answers one framed line (or the news that it was too long).
    ///
    /// # Errors
    /// Only I/O errors from `out`; every protocol problem becomes `-ERR`.
    pub fn handle(&mut self, read: &LineRead, line: &[u8], out: &mut impl Write) -> io::Result<MgmtFlow> {
        let result = match read {
            LineRead::Line => {
                command::parse(line).map_err(MgmtError::from).and_then(|command| self.dispatch(command, out))
            }
            _ => Err(MgmtError::LineTooLong),
        };
        match result {
            Ok(flow) => Ok(flow),
            Err(MgmtError::Io(error)) => Err(error),
            Err(error) => {
                Failure::new(error.to_string()).write_to(out)?;
                Ok(self.after_failure(&error))
            }
        }
    }

    /// Closes the connection once too many logins have failed, or when
    /// `error` leaves it without a slot.
    fn after_failure(&self, error: &MgmtError) -> MgmtFlow {
        if error.ends_connection() {
            return MgmtFlow::Close;
        }
        match self.state {
            MgmtState::Auth { failures, .. } if failures >= MAX_LOGIN_FAILURES => {
                log::warn!("MGMT {}: {failures} failed logins, closing", self.peer);
                MgmtFlow::Close
            }
            _ => MgmtFlow::Continue,
        }
    }

    /// Runs one command: the only place that decides who handles what.
    fn dispatch(&mut self, command: MgmtCommand, out: &mut impl Write) -> Result<MgmtFlow, MgmtError> {
        let verb = command.verb();
        let request = MgmtRequest { context: self.context, peer: &self.peer, verb };
        match command {
            MgmtCommand::Quit {} => {
                reply::ok(out, "GOODBYE")?;
                return Ok(MgmtFlow::Close);
            }
            MgmtCommand::User { name } => self.expect_password(name, verb, out)?,
            MgmtCommand::Pass { password } => self.log_in(&password, verb, out)?,
            MgmtCommand::Capa {} => queries::capa(&request, out)?,
            _ if !self.is_authenticated() => return Err(MgmtError::NotAuthenticated),
            MgmtCommand::Noop {} => queries::noop(&request, out)?,
            MgmtCommand::HistoricConnec {} => queries::historic_connec(&request, out)?,
            MgmtCommand::LiveConnec {} => queries::live_connec(&request, out)?,
            MgmtCommand::BytesTrans {} => queries::bytes_trans(&request, out)?,
            MgmtCommand::Users {} => queries::users(&request, out)?,
            MgmtCommand::Status {} => queries::status(&request, out)?,
            MgmtCommand::MaxConnec { connections } => settings::max_connec(&request, connections, out)?,
            MgmtCommand::MaxUsers { users } => settings::max_users(&request, users, out)?,
            MgmtCommand::Timeout { seconds } => settings::pause_pop3(&request, seconds, out)?,
            MgmtCommand::DeleteUser { name } => users::delete_user(&request, &name, out)?,
            MgmtCommand::AddUser { name, password } => users::add_user(&request, name, &password, out)?,
            MgmtCommand::ResetUserPassword { name } => users::reset_user_password(&request, &name, out)?,
            MgmtCommand::ChangePassword { old, new } => users::change_password(&request, &old, &new, out)?,
        }
        Ok(MgmtFlow::Continue)
    }

    /// Remembers the name for the password that must follow.
    fn expect_password(&mut self, name: String, verb: MgmtVerb, out: &mut impl Write) -> Result<(), MgmtError> {
        let MgmtState::Auth { user, .. } = &mut self.state else {
            return Err(MgmtError::AlreadyAuthenticated);
        };
        // Any name is accepted here, so a wrong name and a wrong password
        // look the same: the refusal comes after the password.
        *user = Some(name);
        Ok(reply::ok(out, verb)?)
    }

    /// Checks the name and password; a failure is counted and answered
    /// late, on this admin's thread only, to slow down password guessing.
    ///
    /// While every admin slot is taken, the login is refused before the
    /// password is even looked at, so the refusal says nothing about it.
    fn log_in(&mut self, password: &Password, verb: MgmtVerb, out: &mut impl Write) -> Result<(), MgmtError> {
        let MgmtState::Auth { user, failures, slot } = &mut self.state else {
            return Err(MgmtError::AlreadyAuthenticated);
        };
        let name = user.take().ok_or(MgmtError::UserFirst)?;
        if self.context.slots.admins_full() {
            log::warn!("MGMT refused {} at login: {MAX_ADMIN_SESSIONS} admin sessions already open", self.peer);
            return Err(MgmtError::TooManyAdmins);
        }
        if !self.context.shared.users.authenticate_admin(&name, password.expose()) {
            *failures += 1;
            log::warn!("MGMT {}: failed login", self.peer);
            out.flush()?;
            std::thread::sleep(self.context.login_delay);
            return Err(MgmtError::AuthenticationFailed);
        }
        // Fails only if the slot was lost, or the last admin slot taken,
        // while the password was being checked.
        let admin_slot = slot.log_in()?;
        self.state = MgmtState::Active { slot: admin_slot };
        log::info!("MGMT {}: admin logged in", self.peer);
        Ok(reply::ok(out, verb)?)
    }
}

#[cfg(test)]
mod tests {
    use std::net::{TcpListener, TcpStream};
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::accounts::users::{Credentials, UserTable};
    use crate::mgmt::slots::MgmtSlots;
    use crate::mgmt::MAX_WAITING_LOGINS;
    use crate::net::tls::PlaintextAuth;
    use crate::shared::connections::ConnectionLimit;
    use crate::shared::limits::SessionLimits;
    use crate::shared::Shared;

    fn context() -> Context {
        let users =
            UserTable::new(Credentials::parse("admin:secret").unwrap(), [Credentials::parse("alice:pw").unwrap()], 10);
        let shared = Shared::new(
            "/nonexistent".into(),
            users,
            ConnectionLimit::new(5, 50, None),
            SessionLimits::default(),
            4096,
            None,
            PlaintextAuth::LoopbackOnly,
        );
        Context {
            shared: Arc::new(shared),
            users_file: parking_lot::Mutex::new(None),
            login_delay: Duration::ZERO,
            tls: None,
            login_timeout: crate::mgmt::LOGIN_TIMEOUT,
            slots: MgmtSlots::default(),
        }
    }

    /// A session as a new connection starts it: on a login slot, which
    /// keeps a handle on a real loopback socket to wake it if displaced.
    fn new_session(context: &Context) -> MgmtSession<'_> {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let _client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        MgmtSession::new(context, "test".into(), context.slots.enter(&Arc::new(server), "test"))
    }

    /// Feeds `lines` to a session and returns everything it wrote.
    fn replies_to(session: &mut MgmtSession<'_>, lines: &[&str]) -> String {
        let mut out = Vec::new();
        for line in lines {
            session.handle(&LineRead::Line, line.as_bytes(), &mut out).unwrap();
        }
        String::from_utf8(out).unwrap()
    }

    fn logged_in(context: &Context) -> MgmtSession<'_> {
        let mut session = new_session(context);
        assert_eq!(replies_to(&mut session, &["USER admin", "PASS secret"]), "+OK USER\r\n+OK PASS\r\n");
        session
    }

    #[test]
    fn wrong_name_and_wrong_password_get_the_same_reply() {
        let context = context();
        let mut session = new_session(&context);
        let wrong_name = replies_to(&mut session, &["USER alice", "PASS pw"]);
        let wrong_password = replies_to(&mut session, &["USER admin", "PASS nope"]);
        assert_eq!(wrong_name, wrong_password);
        assert_eq!(wrong_name, "+OK USER\r\n-ERR AUTHENTICATION FAILED\r\n");
        let mut out = Vec::new();
        session.handle(&LineRead::Line, b"USER admin", &mut out).unwrap();
        assert_eq!(session.handle(&LineRead::Line, b"PASS again", &mut out).unwrap(), MgmtFlow::Close);
    }

    #[test]
    fn a_login_without_a_slot_is_refused_and_closes_the_connection() {
        let context = context();
        let admins: Vec<_> = (0..MAX_ADMIN_SESSIONS).map(|_| logged_in(&context)).collect();
        let mut late = new_session(&context);
        let mut out = Vec::new();
        late.handle(&LineRead::Line, b"USER admin", &mut out).unwrap();
        // Refused before the password is looked at: a wrong one gets the
        // same reply, and no failed login is counted or logged.
        assert_eq!(late.handle(&LineRead::Line, b"PASS wrong", &mut out).unwrap(), MgmtFlow::Close);
        assert_eq!(String::from_utf8(out).unwrap(), "+OK USER\r\n-ERR [SYS/TEMP] TOO MANY ADMIN SESSIONS\r\n");
        drop(admins);

        let mut displaced = new_session(&context);
        let newcomers: Vec<_> = (0..MAX_WAITING_LOGINS).map(|_| new_session(&context)).collect();
        assert!(displaced.lost_login_slot() && !newcomers.iter().any(MgmtSession::lost_login_slot));
        let mut out = Vec::new();
        displaced.handle(&LineRead::Line, b"USER admin", &mut out).unwrap();
        assert_eq!(displaced.handle(&LineRead::Line, b"PASS secret", &mut out).unwrap(), MgmtFlow::Close);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "+OK USER\r\n-ERR [SYS/TEMP] LOGIN SLOT TAKEN BY A NEWER CONNECTION\r\n"
        );
        assert!(!displaced.is_authenticated());
    }

    #[test]
    fn only_auth_verbs_work_before_login() {
        let context = context();
        let mut session = new_session(&context);
        assert_eq!(replies_to(&mut session, &["STATUS"]), "-ERR NOT AUTHENTICATED: USER AND PASS FIRST\r\n");
        assert_eq!(replies_to(&mut session, &["PASS x"]), "-ERR SEND USER FIRST\r\n");
        assert!(replies_to(&mut session, &["CAPA"]).starts_with("+OK CAPA\r\nUSER <name>\r\n"));
        assert!(!session.is_authenticated());
    }

    #[test]
    fn queries_answer_with_key_value_data() {
        let context = context();
        let mut session = logged_in(&context);
        let cases = [
            ("HISTORIC_CONNEC", "+OK HISTORIC_CONNEC\r\nHISTORIC CONNECTIONS: 0\r\n.\r\n"),
            ("live_connec", "+OK LIVE_CONNEC\r\nLIVE CONNECTIONS: 0\r\n.\r\n"),
            ("BYTES_TRANS", "+OK BYTES_TRANS\r\nBYTES SENT: 0\r\nBYTES RECEIVED: 0\r\n.\r\n"),
            ("USERS", "+OK USERS\r\nUSER COUNT: 2\r\nUSER LIST:\r\nadmin\r\nalice\r\n.\r\n"),
        ];
        for (command, expected) in cases {
            assert_eq!(replies_to(&mut session, &[command]), expected, "{command}");
        }
        let status = replies_to(&mut session, &["STATUS"]);
        for key in [
            "TOTAL USERS: 2",
            "MAX USERS: 10",
            "MAX CONNECTIONS: 5",
            "IDLE TIMEOUT: 600",
            "UPTIME: ",
            "USER COUNT: 2\r\nUSER LIST:\r\nadmin\r\nalice\r\n.\r\n",
        ] {
            assert!(status.contains(key), "{status}");
        }
        assert_eq!(replies_to(&mut session, &["USER admin"]), "-ERR ALREADY AUTHENTICATED\r\n");
    }

    #[test]
    fn changes_apply_or_say_why_not() {
        let context = context();
        let mut session = logged_in(&context);
        let cases = [
            ("MAX_CONNEC 0", "-ERR MAX CONNECTIONS MUST BE 1-50"),
            ("MAX_CONNEC 51", "-ERR MAX CONNECTIONS MUST BE 1-50"),
            ("MAX_CONNEC 50", "+OK MAX_CONNEC CHANGED"),
            ("MAX_USERS 1", "-ERR MAX USERS BELOW CURRENT USER COUNT"),
            ("MAX_USERS 3", "+OK MAX_USERS CHANGED SUCCESSFULLY"),
            ("ADD_USER bob bpw", "+OK ADD_USER USER ADDED SUCCESSFULLY"),
            ("ADD_USER bob bpw", "-ERR USER ALREADY EXISTS"),
            ("ADD_USER carol cpw", "-ERR MAX USERS REACHED"),
            ("DELETE_USER admin", "-ERR ADMIN CANNOT BE DELETED"),
            ("DELETE_USER ghost", "-ERR USER NOT FOUND"),
            ("RESET_USER_PASSWORD bob", "+OK RESET_USER_PASSWORD PASSWORD RESET SUCCESSFULLY"),
            ("CHANGE_PASSWORD wrong new", "-ERR OLD PASSWORD DOES NOT MATCH"),
            ("CHANGE_PASSWORD secret new", "+OK CHANGE_PASSWORD PASSWORD CHANGED SUCCESSFULLY"),
            ("TIMEOUT 0", "-ERR TIMEOUT MUST BE 1-3600 SECONDS"),
            ("TIMEOUT 3601", "-ERR TIMEOUT MUST BE 1-3600 SECONDS"),
            ("DELETE_USER bob", "+OK DELETE_USER USER DELETED SUCCESSFULLY"),
        ];
        for (command, expected) in cases {
            assert_eq!(replies_to(&mut session, &[command]), format!("{expected}\r\n"), "{command}");
        }
        let users = &context.shared.users;
        assert_eq!(context.shared.connections.max(), 50);
        assert!(users.authenticate_admin("admin", "new"));
        assert!(users.authenticate("bob", "bpw").is_none());
    }

    #[test]
    fn a_long_line_and_a_bad_line_do_not_end_the_session() {
        let context = context();
        let mut session = logged_in(&context);
        let mut out = Vec::new();
        assert_eq!(session.handle(&LineRead::TooLong, b"", &mut out).unwrap(), MgmtFlow::Continue);
        assert_eq!(session.handle(&LineRead::Line, b"\xff\xfe", &mut out).unwrap(), MgmtFlow::Continue);
        assert_eq!(session.handle(&LineRead::Line, b"NOOP", &mut out).unwrap(), MgmtFlow::Continue);
        assert_eq!(session.handle(&LineRead::Line, b"quit", &mut out).unwrap(), MgmtFlow::Close);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "-ERR LINE TOO LONG (OVER 255 OCTETS)\r\n-ERR COMMAND IS NOT UTF-8\r\n+OK NOOP\r\n+OK GOODBYE\r\n"
        );
    }

    /// The table's reply shape is what the handlers write: a client that
    /// trusts `has_data` reads exactly one reply.
    #[test]
    fn every_verb_replies_in_the_shape_the_table_gives() {
        let context = context();
        for &verb in MgmtVerb::ALL {
            let mut session = logged_in(&context);
            let args: Vec<&str> = verb.arguments().iter().map(|_| "1").collect();
            let line = std::iter::once(verb.name()).chain(args).collect::<Vec<_>>().join(" ");
            let reply = replies_to(&mut session, &[&line]);
            if !reply.starts_with("+OK") {
                continue;
            }
            let data = reply.lines().count() > 1;
            assert_eq!(data, verb.has_data(), "{line}: {reply}");
            assert_eq!(data, reply.ends_with("\r\n.\r\n"), "{line}: {reply}");
        }
    }
}
