//! The PostgreSQL benchmark: two throw-away clusters on this machine (a production server
//! and a sandbox server), one source database, the usual ways to copy it from one to the
//! other, and one cutover.
//!
//! The source is `pgbench -i -s SCALE` plus the finance sample (about 1 GB by default).
//! Every method copies that same database, in one process run:
//! - dataalm's copy at each `--jobs`, in a child process (the hidden `pg-copy-once`
//!   subcommand of this binary), so that its time and memory are measured like the others';
//! - `pg_dump -Fc | pg_restore`, one stream through a pipe;
//! - `pg_dump -Fd -j N` into a temporary directory, then `pg_restore -j N`;
//! - `pgcopydb clone --table-jobs N --index-jobs N`, when it is installed.
//!
//! Fairness rules, and why:
//! - Each method is timed from spawn to exit of its client processes; its peak memory is
//!   the largest resident set among them (`/usr/bin/time`). The servers' memory is the
//!   same whoever copies and is not counted.
//! - The source is vacuumed, frozen and checkpointed once, then read whole by the
//!   checksums: every method finds it warm in the page cache, and none sets hint bits
//!   for the others. Both servers are checkpointed before each copy, so no method pays
//!   for the previous one's writes.
//! - Every copy ends durable: both servers run with `fsync` on.
//! - Every copy is checked, untimed: same tables, same row count and content checksum
//!   (`sum(hashtextextended(row::text, 0))`) per table, same indexes, constraints and
//!   sequence positions. A copy that differs counts as failed.
//! - Runs alternate between methods and the best run of each is kept.
//!
//! The cutover then swaps dataalm's copy in for a target restored by pg_restore while a
//! client opens a new connection and runs `SELECT 1` every 10 ms.
//!
//! Passwords reach child processes only through their environment (`PGPASSWORD`,
//! pgcopydb's `PGCOPYDB_*_PGURI`), never their command line; printed URLs are redacted.

use crate::measure::{self, Timed};
use crate::reader::{Sample, Seen};
use crate::sqlite::CopyOnce;
use anyhow::{Context, Result, bail};
use dataalm_core::progress::Silent;
use dataalm_core::{CopyOptions, Location};
use dataalm_engine::Engine;
use dataalm_engine::postgres::PgEngine;
use dataalm_finance::{Role, SampleOptions};
use dataalm_pgtest::{Cluster, ClusterOptions, SUPERUSER};
use serde::Serialize;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Where `pg-copy-once` finds its source and staging URLs (they hold passwords).
const SOURCE_URL_ENV: &str = "DATAALM_BENCH_SOURCE_URL";
const STAGING_URL_ENV: &str = "DATAALM_BENCH_STAGING_URL";

/// How dataalm's rows are labelled.
const DATAALM: &str = "dataalm copy";

const SHARED_BUFFERS: &str = "512MB";

/// How often the cutover client connects.
const PROBE_INTERVAL: Duration = Duration::from_millis(10);
/// How long the cutover client waits for a connection before counting a failure.
const PROBE_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// The aims the benchmark checks.
const AIM_VS_PG_DUMP: f64 = 1.5;
const AIM_CUTOVER_MS: f64 = 1000.0;

#[derive(clap::Args)]
pub struct Options {
    /// pgbench scale factor of the source (50: about 750 MB).
    #[arg(long, default_value_t = 50)]
    scale: u32,
    /// Size of the finance sample added to the source (200MB: about 300 MB in PostgreSQL).
    #[arg(long, default_value = "200MB")]
    size: String,
    /// Parallel jobs to compare at (dataalm, pg_dump -Fd/pg_restore, pgcopydb).
    #[arg(long, value_delimiter = ',', default_values_t = [2, 4])]
    jobs: Vec<usize>,
    /// Runs of each method; the best is reported.
    #[arg(long, default_value_t = 1)]
    runs: u32,
    /// The largest peak memory of dataalm's copy that counts as bounded, in MB.
    #[arg(long, default_value_t = 256)]
    max_rss_mb: u64,
    /// Leave pgcopydb out even when it is installed.
    #[arg(long)]
    no_pgcopydb: bool,
    /// Where to write the results as Markdown.
    #[arg(long, default_value = "target/bench-postgres.md")]
    markdown: PathBuf,
    /// Print the figures as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

// ---------------------------------------------------------------------------------------
// dataalm's copy, in a child process

/// The `pg-copy-once` subcommand: one dataalm copy from `$DATAALM_BENCH_SOURCE_URL` into
/// a new staging database `$DATAALM_BENCH_STAGING_URL`, reported as JSON on stdout.
pub fn copy_once(jobs: usize) -> Result<()> {
    let source = std::env::var(SOURCE_URL_ENV).context(SOURCE_URL_ENV)?;
    let staging = std::env::var(STAGING_URL_ENV).context(STAGING_URL_ENV)?;
    // The engine logs how long each phase took; the parent reads that from stderr.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("dataalm_engine=info"))
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .without_time()
        .init();
    let options = CopyOptions {
        jobs: Some(jobs),
        verify: false,
        owners_and_grants: true,
        ..CopyOptions::default()
    };
    CopyOnce::print(
        &PgEngine,
        &Location::Postgres(source),
        &Location::Postgres(staging),
        &options,
    )
}

// ---------------------------------------------------------------------------------------
// The two servers

/// One throw-away cluster and how its client tools reach it.
struct Server {
    cluster: Cluster,
}

impl Server {
    fn start(role: &str) -> Result<Server> {
        let options = ClusterOptions {
            durable: true,
            shared_buffers: SHARED_BUFFERS.to_owned(),
            ..ClusterOptions::default()
        };
        let cluster =
            Cluster::start(&options).with_context(|| format!("start the {role} cluster"))?;
        Ok(Server { cluster })
    }

