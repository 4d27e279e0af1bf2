//! Step 9, AwaitSignOff, and the two ways an operation ends: sign-off (drop the previous
//! target) or rollback (swap the previous target back, remove the announcement).

use super::lease::Held;
use super::{Context, Outcome, audit};
use crate::{EnvDb, Error, Result};
use dataalm_core::{Environment, OpState, Operation, RollbackRecord, when};

pub(crate) fn await_sign_off(op: &mut Operation) -> Result<Outcome> {
    op.state = OpState::AwaitingSignOff;
    Ok(Outcome::said(format!(
        "open for use; `dataalm signoff {0}` keeps it, `dataalm rollback {0}` restores the previous one",
        op.id
    )))
}

/// Accepts the refreshed target: the previous database is dropped and the target freed.
pub fn sign_off(ctx: &Context, op_id: &str) -> Result<Operation> {
    let _held = Held::claim(ctx.store, op_id)?;
    let mut op = ctx.store.operation(op_id)?;
    if op.state != OpState::AwaitingSignOff {
        return Err(Error::NotAwaitingSignOff {
            op: op.id,
            state: op.state.to_string(),
        });
    }
    let target = ctx.store.env(&op.target)?;
    let engine = dataalm_engine::engine_for(&target.location)?;
    if let Some(previous) = &op.data.previous {
        engine.drop_database(previous)?;
    }
    op.state = OpState::SignedOff;
    op.updated_at = when::now();
    ctx.store.save_operation(&op)?;
    audit(ctx, "signed off", &op, "previous database dropped");
    Ok(op)
}

/// Gives back the target as it was before the refresh, whatever step the operation
/// reached: the previous database swapped back if the cutover happened, the staging copy
/// dropped, the announcement removed.
pub fn rollback(ctx: &Context, op_id: &str) -> Result<Operation> {
    let _held = Held::claim(ctx.store, op_id)?;
    let mut op = ctx.store.operation(op_id)?;
    if op.state.is_finished() {
        return Err(Error::Finished {
            op: op.id,
            state: op.state.to_string(),
        });
    }
    let target = ctx.store.env(&op.target)?;
    // Journaled first, so others see a rollback in progress (and, if this process dies
    // in it, one that did not finish).
    op.data.rollback = Some(RollbackRecord {
        started_at: when::now(),
        error: None,
    });
    ctx.store.save_operation_holding(&op)?;
    if let Err(error) = give_back_target(ctx.store, &target, &op) {
        if let Some(rollback) = &mut op.data.rollback {
            rollback.error = Some(error.to_string());
        }
        op.updated_at = when::now();
        // The rollback's own error matters more than a failure to journal it.
        if let Err(journal) = ctx.store.save_operation(&op) {
            tracing::warn!(%journal, "could not journal the failed rollback of {}", op.id);
        }
        audit(ctx, "rollback failed", &op, &error.to_string());
        return Err(error);
    }
    op.state = OpState::RolledBack;
    op.updated_at = when::now();
    ctx.store.save_operation(&op)?;
    audit(ctx, "rolled back", &op, "previous target restored");
    Ok(op)
}

/// Puts the target back as it was before operation `op`, whatever step it reached: the
/// previous database swapped back if the cutover happened, the staging copy dropped, the
/// announcement removed. Rollback and cancel both end this way.
pub(crate) fn give_back_target(
    store: &dataalm_store::Store,
    target: &Environment,
    op: &Operation,
) -> Result<()> {
    let engine = dataalm_engine::engine_for(&target.location)?;
    // A crash in the middle of the copy leaves them unjournaled; their names follow
    // from the target and the operation, and both calls do nothing when absent.
    let previous = (op.data.previous.clone())
        .unwrap_or_else(|| engine.previous_location(&target.location, &op.id));
    let staging = (op.data.staging.clone())
        .unwrap_or_else(|| engine.staging_location(&target.location, &op.id));
    engine.swap_back(&target.location, &previous)?;
    engine.drop_database(&staging)?;
    if let Some(id) = op.data.announcement_id.clone() {
        let mut db = EnvDb::open(store, target, false)?;
        let profile = db.profile.clone();
        dataalm_app::broadcast::remove(db.db(), &profile, &id)?;
    }
    Ok(())
}
