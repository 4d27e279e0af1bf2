//! Rows of the system tables: users, batch groups, servers and jobs, e-mail and system
//! parameters, broadcast messages, outgoing e-mail and integration endpoints.
//!
//! These tables are small and fixed in shape whatever the sample's size (only the number
//! of ordinary users grows a little), so they are built as vectors.

use crate::generate::Context;
use crate::random::{self, FIRST_NAMES, LAST_NAMES, pick};
use crate::settings::BATCH_GROUPS;
use dataalm_core::Value;
use rand::RngExt;

type Row = Vec<Value>;

/// The administrator and the service accounts: the profile keeps these enabled in a copy.
pub(crate) const KEPT_USERS: &[(&str, &str, &str)] = &[
    ("Admin", "Administrator", "admin@contoso.com"),
    (
        "svc_batch",
        "Batch service account",
        "svc_batch@contoso.com",
    ),
    (
        "svc_integration",
        "Integration service account",
        "svc_integration@contoso.com",
    ),
];

/// Ordinary users present in every sample whatever its size and seed, so that a demo plan
/// can name them.
pub(crate) const NAMED_USERS: &[(&str, &str, &str)] = &[
    ("alice", "Alice Martin", "alice@contoso.com"),
    ("bob", "Bob Schmidt", "bob@contoso.com"),
    ("carol", "Carol Dubois", "carol@contoso.com"),
    ("dave", "Dave Kowalski", "dave@contoso.com"),
    ("erin", "Erin Jensen", "erin@contoso.com"),
    ("frank", "Frank Rossi", "frank@contoso.com"),
    ("grace", "Grace Lindqvist", "grace@contoso.com"),
    ("heidi", "Heidi Novak", "heidi@contoso.com"),
];

const LANGUAGES: &[&str] = &["en-us", "en-us", "en-gb", "de", "fr", "da", "es"];
pub(crate) const COMPANIES: &[&str] = &["USMF", "USMF", "USMF", "DEMF", "GBSI"];
const DOMAIN: &str = "https://sts.windows.net/contoso.com";

/// The id of the `n`th ordinary generated user (0-based), also used as order owner.
pub(crate) fn ordinary_user_id(n: u64) -> String {
    format!("u{:05}", n + 1)
}

fn user_row(id: &str, name: &str, email: &str, enabled: bool, created: i64) -> Row {
    vec![
        id.into(),
        name.into(),
        email.into(),
        Value::Int(i64::from(enabled)),
        "USMF".into(),
        "en-us".into(),
        DOMAIN.into(),
        random::datetime_text(created).into(),
    ]
}

/// Every user: the kept accounts, the named users, then generated ordinary users; about
/// one generated user in ten has left and is disabled.
pub(crate) fn users(ctx: &Context) -> Vec<Row> {
    let mut rng = random::stream(ctx.seed, 1);
    let installed = ctx.start_seconds();
    let mut rows: Vec<Row> = KEPT_USERS
        .iter()
        .chain(NAMED_USERS)
        .map(|(id, name, email)| user_row(id, name, email, true, installed))
        .collect();
    for n in 0..ctx.shape.users {
        let first = pick(&mut rng, FIRST_NAMES);
        let last = pick(&mut rng, LAST_NAMES);
        let id = ordinary_user_id(n);
        let email = format!(
            "{}.{}.{}@contoso.com",
            first.to_lowercase(),
            last.to_lowercase(),
            id
        );
        let created = installed + rng.random_range(0..ctx.span_seconds());
        let mut row = user_row(
            &id,
            &format!("{first} {last}"),
            &email,
            rng.random_range(0..10) != 0,
            created,
        );
        row[4] = pick(&mut rng, COMPANIES).into();
        row[5] = pick(&mut rng, LANGUAGES).into();
        rows.push(row);
    }
    rows
}

pub(crate) fn batch_groups() -> Vec<Row> {
    BATCH_GROUPS
        .iter()
        .map(|(id, description)| vec![(*id).into(), (*description).into()])
        .collect()
}

pub(crate) fn batch_servers(ctx: &Context) -> Vec<Row> {
    ctx.settings
        .servers
        .iter()
        .map(|(id, description, threads)| {
            vec![(*id).into(), (*description).into(), Value::Int(*threads)]
        })
        .collect()
}

pub(crate) fn batch_server_groups(ctx: &Context) -> Vec<Row> {
    ctx.settings
        .group_servers
        .iter()
        .map(|(group, server)| vec![(*group).into(), (*server).into()])
        .collect()
}

/// Job captions with the batch group they run in and how often.
const JOBS: &[(&str, &str, &str)] = &[
    ("Post sales invoices", "FINANCE", "Every 15 minutes"),
    ("Post vendor invoices", "FINANCE", "Hourly"),
    ("Settle customer payments", "FINANCE", "Daily 01:00"),
    ("Settle vendor payments", "FINANCE", "Daily 01:30"),
    (
        "Calculate foreign currency revaluation",
        "FINANCE",
        "Monthly day 1 02:00",
    ),
    (
        "Period close: post accruals",
        "FINANCE",
        "Monthly day 1 03:00",
    ),
    ("Recalculate inventory cost", "FINANCE", "Weekly Sun 22:00"),
    ("Import bank statements", "INTEGRATION", "Daily 05:00"),
    ("Export payments to bank", "INTEGRATION", "Daily 18:00"),
    (
        "Process EDI sales orders",
        "INTEGRATION",
        "Every 15 minutes",
    ),
    (
        "Export payroll journal",
        "INTEGRATION",
        "Monthly day 25 20:00",
    ),
    ("Data management import: customers", "INTEGRATION", "Hourly"),
    (
        "Entity store refresh: sales by customer",
        "REPORTING",
        "Daily 04:00",
    ),
    ("Aged receivables report", "REPORTING", "Weekly Mon 06:00"),
    ("Trial balance report", "REPORTING", "Daily 06:30"),
    ("E-mail distributor batch", "DEFAULT", "Every minute"),
    ("Workflow message processing", "DEFAULT", "Every minute"),
    ("Cleanup batch job history", "DEFAULT", "Weekly Sat 23:00"),
    ("Notification cleanup", "DEFAULT", "Daily 00:30"),
    ("Database log cleanup", "DEFAULT", "Weekly Sun 03:00"),
];

