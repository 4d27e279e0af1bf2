//! Column types binary COPY cannot carry faithfully, and definitions that depend on the
//! source's `search_path`, copied between two throw-away clusters (`source` and
//! `target`, one each for this binary, one database per test):
//!
//! - `reg*` columns (and arrays, domains and composites of them) arrive as the same
//!   names, although the objects they name have other oids in the copy;
//! - types without binary I/O (`aclitem`, contrib's `isn`, `seg`, `query_int`, and
//!   ranges, domains and composites of them) are copied in text instead of failing
//!   the copy, split tables included;
//! - text COPY reads back what it wrote whatever date, interval and float styles the
//!   source database sets;
//! - the copy's summary names the tables that went in text and why, and says nothing
//!   of text when every table went binary;
//! - an extension in its own schema, reached through the database's `search_path`,
//!   gives indexes (operator classes, expressions, predicates) the copy rebuilds the
//!   same.

use dataalm_core::Location;
use dataalm_core::progress::Silent;
use dataalm_engine::postgres::table_checksums;
use dataalm_engine::{CopyStats, Engine};
use std::sync::Once;

mod common;
use common::*;

/// A role on both servers, so `regrole` and `aclitem` values can name it in the copy.
const SHARED_ROLE: &str = "ty_shared";

/// The shared role, made once on each server; on the source after oids are burnt, so
/// its oid differs between the servers like every other object's.
fn shared_role() {
    static MADE: Once = Once::new();
    MADE.call_once(|| {
        target()
            .create_role(SHARED_ROLE, "unused-1", "NOLOGIN")
            .expect("shared role on the target");
        script(source(), "postgres", BURN_OIDS);
        source()
            .create_role(SHARED_ROLE, "unused-1", "NOLOGIN")
            .expect("shared role on the source");
    });
}

/// Uses up oids (temporary tables go with the session, their oids are not reused).
const BURN_OIDS: &str = "DO $$ BEGIN
    FOR i IN 1..400 LOOP EXECUTE format('CREATE TEMP TABLE burn_%s ()', i); END LOOP;
END $$;";

/// A new source database whose next objects get oids well ahead of the target's: a
/// copy that carried raw oids would point at nothing, or at the wrong object.
fn source_database(prefix: &str) -> String {
    let db = source().create_database(prefix).expect("source database");
    script(source(), &db, BURN_OIDS);
    db
}

/// Copies `db` from the source into a new staging database on the target.
fn copy(db: &str) -> (Location, CopyStats) {
    let staging = ENGINE.staging_location(&pg(target().url(db)), &op_id());
    let stats = ENGINE
        .copy(&pg(source().url(db)), &staging, &options(), &Silent)
        .unwrap_or_else(|e| panic!("copy {db}: {e}"));
    (staging, stats)
}

/// `sql` on the source database and on its copy, both with an empty `search_path` so
/// that names come out fully qualified.
fn both(db: &str, staging: &Location, sql: &str) -> (String, String) {
    let sql = format!("SET search_path = ''; {sql}");
    (
        psql(source(), db, &sql),
        psql(target(), &dbname(staging), &sql),
    )
}

fn assert_same_checksums(db: &str, staging: &Location) {
    let source_sums = table_checksums(&pg(source().url(db))).expect("source checksums");
    let copy_sums = table_checksums(staging).expect("copy checksums");
    assert_eq!(copy_sums, source_sums, "table checksums of the copy");
}

/// Objects of every kind a `reg*` type names, a table referring to each, and the
/// expressions that give the objects' oids (compared to prove they differ).
const REG_SCHEMA: &str = "
    CREATE SCHEMA other;
    CREATE TABLE public.thing (id integer);
    CREATE TABLE other.more (id integer);
    CREATE TYPE public.mood AS ENUM ('sad', 'happy');
    CREATE FUNCTION public.twice(integer) RETURNS integer
        LANGUAGE sql IMMUTABLE AS 'SELECT $1 * 2';
    CREATE FUNCTION public.same(integer, integer) RETURNS boolean
        LANGUAGE sql IMMUTABLE AS 'SELECT $1 = $2';
    CREATE OPERATOR public.=== (LEFTARG = integer, RIGHTARG = integer,
                                FUNCTION = public.same);
    CREATE TEXT SEARCH CONFIGURATION public.cfg (COPY = pg_catalog.english);
    CREATE TEXT SEARCH DICTIONARY public.dict (TEMPLATE = pg_catalog.simple);
    CREATE COLLATION public.coll FROM \"C\";
    CREATE DOMAIN public.type_name AS regtype;
    CREATE TYPE public.holder AS (p regproc, n integer);
    CREATE TABLE public.refs (
        id integer PRIMARY KEY, c regclass, t regtype, p regproc, pp regprocedure,
        o regoper, oo regoperator, cfg regconfig, d regdictionary, ns regnamespace,
        r regrole, coll regcollation, cs regclass[], dt public.type_name, h public.holder
    );
    INSERT INTO public.refs VALUES
        (1, 'public.thing', 'public.mood', 'public.twice', 'public.twice(integer)',
         'public.===', 'public.===(integer,integer)', 'public.cfg', 'public.dict',
         'other', 'ty_shared', 'public.coll', '{public.thing,other.more}',
         'public.mood', ROW('public.twice', 7)),
        (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
         NULL, NULL);
    CREATE TABLE public.plain (id integer PRIMARY KEY, note text);
    INSERT INTO public.plain SELECT i, 'row ' || i FROM generate_series(1, 100) i;";

