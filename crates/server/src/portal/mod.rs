//! The web portal: the same work as the API, as pages for people who would rather click
//! than type. Server-rendered (askama templates in `templates/`), one stylesheet, and a
//! few lines of script that refresh a running operation's steps.
//!
//! - [`session`]: signing in and out, the session cookie, roles, CSRF tokens.
//! - [`environments`]: the overview and one environment's users, jobs, messages, plan
//!   and history.
//! - [`operations`]: starting a refresh, following it, signing off or rolling back; the
//!   audit log.
//! - [`people`]: the portal's accounts, for admins.
//!
//! Every change goes through `dataalm-ops`, as the API's do, audited with the person's
//! name (`person:NAME`). Templates escape everything they print.

mod environments;
mod form;
mod operations;
mod people;
mod session;

use crate::error::ApiError;
use crate::state::AppState;
use askama::Template;
use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use dataalm_core::access::Role;
use serde::Deserialize;
pub use session::Visitor;

/// Every page and form of the portal.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/portal") }))
        .route("/portal", get(environments::overview))
        .route(
            "/portal/login",
            get(session::login_form).post(session::login),
        )
        .route("/portal/logout", post(session::logout))
        .route("/portal/env/{env}", get(environments::show))
        .route("/portal/env/{env}/users", post(environments::set_users))
        .route(
            "/portal/env/{env}/users/upload",
            post(environments::upload_users),
        )
        .route(
            "/portal/env/{env}/users.xlsx",
            get(environments::users_xlsx),
        )
        .route("/portal/env/{env}/jobs", post(environments::set_jobs))
        .route("/portal/env/{env}/message", post(environments::message))
        .route("/portal/env/{env}/plan", post(environments::plan))
        .route("/portal/env/{env}/settings", post(environments::settings))
        .route(
            "/portal/refresh",
            get(operations::refresh_form).post(operations::start),
        )
        .route("/portal/op/{id}", get(operations::show))
        .route("/portal/op/{id}/live", get(operations::live))
        .route("/portal/op/{id}/{action}", post(operations::act))
        .route("/portal/audit", get(operations::audit))
        .route("/portal/people", get(people::list))
        .route("/portal/people/{name}/{action}", post(people::act))
        .route("/portal/static/style.css", get(stylesheet))
        .route("/portal/static/portal.js", get(script))
}

/// What every page's frame shows: the title, who is signed in, and the outcome of the
/// last form (carried in the query string after a redirect).
pub struct Page {
    pub title: String,
    pub who: Option<Visitor>,
    pub notice: String,
    pub error: String,
}

impl Page {
    pub fn anonymous(title: &str) -> Page {
        Page {
            title: title.to_owned(),
            who: None,
            notice: String::new(),
            error: String::new(),
        }
    }

    pub fn new(title: &str, visitor: &Visitor, flash: Flash) -> Page {
        Page {
            title: title.to_owned(),
            who: Some(visitor.clone()),
            notice: flash.notice,
            error: flash.error,
        }
    }

    pub fn name(&self) -> &str {
        self.who.as_ref().map_or("", |v| v.person.name.as_str())
    }

    pub fn role(&self) -> String {
        self.who
            .as_ref()
            .map_or(String::new(), |v| v.person.role.to_string())
    }

    pub fn csrf(&self) -> &str {
        self.who.as_ref().map_or("", |v| v.csrf.as_str())
    }

    /// Whether the visitor may change things (refresh, users, jobs, messages...).
    pub fn operator(&self) -> bool {
        self.who.as_ref().is_some_and(|v| v.can(Role::Operator))
    }

    pub fn admin(&self) -> bool {
        self.who.as_ref().is_some_and(|v| v.can(Role::Admin))
    }
}

/// The outcome of the last form, from the query string.
#[derive(Debug, Default, Deserialize)]
pub struct Flash {
    #[serde(default)]
    pub notice: String,
    #[serde(default)]
    pub error: String,
}

/// Back to `path` (which may end in a `#section`) with a notice (or an error) for the
/// person.
pub fn back(path: &str, outcome: Result<String, String>) -> Response {
    let (key, text) = match outcome {
        Ok(text) => ("notice", text),
        Err(text) => ("error", text),
    };
    let (path, section) = path.split_once('#').unwrap_or((path, ""));
    let separator = if path.contains('?') { '&' } else { '?' };
    let section = if section.is_empty() {
        String::new()
    } else {
        format!("#{section}")
    };
    let text = form::encode(&text);
    Redirect::to(&format!("{path}{separator}{key}={text}{section}")).into_response()
}

pub fn render(template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            PageError(ApiError::internal(format!("cannot render the page: {e}"))).into_response()
        }
    }
}

/// An error shown as a page, with its status.
pub struct PageError(pub ApiError);

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> PageError {
        PageError(e)
    }
}

impl From<dataalm_ops::Error> for PageError {
    fn from(e: dataalm_ops::Error) -> PageError {
        PageError(e.into())
    }
}

impl From<dataalm_store::Error> for PageError {
    fn from(e: dataalm_store::Error) -> PageError {
        PageError(e.into())
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    page: Page,
    status: String,
    message: String,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let page = ErrorPage {
            page: Page::anonymous("Error"),
            status: self.0.status.to_string(),
            message: self.0.message,
        };
        let html = page
            .render()
            .unwrap_or_else(|_| "dataalm: an error, and its page could not be shown".into());
        (self.0.status, Html(html)).into_response()
    }
}

/// The stylesheet and script hold nothing private; a browser may keep them a while.
const STATIC_CACHE: &str = "max-age=300";

async fn stylesheet() -> Response {
    let css = include_str!("../../static/style.css");
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, STATIC_CACHE),
        ],
        css,
    )
        .into_response()
}

async fn script() -> Response {
    let js = include_str!("../../static/portal.js");
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, STATIC_CACHE),
        ],
        js,
    )
        .into_response()
}
