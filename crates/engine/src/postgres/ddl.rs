//! The schema half of a copy, done by PostgreSQL's own tools: pre-data (everything a
//! table needs before rows go in) is applied as SQL text so that owners and grants of
//! roles the target server lacks can be left out; post-data (indexes, constraints,
//! triggers) is built by `pg_restore -j`, which knows their dependencies and builds
//! them in parallel.

use super::conn::{PgUrl, sql_error};
use super::copy::blocking;
use super::tools::{Tool, dbname_arg};
use crate::{Error, Result};
use std::collections::BTreeSet;
use std::path::Path;
use tokio_postgres::Client;

/// The roles that exist on a server.
pub(crate) async fn roles(client: &Client) -> Result<BTreeSet<String>> {
    let rows = client
        .query("SELECT rolname::text FROM pg_roles", &[])
        .await
        .map_err(|e| sql_error("list the target server's roles", &e))?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

/// Pre-data SQL ready to run in the staging database.
pub(crate) struct PreData {
    pub sql: String,
    /// Roles the source's owners and grants name that the target server lacks.
    pub missing_roles: BTreeSet<String>,
}

pub(crate) async fn pre_data(
    dump: &Path,
    keep_owners: bool,
    target_roles: &BTreeSet<String>,
) -> Result<PreData> {
    let dump = dump.to_owned();
    let sql = blocking(move || {
        let tool = Tool::find("pg_restore")?;
        let dump = dump.display().to_string();
        let mut args = vec!["--section=pre-data", "--file=-"];
        if !keep_owners {
            args.extend(["--no-owner", "--no-privileges"]);
        }
        args.push(&dump);
        let output = tool.run_local(&args)?;
        String::from_utf8(output.stdout)
            .map_err(|_| Error::Other("pg_restore wrote a schema that is not UTF-8".into()))
    })
    .await?;
    Ok(filter_roles(&sql, target_roles))
}

/// Builds indexes, constraints and triggers in the staging database, `jobs` at a time.
pub(crate) async fn post_data(
    staging: &PgUrl,
    dump: &Path,
    jobs: usize,
    keep_owners: bool,
) -> Result<()> {
    let staging = staging.clone();
    let dump = dump.to_owned();
    blocking(move || {
        let tool = Tool::find("pg_restore")?;
        let jobs = format!("--jobs={jobs}");
        let dbname = format!("--dbname={}", dbname_arg(staging.dbname()));
        let dump = dump.display().to_string();
        let mut args = vec!["--section=post-data", "--exit-on-error", &jobs, &dbname];
        if !keep_owners {
            args.extend(["--no-owner", "--no-privileges"]);
        }
        args.push(&dump);
        tool.run(&staging, &args)?;
        Ok(())
    })
    .await
}

/// Drops the owner and grant statements that name a role the target lacks; the
/// objects then belong to the user dataalm connects as.
fn filter_roles(sql: &str, target_roles: &BTreeSet<String>) -> PreData {
    let mut missing_roles = BTreeSet::new();
    let mut kept = String::with_capacity(sql.len());
    for line in sql.lines() {
        // psql meta-commands (`\restrict`...) are not SQL.
        if line.starts_with('\\') {
            continue;
        }
        let missing: Vec<String> = roles_named(line)
            .into_iter()
            .filter(|role| role != "PUBLIC" && !target_roles.contains(role))
            .collect();
        if missing.is_empty() {
            kept.push_str(line);
            kept.push('\n');
        } else {
            missing_roles.extend(missing);
        }
    }
    PreData {
        sql: kept,
        missing_roles,
    }
}

/// The roles an owner or privilege statement names, unquoted.
fn roles_named(line: &str) -> Vec<String> {
    let is_privilege = ["GRANT ", "REVOKE ", "ALTER DEFAULT PRIVILEGES "]
        .iter()
        .any(|start| line.starts_with(start));
    let is_owner = line.starts_with("ALTER ") && line.contains(" OWNER TO ");
    if !is_privilege && !is_owner {
        return Vec::new();
    }
    [" OWNER TO ", " TO ", " FROM ", " FOR ROLE "]
        .iter()
        .filter_map(|keyword| line.rfind(keyword).map(|i| &line[i + keyword.len()..]))
        .map(identifier)
        .filter(|role| !role.is_empty())
        .collect()
}

/// The identifier at the start of `text`: `"Quoted ""one"""` or `plain`.
fn identifier(text: &str) -> String {
    if let Some(rest) = text.strip_prefix('"') {
        let mut name = String::new();
        let mut chars = rest.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    name.push('"');
                } else {
                    break;
                }
            } else {
                name.push(c);
            }
        }
        return name;
    }
    text.chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '$')
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_and_grants_of_missing_roles_are_left_out() {
        let sql = "\\restrict abc\n\
                   CREATE TABLE public.t (a integer);\n\
                   ALTER TABLE public.t OWNER TO app;\n\
                   ALTER TABLE public.u OWNER TO \"Gone \"\"Role\"\"\";\n\
                   GRANT SELECT ON TABLE public.t TO reporting;\n\
                   GRANT SELECT ON TABLE public.t TO PUBLIC;\n\
                   REVOKE ALL ON SCHEMA public FROM gone;\n";
        let roles: BTreeSet<String> = ["app".to_owned()].into();
        let filtered = filter_roles(sql, &roles);
        assert_eq!(
            filtered.sql,
            "CREATE TABLE public.t (a integer);\n\
             ALTER TABLE public.t OWNER TO app;\n\
             GRANT SELECT ON TABLE public.t TO PUBLIC;\n"
        );
        let missing: Vec<&str> = filtered.missing_roles.iter().map(String::as_str).collect();
        assert_eq!(missing, ["Gone \"Role\"", "gone", "reporting"]);
    }
}
