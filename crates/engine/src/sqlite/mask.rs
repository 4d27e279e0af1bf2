//! Masking a SQLite copy before it takes the staging name, so that a staging file only
//! ever exists masked.
//!
//! The copy (`<staging>.tmp`) is private and thrown away on any failure, so the masking
//! transaction keeps its rollback journal in memory: no journal file ever holds a raw
//! page. `secure_delete` zeroes what the updates free, and a `VACUUM` then rewrites the
//! file from its live rows, so neither free pages nor the slack of rewritten pages keep a
//! raw value of a masked column (nor any row the source had deleted).
//!
//! Per table, the pseudonyms are first computed into a temporary table (it holds only
//! masked values) and then written in one `UPDATE`. Unique masked columns are first set
//! to a placeholder of their own row, so a pseudonym can never meet, mid-update, another
//! row's raw value in the unique index.

use crate::sqlite::db::sql_error;
use crate::{Error, Result};
use dataalm_core::profile::MaskSpec;
use dataalm_core::progress::Progress;
use dataalm_core::sql::quote_ident;
use dataalm_mask::{Column, MaskSet, Masker, Unique};
use rusqlite::Connection;
use rusqlite::types::ValueRef;
use std::path::Path;

const SCRATCH: &str = "temp.dataalm_mask";

/// Masks the copy at `tmp` under `mask`; returns the values masked per `table.column`.
/// A cancel is seen between tables (the copy is private, so stopping leaves nothing).
pub(crate) fn mask_copy(
    tmp: &Path,
    mask: &MaskSet,
    progress: &dyn Progress,
) -> Result<Vec<(String, u64)>> {
    let conn = Connection::open(tmp).map_err(|e| sql_error("open the copy to mask it", e))?;
    conn.execute_batch(
        "PRAGMA secure_delete = ON; PRAGMA journal_mode = MEMORY; PRAGMA temp_store = MEMORY;",
    )
    .map_err(|e| sql_error("prepare the copy for masking", e))?;
    conn.execute_batch("BEGIN IMMEDIATE")
        .map_err(|e| sql_error("begin masking", e))?;
    let mut counts = Vec::new();
    for table in mask.tables() {
        crate::stop_if_cancelled(progress)?;
        let rules = mask.rules_of(table);
        let masked = mask_table(&conn, table, &rules, &mask.masker)?;
        for rule in rules {
            counts.push((format!("{}.{}", rule.table, rule.column), masked));
        }
    }
    conn.execute_batch("COMMIT; VACUUM; PRAGMA journal_mode = DELETE;")
        .map_err(|e| sql_error("commit and vacuum the masked copy", e))?;
    conn.close()
        .map_err(|(_, e)| sql_error("close the masked copy", e))?;
    Ok(counts)
}

/// Masks the `rules` columns of `table`; returns its rows.
fn mask_table(conn: &Connection, table: &str, rules: &[&MaskSpec], masker: &Masker) -> Result<u64> {
    let unique = unique_columns(conn, table)?;
    let cols: Vec<String> = rules.iter().map(|r| quote_ident(&r.column)).collect();
    let scratch_cols: Vec<String> = (0..rules.len()).map(|i| format!("v{i}")).collect();
    conn.execute_batch(&format!(
        "DROP TABLE IF EXISTS {SCRATCH}; CREATE TABLE {SCRATCH} (r INTEGER PRIMARY KEY, {})",
        scratch_cols.join(", ")
    ))
    .map_err(|e| sql_error("create the masking scratch table", e))?;
    let rows = fill_scratch(conn, table, rules, &cols, &unique, masker)?;

    let is_unique = |r: &&&MaskSpec| unique.iter().any(|u| u.eq_ignore_ascii_case(&r.column));
    let placeholders: Vec<String> = rules
        .iter()
        .filter(is_unique)
        .map(|r| format!("{} = char(1) || rowid", quote_ident(&r.column)))
        .collect();
    let quoted = quote_ident(table);
    if !placeholders.is_empty() {
        let sql = format!("UPDATE {quoted} SET {}", placeholders.join(", "));
        conn.execute(&sql, []).map_err(|e| sql_error(&sql, e))?;
    }
    let sets: Vec<String> = cols
        .iter()
        .zip(&scratch_cols)
        .map(|(c, v)| format!("{c} = (SELECT {v} FROM {SCRATCH} WHERE r = {quoted}.rowid)"))
        .collect();
    let sql = format!("UPDATE {quoted} SET {}", sets.join(", "));
    conn.execute(&sql, []).map_err(|e| sql_error(&sql, e))?;
    conn.execute_batch(&format!("DROP TABLE {SCRATCH}"))
        .map_err(|e| sql_error("drop the masking scratch table", e))?;
    Ok(rows)
}

