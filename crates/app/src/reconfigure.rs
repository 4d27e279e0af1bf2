//! Reconfigure: what a plan wants against what an environment has, and applying it.
//!
//! [`diff`] reads and changes nothing; [`apply`] computes the same diff inside one
//! transaction, writes exactly it and returns it, so a dry run shows what apply does and a
//! second apply returns nothing. Every check (sections the profile lacks, unknown users,
//! batch groups, jobs, e-mail columns, aggregates) fails before anything is written.
//!
//! **Aggregates are not changes.** Rebuilding an aggregate is not a difference between the
//! plan and the environment (its content follows the business tables, and it carries the
//! time of its rebuild), so it is never in the returned list. [`apply`] rebuilds every
//! aggregate the plan names, in the same transaction, after the settings, on every run;
//! what it rebuilt is exactly `plan.aggregates.refresh`. [`refresh_aggregates`] rebuilds
//! on its own and counts the rows.

use crate::sql::{self, transaction};
use crate::{Error, Result, jobs, section, users};
use dataalm_core::plan::{Change, JobSelection};
use dataalm_core::profile::{AggregateSpec, BatchGroupsSpec, EmailSpec, SystemSpec};
use dataalm_core::sql::quote_ident;
use dataalm_core::{Plan, Profile, Value};
use dataalm_engine::Database;

/// The table that defines batch groups, when the database has one: a group it lists may be
/// mapped to a server for the first time. Its group column is named as the mapping's.
const BATCH_GROUP_TABLE: &str = "batch_group";

/// What the plan would change; reads only.
pub fn diff(db: &mut dyn Database, profile: &Profile, plan: &Plan) -> Result<Vec<Change>> {
    let pending = pending(db, profile, plan)?;
    Ok(pending.into_iter().map(|p| p.change).collect())
}

/// Applies the plan in one transaction and returns what changed (the [`diff`] it had),
/// then rebuilds the aggregates it names (not reported, see the module header).
pub fn apply(db: &mut dyn Database, profile: &Profile, plan: &Plan) -> Result<Vec<Change>> {
    check_sections(profile, plan)?;
    transaction(db, |db| {
        let pending = pending(db, profile, plan)?;
        let aggregates = aggregates(profile, plan)?;
        let mut changes = Vec::with_capacity(pending.len());
        for item in pending {
            write(db, profile, &item.action)?;
            changes.push(item.change);
        }
        for aggregate in aggregates {
            rebuild(db, aggregate)?;
        }
        Ok(changes)
    })
}

/// Rebuilds the named aggregates in one transaction; returns each one's row count after.
pub fn refresh_aggregates(
    db: &mut dyn Database,
    profile: &Profile,
    names: &[String],
) -> Result<Vec<(String, u64)>> {
    let specs = find_aggregates(profile, names)?;
    transaction(db, |db| {
        let mut counts = Vec::with_capacity(specs.len());
        for spec in specs {
            rebuild(db, spec)?;
            counts.push((spec.name.clone(), count_rows(db, &spec.table)?));
        }
        Ok(counts)
    })
}

/// One change and how to make it.
struct Pending {
    change: Change,
    action: Action,
}

enum Action {
    EnableUser(Value),
    MapGroup { group: Value, server: String },
    SetEmail { column: String, value: Value },
    SetSystem { key: Value, value: Value },
    SetJobWaiting(Value),
}

fn pending(db: &mut dyn Database, profile: &Profile, plan: &Plan) -> Result<Vec<Pending>> {
    check_sections(profile, plan)?;
    aggregates(profile, plan)?;
    check_email_columns(profile, plan)?;
    let mut pending = users_diff(db, profile, plan)?;
    pending.extend(groups_diff(db, profile, plan)?);
    pending.extend(email_diff(db, profile, plan)?);
    pending.extend(system_diff(db, profile, plan)?);
    pending.extend(jobs_diff(db, profile, plan)?);
    Ok(pending)
}

