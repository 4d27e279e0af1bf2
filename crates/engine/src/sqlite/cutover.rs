//! Cutover and swap-back: replacing a live SQLite database file by another, atomically,
//! keeping the one replaced.
//!
//! Invariants, and why they hold:
//!
//! - **The target path always names a complete database, old or new.** The only change
//!   to it is `rename(staging, target)`, which POSIX makes atomic: every opener, and the
//!   disk after a crash, sees either the old inode or the new one. The staging file was
//!   synced before it got its name (see `copy`), and the directory is synced after the
//!   rename, so the rename is not undone by a crash once we report it done.
//! - **The old database is never lost.** `previous` is a hard link to the target's inode,
//!   made and synced *before* the rename; the rename then only drops the target's name
//!   for that inode. A crash between the two leaves an extra name for the same file, and
//!   the next call (staging and previous both present) simply goes on.
//! - **No transaction is cut in half.** The rename happens while we hold SQLite's
//!   EXCLUSIVE lock on the target, so no writer is mid-transaction and no hot journal is
//!   pending (taking the lock rolls any back). Companion files (`-journal`, `-wal`,
//!   `-shm`) are named after the path, not the inode: left in place they would be applied
//!   to the new file. They are removed while we hold the lock, before the rename, when
//!   they can only be stale; after the rename they might belong to a new connection.
//! - **WAL targets leave WAL first.** In WAL mode committed pages may live only in
//!   `-wal`, and every connection shares `-shm` by name. We checkpoint, switch the target
//!   to `journal_mode=DELETE` (which SQLite only allows when no other connection has it
//!   open) and keep the lock with `locking_mode=EXCLUSIVE` so nobody can switch it back
//!   before the rename. A WAL target still open elsewhere therefore makes the cutover
//!   fail after [`LOCK_TIMEOUT`] rather than risk mixing two databases' logs.
//! - **Idempotent.** No staging but a previous: the rename already happened. Staging
//!   and previous: a crash came between link and rename; the link is kept as it is.
//!   A swap-back that crashed may leave `<target>.dataalm-discard`, a spare name for the
//!   database it threw away; the next swap-back removes it.
//!
//! Connections opened before the rename keep their descriptor of the old inode: they go
//! on reading the old data, and SQLite refuses their writes (`SQLITE_READONLY_DBMOVED`)
//! because the file they opened no longer has that name. Applications must reconnect; the
//! downtime we report is the time we hold the lock, during which new connections wait.

use super::files::{
    exists, io_error, remove_companions, remove_if_exists, sync_parent, with_suffix,
};
use crate::sqlite::db::sql_error;
use crate::{Error, LOCK_TIMEOUT, Result};
use rusqlite::{Connection, ErrorCode, OpenFlags};
use std::path::Path;
use std::time::{Duration, Instant};

/// Swaps `staging` in as `target`, keeping the old target as `previous`; returns the
/// downtime.
pub(crate) fn cutover(target: &Path, staging: &Path, previous: &Path) -> Result<Duration> {
    if !exists(staging)? {
        if exists(previous)? {
            // Done by an earlier call; make sure its rename reached the disk.
            sync_parent(target)?;
            return Ok(Duration::ZERO);
        }
        return Err(Error::Other(format!(
            "cannot cut over {}: neither the staging copy {} nor the previous database {} exists",
            target.display(),
            staging.display(),
            previous.display()
        )));
    }
    if !exists(target)? {
        return Err(Error::Unreachable {
            location: target.display().to_string(),
            message: "no database to replace".into(),
        });
    }
    if !exists(previous)? {
        // A second name for the target's inode: outside the lock, since it shares the
        // inode's content whatever writers do meanwhile.
        std::fs::hard_link(target, previous).map_err(io_error(format!(
            "keep {} as {}",
            target.display(),
            previous.display()
        )))?;
        sync_parent(previous)?;
    }

    let lock = ExclusiveLock::take(target)?;
    remove_companions(target)?;
    std::fs::rename(staging, target).map_err(io_error(format!(
        "rename {} to {}",
        staging.display(),
        target.display()
    )))?;
    sync_parent(target)?;
    let downtime = lock.held_for();
    drop(lock);
    Ok(downtime)
}

