//! Throw-away PostgreSQL clusters for dataalm's tests and benchmarks.
//!
//! [`Cluster::start`] runs `initdb` in a fresh temporary directory, configures the server for
//! speed (no fsync unless [`ClusterOptions::durable`]), starts it on a free port of 127.0.0.1
//! and hands back a [`Cluster`] with connection helpers. Dropping the cluster stops the server
//! and removes the directory. Each cluster also gets a detached *reaper* process that does the
//! same once the test process is gone, so clusters held in statics ([`Cluster::shared`]) or
//! left by a killed test do not pile up.
//!
//! The server binaries come from `$DATAALM_PG_BIN`, else `/usr/lib/postgresql/15/bin`, else the
//! highest `/usr/lib/postgresql/<n>/bin`. When this process is root, `initdb` and `pg_ctl` run
//! as the `postgres` OS user through `runuser`.
//!
//! With [`ClusterOptions::tls`] the server has `ssl = on` with a certificate from a
//! [`TestCa`], and its `pg_hba.conf` takes TCP connections over TLS only (`hostssl`);
//! members of role [`CERT_ROLE`] sign in with a client certificate from the same CA
//! instead of a password. This crate's own helpers ([`Cluster::client`], [`Cluster::psql`])
//! then use the Unix socket.
//!
//! ```no_run
//! use dataalm_pgtest::Cluster;
//!
//! let pg = Cluster::shared("source");
//! let db = pg.create_database("orders").expect("create database");
//! pg.psql(&db, "CREATE TABLE t (id int)").expect("psql");
//! let mut client = pg.client(&db).expect("connect");
//! let n: i64 = client.query_one("SELECT count(*) FROM t", &[]).expect("query").get(0);
//! assert_eq!(n, 0);
//! ```

mod binaries;
mod certs;
mod error;
mod reaper;
pub mod regress;
mod runas;
mod setup;
mod sql;

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

pub use binaries::BIN_ENV;
pub use certs::{ClientCert, ServerCert, TestCa};
pub use error::Error;

use reaper::Reaper;
use runas::RunAs;
use setup::Layout;

/// The superuser every cluster is created with.
pub const SUPERUSER: &str = "postgres";

/// On a TLS cluster, members of this role sign in with a client certificate (`cert`).
pub const CERT_ROLE: &str = "dataalm_cert";

/// The address every cluster listens on.
const HOST: &str = "127.0.0.1";

/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Tells databases made by [`Cluster::create_database`] apart.
static DATABASE_COUNTER: AtomicU64 = AtomicU64::new(0);

/// How a cluster is set up.
#[derive(Clone, Debug)]
pub struct ClusterOptions {
    /// Keep `fsync`, `synchronous_commit` and `full_page_writes` on (default: off, for speed).
    pub durable: bool,
    /// The `shared_buffers` setting (default `"128MB"`).
    pub shared_buffers: String,
    /// More `postgresql.conf` settings as (name, value); values are quoted for you.
    pub settings: Vec<(String, String)>,
    /// Serve TLS with this certificate and refuse TCP connections without it.
    pub tls: Option<ServerCert>,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions {
            durable: false,
            shared_buffers: "128MB".to_string(),
            settings: Vec::new(),
            tls: None,
        }
    }
}

/// A running throw-away PostgreSQL cluster. Dropping it stops the server and removes its files.
pub struct Cluster {
    bin_dir: PathBuf,
    run_as: RunAs,
    port: u16,
    password: String,
    /// Whether TCP needs TLS; then this crate's helpers connect over the Unix socket.
    tls: bool,
    /// Ended when the cluster is dropped; never, for a forgotten or leaked cluster.
    _reaper: Reaper,
    /// Dropped last (after [`Drop::drop`] stopped the server): removes the directory.
    layout: Layout,
}

impl Cluster {
    /// Creates and starts a cluster; its reaper watches this process.
    pub fn start(options: &ClusterOptions) -> Result<Cluster, Error> {
        Cluster::start_watched(options, std::process::id())
    }

