//! Making a cluster: temporary directory, `initdb`, settings, `pg_ctl start`.

use std::fs;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use tempfile::TempDir;

use crate::runas::RunAs;
use crate::{CERT_ROLE, ClusterOptions, Error, SUPERUSER, ServerCert};

/// How many times `pg_ctl start` is tried, each on a fresh port.
const START_ATTEMPTS: u32 = 3;

/// How many lines of the server log an error shows.
const LOG_TAIL_LINES: usize = 30;

/// Locales tried in order: `C.UTF-8` sorts like `C` but classifies non-ASCII letters.
const LOCALES: [&str; 2] = ["C.UTF-8", "C"];

/// The files of one cluster, all under one temporary directory.
pub(crate) struct Layout {
    /// Owns the directory; removes it when dropped.
    pub(crate) temp: TempDir,
    /// The data directory (`<temp>/data`).
    pub(crate) data: PathBuf,
    /// The server log (`<temp>/log`).
    pub(crate) log: PathBuf,
}

impl Layout {
    /// Creates `<tmp>/dataalm-pg-XXXX` (0755) holding an empty `data` (0700), both given to
    /// the server's account. The socket and log live in the top directory.
    pub(crate) fn create(run_as: RunAs) -> Result<Self, Error> {
        let temp = tempfile::Builder::new()
            .prefix("dataalm-pg-")
            .tempdir()
            .map_err(|e| Error::io("creating the cluster's temporary directory", e))?;
        let data = temp.path().join("data");
        let log = temp.path().join("log");
        set_mode(temp.path(), 0o755)?;
        fs::create_dir(&data).map_err(|e| Error::io(format!("creating {}", data.display()), e))?;
        set_mode(&data, 0o700)?;
        run_as.give(temp.path())?;
        run_as.give(&data)?;
        Ok(Layout { temp, data, log })
    }

    /// The top directory.
    pub(crate) fn root(&self) -> &Path {
        self.temp.path()
    }
}

/// Runs `initdb` with the superuser's password read from a file that is removed afterwards.
pub(crate) fn initdb(
    bin: &Path,
    run_as: RunAs,
    layout: &Layout,
    password: &str,
) -> Result<(), Error> {
    let pwfile = layout.root().join("pwfile");
    write_file(&pwfile, &format!("{password}\n"))?;
    set_mode(&pwfile, 0o600)?;
    run_as.give(&pwfile)?;
    let result = initdb_any_locale(bin, run_as, layout, &pwfile);
    let _ = fs::remove_file(&pwfile);
    result
}

/// Tries `C.UTF-8`, then `C` (initdb empties the data directory after a failure).
fn initdb_any_locale(
    bin: &Path,
    run_as: RunAs,
    layout: &Layout,
    pwfile: &Path,
) -> Result<(), Error> {
    let [preferred, fallback] = LOCALES;
    initdb_with_locale(bin, run_as, layout, pwfile, preferred)
        .or_else(|_| initdb_with_locale(bin, run_as, layout, pwfile, fallback))
}

fn initdb_with_locale(
    bin: &Path,
    run_as: RunAs,
    layout: &Layout,
    pwfile: &Path,
    locale: &str,
) -> Result<(), Error> {
    let mut cmd = server_command(bin, "initdb", run_as, layout);
    cmd.arg("-D").arg(&layout.data);
    cmd.args(["--encoding=UTF8", "--username", SUPERUSER]);
    cmd.arg(format!("--locale={locale}"));
    cmd.args(["--auth-local=trust", "--auth-host=scram-sha-256"]);
    cmd.arg(format!("--pwfile={}", pwfile.display()));
    cmd.args(["--no-sync", "--no-instructions"]);
    run(cmd, "initdb").map(drop)
}

