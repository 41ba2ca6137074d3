//! One user's Maildir as a POP3 session sees it: a locked, numbered list of
//! messages, some marked for deletion.
//!
//! Opening takes the maildrop lock, moves new/ mail into cur/ (as Dovecot
//! does, naming each file with its sizes), then lists cur/ in delivery order
//! and gives each message its UIDL by the `--uidl-format`. A format with a
//! UID, the UIDVALIDITY or a GUID in it reads Dovecot's `dovecot-uidlist`
//! instead ([`super::uidlist`]): the messages are then numbered in UID
//! order, as Dovecot numbers them, and mail the uidlist does not list yet
//! is moved and given its UIDs under Dovecot's lock, as Dovecot would.
//! Numbers are fixed for the life of the [`Maildrop`] (RFC 1939 §4).
//! The list is kept compactly ([`Listing`]); with a format that needs no
//! uidlist, a login to a maildrop unchanged since an earlier one reuses
//! that login's list from the [`listing_cache`](super::listing_cache) without reading cur/.
//! Nothing is ever removed from disk except by [`Maildrop::commit`], which
//! the session calls only for QUIT in TRANSACTION state (RFC 1939 §6); a
//! maildrop dropped any other way deletes nothing.
//!
//! The Maildir may be hostile (see [`regular_file`]): only regular files
//! are listed, every message file is opened through [`regular_file::open`],
//! a file that cannot be read is skipped rather than failing the whole
//! maildrop, and names are kept as bytes, UTF-8 or not.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::{self, DirBuilder, File};
use std::io::{self, Read};
use std::num::NonZeroU32;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::listing::{ListedMessage, Listing};
use super::listing_cache::{DirStamps, ListingCache};
use super::lock::MaildropLock;
use super::name::SizeFields;
use super::size::VirtualSize;
use super::uidl_format::{UidlFields, UidlFormat};
use super::uidlist::{Uidlist, UIDLIST_FILE_NAME};
use super::uidlist_lock::UidlistLock;
use super::{name, regular_file};

/// One message of a maildrop being listed, before it is numbered.
#[derive(Debug, Clone)]
struct ScannedMessage {
    /// File name in cur/ (any bytes).
    file_name: OsString,
    /// Seconds since the epoch at delivery, from the name: the sort key.
    delivered: Option<u64>,
    /// Octets on disk, to notice a file rewritten behind our back.
    file_size: u64,
    /// Octets as RETR sends them before byte-stuffing (RFC 1939 §11).
    size: u64,
    /// The IMAP UID `dovecot-uidlist` gives it; 0 when the format needs none.
    uid: u32,
    /// The RFC 1939 §7 unique-id, fixed when the maildrop is opened.
    uidl: String,
}

impl ScannedMessage {
    fn listed(&self) -> ListedMessage<'_> {
        ListedMessage {
            file_name: self.file_name.as_bytes(),
            uidl: &self.uidl,
            size: self.size,
            file_size: self.file_size,
        }
    }
}

/// One message of an open maildrop, as the session numbers it.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    listing: &'a Listing,
    index: usize,
}

impl<'a> Message<'a> {
    /// Octets as RETR sends it before byte-stuffing (RFC 1939 §11).
    pub fn size(self) -> u64 {
        self.listing.size(self.index)
    }

    /// The RFC 1939 §7 unique-id of this message.
    pub fn uidl(self) -> String {
        String::from_utf8_lossy(self.uidl_bytes()).into_owned()
    }

    /// The unique-id as octets (printable ASCII), for writing it out.
    pub fn uidl_bytes(self) -> &'a [u8] {
        self.listing.uidl(self.index)
    }
}

/// A message opened for reading, with the size it is sent with.
#[derive(Debug)]
pub struct MessageFile {
    pub file: File,
    /// Octets as RETR sends them before byte-stuffing (RFC 1939 §11).
    pub size: u64,
    /// Octets of the file as listed (and as found when it was opened): what
    /// it must still hold when read to its end, or `size` was not true.
    pub file_size: u64,
}

/// Why a maildrop could not be opened (taking its lock included).
#[derive(Debug)]
pub enum OpenError {
    /// Another live session (in this process or another) holds the lock.
    Busy,
    Io(io::Error),
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenError::Busy => f.write_str("maildrop is locked by another session"),
            OpenError::Io(error) => error.fmt(f),
        }
    }
}

impl std::error::Error for OpenError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            OpenError::Busy => None,
            OpenError::Io(error) => Some(error),
        }
    }
}

impl From<io::Error> for OpenError {
    fn from(error: io::Error) -> Self {
        OpenError::Io(error)
    }
}