const REG_OIDS: &str = "SELECT concat_ws(' ', 'public.thing'::regclass::oid,
    'other.more'::regclass::oid, 'public.mood'::regtype::oid, 'public.twice'::regproc::oid,
    'public.===(integer,integer)'::regoperator::oid, 'public.cfg'::regconfig::oid,
    'public.dict'::regdictionary::oid, 'other'::regnamespace::oid,
    'ty_shared'::regrole::oid, 'public.coll'::regcollation::oid)";

const REG_VALUES: &str = "SELECT id, c::text, t::text, p::text, pp::text, o::text, oo::text,
    cfg::text, d::text, ns::text, r::text, coll::text, cs::text, dt::text, h::text
    FROM public.refs ORDER BY id";

#[test]
fn reg_columns_arrive_as_the_same_names() {
    shared_role();
    let db = source_database("regs");
    script(source(), &db, REG_SCHEMA);
    let (staging, stats) = copy(&db);

    let (source_oids, copy_oids) = both(&db, &staging, REG_OIDS);
    let pairs: Vec<(&str, &str)> = source_oids.split(' ').zip(copy_oids.split(' ')).collect();
    assert!(
        pairs.iter().all(|(a, b)| a != b),
        "the objects should have other oids in the copy, so raw oids would be wrong: \
         {source_oids} / {copy_oids}"
    );
    let (source_values, copy_values) = both(&db, &staging, REG_VALUES);
    assert!(
        source_values.contains("public.thing") && source_values.contains("ty_shared"),
        "unexpected source values: {source_values}"
    );
    assert_eq!(copy_values, source_values, "reg* values of the copy");
    assert_same_checksums(&db, &staging);
    assert!(
        stats
            .method
            .contains("public.refs (column c: regclass is copied by name"),
        "the summary should say why public.refs went in text: {}",
        stats.method
    );
    assert!(
        !stats.method.contains("public.plain"),
        "public.plain went binary: {}",
        stats.method
    );
}

/// Types with no send/receive functions (aclitem, and contrib's isn, seg and intarray
/// types), directly and through an array, a domain, a composite, a range and a
/// multirange; enough rows that the table is split.
const NO_BINARY_SCHEMA: &str = "
    CREATE EXTENSION isn;
    CREATE EXTENSION seg;
    CREATE EXTENSION intarray;
    CREATE DOMAIN public.acl_domain AS aclitem;
    CREATE TYPE public.grant_note AS (who aclitem, why text);
    CREATE TYPE public.ean_range AS RANGE (subtype = ean13);
    CREATE TABLE public.perms (
        id integer PRIMARY KEY, acl aclitem, acls aclitem[], code ean13, book isbn,
        d public.acl_domain, note public.grant_note, codes public.ean_range,
        many public.ean_multirange, s seg, q query_int, pad text
    );
    INSERT INTO public.perms
    SELECT i, 'ty_shared=r/ty_shared', '{ty_shared=rw/ty_shared,=r/ty_shared}',
           '9780262510875', '978-0-262-51087-5', 'ty_shared=w/ty_shared',
           ROW('ty_shared=a/ty_shared'::aclitem, 'note ' || i)::public.grant_note,
           ean_range('9780262510875', '9790262510874'),
           ean_multirange(ean_range('9780262510875', '9790262510874')),
           '1.5 .. 2.25'::seg, '1&(2|3)'::query_int, repeat('x', 50)
    FROM generate_series(1, 3000) i;
    INSERT INTO public.perms (id) VALUES (0);";

const NO_BINARY_VALUES: &str = "SELECT md5(string_agg(concat_ws('|', id, acl, acls, code,
    book, d, note, codes, many, s, q, pad), ',' ORDER BY id)), count(*),
    (SELECT concat_ws('|', acl, acls, code, book, d, note, codes, many, s, q)
     FROM public.perms WHERE id = 1)
    FROM public.perms";

#[test]
fn types_without_binary_io_are_copied_in_text() {
    shared_role();
    let db = source_database("nobin");
    script(source(), &db, NO_BINARY_SCHEMA);
    let pages: i64 = psql(
        source(),
        &db,
        "SELECT pg_relation_size('public.perms') / 8192",
    )
    .parse()
    .expect("page count");
    assert!(
        pages > 16,
        "public.perms should be split in ranges ({pages} pages)"
    );
    let (staging, stats) = copy(&db);

    let (source_values, copy_values) = both(&db, &staging, NO_BINARY_VALUES);
    assert!(
        source_values.contains("978-0-262-51087-5"),
        "unexpected source values: {source_values}"
    );
    assert_eq!(copy_values, source_values, "values of the copy");
    assert_same_checksums(&db, &staging);
    assert!(
        stats
            .method
            .contains("public.perms (column acl: aclitem has no binary form (and 9 more columns))"),
        "the summary should say why public.perms went in text: {}",
        stats.method
    );
}

