//! Who is signed in: the session cookie, signing in and out, roles and CSRF checks.
//!
//! The cookie holds a random token (the control plane keeps only its digest); it is
//! `HttpOnly` (no script reads it), `SameSite=Strict` (no other site's page sends it)
//! and `Secure` when the request came over TLS (the server's own, or a proxy's
//! `X-Forwarded-Proto: https`). Every form also carries the session's CSRF token,
//! checked on every POST. Passwords are checked under the server's
//! [`Guard`](crate::throttle::Guard), and every wrong one is audited.

use super::form::{FormData, encode};
use super::{Page, PageError, render};
use crate::error::ApiError;
use crate::state::AppState;
use crate::throttle::{self, Kind, Refusal, Remote};
use askama::Template;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use dataalm_core::access::Role;
use dataalm_ops::Actor;
use dataalm_store::{Error as StoreError, Person};
use serde::Deserialize;
use std::time::Duration;

const COOKIE: &str = "dataalm_session";
/// Signing in from the login form needs this cookie to match the form's field, so another
/// site cannot sign a browser in to an account of its choosing.
const LOGIN_COOKIE: &str = "dataalm_login";
/// How long a session lasts.
const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);

/// A signed-in person, for a page.
#[derive(Clone)]
pub struct Visitor {
    pub person: Person,
    pub csrf: String,
}

impl Visitor {
    pub fn actor(&self) -> Actor {
        person_actor(&self.person)
    }

    pub fn can(&self, role: Role) -> bool {
        self.person.role.allows(role)
    }

    /// Refuses a role below `needed`.
    pub fn require(&self, needed: Role) -> Result<(), PageError> {
        if self.can(needed) {
            return Ok(());
        }
        Err(PageError(ApiError::forbidden(format!(
            "this needs the {needed} role; {} has {}",
            self.person.name, self.person.role
        ))))
    }

    /// A posted form, once it is known to come from this session's pages and the
    /// visitor has `role`.
    pub fn form(&self, body: &Bytes, role: Role) -> Result<FormData, PageError> {
        let form = FormData::parse(body);
        self.check_csrf(form.get("csrf"))?;
        self.require(role)?;
        Ok(form)
    }

    /// Refuses a form that does not carry this session's CSRF token.
    pub fn check_csrf(&self, sent: &str) -> Result<(), PageError> {
        if !sent.is_empty() && same_secret(sent, &self.csrf) {
            return Ok(());
        }
        Err(PageError(ApiError::forbidden(
            "this form was not sent from a page of this portal (its CSRF token is missing or \
             stale): reload the page and try again",
        )))
    }
}

impl FromRequestParts<AppState> for Visitor {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Visitor, Response> {
        let to_login = || {
            // After signing in, the browser GETs `next`: a form's address will not do.
            let next = match parts.method {
                axum::http::Method::GET => {
                    parts.uri.path_and_query().map_or("/portal", |p| p.as_str())
                }
                _ => "/portal",
            };
            Redirect::to(&format!("/portal/login?next={}", encode(next))).into_response()
        };
        let Some(token) = cookie(&parts.headers, COOKIE) else {
            return Err(to_login());
        };
        let found = state
            .blocking(move |store| Ok(store.session(&token)?))
            .await
            .map_err(|e| PageError(e).into_response())?;
        match found {
            Some(session) => Ok(Visitor {
                person: session.person,
                csrf: session.csrf,
            }),
            None => Err(to_login()),
        }
    }
}

/// How the audit log names a person.
fn person_actor(person: &Person) -> Actor {
    Actor(format!("person:{}", person.name))
}

/// Compares two secrets in a time that does not depend on where they differ.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |differs, (x, y)| differs | (x ^ y))
            == 0
}

/// The value of cookie `name`, if the request has it.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.to_owned())
}

/// Whether cookies must be `Secure`: the request came over TLS, to this server or to a
/// proxy in front of it.
fn over_tls(state: &AppState, headers: &HeaderMap) -> bool {
    state.over_tls()
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

/// A `Set-Cookie` value with the portal's attributes; `max_age` 0 deletes it.
fn set_cookie(tls: bool, name: &str, value: &str, max_age: u64) -> HeaderValue {
    let secure = if tls { "; Secure" } else { "" };
    let text =
        format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}");
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    page: Page,
    next: String,
    error: String,
    login_csrf: String,
}

#[derive(Deserialize)]
pub struct LoginQuery {
    #[serde(default)]
    next: String,
}

