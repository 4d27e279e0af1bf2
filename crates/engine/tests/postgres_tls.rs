//! PostgreSQL over TLS against a real server: one cluster for this binary with
//! `ssl = on`, a certificate for `localhost` signed by a CA this test makes, and a
//! `pg_hba.conf` that takes TCP connections over TLS only (`hostssl`). One database per
//! test, so the tests run in parallel.
//!
//! - `verify-full` with the right CA copies a database (pg_dump's schema step included);
//! - `disable` is refused by the server, in its words;
//! - a certificate from another CA is refused in words about the certificate, and
//!   nothing is created;
//! - `verify-full` checks the host name, `verify-ca` does not;
//! - `require` (and `prefer`, `allow`) work without a CA;
//! - a client certificate (`sslcert`, `sslkey`) signs in dataalm and pg_dump alike.

use dataalm_core::progress::Silent;
use dataalm_core::{CopyOptions, Location, Value};
use dataalm_engine::postgres::PgEngine;
use dataalm_engine::{Engine, Error};
use dataalm_pgtest::{CERT_ROLE, Cluster, ClusterOptions, SUPERUSER, TestCa};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::OnceLock;

const ENGINE: PgEngine = PgEngine;

/// A superuser who signs in with a client certificate, no password.
const CERT_USER: &str = "tls_cert_user";

/// The TLS cluster and the files clients need.
struct Tls {
    cluster: Cluster,
    /// The CA that signed the server's certificate.
    right_ca: PathBuf,
    /// A CA that did not.
    wrong_ca: PathBuf,
    /// [`CERT_USER`]'s certificate and key.
    client_cert: PathBuf,
    client_key: PathBuf,
    _dir: tempfile::TempDir,
}

fn tls() -> &'static Tls {
    static TLS: OnceLock<Tls> = OnceLock::new();
    TLS.get_or_init(|| {
        let ca = TestCa::new("dataalm test CA").expect("make a CA");
        let stranger = TestCa::new("dataalm test CA").expect("make another CA");
        let dir = tempfile::tempdir().expect("temporary directory");
        let (right_ca, wrong_ca) = (dir.path().join("ca.pem"), dir.path().join("other.pem"));
        std::fs::write(&right_ca, ca.pem()).expect("write the CA");
        std::fs::write(&wrong_ca, stranger.pem()).expect("write the other CA");
        let options = ClusterOptions {
            tls: Some(ca.server_cert(&["localhost"]).expect("server certificate")),
            ..ClusterOptions::default()
        };
        let cluster = Cluster::start(&options).expect("start a TLS cluster");
        let roles = format!(
            "CREATE ROLE {CERT_ROLE} NOLOGIN; CREATE ROLE {CERT_USER} LOGIN SUPERUSER IN ROLE {CERT_ROLE}"
        );
        cluster.psql("postgres", &roles).expect("certificate roles");
        let client = ca.client_cert(CERT_USER).expect("client certificate");
        let (client_cert, client_key) = (dir.path().join("user.pem"), dir.path().join("user.key"));
        std::fs::write(&client_cert, client.cert_pem).expect("write the client certificate");
        std::fs::write(&client_key, client.key_pem).expect("write the client key");
        // libpq refuses a key others may read.
        std::fs::set_permissions(&client_key, std::fs::Permissions::from_mode(0o600))
            .expect("chmod the client key");
        Tls {
            cluster,
            right_ca,
            wrong_ca,
            client_cert,
            client_key,
            _dir: dir,
        }
    })
}

/// A location on the TLS cluster reached as `host`, with URL parameters `query`.
fn location(host: &str, db: &str, query: &str) -> Location {
    let pg = &tls().cluster;
    let url = format!(
        "postgres://{SUPERUSER}:{}@{host}:{}/{db}?{query}",
        pg.password(),
        pg.port()
    );
    Location::Postgres(url)
}

fn verify_full(ca: &std::path::Path) -> String {
    format!("sslmode=verify-full&sslrootcert={}", ca.display())
}

fn psql(db: &str, sql: &str) -> String {
    tls()
        .cluster
        .psql(db, sql)
        .unwrap_or_else(|e| panic!("psql on {db}: {e}"))
        .trim()
        .to_owned()
}

fn database_exists(name: &str) -> bool {
    psql(
        "postgres",
        &format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'"),
    ) == "1"
}

/// Whether a connection to `location` works and is encrypted, by the server's account.
fn encrypted(location: &Location) -> Result<bool, Error> {
    let mut db = ENGINE.open(location, true)?;
    let rows = db.query(
        "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
        &[],
    )?;
    Ok(rows.rows.first().and_then(|row| row.first()) == Some(&Value::Bool(true)))
}

#[test]
fn verify_full_with_the_right_ca_copies_over_tls() {
    let pg = &tls().cluster;
    let source_db = pg.create_database("tlssrc").expect("source database");
    psql(
        &source_db,
        "CREATE TABLE t (id int PRIMARY KEY, note text);
         INSERT INTO t SELECT g, 'row ' || g FROM generate_series(1, 500) g;",
    );
    let query = verify_full(&tls().right_ca);
    let source = location("localhost", &source_db, &query);
    let staging_db = format!("{source_db}_copy");
    let staging = location("localhost", &staging_db, &query);
    assert_eq!(encrypted(&source).map_err(|e| e.to_string()), Ok(true));
    let options = CopyOptions {
        jobs: Some(2),
        verify: true,
        ..CopyOptions::default()
    };
    ENGINE
        .copy(&source, &staging, &options, &Silent)
        .unwrap_or_else(|e| panic!("copy over TLS: {e}"));
    assert_eq!(
        psql(&staging_db, "SELECT count(*), sum(id) FROM t"),
        "500|125250"
    );
    // The primary key came through pg_dump/pg_restore, which reached the server over TLS.
    assert_eq!(
        psql(
            &staging_db,
            "SELECT count(*) FROM pg_constraint WHERE conrelid = 't'::regclass AND contype = 'p'"
        ),
        "1"
    );
}

