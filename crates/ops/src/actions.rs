//! On-demand actions on one environment: users, batch jobs, broadcast messages, plans
//! and reconfiguration. Every change is audited; a change is refused while a refresh is
//! copying over the environment (its database is about to be replaced).

use crate::{Actor, EnvDb, Error, Result};
use dataalm_app::jobs::{Job, JobsChanged, JobsToSet};
use dataalm_app::users::{User, UserFilter, UsersChanged};
use dataalm_core::plan::Change;
use dataalm_core::{EnvKind, Environment, Location, OpState, Plan, Value};
use dataalm_store::Store;
use time::OffsetDateTime;

/// Opens an environment for reading.
fn read(store: &Store, env: &str) -> Result<EnvDb> {
    EnvDb::open(store, &store.env(env)?, true)
}

/// Opens an environment for a change, refused while a refresh runs on it.
fn write(store: &Store, env: &str) -> Result<EnvDb> {
    let environment = store.env(env)?;
    if let Some(op) = store.active_operation(env)?
        && op.state == OpState::Running
    {
        return Err(Error::Busy {
            env: env.to_owned(),
            op: op.id,
        });
    }
    EnvDb::open(store, &environment, false)
}

/// Records a change in the audit log, with its outcome, and passes the outcome on.
fn audited<T>(
    store: &Store,
    actor: &Actor,
    action: &str,
    env: &str,
    result: Result<T>,
) -> Result<T> {
    let outcome = match &result {
        Ok(_) => "ok".to_owned(),
        Err(error) => format!("refused: {error}"),
    };
    store.audit(&actor.0, action, Some(env), &outcome)?;
    result
}

pub fn list_users(store: &Store, env: &str, filter: &UserFilter) -> Result<Vec<User>> {
    let mut target = read(store, env)?;
    let profile = target.profile.clone();
    Ok(dataalm_app::users::list(target.db(), &profile, filter)?)
}

/// Every user of the environment as the bytes of an XLSX file (the CLI's export, edited,
/// can be uploaded again).
pub fn export_users(store: &Store, env: &str) -> Result<Vec<u8>> {
    let users = list_users(store, env, &UserFilter::default())?;
    Ok(dataalm_app::userlist::users_xlsx(&users)?)
}

/// Enables or disables users by id or e-mail: all of them, or none when any is unknown.
pub fn set_users_enabled(
    store: &Store,
    actor: &Actor,
    env: &str,
    ids_or_emails: &[String],
    enabled: bool,
) -> Result<UsersChanged> {
    let action = if enabled {
        "users enable"
    } else {
        "users disable"
    };
    let result = write(store, env).and_then(|mut target| {
        let profile = target.profile.clone();
        Ok(dataalm_app::users::set_enabled(
            target.db(),
            &profile,
            ids_or_emails,
            enabled,
        )?)
    });
    audited(store, actor, action, env, result)
}

pub fn list_jobs(store: &Store, env: &str, status: Option<&str>) -> Result<Vec<Job>> {
    let mut target = read(store, env)?;
    let profile = target.profile.clone();
    Ok(dataalm_app::jobs::list(target.db(), &profile, status)?)
}

pub fn set_jobs_status(
    store: &Store,
    actor: &Actor,
    env: &str,
    status: &str,
    jobs: JobsToSet,
) -> Result<JobsChanged> {
    let result = write(store, env).and_then(|mut target| {
        let profile = target.profile.clone();
        Ok(dataalm_app::jobs::set_status(
            target.db(),
            &profile,
            status,
            &jobs,
        )?)
    });
    audited(
        store,
        actor,
        &format!("jobs set-status {status}"),
        env,
        result,
    )
}

/// The environment's broadcast messages.
pub fn list_messages(store: &Store, env: &str) -> Result<Vec<dataalm_app::broadcast::Message>> {
    let mut target = read(store, env)?;
    let profile = target.profile.clone();
    Ok(dataalm_app::broadcast::list(target.db(), &profile)?)
}

/// Posts a broadcast message to the environment's signed-in users; returns its id.
pub fn post_message(
    store: &Store,
    actor: &Actor,
    env: &str,
    from: OffsetDateTime,
    to: OffsetDateTime,
    text: &str,
) -> Result<Value> {
    let result = write(store, env).and_then(|mut target| {
        let profile = target.profile.clone();
        Ok(dataalm_app::broadcast::add(
            target.db(),
            &profile,
            from,
            to,
            text,
            &actor.0,
        )?)
    });
    audited(store, actor, "message", env, result)
}

/// Checks a plan against the environment (unknown users, batch groups, parameters...)
/// and stores it.
pub fn set_plan(store: &Store, actor: &Actor, env: &str, text: &str) -> Result<Plan> {
    let result = diff_plan(store, env, text).and_then(|(plan, _)| {
        store.set_plan(env, text)?;
        Ok(plan)
    });
    audited(store, actor, "plan set", env, result)
}

