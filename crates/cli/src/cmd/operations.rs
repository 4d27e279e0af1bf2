//! `dataalm refresh | status | history | signoff | rollback | resume | cancel`.

use crate::cli::{HistoryArgs, OpArgs, RefreshArgs, StatusArgs};
use crate::output;
use crate::progress::Display;
use anyhow::{Context as _, Result, bail};
use dataalm_core::{CopyOptions, OpState, Operation, StepStatus, when};
use dataalm_ops::Actor;
use dataalm_ops::refresh::{self, Context, display_state};
use dataalm_store::Store;
use std::io::{BufRead, IsTerminal, Write};

pub fn refresh(store: &Store, args: &RefreshArgs) -> Result<()> {
    if !args.yes {
        confirm(store, &args.from, &args.to)?;
    }
    let display = Display::new(args.json);
    let actor = Actor::local();
    let ctx = Context {
        store,
        progress: &display,
        actor: &actor,
    };
    let copy = CopyOptions {
        jobs: args.jobs.map(usize::from),
        verify: args.verify,
        owners_and_grants: !args.no_owner,
        split_bytes: dataalm_finance::parse_size(&args.split_above)
            .with_context(|| format!("--split-above {}", args.split_above))?,
    };
    crate::interrupt::cancel_on_signals();
    let op = refresh::begin_with(&ctx, &args.from, &args.to, copy, args.allow_unmasked)?;
    let op = refresh::run(&ctx, op)?;
    finish(&op, args.json)
}

/// Asks to type the target's name: a refresh replaces a whole database.
fn confirm(store: &Store, from: &str, to: &str) -> Result<()> {
    // Unknown names are reported as such, before any question.
    store.env(from)?;
    store.env(to)?;
    if !std::io::stdin().is_terminal() {
        bail!("refusing to replace `{to}` without confirmation: run on a terminal or pass --yes");
    }
    eprint!("This replaces the database of `{to}` with a copy of `{from}`. Type `{to}` to go on: ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if answer.trim() != to {
        bail!("not confirmed: nothing was changed");
    }
    Ok(())
}

fn finish(op: &Operation, json: bool) -> Result<()> {
    if json {
        return print_operation_json(op);
    }
    print_operation(op);
    Ok(())
}

pub fn status(store: &Store, args: &StatusArgs) -> Result<()> {
    match &args.op {
        Some(id) => finish(&store.operation(id)?, args.json),
        None if args.json => {
            let ops: Vec<serde_json::Value> =
                store.operations(None)?.iter().map(operation_json).collect();
            output::json(&ops)
        }
        None => match store.operations(None)?.first() {
            Some(op) => {
                print_operation(op);
                Ok(())
            }
            None => {
                outln!("no operations yet (start one with `dataalm refresh --from SRC --to TGT`)");
                Ok(())
            }
        },
    }
}