    /// The URL with the password, for dataalm and pgcopydb (through the environment).
    fn url(&self, db: &str) -> String {
        self.cluster.url(db)
    }

    /// The URL without the password, for command lines and messages.
    fn bare_url(&self, db: &str) -> String {
        format!(
            "postgres://{SUPERUSER}@127.0.0.1:{}/{db}",
            self.cluster.port()
        )
    }

    fn location(&self, db: &str) -> Location {
        Location::Postgres(self.url(db))
    }

    fn tool_path(&self, name: &str) -> PathBuf {
        self.cluster.bin_dir().join(name)
    }

    /// A client tool of this server's version, given the password in its environment.
    fn tool(&self, name: &str) -> Command {
        let mut command = Command::new(self.tool_path(name));
        command.env("PGPASSWORD", self.cluster.password());
        command
    }

    fn client(&self, db: &str) -> Result<postgres::Client> {
        Ok(self.cluster.client(db)?)
    }

    /// Runs statements in the maintenance database `postgres`.
    fn admin(&self, sql: &str) -> Result<()> {
        self.client("postgres")?
            .batch_execute(sql)
            .with_context(|| format!("run `{sql}`"))
    }

    fn drop_database(&self, db: &str) -> Result<()> {
        self.admin(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            quote_ident(db)
        ))
    }

    /// Drops `db` and makes it again, empty.
    fn recreate_database(&self, db: &str) -> Result<()> {
        self.drop_database(db)?;
        self.admin(&format!("CREATE DATABASE {}", quote_ident(db)))
    }

    fn database_oid(&self, db: &str) -> Result<i64> {
        let row = self.client("postgres")?.query_one(
            "SELECT oid::int8 FROM pg_database WHERE datname = $1",
            &[&db],
        )?;
        Ok(row.get(0))
    }