#[test]
fn sslmode_disable_is_refused_by_the_server() {
    let db = tls().cluster.create_database("tlsoff").expect("database");
    let error = ENGINE
        .probe(&location("localhost", &db, "sslmode=disable"))
        .expect_err("the server takes TLS only");
    let text = error.to_string();
    assert!(
        text.contains("no pg_hba.conf entry") && text.contains("no encryption"),
        "{text}"
    );
    assert!(!text.contains(tls().cluster.password()), "{text}");
}

#[test]
fn a_certificate_from_another_ca_is_refused_and_nothing_changes() {
    let db = tls().cluster.create_database("tlswrong").expect("database");
    psql(&db, "CREATE TABLE t (id int); INSERT INTO t VALUES (1)");
    let query = verify_full(&tls().wrong_ca);
    let source = location("localhost", &db, &query);
    let staging_db = format!("{db}_copy");
    let staging = location("localhost", &staging_db, &query);
    let error = ENGINE
        .copy(&source, &staging, &CopyOptions::default(), &Silent)
        .expect_err("the certificate is not from that CA");
    let Error::Certificate { message, .. } = &error else {
        panic!("not a certificate error: {error:?}");
    };
    let expected = format!(
        "the server's certificate is not signed by sslrootcert {}",
        tls().wrong_ca.display()
    );
    assert!(message.starts_with(&expected), "{message}");
    assert!(!database_exists(&staging_db), "a staging database was made");
    assert_eq!(psql(&db, "SELECT count(*) FROM t"), "1");
    let checked = ENGINE.check_refresh(&source, &location("localhost", &db, &query));
    assert!(
        matches!(checked, Err(Error::Certificate { .. })),
        "{checked:?}"
    );
}

#[test]
fn verify_full_checks_the_host_name_and_verify_ca_does_not() {
    let db = tls().cluster.create_database("tlsname").expect("database");
    let ca = tls().right_ca.display().to_string();
    // The certificate names `localhost`, not `127.0.0.1`.
    let by_address = location("127.0.0.1", &db, &verify_full(&tls().right_ca));
    let error = ENGINE.probe(&by_address).expect_err("wrong host name");
    let Error::Certificate { message, .. } = &error else {
        panic!("not a certificate error: {error:?}");
    };
    assert!(
        message.contains("not valid for host name 127.0.0.1"),
        "{message}"
    );
    let verify_ca = location(
        "127.0.0.1",
        &db,
        &format!("sslmode=verify-ca&sslrootcert={ca}"),
    );
    assert_eq!(encrypted(&verify_ca).map_err(|e| e.to_string()), Ok(true));
    // With a root certificate, libpq's `require` checks the chain as verify-ca does.
    let require_wrong = location(
        "127.0.0.1",
        &db,
        &format!("sslmode=require&sslrootcert={}", tls().wrong_ca.display()),
    );
    assert!(
        matches!(ENGINE.probe(&require_wrong), Err(Error::Certificate { .. })),
        "require with a root certificate checks the chain"
    );
}

#[test]
fn require_prefer_and_allow_work_without_a_ca() {
    let db = tls().cluster.create_database("tlsreq").expect("database");
    for query in ["sslmode=require", "sslmode=prefer", "", "sslmode=allow"] {
        let at = location("127.0.0.1", &db, query);
        assert_eq!(
            encrypted(&at).map_err(|e| e.to_string()),
            Ok(true),
            "{query}"
        );
    }
}

#[test]
fn tls_parameters_never_show_the_password() {
    let db = tls()
        .cluster
        .create_database("tlsredact")
        .expect("database");
    let at = location("localhost", &db, &verify_full(&tls().right_ca));
    let shown = at.redacted();
    assert!(!shown.contains(tls().cluster.password()), "{shown}");
    assert!(shown.contains("sslmode=verify-full"), "{shown}");
}

#[test]
fn a_client_certificate_signs_in_dataalm_and_pg_dump() {
    let tls = tls();
    let pg = &tls.cluster;
    let db = pg.create_database("tlscert").expect("database");
    psql(
        &db,
        "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1), (2)",
    );
    let at = |db: &str, query: &str| {
        let url = format!(
            "postgres://{CERT_USER}@localhost:{}/{db}?{query}",
            pg.port()
        );
        Location::Postgres(url)
    };
    let with_cert = format!(
        "{}&sslcert={}&sslkey={}",
        verify_full(&tls.right_ca),
        tls.client_cert.display(),
        tls.client_key.display()
    );
    let staging_db = format!("{db}_copy");
    // pg_dump and pg_restore sign in with the same certificate, or the copy fails.
    ENGINE
        .copy(
            &at(&db, &with_cert),
            &at(&staging_db, &with_cert),
            &CopyOptions::default(),
            &Silent,
        )
        .unwrap_or_else(|e| panic!("copy with a client certificate: {e}"));
    assert_eq!(psql(&staging_db, "SELECT count(*) FROM t"), "2");
    let error = ENGINE
        .probe(&at(&db, &verify_full(&tls.right_ca)))
        .expect_err("no certificate, no entry");
    assert!(error.to_string().contains("certificate"), "{error}");
}
