//! `dataalm demo`: the whole training-refresh scenario on SQLite, from nothing, with a
//! report of what each step did.
//!
//! It builds a production and a UAT sample of the finance application, registers both,
//! gives UAT a reconfiguration plan, refreshes UAT from production, applies the plan a
//! second time to show it changes nothing, and signs off. The directory it leaves is a
//! normal dataalm home: `dataalm --home DIR status` works on it.

use crate::cli::DemoArgs;
use crate::output;
use crate::progress::Display;
use anyhow::{Context as _, Result, bail};
use dataalm_app::users::UserFilter;
use dataalm_core::sql::quote_ident;
use dataalm_core::{CopyOptions, EnvKind, Environment, Location, Operation, Profile};
use dataalm_engine::Database;
use dataalm_finance::{Role, SampleOptions};
use dataalm_ops::refresh::{self, Context};
use dataalm_ops::{Actor, EnvDb, actions};
use dataalm_store::Store;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Marks a directory as the demo's own, so a second run may clear it.
const MARKER: &str = ".dataalm-demo";

#[derive(Serialize)]
struct Report {
    dir: PathBuf,
    production: Sample,
    uat: Sample,
    operation: serde_json::Value,
    downtime_ms: Option<u64>,
    refresh_ms: u64,
    users_enabled: Vec<String>,
    users_total: usize,
    jobs_by_status: BTreeMap<String, usize>,
    settings: Vec<Setting>,
    second_reconfigure_changes: usize,
    signed_off: bool,
    /// A few customers as production has them and as the refreshed UAT copy does.
    masked_customers: Vec<MaskedCustomer>,
}

/// One customer before and after the masked copy (same account).
#[derive(Serialize)]
struct MaskedCustomer {
    account: String,
    production_name: String,
    production_email: String,
    uat_name: String,
    uat_email: String,
}

#[derive(Serialize)]
struct Sample {
    path: PathBuf,
    bytes: u64,
    seconds: f64,
}

/// One environment-specific setting: production's value and UAT's before and after.
#[derive(Serialize)]
struct Setting {
    name: String,
    production: String,
    uat_before: String,
    uat_after: String,
}

pub fn run(args: &DemoArgs) -> Result<()> {
    let size = dataalm_finance::parse_size(&args.size)?;
    let dir = prepare_dir(&args.dir)?;
    let display = Display::new(args.json);
    let say = |line: &str| {
        if !args.json {
            eprintln!("{line}");
        }
    };

    say(&format!(
        "Creating the production sample ({}) ...",
        args.size
    ));
    let production = create(&dir.join("prod.db"), Role::Production, size, 1, &display)?;
    say("Creating the UAT sample ...");
    let uat = create(
        &dir.join("uat.db"),
        Role::Uat,
        (size / 4).max(2_000_000),
        2,
        &display,
    )?;

    let store = dataalm_store::Store::open(&dir)
        .with_context(|| format!("control plane in {}", dir.display()))?;
    let actor = Actor(format!("demo:{}", Actor::local().0));
    for (name, kind, sample) in [
        ("prod", EnvKind::Production, &production),
        ("uat", EnvKind::Sandbox, &uat),
    ] {
        store.add_env(&Environment {
            name: name.into(),
            kind,
            location: Location::Sqlite(sample.path.clone()),
            profile: "finance".into(),
            url: None,
            settings: Default::default(),
        })?;
    }
    let plan_path = dir.join("uat-plan.toml");
    std::fs::write(&plan_path, dataalm_finance::demo_plan().to_toml())
        .with_context(|| format!("cannot write {}", plan_path.display()))?;
    actions::set_plan(&store, &actor, "uat", &std::fs::read_to_string(&plan_path)?)?;
    let before = settings(&store, &store.env("prod")?, &store.env("uat")?)?;

    say("Refreshing uat from prod ...");
    let ctx = Context {
        store: &store,
        progress: &display,
        actor: &actor,
    };
    let started = Instant::now();
    let op = refresh::start(&ctx, "prod", "uat", CopyOptions::default())?;
    let refresh_ms = started.elapsed().as_millis() as u64;
    let again = actions::reconfigure(&store, &actor, "uat", false)?;
    let op = refresh::sign_off(&ctx, &op.id)?;

    let after = settings(&store, &store.env("prod")?, &store.env("uat")?)?;
    let masked_customers = masked_customers(&store)?;
    let report = report(
        &store,
        &dir,
        production,
        uat,
        &op,
        refresh_ms,
        &before,
        &after,
        again.len(),
        masked_customers,
    )?;
    if args.json {
        return output::json(&report);
    }
    print_report(&report, &op);
    Ok(())
}

