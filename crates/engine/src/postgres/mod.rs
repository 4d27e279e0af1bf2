//! The PostgreSQL engine: databases on servers, moved with the servers' own protocol.
//!
//! [`PgDb`] is the connection for application steps. [`PgEngine`] copies a live
//! source into a staging database on the target's server (`copy`: one exported
//! snapshot, parallel binary COPY streams, schema by pg_dump/pg_restore), swaps it in
//! with transactional renames (`cutover`) and back (`swap_back`). Each module says at
//! its top why what it does is safe.

mod checks;
mod conn;
mod copy;
mod cutover;
mod database;
mod db;
mod ddl;
mod indexes;
mod locks;
mod maintenance;
mod names;
mod tls;
mod tools;

pub use checks::{SLOT_MARGIN, Unfit};
pub use conn::PgUrl;
pub use db::PgDb;
pub use tls::{SslMode, TlsSettings};
pub use tools::BIN_VARIABLE;

use crate::{CopyStats, Database, DbInfo, Engine, Identity, Result};
use dataalm_core::progress::Progress;
use dataalm_core::{CopyOptions, Location};
use std::time::Duration;

pub struct PgEngine;

impl PgEngine {
    /// The same server as `target`, database `name`. An unusable target URL gives an
    /// empty location, which every method refuses, rather than anything that could
    /// name a real database.
    fn beside(target: &Location, name: impl Fn(&str) -> String) -> Location {
        PgUrl::parse(target).map_or(Location::Postgres(String::new()), |url| {
            url.with_dbname(&name(url.dbname())).location()
        })
    }
}

impl Engine for PgEngine {
    fn name(&self) -> &'static str {
        "PostgreSQL"
    }

    fn probe(&self, location: &Location) -> Result<DbInfo> {
        let url = PgUrl::parse(location)?;
        let mut client = url.connect()?;
        let row = client
            .query_one(
                "SELECT pg_database_size(d.oid), d.oid, c.system_identifier,
                        pg_postmaster_start_time()::text
                 FROM pg_database d, pg_control_system() c
                 WHERE d.datname = current_database()",
                &[],
            )
            .map_err(|e| conn::sql_error("read the database's size and identity", &e))?;
        Ok(DbInfo {
            size_bytes: u64::try_from(row.get::<_, i64>(0)).unwrap_or(0),
            identity: Identity::Cluster {
                oid: row.get(1),
                system: row.get(2),
                started: row.get(3),
            },
        })
    }

    fn open(&self, location: &Location, read_only: bool) -> Result<Box<dyn Database>> {
        Ok(Box::new(PgDb::open(location, read_only)?))
    }

    fn staging_location(&self, target: &Location, op_id: &str) -> Location {
        PgEngine::beside(target, |name| names::staging(name, op_id))
    }

    fn previous_location(&self, target: &Location, op_id: &str) -> Location {
        PgEngine::beside(target, |name| names::previous(name, op_id))
    }

    /// The server's disk cannot be seen from here; PostgreSQL reports a full disk as
    /// an error during the copy, which leaves the target untouched.
    fn check_space(&self, _target: &Location, _bytes: u64) -> Result<()> {
        Ok(())
    }

    fn copy_masked(
        &self,
        source: &Location,
        staging: &Location,
        options: &CopyOptions,
        mask: Option<&crate::MaskSet>,
        progress: &dyn Progress,
    ) -> Result<CopyStats> {
        copy::copy(
            &PgUrl::parse(source)?,
            &PgUrl::parse(staging)?,
            options,
            mask,
            progress,
        )
    }

    fn check_refresh(&self, source: &Location, target: &Location) -> Result<()> {
        checks::check_refresh(&PgUrl::parse(source)?, &PgUrl::parse(target)?)
    }

    fn check_copy(&self, source: &Location, options: &CopyOptions) -> Result<()> {
        checks::check_slots_now(&PgUrl::parse(source)?, options.jobs())
    }

    fn cutover(
        &self,
        target: &Location,
        staging: &Location,
        previous: &Location,
    ) -> Result<Duration> {
        cutover::cutover(
            &PgUrl::parse(target)?,
            &PgUrl::parse(staging)?,
            &PgUrl::parse(previous)?,
        )
    }

    fn swap_back(&self, target: &Location, previous: &Location) -> Result<()> {
        cutover::swap_back(&PgUrl::parse(target)?, &PgUrl::parse(previous)?)
    }

    fn drop_database(&self, location: &Location) -> Result<()> {
        let url = PgUrl::parse(location)?;
        let mut server = maintenance::connect(&url)?;
        maintenance::drop_database(&mut server, url.dbname())
    }

    fn exists(&self, location: &Location) -> Result<bool> {
        let url = PgUrl::parse(location)?;
        let mut server = maintenance::connect(&url)?;
        maintenance::exists(&mut server, url.dbname())
    }
}

/// Creates the database `location` names if its server does not have it yet (as
/// `sample create` needs). Returns whether it was created.
pub fn create_database_if_missing(location: &Location) -> Result<bool> {
    let url = PgUrl::parse(location)?;
    let mut server = maintenance::connect(&url)?;
    if maintenance::exists(&mut server, url.dbname())? {
        return Ok(false);
    }
    let sql = format!(
        "CREATE DATABASE {}",
        dataalm_core::sql::quote_name(url.dbname())
    );
    server
        .batch_execute(&sql)
        .map_err(|e| conn::sql_error(format!("create database {}", url.dbname()), &e))?;
    Ok(true)
}

/// Row count and content checksum of every user table, for checking copies from
/// outside (tests, benchmarks): `(schema.table, rows, checksum)`, sorted by name. The
/// checksums are `--verify`'s: by column name, with the same settings on every server.
pub fn table_checksums(location: &Location) -> Result<Vec<(String, i64, String)>> {
    let url = PgUrl::parse(location)?;
    let mut client = url.connect()?;
    client
        .batch_execute(copy::PINNED_SETTINGS)
        .map_err(|e| conn::sql_error("pin the settings values print with", &e))?;
    let tables = client
        .query(
            &format!(
                "SELECT pg_catalog.format('%I.%I', n.nspname, c.relname),
                        n.nspname || '.' || c.relname
                 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                 WHERE c.relkind = 'r' AND {} ORDER BY 2",
                copy::USER_SCHEMA
            ),
            &[],
        )
        .map_err(|e| conn::sql_error("list tables", &e))?;
    let mut sums = Vec::with_capacity(tables.len());
    for table in tables {
        let (quoted, name): (String, String) = (table.get(0), table.get(1));
        let columns = client
            .query(copy::COLUMNS_SQL, &[&quoted])
            .map_err(|e| conn::sql_error(format!("read the columns of {name}"), &e))?;
        let columns = copy::sorted(columns.iter().map(|row| row.get(0)).collect());
        let row = client
            .query_one(&copy::checksum_sql(&quoted, &columns), &[])
            .map_err(|e| conn::sql_error(format!("checksum {name}"), &e))?;
        sums.push((name, row.get(0), row.get(1)));
    }
    Ok(sums)
}

/// Compares two databases as `--verify` compares a copy with its source: every table,
/// by column name, with the same settings on both sides. `Err(Error::VerifyFailed)`
/// names the first table that differs, its first differing key and the columns.
pub fn compare(source: &Location, copy: &Location) -> Result<()> {
    copy::compare(&PgUrl::parse(source)?, &PgUrl::parse(copy)?)
}
