//! OAuth2 tokens, as the Microsoft identity platform's token endpoints give them:
//! app registrations trade their id and secret for a bearer token (client
//! credentials); people sign in through a public client with their portal name and
//! password (password grant) and get a refresh token, used once, for the next one. The
//! token is a JWT signed ES256 with the control plane's key, whose public half
//! `identity.rs` publishes; it carries a role and the environments it may touch.
//!
//! Three endpoints answer: `/oauth2/token` (dataalm's own), `/{tenant}/oauth2/token`
//! (v1: `resource`, `expires_on`) and `/{tenant}/oauth2/v2.0/token` (v2: `scope`).
//!
//! Secret and password checks go through the server's [`Guard`](crate::throttle::Guard):
//! a few at once, and none for a client id, person or address that failed too often
//! lately. Every wrong secret or password is audited (never the secret itself).

use crate::error::{ApiError, ApiResult};
use crate::identity::PublicBase;
use crate::state::AppState;
use crate::throttle::{self, Kind, Refusal, Remote};
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use base64::Engine as _;
use dataalm_core::access::Role;
use dataalm_store::{AppRegistration, Error as StoreError, Person};
use jsonwebtoken::{Algorithm, Header, Validation};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How long a refresh token lasts if unused.
pub const REFRESH_LIFETIME: Duration = Duration::from_secs(14 * 24 * 3600);

/// Scopes OpenID Connect clients add to every request (d365fo.tools sends
/// `scope=openid`); they name no environment, so they are left out of narrowing.
const OIDC_SCOPES: [&str; 4] = ["openid", "profile", "offline_access", "email"];

/// What a token says about its bearer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The app registration's client id.
    pub sub: String,
    /// The registration's name.
    pub name: String,
    pub role: Role,
    /// The environments it may touch; empty means all.
    pub envs: Vec<String>,
    pub iat: u64,
    pub exp: u64,
    /// Who issued it: the token endpoint's authority (see `identity.rs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// The person who signed in through the registration (password grant), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person: Option<String>,
}

/// The body of a token request (form-encoded, as OAuth2 says).
#[derive(Debug, Deserialize)]
pub struct TokenRequest {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    resource: Option<String>,
    scope: Option<String>,
    username: Option<String>,
    password: Option<String>,
    refresh_token: Option<String>,
}

/// Which token endpoint answers: the fields of the answer differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flavor {
    /// `/oauth2/token`, dataalm's own.
    Plain,
    /// `/{tenant}/oauth2/token`: `resource`, and `expires_on` in the answer.
    V1,
    /// `/{tenant}/oauth2/v2.0/token`: `scope`.
    V2,
}

/// A token request refused, as an OAuth2 error answer.
#[derive(Debug)]
struct Denied {
    status: StatusCode,
    error: &'static str,
    description: String,
    retry_after: Option<u64>,
}

impl Denied {
    fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Denied {
        Denied {
            status,
            error,
            description: description.into(),
            retry_after: None,
        }
    }

    fn invalid_grant(description: impl Into<String>) -> Denied {
        Denied::new(StatusCode::BAD_REQUEST, "invalid_grant", description)
    }

    fn invalid_client(description: impl Into<String>) -> Denied {
        Denied::new(StatusCode::UNAUTHORIZED, "invalid_client", description)
    }
}

/// Store and scope errors: a scope naming nothing is the client's mistake
/// (`invalid_scope`); anything else is the server's.
impl From<ApiError> for Denied {
    fn from(e: ApiError) -> Denied {
        match e.status {
            StatusCode::BAD_REQUEST => Denied::new(e.status, "invalid_scope", e.message),
            StatusCode::UNAUTHORIZED => Denied::invalid_client(e.message),
            status => Denied::new(status, "server_error", e.message),
        }
    }
}

/// A secret or password that was not checked: 429 or 503, saying when to come back.
impl From<Refusal> for Denied {
    fn from(refusal: Refusal) -> Denied {
        let seconds = refusal.retry_after_secs();
        let denied = match refusal {
            Refusal::Throttled { .. } => Denied::new(
                StatusCode::TOO_MANY_REQUESTS,
                "slow_down",
                format!(
                    "too many wrong secrets or passwords for this name or from this address; try again in {seconds} s"
                ),
            ),
            Refusal::Busy { .. } => Denied::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                format!("too many secret checks at once; try again in {seconds} s"),
            ),
        };
        Denied {
            retry_after: Some(seconds),
            ..denied
        }
    }
}

