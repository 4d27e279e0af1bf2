//! Step 4, CopyToStaging: a consistent copy of the source into a staging database
//! beside the target, while both stay online. The engine does the work; the source is
//! only read.

use super::validate::human_bytes;
use super::{Ends, Outcome};
use crate::Result;
use dataalm_core::Operation;
use dataalm_core::progress::Progress;
use dataalm_store::Store;

pub(crate) fn run(
    store: &Store,
    ends: &Ends,
    op: &mut Operation,
    progress: &dyn Progress,
) -> Result<Outcome> {
    let engine = dataalm_engine::engine_for(&ends.target.location)?;
    let staging = engine.staging_location(&ends.target.location, &op.id);
    // Recorded with the step's outcome; a rollback after a crash derives the same names.
    op.data.staging = Some(staging.clone());
    op.data.previous = Some(engine.previous_location(&ends.target.location, &op.id));
    let mask = crate::masking::mask_set(store, ends)?;
    let started = std::time::Instant::now();
    let stats = engine.copy_masked(
        &ends.source.location,
        &staging,
        &op.data.copy,
        mask.as_ref(),
        progress,
    )?;
    let secs = started.elapsed().as_secs_f64().max(0.001);
    let rows: u64 = stats.tables.iter().map(|(_, n)| n).sum();
    Ok(Outcome {
        detail: format!(
            "{} in {} tables, {:.0} MB/s ({}){}",
            human_bytes(stats.bytes),
            stats.tables.len(),
            stats.bytes as f64 / 1e6 / secs,
            stats.method,
            masked_detail(&stats.masked)
        ),
        rows,
        bytes: stats.bytes,
    })
}

/// `; masked: cust_table.email 1200, ...`: which columns were masked, and how many values.
fn masked_detail(masked: &[(String, u64)]) -> String {
    if masked.is_empty() {
        return String::new();
    }
    let each: Vec<String> = masked.iter().map(|(c, n)| format!("{c} {n}")).collect();
    format!("; masked: {}", each.join(", "))
}
