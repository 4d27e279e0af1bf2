//! Deterministic randomness and the small vocabulary the generator draws from: seeded
//! ChaCha8 streams, pure per-index hashes, names, dates and money.
//!
//! Every table draws from its own stream, so adding a column to one table does not shift
//! the data of the others, and the same seed always gives the same rows.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The generator of one table: `seed` chooses the sample, `stream` the table.
pub(crate) fn stream(seed: u64, stream: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(mix(seed ^ mix(stream)))
}

/// SplitMix64's finalizer: a well-mixed 64-bit hash of `x`. Used where a value must be a
/// pure function of an index (an item's price is the same wherever the item is used).
pub(crate) fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

pub(crate) fn pick<'a>(rng: &mut ChaCha8Rng, list: &[&'a str]) -> &'a str {
    list[rng.random_range(0..list.len())]
}

/// An index in `0..n` skewed towards small values, as a few customers place most orders.
pub(crate) fn skewed(rng: &mut ChaCha8Rng, n: u64) -> u64 {
    let u: f64 = rng.random();
    ((u * u * n as f64) as u64).min(n.saturating_sub(1))
}

/// Rounds to cents.
pub(crate) fn cents(amount: f64) -> f64 {
    (amount * 100.0).round() / 100.0
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's `days_from_civil`).
pub(crate) const fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day number (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `YYYY-MM-DD`.
pub(crate) fn date_text(days: i64) -> String {
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// RFC 3339 in UTC to the second, as dataalm stores times: `2026-06-30T08:15:00Z`.
pub(crate) fn datetime_text(seconds: i64) -> String {
    let (y, m, d) = civil_from_days(seconds.div_euclid(86_400));
    let s = seconds.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

pub(crate) const FIRST_NAMES: &[&str] = &[
    "James", "Maria", "Wei", "Fatima", "Lukas", "Sofia", "Hiroshi", "Amara", "Pierre", "Elena",
    "Mateo", "Aisha", "Noah", "Ingrid", "Ravi", "Chloe", "Oskar", "Yuki", "Diego", "Hannah",
    "Omar", "Lena", "Tomasz", "Priya", "Emil", "Zoe", "Kwame", "Freya", "Ivan", "Leila",
];

pub(crate) const LAST_NAMES: &[&str] = &[
    "Smith", "Garcia", "Chen", "Khan", "Muller", "Rossi", "Tanaka", "Okafor", "Dubois", "Petrova",
    "Silva", "Haddad", "Johnson", "Larsen", "Patel", "Martin", "Nowak", "Sato", "Lopez", "Weber",
    "Hassan", "Fischer", "Kowalski", "Sharma", "Berg", "Moreau", "Mensah", "Eriksen", "Ivanov",
    "Rahman",
];

pub(crate) const COMPANY_WORDS: &[&str] = &[
    "Northwind",
    "Fabrikam",
    "Litware",
    "Tailspin",
    "Adventure",
    "Alpine",
    "Coho",
    "Contoso",
    "Proseware",
    "Wingtip",
    "Trey",
    "Woodgrove",
    "Blue Yonder",
    "Lucerne",
    "Margie's",
    "Wide World",
    "Fourth Coffee",
    "Humongous",
    "Relecloud",
    "Southridge",
];

pub(crate) const COMPANY_KINDS: &[&str] = &[
    "Trading",
    "Industries",
    "Foods",
    "Motors",
    "Logistics",
    "Electronics",
    "Retail",
    "Pharma",
    "Textiles",
    "Energy",
    "Systems",
    "Supplies",
    "Outdoor",
    "Furniture",
];

pub(crate) const COMPANY_SUFFIXES: &[&str] = &["Ltd", "Inc.", "GmbH", "S.A.", "AB", "B.V.", "LLC"];

/// Cities with the country code they are in.
pub(crate) const CITIES: &[(&str, &str)] = &[
    ("Seattle", "USA"),
    ("Chicago", "USA"),
    ("Atlanta", "USA"),
    ("Toronto", "CAN"),
    ("London", "GBR"),
    ("Manchester", "GBR"),
    ("Berlin", "DEU"),
    ("Munich", "DEU"),
    ("Paris", "FRA"),
    ("Lyon", "FRA"),
    ("Madrid", "ESP"),
    ("Milan", "ITA"),
    ("Copenhagen", "DNK"),
    ("Stockholm", "SWE"),
    ("Warsaw", "POL"),
    ("Tokyo", "JPN"),
];

pub(crate) const STREETS: &[&str] = &[
    "Main Street",
    "High Street",
    "Oak Avenue",
    "Station Road",
    "Harbour Way",
    "Park Lane",
    "Market Square",
    "Mill Road",
    "Church Street",
    "Kingsway",
];

pub(crate) const CURRENCIES: &[&str] = &["USD", "USD", "USD", "EUR", "EUR", "GBP", "DKK"];

pub(crate) const PAYMENT_TERMS: &[&str] = &["Net10", "Net30", "Net30", "Net45", "Net60", "COD"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        let day = days_from_civil(2026, 6, 30);
        assert_eq!(date_text(day), "2026-06-30");
        assert_eq!(date_text(days_from_civil(2024, 2, 29)), "2024-02-29");
        assert_eq!(date_text(0), "1970-01-01");
        assert_eq!(
            datetime_text(day * 86_400 + 8 * 3600 + 15 * 60 + 3),
            "2026-06-30T08:15:03Z"
        );
    }

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a: u64 = stream(7, 1).random();
        let b: u64 = stream(7, 1).random();
        let c: u64 = stream(7, 2).random();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}
