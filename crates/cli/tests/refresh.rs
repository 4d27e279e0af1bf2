//! The `dataalm` binary end to end on SQLite: a refresh, bad input refused with nothing
//! changed, and a crash at every step boundary resumed or rolled back.

mod common;

use common::{Home, sqlite_contents};
use dataalm_core::Step;
use sha2::{Digest, Sha256};
use std::path::Path;

fn file_sha(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

fn enabled_users(home: &Home) -> usize {
    let users: serde_json::Value =
        serde_json::from_str(&home.ok(&["users", "list", "--env", "uat", "--enabled", "--json"]))
            .unwrap();
    users.as_array().unwrap().len()
}

#[test]
fn refresh_signoff_and_the_source_is_never_written() {
    let home = Home::new();
    let source_before = file_sha(&home.path("prod.db"));
    home.ok(&["refresh", "--from", "prod", "--to", "uat", "--yes"]);
    assert_eq!(file_sha(&home.path("prod.db")), source_before);
    let op = home.latest_op();
    assert_eq!(op["state"], "awaiting_signoff");
    assert!(
        op["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["status"] == "done")
    );
    // keep list (3) + the plan's five users
    assert_eq!(enabled_users(&home), 8);
    let withheld: serde_json::Value = serde_json::from_str(&home.ok(&[
        "jobs", "list", "--env", "uat", "--status", "withhold", "--json",
    ]))
    .unwrap();
    assert_eq!(
        withheld.as_array().unwrap().len(),
        0,
        "the plan puts withheld jobs back to waiting"
    );
    assert!(home.ok(&["reconfigure", "uat"]).contains("no changes"));
    // A second refresh while the first awaits sign-off is refused.
    let err = home.fails(&["refresh", "--from", "prod", "--to", "uat", "--yes"]);
    assert!(err.contains("already in progress"), "{err}");
    let id = op["id"].as_str().unwrap();
    home.ok(&["signoff", id]);
    assert_eq!(home.latest_op()["state"], "signed_off");
    let err = home.fails(&["signoff", id]);
    assert!(err.contains("not awaiting sign-off"), "{err}");
}

#[test]
fn bad_input_is_refused_and_changes_nothing() {
    let home = Home::new();
    let before = file_sha(&home.path("uat.db"));
    let err = home.fails(&["refresh", "--from", "uat", "--to", "prod", "--yes"]);
    assert!(
        err.contains("production is never a refresh target"),
        "{err}"
    );
    let err = home.fails(&["status", "op-nope"]);
    assert!(err.contains("no operation with id"), "{err}");
    let err = home.fails(&[
        "message",
        "--env",
        "uat",
        "--from",
        "2026-13-01 10:00",
        "--to",
        "now+1h",
    ]);
    assert!(err.contains("malformed time"), "{err}");
    let err = home.fails(&[
        "message", "--env", "uat", "--from", "now+2h", "--to", "now+1h",
    ]);
    assert!(err.contains("must end after it starts"), "{err}");
    let err = home.fails(&[
        "users",
        "enable",
        "--env",
        "uat",
        "alice@contoso.com",
        "nobody@nowhere.example",
    ]);
    assert!(err.contains("nobody@nowhere.example"), "{err}");
    std::fs::write(
        home.path("bad-plan.toml"),
        "[batch_groups]\nNOSUCHGROUP = \"X\"\n",
    )
    .unwrap();
    let err = home.fails(&[
        "plan",
        "set",
        "uat",
        home.path("bad-plan.toml").to_str().unwrap(),
    ]);
    assert!(err.contains("NOSUCHGROUP"), "{err}");
    std::fs::write(
        home.path("notdb.db"),
        "plain text, not a database at all, long enough",
    )
    .unwrap();
    home.ok(&[
        "env",
        "add",
        "junk",
        "--kind",
        "sandbox",
        "--sqlite",
        home.path("notdb.db").to_str().unwrap(),
    ]);
    let err = home.fails(&["refresh", "--from", "prod", "--to", "junk", "--yes"]);
    assert!(err.contains("not a SQLite database"), "{err}");
    std::fs::write(home.path("p.toml"), "name = \"p\"\n[users]\ntable = \"people\"\nid = \"id\"\nemail = \"email\"\nenabled = \"on\"\n").unwrap();
    std::fs::copy(home.path("uat.db"), home.path("odd.db")).unwrap();
    home.ok(&[
        "env",
        "add",
        "odd",
        "--kind",
        "sandbox",
        "--sqlite",
        home.path("odd.db").to_str().unwrap(),
        "--profile",
        home.path("p.toml").to_str().unwrap(),
    ]);
    let err = home.fails(&["refresh", "--from", "prod", "--to", "odd", "--yes"]);
    assert!(err.contains("table `people`"), "{err}");
    assert_eq!(file_sha(&home.path("odd.db")), before);
    let ops: serde_json::Value = serde_json::from_str(&home.ok(&["status", "--json"])).unwrap();
    assert!(
        ops.as_array().unwrap().is_empty(),
        "refused refreshes leave no operation"
    );
}

/// A crash at each step boundary: resume ends fully new, rollback gives back the old.
#[test]
fn crash_at_every_step_then_resume_or_rollback() {
    for step in Step::ALL.into_iter().skip(1) {
        for when in ["before", "after"] {
            let home = Home::new();
            let old = sqlite_contents(&home.path("uat.db"));
            let point = format!("{step}:{when}");
            let out = home
                .cmd(&["refresh", "--from", "prod", "--to", "uat", "--yes"])
                .env("DATAALM_FAILPOINT", &point)
                .output()
                .unwrap();
            assert!(
                !out.status.success(),
                "{point}: the process should have aborted"
            );
            let op = home.latest_op();
            let id = op["id"].as_str().unwrap().to_owned();
            assert!(
                op["display_state"]
                    .as_str()
                    .unwrap()
                    .starts_with("interrupted")
                    || op["state"] == "awaiting_signoff",
                "{point}: {op}"
            );
            // Half the cases roll back, half resume; both must be clean.
            if (step as usize + usize::from(when == "after")).is_multiple_of(2) {
                home.ok(&["rollback", &id]);
                assert_eq!(
                    sqlite_contents(&home.path("uat.db")),
                    old,
                    "{point}: rollback must give back the old target"
                );
                assert_eq!(home.latest_op()["state"], "rolled_back");
            } else {
                home.ok(&["resume", &id]);
                assert_eq!(home.latest_op()["state"], "awaiting_signoff", "{point}");
                assert_eq!(
                    enabled_users(&home),
                    8,
                    "{point}: the target must be fully new"
                );
                home.ok(&["rollback", &id]);
                assert_eq!(
                    sqlite_contents(&home.path("uat.db")),
                    old,
                    "{point}: rollback after resume"
                );
            }
            let leftovers: Vec<_> = std::fs::read_dir(home.dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .filter(|n| n.contains(".dataalm-"))
                .collect();
            assert!(leftovers.is_empty(), "{point}: left {leftovers:?}");
        }
    }
}

/// A resume whose checks fail now (the source is gone) records the operation as failed,
/// with the reason, instead of leaving it interrupted for a server to retry forever; it
/// can still be rolled back.
#[test]
fn a_resume_that_cannot_go_on_records_why_and_can_be_rolled_back() {
    let home = Home::new();
    let old = sqlite_contents(&home.path("uat.db"));
    let out = home
        .cmd(&["refresh", "--from", "prod", "--to", "uat", "--yes"])
        .env("DATAALM_FAILPOINT", "Announce:after")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let id = home.latest_op()["id"].as_str().unwrap().to_owned();
    std::fs::rename(home.path("prod.db"), home.path("prod.db.away")).unwrap();

    let err = home.fails(&["resume", &id]);
    assert!(err.contains("prod.db"), "{err}");
    let op = home.latest_op();
    assert_eq!(op["state"], "failed", "{op}");
    assert!(
        op["error"].as_str().unwrap().contains("cannot resume"),
        "{op}"
    );
    assert!(op["lease"].is_null(), "{op}");

    home.ok(&["rollback", &id]);
    assert_eq!(sqlite_contents(&home.path("uat.db")), old);
}

/// Issue 10 point 7: a target another program keeps locked fails the refresh after
/// the lock timeout with a message saying so (no raw SQL), and changes nothing.
#[test]
fn a_locked_target_fails_clearly_and_changes_nothing() {
    let home = Home::new();
    let target = home.path("uat.db");
    let old = sqlite_contents(&target);
    let locker = rusqlite::Connection::open(&target).unwrap();
    locker.execute_batch("BEGIN EXCLUSIVE").unwrap();

    let started = std::time::Instant::now();
    let out = home
        .cmd(&["refresh", "--from", "prod", "--to", "uat", "--yes"])
        .env("DATAALM_LOCK_TIMEOUT", "1")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(started.elapsed().as_secs() < 30, "{:?}", started.elapsed());
    assert!(
        err.contains(&format!(
            "the database {} is locked by another program",
            target.display()
        )),
        "{err}"
    );
    assert!(err.contains("nothing was changed"), "{err}");
    assert!(!err.contains("SELECT") && !err.contains("INSERT"), "{err}");

    locker.execute_batch("ROLLBACK").unwrap();
    drop(locker);
    assert_eq!(sqlite_contents(&target), old);
}

/// A rollback whose target directory turned read-only fails, names the cause and leaves
/// the operation awaiting sign-off, so the same rollback succeeds once the directory can
/// be written again. The directory is made read-only in a mount namespace of the command
/// alone (mode bits do not stop root), with the home still writable.
#[test]
fn a_rollback_on_a_read_only_directory_fails_and_can_be_retried() {
    let home = Home::new();
    let target = home.path("uat.db");
    let old = sqlite_contents(&target);
    home.ok(&["refresh", "--from", "prod", "--to", "uat", "--yes"]);
    let op = home.latest_op()["id"].as_str().unwrap().to_owned();
    let copied = sqlite_contents(&target);
    assert_ne!(copied, old);

    let dir = home.path("");
    let dir = dir.to_str().unwrap().trim_end_matches('/');
    let binary = assert_cmd::cargo::cargo_bin("dataalm");
    let script = format!(
        "mount --bind {dir} {dir} && mount --bind {dir}/home {dir}/home \
         && mount -o remount,ro,bind {dir} && exec {} rollback {op}",
        binary.display()
    );
    let out = std::process::Command::new("unshare")
        .args(["--mount", "sh", "-c", &script])
        .env("DATAALM_HOME", home.path("home"))
        .output()
        .expect("unshare (util-linux) runs this test: apt-get install util-linux");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "rollback on a read-only directory: {err}"
    );
    assert!(err.contains("Read-only file system"), "{err}");
    assert!(!err.contains("mount:"), "the test's mounts failed: {err}");
    assert_eq!(home.latest_op()["state"], "awaiting_signoff");
    assert_eq!(sqlite_contents(&target), copied);

    let said = home.ok(&["rollback", &op]);
    assert!(said.contains("as it was before the refresh"), "{said}");
    assert_eq!(sqlite_contents(&target), old);
    assert_eq!(home.latest_op()["state"], "rolled_back");
}

/// Operations and environments have GUIDs the CLI shows and takes; `env set` changes
/// what `env add` took, a throttle and a time zone, each checked.
#[test]
fn guids_throttles_and_env_settings() {
    let home = Home::new();
    let shown = home.ok(&["env", "show", "uat"]);
    let env_id = shown
        .lines()
        .find_map(|line| line.strip_prefix("id:"))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no id in {shown}"))
        .to_owned();
    assert_eq!(env_id.len(), 36, "{env_id}");
    assert!(shown.contains("throttle: off"), "{shown}");
    assert!(shown.contains("time zone: UTC"), "{shown}");

    let err = home.fails(&["env", "set", "uat", "--throttle", "lots"]);
    assert!(err.contains("invalid throttle `lots`"), "{err}");
    let err = home.fails(&["env", "set", "uat", "--time-zone", "Mars/Olympus"]);
    assert!(err.contains("unknown time zone `Mars/Olympus`"), "{err}");
    let err = home.fails(&["env", "set", "uat", "--kind", "planet"]);
    assert!(err.contains("unknown environment kind"), "{err}");
    home.ok(&[
        "env",
        "set",
        "uat",
        "--throttle",
        "1/24h",
        "--time-zone",
        "Europe/Amsterdam",
        "--url",
        "https://uat.example.com",
    ]);
    let shown = home.ok(&["env", "show", "uat"]);
    assert!(shown.contains("throttle: 1/24h"), "{shown}");
    assert!(shown.contains("time zone: Europe/Amsterdam"), "{shown}");
    assert!(shown.contains("https://uat.example.com"), "{shown}");
    assert!(shown.contains(&env_id), "the GUID is stable: {shown}");

    home.ok(&["refresh", "--from", "prod", "--to", "uat", "--yes"]);
    let op = home.latest_op();
    let activity = op["activity_id"].as_str().unwrap().to_owned();
    assert_eq!(activity.len(), 36, "{op}");
    let status = home.ok(&["status", &activity.to_uppercase()]);
    assert!(status.contains(op["id"].as_str().unwrap()), "{status}");
    assert!(status.contains(&activity), "{status}");
    home.ok(&["signoff", &activity]);
    assert_eq!(home.latest_op()["state"], "signed_off");

    let err = home.fails(&["refresh", "--from", "prod", "--to", "uat", "--yes"]);
    assert!(err.contains("throttled to 1/24h"), "{err}");
    assert_eq!(home.latest_op()["id"], op["id"], "nothing recorded");
    home.ok(&["env", "set", "uat", "--throttle", "off"]);
    assert!(home.ok(&["env", "show", "uat"]).contains("throttle: off"));
}
