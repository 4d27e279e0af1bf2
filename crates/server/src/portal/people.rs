//! The people page: admins see the portal's accounts and disable, enable or delete them,
//! set a password or end their sessions. Each action is a POST with the session's CSRF
//! token, audited as `person:NAME`, and refused by the store for the last enabled admin.

use super::{Flash, Page, PageError, Visitor, back, render};
use crate::error::ApiError;
use crate::state::AppState;
use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use dataalm_core::access::Role;
use dataalm_store::{Person, Store};

#[derive(Template)]
#[template(path = "people.html")]
struct PeoplePage {
    page: Page,
    people: Vec<Person>,
}

pub async fn list(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(flash): Query<Flash>,
) -> Result<Response, PageError> {
    visitor.require(Role::Admin)?;
    let people = state.blocking(|store| Ok(store.people()?)).await?;
    let page = Page::new("People", &visitor, flash);
    Ok(render(&PeoplePage { page, people }))
}

/// `POST /portal/people/{name}/{action}`.
pub async fn act(
    State(state): State<AppState>,
    visitor: Visitor,
    Path((name, action)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, PageError> {
    let form = visitor.form(&body, Role::Admin)?;
    let password = form.get("password").to_owned();
    let actor = visitor.actor();
    let outcome = state
        .blocking(move |store| {
            let said = change(store, &name, &action, &password)?;
            store.audit(&actor.0, &format!("portal account {action}"), None, &name)?;
            Ok(said)
        })
        .await
        .map_err(|e: ApiError| e.message);
    Ok(back("/portal/people", outcome))
}

/// Carries out one action; says what was done.
fn change(store: &Store, name: &str, action: &str, password: &str) -> Result<String, ApiError> {
    let refused = |e: dataalm_store::Error| ApiError::bad_request(e.to_string());
    match action {
        "disable" => store.set_person_enabled(name, false).map_err(refused)?,
        "enable" => store.set_person_enabled(name, true).map_err(refused)?,
        "delete" => {
            store.delete_person(name).map_err(refused)?;
            return Ok(format!("deleted {name} and their sessions"));
        }
        "set-password" => {
            store.set_person_password(name, password).map_err(refused)?;
            return Ok(format!("set the password of {name}; their sessions ended"));
        }
        "end-sessions" => {
            let ended = store.end_sessions(name).map_err(refused)?;
            return Ok(format!("ended {ended} session(s) of {name}"));
        }
        other => {
            return Err(ApiError::bad_request(format!("unknown action `{other}`")));
        }
    };
    Ok(format!("{action}d {name}"))
}
