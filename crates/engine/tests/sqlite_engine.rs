//! The SQLite engine against real files: copies of databases under write load, cutovers,
//! swap-backs and their failure cases.
//!
//! Writers run in a child process (this test binary started again, see
//! [`writer_process`]) as well as in threads: SQLite's file locks between processes are
//! what a copy of a live production database really relies on.

use dataalm_core::progress::{Progress, Silent};
use dataalm_core::{CopyOptions, Location};
use dataalm_engine::sqlite::SqliteEngine;
use dataalm_engine::{Engine, Error};
use rusqlite::Connection;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const ENGINE: SqliteEngine = SqliteEngine;
const TOTAL: i64 = 1000;
const STEP: i64 = 7;
const WRITER_ENV: &str = "DATAALM_TEST_WRITER_DB";

fn loc(path: &Path) -> Location {
    Location::Sqlite(path.to_owned())
}

fn sha256(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

fn companion(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// A bank of two accounts holding [`TOTAL`] between them, a count of the transfers made,
/// and `filler_mb` of filler rows so that a copy takes a while.
fn make_bank(path: &Path, wal: bool, filler_mb: usize) {
    let conn = Connection::open(path).unwrap();
    if wal {
        conn.query_row("PRAGMA journal_mode=WAL", [], |_| Ok(()))
            .unwrap();
    }
    conn.execute_batch(
        "CREATE TABLE accounts (id INTEGER PRIMARY KEY, amount INTEGER NOT NULL);
         INSERT INTO accounts VALUES (1, 500), (2, 500);
         CREATE TABLE moves (n INTEGER NOT NULL);
         INSERT INTO moves VALUES (0);
         CREATE TABLE filler (id INTEGER PRIMARY KEY, data BLOB NOT NULL);",
    )
    .unwrap();
    let tx = conn.unchecked_transaction().unwrap();
    for _ in 0..filler_mb * 16 {
        tx.execute("INSERT INTO filler (data) VALUES (randomblob(65536))", [])
            .unwrap();
    }
    tx.commit().unwrap();
}

/// One transfer of [`STEP`] from account 1 to account 2, in one transaction.
fn transfer(conn: &Connection) {
    conn.execute_batch(
        "BEGIN IMMEDIATE;
         UPDATE accounts SET amount = amount - 7 WHERE id = 1;
         INSERT INTO filler (data) VALUES (randomblob(2000));
         UPDATE accounts SET amount = amount + 7 WHERE id = 2;
         UPDATE moves SET n = n + 1;
         COMMIT;",
    )
    .unwrap();
}

fn moves(path: &Path) -> i64 {
    let conn = Connection::open(path).unwrap();
    conn.busy_timeout(Duration::from_secs(30)).unwrap();
    conn.query_row("SELECT n FROM moves", [], |r| r.get(0))
        .unwrap()
}

/// Checks a copy: a sound database whose accounts add up and agree with its count of
/// transfers. Returns that count.
fn check_bank(path: &Path) -> i64 {
    let conn = Connection::open(path).unwrap();
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    let (one, two): (i64, i64) = conn
        .query_row(
            "SELECT (SELECT amount FROM accounts WHERE id = 1), (SELECT amount FROM accounts WHERE id = 2)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let n: i64 = conn
        .query_row("SELECT n FROM moves", [], |r| r.get(0))
        .unwrap();
    assert_eq!(one + two, TOTAL, "the accounts of the copy do not add up");
    assert_eq!(two, 500 + STEP * n, "a transfer is half in the copy");
    n
}

fn journal_mode(path: &Path) -> String {
    let conn = Connection::open(path).unwrap();
    conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap()
}

/// The write-version byte of the header: 1 for a rollback journal, 2 for WAL.
fn header_version(path: &Path) -> u8 {
    std::fs::read(path).unwrap()[18]
}

/// Entry point of the writer child process: does nothing unless started by
/// [`spawn_writer`], then transfers money until its stop file appears.
#[test]
fn writer_process() {
    let Ok(db) = std::env::var(WRITER_ENV) else {
        return;
    };
    let db = PathBuf::from(db);
    let stop = companion(&db, ".stop");
    let conn = Connection::open(&db).unwrap();
    conn.busy_timeout(Duration::from_secs(30)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !stop.exists() && Instant::now() < deadline {
        transfer(&conn);
    }
}

struct Writer {
    child: Child,
    stop: PathBuf,
}

impl Writer {
    fn finish(mut self) {
        std::fs::write(&self.stop, b"").unwrap();
        let status = self.child.wait().unwrap();
        assert!(status.success(), "the writer process failed");
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // A failed check must not leave the writer running.
        let _ = std::fs::write(&self.stop, b"");
    }
}

fn spawn_writer(db: &Path) -> Writer {
    let child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "writer_process", "--test-threads=1", "--quiet"])
        .env(WRITER_ENV, db)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let writer = Writer {
        child,
        stop: companion(db, ".stop"),
    };
    // Wait until it really writes.
    let deadline = Instant::now() + Duration::from_secs(30);
    while moves(db) < 20 {
        assert!(
            Instant::now() < deadline,
            "the writer process does not write"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    writer
}

/// Copies `source` a few times while another process writes to it; every copy must be a
/// consistent snapshot and the writer must have moved on between copies.
fn copies_stay_consistent_under_a_writer_process(wal: bool) {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("prod.db");
    make_bank(&source, wal, 24);
    let writer = spawn_writer(&source);
    let mut seen = Vec::new();
    for i in 0..4 {
        let staging = dir.path().join(format!("uat.db.staging{i}"));
        let stats = ENGINE
            .copy(
                &loc(&source),
                &loc(&staging),
                &CopyOptions::default(),
                &Silent,
            )
            .unwrap();
        let method = if wal { "backup" } else { "file copy" };
        assert!(stats.method.contains(method), "{}", stats.method);
        seen.push(check_bank(&staging));
        assert_eq!(journal_mode(&staging), "delete");
        assert!(!companion(&staging, "-wal").exists());
        std::thread::sleep(Duration::from_millis(30));
    }
    writer.finish();
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "the writer did not get on between copies: {seen:?}"
    );
}

#[test]
fn copy_of_a_rollback_journal_database_is_consistent_while_another_process_writes() {
    copies_stay_consistent_under_a_writer_process(false);
}

#[test]
fn copy_of_a_wal_database_is_consistent_while_another_process_writes() {
    copies_stay_consistent_under_a_writer_process(true);
}

struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

#[test]
fn copy_is_consistent_while_a_thread_of_the_same_process_writes() {
    for wal in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("prod.db");
        make_bank(&source, wal, 8);
        let stop = AtomicBool::new(false);
        std::thread::scope(|scope| {
            let writer = scope.spawn(|| {
                let conn = Connection::open(&source).unwrap();
                conn.busy_timeout(Duration::from_secs(30)).unwrap();
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    transfer(&conn);
                    n += 1;
                }
                n
            });
            // Stops the writer even when a check below fails, or the scope would wait for
            // it forever.
            let _stop = StopOnDrop(&stop);
            while moves(&source) < 20 {
                std::thread::sleep(Duration::from_millis(5));
            }
            for i in 0..3 {
                let staging = dir.path().join(format!("uat.db.staging{i}"));
                ENGINE
                    .copy(
                        &loc(&source),
                        &loc(&staging),
                        &CopyOptions::default(),
                        &Silent,
                    )
                    .unwrap();
                check_bank(&staging);
            }
            stop.store(true, Ordering::Relaxed);
            assert!(writer.join().unwrap() > 0);
        });
    }
}

#[test]
fn copy_never_writes_the_source() {
    for wal in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("prod.db");
        make_bank(&source, wal, 2);
        // An open writer keeps transfers in the WAL, uncheckpointed: the copy must still
        // see them, through the log, without checkpointing it into the file.
        let app = Connection::open(&source).unwrap();
        app.execute_batch("PRAGMA wal_autocheckpoint=0").unwrap();
        for _ in 0..5 {
            transfer(&app);
        }
        let wal_file = companion(&source, "-wal");
        let before = sha256(&source);
        let wal_before = wal.then(|| sha256(&wal_file));
        let staging = dir.path().join("uat.db.staging");
        ENGINE
            .copy(
                &loc(&source),
                &loc(&staging),
                &CopyOptions::default(),
                &Silent,
            )
            .unwrap();
        assert_eq!(
            sha256(&source),
            before,
            "the source file changed (wal: {wal})"
        );
        assert_eq!(wal.then(|| sha256(&wal_file)), wal_before);
        assert_eq!(check_bank(&staging), 5);
        drop(app);
    }
}

