//! Environments' time zones: IANA names (`Europe/Amsterdam`), and the instant a
//! wall-clock time means in one, daylight saving included. The tz database is bundled
//! (`jiff`), so every host reads a time the same way.

use time::{OffsetDateTime, PrimitiveDateTime};

/// The zone of an environment that has none set.
pub const DEFAULT: &str = "UTC";

/// Checks that `name` is a time zone the bundled database knows.
pub fn check(name: &str) -> Result<(), String> {
    jiff::tz::TimeZone::get(name).map(|_| ()).map_err(|_| {
        format!("unknown time zone `{name}`: use an IANA name such as `UTC` or `Europe/Amsterdam`")
    })
}

/// The instant the wall-clock time `local` means in zone `name`. A time that a
/// daylight-saving change skips or repeats is read as the clocks' "compatible" rule
/// does (as .NET and most calendars do): a skipped time moves forward by the gap, a
/// repeated one is its first occurrence.
pub fn to_utc(local: PrimitiveDateTime, name: &str) -> Result<OffsetDateTime, String> {
    let zone = jiff::tz::TimeZone::get(name).map_err(|_| format!("unknown time zone `{name}`"))?;
    let out_of_range = |e: jiff::Error| format!("{local} cannot be read in {name}: {e}");
    let civil = jiff::civil::DateTime::new(
        i16::try_from(local.year())
            .map_err(|_| format!("year {} is out of range", local.year()))?,
        // Month (1..=12), day, hour, minute and second always fit.
        u8::from(local.month()) as i8,
        local.day() as i8,
        local.hour() as i8,
        local.minute() as i8,
        local.second() as i8,
        local.nanosecond() as i32,
    )
    .map_err(out_of_range)?;
    let instant = zone.to_timestamp(civil).map_err(out_of_range)?;
    OffsetDateTime::from_unix_timestamp_nanos(instant.as_nanosecond())
        .map_err(|e| format!("{local} in {name} is out of range: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn amsterdam_is_one_hour_ahead_in_winter_and_two_in_summer() {
        let winter = to_utc(datetime!(2026-01-15 09:00), "Europe/Amsterdam").unwrap();
        assert_eq!(winter, datetime!(2026-01-15 08:00 UTC));
        let summer = to_utc(datetime!(2026-07-15 09:00), "Europe/Amsterdam").unwrap();
        assert_eq!(summer, datetime!(2026-07-15 07:00 UTC));
        // 02:30 on the last Sunday of March does not exist there: moved forward.
        let gap = to_utc(datetime!(2026-03-29 02:30), "Europe/Amsterdam").unwrap();
        assert_eq!(gap, datetime!(2026-03-29 01:30 UTC));
        assert_eq!(
            to_utc(datetime!(2026-07-15 09:00), "UTC").unwrap(),
            datetime!(2026-07-15 09:00 UTC)
        );
    }

    #[test]
    fn unknown_zones_are_refused() {
        assert!(check("Europe/Amsterdam").is_ok());
        assert!(check("UTC").is_ok());
        assert!(check("Mars/Olympus").unwrap_err().contains("Mars/Olympus"));
        assert!(to_utc(datetime!(2026-01-15 09:00), "Nowhere").is_err());
    }
}
