//! [`SqliteDb`]: the [`Database`] trait over a rusqlite connection.

use crate::{Database, Error, Result};
use dataalm_core::schema::Schema;
use dataalm_core::sql::{Dialect, quote_ident};
use dataalm_core::{Rows, Value};
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags, ToSql};
use std::path::Path;

/// A connection to a SQLite application database.
pub struct SqliteDb {
    conn: Connection,
    /// The file, for messages.
    location: String,
}

impl SqliteDb {
    /// Opens an existing database file. `read_only` opens it so that nothing can be
    /// written, as sources are.
    pub fn open(path: &Path, read_only: bool) -> Result<SqliteDb> {
        if !path.is_file() {
            return Err(Error::Unreachable {
                location: path.display().to_string(),
                message: "no such database file".into(),
            });
        }
        let flags = if read_only {
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
        } else {
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX
        };
        let conn = Connection::open_with_flags(path, flags).map_err(|e| Error::Unreachable {
            location: path.display().to_string(),
            message: e.to_string(),
        })?;
        let db = SqliteDb::from_connection(conn, path.display().to_string())?;
        // Reading the schema is what tells a database from another file.
        db.conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| {
                r.get::<_, i64>(0)
            })
            .map_err(|e| match is_locked(&e) {
                true => locked(&db.location, e),
                false => Error::NotADatabase {
                    location: db.location.clone(),
                    engine: "SQLite",
                    message: e.to_string(),
                },
            })?;
        Ok(db)
    }

    /// Creates (or opens) a database file for writing, as `sample create` does.
    pub fn create(path: &Path) -> Result<SqliteDb> {
        let conn = Connection::open(path).map_err(|e| Error::Unreachable {
            location: path.display().to_string(),
            message: e.to_string(),
        })?;
        SqliteDb::from_connection(conn, path.display().to_string())
    }

    /// An in-memory database, for tests.
    pub fn memory() -> Result<SqliteDb> {
        let conn = Connection::open_in_memory().map_err(|e| sql_error("open memory", e))?;
        SqliteDb::from_connection(conn, ":memory:".into())
    }

    /// Short locks are waited out; one held longer than [`crate::lock_timeout`] fails
    /// the statement with [`Error::Locked`].
    fn from_connection(conn: Connection, location: String) -> Result<SqliteDb> {
        conn.busy_timeout(crate::lock_timeout()?)
            .map_err(|e| sql_error("set busy timeout", e))?;
        Ok(SqliteDb { conn, location })
    }

    /// The rusqlite connection, for engine internals.
    pub fn connection(&mut self) -> &mut Connection {
        &mut self.conn
    }
}

/// Whether SQLite gave up because another connection holds a lock on the file.
fn is_locked(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

fn locked(location: &str, e: rusqlite::Error) -> Error {
    Error::Locked {
        location: format!("the database {location}"),
        holder: "another program (a transaction is open on it)".into(),
        waited_secs: crate::lock_timeout().map_or(0, |t| t.as_secs()),
        source: Box::new(e),
    }
}

/// A failed statement on the file at `location`: [`Error::Locked`] if a lock was in
/// the way, else as [`sql_error`].
fn db_error(location: &str, context: &str, e: rusqlite::Error) -> Error {
    if is_locked(&e) {
        locked(location, e)
    } else {
        sql_error(context, e)
    }
}

pub(crate) fn sql_error(context: &str, e: rusqlite::Error) -> Error {
    let duplicate = matches!(
        &e,
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
    );
    let (context, message) = (context.to_owned(), e.to_string());
    if duplicate {
        Error::Duplicate { context, message }
    } else {
        Error::Sql { context, message }
    }
}

/// Borrowed conversion of our values for binding.
struct Param<'a>(&'a Value);

impl ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self.0 {
            Value::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Value::Bool(b) => ToSqlOutput::Owned(rusqlite::types::Value::Integer(i64::from(*b))),
            Value::Int(i) => ToSqlOutput::Borrowed(ValueRef::Integer(*i)),
            Value::Real(r) => ToSqlOutput::Borrowed(ValueRef::Real(*r)),
            Value::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Value::Blob(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
        })
    }
}

fn to_value(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Int(i),
        ValueRef::Real(r) => Value::Real(r),
        ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
    }
}

fn bind(params: &[Value]) -> Vec<Param<'_>> {
    params.iter().map(Param).collect()
}

impl Database for SqliteDb {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Rows> {
        let mut stmt = self
            .conn
            .prepare(sql)
            .map_err(|e| db_error(&self.location, sql, e))?;
        let columns: Vec<String> = stmt.column_names().map(str::to_owned).collect();
        let width = columns.len();
        let bound = bind(params);
        let mut result = stmt
            .query(rusqlite::params_from_iter(bound.iter()))
            .map_err(|e| db_error(&self.location, sql, e))?;
        let mut rows = Vec::new();
        while let Some(row) = result
            .next()
            .map_err(|e| db_error(&self.location, sql, e))?
        {
            let mut values = Vec::with_capacity(width);
            for i in 0..width {
                values.push(to_value(
                    row.get_ref(i)
                        .map_err(|e| db_error(&self.location, sql, e))?,
                ));
            }
            rows.push(values);
        }
        Ok(Rows { columns, rows })
    }

    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64> {
        let bound = bind(params);
        let n = self
            .conn
            .execute(sql, rusqlite::params_from_iter(bound.iter()))
            .map_err(|e| db_error(&self.location, sql, e))?;
        Ok(n as u64)
    }

