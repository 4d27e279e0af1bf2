//! Batch jobs and their statuses: list them, set a status, and the Neutralize rule
//! (every job in a `withhold_from` status is withheld).
//!
//! Statuses are named as the profile's `[batch_jobs.statuses]` names them (`withhold`,
//! `waiting`...), case-insensitively; a stored value the profile does not name is shown raw.

use crate::sql::{self, transaction};
use crate::{Error, Result, section};
use dataalm_core::profile::BatchJobsSpec;
use dataalm_core::sql::quote_ident;
use dataalm_core::{Profile, Value};
use dataalm_engine::Database;

/// One batch job.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: Value,
    pub name: Option<String>,
    /// The profile's name of the status, or the raw stored value if it has none.
    pub status: String,
}

/// Which jobs [`set_status`] changes.
#[derive(Debug, Clone, PartialEq)]
pub enum JobsToSet {
    /// Every job in the `withhold` status.
    AllWithheld,
    /// These job ids; `"7"` and `7` name the same job.
    Ids(Vec<Value>),
}

/// What [`set_status`] did: ids it changed and ids that already had the status.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobsChanged {
    pub changed: Vec<Value>,
    pub already: Vec<Value>,
}

/// A job and its stored status value.
pub(crate) struct Stored {
    pub job: Job,
    pub status: Value,
}

/// Jobs in id order, all or those with one status.
pub fn list(db: &mut dyn Database, profile: &Profile, status: Option<&str>) -> Result<Vec<Job>> {
    let spec = section(profile, &profile.batch_jobs, "batch_jobs")?;
    let wanted = status.map(|name| status_value(spec, name)).transpose()?;
    let jobs = load(db, spec)?
        .into_iter()
        .filter(|s| wanted.is_none_or(|w| s.status.same_as(w)))
        .map(|s| s.job)
        .collect();
    Ok(jobs)
}

/// Sets the status of the selected jobs, all or none: when any id is unknown, nothing
/// changes.
pub fn set_status(
    db: &mut dyn Database,
    profile: &Profile,
    status_name: &str,
    selection: &JobsToSet,
) -> Result<JobsChanged> {
    let spec = section(profile, &profile.batch_jobs, "batch_jobs")?;
    let value = status_value(spec, status_name)?.clone();
    transaction(db, |db| {
        let selected = select(db, spec, selection)?;
        let mut result = JobsChanged::default();
        for job in selected {
            if job.status.same_as(&value) {
                result.already.push(job.job.id);
                continue;
            }
            sql::update_one(db, &spec.table, &spec.status, &value, &spec.id, &job.job.id)?;
            result.changed.push(job.job.id);
        }
        Ok(result)
    })
}

/// Neutralize: every job in a `withhold_from` status goes to `withhold`. Returns how many.
pub fn withhold_active(db: &mut dyn Database, profile: &Profile) -> Result<u64> {
    let spec = section(profile, &profile.batch_jobs, "batch_jobs")?;
    withhold_active_in(db, spec)
}

/// [`withhold_active`] on a given spec; one statement, so no transaction of its own.
pub(crate) fn withhold_active_in(db: &mut dyn Database, spec: &BatchJobsSpec) -> Result<u64> {
    let withhold = status_value(spec, "withhold")?.clone();
    let mut from: Vec<Value> = Vec::new();
    for name in &spec.withhold_from {
        from.push(status_value(spec, name)?.clone());
    }
    if from.is_empty() {
        return Ok(0);
    }
    let dialect = db.dialect();
    let query = format!(
        "UPDATE {} SET {status} = {} WHERE {status} IN ({})",
        quote_ident(&spec.table),
        dialect.param(1),
        dialect.params(2, from.len()),
        status = quote_ident(&spec.status),
    );
    let mut params = vec![withhold];
    params.extend(from);
    Ok(db.execute(&query, &params)?)
}

/// The stored value of a status name, or an error listing the valid names.
pub(crate) fn status_value<'a>(spec: &'a BatchJobsSpec, name: &str) -> Result<&'a Value> {
    spec.status_value(name.trim())
        .ok_or_else(|| Error::UnknownStatus {
            status: name.to_owned(),
            valid: spec.statuses.keys().cloned().collect(),
        })
}

/// The jobs a selection names; unknown ids are an error naming each one.
pub(crate) fn select(
    db: &mut dyn Database,
    spec: &BatchJobsSpec,
    selection: &JobsToSet,
) -> Result<Vec<Stored>> {
    let stored = load(db, spec)?;
    match selection {
        JobsToSet::AllWithheld => {
            let withhold = status_value(spec, "withhold")?;
            Ok(stored
                .into_iter()
                .filter(|s| s.status.same_as(withhold))
                .collect())
        }
        JobsToSet::Ids(ids) => pick(stored, ids),
    }
}

fn pick(mut stored: Vec<Stored>, ids: &[Value]) -> Result<Vec<Stored>> {
    let mut picked: Vec<Stored> = Vec::new();
    let mut unknown: Vec<String> = Vec::new();
    for id in ids {
        let wanted = id.to_string();
        let wanted = wanted.trim();
        if let Some(i) = stored.iter().position(|s| s.job.id.to_string() == wanted) {
            picked.push(stored.swap_remove(i));
        } else if !picked.iter().any(|p| p.job.id.to_string() == wanted)
            && !unknown.iter().any(|u| u == wanted)
        {
            unknown.push(wanted.to_owned());
        }
    }
    if unknown.is_empty() {
        Ok(picked)
    } else {
        Err(Error::UnknownJobs(unknown))
    }
}

/// Every job, in id order.
pub(crate) fn load(db: &mut dyn Database, spec: &BatchJobsSpec) -> Result<Vec<Stored>> {
    let mut columns = vec![spec.id.as_str(), spec.status.as_str()];
    columns.extend(spec.name.as_deref());
    let query = sql::select_ordered(&spec.table, &columns, &spec.id);
    let rows = db.query(&query, &[])?;
    let stored = rows
        .rows
        .into_iter()
        .map(|row| {
            let cell = |i: usize| row.get(i).cloned().unwrap_or(Value::Null);
            let status = cell(1);
            let job = Job {
                id: cell(0),
                name: spec.name.as_ref().and_then(|_| sql::opt_text(&cell(2))),
                status: spec
                    .status_name(&status)
                    .map_or_else(|| sql::text(&status), str::to_owned),
            };
            Stored { job, status }
        })
        .collect();
    Ok(stored)
}