    fn version(&self) -> Result<String> {
        let row = self
            .client("postgres")?
            .query_one("SELECT current_setting('server_version')", &[])?;
        Ok(row.get(0))
    }
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

// ---------------------------------------------------------------------------------------
// The source database

/// What the source holds.
#[derive(Debug, Clone, Serialize)]
pub struct SourceFacts {
    pub description: String,
    pub bytes: u64,
    pub tables: usize,
    pub rows: i64,
}

/// Fills `db` on `source`: pgbench tables, then the finance sample; then vacuums,
/// freezes and checkpoints, so that no copy pays for hint bits or dirty buffers.
fn build_source(options: &Options, source: &Server, db: &str) -> Result<()> {
    eprintln!(
        "loading pgbench -i -s {} into the source ...",
        options.scale
    );
    let started = Instant::now();
    let mut pgbench = source.tool("pgbench");
    pgbench
        .args(["-i", "-q", "-s"])
        .arg(options.scale.to_string())
        .arg(source.bare_url(db));
    run_timed(pgbench, "pgbench -i")?;
    eprintln!("  {:.1} s", started.elapsed().as_secs_f64());

    eprintln!(
        "generating a {} finance sample in the source ...",
        options.size
    );
    let started = Instant::now();
    let sample = SampleOptions {
        role: Role::Production,
        size_bytes: dataalm_finance::parse_size(&options.size)?,
        seed: 1,
    };
    let mut connection = PgEngine.open(&source.location(db), false)?;
    let stats = dataalm_finance::create(connection.as_mut(), &sample, &Silent)?;
    drop(connection);
    eprintln!(
        "  {} rows in {:.1} s",
        stats.total_rows(),
        started.elapsed().as_secs_f64()
    );

    eprintln!("vacuuming (freeze, analyze) and checkpointing the source ...");
    source
        .client(db)?
        .batch_execute("VACUUM (FREEZE, ANALYZE)")
        .context("vacuum the source")?;
    source.admin("CHECKPOINT")
}

fn source_facts(
    options: &Options,
    source: &Server,
    db: &str,
    content: &Content,
) -> Result<SourceFacts> {
    let row = source
        .client(db)?
        .query_one("SELECT pg_database_size(current_database())", &[])?;
    let bytes: i64 = row.get(0);
    Ok(SourceFacts {
        description: format!(
            "pgbench -i -s {} + finance sample {}",
            options.scale, options.size
        ),
        bytes: u64::try_from(bytes).unwrap_or(0),
        tables: content.tables.len(),
        rows: content.tables.iter().map(|t| t.rows).sum(),
    })
}

// ---------------------------------------------------------------------------------------
// Checking a copy

/// Everything a copy must reproduce, in a comparable form.
#[derive(Debug, Clone, PartialEq)]
struct Content {
    tables: Vec<TableSum>,
    /// Index and constraint definitions and sequence positions, sorted.
    schema: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
struct TableSum {
    name: String,
    rows: i64,
    /// `sum(hashtextextended(row::text, 0))`, as text (it is a numeric).
    checksum: String,
}

const TABLES_SQL: &str = "\
SELECT format('%I.%I', n.nspname, c.relname)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
ORDER BY 1";

const SCHEMA_SQL: &str = "\
SELECT 'index ' || indexdef FROM pg_indexes
WHERE schemaname NOT IN ('pg_catalog', 'information_schema')
UNION ALL
SELECT format('constraint %s %s %s', conrelid::regclass, conname, pg_get_constraintdef(oid))
FROM pg_constraint
WHERE connamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)
UNION ALL
SELECT format('sequence %I.%I at %s', schemaname, sequencename, last_value)
FROM pg_sequences
ORDER BY 1";

/// Reads the content of `db`: every table's rows and checksum, and the schema objects.
fn content(server: &Server, db: &str) -> Result<Content> {
    let mut client = server.client(db)?;
    let names: Vec<String> = client
        .query(TABLES_SQL, &[])?
        .iter()
        .map(|row| row.get(0))
        .collect();
    let mut tables = Vec::with_capacity(names.len());
    for name in names {
        // The name comes from format('%I.%I'): already quoted.
        let sql = format!(
            "SELECT count(*), coalesce(sum(hashtextextended(t::text, 0)), 0)::text FROM {name} t"
        );
        let row = client
            .query_one(&sql, &[])
            .with_context(|| format!("checksum {name}"))?;
        tables.push(TableSum {
            name,
            rows: row.get(0),
            checksum: row.get(1),
        });
    }
    let schema = client
        .query(SCHEMA_SQL, &[])?
        .iter()
        .map(|row| row.get(0))
        .collect();
    Ok(Content { tables, schema })
}

/// What differs between the source and a copy, in words (empty when they match).
fn differences(source: &Content, copy: &Content) -> Vec<String> {
    let mut out = Vec::new();
    for table in &source.tables {
        match copy.tables.iter().find(|t| t.name == table.name) {
            None => out.push(format!("{} is missing", table.name)),
            Some(t) if t.rows != table.rows => out.push(format!(
                "{}: {} rows instead of {}",
                table.name, t.rows, table.rows
            )),
            Some(t) if t.checksum != table.checksum => {
                out.push(format!("{}: different content (checksum)", table.name));
            }
            Some(_) => {}
        }
    }
    for table in &copy.tables {
        if !source.tables.iter().any(|t| t.name == table.name) {
            out.push(format!("{} is extra", table.name));
        }
    }
    for item in &source.schema {
        if !copy.schema.contains(item) {
            out.push(format!("missing: {item}"));
        }
    }
    for item in &copy.schema {
        if !source.schema.contains(item) {
            out.push(format!("extra: {item}"));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// Running and timing child processes

/// Runs `command` timed, with its peak memory ([`measure::run_command`]).
fn run_timed(command: Command, what: &str) -> Result<Timed> {
    measure::run_command(command, what).map(|(timed, _)| timed)
}

/// `PATH` with the server's binaries first, so pgcopydb runs the matching pg_dump.
fn path_with(bin_dir: &Path) -> OsString {
    let mut path = OsString::from(bin_dir.as_os_str());
    if let Some(old) = std::env::var_os("PATH") {
        path.push(":");
        path.push(old);
    }
    path
}

// ---------------------------------------------------------------------------------------
// The methods

/// One way to copy the source database to the target server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Dataalm(usize),
    /// `pg_dump -Fc | pg_restore`: one stream.
    DumpPipe,
    /// `pg_dump -Fd -j N` to a directory, then `pg_restore -j N`.
    DumpDir(usize),
    Pgcopydb(usize),
}

impl Method {
    fn label(self) -> &'static str {
        match self {
            Method::Dataalm(_) => DATAALM,
            Method::DumpPipe => "pg_dump -Fc | pg_restore",
            Method::DumpDir(_) => "pg_dump -Fd + pg_restore",
            Method::Pgcopydb(_) => "pgcopydb clone",
        }
    }

    fn jobs(self) -> usize {
        match self {
            Method::Dataalm(n) | Method::DumpDir(n) | Method::Pgcopydb(n) => n,
            Method::DumpPipe => 1,
        }
    }

    /// Where it comes in the table: dataalm first, then each peer, by jobs.
    fn order(self) -> (u8, usize) {
        let rank = match self {
            Method::Dataalm(_) => 0,
            Method::DumpPipe => 1,
            Method::DumpDir(_) => 2,
            Method::Pgcopydb(_) => 3,
        };
        (rank, self.jobs())
    }

    /// The database this method copies into, on the target server.
    fn database(self) -> String {
        match self {
            Method::Dataalm(n) => format!("bench_dataalm_j{n}"),
            Method::DumpPipe => "bench_pg_dump_pipe".to_owned(),
            Method::DumpDir(n) => format!("bench_pg_dump_dir_j{n}"),
            Method::Pgcopydb(n) => format!("bench_pgcopydb_j{n}"),
        }
    }
}

/// The methods in the order one run tries them: the single stream, then each method at
/// each number of jobs.
fn methods(options: &Options, with_pgcopydb: bool) -> Vec<Method> {
    let mut all = vec![Method::DumpPipe];
    for &jobs in &options.jobs {
        all.push(Method::Dataalm(jobs));
        all.push(Method::DumpDir(jobs));
        if with_pgcopydb {
            all.push(Method::Pgcopydb(jobs));
        }
    }
    all
}

/// The two servers and the source database, as every method sees them.
struct Bench {
    source: Server,
    target: Server,
    source_db: String,
    /// Dumps and pgcopydb's work directories.
    work: tempfile::TempDir,
    exe: PathBuf,
}

/// One timed copy and what it said about itself.
struct Copied {
    timed: Timed,
    detail: String,
    /// dataalm's phases and their seconds, as the engine logged them.
    phases: Vec<(String, f64)>,
}

impl Bench {
    /// Makes `method`'s copy into its database on the target server, timed.
    fn copy(&self, method: Method) -> Result<Copied> {
        let db = method.database();
        self.target.drop_database(&db)?;
        if !matches!(method, Method::Dataalm(_)) {
            // pg_restore and pgcopydb restore into an existing, empty database.
            self.target.recreate_database(&db)?;
        }
        self.source.admin("CHECKPOINT")?;
        self.target.admin("CHECKPOINT")?;
        match method {
            Method::Dataalm(jobs) => self.dataalm(jobs, &db),
            Method::DumpPipe => self.dump_pipe(&db),
            Method::DumpDir(jobs) => self.dump_dir(jobs, &db),
            Method::Pgcopydb(jobs) => self.pgcopydb(jobs, &db),
        }
    }

    fn dataalm(&self, jobs: usize, db: &str) -> Result<Copied> {
        let mut command = Command::new(&self.exe);
        command
            .args(["pg-copy-once", "--jobs"])
            .arg(jobs.to_string())
            .env(SOURCE_URL_ENV, self.source.url(&self.source_db))
            .env(STAGING_URL_ENV, self.target.url(db))
            .env("DATAALM_PG_BIN", self.source.cluster.bin_dir());
        let (timed, log) = measure::run_command(command, DATAALM)?;
        let once: CopyOnce =
            serde_json::from_str(timed.stdout.trim()).context("read pg-copy-once's report")?;
        Ok(Copied {
            detail: once.method,
            phases: phases(&log),
            timed,
        })
    }

    fn dump_pipe(&self, db: &str) -> Result<Copied> {
        const PIPE: &str = "set -o pipefail
PGPASSWORD=\"$SOURCE_PGPASSWORD\" \"$1\" -Fc -d \"$3\" | PGPASSWORD=\"$TARGET_PGPASSWORD\" \"$2\" -d \"$4\"";
        let mut command = Command::new("bash");
        command
            .args(["-c", PIPE, "bench-pipe"])
            .arg(self.source.tool_path("pg_dump"))
            .arg(self.target.tool_path("pg_restore"))
            .arg(self.source.bare_url(&self.source_db))
            .arg(self.target.bare_url(db))
            .env("SOURCE_PGPASSWORD", self.source.cluster.password())
            .env("TARGET_PGPASSWORD", self.target.cluster.password());
        let timed = run_timed(command, "pg_dump -Fc | pg_restore")?;
        Ok(Copied {
            timed,
            detail: "no ANALYZE".to_owned(),
            phases: Vec::new(),
        })
    }

    fn dump_dir(&self, jobs: usize, db: &str) -> Result<Copied> {
        let dir = self.work.path().join(format!("dump-j{jobs}"));
        remove_dir(&dir)?;
        let mut dump = self.source.tool("pg_dump");
        dump.args(["-Fd", "-j"])
            .arg(jobs.to_string())
            .arg("-f")
            .arg(&dir)
            .arg("-d")
            .arg(self.source.bare_url(&self.source_db));
        let dumped = run_timed(dump, "pg_dump -Fd")?;
        let dump_bytes = dir_bytes(&dir);
        let mut restore = self.target.tool("pg_restore");
        restore
            .arg("-j")
            .arg(jobs.to_string())
            .arg("-d")
            .arg(self.target.bare_url(db))
            .arg(&dir);
        let restored = run_timed(restore, "pg_restore -j")?;
        remove_dir(&dir)?;
        Ok(Copied {
            phases: Vec::new(),
            detail: format!(
                "dump {:.1} s ({:.0} MB) + restore {:.1} s, no ANALYZE",
                dumped.seconds,
                dump_bytes as f64 / 1e6,
                restored.seconds
            ),
            timed: Timed {
                seconds: dumped.seconds + restored.seconds,
                peak_rss_kib: dumped.peak_rss_kib.max(restored.peak_rss_kib),
                stdout: String::new(),
            },
        })
    }

    fn pgcopydb(&self, jobs: usize, db: &str) -> Result<Copied> {
        let dir = self.work.path().join(format!("pgcopydb-j{jobs}"));
        remove_dir(&dir)?;
        let mut command = Command::new("pgcopydb");
        command
            .args(["clone", "--dir"])
            .arg(&dir)
            .arg("--table-jobs")
            .arg(jobs.to_string())
            .arg("--index-jobs")
            .arg(jobs.to_string())
            .env("PGCOPYDB_SOURCE_PGURI", self.source.url(&self.source_db))
            .env("PGCOPYDB_TARGET_PGURI", self.target.url(db))
            .env("PATH", path_with(self.source.cluster.bin_dir()));
        let timed = run_timed(command, "pgcopydb clone")?;
        remove_dir(&dir)?;
        Ok(Copied {
            timed,
            detail: "includes VACUUM ANALYZE".to_owned(),
            phases: Vec::new(),
        })
    }
}

/// The engine's phase timings from its log (`... copy: data took 12.34 s`).
fn phases(log: &str) -> Vec<(String, f64)> {
    log.lines()
        .filter_map(|line| {
            let (_, rest) = line.rsplit_once("copy: ")?;
            let (phase, took) = rest.rsplit_once(" took ")?;
            let seconds = took.trim().trim_end_matches('s').trim().parse().ok()?;
            Some((phase.to_owned(), seconds))
        })
        .collect()
}

fn remove_dir(dir: &Path) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("remove {}", dir.display()))
        }
        _ => Ok(()),
    }
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------------
// The cutover, as a client sees it

