//! Dovecot's `dovecot-uidlist`: the file in a Maildir's root that gives
//! each message its IMAP UID, and the mailbox its UIDVALIDITY, which
//! Dovecot's default `pop3_uidl_format` (`%08Xu%08Xv`) makes the POP3
//! unique-id of. pop3d reads it, and extends it as Dovecot does, so that
//! either server can serve a Maildir after the other under the same UIDLs.
//!
//! The format (version 3, src/lib-storage/index/maildir/maildir-uidlist.c):
//! a header line `3 V<uidvalidity> N<next uid> G<mailbox guid>[ <key><value>
//! ...]`, then one line per message in ascending UID order, `<uid>[
//! <key><value> ...] :<base name>`, where the base name is the file name up
//! to its `:` info suffix and the optional fields include `G` (the
//! message's GUID), `P` (a POP3 UIDL kept from a migration), `S` and `W`
//! (file size and size with CRLF line ends). Version 1 (`1 <uidvalidity>
//! <next uid>`, lines `<uid> <file name>`) is read too, and rewritten as
//! version 3 at the first change, as Dovecot does.
//!
//! New messages get the next UIDs in the order Dovecot gives them
//! ([`name::dovecot_order`]); they are appended to the file, or the file is
//! rewritten (to `dovecot-uidlist.tmp`, then renamed over it) when it must
//! be upgraded or repaired, or when a quarter of its lines name files that
//! are gone. Either happens only under Dovecot's lock
//! ([`super::uidlist_lock`]), which [`Uidlist::update`]'s caller holds.
//!
//! The file may be hostile like the rest of the Maildir: it is opened as a
//! message file is ([`regular_file`]), its size is bounded, and a file that
//! cannot be read as Dovecot reads it refuses the login with its line
//! number rather than being replaced: new UIDs for old mail would make every
//! client download all of it again.

use std::collections::HashMap;
use std::fmt;
use std::fs::{self, Metadata};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::name::{self, SizeFields};
use super::regular_file;
use super::uidl_format::{UidlFields, UidlFormat};

pub const UIDLIST_FILE_NAME: &str = "dovecot-uidlist";

/// Where a rewritten uidlist is written before it is renamed into place,
/// as Dovecot's `maildir_uidlist_recreate()` does.
const UIDLIST_TEMP_NAME: &str = "dovecot-uidlist.tmp";

/// The largest uidlist read: some 100 octets a message for millions of
/// messages. A larger one is not Dovecot's, and reading it whole would let
/// one file cost that much memory at every login.
const MAX_UIDLIST_SIZE: u64 = 256 << 20;

/// Dovecot's `UIDLIST_COMPRESS_PERCENTAGE`: the file is rewritten without
/// the lines of vanished files once they are a quarter of it.
const COMPRESS_PERCENTAGE: usize = 75;

/// The version pop3d writes.
const VERSION: u8 = 3;

/// A parsed `dovecot-uidlist`, with the UIDs given since it was read.
#[derive(Debug)]
pub struct Uidlist {
    version: u8,
    uid_validity: u32,
    /// The UID the next new message gets: the header's `N`, or one more
    /// than the highest UID listed if that is higher.
    next_uid: u32,
    /// The mailbox GUID (`G`), 32 hexadecimal digits.
    guid: Option<String>,
    /// Header fields pop3d has no use for, kept as they are.
    header_rest: Vec<Vec<u8>>,
    /// In ascending UID order.
    records: Vec<UidlistRecord>,
    /// Index in `records` by base name.
    by_base: HashMap<Vec<u8>, usize>,
    /// The records from this index on are not in the file yet.
    written: usize,
    /// False when the file must be rewritten rather than appended to: it
    /// does not exist, is an older version, has no mailbox GUID, ends in an
    /// unfinished line or held lines Dovecot would drop.
    appendable: bool,
}

/// One message's line.
#[derive(Debug, Clone, PartialEq, Eq)]
struct UidlistRecord {
    uid: u32,
    /// `<key><value>` fields, the key an upper-case letter.
    extensions: Vec<Vec<u8>>,
    base: Vec<u8>,
}

