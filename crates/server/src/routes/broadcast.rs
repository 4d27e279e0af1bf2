//! The reference ERP's broadcast service, so its clients work against dataalm:
//! `POST .../SysBroadcastMessageServices/SysBroadcastMessageService/AddMessage` with
//! `{"request": {"FromDateTime": ..., "ToDateTime": ...}}`, answered with the new
//! message's id.
//!
//! Existing clients build the URL by replacing the path of the environment's base URL,
//! so it is answered at `/api/services/...` too, and at `/namespaces/AXSF/api/services/...`
//! as on-premises installations serve it: the environment is then the one whose base URL
//! has the request's host, else the one environment the token is for.
//!
//! A date-time without an offset is read in the environment's time zone (`dataalm env
//! set ENV --time-zone`, UTC when not set), as clients write `ToString("s")` in the zone
//! their user chose; one with an offset or `Z` is read as it is.

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use dataalm_core::access::Role;
use dataalm_core::dotnet_time;
use serde::Deserialize;
use serde_json::Value;
use time::OffsetDateTime;

#[derive(Debug, Deserialize)]
pub struct AddMessageBody {
    request: AddMessageRequest,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AddMessageRequest {
    from_date_time: Option<Value>,
    to_date_time: Option<Value>,
    /// Not in the ERP's contract; dataalm lets clients add the text people see.
    message: Option<String>,
}

const DEFAULT_TEXT: &str = "This environment will be unavailable for maintenance.";

/// `POST /env/{env}/api/services/.../AddMessage`.
#[utoipa::path(
    post,
    path = "/env/{env}/api/services/SysBroadcastMessageServices/SysBroadcastMessageService/AddMessage",
    tag = "erp",
    params(("env" = String, Path, description = "Environment name")),
    request_body(content_type = "application/json", description = "{\"request\": {\"FromDateTime\": ..., \"ToDateTime\": ...}} in any form .NET writes"),
    responses(
        (status = 200, description = "The new message id"),
        (status = 400, description = "Bad or reversed dates"),
    ),
)]
pub async fn add_for_env(
    State(state): State<AppState>,
    caller: Caller,
    Path(env): Path<String>,
    Json(body): Json<AddMessageBody>,
) -> ApiResult<Json<Value>> {
    add(state, caller, env, body.request).await
}

/// `POST /api/services/.../AddMessage`: the environment from the host or the token.
#[utoipa::path(
    post,
    path = "/api/services/SysBroadcastMessageServices/SysBroadcastMessageService/AddMessage",
    tag = "erp",
    responses(
        (status = 200, description = "The new message id"),
        (status = 400, description = "Cannot tell the environment, or bad dates"),
    ),
)]
pub async fn add_by_host(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Json(body): Json<AddMessageBody>,
) -> ApiResult<Json<Value>> {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_ascii_lowercase);
    let envs = state.blocking(|store| Ok(store.envs()?)).await?;
    let by_host = host.as_deref().and_then(|host| {
        envs.iter().find(|env| {
            env.url
                .as_deref()
                .is_some_and(|url| same_host(&url_host(url), host))
        })
    });
    let env = match (by_host, caller.0.envs.as_slice()) {
        (Some(env), _) => env.name.clone(),
        (None, [only]) => only.clone(),
        _ => {
            return Err(ApiError::bad_request(
                "cannot tell which environment: call /env/{env}/api/services/..., or give \
                 the environment a base URL with this host (`dataalm env add --url`), or \
                 use a token scoped to one environment (`resource` or `scope` at /oauth2/token)",
            ));
        }
    };
    add(state, caller, env, body.request).await
}

/// `POST /namespaces/AXSF/api/services/.../AddMessage`: the on-premises path, answered
/// as the cloud one at the root.
#[utoipa::path(
    post,
    path = "/namespaces/AXSF/api/services/SysBroadcastMessageServices/SysBroadcastMessageService/AddMessage",
    tag = "erp",
    responses(
        (status = 200, description = "The new message id"),
        (status = 400, description = "Cannot tell the environment, or bad dates"),
    ),
)]
pub async fn add_on_premises(
    state: State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Json<AddMessageBody>,
) -> ApiResult<Json<Value>> {
    add_by_host(state, caller, headers, body).await
}

async fn add(
    state: AppState,
    caller: Caller,
    env: String,
    request: AddMessageRequest,
) -> ApiResult<Json<Value>> {
    caller.require_env(Role::Operator, &env)?;
    let name = env.clone();
    let zone = state
        .blocking(move |store| Ok(store.env(&name)?.settings.time_zone))
        .await?
        .unwrap_or_else(|| dataalm_core::zone::DEFAULT.to_owned());
    let from = date_field("FromDateTime", request.from_date_time.as_ref(), &zone)?;
    let to = date_field("ToDateTime", request.to_date_time.as_ref(), &zone)?;
    if to <= from {
        return Err(ApiError::bad_request(format!(
            "ToDateTime ({}) must be after FromDateTime ({})",
            dataalm_core::when::format(to),
            dataalm_core::when::format(from)
        )));
    }
    let text = request.message.unwrap_or_else(|| DEFAULT_TEXT.to_owned());
    let actor = caller.actor();
    let id = state
        .blocking(move |store| {
            Ok(dataalm_ops::actions::post_message(
                store, &actor, &env, from, to, &text,
            )?)
        })
        .await?;
    Ok(Json(serde_json::to_value(id).unwrap_or(Value::Null)))
}

fn date_field(name: &str, value: Option<&Value>, zone: &str) -> ApiResult<OffsetDateTime> {
    let text = match value {
        Some(Value::String(text)) => text,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "{name} must be a date-time string, not {other}"
            )));
        }
        None => return Err(ApiError::bad_request(format!("{name} is missing"))),
    };
    dotnet_time::parse_in(text, zone).map_err(|e| ApiError::bad_request(format!("{name}: {e}")))
}

/// Hosts match by name, and by port when both give one (`uat.example.com:443` is the
/// host of `https://uat.example.com`).
fn same_host(a: &str, b: &str) -> bool {
    let split = |host: &str| -> (String, Option<String>) {
        match host.rsplit_once(':') {
            Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => {
                (name.to_owned(), Some(port.to_owned()))
            }
            _ => (host.to_owned(), None),
        }
    };
    let ((a_name, a_port), (b_name, b_port)) = (split(a), split(b));
    a_name == b_name && (a_port.is_none() || b_port.is_none() || a_port == b_port)
}

/// `https://UAT.example.com:8443/path` → `uat.example.com:8443`.
fn url_host(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let host = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    host.to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_come_from_base_urls() {
        assert_eq!(url_host("https://UAT.example.com/"), "uat.example.com");
        assert_eq!(url_host("http://h:8080/x?y"), "h:8080");
        assert_eq!(url_host("uat.example.com"), "uat.example.com");
        assert!(same_host("uat.example.com", "uat.example.com:443"));
        assert!(!same_host("uat.example.com:8443", "uat.example.com:443"));
        assert!(!same_host("uat.example.com", "prod.example.com"));
    }
}
