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
