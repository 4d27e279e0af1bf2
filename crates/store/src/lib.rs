//! The control plane: where dataalm keeps environments, reconfiguration plans, the
//! journal of operations and the audit log.
//!
//! It lives in one SQLite file, `control.db` under the home directory (`--home`,
//! `$DATAALM_HOME`, else `./.dataalm`), or in a PostgreSQL database (`--store
//! postgres://...`), which several servers can share. The journal is the truth about an
//! operation: each step is written before and after it runs, so a crashed refresh can be
//! resumed or rolled back from what is here.
//!
//! **Invariants:** at most one active operation (running, failed or awaiting sign-off)
//! per target environment: a unique partial index enforces it, so two processes racing
//! to refresh the same target cannot both win. At most one process runs an operation's
//! steps: it holds the operation's [`lease`].
//!
//! It also keeps the REST service's app registrations and token signing key (`apps`),
//! and people's refresh tokens (`grants`).
//! That key and environments' passwords are kept encrypted under a key that is not here
//! ([`sealed`]).

mod apps;
mod backend;
mod grants;
pub mod lease;
mod mask_keys;
mod people;
mod profiles;
pub mod sealed;
mod secrets;

pub use apps::AppRegistration;
pub use grants::Redeemed;
pub use people::{Person, Session};
pub use profiles::{Registered, StoredProfile, read_profile_file};
pub use sealed::{KeySource, use_home};
pub use secrets::random_token;

use backend::{Cells, Conn};
use dataalm_core::{Environment, Lease, Location, Operation, Step, StepStatus, Value};
use sealed::Sealer;
use std::path::Path;
use time::OffsetDateTime;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot open the control plane at {path}: {message}")]
    Open { path: String, message: String },
    #[error("control plane: {0}")]
    Db(#[from] dataalm_engine::Error),
    #[error("control plane: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("control plane holds a damaged record: {0}")]
    Corrupt(String),
    #[error("environment `{0}` already exists")]
    EnvExists(String),
    #[error("no environment named `{0}` (see `dataalm env list`)")]
    UnknownEnv(String),
    #[error(
        "environment `{env}` has operation {op} in progress: sign it off or roll it back first"
    )]
    EnvBusy { env: String, op: String },
    #[error("a refresh of `{target}` is already in progress: operation {op} ({state})")]
    TargetBusy {
        target: String,
        op: String,
        state: String,
    },
    #[error("no operation with id `{0}` (see `dataalm history`)")]
    UnknownOperation(String),
    #[error("{}", lease_lost(.op, .runner.as_deref()))]
    LeaseLost { op: String, runner: Option<String> },
    #[error("{}", unknown_envs(.0))]
    UnknownEnvs(Vec<String>),
    #[error("invalid app registration: {0}")]
    InvalidApp(String),
    #[error("invalid portal account: {0}")]
    InvalidPerson(String),
    #[error("a portal account named `{0}` already exists")]
    PersonExists(String),
    #[error("no portal account named `{0}` (see `dataalm admin list-users`)")]
    UnknownPerson(String),
    #[error("the account `{0}` is disabled: ask an admin to enable it")]
    PersonDisabled(String),
    #[error(
        "`{0}` is the last enabled admin: nobody could manage the portal's accounts any more; make another admin first"
    )]
    LastAdmin(String),
    #[error("an app named `{0}` is already registered: revoke it or choose another name")]
    AppExists(String),
    #[error("no app registration with client id or name `{0}`")]
    UnknownApp(String),
    #[error("app `{name}` ({client_id}) is already revoked")]
    AppRevoked { name: String, client_id: String },
    /// Unknown client id, revoked app or wrong secret: deliberately not told apart.
    #[error("bad client credentials")]
    BadCredentials,
    #[error("cannot hash the secret: {0}")]
    Hash(String),
    #[error("no secure random numbers from the operating system: {0}")]
    Random(String),
    #[error("the control plane's secrets were encrypted with another key: {0}")]
    WrongSecretKey(String),
    #[error("the control plane's secrets are encrypted and their key is missing: {0}")]
    MissingSecretKey(String),
    #[error("invalid secret key: {0}")]
    InvalidSecretKey(String),
    #[error("cannot read or make the secret key file {path}: {message}")]
    SecretKeyFile { path: String, message: String },
    #[error(transparent)]
    Profile(#[from] dataalm_core::profile::ProfileError),
    #[error("cannot read profile file {path}: {message}")]
    ProfileFile { path: String, message: String },
    #[error("{0}")]
    InvalidProfileName(String),
    #[error(
        "a different profile is already registered as `{0}`: registered profiles never change, so choose another name"
    )]
    ProfileExists(String),
    #[error("unknown profile {name} (registered: {})", registered.join(", "))]
    UnknownProfile {
        name: String,
        registered: Vec<String>,
    },
    #[error(
        "the environment names profile file {0}, as dataalm did before profiles were registered, and the file could not be registered when the control plane was upgraded: register it with `dataalm profile add NAME {0}`, which points the environments naming that file at NAME"
    )]
    UnregisteredProfileFile(String),
}

