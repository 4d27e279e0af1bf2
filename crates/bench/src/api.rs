//! The REST API under load: while refreshes of `uat` from `prod` run back to back,
//! `--clients` threads poll the running operation's status and list `uat`'s users at a
//! fixed total rate, and every answer's latency is recorded. Refreshes first run back to
//! back as long with no load, so the report says both what pollers see and what their
//! polling costs a refresh.
//!
//! How it is measured, and why:
//! - The service is the release `dataalm serve`, a child process with a control plane of
//!   its own (a fresh `home` in the working directory), set up through the CLI as an
//!   operator would: two finance samples, two environments, one operator registration.
//! - Clients are open loop: each sends on a fixed schedule (together `--rate` requests per
//!   second, staggered), however long the answers take. A latency counts from the
//!   scheduled send, so a slow answer also charges the requests queued behind it (no
//!   coordinated omission); the time from the actual send is shown too. Each client keeps
//!   one connection (keep-alive), as a poller would, and the token is fetched once.
//! - A refresh's duration is the journal's: from the operation's creation (the start of
//!   Validate) to the end of the last step before sign-off (AwaitSignOff). The driver
//!   polls it every 50 ms in both phases, then signs it off; its own requests are not in
//!   the latency figures.
//! - A 1 GB SQLite refresh takes under a second to a few seconds, and varies with the
//!   disk, so each phase runs as many as fit in its window and their medians are
//!   compared. Only refreshes that started and reached sign-off inside a window count.
//! - Before anything is timed the samples are flushed to disk (`sync FILE`), and one
//!   warm-up refresh is not counted: it replaces the small UAT sample with a
//!   production-sized copy and brings the source into the page cache; after it, every
//!   refresh does the same work.
//!
//! `--wrong-secret-flood` measures something else: the server's peak memory (VmHWM of
//! `/proc/PID/status`) while `--flood-requests` wrong client secrets arrive
//! `--flood-at-once` at a time (each check is an argon2 run of about 19 MiB), and how
//! long until the right secret is accepted again. It needs no samples.

use anyhow::{Context, Result, bail};
use dataalm_core::{OpState, Step, StepRecord};
use reqwest::blocking::Client;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const SOURCE: &str = "prod";
const TARGET: &str = "uat";
/// How often the refresh driver looks at its operation.
const DRIVER_POLL: Duration = Duration::from_millis(50);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const REFRESH_TIMEOUT: Duration = Duration::from_secs(900);
/// The aims: p99 latency under this at the offered rate...
const AIM_P99_MS: f64 = 50.0;
/// ...with at least this share of the offered requests answered...
const AIM_RATE_SHARE: f64 = 0.95;
/// ...and a refresh under load at most this many times as long as without.
const AIM_SLOWDOWN: f64 = 1.10;

#[derive(clap::Args)]
pub struct Options {
    /// Size of the production sample, the refreshes' source (500MB, 1GB, 2GiB...).
    #[arg(long, default_value = "1GB")]
    size: String,
    /// Size of the UAT sample, the target before the first refresh.
    #[arg(long, default_value = "50MB")]
    uat_size: String,
    /// Client threads sharing the load.
    #[arg(long, default_value_t = 8)]
    clients: u32,
    /// Requests per second offered by all clients together.
    #[arg(long, default_value_t = 200.0)]
    rate: f64,
    /// Length of the load window, in seconds.
    #[arg(long, default_value_t = 30.0)]
    seconds: f64,
    /// Length of the window before it in which refreshes run with no load, in seconds;
    /// default: as long as the load window.
    #[arg(long)]
    baseline_seconds: Option<f64>,
    /// Where to put the databases. Samples already there (`prod.db`, `uat.db`) are
    /// reused; the control plane (`home/`) is made afresh. Default: a new directory under
    /// the temporary directory, removed afterwards.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Keep the working directory (databases, control plane, `server.log`) afterwards.
    #[arg(long)]
    keep: bool,
    /// The dataalm binary to serve with.
    #[arg(long, default_value = "target/release/dataalm")]
    dataalm: PathBuf,
    /// Where to write the report as Markdown.
    #[arg(long, default_value = "target/bench-api.md")]
    markdown: PathBuf,
    /// Print the figures as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Keep the service's control plane in PostgreSQL (a throw-away cluster started for
    /// the run) instead of SQLite, as servers sharing one would.
    #[arg(long)]
    store_postgres: bool,
    /// Also write every request of the load as CSV (scheduled send as Unix time in ms,
    /// kind, latencies, size, error), to set against the operations' step times.
    #[arg(long)]
    samples: Option<PathBuf>,
    /// Instead of the load test: send wrong client secrets and report the server's peak
    /// memory (VmHWM) and when the right secret works again.
    #[arg(long)]
    wrong_secret_flood: bool,
    /// Wrong secrets sent in the flood.
    #[arg(long, default_value_t = 640)]
    flood_requests: usize,
    /// How many of them are in flight at once (one client thread each).
    #[arg(long, default_value_t = 64)]
    flood_at_once: usize,
}

