//! Masking in the copy stream: the binary COPY rows of tables with masked columns are
//! decoded in the client, their masked fields replaced, and the rows encoded again, so
//! the raw values never reach the staging server. Other tables pass through as bytes.
//!
//! Binary COPY is: an 11-byte signature, 32-bit flags, a 32-bit header-extension length
//! and that many bytes; then per row a 16-bit field count (-1 ends the data) and per
//! field a 32-bit length (-1 for NULL) and the value in the type's binary form. The
//! decoder keeps only the bytes of the row it has not seen the end of, whatever the
//! server's message boundaries, so memory stays at one row.

use super::End;
use super::catalog::Table;
use crate::{Error, MaskSet, Result};
use bytes::{Buf, BufMut, BytesMut};
use dataalm_core::profile::{MaskSpec, MaskWith};
use dataalm_mask::{Column, Masker, Unique};
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio_postgres::Client;

const SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";
const MICROS_PER_DAY: i64 = 86_400_000_000;

/// What the stream masks: per table (by quoted name), per column in COPY order.
pub(super) struct Masks {
    tables: HashMap<String, TableMask>,
    masker: Masker,
}

struct TableMask {
    name: String,
    fields: Vec<Option<Field>>,
    rows: AtomicU64,
}

/// A masked column: its rule, how its values are read, and its collision guard.
struct Field {
    rule: MaskSpec,
    kind: Kind,
    max_len: Option<usize>,
    unique: Option<Mutex<Unique>>,
}

#[derive(Clone, Copy)]
enum Kind {
    /// `text`, `varchar`, `name`...: the value's bytes (UTF-8). `trim`: `char(n)`,
    /// whose padding is not part of the value, so it masks as the same text elsewhere.
    Text { trim: bool },
    /// Days since 2000-01-01.
    Date,
    /// Microseconds since 2000-01-01 (with or without time zone).
    Timestamp,
}

/// Each copied column of `table`: name, type, type modifier, alone under a unique index.
const COLUMNS_SQL: &str = "SELECT a.attname::text, format_type(t.oid, NULL), a.atttypmod,
        EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = a.attrelid AND i.indisunique
                AND i.indnkeyatts = 1 AND i.indkey[0] = a.attnum)
     FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
     WHERE a.attrelid = $1::text::regclass AND a.attnum > 0 AND NOT a.attisdropped
       AND a.attgenerated = ''
     ORDER BY a.attnum";

impl Masks {
    /// Matches `set`'s rules with the snapshot's tables and columns. A rule whose table
    /// or column the copy would not see, or whose column's type it cannot mask, is an
    /// error: nothing may pass raw because a name did not match.
    pub(super) async fn plan(
        client: &Client,
        from: &End,
        tables: &[Table],
        set: Option<&MaskSet>,
    ) -> Result<Option<Masks>> {
        let Some(set) = set.filter(|s| !s.rules.is_empty()) else {
            return Ok(None);
        };
        let mut masks = Masks {
            tables: HashMap::new(),
            masker: set.masker.clone(),
        };
        for rule_table in set.tables() {
            let table = tables
                .iter()
                .find(|t| names_table(&t.name, rule_table))
                .ok_or_else(|| refused(rule_table, "", "no such table in the snapshot"))?;
            if let Some(why) = &table.text_because {
                return Err(refused(
                    rule_table,
                    "",
                    &format!("it goes as text COPY ({why})"),
                ));
            }
            let rules = set.rules_of(rule_table);
            let mask = table_mask(client, from, table, &rules).await?;
            masks.tables.insert(table.quoted.clone(), mask);
        }
        Ok(Some(masks))
    }

    /// A decoder for the rows of `quoted`, if it has masked columns.
    pub(super) fn codec(&self, quoted: &str) -> Option<RowCodec<'_>> {
        let table = self.tables.get(quoted)?;
        Some(RowCodec {
            table,
            masker: &self.masker,
            input: BytesMut::new(),
            header_done: false,
            ended: false,
        })
    }

    /// Whether `quoted`'s rows are masked (its copy cannot match its source).
    pub(super) fn masks(&self, quoted: &str) -> bool {
        self.tables.contains_key(quoted)
    }

    /// Values masked per `table.column`.
    pub(super) fn counts(&self) -> Vec<(String, u64)> {
        let mut counts: Vec<(String, u64)> = self
            .tables
            .values()
            .flat_map(|t| {
                let rows = t.rows.load(Ordering::Relaxed);
                t.fields
                    .iter()
                    .flatten()
                    .map(move |f| (format!("{}.{}", t.name, f.rule.column), rows))
            })
            .collect();
        counts.sort();
        counts
    }
}

