//! Writing steps to the journal, and progress that reaches it.
//!
//! The journal is written before and after every step. While a step runs, progress is
//! also written (at most a few times a second) so `dataalm status` in another terminal
//! sees bytes, rows and rate.

use super::Outcome;
use super::cancel::CancelFlag;
use crate::Result;
use dataalm_core::progress::Progress;
use dataalm_core::{Location, OpState, Operation, Step, StepStatus, when};
use dataalm_store::Store;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use time::OffsetDateTime;

pub(crate) fn begin(store: &Store, op: &mut Operation, step: Step) -> Result<()> {
    let now = when::now();
    if let Some(record) = op.step_mut(step) {
        record.status = StepStatus::Running;
        record.started_at = Some(now);
        record.ended_at = None;
        record.error = None;
    }
    op.updated_at = now;
    store.save_operation(op)?;
    Ok(())
}

pub(crate) fn end(store: &Store, op: &mut Operation, step: Step, outcome: Outcome) -> Result<()> {
    let started = op
        .step(step)
        .and_then(|r| r.started_at)
        .unwrap_or_else(when::now);
    record_done(op, step, started, outcome);
    store.save_operation(op)?;
    Ok(())
}

/// Marks a step done in memory (Validate is recorded before the operation is stored).
pub(crate) fn record_done(
    op: &mut Operation,
    step: Step,
    started: OffsetDateTime,
    outcome: Outcome,
) {
    let now = when::now();
    if let Some(record) = op.step_mut(step) {
        record.status = StepStatus::Done;
        record.started_at = Some(started);
        record.ended_at = Some(now);
        record.detail = outcome.detail;
        record.rows = outcome.rows;
        record.bytes = outcome.bytes;
        record.error = None;
    }
    op.updated_at = now;
}

pub(crate) fn fail(store: &Store, op: &mut Operation, step: Step, message: &str) -> Result<()> {
    let now = when::now();
    if let Some(record) = op.step_mut(step) {
        record.status = StepStatus::Failed;
        record.ended_at = Some(now);
        record.error = Some(message.to_owned());
    }
    op.state = OpState::Failed;
    op.error = Some(format!("{step}: {message}"));
    op.updated_at = now;
    store.save_operation(op)?;
    Ok(())
}

/// Passes progress on to the caller's display and, throttled, to the journal.
///
/// The engine may report from inside an async runtime (the PostgreSQL copy drives its
/// connections on one), where a blocking control-plane client must not run: its own
/// `block_on` would abort the process. So the journal writes are handed to a thread that
/// owns its connection; reporting only leaves the newest figures in a slot for it. Drop
/// (or [`Journaled::finish`]) waits for the last write, so a step's final journal entry is
/// never overwritten by progress that was still on its way.
pub(crate) struct Journaled<'a> {
    inner: &'a dyn Progress,
    /// Tells the engine's copy to stop between chunks.
    cancel: CancelFlag,
    target: WriteTarget,
    state: Mutex<JournalState>,
}

/// Whose progress is written where.
#[derive(Clone)]
struct WriteTarget {
    location: Location,
    op_id: String,
    /// The lease's holder, whose progress this is.
    runner: String,
    step: Step,
}

struct JournalState {
    last_write: Option<Instant>,
    /// When the first bytes were reported, for the rate and the ETA.
    copy_started: Option<Instant>,
    /// Started at the first write.
    writer: Option<Writer>,
}

/// The newest progress not yet written.
struct Update {
    bytes: Option<u64>,
    rows: Option<u64>,
    detail: Option<String>,
}

/// The hand-over between the reporting side and the writer thread.
#[derive(Default)]
struct Slot {
    pending: Option<Update>,
    closed: bool,
}

type Shared = Arc<(Mutex<Slot>, Condvar)>;

/// The thread that writes progress to the journal, and its slot.
struct Writer {
    shared: Shared,
    thread: JoinHandle<()>,
}

const WRITE_EVERY: Duration = Duration::from_millis(250);

impl<'a> Journaled<'a> {
    pub(crate) fn new(
        location: &Location,
        op_id: &str,
        runner: &str,
        step: Step,
        inner: &'a dyn Progress,
        cancel: CancelFlag,
    ) -> Self {
        Journaled {
            inner,
            cancel,
            target: WriteTarget {
                location: location.clone(),
                op_id: op_id.to_owned(),
                runner: runner.to_owned(),
                step,
            },
            state: Mutex::new(JournalState {
                last_write: None,
                copy_started: None,
                writer: None,
            }),
        }
    }

    /// Waits until the progress reported so far is written (or given up).
    pub(crate) fn finish(self) {
        drop(self);
    }

