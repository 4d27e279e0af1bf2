//! Database engines: how dataalm talks to the databases of environments.
//!
//! Two traits, one job each:
//! - [`Database`] is a connection to an application database: queries, statements and
//!   bulk inserts with engine-neutral [`Value`]s. Everything an application profile
//!   describes (users, batch jobs, messages...) is written once against it, in `dataalm-app`.
//! - [`Engine`] moves whole databases: copy into a staging database, swap it in (cutover),
//!   swap back (rollback), drop what is no longer needed.
//!
//! [`engine_for`] picks the implementation from a [`Location`]. SQLite lives in [`sqlite`],
//! PostgreSQL in [`postgres`].

pub mod postgres;
pub mod sqlite;

use dataalm_core::progress::Progress;
use dataalm_core::schema::Schema;
use dataalm_core::sql::Dialect;
use dataalm_core::{CopyOptions, Location, Rows, Value};
pub use dataalm_mask::MaskSet;
use std::time::Duration;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database does not exist or cannot be reached.
    #[error("{location}: {message}")]
    Unreachable { location: String, message: String },
    /// The server's TLS certificate did not pass the checks the location's `sslmode`
    /// asks for; nothing was sent to it.
    #[error("{location}: {message}")]
    Certificate { location: String, message: String },
    /// The copy would take connection slots the source server cannot spare.
    #[error("{location}: {message}")]
    NoConnectionSlots { location: String, message: String },
    /// During a copy, a connection broke or a statement failed on one of the two
    /// servers; `side` says which. `source` keeps the client's error (and SQLSTATE).
    #[error("{context} failed on the {side} server {location}: {message}")]
    ServerFailed {
        side: Side,
        location: String,
        context: String,
        message: String,
        #[source]
        source: Option<tokio_postgres::Error>,
    },
    /// It exists but is not a database of this engine.
    #[error("{location} is not a {engine} database: {message}")]
    NotADatabase {
        location: String,
        engine: &'static str,
        message: String,
    },
    /// A value could not be masked (it does not fit its column, or two values of a
    /// unique column got one pseudonym).
    #[error(transparent)]
    Mask(#[from] dataalm_mask::MaskError),
    /// A statement failed. `context` says what dataalm was doing.
    #[error("{context}: {message}")]
    Sql { context: String, message: String },
    /// A statement broke a unique index or primary key: the row (or the claim it
    /// stands for) already exists.
    #[error("{context}: {message}")]
    Duplicate { context: String, message: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    /// Not enough room for the staging copy.
    #[error(
        "not enough disk space for the copy: {needed} bytes needed, {available} available at {location}"
    )]
    NoSpace {
        location: String,
        needed: u64,
        available: u64,
    },
    /// A SQLite target that is a symbolic link: cutover renames a file into place, which
    /// would replace the link rather than the file it points to.
    #[error(
        "{link} is a symbolic link to {pointee}: register the environment again with the file itself (dataalm env remove, then env add), so a refresh replaces that file and never the link"
    )]
    SymlinkTarget { link: String, pointee: String },
    /// A lock held by another session or program outlasted [`lock_timeout`]: the
    /// statement gave up and changed nothing. `holder` says who holds the lock, as far
    /// as the server can tell; `source` keeps the driver's error (and its SQLSTATE).
    #[error(
        "{location} is locked by {holder}; gave up after waiting {waited_secs} s, nothing was changed. Let that finish (or end it), then retry"
    )]
    Locked {
        location: String,
        holder: String,
        waited_secs: u64,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// `--verify` (or [`postgres::compare`]) found the copy of `table` different from
    /// its source: `difference` names the first differing row and columns.
    #[error("verification failed for {table}: {difference}")]
    VerifyFailed { table: String, difference: String },
    /// The work was cancelled (see [`Progress::cancelled`]) and stopped at a safe point.
    #[error("cancelled")]
    Cancelled,
    /// The servers, the client tools or dataalm's user cannot do a PostgreSQL refresh.
    #[error(transparent)]
    Unfit(#[from] postgres::Unfit),
    #[error("{0}")]
    Other(String),
}

impl Error {
    /// The SQLSTATE of the server's error behind this one, if the server gave one.
    pub fn sqlstate(&self) -> Option<&str> {
        match self {
            Error::ServerFailed {
                source: Some(e), ..
            } => e.code().map(|code| code.code()),
            _ => None,
        }
    }
}

/// One end of a copy, named when it fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The server read from.
    Source,
    /// The server written to (where the staging copy is built, beside the target).
    Target,
}