fn unknown_envs(names: &[String]) -> String {
    let list = names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let noun = if names.len() == 1 {
        "environment"
    } else {
        "environments"
    };
    format!("no {noun} named {list} (see `dataalm env list`)")
}

fn lease_lost(op: &str, runner: Option<&str>) -> String {
    let holder = match runner {
        Some(runner) => format!("is now held by {runner}"),
        None => "was released".to_owned(),
    };
    format!(
        "operation {op}: this process no longer holds its lease (it {holder}) and stops working on it"
    )
}

/// The longest name accepted for an app or a person; names are shown in lists and the
/// audit log.
const MAX_NAME_LEN: usize = 100;

/// Names are for people to read: not empty, no surrounding blanks or control characters,
/// and not shaped like a client id, so `revoke_app` can never mistake one for the other.
/// The problem, in words, when the name will not do.
fn check_name(name: &str) -> Result<(), String> {
    let problem = if name.trim().is_empty() {
        "the name is empty"
    } else if name.trim() != name {
        "the name starts or ends with blanks"
    } else if name.chars().any(char::is_control) {
        "the name holds control characters"
    } else if name.chars().count() > MAX_NAME_LEN {
        "the name is longer than 100 characters"
    } else if uuid::Uuid::parse_str(name).is_ok() {
        "the name looks like a client id"
    } else {
        return Ok(());
    };
    Err(format!("{problem}: `{}`", name.escape_debug()))
}

/// Whether an error is a unique index refusing a row.
fn is_duplicate(error: &Error) -> bool {
    matches!(error, Error::Db(dataalm_engine::Error::Duplicate { .. }))
}

/// One entry of the audit log.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AuditEntry {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub env: Option<String>,
    pub result: String,
}

/// A connection to the control plane.
pub struct Store {
    conn: Conn,
    location: Location,
    /// Seals and opens the secrets kept here (`sealed.rs`).
    sealer: Sealer,
}

/// The columns of an operation as [`read_operation`] reads them.
const OPERATION_COLUMNS: &str = "body, runner, lease_until - {now}, activity_id";

impl Store {
    /// Opens the control plane in `control.db` under `home`, creating it on first use.
    pub fn open(home: &Path) -> Result<Store> {
        Store::connect(&Store::in_home(home))
    }

    /// Where the control plane of `home` is when no other place is given.
    pub fn in_home(home: &Path) -> Location {
        Location::Sqlite(home.join("control.db"))
    }

    /// Opens the control plane at `location`: a SQLite file (created on first use) or a
    /// PostgreSQL database (its tables created in schema `dataalm` on first use). Its
    /// secrets are sealed with the key of [`Store::key_source`].
    pub fn connect(location: &Location) -> Result<Store> {
        Store::connect_with_key(location, Store::key_source(location))
    }

    /// Opens the control plane at `location` with the secret key from `key`. Secrets an
    /// older dataalm kept in the clear are encrypted now.
    pub fn connect_with_key(location: &Location, key: KeySource) -> Result<Store> {
        let store = Store {
            conn: Conn::open(location)?,
            location: location.clone(),
            sealer: Sealer::new(key),
        };
        store.seal_plain_secrets()?;
        if store.conn.upgraded() {
            store.adopt_profile_files()?;
            store.give_guids()?;
        }
        Ok(store)
    }

