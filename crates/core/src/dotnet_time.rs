//! Date-times as .NET clients send them.
//!
//! The ERP's `AddMessage` service takes `{"request":{"FromDateTime":...,"ToDateTime":...}}`,
//! and its clients are .NET programs: Json.NET (Newtonsoft), `System.Text.Json`, the old
//! `DataContractJsonSerializer`, or hand-written `DateTime.ToString("o")`. Between them they
//! write a `DateTime` in these forms, all of which [`parse`] accepts and turns into UTC:
//!
//! | Form | Example | Instant |
//! |------|---------|---------|
//! | ISO 8601, UTC | `2026-11-26T08:30:00Z`, `2026-11-26T08:30:00.1234567Z` | as written (`z` also accepted) |
//! | ISO 8601, offset | `2026-11-26T08:30:00+01:00`, `2026-11-26T08:30:00.5-05:00` | converted to UTC |
//! | ISO 8601, no zone | `2026-11-26T08:30:00`, `2026-11-26T08:30:00.123` | **taken as UTC**, or in the zone given to [`parse_in`] |
//! | date only | `2026-11-26` | **midnight UTC** (or in that zone) |
//! | Microsoft JSON date | `/Date(1764145800000)/`, `/Date(-1000)/` | milliseconds since 1970-01-01T00:00:00Z |
//! | Microsoft JSON date, offset | `/Date(1764145800000+0100)/`, `/Date(1764145800000-0530)/` | the same; the offset is ignored |
//!
//! Details of each form:
//!
//! - **Fractions.** .NET keeps 100-nanosecond ticks, so it writes at most 7 fraction digits
//!   (`"o"` always writes 7; Json.NET drops trailing zeros and may write none). 0 to 7 digits
//!   are accepted; 8 or more are rejected rather than silently rounded.
//! - **No zone means UTC, or the environment's zone.** A `DateTime` of kind `Unspecified`
//!   (or `Local`, when the client strips the offset) is written without a zone. Such a value
//!   is read in the zone the environment is set to ([`parse_in`], `dataalm env set
//!   --time-zone`), UTC by default: never the server's own zone, which would make the same
//!   request mean different instants on different hosts.
//! - **Date only.** Some serializers write `DateTime.Date` as `yyyy-MM-dd`; it means
//!   midnight UTC of that day, by the same rule.
//! - **Offsets** are written `±HH:MM` and, as in .NET's `DateTimeOffset`, lie between
//!   `-14:00` and `+14:00`.
//! - **Microsoft JSON dates.** The number is UTC milliseconds since the Unix epoch (it may be
//!   negative). The optional `±HHMM` suffix only records the writer's local zone and does
//!   not change the instant, exactly as in .NET. JSON writers escape the slashes
//!   (`"\/Date(...)\/"`); after JSON decoding the text is `/Date(...)/`, but the escaped
//!   form is accepted as well in case it arrives still escaped.
//! - **Range.** Results must lie within .NET's `DateTime` range,
//!   `0001-01-01T00:00:00Z` to `9999-12-31T23:59:59.9999999Z`.
//! - Surrounding whitespace is ignored; anything else (a space instead of `T`, `24:00:00`,
//!   leap second `:60`, offsets without a colon, ...) is rejected with a message that names
//!   the input, says what is wrong and lists the accepted forms.
//!
//! The ISO forms are split by a small strict lexer and validated with the `time` crate's
//! constructors rather than its `Rfc3339`/`Iso8601` parsers: `Rfc3339` requires an offset and
//! takes any number of fraction digits, and `Iso8601` also takes week dates, ordinal dates
//! and the basic format, none of which .NET writes; both report errors without saying which
//! field is wrong. The tests check that, where `Rfc3339` applies, both agree.
//!
//! ```
//! use dataalm_core::dotnet_time;
//! let t = dotnet_time::parse("/Date(1764145800000+0100)/").unwrap();
//! assert_eq!(t, dotnet_time::parse("2025-11-26T09:30:00+01:00").unwrap());
//! assert_eq!(t.unix_timestamp(), 1_764_145_800);
//! ```

use time::macros::datetime;
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// Every accepted form, shown in error messages.
const ACCEPTED_FORMS: &str = "accepted forms are ISO 8601 `2026-11-26T08:30:00Z` with 0 to 7 \
     fraction digits (`2026-11-26T08:30:00.1234567Z`), with an offset \
     (`2026-11-26T08:30:00+01:00`) or with no zone (taken as UTC), a date `2026-11-26` \
     (midnight UTC), and Microsoft JSON dates `/Date(1764145800000)/` or \
     `/Date(1764145800000+0100)/` (also `\\/Date(...)\\/`)";

/// The earliest instant .NET's `DateTime` can hold.
const MIN: OffsetDateTime = datetime!(0001-01-01 00:00:00 UTC);
/// The latest instant .NET's `DateTime` can hold (`DateTime.MaxValue`).
const MAX: OffsetDateTime = datetime!(9999-12-31 23:59:59.9999999 UTC);

