//! The downtime as an application sees it: a thread that opens a new connection to the
//! target every 2 ms and runs a small query, recording when each answer came and from
//! which database (old or new).
//!
//! The connection is opened without `SQLITE_OPEN_CREATE`: if the target path ever named
//! nothing, the query fails instead of quietly creating an empty database, so the
//! "target always exists" invariant is checked too.

use rusqlite::{Connection, OpenFlags};
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A table only the new database has, so that answers can be told apart.
pub const MARKER_TABLE: &str = "dataalm_bench_marker";

const INTERVAL: Duration = Duration::from_millis(2);

/// How long a query may wait for a lock, as an application's busy timeout would.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// One query of a client watching a cutover.
pub struct Sample {
    pub done: Instant,
    /// `Some(true)` answered by the new database, `Some(false)` by the old one.
    pub new: Option<bool>,
    pub error: Option<String>,
}

pub struct Probe {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Vec<Sample>>,
}

/// What the reader saw.
#[derive(Debug, Clone, Serialize)]
pub struct Seen {
    pub queries: u64,
    pub failures: u64,
    pub first_failure: Option<String>,
    pub answers_from_old: u64,
    pub answers_from_new: u64,
    /// Longest time between two successful answers.
    pub longest_gap_ms: f64,
    /// The usual time between two answers, for comparison.
    pub median_gap_ms: f64,
}

impl Seen {
    /// Sums up a client's queries, in the order it made them.
    pub fn of(samples: &[Sample]) -> Seen {
        let ok: Vec<&Sample> = samples.iter().filter(|s| s.error.is_none()).collect();
        let mut gaps: Vec<f64> = ok
            .windows(2)
            .map(|w| (w[1].done - w[0].done).as_secs_f64() * 1000.0)
            .collect();
        gaps.sort_by(f64::total_cmp);
        Seen {
            queries: samples.len() as u64,
            failures: (samples.len() - ok.len()) as u64,
            first_failure: samples.iter().find_map(|s| s.error.clone()),
            answers_from_old: ok.iter().filter(|s| s.new == Some(false)).count() as u64,
            answers_from_new: ok.iter().filter(|s| s.new == Some(true)).count() as u64,
            longest_gap_ms: gaps.last().copied().unwrap_or(0.0),
            median_gap_ms: gaps.get(gaps.len() / 2).copied().unwrap_or(0.0),
        }
    }
}

/// Starts polling `target` with `SELECT count(*) FROM table`.
pub fn start(target: PathBuf, table: String) -> Probe {
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = Arc::clone(&stop);
    let handle = std::thread::spawn(move || {
        let sql = format!(
            "SELECT (SELECT count(*) FROM \"{}\"), \
             (SELECT count(*) FROM sqlite_master WHERE name = '{MARKER_TABLE}')",
            table.replace('"', "\"\"")
        );
        let mut samples = Vec::new();
        while !stopped.load(Ordering::Relaxed) {
            let answer = query(&target, &sql);
            samples.push(Sample {
                done: Instant::now(),
                new: answer.as_ref().ok().copied(),
                error: answer.err(),
            });
            std::thread::sleep(INTERVAL);
        }
        samples
    });
    Probe { stop, handle }
}

fn query(target: &PathBuf, sql: &str) -> Result<bool, String> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(target, flags).map_err(|e| e.to_string())?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| e.to_string())?;
    let (_, marker): (i64, i64) = conn
        .query_row(sql, [], |r| Ok((r.get(0)?, r.get(1)?)))
        .map_err(|e| e.to_string())?;
    Ok(marker > 0)
}

impl Probe {
    /// Stops the reader and sums up what it saw.
    pub fn finish(self) -> Seen {
        self.stop.store(true, Ordering::Relaxed);
        Seen::of(&self.handle.join().unwrap_or_default())
    }
}