    fn record(&self, bytes: Option<u64>, rows: Option<u64>, detail: Option<&str>) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        self.write(&mut state, bytes, rows, detail);
    }

    fn write(
        &self,
        state: &mut JournalState,
        bytes: Option<u64>,
        rows: Option<u64>,
        detail: Option<&str>,
    ) {
        if state.last_write.is_some_and(|t| t.elapsed() < WRITE_EVERY) {
            return;
        }
        state.last_write = Some(Instant::now());
        let update = Update {
            bytes,
            rows,
            detail: detail.map(str::to_owned),
        };
        if state.writer.is_none() {
            state.writer = Writer::start(self.target.clone());
        }
        if let Some(writer) = &state.writer {
            writer.hand_over(update);
        }
    }
}

impl Drop for Journaled<'_> {
    fn drop(&mut self) {
        let writer = match self.state.get_mut() {
            Ok(state) => state.writer.take(),
            Err(poisoned) => poisoned.into_inner().writer.take(),
        };
        if let Some(writer) = writer {
            writer.close();
        }
    }
}

impl Writer {
    /// Starts the writer thread; `None` (progress is not journaled) if it cannot start.
    fn start(target: WriteTarget) -> Option<Writer> {
        let shared: Shared = Arc::default();
        let theirs = Arc::clone(&shared);
        std::thread::Builder::new()
            .name(format!("progress {}", target.op_id))
            .spawn(move || target.run(&theirs))
            .map_err(|error| tracing::warn!(%error, "progress will not reach the journal"))
            .ok()
            .map(|thread| Writer { shared, thread })
    }

    /// Leaves `update` for the thread, replacing one it has not written yet.
    fn hand_over(&self, update: Update) {
        let (slot, wake) = &*self.shared;
        if let Ok(mut slot) = slot.lock() {
            slot.pending = Some(update);
            wake.notify_one();
        }
    }

    /// Lets the thread write what is pending, then waits for it to end.
    fn close(self) {
        let (slot, wake) = &*self.shared;
        if let Ok(mut slot) = slot.lock() {
            slot.closed = true;
            wake.notify_one();
        }
        if self.thread.join().is_err() {
            tracing::warn!("the progress writer stopped with a panic");
        }
    }
}

impl WriteTarget {
    /// Writes each update handed over until the slot is closed and empty.
    fn run(&self, shared: &Shared) {
        let mut store: Option<Store> = None;
        while let Some(update) = next_update(shared) {
            if store.is_none() {
                store = Store::connect(&self.location).ok();
            }
            let Some(conn) = &store else {
                continue;
            };
            // Progress is best effort: a failed write must not stop the copy. The
            // connection is made again next time, in case it was the connection.
            let written = conn.record_progress(
                &self.op_id,
                &self.runner,
                self.step,
                update.bytes,
                update.rows,
                update.detail.as_deref(),
            );
            if written.is_err() {
                store = None;
            }
        }
    }
}

/// Waits for an update to write; `None` once the slot is closed and nothing is left.
fn next_update(shared: &Shared) -> Option<Update> {
    let (slot, wake) = &**shared;
    let mut slot = slot.lock().ok()?;
    loop {
        if let Some(update) = slot.pending.take() {
            return Some(update);
        }
        if slot.closed {
            return None;
        }
        slot = wake.wait(slot).ok()?;
    }
}

impl Progress for Journaled<'_> {
    fn step_started(&self, step: Step) {
        self.inner.step_started(step);
    }
    fn step_done(&self, step: Step, detail: &str) {
        self.inner.step_done(step, detail);
    }
    fn copied(&self, bytes: u64, total: u64, table: Option<&str>) {
        self.inner.copied(bytes, total, table);
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        let started = *state.copy_started.get_or_insert_with(Instant::now);
        let detail = copy_detail(bytes, total, started.elapsed(), table);
        self.write(&mut state, Some(bytes), None, Some(&detail));
    }
    fn table_rows(&self, table: &str, rows: u64) {
        self.inner.table_rows(table, rows);
        self.record(None, Some(rows), Some(&format!("at {table}")));
    }
    fn cancelled(&self) -> bool {
        self.cancel.is_set()
    }
}

/// `at public.ledger; 85.2 MB/s; ETA 14 s` for `status` in another terminal.
fn copy_detail(bytes: u64, total: u64, elapsed: Duration, table: Option<&str>) -> String {
    let secs = elapsed.as_secs_f64();
    let mut parts = Vec::new();
    if let Some(table) = table {
        parts.push(format!("at {table}"));
    }
    if secs >= 0.5 && bytes > 0 {
        let rate = bytes as f64 / secs;
        parts.push(format!("{:.1} MB/s", rate / 1e6));
        if total > bytes {
            parts.push(format!("ETA {:.0} s", (total - bytes) as f64 / rate));
        }
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_detail_gives_rate_and_eta() {
        let detail = copy_detail(50_000_000, 150_000_000, Duration::from_secs(1), Some("t"));
        assert_eq!(detail, "at t; 50.0 MB/s; ETA 2 s");
        assert_eq!(copy_detail(10, 100, Duration::ZERO, None), "");
    }
}
