//! The staging copy: a consistent, durable copy of a live SQLite database, made without
//! ever writing to it.
//!
//! Invariants, and why they hold:
//!
//! - **Consistent.** Every byte is read inside one read transaction on the source. In
//!   rollback-journal mode that transaction holds SQLite's SHARED lock, and no writer can
//!   change the database file without first upgrading to EXCLUSIVE, which a SHARED lock
//!   held by anyone forbids; so the file's bytes cannot change while we copy them and a
//!   plain file copy is a snapshot. (Writers queue behind us for the length of the copy:
//!   that is the price of the fastest copy, and SQLite's own backup would hold the same
//!   lock for as long.) In WAL mode readers do not stop writers and committed pages may
//!   still sit in the `-wal` file, so the file alone is not the database; there the online
//!   backup API copies the pages of our read transaction's snapshot, and holding that
//!   transaction across backup steps keeps them all in one snapshot.
//! - **The source is only read.** It is opened read-only, through SQLite and through the
//!   file descriptor we copy from. A read-only connection refuses to roll back a hot
//!   journal (a writer that crashed mid-transaction): we wait for the application to
//!   recover it, then give up with an error, rather than copying a half-written file.
//! - **Durable before visible.** Pages go to `<staging>.tmp`, which is synced, then
//!   renamed to `<staging>` and the directory synced. A staging file therefore only ever
//!   exists complete. A failed copy removes its `.tmp`; a crash leaves at worst a stray
//!   one, which the next attempt overwrites and a rollback or cancel removes.
//! - **No foreign journal.** A staging file left by a crashed attempt may have a hot
//!   journal beside it (a neutralize that died mid-transaction); SQLite would "roll it
//!   back" into the fresh copy. Companion files of the tmp and staging paths are removed
//!   before the new file takes the name.
//! - **Rollback-journal mode.** The staging file ends in `journal_mode=DELETE` with no
//!   `-wal`/`-shm`, so that the cutover is a rename of one file.
//!
//! One POSIX caveat: closing *any* descriptor of a file drops every `fcntl` lock this
//! process holds on it, including those of other SQLite connections. We close our
//! descriptor only after our own read transaction has ended; dataalm holds no other
//! connection to a source while it copies it.

use super::files::{io_error, remove_companions, remove_if_exists, sync_parent, with_suffix};
use crate::sqlite::db::sql_error;
use crate::{CopyStats, Error, LOCK_TIMEOUT, MaskSet, Result, stop_if_cancelled};
use dataalm_core::Step;
use dataalm_core::failpoint::{self, When};
use dataalm_core::progress::Progress;
use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, ErrorCode, OpenFlags};
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::time::{Duration, Instant};

/// The copy is written to the staging path with this suffix, then renamed.
pub(crate) const TMP_SUFFIX: &str = ".tmp";

/// How much is copied between two progress reports. Large, so the kernel copies in big
/// runs and progress costs nothing.
const CHUNK: u64 = 64 * 1024 * 1024;

pub(crate) const METHOD_FILE: &str = "file copy under a shared lock (rollback journal)";
pub(crate) const METHOD_BACKUP: &str = "online backup API in one read snapshot (WAL)";

/// Copies `source` into `staging`, masked by `mask` before it takes the name; see the
/// module documentation.
pub(crate) fn copy(
    source: &Path,
    staging: &Path,
    mask: Option<&MaskSet>,
    progress: &dyn Progress,
) -> Result<CopyStats> {
    let tmp = with_suffix(staging, TMP_SUFFIX);
    // Both are removed or overwritten below: make sure neither is the source under
    // another name.
    for path in [staging, tmp.as_path()] {
        if path == source || same_inode(path, source) {
            return Err(Error::Other(format!(
                "the staging copy {} would overwrite its source {}",
                path.display(),
                source.display()
            )));
        }
    }
    remove_if_exists(&tmp)?;
    remove_companions(&tmp)?;

    let copied = copy_to_tmp(source, &tmp, progress)
        .and_then(|(bytes, method)| Ok((bytes, method, mask_tmp(&tmp, mask, progress)?)));
    let (bytes, method, masked) = match copied {
        Ok(copied) => copied,
        Err(error) => {
            // A partial copy may be as large as the source: never leave it to fill the
            // disk. Its removal failing must not hide why the copy failed.
            let _ = remove_if_exists(&tmp).and_then(|()| remove_companions(&tmp));
            return Err(error);
        }
    };

    // The staging name is only given to a complete, synced file.
    remove_companions(staging)?;
    std::fs::rename(&tmp, staging).map_err(io_error(format!(
        "rename {} to {}",
        tmp.display(),
        staging.display()
    )))?;
    sync_parent(staging)?;

    let tables = count_rows(staging)?;
    Ok(CopyStats {
        bytes,
        tables,
        method: method.to_owned(),
        masked,
    })
}

