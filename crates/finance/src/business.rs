//! Rows of the business tables — customers, vendors, items, sales orders and their lines,
//! ledger journal lines — produced lazily, so a table of tens of GB never sits in memory.
//!
//! What several tables share (an item's name, unit and price; a customer's currency) is a
//! pure function of the seed and the index, so a sales line agrees with its item without
//! keeping the items around.

use crate::generate::Context;
use crate::random::{self, cents, mix, pick, skewed};
use crate::system::{COMPANIES, FIRST_REC_ID, ordinary_user_id};
use dataalm_core::Value;
use rand::RngExt;
use rand_chacha::ChaCha8Rng;

type Row = Vec<Value>;

pub(crate) fn cust_account(n: u64) -> String {
    format!("C{:07}", n + 1)
}

fn vend_account(n: u64) -> String {
    format!("V{:06}", n + 1)
}

fn item_id(n: u64) -> String {
    format!("I{:06}", n + 1)
}

fn company_name(rng: &mut ChaCha8Rng) -> String {
    format!(
        "{} {} {}",
        pick(rng, random::COMPANY_WORDS),
        pick(rng, random::COMPANY_KINDS),
        pick(rng, random::COMPANY_SUFFIXES)
    )
}

fn phone(rng: &mut ChaCha8Rng) -> String {
    format!(
        "+{} {:03} {:04}",
        rng.random_range(1..99),
        rng.random_range(100..999),
        rng.random_range(0..10_000)
    )
}

/// A customer's currency, the same on the customer and on its orders.
fn customer_currency(seed: u64, n: u64) -> &'static str {
    random::CURRENCIES[(mix(seed ^ 0xC0FF_EE00 ^ n) % random::CURRENCIES.len() as u64) as usize]
}

pub(crate) fn customers(ctx: &Context) -> impl Iterator<Item = Row> + use<> {
    let mut rng = random::stream(ctx.seed, 10);
    let (seed, start, span) = (ctx.seed, ctx.start_seconds(), ctx.span_seconds());
    (0..ctx.shape.customers).map(move |n| {
        let name = company_name(&mut rng);
        let (city, country) = random::CITIES[rng.random_range(0..random::CITIES.len())];
        let domain = name.to_lowercase().replace([' ', '.', '\''], "");
        vec![
            cust_account(n).into(),
            name.into(),
            pick(&mut rng, &["RETAIL", "WHOLESALE", "INTERCO", "PUBLIC"]).into(),
            customer_currency(seed, n).into(),
            Value::Real((rng.random_range(1..=200) * 5_000) as f64),
            pick(&mut rng, random::PAYMENT_TERMS).into(),
            format!("ap@{domain}.example.com").into(),
            phone(&mut rng).into(),
            format!(
                "{} {}",
                rng.random_range(1..400),
                pick(&mut rng, random::STREETS)
            )
            .into(),
            city.into(),
            country.into(),
            format!("{country}{:09}", rng.random_range(0..1_000_000_000)).into(),
            Value::Int(i64::from(rng.random_range(0..50) == 0)),
            random::datetime_text(start + rng.random_range(0..span)).into(),
        ]
    })
}

pub(crate) fn vendors(ctx: &Context) -> impl Iterator<Item = Row> + use<> {
    let mut rng = random::stream(ctx.seed, 11);
    let (start, span) = (ctx.start_seconds(), ctx.span_seconds());
    (0..ctx.shape.vendors).map(move |n| {
        let name = company_name(&mut rng);
        let (city, country) = random::CITIES[rng.random_range(0..random::CITIES.len())];
        let domain = name.to_lowercase().replace([' ', '.', '\''], "");
        vec![
            vend_account(n).into(),
            name.into(),
            pick(&mut rng, &["SUPPLIES", "SERVICES", "RAW", "FREIGHT"]).into(),
            pick(&mut rng, random::CURRENCIES).into(),
            pick(&mut rng, random::PAYMENT_TERMS).into(),
            format!("sales@{domain}.example.com").into(),
            phone(&mut rng).into(),
            format!(
                "{}{:02} {:04} {:04} {:04} {:02}",
                &country[..2],
                rng.random_range(10..99),
                rng.random_range(0..10_000),
                rng.random_range(0..10_000),
                rng.random_range(0..10_000),
                rng.random_range(0..100)
            )
            .into(),
            city.into(),
            country.into(),
            Value::Int(i64::from(rng.random_range(0..40) == 0)),
            random::datetime_text(start + rng.random_range(0..span)).into(),
        ]
    })
}

