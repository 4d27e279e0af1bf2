use crate::fixture::{db, finance, job_status, snapshot};
use dataalm_app::Error;
use dataalm_app::jobs::{self, JobsChanged, JobsToSet};
use dataalm_core::Value;

#[test]
fn lists_jobs_with_status_names() {
    let mut db = db();
    let all = jobs::list(&mut db, &finance(), None).unwrap();
    assert_eq!(all.len(), 7);
    assert_eq!(all[0].id, Value::Int(1));
    assert_eq!(all[0].name.as_deref(), Some("Post invoices"));
    assert_eq!(all[0].status, "waiting");
    assert_eq!(all[5].status, "9", "an unmapped status is shown raw");

    let withheld = jobs::list(&mut db, &finance(), Some("Withhold")).unwrap();
    let ids: Vec<Value> = withheld.into_iter().map(|j| j.id).collect();
    assert_eq!(ids, [Value::Int(4), Value::Int(7)]);
}

#[test]
fn an_unknown_status_lists_the_valid_ones() {
    let mut db = db();
    let err = jobs::list(&mut db, &finance(), Some("paused")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown batch job status `paused`: expected one of ended, error, executing, waiting, withhold"
    );
    let err = jobs::set_status(&mut db, &finance(), "paused", &JobsToSet::AllWithheld).unwrap_err();
    assert!(matches!(err, Error::UnknownStatus { .. }));
}

#[test]
fn sets_all_withheld_jobs_to_waiting() {
    let mut db = db();
    let result = jobs::set_status(&mut db, &finance(), "waiting", &JobsToSet::AllWithheld).unwrap();
    assert_eq!(
        result,
        JobsChanged {
            changed: vec![Value::Int(4), Value::Int(7)],
            already: vec![],
        }
    );
    assert_eq!(job_status(&mut db, 4), 1);
    assert_eq!(job_status(&mut db, 7), 1);
    assert_eq!(job_status(&mut db, 3), 4, "ended stays ended");
}

#[test]
fn sets_jobs_by_id_text_or_number() {
    let mut db = db();
    let ids = JobsToSet::Ids(vec![Value::from("3"), Value::Int(1), Value::Int(3)]);
    let result = jobs::set_status(&mut db, &finance(), "Waiting", &ids).unwrap();
    assert_eq!(result.changed, [Value::Int(3)]);
    assert_eq!(result.already, [Value::Int(1)]);
    assert_eq!(job_status(&mut db, 3), 1);
}

#[test]
fn unknown_job_ids_change_nothing() {
    let mut db = db();
    let before = snapshot(&mut db);
    let ids = JobsToSet::Ids(vec![
        Value::Int(4),
        Value::Int(99),
        Value::from("1; DELETE FROM batch_job"),
    ]);
    let err = jobs::set_status(&mut db, &finance(), "waiting", &ids).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown batch jobs: 99, 1; DELETE FROM batch_job (nothing was changed)"
    );
    assert_eq!(snapshot(&mut db), before);
}

#[test]
fn withholding_takes_waiting_and_executing_jobs() {
    let mut db = db();
    assert_eq!(jobs::withhold_active(&mut db, &finance()).unwrap(), 2);
    assert_eq!(job_status(&mut db, 1), 0);
    assert_eq!(job_status(&mut db, 2), 0);
    assert_eq!(job_status(&mut db, 5), 3, "error stays error");
    assert_eq!(jobs::withhold_active(&mut db, &finance()).unwrap(), 0);
}
