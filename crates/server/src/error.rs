//! Errors as the API answers them: a status and JSON with a stable code and a message
//! for people, `{"error": {"code": "busy", "message": "..."}}`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use dataalm_ops::Error as OpsError;
use dataalm_store::Error as StoreError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
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
        let body = serde_json::json!({"error": {"code": self.code, "message": self.message}});
        let mut response = (self.status, Json(body)).into_response();
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
        let (status, code) = match &e {
            StoreError::UnknownEnv(_) => (StatusCode::NOT_FOUND, "unknown_environment"),
            StoreError::UnknownOperation(_) => (StatusCode::NOT_FOUND, "unknown_operation"),
            StoreError::EnvExists(_) => (StatusCode::CONFLICT, "exists"),
            StoreError::EnvBusy { .. } | StoreError::TargetBusy { .. } => {
                (StatusCode::CONFLICT, "busy")
            }
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "control_plane"),
        };
        ApiError::new(status, code, e.to_string())
    }
}

impl From<OpsError> for ApiError {
    fn from(e: OpsError) -> ApiError {
        let (status, code) = match e {
            OpsError::Store(e) => return e.into(),
            OpsError::Busy { .. } => (StatusCode::CONFLICT, "busy"),
            OpsError::NotAwaitingSignOff { .. }
            | OpsError::Finished { .. }
            | OpsError::StillRunning { .. } => (StatusCode::CONFLICT, "wrong_state"),
            OpsError::ProductionTarget(_) => (StatusCode::BAD_REQUEST, "production_target"),
            OpsError::StepFailed { .. } => (StatusCode::INTERNAL_SERVER_ERROR, "step_failed"),
            // What the databases or servers refuse: unreachable, no rights, wrong tools.
            OpsError::Engine(_) => (StatusCode::UNPROCESSABLE_ENTITY, "refused"),
            // Unknown users or jobs, bad plans, dates, profiles: the request's fault.
            _ => (StatusCode::BAD_REQUEST, "invalid_input"),
        };
        ApiError::new(status, code, e.to_string())
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> ApiError {
        ApiError::internal(format!("a background task failed: {e}"))
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
