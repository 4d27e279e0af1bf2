//! The refresh driver: runs the steps of a refresh in order, journaling each one.
//!
//! ```text
//! Validate -> Announce -> CaptureTarget -> CopyToStaging -> Neutralize -> RestoreTarget
//!          -> Cutover -> Reconfigure -> AwaitSignOff -> sign_off | rollback
//! ```
//!
//! Each step has its own module. Before a step runs, the journal records it as running;
//! after, as done with what it did. A crash anywhere leaves the journal pointing at the
//! step to run again, and every step is safe to run again: [`resume`] simply continues
//! the loop. Until Cutover the target is untouched (but for the announcement, which
//! rollback removes); Cutover swaps it atomically; after it, the previous target is kept
//! until sign-off so [`rollback`] can swap it back.

mod announce;
mod cancel;
mod capture;
mod copy;
mod cutover;
mod journal;
mod lease;
mod neutralize;
mod reconfigure;
mod restore;
mod signoff;
pub mod validate;

use crate::{Actor, Error, Result};
use dataalm_core::failpoint::{self, When};
use dataalm_core::progress::Progress;
use dataalm_core::{CopyOptions, Environment, OpState, Operation, Profile, Step, Takeovers, when};
use dataalm_store::Store;
use std::panic::{self, AssertUnwindSafe};

pub use cancel::{WAIT as CANCEL_WAIT, cancel, cancel_in_this_process};
pub use signoff::{rollback, sign_off};

/// What a refresh needs from its caller.
pub struct Context<'a> {
    pub store: &'a Store,
    pub progress: &'a dyn Progress,
    pub actor: &'a Actor,
}

/// The two environments of a refresh, and the target's profile as registered.
pub(crate) struct Ends {
    pub source: Environment,
    pub target: Environment,
    pub profile: Profile,
}

impl Ends {
    /// The target's database, with the target's profile.
    pub fn open_target(&self, read_only: bool) -> Result<crate::EnvDb> {
        crate::EnvDb::with_profile(&self.target, self.profile.clone(), read_only)
    }
}

/// What a step did, for the journal.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    pub detail: String,
    pub rows: u64,
    pub bytes: u64,
}

impl Outcome {
    fn said(detail: impl Into<String>) -> Outcome {
        Outcome {
            detail: detail.into(),
            ..Outcome::default()
        }
    }
}

/// Starts a refresh of `target` from `source` and runs it up to AwaitSignOff.
///
/// Everything Validate checks is checked before the operation is recorded: bad input
/// is refused with nothing changed, not even the journal.
pub fn start(ctx: &Context, source: &str, target: &str, copy: CopyOptions) -> Result<Operation> {
    let op = begin(ctx, source, target, copy)?;
    run(ctx, op)
}

/// Validates and records a refresh without running its steps, for callers that run
/// them elsewhere (the service answers with the operation while it runs). Run it with
/// [`run`].
pub fn begin(ctx: &Context, source: &str, target: &str, copy: CopyOptions) -> Result<Operation> {
    begin_with(ctx, source, target, copy, false)
}

/// As [`begin`]; `allow_unmasked` lets columns that look personal and have no mask rule
/// through this once (`--allow-unmasked`), audited with the columns it let through.
pub fn begin_with(
    ctx: &Context,
    source: &str,
    target: &str,
    copy: CopyOptions,
    allow_unmasked: bool,
) -> Result<Operation> {
    let started = when::now();
    crate::throttle::check(ctx.store, &ctx.store.env(target)?, started)?;
    let checked = validate::preflight_masked(ctx.store, source, target, &copy, allow_unmasked)?;
    let mut op = Operation::new_refresh(source, target, started);
    op.data.copy = copy;
    op.data.allow_unmasked = allow_unmasked;
    op.data.source_bytes = Some(checked.source_bytes);
    journal::record_done(&mut op, Step::Validate, started, checked.outcome);
    ctx.store.create_operation(&mut op)?;
    audit(ctx, "refresh started", &op, &format!("operation {}", op.id));
    if !checked.allowed_unmasked.is_empty() {
        let columns = checked.allowed_unmasked.join(", ");
        audit(ctx, "unmasked columns allowed", &op, &columns);
    }
    Ok(op)
}

/// After this many takeovers in a row with no step finished, a server no longer takes an
/// operation over by itself: each runner died or lost its lease on it, and the next one
/// would too. A person looks, then resumes it explicitly (or rolls it back).
pub const TAKEOVER_LIMIT: u32 = 3;

/// Continues an interrupted or failed refresh from the step where it stopped, because a
/// person (or their script) asked: whatever brought earlier runners down, they decided.
pub fn resume(ctx: &Context, op_id: &str) -> Result<Operation> {
    resume_as(ctx, op_id, Resumer::Asked)
}