/// Puts the server's certificate, key and CA in the data directory and lets TCP clients
/// in over TLS only (`hostssl`): members of [`CERT_ROLE`] with a client certificate, the
/// rest with a password. The Unix socket stays open to this crate's helpers.
pub(crate) fn require_tls(run_as: RunAs, layout: &Layout, cert: &ServerCert) -> Result<(), Error> {
    let files = [
        ("server.crt", &cert.cert_pem),
        ("server.key", &cert.key_pem),
        ("root.crt", &cert.ca_pem),
    ];
    for (name, text) in files {
        let path = layout.data.join(name);
        write_file(&path, text)?;
        // The server refuses a key that others may read.
        set_mode(&path, 0o600)?;
        run_as.give(&path)?;
    }
    let hba = layout.data.join("pg_hba.conf");
    let rules = format!(
        "local all all trust\n\
         hostssl all +{CERT_ROLE} 127.0.0.1/32 cert\n\
         hostssl all all 127.0.0.1/32 scram-sha-256\n"
    );
    write_file(&hba, &rules)?;
    run_as.give(&hba)
}

/// Writes the settings, then starts the server, retrying on a new port if another process
/// took the chosen one in between. Returns the port.
pub(crate) fn start(
    bin: &Path,
    run_as: RunAs,
    layout: &Layout,
    options: &ClusterOptions,
) -> Result<u16, Error> {
    let conf = layout.data.join("postgresql.conf");
    let original = fs::read_to_string(&conf)
        .map_err(|e| Error::io(format!("reading {}", conf.display()), e))?;
    let mut reason = String::new();
    for _ in 0..START_ATTEMPTS {
        let port = free_port()?;
        write_file(
            &conf,
            &(original.clone() + &settings(options, port, layout.root())),
        )?;
        match pg_ctl_start(bin, run_as, layout) {
            Ok(()) => return Ok(port),
            Err(e) => reason = e.to_string(),
        }
        let _ = stop(bin, run_as, layout); // in case it came up after the wait gave up
    }
    Err(Error::Start {
        attempts: START_ATTEMPTS,
        reason,
        log_tail: log_tail(&layout.log),
    })
}

/// Stops the server at once (`pg_ctl stop -m immediate`).
pub(crate) fn stop(bin: &Path, run_as: RunAs, layout: &Layout) -> Result<(), Error> {
    let mut cmd = server_command(bin, "pg_ctl", run_as, layout);
    cmd.arg("-D")
        .arg(&layout.data)
        .args(["-m", "immediate", "stop"]);
    run(cmd, "pg_ctl stop").map(drop)
}

/// The stop command as words, for the reaper.
pub(crate) fn stop_words(bin: &Path, run_as: RunAs, layout: &Layout) -> Vec<std::ffi::OsString> {
    let mut words = run_as.prefix();
    words.push(bin.join("pg_ctl").into_os_string());
    words.extend(["-D".into(), layout.data.clone().into_os_string()]);
    words.extend(["-m", "immediate", "stop"].map(Into::into));
    words
}

fn pg_ctl_start(bin: &Path, run_as: RunAs, layout: &Layout) -> Result<(), Error> {
    let mut cmd = server_command(bin, "pg_ctl", run_as, layout);
    cmd.arg("-D").arg(&layout.data);
    cmd.arg("-l").arg(&layout.log);
    cmd.args(["-w", "start"]);
    run(cmd, "pg_ctl start").map(drop)
}