pub async fn login_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<LoginQuery>,
) -> Response {
    login_page(over_tls(&state, &headers), &query.next, "", StatusCode::OK)
}

fn login_page(tls: bool, next: &str, error: &str, status: StatusCode) -> Response {
    let login_csrf = match dataalm_store::random_token() {
        Ok(token) => token,
        Err(e) => return PageError::from(e).into_response(),
    };
    let page = LoginPage {
        page: Page::anonymous("Sign in"),
        next: safe_next(next).to_owned(),
        error: error.to_owned(),
        login_csrf: login_csrf.clone(),
    };
    let mut response = render(&page);
    *response.status_mut() = status;
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(tls, LOGIN_COOKIE, &login_csrf, 3600),
    );
    response
}

/// The sign-in page again, saying when to come back: the password was not checked.
fn refused_page(tls: bool, next: &str, refusal: Refusal) -> Response {
    let seconds = refusal.retry_after_secs();
    let (status, message) = match refusal {
        Refusal::Throttled { .. } => (
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "too many wrong passwords for this name or from this address; try again in {seconds} s"
            ),
        ),
        Refusal::Busy { .. } => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("too many sign-ins at once; try again in {seconds} s"),
        ),
    };
    let mut response = login_page(tls, next, &message, status);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}

pub async fn login(
    State(state): State<AppState>,
    remote: Remote,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let tls = over_tls(&state, &headers);
    let form = FormData::parse(&body);
    let next = safe_next(form.get("next")).to_owned();
    let sent = form.get("csrf");
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    if sent.is_empty() || !same_secret(sent, &expected) {
        let message = "the sign-in form expired or did not come from this portal; try again";
        return login_page(tls, &next, message, StatusCode::FORBIDDEN);
    }
    let (name, password) = (form.get("name").to_owned(), form.get("password").to_owned());
    let permit = match state.guard().admit(Kind::Person, &name, remote.0).await {
        Ok(permit) => permit,
        Err(refusal) => return refused_page(tls, &next, refusal),
    };
    let shared = state.clone();
    let result = state
        .blocking(move |store| {
            let checked = store.authenticate_person(&name, &password);
            // The costly part is over; the rest needs no slot.
            drop(permit);
            let person = match checked {
                Ok(person) => person,
                Err(StoreError::BadCredentials) => {
                    let backoff = shared.guard().failed(Kind::Person, &name, remote.0);
                    let actor = format!("person:{}", throttle::printable(&name));
                    throttle::audit_failure(store, &actor, "portal sign-in", remote, backoff);
                    return Ok(Err("wrong name or password"));
                }
                Err(StoreError::PersonDisabled(_)) => {
                    return Ok(Err("this account is disabled: ask an admin to enable it"));
                }
                Err(e) => return Err(e.into()),
            };
            shared.guard().succeeded(Kind::Person, &name);
            let token = store.open_session(&person, SESSION_TTL)?;
            store.audit(&person_actor(&person).0, "portal sign-in", None, "ok")?;
            Ok(Ok(token))
        })
        .await;
    match result {
        Ok(Ok(token)) => {
            let mut response = Redirect::to(&next).into_response();
            let max_age = SESSION_TTL.as_secs();
            response
                .headers_mut()
                .append(header::SET_COOKIE, set_cookie(tls, COOKIE, &token, max_age));
            response
                .headers_mut()
                .append(header::SET_COOKIE, set_cookie(tls, LOGIN_COOKIE, "", 0));
            response
        }
        Ok(Err(message)) => login_page(tls, &next, message, StatusCode::UNAUTHORIZED),
        Err(e) => PageError(e).into_response(),
    }
}

pub async fn logout(
    State(state): State<AppState>,
    visitor: Visitor,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PageError> {
    visitor.check_csrf(FormData::parse(&body).get("csrf"))?;
    if let Some(token) = cookie(&headers, COOKIE) {
        let actor = visitor.actor();
        state
            .blocking(move |store| {
                store.close_session(&token)?;
                Ok(store.audit(&actor.0, "portal sign-out", None, "ok")?)
            })
            .await?;
    }
    let mut response = Redirect::to("/portal/login").into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(over_tls(&state, &headers), COOKIE, "", 0),
    );
    Ok(response)
}

/// Only paths of this portal are followed after signing in, never another site, and
/// only as printable text (it goes into a `Location` header).
fn safe_next(next: &str) -> &str {
    if next.starts_with("/portal") && next.chars().all(|c| c.is_ascii_graphic()) {
        next
    } else {
        "/portal"
    }
}
