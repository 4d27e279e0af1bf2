//! Writing steps to the journal, and progress that reaches it.
//!
//! The journal is written before and after every step. While a step runs, progress is
//! also written (at most a few times a second) so `dataalm status` in another terminal
//! sees bytes, rows and rate.

use super::Outcome;
use crate::Result;
use dataalm_core::progress::Progress;
use dataalm_core::{Location, OpState, Operation, Step, StepStatus, when};
use dataalm_store::Store;
use std::sync::Mutex;
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
pub(crate) struct Journaled<'a> {
    inner: &'a dyn Progress,
    location: Location,
    op_id: String,
    /// The lease's holder, whose progress this is.
    runner: String,
    step: Step,
    state: Mutex<JournalState>,
}

struct JournalState {
    store: Option<Store>,
    last_write: Option<Instant>,
    /// When the first bytes were reported, for the rate and the ETA.
    copy_started: Option<Instant>,
}

const WRITE_EVERY: Duration = Duration::from_millis(250);

impl<'a> Journaled<'a> {
    pub(crate) fn new(
        location: &Location,
        op_id: &str,
        runner: &str,
        step: Step,
        inner: &'a dyn Progress,
    ) -> Self {
        Journaled {
            inner,
            location: location.clone(),
            op_id: op_id.to_owned(),
            runner: runner.to_owned(),
            step,
            state: Mutex::new(JournalState {
                store: None,
                last_write: None,
                copy_started: None,
            }),
        }
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
        if state.store.is_none() {
            state.store = Store::connect(&self.location).ok();
        }
        if let Some(store) = &state.store {
            // Progress is best effort: a failed write must not stop the copy. The
            // connection is made again next time, in case it was the connection.
            let written =
                store.record_progress(&self.op_id, &self.runner, self.step, bytes, rows, detail);
            if written.is_err() {
                state.store = None;
            }
        }
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
