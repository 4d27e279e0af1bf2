//! CopyToStaging on PostgreSQL: one consistent point in time, copied in parallel.
//!
//! 1. A coordinator connection opens a repeatable-read, read-only transaction on the
//!    source and exports its snapshot. It stays open until the copy ends, so every
//!    other reader below sees exactly the same data, however long the copy takes.
//! 2. The staging database is (re)created on the target server, and `pg_dump` (reading
//!    that snapshot) with `pg_restore` builds the pre-data schema in it: types, tables,
//!    functions, views. No indexes or constraints yet, so loading is fast.
//! 3. `jobs` lanes, each a source connection in the snapshot and a staging connection,
//!    take chunks from one queue, largest first, and stream `COPY ... (FORMAT binary)`
//!    straight from one server into the other. Big tables are cut into ctid ranges so
//!    several lanes share them. Memory stays at a few buffers per lane.
//! 4. Sequences get the source's values, large objects are copied in pieces, then
//!    `pg_restore -j` builds indexes, constraints and triggers in parallel, populated
//!    materialized views are refreshed and statistics gathered.
//! 5. With `verify`, every table's row count and content checksum are compared between
//!    the snapshot and the staging copy.
//!
//! The source is only read: no temporary objects, no writes. A crash leaves a partial
//! staging database, which the next attempt drops; its snapshot died with the
//! coordinator, so a resume takes a new one and copies everything again.

use super::conn::{PgUrl, describe};
use super::indexes::{self, EarlyIndexes};
use super::tools::{Tool, dbname_arg};
use super::{checks, ddl, maintenance};
use crate::{CopyStats, Error, Result, Side};
use bytes::BytesMut;
use dataalm_core::failpoint::{self, When};
use dataalm_core::progress::Progress;
use dataalm_core::sql::quote_literal;
use dataalm_core::{CopyOptions, Step};
use futures_util::{SinkExt, TryStreamExt, pin_mut};
use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use tokio_postgres::Client;

/// How every source session starts. Row security off: a table whose policies would
/// hide rows from dataalm's user makes the copy fail rather than come out partial.
const SNAPSHOT_SESSION: &str =
    "SET row_security = off; BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY";

/// Progress is reported at least every this many bytes per lane.
const REPORT_BYTES: u64 = 4 << 20;
/// Rows travel to the staging server in messages of about this size.
const BATCH_BYTES: usize = 256 << 10;
/// Large objects travel in pieces of this size.
const LO_PIECE: i32 = 1 << 20;

pub(crate) fn copy(
    source: &PgUrl,
    staging: &PgUrl,
    options: &CopyOptions,
    progress: &dyn Progress,
) -> Result<CopyStats> {
    let jobs = options.jobs();
    // One thread drives every connection: the client only forwards bytes, and keeping
    // it on one thread saves the cross-thread wake-ups (half its system time).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Io {
            context: "start the copy's runtime".into(),
            source: e,
        })?;
    runtime.block_on(run(source, staging, options, jobs, progress))
}

