//! What the source holds, read from its catalog under the snapshot: the database's
//! settings, the tables to copy, sequences, large objects, materialized views.

use super::super::database::DatabaseFacts;
use super::super::indexes::{self, EarlyIndexes};
use super::End;
use crate::Result;
use tokio_postgres::Client;

/// What the snapshot holds that the copy needs to know.
pub(super) struct SourceFacts {
    pub(super) database: DatabaseFacts,
    pub(super) tables: Vec<Table>,
    pub(super) sequences: Vec<String>,
    pub(super) large_objects: Vec<u32>,
    pub(super) materialized_views: Vec<String>,
    pub(super) partitioned: Vec<String>,
    pub(super) early_indexes: EarlyIndexes,
}

/// A table to copy: quoted qualified name, name for people, size, columns to copy.
#[derive(Clone)]
pub(super) struct Table {
    pub(super) quoted: String,
    pub(super) name: String,
    pub(super) bytes: u64,
    pub(super) pages: u64,
    /// `(a, b, c)`: the columns COPY moves (generated ones are computed again).
    pub(super) columns: String,
    /// Why the table goes in text format (`None`: binary, the fast and usual path).
    pub(super) text_because: Option<String>,
}

/// Objects of extensions are made by `CREATE EXTENSION`, not copied.
pub(super) const NOT_IN_EXTENSION: &str = "NOT EXISTS (SELECT 1 FROM pg_depend d
     WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')";
pub(crate) const USER_SCHEMA: &str =
    "n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'";

impl SourceFacts {
    pub(super) async fn read(client: &Client, from: &End) -> Result<SourceFacts> {
        let database = DatabaseFacts::read(client)
            .await
            .map_err(|e| from.failed("read the source database's encoding and locale", e))?;
        Ok(SourceFacts {
            database,
            tables: read_tables(client, from).await?,
            sequences: relations(client, from, "c.relkind = 'S'").await?,
            partitioned: relations(client, from, "c.relkind = 'p'").await?,
            early_indexes: indexes::read(
                client,
                &format!("c.relkind = 'r' AND {USER_SCHEMA} AND {NOT_IN_EXTENSION}"),
            )
            .await
            .map_err(|e| from.named(e))?,
            large_objects: large_objects(client, from).await?,
            materialized_views: relations(client, from, "c.relkind = 'm' AND c.relispopulated")
                .await?,
        })
    }
}

/// Per column of the tables to copy, every type its values are made of: through
/// array elements, domains' base types, range subtypes (multiranges too) and
/// composite attributes. The multirange link is read through `to_jsonb` because
/// `pg_range.rngmultitypid` only exists from PostgreSQL 14 on.
fn reached_types() -> String {
    format!(
        "reach(attrelid, attnum, typid) AS (
        SELECT a.attrelid, a.attnum, a.atttypid
        FROM pg_catalog.pg_attribute a
        JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind = 'r' AND {USER_SCHEMA} AND {NOT_IN_EXTENSION}
          AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
      UNION
        SELECT r.attrelid, r.attnum, inner_type.typid
        FROM reach r
        JOIN pg_catalog.pg_type t ON t.oid = r.typid
        CROSS JOIN LATERAL (
            SELECT t.typelem WHERE t.typelem <> 0
            UNION ALL SELECT t.typbasetype WHERE t.typbasetype <> 0
            UNION ALL SELECT rg.rngsubtype FROM pg_catalog.pg_range rg
                WHERE rg.rngtypid = t.oid
                   OR (pg_catalog.to_jsonb(rg) ->> 'rngmultitypid')::oid = t.oid
            UNION ALL SELECT ca.atttypid FROM pg_catalog.pg_attribute ca
                WHERE t.typrelid <> 0 AND ca.attrelid = t.typrelid
                  AND ca.attnum > 0 AND NOT ca.attisdropped
        ) AS inner_type(typid)
    )"
    )
}

/// The columns binary COPY cannot carry faithfully, with the reason, per table:
/// - `reg*` types travel as raw oids in binary, which mean nothing on another
///   cluster; their text is the object's name;
/// - a type without send/receive functions has no binary form at all.
const TEXT_COLUMNS: &str = "needs_text AS (
        SELECT DISTINCT ON (r.attrelid, r.attnum) r.attrelid, r.attnum,
               pg_catalog.format('column %I: %s %s', a.attname,
                   pg_catalog.format_type(t.oid, NULL),
                   CASE WHEN t.typsend = 0 OR t.typreceive = 0 THEN 'has no binary form'
                        ELSE 'is copied by name' END) AS why
        FROM reach r
        JOIN pg_catalog.pg_type t ON t.oid = r.typid
        JOIN pg_catalog.pg_attribute a ON a.attrelid = r.attrelid AND a.attnum = r.attnum
        WHERE t.typsend = 0 OR t.typreceive = 0
           OR (t.typnamespace = 'pg_catalog'::pg_catalog.regnamespace
               AND t.typname IN ('regclass', 'regtype', 'regproc', 'regprocedure',
                                 'regoper', 'regoperator', 'regconfig', 'regdictionary',
                                 'regnamespace', 'regrole', 'regcollation'))
        ORDER BY r.attrelid, r.attnum, (t.typsend = 0 OR t.typreceive = 0) DESC
    ),
    text_tables AS (
        SELECT attrelid,
               (pg_catalog.array_agg(why ORDER BY attnum))[1]
                   || CASE WHEN count(*) > 1
                           THEN pg_catalog.format(' (and %s more columns)', count(*) - 1)
                           ELSE '' END AS why
        FROM needs_text GROUP BY attrelid
    )";