#[test]
fn copy_of_a_wal_source_is_a_single_rollback_journal_file() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("prod.db");
    make_bank(&source, true, 1);
    let app = Connection::open(&source).unwrap();
    app.execute_batch("PRAGMA wal_autocheckpoint=0").unwrap();
    transfer(&app);
    assert!(companion(&source, "-wal").metadata().unwrap().len() > 0);

    let staging = dir.path().join("uat.db.dataalm-1.staging");
    let stats = ENGINE
        .copy(
            &loc(&source),
            &loc(&staging),
            &CopyOptions::default(),
            &Silent,
        )
        .unwrap();
    assert_eq!(header_version(&staging), 1);
    for suffix in ["-wal", "-shm", "-journal", ".tmp"] {
        assert!(
            !companion(&staging, suffix).exists(),
            "{suffix} left behind"
        );
    }
    assert_eq!(stats.bytes, staging.metadata().unwrap().len());
    assert_eq!(check_bank(&staging), 1);
    assert_eq!(journal_mode(&staging), "delete");
}

#[derive(Default)]
struct Recorder {
    copied: Mutex<Vec<(u64, u64)>>,
}

impl Progress for Recorder {
    fn copied(&self, bytes: u64, total: u64, _table: Option<&str>) {
        self.copied.lock().unwrap().push((bytes, total));
    }
}

