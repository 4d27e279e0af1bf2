//! Starting a refresh, following it live, and ending it (sign-off, rollback, resume, cancel);
//! the audit log.

use super::form::encode;
use super::{Flash, Page, PageError, Visitor, back, render};
use crate::error::ApiError;
use crate::routes::operations::{begin_and_run, context, run_in_background};
use crate::state::AppState;
use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use dataalm_core::access::Role;
use dataalm_core::{CopyOptions, EnvKind, OpState, Operation, Step, StepStatus, when};
use dataalm_ops::refresh::{self, display_state, is_interrupted, validate::human_bytes};
use dataalm_store::AuditEntry;
use serde::Deserialize;

// ---------------------------------------------------------------------------------------
// Starting a refresh
// ---------------------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
pub struct RefreshQuery {
    #[serde(default)]
    source: String,
    #[serde(default)]
    target: String,
    #[serde(default)]
    notice: String,
    #[serde(default)]
    error: String,
}

/// What the confirmation step shows before anything happens.
pub struct Preview {
    pub source: String,
    pub target: String,
    pub source_size: String,
    pub target_has_plan: bool,
    pub busy_with: String,
}

#[derive(Template)]
#[template(path = "refresh.html")]
struct RefreshPage {
    page: Page,
    sources: Vec<String>,
    /// Sandboxes only: production is never offered as a target.
    targets: Vec<String>,
    source: String,
    target: String,
    preview: Option<Preview>,
    steps: Vec<&'static str>,
}

pub async fn refresh_form(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(query): Query<RefreshQuery>,
) -> Result<Response, PageError> {
    visitor.require(Role::Operator)?;
    let flash = Flash {
        notice: query.notice.clone(),
        error: query.error.clone(),
    };
    let page = Page::new("Start a refresh", &visitor, flash);
    let (source, target) = (query.source, query.target);
    let chosen = (source.clone(), target.clone());
    let (sources, targets, preview) = state
        .blocking(move |store| {
            let envs = store.envs()?;
            let sources = envs.iter().map(|e| e.name.clone()).collect();
            let targets: Vec<String> = envs
                .iter()
                .filter(|e| e.kind != EnvKind::Production)
                .map(|e| e.name.clone())
                .collect();
            let (source, target) = chosen;
            let preview = if source.is_empty() || !targets.contains(&target) {
                None
            } else {
                let source_env = store.env(&source)?;
                let size = dataalm_engine::engine_for(&source_env.location)
                    .and_then(|engine| engine.probe(&source_env.location))
                    .map_or_else(
                        |e| format!("unreachable: {e}"),
                        |i| human_bytes(i.size_bytes),
                    );
                Some(Preview {
                    source_size: size,
                    target_has_plan: store.plan(&target)?.is_some(),
                    busy_with: store
                        .active_operation(&target)?
                        .map(|op| op.id)
                        .unwrap_or_default(),
                    source,
                    target,
                })
            };
            Ok((sources, targets, preview))
        })
        .await?;
    Ok(render(&RefreshPage {
        page,
        sources,
        targets,
        source,
        target,
        preview,
        steps: Step::ALL.iter().map(|s| step_words(*s)).collect(),
    }))
}

/// What each step does, for the confirmation page.
fn step_words(step: Step) -> &'static str {
    match step {
        Step::Validate => "Check both environments, the profile and the plan",
        Step::Announce => "Warn the target's users with a broadcast message",
        Step::CaptureTarget => "Keep the target's own settings (SMTP, batch servers, parameters)",
        Step::CopyToStaging => "Copy the source into a staging database beside the target",
        Step::Neutralize => {
            "Neutralize the copy: no mail to customers, batch jobs withheld, users disabled"
        }
        Step::RestoreTarget => "Put the target's own settings back into the copy",
        Step::Cutover => "Swap the copy in (the only moment the target is unavailable)",
        Step::Reconfigure => "Apply the target's plan: enable its users, set its jobs waiting",
        Step::AwaitSignOff => "Wait for sign-off; until then the previous target can be restored",
    }
}

pub async fn start(
    State(state): State<AppState>,
    visitor: Visitor,
    body: Bytes,
) -> Result<Response, PageError> {
    let form = visitor.form(&body, Role::Operator)?;
    let (source, target) = (form.get("source").to_owned(), form.get("target").to_owned());
    let here = format!(
        "/portal/refresh?source={}&target={}",
        encode(&source),
        encode(&target)
    );
    if form.get("confirm") != target {
        let said = format!("type `{target}` in the box to confirm the refresh");
        return Ok(back(&here, Err(said)));
    }
    match begin_and_run(
        &state,
        visitor.actor(),
        source,
        target,
        CopyOptions::default(),
    )
    .await
    {
        Ok(op) => Ok(Redirect::to(&op_path(&op.id)).into_response()),
        Err(e) => Ok(back(&here, Err(e.message))),
    }
}

fn op_path(id: &str) -> String {
    format!("/portal/op/{}", encode(id))
}

// ---------------------------------------------------------------------------------------
// One operation
// ---------------------------------------------------------------------------------------

pub struct StepRow {
    pub name: String,
    pub status: String,
    pub took: String,
    pub rows: u64,
    pub bytes: String,
    pub detail: String,
    pub error: String,
    /// How far the data copy is, when it is running.
    pub percent: Option<u64>,
}

/// An operation as its page shows it.
pub struct OpView {
    pub id: String,
    pub source: String,
    pub target: String,
    pub state: String,
    pub started: String,
    pub error: String,
    pub downtime: String,
    pub steps: Vec<StepRow>,
    /// Steps are still moving: the page keeps refreshing them.
    pub live: bool,
    pub can_sign_off: bool,
    pub can_roll_back: bool,
    pub can_resume: bool,
    /// Before its cutover: the refresh can still be called off.
    pub can_cancel: bool,
}

