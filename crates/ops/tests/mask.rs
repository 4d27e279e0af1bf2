//! Masked refreshes on SQLite, through the whole refresh: the target ends with no raw
//! value of a masked column in its bytes, masked keys join, a second refresh gives the
//! same pseudonyms; rules naming missing columns and personal-looking columns without a
//! rule are refused before anything is recorded.

use dataalm_core::profile::MaskWith;
use dataalm_core::progress::Silent;
use dataalm_core::{CopyOptions, EnvKind, Environment, Location, OpState};
use dataalm_ops::refresh::{self, Context};
use dataalm_ops::{Actor, Error};
use dataalm_store::{KeySource, Store};
use rusqlite::Connection;
use std::path::Path;

const ROWS: usize = 300;

const SHOP: &str = r#"
name = "shop"
unmasked = ["customers.contact"]
[[mask]]
table = "customers"
column = "account"
with = "hash"
[[mask]]
table = "customers"
column = "name"
with = "name"
[[mask]]
table = "customers"
column = "email"
with = "email"
[[mask]]
table = "orders"
column = "customer"
with = "hash"
"#;

fn make_db(path: &Path, rows: usize) {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(
        "CREATE TABLE customers (account TEXT PRIMARY KEY, name TEXT, email TEXT UNIQUE,
                                 contact TEXT, currency TEXT);
         CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT, amount REAL);",
    )
    .unwrap();
    for i in 0..rows {
        conn.execute(
            "INSERT INTO customers VALUES (?1, ?2, ?3, ?4, 'EUR')",
            [
                format!("RAWACC{i:05}"),
                format!("Rawname{i} Person"),
                format!("raw{i}@rawcorp.example.org"),
                format!("desk{i}@othermail.test"),
            ],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO orders (customer, amount) VALUES (?1, 10)",
            [format!("RAWACC{i:05}")],
        )
        .unwrap();
    }
}

struct World {
    dir: tempfile::TempDir,
    store: Store,
}

impl World {
    fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let store =
            Store::connect_with_key(&Store::in_home(&home), KeySource::for_home(&home)).unwrap();
        make_db(&dir.path().join("prod.db"), ROWS);
        World { dir, store }
    }

    fn env(&self, name: &str, kind: EnvKind, profile: &str) {
        let path = self.dir.path().join(format!("{name}.db"));
        if !path.exists() {
            make_db(&path, 1);
        }
        let env = Environment {
            name: name.into(),
            kind,
            location: Location::Sqlite(path),
            profile: profile.into(),
            url: None,
            settings: Default::default(),
        };
        self.store.add_env(&env).unwrap();
    }

    fn profile(&self, name: &str, text: &str) {
        self.store
            .register_profile(name, text, name, "test")
            .unwrap();
    }

    fn refresh(&self, target: &str) -> Result<String, Error> {
        let actor = Actor("test".into());
        let ctx = Context {
            store: &self.store,
            progress: &Silent,
            actor: &actor,
        };
        let op = refresh::start(&ctx, "prod", target, CopyOptions::default())?;
        assert_eq!(op.state, OpState::AwaitingSignOff);
        refresh::sign_off(&ctx, &op.id)?;
        Ok(op.id)
    }

    fn customers(&self, env: &str) -> Vec<(String, String, String, String)> {
        let conn = Connection::open(self.dir.path().join(format!("{env}.db"))).unwrap();
        let mut stmt = conn
            .prepare("SELECT account, name, email, contact FROM customers ORDER BY rowid")
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }
}

