//! Production and UAT finance samples (SQLite), built once per test binary; each test
//! copies them into a directory of its own, so tests run in parallel without sharing
//! a file. Test binaries include it with `mod samples;`.

use dataalm_engine::sqlite::SqliteDb;
use dataalm_finance::SampleOptions;
use std::path::Path;
use std::sync::OnceLock;
use tempfile::TempDir;

/// Copies `prod.db` (3 MB) and `uat.db` (2 MB) into `dir`.
pub fn copy_into(dir: &Path) {
    for file in ["prod.db", "uat.db"] {
        std::fs::copy(built().join(file), dir.join(file)).expect("copy sample");
    }
}

fn built() -> &'static Path {
    static SAMPLES: OnceLock<TempDir> = OnceLock::new();
    SAMPLES
        .get_or_init(|| {
            let dir = tempfile::tempdir().expect("temp dir");
            for (file, role, size_bytes, seed) in [
                ("prod.db", dataalm_finance::Role::Production, 3_000_000, 1),
                ("uat.db", dataalm_finance::Role::Uat, 2_000_000, 2),
            ] {
                let mut db = SqliteDb::create(&dir.path().join(file)).expect("create sample");
                let options = SampleOptions {
                    role,
                    size_bytes,
                    seed,
                };
                dataalm_finance::create(&mut db, &options, &dataalm_core::progress::Silent)
                    .expect("fill sample");
            }
            dir
        })
        .path()
}
