//! What must hold before a PostgreSQL refresh moves anything: client tools that can
//! read the source, a target server at least as new, rights to create and rename
//! databases there, every extension of the source installable on the target, and
//! staging names that fit PostgreSQL's 63-byte limit; and, for a copy with `jobs` lanes,
//! enough free connection slots on the source. Each failure says what to do.

use super::conn::{PgUrl, sql_error};
use super::names;
use super::tools::Tool;
use crate::{Error, Result};

/// What a PostgreSQL refresh needs and the servers, the tools or dataalm's user lack.
/// Found before anything moves; each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum Unfit {
    #[error(
        "the target server runs PostgreSQL {target_major}, older than the source's \
         {source_major}: a copy cannot go to an older server"
    )]
    OlderTarget {
        source_major: u32,
        target_major: u32,
    },
    #[error(
        "{tool} is version {tool_major}, older than the source server (PostgreSQL \
         {source_major}): install the PostgreSQL {source_major} client tools \
         (apt-get install postgresql-client-{source_major}) or point {} at them",
        super::tools::BIN_VARIABLE
    )]
    OlderTool {
        tool: String,
        tool_major: u32,
        source_major: u32,
    },
    #[error(
        "user `{user}` cannot read the whole source: {}{}; grant SELECT on all tables and \
         sequences (and BYPASSRLS where row-level security applies), or connect as their owner",
        problems.join(", "),
        if *more { ", and more" } else { "" }
    )]
    SourceUnreadable {
        user: String,
        problems: Vec<String>,
        more: bool,
    },
    #[error(
        "user `{user}` may not create databases on the target server, which the staging \
         copy needs: ALTER ROLE ... CREATEDB, or connect as a user who may"
    )]
    NoCreatedb { user: String },
    #[error(
        "user `{user}` does not own the target database `{database}`, so cannot swap the \
         copy in: connect as its owner or a superuser"
    )]
    NotOwner { user: String, database: String },
    #[error(
        "the source uses extensions the target server cannot install: {}; install them \
         on the target server first",
        missing.join("; ")
    )]
    MissingExtensions { missing: Vec<String> },
}

/// Connection slots a copy leaves free on the source server for production's own users
/// (the application, its pools, an operator's psql). Five: a pool growing by a few
/// connections while the copy runs should still find room.
pub const SLOT_MARGIN: i64 = 5;

/// The source's connection limits and the sessions using them, besides the asking one.
/// Slots kept for superusers count as taken: production's administrators need them.
pub(crate) const SLOTS_SQL: &str = "
    SELECT current_setting('max_connections')::int8,
           current_setting('superuser_reserved_connections')::int8
             + coalesce(current_setting('reserved_connections', true)::int8, 0),
           count(a.pid),
           r.rolsuper,
           r.rolconnlimit::int8,
           count(a.pid) FILTER (WHERE a.usename = current_user),
           d.datconnlimit::int8,
           count(a.pid) FILTER (WHERE a.datname = current_database())
    FROM pg_roles r
    JOIN pg_database d ON d.datname = current_database()
    LEFT JOIN pg_stat_activity a
      ON a.backend_type = 'client backend' AND a.pid <> pg_backend_pid()
    WHERE r.rolname = current_user
    GROUP BY r.rolsuper, r.rolconnlimit, d.datconnlimit";

pub(crate) fn check_refresh(source: &PgUrl, target: &PgUrl) -> Result<()> {
    names::check_lengths(target)?;
    let mut source_client = source.connect()?;
    let mut target_client = target.connect()?;
    let source_major = server_major(&mut source_client, source)?;
    let target_major = server_major(&mut target_client, target)?;
    if target_major < source_major {
        return Err(Unfit::OlderTarget {
            source_major,
            target_major,
        }
        .into());
    }
    for name in ["pg_dump", "pg_restore"] {
        let tool = Tool::find(name)?;
        let major = tool.major_version()?;
        if major < source_major {
            return Err(Unfit::OlderTool {
                tool: tool.path.display().to_string(),
                tool_major: major,
                source_major,
            }
            .into());
        }
    }
    check_source_readable(&mut source_client, source)?;
    check_rights(&mut target_client, target)?;
    check_extensions(&mut source_client, &mut target_client)
}

/// The copy reads every table and sequence whole: it needs SELECT on each and must
/// not be filtered by row-level security (it refuses to copy part of a table).
fn check_source_readable(client: &mut postgres::Client, source: &PgUrl) -> Result<()> {
    let sql = format!(
        "SELECT format('%I.%I', n.nspname, c.relname),
                CASE WHEN NOT has_table_privilege(c.oid, 'SELECT') THEN 'no SELECT privilege'
                     ELSE 'row-level security would hide rows' END
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind IN ('r', 'p', 'S') AND {}
           AND (NOT has_table_privilege(c.oid, 'SELECT')
                OR (c.relrowsecurity AND NOT pg_has_role(c.relowner, 'MEMBER')
                    AND NOT (SELECT rolsuper OR rolbypassrls FROM pg_roles
                             WHERE rolname = current_user)))
         ORDER BY 1 LIMIT 6",
        super::copy::USER_SCHEMA
    );
    let rows = client
        .query(&sql, &[])
        .map_err(|e| sql_error("check what the source user may read", &e))?;
    if rows.is_empty() {
        return Ok(());
    }
    let problems: Vec<String> = rows
        .iter()
        .take(5)
        .map(|row| format!("{} ({})", row.get::<_, String>(0), row.get::<_, String>(1)))
        .collect();
    Err(Unfit::SourceUnreadable {
        user: source.user().to_owned(),
        problems,
        more: rows.len() > 5,
    }
    .into())
}

