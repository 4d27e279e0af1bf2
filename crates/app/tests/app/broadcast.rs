use crate::fixture::{db, finance, rows};
use dataalm_app::Error;
use dataalm_app::broadcast;
use dataalm_core::Value;
use dataalm_engine::Database;
use time::macros::datetime;

#[test]
fn adds_lists_and_removes_messages() {
    let mut db = db();
    let profile = finance();
    let from = datetime!(2026-11-25 18:00 +01:00);
    let to = datetime!(2026-11-25 20:30:15.25 +01:00);
    let id = broadcast::add(&mut db, &profile, from, to, "Refresh tonight", "alice").unwrap();
    assert_eq!(id, Value::Int(1));
    let second = broadcast::add(
        &mut db,
        &profile,
        datetime!(2026-11-24 08:00 UTC),
        datetime!(2026-11-24 09:00 UTC),
        "x'); DROP TABLE sys_broadcast_message; --",
        "bob",
    )
    .unwrap();

    let messages = broadcast::list(&mut db, &profile).unwrap();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0].id, second, "earliest first");
    assert_eq!(messages[1].from, "2026-11-25T17:00:00Z");
    assert_eq!(messages[1].to, "2026-11-25T19:30:15Z");
    assert_eq!(messages[1].text, "Refresh tonight");
    assert_eq!(
        messages[0].text,
        "x'); DROP TABLE sys_broadcast_message; --"
    );

    broadcast::remove(&mut db, &profile, &id).unwrap();
    assert_eq!(broadcast::list(&mut db, &profile).unwrap().len(), 1);
    let err = broadcast::remove(&mut db, &profile, &id).unwrap_err();
    assert_eq!(err.to_string(), "no broadcast message with id 1");
}

#[test]
fn a_window_that_ends_before_it_starts_is_refused() {
    let mut db = db();
    let at = datetime!(2026-11-25 18:00 UTC);
    let err = broadcast::add(&mut db, &finance(), at, at, "x", "alice").unwrap_err();
    assert!(matches!(err, Error::BadDates { .. }));
    assert_eq!(
        err.to_string(),
        "the message must end after it starts: from 2026-11-25T18:00:00Z, to 2026-11-25T18:00:00Z"
    );
    assert_eq!(
        rows(&mut db, "SELECT COUNT(*) FROM sys_broadcast_message"),
        ["0"]
    );
}

#[test]
fn the_author_and_time_are_kept_when_the_table_has_columns_for_them() {
    let mut db = db();
    db.execute_batch(
        "ALTER TABLE sys_broadcast_message ADD COLUMN created_by TEXT;
         ALTER TABLE sys_broadcast_message ADD COLUMN created_at TEXT",
    )
    .unwrap();
    let from = datetime!(2026-11-25 18:00 UTC);
    let to = datetime!(2026-11-25 19:00 UTC);
    broadcast::add(&mut db, &finance(), from, to, "hello", "alice").unwrap();
    assert_eq!(
        rows(&mut db, "SELECT created_by FROM sys_broadcast_message"),
        ["alice"]
    );
    let created_at = rows(&mut db, "SELECT created_at FROM sys_broadcast_message");
    assert!(created_at[0].ends_with('Z'), "{created_at:?}");
}
