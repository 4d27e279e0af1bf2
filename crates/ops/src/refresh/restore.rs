//! Step 6, RestoreTarget: write the target's environment-specific rows, captured in step
//! 3, into the staging copy, so the target keeps its own batch servers, SMTP, endpoints.

use super::{Ends, Outcome, staging_db};
use crate::Result;
use dataalm_core::Operation;

pub(crate) fn run(ends: &Ends, op: &mut Operation) -> Result<Outcome> {
    let mut staging = staging_db(ends, op)?;
    let profile = staging.profile.clone();
    let rows = dataalm_app::capture::restore(staging.db(), &profile, &op.data.captured)?;
    let tables: Vec<&str> = op.data.captured.iter().map(|t| t.table.as_str()).collect();
    let detail = if tables.is_empty() {
        "nothing to restore".to_owned()
    } else {
        format!("{rows} rows of {} written back", tables.join(", "))
    };
    Ok(Outcome {
        detail,
        rows,
        bytes: 0,
    })
}
