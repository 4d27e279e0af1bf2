//! Refreshes and their operations. A refresh is validated and recorded while the client
//! waits (bad input gets its error at once), then runs in a background task; the answer
//! is 202 with the operation's URL to poll. The journal is the truth about it.

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use dataalm_core::access::Role;
use dataalm_core::progress::Silent;
use dataalm_core::{CopyOptions, OpState, Operation};
use dataalm_ops::Actor;
use dataalm_ops::refresh::{self, Context, operation_json};
use dataalm_store::Store;
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The environment to copy.
    pub source: String,
    pub jobs: Option<usize>,
    #[serde(default)]
    pub verify: bool,
    #[serde(default)]
    pub no_owner: bool,
}

/// `POST /api/environments/{env}/refresh` → 202 and the operation's URL.
#[utoipa::path(
    post,
    path = "/api/environments/{env}/refresh",
    tag = "operations",
    params(("env" = String, Path, description = "Environment name")),
    request_body(content_type = "application/json", description = "source, jobs, verify, no_owner"),
    responses(
        (status = 202, description = "Started; Location is the operation"),
        (status = 400, description = "Refused (production target, bad input)"),
        (status = 409, description = "The target is busy"),
    ),
)]
pub async fn start(
    State(state): State<AppState>,
    caller: Caller,
    Path(target): Path<String>,
    Json(request): Json<RefreshRequest>,
) -> ApiResult<Response> {
    caller.require_refresh(&request.source, &target)?;
    dataalm_core::op::check_jobs(request.jobs).map_err(ApiError::bad_request)?;
    let copy = CopyOptions {
        jobs: request.jobs,
        verify: request.verify,
        owners_and_grants: !request.no_owner,
        ..CopyOptions::default()
    };
    let op = begin_and_run(&state, caller.actor(), request.source, target, copy).await?;
    Ok(accepted(&op.id))
}

/// Validates and records a refresh while the caller waits, then runs its steps in the
/// background. Returns the operation as recorded.
pub async fn begin_and_run(
    state: &AppState,
    actor: Actor,
    source: String,
    target: String,
    copy: CopyOptions,
) -> ApiResult<Operation> {
    let begin_actor = actor.clone();
    let op = state
        .blocking(move |store| {
            let ctx = context(store, &begin_actor);
            Ok(refresh::begin(&ctx, &source, &target, copy)?)
        })
        .await?;
    let recorded = op.clone();
    run_in_background(state, actor, move |ctx| refresh::run(ctx, op));
    Ok(recorded)
}

pub(crate) fn context<'a>(store: &'a Store, actor: &'a Actor) -> Context<'a> {
    Context {
        store,
        progress: &Silent,
        actor,
    }
}

/// Runs an operation's steps off the request; failures are journaled by the steps.
pub(crate) fn run_in_background(
    state: &AppState,
    actor: Actor,
    work: impl FnOnce(&Context) -> dataalm_ops::Result<Operation> + Send + 'static,
) {
    let location = state.store().clone();
    tokio::task::spawn_blocking(move || {
        let result = Store::connect(&location)
            .map_err(dataalm_ops::Error::from)
            .and_then(|store| work(&context(&store, &actor)));
        if let Err(e) = result {
            tracing::warn!("operation ended with an error: {e}");
        }
    });
}

fn accepted(id: &str) -> Response {
    let url = format!("/api/operations/{id}");
    let body = json!({"operation": id, "url": url});
    (StatusCode::ACCEPTED, [(header::LOCATION, url)], Json(body)).into_response()
}

/// Loads an operation the caller may act on with `role`.
pub async fn operation(
    state: &AppState,
    caller: &Caller,
    id: String,
    role: Role,
) -> ApiResult<Operation> {
    let op = state
        .blocking(move |store| Ok(store.operation(&id)?))
        .await?;
    caller.require_env(role, &op.target)?;
    Ok(op)
}

