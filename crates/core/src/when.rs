//! Times as users type them and as dataalm stores them (RFC 3339, UTC).

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Duration, OffsetDateTime, PrimitiveDateTime};

pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// RFC 3339 in UTC, to the second: `2026-11-25T22:15:03Z`.
pub fn format(t: OffsetDateTime) -> String {
    let t = t
        .to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .unwrap_or(t);
    t.format(&Rfc3339).unwrap_or_else(|_| t.to_string())
}

#[derive(Debug, thiserror::Error)]
#[error(
    "malformed time `{input}`: expected RFC 3339 (2026-11-25T18:00:00Z), `YYYY-MM-DD HH:MM` (UTC), `now` or `now+2h`"
)]
pub struct TimeError {
    pub input: String,
}

/// Parses a time typed by a user: RFC 3339, `YYYY-MM-DD HH:MM[:SS]` or `YYYY-MM-DDTHH:MM[:SS]`
/// (UTC), `now`, or `now+N[smhd]`.
pub fn parse(input: &str, now: OffsetDateTime) -> Result<OffsetDateTime, TimeError> {
    let s = input.trim();
    let error = || TimeError {
        input: input.to_owned(),
    };
    if let Some(rest) = s.strip_prefix("now") {
        if rest.is_empty() {
            return Ok(now);
        }
        let rest = rest.strip_prefix('+').ok_or_else(error)?;
        let (number, unit) = rest.split_at(rest.len().saturating_sub(1));
        let n: i64 = number.parse().map_err(|_| error())?;
        let d = match unit {
            "s" => Duration::seconds(n),
            "m" => Duration::minutes(n),
            "h" => Duration::hours(n),
            "d" => Duration::days(n),
            _ => return Err(error()),
        };
        return Ok(now + d);
    }
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Ok(t);
    }
    let normalized = s.replacen('T', " ", 1);
    let with_seconds = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    let without_seconds = format_description!("[year]-[month]-[day] [hour]:[minute]");
    PrimitiveDateTime::parse(&normalized, with_seconds)
        .or_else(|_| PrimitiveDateTime::parse(&normalized, without_seconds))
        .map(PrimitiveDateTime::assume_utc)
        .map_err(|_| error())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn parses_the_forms_users_type() {
        let now = datetime!(2026-11-25 22:00 UTC);
        assert_eq!(parse("now", now).unwrap(), now);
        assert_eq!(
            parse("now+2h", now).unwrap(),
            datetime!(2026-11-26 00:00 UTC)
        );
        assert_eq!(
            parse("2026-11-25T18:00:00+01:00", now).unwrap(),
            datetime!(2026-11-25 17:00 UTC)
        );
        assert_eq!(
            parse("2026-11-25 18:30", now).unwrap(),
            datetime!(2026-11-25 18:30 UTC)
        );
        assert!(parse("2026-13-45 99:00", now).is_err());
        assert!(parse("tomorrow", now).is_err());
        assert_eq!(
            format(datetime!(2026-11-25 18:30:00.5 UTC)),
            "2026-11-25T18:30:00Z"
        );
    }
}
