//! What `make install` ships: the man pages (complete, and rendering
//! without warnings), the systemd unit (as `systemd-analyze verify` sees
//! it), and an installed tree whose binary runs with the installed sample
//! configuration.

mod common;

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

use common::{run_binary, wait_bounded, TestServer};

const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");

fn repo_file(path: &str) -> String {
    fs::read_to_string(Path::new(MANIFEST_DIR).join(path)).unwrap()
}

/// The long options a `--help` text lists, as `--name`.
fn long_options(help: &str) -> Vec<String> {
    let mut options = Vec::new();
    for line in help.lines().filter(|line| line.trim_start().starts_with('-')) {
        // The option names come before the description, two spaces on.
        let names = line.trim_start().split("  ").next().unwrap_or_default();
        for word in names.split(|c: char| c.is_whitespace() || c == ',') {
            // A wrapped description may start a line with "--name)".
            let word = word.trim_end_matches(|c: char| !(c.is_ascii_alphanumeric() || c == '-'));
            let name = word.trim_start_matches("--");
            if word.starts_with("--") && !name.is_empty() && !options.contains(&word.to_owned()) {
                options.push(word.to_owned());
            }
        }
    }
    options
}

/// Every long option of `pop3d --help` and `admin_monitor --help` is in
/// its man page, so the pages cannot fall behind the code.
#[test]
fn the_man_pages_list_every_long_option() {
    for (binary, page) in
        [(env!("CARGO_BIN_EXE_pop3d"), "man/pop3d.8"), (env!("CARGO_BIN_EXE_admin_monitor"), "man/admin_monitor.1")]
    {
        let help = run_binary(binary, &["--help"]);
        assert_eq!(help.status, 0, "{help:?}");
        let options = long_options(&help.stdout);
        assert!(options.len() >= 3, "{binary}: {options:?}");
        let roff = repo_file(page);
        for option in options {
            assert!(roff.contains(&option.replace('-', "\\-")), "{page} does not document {option}");
        }
    }
}

/// `man -l` renders both pages without a warning.
#[test]
fn the_man_pages_render_without_warnings() {
    for page in ["man/pop3d.8", "man/admin_monitor.1"] {
        let output = Command::new("man")
            .args(["--warnings", "-l"])
            .arg(Path::new(MANIFEST_DIR).join(page))
            .env("MANWIDTH", "80")
            .env("MAN_KEEP_FORMATTING", "")
            .stdin(Stdio::null())
            .output()
            .expect("man is needed (apt-get install man-db)");
        assert!(output.status.success(), "{page}: {output:?}");
        let warnings = String::from_utf8_lossy(&output.stderr);
        assert!(warnings.trim().is_empty(), "{page}:\n{warnings}");
        assert!(String::from_utf8_lossy(&output.stdout).contains("SYNOPSIS"), "{page} did not render");
    }
}

/// Runs `make install` into `destdir` with PREFIX=/usr. The binaries are
/// the ones this test run was built with (`CARGO=true` skips the build
/// step: a cargo build now would wait on the one running these tests).
fn make_install(destdir: &Path) {
    let built = Path::new(env!("CARGO_BIN_EXE_pop3d")).parent().unwrap();
    let child = Command::new("make")
        .arg("-s")
        .arg("install")
        .arg(format!("DESTDIR={}", destdir.display()))
        .arg("PREFIX=/usr")
        .arg("CARGO=true")
        .arg(format!("RELEASE_DIR={}", built.display()))
        .current_dir(MANIFEST_DIR)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("make is needed");
    let output = wait_bounded(child, "make install");
    assert!(output.status.success(), "make install: {}", String::from_utf8_lossy(&output.stderr));
}

/// `text` with each `key = value` line of `settings` given the new value.
fn with_settings(text: &str, settings: &[(&str, String)]) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let key = line.split('=').next().unwrap_or_default().trim();
        match settings.iter().find(|(name, _)| *name == key) {
            Some((name, value)) if line.contains('=') && !line.starts_with('#') => {
                out.push_str(&format!("{name} = {value}\n"));
            }
            _ => out.push_str(&format!("{line}\n")),
        }
    }
    out
}

