//! Maildir storage: the on-disk side of a maildrop.
//!
//! Owns file names, sizes, the cross-process maildrop lock, the one way a
//! file on disk is opened for reading ([`regular_file`]), and the only code
//! that ever removes a message file. Knows nothing of sockets or of the POP3
//! protocol beyond RFC 1939's notion of a locked, numbered maildrop.

pub mod lock;
pub mod maildrop;
pub mod name;
pub mod regular_file;
pub mod size;
