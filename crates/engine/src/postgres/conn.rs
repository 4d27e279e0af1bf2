//! Connecting to PostgreSQL: URLs, passwords and errors.
//!
//! An environment's location is a `postgres://` URL. The password may be in it, in
//! `PGPASSWORD` or in `~/.pgpass` (or `PGPASSFILE`), as for libpq's tools. Whatever the
//! source, it is never printed: errors name the location with [`Location::redacted`],
//! and child processes (pg_dump, pg_restore) get it through their environment, never on
//! their command line. TLS follows libpq's `sslmode` and friends (`tls.rs`), for
//! every connection and for the child processes alike.

use super::tls::{CertificateRefused, RustlsConnect, TlsSettings};
use crate::{Error, Result};
use dataalm_core::Location;
use std::path::PathBuf;
use std::time::Duration;
use tokio_postgres::config::Host;

/// How long a connection attempt may take before the server counts as unreachable.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the whole connection attempt, handshake included, may take.
pub const HANDSHAKE_TIMEOUT: Duration = CONNECT_TIMEOUT;

/// `SET lock_timeout` for every session: a statement waiting on a lock held by
/// someone else fails with SQLSTATE 55P03 instead of hanging the refresh. A `SET`
/// rather than a startup option, which connection poolers may refuse.
fn lock_timeout_statement() -> Result<String> {
    Ok(format!(
        "SET lock_timeout = {}",
        crate::lock_timeout()?.as_millis()
    ))
}

/// A parsed PostgreSQL location with its password resolved.
#[derive(Clone)]
pub struct PgUrl {
    url: String,
    config: tokio_postgres::Config,
    tls: TlsSettings,
    connector: RustlsConnect,
}

impl PgUrl {
    pub fn parse(location: &Location) -> Result<PgUrl> {
        let Location::Postgres(url) = location else {
            return Err(Error::Other(format!(
                "{} is not a PostgreSQL location",
                location.redacted()
            )));
        };
        PgUrl::parse_url(url)
    }

