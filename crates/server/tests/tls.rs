//! `dataalm serve` over HTTPS, end to end: a CA made here, a certificate for 127.0.0.1
//! signed by it, the real server, and clients that trust that CA alone.

mod running;

use dataalm_core::access::Role;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use reqwest::StatusCode;
use reqwest::blocking::Client;
use reqwest::header::STRICT_TRANSPORT_SECURITY;
use running::{Running, cookie_value, set_cookie};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tempfile::TempDir;

const PASSWORD: &str = "correct horse battery staple";

/// A CA and a server certificate for 127.0.0.1 it signed, as PEM files.
struct Pki {
    dir: TempDir,
    ca_pem: String,
}

impl Pki {
    fn new() -> Pki {
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "dataalm test CA");
        let ca_cert = ca.self_signed(&ca_key).expect("CA certificate");
        let issuer = Issuer::new(ca, ca_key);

        let server_key = KeyPair::generate().expect("server key");
        let server = CertificateParams::new(vec!["127.0.0.1".to_owned()]).expect("params");
        let server_cert = server.signed_by(&server_key, &issuer).expect("sign");

        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("server.pem"), server_cert.pem()).unwrap();
        std::fs::write(dir.path().join("server.key"), server_key.serialize_pem()).unwrap();
        let other_key = KeyPair::generate().expect("other key");
        std::fs::write(dir.path().join("other.key"), other_key.serialize_pem()).unwrap();
        Pki {
            dir,
            ca_pem: ca_cert.pem(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn config(&self) -> std::sync::Arc<rustls::ServerConfig> {
        dataalm_server::tls::server_config(&self.path("server.pem"), &self.path("server.key"))
            .expect("TLS configuration")
    }

    /// A client whose only root is the test's CA, following no redirects.
    fn client(&self) -> Client {
        let ca = reqwest::Certificate::from_pem(self.ca_pem.as_bytes()).expect("CA");
        Client::builder()
            .tls_certs_only([ca])
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client")
    }
}

fn error_of(cert: &Path, key: &Path) -> String {
    match dataalm_server::tls::server_config(cert, key) {
        Ok(_) => panic!("{} with {} was accepted", cert.display(), key.display()),
        Err(e) => e.to_string(),
    }
}

/// A token over HTTPS, and an API call with it; every answer carries HSTS.
#[test]
fn the_api_answers_over_https_with_hsts() {
    let pki = Pki::new();
    let server = Running::start(Some(pki.config()));
    let (app, secret) = server
        .store()
        .register_app("pipeline", Role::Reader, &[])
        .expect("register");
    let base = format!("https://{}", server.addr);
    let client = pki.client();

    let answer = client
        .post(format!("{base}/oauth2/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", app.client_id.as_str()),
            ("client_secret", secret.as_str()),
        ])
        .send()
        .expect("token over HTTPS");
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(
        answer.headers()[STRICT_TRANSPORT_SECURITY],
        "max-age=31536000"
    );
    let token: Value = answer.json().expect("token JSON");
    let token = token["access_token"].as_str().expect("access_token");

    let listed = client
        .get(format!("{base}/api/environments"))
        .bearer_auth(token)
        .send()
        .expect("API over HTTPS");
    assert_eq!(listed.status(), StatusCode::OK);
    assert!(listed.headers().contains_key(STRICT_TRANSPORT_SECURITY));
    let envs: Value = listed.json().expect("JSON");
    assert!(envs.as_array().is_some_and(Vec::is_empty), "{envs}");
}

/// Over HTTPS the portal's cookies are `Secure`, the sign-in's session cookie included;
/// over plain HTTP they are not, and there is no HSTS.
#[test]
fn portal_cookies_are_secure_over_https_only() {
    let pki = Pki::new();
    let https = Running::start(Some(pki.config()));
    let plain = Running::start(None);
    for server in [&https, &plain] {
        server
            .store()
            .create_person("ada", Role::Admin, PASSWORD)
            .expect("person");
    }

    let session = sign_in(&pki.client(), &format!("https://{}", https.addr));
    assert!(session.contains("; Secure"), "{session}");
    assert!(session.contains("HttpOnly"), "{session}");

    let session = sign_in(&pki.client(), &format!("http://{}", plain.addr));
    assert!(!session.contains("Secure"), "{session}");
    let page = pki
        .client()
        .get(format!("http://{}/portal/login", plain.addr))
        .send()
        .expect("plain page");
    assert!(!page.headers().contains_key(STRICT_TRANSPORT_SECURITY));
}

/// Signs ada in at `base`; returns the session's `Set-Cookie` header.
fn sign_in(client: &Client, base: &str) -> String {
    let form = client
        .get(format!("{base}/portal/login"))
        .send()
        .expect("login page");
    assert_eq!(form.status(), StatusCode::OK);
    let login = set_cookie(&form, "dataalm_login").expect("login cookie");
    if base.starts_with("https") {
        assert!(login.contains("; Secure"), "{login}");
        assert!(form.headers().contains_key(STRICT_TRANSPORT_SECURITY));
    }
    let csrf = cookie_value(&login);
    let signed_in = client
        .post(format!("{base}/portal/login"))
        .header(reqwest::header::COOKIE, format!("dataalm_login={csrf}"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("name", "ada"),
            ("password", PASSWORD),
            ("next", "/portal"),
        ])
        .send()
        .expect("sign in");
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    set_cookie(&signed_in, "dataalm_session").expect("session cookie")
}

/// Plain HTTP to the HTTPS port gets no answer; a client that does not trust the CA is
/// refused too.
#[test]
fn plain_http_and_untrusted_clients_get_nothing() {
    let pki = Pki::new();
    let server = Running::start(Some(pki.config()));
    let plain = pki
        .client()
        .get(format!("http://{}/api/health", server.addr))
        .send();
    assert!(plain.is_err(), "plain HTTP was answered: {plain:?}");

    let untrusting = Client::builder()
        .tls_certs_only([])
        .build()
        .expect("client");
    let refused = untrusting
        .get(format!("https://{}/api/health", server.addr))
        .send();
    assert!(refused.is_err(), "an unverified server was accepted");

    let health = pki
        .client()
        .get(format!("https://{}/api/health", server.addr))
        .send()
        .expect("health over HTTPS");
    assert_eq!(health.text().expect("body"), "ok");
}

/// Files that cannot serve are refused before anything listens, with messages that say
/// which file and what is wrong, never what the key holds.
#[test]
fn wrong_certificate_or_key_files_are_refused_clearly() {
    let pki = Pki::new();
    let (cert, key, other) = (
        pki.path("server.pem"),
        pki.path("server.key"),
        pki.path("other.key"),
    );

    let mismatch = error_of(&cert, &other);
    assert!(
        mismatch.contains("does not belong to the certificate"),
        "{mismatch}"
    );
    assert!(mismatch.contains("other.key"), "{mismatch}");
    let key_text = std::fs::read_to_string(&other).unwrap();
    let key_body = key_text.lines().nth(1).expect("a PEM line");
    assert!(!mismatch.contains(key_body), "{mismatch}");

    let missing = error_of(&pki.path("absent.pem"), &key);
    assert!(
        missing.contains("cannot read the TLS certificate"),
        "{missing}"
    );
    assert!(missing.contains("absent.pem"), "{missing}");

    // A key where the certificate should be, and the other way round.
    let no_cert = error_of(&key, &key);
    assert!(no_cert.contains("holds no certificate"), "{no_cert}");
    let no_key = error_of(&cert, &cert);
    assert!(
        no_key.contains("cannot read the TLS private key"),
        "{no_key}"
    );
}
