//! `--verify` on real servers: it passes every correct copy and names what differs.
//!
//! - a correct copy verifies although pg_dump reorders an inheritance child's columns;
//! - a correct copy verifies on a target server whose settings print values otherwise
//!   (time zone, date and interval styles, float digits, bytea output);
//! - [`compare`] on two databases that differ names the table, the first differing key
//!   and the columns, or the row one side lacks.
//!
//! Two throw-away clusters (`source` and `target`) for the binary, plus one of its own
//! for the settings test; one database per test so the tests run in parallel.

use dataalm_core::progress::Silent;
use dataalm_engine::postgres::{compare, table_checksums};
use dataalm_engine::{Engine, Error};
use dataalm_pgtest::{Cluster, ClusterOptions};
use std::sync::atomic::{AtomicU32, Ordering};

mod common;
use common::*;

/// The column names of `table` in their order in the table.
fn column_order(cluster: &Cluster, db: &str, table: &str) -> String {
    psql(
        cluster,
        db,
        &format!(
            "SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute
             WHERE attrelid = '{table}'::regclass AND attnum > 0 AND NOT attisdropped"
        ),
    )
}

// ---------------------------------------------------------------------------------------
// Correct copies verify
// ---------------------------------------------------------------------------------------

#[test]
fn a_child_whose_columns_pg_dump_reorders_verifies() {
    let (src, tgt) = (source(), target());
    let db = src.create_database("inherit").expect("source database");
    script(
        src,
        &db,
        "CREATE TABLE parent (a integer, b text);
         CREATE TABLE child (c text) INHERITS (parent);
         ALTER TABLE parent ADD COLUMN d integer;
         INSERT INTO parent VALUES (1, 'one', 10);
         INSERT INTO child (a, b, c, d) SELECT i, 'b' || i, 'c' || i, i * 2
         FROM generate_series(1, 500) i;",
    );
    let staging = ENGINE.staging_location(&pg(tgt.url(&db)), &op_id());
    let copied = ENGINE.copy(&pg(src.url(&db)), &staging, &options(), &Silent);
    if let Err(e) = copied {
        panic!("a correct copy of a reordered child failed to verify: {e}");
    }
    // The case is only a case if pg_dump did reorder the child.
    assert_eq!(column_order(src, &db, "child"), "a,b,c,d");
    assert_eq!(column_order(tgt, &dbname(&staging), "child"), "a,b,d,c");
    let (source_sums, copy_sums) = (
        table_checksums(&pg(src.url(&db))).expect("source checksums"),
        table_checksums(&staging).expect("copy checksums"),
    );
    assert_eq!(source_sums, copy_sums);
    assert_eq!(compare(&pg(src.url(&db)), &staging).ok(), Some(()));
}

/// A target server that prints every kind of value otherwise than the source.
fn foreign_settings_cluster() -> Cluster {
    let settings = [
        ("timezone", "Asia/Tokyo"),
        ("datestyle", "SQL, DMY"),
        ("intervalstyle", "iso_8601"),
        ("extra_float_digits", "0"),
        ("bytea_output", "escape"),
    ];
    Cluster::start(&ClusterOptions {
        settings: settings
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect(),
        ..ClusterOptions::default()
    })
    .expect("start the Tokyo cluster")
}

/// The generated column is computed again in the copy, and verified too.
#[test]
fn a_copy_to_a_server_in_another_time_zone_verifies() {
    let src = source();
    let tokyo = foreign_settings_cluster();
    let db = src.create_database("zone").expect("source database");
    script(
        src,
        &db,
        "CREATE TABLE events (
             id integer PRIMARY KEY, at timestamptz, day date, span interval,
             ratio float8, raw bytea,
             tokyo_day date GENERATED ALWAYS AS
                 ((at AT TIME ZONE 'Asia/Tokyo')::date) STORED);
         INSERT INTO events
         SELECT i, timestamptz '2026-03-29 01:30:00+00' + i * interval '7 hours',
                date '2026-01-31' + i, i * interval '1 day 3 hours 4.5 seconds',
                0.1 * i + 0.2, decode(md5(i::text), 'hex')
         FROM generate_series(1, 300) i;",
    );
    let shown = psql(&tokyo, "postgres", "SHOW timezone");
    assert_eq!(shown, "Asia/Tokyo", "the target must print times otherwise");
    let staging = ENGINE.staging_location(&pg(tokyo.url(&db)), &op_id());
    let copied = ENGINE.copy(&pg(src.url(&db)), &staging, &options(), &Silent);
    if let Err(e) = copied {
        panic!("a correct copy to a server in another time zone failed to verify: {e}");
    }
    assert_eq!(compare(&pg(src.url(&db)), &staging).ok(), Some(()));
}

// ---------------------------------------------------------------------------------------
// Real differences are named
// ---------------------------------------------------------------------------------------