pub fn run(options: &Options) -> Result<()> {
    if options.wrong_secret_flood {
        return wrong_secret_flood(options);
    }
    check(options)?;
    let dataalm = dataalm_binary(options)?;
    let (dir, _cleanup) = work_dir(options)?;
    // Held to the end: dropping it stops the cluster.
    let control_plane = options
        .store_postgres
        .then(|| {
            eprintln!("starting a PostgreSQL cluster for the control plane");
            let cluster = dataalm_pgtest::Cluster::start(&dataalm_pgtest::ClusterOptions {
                durable: true,
                ..dataalm_pgtest::ClusterOptions::default()
            })?;
            let db = cluster.create_database("control")?;
            Ok::<_, dataalm_pgtest::Error>((cluster.url(&db), cluster))
        })
        .transpose()
        .context("start the control plane's PostgreSQL cluster")?;
    let cli = Cli {
        dataalm,
        home: dir.join("home"),
        store: control_plane.as_ref().map(|(url, _)| url.clone()),
    };
    let credentials = prepare(&cli, &dir, options)?;
    let server = Server::start(&cli, &dir.join("server.log"))?;
    let api = Api::connect(&server.base, &credentials)?;
    eprintln!("serving on {}", server.base);

    let current = CurrentOp::default();
    eprintln!("warm-up refresh (not counted)");
    let warm_up = refresh_once(&api, &current)?;
    eprintln!("  {:.2} s", warm_up.seconds);
    let (baseline, server_no_load) = no_load_phase(&server, &api, &current, options)?;
    let (loaded, cpu) = measured(&server, || load_phase(&api, &current, options))?;
    drop(server);

    if let Some(path) = &options.samples {
        write_samples(path, &loaded.samples)?;
    }
    let report = Report::new(ReportInput {
        options,
        source_bytes: std::fs::metadata(dir.join("prod.db"))?.len(),
        baseline,
        loaded,
        cpu: CpuUse {
            server_no_load,
            server_under_load: cpu.server,
            bench_under_load: cpu.bench,
        },
    });
    if options.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.render(false));
    }
    write_markdown(&options.markdown, &report.render(true))?;
    eprintln!("wrote {}", options.markdown.display());
    if options.keep {
        eprintln!("kept {}", dir.display());
    }
    Ok(())
}

/// Refreshes back to back for the baseline window, nothing else asking the server.
fn no_load_phase(
    server: &Server,
    api: &Api,
    current: &CurrentOp,
    options: &Options,
) -> Result<(Refreshes, Option<f64>)> {
    let seconds = options.baseline_seconds.unwrap_or(options.seconds);
    eprintln!("refreshes back to back for {seconds} s with no load");
    let end = Instant::now() + Duration::from_secs_f64(seconds);
    let (refreshes, cpu) = measured(server, || refreshes_until(api, current, end))?;
    Ok((refreshes, cpu.server))
}

/// CPU used over some work, in shares of one core.
struct Cpu {
    server: Option<f64>,
    bench: Option<f64>,
}

fn measured<T>(server: &Server, work: impl FnOnce() -> Result<T>) -> Result<(T, Cpu)> {
    let before = (server.cpu_seconds(), own_cpu_seconds());
    let started = Instant::now();
    let result = work()?;
    let elapsed = started.elapsed();
    let cpu = Cpu {
        server: cpu_share(before.0, server.cpu_seconds(), elapsed),
        bench: cpu_share(before.1, own_cpu_seconds(), elapsed),
    };
    Ok((result, cpu))
}

fn dataalm_binary(options: &Options) -> Result<PathBuf> {
    std::fs::canonicalize(&options.dataalm).with_context(|| {
        format!(
            "find {} (build it: cargo build --release -p dataalm-cli)",
            options.dataalm.display()
        )
    })
}

fn check(options: &Options) -> Result<()> {
    if options.clients == 0 {
        bail!("--clients must be at least 1");
    }
    let baseline = options.baseline_seconds.unwrap_or(options.seconds);
    if !(options.rate > 0.0 && options.seconds > 0.0 && baseline > 0.0) {
        bail!("--rate, --seconds and --baseline-seconds must be positive");
    }
    Ok(())
}

// --- setup ------------------------------------------------------------------------

/// The directory to work in and, when we made it, the guard that removes it.
fn work_dir(options: &Options) -> Result<(PathBuf, Option<tempfile::TempDir>)> {
    if let Some(dir) = &options.dir {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
        let dir = std::fs::canonicalize(dir)?;
        return Ok((dir, None));
    }
    let temp = tempfile::Builder::new()
        .prefix("dataalm-bench-api-")
        .tempdir()
        .context("create a working directory")?;
    if options.keep {
        return Ok((temp.keep(), None));
    }
    Ok((temp.path().to_owned(), Some(temp)))
}

/// The dataalm command line, with its control plane.
struct Cli {
    dataalm: PathBuf,
    home: PathBuf,
    /// The control plane's PostgreSQL URL, when it is not in `home`.
    store: Option<String>,
}

impl Cli {
    fn command(&self) -> Command {
        let mut command = Command::new(&self.dataalm);
        command.env("DATAALM_HOME", &self.home);
        match &self.store {
            Some(url) => command.env("DATAALM_STORE", url),
            None => command.env_remove("DATAALM_STORE"),
        };
        command
    }

