//! Holding an operation while this process works on it: the claim, the heartbeat that
//! keeps the lease alive, and the release when the work stops (see
//! `dataalm_store::lease` for the rules).

use super::cancel::CancelFlag;
use crate::{Error, Result};
use dataalm_core::{Location, OpState};
use dataalm_store::Store;
use dataalm_store::lease::{self, Claim};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// This process's hold on an operation, under a runner name of its own. A thread renews
/// the lease every third of its time; dropping the hold stops the thread and gives the
/// lease up.
pub(crate) struct Held {
    id: String,
    runner: String,
    /// Set when the lease may be someone else's by now: renewal was refused, or has not
    /// succeeded for two thirds of the lease time. The work stops at its next check.
    lost: Arc<AtomicBool>,
    /// Set when someone asked for the operation to be cancelled.
    cancel: CancelFlag,
    stop: Option<mpsc::Sender<()>>,
    heartbeat: Option<JoinHandle<()>>,
}

impl Held {
    /// Claims operation `id`; refused while another live runner holds it.
    pub(crate) fn claim(store: &Store, id: &str) -> Result<Held> {
        match store.claim_operation(id)? {
            Claim::Taken(runner) => Ok(Held::keep(store, id, &runner)),
            Claim::HeldBy(runner) => Err(Error::StillRunning {
                op: id.to_owned(),
                runner,
                lease_secs: lease::ttl().as_secs().max(1),
            }),
        }
    }

    /// Keeps the lease `runner` already holds (it created the operation).
    pub(crate) fn keep(store: &Store, id: &str, runner: &str) -> Held {
        let (stop, stopped) = mpsc::channel();
        let lost = Arc::new(AtomicBool::new(false));
        let cancel = CancelFlag::default();
        let beat = Beat {
            location: store.location().clone(),
            id: id.to_owned(),
            runner: runner.to_owned(),
            lost: Arc::clone(&lost),
            cancel: cancel.clone(),
        };
        let heartbeat = std::thread::Builder::new()
            .name(format!("lease {id}"))
            .spawn(move || beat.run(&stopped))
            .map_err(|error| tracing::warn!(%error, "no heartbeat thread: the lease may lapse"))
            .ok();
        Held {
            id: id.to_owned(),
            runner: runner.to_owned(),
            lost,
            cancel,
            stop: Some(stop),
            heartbeat,
        }
    }

    pub(crate) fn runner(&self) -> &str {
        &self.runner
    }

    /// Whether someone asked for the operation to be cancelled.
    pub(crate) fn cancel_flag(&self) -> &CancelFlag {
        &self.cancel
    }

    /// Refuses to go on once the lease may have been taken over: called before every
    /// step, so a process cut off from the control plane stops at the next boundary.
    pub(crate) fn check(&self) -> Result<()> {
        if self.lost.load(Ordering::SeqCst) {
            return Err(Error::Store(dataalm_store::Error::LeaseLost {
                op: self.id.clone(),
                runner: None,
            }));
        }
        Ok(())
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        // Dropping the sender wakes the thread, which releases the lease.
        self.stop.take();
        if let Some(heartbeat) = self.heartbeat.take() {
            let _ = heartbeat.join();
        }
    }
}

/// The heartbeat thread's work. Its own connection, because the steps use theirs from
/// another thread.
struct Beat {
    location: Location,
    id: String,
    runner: String,
    lost: Arc<AtomicBool>,
    cancel: CancelFlag,
}

/// How often the heartbeat looks for a request to cancel: a person waits for it.
const CANCEL_POLL: Duration = Duration::from_secs(1);

impl Beat {
    /// Renews the lease every third of its time until told to stop, then releases it;
    /// looks for a request to cancel every [`CANCEL_POLL`].
    fn run(&self, stopped: &mpsc::Receiver<()>) {
        let ttl = lease::ttl();
        let every = ttl / 3;
        let mut store: Option<Store> = None;
        let mut renewed = Instant::now();
        let mut tried = Instant::now();
        loop {
            let stop = match stopped.recv_timeout(every.min(CANCEL_POLL)) {
                Err(RecvTimeoutError::Timeout) => false,
                Ok(()) | Err(RecvTimeoutError::Disconnected) => true,
            };
            if store.is_none() {
                store = self.connect();
            }
            let Some(conn) = &store else {
                if stop {
                    // Unreachable: the lease lapses by itself.
                    return;
                }
                self.give_up_after(renewed, ttl);
                continue;
            };
            if stop {
                if let Err(error) = conn.release_lease(&self.id, &self.runner) {
                    tracing::warn!(%error, "operation {}: cannot release the lease", self.id);
                }
                return;
            }
            self.look_for_cancel(conn);
            if tried.elapsed() < every {
                continue;
            }
            tried = Instant::now();
            match conn.renew_lease(&self.id, &self.runner) {
                Ok(true) => renewed = Instant::now(),
                Ok(false) => {
                    self.refused(conn);
                    return;
                }
                Err(error) => {
                    // Retried at the next beat, on a new connection.
                    tracing::warn!(%error, "operation {}: cannot renew the lease", self.id);
                    store = None;
                    self.give_up_after(renewed, ttl);
                }
            }
        }
    }

    /// Raises the cancel flag once the control plane holds a request to cancel.
    fn look_for_cancel(&self, conn: &Store) {
        match conn.cancel_requested(&self.id) {
            Ok(Some(_)) => self.cancel.set(),
            Ok(None) => {}
            // Looked for again at the next beat; renewal reports trouble with the store.
            Err(error) => {
                tracing::debug!(%error, "operation {}: cannot look for a cancel", self.id)
            }
        }
    }

    /// Renewal was refused: either the operation left the running state (which gives the
    /// lease up), or another process took it over.
    fn refused(&self, conn: &Store) {
        let still_running = conn
            .operation(&self.id)
            .is_ok_and(|op| op.state == OpState::Running);
        if still_running {
            tracing::warn!(
                "operation {}: lease lost to another process; this one stops at the next step",
                self.id
            );
            self.lost.store(true, Ordering::SeqCst);
        }
    }

    /// Past two thirds of the lease time without renewal, another process may take the
    /// operation any moment: stop before it does.
    fn give_up_after(&self, renewed: Instant, ttl: std::time::Duration) {
        if renewed.elapsed() > ttl * 2 / 3 && !self.lost.swap(true, Ordering::SeqCst) {
            tracing::warn!(
                "operation {}: the lease could not be renewed for {:.0} s; this process stops at the next step",
                self.id,
                renewed.elapsed().as_secs_f64()
            );
        }
    }

    fn connect(&self) -> Option<Store> {
        Store::connect(&self.location)
            .map_err(
                |error| tracing::warn!(%error, "lease heartbeat: cannot reach the control plane"),
            )
            .ok()
    }
}
