//! The PostgreSQL engine against real servers: two throw-away clusters (`source` and
//! `target`, one each for this binary), one database per test so the tests run in
//! parallel.
//!
//! - every object kind survives a copy (schema dump, rows, sequences, large objects,
//!   materialized views, identities, owners and grants);
//! - a copy made under write load is one point in time;
//! - cutover and swap-back on real databases, with clients around;
//! - a role that may only read the source is enough to copy it;
//! - `check_refresh` refuses what cannot work, in words that name the problem;
//! - cases found on the way: user types inside arrays and composites, schema text that
//!   looks like owner or grant lines, policies naming roles the target lacks, copies
//!   made by a role that row-level security restricts.
//!
//! Nothing here sets environment variables: the tests share one process.

use dataalm_core::Location;
use dataalm_core::progress::Silent;
use dataalm_engine::Engine;
use dataalm_engine::postgres::table_checksums;
use dataalm_pgtest::{Cluster, SUPERUSER};
use sha2::{Digest, Sha256};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

mod common;
use common::*;

fn client(cluster: &Cluster, db: &str) -> postgres::Client {
    cluster
        .client(db)
        .unwrap_or_else(|e| panic!("connect to {db}: {e}"))
}

/// Every row of a query, each as its columns' text joined by `|` (`NULL` for null).
fn try_rows(client: &mut postgres::Client, sql: &str) -> Result<Vec<String>, postgres::Error> {
    Ok(client
        .simple_query(sql)?
        .into_iter()
        .filter_map(|message| match message {
            postgres::SimpleQueryMessage::Row(row) => Some(
                (0..row.len())
                    .map(|i| row.get(i).unwrap_or("NULL").to_owned())
                    .collect::<Vec<_>>()
                    .join("|"),
            ),
            _ => None,
        })
        .collect())
}

/// A client error with the server's message, which `Display` leaves out.
fn describe(e: &postgres::Error) -> String {
    e.as_db_error()
        .map_or_else(|| e.to_string(), |db| db.message().to_owned())
}

fn rows(client: &mut postgres::Client, sql: &str) -> Vec<String> {
    try_rows(client, sql).unwrap_or_else(|e| panic!("{sql}: {}", describe(&e)))
}

fn exists(location: &Location) -> bool {
    ENGINE
        .exists(location)
        .unwrap_or_else(|e| panic!("exists {location}: {e}"))
}