/// Checks `text` as a plan for the environment and says what it would change there now;
/// nothing is changed or stored.
pub fn diff_plan(store: &Store, env: &str, text: &str) -> Result<(Plan, Vec<Change>)> {
    let plan = Plan::parse(text, &format!("for `{env}`"))?;
    let mut target = read(store, env)?;
    let profile = target.profile.clone();
    let changes = dataalm_app::reconfigure::diff(target.db(), &profile, &plan)?;
    Ok((plan, changes))
}

pub fn plan(store: &Store, env: &str) -> Result<Option<Plan>> {
    store
        .plan(env)?
        .map(|text| Plan::parse(&text, &format!("of `{env}`")).map_err(Error::from))
        .transpose()
}

/// Applies the environment's plan, or with `dry_run` only says what it would change.
/// Applying twice changes nothing the second time.
pub fn reconfigure(store: &Store, actor: &Actor, env: &str, dry_run: bool) -> Result<Vec<Change>> {
    let plan = plan(store, env)?.unwrap_or_default();
    if dry_run {
        let mut target = read(store, env)?;
        let profile = target.profile.clone();
        return Ok(dataalm_app::reconfigure::diff(
            target.db(),
            &profile,
            &plan,
        )?);
    }
    let result = write(store, env).and_then(|mut target| {
        let profile = target.profile.clone();
        Ok(dataalm_app::reconfigure::apply(
            target.db(),
            &profile,
            &plan,
        )?)
    });
    audited(store, actor, "reconfigure", env, result)
}

/// A new environment as a person or a client describes it.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewEnvironment {
    pub name: String,
    /// `production`, `sandbox`, `uat`...
    pub kind: String,
    pub sqlite: Option<std::path::PathBuf>,
    pub postgres: Option<String>,
    /// The name of a built-in or registered profile; `finance` when not given.
    pub profile: Option<String>,
    /// The application's base URL.
    pub url: Option<String>,
}

/// Registers an environment after checking what can be checked without its database:
/// the name, the kind, the location's form, the profile. Returns it and, when its
/// database cannot be reached yet (which does not stop the registration), why.
pub fn add_environment(
    store: &Store,
    actor: &Actor,
    new: NewEnvironment,
) -> Result<(Environment, Option<String>)> {
    dataalm_core::env::check_env_name(&new.name).map_err(Error::InvalidInput)?;
    let location = location_of(new.sqlite, new.postgres)?
        .ok_or_else(|| invalid("give exactly one of a SQLite path or a PostgreSQL URL"))?;
    let mut env = Environment {
        name: new.name,
        kind: EnvKind::Sandbox,
        location,
        profile: "finance".into(),
        url: None,
        settings: dataalm_core::EnvSettings {
            id: dataalm_core::env::new_guid(),
            ..Default::default()
        },
    };
    let changes = EnvChanges {
        kind: Some(new.kind),
        profile: Some(new.profile.unwrap_or_else(|| "finance".into())),
        url: new.url,
        ..EnvChanges::default()
    };
    apply_changes(store, &mut env, changes)?;
    let unreachable = check_identity(store, &env)?;
    let name = env.name.clone();
    audited(
        store,
        actor,
        "env add",
        &name,
        store.add_env(&env).map_err(Error::from),
    )?;
    Ok((env, unreachable))
}

/// What `env set` changes; every field left out stays as it is. The settings `env add`
/// takes, and those only `env set` gives.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvChanges {
    /// `production`, `sandbox`, `uat`...
    pub kind: Option<String>,
    pub sqlite: Option<std::path::PathBuf>,
    pub postgres: Option<String>,
    /// The name of a built-in or registered profile.
    pub profile: Option<String>,
    /// The application's base URL; empty removes it.
    pub url: Option<String>,
    /// `N/24h` (`s`, `m`, `h` or `d`), or `off`.
    pub throttle: Option<String>,
    /// An IANA time zone name (`Europe/Amsterdam`); `UTC` is the default.
    pub time_zone: Option<String>,
}

/// Changes an environment's settings (`env set`, the API's update, the portal). Where
/// its database is and what it is may not change while an operation holds it. Returns
/// it and, when a new location cannot be reached yet, why.
pub fn update_environment(
    store: &Store,
    actor: &Actor,
    name: &str,
    changes: EnvChanges,
) -> Result<(Environment, Option<String>)> {
    let result = (|| {
        let mut env = store.env(name)?;
        let moved = changes.sqlite.is_some() || changes.postgres.is_some();
        if (moved || changes.kind.is_some() || changes.profile.is_some())
            && let Some(op) = store.active_operation(name)?
        {
            return Err(Error::Store(dataalm_store::Error::EnvBusy {
                env: name.to_owned(),
                op: op.id,
            }));
        }
        if let Some(location) = location_of(changes.sqlite.clone(), changes.postgres.clone())? {
            env.location = location;
        }
        apply_changes(store, &mut env, changes)?;
        let unreachable = if moved {
            check_identity(store, &env)?
        } else {
            None
        };
        store.update_env(&env)?;
        Ok((env, unreachable))
    })();
    audited(store, actor, "env set", name, result)
}