struct ProbeSample {
    done: Instant,
    /// The oid of the database that answered.
    answered_by: Option<i64>,
    error: Option<String>,
}

/// A thread that connects to the target every 10 ms and runs `SELECT 1`.
struct Probe {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Vec<ProbeSample>>,
}

impl Probe {
    fn start(url: &str) -> Result<Probe> {
        let mut config: postgres::Config = url.parse().context("parse the target URL")?;
        config.connect_timeout(PROBE_CONNECT_TIMEOUT);
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let handle = std::thread::spawn(move || {
            let mut samples = Vec::new();
            while !stopped.load(Ordering::Relaxed) {
                let answer = probe_once(&config);
                samples.push(ProbeSample {
                    done: Instant::now(),
                    answered_by: answer.as_ref().ok().copied(),
                    error: answer.err(),
                });
                std::thread::sleep(PROBE_INTERVAL);
            }
            samples
        });
        Ok(Probe { stop, handle })
    }

    /// Stops the client and sums up what it saw; `old` and `new` are the oids of the
    /// databases before and after.
    fn finish(self, old: i64, new: i64) -> Seen {
        self.stop.store(true, Ordering::Relaxed);
        let samples: Vec<Sample> = self
            .handle
            .join()
            .unwrap_or_default()
            .into_iter()
            .map(|s| Sample {
                done: s.done,
                new: s.answered_by.and_then(|oid| {
                    (oid == new)
                        .then_some(true)
                        .or((oid == old).then_some(false))
                }),
                error: s.error,
            })
            .collect();
        Seen::of(&samples)
    }
}

