//! The control plane's connection, to a SQLite file or a PostgreSQL database.
//!
//! Queries are written once, with `?1`-style placeholders and SQL that both engines
//! accept; [`Conn`] rewrites the placeholders for PostgreSQL and supplies the few
//! expressions that differ (the clock, insertion order, row locks). The schema is one
//! text with the engine's column types filled in. Statements go through the engines'
//! own [`Database`] connections, so values, errors and passwords are handled as they are
//! for application databases.

use crate::{Error, Result};
use dataalm_core::sql::Dialect;
use dataalm_core::{Location, Value};
use dataalm_engine::Database;
use dataalm_engine::postgres::PgDb;
use dataalm_engine::sqlite::SqliteDb;
use rusqlite::Connection;
use std::borrow::Cow;
use std::cell::RefCell;
use std::path::Path;
use std::time::Duration;

/// Bump when [`SCHEMA`] changes, and teach [`migrate_sqlite`] the way from the last one.
const SCHEMA_VERSION: i64 = 6;

/// Every table, with `{blob}`, `{audit_key}` and `{operation_seq}` filled in per engine.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS environments (
    name TEXT PRIMARY KEY,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS plans (
    env TEXT PRIMARY KEY REFERENCES environments(name) ON DELETE CASCADE,
    body TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
-- `runner` and `lease_until` (milliseconds since 1970 by the control plane's clock) are
-- the lease of the process running the operation; see `lease.rs`.
CREATE TABLE IF NOT EXISTS operations (
    {operation_seq}
    id TEXT PRIMARY KEY,
    target TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at TEXT NOT NULL,
    body TEXT NOT NULL,
    runner TEXT,
    lease_until BIGINT,
    activity_id TEXT
);
CREATE INDEX IF NOT EXISTS operations_by_target ON operations(target, created_at);
CREATE UNIQUE INDEX IF NOT EXISTS one_active_operation_per_target
    ON operations(target) WHERE state IN ('running', 'failed', 'awaiting_signoff');
CREATE TABLE IF NOT EXISTS audit (
    seq {audit_key},
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    env TEXT,
    result TEXT NOT NULL
);
-- App registrations; `environments` is a JSON array of names, empty for all.
CREATE TABLE IF NOT EXISTS apps (
    client_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    environments TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT,
    client_type TEXT NOT NULL DEFAULT 'confidential'
);
-- A name is reused only once its holder is revoked; the index settles racing registrations.
CREATE UNIQUE INDEX IF NOT EXISTS one_active_app_per_name
    ON apps(name) WHERE revoked_at IS NULL;
CREATE TABLE IF NOT EXISTS settings (
    key TEXT PRIMARY KEY,
    value {blob} NOT NULL
);
-- Portal accounts and their sessions (`people.rs`); a session's token is kept as a digest.
-- A disabled account (`disabled_at` set) cannot sign in and has no sessions.
CREATE TABLE IF NOT EXISTS people (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at TEXT NOT NULL,
    disabled_at TEXT
);
-- Registered application profiles (`profiles.rs`): a name never changes its text.
CREATE TABLE IF NOT EXISTS profiles (
    name TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    added_at TEXT NOT NULL,
    added_by TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    token_hash TEXT PRIMARY KEY,
    person TEXT NOT NULL REFERENCES people(name) ON DELETE CASCADE,
    csrf TEXT NOT NULL,
    expires_ms BIGINT NOT NULL
);
-- Refresh tokens of people signed in through a public client (`grants.rs`), as
-- digests; each is used once. `environments` is the JSON scope it was issued for.
CREATE TABLE IF NOT EXISTS refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    client_id TEXT NOT NULL REFERENCES apps(client_id),
    person TEXT NOT NULL REFERENCES people(name) ON DELETE CASCADE,
    environments TEXT NOT NULL,
    expires_ms BIGINT NOT NULL
);
";

/// Operations are found by GUID as by id. Created after the column, which an upgrade
/// adds to an older table.
const ACTIVITY_INDEX: &str =
    "CREATE UNIQUE INDEX IF NOT EXISTS operations_by_activity_id ON operations(activity_id);";

/// The PostgreSQL schema that holds the control plane's tables, so they cannot meet an
/// application's tables in a shared database.
const PG_SCHEMA: &str = "dataalm";

/// Serializes schema setup between processes starting at once on one PostgreSQL
/// database (an arbitrary constant: "dataalm" in ASCII).
const PG_SETUP_LOCK: i64 = 0x0064_6174_6161_6c6d;

/// How long a SQLite statement waits for another process's lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// One connection to the control plane.
pub(crate) struct Conn {
    db: RefCell<Box<dyn Database>>,
    dialect: Dialect,
    /// Whether this open brought the schema up from an older version, so the store
    /// carries out what the new version changes in the records (see `Store::connect`).
    upgraded: bool,
}

impl Conn {
    /// Opens the control plane at `location`, creating its tables on first use.
    pub(crate) fn open(location: &Location) -> Result<Conn> {
        let (db, upgraded): (Box<dyn Database>, bool) = match location {
            Location::Sqlite(path) => {
                let (db, upgraded) = open_sqlite(path).map_err(|e| open_failure(location, e))?;
                (Box::new(db), upgraded)
            }
            Location::Postgres(_) => {
                let mut db =
                    PgDb::open(location, false).map_err(|e| open_failure(location, e.into()))?;
                let upgraded = setup_postgres(&mut db)?;
                (Box::new(db), upgraded)
            }
        };
        let dialect = db.dialect();
        Ok(Conn {
            db: RefCell::new(db),
            dialect,
            upgraded,
        })
    }

    /// Whether opening it brought the schema up to this version.
    pub(crate) fn upgraded(&self) -> bool {
        self.upgraded
    }

    /// Runs one statement; returns the number of rows it changed.
    pub(crate) fn execute(&self, sql: &str, params: &[Value]) -> Result<u64> {
        let sql = self.spell(sql);
        Ok(self.db.borrow_mut().execute(&sql, params)?)
    }

    pub(crate) fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Vec<Value>>> {
        let sql = self.spell(sql);
        Ok(self.db.borrow_mut().query(&sql, params)?.rows)
    }

    /// The first row, if any.
    pub(crate) fn query_opt(&self, sql: &str, params: &[Value]) -> Result<Option<Vec<Value>>> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    /// Runs `work` in one transaction: all of it or none of it. On SQLite it holds the
    /// write lock from the start.
    pub(crate) fn transaction<T>(&self, work: impl FnOnce(&Conn) -> Result<T>) -> Result<T> {
        self.db.borrow_mut().begin()?;
        match work(self) {
            Ok(value) => {
                self.db.borrow_mut().commit()?;
                Ok(value)
            }
            Err(error) => {
                // The original error matters more than a failed rollback.
                let _ = self.db.borrow_mut().rollback();
                Err(error)
            }
        }
    }

    /// The control plane's clock in milliseconds since 1970, as an SQL expression. Leases
    /// are compared by one clock, whichever server reads them.
    pub(crate) fn now_ms(&self) -> &'static str {
        match self.dialect {
            Dialect::Sqlite => "CAST(unixepoch('subsec') * 1000 AS INTEGER)",
            Dialect::Postgres => "(extract(epoch FROM clock_timestamp()) * 1000)::bigint",
        }
    }

    /// The column that orders operations by insertion, to break ties in time.
    pub(crate) fn insertion_order(&self) -> &'static str {
        match self.dialect {
            Dialect::Sqlite => "rowid",
            Dialect::Postgres => "seq",
        }
    }

    /// Locks the rows a `SELECT` reads until the transaction ends. SQLite needs nothing:
    /// its transactions hold the whole file's write lock.
    pub(crate) fn for_update(&self) -> &'static str {
        match self.dialect {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE",
        }
    }

    /// `?1` becomes `$1` for PostgreSQL. The store's SQL has no `?` anywhere else.
    fn spell<'a>(&self, sql: &'a str) -> Cow<'a, str> {
        match self.dialect {
            Dialect::Sqlite => Cow::Borrowed(sql),
            Dialect::Postgres => Cow::Owned(sql.replace('?', "$")),
        }
    }
}