#[utoipa::path(
    get,
    path = "/api/operations/{id}",
    tag = "operations",
    params(("id" = String, Path, description = "Operation id")),
    responses(
        (status = 200, description = "Steps, progress, ETA, downtime"),
        (status = 404, description = "Unknown"),
    ),
)]
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let op = operation(&state, &caller, id, Role::Reader).await?;
    Ok(Json(operation_json(&op)))
}

#[utoipa::path(
    get,
    path = "/api/environments/{env}/operations",
    tag = "operations",
    params(("env" = String, Path, description = "Environment name")),
    responses(
        (status = 200, description = "Operations on the environment, newest first"),
    ),
)]
pub async fn history(
    State(state): State<AppState>,
    caller: Caller,
    Path(env): Path<String>,
) -> ApiResult<Json<Value>> {
    caller.require_env(Role::Reader, &env)?;
    let ops = state
        .blocking(move |store| {
            store.env(&env)?;
            Ok(store.operations(Some(&env))?)
        })
        .await?;
    Ok(Json(Value::Array(ops.iter().map(operation_json).collect())))
}

#[utoipa::path(
    post,
    path = "/api/operations/{id}/signoff",
    tag = "operations",
    params(("id" = String, Path, description = "Operation id")),
    responses(
        (status = 200, description = "Signed off"),
        (status = 409, description = "Not awaiting sign-off"),
    ),
)]
pub async fn sign_off(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    end(state, caller, id, refresh::sign_off).await
}

#[utoipa::path(
    post,
    path = "/api/operations/{id}/rollback",
    tag = "operations",
    params(("id" = String, Path, description = "Operation id")),
    responses(
        (status = 200, description = "Rolled back"),
        (status = 409, description = "Finished or running elsewhere"),
    ),
)]
pub async fn rollback(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    end(state, caller, id, refresh::rollback).await
}

#[utoipa::path(
    post,
    path = "/api/operations/{id}/cancel",
    tag = "operations",
    params(("id" = String, Path, description = "Operation id")),
    responses(
        (status = 200, description = "Cancelled: staging dropped, the target as it was"),
        (status = 202, description = "Cancel requested; the runner stops at its next safe point"),
        (status = 409, description = "Finished, or past its cutover (roll it back instead)"),
    ),
)]
pub async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let op = operation(&state, &caller, id, Role::Operator).await?;
    let actor = caller.actor();
    let op = state
        .blocking(move |store| Ok(refresh::cancel(&context(store, &actor), &op.id)?))
        .await?;
    let status = if op.state == OpState::Cancelled {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    Ok((status, Json(operation_json(&op))).into_response())
}

/// Ends an operation the caller may act on, one way (`sign_off`) or the other.
async fn end(
    state: AppState,
    caller: Caller,
    id: String,
    how: fn(&Context, &str) -> dataalm_ops::Result<Operation>,
) -> ApiResult<Json<Value>> {
    let op = operation(&state, &caller, id, Role::Operator).await?;
    let actor = caller.actor();
    let op = state
        .blocking(move |store| Ok(how(&context(store, &actor), &op.id)?))
        .await?;
    Ok(Json(operation_json(&op)))
}

/// `POST /api/operations/{id}/resume` → 202; the steps run in the background.
#[utoipa::path(
    post,
    path = "/api/operations/{id}/resume",
    tag = "operations",
    params(("id" = String, Path, description = "Operation id")),
    responses(
        (status = 202, description = "Resuming"),
        (status = 409, description = "Finished"),
    ),
)]
pub async fn resume(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let op = operation(&state, &caller, id, Role::Operator).await?;
    if op.state.is_finished() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "wrong_state",
            format!("operation {} is already finished ({})", op.id, op.state),
        ));
    }
    let id = op.id.clone();
    run_in_background(&state, caller.actor(), move |ctx| {
        refresh::resume(ctx, &op.id)
    });
    Ok(accepted(&id))
}
