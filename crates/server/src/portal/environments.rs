//! The environments overview, and one environment's page: users, batch jobs, broadcast
//! messages, the reconfiguration plan and the refresh history, with their forms.

use super::form::{FormData, encode};
use super::{Flash, Page, PageError, Visitor, back, render};
use crate::error::ApiError;
use crate::state::AppState;
use askama::Template;
use axum::body::Bytes;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use dataalm_app::jobs::JobsToSet;
use dataalm_app::users::UserFilter;
use dataalm_core::access::Role;
use dataalm_core::plan::Change;
use dataalm_core::{Environment, when};
use dataalm_ops::actions;
use dataalm_ops::refresh::{display_state, validate::human_bytes};
use dataalm_store::Store;
use serde::Deserialize;
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

// ---------------------------------------------------------------------------------------
// Overview
// ---------------------------------------------------------------------------------------

/// One line of the overview.
pub struct EnvRow {
    pub name: String,
    pub kind: String,
    pub engine: String,
    pub size: String,
    pub last_refresh: String,
    pub state: String,
    pub op: String,
}

#[derive(Template)]
#[template(path = "environments.html")]
struct OverviewPage {
    page: Page,
    envs: Vec<EnvRow>,
}

pub async fn overview(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(flash): Query<Flash>,
) -> Result<Response, PageError> {
    let envs = state
        .blocking(|store| {
            let envs = store.envs()?;
            let sizes = sizes(&envs);
            Ok(envs
                .iter()
                .zip(sizes)
                .map(|(e, size)| env_row(store, e, size))
                .collect())
        })
        .await?;
    let page = Page::new("Environments", &visitor, flash);
    Ok(render(&OverviewPage { page, envs }))
}

/// Each environment's database size, probed side by side: an unreachable server costs
/// its connect timeout once, not once per environment. One that cannot be reached still
/// gets its line, saying so.
fn sizes(envs: &[Environment]) -> Vec<String> {
    let probe = |env: &Environment| {
        dataalm_engine::engine_for(&env.location)
            .and_then(|engine| engine.probe(&env.location))
            .map_or_else(
                |_| "unreachable".to_owned(),
                |info| human_bytes(info.size_bytes),
            )
    };
    std::thread::scope(|scope| {
        let probes: Vec<_> = envs.iter().map(|e| scope.spawn(move || probe(e))).collect();
        probes
            .into_iter()
            .map(|p| p.join().unwrap_or_else(|_| "unknown".to_owned()))
            .collect()
    })
}

fn env_row(store: &Store, env: &Environment, size: String) -> EnvRow {
    let last = store.latest_operation(&env.name).ok().flatten();
    EnvRow {
        name: env.name.clone(),
        kind: env.kind.as_str().to_owned(),
        engine: env.location.engine_name().to_owned(),
        size,
        last_refresh: last
            .as_ref()
            .map_or_else(|| "never".to_owned(), |op| when::format(op.created_at)),
        state: last.as_ref().map_or_else(String::new, display_state),
        op: last.map(|op| op.id).unwrap_or_default(),
    }
}

// ---------------------------------------------------------------------------------------
// One environment
// ---------------------------------------------------------------------------------------

pub struct UserRow {
    pub id: String,
    pub name: String,
    pub email: String,
    pub enabled: bool,
}

pub struct JobRow {
    pub id: String,
    pub name: String,
    pub status: String,
}

pub struct MessageRow {
    pub from: String,
    pub to: String,
    pub text: String,
}

pub struct OpRow {
    pub id: String,
    pub source: String,
    pub started: String,
    pub state: String,
}

#[derive(Template)]
#[template(path = "environment.html")]
struct EnvironmentPage {
    page: Page,
    env: String,
    kind: String,
    engine: String,
    location: String,
    /// The GUID, throttle and time zone (`env set`).
    env_id: String,
    throttle: String,
    time_zone: String,
    query: EnvQuery,
    users: Vec<UserRow>,
    enabled_count: usize,
    jobs: Vec<JobRow>,
    statuses: Vec<String>,
    messages: Vec<MessageRow>,
    plan: String,
    /// The dry run's changes, when the plan form asked for one.
    changes: Option<Vec<String>>,
    history: Vec<OpRow>,
    /// What could not be read (the database is unreachable, say), in words.
    problems: Vec<String>,
}

/// The page's filters, and the outcome of the last form.
#[derive(Debug, Default, Deserialize, Clone)]
pub struct EnvQuery {
    /// Search in users' id, name and e-mail.
    #[serde(default)]
    pub q: String,
    /// `enabled`, `disabled` or anything else for all.
    #[serde(default)]
    pub show: String,
    /// Only jobs in this status.
    #[serde(default)]
    pub job_status: String,
    #[serde(default)]
    pub notice: String,
    #[serde(default)]
    pub error: String,
}

