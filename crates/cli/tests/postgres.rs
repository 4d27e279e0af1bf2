//! The `dataalm` binary end to end on PostgreSQL: a refresh with every step checked, a
//! crash in the middle of the data copy and at every step boundary resumed or rolled
//! back, bad input refused with nothing changed, passwords that are never printed and
//! may come from PGPASSWORD or a pgpass file, and a target owned by an ordinary user.
//!
//! Two throw-away servers (`source` and `target`) are shared by the whole binary; each
//! test makes its own databases on them, so the tests run in parallel.

mod common;

use assert_cmd::Command;
use dataalm_core::{Location, Step};
use dataalm_pgtest::Cluster;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Tables that Neutralize, RestoreTarget and Reconfigure leave alone and the finance
/// profile does not mask: after a refresh the target has exactly the source's rows in them.
const BUSINESS_TABLES: &[&str] = &[
    "public.batch_group",
    "public.inventory_item",
    "public.ledger_journal_line",
    "public.sales_line",
    "public.sales_table",
];

/// `(rows, checksum)` of every user table, by `schema.table`.
type Checksums = BTreeMap<String, (i64, String)>;

fn source() -> &'static Cluster {
    Cluster::shared("source")
}

fn target() -> &'static Cluster {
    Cluster::shared("target")
}

struct Home {
    dir: tempfile::TempDir,
    /// Everything the binary printed, stdout and stderr, for the password checks.
    transcript: RefCell<String>,
    /// The production sample, on the source server.
    prod: String,
    /// The UAT sample, on the target server.
    uat: String,
}

