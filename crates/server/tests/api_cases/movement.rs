//! The reference ERP's lifecycle API as its scripts meet it: always 200 with the
//! envelope for an authorized caller, GUIDs for environments and operations, the status
//! fields exactly, throttles, environment metadata a page at a time; and AddMessage at
//! the on-premises path, read in the environment's time zone.

use super::*;

const MOVEMENT: &str = "/databasemovement/v1";

fn refresh_path(source: &str, target: &str) -> String {
    format!("{MOVEMENT}/refresh/project/1234/source/{source}/target/{target}")
}

fn status_path(env: &str, id: &str) -> String {
    format!("{MOVEMENT}/fetchstatus/project/1234/environment/{env}/operationactivity/{id}")
}

/// Asserts HTTP 200, `IsSuccess: false` and an `ErrorMessage` holding `needle`.
fn refusal(response: Response, needle: &str) -> Value {
    assert_eq!(response.status(), StatusCode::OK, "a refusal is still 200");
    let body = json_of(response);
    assert_eq!(body["IsSuccess"], false, "{body}");
    assert_eq!(body["VersionEOL"], "9999-12-31T23:59:59.9999999", "{body}");
    let message = body["ErrorMessage"].as_str().unwrap_or_default();
    assert!(message.contains(needle), "`{needle}` not in {body}");
    body
}

fn is_guid(text: &str) -> bool {
    let bytes = text.as_bytes();
    text.len() == 36
        && bytes.iter().enumerate().all(|(i, b)| {
            if [8, 13, 18, 23].contains(&i) {
                *b == b'-'
            } else {
                b.is_ascii_hexdigit() && !b.is_ascii_uppercase()
            }
        })
}

/// Operations recorded and audit entries: what a refusal must not add to.
fn recorded(api: &Api) -> (usize, usize) {
    let store = api.store();
    (
        store.operations(None).unwrap().len(),
        store.audit_log(10_000).unwrap().len(),
    )
}

/// Starts a refresh of uat with the movement API; its OperationActivityId.
fn start_refresh(api: &Api, token: &str, source: &str, target: &str) -> String {
    let started = json_of(
        api.post(&refresh_path(source, target), token)
            .send()
            .unwrap(),
    );
    assert_eq!(started["IsSuccess"], true, "{started}");
    let keys: Vec<&str> = started
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys.len(),
        4,
        "IsSuccess, OperationActivityId, ErrorMessage, VersionEOL: {started}"
    );
    started["OperationActivityId"].as_str().unwrap().to_owned()
}