pub async fn show(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(env): Path<String>,
    Query(query): Query<EnvQuery>,
) -> Result<Response, PageError> {
    let page = environment_page(&state, &visitor, env, query, None).await?;
    Ok(render(&page))
}

async fn environment_page(
    state: &AppState,
    visitor: &Visitor,
    env: String,
    query: EnvQuery,
    changes: Option<Vec<String>>,
) -> Result<EnvironmentPage, PageError> {
    let flash = Flash {
        notice: query.notice.clone(),
        error: query.error.clone(),
    };
    let page = Page::new(&env, visitor, flash);
    let page = state
        .blocking(move |store| {
            let environment = store.env(&env)?;
            let mut problems = Vec::new();
            let filter = UserFilter {
                enabled: match query.show.as_str() {
                    "enabled" => Some(true),
                    "disabled" => Some(false),
                    _ => None,
                },
                search: Some(query.q.clone()).filter(|q| !q.is_empty()),
            };
            let users = or_problem(
                &mut problems,
                "users",
                actions::list_users(store, &env, &filter),
            );
            let status = Some(query.job_status.as_str()).filter(|s| !s.is_empty());
            let jobs = or_problem(
                &mut problems,
                "batch jobs",
                actions::list_jobs(store, &env, status),
            );
            let messages = or_problem(
                &mut problems,
                "messages",
                actions::list_messages(store, &env),
            );
            let history = store.operations(Some(&env))?;
            let plan = store.plan(&env)?.unwrap_or_default();
            let statuses = store
                .load_profile(&environment.profile)
                .ok()
                .and_then(|p| p.batch_jobs)
                .map(|jobs| jobs.statuses.keys().cloned().collect())
                .unwrap_or_default();
            Ok(EnvironmentPage {
                page,
                kind: environment.kind.as_str().to_owned(),
                engine: environment.location.engine_name().to_owned(),
                location: environment.location.redacted(),
                env_id: environment.settings.id.clone(),
                throttle: environment
                    .settings
                    .throttle
                    .map_or_else(|| "off".to_owned(), |t| t.to_string()),
                time_zone: environment
                    .settings
                    .time_zone
                    .clone()
                    .unwrap_or_else(|| dataalm_core::zone::DEFAULT.to_owned()),
                enabled_count: users.iter().filter(|u| u.enabled).count(),
                users: users
                    .into_iter()
                    .map(|u| UserRow {
                        id: u.id,
                        name: u.name.unwrap_or_default(),
                        email: u.email,
                        enabled: u.enabled,
                    })
                    .collect(),
                jobs: jobs
                    .into_iter()
                    .map(|j| JobRow {
                        id: j.id.to_string(),
                        name: j.name.unwrap_or_default(),
                        status: j.status,
                    })
                    .collect(),
                statuses,
                messages: messages
                    .into_iter()
                    .map(|m| MessageRow {
                        from: m.from,
                        to: m.to,
                        text: m.text,
                    })
                    .collect(),
                plan,
                changes,
                history: history
                    .iter()
                    .map(|op| OpRow {
                        id: op.id.clone(),
                        source: op.source.clone(),
                        started: when::format(op.created_at),
                        state: display_state(op),
                    })
                    .collect(),
                problems,
                env,
                query,
            })
        })
        .await?;
    Ok(page)
}

/// What was read, or nothing and the problem noted: one unreadable part (a profile with
/// no batch jobs, a database that is down) does not hide the rest of the page.
fn or_problem<T>(
    problems: &mut Vec<String>,
    what: &str,
    result: dataalm_ops::Result<Vec<T>>,
) -> Vec<T> {
    result.unwrap_or_else(|e| {
        problems.push(format!("{what}: {e}"));
        Vec::new()
    })
}

fn env_path(env: &str) -> String {
    format!("/portal/env/{}", encode(env))
}

/// The environment's page again, showing how the change went.
fn outcome<T>(
    env: &str,
    anchor: &str,
    result: Result<T, ApiError>,
    said: impl FnOnce(T) -> String,
) -> Response {
    let path = format!("{}#{anchor}", env_path(env));
    back(&path, result.map(said).map_err(|e| e.message))
}

