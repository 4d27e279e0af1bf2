use crate::fixture::{db, enabled_users, finance, job_status, rows, snapshot};
use dataalm_app::Error;
use dataalm_app::reconfigure::{apply, diff, refresh_aggregates};
use dataalm_core::plan::Change;
use dataalm_core::{Plan, Profile};
use dataalm_engine::Database;

const PLAN: &str = r#"
[users]
enable = ["carol@CONTOSO.com", "alice", "u0042"]

[batch_groups]
EMEA = "UAT-BATCH-02"
US = "UAT-BATCH-01"
APAC = "UAT-BATCH-02"

[email]
smtp_relay_server = "smtp.training.contoso.com"
smtp_port = 25
sender_address = "x'); DROP TABLE user_info; --"

[system]
help_url = "https://help.training.contoso.com"
support_url = "https://support.contoso.com"
new_param = 7

[batch_jobs]
waiting = "all-withheld"

[aggregates]
refresh = ["sales_by_customer"]
"#;

fn plan(text: &str) -> Plan {
    Plan::parse(text, "test").unwrap()
}

fn change(area: &str, item: &str, from: Option<&str>, to: &str) -> Change {
    Change {
        area: area.into(),
        item: item.into(),
        from: from.map(str::to_owned),
        to: to.into(),
    }
}

#[test]
fn diff_shows_what_apply_does_and_a_second_apply_is_empty() {
    let mut db = db();
    let profile = finance();
    let plan = plan(PLAN);
    let before = snapshot(&mut db);
    let expected = vec![
        change("users", "carol", Some("disabled"), "enabled"),
        change("users", "u0042", Some("disabled"), "enabled"),
        change("batch_groups", "EMEA", Some("UAT-BATCH-01"), "UAT-BATCH-02"),
        change("batch_groups", "APAC", None, "UAT-BATCH-02"),
        change(
            "email",
            "sender_address",
            Some("uat@contoso.com"),
            "x'); DROP TABLE user_info; --",
        ),
        change(
            "email",
            "smtp_relay_server",
            Some("smtp.uat.contoso.com"),
            "smtp.training.contoso.com",
        ),
        change(
            "system",
            "help_url",
            Some("https://help.uat.contoso.com"),
            "https://help.training.contoso.com",
        ),
        change("system", "new_param", None, "7"),
        change("batch_jobs", "4", Some("withhold"), "waiting"),
        change("batch_jobs", "7", Some("withhold"), "waiting"),
    ];
    let dry = diff(&mut db, &profile, &plan).unwrap();
    assert_eq!(dry, expected);
    assert_eq!(snapshot(&mut db), before, "a diff changes nothing");

    let applied = apply(&mut db, &profile, &plan).unwrap();
    assert_eq!(applied, dry);
    assert!(diff(&mut db, &profile, &plan).unwrap().is_empty());
    assert!(apply(&mut db, &profile, &plan).unwrap().is_empty());

    assert_eq!(
        enabled_users(&mut db),
        ["Admin", "alice", "bob", "carol", "svc_batch", "u0042"]
    );
    assert_eq!(
        rows(
            &mut db,
            "SELECT * FROM batch_server_group ORDER BY group_id"
        ),
        ["APAC|UAT-BATCH-02", "EMEA|UAT-BATCH-02", "US|UAT-BATCH-01"]
    );
    assert_eq!(
        rows(
            &mut db,
            "SELECT smtp_relay_server, smtp_port, sender_address FROM sys_email_parameters"
        ),
        ["smtp.training.contoso.com|25|x'); DROP TABLE user_info; --"]
    );
    assert_eq!(
        rows(
            &mut db,
            "SELECT value FROM system_parameters WHERE name = 'new_param'"
        ),
        ["7"]
    );
    assert_eq!(job_status(&mut db, 4), 1);
    assert_eq!(job_status(&mut db, 7), 1);
    assert_eq!(
        rows(
            &mut db,
            "SELECT cust_account, order_count, total_amount FROM entity_store_sales_by_customer ORDER BY 1"
        ),
        ["C1|2|35", "C2|1|7.5"]
    );
}