/// One new connection and `SELECT 1`; returns the oid of the database that answered.
fn probe_once(config: &postgres::Config) -> Result<i64, String> {
    let mut client = config.connect(postgres::NoTls).map_err(|e| describe(&e))?;
    let row = client
        .query_one(
            "SELECT 1, (SELECT oid::int8 FROM pg_database WHERE datname = current_database())",
            &[],
        )
        .map_err(|e| describe(&e))?;
    Ok(row.get(1))
}

/// The server's message when there is one, else the client's.
fn describe(e: &postgres::Error) -> String {
    e.as_db_error()
        .map_or_else(|| e.to_string(), |db| db.message().to_owned())
}

/// The cutover, by the engine and as the client saw it.
#[derive(Debug, Clone, Serialize)]
pub struct Cutover {
    pub engine_downtime_ms: f64,
    pub call_ms: f64,
    pub client: Seen,
    /// Whether the target answered from the new database afterwards.
    pub target_is_new: bool,
}

/// Swaps the dataalm copy `staging` in for `target` (a copy made by pg_restore) while
/// the client polls `target`.
fn cutover(bench: &Bench, target_db: &str, staging_db: &str) -> Result<Cutover> {
    let target = &bench.target;
    let target_loc = target.location(target_db);
    let previous = PgEngine.previous_location(&target_loc, "bench");
    PgEngine.drop_database(&previous)?;
    let old = target.database_oid(target_db)?;
    let new = target.database_oid(staging_db)?;

    let probe = Probe::start(&target.url(target_db))?;
    // Let the client settle into its rhythm before and after.
    std::thread::sleep(Duration::from_millis(500));
    let started = Instant::now();
    let downtime = PgEngine.cutover(&target_loc, &target.location(staging_db), &previous)?;
    let call = started.elapsed();
    std::thread::sleep(Duration::from_millis(500));
    let client = probe.finish(old, new);

    let target_is_new = target.database_oid(target_db)? == new;
    PgEngine.drop_database(&previous)?;
    Ok(Cutover {
        engine_downtime_ms: downtime.as_secs_f64() * 1000.0,
        call_ms: call.as_secs_f64() * 1000.0,
        client,
        target_is_new,
    })
}

// ---------------------------------------------------------------------------------------
// The run

/// One method over all runs.
#[derive(Debug, Clone, Serialize)]
pub struct MethodFigures {
    pub method: String,
    pub jobs: usize,
    pub best_seconds: Option<f64>,
    pub all_seconds: Vec<f64>,
    pub mb_per_s: Option<f64>,
    /// The dataalm run it is compared with (same jobs; the fewest jobs for one stream).
    pub compared_with_dataalm_jobs: usize,
    /// Its best time over that dataalm's: above 1, dataalm is faster.
    pub ratio_to_dataalm: Option<f64>,
    pub peak_rss_kib: Option<u64>,
    pub detail: String,
    /// dataalm's phases in its best run, with their seconds.
    pub phases: Vec<(String, f64)>,
    /// Why a run failed or its copy differed from the source.
    pub failure: Option<String>,
}

/// The machine the figures come from.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cpus: usize,
    pub cpu_model: String,
    pub ram_gib: f64,
    pub postgres: String,
    pub pgcopydb: Option<String>,
}

/// One aim and whether it was met.
#[derive(Debug, Clone, Serialize)]
pub struct Aim {
    pub met: bool,
    pub text: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub machine: Machine,
    pub source: SourceFacts,
    pub runs: u32,
    pub methods: Vec<MethodFigures>,
    pub cutover: Option<Cutover>,
    pub cutover_failure: Option<String>,
    pub aims: Vec<Aim>,
}

