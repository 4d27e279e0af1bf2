//! What the profile describes in one environment: users, batch jobs, the
//! reconfiguration plan. Changes are all or nothing and audited (in `dataalm-ops`).

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use dataalm_app::jobs::JobsToSet;
use dataalm_app::userlist::XLSX_CONTENT_TYPE;
use dataalm_app::users::UserFilter;
use dataalm_core::Value as DbValue;
use dataalm_core::access::Role;
use dataalm_ops::actions;
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
pub struct UsersQuery {
    enabled: Option<bool>,
    search: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/environments/{env}/users",
    tag = "users",
    params(
        ("env" = String, Path, description = "Environment name"),
        ("enabled" = Option<bool>, Query, description = "Only enabled or disabled users"),
        ("search" = Option<String>, Query, description = "Piece of id, name or e-mail"),
    ),
    responses((status = 200, description = "Users")),
)]
pub async fn users(
    State(state): State<AppState>,
    caller: Caller,
    Path(env): Path<String>,
    Query(query): Query<UsersQuery>,
) -> ApiResult<Json<Value>> {
    caller.require_env(Role::Reader, &env)?;
    let filter = UserFilter {
        enabled: query.enabled,
        search: query.search,
    };
    let users = state
        .blocking(move |store| Ok(actions::list_users(store, &env, &filter)?))
        .await?;
    let users: Vec<Value> = users
        .iter()
        .map(|u| json!({"id": u.id, "name": u.name, "email": u.email, "enabled": u.enabled}))
        .collect();
    Ok(Json(Value::Array(users)))
}

/// `GET /api/environments/{env}/users.xlsx`: every user, as the CLI's export.
#[utoipa::path(
    get,
    path = "/api/environments/{env}/users.xlsx",
    tag = "users",
    params(("env" = String, Path, description = "Environment name")),
    responses((status = 200, description = "Every user as an XLSX file")),
)]
pub async fn users_xlsx(
    State(state): State<AppState>,
    caller: Caller,
    Path(env): Path<String>,
) -> ApiResult<Response> {
    caller.require_env(Role::Reader, &env)?;
    let bytes = state
        .blocking(move |store| Ok(actions::export_users(store, &env)?))
        .await?;
    Ok(([(header::CONTENT_TYPE, XLSX_CONTENT_TYPE)], bytes).into_response())
}

/// The users a request names: `{"users": [...]}` as JSON, or a CSV or XLSX file as
/// the body (by its content type), read as `users enable --file` reads it.
fn listed_users(headers: &HeaderMap, body: &Bytes) -> ApiResult<Vec<String>> {
    let kind = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let extension = if kind.starts_with("application/json") {
        #[derive(Deserialize)]
        struct Listed {
            users: Vec<String>,
        }
        let listed: Listed = serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("expected {{\"users\": [...]}}: {e}")))?;
        return Ok(listed.users);
    } else if kind.starts_with("text/csv") {
        "csv"
    } else if kind.contains("spreadsheetml") {
        "xlsx"
    } else {
        return Err(ApiError::bad_request(
            "send a JSON list (application/json), a CSV file (text/csv) or an XLSX file \
             (application/vnd.openxmlformats-officedocument.spreadsheetml.sheet)",
        ));
    };
    dataalm_app::userlist::parse_user_list(&format!("users.{extension}"), body)
        .map_err(|e| ApiError::bad_request(format!("cannot read the uploaded list: {e}")))
}

async fn set_users(
    state: AppState,
    caller: Caller,
    env: String,
    headers: HeaderMap,
    body: Bytes,
    enabled: bool,
) -> ApiResult<Json<Value>> {
    caller.require_env(Role::Operator, &env)?;
    let users = listed_users(&headers, &body)?;
    let actor = caller.actor();
    let changed = state
        .blocking(move |store| {
            Ok(actions::set_users_enabled(
                store, &actor, &env, &users, enabled,
            )?)
        })
        .await?;
    Ok(Json(
        json!({"changed": changed.changed, "already": changed.already}),
    ))
}

#[utoipa::path(
    post,
    path = "/api/environments/{env}/users/enable",
    tag = "users",
    params(("env" = String, Path, description = "Environment name")),
    request_body(description = "JSON {\"users\": [...]}, a CSV file (text/csv) or an XLSX file"),
    responses(
        (status = 200, description = "changed and already"),
        (status = 400, description = "Unknown users, nothing changed"),
    ),
)]
pub async fn enable_users(
    State(state): State<AppState>,
    caller: Caller,
    Path(env): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    set_users(state, caller, env, headers, body, true).await
}

#[utoipa::path(
    post,
    path = "/api/environments/{env}/users/disable",
    tag = "users",
    params(("env" = String, Path, description = "Environment name")),
    request_body(description = "As enable"),
    responses(
        (status = 200, description = "changed and already"),
        (status = 400, description = "Unknown users, nothing changed"),
    ),
)]
pub async fn disable_users(
    State(state): State<AppState>,
    caller: Caller,
    Path(env): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    set_users(state, caller, env, headers, body, false).await
}

