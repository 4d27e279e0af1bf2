//! The clients people already have, unchanged, against a real dataalm over HTTPS with a
//! CA made here: MSAL Python and azure-identity (client credentials, through the OpenID
//! discovery document), and a d365fo.tools-style session (the password grant as
//! `Get-D365LcsApiToken` sends it, then a refresh token). Each token posts an
//! AddMessage, and the message must be in the environment's database.
//!
//! The Python libraries come from PyPI into a venv that `scripts/test` makes
//! (`$DATAALM_PY_VENV`, else `~/.cache/dataalm/py-venv`); without it these tests fail
//! saying so.

mod running;
mod samples;

use dataalm_core::access::Role;
use dataalm_core::{EnvKind, Environment, Location};
use dataalm_store::Store;
use reqwest::StatusCode;
use reqwest::blocking::Client;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use tempfile::TempDir;

const ADD_MESSAGE: &str =
    "/api/services/SysBroadcastMessageServices/SysBroadcastMessageService/AddMessage";
const UAT_URL: &str = "https://uat.example.com";
const PASSWORD: &str = "correct horse battery staple";

/// A dataalm over HTTPS with `prod` and `uat` (base URL `UAT_URL`), its CA's PEM file,
/// and a client that trusts that CA alone.
struct Served {
    home: TempDir,
    store: Location,
    base: String,
    ca_file: PathBuf,
    client: Client,
}

impl Served {
    fn start() -> Served {
        let home = tempfile::tempdir().expect("temp home");
        let dbs = home.path().join("dbs");
        std::fs::create_dir(&dbs).expect("dbs dir");
        samples::copy_into(&dbs);
        let location = Store::in_home(home.path());
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
        drop(store);

        let ca = dataalm_pgtest::TestCa::new("dataalm identity test CA").expect("CA");
        let cert = ca.server_cert(&["127.0.0.1"]).expect("server certificate");
        let ca_file = home.path().join("ca.pem");
        std::fs::write(&ca_file, &cert.ca_pem).expect("CA file");
        let (cert_file, key_file) = (
            home.path().join("server.pem"),
            home.path().join("server.key"),
        );
        std::fs::write(&cert_file, &cert.cert_pem).expect("certificate file");
        std::fs::write(&key_file, &cert.key_pem).expect("key file");
        let tls = dataalm_server::tls::server_config(&cert_file, &key_file).expect("TLS");
        let addr = running::serve(&location, Some(tls));

        let root = reqwest::Certificate::from_pem(cert.ca_pem.as_bytes()).expect("CA");
        let client = Client::builder()
            .tls_certs_only([root])
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        Served {
            home,
            store: location,
            base: format!("https://{addr}"),
            ca_file,
            client,
        }
    }

    fn store(&self) -> Store {
        Store::connect(&self.store).expect("control plane")
    }

    fn db(&self, env: &str) -> PathBuf {
        self.home.path().join("dbs").join(format!("{env}.db"))
    }

    /// Runs a Python script in the venv with the libraries, trusting the test's CA;
    /// returns the JSON it prints last.
    fn python(&self, script: &str, vars: &[(&str, &str)]) -> Value {
        let python = venv_python();
        let out = Command::new(&python)
            .arg("-c")
            .arg(script)
            .env("REQUESTS_CA_BUNDLE", &self.ca_file)
            .env("SSL_CERT_FILE", &self.ca_file)
            .env("BASE", &self.base)
            .env("ADD_MESSAGE", ADD_MESSAGE)
            .envs(vars.iter().copied())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "the script failed ({}):\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let last = stdout.lines().last().unwrap_or_default();
        serde_json::from_str(last).unwrap_or_else(|e| panic!("not JSON: {e}: {stdout}"))
    }

    fn post_form(&self, path: &str, form: &str) -> (StatusCode, Value) {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form.to_owned())
            .send()
            .expect("token request");
        let status = response.status();
        (status, response.json().expect("JSON answer"))
    }

    /// Posts an AddMessage at the root, as a script given the environment's URL does;
    /// returns the new message's id.
    fn add_message(&self, token: &str, text: &str) -> i64 {
        let response = self
            .client
            .post(format!("{}{ADD_MESSAGE}", self.base))
            .bearer_auth(token)
            .json(&json!({"request": {
                "FromDateTime": "2026-12-24T08:00:00Z",
                "ToDateTime": "2026-12-24T10:00:00Z",
                "Message": text,
            }}))
            .send()
            .expect("AddMessage");
        assert_eq!(response.status(), StatusCode::OK, "AddMessage");
        message_id(&response.json().expect("JSON"))
    }
}

