//! Errors as the API answers them: a status and JSON with a stable code and a message
//! for people, `{"error": {"code": "busy", "message": "..."}}`.

use axum::Json;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use dataalm_ops::Error as OpsError;
use dataalm_store::Error as StoreError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Seconds to wait before asking again (`Retry-After`), when the answer knows.
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// No valid token: the answer says how to get one.
    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            // The caller sees the message; whoever runs the server must see it too.
            tracing::error!(status = %self.status, code = self.code, "{}", self.message);
        }
        let body = serde_json::json!({"error": {"code": self.code, "message": self.message}});
        let mut response = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        } else if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            let challenge = HeaderValue::from_static(
                "Bearer realm=\"dataalm\", error=\"invalid_token\", \
                 error_description=\"get a token at /oauth2/token\"",
            );
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, challenge);
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        // No catch-all: a new kind of error must be given its status here.
        let (status, code) = match &e {
            StoreError::UnknownEnv(_) => (StatusCode::NOT_FOUND, "unknown_environment"),
            StoreError::UnknownOperation(_) => (StatusCode::NOT_FOUND, "unknown_operation"),
            StoreError::UnknownPerson(_) | StoreError::UnknownApp(_) => {
                (StatusCode::NOT_FOUND, "not_found")
            }
            StoreError::EnvExists(_)
            | StoreError::AppExists(_)
            | StoreError::PersonExists(_)
            | StoreError::ProfileExists(_) => (StatusCode::CONFLICT, "exists"),
            StoreError::EnvBusy { .. } | StoreError::TargetBusy { .. } => {
                (StatusCode::CONFLICT, "busy")
            }
            StoreError::LeaseLost { .. }
            | StoreError::LastAdmin(_)
            | StoreError::UnregisteredProfileFile(_) => (StatusCode::CONFLICT, "wrong_state"),
            StoreError::UnknownEnvs(_)
            | StoreError::UnknownProfile { .. }
            | StoreError::InvalidApp(_)
            | StoreError::InvalidPerson(_)
            | StoreError::InvalidProfileName(_)
            | StoreError::Profile(_)
            | StoreError::ProfileFile { .. } => (StatusCode::BAD_REQUEST, "invalid_input"),
            StoreError::BadCredentials
            | StoreError::PersonDisabled(_)
            | StoreError::AppRevoked { .. } => (StatusCode::UNAUTHORIZED, "unauthorized"),
            // The control plane cannot answer: the server's trouble, and passing.
            StoreError::Open { .. } | StoreError::Db(_) | StoreError::Sqlite(_) => {
                (StatusCode::SERVICE_UNAVAILABLE, "control_plane")
            }
            // Damage or a server set up wrong: not the caller's, and not passing.
            StoreError::Corrupt(_)
            | StoreError::Hash(_)
            | StoreError::Random(_)
            | StoreError::WrongSecretKey(_)
            | StoreError::MissingSecretKey(_)
            | StoreError::InvalidSecretKey(_)
            | StoreError::SecretKeyFile { .. } => {
                (StatusCode::INTERNAL_SERVER_ERROR, "server_setup")
            }
        };
        ApiError::new(status, code, e.to_string())
    }
}

impl From<OpsError> for ApiError {
    fn from(e: OpsError) -> ApiError {
        let retry_after = match &e {
            OpsError::Throttled { wait_secs, .. } => Some(*wait_secs),
            _ => None,
        };
        // No catch-all: a new kind of error must be given its status here.
        let (status, code) = match e {
            OpsError::Store(e) => return e.into(),
            OpsError::Throttled { .. } => (StatusCode::TOO_MANY_REQUESTS, "throttled"),
            OpsError::Busy { .. } => (StatusCode::CONFLICT, "busy"),
            OpsError::NotAwaitingSignOff { .. }
            | OpsError::Finished { .. }
            | OpsError::Cancelled { .. }
            | OpsError::AfterCutover { .. }
            | OpsError::StillRunning { .. }
            | OpsError::TakeoverLimit { .. } => (StatusCode::CONFLICT, "wrong_state"),
            OpsError::ProductionTarget(_) => (StatusCode::BAD_REQUEST, "production_target"),
            OpsError::StepFailed { .. } | OpsError::Panicked { .. } => {
                (StatusCode::INTERNAL_SERVER_ERROR, "step_failed")
            }
            // What the databases or servers refuse: unreachable, no rights, wrong tools.
            OpsError::Engine(_) => (StatusCode::UNPROCESSABLE_ENTITY, "refused"),
            // Unknown users or jobs, bad plans, dates, profiles: the request's fault.
            OpsError::App(_)
            | OpsError::Profile(_)
            | OpsError::Plan(_)
            | OpsError::Time(_)
            | OpsError::SameEnvironment(_)
            | OpsError::SameDatabase { .. }
            | OpsError::EngineMismatch { .. }
            | OpsError::InvalidInput(_)
            | OpsError::NotInProfile { .. } => (StatusCode::BAD_REQUEST, "invalid_input"),
        };
        ApiError {
            retry_after,
            ..ApiError::new(status, code, e.to_string())
        }
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> ApiError {
        ApiError::internal(format!("a background task failed: {e}"))
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// Answers that do not come from a handler (a body that does not parse, too large, an
/// unknown route, a wrong method) are plain text from axum; this gives them the API's
/// JSON shape, or OAuth2's at the token endpoint, keeping their status and headers.
pub async fn json_errors(request: Request, next: Next) -> Response {
    // The portal answers people with pages of its own.
    if request.uri().path().starts_with("/portal") {
        return next.run(request).await;
    }
    let oauth = request.uri().path().ends_with("/oauth2/token");
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 64 << 10)
        .await
        .map(|bytes| String::from_utf8_lossy(&bytes).trim().to_owned())
        .unwrap_or_default();
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_owned()
    } else {
        text
    };
    let body = if oauth {
        serde_json::json!({"error": "invalid_request", "error_description": message})
    } else {
        serde_json::json!({"error": {"code": code_for(status), "message": message}})
    };
    let mut answer = (status, Json(body)).into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            answer.headers_mut().insert(name.clone(), value.clone());
        }
    }
    answer
}

fn code_for(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "invalid_body",
        _ => "error",
    }
}
