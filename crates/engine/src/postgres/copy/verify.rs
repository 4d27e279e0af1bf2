//! `--verify`: every table of the snapshot against the staging copy, and [`compare`] for
//! any two databases.
//!
//! A table's rows are counted and their text hashed and summed, so the order rows are
//! stored in does not matter. Two things must not matter either, or a correct copy
//! fails: where pg_dump puts each column (it reorders inheritance children), so a
//! row's text is built from its columns sorted by name, read from each side's own
//! catalog; and how the server prints values (time zone, date, interval and float
//! styles...), so both sides print with the same [`PINNED_SETTINGS`].
//!
//! When a table differs, a second pass on that table alone streams both sides ordered
//! by primary key (or by the whole row without one) with a hash per column, and names
//! the first key only one side has, or the columns that differ under it.

use super::catalog::{Table, read_tables};
use super::lanes::Lane;
use super::{End, Ends, SNAPSHOT_SESSION};
use crate::{Error, Result, Side};
use dataalm_core::sql::quote_name;
use futures_util::{TryStreamExt, pin_mut};
use std::cmp::Ordering;
use std::collections::{BTreeSet, VecDeque};
use std::sync::Mutex;
use tokio_postgres::{Client, RowStream};

/// Settings that change how values print, the same on both sides. `search_path` too:
/// `reg*` values print schema-qualified or not depending on it. SQL below names
/// everything with `pg_catalog.`, so it does not depend on the path either.
pub(crate) const PINNED_SETTINGS: &str = "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, MDY'; \
     SET IntervalStyle = 'postgres'; SET extra_float_digits = 3; SET bytea_output = 'hex'; \
     SET lc_monetary = 'C'; SET search_path = ''";

/// The names of a table's columns (generated ones included: they must come out the
/// same), `$1` being its quoted qualified name.
pub(crate) const COLUMNS_SQL: &str = "SELECT a.attname::pg_catalog.text \
     FROM pg_catalog.pg_attribute a \
     WHERE a.attrelid = $1::pg_catalog.text::pg_catalog.regclass \
       AND a.attnum > 0 AND NOT a.attisdropped";

/// The columns of a table's primary key, in key order.
const PRIMARY_KEY_SQL: &str = "SELECT a.attname::pg_catalog.text \
     FROM pg_catalog.pg_index i JOIN pg_catalog.pg_attribute a \
       ON a.attrelid = i.indrelid AND a.attnum OPERATOR(pg_catalog.=) ANY (i.indkey) \
     WHERE i.indrelid = $1::pg_catalog.text::pg_catalog.regclass AND i.indisprimary \
     ORDER BY pg_catalog.array_position(i.indkey::pg_catalog.int2[], a.attnum)";

/// Column names as the catalog gives them, sorted by byte order: the same on every server.
pub(crate) fn sorted(mut names: Vec<String>) -> Vec<String> {
    names.sort();
    names
}

/// `ROW(t."a", t."b")`: the columns in the order given.
fn row_of(columns: &[String]) -> String {
    let list: Vec<String> = columns
        .iter()
        .map(|c| format!("t.{}", quote_name(c)))
        .collect();
    format!("ROW({})", list.join(", "))
}

/// Row count and an order-independent checksum of every row's text, the row made of
/// `columns` (sorted by name) rather than of the table's column order.
pub(crate) fn checksum_sql(quoted_table: &str, columns: &[String]) -> String {
    format!(
        "SELECT pg_catalog.count(*), COALESCE(pg_catalog.sum(pg_catalog.hashtextextended(\
         {}::pg_catalog.text, 0)::pg_catalog.numeric), 0)::pg_catalog.text \
         FROM ONLY {quoted_table} AS t",
        row_of(columns)
    )
}

/// Each row's key text (sorted bytewise, as Rust compares strings) and a hash of each
/// column, for the second pass.
fn rows_by_key_sql(quoted_table: &str, key: &[String], columns: &[String]) -> String {
    let hashes: String = columns
        .iter()
        .map(|c| {
            format!(
                ", pg_catalog.hashtextextended(t.{}::pg_catalog.text, 0)",
                quote_name(c)
            )
        })
        .collect();
    format!(
        "SELECT {}::pg_catalog.text COLLATE pg_catalog.\"C\"{hashes} \
         FROM ONLY {quoted_table} AS t ORDER BY 1",
        row_of(key)
    )
}

