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
pub(super) struct Table {
    pub(super) quoted: String,
    pub(super) name: String,
    pub(super) bytes: u64,
    pub(super) pages: u64,
    /// `(a, b, c)`: the columns COPY moves (generated ones are computed again).
    pub(super) columns: String,
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

pub(super) async fn read_tables(client: &Client, from: &End) -> Result<Vec<Table>> {
    let sql = format!(
        "SELECT format('%I.%I', n.nspname, c.relname), n.nspname || '.' || c.relname,
                pg_table_size(c.oid), pg_relation_size(c.oid)
                    / current_setting('block_size')::bigint,
                (SELECT coalesce(string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum), '')
                 FROM pg_attribute a
                 WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                   AND a.attgenerated = '')
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind = 'r' AND {USER_SCHEMA} AND {NOT_IN_EXTENSION}
         ORDER BY 3 DESC, 2"
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
        })
        .collect())
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