/// Batch job statuses as the profile stores them: withhold, waiting, executing, error, ended.
const STATUSES: [i64; 5] = [0, 1, 2, 3, 4];

/// The first record id the reference ERP hands out.
pub(crate) const FIRST_REC_ID: i64 = 5_637_144_576;

/// Two jobs per caption (one per main company); the first five cover every status so each
/// is visible in any sample, the rest are mostly waiting or ended.
pub(crate) fn batch_jobs(ctx: &Context) -> Vec<Row> {
    let mut rng = random::stream(ctx.seed, 2);
    let now = ctx.as_of_seconds();
    let mut rows = Vec::new();
    for (n, (caption, group, recurrence)) in JOBS.iter().cycle().take(JOBS.len() * 2).enumerate() {
        let company = if n < JOBS.len() { "USMF" } else { "DEMF" };
        let status = match n {
            0..5 => STATUSES[n],
            _ => [1, 1, 1, 1, 4, 4, 4, 0, 2, 3][rng.random_range(0..10)],
        };
        let owner = if rng.random_range(0..3) == 0 {
            "Admin"
        } else {
            "svc_batch"
        };
        rows.push(vec![
            Value::Int(FIRST_REC_ID + n as i64),
            format!("{caption} ({company})").into(),
            Value::Int(status),
            (*group).into(),
            (*recurrence).into(),
            random::datetime_text(now + rng.random_range(60..86_400)).into(),
            company.into(),
            owner.into(),
            random::datetime_text(ctx.start_seconds() + rng.random_range(0..86_400 * 30)).into(),
        ]);
    }
    rows
}

pub(crate) fn email_parameters(ctx: &Context) -> Vec<Row> {
    let s = ctx.settings;
    vec![vec![
        Value::Int(1),
        s.smtp_relay_server.into(),
        Value::Int(587),
        s.smtp_user_name.into(),
        Value::Int(1),
        s.sender_address.into(),
    ]]
}

pub(crate) fn system_parameters(ctx: &Context) -> Vec<Row> {
    ctx.settings
        .system_parameters()
        .into_iter()
        .map(|(name, value)| vec![name.into(), value.into()])
        .collect()
}

pub(crate) fn integration_endpoints(ctx: &Context) -> Vec<Row> {
    ctx.settings
        .endpoints
        .iter()
        .map(|(name, url)| vec![(*name).into(), (*url).into(), Value::Int(1)])
        .collect()
}

/// Columns given for broadcast messages: the database numbers them, as it does for the
/// messages dataalm announces.
pub(crate) const BROADCAST_COLUMNS: &[&str] = &[
    "from_datetime",
    "to_datetime",
    "message",
    "created_by",
    "created_at",
];

/// Past announcements, all expired by the sample's date.
pub(crate) fn broadcast_messages(ctx: &Context) -> Vec<Row> {
    let now = ctx.as_of_seconds();
    let day = 86_400;
    [
        (
            90,
            "Planned maintenance on Saturday from 22:00 to 02:00 UTC.",
        ),
        (
            40,
            "Year-end close: posting to the previous fiscal year is frozen.",
        ),
        (7, "New expense policy in effect; see the help site."),
    ]
    .iter()
    .map(|(days_ago, message)| {
        let from = now - days_ago * day;
        vec![
            random::datetime_text(from).into(),
            random::datetime_text(from + 4 * 3600).into(),
            (*message).into(),
            "Admin".into(),
            random::datetime_text(from - day).into(),
        ]
    })
    .collect()
}

pub(crate) const OUTGOING_EMAIL_COLUMNS: &[&str] =
    &["to_address", "subject", "body", "status", "created_at"];

/// Mail waiting to go out (status 0), sent (1) or failed (2): the queue a copy must never
/// send from a sandbox.
pub(crate) fn outgoing_emails(ctx: &Context) -> Vec<Row> {
    let mut rng = random::stream(ctx.seed, 3);
    let now = ctx.as_of_seconds();
    (1..=120)
        .map(|n| {
            let company = pick(&mut rng, random::COMPANY_WORDS)
                .to_lowercase()
                .replace([' ', '\''], "");
            let status = [0, 1, 1, 1, 1, 1, 2][rng.random_range(0..7)];
            vec![
                format!("invoices@{company}.example.com").into(),
                format!("Invoice INV-{:06} from Contoso", 100_000 + n).into(),
                "Please find your invoice attached. Payment terms as agreed.".into(),
                Value::Int(status),
                random::datetime_text(now - rng.random_range(0..86_400 * 14)).into(),
            ]
        })
        .collect()
}
