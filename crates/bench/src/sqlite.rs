//! The SQLite benchmark: one source database, three ways to copy it, one cutover.
//!
//! Fairness rules, and why:
//! - Each method runs as a child process, timed from spawn to exit, so start-up costs
//!   and measurement are the same for all.
//! - Before each run the source's pages are dropped from the page cache (that file
//!   only; see [`measure::drop_file_cache`]), so no method profits from another's reads.
//!   What was still cached is reported.
//! - Every method ends durable: dataalm syncs its file and directory itself, `cp` is
//!   followed by `sync FILE` (timed), `sqlite3 .backup` commits with its default
//!   `synchronous=FULL`. `sync` of the whole machine would also flush other people's work.
//! - Runs alternate between methods and the best run of each is kept: the machine is
//!   shared and the slowest runs measure the neighbours.

use crate::measure::{self, Timed};
use crate::reader::{self, MARKER_TABLE};
use crate::report::{self, CopyFigures, Report, SwapFigures};
use anyhow::{Context, Result, bail};
use dataalm_core::Location;
use dataalm_core::progress::Silent;
use dataalm_engine::Engine;
use dataalm_engine::sqlite::{SqliteDb, SqliteEngine};
use dataalm_finance::{Role, SampleOptions};
use serde::{Deserialize, Serialize};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct Options {
    /// Size of the generated finance sample (500MB, 1GB, 2GiB...).
    #[arg(long, default_value = "1GB")]
    size: String,
    /// Runs of each method; the best is reported.
    #[arg(long, default_value_t = 2)]
    runs: u32,
    /// Where to put the databases (on the disk to measure). A sample already there
    /// (`prod.db`) is reused. Default: a new directory under the temporary directory,
    /// removed afterwards.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Copy this database instead of generating one. It is only read.
    #[arg(long, conflicts_with = "wal")]
    source: Option<PathBuf>,
    /// Put the generated source in WAL mode (dataalm then uses the backup API).
    #[arg(long)]
    wal: bool,
    /// Keep the databases afterwards.
    #[arg(long)]
    keep: bool,
    /// The sqlite3 command-line shell to compare with.
    #[arg(long, default_value = "sqlite3")]
    sqlite3: PathBuf,
    /// Print the figures as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// What `copy-once` prints.
#[derive(Debug, Serialize, Deserialize)]
pub struct CopyOnce {
    pub seconds: f64,
    pub bytes: u64,
    pub method: String,
    pub tables: Vec<(String, u64)>,
    pub peak_rss_kib: Option<u64>,
}

impl CopyOnce {
    /// Makes one staging copy with `engine`, timed, and prints what it did as JSON on
    /// stdout, for the parent benchmark to read.
    pub fn print(
        engine: &dyn Engine,
        source: &Location,
        staging: &Location,
        options: &dataalm_core::CopyOptions,
    ) -> Result<()> {
        let started = Instant::now();
        let stats = engine.copy(source, staging, options, &Silent)?;
        let report = CopyOnce {
            seconds: started.elapsed().as_secs_f64(),
            bytes: stats.bytes,
            method: stats.method,
            tables: stats.tables,
            peak_rss_kib: measure::own_peak_rss_kib(),
        };
        println!("{}", serde_json::to_string(&report)?);
        Ok(())
    }
}

/// The `copy-once` subcommand: one dataalm staging copy, as JSON on stdout.
pub fn copy_once(source: &Path, staging: &Path) -> Result<()> {
    CopyOnce::print(
        &SqliteEngine,
        &Location::Sqlite(source.to_owned()),
        &Location::Sqlite(staging.to_owned()),
        &dataalm_core::CopyOptions::default(),
    )
}

pub fn run(options: &Options) -> Result<()> {
    if options.runs == 0 {
        bail!("--runs must be at least 1");
    }
    let (dir, _cleanup) = work_dir(options)?;
    let source = match &options.source {
        Some(path) => path.clone(),
        None => generate(options, &dir)?,
    };
    let engine = SqliteEngine;
    let source_bytes = engine.probe(&Location::Sqlite(source.clone()))?.size_bytes;
    let journal_mode = journal_mode(&source)?;

    let target = dir.join("uat.db");
    let target_loc = Location::Sqlite(target.clone());
    let staging = sqlite_path(&engine.staging_location(&target_loc, "bench"));
    let previous = sqlite_path(&engine.previous_location(&target_loc, "bench"));
    let backup_out = dir.join("sqlite3-backup.db");
    let exe = std::env::current_exe().context("find this program")?;

    let mut dataalm = Vec::new();
    let mut cp_sync = Vec::new();
    let mut backup = Vec::new();
    let mut cached_at_start = 0u64;
    let mut copy_once_report = None;
    for run in 1..=options.runs {
        eprintln!("run {run} of {}", options.runs);
        for path in [&staging, &target, &backup_out, &previous] {
            engine.drop_database(&Location::Sqlite(path.clone()))?;
        }

        cached_at_start = cached_at_start.max(cold(&source));
        let timed = measure::run_timed(
            exe.as_os_str(),
            &[
                OsStr::new("copy-once"),
                source.as_os_str(),
                staging.as_os_str(),
            ],
        )?;
        let once: CopyOnce =
            serde_json::from_str(timed.stdout.trim()).context("read copy-once's report")?;
        eprintln!(
            "  dataalm copy      {:>8.3} s ({})",
            timed.seconds, once.method
        );
        dataalm.push(timed);
        copy_once_report = Some(once);

        cached_at_start = cached_at_start.max(cold(&source));
        let cp = measure::run_timed(OsStr::new("cp"), &[source.as_os_str(), target.as_os_str()])?;
        let sync = measure::run_timed(OsStr::new("sync"), &[target.as_os_str()])?;
        eprintln!(
            "  cp + sync         {:>8.3} s (cp {:.3} s, sync {:.3} s)",
            cp.seconds + sync.seconds,
            cp.seconds,
            sync.seconds
        );
        cp_sync.push(Timed {
            seconds: cp.seconds + sync.seconds,
            peak_rss_kib: cp.peak_rss_kib.max(sync.peak_rss_kib),
            stdout: String::new(),
        });

        cached_at_start = cached_at_start.max(cold(&source));
        let command = format!(".backup \"{}\"", backup_out.display());
        let timed = measure::run_timed(
            options.sqlite3.as_os_str(),
            &[source.as_os_str(), OsStr::new(&command)],
        )?;
        eprintln!("  sqlite3 .backup   {:>8.3} s", timed.seconds);
        backup.push(timed);
        engine.drop_database(&Location::Sqlite(backup_out.clone()))?;
    }
    let Some(once) = copy_once_report else {
        bail!("no run was made");
    };

    // The cutover: the cp copy plays the UAT target, dataalm's copy the staging database.
    let small_table = once
        .tables
        .iter()
        .rev()
        .find(|(_, rows)| *rows > 0)
        .map(|(name, _)| name.clone())
        .context("the source has no table with rows to query")?;
    mark_new(&staging)?;
    let staging_loc = Location::Sqlite(staging.clone());
    let previous_loc = Location::Sqlite(previous.clone());
    let cutover = swap(&target, &small_table, || {
        engine
            .cutover(&target_loc, &staging_loc, &previous_loc)
            .map(Some)
    })?;
    // The engine does not report a downtime for a swap back.
    let swap_back = swap(&target, &small_table, || {
        engine.swap_back(&target_loc, &previous_loc).map(|()| None)
    })?;

    let methods = vec![
        CopyFigures::from_runs("dataalm copy (durable)", &dataalm, source_bytes),
        CopyFigures::from_runs("cp + sync FILE", &cp_sync, source_bytes),
        CopyFigures::from_runs("sqlite3 .backup", &backup, source_bytes),
    ];
    let report = Report::new(report::Setup {
        source: source.display().to_string(),
        source_bytes,
        journal_mode,
        dataalm_method: once.method,
        runs: options.runs,
        source_cached_bytes_at_start: cached_at_start,
        methods,
        cutover,
        swap_back,
        bench_peak_rss_kib: measure::own_peak_rss_kib(),
    });
    if options.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.table());
    }

    if !options.keep {
        for path in [&staging, &target, &previous] {
            engine.drop_database(&Location::Sqlite(path.clone()))?;
        }
    } else {
        eprintln!("kept the databases in {}", dir.display());
    }
    Ok(())
}