impl UidlistRecord {
    fn extension(&self, key: u8) -> Option<&[u8]> {
        self.extensions.iter().find(|field| field[0] == key).map(|field| &field[1..])
    }
}

/// A uidlist pop3d cannot read as Dovecot does.
#[derive(Debug)]
pub struct UidlistError {
    path: PathBuf,
    line: usize,
    reason: String,
}

impl fmt::Display for UidlistError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} line {}: {}", self.path.display(), self.line, self.reason)
    }
}

impl std::error::Error for UidlistError {}

impl Uidlist {
    /// Reads the uidlist at `path`; `None` when there is none yet (or it is
    /// empty, which holds no UIDs either).
    ///
    /// # Errors
    ///
    /// Any error opening or reading the file, or `InvalidData` wrapping a
    /// [`UidlistError`] when it is too large or broken.
    pub fn read(path: &Path) -> io::Result<Option<Self>> {
        let file = match regular_file::open(path) {
            Ok(file) => file,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(error),
        };
        let mut bytes = Vec::new();
        file.take(MAX_UIDLIST_SIZE + 1).read_to_end(&mut bytes)?;
        let broken = |line, reason: String| {
            io::Error::new(io::ErrorKind::InvalidData, UidlistError { path: path.to_owned(), line, reason })
        };
        if bytes.len() as u64 > MAX_UIDLIST_SIZE {
            return Err(broken(0, format!("larger than {MAX_UIDLIST_SIZE} octets")));
        }
        Self::parse(&bytes).map_err(|(line, reason)| broken(line, reason))
    }

    /// A uidlist for a Maildir that has none, as Dovecot starts one: the
    /// current time as UIDVALIDITY, UIDs from 1, a new mailbox GUID.
    pub fn create() -> Self {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        Self {
            version: VERSION,
            uid_validity: u32::try_from(now.as_secs()).unwrap_or(u32::MAX).max(1),
            next_uid: 1,
            guid: Some(new_guid(now)),
            header_rest: Vec::new(),
            records: Vec::new(),
            by_base: HashMap::new(),
            written: 0,
            appendable: false,
        }
    }

    pub fn uid_validity(&self) -> u32 {
        self.uid_validity
    }

    fn record(&self, base: &[u8]) -> Option<&UidlistRecord> {
        self.by_base.get(base).map(|&index| &self.records[index])
    }

    /// Whether the file whose base name is `base` has a UID.
    pub fn lists(&self, base: &[u8]) -> bool {
        self.by_base.contains_key(base)
    }

    /// The sizes the uidlist notes for `base` (Dovecot notes them when the
    /// file name does not carry them): `S` the file's, `W` with CRLF line
    /// ends.
    pub fn sizes(&self, base: &[u8]) -> SizeFields {
        let field =
            |key| self.record(base)?.extension(key).and_then(|value| std::str::from_utf8(value).ok()?.parse().ok());
        SizeFields { file_size: field(b'S'), virtual_size: field(b'W') }
    }

    /// The UID of the message whose base name is `base`, and the unique-id
    /// Dovecot's POP3 server gives it under `format`: a UIDL kept in the
    /// uidlist (`P`; empty means the base name) wins over the format, and
    /// `%g` is the message's `G` field, else its base name.
    pub fn uidl(&self, base: &[u8], format: &UidlFormat) -> Option<(u32, Vec<u8>)> {
        let record = self.record(base)?;
        let id = match record.extension(b'P') {
            Some([]) => base.to_vec(),
            Some(kept) => kept.to_vec(),
            None => {
                let guid = record.extension(b'G').filter(|guid| !guid.is_empty()).unwrap_or(base);
                let fields = UidlFields { uid: record.uid, uid_validity: self.uid_validity, file_name: base, guid };
                format.expand(&fields)
            }
        };
        Some((record.uid, id))
    }

