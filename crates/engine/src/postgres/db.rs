//! [`PgDb`]: the [`Database`] trait over a blocking PostgreSQL connection.
//!
//! PostgreSQL types are strict where SQLite's are loose: a parameter must be encoded as
//! the type the server inferred for it. [`Param`] converts dataalm's [`Value`]s to the
//! inferred type (an integer for a `bigint`, `integer` or `text` column alike) and
//! [`Cell`] reads the usual column types back into [`Value`]s.

use super::conn::{PgUrl, sql_error};
use crate::{Database, Error, Result};
use dataalm_core::schema::Schema;
use dataalm_core::sql::{Dialect, quote_ident};
use dataalm_core::{Location, Rows, Value};
use postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};
use std::error::Error as StdError;
use std::io::Write;

type BoxError = Box<dyn StdError + Sync + Send>;

/// A connection to a PostgreSQL application database.
pub struct PgDb {
    client: postgres::Client,
    url: PgUrl,
}

impl PgDb {
    /// Connects; a `read_only` connection cannot write (every transaction is read only).
    pub fn open(location: &Location, read_only: bool) -> Result<PgDb> {
        let url = PgUrl::parse(location)?;
        let mut client = url.connect()?;
        if read_only {
            client
                .batch_execute("SET default_transaction_read_only = on")
                .map_err(|e| sql_error("make the connection read only", &e))?;
        }
        Ok(PgDb { client, url })
    }

    /// A failed statement's error; one that gave up on a lock names who holds it.
    fn failed(&self, context: impl Into<String>, e: &postgres::Error) -> Error {
        super::locks::name_holder(&self.url, sql_error(context, e))
    }

    /// The postgres client, for engine internals.
    pub fn client(&mut self) -> &mut postgres::Client {
        &mut self.client
    }
}

impl Database for PgDb {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Rows> {
        let statement = self
            .client
            .prepare(sql)
            .map_err(|e| self.failed(format!("prepare `{sql}`"), &e))?;
        let columns = statement
            .columns()
            .iter()
            .map(|c| c.name().to_owned())
            .collect();
        let params = to_params(params);
        let found = self
            .client
            .query(&statement, &params.refs())
            .map_err(|e| self.failed(format!("run `{sql}`"), &e))?;
        let mut rows = Vec::with_capacity(found.len());
        for row in &found {
            let mut values = Vec::with_capacity(row.len());
            for i in 0..row.len() {
                let cell: Cell = row
                    .try_get(i)
                    .map_err(|e| self.failed(format!("read `{sql}`"), &e))?;
                values.push(cell.0);
            }
            rows.push(values);
        }
        Ok(Rows { columns, rows })
    }

    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64> {
        let params = to_params(params);
        self.client
            .execute(sql, &params.refs())
            .map_err(|e| self.failed(format!("run `{sql}`"), &e))
    }

    fn execute_batch(&mut self, sql: &str) -> Result<()> {
        self.client
            .batch_execute(sql)
            .map_err(|e| self.failed("run statements", &e))
    }

    fn schema(&mut self) -> Result<Schema> {
        let rows = self
            .client
            .query(
                "SELECT c.relname::text, a.attname::text
                 FROM pg_catalog.pg_class c
                 JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid
                 WHERE c.relnamespace = current_schema()::regnamespace
                   AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
                   AND a.attnum > 0 AND NOT a.attisdropped
                 ORDER BY c.relname, a.attnum",
                &[],
            )
            .map_err(|e| self.failed("read the schema", &e))?;
        let mut schema = Schema::default();
        let mut current: Option<(String, Vec<String>)> = None;
        for row in rows {
            let (table, column): (String, String) = (row.get(0), row.get(1));
            match &mut current {
                Some((name, columns)) if *name == table => columns.push(column),
                _ => {
                    if let Some((name, columns)) = current.take() {
                        schema.add_table(&name, columns);
                    }
                    current = Some((table, vec![column]));
                }
            }
        }
        if let Some((name, columns)) = current {
            schema.add_table(&name, columns);
        }
        Ok(schema)
    }

