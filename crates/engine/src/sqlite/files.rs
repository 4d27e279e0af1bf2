//! File-system helpers for the SQLite engine: where a database's companion files live,
//! how a rename is made durable, and how errors name the file they concern.
//!
//! A SQLite database is more than its file: a rollback journal (`-journal`) or a
//! write-ahead log and its index (`-wal`, `-shm`) may sit beside it, named after the
//! database's *path*, not its inode. Whoever moves database files must move or clear
//! these too, or SQLite will apply one database's journal to another.

use crate::{Error, Result};
use dataalm_core::Location;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

/// The suffixes of the files SQLite keeps beside a database.
pub(crate) const COMPANIONS: [&str; 3] = ["-journal", "-wal", "-shm"];

/// The path of a SQLite location; any other engine's location is refused.
pub(crate) fn sqlite_path(location: &Location) -> Result<&Path> {
    match location {
        Location::Sqlite(path) => Ok(path),
        other => Err(Error::Other(format!(
            "{} is a {} location, not a SQLite file",
            other.redacted(),
            other.engine_name()
        ))),
    }
}

/// `path` with `suffix` appended to its file name: `uat.db` + `-wal` = `uat.db-wal`.
pub(crate) fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// The directory holding `path`; `.` for a bare file name, so that it can be opened
/// and synced.
pub(crate) fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// Makes the renames and links done in `path`'s directory durable: a rename is only
/// on disk once its directory is synced.
pub(crate) fn sync_parent(path: &Path) -> Result<()> {
    let dir = parent_dir(path);
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error(format!("sync directory {}", dir.display())))
}

/// Removes a file; a file that is already gone is what was wanted.
pub(crate) fn remove_if_exists(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::Io {
            context: format!("remove {}", path.display()),
            source: e,
        }),
    }
}

/// Removes the journal, WAL and shared-memory files beside `path`. Only safe when no
/// connection can be using them (the caller holds the database's exclusive lock, or the
/// database is one nobody else opens).
pub(crate) fn remove_companions(path: &Path) -> Result<()> {
    for suffix in COMPANIONS {
        remove_if_exists(&with_suffix(path, suffix))?;
    }
    Ok(())
}

/// Whether `path` exists; an error other than "not found" is reported, not taken for no.
pub(crate) fn exists(path: &Path) -> Result<bool> {
    path.try_exists()
        .map_err(io_error(format!("look for {}", path.display())))
}

/// Size of a file, 0 when it does not exist.
pub(crate) fn size_or_zero(path: &Path) -> Result<u64> {
    match std::fs::metadata(path) {
        Ok(meta) => Ok(meta.len()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(Error::Io {
            context: format!("read the size of {}", path.display()),
            source: e,
        }),
    }
}

/// An error mapper for `map_err` that says what was being done.
pub(crate) fn io_error(context: impl Into<String>) -> impl FnOnce(io::Error) -> Error {
    let context = context.into();
    move |source| Error::Io { context, source }
}

/// An operation id as it may appear in a file name: anything but letters, digits, `-`
/// and `_` becomes `_`, so an id can never point outside the target's directory.
pub(crate) fn file_safe(op_id: &str) -> String {
    op_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn companions_are_named_after_the_path() {
        assert_eq!(
            with_suffix(Path::new("/data/uat.db"), "-wal"),
            PathBuf::from("/data/uat.db-wal")
        );
        assert_eq!(parent_dir(Path::new("uat.db")), Path::new("."));
        assert_eq!(file_safe("../x/1"), "___x_1");
    }
}
