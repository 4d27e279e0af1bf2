//! `dataalm serve` as a process: the journal is the truth, so a server killed in the
//! middle of a refresh finishes it when it starts again; of two servers sharing a
//! PostgreSQL control plane, one runs each operation and the other takes it over when
//! the first dies or hangs, with SQLite environments and with PostgreSQL ones; a panic
//! in a step fails that step and the server goes on; and an operation that keeps
//! killing the servers that run it is no longer taken over.

use dataalm_core::Location;
use dataalm_pgtest::Cluster;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where one test's commands keep their control plane: `control.db` in `home`, or the
/// PostgreSQL database `store`.
struct Plane {
    home: PathBuf,
    store: Option<String>,
}

/// The lease time of servers sharing a PostgreSQL control plane in these tests.
const LEASE_SECS: u64 = 2;

impl Plane {
    fn in_home(home: PathBuf) -> Plane {
        Plane { home, store: None }
    }

    fn dataalm(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_dataalm"));
        cmd.env("DATAALM_HOME", &self.home)
            .env_remove("DATAALM_FAILPOINT")
            .env_remove("DATAALM_STORE");
        if let Some(store) = &self.store {
            cmd.env("DATAALM_STORE", store)
                .env("DATAALM_LEASE_SECS", LEASE_SECS.to_string());
        }
        cmd
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.dataalm().args(args).output().expect("run dataalm");
        assert!(
            out.status.success(),
            "dataalm {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs dataalm with `input` as a line on its standard input (a password, say).
    fn with_input(&self, args: &[&str], input: &str) -> std::process::Output {
        use std::io::Write;
        let mut child = self
            .dataalm()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run dataalm");
        let mut stdin = child.stdin.take().expect("stdin");
        writeln!(stdin, "{input}").expect("write to standard input");
        drop(stdin);
        child.wait_with_output().expect("wait")
    }

    /// Registers an operator app; returns its client id and secret.
    fn register(&self, name: &str) -> (String, String) {
        let out = self.ok(&["app", "register", name, "--role", "operator", "--json"]);
        let creds: Value = serde_json::from_str(&out).expect("registration JSON");
        let field = |key: &str| creds[key].as_str().expect(key).to_owned();
        (field("client_id"), field("client_secret"))
    }

    fn operation(&self, op: &str) -> Value {
        serde_json::from_str(&self.ok(&["status", op, "--json"])).expect("status JSON")
    }

    /// Whether operation `op` is in `state` within `limit`.
    fn reaches(&self, op: &str, state: &str, limit: Duration) -> bool {
        eventually(limit, || self.operation(op)["state"] == state)
    }
}

/// A server process and the address it listens on.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(plane: &Plane, failpoint: Option<&str>) -> Server {
        Server::start_logging(plane, failpoint, Stdio::null())
    }

