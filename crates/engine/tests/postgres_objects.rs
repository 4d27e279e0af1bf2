//! What a copy keeps besides rows, as `pg_dump | pg_restore` keeps it, on real servers:
//! two throw-away clusters (`source` and `target`, one each for this binary), one
//! database per test so the tests run in parallel.
//!
//! - owners, whatever else the schema holds (extensions, casts, access methods) and
//!   however their roles are spelled; only real, missing roles are reported;
//! - extended statistics, filled by the copy's `ANALYZE`;
//! - large objects' owners, grants and comments;
//! - publications, never subscriptions; those only a superuser may create are left
//!   out, and said, when the target user is not one;
//! - without owners and grants, what pg_restore `--no-owner` keeps (policies, comments).
//!
//! Roles are per cluster and the clusters are shared: each test uses its own roles.

use dataalm_core::CopyOptions;
use dataalm_core::progress::Silent;
use dataalm_engine::{CopyStats, Engine};
use dataalm_pgtest::Cluster;

mod common;
use common::*;

/// Every row of a query, each as its columns' text joined by `|` (`NULL` for null).
fn rows(cluster: &Cluster, db: &str, sql: &str) -> Vec<String> {
    let mut client = cluster
        .client(db)
        .unwrap_or_else(|e| panic!("connect to {db}: {e}"));
    client
        .simple_query(sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .into_iter()
        .filter_map(|message| match message {
            postgres::SimpleQueryMessage::Row(row) => Some(
                (0..row.len())
                    .map(|i| row.get(i).unwrap_or("NULL").to_owned())
                    .collect::<Vec<_>>()
                    .join("|"),
            ),
            _ => None,
        })
        .collect()
}

/// Creates `name` on the source, and on the target too when `on_target`.
fn role(name: &str, on_target: bool) {
    source()
        .create_role(name, "unused", "NOLOGIN")
        .unwrap_or_else(|e| panic!("role {name} on the source: {e}"));
    if on_target {
        target()
            .create_role(name, "unused", "NOLOGIN")
            .unwrap_or_else(|e| panic!("role {name} on the target: {e}"));
    }
}

/// Copies source database `db` into a staging database on the target, owners and grants
/// kept, verified; returns the staging database's name and the copy's stats.
fn copy(db: &str) -> (String, CopyStats) {
    let options = CopyOptions {
        jobs: Some(2),
        verify: true,
        owners_and_grants: true,
        ..CopyOptions::default()
    };
    let staging = ENGINE.staging_location(&pg(target().url(db)), &op_id());
    let stats = ENGINE
        .copy(&pg(source().url(db)), &staging, &options, &Silent)
        .unwrap_or_else(|e| panic!("copy {db} into {staging}: {e}"));
    (dbname(&staging), stats)
}

/// The roles the copy says it left out (from the end of `CopyStats::method`).
fn reported_missing(stats: &CopyStats) -> Vec<String> {
    const SAYS: &str = "dataalm may not act as: ";
    stats
        .method
        .split_once(SAYS)
        .map(|(_, roles)| roles.split(", ").map(str::to_owned).collect())
        .unwrap_or_default()
}

/// Owners of relations, statistics objects and publications, by name, one list per
/// database so source and copy compare.
const OWNERS: &str = "
    SELECT 'relation ' || relname || ' ' || pg_get_userbyid(relowner) FROM pg_class
    WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'p', 'v')
    UNION ALL
    SELECT 'statistics ' || stxname || ' ' || pg_get_userbyid(stxowner) FROM pg_statistic_ext
    UNION ALL
    SELECT 'publication ' || pubname || ' ' || pg_get_userbyid(pubowner) FROM pg_publication
    UNION ALL
    SELECT 'type ' || typname || ' ' || pg_get_userbyid(typowner) FROM pg_type
    WHERE typnamespace = 'public'::regnamespace AND typtype = 'e'
    ORDER BY 1";