    /// Where the key of the control plane at `location` comes from: `DATAALM_SECRET_KEY`,
    /// else `secret.key` beside a SQLite file or, for PostgreSQL, in this process's home.
    pub fn key_source(location: &Location) -> KeySource {
        match location {
            Location::Sqlite(path) => {
                KeySource::for_home(path.parent().unwrap_or_else(|| Path::new(".")))
            }
            Location::Postgres(_) => KeySource::local(),
        }
    }

    /// Where this control plane is, to open another connection to it.
    pub fn location(&self) -> &Location {
        &self.location
    }

    // --- environments -------------------------------------------------------------

    pub fn add_env(&self, env: &Environment) -> Result<()> {
        let inserted = self.conn.execute(
            "INSERT INTO environments (name, body) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            &[env.name.as_str().into(), self.env_body(env)?.into()],
        )?;
        if inserted == 0 {
            return Err(Error::EnvExists(env.name.clone()));
        }
        Ok(())
    }

    /// Replaces an environment's record (same name). Its GUID stays what it was.
    pub fn update_env(&self, env: &Environment) -> Result<()> {
        let mut env = env.clone();
        if env.settings.id.is_empty() {
            env.settings.id = self.env(&env.name)?.settings.id;
        }
        let changed = self.conn.execute(
            "UPDATE environments SET body = ?2 WHERE name = ?1",
            &[env.name.as_str().into(), self.env_body(&env)?.into()],
        )?;
        if changed == 0 {
            return Err(Error::UnknownEnv(env.name.clone()));
        }
        Ok(())
    }

    pub fn env(&self, name: &str) -> Result<Environment> {
        match self.conn.query_opt(
            "SELECT body FROM environments WHERE name = ?1",
            &[name.into()],
        )? {
            Some(row) => self.read_env(&row.text(0)?),
            None => Err(Error::UnknownEnv(name.to_owned())),
        }
    }

    /// An environment by name or by GUID (in any case), as the ERP's clients name them.
    pub fn env_by_name_or_id(&self, key: &str) -> Result<Environment> {
        match self.env(key) {
            Err(Error::UnknownEnv(_)) => {}
            found => return found,
        }
        let id = dataalm_core::env::canonical_guid(key);
        self.envs()?
            .into_iter()
            .find(|env| id.as_deref() == Some(env.settings.id.as_str()))
            .ok_or_else(|| Error::UnknownEnv(key.to_owned()))
    }

    pub fn envs(&self) -> Result<Vec<Environment>> {
        self.conn
            .query("SELECT body FROM environments ORDER BY name", &[])?
            .iter()
            .map(|row| self.read_env(&row.text(0)?))
            .collect()
    }

    /// An environment's record as stored: its URL's password sealed.
    /// A new environment gets its GUID here.
    fn env_body(&self, env: &Environment) -> Result<String> {
        let mut env = env.clone();
        if env.settings.id.is_empty() {
            env.settings.id = dataalm_core::env::new_guid();
        }
        if let Location::Postgres(url) = &env.location {
            env.location = Location::Postgres(self.sealer.seal_url(url)?);
        }
        to_json(&env)
    }

    /// An environment from its stored record, its URL's password opened.
    fn read_env(&self, body: &str) -> Result<Environment> {
        let mut env: Environment = from_json(body)?;
        if let Location::Postgres(url) = &env.location {
            let what = format!("password of environment `{}`", env.name);
            env.location = Location::Postgres(self.sealer.open_url(url, &what)?);
        }
        Ok(env)
    }

    /// Encrypts the secrets an older dataalm kept in the clear. In a SQLite file the old
    /// values must not linger either: `secure_delete` zeroes what a write frees (on for
    /// every connection, as sessions and hashes are deleted too), and after a change the
    /// WAL, which still holds the old pages, is emptied.
    fn seal_plain_secrets(&self) -> Result<()> {
        let sqlite = matches!(self.location, Location::Sqlite(_));
        if sqlite {
            self.conn.query("PRAGMA secure_delete = ON", &[])?;
        }
        let sealed = self.seal_plain_envs()? + usize::from(self.seal_plain_signing_key()?);
        if sqlite && sealed > 0 {
            self.conn.query("PRAGMA wal_checkpoint(TRUNCATE)", &[])?;
        }
        Ok(())
    }