/// Masks the private copy and syncs it again; nothing without rules.
fn mask_tmp(
    tmp: &Path,
    mask: Option<&MaskSet>,
    progress: &dyn Progress,
) -> Result<Vec<(String, u64)>> {
    let Some(mask) = mask.filter(|m| !m.rules.is_empty()) else {
        return Ok(Vec::new());
    };
    let counts = super::mask::mask_copy(tmp, mask, progress)?;
    remove_companions(tmp)?;
    File::open(tmp)
        .and_then(|f| f.sync_all())
        .map_err(io_error(format!("sync {}", tmp.display())))?;
    Ok(counts)
}

/// Writes a synced copy of `source` to `tmp`; returns its size and how it was made.
fn copy_to_tmp(source: &Path, tmp: &Path, progress: &dyn Progress) -> Result<(u64, &'static str)> {
    if !source.is_file() {
        return Err(Error::Unreachable {
            location: source.display().to_string(),
            message: "no such database file".into(),
        });
    }
    // Declared before the connection so that it is closed after it, on every path: see the
    // POSIX caveat in the module documentation.
    let source_file = File::open(source).map_err(|e| Error::Unreachable {
        location: source.display().to_string(),
        message: e.to_string(),
    })?;
    let conn = open_read_only(source)?;
    begin_snapshot(&conn, source)?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .map_err(|e| sql_error("read the source's journal mode", e))?;

    let copied = if mode.eq_ignore_ascii_case("wal") {
        backup_to(&conn, tmp, progress).map(|bytes| (bytes, METHOD_BACKUP))
    } else {
        same_file(&source_file, source)?;
        copy_bytes(&source_file, tmp, progress).map(|bytes| (bytes, METHOD_FILE))
    };
    // Ends the read transaction; any error in it is of no consequence to the copy.
    let _ = conn.execute_batch("COMMIT");
    drop(conn);
    drop(source_file);
    copied
}

fn open_read_only(path: &Path) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut conn = Connection::open_with_flags(path, flags).map_err(|e| Error::Unreachable {
        location: path.display().to_string(),
        message: e.to_string(),
    })?;
    conn.busy_handler(Some(patient))
        .map_err(|e| sql_error("set busy handler", e))?;
    Ok(conn)
}

/// How long a copy waits for its read lock on a busy source.
const READ_LOCK_WAIT_MS: i32 = 30_000;

/// Busy handler of the copy's source connection. In rollback-journal mode a reader can
/// only get in between two commits of a busy writer; SQLite's own handler sleeps ever
/// longer (up to 100 ms) and can miss every such gap, so we look every millisecond, for
/// longer than [`LOCK_TIMEOUT`]: a refresh would rather wait than fail.
fn patient(attempts: i32) -> bool {
    std::thread::sleep(Duration::from_millis(1));
    // Each attempt takes at least a millisecond, usually a little more.
    attempts < READ_LOCK_WAIT_MS
}

/// Opens a read transaction and reads, which is when SQLite takes its lock (and its WAL
/// snapshot). Waits out a hot journal for [`LOCK_TIMEOUT`]: the application's next
/// connection rolls it back, which we, read-only, must not do.
fn begin_snapshot(conn: &Connection, source: &Path) -> Result<()> {
    let deadline = Instant::now() + LOCK_TIMEOUT;
    loop {
        conn.execute_batch("BEGIN")
            .map_err(|e| sql_error("begin a read transaction on the source", e))?;
        let read = conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
            r.get::<_, i64>(0)
        });
        let Err(e) = read else {
            return Ok(());
        };
        let _ = conn.execute_batch("ROLLBACK");
        let hot_journal = matches!(
            &e,
            rusqlite::Error::SqliteFailure(f, _) if f.extended_code == rusqlite::ffi::SQLITE_READONLY_ROLLBACK
        );
        if hot_journal && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        return Err(if hot_journal {
            Error::Other(format!(
                "{} has a hot journal (a writer stopped mid-transaction): open it once with \
                 the application so that SQLite rolls it back, then copy again",
                source.display()
            ))
        } else if e.sqlite_error_code() == Some(ErrorCode::NotADatabase) {
            Error::NotADatabase {
                location: source.display().to_string(),
                engine: "SQLite",
                message: e.to_string(),
            }
        } else {
            sql_error("read the source", e)
        });
    }
}

/// Refuses a source replaced (renamed over) between opening our descriptor and taking
/// the lock: the lock would then protect a file other than the one we copy.
fn same_file(file: &File, path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let open = file
            .metadata()
            .map_err(io_error(format!("stat {}", path.display())))?;
        let named =
            std::fs::metadata(path).map_err(io_error(format!("stat {}", path.display())))?;
        if (open.dev(), open.ino()) != (named.dev(), named.ino()) {
            return Err(Error::Other(format!(
                "{} was replaced while the copy started; copy again",
                path.display()
            )));
        }
    }
    #[cfg(not(unix))]
    let _ = (file, path);
    Ok(())
}

