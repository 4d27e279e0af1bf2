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

/// Production's file under another name is refused at `env add`, with both names.
#[test]
fn production_under_another_name_is_never_registered_as_a_sandbox() {
    let home = Home::new();
    let dir = home.path("");
    let prod = home.path("prod.db");
    std::fs::create_dir(home.path("real")).unwrap();
    std::fs::hard_link(&prod, home.path("real/linked.db")).unwrap();
    std::os::unix::fs::symlink(&dir, home.path("alias")).unwrap();
    let dotted = dir.join("real/../prod.db");
    let through_link = home.path("alias/prod.db");
    let hard_link = home.path("real/linked.db");
    for path in [&dotted, &through_link, &hard_link] {
        let path = path.to_str().unwrap();
        let stderr = home.fails(&["env", "add", "evil", "--kind", "sandbox", "--sqlite", path]);
        assert!(
            stderr.contains("`evil` is the same database as production environment `prod`"),
            "{path}: {stderr}"
        );
    }
    let envs = home.ok(&["env", "list"]);
    assert!(!envs.contains("evil"), "{envs}");
}

/// A sandbox whose file became production's after it was registered (a hard link put
/// in its place) is refused by the refresh's checks, and production is untouched.
#[test]
fn a_refresh_never_writes_production_under_a_sandbox_name() {
    let home = Home::new();
    let prod = home.path("prod.db");
    let before = std::fs::read(&prod).unwrap();
    home.ok(&[
        "env",
        "add",
        "train",
        "--kind",
        "sandbox",
        "--sqlite",
        home.path("train.db").to_str().unwrap(),
    ]);
    std::fs::hard_link(&prod, home.path("train.db")).unwrap();
    let stderr = home.fails(&["refresh", "--from", "uat", "--to", "train", "--yes"]);
    assert!(
        stderr.contains("`train` is the same database as production environment `prod`"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read(&prod).unwrap(),
        before,
        "production was written"
    );
}

/// A SQLite target that is a symbolic link is refused; the link stays a link.
#[test]
fn a_symlinked_target_is_refused_and_the_link_kept() {
    let home = Home::new();
    let uat = home.path("uat.db");
    std::fs::rename(&uat, home.path("elsewhere.db")).unwrap();
    std::os::unix::fs::symlink(home.path("elsewhere.db"), &uat).unwrap();
    let stderr = home.fails(&["refresh", "--from", "prod", "--to", "uat", "--yes"]);
    assert!(stderr.contains("is a symbolic link to"), "{stderr}");
    assert!(
        std::fs::symlink_metadata(&uat)
            .unwrap()
            .file_type()
            .is_symlink()
    );
}
