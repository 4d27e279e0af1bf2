//! Cutover and rollback on PostgreSQL: database renames on the target server.
//!
//! The swap is one transaction on the maintenance connection:
//! `ALTER DATABASE target RENAME TO previous; ALTER DATABASE staging RENAME TO target`.
//! PostgreSQL renames are transactional, so a crash leaves the target fully old or
//! fully new, and calling cutover again finishes the job. Renames need the databases
//! free of sessions, so the target first stops taking connections and its sessions are
//! ended; the downtime is that plus the commit, whatever the size of the data.

use super::conn::{PgUrl, sql_error};
use super::database::{DatabaseSetting, SETTINGS_SQL};
use super::maintenance::{self, exists};
use super::names;
use crate::{Error, LOCK_TIMEOUT, Result};
use dataalm_core::sql::quote_name;
use std::time::{Duration, Instant};

pub(crate) fn cutover(target: &PgUrl, staging: &PgUrl, previous: &PgUrl) -> Result<Duration> {
    let mut server = maintenance::connect(target)?;
    let (target, staging, previous) = (target.dbname(), staging.dbname(), previous.dbname());
    let has_staging = exists(&mut server, staging)?;
    let has_previous = exists(&mut server, previous)?;
    if !has_staging && has_previous && exists(&mut server, target)? {
        // An earlier call got through the swap.
        return Ok(Duration::ZERO);
    }
    if !has_staging {
        return Err(Error::Other(format!(
            "the staging copy `{staging}` is missing: roll back and start again"
        )));
    }
    if has_previous {
        return Err(Error::Other(format!(
            "`{previous}` already exists beside the target; drop it or roll back first"
        )));
    }
    take_owner(&mut server, staging, target)?;
    take_grants(&mut server, staging, target)?;
    take_settings(&mut server, staging, target)?;
    let started = Instant::now();
    swap(
        &mut server,
        &[(target, previous), (staging, target)],
        &[target, staging],
    )?;
    Ok(started.elapsed())
}

pub(crate) fn swap_back(target: &PgUrl, previous: &PgUrl) -> Result<()> {
    let mut server = maintenance::connect(target)?;
    let (target, previous) = (target.dbname(), previous.dbname());
    if !exists(&mut server, previous)? {
        return Ok(());
    }
    let discarded = names::discarded(previous);
    maintenance::drop_database(&mut server, &discarded)?;
    if exists(&mut server, target)? {
        swap(
            &mut server,
            &[(target, &discarded), (previous, target)],
            &[target],
        )?;
    } else {
        swap(&mut server, &[(previous, target)], &[])?;
    }
    maintenance::drop_database(&mut server, &discarded)
}

/// The copy was created by dataalm's user; it takes the owner the target had.
fn take_owner(server: &mut postgres::Client, staging: &str, target: &str) -> Result<()> {
    let row = server
        .query_one(
            "SELECT pg_get_userbyid(datdba)::text FROM pg_database WHERE datname = $1",
            &[&target],
        )
        .map_err(|e| sql_error(format!("read the owner of {target}"), &e))?;
    let owner: String = row.get(0);
    let sql = format!(
        "ALTER DATABASE {} OWNER TO {}",
        quote_name(staging),
        quote_name(&owner)
    );
    server
        .batch_execute(&sql)
        .map_err(|e| sql_error(format!("give the copy to {owner}"), &e))
}

