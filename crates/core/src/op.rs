//! Operations and the steps of a refresh, as the journal records them.

use crate::env::Location;
use crate::value::Value;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use time::OffsetDateTime;

/// The steps of a refresh, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Step {
    Validate,
    Announce,
    CaptureTarget,
    CopyToStaging,
    Neutralize,
    RestoreTarget,
    Cutover,
    Reconfigure,
    AwaitSignOff,
}

impl Step {
    pub const ALL: [Step; 9] = [
        Step::Validate,
        Step::Announce,
        Step::CaptureTarget,
        Step::CopyToStaging,
        Step::Neutralize,
        Step::RestoreTarget,
        Step::Cutover,
        Step::Reconfigure,
        Step::AwaitSignOff,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Step::Validate => "Validate",
            Step::Announce => "Announce",
            Step::CaptureTarget => "CaptureTarget",
            Step::CopyToStaging => "CopyToStaging",
            Step::Neutralize => "Neutralize",
            Step::RestoreTarget => "RestoreTarget",
            Step::Cutover => "Cutover",
            Step::Reconfigure => "Reconfigure",
            Step::AwaitSignOff => "AwaitSignOff",
        }
    }

    /// Whether the target has been replaced once this step has started.
    pub fn after_cutover(self) -> bool {
        self > Step::Cutover
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Step {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Step::ALL
            .into_iter()
            .find(|step| step.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("unknown step `{s}`"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Pending,
    Running,
    Done,
    Failed,
}

impl StepStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Pending => "pending",
            StepStatus::Running => "running",
            StepStatus::Done => "done",
            StepStatus::Failed => "failed",
        }
    }
}

impl FromStr for StepStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pending" => Ok(StepStatus::Pending),
            "running" => Ok(StepStatus::Running),
            "done" => Ok(StepStatus::Done),
            "failed" => Ok(StepStatus::Failed),
            other => Err(format!("unknown step status `{other}`")),
        }
    }
}

/// Where an operation stands. `Running`, `Failed` and `AwaitingSignOff` hold the target:
/// no other refresh may start on it until the operation is signed off or rolled back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpState {
    Running,
    /// Stopped by an error or a crash: `resume` or `rollback` it.
    Failed,
    #[serde(rename = "awaiting_signoff")]
    AwaitingSignOff,
    SignedOff,
    RolledBack,
    /// Stopped before its cutover because someone asked: staging dropped, the target as
    /// it was. Final: nobody resumes it.
    Cancelled,
}

impl OpState {
    pub const ACTIVE: [OpState; 3] = [OpState::Running, OpState::Failed, OpState::AwaitingSignOff];

    pub fn as_str(self) -> &'static str {
        match self {
            OpState::Running => "running",
            OpState::Failed => "failed",
            OpState::AwaitingSignOff => "awaiting_signoff",
            OpState::SignedOff => "signed_off",
            OpState::RolledBack => "rolled_back",
            OpState::Cancelled => "cancelled",
        }
    }

    pub fn is_active(self) -> bool {
        OpState::ACTIVE.contains(&self)
    }

    /// Whether the operation is over: signed off, rolled back or cancelled.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            OpState::SignedOff | OpState::RolledBack | OpState::Cancelled
        )
    }
}

impl fmt::Display for OpState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OpState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            OpState::Running,
            OpState::Failed,
            OpState::AwaitingSignOff,
            OpState::SignedOff,
            OpState::RolledBack,
            OpState::Cancelled,
        ]
        .into_iter()
        .find(|state| state.as_str() == s)
        .ok_or_else(|| format!("unknown operation state `{s}`"))
    }
}

/// One step of an operation as journaled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    pub step: Step,
    pub status: StepStatus,
    #[serde(with = "time::serde::rfc3339::option")]
    pub started_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub ended_at: Option<OffsetDateTime>,
    pub rows: u64,
    pub bytes: u64,
    /// What the step did, in words.
    pub detail: String,
    pub error: Option<String>,
}