/// Why the control plane could not be opened, saying where once.
fn open_failure(location: &Location, error: Error) -> Error {
    let message = match error {
        Error::Open { .. } => return error,
        Error::Db(dataalm_engine::Error::Unreachable { message, .. }) => message,
        other => other.to_string(),
    };
    Error::Open {
        path: location.redacted(),
        message,
    }
}

fn schema_for(dialect: Dialect) -> String {
    let (blob, audit_key, operation_seq) = match dialect {
        Dialect::Sqlite => ("BLOB", "INTEGER PRIMARY KEY", ""),
        Dialect::Postgres => (
            "BYTEA",
            "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
            "seq BIGINT GENERATED ALWAYS AS IDENTITY,",
        ),
    };
    SCHEMA
        .replace("{blob}", blob)
        .replace("{audit_key}", audit_key)
        .replace("{operation_seq}", operation_seq)
}

/// Opens a control plane file; says whether its schema was brought up to this version.
fn open_sqlite(path: &Path) -> Result<(SqliteDb, bool)> {
    keep_private(path).map_err(|e| Error::Open {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    let mut db = SqliteDb::create(path)?;
    let conn = db.connection();
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // The schema is set up once per file, not on every open (the service opens the
    // control plane from many threads).
    let version: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(Error::Open {
            path: path.display().to_string(),
            message: format!(
                "it was written by a newer dataalm (schema version {version}; this one knows \
                 up to {SCHEMA_VERSION}): use that version"
            ),
        });
    }
    let upgraded = version != SCHEMA_VERSION;
    if upgraded {
        // WAL lets `status` in another terminal read while a refresh writes progress;
        // the mode stays with the file.
        set_wal(conn)?;
        migrate_sqlite(conn)?;
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok((db, upgraded))
}

/// The control plane holds hashes, encrypted secrets and the whole audit trail: its
/// directory is made 0700 and the file 0600 before SQLite opens it (SQLite gives its
/// journal and WAL the file's mode). A file left readable by an older dataalm is narrowed.
fn keep_private(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)?;
    let mode = file.metadata()?.permissions().mode();
    if mode & 0o077 != 0 {
        file.set_permissions(std::fs::Permissions::from_mode(mode & 0o700))?;
    }
    Ok(())
}

/// Brings a control plane file to [`SCHEMA_VERSION`], in one transaction.
fn migrate_sqlite(conn: &mut Connection) -> Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    // Read again under the lock: another process may have just done it.
    let version: i64 = tx.pragma_query_value(None, "user_version", |row| row.get(0))?;
    let has_leases: bool = tx
        .prepare("SELECT 1 FROM pragma_table_info('operations') WHERE name = 'runner'")?
        .exists([])?;
    if version >= 1 && !has_leases {
        // Version 1 had no leases.
        tx.execute_batch(
            "ALTER TABLE operations ADD COLUMN runner TEXT;
             ALTER TABLE operations ADD COLUMN lease_until BIGINT;",
        )?;
    }
    let has_people: bool = tx
        .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'people'")?
        .exists([])?;
    let has_disabled: bool = tx
        .prepare("SELECT 1 FROM pragma_table_info('people') WHERE name = 'disabled_at'")?
        .exists([])?;
    if has_people && !has_disabled {
        // Version 4 could not disable accounts.
        tx.execute_batch("ALTER TABLE people ADD COLUMN disabled_at TEXT;")?;
    }
    let has_activity_ids: bool = tx
        .prepare("SELECT 1 FROM pragma_table_info('operations') WHERE name = 'activity_id'")?
        .exists([])?;
    if version >= 1 && !has_activity_ids {
        // Version 5 had no GUIDs; `Store::give_guids` fills them in.
        tx.execute_batch("ALTER TABLE operations ADD COLUMN activity_id TEXT;")?;
    }
    let has_apps: bool = tx
        .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'apps'")?
        .exists([])?;
    let has_client_type: bool = tx
        .prepare("SELECT 1 FROM pragma_table_info('apps') WHERE name = 'client_type'")?
        .exists([])?;
    if has_apps && !has_client_type {
        // Version 5 had confidential clients only.
        tx.execute_batch(
            "ALTER TABLE apps ADD COLUMN client_type TEXT NOT NULL DEFAULT 'confidential';",
        )?;
    }
    // Every statement is `IF NOT EXISTS`: this adds the tables newer versions brought.
    tx.execute_batch(&schema_for(Dialect::Sqlite))?;
    tx.execute_batch(ACTIVITY_INDEX)?;
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()?;
    Ok(())
}

