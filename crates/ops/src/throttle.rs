//! Throttles: an environment may limit how many operations start changes on it (a
//! refresh, later an import or export) in a rolling window, `dataalm env set ENV
//! --throttle 3/24h`. The rule is here, once; the control plane keeps the setting in the
//! environment's record and the operations' start times.

use crate::{Error, Result};
use dataalm_core::{Environment, Throttle};
use dataalm_store::Store;
use time::{Duration, OffsetDateTime};

/// Refuses to start another operation on `env` at `now` when its throttle's window
/// already holds its limit of them, saying when the next slot opens.
pub fn check(store: &Store, env: &Environment, now: OffsetDateTime) -> Result<()> {
    let Some(throttle) = env.settings.throttle else {
        return Ok(());
    };
    let starts = store.operation_starts(&env.name)?;
    match next_slot(throttle, &starts, now) {
        None => Ok(()),
        Some(opens_at) => Err(Error::Throttled {
            env: env.name.clone(),
            throttle,
            opens_at,
            wait_secs: u64::try_from((opens_at - now).whole_seconds())
                .unwrap_or(0)
                .max(1),
        }),
    }
}

/// When the next operation may start, if not now: once the oldest of the `limit` newest
/// starts inside the window leaves it.
fn next_slot(
    throttle: Throttle,
    starts: &[OffsetDateTime],
    now: OffsetDateTime,
) -> Option<OffsetDateTime> {
    let window = Duration::seconds(i64::try_from(throttle.window_secs).unwrap_or(i64::MAX / 2));
    let mut recent: Vec<OffsetDateTime> = starts
        .iter()
        .copied()
        .filter(|start| *start > now - window && *start <= now)
        .collect();
    let limit = usize::try_from(throttle.limit).unwrap_or(usize::MAX);
    if recent.len() < limit {
        return None;
    }
    recent.sort_unstable_by(|a, b| b.cmp(a));
    recent
        .get(limit - 1)
        .map(|oldest_counted| *oldest_counted + window)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn the_window_rolls() {
        let two_a_day = Throttle {
            limit: 2,
            window_secs: 86_400,
        };
        let now = datetime!(2026-12-06 12:00 UTC);
        let yesterday_morning = datetime!(2026-12-05 09:00 UTC);
        let this_morning = datetime!(2026-12-06 09:00 UTC);
        let an_hour_ago = datetime!(2026-12-06 11:00 UTC);
        assert_eq!(next_slot(two_a_day, &[], now), None);
        assert_eq!(
            next_slot(two_a_day, &[yesterday_morning, this_morning], now),
            None
        );
        assert_eq!(
            next_slot(
                two_a_day,
                &[yesterday_morning, this_morning, an_hour_ago],
                now
            ),
            Some(datetime!(2026-12-07 09:00 UTC))
        );
        let one_an_hour = Throttle {
            limit: 1,
            window_secs: 3600,
        };
        assert_eq!(
            next_slot(one_an_hour, &[an_hour_ago + Duration::minutes(30)], now),
            Some(datetime!(2026-12-06 12:30 UTC))
        );
    }
}