/// The first customers by account in production and in the refreshed UAT copy: the
/// finance profile masks their names and e-mails (among others) in the copy.
fn masked_customers(store: &Store) -> Result<Vec<MaskedCustomer>> {
    let sql = "SELECT account_num, name, email FROM cust_table ORDER BY account_num LIMIT 3";
    let read = |env: &str| -> Result<Vec<[String; 3]>> {
        let mut db = EnvDb::open(store, &store.env(env)?, true)?;
        let rows = db
            .db()
            .query(sql, &[])
            .with_context(|| format!("reading customers of `{env}`"))?
            .rows;
        Ok(rows
            .into_iter()
            .map(|row| {
                let text = |i: usize| row.get(i).map(|v| v.to_string()).unwrap_or_default();
                [text(0), text(1), text(2)]
            })
            .collect())
    };
    let production = read("prod")?;
    let uat = read("uat")?;
    Ok(production
        .into_iter()
        .zip(uat)
        .filter(|(p, u)| p[0] == u[0])
        .map(
            |([account, production_name, production_email], [_, uat_name, uat_email])| {
                MaskedCustomer {
                    account,
                    production_name,
                    production_email,
                    uat_name,
                    uat_email,
                }
            },
        )
        .collect())
}

/// Makes `dir` ready: new, empty, or the demo's own from an earlier run (then cleared).
fn prepare_dir(dir: &Path) -> Result<PathBuf> {
    if dir.exists() {
        let ours = dir.join(MARKER).exists();
        let empty = std::fs::read_dir(dir)?.next().is_none();
        if !ours && !empty {
            bail!(
                "{} exists and was not made by `dataalm demo`: choose another --dir",
                dir.display()
            );
        }
        if ours {
            std::fs::remove_dir_all(dir)
                .with_context(|| format!("cannot clear the earlier demo in {}", dir.display()))?;
        }
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::write(
        dir.join(MARKER),
        "made by dataalm demo; removed by the next one\n",
    )?;
    Ok(std::path::absolute(dir)?)
}

fn create(
    path: &Path,
    role: Role,
    size_bytes: u64,
    seed: u64,
    display: &Display,
) -> Result<Sample> {
    let started = Instant::now();
    crate::cmd::create_sqlite(
        path,
        &SampleOptions {
            role,
            size_bytes,
            seed,
        },
        display,
    )?;
    Ok(Sample {
        path: path.to_owned(),
        bytes: std::fs::metadata(path)?.len(),
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Environment-specific settings of both environments, as `(name, prod, uat)`.
fn settings(
    store: &Store,
    prod: &Environment,
    uat: &Environment,
) -> Result<Vec<(String, String, String)>> {
    let prod_values = read_settings(store, prod)?;
    let uat_values = read_settings(store, uat)?;
    Ok(prod_values
        .into_iter()
        .map(|(name, p)| {
            let u = uat_values.get(&name).cloned().unwrap_or_default();
            (name, p, u)
        })
        .collect())
}

/// SMTP parameters, system parameters and batch group → server, by name.
fn read_settings(store: &Store, env: &Environment) -> Result<BTreeMap<String, String>> {
    let mut env_db = EnvDb::open(store, env, true)?;
    let profile: Profile = env_db.profile.clone();
    let db = env_db.db();
    let mut out = BTreeMap::new();
    if let Some(email) = &profile.email {
        let columns: Vec<String> = email.columns.iter().map(|c| quote_ident(c)).collect();
        let sql = format!(
            "SELECT {} FROM {}",
            columns.join(", "),
            quote_ident(&email.table)
        );
        if let Some(row) = db.query(&sql, &[])?.rows.into_iter().next() {
            for (name, value) in email.columns.iter().zip(row) {
                out.insert(format!("email.{name}"), value.to_string());
            }
        }
    }
    if let Some(system) = &profile.system {
        pairs(
            db,
            &system.table,
            &system.key,
            &system.value,
            "system",
            &mut out,
        )?;
    }
    if let Some(groups) = &profile.batch_groups {
        pairs(
            db,
            &groups.table,
            &groups.group,
            &groups.server,
            "batch_group",
            &mut out,
        )?;
    }
    Ok(out)
}

fn pairs(
    db: &mut dyn Database,
    table: &str,
    key: &str,
    value: &str,
    prefix: &str,
    out: &mut BTreeMap<String, String>,
) -> Result<()> {
    let sql = format!(
        "SELECT {}, {} FROM {}",
        quote_ident(key),
        quote_ident(value),
        quote_ident(table)
    );
    for row in db.query(&sql, &[])?.rows {
        if let [k, v] = row.as_slice() {
            out.insert(format!("{prefix}.{k}"), v.to_string());
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn report(
    store: &dataalm_store::Store,
    dir: &Path,
    production: Sample,
    uat: Sample,
    op: &Operation,
    refresh_ms: u64,
    before: &[(String, String, String)],
    after: &[(String, String, String)],
    second_reconfigure_changes: usize,
    masked_customers: Vec<MaskedCustomer>,
) -> Result<Report> {
    let users = actions::list_users(store, "uat", &UserFilter::default())?;
    let jobs = actions::list_jobs(store, "uat", None)?;
    let mut jobs_by_status = BTreeMap::new();
    for job in &jobs {
        *jobs_by_status.entry(job.status.clone()).or_insert(0) += 1;
    }
    let settings = after
        .iter()
        .map(|(name, prod, uat_after)| Setting {
            name: name.clone(),
            production: prod.clone(),
            uat_before: before
                .iter()
                .find(|(n, _, _)| n == name)
                .map(|(_, _, u)| u.clone())
                .unwrap_or_default(),
            uat_after: uat_after.clone(),
        })
        .collect();
    Ok(Report {
        dir: dir.to_owned(),
        production,
        uat,
        operation: crate::cmd::operation_json(op),
        downtime_ms: op.data.downtime_ms,
        refresh_ms,
        users_enabled: users
            .iter()
            .filter(|u| u.enabled)
            .map(|u| u.id.clone())
            .collect(),
        users_total: users.len(),
        jobs_by_status,
        settings,
        second_reconfigure_changes,
        signed_off: op.state == dataalm_core::OpState::SignedOff,
        masked_customers,
    })
}

fn print_report(report: &Report, op: &Operation) {
    outln!();
    outln!("dataalm demo: training refresh of `uat` from `prod` (finance sample, SQLite)");
    outln!(
        "  prod.db {} bytes, uat.db {} bytes, in {}",
        report.production.bytes,
        report.uat.bytes,
        report.dir.display()
    );
    outln!();
    crate::cmd::print_operation(op);
    outln!();
    outln!(
        "refresh took {} in all; the target was unavailable for {} only",
        output::duration_ms(report.refresh_ms),
        report
            .downtime_ms
            .map(output::duration_ms)
            .unwrap_or_else(|| "-".into())
    );
    outln!(
        "users enabled in uat: {} of {}: {}",
        report.users_enabled.len(),
        report.users_total,
        report.users_enabled.join(", ")
    );
    let jobs: Vec<String> = report
        .jobs_by_status
        .iter()
        .map(|(status, n)| format!("{n} {status}"))
        .collect();
    outln!("batch jobs in uat: {}", jobs.join(", "));
    outln!();
    outln!("environment-specific settings (kept from uat or set by its plan, never production's):");
    let rows: Vec<Vec<String>> = report
        .settings
        .iter()
        .map(|s| {
            vec![
                s.name.clone(),
                s.production.clone(),
                s.uat_before.clone(),
                s.uat_after.clone(),
            ]
        })
        .collect();
    output::table(&["setting", "production", "uat before", "uat after"], &rows);
    outln!();
    outln!(
        "customers masked in the copy (profile `finance`: same account, other name and e-mail):"
    );
    let rows: Vec<Vec<String>> = report
        .masked_customers
        .iter()
        .map(|c| {
            vec![
                c.account.clone(),
                c.production_name.clone(),
                c.production_email.clone(),
                c.uat_name.clone(),
                c.uat_email.clone(),
            ]
        })
        .collect();
    output::table(
        &[
            "account",
            "prod name",
            "prod e-mail",
            "uat name",
            "uat e-mail",
        ],
        &rows,
    );
    outln!();
    outln!(
        "reconfigure applied again: {} change(s) (a plan applies once)",
        report.second_reconfigure_changes
    );
    outln!(
        "signed off: {}; try `dataalm --home {} status` or `... users list --env uat --enabled`",
        if report.signed_off { "yes" } else { "no" },
        report.dir.display()
    );
}