/// Switches to WAL. When several processes open a new control plane at once, SQLite
/// answers the switch with "database is locked" at once, without the busy handler, so
/// it is retried here for as long as the busy timeout.
fn set_wal(conn: &Connection) -> Result<()> {
    let pause = Duration::from_millis(10);
    let started = std::time::Instant::now();
    loop {
        match conn.pragma_update(None, "journal_mode", "WAL") {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy
                    && started.elapsed() < BUSY_TIMEOUT =>
            {
                std::thread::sleep(pause);
            }
            result => return Ok(result?),
        }
    }
}

/// Points the connection at the control plane's schema and creates its tables if this
/// database has not got them at this version. Several servers may start at once, so
/// the creation runs under an advisory lock. Says whether the schema was brought up.
fn setup_postgres(db: &mut PgDb) -> Result<bool> {
    db.execute_batch(&format!("SET search_path TO {PG_SCHEMA}"))?;
    let current = db
        .query("SELECT value FROM meta WHERE key = 'schema_version'", &[])
        .ok()
        .and_then(|rows| rows.rows.into_iter().next())
        .and_then(|row| row.into_iter().next())
        .and_then(|value| value.as_i64());
    if current == Some(SCHEMA_VERSION) {
        return Ok(false);
    }
    dataalm_engine::in_transaction(db, |db| {
        db.query(
            "SELECT 1 FROM (SELECT pg_advisory_xact_lock($1)) AS locked",
            &[PG_SETUP_LOCK.into()],
        )?;
        db.execute_batch(&format!(
            "CREATE SCHEMA IF NOT EXISTS {PG_SCHEMA};
             CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
             {}
             ALTER TABLE people ADD COLUMN IF NOT EXISTS disabled_at TEXT;
             ALTER TABLE operations ADD COLUMN IF NOT EXISTS activity_id TEXT;
             ALTER TABLE apps ADD COLUMN IF NOT EXISTS client_type TEXT NOT NULL DEFAULT 'confidential';
             {ACTIVITY_INDEX}",
            schema_for(Dialect::Postgres)
        ))?;
        db.execute(
            "INSERT INTO meta (key, value) VALUES ('schema_version', $1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            &[SCHEMA_VERSION.to_string().into()],
        )?;
        Ok::<_, Error>(true)
    })
}