    pub fn parse_url(url: &str) -> Result<PgUrl> {
        let bad = |message: String| Error::Unreachable {
            location: dataalm_core::env::redact_url(url),
            message,
        };
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(bad("a PostgreSQL location is a postgres:// URL".into()));
        }
        let (client_url, tls) = TlsSettings::take_from_url(url).map_err(&bad)?;
        let connector = tls.connector().map_err(&bad)?;
        let mut config: tokio_postgres::Config = client_url
            .parse()
            .map_err(|e| bad(format!("not a valid PostgreSQL URL: {e}")))?;
        if config.get_dbname().is_none() {
            return Err(bad(
                "the URL names no database (postgres://host/DATABASE)".into()
            ));
        }
        if config.get_user().is_none() {
            let user = std::env::var("PGUSER")
                .or_else(|_| std::env::var("USER"))
                .unwrap_or_else(|_| "postgres".into());
            config.user(&user);
        }
        if config.get_hosts().is_empty() {
            config.host("localhost");
        }
        if config.get_password().is_none()
            && let Some(password) = password_from_environment(&config)
        {
            config.password(password);
        }
        config.connect_timeout(CONNECT_TIMEOUT);
        config.application_name("dataalm");
        Ok(PgUrl {
            url: url.to_owned(),
            config,
            tls,
            connector,
        })
    }

    /// The same server and credentials, another database.
    pub fn with_dbname(&self, dbname: &str) -> PgUrl {
        let mut config = self.config.clone();
        config.dbname(dbname);
        PgUrl {
            url: replace_path(&self.url, dbname),
            config,
            tls: self.tls.clone(),
            connector: self.connector.clone(),
        }
    }

    pub fn location(&self) -> Location {
        Location::Postgres(self.url.clone())
    }

    pub fn dbname(&self) -> &str {
        self.config.get_dbname().unwrap_or_default()
    }

    pub fn user(&self) -> &str {
        self.config.get_user().unwrap_or_default()
    }

    /// The location with the password hidden, for messages.
    pub fn redacted(&self) -> String {
        dataalm_core::env::redact_url(&self.url)
    }

    pub fn config(&self) -> &tokio_postgres::Config {
        &self.config
    }

    /// Whether both name the same server (host and port), so databases can be renamed
    /// from one into the other.
    pub fn same_server(&self, other: &PgUrl) -> bool {
        self.config.get_hosts() == other.config.get_hosts()
            && self.config.get_ports() == other.config.get_ports()
    }

    /// A blocking connection.
    ///
    /// The client library limits only the TCP connect; a server that accepts and then
    /// never answers would hang the handshake, so the whole attempt has a deadline.
    pub fn connect(&self) -> Result<postgres::Client> {
        let mut last = None;
        for mode in self.tls.mode.attempts() {
            let mut config = postgres::Config::from(self.config.clone());
            config.ssl_mode(*mode);
            let connector = self.connector.clone();
            let (sender, receiver) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                // The receiver may have given up; then nobody needs the result.
                let _ = sender.send(config.connect(connector));
            });
            match receiver.recv_timeout(HANDSHAKE_TIMEOUT) {
                Ok(Ok(mut client)) => {
                    client
                        .batch_execute(&lock_timeout_statement()?)
                        .map_err(|e| sql_error("set lock_timeout", &e))?;
                    return Ok(client);
                }
                Ok(Err(e)) => last = Some(self.unreachable(&e)),
                Err(_) => return Err(self.no_answer()),
            }
        }
        Err(last.unwrap_or_else(|| self.no_answer()))
    }

    /// An async connection; its driver runs on the current tokio runtime.
    pub async fn connect_async(&self) -> Result<tokio_postgres::Client> {
        let mut last = None;
        for mode in self.tls.mode.attempts() {
            let mut config = self.config.clone();
            config.ssl_mode(*mode);
            let attempt = config.connect(self.connector.clone());
            let (client, connection) = match tokio::time::timeout(HANDSHAKE_TIMEOUT, attempt)
                .await
                .map_err(|_| self.no_answer())?
            {
                Ok(pair) => pair,
                Err(e) => {
                    last = Some(self.unreachable(&e));
                    continue;
                }
            };
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::debug!("connection ended: {e}");
                }
            });
            client
                .batch_execute(&lock_timeout_statement()?)
                .await
                .map_err(|e| sql_error("set lock_timeout", &e))?;
            return Ok(client);
        }
        Err(last.unwrap_or_else(|| self.no_answer()))
    }

    fn no_answer(&self) -> Error {
        Error::Unreachable {
            location: self.redacted(),
            message: format!(
                "the server did not answer within {} s",
                HANDSHAKE_TIMEOUT.as_secs()
            ),
        }
    }

    fn unreachable(&self, e: &tokio_postgres::Error) -> Error {
        if let Some(refused) = find_cause::<CertificateRefused>(e) {
            return Error::Certificate {
                location: self.redacted(),
                message: refused.message.clone(),
            };
        }
        Error::Unreachable {
            location: self.redacted(),
            message: describe(e),
        }
    }

    /// libpq environment for a child process (pg_dump, pg_restore, psql): where to
    /// connect and the password, which must not appear on a command line.
    pub fn libpq_env(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![
            ("PGDATABASE", self.dbname().to_owned()),
            ("PGUSER", self.user().to_owned()),
            ("PGCONNECT_TIMEOUT", CONNECT_TIMEOUT.as_secs().to_string()),
            ("PGAPPNAME", "dataalm".to_owned()),
        ];
        if let Some(host) = self.config.get_hosts().first() {
            let host = match host {
                Host::Tcp(name) => name.clone(),
                Host::Unix(path) => path.display().to_string(),
            };
            env.push(("PGHOST", host));
        }
        if let Some(port) = self.config.get_ports().first() {
            env.push(("PGPORT", port.to_string()));
        }
        if let Some(password) = self.config.get_password() {
            env.push(("PGPASSWORD", String::from_utf8_lossy(password).into_owned()));
        }
        env.extend(self.tls.libpq_env());
        env
    }
}

/// The first error of type `T` among `e`'s causes.
fn find_cause<T: std::error::Error + 'static>(e: &tokio_postgres::Error) -> Option<&T> {
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        if let Some(found) = cause.downcast_ref::<T>() {
            return Some(found);
        }
        source = cause.source();
    }
    None
}

/// A PostgreSQL error in words: the server's message with its detail and hint, or
/// the client's reason (connection refused, timeout...).
pub fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut text = db.message().to_owned();
        if let Some(detail) = db.detail() {
            text.push_str(&format!(" ({detail})"));
        }
        if let Some(hint) = db.hint() {
            text.push_str(&format!("; hint: {hint}"));
        }
        return text;
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(&format!(": {cause}"));
        }
        source = cause_of(source);
    }
    text
}

fn cause_of<'a>(
    e: Option<&'a (dyn std::error::Error + 'static)>,
) -> Option<&'a (dyn std::error::Error + 'static)> {
    e.and_then(std::error::Error::source)
}