impl OpView {
    fn of(op: &Operation) -> OpView {
        let interrupted = is_interrupted(op);
        let running = op.state == OpState::Running && !interrupted;
        OpView {
            id: op.id.clone(),
            source: op.source.clone(),
            target: op.target.clone(),
            state: display_state(op),
            started: when::format(op.created_at),
            error: op.error.clone().unwrap_or_default(),
            downtime: op
                .data
                .downtime_ms
                .map_or_else(String::new, |ms| format!("{ms} ms")),
            steps: op
                .steps
                .iter()
                .map(|s| StepRow {
                    name: s.step.to_string(),
                    status: s.status.as_str().to_owned(),
                    took: match (s.started_at, s.ended_at) {
                        (Some(a), Some(b)) => took(b - a),
                        _ => String::new(),
                    },
                    rows: s.rows,
                    bytes: if s.bytes > 0 {
                        human_bytes(s.bytes)
                    } else {
                        String::new()
                    },
                    detail: s.detail.clone(),
                    error: s.error.clone().unwrap_or_default(),
                    percent: (s.step == Step::CopyToStaging && s.status == StepStatus::Running)
                        .then(|| copy_percent(s.bytes, op.data.source_bytes))
                        .flatten(),
                })
                .collect(),
            live: running,
            can_sign_off: op.state == OpState::AwaitingSignOff,
            can_roll_back: !running && op.state.is_active(),
            can_resume: interrupted || op.state == OpState::Failed,
            can_cancel: matches!(op.state, OpState::Running | OpState::Failed)
                && op
                    .step(Step::Cutover)
                    .is_some_and(|s| s.status == StepStatus::Pending),
        }
    }
}

fn took(d: time::Duration) -> String {
    let ms = d.whole_milliseconds();
    if ms < 1000 {
        format!("{ms} ms")
    } else {
        format!("{:.1} s", d.as_seconds_f64())
    }
}

fn copy_percent(done: u64, total: Option<u64>) -> Option<u64> {
    let total = total.filter(|t| *t > 0)?;
    Some((done.saturating_mul(100) / total).min(100))
}

#[derive(Template)]
#[template(path = "operation.html")]
struct OperationPage {
    page: Page,
    op: OpView,
}

/// The part of the operation page that the script refreshes while it runs.
#[derive(Template)]
#[template(path = "steps.html")]
struct StepsPartial {
    op: OpView,
}

async fn load(state: &AppState, id: String) -> Result<Operation, PageError> {
    Ok(state
        .blocking(move |store| Ok(store.operation(&id)?))
        .await?)
}

pub async fn show(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<String>,
    Query(flash): Query<Flash>,
) -> Result<Response, PageError> {
    let op = load(&state, id).await?;
    let page = Page::new(&format!("Refresh of {}", op.target), &visitor, flash);
    Ok(render(&OperationPage {
        page,
        op: OpView::of(&op),
    }))
}

pub async fn live(
    State(state): State<AppState>,
    _visitor: Visitor,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let op = load(&state, id).await?;
    Ok(render(&StepsPartial {
        op: OpView::of(&op),
    }))
}

/// Sign-off, rollback, resume or cancel, from the operation's buttons.
pub async fn act(
    State(state): State<AppState>,
    visitor: Visitor,
    Path((id, action)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, PageError> {
    visitor.form(&body, Role::Operator)?;
    let here = op_path(&id);
    let actor = visitor.actor();
    let outcome = match action.as_str() {
        "resume" => {
            // Checked here so the person hears why not; the claim in `resume` decides.
            let op = load(&state, id.clone()).await?;
            if is_interrupted(&op) || op.state == OpState::Failed {
                run_in_background(&state, actor, move |ctx| refresh::resume(ctx, &id));
                Ok("resuming where it stopped".to_owned())
            } else {
                Err(format!(
                    "operation {} is {}: there is nothing to resume",
                    op.id,
                    display_state(&op)
                ))
            }
        }
        "signoff" | "rollback" => state
            .blocking(move |store| {
                let ctx = context(store, &actor);
                if action == "signoff" {
                    refresh::sign_off(&ctx, &id)?;
                    Ok("signed off: the previous database was dropped".to_owned())
                } else {
                    refresh::rollback(&ctx, &id)?;
                    Ok("rolled back: the target is as it was before the refresh".to_owned())
                }
            })
            .await
            .map_err(|e: ApiError| e.message),
        "cancel" => state
            .blocking(move |store| {
                let op = refresh::cancel(&context(store, &actor), &id)?;
                Ok(if op.state == OpState::Cancelled {
                    "cancelled: the staging copy was dropped and the target is as it was".to_owned()
                } else {
                    "cancel requested: the refresh stops at its next safe point".to_owned()
                })
            })
            .await
            .map_err(|e: ApiError| e.message),
        other => Err(format!("unknown action `{other}`")),
    };
    Ok(back(&here, outcome))
}

// ---------------------------------------------------------------------------------------
// Audit log
// ---------------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    page: Page,
    entries: Vec<AuditEntry>,
}

pub async fn audit(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(flash): Query<Flash>,
) -> Result<Response, PageError> {
    visitor.require(Role::Admin)?;
    let entries = state.blocking(|store| Ok(store.audit_log(500)?)).await?;
    let page = Page::new("Audit log", &visitor, flash);
    Ok(render(&AuditPage { page, entries }))
}
