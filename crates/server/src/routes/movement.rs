//! The reference ERP's lifecycle API as its scripts expect it to answer, so they can
//! point at dataalm unchanged: start a refresh, poll its status, list environments.
//!
//! As the ERP does, every answer to an authenticated and authorized caller is HTTP 200
//! with the envelope (`IsSuccess`, `ErrorMessage`, `VersionEOL`...): a refusal (production
//! as target, busy target, unknown environment, throttled) is `IsSuccess: false` with the
//! reason. Only a missing or bad token (401) and a token without the right (403) are
//! HTTP errors. Environments are named by name or by GUID; operations are answered with
//! their GUID (`OperationActivityId`), and accepted by it or by dataalm's own id.
//! Projects are integers, echoed and otherwise ignored.

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::routes::operations::begin_and_run;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use dataalm_core::access::Role;
use dataalm_core::{CopyOptions, EnvKind, Environment, OpState, Operation, Step, StepStatus, when};
use serde::Deserialize;
use serde_json::{Map, Value, json};

/// The ERP's way of saying "no end of life".
const VERSION_EOL: &str = "9999-12-31T23:59:59.9999999";

/// Environments per page of `environmentinfo`.
pub const PAGE_SIZE: usize = 20;

/// HTTP 200 with `fields`, and `IsSuccess`, `ErrorMessage` and `VersionEOL`.
fn envelope(error: Option<String>, fields: Value) -> Response {
    let mut body = Map::new();
    body.insert("IsSuccess".into(), json!(error.is_none()));
    body.insert("ErrorMessage".into(), json!(error));
    body.insert("VersionEOL".into(), json!(VERSION_EOL));
    if let Value::Object(fields) = fields {
        body.extend(fields);
    }
    (StatusCode::OK, Json(Value::Object(body))).into_response()
}

/// A refusal in the envelope (with `fields` set to what they would be, mostly null),
/// unless the caller is not authenticated or not allowed: those keep their status.
fn refused(error: ApiError, fields: Value) -> Response {
    if matches!(
        error.status,
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
    ) {
        return error.into_response();
    }
    envelope(Some(error.message), fields)
}

/// The ERP's project ids are integers.
fn project_id(project: &str) -> ApiResult<i64> {
    project.trim().parse().map_err(|_| {
        ApiError::bad_request(format!(
            "the project id must be an integer, not `{project}`"
        ))
    })
}

/// An environment by name or GUID. The caller's role is checked before anything is
/// looked up, its scope once the name is known.
async fn environment(
    state: &AppState,
    caller: &Caller,
    role: Role,
    key: String,
) -> ApiResult<Environment> {
    caller.require(role)?;
    let env = state
        .blocking(move |store| Ok(store.env_by_name_or_id(&key)?))
        .await?;
    caller.require_env(role, &env.name)?;
    Ok(env)
}

/// `POST /databasemovement/v1/refresh/project/{project}/source/{source}/target/{target}`.
#[utoipa::path(
    post,
    path = "/databasemovement/v1/refresh/project/{project}/source/{source}/target/{target}",
    tag = "erp",
    params(
        ("project" = String, Path, description = "The project id (an integer)"),
        ("source" = String, Path, description = "Environment name or GUID"),
        ("target" = String, Path, description = "Environment name or GUID"),
    ),
    responses(
        (status = 200, description = "IsSuccess, OperationActivityId (a GUID), ErrorMessage, VersionEOL; a refusal is IsSuccess false"),
        (status = 401, description = "No valid token"),
        (status = 403, description = "The token may not refresh these environments"),
    ),
)]
pub async fn refresh(
    State(state): State<AppState>,
    caller: Caller,
    Path((project, source, target)): Path<(String, String, String)>,
) -> Response {
    let started = async {
        project_id(&project)?;
        caller.require(Role::Operator)?;
        let source = environment(&state, &caller, Role::Operator, source).await?;
        let target = environment(&state, &caller, Role::Operator, target).await?;
        caller.require_refresh(&source.name, &target.name)?;
        begin_and_run(
            &state,
            caller.actor(),
            source.name,
            target.name,
            CopyOptions::default(),
        )
        .await
    };
    match started.await {
        Ok(op) => envelope(None, json!({"OperationActivityId": op.activity_id})),
        Err(e) => refused(e, json!({"OperationActivityId": null})),
    }
}

