//! The web portal in a real browser: headless Chromium (the harness is in `browser`)
//! against a real server over the finance samples, checking what the pages show at
//! each step. Screenshots of the main pages land in `target/portal-screenshots/`.

mod browser;
mod running;
mod samples;

use axum::Router;
use axum::response::Html;
use axum::routing::get;
use browser::Browser;
use dataalm_core::access::Role;
use dataalm_core::{EnvKind, Environment, Location};
use dataalm_store::Store;
use std::path::PathBuf;
use std::time::Duration;
use tempfile::TempDir;

const PAGE: &str = r#"<!doctype html>
<title>smoke</title>
<h1 id="title">Hello, browser</h1>
<input id="name">
<input id="file" type="file">
<button id="go" onclick="
  document.getElementById('out').textContent =
    'Hi ' + document.getElementById('name').value +
    ' / ' + (document.getElementById('file').files[0] || {}).name">Go</button>
<p id="out"></p>
"#;

/// The harness can drive Chromium: navigate, read, type, choose a file, click, run
/// JavaScript in Paris time, take a screenshot. Each test runs on its own runtime,
/// with the page served from it.
#[tokio::test(flavor = "multi_thread")]
async fn browser_opens_a_page() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = Router::new().route("/", get(|| async { Html(PAGE) }));
    tokio::spawn(async move { axum::serve(listener, app).await });

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ledger.csv");
    std::fs::write(&file, "a,b\n1,2\n").unwrap();

    let browser = Browser::start().await;
    browser.goto(&format!("{base}/")).await;
    assert_eq!(browser.text("#title").await, "Hello, browser");
    assert!(browser.exists("#go").await);
    assert!(!browser.exists("#missing").await);
    browser.fill("#name", "Ada").await;
    browser.upload("#file", &file).await;
    browser.click("#go").await;
    browser
        .wait_for_text("#out", "Hi Ada / ledger.csv", Duration::from_secs(5))
        .await;
    assert!(browser.page_text().await.contains("Hello, browser"));

    let zone = browser
        .execute("return Intl.DateTimeFormat().resolvedOptions().timeZone")
        .await;
    assert_eq!(zone, "Europe/Paris");

    let shot = browser.screenshot("browser_opens_a_page").await;
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG"),
        "{} is not a PNG",
        shot.display()
    );
    browser.quit().await;
}

// ---------------------------------------------------------------------------------------
// Fixture
// ---------------------------------------------------------------------------------------

/// Every portal account's password.
const PASSWORD: &str = "correct horse battery";

/// A user whose name is a script, to show it is printed as text.
const SCRIPT_NAME: &str = "<script>window.pwned = 1</script>";

/// A server with the portal over its own control plane: `prod` and `uat` (with a plan
/// that enables five users and leaves batch jobs withheld), and three people: ada
/// (admin), olga (operator) and rita (reader).
struct Portal {
    home: TempDir,
    base: String,
}

