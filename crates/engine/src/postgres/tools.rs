//! PostgreSQL's client tools: dataalm lets `pg_dump` describe the schema and
//! `pg_restore` build it, because they know every object kind of every version.
//!
//! The tools are taken from `DATAALM_PG_BIN` when set, else from the newest
//! `/usr/lib/postgresql/*/bin`, else from `PATH`. pg_dump refuses servers newer than
//! itself, so their version is checked against the source before anything moves.

use super::conn::PgUrl;
use crate::{Error, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Where to find `pg_dump` and `pg_restore`.
pub const BIN_VARIABLE: &str = "DATAALM_PG_BIN";

/// One client tool, found.
pub struct Tool {
    pub name: &'static str,
    pub path: PathBuf,
}

impl Tool {
    pub fn find(name: &'static str) -> Result<Tool> {
        let candidates = candidate_dirs();
        for dir in &candidates {
            let path = dir.join(name);
            if path.is_file() {
                return Ok(Tool { name, path });
            }
        }
        if let Some(path) = on_path(name) {
            return Ok(Tool { name, path });
        }
        Err(Error::Other(format!(
            "{name} was not found (looked in {}{}and on PATH): install the PostgreSQL \
             client tools (apt-get install postgresql-client-15) or set {BIN_VARIABLE}",
            candidates
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            if candidates.is_empty() { "" } else { " " },
        )))
    }

    /// The major version the tool reports (`pg_dump (PostgreSQL) 15.18` → 15).
    pub fn major_version(&self) -> Result<u32> {
        let output = Command::new(&self.path)
            .arg("--version")
            .output()
            .map_err(|e| self.io_error("run", e))?;
        let text = String::from_utf8_lossy(&output.stdout);
        parse_major(&text).ok_or_else(|| {
            Error::Other(format!(
                "cannot read the version of {} from `{}`",
                self.path.display(),
                text.trim()
            ))
        })
    }

    /// Runs the tool against `url`'s server; the password goes through the environment.
    pub fn run(&self, url: &PgUrl, args: &[&str]) -> Result<Output> {
        self.run_with(Some(url), args)
    }

    /// Runs the tool on files only (`pg_restore --file=-`), connecting nowhere.
    pub fn run_local(&self, args: &[&str]) -> Result<Output> {
        self.run_with(None, args)
    }

    fn run_with(&self, url: Option<&PgUrl>, args: &[&str]) -> Result<Output> {
        let mut command = Command::new(&self.path);
        // Only what the location says counts, not what this process inherited.
        for variable in [
            "PGPASSWORD",
            "PGSERVICE",
            "PGOPTIONS",
            "PGDATABASE",
            "PGSSLMODE",
            "PGSSLROOTCERT",
            "PGSSLCERT",
            "PGSSLKEY",
        ] {
            command.env_remove(variable);
        }
        if let Some(url) = url {
            command.envs(url.libpq_env());
        }
        command.args(args).stdin(Stdio::null());
        let output = command.output().map_err(|e| self.io_error("run", e))?;
        if !output.status.success() {
            let on = url.map_or(String::new(), |url| format!(" on {}", url.redacted()));
            return Err(Error::Other(format!(
                "{} failed{on}: {}",
                self.name,
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        Ok(output)
    }

    fn io_error(&self, what: &str, source: std::io::Error) -> Error {
        Error::Io {
            context: format!("{what} {}", self.path.display()),
            source,
        }
    }
}

/// A `dbname=` argument for libpq tools: the name quoted so no part of it is read as
/// another connection keyword.
pub fn dbname_arg(dbname: &str) -> String {
    format!(
        "dbname='{}'",
        dbname.replace('\\', "\\\\").replace('\'', "\\'")
    )
}

fn candidate_dirs() -> Vec<PathBuf> {
    if let Some(dir) = std::env::var_os(BIN_VARIABLE) {
        return vec![PathBuf::from(dir)];
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .collect();
    versions.sort_by_key(|(version, _)| std::cmp::Reverse(*version));
    versions.into_iter().map(|(_, dir)| dir).collect()
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| Path::new(candidate).is_file())
}

fn parse_major(text: &str) -> Option<u32> {
    let version = text
        .split_whitespace()
        .find(|word| word.chars().next().is_some_and(|c| c.is_ascii_digit()))?;
    let digits: String = version.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_read() {
        assert_eq!(
            parse_major("pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"),
            Some(15)
        );
        assert_eq!(parse_major("pg_restore (PostgreSQL) 9.6.24"), Some(9));
        assert_eq!(parse_major("pg_dump (PostgreSQL) 17devel"), Some(17));
        assert_eq!(parse_major("no version here"), None);
    }

    #[test]
    fn dbname_arguments_are_quoted() {
        assert_eq!(dbname_arg("a b'c"), "dbname='a b\\'c'");
    }
}
