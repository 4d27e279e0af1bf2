//! Masking in the PostgreSQL copy stream, on real clusters: no raw value of a masked
//! column reaches the target server (not in the copy, not in its files), masked keys
//! join, unique columns stay unique, and the same key gives the same pseudonyms.

use dataalm_core::Location;
use dataalm_core::profile::{MaskSpec, MaskWith};
use dataalm_core::progress::Silent;
use dataalm_engine::{Engine, MaskSet};
use dataalm_mask::MaskKey;
use std::path::Path;

mod common;
use common::*;

const ROWS: i64 = 3000;

fn rule(table: &str, column: &str, with: MaskWith) -> MaskSpec {
    MaskSpec {
        table: table.into(),
        column: column.into(),
        with,
        domain: None,
        value: None,
        days: (with == MaskWith::DateShift).then_some(30),
    }
}

fn set(key: u8) -> MaskSet {
    let rules = vec![
        rule("cust_table", "account_num", MaskWith::Hash),
        rule("cust_table", "name", MaskWith::Name),
        rule("cust_table", "email", MaskWith::Email),
        rule("cust_table", "phone", MaskWith::Phone),
        rule("cust_table", "vat_num", MaskWith::Text),
        rule("cust_table", "born", MaskWith::DateShift),
        rule("sales_table", "cust_account", MaskWith::Hash),
    ];
    MaskSet::new(rules, &MaskKey::from_bytes(&[key; 32]).unwrap())
}

/// Customers with marked raw values (`RAWACC`, `Rawname`, `rawcorp`, `RAWVAT`), a few
/// NULLs, and their sales. Over 64 kB, so the copy splits it into ranges.
const SOURCE: &str = "
CREATE TABLE cust_table (account_num varchar(20) PRIMARY KEY, name text,
    email text UNIQUE, phone text, vat_num character(12), born date, city text);
CREATE TABLE sales_table (id serial PRIMARY KEY, cust_account varchar(20), amount numeric);
INSERT INTO cust_table
SELECT 'RAWACC' || lpad(i::text, 6, '0'), 'Rawname' || i || ' Person',
       'raw' || i || '@rawcorp.example.org',
       CASE WHEN i % 10 = 0 THEN NULL ELSE '+45 ' || (4000000000 + i * 7919)::text END,
       'RAWVAT' || lpad(i::text, 6, '0'), date '1970-01-01' + i, 'Aarhus'
FROM generate_series(1, 3000) i;
INSERT INTO sales_table (cust_account, amount)
SELECT account_num, 10 FROM cust_table;";

fn copy(db: &str, key: u8) -> Location {
    let staging = ENGINE.staging_location(&pg(target().url(db)), &op_id());
    let stats = ENGINE
        .copy_masked(
            &pg(source().url(db)),
            &staging,
            &options(),
            Some(&set(key)),
            &Silent,
        )
        .unwrap_or_else(|e| panic!("masked copy: {e}"));
    assert!(
        stats
            .masked
            .contains(&("public.cust_table.email".into(), ROWS as u64)),
        "{:?}",
        stats.masked
    );
    staging
}

fn rows(location: &Location) -> String {
    psql(
        target(),
        &dbname(location),
        "SELECT string_agg(concat_ws('|', account_num, name, email, phone, vat_num, born), E'\\n'
                           ORDER BY account_num) FROM cust_table",
    )
}

/// Whether any file under `dir` holds `needle`.
fn any_file_holds(dir: &Path, needle: &[u8]) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|entry| {
        let path = entry.path();
        if path.is_dir() {
            return any_file_holds(&path, needle);
        }
        std::fs::read(&path).is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle))
    })
}

