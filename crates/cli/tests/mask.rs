//! Masking from the command line, on SQLite finance samples: unruled personal columns
//! stop a refresh unless allowed once, `mask scan` suggests rules, `mask check` finds a
//! planted raw value, and a rotated key gives new pseudonyms.

mod common;

use common::Home;
use std::path::Path;

/// Adds a column that looks personal (a mobile number) and that the finance profile
/// has no rule for.
fn add_mobile_column(db: &Path) {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.execute_batch(
        "ALTER TABLE cust_table ADD COLUMN mobile TEXT;
         UPDATE cust_table SET mobile = '+31 6 5550 1234';",
    )
    .unwrap();
}

fn query(db: &Path, sql: &str) -> Vec<String> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn.prepare(sql).unwrap();
    stmt.query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// Names of the first customers, by account.
fn customer_names(home: &Home, db: &str) -> Vec<String> {
    query(
        &home.path(db),
        "SELECT name FROM cust_table ORDER BY account_num LIMIT 20",
    )
}

/// Whether two lists of names of the same customers differ in most places (a pseudonym
/// may, rarely, be another's name).
fn mostly_differ(a: &[String], b: &[String]) -> bool {
    assert_eq!(a.len(), b.len());
    !a.is_empty() && a.iter().zip(b).filter(|(x, y)| x != y).count() * 4 >= a.len() * 3
}

fn refresh_and_sign_off(home: &Home) {
    home.ok(&["refresh", "--from", "prod", "--to", "uat", "--yes"]);
    let op = home.latest_op();
    home.ok(&["signoff", op["id"].as_str().unwrap()]);
}

#[test]
fn unruled_personal_columns_stop_a_refresh_unless_allowed_once() {
    let home = Home::new();
    add_mobile_column(&home.path("prod.db"));
    let err = home.fails(&["refresh", "--from", "prod", "--to", "uat", "--yes"]);
    assert!(err.contains("cust_table.mobile (name: mobile)"), "{err}");
    assert!(err.contains("no [[mask]] rule"), "{err}");
    assert!(!err.contains("5550"), "no value is shown: {err}");
    assert_eq!(home.ok(&["history", "--json"]).trim(), "[]");

    home.ok(&[
        "refresh",
        "--from",
        "prod",
        "--to",
        "uat",
        "--yes",
        "--allow-unmasked",
    ]);
    assert_eq!(home.latest_op()["state"], "awaiting_signoff");
    let audit: serde_json::Value = serde_json::from_str(&home.ok(&["audit", "--json"])).unwrap();
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["action"] == "unmasked columns allowed"
                && a["result"].as_str().unwrap().contains("cust_table.mobile")),
        "{audit:#}"
    );
    // The customers are masked all the same.
    let raw = customer_names(&home, "prod.db");
    let copied = customer_names(&home, "uat.db");
    assert_eq!(raw.len(), copied.len());
    assert!(mostly_differ(&raw, &copied), "{raw:?} {copied:?}");
}

#[test]
fn mask_scan_suggests_rules_for_unruled_personal_columns() {
    let home = Home::new();
    let out = home.ok(&["mask", "scan", "--env", "prod"]);
    assert!(out.starts_with("no suggestions"), "{out}");

    add_mobile_column(&home.path("prod.db"));
    let out = home.ok(&["mask", "scan", "--env", "prod"]);
    assert!(
        out.lines().any(|l| l.split_whitespace().collect::<Vec<_>>()
            == ["cust_table", "mobile", "phone", "name:", "mobile"]),
        "{out}"
    );
    assert!(
        out.contains("[[mask]]\ntable = \"cust_table\"\ncolumn = \"mobile\"\nwith = \"phone\""),
        "{out}"
    );
    assert!(!out.contains("5550"), "no value is shown: {out}");
    let json: serde_json::Value =
        serde_json::from_str(&home.ok(&["mask", "scan", "--env", "prod", "--json"])).unwrap();
    assert_eq!(
        json["suggested"],
        serde_json::json!([{
            "table": "cust_table", "column": "mobile", "with": "phone", "why": "name: mobile"
        }])
    );
    let err = home.fails(&["mask", "scan", "--env", "nope"]);
    assert!(err.contains("nope"), "{err}");
}