/// The shape client libraries expect from a token endpoint:
/// `{"error": "invalid_client", "error_description": ...}`.
impl IntoResponse for Denied {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error": self.error, "error_description": self.description});
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// What a grant established: who, and for which environments.
struct Granted {
    app: AppRegistration,
    person: Option<Person>,
    envs: Vec<String>,
    refresh_token: Option<String>,
}

/// `POST /{tenant}/oauth2/token`: the v1 endpoint. The tenant is accepted and ignored.
#[utoipa::path(
    post,
    path = "/{tenant}/oauth2/token",
    tag = "auth",
    params(("tenant" = String, Path, description = "Accepted and ignored (`common` works)")),
    request_body(content_type = "application/x-www-form-urlencoded", description = "As /oauth2/token; `resource` names an environment's base URL or dataalm's own (every environment)"),
    responses((status = 200, description = "access_token, token_type, expires_in, ext_expires_in, expires_on, resource, refresh_token (password grant)")),
    security(()),
)]
pub async fn token_for_tenant(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    base: PublicBase,
    remote: Remote,
    headers: HeaderMap,
    Form(request): Form<TokenRequest>,
) -> Response {
    let issuer = format!("{}/{tenant}/", base.0);
    grant(
        &state,
        &base.0,
        issuer,
        Flavor::V1,
        remote,
        &headers,
        request,
    )
    .await
}

/// `POST /{tenant}/oauth2/v2.0/token`: the v2 endpoint, as MSAL and azure-identity call it.
#[utoipa::path(
    post,
    path = "/{tenant}/oauth2/v2.0/token",
    tag = "auth",
    params(("tenant" = String, Path, description = "Accepted and ignored (`common` works)")),
    request_body(content_type = "application/x-www-form-urlencoded", description = "As /oauth2/token; `scope` is `<environment base URL>/.default`, or dataalm's own URL + `/.default` for every environment"),
    responses((status = 200, description = "access_token, token_type, expires_in, ext_expires_in, refresh_token (password grant)")),
    security(()),
)]
pub async fn token_v2(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    base: PublicBase,
    remote: Remote,
    headers: HeaderMap,
    Form(request): Form<TokenRequest>,
) -> Response {
    let issuer = format!("{}/{tenant}/v2.0", base.0);
    grant(
        &state,
        &base.0,
        issuer,
        Flavor::V2,
        remote,
        &headers,
        request,
    )
    .await
}

/// `POST /oauth2/token`.
#[utoipa::path(
    post,
    path = "/oauth2/token",
    tag = "auth",
    request_body(content_type = "application/x-www-form-urlencoded", description = "grant_type=client_credentials with client_id and client_secret (or HTTP Basic); grant_type=password with a public client's client_id, username and password; grant_type=refresh_token with client_id and refresh_token. Optional resource or scope naming one environment (name or base URL) or dataalm's own URL"),
    responses(
        (status = 200, description = "access_token, token_type Bearer, expires_in, refresh_token (password grant)"),
        (status = 400, description = "unsupported_grant_type, invalid_grant (wrong name or password, used refresh token) or invalid_scope"),
        (status = 401, description = "invalid_client"),
        (status = 429, description = "slow_down: too many wrong secrets lately; see Retry-After"),
        (status = 503, description = "temporarily_unavailable: too many checks at once; see Retry-After"),
    ),
    security(()),
)]
pub async fn token(
    State(state): State<AppState>,
    base: PublicBase,
    remote: Remote,
    headers: HeaderMap,
    Form(request): Form<TokenRequest>,
) -> Response {
    let issuer = base.0.clone();
    grant(
        &state,
        &base.0,
        issuer,
        Flavor::Plain,
        remote,
        &headers,
        request,
    )
    .await
}

