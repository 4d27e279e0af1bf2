//! The `dataalm` binary against a careless operator and a hostile input: what issue 10's
//! checks promise, end to end.

mod common;

use common::Home;
use dataalm_core::Location;
use dataalm_pgtest::Cluster;
use dataalm_store::{KeySource, Store};
use std::process::Stdio;

/// `dataalm history | head` must end quietly when `head` stops reading.
#[test]
fn a_reader_that_goes_away_ends_the_output_quietly() {
    let home = Home::new();
    home.ok(&["refresh", "--from", "prod", "--to", "uat", "--yes"]);
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    for args in [&["history"][..], &["env", "list"], &["status"]] {
        let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("dataalm"))
            .env("DATAALM_HOME", home.path("home"))
            .args(args)
            .stdout(Stdio::from(writer.try_clone().unwrap()))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {:?} {stderr}", out.status);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

/// The home directory and the control plane are private to their owner, and a file
/// an older dataalm left readable is narrowed on the next open.
#[test]
fn the_home_and_the_control_plane_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let home = Home::new();
    let mode = |name: &str| {
        std::fs::metadata(home.path(name))
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("home"), 0o700);
    for file in ["home/control.db", "home/control.db-wal"] {
        if home.path(file).exists() {
            assert_eq!(mode(file), 0o600, "{file}");
        }
    }
    let db = home.path("home/control.db");
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    home.ok(&["env", "list"]);
    assert_eq!(mode("home/control.db"), 0o600);
}

/// Production's file under another name is refused at `env add`, with both names.
#[test]
fn production_under_another_name_is_never_registered_as_a_sandbox() {
    let home = Home::new();
    let dir = home.path("");
    let prod = home.path("prod.db");
    std::fs::create_dir(home.path("real")).unwrap();
    std::fs::hard_link(&prod, home.path("real/linked.db")).unwrap();
    std::os::unix::fs::symlink(&dir, home.path("alias")).unwrap();
    let dotted = dir.join("real/../prod.db");
    let through_link = home.path("alias/prod.db");
    let hard_link = home.path("real/linked.db");
    for path in [&dotted, &through_link, &hard_link] {
        let path = path.to_str().unwrap();
        let stderr = home.fails(&["env", "add", "evil", "--kind", "sandbox", "--sqlite", path]);
        assert!(
            stderr.contains("`evil` is the same database as production environment `prod`"),
            "{path}: {stderr}"
        );
    }
    let envs = home.ok(&["env", "list"]);
    assert!(!envs.contains("evil"), "{envs}");
}

