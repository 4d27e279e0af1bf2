//! OAuth2 client credentials: app registrations trade their id and secret for a signed
//! bearer token (JWT, HS256 with the control plane's key) that carries their role and
//! the environments they may touch. Every API call presents it.
//!
//! Secret checks go through the server's [`Guard`](crate::throttle::Guard): a few at
//! once, and none for a client id or address that failed too often lately. Every wrong
//! secret is audited (never the secret itself).

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::throttle::{self, Kind, Refusal, Remote};
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use base64::Engine as _;
use dataalm_core::access::Role;
use dataalm_store::{AppRegistration, Error as StoreError};
use jsonwebtoken::{Algorithm, Header, Validation};
use serde::{Deserialize, Serialize};

/// What a token says about its bearer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The app registration's client id.
    pub sub: String,
    pub name: String,
    pub role: Role,
    /// The environments it may touch; empty means all.
    pub envs: Vec<String>,
    pub iat: u64,
    pub exp: u64,
}

/// The body of `POST /oauth2/token` (form-encoded, as OAuth2 says).
#[derive(Debug, Deserialize)]
pub struct TokenRequest {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    resource: Option<String>,
    scope: Option<String>,
}

/// An OAuth2 error answer (`{"error": "invalid_client", ...}`), the shape client
/// libraries expect from a token endpoint.
fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let body = serde_json::json!({"error": error, "error_description": description});
    (status, Json(body)).into_response()
}

/// The answer to a secret that was not checked: 429 or 503, saying when to come back.
fn refused(refusal: Refusal) -> Response {
    let seconds = refusal.retry_after_secs();
    let mut response = match refusal {
        Refusal::Throttled { .. } => oauth_error(
            StatusCode::TOO_MANY_REQUESTS,
            "slow_down",
            &format!(
                "too many wrong secrets for this client or from this address; try again in {seconds} s"
            ),
        ),
        Refusal::Busy { .. } => oauth_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            &format!("too many secret checks at once; try again in {seconds} s"),
        ),
    };
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}

/// `POST /{tenant}/oauth2/token`: the tenant is accepted and ignored.
#[utoipa::path(
    post,
    path = "/{tenant}/oauth2/token",
    tag = "auth",
    params(("tenant" = String, Path, description = "Accepted and ignored")),
    responses((status = 200, description = "As /oauth2/token")),
    security(()),
)]
pub async fn token_for_tenant(
    State(state): State<AppState>,
    Path(_tenant): Path<String>,
    remote: Remote,
    headers: HeaderMap,
    Form(request): Form<TokenRequest>,
) -> Response {
    token(State(state), remote, headers, Form(request)).await
}

/// `POST /oauth2/token`.
#[utoipa::path(
    post,
    path = "/oauth2/token",
    tag = "auth",
    request_body(content_type = "application/x-www-form-urlencoded", description = "grant_type=client_credentials, client_id, client_secret (or HTTP Basic), optional resource or scope naming one environment"),
    responses(
        (status = 200, description = "access_token, token_type Bearer, expires_in"),
        (status = 400, description = "unsupported_grant_type or invalid_scope"),
        (status = 401, description = "invalid_client"),
        (status = 429, description = "slow_down: too many wrong secrets lately; see Retry-After"),
        (status = 503, description = "temporarily_unavailable: too many checks at once; see Retry-After"),
    ),
    security(()),
)]
pub async fn token(
    State(state): State<AppState>,
    remote: Remote,
    headers: HeaderMap,
    Form(request): Form<TokenRequest>,
) -> Response {
    if request.grant_type.as_deref() != Some("client_credentials") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "only grant_type=client_credentials is supported",
        );
    }
    let Some((client_id, secret)) = credentials(&headers, &request) else {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "give client_id and client_secret in the form body or with HTTP Basic",
        );
    };
    let permit = match state
        .guard()
        .admit(Kind::Client, &client_id, remote.0)
        .await
    {
        Ok(permit) => permit,
        Err(refusal) => return refused(refusal),
    };
    let wanted = request.resource.or(request.scope);
    let shared = state.clone();
    let result = state
        .blocking(move |store| {
            let checked = store.authenticate_app(&client_id, &secret);
            // The costly part is over; the rest needs no slot.
            drop(permit);
            let app = match checked {
                Ok(app) => app,
                Err(StoreError::BadCredentials) => {
                    let backoff = shared.guard().failed(Kind::Client, &client_id, remote.0);
                    let actor = format!("client:{}", throttle::printable(&client_id));
                    throttle::audit_failure(store, &actor, "token request", remote, backoff);
                    return Err(ApiError::unauthorized("unknown client or wrong secret"));
                }
                Err(e) => return Err(e.into()),
            };
            shared.guard().succeeded(Kind::Client, &client_id);
            let envs = scoped_environments(store, &app, wanted.as_deref())?;
            Ok((app, envs))
        })
        .await;
    let (app, envs) = match result {
        Ok(found) => found,
        Err(e) if e.status == StatusCode::UNAUTHORIZED => {
            return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", &e.message);
        }
        Err(e) if e.status == StatusCode::BAD_REQUEST => {
            return oauth_error(e.status, "invalid_scope", &e.message);
        }
        Err(e) => return oauth_error(e.status, "server_error", &e.message),
    };
    match issue(&state, &app, envs) {
        Ok((token, expires_in)) => Json(serde_json::json!({
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": expires_in,
        }))
        .into_response(),
        Err(e) => e.into_response(),
    }
}

/// The credentials of an `Authorization` header of `scheme` (schemes are
/// case-insensitive: `bearer` is `Bearer`).
fn authorization<'a>(headers: &'a HeaderMap, scheme: &str) -> Option<&'a str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (given, credentials) = value.trim().split_once(' ')?;
    given
        .eq_ignore_ascii_case(scheme)
        .then(|| credentials.trim())
        .filter(|c| !c.is_empty())
}