/// Reads `table` row by row and writes each row's pseudonyms into the scratch table.
fn fill_scratch(
    conn: &Connection,
    table: &str,
    rules: &[&MaskSpec],
    cols: &[String],
    unique: &[String],
    masker: &Masker,
) -> Result<u64> {
    let read = format!(
        "SELECT rowid, {} FROM {}",
        cols.join(", "),
        quote_ident(table)
    );
    let marks: Vec<String> = (0..=rules.len()).map(|i| format!("?{}", i + 1)).collect();
    let write = format!("INSERT INTO {SCRATCH} VALUES ({})", marks.join(", "));
    let mut reader = conn.prepare(&read).map_err(|e| sql_error(&read, e))?;
    let mut writer = conn.prepare(&write).map_err(|e| sql_error(&write, e))?;
    let columns: Vec<Column> = rules
        .iter()
        .map(|r| Column {
            table: &r.table,
            column: &r.column,
            max_len: None,
            unique: unique.iter().any(|u| u.eq_ignore_ascii_case(&r.column)),
        })
        .collect();
    let mut guards: Vec<Option<Unique>> = rules
        .iter()
        .zip(&columns)
        .map(|(r, c)| {
            (c.unique && Masker::needs_unique_check(r)).then(|| Unique::new(&r.table, &r.column))
        })
        .collect();
    let mut rows = reader.query([]).map_err(|e| sql_error(&read, e))?;
    let mut count = 0u64;
    while let Some(row) = rows.next().map_err(|e| sql_error(&read, e))? {
        let rowid: i64 = row.get(0).map_err(|e| sql_error(&read, e))?;
        let mut values: Vec<rusqlite::types::Value> = vec![rowid.into()];
        for (i, rule) in rules.iter().enumerate() {
            let raw = row.get_ref(i + 1).map_err(|e| sql_error(&read, e))?;
            let masked = masker.text(rule, &columns[i], as_text(raw, rule)?.as_deref())?;
            if let Some(guard) = &mut guards[i] {
                guard.check(masked.as_deref().map(str::as_bytes))?;
            }
            values.push(masked.map_or(rusqlite::types::Value::Null, Into::into));
        }
        writer
            .execute(rusqlite::params_from_iter(values))
            .map_err(|e| sql_error(&write, e))?;
        count += 1;
    }
    Ok(count)
}

/// A stored value as the text the transformers take: numbers as written, NULL as none.
/// A blob in a masked column is refused rather than copied.
fn as_text(raw: ValueRef<'_>, rule: &MaskSpec) -> Result<Option<String>> {
    Ok(match raw {
        ValueRef::Null => None,
        ValueRef::Integer(i) => Some(i.to_string()),
        ValueRef::Real(r) => Some(r.to_string()),
        ValueRef::Text(t) => Some(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(_) => {
            return Err(Error::Other(format!(
                "masking `{}.{}`: a blob cannot be masked as text",
                rule.table, rule.column
            )));
        }
    })
}

/// Columns of `table` that are alone under a unique index or primary key. A column of a
/// composite key repeats by design; there a pseudonym collision shows as the index's
/// own error, never silently.
fn unique_columns(conn: &Connection, table: &str) -> Result<Vec<String>> {
    let sql = "SELECT min(ii.name) FROM pragma_index_list(?1) il \
               JOIN pragma_index_info(il.name) ii WHERE il.\"unique\" = 1 \
               GROUP BY il.name HAVING count(*) = 1 \
               UNION SELECT min(name) FROM pragma_table_info(?1) WHERE pk > 0 HAVING count(*) = 1";
    let mut stmt = conn.prepare(sql).map_err(|e| sql_error(sql, e))?;
    let names = stmt
        .query_map([table], |r| r.get::<_, Option<String>>(0))
        .map_err(|e| sql_error(sql, e))?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(|e| sql_error(sql, e))?;
    Ok(names.into_iter().flatten().collect())
}