#[test]
fn a_masked_refresh_leaves_no_raw_value_and_repeats_its_pseudonyms() {
    let world = World::new();
    world.profile("shop", SHOP);
    world.env("prod", EnvKind::Production, "shop");
    world.env("uat", EnvKind::Sandbox, "shop");
    world.refresh("uat").unwrap();

    let target = world.dir.path().join("uat.db");
    let text = String::from_utf8_lossy(&std::fs::read(&target).unwrap()).into_owned();
    for marker in ["RAWACC", "Rawname", "rawcorp"] {
        assert!(
            !text.contains(marker),
            "{marker} survived in the target's bytes"
        );
    }
    assert!(
        text.contains("othermail.test"),
        "an accepted column is copied as it is"
    );
    let first = world.customers("uat");
    assert_eq!(first.len(), ROWS);
    let conn = Connection::open(&target).unwrap();
    let joined: i64 = conn
        .query_row(
            "SELECT count(*) FROM orders o JOIN customers c ON c.account = o.customer",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(joined, ROWS as i64, "masked keys join");
    drop(conn);

    world.refresh("uat").unwrap();
    assert_eq!(
        world.customers("uat"),
        first,
        "the same key gives the same pseudonyms"
    );

    // `mask check` finds nothing in a masked sandbox, and a raw value planted in one.
    let clean = dataalm_ops::masking::check(&world.store, "prod", "uat", 1000).unwrap();
    assert_eq!(clean.len(), 4);
    assert!(
        clean
            .iter()
            .all(|s| s.sampled == ROWS as u64 && s.surviving == 0),
        "{clean:?}"
    );
    let conn = Connection::open(&target).unwrap();
    conn.execute(
        "UPDATE customers SET email = 'raw57@rawcorp.example.org' WHERE rowid = 9",
        [],
    )
    .unwrap();
    drop(conn);
    let found = dataalm_ops::masking::check(&world.store, "prod", "uat", 1000).unwrap();
    let email = found.iter().find(|s| s.column == "email").unwrap();
    assert_eq!((email.table.as_str(), email.surviving), ("customers", 1));
    assert_eq!(found.iter().map(|s| s.surviving).sum::<u64>(), 1);

    // A rotated key (audited) gives new pseudonyms from the next refresh on.
    assert!(
        dataalm_ops::actions::rotate_mask_key(&world.store, &Actor("test".into()), "uat").unwrap()
    );
    let audit = world.store.audit_log(1).unwrap();
    assert_eq!(
        (audit[0].action.as_str(), audit[0].result.as_str()),
        ("mask key rotated", "ok")
    );
    world.refresh("uat").unwrap();
    let rotated = world.customers("uat");
    assert!(
        first
            .iter()
            .zip(&rotated)
            .all(|(a, b)| a.0 != b.0 && a.2 != b.2),
        "a new key"
    );

    world.env("train", EnvKind::Sandbox, "shop");
    world.refresh("train").unwrap();
    let other = world.customers("train");
    assert!(
        first
            .iter()
            .zip(&other)
            .all(|(a, b)| a.0 != b.0 && a.2 != b.2),
        "another key"
    );
}

#[test]
fn missing_and_unruled_columns_are_refused_before_anything_is_recorded() {
    let world = World::new();
    world.env("prod", EnvKind::Production, "none");
    let missing = SHOP
        .replace("shop", "missing")
        .replace("column = \"email\"", "column = \"phone\"");
    world.profile("missing", &missing);
    world.env("uat", EnvKind::Sandbox, "missing");
    let err = world.refresh("uat").unwrap_err().to_string();
    assert!(err.contains("column `customers.phone`"), "{err}");

    let drift = "name = \"drift\"\n[[mask]]\ntable = \"customers\"\ncolumn = \"account\"\nwith = \"hash\"\n";
    world.profile("drift", drift);
    world.env("train", EnvKind::Sandbox, "drift");
    let err = world.refresh("train").unwrap_err().to_string();
    for column in [
        "customers.name (name: name)",
        "customers.email (name: email)",
        "customers.contact (content: e-mail)",
    ] {
        assert!(err.contains(column), "{column} not in: {err}");
    }
    assert!(
        !err.contains("currency") && !err.contains("orders.customer"),
        "{err}"
    );
    assert!(!err.contains("desk1@"), "no value is shown: {err}");
    assert!(world.store.operations(Some("train")).unwrap().is_empty());

    // What `dataalm mask scan` shows: the rule each such column would take, and why.
    let suggested: Vec<(String, MaskWith, String)> =
        dataalm_ops::masking::scan(&world.store, "train")
            .unwrap()
            .into_iter()
            .map(|s| (format!("{}.{}", s.table, s.column), s.with, s.why))
            .collect();
    for expected in [
        ("customers.name", MaskWith::Name, "name: name"),
        ("customers.email", MaskWith::Email, "name: email"),
        ("customers.contact", MaskWith::Email, "content: e-mail"),
    ] {
        let expected = (expected.0.to_owned(), expected.1, expected.2.to_owned());
        assert!(
            suggested.contains(&expected),
            "{expected:?} not in {suggested:?}"
        );
    }
    assert_eq!(suggested.len(), 3, "{suggested:?}");

    // `--allow-unmasked` lets them through once, said in the journal and audited.
    let actor = Actor("test".into());
    let ctx = Context {
        store: &world.store,
        progress: &Silent,
        actor: &actor,
    };
    let op = refresh::begin_with(&ctx, "prod", "train", CopyOptions::default(), true).unwrap();
    assert!(op.data.allow_unmasked);
    let detail = &op.steps[0].detail;
    assert!(
        detail.contains("allowed unmasked once: customers.name (name: name)"),
        "{detail}"
    );
    let audit = world.store.audit_log(5).unwrap();
    assert!(
        audit
            .iter()
            .any(|a| a.action == "unmasked columns allowed"
                && a.result.contains("customers.contact")),
        "{audit:?}"
    );
    let done = refresh::run(&ctx, op).unwrap();
    assert_eq!(done.state, OpState::AwaitingSignOff);
}

/// A finance sample of `role` at `path`.
fn finance_sample(path: &Path, role: dataalm_finance::Role) {
    let mut db = dataalm_engine::sqlite::SqliteDb::create(path).unwrap();
    let options = dataalm_finance::SampleOptions {
        role,
        size_bytes: 2_000_000,
        seed: 7,
    };
    dataalm_finance::create(&mut db, &options, &Silent).unwrap();
}

#[test]
fn the_finance_profile_masks_customers_and_vendors_but_not_users() {
    let world = World::new();
    let (prod, uat) = (
        world.dir.path().join("fprod.db"),
        world.dir.path().join("fuat.db"),
    );
    finance_sample(&prod, dataalm_finance::Role::Production);
    finance_sample(&uat, dataalm_finance::Role::Uat);
    for (name, kind, path) in [
        ("fprod", EnvKind::Production, &prod),
        ("fuat", EnvKind::Sandbox, &uat),
    ] {
        let env = Environment {
            name: name.into(),
            kind,
            location: Location::Sqlite(path.clone()),
            profile: "finance".into(),
            url: None,
            settings: Default::default(),
        };
        world.store.add_env(&env).unwrap();
    }
    let actor = Actor("test".into());
    let ctx = Context {
        store: &world.store,
        progress: &Silent,
        actor: &actor,
    };
    let op = refresh::start(&ctx, "fprod", "fuat", CopyOptions::default()).unwrap();
    assert_eq!(op.state, OpState::AwaitingSignOff);

    let read = |path: &Path, sql: &str| -> Vec<String> {
        let conn = Connection::open(path).unwrap();
        let mut stmt = conn.prepare(sql).unwrap();
        stmt.query_map([], |r| r.get::<_, Option<String>>(0))
            .unwrap()
            .map(|v| v.unwrap().unwrap_or_default())
            .collect()
    };
    for sql in [
        "SELECT name || email || phone || street || vat_num FROM cust_table ORDER BY account_num",
        "SELECT name || email || phone || bank_account FROM vend_table ORDER BY account_num",
    ] {
        let (before, after) = (read(&prod, sql), read(&uat, sql));
        assert_eq!(before.len(), after.len());
        assert!(!before.is_empty());
        assert!(
            before.iter().zip(&after).all(|(b, a)| b != a),
            "masked: {sql}"
        );
    }
    let users =
        "SELECT id || name || email FROM user_info WHERE id IN ('alice', 'bob') ORDER BY id";
    assert_eq!(
        read(&prod, users),
        read(&uat, users),
        "users are not masked"
    );
    let emails = read(&uat, "SELECT email FROM cust_table");
    assert!(emails.iter().all(|e| e.ends_with("@example.com")));
}
