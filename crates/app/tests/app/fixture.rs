//! A small database shaped as the built-in finance profile names it, and helpers to look
//! into it.

use dataalm_core::{Profile, Value};
use dataalm_engine::Database;
use dataalm_engine::sqlite::SqliteDb;

pub const SCHEMA: &str = r#"
CREATE TABLE user_info (id TEXT PRIMARY KEY, name TEXT, email TEXT, enabled INTEGER NOT NULL);
INSERT INTO user_info VALUES
  ('Admin', 'Administrator', 'admin@contoso.com', 1),
  ('svc_batch', 'Batch service', 'svc_batch@contoso.com', 1),
  ('svc_integration', 'Integration service', 'svc_integration@contoso.com', 0),
  ('alice', 'Alice Martin', 'Alice@Contoso.com', 1),
  ('bob', 'Bob Stone', 'bob@contoso.com', 1),
  ('carol', 'Carol Diaz', 'carol@contoso.com', 0),
  ('u0042', NULL, 'u0042@contoso.com', 0);

CREATE TABLE batch_job (recid INTEGER PRIMARY KEY, caption TEXT, status INTEGER NOT NULL);
INSERT INTO batch_job VALUES
  (1, 'Post invoices', 1),
  (2, 'Settle payments', 2),
  (3, 'Archive', 4),
  (4, 'Cleanup', 0),
  (5, 'Broken import', 3),
  (6, 'Odd status', 9),
  (7, 'Nightly MRP', 0);

CREATE TABLE batch_server (server_id TEXT PRIMARY KEY, description TEXT);
INSERT INTO batch_server VALUES ('UAT-BATCH-01', 'UAT batch'), ('UAT-BATCH-02', 'UAT batch 2');

CREATE TABLE batch_group (group_id TEXT PRIMARY KEY, description TEXT);
INSERT INTO batch_group VALUES ('EMEA', 'Europe'), ('US', 'Americas'), ('APAC', 'Asia');

CREATE TABLE batch_server_group (group_id TEXT NOT NULL, server_id TEXT NOT NULL);
INSERT INTO batch_server_group VALUES ('EMEA', 'UAT-BATCH-01'), ('US', 'UAT-BATCH-01');

CREATE TABLE sys_email_parameters (smtp_relay_server TEXT, smtp_port INTEGER,
  smtp_user_name TEXT, smtp_use_ssl INTEGER, sender_address TEXT);
INSERT INTO sys_email_parameters VALUES ('smtp.uat.contoso.com', 25, 'uat-mailer', 1, 'uat@contoso.com');

CREATE TABLE system_parameters (name TEXT PRIMARY KEY, value TEXT);
INSERT INTO system_parameters VALUES ('help_url', 'https://help.uat.contoso.com'),
  ('support_url', 'https://support.contoso.com');

CREATE TABLE sys_integration_endpoint (name TEXT PRIMARY KEY, url TEXT, enabled INTEGER);
INSERT INTO sys_integration_endpoint VALUES ('bank', 'https://bank.uat.example', 1),
  ('tax', 'https://tax.uat.example', 1);

CREATE TABLE sys_outgoing_email (recid INTEGER PRIMARY KEY, recipient TEXT, subject TEXT);
INSERT INTO sys_outgoing_email VALUES (1, 'cust@example.com', 'Invoice'), (2, 'v@example.com', 'PO');

CREATE TABLE sys_broadcast_message (recid INTEGER PRIMARY KEY AUTOINCREMENT,
  from_datetime TEXT NOT NULL, to_datetime TEXT NOT NULL, message TEXT NOT NULL);

CREATE TABLE sales_table (sales_id TEXT PRIMARY KEY, cust_account TEXT);
INSERT INTO sales_table VALUES ('S1', 'C1'), ('S2', 'C1'), ('S3', 'C2');
CREATE TABLE sales_line (sales_id TEXT, amount REAL);
INSERT INTO sales_line VALUES ('S1', 10), ('S1', 5), ('S2', 20), ('S3', 7.5);
CREATE TABLE entity_store_sales_by_customer (cust_account TEXT, order_count INTEGER,
  total_amount REAL, refreshed_at TEXT);
"#;

pub fn finance() -> Profile {
    Profile::builtin("finance").expect("finance is built in")
}

pub fn db() -> SqliteDb {
    let mut db = SqliteDb::memory().expect("memory database");
    db.execute_batch(SCHEMA).expect("fixture schema");
    db
}

/// The rows of a query, each as `a|b|c`.
pub fn rows(db: &mut dyn Database, sql: &str) -> Vec<String> {
    db.query(sql, &[])
        .expect(sql)
        .rows
        .iter()
        .map(|row| {
            row.iter()
                .map(Value::to_string)
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect()
}

/// Everything in the database, to show that nothing changed.
pub fn snapshot(db: &mut dyn Database) -> Vec<String> {
    let schema = db.schema().expect("schema");
    let tables: Vec<String> = schema.tables().map(str::to_owned).collect();
    let mut all = Vec::new();
    for table in tables {
        all.push(format!("-- {table}"));
        all.extend(rows(
            db,
            &format!("SELECT * FROM \"{table}\" ORDER BY 1, 2"),
        ));
    }
    all
}

/// Ids of the enabled users.
pub fn enabled_users(db: &mut dyn Database) -> Vec<String> {
    rows(db, "SELECT id FROM user_info WHERE enabled = 1 ORDER BY id")
}

pub fn job_status(db: &mut dyn Database, recid: i64) -> i64 {
    let rows = db
        .query(
            "SELECT status FROM batch_job WHERE recid = ?1",
            &[Value::Int(recid)],
        )
        .expect("job status");
    rows.rows[0][0].as_i64().expect("integer status")
}

pub fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}
