//! The control plane: where dataalm keeps environments, reconfiguration plans, the
//! journal of operations and the audit log.
//!
//! It is one SQLite file, `control.db`, under the home directory (`--home`,
//! `$DATAALM_HOME`, else `./.dataalm`). The journal is the truth about an operation: each
//! step is written before and after it runs, so a crashed refresh can be resumed or
//! rolled back from what is here.
//!
//! **Invariant:** at most one active operation (running, failed or awaiting sign-off) per
//! target environment. A unique partial index enforces it, so two processes racing to
//! refresh the same target cannot both win.
//!
//! It also keeps the REST service's app registrations and token signing key (`apps`).

mod apps;

pub use apps::AppRegistration;

use dataalm_core::{Environment, Operation, Step, StepStatus};
use rusqlite::{Connection, OptionalExtension, params};
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot open the control plane at {path}: {message}")]
    Open { path: String, message: String },
    #[error("control plane: {0}")]
    Sql(#[from] rusqlite::Error),
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
    #[error("{}", unknown_envs(.0))]
    UnknownEnvs(Vec<String>),
    #[error("invalid app registration: {0}")]
    InvalidApp(String),
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

/// One entry of the audit log.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AuditEntry {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub env: Option<String>,
    pub result: String,
}

pub struct Store {
    conn: Connection,
    home: PathBuf,
}