/// A sandbox whose file became production's after it was registered (a hard link put
/// in its place) is refused by the refresh's checks, and production is untouched.
#[test]
fn a_refresh_never_writes_production_under_a_sandbox_name() {
    let home = Home::new();
    let prod = home.path("prod.db");
    let before = std::fs::read(&prod).unwrap();
    home.ok(&[
        "env",
        "add",
        "train",
        "--kind",
        "sandbox",
        "--sqlite",
        home.path("train.db").to_str().unwrap(),
    ]);
    std::fs::hard_link(&prod, home.path("train.db")).unwrap();
    let stderr = home.fails(&["refresh", "--from", "uat", "--to", "train", "--yes"]);
    assert!(
        stderr.contains("`train` is the same database as production environment `prod`"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read(&prod).unwrap(),
        before,
        "production was written"
    );
}

/// A SQLite target that is a symbolic link is refused; the link stays a link.
#[test]
fn a_symlinked_target_is_refused_and_the_link_kept() {
    let home = Home::new();
    let uat = home.path("uat.db");
    std::fs::rename(&uat, home.path("elsewhere.db")).unwrap();
    std::os::unix::fs::symlink(home.path("elsewhere.db"), &uat).unwrap();
    let stderr = home.fails(&["refresh", "--from", "prod", "--to", "uat", "--yes"]);
    assert!(stderr.contains("is a symbolic link to"), "{stderr}");
    assert!(
        std::fs::symlink_metadata(&uat)
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

/// Where one test's commands keep their control plane: `control.db` in the home, or a
/// PostgreSQL database shared by servers.
#[derive(Clone, Copy, Debug)]
enum Plane {
    Sqlite,
    Postgres,
}

/// A home whose commands run with `DATAALM_LOG=trace` on one control plane, keeping all
/// they print for the leak checks; a `production` environment on a real PostgreSQL
/// server, reached with a password, is registered on it.
struct Traced {
    home: Home,
    /// The PostgreSQL control plane's database, for `Plane::Postgres`.
    store: Option<String>,
    /// Everything the commands printed, stdout and stderr, and the server's log.
    transcript: String,
}

impl Traced {
    fn new(plane: Plane) -> Traced {
        let home = Home::new();
        let store = match plane {
            Plane::Sqlite => None,
            Plane::Postgres => {
                let control = Cluster::shared("control");
                Some(control.url(&control.create_database("control").unwrap()))
            }
        };
        let mut traced = Traced {
            home,
            store,
            transcript: String::new(),
        };
        if traced.store.is_some() {
            // Home::new registered prod and uat in control.db: register them here too.
            for (name, kind) in [("prod", "production"), ("uat", "sandbox")] {
                let file = traced.home.path(&format!("{name}.db"));
                let file = file.to_str().unwrap().to_owned();
                traced.ok(&["env", "add", name, "--kind", kind, "--sqlite", &file]);
            }
            let plan = traced.home.path("plan.toml");
            traced.ok(&["plan", "set", "uat", plan.to_str().unwrap()]);
        }
        let ledger = apps_server();
        let url = ledger.url(&ledger.create_database("ledger").unwrap());
        let args = ["env", "add", "ledger", "--kind", "production", "--postgres"];
        traced.ok(&[&args[..], &[url.as_str()]].concat());
        traced
    }

    fn cmd(&self) -> std::process::Command {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("dataalm"));
        cmd.env("DATAALM_HOME", self.home.path("home"))
            .env("DATAALM_LOG", "trace")
            .env_remove("DATAALM_SECRET_KEY")
            .env_remove("DATAALM_FAILPOINT")
            .env_remove("DATAALM_STORE")
            .env_remove("PGPASSWORD");
        if let Some(store) = &self.store {
            cmd.env("DATAALM_STORE", store);
        }
        cmd
    }

    /// Runs `args`, which must succeed; its stdout, which joins the transcript.
    fn ok(&mut self, args: &[&str]) -> String {
        let out = self.cmd().args(args).output().unwrap();
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr),
        );
        assert!(out.status.success(), "{args:?} failed: {stderr}");
        // The command line is not output (and holds the URL the test gave): only its
        // first words are noted.
        let command = args.iter().take(2).copied().collect::<Vec<_>>().join(" ");
        self.transcript
            .push_str(&format!("$ dataalm {command}\n{stdout}{stderr}"));
        stdout
    }

    /// Registers an operator app, the one command whose output is the secret; returns
    /// its client id and secret.
    fn register(&self) -> (String, String) {
        let args = ["app", "register", "ci", "--role", "operator", "--json"];
        let out = self.cmd().args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let creds: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let field = |key: &str| creds[key].as_str().unwrap().to_owned();
        (field("client_id"), field("client_secret"))
    }

    /// Starts `dataalm serve`, asks it for a token and the environments with it, stops it,
    /// and adds its log to the transcript.
    fn serve_and_ask(&mut self, client_id: &str, secret: &str) {
        use std::io::BufRead;
        let log = self.home.path("serve.log");
        let mut child = self
            .cmd()
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut line = String::new();
        let stdout = child.stdout.take().unwrap();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .unwrap();
        let base = line.trim().rsplit(' ').next().unwrap().to_owned();
        let client = reqwest::blocking::Client::new();
        let answer: serde_json::Value = client
            .post(format!("{base}/oauth2/token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", client_id),
                ("client_secret", secret),
            ])
            .send()
            .and_then(|r| r.json())
            .unwrap();
        let token = answer["access_token"].as_str().expect("a token");
        let envs = client
            .get(format!("{base}/api/environments"))
            .bearer_auth(token)
            .send()
            .unwrap();
        assert!(envs.status().is_success(), "{:?}", envs.status());
        let _ = child.kill();
        let _ = child.wait();
        let log = std::fs::read_to_string(&log).unwrap();
        assert!(log.contains("TRACE") || log.contains("DEBUG"), "{log}");
        self.transcript
            .push_str(&format!("$ dataalm serve\n{line}{log}"));
    }

    /// The token signing key (ES256, PKCS#8), read through the store with the home's
    /// secret key.
    fn signing_key(&self) -> Vec<u8> {
        let location = match &self.store {
            Some(url) => Location::Postgres(url.clone()),
            None => Store::in_home(&self.home.path("home")),
        };
        let key = KeySource::for_home(&self.home.path("home"));
        Store::connect_with_key(&location, key)
            .and_then(|store| store.token_key())
            .unwrap()
    }

    /// Everything the control plane holds, as bytes: control.db and its WAL, or a dump
    /// of the `dataalm` schema.
    fn dump(&self) -> Vec<u8> {
        let Some(url) = &self.store else {
            let db = self.home.path("home/control.db");
            let mut bytes = std::fs::read(&db).unwrap();
            bytes.extend(std::fs::read(db.with_extension("db-wal")).unwrap_or_default());
            return bytes;
        };
        let control = Cluster::shared("control");
        let out = std::process::Command::new(control.bin_dir().join("pg_dump"))
            .args(["--schema=dataalm", "--dbname", url])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("token_key_es256"));
        out.stdout
    }
}

