//! The SQLite engine: a database is a file, so moving databases is moving files.
//!
//! [`SqliteDb`] is the connection; [`SqliteEngine`] copies a live database into a
//! staging file beside the target (`copy`), swaps it in with one atomic rename and keeps
//! the old file (`cutover`), and puts the old file back on rollback. The reasoning that
//! makes each of these safe is written at the top of its module.

mod copy;
mod cutover;
mod db;
mod files;
mod mask;

pub use db::SqliteDb;

use crate::{CopyStats, Database, DbInfo, Engine, Error, Identity, Result};
use dataalm_core::progress::Progress;
use dataalm_core::{CopyOptions, Location};
use files::{file_safe, parent_dir, size_or_zero, sqlite_path, with_suffix};
use std::os::unix::fs::MetadataExt;
use std::time::Duration;

/// The SQLite implementation of [`Engine`].
pub struct SqliteEngine;

impl SqliteEngine {
    /// `<target>.dataalm-<op>.<kind>`, in the target's directory so that a rename can
    /// move it over the target.
    fn beside(target: &Location, op_id: &str, kind: &str) -> Location {
        match target {
            Location::Sqlite(path) => Location::Sqlite(with_suffix(
                path,
                &format!(".dataalm-{}.{kind}", file_safe(op_id)),
            )),
            // Not ours: every other method refuses a non-SQLite location.
            other => other.clone(),
        }
    }
}

/// Refuses a target directory dataalm cannot write: the copy, the cutover's rename and a
/// rollback all write there. Tried, not read from mode bits, which do not stop root and
/// say nothing of a read-only mount; the probe file is gone at once.
fn check_writable(dir: &std::path::Path) -> Result<()> {
    tempfile::Builder::new()
        .prefix(".dataalm-probe-")
        .tempfile_in(dir)
        .map(drop)
        .map_err(|e| Error::Io {
            context: format!(
                "the target's directory {} is not writable, and a refresh writes its copy there",
                dir.display()
            ),
            source: e,
        })
}

impl Engine for SqliteEngine {
    fn name(&self) -> &'static str {
        "sqlite"
    }

    fn probe(&self, location: &Location) -> Result<DbInfo> {
        let path = sqlite_path(location)?;
        // Opening and reading the schema tells a missing file, a foreign file and a
        // database apart.
        drop(SqliteDb::open(path, true)?);
        let size_bytes = size_or_zero(path)? + size_or_zero(&with_suffix(path, "-wal"))?;
        let file = std::fs::metadata(path).map_err(|e| Error::Io {
            context: format!("read {}", path.display()),
            source: e,
        })?;
        let identity = Identity::File {
            device: file.dev(),
            inode: file.ino(),
        };
        Ok(DbInfo {
            size_bytes,
            identity,
        })
    }

    fn open(&self, location: &Location, read_only: bool) -> Result<Box<dyn Database>> {
        Ok(Box::new(SqliteDb::open(sqlite_path(location)?, read_only)?))
    }

    fn check_refresh(&self, _source: &Location, target: &Location) -> Result<()> {
        let path = sqlite_path(target)?;
        let is_link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
        if is_link {
            let pointee = std::fs::canonicalize(path).map_or_else(
                |e| format!("nothing that exists ({e})"),
                |p| p.display().to_string(),
            );
            return Err(Error::SymlinkTarget {
                link: path.display().to_string(),
                pointee,
            });
        }
        check_writable(parent_dir(path))
    }

    fn staging_location(&self, target: &Location, op_id: &str) -> Location {
        SqliteEngine::beside(target, op_id, "staging")
    }

    fn previous_location(&self, target: &Location, op_id: &str) -> Location {
        SqliteEngine::beside(target, op_id, "previous")
    }

    fn check_space(&self, target: &Location, bytes: u64) -> Result<()> {
        let dir = parent_dir(sqlite_path(target)?);
        let available = fs4::available_space(dir).map_err(|e| Error::Io {
            context: format!("read the free space of {}", dir.display()),
            source: e,
        })?;
        if bytes > available {
            return Err(Error::NoSpace {
                location: dir.display().to_string(),
                needed: bytes,
                available,
            });
        }
        Ok(())
    }

    fn copy_masked(
        &self,
        source: &Location,
        staging: &Location,
        _options: &CopyOptions,
        mask: Option<&crate::MaskSet>,
        progress: &dyn Progress,
    ) -> Result<CopyStats> {
        copy::copy(sqlite_path(source)?, sqlite_path(staging)?, mask, progress)
    }

    fn cutover(
        &self,
        target: &Location,
        staging: &Location,
        previous: &Location,
    ) -> Result<Duration> {
        cutover::cutover(
            sqlite_path(target)?,
            sqlite_path(staging)?,
            sqlite_path(previous)?,
        )
    }

    fn swap_back(&self, target: &Location, previous: &Location) -> Result<()> {
        cutover::swap_back(sqlite_path(target)?, sqlite_path(previous)?)
    }

    fn drop_database(&self, location: &Location) -> Result<()> {
        let path = sqlite_path(location)?;
        // A copy that crashed half-way leaves its partial `.tmp` beside the staging name.
        let tmp = files::with_suffix(path, copy::TMP_SUFFIX);
        files::remove_if_exists(&tmp)?;
        files::remove_companions(&tmp)?;
        if !files::exists(path)? {
            return files::remove_companions(path);
        }
        files::remove_if_exists(path)?;
        files::remove_companions(path)?;
        files::sync_parent(path)
    }

    fn exists(&self, location: &Location) -> Result<bool> {
        files::exists(sqlite_path(location)?)
    }
}
