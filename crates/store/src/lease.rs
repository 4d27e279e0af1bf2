//! Leases: which process runs an operation, so that exactly one does.
//!
//! Several processes may share a control plane: the CLI in two terminals, or two servers
//! on one PostgreSQL database. The process that runs an operation's steps holds its
//! lease: its name in `runner` and a time in `lease_until`, which it pushes forward (the
//! heartbeat) while it works. Taking an operation over is a claim: in one transaction the
//! row is locked (`FOR UPDATE`; SQLite's write lock), the lease read, and the row taken
//! only if nobody holds it any more. So two servers claiming at once cannot both win.
//!
//! A lease lapses when its time passes, or at once when its runner is a process on this
//! machine that no longer exists (a crash here need not wait out the lease).
//!
//! Every journal write is fenced by the lease: only its holder writes, so whoever acts
//! on an operation (runs, resumes, signs off, rolls back) claims it first. A process that
//! lost its lease (stopped, cut off, then taken over) gets [`Error::LeaseLost`] on its
//! next write, and stops, instead of writing over the new runner's journal.
//!
//! The holder is a process, not one claim: a process that loses an operation and later
//! claims it again holds it again everywhere. Its steps run on one thread at a time per
//! operation, so that does not arise in practice.

use crate::backend::Cells;
use crate::{Error, Result, Store};
use dataalm_core::{Lease, Value};
use std::sync::OnceLock;
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

/// This process's name as a runner: `host:pid`.
pub fn runner() -> &'static str {
    static RUNNER: OnceLock<String> = OnceLock::new();
    RUNNER.get_or_init(|| format!("{}:{}", hostname(), std::process::id()))
}

/// Whether someone holds the lease: it has not lapsed, and if its runner is on this
/// machine, that process still exists.
pub fn is_live(lease: &Lease) -> bool {
    lease.expires_in_ms > 0 && !runner_is_gone(&lease.runner)
}

/// Whether `runner` names a process of this machine that has ended.
fn runner_is_gone(runner: &str) -> bool {
    let Some((host, pid)) = runner.rsplit_once(':') else {
        return false;
    };
    host == hostname() && !std::path::Path::new("/proc").join(pid).exists()
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

/// What a claim found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This process holds the lease now.
    Taken,
    /// Another live runner holds it (this process, too, if it is already running it).
    HeldBy(String),
}

impl Store {
    /// Claims operation `id` for this process, unless a live runner holds it.
    pub fn claim_operation(&self, id: &str) -> Result<Claim> {
        self.conn.transaction(|conn| {
            let row = conn.query_opt(
                &format!(
                    "SELECT runner, lease_until - {} FROM operations WHERE id = ?1{}",
                    conn.now_ms(),
                    conn.for_update()
                ),
                &[id.into()],
            )?;
            let Some(row) = row else {
                return Err(Error::UnknownOperation(id.to_owned()));
            };
            if let Some(lease) = lease_of(&row, 0)?
                && is_live(&lease)
            {
                return Ok(Claim::HeldBy(lease.runner));
            }
            conn.execute(
                &format!(
                    "UPDATE operations SET runner = ?2, lease_until = {} + ?3 WHERE id = ?1",
                    conn.now_ms()
                ),
                &[id.into(), runner().into(), ttl_ms()],
            )?;
            Ok(Claim::Taken)
        })
    }

    /// Pushes this process's lease on `id` forward. `false` when it no longer holds it:
    /// another process took the operation over.
    pub fn renew_lease(&self, id: &str) -> Result<bool> {
        let changed = self.conn.execute(
            &format!(
                "UPDATE operations SET lease_until = {} + ?3 WHERE id = ?1 AND runner = ?2",
                self.conn.now_ms()
            ),
            &[id.into(), runner().into(), ttl_ms()],
        )?;
        Ok(changed == 1)
    }

    /// Gives up this process's lease on `id`, if it holds it.
    pub fn release_lease(&self, id: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE operations SET runner = NULL, lease_until = NULL WHERE id = ?1 AND runner = ?2",
            &[id.into(), runner().into()],
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
    Value::Int(i64::try_from(ttl().as_millis()).unwrap_or(i64::MAX / 2))
}
