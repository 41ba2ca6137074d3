//! Maildir storage: the on-disk side of a maildrop.
//!
//! Owns where each user's Maildir is ([`mail_location`]), file names,
//! sizes, the cross-process maildrop lock, the compact message list of a
//! session ([`listing`]) and the cache that hands it to the next login
//! while cur/ and new/ are unchanged ([`listing_cache`]), the one way a
//! file on disk is opened for reading ([`regular_file`]), the only code
//! that ever removes a message file, and what pop3d shares with Dovecot on
//! the same Maildir: its UIDL formats ([`uidl_format`]), its
//! `dovecot-uidlist` ([`uidlist`]) and that file's lock ([`uidlist_lock`]).
//! Knows nothing of sockets or of the POP3
//! protocol beyond RFC 1939's notion of a locked, numbered maildrop.
//!
//! Whatever is on disk may be hostile: whoever can write into a Maildir can
//! put a symbolic link, a FIFO, an unreadable file, a name that is not
//! UTF-8 or garbage in the lock there. None of it may leak a file from
//! outside the mail root, hang a session, or lock the user out of the rest
//! of the mail.

pub mod listing;
pub mod listing_cache;
pub mod lock;
pub mod mail_location;
pub mod maildrop;
pub mod name;
pub mod regular_file;
pub mod size;
pub mod uidl_format;
pub mod uidlist;
pub mod uidlist_lock;