/// The venv's python, or a failure saying how to make it.
fn venv_python() -> PathBuf {
    let venv = std::env::var_os("DATAALM_PY_VENV")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/dataalm/py-venv")))
        .expect("HOME or DATAALM_PY_VENV");
    let python = venv.join("bin/python");
    let ready = Command::new(&python)
        .args(["-c", "import msal, azure.identity"])
        .output()
        .is_ok_and(|out| out.status.success());
    assert!(
        ready,
        "no venv with msal and azure-identity at {}: run scripts/test, which installs them \
         (or set DATAALM_PY_VENV to a venv that has them)",
        venv.display()
    );
    python
}

/// The new message's id in an AddMessage answer.
fn message_id(answer: &Value) -> i64 {
    answer
        .as_i64()
        .or_else(|| answer["id"].as_i64())
        .unwrap_or_else(|| panic!("no message id in {answer}"))
}

/// The message `id` in `db`: its text and who created it.
fn message(db: &Path, id: i64) -> (String, String) {
    let conn = rusqlite::Connection::open(db).expect("open environment");
    conn.query_row(
        "SELECT message, created_by FROM sys_broadcast_message WHERE recid = ?1",
        [id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .unwrap_or_else(|e| panic!("message {id} is not in {}: {e}", db.display()))
}

/// The claims of a token, checked with the key the server publishes at the `jwks_uri`
/// of its discovery document, as a gateway would.
fn verified_claims(served: &Served, token: &str) -> Value {
    let get = |url: &str| -> Value {
        served
            .client
            .get(url)
            .send()
            .and_then(|r| r.error_for_status())
            .and_then(|r| r.json())
            .unwrap_or_else(|e| panic!("GET {url}: {e}"))
    };
    let config = get(&format!(
        "{}/common/v2.0/.well-known/openid-configuration",
        served.base
    ));
    let jwks: jsonwebtoken::jwk::JwkSet =
        serde_json::from_value(get(config["jwks_uri"].as_str().expect("jwks_uri")))
            .expect("a JWK set");
    let header = jsonwebtoken::decode_header(token).expect("a JWT");
    assert_eq!(header.alg, jsonwebtoken::Algorithm::ES256);
    let kid = header.kid.expect("the token names its key");
    let jwk = jwks.find(&kid).expect("the key is published");
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).expect("a usable key");
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.validate_aud = false;
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .expect("the token verifies with the published key")
        .claims
}

const MSAL_SCRIPT: &str = r#"
import json, os, msal, requests
base = os.environ["BASE"]
app = msal.ConfidentialClientApplication(
    os.environ["CLIENT_ID"],
    client_credential=os.environ["SECRET"],
    authority=f"{base}/{os.environ['TENANT']}",
    validate_authority=False,
)
result = app.acquire_token_for_client(scopes=[os.environ["SCOPE"]])
if "access_token" not in result:
    raise SystemExit(f"no token: {result}")
token = result["access_token"]
answer = requests.post(
    base + os.environ["ADD_MESSAGE"],
    json={"request": {"FromDateTime": "2026-12-24T08:00:00Z",
                      "ToDateTime": "2026-12-24T10:00:00Z",
                      "Message": "from MSAL"}},
    headers={"Authorization": f"Bearer {token}"},
)
answer.raise_for_status()
print(json.dumps({"token": token, "answer": answer.json(),
                  "token_type": result.get("token_type")}))
"#;

const AZURE_IDENTITY_SCRIPT: &str = r#"
import json, os, requests
from azure.identity import ClientSecretCredential
base = os.environ["BASE"]
credential = ClientSecretCredential(
    os.environ["TENANT"], os.environ["CLIENT_ID"], os.environ["SECRET"],
    authority=base, disable_instance_discovery=True,
)
token = credential.get_token(os.environ["SCOPE"])
answer = requests.post(
    base + os.environ["ADD_MESSAGE"],
    json={"request": {"FromDateTime": "2026-12-24T08:00:00Z",
                      "ToDateTime": "2026-12-24T10:00:00Z",
                      "Message": "from azure-identity"}},
    headers={"Authorization": f"Bearer {token.token}"},
)
answer.raise_for_status()
print(json.dumps({"token": token.token, "expires_on": token.expires_on, "answer": answer.json()}))
"#;

/// MSAL's `acquire_token_for_client` and azure-identity's `ClientSecretCredential`, with
/// the authorities and flags people use against a custom host, get tokens scoped to
/// uat by its base URL; each posts an AddMessage that lands in uat, made by the app.
#[test]
fn msal_and_azure_identity_get_tokens_whose_messages_land() {
    let served = Served::start();
    let (app, secret) = served
        .store()
        .register_app("pipeline", Role::Operator, &[])
        .expect("register");
    let scope = format!("{UAT_URL}/.default");
    let vars = [
        ("CLIENT_ID", app.client_id.as_str()),
        ("SECRET", secret.as_str()),
        ("SCOPE", scope.as_str()),
        ("TENANT", "contoso.onmicrosoft.com"),
    ];
    for (script, text) in [
        (MSAL_SCRIPT, "from MSAL"),
        (AZURE_IDENTITY_SCRIPT, "from azure-identity"),
    ] {
        let answer = served.python(script, &vars);
        let id = message_id(&answer["answer"]);
        assert_eq!(
            message(&served.db("uat"), id),
            (text.to_owned(), "app:pipeline".to_owned()),
            "{text}"
        );
        let claims = verified_claims(&served, answer["token"].as_str().expect("token"));
        assert_eq!(claims["envs"], json!(["uat"]), "{text}: {claims}");
        assert_eq!(claims["role"], "operator", "{claims}");
    }
}

/// What d365fo.tools' `Get-D365LcsApiToken` sends, byte for byte in form: the password
/// grant of a public client at `/common/oauth2/token` with `resource` = dataalm's own
/// URL and `scope=openid`. The v1 answer has what PowerShell reads; the token acts as
/// the person (their role under the app's cap) and the audit names them. The refresh
/// token is swapped once for a new pair and refused the second time; disabling the
/// person ends both their refresh token and their access token.
#[test]
fn a_d365fo_style_password_session_posts_messages_and_refreshes() {
    let served = Served::start();
    let store = served.store();
    let app = store
        .register_public_app("d365fo.tools", Role::Operator, &[])
        .expect("register public client");
    store
        .create_person("alice", Role::Admin, PASSWORD)
        .expect("person");
    store
        .create_person("bob", Role::Reader, PASSWORD)
        .expect("person");
    // Another admin, so alice can be disabled.
    store
        .create_person("root", Role::Admin, PASSWORD)
        .expect("person");
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let password_form = |user: &str, password: &str| {
        format!(
            "grant_type=password&resource={}&client_id={}&username={}&password={}&scope=openid",
            enc(&served.base),
            app.client_id,
            enc(user),
            enc(password)
        )
    };

    let (status, answer) =
        served.post_form("/common/oauth2/token", &password_form("alice", PASSWORD));
    assert_eq!(status, StatusCode::OK, "{answer}");
    for field in [
        "token_type",
        "expires_in",
        "ext_expires_in",
        "expires_on",
        "resource",
        "access_token",
        "refresh_token",
    ] {
        assert!(!answer[field].is_null(), "no {field} in {answer}");
    }
    assert_eq!(answer["token_type"], "Bearer");
    assert_eq!(answer["resource"], served.base.as_str());
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let expires_on = answer["expires_on"].as_i64().expect("Unix seconds");
    assert!(
        (now + 3000..=now + 3700).contains(&expires_on),
        "{expires_on}"
    );
    let token = answer["access_token"].as_str().expect("token").to_owned();
    let claims = verified_claims(&served, &token);
    // dataalm's own URL means every environment; admin is capped at the app's operator.
    assert_eq!(claims["envs"], json!([]), "{claims}");
    assert_eq!(claims["role"], "operator", "{claims}");
    assert_eq!(claims["person"], "alice", "{claims}");

    // A token for every environment posts through the environment's own path.
    let response = served
        .client
        .post(format!("{}/env/uat{ADD_MESSAGE}", served.base))
        .bearer_auth(&token)
        .json(&json!({"request": {"FromDateTime": "2026-12-24T08:00:00Z",
                                  "ToDateTime": "2026-12-24T10:00:00Z",
                                  "Message": "from alice"}}))
        .send()
        .expect("AddMessage");
    assert_eq!(response.status(), StatusCode::OK);
    let id = message_id(&response.json().expect("JSON"));
    let (text, created_by) = message(&served.db("uat"), id);
    assert_eq!(text, "from alice");
    assert_eq!(created_by, "person:alice via app:d365fo.tools");
    let audited = store.audit_log(1000).expect("audit");
    assert!(
        audited
            .iter()
            .any(|e| e.actor == "person:alice via app:d365fo.tools" && e.action == "message"),
        "{audited:?}"
    );

    // The refresh token: swapped once, for a token scoped to uat by its URL.
    let refresh = answer["refresh_token"]
        .as_str()
        .expect("refresh token")
        .to_owned();
    let refresh_form = |token: &str, resource: &str| {
        format!(
            "grant_type=refresh_token&client_id={}&refresh_token={}&resource={}",
            app.client_id,
            enc(token),
            enc(resource)
        )
    };
    let (status, swapped) =
        served.post_form("/common/oauth2/token", &refresh_form(&refresh, UAT_URL));
    assert_eq!(status, StatusCode::OK, "{swapped}");
    let scoped = swapped["access_token"].as_str().expect("token");
    assert_eq!(verified_claims(&served, scoped)["envs"], json!(["uat"]));
    let id = served.add_message(scoped, "from alice, refreshed");
    assert_eq!(
        message(&served.db("uat"), id).1,
        "person:alice via app:d365fo.tools"
    );
    let (status, reused) =
        served.post_form("/common/oauth2/token", &refresh_form(&refresh, UAT_URL));
    assert_eq!(status, StatusCode::BAD_REQUEST, "{reused}");
    assert_eq!(reused["error"], "invalid_grant", "{reused}");

    // Disabling alice ends her next refresh token and her access token.
    let next = swapped["refresh_token"]
        .as_str()
        .expect("rotated refresh token");
    store.set_person_enabled("alice", false).expect("disable");
    let (status, refused) = served.post_form("/common/oauth2/token", &refresh_form(next, UAT_URL));
    assert_eq!(
        (status, &refused["error"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_grant"))
    );
    let response = served
        .client
        .get(format!("{}/api/environments", served.base))
        .bearer_auth(scoped)
        .send()
        .expect("API call");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    // A reader stays a reader whatever the app allows: no messages.
    let (_, answer) = served.post_form("/common/oauth2/token", &password_form("bob", PASSWORD));
    let token = answer["access_token"].as_str().expect("token");
    let response = served
        .client
        .post(format!("{}/env/uat{ADD_MESSAGE}", served.base))
        .bearer_auth(token)
        .json(&json!({"request": {"FromDateTime": "2026-12-24T08:00:00Z",
                                  "ToDateTime": "2026-12-24T10:00:00Z"}}))
        .send()
        .expect("AddMessage");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

/// A wrong password is `invalid_grant`, audited under the person's name; after a few,
/// the name is throttled like a portal sign-in (429 `slow_down`, even with the right
/// password). A confidential client cannot take passwords, and a public one has no
/// secret for client credentials.
#[test]
fn wrong_passwords_are_invalid_grant_and_throttled() {
    let served = Served::start();
    let store = served.store();
    let public = store
        .register_public_app("scripts", Role::Admin, &[])
        .expect("register public client");
    let (confidential, _) = store
        .register_app("pipeline", Role::Admin, &[])
        .expect("register");
    store
        .create_person("carol", Role::Operator, PASSWORD)
        .expect("person");
    let form = |client: &str, password: &str| {
        format!(
            "grant_type=password&client_id={client}&username=carol&password={}&scope=openid",
            form_urlencoded::byte_serialize(password.as_bytes()).collect::<String>()
        )
    };

    let (status, answer) = served.post_form(
        "/common/oauth2/token",
        &form(&confidential.client_id, PASSWORD),
    );
    assert_eq!(
        (status, &answer["error"]),
        (StatusCode::BAD_REQUEST, &json!("unauthorized_client"))
    );
    let (status, answer) = served.post_form(
        "/common/oauth2/v2.0/token",
        &format!(
            "grant_type=client_credentials&client_id={}&client_secret=&scope=x",
            public.client_id
        ),
    );
    assert_eq!(
        (status, &answer["error"]),
        (StatusCode::UNAUTHORIZED, &json!("invalid_client")),
        "{answer}"
    );

    // Five failures are free; the sixth starts the backoff.
    for _ in 0..6 {
        let (status, answer) = served.post_form(
            "/common/oauth2/token",
            &form(&public.client_id, "wrong password!"),
        );
        assert_eq!(
            (status, &answer["error"]),
            (StatusCode::BAD_REQUEST, &json!("invalid_grant")),
            "{answer}"
        );
    }
    let (status, answer) =
        served.post_form("/common/oauth2/token", &form(&public.client_id, PASSWORD));
    assert_eq!(
        (status, &answer["error"]),
        (StatusCode::TOO_MANY_REQUESTS, &json!("slow_down")),
        "{answer}"
    );
    let failures = store
        .audit_log(1000)
        .expect("audit")
        .into_iter()
        .filter(|e| e.actor == "person:carol" && e.result.starts_with("refused: wrong secret"))
        .count();
    assert_eq!(failures, 6, "audited failures");
}

/// Discovery answers for any tenant, v1 and v2, with endpoints that exist; the token
/// endpoints answer as v1 and v2 do; `resource` names environments by URL.
#[test]
fn discovery_and_both_token_endpoints_answer_for_any_tenant() {
    let served = Served::start();
    let (app, secret) = served
        .store()
        .register_app("pipeline", Role::Reader, &["uat".to_owned()])
        .expect("register");
    for (path, issuer, token_endpoint) in [
        (
            "/common/v2.0/.well-known/openid-configuration",
            "/common/v2.0",
            "/common/oauth2/v2.0/token",
        ),
        (
            "/contoso/.well-known/openid-configuration",
            "/contoso/",
            "/contoso/oauth2/token",
        ),
    ] {
        let config: Value = served
            .client
            .get(format!("{}{path}", served.base))
            .send()
            .and_then(|r| r.error_for_status())
            .and_then(|r| r.json())
            .expect("discovery");
        assert_eq!(config["issuer"], format!("{}{issuer}", served.base));
        assert_eq!(
            config["token_endpoint"],
            format!("{}{token_endpoint}", served.base)
        );
        assert!(config["authorization_endpoint"].is_string(), "{config}");
        assert!(config["jwks_uri"].is_string(), "{config}");
        let methods = config["token_endpoint_auth_methods_supported"].to_string();
        assert!(methods.contains("client_secret_post"), "{config}");
    }

    let credentials = format!(
        "grant_type=client_credentials&client_id={}&client_secret={}",
        app.client_id, secret
    );
    let (status, v2) = served.post_form(
        "/anything/oauth2/v2.0/token",
        &format!("{credentials}&scope={}/.default", served.base),
    );
    assert_eq!(status, StatusCode::OK, "{v2}");
    for field in ["token_type", "expires_in", "ext_expires_in", "access_token"] {
        assert!(!v2[field].is_null(), "no {field} in {v2}");
    }
    assert!(
        v2["refresh_token"].is_null() && v2["expires_on"].is_null(),
        "{v2}"
    );
    // dataalm's own URL: all the app may use, which is uat alone.
    let claims = verified_claims(&served, v2["access_token"].as_str().expect("token"));
    assert_eq!(claims["envs"], json!(["uat"]));
    assert_eq!(claims["iss"], format!("{}/anything/v2.0", served.base));

    let (status, v1) = served.post_form(
        "/common/oauth2/token",
        &format!("{credentials}&resource={UAT_URL}"),
    );
    assert_eq!(status, StatusCode::OK, "{v1}");
    assert_eq!(v1["resource"], UAT_URL);
    assert!(v1["expires_on"].is_i64(), "{v1}");
    // prod is outside the registration: refused, not widened.
    let (status, refused) = served.post_form(
        "/common/oauth2/token",
        &format!("{credentials}&resource=prod"),
    );
    assert_eq!(
        (status, &refused["error"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_scope"))
    );
}
