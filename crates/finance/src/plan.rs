//! The reconfiguration plan of a UAT environment for the demo: after a refresh from
//! production, let the named users in, point every batch group at the UAT batch server,
//! mail through the UAT relay, show the UAT help site, resume the withheld batch jobs and
//! rebuild the entity store.

use crate::Role;
use crate::settings::{self, BATCH_GROUPS};
use crate::system::NAMED_USERS;
use dataalm_core::Plan;
use dataalm_core::Value;
use dataalm_core::plan::{AggregatesPlan, AllWithheld, JobSelection, JobsPlan, UsersPlan};

/// How many of the named users the demo lets in.
const DEMO_USERS: usize = 5;

/// The server every batch group runs on in UAT.
const UAT_BATCH_SERVER: &str = "UAT-BATCH-01";

/// The demo's plan for a UAT environment of the finance sample. The users it enables
/// exist in every sample, whatever its size and seed.
///
/// ```
/// let plan = dataalm_finance::demo_plan();
/// assert!(plan.users.enable.contains(&"alice@contoso.com".to_owned()));
/// ```
pub fn demo_plan() -> Plan {
    let uat = settings::for_role(Role::Uat);
    Plan {
        users: UsersPlan {
            enable: NAMED_USERS
                .iter()
                .take(DEMO_USERS)
                .map(|(_, _, email)| (*email).to_owned())
                .collect(),
        },
        batch_groups: BATCH_GROUPS
            .iter()
            .map(|(group, _)| ((*group).to_owned(), UAT_BATCH_SERVER.to_owned()))
            .collect(),
        email: [(
            "smtp_relay_server".to_owned(),
            Value::from(uat.smtp_relay_server),
        )]
        .into(),
        system: [("help_url".to_owned(), Value::from(uat.help_url))].into(),
        batch_jobs: JobsPlan {
            waiting: Some(JobSelection::All(AllWithheld::AllWithheld)),
        },
        aggregates: AggregatesPlan {
            refresh: vec!["sales_by_customer".to_owned()],
        },
    }
}

/// [`demo_plan`] as TOML, as a user would write it in a plan file.
pub fn demo_plan_toml() -> String {
    demo_plan().to_toml()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_round_trips_through_toml() {
        let text = demo_plan_toml();
        let parsed = Plan::parse(&text, "demo").unwrap();
        assert_eq!(parsed, demo_plan());
        assert!(text.contains("UAT-BATCH-01"), "{text}");
        assert!(text.contains("all-withheld"), "{text}");
    }

    #[test]
    fn the_plan_uses_servers_that_uat_has() {
        let uat = settings::for_role(Role::Uat);
        for server in demo_plan().batch_groups.values() {
            assert!(
                uat.servers.iter().any(|(id, _, _)| id == server),
                "{server}"
            );
        }
    }
}
