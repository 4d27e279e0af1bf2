//! What several test binaries of the `dataalm` command read back from the databases it
//! worked on: every table's rows, and the copies it left beside a target.
#![allow(dead_code)] // each binary uses its own part

mod home;

#[allow(unused_imports)] // each binary uses its own part
pub use home::Home;

use dataalm_pgtest::Cluster;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;

/// `(rows, digest)` of every table, by name.
pub type Contents = BTreeMap<String, (i64, String)>;

/// Every table of the SQLite database at `path`, row by row, in order: equal contents,
/// whatever the file's pages.
pub fn sqlite_contents(path: &Path) -> Contents {
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY;
    let conn = rusqlite::Connection::open_with_flags(path, flags).unwrap();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut found = Contents::new();
    for table in tables {
        let mut stmt = conn
            .prepare(&format!("SELECT * FROM \"{table}\" ORDER BY 1, 2"))
            .unwrap();
        let width = stmt.column_count();
        let mut rows = stmt.query([]).unwrap();
        let (mut count, mut hash) = (0, Sha256::new());
        while let Some(row) = rows.next().unwrap() {
            count += 1;
            for i in 0..width {
                hash.update(format!("{:?}|", row.get_ref(i).unwrap()).as_bytes());
            }
        }
        found.insert(table, (count, hex::encode(hash.finalize())));
    }
    found
}

/// The databases of `cluster` that dataalm made beside `db` (staging, previous).
pub fn pg_leftovers(cluster: &Cluster, db: &str) -> Vec<String> {
    let prefix = format!("{db}__dataalm_");
    cluster
        .psql("postgres", "SELECT datname FROM pg_database ORDER BY 1")
        .unwrap()
        .lines()
        .filter(|name| name.starts_with(&prefix))
        .map(str::to_owned)
        .collect()
}
