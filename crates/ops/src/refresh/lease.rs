//! Holding an operation while this process works on it: the claim, the heartbeat that
//! keeps the lease alive, and the release when the work stops (see
//! `dataalm_store::lease` for the rules).

use crate::{Error, Result};
use dataalm_core::Location;
use dataalm_store::Store;
use dataalm_store::lease::{self, Claim};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;

/// This process's hold on an operation. A thread renews the lease every third of its
/// time; dropping the hold stops the thread and gives the lease up.
pub(crate) struct Held {
    stop: Option<mpsc::Sender<()>>,
    heartbeat: Option<JoinHandle<()>>,
}

impl Held {
    /// Claims operation `id`; refused while another live process holds it.
    pub(crate) fn claim(store: &Store, id: &str) -> Result<Held> {
        match store.claim_operation(id)? {
            Claim::Taken => Ok(Held::keep(store, id)),
            Claim::HeldBy(runner) => Err(Error::StillRunning {
                op: id.to_owned(),
                runner,
                lease_secs: lease::ttl().as_secs().max(1),
            }),
        }
    }

    /// Keeps the lease this process already holds (it created the operation).
    pub(crate) fn keep(store: &Store, id: &str) -> Held {
        let (stop, stopped) = mpsc::channel();
        let location = store.location().clone();
        let id = id.to_owned();
        let heartbeat = std::thread::Builder::new()
            .name(format!("lease {id}"))
            .spawn(move || beat(&location, &id, &stopped))
            .map_err(|error| tracing::warn!(%error, "no heartbeat thread: the lease may lapse"))
            .ok();
        Held {
            stop: Some(stop),
            heartbeat,
        }
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

/// Renews the lease until told to stop, then releases it. Its own connection, because
/// the steps use theirs from another thread.
fn beat(location: &Location, id: &str, stopped: &mpsc::Receiver<()>) {
    let every = lease::ttl() / 3;
    let mut store: Option<Store> = None;
    loop {
        let stop = match stopped.recv_timeout(every) {
            Err(RecvTimeoutError::Timeout) => false,
            Ok(()) | Err(RecvTimeoutError::Disconnected) => true,
        };
        if store.is_none() {
            store = connect(location);
        }
        let Some(conn) = &store else { continue };
        let result = if stop {
            conn.release_lease(id).map(|()| true)
        } else {
            conn.renew_lease(id)
        };
        match result {
            Ok(true) if stop => return,
            Ok(true) => {}
            Ok(false) => {
                // Leaving the running state gives the lease up; otherwise it was taken.
                let still_running = conn
                    .operation(id)
                    .is_ok_and(|op| op.state == dataalm_core::OpState::Running);
                if still_running {
                    tracing::warn!(
                        "operation {id}: lease lost to another process; its next journal write will stop this one"
                    );
                }
                return;
            }
            Err(error) => {
                // A control plane that blips is retried at the next beat, on a new connection.
                tracing::warn!(%error, "operation {id}: cannot renew the lease");
                store = None;
                if stop {
                    return;
                }
            }
        }
    }
}

fn connect(location: &Location) -> Option<Store> {
    Store::connect(location)
        .map_err(|error| tracing::warn!(%error, "lease heartbeat: cannot reach the control plane"))
        .ok()
}
