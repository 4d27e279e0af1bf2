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

/// The most rows a user list may have.
pub const MAX_ROWS: u64 = 100_000;
/// The most bytes a workbook may unpack to.
pub const MAX_UNPACKED_BYTES: u64 = 50_000_000;

fn read_xlsx(path: &Path, bytes: &[u8]) -> Result<Vec<Vec<String>>> {
    check_workbook_size(bytes).map_err(|message| file_error(path, message))?;
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

/// Refuses, before the spreadsheet library sees it, a workbook that would make it
/// allocate without bound: a zip bomb (checked on the sizes its members declare, and on
/// what they really unpack to), or a sheet whose `<dimension>` claims more than
/// [`MAX_ROWS`] rows (`A1:XFD1048576` makes the library reserve the whole grid).
fn check_workbook_size(bytes: &[u8]) -> std::result::Result<(), String> {
    use std::io::Read;
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| format!("not a readable XLSX workbook: {e}"))?;
    let mut unpacked: u64 = 0;
    for index in 0..archive.len() {
        let member = archive
            .by_index(index)
            .map_err(|e| format!("not a readable XLSX workbook: {e}"))?;
        let name = member.name().map(|n| n.into_owned()).unwrap_or_default();
        let is_sheet = name.starts_with("xl/worksheets/") && name.ends_with(".xml");
        let budget = MAX_UNPACKED_BYTES.saturating_sub(unpacked);
        let mut reader = member.take(budget + 1);
        let mut head = Vec::new();
        let mut chunk = [0u8; 64 << 10];
        loop {
            let n = reader
                .read(&mut chunk)
                .map_err(|e| format!("not a readable XLSX workbook: {e}"))?;
            if n == 0 {
                break;
            }
            unpacked += n as u64;
            if unpacked > MAX_UNPACKED_BYTES {
                return Err(format!(
                    "the workbook unpacks to more than {} MB; a user list is far smaller",
                    MAX_UNPACKED_BYTES / 1_000_000
                ));
            }
            if is_sheet && head.len() < 4096 {
                head.extend_from_slice(&chunk[..n.min(4096)]);
            }
        }
        if let Some(rows) = declared_rows(&head).filter(|rows| *rows > MAX_ROWS) {
            return Err(format!(
                "the sheet claims {rows} rows; a user list has at most {MAX_ROWS}"
            ));
        }
    }
    Ok(())
}

/// The rows a sheet's `<dimension ref="A1:C40"/>` claims, from the start of its XML.
fn declared_rows(head: &[u8]) -> Option<u64> {
    let text = String::from_utf8_lossy(head);
    let after = &text[text.find("<dimension")?..];
    let value = after.split('"').nth(1)?;
    let row = |cell: &str| {
        cell.trim_start_matches(|c: char| c.is_ascii_alphabetic() || c == '$')
            .parse::<u64>()
            .ok()
    };
    let mut cells = value.split(':');
    let first = row(cells.next()?)?;
    let last = cells.next().map_or(Some(first), row)?;
    Some(last.saturating_sub(first) + 1)
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn workbook() -> Vec<u8> {
        let ada = User {
            id: "ada".into(),
            name: None,
            email: String::new(),
            enabled: true,
        };
        users_xlsx(&[ada]).unwrap()
    }

    /// A workbook rewritten member by member, `change` applied to each member's bytes.
    fn rewritten(bytes: &[u8], change: impl Fn(&str, Vec<u8>) -> Vec<u8>) -> Vec<u8> {
        let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
        let mut out = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for index in 0..archive.len() {
            let mut member = archive.by_index(index).unwrap();
            let name = member.name().unwrap().into_owned();
            let mut data = Vec::new();
            member.read_to_end(&mut data).unwrap();
            let options = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated);
            out.start_file(name.as_str(), options).unwrap();
            out.write_all(&change(&name, data)).unwrap();
        }
        out.finish().unwrap().into_inner()
    }

    #[test]
    fn a_sheet_claiming_the_whole_grid_is_refused_before_reading() {
        let good = workbook();
        assert_eq!(parse_user_list("u.xlsx", &good).unwrap(), ["ada"]);
        let huge = rewritten(&good, |name, data| {
            if !name.starts_with("xl/worksheets/") {
                return data;
            }
            let text = String::from_utf8(data).unwrap();
            let start = text.find("<dimension").unwrap();
            let end = start + text[start..].find("/>").unwrap() + 2;
            let mut text = text;
            text.replace_range(start..end, r#"<dimension ref="A1:XFD1048576"/>"#);
            text.into_bytes()
        });
        let error = parse_user_list("u.xlsx", &huge).unwrap_err().to_string();
        assert!(error.contains("1048576 rows"), "{error}");
    }

    #[test]
    fn a_zip_bomb_is_refused_after_50_mb() {
        let good = workbook();
        let bomb = rewritten(&good, |name, data| {
            if name == "docProps/app.xml" {
                vec![b' '; 60_000_000]
            } else {
                data
            }
        });
        assert!(bomb.len() < 1_000_000, "{} bytes", bomb.len());
        let error = parse_user_list("u.xlsx", &bomb).unwrap_err().to_string();
        assert!(error.contains("more than 50 MB"), "{error}");
    }
}