#[test]
fn mask_check_finds_a_planted_raw_value() {
    let home = Home::new();
    let err = home.fails(&["mask", "check", "--env", "uat"]);
    assert!(err.contains("--from"), "{err}");

    home.ok(&["refresh", "--from", "prod", "--to", "uat", "--yes"]);
    let emails = query(
        &home.path("prod.db"),
        "SELECT email FROM cust_table WHERE email IS NOT NULL",
    );
    let sampled = emails.len().min(50).to_string();
    let out = home.ok(&["mask", "check", "--env", "uat", "--sample", "50"]);
    assert!(out.contains("no raw value found"), "{out}");
    assert!(out.contains("up to 50 values"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()
                == ["cust_table", "email", &sampled, "0"]),
        "{out}"
    );

    // Every one of the source's e-mails planted in the sandbox: any sample finds them.
    let conn = rusqlite::Connection::open(home.path("uat.db")).unwrap();
    conn.execute(
        "ATTACH ?1 AS prod",
        [home.path("prod.db").to_str().unwrap()],
    )
    .unwrap();
    conn.execute_batch(
        "UPDATE cust_table SET email = \
         (SELECT p.email FROM prod.cust_table p WHERE p.account_num = cust_table.account_num);",
    )
    .unwrap();
    drop(conn);
    let out = home
        .cmd(&["mask", "check", "--env", "uat", "--sample", "50"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let (stdout, stderr) = (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    );
    let found =
        format!("survive in masked columns of `uat`: cust_table.email ({sampled} of {sampled})");
    assert!(stderr.contains(&found), "{stderr}");
    assert!(
        !stderr.contains("vend_table") && !stdout.contains("@"),
        "only the planted column, and no value: {stdout}{stderr}"
    );
    for email in &emails {
        assert!(!stdout.contains(email.as_str()) && !stderr.contains(email.as_str()));
    }
    let json: serde_json::Value = serde_json::from_slice(
        &home
            .cmd(&["mask", "check", "--env", "uat", "--from", "prod", "--json"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert!(json["surviving"].as_u64().unwrap() > 0, "{json:#}");
}

#[test]
fn a_rotated_mask_key_gives_new_pseudonyms() {
    let home = Home::new();
    refresh_and_sign_off(&home);
    let first = customer_names(&home, "uat.db");
    assert_ne!(first, customer_names(&home, "prod.db"));
    refresh_and_sign_off(&home);
    assert_eq!(
        customer_names(&home, "uat.db"),
        first,
        "same key, same pseudonyms"
    );

    let out = home.ok(&["env", "set", "uat", "--rotate-mask-key"]);
    assert!(out.contains("new pseudonym"), "{out}");
    assert!(!out.contains("changed environment"), "{out}");
    let audit = home.ok(&["audit"]);
    assert!(audit.contains("mask key rotated"), "{audit}");
    refresh_and_sign_off(&home);
    let rotated = customer_names(&home, "uat.db");
    assert_eq!(rotated.len(), first.len());
    assert!(mostly_differ(&rotated, &first), "{rotated:?} {first:?}");
    let err = home.fails(&["env", "set", "nope", "--rotate-mask-key"]);
    assert!(err.contains("nope"), "{err}");
}

#[test]
fn the_demo_shows_customers_masked_in_the_copy() {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    let home = Home {
        dir: tempfile::tempdir().unwrap(),
    };
    let args = ["demo", "--dir", demo.to_str().unwrap(), "--size", "3MB"];
    let out = home.ok(&args);
    assert!(out.contains("customers masked in the copy"), "{out}");
    let json: serde_json::Value =
        serde_json::from_str(&home.ok(&[&args[..], &["--json"]].concat())).unwrap();
    let customers = json["masked_customers"].as_array().unwrap();
    assert_eq!(customers.len(), 3, "{json:#}");
    for c in customers {
        assert!(!c["account"].as_str().unwrap().is_empty(), "{c}");
        assert_ne!(c["production_name"], c["uat_name"], "{c}");
        assert_ne!(c["production_email"], c["uat_email"], "{c}");
    }
}
