//! `--verify`: every table of the snapshot against the staging copy.

use super::End;
use super::Ends;
use super::catalog::Table;
use super::lanes::Lane;
use crate::{Error, Result};
use std::collections::VecDeque;
use std::sync::Mutex;
use tokio_postgres::Client;

/// Row count and an order-independent checksum of every row's text.
pub(crate) fn checksum_sql(quoted_table: &str) -> String {
    format!(
        "SELECT count(*), coalesce(sum(hashtextextended(t::text, 0)::numeric), 0)::text \
         FROM ONLY {quoted_table} AS t"
    )
}

pub(super) async fn checksum(client: &Client, end: &End, table: &Table) -> Result<(i64, String)> {
    let row = client
        .query_one(&checksum_sql(&table.quoted), &[])
        .await
        .map_err(|e| end.failed(format!("checksum {}", table.name), e))?;
    Ok((row.get(0), row.get(1)))
}

/// Compares every table of the snapshot with the staging copy, lanes in parallel.
pub(super) async fn verify(lanes: &mut [Lane], tables: &[Table], ends: Ends<'_>) -> Result<()> {
    let queue = Mutex::new(tables.iter().collect::<VecDeque<_>>());
    futures_util::future::try_join_all(lanes.iter_mut().map(|lane| async {
        let lane = lane;
        loop {
            let next = queue.lock().ok().and_then(|mut q| q.pop_front());
            let Some(table) = next else {
                return Ok::<(), Error>(());
            };
            let (source, copy) = futures_util::try_join!(
                checksum(&lane.source, ends.from, table),
                checksum(&lane.staging, ends.to, table)
            )?;
            if source != copy {
                return Err(Error::Other(format!(
                    "verification failed for {}: the source has {} rows (checksum {}), \
                     the copy {} rows (checksum {})",
                    table.name, source.0, source.1, copy.0, copy.1
                )));
            }
        }
    }))
    .await?;
    Ok(())
}
