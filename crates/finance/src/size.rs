//! Sizes as people type them: `500kB`, `50MB`, `20mb`, `1.5GB`, `2GiB`, `1048576`.
//!
//! Decimal units (kB, MB, GB, TB) are powers of 1000 and binary units (KiB, MiB, GiB,
//! TiB) powers of 1024, as `df -H` and `df -h` count. Units are read case-insensitively
//! because `20mb` is what people type in a hurry.

use crate::Error;

/// Unit suffixes (lower case) and their multipliers.
const UNITS: &[(&str, u64)] = &[
    ("", 1),
    ("b", 1),
    ("k", 1_000),
    ("kb", 1_000),
    ("m", 1_000_000),
    ("mb", 1_000_000),
    ("g", 1_000_000_000),
    ("gb", 1_000_000_000),
    ("t", 1_000_000_000_000),
    ("tb", 1_000_000_000_000),
    ("kib", 1 << 10),
    ("mib", 1 << 20),
    ("gib", 1 << 30),
    ("tib", 1 << 40),
];

/// Reads a size in bytes from `50MB`, `1GB`, `500kB`, `2GiB`, `20mb`, `1.5GB` or plain
/// bytes.
///
/// ```
/// assert_eq!(dataalm_finance::parse_size("50MB").unwrap(), 50_000_000);
/// assert_eq!(dataalm_finance::parse_size("2GiB").unwrap(), 2 << 30);
/// assert!(dataalm_finance::parse_size("fifty").is_err());
/// ```
pub fn parse_size(s: &str) -> Result<u64, Error> {
    let invalid = |reason: &str| Error::InvalidSize {
        input: s.to_owned(),
        reason: reason.to_owned(),
    };
    let text = s.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    if number.is_empty() {
        return Err(invalid("it does not start with a number"));
    }
    let unit = unit.trim().to_ascii_lowercase();
    let Some(&(_, multiplier)) = UNITS.iter().find(|(name, _)| *name == unit) else {
        return Err(invalid(&format!("unknown unit `{}`", unit)));
    };
    scale(number, multiplier).ok_or_else(|| invalid("not a number of bytes that fits in 64 bits"))
}

/// `number` × `multiplier`, where `number` may have a fraction; whole bytes, rounded down.
fn scale(number: &str, multiplier: u64) -> Option<u64> {
    if let Ok(whole) = number.parse::<u64>() {
        return whole.checked_mul(multiplier);
    }
    // A fraction (`1.5GB`): f64 holds sizes up to 2^53 bytes exactly, far beyond a sample.
    let value: f64 = number.parse().ok()?;
    let bytes = value * multiplier as f64;
    (bytes.is_finite() && bytes < u64::MAX as f64).then_some(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_usual_spellings() {
        assert_eq!(parse_size("50MB").unwrap(), 50_000_000);
        assert_eq!(parse_size("1GB").unwrap(), 1_000_000_000);
        assert_eq!(parse_size("500kB").unwrap(), 500_000);
        assert_eq!(parse_size("2GiB").unwrap(), 2 * 1024 * 1024 * 1024);
        assert_eq!(parse_size("20mb").unwrap(), 20_000_000);
        assert_eq!(parse_size("1048576").unwrap(), 1_048_576);
        assert_eq!(parse_size(" 1.5 GB ").unwrap(), 1_500_000_000);
        assert_eq!(parse_size("10 MiB").unwrap(), 10 << 20);
        assert_eq!(parse_size("7B").unwrap(), 7);
    }

    #[test]
    fn refuses_what_is_not_a_size() {
        for bad in [
            "",
            "MB",
            "fifty",
            "10 parsecs",
            "1.2.3GB",
            "-5MB",
            "99999999999999999999TB",
        ] {
            let err = parse_size(bad).err();
            assert!(
                matches!(err, Some(Error::InvalidSize { .. })),
                "{bad}: {err:?}"
            );
        }
        let message = parse_size("10 parsecs").err().map(|e| e.to_string());
        assert_eq!(
            message.as_deref(),
            Some(
                "invalid size `10 parsecs`: unknown unit `parsecs` (examples: 500kB, 50MB, 1GB, 2GiB, 1048576)"
            )
        );
    }
}