/// Bump when [`SCHEMA`] changes, so existing files get the new tables.
const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS environments (
    name TEXT PRIMARY KEY,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS plans (
    env TEXT PRIMARY KEY REFERENCES environments(name) ON DELETE CASCADE,
    body TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS operations (
    id TEXT PRIMARY KEY,
    target TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS operations_by_target ON operations(target, created_at);
CREATE UNIQUE INDEX IF NOT EXISTS one_active_operation_per_target
    ON operations(target) WHERE state IN ('running', 'failed', 'awaiting_signoff');
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    env TEXT,
    result TEXT NOT NULL
);
-- App registrations; `environments` is a JSON array of names, empty for all.
CREATE TABLE IF NOT EXISTS apps (
    client_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    environments TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
-- A name is reused only once its holder is revoked; the index settles racing registrations.
CREATE UNIQUE INDEX IF NOT EXISTS one_active_app_per_name
    ON apps(name) WHERE revoked_at IS NULL;
CREATE TABLE IF NOT EXISTS settings (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
";

impl Store {
    /// Opens the control plane under `home`, creating it on first use.
    pub fn open(home: &Path) -> Result<Store> {
        let open_error = |message: String| Error::Open {
            path: home.display().to_string(),
            message,
        };
        std::fs::create_dir_all(home).map_err(|e| open_error(e.to_string()))?;
        let conn =
            Connection::open(home.join("control.db")).map_err(|e| open_error(e.to_string()))?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // The schema is set up once per file, not on every open (the service opens the
        // control plane for every request).
        let version: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
        if version != SCHEMA_VERSION {
            // WAL lets `status` in another terminal read while a refresh writes progress;
            // the mode stays with the file.
            set_wal(&conn)?;
            conn.execute_batch(SCHEMA)?;
            conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        }
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        Ok(Store {
            conn,
            home: home.to_owned(),
        })
    }

    pub fn home(&self) -> &Path {
        &self.home
    }

    // --- environments -------------------------------------------------------------

    pub fn add_env(&self, env: &Environment) -> Result<()> {
        let body = to_json(env)?;
        let inserted = self.conn.execute(
            "INSERT INTO environments (name, body) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            params![env.name, body],
        )?;
        if inserted == 0 {
            return Err(Error::EnvExists(env.name.clone()));
        }
        Ok(())
    }

    /// Replaces an environment's record (same name).
    pub fn update_env(&self, env: &Environment) -> Result<()> {
        let changed = self.conn.execute(
            "UPDATE environments SET body = ?2 WHERE name = ?1",
            params![env.name, to_json(env)?],
        )?;
        if changed == 0 {
            return Err(Error::UnknownEnv(env.name.clone()));
        }
        Ok(())
    }

    pub fn env(&self, name: &str) -> Result<Environment> {
        let body: Option<String> = self
            .conn
            .query_row(
                "SELECT body FROM environments WHERE name = ?1",
                [name],
                |r| r.get(0),
            )
            .optional()?;
        match body {
            Some(body) => from_json(&body),
            None => Err(Error::UnknownEnv(name.to_owned())),
        }
    }

    pub fn envs(&self) -> Result<Vec<Environment>> {
        let mut stmt = self
            .conn
            .prepare("SELECT body FROM environments ORDER BY name")?;
        let bodies = stmt
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        bodies.iter().map(|b| from_json(b)).collect()
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
            .execute("DELETE FROM environments WHERE name = ?1", [name])?;
        Ok(())
    }

    // --- plans --------------------------------------------------------------------

    /// Stores an environment's plan (TOML text, already validated by the caller).
    pub fn set_plan(&self, env: &str, toml: &str) -> Result<()> {
        self.env(env)?;
        self.conn.execute(
            "INSERT INTO plans (env, body, updated_at) VALUES (?1, ?2, ?3)
             ON CONFLICT(env) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at",
            params![env, toml, now_text()],
        )?;
        Ok(())
    }

    pub fn plan(&self, env: &str) -> Result<Option<String>> {
        self.env(env)?;
        Ok(self
            .conn
            .query_row("SELECT body FROM plans WHERE env = ?1", [env], |r| r.get(0))
            .optional()?)
    }

    // --- operations ---------------------------------------------------------------

    /// Records a new operation; refused when its target already has an active one.
    pub fn create_operation(&self, op: &Operation) -> Result<()> {
        let result = self.conn.execute(
            "INSERT INTO operations (id, target, state, created_at, body) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                op.id,
                op.target,
                op.state.as_str(),
                format_time(op.created_at),
                to_json(op)?
            ],
        );
        match result {
            Ok(_) => Ok(()),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                match self.active_operation(&op.target)? {
                    Some(active) => Err(Error::TargetBusy {
                        target: op.target.clone(),
                        op: active.id,
                        state: active.state.to_string(),
                    }),
                    None => Err(Error::Corrupt(format!("duplicate operation id {}", op.id))),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Writes the operation's current state, steps and data (the journal entry).
    pub fn save_operation(&self, op: &Operation) -> Result<()> {
        let changed = self.conn.execute(
            "UPDATE operations SET state = ?2, body = ?3 WHERE id = ?1",
            params![op.id, op.state.as_str(), to_json(op)?],
        )?;
        if changed == 0 {
            return Err(Error::UnknownOperation(op.id.clone()));
        }
        Ok(())
    }

    pub fn operation(&self, id: &str) -> Result<Operation> {
        let body: Option<String> = self
            .conn
            .query_row("SELECT body FROM operations WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()?;
        match body {
            Some(body) => from_json(&body),
            None => Err(Error::UnknownOperation(id.to_owned())),
        }
    }

    /// Writes a running step's progress, so another process can show it. `detail`
    /// says what is being worked on (table, rate, ETA).
    pub fn record_progress(
        &self,
        op_id: &str,
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
        self.save_operation(&op)
    }

    /// Operations, newest first; only those of `target` when given.
    pub fn operations(&self, target: Option<&str>) -> Result<Vec<Operation>> {
        let mut stmt = self.conn.prepare(
            "SELECT body FROM operations WHERE ?1 IS NULL OR target = ?1
             ORDER BY created_at DESC, rowid DESC",
        )?;
        let bodies = stmt
            .query_map([target], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        bodies.iter().map(|b| from_json(b)).collect()
    }

    /// The operation holding `target`, if any.
    pub fn active_operation(&self, target: &str) -> Result<Option<Operation>> {
        let body: Option<String> = self
            .conn
            .query_row(
                "SELECT body FROM operations
                 WHERE target = ?1 AND state IN ('running', 'failed', 'awaiting_signoff')",
                [target],
                |r| r.get(0),
            )
            .optional()?;
        body.map(|b| from_json(&b)).transpose()
    }

    // --- audit --------------------------------------------------------------------

    pub fn audit(&self, actor: &str, action: &str, env: Option<&str>, result: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO audit (at, actor, action, env, result) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![now_text(), actor, action, env, result],
        )?;
        Ok(())
    }

    /// The audit log, newest first.
    pub fn audit_log(&self, limit: u32) -> Result<Vec<AuditEntry>> {
        let mut stmt = self.conn.prepare(
            "SELECT at, actor, action, env, result FROM audit ORDER BY seq DESC LIMIT ?1",
        )?;
        let entries = stmt
            .query_map([limit], |r| {
                Ok(AuditEntry {
                    at: r.get(0)?,
                    actor: r.get(1)?,
                    action: r.get(2)?,
                    env: r.get(3)?,
                    result: r.get(4)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(entries)
    }
}

/// How long a statement waits for another process's lock before giving up.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Switches to WAL. When several processes open a new control plane at once, SQLite
/// answers the switch with "database is locked" at once, without the busy handler, so
/// it is retried here for as long as the busy timeout.
fn set_wal(conn: &Connection) -> Result<()> {
    let pause = std::time::Duration::from_millis(10);
    let started = std::time::Instant::now();
    loop {
        match conn.pragma_update(None, "journal_mode", "WAL") {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy
                    && started.elapsed() < BUSY_TIMEOUT =>
            {
                std::thread::sleep(pause);
            }
            result => return Ok(result?),
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use dataalm_core::{EnvKind, Location, OpState};

    fn uat() -> Environment {
        Environment {
            name: "uat".into(),
            kind: EnvKind::Sandbox,
            location: Location::Sqlite("/tmp/uat.db".into()),
            profile: "finance".into(),
            url: None,
        }
    }

    #[test]
    fn environments_round_trip_and_names_are_unique() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.add_env(&uat()).unwrap();
        assert!(matches!(store.add_env(&uat()), Err(Error::EnvExists(_))));
        assert_eq!(store.env("uat").unwrap(), uat());
        assert!(matches!(store.env("nope"), Err(Error::UnknownEnv(_))));
        store.set_plan("uat", "[users]\n").unwrap();
        assert_eq!(store.plan("uat").unwrap().as_deref(), Some("[users]\n"));
        store.remove_env("uat").unwrap();
        assert!(store.envs().unwrap().is_empty());
    }

    #[test]
    fn one_active_operation_per_target() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.add_env(&uat()).unwrap();
        let now = OffsetDateTime::now_utc();
        let mut first = Operation::new_refresh("prod", "uat", now);
        store.create_operation(&first).unwrap();
        let second = Operation::new_refresh("prod", "uat", now);
        let err = store.create_operation(&second).unwrap_err();
        assert!(matches!(err, Error::TargetBusy { .. }), "{err}");
        assert!(matches!(
            store.remove_env("uat"),
            Err(Error::EnvBusy { .. })
        ));

        first.state = OpState::SignedOff;
        store.save_operation(&first).unwrap();
        store.create_operation(&second).unwrap();
        let ops = store.operations(Some("uat")).unwrap();
        assert_eq!(ops.len(), 2);
        assert_eq!(
            store.operation(&first.id).unwrap().state,
            OpState::SignedOff
        );
    }

    #[test]
    fn audit_is_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.audit("alice", "refresh", Some("uat"), "ok").unwrap();
        store.audit("bob", "signoff", Some("uat"), "ok").unwrap();
        let log = store.audit_log(10).unwrap();
        assert_eq!(log[0].actor, "bob");
        assert_eq!(log.len(), 2);
    }
}
