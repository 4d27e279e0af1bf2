//! Cancelling a refresh before its cutover.
//!
//! Anyone may ask (the CLI, the API, the portal, a Ctrl-C): the request is a mark in the
//! control plane, because whoever runs the operation may be another process. The runner
//! learns of it through its lease heartbeat, which looks for the mark every second, and
//! stops at its next safe point: between steps, or between the chunks of the copy. When
//! nobody runs the operation (it failed, or its runner died), the one who asks carries the
//! cancel out. Either way the staging copy is dropped, the announcement removed, the
//! target left as it was, and the operation ends `cancelled`, which nobody resumes.
//!
//! Once the cutover has started the target is (about to be) replaced: a cancel is refused,
//! and rollback is the way back.

use super::lease::Held;
use super::signoff::give_back_target;
use super::{Context, Ends, audit, ends_of, journal};
use crate::{Error, Result};
use dataalm_core::{OpState, Operation, Step, StepStatus, when};
use dataalm_store::Store;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How long [`cancel`] waits for a running refresh to reach its next safe point.
pub const WAIT: Duration = Duration::from_secs(30);

/// Set when this process was asked to stop (Ctrl-C, SIGTERM): every refresh it runs
/// cancels at its next safe point.
static IN_THIS_PROCESS: AtomicBool = AtomicBool::new(false);

/// Cancels every refresh this process runs, at its next safe point: for a signal
/// handler, which must not wait for the control plane.
pub fn cancel_in_this_process() {
    IN_THIS_PROCESS.store(true, Ordering::SeqCst);
}

/// Whether the runner of an operation should stop: set by the lease heartbeat when it
/// finds the control plane's mark, or by [`cancel_in_this_process`].
#[derive(Clone, Default)]
pub(crate) struct CancelFlag(Arc<AtomicBool>);

impl CancelFlag {
    pub(crate) fn set(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub(crate) fn is_set(&self) -> bool {
        self.0.load(Ordering::SeqCst) || IN_THIS_PROCESS.load(Ordering::SeqCst)
    }
}

/// Cancels refresh `op_id`: carried out at once if nobody runs it, else asked of its
/// runner, waiting up to [`WAIT`] for it to stop. Returns the operation as it then is:
/// `cancelled`, or still `running` if its runner has not reached a safe point yet (it
/// will). Refused, with nothing changed, once the cutover has started.
pub fn cancel(ctx: &Context, op_id: &str) -> Result<Operation> {
    let op = ctx.store.operation(op_id)?;
    check_cancellable(&op)?;
    ctx.store.request_cancel(op_id, &ctx.actor.0)?;
    audit(
        ctx,
        "refresh cancel requested",
        &op,
        &format!("operation {op_id}"),
    );
    match Held::claim(ctx.store, op_id) {
        Ok(held) => cancel_unrun(ctx, op_id, &held),
        Err(Error::StillRunning { .. }) => wait_for_runner(ctx.store, op_id),
        Err(error) => Err(error),
    }
}

/// Refuses to cancel an operation that is over, or whose cutover has started.
fn check_cancellable(op: &Operation) -> Result<()> {
    if op.state.is_finished() {
        return Err(Error::Finished {
            op: op.id.clone(),
            state: op.state.to_string(),
        });
    }
    let cutover_started = op
        .step(Step::Cutover)
        .is_some_and(|s| s.status != StepStatus::Pending);
    if op.state == OpState::AwaitingSignOff || cutover_started {
        return Err(Error::AfterCutover {
            op: op.id.clone(),
            state: op.state.to_string(),
        });
    }
    Ok(())
}

/// Carries out the cancel of an operation nobody runs, now that this process holds it.
fn cancel_unrun(ctx: &Context, op_id: &str, held: &Held) -> Result<Operation> {
    // Read again under the lease: its runner may have got past the cutover meanwhile.
    let mut op = ctx.store.operation(op_id)?;
    if let Err(error) = check_cancellable(&op) {
        ctx.store.clear_cancel(op_id)?;
        return Err(error);
    }
    let ends = ends_of(ctx, &op)?;
    held.check()?;
    stop(ctx, &ends, &mut op, None)?;
    Ok(op)
}

/// Polls until the runner has stopped (the operation left `running`) or [`WAIT`] passed.
fn wait_for_runner(store: &Store, op_id: &str) -> Result<Operation> {
    let started = Instant::now();
    loop {
        let op = store.operation(op_id)?;
        if op.state != OpState::Running || started.elapsed() >= WAIT {
            return Ok(op);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Whether the runner of `op`, about to run `step` (or stopped in it), must cancel: asked
/// to, and the cutover not started.
pub(crate) fn asked(flag: &CancelFlag, op: &Operation, step: Step) -> bool {
    step < Step::Cutover && flag.is_set() && check_cancellable(op).is_ok()
}

/// Whether someone asked the control plane to cancel `op`, for a process about to
/// resume it.
pub(crate) fn requested(store: &Store, op: &Operation) -> Result<bool> {
    Ok(check_cancellable(op).is_ok() && store.cancel_requested(&op.id)?.is_some())
}

/// Carries out a cancel by the lease's holder: the target given back as it was, `step`
/// (the one it stopped in, if any) and the operation recorded as cancelled. Gives
/// [`Error::Cancelled`], for the runner to stop with; fails with what kept it from
/// cleaning up, the operation then recorded as failed so that a rollback can finish it.
pub(crate) fn stop(
    ctx: &Context,
    ends: &Ends,
    op: &mut Operation,
    step: Option<Step>,
) -> Result<Error> {
    let by = ctx
        .store
        .cancel_requested(&op.id)
        .ok()
        .flatten()
        .unwrap_or_else(|| format!("{} (interrupted)", ctx.actor.0));
    if let Err(error) = give_back_target(ctx.store, &ends.target, op) {
        let message = format!("cancelled by {by}, but could not clean up: {error}");
        let at = step.or(op.next_step()).unwrap_or(Step::Validate);
        journal::fail(ctx.store, op, at, &message)?;
        audit(ctx, "refresh cancel failed", op, &message);
        return Err(error);
    }
    let now = when::now();
    if let Some(record) = step.and_then(|s| op.step_mut(s)) {
        record.status = StepStatus::Failed;
        record.ended_at = Some(now);
        record.error = Some(format!("cancelled by {by}"));
    }
    op.state = OpState::Cancelled;
    op.error = Some(format!("cancelled by {by}"));
    op.updated_at = now;
    ctx.store.save_operation(op)?;
    if let Err(error) = ctx.store.clear_cancel(&op.id) {
        tracing::warn!(%error, "operation {}: cannot clear the cancel request", op.id);
    }
    audit(
        ctx,
        "refresh cancelled",
        op,
        "staging dropped, target unchanged",
    );
    Ok(Error::Cancelled {
        op: op.id.clone(),
        by,
    })
}