/// Changes the throttle and the time zone (admins), as `env set` does.
pub async fn settings(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(env): Path<String>,
    body: Bytes,
) -> Result<Response, PageError> {
    let form = visitor.form(&body, Role::Admin)?;
    let changes = actions::EnvChanges {
        throttle: Some(form.get("throttle").to_owned()),
        time_zone: Some(form.get("time_zone").to_owned()).filter(|zone| !zone.trim().is_empty()),
        ..actions::EnvChanges::default()
    };
    let actor = visitor.actor();
    let target = env.clone();
    let result = state
        .blocking(move |store| {
            Ok(actions::update_environment(
                store, &actor, &target, changes,
            )?)
        })
        .await;
    Ok(outcome(&env, "settings", result, |_| {
        "settings saved".to_owned()
    }))
}

/// Enables or disables the users ticked in the list.
pub async fn set_users(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(env): Path<String>,
    body: Bytes,
) -> Result<Response, PageError> {
    let form = visitor.form(&body, Role::Operator)?;
    let enable = form.get("action") == "enable";
    let users = form.all("user");
    let actor = visitor.actor();
    let target = env.clone();
    let result = state
        .blocking(move |store| {
            if users.is_empty() {
                return Err(ApiError::bad_request("tick at least one user"));
            }
            Ok(actions::set_users_enabled(
                store, &actor, &target, &users, enable,
            )?)
        })
        .await;
    let verb = if enable { "enabled" } else { "disabled" };
    Ok(outcome(&env, "users", result, |done| {
        format!(
            "{verb} {} user(s); {} already were",
            done.changed.len(),
            done.already.len()
        )
    }))
}

/// Enables every user listed in an uploaded CSV or XLSX file: all of them or none.
pub async fn upload_users(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(env): Path<String>,
    mut multipart: Multipart,
) -> Result<Response, PageError> {
    let mut csrf = String::new();
    let mut file: Option<(String, Bytes)> = None;
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| ApiError::bad_request(format!("cannot read the upload: {e}")))?
    {
        let name = field.name().unwrap_or_default().to_owned();
        let file_name = field.file_name().unwrap_or_default().to_lowercase();
        let bytes = field
            .bytes()
            .await
            .map_err(|e| ApiError::bad_request(format!("cannot read the upload: {e}")))?;
        match name.as_str() {
            "csrf" => csrf = String::from_utf8_lossy(&bytes).into_owned(),
            "file" => file = Some((file_name, bytes)),
            _ => {}
        }
    }
    visitor.check_csrf(&csrf)?;
    visitor.require(Role::Operator)?;
    let actor = visitor.actor();
    let target = env.clone();
    let result = state
        .blocking(move |store| {
            let Some((file_name, bytes)) = file.filter(|(_, b)| !b.is_empty()) else {
                return Err(ApiError::bad_request("choose a CSV or XLSX file of users"));
            };
            let users = dataalm_app::userlist::parse_user_list(&file_name, &bytes)
                .map_err(|e| ApiError::bad_request(format!("cannot read {file_name}: {e}")))?;
            Ok(actions::set_users_enabled(
                store, &actor, &target, &users, true,
            )?)
        })
        .await;
    Ok(outcome(&env, "users", result, |done| {
        format!(
            "enabled {} user(s) from the file; {} already were",
            done.changed.len(),
            done.already.len()
        )
    }))
}