/// The directory to work in and, when we made it, the guard that removes it.
fn work_dir(options: &Options) -> Result<(PathBuf, Option<tempfile::TempDir>)> {
    if let Some(dir) = &options.dir {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
        return Ok((dir.clone(), None));
    }
    let temp = tempfile::Builder::new()
        .prefix("dataalm-bench-")
        .tempdir()
        .context("create a working directory")?;
    if options.keep {
        return Ok((temp.keep(), None));
    }
    Ok((temp.path().to_owned(), Some(temp)))
}

/// Makes (or reuses) the finance sample `prod.db` in `dir`.
fn generate(options: &Options, dir: &Path) -> Result<PathBuf> {
    let path = dir.join("prod.db");
    let mode = if options.wal { "wal" } else { "delete" };
    if path.is_file() {
        eprintln!("reusing {}", path.display());
    } else {
        let size_bytes = dataalm_finance::parse_size(&options.size)?;
        eprintln!(
            "generating a {} finance sample in {} ...",
            options.size,
            path.display()
        );
        let started = Instant::now();
        let partial = dir.join("prod.db.generating");
        std::fs::remove_file(&partial).or_else(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Ok(()),
            _ => Err(e),
        })?;
        let mut db = SqliteDb::create(&partial)?;
        let sample = SampleOptions {
            role: Role::Production,
            size_bytes,
            seed: 1,
        };
        let stats = dataalm_finance::create(&mut db, &sample, &Silent)?;
        drop(db);
        std::fs::rename(&partial, &path)?;
        eprintln!(
            "  {} rows, {} bytes, in {:.1} s",
            stats.total_rows(),
            std::fs::metadata(&path)?.len(),
            started.elapsed().as_secs_f64()
        );
    }
    let conn = rusqlite::Connection::open(&path)?;
    let now: String = conn.query_row(&format!("PRAGMA journal_mode={mode}"), [], |r| r.get(0))?;
    if now != mode {
        bail!("could not put {} in journal_mode={mode}", path.display());
    }
    Ok(path)
}

