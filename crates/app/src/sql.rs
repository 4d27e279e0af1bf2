//! Small helpers every module uses: transactions that carry this crate's errors, and
//! statements built from quoted identifiers and numbered parameters.

use crate::Result;
use dataalm_core::Value;
use dataalm_core::sql::quote_ident;
use dataalm_engine::Database;

/// Runs `f` in a transaction with this crate's errors (see [`dataalm_engine::in_transaction`]).
pub(crate) fn transaction<T>(
    db: &mut dyn Database,
    f: impl FnOnce(&mut dyn Database) -> Result<T>,
) -> Result<T> {
    dataalm_engine::in_transaction(db, f)
}

/// `"a", "b"` for a list of column names.
pub(crate) fn idents<S: AsRef<str>>(names: &[S]) -> String {
    names
        .iter()
        .map(|n| quote_ident(n.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `SELECT "c1", "c2" FROM "t"`.
pub(crate) fn select<S: AsRef<str>>(table: &str, columns: &[S]) -> String {
    format!("SELECT {} FROM {}", idents(columns), quote_ident(table))
}

/// `SELECT "a", "b" FROM "t" ORDER BY "key"`.
pub(crate) fn select_ordered<S: AsRef<str>>(table: &str, columns: &[S], key: &str) -> String {
    format!("{} ORDER BY {}", select(table, columns), quote_ident(key))
}

/// `UPDATE "t" SET "c" = <p1> WHERE "k" = <p2>`, run with `value` and `key`.
pub(crate) fn update_one(
    db: &mut dyn Database,
    table: &str,
    column: &str,
    value: &Value,
    key_column: &str,
    key: &Value,
) -> Result<u64> {
    let dialect = db.dialect();
    let sql = format!(
        "UPDATE {} SET {} = {} WHERE {} = {}",
        quote_ident(table),
        quote_ident(column),
        dialect.param(1),
        quote_ident(key_column),
        dialect.param(2)
    );
    Ok(db.execute(&sql, &[value.clone(), key.clone()])?)
}

/// Inserts one row with parameters, inside whatever transaction is open (unlike
/// [`Database::insert_rows`], which opens its own).
pub(crate) fn insert(
    db: &mut dyn Database,
    table: &str,
    columns: &[&str],
    values: &[Value],
) -> Result<u64> {
    let sql = format!(
        "INSERT INTO {} ({}) VALUES ({})",
        quote_ident(table),
        idents(columns),
        db.dialect().params(1, columns.len())
    );
    Ok(db.execute(&sql, values)?)
}

/// A value as users read it: NULL is empty.
pub(crate) fn text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A value as text, `None` for NULL.
pub(crate) fn opt_text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        other => Some(other.to_string()),
    }
}