#[test]
fn copy_reports_progress_and_counts_rows_largest_first() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("prod.db");
    make_bank(&source, false, 1);
    let staging = dir.path().join("uat.db.staging");
    let progress = Recorder::default();
    let stats = ENGINE
        .copy(
            &loc(&source),
            &loc(&staging),
            &CopyOptions::default(),
            &progress,
        )
        .unwrap();
    let size = source.metadata().unwrap().len();
    assert_eq!(stats.bytes, size);
    assert_eq!(
        stats.tables,
        vec![
            ("filler".to_owned(), 16),
            ("accounts".to_owned(), 2),
            ("moves".to_owned(), 1)
        ]
    );
    let reports = progress.copied.into_inner().unwrap();
    assert_eq!(reports.last(), Some(&(size, size)));
    assert_eq!(sha256(&source), sha256(&staging));
}

#[test]
fn copy_replaces_a_leftover_staging_and_its_hot_journal() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("prod.db");
    make_bank(&source, false, 1);
    let staging = dir.path().join("uat.db.staging");
    std::fs::write(&staging, b"half a database from a crashed attempt").unwrap();
    std::fs::write(companion(&staging, ".tmp"), b"more of it").unwrap();
    std::fs::write(companion(&staging, "-journal"), vec![0xd9; 4096]).unwrap();
    ENGINE
        .copy(
            &loc(&source),
            &loc(&staging),
            &CopyOptions::default(),
            &Silent,
        )
        .unwrap();
    assert!(!companion(&staging, "-journal").exists());
    assert!(!companion(&staging, ".tmp").exists());
    assert_eq!(check_bank(&staging), 0);
}