async fn run(
    source: &PgUrl,
    staging: &PgUrl,
    options: &CopyOptions,
    jobs: usize,
    progress: &dyn Progress,
) -> Result<CopyStats> {
    let clock = PhaseClock::start();
    let (from, to) = (
        End::new(Side::Source, source),
        End::new(Side::Target, staging),
    );
    let coordinator = source.connect_async().await?;
    // Again here: a resumed copy may run long after validation.
    let slots = coordinator
        .query_one(checks::SLOTS_SQL, &[])
        .await
        .map_err(|e| from.failed("count the source's free connection slots", e))?;
    checks::check_slots(&slots, source, jobs)?;
    from.exec(&coordinator, SNAPSHOT_SESSION, "open the snapshot")
        .await?;
    let snapshot: String = coordinator
        .query_one("SELECT pg_export_snapshot()", &[])
        .await
        .map_err(|e| from.failed("export the snapshot", e))?
        .get(0);
    let facts = SourceFacts::read(&coordinator, &from).await?;

    let server = maintenance::connect_async(staging).await?;
    maintenance::recreate_database(&server, staging.dbname(), &facts.database).await?;
    drop(server);

    let dump_dir = ddl::private_dump_dir()?;
    let dump = dump_dir.path().join("schema.dump");
    dump_schema(source, &snapshot, &dump).await?;
    clock.lap("snapshot, staging database and schema dump");
    let staging_client = staging.connect_async().await?;
    let target_roles = ddl::roles(&staging_client).await?;
    let rebuild = ddl::Rebuild {
        dump: &dump,
        keep_owners: options.owners_and_grants,
        target_roles: &target_roles,
    };
    let mut missing_roles = rebuild
        .pre_data(&staging_client)
        .await
        .map_err(|e| to.named(e))?;
    clock.lap("pre-data schema");
    let mut lanes = open_lanes(source, staging, &snapshot, jobs).await?;
    let ends = Ends {
        from: &from,
        to: &to,
    };
    let copied = copy_data(&mut lanes, &facts, options.split_bytes, progress, ends).await?;

    clock.lap("data");
    let (source_client, staging_client) = ((&coordinator, &from), (&staging_client, &to));
    copy_sequences(source_client, staging_client, &facts.sequences).await?;
    copy_large_objects(source_client, staging_client, &facts.large_objects).await?;
    let staging_client = staging_client.0;
    clock.lap("sequences and large objects");
    let built = &facts.early_indexes.entries;
    missing_roles.extend(
        rebuild
            .post_data(staging, staging_client, jobs, built)
            .await
            .map_err(|e| to.named(e))?,
    );
    clock.lap("indexes, constraints and triggers");
    refresh_materialized_views(staging_client, &to, &facts.materialized_views).await?;
    // Loaded tables were analyzed as they were finished; these have no rows of their own
    // or got them only now.
    for relation in facts.partitioned.iter().chain(&facts.materialized_views) {
        let sql = format!("ANALYZE {relation}");
        to.exec(
            staging_client,
            &sql,
            &format!("gather statistics of {relation}"),
        )
        .await?;
    }
    clock.lap("materialized views and statistics");
    if options.verify {
        verify(&mut lanes, &facts.tables, ends).await?;
        clock.lap("verification");
    }
    from.exec(&coordinator, "COMMIT", "end the snapshot")
        .await?;

    let mut tables: Vec<(String, u64)> = copied.rows.into_iter().collect();
    tables.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Ok(CopyStats {
        bytes: copied.bytes,
        tables,
        method: format!(
            "binary COPY in {jobs} streams from one snapshot{}{}",
            if options.verify { ", verified" } else { "" },
            left_out(&missing_roles)
        ),
    })
}

/// Says which roles' owners, grants and policies were left out, if any.
fn left_out(roles: &std::collections::BTreeSet<String>) -> String {
    if roles.is_empty() {
        return String::new();
    }
    let names: Vec<&str> = roles.iter().map(String::as_str).collect();
    format!(
        "; left out owners, grants and policies of roles the target server lacks or dataalm may not act as: {}",
        names.join(", ")
    )
}

/// Logs how long each phase of the copy took (`-v` shows them).
struct PhaseClock(std::sync::Mutex<std::time::Instant>);

impl PhaseClock {
    fn start() -> PhaseClock {
        PhaseClock(std::sync::Mutex::new(std::time::Instant::now()))
    }

    fn lap(&self, phase: &str) {
        if let Ok(mut last) = self.0.lock() {
            tracing::info!("copy: {phase} took {:.2} s", last.elapsed().as_secs_f64());
            *last = std::time::Instant::now();
        }
    }
}

pub(crate) async fn exec(client: &Client, sql: &str, context: &str) -> Result<()> {
    client
        .batch_execute(sql)
        .await
        .map_err(|e| super::conn::sql_error(context, &e))
}

/// One end of the copy, so that a failure says which server failed: "connection
/// closed" alone does not tell the source from the target.
struct End {
    side: Side,
    location: String,
}