    /// Runs `dataalm args`; returns its standard output, or fails with its error.
    fn run(&self, args: &[&str]) -> Result<String> {
        let output = self
            .command()
            .args(args)
            .output()
            .with_context(|| format!("run {}", self.dataalm.display()))?;
        if !output.status.success() {
            bail!(
                "dataalm {} failed ({}): {}",
                args.join(" "),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }
}

#[derive(Deserialize)]
struct Credentials {
    client_id: String,
    client_secret: String,
}

/// Samples (made or reused), a fresh control plane with both environments, and an
/// operator registration.
fn prepare(cli: &Cli, dir: &Path, options: &Options) -> Result<Credentials> {
    let prod = dir.join("prod.db");
    let uat = dir.join("uat.db");
    sample(cli, &prod, "production", &options.size, 1)?;
    sample(cli, &uat, "uat", &options.uat_size, 2)?;
    // A sample just written is still being written back; no refresh should pay for it.
    sync(&[&prod, &uat])?;
    remove_leftovers(dir)?;
    if cli.home.exists() {
        std::fs::remove_dir_all(&cli.home)
            .with_context(|| format!("remove {}", cli.home.display()))?;
    }
    let path = |p: &Path| p.to_string_lossy().into_owned();
    cli.run(&[
        "env",
        "add",
        SOURCE,
        "--kind",
        "production",
        "--sqlite",
        &path(&prod),
    ])?;
    cli.run(&[
        "env",
        "add",
        TARGET,
        "--kind",
        "sandbox",
        "--sqlite",
        &path(&uat),
    ])?;
    let registered = cli.run(&["app", "register", "bench", "--role", "operator", "--json"])?;
    serde_json::from_str(&registered).context("read `dataalm app register --json`")
}

/// Makes the finance sample `path` unless it is already there.
fn sample(cli: &Cli, path: &Path, role: &str, size: &str, seed: u64) -> Result<()> {
    if path.is_file() {
        eprintln!("reusing {}", path.display());
        return Ok(());
    }
    eprintln!(
        "generating a {size} {role} sample in {} ...",
        path.display()
    );
    let started = Instant::now();
    let partial = path.with_extension("db.generating");
    remove_if_present(&partial)?;
    cli.run(&[
        "sample",
        "create",
        "--sqlite",
        &partial.to_string_lossy(),
        "--role",
        role,
        "--size",
        size,
        "--seed",
        &seed.to_string(),
    ])?;
    std::fs::rename(&partial, path)?;
    eprintln!("  in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// Flushes these files (`sync FILE...`: the machine's other dirty pages are not ours).
fn sync(paths: &[&Path]) -> Result<()> {
    let status = Command::new("sync")
        .args(paths)
        .status()
        .context("run sync")?;
    if !status.success() {
        bail!("sync failed ({status})");
    }
    Ok(())
}

/// Staging and previous copies an interrupted earlier run left beside the target
/// (`uat.db.dataalm-<op>.*`): the fresh control plane does not know them.
fn remove_leftovers(dir: &Path) -> Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        if name.is_some_and(|n| n.starts_with("uat.db.dataalm-")) {
            eprintln!("removing the leftover {}", path.display());
            remove_if_present(&path)?;
        }
    }
    Ok(())
}

fn remove_if_present(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("remove {}", path.display()))
        }
        _ => Ok(()),
    }
}

// --- the service ------------------------------------------------------------------

/// `dataalm serve` on a free port, killed when dropped.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(cli: &Cli, log: &Path) -> Result<Server> {
        let log_file =
            std::fs::File::create(log).with_context(|| format!("create {}", log.display()))?;
        let child = cli
            .command()
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .context("start dataalm serve")?;
        let mut server = Server {
            child,
            base: String::new(),
        };
        let stdout = server.child.stdout.take().context("no server stdout")?;
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let Some(base) = line.trim().strip_prefix("dataalm API listening on ") else {
            bail!(
                "dataalm serve did not start (said {line:?}; see {})",
                log.display()
            );
        };
        server.base = base.trim_end_matches('/').to_owned();
        // Nothing more is expected, but a full pipe must never stop the server.
        std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
        Ok(server)
    }

    /// CPU time the server has used so far (user + system), refreshes included.
    fn cpu_seconds(&self) -> Option<f64> {
        cpu_seconds_of(&format!("/proc/{}/stat", self.child.id()))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An API client with a token.
struct Api {
    client: Client,
    base: String,
    token: String,
}

impl Api {
    /// Trades the registration's id and secret for a token.
    fn connect(base: &str, credentials: &Credentials) -> Result<Api> {
        let client = new_client()?;
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", &credentials.client_id),
            ("client_secret", &credentials.client_secret),
        ];
        let answer: Value = checked(client.post(format!("{base}/oauth2/token")).form(&form))?;
        let token = answer["access_token"]
            .as_str()
            .context("the token answer has no access_token")?;
        Ok(Api {
            client,
            base: base.to_owned(),
            token: token.to_owned(),
        })
    }

    /// The same service and token over a connection of its own.
    fn with_own_connection(&self) -> Result<Api> {
        Ok(Api {
            client: new_client()?,
            base: self.base.clone(),
            token: self.token.clone(),
        })
    }

    fn get_json<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T> {
        checked(
            self.client
                .get(format!("{}{path}", self.base))
                .bearer_auth(&self.token),
        )
    }

    fn post_json(&self, path: &str, body: &Value) -> Result<Value> {
        checked(
            self.client
                .post(format!("{}{path}", self.base))
                .bearer_auth(&self.token)
                .json(body),
        )
    }

    /// One GET, its body read to the end: its size, or what went wrong.
    fn fetch(&self, path: &str) -> std::result::Result<usize, String> {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .map_err(|e| e.to_string())?;
        let status = response.status();
        let body = response.bytes().map_err(|e| e.to_string())?;
        if !status.is_success() {
            let text = String::from_utf8_lossy(&body);
            return Err(format!(
                "{status}: {}",
                text.chars().take(200).collect::<String>()
            ));
        }
        Ok(body.len())
    }
}

