//! dataalm as a service: everything the CLI does, over HTTP, for pipelines and for
//! scripts written against the reference ERP.
//!
//! - [`auth`]: OAuth2 client-credentials tokens (JWT) carrying a role and the
//!   environments they may touch; every API call presents one.
//! - [`routes`]: one module per resource; the rules live in `dataalm-ops`.
//! - [`error`]: errors as JSON with a stable code.
//!
//! Store and database work is blocking and runs on tokio's blocking pool; refreshes
//! run in background tasks and are followed through their journal.

pub mod auth;
pub mod error;
pub mod routes;
pub mod state;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use routes::{application, audit, broadcast, environments, movement, operations};
pub use state::AppState;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

/// Request bodies above this are refused with 413.
pub const BODY_LIMIT: usize = 10 << 20;
/// How long a token is valid.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

const ADD_MESSAGE: &str =
    "/api/services/SysBroadcastMessageServices/SysBroadcastMessageService/AddMessage";

/// Every route of the service.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/oauth2/token", post(auth::token))
        .route("/{tenant}/oauth2/token", post(auth::token_for_tenant))
        .route(
            "/api/environments",
            get(environments::list).post(environments::add),
        )
        .route(
            "/api/environments/{env}",
            get(environments::show).delete(environments::remove),
        )
        .route("/api/environments/{env}/refresh", post(operations::start))
        .route("/api/environments/{env}/users", get(application::users))
        .route(
            "/api/environments/{env}/users.xlsx",
            get(application::users_xlsx),
        )
        .route(
            "/api/environments/{env}/users/enable",
            post(application::enable_users),
        )
        .route(
            "/api/environments/{env}/users/disable",
            post(application::disable_users),
        )
        .route("/api/environments/{env}/jobs", get(application::jobs))
        .route(
            "/api/environments/{env}/jobs/status",
            post(application::set_jobs),
        )
        .route(
            "/api/environments/{env}/plan",
            get(application::plan).put(application::set_plan),
        )
        .route(
            "/api/environments/{env}/reconfigure",
            post(application::reconfigure),
        )
        .route(
            "/api/environments/{env}/operations",
            get(operations::history),
        )
        .route("/api/operations/{id}", get(operations::show))
        .route("/api/operations/{id}/signoff", post(operations::sign_off))
        .route("/api/operations/{id}/rollback", post(operations::rollback))
        .route("/api/operations/{id}/resume", post(operations::resume))
        .route("/api/audit", get(audit::list))
        .route(ADD_MESSAGE, post(broadcast::add_by_host))
        .route(
            &format!("/env/{{env}}{ADD_MESSAGE}"),
            post(broadcast::add_for_env),
        )
        .route(
            "/databasemovement/v1/refresh/project/{project}/source/{source}/target/{target}",
            post(movement::refresh),
        )
        .route(
            "/databasemovement/v1/fetchstatus/project/{project}/environment/{env}/operationactivity/{id}",
            get(movement::fetch_status),
        )
        .route("/api/health", get(|| async { "ok" }))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

/// The journal is the truth: refreshes a crash stopped (this server killed, say) are
/// resumed in the background as the server starts.
fn resume_interrupted(state: &AppState) -> Result<(), ServeError> {
    let store = dataalm_store::Store::open(state.home())?;
    let interrupted = dataalm_ops::refresh::interrupted(&store).map_err(ServeError::Resume)?;
    for op in interrupted {
        tracing::info!(
            "resuming operation {}, interrupted at {:?}",
            op.id,
            op.next_step()
        );
        let actor = dataalm_ops::Actor("server".into());
        let id = op.id;
        routes::operations::run_in_background(state, actor, move |ctx| {
            dataalm_ops::refresh::resume(ctx, &id)
        });
    }
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot look for interrupted operations: {0}")]
    Resume(dataalm_ops::Error),
    #[error(transparent)]
    Store(#[from] dataalm_store::Error),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("the server stopped: {0}")]
    Serve(std::io::Error),
}

/// Serves the API for the control plane under `home` until the process ends.
/// `ready` is called with the bound address (useful with port 0).
pub async fn serve(
    home: &Path,
    listen: SocketAddr,
    ready: impl FnOnce(SocketAddr),
) -> Result<(), ServeError> {
    let state = AppState::open(home, TOKEN_LIFETIME)?;
    resume_interrupted(&state)?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| ServeError::Listen {
            addr: listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(ServeError::Serve)?;
    ready(addr);
    axum::serve(listener, router(state))
        .await
        .map_err(ServeError::Serve)
}