/// Extensions, casts and access methods have no owner in pg_restore's listing, and a
/// role name may have spaces: neither is a missing role, and no owner is lost for them.
#[test]
fn owners_are_kept_beside_extensions_casts_and_access_methods() {
    const MIXED: &str = "Mixed Case Role";
    const SOURCE_ONLY: &str = "obj_owner_source_only";
    role(MIXED, true);
    role(SOURCE_ONLY, false);
    let db = source().create_database("owners").expect("source database");
    script(
        source(),
        &db,
        r#"CREATE EXTENSION hstore;
           CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
           CREATE CAST (text AS mood) WITH INOUT;
           CREATE ACCESS METHOD myam TYPE INDEX HANDLER bthandler;
           CREATE TABLE t (a integer, b integer, h hstore);
           INSERT INTO t SELECT g, g % 10, hstore('k', g::text) FROM generate_series(1, 500) g;
           CREATE INDEX t_a ON t (a);
           CREATE STATISTICS t_ab ON a, b FROM t;
           CREATE TABLE parted (a integer, b integer) PARTITION BY RANGE (a);
           CREATE TABLE parted_1 PARTITION OF parted FOR VALUES FROM (0) TO (1000);
           INSERT INTO parted SELECT g, g % 7 FROM generate_series(1, 300) g;
           CREATE STATISTICS parted_ab ON a, b FROM parted;
           CREATE PUBLICATION pub_t FOR TABLE t;
           CREATE TABLE lonely (a integer);
           ALTER TYPE mood OWNER TO "Mixed Case Role";
           ALTER TABLE t OWNER TO "Mixed Case Role";
           ALTER TABLE parted OWNER TO "Mixed Case Role";
           ALTER TABLE parted_1 OWNER TO "Mixed Case Role";
           ALTER STATISTICS t_ab OWNER TO "Mixed Case Role";
           ALTER STATISTICS parted_ab OWNER TO "Mixed Case Role";
           ALTER PUBLICATION pub_t OWNER TO "Mixed Case Role";
           ALTER TABLE lonely OWNER TO obj_owner_source_only;"#,
    );
    let (copy_db, stats) = copy(&db);

    assert_eq!(
        reported_missing(&stats),
        [SOURCE_ONLY],
        "the copy reports other roles than the one the target lacks: {}",
        stats.method
    );
    let expected: Vec<String> = rows(source(), &db, OWNERS)
        .into_iter()
        .map(|line| line.replace(SOURCE_ONLY, "postgres"))
        .collect();
    assert!(
        expected.iter().filter(|l| l.ends_with(MIXED)).count() >= 6,
        "the fixture lost its owners: {expected:?}"
    );
    assert_eq!(rows(target(), &copy_db, OWNERS), expected);
    for (query, what) in [
        (
            "SELECT extname FROM pg_extension WHERE extname = 'hstore'",
            "hstore",
        ),
        ("SELECT amname FROM pg_am WHERE amname = 'myam'", "myam"),
        ("SELECT 'ok'::text::mood::text", "ok"),
    ] {
        assert_eq!(rows(target(), &copy_db, query), [what], "{query}");
    }
}

/// `ANALYZE` fills extended statistics only if they exist when it runs. Their comments,
/// like those of indexes built early, still come from pg_restore.
#[test]
fn extended_statistics_are_filled_in_the_copy() {
    const OWNER: &str = "obj_stats_owner";
    role(OWNER, true);
    let db = source()
        .create_database("extstats")
        .expect("source database");
    script(
        source(),
        &db,
        "CREATE TABLE t (id integer PRIMARY KEY, a integer, b integer);
         INSERT INTO t SELECT g, g % 20, g % 40 FROM generate_series(1, 5000) g;
         CREATE STATISTICS s (dependencies, ndistinct, mcv) ON a, b FROM t;
         ALTER STATISTICS s SET STATISTICS 500;
         ALTER STATISTICS s OWNER TO obj_stats_owner;
         COMMENT ON STATISTICS s IS 'a follows b';
         CREATE INDEX t_a ON t (a);
         COMMENT ON INDEX t_a IS 'by a';
         ANALYZE t;",
    );
    let (copy_db, _) = copy(&db);
    let query = "SELECT s.stxname, pg_get_userbyid(s.stxowner), s.stxstattarget,
                        obj_description(s.oid, 'pg_statistic_ext'),
                        d.stxdndistinct IS NOT NULL, d.stxddependencies IS NOT NULL,
                        d.stxdmcv IS NOT NULL
                 FROM pg_statistic_ext s
                 LEFT JOIN pg_statistic_ext_data d ON d.stxoid = s.oid";
    let expected = ["s|obj_stats_owner|500|a follows b|t|t|t"];
    assert_eq!(rows(source(), &db, query), expected, "the source itself");
    assert_eq!(rows(target(), &copy_db, query), expected);
    let comment = "SELECT obj_description('t_a'::regclass, 'pg_class')";
    assert_eq!(rows(target(), &copy_db, comment), ["by a"]);
}