fn new_client() -> Result<Client> {
    Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .context("make an HTTP client")
}

/// Sends a request; a success's JSON body, or the error the service gave.
fn checked<T: serde::de::DeserializeOwned>(
    request: reqwest::blocking::RequestBuilder,
) -> Result<T> {
    let response = request.send()?;
    let status = response.status();
    let url = response.url().path().to_owned();
    if !status.is_success() {
        bail!("{url}: {status}: {}", response.text().unwrap_or_default());
    }
    response
        .json()
        .with_context(|| format!("read the answer of {url}"))
}

// --- the wrong-secret flood -------------------------------------------------------

/// How long a flood request may take: an unbounded server queues them for a long time.
const FLOOD_TIMEOUT: Duration = Duration::from_secs(300);
/// How long the right secret is retried after the flood before giving up.
const RECOVERY_TIMEOUT: Duration = Duration::from_secs(180);

/// What the flood measured.
#[derive(Debug, Serialize)]
struct FloodReport {
    requests: usize,
    at_once: usize,
    seconds: f64,
    /// Answers by status (`"401"`, `"429"`, `"503"`...; `"error"` for no answer).
    answers: std::collections::BTreeMap<String, usize>,
    peak_rss_before_mib: Option<f64>,
    peak_rss_after_mib: Option<f64>,
    /// From the end of the flood until the right secret got a token.
    right_secret_after_seconds: Option<f64>,
}

/// A fresh server and one registration; wrong secrets `--flood-at-once` at a time; the
/// server's VmHWM before and after; then the right secret until it works.
fn wrong_secret_flood(options: &Options) -> Result<()> {
    if options.flood_at_once == 0 || options.flood_requests == 0 {
        bail!("--flood-requests and --flood-at-once must be at least 1");
    }
    let (dir, _cleanup) = work_dir(options)?;
    let cli = Cli {
        dataalm: dataalm_binary(options)?,
        home: dir.join("home"),
        store: None,
    };
    if cli.home.exists() {
        std::fs::remove_dir_all(&cli.home)
            .with_context(|| format!("remove {}", cli.home.display()))?;
    }
    let registered = cli.run(&["app", "register", "flood", "--role", "reader", "--json"])?;
    let credentials: Credentials =
        serde_json::from_str(&registered).context("read `dataalm app register --json`")?;
    let server = Server::start(&cli, &dir.join("server.log"))?;
    let pid = server.child.id();
    let peak_rss_before_mib = peak_rss_mib(pid);
    eprintln!(
        "{} wrong secrets, {} at a time, to {}",
        options.flood_requests, options.flood_at_once, server.base
    );
    let started = Instant::now();
    let answers = flood(&server.base, &credentials.client_id, options)?;
    let seconds = started.elapsed().as_secs_f64();
    let peak_rss_after_mib = peak_rss_mib(pid);
    let right_secret_after_seconds = until_accepted(&server.base, &credentials)?;
    let report = FloodReport {
        requests: options.flood_requests,
        at_once: options.flood_at_once,
        seconds,
        answers,
        peak_rss_before_mib,
        peak_rss_after_mib,
        right_secret_after_seconds,
    };
    if options.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_flood(&report);
    }
    Ok(())
}

/// Sends the wrong secrets; counts the answers by status.
fn flood(
    base: &str,
    client_id: &str,
    options: &Options,
) -> Result<std::collections::BTreeMap<String, usize>> {
    let per_thread = options.flood_requests.div_ceil(options.flood_at_once);
    let statuses: Vec<String> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..options.flood_at_once)
            .map(|n| {
                let count = per_thread.min(options.flood_requests.saturating_sub(n * per_thread));
                scope.spawn(move || {
                    let client = Client::builder().timeout(FLOOD_TIMEOUT).build()?;
                    let form = [
                        ("grant_type", "client_credentials"),
                        ("client_id", client_id),
                        ("client_secret", "dsec_wrong-secret-for-the-flood"),
                    ];
                    let url = format!("{base}/oauth2/token");
                    let statuses = (0..count)
                        .map(|_| match client.post(&url).form(&form).send() {
                            Ok(answer) => answer.status().as_u16().to_string(),
                            Err(_) => "error".to_owned(),
                        })
                        .collect::<Vec<_>>();
                    Ok::<_, anyhow::Error>(statuses)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join()
                    .map_err(|_| anyhow::anyhow!("a flood thread panicked"))?
            })
            .collect::<Result<Vec<_>>>()
            .map(|all| all.into_iter().flatten().collect())
    })?;
    let mut answers = std::collections::BTreeMap::new();
    for status in statuses {
        *answers.entry(status).or_insert(0) += 1;
    }
    Ok(answers)
}

/// Seconds until the right secret gets a token, waiting as `Retry-After` says.
fn until_accepted(base: &str, credentials: &Credentials) -> Result<Option<f64>> {
    let client = new_client()?;
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", credentials.client_id.as_str()),
        ("client_secret", credentials.client_secret.as_str()),
    ];
    let started = Instant::now();
    while started.elapsed() < RECOVERY_TIMEOUT {
        let answer = client
            .post(format!("{base}/oauth2/token"))
            .form(&form)
            .send()?;
        if answer.status().is_success() {
            return Ok(Some(started.elapsed().as_secs_f64()));
        }
        let wait = answer
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok()?.parse().ok())
            .unwrap_or(1);
        std::thread::sleep(Duration::from_secs(wait));
    }
    Ok(None)
}