    /// Creates and starts a cluster whose reaper removes it once process `owner` is gone.
    fn start_watched(options: &ClusterOptions, owner: u32) -> Result<Cluster, Error> {
        let bin_dir = binaries::locate()?;
        let run_as = RunAs::detect()?;
        let layout = Layout::create(run_as)?;
        // Before initdb, so that even a half-made cluster is removed if this process dies.
        let stop = setup::stop_words(&bin_dir, run_as, &layout);
        let reaper = reaper::spawn(owner, layout.root(), stop)?;
        let password = sql::random_password();
        setup::initdb(&bin_dir, run_as, &layout, &password)?;
        if let Some(cert) = &options.tls {
            setup::require_tls(run_as, &layout, cert)?;
        }
        let port = setup::start(&bin_dir, run_as, &layout, options)?;
        Ok(Cluster {
            bin_dir,
            run_as,
            port,
            password,
            tls: options.tls.is_some(),
            _reaper: reaper,
            layout,
        })
    }

    /// The cluster for `label`, started with default options on first use and kept for the
    /// rest of the test binary (its reaper removes it when the binary exits).
    ///
    /// # Panics
    ///
    /// If the cluster cannot start, with the error's message.
    pub fn shared(label: &'static str) -> &'static Cluster {
        static CELLS: OnceLock<Mutex<HashMap<&'static str, &'static OnceLock<Cluster>>>> =
            OnceLock::new();
        let cell = {
            let mut cells = CELLS
                .get_or_init(Default::default)
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            *cells
                .entry(label)
                .or_insert_with(|| Box::leak(Box::new(OnceLock::new())))
        };
        // Outside the map's lock, so different labels start in parallel.
        cell.get_or_init(|| {
            Cluster::start(&ClusterOptions::default()).unwrap_or_else(|e| {
                panic!("cannot start the shared {label:?} PostgreSQL cluster: {e}")
            })
        })
    }

    /// The TCP port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The address the server listens on: `"127.0.0.1"`.
    pub fn host(&self) -> &'static str {
        HOST
    }

    /// The cluster's temporary directory (holds `data/`, the server `log` and the socket).
    pub fn dir(&self) -> &Path {
        self.layout.root()
    }

    /// The data directory (`PGDATA`).
    pub fn data_dir(&self) -> &Path {
        &self.layout.data
    }

    /// The directory of the PostgreSQL binaries in use (`psql`, `pg_dump`, ...).
    pub fn bin_dir(&self) -> &Path {
        &self.bin_dir
    }

    /// The password of [`SUPERUSER`] (alphanumeric, different for each cluster).
    pub fn password(&self) -> &str {
        &self.password
    }

    /// `postgres://postgres:PASSWORD@127.0.0.1:PORT/DB`.
    pub fn url(&self, db: &str) -> String {
        self.url_as(SUPERUSER, &self.password, db)
    }

    /// A URL connecting as `user` with `password` to `db`; the parts are percent-encoded.
    pub fn url_as(&self, user: &str, password: &str, db: &str) -> String {
        format!(
            "postgres://{}:{}@{HOST}:{}/{}",
            sql::url_encode(user),
            sql::url_encode(password),
            self.port,
            sql::url_encode(db)
        )
    }

    /// A connection to `db` as [`SUPERUSER`] without TLS: over TCP, or over the Unix
    /// socket when the cluster takes TCP over TLS only.
    pub fn client(&self, db: &str) -> Result<postgres::Client, Error> {
        self.client_as(SUPERUSER, &self.password, db)
    }

    /// A connection to `db` as `user` with `password` without TLS (see [`Cluster::client`]).
    pub fn client_as(
        &self,
        user: &str,
        password: &str,
        db: &str,
    ) -> Result<postgres::Client, Error> {
        let mut config = postgres::Config::new();
        if self.tls {
            config.host_path(self.dir());
        } else {
            config.host(HOST);
        }
        config
            .port(self.port)
            .user(user)
            .password(password)
            .dbname(db)
            .connect_timeout(CONNECT_TIMEOUT)
            .connect(postgres::NoTls)
            .map_err(|source| Error::Connect {
                user: user.to_string(),
                db: db.to_string(),
                source,
            })
    }

    /// Creates a database named `{prefix}_{pid}_{n}`, unique across threads and processes,
    /// and returns its name.
    pub fn create_database(&self, prefix: &str) -> Result<String, Error> {
        let n = DATABASE_COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("{prefix}_{}_{n}", std::process::id());
        self.execute(&format!("CREATE DATABASE {}", sql::quote_ident(&name)))?;
        Ok(name)
    }