/// Why a message-level operation failed.
#[derive(Debug)]
pub enum MessageError {
    /// No message has that number.
    NoSuchMessage,
    /// The message is marked for deletion in this session.
    Deleted,
    /// The file vanished or changed size since the maildrop was opened.
    Changed,
    Io(io::Error),
}

impl fmt::Display for MessageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MessageError::NoSuchMessage => f.write_str("no such message"),
            MessageError::Deleted => f.write_str("message is marked deleted"),
            MessageError::Changed => f.write_str("message file changed on disk since it was listed"),
            MessageError::Io(error) => error.fmt(f),
        }
    }
}

impl std::error::Error for MessageError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            MessageError::Io(error) => Some(error),
            _ => None,
        }
    }
}

/// What a commit did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct CommitReport {
    pub removed: usize,
    /// Messages marked for deletion that could not be removed.
    pub failed: usize,
}

/// A locked maildrop, open for one session.
#[derive(Debug)]
pub struct Maildrop {
    cur: PathBuf,
    /// Shared with the listing cache and with later sessions; never changed.
    listing: Arc<Listing>,
    /// By message index; empty until the first DELE.
    deleted: Vec<bool>,
    /// Files another program renamed (to change their flags) since the
    /// listing, found again by their unique part: (index, name now).
    renamed: Vec<(usize, OsString)>,
    _lock: MaildropLock,
}

impl Maildrop {
    /// Opens (creating it, mode 0700, when missing) the Maildir at
    /// `maildir`, its messages identified by `format`.
    pub fn open(maildir: &Path, format: &UidlFormat) -> Result<Self, OpenError> {
        let mut builder = DirBuilder::new();
        builder.recursive(true).mode(0o700);
        for sub in ["cur", "new", "tmp"] {
            builder.create(maildir.join(sub))?;
        }
        let lock = MaildropLock::acquire(maildir)?;
        let cur = maildir.join("cur");
        let new = maildir.join("new");
        let listing = if format.needs_uidlist() {
            let messages = open_with_uidlist(maildir, &new, &cur, format)?;
            let listed: Vec<ListedMessage<'_>> = messages.iter().map(ScannedMessage::listed).collect();
            Arc::new(Listing::build(&listed)?)
        } else {
            list_by_delivery(&new, &cur, format, ListingCache::global())?
        };
        Ok(Self { cur, listing, deleted: Vec::new(), renamed: Vec::new(), _lock: lock })
    }

    fn is_deleted(&self, index: usize) -> bool {
        self.deleted.get(index).copied().unwrap_or(false)
    }

    /// Messages not marked deleted, with their numbers.
    pub fn live_messages(&self) -> impl Iterator<Item = (NonZeroU32, Message<'_>)> {
        (0..self.listing.len())
            .filter(|&index| !self.is_deleted(index))
            .map(|index| (number_of(index), Message { listing: &self.listing, index }))
    }

    /// Count and total size of the messages not marked deleted (STAT).
    pub fn stat(&self) -> (usize, u64) {
        if !self.deleted.contains(&true) {
            return (self.listing.len(), self.listing.total_size());
        }
        self.live_messages().fold((0, 0), |(count, octets), (_, message)| (count + 1, octets + message.size()))
    }

