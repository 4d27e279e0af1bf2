//! What is copied besides table rows: sequences, large objects, and materialized
//! views (refreshed, not copied).

use super::End;
use crate::Result;
use dataalm_core::sql::quote_literal;
use tokio_postgres::Client;

/// Large objects travel in pieces of this size.
const LO_PIECE: i32 = 1 << 20;

/// Sequences are not transactional: their values are read as they are now, which is
/// at or after the snapshot, so no copied row can ever collide with a new number.
pub(super) async fn copy_sequences(
    (source, from): (&Client, &End),
    (staging, to): (&Client, &End),
    sequences: &[String],
) -> Result<()> {
    for sequence in sequences {
        let context = format!("copy sequence {sequence}");
        let row = source
            .query_one(
                &format!("SELECT last_value, is_called FROM {sequence}"),
                &[],
            )
            .await
            .map_err(|e| from.failed(&context, e))?;
        let (value, called): (i64, bool) = (row.get(0), row.get(1));
        let sql = format!(
            "SELECT pg_catalog.setval({}, {value}, {called})",
            quote_literal(sequence)
        );
        to.exec(staging, &sql, &context).await?;
    }
    Ok(())
}

/// Large objects keep their oids (tables refer to them by oid) and travel in pieces,
/// so memory does not grow with their size.
pub(super) async fn copy_large_objects(
    (source, from): (&Client, &End),
    (staging, to): (&Client, &End),
    oids: &[u32],
) -> Result<()> {
    for &oid in oids {
        let context = format!("copy large object {oid}");
        staging
            .execute("SELECT lo_create($1)", &[&oid])
            .await
            .map_err(|e| to.failed(&context, e))?;
        let mut offset: i64 = 0;
        loop {
            let row = source
                .query_one("SELECT lo_get($1, $2, $3)", &[&oid, &offset, &LO_PIECE])
                .await
                .map_err(|e| from.failed(&context, e))?;
            let piece: Vec<u8> = row.get(0);
            if piece.is_empty() {
                break;
            }
            staging
                .execute("SELECT lo_put($1, $2, $3)", &[&oid, &offset, &piece])
                .await
                .map_err(|e| to.failed(&context, e))?;
            offset += piece.len() as i64;
        }
    }
    Ok(())
}

/// In creation order, so a view built on another is refreshed after it.
pub(super) async fn refresh_materialized_views(
    staging: &Client,
    to: &End,
    views: &[String],
) -> Result<()> {
    for view in views {
        let sql = format!("REFRESH MATERIALIZED VIEW {view}");
        to.exec(staging, &sql, &format!("refresh {view}")).await?;
    }
    Ok(())
}
