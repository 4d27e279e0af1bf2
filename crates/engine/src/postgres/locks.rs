//! Who holds a lock: turns a statement that gave up on a lock (SQLSTATE 55P03, after
//! `lock_timeout`) into an [`Error::Locked`] naming the sessions in the way.

use super::conn::PgUrl;
use crate::{Error, Result};

/// Sessions other than the asker holding a lock strong enough to block dataalm's
/// writes (anything above ROW EXCLUSIVE) on a table of this database, oldest first.
const HOLDERS: &str = "
    SELECT format('pid %s (application %s, user %s) since %s, holding %s on %s',
                  a.pid, coalesce(nullif(a.application_name, ''), 'unnamed'), a.usename,
                  to_char(coalesce(a.xact_start, a.state_change) AT TIME ZONE 'UTC',
                          'YYYY-MM-DD HH24:MI:SS') || ' UTC',
                  l.mode, l.relation::regclass::text)
    FROM pg_catalog.pg_locks l
    JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid
    WHERE l.granted AND l.locktype = 'relation' AND l.pid <> pg_backend_pid()
      AND l.database = (SELECT oid FROM pg_catalog.pg_database
                        WHERE datname = current_database())
      AND l.mode NOT IN ('AccessShareLock', 'RowShareLock', 'RowExclusiveLock')
    ORDER BY a.xact_start NULLS LAST, a.pid
    LIMIT 3";

/// Names the database and the lock's holders in an [`Error::Locked`]; any other
/// error passes unchanged.
pub fn name_holder(url: &PgUrl, error: Error) -> Error {
    match error {
        Error::Locked {
            waited_secs,
            source,
            ..
        } => Error::Locked {
            location: format!("the database {}", url.redacted()),
            holder: holders(url).unwrap_or_else(|e| {
                tracing::debug!("could not list the lock holders: {e}");
                "another session".into()
            }),
            waited_secs,
            source,
        },
        other => other,
    }
}

fn holders(url: &PgUrl) -> Result<String> {
    let mut client = url.connect()?;
    let rows = client
        .query(HOLDERS, &[])
        .map_err(|e| super::conn::sql_error("list the lock holders", &e))?;
    let found: Vec<String> = rows.iter().map(|row| row.get(0)).collect();
    if found.is_empty() {
        return Ok("another session (which has released it since)".into());
    }
    Ok(found.join("; "))
}
