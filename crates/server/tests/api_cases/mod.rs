//! The HTTP API end to end: a real server on a free port, real SQLite finance samples,
//! requests with `reqwest`. Each test binary that includes these cases names the
//! control plane's backend (`crate::BACKEND`): a SQLite file in the test's temporary
//! home, or a database of its own on a throw-away PostgreSQL cluster.
//!
//! The samples (`samples`) are built once per test binary and copied into each test's
//! home, so the tests run in parallel without sharing any file.

use base64::Engine as _;
use dataalm_core::access::Role;
use dataalm_core::{EnvKind, Environment, Location};
use dataalm_server::auth::Claims;
use dataalm_store::Store;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use reqwest::StatusCode;
use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::header::{AUTHORIZATION, HOST, LOCATION, WWW_AUTHENTICATE};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tempfile::TempDir;

mod movement;

const ADD_MESSAGE: &str =
    "/api/services/SysBroadcastMessageServices/SysBroadcastMessageService/AddMessage";
const UAT_URL: &str = "https://uat.example.com";

// ---------------------------------------------------------------------------------------
// Fixture
// ---------------------------------------------------------------------------------------

/// A running server over its own control plane, with `prod` (production) and `uat`
/// (sandbox, base URL `https://uat.example.com`, the demo plan) registered.
struct Api {
    home: TempDir,
    store: Location,
    base: String,
    client: Client,
}

/// Where a test's control plane lives.
#[derive(Clone, Copy)]
#[allow(dead_code, reason = "each test binary uses one backend")]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A new, empty control plane for one test.
fn control_plane(home: &Path) -> Location {
    match crate::BACKEND {
        Backend::Sqlite => Store::in_home(home),
        Backend::Postgres => {
            let pg = dataalm_pgtest::Cluster::shared("control");
            let db = pg.create_database("control").expect("create database");
            Location::Postgres(pg.url(&db))
        }
    }
}

impl Api {
    fn start() -> Api {
        let home = tempfile::tempdir().expect("temp home");
        let dbs = home.path().join("dbs");
        std::fs::create_dir(&dbs).unwrap();
        crate::samples::copy_into(&dbs);
        let location = control_plane(home.path());
        let store = Store::connect(&location).expect("control plane");
        for (name, kind, url) in [
            ("prod", EnvKind::Production, None),
            ("uat", EnvKind::Sandbox, Some(UAT_URL.to_owned())),
        ] {
            store
                .add_env(&Environment {
                    name: name.into(),
                    kind,
                    location: Location::Sqlite(dbs.join(format!("{name}.db"))),
                    profile: "finance".into(),
                    url,
                    settings: Default::default(),
                })
                .expect("add env");
        }
        store
            .set_plan("uat", &dataalm_finance::demo_plan_toml())
            .expect("plan");
        drop(store);

        let addr = crate::running::serve(&location, None);
        let client = Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        Api {
            home,
            store: location,
            base: format!("http://{addr}"),
            client,
        }
    }

    fn store(&self) -> Store {
        Store::connect(&self.store).expect("control plane")
    }