/// The peak resident set of process `pid` so far (VmHWM), in MiB.
fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}

fn print_flood(report: &FloodReport) {
    let mib = |v: Option<f64>| v.map_or("n/a".to_owned(), |v| format!("{v:.0} MiB"));
    let answers: Vec<String> = report
        .answers
        .iter()
        .map(|(status, n)| format!("{status}: {n}"))
        .collect();
    println!(
        "{} wrong client secrets, {} at a time, in {:.1} s; answers {}",
        report.requests,
        report.at_once,
        report.seconds,
        answers.join(", ")
    );
    println!(
        "server peak RSS (VmHWM): {} before the flood, {} after",
        mib(report.peak_rss_before_mib),
        mib(report.peak_rss_after_mib)
    );
    match report.right_secret_after_seconds {
        Some(s) => println!("the right secret got a token {s:.1} s after the flood"),
        None => println!(
            "the right secret got no token within {} s",
            RECOVERY_TIMEOUT.as_secs()
        ),
    }
}

// --- refreshes --------------------------------------------------------------------

/// The operation the clients poll: the latest refresh.
#[derive(Clone, Default)]
struct CurrentOp(Arc<RwLock<String>>);

impl CurrentOp {
    fn set(&self, id: &str) {
        id.clone_into(&mut self.0.write().unwrap_or_else(|e| e.into_inner()));
    }