    /// Starts a server whose log (stderr) goes to `log`.
    fn start_logging(plane: &Plane, failpoint: Option<&str>, log: impl Into<Stdio>) -> Server {
        let mut cmd = plane.dataalm();
        cmd.args(["serve", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(log);
        if let Some(failpoint) = failpoint {
            cmd.env("DATAALM_FAILPOINT", failpoint);
        }
        let mut child = cmd.spawn().expect("start dataalm serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the address");
        let base = line.trim().rsplit(' ').next().expect("address").to_owned();
        assert!(base.starts_with("http://127.0.0.1:"), "{line}");
        Server { child, base }
    }

    fn wait_for_exit(&mut self, limit: Duration) -> bool {
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Ok(Some(_)) = self.child.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn token(base: &str, id: &str, secret: &str) -> String {
    let answer: Value = reqwest::blocking::Client::new()
        .post(format!("{base}/oauth2/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", secret),
        ])
        .send()
        .expect("token request")
        .json()
        .expect("token answer");
    answer["access_token"].as_str().expect("a token").to_owned()
}

fn get(base: &str, token: &str, path: &str) -> Value {
    reqwest::blocking::Client::new()
        .get(format!("{base}{path}"))
        .bearer_auth(token)
        .send()
        .expect("request")
        .json()
        .expect("JSON")
}

/// Production and UAT samples in `dir`, registered in a control plane in `dir/home`, or
/// in `store` when given.
fn plane_with_samples(dir: &Path, store: Option<String>) -> Plane {
    let plane = Plane {
        home: dir.join("home"),
        store,
    };
    for (name, role, size, seed) in [
        ("prod", "production", "3MB", "1"),
        ("uat", "uat", "2MB", "2"),
    ] {
        let db = dir.join(format!("{name}.db"));
        let db = db.to_str().expect("path");
        plane.ok(&[
            "sample", "create", "--sqlite", db, "--role", role, "--size", size, "--seed", seed,
        ]);
        let kind = if name == "prod" {
            "production"
        } else {
            "sandbox"
        };
        plane.ok(&["env", "add", name, "--kind", kind, "--sqlite", db]);
    }
    plane
}

#[test]
fn a_server_killed_during_a_refresh_finishes_it_when_started_again() {
    let dir = tempfile::tempdir().expect("temp dir");
    let plane = plane_with_samples(dir.path(), None);
    let (id, secret) = plane.register("pipeline");

    // The first server dies (abort, as kill -9 would) just before Neutralize.
    let mut first = Server::start(&plane, Some("Neutralize:before"));
    let bearer = token(&first.base, &id, &secret);
    let answer = reqwest::blocking::Client::new()
        .post(format!("{}/api/environments/uat/refresh", first.base))
        .bearer_auth(&bearer)
        .json(&serde_json::json!({"source": "prod"}))
        .send()
        .expect("refresh request");
    assert_eq!(answer.status(), 202);
    let op = answer.json::<Value>().expect("JSON")["operation"]
        .as_str()
        .expect("operation id")
        .to_owned();
    assert!(
        first.wait_for_exit(Duration::from_secs(60)),
        "the failpoint did not stop the server"
    );
    let status = plane.operation(&op);
    let shown = status["display_state"].as_str().unwrap_or_default();
    assert!(shown.starts_with("interrupted"), "{status}");

    // The second server resumes it on start; the token is still good (same key).
    let second = Server::start(&plane, None);
    let started = Instant::now();
    let op_now = loop {
        let op_now = get(&second.base, &bearer, &format!("/api/operations/{op}"));
        if op_now["state"] == "awaiting_signoff" || started.elapsed() > Duration::from_secs(60) {
            break op_now;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(op_now["state"], "awaiting_signoff", "{op_now}");
    let steps = op_now["steps"].as_array().expect("steps");
    assert!(steps.iter().all(|s| s["status"] == "done"), "{op_now}");
    let audit = plane.ok(&["audit", "--json"]);
    assert!(audit.contains("refresh resumed"), "{audit}");
    assert!(audit.contains("app:pipeline"), "{audit}");
}

#[test]
fn the_openapi_document_describes_the_routes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(&Plane::in_home(dir.path().join("home")), None);
    let document: Value = reqwest::blocking::get(format!("{}/api/openapi.json", server.base))
        .expect("request")
        .json()
        .expect("JSON");
    assert_eq!(document["info"]["title"], "dataalm");
    let paths = document["paths"].as_object().expect("paths");
    for path in [
        "/oauth2/token",
        "/api/environments/{env}/refresh",
        "/api/operations/{id}/signoff",
        "/api/environments/{env}/users/enable",
        "/env/{env}/api/services/SysBroadcastMessageServices/SysBroadcastMessageService/AddMessage",
        "/databasemovement/v1/fetchstatus/project/{project}/environment/{env}/operationactivity/{id}",
    ] {
        assert!(paths.contains_key(path), "{path} is missing");
    }
    assert!(document["components"]["securitySchemes"]["bearer"].is_object());
}

#[test]
fn registrations_are_listed_and_revoked_from_the_cli() {
    let dir = tempfile::tempdir().expect("temp dir");
    let plane = plane_with_samples(dir.path(), None);
    let creds: Value = serde_json::from_str(&plane.ok(&[
        "app", "register", "nightly", "--role", "reader", "--env", "uat", "--json",
    ]))
    .expect("registration JSON");
    let (id, secret) = (
        creds["client_id"].as_str().expect("id"),
        creds["client_secret"].as_str().expect("secret"),
    );
    let listed: Value =
        serde_json::from_str(&plane.ok(&["app", "list", "--json"])).expect("list JSON");
    assert_eq!(listed[0]["name"], "nightly");
    assert_eq!(listed[0]["role"], "reader");
    assert_eq!(listed[0]["environments"], serde_json::json!(["uat"]));
    assert!(listed[0]["revoked_at"].is_null());
    assert!(
        !listed.to_string().contains(secret),
        "the secret is never shown again"
    );

    // An unknown environment is refused and nothing is registered.
    let out = plane
        .dataalm()
        .args([
            "app", "register", "bad", "--role", "reader", "--env", "nowhere",
        ])
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nowhere"));

    let server = Server::start(&plane, None);
    let bearer = token(&server.base, id, secret);
    let envs = get(&server.base, &bearer, "/api/environments");
    assert_eq!(envs.as_array().map(Vec::len), Some(1), "{envs}");

    plane.ok(&["app", "revoke", "nightly"]);
    let refused = reqwest::blocking::Client::new()
        .get(format!("{}/api/environments", server.base))
        .bearer_auth(&bearer)
        .send()
        .expect("request");
    assert_eq!(
        refused.status(),
        401,
        "a revoked registration's token stops working"
    );
    let listed: Value =
        serde_json::from_str(&plane.ok(&["app", "list", "--json"])).expect("list JSON");
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    assert!(listed[0]["revoked_at"].is_string());
    let audit = plane.ok(&["audit"]);
    assert!(
        audit.contains("app register") && audit.contains("app revoke"),
        "{audit}"
    );
}

/// `app register --public` makes a client with no secret that a portal person signs in
/// through with their password; `serve --public-url` is the base of the discovery
/// document and of what `resource` means by "every environment".
#[test]
fn a_public_client_from_the_cli_takes_passwords_under_the_public_url() {
    let dir = tempfile::tempdir().expect("temp dir");
    let plane = plane_with_samples(dir.path(), None);
    let creds: Value = serde_json::from_str(&plane.ok(&[
        "app", "register", "d365fo", "--public", "--role", "operator", "--json",
    ]))
    .expect("registration JSON");
    let id = creds["client_id"].as_str().expect("id");
    assert!(creds.get("client_secret").is_none(), "{creds}");
    let listed = plane.ok(&["app", "list"]);
    assert!(listed.contains("active (public)"), "{listed}");
    dataalm_store::Store::connect(&dataalm_store::Store::in_home(&plane.home))
        .expect("control plane")
        .create_person("alice", dataalm_core::access::Role::Admin, "correct horse")
        .expect("person");

    let public_url = "https://dataalm.example.com";
    let mut child = plane
        .dataalm()
        .args(["serve", "--listen", "127.0.0.1:0", "--public-url"])
        .arg(format!("{public_url}/"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start dataalm serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read the address");
    let base = line.trim().rsplit(' ').next().expect("address").to_owned();
    let server = Server { child, base };
    let client = reqwest::blocking::Client::new();
    let config: Value = client
        .get(format!(
            "{}/common/v2.0/.well-known/openid-configuration",
            server.base
        ))
        .send()
        .and_then(|r| r.json())
        .expect("discovery");
    assert_eq!(
        config["token_endpoint"],
        format!("{public_url}/common/oauth2/v2.0/token")
    );
    let answer: Value = client
        .post(format!("{}/common/oauth2/token", server.base))
        .form(&[
            ("grant_type", "password"),
            ("resource", public_url),
            ("client_id", id),
            ("username", "alice"),
            ("password", "correct horse"),
            ("scope", "openid"),
        ])
        .send()
        .and_then(|r| r.json())
        .expect("token");
    let token = answer["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{answer}"));
    let envs = get(&server.base, token, "/api/environments");
    assert_eq!(envs.as_array().map(Vec::len), Some(2), "{envs}");
}

// ---------------------------------------------------------------------------------------
// Two servers on one PostgreSQL control plane
// ---------------------------------------------------------------------------------------

/// A new control plane database on this binary's throw-away cluster.
fn postgres_store() -> String {
    let pg = dataalm_pgtest::Cluster::shared("control");
    let db = pg.create_database("control").expect("create database");
    pg.url(&db)
}

/// A server whose log is kept in a file, to read what it said.
struct Logged {
    server: Server,
    log: PathBuf,
}

impl Logged {
    fn start(plane: &Plane, dir: &Path, name: &str, failpoint: Option<&str>) -> Logged {
        let log = dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).expect("log file");
        Logged {
            server: Server::start_logging(plane, failpoint, file),
            log,
        }
    }

    fn pid(&self) -> u32 {
        self.server.child.id()
    }

    fn said(&self, text: &str) -> bool {
        std::fs::read_to_string(&self.log).is_ok_and(|log| log.contains(text))
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {signal}");
    }
}

/// Polls `check` every 100 ms for up to `limit`; whether it came true.
fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    check()
}

/// Starts a refresh of `uat` through `server`; returns the operation id.
fn start_refresh(server: &Server, bearer: &str) -> String {
    start_refresh_of(server, bearer, "uat")
}

/// Starts a refresh of sandbox `env` from `prod` through `server`; returns the operation
/// id.
fn start_refresh_of(server: &Server, bearer: &str, env: &str) -> String {
    let answer = reqwest::blocking::Client::new()
        .post(format!("{}/api/environments/{env}/refresh", server.base))
        .bearer_auth(bearer)
        .json(&serde_json::json!({"source": "prod"}))
        .send()
        .expect("refresh request");
    assert_eq!(answer.status(), 202);
    answer.json::<Value>().expect("JSON")["operation"]
        .as_str()
        .expect("operation id")
        .to_owned()
}

/// The pid in the operation's runner name (`host:pid:space:claim`).
fn runner_pid(op: &Value) -> Option<u32> {
    op["lease"]["runner"]
        .as_str()
        .and_then(|r| r.rsplit(':').nth(2))
        .and_then(|pid| pid.parse().ok())
}

/// Server A starts a refresh and hangs in it (a pause failpoint, then SIGSTOP). While A's
/// lease is renewed, B leaves the operation alone; once it lapses, B takes it over and
/// finishes it. When A wakes up, its next journal write is refused and it stops, so the
/// journal stays B's.
#[test]
fn of_two_servers_one_runs_a_refresh_and_the_other_takes_it_over_when_it_hangs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let plane = plane_with_samples(dir.path(), Some(postgres_store()));
    let (id, secret) = plane.register("pipeline");
    let a = Logged::start(&plane, dir.path(), "a", Some("Neutralize:before:pause"));
    let b = Logged::start(&plane, dir.path(), "b", None);
    let bearer = token(&a.server.base, &id, &secret);
    let op = start_refresh(&a.server, &bearer);

    assert!(
        eventually(Duration::from_secs(60), || a
            .said("Neutralize:before reached, pausing")),
        "A never reached the failpoint: {}",
        a.log()
    );
    // A is paused but alive and renewing: for longer than a lease, nobody takes over.
    let watch = Instant::now();
    while watch.elapsed() < Duration::from_secs(LEASE_SECS * 3 / 2) {
        let now = plane.operation(&op);
        assert_eq!(now["state"], "running", "{now}");
        assert_eq!(runner_pid(&now), Some(a.pid()), "{now}");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(!b.said("taking over"), "{}", b.log());

    // A hangs for good (as far as anyone can tell): B takes over once the lease lapses.
    a.signal("-STOP");
    let stopped = Instant::now();
    assert!(
        plane.reaches(&op, "awaiting_signoff", Duration::from_secs(30)),
        "B did not finish the refresh: {}",
        b.log()
    );
    let taken_after = stopped.elapsed();
    assert!(
        taken_after >= Duration::from_secs(LEASE_SECS) - Duration::from_millis(700),
        "taken over after {taken_after:?}, before A's lease could lapse"
    );
    let finished = plane.operation(&op);
    let steps = finished["steps"].as_array().expect("steps");
    assert!(steps.iter().all(|s| s["status"] == "done"), "{finished}");
    let audit: Value = serde_json::from_str(&plane.ok(&["audit", "--json"])).expect("audit JSON");
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").expect("hostname");
    let b_actor = format!("server {}:{}:", host.trim(), b.pid());
    let resumed = audit.as_array().expect("entries").iter().any(|e| {
        e["action"] == "refresh resumed"
            && e["actor"].as_str().is_some_and(|a| a.starts_with(&b_actor))
    });
    assert!(resumed, "no resume by {b_actor}: {audit}");

    // A wakes up, finishes its pause and tries to go on: refused, it stops.
    a.signal("-CONT");
    assert!(
        eventually(Duration::from_secs(30), || a
            .said("no longer holds its lease")),
        "A did not notice it lost the operation: {}",
        a.log()
    );
    let after = plane.operation(&op);
    assert_eq!(after["state"], "awaiting_signoff", "{after}");
    assert_eq!(
        after["steps"], finished["steps"],
        "A wrote over B's journal"
    );
    // Both servers still answer, and either may sign off.
    let signed = reqwest::blocking::Client::new()
        .post(format!("{}/api/operations/{op}/signoff", a.server.base))
        .bearer_auth(&bearer)
        .send()
        .expect("sign-off request");
    assert_eq!(signed.status(), 200, "{}", a.log());
    assert_eq!(plane.operation(&op)["state"], "signed_off");
}

/// Server A dies in the middle of a refresh (abort, as kill -9): B, on the same machine,
/// sees A's process is gone and takes the refresh over without waiting out the lease.
#[test]
fn of_two_servers_the_survivor_finishes_a_refresh_the_other_crashed_in() {
    let dir = tempfile::tempdir().expect("temp dir");
    let plane = plane_with_samples(dir.path(), Some(postgres_store()));
    let (id, secret) = plane.register("pipeline");
    let mut a = Logged::start(&plane, dir.path(), "a", Some("CopyToStaging:after"));
    let b = Logged::start(&plane, dir.path(), "b", None);
    let bearer = token(&a.server.base, &id, &secret);
    let op = start_refresh(&a.server, &bearer);
    assert!(
        a.server.wait_for_exit(Duration::from_secs(60)),
        "the failpoint did not stop A"
    );
    assert!(
        plane.reaches(&op, "awaiting_signoff", Duration::from_secs(30)),
        "B did not finish the refresh: {}",
        b.log()
    );
    let finished = plane.operation(&op);
    assert!(
        finished["lease"].is_null(),
        "released at sign-off: {finished}"
    );
    let steps = finished["steps"].as_array().expect("steps");
    assert!(steps.iter().all(|s| s["status"] == "done"), "{finished}");
    // The crash came after the copy was journaled: B went on from Neutralize.
    assert!(!b.said("failpoint"), "{}", b.log());
}

/// Production and three sandboxes in PostgreSQL (production on one throw-away server, the
/// sandboxes on another), registered in the control plane `store`.
fn postgres_plane_with_samples(
    dir: &Path,
    store: String,
) -> (Plane, String, Vec<(&'static str, String)>) {
    let (source, target) = (Cluster::shared("source"), Cluster::shared("target"));
    let plane = Plane {
        home: dir.join("home"),
        store: Some(store),
    };
    let prod = source.url(&source.create_database("prod").expect("create prod"));
    plane.ok(&[
        "sample",
        "create",
        "--postgres",
        &prod,
        "--role",
        "production",
        "--size",
        "3MB",
    ]);
    plane.ok(&[
        "env",
        "add",
        "prod",
        "--kind",
        "production",
        "--postgres",
        &prod,
    ]);
    let mut sandboxes = Vec::new();
    for (name, seed) in [("uat", "2"), ("train", "3"), ("test", "4")] {
        let url = target.url(&target.create_database(name).expect("create sandbox"));
        plane.ok(&[
            "sample",
            "create",
            "--postgres",
            &url,
            "--role",
            "uat",
            "--size",
            "1MB",
            "--seed",
            seed,
        ]);
        plane.ok(&["env", "add", name, "--kind", "sandbox", "--postgres", &url]);
        sandboxes.push((name, url));
    }
    (plane, prod, sandboxes)
}

/// `(rows, checksum)` of the business tables (the ones no step after the copy changes) of
/// the PostgreSQL database at `url`.
fn business_tables(url: &str) -> Vec<(String, i64, String)> {
    // Customers and vendors are masked, with the target's own key: not the source's rows.
    const BUSINESS: &[&str] = &["public.sales_line", "public.sales_table"];
    let sums = dataalm_engine::postgres::table_checksums(&Location::Postgres(url.to_owned()))
        .expect("checksums");
    let picked: Vec<_> = sums
        .into_iter()
        .filter(|(table, _, _)| BUSINESS.contains(&table.as_str()))
        .collect();
    assert_eq!(picked.len(), BUSINESS.len(), "tables missing in {url}");
    picked
}

/// Servers A and B share a PostgreSQL control plane, every environment in PostgreSQL.
/// A starts refreshes of three sandboxes and is killed (SIGKILL) in the middle of their
/// copies; B takes them all over and brings each to sign-off with the source's data.
#[test]
fn of_two_servers_the_survivor_finishes_postgres_refreshes_the_other_was_killed_in() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (plane, prod, sandboxes) = postgres_plane_with_samples(dir.path(), postgres_store());
    let source_sums = business_tables(&prod);
    let (id, secret) = plane.register("pipeline");
    let a = Logged::start(&plane, dir.path(), "a", Some("CopyToStaging:during:pause"));
    let b = Logged::start(&plane, dir.path(), "b", None);
    let bearer = token(&a.server.base, &id, &secret);
    let ops: Vec<String> = sandboxes
        .iter()
        .map(|(name, _)| start_refresh_of(&a.server, &bearer, name))
        .collect();
    assert!(
        eventually(Duration::from_secs(60), || a
            .log()
            .matches("CopyToStaging:during reached, pausing")
            .count()
            == ops.len()),
        "A's copies did not all get going: {}",
        a.log()
    );
    for op in &ops {
        let now = plane.operation(op);
        assert_eq!(now["steps"][3]["status"], "running", "{now}");
        assert_eq!(runner_pid(&now), Some(a.pid()), "{now}");
    }
    a.signal("-KILL");

    for op in &ops {
        assert!(
            plane.reaches(op, "awaiting_signoff", Duration::from_secs(120)),
            "B did not finish {op}: {}\n{}",
            plane.operation(op),
            b.log()
        );
        let finished = plane.operation(op);
        let steps = finished["steps"].as_array().expect("steps");
        assert!(steps.iter().all(|s| s["status"] == "done"), "{finished}");
        assert_eq!(finished["takeovers"]["count"], 1, "{finished}");
    }
    for (name, url) in &sandboxes {
        assert_eq!(
            business_tables(url),
            source_sums,
            "{name} is not a full copy"
        );
    }
    assert_eq!(
        business_tables(&prod),
        source_sums,
        "the source was written"
    );
    assert!(!b.said("panicked"), "{}", b.log());
}

/// A panic in a step (a bug) under `serve`: the step is recorded failed with the panic's
/// message, the lease is given up, and the server goes on serving; the operation can be
/// rolled back through it.
#[test]
fn a_panic_in_a_refresh_fails_its_step_and_the_server_goes_on() {
    let dir = tempfile::tempdir().expect("temp dir");
    let plane = plane_with_samples(dir.path(), None);
    let (id, secret) = plane.register("pipeline");
    let mut server = Server::start(&plane, Some("Neutralize:before:panic"));
    let bearer = token(&server.base, &id, &secret);
    let op = start_refresh(&server, &bearer);
    assert!(
        plane.reaches(&op, "failed", Duration::from_secs(60)),
        "the refresh did not fail: {}",
        plane.operation(&op)
    );
    assert!(
        !server.wait_for_exit(Duration::from_millis(500)),
        "the panic took the server down"
    );
    let failed = get(&server.base, &bearer, &format!("/api/operations/{op}"));
    assert_eq!(failed["steps"][4]["status"], "failed", "{failed}");
    let error = failed["error"].as_str().expect("an error");
    assert!(
        error.contains("failpoint Neutralize:before reached"),
        "{failed}"
    );
    assert!(failed["lease"].is_null(), "the lease is given up: {failed}");

    let rolled = reqwest::blocking::Client::new()
        .post(format!("{}/api/operations/{op}/rollback", server.base))
        .bearer_auth(&bearer)
        .send()
        .expect("rollback request");
    assert_eq!(rolled.status(), 200);
    assert_eq!(plane.operation(&op)["state"], "rolled_back");
}

/// An operation that brings down every server that runs it (here each one aborts in the
/// middle of the copy) is taken over until its third runner has died, then no more: the
/// next server records it as failed with the reason and keeps running, and an explicit resume, once
/// the cause is gone, finishes it.
#[test]
fn an_operation_that_keeps_killing_its_servers_is_no_longer_taken_over() {
    let dir = tempfile::tempdir().expect("temp dir");
    let plane = plane_with_samples(dir.path(), None);
    let (id, secret) = plane.register("pipeline");
    let crash = Some("CopyToStaging:during");
    let mut first = Server::start(&plane, crash);
    let bearer = token(&first.base, &id, &secret);
    let op = start_refresh(&first, &bearer);
    assert!(first.wait_for_exit(Duration::from_secs(60)), "no crash");
    // Each server takes the operation over at start, and dies of it in turn.
    for takeover in 1..=2 {
        let mut next = Server::start(&plane, crash);
        assert!(
            next.wait_for_exit(Duration::from_secs(60)),
            "takeover {takeover} did not crash: {}",
            plane.operation(&op)
        );
        assert_eq!(plane.operation(&op)["takeovers"]["count"], takeover);
    }
    // The third runner is dead: the next server counts it, and stops there.
    let mut last = Server::start(&plane, crash);
    assert!(
        plane.reaches(&op, "failed", Duration::from_secs(30)),
        "not marked failed: {}",
        plane.operation(&op)
    );
    assert!(
        !last.wait_for_exit(Duration::from_secs(1)),
        "the server took it over once more"
    );
    let shown = get(&last.base, &bearer, &format!("/api/operations/{op}"));
    let error = shown["error"].as_str().expect("an error");
    assert!(
        error.contains("not taken over again") && error.contains("3 times in a row"),
        "{shown}"
    );
    let status = plane.ok(&["status", &op]);
    assert!(status.contains("not taken over again"), "{status}");
    let audit = plane.ok(&["audit", "--json"]);
    assert!(audit.contains("refresh not taken over"), "{audit}");

    // Someone looked, and the cause is gone: resuming is their decision.
    drop(last);
    plane.ok(&["resume", &op]);
    let done = plane.operation(&op);
    assert_eq!(done["state"], "awaiting_signoff", "{done}");
    assert_eq!(done["takeovers"]["count"], 0, "{done}");
}

/// Portal accounts come from the CLI; the password is read from standard input when it
/// is not a terminal, and only its hash is kept.
#[test]
fn portal_accounts_are_created_from_the_cli() {
    let dir = tempfile::tempdir().expect("temp dir");
    let plane = Plane::in_home(dir.path().join("home"));
    let create = |name: &str, password: &str| {
        plane.with_input(
            &["admin", "create-user", name, "--role", "operator"],
            password,
        )
    };
    let made = create("ada", "a long password");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let short = create("bob", "short");
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("shorter than 8"));
    let again = create("ada", "another long one");
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));