#[test]
fn the_copy_stream_masks_and_raw_values_never_reach_the_target() {
    let db = source().create_database("mask").expect("source database");
    script(source(), &db, SOURCE);
    let staging = copy(&db, 1);
    let copy_db = dbname(&staging);
    let count = |sql: &str| psql(target(), &copy_db, sql);

    assert_eq!(count("SELECT count(*) FROM cust_table"), ROWS.to_string());
    let raw =
        "SELECT count(*) FROM cust_table WHERE account_num LIKE 'RAWACC%' OR name LIKE 'Rawname%'
               OR email LIKE '%rawcorp%' OR vat_num LIKE 'RAWVAT%' OR born = date '1970-01-01' + 1";
    assert_eq!(count(raw), "0");
    assert_eq!(
        count("SELECT count(DISTINCT email) FROM cust_table"),
        ROWS.to_string()
    );
    assert_eq!(
        count("SELECT count(*) FROM cust_table WHERE phone IS NULL"),
        (ROWS / 10).to_string()
    );
    assert_eq!(
        count("SELECT count(*) FROM cust_table WHERE phone !~ '^\\+[0-9]{2} [0-9]{10}$'"),
        "0",
        "shape kept"
    );
    assert_eq!(
        count("SELECT count(*) FROM cust_table WHERE length(account_num) <> 20"),
        "0",
        "hash fits varchar(20)"
    );
    assert_eq!(
        count("SELECT count(*) FROM cust_table WHERE city = 'Aarhus'"),
        ROWS.to_string()
    );
    assert_eq!(
        count(
            "SELECT count(*) FROM sales_table s JOIN cust_table c ON c.account_num = s.cust_account"
        ),
        ROWS.to_string(),
        "masked keys join"
    );

    // Not in the target server's files either: its tables, WAL and all.
    psql(target(), &copy_db, "CHECKPOINT");
    for marker in [&b"RAWACC"[..], b"Rawname", b"rawcorp", b"RAWVAT"] {
        assert!(
            !any_file_holds(target().data_dir(), marker),
            "{} reached the target server",
            String::from_utf8_lossy(marker)
        );
    }
    assert!(
        any_file_holds(source().data_dir(), b"rawcorp"),
        "the search sees raw values"
    );

    // The same key gives the same pseudonyms; another key other ones.
    let again = copy(&db, 1);
    assert!(
        rows(&staging) == rows(&again),
        "the same key gave other pseudonyms"
    );
    let other = copy(&db, 2);
    assert!(
        rows(&staging) != rows(&other),
        "another key gave the same pseudonyms"
    );
}

#[test]
fn what_cannot_be_masked_stops_the_copy_naming_the_column() {
    let db = source()
        .create_database("mask_refused")
        .expect("source database");
    // Other markers: the failed copies leave unmasked rows on the shared target server,
    // where the other test looks for its raw values.
    let other = SOURCE
        .replace("RAW", "XAW")
        .replace("Rawname", "Xawname")
        .replace("rawcorp", "xawcorp");
    script(source(), &db, &other);
    let key = MaskKey::from_bytes(&[3; 32]).unwrap();
    let attempt = |rules: Vec<MaskSpec>| {
        let staging = ENGINE.staging_location(&pg(target().url(&db)), &op_id());
        let set = MaskSet::new(rules, &key);
        ENGINE
            .copy_masked(
                &pg(source().url(&db)),
                &staging,
                &options(),
                Some(&set),
                &Silent,
            )
            .expect_err("the copy must refuse")
            .to_string()
    };
    let err = attempt(vec![rule("cust_table", "fax", MaskWith::Phone)]);
    assert!(
        err.contains("`public.cust_table.fax`") && err.contains("no such column"),
        "{err}"
    );
    let err = attempt(vec![rule("customers", "email", MaskWith::Email)]);
    assert!(
        err.contains("`customers`") && err.contains("no such table"),
        "{err}"
    );
    let err = attempt(vec![rule("cust_table", "born", MaskWith::Email)]);
    assert!(err.contains("cannot take type date"), "{err}");

    // One value for every row of a unique column: caught, never a silent merge.
    let mut fixed = rule("cust_table", "email", MaskWith::Fixed);
    fixed.value = Some("same@example.com".into());
    let err = attempt(vec![fixed]);
    assert!(err.contains("`cust_table.email` (unique)"), "{err}");
}