#[derive(Deserialize)]
pub struct JobsQuery {
    status: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/environments/{env}/jobs",
    tag = "jobs",
    params(
        ("env" = String, Path, description = "Environment name"),
        ("status" = Option<String>, Query, description = "Only jobs in this status"),
    ),
    responses((status = 200, description = "Batch jobs")),
)]
pub async fn jobs(
    State(state): State<AppState>,
    caller: Caller,
    Path(env): Path<String>,
    Query(query): Query<JobsQuery>,
) -> ApiResult<Json<Value>> {
    caller.require_env(Role::Reader, &env)?;
    let jobs = state
        .blocking(move |store| Ok(actions::list_jobs(store, &env, query.status.as_deref())?))
        .await?;
    let jobs: Vec<Value> = jobs
        .iter()
        .map(|j| json!({"id": j.id, "name": j.name, "status": j.status}))
        .collect();
    Ok(Json(Value::Array(jobs)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetJobs {
    status: String,
    #[serde(default)]
    ids: Vec<DbValue>,
    #[serde(default)]
    all_withheld: bool,
}

/// `POST /api/environments/{env}/jobs/status` with `{"status": "waiting", "ids": [...]}`
/// or `{"status": "waiting", "all_withheld": true}`.
#[utoipa::path(
    post,
    path = "/api/environments/{env}/jobs/status",
    tag = "jobs",
    params(("env" = String, Path, description = "Environment name")),
    request_body(content_type = "application/json", description = "status and ids, or all_withheld"),
    responses(
        (status = 200, description = "changed and already"),
        (status = 400, description = "Unknown jobs or status"),
    ),
)]
pub async fn set_jobs(
    State(state): State<AppState>,
    caller: Caller,
    Path(env): Path<String>,
    Json(request): Json<SetJobs>,
) -> ApiResult<Json<Value>> {
    caller.require_env(Role::Operator, &env)?;
    let which = match (request.all_withheld, request.ids.is_empty()) {
        (true, true) => JobsToSet::AllWithheld,
        (false, false) => JobsToSet::Ids(request.ids),
        _ => {
            return Err(ApiError::bad_request(
                "give either \"ids\" or \"all_withheld\": true",
            ));
        }
    };
    let actor = caller.actor();
    let changed = state
        .blocking(move |store| {
            Ok(actions::set_jobs_status(
                store,
                &actor,
                &env,
                &request.status,
                which,
            )?)
        })
        .await?;
    Ok(Json(
        json!({"changed": changed.changed, "already": changed.already}),
    ))
}

/// `GET /api/environments/{env}/plan`: the plan as TOML (404 when there is none).
#[utoipa::path(
    get,
    path = "/api/environments/{env}/plan",
    tag = "plans",
    params(("env" = String, Path, description = "Environment name")),
    responses(
        (status = 200, description = "The plan (TOML)"),
        (status = 404, description = "No plan"),
    ),
)]
pub async fn plan(
    State(state): State<AppState>,
    caller: Caller,
    Path(env): Path<String>,
) -> ApiResult<Response> {
    caller.require_env(Role::Reader, &env)?;
    let name = env.clone();
    let text = state.blocking(move |store| Ok(store.plan(&env)?)).await?;
    let text = text.ok_or_else(|| {
        ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            "no_plan",
            format!("environment `{name}` has no plan"),
        )
    })?;
    Ok(([(header::CONTENT_TYPE, "application/toml")], text).into_response())
}

/// `PUT /api/environments/{env}/plan` with the plan's TOML: checked against the
/// environment, then kept. Admins only.
#[utoipa::path(
    put,
    path = "/api/environments/{env}/plan",
    tag = "plans",
    params(("env" = String, Path, description = "Environment name")),
    request_body(content_type = "application/toml", description = "The plan"),
    responses(
        (status = 200, description = "Checked and kept"),
        (status = 400, description = "Invalid plan"),
    ),
)]
pub async fn set_plan(
    State(state): State<AppState>,
    caller: Caller,
    Path(env): Path<String>,
    text: String,
) -> ApiResult<Json<Value>> {
    caller.require_env(Role::Admin, &env)?;
    let actor = caller.actor();
    let plan = state
        .blocking(move |store| Ok(actions::set_plan(store, &actor, &env, &text)?))
        .await?;
    Ok(Json(serde_json::to_value(plan).unwrap_or(Value::Null)))
}

#[derive(Deserialize)]
pub struct ReconfigureQuery {
    #[serde(default)]
    dry_run: bool,
}

/// `POST /api/environments/{env}/reconfigure?dry_run=true|false`: the changes made, or
/// that would be made.
#[utoipa::path(
    post,
    path = "/api/environments/{env}/reconfigure",
    tag = "plans",
    params(
        ("env" = String, Path, description = "Environment name"),
        ("dry_run" = Option<bool>, Query, description = "Only show the changes"),
    ),
    responses((status = 200, description = "The changes made or to be made")),
)]
pub async fn reconfigure(
    State(state): State<AppState>,
    caller: Caller,
    Path(env): Path<String>,
    Query(query): Query<ReconfigureQuery>,
) -> ApiResult<Json<Value>> {
    let needed = if query.dry_run {
        Role::Reader
    } else {
        Role::Operator
    };
    caller.require_env(needed, &env)?;
    let actor = caller.actor();
    let changes = state
        .blocking(move |store| Ok(actions::reconfigure(store, &actor, &env, query.dry_run)?))
        .await?;
    Ok(Json(json!({"dry_run": query.dry_run, "changes": changes})))
}