impl StepRecord {
    pub fn pending(step: Step) -> StepRecord {
        StepRecord {
            step,
            status: StepStatus::Pending,
            started_at: None,
            ended_at: None,
            rows: 0,
            bytes: 0,
            detail: String::new(),
            error: None,
        }
    }

    pub fn duration_ms(&self) -> Option<u64> {
        let (start, end) = (self.started_at?, self.ended_at?);
        Some(u64::try_from((end - start).whole_milliseconds()).unwrap_or(0))
    }
}

/// Rows of one table, read from the target by CaptureTarget and written back into the
/// copy by RestoreTarget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapturedTable {
    pub table: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

/// How CopyToStaging copies, chosen when the refresh starts and journaled so a resume
/// copies the same way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CopyOptions {
    /// Parallel data streams; `None` means one per core.
    pub jobs: Option<usize>,
    /// Compare row counts and content checksums of every table after the copy.
    pub verify: bool,
    /// Keep owners and grants where the roles exist on the target server.
    pub owners_and_grants: bool,
    /// Tables bigger than this are copied as several ranges in parallel.
    pub split_bytes: u64,
}

/// The most parallel copy streams a refresh may ask for: each is a connection to the
/// source, and production's connection slots are not dataalm's to exhaust.
pub const MAX_JOBS: usize = 64;

/// Refuses a number of copy streams outside `1..=MAX_JOBS`.
pub fn check_jobs(jobs: Option<usize>) -> Result<(), String> {
    match jobs {
        Some(n) if !(1..=MAX_JOBS).contains(&n) => Err(format!(
            "jobs must be between 1 and {MAX_JOBS}, not {n}: each one is a connection to the source"
        )),
        _ => Ok(()),
    }
}

/// Splitting a table pays when the servers have cores to spare for the extra streams;
/// below this size the gain is lost to the cost of range scans.
pub const DEFAULT_SPLIT_BYTES: u64 = 1 << 30;

impl Default for CopyOptions {
    fn default() -> Self {
        CopyOptions {
            jobs: None,
            verify: false,
            owners_and_grants: true,
            split_bytes: DEFAULT_SPLIT_BYTES,
        }
    }
}

impl CopyOptions {
    /// The number of parallel streams to use: as asked, else one per core.
    pub fn jobs(&self) -> usize {
        self.jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
            .max(1)
    }
}

/// What the steps of a refresh hand to each other, journaled so a resume can go on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OpData {
    /// How the copy is made.
    #[serde(default)]
    pub copy: CopyOptions,
    /// The id of the broadcast message Announce added to the target.
    pub announcement_id: Option<Value>,
    pub captured: Vec<CapturedTable>,
    pub staging: Option<Location>,
    pub previous: Option<Location>,
    pub source_bytes: Option<u64>,
    pub estimated_secs: Option<u64>,
    pub downtime_ms: Option<u64>,
    /// Figures for the report: users enabled, jobs waiting, settings kept...
    pub summary: Vec<(String, String)>,
    /// A rollback that was started and has not finished: in progress, or failed.
    #[serde(default)]
    pub rollback: Option<RollbackRecord>,
    /// Columns that look personal and have no mask rule were let through, once, by the
    /// person who started the refresh (`--allow-unmasked`); a resume checks the same way.
    #[serde(default)]
    pub allow_unmasked: bool,
}

/// A rollback under way or failed; the operation's state says when it is done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollbackRecord {
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// Why it failed, once it has.
    pub error: Option<String>,
}

/// A refresh as the journal holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Operation {
    pub id: String,
    /// A GUID, the operation's id for the ERP's clients (`OperationActivityId`). The
    /// control plane's column is the truth: older bodies lack it.
    #[serde(default)]
    pub activity_id: String,
    pub kind: String,
    pub source: String,
    pub target: String,
    pub state: OpState,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    pub error: Option<String>,
    /// Who is running the operation and for how much longer, while someone is. Read
    /// from the control plane's lease columns, not from the journal body.
    #[serde(default, skip_deserializing)]
    pub lease: Option<Lease>,
    pub steps: Vec<StepRecord>,
    pub data: OpData,
    /// Takeovers since a step last finished; see [`Takeovers`].
    #[serde(default)]
    pub takeovers: Takeovers,
}