/// `make install DESTDIR=... PREFIX=/usr` lays out the tree; the unit
/// passes `systemd-analyze verify`; the installed binary starts with the
/// installed configuration (its paths and ports pointed at the test's) and
/// serves a login; a second install keeps the edited configuration.
#[test]
fn make_install_then_run_the_installed_server() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    make_install(&root);
    for installed in [
        "usr/sbin/pop3d",
        "usr/bin/admin_monitor",
        "usr/share/man/man8/pop3d.8",
        "usr/share/man/man1/admin_monitor.1",
        "usr/lib/systemd/system/pop3d.service",
        "etc/pop3d.conf",
    ] {
        assert!(root.join(installed).is_file(), "{installed} was not installed");
    }
    let unit = fs::read_to_string(root.join("usr/lib/systemd/system/pop3d.service")).unwrap();
    assert!(unit.contains("\nExecStart=/usr/sbin/pop3d --config /etc/pop3d.conf\n"), "{unit}");
    verify_unit(&root, &unit);

    let cert = common::TestCertificate::new();
    let users = dir.path().join("users");
    fs::write(&users, "alice:{PLAIN}alice-pw\n").unwrap();
    let admin_pw = dir.path().join("admin.pw");
    fs::write(&admin_pw, "admin-secret\n").unwrap();
    let mail = dir.path().join("mail");
    let settings = [
        ("listen", "127.0.0.1".to_owned()),
        ("port", "0".to_owned()),
        ("tls-port", "0".to_owned()),
        ("mgmt-port", "0".to_owned()),
        ("maildir", mail.display().to_string()),
        ("users-file", users.display().to_string()),
        ("tls-cert", cert.cert.display().to_string()),
        ("tls-key", cert.key.display().to_string()),
        ("admin-password-file", admin_pw.display().to_string()),
    ];
    let installed_config = fs::read_to_string(root.join("etc/pop3d.conf")).unwrap();
    let config = dir.path().join("pop3d.conf");
    fs::write(&config, with_settings(&installed_config, &settings)).unwrap();
    let mut command = Command::new(root.join("usr/sbin/pop3d"));
    command.arg("--config").arg(&config);
    let server = TestServer::spawn(command, tempfile::tempdir().unwrap(), mail);
    assert!(server.pop3s.is_some(), "POP3S as the sample asks");
    let mut alice = server.login("alice", "alice-pw");
    assert!(alice.command("QUIT").starts_with("+OK"));
    let mut admin = server.admin_as("admin", "admin-secret");
    assert_eq!(admin.command("STATUS"), "+OK STATUS");

    fs::write(root.join("etc/pop3d.conf"), "# edited by the administrator\n").unwrap();
    make_install(&root);
    assert_eq!(fs::read_to_string(root.join("etc/pop3d.conf")).unwrap(), "# edited by the administrator\n");
}

/// `systemd-analyze verify` on the installed unit, its ExecStart pointed
/// into the staging tree (where the binary is) and man looking there too
/// (for `Documentation=man:pop3d(8)`).
fn verify_unit(root: &Path, unit: &str) {
    let Ok(found) = Command::new("systemd-analyze").arg("--version").stdout(Stdio::null()).status() else {
        eprintln!("skipped systemd-analyze verify: systemd-analyze is missing (apt-get install systemd)");
        return;
    };
    assert!(found.success());
    let staged = tempfile::tempdir().unwrap();
    let unit_path = staged.path().join("pop3d.service");
    let staged_binary = format!("ExecStart={}/usr/sbin/pop3d ", root.display());
    fs::write(&unit_path, unit.replace("ExecStart=/usr/sbin/pop3d ", &staged_binary)).unwrap();
    let child = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit_path)
        .env("MANPATH", root.join("usr/share/man"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let output = wait_bounded(child, "systemd-analyze verify");
    let said = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success() && said.trim().is_empty(), "systemd-analyze verify:\n{said}");
}