/// `GET /databasemovement/v1/fetchstatus/project/{project}/environment/{env}/operationactivity/{id}`.
#[utoipa::path(
    get,
    path = "/databasemovement/v1/fetchstatus/project/{project}/environment/{env}/operationactivity/{id}",
    tag = "erp",
    params(
        ("project" = String, Path, description = "The project id (an integer)"),
        ("env" = String, Path, description = "Environment name or GUID"),
        ("id" = String, Path, description = "OperationActivityId, or dataalm's operation id"),
    ),
    responses(
        (status = 200, description = "IsSuccess, ErrorMessage, VersionEOL, ProjectId, EnvironmentId, ActivityId, OperationStatus, CompletionDate"),
        (status = 401, description = "No valid token"),
        (status = 403, description = "The token may not read this environment"),
    ),
)]
pub async fn fetch_status(
    State(state): State<AppState>,
    caller: Caller,
    Path((project, env, id)): Path<(String, String, String)>,
) -> Response {
    let project_number = project.trim().parse::<i64>().ok();
    let mut fields = json!({
        "ProjectId": project_number,
        "EnvironmentId": null,
        "ActivityId": null,
        "OperationStatus": null,
        "CompletionDate": null,
    });
    let found = async {
        project_id(&project)?;
        let env = environment(&state, &caller, Role::Reader, env).await?;
        fields["EnvironmentId"] = json!(env.settings.id);
        let key = id.clone();
        let op = state
            .blocking(move |store| Ok(store.operation(&key)?))
            .await?;
        if op.target != env.name {
            return Err(ApiError::bad_request(format!(
                "operation {id} is not of environment `{}`",
                env.name
            )));
        }
        Ok(op)
    };
    let op = match found.await {
        Ok(op) => op,
        Err(e) => return refused(e, fields),
    };
    let status = erp_status(&op);
    fields["ActivityId"] = json!(op.activity_id);
    fields["OperationStatus"] = json!(status.as_str());
    fields["CompletionDate"] = json!(completion_date(&op, status));
    envelope(None, fields)
}

/// The ERP's operation statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErpStatus {
    NotStarted,
    InProgress,
    /// Done, awaiting sign-off.
    Completed,
    SignedOff,
    Failed,
    /// Cancelled before it changed the target.
    Aborted,
    RollbackInProgress,
    RollbackFailed,
    RollbackCompleted,
}

impl ErpStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ErpStatus::NotStarted => "NotStarted",
            ErpStatus::InProgress => "InProgress",
            ErpStatus::Completed => "Completed",
            ErpStatus::SignedOff => "SignedOff",
            ErpStatus::Failed => "Failed",
            ErpStatus::Aborted => "Aborted",
            ErpStatus::RollbackInProgress => "RollbackInProgress",
            ErpStatus::RollbackFailed => "RollbackFailed",
            ErpStatus::RollbackCompleted => "RollbackCompleted",
        }
    }

    /// Whether the operation has stopped moving (until someone acts on it).
    fn has_ended(self) -> bool {
        !matches!(
            self,
            ErpStatus::NotStarted | ErpStatus::InProgress | ErpStatus::RollbackInProgress
        )
    }
}

/// dataalm's states in the ERP's words: the one mapping.
pub fn erp_status(op: &Operation) -> ErpStatus {
    let lease_live = op.lease.as_ref().is_some_and(dataalm_store::lease::is_live);
    if let Some(rollback) = &op.data.rollback
        && !op.state.is_finished()
    {
        // A rollback whose process died without finishing will not go on by itself.
        return if rollback.error.is_none() && lease_live {
            ErpStatus::RollbackInProgress
        } else {
            ErpStatus::RollbackFailed
        };
    }
    match op.state {
        // A server takes an interrupted operation over, unless it has given up on it.
        OpState::Running
            if !lease_live && op.takeovers.count >= dataalm_ops::refresh::TAKEOVER_LIMIT =>
        {
            ErpStatus::Failed
        }
        // Recorded (validated), and nothing else begun yet.
        OpState::Running
            if op
                .steps
                .iter()
                .filter(|s| s.step != Step::Validate)
                .all(|s| s.status == StepStatus::Pending) =>
        {
            ErpStatus::NotStarted
        }
        OpState::Running => ErpStatus::InProgress,
        OpState::Failed => ErpStatus::Failed,
        OpState::AwaitingSignOff => ErpStatus::Completed,
        OpState::SignedOff => ErpStatus::SignedOff,
        OpState::RolledBack => ErpStatus::RollbackCompleted,
        OpState::Cancelled => ErpStatus::Aborted,
    }
}