fn apps_server() -> &'static Cluster {
    Cluster::shared("apps")
}

/// The forms a secret may be printed or stored in.
fn forms(key: &[u8]) -> Vec<Vec<u8>> {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    vec![
        key.to_vec(),
        hex::encode(key).into_bytes(),
        STANDARD.encode(key).into_bytes(),
        URL_SAFE_NO_PAD.encode(key).into_bytes(),
    ]
}

/// Which of `secrets` (named) occur in `haystack`.
fn found_in(haystack: &[u8], secrets: &[(&str, Vec<u8>)]) -> Vec<String> {
    secrets
        .iter()
        .filter(|(_, secret)| {
            haystack
                .windows(secret.len())
                .any(|w| w == secret.as_slice())
        })
        .map(|(name, _)| (*name).to_owned())
        .collect()
}

/// No log level prints a secret, on either control plane, and the control plane keeps
/// none in the clear: after `env add` with a password URL, a refresh, an app registered
/// and a token issued, neither the commands' and server's trace output nor control.db /
/// a dump of the `dataalm` schema holds the password, the client secret or the signing
/// key (raw, hex or base64).
fn secrets_stay_out_of_logs_and_the_control_plane(plane: Plane) {
    let mut traced = Traced::new(plane);
    traced.ok(&["refresh", "--from", "prod", "--to", "uat", "--yes"]);
    traced.ok(&["env", "list"]);
    let (client_id, secret) = traced.register();
    traced.serve_and_ask(&client_id, &secret);

    let key = traced.signing_key();
    let key_file = std::fs::read(traced.home.path("home/secret.key")).unwrap();
    let mut secrets = vec![
        (
            "the environment's password",
            apps_server().password().into(),
        ),
        ("the client secret", secret.clone().into_bytes()),
        ("the secret key", key_file.trim_ascii().to_vec()),
    ];
    secrets.extend(forms(&key).into_iter().map(|f| ("the signing key", f)));
    let printed = found_in(traced.transcript.as_bytes(), &secrets);
    assert!(printed.is_empty(), "{plane:?}: printed {printed:?}");
    assert!(
        traced.transcript.contains("TRACE"),
        "no trace output was checked"
    );
    let stored = found_in(&traced.dump(), &secrets);
    assert!(
        stored.is_empty(),
        "{plane:?}: the control plane holds {stored:?}"
    );
}

#[test]
fn secrets_stay_out_of_logs_and_control_db() {
    secrets_stay_out_of_logs_and_the_control_plane(Plane::Sqlite);
}

#[test]
fn secrets_stay_out_of_logs_and_a_postgres_control_plane() {
    secrets_stay_out_of_logs_and_the_control_plane(Plane::Postgres);
}

