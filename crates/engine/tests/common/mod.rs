//! What the PostgreSQL engine's test binaries share: two throw-away clusters per binary
//! (`source` and `target` servers), the copy options they use, and small psql helpers.
//! Each binary uses a part of it.
#![allow(dead_code)]

use dataalm_core::{CopyOptions, Location};
use dataalm_engine::postgres::PgEngine;
use dataalm_pgtest::Cluster;
use std::sync::atomic::{AtomicU32, Ordering};

pub const ENGINE: PgEngine = PgEngine;

pub fn source() -> &'static Cluster {
    Cluster::shared("source")
}

pub fn target() -> &'static Cluster {
    Cluster::shared("target")
}

pub fn pg(url: String) -> Location {
    Location::Postgres(url)
}

/// Two lanes, verified, owners and grants kept, and tables over 64 kB split into
/// ranges so that path is taken on test-sized data.
pub fn options() -> CopyOptions {
    CopyOptions {
        jobs: Some(2),
        verify: true,
        owners_and_grants: true,
        split_bytes: 64 << 10,
    }
}

/// An operation id shaped like the real ones (`op-20261126-011500-ab12`).
pub fn op_id() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "op-20260101-000000-{:04x}",
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// The database a location names (engine-made names are plain ASCII, no escapes).
pub fn dbname(location: &Location) -> String {
    let Location::Postgres(url) = location else {
        panic!("not a PostgreSQL location: {location}");
    };
    let name = url.rsplit('/').next().unwrap_or_default();
    let name = name.split('?').next().unwrap_or_default();
    assert!(!name.contains('%'), "unexpected escape in {name}");
    name.to_owned()
}

pub fn psql(cluster: &Cluster, db: &str, sql: &str) -> String {
    cluster
        .psql(db, sql)
        .unwrap_or_else(|e| panic!("psql on {db}: {e}\n{sql}"))
        .trim()
        .to_owned()
}

pub fn script(cluster: &Cluster, db: &str, sql: &str) {
    cluster
        .psql_script(db, sql)
        .unwrap_or_else(|e| panic!("script on {db}: {e}\n{sql}"));
}