    /// Streams the rows with `COPY ... FROM STDIN` in text form, so the server converts
    /// each value to its column's type.
    fn insert_rows(
        &mut self,
        table: &str,
        columns: &[&str],
        rows: &mut dyn Iterator<Item = Vec<Value>>,
    ) -> Result<u64> {
        let list: Vec<String> = columns.iter().map(|c| quote_ident(c)).collect();
        let sql = format!(
            "COPY {} ({}) FROM STDIN",
            quote_ident(table),
            list.join(", ")
        );
        let context = format!("load {table}");
        let url = &self.url;
        let failed = |e: &postgres::Error| super::locks::name_holder(url, sql_error(&context, e));
        let mut writer = self.client.copy_in(&sql).map_err(|e| failed(&e))?;
        let mut line = String::new();
        for row in rows {
            line.clear();
            copy_text_line(&row, &mut line);
            writer.write_all(line.as_bytes()).map_err(|e| Error::Io {
                context: context.clone(),
                source: e,
            })?;
        }
        writer.finish().map_err(|e| failed(&e))
    }

    fn insert_returning(
        &mut self,
        table: &str,
        columns: &[&str],
        values: &[Value],
        id_column: &str,
    ) -> Result<Value> {
        let list: Vec<String> = columns.iter().map(|c| quote_ident(c)).collect();
        let sql = format!(
            "INSERT INTO {} ({}) VALUES ({}) RETURNING {}",
            quote_ident(table),
            list.join(", "),
            Dialect::Postgres.params(1, columns.len()),
            quote_ident(id_column)
        );
        let mut rows = self.query(&sql, values)?;
        rows.rows
            .pop()
            .and_then(|mut row| row.pop())
            .ok_or_else(|| Error::Other(format!("{sql} returned no row")))
    }
}

/// One row in COPY's text format: tab-separated, `\N` for NULL, backslash escapes.
fn copy_text_line(row: &[Value], line: &mut String) {
    for (i, value) in row.iter().enumerate() {
        if i > 0 {
            line.push('\t');
        }
        match value {
            Value::Null => line.push_str("\\N"),
            Value::Bool(b) => line.push(if *b { 't' } else { 'f' }),
            Value::Int(n) => line.push_str(&n.to_string()),
            Value::Real(x) => line.push_str(&x.to_string()),
            Value::Text(text) => escape_copy_text(text, line),
            Value::Blob(bytes) => {
                line.push_str("\\\\x");
                for byte in bytes {
                    line.push_str(&format!("{byte:02x}"));
                }
            }
        }
    }
    line.push('\n');
}

fn escape_copy_text(text: &str, line: &mut String) {
    for c in text.chars() {
        match c {
            '\\' => line.push_str("\\\\"),
            '\t' => line.push_str("\\t"),
            '\n' => line.push_str("\\n"),
            '\r' => line.push_str("\\r"),
            _ => line.push(c),
        }
    }
}

/// Parameters ready for the client.
struct Params(Vec<Param>);

impl Params {
    fn refs(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.0.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
    }
}

fn to_params(values: &[Value]) -> Params {
    Params(values.iter().cloned().map(Param).collect())
}

/// A [`Value`] sent as whatever type the server expects for its parameter.
#[derive(Debug)]
struct Param(Value);

fn is_text(ty: &Type) -> bool {
    <&str as ToSql>::accepts(ty)
}