/// When the operation ended, once it has: its last change.
fn completion_date(op: &Operation, status: ErpStatus) -> Option<String> {
    status.has_ended().then(|| when::format(op.updated_at))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentQuery {
    environment_id: Option<String>,
    environment_name: Option<String>,
    page: Option<usize>,
}

/// `GET /environmentinfo/v1/detail/project/{project}/`: the environments the token may
/// see, a page at a time, or one by id or name.
#[utoipa::path(
    get,
    path = "/environmentinfo/v1/detail/project/{project}/",
    tag = "erp",
    params(
        ("project" = String, Path, description = "The project id (an integer)"),
        ("environmentId" = Option<String>, Query, description = "One environment by GUID"),
        ("environmentName" = Option<String>, Query, description = "One environment by name"),
        ("page" = Option<usize>, Query, description = "Page number, from 1"),
    ),
    responses(
        (status = 200, description = "IsSuccess, ErrorMessage, VersionEOL, Data (environment details), ResultHasMorePages"),
        (status = 401, description = "No valid token"),
        (status = 403, description = "The token may not read this environment"),
    ),
)]
pub async fn environment_info(
    State(state): State<AppState>,
    caller: Caller,
    Path(project): Path<String>,
    Query(query): Query<EnvironmentQuery>,
) -> Response {
    let listed = async {
        let project = project_id(&project)?;
        caller.require(Role::Reader)?;
        let one = match (query.environment_id, query.environment_name) {
            (Some(_), Some(_)) => {
                return Err(ApiError::bad_request(
                    "give environmentId or environmentName, not both",
                ));
            }
            (Some(id), None) => Some(id),
            (None, name) => name,
        };
        if let Some(key) = one {
            let env = environment(&state, &caller, Role::Reader, key).await?;
            return Ok((vec![detail(&env, project)], false));
        }
        let page = query.page.unwrap_or(1).max(1);
        let envs = state.blocking(|store| Ok(store.envs()?)).await?;
        let seen: Vec<&Environment> = envs.iter().filter(|e| caller.sees(&e.name)).collect();
        let start = (page - 1).saturating_mul(PAGE_SIZE);
        let shown = seen
            .iter()
            .skip(start)
            .take(PAGE_SIZE)
            .map(|env| detail(env, project))
            .collect();
        Ok((shown, seen.len() > start.saturating_add(PAGE_SIZE)))
    };
    match listed.await {
        Ok((data, more)) => envelope(None, json!({"Data": data, "ResultHasMorePages": more})),
        Err(e) => refused(e, json!({"Data": [], "ResultHasMorePages": false})),
    }
}

/// One environment as the ERP describes it; what dataalm does not know is null.
fn detail(env: &Environment, project: i64) -> Value {
    let kind = match env.kind {
        EnvKind::Production => "Production",
        EnvKind::Sandbox => "Sandbox",
        EnvKind::Dev => "DevTestDev",
    };
    json!({
        "EnvironmentId": env.settings.id,
        "EnvironmentName": env.name,
        "ProjectId": project,
        "EnvironmentInfrastructure": "SelfService",
        "EnvironmentType": kind,
        "EnvironmentGroup": null,
        "EnvironmentEndpointBaseUrl": env.url,
        "DeploymentState": "Deployed",
        "TopologyType": null,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use dataalm_core::{Lease, RollbackRecord};
    use time::OffsetDateTime;

    fn op(state: OpState) -> Operation {
        let mut op = Operation::new_refresh("prod", "uat", OffsetDateTime::UNIX_EPOCH);
        op.state = state;
        op.lease = Some(Lease {
            runner: "host:1:space:1".into(),
            expires_in_ms: 30_000,
        });
        for step in [Step::Validate, Step::Announce] {
            if let Some(record) = op.step_mut(step) {
                record.status = StepStatus::Done;
            }
        }
        op
    }

    fn lapsed(mut op: Operation) -> Operation {
        op.lease = None;
        op
    }

    fn rolling_back(mut op: Operation, error: Option<&str>) -> Operation {
        op.data.rollback = Some(RollbackRecord {
            started_at: OffsetDateTime::UNIX_EPOCH,
            error: error.map(str::to_owned),
        });
        op
    }

    #[test]
    fn every_state_has_its_erp_status() {
        let mut fresh = op(OpState::Running);
        if let Some(announce) = fresh.step_mut(Step::Announce) {
            announce.status = StepStatus::Pending;
        }
        let cases = [
            (fresh, ErpStatus::NotStarted),
            (op(OpState::Running), ErpStatus::InProgress),
            // Interrupted: a server will take it over.
            (lapsed(op(OpState::Running)), ErpStatus::InProgress),
            (
                {
                    let mut given_up = lapsed(op(OpState::Running));
                    given_up.takeovers.count = dataalm_ops::refresh::TAKEOVER_LIMIT;
                    given_up
                },
                ErpStatus::Failed,
            ),
            (op(OpState::Failed), ErpStatus::Failed),
            (op(OpState::AwaitingSignOff), ErpStatus::Completed),
            (op(OpState::SignedOff), ErpStatus::SignedOff),
            (op(OpState::Cancelled), ErpStatus::Aborted),
            (
                rolling_back(op(OpState::AwaitingSignOff), None),
                ErpStatus::RollbackInProgress,
            ),
            (
                rolling_back(op(OpState::Failed), Some("disk full")),
                ErpStatus::RollbackFailed,
            ),
            // Its process died in the middle of it.
            (
                lapsed(rolling_back(op(OpState::AwaitingSignOff), None)),
                ErpStatus::RollbackFailed,
            ),
            (op(OpState::RolledBack), ErpStatus::RollbackCompleted),
            (
                rolling_back(op(OpState::RolledBack), None),
                ErpStatus::RollbackCompleted,
            ),
        ];
        for (op, expected) in cases {
            assert_eq!(
                erp_status(&op),
                expected,
                "{} {:?}",
                op.state,
                op.data.rollback
            );
        }
    }

    #[test]
    fn only_ended_operations_have_a_completion_date() {
        let running = op(OpState::Running);
        assert_eq!(completion_date(&running, erp_status(&running)), None);
        let done = op(OpState::AwaitingSignOff);
        assert!(completion_date(&done, erp_status(&done)).is_some());
    }
}