impl Operation {
    /// A new refresh of `target` from `source`, every step pending.
    pub fn new_refresh(source: &str, target: &str, now: OffsetDateTime) -> Operation {
        Operation {
            id: new_op_id(now),
            activity_id: crate::env::new_guid(),
            kind: "refresh".into(),
            source: source.to_owned(),
            target: target.to_owned(),
            state: OpState::Running,
            created_at: now,
            updated_at: now,
            error: None,
            lease: None,
            steps: Step::ALL.into_iter().map(StepRecord::pending).collect(),
            data: OpData::default(),
            takeovers: Takeovers::default(),
        }
    }

    pub fn step(&self, step: Step) -> Option<&StepRecord> {
        self.steps.iter().find(|s| s.step == step)
    }

    pub fn step_mut(&mut self, step: Step) -> Option<&mut StepRecord> {
        self.steps.iter_mut().find(|s| s.step == step)
    }

    /// The first step not done yet, where a resume starts.
    pub fn next_step(&self) -> Option<Step> {
        self.steps
            .iter()
            .find(|s| s.status != StepStatus::Done)
            .map(|s| s.step)
    }

    /// Whether the target has been swapped for the copy.
    pub fn cut_over(&self) -> bool {
        self.step(Step::Cutover)
            .is_some_and(|s| s.status == StepStatus::Done)
    }
}

/// How many times in a row a process took the operation over from a runner that had
/// died or lost its lease, with no step finished in between. A count that keeps growing
/// means the operation itself brings its runners down (a crash, a hang), and taking it
/// over again would only do that again.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Takeovers {
    pub count: u32,
    /// Where the operation stood (its first step not done) when they were counted.
    pub at: Option<Step>,
}

impl Takeovers {
    /// One more takeover of an operation standing at `at`: counted on if it has not
    /// moved since the last, else the first at its new place.
    pub fn one_more(&self, at: Option<Step>) -> Takeovers {
        let count = if self.at == at { self.count + 1 } else { 1 };
        Takeovers { count, at }
    }
}

/// The claim of one process on an operation: it alone runs the operation's steps while
/// it keeps renewing the lease (see `dataalm-store`'s `lease` module).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// `host:pid` of the process holding it.
    pub runner: String,
    /// Milliseconds until it lapses by the control plane's clock; zero or less when it
    /// has lapsed and anyone may take the operation over.
    pub expires_in_ms: i64,
}

/// Operation ids sort by time and are short enough to type: `op-20261125-221503-3f9a`.
pub fn new_op_id(now: OffsetDateTime) -> String {
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    format!(
        "op-{:04}{:02}{:02}-{:02}{:02}{:02}-{}",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        &suffix[..4]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_parse_and_order() {
        assert_eq!(
            "copytostaging".parse::<Step>().unwrap(),
            Step::CopyToStaging
        );
        assert!(Step::Reconfigure.after_cutover());
        assert!(!Step::Cutover.after_cutover());
    }

    #[test]
    fn next_step_is_the_first_not_done() {
        let mut op = Operation::new_refresh("prod", "uat", OffsetDateTime::UNIX_EPOCH);
        assert_eq!(op.next_step(), Some(Step::Validate));
        op.step_mut(Step::Validate).unwrap().status = StepStatus::Done;
        assert_eq!(op.next_step(), Some(Step::Announce));
        assert!(op.id.starts_with("op-19700101-000000-"));
    }

    #[test]
    fn cancelled_is_a_finished_state_that_frees_the_target() {
        assert_eq!("cancelled".parse::<OpState>(), Ok(OpState::Cancelled));
        assert!(OpState::Cancelled.is_finished());
        assert!(!OpState::Cancelled.is_active());
        assert!(!OpState::Failed.is_finished());
    }
}