/// pg_dump's schema leaves large objects' owners, grants and comments out with their
/// contents; the copy brings them, but no grant to a role the target lacks.
#[test]
fn large_objects_keep_owners_grants_and_comments() {
    const OWNER: &str = "obj_lo_owner";
    const READER: &str = "obj_lo_reader";
    const SOURCE_ONLY: &str = "obj_lo_source_only";
    role(OWNER, true);
    role(READER, true);
    role(SOURCE_ONLY, false);
    let db = source().create_database("lometa").expect("source database");
    script(
        source(),
        &db,
        "SELECT lo_from_bytea(4343001, 'first') \\g /dev/null
         SELECT lo_from_bytea(4343002, 'second') \\g /dev/null
         SELECT lo_create(4343003) \\g /dev/null
         ALTER LARGE OBJECT 4343001 OWNER TO obj_lo_owner;
         GRANT SELECT ON LARGE OBJECT 4343001 TO obj_lo_reader;
         GRANT UPDATE ON LARGE OBJECT 4343001 TO obj_lo_reader WITH GRANT OPTION;
         GRANT SELECT ON LARGE OBJECT 4343001 TO obj_lo_source_only;
         COMMENT ON LARGE OBJECT 4343001 IS 'it''s the first';
         GRANT SELECT ON LARGE OBJECT 4343002 TO PUBLIC;
         ALTER LARGE OBJECT 4343003 OWNER TO obj_lo_source_only;",
    );
    let (copy_db, stats) = copy(&db);
    let query = "SELECT oid, pg_get_userbyid(lomowner), lomacl,
                        obj_description(oid, 'pg_largeobject'), lo_get(oid)
                 FROM pg_largeobject_metadata ORDER BY oid";
    let source_rows = rows(source(), &db, query);
    assert_eq!(source_rows.len(), 3, "the source itself: {source_rows:?}");
    let expected: Vec<String> = source_rows
        .iter()
        .map(|line| {
            line.replace(",obj_lo_source_only=r/obj_lo_owner", "")
                .replace("4343003|obj_lo_source_only", "4343003|postgres")
        })
        .collect();
    assert_ne!(expected, source_rows, "the grant to leave out was not made");
    assert_eq!(rows(target(), &copy_db, query), expected);
    assert_eq!(
        reported_missing(&stats),
        [SOURCE_ONLY],
        "reported: {}",
        stats.method
    );
}

/// Publications are schema; a subscription would make the copy connect somewhere.
/// The target runs with `wal_level = replica`, where creating a publication only warns.
#[test]
fn publications_come_over_and_subscriptions_never() {
    const OWNER: &str = "obj_pub_owner";
    role(OWNER, true);
    let db = source().create_database("pubs").expect("source database");
    script(
        source(),
        &db,
        "CREATE SCHEMA sales;
         CREATE TABLE t (id integer PRIMARY KEY, note text);
         CREATE TABLE u (id integer PRIMARY KEY);
         CREATE TABLE sales.orders (id integer PRIMARY KEY);
         INSERT INTO t SELECT g, 'n' || g FROM generate_series(1, 100) g;
         CREATE PUBLICATION p_t FOR TABLE t, u (id) WITH (publish = 'insert');
         CREATE PUBLICATION p_all FOR ALL TABLES;
         CREATE PUBLICATION p_sales FOR TABLES IN SCHEMA sales;
         ALTER PUBLICATION p_t OWNER TO obj_pub_owner;
         COMMENT ON PUBLICATION p_t IS 'for the warehouse';",
    );
    source()
        .psql(
            &db,
            "CREATE SUBSCRIPTION s_never CONNECTION 'host=127.0.0.1 port=1 dbname=nowhere'
             PUBLICATION p_t WITH (connect = false)",
        )
        .expect("subscription on the source");
    assert_eq!(
        target()
            .psql("postgres", "SHOW wal_level")
            .expect("wal_level")
            .trim(),
        "replica",
        "the target should lack wal_level = logical"
    );
    let (copy_db, _) = copy(&db);
    let publications = "SELECT pubname, pg_get_userbyid(pubowner), puballtables, pubinsert,
                               pubupdate, obj_description(oid, 'pg_publication')
                        FROM pg_publication ORDER BY 1";
    let published = "SELECT pubname, schemaname, tablename, attnames::text
                     FROM pg_publication_tables ORDER BY 1, 2, 3";
    for query in [publications, published] {
        let expected = rows(source(), &db, query);
        assert!(expected.len() >= 3, "the source itself: {expected:?}");
        assert_eq!(rows(target(), &copy_db, query), expected, "{query}");
    }
    let subscriptions = "SELECT count(*) FROM pg_subscription
                         WHERE subdbid = (SELECT oid FROM pg_database
                                          WHERE datname = current_database())";
    assert_eq!(
        rows(source(), &db, subscriptions),
        ["1"],
        "the source itself"
    );
    assert_eq!(rows(target(), &copy_db, subscriptions), ["0"]);
}

