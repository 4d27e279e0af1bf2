//! `GET /api/audit`: who changed what, for admins.

use crate::auth::Caller;
use crate::error::ApiResult;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Query, State};
use dataalm_core::access::Role;
use serde::Deserialize;

#[derive(Deserialize)]
pub struct AuditQuery {
    limit: Option<u32>,
}

#[utoipa::path(
    get,
    path = "/api/audit",
    tag = "audit",
    params(
        ("limit" = Option<u32>, Query, description = "At most this many entries"),
    ),
    responses((status = 200, description = "Newest first")),
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<AuditQuery>,
) -> ApiResult<Json<Vec<dataalm_store::AuditEntry>>> {
    caller.require(Role::Admin)?;
    let limit = query.limit.unwrap_or(100).min(10_000);
    let entries = state
        .blocking(move |store| Ok(store.audit_log(limit)?))
        .await?;
    // A scoped admin reads its own environments' entries, never the others'.
    let entries = entries
        .into_iter()
        .filter(|entry| {
            entry.env.as_deref().is_some_and(|env| caller.sees(env)) || caller.sees_all()
        })
        .collect();
    Ok(Json(entries))
}
