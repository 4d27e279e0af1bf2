use crate::fixture::{db, enabled_users, finance, rows, snapshot};
use dataalm_app::neutralize::neutralize;
use dataalm_core::Profile;
use dataalm_engine::Database;

#[test]
fn neutralizes_users_jobs_and_each_table() {
    let mut db = db();
    let summary = neutralize(&mut db, &finance()).unwrap();
    let pairs: Vec<(&str, &str)> = summary
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    assert_eq!(
        pairs,
        [
            ("users disabled", "2"),
            ("batch jobs withheld", "2"),
            ("sys_outgoing_email", "2 rows deleted"),
            (
                "sys_email_parameters",
                "1 row updated (smtp_relay_server, smtp_user_name)"
            ),
            ("sys_integration_endpoint", "2 rows updated (enabled)"),
        ]
    );
    assert_eq!(
        enabled_users(&mut db),
        ["Admin", "svc_batch", "svc_integration"]
    );
    assert_eq!(
        rows(&mut db, "SELECT status FROM batch_job ORDER BY recid"),
        ["0", "0", "4", "0", "3", "9", "0"]
    );
    assert_eq!(
        rows(
            &mut db,
            "SELECT smtp_relay_server, smtp_user_name, smtp_port FROM sys_email_parameters"
        ),
        ["||25"]
    );
    assert_eq!(
        rows(&mut db, "SELECT COUNT(*) FROM sys_outgoing_email"),
        ["0"]
    );
}

#[test]
fn a_failure_half_way_changes_nothing() {
    let mut db = db();
    db.execute_batch("DROP TABLE sys_integration_endpoint")
        .unwrap();
    let before = snapshot(&mut db);
    let err = neutralize(&mut db, &finance()).unwrap_err();
    assert!(
        err.to_string().contains("sys_integration_endpoint"),
        "{err}"
    );
    assert_eq!(snapshot(&mut db), before);
}

#[test]
fn a_plain_profile_does_nothing() {
    let mut db = db();
    assert!(neutralize(&mut db, &Profile::none()).unwrap().is_empty());
}