const ITEM_KINDS: &[&str] = &[
    "Bolt", "Bracket", "Cable", "Chair", "Desk", "Drill", "Filter", "Gasket", "Hinge", "Lamp",
    "Monitor", "Panel", "Pump", "Sensor", "Shelf", "Speaker", "Switch", "Valve", "Widget",
];
const ITEM_TRAITS: &[&str] = &[
    "Standard",
    "Heavy-duty",
    "Compact",
    "Premium",
    "Industrial",
    "Economy",
    "Wireless",
    "Stainless",
    "Outdoor",
    "Modular",
];
const UNITS: &[&str] = &["pcs", "pcs", "pcs", "box", "kg", "m", "set"];

/// What a sales line copies from its item.
struct ItemFacts {
    name: String,
    unit: &'static str,
    price: f64,
}

fn item_facts(seed: u64, n: u64) -> ItemFacts {
    let h = mix(seed ^ 0x17E4_0000 ^ n);
    ItemFacts {
        name: format!(
            "{} {} {}",
            ITEM_TRAITS[(h % ITEM_TRAITS.len() as u64) as usize],
            ITEM_KINDS[((h >> 16) % ITEM_KINDS.len() as u64) as usize],
            (h >> 40) % 1000
        ),
        unit: UNITS[((h >> 32) % UNITS.len() as u64) as usize],
        price: (100 + (h >> 8) % 99_900) as f64 / 100.0,
    }
}

pub(crate) fn items(ctx: &Context) -> impl Iterator<Item = Row> + use<> {
    let mut rng = random::stream(ctx.seed, 12);
    let (seed, start, span, vendors) = (
        ctx.seed,
        ctx.start_seconds(),
        ctx.span_seconds(),
        ctx.shape.vendors,
    );
    (0..ctx.shape.items).map(move |n| {
        let facts = item_facts(seed, n);
        let cost = cents(facts.price * rng.random_range(0.45..0.85));
        vec![
            item_id(n).into(),
            facts.name.into(),
            pick(
                &mut rng,
                &["FURNITURE", "HARDWARE", "ELECTRONICS", "TOOLS", "SPARES"],
            )
            .into(),
            facts.unit.into(),
            Value::Real(facts.price),
            Value::Real(cost),
            Value::Real(rng.random_range(1..50_000) as f64 / 1000.0),
            vend_account(rng.random_range(0..vendors)).into(),
            random::datetime_text(start + rng.random_range(0..span)).into(),
        ]
    })
}

pub(crate) fn sales_id(n: u64) -> String {
    format!("SO-{:08}", n + 1)
}

/// The day of the `n`th of `count` records spread evenly over the sample's years, so that
/// ids and dates grow together as they do in a real ledger.
fn spread_day(ctx_start_day: i64, span_days: i64, n: u64, count: u64) -> i64 {
    ctx_start_day + (n as i128 * span_days as i128 / count.max(1) as i128) as i64
}

/// Sales statuses of the reference ERP: 1 open, 2 delivered, 3 invoiced, 4 cancelled.
fn sales_status(rng: &mut ChaCha8Rng, age_days: i64) -> i64 {
    match (age_days, rng.random_range(0..20)) {
        (_, 0) => 4,
        (0..14, r) => [1, 1, 2, 3][r as usize % 4],
        (14..60, r) => [2, 3, 3, 3][r as usize % 4],
        _ => 3,
    }
}

pub(crate) fn sales_orders(ctx: &Context) -> impl Iterator<Item = Row> + use<> {
    let mut rng = random::stream(ctx.seed, 13);
    let (seed, start, span, today) = (ctx.seed, ctx.start_day(), ctx.span_days(), ctx.as_of_day);
    let shape = ctx.shape;
    (0..shape.orders).map(move |n| {
        let customer = skewed(&mut rng, shape.customers);
        let day = spread_day(start, span, n, shape.orders);
        vec![
            sales_id(n).into(),
            cust_account(customer).into(),
            random::date_text(day).into(),
            random::date_text(day + rng.random_range(2..15)).into(),
            Value::Int(sales_status(&mut rng, today - day)),
            customer_currency(seed, customer).into(),
            pick(&mut rng, random::PAYMENT_TERMS).into(),
            format!("PO-{:06}", rng.random_range(0..1_000_000)).into(),
            ordinary_user_id(rng.random_range(0..shape.users)).into(),
            pick(&mut rng, COMPANIES).into(),
        ]
    })
}