impl End {
    fn new(side: Side, url: &PgUrl) -> End {
        End {
            side,
            location: url.redacted(),
        }
    }

    fn failed(&self, context: impl Into<String>, e: tokio_postgres::Error) -> Error {
        Error::ServerFailed {
            side: self.side,
            location: self.location.clone(),
            context: context.into(),
            message: describe(&e),
            source: Some(e),
        }
    }

    /// A statement error from code shared with other steps, given this end's name.
    fn named(&self, e: Error) -> Error {
        match e {
            Error::Sql { context, message } | Error::Duplicate { context, message } => {
                Error::ServerFailed {
                    side: self.side,
                    location: self.location.clone(),
                    context,
                    message,
                    source: None,
                }
            }
            other => other,
        }
    }

    async fn exec(&self, client: &Client, sql: &str, context: &str) -> Result<()> {
        client
            .batch_execute(sql)
            .await
            .map_err(|e| self.failed(context, e))
    }
}

/// Both ends, for the lanes.
#[derive(Clone, Copy)]
struct Ends<'a> {
    from: &'a End,
    to: &'a End,
}

/// The source database's own settings, which the staging database must share.
pub(crate) struct DatabaseFacts {
    pub encoding: String,
    pub collate: String,
    pub ctype: String,
}

/// What the snapshot holds that the copy needs to know.
struct SourceFacts {
    database: DatabaseFacts,
    tables: Vec<Table>,
    sequences: Vec<String>,
    large_objects: Vec<u32>,
    materialized_views: Vec<String>,
    partitioned: Vec<String>,
    early_indexes: EarlyIndexes,
}

/// A table to copy: quoted qualified name, name for people, size, columns to copy.
struct Table {
    quoted: String,
    name: String,
    bytes: u64,
    pages: u64,
    /// `(a, b, c)`: the columns COPY moves (generated ones are computed again).
    columns: String,
}

/// Objects of extensions are made by `CREATE EXTENSION`, not copied.
const NOT_IN_EXTENSION: &str = "NOT EXISTS (SELECT 1 FROM pg_depend d
     WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')";
pub(crate) const USER_SCHEMA: &str =
    "n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'";

impl SourceFacts {
    async fn read(client: &Client, from: &End) -> Result<SourceFacts> {
        let row = client
            .query_one(
                "SELECT pg_encoding_to_char(encoding)::text, datcollate::text, datctype::text
                 FROM pg_database WHERE datname = current_database()",
                &[],
            )
            .await
            .map_err(|e| from.failed("read the source database's settings", e))?;
        let database = DatabaseFacts {
            encoding: row.get(0),
            collate: row.get(1),
            ctype: row.get(2),
        };
        Ok(SourceFacts {
            database,
            tables: read_tables(client, from).await?,
            sequences: relations(client, from, "c.relkind = 'S'").await?,
            partitioned: relations(client, from, "c.relkind = 'p'").await?,
            early_indexes: indexes::read(
                client,
                &format!("c.relkind = 'r' AND {USER_SCHEMA} AND {NOT_IN_EXTENSION}"),
            )
            .await
            .map_err(|e| from.named(e))?,
            large_objects: large_objects(client, from).await?,
            materialized_views: relations(client, from, "c.relkind = 'm' AND c.relispopulated")
                .await?,
        })
    }
}

async fn read_tables(client: &Client, from: &End) -> Result<Vec<Table>> {
    let sql = format!(
        "SELECT format('%I.%I', n.nspname, c.relname), n.nspname || '.' || c.relname,
                pg_table_size(c.oid), pg_relation_size(c.oid)
                    / current_setting('block_size')::bigint,
                (SELECT coalesce(string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum), '')
                 FROM pg_attribute a
                 WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                   AND a.attgenerated = '')
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind = 'r' AND {USER_SCHEMA} AND {NOT_IN_EXTENSION}
         ORDER BY 3 DESC, 2"
    );
    let rows = client
        .query(&sql, &[])
        .await
        .map_err(|e| from.failed("list the source's tables", e))?;
    Ok(rows
        .iter()
        .map(|row| Table {
            quoted: row.get(0),
            name: row.get(1),
            bytes: u64::try_from(row.get::<_, i64>(2)).unwrap_or(0),
            pages: u64::try_from(row.get::<_, i64>(3)).unwrap_or(0),
            columns: row.get(4),
        })
        .collect())
}

