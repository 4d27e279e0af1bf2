//! Step 7, Cutover: the only downtime. The engine swaps the staging copy in atomically and
//! keeps the old target as the previous database until sign-off.

use super::{Ends, Outcome};
use crate::{Error, Result};
use dataalm_core::Operation;

pub(crate) fn run(ends: &Ends, op: &mut Operation) -> Result<Outcome> {
    let engine = dataalm_engine::engine_for(&ends.target.location)?;
    let (Some(staging), Some(previous)) = (&op.data.staging, &op.data.previous) else {
        return Err(Error::StepFailed {
            step: "Cutover".into(),
            message: "the journal has no staging copy; roll back and start again".into(),
        });
    };
    let downtime = engine.cutover(&ends.target.location, staging, previous)?;
    let ms = u64::try_from(downtime.as_millis()).unwrap_or(u64::MAX);
    op.data.downtime_ms = Some(ms);
    Ok(Outcome::said(format!(
        "{} is now the copy; previous kept as {} until sign-off; downtime {:.1} ms",
        ends.target.name,
        previous.redacted(),
        downtime.as_secs_f64() * 1000.0
    )))
}