#[test]
fn copy_refuses_a_source_with_a_hot_journal_and_leaves_it_alone() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live.db");
    make_bank(&live, false, 2);
    // A writer whose changes spill into the file before commit; copying the file and its
    // journal at that moment gives what a crash leaves: a hot journal.
    let app = Connection::open(&live).unwrap();
    app.execute_batch(
        "PRAGMA cache_size=2; BEGIN IMMEDIATE; UPDATE filler SET data = zeroblob(100);",
    )
    .unwrap();
    let source = dir.path().join("crashed.db");
    std::fs::copy(&live, &source).unwrap();
    std::fs::copy(companion(&live, "-journal"), companion(&source, "-journal")).unwrap();
    app.execute_batch("ROLLBACK").unwrap();
    let before = sha256(&source);

    let staging = dir.path().join("uat.db.staging");
    let err = ENGINE
        .copy(
            &loc(&source),
            &loc(&staging),
            &CopyOptions::default(),
            &Silent,
        )
        .unwrap_err();
    assert!(err.to_string().contains("hot journal"), "{err}");
    assert_eq!(sha256(&source), before);
    assert!(companion(&source, "-journal").exists());
    assert!(!staging.exists());
    // The application's next connection recovers it; then the copy works.
    let recovered = Connection::open(&source).unwrap();
    check_bank(&source);
    drop(recovered);
    ENGINE
        .copy(
            &loc(&source),
            &loc(&staging),
            &CopyOptions::default(),
            &Silent,
        )
        .unwrap();
    check_bank(&staging);
}

/// A target holding `marker`, and a staging copy beside it holding another.
fn target_and_staging(dir: &Path, wal: bool) -> (PathBuf, PathBuf, PathBuf) {
    let target = dir.join("uat.db");
    let conn = Connection::open(&target).unwrap();
    if wal {
        conn.query_row("PRAGMA journal_mode=WAL", [], |_| Ok(()))
            .unwrap();
    }
    conn.execute_batch("CREATE TABLE marker (v TEXT); INSERT INTO marker VALUES ('old')")
        .unwrap();
    drop(conn);
    let source = dir.join("prod.db");
    let conn = Connection::open(&source).unwrap();
    conn.execute_batch("CREATE TABLE marker (v TEXT); INSERT INTO marker VALUES ('new')")
        .unwrap();
    drop(conn);
    let staging = ENGINE.staging_location(&loc(&target), "op1");
    let previous = ENGINE.previous_location(&loc(&target), "op1");
    ENGINE
        .copy(&loc(&source), &staging, &CopyOptions::default(), &Silent)
        .unwrap();
    let path = |l: Location| match l {
        Location::Sqlite(p) => p,
        Location::Postgres(_) => unreachable!(),
    };
    (target, path(staging), path(previous))
}