/// Reading typed cells out of a row, with a clear error for a damaged one.
pub(crate) trait Cells {
    fn text(&self, i: usize) -> Result<String>;
    fn opt_text(&self, i: usize) -> Result<Option<String>>;
    fn opt_int(&self, i: usize) -> Result<Option<i64>>;
    fn blob(&self, i: usize) -> Result<Vec<u8>>;
}

impl Cells for [Value] {
    fn text(&self, i: usize) -> Result<String> {
        self.opt_text(i)?
            .ok_or_else(|| Error::Corrupt(format!("column {i} is NULL")))
    }

    fn opt_text(&self, i: usize) -> Result<Option<String>> {
        match self.get(i) {
            Some(Value::Null) => Ok(None),
            Some(Value::Text(s)) => Ok(Some(s.clone())),
            other => Err(unexpected(i, "text", other)),
        }
    }

    fn opt_int(&self, i: usize) -> Result<Option<i64>> {
        match self.get(i) {
            Some(Value::Null) => Ok(None),
            Some(Value::Int(n)) => Ok(Some(*n)),
            other => Err(unexpected(i, "an integer", other)),
        }
    }

    fn blob(&self, i: usize) -> Result<Vec<u8>> {
        match self.get(i) {
            Some(Value::Blob(b)) => Ok(b.clone()),
            other => Err(unexpected(i, "bytes", other)),
        }
    }
}

fn unexpected(i: usize, wanted: &str, found: Option<&Value>) -> Error {
    Error::Corrupt(format!("column {i} should hold {wanted}, not {found:?}"))
}
