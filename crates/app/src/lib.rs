//! What an application profile describes, written once against `&mut dyn Database`.
//!
//! A [`Profile`](dataalm_core::Profile) says where an application keeps its users, batch
//! jobs, broadcast messages, e-mail and system parameters and environment-specific rows.
//! This crate reads and changes them through the engine-neutral
//! [`Database`](dataalm_engine::Database) trait, so the same code serves SQLite and
//! PostgreSQL:
//!
//! - [`users`]: list, resolve ids or e-mails, enable or disable, and the Neutralize rule
//!   (everyone disabled but the profile's `keep_enabled`).
//! - [`userlist`]: lists of users in CSV or XLSX files, and the XLSX export.
//! - [`jobs`]: batch jobs and their statuses; Neutralize withholds the active ones.
//! - [`broadcast`]: messages shown to signed-in users, with a validity window.
//! - [`capture`]: the target's environment-specific rows, read before a copy and written
//!   back into it.
//! - [`neutralize`]: everything that stops a copy acting as production, in one transaction.
//! - [`reconfigure`]: the difference between a plan and an environment, and applying it.
//!
//! **Invariants.** Every identifier from a profile or plan is quoted with
//! [`quote_ident`](dataalm_core::sql::quote_ident); every value travels as a parameter
//! spelled by [`Dialect::param`](dataalm_core::sql::Dialect::param). Whatever changes more
//! than one row does so in one transaction, and checks what it was asked before it changes
//! anything: an error means nothing was changed.
//!
//! ```
//! use dataalm_app::users::{self, UserFilter};
//! use dataalm_core::Profile;
//! use dataalm_engine::{Database, sqlite::SqliteDb};
//!
//! let profile = Profile::builtin("finance").expect("finance is built in");
//! let mut db = SqliteDb::memory()?;
//! db.execute_batch(
//!     "CREATE TABLE user_info (id TEXT, name TEXT, email TEXT, enabled INTEGER);
//!      INSERT INTO user_info VALUES ('Admin', 'Admin', 'admin@example.com', 1);",
//! )?;
//! let everyone = users::list(&mut db, &profile, &UserFilter::default())?;
//! assert_eq!(everyone[0].id, "Admin");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod broadcast;
pub mod capture;
pub mod jobs;
pub mod neutralize;
pub mod reconfigure;
pub mod userlist;
pub mod users;

mod sql;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong. Each message names what it is about, and says when nothing was
/// changed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Db(#[from] dataalm_engine::Error),
    #[error("unknown users: {} (nothing was changed)", .0.join(", "))]
    UnknownUsers(Vec<String>),
    #[error("unknown batch jobs: {} (nothing was changed)", .0.join(", "))]
    UnknownJobs(Vec<String>),
    #[error(
        "unknown batch groups: {} (neither mapped to a server nor defined; nothing was changed)",
        .0.join(", ")
    )]
    UnknownBatchGroups(Vec<String>),
    #[error("unknown batch job status `{status}`: expected one of {}", valid.join(", "))]
    UnknownStatus { status: String, valid: Vec<String> },
    #[error(
        "unknown aggregates: {} (the profile defines {}; nothing was changed)",
        unknown.join(", "),
        list_or_none(valid)
    )]
    UnknownAggregates {
        unknown: Vec<String>,
        valid: Vec<String>,
    },
    #[error(
        "e-mail parameters not in the profile's [email] columns: {} (it allows {}; nothing was changed)",
        unknown.join(", "),
        list_or_none(valid)
    )]
    UnknownEmailColumns {
        unknown: Vec<String>,
        valid: Vec<String>,
    },
    #[error("profile `{profile}` has no [{section}] section")]
    NotInProfile { profile: String, section: String },
    #[error("the message must end after it starts: from {from}, to {to}")]
    BadDates { from: String, to: String },
    #[error("no broadcast message with id {0}")]
    UnknownMessage(String),
    #[error("table `{table}` does not exist in the database (nothing was changed)")]
    MissingTable { table: String },
    #[error(
        "captured tables that profile `{profile}` does not keep: {} (nothing was changed)",
        tables.join(", ")
    )]
    NotKept {
        profile: String,
        tables: Vec<String>,
    },
    #[error("captured table `{table}` has no column left in the database (nothing was changed)")]
    NoCommonColumns { table: String },
    #[error("{path}: {message}")]
    File { path: String, message: String },
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(", ")
    }
}

/// The section of a profile, or [`Error::NotInProfile`] naming it.
pub(crate) fn section<'a, T>(
    profile: &dataalm_core::Profile,
    spec: &'a Option<T>,
    name: &str,
) -> Result<&'a T> {
    spec.as_ref().ok_or_else(|| Error::NotInProfile {
        profile: profile.name.clone(),
        section: name.to_owned(),
    })
}