fn marker(path: &Path) -> String {
    let conn = Connection::open(path).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn.query_row("SELECT v FROM marker", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn staging_and_previous_live_beside_the_target() {
    let target = loc(Path::new("/data/uat.db"));
    assert_eq!(
        ENGINE.staging_location(&target, "42"),
        loc(Path::new("/data/uat.db.dataalm-42.staging"))
    );
    assert_eq!(
        ENGINE.previous_location(&target, "../42"),
        loc(Path::new("/data/uat.db.dataalm-___42.previous"))
    );
}

#[test]
fn cutover_then_swap_back_gives_back_the_exact_old_file() {
    let dir = tempfile::tempdir().unwrap();
    let (target, staging, previous) = target_and_staging(dir.path(), false);
    let old = sha256(&target);
    let new = sha256(&staging);

    let downtime = ENGINE
        .cutover(&loc(&target), &loc(&staging), &loc(&previous))
        .unwrap();
    assert!(downtime < Duration::from_secs(1), "{downtime:?}");
    assert_eq!(sha256(&target), new);
    assert_eq!(sha256(&previous), old);
    assert!(!staging.exists());
    assert_eq!(marker(&target), "new");

    ENGINE.swap_back(&loc(&target), &loc(&previous)).unwrap();
    assert_eq!(sha256(&target), old);
    assert!(!previous.exists());
    assert!(!companion(&target, ".dataalm-discard").exists());
    assert_eq!(marker(&target), "old");
    // Nothing left to swap back.
    ENGINE.swap_back(&loc(&target), &loc(&previous)).unwrap();
    assert_eq!(marker(&target), "old");
}

#[test]
fn cutover_twice_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let (target, staging, previous) = target_and_staging(dir.path(), false);
    ENGINE
        .cutover(&loc(&target), &loc(&staging), &loc(&previous))
        .unwrap();
    let again = ENGINE
        .cutover(&loc(&target), &loc(&staging), &loc(&previous))
        .unwrap();
    assert_eq!(again, Duration::ZERO);
    assert_eq!(marker(&target), "new");
    assert_eq!(marker(&previous), "old");
}

#[test]
fn cutover_finishes_after_a_crash_between_link_and_rename() {
    let dir = tempfile::tempdir().unwrap();
    let (target, staging, previous) = target_and_staging(dir.path(), false);
    std::fs::hard_link(&target, &previous).unwrap();
    ENGINE
        .cutover(&loc(&target), &loc(&staging), &loc(&previous))
        .unwrap();
    assert_eq!(marker(&target), "new");
    assert_eq!(marker(&previous), "old");
}

#[test]
fn swap_back_after_a_crash_between_link_and_rename_keeps_the_target() {
    let dir = tempfile::tempdir().unwrap();
    let (target, _staging, previous) = target_and_staging(dir.path(), false);
    std::fs::hard_link(&target, &previous).unwrap();
    ENGINE.swap_back(&loc(&target), &loc(&previous)).unwrap();
    assert_eq!(marker(&target), "old");
    assert!(!previous.exists());
}

#[test]
fn cutover_without_staging_or_previous_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let (target, staging, previous) = target_and_staging(dir.path(), false);
    std::fs::remove_file(&staging).unwrap();
    let err = ENGINE
        .cutover(&loc(&target), &loc(&staging), &loc(&previous))
        .unwrap_err();
    assert!(err.to_string().contains("neither"), "{err}");
    assert_eq!(marker(&target), "old");
}

#[test]
fn cutover_while_a_reader_has_the_target_open() {
    let dir = tempfile::tempdir().unwrap();
    let (target, staging, previous) = target_and_staging(dir.path(), false);
    let reader = Connection::open(&target).unwrap();
    reader.busy_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(
        reader
            .query_row("SELECT v FROM marker", [], |r| r.get::<_, String>(0))
            .unwrap(),
        "old"
    );
    // A reader in the middle of a transaction: the cutover waits for it to end.
    let in_transaction = Connection::open(&target).unwrap();
    in_transaction
        .execute_batch("BEGIN; SELECT count(*) FROM marker;")
        .unwrap();
    let ended = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        in_transaction.execute_batch("COMMIT").unwrap();
    });
    let started = Instant::now();
    ENGINE
        .cutover(&loc(&target), &loc(&staging), &loc(&previous))
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(150));
    ended.join().unwrap();

    assert_eq!(marker(&target), "new");
    // The connection opened before keeps reading the old file, and SQLite refuses its
    // writes, whose journal would now be named after the new file.
    let still: String = reader
        .query_row("SELECT v FROM marker", [], |r| r.get(0))
        .unwrap();
    assert_eq!(still, "old");
    let err = reader
        .execute("UPDATE marker SET v = 'lost'", [])
        .unwrap_err();
    assert!(
        err.to_string().contains("readonly") || err.to_string().contains("moved"),
        "{err}"
    );
    assert_eq!(marker(&target), "new");
    assert_eq!(marker(&previous), "old");
}