#[test]
fn an_all_binary_copy_says_nothing_of_text() {
    let db = source_database("allbin");
    script(
        source(),
        &db,
        "CREATE TABLE public.t (id integer PRIMARY KEY, v text, o oid, ts timestamptz);
         INSERT INTO public.t SELECT i, 'v' || i, i, now() FROM generate_series(1, 10) i;",
    );
    let (staging, stats) = copy(&db);
    assert_same_checksums(&db, &staging);
    assert!(
        stats.method.starts_with("binary COPY") && !stats.method.contains("text"),
        "{}",
        stats.method
    );
}

/// Every index of schema `app`, as its definition reads with an empty `search_path`.
const APP_INDEXES: &str = "SELECT string_agg(pg_catalog.pg_get_indexdef(i.indexrelid)
        || CASE WHEN i.indisvalid THEN '' ELSE ' (invalid)' END, E'\\n' ORDER BY 1)
    FROM pg_catalog.pg_index i
    JOIN pg_catalog.pg_class c ON c.oid = i.indrelid
    WHERE c.relnamespace = 'app'::pg_catalog.regnamespace";

#[test]
fn indexes_on_an_extension_in_its_own_schema_are_rebuilt_the_same() {
    let db = source_database("extpath");
    script(
        source(),
        &db,
        &format!(
            "CREATE SCHEMA ext; CREATE EXTENSION pg_trgm SCHEMA ext; CREATE SCHEMA app;
             ALTER DATABASE \"{db}\" SET search_path = app, ext, public;"
        ),
    );
    // A new session: the database's search_path applies, so names are left unqualified.
    script(
        source(),
        &db,
        "CREATE TABLE words (id integer PRIMARY KEY, name text NOT NULL);
         INSERT INTO words SELECT i, 'word ' || i FROM generate_series(1, 2000) i;
         CREATE INDEX words_trgm ON words USING gin (name gin_trgm_ops);
         CREATE INDEX words_similarity ON words (similarity(name, 'word 1'));
         CREATE INDEX words_lower ON words (lower((show_trgm(name))[1]));
         CREATE INDEX words_close ON words (id) WHERE similarity(name, 'word 12') > 0.5;",
    );
    assert_eq!(
        psql(source(), &db, "SELECT current_setting('search_path')"),
        "app, ext, public"
    );
    let (staging, _) = copy(&db);

    let (source_indexes, copy_indexes) = both(&db, &staging, APP_INDEXES);
    assert!(
        source_indexes.contains("ext.gin_trgm_ops") && source_indexes.contains("ext.similarity"),
        "unexpected source indexes: {source_indexes}"
    );
    assert_eq!(copy_indexes, source_indexes, "indexes of the copy");
    let count = "SELECT count(*) FROM app.words WHERE ext.similarity(name, 'word 12') > 0.5";
    let (source_count, copy_count) = both(&db, &staging, count);
    assert_eq!(copy_count, source_count);
}

/// Text COPY writes dates, intervals and floats in the session's styles: a source
/// database set to day-first dates and short floats must not turn 1 February into
/// 2 January, or 0.1 + 0.2 into 0.3, on a target with the usual settings.
#[test]
fn text_copy_does_not_depend_on_the_source_database_styles() {
    shared_role();
    let db = source_database("styles");
    script(
        source(),
        &db,
        &format!(
            "ALTER DATABASE \"{db}\" SET datestyle = 'SQL, DMY';
             ALTER DATABASE \"{db}\" SET intervalstyle = 'sql_standard';
             ALTER DATABASE \"{db}\" SET extra_float_digits = -3;"
        ),
    );
    script(
        source(),
        &db,
        "CREATE TABLE public.dated (id integer PRIMARY KEY, acl aclitem, day date,
                                    at timestamp, span interval, x float8);
         INSERT INTO public.dated VALUES
             (1, 'ty_shared=r/ty_shared', '2020-02-01', '2020-02-01 10:00:00.25',
              '-1 day +2 hours', 0.1::float8 + 0.2::float8);",
    );
    let (staging, stats) = copy(&db);
    assert!(stats.method.contains("public.dated"), "{}", stats.method);
    let sql = "SET datestyle = 'ISO'; SET intervalstyle = 'postgres';
               SET extra_float_digits = 3;
               SELECT concat_ws('|', acl, day, at, span, x) FROM public.dated";
    let (source_values, copy_values) = both(&db, &staging, sql);
    assert_eq!(
        source_values,
        "ty_shared=r/ty_shared|2020-02-01|2020-02-01 10:00:00.25|-1 days +02:00:00|0.30000000000000004"
    );
    assert_eq!(copy_values, source_values, "values of the copy");
}