/// The lines appended to `postgresql.conf`.
fn settings(options: &ClusterOptions, port: u16, socket_dir: &Path) -> String {
    let mut lines = vec![
        "\n# --- dataalm-pgtest ---".to_string(),
        "listen_addresses = '127.0.0.1'".to_string(),
        format!("port = {port}"),
        format!(
            "unix_socket_directories = {}",
            conf_quote(&socket_dir.to_string_lossy())
        ),
        "max_connections = 100".to_string(),
        format!("shared_buffers = {}", conf_quote(&options.shared_buffers)),
        "max_wal_size = '4GB'".to_string(),
        "checkpoint_timeout = '30min'".to_string(),
    ];
    if !options.durable {
        lines.extend(
            [
                "fsync = off",
                "synchronous_commit = off",
                "full_page_writes = off",
            ]
            .map(String::from),
        );
    }
    if options.tls.is_some() {
        lines.extend(
            [
                "ssl = on",
                "ssl_cert_file = 'server.crt'",
                "ssl_key_file = 'server.key'",
                "ssl_ca_file = 'root.crt'",
            ]
            .map(String::from),
        );
    }
    for (name, value) in &options.settings {
        lines.push(format!("{name} = {}", conf_quote(value)));
    }
    lines.join("\n") + "\n"
}

/// A `postgresql.conf` string literal.
fn conf_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// A port that was free a moment ago: bind 127.0.0.1:0 and let the listener go.
fn free_port() -> Result<u16, Error> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .map_err(|e| Error::io("binding 127.0.0.1:0 to find a free port", e))?;
    listener
        .local_addr()
        .map(|addr| addr.port())
        .map_err(|e| Error::io("reading the free port", e))
}

/// A server program from `bin`, run as `run_as` from the cluster's directory (which that
/// account can enter, unlike perhaps the test's working directory).
fn server_command(bin: &Path, program: &str, run_as: RunAs, layout: &Layout) -> Command {
    let mut cmd = run_as.command(&bin.join(program));
    cmd.current_dir(layout.root()).stdin(Stdio::null());
    cmd
}

/// Runs `cmd` to completion; a non-zero exit becomes [`Error::Command`].
pub(crate) fn run(mut cmd: Command, program: &str) -> Result<Output, Error> {
    let output = cmd
        .output()
        .map_err(|e| Error::io(format!("running {program}"), e))?;
    if output.status.success() {
        return Ok(output);
    }
    let stderr = String::from_utf8_lossy(&output.stderr).trim().to_string();
    let text = if stderr.is_empty() {
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    } else {
        stderr
    };
    Err(Error::Command {
        program: program.to_string(),
        status: output.status,
        output: text,
    })
}

/// The last [`LOG_TAIL_LINES`] lines of the server log, or why it could not be read.
fn log_tail(log: &Path) -> String {
    match fs::read_to_string(log) {
        Ok(text) => {
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
        }
        Err(e) => format!("(could not read {}: {e})", log.display()),
    }
}

fn set_mode(path: &Path, mode: u32) -> Result<(), Error> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(|e| Error::io(format!("chmod {mode:o} {}", path.display()), e))
}

fn write_file(path: &Path, text: &str) -> Result<(), Error> {
    fs::write(path, text).map_err(|e| Error::io(format!("writing {}", path.display()), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_follow_options() {
        let fast = settings(&ClusterOptions::default(), 5433, Path::new("/tmp/it's"));
        assert!(fast.contains("port = 5433\n"));
        assert!(fast.contains("unix_socket_directories = '/tmp/it''s'\n"));
        assert!(fast.contains("shared_buffers = '128MB'\n"));
        assert!(fast.contains("fsync = off\n"));
        let durable = ClusterOptions {
            durable: true,
            settings: vec![("work_mem".into(), "64MB".into())],
            ..ClusterOptions::default()
        };
        let safe = settings(&durable, 5433, Path::new("/tmp/x"));
        assert!(!safe.contains("fsync"));
        assert!(safe.ends_with("work_mem = '64MB'\n"));
    }

    #[test]
    fn log_tail_keeps_the_end() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("log");
        let text: String = (0..100).map(|i| format!("line {i}\n")).collect();
        fs::write(&log, text).expect("write");
        let tail = log_tail(&log);
        assert!(tail.starts_with("line 70\n") && tail.ends_with("line 99"));
        assert!(log_tail(&dir.path().join("missing")).starts_with("(could not read"));
    }
}
