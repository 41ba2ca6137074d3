//! `--mail-location`: where each user's Maildir is, written as Dovecot's
//! `mail_location` is, so a sysadmin can paste it from `dovecot.conf`.
//!
//! A template is a path with variables: `%u` (the whole user name), `%n`
//! (the part before `@`, or the whole name without one), `%d` (the part
//! after `@`), `%h` (the home field of the user's passwd-file line) and
//! `%%` (a percent sign); Dovecot's long names `%{user}`, `%{username}`,
//! `%{domain}` and `%{home}` mean the same. Dovecot's `maildir:` prefix
//! is accepted and dropped, and a leading `~` is the home, as in
//! `maildir:~/Maildir`. `-d DIR` is the template `DIR/%u`.
//!
//! A template can never lead a user outside its root: the fixed text
//! before the first variable, or the home when the template starts with
//! it. That is why `%h` (or `~`) may only start a template, why the home
//! must be an absolute path with no `.` or `..` component, and why every
//! other variable must expand to something non-empty with no `/`, no `..`
//! and no leading `.`. A user for whom that fails (no domain for `%d`, no
//! home for `%h`) gets an [`ExpandError`]: that user cannot log in, and
//! nobody else is affected. Dovecot's other `mail_location` parameters
//! (`:INDEX=`, `:LAYOUT=`, ...) and other storage formats are refused when
//! the template is parsed, since pop3d would not honour them.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::accounts::users::UserName;

/// A parsed `--mail-location`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailLocation {
    /// As given, for messages.
    text: String,
    pieces: Vec<Piece>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(String),
    Variable(Variable),
}

/// The values a template can take from a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variable {
    /// `%u`: the whole name.
    User,
    /// `%n`: the name before `@`.
    Name,
    /// `%d`: the domain after `@`.
    Domain,
    /// `%h` or a leading `~`: the home field of the users file.
    Home,
}

impl Variable {
    fn from_letter(letter: char) -> Option<Self> {
        match letter {
            'u' => Some(Variable::User),
            'n' => Some(Variable::Name),
            'd' => Some(Variable::Domain),
            'h' => Some(Variable::Home),
            _ => None,
        }
    }

    fn from_long_name(name: &str) -> Option<Self> {
        match name {
            "user" => Some(Variable::User),
            "username" => Some(Variable::Name),
            "domain" => Some(Variable::Domain),
            "home" => Some(Variable::Home),
            _ => None,
        }
    }

    fn as_directive(self) -> &'static str {
        match self {
            Variable::User => "%u",
            Variable::Name => "%n",
            Variable::Domain => "%d",
            Variable::Home => "%h",
        }
    }
}

/// Why a template was refused at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateError {
    Empty,
    /// A storage format other than `maildir:`.
    NotMaildir(String),
    /// A `:KEY=value` parameter after the path.
    Parameter(String),
    /// `%` followed by something that is not a known variable.
    UnknownVariable(String),
    /// `%h` or `~` anywhere but at the start.
    HomeNotFirst,
    /// A template with no variable gives every user the same Maildir.
    NoVariable,
    /// `~name/...`: another user's home.
    TildeUser,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TemplateError::Empty => f.write_str("it is empty"),
            TemplateError::NotMaildir(format) => write!(f, "pop3d serves Maildirs only, not {format}:"),
            TemplateError::Parameter(parameter) => {
                write!(f, "the parameter :{parameter} is not supported (give the Maildir path only)")
            }
            TemplateError::UnknownVariable(variable) => {
                write!(f, "unknown variable {variable} (use %u, %n, %d, %h or %%)")
            }
            TemplateError::HomeNotFirst => f.write_str("%h and ~ may only start the location"),
            TemplateError::NoVariable => f.write_str("it names no variable, so every user would share one Maildir"),
            TemplateError::TildeUser => f.write_str("~ must be followed by / (each user's own home)"),
        }
    }
}

impl std::error::Error for TemplateError {}