/// Every user as a spreadsheet, to edit and upload again.
pub async fn users_xlsx(
    State(state): State<AppState>,
    _visitor: Visitor,
    Path(env): Path<String>,
) -> Result<Response, PageError> {
    let file_name = format!("{env}-users.xlsx");
    let bytes = state
        .blocking(move |store| Ok(actions::export_users(store, &env)?))
        .await?;
    let kind = dataalm_app::userlist::XLSX_CONTENT_TYPE;
    let disposition = format!("attachment; filename=\"{}\"", file_name.replace('"', ""));
    Ok((
        [
            (header::CONTENT_TYPE, kind.to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        bytes,
    )
        .into_response())
}

/// Sets the status of the ticked jobs, or of every withheld one.
pub async fn set_jobs(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(env): Path<String>,
    body: Bytes,
) -> Result<Response, PageError> {
    let form = visitor.form(&body, Role::Operator)?;
    let status = form.get("status").to_owned();
    let jobs = if form.get("scope") == "withheld" {
        JobsToSet::AllWithheld
    } else {
        JobsToSet::Ids(form.all("job").into_iter().map(Into::into).collect())
    };
    let actor = visitor.actor();
    let target = env.clone();
    let said_status = status.clone();
    let result = state
        .blocking(move |store| {
            if matches!(&jobs, JobsToSet::Ids(ids) if ids.is_empty()) {
                return Err(ApiError::bad_request(
                    "tick at least one job, or choose all withheld jobs",
                ));
            }
            Ok(actions::set_jobs_status(
                store, &actor, &target, &status, jobs,
            )?)
        })
        .await;
    Ok(outcome(&env, "jobs", result, |done| {
        format!("{} job(s) set to {said_status}", done.changed.len())
    }))
}

/// Posts a broadcast message. The times are typed in the person's time zone; the page's
/// script sends each one's offset from UTC (for that date, so summer time is right).
pub async fn message(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(env): Path<String>,
    body: Bytes,
) -> Result<Response, PageError> {
    let form = visitor.form(&body, Role::Operator)?;
    let from = local_time("valid from", form.get("from"), form.get("from_offset"));
    let to = local_time("valid to", form.get("to"), form.get("to_offset"));
    let text = form.get("text").to_owned();
    let actor = visitor.actor();
    let target = env.clone();
    let result = state
        .blocking(move |store| {
            let (from, to) = (from?, to?);
            if to <= from {
                return Err(ApiError::bad_request(
                    "`valid to` must be after `valid from`",
                ));
            }
            let id = actions::post_message(store, &actor, &target, from, to, &text)?;
            Ok((id, from, to))
        })
        .await;
    Ok(outcome(&env, "messages", result, |(id, from, to)| {
        format!(
            "message {id} posted, shown from {} to {} (UTC)",
            when::format(from),
            when::format(to)
        )
    }))
}

/// A `datetime-local` value (`2026-11-26T09:30`) in a zone `offset_minutes` east of UTC.
fn local_time(field: &str, value: &str, offset_minutes: &str) -> Result<OffsetDateTime, ApiError> {
    let bad = |why: String| ApiError::bad_request(format!("`{field}`: {why}"));
    if value.is_empty() {
        return Err(bad("give a date and time".into()));
    }
    let format = time::macros::format_description!(
        version = 2,
        "[year]-[month]-[day]T[hour]:[minute][optional [:[second]]]"
    );
    let local = PrimitiveDateTime::parse(value, &format)
        .map_err(|e| bad(format!("`{value}` is not a date and time ({e})")))?;
    let minutes: i32 = if offset_minutes.is_empty() {
        0
    } else {
        offset_minutes
            .parse()
            .map_err(|_| bad(format!("`{offset_minutes}` is not an offset in minutes")))?
    };
    let offset = UtcOffset::from_whole_seconds(minutes * 60)
        .map_err(|e| bad(format!("offset {minutes} min: {e}")))?;
    Ok(local.assume_offset(offset).to_offset(UtcOffset::UTC))
}

/// Saves the plan, shows what the plan in the box would change (dry run), or applies the
/// saved plan now.
pub async fn plan(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(env): Path<String>,
    body: Bytes,
) -> Result<Response, PageError> {
    let action = FormData::parse(&body).get("action").to_owned();
    let needed = if action == "save" {
        Role::Admin
    } else {
        Role::Operator
    };
    let form = visitor.form(&body, needed)?;
    let text = form.get("plan").to_owned();
    let actor = visitor.actor();
    let target = env.clone();
    if action == "dry_run" {
        let posted = text.clone();
        let diff = state
            .blocking(move |store| {
                let saved = store.plan(&target)?.unwrap_or_default();
                let (_, changes) = actions::diff_plan(store, &target, &posted)?;
                Ok((changes, saved.trim() != posted.trim()))
            })
            .await;
        let (changes, query) = match diff {
            Ok((changes, unsaved)) => {
                let notice = if unsaved {
                    "dry run of the plan in the box, which is not saved".to_owned()
                } else {
                    String::new()
                };
                let changes = changes.iter().map(Change::to_string).collect();
                (
                    Some(changes),
                    EnvQuery {
                        notice,
                        ..EnvQuery::default()
                    },
                )
            }
            Err(e) => (
                None,
                EnvQuery {
                    error: e.message,
                    ..EnvQuery::default()
                },
            ),
        };
        let mut page = environment_page(&state, &visitor, env, query, changes).await?;
        // The box keeps what the person typed.
        page.plan = text;
        return Ok(render(&page));
    }
    let result = state
        .blocking(move |store| match action.as_str() {
            "save" => {
                actions::set_plan(store, &actor, &target, &text)?;
                Ok("plan saved".to_owned())
            }
            "apply" => {
                let saved = store.plan(&target)?.unwrap_or_default();
                if saved.trim() != text.trim() {
                    return Err(ApiError::bad_request(
                        "the plan in the box is not the saved one: save it first (admins), or reload the page",
                    ));
                }
                let changes = actions::reconfigure(store, &actor, &target, false)?;
                Ok(format!("plan applied: {} change(s)", changes.len()))
            }
            other => Err(ApiError::bad_request(format!("unknown plan action `{other}`"))),
        })
        .await;
    Ok(outcome(&env, "plan", result, |said| said))
}