/// One side of the comparison: its client and its name for errors.
#[derive(Clone, Copy)]
struct Reader<'a> {
    client: &'a Client,
    end: &'a End,
}

impl Reader<'_> {
    async fn names(&self, sql: &str, table: &Table) -> Result<Vec<String>> {
        let rows = self
            .client
            .query(sql, &[&table.quoted])
            .await
            .map_err(|e| {
                self.end
                    .failed(format!("read the columns of {}", table.name), e)
            })?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    async fn checksum(&self, table: &Table, columns: &[String]) -> Result<(i64, String)> {
        let row = self
            .client
            .query_one(&checksum_sql(&table.quoted, columns), &[])
            .await
            .map_err(|e| self.end.failed(format!("checksum {}", table.name), e))?;
        Ok((row.get(0), row.get(1)))
    }

    async fn rows_by_key(
        &self,
        table: &Table,
        key: &[String],
        columns: &[String],
    ) -> Result<RowStream> {
        let sql = rows_by_key_sql(&table.quoted, key, columns);
        self.client
            .query_raw(
                &sql,
                std::iter::empty::<&(dyn tokio_postgres::types::ToSql + Sync)>(),
            )
            .await
            .map_err(|e| {
                self.end
                    .failed(format!("compare the rows of {}", table.name), e)
            })
    }
}

/// Compares every table of the snapshot with the staging copy, lanes in parallel.
pub(super) async fn verify(lanes: &mut [Lane], tables: &[Table], ends: Ends<'_>) -> Result<()> {
    for lane in lanes.iter() {
        let context = "pin the settings values print with";
        ends.from
            .exec(&lane.source, PINNED_SETTINGS, context)
            .await?;
        ends.to
            .exec(&lane.staging, PINNED_SETTINGS, context)
            .await?;
    }
    let queue = Mutex::new(tables.iter().collect::<VecDeque<_>>());
    futures_util::future::try_join_all(lanes.iter().map(|lane| async {
        let source = Reader {
            client: &lane.source,
            end: ends.from,
        };
        let copy = Reader {
            client: &lane.staging,
            end: ends.to,
        };
        loop {
            let next = queue.lock().ok().and_then(|mut q| q.pop_front());
            let Some(table) = next else {
                return Ok::<(), Error>(());
            };
            verify_table(source, copy, table).await?;
        }
    }))
    .await?;
    Ok(())
}

fn failed(table: &Table, difference: String) -> Error {
    Error::VerifyFailed {
        table: table.name.clone(),
        difference,
    }
}

async fn verify_table(source: Reader<'_>, copy: Reader<'_>, table: &Table) -> Result<()> {
    let (source_columns, copy_columns) = futures_util::try_join!(
        source.names(COLUMNS_SQL, table),
        copy.names(COLUMNS_SQL, table)
    )?;
    let columns = sorted(source_columns);
    let copy_columns = sorted(copy_columns);
    if columns != copy_columns {
        return Err(failed(table, column_difference(&columns, &copy_columns)));
    }
    let (source_sum, copy_sum) = futures_util::try_join!(
        source.checksum(table, &columns),
        copy.checksum(table, &columns)
    )?;
    if source_sum == copy_sum {
        return Ok(());
    }
    let key = source.names(PRIMARY_KEY_SQL, table).await?;
    let difference = match first_difference(source, copy, table, &key, &columns).await? {
        Some(difference) => difference,
        None => format!(
            "the source has {} rows (checksum {}), the copy {} rows (checksum {}), \
             yet no differing row was found when compared again",
            source_sum.0, source_sum.1, copy_sum.0, copy_sum.1
        ),
    };
    Err(failed(table, difference))
}

/// `columns a only in the source; b only in the copy`.
fn column_difference(source: &[String], copy: &[String]) -> String {
    let only = |these: &[String], others: &[String], side: &str| {
        let names: Vec<&str> = these
            .iter()
            .filter(|name| !others.contains(name))
            .map(String::as_str)
            .collect();
        (!names.is_empty()).then(|| format!("columns {} only in the {side}", names.join(", ")))
    };
    [only(source, copy, "source"), only(copy, source, "copy")]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join("; ")
}

/// A row of the second pass: its key text and one hash per column.
struct Keyed {
    key: String,
    hashes: Vec<Option<i64>>,
}

