//! Creating a sample: the shape of the data for a size, the tables, the rows loaded in
//! batches, then indexes and the entity store.
//!
//! The row counts follow from the size target alone, through per-row byte estimates
//! measured on SQLite, so the same options always give the same rows whatever the
//! engine; the file lands within about 15 % of the target.

use crate::schema::{self, Table};
use crate::settings::{self, Settings};
use crate::{Error, Role, SampleOptions, SampleStats, business, random, system};
use dataalm_core::Value;
use dataalm_core::progress::Progress;
use dataalm_core::sql::{Dialect, quote_ident};
use dataalm_engine::Database;

/// Rows per `insert_rows` call: big enough that commits cost nothing, small enough that
/// progress moves every fraction of a second.
const BATCH: usize = 50_000;

/// How many rows each growing table gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Shape {
    pub users: u64,
    pub customers: u64,
    pub vendors: u64,
    pub items: u64,
    pub orders: u64,
    pub journal_lines: u64,
}

/// Bytes a row takes on disk with its share of indexes, measured with SQLite's `dbstat`
/// on a 100 MB sample. A customer also carries its entity store row.
mod bytes_per_row {
    pub const CUSTOMER: f64 = 263.0;
    pub const VENDOR: f64 = 185.0;
    pub const ITEM: f64 = 120.0;
    pub const ORDER: f64 = 143.0;
    pub const LINE: f64 = 114.0;
    pub const JOURNAL_LINE: f64 = 152.0;
}

/// What the system tables and empty pages take whatever the size.
const FIXED_BYTES: u64 = 300_000;

impl Shape {
    pub fn for_size(size_bytes: u64) -> Shape {
        let budget = size_bytes.saturating_sub(FIXED_BYTES) as f64;
        let rows =
            |share: f64, bytes: f64, least: u64| ((budget * share / bytes) as u64).max(least);
        let order_bytes = bytes_per_row::ORDER + business::LINES_PER_ORDER * bytes_per_row::LINE;
        Shape {
            users: 200 + size_bytes / 10_000_000,
            customers: rows(0.05, bytes_per_row::CUSTOMER, 20),
            vendors: rows(0.01, bytes_per_row::VENDOR, 10),
            items: rows(0.02, bytes_per_row::ITEM, 20),
            orders: rows(0.60, order_bytes, 50),
            // Even, so that every voucher has its debit and its credit line.
            journal_lines: rows(0.32, bytes_per_row::JOURNAL_LINE, 100) & !1,
        }
    }
}

/// Everything the row generators need.
pub(crate) struct Context {
    /// The seed of the options, mixed with the role so UAT holds other data.
    pub seed: u64,
    /// The day the data ends: production is current, UAT an older copy.
    pub as_of_day: i64,
    pub shape: Shape,
    pub settings: &'static Settings,
}

const YEARS_OF_DATA: i64 = 3;

impl Context {
    pub fn new(options: &SampleOptions) -> Context {
        let (seed, as_of_day) = match options.role {
            Role::Production => (options.seed, random::days_from_civil(2026, 6, 30)),
            Role::Uat => (
                random::mix(options.seed ^ 0x0075_6174),
                random::days_from_civil(2026, 1, 31),
            ),
        };
        Context {
            seed,
            as_of_day,
            shape: Shape::for_size(options.size_bytes),
            settings: settings::for_role(options.role),
        }
    }

    pub fn span_days(&self) -> i64 {
        YEARS_OF_DATA * 365
    }
    pub fn start_day(&self) -> i64 {
        self.as_of_day - self.span_days()
    }
    pub fn span_seconds(&self) -> i64 {
        self.span_days() * 86_400
    }
    pub fn start_seconds(&self) -> i64 {
        self.start_day() * 86_400
    }
    /// 18:00 UTC on the last day of data: "now" for the sample.
    pub fn as_of_seconds(&self) -> i64 {
        self.as_of_day * 86_400 + 18 * 3600
    }
}

