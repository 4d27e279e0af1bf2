//! The lanes: each a source connection in the snapshot and a staging connection,
//! taking chunks of tables from one queue and streaming their rows across.

use super::super::conn::{PgUrl, exec};
use super::super::indexes::EarlyIndexes;
use super::catalog::{SourceFacts, Table};
use super::mask::Masks;
use super::{End, Ends, SNAPSHOT_SESSION};
use crate::{Result, Side};
use bytes::BytesMut;
use dataalm_core::Step;
use dataalm_core::failpoint::{self, When};
use dataalm_core::progress::Progress;
use dataalm_core::sql::quote_literal;
use futures_util::{SinkExt, TryStreamExt, pin_mut};
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use tokio_postgres::Client;

/// Progress is reported at least every this many bytes per lane.
pub(super) const REPORT_BYTES: u64 = 4 << 20;

/// Rows travel to the staging server in messages of about this size.
pub(super) const BATCH_BYTES: usize = 256 << 10;

/// Settings both ends of every lane share, so that what text COPY writes on the source
/// reads back the same on the staging server (binary COPY does not depend on them):
/// - an empty `search_path`: `reg*` values are written fully qualified and read back
///   the same way, as pg_dump does, and so are the definitions of early indexes;
/// - dates in ISO, intervals in PostgreSQL style, floats exact, money without locale:
///   the source's own styles could be read wrongly under the target's.
const LANE_SESSION: &str = "SET search_path = ''; SET datestyle = 'ISO'; \
     SET intervalstyle = 'postgres'; SET extra_float_digits = 3; SET lc_monetary = 'C'";

/// A source connection in the snapshot and a staging connection.
pub(super) struct Lane {
    pub(super) source: Client,
    pub(super) staging: Client,
}

pub(super) async fn open_lanes(
    source: &PgUrl,
    staging: &PgUrl,
    snapshot: &str,
    jobs: usize,
) -> Result<Vec<Lane>> {
    let begin = format!(
        "{LANE_SESSION}; {SNAPSHOT_SESSION}; SET TRANSACTION SNAPSHOT {}",
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
        let setup = format!(
            "{LANE_SESSION}; SET synchronous_commit = off; SET maintenance_work_mem = '256MB'"
        );
        exec(&staging_client, &setup, "set up loading")
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
pub(super) struct Chunk<'a> {
    pub(super) table: &'a Table,
    pub(super) pages: Option<(u64, Option<u64>)>,
}

/// Tables bigger than `split_bytes` are cut into ranges of about that size.
pub(super) fn chunks(tables: &[Table], split_bytes: u64) -> VecDeque<Chunk<'_>> {
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
pub(super) struct Copied {
    pub(super) bytes: u64,
    pub(super) rows: HashMap<String, u64>,
}

/// Shared by the lanes while they copy.
pub(super) struct Shared<'a> {
    pub(super) queue: Mutex<VecDeque<Chunk<'a>>>,
    /// Chunks not yet copied, per table: the lane that copies the last one finishes
    /// the table (indexes, statistics).
    pub(super) remaining: Mutex<HashMap<&'a str, usize>>,
    pub(super) early_indexes: &'a EarlyIndexes,
    pub(super) bytes: AtomicU64,
    pub(super) total: u64,
    pub(super) rows: Mutex<HashMap<String, u64>>,
    pub(super) first_done: AtomicBool,
    pub(super) progress: &'a dyn Progress,
    pub(super) ends: Ends<'a>,
    /// Tables whose rows are masked on the way.
    pub(super) masks: Option<&'a Masks>,
}

pub(super) async fn copy_data(
    lanes: &mut [Lane],
    facts: &SourceFacts,
    split_bytes: u64,
    masks: Option<&Masks>,
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
        masks,
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

pub(super) async fn lane_work(lane: &mut Lane, shared: &Shared<'_>) -> Result<()> {
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
pub(super) async fn finish_table(lane: &Lane, table: &Table, shared: &Shared<'_>) -> Result<()> {
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

pub(super) async fn copy_chunk(
    lane: &mut Lane,
    chunk: &Chunk<'_>,
    shared: &Shared<'_>,
) -> Result<()> {
    let table = chunk.table;
    let context = format!("copy {}", table.name);
    let Ends { from, to } = shared.ends;
    let columns = if table.columns.is_empty() {
        String::new()
    } else {
        format!("({})", table.columns)
    };
    // Text where binary cannot carry a column faithfully (decided from the catalog).
    let binary = table.text_because.is_none();
    let out_options = if binary { " (FORMAT binary)" } else { "" };
    let select = match chunk.pages {
        None => format!("COPY {} {columns} TO STDOUT{out_options}", table.quoted),
        Some((from, to)) => {
            let upper = to.map_or(String::new(), |to| format!(" AND ctid < '({to},0)'::tid"));
            let list = if table.columns.is_empty() {
                "*"
            } else {
                &table.columns
            };
            format!(
                "COPY (SELECT {list} FROM ONLY {} WHERE ctid >= '({from},0)'::tid{upper}) \
                 TO STDOUT{out_options}",
                table.quoted
            )
        }
    };
    // A whole table is loaded in the transaction that empties it, so its rows can be
    // written already frozen: no later pass rewrites every page to set hint bits.
    let whole = chunk.pages.is_none();
    let in_options = match (binary, whole) {
        (true, true) => " (FORMAT binary, FREEZE)",
        (true, false) => " (FORMAT binary)",
        (false, true) => " (FREEZE)",
        (false, false) => "",
    };
    let insert = format!("COPY {} {columns} FROM STDIN{in_options}", table.quoted);
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
    // Rows of a table with masked columns are decoded, masked and encoded again here,
    // in the client: the raw values never reach the staging server.
    let mut codec = shared.masks.and_then(|m| m.codec(&table.quoted));
    while let Some(data) = stream
        .try_next()
        .await
        .map_err(|e| from.failed(&context, e))?
    {
        pending.bytes += data.len() as u64;
        pending.rows += 1;
        match &mut codec {
            Some(codec) => codec.feed(&data, &mut batch)?,
            None => batch.extend_from_slice(&data),
        }
        if batch.len() >= BATCH_BYTES {
            let full = batch.split().freeze();
            sink.feed(full).await.map_err(|e| to.failed(&context, e))?;
        }
        if pending.bytes >= REPORT_BYTES {
            counted += pending.rows;
            report(shared, &mut pending, &table.name);
        }
    }
    if let Some(codec) = &codec {
        codec.finish()?;
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
pub(super) struct Pending {
    pub(super) bytes: u64,
    pub(super) rows: u64,
}

pub(super) fn report(shared: &Shared<'_>, pending: &mut Pending, table: &str) {
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