    let people: Value =
        serde_json::from_str(&plane.ok(&["admin", "list-users", "--json"])).expect("JSON");
    assert_eq!(
        people,
        serde_json::json!([{"name": "ada", "role": "operator", "enabled": true}])
    );
    let db = rusqlite::Connection::open(dir.path().join("home/control.db")).expect("open");
    let hash: String = db
        .query_row("SELECT password_hash FROM people", [], |r| r.get(0))
        .expect("hash");
    assert!(hash.starts_with("$argon2") && !hash.contains("long password"));
}

/// `--tls-cert` and `--tls-key` come together; a key that does not belong to the
/// certificate is refused before anything listens; the right pair serves HTTPS.
#[test]
fn tls_files_are_checked_before_the_server_starts() {
    let dir = tempfile::tempdir().unwrap();
    let plane = Plane::in_home(dir.path().join("home"));
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let path = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    std::fs::write(path("server.pem"), cert.pem()).unwrap();
    std::fs::write(path("server.key"), key.serialize_pem()).unwrap();
    let other = rcgen::KeyPair::generate().unwrap();
    std::fs::write(path("other.key"), other.serialize_pem()).unwrap();

    let refused = |args: &[&str]| {
        let out = plane.dataalm().args(args).output().expect("run dataalm");
        assert!(!out.status.success(), "dataalm {args:?} started");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let listen = ["serve", "--listen", "127.0.0.1:0"];
    let alone = refused(&[&listen[..], &["--tls-cert", &path("server.pem")]].concat());
    assert!(alone.contains("--tls-key"), "{alone}");
    let mismatch = refused(
        &[
            &listen[..],
            &[
                "--tls-cert",
                &path("server.pem"),
                "--tls-key",
                &path("other.key"),
            ],
        ]
        .concat(),
    );
    assert!(
        mismatch.contains("other.key does not belong to the certificate"),
        "{mismatch}"
    );

    let mut server = plane
        .dataalm()
        .args(listen)
        .args([
            "--tls-cert",
            &path("server.pem"),
            "--tls-key",
            &path("server.key"),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start dataalm serve");
    let mut line = String::new();
    let stdout = server.stdout.take().expect("stdout");
    BufReader::new(stdout).read_line(&mut line).expect("read");
    let _ = server.kill();
    let _ = server.wait();
    assert!(
        line.starts_with("dataalm API listening on https://127.0.0.1:"),
        "{line}"
    );
}

/// Accounts are disabled, enabled, given a new password, signed out and deleted from
/// the CLI, each audited; the last enabled admin is kept.
#[test]
fn portal_accounts_are_managed_from_the_cli() {
    let dir = tempfile::tempdir().expect("temp dir");
    let plane = Plane::in_home(dir.path().join("home"));
    let with_password = |args: &[&str], password: &str| plane.with_input(args, password);
    for (name, role) in [("root", "admin"), ("ada", "operator")] {
        let made = with_password(
            &["admin", "create-user", name, "--role", role],
            "long password",
        );
        assert!(made.status.success());
    }
    let store = dataalm_store::Store::open(&dir.path().join("home")).expect("store");
    let ada = store.person("ada").expect("ada");
    let token = store
        .open_session(&ada, Duration::from_secs(3600))
        .expect("session");

    let said = plane.ok(&["admin", "disable-user", "ada"]);
    assert!(said.contains("disabled `ada`"), "{said}");
    assert_eq!(store.session(&token).expect("read"), None);
    let listed = plane.ok(&["admin", "list-users"]);
    assert!(listed.contains("disabled"), "{listed}");
    plane.ok(&["admin", "enable-user", "ada"]);
    let changed = with_password(&["admin", "set-password", "ada"], "brand new one");
    assert!(
        changed.status.success(),
        "{}",
        String::from_utf8_lossy(&changed.stderr)
    );
    store
        .authenticate_person("ada", "brand new one")
        .expect("new password");
    let short = with_password(&["admin", "set-password", "ada"], "short");
    assert!(String::from_utf8_lossy(&short.stderr).contains("shorter than 8"));
    let token = store
        .open_session(&ada, Duration::from_secs(3600))
        .expect("session");
    assert!(
        plane
            .ok(&["admin", "end-sessions", "ada"])
            .contains("ended 1 session")
    );
    assert_eq!(store.session(&token).expect("read"), None);

    for action in ["disable-user", "delete-user"] {
        let out = plane
            .dataalm()
            .args(["admin", action, "root"])
            .output()
            .expect("run");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(err.contains("`root` is the last enabled admin"), "{err}");
    }
    let out = plane
        .dataalm()
        .args(["admin", "delete-user", "nobody"])
        .output()
        .expect("run");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no portal account named `nobody`"));
    plane.ok(&["admin", "delete-user", "ada"]);
    let audit = plane.ok(&["audit"]);
    for action in [
        "portal account disable",
        "portal account enable",
        "portal account set password",
        "portal account end sessions",
        "portal account delete",
    ] {
        assert!(audit.contains(action), "{action} in {audit}");
    }
}