/// A copy of control.db without its key file gives no working credential: nothing that
/// needs a secret opens (the environments' passwords, the server's signing key), the
/// error says how to give the key back, and no new key is made in its place. With the
/// key given in DATAALM_SECRET_KEY, the copy works.
#[test]
fn a_copy_of_control_db_alone_opens_no_secret() {
    let traced = Traced::new(Plane::Sqlite);
    traced.register();
    traced.signing_key();
    let key_text = std::fs::read_to_string(traced.home.path("home/secret.key")).unwrap();
    let copy = traced.home.path("copy");
    std::fs::create_dir(&copy).unwrap();
    std::fs::copy(traced.home.path("home/control.db"), copy.join("control.db")).unwrap();
    let run = |args: &[&str], key: Option<&str>| {
        let mut cmd = traced.cmd();
        cmd.env("DATAALM_HOME", &copy).args(args);
        if let Some(key) = key {
            cmd.env("DATAALM_SECRET_KEY", key);
        }
        cmd.output().unwrap()
    };
    let stderr = |out: &std::process::Output| String::from_utf8_lossy(&out.stderr).into_owned();

    for args in [
        &["env", "show", "ledger"][..],
        &["serve", "--listen", "127.0.0.1:0"],
    ] {
        let out = run(args, None);
        assert!(!out.status.success(), "{args:?} worked without the key");
        let err = stderr(&out);
        assert!(
            err.contains("key is missing: set DATAALM_SECRET_KEY or restore")
                && err.contains("copy/secret.key"),
            "{args:?}: {err}"
        );
    }
    assert!(!copy.join("secret.key").exists(), "a new key was made");

    let another = "CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=";
    let out = run(&["serve", "--listen", "127.0.0.1:0"], Some(another));
    let err = stderr(&out);
    assert!(!out.status.success());
    assert!(
        err.contains("the control plane's secrets were encrypted with another key")
            && err.contains("DATAALM_SECRET_KEY"),
        "{err}"
    );

    let out = run(&["env", "show", "ledger"], Some(key_text.trim()));
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run(&["env", "list"], Some("not a key"));
    let err = stderr(&out);
    assert!(!out.status.success());
    assert!(err.contains("DATAALM_SECRET_KEY is not base64"), "{err}");
    assert!(!err.contains("not a key"), "{err}");
}

/// A profile is registered content: `env add` names it, and a refresh uses the text as
/// registered even after the file changed (here into one that cannot work).
#[test]
fn a_refresh_uses_the_registered_profile_not_the_file() {
    let home = Home::new();
    let file = home.path("erp.toml");
    let finance = home.ok(&["profile", "show", "finance"]);
    std::fs::write(&file, &finance).unwrap();
    let said = home.ok(&["profile", "add", "erp", file.to_str().unwrap()]);
    assert!(said.contains("registered profile `erp`"), "{said}");
    std::fs::copy(home.path("uat.db"), home.path("train.db")).unwrap();
    home.ok(&[
        "env",
        "add",
        "train",
        "--kind",
        "sandbox",
        "--profile",
        "erp",
        "--sqlite",
        home.path("train.db").to_str().unwrap(),
    ]);
    let broken = "name = \"erp\"\n[users]\ntable = \"people\"\nid = \"id\"\nemail = \"e\"\nenabled = \"on\"\n";
    std::fs::write(&file, broken).unwrap();

    home.ok(&["refresh", "--from", "prod", "--to", "train", "--yes"]);
    assert_eq!(home.latest_op()["state"], "awaiting_signoff");
    assert_eq!(home.ok(&["profile", "show", "erp"]), finance);
    let listed: serde_json::Value =
        serde_json::from_str(&home.ok(&["profile", "list", "--json"])).unwrap();
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["finance", "none", "erp"]);

    // The same name for other content is refused, the registered text kept.
    let err = home.fails(&["profile", "add", "erp", file.to_str().unwrap()]);
    assert!(
        err.contains("a different profile is already registered as `erp`"),
        "{err}"
    );
    assert_eq!(home.ok(&["profile", "show", "erp"]), finance);
}

