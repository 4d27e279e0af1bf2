//! The transformers' promises, without a database: deterministic under a key, other
//! keys give other pseudonyms, domains join across tables, shapes kept, unique stays
//! unique (or says so).

use dataalm_core::profile::{MaskSpec, MaskWith};
use dataalm_mask::{Column, MaskError, MaskKey, Masker, Unique, content_looks_personal};
use std::collections::HashSet;

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

fn masker(seed: u8) -> Masker {
    Masker::new(&MaskKey::from_bytes(&[seed; 32]).unwrap())
}

fn col<'a>(table: &'a str, column: &'a str) -> Column<'a> {
    Column {
        table,
        column,
        max_len: None,
        unique: false,
    }
}

fn mask(m: &Masker, r: &MaskSpec, value: &str) -> String {
    m.text(r, &col(&r.table, &r.column), Some(value))
        .unwrap()
        .unwrap()
}

const ALL: [MaskWith; 5] = [
    MaskWith::Email,
    MaskWith::Name,
    MaskWith::Phone,
    MaskWith::Hash,
    MaskWith::Text,
];

#[test]
fn same_key_same_pseudonym_other_key_other() {
    let (a, b) = (masker(1), masker(2));
    for with in ALL {
        let r = rule("t", "c", with);
        let value = "Jane Doe +45 1234-5678 jane@corp.dk";
        assert_eq!(mask(&a, &r, value), mask(&a, &r, value), "{with:?}");
        assert_ne!(mask(&a, &r, value), mask(&b, &r, value), "{with:?}");
        assert_ne!(mask(&a, &r, value), value, "{with:?}");
    }
}

#[test]
fn a_domain_maps_alike_in_every_table_and_domains_differ() {
    let m = masker(3);
    let customer = rule("cust_table", "account_num", MaskWith::Hash);
    let sale = rule("sales_table", "cust_account", MaskWith::Hash);
    assert_eq!(mask(&m, &customer, "C000042"), mask(&m, &sale, "C000042"));
    let mut other = rule("vend_table", "account_num", MaskWith::Hash);
    other.domain = Some("vendor".into());
    assert_ne!(mask(&m, &customer, "C000042"), mask(&m, &other, "C000042"));
}

#[test]
fn shapes_are_kept() {
    let m = masker(4);
    let phone = mask(&m, &rule("t", "p", MaskWith::Phone), "+45 (12) 34-56 78");
    assert_eq!(phone.len(), "+45 (12) 34-56 78".len());
    let template = |s: &str| {
        s.chars()
            .map(|c| if c.is_ascii_digit() { '9' } else { c })
            .collect::<String>()
    };
    assert_eq!(template(&phone), "+99 (99) 99-99 99");

    let email = mask(&m, &rule("t", "e", MaskWith::Email), "jane.doe@corp.dk");
    assert!(
        email.ends_with("@example.com") && email.matches('@').count() == 1,
        "{email}"
    );
    assert!(content_looks_personal(&email) == Some("e-mail"));

    let hash = mask(&m, &rule("t", "h", MaskWith::Hash), "x");
    assert!(
        hash.len() == 32 && hash.bytes().all(|b| b.is_ascii_hexdigit()),
        "{hash}"
    );
    let narrow = Column {
        max_len: Some(10),
        ..col("t", "h")
    };
    let short = m
        .text(&rule("t", "h", MaskWith::Hash), &narrow, Some("x"))
        .unwrap()
        .unwrap();
    assert_eq!(short.len(), 10);

    let street = "Øster Allé 12B";
    let text = mask(&m, &rule("t", "s", MaskWith::Text), street);
    assert_eq!(text.chars().count(), street.chars().count());
    assert_ne!(text, street);
    assert_eq!(text.chars().nth(5), Some(' '));

    let name = mask(&m, &rule("t", "n", MaskWith::Name), "Nordisk Handel A/S");
    assert_eq!(
        name.split(' ').count(),
        3,
        "a company stays a company: {name}"
    );
    let person = mask(&m, &rule("t", "n", MaskWith::Name), "Jane Doe");
    assert_eq!(person.split(' ').count(), 2, "{person}");
}