/// Quoted names of the user's relations that meet `condition` (on `pg_class c`), in
/// creation order, so that one built on another comes after it.
async fn relations(client: &Client, from: &End, condition: &str) -> Result<Vec<String>> {
    let sql = format!(
        "SELECT format('%I.%I', n.nspname, c.relname)
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE {condition} AND {USER_SCHEMA} AND {NOT_IN_EXTENSION}
         ORDER BY c.oid"
    );
    let rows = client
        .query(&sql, &[])
        .await
        .map_err(|e| from.failed("list the source's relations", e))?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

async fn large_objects(client: &Client, from: &End) -> Result<Vec<u32>> {
    let rows = client
        .query("SELECT oid FROM pg_largeobject_metadata ORDER BY oid", &[])
        .await
        .map_err(|e| from.failed("list the source's large objects", e))?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

/// `pg_dump` of the whole schema, reading the exported snapshot, in custom format so
/// pg_restore can build its two halves separately (and the second in parallel).
async fn dump_schema(source: &PgUrl, snapshot: &str, file: &Path) -> Result<()> {
    let source = source.clone();
    let snapshot = snapshot.to_owned();
    let file = file.to_owned();
    blocking(move || {
        let tool = Tool::find("pg_dump")?;
        let dbname = dbname_arg(source.dbname());
        let file = format!("--file={}", file.display());
        let snapshot = format!("--snapshot={snapshot}");
        tool.run(
            &source,
            &[
                "--format=custom",
                "--schema-only",
                "--no-subscriptions",
                "--no-publications",
                &snapshot,
                &file,
                &dbname,
            ],
        )?;
        Ok(())
    })
    .await
}

/// Runs blocking work (a child process) without stalling the copy's other tasks.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::Other(format!("a background task failed: {e}")))?
}

/// A source connection in the snapshot and a staging connection.
struct Lane {
    source: Client,
    staging: Client,
}

async fn open_lanes(
    source: &PgUrl,
    staging: &PgUrl,
    snapshot: &str,
    jobs: usize,
) -> Result<Vec<Lane>> {
    let begin = format!(
        "{SNAPSHOT_SESSION}; SET TRANSACTION SNAPSHOT {}",
        quote_literal(snapshot)
    );
    let mut lanes = Vec::with_capacity(jobs);
    for _ in 0..jobs {
        let source_client = source.connect_async().await?;
        exec(&source_client, &begin, "join the snapshot")
            .await
            .map_err(|e| End::new(Side::Source, source).named(e))?;
        let staging_client = staging.connect_async().await?;
        // The staging copy is rebuilt from scratch after a crash, so waiting for each
        // commit to reach disk buys nothing.
        let setup = "SET synchronous_commit = off; SET maintenance_work_mem = '256MB'";
        exec(&staging_client, setup, "set up loading")
            .await
            .map_err(|e| End::new(Side::Target, staging).named(e))?;
        lanes.push(Lane {
            source: source_client,
            staging: staging_client,
        });
    }
    Ok(lanes)
}

/// A piece of a table: all of it, or the pages `[from, to)` (`to` open for the last).
struct Chunk<'a> {
    table: &'a Table,
    pages: Option<(u64, Option<u64>)>,
}