pub fn run(options: &Options) -> Result<()> {
    if options.runs == 0 || options.jobs.is_empty() || options.jobs.contains(&0) {
        bail!("--runs and every --jobs must be at least 1");
    }
    let pgcopydb = if options.no_pgcopydb {
        None
    } else {
        pgcopydb_version()
    };
    if pgcopydb.is_none() && !options.no_pgcopydb {
        eprintln!("pgcopydb is not installed: leaving it out (scripts/bench-postgres installs it)");
    }

    eprintln!("starting the source and target clusters ...");
    let source = Server::start("source")?;
    let target = Server::start("target")?;
    let source_db = source.cluster.create_database("prod")?;
    build_source(options, &source, &source_db)?;
    eprintln!("checksumming the source (this also warms it in the page cache) ...");
    let source_content = content(&source, &source_db)?;
    let facts = source_facts(options, &source, &source_db, &source_content)?;
    eprintln!(
        "source: {:.2} GB, {} tables, {} rows",
        facts.bytes as f64 / 1e9,
        facts.tables,
        facts.rows
    );

    let bench = Bench {
        source,
        target,
        source_db,
        work: tempfile::Builder::new()
            .prefix("dataalm-bench-pg-")
            .tempdir()
            .context("create a working directory")?,
        exe: std::env::current_exe().context("find this program")?,
    };
    let methods = methods(options, pgcopydb.is_some());
    let mut results: Vec<MethodResult> = methods.iter().map(|&m| MethodResult::new(m)).collect();
    for run in 1..=options.runs {
        eprintln!("run {run} of {}", options.runs);
        for result in &mut results {
            run_method(&bench, &source_content, result);
        }
    }

    let (cutover, cutover_failure) = match cutover_after(&bench, options, &results) {
        Ok(c) => (Some(c), None),
        Err(e) => (None, Some(format!("{e:#}"))),
    };
    let figures = figures(&results, facts.bytes);
    let report = Report {
        machine: machine(&bench.source, pgcopydb)?,
        aims: aims(options, &figures, cutover.as_ref()),
        source: facts,
        runs: options.runs,
        methods: figures,
        cutover,
        cutover_failure,
    };
    if options.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.table());
    }
    write_markdown(&options.markdown, &report)?;
    eprintln!("wrote {}", options.markdown.display());
    Ok(())
}

/// All runs of one method.
struct MethodResult {
    method: Method,
    runs: Vec<Copied>,
    failure: Option<String>,
}

impl MethodResult {
    fn new(method: Method) -> MethodResult {
        MethodResult {
            method,
            runs: Vec::new(),
            failure: None,
        }
    }

    /// The fastest run, unless a run failed.
    fn best(&self) -> Option<&Copied> {
        if self.failure.is_some() {
            return None;
        }
        self.runs
            .iter()
            .min_by(|a, b| a.timed.seconds.total_cmp(&b.timed.seconds))
    }
}

/// One run of one method: copy, check, then drop the copy. A failure is recorded, not
/// fatal, so that one broken method does not hide the others' figures.
fn run_method(bench: &Bench, source: &Content, result: &mut MethodResult) {
    let method = result.method;
    let name = format!("{} (jobs {})", method.label(), method.jobs());
    let copied = bench.copy(method).and_then(|copied| {
        let differ = differences(source, &content(&bench.target, &method.database())?);
        if differ.is_empty() {
            Ok(copied)
        } else {
            bail!(
                "the copy differs from the source: {}",
                differ.into_iter().take(5).collect::<Vec<_>>().join("; ")
            )
        }
    });
    match copied {
        Ok(copied) => {
            eprintln!(
                "  {name:<36} {:>8.3} s  checked  {}",
                copied.timed.seconds, copied.detail
            );
            result.runs.push(copied);
        }
        Err(e) => {
            let message = format!("{e:#}");
            eprintln!("  {name:<36} FAILED: {message}");
            result.failure.get_or_insert(message);
        }
    }
}

/// After the runs: drops the copies the cutover does not need, then swaps the dataalm
/// copy with the most jobs in for the pg_dump | pg_restore copy, renamed `uat`.
fn cutover_after(bench: &Bench, options: &Options, results: &[MethodResult]) -> Result<Cutover> {
    let jobs = options.jobs.iter().copied().max().unwrap_or(1);
    let staging = Method::Dataalm(jobs).database();
    for result in results {
        let db = result.method.database();
        if db != staging && result.method != Method::DumpPipe {
            bench.target.drop_database(&db)?;
        }
    }
    let ok = |m: Method| results.iter().any(|r| r.method == m && r.failure.is_none());
    if !ok(Method::DumpPipe) || !ok(Method::Dataalm(jobs)) {
        bail!("no cutover: it needs a good pg_dump | pg_restore copy and a good dataalm copy");
    }
    let target = "uat";
    bench.target.drop_database(target)?;
    bench.target.admin(&format!(
        "ALTER DATABASE {} RENAME TO {target}",
        quote_ident(&Method::DumpPipe.database())
    ))?;
    eprintln!("cutover: dataalm's copy (jobs {jobs}) in for `{target}`, a client polling ...");
    let result = cutover(bench, target, &staging);
    for db in [target, staging.as_str()] {
        bench.target.drop_database(db)?;
    }
    result
}

fn pgcopydb_version() -> Option<String> {
    let output = Command::new("pgcopydb").arg("--version").output().ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&output.stdout);
    text.lines().next().map(|line| {
        line.trim_start_matches("pgcopydb version")
            .trim()
            .to_owned()
    })
}

fn machine(source: &Server, pgcopydb: Option<String>) -> Result<Machine> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let field = |text: &str, name: &str| {
        text.lines()
            .find(|line| line.starts_with(name))
            .and_then(|line| line.split_once(':'))
            .map(|(_, value)| value.trim().to_owned())
    };
    let mem_kib: f64 = field(&meminfo, "MemTotal")
        .and_then(|v| v.trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    Ok(Machine {
        cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model: field(&cpuinfo, "model name").unwrap_or_else(|| "unknown CPU".to_owned()),
        ram_gib: mem_kib / 1024.0 / 1024.0,
        postgres: source.version()?,
        pgcopydb,
    })
}

