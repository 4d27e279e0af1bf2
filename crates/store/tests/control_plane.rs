//! The control plane, every test run twice: on a SQLite file and on a PostgreSQL database
//! (one database per test on a throw-away cluster shared by this test binary).
//!
//! App registrations hash with argon2, which takes tens of milliseconds, so those tests
//! register and authenticate only a handful of times.

use dataalm_core::access::Role;
use dataalm_core::{EnvKind, Environment, Location, OpState, Operation, Step, StepStatus};
use dataalm_pgtest::Cluster;
use dataalm_store::lease::{self, Claim};
use dataalm_store::{Error, KeySource, Store};
use tempfile::TempDir;
use time::OffsetDateTime;

// ---------------------------------------------------------------------------------------
// Fixture
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy)]
enum Backend {
    Sqlite,
    Postgres,
}

/// An empty control plane of one backend, and a side door for raw SQL.
struct Plane {
    location: Location,
    /// The home: `control.db` (SQLite) and the secret key, whatever the backend.
    dir: TempDir,
    pg_db: Option<String>,
}

impl Plane {
    fn new(backend: Backend) -> Plane {
        let dir = tempfile::tempdir().expect("temp dir");
        let (location, pg_db) = match backend {
            Backend::Sqlite => (Store::in_home(dir.path()), None),
            Backend::Postgres => {
                let pg = Cluster::shared("control");
                let db = pg.create_database("control").expect("create database");
                (Location::Postgres(pg.url(&db)), Some(db))
            }
        };
        Plane {
            location,
            dir,
            pg_db,
        }
    }

    fn open(&self) -> Store {
        Store::connect_with_key(&self.location, KeySource::for_home(self.dir.path()))
            .expect("open the control plane")
    }

    /// Runs `sql` (no parameters) behind the store's back.
    fn raw(&self, sql: &str) {
        match (&self.location, &self.pg_db) {
            (Location::Sqlite(path), _) => {
                let conn = rusqlite::Connection::open(path).expect("open");
                conn.execute_batch(sql).expect(sql);
            }
            (_, Some(db)) => {
                let mut client = Cluster::shared("control").client(db).expect("connect");
                client
                    .batch_execute(&format!("SET search_path TO dataalm; {sql}"))
                    .expect(sql);
            }
            _ => unreachable!("a PostgreSQL plane has a database"),
        }
    }

    /// Everything the control plane holds, as bytes: the SQLite file and its WAL, or a
    /// `pg_dump` of the `dataalm` schema.
    fn dump(&self) -> Vec<u8> {
        match (&self.location, &self.pg_db) {
            (Location::Sqlite(path), _) => {
                let mut bytes = std::fs::read(path).expect("read control.db");
                let wal = path.with_extension("db-wal");
                bytes.extend(std::fs::read(wal).unwrap_or_default());
                bytes
            }
            (_, Some(db)) => {
                let pg = Cluster::shared("control");
                let out = std::process::Command::new(pg.bin_dir().join("pg_dump"))
                    .args([
                        "-h",
                        pg.host(),
                        "-U",
                        "postgres",
                        "--schema=dataalm",
                        "-d",
                        db,
                    ])
                    .arg(format!("--port={}", pg.port()))
                    .env("PGPASSWORD", pg.password())
                    .output()
                    .expect("run pg_dump");
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                out.stdout
            }
            _ => unreachable!("a PostgreSQL plane has a database"),
        }
    }

    /// One text value read behind the store's back.
    fn raw_text(&self, sql: &str) -> String {
        match (&self.location, &self.pg_db) {
            (Location::Sqlite(path), _) => {
                let conn = rusqlite::Connection::open(path).expect("open");
                conn.query_row(sql, [], |r| r.get(0)).expect(sql)
            }
            (_, Some(db)) => {
                let mut client = Cluster::shared("control").client(db).expect("connect");
                client
                    .batch_execute("SET search_path TO dataalm")
                    .expect("search path");
                client.query_one(sql, &[]).expect(sql).get(0)
            }
            _ => unreachable!("a PostgreSQL plane has a database"),
        }
    }
}

fn sandbox(name: &str) -> Environment {
    Environment {
        name: name.into(),
        kind: EnvKind::Sandbox,
        location: Location::Sqlite(format!("/tmp/{name}.db").into()),
        profile: "finance".into(),
        url: None,
        settings: dataalm_core::EnvSettings {
            id: guid_of(name),
            ..Default::default()
        },
    }
}

/// A GUID for a test environment, the same for the same name (so records compare equal
/// after a round trip, where the store would otherwise give a new one).
fn guid_of(name: &str) -> String {
    let n = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    format!("00000000-0000-4000-8000-{:012x}", n & 0xffff_ffff_ffff)
}

/// Each test as a function of the backend, run once per backend.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $name() { super::$name(super::Backend::Sqlite) } )*
        }
        mod postgres {
            $( #[test] fn $name() { super::$name(super::Backend::Postgres) } )*
        }
    };
}