impl ToSql for Param {
    fn to_sql(&self, ty: &Type, out: &mut bytes::BytesMut) -> Result<IsNull, BoxError> {
        match &self.0 {
            Value::Null => Ok(IsNull::Yes),
            Value::Bool(b) if *ty == Type::BOOL => b.to_sql(ty, out),
            Value::Bool(b) => Param(Value::Int(i64::from(*b))).to_sql(ty, out),
            Value::Int(n) => int_to_sql(*n, ty, out),
            Value::Real(x) => match *ty {
                Type::FLOAT8 => x.to_sql(ty, out),
                Type::FLOAT4 => (*x as f32).to_sql(ty, out),
                _ if is_text(ty) => x.to_string().as_str().to_sql(ty, out),
                _ => Err(mismatch("a real number", ty)),
            },
            Value::Text(text) => text_to_sql(text, ty, out),
            Value::Blob(bytes) if *ty == Type::BYTEA => bytes.as_slice().to_sql(ty, out),
            Value::Blob(_) => Err(mismatch("bytes", ty)),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

fn int_to_sql(n: i64, ty: &Type, out: &mut bytes::BytesMut) -> Result<IsNull, BoxError> {
    match *ty {
        Type::INT8 => n.to_sql(ty, out),
        Type::INT4 => i32::try_from(n)?.to_sql(ty, out),
        Type::INT2 => i16::try_from(n)?.to_sql(ty, out),
        Type::OID => u32::try_from(n)?.to_sql(ty, out),
        Type::FLOAT8 => (n as f64).to_sql(ty, out),
        Type::FLOAT4 => (n as f32).to_sql(ty, out),
        Type::BOOL => (n != 0).to_sql(ty, out),
        _ if is_text(ty) => n.to_string().as_str().to_sql(ty, out),
        _ => Err(mismatch("an integer", ty)),
    }
}

fn text_to_sql(text: &str, ty: &Type, out: &mut bytes::BytesMut) -> Result<IsNull, BoxError> {
    match *ty {
        Type::INT8 | Type::INT4 | Type::INT2 | Type::OID => {
            int_to_sql(text.trim().parse()?, ty, out)
        }
        Type::FLOAT8 => text.trim().parse::<f64>()?.to_sql(ty, out),
        Type::FLOAT4 => text.trim().parse::<f32>()?.to_sql(ty, out),
        Type::BOOL => match text.trim().to_ascii_lowercase().as_str() {
            "t" | "true" | "1" | "yes" | "on" => true.to_sql(ty, out),
            "f" | "false" | "0" | "no" | "off" => false.to_sql(ty, out),
            _ => Err(format!("`{text}` is not a boolean").into()),
        },
        Type::JSON => {
            out.extend_from_slice(text.as_bytes());
            Ok(IsNull::No)
        }
        Type::JSONB => {
            out.extend_from_slice(&[1]);
            out.extend_from_slice(text.as_bytes());
            Ok(IsNull::No)
        }
        _ if is_text(ty) => text.to_sql(ty, out),
        _ => Err(mismatch("text", ty)),
    }
}

fn mismatch(what: &str, ty: &Type) -> BoxError {
    format!("cannot send {what} as PostgreSQL type {ty}").into()
}

/// A column value read back into a [`Value`].
struct Cell(Value);

impl<'a> FromSql<'a> for Cell {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Cell, BoxError> {
        let value = match *ty {
            Type::BOOL => Value::Bool(bool::from_sql(ty, raw)?),
            Type::INT2 => Value::Int(i16::from_sql(ty, raw)?.into()),
            Type::INT4 => Value::Int(i32::from_sql(ty, raw)?.into()),
            Type::INT8 => Value::Int(i64::from_sql(ty, raw)?),
            Type::OID => Value::Int(u32::from_sql(ty, raw)?.into()),
            Type::FLOAT4 => Value::Real(f32::from_sql(ty, raw)?.into()),
            Type::FLOAT8 => Value::Real(f64::from_sql(ty, raw)?),
            Type::BYTEA => Value::Blob(raw.to_vec()),
            Type::JSON => Value::Text(String::from_utf8(raw.to_vec())?),
            Type::JSONB => Value::Text(String::from_utf8(
                raw.get(1..).unwrap_or_default().to_vec(),
            )?),
            Type::NUMERIC => Value::Text(numeric_text(raw)?),
            Type::TIMESTAMPTZ => Value::Text(timestamp_text(raw, true)?),
            Type::TIMESTAMP => Value::Text(timestamp_text(raw, false)?),
            Type::DATE => Value::Text(date_text(raw)?),
            _ if is_text(ty) => Value::Text(<&str>::from_sql(ty, raw)?.to_owned()),
            _ => return Err(format!("columns of type {ty} are not supported").into()),
        };
        Ok(Cell(value))
    }

    fn from_sql_null(_: &Type) -> Result<Cell, BoxError> {
        Ok(Cell(Value::Null))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// The decimal text of a binary `numeric`: base-10000 digits with a weight and a scale.
fn numeric_text(raw: &[u8]) -> Result<String, BoxError> {
    let word = |i: usize| -> Result<u16, BoxError> {
        let bytes = raw.get(i * 2..i * 2 + 2).ok_or("truncated numeric")?;
        Ok(u16::from_be_bytes([bytes[0], bytes[1]]))
    };
    let (ndigits, weight, sign, dscale) = (
        usize::from(word(0)?),
        i32::from(word(1)? as i16),
        word(2)?,
        usize::from(word(3)?),
    );
    match sign {
        0xC000 => return Ok("NaN".into()),
        0xD000 => return Ok("Infinity".into()),
        0xF000 => return Ok("-Infinity".into()),
        _ => {}
    }
    let digits: Vec<u16> = (0..ndigits)
        .map(|i| word(4 + i))
        .collect::<Result<_, _>>()?;
    let digit = |position: i32| -> u16 {
        usize::try_from(position)
            .ok()
            .and_then(|p| digits.get(p).copied())
            .unwrap_or(0)
    };
    let mut text = String::new();
    if sign == 0x4000 {
        text.push('-');
    }
    if weight < 0 {
        text.push('0');
    } else {
        text.push_str(&digit(0).to_string());
        for position in 1..=weight {
            text.push_str(&format!("{:04}", digit(position)));
        }
    }
    if dscale > 0 {
        let mut fraction = String::new();
        let mut position = weight + 1;
        while fraction.len() < dscale {
            fraction.push_str(&format!("{:04}", digit(position)));
            position += 1;
        }
        fraction.truncate(dscale);
        text.push('.');
        text.push_str(&fraction);
    }
    Ok(text)
}

/// PostgreSQL counts time from 2000-01-01.
fn epoch() -> time::PrimitiveDateTime {
    time::macros::datetime!(2000-01-01 0:00)
}

fn timestamp_text(raw: &[u8], with_zone: bool) -> Result<String, BoxError> {
    let micros = i64::from_sql(&Type::INT8, raw)?;
    let at = epoch()
        .checked_add(time::Duration::microseconds(micros))
        .ok_or("timestamp out of range")?;
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]"
    );
    let text = at.format(&format)?;
    Ok(if with_zone { format!("{text}Z") } else { text })
}

fn date_text(raw: &[u8]) -> Result<String, BoxError> {
    let days = i32::from_sql(&Type::INT4, raw)?;
    let date = epoch()
        .date()
        .checked_add(time::Duration::days(days.into()))
        .ok_or("date out of range")?;
    Ok(date.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric(ndigits: u16, weight: i16, sign: u16, dscale: u16, digits: &[u16]) -> Vec<u8> {
        let mut raw = Vec::new();
        for word in [ndigits, weight as u16, sign, dscale].iter().chain(digits) {
            raw.extend_from_slice(&word.to_be_bytes());
        }
        raw
    }

    #[test]
    fn numerics_read_as_exact_text() {
        // 12345.678 = [1][2345].[6780], weight 1
        let raw = numeric(3, 1, 0, 3, &[1, 2345, 6780]);
        assert_eq!(numeric_text(&raw).ok().as_deref(), Some("12345.678"));
        // -0.0001 = weight -1, digit 1
        let raw = numeric(1, -1, 0x4000, 4, &[1]);
        assert_eq!(numeric_text(&raw).ok().as_deref(), Some("-0.0001"));
        let raw = numeric(1, 2, 0, 0, &[7]);
        assert_eq!(numeric_text(&raw).ok().as_deref(), Some("700000000"));
    }

    #[test]
    fn copy_text_escapes() {
        let mut line = String::new();
        copy_text_line(
            &[
                Value::Text("a\tb\\c\nd".into()),
                Value::Null,
                Value::Blob(vec![0, 255]),
                Value::Bool(true),
            ],
            &mut line,
        );
        assert_eq!(line, "a\\tb\\\\c\\nd\t\\N\t\\\\x00ff\tt\n");
    }
}
