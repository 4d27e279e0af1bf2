//! Lists of users in files: read ids or e-mails from a CSV or XLSX file, and export users to
//! XLSX so that the export, edited, can be read back (export, edit, enable from it).
//!
//! Which column: the one headed `id`, `email`, `e-mail` or `user` (case-insensitively, the
//! leftmost such), else the first. A first row with such a heading is a header and is
//! skipped; [`resolve_file`] also skips a first row with another heading, when it names no
//! user and is not an e-mail address. Blank cells are ignored. CSV may be separated by
//! commas or, as some spreadsheet programs write it, semicolons.

use crate::users::{self, User};
use crate::{Error, Result};
use calamine::{Data, Reader, Xlsx};
use dataalm_core::Profile;
use dataalm_engine::Database;
use rust_xlsxwriter::{Format, Workbook, XlsxError};
use std::io::Cursor;
use std::path::Path;

/// The media type of an XLSX file, for uploads and downloads.
pub const XLSX_CONTENT_TYPE: &str =
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// Headings that name the column of users.
const USER_HEADINGS: &[&str] = &["id", "email", "e-mail", "user"];
/// Headings of other columns, which also make the first row a header.
const OTHER_HEADINGS: &[&str] = &["name", "enabled", "user id", "login", "mail"];
/// The columns of the export, in order.
const EXPORT_HEADINGS: [&str; 4] = ["id", "name", "email", "enabled"];

/// The ids or e-mails a file lists, in order (a recognized header skipped).
pub fn read_user_list(path: &Path) -> Result<Vec<String>> {
    Ok(read(path)?.entries)
}

/// The ids or e-mails in an uploaded file's bytes, read as [`read_user_list`] reads a
/// file; `name` (the upload's file name, or `users.csv`/`users.xlsx`) gives the format.
pub fn parse_user_list(name: &str, bytes: &[u8]) -> Result<Vec<String>> {
    Ok(parse(Path::new(name), bytes)?.entries)
}

/// The user ids a file names, resolved against the database like [`users::resolve`]; a first
/// row that is an unrecognized header (names no user, not an e-mail) is skipped.
pub fn resolve_file(db: &mut dyn Database, profile: &Profile, path: &Path) -> Result<Vec<String>> {
    let list = read(path)?;
    let mut entries = list.entries;
    let candidate = entries
        .first()
        .filter(|first| !first.contains('@'))
        .cloned();
    if let Some(first) = candidate.filter(|_| !list.header_skipped)
        && let Err(Error::UnknownUsers(_)) = users::resolve(db, profile, &[first])
    {
        entries.remove(0);
    }
    users::resolve(db, profile, &entries)
}

/// Writes users to an XLSX file: columns id, name, email, enabled (`yes`/`no`).
pub fn write_users_xlsx(path: &Path, users: &[User]) -> Result<()> {
    let bytes = users_xlsx(users).map_err(|e| file_error(path, e.to_string()))?;
    std::fs::write(path, bytes).map_err(|e| file_error(path, e.to_string()))
}

/// Users as the bytes of an XLSX file, as [`write_users_xlsx`] writes it.
pub fn users_xlsx(users: &[User]) -> Result<Vec<u8>> {
    let file_error = |e: XlsxError| file_error(Path::new("users.xlsx"), e.to_string());
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet();
    sheet.set_name("users").map_err(file_error)?;
    let bold = Format::new().set_bold();
    for (col, heading) in (0u16..).zip(EXPORT_HEADINGS) {
        sheet
            .write_string_with_format(0, col, heading, &bold)
            .map_err(file_error)?;
    }
    for (row, user) in (1u32..).zip(users) {
        let enabled = if user.enabled { "yes" } else { "no" };
        let cells = [
            user.id.as_str(),
            user.name.as_deref().unwrap_or_default(),
            user.email.as_str(),
            enabled,
        ];
        for (col, cell) in (0u16..).zip(cells) {
            sheet.write_string(row, col, cell).map_err(file_error)?;
        }
    }
    sheet.set_freeze_panes(1, 0).map_err(file_error)?;
    sheet.autofit();
    workbook.save_to_buffer().map_err(file_error)
}

/// What a file lists, and whether its first row was taken for a header.
struct List {
    entries: Vec<String>,
    header_skipped: bool,
}

fn read(path: &Path) -> Result<List> {
    let bytes = std::fs::read(path).map_err(|e| file_error(path, e.to_string()))?;
    parse(path, &bytes)
}

/// What `bytes` list, in the format `path`'s extension says.
fn parse(path: &Path, bytes: &[u8]) -> Result<List> {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let rows = match extension.as_str() {
        "csv" => read_csv(path, bytes)?,
        "xlsx" | "xlsm" => read_xlsx(path, bytes)?,
        _ => {
            return Err(file_error(
                path,
                format!("unsupported file type `.{extension}`: expected .csv or .xlsx"),
            ));
        }
    };
    Ok(pick_column(rows))
}

fn read_csv(path: &Path, bytes: &[u8]) -> Result<Vec<Vec<String>>> {
    let text =
        std::str::from_utf8(bytes).map_err(|e| file_error(path, format!("not UTF-8 text: {e}")))?;
    let text = text.trim_start_matches('\u{feff}');
    let first_line = text.lines().next().unwrap_or_default();
    let delimiter = if first_line.contains(';') && !first_line.contains(',') {
        b';'
    } else {
        b','
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(text.as_bytes());
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| file_error(path, e.to_string()))?;
        rows.push(record.iter().map(|cell| cell.trim().to_owned()).collect());
    }
    Ok(rows)
}

fn read_xlsx(path: &Path, bytes: &[u8]) -> Result<Vec<Vec<String>>> {
    let mut workbook =
        Xlsx::new(Cursor::new(bytes)).map_err(|e| file_error(path, format!("{e}")))?;
    let range = workbook
        .worksheet_range_at(0)
        .ok_or_else(|| file_error(path, "the workbook has no sheet".into()))?
        .map_err(|e| file_error(path, e.to_string()))?;
    Ok(range
        .rows()
        .map(|row| row.iter().map(cell_text).collect())
        .collect())
}

/// A cell as the text of an id: whole numbers without `.0`.
fn cell_text(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{f:.0}"),
        other => other.to_string().trim().to_owned(),
    }
}

/// The column of users and its non-blank cells, the header row skipped.
fn pick_column(rows: Vec<Vec<String>>) -> List {
    let mut rows = rows
        .into_iter()
        .filter(|row| row.iter().any(|cell| !cell.is_empty()))
        .peekable();
    let heading = |cell: &String| cell.trim().to_lowercase();
    let (column, header_skipped) = match rows.peek() {
        Some(first) => {
            let headings: Vec<String> = first.iter().map(heading).collect();
            let user_column = headings
                .iter()
                .position(|h| USER_HEADINGS.contains(&h.as_str()));
            let is_header = user_column.is_some()
                || headings
                    .iter()
                    .any(|h| OTHER_HEADINGS.contains(&h.as_str()));
            (user_column.unwrap_or(0), is_header)
        }
        None => (0, false),
    };
    if header_skipped {
        rows.next();
    }
    let entries = rows
        .filter_map(|row| row.into_iter().nth(column))
        .filter(|cell| !cell.is_empty())
        .collect();
    List {
        entries,
        header_skipped,
    }
}

fn file_error(path: &Path, message: String) -> Error {
    Error::File {
        path: path.display().to_string(),
        message,
    }
}
