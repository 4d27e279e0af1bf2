//! The `dataalm` binary against a careless operator and a hostile input: what issue 10's
//! checks promise, end to end.

mod common;

use common::Home;
use std::process::Stdio;

/// `dataalm history | head` must end quietly when `head` stops reading.
#[test]
fn a_reader_that_goes_away_ends_the_output_quietly() {
    let home = Home::new();
    home.ok(&["refresh", "--from", "prod", "--to", "uat", "--yes"]);
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    for args in [&["history"][..], &["env", "list"], &["status"]] {
        let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("dataalm"))
            .env("DATAALM_HOME", home.path("home"))
            .args(args)
            .stdout(Stdio::from(writer.try_clone().unwrap()))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {:?} {stderr}", out.status);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

/// The home directory and the control plane are private to their owner, and a file
/// an older dataalm left readable is narrowed on the next open.
#[test]
fn the_home_and_the_control_plane_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let home = Home::new();
    let mode = |name: &str| {
        std::fs::metadata(home.path(name))
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("home"), 0o700);
    for file in ["home/control.db", "home/control.db-wal"] {
        if home.path(file).exists() {
            assert_eq!(mode(file), 0o600, "{file}");
        }
    }
    let db = home.path("home/control.db");
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    home.ok(&["env", "list"]);
    assert_eq!(mode("home/control.db"), 0o600);
}