/// Whether two paths name the same existing file.
fn same_inode(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (std::fs::metadata(a), std::fs::metadata(b)) {
            (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (a, b);
        false
    }
}

/// Copies the locked file's bytes to `tmp` with the kernel's copy (`copy_file_range` on
/// Linux: no trip through user space), then syncs it.
fn copy_bytes(source: &File, tmp: &Path, progress: &dyn Progress) -> Result<u64> {
    let total = source
        .metadata()
        .map_err(io_error("stat the source"))?
        .len();
    let out = File::create(tmp).map_err(io_error(format!("create {}", tmp.display())))?;
    let reader = source;
    let mut writer = &out;
    let mut done = 0u64;
    progress.copied(0, total, None);
    while done < total {
        let want = CHUNK.min(total - done);
        let n = io::copy(&mut reader.take(want), &mut writer)
            .map_err(io_error(format!("copy into {}", tmp.display())))?;
        if n == 0 {
            // Impossible under the shared lock, unless something ignores SQLite's locks.
            return Err(Error::Other(format!(
                "the source shrank during the copy ({done} of {total} bytes copied)"
            )));
        }
        done += n;
        progress.copied(done, total, None);
        if done == n {
            failpoint::check(Step::CopyToStaging, When::During);
        }
        stop_if_cancelled(progress)?;
    }
    out.sync_all()
        .map_err(io_error(format!("sync {}", tmp.display())))?;
    Ok(total)
}

/// Copies the snapshot of `source`'s open read transaction into a new database at `tmp`
/// with the online backup API, then makes it a synced rollback-journal database.
fn backup_to(source: &Connection, tmp: &Path, progress: &dyn Progress) -> Result<u64> {
    let mut dest = Connection::open(tmp).map_err(|e| sql_error("create the staging copy", e))?;
    // Nothing reads `tmp` before it is synced and renamed, so SQLite's own journaling and
    // syncing would only slow the copy down.
    dest.execute_batch("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF")
        .map_err(|e| sql_error("prepare the staging copy", e))?;
    let page_size: i64 = source
        .query_row("PRAGMA page_size", [], |r| r.get(0))
        .map_err(|e| sql_error("read the source's page size", e))?;
    let pages_per_step = i32::try_from(CHUNK / page_size.max(512) as u64).unwrap_or(i32::MAX);
    {
        let backup =
            Backup::new(source, &mut dest).map_err(|e| sql_error("start the online backup", e))?;
        let mut first = true;
        loop {
            let step = backup
                .step(pages_per_step)
                .map_err(|e| sql_error("online backup", e))?;
            let p = backup.progress();
            let page_bytes = |pages: i32| u64::try_from(pages).unwrap_or(0) * page_size as u64;
            progress.copied(
                page_bytes(p.pagecount - p.remaining),
                page_bytes(p.pagecount),
                None,
            );
            if std::mem::take(&mut first) {
                failpoint::check(Step::CopyToStaging, When::During);
            }
            stop_if_cancelled(progress)?;
            match step {
                StepResult::Done => break,
                StepResult::More => {}
                // The destination is ours alone; wait briefly and go on.
                _ => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    }
    // The backup copied the source's header, which says WAL: turn it into a plain
    // rollback-journal database so that the cutover moves exactly one file.
    let mode: String = dest
        .query_row("PRAGMA journal_mode=DELETE", [], |r| r.get(0))
        .map_err(|e| sql_error("switch the staging copy to journal_mode=DELETE", e))?;
    if !mode.eq_ignore_ascii_case("delete") {
        return Err(Error::Other(format!(
            "the staging copy stayed in journal mode {mode}"
        )));
    }
    dest.close()
        .map_err(|(_, e)| sql_error("close the staging copy", e))?;
    let file = File::open(tmp).map_err(io_error(format!("open {}", tmp.display())))?;
    file.sync_all()
        .map_err(io_error(format!("sync {}", tmp.display())))?;
    let bytes = file
        .metadata()
        .map_err(io_error(format!("stat {}", tmp.display())))?
        .len();
    remove_companions(tmp)?;
    Ok(bytes)
}

/// Rows per table of the copy, largest first. `count(*)` walks the smallest b-tree of
/// each table, pages the copy has just left in the page cache.
fn count_rows(path: &Path) -> Result<Vec<(String, u64)>> {
    let conn = open_read_only(path)?;
    let names: Vec<String> = {
        // Virtual tables are skipped: counting them may need a module we do not have.
        let mut stmt = conn
            .prepare(
                "SELECT name FROM sqlite_master WHERE type = 'table' \
                 AND name NOT LIKE 'sqlite_%' \
                 AND coalesce(sql, '') NOT LIKE 'CREATE VIRTUAL%' ORDER BY name",
            )
            .map_err(|e| sql_error("list the tables of the copy", e))?;
        let rows = stmt
            .query_map([], |r| r.get(0))
            .map_err(|e| sql_error("list the tables of the copy", e))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(|e| sql_error("list the tables of the copy", e))?
    };
    let mut tables = Vec::with_capacity(names.len());
    for name in names {
        // Quoted whole: a SQLite table name may contain a dot.
        let sql = format!("SELECT count(*) FROM \"{}\"", name.replace('"', "\"\""));
        let rows: i64 = conn
            .query_row(&sql, [], |r| r.get(0))
            .map_err(|e| sql_error(&sql, e))?;
        tables.push((name, u64::try_from(rows).unwrap_or(0)));
    }
    tables.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Ok(tables)
}
