//! Broadcast messages: shown to the users signed in to the application between two times,
//! as Announce does before a refresh.
//!
//! Times are stored as RFC 3339 text in UTC (`2026-11-25T22:15:03Z`), which sorts and
//! compares as time does.

use crate::sql;
use crate::{Error, Result, section};
use dataalm_core::sql::quote_ident;
use dataalm_core::{Profile, Rows, Value, when};
use dataalm_engine::Database;
use time::OffsetDateTime;

/// The columns that record who added a message and when, written when the table has them.
/// The profile has no setting for them yet.
const CREATED_BY: &str = "created_by";
const CREATED_AT: &str = "created_at";

/// One broadcast message, its times as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub id: Value,
    pub from: String,
    pub to: String,
    pub text: String,
}

/// Adds a message shown from `from` until `to`; returns the id the database gave it.
/// `created_by` (and the time now, as `created_at`) are stored when the table has such
/// columns.
pub fn add(
    db: &mut dyn Database,
    profile: &Profile,
    from: OffsetDateTime,
    to: OffsetDateTime,
    text: &str,
    created_by: &str,
) -> Result<Value> {
    let spec = section(profile, &profile.broadcast, "broadcast")?;
    if to <= from {
        return Err(Error::BadDates {
            from: when::format(from),
            to: when::format(to),
        });
    }
    let mut columns = vec![spec.from.as_str(), spec.to.as_str(), spec.text.as_str()];
    let mut values = vec![
        Value::Text(when::format(from)),
        Value::Text(when::format(to)),
        Value::from(text),
    ];
    let existing = table_columns(db, &spec.table)?;
    if existing.column(CREATED_BY).is_some() {
        columns.push(CREATED_BY);
        values.push(Value::from(created_by));
    }
    if existing.column(CREATED_AT).is_some() {
        columns.push(CREATED_AT);
        values.push(Value::Text(when::format(when::now())));
    }
    Ok(db.insert_returning(&spec.table, &columns, &values, &spec.id)?)
}

/// Removes a message; an id that names none is an error.
pub fn remove(db: &mut dyn Database, profile: &Profile, id: &Value) -> Result<()> {
    let spec = section(profile, &profile.broadcast, "broadcast")?;
    let query = format!(
        "DELETE FROM {} WHERE {} = {}",
        quote_ident(&spec.table),
        quote_ident(&spec.id),
        db.dialect().param(1)
    );
    match db.execute(&query, std::slice::from_ref(id))? {
        0 => Err(Error::UnknownMessage(id.to_string())),
        _ => Ok(()),
    }
}

/// Every message, earliest start first.
pub fn list(db: &mut dyn Database, profile: &Profile) -> Result<Vec<Message>> {
    let spec = section(profile, &profile.broadcast, "broadcast")?;
    let query = format!(
        "{} ORDER BY {}, {}",
        sql::select(&spec.table, &[&spec.id, &spec.from, &spec.to, &spec.text]),
        quote_ident(&spec.from),
        quote_ident(&spec.id)
    );
    let rows = db.query(&query, &[])?;
    Ok(rows.rows.into_iter().map(message).collect())
}

fn message(row: Vec<Value>) -> Message {
    let mut cells = row.into_iter();
    let mut next = || cells.next().unwrap_or(Value::Null);
    Message {
        id: next(),
        from: sql::text(&next()),
        to: sql::text(&next()),
        text: sql::text(&next()),
    }
}

/// The columns of `table`, from an empty result (cheap on any engine).
fn table_columns(db: &mut dyn Database, table: &str) -> Result<Rows> {
    let query = format!("SELECT * FROM {} WHERE 1 = 0", quote_ident(table));
    Ok(db.query(&query, &[])?)
}