/// The figures of every method, with ratios to dataalm's at the same jobs.
fn figures(results: &[MethodResult], bytes: u64) -> Vec<MethodFigures> {
    let best = |r: &MethodResult| r.best().map(|c| c.timed.seconds);
    let dataalm_best = |jobs: usize| {
        results
            .iter()
            .find(|r| r.method == Method::Dataalm(jobs))
            .and_then(best)
    };
    let fewest_jobs = results
        .iter()
        .filter_map(|r| match r.method {
            Method::Dataalm(n) => Some(n),
            _ => None,
        })
        .min()
        .unwrap_or(1);
    let mut ordered: Vec<&MethodResult> = results.iter().collect();
    ordered.sort_by_key(|r| r.method.order());
    ordered
        .into_iter()
        .map(|r| {
            let compared = match r.method {
                Method::DumpPipe => fewest_jobs,
                other => other.jobs(),
            };
            let best_seconds = best(r);
            let best_run = r.best();
            MethodFigures {
                method: r.method.label().to_owned(),
                jobs: r.method.jobs(),
                best_seconds,
                all_seconds: r.runs.iter().map(|c| c.timed.seconds).collect(),
                mb_per_s: best_seconds.map(|s| bytes as f64 / 1e6 / s),
                compared_with_dataalm_jobs: compared,
                ratio_to_dataalm: best_seconds.zip(dataalm_best(compared)).map(|(s, d)| s / d),
                peak_rss_kib: r.runs.iter().filter_map(|c| c.timed.peak_rss_kib).max(),
                detail: best_run.map(|c| c.detail.clone()).unwrap_or_default(),
                phases: best_run.map(|c| c.phases.clone()).unwrap_or_default(),
                failure: r.failure.clone(),
            }
        })
        .collect()
}

fn aims(options: &Options, methods: &[MethodFigures], cutover: Option<&Cutover>) -> Vec<Aim> {
    let mut aims = Vec::new();
    let find =
        |label: &str, jobs: usize| methods.iter().find(|m| m.method == label && m.jobs == jobs);
    if let Some(pipe) = find(Method::DumpPipe.label(), 1) {
        let text = format!(
            "dataalm (jobs {}) at least {AIM_VS_PG_DUMP:.1}x faster than pg_dump -Fc | pg_restore",
            pipe.compared_with_dataalm_jobs
        );
        aims.push(ratio_aim(text, pipe.ratio_to_dataalm, AIM_VS_PG_DUMP));
    }
    for &jobs in &options.jobs {
        if let Some(peer) = find(Method::Pgcopydb(jobs).label(), jobs) {
            let text = format!("dataalm faster than pgcopydb clone at jobs {jobs}");
            aims.push(ratio_aim(text, peer.ratio_to_dataalm, 1.0));
        }
    }
    aims.push(match cutover {
        Some(c) => Aim {
            met: c.client.longest_gap_ms < AIM_CUTOVER_MS && c.target_is_new,
            text: format!(
                "cutover under 1 s as a client sees it: longest gap {:.0} ms, {} failed attempts of {}{}",
                c.client.longest_gap_ms,
                c.client.failures,
                c.client.queries,
                if c.target_is_new { "" } else { " (target is not the new copy!)" }
            ),
        },
        None => Aim {
            met: false,
            text: "cutover under 1 s: not measured".to_owned(),
        },
    });
    let peak = methods
        .iter()
        .filter(|m| m.method == DATAALM)
        .filter_map(|m| m.peak_rss_kib)
        .max();
    aims.push(match peak {
        Some(kib) => Aim {
            met: kib / 1024 <= options.max_rss_mb,
            text: format!(
                "dataalm copy memory bounded: peak RSS {:.1} MB (aim: at most {} MB)",
                kib as f64 / 1024.0,
                options.max_rss_mb
            ),
        },
        None => Aim {
            met: false,
            text: "dataalm copy memory bounded: not measured (no /usr/bin/time)".to_owned(),
        },
    });
    aims
}

/// An aim on a ratio to dataalm: met when the ratio is at least `at_least`.
fn ratio_aim(text: String, ratio: Option<f64>, at_least: f64) -> Aim {
    match ratio {
        Some(r) => Aim {
            met: r >= at_least,
            text: format!("{text}: {r:.2}x"),
        },
        None => Aim {
            met: false,
            text: format!("{text}: not measured"),
        },
    }
}

// ---------------------------------------------------------------------------------------
// Printing

