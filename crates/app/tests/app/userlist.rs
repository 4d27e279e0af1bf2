use crate::fixture::{db, finance, strings};
use dataalm_app::Error;
use dataalm_app::userlist::{read_user_list, resolve_file, write_users_xlsx};
use dataalm_app::users::{self, UserFilter};
use rust_xlsxwriter::Workbook;
use std::path::{Path, PathBuf};

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn csv_first_column_or_the_user_column() {
    let dir = tempfile::tempdir().unwrap();
    let plain = write(
        dir.path(),
        "plain.csv",
        "alice\n\n bob@contoso.com ,x\n,\ncarol\n",
    );
    assert_eq!(
        read_user_list(&plain).unwrap(),
        strings(&["alice", "bob@contoso.com", "carol"])
    );
    let headed = write(
        dir.path(),
        "headed.CSV",
        "\u{feff}Name,E-Mail,Dept\nAlice,alice@contoso.com,Sales\nBob,,IT\nCarol,carol@contoso.com,\n",
    );
    assert_eq!(
        read_user_list(&headed).unwrap(),
        strings(&["alice@contoso.com", "carol@contoso.com"])
    );
    let semicolons = write(dir.path(), "semi.csv", "USER;name\nalice;Alice\nu0042;\n");
    assert_eq!(
        read_user_list(&semicolons).unwrap(),
        strings(&["alice", "u0042"])
    );
}

#[test]
fn an_unrecognized_header_that_is_no_user_is_skipped_when_resolving() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = db();
    let path = write(
        dir.path(),
        "list.csv",
        "Account\nalice\nCAROL@contoso.com\n",
    );
    assert_eq!(read_user_list(&path).unwrap()[0], "Account");
    let ids = resolve_file(&mut db, &finance(), &path).unwrap();
    assert_eq!(ids, ["alice", "carol"]);

    let path = write(dir.path(), "typo.csv", "alice\nnobody@contoso.com\n");
    let err = resolve_file(&mut db, &finance(), &path).unwrap_err();
    assert!(matches!(err, Error::UnknownUsers(ref u) if u == &["nobody@contoso.com"]));
}

#[test]
fn xlsx_round_trip_export_edit_enable() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = db();
    let profile = finance();
    let everyone = users::list(&mut db, &profile, &UserFilter::default()).unwrap();
    let path = dir.path().join("users.xlsx");
    write_users_xlsx(&path, &everyone).unwrap();
    let ids = read_user_list(&path).unwrap();
    let expected: Vec<String> = everyone.iter().map(|u| u.id.clone()).collect();
    assert_eq!(ids, expected);

    // Edit: keep two rows, as someone would in a spreadsheet, then enable from it.
    let disabled = UserFilter {
        enabled: Some(false),
        search: Some("i".into()),
    };
    let chosen = users::list(&mut db, &profile, &disabled).unwrap();
    write_users_xlsx(&path, &chosen).unwrap();
    let ids = resolve_file(&mut db, &profile, &path).unwrap();
    assert_eq!(ids, ["carol", "svc_integration"]);
    let result = users::set_enabled(&mut db, &profile, &ids, true).unwrap();
    assert_eq!(result.changed, ["carol", "svc_integration"]);
}

#[test]
fn xlsx_numbers_and_e_mail_headings() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("numbers.xlsx");
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet();
    sheet.write_string(0, 1, "Full name").unwrap();
    sheet.write_string(0, 2, "Email").unwrap();
    sheet.write_string(1, 2, "alice@contoso.com").unwrap();
    sheet.write_number(2, 2, 42).unwrap();
    sheet.write_string(3, 1, "no e-mail").unwrap();
    workbook.save(&path).unwrap();
    assert_eq!(
        read_user_list(&path).unwrap(),
        strings(&["alice@contoso.com", "42"])
    );
}

#[test]
fn unknown_extensions_and_bad_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "list.txt", "alice\n");
    let err = read_user_list(&path).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: unsupported file type `.txt`: expected .csv or .xlsx",
            path.display()
        )
    );
    let fake = write(dir.path(), "fake.xlsx", "not a zip");
    let err = read_user_list(&fake).unwrap_err();
    assert!(matches!(err, Error::File { .. }), "{err}");
    let missing = dir.path().join("missing.csv");
    assert!(
        read_user_list(&missing)
            .unwrap_err()
            .to_string()
            .contains("missing.csv")
    );
}
