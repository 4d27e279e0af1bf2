//! A masked SQLite copy: no raw value of a masked column anywhere in the file's bytes
//! (free pages included), masked keys still join, the same key gives the same values,
//! unique columns stay unique.

use dataalm_core::Location;
use dataalm_core::profile::{MaskSpec, MaskWith};
use dataalm_core::progress::Silent;
use dataalm_engine::sqlite::SqliteEngine;
use dataalm_engine::{CopyStats, Engine, MaskSet};
use dataalm_mask::MaskKey;
use rusqlite::Connection;
use std::path::Path;

const CUSTOMERS: usize = 2000;

fn rule(table: &str, column: &str, with: MaskWith) -> MaskSpec {
    MaskSpec {
        table: table.into(),
        column: column.into(),
        with,
        domain: None,
        value: None,
        days: None,
    }
}

fn rules() -> Vec<MaskSpec> {
    vec![
        rule("cust_table", "account_num", MaskWith::Hash),
        rule("cust_table", "name", MaskWith::Name),
        rule("cust_table", "email", MaskWith::Email),
        rule("cust_table", "phone", MaskWith::Phone),
        rule("cust_table", "street", MaskWith::Text),
        rule("sales_table", "cust_account", MaskWith::Hash),
    ]
}

/// The raw values of every masked column, deleted rows' included.
fn raw_values(i: usize) -> [String; 5] {
    [
        format!("CUSTACC{i:06}"),
        format!("Realperson{i} Lastnamey"),
        format!("person{i}@realcorp.dk"),
        format!("+45 {:010}", 4_000_000_000u64 + i as u64 * 7919),
        format!("Realstreet {i} Harbourside"),
    ]
}

/// A source with customers (two unique columns), their sales, and deleted customers
/// whose values linger in its free pages.
fn make_source(path: &Path) {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(
        "CREATE TABLE cust_table (account_num TEXT PRIMARY KEY, name TEXT, email TEXT UNIQUE,
                                  phone TEXT, street TEXT, currency TEXT);
         CREATE TABLE sales_table (sales_id INTEGER PRIMARY KEY, cust_account TEXT);",
    )
    .unwrap();
    let tx = conn.unchecked_transaction().unwrap();
    for i in 0..CUSTOMERS {
        let [acc, name, email, phone, street] = raw_values(i);
        let phone = (i % 10 != 0).then_some(phone); // some NULLs
        tx.execute(
            "INSERT INTO cust_table VALUES (?1, ?2, ?3, ?4, ?5, 'DKK')",
            rusqlite::params![acc, name, email, phone, street],
        )
        .unwrap();
        tx.execute("INSERT INTO sales_table (cust_account) VALUES (?1)", [&acc])
            .unwrap();
    }
    tx.commit().unwrap();
    conn.execute("DELETE FROM cust_table WHERE rowid % 3 = 0", [])
        .unwrap();
}

fn copy(source: &Path, staging: &Path, key: u8) -> CopyStats {
    let set = MaskSet::new(rules(), &MaskKey::from_bytes(&[key; 32]).unwrap());
    let (from, to) = (
        Location::Sqlite(source.into()),
        Location::Sqlite(staging.into()),
    );
    SqliteEngine
        .copy_masked(&from, &to, &Default::default(), Some(&set), &Silent)
        .unwrap()
}

fn customers(path: &Path) -> Vec<(String, String, String, Option<String>, String)> {
    let conn = Connection::open(path).unwrap();
    let mut stmt = conn
        .prepare("SELECT account_num, name, email, phone, street FROM cust_table ORDER BY rowid")
        .unwrap();
    stmt.query_map([], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
    })
    .unwrap()
    .collect::<rusqlite::Result<_>>()
    .unwrap()
}

/// Whether `needle` is anywhere in the bytes (lossy text keeps ASCII runs as they are).
fn contains(haystack: &[u8], needle: &str) -> bool {
    String::from_utf8_lossy(haystack).contains(needle)
}