/// Polls fetchstatus until `status` (60 s at most); the answer.
fn wait_for_status(api: &Api, token: &str, path: &str, status: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let answer = json_of(api.get(path, token).send().unwrap());
        assert_eq!(answer["IsSuccess"], true, "{answer}");
        if answer["OperationStatus"] == status {
            return answer;
        }
        assert!(
            Instant::now() < deadline,
            "not {status} after 60 s: {answer}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn movement_refusals_are_200_with_the_reason_and_change_nothing() {
    let api = Api::start();
    let operator = api.app_token("lcs-script", Role::Operator, &[], None);
    let before = recorded(&api);

    let cases = [
        (refresh_path("uat", "prod"), "production"),
        (refresh_path("prod", "nowhere"), "nowhere"),
        (refresh_path("nowhere", "uat"), "nowhere"),
        (refresh_path("uat", "uat"), "same environment"),
        (
            format!("{MOVEMENT}/refresh/project/abc/source/prod/target/uat"),
            "integer",
        ),
    ];
    for (path, needle) in &cases {
        let body = refusal(api.post(path, &operator).send().unwrap(), needle);
        assert!(body["OperationActivityId"].is_null(), "{body}");
    }
    assert_eq!(
        recorded(&api),
        before,
        "no operation recorded, nothing audited"
    );

    // Unknown operations and environments in fetchstatus.
    refusal(
        api.get(&status_path("uat", "op-20260101-000000-dead"), &operator)
            .send()
            .unwrap(),
        "op-20260101-000000-dead",
    );
    refusal(
        api.get(&status_path("nowhere", "x"), &operator)
            .send()
            .unwrap(),
        "nowhere",
    );

    // A busy target.
    let id = start_refresh(&api, &operator, "prod", "uat");
    let count = recorded(&api).0;
    refusal(
        api.post(&refresh_path("prod", "uat"), &operator)
            .send()
            .unwrap(),
        "already in progress",
    );
    assert_eq!(recorded(&api).0, count);
    // The operation is uat's, not prod's.
    let elsewhere = refusal(
        api.get(&status_path("prod", &id), &operator)
            .send()
            .unwrap(),
        "not of environment `prod`",
    );
    assert!(elsewhere["OperationStatus"].is_null(), "{elsewhere}");

    // Authentication and authorization keep their statuses.
    let no_token = api
        .client
        .post(api.url(&refresh_path("prod", "uat")))
        .send()
        .unwrap();
    unauthorized(no_token);
    let bad_token = api
        .get(&status_path("uat", &id), "not-a-token")
        .send()
        .unwrap();
    unauthorized(bad_token);
    let reader = api.app_token("reader", Role::Reader, &[], None);
    api_error(
        api.post(&refresh_path("prod", "uat"), &reader)
            .send()
            .unwrap(),
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    let prod_only = api.app_token("prod-only", Role::Operator, &["prod"], None);
    api_error(
        api.get(&status_path("uat", &id), &prod_only)
            .send()
            .unwrap(),
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    api_error(
        api.post(&refresh_path("prod", "uat"), &prod_only)
            .send()
            .unwrap(),
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    // dataalm's own API keeps its statuses.
    api_error(
        api.post("/api/environments/prod/refresh", &operator)
            .json(&json!({"source": "uat"}))
            .send()
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "production_target",
    );
}

#[test]
fn operations_and_environments_are_named_by_guid_too() {
    let api = Api::start();
    let operator = api.app_token("lcs-script", Role::Operator, &[], None);
    let env_id = |name: &str| -> String {
        let shown = json_of(
            api.get(&format!("/api/environments/{name}"), &operator)
                .send()
                .unwrap(),
        );
        shown["id"].as_str().unwrap().to_owned()
    };
    let (prod_id, uat_id) = (env_id("prod"), env_id("uat"));
    assert!(is_guid(&prod_id) && is_guid(&uat_id) && prod_id != uat_id);
    assert_eq!(env_id("uat"), uat_id, "stable");

    // GUIDs in the URL, in any case.
    let activity = start_refresh(&api, &operator, &prod_id, &uat_id.to_uppercase());
    assert!(is_guid(&activity), "{activity}");

    // fetchstatus by environment GUID and activity GUID: exactly the ERP's fields.
    let status = wait_for_status(
        &api,
        &operator,
        &status_path(&uat_id, &activity),
        "Completed",
    );
    let mut keys: Vec<&str> = status
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "ActivityId",
            "CompletionDate",
            "EnvironmentId",
            "ErrorMessage",
            "IsSuccess",
            "OperationStatus",
            "ProjectId",
            "VersionEOL"
        ]
    );
    assert_eq!(status["ProjectId"], 1234);
    assert_eq!(status["EnvironmentId"], uat_id.as_str());
    assert_eq!(status["ActivityId"], activity.as_str());
    assert!(status["ErrorMessage"].is_null());
    assert!(status["CompletionDate"].is_string(), "{status}");

    // dataalm's own API shows both ids and takes either.
    let shown = json_of(
        api.get(&format!("/api/operations/{activity}"), &operator)
            .send()
            .unwrap(),
    );
    assert_eq!(shown["activity_id"], activity.as_str());
    let id = shown["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("op-"), "{id}");
    let by_id = json_of(api.get(&status_path("uat", &id), &operator).send().unwrap());
    assert_eq!(by_id["ActivityId"], activity.as_str());

    let signed = api
        .post(
            &format!("/api/operations/{}/signoff", activity.to_uppercase()),
            &operator,
        )
        .send()
        .unwrap();
    assert_eq!(signed.status(), StatusCode::OK);
    let status = json_of(
        api.get(&status_path("uat", &activity), &operator)
            .send()
            .unwrap(),
    );
    assert_eq!(status["OperationStatus"], "SignedOff", "{status}");

    // The store kept the GUID it made at creation.
    let op = api.store().operation(&id).unwrap();
    assert_eq!(op.activity_id, activity);
}

/// A rollback reads RollbackCompleted, with the date it ended.
#[test]
fn a_rolled_back_refresh_reads_rollback_completed() {
    let api = Api::start();
    let operator = api.app_token("lcs-script", Role::Operator, &[], None);
    let activity = start_refresh(&api, &operator, "prod", "uat");
    let path = status_path("uat", &activity);
    let completed = wait_for_status(&api, &operator, &path, "Completed");
    let rolled = api
        .post(&format!("/api/operations/{activity}/rollback"), &operator)
        .send()
        .unwrap();
    assert_eq!(rolled.status(), StatusCode::OK);
    let status = json_of(api.get(&path, &operator).send().unwrap());
    assert_eq!(status["OperationStatus"], "RollbackCompleted", "{status}");
    let (done, ended) = (
        completed["CompletionDate"].as_str().unwrap(),
        status["CompletionDate"].as_str().unwrap(),
    );
    assert!(ended >= done, "{done} then {ended}");
    // The journal keeps when the rollback began; the state says it ended.
    let op = api.store().operation(&activity).unwrap();
    assert!(op.data.rollback.is_some(), "journaled when it began");
    assert_eq!(op.state, dataalm_core::OpState::RolledBack);
}

#[test]
fn a_throttle_refuses_past_its_limit_on_both_apis() {
    let api = Api::start();
    let admin = api.app_token("admin", Role::Admin, &[], None);
    let operator = api.app_token("lcs-script", Role::Operator, &[], None);
    let set = |body: Value| {
        api.client
            .patch(api.url("/api/environments/uat"))
            .bearer_auth(&admin)
            .json(&body)
            .send()
            .unwrap()
    };
    api_error(
        set(json!({"throttle": "lots"})),
        StatusCode::BAD_REQUEST,
        "invalid_input",
    );
    let shown = json_of(set(json!({"throttle": "1/24h"})));
    assert_eq!(shown["throttle"], "1/24h", "{shown}");

    let activity = start_refresh(&api, &operator, "prod", "uat");
    wait_for_status(&api, &operator, &status_path("uat", &activity), "Completed");
    let signed = api
        .post(&format!("/api/operations/{activity}/signoff"), &operator)
        .send()
        .unwrap();
    assert_eq!(signed.status(), StatusCode::OK);
    let before = recorded(&api).0;

    let body = refusal(
        api.post(&refresh_path("prod", "uat"), &operator)
            .send()
            .unwrap(),
        "throttled to 1/24h",
    );
    let message = body["ErrorMessage"].as_str().unwrap();
    assert!(message.contains("next one may start at"), "{message}");

    let response = api
        .post("/api/environments/uat/refresh", &operator)
        .json(&json!({"source": "prod"}))
        .send()
        .unwrap();
    let retry_after: u64 = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .expect("429 carries Retry-After")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (86_000..=86_400).contains(&retry_after),
        "about a day: {retry_after}"
    );
    api_error(response, StatusCode::TOO_MANY_REQUESTS, "throttled");
    assert_eq!(recorded(&api).0, before, "nothing recorded");

    // Off again: a refresh starts.
    let shown = json_of(set(json!({"throttle": "off"})));
    assert!(shown["throttle"].is_null(), "{shown}");
    start_refresh(&api, &operator, "prod", "uat");
}

#[test]
fn environment_metadata_comes_a_page_at_a_time() {
    let api = Api::start();
    let store = api.store();
    for i in 0..25 {
        store
            .add_env(&Environment {
                name: format!("extra-{i:02}"),
                kind: EnvKind::Dev,
                location: Location::Sqlite(api.db_path(&format!("extra-{i:02}"))),
                profile: "finance".into(),
                url: None,
                settings: Default::default(),
            })
            .unwrap();
    }
    let reader = api.app_token("reader", Role::Reader, &[], None);
    let info = "/environmentinfo/v1/detail/project/1234/";
    let page = |query: &str, token: &str| -> Value {
        let response = api.get(&format!("{info}{query}"), token).send().unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        json_of(response)
    };

    let first = page("", &reader);
    assert_eq!(first["IsSuccess"], true, "{first}");
    assert_eq!(first["Data"].as_array().unwrap().len(), 20);
    assert_eq!(first["ResultHasMorePages"], true);
    let second = page("?page=2", &reader);
    assert_eq!(second["Data"].as_array().unwrap().len(), 7, "27 in all");
    assert_eq!(second["ResultHasMorePages"], false);
    assert_eq!(page("?page=1", &reader)["Data"], first["Data"]);

    let uat = page("?environmentName=uat", &reader);
    let data = uat["Data"].as_array().unwrap();
    assert_eq!(data.len(), 1);
    let detail = &data[0];
    assert_eq!(detail["EnvironmentName"], "uat");
    assert_eq!(detail["EnvironmentType"], "Sandbox");
    assert_eq!(detail["ProjectId"], 1234);
    assert_eq!(detail["EnvironmentEndpointBaseUrl"], UAT_URL);
    let id = detail["EnvironmentId"].as_str().unwrap();
    assert!(is_guid(id), "{id}");
    let by_id = page(&format!("?environmentId={id}"), &reader);
    assert_eq!(by_id["Data"], uat["Data"]);
    assert_eq!(by_id["ResultHasMorePages"], false);

    refusal(
        api.get(&format!("{info}?environmentName=nowhere"), &reader)
            .send()
            .unwrap(),
        "nowhere",
    );

    // A scoped token sees its environments only.
    let uat_only = api.app_token("uat-only", Role::Reader, &["uat"], None);
    let scoped = page("", &uat_only);
    let names: Vec<&str> = scoped["Data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["EnvironmentName"].as_str())
        .collect();
    assert_eq!(names, ["uat"]);
    api_error(
        api.get(&format!("{info}?environmentName=prod"), &uat_only)
            .send()
            .unwrap(),
        StatusCode::FORBIDDEN,
        "forbidden",
    );
}

const ON_PREMISES: &str = "/namespaces/AXSF/api/services/SysBroadcastMessageServices/SysBroadcastMessageService/AddMessage";

#[test]
fn add_message_on_premises_reads_times_in_the_environments_zone() {
    let api = Api::start();
    let admin = api.app_token("admin", Role::Admin, &[], None);
    let token = api.app_token("pipeline", Role::Operator, &[], None);
    let uat = api.db_path("uat");
    let post = |from: &str, to: &str| {
        api.post(ON_PREMISES, &token)
            .header(HOST, "uat.example.com")
            .json(&json!({"request": {"FromDateTime": from, "ToDateTime": to}}))
            .send()
            .unwrap()
    };
    let stored = |response: Response| -> (String, String) {
        assert_eq!(response.status(), StatusCode::OK);
        let id = json_of(response).as_i64().expect("a message id");
        let (from, to, _, _) = message_row(&uat, id);
        (from, to)
    };

    // No zone set: UTC.
    assert_eq!(
        stored(post("2026-07-01T09:00:00", "2026-07-01T10:00:00")),
        ("2026-07-01T09:00:00Z".into(), "2026-07-01T10:00:00Z".into())
    );

    let set = |zone: &str| {
        api.client
            .patch(api.url("/api/environments/uat"))
            .bearer_auth(&admin)
            .json(&json!({ "time_zone": zone }))
            .send()
            .unwrap()
    };
    let message = api_error(
        set("Mars/Olympus"),
        StatusCode::BAD_REQUEST,
        "invalid_input",
    );
    assert!(message.contains("Mars/Olympus"), "{message}");
    let shown = json_of(set("Europe/Amsterdam"));
    assert_eq!(shown["time_zone"], "Europe/Amsterdam");

    // Summer: two hours ahead; winter: one.
    assert_eq!(
        stored(post("2026-07-01T09:00:00", "2026-07-01T10:00:00")),
        ("2026-07-01T07:00:00Z".into(), "2026-07-01T08:00:00Z".into())
    );
    assert_eq!(
        stored(post("2026-01-15T09:00:00", "2026-01-15T10:00:00")),
        ("2026-01-15T08:00:00Z".into(), "2026-01-15T09:00:00Z".into())
    );
    // Across the change at the end of October: 01:30 summer time to 03:30 winter time.
    assert_eq!(
        stored(post("2026-10-25T01:30:00", "2026-10-25T03:30:00")),
        ("2026-10-24T23:30:00Z".into(), "2026-10-25T02:30:00Z".into())
    );
    // An offset or Z is read as written.
    assert_eq!(
        stored(post("2026-07-01T09:00:00Z", "2026-07-01T12:00:00+02:00")),
        ("2026-07-01T09:00:00Z".into(), "2026-07-01T10:00:00Z".into())
    );
    // The cloud path at the root reads the same.
    let response = api
        .post(ADD_MESSAGE, &token)
        .header(HOST, "uat.example.com")
        .json(&json!({"request": {"FromDateTime": "2026-07-01T09:00:00", "ToDateTime": "2026-07-01T10:00:00"}}))
        .send()
        .unwrap();
    assert_eq!(
        stored(response),
        ("2026-07-01T07:00:00Z".into(), "2026-07-01T08:00:00Z".into())
    );
}