    fn execute_batch(&mut self, sql: &str) -> Result<()> {
        self.conn
            .execute_batch(sql)
            .map_err(|e| db_error(&self.location, sql, e))
    }

    fn begin(&mut self) -> Result<()> {
        // IMMEDIATE takes the write lock now rather than failing half-way.
        self.execute_batch("BEGIN IMMEDIATE")
    }

    fn schema(&mut self) -> Result<Schema> {
        let tables = self.query(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
            &[],
        )?;
        let mut schema = Schema::default();
        for row in tables.rows {
            let Some(table) = row.first().and_then(Value::as_str).map(str::to_owned) else {
                continue;
            };
            let columns = self.query(
                "SELECT name FROM pragma_table_info(?1) ORDER BY cid",
                &[Value::Text(table.clone())],
            )?;
            let names = columns
                .rows
                .into_iter()
                .filter_map(|r| r.into_iter().next())
                .map(|v| v.to_string());
            schema.add_table(&table, names);
        }
        Ok(schema)
    }

    fn insert_rows(
        &mut self,
        table: &str,
        columns: &[&str],
        rows: &mut dyn Iterator<Item = Vec<Value>>,
    ) -> Result<u64> {
        let sql = insert_sql(table, columns);
        let tx = self
            .conn
            .transaction()
            .map_err(|e| db_error(&self.location, "begin bulk insert", e))?;
        let mut count = 0u64;
        {
            let mut stmt = tx
                .prepare(&sql)
                .map_err(|e| db_error(&self.location, &sql, e))?;
            for row in rows {
                let bound = bind(&row);
                stmt.execute(rusqlite::params_from_iter(bound.iter()))
                    .map_err(|e| db_error(&self.location, &sql, e))?;
                count += 1;
            }
        }
        tx.commit()
            .map_err(|e| db_error(&self.location, "commit bulk insert", e))?;
        Ok(count)
    }

    fn insert_returning(
        &mut self,
        table: &str,
        columns: &[&str],
        values: &[Value],
        id_column: &str,
    ) -> Result<Value> {
        let sql = format!(
            "{} RETURNING {}",
            insert_sql(table, columns),
            quote_ident(id_column)
        );
        let rows = self.query(&sql, values)?;
        rows.rows
            .into_iter()
            .next()
            .and_then(|r| r.into_iter().next())
            .ok_or_else(|| Error::Other(format!("insert into {table} returned no id")))
    }
}

fn insert_sql(table: &str, columns: &[&str]) -> String {
    let names: Vec<String> = columns.iter().map(|c| quote_ident(c)).collect();
    format!(
        "INSERT INTO {} ({}) VALUES ({})",
        quote_ident(table),
        names.join(", "),
        Dialect::Sqlite.params(1, columns.len())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_values_and_reads_the_schema() {
        let mut db = SqliteDb::memory().unwrap();
        db.execute_batch(
            "CREATE TABLE \"t x\" (id INTEGER PRIMARY KEY, name TEXT, data BLOB, r REAL)",
        )
        .unwrap();
        let n = db
            .insert_rows(
                "t x",
                &["name", "data", "r"],
                &mut vec![
                    vec![Value::from("a"), Value::Blob(vec![1, 2]), Value::Real(1.5)],
                    vec![Value::Null, Value::Null, Value::Null],
                ]
                .into_iter(),
            )
            .unwrap();
        assert_eq!(n, 2);
        let id = db
            .insert_returning("t x", &["name"], &[Value::from("b")], "id")
            .unwrap();
        assert_eq!(id, Value::Int(3));
        let rows = db
            .query(
                "SELECT name, data, r FROM \"t x\" WHERE id = ?1",
                &[Value::Int(1)],
            )
            .unwrap();
        assert_eq!(
            rows.rows,
            vec![vec![
                Value::from("a"),
                Value::Blob(vec![1, 2]),
                Value::Real(1.5)
            ]]
        );
        let schema = db.schema().unwrap();
        assert!(schema.has_column("T X", "DATA"));
    }

    #[test]
    fn a_file_that_is_not_a_database_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notes.db");
        std::fs::write(
            &path,
            b"this is not a database, just some text of enough length to be a header",
        )
        .unwrap();
        let err = SqliteDb::open(&path, true).err().unwrap();
        assert!(matches!(err, Error::NotADatabase { .. }), "{err}");
        let err = SqliteDb::open(&dir.path().join("missing.db"), true)
            .err()
            .unwrap();
        assert!(matches!(err, Error::Unreachable { .. }), "{err}");
    }
}
