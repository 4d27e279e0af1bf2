//! A `DATAALM_HOME` of its own for one test, with a production and a sandbox finance
//! sample registered, and the `dataalm` binary run in it.

use assert_cmd::Command;
use std::path::PathBuf;

pub struct Home {
    pub dir: tempfile::TempDir,
}

impl Home {
    /// A home with `prod` and `uat` finance samples registered and the demo plan set.
    pub fn new() -> Home {
        let home = Home {
            dir: tempfile::tempdir().unwrap(),
        };
        home.ok(&[
            "sample",
            "create",
            "--sqlite",
            home.path("prod.db").to_str().unwrap(),
            "--role",
            "production",
            "--size",
            "3MB",
        ]);
        home.ok(&[
            "sample",
            "create",
            "--sqlite",
            home.path("uat.db").to_str().unwrap(),
            "--role",
            "uat",
            "--size",
            "2MB",
            "--seed",
            "2",
        ]);
        home.ok(&[
            "env",
            "add",
            "prod",
            "--kind",
            "production",
            "--sqlite",
            home.path("prod.db").to_str().unwrap(),
        ]);
        home.ok(&[
            "env",
            "add",
            "uat",
            "--kind",
            "sandbox",
            "--sqlite",
            home.path("uat.db").to_str().unwrap(),
        ]);
        std::fs::write(
            home.path("plan.toml"),
            dataalm_finance::demo_plan().to_toml(),
        )
        .unwrap();
        home.ok(&[
            "plan",
            "set",
            "uat",
            home.path("plan.toml").to_str().unwrap(),
        ]);
        home
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::cargo_bin("dataalm").unwrap();
        cmd.env("DATAALM_HOME", self.path("home"))
            .env_remove("DATAALM_FAILPOINT")
            .args(args);
        cmd
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.cmd(args).output().unwrap();
        assert!(
            out.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.cmd(args).output().unwrap();
        assert!(!out.status.success(), "{args:?} should have failed");
        String::from_utf8(out.stderr).unwrap()
    }

    pub fn latest_op(&self) -> serde_json::Value {
        let ops: serde_json::Value = serde_json::from_str(&self.ok(&["status", "--json"])).unwrap();
        ops[0].clone()
    }
}
