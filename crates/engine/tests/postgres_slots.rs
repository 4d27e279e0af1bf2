//! A copy never takes the source's last connection slots: one cluster for this binary
//! with `max_connections = 12` and 2 slots reserved for superusers, so 10 usable, of
//! which [`SLOT_MARGIN`] stay free for production's own users. One test, because the
//! numbers count every session on the server.

use dataalm_core::progress::Silent;
use dataalm_core::{CopyOptions, Location};
use dataalm_engine::postgres::{PgEngine, SLOT_MARGIN};
use dataalm_engine::{Engine, Error};
use dataalm_pgtest::{Cluster, ClusterOptions};
use std::time::{Duration, Instant};

const ENGINE: PgEngine = PgEngine;

fn options(jobs: usize) -> CopyOptions {
    CopyOptions {
        jobs: Some(jobs),
        ..CopyOptions::default()
    }
}

/// The refusal's message, or a panic if the copy was accepted or refused otherwise.
fn refusal(source: &Location, jobs: usize) -> String {
    match ENGINE.check_copy(source, &options(jobs)) {
        Err(Error::NoConnectionSlots { message, .. }) => message,
        other => panic!("{jobs} jobs: expected a refusal, got {other:?}"),
    }
}

/// Sessions of earlier helpers end a moment after their clients go.
fn wait_for_no_other_sessions(pg: &Cluster) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let sql = "SELECT count(*) FROM pg_stat_activity \
               WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()";
    while pg.psql("postgres", sql).expect("count sessions").trim() != "0" {
        assert!(Instant::now() < deadline, "sessions did not end");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_copy_that_would_exhaust_the_source_connection_slots_is_refused() {
    assert_eq!(SLOT_MARGIN, 5, "the numbers below assume a margin of 5");
    let pg = Cluster::start(&ClusterOptions {
        settings: vec![
            ("max_connections".into(), "12".into()),
            ("superuser_reserved_connections".into(), "2".into()),
        ],
        ..ClusterOptions::default()
    })
    .expect("start a small cluster");
    let db = pg.create_database("slots").expect("database");
    pg.psql(&db, "CREATE TABLE t (id int); INSERT INTO t VALUES (1)")
        .expect("table");
    let source = Location::Postgres(pg.url(&db));
    wait_for_no_other_sessions(&pg);

    // 10 usable: 4 jobs + the snapshot = 5, which leaves the 5 of the margin.
    ENGINE.check_copy(&source, &options(4)).expect("4 jobs fit");
    let message = refusal(&source, 5);
    assert!(
        message.contains(
            "10 free connection slots (max_connections 12, 2 reserved for superusers, 0 in use)"
        ) && message.contains("5 jobs needs 6")
            && message.contains("use at most 4 jobs"),
        "{message}"
    );

    // Sessions of production's users count.
    let held: Vec<postgres::Client> = (0..3)
        .map(|_| pg.client(&db).expect("hold a session"))
        .collect();
    let message = refusal(&source, 4);
    assert!(
        message.contains("7 free connection slots") && message.contains("use 1 job"),
        "{message}"
    );

    // The copy itself checks again, before it creates anything.
    let staging_db = format!("{db}_copy");
    let staging = Location::Postgres(pg.url(&staging_db));
    let error = ENGINE
        .copy(&source, &staging, &options(4), &Silent)
        .expect_err("no room for 4 jobs");
    assert!(matches!(error, Error::NoConnectionSlots { .. }), "{error}");
    assert!(!ENGINE.exists(&staging).expect("look for staging"));
    drop(held);

    // A role's CONNECTION LIMIT counts too.
    pg.create_role("slot_reader", "Reader-Pw-1", "LOGIN CONNECTION LIMIT 3")
        .expect("role");
    let reader = Location::Postgres(pg.url_as("slot_reader", "Reader-Pw-1", &db));
    wait_for_no_other_sessions(&pg);
    let message = refusal(&reader, 3);
    assert!(
        message.contains("user `slot_reader` has CONNECTION LIMIT 3")
            && message.contains("use at most 2 jobs"),
        "{message}"
    );
    ENGINE
        .check_copy(&reader, &options(2))
        .expect("2 jobs fit the role's limit");
}
