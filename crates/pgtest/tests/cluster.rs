//! Starting, using and removing throw-away clusters.

use std::net::TcpStream;
use std::thread;

use dataalm_pgtest::{Cluster, ClusterOptions, Error, SUPERUSER};

#[test]
fn shared_cluster_is_one_per_label() {
    let a = Cluster::shared("source");
    assert!(std::ptr::eq(a, Cluster::shared("source")));
    assert!(!std::ptr::eq(a, Cluster::shared("target")));
    assert_ne!(a.port(), Cluster::shared("target").port());
    assert!(a.data_dir().join("PG_VERSION").is_file());
    assert!(a.bin_dir().join("psql").is_file());
}

#[test]
fn client_connects_as_superuser() {
    let pg = Cluster::shared("source");
    let mut client = pg.client("postgres").expect("connect");
    let row = client
        .query_one(
            "SELECT current_user::text, current_setting('server_encoding')",
            &[],
        )
        .expect("query");
    assert_eq!(row.get::<_, String>(0), SUPERUSER);
    assert_eq!(row.get::<_, String>(1), "UTF8");
    let fsync: String = client.query_one("SHOW fsync", &[]).expect("show").get(0);
    assert_eq!(fsync, "off");
}

#[test]
fn url_carries_port_and_password() {
    let pg = Cluster::shared("source");
    let url = pg.url("app");
    assert_eq!(
        url,
        format!(
            "postgres://postgres:{}@127.0.0.1:{}/app",
            pg.password(),
            pg.port()
        )
    );
    assert_eq!(pg.host(), "127.0.0.1");
    let config: postgres::Config = url.parse().expect("url parses");
    assert_eq!(config.get_ports(), [pg.port()]);
}

#[test]
fn parallel_threads_get_distinct_databases() {
    let pg = Cluster::shared("target");
    let names: Vec<String> = thread::scope(|s| {
        let workers: Vec<_> = (0..2)
            .map(|_| s.spawn(|| pg.create_database("par").expect("create database")))
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("thread"))
            .collect()
    });
    assert_ne!(names[0], names[1]);
    for name in &names {
        assert_eq!(
            pg.psql(name, "SELECT current_database()").expect("psql"),
            format!("{name}\n")
        );
        let _held = pg.client(name).expect("connect"); // FORCE disconnects it
        pg.drop_database(name).expect("drop database");
    }
    let left = pg
        .psql(
            "postgres",
            "SELECT count(*) FROM pg_database WHERE datname LIKE 'par\\_%'",
        )
        .expect("psql");
    assert_eq!(left, "0\n");
}

#[test]
fn psql_runs_commands_and_scripts() {
    let pg = Cluster::shared("source");
    let db = pg.create_database("psql").expect("create database");
    let script = "CREATE TABLE t (id int, name text);\n\
                  INSERT INTO t VALUES (1, 'a'), (2, 'b');\n\
                  SELECT id, name FROM t ORDER BY id;\n";
    assert_eq!(pg.psql_script(&db, script).expect("script"), "1|a\n2|b\n");
    assert_eq!(pg.psql(&db, "SELECT count(*) FROM t").expect("psql"), "2\n");

    let err = pg.psql_script(&db, "SELECT 1;\nSELECT * FROM missing;\nSELECT 2;\n");
    match err {
        Err(Error::Psql { stderr, .. }) => assert!(stderr.contains("missing"), "{stderr}"),
        other => panic!("expected a psql error, got {other:?}"),
    }
    pg.drop_database(&db).expect("drop database");
}

#[test]
fn created_role_logs_in_with_its_password() {
    let pg = Cluster::shared("target");
    let db = pg.create_database("roles").expect("create database");
    pg.create_role("app_user", "it's secret", "LOGIN NOCREATEDB")
        .expect("create role");
    let mut client = pg
        .client_as("app_user", "it's secret", &db)
        .expect("connect as role");
    let me: String = client
        .query_one("SELECT current_user::text", &[])
        .expect("q")
        .get(0);
    assert_eq!(me, "app_user");
    assert!(pg.client_as("app_user", "wrong", &db).is_err());
    let url: postgres::Config = pg
        .url_as("app_user", "it's secret", &db)
        .parse()
        .expect("url");
    assert_eq!(url.get_password(), Some("it's secret".as_bytes()));
    drop(client);
    pg.drop_database(&db).expect("drop database");
}

#[test]
fn drop_stops_server_and_removes_dir() {
    let options = ClusterOptions {
        durable: true,
        shared_buffers: "32MB".to_string(),
        settings: vec![("work_mem".to_string(), "8MB".to_string())],
        tls: None,
    };
    let pg = Cluster::start(&options).expect("start");
    let mut client = pg.client("postgres").expect("connect");
    let row = client
        .query_one(
            "SELECT current_setting('fsync'), current_setting('work_mem')",
            &[],
        )
        .expect("query");
    assert_eq!(
        (row.get::<_, &str>(0), row.get::<_, &str>(1)),
        ("on", "8MB")
    );
    drop(client);
    let (dir, port) = (pg.dir().to_path_buf(), pg.port());
    assert!(dir.join("log").is_file());
    drop(pg);
    assert!(!dir.exists(), "{} still exists", dir.display());
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "server still up"
    );
}

#[test]
fn failed_start_shows_the_server_log() {
    let options = ClusterOptions {
        shared_buffers: "lots".to_string(),
        ..ClusterOptions::default()
    };
    match Cluster::start(&options) {
        Err(Error::Start {
            attempts, log_tail, ..
        }) => {
            assert_eq!(attempts, 3);
            assert!(log_tail.contains("shared_buffers"), "{log_tail}");
        }
        other => panic!("expected a start error, got {other:?}"),
    }
}