/// Without owners and grants, what pg_restore `--no-owner --no-privileges` keeps is
/// still kept: row-level security policies, comments on large objects, statistics.
#[test]
fn without_owners_and_grants_policies_and_comments_remain() {
    const OWNER: &str = "obj_plain_owner";
    role(OWNER, true);
    let db = source().create_database("plain").expect("source database");
    script(
        source(),
        &db,
        "CREATE TABLE notes (id integer PRIMARY KEY, a integer, b integer);
         INSERT INTO notes SELECT g, g % 5, g % 10 FROM generate_series(1, 1000) g;
         ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
         CREATE POLICY small ON notes FOR SELECT USING (id < 10);
         CREATE STATISTICS notes_ab (ndistinct) ON a, b FROM notes;
         ALTER TABLE notes OWNER TO obj_plain_owner;
         SELECT lo_from_bytea(4444001, 'note') \\g /dev/null
         ALTER LARGE OBJECT 4444001 OWNER TO obj_plain_owner;
         COMMENT ON LARGE OBJECT 4444001 IS 'kept';",
    );
    let options = CopyOptions {
        jobs: Some(2),
        verify: true,
        owners_and_grants: false,
        ..CopyOptions::default()
    };
    let staging = ENGINE.staging_location(&pg(target().url(&db)), &op_id());
    ENGINE
        .copy(&pg(source().url(&db)), &staging, &options, &Silent)
        .unwrap_or_else(|e| panic!("copy {db} into {staging}: {e}"));
    let copy_db = dbname(&staging);
    let checks = [
        ("SELECT polname FROM pg_policy", "small"),
        (
            "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE relname = 'notes'",
            "postgres",
        ),
        (
            "SELECT pg_get_userbyid(lomowner) || ' ' || obj_description(oid, 'pg_largeobject')
             FROM pg_largeobject_metadata",
            "postgres kept",
        ),
        (
            "SELECT (d.stxdndistinct IS NOT NULL)::text FROM pg_statistic_ext s
             JOIN pg_statistic_ext_data d ON d.stxoid = s.oid",
            "true",
        ),
    ];
    for (query, expected) in checks {
        assert_eq!(rows(target(), &copy_db, query), [expected], "{query}");
    }
}

/// Only a superuser may publish all tables or a schema's (managed services rarely give
/// one): a target user who is not one gets the other publications and is told which
/// were left out, instead of a failed copy.
#[test]
fn publications_only_a_superuser_may_create_are_left_out_and_said() {
    let (user, password) = ("obj_pub_creator", "pub-Creator-Pw-77");
    target()
        .create_role(user, password, "LOGIN CREATEDB")
        .expect("target user");
    let db = source().create_database("pubsu").expect("source database");
    script(
        source(),
        &db,
        "CREATE SCHEMA sales;
         CREATE TABLE t (id integer PRIMARY KEY);
         CREATE TABLE sales.orders (id integer PRIMARY KEY);
         INSERT INTO t SELECT generate_series(1, 10);
         CREATE PUBLICATION p_t FOR TABLE t;
         COMMENT ON PUBLICATION p_t IS 'kept';
         CREATE PUBLICATION p_all FOR ALL TABLES;
         COMMENT ON PUBLICATION p_all IS 'left out';
         CREATE PUBLICATION p_sales FOR TABLES IN SCHEMA sales;",
    );
    let options = CopyOptions {
        jobs: Some(2),
        verify: true,
        owners_and_grants: true,
        ..CopyOptions::default()
    };
    let target_url = target().url_as(user, password, &db);
    let staging = ENGINE.staging_location(&pg(target_url), &op_id());
    let stats = ENGINE
        .copy(&pg(source().url(&db)), &staging, &options, &Silent)
        .unwrap_or_else(|e| panic!("copy {db} into {staging} as {user}: {e}"));
    let copy_db = dbname(&staging);
    assert_eq!(
        rows(
            target(),
            &copy_db,
            "SELECT p.pubname || ' ' || t.tablename || ' '
                    || obj_description(p.oid, 'pg_publication')
             FROM pg_publication p LEFT JOIN pg_publication_tables t USING (pubname)"
        ),
        ["p_t t kept"]
    );
    assert!(
        stats.method.contains(
            "left out publications of all tables or of schemas, which only a superuser may \
             create: p_all, p_sales"
        ),
        "{}",
        stats.method
    );
}
