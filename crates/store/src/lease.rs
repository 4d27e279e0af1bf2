//! Leases: which process runs an operation, so that exactly one does.
//!
//! Several processes may share a control plane: the CLI in two terminals, or two servers
//! on one PostgreSQL database. Whoever works on an operation (runs its steps, resumes,
//! signs off, rolls back) first holds its lease: a runner name in `runner` and a time in
//! `lease_until`, pushed forward (the heartbeat) while the work goes on. Taking an
//! operation is a claim: in one transaction the row is locked (`FOR UPDATE`; SQLite's
//! write lock), the lease read, and the row taken only if nobody holds it any more. So
//! two servers claiming at once cannot both win.
//!
//! A runner name is made for each claim (`host:pid:space:n`), so two claims never share
//! one, not even in one process, and a process whose claim was taken over cannot act on
//! a later one by mistake. `space` tells this machine's boot and process-id namespace
//! apart from another container's with the same host name.
//!
//! A lease lapses when its time passes, or at once when its runner is a process of this
//! machine (same host, boot and namespace) that no longer exists: a crash here need not
//! wait out the lease.
//!
//! Every journal write is fenced by the lease: [`Store::save_operation`] writes only for
//! the runner named in the operation's lease, so a process that lost its lease (stopped,
//! cut off, then taken over) gets [`Error::LeaseLost`] on its next write instead of
//! writing over its successor's journal.

use crate::backend::Cells;
use crate::{Error, Result, Store};
use dataalm_core::{Lease, Operation, Value};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How long a lease lasts without a heartbeat, unless `DATAALM_LEASE_SECS` says.
pub const DEFAULT_TTL: Duration = Duration::from_secs(30);

/// Sets the lease time in seconds, for every process sharing a control plane (tests
/// make it short).
pub const TTL_VARIABLE: &str = "DATAALM_LEASE_SECS";

/// The lease time: `DATAALM_LEASE_SECS`, else [`DEFAULT_TTL`].
pub fn ttl() -> Duration {
    std::env::var(TTL_VARIABLE)
        .ok()
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|secs| *secs > 0.0 && secs.is_finite())
        .map_or(DEFAULT_TTL, Duration::from_secs_f64)
}

/// This process, as runner names start: `host:pid:space`.
pub fn process() -> &'static str {
    static PROCESS: OnceLock<String> = OnceLock::new();
    PROCESS.get_or_init(|| format!("{}:{}:{}", hostname(), std::process::id(), space()))
}

/// A new runner name for one claim: `host:pid:space:n`.
pub fn new_runner() -> String {
    static CLAIMS: AtomicU64 = AtomicU64::new(1);
    format!("{}:{}", process(), CLAIMS.fetch_add(1, Ordering::Relaxed))
}

/// Whether someone holds the lease: it has not lapsed, and if its runner is a process of
/// this machine, that process still exists.
pub fn is_live(lease: &Lease) -> bool {
    lease.expires_in_ms > 0 && !runner_is_gone(&lease.runner)
}

/// Whether `runner` names a process of this machine (same host, boot and process-id
/// namespace) that has ended.
fn runner_is_gone(runner: &str) -> bool {
    let mut parts = runner.rsplitn(4, ':');
    let (_claim, runner_space, pid, host) =
        (parts.next(), parts.next(), parts.next(), parts.next());
    let (Some(runner_space), Some(pid), Some(host)) = (runner_space, pid, host) else {
        return false;
    };
    host == hostname()
        && runner_space == space()
        && pid.parse::<u32>().is_ok()
        && !std::path::Path::new("/proc").join(pid).exists()
}

fn hostname() -> &'static str {
    static HOST: OnceLock<String> = OnceLock::new();
    HOST.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".to_owned())
    })
}

/// Eight hex digits naming this boot and process-id namespace: pids mean the same thing
/// only between processes that share both.
fn space() -> &'static str {
    static SPACE: OnceLock<String> = OnceLock::new();
    SPACE.get_or_init(|| {
        let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
        let namespace = std::fs::read_link("/proc/self/ns/pid")
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let digest = crate::secrets::digest(&format!("{}|{namespace}", boot.trim()));
        digest[..8].to_owned()
    })
}

/// What a claim found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The caller holds the lease now, under this runner name.
    Taken(String),
    /// A live runner holds it.
    HeldBy(String),
}