/// Every raw value but the phones carries a marker no pseudonym has, so no marker means
/// no raw value, nor any piece of one. Phones keep their shape (`+dd ` and ten digits, all
/// permuted), so each number of that shape is looked up among the raw ones.
fn assert_no_raw_value(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    for marker in [
        "CUSTACC",
        "Realperson",
        "Lastnamey",
        "realcorp",
        "Realstreet",
        "Harbourside",
    ] {
        assert!(
            !text.contains(marker),
            "{marker} survived in the copy's bytes"
        );
    }
    let phones: std::collections::HashSet<String> =
        (0..CUSTOMERS).map(|i| raw_values(i)[3].clone()).collect();
    let found: Vec<&str> = text
        .match_indices('+')
        .filter_map(|(at, _)| text.get(at..at + 14))
        .filter(|p| {
            p.as_bytes()[3] == b' '
                && p[1..3]
                    .bytes()
                    .chain(p[4..].bytes())
                    .all(|b| b.is_ascii_digit())
        })
        .collect();
    assert!(
        found.len() > CUSTOMERS / 2,
        "the masked phones are there: {}",
        found.len()
    );
    for phone in found {
        assert!(
            !phones.contains(phone),
            "{phone} survived in the copy's bytes"
        );
    }
}

#[test]
fn a_masked_copy_holds_no_raw_value_and_keeps_keys_joined() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("prod.db");
    make_source(&source);
    let source_bytes = std::fs::read(&source).unwrap();
    // The search can see raw values, deleted ones included, in an unmasked file.
    assert!(contains(&source_bytes, &raw_values(CUSTOMERS - 1)[2]));
    assert!(
        contains(&source_bytes, &raw_values(2)[1]),
        "a deleted row lingers"
    );

    let staging = dir.path().join("uat.db.staging");
    let stats = copy(&source, &staging, 1);
    assert!(
        stats.masked.contains(&(
            "cust_table.email".into(),
            (CUSTOMERS - CUSTOMERS / 3) as u64
        )),
        "{:?}",
        stats.masked
    );
    let bytes = std::fs::read(&staging).unwrap();
    assert_no_raw_value(&bytes);
    for suffix in ["-journal", "-wal", ".tmp"] {
        assert!(
            !dir.path().join(format!("uat.db.staging{suffix}")).exists(),
            "{suffix}"
        );
    }

    let conn = Connection::open(&staging).unwrap();
    let count = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap();
    let kept = (CUSTOMERS - CUSTOMERS / 3) as i64;
    assert_eq!(count("SELECT count(*) FROM cust_table"), kept);
    assert_eq!(count("SELECT count(DISTINCT email) FROM cust_table"), kept);
    assert_eq!(
        count("SELECT count(DISTINCT account_num) FROM cust_table"),
        kept
    );
    assert_eq!(
        count(
            "SELECT count(*) FROM sales_table s JOIN cust_table c ON c.account_num = s.cust_account"
        ),
        kept,
        "masked keys join"
    );
    assert_eq!(
        count("SELECT count(*) FROM cust_table WHERE phone IS NULL"),
        count_nulls()
    );
    assert_eq!(
        count("SELECT count(*) FROM cust_table WHERE email NOT LIKE '%@example.com'"),
        0
    );
    assert_eq!(
        count("SELECT count(*) FROM cust_table WHERE currency = 'DKK'"),
        kept,
        "unmasked as is"
    );
    assert_eq!(
        conn.query_row("PRAGMA integrity_check", [], |r| r.get::<_, String>(0))
            .unwrap(),
        "ok"
    );
    drop(conn);

    // Same key, same pseudonyms; another key (another environment), other ones.
    let again = dir.path().join("again.db");
    copy(&source, &again, 1);
    assert_eq!(customers(&staging), customers(&again));
    let other = dir.path().join("other.db");
    copy(&source, &other, 2);
    let (a, b) = (customers(&staging), customers(&other));
    assert!(a.iter().zip(&b).all(|(x, y)| x.0 != y.0 && x.2 != y.2));
}

/// Rows of the source kept after the delete whose phone is NULL.
fn count_nulls() -> i64 {
    (1..=CUSTOMERS)
        .filter(|rowid| rowid % 3 != 0 && (rowid - 1) % 10 == 0)
        .count() as i64
}