/// Puts `previous` back as `target`. The database it replaces (the refreshed copy) is
/// discarded, as a rollback wants.
pub(crate) fn swap_back(target: &Path, previous: &Path) -> Result<()> {
    if !exists(previous)? {
        return Ok(());
    }
    if !exists(target)? {
        rename_durably(previous, target)?;
        return Ok(());
    }
    if same_file(target, previous)? {
        // The cutover stopped between link and rename: the target is still the old
        // database, and `previous` only a second name for it.
        remove_if_exists(previous)?;
        return sync_parent(previous);
    }
    // The file we replace is freed when its last name and descriptor go, which for a big
    // file takes long (every block goes back to the file system). A spare name makes that
    // happen after we let go of the lock, not while holding it (nor inside SQLite's
    // process-wide mutex, which it holds while closing a file).
    let discard = with_suffix(target, ".dataalm-discard");
    remove_if_exists(&discard)?;
    std::fs::hard_link(target, &discard).map_err(io_error(format!(
        "link {} to {}",
        target.display(),
        discard.display()
    )))?;
    // The same care as a cutover: the refreshed database may be in use, or in WAL mode.
    let swapped = ExclusiveLock::take(target).and_then(|lock| {
        remove_companions(target)?;
        rename_durably(previous, target)?;
        drop(lock);
        Ok(())
    });
    let removed = remove_if_exists(&discard);
    swapped.and(removed)
}

fn rename_durably(from: &Path, to: &Path) -> Result<()> {
    std::fs::rename(from, to).map_err(io_error(format!(
        "rename {} to {}",
        from.display(),
        to.display()
    )))?;
    sync_parent(to)
}

fn same_file(a: &Path, b: &Path) -> Result<bool> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let stat = |p: &Path| {
            std::fs::metadata(p)
                .map(|m| (m.dev(), m.ino()))
                .map_err(io_error(format!("stat {}", p.display())))
        };
        Ok(stat(a)? == stat(b)?)
    }
    #[cfg(not(unix))]
    {
        let _ = (a, b);
        Ok(false)
    }
}

/// SQLite's EXCLUSIVE lock on a database, held until dropped, with the database in a
/// rollback-journal mode.
struct ExclusiveLock {
    /// Holds the lock; closing it releases the lock.
    _conn: Connection,
    acquired: Instant,
}

/// Why an attempt to lock failed: worth another try, or not.
enum Attempt {
    Busy(String),
    Fatal(Error),
}

impl ExclusiveLock {
    /// Takes the lock, retrying for [`LOCK_TIMEOUT`] while other connections are in the way.
    fn take(path: &Path) -> Result<ExclusiveLock> {
        let deadline = Instant::now() + LOCK_TIMEOUT;
        loop {
            match ExclusiveLock::try_take(path, deadline) {
                Ok(lock) => return Ok(lock),
                Err(Attempt::Busy(why)) if Instant::now() >= deadline => {
                    return Err(Error::Sql {
                        context: format!(
                            "lock {} for the swap: still in use after {}s (a long \
                             transaction, or a WAL database the application keeps open)",
                            path.display(),
                            LOCK_TIMEOUT.as_secs()
                        ),
                        message: why,
                    });
                }
                Err(Attempt::Busy(_)) => std::thread::sleep(Duration::from_millis(20)),
                Err(Attempt::Fatal(e)) => return Err(e),
            }
        }
    }

    fn try_take(path: &Path, deadline: Instant) -> Result<ExclusiveLock, Attempt> {
        let fatal = |context: &'static str| move |e: rusqlite::Error| classify(path, context, e);
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(|e| {
            Attempt::Fatal(Error::Unreachable {
                location: path.display().to_string(),
                message: e.to_string(),
            })
        })?;
        let wait = deadline.saturating_duration_since(Instant::now());
        conn.busy_timeout(wait).map_err(fatal("set busy timeout"))?;
        // Keep every lock this connection takes until it closes: nobody may slip in
        // between leaving WAL mode and the rename.
        conn.execute_batch("PRAGMA locking_mode=EXCLUSIVE")
            .map_err(fatal("set locking_mode=EXCLUSIVE"))?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .map_err(fatal("read the journal mode"))?;
        if mode.eq_ignore_ascii_case("wal") {
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
                .map_err(fatal("checkpoint the WAL"))?;
            let mode: String = conn
                .query_row("PRAGMA journal_mode=DELETE", [], |r| r.get(0))
                .map_err(fatal("leave WAL mode"))?;
            if mode.eq_ignore_ascii_case("wal") {
                return Err(Attempt::Busy(
                    "the database is in WAL mode and still open elsewhere; close the \
                     application's connections and retry"
                        .into(),
                ));
            }
        }
        conn.execute_batch("BEGIN EXCLUSIVE")
            .map_err(fatal("take the exclusive lock"))?;
        // Reading is what makes SQLite deal with a hot journal under our lock.
        conn.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))
            .map_err(fatal("read the database under the lock"))?;
        Ok(ExclusiveLock {
            _conn: conn,
            acquired: Instant::now(),
        })
    }

    fn held_for(&self) -> Duration {
        self.acquired.elapsed()
    }
}

fn classify(path: &Path, context: &str, e: rusqlite::Error) -> Attempt {
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => Attempt::Busy(e.to_string()),
        Some(ErrorCode::NotADatabase) => Attempt::Fatal(Error::NotADatabase {
            location: path.display().to_string(),
            engine: "SQLite",
            message: e.to_string(),
        }),
        _ => Attempt::Fatal(sql_error(context, e)),
    }
}
