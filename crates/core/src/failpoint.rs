//! Failpoints: let tests kill a refresh at any step boundary.
//!
//! `DATAALM_FAILPOINT=CopyToStaging:after` aborts the process right after that step is
//! journaled as done; `Cutover:before` right before the step starts. Several may be given,
//! separated by commas. `CopyToStaging:during` aborts an engine in the middle of its data
//! copy. Abort, not exit: nothing gets to clean up, as in a real crash.

use crate::op::Step;

pub const VARIABLE: &str = "DATAALM_FAILPOINT";

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

/// Aborts the process when the failpoint `step:when` is set.
pub fn check(step: Step, when: When) {
    let Ok(spec) = std::env::var(VARIABLE) else {
        return;
    };
    if is_set(&spec, step, when) {
        eprintln!(
            "dataalm: failpoint {step}:{} reached, aborting",
            when.as_str()
        );
        std::process::abort();
    }
}

fn is_set(spec: &str, step: Step, when: When) -> bool {
    spec.split(',').any(|item| {
        let mut parts = item.trim().splitn(2, ':');
        let name = parts.next().unwrap_or_default();
        let at = parts.next().unwrap_or("before");
        name.eq_ignore_ascii_case(step.name()) && at.eq_ignore_ascii_case(when.as_str())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_matching() {
        assert!(is_set(
            "CopyToStaging:after",
            Step::CopyToStaging,
            When::After
        ));
        assert!(!is_set(
            "CopyToStaging:after",
            Step::CopyToStaging,
            When::Before
        ));
        assert!(is_set("x:after, cutover", Step::Cutover, When::Before));
        assert!(!is_set("", Step::Cutover, When::Before));
    }
}
