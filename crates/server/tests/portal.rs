//! The web portal in a real browser (the harness is in `browser`).

mod browser;

use axum::Router;
use axum::response::Html;
use axum::routing::get;
use browser::Browser;
use std::time::Duration;

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