/// Carries out a token request and answers it as `flavor`'s endpoint does.
async fn grant(
    state: &AppState,
    base: &str,
    issuer: String,
    flavor: Flavor,
    remote: Remote,
    headers: &HeaderMap,
    request: TokenRequest,
) -> Response {
    let wanted = match requested(&request, flavor) {
        Ok(wanted) => wanted,
        Err(denied) => return denied.into_response(),
    };
    let grant_type = request.grant_type.clone();
    let granted = match grant_type.as_deref() {
        Some("client_credentials") => {
            client_credentials(state, base, remote, headers, &request, wanted.clone()).await
        }
        Some("password") => password(state, base, remote, request, wanted.clone()).await,
        Some("refresh_token") => refresh(state, base, request, wanted.clone()).await,
        _ => Err(Denied::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "grant_type is client_credentials, password or refresh_token",
        )),
    };
    match granted.and_then(|granted| answer(state, base, issuer, flavor, granted, wanted)) {
        Ok(response) => response,
        Err(denied) => denied.into_response(),
    }
}

/// The one environment (or dataalm's own URL) a request names, from `resource` or
/// `scope` as its endpoint reads them, OpenID scopes left out.
fn requested(request: &TokenRequest, flavor: Flavor) -> Result<Option<String>, Denied> {
    let scopes: Vec<&str> = request
        .scope
        .as_deref()
        .unwrap_or_default()
        .split_whitespace()
        .filter(|s| !OIDC_SCOPES.contains(&s.to_ascii_lowercase().as_str()))
        .collect();
    if scopes.len() > 1 {
        return Err(Denied::new(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "a token is for one environment or for all: give one scope",
        ));
    }
    let scope = scopes.first().map(|s| (*s).to_owned());
    let resource = request
        .resource
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_owned);
    Ok(match flavor {
        Flavor::V2 => scope.or(resource),
        Flavor::V1 | Flavor::Plain => resource.or(scope),
    })
}

/// `grant_type=client_credentials`: an app registration's id and secret.
async fn client_credentials(
    state: &AppState,
    base: &str,
    remote: Remote,
    headers: &HeaderMap,
    request: &TokenRequest,
    wanted: Option<String>,
) -> Result<Granted, Denied> {
    let Some((client_id, secret)) = credentials(headers, request) else {
        return Err(Denied::invalid_client(
            "give client_id and client_secret in the form body or with HTTP Basic",
        ));
    };
    let permit = state
        .guard()
        .admit(Kind::Client, &client_id, remote.0)
        .await?;
    let shared = state.clone();
    let base = base.to_owned();
    state
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
                    return Ok(Err(Denied::invalid_client(
                        "unknown client or wrong secret",
                    )));
                }
                Err(e) => return Err(e.into()),
            };
            shared.guard().succeeded(Kind::Client, &client_id);
            let envs = scoped_environments(store, &app, &app.environments, wanted, &base)?;
            Ok(Ok(Granted {
                app,
                person: None,
                envs,
                refresh_token: None,
            }))
        })
        .await?
}

/// `grant_type=password`: a person's portal name and password, through a public client.
async fn password(
    state: &AppState,
    base: &str,
    remote: Remote,
    request: TokenRequest,
    wanted: Option<String>,
) -> Result<Granted, Denied> {
    let Some(client_id) = request.client_id else {
        return Err(Denied::invalid_client("give the public client's client_id"));
    };
    let (Some(username), Some(password)) = (request.username, request.password) else {
        return Err(Denied::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "give username and password",
        ));
    };
    let permit = state
        .guard()
        .admit(Kind::Person, &username, remote.0)
        .await?;
    let shared = state.clone();
    let base = base.to_owned();
    state
        .blocking(move |store| {
            let app = match public_client(store, &client_id)? {
                Ok(app) => app,
                Err(denied) => return Ok(Err(denied)),
            };
            let checked = store.authenticate_person(&username, &password);
            drop(permit);
            let person = match checked {
                Ok(person) => person,
                Err(StoreError::BadCredentials) => {
                    let backoff = shared.guard().failed(Kind::Person, &username, remote.0);
                    let actor = format!("person:{}", throttle::printable(&username));
                    let action = format!("token request via app:{}", app.name);
                    throttle::audit_failure(store, &actor, &action, remote, backoff);
                    return Ok(Err(Denied::invalid_grant("wrong user name or password")));
                }
                // Said only to whoever knows the password.
                Err(e @ StoreError::PersonDisabled(_)) => {
                    return Ok(Err(Denied::invalid_grant(e.to_string())));
                }
                Err(e) => return Err(e.into()),
            };
            shared.guard().succeeded(Kind::Person, &username);
            let envs = scoped_environments(store, &app, &app.environments, wanted, &base)?;
            let refresh_token =
                store.issue_refresh_token(&app.client_id, &person.name, &envs, REFRESH_LIFETIME)?;
            Ok(Ok(Granted {
                app,
                person: Some(person),
                envs,
                refresh_token: Some(refresh_token),
            }))
        })
        .await?
}

