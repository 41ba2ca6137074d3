//! The `--config FILE` format: `key = value` lines whose keys are the long
//! option names, turned into the option arguments the command line would
//! have (`max-connections = 500` becomes `--max-connections=500`).
//!
//! Knowing nothing of the options themselves, it asks the getopts table
//! whether a key exists and whether it takes a value, so an option added
//! to the table is a valid key at once. A flag's value is `yes`/`no`
//! (`true`/`false`); `no` simply leaves the flag out. `#` starts a comment
//! only at the start of a line, so values (paths, formats) may hold one.
//! Pure: the caller reads the file and checks the values.

use std::fmt;

use getopts::{Fail, Options};

/// One `key = value` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// 1-based line number, for error messages.
    pub line: usize,
    pub key: String,
    pub value: String,
}

/// Why one line of the file cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineErrorKind {
    NotKeyValue,
    UnknownKey(String),
    /// A key that only makes sense on the command line (`config`, `help`).
    CommandLineOnly(String),
    Repeated {
        key: String,
        first_line: usize,
    },
    NoValue(String),
    NotYesNo {
        key: String,
        value: String,
    },
}

/// A [`LineErrorKind`] and the line it is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    pub line: usize,
    pub kind: LineErrorKind,
}

impl fmt::Display for LineErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LineErrorKind::NotKeyValue => f.write_str("expected 'key = value'"),
            LineErrorKind::UnknownKey(key) => write!(f, "unknown key '{key}'"),
            LineErrorKind::CommandLineOnly(key) => write!(f, "'{key}' can only be given on the command line"),
            LineErrorKind::Repeated { key, first_line } => write!(f, "'{key}' is already set on line {first_line}"),
            LineErrorKind::NoValue(key) => write!(f, "'{key}' needs a value"),
            LineErrorKind::NotYesNo { key, value } => write!(f, "'{key}': '{value}' is not yes, no, true or false"),
        }
    }
}

/// Keys that would make no sense in the file: they are actions, or the
/// file itself.
const COMMAND_LINE_ONLY: [&str; 4] = ["config", "help", "version", "hash-password"];

/// Splits `text` into entries; comments and blank lines are skipped.
///
/// # Errors
/// The first line that is not `key = value`, or a key set twice.
pub fn parse(text: &str) -> Result<Vec<Entry>, LineError> {
    let mut entries: Vec<Entry> = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let error = |kind| LineError { line, kind };
        let (key, value) = trimmed.split_once('=').ok_or(error(LineErrorKind::NotKeyValue))?;
        let (key, value) = (key.trim(), value.trim());
        if key.is_empty() {
            return Err(error(LineErrorKind::NotKeyValue));
        }
        if let Some(first) = entries.iter().find(|entry| entry.key == key) {
            return Err(error(LineErrorKind::Repeated { key: key.to_owned(), first_line: first.line }));
        }
        entries.push(Entry { line, key: key.to_owned(), value: value.to_owned() });
    }
    Ok(entries)
}

/// The option argument (`--key=value` or `--key`) an entry stands for, or
/// `None` for a flag set to `no`; `options` is the command line's table.
///
/// # Errors
/// A key the table does not know, or a value the key cannot take.
pub fn to_argument(entry: &Entry, options: &Options) -> Result<Option<String>, LineError> {
    let error = |kind| LineError { line: entry.line, kind };
    let key = &entry.key;
    // A short name, or anything getopts would read as more than one long
    // option name, is not a key.
    let well_formed = key.len() > 1 && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if !well_formed || key.starts_with('-') {
        return Err(error(LineErrorKind::UnknownKey(key.clone())));
    }
    if COMMAND_LINE_ONLY.contains(&key.as_str()) {
        return Err(error(LineErrorKind::CommandLineOnly(key.clone())));
    }
    // The table itself says whether the key exists and takes a value.
    match options.parse([format!("--{key}=x")]) {
        Ok(_) if entry.value.is_empty() => Err(error(LineErrorKind::NoValue(key.clone()))),
        Ok(_) => Ok(Some(format!("--{key}={}", entry.value))),
        Err(Fail::UnexpectedArgument(_)) => match entry.value.to_ascii_lowercase().as_str() {
            "yes" | "true" => Ok(Some(format!("--{key}"))),
            "no" | "false" => Ok(None),
            _ => Err(error(LineErrorKind::NotYesNo { key: key.clone(), value: entry.value.clone() })),
        },
        Err(_) => Err(error(LineErrorKind::UnknownKey(key.clone()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Options {
        let mut options = Options::new();
        options.optopt("c", "max-connections", "", "N").optflag("", "mgmt-tls", "").optflag("h", "help", "");
        options
    }

    fn entry(key: &str, value: &str) -> Entry {
        Entry { line: 3, key: key.into(), value: value.into() }
    }

    #[test]
    fn lines_comments_and_blanks() {
        let text = "# a comment\n\n  max-connections = 500 \nuidl-format=%08Xu#x\r\n   # indented comment\n";
        assert_eq!(
            parse(text).unwrap(),
            [
                Entry { line: 3, key: "max-connections".into(), value: "500".into() },
                Entry { line: 4, key: "uidl-format".into(), value: "%08Xu#x".into() },
            ]
        );
        assert_eq!(parse("").unwrap(), []);
    }

    #[test]
    fn malformed_lines_are_named() {
        assert_eq!(parse("a = 1\njunk\n").unwrap_err(), LineError { line: 2, kind: LineErrorKind::NotKeyValue });
        assert_eq!(parse(" = 1").unwrap_err(), LineError { line: 1, kind: LineErrorKind::NotKeyValue });
        assert_eq!(
            parse("a = 1\n\na = 2").unwrap_err(),
            LineError { line: 3, kind: LineErrorKind::Repeated { key: "a".into(), first_line: 1 } }
        );
    }

    #[test]
    fn keys_become_the_options_of_the_table() {
        let options = table();
        assert_eq!(to_argument(&entry("max-connections", "5"), &options).unwrap().unwrap(), "--max-connections=5");
        assert_eq!(to_argument(&entry("mgmt-tls", "Yes"), &options).unwrap().unwrap(), "--mgmt-tls");
        assert_eq!(to_argument(&entry("mgmt-tls", "true"), &options).unwrap().unwrap(), "--mgmt-tls");
        assert_eq!(to_argument(&entry("mgmt-tls", "no"), &options).unwrap(), None);
        assert_eq!(to_argument(&entry("mgmt-tls", "FALSE"), &options).unwrap(), None);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors() {
        let options = table();
        let kind = |key: &str, value: &str| to_argument(&entry(key, value), &options).unwrap_err().kind;
        for unknown in ["foo", "c", "--max-connections", "max-connections=1", "max connections", "x"] {
            assert_eq!(kind(unknown, "1"), LineErrorKind::UnknownKey(unknown.into()), "{unknown}");
        }
        assert_eq!(
            kind("mgmt-tls", "maybe"),
            LineErrorKind::NotYesNo { key: "mgmt-tls".into(), value: "maybe".into() }
        );
        assert_eq!(kind("max-connections", ""), LineErrorKind::NoValue("max-connections".into()));
        assert_eq!(kind("help", "yes"), LineErrorKind::CommandLineOnly("help".into()));
        assert_eq!(to_argument(&entry("mgmt-tls", "x"), &options).unwrap_err().line, 3);
    }
}
