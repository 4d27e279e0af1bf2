//! dataalm as a service: everything the CLI does, over HTTP, for pipelines and for
//! scripts written against the reference ERP.
//!
//! - [`auth`]: OAuth2 tokens (JWT, ES256) carrying a role and the environments they
//!   may touch; every API call presents one. [`identity`]: the discovery documents and
//!   keys the Microsoft identity libraries look up.
//! - [`routes`]: one module per resource; the rules live in `dataalm-ops`.
//! - [`error`]: errors as JSON with a stable code.
//! - [`tls`]: HTTPS from a certificate and key; [`throttle`]: bounded secret checks.
//!
//! Store and database work is blocking and runs on tokio's blocking pool; refreshes
//! run in background tasks and are followed through their journal.

pub mod auth;
pub mod error;
mod headers;
pub mod identity;
pub mod portal;
pub mod routes;
pub mod state;
pub mod throttle;
pub mod tls;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::header;
use axum::routing::get;
use dataalm_core::Location;
use error::ApiError;
use routes::{application, audit, broadcast, environments, movement, operations};
pub use state::AppState;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Request bodies above this are refused with 413.
pub const BODY_LIMIT: usize = 10 << 20;
/// How long a token is valid.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

/// The OpenAPI document's frame; the paths come from the handlers' annotations.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "dataalm",
        description = "Refresh sandbox environments from production: environments, \
                       operations, users, batch jobs, plans, and the reference ERP's \
                       endpoints. Every call needs a bearer token from /oauth2/token."
    ),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("JWT")
            .build();
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

/// Every route of the service, and the OpenAPI document describing them.
pub fn router(state: AppState) -> Router {
    let (router, api) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(auth::token))
        .routes(routes!(auth::token_for_tenant))
        .routes(routes!(auth::token_v2))
        .routes(routes!(identity::discovery_v2))
        .routes(routes!(identity::discovery_v1))
        .routes(routes!(identity::keys))
        .routes(routes!(identity::authorize))
        .routes(routes!(environments::list, environments::add))
        .routes(routes!(
            environments::show,
            environments::remove,
            environments::update
        ))
        .routes(routes!(operations::start))
        .routes(routes!(operations::history))
        .routes(routes!(operations::show))
        .routes(routes!(operations::sign_off))
        .routes(routes!(operations::rollback))
        .routes(routes!(operations::resume))
        .routes(routes!(operations::cancel))
        .routes(routes!(application::users))
        .routes(routes!(application::users_xlsx))
        .routes(routes!(application::enable_users))
        .routes(routes!(application::disable_users))
        .routes(routes!(application::jobs))
        .routes(routes!(application::set_jobs))
        .routes(routes!(application::plan, application::set_plan))
        .routes(routes!(application::reconfigure))
        .routes(routes!(audit::list))
        .routes(routes!(broadcast::add_by_host))
        .routes(routes!(broadcast::add_for_env))
        .routes(routes!(movement::refresh))
        .routes(routes!(movement::fetch_status))
        .routes(routes!(movement::environment_info))
        .routes(routes!(broadcast::add_on_premises))
        .split_for_parts();
    // Rendered once; the document does not change while the server runs.
    let document: Arc<str> = api.to_pretty_json().unwrap_or_default().into();
    router
        .route(
            "/api/openapi.json",
            get(move || {
                let document = Arc::clone(&document);
                async move {
                    (
                        [(header::CONTENT_TYPE, "application/json")],
                        document.to_string(),
                    )
                }
            }),
        )
        .route("/api/health", get(|| async { "ok" }))
        .route("/{tenant}/oauth2/authorize", get(identity::authorize))
        .merge(portal::routes())
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn(error::json_errors))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            headers::protect,
        ))
        .with_state(state)
}

/// The journal is the truth: operations that nobody runs any more are taken over and
/// resumed in the background. A crash of this server leaves them (found at start); so
/// does a server sharing the control plane that dies or stops renewing its lease (found
/// by looking again every third of the lease time). The claim in `resume` makes sure
/// only one server takes each.
async fn take_over_interrupted(state: AppState) {
    let mut every = tokio::time::interval(dataalm_store::lease::ttl() / 3);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let found = state
            .blocking(|store| dataalm_ops::refresh::interrupted(store).map_err(ApiError::from))
            .await;
        let interrupted = match found {
            Ok(ops) => ops,
            Err(error) => {
                tracing::warn!("cannot look for interrupted operations: {}", error.message);
                continue;
            }
        };
        for op in interrupted {
            tracing::info!(
                "taking over operation {}, interrupted at {:?}",
                op.id,
                op.next_step()
            );
            let actor = dataalm_ops::Actor(format!("server {}", dataalm_store::lease::process()));
            let id = op.id;
            routes::operations::run_in_background(&state, actor, move |ctx| {
                dataalm_ops::refresh::take_over(ctx, &id)
            });
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("the server's start-up work stopped: {0}")]
    Start(#[from] tokio::task::JoinError),
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

/// Serves the API over plain HTTP; see [`serve_with`].
pub async fn serve(
    store: &Location,
    listen: SocketAddr,
    ready: impl FnOnce(SocketAddr),
) -> Result<(), ServeError> {
    serve_with(store, listen, None, ready).await
}

/// Serves the API over the control plane at `store` until the process ends: over
/// HTTPS with `tls` (from [`tls::server_config`]), else plain HTTP. `ready` is called
/// with the bound address (useful with port 0).
pub async fn serve_with(
    store: &Location,
    listen: SocketAddr,
    tls: Option<Arc<rustls::ServerConfig>>,
    ready: impl FnOnce(SocketAddr),
) -> Result<(), ServeError> {
    serve_at(store, listen, tls, None, ready).await
}

/// As [`serve_with`], for a server its clients know as `public_url` (`serve
/// --public-url`): the base of the URLs in discovery documents and tokens' issuer.
pub async fn serve_at(
    store: &Location,
    listen: SocketAddr,
    tls: Option<Arc<rustls::ServerConfig>>,
    public_url: Option<String>,
    ready: impl FnOnce(SocketAddr),
) -> Result<(), ServeError> {
    let location = store.clone();
    let over_tls = tls.is_some();
    // Blocking: the PostgreSQL control plane's client must not run on an async thread.
    let state = tokio::task::spawn_blocking(move || {
        AppState::open_at(&location, TOKEN_LIFETIME, over_tls, public_url)
    })
    .await??;
    tokio::spawn(take_over_interrupted(state.clone()));
    let listen_error = |source| ServeError::Listen {
        addr: listen,
        source,
    };
    let listener = std::net::TcpListener::bind(listen).map_err(listen_error)?;
    let addr = listener.local_addr().map_err(ServeError::Serve)?;
    // The peer's address feeds the per-address throttle.
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    match tls {
        Some(config) => {
            let config = axum_server::tls_rustls::RustlsConfig::from_config(config);
            let server = axum_server::from_tcp_rustls(listener, config).map_err(listen_error)?;
            ready(addr);
            server.serve(app).await.map_err(ServeError::Serve)
        }
        None => {
            listener.set_nonblocking(true).map_err(listen_error)?;
            let listener = tokio::net::TcpListener::from_std(listener).map_err(listen_error)?;
            ready(addr);
            axum::serve(listener, app).await.map_err(ServeError::Serve)
        }
    }
}