/// `grant_type=refresh_token`: a refresh token from a password grant, used once; the
/// answer carries the next one.
async fn refresh(
    state: &AppState,
    base: &str,
    request: TokenRequest,
    wanted: Option<String>,
) -> Result<Granted, Denied> {
    let (Some(client_id), Some(token)) = (request.client_id, request.refresh_token) else {
        return Err(Denied::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "give client_id and refresh_token",
        ));
    };
    let base = base.to_owned();
    state
        .blocking(move |store| {
            let redeemed = match store.redeem_refresh_token(&client_id, &token) {
                Ok(redeemed) => redeemed,
                Err(StoreError::BadCredentials) => {
                    return Ok(Err(Denied::invalid_grant(
                        "the refresh token is unknown, used, expired, or its person is disabled: sign in again",
                    )));
                }
                Err(e) => return Err(e.into()),
            };
            let app = store.app(&client_id)?;
            let envs = scoped_environments(store, &app, &redeemed.environments, wanted, &base)?;
            let refresh_token = store.issue_refresh_token(
                &app.client_id,
                &redeemed.person.name,
                &envs,
                REFRESH_LIFETIME,
            )?;
            Ok(Ok(Granted {
                app,
                person: Some(redeemed.person),
                envs,
                refresh_token: Some(refresh_token),
            }))
        })
        .await?
}

/// The active public client `client_id`, or why not.
fn public_client(
    store: &dataalm_store::Store,
    client_id: &str,
) -> ApiResult<Result<AppRegistration, Denied>> {
    match store.app(client_id) {
        Ok(app) if app.public && !app.is_revoked() => Ok(Ok(app)),
        Ok(app) if !app.public => Ok(Err(Denied::new(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            "the password grant is for public clients (`dataalm app register NAME --public`)",
        ))),
        Ok(_) | Err(StoreError::UnknownApp(_)) => Ok(Err(Denied::invalid_client(
            "client_id names no active public client",
        ))),
        Err(e) => Err(e.into()),
    }
}

/// The token endpoint's answer, with the fields `flavor`'s clients read.
fn answer(
    state: &AppState,
    base: &str,
    issuer: String,
    flavor: Flavor,
    granted: Granted,
    wanted: Option<String>,
) -> Result<Response, Denied> {
    let (token, now, lifetime) = issue(state, &granted, issuer)?;
    let mut body = serde_json::json!({
        "token_type": "Bearer",
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": token,
    });
    if flavor == Flavor::V1 {
        body["expires_on"] = (now + lifetime).into();
        body["not_before"] = now.into();
        body["resource"] = wanted.unwrap_or_else(|| base.to_owned()).into();
    }
    if let Some(refresh_token) = granted.refresh_token {
        body["refresh_token"] = refresh_token.into();
    }
    // A token must not be kept by a cache on the way (RFC 6749, 5.1).
    Ok((
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
        ],
        Json(body),
    )
        .into_response())
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