async fn next_row(
    stream: &mut std::pin::Pin<&mut RowStream>,
    side: Reader<'_>,
    table: &Table,
) -> Result<Option<Keyed>> {
    let row = stream.try_next().await.map_err(|e| {
        side.end
            .failed(format!("compare the rows of {}", table.name), e)
    })?;
    Ok(row.map(|row| Keyed {
        key: row.get(0),
        hashes: (1..row.len()).map(|i| row.get(i)).collect(),
    }))
}

/// Walks both sides in key order, one row of each at a time, and describes the first
/// difference: a key only one side has, or the columns that differ under a key.
/// Without a primary key the whole row is the key.
async fn first_difference(
    source: Reader<'_>,
    copy: Reader<'_>,
    table: &Table,
    key: &[String],
    columns: &[String],
) -> Result<Option<String>> {
    let key = if key.is_empty() { columns } else { key };
    let (left, right) = futures_util::try_join!(
        source.rows_by_key(table, key, columns),
        copy.rows_by_key(table, key, columns)
    )?;
    pin_mut!(left, right);
    let label = format!("row ({})=", key.join(", "));
    loop {
        let (a, b) = (
            next_row(&mut left, source, table).await?,
            next_row(&mut right, copy, table).await?,
        );
        match pair(a.as_ref(), b.as_ref(), &label, columns) {
            Pair::Same => {}
            Pair::End => return Ok(None),
            Pair::Differ(difference) => return Ok(Some(difference)),
        }
    }
}

/// What the next row of each side says, both streams being in the same key order.
enum Pair {
    Same,
    End,
    Differ(String),
}

fn pair(a: Option<&Keyed>, b: Option<&Keyed>, label: &str, columns: &[String]) -> Pair {
    let missing = |x: &Keyed| Pair::Differ(format!("{label}{} is missing from the copy", x.key));
    let extra = |y: &Keyed| Pair::Differ(format!("{label}{} is only in the copy", y.key));
    match (a, b) {
        (None, None) => Pair::End,
        (Some(x), None) => missing(x),
        (None, Some(y)) => extra(y),
        // Bytewise, as the server sorted them (`COLLATE "C"`).
        (Some(x), Some(y)) => match x.key.as_bytes().cmp(y.key.as_bytes()) {
            Ordering::Less => missing(x),
            Ordering::Greater => extra(y),
            Ordering::Equal => {
                let differing: Vec<&str> = columns
                    .iter()
                    .zip(x.hashes.iter().zip(&y.hashes))
                    .filter(|(_, (p, q))| p != q)
                    .map(|(name, _)| name.as_str())
                    .collect();
                if differing.is_empty() {
                    Pair::Same
                } else {
                    let names = differing.join(", ");
                    Pair::Differ(format!("{label}{} differs in columns {names}", x.key))
                }
            }
        },
    }
}

/// Compares two databases table by table as `--verify` does, each side read in one
/// repeatable-read transaction: `Ok` if every table has the same rows.
pub(crate) fn compare(source: &super::PgUrl, copy: &super::PgUrl) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Io {
            context: "start the comparison's runtime".into(),
            source: e,
        })?;
    runtime.block_on(async {
        let (from, to) = (End::new(Side::Source, source), End::new(Side::Target, copy));
        let mut lane = Lane {
            source: source.connect_async().await?,
            staging: copy.connect_async().await?,
        };
        from.exec(&lane.source, SNAPSHOT_SESSION, "open a snapshot")
            .await?;
        to.exec(&lane.staging, SNAPSHOT_SESSION, "open a snapshot")
            .await?;
        let (tables, copy_tables) = futures_util::try_join!(
            read_tables(&lane.source, &from),
            read_tables(&lane.staging, &to)
        )?;
        same_tables(&tables, &copy_tables)?;
        let ends = Ends {
            from: &from,
            to: &to,
        };
        verify(std::slice::from_mut(&mut lane), &tables, ends).await
    })
}

/// A table only one side has is a difference too.
fn same_tables(source: &[Table], copy: &[Table]) -> Result<()> {
    let names =
        |tables: &[Table]| -> BTreeSet<String> { tables.iter().map(|t| t.name.clone()).collect() };
    let (source_names, copy_names) = (names(source), names(copy));
    if let Some(name) = source_names.difference(&copy_names).next() {
        return Err(Error::VerifyFailed {
            table: name.clone(),
            difference: "the table is missing from the copy".into(),
        });
    }
    if let Some(name) = copy_names.difference(&source_names).next() {
        return Err(Error::VerifyFailed {
            table: name.clone(),
            difference: "the table is only in the copy".into(),
        });
    }
    Ok(())
}