impl Report {
    /// Machine and source, one line each.
    fn header(&self) -> String {
        let m = &self.machine;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "machine: {} CPUs ({}), {:.1} GiB RAM; PostgreSQL {}; pgcopydb {}",
            m.cpus,
            m.cpu_model,
            m.ram_gib,
            m.postgres,
            m.pgcopydb.as_deref().unwrap_or("not installed")
        );
        let _ = writeln!(
            out,
            "source: {}: {:.2} GB (pg_database_size), {} tables, {} rows",
            self.source.description,
            self.source.bytes as f64 / 1e9,
            self.source.tables,
            self.source.rows
        );
        let _ = writeln!(
            out,
            "both servers on this machine, fsync on, shared_buffers {SHARED_BUFFERS}; source warm in cache; \
             every copy checked (rows, checksums, indexes, constraints, sequences); best of {} run(s)",
            self.runs
        );
        out
    }

    /// The methods and the cutover, as a plain-text table.
    fn figures_table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<26} {:>4} {:>9} {:>7} {:>10} {:>10}  notes",
            "method", "jobs", "best s", "MB/s", "x dataalm", "peak RSS"
        );
        for m in &self.methods {
            let _ = write!(out, "{:<26} {:>4} ", m.method, m.jobs);
            match (m.best_seconds, &m.failure) {
                (Some(s), None) => {
                    let _ = writeln!(
                        out,
                        "{:>9.2} {:>7.0} {:>10} {:>10}  {}",
                        s,
                        m.mb_per_s.unwrap_or(0.0),
                        m.ratio_to_dataalm
                            .map_or("n/a".to_owned(), |r| format!("{r:.2}x")),
                        m.peak_rss_kib
                            .map_or("n/a".to_owned(), |k| format!("{:.1} MB", k as f64 / 1024.0)),
                        self.notes(m)
                    );
                }
                (_, failure) => {
                    let _ = writeln!(out, "FAILED: {}", failure.as_deref().unwrap_or("no run"));
                }
            }
        }
        for m in self.methods.iter().filter(|m| !m.phases.is_empty()) {
            let phases: Vec<String> = m
                .phases
                .iter()
                .map(|(phase, s)| format!("{phase} {s:.1}"))
                .collect();
            let _ = writeln!(
                out,
                "  {} jobs {} phases (s): {}",
                m.method,
                m.jobs,
                phases.join("; ")
            );
        }
        let _ = writeln!(out);
        match (&self.cutover, &self.cutover_failure) {
            (Some(c), _) => {
                let s = &c.client;
                let _ = writeln!(
                    out,
                    "cutover: engine downtime {:.1} ms, call {:.1} ms; client (new connection + SELECT 1 every 10 ms): \
                     {} attempts, {} failed, longest gap {:.1} ms (median {:.1} ms), answers old/new {}/{}",
                    c.engine_downtime_ms,
                    c.call_ms,
                    s.queries,
                    s.failures,
                    s.longest_gap_ms,
                    s.median_gap_ms,
                    s.answers_from_old,
                    s.answers_from_new
                );
                if let Some(failure) = &s.first_failure {
                    let _ = writeln!(out, "  first failure: {failure}");
                }
            }
            (None, failure) => {
                let _ = writeln!(
                    out,
                    "cutover: FAILED: {}",
                    failure.as_deref().unwrap_or("not run")
                );
            }
        }
        out
    }

    fn notes(&self, m: &MethodFigures) -> String {
        let mut notes = Vec::new();
        if m.method != DATAALM {
            notes.push(format!("vs dataalm jobs {}", m.compared_with_dataalm_jobs));
        }
        if !m.detail.is_empty() {
            notes.push(m.detail.clone());
        }
        if m.all_seconds.len() > 1 {
            let all: Vec<String> = m.all_seconds.iter().map(|s| format!("{s:.2}")).collect();
            notes.push(format!("runs {}", all.join(" ")));
        }
        notes.join("; ")
    }

    fn aims_lines(&self) -> String {
        let mut out = String::new();
        for aim in &self.aims {
            let _ = writeln!(
                out,
                "{}  {}",
                if aim.met { "PASS" } else { "FAIL" },
                aim.text
            );
        }
        out
    }

    /// Everything, for a terminal.
    pub fn table(&self) -> String {
        format!(
            "{}\n{}\n{}",
            self.header(),
            self.figures_table(),
            self.aims_lines()
        )
    }

    /// Everything, as Markdown for the README.
    pub fn markdown(&self) -> String {
        let mut out = String::from("## Performance (PostgreSQL)\n\n");
        let _ = writeln!(out, "Measured by `scripts/bench-postgres`:\n");
        for line in self.header().lines() {
            let _ = writeln!(out, "- {line}");
        }
        let _ = writeln!(out, "\n```\n{}```\n", self.figures_table());
        for aim in &self.aims {
            let verdict = if aim.met { "pass" } else { "FAIL" };
            let _ = writeln!(out, "- **{verdict}**: {}", aim.text);
        }
        out
    }
}

fn write_markdown(path: &Path, report: &Report) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    }
    std::fs::write(path, report.markdown()).with_context(|| format!("write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(name: &str, rows: i64, checksum: &str) -> TableSum {
        TableSum {
            name: name.to_owned(),
            rows,
            checksum: checksum.to_owned(),
        }
    }

    #[test]
    fn differences_name_what_differs() {
        let source = Content {
            tables: vec![table("public.a", 3, "10"), table("public.b", 1, "7")],
            schema: vec!["index a_pkey".to_owned()],
        };
        assert!(differences(&source, &source.clone()).is_empty());
        let copy = Content {
            tables: vec![table("public.a", 3, "11"), table("public.c", 0, "0")],
            schema: Vec::new(),
        };
        assert_eq!(
            differences(&source, &copy),
            [
                "public.a: different content (checksum)",
                "public.b is missing",
                "public.c is extra",
                "missing: index a_pkey",
            ]
        );
    }

    #[test]
    fn phases_come_from_the_engine_log() {
        let log = "INFO dataalm_engine::postgres::copy: copy: data took 8.70 s\n\
                   unrelated line\n\
                   INFO dataalm_engine::postgres::copy: copy: indexes, constraints and triggers took 3.61 s\n";
        assert_eq!(
            phases(log),
            [
                ("data".to_owned(), 8.7),
                ("indexes, constraints and triggers".to_owned(), 3.61)
            ]
        );
    }

    #[test]
    fn methods_alternate_and_sort_dataalm_first() {
        let mut all = vec![
            Method::DumpPipe,
            Method::Dataalm(2),
            Method::Pgcopydb(2),
            Method::Dataalm(4),
        ];
        all.sort_by_key(|m| m.order());
        assert_eq!(
            all,
            [
                Method::Dataalm(2),
                Method::Dataalm(4),
                Method::DumpPipe,
                Method::Pgcopydb(2)
            ]
        );
        assert_eq!(Method::DumpDir(4).database(), "bench_pg_dump_dir_j4");
    }
}