/// The environments a token is for, out of `allowed` (empty: every one): the one
/// `wanted` names (by name or base URL, as `https://uat.example.com/.default` scopes
/// do), else all of `allowed`. dataalm's own URL (`base`) names all of them too.
fn scoped_environments(
    store: &dataalm_store::Store,
    app: &AppRegistration,
    allowed: &[String],
    wanted: Option<String>,
    base: &str,
) -> ApiResult<Vec<String>> {
    let Some(wanted) = wanted.as_deref().map(str::trim).filter(|w| !w.is_empty()) else {
        return Ok(allowed.to_vec());
    };
    let wanted_url = normalize_url(wanted.trim_end_matches("/.default"));
    if wanted_url == normalize_url(base) {
        return Ok(allowed.to_vec());
    }
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
                "`{wanted}` names no environment (give its name or base URL, or dataalm's own URL for all)"
            ))
        })?;
    if !allowed.is_empty() && !allowed.contains(&env.name) {
        return Err(ApiError::bad_request(format!(
            "registration `{}` may not touch environment `{}` here",
            app.name, env.name
        )));
    }
    Ok(vec![env.name])
}

/// `HTTPS://UAT.example.com/` and `https://uat.example.com` are the same base URL.
pub fn normalize_url(url: &str) -> String {
    url.trim().trim_end_matches('/').to_ascii_lowercase()
}

/// Signs the access token of a grant: the registration's role, or for a person the
/// lesser of theirs and the registration's. Returns it, the time, and its lifetime.
fn issue(
    state: &AppState,
    granted: &Granted,
    issuer: String,
) -> Result<(String, u64, u64), Denied> {
    let now = dataalm_core::when::now().unix_timestamp().max(0) as u64;
    let lifetime = state.token_lifetime().as_secs();
    let role = match &granted.person {
        Some(person) => person.role.min(granted.app.role),
        None => granted.app.role,
    };
    let claims = Claims {
        sub: granted.app.client_id.clone(),
        name: granted.app.name.clone(),
        role,
        envs: granted.envs.clone(),
        iat: now,
        exp: now + lifetime,
        iss: Some(issuer),
        person: granted.person.as_ref().map(|p| p.name.clone()),
    };
    let mut header = Header::new(Algorithm::ES256);
    header.kid = state.jwk().common.key_id.clone();
    let token = jsonwebtoken::encode(&header, &claims, state.encoding_key()).map_err(|e| {
        Denied::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            format!("cannot sign the token: {e}"),
        )
    })?;
    Ok((token, now, lifetime))
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

    /// Who is acting, for the audit log: the person, if one signed in, and the app.
    pub fn actor(&self) -> dataalm_ops::Actor {
        match &self.0.person {
            Some(person) => dataalm_ops::Actor(format!("person:{person} via app:{}", self.0.name)),
            None => dataalm_ops::Actor(format!("app:{}", self.0.name)),
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Caller> {
        let token = authorization(&parts.headers, "Bearer")
            .ok_or_else(|| ApiError::unauthorized("send `Authorization: Bearer <token>`"))?;
        // ES256 only: tokens signed HS256 by an older dataalm are refused (they lasted an
        // hour; clients ask for a new one), and no other algorithm is taken.
        let mut validation = Validation::new(Algorithm::ES256);
        validation.leeway = 0;
        let claims = jsonwebtoken::decode::<Claims>(token, state.decoding_key(), &validation)
            .map_err(|e| ApiError::unauthorized(format!("the token is not valid: {e}")))?
            .claims;
        // A revoked registration or a disabled person loses their tokens at once, not
        // when they expire. A control plane that cannot say is a 503: the token may well
        // be good.
        let client_id = claims.sub.clone();
        let person = claims.person.clone();
        state
            .blocking(move |store| {
                match store.app(&client_id) {
                    Ok(app) if !app.is_revoked() => {}
                    Ok(_) | Err(StoreError::UnknownApp(_)) => {
                        return Err(ApiError::unauthorized("the registration was revoked"));
                    }
                    Err(e) => return Err(e.into()),
                }
                let Some(person) = person else {
                    return Ok(());
                };
                match store.person(&person) {
                    Ok(found) if found.enabled => Ok(()),
                    Ok(_) | Err(StoreError::UnknownPerson(_)) => Err(ApiError::unauthorized(
                        format!("the account `{person}` is disabled or gone"),
                    )),
                    Err(e) => Err(e.into()),
                }
            })
            .await?;
        Ok(Caller(claims))
    }
}