/// Continues an interrupted refresh that nobody runs any more, as a server does when it
/// finds one: refused, and the operation recorded as failed, once it has been taken over
/// [`TAKEOVER_LIMIT`] times in a row without getting further.
pub fn take_over(ctx: &Context, op_id: &str) -> Result<Operation> {
    resume_as(ctx, op_id, Resumer::Server)
}

/// Who resumes an operation.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Resumer {
    Asked,
    Server,
}

fn resume_as(ctx: &Context, op_id: &str, resumer: Resumer) -> Result<Operation> {
    let op = ctx.store.operation(op_id)?;
    if !needs_resuming(&op)? {
        return Ok(op);
    }
    let held = lease::Held::claim(ctx.store, op_id)?;
    // Read again: another process may have finished it before this one got the claim.
    let mut op = ctx.store.operation(op_id)?;
    if !needs_resuming(&op)? {
        return Ok(op);
    }
    if cancel::requested(ctx.store, &op)? {
        // Whoever asked for the cancel could not carry it out (the runner died after
        // the request): it is carried out now, never resumed.
        let ends = ends_of(ctx, &op)?;
        return Err(cancel::stop(ctx, &ends, &mut op, None)?);
    }
    match resumer {
        Resumer::Asked => op.takeovers = Takeovers::default(),
        Resumer::Server if op.takeovers.count >= TAKEOVER_LIMIT => {
            return Err(give_up(ctx, &mut op)?);
        }
        Resumer::Server => {}
    }
    if !op.cut_over() {
        // The world may have changed while the operation was stopped. If it will not do
        // now, the operation is recorded as failed (with the reason), so that nobody
        // takes it over again and again until a person decides.
        if let Err(error) = validate::run(ctx.store, &op) {
            let step = op.next_step().unwrap_or(Step::Validate);
            journal::fail(ctx.store, &mut op, step, &format!("cannot resume: {error}"))?;
            audit(ctx, "refresh resume refused", &op, &error.to_string());
            return Err(error);
        }
    }
    op.state = OpState::Running;
    op.error = None;
    op.data.rollback = None;
    ctx.store.save_operation(&op)?;
    audit(ctx, "refresh resumed", &op, "resuming");
    run_held(ctx, op, held)
}

/// Records an operation that keeps bringing its runners down as failed, with why; the
/// error to answer with.
fn give_up(ctx: &Context, op: &mut Operation) -> Result<Error> {
    let step = op.next_step().unwrap_or(Step::Validate);
    let error = Error::TakeoverLimit {
        op: op.id.clone(),
        step: step.to_string(),
        count: op.takeovers.count,
    };
    let message = error.to_string();
    journal::fail(ctx.store, op, step, &message)?;
    audit(ctx, "refresh not taken over", op, &message);
    Ok(error)
}

/// Whether `resume` has steps to run: not for an operation awaiting sign-off, and a
/// finished one is an error.
fn needs_resuming(op: &Operation) -> Result<bool> {
    match op.state {
        OpState::SignedOff | OpState::RolledBack | OpState::Cancelled => Err(Error::Finished {
            op: op.id.clone(),
            state: op.state.to_string(),
        }),
        OpState::AwaitingSignOff => Ok(false),
        OpState::Running | OpState::Failed => Ok(true),
    }
}

/// Runs the remaining steps of an operation this process began (with [`begin`]).
pub fn run(ctx: &Context, op: Operation) -> Result<Operation> {
    let Some(runner) = op.lease.as_ref().map(|l| l.runner.clone()) else {
        return Err(Error::Store(dataalm_store::Error::LeaseLost {
            op: op.id,
            runner: None,
        }));
    };
    let held = lease::Held::keep(ctx.store, &op.id, &runner);
    run_held(ctx, op, held)
}

/// Runs the remaining steps while `held` keeps the operation's lease, which is given up
/// when the steps stop: at AwaitSignOff, at a failure, or with this process. Before each
/// step, the lease must still be this process's.
fn run_held(ctx: &Context, mut op: Operation, held: lease::Held) -> Result<Operation> {
    let ends = ends_of(ctx, &op)?;
    while let Some(step) = op.next_step() {
        if cancel::asked(held.cancel_flag(), &op, step) {
            return Err(cancel::stop(ctx, &ends, &mut op, None)?);
        }
        // A panic in a step is that step's failure: journaled as such, so the lease is
        // given up and the process (a server, say) goes on.
        let attempt = panic::catch_unwind(AssertUnwindSafe(|| {
            attempt(ctx, &ends, &held, &mut op, step)
        }))
        .unwrap_or_else(|payload| {
            Ok(Err(Error::Panicked {
                step: step.to_string(),
                message: panic_message(payload.as_ref()),
            }))
        });
        match attempt? {
            Ok(outcome) => {
                ctx.progress.step_done(step, &outcome.detail);
                journal::end(ctx.store, &mut op, step, outcome)?;
                failpoint::check(step, When::After);
            }
            // Cancelled mid-step (the copy stops between chunks), or failed while a
            // cancel was asked for: either way, what was asked for is a cancel.
            Err(_) if cancel::asked(held.cancel_flag(), &op, step) => {
                return Err(cancel::stop(ctx, &ends, &mut op, Some(step))?);
            }
            Err(error) => {
                let message = error.to_string();
                journal::fail(ctx.store, &mut op, step, &message)?;
                audit(ctx, "refresh failed", &op, &message);
                return Err(Error::StepFailed {
                    step: step.to_string(),
                    message,
                });
            }
        }
    }
    audit(ctx, "refresh awaiting sign-off", &op, "ok");
    Ok(op)
}

