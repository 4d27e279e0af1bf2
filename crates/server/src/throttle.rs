//! Bounded work under a flood of wrong secrets.
//!
//! Checking a secret is an argon2 run of about 19 MiB and tens of milliseconds, on
//! purpose: it makes guessing slow. Unbounded, it also lets anyone with a list of wrong
//! secrets make the server allocate gigabytes. So:
//!
//! - at most [`PERMITS`] checks run at once, client secrets and portal passwords alike;
//!   a request that finds none free within [`PERMIT_WAIT`] is answered 503 with
//!   `Retry-After`;
//! - each client id or person name, and each remote address, may fail a few times
//!   freely; after that it is refused (429, `Retry-After`) without any check for a
//!   backoff that doubles with each further failure, up to [`MAX_BACKOFF`]. A refused
//!   request is not a failure, so once a flood stops the right secret works again
//!   after at most that long, and a success clears the name's record.
//!
//! The tables live in memory, one per server, are bounded ([`MAX_ENTRIES`]) and forget
//! an entry [`FORGET_AFTER`] after its last failure.

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Secret checks running at once: each holds about 19 MiB.
pub const PERMITS: usize = 4;
/// How long a request waits for a free check before it is told to come back.
pub const PERMIT_WAIT: Duration = Duration::from_secs(1);
/// Failures a client id or a person name has before the backoff starts...
const FREE_FAILURES_PER_NAME: u32 = 5;
/// ...and a remote address (it may be a gateway many people share).
const FREE_FAILURES_PER_ADDRESS: u32 = 20;
/// The first backoff; each failure after it doubles it...
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// ...up to this.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// An entry with no failure for this long is forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(15 * 60);
/// Entries per table; past it, the oldest is forgotten first.
const MAX_ENTRIES: usize = 10_000;
/// Names are kept to this many bytes, so long made-up ids cannot fill memory.
const MAX_KEY_BYTES: usize = 128;

/// Why a secret was not checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The name or the address failed too often lately: 429.
    Throttled { retry_after: Duration },
    /// Every check slot is taken: 503.
    Busy { retry_after: Duration },
}

impl Refusal {
    /// Whole seconds for `Retry-After`, rounded up.
    pub fn retry_after_secs(self) -> u64 {
        let (Refusal::Throttled { retry_after } | Refusal::Busy { retry_after }) = self;
        retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0)
    }
}

/// What is checked: names of the two kinds are counted apart.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Client,
    Person,
}

/// The bound on checks and the failure tables, shared by the whole server.
pub struct Guard {
    permits: Arc<Semaphore>,
    clients: Backoff,
    people: Backoff,
    addresses: Backoff,
}

impl Default for Guard {
    fn default() -> Guard {
        Guard {
            permits: Arc::new(Semaphore::new(PERMITS)),
            clients: Backoff::new(FREE_FAILURES_PER_NAME),
            people: Backoff::new(FREE_FAILURES_PER_NAME),
            addresses: Backoff::new(FREE_FAILURES_PER_ADDRESS),
        }
    }
}

impl Guard {
    /// A permit to check the secret of `name` sent from `from`; hold it for the check.
    /// Refused while either is in backoff, or when no slot frees up in time.
    pub async fn admit(
        &self,
        kind: Kind,
        name: &str,
        from: Option<IpAddr>,
    ) -> Result<OwnedSemaphorePermit, Refusal> {
        self.not_throttled(kind, name, from)?;
        let waited = tokio::time::timeout(PERMIT_WAIT, self.permits.clone().acquire_owned()).await;
        let permit = match waited {
            Ok(Ok(permit)) => permit,
            // Closed never happens (the semaphore lives as long as the guard); timed out
            // is the flood.
            _ => {
                return Err(Refusal::Busy {
                    retry_after: PERMIT_WAIT,
                });
            }
        };
        // Others may have failed while this one waited.
        self.not_throttled(kind, name, from)?;
        Ok(permit)
    }

    /// Records a wrong secret; returns the backoff it starts, if it starts one.
    pub fn failed(&self, kind: Kind, name: &str, from: Option<IpAddr>) -> Option<Duration> {
        let now = Instant::now();
        let by_name = self.names(kind).fail(name, now);
        let by_address = from.and_then(|ip| self.addresses.fail(&ip.to_string(), now));
        by_name.max(by_address)
    }

    /// Records a right secret: the name starts afresh (its address does not, so one
    /// good account does not cover guesses at others).
    pub fn succeeded(&self, kind: Kind, name: &str) {
        self.names(kind).forget(name);
    }

    fn not_throttled(&self, kind: Kind, name: &str, from: Option<IpAddr>) -> Result<(), Refusal> {
        let now = Instant::now();
        let by_name = self.names(kind).blocked_for(name, now);
        let by_address = from.and_then(|ip| self.addresses.blocked_for(&ip.to_string(), now));
        match by_name.max(by_address) {
            Some(retry_after) => Err(Refusal::Throttled { retry_after }),
            None => Ok(()),
        }
    }

    fn names(&self, kind: Kind) -> &Backoff {
        match kind {
            Kind::Client => &self.clients,
            Kind::Person => &self.people,
        }
    }
}

/// Recent failures per key, and until when each key is refused.
struct Backoff {
    free_failures: u32,
    entries: Mutex<HashMap<String, Entry>>,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    last_failure: Instant,
    blocked_until: Instant,
}