impl Portal {
    fn start() -> Portal {
        let home = tempfile::tempdir().expect("temp home");
        let dbs = home.path().join("dbs");
        std::fs::create_dir(&dbs).expect("dbs dir");
        samples::copy_into(&dbs);
        let prod = rusqlite::Connection::open(dbs.join("prod.db")).expect("open");
        prod.execute(
            "INSERT INTO user_info (id, name, email, enabled) VALUES ('xss', ?1, 'xss@example.com', 0)",
            [SCRIPT_NAME],
        )
        .expect("add the script user");
        let store = Store::open(home.path()).expect("control plane");
        for (name, kind) in [("prod", EnvKind::Production), ("uat", EnvKind::Sandbox)] {
            store
                .add_env(&Environment {
                    name: name.into(),
                    kind,
                    location: Location::Sqlite(dbs.join(format!("{name}.db"))),
                    profile: "finance".into(),
                    url: None,
                    settings: Default::default(),
                })
                .expect("add env");
        }
        let mut plan = dataalm_finance::demo_plan();
        plan.batch_jobs.waiting = None;
        store.set_plan("uat", &plan.to_toml()).expect("plan");
        for (name, role) in [
            ("ada", Role::Admin),
            ("olga", Role::Operator),
            ("rita", Role::Reader),
        ] {
            store.create_person(name, role, PASSWORD).expect("person");
        }
        drop(store);

        let addr = running::serve(&Store::in_home(home.path()), None);
        Portal {
            home,
            base: format!("http://{addr}"),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn db(&self, env: &str) -> PathBuf {
        self.home.path().join("dbs").join(format!("{env}.db"))
    }

    /// Whether user `id` is enabled in `env`'s database.
    fn enabled(&self, env: &str, id: &str) -> bool {
        let conn = rusqlite::Connection::open(self.db(env)).expect("open");
        conn.query_row("SELECT enabled FROM user_info WHERE id = ?1", [id], |r| {
            r.get::<_, i64>(0)
        })
        .expect("user")
            == 1
    }

    /// Signs `name` in through the login form.
    async fn sign_in(&self, browser: &Browser, name: &str) {
        browser.goto(&self.url("/portal")).await;
        assert!(browser.current_url().await.contains("/portal/login"));
        browser.fill("#name", name).await;
        browser.fill("#password", PASSWORD).await;
        browser.click("#sign-in").await;
        browser
            .wait_for_text("#who", name, Duration::from_secs(10))
            .await;
    }

    /// Refreshes uat from prod through the refresh page and waits for AwaitSignOff;
    /// returns the operation's page URL.
    async fn refresh_uat(&self, browser: &Browser) -> String {
        browser.click("#nav-refresh").await;
        let targets = browser
            .execute("return [...document.querySelectorAll('#target option')].map(o => o.value)")
            .await;
        assert_eq!(
            targets,
            serde_json::json!(["", "uat"]),
            "production is never a target"
        );
        browser
            .execute(
                "document.querySelector('#source').value = 'prod';
                 document.querySelector('#target').value = 'uat';",
            )
            .await;
        browser.click("#preview").await;
        browser
            .wait_for_text(
                "#what-will-happen",
                "Refresh uat from prod",
                Duration::from_secs(10),
            )
            .await;
        browser.fill("#confirm", "uat").await;
        browser.click("#start-refresh").await;
        browser
            .wait_for_text("#op-state", "awaiting_signoff", Duration::from_secs(90))
            .await;
        browser.current_url().await
    }
}

/// `id`s of `count` users that are disabled in `env`, not the script user.
fn disabled_users(portal: &Portal, env: &str, count: usize) -> Vec<String> {
    let conn = rusqlite::Connection::open(portal.db(env)).expect("open");
    let mut stmt = conn
        .prepare("SELECT id FROM user_info WHERE enabled = 0 AND id <> 'xss' ORDER BY id LIMIT ?1")
        .expect("prepare");
    stmt.query_map([count as i64], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("ids")
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

/// The whole training refresh, as a person does it: sign in, start a refresh, watch it
/// reach AwaitSignOff, enable users from an XLSX file, set the withheld jobs to waiting,
/// message the online users, sign off; and every action is in the audit log.
#[tokio::test(flavor = "multi_thread")]
async fn a_refresh_from_start_to_sign_off() {
    let portal = Portal::start();
    let browser = Browser::start().await;

    // A wrong password is refused, in words.
    browser.goto(&portal.url("/portal/login")).await;
    browser.fill("#name", "ada").await;
    browser.fill("#password", "not the password").await;
    browser.click("#sign-in").await;
    browser
        .wait_for_text("#error", "wrong name or password", Duration::from_secs(10))
        .await;

    portal.sign_in(&browser, "ada").await;
    let overview = browser.text("#environments").await;
    assert!(
        overview.contains("prod") && overview.contains("production"),
        "{overview}"
    );
    assert!(
        overview.contains("uat") && overview.contains("never"),
        "{overview}"
    );
    browser.screenshot("environments").await;

    let op_url = portal.refresh_uat(&browser).await;
    let steps = browser.text("#steps").await;
    for step in ["CopyToStaging", "Neutralize", "Cutover", "Reconfigure"] {
        assert!(steps.contains(step), "{steps}");
    }
    let statuses = browser
        .execute("return [...document.querySelectorAll('#steps .status')].map(s => s.textContent)")
        .await;
    let statuses: Vec<String> = serde_json::from_value(statuses).expect("statuses");
    assert_eq!(statuses.len(), 9);
    assert!(statuses.iter().all(|s| s == "done"), "{statuses:?}");
    assert!(browser.exists("#downtime").await);
    assert!(browser.exists("#sign-off").await && browser.exists("#roll-back").await);
    browser.screenshot("operation").await;

    // Enable three users by uploading a real XLSX file.
    let chosen = disabled_users(&portal, "uat", 3);
    assert_eq!(chosen.len(), 3);
    let list = portal.home.path().join("enable.xlsx");
    let users: Vec<dataalm_app::users::User> = chosen
        .iter()
        .map(|id| dataalm_app::users::User {
            id: id.clone(),
            name: None,
            email: String::new(),
            enabled: false,
        })
        .collect();
    dataalm_app::userlist::write_users_xlsx(&list, &users).expect("write xlsx");
    browser.goto(&portal.url("/portal/env/uat")).await;
    browser.upload("#user-file", &list).await;
    browser.click("#upload-users").await;
    browser
        .wait_for_text(
            "#notice",
            "enabled 3 user(s) from the file",
            Duration::from_secs(10),
        )
        .await;
    for id in &chosen {
        assert!(portal.enabled("uat", id), "{id} is not enabled");
    }
    browser.fill("#user-search", &chosen[0]).await;
    browser
        .click("#users form button[type=submit], #users .filters button")
        .await;
    let row = browser
        .text(&format!("tr[data-user='{}'] .enabled", chosen[0]))
        .await;
    assert_eq!(row, "yes");

    // Every withheld job back to waiting.
    browser
        .goto(&portal.url("/portal/env/uat?job_status=withhold"))
        .await;
    let withheld = browser
        .execute("return document.querySelectorAll('#job-table tbody tr').length")
        .await;
    assert!(
        withheld.as_u64().unwrap_or(0) > 0,
        "the copy's jobs are withheld"
    );
    browser.click("#set-withheld-jobs").await;
    browser
        .wait_for_text("#notice", "job(s) set to waiting", Duration::from_secs(10))
        .await;
    browser
        .goto(&portal.url("/portal/env/uat?job_status=withhold"))
        .await;
    let left = browser
        .execute("return document.querySelectorAll('#job-table tbody tr').length")
        .await;
    assert_eq!(left, 0, "no job is withheld any more");

    // A message, typed in Paris time (UTC+1 in December), stored in UTC.
    browser.set_value("#message-from", "2026-12-01T09:30").await;
    browser.set_value("#message-to", "2026-12-01T18:00").await;
    browser
        .fill("#message-text", "UAT was refreshed from production")
        .await;
    browser.click("#post-message").await;
    browser
        .wait_for_text(
            "#notice",
            "shown from 2026-12-01T08:30:00Z to 2026-12-01T17:00:00Z",
            Duration::from_secs(10),
        )
        .await;
    let messages = browser.text("#message-table").await;
    assert!(messages.contains("2026-12-01T08:30:00Z"), "{messages}");
    assert!(
        messages.contains("UAT was refreshed from production"),
        "{messages}"
    );
    browser.screenshot("environment").await;

    // The plan's dry run lists what applying it would change, and changes nothing.
    browser.click("#dry-run").await;
    browser
        .wait_for_text("#plan-changes", "change(s)", Duration::from_secs(10))
        .await;
    // A plan typed in the box is checked before anything: the box keeps it.
    browser.set_value("#plan-text", "[users\nenable = 1").await;
    browser.click("#dry-run").await;
    browser
        .wait_for_text("#error", "plan", Duration::from_secs(10))
        .await;
    let kept = browser
        .execute("return document.querySelector('#plan-text').value")
        .await;
    assert_eq!(kept, "[users\nenable = 1");

    // Sign off.
    browser.goto(&op_url).await;
    browser.click("#sign-off").await;
    browser
        .wait_for_text("#notice", "signed off", Duration::from_secs(30))
        .await;
    assert_eq!(browser.text("#op-state").await, "signed_off");
    assert!(!browser.exists("#sign-off").await && !browser.exists("#roll-back").await);

    browser.click("#nav-audit").await;
    let audit = browser.text("#audit").await;
    for action in [
        "portal sign-in",
        "refresh started",
        "users enable",
        "jobs set-status waiting",
        "message",
        "signed off",
    ] {
        assert!(
            audit.contains(action),
            "{action} is not in the audit log: {audit}"
        );
    }
    assert!(audit.contains("person:ada"), "{audit}");
    browser.quit().await;
}

/// A user name holding a script is shown as text, and the script never runs.
#[tokio::test(flavor = "multi_thread")]
async fn markup_in_data_is_shown_as_text() {
    let portal = Portal::start();
    let browser = Browser::start().await;
    portal.sign_in(&browser, "olga").await;
    browser.goto(&portal.url("/portal/env/prod?q=xss")).await;
    let row = browser.text("tr[data-user='xss']").await;
    assert!(row.contains(SCRIPT_NAME), "{row}");
    let ran = browser.execute("return window.pwned === 1").await;
    assert_eq!(ran, false, "the user's name ran as a script");
    browser.quit().await;
}

/// A form posted without its CSRF token is refused and changes nothing.
#[tokio::test(flavor = "multi_thread")]
async fn a_form_without_its_csrf_token_is_refused() {
    let portal = Portal::start();
    let browser = Browser::start().await;
    portal.sign_in(&browser, "olga").await;
    let victim = disabled_users(&portal, "uat", 1).remove(0);
    browser
        .goto(&portal.url(&format!("/portal/env/uat?q={victim}")))
        .await;
    browser
        .execute("document.querySelector('#users-form input[name=csrf]').remove()")
        .await;
    browser
        .click(&format!("tr[data-user='{victim}'] input[type=checkbox]"))
        .await;
    browser.click("#enable-users").await;
    browser
        .wait_for_text("#error", "CSRF", Duration::from_secs(10))
        .await;
    assert!(browser.page_text().await.contains("403"));
    assert!(
        !portal.enabled("uat", &victim),
        "the change was made anyway"
    );
    browser.quit().await;
}

/// A reader sees no buttons, and calling the actions directly is refused.
#[tokio::test(flavor = "multi_thread")]
async fn a_reader_can_look_but_not_act() {
    let portal = Portal::start();
    let browser = Browser::start().await;
    portal.sign_in(&browser, "rita").await;
    assert!(!browser.exists("#nav-refresh").await && !browser.exists("#nav-audit").await);
    browser.goto(&portal.url("/portal/env/uat")).await;
    assert!(browser.text("#user-table").await.contains("@"));
    for button in [
        "#enable-users",
        "#upload-form",
        "#set-withheld-jobs",
        "#post-message",
        "#save-plan",
        "#apply-plan",
    ] {
        assert!(!browser.exists(button).await, "a reader sees {button}");
    }
    let victim = disabled_users(&portal, "uat", 1).remove(0);
    // With the session's own CSRF token, straight to the action: refused.
    let status = browser
        .execute(&format!(
            "const csrf = document.querySelector('input[name=csrf]').value;
             const body = new URLSearchParams({{csrf, action: 'enable', user: '{victim}'}});
             const answer = await fetch('/portal/env/uat/users', {{method: 'POST', body}});
             return answer.status;"
        ))
        .await;
    assert_eq!(status, 403);
    assert!(!portal.enabled("uat", &victim));
    browser.goto(&portal.url("/portal/refresh")).await;
    browser
        .wait_for_text("#error", "operator role", Duration::from_secs(10))
        .await;
    browser.goto(&portal.url("/portal/audit")).await;
    browser
        .wait_for_text("#error", "admin role", Duration::from_secs(10))
        .await;
    browser.quit().await;
}

/// Bad input is refused in words and changes nothing: a list naming an unknown user, a
/// refresh confirmed with the wrong name, reversed message dates.
#[tokio::test(flavor = "multi_thread")]
async fn bad_input_is_refused_in_words_and_changes_nothing() {
    let portal = Portal::start();
    let browser = Browser::start().await;
    portal.sign_in(&browser, "olga").await;

    let known = disabled_users(&portal, "uat", 1).remove(0);
    let list = portal.home.path().join("enable.csv");
    std::fs::write(&list, format!("id\n{known}\nnobody-here\n")).expect("write csv");
    browser.goto(&portal.url("/portal/env/uat")).await;
    browser.upload("#user-file", &list).await;
    browser.click("#upload-users").await;
    browser
        .wait_for_text("#error", "nobody-here", Duration::from_secs(10))
        .await;
    assert!(!portal.enabled("uat", &known), "all or nothing");

    browser.set_value("#message-from", "2026-12-01T18:00").await;
    browser.set_value("#message-to", "2026-12-01T09:00").await;
    browser.click("#post-message").await;
    browser
        .wait_for_text("#error", "must be after", Duration::from_secs(10))
        .await;

    browser
        .goto(&portal.url("/portal/refresh?source=prod&target=uat"))
        .await;
    browser.fill("#confirm", "prod").await;
    browser.click("#start-refresh").await;
    browser
        .wait_for_text("#error", "type `uat`", Duration::from_secs(10))
        .await;
    let store = Store::open(portal.home.path()).expect("control plane");
    assert!(store.operations(None).expect("operations").is_empty());
    browser.quit().await;
}

/// Signed-in pages tell the browser not to frame, sniff or keep them; the stylesheet,
/// which holds nothing private, may be kept.
#[tokio::test(flavor = "multi_thread")]
async fn pages_are_never_framed_sniffed_or_kept() {
    let portal = Portal::start();
    let browser = Browser::start().await;
    portal.sign_in(&browser, "olga").await;
    let session = browser
        .driver()
        .get_named_cookie("dataalm_session")
        .await
        .expect("the session cookie");
    let client = reqwest::Client::new();
    for path in [
        "/portal",
        "/portal/env/uat",
        "/portal/login",
        "/api/environments",
    ] {
        let answer = client
            .get(portal.url(path))
            .header("Cookie", format!("dataalm_session={}", session.value))
            .send()
            .await
            .expect("an answer");
        let headers = answer.headers();
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_else(|| panic!("{path}: no {name} header"))
                .to_owned()
        };
        assert_eq!(header("x-frame-options"), "DENY", "{path}");
        let csp = header("content-security-policy");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(csp.contains("default-src 'self'"), "{path}: {csp}");
        assert_eq!(header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(header("cache-control"), "no-store", "{path}");
    }
    let css = client
        .get(portal.url("/portal/static/style.css"))
        .send()
        .await
        .expect("the stylesheet");
    assert_ne!(css.headers()["cache-control"], "no-store");
    browser.quit().await;
}

/// An admin manages accounts on the people page: a person signed in whose account is
/// disabled is signed out on the next request and told why at sign-in; the last
/// enabled admin cannot be disabled; each action is audited.
#[tokio::test(flavor = "multi_thread")]
async fn an_admin_disables_an_account_and_its_session_ends() {
    let portal = Portal::start();
    let admin = Browser::start().await;
    let olga = Browser::start().await;
    portal.sign_in(&olga, "olga").await;
    portal.sign_in(&admin, "ada").await;
    admin.click("#nav-people").await;
    admin
        .wait_for_text("#person-olga .state", "enabled", Duration::from_secs(10))
        .await;
    admin.click("#person-olga .toggle").await;
    admin
        .wait_for_text("#notice", "disabled olga", Duration::from_secs(10))
        .await;
    assert_eq!(admin.text("#person-olga .state").await, "disabled");

    olga.goto(&portal.url("/portal/env/uat")).await;
    assert!(
        olga.current_url().await.contains("/portal/login"),
        "signed out"
    );
    olga.fill("#name", "olga").await;
    olga.fill("#password", PASSWORD).await;
    olga.click("#sign-in").await;
    olga.wait_for_text(
        "#error",
        "this account is disabled",
        Duration::from_secs(10),
    )
    .await;

    admin.click("#person-ada .toggle").await;
    admin
        .wait_for_text(
            "#error",
            "`ada` is the last enabled admin",
            Duration::from_secs(10),
        )
        .await;
    assert_eq!(admin.text("#person-ada .state").await, "enabled");
    admin.click("#person-olga .toggle").await;
    admin
        .wait_for_text("#notice", "enabled olga", Duration::from_secs(10))
        .await;
    portal.sign_in(&olga, "olga").await;

    // Without the session's CSRF token, an action is refused.
    let status = admin
        .execute(
            "const body = new URLSearchParams({csrf: 'forged'});
             const answer = await fetch('/portal/people/olga/delete', {method: 'POST', body});
             return answer.status;",
        )
        .await;
    assert_eq!(status, 403);
    admin.goto(&portal.url("/portal/audit")).await;
    let audit = admin.text("#audit").await;
    for action in ["portal account disable", "portal account enable"] {
        assert!(audit.contains(action), "{action} in {audit}");
    }
    olga.quit().await;
    admin.quit().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_operator_cancels_a_refresh_before_its_cutover() {
    use dataalm_core::{OpState, Operation, Step, StepStatus};
    let portal = Portal::start();
    let before = std::fs::read(portal.db("uat")).expect("uat");
    // A refresh that failed after its copy, its staging copy beside the target.
    let store = Store::open(portal.home.path()).expect("control plane");
    let mut op = Operation::new_refresh("prod", "uat", dataalm_core::when::now());
    let staging = portal
        .db("uat")
        .with_file_name(format!("uat.db.dataalm-{}.staging", op.id));
    std::fs::copy(portal.db("prod"), &staging).expect("staging");
    for step in &Step::ALL[..4] {
        op.step_mut(*step).expect("step").status = StepStatus::Done;
    }
    op.data.staging = Some(Location::Sqlite(staging.clone()));
    store.create_operation(&mut op).expect("create");
    op.state = OpState::Failed;
    store.save_operation(&op).expect("save");
    drop(store);

    let browser = Browser::start().await;
    portal.sign_in(&browser, "olga").await;
    browser
        .goto(&portal.url(&format!("/portal/op/{}", op.id)))
        .await;
    browser.click("#cancel").await;
    browser
        .wait_for_text("#notice", "cancelled", Duration::from_secs(30))
        .await;
    assert_eq!(browser.text("#op-state").await, "cancelled");
    assert!(!browser.exists("#cancel").await && !browser.exists("#resume").await);
    assert!(!staging.exists(), "the staging copy is dropped");
    assert_eq!(std::fs::read(portal.db("uat")).expect("uat"), before);
    browser.quit().await;
}

/// An admin sets the throttle and time zone on the environment's page, as `env set`
/// does; a bad zone is refused in words; a reader sees them but has no form.
#[tokio::test(flavor = "multi_thread")]
async fn an_admin_sets_the_throttle_and_time_zone() {
    let portal = Portal::start();
    let browser = Browser::start().await;
    portal.sign_in(&browser, "ada").await;
    browser.goto(&portal.url("/portal/env/uat")).await;
    let env_id = browser.text("#env-id").await;
    assert_eq!(env_id.trim().len(), 36, "{env_id}");

    browser.fill("#env-throttle", "2/24h").await;
    browser.fill("#env-time-zone", "Mars/Olympus").await;
    browser.click("#save-settings").await;
    browser
        .wait_for_text("#error", "Mars/Olympus", Duration::from_secs(10))
        .await;
    let store = Store::open(portal.home.path()).expect("control plane");
    assert_eq!(store.env("uat").expect("uat").settings.throttle, None);

    browser.fill("#env-throttle", "2/24h").await;
    browser.fill("#env-time-zone", "Europe/Amsterdam").await;
    browser.click("#save-settings").await;
    browser
        .wait_for_text("#notice", "settings saved", Duration::from_secs(10))
        .await;
    let settings = store.env("uat").expect("uat").settings;
    assert_eq!(
        settings.throttle.map(|t| t.to_string()).as_deref(),
        Some("2/24h")
    );
    assert_eq!(settings.time_zone.as_deref(), Some("Europe/Amsterdam"));
    assert_eq!(settings.id, env_id.trim(), "the GUID stays");
    browser.quit().await;

    let browser = Browser::start().await;
    portal.sign_in(&browser, "rita").await;
    browser.goto(&portal.url("/portal/env/uat")).await;
    assert!(!browser.exists("#save-settings").await);
    assert_eq!(browser.text("#env-throttle").await, "2/24h");
    assert_eq!(browser.text("#env-time-zone").await, "Europe/Amsterdam");
    browser.quit().await;
}
