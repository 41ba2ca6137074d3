//! Accounts: who may log in and with which password, and the users file
//! they are loaded from and saved to.

pub mod crypt;
pub mod password;
pub mod schemes;
pub mod users;
pub mod users_file;