impl std::fmt::Display for Side {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Side::Source => "source",
            Side::Target => "target",
        })
    }
}

/// Stops the work with [`Error::Cancelled`] once someone cancelled it: called between
/// the chunks of a copy.
pub fn stop_if_cancelled(progress: &dyn Progress) -> Result<()> {
    if progress.cancelled() {
        return Err(Error::Cancelled);
    }
    Ok(())
}

/// A connection to an application database.
///
/// Identifiers in SQL text must be quoted with [`dataalm_core::sql::quote_ident`];
/// values travel as parameters, spelled with [`Database::dialect`].
pub trait Database: Send {
    fn dialect(&self) -> Dialect;

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Rows>;

    /// Runs one statement, returns the number of rows it changed.
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64>;

    /// Runs several statements without parameters.
    fn execute_batch(&mut self, sql: &str) -> Result<()>;

    /// Tables and their columns.
    fn schema(&mut self) -> Result<Schema>;

    /// Inserts many rows into `table` as fast as the engine can (prepared statement in one
    /// transaction, COPY...). Returns the number of rows inserted.
    fn insert_rows(
        &mut self,
        table: &str,
        columns: &[&str],
        rows: &mut dyn Iterator<Item = Vec<Value>>,
    ) -> Result<u64>;

    /// Inserts one row and returns the value of `id_column` the database gave it.
    fn insert_returning(
        &mut self,
        table: &str,
        columns: &[&str],
        values: &[Value],
        id_column: &str,
    ) -> Result<Value>;

    fn begin(&mut self) -> Result<()> {
        self.execute_batch("BEGIN")
    }
    fn commit(&mut self) -> Result<()> {
        self.execute_batch("COMMIT")
    }
    fn rollback(&mut self) -> Result<()> {
        self.execute_batch("ROLLBACK")
    }
}

/// Runs `f` in a transaction: all of it or none of it. Callers may fail with their own
/// error type, as long as engine errors convert into it.
pub fn in_transaction<T, E: From<Error>>(
    db: &mut dyn Database,
    f: impl FnOnce(&mut dyn Database) -> Result<T, E>,
) -> Result<T, E> {
    db.begin()?;
    match f(db) {
        Ok(value) => {
            db.commit()?;
            Ok(value)
        }
        Err(error) => {
            // The original error matters more than a failed rollback.
            let _ = db.rollback();
            Err(error)
        }
    }
}

/// What [`Engine::copy`] did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CopyStats {
    pub bytes: u64,
    /// Rows per table in the copy, largest first, when the engine counts them.
    pub tables: Vec<(String, u64)>,
    /// How the copy was made, in words (`file copy under a read lock`, `backup API`...).
    pub method: String,
    /// Values masked per `table.column`; empty for a copy without masking.
    pub masked: Vec<(String, u64)>,
}

/// Facts about a database that validation needs.
#[derive(Debug, Clone, PartialEq)]
pub struct DbInfo {
    pub size_bytes: u64,
    /// What the database is, however its location is written.
    pub identity: Identity,
}

/// What a database *is*: two locations with one identity are the same database, however
/// they are written (`db/../db/prod.db`, a symlinked directory, a hard link;
/// `localhost` or `127.0.0.1`). Production is recognised by this, never by its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// A SQLite file: its device and inode, so a hard link is the same file.
    File { device: u64, inode: u64 },
    /// A PostgreSQL database: its cluster's `system_identifier`, the running server's
    /// start time and the database's oid. A physical copy of a cluster (a standby, a
    /// sandbox restored from a base backup) keeps the system identifier and the oids, so
    /// the start time tells the running servers apart.
    Cluster {
        system: i64,
        started: String,
        oid: u32,
    },
}