/// The two environments of `op`.
fn ends_of(ctx: &Context, op: &Operation) -> Result<Ends> {
    let target = ctx.store.env(&op.target)?;
    Ok(Ends {
        source: ctx.store.env(&op.source)?,
        profile: ctx.store.load_profile(&target.profile)?,
        target,
    })
}

/// Runs one step: the outer error when it could not start (the lease was lost, the
/// journal could not be written), the inner one when the step itself failed.
fn attempt(
    ctx: &Context,
    ends: &Ends,
    held: &lease::Held,
    op: &mut Operation,
    step: Step,
) -> Result<Result<Outcome>> {
    failpoint::check(step, When::Before);
    held.check()?;
    journal::begin(ctx.store, op, step)?;
    ctx.progress.step_started(step);
    let progress = journal::Journaled::new(
        ctx.store.location(),
        &op.id,
        held.runner(),
        step,
        ctx.progress,
        held.cancel_flag().clone(),
    );
    let outcome = run_step(step, ctx, &progress, ends, op);
    progress.finish();
    Ok(outcome)
}

/// What a panic said, as far as it can be read.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic with no message".to_owned())
}

fn run_step(
    step: Step,
    ctx: &Context,
    progress: &dyn Progress,
    ends: &Ends,
    op: &mut Operation,
) -> Result<Outcome> {
    match step {
        Step::Validate => validate::run(ctx.store, op).map(|c| c.outcome),
        Step::Announce => announce::run(ends, op),
        Step::CaptureTarget => capture::run(ends, op),
        Step::CopyToStaging => copy::run(ctx.store, ends, op, progress),
        Step::Neutralize => neutralize::run(ends, op),
        Step::RestoreTarget => restore::run(ends, op),
        Step::Cutover => cutover::run(ends, op),
        Step::Reconfigure => reconfigure::run(ctx.store, ends, op),
        Step::AwaitSignOff => signoff::await_sign_off(op),
    }
}

/// Operations recorded as running that nobody is running any more (their process
/// crashed, or stopped renewing its lease): [`resume`] (or [`rollback`]) must finish them.
pub fn interrupted(store: &Store) -> Result<Vec<Operation>> {
    Ok(store
        .running_operations()?
        .into_iter()
        .filter(is_interrupted)
        .collect())
}

/// Whether the operation was stopped half-way: recorded as running, and no live process
/// holds its lease.
pub fn is_interrupted(op: &Operation) -> bool {
    op.state == OpState::Running && !op.lease.as_ref().is_some_and(dataalm_store::lease::is_live)
}

/// The state to show: a `running` operation whose process is gone was interrupted.
pub fn display_state(op: &Operation) -> String {
    if is_interrupted(op) {
        return "interrupted (resume or roll back)".to_owned();
    }
    op.state.to_string()
}

pub(crate) fn audit(ctx: &Context, action: &str, op: &Operation, result: &str) {
    // The audit log must not turn a refresh that worked into one that failed.
    if let Err(error) = ctx
        .store
        .audit(&ctx.actor.0, action, Some(&op.target), result)
    {
        tracing::warn!(%error, "could not write the audit log");
    }
}

/// The staging copy, opened with the target's profile.
pub(crate) fn staging_db(ends: &Ends, op: &Operation) -> Result<crate::EnvDb> {
    let Some(staging) = &op.data.staging else {
        return Err(Error::StepFailed {
            step: "staging".into(),
            message: "the journal has no staging copy; roll back and start again".into(),
        });
    };
    let mut env = ends.target.clone();
    env.location = staging.clone();
    crate::EnvDb::with_profile(&env, ends.profile.clone(), false)
}

/// An operation for scripts: the journal plus the state as a person would read it.
pub fn operation_json(op: &Operation) -> serde_json::Value {
    let mut value = serde_json::to_value(op).unwrap_or_default();
    value["display_state"] = serde_json::Value::String(display_state(op));
    value["downtime_ms"] = serde_json::json!(op.data.downtime_ms);
    // Captured rows can be large and are of no use to a reader of the status.
    if let Some(data) = value.get_mut("data").and_then(|d| d.as_object_mut()) {
        data.remove("captured");
        // Locations carry the credentials of the target's URL.
        for (key, location) in [
            ("staging", &op.data.staging),
            ("previous", &op.data.previous),
        ] {
            data.insert(
                key.into(),
                serde_json::json!(location.as_ref().map(|l| l.redacted())),
            );
        }
    }
    value
}
