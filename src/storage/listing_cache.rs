//! The listing cache: a login to a maildrop whose cur/ and new/ have not
//! changed since an earlier login reuses that login's [`Listing`] instead
//! of reading, parsing and sorting cur/ again (Dovecot's maildir sync skips
//! its scan the same way).
//!
//! A Maildir changes only by adding, removing or renaming entries of cur/
//! and new/, and each such change sets the directory's modification and
//! change times (mtime, ctime). An entry is therefore kept with a
//! [`DirStamps`] of both directories (device, inode, mtime and ctime to the
//! nanosecond, taken *before* the directories were read) and served only
//! while a fresh stamp is equal. Three things make that safe:
//! - A file system's clock ticks coarsely (a few ms on ext4, 2 s on FAT):
//!   a change in the same tick as the stamp would leave the stamp as it
//!   was. So a listing is stored only if every time in its stamp is at
//!   least [`SETTLE`] older than the moment the stamp was taken; any change
//!   after that moment gets a later time.
//! - ctime cannot be set back by a program (mtime can, with `utime`).
//! - Only a complete listing is stored: every size from a file name, no
//!   file left out (a skipped unreadable file may become readable without
//!   its directory changing) and new/ empty.
//!
//! The cache is bounded: at most [`MAX_CACHED_MESSAGES`] messages in all
//! and [`MAX_CACHED_MAILDROPS`] maildrops; the least recently used entry
//! goes first. A session holds its own reference to its listing, so an
//! entry's eviction never touches a session that uses it.
//!
//! It is one per process (like the page cache it is a view of the file
//! system, valid for any caller), keyed by the cur/ path and the UIDL
//! format the listing was made with.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;

use super::listing::Listing;

/// How much older than the moment of the stamp every time in it must be
/// for the listing to be stored: more than any file system's tick.
pub const SETTLE: Duration = Duration::from_secs(2);
/// Messages in all cached listings, at most (some 100 octets each).
pub const MAX_CACHED_MESSAGES: usize = 500_000;
/// Maildrops cached, at most.
pub const MAX_CACHED_MAILDROPS: usize = 10_000;

