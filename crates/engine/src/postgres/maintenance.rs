//! Statements about whole databases, run from the server's maintenance database
//! (`postgres`, else `template1`), since nobody can be connected to a database while
//! it is created, renamed or dropped.

use super::conn::{PgUrl, sql_error};
use super::database::{self, DatabaseFacts};
use crate::Result;
use dataalm_core::sql::quote_name;
use tokio_postgres::Client;

const MAINTENANCE_DATABASES: [&str; 2] = ["postgres", "template1"];

/// A blocking connection to `url`'s server, in its maintenance database.
pub(crate) fn connect(url: &PgUrl) -> Result<postgres::Client> {
    let mut last = None;
    for name in MAINTENANCE_DATABASES {
        match url.with_dbname(name).connect() {
            Ok(client) => return Ok(client),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| crate::Error::Other("no maintenance database".into())))
}

pub(crate) async fn connect_async(url: &PgUrl) -> Result<Client> {
    let mut last = None;
    for name in MAINTENANCE_DATABASES {
        match url.with_dbname(name).connect_async().await {
            Ok(client) => return Ok(client),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| crate::Error::Other("no maintenance database".into())))
}

/// Drops `name` if it is there (ending its sessions) and creates it empty, with the
/// source's encoding and collation.
pub(crate) async fn recreate_database(
    server: &Client,
    name: &str,
    facts: &DatabaseFacts,
) -> Result<()> {
    let context = format!("create the staging database {name}");
    let drop = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quote_name(name));
    server
        .batch_execute(&drop)
        .await
        .map_err(|e| sql_error(&context, &e))?;
    let version = database::server_version(server)
        .await
        .map_err(|e| sql_error(&context, &e))?;
    let create = format!(
        "CREATE DATABASE {} TEMPLATE template0 {}",
        quote_name(name),
        facts.create_options(version)
    );
    server
        .batch_execute(&create)
        .await
        .map_err(|e| sql_error(&context, &e))
}

/// Whether a database of that name exists on the server.
pub(crate) fn exists(server: &mut postgres::Client, name: &str) -> Result<bool> {
    let row = server
        .query_one(
            "SELECT count(*) FROM pg_database WHERE datname = $1",
            &[&name],
        )
        .map_err(|e| sql_error(format!("look for database {name}"), &e))?;
    Ok(row.get::<_, i64>(0) > 0)
}

pub(crate) fn drop_database(server: &mut postgres::Client, name: &str) -> Result<()> {
    server
        .batch_execute(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            quote_name(name)
        ))
        .map_err(|e| sql_error(format!("drop database {name}"), &e))
}