/// The largest offset .NET's `DateTimeOffset` allows, in minutes (14 hours).
const MAX_OFFSET_MINUTES: u32 = 14 * 60;

/// Inputs longer than this are shortened in error messages.
const MAX_SHOWN_CHARS: usize = 80;

/// Why a text is not a .NET date-time. Every message names the (trimmed) input and lists
/// the accepted forms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DotnetTimeError {
    /// The text is empty or only whitespace.
    #[error("the date-time is empty; {forms}", forms = ACCEPTED_FORMS)]
    Empty,
    /// The text has none of the accepted shapes.
    #[error("`{input}` is not a date-time in any form .NET writes; {forms}", forms = ACCEPTED_FORMS)]
    Unrecognised { input: String },
    /// The text has an ISO shape, but a field is out of range (month 13, 30 February,
    /// hour 24, a missing fraction after `.`, ...).
    #[error("`{input}` is not a valid date-time: {reason}; {forms}", forms = ACCEPTED_FORMS)]
    InvalidDateTime { input: String, reason: String },
    /// More fraction digits than .NET's 100-nanosecond ticks can hold.
    #[error(
        "`{input}` has {digits} fraction digits, but .NET writes at most 7 \
         (100-nanosecond ticks); {forms}",
        forms = ACCEPTED_FORMS
    )]
    TooManyFractionDigits { input: String, digits: usize },
    /// The UTC offset is malformed or beyond ±14:00 (ISO `±HH:MM` or JSON-date `±HHMM`).
    #[error("`{input}` has an invalid UTC offset: {reason}; {forms}", forms = ACCEPTED_FORMS)]
    InvalidOffset { input: String, reason: String },
    /// The instant lies outside .NET's `DateTime` range.
    #[error(
        "`{input}` is outside .NET's DateTime range, 0001-01-01T00:00:00Z to \
         9999-12-31T23:59:59.9999999Z; {forms}",
        forms = ACCEPTED_FORMS
    )]
    OutOfRange { input: String },
    /// The text starts a Microsoft JSON date, `/Date(`, but does not end with `)/`.
    #[error(
        "`{input}` starts a Microsoft JSON date with `/Date(` but does not end with `)/`; {forms}",
        forms = ACCEPTED_FORMS
    )]
    UnclosedJsonDate { input: String },
    /// The inside of `/Date(...)/` is not `[-]milliseconds[±HHMM]`.
    #[error("`{input}` is not a valid Microsoft JSON date: {reason}; {forms}", forms = ACCEPTED_FORMS)]
    InvalidJsonDate { input: String, reason: String },
    /// A time without an offset that cannot be read in the environment's zone.
    #[error("`{input}`: {reason}")]
    Zone { input: String, reason: String },
}

/// Parses one .NET date-time into UTC.
///
/// See the [module documentation](crate::dotnet_time) for the accepted forms. Surrounding whitespace is
/// trimmed; text without a zone is taken as UTC; the offset of a `/Date(ms±HHMM)/` does not
/// change the instant.
///
/// ```
/// use dataalm_core::dotnet_time::parse;
/// use time::macros::datetime;
/// assert_eq!(parse("2026-11-26T08:30:00.1234567Z").unwrap(), datetime!(2026-11-26 08:30:00.1234567 UTC));
/// assert_eq!(parse("2026-11-26T08:30:00+01:00").unwrap(), datetime!(2026-11-26 07:30 UTC));
/// assert_eq!(parse("2026-11-26").unwrap(), datetime!(2026-11-26 00:00 UTC));
/// assert!(parse("2026-02-30T00:00:00Z").is_err());
/// ```
pub fn parse(text: &str) -> Result<OffsetDateTime, DotnetTimeError> {
    parse_in(text, crate::zone::DEFAULT)
}

/// Parses one .NET date-time into UTC, reading a time without an offset (and a date
/// alone) as a wall-clock time in the IANA zone `zone`, daylight saving included. Times
/// with an offset or `Z`, and Microsoft JSON dates, are instants whatever the zone.
///
/// ```
/// use dataalm_core::dotnet_time::parse_in;
/// use time::macros::datetime;
/// let summer = parse_in("2026-07-01T09:00:00", "Europe/Amsterdam").unwrap();
/// assert_eq!(summer, datetime!(2026-07-01 07:00 UTC));
/// assert_eq!(parse_in("2026-07-01T09:00:00Z", "Europe/Amsterdam").unwrap(), datetime!(2026-07-01 09:00 UTC));
/// ```
pub fn parse_in(text: &str, zone: &str) -> Result<OffsetDateTime, DotnetTimeError> {
    let s = text.trim();
    if s.is_empty() {
        return Err(DotnetTimeError::Empty);
    }
    let result = if let Some(body) = s
        .strip_prefix("/Date(")
        .or_else(|| s.strip_prefix("\\/Date("))
    {
        parse_json_date(body)
    } else {
        parse_iso(s).and_then(|parsed| match parsed {
            Iso::Instant(instant) => Ok(instant),
            Iso::Local(local) => crate::zone::to_utc(local, zone).map_err(Problem::Zone),
        })
    };
    let instant = result.map_err(|problem| problem.into_error(s))?;
    if instant < MIN || instant > MAX {
        return Err(DotnetTimeError::OutOfRange { input: shown(s) });
    }
    instant
        .checked_to_offset(UtcOffset::UTC)
        .ok_or_else(|| DotnetTimeError::OutOfRange { input: shown(s) })
}