pub(super) async fn read_tables(client: &Client, from: &End) -> Result<Vec<Table>> {
    let sql = format!(
        "WITH RECURSIVE {}, {TEXT_COLUMNS}
         SELECT format('%I.%I', n.nspname, c.relname), n.nspname || '.' || c.relname,
                pg_table_size(c.oid), pg_relation_size(c.oid)
                    / current_setting('block_size')::bigint,
                (SELECT coalesce(string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum), '')
                 FROM pg_attribute a
                 WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                   AND a.attgenerated = ''),
                tt.why
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         LEFT JOIN text_tables tt ON tt.attrelid = c.oid
         WHERE c.relkind = 'r' AND {USER_SCHEMA} AND {NOT_IN_EXTENSION}
         ORDER BY 3 DESC, 2",
        reached_types()
    );
    let rows = client
        .query(&sql, &[])
        .await
        .map_err(|e| from.failed("list the source's tables", e))?;
    Ok(rows
        .iter()
        .map(|row| Table {
            quoted: row.get(0),
            name: row.get(1),
            bytes: u64::try_from(row.get::<_, i64>(2)).unwrap_or(0),
            pages: u64::try_from(row.get::<_, i64>(3)).unwrap_or(0),
            columns: row.get(4),
            text_because: row.get(5),
        })
        .collect())
}

/// How many text tables the copy's summary names; the rest are counted.
const TEXT_TABLES_NAMED: usize = 5;

/// For the copy's summary: which tables went in text format and why, if any.
pub(super) fn text_tables(tables: &[Table]) -> String {
    let text: Vec<String> = tables
        .iter()
        .filter_map(|t| {
            t.text_because
                .as_ref()
                .map(|why| format!("{} ({why})", t.name))
        })
        .collect();
    if text.is_empty() {
        return String::new();
    }
    let more = text.len().saturating_sub(TEXT_TABLES_NAMED);
    let named: Vec<&str> = text
        .iter()
        .take(TEXT_TABLES_NAMED)
        .map(String::as_str)
        .collect();
    let named = named.join(", ");
    let tail = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    format!("; text COPY for {} table(s): {named}{tail}", text.len())
}

/// Quoted names of the user's relations that meet `condition` (on `pg_class c`), in
/// creation order, so that one built on another comes after it.
pub(super) async fn relations(client: &Client, from: &End, condition: &str) -> Result<Vec<String>> {
    let sql = format!(
        "SELECT format('%I.%I', n.nspname, c.relname)
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE {condition} AND {USER_SCHEMA} AND {NOT_IN_EXTENSION}
         ORDER BY c.oid"
    );
    let rows = client
        .query(&sql, &[])
        .await
        .map_err(|e| from.failed("list the source's relations", e))?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

pub(super) async fn large_objects(client: &Client, from: &End) -> Result<Vec<u32>> {
    let rows = client
        .query("SELECT oid FROM pg_largeobject_metadata ORDER BY oid", &[])
        .await
        .map_err(|e| from.failed("list the source's large objects", e))?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(name: &str, text_because: Option<&str>) -> Table {
        Table {
            quoted: name.to_owned(),
            name: name.to_owned(),
            bytes: 0,
            pages: 0,
            columns: String::new(),
            text_because: text_because.map(str::to_owned),
        }
    }

    #[test]
    fn the_summary_names_a_handful_of_text_tables_and_counts_the_rest() {
        assert_eq!(text_tables(&[table("public.a", None)]), "");
        let mut tables: Vec<Table> = (0..7)
            .map(|i| {
                table(
                    &format!("public.t{i}"),
                    Some("column r: regclass is copied by name"),
                )
            })
            .collect();
        tables.push(table("public.plain", None));
        let summary = text_tables(&tables);
        assert!(
            summary.starts_with(
                "; text COPY for 7 table(s): public.t0 (column r: regclass is copied by name), "
            ),
            "{summary}"
        );
        assert!(summary.contains("public.t4 ("), "{summary}");
        assert!(!summary.contains("public.t5"), "{summary}");
        assert!(!summary.contains("plain"), "{summary}");
        assert!(summary.ends_with(" and 2 more"), "{summary}");
    }
}