/// A plan may only use the sections its profile has.
fn check_sections(profile: &Profile, plan: &Plan) -> Result<()> {
    let uses = [
        (
            "users",
            !plan.users.enable.is_empty(),
            profile.users.is_some(),
        ),
        (
            "batch_groups",
            !plan.batch_groups.is_empty(),
            profile.batch_groups.is_some(),
        ),
        ("email", !plan.email.is_empty(), profile.email.is_some()),
        ("system", !plan.system.is_empty(), profile.system.is_some()),
        (
            "batch_jobs",
            plan.batch_jobs.waiting.is_some(),
            profile.batch_jobs.is_some(),
        ),
        (
            "aggregates",
            !plan.aggregates.refresh.is_empty(),
            !profile.aggregates.is_empty(),
        ),
    ];
    match uses.iter().find(|(_, used, present)| *used && !*present) {
        Some((name, _, _)) => Err(Error::NotInProfile {
            profile: profile.name.clone(),
            section: (*name).to_owned(),
        }),
        None => Ok(()),
    }
}

fn aggregates<'a>(profile: &'a Profile, plan: &Plan) -> Result<Vec<&'a AggregateSpec>> {
    find_aggregates(profile, &plan.aggregates.refresh)
}

fn find_aggregates<'a>(profile: &'a Profile, names: &[String]) -> Result<Vec<&'a AggregateSpec>> {
    let unknown: Vec<String> = names
        .iter()
        .filter(|n| profile.aggregate(n).is_none())
        .cloned()
        .collect();
    if !unknown.is_empty() {
        return Err(Error::UnknownAggregates {
            unknown,
            valid: profile.aggregates.iter().map(|a| a.name.clone()).collect(),
        });
    }
    Ok(names.iter().filter_map(|n| profile.aggregate(n)).collect())
}

fn check_email_columns(profile: &Profile, plan: &Plan) -> Result<()> {
    let Some(spec) = &profile.email else {
        return Ok(());
    };
    let unknown: Vec<String> = plan
        .email
        .keys()
        .filter(|c| email_column(spec, c).is_none())
        .cloned()
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    Err(Error::UnknownEmailColumns {
        unknown,
        valid: spec.columns.clone(),
    })
}

/// The profile's spelling of an e-mail column a plan names, case-insensitively.
fn email_column<'a>(spec: &'a EmailSpec, name: &str) -> Option<&'a str> {
    spec.columns
        .iter()
        .find(|c| c.eq_ignore_ascii_case(name))
        .map(String::as_str)
}

fn users_diff(db: &mut dyn Database, profile: &Profile, plan: &Plan) -> Result<Vec<Pending>> {
    if plan.users.enable.is_empty() {
        return Ok(Vec::new());
    }
    let spec = section(profile, &profile.users, "users")?;
    let stored = users::load(db, spec)?;
    let found = users::find(&stored, &plan.users.enable)?;
    Ok(found
        .into_iter()
        .filter(|u| !u.user.enabled)
        .map(|u| Pending {
            change: change("users", &u.user.id, Some("disabled".into()), "enabled"),
            action: Action::EnableUser(u.key.clone()),
        })
        .collect())
}

fn groups_diff(db: &mut dyn Database, profile: &Profile, plan: &Plan) -> Result<Vec<Pending>> {
    if plan.batch_groups.is_empty() {
        return Ok(Vec::new());
    }
    let spec = section(profile, &profile.batch_groups, "batch_groups")?;
    let mapped = db.query(&sql::select(&spec.table, &[&spec.group, &spec.server]), &[])?;
    let mut pending = Vec::new();
    let mut unmapped: Vec<&String> = Vec::new();
    for (group, server) in &plan.batch_groups {
        let rows: Vec<&Vec<Value>> = mapped
            .rows
            .iter()
            .filter(|r| r.first().is_some_and(|g| sql::text(g) == *group))
            .collect();
        let Some(row) = rows
            .iter()
            .find(|r| r.get(1).map(sql::text).as_ref() != Some(server))
        else {
            if rows.is_empty() {
                unmapped.push(group);
            }
            continue;
        };
        pending.push(Pending {
            change: change(
                "batch_groups",
                group,
                row.get(1).and_then(sql::opt_text),
                server,
            ),
            action: Action::MapGroup {
                group: row.first().cloned().unwrap_or(Value::Null),
                server: server.clone(),
            },
        });
    }
    pending.extend(new_groups(db, spec, &unmapped, &plan.batch_groups)?);
    Ok(pending)
}