impl Backoff {
    fn new(free_failures: u32) -> Backoff {
        Backoff {
            free_failures,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        // A panic elsewhere while holding the lock leaves counts that are still counts.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn blocked_for(&self, key: &str, now: Instant) -> Option<Duration> {
        let table = self.table();
        let until = table.get(short(key))?.blocked_until;
        (until > now).then(|| until - now)
    }

    fn fail(&self, key: &str, now: Instant) -> Option<Duration> {
        let mut table = self.table();
        if table.len() >= MAX_ENTRIES && !table.contains_key(short(key)) {
            make_room(&mut table, now);
        }
        let entry = table.entry(short(key).to_owned()).or_insert(Entry {
            failures: 0,
            last_failure: now,
            blocked_until: now,
        });
        entry.failures = entry.failures.saturating_add(1);
        entry.last_failure = now;
        let beyond = entry
            .failures
            .checked_sub(self.free_failures)
            .filter(|beyond| *beyond > 0)?;
        let backoff = backoff(beyond);
        entry.blocked_until = now + backoff;
        Some(backoff)
    }

    fn forget(&self, key: &str) {
        self.table().remove(short(key));
    }
}

/// The backoff after the `beyond`th failure past the free ones (1, 2, 4 ... seconds).
fn backoff(beyond: u32) -> Duration {
    let doublings = beyond.saturating_sub(1).min(16);
    FIRST_BACKOFF
        .saturating_mul(1 << doublings)
        .min(MAX_BACKOFF)
}

/// Forgets what has expired, and if the table is still full, its oldest entry.
fn make_room(table: &mut HashMap<String, Entry>, now: Instant) {
    table.retain(|_, e| now.duration_since(e.last_failure) < FORGET_AFTER || e.blocked_until > now);
    if table.len() < MAX_ENTRIES {
        return;
    }
    let oldest = table
        .iter()
        .min_by_key(|(_, e)| e.last_failure)
        .map(|(key, _)| key.clone());
    if let Some(key) = oldest {
        table.remove(&key);
    }
}

/// At most [`MAX_KEY_BYTES`] of `key`, cut at a character boundary.
fn short(key: &str) -> &str {
    let mut end = key.len().min(MAX_KEY_BYTES);
    while !key.is_char_boundary(end) {
        end -= 1;
    }
    &key[..end]
}

/// A name as the audit log shows it: printable, and short.
pub fn printable(name: &str) -> String {
    short(name)
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// Writes a wrong secret into the audit log: who was named, from where, and the
/// backoff it started. A log that cannot be written does not change the answer (the
/// secret was wrong either way), but whoever runs the server is told.
pub fn audit_failure(
    store: &dataalm_store::Store,
    actor: &str,
    action: &str,
    from: Remote,
    backoff: Option<Duration>,
) {
    let mut result = format!("refused: wrong secret or unknown name, from {from}");
    if let Some(backoff) = backoff {
        result.push_str(&format!("; refused for {} s", backoff.as_secs()));
    }
    if let Err(e) = store.audit(actor, action, None, &result) {
        tracing::warn!("cannot audit a failed check of {actor}: {e}");
    }
}

/// The address a request came from, when the server was started with connection
/// info (it always is by [`crate::serve`]). `X-Forwarded-For` is not trusted: anyone
/// can write it.
#[derive(Debug, Clone, Copy)]
pub struct Remote(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Remote {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Remote, Infallible> {
        let info = parts.extensions.get::<ConnectInfo<SocketAddr>>();
        Ok(Remote(info.map(|ConnectInfo(addr)| addr.ip())))
    }
}

impl std::fmt::Display for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(ip) => write!(f, "{ip}"),
            None => f.write_str("an unknown address"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_after_the_free_failures_and_stops_at_the_cap() {
        let table = Backoff::new(2);
        let now = Instant::now();
        assert_eq!(table.fail("a", now), None);
        assert_eq!(table.fail("a", now), None);
        assert_eq!(table.fail("a", now), Some(Duration::from_secs(1)));
        assert_eq!(table.fail("a", now), Some(Duration::from_secs(2)));
        assert_eq!(table.fail("a", now), Some(Duration::from_secs(4)));
        assert_eq!(table.blocked_for("a", now), Some(Duration::from_secs(4)));
        assert_eq!(table.blocked_for("a", now + Duration::from_secs(4)), None);
        assert_eq!(table.blocked_for("b", now), None);
        for _ in 0..40 {
            table.fail("a", now);
        }
        assert_eq!(table.blocked_for("a", now), Some(MAX_BACKOFF));
        table.forget("a");
        assert_eq!(table.blocked_for("a", now), None);
    }

    #[tokio::test]
    async fn past_the_bound_a_check_waits_then_is_refused() {
        let guard = Guard::default();
        let mut held = Vec::new();
        for n in 0..PERMITS {
            let permit = guard.admit(Kind::Client, &format!("c{n}"), None).await;
            held.push(permit.expect("a free slot"));
        }
        let started = Instant::now();
        let refused = guard.admit(Kind::Person, "late", None).await;
        assert_eq!(
            refused.err(),
            Some(Refusal::Busy {
                retry_after: PERMIT_WAIT
            })
        );
        assert!(started.elapsed() >= PERMIT_WAIT);
        drop(held.pop());
        assert!(guard.admit(Kind::Person, "late", None).await.is_ok());
    }

    #[test]
    fn the_table_stays_bounded() {
        let table = Backoff::new(0);
        let now = Instant::now();
        for i in 0..MAX_ENTRIES + 50 {
            table.fail(&format!("client-{i}"), now);
        }
        assert_eq!(table.table().len(), MAX_ENTRIES);
        // Long names are kept short.
        table.fail(&"x".repeat(10_000), now);
        assert!(table.table().keys().all(|k| k.len() <= MAX_KEY_BYTES));
    }
}