    /// The message numbered `number`, unless absent or marked deleted.
    pub fn message(&self, number: NonZeroU32) -> Result<Message<'_>, MessageError> {
        let index = index(number);
        if index >= self.listing.len() {
            return Err(MessageError::NoSuchMessage);
        }
        if self.is_deleted(index) {
            return Err(MessageError::Deleted);
        }
        Ok(Message { listing: &self.listing, index })
    }

    pub fn mark_deleted(&mut self, number: NonZeroU32) -> Result<(), MessageError> {
        self.message(number)?;
        if self.deleted.is_empty() {
            self.deleted = vec![false; self.listing.len()];
        }
        self.deleted[index(number)] = true;
        Ok(())
    }

    /// Unmarks every message (RSET).
    pub fn reset(&mut self) {
        self.deleted.clear();
    }

    /// The file name of message `index` now, as far as this session knows.
    fn file_name(&self, index: usize) -> &OsStr {
        match self.renamed.iter().find(|(renamed, _)| *renamed == index) {
            Some((_, file_name)) => file_name,
            None => self.listing.file_name(index),
        }
    }

    /// Octets of memory this session's message list holds (shared with the
    /// listing cache and other sessions of the same maildrop state).
    pub fn heap_size(&self) -> usize {
        self.listing.heap_size() + self.deleted.capacity()
    }

    /// Opens message `number` for reading, checking it is the file listed:
    /// the one lookup RETR and TOP need. Whatever was swapped in at its name
    /// since LIST, only a regular file of the listed size is returned.
    pub fn open_message(&mut self, number: NonZeroU32) -> Result<MessageFile, MessageError> {
        self.message(number)?;
        let file = match regular_file::open(&self.cur.join(self.file_name(index(number)))) {
            Ok(file) => file,
            Err(error) if error.kind() == io::ErrorKind::NotFound => self.reopen_renamed(number)?,
            Err(error) => return Err(MessageError::Io(error)),
        };
        // The size of the file opened (fstat), not of whatever the name now
        // names: the sizes announced are only right for the file listed.
        let on_disk = file.metadata().map_err(MessageError::Io)?.len();
        let (size, file_size) = (self.listing.size(index(number)), self.listing.file_size(index(number)));
        if on_disk != file_size {
            return Err(MessageError::Changed);
        }
        Ok(MessageFile { file, size, file_size })
    }

    /// Another Maildir client may rename a file to change its flags (the
    /// part after `:`); find it again by its unique part.
    fn reopen_renamed(&mut self, number: NonZeroU32) -> Result<File, MessageError> {
        let index = index(number);
        let renamed = find_by_unique_part(&self.cur, name::unique_part(self.file_name(index)))
            .map_err(MessageError::Io)?
            .ok_or(MessageError::Changed)?;
        let file = regular_file::open(&self.cur.join(&renamed)).map_err(MessageError::Io)?;
        self.renamed.retain(|(known, _)| *known != index);
        self.renamed.push((index, renamed));
        Ok(file)
    }

    /// Removes every message marked deleted (the RFC 1939 §6 UPDATE state).
    pub fn commit(mut self) -> CommitReport {
        let mut report = CommitReport::default();
        for index in 0..self.deleted.len() {
            if !self.deleted[index] {
                continue;
            }
            match self.remove(index) {
                Ok(()) => report.removed += 1,
                Err(error) => {
                    log::warn!("cannot remove {:?}: {error}", self.file_name(index));
                    report.failed += 1;
                }
            }
        }
        report
    }

    fn remove(&mut self, index: usize) -> io::Result<()> {
        let file_name = self.file_name(index);
        match fs::remove_file(self.cur.join(file_name)) {
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                match find_by_unique_part(&self.cur, name::unique_part(file_name))? {
                    Some(renamed) => fs::remove_file(self.cur.join(renamed)),
                    None => Ok(()), // already gone: the goal is met
                }
            }
            other => other,
        }
    }
}

fn index(number: NonZeroU32) -> usize {
    number.get() as usize - 1
}

fn number_of(index: usize) -> NonZeroU32 {
    // A listing holds fewer than u32::MAX messages (its offsets are u32).
    NonZeroU32::new(index as u32 + 1).expect("numbers start at 1")
}

/// The messages in delivery order, UIDLs by `format` (one that needs no
/// uidlist): from `cache` when cur/ and new/ are as an earlier listing
/// found them, else by moving new/ mail into cur/ and reading cur/. A
/// complete listing is offered to the cache with the directories' stamps
/// taken after the move and before the reading, so a change made at any
/// moment after the stamps makes them differ (see [`super::listing_cache`]).
fn list_by_delivery(
    new: &Path,
    cur: &Path,
    format: &UidlFormat,
    cache: &parking_lot::Mutex<ListingCache>,
) -> io::Result<Arc<Listing>> {
    let format_key = format.to_string();
    if let Ok(stamps) = DirStamps::take(cur, new) {
        if let Some(listing) = cache.lock().lookup(cur, &format_key, &stamps) {
            log::debug!("{}: unchanged since an earlier login; its listing reused", cur.display());
            return Ok(listing);
        }
    }
    deliver_new(new, cur, |_| false)?;
    let stamps = DirStamps::take(cur, new);
    let new_is_empty = !has_mail_to_deliver(new)?;
    let found = scan_cur(cur, |_| SizeFields::default())?;
    let complete = found.left_out.is_empty() && found.sizes_not_in_name == 0 && new_is_empty;
    let mut messages = found.messages;
    for message in &mut messages {
        let base = name::unique_part(&message.file_name);
        let fields = UidlFields { uid: 0, uid_validity: 0, file_name: base, guid: base };
        message.uidl = name::legal_uidl(&format.expand(&fields));
    }
    // File names are unique, so an unstable sort gives one order.
    messages.sort_unstable_by(|a, b| (a.delivered, a.file_name.as_bytes()).cmp(&(b.delivered, b.file_name.as_bytes())));
    let listed: Vec<ListedMessage<'_>> = messages.iter().map(ScannedMessage::listed).collect();
    let listing = Arc::new(Listing::build(&listed)?);
    if let (Ok(stamps), true) = (stamps, complete) {
        cache.lock().store(cur, &format_key, stamps, &listing);
    }
    Ok(listing)
}

