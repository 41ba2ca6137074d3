//! The commands that change accounts: delete one, add one, reset one's
//! password to its name, change the admin's own password; each made in the
//! user table and in the users file, through [`UsersFile::apply`].
//!
//! Every password set here is stored in `--password-scheme`. A change is
//! live as soon as the user table accepts it; if the users file then cannot
//! be written, the admin is told so, and the change stays live. If the file
//! changed on disk and cannot be read again, nothing changes at all.
//!
//! [`UsersFile::apply`]: crate::accounts::users_file::UsersFile::apply

use std::io::Write;

use super::MgmtRequest;
use crate::accounts::users::{Credentials, Password, UserChange, UserName};
use crate::accounts::users_file::ChangeError;
use crate::mgmt::error::MgmtError;
use crate::wire::reply;

pub fn delete_user(request: &MgmtRequest<'_>, name: &str, out: &mut impl Write) -> Result<(), MgmtError> {
    apply(request, UserChange::Delete(name.to_owned()))?;
    log::info!("MGMT {}: user {name} deleted", request.peer);
    Ok(reply::ok(out, format_args!("{} USER DELETED SUCCESSFULLY", request.verb))?)
}

pub fn add_user(
    request: &MgmtRequest<'_>,
    name: UserName,
    password: &Password,
    out: &mut impl Write,
) -> Result<(), MgmtError> {
    let password = request.context.shared.password_scheme.store(password.expose());
    apply(request, UserChange::Add(Credentials { name: name.clone(), password, home: None }))?;
    log::info!("MGMT {}: user {name} added", request.peer);
    Ok(reply::ok(out, format_args!("{} USER ADDED SUCCESSFULLY", request.verb))?)
}

/// Sets the user's password to the user's own name, for them to change.
pub fn reset_user_password(request: &MgmtRequest<'_>, name: &str, out: &mut impl Write) -> Result<(), MgmtError> {
    let password = request.context.shared.password_scheme.store(name);
    apply(request, UserChange::SetPassword(name.to_owned(), password))?;
    log::info!("MGMT {}: password of {name} reset", request.peer);
    Ok(reply::ok(out, format_args!("{} PASSWORD RESET SUCCESSFULLY", request.verb))?)
}

/// Changes the admin's password, if `old` is the current one.
pub fn change_password(
    request: &MgmtRequest<'_>,
    old: &Password,
    new: &Password,
    out: &mut impl Write,
) -> Result<(), MgmtError> {
    let shared = &request.context.shared;
    let admin = shared.users.admin();
    if !shared.users.authenticate_admin(admin.as_str(), old.expose()) {
        return Err(MgmtError::WrongPassword);
    }
    let password = shared.password_scheme.store(new.expose());
    apply(request, UserChange::SetPassword(admin.to_string(), password))?;
    log::info!("MGMT {}: admin password changed", request.peer);
    Ok(reply::ok(out, format_args!("{} PASSWORD CHANGED SUCCESSFULLY", request.verb))?)
}

/// Makes `change` in the user table and, if the server has one, in the
/// users file (read again first if it changed on disk).
fn apply(request: &MgmtRequest<'_>, change: UserChange) -> Result<(), MgmtError> {
    let users = &request.context.shared.users;
    let Some(file) = &request.context.users_file else {
        return Ok(users.apply(&change)?);
    };
    file.apply(users, &change).map_err(|error| match error {
        ChangeError::Table(error) => MgmtError::UserTable(error),
        ChangeError::Reread(error) => {
            log::error!("users file {} not changed: {error}", file.path().display());
            MgmtError::FileUnreadable
        }
        ChangeError::NotSaved(error) => {
            log::error!("cannot save users file {}: {error}", file.path().display());
            MgmtError::NotSaved(error)
        }
    })
}
