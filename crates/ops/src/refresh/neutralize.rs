//! Step 5, Neutralize: make the staging copy unable to act as production: users disabled
//! but for the profile's keep list, batch jobs withheld, outgoing mail and endpoints off.
//! One transaction on the staging copy, so running it again is harmless.

use super::{Ends, Outcome, staging_db};
use crate::Result;
use dataalm_core::Operation;

pub(crate) fn run(ends: &Ends, op: &mut Operation) -> Result<Outcome> {
    let mut staging = staging_db(ends, op)?;
    let profile = staging.profile.clone();
    let done = dataalm_app::neutralize::neutralize(staging.db(), &profile)?;
    let detail = if done.is_empty() {
        "profile neutralizes nothing".to_owned()
    } else {
        done.iter()
            .map(|(what, how)| format!("{what}: {how}"))
            .collect::<Vec<_>>()
            .join("; ")
    };
    Ok(Outcome::said(detail))
}