/// Whether the copy's `schema.table` is the profile's `rule` (qualified, or a table of
/// `public`, where the profiles' unqualified names point).
fn names_table(name: &str, rule: &str) -> bool {
    name.eq_ignore_ascii_case(rule)
        || name
            .strip_prefix("public.")
            .is_some_and(|bare| bare.eq_ignore_ascii_case(rule))
}

fn refused(table: &str, column: &str, why: &str) -> Error {
    let at = if column.is_empty() {
        format!("`{table}`")
    } else {
        format!("`{table}.{column}`")
    };
    Error::Other(format!("cannot mask {at}: {why}"))
}

async fn table_mask(
    client: &Client,
    from: &End,
    table: &Table,
    rules: &[&MaskSpec],
) -> Result<TableMask> {
    let rows = client
        .query(COLUMNS_SQL, &[&table.quoted])
        .await
        .map_err(|e| from.failed(format!("read the columns of {}", table.name), e))?;
    let mut fields: Vec<Option<Field>> = Vec::with_capacity(rows.len());
    let mut found = 0;
    for row in &rows {
        let (name, typ, typmod, unique): (String, String, i32, bool) =
            (row.get(0), row.get(1), row.get(2), row.get(3));
        let Some(rule) = rules.iter().find(|r| r.column.eq_ignore_ascii_case(&name)) else {
            fields.push(None);
            continue;
        };
        found += 1;
        let kind = kind_of(&typ, rule).ok_or_else(|| {
            refused(
                &rule.table,
                &rule.column,
                &format!("`{}` cannot take type {typ}", rule.with.name()),
            )
        })?;
        let limited = matches!(typ.as_str(), "character varying" | "character");
        let max_len = (limited && typmod >= 4).then(|| (typmod - 4) as usize);
        let guard = unique && Masker::needs_unique_check(rule);
        fields.push(Some(Field {
            rule: (*rule).clone(),
            kind,
            max_len,
            unique: guard.then(|| Mutex::new(Unique::new(&rule.table, &rule.column))),
        }));
    }
    if found < rules.len() {
        let missing = rules
            .iter()
            .find(|r| {
                !rows
                    .iter()
                    .any(|row| r.column.eq_ignore_ascii_case(row.get::<_, &str>(0)))
            })
            .map_or("", |r| r.column.as_str());
        return Err(refused(
            &table.name,
            missing,
            "no such column in the snapshot",
        ));
    }
    Ok(TableMask {
        name: table.name.clone(),
        fields,
        rows: AtomicU64::new(0),
    })
}

/// How a column of type `typ` is read for `rule`; `None` if the pair cannot work.
fn kind_of(typ: &str, rule: &MaskSpec) -> Option<Kind> {
    let text = match typ {
        "text" | "character varying" | "name" | "citext" => Some(Kind::Text { trim: false }),
        "character" => Some(Kind::Text { trim: true }),
        _ => None,
    };
    match (rule.with, typ) {
        (MaskWith::Null, _) => Some(text.unwrap_or(Kind::Text { trim: false })),
        (MaskWith::DateShift, "date") => Some(Kind::Date),
        (MaskWith::DateShift, t) if t.starts_with("timestamp") => Some(Kind::Timestamp),
        _ => text,
    }
}

/// Turns the binary COPY of one table into the same with masked fields.
pub(super) struct RowCodec<'a> {
    table: &'a TableMask,
    masker: &'a Masker,
    input: BytesMut,
    header_done: bool,
    ended: bool,
}

