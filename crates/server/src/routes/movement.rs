//! The reference ERP's database movement API, so scripts written for it can point at
//! dataalm: start a refresh, then poll its status, answered in the ERP's envelope
//! (`IsSuccess`, `OperationActivityId`, `ErrorMessage`, `VersionEOL`). Projects are
//! accepted and ignored; environments are dataalm's environment names.

use crate::auth::Caller;
use crate::error::ApiError;
use crate::routes::operations::{begin_and_run, operation};
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use dataalm_core::access::Role;
use dataalm_core::{CopyOptions, OpState, Operation};
use serde_json::{Value, json};

/// The ERP's way of saying "no end of life".
const VERSION_EOL: &str = "9999-12-31T23:59:59.9999999";

fn envelope(status: StatusCode, id: Option<&str>, error: Option<String>, extra: Value) -> Response {
    let mut body = json!({
        "IsSuccess": error.is_none(),
        "OperationActivityId": id,
        "ErrorMessage": error,
        "VersionEOL": VERSION_EOL,
    });
    if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
        body.extend(extra);
    }
    (status, Json(body)).into_response()
}

fn failed(e: ApiError) -> Response {
    envelope(e.status, None, Some(e.message), Value::Null)
}

/// `POST /databasemovement/v1/refresh/project/{project}/source/{source}/target/{target}`.
#[utoipa::path(
    post,
    path = "/databasemovement/v1/refresh/project/{project}/source/{source}/target/{target}",
    tag = "erp",
    params(
        ("project" = String, Path),
        ("source" = String, Path),
        ("target" = String, Path),
    ),
    responses(
        (status = 200, description = "IsSuccess, OperationActivityId, ErrorMessage, VersionEOL"),
    ),
)]
pub async fn refresh(
    State(state): State<AppState>,
    caller: Caller,
    Path((_project, source, target)): Path<(String, String, String)>,
) -> Response {
    if let Err(e) = caller.require_refresh(&source, &target) {
        return failed(e);
    }
    match begin_and_run(
        &state,
        caller.actor(),
        source,
        target,
        CopyOptions::default(),
    )
    .await
    {
        Ok(op) => envelope(StatusCode::OK, Some(&op.id), None, Value::Null),
        Err(e) => failed(e),
    }
}

/// `GET /databasemovement/v1/fetchstatus/project/{project}/environment/{env}/operationactivity/{id}`.
#[utoipa::path(
    get,
    path = "/databasemovement/v1/fetchstatus/project/{project}/environment/{env}/operationactivity/{id}",
    tag = "erp",
    params(
        ("project" = String, Path),
        ("env" = String, Path),
        ("id" = String, Path),
    ),
    responses((status = 200, description = "The envelope with OperationStatus")),
)]
pub async fn fetch_status(
    State(state): State<AppState>,
    caller: Caller,
    Path((_project, env, id)): Path<(String, String, String)>,
) -> Response {
    let op = match operation(&state, &caller, id, Role::Reader).await {
        Ok(op) if op.target == env => op,
        Ok(op) => {
            let message = format!("operation {} is not of environment `{env}`", op.id);
            return envelope(
                StatusCode::NOT_FOUND,
                Some(&op.id),
                Some(message),
                Value::Null,
            );
        }
        Err(e) => return failed(e),
    };
    let status = erp_status(&op);
    envelope(
        StatusCode::OK,
        Some(&op.id),
        op.error.clone().filter(|_| status == "Failed"),
        json!({"OperationStatus": status, "EnvironmentId": op.target}),
    )
}

/// dataalm's states in the ERP's words.
pub fn erp_status(op: &Operation) -> &'static str {
    match op.state {
        OpState::Running if dataalm_ops::refresh::is_interrupted(op) => "Failed",
        OpState::Running
            if op
                .steps
                .iter()
                .all(|s| s.status == dataalm_core::StepStatus::Pending) =>
        {
            "NotStarted"
        }
        OpState::Running => "InProgress",
        OpState::Failed => "Failed",
        OpState::AwaitingSignOff => "Completed",
        OpState::SignedOff => "SignedOff",
        OpState::RolledBack => "RollbackCompleted",
        // Stopped before the target changed: to the ERP, a refresh that did not happen.
        OpState::Cancelled => "Failed",
    }
}
