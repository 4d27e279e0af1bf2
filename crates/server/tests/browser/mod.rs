//! A real browser for the portal's tests: headless Chromium driven through the system's
//! ChromeDriver with `thirtyfour`. Test binaries include it with `mod browser;`.
//!
//! One `chromedriver` serves the whole test binary; every [`Browser`] is a session of its
//! own with a fresh profile, so tests run in parallel without sharing cookies. Chromium's
//! time zone is Europe/Paris, whatever the machine's, so that dates typed in forms convert
//! to UTC the same way everywhere.
//!
//! The helpers panic with what they saw instead of returning errors: a failing step
//! should read like a failing assertion.

#![allow(dead_code, reason = "each test binary uses the helpers it needs")]

use serde_json::Value;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use tempfile::TempDir;
use thirtyfour::prelude::*;

/// How long [`Browser::text`], [`Browser::fill`] and the like wait for their element.
const WAIT: Duration = Duration::from_secs(10);

const MISSING: &str = "run scripts/test, which installs chromium and chromium-driver \
                       (or: apt-get install -y chromium chromium-driver)";

/// Headless, as root in a container, without anything that talks to the network on its own.
const CHROMIUM_ARGS: &[&str] = &[
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--window-size=1280,900",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    // ChromeDriver then talks to Chromium over a pipe instead of a port, and Chromium
    // exits when the pipe closes: without it, a Chromium whose chromedriver was killed
    // lives on.
    "--remote-debugging-pipe",
];

/// `<workspace>/target/portal-screenshots`: screenshots and the chromedriver log.
pub fn artifacts_dir() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2);
    let dir = workspace
        .expect("workspace")
        .join("target/portal-screenshots");
    std::fs::create_dir_all(&dir).expect("create target/portal-screenshots");
    dir
}

// ---------------------------------------------------------------------------------------
// The driver process
// ---------------------------------------------------------------------------------------

/// The URL of this test binary's chromedriver, started on first use.
fn driver_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(start_chromedriver)
}