    fn get(&self) -> String {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// What `GET /api/operations/{id}` says that the benchmark needs.
#[derive(Deserialize)]
struct OpStatus {
    state: OpState,
    error: Option<String>,
    downtime_ms: Option<u64>,
    steps: Vec<StepRecord>,
}

/// One refresh, as its journal timed it.
#[derive(Debug, Clone, Serialize)]
struct RefreshRun {
    id: String,
    /// Creation to the end of the last step before sign-off.
    seconds: f64,
    /// The CopyToStaging step.
    copy_seconds: f64,
    /// The cutover's downtime as the engine reports it.
    downtime_ms: Option<u64>,
    #[serde(skip)]
    ready_at: Instant,
}

/// Refreshes `uat` from `prod`, waits for it to await sign-off, signs it off.
fn refresh_once(api: &Api, current: &CurrentOp) -> Result<RefreshRun> {
    let answer = api.post_json(
        &format!("/api/environments/{TARGET}/refresh"),
        &json!({"source": SOURCE}),
    )?;
    let id = answer["operation"]
        .as_str()
        .context("the refresh answer names no operation")?
        .to_owned();
    current.set(&id);
    let op = wait_until_done(api, &id)?;
    let ready_at = Instant::now();
    api.post_json(&format!("/api/operations/{id}/signoff"), &json!({}))?;
    Ok(RefreshRun {
        seconds: span(&op.steps, Step::Validate, Step::AwaitSignOff)
            .context("the operation's steps are not timed")?,
        copy_seconds: span(&op.steps, Step::CopyToStaging, Step::CopyToStaging).unwrap_or(0.0),
        downtime_ms: op.downtime_ms,
        ready_at,
        id,
    })
}

/// Polls the operation until it stops running; fails unless it awaits sign-off.
fn wait_until_done(api: &Api, id: &str) -> Result<OpStatus> {
    let started = Instant::now();
    loop {
        let op: OpStatus = api.get_json(&format!("/api/operations/{id}"))?;
        match op.state {
            OpState::Running if started.elapsed() < REFRESH_TIMEOUT => {
                std::thread::sleep(DRIVER_POLL)
            }
            OpState::AwaitingSignOff => return Ok(op),
            state => bail!(
                "operation {id} is {state}: {}",
                op.error.as_deref().unwrap_or("no error given")
            ),
        }
    }
}

/// Seconds from the start of step `from` to the end of step `to`.
fn span(steps: &[StepRecord], from: Step, to: Step) -> Option<f64> {
    let started = steps.iter().find(|s| s.step == from)?.started_at?;
    let ended = steps.iter().find(|s| s.step == to)?.ended_at?;
    Some((ended - started).as_seconds_f64())
}

/// Refreshes back to back until `end`: those that reached sign-off by then, and how
/// many more were still running at `end` (finished, not counted).
fn refreshes_until(api: &Api, current: &CurrentOp, end: Instant) -> Result<Refreshes> {
    let mut runs = Vec::new();
    let mut cut_off = 0;
    while Instant::now() < end {
        let run = refresh_once(api, current)?;
        if run.ready_at > end {
            cut_off += 1;
            continue;
        }
        eprintln!(
            "  {}: {:.2} s (copy {:.2} s)",
            runs.len() + 1,
            run.seconds,
            run.copy_seconds
        );
        runs.push(run);
    }
    Ok(Refreshes { runs, cut_off })
}

struct Refreshes {
    runs: Vec<RefreshRun>,
    cut_off: usize,
}

// --- the load ---------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Status,
    Users,
}

/// One request of a load client.
struct Sample {
    kind: Kind,
    /// The scheduled send, as Unix time.
    scheduled: Duration,
    /// From the scheduled send to the end of the answer.
    from_schedule_ms: f64,
    /// From the actual send to the end of the answer.
    from_send_ms: f64,
    bytes: usize,
    error: Option<String>,
}

/// When a client sends: every `interval` from `first`, until `end`.
#[derive(Clone, Copy)]
struct Schedule {
    first: Instant,
    interval: Duration,
    end: Instant,
    /// `first` on the wall clock, to set requests against the journal's times.
    first_wall: SystemTime,
}

struct Loaded {
    samples: Vec<Sample>,
    refreshes: Refreshes,
    window_seconds: f64,
}

/// Starts the clients and runs refreshes back to back until the window closes.
fn load_phase(api: &Api, current: &CurrentOp, options: &Options) -> Result<Loaded> {
    eprintln!(
        "{} clients, {} requests/s for {} s, refreshes back to back",
        options.clients, options.rate, options.seconds
    );
    let window = Duration::from_secs_f64(options.seconds);
    // A moment for the threads to start, so that every one is on time from the first.
    let start = Instant::now() + Duration::from_millis(100);
    let end = start + window;
    let interval = Duration::from_secs_f64(f64::from(options.clients) / options.rate);
    let clients = (0..options.clients)
        .map(|n| {
            let first = start + interval * n / options.clients;
            let schedule = Schedule {
                first,
                interval,
                end,
                first_wall: SystemTime::now() + first.saturating_duration_since(Instant::now()),
            };
            let client = api.with_own_connection()?;
            let current = current.clone();
            Ok(std::thread::spawn(move || {
                client_loop(&client, &current, schedule, n as usize)
            }))
        })
        .collect::<Result<Vec<_>>>()?;

    std::thread::sleep(start.saturating_duration_since(Instant::now()));
    let refreshes = refreshes_until(api, current, end);
    // The clients stop at `end` whatever happened to the refreshes.
    let samples = clients
        .into_iter()
        .flat_map(|c| c.join().unwrap_or_default())
        .collect();
    Ok(Loaded {
        samples,
        refreshes: refreshes.context("a refresh under load failed")?,
        window_seconds: window.as_secs_f64(),
    })
}

/// One client: alternately the current operation's status and the users, on schedule.
fn client_loop(api: &Api, current: &CurrentOp, schedule: Schedule, offset: usize) -> Vec<Sample> {
    let mut samples = Vec::new();
    for n in 0.. {
        let due = schedule.first + schedule.interval * n;
        if due >= schedule.end || Instant::now() >= schedule.end {
            break;
        }
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        let kind = if (n as usize + offset).is_multiple_of(2) {
            Kind::Status
        } else {
            Kind::Users
        };
        let path = match kind {
            Kind::Status => format!("/api/operations/{}", current.get()),
            Kind::Users => format!("/api/environments/{TARGET}/users"),
        };
        let sent = Instant::now();
        let answer = api.fetch(&path);
        let done = Instant::now();
        samples.push(Sample {
            kind,
            scheduled: (schedule.first_wall + schedule.interval * n)
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default(),
            from_schedule_ms: ms(done - due),
            from_send_ms: ms(done - sent),
            bytes: *answer.as_ref().unwrap_or(&0),
            error: answer.err(),
        });
    }
    samples
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Every request as a CSV line.
fn write_samples(path: &Path, samples: &[Sample]) -> Result<()> {
    let mut text =
        String::from("scheduled_unix_ms,kind,from_schedule_ms,from_send_ms,bytes,error\n");
    let mut sorted: Vec<&Sample> = samples.iter().collect();
    sorted.sort_by_key(|s| s.scheduled);
    for s in sorted {
        let kind = match s.kind {
            Kind::Status => "status",
            Kind::Users => "users",
        };
        let error = s.error.as_deref().unwrap_or("").replace(['"', '\n'], " ");
        let _ = writeln!(
            text,
            "{:.3},{kind},{:.3},{:.3},{},\"{error}\"",
            ms(s.scheduled),
            s.from_schedule_ms,
            s.from_send_ms,
            s.bytes
        );
    }
    std::fs::write(path, text).with_context(|| format!("write {}", path.display()))
}

// --- figures ----------------------------------------------------------------------

/// Latencies of one kind of request (successful answers; errors are counted).
#[derive(Debug, Clone, Serialize)]
struct Latency {
    name: String,
    answered: usize,
    per_second: f64,
    errors: usize,
    first_error: Option<String>,
    p50_ms: f64,
    p90_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    mean_bytes: f64,
}

impl Latency {
    fn of(name: &str, samples: &[&Sample], window_seconds: f64, pick: fn(&Sample) -> f64) -> Self {
        let ok: Vec<&&Sample> = samples.iter().filter(|s| s.error.is_none()).collect();
        let mut values: Vec<f64> = ok.iter().map(|s| pick(s)).collect();
        values.sort_by(f64::total_cmp);
        let bytes: usize = ok.iter().map(|s| s.bytes).sum();
        Latency {
            name: name.to_owned(),
            answered: ok.len(),
            per_second: ok.len() as f64 / window_seconds,
            errors: samples.len() - ok.len(),
            first_error: samples.iter().find_map(|s| s.error.clone()),
            p50_ms: percentile(&values, 0.50),
            p90_ms: percentile(&values, 0.90),
            p99_ms: percentile(&values, 0.99),
            max_ms: values.last().copied().unwrap_or(f64::NAN),
            mean_bytes: bytes as f64 / ok.len().max(1) as f64,
        }
    }
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[derive(Debug, Clone, Serialize)]
struct RefreshFigures {
    runs: Vec<RefreshRun>,
    /// Refreshes still running when the window closed (finished, not counted).
    cut_off: usize,
    median_seconds: f64,
    min_seconds: f64,
    max_seconds: f64,
    median_copy_seconds: f64,
    median_downtime_ms: Option<f64>,
}

impl RefreshFigures {
    fn of(refreshes: Refreshes) -> RefreshFigures {
        let runs = refreshes.runs;
        let seconds: Vec<f64> = runs.iter().map(|r| r.seconds).collect();
        let copy: Vec<f64> = runs.iter().map(|r| r.copy_seconds).collect();
        let downtime: Vec<f64> = runs
            .iter()
            .filter_map(|r| r.downtime_ms.map(|ms| ms as f64))
            .collect();
        RefreshFigures {
            median_seconds: median(&seconds),
            min_seconds: seconds.iter().copied().fold(f64::NAN, f64::min),
            max_seconds: seconds.iter().copied().fold(f64::NAN, f64::max),
            median_copy_seconds: median(&copy),
            median_downtime_ms: (!downtime.is_empty()).then(|| median(&downtime)),
            cut_off: refreshes.cut_off,
            runs,
        }
    }
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// Share of one core used over a phase, when /proc says.
#[derive(Debug, Clone, Serialize)]
struct CpuUse {
    server_no_load: Option<f64>,
    server_under_load: Option<f64>,
    bench_under_load: Option<f64>,
}

fn cpu_share(before: Option<f64>, after: Option<f64>, over: Duration) -> Option<f64> {
    Some((after? - before?) / over.as_secs_f64())
}

/// User + system CPU seconds from a `/proc/<pid>/stat` file.
fn cpu_seconds_of(stat_path: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(stat_path).ok()?;
    // Fields after the command name (in parentheses, which may hold spaces): state is
    // field 3, utime 14 and stime 15.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / clock_ticks())
}

fn own_cpu_seconds() -> Option<f64> {
    cpu_seconds_of("/proc/self/stat")
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 on every Linux in practice).
fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// The machine, for the record.
#[derive(Debug, Clone, Serialize)]
struct Machine {
    cpus: usize,
    cpu_model: String,
    ram_gib: f64,
}

impl Machine {
    fn this() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .and_then(|rest| rest.split_once(':'))
            .map_or("unknown".to_owned(), |(_, model)| model.trim().to_owned());
        let ram_kib: f64 = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(f64::NAN);
        Machine {
            cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
            cpu_model,
            ram_gib: ram_kib / 1024.0 / 1024.0,
        }
    }
}

// --- the report -------------------------------------------------------------------

struct ReportInput<'a> {
    options: &'a Options,
    source_bytes: u64,
    baseline: Refreshes,
    loaded: Loaded,
    cpu: CpuUse,
}

#[derive(Debug, Clone, Serialize)]
struct Report {
    machine: Machine,
    /// `SQLite` or `PostgreSQL`.
    control_plane: &'static str,
    clients: u32,
    offered_per_second: f64,
    window_seconds: f64,
    source_bytes: u64,
    /// Every request, from its scheduled send: what the aim is about.
    all: Latency,
    /// Every request, from its actual send.
    all_from_send: Latency,
    status: Latency,
    users: Latency,
    no_load: RefreshFigures,
    under_load: RefreshFigures,
    /// Median refresh under load over median refresh without.
    slowdown: f64,
    cpu: CpuUse,
    latency_pass: bool,
    refresh_pass: bool,
}

impl Report {
    fn new(input: ReportInput) -> Report {
        let loaded = input.loaded;
        let window = loaded.window_seconds;
        let all: Vec<&Sample> = loaded.samples.iter().collect();
        let of_kind =
            |kind| -> Vec<&Sample> { loaded.samples.iter().filter(|s| s.kind == kind).collect() };
        let from_schedule = |s: &Sample| s.from_schedule_ms;
        let all_latency = Latency::of("all, from schedule", &all, window, from_schedule);
        let no_load = RefreshFigures::of(input.baseline);
        let under_load = RefreshFigures::of(loaded.refreshes);
        let slowdown = under_load.median_seconds / no_load.median_seconds;
        let offered = input.options.rate;
        Report {
            machine: Machine::this(),
            clients: input.options.clients,
            control_plane: if input.options.store_postgres {
                "PostgreSQL"
            } else {
                "SQLite"
            },
            offered_per_second: offered,
            window_seconds: window,
            source_bytes: input.source_bytes,
            latency_pass: all_latency.p99_ms < AIM_P99_MS
                && all_latency.per_second >= AIM_RATE_SHARE * offered
                && all_latency.errors == 0,
            all_from_send: Latency::of("all, from send", &all, window, |s| s.from_send_ms),
            status: Latency::of(
                "operation status",
                &of_kind(Kind::Status),
                window,
                from_schedule,
            ),
            users: Latency::of("users list", &of_kind(Kind::Users), window, from_schedule),
            all: all_latency,
            refresh_pass: slowdown <= AIM_SLOWDOWN,
            slowdown,
            no_load,
            under_load,
            cpu: input.cpu,
        }
    }

    /// The report as plain text, or as Markdown.
    fn render(&self, markdown: bool) -> String {
        // Markdown needs a blank line between paragraphs.
        let gap = if markdown { "\n" } else { "" };
        let mut out = String::new();
        if markdown {
            out.push_str("# dataalm API under load (`scripts/bench-api`)\n\n");
        }
        let m = &self.machine;
        let _ = writeln!(
            out,
            "machine: {} CPUs ({}), {:.1} GiB RAM\n{gap}\
             load: {} clients, {} requests/s offered for {} s (the running operation's \
             status and the user list, alternately), while refreshes of {TARGET} from \
             {SOURCE} ({:.2} GB, SQLite) run back to back; control plane in {}\n{gap}\
             latencies count from the scheduled send (a slow answer also delays the \
             client's next requests), except in the `from send` row\n",
            m.cpus,
            m.cpu_model,
            m.ram_gib,
            self.clients,
            self.offered_per_second,
            self.window_seconds,
            self.source_bytes as f64 / 1e9,
            self.control_plane
        );
        let latencies = [&self.all, &self.all_from_send, &self.status, &self.users];
        out.push_str(&table(
            markdown,
            &[
                "requests", "answered", "req/s", "errors", "p50 ms", "p90 ms", "p99 ms", "max ms",
                "bytes",
            ],
            &latencies.map(latency_row),
        ));
        if let Some(error) = &self.all.first_error {
            let _ = writeln!(out, "{gap}first error: {error}");
        }
        out.push('\n');
        out.push_str(&table(
            markdown,
            &[
                "refreshes",
                "runs",
                "median s",
                "min s",
                "max s",
                "copy median s",
                "downtime median ms",
            ],
            &[
                refresh_row("no load", &self.no_load),
                refresh_row("under load", &self.under_load),
            ],
        ));
        let _ = writeln!(
            out,
            "{gap}a refresh counts from its creation to awaiting sign-off, as journaled; one \
             still running when its window closed is finished but not counted ({} with no \
             load, {} under load)",
            self.no_load.cut_off, self.under_load.cut_off
        );
        let _ = writeln!(out, "\n{}\n", self.cpu_line());
        for line in self.verdicts() {
            let _ = writeln!(out, "{line}{gap}");
        }
        out
    }

    fn cpu_line(&self) -> String {
        let share = |s: Option<f64>| s.map_or("n/a".to_owned(), |s| format!("{:.0}%", s * 100.0));
        format!(
            "CPU, in shares of one core: server {} with no load, {} under load (refreshes included); benchmark clients {} under load",
            share(self.cpu.server_no_load),
            share(self.cpu.server_under_load),
            share(self.cpu.bench_under_load)
        )
    }

    fn verdicts(&self) -> [String; 2] {
        let verdict = |pass| if pass { "PASS" } else { "FAIL" };
        [
            format!(
                "{} latency: p99 {:.1} ms (aim < {AIM_P99_MS} ms) at {:.1} requests/s answered of {} offered (aim >= {:.0}%), {} errors",
                verdict(self.latency_pass),
                self.all.p99_ms,
                self.all.per_second,
                self.offered_per_second,
                AIM_RATE_SHARE * 100.0,
                self.all.errors
            ),
            format!(
                "{} refresh: median {:.2} s under load vs {:.2} s without, {:.2}x (aim <= {AIM_SLOWDOWN:.2}x)",
                verdict(self.refresh_pass),
                self.under_load.median_seconds,
                self.no_load.median_seconds,
                self.slowdown
            ),
        ]
    }
}

fn latency_row(l: &Latency) -> Vec<String> {
    vec![
        l.name.clone(),
        l.answered.to_string(),
        format!("{:.1}", l.per_second),
        l.errors.to_string(),
        format!("{:.2}", l.p50_ms),
        format!("{:.2}", l.p90_ms),
        format!("{:.2}", l.p99_ms),
        format!("{:.2}", l.max_ms),
        format!("{:.0}", l.mean_bytes),
    ]
}

fn refresh_row(name: &str, r: &RefreshFigures) -> Vec<String> {
    vec![
        name.to_owned(),
        r.runs.len().to_string(),
        format!("{:.2}", r.median_seconds),
        format!("{:.2}", r.min_seconds),
        format!("{:.2}", r.max_seconds),
        format!("{:.2}", r.median_copy_seconds),
        match r.median_downtime_ms {
            None => "n/a".to_owned(),
            Some(ms) if ms < 1.0 => "< 1".to_owned(),
            Some(ms) => format!("{ms:.0}"),
        },
    ]
}

/// A table: columns aligned for a terminal, or Markdown. The first column is text, the
/// others numbers.
fn table(markdown: bool, headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = String::new();
    if markdown {
        let _ = writeln!(out, "| {} |", headers.join(" | "));
        let rule: Vec<&str> = (0..headers.len())
            .map(|i| if i == 0 { "---" } else { "---:" })
            .collect();
        let _ = writeln!(out, "| {} |", rule.join(" | "));
        for row in rows {
            let _ = writeln!(out, "| {} |", row.join(" | "));
        }
        return out;
    }
    let widths: Vec<usize> = (0..headers.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].len())
                .chain([headers[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let header: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
    for row in [&header].into_iter().chain(rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (cell, &w))| {
                if i == 0 {
                    format!("{cell:<w$}")
                } else {
                    format!("{cell:>w$}")
                }
            })
            .collect();
        let _ = writeln!(out, "{}", cells.join("  "));
    }
    out
}

fn write_markdown(path: &Path, text: &str) -> Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, text).with_context(|| format!("write {}", path.display()))
}