    /// Encrypts the passwords an older dataalm stored in the clear; how many rows changed.
    /// Each row changes only if it is still as read, so racing processes cannot undo each
    /// other's writes.
    fn seal_plain_envs(&self) -> Result<usize> {
        let mut sealed = 0;
        for row in self
            .conn
            .query("SELECT name, body FROM environments", &[])?
        {
            let (name, body) = (row.text(0)?, row.text(1)?);
            let env: Environment = from_json(&body)?;
            let plain =
                matches!(&env.location, Location::Postgres(url) if sealed::has_plain_password(url));
            if plain {
                sealed += self.conn.execute(
                    "UPDATE environments SET body = ?3 WHERE name = ?1 AND body = ?2",
                    &[name.into(), body.into(), self.env_body(&env)?.into()],
                )? as usize;
            }
        }
        Ok(sealed)
    }

    /// Gives the environments and operations an older dataalm recorded their GUIDs.
    /// Each row changes only if it still has none, so racing processes agree.
    fn give_guids(&self) -> Result<()> {
        for row in self
            .conn
            .query("SELECT name, body FROM environments", &[])?
        {
            let (name, body) = (row.text(0)?, row.text(1)?);
            let mut env: Environment = from_json(&body)?;
            if env.settings.id.is_empty() {
                env.settings.id = dataalm_core::env::new_guid();
                // The body as stored (password sealed): only the GUID is added.
                self.conn.execute(
                    "UPDATE environments SET body = ?3 WHERE name = ?1 AND body = ?2",
                    &[name.into(), body.into(), to_json(&env)?.into()],
                )?;
            }
        }
        for row in self
            .conn
            .query("SELECT id FROM operations WHERE activity_id IS NULL", &[])?
        {
            self.conn.execute(
                "UPDATE operations SET activity_id = ?2 WHERE id = ?1 AND activity_id IS NULL",
                &[row.text(0)?.into(), dataalm_core::env::new_guid().into()],
            )?;
        }
        Ok(())
    }

    /// Removes an environment and its plan; refused while an operation holds it.
    pub fn remove_env(&self, name: &str) -> Result<()> {
        self.env(name)?;
        if let Some(op) = self.active_operation(name)? {
            return Err(Error::EnvBusy {
                env: name.to_owned(),
                op: op.id,
            });
        }
        self.conn
            .execute("DELETE FROM environments WHERE name = ?1", &[name.into()])?;
        Ok(())
    }

    // --- plans --------------------------------------------------------------------

    /// Stores an environment's plan (TOML text, already validated by the caller).
    pub fn set_plan(&self, env: &str, toml: &str) -> Result<()> {
        self.env(env)?;
        self.conn.execute(
            "INSERT INTO plans (env, body, updated_at) VALUES (?1, ?2, ?3)
             ON CONFLICT(env) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at",
            &[env.into(), toml.into(), now_text().into()],
        )?;
        Ok(())
    }

    pub fn plan(&self, env: &str) -> Result<Option<String>> {
        self.env(env)?;
        self.conn
            .query_opt("SELECT body FROM plans WHERE env = ?1", &[env.into()])?
            .map(|row| row.text(0))
            .transpose()
    }

    // --- operations ---------------------------------------------------------------

    /// Records a new operation, its lease held by a new runner name, which is put in
    /// `op.lease`; refused when its target already has an active one.
    pub fn create_operation(&self, op: &mut Operation) -> Result<()> {
        let runner = lease::new_runner();
        let result = self.conn.execute(
            &format!(
                "INSERT INTO operations
                     (id, target, state, created_at, body, runner, lease_until, activity_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, {} + ?7, ?8)",
                self.conn.now_ms()
            ),
            &[
                op.id.as_str().into(),
                op.target.as_str().into(),
                op.state.as_str().into(),
                format_time(op.created_at).into(),
                to_json(op)?.into(),
                runner.as_str().into(),
                lease::ttl_ms(),
                op.activity_id.as_str().into(),
            ],
        );
        match result {
            Ok(_) => {
                op.lease = Some(Lease {
                    runner,
                    expires_in_ms: millis(lease::ttl()),
                });
                Ok(())
            }
            Err(e) if is_duplicate(&e) => match self.active_operation(&op.target)? {
                Some(active) => Err(Error::TargetBusy {
                    target: op.target.clone(),
                    op: active.id,
                    state: active.state.to_string(),
                }),
                None => Err(Error::Corrupt(format!("duplicate operation id {}", op.id))),
            },
            Err(e) => Err(e),
        }
    }

