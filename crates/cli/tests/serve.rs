//! `dataalm serve` as a process: the journal is the truth, so a server killed in the
//! middle of a refresh finishes it when it starts again.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn dataalm(home: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dataalm"));
    cmd.env("DATAALM_HOME", home)
        .env_remove("DATAALM_FAILPOINT");
    cmd
}

fn ok(home: &Path, args: &[&str]) -> String {
    let out = dataalm(home).args(args).output().expect("run dataalm");
    assert!(
        out.status.success(),
        "dataalm {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A server process and the address it listens on.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(home: &Path, failpoint: Option<&str>) -> Server {
        let mut cmd = dataalm(home);
        cmd.args(["serve", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
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

fn home_with_samples(dir: &Path) -> PathBuf {
    let home = dir.join("home");
    for (name, role, size, seed) in [
        ("prod", "production", "3MB", "1"),
        ("uat", "uat", "2MB", "2"),
    ] {
        let db = dir.join(format!("{name}.db"));
        let db = db.to_str().expect("path");
        ok(
            &home,
            &[
                "sample", "create", "--sqlite", db, "--role", role, "--size", size, "--seed", seed,
            ],
        );
        let kind = if name == "prod" {
            "production"
        } else {
            "sandbox"
        };
        ok(&home, &["env", "add", name, "--kind", kind, "--sqlite", db]);
    }
    home
}

#[test]
fn a_server_killed_during_a_refresh_finishes_it_when_started_again() {
    let dir = tempfile::tempdir().expect("temp dir");
    let home = home_with_samples(dir.path());
    let creds: Value = serde_json::from_str(&ok(
        &home,
        &[
            "app", "register", "pipeline", "--role", "operator", "--json",
        ],
    ))
    .expect("registration JSON");
    let (id, secret) = (
        creds["client_id"].as_str().expect("id"),
        creds["client_secret"].as_str().expect("secret"),
    );

    // The first server dies (abort, as kill -9 would) just before Neutralize.
    let mut first = Server::start(&home, Some("Neutralize:before"));
    let bearer = token(&first.base, id, secret);
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
    let status = ok(&home, &["status", &op, "--json"]);
    let status: Value = serde_json::from_str(&status).expect("status JSON");
    let shown = status["display_state"].as_str().unwrap_or_default();
    assert!(shown.starts_with("interrupted"), "{status}");

    // The second server resumes it on start; the token is still good (same key).
    let second = Server::start(&home, None);
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
    let audit = ok(&home, &["audit", "--json"]);
    assert!(audit.contains("refresh resumed"), "{audit}");
    assert!(audit.contains("app:pipeline"), "{audit}");
}

#[test]
fn the_openapi_document_describes_the_routes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(&dir.path().join("home"), None);
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
    let home = home_with_samples(dir.path());
    let creds: Value = serde_json::from_str(&ok(
        &home,
        &[
            "app", "register", "nightly", "--role", "reader", "--env", "uat", "--json",
        ],
    ))
    .expect("registration JSON");
    let (id, secret) = (
        creds["client_id"].as_str().expect("id"),
        creds["client_secret"].as_str().expect("secret"),
    );
    let listed: Value =
        serde_json::from_str(&ok(&home, &["app", "list", "--json"])).expect("list JSON");
    assert_eq!(listed[0]["name"], "nightly");
    assert_eq!(listed[0]["role"], "reader");
    assert_eq!(listed[0]["environments"], serde_json::json!(["uat"]));
    assert!(listed[0]["revoked_at"].is_null());
    assert!(
        !listed.to_string().contains(secret),
        "the secret is never shown again"
    );

    // An unknown environment is refused and nothing is registered.
    let out = dataalm(&home)
        .args([
            "app", "register", "bad", "--role", "reader", "--env", "nowhere",
        ])
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nowhere"));

    let server = Server::start(&home, None);
    let bearer = token(&server.base, id, secret);
    let envs = get(&server.base, &bearer, "/api/environments");
    assert_eq!(envs.as_array().map(Vec::len), Some(1), "{envs}");

    ok(&home, &["app", "revoke", "nightly"]);
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
        serde_json::from_str(&ok(&home, &["app", "list", "--json"])).expect("list JSON");
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    assert!(listed[0]["revoked_at"].is_string());
    let audit = ok(&home, &["audit"]);
    assert!(
        audit.contains("app register") && audit.contains("app revoke"),
        "{audit}"
    );
}
