//! Operations on environments, as the CLI and the service run them.
//!
//! - [`refresh`] drives a refresh through its steps (one module per step), journaling
//!   each before and after in the control plane, and resumes, rolls back and signs off.
//! - [`actions`] are the on-demand commands on one environment: users, batch jobs,
//!   broadcast messages, plans and reconfiguration. Each is audited.
//!
//! Interfaces (CLI, REST, portal) only parse input and print results; the rules live here.

pub mod actions;
pub use dataalm_core::failpoint;
pub mod identity;
pub mod masking;
pub mod refresh;
pub mod throttle;

use dataalm_core::profile::ProfileError;
use dataalm_core::{EnvKind, Environment, Profile};
use dataalm_engine::{Database, Engine};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] dataalm_store::Error),
    #[error(transparent)]
    Engine(#[from] dataalm_engine::Error),
    #[error(transparent)]
    App(#[from] dataalm_app::Error),
    #[error(transparent)]
    Profile(#[from] ProfileError),
    #[error(transparent)]
    Plan(#[from] dataalm_core::plan::PlanError),
    #[error(transparent)]
    Time(#[from] dataalm_core::when::TimeError),
    #[error("`{0}` is a production environment: production is never a refresh target")]
    ProductionTarget(String),
    #[error("source and target are the same environment `{0}`")]
    SameEnvironment(String),
    #[error(
        "`{env}` is the same database as {other_kind} environment `{other}`, under another name: a database is registered once, so production can never be a target under a second name"
    )]
    SameDatabase {
        env: String,
        other: String,
        other_kind: EnvKind,
    },
    #[error(
        "cannot refresh {target_engine} environment `{target}` from {source_engine} environment `{source_env}`"
    )]
    EngineMismatch {
        source_env: String,
        source_engine: String,
        target: String,
        target_engine: String,
    },
    #[error("operation {op} is {state}, not awaiting sign-off")]
    NotAwaitingSignOff { op: String, state: String },
    #[error("operation {op} is already finished ({state})")]
    Finished { op: String, state: String },
    #[error(
        "operation {op} was cancelled by {by}: the staging copy was dropped and the target is as it was"
    )]
    Cancelled { op: String, by: String },
    #[error(
        "operation {op} has already replaced the target ({state}), which a cancel cannot undo: roll it back instead, `dataalm rollback {op}`"
    )]
    AfterCutover { op: String, state: String },
    #[error(
        "operation {op} is being worked on by {runner} (host:pid); wait for it, or stop that process: its lease then lapses within {lease_secs} s"
    )]
    StillRunning {
        op: String,
        runner: String,
        lease_secs: u64,
    },
    #[error(
        "environment `{env}` is being refreshed by operation {op}; try again when it awaits sign-off"
    )]
    Busy { env: String, op: String },
    #[error("{0}")]
    InvalidInput(String),
    #[error(
        "environment `{env}` is throttled to {throttle} (operations that change it, in a rolling window): the next one may start at {} (in {})",
        dataalm_core::when::format(*opens_at),
        wait_text(*wait_secs)
    )]
    Throttled {
        env: String,
        throttle: dataalm_core::Throttle,
        opens_at: time::OffsetDateTime,
        /// Seconds until then, at least one (`Retry-After`).
        wait_secs: u64,
    },
    #[error("{step} failed: {message}")]
    StepFailed { step: String, message: String },
    #[error(
        "operation {op} is not taken over again: its runner died or lost its lease {count} times in a row at {step}; find out why (the servers' logs), then resume it explicitly or roll it back"
    )]
    TakeoverLimit {
        op: String,
        step: String,
        count: u32,
    },
    #[error(
        "dataalm stopped in {step} on an internal error (a panic: {message}); please report it"
    )]
    Panicked { step: String, message: String },
    #[error("environment `{env}` uses profile `{profile}`, which has no {section}")]
    NotInProfile {
        env: String,
        profile: String,
        section: &'static str,
    },
}

/// `3h 05m`, `12m 30s`: a wait as people read it.
fn wait_text(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    if h > 0 {
        format!("{h}h {m:02}m")
    } else {
        format!("{m}m {s:02}s")
    }
}

/// An environment's database, opened with its profile.
pub struct EnvDb {
    pub env: Environment,
    pub profile: Profile,
    pub engine: &'static dyn Engine,
    pub db: Box<dyn Database>,
}

impl EnvDb {
    /// Opens an environment's database with the profile registered under the name the
    /// environment gives.
    pub fn open(store: &dataalm_store::Store, env: &Environment, read_only: bool) -> Result<EnvDb> {
        let profile = store.load_profile(&env.profile)?;
        EnvDb::with_profile(env, profile, read_only)
    }

    /// Opens an environment's database with a profile already loaded (a refresh loads
    /// the target's once, so every step applies the same one).
    pub fn with_profile(env: &Environment, profile: Profile, read_only: bool) -> Result<EnvDb> {
        let engine = dataalm_engine::engine_for(&env.location)?;
        let db = engine.open(&env.location, read_only)?;
        Ok(EnvDb {
            env: env.clone(),
            profile,
            engine,
            db,
        })
    }

    pub fn db(&mut self) -> &mut dyn Database {
        self.db.as_mut()
    }
}

/// Who is acting, for the audit log: a CLI user, an app registration, a portal account.
#[derive(Debug, Clone)]
pub struct Actor(pub String);

impl Actor {
    /// The person running the CLI.
    pub fn local() -> Actor {
        let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
        Actor(format!("cli:{user}"))
    }
}