fn invalid(message: impl Into<String>) -> Error {
    Error::InvalidInput(message.into())
}

/// The location given by a SQLite path or a PostgreSQL URL, if one is; both is an error.
fn location_of(
    sqlite: Option<std::path::PathBuf>,
    postgres: Option<String>,
) -> Result<Option<Location>> {
    match (sqlite, postgres) {
        (Some(path), None) => Ok(Some(Location::Sqlite(
            crate::identity::canonical_file(&path)
                .map_err(|e| invalid(format!("path {}: {e}", path.display())))?,
        ))),
        (None, Some(url)) => {
            let location = Location::Postgres(url);
            // A URL that cannot work is refused; one that cannot be reached yet is not.
            dataalm_engine::postgres::PgUrl::parse(&location)?;
            Ok(Some(location))
        }
        (None, None) => Ok(None),
        (Some(_), Some(_)) => Err(invalid(
            "give one of a SQLite path or a PostgreSQL URL, not both",
        )),
    }
}

/// Checks and applies the settings that need no database: kind, profile, URL, throttle,
/// time zone. The one place `env add` and `env set` validate them.
fn apply_changes(store: &Store, env: &mut Environment, changes: EnvChanges) -> Result<()> {
    if let Some(kind) = changes.kind {
        env.kind = kind.parse().map_err(Error::InvalidInput)?;
    }
    if let Some(profile) = changes.profile {
        // A name only: a path is refused before anything looks at it (the CLI registers a
        // file first), so no caller can make the server read one.
        dataalm_core::profile::check_profile_name(&profile).map_err(Error::InvalidInput)?;
        store.stored_profile(&profile).map_err(|e| match e {
            dataalm_store::Error::UnknownProfile { .. } => invalid(e.to_string()),
            other => other.into(),
        })?;
        env.profile = profile;
    }
    if let Some(url) = changes.url {
        env.url = Some(url).filter(|url| !url.trim().is_empty());
    }
    if let Some(throttle) = changes.throttle {
        env.settings.throttle = match throttle.trim() {
            "off" | "none" | "" => None,
            limit => Some(limit.parse().map_err(Error::InvalidInput)?),
        };
    }
    if let Some(zone) = changes.time_zone {
        dataalm_core::zone::check(&zone).map_err(Error::InvalidInput)?;
        env.settings.time_zone = Some(zone).filter(|zone| zone != dataalm_core::zone::DEFAULT);
    }
    Ok(())
}

/// Refuses a location that is the database of another environment; says why it cannot
/// be reached yet, if it cannot (which does not stop a registration).
fn check_identity(store: &Store, env: &Environment) -> Result<Option<String>> {
    let probed =
        dataalm_engine::engine_for(&env.location).and_then(|engine| engine.probe(&env.location));
    match probed {
        Ok(info) => {
            crate::identity::refuse_alias(store, env, &info.identity, None)?;
            Ok(None)
        }
        Err(e) => Ok(Some(e.to_string())),
    }
}

/// An environment as interfaces show it: the location redacted, never a password.
pub fn environment_view(env: &Environment) -> serde_json::Value {
    serde_json::json!({
        "name": env.name,
        "kind": env.kind,
        "engine": env.location.engine_name(),
        "location": env.location.redacted(),
        "profile": env.profile,
        "url": env.url,
        "id": env.settings.id,
        "throttle": env.settings.throttle.map(|t| t.to_string()),
        "time_zone": env.settings.time_zone.as_deref().unwrap_or(dataalm_core::zone::DEFAULT),
    })
}

/// Forgets `env`'s mask key (`dataalm env set ENV --rotate-mask-key`): its next masked
/// refresh makes a new one, so every pseudonym changes. Refused while a refresh runs on
/// it (its copy is being masked with the key). Audited; whether there was a key.
pub fn rotate_mask_key(store: &Store, actor: &Actor, env: &str) -> Result<bool> {
    let result = (|| {
        if let Some(op) = store.active_operation(env)?
            && op.state == OpState::Running
        {
            return Err(Error::Busy {
                env: env.to_owned(),
                op: op.id,
            });
        }
        Ok(store.rotate_mask_key(env)?)
    })();
    audited(store, actor, "mask key rotated", env, result)
}