/// Lines of every sales order, one to eight each, in order.
pub(crate) struct SalesLines {
    rng: ChaCha8Rng,
    seed: u64,
    orders: u64,
    items: u64,
    order: u64,
    line: i64,
    lines_in_order: i64,
}

/// Average lines per order, for sizing: `1..=8` uniformly.
pub(crate) const LINES_PER_ORDER: f64 = 4.5;

pub(crate) fn sales_lines(ctx: &Context) -> SalesLines {
    SalesLines {
        rng: random::stream(ctx.seed, 14),
        seed: ctx.seed,
        orders: ctx.shape.orders,
        items: ctx.shape.items,
        order: 0,
        line: 0,
        lines_in_order: 0,
    }
}

impl Iterator for SalesLines {
    type Item = Row;

    fn next(&mut self) -> Option<Row> {
        if self.line == self.lines_in_order {
            if self.lines_in_order > 0 {
                self.order += 1;
            }
            if self.order >= self.orders {
                return None;
            }
            self.line = 0;
            self.lines_in_order = self.rng.random_range(1..=8);
        }
        self.line += 1;
        let rng = &mut self.rng;
        let item = skewed(rng, self.items);
        let facts = item_facts(self.seed, item);
        let qty = rng.random_range(1..=50) as f64;
        let discount = [0.0, 0.0, 0.0, 2.5, 5.0, 10.0][rng.random_range(0..6)];
        let amount = cents(qty * facts.price * (1.0 - discount / 100.0));
        Some(vec![
            sales_id(self.order).into(),
            Value::Int(self.line),
            item_id(item).into(),
            facts.name.into(),
            Value::Real(qty),
            facts.unit.into(),
            Value::Real(facts.price),
            Value::Real(discount),
            Value::Real(amount),
        ])
    }
}

/// Main accounts debited and the accounts credited against them.
const DEBIT_ACCOUNTS: &[(&str, &str)] = &[
    ("600100", "Office supplies"),
    ("600200", "Travel expenses"),
    ("601000", "Rent"),
    ("602000", "Utilities"),
    ("605000", "Consulting fees"),
    ("140100", "Inventory receipt"),
    ("130100", "Customer payment"),
    ("610000", "Salaries"),
];
const CREDIT_ACCOUNTS: &[&str] = &["110100", "110200", "200100", "200200", "401000"];
const LINES_PER_JOURNAL: u64 = 20;

pub(crate) fn ledger_lines(ctx: &Context) -> impl Iterator<Item = Row> + use<> {
    let mut rng = random::stream(ctx.seed, 15);
    let (seed, start, span, today) = (ctx.seed, ctx.start_day(), ctx.span_days(), ctx.as_of_day);
    let count = ctx.shape.journal_lines;
    (0..count).map(move |n| {
        // Vouchers are pairs of lines, a debit and a credit of the same amount.
        let voucher = n / 2;
        let h = mix(seed ^ 0x1ED6_E500 ^ voucher);
        let (debit_account, purpose) = DEBIT_ACCOUNTS[(h % DEBIT_ACCOUNTS.len() as u64) as usize];
        let amount = (100 + (h >> 8) % 2_500_000) as f64 / 100.0;
        let is_debit = n % 2 == 0;
        let account = if is_debit {
            debit_account
        } else {
            CREDIT_ACCOUNTS[((h >> 40) % CREDIT_ACCOUNTS.len() as u64) as usize]
        };
        let day = spread_day(start, span, voucher * 2, count);
        let posted = today - day > 30 || rng.random_range(0..2) == 0;
        vec![
            Value::Int(FIRST_REC_ID + n as i64),
            format!("GJ-{:07}", n / LINES_PER_JOURNAL + 1).into(),
            Value::Int((n % LINES_PER_JOURNAL + 1) as i64),
            format!("GNJL{:08}", voucher + 1).into(),
            account.into(),
            random::date_text(day).into(),
            Value::Real(if is_debit { amount } else { 0.0 }),
            Value::Real(if is_debit { 0.0 } else { amount }),
            "USD".into(),
            format!("{purpose} ref {:06}", (h >> 20) % 1_000_000).into(),
            Value::Int(i64::from(posted)),
            pick(&mut rng, COMPANIES).into(),
        ]
    })
}