    /// Writes the operation's current state, steps and data (the journal entry). Only the
    /// holder of the operation's lease (the runner in `op.lease`, as the claim or
    /// [`Store::create_operation`] put it there) writes: anyone else gets
    /// [`Error::LeaseLost`], so a process that was taken over cannot write over its
    /// successor's journal. A state
    /// other than running gives the lease up in the same write, so whoever acts next
    /// (sign-off after AwaitSignOff, say) never finds it still held.
    pub fn save_operation(&self, op: &Operation) -> Result<()> {
        self.save(op, true)
    }

    /// Writes the operation as [`Store::save_operation`] does, but keeps the lease
    /// whatever the state: for work on an operation that is not running (a rollback)
    /// that journals before it ends.
    pub fn save_operation_holding(&self, op: &Operation) -> Result<()> {
        self.save(op, false)
    }

    fn save(&self, op: &Operation, release: bool) -> Result<()> {
        let runner = op.lease.as_ref().map(|l| l.runner.clone());
        let changed = self.conn.execute(
            "UPDATE operations SET state = ?2, body = ?3,
                 runner = CASE WHEN ?2 = 'running' OR ?5 = 'keep' THEN runner END,
                 lease_until = CASE WHEN ?2 = 'running' OR ?5 = 'keep' THEN lease_until END
             WHERE id = ?1 AND runner = ?4",
            &[
                op.id.as_str().into(),
                op.state.as_str().into(),
                to_json(op)?.into(),
                runner.into(),
                if release { "release" } else { "keep" }.into(),
            ],
        )?;
        if changed == 0 {
            let current = self.operation(&op.id)?;
            return Err(Error::LeaseLost {
                op: op.id.clone(),
                runner: current.lease.map(|l| l.runner),
            });
        }
        Ok(())
    }

    /// An operation by dataalm's id or by its GUID (`OperationActivityId`, any case).
    pub fn operation(&self, id: &str) -> Result<Operation> {
        let guid = dataalm_core::env::canonical_guid(id).unwrap_or_default();
        let sql = format!(
            "SELECT {} FROM operations WHERE id = ?1 OR activity_id = ?2",
            self.operation_columns()
        );
        match self.conn.query_opt(&sql, &[id.into(), guid.into()])? {
            Some(row) => read_operation(&row),
            None => Err(Error::UnknownOperation(id.to_owned())),
        }
    }

    /// Writes a running step's progress, so another process can show it, for `runner`
    /// (the lease's holder). `detail` says what is being worked on (table, rate, ETA).
    pub fn record_progress(
        &self,
        op_id: &str,
        runner: &str,
        step: Step,
        bytes: Option<u64>,
        rows: Option<u64>,
        detail: Option<&str>,
    ) -> Result<()> {
        let mut op = self.operation(op_id)?;
        let Some(record) = op.step_mut(step) else {
            return Ok(());
        };
        if record.status != StepStatus::Running {
            return Ok(());
        }
        if let Some(bytes) = bytes {
            record.bytes = bytes;
        }
        if let Some(rows) = rows {
            record.rows = rows;
        }
        if let Some(detail) = detail {
            record.detail = detail.to_owned();
        }
        if let Some(lease) = &mut op.lease {
            // Written as the caller's: refused unless the caller still holds it.
            lease.runner = runner.to_owned();
        }
        self.save_operation(&op)
    }

    /// Operations, newest first; only those of `target` when given.
    pub fn operations(&self, target: Option<&str>) -> Result<Vec<Operation>> {
        let filter = if target.is_some() {
            "WHERE target = ?1"
        } else {
            ""
        };
        let sql = format!(
            "SELECT {} FROM operations {filter} ORDER BY created_at DESC, {} DESC",
            self.operation_columns(),
            self.conn.insertion_order()
        );
        let params: Vec<Value> = target.into_iter().map(Value::from).collect();
        self.conn
            .query(&sql, &params)?
            .iter()
            .map(|row| read_operation(row))
            .collect()
    }