impl Store {
    /// Claims operation `id`, unless a live runner holds it. Taking it from a runner that
    /// died or lost its lease is counted in the journal ([`Operation::takeovers`]), in the
    /// same write, so that whoever holds it next can tell an operation that keeps bringing
    /// its runners down.
    ///
    /// [`Operation::takeovers`]: dataalm_core::Operation::takeovers
    pub fn claim_operation(&self, id: &str) -> Result<Claim> {
        let runner = new_runner();
        self.conn.transaction(|conn| {
            let row = conn.query_opt(
                &format!(
                    "SELECT runner, lease_until - {}, body FROM operations WHERE id = ?1{}",
                    conn.now_ms(),
                    conn.for_update()
                ),
                &[id.into()],
            )?;
            let Some(row) = row else {
                return Err(Error::UnknownOperation(id.to_owned()));
            };
            let mut body = row.text(2)?;
            if let Some(lease) = lease_of(&row, 0)? {
                if is_live(&lease) {
                    return Ok(Claim::HeldBy(lease.runner));
                }
                let mut op: Operation = crate::from_json(&body)?;
                op.takeovers = op.takeovers.one_more(op.next_step());
                body = crate::to_json(&op)?;
            }
            conn.execute(
                &format!(
                    "UPDATE operations SET runner = ?2, lease_until = {} + ?3, body = ?4
                     WHERE id = ?1",
                    conn.now_ms()
                ),
                &[id.into(), runner.as_str().into(), ttl_ms(), body.into()],
            )?;
            Ok(Claim::Taken(runner))
        })
    }

    /// Pushes `runner`'s lease on `id` forward. `false` when it no longer holds it: the
    /// operation left the running state, or another process took it over.
    pub fn renew_lease(&self, id: &str, runner: &str) -> Result<bool> {
        let changed = self.conn.execute(
            &format!(
                "UPDATE operations SET lease_until = {} + ?3 WHERE id = ?1 AND runner = ?2",
                self.conn.now_ms()
            ),
            &[id.into(), runner.into(), ttl_ms()],
        )?;
        Ok(changed == 1)
    }

    /// Gives up `runner`'s lease on `id`, if it still holds it.
    pub fn release_lease(&self, id: &str, runner: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE operations SET runner = NULL, lease_until = NULL WHERE id = ?1 AND runner = ?2",
            &[id.into(), runner.into()],
        )?;
        Ok(())
    }
}

/// The `settings` key under which a cancel of operation `id` is asked for. A mark of its
/// own, not the journal body, which only the lease's holder writes.
fn cancel_key(id: &str) -> String {
    format!("cancel:{id}")
}

impl Store {
    /// Asks for operation `id` to be cancelled, by `by`: whoever runs it (this process or
    /// another) stops at its next safe point. The first request stands.
    pub fn request_cancel(&self, id: &str, by: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            &[cancel_key(id).into(), Value::Blob(by.as_bytes().to_vec())],
        )?;
        Ok(())
    }

    /// Who asked for operation `id` to be cancelled, if anyone did.
    pub fn cancel_requested(&self, id: &str) -> Result<Option<String>> {
        self.conn
            .query_opt(
                "SELECT value FROM settings WHERE key = ?1",
                &[cancel_key(id).into()],
            )?
            .map(|row| Ok(String::from_utf8_lossy(&row.blob(0)?).into_owned()))
            .transpose()
    }

    /// Forgets the request to cancel `id`: it was carried out, or came too late.
    pub fn clear_cancel(&self, id: &str) -> Result<()> {
        self.conn.execute(
            "DELETE FROM settings WHERE key = ?1",
            &[cancel_key(id).into()],
        )?;
        Ok(())
    }
}

/// The lease in columns `at` (runner) and `at + 1` (milliseconds left), if any.
pub(crate) fn lease_of(row: &[Value], at: usize) -> Result<Option<Lease>> {
    Ok(match (row.opt_text(at)?, row.opt_int(at + 1)?) {
        (Some(runner), left) => Some(Lease {
            runner,
            expires_in_ms: left.unwrap_or(0),
        }),
        (None, _) => None,
    })
}

/// The lease time in milliseconds, as a parameter.
pub(crate) fn ttl_ms() -> Value {
    Value::Int(crate::millis(ttl()))
}