impl Home {
    /// A home with a `prod` and a `uat` finance sample registered and the demo plan set.
    fn new() -> Home {
        let home = Home {
            dir: tempfile::tempdir().unwrap(),
            transcript: RefCell::default(),
            prod: source().create_database("prod").unwrap(),
            uat: target().create_database("uat").unwrap(),
        };
        home.ok(&[
            "sample",
            "create",
            "--postgres",
            &source().url(&home.prod),
            "--role",
            "production",
            "--size",
            "3MB",
        ]);
        home.ok(&[
            "sample",
            "create",
            "--postgres",
            &target().url(&home.uat),
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
            "--postgres",
            &source().url(&home.prod),
        ]);
        home.ok(&[
            "env",
            "add",
            "uat",
            "--kind",
            "sandbox",
            "--postgres",
            &target().url(&home.uat),
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

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The binary with this home, and nothing from the test's own environment that
    /// could change how it connects (passwords, password files, client tools).
    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::cargo_bin("dataalm").unwrap();
        cmd.env("DATAALM_HOME", self.path("home"))
            .env("HOME", self.dir.path())
            .env_remove("DATAALM_FAILPOINT")
            .env_remove("DATAALM_PG_BIN")
            .env_remove("PGPASSWORD")
            .env_remove("PGPASSFILE")
            .env_remove("PGUSER")
            .env_remove("PGSERVICE")
            .args(args);
        cmd
    }

    fn ok(&self, args: &[&str]) -> String {
        self.run_ok(&mut self.cmd(args), args)
    }

    fn fails(&self, args: &[&str]) -> String {
        self.run_fails(&mut self.cmd(args), args)
    }

    /// Runs `cmd`, which must succeed; its stdout.
    fn run_ok(&self, cmd: &mut Command, args: &[&str]) -> String {
        let out = self.run(cmd);
        assert!(
            out.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs `cmd`, which must fail; its stderr.
    fn run_fails(&self, cmd: &mut Command, args: &[&str]) -> String {
        let out = self.run(cmd);
        assert!(
            !out.status.success(),
            "{args:?} should have failed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stderr).unwrap()
    }

    fn run(&self, cmd: &mut Command) -> std::process::Output {
        let out = cmd.output().unwrap();
        let mut transcript = self.transcript.borrow_mut();
        let args: Vec<_> = cmd
            .get_args()
            .map(|arg| arg.to_string_lossy().into_owned())
            .collect();
        transcript.push_str(&format!("$ dataalm {}\n", args.join(" ")));
        transcript.push_str(&String::from_utf8_lossy(&out.stdout));
        transcript.push_str(&String::from_utf8_lossy(&out.stderr));
        out
    }

    /// Fails if anything the binary printed so far holds one of `secrets`, naming the
    /// commands and lines (with the password masked). Command lines themselves, which
    /// hold the URLs the test gave, are not output and are skipped.
    fn assert_never_printed(&self, secrets: &[&str]) {
        let transcript = self.transcript.borrow();
        assert!(!transcript.is_empty());
        let mut command = "";
        let mut leaks = Vec::new();
        for line in transcript.lines() {
            if line.starts_with("$ dataalm ") {
                command = line;
                continue;
            }
            if secrets.iter().any(|secret| line.contains(secret)) {
                let mut masked = format!("{command}\n    {}", line.trim());
                for secret in secrets {
                    masked = masked.replace(secret, "<PASSWORD>");
                }
                leaks.push(masked);
            }
        }
        assert!(
            leaks.is_empty(),
            "passwords printed ({} lines):\n{}",
            leaks.len(),
            leaks.join("\n")
        );
    }

    fn json(&self, args: &[&str]) -> serde_json::Value {
        serde_json::from_str(&self.ok(args)).unwrap()
    }

    fn latest_op(&self) -> serde_json::Value {
        self.json(&["status", "--json"])[0].clone()
    }

    fn operations(&self) -> usize {
        self.json(&["status", "--json"]).as_array().unwrap().len()
    }
}

fn checksums(cluster: &Cluster, db: &str) -> Checksums {
    dataalm_engine::postgres::table_checksums(&Location::Postgres(cluster.url(db)))
        .unwrap()
        .into_iter()
        .map(|(table, rows, sum)| (table, (rows, sum)))
        .collect()
}

fn only<'a>(sums: &'a Checksums, tables: &[&str]) -> Vec<(&'a String, &'a (i64, String))> {
    let picked: Vec<_> = sums
        .iter()
        .filter(|(name, _)| tables.contains(&name.as_str()))
        .collect();
    assert_eq!(picked.len(), tables.len(), "missing tables in {sums:?}");
    picked
}

/// The databases of the target server that dataalm made beside `db`.
fn leftovers(db: &str) -> Vec<String> {
    common::pg_leftovers(target(), db)
}

fn query(cluster: &Cluster, db: &str, sql: &str) -> String {
    cluster.psql(db, sql).unwrap().trim().to_owned()
}

fn count(cluster: &Cluster, db: &str, sql: &str) -> i64 {
    query(cluster, db, sql).parse().unwrap()
}

fn enabled_users(home: &Home) -> usize {
    home.json(&["users", "list", "--env", "uat", "--enabled", "--json"])
        .as_array()
        .unwrap()
        .len()
}

#[test]
fn refresh_every_step_then_signoff_and_day_to_day_commands() {
    let home = Home::new();
    let (src, tgt) = (source(), target());
    let source_before = checksums(src, &home.prod);
    assert!(source_before.len() >= 17, "{source_before:?}");
    let jobs_by_status = |cluster: &Cluster, db: &str, statuses: &str| {
        count(
            cluster,
            db,
            &format!("SELECT count(*) FROM batch_job WHERE status IN ({statuses})"),
        )
    };
    let source_active_jobs = jobs_by_status(src, &home.prod, "0, 1, 2");
    let source_finished_jobs = jobs_by_status(src, &home.prod, "3, 4");
    assert!(source_active_jobs > 0 && source_finished_jobs > 0);
    assert!(count(src, &home.prod, "SELECT count(*) FROM sys_outgoing_email") > 0);

    let out = home.ok(&[
        "refresh", "--from", "prod", "--to", "uat", "--yes", "--jobs", "2", "--verify",
    ]);
    assert!(out.contains("awaiting"), "{out}");
    assert_eq!(
        checksums(src, &home.prod),
        source_before,
        "the source must never be written"
    );
    let op = home.latest_op();
    let id = op["id"].as_str().unwrap().to_owned();
    assert_eq!(op["state"], "awaiting_signoff");
    let steps = op["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 9, "{op}");
    assert!(steps.iter().all(|s| s["status"] == "done"), "{op}");

    // Copy: every business table is the source's.
    let after = checksums(tgt, &home.uat);
    assert_eq!(
        only(&after, BUSINESS_TABLES),
        only(&source_before, BUSINESS_TABLES)
    );
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        source_before.keys().collect::<Vec<_>>()
    );
    // Neutralize: users disabled but the kept ones and the plan's five, no outgoing
    // mail, production's jobs withheld (and then put back to waiting by the plan).
    assert_eq!(
        enabled_users(&home),
        8,
        "keep list (3) + the plan's five users"
    );
    assert_eq!(
        count(tgt, &home.uat, "SELECT count(*) FROM user_info"),
        count(src, &home.prod, "SELECT count(*) FROM user_info")
    );
    assert_eq!(
        query(
            tgt,
            &home.uat,
            "SELECT string_agg(id, ',' ORDER BY id) FROM user_info WHERE enabled = 1"
        ),
        "Admin,alice,bob,carol,dave,erin,svc_batch,svc_integration"
    );
    assert_eq!(
        count(tgt, &home.uat, "SELECT count(*) FROM sys_outgoing_email"),
        0
    );
    assert_eq!(jobs_by_status(tgt, &home.uat, "0, 2"), 0);
    assert_eq!(jobs_by_status(tgt, &home.uat, "1"), source_active_jobs);
    assert_eq!(jobs_by_status(tgt, &home.uat, "3, 4"), source_finished_jobs);
    let withheld = home.json(&[
        "jobs", "list", "--env", "uat", "--status", "withhold", "--json",
    ]);
    assert_eq!(
        withheld.as_array().unwrap().len(),
        0,
        "the plan puts withheld jobs back to waiting"
    );
    // Restore: UAT keeps its own SMTP, batch servers, parameters and endpoints.
    assert_eq!(
        query(
            tgt,
            &home.uat,
            "SELECT smtp_relay_server || ' ' || smtp_user_name FROM sys_email_parameters"
        ),
        "smtp-uat.contoso.com erp-mailer-uat@contoso.com"
    );
    assert_eq!(
        query(
            tgt,
            &home.uat,
            "SELECT string_agg(server_id, ',' ORDER BY server_id) FROM batch_server"
        ),
        "UAT-AOS-01,UAT-BATCH-01"
    );
    assert_eq!(
        query(
            tgt,
            &home.uat,
            "SELECT value FROM system_parameters WHERE name = 'environment_name'"
        ),
        "Contoso Finance — UAT"
    );
    assert_eq!(
        query(
            tgt,
            &home.uat,
            "SELECT value FROM system_parameters WHERE name = 'support_url'"
        ),
        "https://support-uat.contoso.com"
    );
    assert_eq!(
        count(
            tgt,
            &home.uat,
            "SELECT count(*) FROM sys_integration_endpoint WHERE url LIKE '%uat%' \
             OR url LIKE '%sandbox%'"
        ),
        4
    );
    // Reconfigure: the plan applied.
    assert_eq!(
        query(
            tgt,
            &home.uat,
            "SELECT string_agg(DISTINCT server_id, ',') FROM batch_server_group"
        ),
        "UAT-BATCH-01"
    );
    assert_eq!(
        query(
            tgt,
            &home.uat,
            "SELECT value FROM system_parameters WHERE name = 'help_url'"
        ),
        "https://help-uat.contoso.com"
    );
    assert_eq!(
        count(
            tgt,
            &home.uat,
            "SELECT count(*) FROM entity_store_sales_by_customer"
        ),
        count(
            tgt,
            &home.uat,
            "SELECT count(DISTINCT s.cust_account) FROM sales_table s \
             JOIN sales_line l ON l.sales_id = s.sales_id"
        )
    );
    assert!(home.ok(&["reconfigure", "uat"]).contains("no changes"));
    // Announce: a message to the users of the old target (now `_prev`, which takes no
    // connections; the crash test reads the message in the target itself).
    assert!(
        steps[1]["detail"].as_str().unwrap().starts_with("message "),
        "{op}"
    );
    assert!(op["data"]["announcement_id"].is_u64(), "{op}");
    assert_eq!(
        leftovers(&home.uat),
        [format!("{}__dataalm_{id}_prev", home.uat)]
    );

    // A second refresh while the first awaits sign-off is refused.
    let err = home.fails(&["refresh", "--from", "prod", "--to", "uat", "--yes"]);
    assert!(err.contains("already in progress"), "{err}");
    assert_eq!(home.operations(), 1);

    // Sign-off drops the previous database.
    home.ok(&["signoff", &id]);
    assert_eq!(home.latest_op()["state"], "signed_off");
    assert!(
        leftovers(&home.uat).is_empty(),
        "{:?}",
        leftovers(&home.uat)
    );
    let err = home.fails(&["signoff", &id]);
    assert!(err.contains("not awaiting sign-off"), "{err}");

    // Day-to-day commands on the refreshed target.
    std::fs::write(
        home.path("users.csv"),
        "email\nfrank@contoso.com\ngrace@contoso.com\nalice@contoso.com\n",
    )
    .unwrap();
    let out = home.ok(&[
        "users",
        "enable",
        "--env",
        "uat",
        "--file",
        home.path("users.csv").to_str().unwrap(),
    ]);
    assert!(out.contains("enabled 2 user(s)"), "{out}");
    assert!(out.contains("1 already enabled"), "{out}");
    assert_eq!(enabled_users(&home), 10);
    let job: i64 = query(
        tgt,
        &home.uat,
        "SELECT min(recid) FROM batch_job WHERE status = 1",
    )
    .parse()
    .unwrap();
    let out = home.ok(&[
        "jobs",
        "set-status",
        "--env",
        "uat",
        "--status",
        "withhold",
        &job.to_string(),
    ]);
    assert!(out.contains("set 1 job(s)"), "{out}");
    assert_eq!(
        query(
            tgt,
            &home.uat,
            &format!("SELECT status FROM batch_job WHERE recid = {job}")
        ),
        "0"
    );
    let out = home.ok(&[
        "jobs",
        "set-status",
        "--env",
        "uat",
        "--status",
        "waiting",
        "--all-withheld",
    ]);
    assert!(out.contains("set 1 job(s)"), "{out}");
    assert_eq!(jobs_by_status(tgt, &home.uat, "0"), 0);
    let out = home.ok(&[
        "message",
        "--env",
        "uat",
        "--from",
        "now",
        "--to",
        "now+2h",
        "--text",
        "Quarter close rehearsal tonight",
    ]);
    assert!(out.contains("posted to `uat`"), "{out}");
    assert_eq!(
        count(
            tgt,
            &home.uat,
            "SELECT count(*) FROM sys_broadcast_message \
             WHERE message = 'Quarter close rehearsal tonight'"
        ),
        1
    );
    let dry = home.json(&["reconfigure", "uat", "--dry-run", "--json"]);
    assert_eq!(dry["changes"].as_array().unwrap().len(), 0, "{dry}");
    assert!(
        home.ok(&["reconfigure", "uat", "--dry-run"])
            .contains("no changes")
    );
    // The source was only ever read.
    assert_eq!(checksums(src, &home.prod), source_before);
}

/// Kills a refresh in the middle of its data copy; checks what the crash left: an
/// interrupted operation, a partial staging database, the target untouched but for
/// the announcement. Returns the operation's id.
fn crash_during_copy(home: &Home, before: &Checksums) -> String {
    let args = [
        "refresh", "--from", "prod", "--to", "uat", "--yes", "--jobs", "2",
    ];
    let mut cmd = home.cmd(&args);
    cmd.env("DATAALM_FAILPOINT", "CopyToStaging:during");
    let err = home.run_fails(&mut cmd, &args);
    assert!(
        err.contains("failpoint CopyToStaging:during reached"),
        "{err}"
    );
    let op = home.latest_op();
    let id = op["id"].as_str().unwrap().to_owned();
    assert_eq!(op["state"], "running", "{op}");
    assert!(
        op["display_state"]
            .as_str()
            .unwrap()
            .starts_with("interrupted"),
        "{op}"
    );
    let steps = op["steps"].as_array().unwrap();
    assert_eq!(steps[3]["step"], "CopyToStaging", "{op}");
    assert_eq!(steps[3]["status"], "running", "{op}");
    assert!(steps[..3].iter().all(|s| s["status"] == "done"), "{op}");
    assert!(steps[4..].iter().all(|s| s["status"] == "pending"), "{op}");
    let text = home.ok(&["status", &id]);
    assert!(text.contains("interrupted"), "{text}");
    // The copy was cut short: staging exists and holds less than the source.
    let staging = format!("{}__dataalm_{id}", home.uat);
    assert_eq!(leftovers(&home.uat), [staging.as_str()]);
    let copied: i64 = checksums(target(), &staging).values().map(|(n, _)| n).sum();
    let total: i64 = checksums(source(), &home.prod)
        .values()
        .map(|(n, _)| n)
        .sum();
    assert!(
        copied < total,
        "{copied} of {total} rows: not a partial copy"
    );
    // The target: as before, plus Announce's message to its users.
    let now = checksums(target(), &home.uat);
    let changed: Vec<_> = now
        .keys()
        .filter(|table| now.get(*table) != before.get(*table))
        .collect();
    assert_eq!(changed, ["public.sys_broadcast_message"]);
    assert_eq!(
        count(
            target(),
            &home.uat,
            &format!("SELECT count(*) FROM sys_broadcast_message WHERE message LIKE '%{id}%'")
        ),
        1
    );
    id
}

#[test]
fn crash_during_copy_then_resume_copies_everything() {
    let home = Home::new();
    let before = checksums(target(), &home.uat);
    let source_sums = checksums(source(), &home.prod);
    let id = crash_during_copy(&home, &before);

    let out = home.ok(&["resume", &id]);
    assert!(out.contains("awaiting"), "{out}");
    let op = home.latest_op();
    assert_eq!(op["state"], "awaiting_signoff", "{op}");
    assert!(
        op["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["status"] == "done"),
        "{op}"
    );
    let after = checksums(target(), &home.uat);
    assert_eq!(
        only(&after, BUSINESS_TABLES),
        only(&source_sums, BUSINESS_TABLES)
    );
    assert_eq!(enabled_users(&home), 8, "the target must be fully new");
    assert_eq!(checksums(source(), &home.prod), source_sums);
    assert_eq!(
        leftovers(&home.uat),
        [format!("{}__dataalm_{id}_prev", home.uat)]
    );
    // And back: the target as it was, announcement and all gone.
    home.ok(&["rollback", &id]);
    assert_eq!(home.latest_op()["state"], "rolled_back");
    assert_eq!(checksums(target(), &home.uat), before);
    assert!(
        leftovers(&home.uat).is_empty(),
        "{:?}",
        leftovers(&home.uat)
    );
}

#[test]
fn crash_during_copy_then_rollback_gives_back_the_target() {
    let home = Home::new();
    let before = checksums(target(), &home.uat);
    let id = crash_during_copy(&home, &before);
    let journaled = home.latest_op()["data"]["staging"].clone();

    let out = home.ok(&["rollback", &id]);
    assert!(out.contains("as it was before the refresh"), "{out}");
    assert_eq!(home.latest_op()["state"], "rolled_back");
    assert_eq!(
        checksums(target(), &home.uat),
        before,
        "rollback must give back the old target"
    );
    assert!(
        leftovers(&home.uat).is_empty(),
        "rollback left {:?}; the journal's staging location after the crash: {}",
        leftovers(&home.uat),
        if journaled.is_null() { "none" } else { "set" }
    );
    let err = home.fails(&["resume", &id]);
    assert!(err.contains(&id), "{err}");
    // Nothing is left that blocks the next refresh.
    home.ok(&["refresh", "--from", "prod", "--to", "uat", "--yes"]);
    assert_eq!(home.latest_op()["state"], "awaiting_signoff");
    assert_eq!(home.operations(), 2);
}

/// A crash at each step boundary, as on SQLite: resume ends fully new, rollback gives
/// back the old target, and no database is left beside it. One home for all cases, as
/// each ends with the target as it was.
#[test]
fn crash_at_every_step_then_resume_or_rollback() {
    let home = Home::new();
    let before = checksums(target(), &home.uat);
    let source_sums = checksums(source(), &home.prod);
    for step in Step::ALL.into_iter().skip(1) {
        for when in ["before", "after"] {
            let point = format!("{step}:{when}");
            let args = ["refresh", "--from", "prod", "--to", "uat", "--yes"];
            let mut cmd = home.cmd(&args);
            cmd.env("DATAALM_FAILPOINT", &point);
            let err = home.run_fails(&mut cmd, &args);
            assert!(err.contains(&format!("failpoint {point} reached")), "{err}");
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
            } else {
                home.ok(&["resume", &id]);
                assert_eq!(home.latest_op()["state"], "awaiting_signoff", "{point}");
                assert_eq!(
                    enabled_users(&home),
                    8,
                    "{point}: the target must be fully new"
                );
                assert_eq!(
                    only(&checksums(target(), &home.uat), BUSINESS_TABLES),
                    only(&source_sums, BUSINESS_TABLES),
                    "{point}"
                );
                home.ok(&["rollback", &id]);
            }
            assert_eq!(home.latest_op()["state"], "rolled_back", "{point}");
            assert_eq!(
                checksums(target(), &home.uat),
                before,
                "{point}: rollback must give back the old target"
            );
            assert!(
                leftovers(&home.uat).is_empty(),
                "{point}: left {:?}",
                leftovers(&home.uat)
            );
        }
    }
    assert_eq!(checksums(source(), &home.prod), source_sums);
}

/// A port of 127.0.0.1 that nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[test]
fn bad_input_is_refused_and_changes_nothing() {
    let home = Home::new();
    let (src, tgt) = (source(), target());
    let source_before = checksums(src, &home.prod);
    let before = checksums(tgt, &home.uat);
    let refresh = |to: &str| home.fails(&["refresh", "--from", "prod", "--to", to, "--yes"]);

    // Production is never a target.
    let err = home.fails(&["refresh", "--from", "uat", "--to", "prod", "--yes"]);
    assert!(
        err.contains("production is never a refresh target"),
        "{err}"
    );

    // A wrong password: said so, and never printed.
    let wrong = "Wr0ngPassw0rdXq7";
    home.ok(&[
        "env",
        "add",
        "badpw",
        "--kind",
        "sandbox",
        "--postgres",
        &tgt.url_as("postgres", wrong, &home.uat),
    ]);
    let err = refresh("badpw");
    assert!(err.contains("password authentication failed"), "{err}");
    assert!(err.contains(&format!("/{}", home.uat)), "{err}");

    // A closed port: refused at once.
    let url = format!(
        "postgres://postgres:{}@127.0.0.1:{}/{}",
        tgt.password(),
        closed_port(),
        home.uat
    );
    home.ok(&[
        "env",
        "add",
        "closed",
        "--kind",
        "sandbox",
        "--postgres",
        &url,
    ]);
    let started = Instant::now();
    let err = refresh("closed");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "took {took:?}: {err}");
    assert!(err.to_lowercase().contains("refused"), "{err}");

    // A target user who may not create the staging database.
    let role = format!("uat_owner_{}", std::process::id());
    let role_password = "R0lePassw0rd";
    tgt.create_role(&role, role_password, "LOGIN NOCREATEDB")
        .unwrap();
    let owned = tgt.create_database("owned").unwrap();
    tgt.psql(
        "postgres",
        &format!("ALTER DATABASE {owned} OWNER TO {role}"),
    )
    .unwrap();
    let owned_url = tgt.url_as(&role, role_password, &owned);
    home.ok(&[
        "sample",
        "create",
        "--postgres",
        &owned_url,
        "--role",
        "uat",
        "--size",
        "1MB",
    ]);
    home.ok(&[
        "env",
        "add",
        "nocreatedb",
        "--kind",
        "sandbox",
        "--postgres",
        &owned_url,
    ]);
    let owned_before = checksums(tgt, &owned);
    let err = refresh("nocreatedb");
    assert!(err.contains("may not create databases"), "{err}");
    assert!(err.contains(&role), "{err}");
    assert_eq!(checksums(tgt, &owned), owned_before);
    assert!(leftovers(&owned).is_empty());

    // Client tools older than the source server.
    let bin = home.path("old-bin");
    std::fs::create_dir(&bin).unwrap();
    for tool in ["pg_dump", "pg_restore"] {
        let script = format!(
            "#!/bin/sh\nif [ \"$1\" = --version ]; then echo '{tool} (PostgreSQL) 13.4'; exit 0; fi\n\
             echo called >> '{}'\nexit 1\n",
            home.path("old-bin-called").display()
        );
        let path = bin.join(tool);
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
    }
    let args = ["refresh", "--from", "prod", "--to", "uat", "--yes"];
    let mut cmd = home.cmd(&args);
    cmd.env("DATAALM_PG_BIN", &bin);
    let err = home.run_fails(&mut cmd, &args);
    assert!(
        err.contains("version 13, older than the source server"),
        "{err}"
    );
    assert!(err.contains("DATAALM_PG_BIN"), "{err}");
    assert!(
        !home.path("old-bin-called").exists(),
        "the old tools were run for more than their version"
    );

    // Nothing changed: no operation, the target and the source as they were.
    assert_eq!(home.operations(), 0, "refused refreshes leave no operation");
    assert!(
        home.json(&["history", "--json"])
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(checksums(tgt, &home.uat), before);
    assert_eq!(checksums(src, &home.prod), source_before);
    assert!(
        leftovers(&home.uat).is_empty(),
        "{:?}",
        leftovers(&home.uat)
    );
    home.assert_never_printed(&[wrong, src.password(), tgt.password(), role_password]);
}

/// A server that takes connections and never answers: dataalm must give up on its own.
#[test]
fn a_silent_server_times_out() {
    let home = Home::new();
    // Bound and listening, so the kernel completes the TCP handshake; never accepted.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("127.0.0.1:{}", listener.local_addr().unwrap().port());
    let url = format!(
        "postgres://postgres:{}@{address}/{}",
        target().password(),
        home.uat
    );
    home.ok(&[
        "env",
        "add",
        "silent",
        "--kind",
        "sandbox",
        "--postgres",
        &url,
    ]);
    let args = ["refresh", "--from", "prod", "--to", "silent", "--yes"];
    let mut cmd = home.cmd(&args);
    cmd.timeout(Duration::from_secs(20));
    let started = Instant::now();
    let err = home.run_fails(&mut cmd, &args);
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(15),
        "took {took:?} (killed at 20 s): {err}"
    );
    assert!(err.contains(&address), "{err}");
    assert_eq!(home.operations(), 0);
    assert!(leftovers(&home.uat).is_empty());
    home.assert_never_printed(&[source().password(), target().password()]);
    drop(listener);
}

#[test]
fn passwords_are_never_printed() {
    let home = Home::new();
    let (src, tgt) = (source(), target());
    let secrets = [src.password(), tgt.password()];

    // The URL holds the password: everything a user sees, in every format.
    let training = tgt.create_database("training").unwrap();
    home.ok(&[
        "env",
        "add",
        "training",
        "--kind",
        "sandbox",
        "--postgres",
        &tgt.url(&training),
    ]);
    for args in [
        &["env", "show", "uat"][..],
        &["env", "show", "uat", "--json"],
        &["env", "list"],
        &["env", "list", "--json"],
    ] {
        let out = home.ok(args);
        assert!(out.contains(&home.uat), "{args:?}: {out}");
    }
    let out = home.ok(&["-vv", "refresh", "--from", "prod", "--to", "uat", "--yes"]);
    assert!(out.contains("awaiting"), "{out}");
    let id = home.latest_op()["id"].as_str().unwrap().to_owned();
    for args in [
        &["status"][..],
        &["status", "--json"],
        &["status", &id, "--json"],
        &["history"],
        &["history", "--json"],
        &["env", "list"],
        &["audit", "--json"],
    ] {
        home.ok(args);
    }
    home.ok(&["rollback", &id, "--json"]);
    let op = home.json(&[
        "refresh", "--from", "prod", "--to", "uat", "--yes", "--json",
    ]);
    assert_eq!(op["state"], "awaiting_signoff", "{op}");
    home.ok(&["signoff", op["id"].as_str().unwrap()]);
    home.ok(&["history", "--json"]);
    home.assert_never_printed(&secrets);
}

#[test]
fn passwords_may_come_from_pgpassword_or_a_pgpass_file() {
    let home = Home::new();
    let (src, tgt) = (source(), target());
    let secrets = [src.password(), tgt.password()];

    // No password in the URL: PGPASSWORD in dataalm's environment.
    let bare = |cluster: &Cluster, db: &str| {
        format!("postgres://postgres@127.0.0.1:{}/{db}", cluster.port())
    };
    home.ok(&[
        "env",
        "add",
        "uat-env",
        "--kind",
        "sandbox",
        "--postgres",
        &bare(tgt, &home.uat),
    ]);
    let args = ["refresh", "--from", "prod", "--to", "uat-env", "--yes"];
    let err = home.fails(&args);
    assert!(err.contains("password"), "{err}");
    assert_eq!(home.operations(), 0, "a refused refresh is not recorded");
    let mut cmd = home.cmd(&args);
    cmd.env("PGPASSWORD", tgt.password());
    home.run_ok(&mut cmd, &args);
    let op = home.latest_op();
    assert_eq!(op["state"], "awaiting_signoff", "{op}");
    assert_eq!(op["target"], "uat-env");
    let mut cmd = home.cmd(&["signoff", op["id"].as_str().unwrap()]);
    cmd.env("PGPASSWORD", tgt.password());
    home.run_ok(&mut cmd, &["signoff"]);
    assert!(leftovers(&home.uat).is_empty());

    // Neither URL has a password: a pgpass file names both servers'.
    home.ok(&[
        "env",
        "add",
        "prod-env",
        "--kind",
        "production",
        "--postgres",
        &bare(src, &home.prod),
    ]);
    let passfile = home.path("pgpass");
    std::fs::write(
        &passfile,
        format!(
            "# dataalm test\n127.0.0.1:{}:*:postgres:{}\n127.0.0.1:{}:*:postgres:{}\n",
            src.port(),
            src.password(),
            tgt.port(),
            tgt.password()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &passfile,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let args = ["refresh", "--from", "prod-env", "--to", "uat-env", "--yes"];
    let mut cmd = home.cmd(&args);
    cmd.env("PGPASSFILE", &passfile);
    home.run_ok(&mut cmd, &args);
    let op = home.latest_op();
    assert_eq!(op["state"], "awaiting_signoff", "{op}");
    assert_eq!(op["source"], "prod-env");
    assert_eq!(
        only(&checksums(tgt, &home.uat), BUSINESS_TABLES),
        only(&checksums(src, &home.prod), BUSINESS_TABLES)
    );
    let args = ["rollback", op["id"].as_str().unwrap()];
    let mut cmd = home.cmd(&args);
    cmd.env("PGPASSFILE", &passfile);
    home.run_ok(&mut cmd, &args);
    assert!(leftovers(&home.uat).is_empty());
    home.ok(&["history", "--json"]);
    home.ok(&["status", "--json"]);
    home.assert_never_printed(&secrets);
}

/// A pgpass line for the target database alone: dataalm also connects to the staging
/// database and the server's maintenance database. Either it uses the target's
/// password for them (the same server and user), or Validate refuses the refresh
/// before anything is recorded; it must not fail half-way.
#[test]
fn a_pgpass_line_for_the_target_database_alone() {
    let home = Home::new();
    let (src, tgt) = (source(), target());
    let before = checksums(tgt, &home.uat);
    home.ok(&[
        "env",
        "add",
        "uat-pgpass",
        "--kind",
        "sandbox",
        "--postgres",
        &format!("postgres://postgres@127.0.0.1:{}/{}", tgt.port(), home.uat),
    ]);
    let passfile = home.path("pgpass");
    std::fs::write(
        &passfile,
        format!(
            "127.0.0.1:{}:{}:postgres:{}\n",
            tgt.port(),
            home.uat,
            tgt.password()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &passfile,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let args = ["refresh", "--from", "prod", "--to", "uat-pgpass", "--yes"];
    let mut cmd = home.cmd(&args);
    cmd.env("PGPASSFILE", &passfile);
    let out = home.run(&mut cmd);
    if out.status.success() {
        assert_eq!(home.latest_op()["state"], "awaiting_signoff");
        assert_eq!(
            only(&checksums(tgt, &home.uat), BUSINESS_TABLES),
            only(&checksums(src, &home.prod), BUSINESS_TABLES)
        );
    } else {
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        let ops = home.json(&["status", "--json"]);
        if let Some(op) = ops.as_array().unwrap().first() {
            // Half-way: at least the way back must work with the same password file.
            let args = ["rollback", op["id"].as_str().unwrap()];
            let mut cmd = home.cmd(&args);
            cmd.env("PGPASSFILE", &passfile);
            let rollback = home.run(&mut cmd);
            panic!(
                "refused only after the operation started: {err}\nrollback then {}: {}",
                if rollback.status.success() {
                    "worked"
                } else {
                    "failed"
                },
                String::from_utf8_lossy(&rollback.stderr).trim()
            );
        }
        assert_eq!(checksums(tgt, &home.uat), before);
        assert!(leftovers(&home.uat).is_empty());
    }
    home.assert_never_printed(&[src.password(), tgt.password()]);
}

/// A target owned by an ordinary user (LOGIN CREATEDB, not superuser), the usual set-up
/// of an application database. With --no-owner the copy belongs to that user; without
/// it, the source's owners cannot be given on the target, which must be found out
/// before anything is recorded, not half-way through the copy.
#[test]
fn a_target_owned_by_an_ordinary_user() {
    let home = Home::new();
    let (src, tgt) = (source(), target());
    let role = format!("uat_app_{}", std::process::id());
    let role_password = "AppUserPw42";
    tgt.create_role(&role, role_password, "LOGIN CREATEDB")
        .unwrap();
    let app = tgt.create_database("app").unwrap();
    tgt.psql("postgres", &format!("ALTER DATABASE {app} OWNER TO {role}"))
        .unwrap();
    let url = tgt.url_as(&role, role_password, &app);
    home.ok(&[
        "sample",
        "create",
        "--postgres",
        &url,
        "--role",
        "uat",
        "--size",
        "1MB",
    ]);
    home.ok(&["env", "add", "app", "--kind", "sandbox", "--postgres", &url]);
    let before = checksums(tgt, &app);

    let op = home.json(&[
        "refresh",
        "--from",
        "prod",
        "--to",
        "app",
        "--yes",
        "--no-owner",
        "--json",
    ]);
    assert_eq!(op["state"], "awaiting_signoff", "{op}");
    assert_eq!(
        only(&checksums(tgt, &app), BUSINESS_TABLES),
        only(&checksums(src, &home.prod), BUSINESS_TABLES)
    );
    assert_eq!(
        query(
            tgt,
            &app,
            "SELECT string_agg(DISTINCT tableowner, ',') FROM pg_tables \
             WHERE schemaname = 'public'"
        ),
        role
    );
    let mut client = tgt.client_as(&role, role_password, &app).unwrap();
    let users: i64 = client
        .query_one("SELECT count(*) FROM user_info", &[])
        .unwrap()
        .get(0);
    assert!(users > 200);
    home.ok(&["rollback", op["id"].as_str().unwrap()]);
    assert_eq!(checksums(tgt, &app), before);
    assert!(leftovers(&app).is_empty(), "{:?}", leftovers(&app));

    // Without --no-owner: the source's owner (`postgres`) cannot be given objects by
    // `role`, so those owner statements are left out and named in the step's detail.
    let args = ["refresh", "--from", "prod", "--to", "app", "--yes"];
    let out = home.run(&mut home.cmd(&args));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("left out owners, grants and policies") && stdout.contains("postgres"),
        "{stdout}"
    );
    home.assert_never_printed(&[src.password(), tgt.password(), role_password]);
}

/// Production's database under another host name (`localhost` for `127.0.0.1`) is
/// recognised by its cluster's system identifier and oid, and refused as a sandbox.
#[test]
fn production_under_another_host_name_is_never_a_sandbox() {
    let home = Home::new();
    let alias = source().url(&home.prod).replace("127.0.0.1", "localhost");
    let stderr = home.fails(&[
        "env",
        "add",
        "evil",
        "--kind",
        "sandbox",
        "--postgres",
        &alias,
    ]);
    assert!(
        stderr.contains("`evil` is the same database as production environment `prod`"),
        "{stderr}"
    );
    assert!(!home.ok(&["env", "list"]).contains("evil"));
}

/// With the control plane in PostgreSQL, not even `-vv` or `DATAALM_LOG=trace` prints a
/// stored password: the client library's statement logging (which shows parameters) is
/// never let through.
#[test]
fn debug_logs_with_a_postgres_control_plane_hold_no_password() {
    let home = Home::new();
    let (src, tgt) = (source(), target());
    let control = src.create_database("control").unwrap();
    let store = src.url(&control);
    let training = tgt.create_database("training").unwrap();
    let url = tgt.url(&training);
    for (args, log) in [
        (
            &[
                "-vv",
                "env",
                "add",
                "training",
                "--kind",
                "sandbox",
                "--postgres",
                &url,
            ][..],
            "debug",
        ),
        (&["-vv", "env", "list", "--json"], "debug"),
        (&["env", "show", "training"], "trace"),
    ] {
        let mut cmd = home.cmd(args);
        cmd.env("DATAALM_STORE", &store).env("DATAALM_LOG", log);
        home.run_ok(&mut cmd, args);
    }
    home.assert_never_printed(&[src.password(), tgt.password()]);
}

/// Issue 10 point 7: another session holding a lock on a table the refresh writes on
/// the target fails the refresh after the lock timeout with that session's pid and
/// application; nothing is changed, and once the lock is gone `resume` completes.
#[test]
fn a_locked_target_names_the_holder_and_resume_completes() {
    let home = Home::new();
    let before = checksums(target(), &home.uat);
    let mut locker = target().client(&home.uat).unwrap();
    locker
        .batch_execute(
            "SET application_name = 'locker'; BEGIN; \
             LOCK TABLE sys_broadcast_message IN ACCESS EXCLUSIVE MODE",
        )
        .unwrap();
    let pid: i32 = locker
        .query_one("SELECT pg_backend_pid()", &[])
        .unwrap()
        .get(0);

    let args = ["refresh", "--from", "prod", "--to", "uat", "--yes"];
    let mut cmd = home.cmd(&args);
    cmd.env("DATAALM_LOCK_TIMEOUT", "1");
    let started = Instant::now();
    let err = home.run_fails(&mut cmd, &args);
    assert!(started.elapsed() < Duration::from_secs(30), "{err}");
    assert!(
        err.contains(&format!("is locked by pid {pid} (application locker")),
        "{err}"
    );
    assert!(err.contains("nothing was changed"), "{err}");

    locker.batch_execute("ROLLBACK").unwrap();
    drop(locker);
    assert_eq!(checksums(target(), &home.uat), before);
    let id = home.latest_op()["id"].as_str().unwrap().to_owned();
    home.ok(&["resume", &id]);
    assert_eq!(home.latest_op()["state"], "awaiting_signoff");
}