/// Creates the sample in `db`, which must not have its tables yet.
pub(crate) fn create(
    db: &mut dyn Database,
    options: &SampleOptions,
    progress: &dyn Progress,
) -> Result<SampleStats, Error> {
    refuse_existing(db)?;
    let fast = FastLoad::start(db)?;
    let result = create_all(db, &Context::new(options), progress);
    match (result, fast.finish(db)) {
        (Ok(mut stats), Ok(())) => {
            stats.bytes = database_bytes(db)?;
            Ok(stats)
        }
        (Ok(_), Err(error)) => Err(error),
        // The generation error explains more than a failed restore of settings.
        (Err(error), _) => Err(error),
    }
}

fn refuse_existing(db: &mut dyn Database) -> Result<(), Error> {
    let existing = db.schema()?;
    let tables: Vec<String> = schema::TABLES
        .iter()
        .filter(|t| existing.has_table(t.name))
        .map(|t| t.name.to_owned())
        .collect();
    if tables.is_empty() {
        Ok(())
    } else {
        Err(Error::AlreadyExists { tables })
    }
}

fn create_all(
    db: &mut dyn Database,
    ctx: &Context,
    progress: &dyn Progress,
) -> Result<SampleStats, Error> {
    let dialect = db.dialect();
    for table in schema::TABLES {
        db.execute_batch(&schema::create_table_sql(table, dialect))?;
    }
    let mut stats = SampleStats::default();
    let mut loader = Loader {
        db,
        progress,
        stats: &mut stats,
    };
    loader.system_tables(ctx)?;
    loader.business_tables(ctx)?;
    for table in schema::TABLES {
        for sql in schema::create_indexes_sql(table) {
            db.execute_batch(&sql)?;
        }
        if let Some(sql) = schema::after_load_sql(table, dialect) {
            db.execute_batch(&sql)?;
        }
    }
    let refreshed = refresh_entity_store(db, ctx)?;
    stats.tables.push((
        schema::ENTITY_STORE_SALES_BY_CUSTOMER.name.to_owned(),
        refreshed,
    ));
    progress.table_rows(schema::ENTITY_STORE_SALES_BY_CUSTOMER.name, refreshed);
    Ok(stats)
}

/// Loads rows table by table and counts them.
struct Loader<'a> {
    db: &'a mut dyn Database,
    progress: &'a dyn Progress,
    stats: &'a mut SampleStats,
}

impl Loader<'_> {
    fn system_tables(&mut self, ctx: &Context) -> Result<(), Error> {
        self.stats.users = self.load(&schema::USER_INFO, None, system::users(ctx))?;
        self.load(&schema::BATCH_GROUP, None, system::batch_groups())?;
        self.load(&schema::BATCH_SERVER, None, system::batch_servers(ctx))?;
        self.load(
            &schema::BATCH_SERVER_GROUP,
            None,
            system::batch_server_groups(ctx),
        )?;
        self.stats.batch_jobs = self.load(&schema::BATCH_JOB, None, system::batch_jobs(ctx))?;
        self.load(
            &schema::SYS_EMAIL_PARAMETERS,
            None,
            system::email_parameters(ctx),
        )?;
        self.load(
            &schema::SYSTEM_PARAMETERS,
            None,
            system::system_parameters(ctx),
        )?;
        let broadcast = Some(system::BROADCAST_COLUMNS);
        self.load(
            &schema::SYS_BROADCAST_MESSAGE,
            broadcast,
            system::broadcast_messages(ctx),
        )?;
        let outgoing = Some(system::OUTGOING_EMAIL_COLUMNS);
        self.load(
            &schema::SYS_OUTGOING_EMAIL,
            outgoing,
            system::outgoing_emails(ctx),
        )?;
        self.load(
            &schema::SYS_INTEGRATION_ENDPOINT,
            None,
            system::integration_endpoints(ctx),
        )?;
        Ok(())
    }

    fn business_tables(&mut self, ctx: &Context) -> Result<(), Error> {
        self.load(&schema::CUST_TABLE, None, business::customers(ctx))?;
        self.load(&schema::VEND_TABLE, None, business::vendors(ctx))?;
        self.load(&schema::INVENTORY_ITEM, None, business::items(ctx))?;
        self.load(&schema::SALES_TABLE, None, business::sales_orders(ctx))?;
        self.load(&schema::SALES_LINE, None, business::sales_lines(ctx))?;
        self.load(
            &schema::LEDGER_JOURNAL_LINE,
            None,
            business::ledger_lines(ctx),
        )?;
        Ok(())
    }

    /// Inserts `rows` in batches into `table`, in all its columns unless `columns` says
    /// otherwise, and reports progress after each batch.
    fn load(
        &mut self,
        table: &Table,
        columns: Option<&[&str]>,
        rows: impl IntoIterator<Item = Vec<Value>>,
    ) -> Result<u64, Error> {
        let all = table.column_names();
        let columns = columns.unwrap_or(&all);
        let mut rows = rows.into_iter();
        let mut total = 0;
        loop {
            let mut batch = rows.by_ref().take(BATCH);
            let inserted = self.db.insert_rows(table.name, columns, &mut batch)?;
            total += inserted;
            self.progress.table_rows(table.name, total);
            if inserted < BATCH as u64 {
                break;
            }
        }
        self.stats.tables.push((table.name.to_owned(), total));
        Ok(total)
    }
}

