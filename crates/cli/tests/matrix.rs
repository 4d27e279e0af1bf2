//! The end-to-end cases of a refresh, each run on every engine (SQLite, PostgreSQL) with
//! the control plane in each (a SQLite file, a PostgreSQL database): refresh to sign-off,
//! a crash in the middle of the copy then resume, a crash then rollback, and a panic in
//! a step, which is recorded as that step's failure.
//!
//! A case is a function of a [`Setup`]; [`matrix!`] makes one test of it per combination,
//! so a new case gets all four. The combinations matter: an engine's copy reports
//! progress to the journal from inside its own machinery (the PostgreSQL copy from an
//! async runtime), and each control plane writes it its own way.
//!
//! Three throw-away PostgreSQL servers are shared by the binary: `source` (production's
//! databases), `target` (the sandboxes') and `control` (control planes); each test makes
//! its own databases on them.

mod common;

use assert_cmd::Command;
use common::{Contents, pg_leftovers, sqlite_contents};
use dataalm_core::Location;
use dataalm_pgtest::Cluster;

/// Tables that Neutralize, RestoreTarget and Reconfigure leave alone and the finance
/// profile does not mask: after a refresh the target has exactly the source's rows in them.
const BUSINESS_TABLES: &[&str] = &[
    "batch_group",
    "inventory_item",
    "ledger_journal_line",
    "sales_line",
    "sales_table",
];

#[derive(Clone, Copy, Debug)]
enum Engine {
    Sqlite,
    Postgres,
}

#[derive(Clone, Copy, Debug)]
enum Plane {
    Sqlite,
    Postgres,
}

/// One test's world: `prod` and `uat` finance samples on `engine`, registered in a
/// control plane on `plane`, the demo plan set for `uat`.
struct Setup {
    dir: tempfile::TempDir,
    engine: Engine,
    /// The control plane's URL when it is in PostgreSQL.
    store: Option<String>,
    prod: Location,
    uat: Location,
}