/// What is wrong, before the input is attached.
enum Problem {
    Unrecognised,
    DateTime(String),
    FractionDigits(usize),
    Offset(String),
    OutOfRange,
    Unclosed,
    JsonDate(String),
    Zone(String),
}

impl Problem {
    fn into_error(self, s: &str) -> DotnetTimeError {
        let input = shown(s);
        match self {
            Problem::Unrecognised => DotnetTimeError::Unrecognised { input },
            Problem::DateTime(reason) => DotnetTimeError::InvalidDateTime { input, reason },
            Problem::FractionDigits(digits) => {
                DotnetTimeError::TooManyFractionDigits { input, digits }
            }
            Problem::Offset(reason) => DotnetTimeError::InvalidOffset { input, reason },
            Problem::OutOfRange => DotnetTimeError::OutOfRange { input },
            Problem::Unclosed => DotnetTimeError::UnclosedJsonDate { input },
            Problem::JsonDate(reason) => DotnetTimeError::InvalidJsonDate { input, reason },
            Problem::Zone(reason) => DotnetTimeError::Zone { input, reason },
        }
    }
}

/// The input as shown in messages: trimmed, and shortened if very long.
fn shown(s: &str) -> String {
    if s.chars().count() <= MAX_SHOWN_CHARS {
        s.to_owned()
    } else {
        let mut short: String = s.chars().take(MAX_SHOWN_CHARS).collect();
        short.push('…');
        short
    }
}

/// The value of `bytes` if they are all ASCII digits (and there is at least one).
fn digits(bytes: &[u8]) -> Option<u32> {
    if bytes.is_empty() || bytes.len() > 9 || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(bytes.iter().fold(0, |n, b| n * 10 + u32::from(b - b'0')))
}

/// Whether `bytes` matches `pattern`, where `d` stands for an ASCII digit and any other
/// byte for itself.
fn has_shape(bytes: &[u8], pattern: &str) -> bool {
    bytes.len() == pattern.len()
        && bytes.iter().zip(pattern.bytes()).all(|(&b, p)| {
            if p == b'd' {
                b.is_ascii_digit()
            } else {
                b == p
            }
        })
}

/// An ISO date-time: an instant when it has a zone, else a wall-clock time.
enum Iso {
    Instant(OffsetDateTime),
    Local(PrimitiveDateTime),
}

/// `YYYY-MM-DD[(T|t)hh:mm:ss[.f{1,7}][Z|z|±HH:MM]]`.
fn parse_iso(s: &str) -> Result<Iso, Problem> {
    let b = s.as_bytes();
    let (date_bytes, rest) = b.split_at_checked(10).ok_or(Problem::Unrecognised)?;
    if !has_shape(date_bytes, "dddd-dd-dd") {
        return Err(Problem::Unrecognised);
    }
    let date = iso_date(date_bytes)?;
    let Some((&separator, rest)) = rest.split_first() else {
        return Ok(Iso::Local(PrimitiveDateTime::new(date, Time::MIDNIGHT)));
    };
    if separator != b'T' && separator != b't' {
        return Err(Problem::Unrecognised);
    }
    let (time_bytes, mut rest) = rest.split_at_checked(8).ok_or(Problem::Unrecognised)?;
    if !has_shape(time_bytes, "dd:dd:dd") {
        return Err(Problem::Unrecognised);
    }
    let mut nanosecond = 0;
    if let Some(after_dot) = rest.strip_prefix(b".") {
        let count = after_dot.iter().take_while(|b| b.is_ascii_digit()).count();
        if count == 0 {
            return Err(Problem::DateTime(
                "a `.` after the seconds must be followed by 1 to 7 fraction digits".to_owned(),
            ));
        }
        if count > 7 {
            return Err(Problem::FractionDigits(count));
        }
        let (fraction, after) = after_dot.split_at(count);
        let value = digits(fraction).ok_or(Problem::Unrecognised)?;
        nanosecond = value * 10u32.pow(9 - count as u32);
        rest = after;
    }
    let time = iso_time(time_bytes, nanosecond)?;
    let offset = match rest {
        b"" => return Ok(Iso::Local(PrimitiveDateTime::new(date, time))),
        b"Z" | b"z" => UtcOffset::UTC,
        [sign @ (b'+' | b'-'), offset @ ..] => {
            if !has_shape(offset, "dd:dd") {
                return Err(Problem::Offset(
                    "an offset must be written `+HH:MM` or `-HH:MM`, e.g. `+01:00`".to_owned(),
                ));
            }
            utc_offset(*sign, &offset[0..2], &offset[3..5])?
        }
        _ => return Err(Problem::Unrecognised),
    };
    Ok(Iso::Instant(
        PrimitiveDateTime::new(date, time).assume_offset(offset),
    ))
}