/// Fills the entity store as the profile's `sales_by_customer` refresh does, but stamped
/// with the sample's own "now" instead of the clock, so the same seed gives the same rows.
fn refresh_entity_store(db: &mut dyn Database, ctx: &Context) -> Result<u64, Error> {
    let sql = format!(
        "INSERT INTO {store} (cust_account, order_count, total_amount, refreshed_at)
         SELECT s.cust_account, COUNT(DISTINCT s.sales_id), SUM(l.amount), {stamp}
         FROM {orders} s JOIN {lines} l ON l.sales_id = s.sales_id
         GROUP BY s.cust_account",
        store = quote_ident(schema::ENTITY_STORE_SALES_BY_CUSTOMER.name),
        orders = quote_ident(schema::SALES_TABLE.name),
        lines = quote_ident(schema::SALES_LINE.name),
        stamp = db.dialect().param(1),
    );
    let stamp = Value::Text(random::datetime_text(ctx.as_of_seconds()));
    Ok(db.execute(&sql, &[stamp])?)
}

/// SQLite settings that make a bulk load several times faster by skipping the journal
/// and fsyncs. A crash mid-load leaves a broken file, which is acceptable for a sample
/// being created; the settings are put back so the result is an ordinary database.
struct FastLoad {
    sqlite: bool,
}

impl FastLoad {
    fn start(db: &mut dyn Database) -> Result<FastLoad, Error> {
        let sqlite = db.dialect() == Dialect::Sqlite;
        if sqlite {
            // `query`, not `execute_batch`: `journal_mode` answers with a row.
            db.query("PRAGMA journal_mode = OFF", &[])?;
            db.query("PRAGMA synchronous = OFF", &[])?;
            db.query("PRAGMA cache_size = -131072", &[])?;
        }
        Ok(FastLoad { sqlite })
    }

    fn finish(self, db: &mut dyn Database) -> Result<(), Error> {
        if self.sqlite {
            db.query("PRAGMA cache_size = -2000", &[])?;
            db.query("PRAGMA synchronous = FULL", &[])?;
            db.query("PRAGMA journal_mode = DELETE", &[])?;
        }
        Ok(())
    }
}

/// The database's size as the engine counts it.
fn database_bytes(db: &mut dyn Database) -> Result<u64, Error> {
    let sql = match db.dialect() {
        Dialect::Sqlite => {
            "SELECT p.page_count * s.page_size FROM pragma_page_count() p, pragma_page_size() s"
        }
        Dialect::Postgres => "SELECT pg_database_size(current_database())",
    };
    let rows = db.query(sql, &[])?;
    let bytes = rows
        .rows
        .first()
        .and_then(|row| row.first())
        .and_then(Value::as_i64)
        .unwrap_or(0);
    Ok(u64::try_from(bytes).unwrap_or(0))
}
