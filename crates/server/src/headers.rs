//! Headers every answer carries, so a browser never frames, sniffs or keeps a page of
//! dataalm's: the portal shows production's users and must not end up in a shared cache
//! or inside another site's frame. Over HTTPS, HSTS tells the browser never to come back
//! over plain HTTP.

use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

/// Pages load only their own stylesheet and script (no inline code), and nobody frames them.
const CONTENT_SECURITY_POLICY: &str =
    "default-src 'self'; frame-ancestors 'none'; form-action 'self'";

/// A year, the usual span: a browser that saw the site over HTTPS keeps to it that long.
const STRICT_TRANSPORT_SECURITY: &str = "max-age=31536000";

/// Adds the browser-protection headers. Answers that chose their own caching (the
/// stylesheet and script) keep it; everything else, signed-in pages and API answers
/// included, is `no-store`.
pub async fn protect(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let fixed: [(HeaderName, &'static str); 3] = [
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    // Only a server that speaks TLS itself: HSTS over plain HTTP is ignored by browsers,
    // and behind a proxy it is the proxy's to send.
    if state.over_tls() {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(STRICT_TRANSPORT_SECURITY),
        );
    }
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}