on_both_backends!(
    environments_round_trip_and_names_are_unique,
    one_active_operation_per_target,
    operations_list_newest_first,
    audit_is_newest_first,
    secrets_authenticate_until_revoked_and_are_kept_only_hashed,
    registrations_are_validated,
    signing_key_is_made_once_and_kept,
    token_key_is_made_once_kept_sealed_and_under_the_right_key,
    public_clients_have_no_secret,
    refresh_tokens_work_once_and_end_with_the_person,
    a_version_5_control_plane_keeps_its_apps_and_gains_grants,
    mask_keys_are_one_per_environment_sealed_and_rotated,
    secrets_are_kept_encrypted,
    secrets_an_older_dataalm_kept_in_the_clear_are_encrypted_on_open,
    another_key_or_no_key_is_refused_and_makes_no_new_signing_key,
    a_live_lease_keeps_others_out_and_fences_their_writes,
    a_lapsed_lease_or_a_dead_local_runner_can_be_taken_over,
    racing_claims_have_one_winner,
    takeovers_are_counted_until_a_step_finishes,
    renewing_needs_the_lease,
    people_sign_in_with_hashed_passwords_and_sessions,
    accounts_are_disabled_deleted_and_keep_an_admin,
    profiles_are_registered_once_by_name,
);

// ---------------------------------------------------------------------------------------
// Environments, plans, operations, audit
// ---------------------------------------------------------------------------------------

fn environments_round_trip_and_names_are_unique(backend: Backend) {
    let plane = Plane::new(backend);
    let store = plane.open();
    store.add_env(&sandbox("uat")).unwrap();
    assert!(matches!(
        store.add_env(&sandbox("uat")),
        Err(Error::EnvExists(_))
    ));
    assert_eq!(store.env("uat").unwrap(), sandbox("uat"));
    assert!(matches!(store.env("nope"), Err(Error::UnknownEnv(_))));
    assert_eq!(store.plan("uat").unwrap(), None);
    store.set_plan("uat", "[users]\n").unwrap();
    store.set_plan("uat", "[users]\nkeep = []\n").unwrap();
    assert_eq!(
        store.plan("uat").unwrap().as_deref(),
        Some("[users]\nkeep = []\n")
    );
    let mut moved = sandbox("uat");
    moved.url = Some("https://uat.example.com".into());
    store.update_env(&moved).unwrap();
    assert_eq!(store.envs().unwrap(), [moved]);
    store.remove_env("uat").unwrap();
    assert!(store.envs().unwrap().is_empty());
    assert!(matches!(store.plan("uat"), Err(Error::UnknownEnv(_))));
}

fn one_active_operation_per_target(backend: Backend) {
    let plane = Plane::new(backend);
    let store = plane.open();
    store.add_env(&sandbox("uat")).unwrap();
    let now = OffsetDateTime::now_utc();
    let mut first = Operation::new_refresh("prod", "uat", now);
    store.create_operation(&mut first).unwrap();
    let mut second = Operation::new_refresh("prod", "uat", now);
    let err = store.create_operation(&mut second).unwrap_err();
    assert!(matches!(err, Error::TargetBusy { .. }), "{err}");
    assert!(err.to_string().contains(&first.id), "{err}");
    assert!(matches!(
        store.remove_env("uat"),
        Err(Error::EnvBusy { .. })
    ));

    first.state = OpState::SignedOff;
    store.save_operation(&first).unwrap();
    assert_eq!(
        store.operation(&first.id).unwrap().lease,
        None,
        "leaving the running state gives the lease up"
    );
    store.create_operation(&mut second).unwrap();
    assert_eq!(
        store.operation(&first.id).unwrap().state,
        OpState::SignedOff
    );
    assert_eq!(
        store.active_operation("uat").unwrap().unwrap().id,
        second.id
    );
    assert!(matches!(
        store.operation("op-nope"),
        Err(Error::UnknownOperation(_))
    ));
}

fn operations_list_newest_first(backend: Backend) {
    let plane = Plane::new(backend);
    let store = plane.open();
    // The same creation time for all: insertion order breaks the tie.
    let now = OffsetDateTime::now_utc();
    let mut ids = Vec::new();
    for target in ["uat", "train", "uat"] {
        let mut op = Operation::new_refresh("prod", target, now);
        op.state = OpState::SignedOff;
        store.create_operation(&mut op).unwrap();
        ids.push(op.id);
    }
    let all: Vec<String> = store
        .operations(None)
        .unwrap()
        .into_iter()
        .map(|o| o.id)
        .collect();
    assert_eq!(all, [ids[2].clone(), ids[1].clone(), ids[0].clone()]);
    let uat: Vec<String> = store
        .operations(Some("uat"))
        .unwrap()
        .into_iter()
        .map(|o| o.id)
        .collect();
    assert_eq!(uat, [ids[2].clone(), ids[0].clone()]);
}

fn audit_is_newest_first(backend: Backend) {
    let plane = Plane::new(backend);
    let store = plane.open();
    store.audit("alice", "refresh", Some("uat"), "ok").unwrap();
    store.audit("bob", "signoff", None, "ok").unwrap();
    let log = store.audit_log(10).unwrap();
    assert_eq!(log.len(), 2);
    assert_eq!(
        (log[0].actor.as_str(), log[0].env.as_deref()),
        ("bob", None)
    );
    assert_eq!(log[1].env.as_deref(), Some("uat"));
    assert_eq!(store.audit_log(1).unwrap().len(), 1);
}

// ---------------------------------------------------------------------------------------
// App registrations and the signing key
// ---------------------------------------------------------------------------------------

