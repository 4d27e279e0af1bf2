//! A copy that breaks says which server broke: one cluster for this binary holds the
//! source and the staging databases; in the middle of the data copy, the test ends
//! the sessions dataalm holds on one of them (`pg_terminate_backend`), as a restart or
//! a failover would.

use dataalm_core::progress::Progress;
use dataalm_core::{CopyOptions, Location};
use dataalm_engine::postgres::PgEngine;
use dataalm_engine::{Engine, Error, Side};
use dataalm_pgtest::Cluster;
use std::sync::atomic::{AtomicBool, Ordering};

const ENGINE: PgEngine = PgEngine;

fn cluster() -> &'static Cluster {
    Cluster::shared("failures")
}

/// Ends dataalm's sessions on database `victim` when the first bytes have been copied.
/// psql is a process of its own, so no client runs inside the copy's runtime.
struct TerminateOnFirstBytes {
    victim: String,
    done: AtomicBool,
}

impl Progress for TerminateOnFirstBytes {
    fn copied(&self, _bytes: u64, _total: u64, _table: Option<&str>) {
        if self.done.swap(true, Ordering::SeqCst) {
            return;
        }
        let sql = format!(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE datname = '{}' AND application_name = 'dataalm'",
            self.victim
        );
        let ended = cluster()
            .psql("postgres", &sql)
            .expect("terminate sessions");
        assert_ne!(ended.trim(), "0", "no session of dataalm to end");
    }
}

/// Copies a table of many chunks and breaks `side`'s connections on the way.
fn copy_breaking(side: Side) -> (Error, Location) {
    let pg = cluster();
    let db = pg.create_database("broken").expect("source database");
    pg.psql(
        &db,
        "CREATE TABLE t (id int, pad text);
         INSERT INTO t SELECT g, repeat('x', 200) FROM generate_series(1, 20000) g;",
    )
    .expect("fill the source");
    let staging_db = format!("{db}_copy");
    let source = Location::Postgres(pg.url(&db));
    let staging = Location::Postgres(pg.url(&staging_db));
    let victim = match side {
        Side::Source => db,
        Side::Target => staging_db,
    };
    let progress = TerminateOnFirstBytes {
        victim,
        done: AtomicBool::new(false),
    };
    // Small ranges, so chunks are left to copy after the first one reports.
    let options = CopyOptions {
        jobs: Some(2),
        split_bytes: 64 << 10,
        ..CopyOptions::default()
    };
    let error = ENGINE
        .copy(&source, &staging, &options, &progress)
        .expect_err("the copy lost its connections");
    let failed_at = match side {
        Side::Source => source,
        Side::Target => staging,
    };
    (error, failed_at)
}

fn assert_names(side: Side) {
    let (error, location) = copy_breaking(side);
    let text = error.to_string();
    let Error::ServerFailed {
        side: named,
        location: shown,
        ..
    } = &error
    else {
        panic!("not a ServerFailed error: {error:?}");
    };
    assert_eq!(*named, side, "{text}");
    assert_eq!(*shown, location.redacted(), "{text}");
    assert!(text.contains(&format!("on the {side} server")), "{text}");
    assert!(!text.contains(cluster().password()), "{text}");
}

#[test]
fn a_broken_source_connection_is_named_as_the_source() {
    assert_names(Side::Source);
}

#[test]
fn a_broken_staging_connection_is_named_as_the_target() {
    assert_names(Side::Target);
}