/// Tables bigger than `split_bytes` are cut into ranges of about that size.
fn chunks(tables: &[Table], split_bytes: u64) -> VecDeque<Chunk<'_>> {
    let mut chunks: Vec<(u64, Chunk)> = Vec::new();
    for table in tables {
        let parts = table.bytes.div_ceil(split_bytes.max(1));
        if parts <= 1 || table.pages < parts {
            chunks.push((table.bytes, Chunk { table, pages: None }));
            continue;
        }
        let step = table.pages.div_ceil(parts);
        for part in 0..parts {
            let from = part * step;
            let to = (part + 1 < parts).then_some(from + step);
            let pages = Some((from, to));
            chunks.push((table.bytes / parts, Chunk { table, pages }));
        }
    }
    chunks.sort_by_key(|(bytes, _)| std::cmp::Reverse(*bytes));
    chunks.into_iter().map(|(_, chunk)| chunk).collect()
}

/// What the lanes copied.
#[derive(Default)]
struct Copied {
    bytes: u64,
    rows: HashMap<String, u64>,
}

/// Shared by the lanes while they copy.
struct Shared<'a> {
    queue: Mutex<VecDeque<Chunk<'a>>>,
    /// Chunks not yet copied, per table: the lane that copies the last one finishes
    /// the table (indexes, statistics).
    remaining: Mutex<HashMap<&'a str, usize>>,
    early_indexes: &'a EarlyIndexes,
    bytes: AtomicU64,
    total: u64,
    rows: Mutex<HashMap<String, u64>>,
    first_done: AtomicBool,
    progress: &'a dyn Progress,
    ends: Ends<'a>,
}

async fn copy_data(
    lanes: &mut [Lane],
    facts: &SourceFacts,
    split_bytes: u64,
    progress: &dyn Progress,
    ends: Ends<'_>,
) -> Result<Copied> {
    let total: u64 = facts.tables.iter().map(|t| t.bytes).sum();
    let tables = &facts.tables;
    let queue = chunks(tables, split_bytes);
    let mut remaining: HashMap<&str, usize> = HashMap::new();
    for chunk in &queue {
        *remaining.entry(chunk.table.quoted.as_str()).or_default() += 1;
    }
    let shared = Shared {
        queue: Mutex::new(queue),
        remaining: Mutex::new(remaining),
        early_indexes: &facts.early_indexes,
        bytes: AtomicU64::new(0),
        total,
        rows: Mutex::new(HashMap::new()),
        first_done: AtomicBool::new(false),
        progress,
        ends,
    };
    futures_util::future::try_join_all(lanes.iter_mut().map(|lane| lane_work(lane, &shared)))
        .await?;
    let rows = shared.rows.into_inner().unwrap_or_default();
    for table in tables {
        progress.table_rows(&table.name, rows.get(&table.name).copied().unwrap_or(0));
    }
    Ok(Copied {
        bytes: shared.bytes.load(Ordering::Relaxed),
        rows,
    })
}

async fn lane_work(lane: &mut Lane, shared: &Shared<'_>) -> Result<()> {
    loop {
        let next = shared
            .queue
            .lock()
            .ok()
            .and_then(|mut queue| queue.pop_front());
        let Some(chunk) = next else {
            return Ok(());
        };
        copy_chunk(lane, &chunk, shared).await?;
        if !shared.first_done.swap(true, Ordering::Relaxed) {
            failpoint::check(Step::CopyToStaging, When::During);
        }
        crate::stop_if_cancelled(shared.progress)?;
        let last = shared.remaining.lock().ok().is_some_and(|mut remaining| {
            let left = remaining.entry(chunk.table.quoted.as_str()).or_default();
            *left = left.saturating_sub(1);
            *left == 0
        });
        if last {
            finish_table(lane, chunk.table, shared).await?;
        }
    }
}

/// A fully loaded table gets its indexes and statistics while other lanes copy on.
async fn finish_table(lane: &Lane, table: &Table, shared: &Shared<'_>) -> Result<()> {
    let statements = shared.early_indexes.by_table.get(&table.quoted);
    let context = format!("build the indexes of {}", table.name);
    let to = shared.ends.to;
    for statement in statements.into_iter().flatten() {
        to.exec(&lane.staging, statement, &context).await?;
    }
    let analyze = format!("ANALYZE {}", table.quoted);
    to.exec(
        &lane.staging,
        &analyze,
        &format!("gather statistics of {}", table.name),
    )
    .await
}

