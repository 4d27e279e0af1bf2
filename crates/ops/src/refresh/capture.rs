//! Step 3, CaptureTarget: read the target's environment-specific rows (the profile's
//! `[[keep]]` tables) into the journal, so RestoreTarget can write them into the copy
//! even after a crash.

use super::{Ends, Outcome};
use crate::Result;
use dataalm_core::Operation;

pub(crate) fn run(ends: &Ends, op: &mut Operation) -> Result<Outcome> {
    let mut target = ends.open_target(true)?;
    let profile = target.profile.clone();
    let captured = dataalm_app::capture::capture(target.db(), &profile)?;
    let rows: usize = captured.iter().map(|t| t.rows.len()).sum();
    let tables: Vec<String> = captured
        .iter()
        .map(|t| format!("{} ({})", t.table, t.rows.len()))
        .collect();
    op.data.captured = captured;
    let detail = if tables.is_empty() {
        "profile keeps no tables".to_owned()
    } else {
        format!("kept {}", tables.join(", "))
    };
    Ok(Outcome {
        detail,
        rows: rows as u64,
        bytes: 0,
    })
}