fn server_major(client: &mut postgres::Client, url: &PgUrl) -> Result<u32> {
    let row = client
        .query_one("SELECT current_setting('server_version_num')::int", &[])
        .map_err(|e| sql_error(format!("read the server version of {}", url.redacted()), &e))?;
    let number: i32 = row.get(0);
    Ok(u32::try_from(number / 10000).unwrap_or(0))
}

/// Creating the staging database needs CREATEDB; renaming the target needs its
/// ownership (or superuser).
fn check_rights(client: &mut postgres::Client, target: &PgUrl) -> Result<()> {
    let row = client
        .query_one(
            "SELECT r.rolsuper OR r.rolcreatedb,
                    r.rolsuper OR pg_has_role(current_user, d.datdba, 'MEMBER')
             FROM pg_roles r, pg_database d
             WHERE r.rolname = current_user AND d.datname = current_database()",
            &[],
        )
        .map_err(|e| sql_error("read the target user's rights", &e))?;
    let (can_create, owns_target): (bool, bool) = (row.get(0), row.get(1));
    if !can_create {
        return Err(Unfit::NoCreatedb {
            user: target.user().to_owned(),
        }
        .into());
    }
    if !owns_target {
        return Err(Unfit::NotOwner {
            user: target.user().to_owned(),
            database: target.dbname().to_owned(),
        }
        .into());
    }
    Ok(())
}

/// Every extension installed in the source, at its version, must be installable on
/// the target server, or the schema cannot be built there.
fn check_extensions(source: &mut postgres::Client, target: &mut postgres::Client) -> Result<()> {
    let installed = source
        .query(
            "SELECT extname::text, extversion FROM pg_extension ORDER BY 1",
            &[],
        )
        .map_err(|e| sql_error("list the source's extensions", &e))?;
    let available = target
        .query(
            "SELECT name::text, version FROM pg_available_extension_versions",
            &[],
        )
        .map_err(|e| sql_error("list the target server's extensions", &e))?;
    let available: Vec<(String, String)> = available
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    let missing: Vec<String> = installed
        .iter()
        .map(|row| (row.get::<_, String>(0), row.get::<_, String>(1)))
        .filter(|wanted| !available.contains(wanted))
        .map(|(name, version)| {
            let offered: Vec<&str> = available
                .iter()
                .filter(|(n, _)| *n == name)
                .map(|(_, v)| v.as_str())
                .collect();
            let offered = if offered.is_empty() {
                "not at all".to_owned()
            } else {
                format!("only {}", offered.join(", "))
            };
            format!("{name} {version} (the target offers {offered})")
        })
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(Unfit::MissingExtensions { missing }.into())
}

/// Checks that a copy with `jobs` lanes leaves the source enough connection slots.
pub(crate) fn check_slots_now(source: &PgUrl, jobs: usize) -> Result<()> {
    let mut client = source.connect()?;
    let row = client
        .query_one(SLOTS_SQL, &[])
        .map_err(|e| sql_error("count the source's free connection slots", &e))?;
    check_slots(&row, source, jobs)
}

/// The check on a row of [`SLOTS_SQL`]. At its peak the copy holds one source
/// connection per lane plus the coordinator that keeps the snapshot (pg_dump has
/// finished by the time the lanes open).
pub(crate) fn check_slots(row: &tokio_postgres::Row, source: &PgUrl, jobs: usize) -> Result<()> {
    let (max, reserved, open): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
    let need = i64::try_from(jobs).unwrap_or(i64::MAX).saturating_add(1);
    let free = max - reserved - open;
    let refuse = |message: String| Error::NoConnectionSlots {
        location: source.redacted(),
        message,
    };
    if free - need < SLOT_MARGIN {
        return Err(refuse(format!(
            "the source server has {free} free connection slots (max_connections {max}, \
             {reserved} reserved for superusers, {open} in use); a copy with {jobs} jobs \
             needs {need} (one per job and one for the snapshot) and must leave \
             {SLOT_MARGIN} for production's own users: {}",
            fewer_jobs(free - SLOT_MARGIN - 1)
        )));
    }
    let superuser: bool = row.get(3);
    if superuser {
        // Neither limit below applies to superusers.
        return Ok(());
    }
    let limits = [
        (
            "user",
            source.user(),
            row.get::<_, i64>(4),
            row.get::<_, i64>(5),
        ),
        ("database", source.dbname(), row.get(6), row.get(7)),
    ];
    for (what, name, limit, open) in limits {
        if limit >= 0 && limit - open < need {
            return Err(refuse(format!(
                "the source {what} `{name}` has CONNECTION LIMIT {limit} and {open} \
                 sessions open; a copy with {jobs} jobs needs {need} more (one per job and \
                 one for the snapshot): {}",
                fewer_jobs(limit - open - 1)
            )));
        }
    }
    Ok(())
}

fn fewer_jobs(at_most: i64) -> String {
    if at_most > 1 {
        format!("use at most {at_most} jobs")
    } else if at_most == 1 {
        "use 1 job".to_owned()
    } else {
        "wait until fewer sessions are open, or raise the limit".to_owned()
    }
}