/// Moves whole databases for one engine.
///
/// Every method is idempotent: a refresh that crashed calls them again on resume.
pub trait Engine: Send + Sync {
    fn name(&self) -> &'static str;

    /// Checks that `location` is a reachable database of this engine.
    fn probe(&self, location: &Location) -> Result<DbInfo>;

    /// Opens a connection. A source is opened `read_only`.
    fn open(&self, location: &Location, read_only: bool) -> Result<Box<dyn Database>>;

    /// Where the staging copy for operation `op_id` lives, beside `target`.
    fn staging_location(&self, target: &Location, op_id: &str) -> Location;

    /// Where the previous target is kept until sign-off.
    fn previous_location(&self, target: &Location, op_id: &str) -> Location;

    /// Checks there is room for a copy of `bytes` beside `target`.
    fn check_space(&self, target: &Location, bytes: u64) -> Result<()>;

    /// Makes `staging` a consistent, durable copy of `source`, replacing any earlier
    /// partial staging. The source is only read.
    fn copy(
        &self,
        source: &Location,
        staging: &Location,
        options: &CopyOptions,
        progress: &dyn Progress,
    ) -> Result<CopyStats> {
        self.copy_masked(source, staging, options, None, progress)
    }

    /// As [`Engine::copy`], with the columns of `mask` replaced by their pseudonyms:
    /// no raw value of a masked column is ever written where the staging copy lives.
    fn copy_masked(
        &self,
        source: &Location,
        staging: &Location,
        options: &CopyOptions,
        mask: Option<&MaskSet>,
        progress: &dyn Progress,
    ) -> Result<CopyStats>;

    /// Checks, before anything is recorded or moved, that this engine can copy `source`
    /// into a staging database beside `target` and swap it in: client tools, rights,
    /// extensions. Changes nothing.
    fn check_refresh(&self, _source: &Location, _target: &Location) -> Result<()> {
        Ok(())
    }

    /// Checks, before anything is recorded or moved, that a copy of `source` with
    /// `options` can run now without taking what the source cannot spare (its
    /// connection slots). Changes nothing.
    fn check_copy(&self, _source: &Location, _options: &CopyOptions) -> Result<()> {
        Ok(())
    }

    /// Swaps the staging copy in: afterwards `target` is the copy and `previous` the old
    /// target. Atomic: a crash leaves the target fully old or fully new, and calling it
    /// again finishes the job. Returns the downtime.
    fn cutover(
        &self,
        target: &Location,
        staging: &Location,
        previous: &Location,
    ) -> Result<Duration>;

    /// Undoes a cutover: `previous` becomes `target` again. Does nothing when there is
    /// no `previous` (the cutover never happened).
    fn swap_back(&self, target: &Location, previous: &Location) -> Result<()>;

    /// Removes a staging or previous database; nothing if it does not exist.
    fn drop_database(&self, location: &Location) -> Result<()>;

    fn exists(&self, location: &Location) -> Result<bool>;
}

/// The engine for a location.
pub fn engine_for(location: &Location) -> Result<&'static dyn Engine> {
    match location {
        Location::Sqlite(_) => Ok(&sqlite::SqliteEngine),
        Location::Postgres(_) => Ok(&postgres::PgEngine),
    }
}

/// Keeps a timeout sensible for waits on locks.
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a statement on a target waits for a lock before it fails with
/// [`Error::Locked`]: `DATAALM_LOCK_TIMEOUT` (whole seconds), else [`LOCK_TIMEOUT`].
/// A wait with no end is what made a locked target look like a hung refresh.
pub fn lock_timeout() -> Result<Duration> {
    match std::env::var("DATAALM_LOCK_TIMEOUT") {
        Err(_) => Ok(LOCK_TIMEOUT),
        Ok(text) => match text.trim().parse::<u64>() {
            Ok(secs) if secs > 0 => Ok(Duration::from_secs(secs)),
            _ => Err(Error::Other(format!(
                "DATAALM_LOCK_TIMEOUT is `{text}`: give a whole number of seconds, 1 or more"
            ))),
        },
    }
}