/// `YYYY-MM-DD`, already known to have that shape.
fn iso_date(b: &[u8]) -> Result<Date, Problem> {
    let bad = |reason: String| Problem::DateTime(reason);
    let year = digits(&b[0..4]).ok_or(Problem::Unrecognised)?;
    let month_number = digits(&b[5..7]).ok_or(Problem::Unrecognised)?;
    let day = digits(&b[8..10]).ok_or(Problem::Unrecognised)?;
    if year == 0 {
        return Err(bad(
            "year 0000 does not exist in .NET (years run from 0001 to 9999)".to_owned(),
        ));
    }
    let month = u8::try_from(month_number)
        .ok()
        .and_then(|m| Month::try_from(m).ok())
        .ok_or_else(|| bad(format!("month {month_number:02} is not between 01 and 12")))?;
    // Four digits and nonzero, so the year is 1..=9999.
    let year = i32::try_from(year).map_err(|_| Problem::OutOfRange)?;
    let last_day = time::util::days_in_month(month, year);
    u8::try_from(day)
        .ok()
        .filter(|d| (1..=last_day).contains(d))
        .and_then(|d| Date::from_calendar_date(year, month, d).ok())
        .ok_or_else(|| {
            bad(format!(
                "day {day:02} does not exist in {month} {year:04}, which has {last_day} days"
            ))
        })
}

/// `hh:mm:ss`, already known to have that shape, plus the parsed fraction.
fn iso_time(b: &[u8], nanosecond: u32) -> Result<Time, Problem> {
    let field = |range: std::ops::Range<usize>, name: &str, max: u32| {
        let value = digits(&b[range]).ok_or(Problem::Unrecognised)?;
        if value > max {
            let note = if name == "second" {
                " (.NET has no leap seconds)"
            } else {
                ""
            };
            return Err(Problem::DateTime(format!(
                "{name} {value:02} is not between 00 and {max:02}{note}"
            )));
        }
        u8::try_from(value).map_err(|_| Problem::Unrecognised)
    };
    let hour = field(0..2, "hour", 23)?;
    let minute = field(3..5, "minute", 59)?;
    let second = field(6..8, "second", 59)?;
    Time::from_hms_nano(hour, minute, second, nanosecond)
        .map_err(|e| Problem::DateTime(e.to_string()))
}

/// An offset from its sign and two-digit hours and minutes, within .NET's ±14:00.
fn utc_offset(sign: u8, hours: &[u8], minutes: &[u8]) -> Result<UtcOffset, Problem> {
    let shape = || Problem::Offset("hours and minutes must be two digits each".to_owned());
    let h = digits(hours).ok_or_else(shape)?;
    let m = digits(minutes).ok_or_else(shape)?;
    let sign_char = char::from(sign);
    if m > 59 {
        return Err(Problem::Offset(format!(
            "{sign_char}{h:02}:{m:02} has minutes {m:02}, which is not between 00 and 59"
        )));
    }
    if h * 60 + m > MAX_OFFSET_MINUTES {
        return Err(Problem::Offset(format!(
            "{sign_char}{h:02}:{m:02} is beyond ±14:00, the largest offset .NET allows"
        )));
    }
    let (h, m) = match (i8::try_from(h), i8::try_from(m)) {
        (Ok(h), Ok(m)) => (h, m),
        _ => return Err(shape()),
    };
    let (h, m) = if sign == b'-' { (-h, -m) } else { (h, m) };
    UtcOffset::from_hms(h, m, 0).map_err(|e| Problem::Offset(e.to_string()))
}