async fn copy_chunk(lane: &mut Lane, chunk: &Chunk<'_>, shared: &Shared<'_>) -> Result<()> {
    let table = chunk.table;
    let context = format!("copy {}", table.name);
    let Ends { from, to } = shared.ends;
    let columns = if table.columns.is_empty() {
        String::new()
    } else {
        format!("({})", table.columns)
    };
    let select = match chunk.pages {
        None => format!("COPY {} {columns} TO STDOUT (FORMAT binary)", table.quoted),
        Some((from, to)) => {
            let upper = to.map_or(String::new(), |to| format!(" AND ctid < '({to},0)'::tid"));
            let list = if table.columns.is_empty() {
                "*"
            } else {
                &table.columns
            };
            format!(
                "COPY (SELECT {list} FROM ONLY {} WHERE ctid >= '({from},0)'::tid{upper}) \
                 TO STDOUT (FORMAT binary)",
                table.quoted
            )
        }
    };
    // A whole table is loaded in the transaction that empties it, so its rows can be
    // written already frozen: no later pass rewrites every page to set hint bits.
    let whole = chunk.pages.is_none();
    let insert = format!(
        "COPY {} {columns} FROM STDIN (FORMAT binary{})",
        table.quoted,
        if whole { ", FREEZE" } else { "" }
    );
    if whole {
        let sql = format!("BEGIN; TRUNCATE ONLY {}", table.quoted);
        to.exec(&lane.staging, &sql, &context).await?;
    }
    let stream = lane
        .source
        .copy_out(select.as_str())
        .await
        .map_err(|e| from.failed(&context, e))?;
    let sink = lane
        .staging
        .copy_in(insert.as_str())
        .await
        .map_err(|e| to.failed(&context, e))?;
    pin_mut!(stream, sink);
    // The server sends one message per row, so counting messages counts rows while
    // they flow; the exact count comes with the end of the COPY.
    // Rows are gathered into large messages: fewer messages and system calls for
    // the same bytes, while memory stays at one batch per lane.
    let mut pending = Pending::default();
    let mut counted = 0u64;
    let mut batch = BytesMut::with_capacity(BATCH_BYTES);
    while let Some(data) = stream
        .try_next()
        .await
        .map_err(|e| from.failed(&context, e))?
    {
        pending.bytes += data.len() as u64;
        pending.rows += 1;
        batch.extend_from_slice(&data);
        if batch.len() >= BATCH_BYTES {
            let full = batch.split().freeze();
            sink.feed(full).await.map_err(|e| to.failed(&context, e))?;
        }
        if pending.bytes >= REPORT_BYTES {
            counted += pending.rows;
            report(shared, &mut pending, &table.name);
        }
    }
    if !batch.is_empty() {
        let rest = batch.freeze();
        sink.feed(rest).await.map_err(|e| to.failed(&context, e))?;
    }
    let rows = sink.finish().await.map_err(|e| to.failed(&context, e))?;
    pending.rows = rows.wrapping_sub(counted);
    report(shared, &mut pending, &table.name);
    if whole {
        to.exec(&lane.staging, "COMMIT", &context).await?;
    }
    Ok(())
}

/// Bytes and rows copied by a lane and not yet reported.
#[derive(Default)]
struct Pending {
    bytes: u64,
    rows: u64,
}

fn report(shared: &Shared<'_>, pending: &mut Pending, table: &str) {
    let done = shared.bytes.fetch_add(pending.bytes, Ordering::Relaxed) + pending.bytes;
    let table_rows = shared.rows.lock().ok().map(|mut all| {
        let rows = all.entry(table.to_owned()).or_default();
        *rows = rows.wrapping_add(pending.rows);
        *rows
    });
    *pending = Pending::default();
    shared
        .progress
        .copied(done, shared.total.max(done), Some(table));
    if let Some(rows) = table_rows {
        shared.progress.table_rows(table, rows);
    }
}