pub fn history(store: &Store, args: &HistoryArgs) -> Result<()> {
    if let Some(env) = &args.env {
        store.env(env)?;
    }
    let ops = store.operations(args.env.as_deref())?;
    if args.json {
        return output::json(&ops.iter().map(operation_json).collect::<Vec<_>>());
    }
    let rows: Vec<Vec<String>> = ops
        .iter()
        .map(|op| {
            vec![
                op.id.clone(),
                when::format(op.created_at),
                format!("{} -> {}", op.source, op.target),
                display_state(op),
                op.data
                    .downtime_ms
                    .map(output::duration_ms)
                    .unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    output::table(
        &["operation", "started", "refresh", "state", "downtime"],
        &rows,
    );
    Ok(())
}

/// dataalm's id of the operation named by its id or its GUID (`OperationActivityId`).
fn op_id(store: &Store, id_or_guid: &str) -> Result<String> {
    Ok(store.operation(id_or_guid)?.id)
}

fn with_context<T>(store: &Store, json: bool, f: impl FnOnce(&Context) -> T) -> T {
    let display = Display::new(json);
    let actor = Actor::local();
    f(&Context {
        store,
        progress: &display,
        actor: &actor,
    })
}

pub fn sign_off(store: &Store, args: &OpArgs) -> Result<()> {
    let id = op_id(store, &args.op)?;
    let op = with_context(store, args.json, |ctx| refresh::sign_off(ctx, &id))?;
    if !args.json {
        outln!(
            "signed off {}: `{}` keeps the copy; the previous database is dropped",
            op.id,
            op.target
        );
    }
    finish_quiet(&op, args.json)
}

pub fn rollback(store: &Store, args: &OpArgs) -> Result<()> {
    let id = op_id(store, &args.op)?;
    let op = with_context(store, args.json, |ctx| refresh::rollback(ctx, &id))?;
    if !args.json {
        outln!(
            "rolled back {}: `{}` is as it was before the refresh",
            op.id,
            op.target
        );
    }
    finish_quiet(&op, args.json)
}

pub fn resume(store: &Store, args: &OpArgs) -> Result<()> {
    crate::interrupt::cancel_on_signals();
    let id = op_id(store, &args.op)?;
    let op = with_context(store, args.json, |ctx| refresh::resume(ctx, &id))?;
    finish(&op, args.json)
}

/// Cancels a refresh before its cutover, and waits (a while) for its runner to stop.
pub fn cancel(store: &Store, args: &OpArgs) -> Result<()> {
    let id = op_id(store, &args.op)?;
    let op = with_context(store, args.json, |ctx| refresh::cancel(ctx, &id))?;
    if args.json {
        return print_operation_json(&op);
    }
    if op.state == OpState::Cancelled {
        outln!(
            "cancelled {}: the staging copy is dropped and `{}` is as it was",
            op.id,
            op.target
        );
    } else {
        outln!(
            "cancel of {} requested: its runner has not reached a safe point after {} s; it              stops there (`dataalm status {}` shows when)",
            op.id,
            refresh::CANCEL_WAIT.as_secs(),
            op.id
        );
    }
    Ok(())
}

fn finish_quiet(op: &Operation, json: bool) -> Result<()> {
    if json {
        print_operation_json(op)
    } else {
        Ok(())
    }
}

pub use dataalm_ops::refresh::operation_json;

fn print_operation_json(op: &Operation) -> Result<()> {
    output::json(&operation_json(op))
}

pub fn print_operation(op: &Operation) {
    outln!(
        "operation {}: refresh {} -> {}, {}",
        op.id,
        op.source,
        op.target,
        display_state(op)
    );
    outln!("activity id {}", op.activity_id);
    outln!("started {} UTC", when::format(op.created_at));
    let rows: Vec<Vec<String>> = op
        .steps
        .iter()
        .map(|s| {
            let duration = match (s.status, s.duration_ms(), s.started_at) {
                (_, Some(ms), _) => output::duration_ms(ms),
                (StepStatus::Running, None, Some(start)) => {
                    let ms = (when::now() - start).whole_milliseconds().max(0) as u64;
                    format!("{} so far", output::duration_ms(ms))
                }
                _ => "-".into(),
            };
            let detail = s.error.clone().unwrap_or_else(|| running_detail(op, s));
            vec![
                s.step.to_string(),
                s.status.as_str().to_owned(),
                duration,
                s.rows.to_string(),
                s.bytes.to_string(),
                detail,
            ]
        })
        .collect();
    output::table(
        &["step", "status", "duration", "rows", "bytes", "detail"],
        &rows,
    );
    if let Some(ms) = op.data.downtime_ms {
        outln!("downtime: {} (cutover only)", output::duration_ms(ms));
    }
    if let Some(error) = &op.error
        && op.state == OpState::Cancelled
    {
        outln!("{error}: the staging copy is dropped and the target is as it was");
    } else if let Some(error) = &op.error {
        outln!("error: {error}");
        outln!(
            "next: `dataalm resume {0}` to continue, or `dataalm rollback {0}` to restore the target",
            op.id
        );
    }
}

/// For the copy while it runs: rate and ETA from the bytes journaled so far.
fn running_detail(op: &Operation, step: &dataalm_core::StepRecord) -> String {
    let (StepStatus::Running, Some(start), Some(total)) =
        (step.status, step.started_at, op.data.source_bytes)
    else {
        return step.detail.clone();
    };
    let secs = (when::now() - start).as_seconds_f64().max(0.001);
    let rate = step.bytes as f64 / secs;
    let eta = if rate > 0.0 {
        format!("{:.0} s", (total.saturating_sub(step.bytes)) as f64 / rate)
    } else {
        "unknown".into()
    };
    format!(
        "{} {:.0}% of {} bytes, {:.1} MB/s, eta {eta}",
        step.detail,
        100.0 * step.bytes as f64 / total.max(1) as f64,
        total,
        rate / 1e6
    )
}
