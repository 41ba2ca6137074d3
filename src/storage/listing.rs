//! The numbered message list of a maildrop, stored compactly: what a
//! logged-in session keeps of its messages, and what the listing cache
//! ([`super::listing_cache`]) shares between successive logins.
//!
//! A session on a 1,000-message maildrop holds 1,000 entries, and 10,000
//! such sessions must fit in a few GiB, so a message costs one fixed-size
//! `Entry` (two sizes and three offsets, 32 octets) plus its name, and
//! every name sits in one shared buffer, not an allocation of its own. A
//! UIDL that is the unique part of the file name (pop3d's default `%f`)
//! points into the name; any other is appended to the same buffer. A
//! [`Listing`] never changes once built: marks for deletion and files
//! renamed behind the session's back are the session's own
//! ([`super::maildrop::Maildrop`]).

use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;

use super::name;

/// One message as it is put into a [`Listing`], in message-number order.
#[derive(Debug, Clone, Copy)]
pub struct ListedMessage<'a> {
    /// File name in cur/ (any bytes).
    pub file_name: &'a [u8],
    /// The RFC 1939 §7 unique-id: printable ASCII, as `name::legal_uidl`
    /// makes it.
    pub uidl: &'a str,
    /// Octets as RETR sends them before byte-stuffing (RFC 1939 §11).
    pub size: u64,
    /// Octets on disk, to notice a file rewritten behind our back.
    pub file_size: u64,
}

/// Where one message's strings are in [`Listing::text`], and its sizes.
#[derive(Debug, Clone, Copy)]
struct Entry {
    /// The file name ends here; it starts where the previous entry's ends.
    name_end: u32,
    uidl_start: u32,
    uidl_end: u32,
    size: u64,
    file_size: u64,
}

/// The messages of a maildrop, numbered from 1 in order.
#[derive(Debug, Default)]
pub struct Listing {
    /// Every file name back to back, then the UIDLs that are not a name's
    /// unique part.
    text: Box<[u8]>,
    entries: Box<[Entry]>,
    /// Sum of `size` over all entries.
    total_size: u64,
}

impl Listing {
    /// The listing of `messages`, numbered in the order given.
    ///
    /// # Errors
    ///
    /// When the names and ids together pass 4 GiB, more than the offsets
    /// can address (millions of messages: no Maildir gets there).
    pub fn build(messages: &[ListedMessage<'_>]) -> io::Result<Self> {
        let names: usize = messages.iter().map(|message| message.file_name.len()).sum();
        let mut text = Vec::with_capacity(names);
        for message in messages {
            text.extend_from_slice(message.file_name);
        }
        let mut entries = Vec::with_capacity(messages.len());
        let mut name_start = 0usize;
        for message in messages {
            let name_end = name_start + message.file_name.len();
            let unique = name::unique_part(OsStr::from_bytes(message.file_name));
            let (uidl_start, uidl_end) = if unique == message.uidl.as_bytes() {
                (name_start, name_start + unique.len())
            } else {
                let start = text.len();
                text.extend_from_slice(message.uidl.as_bytes());
                (start, text.len())
            };
            entries.push(Entry {
                name_end: offset(name_end)?,
                uidl_start: offset(uidl_start)?,
                uidl_end: offset(uidl_end)?,
                size: message.size,
                file_size: message.file_size,
            });
            name_start = name_end;
        }
        // Checked last: the largest offset is the buffer's end.
        offset(text.len())?;
        let total_size = messages.iter().map(|message| message.size).sum();
        Ok(Self { text: text.into_boxed_slice(), entries: entries.into_boxed_slice(), total_size })
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Sum of the sizes (as RETR sends them) of every message.
    pub fn total_size(&self) -> u64 {
        self.total_size
    }

    /// The file name of message `index` (from 0) when the maildrop was
    /// listed.
    pub fn file_name(&self, index: usize) -> &OsStr {
        let start = match index {
            0 => 0,
            _ => self.entries[index - 1].name_end as usize,
        };
        OsStr::from_bytes(&self.text[start..self.entries[index].name_end as usize])
    }

    /// The unique-id of message `index` (from 0): printable ASCII octets.
    pub fn uidl(&self, index: usize) -> &[u8] {
        let entry = &self.entries[index];
        &self.text[entry.uidl_start as usize..entry.uidl_end as usize]
    }

    /// Octets as RETR sends message `index` (from 0), before byte-stuffing.
    pub fn size(&self, index: usize) -> u64 {
        self.entries[index].size
    }

    /// Octets of the file of message `index` (from 0) as listed.
    pub fn file_size(&self, index: usize) -> u64 {
        self.entries[index].file_size
    }

    /// Octets of memory this listing holds: what a session (or the cache)
    /// pays for it.
    pub fn heap_size(&self) -> usize {
        self.text.len() + std::mem::size_of_val::<[Entry]>(&self.entries) + std::mem::size_of::<Self>()
    }
}

fn offset(at: usize) -> io::Result<u32> {
    u32::try_from(at).map_err(|_| io::Error::other("maildrop listing too large (names pass 4 GiB)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed<'a>(file_name: &'a [u8], uidl: &'a str, size: u64) -> ListedMessage<'a> {
        ListedMessage { file_name, uidl, size, file_size: size - 1 }
    }

    #[test]
    fn names_ids_and_sizes_come_back_as_put_in() {
        let names: [&[u8]; 3] = [b"1.a,S=9:2,S", b"2.b\xff:2,", b"3.c"];
        let messages = [listed(names[0], "1.a,S=9", 10), listed(names[1], "Hx", 20), listed(names[2], "3.c", 30)];
        let listing = Listing::build(&messages).unwrap();
        assert_eq!(listing.len(), 3);
        assert_eq!(listing.total_size(), 60);
        for (index, message) in messages.iter().enumerate() {
            assert_eq!(listing.file_name(index).as_bytes(), message.file_name);
            assert_eq!(listing.uidl(index), message.uidl.as_bytes());
            assert_eq!(listing.size(index), message.size);
            assert_eq!(listing.file_size(index), message.file_size);
        }
        // Only the one UIDL that is not a unique part takes room of its own.
        let names_len: usize = names.iter().map(|name| name.len()).sum();
        assert_eq!(listing.text.len(), names_len + 2);
    }

    #[test]
    fn an_empty_maildrop_lists_nothing() {
        let listing = Listing::build(&[]).unwrap();
        assert!(listing.is_empty());
        assert_eq!(listing.total_size(), 0);
    }
}