#[test]
fn null_stays_null_and_null_fixed_and_dates_do_what_they_say() {
    let m = masker(5);
    for with in ALL {
        assert_eq!(
            m.text(&rule("t", "c", with), &col("t", "c"), None).unwrap(),
            None
        );
    }
    assert_eq!(
        m.text(&rule("t", "c", MaskWith::Null), &col("t", "c"), Some("x"))
            .unwrap(),
        None
    );
    let mut fixed = rule("t", "c", MaskWith::Fixed);
    fixed.value = Some("redacted".into());
    assert_eq!(mask(&m, &fixed, "secret"), "redacted");
    let narrow = Column {
        max_len: Some(3),
        ..col("t", "c")
    };
    assert!(matches!(
        m.text(&fixed, &narrow, Some("x")),
        Err(MaskError::DoesNotFit { .. })
    ));

    let mut shift = rule("t", "d", MaskWith::DateShift);
    shift.days = Some(30);
    let moved = mask(&m, &shift, "1980-05-17T10:00:00");
    assert!(
        moved.ends_with("T10:00:00") && !moved.starts_with("1980-05-17"),
        "{moved}"
    );
    let day = |s: &str| {
        time::Date::parse(
            &s[..10],
            time::macros::format_description!("[year]-[month]-[day]"),
        )
        .unwrap()
    };
    let by = (day(&moved) - day("1980-05-17")).whole_days().abs();
    assert!((1..=30).contains(&by), "{by}");
    // The binary form (PostgreSQL's day number) moves the same date the same way.
    let days = (day("1980-05-17") - day("2000-01-01")).whole_days() as i32;
    let shifted = m.date_days(&shift, days);
    assert_eq!(
        i64::from(shifted - days),
        (day(&moved) - day("1980-05-17")).whole_days()
    );
}

#[test]
fn unique_inputs_stay_unique() {
    let m = masker(6);
    for with in [
        MaskWith::Hash,
        MaskWith::Email,
        MaskWith::Phone,
        MaskWith::Name,
    ] {
        let r = rule("t", "k", with);
        let c = Column {
            unique: true,
            ..col("t", "k")
        };
        let mut guard = Unique::new("t", "k");
        let mut seen = HashSet::new();
        for i in 0..100_000 {
            let out = m
                .text(&r, &c, Some(&format!("+1 555 {i:07}")))
                .unwrap()
                .unwrap();
            guard.check(Some(out.as_bytes())).unwrap();
            assert!(seen.insert(out));
        }
    }
}

#[test]
fn a_collision_in_a_unique_column_is_an_error_naming_it() {
    let m = masker(7);
    let narrow = Column {
        max_len: Some(2),
        unique: true,
        ..col("cust_table", "code")
    };
    let mut guard = Unique::new("cust_table", "code");
    let r = rule("cust_table", "code", MaskWith::Hash);
    let err = (0..1000)
        .map(|i| m.text(&r, &narrow, Some(&i.to_string())).unwrap())
        .find_map(|out| guard.check(out.as_deref().map(str::as_bytes)).err())
        .expect("256 pseudonyms cannot hold 1000 values");
    assert!(err.to_string().contains("`cust_table.code`"), "{err}");
}

#[test]
fn the_key_never_shows() {
    let key = MaskKey::from_bytes(&[0xAB; 32]).unwrap();
    assert!(!format!("{key:?}").to_lowercase().contains("ab"));
    assert!(MaskKey::from_bytes(&[1; 5]).is_err());
}

/// What a masked value costs: `cargo test --release -p dataalm-mask -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement, not a check"]
fn cost_per_value() {
    let m = masker(9);
    for with in ALL {
        let r = rule("t", "c", with);
        let c = col("t", "c");
        let n = 200_000;
        let started = std::time::Instant::now();
        for i in 0..n {
            let value = format!("+45 {i:010} value@corp.dk");
            std::hint::black_box(m.text(&r, &c, Some(&value)).unwrap());
        }
        let ns = started.elapsed().as_nanos() / n as u128;
        println!("{with:?}: {ns} ns per value");
    }
}
