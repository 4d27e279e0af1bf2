//! What the Microsoft identity libraries look up before they ask for a token: the
//! OpenID Connect discovery document of a tenant (MSAL reads `token_endpoint` and
//! `authorization_endpoint` from it; azure-identity goes through MSAL) and the keys
//! that check dataalm's tokens (JWKS), so a gateway can verify them without a secret.
//!
//! Any tenant segment is taken, `common` included: dataalm has one tenant, itself. The
//! URLs in the documents start at `serve --public-url`, else at the request's own
//! scheme and host.

use crate::state::AppState;
use axum::Json;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::convert::Infallible;

/// dataalm's base URL as its clients reach it, without a trailing slash.
pub struct PublicBase(pub String);

impl FromRequestParts<AppState> for PublicBase {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<PublicBase, Infallible> {
        if let Some(url) = state.public_url() {
            return Ok(PublicBase(url.to_owned()));
        }
        let scheme = if state.over_tls() { "https" } else { "http" };
        // HTTP/1.1 sends Host; HTTP/2 the authority in the URI.
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_owned)
            .or_else(|| parts.uri.authority().map(|a| a.to_string()))
            .unwrap_or_else(|| "localhost".to_owned());
        Ok(PublicBase(format!("{scheme}://{host}")))
    }
}

/// `GET /{tenant}/v2.0/.well-known/openid-configuration`: the v2 endpoints.
#[utoipa::path(
    get,
    path = "/{tenant}/v2.0/.well-known/openid-configuration",
    tag = "auth",
    params(("tenant" = String, Path, description = "Any tenant (`common` works)")),
    responses((status = 200, description = "OpenID Connect discovery: issuer, token_endpoint, authorization_endpoint, jwks_uri")),
    security(()),
)]
pub async fn discovery_v2(Path(tenant): Path<String>, base: PublicBase) -> Json<Value> {
    let authority = format!("{}/{tenant}", base.0);
    Json(discovery(
        &base.0,
        &tenant,
        format!("{authority}/v2.0"),
        format!("{authority}/oauth2/v2.0"),
    ))
}

/// `GET /{tenant}/.well-known/openid-configuration`: the v1 endpoints.
#[utoipa::path(
    get,
    path = "/{tenant}/.well-known/openid-configuration",
    tag = "auth",
    params(("tenant" = String, Path, description = "Any tenant (`common` works)")),
    responses((status = 200, description = "OpenID Connect discovery of the v1 endpoints")),
    security(()),
)]
pub async fn discovery_v1(Path(tenant): Path<String>, base: PublicBase) -> Json<Value> {
    let authority = format!("{}/{tenant}", base.0);
    Json(discovery(
        &base.0,
        &tenant,
        format!("{authority}/"),
        format!("{authority}/oauth2"),
    ))
}

/// The discovery document of `tenant`, whose OAuth2 endpoints are under `endpoints`.
/// Only the token endpoint issues tokens: the browser flows are not offered, so no
/// response type is listed, and `authorization_endpoint` (which MSAL insists on)
/// answers that.
fn discovery(base: &str, tenant: &str, issuer: String, endpoints: String) -> Value {
    json!({
        "issuer": issuer,
        "token_endpoint": format!("{endpoints}/token"),
        "authorization_endpoint": format!("{endpoints}/authorize"),
        "jwks_uri": format!("{base}/{tenant}/discovery/v2.0/keys"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "grant_types_supported": ["client_credentials", "password", "refresh_token"],
        "response_types_supported": [],
        "response_modes_supported": ["form_post"],
        "scopes_supported": ["openid", "offline_access"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "claims_supported": ["sub", "iss", "iat", "exp", "name", "role", "envs", "person"],
        "tenant_region_scope": null,
        "cloud_instance_name": base.split("://").nth(1).unwrap_or(base),
    })
}

/// `GET /{tenant}/discovery/v2.0/keys`: the public key that checks tokens.
#[utoipa::path(
    get,
    path = "/{tenant}/discovery/v2.0/keys",
    tag = "auth",
    params(("tenant" = String, Path, description = "Any tenant (`common` works)")),
    responses((status = 200, description = "JWKS: the ES256 key (kty EC, crv P-256, x, y, kid, use sig, alg ES256)")),
    security(()),
)]
pub async fn keys(State(state): State<AppState>, Path(_tenant): Path<String>) -> Response {
    (
        // Keys change only with the control plane; gateways may keep them a while.
        [(header::CACHE_CONTROL, "public, max-age=3600")],
        Json(json!({ "keys": [state.jwk()] })),
    )
        .into_response()
}

/// `GET /{tenant}/oauth2/v2.0/authorize` (and v1): there is no browser sign-in here.
#[utoipa::path(
    get,
    path = "/{tenant}/oauth2/v2.0/authorize",
    tag = "auth",
    params(("tenant" = String, Path, description = "Any tenant")),
    responses((status = 400, description = "unsupported_response_type: tokens come from the token endpoint only")),
    security(()),
)]
pub async fn authorize(Path(_tenant): Path<String>) -> Response {
    let body = json!({
        "error": "unsupported_response_type",
        "error_description": "dataalm has no browser sign-in: use the token endpoint with \
            client_credentials, password or refresh_token",
    });
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}