fn secrets_authenticate_until_revoked_and_are_kept_only_hashed(backend: Backend) {
    let plane = Plane::new(backend);
    let store = plane.open();
    store.add_env(&sandbox("uat")).unwrap();

    let (app, secret) = store
        .register_app("ci", Role::Operator, &["uat".to_owned()])
        .unwrap();
    assert!(
        secret.starts_with("dsec_") && secret.len() == 5 + 64,
        "{secret}"
    );
    assert!(uuid::Uuid::parse_str(&app.client_id).is_ok());
    assert_eq!(app.role, Role::Operator);
    assert_eq!(app.environments, ["uat"]);
    assert!(!format!("{app:?}").contains(&secret));
    assert_eq!(store.app(&app.client_id).unwrap(), app);

    let hash = plane.raw_text(&format!(
        "SELECT secret_hash FROM apps WHERE client_id = '{}'",
        app.client_id
    ));
    assert!(hash.starts_with("$argon2"), "{hash}");
    assert!(!hash.contains(&secret));

    assert_eq!(
        store.authenticate_app(&app.client_id, &secret).unwrap(),
        app
    );
    let wrong = format!("{secret}x");
    assert!(matches!(
        store.authenticate_app(&app.client_id, &wrong),
        Err(Error::BadCredentials)
    ));
    assert!(matches!(
        store.authenticate_app("00000000-0000-4000-8000-000000000000", &secret),
        Err(Error::BadCredentials)
    ));

    let revoked = store.revoke_app("ci").unwrap();
    assert_eq!(revoked.client_id, app.client_id);
    assert!(revoked.is_revoked());
    assert!(matches!(
        store.authenticate_app(&app.client_id, &secret),
        Err(Error::BadCredentials)
    ));
    let again = store.revoke_app(&app.client_id).unwrap_err();
    assert!(matches!(again, Error::AppRevoked { .. }), "{again}");
    assert!(again.to_string().contains("already revoked"), "{again}");
    assert!(matches!(
        store.revoke_app("ci"),
        Err(Error::AppRevoked { .. })
    ));
    assert!(matches!(
        store.revoke_app("nobody"),
        Err(Error::UnknownApp(_))
    ));

    // A revoked name is free again; both registrations stay listed.
    let (second, _) = store.register_app("ci", Role::Reader, &[]).unwrap();
    let apps = store.apps().unwrap();
    assert_eq!(apps.len(), 2);
    assert_eq!(apps[0].client_id, app.client_id);
    assert_eq!(apps[1], second);
    assert!(second.covers("anything"));
    assert!(!revoked.covers("prod"));
}

fn registrations_are_validated(backend: Backend) {
    let plane = Plane::new(backend);
    let store = plane.open();
    store.add_env(&sandbox("uat")).unwrap();

    let err = store
        .register_app(
            "ci",
            Role::Reader,
            &["uat".to_owned(), "qa".to_owned(), "dev".to_owned()],
        )
        .unwrap_err();
    match &err {
        Error::UnknownEnvs(names) => assert_eq!(names, &["dev", "qa"]),
        other => panic!("{other}"),
    }
    assert!(err.to_string().contains("`dev`, `qa`"), "{err}");

    for bad in ["", " ci", "a\nb", "6f1e0c2a-3b4d-4e5f-8a9b-0c1d2e3f4a5b"] {
        assert!(
            matches!(
                store.register_app(bad, Role::Reader, &[]),
                Err(Error::InvalidApp(_))
            ),
            "{bad:?}"
        );
    }
    assert!(store.apps().unwrap().is_empty());

    let (app, _) = store
        .register_app("portal", Role::Admin, &["uat".to_owned(), "uat".to_owned()])
        .unwrap();
    assert_eq!(app.environments, ["uat"]);
    assert!(matches!(
        store.register_app("portal", Role::Reader, &[]),
        Err(Error::AppExists(_))
    ));
    assert!(matches!(store.app("nope"), Err(Error::UnknownApp(_))));

    let json = serde_json::to_value(&app).unwrap();
    assert_eq!(json["role"], "admin");
    assert_eq!(json["revoked_at"], serde_json::Value::Null);
    let created = json["created_at"].as_str().unwrap();
    assert!(created.contains('T') && created.ends_with('Z'), "{created}");
    assert!(json.get("secret").is_none() && json.get("secret_hash").is_none());
}