/// A failed statement, with what dataalm was doing.
pub fn sql_error(context: impl Into<String>, e: &tokio_postgres::Error) -> Error {
    let (context, message) = (context.into(), describe(e));
    if e.code() == Some(&tokio_postgres::error::SqlState::LOCK_NOT_AVAILABLE) {
        // Who holds the lock takes another connection to find: see `locks::name_holder`.
        Error::Locked {
            location: "the database".into(),
            holder: "another session".into(),
            waited_secs: crate::lock_timeout().map_or(0, |t| t.as_secs()),
            source: format!("{context}: {message}").into(),
        }
    } else if e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) {
        Error::Duplicate { context, message }
    } else {
        Error::Sql { context, message }
    }
}

/// Replaces the database (path) of a URL, keeping everything else.
fn replace_path(url: &str, dbname: &str) -> String {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[after_scheme..];
    let authority_end = rest
        .find(['/', '?'])
        .map_or(url.len(), |i| after_scheme + i);
    let query = url[authority_end..]
        .find('?')
        .map_or("", |i| &url[authority_end + i..]);
    format!(
        "{}/{}{}",
        &url[..authority_end],
        percent_encode(dbname),
        query
    )
}

fn percent_encode(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// `PGPASSWORD`, else the first matching line of the password file.
fn password_from_environment(config: &tokio_postgres::Config) -> Option<String> {
    if let Ok(password) = std::env::var("PGPASSWORD") {
        return Some(password);
    }
    let file = std::env::var_os("PGPASSFILE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".pgpass")))?;
    let text = std::fs::read_to_string(file).ok()?;
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(name)) => name.clone(),
        _ => "localhost".to_owned(),
    };
    let port = config
        .get_ports()
        .first()
        .copied()
        .unwrap_or(5432)
        .to_string();
    let dbname = config.get_dbname().unwrap_or_default();
    let user = config.get_user().unwrap_or_default();
    // The staging and previous databases are the target's, so the target's line fits.
    let mut names = vec![dbname];
    names.extend(super::names::origin(dbname));
    names
        .into_iter()
        .find_map(|name| pgpass_lookup(&text, [host.as_str(), port.as_str(), name, user]))
}

/// Finds the password for `host:port:database:user` in the text of a `.pgpass` file:
/// `*` matches anything, `\:` and `\\` are escapes, lines starting with `#` are comments.
fn pgpass_lookup(text: &str, wanted: [&str; 4]) -> Option<String> {
    text.lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .filter_map(|line| {
            let fields = split_pgpass_line(line);
            (fields.len() == 5).then_some(fields)
        })
        .find(|fields| {
            fields[..4]
                .iter()
                .zip(wanted)
                .all(|(field, want)| field == "*" || field == want)
        })
        .map(|fields| fields[4].clone())
}

fn split_pgpass_line(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let (Some(next), Some(field)) = (chars.next(), fields.last_mut()) {
                    field.push(next);
                }
            }
            ':' if fields.len() < 5 => fields.push(String::new()),
            _ => {
                if let Some(field) = fields.last_mut() {
                    field.push(c);
                }
            }
        }
    }
    fields
}

pub(crate) async fn exec(client: &tokio_postgres::Client, sql: &str, context: &str) -> Result<()> {
    client
        .batch_execute(sql)
        .await
        .map_err(|e| super::conn::sql_error(context, &e))
}

/// Runs blocking work (a child process) without stalling the copy's other tasks.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::Other(format!("a background task failed: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pgpass_matches_wildcards_and_escapes() {
        let text = "# comment\ndb1:5432:erp:app:first\n*:*:*:app:sec\\:ret\n";
        assert_eq!(
            pgpass_lookup(text, ["db1", "5432", "erp", "app"]).as_deref(),
            Some("first")
        );
        assert_eq!(
            pgpass_lookup(text, ["db2", "5433", "x", "app"]).as_deref(),
            Some("sec:ret")
        );
        assert_eq!(pgpass_lookup(text, ["db2", "5433", "x", "other"]), None);
    }

    #[test]
    fn another_database_keeps_server_and_query() {
        assert_eq!(
            replace_path("postgres://u:p@h:5/erp?sslmode=disable", "erp__x-1"),
            "postgres://u:p@h:5/erp__x-1?sslmode=disable"
        );
        assert_eq!(replace_path("postgres://h", "a b"), "postgres://h/a%20b");
    }

    #[test]
    fn urls_without_database_are_refused() {
        let error = PgUrl::parse_url("postgres://u:secret@h:5/")
            .err()
            .map(|e| e.to_string());
        let error = error.unwrap_or_default();
        assert!(error.contains("names no database"), "{error}");
        assert!(!error.contains("secret"), "{error}");
    }
}