#[test]
fn job_ids_and_an_empty_email_table() {
    let mut db = db();
    db.execute_batch("DELETE FROM sys_email_parameters")
        .unwrap();
    let plan = plan(
        "[batch_jobs]\nwaiting = [1, 5, \"7\"]\n[email]\nsmtp_port = 587\nsmtp_use_ssl = true\n",
    );
    let dry = diff(&mut db, &finance(), &plan).unwrap();
    assert_eq!(
        dry,
        [
            change("email", "smtp_port", None, "587"),
            change("email", "smtp_use_ssl", None, "1"),
            change("batch_jobs", "5", Some("error"), "waiting"),
            change("batch_jobs", "7", Some("withhold"), "waiting"),
        ]
    );
    assert_eq!(apply(&mut db, &finance(), &plan).unwrap(), dry);
    assert_eq!(
        rows(
            &mut db,
            "SELECT smtp_port, smtp_use_ssl FROM sys_email_parameters"
        ),
        ["587|1"]
    );
    assert!(apply(&mut db, &finance(), &plan).unwrap().is_empty());
}

/// Each invalid plan fails before anything is written, with a message naming the problem.
#[test]
fn invalid_plans_change_nothing() {
    let cases = [
        (
            "[users]\nenable = [\"carol\", \"bob@x.com\", \"u9999\"]\n[system]\nhelp_url = \"changed\"\n",
            "unknown users: bob@x.com, u9999 (nothing was changed)",
        ),
        (
            "[batch_groups]\nEMEA = \"S2\"\nLATAM = \"S1\"\n\"x'; --\" = \"S1\"\n",
            "unknown batch groups: LATAM, x'; -- (neither mapped to a server nor defined; nothing was changed)",
        ),
        (
            "[email]\nsmtp_port = 1\nsmtp_password = \"p\"\n",
            "e-mail parameters not in the profile's [email] columns: smtp_password (it allows smtp_relay_server, smtp_port, smtp_user_name, smtp_use_ssl, sender_address; nothing was changed)",
        ),
        (
            "[batch_jobs]\nwaiting = [4, 404]\n",
            "unknown batch jobs: 404 (nothing was changed)",
        ),
        (
            "[users]\nenable = [\"carol\"]\n[aggregates]\nrefresh = [\"sales_by_customer\", \"nope\"]\n",
            "unknown aggregates: nope (the profile defines sales_by_customer; nothing was changed)",
        ),
    ];
    for (text, message) in cases {
        let mut db = db();
        let before = snapshot(&mut db);
        let plan = plan(text);
        let err = diff(&mut db, &finance(), &plan).unwrap_err();
        assert_eq!(err.to_string(), message);
        let err = apply(&mut db, &finance(), &plan).unwrap_err();
        assert_eq!(err.to_string(), message);
        assert_eq!(snapshot(&mut db), before, "{text}");
    }
}

#[test]
fn a_section_the_profile_lacks_is_refused() {
    let mut db = db();
    let mut profile = finance();
    profile.email = None;
    let plan = plan("[users]\nenable = [\"carol\"]\n[email]\nsmtp_port = 1\n");
    let before = snapshot(&mut db);
    let err = apply(&mut db, &profile, &plan).unwrap_err();
    assert!(matches!(err, Error::NotInProfile { ref section, .. } if section == "email"));
    assert_eq!(err.to_string(), "profile `finance` has no [email] section");
    assert_eq!(snapshot(&mut db), before);

    let err = diff(&mut db, &Profile::none(), &plan).unwrap_err();
    assert_eq!(err.to_string(), "profile `none` has no [users] section");
}

#[test]
fn without_a_batch_group_table_only_mapped_groups_are_known() {
    let mut db = db();
    db.execute_batch("DROP TABLE batch_group").unwrap();
    let err = diff(&mut db, &finance(), &plan("[batch_groups]\nAPAC = \"S\"\n")).unwrap_err();
    assert!(matches!(err, Error::UnknownBatchGroups(ref g) if g == &["APAC"]));
    let changes = diff(&mut db, &finance(), &plan("[batch_groups]\nUS = \"S\"\n")).unwrap();
    assert_eq!(
        changes,
        [change("batch_groups", "US", Some("UAT-BATCH-01"), "S")]
    );
}

#[test]
fn aggregates_refresh_on_their_own_with_row_counts() {
    let mut db = db();
    let counts =
        refresh_aggregates(&mut db, &finance(), &["Sales_By_Customer".to_owned()]).unwrap();
    assert_eq!(counts, [("sales_by_customer".to_owned(), 2)]);
    let err = refresh_aggregates(&mut db, &finance(), &["x".to_owned()]).unwrap_err();
    assert!(matches!(err, Error::UnknownAggregates { .. }));
}