/// One directory's identity and times, to the nanosecond.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DirStamp {
    dev: u64,
    ino: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl DirStamp {
    fn of(dir: &Path) -> io::Result<Self> {
        let meta = fs::metadata(dir)?;
        Ok(Self {
            dev: meta.dev(),
            ino: meta.ino(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        })
    }

    /// The later of mtime and ctime.
    fn latest(&self) -> (i64, i64) {
        self.mtime.max(self.ctime)
    }
}

/// The stamps of a Maildir's cur/ and new/, and when they were taken.
#[derive(Debug, Clone, Copy)]
pub struct DirStamps {
    cur: DirStamp,
    new: DirStamp,
    /// The clock just before the directories were looked at.
    taken: (i64, i64),
}

impl DirStamps {
    /// Stamps `cur` and `new` now.
    pub fn take(cur: &Path, new: &Path) -> io::Result<Self> {
        let taken = seconds_and_nanos(SystemTime::now());
        Ok(Self { cur: DirStamp::of(cur)?, new: DirStamp::of(new)?, taken })
    }

    /// Whether both directories are the ones stamped, unchanged.
    fn same_directories(&self, other: &DirStamps) -> bool {
        self.cur == other.cur && self.new == other.new
    }

    /// Whether every time in the stamps is at least `settle` older than
    /// the moment they were taken: a later change cannot share its tick.
    fn settled(&self, settle: Duration) -> bool {
        let latest = self.cur.latest().max(self.new.latest());
        let settle = (settle.as_secs() as i64, i64::from(settle.subsec_nanos()));
        let mut limit = (self.taken.0 - settle.0, self.taken.1 - settle.1);
        if limit.1 < 0 {
            limit = (limit.0 - 1, limit.1 + 1_000_000_000);
        }
        latest <= limit
    }
}

fn seconds_and_nanos(time: SystemTime) -> (i64, i64) {
    match time.duration_since(UNIX_EPOCH) {
        Ok(since) => (since.as_secs() as i64, i64::from(since.subsec_nanos())),
        // A clock before 1970 settles nothing.
        Err(_) => (i64::MIN / 2, 0),
    }
}

#[derive(Debug)]
struct Entry {
    stamps: DirStamps,
    listing: Arc<Listing>,
    /// The cache's use counter when it was last stored or served.
    used: u64,
}

/// Listings by (cur/ path, UIDL format), bounded as the limits say.
#[derive(Debug)]
pub struct ListingCache {
    entries: HashMap<(PathBuf, String), Entry>,
    messages: usize,
    uses: u64,
    settle: Duration,
    max_messages: usize,
    max_maildrops: usize,
}

impl ListingCache {
    pub fn new(settle: Duration, max_messages: usize, max_maildrops: usize) -> Self {
        Self { entries: HashMap::new(), messages: 0, uses: 0, settle, max_messages, max_maildrops }
    }

    /// The process's cache, with [`SETTLE`] and the `MAX_CACHED_*` limits.
    pub fn global() -> &'static Mutex<ListingCache> {
        static CACHE: OnceLock<Mutex<ListingCache>> = OnceLock::new();
        CACHE.get_or_init(|| Mutex::new(ListingCache::new(SETTLE, MAX_CACHED_MESSAGES, MAX_CACHED_MAILDROPS)))
    }

    /// The listing stored for `cur` and `format` if the directories are
    /// still exactly as `stamps` (just taken) finds them.
    pub fn lookup(&mut self, cur: &Path, format: &str, stamps: &DirStamps) -> Option<Arc<Listing>> {
        self.uses += 1;
        let key = (cur.to_owned(), format.to_owned());
        let entry = self.entries.get_mut(&key)?;
        if !entry.stamps.same_directories(stamps) {
            let stale = self.entries.remove(&key).expect("just found");
            self.messages -= stale.listing.len();
            return None;
        }
        entry.used = self.uses;
        Some(Arc::clone(&entry.listing))
    }

    /// Keeps `listing`, made from the directories as `stamps` (taken
    /// before they were read) found them, unless the stamps are too recent
    /// to be trusted or the listing is too large for the cache.
    pub fn store(&mut self, cur: &Path, format: &str, stamps: DirStamps, listing: &Arc<Listing>) {
        let key = (cur.to_owned(), format.to_owned());
        if let Some(old) = self.entries.remove(&key) {
            self.messages -= old.listing.len();
        }
        if !stamps.settled(self.settle) || listing.len() > self.max_messages || self.max_maildrops == 0 {
            return;
        }
        while self.messages + listing.len() > self.max_messages || self.entries.len() >= self.max_maildrops {
            self.evict_least_recently_used();
        }
        self.uses += 1;
        self.messages += listing.len();
        self.entries.insert(key, Entry { stamps, listing: Arc::clone(listing), used: self.uses });
    }

    fn evict_least_recently_used(&mut self) {
        let Some(oldest) = self.entries.iter().min_by_key(|(_, entry)| entry.used).map(|(key, _)| key.clone()) else {
            return;
        };
        let entry = self.entries.remove(&oldest).expect("just found");
        self.messages -= entry.listing.len();
    }

    /// Maildrops and messages cached now.
    pub fn size(&self) -> (usize, usize) {
        (self.entries.len(), self.messages)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::listing::ListedMessage;

    fn listing(messages: usize) -> Arc<Listing> {
        let names: Vec<String> = (0..messages).map(|i| format!("{i}.x")).collect();
        let listed: Vec<ListedMessage<'_>> = names
            .iter()
            .map(|name| ListedMessage { file_name: name.as_bytes(), uidl: name, size: 1, file_size: 1 })
            .collect();
        Arc::new(Listing::build(&listed).unwrap())
    }

    fn stamp(ino: u64, mtime: i64) -> DirStamp {
        DirStamp { dev: 1, ino, mtime: (mtime, 0), ctime: (mtime, 0) }
    }

    fn stamps(cur_mtime: i64, taken: i64) -> DirStamps {
        DirStamps { cur: stamp(1, cur_mtime), new: stamp(2, 100), taken: (taken, 0) }
    }

    #[test]
    fn a_stamp_is_trusted_only_once_the_times_in_it_are_settled() {
        assert!(stamps(1000, 1002).settled(SETTLE));
        assert!(!stamps(1000, 1001).settled(SETTLE));
        // A change within the same second as the stamp: never trusted.
        assert!(!stamps(1000, 1000).settled(SETTLE));
        let mut recent_ctime = stamps(1000, 1010);
        recent_ctime.new.ctime = (1009, 500_000_000);
        assert!(!recent_ctime.settled(SETTLE));
        let mut nanos = stamps(1000, 1002);
        nanos.cur.mtime = (1000, 1);
        assert!(!nanos.settled(SETTLE), "1 ns short of two seconds");
    }

    #[test]
    fn served_only_while_both_directories_are_unchanged() {
        let mut cache = ListingCache::new(SETTLE, 100, 10);
        let cur = Path::new("/m/cur");
        cache.store(cur, "%f", stamps(1000, 2000), &listing(3));
        assert_eq!(cache.lookup(cur, "%f", &stamps(1000, 3000)).map(|l| l.len()), Some(3));
        assert!(cache.lookup(cur, "%v", &stamps(1000, 3000)).is_none(), "another UIDL format");
        let mut new_changed = stamps(1000, 3000);
        new_changed.new.ctime.1 += 1;
        assert!(cache.lookup(cur, "%f", &new_changed).is_none());
        // A miss drops the entry: the old directory state is gone for good.
        assert!(cache.lookup(cur, "%f", &stamps(1000, 3000)).is_none());
        assert_eq!(cache.size(), (0, 0));
    }

    #[test]
    fn a_replaced_directory_is_a_miss_even_with_the_same_times() {
        let mut cache = ListingCache::new(SETTLE, 100, 10);
        let cur = Path::new("/m/cur");
        cache.store(cur, "%f", stamps(1000, 2000), &listing(1));
        let mut other_inode = stamps(1000, 3000);
        other_inode.cur.ino = 99;
        assert!(cache.lookup(cur, "%f", &other_inode).is_none());
    }

    #[test]
    fn unsettled_listings_are_not_stored() {
        let mut cache = ListingCache::new(SETTLE, 100, 10);
        cache.store(Path::new("/m/cur"), "%f", stamps(1000, 1001), &listing(1));
        assert_eq!(cache.size(), (0, 0));
    }

    #[test]
    fn bounded_by_messages_and_maildrops_least_recently_used_first() {
        let mut cache = ListingCache::new(SETTLE, 10, 3);
        let path = |i: usize| PathBuf::from(format!("/m{i}/cur"));
        for i in 0..3 {
            cache.store(&path(i), "%f", stamps(1000, 2000), &listing(3));
        }
        assert_eq!(cache.size(), (3, 9));
        assert!(cache.lookup(&path(0), "%f", &stamps(1000, 2000)).is_some());
        // A fourth maildrop: the least recently used (1) goes.
        cache.store(&path(3), "%f", stamps(1000, 2000), &listing(3));
        assert_eq!(cache.size(), (3, 9));
        assert!(cache.lookup(&path(1), "%f", &stamps(1000, 2000)).is_none());
        // Too many messages: 2 goes, then 0 (3 was used last).
        cache.store(&path(4), "%f", stamps(1000, 2000), &listing(7));
        assert!(cache.size().1 <= 10);
        assert!(cache.lookup(&path(4), "%f", &stamps(1000, 2000)).is_some());
        assert!(cache.lookup(&path(2), "%f", &stamps(1000, 2000)).is_none());
        // Larger than the whole cache: not kept, nothing else evicted.
        let before = cache.size();
        cache.store(&path(5), "%f", stamps(1000, 2000), &listing(11));
        assert_eq!(cache.size(), before);
    }
}