fn journal_mode(path: &Path) -> Result<String> {
    let conn =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    Ok(conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?)
}

/// Drops the source from the page cache; returns how much of it was still cached.
fn cold(source: &Path) -> u64 {
    if !measure::drop_file_cache(source) {
        eprintln!(
            "  (could not drop {} from the page cache)",
            source.display()
        );
    }
    measure::cached_bytes(source).unwrap_or(0)
}

/// Gives the staging copy a table the old database lacks, so the reader can tell them
/// apart.
fn mark_new(staging: &Path) -> Result<()> {
    let conn = rusqlite::Connection::open(staging)?;
    conn.execute_batch(&format!("CREATE TABLE {MARKER_TABLE} (x INTEGER)"))?;
    Ok(())
}

/// Runs `swap` while a reader polls `target`; returns what the engine and the reader saw.
fn swap(
    target: &Path,
    table: &str,
    swap: impl FnOnce() -> dataalm_engine::Result<Option<Duration>>,
) -> Result<SwapFigures> {
    let probe = reader::start(target.to_owned(), table.to_owned());
    // Let the reader settle into its rhythm before and after.
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    let reported = swap()?;
    let elapsed = started.elapsed();
    std::thread::sleep(Duration::from_millis(300));
    let seen = probe.finish();
    Ok(SwapFigures {
        engine_downtime_ms: reported.map(|d| d.as_secs_f64() * 1000.0),
        call_ms: elapsed.as_secs_f64() * 1000.0,
        reader: seen,
    })
}

fn sqlite_path(location: &Location) -> PathBuf {
    match location {
        Location::Sqlite(path) => path.clone(),
        Location::Postgres(url) => PathBuf::from(url),
    }
}
