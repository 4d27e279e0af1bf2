use crate::fixture::{db, enabled_users, finance, rows, snapshot, strings};
use dataalm_app::Error;
use dataalm_app::users::{self, UserFilter, UsersChanged};
use dataalm_core::Profile;
use dataalm_engine::Database;

#[test]
fn lists_everyone_in_id_order_and_filters() {
    let mut db = db();
    let profile = finance();
    let all = users::list(&mut db, &profile, &UserFilter::default()).unwrap();
    let ids: Vec<&str> = all.iter().map(|u| u.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "Admin",
            "alice",
            "bob",
            "carol",
            "svc_batch",
            "svc_integration",
            "u0042"
        ]
    );
    let alice = &all[1];
    assert_eq!(alice.name.as_deref(), Some("Alice Martin"));
    assert_eq!(alice.email, "Alice@Contoso.com");
    assert!(alice.enabled);
    assert_eq!(all[6].name, None);

    let disabled = UserFilter {
        enabled: Some(false),
        search: None,
    };
    let ids: Vec<String> = users::list(&mut db, &profile, &disabled)
        .unwrap()
        .into_iter()
        .map(|u| u.id)
        .collect();
    assert_eq!(ids, ["carol", "svc_integration", "u0042"]);

    let search = UserFilter {
        enabled: Some(true),
        search: Some("SERVICE".into()),
    };
    let ids: Vec<String> = users::list(&mut db, &profile, &search)
        .unwrap()
        .into_iter()
        .map(|u| u.id)
        .collect();
    assert_eq!(ids, ["svc_batch"]);
}

#[test]
fn resolves_ids_exactly_and_emails_in_any_case() {
    let mut db = db();
    let ids = users::resolve(
        &mut db,
        &finance(),
        &strings(&[
            "ALICE@contoso.COM",
            "bob",
            " carol@contoso.com ",
            "alice",
            "",
        ]),
    )
    .unwrap();
    assert_eq!(ids, ["alice", "bob", "carol"]);
}

#[test]
fn unknown_users_are_all_named() {
    let mut db = db();
    let err = users::resolve(
        &mut db,
        &finance(),
        &strings(&["bob@x.com", "alice", "ALICE", "u9999"]),
    )
    .unwrap_err();
    match &err {
        Error::UnknownUsers(unknown) => {
            assert_eq!(unknown, &strings(&["bob@x.com", "ALICE", "u9999"]))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        err.to_string(),
        "unknown users: bob@x.com, ALICE, u9999 (nothing was changed)"
    );
}

#[test]
fn set_enabled_reports_changed_and_already() {
    let mut db = db();
    let profile = finance();
    let result = users::set_enabled(
        &mut db,
        &profile,
        &strings(&["carol@contoso.com", "alice", "u0042"]),
        true,
    )
    .unwrap();
    assert_eq!(
        result,
        UsersChanged {
            changed: strings(&["carol", "u0042"]),
            already: strings(&["alice"]),
        }
    );
    assert!(enabled_users(&mut db).contains(&"carol".to_owned()));

    let result = users::set_enabled(&mut db, &profile, &strings(&["bob"]), false).unwrap();
    assert_eq!(result.changed, ["bob"]);
    assert!(!enabled_users(&mut db).contains(&"bob".to_owned()));
}

#[test]
fn set_enabled_changes_nothing_when_one_is_unknown() {
    let mut db = db();
    let before = snapshot(&mut db);
    let err = users::set_enabled(
        &mut db,
        &finance(),
        &strings(&["carol", "nobody@contoso.com", "u0042"]),
        true,
    )
    .unwrap_err();
    assert!(matches!(err, Error::UnknownUsers(ref u) if u == &["nobody@contoso.com"]));
    assert_eq!(snapshot(&mut db), before);
}

#[test]
fn injection_shaped_ids_are_only_data() {
    let mut db = db();
    let profile = finance();
    let evil = "x'); DROP TABLE user_info; --";
    let err = users::set_enabled(&mut db, &profile, &strings(&[evil, "x\" OR 1=1 --"]), true)
        .unwrap_err();
    assert!(matches!(err, Error::UnknownUsers(ref u) if u.len() == 2));
    assert_eq!(rows(&mut db, "SELECT COUNT(*) FROM user_info"), ["7"]);

    // Stored as an id, it is found and changed like any other.
    db.execute_batch(&format!(
        "INSERT INTO user_info VALUES ('{}', 'Evil', 'evil@x.com', 0)",
        evil.replace('\'', "''")
    ))
    .unwrap();
    let result = users::set_enabled(&mut db, &profile, &strings(&[evil]), true).unwrap();
    assert_eq!(result.changed, [evil]);
    assert_eq!(rows(&mut db, "SELECT COUNT(*) FROM user_info"), ["8"]);
}

#[test]
fn a_quoted_table_name_in_a_profile_is_quoted() {
    let mut db = db();
    db.execute_batch(
        r#"CREATE TABLE "odd""users" ("user id" TEXT, "e""mail" TEXT, "on" INTEGER);
           INSERT INTO "odd""users" VALUES ('a', 'a@x.com', 0);"#,
    )
    .unwrap();
    let profile = Profile::parse(
        r#"
name = "odd"
[users]
table = 'odd"users'
id = "user id"
email = 'e"mail'
enabled = "on"
"#,
        "test",
    )
    .unwrap();
    let result = users::set_enabled(&mut db, &profile, &strings(&["A@X.COM"]), true).unwrap();
    assert_eq!(result.changed, ["a"]);
    let listed = users::list(&mut db, &profile, &UserFilter::default()).unwrap();
    assert!(listed[0].enabled);
}

#[test]
fn neutralizing_users_keeps_and_enables_the_kept_accounts() {
    let mut db = db();
    let disabled = users::disable_all_but_kept(&mut db, &finance()).unwrap();
    // alice and bob were enabled; carol and u0042 already disabled.
    assert_eq!(disabled, 2);
    assert_eq!(
        enabled_users(&mut db),
        ["Admin", "svc_batch", "svc_integration"]
    );
    assert_eq!(users::disable_all_but_kept(&mut db, &finance()).unwrap(), 0);
}

#[test]
fn a_profile_without_users_says_so() {
    let mut db = db();
    let err = users::list(&mut db, &Profile::none(), &UserFilter::default()).unwrap_err();
    assert_eq!(err.to_string(), "profile `none` has no [users] section");
}