#[test]
fn cutover_of_a_wal_target_leaves_no_log_behind() {
    let dir = tempfile::tempdir().unwrap();
    let (target, staging, previous) = target_and_staging(dir.path(), true);
    assert_eq!(journal_mode(&target), "wal");
    ENGINE
        .cutover(&loc(&target), &loc(&staging), &loc(&previous))
        .unwrap();
    for suffix in ["-wal", "-shm", "-journal"] {
        assert!(!companion(&target, suffix).exists(), "{suffix} left behind");
    }
    assert_eq!(header_version(&target), 1);
    assert_eq!(header_version(&previous), 1);
    assert_eq!(marker(&target), "new");
    assert_eq!(marker(&previous), "old");
}

#[test]
fn cutover_of_a_wal_target_still_open_elsewhere_fails_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (target, staging, previous) = target_and_staging(dir.path(), true);
    let app = Connection::open(&target).unwrap();
    app.execute("INSERT INTO marker VALUES ('in the log')", [])
        .unwrap();
    let err = ENGINE
        .cutover(&loc(&target), &loc(&staging), &loc(&previous))
        .unwrap_err();
    assert!(err.to_string().contains("WAL"), "{err}");
    assert!(staging.exists());
    assert_eq!(marker(&target), "old");
    // Once the application lets go, the same call finishes the job.
    drop(app);
    ENGINE
        .cutover(&loc(&target), &loc(&staging), &loc(&previous))
        .unwrap();
    assert_eq!(marker(&target), "new");
    let conn = Connection::open(&previous).unwrap();
    let kept: i64 = conn
        .query_row("SELECT count(*) FROM marker", [], |r| r.get(0))
        .unwrap();
    assert_eq!(kept, 2, "the write that was only in the log was lost");
}

#[test]
fn probe_reports_size_and_names_missing_and_foreign_files() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("prod.db");
    make_bank(&db, true, 1);
    let app = Connection::open(&db).unwrap();
    app.execute_batch("PRAGMA wal_autocheckpoint=0").unwrap();
    transfer(&app);
    let info = ENGINE.probe(&loc(&db)).unwrap();
    let expected = db.metadata().unwrap().len() + companion(&db, "-wal").metadata().unwrap().len();
    assert_eq!(info.size_bytes, expected);

    let missing = dir.path().join("missing.db");
    let err = ENGINE.probe(&loc(&missing)).unwrap_err();
    assert!(matches!(err, Error::Unreachable { .. }), "{err}");
    assert!(err.to_string().contains("missing.db"), "{err}");
    let err = ENGINE
        .copy(
            &loc(&missing),
            &loc(&dir.path().join("s")),
            &CopyOptions::default(),
            &Silent,
        )
        .unwrap_err();
    assert!(matches!(err, Error::Unreachable { .. }), "{err}");

    let text = dir.path().join("notes.db");
    std::fs::write(&text, vec![b'x'; 8192]).unwrap();
    let err = ENGINE.probe(&loc(&text)).unwrap_err();
    assert!(matches!(err, Error::NotADatabase { .. }), "{err}");
    assert!(err.to_string().contains("notes.db"), "{err}");
    let err = ENGINE
        .copy(
            &loc(&text),
            &loc(&dir.path().join("s")),
            &CopyOptions::default(),
            &Silent,
        )
        .unwrap_err();
    assert!(matches!(err, Error::NotADatabase { .. }), "{err}");
}

#[test]
fn copy_refuses_to_overwrite_its_source() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("prod.db");
    make_bank(&source, false, 0);
    let before = sha256(&source);
    let alias = dir.path().join("alias.db");
    std::fs::hard_link(&source, &alias).unwrap();
    for staging in [source.clone(), alias] {
        let err = ENGINE
            .copy(
                &loc(&source),
                &loc(&staging),
                &CopyOptions::default(),
                &Silent,
            )
            .unwrap_err();
        assert!(err.to_string().contains("overwrite"), "{err}");
    }
    assert_eq!(sha256(&source), before);
}

#[test]
fn check_space_refuses_more_than_the_disk_has() {
    let dir = tempfile::tempdir().unwrap();
    let target = loc(&dir.path().join("uat.db"));
    ENGINE.check_space(&target, 1).unwrap();
    let err = ENGINE.check_space(&target, u64::MAX).unwrap_err();
    assert!(matches!(err, Error::NoSpace { .. }), "{err}");
}