    /// Drops database `name` if it exists, disconnecting its sessions (`WITH (FORCE)`).
    pub fn drop_database(&self, name: &str) -> Result<(), Error> {
        let ident = sql::quote_ident(name);
        self.execute(&format!("DROP DATABASE IF EXISTS {ident} WITH (FORCE)"))
    }

    /// Creates role `name` with `password` and raw SQL `attributes`, e.g. `"LOGIN NOCREATEDB"`.
    pub fn create_role(&self, name: &str, password: &str, attributes: &str) -> Result<(), Error> {
        let (ident, secret) = (sql::quote_ident(name), sql::quote_literal(password));
        self.execute(&format!(
            "CREATE ROLE {ident} WITH {attributes} PASSWORD {secret}"
        ))
    }

    /// Runs one SQL command with `psql -c` on `db` and returns its unaligned, tuples-only output.
    pub fn psql(&self, db: &str, sql: &str) -> Result<String, Error> {
        let mut cmd = self.psql_command(db);
        cmd.arg("-c").arg(sql).stdin(Stdio::null());
        self.finish_psql(cmd, db, None)
    }

    /// Runs a multi-statement script through `psql`'s standard input; stops at the first error.
    pub fn psql_script(&self, db: &str, script: &str) -> Result<String, Error> {
        let mut cmd = self.psql_command(db);
        cmd.args(["-f", "-"]).stdin(Stdio::piped());
        self.finish_psql(cmd, db, Some(script))
    }

    /// `psql` set up to reach `db` as superuser; the password goes in the environment.
    fn psql_command(&self, db: &str) -> Command {
        let mut cmd = Command::new(self.bin_dir.join("psql"));
        cmd.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", "-h"]);
        if self.tls {
            cmd.arg(self.dir());
        } else {
            cmd.arg(HOST);
        }
        cmd.arg("-p").arg(self.port.to_string());
        cmd.args(["-U", SUPERUSER, "-d", db]);
        cmd.env("PGPASSWORD", &self.password)
            .env("PGCONNECT_TIMEOUT", CONNECT_TIMEOUT.as_secs().to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// Runs psql, feeding `input` from a thread (so large scripts and outputs cannot deadlock).
    fn finish_psql(
        &self,
        mut cmd: Command,
        db: &str,
        input: Option<&str>,
    ) -> Result<String, Error> {
        let mut child = cmd.spawn().map_err(|e| {
            Error::io(
                format!("running {}", self.bin_dir.join("psql").display()),
                e,
            )
        })?;
        let output = std::thread::scope(|scope| {
            if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
                // A write error means psql exited early; its status and stderr tell why.
                scope.spawn(move || stdin.write_all(text.as_bytes()));
            }
            child.wait_with_output()
        })
        .map_err(|e| Error::io("waiting for psql", e))?;
        if !output.status.success() {
            return Err(Error::Psql {
                db: db.to_string(),
                status: output.status,
                stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
            });
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Runs one statement (outside a transaction) on the `postgres` database.
    fn execute(&self, statement: &str) -> Result<(), Error> {
        self.client(SUPERUSER)?
            .batch_execute(statement)
            .map_err(|source| Error::Sql {
                db: SUPERUSER.to_string(),
                source,
            })
    }
}

impl Drop for Cluster {
    /// Stops the server; then the fields drop: the reaper is ended and the directory removed.
    fn drop(&mut self) {
        let _ = setup::stop(&self.bin_dir, self.run_as, &self.layout);
    }
}

impl std::fmt::Debug for Cluster {
    /// Leaves the password out.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("port", &self.port)
            .field("dir", &self.dir())
            .field("bin_dir", &self.bin_dir)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// A cluster whose owner is killed is stopped and removed by its reaper.
    #[test]
    fn reaper_removes_cluster_of_dead_owner() {
        let mut owner = Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("spawn sleep");
        let cluster =
            Cluster::start_watched(&ClusterOptions::default(), owner.id()).expect("start cluster");
        let (dir, port) = (cluster.dir().to_path_buf(), cluster.port());
        cluster.client("postgres").expect("server is up");
        std::mem::forget(cluster); // as if this process had died: no Drop
        owner.kill().expect("kill owner");
        owner.wait().expect("reap owner"); // a zombie would still answer `kill -0`
        let deadline = Instant::now() + Duration::from_secs(15);
        while dir.exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(!dir.exists(), "reaper left {}", dir.display());
        assert!(
            std::net::TcpStream::connect((HOST, port)).is_err(),
            "server still up"
        );
    }
}
