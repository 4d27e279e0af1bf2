//! App registrations and the token signing key. Each argon2 hash takes tens of
//! milliseconds, so these tests register and authenticate only a handful of times.

use dataalm_core::access::Role;
use dataalm_core::{EnvKind, Environment, Location};
use dataalm_store::{Error, Store};

fn sandbox(name: &str) -> Environment {
    Environment {
        name: name.into(),
        kind: EnvKind::Sandbox,
        location: Location::Sqlite(format!("/tmp/{name}.db").into()),
        profile: "finance".into(),
        url: None,
    }
}

fn stored_hash(home: &std::path::Path, client_id: &str) -> String {
    let conn = rusqlite::Connection::open(home.join("control.db")).unwrap();
    conn.query_row(
        "SELECT secret_hash FROM apps WHERE client_id = ?1",
        [client_id],
        |r| r.get(0),
    )
    .unwrap()
}

#[test]
fn secrets_authenticate_until_revoked_and_are_kept_only_hashed() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
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

    let hash = stored_hash(dir.path(), &app.client_id);
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

#[test]
fn registrations_are_validated() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
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

#[test]
fn signing_key_is_made_once_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().to_owned();

    // Two processes' first calls race; both must see the one stored key.
    let keys: Vec<Vec<u8>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let home = home.clone();
                s.spawn(move || Store::open(&home).unwrap().signing_key().unwrap())
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(keys[0].len(), 32);
    assert!(keys.iter().all(|k| k == &keys[0]));

    let store = Store::open(&home).unwrap();
    assert_eq!(store.signing_key().unwrap(), keys[0]);
    drop(store);
    assert_eq!(Store::open(&home).unwrap().signing_key().unwrap(), keys[0]);

    let other = tempfile::tempdir().unwrap();
    assert_ne!(
        Store::open(other.path()).unwrap().signing_key().unwrap(),
        keys[0]
    );
}