/// Why one user's location could not be expanded: that user cannot log in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExpandError {
    /// The variable's value is empty (`%d` of a name without `@`).
    Missing(Variable),
    /// The value could lead outside the root: a `/`, `..` or leading `.`.
    Unsafe(Variable),
    /// `%h` for a user whose line gives no home.
    NoHome,
    /// A home that is relative or has a `.` or `..` component.
    BadHome,
}

impl fmt::Display for ExpandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExpandError::Missing(variable) => write!(f, "{} is empty for this user", variable.as_directive()),
            ExpandError::Unsafe(variable) => {
                write!(f, "{} would contain '/', '..' or a leading '.'", variable.as_directive())
            }
            ExpandError::NoHome => f.write_str("the users file gives no home for %h"),
            ExpandError::BadHome => f.write_str("the home is not an absolute path without '.' and '..'"),
        }
    }
}

impl std::error::Error for ExpandError {}

impl MailLocation {
    /// `DIR/%u`, what `-d DIR` means.
    pub fn under(dir: &Path) -> Self {
        let mut root = dir.to_string_lossy().into_owned();
        if !root.ends_with('/') {
            root.push('/');
        }
        Self {
            text: format!("{}%u", root.replace('%', "%%")),
            pieces: vec![Piece::Literal(root), Piece::Variable(Variable::User)],
        }
    }

    /// Parses a template, with or without Dovecot's `maildir:` prefix.
    ///
    /// # Errors
    /// What is wrong with it, naming the part at fault.
    pub fn parse(text: &str) -> Result<Self, TemplateError> {
        let path = strip_format(text)?;
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut rest = path;
        if let Some(after) = rest.strip_prefix('~') {
            // `~/...` is the user's own home; `~name` is nobody's here.
            if !(after.is_empty() || after.starts_with('/')) {
                return Err(TemplateError::TildeUser);
            }
            pieces.push(Piece::Variable(Variable::Home));
            rest = after;
        }
        while let Some(at) = rest.find('%') {
            literal.push_str(&rest[..at]);
            let directive = &rest[at + 1..];
            let (variable, used) = if let Some(long) = directive.strip_prefix('{') {
                let end = long.find('}').ok_or_else(|| TemplateError::UnknownVariable(format!("%{directive}")))?;
                let name = &long[..end];
                let variable = Variable::from_long_name(name)
                    .ok_or_else(|| TemplateError::UnknownVariable(format!("%{{{name}}}")))?;
                (variable, end + 2)
            } else {
                let letter = directive.chars().next().ok_or_else(|| TemplateError::UnknownVariable("%".into()))?;
                if letter == '%' {
                    literal.push('%');
                    rest = &directive[1..];
                    continue;
                }
                let variable = Variable::from_letter(letter)
                    .ok_or_else(|| TemplateError::UnknownVariable(format!("%{letter}")))?;
                (variable, letter.len_utf8())
            };
            if variable == Variable::Home && (!pieces.is_empty() || !literal.is_empty()) {
                return Err(TemplateError::HomeNotFirst);
            }
            if !literal.is_empty() {
                pieces.push(Piece::Literal(std::mem::take(&mut literal)));
            }
            pieces.push(Piece::Variable(variable));
            rest = &directive[used..];
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            pieces.push(Piece::Literal(literal));
        }
        if !pieces.iter().any(|piece| matches!(piece, Piece::Variable(_))) {
            return Err(TemplateError::NoVariable);
        }
        Ok(Self { text: text.to_owned(), pieces })
    }

    /// The template as given.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The directory every user's Maildir lies under: the template's text
    /// before the last `/` ahead of its first variable (`/var/vmail` for
    /// `/var/vmail/%d/%n`). `None` when the template starts with the home.
    pub fn root(&self) -> Option<PathBuf> {
        match self.pieces.first()? {
            Piece::Variable(Variable::Home) => None,
            Piece::Variable(_) => Some(PathBuf::from(".")),
            Piece::Literal(first) => Some(PathBuf::from(match first.rfind('/') {
                Some(0) => "/",
                Some(slash) => &first[..slash],
                None => ".",
            })),
        }
    }