/// Rows whose keys sort otherwise as text than as numbers (`(1000)` before `(2)`), so
/// the second pass must walk both sides in the same order to pair them.
const PEOPLE: &str = "CREATE TABLE people (
        id integer PRIMARY KEY, name text, email text, born date, score float8);
    INSERT INTO people
    SELECT i, 'name ' || i, 'p' || i || '@example.com', date '1970-01-01' + i, i / 7.0
    FROM generate_series(1, 2000) i;";

/// A new database whose default collation is ICU's, which sorts `b` between `A` and
/// `C`, unlike byte order.
fn icu_database(cluster: &Cluster) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "differ_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    psql(
        cluster,
        "postgres",
        &format!("CREATE DATABASE {name} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'und'"),
    );
    name
}

/// `setup` in a database on each server, `change` then run on the target's: what
/// [`compare`] says of them. They compare equal before the change.
fn compared(setup: &str, change: &str) -> (String, String) {
    let (src, tgt) = (source(), target());
    let (db, copy_db) = (icu_database(src), icu_database(tgt));
    script(src, &db, setup);
    script(tgt, &copy_db, setup);
    let (source_at, copy_at) = (pg(src.url(&db)), pg(tgt.url(&copy_db)));
    if let Err(e) = compare(&source_at, &copy_at) {
        panic!("equal databases compare as different: {e}");
    }
    script(tgt, &copy_db, change);
    let error = compare(&source_at, &copy_at)
        .err()
        .unwrap_or_else(|| panic!("databases that differ after {change:?} compare as equal"));
    let text = error.to_string();
    let Error::VerifyFailed { table, difference } = error else {
        panic!("a difference reported as another failure: {text}");
    };
    assert_eq!(
        text,
        format!("verification failed for {table}: {difference}")
    );
    (table, difference)
}

#[test]
fn a_changed_row_is_named_with_its_key_and_columns() {
    let (table, difference) = compared(
        PEOPLE,
        "UPDATE people SET email = 'changed', name = 'changed' WHERE id = 42",
    );
    assert_eq!(table, "public.people");
    assert_eq!(difference, "row (id)=(42) differs in columns email, name");
}

#[test]
fn a_row_missing_from_the_copy_is_named() {
    let (table, difference) = compared(PEOPLE, "DELETE FROM people WHERE id = 7");
    assert_eq!(table, "public.people");
    assert_eq!(difference, "row (id)=(7) is missing from the copy");
}

#[test]
fn a_row_only_in_the_copy_is_named() {
    let (table, difference) = compared(
        PEOPLE,
        "INSERT INTO people (id, name) VALUES (5000, 'extra')",
    );
    assert_eq!(table, "public.people");
    assert_eq!(difference, "row (id)=(5000) is only in the copy");
}

/// Keys the database's collation sorts `A`, `b`, `C`: the second pass must order by
/// bytes on both sides, as it compares, or it misses the row and blames another.
#[test]
fn a_missing_row_under_a_composite_text_key_is_named() {
    let setup = "CREATE TABLE codes (
            region text, code text, label text,
            PRIMARY KEY (region, code));
        INSERT INTO codes VALUES ('eu', 'A', 'a'), ('eu', 'b', 'b'), ('eu', 'C', 'c'),
                                 ('us', 'A', 'a');";
    let (table, difference) = compared(setup, "DELETE FROM codes WHERE code = 'b'");
    assert_eq!(table, "public.codes");
    assert_eq!(
        difference,
        "row (region, code)=(eu,b) is missing from the copy"
    );
}

#[test]
fn a_changed_row_without_a_key_is_named_by_its_content() {
    let setup = "CREATE TABLE log (at integer, note text);
        INSERT INTO log SELECT i, 'note ' || i FROM generate_series(1, 100) i;
        INSERT INTO log VALUES (5, 'note 5');";
    let (table, difference) = compared(setup, "UPDATE log SET note = 'x' WHERE at = 50");
    assert_eq!(table, "public.log");
    assert_eq!(
        difference,
        "row (at, note)=(50,\"note 50\") is missing from the copy"
    );
    // A duplicate row lost is a difference too.
    let change = "DELETE FROM log WHERE ctid = (SELECT max(ctid) FROM log WHERE at = 5)";
    let (_, difference) = compared(setup, change);
    assert_eq!(
        difference,
        "row (at, note)=(5,\"note 5\") is missing from the copy"
    );
}

#[test]
fn a_column_or_table_only_on_one_side_is_named() {
    let (table, difference) = compared(PEOPLE, "ALTER TABLE people ADD COLUMN extra integer");
    assert_eq!(table, "public.people");
    assert_eq!(difference, "columns extra only in the copy");
    let (table, difference) = compared(PEOPLE, "DROP TABLE people");
    assert_eq!(table, "public.people");
    assert_eq!(difference, "the table is missing from the copy");
}
