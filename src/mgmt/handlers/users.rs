//! The commands that change accounts: delete one, add one, reset one's
//! password to its name, change the admin's own password; and saving the
//! users file after each change.
//!
//! Every password set here is stored hashed. A change is live as soon as
//! the user table accepts it; if the users file then cannot be written,
//! the admin is told so, and the change stays live.

use std::io::Write;

use super::MgmtRequest;
use crate::accounts::password::StoredPassword;
use crate::accounts::users::{Credentials, Password, UserName};
use crate::mgmt::error::MgmtError;
use crate::wire::reply;

pub fn delete_user(request: &MgmtRequest<'_>, name: &str, out: &mut impl Write) -> Result<(), MgmtError> {
    request.context.shared.users.delete(name)?;
    log::info!("MGMT {}: user {name} deleted", request.peer);
    save_users_file(request)?;
    Ok(reply::ok(out, format_args!("{} USER DELETED SUCCESSFULLY", request.verb))?)
}

pub fn add_user(
    request: &MgmtRequest<'_>,
    name: UserName,
    password: &Password,
    out: &mut impl Write,
) -> Result<(), MgmtError> {
    let credentials = Credentials { name: name.clone(), password: StoredPassword::hash(password.expose()) };
    request.context.shared.users.add(credentials)?;
    log::info!("MGMT {}: user {name} added", request.peer);
    save_users_file(request)?;
    Ok(reply::ok(out, format_args!("{} USER ADDED SUCCESSFULLY", request.verb))?)
}

/// Sets the user's password to the user's own name, for them to change.
pub fn reset_user_password(request: &MgmtRequest<'_>, name: &str, out: &mut impl Write) -> Result<(), MgmtError> {
    request.context.shared.users.set_password(name, StoredPassword::hash(name))?;
    log::info!("MGMT {}: password of {name} reset", request.peer);
    save_users_file(request)?;
    Ok(reply::ok(out, format_args!("{} PASSWORD RESET SUCCESSFULLY", request.verb))?)
}

/// Changes the admin's password, if `old` is the current one.
pub fn change_password(
    request: &MgmtRequest<'_>,
    old: &Password,
    new: &Password,
    out: &mut impl Write,
) -> Result<(), MgmtError> {
    let users = &request.context.shared.users;
    let admin = users.admin();
    if !users.authenticate_admin(admin.as_str(), old.expose()) {
        return Err(MgmtError::WrongPassword);
    }
    users.set_password(admin.as_str(), StoredPassword::hash(new.expose()))?;
    log::info!("MGMT {}: admin password changed", request.peer);
    save_users_file(request)?;
    Ok(reply::ok(out, format_args!("{} PASSWORD CHANGED SUCCESSFULLY", request.verb))?)
}

/// Writes the users file after a change, if the server has one.
fn save_users_file(request: &MgmtRequest<'_>) -> Result<(), MgmtError> {
    let users_file = request.context.users_file.lock();
    let Some(file) = &*users_file else {
        return Ok(());
    };
    file.save(&request.context.shared.users).map_err(|error| {
        log::error!("cannot save users file {}: {error}", file.path().display());
        MgmtError::NotSaved(error)
    })
}
