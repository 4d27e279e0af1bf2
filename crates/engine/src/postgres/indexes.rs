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
//!
//! A table's extended statistics objects are created here too, with their statistics
//! target: the `ANALYZE` that follows fills them, which it could not if `pg_restore`
//! created them afterwards. Their owners are given once the target's roles are known
//! ([`EarlyIndexes::give_owners`]).

use super::conn::sql_error;
use super::ddl::TargetRoles;
use crate::Result;
use dataalm_core::sql::quote_name;
use std::collections::{BTreeSet, HashMap, HashSet};
use tokio_postgres::Client;

/// pg_dump's listing names an object by its catalog's oid and its own.
pub(crate) type CatalogId = (u32, u32);

/// What is built early: statements per table, and the dump entries they replace.
#[derive(Default)]
pub(crate) struct EarlyIndexes {
    pub by_table: HashMap<String, Vec<String>>,
    pub entries: HashSet<CatalogId>,
    /// Statistics objects' owners: (table, quoted statistics name, owner).
    owners: Vec<(String, String, String)>,
}

impl EarlyIndexes {
    /// Adds the statements giving statistics objects their owners, for the owners
    /// dataalm's user may give objects to; returns the others.
    pub(crate) fn give_owners(&mut self, roles: &TargetRoles) -> BTreeSet<String> {
        let mut missing = BTreeSet::new();
        for (table, statistics, owner) in self.owners.drain(..) {
            if !roles.assumable.contains(&owner) {
                missing.insert(owner);
                continue;
            }
            let sql = format!(
                "ALTER STATISTICS {statistics} OWNER TO {}",
                quote_name(&owner)
            );
            self.by_table.entry(table).or_default().push(sql);
        }
        missing
    }
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
    read_statistics(client, user_tables, &mut early).await?;
    Ok(early)
}

/// `pg_statistic_ext`, whose oid pg_dump's listing names statistics objects by.
const STATISTIC_EXT: u32 = 3381;

/// The extended statistics objects of the tables, with their statistics targets
/// (`-1`, or null from PostgreSQL 17, is the default).
async fn read_statistics(
    client: &Client,
    user_tables: &str,
    early: &mut EarlyIndexes,
) -> Result<()> {
    let sql = format!(
        "SELECT format('%I.%I', n.nspname, c.relname), s.oid,
                pg_get_statisticsobjdef(s.oid),
                format('%I.%I', sn.nspname, s.stxname),
                pg_get_userbyid(s.stxowner)::text,
                coalesce(s.stxstattarget::integer, -1)
         FROM pg_statistic_ext s
         JOIN pg_namespace sn ON sn.oid = s.stxnamespace
         JOIN pg_class c ON c.oid = s.stxrelid
         JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE {user_tables} AND NOT c.relispartition
           AND NOT EXISTS (SELECT 1 FROM pg_depend d
                           WHERE d.classid = {STATISTIC_EXT} AND d.objid = s.oid
                             AND d.deptype = 'e')
         ORDER BY 1, 2"
    );
    let rows = client
        .query(&sql, &[])
        .await
        .map_err(|e| sql_error("read the source's extended statistics", &e))?;
    for row in rows {
        let (table, oid, definition): (String, u32, String) = (row.get(0), row.get(1), row.get(2));
        let (name, owner, target): (String, String, i32) = (row.get(3), row.get(4), row.get(5));
        let statements = early.by_table.entry(table.clone()).or_default();
        statements.push(definition);
        if target >= 0 {
            statements.push(format!("ALTER STATISTICS {name} SET STATISTICS {target}"));
        }
        early.owners.push((table, name, owner));
        early.entries.insert((STATISTIC_EXT, oid));
    }
    Ok(())
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