/// Client id and secret from HTTP Basic, else from the form.
fn credentials(headers: &HeaderMap, request: &TokenRequest) -> Option<(String, String)> {
    let basic = authorization(headers, "Basic")
        .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|pair| {
            let (id, secret) = pair.split_once(':')?;
            Some((id.to_owned(), secret.to_owned()))
        });
    basic.or_else(|| Some((request.client_id.clone()?, request.client_secret.clone()?)))
}

/// The environments a token is for: the one `wanted` names (by name or base URL, as
/// `https://uat.example.com/.default` scopes do), else all the registration may touch.
fn scoped_environments(
    store: &dataalm_store::Store,
    app: &AppRegistration,
    wanted: Option<&str>,
) -> ApiResult<Vec<String>> {
    let Some(wanted) = wanted.map(str::trim).filter(|w| !w.is_empty()) else {
        return Ok(app.environments.clone());
    };
    let wanted_url = normalize_url(wanted.trim_end_matches("/.default"));
    let env = store
        .envs()?
        .into_iter()
        .find(|env| {
            env.name == wanted
                || env
                    .url
                    .as_deref()
                    .is_some_and(|url| normalize_url(url) == wanted_url)
        })
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "`{wanted}` names no environment (give its name or base URL)"
            ))
        })?;
    if !app.environments.is_empty() && !app.environments.contains(&env.name) {
        return Err(ApiError::bad_request(format!(
            "registration `{}` may not touch environment `{}`",
            app.name, env.name
        )));
    }
    Ok(vec![env.name])
}

/// `HTTPS://UAT.example.com/` and `https://uat.example.com` are the same base URL.
pub fn normalize_url(url: &str) -> String {
    url.trim().trim_end_matches('/').to_ascii_lowercase()
}

fn issue(state: &AppState, app: &AppRegistration, envs: Vec<String>) -> ApiResult<(String, u64)> {
    let now = dataalm_core::when::now().unix_timestamp().max(0) as u64;
    let lifetime = state.token_lifetime().as_secs();
    let claims = Claims {
        sub: app.client_id.clone(),
        name: app.name.clone(),
        role: app.role,
        envs,
        iat: now,
        exp: now + lifetime,
    };
    let token = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        state.encoding_key(),
    )
    .map_err(|e| ApiError::internal(format!("cannot sign the token: {e}")))?;
    Ok((token, lifetime))
}

/// The bearer of a valid token, as handlers see it.
#[derive(Debug, Clone)]
pub struct Caller(pub Claims);

impl Caller {
    /// Refuses a role below `needed`.
    pub fn require(&self, needed: Role) -> ApiResult<()> {
        if self.0.role.allows(needed) {
            return Ok(());
        }
        Err(ApiError::forbidden(format!(
            "this needs the {needed} role; the token of `{}` has {}",
            self.0.name, self.0.role
        )))
    }

    /// Refuses a role below `needed`, or an environment outside the token's scope.
    pub fn require_env(&self, needed: Role, env: &str) -> ApiResult<()> {
        self.require(needed)?;
        if self.sees(env) {
            return Ok(());
        }
        Err(ApiError::forbidden(format!(
            "the token of `{}` is not for environment `{env}`",
            self.0.name
        )))
    }

    /// Refuses a refresh unless both its ends are inside the token's scope: a token for
    /// `uat` alone must not pull another environment's data into `uat`.
    pub fn require_refresh(&self, source: &str, target: &str) -> ApiResult<()> {
        self.require_env(Role::Operator, target)?;
        self.require_env(Role::Operator, source)
    }

    /// Refuses anything but an admin whose token is for every environment: adding,
    /// removing or moving an environment changes what every scope means.
    pub fn require_unscoped_admin(&self) -> ApiResult<()> {
        self.require(Role::Admin)?;
        if self.0.envs.is_empty() {
            return Ok(());
        }
        Err(ApiError::forbidden(format!(
            "managing environments needs an admin token for every environment; the token of `{}` is for {} only",
            self.0.name,
            self.0.envs.join(", ")
        )))
    }

    /// Whether the token is for every environment.
    pub fn sees_all(&self) -> bool {
        self.0.envs.is_empty()
    }

    pub fn sees(&self, env: &str) -> bool {
        self.0.envs.is_empty() || self.0.envs.iter().any(|e| e == env)
    }

    /// Who is acting, for the audit log.
    pub fn actor(&self) -> dataalm_ops::Actor {
        dataalm_ops::Actor(format!("app:{}", self.0.name))
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Caller> {
        let token = authorization(&parts.headers, "Bearer")
            .ok_or_else(|| ApiError::unauthorized("send `Authorization: Bearer <token>`"))?;
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        let claims = jsonwebtoken::decode::<Claims>(token, state.decoding_key(), &validation)
            .map_err(|e| ApiError::unauthorized(format!("the token is not valid: {e}")))?
            .claims;
        // A revoked registration loses its tokens at once, not when they expire. A
        // control plane that cannot say is a 503: the token may well be good.
        let client_id = claims.sub.clone();
        let app = state
            .blocking(move |store| match store.app(&client_id) {
                Ok(app) => Ok(Some(app)),
                Err(dataalm_store::Error::UnknownApp(_)) => Ok(None),
                Err(e) => Err(ApiError::from(e)),
            })
            .await?;
        if app.is_none_or(|app| app.revoked_at.is_some()) {
            return Err(ApiError::unauthorized("the registration was revoked"));
        }
        Ok(Caller(claims))
    }
}