    fn db_path(&self, env: &str) -> PathBuf {
        self.home.path().join("dbs").join(format!("{env}.db"))
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Registers an app; returns its client id and secret.
    fn register(&self, name: &str, role: Role, envs: &[&str]) -> (String, String) {
        let envs: Vec<String> = envs.iter().map(|e| (*e).to_owned()).collect();
        let (app, secret) = self
            .store()
            .register_app(name, role, &envs)
            .expect("register app");
        (app.client_id, secret)
    }

    /// Asks `/oauth2/token` with these form fields.
    fn token_request(&self, path: &str, form: &[(&str, &str)]) -> Response {
        self.client.post(self.url(path)).form(form).send().unwrap()
    }

    /// A token for the app, optionally scoped to one environment.
    fn token(&self, id: &str, secret: &str, scope: Option<&str>) -> String {
        let mut form = vec![
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", secret),
        ];
        if let Some(scope) = scope {
            form.push(("scope", scope));
        }
        let response = self.token_request("/oauth2/token", &form);
        assert_eq!(response.status(), StatusCode::OK);
        json_of(response)["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    /// A new app's token.
    fn app_token(&self, name: &str, role: Role, envs: &[&str], scope: Option<&str>) -> String {
        let (id, secret) = self.register(name, role, envs);
        self.token(&id, &secret, scope)
    }

    fn get(&self, path: &str, token: &str) -> RequestBuilder {
        self.client.get(self.url(path)).bearer_auth(token)
    }

    fn post(&self, path: &str, token: &str) -> RequestBuilder {
        self.client.post(self.url(path)).bearer_auth(token)
    }

    /// The claims of a token the server issued (checked with the real key).
    fn claims(&self, token: &str) -> Claims {
        let key = self.store().token_key().unwrap();
        let jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(
            &EncodingKey::from_ec_der(&key),
            Algorithm::ES256,
        )
        .unwrap();
        let mut validation = Validation::new(Algorithm::ES256);
        validation.leeway = 0;
        jsonwebtoken::decode::<Claims>(token, &DecodingKey::from_jwk(&jwk).unwrap(), &validation)
            .expect("a valid token")
            .claims
    }

    /// Polls an operation until `state`, failing on `failed` or after 60 s.
    fn wait_for(&self, location: &str, token: &str, state: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let response = self.get(location, token).send().unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            let op = json_of(response);
            if op["state"] == state {
                return op;
            }
            assert_ne!(op["state"], "failed", "the operation failed: {op:#}");
            assert!(
                Instant::now() < deadline,
                "still not {state} after 60 s: {op:#}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn add_message(&self, path: &str, token: &str, request: Value) -> Response {
        self.post(path, token)
            .json(&json!({ "request": request }))
            .send()
            .unwrap()
    }
}

fn json_of(response: Response) -> Value {
    let status = response.status();
    let text = response.text().unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({status}): {e}: {text}"))
}

/// Asserts an API error: status, `{"error": {"code", "message"}}`; returns the message.
fn api_error(response: Response, status: StatusCode, code: &str) -> String {
    assert_eq!(response.status(), status, "status");
    let body = json_of(response);
    assert_eq!(body["error"]["code"], code, "code in {body}");
    body["error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("no message in {body}"))
        .to_owned()
}

/// Asserts a 401 with a Bearer challenge and the API error shape.
fn unauthorized(response: Response) -> String {
    let challenge = response
        .headers()
        .get(WWW_AUTHENTICATE)
        .expect("401 carries WWW-Authenticate")
        .to_str()
        .unwrap()
        .to_owned();
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    api_error(response, StatusCode::UNAUTHORIZED, "unauthorized")
}

/// Asserts an OAuth2 error from the token endpoint; returns its body.
fn oauth_error(response: Response, status: StatusCode, error: &str) -> Value {
    assert_eq!(response.status(), status);
    let body = json_of(response);
    assert_eq!(body["error"], error, "{body}");
    assert!(body["error_description"].is_string(), "{body}");
    body
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// One broadcast message as the target's database holds it: from, to, text, created_by.
fn message_row(db: &Path, id: i64) -> (String, String, String, String) {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row(
        "SELECT from_datetime, to_datetime, message, created_by
         FROM sys_broadcast_message WHERE recid = ?1",
        [id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )
    .unwrap_or_else(|e| panic!("message {id} is not in {}: {e}", db.display()))
}

fn message_count(db: &Path) -> i64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row("SELECT count(*) FROM sys_broadcast_message", [], |r| {
        r.get(0)
    })
    .unwrap()
}

// ---------------------------------------------------------------------------------------
// Tokens
// ---------------------------------------------------------------------------------------

#[test]
fn tokens_come_from_form_body_basic_auth_and_tenant_path() {
    let api = Api::start();
    let (id, secret) = api.register("pipeline", Role::Operator, &[]);

    // Form body.
    let response = api.token_request(
        "/oauth2/token",
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", &secret),
        ],
    );
    assert_eq!(response.status(), StatusCode::OK);
    let body = json_of(response);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    let token = body["access_token"].as_str().unwrap();
    let claims = api.claims(token);
    assert_eq!(claims.sub, id);
    assert_eq!(claims.name, "pipeline");
    assert_eq!(claims.role, Role::Operator);
    assert!(claims.envs.is_empty(), "unscoped: {:?}", claims.envs);
    assert_eq!(claims.exp - claims.iat, 3600);
    assert!(claims.iat.abs_diff(now()) < 60);

    // The token works: an unscoped token sees every environment.
    let listed = json_of(api.get("/api/environments", token).send().unwrap());
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2);
    assert!(
        names.contains(&"prod") && names.contains(&"uat"),
        "{names:?}"
    );

    // HTTP Basic.
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
    let response = api
        .client
        .post(api.url("/oauth2/token"))
        .header(AUTHORIZATION, format!("Basic {basic}"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = json_of(response);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(
        api.claims(body["access_token"].as_str().unwrap()).sub,
        id,
        "Basic gives the same registration"
    );
    // reqwest's own basic_auth, for good measure.
    let response = api
        .client
        .post(api.url("/oauth2/token"))
        .basic_auth(&id, Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    // Tenant path (as the ERP's identity provider has it); the tenant is ignored.
    let response = api.token_request(
        "/contoso.onmicrosoft.com/oauth2/token",
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", &secret),
            ("resource", UAT_URL),
        ],
    );
    assert_eq!(response.status(), StatusCode::OK);
    let body = json_of(response);
    let claims = api.claims(body["access_token"].as_str().unwrap());
    assert_eq!(claims.sub, id);
    assert_eq!(claims.envs, ["uat"]);
}

#[test]
fn tokens_are_scoped_by_environment_name_or_base_url() {
    let api = Api::start();
    let (id, secret) = api.register("pipeline", Role::Operator, &[]);
    for (field, scope) in [
        ("scope", "uat"),
        ("resource", "uat"),
        ("resource", UAT_URL),
        ("resource", "https://uat.example.com/"),
        ("scope", "https://uat.example.com/.default"),
        ("scope", "HTTPS://UAT.Example.com/.default"),
    ] {
        let response = api.token_request(
            "/oauth2/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &id),
                ("client_secret", &secret),
                (field, scope),
            ],
        );
        assert_eq!(response.status(), StatusCode::OK, "{field}={scope}");
        let token = json_of(response)["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(api.claims(&token).envs, ["uat"], "{field}={scope}");
    }
    let prod = api.token(&id, &secret, Some("prod"));
    assert_eq!(api.claims(&prod).envs, ["prod"]);

    // Unknown environment.
    for scope in ["nowhere", "https://nowhere.example.com/.default"] {
        let body = oauth_error(
            api.token_request(
                "/oauth2/token",
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", &id),
                    ("client_secret", &secret),
                    ("scope", scope),
                ],
            ),
            StatusCode::BAD_REQUEST,
            "invalid_scope",
        );
        let description = body["error_description"].as_str().unwrap();
        let named = scope.trim_end_matches("/.default");
        assert!(description.contains(named), "{description}");
    }

    // An environment outside the registration.
    let (limited, limited_secret) = api.register("uat-only", Role::Operator, &["uat"]);
    let body = oauth_error(
        api.token_request(
            "/oauth2/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &limited),
                ("client_secret", &limited_secret),
                ("scope", "prod"),
            ],
        ),
        StatusCode::BAD_REQUEST,
        "invalid_scope",
    );
    assert!(
        body["error_description"].as_str().unwrap().contains("prod"),
        "{body}"
    );
    // Without a scope, a limited registration's token carries its environments.
    let token = api.token(&limited, &limited_secret, None);
    assert_eq!(api.claims(&token).envs, ["uat"]);
}

#[test]
fn bad_client_credentials_and_grant_types_are_refused() {
    let api = Api::start();
    let (id, secret) = api.register("pipeline", Role::Operator, &[]);
    let ask = |client_id: &str, client_secret: &str| {
        api.token_request(
            "/oauth2/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", client_id),
                ("client_secret", client_secret),
            ],
        )
    };

    // A wrong secret and an unknown id get the very same answer.
    let wrong_secret = oauth_error(
        ask(&id, "dsec_wrong"),
        StatusCode::UNAUTHORIZED,
        "invalid_client",
    );
    let unknown_id = oauth_error(
        ask("00000000-0000-4000-8000-000000000000", &secret),
        StatusCode::UNAUTHORIZED,
        "invalid_client",
    );
    assert_eq!(wrong_secret, unknown_id);
    assert!(!wrong_secret.to_string().contains(&secret));

    // Wrong Basic credentials too.
    let response = api
        .client
        .post(api.url("/oauth2/token"))
        .basic_auth(&id, Some("dsec_wrong"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .unwrap();
    let basic = oauth_error(response, StatusCode::UNAUTHORIZED, "invalid_client");
    assert_eq!(basic, wrong_secret);

    // No credentials at all.
    oauth_error(
        api.token_request("/oauth2/token", &[("grant_type", "client_credentials")]),
        StatusCode::UNAUTHORIZED,
        "invalid_client",
    );

    // Other grant types, or none (the password grant is tested in identity_clients.rs).
    for form in [
        vec![
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("client_id", id.as_str()),
            ("client_secret", secret.as_str()),
        ],
        vec![
            ("grant_type", "authorization_code"),
            ("client_id", id.as_str()),
            ("client_secret", secret.as_str()),
        ],
        vec![
            ("client_id", id.as_str()),
            ("client_secret", secret.as_str()),
        ],
    ] {
        oauth_error(
            api.token_request("/oauth2/token", &form),
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
        );
    }

    // A revoked registration's credentials stop working, with the same answer.
    api.store().revoke_app("pipeline").unwrap();
    let revoked = oauth_error(
        ask(&id, &secret),
        StatusCode::UNAUTHORIZED,
        "invalid_client",
    );
    assert_eq!(revoked, wrong_secret);
}

// ---------------------------------------------------------------------------------------
// Authentication and authorization of API calls
// ---------------------------------------------------------------------------------------

#[test]
fn api_calls_without_a_valid_token_get_401_with_a_challenge() {
    let api = Api::start();
    let (id, secret) = api.register("pipeline", Role::Admin, &[]);
    let key = EncodingKey::from_ec_der(&api.store().token_key().unwrap());
    let claims = |iat: u64, exp: u64| Claims {
        sub: id.clone(),
        name: "pipeline".into(),
        role: Role::Admin,
        envs: vec![],
        iat,
        exp,
        iss: None,
        person: None,
    };
    let sign = |header: Header, claims: &Claims, key: &EncodingKey| {
        jsonwebtoken::encode(&header, claims, key).unwrap()
    };

    // A token signed with the real key and fresh claims works: the forgeries below
    // differ from it in one thing each.
    let good = sign(
        Header::new(Algorithm::ES256),
        &claims(now(), now() + 600),
        &key,
    );
    let response = api.get("/api/environments", &good).send().unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    // No Authorization header.
    unauthorized(api.client.get(api.url("/api/environments")).send().unwrap());
    // Another scheme.
    unauthorized(
        api.client
            .get(api.url("/api/environments"))
            .basic_auth(&id, Some(&secret))
            .send()
            .unwrap(),
    );
    // Malformed.
    for malformed in ["abc", "", "a.b.c"] {
        unauthorized(api.get("/api/environments", malformed).send().unwrap());
    }
    // Signed with another P-256 key.
    let other = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let forged = sign(
        Header::new(Algorithm::ES256),
        &claims(now(), now() + 600),
        &EncodingKey::from_ec_der(&other.serialize_der()),
    );
    unauthorized(api.get("/api/environments", &forged).send().unwrap());
    // HS256, as dataalm signed before ES256, with the control plane's old HMAC key:
    // no longer taken.
    let legacy = api.store().signing_key().unwrap();
    let other_alg = sign(
        Header::new(Algorithm::HS256),
        &claims(now(), now() + 600),
        &EncodingKey::from_secret(&legacy),
    );
    unauthorized(api.get("/api/environments", &other_alg).send().unwrap());
    // Unsigned (`alg: none`), made by hand.
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let unsigned = format!(
        "{}.{}.",
        b64.encode(r#"{"alg":"none","typ":"JWT"}"#),
        b64.encode(serde_json::to_string(&claims(now(), now() + 600)).unwrap())
    );
    unauthorized(api.get("/api/environments", &unsigned).send().unwrap());
    // Expired (real key).
    let expired = sign(
        Header::new(Algorithm::ES256),
        &claims(now() - 7200, now() - 60),
        &key,
    );
    let message = unauthorized(api.get("/api/environments", &expired).send().unwrap());
    assert!(message.to_lowercase().contains("expired"), "{message}");
    // A token for a client id that was never registered, signed with the real key.
    let mut stranger = claims(now(), now() + 600);
    stranger.sub = "00000000-0000-4000-8000-000000000000".into();
    let stranger = sign(Header::new(Algorithm::ES256), &stranger, &key);
    unauthorized(api.get("/api/environments", &stranger).send().unwrap());

    // A token issued to an app that is then revoked stops working at once.
    let issued = api.token(&id, &secret, None);
    assert_eq!(
        api.get("/api/environments", &issued)
            .send()
            .unwrap()
            .status(),
        StatusCode::OK
    );
    api.store().revoke_app(&id).unwrap();
    let message = unauthorized(api.get("/api/environments", &issued).send().unwrap());
    assert!(message.contains("revoked"), "{message}");
    unauthorized(api.get("/api/audit", &good).send().unwrap());
    unauthorized(
        api.post("/api/environments/uat/refresh", &issued)
            .json(&json!({"source": "prod"}))
            .send()
            .unwrap(),
    );
}

#[test]
fn roles_and_environment_scopes_are_enforced() {
    let api = Api::start();
    let reader = api.app_token("dashboard", Role::Reader, &[], None);
    let operator = api.app_token("pipeline", Role::Operator, &[], None);
    let (id, secret) = api.register("uat-pipeline", Role::Admin, &[]);
    let uat_only = api.token(&id, &secret, Some("uat"));

    // A reader reads but does not refresh, message or see the audit log.
    let response = api.get("/api/environments/uat", &reader).send().unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let env = json_of(response);
    assert_eq!(env["name"], "uat");
    assert_eq!(env["kind"], "sandbox");
    assert_eq!(env["engine"], "sqlite");
    assert_eq!(env["profile"], "finance");
    assert_eq!(env["url"], UAT_URL);
    let message = api_error(
        api.post("/api/environments/uat/refresh", &reader)
            .json(&json!({"source": "prod"}))
            .send()
            .unwrap(),
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert!(message.contains("operator"), "{message}");
    api_error(
        api.add_message(
            &format!("/env/uat{ADD_MESSAGE}"),
            &reader,
            json!({"FromDateTime": "2026-11-26T08:30:00Z", "ToDateTime": "2026-11-26T10:00:00Z"}),
        ),
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    api_error(
        api.get("/api/audit", &reader).send().unwrap(),
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    // Operators do not read the audit log or remove environments either.
    api_error(
        api.get("/api/audit", &operator).send().unwrap(),
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    api_error(
        api.client
            .delete(api.url("/api/environments/uat"))
            .bearer_auth(&operator)
            .send()
            .unwrap(),
        StatusCode::FORBIDDEN,
        "forbidden",
    );

    // A token scoped to uat does not reach prod, whatever the registration's role.
    let message = api_error(
        api.get("/api/environments/prod", &uat_only).send().unwrap(),
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert!(message.contains("prod"), "{message}");
    api_error(
        api.get("/api/environments/prod/operations", &uat_only)
            .send()
            .unwrap(),
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    api_error(
        api.client
            .delete(api.url("/api/environments/prod"))
            .bearer_auth(&uat_only)
            .send()
            .unwrap(),
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    api_error(
        api.add_message(
            &format!("/env/prod{ADD_MESSAGE}"),
            &uat_only,
            json!({"FromDateTime": "2026-11-26T08:30:00Z", "ToDateTime": "2026-11-26T10:00:00Z"}),
        ),
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    // ... and lists only uat.
    let listed = json_of(api.get("/api/environments", &uat_only).send().unwrap());
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["uat"]);
    let response = api.get("/api/environments/uat", &uat_only).send().unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    // Unknown environments are 404 for those who may look.
    api_error(
        api.get("/api/environments/nowhere", &operator)
            .send()
            .unwrap(),
        StatusCode::NOT_FOUND,
        "unknown_environment",
    );

    // An admin removes an environment (its database stays).
    let admin = api.app_token("admin", Role::Admin, &[], None);
    let response = api
        .client
        .delete(api.url("/api/environments/uat"))
        .bearer_auth(&admin)
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    api_error(
        api.get("/api/environments/uat", &admin).send().unwrap(),
        StatusCode::NOT_FOUND,
        "unknown_environment",
    );
    assert!(api.db_path("uat").exists());
}

/// A token scoped to one environment cannot manage environments, reach outside its
/// scope through a refresh's source, or read other environments' audit entries; and a
/// refresh's `jobs` is bounded as the CLI's is.
#[test]
fn a_scoped_token_does_only_what_its_scope_says() {
    let api = Api::start();
    let admin = api.app_token("root", Role::Admin, &[], None);
    let (id, secret) = api.register("uat-admin", Role::Admin, &[]);
    let uat_admin = api.token(&id, &secret, Some("uat"));
    std::fs::copy(api.db_path("uat"), api.db_path("train")).unwrap();
    let train = json!({"name": "train", "kind": "sandbox", "sqlite": api.db_path("train")});

    // Environment management needs an admin for every environment.
    let message = api_error(
        api.post("/api/environments", &uat_admin)
            .json(&train)
            .send()
            .unwrap(),
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert!(message.contains("every environment"), "{message}");
    api_error(
        api.client
            .delete(api.url("/api/environments/uat"))
            .bearer_auth(&uat_admin)
            .send()
            .unwrap(),
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    let response = api
        .post("/api/environments", &admin)
        .json(&train)
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);

    // Both ends of a refresh must be in scope: uat's token cannot pull train's data.
    let message = api_error(
        api.post("/api/environments/uat/refresh", &uat_admin)
            .json(&json!({"source": "train"}))
            .send()
            .unwrap(),
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert!(message.contains("train"), "{message}");
    let message = api_error(
        api.post("/api/environments/uat/refresh", &admin)
            .json(&json!({"source": "prod", "jobs": 100000}))
            .send()
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "bad_request",
    );
    assert!(message.contains("between 1 and 64"), "{message}");
    assert!(
        api.store().operations(None).unwrap().is_empty(),
        "nothing was started"
    );

    // The audit log of a scoped admin holds its own environments' entries only.
    let entries = json_of(api.get("/api/audit", &uat_admin).send().unwrap());
    let envs: Vec<&str> = entries
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["env"].as_str().unwrap_or("-"))
        .collect();
    assert!(envs.iter().all(|env| *env == "uat"), "{envs:?}");
    let all = json_of(api.get("/api/audit", &admin).send().unwrap());
    assert!(all.to_string().contains("train"), "{all}");
}

#[test]
fn passwords_never_appear() {
    let api = Api::start();
    let store = api.store();
    for (name, url) in [
        ("pg-uat", "postgres://u:s3cret@h/db"),
        ("pg-prod", "postgres://u:s3cret@127.0.0.1:1/db"),
        ("pg-kv", "host=h password=s3cret user=u dbname=db"),
    ] {
        store
            .add_env(&Environment {
                name: name.into(),
                kind: if name == "pg-prod" {
                    EnvKind::Production
                } else {
                    EnvKind::Sandbox
                },
                location: Location::Postgres(url.into()),
                profile: "finance".into(),
                url: None,
                settings: Default::default(),
            })
            .unwrap();
    }
    let admin = api.app_token("admin", Role::Admin, &[], None);

    let response = api.get("/api/environments", &admin).send().unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().unwrap();
    assert!(!text.contains("s3cret"), "{text}");
    let listed: Value = serde_json::from_str(&text).unwrap();
    let pg = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "pg-uat")
        .expect("pg-uat listed");
    assert_eq!(pg["location"], "postgres://u:***@h/db");
    assert_eq!(pg["engine"], "postgres");

    let text = api
        .get("/api/environments/pg-kv", &admin)
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(text.contains("password=***"), "{text}");
    assert!(!text.contains("s3cret"), "{text}");

    // Errors about such environments do not leak it either.
    for (target, source) in [
        ("pg-uat", "pg-prod"),
        ("pg-uat", "prod"),
        ("uat", "pg-prod"),
    ] {
        let response = api
            .post(&format!("/api/environments/{target}/refresh"), &admin)
            .json(&json!({"source": source}))
            .send()
            .unwrap();
        let status = response.status();
        let text = response.text().unwrap();
        assert!(
            !status.is_success(),
            "{target} from {source}: {status} {text}"
        );
        assert!(!text.contains("s3cret"), "{target} from {source}: {text}");
    }
    let text = api
        .add_message(
            &format!("/env/pg-uat{ADD_MESSAGE}"),
            &admin,
            json!({"FromDateTime": "2026-11-26T08:30:00Z", "ToDateTime": "2026-11-26T10:00:00Z"}),
        )
        .text()
        .unwrap();
    assert!(!text.contains("s3cret"), "{text}");
    let text = api
        .get("/api/audit", &admin)
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(!text.contains("s3cret"), "{text}");
}

/// The API takes a profile's registered name only: a path is refused without being read,
/// and the answer holds nothing of the file.
#[test]
fn profiles_are_names_and_files_are_never_read() {
    let api = Api::start();
    let admin = api.app_token("admin", Role::Admin, &[], None);
    let secret_file = api.home.path().join("secret.toml");
    std::fs::write(&secret_file, "root:$y$j9T$TopSecret42:19000:0:99999:7:::\n").unwrap();
    std::fs::copy(api.db_path("uat"), api.db_path("train")).unwrap();
    let train = |profile: &str| {
        json!({"name": "train", "kind": "sandbox", "profile": profile,
               "sqlite": api.db_path("train")})
    };
    for path in [
        "/etc/shadow",
        secret_file.to_str().unwrap(),
        "../../etc/shadow",
    ] {
        let response = api
            .post("/api/environments", &admin)
            .json(&train(path))
            .send()
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{path}");
        let text = response.text().unwrap();
        assert!(text.contains("invalid profile name"), "{path}: {text}");
        for piece in ["root:", "TopSecret42", "19000", "daemon"] {
            assert!(!text.contains(piece), "{path}: {piece} leaked: {text}");
        }
    }
    let message = api_error(
        api.post("/api/environments", &admin)
            .json(&train("nosuch"))
            .send()
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_input",
    );
    assert_eq!(
        message,
        "unknown profile nosuch (registered: finance, none)"
    );

    let finance = dataalm_core::Profile::builtin_text("finance").unwrap();
    api.store()
        .register_profile("erp", &finance, "test", "test")
        .unwrap();
    let response = api
        .post("/api/environments", &admin)
        .json(&train("erp"))
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(json_of(response)["profile"], "erp");
    assert_eq!(api.store().env("train").unwrap().profile, "erp");
}

// ---------------------------------------------------------------------------------------
// Refresh
// ---------------------------------------------------------------------------------------

#[test]
fn refresh_runs_in_the_background_and_is_signed_off() {
    let api = Api::start();
    let operator = api.app_token("pipeline", Role::Operator, &[], None);
    let admin = api.app_token("auditor", Role::Admin, &[], None);

    // Refusals first, while nothing holds the target.
    let message = api_error(
        api.post("/api/environments/prod/refresh", &operator)
            .json(&json!({"source": "uat"}))
            .send()
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "production_target",
    );
    assert!(message.contains("prod"), "{message}");
    let message = api_error(
        api.post("/api/environments/uat/refresh", &operator)
            .json(&json!({"source": "nowhere"}))
            .send()
            .unwrap(),
        StatusCode::NOT_FOUND,
        "unknown_environment",
    );
    assert!(message.contains("nowhere"), "{message}");
    api_error(
        api.post("/api/environments/nowhere/refresh", &operator)
            .json(&json!({"source": "prod"}))
            .send()
            .unwrap(),
        StatusCode::NOT_FOUND,
        "unknown_environment",
    );
    api_error(
        api.get("/api/operations/no-such-op", &operator)
            .send()
            .unwrap(),
        StatusCode::NOT_FOUND,
        "unknown_operation",
    );
    assert!(api.store().operations(Some("uat")).unwrap().is_empty());

    // 202 with the operation's URL.
    let response = api
        .post("/api/environments/uat/refresh", &operator)
        .json(&json!({"source": "prod"}))
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let location = response
        .headers()
        .get(LOCATION)
        .expect("Location")
        .to_str()
        .unwrap()
        .to_owned();
    let body = json_of(response);
    let id = body["operation"].as_str().expect("operation id").to_owned();
    assert_eq!(location, format!("/api/operations/{id}"));
    assert_eq!(body["url"], location);

    let op = api.wait_for(&location, &operator, "awaiting_signoff");
    assert_eq!(op["id"], id);
    assert_eq!(op["source"], "prod");
    assert_eq!(op["target"], "uat");
    assert!(op["error"].is_null(), "{op:#}");
    assert!(
        op["data"].get("captured").is_none(),
        "captured rows are left out"
    );
    let steps = op["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 9);
    for step in &steps[..8] {
        assert_eq!(step["status"], "done", "{step}");
    }

    // The target is held while it awaits sign-off.
    let message = api_error(
        api.post("/api/environments/uat/refresh", &operator)
            .json(&json!({"source": "prod"}))
            .send()
            .unwrap(),
        StatusCode::CONFLICT,
        "busy",
    );
    assert!(message.contains(&id), "{message}");
    assert_eq!(api.store().operations(Some("uat")).unwrap().len(), 1);

    // Its history lists it.
    let history = json_of(
        api.get("/api/environments/uat/operations", &operator)
            .send()
            .unwrap(),
    );
    let ids: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [id.as_str()]);

    // Resume of an operation awaiting sign-off changes nothing.
    let response = api
        .post(&format!("/api/operations/{id}/resume"), &operator)
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);

    // Sign-off.
    let response = api
        .post(&format!("/api/operations/{id}/signoff"), &operator)
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let op = json_of(response);
    assert_eq!(op["state"], "signed_off");
    assert_eq!(
        json_of(api.get(&location, &operator).send().unwrap())["state"],
        "signed_off"
    );
    // A second sign-off or a rollback now is the wrong state.
    api_error(
        api.post(&format!("/api/operations/{id}/signoff"), &operator)
            .send()
            .unwrap(),
        StatusCode::CONFLICT,
        "wrong_state",
    );
    api_error(
        api.post(&format!("/api/operations/{id}/rollback"), &operator)
            .send()
            .unwrap(),
        StatusCode::CONFLICT,
        "wrong_state",
    );
    api_error(
        api.post(&format!("/api/operations/{id}/resume"), &operator)
            .send()
            .unwrap(),
        StatusCode::CONFLICT,
        "wrong_state",
    );

    // The audit log names the app.
    let audit = json_of(api.get("/api/audit", &admin).send().unwrap());
    let entries = audit.as_array().unwrap();
    let by_app = |action: &str| {
        entries
            .iter()
            .any(|e| e["actor"] == "app:pipeline" && e["action"] == action && e["env"] == "uat")
    };
    assert!(by_app("refresh started"), "{audit:#}");
    assert!(by_app("signed off"), "{audit:#}");
    let started = entries
        .iter()
        .find(|e| e["action"] == "refresh started" && e["actor"] == "app:pipeline")
        .unwrap();
    assert!(
        started["result"].as_str().unwrap().contains(&id),
        "{started}"
    );
    // `limit` is honoured.
    let one = json_of(api.get("/api/audit?limit=1", &admin).send().unwrap());
    assert_eq!(one.as_array().unwrap().len(), 1);

    // The target is free again.
    let response = api
        .post("/api/environments/uat/refresh", &operator)
        .json(&json!({"source": "prod"}))
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let second = json_of(response)["url"].as_str().unwrap().to_owned();
    api.wait_for(&second, &operator, "awaiting_signoff");
    let op = json_of(
        api.post(&format!("{second}/rollback"), &operator)
            .send()
            .unwrap(),
    );
    assert_eq!(op["state"], "rolled_back");
}

/// A refresh that stopped after its copy, as a crash leaves it: failed, its staging copy
/// beside the target. Returns it and the staging file.
fn refresh_failed_after_copy(api: &Api) -> (dataalm_core::Operation, PathBuf) {
    use dataalm_core::{OpState, Operation, Step, StepStatus};
    let store = api.store();
    let mut op = Operation::new_refresh("prod", "uat", dataalm_core::when::now());
    let staging = api
        .db_path("uat")
        .with_file_name(format!("uat.db.dataalm-{}.staging", op.id));
    std::fs::copy(api.db_path("prod"), &staging).unwrap();
    for step in &Step::ALL[..4] {
        op.step_mut(*step).unwrap().status = StepStatus::Done;
    }
    op.data.staging = Some(Location::Sqlite(staging.clone()));
    store.create_operation(&mut op).unwrap();
    op.state = OpState::Failed;
    store.save_operation(&op).unwrap();
    (op, staging)
}

#[test]
fn a_refresh_is_cancelled_before_its_cutover_and_only_then() {
    let api = Api::start();
    let operator = api.app_token("pipeline", Role::Operator, &[], None);
    let reader = api.app_token("watcher", Role::Reader, &[], None);
    let before = std::fs::read(api.db_path("uat")).unwrap();
    let (op, staging) = refresh_failed_after_copy(&api);
    let path = format!("/api/operations/{}/cancel", op.id);

    let message = api_error(
        api.post(&path, &reader).send().unwrap(),
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert!(message.contains("operator"), "{message}");
    assert!(staging.exists(), "a refused cancel changes nothing");

    let response = api.post(&path, &operator).send().unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let cancelled = json_of(response);
    assert_eq!(cancelled["state"], "cancelled", "{cancelled:#}");
    assert!(!staging.exists(), "the staging copy is dropped");
    assert_eq!(std::fs::read(api.db_path("uat")).unwrap(), before);
    api_error(
        api.post(&path, &operator).send().unwrap(),
        StatusCode::CONFLICT,
        "wrong_state",
    );
    let audit = json_of(
        api.get(
            "/api/audit",
            &api.app_token("auditor", Role::Admin, &[], None),
        )
        .send()
        .unwrap(),
    );
    for action in ["refresh cancel requested", "refresh cancelled"] {
        assert!(
            audit
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["action"] == action
                    && e["actor"] == "app:pipeline"
                    && e["env"] == "uat"),
            "{action}: {audit:#}"
        );
    }

    // The target is free; once a refresh has cut over, a cancel points to rollback.
    let response = api
        .post("/api/environments/uat/refresh", &operator)
        .json(&json!({"source": "prod"}))
        .send()
        .unwrap();
    let url = json_of(response)["url"].as_str().unwrap().to_owned();
    api.wait_for(&url, &operator, "awaiting_signoff");
    let message = api_error(
        api.post(&format!("{url}/cancel"), &operator)
            .send()
            .unwrap(),
        StatusCode::CONFLICT,
        "wrong_state",
    );
    assert!(message.contains("dataalm rollback"), "{message}");
    assert_eq!(
        json_of(api.get(&url, &operator).send().unwrap())["state"],
        "awaiting_signoff"
    );

    // It is documented with the others.
    let spec = json_of(api.client.get(api.url("/api/openapi.json")).send().unwrap());
    assert!(
        spec["paths"]["/api/operations/{id}/cancel"]["post"].is_object(),
        "{}",
        spec["paths"]
    );
}

#[test]
fn racing_refreshes_start_exactly_one() {
    let api = Api::start();
    let operator = api.app_token("pipeline", Role::Operator, &[], None);
    let answers: Vec<(StatusCode, Value)> = std::thread::scope(|scope| {
        let racers: Vec<_> = (0..6)
            .map(|_| {
                scope.spawn(|| {
                    // A client each, so the requests really run side by side.
                    let response = Client::new()
                        .post(api.url("/api/environments/uat/refresh"))
                        .bearer_auth(&operator)
                        .json(&json!({"source": "prod"}))
                        .send()
                        .unwrap();
                    (response.status(), json_of(response))
                })
            })
            .collect();
        racers.into_iter().map(|r| r.join().unwrap()).collect()
    });
    let started: Vec<&Value> = answers
        .iter()
        .filter(|(status, _)| *status == StatusCode::ACCEPTED)
        .map(|(_, body)| body)
        .collect();
    assert_eq!(started.len(), 1, "{answers:#?}");
    let id = started[0]["operation"].as_str().unwrap();
    for (status, body) in &answers {
        if *status != StatusCode::ACCEPTED {
            assert_eq!(*status, StatusCode::CONFLICT, "{body}");
            assert_eq!(body["error"]["code"], "busy", "{body}");
            assert!(
                body["error"]["message"].as_str().unwrap().contains(id),
                "{body}"
            );
        }
    }
    assert_eq!(api.store().operations(Some("uat")).unwrap().len(), 1);
    api.wait_for(
        &format!("/api/operations/{id}"),
        &operator,
        "awaiting_signoff",
    );
}

// ---------------------------------------------------------------------------------------
// AddMessage
// ---------------------------------------------------------------------------------------

#[test]
fn add_message_accepts_every_dotnet_date_form() {
    let api = Api::start();
    let token = api.app_token("pipeline", Role::Operator, &[], None);
    let path = format!("/env/uat{ADD_MESSAGE}");
    let uat = api.db_path("uat");
    let at_0830 = "2026-11-26T08:30:00Z";
    let at_1000 = "2026-11-26T10:00:00Z";
    let cases = [
        (
            "2026-11-26T08:30:00Z",
            "2026-11-26T10:00:00Z",
            at_0830,
            at_1000,
        ),
        (
            "2026-11-26T08:30:00z",
            "2026-11-26T10:00:00z",
            at_0830,
            at_1000,
        ),
        (
            "2026-11-26T08:30:00.1Z",
            "2026-11-26T10:00:00.9Z",
            at_0830,
            at_1000,
        ),
        (
            "2026-11-26T08:30:00.12Z",
            "2026-11-26T10:00:00.12Z",
            at_0830,
            at_1000,
        ),
        (
            "2026-11-26T08:30:00.123Z",
            "2026-11-26T10:00:00.123Z",
            at_0830,
            at_1000,
        ),
        (
            "2026-11-26T08:30:00.1234Z",
            "2026-11-26T10:00:00.1234Z",
            at_0830,
            at_1000,
        ),
        (
            "2026-11-26T08:30:00.12345Z",
            "2026-11-26T10:00:00.12345Z",
            at_0830,
            at_1000,
        ),
        (
            "2026-11-26T08:30:00.123456Z",
            "2026-11-26T10:00:00.123456Z",
            at_0830,
            at_1000,
        ),
        (
            "2026-11-26T08:30:00.1234567Z",
            "2026-11-26T10:00:00.9999999Z",
            at_0830,
            at_1000,
        ),
        (
            "2026-11-26T09:30:00+01:00",
            "2026-11-26T11:00:00+01:00",
            at_0830,
            at_1000,
        ),
        (
            "2026-11-26T03:30:00.5-05:00",
            "2026-11-26T05:00:00-05:00",
            at_0830,
            at_1000,
        ),
        (
            "2026-11-26T08:30:00",
            "2026-11-26T10:00:00",
            at_0830,
            at_1000,
        ),
        (
            "2026-11-26T08:30:00.1234567",
            "2026-11-26T10:00:00.123",
            at_0830,
            at_1000,
        ),
        (
            "/Date(1795681800000)/",
            "/Date(1795687200000)/",
            at_0830,
            at_1000,
        ),
        (
            "/Date(1795681800000+0100)/",
            "/Date(1795687200000-0530)/",
            at_0830,
            at_1000,
        ),
        (
            r"\/Date(1795681800000)\/",
            r"\/Date(1795687200000)\/",
            at_0830,
            at_1000,
        ),
        (
            " 2026-11-26T08:30:00Z ",
            "2026-11-27",
            at_0830,
            "2026-11-27T00:00:00Z",
        ),
    ];
    let mut ids = Vec::new();
    for (from, to, want_from, want_to) in cases {
        let response = api.add_message(
            &path,
            &token,
            json!({"FromDateTime": from, "ToDateTime": to}),
        );
        assert_eq!(response.status(), StatusCode::OK, "{from} .. {to}");
        let id = json_of(response)
            .as_i64()
            .unwrap_or_else(|| panic!("{from}: the answer is not a number"));
        let (stored_from, stored_to, text, created_by) = message_row(&uat, id);
        assert_eq!(
            (stored_from.as_str(), stored_to.as_str()),
            (want_from, want_to),
            "{from} .. {to}"
        );
        assert_eq!(
            text,
            "This environment will be unavailable for maintenance."
        );
        assert_eq!(created_by, "app:pipeline");
        ids.push(id);
    }
    let mut distinct = ids.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), ids.len(), "every message gets its own id");

    // dataalm's extra field sets the text.
    let response = api.add_message(
        &path,
        &token,
        json!({
            "FromDateTime": "2026-11-26T08:30:00Z",
            "ToDateTime": "2026-11-26T10:00:00Z",
            "Message": "Refresh from production tonight",
        }),
    );
    assert_eq!(response.status(), StatusCode::OK);
    let id = json_of(response).as_i64().unwrap();
    assert_eq!(message_row(&uat, id).2, "Refresh from production tonight");

    // Each message is audited.
    let admin = api.app_token("auditor", Role::Admin, &[], None);
    let audit = json_of(api.get("/api/audit?limit=1000", &admin).send().unwrap());
    let messages = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "message" && e["actor"] == "app:pipeline" && e["env"] == "uat")
        .count();
    assert_eq!(messages, cases.len() + 1);
}

#[test]
fn add_message_refuses_bad_dates_naming_the_field() {
    let api = Api::start();
    let token = api.app_token("pipeline", Role::Operator, &[], None);
    let path = format!("/env/uat{ADD_MESSAGE}");
    let uat = api.db_path("uat");
    let before = message_count(&uat);
    let good = json!("2026-11-26T10:00:00Z");
    let bad = [
        json!("2026-02-30T00:00:00Z"),
        json!("garbage"),
        json!(""),
        json!(1795681800000_i64),
        json!(null),
        json!({"date": "2026-11-26"}),
        json!("2026-11-26T08:30:00.12345678Z"),
        json!("2026-11-26 08:30:00Z"),
        json!("2026-11-26T24:00:00Z"),
        json!("2026-11-26T08:30:00+15:00"),
        json!("/Date(abc)/"),
        json!("/Date(1795681800000"),
    ];
    for field in ["FromDateTime", "ToDateTime"] {
        let other = if field == "FromDateTime" {
            "ToDateTime"
        } else {
            "FromDateTime"
        };
        for value in &bad {
            let mut request = serde_json::Map::new();
            request.insert(field.into(), value.clone());
            request.insert(other.into(), good.clone());
            let message = api_error(
                api.add_message(&path, &token, Value::Object(request)),
                StatusCode::BAD_REQUEST,
                "bad_request",
            );
            assert!(message.contains(field), "{field}={value}: {message}");
        }
        // Missing.
        let request = json!({ other: good });
        let message = api_error(
            api.add_message(&path, &token, request),
            StatusCode::BAD_REQUEST,
            "bad_request",
        );
        assert!(message.contains(field), "{field} missing: {message}");
        assert!(message.contains("missing"), "{message}");
    }

    // Reversed, and equal.
    for (from, to) in [
        ("2026-11-26T10:00:00Z", "2026-11-26T08:30:00Z"),
        ("2026-11-26T10:00:00Z", "2026-11-26T10:00:00Z"),
        ("2026-11-26T11:00:00+01:00", "2026-11-26T10:00:00Z"),
    ] {
        let message = api_error(
            api.add_message(
                &path,
                &token,
                json!({"FromDateTime": from, "ToDateTime": to}),
            ),
            StatusCode::BAD_REQUEST,
            "bad_request",
        );
        assert!(
            message.contains("ToDateTime") && message.contains("FromDateTime"),
            "{message}"
        );
    }
    assert_eq!(message_count(&uat), before, "nothing was added");

    // Unknown environment.
    api_error(
        api.add_message(
            &format!("/env/nowhere{ADD_MESSAGE}"),
            &token,
            json!({"FromDateTime": "2026-11-26T08:30:00Z", "ToDateTime": "2026-11-26T10:00:00Z"}),
        ),
        StatusCode::NOT_FOUND,
        "unknown_environment",
    );
}

#[test]
fn add_message_at_the_root_finds_the_environment_by_host_or_token() {
    let api = Api::start();
    let unscoped = api.app_token("pipeline", Role::Operator, &[], None);
    let (id, secret) = api.register("uat-pipeline", Role::Operator, &[]);
    let uat_scoped = api.token(&id, &secret, Some(&format!("{UAT_URL}/.default")));
    let prod_scoped = api.token(&id, &secret, Some("prod"));
    let uat = api.db_path("uat");
    let prod = api.db_path("prod");
    let request =
        json!({"FromDateTime": "2026-11-26T08:30:00Z", "ToDateTime": "2026-11-26T10:00:00Z"});
    let with_host = |host: &str, token: &str| {
        api.post(ADD_MESSAGE, token)
            .header(HOST, host)
            .json(&json!({ "request": request }))
            .send()
            .unwrap()
    };

    // By Host (any case), with a token for all environments.
    for host in ["uat.example.com", "UAT.Example.COM"] {
        let prod_before = message_count(&prod);
        let response = with_host(host, &unscoped);
        assert_eq!(response.status(), StatusCode::OK, "Host: {host}");
        let id = json_of(response).as_i64().unwrap();
        let (from, to, _, _) = message_row(&uat, id);
        assert_eq!(
            (from.as_str(), to.as_str()),
            ("2026-11-26T08:30:00Z", "2026-11-26T10:00:00Z")
        );
        assert_eq!(message_count(&prod), prod_before, "prod untouched");
    }

    // By the token's one environment, when the host names none.
    let uat_before = message_count(&uat);
    let response = api.add_message(ADD_MESSAGE, &uat_scoped, request.clone());
    assert_eq!(response.status(), StatusCode::OK);
    let id = json_of(response).as_i64().unwrap();
    message_row(&uat, id);
    assert_eq!(message_count(&uat), uat_before + 1);

    // Neither decides.
    let message = api_error(
        api.add_message(ADD_MESSAGE, &unscoped, request.clone()),
        StatusCode::BAD_REQUEST,
        "bad_request",
    );
    assert!(message.contains("/env/{env}"), "{message}");
    api_error(
        with_host("erp.example.com", &unscoped),
        StatusCode::BAD_REQUEST,
        "bad_request",
    );

    // The host names uat but the token is for prod only.
    api_error(
        with_host("uat.example.com", &prod_scoped),
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_eq!(message_count(&uat), uat_before + 1);
}

// ---------------------------------------------------------------------------------------
// Limits
// ---------------------------------------------------------------------------------------

#[test]
fn bodies_over_10_mb_get_413() {
    let api = Api::start();
    let token = api.app_token("pipeline", Role::Operator, &[], None);
    let padding = "x".repeat(11 << 20);
    let body = json!({
        "request": {
            "FromDateTime": "2026-11-26T08:30:00Z",
            "ToDateTime": "2026-11-26T10:00:00Z",
            "Message": padding,
        }
    })
    .to_string();
    let uat = api.db_path("uat");
    let before = message_count(&uat);
    let status = post_raw(
        &api.base,
        &format!("/env/uat{ADD_MESSAGE}"),
        &token,
        body.as_bytes(),
    );
    assert_eq!(status, 413, "an 11 MB body must be refused");
    assert_eq!(message_count(&uat), before);

    // A large body under the limit is fine.
    let body = json!({
        "request": {
            "FromDateTime": "2026-11-26T08:30:00Z",
            "ToDateTime": "2026-11-26T10:00:00Z",
            "Message": "y".repeat(1 << 20),
        }
    });
    let response = api
        .post(&format!("/env/uat{ADD_MESSAGE}"), &token)
        .json(&body)
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

/// Posts `body` over a socket of its own and returns the answer's status code.
///
/// The server answers a body over the limit without reading the rest and closes the
/// connection, so a client that writes the whole body before it reads (reqwest) may see
/// a broken pipe instead of the answer, depending on timing. Here one thread writes
/// (its broken pipe is expected) while this one reads the answer.
fn post_raw(base: &str, path: &str, token: &str, body: &[u8]) -> u16 {
    use std::io::{Read, Write};
    let addr = base.trim_start_matches("http://");
    let mut reader = std::net::TcpStream::connect(addr).expect("connect");
    reader
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("read timeout");
    let mut writer = reader.try_clone().expect("socket clone");
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    let sending = std::thread::spawn(move || {
        // The server may stop reading once it has answered: a broken pipe is expected.
        let _ = writer.write_all(&request);
    });
    let mut head = [0u8; 12];
    reader.read_exact(&mut head).expect("an answer");
    let _ = sending.join();
    let line = String::from_utf8_lossy(&head);
    line.get(9..12)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP status line: {line:?}"))
}

// ---------------------------------------------------------------------------------------
// Bugs found while writing these tests (they fail until the server is fixed)
// ---------------------------------------------------------------------------------------

/// RFC 7235 section 2.1: the authentication scheme is case-insensitive, so `bearer` and
/// `basic` are as good as `Bearer` and `Basic`. The server only accepts the capitalised
/// forms (`strip_prefix("Bearer ")` and `strip_prefix("Basic ")` in `src/auth.rs`).
#[test]
fn authorization_schemes_are_case_insensitive() {
    let api = Api::start();
    let (id, secret) = api.register("pipeline", Role::Operator, &[]);
    let token = api.token(&id, &secret, None);
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let response = api
            .client
            .get(api.url("/api/environments"))
            .header(AUTHORIZATION, format!("{scheme} {token}"))
            .send()
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "scheme `{scheme}`");
    }
    let pair = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
    for scheme in ["Basic", "basic", "BASIC"] {
        let response = api
            .client
            .post(api.url("/oauth2/token"))
            .header(AUTHORIZATION, format!("{scheme} {pair}"))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "scheme `{scheme}`");
    }
}

/// Every error is `{"error": {"code", "message"}}` (src/error.rs), but requests that
/// axum's extractors reject before a handler runs (`Json`, `Query`, the body limit) get
/// axum's plain-text answers instead, and `/oauth2/token` answers a non-form body with
/// plain text rather than an OAuth2 error.
#[test]
fn rejected_bodies_get_json_errors_too() {
    let api = Api::start();
    let token = api.app_token("pipeline", Role::Admin, &[], None);
    let add_message = format!("/env/uat{ADD_MESSAGE}");
    let json_type = |r: RequestBuilder| r.header(reqwest::header::CONTENT_TYPE, "application/json");
    let cases: Vec<(&str, RequestBuilder)> = vec![
        (
            "malformed JSON",
            json_type(api.post(&add_message, &token)).body("{"),
        ),
        (
            "no `request`",
            api.post(&add_message, &token)
                .json(&json!({"FromDateTime": "2026-11-26T08:30:00Z"})),
        ),
        ("no Content-Type", api.post(&add_message, &token).body("{}")),
        (
            "unknown refresh field",
            api.post("/api/environments/uat/refresh", &token)
                .json(&json!({"source": "prod", "force": true})),
        ),
        ("bad query", api.get("/api/audit?limit=many", &token)),
        (
            "11 MB body",
            json_type(
                Client::new()
                    .post(api.url(&add_message))
                    .bearer_auth(&token),
            )
            .body("x".repeat(11 << 20)),
        ),
    ];
    let mut problems = Vec::new();
    for (label, request) in cases {
        let response = send_past_early_refusal(request, label);
        let status = response.status();
        let text = response.text().unwrap();
        assert!(status.is_client_error(), "{label}: {status}");
        let body: Option<Value> = serde_json::from_str(&text).ok();
        let code = body.as_ref().and_then(|b| b["error"]["code"].as_str());
        if code.is_none() {
            problems.push(format!("{label}: {status} {text:?}"));
        }
    }
    // OAuth2 clients expect {"error": "invalid_request"} from the token endpoint.
    let response = Client::new()
        .post(api.url("/oauth2/token"))
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .unwrap();
    let status = response.status();
    let text = response.text().unwrap();
    let body: Option<Value> = serde_json::from_str(&text).ok();
    if body.as_ref().and_then(|b| b["error"].as_str()).is_none() {
        problems.push(format!("JSON body at /oauth2/token: {status} {text:?}"));
    }
    assert!(
        problems.is_empty(),
        "not JSON errors:\n{}",
        problems.join("\n")
    );
}

/// A script written for the reference ERP: start a refresh with the database movement
/// API, poll its status until Completed, sign off, and see SignedOff.
#[test]
fn the_database_movement_api_is_driven_as_a_script_would() {
    let api = Api::start();
    let operator = api.app_token("lcs-script", Role::Operator, &[], None);

    let refused = json_of(
        api.post(
            "/databasemovement/v1/refresh/project/1234/source/uat/target/prod",
            &operator,
        )
        .send()
        .unwrap(),
    );
    assert_eq!(refused["IsSuccess"], false, "{refused}");
    assert!(
        refused["ErrorMessage"]
            .as_str()
            .unwrap_or_default()
            .contains("production")
    );

    let started = json_of(
        api.post(
            "/databasemovement/v1/refresh/project/1234/source/prod/target/uat",
            &operator,
        )
        .send()
        .unwrap(),
    );
    assert_eq!(started["IsSuccess"], true, "{started}");
    assert!(started["ErrorMessage"].is_null());
    assert_eq!(started["VersionEOL"], "9999-12-31T23:59:59.9999999");
    let id = started["OperationActivityId"].as_str().unwrap().to_owned();

    let status_path = format!(
        "/databasemovement/v1/fetchstatus/project/1234/environment/uat/operationactivity/{id}"
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        let status = json_of(api.get(&status_path, &operator).send().unwrap());
        assert_eq!(status["IsSuccess"], true, "{status}");
        assert_eq!(status["ActivityId"], id.as_str());
        let state = status["OperationStatus"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(
            ["NotStarted", "InProgress", "Completed"].contains(&state.as_str()),
            "{status}"
        );
        if state == "Completed" || Instant::now() > deadline {
            break status;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(status["OperationStatus"], "Completed", "{status}");

    let signed = api
        .post(&format!("/api/operations/{id}/signoff"), &operator)
        .send()
        .unwrap();
    assert_eq!(signed.status(), StatusCode::OK);
    let status = json_of(api.get(&status_path, &operator).send().unwrap());
    assert_eq!(status["OperationStatus"], "SignedOff", "{status}");

    // The operation belongs to uat, not to prod.
    let elsewhere = api
        .get(
            &format!("/databasemovement/v1/fetchstatus/project/1234/environment/prod/operationactivity/{id}"),
            &operator,
        )
        .send()
        .unwrap();
    // A refusal, in the envelope, as the ERP answers it.
    assert_eq!(elsewhere.status(), StatusCode::OK);
    assert_eq!(json_of(elsewhere)["IsSuccess"], false);
}

fn enabled_in(db: &Path, user: &str) -> i64 {
    rusqlite::Connection::open(db)
        .unwrap()
        .query_row(
            "SELECT enabled FROM user_info WHERE id = ?1",
            [user],
            |row| row.get(0),
        )
        .unwrap()
}

/// Users and batch jobs as a pipeline changes them: JSON lists, real CSV and XLSX
/// uploads (the XLSX is the server's own export), all or nothing.
#[test]
fn users_and_jobs_change_from_json_csv_and_xlsx() {
    let api = Api::start();
    let operator = api.app_token("people", Role::Operator, &[], None);
    let reader = api.app_token("viewer", Role::Reader, &[], None);
    let uat = api.db_path("uat");

    // Unknown users: 400 naming them, nothing changed.
    let message = api_error(
        api.post("/api/environments/uat/users/disable", &operator)
            .json(&json!({"users": ["alice", "nobody@nowhere"]}))
            .send()
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_input",
    );
    assert!(message.contains("nobody@nowhere"), "{message}");
    assert_eq!(enabled_in(&uat, "alice"), 1);

    let done = json_of(
        api.post("/api/environments/uat/users/disable", &operator)
            .json(&json!({"users": ["alice", "bob@contoso.com"]}))
            .send()
            .unwrap(),
    );
    assert_eq!(done["changed"], json!(["alice", "bob"]), "{done}");
    assert_eq!(enabled_in(&uat, "alice"), 0);

    // A CSV file with a header enables them again.
    let done = json_of(
        api.post("/api/environments/uat/users/enable", &operator)
            .header("content-type", "text/csv")
            .body("user id\nalice\nbob@contoso.com\n")
            .send()
            .unwrap(),
    );
    assert_eq!(done["changed"], json!(["alice", "bob"]), "{done}");
    assert_eq!(enabled_in(&uat, "bob"), 1);

    // The XLSX export, uploaded back, names only users that exist.
    let xlsx = api
        .get("/api/environments/uat/users.xlsx", &reader)
        .send()
        .unwrap();
    assert_eq!(xlsx.status(), StatusCode::OK);
    let bytes = xlsx.bytes().unwrap();
    assert!(bytes.starts_with(b"PK"), "an XLSX file is a zip");
    let listed = json_of(
        api.get("/api/environments/uat/users", &reader)
            .send()
            .unwrap(),
    );
    let total = listed.as_array().unwrap().len();
    let done = json_of(
        api.post("/api/environments/uat/users/disable", &operator)
            .header(
                "content-type",
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            )
            .body(bytes.to_vec())
            .send()
            .unwrap(),
    );
    let touched =
        done["changed"].as_array().unwrap().len() + done["already"].as_array().unwrap().len();
    assert_eq!(touched, total, "{done}");
    let enabled = json_of(
        api.get("/api/environments/uat/users?enabled=true", &reader)
            .send()
            .unwrap(),
    );
    assert_eq!(enabled, json!([]));

    // A reader may look but not change.
    api_error(
        api.post("/api/environments/uat/users/enable", &reader)
            .json(&json!({"users": ["alice"]}))
            .send()
            .unwrap(),
        StatusCode::FORBIDDEN,
        "forbidden",
    );

    // Batch jobs: the withheld ones back to waiting, then none is withheld.
    let withheld = json_of(
        api.get("/api/environments/uat/jobs?status=withhold", &reader)
            .send()
            .unwrap(),
    );
    let done = json_of(
        api.post("/api/environments/uat/jobs/status", &operator)
            .json(&json!({"status": "waiting", "all_withheld": true}))
            .send()
            .unwrap(),
    );
    assert_eq!(
        done["changed"].as_array().unwrap().len(),
        withheld.as_array().unwrap().len(),
        "{done}"
    );
    let left = json_of(
        api.get("/api/environments/uat/jobs?status=withhold", &reader)
            .send()
            .unwrap(),
    );
    assert_eq!(left, json!([]));

    // The plan applied on demand, then a dry run finds nothing left to change.
    let applied = json_of(
        api.post("/api/environments/uat/reconfigure?dry_run=false", &operator)
            .send()
            .unwrap(),
    );
    assert_eq!(applied["dry_run"], false);
    let again = json_of(
        api.post("/api/environments/uat/reconfigure?dry_run=true", &reader)
            .send()
            .unwrap(),
    );
    assert_eq!(again["changes"], json!([]), "{again}");
}

/// A control plane that cannot answer the token check is the server's trouble: 503
/// with Retry-After, never a 401 that tells a good client its token was revoked.
#[test]
fn a_control_plane_failure_in_the_token_check_is_503() {
    let api = Api::start();
    let token = api.app_token("pipeline", Role::Operator, &[], None);
    let apps = match crate::BACKEND {
        Backend::Sqlite => "apps",
        Backend::Postgres => "dataalm.apps",
    };
    let engine = dataalm_engine::engine_for(&api.store).unwrap();
    let mut db = engine.open(&api.store, false).unwrap();
    db.execute_batch(&format!("ALTER TABLE {apps} RENAME TO apps_away"))
        .unwrap();
    let response = api.get("/api/environments", &token).send().unwrap();
    let retry = response.headers().get("retry-after").cloned();
    api_error(response, StatusCode::SERVICE_UNAVAILABLE, "control_plane");
    assert!(retry.is_some(), "no Retry-After");
    let back = match crate::BACKEND {
        Backend::Sqlite => "ALTER TABLE apps_away RENAME TO apps",
        Backend::Postgres => "ALTER TABLE dataalm.apps_away RENAME TO apps",
    };
    db.execute_batch(back).unwrap();
    let response = api.get("/api/environments", &token).send().unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

/// Sends `request`; a server may answer an oversized body and close before the client
/// has written it all, which the client sees as a broken pipe instead of the answer.
/// That race is retried a few times, so the answer's JSON is what gets checked.
fn send_past_early_refusal(request: RequestBuilder, label: &str) -> Response {
    let mut last = None;
    for _ in 0..5 {
        let attempt = request.try_clone().expect("a body that can be sent again");
        match attempt.send() {
            Ok(response) => return response,
            Err(e) if e.is_request() => last = Some(e),
            Err(e) => panic!("{label}: {e}"),
        }
    }
    panic!("{label}: the server closed before answering, 5 times: {last:?}")
}
