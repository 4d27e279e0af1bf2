//! Environment-specific rows: CaptureTarget reads every `[[keep]]` table of the target
//! before the copy, RestoreTarget writes those rows back into the copy.

use crate::sql::{self, transaction};
use crate::{Error, Result};
use dataalm_core::op::CapturedTable;
use dataalm_core::schema::Schema;
use dataalm_core::sql::quote_ident;
use dataalm_core::{Profile, Value};
use dataalm_engine::Database;

/// Every row and column of each table the profile keeps, in the profile's order.
pub fn capture(db: &mut dyn Database, profile: &Profile) -> Result<Vec<CapturedTable>> {
    let schema = db.schema()?;
    let mut captured = Vec::with_capacity(profile.keep.len());
    for keep in &profile.keep {
        if !schema.has_table(&keep.table) {
            return Err(Error::MissingTable {
                table: keep.table.clone(),
            });
        }
        let rows = db.query(&format!("SELECT * FROM {}", quote_ident(&keep.table)), &[])?;
        captured.push(CapturedTable {
            table: keep.table.clone(),
            columns: rows.columns,
            rows: rows.rows,
        });
    }
    Ok(captured)
}

/// Replaces the rows of each captured table with the captured ones, in one transaction.
/// Only the columns that still exist in the table are written (a column added since is
/// left to its default). Returns the number of rows written.
pub fn restore(
    db: &mut dyn Database,
    profile: &Profile,
    captured: &[CapturedTable],
) -> Result<u64> {
    check_kept(profile, captured)?;
    transaction(db, |db| {
        let schema = db.schema()?;
        let mut plans = Vec::with_capacity(captured.len());
        for table in captured {
            plans.push(columns_to_write(&schema, table)?);
        }
        let mut written = 0;
        for (table, columns) in captured.iter().zip(plans) {
            written += replace_rows(db, table, &columns)?;
        }
        Ok(written)
    })
}

/// Refuses tables the profile does not keep: a journal names only those.
fn check_kept(profile: &Profile, captured: &[CapturedTable]) -> Result<()> {
    let foreign: Vec<String> = captured
        .iter()
        .filter(|c| {
            !profile
                .keep
                .iter()
                .any(|k| k.table.eq_ignore_ascii_case(&c.table))
        })
        .map(|c| c.table.clone())
        .collect();
    if foreign.is_empty() {
        return Ok(());
    }
    Err(Error::NotKept {
        profile: profile.name.clone(),
        tables: foreign,
    })
}

/// Positions and names of the captured columns the database table has.
fn columns_to_write(schema: &Schema, table: &CapturedTable) -> Result<Vec<(usize, String)>> {
    if !schema.has_table(&table.table) {
        return Err(Error::MissingTable {
            table: table.table.clone(),
        });
    }
    let columns: Vec<(usize, String)> = table
        .columns
        .iter()
        .enumerate()
        .filter(|(_, c)| schema.has_column(&table.table, c))
        .map(|(i, c)| (i, c.clone()))
        .collect();
    if columns.is_empty() && !table.rows.is_empty() {
        return Err(Error::NoCommonColumns {
            table: table.table.clone(),
        });
    }
    Ok(columns)
}

fn replace_rows(
    db: &mut dyn Database,
    table: &CapturedTable,
    columns: &[(usize, String)],
) -> Result<u64> {
    db.execute(&format!("DELETE FROM {}", quote_ident(&table.table)), &[])?;
    let names: Vec<&str> = columns.iter().map(|(_, c)| c.as_str()).collect();
    let mut written = 0;
    for row in &table.rows {
        let values: Vec<Value> = columns
            .iter()
            .map(|(i, _)| row.get(*i).cloned().unwrap_or(Value::Null))
            .collect();
        written += sql::insert(db, &table.table, &names, &values)?;
    }
    Ok(written)
}
