//! SIGHUP: reading the configuration again, as the user the server runs as,
//! and applying what can change while sessions run, without dropping
//! anyone. The listeners stay; sessions in progress go on with what they
//! started with (a TLS connection with its certificate); new connections
//! and the next check of a limit see the new settings.
//!
//! Reloaded: the TLS certificate and key, the users file (with `-u` users
//! on top, as at start), the admin's password (`-a`, or
//! `admin-password-file`) when there is a users file, and the live
//! settings: max-connections, max-users, max-per-ip, limit-loopback,
//! idle-timeout, login-timeout, auth-failure-delay, max-auth-failures,
//! max-bad-commands-before-login, max-bad-commands and log-level. A file
//! that cannot be read or parsed keeps the old setting, with one error
//! line; a setting that cannot change live (an address, a port, the mail
//! root, the users file's path) keeps its old value, with one warning line. One info line then
//! says what was reloaded.

use std::fmt::Debug;
use std::path::Path;

use rustix::fs::Access;

use crate::accounts::users_file::UsersFile;
use crate::config::{self, Config, ServerInvocation};
use crate::net::tls;
use crate::shared::Shared;

/// Reads the configuration again and applies it to `shared`; `current` is
/// what is in force and becomes the new configuration (less what could
/// not change).
pub fn reload(current: &mut Config, shared: &Shared, users_file: Option<&UsersFile>) {
    let mut new = match config::parse(&current.reload_args.0) {
        Ok(ServerInvocation::Run(config)) => *config,
        Ok(_) => return,
        Err(error) => {
            log::error!("reload failed, keeping the running settings: {error}");
            return;
        }
    };
    keep_fixed_settings(current, &mut new);
    let mut reloaded = Vec::new();
    reload_tls(&new, shared, &mut reloaded);
    reload_users(current, &new, shared, users_file, &mut reloaded);
    apply_live_settings(current, &new, shared, &mut reloaded);
    let (old_level, new_level) = (current.log_level, new.log_level);
    if new_level != old_level {
        reloaded.push(format!("log-level {new_level}"));
    }
    let what = if reloaded.is_empty() { "nothing changed".to_owned() } else { reloaded.join(", ") };
    // The new level first, so nothing logged after this line is filtered
    // by the old one; the line itself goes straight to the logger (which
    // passes every level) so that it shows even when the new level is
    // quieter than info.
    log::set_max_level(new_level);
    log::logger().log(
        &log::Record::builder()
            .level(log::Level::Info)
            .target(module_path!())
            .args(format_args!("reloaded: {what}"))
            .build(),
    );
    *current = new;
}

/// After `--run-as`, one warning for each file a reload (or an MGMT save)
/// needs but `user` cannot use: better said at start than found at the
/// first certificate renewal.
pub fn warn_about_files_out_of_reach(config: &Config, user: &str) {
    let mut needed: Vec<(&Path, Access, &str)> = Vec::new();
    if let Some(path) = &config.config_file {
        needed.push((path, Access::READ_OK, "read"));
    }
    if let Some(files) = &config.tls {
        needed.push((&files.cert, Access::READ_OK, "read"));
        needed.push((&files.key, Access::READ_OK, "read"));
    }
    if let Some(path) = &config.users_file {
        needed.push((path, Access::READ_OK | Access::WRITE_OK, "read and write"));
        // Saved by writing a new file beside it and renaming it over.
        let dir = path.parent().filter(|dir| !dir.as_os_str().is_empty()).unwrap_or(Path::new("."));
        needed.push((dir, Access::WRITE_OK | Access::EXEC_OK, "create files in"));
    }
    for (path, access, what) in needed {
        // access(2) checks the real ids, which are now the new user's.
        if let Err(error) = rustix::fs::access(path, access) {
            log::warn!("{user} cannot {what} {} ({error}): a reload or save will fail", path.display());
        }
    }
}

