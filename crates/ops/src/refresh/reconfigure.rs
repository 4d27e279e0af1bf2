//! Step 8, Reconfigure: apply the target environment's plan to the new target: users
//! enabled, batch groups to servers, e-mail and system parameters, jobs back to Waiting,
//! aggregates rebuilt.

use super::{Ends, Outcome};
use crate::Result;
use dataalm_core::{Operation, Plan};
use dataalm_store::Store;

pub(crate) fn run(store: &Store, ends: &Ends, op: &mut Operation) -> Result<Outcome> {
    let Some(text) = store.plan(&ends.target.name)? else {
        return Ok(Outcome::said(
            "no plan for this environment: nothing reconfigured (see `dataalm plan set`)",
        ));
    };
    let plan = Plan::parse(&text, &format!("of environment `{}`", ends.target.name))?;
    let mut target = ends.open_target(false)?;
    let profile = target.profile.clone();
    let changes = dataalm_app::reconfigure::apply(target.db(), &profile, &plan)?;
    let mut counts: Vec<(String, usize)> = Vec::new();
    for change in &changes {
        match counts.iter_mut().find(|(area, _)| *area == change.area) {
            Some((_, n)) => *n += 1,
            None => counts.push((change.area.clone(), 1)),
        }
    }
    op.data.summary = counts
        .iter()
        .map(|(area, n)| (area.clone(), n.to_string()))
        .collect();
    let detail = if changes.is_empty() {
        "plan already satisfied: no changes".to_owned()
    } else {
        counts
            .iter()
            .map(|(area, n)| format!("{area}: {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    Ok(Outcome {
        detail,
        rows: changes.len() as u64,
        bytes: 0,
    })
}