    /// Whether [`update`](Self::update) would change anything for a
    /// Maildir holding the files whose base names are `files`.
    pub fn needs_update(&self, files: &[&[u8]]) -> bool {
        let (live, unlisted) = self.classify(files, &[]);
        !self.appendable || !unlisted.is_empty() || self.wants_compaction(&live, 0)
    }

    /// Gives every file of `files` (base names) that has no UID yet the
    /// next one, in Dovecot's order, and writes the uidlist into `maildir`
    /// (whose root's metadata is `root`) if anything changed. Files in
    /// `elsewhere` get no UID but keep theirs (Dovecot's files left in new/).
    /// The caller holds the [`super::uidlist_lock::UidlistLock`].
    ///
    /// # Errors
    ///
    /// Any error writing the file; the uidlist on disk is then as before.
    pub fn update(&mut self, maildir: &Path, root: &Metadata, files: &[&[u8]], elsewhere: &[&[u8]]) -> io::Result<()> {
        let (live, mut unlisted) = self.classify(files, elsewhere);
        let compact = self.wants_compaction(&live, unlisted.len());
        if self.appendable && unlisted.is_empty() && !compact {
            return Ok(());
        }
        unlisted.sort_by(|a, b| name::dovecot_order(a, b));
        unlisted.dedup();
        let mut live = live;
        for base in unlisted {
            if self.next_uid == u32::MAX {
                return Err(io::Error::other("the mailbox has used up its UIDs (Dovecot must renumber it)"));
            }
            self.by_base.insert(base.to_vec(), self.records.len());
            self.records.push(UidlistRecord { uid: self.next_uid, extensions: Vec::new(), base: base.to_vec() });
            live.push(true);
            self.next_uid += 1;
        }
        if self.appendable && !compact {
            self.append(&maildir.join(UIDLIST_FILE_NAME))
        } else {
            let mut live = live.into_iter();
            self.records.retain(|_| live.next().unwrap_or(true));
            self.by_base =
                self.records.iter().enumerate().map(|(index, record)| (record.base.clone(), index)).collect();
            self.rewrite(maildir, root)
        }
    }