fn start_chromedriver() -> String {
    let program = std::env::var_os("CHROMEDRIVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromedriver"));
    if !program.is_file() {
        panic!("chromedriver not found at {}: {MISSING}", program.display());
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let log = artifacts_dir().join("chromedriver.log");
    let mut command = Command::new(&program);
    command
        .arg(format!("--port={port}"))
        .arg(format!("--log-path={}", log.display()))
        // Chromium inherits it: the portal's dates are typed in Paris time.
        .env("TZ", "Europe/Paris")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let parent = std::process::id();
    // SAFETY: between fork and exec the closure only makes two system calls.
    unsafe {
        command.pre_exec(move || die_with_parent(parent));
    }

    // PR_SET_PDEATHSIG fires when the *thread* that forked the child ends, not the
    // process; test threads end with their test, so a thread of its own starts
    // chromedriver and stays, waiting on it, until the test binary exits.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("chromedriver".into())
        .spawn(move || match command.spawn() {
            Ok(mut child) => {
                let _ = tx.send(Ok(()));
                let status = child.wait();
                let _ = tx.send(Err(std::io::Error::other(format!("exited: {status:?}"))));
            }
            Err(e) => {
                let _ = tx.send(Err(e));
            }
        })
        .expect("spawn the chromedriver thread");
    if let Err(e) = rx.recv().expect("the chromedriver thread answers") {
        panic!("cannot start {}: {e}: {MISSING}", program.display());
    }

    let deadline = Instant::now() + Duration::from_secs(20);
    while !driver_ready(port) {
        if let Ok(Err(e)) = rx.try_recv() {
            panic!("chromedriver on port {port}: {e}; see {}", log.display());
        }
        if Instant::now() > deadline {
            panic!(
                "chromedriver on port {port} not ready after 20 s; see {}",
                log.display()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    format!("http://127.0.0.1:{port}")
}

/// Asks the child to be killed when its parent dies, even by SIGKILL or abort, so no
/// chromedriver outlives a test run. Runs in the child between fork and exec.
fn die_with_parent(parent: u32) -> std::io::Result<()> {
    // SAFETY: prctl(PR_SET_PDEATHSIG, signal) only sets a flag on the calling process.
    if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // The parent may have died before the flag was set. (No allocation here.)
    if std::os::unix::process::parent_id() != parent {
        return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
    }
    Ok(())
}

/// Whether chromedriver answers `GET /status` with `"ready": true`. Plain std, since
/// this runs inside the tests' async runtimes, where a blocking HTTP client may not.
/// ChromeDriver answers `Connection: close` but keeps the connection open, and ignores
/// HTTP/1.0: read until the answer is seen rather than to the end.
fn driver_ready(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = "GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut response = Vec::new();
    let mut chunk = [0; 1024];
    while let Ok(n @ 1..) = stream.read(&mut chunk) {
        response.extend_from_slice(&chunk[..n]);
        if String::from_utf8_lossy(&response).contains("\"ready\":true") {
            return true;
        }
    }
    false
}

// ---------------------------------------------------------------------------------------
// The browser
// ---------------------------------------------------------------------------------------

/// One Chromium session with a profile of its own. Dropping it ends the session too
/// (thirtyfour then warns that `quit` was not called), so a panicking test leaves no
/// browser behind.
pub struct Browser {
    /// Declared before `profile` so the session ends before its directory goes.
    driver: WebDriver,
    profile: TempDir,
}

impl Browser {
    /// A new session of the binary's shared chromedriver.
    pub async fn start() -> Browser {
        let url = driver_url();
        let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        if !Path::new(&chromium).is_file() {
            panic!("chromium not found at {chromium}: {MISSING}");
        }
        let profile = tempfile::tempdir().expect("temp profile");
        // "chrome", not "chromium": ChromeDriver matches no capabilities named chromium.
        let mut caps = DesiredCapabilities::chrome();
        caps.set_binary(&chromium).expect("binary");
        for arg in CHROMIUM_ARGS {
            caps.add_arg(arg).expect("arg");
        }
        caps.add_arg(&format!("--user-data-dir={}", profile.path().display()))
            .expect("arg");
        let driver = WebDriver::new(url, caps)
            .await
            .unwrap_or_else(|e| panic!("cannot start a Chromium session: {e}"));
        Browser { driver, profile }
    }

    /// The session, for anything the helpers do not cover.
    pub fn driver(&self) -> &WebDriver {
        &self.driver
    }

    /// Loads `url` and waits for its `load` event.
    pub async fn goto(&self, url: &str) {
        self.driver
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("cannot open {url}: {e}"));
    }

    /// The address of the page shown, after any redirect.
    pub async fn current_url(&self) -> String {
        self.driver.current_url().await.expect("current url").into()
    }

    /// The first element matching `css`, waiting up to 10 s for it to appear.
    pub async fn element(&self, css: &str) -> WebElement {
        let deadline = Instant::now() + WAIT;
        loop {
            match self.driver.find(By::Css(css)).await {
                Ok(element) => return element,
                Err(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(_) => self.fail(&format!("no element {css} after {WAIT:?}")).await,
            }
        }
    }

    /// The rendered text of the first element matching `css` (waits for it).
    pub async fn text(&self, css: &str) -> String {
        self.on_element(css, "read the text of", |e| async move { e.text().await })
            .await
    }

    /// Runs `act` on the first element matching `css`.
    ///
    /// An element found just before a navigation goes stale when the new page
    /// replaces it, so a stale element is looked up again rather than failing.
    async fn on_element<T, F, Fut>(&self, css: &str, what: &str, act: F) -> T
    where
        F: Fn(WebElement) -> Fut,
        Fut: std::future::Future<Output = WebDriverResult<T>>,
    {
        let deadline = Instant::now() + WAIT;
        loop {
            match act(self.element(css).await).await {
                Ok(value) => return value,
                Err(e) if is_stale(&e) && Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => self.fail(&format!("cannot {what} {css}: {e}")).await,
            }
        }
    }

    /// The rendered text of the whole page.
    pub async fn page_text(&self) -> String {
        match self.driver.find(By::Tag("body")).await {
            Ok(body) => body.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// Whether an element matches `css` now (no waiting).
    pub async fn exists(&self, css: &str) -> bool {
        !self
            .driver
            .find_all(By::Css(css))
            .await
            .expect("find elements")
            .is_empty()
    }

    /// Replaces an input's content by typing `value`, as a user would.
    pub async fn fill(&self, css: &str, value: &str) {
        let input = self.element(css).await;
        input.clear().await.expect("clear input");
        input.send_keys(value).await.expect("type into input");
    }

    /// Sets an input's value directly and fires `input` and `change`: for controls
    /// whose typing depends on the locale, such as `datetime-local` (`2026-03-29T02:30`).
    pub async fn set_value(&self, css: &str, value: &str) {
        let input = self.element(css).await;
        let script = "arguments[0].value = arguments[1];
            arguments[0].dispatchEvent(new Event('input', { bubbles: true }));
            arguments[0].dispatchEvent(new Event('change', { bubbles: true }));";
        self.driver
            .execute(
                script,
                vec![input.to_json().expect("element"), value.into()],
            )
            .await
            .expect("set value");
    }

    /// Clicks the first element matching `css` (waits for it).
    pub async fn click(&self, css: &str) {
        self.on_element(css, "click", |e| async move { e.click().await })
            .await
    }

    /// Chooses a file in an `<input type=file>`: the browser reads it from this machine.
    pub async fn upload(&self, css: &str, path: &Path) {
        let path = std::path::absolute(path).expect("absolute path");
        let input = self.element(css).await;
        input
            .send_keys(path.to_string_lossy().as_ref())
            .await
            .unwrap_or_else(|e| panic!("cannot choose {} in {css}: {e}", path.display()));
    }

    /// Waits until the element's text contains `needle`; on timeout, saves a screenshot
    /// and panics with the text the page shows.
    pub async fn wait_for_text(&self, css: &str, needle: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(element) = self.driver.find(By::Css(css)).await
                && element.text().await.is_ok_and(|t| t.contains(needle))
            {
                return;
            }
            if Instant::now() > deadline {
                let message = format!("no {needle:?} in {css} after {timeout:?}");
                self.fail(&message).await;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Runs `js` in the page (`return` gives a value) and returns what it returned.
    pub async fn execute(&self, js: &str) -> Value {
        self.driver
            .execute(js, Vec::new())
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{js}"))
            .json()
            .clone()
    }

    /// Saves the viewport as `target/portal-screenshots/<name>.png` and returns the path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let path = artifacts_dir().join(format!("{name}.png"));
        self.driver
            .screenshot(&path)
            .await
            .unwrap_or_else(|e| panic!("cannot save {}: {e}", path.display()));
        path
    }

    /// Ends the session and Chromium.
    pub async fn quit(self) {
        self.driver.quit().await.expect("quit the session");
    }

    /// Panics with `message`, the page's address and text, and a screenshot named after
    /// the test (test threads bear their test's name).
    async fn fail(&self, message: &str) -> ! {
        let test = std::thread::current()
            .name()
            .unwrap_or("browser")
            .replace("::", "-");
        let shot = match self.driver.screenshot_as_png().await {
            Ok(png) => {
                let path = artifacts_dir().join(format!("{test}-failed.png"));
                std::fs::write(&path, png).map_or(String::new(), |()| {
                    format!("\nscreenshot: {}", path.display())
                })
            }
            Err(_) => String::new(),
        };
        let url = self.driver.current_url().await.map(String::from);
        panic!(
            "{message}\nat {}{shot}\npage text:\n{}",
            url.unwrap_or_default(),
            self.page_text().await
        );
    }
}

/// Whether `e` says the element left the page (a navigation replaced it).
fn is_stale(e: &WebDriverError) -> bool {
    matches!(
        e.as_inner(),
        thirtyfour::error::WebDriverErrorInner::StaleElementReference(_)
    )
}
