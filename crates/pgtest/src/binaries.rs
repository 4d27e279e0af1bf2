//! Where the PostgreSQL server binaries are.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::Error;

/// Environment variable naming the directory holding `initdb`, `pg_ctl` and `psql`.
pub const BIN_ENV: &str = "DATAALM_PG_BIN";

/// Where Debian/Ubuntu packages install the server binaries (`<root>/<major>/bin`).
const DEBIAN_ROOT: &str = "/usr/lib/postgresql";

/// The major version looked for first.
const PREFERRED_MAJOR: u32 = 15;

/// Finds the binary directory and checks that `initdb` is in it.
pub(crate) fn locate() -> Result<PathBuf, Error> {
    let dir = resolve(std::env::var_os(BIN_ENV), Path::new(DEBIAN_ROOT));
    check(&dir)?;
    Ok(dir)
}

/// `$DATAALM_PG_BIN` if set, else `<root>/15/bin`, else the highest `<root>/<n>/bin`.
/// When nothing exists, `<root>/15/bin` (so the error names the expected place).
pub(crate) fn resolve(env: Option<OsString>, root: &Path) -> PathBuf {
    if let Some(dir) = env.filter(|v| !v.is_empty()) {
        return PathBuf::from(dir);
    }
    let preferred = version_bin(root, PREFERRED_MAJOR);
    if preferred.is_dir() {
        return preferred;
    }
    match highest_major(root) {
        Some(major) => version_bin(root, major),
        None => preferred,
    }
}

/// Fails with install instructions unless `dir/initdb` exists.
pub(crate) fn check(dir: &Path) -> Result<(), Error> {
    if dir.join("initdb").is_file() {
        Ok(())
    } else {
        Err(Error::BinariesNotFound {
            dir: dir.to_path_buf(),
        })
    }
}

fn version_bin(root: &Path, major: u32) -> PathBuf {
    root.join(major.to_string()).join("bin")
}

/// The highest numeric subdirectory of `root` that has a `bin` directory.
fn highest_major(root: &Path) -> Option<u32> {
    let entries = std::fs::read_dir(root).ok()?;
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&major| version_bin(root, major).is_dir())
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn make_bin(root: &Path, major: &str) {
        std::fs::create_dir_all(root.join(major).join("bin")).expect("mkdir");
    }

    #[test]
    fn env_wins() {
        let got = resolve(Some("/opt/pg/bin".into()), Path::new("/nonexistent"));
        assert_eq!(got, PathBuf::from("/opt/pg/bin"));
    }

    #[test]
    fn empty_env_is_ignored() {
        let got = resolve(Some("".into()), Path::new("/nonexistent"));
        assert_eq!(got, PathBuf::from("/nonexistent/15/bin"));
    }

    #[test]
    fn prefers_15_then_highest() {
        let root = tempfile::tempdir().expect("tempdir");
        make_bin(root.path(), "9");
        make_bin(root.path(), "16");
        make_bin(root.path(), "13");
        std::fs::create_dir_all(root.path().join("17")).expect("mkdir"); // no bin
        assert_eq!(resolve(None, root.path()), root.path().join("16/bin"));
        make_bin(root.path(), "15");
        assert_eq!(resolve(None, root.path()), root.path().join("15/bin"));
    }

    #[test]
    fn missing_initdb_says_how_to_install() {
        let err = check(Path::new("/nonexistent/bin")).expect_err("no initdb there");
        assert_eq!(
            err.to_string(),
            "PostgreSQL server binaries not found in /nonexistent/bin: run scripts/test \
             (installs them) or `apt-get install postgresql-15`"
        );
    }
}