/// Puts back, with one warning each, the settings a running server cannot
/// change: its sockets, its mail root, its account and how it names users.
fn keep_fixed_settings(current: &Config, new: &mut Config) {
    fn keep<T: PartialEq + Debug + Clone>(key: &str, old: &T, new: &mut T) {
        if old != new {
            log::warn!("reload: {key} cannot change while running (restart pop3d); keeping {old:?}");
            *new = old.clone();
        }
    }
    keep("listen/port", &current.pop3_addrs, &mut new.pop3_addrs);
    keep("tls-port", &current.pop3s_addrs, &mut new.pop3s_addrs);
    keep("mgmt-addr/mgmt-port", &current.mgmt_addr, &mut new.mgmt_addr);
    keep("maildir", &current.mail_root, &mut new.mail_root);
    keep("mail-location", &current.mail_location, &mut new.mail_location);
    keep("password-scheme", &current.password_scheme, &mut new.password_scheme);
    keep("haproxy-trusted-networks", &current.haproxy_trusted_networks, &mut new.haproxy_trusted_networks);
    keep("lock-stale-seconds", &current.lock_stale_after, &mut new.lock_stale_after);
    keep("metrics-addr", &current.metrics_addr, &mut new.metrics_addr);
    keep("users-file", &current.users_file, &mut new.users_file);
    keep("mgmt-tls", &current.mgmt_tls, &mut new.mgmt_tls);
    keep("mgmt-login-timeout", &current.mgmt_login_timeout, &mut new.mgmt_login_timeout);
    keep("run-as", &current.run_as, &mut new.run_as);
    keep("run-as-group", &current.run_as_group, &mut new.run_as_group);
    keep("case-sensitive-users", &current.user_name_case, &mut new.user_name_case);
    keep("uidl-format", &current.uidl_format, &mut new.uidl_format);
    keep("allow-plaintext-auth/require-tls-on-loopback", &current.plaintext_auth, &mut new.plaintext_auth);
    if current.tls.is_some() != new.tls.is_some() {
        log::warn!("reload: TLS cannot be turned on or off while running (restart pop3d)");
        new.tls = current.tls.clone();
    }
    if current.admin.name != new.admin.name {
        log::warn!("reload: the admin's name cannot change while running (restart pop3d)");
        new.admin = current.admin.clone();
        new.admin_is_default = current.admin_is_default;
    }
}

/// Builds the TLS settings from the (possibly renewed) files; a pair that
/// does not load keeps the settings in use.
fn reload_tls(new: &Config, shared: &Shared, reloaded: &mut Vec<String>) {
    let (Some(files), Some(slot)) = (&new.tls, &shared.tls) else { return };
    match tls::server_config(&files.cert, &files.key) {
        Ok(config) => {
            slot.replace(config);
            reloaded.push(format!("TLS certificate {}", files.cert.display()));
        }
        Err(error) => log::error!("reload: TLS: {error}; keeping the certificate in use"),
    }
}

/// Reads the users file again, if it changed on disk, and brings the
/// table in line with it ([`UsersFile::reload`], the same step MGMT takes
/// before each change, under the same lock): accounts keep their ids, so
/// sessions of users who stay go on. A new admin password from the
/// configuration (`-a`, `admin-password-file`) is applied too.
fn reload_users(
    current: &Config,
    new: &Config,
    shared: &Shared,
    users_file: Option<&UsersFile>,
    reloaded: &mut Vec<String>,
) {
    if new.admin.password != current.admin.password
        && shared.users.set_password(new.admin.name.as_str(), new.admin.password.clone()).is_ok()
    {
        reloaded.push("admin password".to_owned());
    }
    let Some(file) = users_file else { return };
    match file.reload(&shared.users) {
        Ok(Some(refresh)) => reloaded.push(format!(
            "users file {} ({} added, {} changed, {} removed)",
            file.path().display(),
            refresh.added,
            refresh.changed,
            refresh.removed
        )),
        Ok(None) => {}
        Err(error) => log::error!("reload: {error}; keeping the users loaded before"),
    }
}

/// Applies each live setting but the log level (which [`reload`] sets
/// last) whose configured value changed, so that a
/// reload does not undo what MGMT set meanwhile (MAX_CONNEC, MAX_USERS)
/// unless the file asks for something new.
fn apply_live_settings(current: &Config, new: &Config, shared: &Shared, reloaded: &mut Vec<String>) {
    if new.max_connections != current.max_connections {
        match shared.connections.set_max(new.max_connections) {
            Ok(()) => reloaded.push(format!("max-connections {}", new.max_connections)),
            Err(error) => log::error!("reload: max-connections {}: {error}", new.max_connections),
        }
    }
    if new.max_users != current.max_users {
        match shared.users.set_max_users(new.max_users) {
            Ok(()) => reloaded.push(format!("max-users {}", new.max_users)),
            Err(error) => log::error!("reload: max-users {}: {error}", new.max_users),
        }
    }
    if (new.max_per_address, new.limit_loopback) != (current.max_per_address, current.limit_loopback) {
        if let Some(per_address) = shared.connections.per_address() {
            per_address.set(new.max_per_address, !new.limit_loopback);
            reloaded.push(format!("max-per-ip {}", new.max_per_address));
        }
    }
    if new.limits != current.limits {
        shared.set_limits(new.limits.clone());
        reloaded.push("session limits".to_owned());
    }
}