/// `env add --profile FILE` registers the file under its stem, and refuses a stem that
/// names another profile; an unknown name lists the registered ones.
#[test]
fn env_add_registers_a_profile_file_under_its_stem() {
    let home = Home::new();
    let dir = home.path("a");
    std::fs::create_dir(&dir).unwrap();
    let finance = home.ok(&["profile", "show", "finance"]);
    std::fs::write(dir.join("erp.toml"), &finance).unwrap();
    std::fs::copy(home.path("uat.db"), home.path("train.db")).unwrap();
    let train = home.path("train.db");
    let add = |name: &str, profile: &str| {
        home.cmd(&[
            "env",
            "add",
            name,
            "--kind",
            "sandbox",
            "--sqlite",
            train.to_str().unwrap(),
            "--profile",
            profile,
        ])
        .output()
        .unwrap()
    };
    let out = add("train", dir.join("erp.toml").to_str().unwrap());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shown = home.ok(&["env", "show", "train"]);
    assert!(shown.contains("profile:  erp"), "{shown}");

    home.ok(&["env", "remove", "train"]);
    std::fs::write(dir.join("finance.toml"), "name = \"other\"\n").unwrap();
    let out = add("train", dir.join("finance.toml").to_str().unwrap());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("a different profile is already registered as `finance`"),
        "{err}"
    );
    let out = add("train", "nosuch");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown profile nosuch (registered: finance, none, erp)"),
        "{err}"
    );
    let listed = home.ok(&["env", "list"]);
    assert!(!listed.contains("train"), "{listed}");
}

/// A file that is not a profile gets an error with its name and the position, and none
/// of its content.
#[test]
fn a_bad_profile_file_is_refused_without_quoting_it() {
    let home = Home::new();
    let file = home.path("shadow");
    std::fs::write(&file, "root:$y$j9T$TopSecret42:19000:0:99999:7:::\n").unwrap();
    let err = home.fails(&["profile", "add", "stolen", file.to_str().unwrap()]);
    assert!(
        err.contains(&format!(
            "invalid profile {}: line 1, column",
            file.display()
        )),
        "{err}"
    );
    for piece in ["root", "TopSecret42", "19000"] {
        assert!(!err.contains(piece), "{piece} leaked: {err}");
    }
    let err = home.fails(&["profile", "add", "../x", file.to_str().unwrap()]);
    assert!(err.contains("invalid profile name `../x`"), "{err}");
    let err = home.fails(&[
        "profile",
        "add",
        "gone",
        home.path("nope.toml").to_str().unwrap(),
    ]);
    assert!(err.contains("cannot read profile file"), "{err}");
    let listed = home.ok(&["profile", "list"]);
    assert!(
        !listed.contains("stolen") && !listed.contains("gone"),
        "{listed}"
    );
}

/// A control plane from before registered profiles, whose environment names a file:
/// opening it registers the file's content and points the environment at it; a file
/// that cannot be read is reported when the environment is used.
#[test]
fn environments_naming_a_file_are_upgraded() {
    let home = Home::new();
    let file = home.path("legacy.toml");
    std::fs::write(&file, home.ok(&["profile", "show", "finance"])).unwrap();
    let control = home.path("home/control.db");
    let downgrade = |path: &std::path::Path| {
        let db = rusqlite::Connection::open(&control).unwrap();
        let body: String = db
            .query_row(
                "SELECT body FROM environments WHERE name = 'uat'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        let mut env: serde_json::Value = serde_json::from_str(&body).unwrap();
        env["profile"] = path.to_str().unwrap().into();
        db.execute(
            "UPDATE environments SET body = ?1 WHERE name = 'uat'",
            [env.to_string()],
        )
        .unwrap();
        db.execute_batch("DROP TABLE profiles; PRAGMA user_version = 3;")
            .unwrap();
    };
    downgrade(&file);
    let shown = home.ok(&["env", "show", "uat"]);
    assert!(shown.contains("profile:  legacy"), "{shown}");
    assert!(home.ok(&["profile", "list"]).contains("legacy"));

    let missing = home.path("missing.toml");
    downgrade(&missing);
    let err = home.fails(&["refresh", "--from", "prod", "--to", "uat", "--yes"]);
    assert!(
        err.contains(&format!("names profile file {}", missing.display())),
        "{err}"
    );
    std::fs::copy(&file, &missing).unwrap();
    let said = home.ok(&["profile", "add", "kept", missing.to_str().unwrap()]);
    assert!(
        said.contains("environment `uat` now uses profile `kept`"),
        "{said}"
    );
    home.ok(&["refresh", "--from", "prod", "--to", "uat", "--yes"]);
}