    /// True if some user's location needs the home field.
    pub fn uses_home(&self) -> bool {
        self.pieces.contains(&Piece::Variable(Variable::Home))
    }

    /// The Maildir of `user`, whose users-file line gave `home` (if any).
    ///
    /// # Errors
    /// Which variable could not be expanded safely for this user.
    pub fn expand(&self, user: &UserName, home: Option<&Path>) -> Result<PathBuf, ExpandError> {
        let name = user.as_str();
        let (local, domain) = name.split_once('@').unwrap_or((name, ""));
        let mut path = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Literal(text) => path.push_str(text),
                Piece::Variable(Variable::Home) => path.push_str(checked_home(home)?),
                Piece::Variable(variable) => {
                    let value = match variable {
                        Variable::User => name,
                        Variable::Name => local,
                        Variable::Domain => domain,
                        Variable::Home => unreachable!("handled above"),
                    };
                    path.push_str(checked_value(*variable, value)?);
                }
            }
        }
        Ok(PathBuf::from(path))
    }
}

impl fmt::Display for MailLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The path part of `maildir:PATH`, or of a bare path.
fn strip_format(text: &str) -> Result<&str, TemplateError> {
    let path = match text.split_once(':') {
        // A path may not itself hold a `:` then, as in Dovecot.
        Some(("maildir", path)) => path,
        Some((format, _)) if !format.is_empty() && format.bytes().all(|b| b.is_ascii_alphanumeric()) => {
            return Err(TemplateError::NotMaildir(format.to_owned()))
        }
        _ => text,
    };
    if let Some((_, parameter)) = path.split_once(':') {
        return Err(TemplateError::Parameter(parameter.to_owned()));
    }
    if path.is_empty() {
        return Err(TemplateError::Empty);
    }
    Ok(path)
}

/// `value` if it is one safe path component.
fn checked_value(variable: Variable, value: &str) -> Result<&str, ExpandError> {
    if value.is_empty() {
        return Err(ExpandError::Missing(variable));
    }
    if value.contains('/') || value.contains("..") || value.starts_with('.') || value.contains('\0') {
        return Err(ExpandError::Unsafe(variable));
    }
    Ok(value)
}

