//! Step 2, Announce: tell the target's signed-in users when it will be down, with a
//! broadcast message valid from now to the estimated end of the refresh.

use super::{Ends, Outcome};
use crate::Result;
use dataalm_core::{Operation, when};
use time::Duration;

/// A pessimistic copy rate for the estimate: users prefer an early end to a late one.
const ESTIMATE_BYTES_PER_SEC: u64 = 100_000_000;
const ESTIMATE_MIN_SECS: u64 = 60;

pub(crate) fn run(ends: &Ends, op: &mut Operation) -> Result<Outcome> {
    if let Some(id) = &op.data.announcement_id {
        return Ok(Outcome::said(format!("message {id} already posted")));
    }
    let mut target = ends.open_target(false)?;
    if target.profile.broadcast.is_none() {
        return Ok(Outcome::said(
            "profile has no broadcast messages: nobody told",
        ));
    }
    let secs = estimate_secs(op.data.source_bytes.unwrap_or(0));
    let from = when::now();
    let until = from + Duration::seconds(i64::try_from(secs).unwrap_or(i64::MAX));
    let text = format!(
        "{} is being refreshed from {} (operation {}). Expect it to be unavailable until {} UTC.",
        op.target,
        op.source,
        op.id,
        when::format(until)
    );
    let profile = target.profile.clone();
    let id = dataalm_app::broadcast::add(target.db(), &profile, from, until, &text, "dataalm")?;
    op.data.estimated_secs = Some(secs);
    op.data.announcement_id = Some(id.clone());
    Ok(Outcome {
        detail: format!("message {id} to users, until {} UTC", when::format(until)),
        rows: 1,
        bytes: 0,
    })
}

fn estimate_secs(source_bytes: u64) -> u64 {
    ESTIMATE_MIN_SECS.max(2 * source_bytes / ESTIMATE_BYTES_PER_SEC)
}
