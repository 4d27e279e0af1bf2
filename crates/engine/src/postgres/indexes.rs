//! Indexes built as soon as their table is loaded.
//!
//! Building a table's indexes right after its rows are in overlaps that work with the
//! copying of other tables, as does gathering its statistics; both would otherwise wait
//! for the last row of the last table. The plain cases are taken here: a table's own
//! indexes and primary key, unique and exclusion constraints, read from the source's
//! catalog under the snapshot. Everything else (foreign keys, partitioned indexes,
//! clustered indexes, indexes in other tablespaces or with column statistics targets,
//! triggers, rules...) stays with `pg_restore`, which gets a listing without the
//! entries taken here.

use super::conn::sql_error;
use crate::Result;
use std::collections::{HashMap, HashSet};
use tokio_postgres::Client;

/// pg_dump's listing names an object by its catalog's oid and its own.
pub(crate) type CatalogId = (u32, u32);

/// What is built early: statements per table, and the dump entries they replace.
#[derive(Default)]
pub(crate) struct EarlyIndexes {
    pub by_table: HashMap<String, Vec<String>>,
    pub entries: HashSet<CatalogId>,
}

pub(crate) async fn read(client: &Client, user_tables: &str) -> Result<EarlyIndexes> {
    let sql = format!(
        "SELECT format('%I.%I', n.nspname, c.relname),
                CASE WHEN con.oid IS NULL THEN 'pg_class'::regclass::oid
                     ELSE 'pg_constraint'::regclass::oid END,
                coalesce(con.oid, i.indexrelid),
                CASE WHEN con.oid IS NULL THEN pg_get_indexdef(i.indexrelid)
                     ELSE format('ALTER TABLE ONLY %I.%I ADD CONSTRAINT %I %s',
                                 n.nspname, c.relname, con.conname,
                                 pg_get_constraintdef(con.oid)) END
         FROM pg_index i
         JOIN pg_class c ON c.oid = i.indrelid
         JOIN pg_namespace n ON n.oid = c.relnamespace
         JOIN pg_class ic ON ic.oid = i.indexrelid
         LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid
              AND con.conrelid = i.indrelid AND con.contype IN ('p', 'u', 'x')
         WHERE {user_tables} AND NOT c.relispartition
           AND i.indisvalid AND NOT i.indisclustered
           AND ic.reltablespace = 0 AND NOT ic.relispartition
           AND NOT EXISTS (SELECT 1 FROM pg_attribute a
                           WHERE a.attrelid = i.indexrelid AND a.attstattarget > 0)
         ORDER BY 1, 3"
    );
    let rows = client
        .query(&sql, &[])
        .await
        .map_err(|e| sql_error("read the source's indexes", &e))?;
    let mut early = EarlyIndexes::default();
    for row in rows {
        let (table, catalog, oid, statement): (String, u32, u32, String) =
            (row.get(0), row.get(1), row.get(2), row.get(3));
        early.by_table.entry(table).or_default().push(statement);
        early.entries.insert((catalog, oid));
    }
    Ok(early)
}

/// The catalog id of a `pg_restore --list` line (`12; 1259 16386 INDEX ...`).
pub(crate) fn listing_id(line: &str) -> Option<CatalogId> {
    let (_, rest) = line.split_once("; ")?;
    let mut words = rest.split_whitespace();
    Some((words.next()?.parse().ok()?, words.next()?.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_lines_name_their_object() {
        assert_eq!(
            listing_id("3311; 2606 16420 CONSTRAINT public t t_pkey app"),
            Some((2606, 16420))
        );
        assert_eq!(listing_id("; comment"), None);
    }
}
