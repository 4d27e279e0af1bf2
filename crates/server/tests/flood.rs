//! A flood of wrong secrets against the real server: beyond a few checks the answers
//! are 429/503 with `Retry-After`, every wrong secret is in the audit log (without the
//! secret), and the right secret works again once the flood stops and the backoff the
//! server named has passed. The token endpoint and the portal's sign-in alike.

mod running;

use dataalm_core::access::Role;
use reqwest::StatusCode;
use reqwest::blocking::{Client, Response};
use reqwest::header::RETRY_AFTER;
use running::{Running, cookie_value, set_cookie};
use std::time::Duration;

const WRONG: &str = "dsec_not-the-secret";
const REQUESTS: usize = 640;
const AT_ONCE: usize = 64;

fn client() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client")
}

fn ask_token(client: &Client, base: &str, id: &str, secret: &str) -> Response {
    client
        .post(format!("{base}/oauth2/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", secret),
        ])
        .send()
        .expect("token request")
}

/// Seconds of `Retry-After`, which every refusal must carry.
fn retry_after(response: &Response) -> u64 {
    let value = response
        .headers()
        .get(RETRY_AFTER)
        .unwrap_or_else(|| panic!("{} without Retry-After", response.status()));
    value
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After in seconds")
}

#[test]
fn a_flood_of_wrong_client_secrets_is_bounded_audited_and_then_forgiven() {
    let server = Running::start(None);
    let (app, secret) = server
        .store()
        .register_app("pipeline", Role::Reader, &[])
        .expect("register");
    let base = format!("http://{}", server.addr);

    // 640 wrong secrets, 64 at a time.
    let answers: Vec<(StatusCode, Option<u64>, String)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..AT_ONCE)
            .map(|_| {
                scope.spawn(|| {
                    let client = client();
                    (0..REQUESTS / AT_ONCE)
                        .map(|_| {
                            let answer = ask_token(&client, &base, &app.client_id, WRONG);
                            let status = answer.status();
                            let wait =
                                (status != StatusCode::UNAUTHORIZED).then(|| retry_after(&answer));
                            (status, wait, answer.text().unwrap_or_default())
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("worker"))
            .collect()
    });
    let count = |status| answers.iter().filter(|(s, ..)| *s == status).count();
    let (checked, throttled, busy) = (
        count(StatusCode::UNAUTHORIZED),
        count(StatusCode::TOO_MANY_REQUESTS),
        count(StatusCode::SERVICE_UNAVAILABLE),
    );
    eprintln!("{checked} checked and wrong, {throttled} throttled, {busy} busy");
    assert_eq!(
        checked + throttled + busy,
        REQUESTS,
        "other answers: {answers:?}"
    );
    // Only a few secrets were ever checked: the rest were refused without argon2.
    assert!((5..40).contains(&checked), "{checked} secrets checked");
    assert!(throttled > 0);
    for (status, _, body) in &answers {
        let expected = match *status {
            StatusCode::UNAUTHORIZED => "invalid_client",
            StatusCode::TOO_MANY_REQUESTS => "slow_down",
            _ => "temporarily_unavailable",
        };
        assert!(
            body.contains(&format!("\"error\":\"{expected}\"")),
            "{body}"
        );
    }

    // Every checked secret is audited, never the secret itself.
    let actor = format!("client:{}", app.client_id);
    let audited = server.audit_of(&actor);
    assert_eq!(audited.len(), checked, "{audited:?}");
    for entry in &audited {
        assert_eq!(entry.action, "token request");
        assert!(
            entry.result.starts_with("refused: wrong secret"),
            "{entry:?}"
        );
        assert!(entry.result.contains("127.0.0.1"), "{entry:?}");
        assert!(!entry.result.contains(WRONG), "{entry:?}");
    }
    assert!(audited.iter().any(|e| e.result.contains("refused for")));

    // Right after the flood, even the right secret waits: nothing is checked during a
    // backoff. Once the wait it names has passed, the right secret works.
    let client = client();
    let first = ask_token(&client, &base, &app.client_id, &secret);
    assert_eq!(first.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait = retry_after(&first);
    assert!((1..=60).contains(&wait), "Retry-After {wait}");
    std::thread::sleep(Duration::from_secs(wait));
    let after = ask_token(&client, &base, &app.client_id, &secret);
    assert_eq!(after.status(), StatusCode::OK, "{:?}", after.text());
}

#[test]
fn portal_sign_in_is_throttled_the_same_way() {
    const PASSWORD: &str = "correct horse battery staple";
    let server = Running::start(None);
    server
        .store()
        .create_person("ada", Role::Admin, PASSWORD)
        .expect("person");
    let base = format!("http://{}", server.addr);
    let client = client();
    let form = client
        .get(format!("{base}/portal/login"))
        .send()
        .expect("login page");
    let csrf = cookie_value(&set_cookie(&form, "dataalm_login").expect("login cookie"));
    let sign_in = |password: &str| {
        client
            .post(format!("{base}/portal/login"))
            .header(reqwest::header::COOKIE, format!("dataalm_login={csrf}"))
            .form(&[
                ("csrf", csrf.as_str()),
                ("name", "ada"),
                ("password", password),
            ])
            .send()
            .expect("sign in")
    };

    // Five wrong passwords are free; the sixth starts a backoff of a second.
    for _ in 0..6 {
        assert_eq!(sign_in(WRONG).status(), StatusCode::UNAUTHORIZED);
    }
    let refused = sign_in(WRONG);
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(retry_after(&refused), 1);
    assert!(refused.text().unwrap().contains("try again in 1 s"));
    let right_too_soon = sign_in(PASSWORD);
    assert_eq!(right_too_soon.status(), StatusCode::TOO_MANY_REQUESTS);

    let audited = server.audit_of("person:ada");
    assert_eq!(audited.len(), 6, "{audited:?}");
    assert!(audited.iter().all(|e| e.action == "portal sign-in"
        && e.result.starts_with("refused: wrong secret")
        && !e.result.contains(WRONG)));
    assert!(
        audited[0].result.ends_with("refused for 1 s"),
        "{:?}",
        audited[0]
    );

    std::thread::sleep(Duration::from_secs(retry_after(&right_too_soon)));
    let signed_in = sign_in(PASSWORD);
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    assert!(set_cookie(&signed_in, "dataalm_session").is_some());
    let audited = server.audit_of("person:ada");
    assert_eq!(audited[0].result, "ok");
}