/// The home, if it is an absolute path made of plain components only.
fn checked_home(home: Option<&Path>) -> Result<&str, ExpandError> {
    let home = home.filter(|home| !home.as_os_str().is_empty()).ok_or(ExpandError::NoHome)?;
    // Checked as text: `Path::components` would quietly drop a `.`.
    let text = home.to_str().ok_or(ExpandError::BadHome)?;
    let plain = text.split('/').skip(1).all(|part| part != "." && part != "..");
    if text.starts_with('/') && plain && !text.contains('\0') {
        Ok(text.trim_end_matches('/'))
    } else {
        Err(ExpandError::BadHome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str) -> UserName {
        UserName::parse(name).unwrap()
    }

    fn expand(template: &str, name: &str, home: Option<&str>) -> Result<PathBuf, ExpandError> {
        MailLocation::parse(template).unwrap().expand(&user(name), home.map(Path::new))
    }

    #[test]
    fn the_root_is_the_text_before_the_first_variable() {
        let root = |template: &str| MailLocation::parse(template).unwrap().root();
        assert_eq!(root("maildir:/var/vmail/%d/%n"), Some(PathBuf::from("/var/vmail")));
        assert_eq!(root("/srv/mail/u-%u"), Some(PathBuf::from("/srv/mail")));
        assert_eq!(root("/%u"), Some(PathBuf::from("/")));
        assert_eq!(root("%u/Maildir"), Some(PathBuf::from(".")));
        assert_eq!(root("maildir:~/Maildir"), None);
        assert_eq!(MailLocation::under(Path::new("/m")).root(), Some(PathBuf::from("/m")));
    }

    #[test]
    fn variables_expand_as_in_dovecot() {
        let cases = [
            ("/var/vmail/%d/%n", "alice@example.org", "/var/vmail/example.org/alice"),
            ("maildir:/var/vmail/%d/%n", "alice@example.org", "/var/vmail/example.org/alice"),
            ("/srv/%u", "alice@example.org", "/srv/alice@example.org"),
            ("/srv/%n", "bob", "/srv/bob"),
            ("/srv/%{domain}/%{username}/Maildir", "a@b.c", "/srv/b.c/a/Maildir"),
            ("/srv/100%%/%{user}", "a", "/srv/100%/a"),
            ("~/Maildir", "a", "/home/a/Maildir"),
            ("maildir:~/Maildir", "a", "/home/a/Maildir"),
            ("maildir:%h/Maildir", "a", "/home/a/Maildir"),
            ("%h", "a", "/home/a"),
            ("mail/%n.box", "a", "mail/a.box"),
        ];
        for (template, name, expected) in cases {
            assert_eq!(expand(template, name, Some("/home/a/")), Ok(PathBuf::from(expected)), "{template}");
        }
        assert_eq!(MailLocation::under(Path::new("/var/mail")).expand(&user("x@y"), None), Ok("/var/mail/x@y".into()));
        assert_eq!(MailLocation::under(Path::new("m/")).expand(&user("x"), None), Ok("m/x".into()));
    }

    #[test]
    fn users_a_template_cannot_place_are_refused() {
        assert_eq!(expand("/v/%d/%n", "alice", None), Err(ExpandError::Missing(Variable::Domain)));
        assert_eq!(expand("~/Maildir", "alice", None), Err(ExpandError::NoHome));
        assert_eq!(expand("~/Maildir", "alice", Some("")), Err(ExpandError::NoHome));
        for home in ["relative/home", "/home/../etc", "/home/./a", "./x"] {
            assert_eq!(expand("%h/Maildir", "alice", Some(home)), Err(ExpandError::BadHome), "{home}");
        }
        // UserName already refuses such names; the template does not rely on it.
        for value in ["..", "../b", "b/../c", ".hidden", "a/b"] {
            assert_eq!(checked_value(Variable::Domain, value), Err(ExpandError::Unsafe(Variable::Domain)), "{value}");
        }
        assert_eq!(checked_value(Variable::Name, ""), Err(ExpandError::Missing(Variable::Name)));
        assert_eq!(expand("/v/%d/%n", "a.b@c.d", None), Ok("/v/c.d/a.b".into()), "inner dots are fine");
    }

    #[test]
    fn templates_dovecot_would_read_differently_are_refused() {
        let cases = [
            ("", TemplateError::Empty),
            ("maildir:", TemplateError::Empty),
            ("mbox:~/mail", TemplateError::NotMaildir("mbox".into())),
            ("sdbox:/v/%u", TemplateError::NotMaildir("sdbox".into())),
            ("maildir:~/Maildir:LAYOUT=fs", TemplateError::Parameter("LAYOUT=fs".into())),
            ("maildir:/v/%u:INDEX=/i/%u", TemplateError::Parameter("INDEX=/i/%u".into())),
            ("/v/%x", TemplateError::UnknownVariable("%x".into())),
            ("/v/%{uid}", TemplateError::UnknownVariable("%{uid}".into())),
            ("/v/%{user", TemplateError::UnknownVariable("%{user".into())),
            ("/v/%", TemplateError::UnknownVariable("%".into())),
            ("/v/%h", TemplateError::HomeNotFirst),
            ("/v/~/x", TemplateError::NoVariable),
            ("~/%h", TemplateError::HomeNotFirst),
            ("/var/mail/shared", TemplateError::NoVariable),
            ("~alice/Maildir", TemplateError::TildeUser),
        ];
        for (template, error) in cases {
            assert_eq!(MailLocation::parse(template), Err(error), "{template:?}");
        }
        assert!(MailLocation::parse("~/Maildir").unwrap().uses_home());
        assert!(!MailLocation::parse("/v/%u").unwrap().uses_home());
    }
}