/// Opens the messages as Dovecot's Maildir storage sees them, by
/// `dovecot-uidlist`. A login that finds every file listed and nothing in
/// new/ reads the uidlist once and writes nothing; otherwise it takes
/// Dovecot's lock, reads the uidlist again (Dovecot may have changed it
/// meanwhile), moves new/ mail into cur/, lists cur/ and gives the files
/// the uidlist does not list yet their UIDs: the order of Dovecot's own
/// synchronisation, so no file is ever seen by one and missed by the other.
fn open_with_uidlist(
    maildir: &Path,
    new: &Path,
    cur: &Path,
    format: &UidlFormat,
) -> Result<Vec<ScannedMessage>, OpenError> {
    let path = maildir.join(UIDLIST_FILE_NAME);
    if let Some(uidlist) = Uidlist::read(&path)? {
        if !has_mail_to_deliver(new)? {
            let found = scan_cur(cur, |file_name| uidlist.sizes(name::unique_part(file_name)))?;
            if !uidlist.needs_update(&found.bases()) {
                return Ok(number_by_uid(found, &uidlist, format));
            }
        }
    }
    let root = fs::metadata(maildir)?;
    let _lock = UidlistLock::acquire(maildir, &root)?;
    let mut uidlist = Uidlist::read(&path)?.unwrap_or_else(Uidlist::create);
    // A file the uidlist already lists keeps its unique part when it moves,
    // or it would lose its UID; only new mail is named with its sizes.
    deliver_new(new, cur, |file_name| uidlist.lists(name::unique_part(file_name)))?;
    let found = scan_cur(cur, |file_name| uidlist.sizes(name::unique_part(file_name)))?;
    let left_in_new = visible_names(new)?;
    let left_in_new: Vec<&[u8]> = left_in_new.iter().map(|file_name| name::unique_part(file_name)).collect();
    uidlist.update(maildir, &root, &found.bases(), &left_in_new)?;
    Ok(number_by_uid(found, &uidlist, format))
}

/// The messages of `found` with their UIDs and UIDLs, in UID order (the
/// order of Dovecot's POP3 server).
fn number_by_uid(found: CurListing, uidlist: &Uidlist, format: &UidlFormat) -> Vec<ScannedMessage> {
    let mut messages: Vec<ScannedMessage> = found
        .messages
        .into_iter()
        .filter_map(|mut message| {
            let Some((uid, id)) = uidlist.uidl(name::unique_part(&message.file_name), format) else {
                // Not reached: every file listed was just given a UID.
                log::warn!("no UID for {:?}; left out of this session", message.file_name);
                return None;
            };
            message.uid = uid;
            message.uidl = name::legal_uidl(&id);
            Some(message)
        })
        .collect();
    messages.sort_by_key(|message| message.uid);
    messages
}

/// Moves every message from new/ to cur/: named by `dovecot_name_in_cur`
/// when `keep_name` says so, otherwise with its sizes.
fn deliver_new(new: &Path, cur: &Path, keep_name: impl Fn(&OsStr) -> bool) -> io::Result<()> {
    for entry in fs::read_dir(new)? {
        let entry = entry?;
        let Some(file_name) = regular_file_name(&entry) else {
            continue;
        };
        let path = entry.path();
        let target = if keep_name(&file_name) {
            name::dovecot_name_in_cur(&file_name)
        } else {
            let Some((file_size, size)) = measure_or_skip(&path) else {
                continue;
            };
            name::name_in_cur(&file_name, file_size, size)
        };
        match fs::rename(&path, cur.join(target)) {
            Err(error) if error.kind() != io::ErrorKind::NotFound => return Err(error),
            _ => {}
        }
    }
    Ok(())
}

