//! Reconfiguration plans: what an environment needs after a copy, in TOML.
//!
//! ```toml
//! [users]
//! enable = ["alice@example.com", "u0042"]
//!
//! [batch_groups]
//! EMEA = "UAT-BATCH-01"
//!
//! [email]
//! smtp_relay_server = "smtp.uat.example.com"
//!
//! [system]
//! help_url = "https://help.uat.example.com"
//!
//! [batch_jobs]
//! waiting = "all-withheld"     # or a list of job ids
//!
//! [aggregates]
//! refresh = ["sales_by_customer"]
//! ```

use crate::value::Value;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    #[serde(default)]
    pub users: UsersPlan,
    /// Batch group → batch server.
    #[serde(default)]
    pub batch_groups: BTreeMap<String, String>,
    /// E-mail parameter column → value.
    #[serde(default)]
    pub email: BTreeMap<String, Value>,
    /// System parameter name → value.
    #[serde(default)]
    pub system: BTreeMap<String, Value>,
    #[serde(default)]
    pub batch_jobs: JobsPlan,
    #[serde(default)]
    pub aggregates: AggregatesPlan,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsersPlan {
    /// User ids or e-mail addresses.
    #[serde(default)]
    pub enable: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobsPlan {
    #[serde(default)]
    pub waiting: Option<JobSelection>,
}

/// Which batch jobs go back to Waiting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum JobSelection {
    /// `"all-withheld"`: every job in the withhold status.
    All(AllWithheld),
    /// Job ids.
    Ids(Vec<Value>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AllWithheld {
    #[serde(rename = "all-withheld")]
    AllWithheld,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggregatesPlan {
    #[serde(default)]
    pub refresh: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("invalid plan {origin}: {message}")]
pub struct PlanError {
    pub origin: String,
    pub message: String,
}

impl Plan {
    pub fn parse(text: &str, origin: &str) -> Result<Plan, PlanError> {
        toml::from_str(text).map_err(|e| PlanError {
            origin: origin.to_owned(),
            message: e.to_string(),
        })
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }

    pub fn is_empty(&self) -> bool {
        self == &Plan::default()
    }
}

/// One difference between what a plan wants and what an environment has.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// `users`, `batch_groups`, `email`, `system`, `batch_jobs`, `aggregates`.
    pub area: String,
    /// What changes: a user id, a group, a parameter, a job id, an aggregate.
    pub item: String,
    pub from: Option<String>,
    pub to: String,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.from {
            Some(from) => write!(f, "{} {}: {} -> {}", self.area, self.item, from, self.to),
            None => write!(f, "{} {}: {}", self.area, self.item, self.to),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_example() {
        let text = r#"
[users]
enable = ["alice@example.com", "u0042"]
[batch_groups]
EMEA = "UAT-BATCH-01"
[email]
smtp_relay_server = "smtp.uat.example.com"
smtp_port = 25
[system]
help_url = "https://help.uat.example.com"
[batch_jobs]
waiting = "all-withheld"
[aggregates]
refresh = ["sales_by_customer"]
"#;
        let plan = Plan::parse(text, "t").unwrap();
        assert_eq!(plan.users.enable.len(), 2);
        assert_eq!(
            plan.batch_jobs.waiting,
            Some(JobSelection::All(AllWithheld::AllWithheld))
        );
        assert_eq!(plan.email["smtp_port"], Value::Int(25));
        let again = Plan::parse(&plan.to_toml(), "t").unwrap();
        assert_eq!(again, plan);
    }

    #[test]
    fn job_ids_and_unknown_keys() {
        let plan = Plan::parse("[batch_jobs]\nwaiting = [1, 2]\n", "t").unwrap();
        assert_eq!(
            plan.batch_jobs.waiting,
            Some(JobSelection::Ids(vec![Value::Int(1), Value::Int(2)]))
        );
        assert!(Plan::parse("[userz]\n", "t").is_err());
        assert!(Plan::parse("[batch_jobs]\nwaiting = \"some\"\n", "t").is_err());
    }
}
