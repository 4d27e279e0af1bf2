//! `/api/environments`: what is registered, as far as the token may see.

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use dataalm_core::access::Role;
use serde_json::{Value, json};

pub use dataalm_ops::actions::environment_view as view;

#[utoipa::path(
    get,
    path = "/api/environments",
    tag = "environments",
    responses(
        (status = 200, description = "The environments the token may see; locations redacted"),
    ),
)]
pub async fn list(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    caller.require(Role::Reader)?;
    let envs = state.blocking(|store| Ok(store.envs()?)).await?;
    let shown: Vec<Value> = envs
        .iter()
        .filter(|e| caller.sees(&e.name))
        .map(view)
        .collect();
    Ok(Json(Value::Array(shown)))
}

#[utoipa::path(
    get,
    path = "/api/environments/{env}",
    tag = "environments",
    params(("env" = String, Path, description = "Environment name")),
    responses(
        (status = 200, description = "The environment"),
        (status = 404, description = "Unknown"),
    ),
)]
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    caller.require_env(Role::Reader, &name)?;
    let env = state.blocking(move |store| Ok(store.env(&name)?)).await?;
    Ok(Json(view(&env)))
}

/// `POST /api/environments`: registers an environment. Admins only. The answer says
/// when its database cannot be reached yet (it is registered all the same).
#[utoipa::path(
    post,
    path = "/api/environments",
    tag = "environments",
    request_body(content_type = "application/json", description = "name, kind, sqlite or postgres, profile, url"),
    responses(
        (status = 201, description = "Registered"),
        (status = 400, description = "Invalid"),
        (status = 409, description = "Exists"),
    ),
)]
pub async fn add(
    State(state): State<AppState>,
    caller: Caller,
    Json(new): Json<dataalm_ops::actions::NewEnvironment>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    caller.require_unscoped_admin()?;
    let actor = caller.actor();
    let (env, unreachable) = state
        .blocking(move |store| Ok(dataalm_ops::actions::add_environment(store, &actor, new)?))
        .await?;
    let mut shown = view(&env);
    shown["warning"] = json!(unreachable);
    Ok((StatusCode::CREATED, Json(shown)))
}

/// `PATCH /api/environments/{env}`: changes its settings (`env set`): kind, location,
/// profile, url, throttle, time zone. Admins only.
#[utoipa::path(
    patch,
    path = "/api/environments/{env}",
    tag = "environments",
    params(("env" = String, Path, description = "Environment name")),
    request_body(content_type = "application/json", description = "Any of kind, sqlite or postgres, profile, url (empty removes it), throttle (`N/24h` or `off`), time_zone (IANA name)"),
    responses(
        (status = 200, description = "The environment as changed"),
        (status = 400, description = "Invalid"),
        (status = 404, description = "Unknown"),
        (status = 409, description = "An operation holds it (location, kind or profile)"),
    ),
)]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    Json(changes): Json<dataalm_ops::actions::EnvChanges>,
) -> ApiResult<Json<Value>> {
    caller.require_unscoped_admin()?;
    let actor = caller.actor();
    let (env, unreachable) = state
        .blocking(move |store| {
            Ok(dataalm_ops::actions::update_environment(
                store, &actor, &name, changes,
            )?)
        })
        .await?;
    let mut shown = view(&env);
    shown["warning"] = json!(unreachable);
    Ok(Json(shown))
}

/// Forgets an environment (its database is untouched). Admins only.
#[utoipa::path(
    delete,
    path = "/api/environments/{env}",
    tag = "environments",
    params(("env" = String, Path, description = "Environment name")),
    responses(
        (status = 204, description = "Forgotten; its database is untouched"),
        (status = 409, description = "An operation is in progress"),
    ),
)]
pub async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    caller.require_unscoped_admin()?;
    let actor = caller.actor();
    state
        .blocking(move |store| {
            store.remove_env(&name)?;
            store
                .audit(&actor.0, "env remove", Some(&name), "ok")
                .map_err(ApiError::from)
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