    /// When the operations on `target` were started (for throttles): the times only.
    pub fn operation_starts(&self, target: &str) -> Result<Vec<OffsetDateTime>> {
        self.conn
            .query(
                "SELECT created_at FROM operations WHERE target = ?1",
                &[target.into()],
            )?
            .iter()
            .map(|row| {
                let text = row.text(0)?;
                OffsetDateTime::parse(&text, &time::format_description::well_known::Rfc3339)
                    .map_err(|e| Error::Corrupt(format!("operation start `{text}`: {e}")))
            })
            .collect()
    }

    /// The newest operation on `target`, if any (one row, not the whole history).
    pub fn latest_operation(&self, target: &str) -> Result<Option<Operation>> {
        let sql = format!(
            "SELECT {} FROM operations WHERE target = ?1 ORDER BY created_at DESC, {} DESC LIMIT 1",
            self.operation_columns(),
            self.conn.insertion_order()
        );
        self.conn
            .query_opt(&sql, &[target.into()])?
            .map(|row| read_operation(&row))
            .transpose()
    }

    /// Operations recorded as running, oldest first: the ones a server may have to take
    /// over.
    pub fn running_operations(&self) -> Result<Vec<Operation>> {
        let sql = format!(
            "SELECT {} FROM operations WHERE state = 'running' ORDER BY created_at",
            self.operation_columns()
        );
        self.conn
            .query(&sql, &[])?
            .iter()
            .map(|row| read_operation(row))
            .collect()
    }

    /// The operation holding `target`, if any.
    pub fn active_operation(&self, target: &str) -> Result<Option<Operation>> {
        let sql = format!(
            "SELECT {} FROM operations
             WHERE target = ?1 AND state IN ('running', 'failed', 'awaiting_signoff')",
            self.operation_columns()
        );
        self.conn
            .query_opt(&sql, &[target.into()])?
            .map(|row| read_operation(&row))
            .transpose()
    }

    fn operation_columns(&self) -> String {
        OPERATION_COLUMNS.replace("{now}", self.conn.now_ms())
    }

    // --- audit --------------------------------------------------------------------

    pub fn audit(&self, actor: &str, action: &str, env: Option<&str>, result: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO audit (at, actor, action, env, result) VALUES (?1, ?2, ?3, ?4, ?5)",
            &[
                now_text().into(),
                actor.into(),
                action.into(),
                env.map(str::to_owned).into(),
                result.into(),
            ],
        )?;
        Ok(())
    }

    /// The audit log, newest first.
    pub fn audit_log(&self, limit: u32) -> Result<Vec<AuditEntry>> {
        self.conn
            .query(
                "SELECT at, actor, action, env, result FROM audit ORDER BY seq DESC LIMIT ?1",
                &[i64::from(limit).into()],
            )?
            .iter()
            .map(|row| {
                Ok(AuditEntry {
                    at: row.text(0)?,
                    actor: row.text(1)?,
                    action: row.text(2)?,
                    env: row.opt_text(3)?,
                    result: row.text(4)?,
                })
            })
            .collect()
    }
}

/// An operation from its journal body and its lease columns.
fn read_operation(row: &[Value]) -> Result<Operation> {
    let mut op: Operation = from_json(&row.text(0)?)?;
    op.lease = lease::lease_of(row, 1)?;
    if let Some(activity_id) = row.opt_text(3)? {
        op.activity_id = activity_id;
    }
    Ok(op)
}

/// A duration in whole milliseconds, as the control plane's lease and session columns
/// hold them (saturating far beyond any lease or session).
fn millis(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 2)
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::Corrupt(e.to_string()))
}

fn from_json<T: serde::de::DeserializeOwned>(body: &str) -> Result<T> {
    serde_json::from_str(body).map_err(|e| Error::Corrupt(e.to_string()))
}

fn format_time(t: OffsetDateTime) -> String {
    // Sortable text with sub-second precision, so newest-first ordering is exact.
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn now_text() -> String {
    format_time(OffsetDateTime::now_utc())
}