impl Setup {
    fn new(engine: Engine, plane: Plane) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let (prod, uat) = match engine {
            Engine::Sqlite => (
                Location::Sqlite(dir.path().join("prod.db")),
                Location::Sqlite(dir.path().join("uat.db")),
            ),
            Engine::Postgres => (
                Location::Postgres(source().url(&source().create_database("prod").unwrap())),
                Location::Postgres(target().url(&target().create_database("uat").unwrap())),
            ),
        };
        let store = match plane {
            Plane::Sqlite => None,
            Plane::Postgres => Some(control().url(&control().create_database("ctl").unwrap())),
        };
        let setup = Setup {
            dir,
            engine,
            store,
            prod,
            uat,
        };
        let (prod, uat) = (setup.arg(&setup.prod), setup.arg(&setup.uat));
        let flag = setup.engine_flag();
        setup.ok(&[
            "sample",
            "create",
            flag,
            &prod,
            "--role",
            "production",
            "--size",
            "3MB",
        ]);
        setup.ok(&[
            "sample", "create", flag, &uat, "--role", "uat", "--size", "2MB", "--seed", "2",
        ]);
        setup.ok(&["env", "add", "prod", "--kind", "production", flag, &prod]);
        setup.ok(&["env", "add", "uat", "--kind", "sandbox", flag, &uat]);
        let plan = setup.dir.path().join("plan.toml");
        std::fs::write(&plan, dataalm_finance::demo_plan().to_toml()).unwrap();
        setup.ok(&["plan", "set", "uat", plan.to_str().unwrap()]);
        setup
    }

    fn engine_flag(&self) -> &'static str {
        match self.engine {
            Engine::Sqlite => "--sqlite",
            Engine::Postgres => "--postgres",
        }
    }

    /// A location as the command line takes it.
    fn arg(&self, location: &Location) -> String {
        match location {
            Location::Sqlite(path) => path.display().to_string(),
            Location::Postgres(url) => url.clone(),
        }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        Command::from_std(self.std_cmd(args))
    }

    /// The command as the standard library runs it, for a process to spawn.
    fn std_cmd(&self, args: &[&str]) -> std::process::Command {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin!("dataalm"));
        cmd.env("DATAALM_HOME", self.dir.path().join("home"))
            .env("HOME", self.dir.path())
            .env_remove("DATAALM_FAILPOINT")
            .env_remove("DATAALM_STORE")
            .env_remove("DATAALM_PG_BIN")
            .env_remove("PGPASSWORD")
            .args(args);
        if let Some(store) = &self.store {
            cmd.env("DATAALM_STORE", store);
        }
        cmd
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.cmd(args).output().unwrap();
        assert!(
            out.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// A refresh of `uat` from `prod` stopped by `failpoint`; what it said on stderr.
    fn refresh_stopped_at(&self, failpoint: &str) -> String {
        let out = self
            .cmd(&[
                "refresh", "--from", "prod", "--to", "uat", "--yes", "--jobs", "2",
            ])
            .env("DATAALM_FAILPOINT", failpoint)
            .output()
            .unwrap();
        assert!(
            !out.status.success(),
            "{failpoint}: the refresh should have stopped"
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// A refresh of `uat` from `prod` started in the background, held in the middle of
    /// its copy for a while by a pause failpoint; returns once the copy has started.
    #[allow(
        clippy::zombie_processes,
        reason = "returned to the caller, which waits for it"
    )]
    fn refresh_held_in_copy(&self) -> (std::process::Child, String) {
        let mut child = self
            .std_cmd(&[
                "refresh", "--from", "prod", "--to", "uat", "--yes", "--jobs", "2",
            ])
            .env("DATAALM_FAILPOINT", "CopyToStaging:during:pause")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let started = std::time::Instant::now();
        loop {
            let ops: serde_json::Value =
                serde_json::from_str(&self.ok(&["status", "--json"])).unwrap();
            let op = &ops[0];
            if op["steps"][3]["status"] == "running" {
                return (child, op["id"].as_str().unwrap().to_owned());
            }
            if started.elapsed().as_secs() >= 60 {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the copy never started: {ops}");
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    fn latest_op(&self) -> serde_json::Value {
        let ops: serde_json::Value = serde_json::from_str(&self.ok(&["status", "--json"])).unwrap();
        ops[0].clone()
    }

    fn enabled_users(&self) -> usize {
        let out = self.ok(&["users", "list", "--env", "uat", "--enabled", "--json"]);
        let users: serde_json::Value = serde_json::from_str(&out).unwrap();
        users.as_array().unwrap().len()
    }

    /// What dataalm left beside the target: staging and previous copies.
    fn leftovers(&self) -> Vec<String> {
        match &self.uat {
            Location::Sqlite(_) => std::fs::read_dir(self.dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .filter(|name| name.contains(".dataalm-"))
                .collect(),
            Location::Postgres(url) => pg_leftovers(target(), url.rsplit('/').next().unwrap()),
        }
    }
}

fn source() -> &'static Cluster {
    Cluster::shared("source")
}

fn target() -> &'static Cluster {
    Cluster::shared("target")
}

fn control() -> &'static Cluster {
    Cluster::shared("control")
}

/// Every table's row count and a digest of its rows, whatever the engine (PostgreSQL's
/// names without `public.`).
fn contents(location: &Location) -> Contents {
    match location {
        Location::Sqlite(path) => sqlite_contents(path),
        Location::Postgres(_) => dataalm_engine::postgres::table_checksums(location)
            .unwrap()
            .into_iter()
            .map(|(table, rows, sum)| {
                let name = table.strip_prefix("public.").unwrap_or(&table).to_owned();
                (name, (rows, sum))
            })
            .collect(),
    }
}

/// The business tables of `all`, which must all be there.
fn business(all: &Contents) -> Contents {
    let picked: Contents = all
        .iter()
        .filter(|(name, _)| BUSINESS_TABLES.contains(&name.as_str()))
        .map(|(name, sums)| (name.clone(), sums.clone()))
        .collect();
    assert_eq!(
        picked.len(),
        BUSINESS_TABLES.len(),
        "tables missing: {all:?}"
    );
    picked
}

/// Whether every step of `op` is done.
fn all_done(op: &serde_json::Value) -> bool {
    op["steps"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["status"] == "done")
}

/// Asserts the target is the refreshed copy: the source's business rows, the plan's
/// users enabled (the keep list's three and the plan's five).
fn assert_refreshed(setup: &Setup, source_before: &Contents) {
    let op = setup.latest_op();
    assert_eq!(op["state"], "awaiting_signoff", "{op}");
    assert!(all_done(&op), "{op}");
    assert_eq!(
        business(&contents(&setup.uat)),
        business(source_before),
        "the target must hold the source's rows"
    );
    assert_eq!(setup.enabled_users(), 8, "the target must be fully new");
}

/// Asserts the target is as it was before the refresh and nothing is left beside it.
fn assert_given_back(setup: &Setup, before: &Contents) {
    assert_eq!(setup.latest_op()["state"], "rolled_back");
    assert_eq!(
        &contents(&setup.uat),
        before,
        "rollback must give back the old target"
    );
    assert!(setup.leftovers().is_empty(), "left {:?}", setup.leftovers());
}

// ---------------------------------------------------------------------------------------
// The cases
// ---------------------------------------------------------------------------------------

fn refresh_to_signoff(setup: &Setup) {
    let source_before = contents(&setup.prod);
    let out = setup.ok(&[
        "refresh", "--from", "prod", "--to", "uat", "--yes", "--jobs", "2",
    ]);
    assert!(out.contains("awaiting"), "{out}");
    assert_refreshed(setup, &source_before);
    let op = setup.latest_op();
    let copied = op["steps"][3]["bytes"].as_u64().unwrap();
    assert!(copied > 0, "the copy's bytes reach the journal: {op}");
    assert!(op["lease"].is_null(), "released at AwaitSignOff: {op}");

    setup.ok(&["signoff", op["id"].as_str().unwrap()]);
    assert_eq!(setup.latest_op()["state"], "signed_off");
    assert!(setup.leftovers().is_empty(), "left {:?}", setup.leftovers());
    assert_eq!(
        contents(&setup.prod),
        source_before,
        "the source was written"
    );
}

fn crash_during_copy_then_resume(setup: &Setup) {
    let before = contents(&setup.uat);
    let source_before = contents(&setup.prod);
    let err = setup.refresh_stopped_at("CopyToStaging:during");
    assert!(
        err.contains("failpoint CopyToStaging:during reached"),
        "{err}"
    );
    let op = setup.latest_op();
    let id = op["id"].as_str().unwrap().to_owned();
    let state = op["display_state"].as_str().unwrap();
    assert!(state.starts_with("interrupted"), "{op}");
    assert_eq!(op["steps"][3]["status"], "running", "{op}");

    setup.ok(&["resume", &id]);
    assert_refreshed(setup, &source_before);
    assert_eq!(
        contents(&setup.prod),
        source_before,
        "the source was written"
    );

    setup.ok(&["rollback", &id]);
    assert_given_back(setup, &before);
}

fn crash_then_rollback(setup: &Setup) {
    let before = contents(&setup.uat);
    let err = setup.refresh_stopped_at("Neutralize:after");
    assert!(err.contains("failpoint Neutralize:after reached"), "{err}");
    let id = setup.latest_op()["id"].as_str().unwrap().to_owned();
    let out = setup.ok(&["rollback", &id]);
    assert!(out.contains("as it was before the refresh"), "{out}");
    assert_given_back(setup, &before);
    // Nothing is left that blocks the next refresh.
    setup.ok(&["refresh", "--from", "prod", "--to", "uat", "--yes"]);
    assert_eq!(setup.latest_op()["state"], "awaiting_signoff");
}

/// A bug in a step (a panic) is that step's failure: recorded with the panic's message,
/// the lease given up, and the operation can be rolled back or resumed like any other.
fn panic_in_a_step_is_its_failure(setup: &Setup) {
    let before = contents(&setup.uat);
    let source_before = contents(&setup.prod);
    let err = setup.refresh_stopped_at("Neutralize:before:panic");
    assert!(err.contains("internal error"), "{err}");
    let op = setup.latest_op();
    assert_eq!(op["state"], "failed", "{op}");
    assert_eq!(op["steps"][4]["step"], "Neutralize", "{op}");
    assert_eq!(op["steps"][4]["status"], "failed", "{op}");
    let error = op["error"].as_str().unwrap();
    assert!(
        error.contains("failpoint Neutralize:before reached"),
        "the panic's message: {op}"
    );
    assert!(op["lease"].is_null(), "the lease is given up: {op}");
    let id = op["id"].as_str().unwrap().to_owned();
    let status = setup.ok(&["status", &id]);
    assert!(status.contains("panic"), "{status}");

    setup.ok(&["resume", &id]);
    assert_refreshed(setup, &source_before);
    setup.ok(&["rollback", &id]);
    assert_given_back(setup, &before);
}

/// Asserts a refresh was cancelled in its copy: recorded so (not interrupted, so no
/// server resumes it), the target as it was, nothing left beside it, the target free.
fn assert_cancelled(setup: &Setup, id: &str, before: &Contents, refresh: std::process::Child) {
    let out = refresh.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the refresh must fail: {err}");
    assert!(
        err.contains(&format!("operation {id} was cancelled")),
        "{err}"
    );
    let op = setup.latest_op();
    assert_eq!(op["state"], "cancelled", "{op}");
    assert_eq!(op["display_state"], "cancelled", "{op}");
    assert_eq!(op["steps"][3]["status"], "failed", "{op}");
    assert!(op["lease"].is_null(), "the lease is given up: {op}");
    assert_eq!(
        &contents(&setup.uat),
        before,
        "the target must be fully old"
    );
    assert!(setup.leftovers().is_empty(), "left {:?}", setup.leftovers());
    let resumed = setup.cmd(&["resume", id]).output().unwrap();
    assert!(
        !resumed.status.success(),
        "a cancelled refresh never resumes"
    );
    let said = String::from_utf8_lossy(&resumed.stderr);
    assert!(said.contains("already finished (cancelled)"), "{said}");
    setup.ok(&["refresh", "--from", "prod", "--to", "uat", "--yes"]);
    assert_eq!(setup.latest_op()["state"], "awaiting_signoff");
}

/// `dataalm cancel` from another process stops the refresh in the middle of its copy.
fn cancel_during_copy(setup: &Setup) {
    let before = contents(&setup.uat);
    let (refresh, id) = setup.refresh_held_in_copy();
    let out = setup.ok(&["cancel", &id]);
    assert!(out.contains(&format!("cancelled {id}")), "{out}");
    assert_cancelled(setup, &id, &before, refresh);
    // After the cutover, a cancel is refused with the way back.
    let done = setup.latest_op()["id"].as_str().unwrap().to_owned();
    let refused = setup.cmd(&["cancel", &done]).output().unwrap();
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains(&format!("dataalm rollback {done}")), "{said}");
}

