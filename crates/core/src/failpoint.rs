//! Failpoints: let tests kill a refresh at any step boundary.
//!
//! `DATAALM_FAILPOINT=CopyToStaging:after` aborts the process right after that step is
//! journaled as done; `Cutover:before` right before the step starts. Several may be given,
//! separated by commas. `CopyToStaging:during` aborts an engine in the middle of its data
//! copy. Abort, not exit: nothing gets to clean up, as in a real crash.
//!
//! `Neutralize:before:pause` stalls there for [`PAUSE`] instead, then goes on: a process
//! that hangs (or is stopped) mid-operation, for the tests of lease takeover.
//! `Neutralize:before:panic` panics there: a bug, for the tests that a panic is contained.

use crate::op::Step;

pub const VARIABLE: &str = "DATAALM_FAILPOINT";

/// How long a `:pause` failpoint stalls.
pub const PAUSE: std::time::Duration = std::time::Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    Before,
    /// In the middle of the step's work, where the step offers it.
    During,
    After,
}

impl When {
    fn as_str(self) -> &'static str {
        match self {
            When::Before => "before",
            When::During => "during",
            When::After => "after",
        }
    }
}

/// What a failpoint does when reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Abort,
    Pause,
    Panic,
}

/// Aborts the process (or pauses it) when the failpoint `step:when` is set.
pub fn check(step: Step, when: When) {
    let Ok(spec) = std::env::var(VARIABLE) else {
        return;
    };
    let at = when.as_str();
    match action(&spec, step, when) {
        Some(Action::Abort) => {
            eprintln!("dataalm: failpoint {step}:{at} reached, aborting");
            std::process::abort();
        }
        Some(Action::Pause) => {
            eprintln!("dataalm: failpoint {step}:{at} reached, pausing");
            std::thread::sleep(PAUSE);
            eprintln!("dataalm: failpoint {step}:{at} paused, going on");
        }
        Some(Action::Panic) => panic!("failpoint {step}:{at} reached"),
        None => {}
    }
}

fn action(spec: &str, step: Step, when: When) -> Option<Action> {
    spec.split(',').find_map(|item| {
        let mut parts = item.trim().splitn(3, ':');
        let name = parts.next().unwrap_or_default();
        let at = parts.next().unwrap_or("before");
        let matches =
            name.eq_ignore_ascii_case(step.name()) && at.eq_ignore_ascii_case(when.as_str());
        let action = match parts.next() {
            Some(a) if a.eq_ignore_ascii_case("pause") => Action::Pause,
            Some(a) if a.eq_ignore_ascii_case("panic") => Action::Panic,
            _ => Action::Abort,
        };
        matches.then_some(action)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_matching() {
        let after = action("CopyToStaging:after", Step::CopyToStaging, When::After);
        assert_eq!(after, Some(Action::Abort));
        let before = action("CopyToStaging:after", Step::CopyToStaging, When::Before);
        assert_eq!(before, None);
        let cutover = action("x:after, cutover", Step::Cutover, When::Before);
        assert_eq!(cutover, Some(Action::Abort));
        assert_eq!(action("", Step::Cutover, When::Before), None);
        let pause = action("neutralize:before:pause", Step::Neutralize, When::Before);
        assert_eq!(pause, Some(Action::Pause));
        let panic = action("Cutover:before:panic", Step::Cutover, When::Before);
        assert_eq!(panic, Some(Action::Panic));
    }
}