/// The text after `/Date(`: `[-]milliseconds[±HHMM])/` (or `)\/`).
fn parse_json_date(body: &str) -> Result<OffsetDateTime, Problem> {
    let inner = body
        .strip_suffix(")/")
        .or_else(|| body.strip_suffix(")\\/"))
        .ok_or(Problem::Unclosed)?;
    let bad = |reason: String| Problem::JsonDate(reason);
    // The millisecond count may start with `-`; an offset sign comes after the first digit.
    let split = inner
        .char_indices()
        .skip(1)
        .find(|&(_, c)| c == '+' || c == '-')
        .map_or(inner.len(), |(i, _)| i);
    let (millis_text, offset_text) = inner.split_at(split);
    if millis_text.is_empty() {
        return Err(bad(
            "there are no milliseconds between `/Date(` and `)/`".to_owned()
        ));
    }
    let unsigned = millis_text.strip_prefix('-').unwrap_or(millis_text);
    if unsigned.is_empty() || !unsigned.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(format!(
            "`{millis_text}` is not a whole number of milliseconds since 1970-01-01T00:00:00Z"
        )));
    }
    if let Some((&sign, offset)) = offset_text.as_bytes().split_first() {
        if !has_shape(offset, "dddd") {
            return Err(Problem::Offset(format!(
                "`{offset_text}` must be four digits after the sign, `+HHMM` or `-HHMM`, \
                 e.g. `+0100`"
            )));
        }
        // Validated but otherwise ignored: it names the writer's zone, not the instant.
        utc_offset(sign, &offset[0..2], &offset[2..4])?;
    }
    let millis: i64 = millis_text.parse().map_err(|_| Problem::OutOfRange)?;
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .map_err(|_| Problem::OutOfRange)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::format_description::well_known::Rfc3339;

    fn ok(text: &str) -> OffsetDateTime {
        match parse(text) {
            Ok(t) => {
                assert_eq!(t.offset(), UtcOffset::UTC, "{text} must come back in UTC");
                t
            }
            Err(e) => panic!("{text:?} should parse: {e}"),
        }
    }

    fn err(text: &str) -> DotnetTimeError {
        match parse(text) {
            Ok(t) => panic!("{text:?} should be rejected, got {t}"),
            Err(e) => e,
        }
    }

    /// Every message lists the accepted forms.
    fn assert_lists_forms(e: &DotnetTimeError) {
        let message = e.to_string();
        assert!(message.contains(ACCEPTED_FORMS), "{message}");
    }

    #[test]
    fn the_reference_instants_are_what_the_tests_assume() {
        // `date -u -d @1764145800` prints Wed Nov 26 08:30:00 UTC 2025.
        assert_eq!(
            datetime!(2025-11-26 08:30 UTC).unix_timestamp(),
            1_764_145_800
        );
        // `date -u -d 2026-11-26T08:30:00Z +%s` prints 1795681800.
        assert_eq!(
            datetime!(2026-11-26 08:30 UTC).unix_timestamp(),
            1_795_681_800
        );
    }

    #[test]
    fn iso_with_z() {
        assert_eq!(ok("2026-11-26T08:30:00Z"), datetime!(2026-11-26 08:30 UTC));
        assert_eq!(ok("2026-11-26T08:30:00z"), datetime!(2026-11-26 08:30 UTC));
        assert_eq!(ok("2026-11-26t08:30:00Z"), datetime!(2026-11-26 08:30 UTC));
        assert_eq!(ok("2026-11-26T08:30:00Z").unix_timestamp(), 1_795_681_800);
    }

    #[test]
    fn fraction_digits_zero_to_seven() {
        let cases: [(&str, u32); 8] = [
            ("2026-11-26T08:30:00Z", 0),
            ("2026-11-26T08:30:00.1Z", 100_000_000),
            ("2026-11-26T08:30:00.12Z", 120_000_000),
            ("2026-11-26T08:30:00.123Z", 123_000_000),
            ("2026-11-26T08:30:00.1234Z", 123_400_000),
            ("2026-11-26T08:30:00.12345Z", 123_450_000),
            ("2026-11-26T08:30:00.123456Z", 123_456_000),
            ("2026-11-26T08:30:00.1234567Z", 123_456_700),
        ];
        for (text, nanos) in cases {
            let t = ok(text);
            assert_eq!(t.nanosecond(), nanos, "{text}");
            assert_eq!(t.replace_nanosecond(0), Ok(datetime!(2026-11-26 08:30 UTC)));
        }
        assert_eq!(ok("2026-11-26T08:30:00.0000001Z").nanosecond(), 100);
        assert_eq!(ok("2026-11-26T08:30:00.9999999Z").nanosecond(), 999_999_900);
        assert_eq!(ok("2026-11-26T08:30:00.0000000Z").nanosecond(), 0);
        assert_eq!(ok("2026-11-26T08:30:00.05").nanosecond(), 50_000_000);
    }

    #[test]
    fn offsets_convert_to_utc() {
        assert_eq!(
            ok("2026-11-26T08:30:00+01:00"),
            datetime!(2026-11-26 07:30 UTC)
        );
        assert_eq!(
            ok("2026-11-26T08:30:00-05:00"),
            datetime!(2026-11-26 13:30 UTC)
        );
        assert_eq!(
            ok("2026-11-26T08:30:00+05:30"),
            datetime!(2026-11-26 03:00 UTC)
        );
        assert_eq!(
            ok("2026-11-26T08:30:00+00:00"),
            datetime!(2026-11-26 08:30 UTC)
        );
        assert_eq!(
            ok("2026-11-26T08:30:00-00:00"),
            datetime!(2026-11-26 08:30 UTC)
        );
        assert_eq!(
            ok("2026-11-26T08:30:00+14:00"),
            datetime!(2026-11-25 18:30 UTC)
        );
        assert_eq!(
            ok("2026-11-26T08:30:00-14:00"),
            datetime!(2026-11-26 22:30 UTC)
        );
        assert_eq!(
            ok("2026-11-26T08:30:00.1234567+01:00"),
            datetime!(2026-11-26 07:30:00.1234567 UTC)
        );
        assert_eq!(
            ok("2026-11-26T08:30:00.5-05:00"),
            datetime!(2026-11-26 13:30:00.5 UTC)
        );
        // Crossing a day and a year boundary.
        assert_eq!(
            ok("2026-01-01T00:30:00+01:00"),
            datetime!(2025-12-31 23:30 UTC)
        );
        assert_eq!(
            ok("2025-12-31T23:30:00-01:00"),
            datetime!(2026-01-01 00:30 UTC)
        );
    }

    #[test]
    fn agrees_with_rfc3339_where_it_applies() {
        for text in [
            "2026-11-26T08:30:00Z",
            "2026-11-26T08:30:00.1234567Z",
            "2026-11-26T08:30:00.12+01:00",
            "2026-11-26T08:30:00-05:00",
            "2024-02-29T23:59:59.9999999-09:30",
        ] {
            let reference = OffsetDateTime::parse(text, &Rfc3339).expect("valid RFC 3339");
            assert_eq!(ok(text), reference, "{text}");
        }
    }

    #[test]
    fn no_zone_is_utc() {
        assert_eq!(ok("2026-11-26T08:30:00"), datetime!(2026-11-26 08:30 UTC));
        assert_eq!(
            ok("2026-11-26T08:30:00.1234567"),
            datetime!(2026-11-26 08:30:00.1234567 UTC)
        );
        assert_eq!(
            ok("2026-11-26T08:30:00.123"),
            datetime!(2026-11-26 08:30:00.123 UTC)
        );
    }

    #[test]
    fn date_only_is_midnight_utc() {
        assert_eq!(ok("2026-11-26"), datetime!(2026-11-26 00:00 UTC));
        assert_eq!(ok("2024-02-29"), datetime!(2024-02-29 00:00 UTC));
    }

    #[test]
    fn microsoft_json_dates() {
        assert_eq!(ok("/Date(1764145800000)/"), datetime!(2025-11-26 08:30 UTC));
        assert_eq!(ok("/Date(0)/"), datetime!(1970-01-01 00:00 UTC));
        assert_eq!(ok("/Date(-0)/"), datetime!(1970-01-01 00:00 UTC));
        assert_eq!(ok("/Date(-1000)/"), datetime!(1969-12-31 23:59:59 UTC));
        assert_eq!(ok("/Date(-1)/"), datetime!(1969-12-31 23:59:59.999 UTC));
        assert_eq!(
            ok("/Date(1764145800123)/"),
            datetime!(2025-11-26 08:30:00.123 UTC)
        );
        // .NET's DateTime.MinValue and the last millisecond of DateTime.MaxValue.
        assert_eq!(
            ok("/Date(-62135596800000)/"),
            datetime!(0001-01-01 00:00 UTC)
        );
        assert_eq!(
            ok("/Date(253402300799999)/"),
            datetime!(9999-12-31 23:59:59.999 UTC)
        );
    }

    #[test]
    fn microsoft_json_date_offsets_do_not_change_the_instant() {
        let instant = datetime!(2025-11-26 08:30 UTC);
        assert_eq!(ok("/Date(1764145800000+0100)/"), instant);
        assert_eq!(ok("/Date(1764145800000-0530)/"), instant);
        assert_eq!(ok("/Date(1764145800000+0000)/"), instant);
        assert_eq!(ok("/Date(1764145800000+1400)/"), instant);
        assert_eq!(ok("/Date(-1000-0500)/"), datetime!(1969-12-31 23:59:59 UTC));
    }

    #[test]
    fn escaped_microsoft_json_dates() {
        let instant = datetime!(2025-11-26 08:30 UTC);
        assert_eq!(ok("\\/Date(1764145800000)\\/"), instant);
        assert_eq!(ok("\\/Date(1764145800000+0100)\\/"), instant);
        assert_eq!(ok("\\/Date(-1000)\\/"), datetime!(1969-12-31 23:59:59 UTC));
    }

    #[test]
    fn from_json_request() {
        // The escaped form decodes to `/Date(...)/` through serde_json.
        let body = r#"{"request":{"FromDateTime":"\/Date(1764145800000+0100)\/","ToDateTime":"2026-11-26T08:30:00.1234567+01:00"}}"#;
        let value: serde_json::Value = serde_json::from_str(body).expect("valid JSON");
        let from = value["request"]["FromDateTime"].as_str().expect("a string");
        let to = value["request"]["ToDateTime"].as_str().expect("a string");
        assert_eq!(from, "/Date(1764145800000+0100)/");
        assert_eq!(ok(from), datetime!(2025-11-26 08:30 UTC));
        assert_eq!(ok(to), datetime!(2026-11-26 07:30:00.1234567 UTC));
    }

    #[test]
    fn whitespace_is_trimmed() {
        assert_eq!(
            ok("  2026-11-26T08:30:00Z\n"),
            datetime!(2026-11-26 08:30 UTC)
        );
        assert_eq!(
            ok("\t/Date(1764145800000)/ "),
            datetime!(2025-11-26 08:30 UTC)
        );
        assert_eq!(ok(" 2026-11-26 "), datetime!(2026-11-26 00:00 UTC));
    }

    #[test]
    fn range_limits() {
        assert_eq!(ok("0001-01-01T00:00:00Z"), MIN);
        assert_eq!(ok("9999-12-31T23:59:59.9999999Z"), MAX);
        assert_eq!(
            ok("0001-01-01T00:00:00-01:00"),
            datetime!(0001-01-01 01:00 UTC)
        );
    }

    #[test]
    fn rejects_empty() {
        for text in ["", "   ", "\n\t"] {
            let e = err(text);
            assert_eq!(e, DotnetTimeError::Empty);
            assert_lists_forms(&e);
        }
    }

    #[test]
    fn rejects_invalid_dates_in_words() {
        let e = err("2026-02-30T00:00:00Z");
        assert_eq!(
            e,
            DotnetTimeError::InvalidDateTime {
                input: "2026-02-30T00:00:00Z".to_owned(),
                reason: "day 30 does not exist in February 2026, which has 28 days".to_owned(),
            }
        );
        assert!(e.to_string().starts_with(
            "`2026-02-30T00:00:00Z` is not a valid date-time: day 30 does not exist in February"
        ));
        assert_lists_forms(&e);
        for (text, reason) in [
            ("2026-02-29", "day 29 does not exist in February 2026"),
            ("2026-04-31T00:00:00", "day 31 does not exist in April 2026"),
            (
                "2026-11-00T00:00:00Z",
                "day 00 does not exist in November 2026",
            ),
            ("2026-13-01T00:00:00Z", "month 13 is not between 01 and 12"),
            ("2026-00-01", "month 00 is not between 01 and 12"),
            ("0000-01-01T00:00:00Z", "year 0000 does not exist in .NET"),
            ("2026-11-26T24:00:00Z", "hour 24 is not between 00 and 23"),
            ("2026-11-26T08:60:00Z", "minute 60 is not between 00 and 59"),
            (
                "2026-11-26T08:30:60Z",
                "second 60 is not between 00 and 59 (.NET has no leap",
            ),
            (
                "2026-11-26T08:30:00.Z",
                "a `.` after the seconds must be followed by 1 to 7",
            ),
            (
                "2026-11-26T08:30:00.",
                "a `.` after the seconds must be followed by 1 to 7",
            ),
        ] {
            match err(text) {
                DotnetTimeError::InvalidDateTime { input, reason: r } => {
                    assert_eq!(input, text);
                    assert!(r.starts_with(reason), "{text}: {r}");
                }
                other => panic!("{text}: unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn rejects_eight_or_more_fraction_digits() {
        for (text, digits) in [
            ("2026-11-26T08:30:00.12345678Z", 8),
            ("2026-11-26T08:30:00.123456789+01:00", 9),
            ("2026-11-26T08:30:00.1234567890123", 13),
        ] {
            let e = err(text);
            assert_eq!(
                e,
                DotnetTimeError::TooManyFractionDigits {
                    input: text.to_owned(),
                    digits
                }
            );
            assert!(e.to_string().contains("at most 7"), "{e}");
            assert_lists_forms(&e);
        }
    }

    #[test]
    fn rejects_bad_offsets() {
        for (text, reason) in [
            ("2026-11-26T08:30:00+25:00", "+25:00 is beyond ±14:00"),
            ("2026-11-26T08:30:00+14:01", "+14:01 is beyond ±14:00"),
            ("2026-11-26T08:30:00-15:00", "-15:00 is beyond ±14:00"),
            ("2026-11-26T08:30:00+01:60", "+01:60 has minutes 60"),
            (
                "2026-11-26T08:30:00+0100",
                "an offset must be written `+HH:MM`",
            ),
            (
                "2026-11-26T08:30:00+01",
                "an offset must be written `+HH:MM`",
            ),
            (
                "2026-11-26T08:30:00+1:00",
                "an offset must be written `+HH:MM`",
            ),
            (
                "2026-11-26T08:30:00+01:00Z",
                "an offset must be written `+HH:MM`",
            ),
            ("/Date(1764145800000+2500)/", "+25:00 is beyond ±14:00"),
            ("/Date(1764145800000-0560)/", "-05:60 has minutes 60"),
            ("/Date(1764145800000+01)/", "`+01` must be four digits"),
            (
                "/Date(1764145800000+01:00)/",
                "`+01:00` must be four digits",
            ),
            (
                "/Date(1764145800000+0100+0100)/",
                "`+0100+0100` must be four digits",
            ),
        ] {
            let e = err(text);
            match &e {
                DotnetTimeError::InvalidOffset { input, reason: r } => {
                    assert_eq!(input, text);
                    assert!(r.starts_with(reason), "{text}: {r}");
                }
                other => panic!("{text}: unexpected {other:?}"),
            }
            assert_lists_forms(&e);
        }
    }

    #[test]
    fn rejects_unclosed_microsoft_json_dates() {
        for text in [
            "/Date(1764145800000",
            "/Date(1764145800000)",
            "/Date(1764145800000/",
            "\\/Date(1764145800000)",
            "/Date(",
        ] {
            let e = err(text);
            assert_eq!(
                e,
                DotnetTimeError::UnclosedJsonDate {
                    input: text.to_owned()
                }
            );
            assert!(e.to_string().contains("does not end with `)/`"), "{e}");
            assert_lists_forms(&e);
        }
    }

    #[test]
    fn rejects_bad_microsoft_json_dates() {
        for (text, reason) in [
            ("/Date()/", "there are no milliseconds"),
            ("/Date(abc)/", "`abc` is not a whole number of milliseconds"),
            ("/Date(-)/", "`-` is not a whole number"),
            ("/Date(12.5)/", "`12.5` is not a whole number"),
            ("/Date( 1000)/", "` 1000` is not a whole number"),
            ("/Date(1000 )/", "`1000 ` is not a whole number"),
            ("/Date(+1000)/", "`+1000` is not a whole number"),
            ("/Date(--1000)/", "`-` is not a whole number"),
        ] {
            let e = err(text);
            match &e {
                DotnetTimeError::InvalidJsonDate { input, reason: r } => {
                    assert_eq!(input, text);
                    assert!(r.starts_with(reason), "{text}: {r}");
                }
                other => panic!("{text}: unexpected {other:?}"),
            }
            assert_lists_forms(&e);
        }
    }

    #[test]
    fn rejects_out_of_range() {
        for text in [
            // One millisecond outside .NET's range on either side.
            "/Date(-62135596800001)/",
            "/Date(253402300800000)/",
            // Far beyond what `time` can hold, and beyond i64.
            "/Date(99999999999999999)/",
            "/Date(-99999999999999999)/",
            "/Date(99999999999999999999999999)/",
            // Valid local times whose UTC instant falls outside the range.
            "0001-01-01T00:00:00+01:00",
            "9999-12-31T23:30:00-01:00",
        ] {
            let e = err(text);
            assert_eq!(
                e,
                DotnetTimeError::OutOfRange {
                    input: text.to_owned()
                },
                "{text}"
            );
            assert!(
                e.to_string().contains("outside .NET's DateTime range"),
                "{e}"
            );
            assert_lists_forms(&e);
        }
    }

    #[test]
    fn rejects_garbage() {
        for text in [
            "garbage",
            "now",
            "1764145800000",
            "Date(1764145800000)",
            "/date(1764145800000)/",
            "26/11/2026",
            "2026-11-26 08:30:00Z",
            "2026-11-26T08:30Z",
            "2026-11-26T08:30",
            "2026-11-26T",
            "2026-1-26",
            "2026-11-26Z",
            "20261126T083000Z",
            "+2026-11-26",
            "2026-11-26T08:30:00 Z",
            "2026-11-26T08:30:00UTC",
            "2026-11-26T08:30:00.123 +01:00",
            "\"2026-11-26T08:30:00Z\"",
            "2026-11-26T08:30:00Z trailing",
            "２０２６-11-26",
            "2026-11-26T08:30:00+01:00x",
        ] {
            let e = err(text);
            match &e {
                DotnetTimeError::Unrecognised { input } => assert_eq!(input, text.trim()),
                DotnetTimeError::InvalidOffset { .. } if text.ends_with('x') => {}
                other => panic!("{text}: unexpected {other:?}"),
            }
            assert!(e.to_string().contains(text), "{e}");
            assert_lists_forms(&e);
        }
    }

    #[test]
    fn long_inputs_are_shortened_in_messages() {
        let long = "x".repeat(1000);
        let e = err(&long);
        let shown = format!("{}…", "x".repeat(MAX_SHOWN_CHARS));
        assert_eq!(e, DotnetTimeError::Unrecognised { input: shown });
    }
}