/// Groups mapped for the first time: each must be defined in the batch group table.
fn new_groups(
    db: &mut dyn Database,
    spec: &BatchGroupsSpec,
    unmapped: &[&String],
    wanted: &std::collections::BTreeMap<String, String>,
) -> Result<Vec<Pending>> {
    if unmapped.is_empty() {
        return Ok(Vec::new());
    }
    let defined = defined_groups(db, spec)?;
    let unknown: Vec<String> = unmapped
        .iter()
        .filter(|g| !defined.iter().any(|d| sql::text(d) == ***g))
        .map(|g| (*g).clone())
        .collect();
    if !unknown.is_empty() {
        return Err(Error::UnknownBatchGroups(unknown));
    }
    let mut pending = Vec::with_capacity(unmapped.len());
    for group in unmapped {
        let server = wanted.get(*group).cloned().unwrap_or_default();
        let key = defined
            .iter()
            .find(|d| sql::text(d) == **group)
            .cloned()
            .unwrap_or_else(|| Value::from(group.as_str()));
        pending.push(Pending {
            change: change("batch_groups", group, None, &server),
            action: Action::MapGroup { group: key, server },
        });
    }
    Ok(pending)
}

/// The groups the database defines, when it has a batch group table with the group column.
fn defined_groups(db: &mut dyn Database, spec: &BatchGroupsSpec) -> Result<Vec<Value>> {
    let schema = db.schema()?;
    if !schema.has_column(BATCH_GROUP_TABLE, &spec.group) {
        return Ok(Vec::new());
    }
    let rows = db.query(&sql::select(BATCH_GROUP_TABLE, &[&spec.group]), &[])?;
    Ok(rows
        .rows
        .into_iter()
        .filter_map(|r| r.into_iter().next())
        .collect())
}

fn email_diff(db: &mut dyn Database, profile: &Profile, plan: &Plan) -> Result<Vec<Pending>> {
    if plan.email.is_empty() {
        return Ok(Vec::new());
    }
    let spec = section(profile, &profile.email, "email")?;
    let columns: Vec<&str> = plan
        .email
        .keys()
        .filter_map(|c| email_column(spec, c))
        .collect();
    let current = db.query(&sql::select(&spec.table, &columns), &[])?;
    let first = current.rows.first();
    let mut pending = Vec::new();
    for (i, (column, value)) in columns.iter().zip(plan.email.values()).enumerate() {
        let now = first.and_then(|r| r.get(i));
        if now.is_some_and(|n| n.same_as(value)) {
            continue;
        }
        pending.push(Pending {
            change: change(
                "email",
                column,
                now.and_then(sql::opt_text),
                &value.to_string(),
            ),
            action: Action::SetEmail {
                column: (*column).to_owned(),
                value: value.clone(),
            },
        });
    }
    Ok(pending)
}

fn system_diff(db: &mut dyn Database, profile: &Profile, plan: &Plan) -> Result<Vec<Pending>> {
    if plan.system.is_empty() {
        return Ok(Vec::new());
    }
    let spec = section(profile, &profile.system, "system")?;
    let current = db.query(&sql::select(&spec.table, &[&spec.key, &spec.value]), &[])?;
    let mut pending = Vec::new();
    for (name, value) in &plan.system {
        let row = current
            .rows
            .iter()
            .find(|r| r.first().is_some_and(|k| sql::text(k) == *name));
        let now = row.and_then(|r| r.get(1));
        if now.is_some_and(|n| n.same_as(value)) {
            continue;
        }
        let key = row
            .and_then(|r| r.first().cloned())
            .unwrap_or_else(|| Value::from(name.as_str()));
        pending.push(Pending {
            change: change(
                "system",
                name,
                now.and_then(sql::opt_text),
                &value.to_string(),
            ),
            action: Action::SetSystem {
                key,
                value: value.clone(),
            },
        });
    }
    Ok(pending)
}

