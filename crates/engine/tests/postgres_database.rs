//! What belongs to a whole PostgreSQL database, against real servers: its settings
//! (`ALTER DATABASE ... SET`, `ALTER ROLE ... IN DATABASE ... SET`), its comment and
//! grants, and its locale provider. `pg_dump` without `--create` carries none of these,
//! so the copy and the cutover must: the source's settings and comment come over, the
//! target's own settings win over them, and its grants stay.
//!
//! Two throw-away clusters for this binary (`source`, `target`), one database per test.

use dataalm_core::progress::Silent;
use dataalm_engine::Engine;
use dataalm_pgtest::Cluster;

mod common;
use common::*;

/// The settings of database `db` as `role|name=value` lines (`-` for the database's own).
fn settings(cluster: &Cluster, db: &str) -> Vec<String> {
    let rows = psql(
        cluster,
        "postgres",
        &format!(
            "SELECT coalesce(r.rolname, '-') || '|' || c
             FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase
             LEFT JOIN pg_roles r ON r.oid = s.setrole, unnest(s.setconfig) c
             WHERE d.datname = '{db}' ORDER BY 1"
        ),
    );
    rows.lines().map(str::to_owned).collect()
}

/// The refresh's two engine steps: copy into staging, then cut over.
fn refresh(source_db: &str, target_db: &str) -> String {
    let (src, tgt) = (source(), target());
    let target = pg(tgt.url(target_db));
    let op = format!("op-20260101-000000-{:04x}", std::process::id() % 0xffff);
    let staging = ENGINE.staging_location(&target, &op);
    let stats = ENGINE
        .copy(&pg(src.url(source_db)), &staging, &options(), &Silent)
        .unwrap_or_else(|e| panic!("copy {source_db}: {e}"));
    let previous = ENGINE.previous_location(&target, &op);
    ENGINE
        .cutover(&target, &staging, &previous)
        .unwrap_or_else(|e| panic!("cutover: {e}"));
    ENGINE
        .drop_database(&previous)
        .unwrap_or_else(|e| panic!("drop the previous target: {e}"));
    stats.method
}

#[test]
fn database_settings_and_comment_come_over_and_the_targets_own_win() {
    let (src, tgt) = (source(), target());
    for cluster in [src, tgt] {
        cluster
            .create_role("ledger_reader", "unused-1", "NOLOGIN")
            .expect("shared role");
    }
    src.create_role("Source Only", "unused-2", "NOLOGIN")
        .expect("source-only role");
    let db = src.create_database("settings").expect("source database");
    script(
        src,
        &db,
        &format!(
            "CREATE SCHEMA app;
             CREATE TABLE app.ledger (id integer PRIMARY KEY, amount numeric);
             INSERT INTO app.ledger VALUES (1, 10.5), (2, 20);
             ALTER DATABASE \"{db}\" SET search_path = app, \"$user\", public;
             ALTER DATABASE \"{db}\" SET work_mem = '8MB';
             ALTER DATABASE \"{db}\" SET application_name = 'ledger';
             ALTER ROLE ledger_reader IN DATABASE \"{db}\" SET statement_timeout = '5s';
             ALTER ROLE \"Source Only\" IN DATABASE \"{db}\" SET work_mem = '1MB';
             COMMENT ON DATABASE \"{db}\" IS 'Production ''ledger''';"
        ),
    );
    // The target server has a database of the same name, tuned and locked down.
    psql(tgt, "postgres", &format!("CREATE DATABASE \"{db}\""));
    script(
        tgt,
        "postgres",
        &format!(
            "ALTER DATABASE \"{db}\" SET work_mem = '16MB';
             REVOKE ALL ON DATABASE \"{db}\" FROM PUBLIC;
             GRANT CONNECT ON DATABASE \"{db}\" TO ledger_reader;"
        ),
    );

    let method = refresh(&db, &db);

    assert_eq!(
        settings(tgt, &db),
        [
            "-|application_name=ledger",
            "-|search_path=app, \"$user\", public",
            "-|work_mem=16MB",
            "ledger_reader|statement_timeout=5s",
        ],
        "the source's settings, the target's work_mem, no setting of a missing role"
    );
    assert!(
        method.contains("Source Only"),
        "the copy names the role whose settings it left out: {method}"
    );
    let comment = psql(
        tgt,
        "postgres",
        &format!(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = '{db}'"
        ),
    );
    assert_eq!(comment, "Production 'ledger'");
    let grants = psql(
        tgt,
        "postgres",
        &format!(
            "SELECT string_agg(CASE WHEN a.grantee = 0 THEN 'PUBLIC'
                                   ELSE pg_get_userbyid(a.grantee) END || ':' || a.privilege_type,
                              ',' ORDER BY 1)
             FROM pg_database d, aclexplode(d.datacl) a
             WHERE d.datname = '{db}' AND a.grantee <> d.datdba"
        ),
    );
    assert_eq!(grants, "ledger_reader:CONNECT", "the target's grants stay");
    // The database's search_path is the one sessions get.
    let table = psql(tgt, &db, "SELECT count(*) FROM ledger");
    assert_eq!(table, "2");
}

#[test]
fn an_icu_database_stays_icu() {
    let (src, tgt) = (source(), target());
    let db = format!("icu_{}", std::process::id());
    psql(
        src,
        "postgres",
        &format!(
            "CREATE DATABASE \"{db}\" TEMPLATE template0 ENCODING 'UTF8'
             LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LC_COLLATE 'C' LC_CTYPE 'C'"
        ),
    );
    script(
        src,
        &db,
        "CREATE TABLE words (w text PRIMARY KEY);
         INSERT INTO words VALUES ('b'), ('B'), ('a'), ('A');",
    );
    let order = |cluster: &Cluster, db: &str| {
        psql(
            cluster,
            db,
            "SELECT string_agg(w, '' ORDER BY w) FROM words",
        )
    };
    assert_eq!(order(src, &db), "aAbB", "ICU's order, not C's (ABab)");
    let target_db = tgt.create_database("icu").expect("target database");

    refresh(&db, &target_db);

    let provider = psql(
        tgt,
        "postgres",
        &format!(
            "SELECT datlocprovider::text || ':' || daticulocale FROM pg_database WHERE datname = '{target_db}'"
        ),
    );
    assert_eq!(provider, "i:en-US");
    assert_eq!(order(tgt, &target_db), "aAbB");
}
