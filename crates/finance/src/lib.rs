//! The `finance` sample application: a database shaped like the reference ERP's
//! (Dynamics 365 Finance), so every part of dataalm can be tried without a real ERP.
//!
//! [`create`] makes the sample's tables in an empty database and fills them with a
//! deterministic generator: the same [`SampleOptions`] always give the same rows. System
//! tables (users with an `Admin` and service accounts, batch jobs in every status, batch
//! groups and servers, e-mail and system parameters, broadcast messages, outgoing e-mail,
//! integration endpoints, an entity store table) stay small; business tables (customers,
//! vendors, items, sales orders and lines, ledger journal lines) grow to the requested
//! size, from a few MB to tens of GB.
//!
//! A [`Role::Production`] and a [`Role::Uat`] sample start with different
//! environment-specific settings (batch servers, SMTP relay, help URL, integration
//! endpoints), so a refresh visibly keeps the target's own. [`demo_plan`] is the plan that
//! makes a refreshed UAT usable. The built-in `finance` profile of `dataalm-core` names
//! the tables and columns this crate creates.
//!
//! Everything goes through [`dataalm_engine::Database`]; only the DDL differs per
//! dialect.
//!
//! ```
//! use dataalm_core::progress::Silent;
//! use dataalm_engine::sqlite::SqliteDb;
//! use dataalm_finance::{Role, SampleOptions};
//!
//! let mut db = SqliteDb::memory()?;
//! let options = SampleOptions { role: Role::Uat, size_bytes: dataalm_finance::parse_size("1MB")?, seed: 7 };
//! let stats = dataalm_finance::create(&mut db, &options, &Silent)?;
//! assert!(stats.users > 200);
//! assert!(stats.rows("sales_line").unwrap_or(0) > 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod business;
mod error;
mod generate;
mod plan;
mod random;
mod schema;
mod settings;
mod size;
mod system;

pub use error::Error;
pub use plan::{demo_plan, demo_plan_toml};
pub use schema::table_names;
pub use size::parse_size;

use dataalm_core::progress::Progress;
use dataalm_engine::Database;
use std::fmt;
use std::str::FromStr;

/// Which environment a sample plays: its environment-specific settings and its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Current data, production batch servers, SMTP relay, help site and endpoints.
    Production,
    /// An older, different data set with the UAT environment's own settings.
    Uat,
}

impl FromStr for Role {
    type Err = Error;

    /// `production`/`prod` or `uat`/`sandbox`, in any case.
    fn from_str(s: &str) -> Result<Role, Error> {
        match s.trim().to_ascii_lowercase().as_str() {
            "production" | "prod" => Ok(Role::Production),
            "uat" | "sandbox" => Ok(Role::Uat),
            _ => Err(Error::InvalidRole(s.to_owned())),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Production => "production",
            Role::Uat => "uat",
        })
    }
}

/// What sample to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleOptions {
    pub role: Role,
    /// The size to aim at, in bytes on disk; the result is within about 15 %. Below a few
    /// hundred kB the fixed system tables make the sample larger than asked.
    pub size_bytes: u64,
    /// Same seed, role and size: same rows.
    pub seed: u64,
}

impl Default for SampleOptions {
    /// A 50 MB production sample with seed 1.
    fn default() -> Self {
        SampleOptions {
            role: Role::Production,
            size_bytes: 50_000_000,
            seed: 1,
        }
    }
}

/// What [`create`] made.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SampleStats {
    /// Rows per table, in the order the tables were filled.
    pub tables: Vec<(String, u64)>,
    /// Users, including the administrator and the service accounts.
    pub users: u64,
    pub batch_jobs: u64,
    /// The database's size afterwards, as the engine counts it.
    pub bytes: u64,
}

impl SampleStats {
    /// The rows created in one table.
    pub fn rows(&self, table: &str) -> Option<u64> {
        self.tables
            .iter()
            .find(|(name, _)| name == table)
            .map(|(_, rows)| *rows)
    }

    /// All rows created.
    pub fn total_rows(&self) -> u64 {
        self.tables.iter().map(|(_, rows)| rows).sum()
    }
}

/// Creates the finance sample in `db` and fills it as `options` say, reporting rows per
/// table to `progress` as they are loaded.
///
/// Refuses with [`Error::AlreadyExists`], changing nothing, when `db` already has any of
/// the sample's tables. On SQLite the load runs without journal and fsyncs; the database
/// is back in rollback-journal mode with full sync when this returns.
pub fn create(
    db: &mut dyn Database,
    options: &SampleOptions,
    progress: &dyn Progress,
) -> Result<SampleStats, Error> {
    generate::create(db, options, progress)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_read_their_names() {
        assert_eq!("production".parse::<Role>().unwrap(), Role::Production);
        assert_eq!("Prod".parse::<Role>().unwrap(), Role::Production);
        assert_eq!("uat".parse::<Role>().unwrap(), Role::Uat);
        assert_eq!("sandbox".parse::<Role>().unwrap(), Role::Uat);
        assert!(matches!("dev".parse::<Role>(), Err(Error::InvalidRole(_))));
        assert_eq!(Role::Uat.to_string().parse::<Role>().unwrap(), Role::Uat);
    }
}