/// Sequences are not transactional: their values are read as they are now, which is
/// at or after the snapshot, so no copied row can ever collide with a new number.
async fn copy_sequences(
    (source, from): (&Client, &End),
    (staging, to): (&Client, &End),
    sequences: &[String],
) -> Result<()> {
    for sequence in sequences {
        let context = format!("copy sequence {sequence}");
        let row = source
            .query_one(
                &format!("SELECT last_value, is_called FROM {sequence}"),
                &[],
            )
            .await
            .map_err(|e| from.failed(&context, e))?;
        let (value, called): (i64, bool) = (row.get(0), row.get(1));
        let sql = format!(
            "SELECT pg_catalog.setval({}, {value}, {called})",
            quote_literal(sequence)
        );
        to.exec(staging, &sql, &context).await?;
    }
    Ok(())
}

/// Large objects keep their oids (tables refer to them by oid) and travel in pieces,
/// so memory does not grow with their size.
async fn copy_large_objects(
    (source, from): (&Client, &End),
    (staging, to): (&Client, &End),
    oids: &[u32],
) -> Result<()> {
    for &oid in oids {
        let context = format!("copy large object {oid}");
        staging
            .execute("SELECT lo_create($1)", &[&oid])
            .await
            .map_err(|e| to.failed(&context, e))?;
        let mut offset: i64 = 0;
        loop {
            let row = source
                .query_one("SELECT lo_get($1, $2, $3)", &[&oid, &offset, &LO_PIECE])
                .await
                .map_err(|e| from.failed(&context, e))?;
            let piece: Vec<u8> = row.get(0);
            if piece.is_empty() {
                break;
            }
            staging
                .execute("SELECT lo_put($1, $2, $3)", &[&oid, &offset, &piece])
                .await
                .map_err(|e| to.failed(&context, e))?;
            offset += piece.len() as i64;
        }
    }
    Ok(())
}

/// In creation order, so a view built on another is refreshed after it.
async fn refresh_materialized_views(staging: &Client, to: &End, views: &[String]) -> Result<()> {
    for view in views {
        let sql = format!("REFRESH MATERIALIZED VIEW {view}");
        to.exec(staging, &sql, &format!("refresh {view}")).await?;
    }
    Ok(())
}

/// Row count and an order-independent checksum of every row's text.
pub(crate) fn checksum_sql(quoted_table: &str) -> String {
    format!(
        "SELECT count(*), coalesce(sum(hashtextextended(t::text, 0)::numeric), 0)::text \
         FROM ONLY {quoted_table} AS t"
    )
}

async fn checksum(client: &Client, end: &End, table: &Table) -> Result<(i64, String)> {
    let row = client
        .query_one(&checksum_sql(&table.quoted), &[])
        .await
        .map_err(|e| end.failed(format!("checksum {}", table.name), e))?;
    Ok((row.get(0), row.get(1)))
}

/// Compares every table of the snapshot with the staging copy, lanes in parallel.
async fn verify(lanes: &mut [Lane], tables: &[Table], ends: Ends<'_>) -> Result<()> {
    let queue = Mutex::new(tables.iter().collect::<VecDeque<_>>());
    futures_util::future::try_join_all(lanes.iter_mut().map(|lane| async {
        let lane = lane;
        loop {
            let next = queue.lock().ok().and_then(|mut q| q.pop_front());
            let Some(table) = next else {
                return Ok::<(), Error>(());
            };
            let (source, copy) = futures_util::try_join!(
                checksum(&lane.source, ends.from, table),
                checksum(&lane.staging, ends.to, table)
            )?;
            if source != copy {
                return Err(Error::Other(format!(
                    "verification failed for {}: the source has {} rows (checksum {}), \
                     the copy {} rows (checksum {})",
                    table.name, source.0, source.1, copy.0, copy.1
                )));
            }
        }
    }))
    .await?;
    Ok(())
}