/// Whether new/ holds a file [`deliver_new`] would move.
fn has_mail_to_deliver(new: &Path) -> io::Result<bool> {
    for entry in fs::read_dir(new)? {
        if regular_file_name(&entry?).is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// What a listing of cur/ found.
struct CurListing {
    /// In no particular order.
    messages: Vec<ScannedMessage>,
    /// How many of them had sizes from elsewhere than their name (the
    /// uidlist, or the file itself, which may change without its name).
    sizes_not_in_name: usize,
    /// Every other name not hidden: what Dovecot would count as a message
    /// but this session leaves out (a symbolic link, a FIFO, a file it
    /// cannot read). Dovecot gives them UIDs too.
    left_out: Vec<OsString>,
}

impl CurListing {
    /// The unique part of every name found.
    fn bases(&self) -> Vec<&[u8]> {
        let messages = self.messages.iter().map(|message| message.file_name.as_os_str());
        messages.chain(self.left_out.iter().map(OsString::as_os_str)).map(name::unique_part).collect()
    }
}

/// Lists cur/ with each message's sizes: from its name, else from `known`
/// (what the uidlist notes), else by reading the file.
fn scan_cur(cur: &Path, known: impl Fn(&OsStr) -> SizeFields) -> io::Result<CurListing> {
    let mut found = CurListing { messages: Vec::new(), sizes_not_in_name: 0, left_out: Vec::new() };
    for entry in fs::read_dir(cur)? {
        let entry = entry?;
        let Some(file_name) = regular_file_name(&entry) else {
            let file_name = entry.file_name();
            if !is_hidden(&file_name) {
                found.left_out.push(file_name);
            }
            continue;
        };
        // Sizes in the name (or the uidlist) spare reading the file: a
        // login to thousands of messages opens none of them. RETR checks
        // the file when it opens it.
        let fields = name::size_fields(&file_name);
        if fields.file_size.is_none() || fields.virtual_size.is_none() {
            found.sizes_not_in_name += 1;
        }
        let noted = known(&file_name);
        let sizes = match (fields.file_size.or(noted.file_size), fields.virtual_size.or(noted.virtual_size)) {
            (Some(file_size), Some(size)) => Some((file_size, size)),
            // The directory knows the file size without reading the file.
            (None, Some(size)) => entry.metadata().ok().map(|meta| (meta.len(), size)),
            _ => measure_or_skip(&entry.path()),
        };
        let Some((file_size, size)) = sizes else {
            found.left_out.push(file_name);
            continue;
        };
        let delivered = name::delivery_time(&file_name);
        let message = ScannedMessage { file_name, delivered, file_size, size, uid: 0, uidl: String::new() };
        found.messages.push(message);
    }
    Ok(found)
}

/// Every name in `dir` that is not hidden.
fn visible_names(dir: &Path) -> io::Result<Vec<OsString>> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir)? {
        let file_name = entry?.file_name();
        if !is_hidden(&file_name) {
            names.push(file_name);
        }
    }
    Ok(names)
}

fn is_hidden(file_name: &OsStr) -> bool {
    file_name.as_bytes().starts_with(b".")
}

/// The entry's name if it is a regular file that is not hidden. The type
/// comes from the directory entry (it is not opened): a FIFO, socket,
/// device, directory or symbolic link is never listed.
fn regular_file_name(entry: &fs::DirEntry) -> Option<OsString> {
    let file_name = entry.file_name();
    let is_file = entry.file_type().is_ok_and(|kind| kind.is_file());
    (is_file && !is_hidden(&file_name)).then_some(file_name)
}

/// The sizes of the message at `path`, or `None` when it is to be left out
/// of this session.
fn measure_or_skip(path: &Path) -> Option<(u64, u64)> {
    match measure(path) {
        Ok(sizes) => Some(sizes),
        // Taken by another program between listing and reading.
        Err(error) if error.kind() == io::ErrorKind::NotFound => None,
        // One file the server cannot read (mode 000, a FIFO swapped in, a
        // disk error) must not lock the user out of the rest of the mail:
        // it stays where it is, untouched, and the log says which. Quoted
        // and escaped (`{:?}`): a line end in a file name must not forge a
        // log line.
        Err(error) => {
            log::warn!("skipping message {path:?}: {error}");
            None
        }
    }
}

/// Octets on disk and octets as sent (RFC 1939 §11) of one file.
fn measure(path: &Path) -> io::Result<(u64, u64)> {
    let mut file = regular_file::open(path)?;
    let mut buffer = vec![0; 64 * 1024];
    let mut virtual_size = VirtualSize::new();
    let mut file_size = 0u64;
    loop {
        let read = match file.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        virtual_size.update(&buffer[..read]);
        file_size += read as u64;
    }
    Ok((file_size, virtual_size.finish()))
}

fn find_by_unique_part(cur: &Path, unique: &[u8]) -> io::Result<Option<OsString>> {
    for entry in fs::read_dir(cur)? {
        let file_name = entry?.file_name();
        if name::unique_part(&file_name) == unique {
            return Ok(Some(file_name));
        }
    }
    Ok(None)
}