/// `pg_dump --schema-only` of `db` with the cluster's own pg_dump, owners and grants in.
fn schema_dump(cluster: &Cluster, db: &str) -> String {
    let output = Command::new(cluster.bin_dir().join("pg_dump"))
        .args(["--schema-only", "--no-password", "--host", cluster.host()])
        .arg(format!("--port={}", cluster.port()))
        .args(["--username", SUPERUSER])
        .arg(format!("--dbname={db}"))
        .env("PGPASSWORD", cluster.password())
        .env_remove("PGSERVICE")
        .env_remove("PGOPTIONS")
        .output()
        .expect("run pg_dump");
    assert!(
        output.status.success(),
        "pg_dump {db}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("pg_dump writes UTF-8")
}

fn copy_from(source_url: String, staging: &Location) -> dataalm_engine::CopyStats {
    ENGINE
        .copy(&pg(source_url), staging, &options(), &Silent)
        .unwrap_or_else(|e| panic!("copy into {staging}: {e}"))
}

// ---------------------------------------------------------------------------------------
// 1. Every object kind
// ---------------------------------------------------------------------------------------

const ALL_KINDS: &str = include_str!("fixtures/all_kinds.sql");
/// On both servers.
const SHARED_ROLE: &str = "ak_shared";
/// On the source server only; named as the fixture spells it.
const SOURCE_ONLY_ROLE: &str = "AK Lecteur \"Été\"";
const SOURCE_ONLY_QUOTED: &str = "\"AK Lecteur \"\"Été\"\"\"";

/// A schema dump as comparable entries (a `-- Name:` header and its statements, blank
/// and `--` lines left out), after the differences that have a reason:
/// - `\restrict` / `\unrestrict` lines carry a random key per dump;
/// - the database name (no dump should name it; replaced in case);
/// - statements granting to a role the target server lacks cannot be made there: they
///   are taken out and returned, and an ACL entry they leave empty goes too.
fn comparable(dump: &str, db: &str, lacking_role: &str) -> (Vec<String>, Vec<String>) {
    let mut entries: Vec<(String, Vec<String>, bool)> = vec![(String::new(), Vec::new(), false)];
    let mut removed = Vec::new();
    for line in dump.lines() {
        if line.starts_with("\\restrict ") || line.starts_with("\\unrestrict ") {
            continue;
        }
        let line = line.replace(db, "<db>");
        if line.is_empty() || line == "--" {
            continue;
        }
        if line.starts_with("-- ") {
            entries.push((line, Vec::new(), false));
            continue;
        }
        let Some(entry) = entries.last_mut() else {
            continue;
        };
        let is_acl = ["GRANT ", "REVOKE ", "ALTER DEFAULT PRIVILEGES "]
            .iter()
            .any(|start| line.starts_with(start));
        if is_acl && line.contains(lacking_role) {
            removed.push(line);
            entry.2 = true;
        } else {
            entry.1.push(line);
        }
    }
    let entries = entries
        .into_iter()
        .filter(|(_, statements, lost)| !(*lost && statements.is_empty()))
        .map(|(header, statements, _)| format!("{header}\n{}", statements.join("\n")))
        .collect();
    (entries, removed)
}

/// The entries only one side has, or the first reordering; `None` when the same.
fn entries_differ(source: &[String], copy: &[String]) -> Option<String> {
    if source == copy {
        return None;
    }
    let only_source: Vec<&String> = source.iter().filter(|e| !copy.contains(e)).collect();
    let only_copy: Vec<&String> = copy.iter().filter(|e| !source.contains(e)).collect();
    if only_source.is_empty() && only_copy.is_empty() {
        let at = source
            .iter()
            .zip(copy)
            .position(|(a, b)| a != b)
            .unwrap_or(0);
        return Some(format!(
            "the schema dumps hold the same entries in another order; first difference:\n\
             source: {}\ncopy:   {}",
            source.get(at).map_or("", String::as_str),
            copy.get(at).map_or("", String::as_str)
        ));
    }
    Some(format!(
        "the schema dumps differ.\n--- only in the source:\n{}\n--- only in the copy:\n{}",
        only_source
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n\n"),
        only_copy
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n\n")
    ))
}

fn sequences(client: &mut postgres::Client) -> Vec<String> {
    let names = rows(
        client,
        "SELECT format('%I.%I', schemaname, sequencename) FROM pg_sequences ORDER BY 1",
    );
    names
        .iter()
        .map(|name| {
            let state = rows(client, &format!("SELECT last_value, is_called FROM {name}"));
            format!("{name} {}", state.join(""))
        })
        .collect()
}

fn large_objects(client: &mut postgres::Client) -> Vec<(u32, usize, String)> {
    client
        .query(
            "SELECT m.oid, lo_get(m.oid) FROM pg_largeobject_metadata m ORDER BY m.oid",
            &[],
        )
        .expect("read large objects")
        .iter()
        .map(|row| {
            let content: Vec<u8> = row.get(1);
            (
                row.get(0),
                content.len(),
                hex::encode(Sha256::digest(&content)),
            )
        })
        .collect()
}

fn is_populated(client: &mut postgres::Client, matview: &str) -> bool {
    client
        .query_one(
            "SELECT relispopulated FROM pg_class WHERE oid = $1::text::regclass",
            &[&matview],
        )
        .unwrap_or_else(|e| panic!("{matview}: {e}"))
        .get(0)
}

/// Records a failed check and goes on, so that one test reports every problem it sees.
macro_rules! check {
    ($problems:expr, $condition:expr, $($message:tt)+) => {
        if !$condition {
            $problems.push(format!($($message)+));
        }
    };
}

macro_rules! check_eq {
    ($problems:expr, $left:expr, $right:expr, $($message:tt)+) => {{
        let (left, right) = (&$left, &$right);
        if left != right {
            $problems.push(format!(
                "{}:\n  got:      {left:?}\n  expected: {right:?}",
                format!($($message)+)
            ));
        }
    }};
}

fn assert_no_problems(problems: &[String]) {
    assert!(
        problems.is_empty(),
        "{} problem(s):\n\n{}",
        problems.len(),
        problems.join("\n\n")
    );
}

#[test]
fn every_object_kind_is_copied() {
    let (src, tgt) = (source(), target());
    src.create_role(SHARED_ROLE, "unused-1", "NOLOGIN")
        .expect("shared role on the source");
    tgt.create_role(SHARED_ROLE, "unused-1", "NOLOGIN")
        .expect("shared role on the target");
    src.create_role(SOURCE_ONLY_ROLE, "unused-2", "NOLOGIN")
        .expect("source-only role");
    let db = src.create_database("kinds").expect("source database");
    script(src, &db, ALL_KINDS);

    let target_db = format!("kinds_copy_{}", std::process::id());
    let staging = ENGINE.staging_location(&pg(tgt.url(&target_db)), &op_id());
    let stats = copy_from(src.url(&db), &staging);
    let copy_db = dbname(&staging);
    let mut problems = Vec::new();

    let copied_rows = |table: &str| {
        stats
            .tables
            .iter()
            .find(|(name, _)| name == table)
            .map(|(_, rows)| *rows)
    };
    for (table, expected) in [
        ("sales.events_2023", 365),
        ("sales.events_2024", 366),
        ("sales.events_other", 1200 - 365 - 366),
        ("inventory.items", 2), // the parent's own rows only
        ("inventory.perishables", 1),
        ("sales.heartbeat", 2),
    ] {
        check_eq!(
            problems,
            copied_rows(table),
            Some(expected),
            "rows copied into {table}"
        );
    }

    // Schema: the same dump, but for the grants to the role the target lacks.
    let source_dump = schema_dump(src, &db);
    let copy_dump = schema_dump(tgt, &copy_db);
    let (source_entries, source_only) = comparable(&source_dump, &db, SOURCE_ONLY_QUOTED);
    let (copy_entries, copy_only) = comparable(&copy_dump, &copy_db, SOURCE_ONLY_QUOTED);
    assert!(
        source_only.len() >= 20
            && source_only
                .iter()
                .any(|l| l.starts_with("ALTER DEFAULT PRIVILEGES")),
        "the source grants to {SOURCE_ONLY_ROLE}: {source_only:#?}"
    );
    check_eq!(
        problems,
        copy_only,
        Vec::<String>::new(),
        "grants to a role the target lacks"
    );
    check!(
        problems,
        !copy_dump.contains(SOURCE_ONLY_QUOTED),
        "the copy names {SOURCE_ONLY_ROLE}, a role its server lacks"
    );
    for kept in [
        "ALTER SCHEMA inventory OWNER TO ak_shared;",
        "ALTER TABLE inventory.perishables OWNER TO ak_shared;",
        "GRANT SELECT,INSERT ON TABLE sales.customers TO ak_shared;",
        "GRANT UPDATE(status) ON TABLE sales.invoices TO ak_shared;",
        "REVOKE ALL ON FUNCTION sales.vat(amount numeric) FROM PUBLIC;",
        "GRANT ALL ON FUNCTION sales.vat(amount numeric) TO ak_shared;",
        // pg_dump writes two spaces here.
        "ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA sales GRANT SELECT ON TABLES  TO ak_shared;",
        "CREATE TRIGGER customers_touch BEFORE INSERT OR UPDATE ON sales.customers",
        "CREATE POLICY own_invoices ON sales.invoices",
        "ALTER TABLE ONLY sales.events ATTACH PARTITION sales.events_other DEFAULT;",
        "CREATE INDEX customers_profile ON sales.customers USING gin (profile jsonb_path_ops);",
        "COMMENT ON SCHEMA \"Ventes Été\" IS 'Ventes de l''été — schéma non ASCII';",
    ] {
        assert!(
            source_dump.contains(kept),
            "fixture or expectation out of date: {kept}"
        );
        check!(
            problems,
            copy_dump.contains(kept),
            "the copy's schema lacks: {kept}"
        );
    }
    problems.extend(entries_differ(&source_entries, &copy_entries));

    // Rows: every table, same count and content.
    let source_sums = table_checksums(&pg(src.url(&db))).expect("source checksums");
    let copy_sums = table_checksums(&staging).expect("copy checksums");
    assert!(source_sums.len() >= 12, "{source_sums:?}");
    check_eq!(problems, copy_sums, source_sums, "table checksums");

    let mut source_client = client(src, &db);
    let mut copy = client(tgt, &copy_db);

    // Sequences: where the source's were.
    let source_sequences = sequences(&mut source_client);
    assert!(
        source_sequences.contains(&"sales.invoice_no 1028|t".to_owned()),
        "{source_sequences:?}"
    );
    check_eq!(
        problems,
        sequences(&mut copy),
        source_sequences,
        "sequences"
    );

    // Large objects: same oids, same bytes.
    let source_objects = large_objects(&mut source_client);
    assert_eq!(
        source_objects
            .iter()
            .map(|(oid, len, _)| (*oid, *len))
            .collect::<Vec<_>>(),
        [(4_242_001, 3 + 2 * 1_300_000), (4_242_002, 0)]
    );
    check_eq!(
        problems,
        large_objects(&mut copy),
        source_objects,
        "large objects"
    );

    // Materialized views: populated ones hold the source's rows, the other is still empty.
    for view in ["sales.revenue_by_status", "sales.revenue_total"] {
        check!(
            problems,
            is_populated(&mut copy, view),
            "{view} is not populated"
        );
        let sql = format!("SELECT * FROM {view} ORDER BY 1");
        let expected = rows(&mut source_client, &sql);
        assert!(!expected.is_empty());
        if is_populated(&mut copy, view) {
            check_eq!(problems, rows(&mut copy, &sql), expected, "rows of {view}");
        }
    }
    check!(
        problems,
        !is_populated(&mut copy, "sales.pending_report"),
        "sales.pending_report (WITH NO DATA) was populated"
    );

    // Identities, the sequence behind a default, generated columns and triggers go on.
    let inserts = [
        (
            "INSERT INTO sales.customers (name) VALUES ('New') \
             RETURNING id, updated_at IS NOT NULL",
            "4|t",
        ),
        (
            "INSERT INTO \"Ventes Été\".\"Commandes \"\"Spéciales\"\"\" (\"from\") VALUES ('x') \
             RETURNING \"select\"",
            "3",
        ),
        (
            "INSERT INTO sales.invoices (customer_id, amount, issued_at) VALUES (4, 10, now()) \
             RETURNING no, total",
            "1035|12.0000000000",
        ),
    ];
    for (sql, expected) in inserts {
        match try_rows(&mut copy, sql) {
            Ok(returned) => check_eq!(problems, returned, [expected], "{sql}"),
            Err(e) => problems.push(format!("the copy refused {sql}: {e}")),
        }
    }
    // Constraints are real in the copy.
    let refused = [
        "INSERT INTO sales.invoices (customer_id, amount, issued_at) VALUES (99, 1, now())",
        "INSERT INTO sales.invoices (customer_id, amount, issued_at) VALUES (1, -1, now())",
        "INSERT INTO sales.customers (name) VALUES ('ADA')",
        "INSERT INTO \"Ventes Été\".\"Commandes \"\"Spéciales\"\"\" (\"select\") VALUES (10)",
        "INSERT INTO inventory.items VALUES (1, 'dup')",
    ];
    for sql in refused {
        check!(
            problems,
            copy.simple_query(sql).is_err(),
            "the copy accepted: {sql}"
        );
    }
    assert_no_problems(&problems);
}

// ---------------------------------------------------------------------------------------
// 2. One point in time, whatever the writers do
// ---------------------------------------------------------------------------------------

const ACCOUNTS: i64 = 200;
const BALANCE: i64 = 1_000;
const CHILDREN: i32 = 3;

/// A bank whose total never changes and whose `moves` count twice the transfers logged;
/// parents that each have `children` children (a real foreign key); filler rows so that
/// the copy takes a while. Parents are bigger than children, so a copy that did not
/// share one snapshot would read the parents first and find orphans.
const LOAD_SCHEMA: &str = "
CREATE TABLE accounts (id integer PRIMARY KEY, balance bigint NOT NULL,
                       moves bigint NOT NULL DEFAULT 0);
INSERT INTO accounts (id, balance) SELECT g, 1000 FROM generate_series(1, 200) AS g;
CREATE TABLE transfers (id bigserial PRIMARY KEY, from_id integer NOT NULL,
                        to_id integer NOT NULL, amount bigint NOT NULL);
CREATE TABLE parents (id bigserial PRIMARY KEY, children integer NOT NULL, pad text NOT NULL);
CREATE TABLE children (id bigserial PRIMARY KEY,
                       parent_id bigint NOT NULL REFERENCES parents (id), n integer NOT NULL);
INSERT INTO parents (children, pad) SELECT 3, repeat('p', 400) FROM generate_series(1, 5000);
INSERT INTO children (parent_id, n) SELECT p.id, g FROM parents AS p, generate_series(1, 3) AS g;
CREATE TABLE filler (id integer PRIMARY KEY, pad text NOT NULL);
INSERT INTO filler SELECT g, repeat(md5(g::text), 8) FROM generate_series(1, 150000) AS g;
";

/// A small xorshift generator: the tests need spread, not quality.
fn next_random(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// Moves a random amount between two accounts (rows locked in id order) and logs it.
fn transfer(client: &mut postgres::Client, random: &mut u64) -> Result<(), postgres::Error> {
    let a = 1 + (next_random(random) % ACCOUNTS as u64) as i32;
    let b = 1 + ((a as u64 + next_random(random) % (ACCOUNTS as u64 - 1)) % ACCOUNTS as u64) as i32;
    let amount = 1 + (next_random(random) % 50) as i64;
    let mut legs = [(a, -amount), (b, amount)];
    legs.sort_unstable();
    let mut tx = client.transaction()?;
    for (id, delta) in legs {
        tx.execute(
            "UPDATE accounts SET balance = balance + $2, moves = moves + 1 WHERE id = $1",
            &[&id, &delta],
        )?;
    }
    tx.execute(
        "INSERT INTO transfers (from_id, to_id, amount) VALUES ($1, $2, $3)",
        &[&a, &b, &amount],
    )?;
    tx.commit()
}

/// A parent, then its children, in one transaction.
fn family(client: &mut postgres::Client) -> Result<(), postgres::Error> {
    let mut tx = client.transaction()?;
    let id: i64 = tx
        .query_one(
            "INSERT INTO parents (children, pad) VALUES ($1, repeat('p', 400)) RETURNING id",
            &[&CHILDREN],
        )?
        .get(0);
    for n in 1..=CHILDREN {
        tx.execute(
            "INSERT INTO children (parent_id, n) VALUES ($1, $2)",
            &[&id, &n],
        )?;
    }
    tx.commit()
}

/// Sets the flag when dropped, so writers stop even if the test panics.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

struct Writers {
    stop: AtomicBool,
    copying: AtomicBool,
    commits: AtomicU64,
    during_copy: AtomicU64,
}

fn write_until_stopped(cluster: &Cluster, db: &str, seed: u64, writers: &Writers) {
    let mut client = client(cluster, db);
    let mut random = seed;
    while !writers.stop.load(Ordering::SeqCst) {
        let result = if next_random(&mut random).is_multiple_of(3) {
            family(&mut client)
        } else {
            transfer(&mut client, &mut random)
        };
        match result {
            Ok(()) => {
                writers.commits.fetch_add(1, Ordering::SeqCst);
                if writers.copying.load(Ordering::SeqCst) {
                    writers.during_copy.fetch_add(1, Ordering::SeqCst);
                }
            }
            Err(e) if e.code() == Some(&postgres::error::SqlState::T_R_DEADLOCK_DETECTED) => {}
            Err(e) => panic!("writer: {e}"),
        }
    }
}

fn count(client: &mut postgres::Client, sql: &str) -> i64 {
    client
        .query_one(sql, &[])
        .unwrap_or_else(|e| panic!("{sql}: {}", describe(&e)))
        .get(0)
}

#[test]
fn copy_is_one_point_in_time_under_write_load() {
    let (src, tgt) = (source(), target());
    let db = src.create_database("load").expect("source database");
    script(src, &db, LOAD_SCHEMA);
    let staging = ENGINE.staging_location(
        &pg(tgt.url(&format!("load_{}", std::process::id()))),
        &op_id(),
    );

    let writers = Writers {
        stop: AtomicBool::new(false),
        copying: AtomicBool::new(false),
        commits: AtomicU64::new(0),
        during_copy: AtomicU64::new(0),
    };
    let copy_time = thread::scope(|scope| {
        let _stop = StopOnDrop(&writers.stop);
        for seed in [
            0x9E37_79B9_7F4A_7C15,
            0xD1B5_4A32_D192_ED03,
            0x8CB9_2BA7_2F3D_8DD7,
        ] {
            let writers = &writers;
            let db = db.as_str();
            scope.spawn(move || write_until_stopped(src, db, seed, writers));
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while writers.commits.load(Ordering::SeqCst) < 30 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
        writers.copying.store(true, Ordering::SeqCst);
        let started = Instant::now();
        copy_from(src.url(&db), &staging);
        let copy_time = started.elapsed();
        writers.copying.store(false, Ordering::SeqCst);
        copy_time
    });
    eprintln!(
        "copy under load took {copy_time:?}; {} commits during it, {} in all",
        writers.during_copy.load(Ordering::SeqCst),
        writers.commits.load(Ordering::SeqCst)
    );

    let mut copy = client(tgt, &dbname(&staging));
    let mut after = client(src, &db);
    assert_eq!(count(&mut copy, "SELECT count(*) FROM accounts"), ACCOUNTS);
    assert_eq!(
        count(&mut copy, "SELECT sum(balance)::bigint FROM accounts"),
        ACCOUNTS * BALANCE,
        "money appeared or vanished in the copy"
    );
    assert_eq!(
        count(&mut copy, "SELECT sum(moves)::bigint FROM accounts"),
        2 * count(&mut copy, "SELECT count(*) FROM transfers"),
        "accounts and the transfer log are from different moments"
    );
    assert_eq!(
        count(
            &mut copy,
            "SELECT count(*) FROM children AS c LEFT JOIN parents AS p ON p.id = c.parent_id \
             WHERE p.id IS NULL"
        ),
        0,
        "orphans in the copy"
    );
    assert_eq!(
        count(
            &mut copy,
            "SELECT count(*) FROM parents AS p \
             WHERE p.children <> (SELECT count(*) FROM children AS c WHERE c.parent_id = p.id)"
        ),
        0,
        "parents missing some of their children in the copy"
    );
    // The foreign key was built on the copied rows, and holds.
    assert_eq!(
        count(
            &mut copy,
            "SELECT count(*) FROM pg_constraint \
             WHERE conrelid = 'children'::regclass AND contype = 'f' AND convalidated"
        ),
        1
    );
    let orphan = copy
        .execute("INSERT INTO children (parent_id, n) VALUES (-1, 1)", &[])
        .expect_err("the copy's foreign key let an orphan in");
    assert_eq!(
        orphan.code(),
        Some(&postgres::error::SqlState::FOREIGN_KEY_VIOLATION)
    );
    // Writers were busy: the copy has what was committed before it started, and the
    // source moved on while it ran.
    assert!(
        writers.during_copy.load(Ordering::SeqCst) > 0,
        "no commit during the copy"
    );
    let copied_transfers = count(&mut copy, "SELECT count(*) FROM transfers");
    let copied_parents = count(&mut copy, "SELECT count(*) FROM parents");
    assert!(copied_transfers > 0 || copied_parents > 5000);
    let (source_transfers, source_parents) = (
        count(&mut after, "SELECT count(*) FROM transfers"),
        count(&mut after, "SELECT count(*) FROM parents"),
    );
    assert!(
        source_transfers + source_parents > copied_transfers + copied_parents,
        "nothing was committed after the copy's snapshot: the test proves nothing"
    );
    assert_eq!(count(&mut copy, "SELECT count(*) FROM filler"), 150_000);
}

// ---------------------------------------------------------------------------------------
// 3. Cutover and swap back
// ---------------------------------------------------------------------------------------

/// What a client that connects anew every 10 ms saw: when, and `marker`'s value or nothing.
fn poll_marker(cluster: &Cluster, db: &str, stop: &AtomicBool) -> Vec<(Instant, Option<String>)> {
    let mut seen = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        let at = Instant::now();
        let value = cluster.client(db).ok().and_then(|mut c| {
            c.query_one("SELECT v FROM marker", &[])
                .ok()
                .map(|row| row.get::<_, String>(0))
        });
        seen.push((at, value));
        thread::sleep(Duration::from_millis(10));
    }
    seen
}

fn marker(cluster: &Cluster, db: &str) -> String {
    psql(cluster, db, "SELECT v FROM marker")
}

fn database_names(cluster: &Cluster, prefix: &str) -> Vec<String> {
    rows(
        &mut client(cluster, "postgres"),
        &format!(
            "SELECT datname FROM pg_database WHERE starts_with(datname, '{prefix}') ORDER BY 1"
        ),
    )
}

#[test]
fn cutover_swaps_in_the_copy_and_swap_back_restores_the_target() {
    let (src, tgt) = (source(), target());
    let owner = "cutover_owner";
    tgt.create_role(owner, "unused-3", "NOLOGIN")
        .expect("owner role");
    let target_db = tgt.create_database("cut").expect("target database");
    psql(
        tgt,
        "postgres",
        &format!("ALTER DATABASE {target_db} OWNER TO {owner}"),
    );
    script(
        tgt,
        &target_db,
        "CREATE TABLE marker (v text); INSERT INTO marker VALUES ('old');
         CREATE TABLE only_old (x int);",
    );
    // Who may connect and the database's settings belong to the environment: the copy
    // must take them over.
    let app = "Cutover App";
    tgt.create_role(app, "unused-6", "NOLOGIN")
        .expect("app role");
    script(
        tgt,
        "postgres",
        &format!(
            "REVOKE ALL ON DATABASE {target_db} FROM PUBLIC;
             GRANT CONNECT, TEMPORARY ON DATABASE {target_db} TO \"{app}\";
             GRANT CREATE ON DATABASE {target_db} TO \"{app}\" WITH GRANT OPTION;
             ALTER DATABASE {target_db} SET timezone = 'Pacific/Auckland';
             ALTER DATABASE {target_db} SET search_path = app, \"$user\", public;
             ALTER DATABASE {target_db} SET app.motd = 'it''s a \"sandbox\"';
             ALTER ROLE \"{app}\" IN DATABASE {target_db} SET work_mem = '8MB';"
        ),
    );
    let environment = |db: &str| {
        let mut server = client(tgt, "postgres");
        let mut facts = rows(
            &mut server,
            &format!(
                "SELECT format('%s %s %s', pg_get_userbyid(a.grantee), a.privilege_type, \
                        a.is_grantable) \
                 FROM pg_database AS d, aclexplode(d.datacl) AS a \
                 WHERE d.datname = '{db}' ORDER BY 1"
            ),
        );
        facts.extend(rows(
            &mut server,
            &format!(
                "SELECT format('%s %s', coalesce(pg_get_userbyid(nullif(s.setrole, 0)), '-'), \
                        c.setting) \
                 FROM pg_db_role_setting AS s JOIN pg_database AS d ON d.oid = s.setdatabase, \
                      unnest(s.setconfig) AS c (setting) \
                 WHERE d.datname = '{db}' ORDER BY 1"
            ),
        ));
        facts
    };
    let target_environment = environment(&target_db);
    assert!(target_environment.len() >= 9, "{target_environment:#?}");
    let source_db = src.create_database("cutsrc").expect("source database");
    script(
        src,
        &source_db,
        "CREATE TABLE marker (v text); INSERT INTO marker VALUES ('new');
         CREATE TABLE rows AS SELECT g FROM generate_series(1, 10000) AS g;",
    );
    let target_loc = pg(tgt.url(&target_db));
    let op = op_id();
    let staging = ENGINE.staging_location(&target_loc, &op);
    let previous = ENGINE.previous_location(&target_loc, &op);
    let (staging_db, previous_db) = (dbname(&staging), dbname(&previous));
    assert!(staging_db.starts_with(&target_db) && previous_db.starts_with(&target_db));
    copy_from(src.url(&source_db), &staging);
    assert!(exists(&staging));
    assert!(!exists(&previous));

    // A session on the target that would block the renames: in a transaction, holding
    // a lock. The cutover must end it rather than wait for it.
    let mut held = client(tgt, &target_db);
    held.batch_execute("BEGIN; LOCK TABLE only_old IN ACCESS EXCLUSIVE MODE")
        .expect("hold a lock");
    let stop = AtomicBool::new(false);
    let (downtime, seen) = thread::scope(|scope| {
        let _stop = StopOnDrop(&stop);
        let poller = scope.spawn(|| poll_marker(tgt, &target_db, &stop));
        thread::sleep(Duration::from_millis(150));
        let downtime = ENGINE
            .cutover(&target_loc, &staging, &previous)
            .expect("cutover");
        thread::sleep(Duration::from_millis(150));
        stop.store(true, Ordering::SeqCst);
        (downtime, poller.join().expect("poller"))
    });
    assert!(downtime < Duration::from_secs(1), "downtime {downtime:?}");
    assert!(
        held.simple_query("SELECT 1").is_err(),
        "the session held open on the target survived the cutover"
    );

    // The poller saw the old target, then perhaps nothing for a moment, then the new one.
    let values: Vec<&str> = seen.iter().filter_map(|(_, v)| v.as_deref()).collect();
    let first_new = values.iter().position(|v| *v == "new");
    assert!(
        first_new.is_some_and(|i| i > 0 && values[..i].iter().all(|v| *v == "old")),
        "expected old... then new...: {values:?}"
    );
    assert!(
        values[first_new.unwrap_or(0)..].iter().all(|v| *v == "new"),
        "the old target came back: {values:?}"
    );
    let mut last_ok: Option<Instant> = None;
    let mut longest_gap = Duration::ZERO;
    for (at, value) in &seen {
        if value.is_some() {
            if let Some(before) = last_ok {
                longest_gap = longest_gap.max(at.duration_since(before));
            }
            last_ok = Some(*at);
        }
    }
    eprintln!(
        "cutover downtime {downtime:?}; the poller's longest gap {longest_gap:?} over {} polls",
        seen.len()
    );
    assert!(
        longest_gap < Duration::from_secs(1),
        "clients could not read the target for {longest_gap:?}"
    );

    // Afterwards: the copy is the target (with the target's owner, open), the old one is
    // kept, closed to connections (the swap reopens only the database it names last).
    assert_eq!(marker(tgt, &target_db), "new");
    assert!(!exists(&staging));
    let database = |name: &str| {
        psql(
            tgt,
            "postgres",
            &format!(
                "SELECT pg_get_userbyid(datdba), datallowconn FROM pg_database \
                 WHERE datname = '{name}'"
            ),
        )
    };
    assert_eq!(database(&target_db), format!("{owner}|t"));
    assert_eq!(database(&previous_db), format!("{owner}|f"));
    assert_eq!(environment(&target_db), target_environment);
    assert_eq!(environment(&previous_db), target_environment);
    assert_eq!(
        psql(
            tgt,
            &target_db,
            "SELECT current_setting('TimeZone') || ' ' || current_setting('search_path') \
             || ' ' || current_setting('app.motd')"
        ),
        "Pacific/Auckland app, \"$user\", public it's a \"sandbox\""
    );
    let peek_previous = || {
        psql(
            tgt,
            "postgres",
            &format!("ALTER DATABASE \"{previous_db}\" ALLOW_CONNECTIONS true"),
        );
        let value = marker(tgt, &previous_db);
        psql(
            tgt,
            "postgres",
            &format!("ALTER DATABASE \"{previous_db}\" ALLOW_CONNECTIONS false"),
        );
        value
    };
    assert_eq!(peek_previous(), "old");

    // Again: nothing to do, nothing changes.
    assert_eq!(
        ENGINE
            .cutover(&target_loc, &staging, &previous)
            .expect("cutover again"),
        Duration::ZERO
    );
    assert_eq!(marker(tgt, &target_db), "new");
    assert_eq!(peek_previous(), "old");

    // Swap back: the old content is the target again, the copy is gone.
    ENGINE.swap_back(&target_loc, &previous).expect("swap back");
    assert_eq!(marker(tgt, &target_db), "old");
    assert_eq!(
        psql(
            tgt,
            &target_db,
            "SELECT to_regclass('only_old') IS NOT NULL"
        ),
        "t"
    );
    assert!(!exists(&previous));
    assert!(!exists(&staging));
    assert_eq!(database_names(tgt, &target_db), [target_db.as_str()]);
    assert_eq!(environment(&target_db), target_environment);
    ENGINE
        .swap_back(&target_loc, &previous)
        .expect("swap back again");
    assert_eq!(marker(tgt, &target_db), "old");
    assert_eq!(database_names(tgt, &target_db), [target_db.as_str()]);
}

// ---------------------------------------------------------------------------------------
// 4. The source is only read
// ---------------------------------------------------------------------------------------

const READER: &str = "reader";
const READER_PASSWORD: &str = "reader-Pw-4d7e";

/// Tables (plain, partitioned, with identity and serial), a view, a populated
/// materialized view, a function, a large object.
const READ_ONLY_SOURCE: &str = "
CREATE SCHEMA app;
CREATE TABLE app.orders (id serial PRIMARY KEY, customer text NOT NULL,
                         placed date NOT NULL DEFAULT date '2024-01-01');
INSERT INTO app.orders (customer) SELECT 'c' || (g % 37) FROM generate_series(1, 500) AS g;
CREATE TABLE app.lines (order_id integer NOT NULL REFERENCES app.orders, n integer NOT NULL,
                        PRIMARY KEY (order_id, n));
INSERT INTO app.lines SELECT o.id, g FROM app.orders AS o, generate_series(1, 2) AS g;
CREATE TABLE app.measures (id bigint GENERATED ALWAYS AS IDENTITY, at date NOT NULL, v numeric)
    PARTITION BY RANGE (at);
CREATE TABLE app.measures_2024 PARTITION OF app.measures
    FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE app.measures_rest PARTITION OF app.measures DEFAULT;
INSERT INTO app.measures (at, v) SELECT date '2023-11-01' + g, g / 7.0 FROM generate_series(1, 400) AS g;
CREATE VIEW app.big_orders AS SELECT o.id, count(*) AS lines FROM app.orders AS o
    JOIN app.lines AS l ON l.order_id = o.id GROUP BY o.id;
CREATE MATERIALIZED VIEW app.per_customer AS
    SELECT customer, count(*) AS orders FROM app.orders GROUP BY customer;
CREATE FUNCTION app.total() RETURNS bigint LANGUAGE sql STABLE
    AS $$ SELECT count(*) FROM app.orders $$;
CREATE TABLE app.files (id integer PRIMARY KEY, content oid NOT NULL);
SELECT lo_from_bytea(777001, '\\x68656c6c6f00776f726c64'::bytea) \\g /dev/null
INSERT INTO app.files VALUES (1, 777001);
";

/// What the source holds, to see that a copy changed none of it.
fn fingerprint(cluster: &Cluster, db: &str) -> (String, Vec<(String, i64, String)>, Vec<String>) {
    let dump: String = schema_dump(cluster, db)
        .lines()
        .filter(|l| !l.starts_with("\\restrict ") && !l.starts_with("\\unrestrict "))
        .collect::<Vec<_>>()
        .join("\n");
    let sums = table_checksums(&pg(cluster.url(db))).expect("checksums");
    let mut c = client(cluster, db);
    let mut state = sequences(&mut c);
    state.extend(
        large_objects(&mut c)
            .into_iter()
            .map(|(oid, len, sha)| format!("lo {oid} {len} {sha}")),
    );
    state.extend(rows(
        &mut c,
        "SELECT format('%s %s %s', relname, relkind, relispopulated) FROM pg_class \
         WHERE relnamespace = 'app'::regnamespace ORDER BY 1",
    ));
    (dump, sums, state)
}

#[test]
fn a_role_that_may_only_read_the_source_can_copy_it() {
    let (src, tgt) = (source(), target());
    src.create_role(READER, READER_PASSWORD, "LOGIN")
        .expect("reader role");
    let db = src.create_database("readonly").expect("source database");
    script(src, &db, READ_ONLY_SOURCE);
    // Read rights and nothing else: not even the temporary tables every role may make by
    // default, and every transaction read-only. Reading where a sequence stands needs
    // SELECT on it, which `ON ALL TABLES` does not give; large objects need their own.
    script(
        src,
        &db,
        &format!(
            "REVOKE ALL ON DATABASE {db} FROM PUBLIC;
             GRANT CONNECT ON DATABASE {db} TO {READER};
             GRANT USAGE ON SCHEMA public, app TO {READER};
             GRANT SELECT ON ALL TABLES IN SCHEMA public, app TO {READER};
             GRANT SELECT ON ALL SEQUENCES IN SCHEMA public, app TO {READER};
             GRANT SELECT ON LARGE OBJECT 777001 TO {READER};
             ALTER ROLE {READER} SET default_transaction_read_only = on;"
        ),
    );
    let mut reader = src
        .client_as(READER, READER_PASSWORD, &db)
        .expect("reader connects");
    for write in [
        "CREATE TEMP TABLE scratch (x int)",
        "INSERT INTO app.orders (customer) VALUES ('x')",
        "CREATE TABLE public.t (x int)",
    ] {
        assert!(
            reader.batch_execute(write).is_err(),
            "the reader may write: {write}"
        );
    }
    drop(reader);

    let before = fingerprint(src, &db);
    let staging = ENGINE.staging_location(
        &pg(tgt.url(&format!("ro_{}", std::process::id()))),
        &op_id(),
    );
    let stats = copy_from(src.url_as(READER, READER_PASSWORD, &db), &staging);
    assert!(
        stats
            .tables
            .iter()
            .any(|(t, rows)| t == "app.lines" && *rows == 1000),
        "{stats:?}"
    );
    let after = fingerprint(src, &db);
    assert_eq!(after.0, before.0, "the source's schema changed");
    assert_eq!(after.1, before.1, "the source's rows changed");
    assert_eq!(
        after.2, before.2,
        "the source's sequences, large objects or relations changed"
    );

    // And the copy is whole.
    assert_eq!(table_checksums(&staging).expect("copy checksums"), before.1);
    let mut copy = client(tgt, &dbname(&staging));
    let mut copy_state = sequences(&mut copy);
    copy_state.extend(
        large_objects(&mut copy)
            .into_iter()
            .map(|(oid, len, sha)| format!("lo {oid} {len} {sha}")),
    );
    copy_state.extend(rows(
        &mut copy,
        "SELECT format('%s %s %s', relname, relkind, relispopulated) FROM pg_class \
         WHERE relnamespace = 'app'::regnamespace ORDER BY 1",
    ));
    assert_eq!(copy_state, before.2);
    assert_eq!(rows(&mut copy, "SELECT app.total()"), ["500"]);
}

// ---------------------------------------------------------------------------------------
// 5. check_refresh says what cannot work
// ---------------------------------------------------------------------------------------

fn check_refresh(source: String, target: String) -> Result<(), String> {
    ENGINE
        .check_refresh(&pg(source), &pg(target))
        .map_err(|e| e.to_string())
}

#[test]
fn check_refresh_accepts_a_pair_that_works() {
    let (src, tgt) = (source(), target());
    let source_db = src.create_database("chkok").expect("source database");
    psql(src, &source_db, "CREATE EXTENSION hstore");
    let target_db = tgt.create_database("chkok").expect("target database");
    check_refresh(src.url(&source_db), tgt.url(&target_db)).expect("a pair that works");
}

#[test]
fn check_refresh_refuses_a_target_user_who_may_not_create_databases() {
    let (src, tgt) = (source(), target());
    let source_db = src.create_database("chkdb").expect("source database");
    let user = "owner_nocreatedb";
    let password = "nocreatedb-Pw-81";
    tgt.create_role(user, password, "LOGIN NOCREATEDB")
        .expect("role");
    let target_db = tgt.create_database("chkdb").expect("target database");
    psql(
        tgt,
        "postgres",
        &format!("ALTER DATABASE {target_db} OWNER TO {user}"),
    );
    let error = check_refresh(src.url(&source_db), tgt.url_as(user, password, &target_db))
        .expect_err("a user without CREATEDB cannot make the staging copy");
    assert!(
        error.contains(user)
            && error.contains("may not create databases")
            && error.contains("CREATEDB"),
        "{error}"
    );
    assert!(!error.contains(password), "{error}");

    // The other right: CREATEDB but not the target's owner.
    let other = "createdb_not_owner";
    tgt.create_role(other, password, "LOGIN CREATEDB")
        .expect("role");
    let error = check_refresh(src.url(&source_db), tgt.url_as(other, password, &target_db))
        .expect_err("a user who does not own the target cannot rename it");
    assert!(
        error.contains(other) && error.contains("does not own") && error.contains(&target_db),
        "{error}"
    );
}

#[test]
fn check_refresh_refuses_an_extension_version_the_target_cannot_install() {
    let (src, tgt) = (source(), target());
    let source_db = src.create_database("chkext").expect("source database");
    script(
        src,
        &source_db,
        "CREATE EXTENSION citext;
         UPDATE pg_extension SET extversion = '99.0' WHERE extname = 'citext';",
    );
    let target_db = tgt.create_database("chkext").expect("target database");
    let error = check_refresh(src.url(&source_db), tgt.url(&target_db))
        .expect_err("citext 99.0 does not exist on the target server");
    assert!(
        error.contains("citext 99.0") && error.contains("extension"),
        "{error}"
    );
    let offered = psql(
        tgt,
        &target_db,
        "SELECT max(version) FROM pg_available_extension_versions WHERE name = 'citext'",
    );
    assert!(
        error.contains(&offered),
        "should say what the target offers: {error}"
    );
}

#[test]
fn check_refresh_hides_a_wrong_password() {
    let (src, tgt) = (source(), target());
    let source_db = src.create_database("chkpw").expect("source database");
    let target_db = tgt.create_database("chkpw").expect("target database");
    let wrong = "Wr0ng-Secret-7731";
    for (source_url, target_url) in [
        (
            src.url_as(SUPERUSER, wrong, &source_db),
            tgt.url(&target_db),
        ),
        (
            src.url(&source_db),
            tgt.url_as(SUPERUSER, wrong, &target_db),
        ),
    ] {
        let error = check_refresh(source_url, target_url).expect_err("wrong password");
        assert!(error.contains("password authentication failed"), "{error}");
        assert!(!error.contains(wrong), "the password leaked: {error}");
        assert!(
            !error.contains(src.password()) && !error.contains(tgt.password()),
            "a password leaked: {error}"
        );
    }
}

#[test]
fn check_refresh_gives_up_quickly_on_unreachable_servers() {
    let (src, tgt) = (source(), target());
    let source_db = src.create_database("chknet").expect("source database");
    let target_db = tgt.create_database("chknet").expect("target database");
    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("address").port()
    };
    let closed = format!("postgres://postgres:pw@127.0.0.1:{closed_port}/app");
    let nowhere = "postgres://postgres:pw@10.255.255.1:5432/app".to_owned();
    // In parallel: the non-routable address takes the whole connect timeout.
    thread::scope(|scope| {
        let cases = [
            (
                closed.clone(),
                tgt.url(&target_db),
                format!("127.0.0.1:{closed_port}"),
            ),
            (
                src.url(&source_db),
                closed.clone(),
                format!("127.0.0.1:{closed_port}"),
            ),
            (
                src.url(&source_db),
                nowhere.clone(),
                "10.255.255.1".to_owned(),
            ),
        ];
        let handles: Vec<_> = cases
            .into_iter()
            .map(|(source_url, target_url, named)| {
                scope.spawn(move || {
                    let started = Instant::now();
                    let result = check_refresh(source_url, target_url);
                    (named, started.elapsed(), result)
                })
            })
            .collect();
        for handle in handles {
            let (named, took, result) = handle.join().expect("check thread");
            let error = result.expect_err("an unreachable server");
            eprintln!("unreachable {named}: {took:?}: {error}");
            assert!(
                took < Duration::from_secs(6),
                "{named}: gave up after {took:?}"
            );
            assert!(
                error.contains(&named),
                "the error should name {named}: {error}"
            );
            assert!(!error.contains(":pw@"), "the password leaked: {error}");
        }
    });
}

/// A server that takes the TCP connection and then never answers (hung, or behind a
/// proxy that accepts and stalls): the whole connection attempt must be bounded, not
/// just the TCP handshake.
#[test]
fn check_refresh_gives_up_on_a_server_that_never_answers() {
    let tgt = target();
    let target_db = tgt.create_database("chkmute").expect("target database");
    // Never accepted: the kernel completes the handshake, nothing ever replies.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    let mute = format!("postgres://postgres:pw@127.0.0.1:{port}/app");
    let target_url = tgt.url(&target_db);
    let (sender, receiver) = std::sync::mpsc::channel();
    let started = Instant::now();
    // Not scoped: if the check hangs, the thread is left behind with the listener.
    thread::spawn(move || {
        let _listener = listener;
        let _ = sender.send(check_refresh(mute, target_url));
    });
    match receiver.recv_timeout(Duration::from_secs(8)) {
        Ok(Ok(())) => panic!("check_refresh accepted a server that never answered"),
        Ok(Err(error)) => {
            let took = started.elapsed();
            assert!(
                took < Duration::from_secs(6),
                "gave up after {took:?}: {error}"
            );
            assert!(error.contains(&format!("127.0.0.1:{port}")), "{error}");
        }
        Err(_) => panic!(
            "check_refresh still waits for a server that never answers after 8 s \
             (the connect timeout covers only the TCP connection, not the startup)"
        ),
    }
}

// ---------------------------------------------------------------------------------------
// Cases found while writing the tests above
// ---------------------------------------------------------------------------------------

const USER_TYPES: &str = "
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TYPE point2 AS (x integer, y integer);
CREATE TYPE feeling AS (label text, mood mood);
CREATE DOMAIN score AS integer CHECK (VALUE >= 0);
";

/// Binary COPY carries the type oids of array elements and composite fields, and those
/// of user types differ between the source and the staging database (PostgreSQL 15's
/// receivers accept that; this keeps it checked).
#[test]
fn columns_of_arrays_and_composites_of_user_types_are_copied() {
    let (src, tgt) = (source(), target());
    let cases = [
        ("a composite of built-in types", "point2", "ROW(1, 2)"),
        ("an array of an enum", "mood[]", "'{sad,happy}'"),
        (
            "an array of a composite",
            "point2[]",
            "'{\"(1,2)\",\"(3,4)\"}'",
        ),
        (
            "a composite holding an enum",
            "feeling",
            "ROW('monday', 'sad')",
        ),
        ("an array of a domain", "score[]", "'{1,2,3}'"),
    ];
    let problems: Vec<String> = thread::scope(|scope| {
        let handles: Vec<_> = cases
            .iter()
            .map(|(case, column_type, value)| {
                scope.spawn(move || {
                    let db = src.create_database("types").expect("source database");
                    script(
                        src,
                        &db,
                        &format!(
                            "{USER_TYPES}
                             CREATE TABLE t (id integer PRIMARY KEY, v {column_type});
                             INSERT INTO t VALUES (1, {value}), (2, NULL);"
                        ),
                    );
                    let staging = ENGINE.staging_location(&pg(tgt.url(&db)), &op_id());
                    let copied = ENGINE.copy(&pg(src.url(&db)), &staging, &options(), &Silent);
                    match copied {
                        Err(e) => Some(format!("a column of {case} ({column_type}): {e}")),
                        Ok(_) => {
                            let source_sums = table_checksums(&pg(src.url(&db))).expect("sums");
                            let copy_sums = table_checksums(&staging).expect("sums");
                            (source_sums != copy_sums).then(|| {
                                format!("a column of {case}: {copy_sums:?} != {source_sums:?}")
                            })
                        }
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|h| h.join().expect("case thread"))
            .collect()
    });
    assert_no_problems(&problems);
}

/// The pre-data schema is filtered line by line; lines inside function bodies, string
/// literals and comments are schema too, whatever they start with.
#[test]
fn schema_text_survives_the_filter_of_owner_and_grant_lines() {
    let (src, tgt) = (source(), target());
    // Exists on the source only, like a reporting role of production.
    src.create_role("lf_reporting", "unused-4", "NOLOGIN")
        .expect("source-only role");
    // (what, schema, a query of the text that must come through)
    let cases = [
        (
            "a comment with a line starting with a backslash",
            "CREATE TABLE exports (id integer);
             COMMENT ON TABLE exports IS 'Files are written to:
\\\\fileserver\\exports';",
            "SELECT obj_description('exports'::regclass, 'pg_class')",
        ),
        (
            "a function body with lines starting with a backslash",
            "CREATE FUNCTION latex_header() RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT '
\\documentclass{article}
\\begin{document}
' $$;",
            "SELECT prosrc FROM pg_proc WHERE proname = 'latex_header'",
        ),
        (
            "a function body with a line granting to a role the target lacks",
            "CREATE PROCEDURE grant_reporting() LANGUAGE plpgsql AS $$
BEGIN
GRANT SELECT ON ALL TABLES IN SCHEMA public TO lf_reporting;
END
$$;",
            "SELECT prosrc FROM pg_proc WHERE proname = 'grant_reporting'",
        ),
    ];
    let problems: Vec<String> = thread::scope(|scope| {
        let handles: Vec<_> = cases
            .iter()
            .map(|(case, schema, text)| {
                scope.spawn(move || {
                    let db = src.create_database("lines").expect("source database");
                    client(src, &db)
                        .batch_execute(schema)
                        .expect("source schema");
                    let expected = rows(&mut client(src, &db), text);
                    assert!(expected.iter().any(|r| r.contains('\n')), "{expected:?}");
                    let staging = ENGINE.staging_location(&pg(tgt.url(&db)), &op_id());
                    match ENGINE.copy(&pg(src.url(&db)), &staging, &options(), &Silent) {
                        Err(e) => Some(format!("{case}: the copy failed: {e}")),
                        Ok(_) => {
                            let copied = rows(&mut client(tgt, &dbname(&staging)), text);
                            (copied != expected).then(|| {
                                format!(
                                    "{case}: the copy has\n{}\ninstead of\n{}",
                                    copied.join("\n"),
                                    expected.join("\n")
                                )
                            })
                        }
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|h| h.join().expect("case thread"))
            .collect()
    });
    assert_no_problems(&problems);
}

/// Policies, like grants, may name roles only the source server has. Such a policy
/// applies to nobody on the target; it must not stop the copy.
#[test]
fn a_policy_for_a_role_the_target_lacks_does_not_stop_the_copy() {
    let (src, tgt) = (source(), target());
    src.create_role("pol_auditor", "unused-5", "NOLOGIN")
        .expect("source-only role");
    let db = src.create_database("policy").expect("source database");
    script(
        src,
        &db,
        "CREATE TABLE notes (id integer PRIMARY KEY, body text NOT NULL);
         INSERT INTO notes SELECT g, 'note ' || g FROM generate_series(1, 10) AS g;
         ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
         CREATE POLICY auditors ON notes FOR SELECT TO pol_auditor USING (true);",
    );
    let staging = ENGINE.staging_location(&pg(tgt.url(&db)), &op_id());
    copy_from(src.url(&db), &staging);
    let mut copy = client(tgt, &dbname(&staging));
    assert_eq!(count(&mut copy, "SELECT count(*) FROM notes"), 10);
    assert_eq!(
        rows(
            &mut copy,
            "SELECT relrowsecurity FROM pg_class WHERE relname = 'notes'"
        ),
        ["t"],
        "row-level security was switched off in the copy"
    );
}

/// Copying as a role that row-level security restricts must copy every row or fail,
/// never make a smaller copy that passes verification (pg_dump sets row_security off
/// for that reason, and fails).
#[test]
fn a_copy_under_row_level_security_is_whole_or_refused() {
    let (src, tgt) = (source(), target());
    let (role, password) = ("rls_reader", "rls-Pw-5521");
    src.create_role(role, password, "LOGIN")
        .expect("reader role");
    let db = src.create_database("rls").expect("source database");
    script(
        src,
        &db,
        &format!(
            "CREATE TABLE regional (id integer PRIMARY KEY, region text NOT NULL);
             INSERT INTO regional SELECT g, CASE WHEN g % 2 = 0 THEN 'eu' ELSE 'us' END
                 FROM generate_series(1, 100) AS g;
             ALTER TABLE regional ENABLE ROW LEVEL SECURITY;
             CREATE POLICY eu_only ON regional FOR SELECT USING (region = 'eu');
             GRANT SELECT ON regional TO {role};"
        ),
    );
    let staging = ENGINE.staging_location(&pg(tgt.url(&db)), &op_id());
    match ENGINE.copy(
        &pg(src.url_as(role, password, &db)),
        &staging,
        &options(),
        &Silent,
    ) {
        Err(e) => assert!(
            e.to_string().contains("row-level security"),
            "refused, but not saying why: {e}"
        ),
        Ok(stats) => {
            let copied = count(
                &mut client(tgt, &dbname(&staging)),
                "SELECT count(*) FROM regional",
            );
            assert_eq!(
                copied, 100,
                "a verified copy holds {copied} of the source's 100 rows ({})",
                stats.method
            );
        }
    }
}
