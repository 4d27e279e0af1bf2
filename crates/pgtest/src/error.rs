//! What can go wrong while starting or using a throw-away cluster.

use std::io;
use std::path::PathBuf;
use std::process::ExitStatus;

/// An error from this crate. Every variant says what was being done.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `initdb` is not where the binaries were looked for.
    #[error(
        "PostgreSQL server binaries not found in {}: run scripts/test (installs them) or `apt-get install postgresql-15`",
        dir.display()
    )]
    BinariesNotFound {
        /// The directory that was searched.
        dir: PathBuf,
    },

    /// Running as root, but there is no `postgres` OS user to run the server as.
    #[error("running as root, but there is no `postgres` OS user to run the server as")]
    NoPostgresUser,

    /// A file-system or process-spawning call failed.
    #[error("{action}: {source}")]
    Io {
        /// What was being done, e.g. "creating the temporary directory".
        action: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// A server program (`initdb`, `pg_ctl`) exited with an error.
    #[error("{program} failed ({status}): {output}")]
    Command {
        /// The program that failed.
        program: String,
        /// Its exit status.
        status: ExitStatus,
        /// Its standard error (and output, when stderr was empty).
        output: String,
    },

    /// The server did not start, even after retrying on fresh ports.
    #[error(
        "PostgreSQL did not start after {attempts} attempts: {reason}\n--- tail of the server log ---\n{log_tail}"
    )]
    Start {
        /// How many times `pg_ctl start` was tried.
        attempts: u32,
        /// Why the last attempt failed.
        reason: String,
        /// The last lines of the server log.
        log_tail: String,
    },

    /// Making a test certificate failed.
    #[error("making a test certificate: {0}")]
    Certificate(String),

    /// Could not connect to the cluster.
    #[error("connecting to database {db:?} as {user:?}: {source}")]
    Connect {
        /// The role connected as.
        user: String,
        /// The database connected to.
        db: String,
        /// The driver's error.
        #[source]
        source: postgres::Error,
    },

    /// A statement sent through the driver failed.
    #[error("running SQL on database {db:?}: {source}")]
    Sql {
        /// The database the statement ran on.
        db: String,
        /// The driver's error.
        #[source]
        source: postgres::Error,
    },

    /// `psql` exited with an error.
    #[error("psql on database {db:?} failed ({status}): {stderr}")]
    Psql {
        /// The database psql connected to.
        db: String,
        /// psql's exit status.
        status: ExitStatus,
        /// psql's standard error.
        stderr: String,
    },
}

impl Error {
    /// Wraps an I/O error with what was being done.
    pub(crate) fn io(action: impl Into<String>, source: io::Error) -> Self {
        Error::Io {
            action: action.into(),
            source,
        }
    }
}
