//! `dataalm-bench`: whole-process benchmarks, run as a command (`scripts/bench-sqlite`,
//! `scripts/bench-postgres`), never as a timed test.
//!
//! `sqlite` makes a finance sample database, then times dataalm's staging copy against
//! `cp` + `sync` and `sqlite3 .backup` on the same file, and measures the cutover's
//! downtime as a reader polling the target sees it. Every copy runs in a child process
//! (dataalm's through the hidden `copy-once` subcommand of this binary) so that wall
//! time and peak memory are measured the same way for all three.
//!
//! `postgres` starts a source and a target cluster, loads pgbench tables and the finance
//! sample, then times dataalm's copy against `pg_dump | pg_restore`, `pg_dump -Fd -j` +
//! `pg_restore -j` and `pgcopydb clone`, checks every copy, and measures the cutover's
//! downtime as a client polling the target sees it. dataalm's copy runs in the hidden
//! `pg-copy-once` subcommand, for the same reason.
//!
//! `api` serves the REST API (`dataalm serve`) and measures its latency while clients
//! poll an operation and list users at a fixed rate during back-to-back refreshes, and
//! how much that load slows the refreshes (`scripts/bench-api`).

mod api;
mod measure;
mod postgres;
mod reader;
mod report;
mod sqlite;

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "dataalm-bench",
    about = "Benchmarks of dataalm's database movement"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// SQLite: staging copy vs cp + sync vs sqlite3 .backup, and cutover downtime.
    Sqlite(sqlite::Options),
    /// One dataalm staging copy, reported as JSON on stdout (used by `sqlite`).
    #[command(hide = true)]
    CopyOnce { source: PathBuf, staging: PathBuf },
    /// PostgreSQL: dataalm's copy vs pg_dump/pg_restore and pgcopydb, and cutover downtime.
    Postgres(postgres::Options),
    /// One dataalm PostgreSQL copy from $DATAALM_BENCH_SOURCE_URL into
    /// $DATAALM_BENCH_STAGING_URL, reported as JSON on stdout (used by `postgres`).
    #[command(hide = true)]
    PgCopyOnce {
        #[arg(long)]
        jobs: usize,
    },
    /// REST API: latency of status polls and user lists during refreshes, and the
    /// refreshes' slowdown under that load.
    Api(api::Options),
}

fn main() -> Result<ExitCode> {
    match Cli::parse().command {
        Command::Sqlite(options) => sqlite::run(&options)?,
        Command::CopyOnce { source, staging } => sqlite::copy_once(&source, &staging)?,
        Command::Postgres(options) => postgres::run(&options)?,
        Command::PgCopyOnce { jobs } => postgres::copy_once(jobs)?,
        Command::Api(options) => api::run(&options)?,
    }
    Ok(ExitCode::SUCCESS)
}
