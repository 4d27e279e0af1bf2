//! The finance sample as other crates see it: created through the public API on SQLite,
//! checked against the built-in profile, reproducible, sized as asked, role-specific.

use dataalm_core::progress::{Progress, Silent};
use dataalm_core::{Profile, Value};
use dataalm_engine::Database;
use dataalm_engine::sqlite::SqliteDb;
use dataalm_finance::{Error, Role, SampleOptions, SampleStats, create, demo_plan, table_names};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Mutex;

fn options(role: Role, size: &str, seed: u64) -> SampleOptions {
    SampleOptions {
        role,
        size_bytes: dataalm_finance::parse_size(size).unwrap(),
        seed,
    }
}

fn sample(role: Role, size: &str, seed: u64) -> (SqliteDb, SampleStats) {
    let mut db = SqliteDb::memory().unwrap();
    let stats = create(&mut db, &options(role, size, seed), &Silent).unwrap();
    (db, stats)
}

fn text(db: &mut SqliteDb, sql: &str) -> Vec<String> {
    db.query(sql, &[])
        .unwrap()
        .rows
        .into_iter()
        .map(|row| {
            row.iter()
                .map(Value::to_string)
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect()
}

/// A hash of every row of every table, in key order.
fn checksum(db: &mut SqliteDb) -> u64 {
    let mut hasher = DefaultHasher::new();
    for table in table_names() {
        let rows = db
            .query(&format!("SELECT * FROM \"{table}\" ORDER BY 1, 2"), &[])
            .unwrap();
        table.hash(&mut hasher);
        for value in rows.rows.iter().flatten() {
            // The variant matters too: 1 and '1' are different content.
            std::mem::discriminant(value).hash(&mut hasher);
            value.to_string().hash(&mut hasher);
        }
    }
    hasher.finish()
}

#[test]
fn the_finance_profile_matches_the_created_schema() {
    for role in [Role::Production, Role::Uat] {
        let (mut db, _) = sample(role, "1MB", 1);
        let profile = Profile::builtin("finance").unwrap();
        profile.validate(&db.schema().unwrap()).unwrap();
        for name in table_names() {
            assert!(db.schema().unwrap().has_table(name), "{name}");
        }
    }
}

#[test]
fn the_same_seed_gives_the_same_rows() {
    let (mut first, first_stats) = sample(Role::Production, "3MB", 42);
    let (mut second, second_stats) = sample(Role::Production, "3MB", 42);
    assert_eq!(first_stats, second_stats);
    assert_eq!(checksum(&mut first), checksum(&mut second));

    let (mut other_seed, _) = sample(Role::Production, "3MB", 43);
    assert_ne!(checksum(&mut first), checksum(&mut other_seed));
    let (mut uat, _) = sample(Role::Uat, "3MB", 42);
    assert_ne!(checksum(&mut first), checksum(&mut uat));
}

#[test]
fn the_file_is_as_big_as_asked_and_an_ordinary_database() {
    let dir = tempfile::tempdir().unwrap();
    for (size, bytes) in [("5MB", 5_000_000u64), ("20MB", 20_000_000)] {
        let path = dir.path().join(format!("{size}.db"));
        let mut db = SqliteDb::create(&path).unwrap();
        let stats = create(&mut db, &options(Role::Production, size, 1), &Silent).unwrap();
        let mode = text(&mut db, "PRAGMA journal_mode");
        let sync = text(&mut db, "PRAGMA synchronous");
        drop(db);
        let on_disk = std::fs::metadata(&path).unwrap().len();
        let ratio = on_disk as f64 / bytes as f64;
        assert!((0.85..=1.15).contains(&ratio), "{size}: {on_disk} bytes");
        assert_eq!(stats.bytes, on_disk);
        assert_eq!(mode, ["delete"]);
        // synchronous is per connection; a fresh one gets the default, FULL is 2.
        assert_eq!(sync, ["2"]);
    }
}

#[test]
fn production_and_uat_keep_different_settings() {
    let (mut prod, _) = sample(Role::Production, "1MB", 1);
    let (mut uat, _) = sample(Role::Uat, "1MB", 1);
    let smtp = "SELECT smtp_relay_server FROM sys_email_parameters";
    assert_eq!(text(&mut prod, smtp), ["smtp.contoso.com"]);
    assert_eq!(text(&mut uat, smtp), ["smtp-uat.contoso.com"]);
    let help = "SELECT value FROM system_parameters WHERE name = 'help_url'";
    assert_eq!(text(&mut prod, help), ["https://help.contoso.com"]);
    assert_eq!(text(&mut uat, help), ["https://help-uat.contoso.com"]);
    let servers = "SELECT server_id FROM batch_server ORDER BY 1";
    assert_eq!(
        text(&mut prod, servers),
        ["PROD-AOS-01", "PROD-BATCH-01", "PROD-BATCH-02"]
    );
    assert_eq!(text(&mut uat, servers), ["UAT-AOS-01", "UAT-BATCH-01"]);
    for sql in [
        "SELECT * FROM batch_server_group ORDER BY 1, 2",
        "SELECT * FROM sys_integration_endpoint ORDER BY 1",
        "SELECT value FROM system_parameters WHERE name = 'environment_name'",
        "SELECT value FROM system_parameters WHERE name = 'support_url'",
    ] {
        assert_ne!(text(&mut prod, sql), text(&mut uat, sql), "{sql}");
    }
    // UAT is an older copy.
    let newest = "SELECT max(order_date) FROM sales_table";
    assert!(text(&mut uat, newest) < text(&mut prod, newest));
}

#[test]
fn kept_accounts_and_every_job_status_exist() {
    let (mut db, stats) = sample(Role::Production, "1MB", 5);
    let kept = "SELECT id FROM user_info WHERE id IN ('Admin', 'svc_batch', 'svc_integration') AND enabled = 1 ORDER BY 1";
    assert_eq!(
        text(&mut db, kept),
        ["Admin", "svc_batch", "svc_integration"]
    );
    let statuses = "SELECT DISTINCT status FROM batch_job ORDER BY 1";
    assert_eq!(text(&mut db, statuses), ["0", "1", "2", "3", "4"]);
    assert!(stats.users >= 200, "{stats:?}");
    assert_eq!(stats.rows("batch_job"), Some(stats.batch_jobs));
    let store = "SELECT count(*) FROM entity_store_sales_by_customer";
    assert_eq!(
        text(&mut db, store),
        [stats
            .rows("entity_store_sales_by_customer")
            .unwrap()
            .to_string()]
    );
}

#[test]
fn the_demo_plan_names_what_every_sample_has() {
    let plan = demo_plan();
    assert_eq!(plan.users.enable.len(), 5);
    for (role, size, seed) in [(Role::Uat, "1MB", 1), (Role::Production, "4MB", 977)] {
        let (mut db, _) = sample(role, size, seed);
        for email in &plan.users.enable {
            let sql = format!("SELECT id FROM user_info WHERE email = '{email}'");
            assert_eq!(text(&mut db, &sql).len(), 1, "{email}");
        }
        for group in plan.batch_groups.keys() {
            let sql = format!("SELECT group_id FROM batch_group WHERE group_id = '{group}'");
            assert_eq!(text(&mut db, &sql).len(), 1, "{group}");
        }
    }
    let profile = Profile::builtin("finance").unwrap();
    for aggregate in &plan.aggregates.refresh {
        assert!(profile.aggregate(aggregate).is_some(), "{aggregate}");
    }
    let email = profile.email.unwrap();
    for column in plan.email.keys() {
        assert!(email.columns.contains(column), "{column}");
    }
}

#[test]
fn creating_twice_is_refused_and_changes_nothing() {
    let (mut db, stats) = sample(Role::Production, "1MB", 1);
    let err = create(&mut db, &options(Role::Production, "1MB", 2), &Silent).unwrap_err();
    assert!(matches!(&err, Error::AlreadyExists { tables } if tables.len() == table_names().len()));
    assert!(err.to_string().contains("user_info"), "{err}");
    let users = text(&mut db, "SELECT count(*) FROM user_info");
    assert_eq!(users, [stats.users.to_string()]);
}

#[test]
fn a_database_with_one_of_the_tables_is_refused_too() {
    let mut db = SqliteDb::memory().unwrap();
    db.execute_batch("CREATE TABLE batch_job (recid INTEGER PRIMARY KEY)")
        .unwrap();
    let err = create(&mut db, &options(Role::Uat, "1MB", 1), &Silent).unwrap_err();
    assert!(
        matches!(&err, Error::AlreadyExists { tables } if tables == &["batch_job"]),
        "{err}"
    );
}

#[derive(Default)]
struct Recorder(Mutex<Vec<(String, u64)>>);

impl Progress for Recorder {
    fn table_rows(&self, table: &str, rows: u64) {
        self.0.lock().unwrap().push((table.to_owned(), rows));
    }
}

#[test]
fn progress_reports_rows_per_table() {
    let mut db = SqliteDb::memory().unwrap();
    let recorder = Recorder::default();
    let stats = create(&mut db, &options(Role::Production, "16MB", 1), &recorder).unwrap();
    let seen = recorder.0.into_inner().unwrap();
    for (table, rows) in &stats.tables {
        let last = seen.iter().rev().find(|(name, _)| name == table);
        assert_eq!(last.map(|(_, n)| *n), Some(*rows), "{table}");
    }
    // The biggest table is loaded in several batches, each reported.
    assert!(seen.iter().filter(|(name, _)| name == "sales_line").count() > 1);
}
