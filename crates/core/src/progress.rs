//! How long work reports progress. The CLI draws bars, the store records figures for
//! `status` in another terminal; engines and steps only call this trait.

use crate::op::Step;

pub trait Progress: Send + Sync {
    /// A step started.
    fn step_started(&self, _step: Step) {}
    /// A step ended; `detail` says in words what it did.
    fn step_done(&self, _step: Step, _detail: &str) {}
    /// Bytes copied so far out of `total` (0 when unknown), and the table being copied
    /// when the engine knows it.
    fn copied(&self, _bytes: u64, _total: u64, _table: Option<&str>) {}
    /// Rows done so far in a table (copy, neutralize, restore...).
    fn table_rows(&self, _table: &str, _rows: u64) {}
    /// Whether someone cancelled the work: it stops at its next safe point. Engines ask
    /// between the chunks of a copy, so a cancel does not wait for the whole copy.
    fn cancelled(&self) -> bool {
        false
    }
}

/// Progress that goes nowhere.
pub struct Silent;

impl Progress for Silent {}
