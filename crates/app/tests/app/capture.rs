use crate::fixture::{db, finance, rows, snapshot};
use dataalm_app::Error;
use dataalm_app::capture::{capture, restore};
use dataalm_core::Value;
use dataalm_core::op::CapturedTable;
use dataalm_engine::Database;

#[test]
fn captures_every_kept_table_and_restores_it_into_a_copy() {
    let mut target = db();
    let profile = finance();
    let captured = capture(&mut target, &profile).unwrap();
    let tables: Vec<&str> = captured.iter().map(|c| c.table.as_str()).collect();
    assert_eq!(
        tables,
        [
            "batch_server",
            "batch_server_group",
            "sys_email_parameters",
            "system_parameters",
            "sys_integration_endpoint"
        ]
    );
    assert_eq!(captured[3].columns, ["name", "value"]);
    assert_eq!(captured[3].rows.len(), 2);

    // The copy: production's settings, and a column the target does not have.
    let mut copy = db();
    copy.execute_batch(
        "DELETE FROM system_parameters;
         INSERT INTO system_parameters VALUES ('help_url', 'https://help.contoso.com'), ('prod_only', 'x');
         UPDATE batch_server_group SET server_id = 'PROD-BATCH-01';
         UPDATE sys_email_parameters SET smtp_relay_server = 'smtp.contoso.com';
         ALTER TABLE sys_integration_endpoint ADD COLUMN added_later TEXT DEFAULT 'd';",
    )
    .unwrap();
    let written = restore(&mut copy, &profile, &captured).unwrap();
    assert_eq!(written, 2 + 2 + 1 + 2 + 2);
    assert_eq!(
        rows(&mut copy, "SELECT * FROM system_parameters ORDER BY name"),
        [
            "help_url|https://help.uat.contoso.com",
            "support_url|https://support.contoso.com"
        ]
    );
    assert_eq!(
        rows(
            &mut copy,
            "SELECT DISTINCT server_id FROM batch_server_group"
        ),
        ["UAT-BATCH-01"]
    );
    assert_eq!(
        rows(
            &mut copy,
            "SELECT smtp_relay_server FROM sys_email_parameters"
        ),
        ["smtp.uat.contoso.com"]
    );
    assert_eq!(
        rows(
            &mut copy,
            "SELECT DISTINCT added_later FROM sys_integration_endpoint"
        ),
        ["d"]
    );
    // Restoring twice is the same as once.
    let once = snapshot(&mut copy);
    restore(&mut copy, &profile, &captured).unwrap();
    assert_eq!(snapshot(&mut copy), once);
}

#[test]
fn columns_the_copy_lacks_are_left_out() {
    let mut copy = db();
    let captured = vec![CapturedTable {
        table: "system_parameters".into(),
        columns: vec!["name".into(), "value".into(), "dropped_since".into()],
        rows: vec![vec![Value::from("a"), Value::from("b"), Value::Int(1)]],
    }];
    assert_eq!(restore(&mut copy, &finance(), &captured).unwrap(), 1);
    assert_eq!(rows(&mut copy, "SELECT * FROM system_parameters"), ["a|b"]);
}

#[test]
fn a_table_missing_in_the_copy_is_named_and_nothing_changes() {
    let mut target = db();
    let profile = finance();
    let captured = capture(&mut target, &profile).unwrap();
    let mut copy = db();
    copy.execute_batch("DROP TABLE sys_integration_endpoint")
        .unwrap();
    let before = snapshot(&mut copy);
    let err = restore(&mut copy, &profile, &captured).unwrap_err();
    assert!(
        matches!(err, Error::MissingTable { ref table } if table == "sys_integration_endpoint")
    );
    assert_eq!(
        err.to_string(),
        "table `sys_integration_endpoint` does not exist in the database (nothing was changed)"
    );
    assert_eq!(snapshot(&mut copy), before);

    let err = capture(&mut copy, &profile).unwrap_err();
    assert!(
        err.to_string().contains("sys_integration_endpoint"),
        "{err}"
    );
}

#[test]
fn tables_the_profile_does_not_keep_are_refused() {
    let mut copy = db();
    let before = snapshot(&mut copy);
    let captured = vec![CapturedTable {
        table: "user_info".into(),
        columns: vec!["id".into()],
        rows: vec![],
    }];
    let err = restore(&mut copy, &finance(), &captured).unwrap_err();
    assert_eq!(
        err.to_string(),
        "captured tables that profile `finance` does not keep: user_info (nothing was changed)"
    );
    assert_eq!(snapshot(&mut copy), before);
}