fn jobs_diff(db: &mut dyn Database, profile: &Profile, plan: &Plan) -> Result<Vec<Pending>> {
    let Some(selection) = &plan.batch_jobs.waiting else {
        return Ok(Vec::new());
    };
    let spec = section(profile, &profile.batch_jobs, "batch_jobs")?;
    let waiting = jobs::status_value(spec, "waiting")?;
    let selection = match selection {
        JobSelection::All(_) => jobs::JobsToSet::AllWithheld,
        JobSelection::Ids(ids) => jobs::JobsToSet::Ids(ids.clone()),
    };
    let selected = jobs::select(db, spec, &selection)?;
    Ok(selected
        .into_iter()
        .filter(|j| !j.status.same_as(waiting))
        .map(|j| Pending {
            change: change(
                "batch_jobs",
                &j.job.id.to_string(),
                Some(j.job.status.clone()),
                "waiting",
            ),
            action: Action::SetJobWaiting(j.job.id),
        })
        .collect())
}

fn change(area: &str, item: &str, from: Option<String>, to: &str) -> Change {
    Change {
        area: area.to_owned(),
        item: item.to_owned(),
        from,
        to: to.to_owned(),
    }
}

/// Makes one change. Sections were checked before; a missing one here writes nothing.
fn write(db: &mut dyn Database, profile: &Profile, action: &Action) -> Result<()> {
    match action {
        Action::EnableUser(key) => {
            let spec = section(profile, &profile.users, "users")?;
            users::write_enabled(db, spec, key, true)
        }
        Action::MapGroup { group, server } => {
            let spec = section(profile, &profile.batch_groups, "batch_groups")?;
            let server = Value::from(server.as_str());
            upsert(
                db,
                &spec.table,
                (&spec.group, group),
                (&spec.server, &server),
            )
        }
        Action::SetEmail { column, value } => {
            let spec = section(profile, &profile.email, "email")?;
            set_email(db, spec, column, value)
        }
        Action::SetSystem { key, value } => {
            let spec: &SystemSpec = section(profile, &profile.system, "system")?;
            upsert(db, &spec.table, (&spec.key, key), (&spec.value, value))
        }
        Action::SetJobWaiting(id) => {
            let spec = section(profile, &profile.batch_jobs, "batch_jobs")?;
            let waiting = jobs::status_value(spec, "waiting")?;
            sql::update_one(db, &spec.table, &spec.status, waiting, &spec.id, id)?;
            Ok(())
        }
    }
}

/// Sets `value` where `key` matches, or inserts the pair when no row does.
fn upsert(
    db: &mut dyn Database,
    table: &str,
    (key_column, key): (&str, &Value),
    (value_column, value): (&str, &Value),
) -> Result<()> {
    if sql::update_one(db, table, value_column, value, key_column, key)? == 0 {
        sql::insert(
            db,
            table,
            &[key_column, value_column],
            &[key.clone(), value.clone()],
        )?;
    }
    Ok(())
}

/// Sets one column of the one-row e-mail table, adding the row when there is none.
fn set_email(db: &mut dyn Database, spec: &EmailSpec, column: &str, value: &Value) -> Result<()> {
    let query = format!(
        "UPDATE {} SET {} = {}",
        quote_ident(&spec.table),
        quote_ident(column),
        db.dialect().param(1)
    );
    if db.execute(&query, std::slice::from_ref(value))? == 0 {
        sql::insert(db, &spec.table, &[column], std::slice::from_ref(value))?;
    }
    Ok(())
}

/// Runs an aggregate's statements, as the profile writes them.
fn rebuild(db: &mut dyn Database, spec: &AggregateSpec) -> Result<()> {
    for statement in &spec.refresh {
        db.execute_batch(statement)?;
    }
    Ok(())
}

fn count_rows(db: &mut dyn Database, table: &str) -> Result<u64> {
    let rows = db.query(&format!("SELECT COUNT(*) FROM {}", quote_ident(table)), &[])?;
    let count = rows
        .rows
        .first()
        .and_then(|r| r.first())
        .and_then(Value::as_i64)
        .unwrap_or(0);
    Ok(u64::try_from(count).unwrap_or(0))
}