#[test]
fn drop_database_removes_the_file_and_its_companions() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("uat.db.dataalm-1.previous");
    make_bank(&db, false, 0);
    std::fs::write(companion(&db, "-journal"), b"").unwrap();
    assert!(ENGINE.exists(&loc(&db)).unwrap());
    ENGINE.drop_database(&loc(&db)).unwrap();
    assert!(!ENGINE.exists(&loc(&db)).unwrap());
    assert!(!companion(&db, "-journal").exists());
    ENGINE.drop_database(&loc(&db)).unwrap();
}

#[test]
fn open_gives_a_working_connection() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("prod.db");
    make_bank(&db, false, 0);
    let mut conn = ENGINE.open(&loc(&db), true).unwrap();
    let rows = conn.query("SELECT count(*) FROM accounts", &[]).unwrap();
    assert_eq!(rows.rows[0][0], dataalm_core::Value::Int(2));
    assert!(conn.execute("DELETE FROM accounts", &[]).is_err());
}

#[test]
fn postgres_locations_are_refused() {
    let pg = Location::Postgres("postgres://db/erp".into());
    let err = ENGINE.probe(&pg).unwrap_err();
    assert!(err.to_string().contains("not a SQLite file"), "{err}");
}

/// Progress that says the work was cancelled once `after` bytes were copied.
struct CancelAfter {
    after: u64,
    copied: std::sync::atomic::AtomicU64,
}

impl Progress for CancelAfter {
    fn copied(&self, bytes: u64, _total: u64, _table: Option<&str>) {
        self.copied.store(bytes, Ordering::SeqCst);
    }
    fn cancelled(&self) -> bool {
        self.copied.load(Ordering::SeqCst) > self.after
    }
}

#[test]
fn a_cancelled_copy_stops_and_leaves_no_partial_file() {
    for wal in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("prod.db");
        make_bank(&source, wal, 1);
        let staging = dir.path().join("uat.db.dataalm-1.staging");
        let progress = CancelAfter {
            after: 0,
            copied: Default::default(),
        };
        let error = ENGINE
            .copy(
                &loc(&source),
                &loc(&staging),
                &CopyOptions::default(),
                &progress,
            )
            .unwrap_err();
        assert!(matches!(error, Error::Cancelled), "{error}");
        assert!(progress.copied.load(Ordering::SeqCst) > 0, "it had started");
        for suffix in ["", "-wal", "-shm", "-journal", ".tmp"] {
            assert!(
                !companion(&staging, suffix).exists(),
                "wal={wal}: {suffix} left behind"
            );
        }
        assert_eq!(check_bank(&source), 0);
    }
}

#[test]
fn dropping_a_staging_copy_removes_what_a_crashed_copy_left() {
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("uat.db.dataalm-1.staging");
    std::fs::write(companion(&staging, ".tmp"), b"half a copy").unwrap();
    std::fs::write(companion(&staging, ".tmp-journal"), b"its journal").unwrap();
    ENGINE.drop_database(&loc(&staging)).unwrap();
    assert!(!companion(&staging, ".tmp").exists());
    assert!(!companion(&staging, ".tmp-journal").exists());
}

#[test]
fn a_target_in_a_directory_nobody_may_write_is_refused_first() {
    // /sys refuses new files even to root, whose writes mode bits do not stop.
    let target = loc(Path::new("/sys/uat.db"));
    let source = loc(Path::new("/tmp/prod.db"));
    let error = ENGINE.check_refresh(&source, &target).unwrap_err();
    let message = error.to_string();
    assert!(message.contains("/sys is not writable"), "{message}");
    let dir = tempfile::tempdir().unwrap();
    let writable = loc(&dir.path().join("uat.db"));
    ENGINE.check_refresh(&source, &writable).unwrap();
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "the probe is gone"
    );
}