/// SIGTERM (`timeout`) cancels the refresh instead of leaving it to be taken over.
fn sigterm_cancels(setup: &Setup) {
    let before = contents(&setup.uat);
    let (refresh, id) = setup.refresh_held_in_copy();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &refresh.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    assert_cancelled(setup, &id, &before, refresh);
}

/// One test per case and combination of engine and control plane.
macro_rules! matrix {
    ($($case:ident),* $(,)?) => {$(
        mod $case {
            use super::*;

            #[test]
            fn sqlite_with_sqlite_control_plane() {
                super::$case(&Setup::new(Engine::Sqlite, Plane::Sqlite));
            }

            #[test]
            fn sqlite_with_postgres_control_plane() {
                super::$case(&Setup::new(Engine::Sqlite, Plane::Postgres));
            }

            #[test]
            fn postgres_with_sqlite_control_plane() {
                super::$case(&Setup::new(Engine::Postgres, Plane::Sqlite));
            }

            #[test]
            fn postgres_with_postgres_control_plane() {
                super::$case(&Setup::new(Engine::Postgres, Plane::Postgres));
            }
        }
    )*};
}

matrix!(
    refresh_to_signoff,
    crash_during_copy_then_resume,
    crash_then_rollback,
    panic_in_a_step_is_its_failure,
    cancel_during_copy,
    sigterm_cancels,
);