fn signing_key_is_made_once_and_kept(backend: Backend) {
    let plane = Plane::new(backend);

    // Several first calls race, on a brand-new control plane; all must see the one key.
    let keys: Vec<Vec<u8>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| s.spawn(|| plane.open().signing_key().unwrap()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(keys[0].len(), 32);
    assert!(keys.iter().all(|k| k == &keys[0]));
    assert_eq!(plane.open().signing_key().unwrap(), keys[0]);

    let other = Plane::new(backend);
    assert_ne!(other.open().signing_key().unwrap(), keys[0]);
}

fn token_key_is_made_once_kept_sealed_and_under_the_right_key(backend: Backend) {
    let plane = Plane::new(backend);
    let keys: Vec<Vec<u8>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| s.spawn(|| plane.open().token_key().unwrap()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(keys.iter().all(|k| k == &keys[0]));
    assert_eq!(plane.open().token_key().unwrap(), keys[0]);
    assert_nothing_secret_in(&plane.dump(), &keys[0]);
    assert_ne!(Plane::new(backend).open().token_key().unwrap(), keys[0]);

    // A control plane whose secrets were sealed under another key gets no new token key
    // under the wrong one.
    let older = Plane::new(backend);
    older.open().signing_key().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let another_key = "CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=\n";
    std::fs::write(elsewhere.path().join("secret.key"), another_key).unwrap();
    let wrong = Store::connect_with_key(&older.location, KeySource::for_home(elsewhere.path()))
        .expect("nothing to decrypt at open");
    let err = wrong.token_key().unwrap_err().to_string();
    assert!(err.contains("encrypted with another key"), "{err}");
    let count = "SELECT CAST(count(*) AS TEXT) FROM settings WHERE key = 'token_key_es256'";
    assert_eq!(older.raw_text(count), "0");
}

fn public_clients_have_no_secret(backend: Backend) {
    let plane = Plane::new(backend);
    let store = plane.open();
    let app = store
        .register_public_app("scripts", Role::Operator, &[])
        .unwrap();
    assert!(app.public);
    assert_eq!(store.app(&app.client_id).unwrap(), app);
    for secret in ["", "anything"] {
        assert!(matches!(
            store.authenticate_app(&app.client_id, secret),
            Err(Error::BadCredentials)
        ));
    }
    let (confidential, _) = store.register_app("pipeline", Role::Reader, &[]).unwrap();
    assert!(!confidential.public);
}

fn refresh_tokens_work_once_and_end_with_the_person(backend: Backend) {
    let plane = Plane::new(backend);
    let store = plane.open();
    let app = store
        .register_public_app("scripts", Role::Operator, &[])
        .unwrap();
    store
        .create_person("ada", Role::Operator, "correct horse")
        .unwrap();
    store
        .create_person("bob", Role::Reader, "correct horse")
        .unwrap();
    let envs = vec!["uat".to_owned()];
    let ttl = std::time::Duration::from_secs(60);
    let token = store
        .issue_refresh_token(&app.client_id, "ada", &envs, ttl)
        .unwrap();
    let stored = plane.raw_text("SELECT token_hash FROM refresh_tokens");
    assert!(!stored.contains(&token), "kept in the clear");

    // Another client's token is refused, and spent: it has leaked.
    let other = store
        .issue_refresh_token(&app.client_id, "ada", &envs, ttl)
        .unwrap();
    assert!(matches!(
        store.redeem_refresh_token("someone-else", &other),
        Err(Error::BadCredentials)
    ));
    assert!(store.redeem_refresh_token(&app.client_id, &other).is_err());

    let redeemed = store.redeem_refresh_token(&app.client_id, &token).unwrap();
    assert_eq!(
        (redeemed.person.name.as_str(), redeemed.environments),
        ("ada", envs.clone())
    );
    assert!(matches!(
        store.redeem_refresh_token(&app.client_id, &token),
        Err(Error::BadCredentials)
    ));

    // Expired, or the person disabled: refused.
    let expired = store
        .issue_refresh_token(&app.client_id, "bob", &envs, std::time::Duration::ZERO)
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(5));
    assert!(
        store
            .redeem_refresh_token(&app.client_id, &expired)
            .is_err()
    );
    let bobs = store
        .issue_refresh_token(&app.client_id, "bob", &envs, ttl)
        .unwrap();
    store.set_person_enabled("bob", false).unwrap();
    store.set_person_enabled("bob", true).unwrap();
    assert!(store.redeem_refresh_token(&app.client_id, &bobs).is_err());
}

fn mask_keys_are_one_per_environment_sealed_and_rotated(backend: Backend) {
    let plane = Plane::new(backend);
    let store = plane.open();
    store.add_env(&sandbox("uat")).unwrap();
    store.add_env(&sandbox("train")).unwrap();
    let uat = store.mask_key("uat").unwrap();
    assert_eq!(uat.len(), 32);
    assert_eq!(store.mask_key("uat").unwrap(), uat, "kept");
    assert_ne!(store.mask_key("train").unwrap(), uat, "one per environment");
    assert!(matches!(store.mask_key("nope"), Err(Error::UnknownEnv(_))));
    drop(store);
    assert_nothing_secret_in(&plane.dump(), &uat);
    let as_text = match backend {
        Backend::Sqlite => "CAST(value AS TEXT)",
        Backend::Postgres => "convert_from(value, 'UTF8')",
    };
    let row = plane.raw_text(&format!(
        "SELECT {as_text} FROM settings WHERE key = 'mask_key:uat'"
    ));
    assert!(row.starts_with("enc:v1:"), "sealed");

    let store = plane.open();
    assert_eq!(store.mask_key("uat").unwrap(), uat, "kept across opens");
    assert!(store.rotate_mask_key("uat").unwrap());
    let rotated = store.mask_key("uat").unwrap();
    assert_ne!(rotated, uat);
    assert_eq!(store.mask_key("uat").unwrap(), rotated);
}

/// A sandbox on a PostgreSQL server, its URL holding `PASSWORD` (nothing connects to it).
fn remote(name: &str) -> Environment {
    Environment {
        location: Location::Postgres(format!("postgres://app:{PASSWORD}@db.example:5432/erp")),
        ..sandbox(name)
    }
}

const PASSWORD: &str = "Sup3r-Secret-Pw";

/// Fails if `dump` holds the password or `key` in any form a tool would print it.
fn assert_nothing_secret_in(dump: &[u8], key: &[u8]) {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    let holds = |needle: &[u8]| dump.windows(needle.len()).any(|w| w == needle);
    assert!(!holds(PASSWORD.as_bytes()), "the password is in the clear");
    let forms = [
        key.to_vec(),
        hex::encode(key).into_bytes(),
        STANDARD.encode(key).into_bytes(),
        URL_SAFE_NO_PAD.encode(key).into_bytes(),
    ];
    for form in forms {
        assert!(!holds(&form), "the signing key is in the clear");
    }
}

fn secrets_are_kept_encrypted(backend: Backend) {
    let plane = Plane::new(backend);
    let store = plane.open();
    store.add_env(&remote("far")).unwrap();
    let key = store.signing_key().unwrap();
    drop(store);
    assert_nothing_secret_in(&plane.dump(), &key);

    let body = plane.raw_text("SELECT body FROM environments WHERE name = 'far'");
    assert!(body.contains("postgres://app:enc:v1:"), "{body}");
    let shown = dataalm_core::env::redact_url(&body);
    assert!(
        shown.contains("postgres://app:***@db.example:5432/erp"),
        "{shown}"
    );

    let store = plane.open();
    assert_eq!(store.env("far").unwrap(), remote("far"));
    assert_eq!(store.signing_key().unwrap(), key);
}

fn secrets_an_older_dataalm_kept_in_the_clear_are_encrypted_on_open(backend: Backend) {
    let plane = Plane::new(backend);
    drop(plane.open());
    let env = remote("old");
    let body = serde_json::to_string(&env).unwrap();
    let key = [7u8; 32];
    let key_literal = match backend {
        Backend::Sqlite => format!("X'{}'", hex::encode(key)),
        Backend::Postgres => format!("decode('{}', 'hex')", hex::encode(key)),
    };
    plane.raw(&format!(
        "INSERT INTO environments (name, body) VALUES ('old', '{body}');
         INSERT INTO settings (key, value) VALUES ('token_signing_key', {key_literal});"
    ));
    assert!(
        plane
            .dump()
            .windows(PASSWORD.len())
            .any(|w| w == PASSWORD.as_bytes())
    );

    let store = plane.open();
    assert_nothing_secret_in(&plane.dump(), &key);
    assert_eq!(store.env("old").unwrap(), env);
    assert_eq!(store.signing_key().unwrap(), key);
}

fn another_key_or_no_key_is_refused_and_makes_no_new_signing_key(backend: Backend) {
    let plane = Plane::new(backend);
    let store = plane.open();
    store.add_env(&remote("far")).unwrap();
    let key = store.signing_key().unwrap();
    drop(store);

    let elsewhere = tempfile::tempdir().unwrap();
    let another_key = "CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=\n";
    std::fs::write(elsewhere.path().join("secret.key"), another_key).unwrap();
    let other = Store::connect_with_key(&plane.location, KeySource::for_home(elsewhere.path()))
        .expect("nothing to decrypt at open");
    let err = other.env("far").unwrap_err().to_string();
    assert!(
        err.contains("the control plane's secrets were encrypted with another key")
            && err.contains("set DATAALM_SECRET_KEY or restore")
            && err.contains("secret.key"),
        "{err}"
    );
    let err = other.signing_key().unwrap_err().to_string();
    assert!(err.contains("encrypted with another key"), "{err}");
    assert!(other.envs().is_err());

    // Without its key file, nothing opens and no key file is made in its place.
    let key_file = plane.dir.path().join("secret.key");
    let saved = std::fs::read(&key_file).unwrap();
    std::fs::remove_file(&key_file).unwrap();
    let err = plane.open().signing_key().unwrap_err().to_string();
    assert!(
        err.contains("key is missing") && err.contains("restore"),
        "{err}"
    );
    assert!(!key_file.exists());

    std::fs::write(&key_file, saved).unwrap();
    assert_eq!(plane.open().signing_key().unwrap(), key);
    assert_eq!(plane.open().env("far").unwrap(), remote("far"));
}

// ---------------------------------------------------------------------------------------
// Leases
// ---------------------------------------------------------------------------------------

/// A running operation on `uat`, its lease held by its creator (this process).
fn running_operation(store: &Store) -> Operation {
    let mut op = Operation::new_refresh("prod", "uat", OffsetDateTime::now_utc());
    store.create_operation(&mut op).unwrap();
    op
}

/// Gives the lease of `op` to `runner`, lapsing in `ms` milliseconds (negative: lapsed).
fn hand_lease_to(plane: &Plane, op: &Operation, runner: &str, ms: i64) {
    let now_ms = OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
    plane.raw(&format!(
        "UPDATE operations SET runner = '{runner}', lease_until = {} WHERE id = '{}'",
        now_ms + i128::from(ms),
        op.id
    ));
}

/// The runner name of a claim by a process of this machine that has ended.
fn dead_local_runner() -> String {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead_pid = child.id().to_string();
    child.wait().unwrap();
    let mut parts: Vec<&str> = lease::process().split(':').collect();
    parts[1] = &dead_pid;
    format!("{}:1", parts.join(":"))
}

fn taken(claim: Claim) -> String {
    match claim {
        Claim::Taken(runner) => runner,
        Claim::HeldBy(runner) => panic!("held by {runner}"),
    }
}

fn a_live_lease_keeps_others_out_and_fences_their_writes(backend: Backend) {
    let plane = Plane::new(backend);
    let store = plane.open();
    let op = running_operation(&store);
    let lease = store
        .operation(&op.id)
        .unwrap()
        .lease
        .expect("a new operation is leased");
    assert_eq!(Some(&lease.runner), op.lease.as_ref().map(|l| &l.runner));
    assert!(lease.runner.starts_with(lease::process()), "{lease:?}");
    assert!(lease.expires_in_ms > 20_000, "{lease:?}");
    assert!(lease::is_live(&lease));
    store.save_operation(&op).unwrap();

    // Not even this process claims an operation it is running.
    assert_eq!(
        store.claim_operation(&op.id).unwrap(),
        Claim::HeldBy(lease.runner.clone())
    );

    hand_lease_to(&plane, &op, "elsewhere:4242:0:1", 60_000);
    assert_eq!(
        store.claim_operation(&op.id).unwrap(),
        Claim::HeldBy("elsewhere:4242:0:1".into())
    );
    let err = store.save_operation(&op).unwrap_err();
    assert!(matches!(err, Error::LeaseLost { .. }), "{err}");
    assert!(err.to_string().contains("elsewhere:4242"), "{err}");
    // Nor may the old holder release or renew what it does not hold.
    store.release_lease(&op.id, &lease.runner).unwrap();
    assert!(!store.renew_lease(&op.id, &lease.runner).unwrap());
    let held = store.operation(&op.id).unwrap().lease.unwrap();
    assert_eq!(held.runner, "elsewhere:4242:0:1");
    assert!(matches!(
        store.claim_operation("op-nope"),
        Err(Error::UnknownOperation(_))
    ));
}

fn a_lapsed_lease_or_a_dead_local_runner_can_be_taken_over(backend: Backend) {
    let plane = Plane::new(backend);
    let store = plane.open();
    let op = running_operation(&store);

    hand_lease_to(&plane, &op, "elsewhere:4242:0:1", -1);
    let lapsed = store.operation(&op.id).unwrap().lease.unwrap();
    assert!(!lease::is_live(&lapsed), "{lapsed:?}");
    let first = taken(store.claim_operation(&op.id).unwrap());
    let mine = store.operation(&op.id).unwrap();
    store.save_operation(&mine).unwrap();
    // The creator's name no longer writes: each claim has its own.
    let err = store.save_operation(&op).unwrap_err();
    assert!(err.to_string().contains(&first), "{err}");

    // A process of this machine that has ended holds nothing, however long its lease.
    hand_lease_to(&plane, &op, &dead_local_runner(), 60_000);
    assert!(!lease::is_live(
        &store.operation(&op.id).unwrap().lease.unwrap()
    ));
    let second = taken(store.claim_operation(&op.id).unwrap());
    assert_ne!(first, second);

    // The first claim's release does not free the second's.
    store.release_lease(&op.id, &first).unwrap();
    assert_eq!(
        store.operation(&op.id).unwrap().lease.unwrap().runner,
        second
    );
    store.release_lease(&op.id, &second).unwrap();
    let released = store.operation(&op.id).unwrap();
    assert_eq!(released.lease, None);
    // Released, nobody writes before claiming it again.
    let err = store.save_operation(&mine).unwrap_err();
    assert!(err.to_string().contains("was released"), "{err}");
    taken(store.claim_operation(&op.id).unwrap());
    store
        .save_operation(&store.operation(&op.id).unwrap())
        .unwrap();
}

/// Each claim from a runner that died or let its lease lapse counts a takeover, in the
/// journal; a claim of a released operation does not, and a step finished in between
/// starts the count again.
fn takeovers_are_counted_until_a_step_finishes(backend: Backend) {
    let plane = Plane::new(backend);
    let store = plane.open();
    let op = running_operation(&store);
    let takeovers = |store: &Store| store.operation(&op.id).unwrap().takeovers;
    for expected in 1..=2 {
        hand_lease_to(&plane, &op, "elsewhere:4242:0:1", -1);
        taken(store.claim_operation(&op.id).unwrap());
        let counted = takeovers(&store);
        assert_eq!(counted.count, expected, "{counted:?}");
        assert_eq!(counted.at, Some(Step::Validate), "{counted:?}");
    }
    let mut mine = store.operation(&op.id).unwrap();
    store
        .release_lease(&op.id, &mine.lease.clone().unwrap().runner)
        .unwrap();
    taken(store.claim_operation(&op.id).unwrap());
    assert_eq!(
        takeovers(&store).count,
        2,
        "a released lease is no takeover"
    );

    mine = store.operation(&op.id).unwrap();
    mine.step_mut(Step::Validate).unwrap().status = StepStatus::Done;
    store.save_operation(&mine).unwrap();
    hand_lease_to(&plane, &op, &dead_local_runner(), 60_000);
    taken(store.claim_operation(&op.id).unwrap());
    let moved = takeovers(&store);
    assert_eq!(
        (moved.count, moved.at),
        (1, Some(Step::Announce)),
        "{moved:?}"
    );
    // The claim kept what the journal held.
    let after = store.operation(&op.id).unwrap();
    assert_eq!(after.steps, mine.steps);
}

fn racing_claims_have_one_winner(backend: Backend) {
    let plane = Plane::new(backend);
    let op = running_operation(&plane.open());
    hand_lease_to(&plane, &op, "elsewhere:4242:0:1", -1);
    let claims: Vec<Claim> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..6)
            .map(|_| {
                let store = plane.open();
                let id = op.id.clone();
                s.spawn(move || store.claim_operation(&id).unwrap())
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let won = claims
        .iter()
        .filter(|c| matches!(c, Claim::Taken(_)))
        .count();
    assert_eq!(won, 1, "{claims:?}");
}

fn renewing_needs_the_lease(backend: Backend) {
    let plane = Plane::new(backend);
    let store = plane.open();
    let op = running_operation(&store);
    let runner = op.lease.clone().unwrap().runner;
    hand_lease_to(&plane, &op, &runner, 500);
    assert!(store.renew_lease(&op.id, &runner).unwrap());
    let renewed = store.operation(&op.id).unwrap().lease.unwrap();
    assert!(renewed.expires_in_ms > 20_000, "{renewed:?}");
    assert!(!store.renew_lease(&op.id, "someone:else:0:1").unwrap());
}

// ---------------------------------------------------------------------------------------
// Portal accounts and sessions
// ---------------------------------------------------------------------------------------

fn people_sign_in_with_hashed_passwords_and_sessions(backend: Backend) {
    let plane = Plane::new(backend);
    let store = plane.open();
    let ada = store
        .create_person("ada", Role::Operator, "correct horse")
        .unwrap();
    assert_eq!(ada.role, Role::Operator);
    assert!(matches!(
        store.create_person("ada", Role::Reader, "another one"),
        Err(Error::PersonExists(_))
    ));
    for (name, password) in [
        ("bob", "short"),
        (" bob", "long enough"),
        ("", "long enough"),
    ] {
        let err = store
            .create_person(name, Role::Reader, password)
            .unwrap_err();
        assert!(matches!(err, Error::InvalidPerson(_)), "{err}");
    }
    assert_eq!(store.people().unwrap(), std::slice::from_ref(&ada));
    let hash = plane.raw_text("SELECT password_hash FROM people WHERE name = 'ada'");
    assert!(
        hash.starts_with("$argon2") && !hash.contains("correct"),
        "{hash}"
    );

    assert_eq!(
        store.authenticate_person("ada", "correct horse").unwrap(),
        ada
    );
    for (name, password) in [("ada", "wrong horse"), ("nobody", "correct horse")] {
        assert!(matches!(
            store.authenticate_person(name, password),
            Err(Error::BadCredentials)
        ));
    }

    let token = store
        .open_session(&ada, std::time::Duration::from_secs(3600))
        .unwrap();
    let session = store.session(&token).unwrap().expect("a live session");
    assert_eq!(session.person, ada);
    assert_eq!(session.csrf.len(), 64);
    let stored = plane.raw_text("SELECT token_hash FROM sessions");
    assert_ne!(stored, token, "only a digest of the token is kept");
    assert_eq!(store.session("not-a-token").unwrap(), None);
    store.close_session(&token).unwrap();
    assert_eq!(store.session(&token).unwrap(), None);

    let brief = store.open_session(&ada, std::time::Duration::ZERO).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(5));
    assert_eq!(store.session(&brief).unwrap(), None, "expired");
}

fn accounts_are_disabled_deleted_and_keep_an_admin(backend: Backend) {
    let plane = Plane::new(backend);
    let store = plane.open();
    let hour = std::time::Duration::from_secs(3600);
    let root = store
        .create_person("root", Role::Admin, "admin password")
        .unwrap();
    let ada = store
        .create_person("ada", Role::Operator, "correct horse")
        .unwrap();
    let token = store.open_session(&ada, hour).unwrap();

    let disabled = store.set_person_enabled("ada", false).unwrap();
    assert!(!disabled.enabled);
    assert_eq!(
        store.session(&token).unwrap(),
        None,
        "disabling ends sessions"
    );
    assert!(matches!(
        store.authenticate_person("ada", "correct horse"),
        Err(Error::PersonDisabled(_))
    ));
    assert!(matches!(
        store.authenticate_person("ada", "wrong horse"),
        Err(Error::BadCredentials)
    ));
    assert!(store.set_person_enabled("ada", true).unwrap().enabled);
    let ada = store.authenticate_person("ada", "correct horse").unwrap();

    // A new password works, the old one does not, and sessions end.
    let token = store.open_session(&ada, hour).unwrap();
    store.set_person_password("ada", "battery staple").unwrap();
    assert_eq!(store.session(&token).unwrap(), None);
    store.authenticate_person("ada", "battery staple").unwrap();
    assert!(store.set_person_password("ada", "short").is_err());
    let token = store.open_session(&ada, hour).unwrap();
    assert_eq!(store.end_sessions("ada").unwrap(), 1);
    assert_eq!(store.session(&token).unwrap(), None);

    // The last enabled admin stays.
    for refused in [
        store.set_person_enabled("root", false).map(|_| ()),
        store.delete_person("root"),
    ] {
        let err = refused.unwrap_err();
        assert!(matches!(err, Error::LastAdmin(_)), "{err}");
    }
    assert!(store.person("root").unwrap().enabled);
    store
        .create_person("eve", Role::Admin, "second admin")
        .unwrap();
    store.set_person_enabled("root", false).unwrap();
    assert!(matches!(
        store.delete_person("eve"),
        Err(Error::LastAdmin(_))
    ));
    store.set_person_enabled("root", true).unwrap();

    let token = store.open_session(&ada, hour).unwrap();
    store.delete_person("ada").unwrap();
    assert_eq!(store.session(&token).unwrap(), None);
    assert!(matches!(store.person("ada"), Err(Error::UnknownPerson(_))));
    assert!(matches!(
        store.set_person_enabled("ada", true),
        Err(Error::UnknownPerson(_))
    ));
    let names: Vec<String> = store
        .people()
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(names, ["eve", "root"]);
    assert_eq!(root.name, "root");
}

fn profiles_are_registered_once_by_name(backend: Backend) {
    let plane = Plane::new(backend);
    let store = plane.open();
    let finance = dataalm_core::Profile::builtin_text("finance").unwrap();
    let added = store
        .register_profile("erp", &finance, "erp.toml", "test")
        .unwrap();
    assert_eq!(added, dataalm_store::Registered::Added);
    let again = store
        .register_profile("erp", &finance, "erp.toml", "test")
        .unwrap();
    assert_eq!(again, dataalm_store::Registered::AlreadyThere);
    let other = "name = \"other\"\n";
    for name in ["erp", "finance"] {
        let err = store
            .register_profile(name, other, "o.toml", "test")
            .unwrap_err();
        assert!(matches!(err, Error::ProfileExists(_)), "{err}");
    }
    let err = store
        .register_profile("/etc/x", other, "o.toml", "test")
        .unwrap_err();
    assert!(matches!(err, Error::InvalidProfileName(_)), "{err}");
    let err = store
        .register_profile("bad", "colour = 1", "o.toml", "test")
        .unwrap_err();
    assert!(matches!(err, Error::Profile(_)), "{err}");

    let stored = store.stored_profile("erp").unwrap();
    assert_eq!(stored.text, finance);
    assert_eq!(stored.added_by.as_deref(), Some("test"));
    assert_eq!(store.load_profile("erp").unwrap().name, "finance");
    let names: Vec<String> = store
        .stored_profiles()
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(names, ["finance", "none", "erp"]);
    let err = store.load_profile("nosuch").unwrap_err().to_string();
    assert_eq!(
        err,
        "unknown profile nosuch (registered: finance, none, erp)"
    );
}

// ---------------------------------------------------------------------------------------
// Upgrades
// ---------------------------------------------------------------------------------------

/// A control plane written by version 1 (no leases) opens, keeps its operations and
/// gains leases.
#[test]
fn a_version_1_sqlite_control_plane_is_upgraded() {
    let plane = Plane::new(Backend::Sqlite);
    let mut op = Operation::new_refresh("prod", "uat", OffsetDateTime::now_utc());
    {
        let store = plane.open();
        store.create_operation(&mut op).unwrap();
        store.add_env(&sandbox("uat")).unwrap();
    }
    plane.raw(
        "UPDATE environments SET body = json_remove(body, '$.id');
         CREATE TABLE old AS SELECT id, target, state, created_at, body FROM operations;
         DROP TABLE operations;
         CREATE TABLE operations (id TEXT PRIMARY KEY, target TEXT NOT NULL,
             state TEXT NOT NULL, created_at TEXT NOT NULL, body TEXT NOT NULL);
         INSERT INTO operations SELECT * FROM old;
         DROP TABLE old;
         PRAGMA user_version = 1;",
    );
    let store = plane.open();
    let read = store.operation(&op.id).unwrap();
    assert_eq!(read.id, op.id);
    assert_eq!(read.lease, None);
    taken(store.claim_operation(&op.id).unwrap());
    let version: i64 = rusqlite::Connection::open(match &plane.location {
        Location::Sqlite(path) => path.clone(),
        Location::Postgres(_) => unreachable!(),
    })
    .unwrap()
    .pragma_query_value(None, "user_version", |r| r.get(0))
    .unwrap();
    assert_eq!(version, 6);
    assert!(
        store.people().unwrap().is_empty(),
        "newer tables are added too"
    );
    // The operation was given a GUID, by which it is found too.
    let guid = read.activity_id.clone();
    assert_eq!(
        dataalm_core::env::canonical_guid(&guid).as_deref(),
        Some(guid.as_str())
    );
    assert_eq!(store.operation(&guid.to_uppercase()).unwrap().id, op.id);
    // So was the environment.
    let env_id = store.env("uat").unwrap().settings.id;
    assert_eq!(env_id.len(), 36, "{env_id}");
    assert_eq!(store.env_by_name_or_id(&env_id).unwrap().name, "uat");
    drop(store);

    // An older dataalm stamping the file with its version again does no harm...
    plane.raw("PRAGMA user_version = 1;");
    let again = plane.open().operation(&op.id).unwrap();
    assert_eq!((again.id, again.activity_id), (op.id.clone(), guid));
    // ...but a newer one's file is refused, and left as it is.
    plane.raw("PRAGMA user_version = 99;");
    let err = Store::connect(&plane.location).err().expect("refused");
    assert!(err.to_string().contains("newer dataalm"), "{err}");
}

/// A version 5 control plane (confidential clients only, no refresh tokens) opens with
/// its registrations working as before, and takes public clients and refresh tokens.
fn a_version_5_control_plane_keeps_its_apps_and_gains_grants(backend: Backend) {
    let plane = Plane::new(backend);
    let (app, secret) = plane
        .open()
        .register_app("pipeline", Role::Operator, &[])
        .unwrap();
    let stamp = match backend {
        Backend::Sqlite => "PRAGMA user_version = 5;",
        Backend::Postgres => "UPDATE meta SET value = '5' WHERE key = 'schema_version';",
    };
    plane.raw(&format!(
        "DROP TABLE refresh_tokens; ALTER TABLE apps DROP COLUMN client_type; {stamp}"
    ));
    let store = plane.open();
    let found = store.authenticate_app(&app.client_id, &secret).unwrap();
    assert!(!found.public);
    let public = store
        .register_public_app("scripts", Role::Reader, &[])
        .unwrap();
    store
        .create_person("ada", Role::Reader, "correct horse")
        .unwrap();
    let token = store
        .issue_refresh_token(
            &public.client_id,
            "ada",
            &[],
            std::time::Duration::from_secs(60),
        )
        .unwrap();
    assert!(
        store
            .redeem_refresh_token(&public.client_id, &token)
            .is_ok()
    );
}