    /// Which records name a file of `files` or `elsewhere`, and which base
    /// names of `files` have no record.
    fn classify<'a>(&self, files: &[&'a [u8]], elsewhere: &[&[u8]]) -> (Vec<bool>, Vec<&'a [u8]>) {
        let mut live = vec![false; self.records.len()];
        let mut unlisted = Vec::new();
        for &base in files {
            match self.by_base.get(base) {
                Some(&index) => live[index] = true,
                None => unlisted.push(base),
            }
        }
        for &base in elsewhere {
            if let Some(&index) = self.by_base.get(base) {
                live[index] = true;
            }
        }
        (live, unlisted)
    }

    /// Dovecot's `maildir_uidlist_want_compress()`: rewrite once the lines
    /// naming vanished files are a quarter of all of them.
    fn wants_compaction(&self, live: &[bool], new: usize) -> bool {
        let alive = live.iter().filter(|&&live| live).count();
        alive < live.len() && (live.len() + new) * COMPRESS_PERCENTAGE / 100 >= alive + new
    }

    fn append(&mut self, path: &Path) -> io::Result<()> {
        let mut out = Vec::new();
        for record in &self.records[self.written..] {
            write_record(&mut out, record);
        }
        let mut file = regular_file::open_to_append(path)?;
        file.write_all(&out)?;
        file.sync_data()?;
        self.written = self.records.len();
        Ok(())
    }

    fn rewrite(&mut self, maildir: &Path, root: &Metadata) -> io::Result<()> {
        let guid =
            self.guid.get_or_insert_with(|| new_guid(SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()));
        let mut out = format!("{VERSION} V{} N{} G{guid}", self.uid_validity, self.next_uid).into_bytes();
        for field in &self.header_rest {
            out.push(b' ');
            out.extend_from_slice(field);
        }
        out.push(b'\n');
        for record in &self.records {
            write_record(&mut out, record);
        }
        let temp = maildir.join(UIDLIST_TEMP_NAME);
        // Whatever is at the temporary name (a leftover, a planted link)
        // goes; the new file is created afresh, never written through it.
        match fs::remove_file(&temp) {
            Err(error) if error.kind() != io::ErrorKind::NotFound => return Err(error),
            _ => {}
        }
        let written = regular_file::create_in_maildir(&temp, root)
            .and_then(|mut file| {
                file.write_all(&out)?;
                file.sync_data()
            })
            .and_then(|()| fs::rename(&temp, maildir.join(UIDLIST_FILE_NAME)));
        if let Err(error) = written {
            let _ = fs::remove_file(&temp);
            return Err(error);
        }
        self.version = VERSION;
        self.written = self.records.len();
        self.appendable = true;
        Ok(())
    }

    /// Reads a uidlist as Dovecot's `maildir_uidlist_update_read()` does;
    /// the error is a line number (1 for the header) and what is wrong.
    fn parse(bytes: &[u8]) -> Result<Option<Self>, (usize, String)> {
        if bytes.is_empty() {
            return Ok(None);
        }
        // Dovecot reads complete lines only: an unfinished last line is
        // one being written, or left by a crash.
        let Some(last_newline) = bytes.iter().rposition(|&b| b == b'\n') else {
            return Err((1, "the header line is unfinished".into()));
        };
        let mut lines = bytes[..last_newline].split(|&b| b == b'\n');
        let mut list = Self::parse_header(lines.next().unwrap_or_default()).map_err(|reason| (1, reason))?;
        list.appendable = list.version == VERSION && list.guid.is_some() && last_newline + 1 == bytes.len();
        let mut replaced = false;
        for (line, number) in lines.zip(2..) {
            let record = list.parse_record(line).map_err(|reason| (number, reason))?;
            if let Some(old) = list.by_base.insert(record.base.clone(), list.records.len()) {
                // As Dovecot: a file listed twice keeps its later UID.
                list.records[old].uid = 0;
                replaced = true;
            }
            list.next_uid = list.next_uid.max(record.uid + 1);
            list.records.push(record);
        }
        if replaced {
            list.records.retain(|record| record.uid != 0);
            list.by_base =
                list.records.iter().enumerate().map(|(index, record)| (record.base.clone(), index)).collect();
            list.appendable = false;
        }
        list.written = list.records.len();
        Ok(Some(list))
    }

    fn parse_header(line: &[u8]) -> Result<Self, String> {
        let mut list = Self {
            version: 0,
            uid_validity: 0,
            next_uid: 0,
            guid: None,
            header_rest: Vec::new(),
            records: Vec::new(),
            by_base: HashMap::new(),
            written: 0,
            appendable: false,
        };
        let [version @ b'0'..=b'9', b' ', fields @ ..] = line else {
            return Err("corrupted header (invalid version number)".into());
        };
        list.version = version - b'0';
        match list.version {
            1 => {
                let mut numbers = fields.split(u8::is_ascii_whitespace).filter(|field| !field.is_empty());
                list.uid_validity = leading_number(numbers.next().unwrap_or_default());
                list.next_uid = leading_number(numbers.next().unwrap_or_default());
            }
            VERSION => {
                let mut rest = fields;
                while let [key, after @ ..] = rest {
                    let end = after.iter().position(|&b| b == b' ').unwrap_or(after.len());
                    let value = &after[..end];
                    match key {
                        b'V' => list.uid_validity = leading_number(value),
                        b'N' => list.next_uid = leading_number(value),
                        b'G' if value.len() == 32 && value.iter().all(u8::is_ascii_hexdigit) => {
                            list.guid = Some(String::from_utf8_lossy(value).into_owned());
                        }
                        b'G' => return Err(format!("invalid mailbox GUID {:?}", value.escape_ascii().to_string())),
                        _ => list.header_rest.push([&[*key], value].concat()),
                    }
                    rest = &after[end..];
                    while let [b' ', after @ ..] = rest {
                        rest = after;
                    }
                }
            }
            other => return Err(format!("unsupported version {other}")),
        }
        if list.uid_validity == 0 || list.next_uid == 0 {
            return Err(format!("broken header (uidvalidity {}, next uid {})", list.uid_validity, list.next_uid));
        }
        Ok(list)
    }

    /// One message's line, as `maildir_uidlist_next()` reads it.
    fn parse_record(&mut self, line: &[u8]) -> Result<UidlistRecord, String> {
        let digits = line.iter().take_while(|b| b.is_ascii_digit()).count();
        let uid = leading_number(&line[..digits]);
        if uid == 0 || line.get(digits) != Some(&b' ') {
            return Err(format!("invalid data {:?}", line.escape_ascii().to_string()));
        }
        if let Some(previous) = self.records.last().map(|record| record.uid).filter(|&previous| uid <= previous) {
            return Err(format!("UIDs not ordered ({uid} after {previous})"));
        }
        if uid == u32::MAX {
            return Err(format!("UID too high ({uid})"));
        }
        if self.version == 1 && uid >= self.next_uid {
            return Err(format!("UID larger than next uid ({uid} >= {})", self.next_uid));
        }
        let mut rest = trim_spaces(&line[digits..]);
        let mut extensions = Vec::new();
        if self.version == VERSION {
            while let Some(&first) = rest.first().filter(|&&b| b != b':') {
                let end = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
                if first.is_ascii_uppercase() {
                    extensions.push(rest[..end].to_vec());
                } else {
                    // Dovecot drops a field it cannot read, and rewrites.
                    self.appendable = false;
                }
                rest = trim_spaces(&rest[end..]);
            }
            rest = rest.strip_prefix(b":").unwrap_or(rest);
        }
        if rest.is_empty() {
            return Err(format!("UID {uid} has no file name"));
        }
        if rest.contains(&b'/') {
            return Err(format!("broken file name {:?}", rest.escape_ascii().to_string()));
        }
        let base = rest[..rest.iter().position(|&b| b == b':').unwrap_or(rest.len())].to_vec();
        Ok(UidlistRecord { uid, extensions, base })
    }
}

