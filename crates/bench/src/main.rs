//! `dataalm-bench`: whole-process benchmarks, run as a command (`scripts/bench-sqlite`),
//! never as a timed test.
//!
//! `sqlite` makes a finance sample database, then times dataalm's staging copy against
//! `cp` + `sync` and `sqlite3 .backup` on the same file, and measures the cutover's
//! downtime as a reader polling the target sees it. Every copy runs in a child process
//! (dataalm's through the hidden `copy-once` subcommand of this binary) so that wall
//! time and peak memory are measured the same way for all three.

mod measure;
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
}

fn main() -> Result<ExitCode> {
    match Cli::parse().command {
        Command::Sqlite(options) => sqlite::run(&options)?,
        Command::CopyOnce { source, staging } => sqlite::copy_once(&source, &staging)?,
    }
    Ok(ExitCode::SUCCESS)
}