impl RowCodec<'_> {
    /// Takes the next bytes of the stream; writes every complete row, masked, to `out`.
    pub(super) fn feed(&mut self, data: &[u8], out: &mut BytesMut) -> Result<()> {
        self.input.extend_from_slice(data);
        if !self.header_done {
            let Some(len) = header_len(&self.input)? else {
                return Ok(());
            };
            out.extend_from_slice(&self.input.split_to(len));
            self.header_done = true;
        }
        while let Some(len) = row_len(&self.input)? {
            let row = self.input.split_to(len);
            self.row(&row, out)?;
        }
        Ok(())
    }

    /// Checks that the stream ended where a row ends, with its trailer.
    pub(super) fn finish(&self) -> Result<()> {
        if self.ended && self.input.is_empty() {
            Ok(())
        } else {
            Err(Error::Other(format!(
                "the binary COPY of {} ended in the middle of a row",
                self.table.name
            )))
        }
    }

    fn row(&mut self, mut row: &[u8], out: &mut BytesMut) -> Result<()> {
        let count = row.get_i16();
        out.put_i16(count);
        if count == -1 {
            self.ended = true;
            return Ok(());
        }
        for field in 0..usize::try_from(count).unwrap_or(0) {
            let len = row.get_i32();
            let value = (len >= 0).then(|| {
                let (value, rest) = row.split_at(len as usize);
                row = rest;
                value
            });
            match self.table.fields.get(field).and_then(Option::as_ref) {
                Some(mask) => self.masked(mask, value, out)?,
                None => put_field(out, value),
            }
        }
        self.table.rows.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn masked(&self, field: &Field, value: Option<&[u8]>, out: &mut BytesMut) -> Result<()> {
        let masked: Option<Vec<u8>> = match (field.kind, value) {
            (_, None) => None,
            (Kind::Text { trim }, Some(bytes)) => self.text(field, bytes, trim)?,
            (Kind::Date, Some(bytes)) => Some(self.date(field, bytes)?.to_be_bytes().to_vec()),
            (Kind::Timestamp, Some(bytes)) => {
                Some(self.timestamp(field, bytes)?.to_be_bytes().to_vec())
            }
        };
        if let Some(guard) = &field.unique {
            let mut guard = guard
                .lock()
                .map_err(|_| Error::Other("a mask guard was poisoned".into()))?;
            guard.check(masked.as_deref())?;
        }
        put_field(out, masked.as_deref());
        Ok(())
    }

    fn text(&self, field: &Field, bytes: &[u8], trim: bool) -> Result<Option<Vec<u8>>> {
        let text = std::str::from_utf8(bytes).map_err(|_| {
            refused(
                &field.rule.table,
                &field.rule.column,
                "a value is not UTF-8 (the database's encoding)",
            )
        })?;
        let text = if trim {
            text.trim_end_matches(' ')
        } else {
            text
        };
        let column = Column {
            table: &field.rule.table,
            column: &field.rule.column,
            max_len: field.max_len,
            unique: field.unique.is_some(),
        };
        Ok(self
            .masker
            .text(&field.rule, &column, Some(text))?
            .map(String::into_bytes))
    }

    fn date(&self, field: &Field, bytes: &[u8]) -> Result<i32> {
        let days = i32::from_be_bytes(fixed(bytes, field)?);
        Ok(match days {
            i32::MAX | i32::MIN => days, // infinity
            _ => self.masker.date_days(&field.rule, days),
        })
    }

    fn timestamp(&self, field: &Field, bytes: &[u8]) -> Result<i64> {
        let micros = i64::from_be_bytes(fixed(bytes, field)?);
        if micros == i64::MAX || micros == i64::MIN {
            return Ok(micros);
        }
        let days = micros.div_euclid(MICROS_PER_DAY);
        let Ok(day) = i32::try_from(days) else {
            return Ok(micros);
        };
        let shifted = i64::from(self.masker.date_days(&field.rule, day));
        Ok(micros + (shifted - days) * MICROS_PER_DAY)
    }
}

fn fixed<const N: usize>(bytes: &[u8], field: &Field) -> Result<[u8; N]> {
    bytes.try_into().map_err(|_| {
        refused(
            &field.rule.table,
            &field.rule.column,
            "a value has an unexpected size",
        )
    })
}

fn put_field(out: &mut BytesMut, value: Option<&[u8]>) {
    match value {
        None => out.put_i32(-1),
        Some(bytes) => {
            out.put_i32(bytes.len() as i32);
            out.extend_from_slice(bytes);
        }
    }
}

/// The header's length once all of it is in `input`.
fn header_len(input: &[u8]) -> Result<Option<usize>> {
    if input.len() < 19 {
        return Ok(None);
    }
    if &input[..11] != SIGNATURE {
        return Err(Error::Other(
            "the source's binary COPY has no signature".into(),
        ));
    }
    let extension = u32::from_be_bytes([input[15], input[16], input[17], input[18]]) as usize;
    Ok((input.len() >= 19 + extension).then_some(19 + extension))
}

/// The length of the first row (or the trailer) once all of it is in `input`.
fn row_len(input: &[u8]) -> Result<Option<usize>> {
    if input.len() < 2 {
        return Ok(None);
    }
    let count = i16::from_be_bytes([input[0], input[1]]);
    if count == -1 {
        return Ok(Some(2));
    }
    let mut at = 2usize;
    for _ in 0..count.max(0) {
        let Some(len) = input.get(at..at + 4) else {
            return Ok(None);
        };
        let len = i32::from_be_bytes([len[0], len[1], len[2], len[3]]);
        at += 4 + usize::try_from(len).unwrap_or(0);
        if len < -1 {
            return Err(Error::Other(
                "the source's binary COPY has a bad field length".into(),
            ));
        }
    }
    Ok((input.len() >= at).then_some(at))
}