/// The copy gets the target's database privileges (who may connect), which belong to
/// the environment, not to the data.
fn take_grants(server: &mut postgres::Client, staging: &str, target: &str) -> Result<()> {
    let context = format!("give the copy the privileges of {target}");
    let rows = server
        .query(
            "SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC'
                         ELSE quote_ident(pg_get_userbyid(a.grantee)) END,
                    a.privilege_type, a.is_grantable
             FROM pg_database d, aclexplode(d.datacl) a
             WHERE d.datname = $1",
            &[&target],
        )
        .map_err(|e| sql_error(&context, &e))?;
    if rows.is_empty() {
        // Default privileges, which the new database has too.
        return Ok(());
    }
    let database = quote_name(staging);
    let mut sql = format!("REVOKE ALL ON DATABASE {database} FROM PUBLIC;");
    for row in rows {
        let (grantee, privilege, grantable): (String, String, bool) =
            (row.get(0), row.get(1), row.get(2));
        let option = if grantable { " WITH GRANT OPTION" } else { "" };
        sql.push_str(&format!(
            "GRANT {privilege} ON DATABASE {database} TO {grantee}{option};"
        ));
    }
    server
        .batch_execute(&sql)
        .map_err(|e| sql_error(&context, &e))
}

/// Settings made with `ALTER DATABASE ... SET` (and per role in it) stay with the
/// environment too: written over the source's that the copy brought, they win.
fn take_settings(server: &mut postgres::Client, staging: &str, target: &str) -> Result<()> {
    let context = format!("give the copy the settings of {target}");
    let rows = server
        .query(SETTINGS_SQL, &[&target])
        .map_err(|e| sql_error(&context, &e))?;
    let sql: Vec<String> = rows
        .iter()
        .filter_map(|row| DatabaseSetting::from_row(row.get(0), row.get(1)))
        .map(|setting| setting.statement(staging) + ";")
        .collect();
    server
        .batch_execute(&sql.concat())
        .map_err(|e| sql_error(&context, &e))
}

/// Closes `busy` to new sessions, ends theirs, then applies `renames` in one
/// transaction; the database named last opens again. On failure, connections are
/// allowed again and nothing was renamed.
fn swap(server: &mut postgres::Client, renames: &[(&str, &str)], busy: &[&str]) -> Result<()> {
    for name in busy {
        allow_connections(server, name, false)?;
    }
    let result = end_sessions(server, busy).and_then(|()| rename_all(server, renames));
    if result.is_err() {
        for name in busy {
            // The first error is the one to report.
            let _ = allow_connections(server, name, true);
        }
    }
    result
}

fn rename_all(server: &mut postgres::Client, renames: &[(&str, &str)]) -> Result<()> {
    let mut sql = String::from("BEGIN;");
    for (from, to) in renames {
        sql.push_str(&format!(
            "ALTER DATABASE {} RENAME TO {};",
            quote_name(from),
            quote_name(to)
        ));
    }
    if let Some((_, live)) = renames.last() {
        sql.push_str(&format!(
            "ALTER DATABASE {} ALLOW_CONNECTIONS true;",
            quote_name(live)
        ));
    }
    sql.push_str("COMMIT;");
    server.batch_execute(&sql).map_err(|e| {
        // A failed statement leaves the transaction aborted; end it.
        let _ = server.batch_execute("ROLLBACK");
        sql_error("swap the databases", &e)
    })
}

fn allow_connections(server: &mut postgres::Client, name: &str, allow: bool) -> Result<()> {
    let sql = format!(
        "ALTER DATABASE {} ALLOW_CONNECTIONS {allow}",
        quote_name(name)
    );
    server
        .batch_execute(&sql)
        .map_err(|e| sql_error(format!("change connections to {name}"), &e))
}

/// Ends every other session on the databases and waits until they are gone.
fn end_sessions(server: &mut postgres::Client, names: &[&str]) -> Result<()> {
    if names.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let deadline = Instant::now() + LOCK_TIMEOUT;
    loop {
        let row = server
            .query_one(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                 WHERE datname = ANY($1) AND pid <> pg_backend_pid()",
                &[&names],
            )
            .map_err(|e| sql_error("end the sessions on the target", &e))?;
        if row.get::<_, i64>(0) == 0 {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(Error::Other(format!(
                "sessions on {} did not end within {} s (are they another user's? \
                 ending them needs pg_signal_backend or superuser)",
                names.join(", "),
                LOCK_TIMEOUT.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}