fn write_record(out: &mut Vec<u8>, record: &UidlistRecord) {
    out.extend_from_slice(record.uid.to_string().as_bytes());
    for field in &record.extensions {
        out.push(b' ');
        out.extend_from_slice(field);
    }
    out.extend_from_slice(b" :");
    out.extend_from_slice(&record.base);
    out.push(b'\n');
}

/// The number at the start of `text`, as C's `strtoul()` reads it into an
/// `unsigned int`; 0 (which no header or line may hold) when there is none
/// or it does not fit.
fn leading_number(text: &[u8]) -> u32 {
    let digits = text.iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&text[..digits]).ok().and_then(|digits| digits.parse().ok()).unwrap_or(0)
}

fn trim_spaces(mut text: &[u8]) -> &[u8] {
    while let [b' ', rest @ ..] = text {
        text = rest;
    }
    text
}

/// A new mailbox GUID, unique as Dovecot's `guid_128_generate()` makes it:
/// from the time in nanoseconds, the process and a counter.
fn new_guid(now: std::time::Duration) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{:08x}{:08x}{:08x}{count:08x}", now.subsec_nanos(), now.as_secs() as u32, std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The uidlist Dovecot 2.3.19 wrote after serving a Maildir over POP3.
    const DOVECOT_WROTE: &str = "3 V1796169645 N6 G7deaca24ad5f0f6bf237000083ecc375\n\
        1 W22 :1600000000.X.host\n\
        2 W21 :1700000000.M1P1.host\n\
        3 W22 :1700000001.M5P1.host\n\
        4 W17 :1500000000.Q.host\n\
        5 W17 :1700000005.M9P1.host\n\
        6 :1796169725.M145301P8592.vm,S=19,W=22\n";

    fn parse(text: &str) -> Uidlist {
        Uidlist::parse(text.as_bytes()).unwrap().unwrap()
    }

    fn broken_line(text: &str) -> usize {
        Uidlist::parse(text.as_bytes()).unwrap_err().0
    }

    fn uidl(list: &Uidlist, base: &str, format: &str) -> Option<(u32, String)> {
        let format = UidlFormat::parse(format).unwrap();
        list.uidl(base.as_bytes(), &format).map(|(uid, id)| (uid, String::from_utf8(id).unwrap()))
    }

    #[test]
    fn dovecots_own_file_reads_back() {
        let list = parse(DOVECOT_WROTE);
        assert_eq!(list.uid_validity(), 1796169645);
        assert_eq!(list.next_uid, 7, "one past the highest UID, above the header's N6");
        assert!(list.appendable);
        assert_eq!(uidl(&list, "1500000000.Q.host", "%08Xu%08Xv"), Some((4, "000000046b0f5fad".into())));
        assert_eq!(uidl(&list, "1796169725.M145301P8592.vm,S=19,W=22", "%u"), Some((6, "6".into())));
        assert_eq!(uidl(&list, "1600000000.X.host", "%g"), Some((1, "1600000000.X.host".into())));
        assert_eq!(uidl(&list, "unknown", "%u"), None);
        assert_eq!(list.sizes(b"1600000000.X.host"), SizeFields { file_size: None, virtual_size: Some(22) });
        assert!(list.lists(b"1700000000.M1P1.host") && !list.lists(b"1700000000.M1P1"));
    }

    #[test]
    fn kept_uidls_and_guids_win_as_in_dovecot() {
        let list = parse(
            "3 V7 N9 G00000000000000000000000000000000 X9\n\
             1 P :a.host\n2 Pfrom-the-old-server G1 :b.host\n3 G0123abc S5 W9 :c.host\n4 G :d.host\n",
        );
        assert_eq!(uidl(&list, "a.host", "%u"), Some((1, "a.host".into())), "P empty: the base name");
        assert_eq!(uidl(&list, "b.host", "%u"), Some((2, "from-the-old-server".into())));
        assert_eq!(uidl(&list, "c.host", "%g-%u"), Some((3, "0123abc-3".into())));
        assert_eq!(uidl(&list, "d.host", "%g"), Some((4, "d.host".into())), "an empty G is no GUID");
        assert_eq!(list.sizes(b"c.host"), SizeFields { file_size: Some(5), virtual_size: Some(9) });
        assert_eq!(list.header_rest, [b"X9".to_vec()]);
    }

    #[test]
    fn version_1_and_odd_but_valid_files_are_read() {
        let old = parse("1 1234 5\n1 a.host:2,S\n3 b.host\n");
        assert_eq!((old.uid_validity, old.next_uid, old.records.len()), (1234, 5, 2));
        assert!(!old.appendable, "upgraded to version 3 at the first change");
        assert_eq!(uidl(&old, "a.host", "%u"), Some((1, "1".into())));
        let odd = parse("3 V1 N1 G0123456789abcdef0123456789ABCDEF\n7  W1  xbad  :a:2,S\n9 :b\n");
        assert_eq!(odd.records[0], UidlistRecord { uid: 7, extensions: vec![b"W1".to_vec()], base: b"a".to_vec() });
        assert!(!odd.appendable, "a field Dovecot drops means a rewrite");
        assert_eq!(odd.next_uid, 10);
        let twice = parse("3 V1 N9 G0123456789abcdef0123456789abcdef\n1 :a\n2 :b\n3 :a\n");
        assert_eq!(uidl(&twice, "a", "%u"), Some((3, "3".into())), "the later line wins");
        assert_eq!(twice.records.len(), 2);
        assert!(!twice.appendable);
        let unfinished = parse("3 V1 N2 G0123456789abcdef0123456789abcdef\n1 :a\n2 :b");
        assert_eq!(unfinished.records.len(), 1, "an unfinished line is not read");
        assert!(!unfinished.appendable);
        assert!(parse("3 V1 N2\n").guid.is_none());
        assert!(Uidlist::parse(b"").unwrap().is_none(), "an empty file holds no UIDs");
    }

    #[test]
    fn broken_files_name_the_broken_line() {
        let header = "3 V1 N9 G0123456789abcdef0123456789abcdef\n";
        assert_eq!(broken_line("3 V1 N1"), 1);
        assert_eq!(broken_line("x V1 N1\n"), 1);
        assert_eq!(broken_line("4 V1 N1\n"), 1);
        assert_eq!(broken_line("3 V0 N1\n"), 1);
        assert_eq!(broken_line("3 N1\n"), 1);
        assert_eq!(broken_line("3 V1 N1 Gxyz\n"), 1);
        assert_eq!(broken_line("1 5\n"), 1);
        for (body, line) in [
            ("1 :a\n\n", 3),
            ("0 :a\n", 2),
            ("1:a\n", 2),
            ("x :a\n", 2),
            ("2 :a\n1 :b\n", 3),
            ("2 :a\n2 :b\n", 3),
            ("4294967295 :a\n", 2),
            ("99999999999 :a\n", 2),
            ("1 W1\n", 2),
            ("1 :\n", 2),
            ("1 :../x\n", 2),
        ] {
            assert_eq!(broken_line(&format!("{header}{body}")), line, "{body:?}");
        }
        assert_eq!(broken_line("1 10 5\n7 a\n"), 2, "version 1: UID beyond next uid");
    }

    struct Maildir(tempfile::TempDir);

    impl Maildir {
        fn new() -> Self {
            Self(tempfile::tempdir().unwrap())
        }

        fn update(&self, list: &mut Uidlist, files: &[&str], elsewhere: &[&str]) {
            let files: Vec<&[u8]> = files.iter().map(|f| f.as_bytes()).collect();
            let elsewhere: Vec<&[u8]> = elsewhere.iter().map(|f| f.as_bytes()).collect();
            let root = fs::metadata(self.0.path()).unwrap();
            list.update(self.0.path(), &root, &files, &elsewhere).unwrap();
        }

        fn text(&self) -> String {
            fs::read_to_string(self.0.path().join(UIDLIST_FILE_NAME)).unwrap()
        }

        fn write(&self, text: &str) -> Uidlist {
            fs::write(self.0.path().join(UIDLIST_FILE_NAME), text).unwrap();
            Uidlist::read(&self.0.path().join(UIDLIST_FILE_NAME)).unwrap().unwrap()
        }
    }

    #[test]
    fn a_new_uidlist_is_written_as_dovecot_writes_one() {
        let maildir = Maildir::new();
        let mut list = Uidlist::create();
        maildir.update(&mut list, &["1700000001.M5P1.host", "1600000000.X.host,S=3,W=4", "1700000000.M1P1.host"], &[]);
        let text = maildir.text();
        let (header, records) = text.split_once('\n').unwrap();
        let fields: Vec<&str> = header.split(' ').collect();
        assert_eq!(fields[0], "3");
        assert_eq!(fields[1], format!("V{}", list.uid_validity()));
        assert_eq!(fields[2], "N4");
        assert!(fields[3].starts_with('G') && fields[3].len() == 33, "{header}");
        assert_eq!(records, "1 :1600000000.X.host,S=3,W=4\n2 :1700000000.M1P1.host\n3 :1700000001.M5P1.host\n");
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
        assert!(now.abs_diff(u64::from(list.uid_validity())) < 60, "UIDVALIDITY is the time of creation");
        let again = Uidlist::read(&maildir.0.path().join(UIDLIST_FILE_NAME)).unwrap().unwrap();
        assert_eq!(again.records, list.records);
        assert!(!maildir.0.path().join(UIDLIST_TEMP_NAME).exists());
        assert_ne!(Uidlist::create().guid, Uidlist::create().guid);
    }

    #[test]
    fn new_mail_is_appended_and_nothing_is_written_without_it() {
        let maildir = Maildir::new();
        let mut list = maildir.write(DOVECOT_WROTE);
        let bases = ["1600000000.X.host", "1700000000.M1P1.host", "1700000001.M5P1.host", "1500000000.Q.host"];
        let mut files = bases.to_vec();
        files.extend(["1700000005.M9P1.host", "1796169725.M145301P8592.vm,S=19,W=22"]);
        assert!(!list.needs_update(&files.iter().map(|f| f.as_bytes()).collect::<Vec<_>>()));
        maildir.update(&mut list, &files, &[]);
        assert_eq!(maildir.text(), DOVECOT_WROTE, "untouched");
        files.extend(["1800000000.b", "1800000000.a"]);
        maildir.update(&mut list, &files, &[]);
        assert_eq!(maildir.text(), format!("{DOVECOT_WROTE}7 :1800000000.a\n8 :1800000000.b\n"));
        maildir.update(&mut list, &files, &[]);
        assert_eq!(maildir.text().lines().count(), 9);
    }

    #[test]
    fn vanished_files_are_dropped_once_they_are_a_quarter() {
        let maildir = Maildir::new();
        let text =
            "3 V5 N12 G0123456789abcdef0123456789abcdef Zkept\n1 W3 :a\n2 :b\n3 :c\n4 :d\n5 :e\n6 :f\n7 :g\n8 :h\n";
        let mut list = maildir.write(text);
        // One of eight gone, one new: appended.
        maildir.update(&mut list, &["b", "c", "d", "e", "f", "g", "h", "i"], &[]);
        assert_eq!(maildir.text(), format!("{text}12 :i\n"));
        // A quarter gone: rewritten without them, header N up to date.
        maildir.update(&mut list, &["d", "e", "g", "h", "i"], &["f"]);
        let compacted = "3 V5 N13 G0123456789abcdef0123456789abcdef Zkept\n4 :d\n5 :e\n6 :f\n7 :g\n8 :h\n12 :i\n";
        assert_eq!(maildir.text(), compacted);
        assert!(!list.needs_update(&[b"d", b"e", b"f", b"g", b"h", b"i"]));
    }

    #[test]
    fn an_old_or_incomplete_file_is_rewritten_at_the_first_change() {
        let maildir = Maildir::new();
        let mut list = maildir.write("1 1234 5\n1 a:2,S\n3 b\n");
        assert!(list.needs_update(&[b"a", b"b"]));
        maildir.update(&mut list, &["a", "b"], &[]);
        let text = maildir.text();
        assert!(text.starts_with("3 V1234 N5 G"), "{text}");
        assert!(text.ends_with("\n1 :a\n3 :b\n"), "{text}");
        let mut list = maildir.write("3 V9 N3 G0123456789abcdef0123456789abcdef\n1 :a\n2 :b");
        maildir.update(&mut list, &["a", "b"], &[]);
        assert_eq!(maildir.text(), "3 V9 N4 G0123456789abcdef0123456789abcdef\n1 :a\n3 :b\n");
    }

    #[test]
    fn a_hostile_uidlist_is_refused_not_followed() {
        let maildir = Maildir::new();
        let path = maildir.0.path().join(UIDLIST_FILE_NAME);
        std::os::unix::fs::symlink("/etc/passwd", &path).unwrap();
        assert!(Uidlist::read(&path).is_err());
        fs::remove_file(&path).unwrap();
        let temp = maildir.0.path().join(UIDLIST_TEMP_NAME);
        let target = maildir.0.path().join("target");
        fs::write(&target, "keep").unwrap();
        std::os::unix::fs::symlink(&target, &temp).unwrap();
        maildir.update(&mut Uidlist::create(), &["a"], &[]);
        assert_eq!(fs::read_to_string(&target).unwrap(), "keep", "never written through a planted link");
        assert!(maildir.text().ends_with("\n1 :a\n"));
        let broken = Uidlist::read(&maildir.0.path().join("target")).unwrap_err();
        assert_eq!(broken.kind(), io::ErrorKind::InvalidData);
        assert!(broken.to_string().contains("target line 1: "), "{broken}");
    }
}
