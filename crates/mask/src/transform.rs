//! The transformers: `email`, `name`, `phone`, `hash`, `text`, `null`, `fixed` and
//! `date_shift`, each a pure function of (key, domain, value) that keeps the column's
//! shape. NULL stays NULL whatever the rule.

use crate::fpe::permute_digits;
use crate::key::{MaskKey, Prf};
use crate::words::{COMPANY_FIRST, COMPANY_FORM, COMPANY_HINTS, COMPANY_SECOND, FAMILY, GIVEN};
use crate::{MaskError, Result};
use dataalm_core::profile::{MaskSpec, MaskWith};
use std::fmt::Write as _;
use time::{Date, Duration, format_description::BorrowedFormatItem, macros::format_description};

/// Length of `hash` on a column without a length limit: 128 bits.
const HASH_LEN: usize = 32;
/// Hex digits that make an e-mail pseudonym unique: 48 bits, so a million addresses
/// collide with odds of about 2 in a million (and a collision is caught, see `Unique`).
const EMAIL_TAG: usize = 12;
const EMAIL_DOMAIN: &str = "example.com";
const ISO_DATE: &[BorrowedFormatItem<'static>] = format_description!("[year]-[month]-[day]");

/// The column a value is masked for: where it is (for errors) and what it holds.
#[derive(Debug, Clone, Copy)]
pub struct Column<'a> {
    pub table: &'a str,
    pub column: &'a str,
    /// The type's length limit in characters (`varchar(n)`, `char(n)`), if any.
    pub max_len: Option<usize>,
    /// Under a primary key or unique index.
    pub unique: bool,
}

/// A masked value.
pub type Masked = Option<String>;

/// Masks values under one key.
#[derive(Clone)]
pub struct Masker {
    prf: Prf,
}

impl Masker {
    pub fn new(key: &MaskKey) -> Masker {
        Masker { prf: Prf::new(key) }
    }

    /// Whether pseudonyms of `rule` on a unique column must be checked for collisions
    /// (`phone` is a permutation, `null` cannot collide).
    pub fn needs_unique_check(rule: &MaskSpec) -> bool {
        !matches!(rule.with, MaskWith::Phone | MaskWith::Null)
    }

    /// The pseudonym of a text value under `rule`; `None` is NULL.
    pub fn text(&self, rule: &MaskSpec, column: &Column, value: Option<&str>) -> Result<Masked> {
        let Some(value) = value else {
            return Ok(None);
        };
        let domain = rule.domain();
        let masked = match rule.with {
            MaskWith::Null => return Ok(None),
            MaskWith::Fixed => rule.value.clone().unwrap_or_default(),
            MaskWith::Email => self.email(domain, value, column)?,
            MaskWith::Name => self.name(domain, value, column),
            MaskWith::Phone => self.phone(domain, value),
            MaskWith::Hash => self.hash(domain, value, column),
            MaskWith::Text => self.keep_shape(domain, value),
            MaskWith::DateShift => self.date_text(rule, value, column)?,
        };
        fits(column, masked).map(Some)
    }

    /// The shifted date of a day number (days since any fixed epoch; PostgreSQL's count
    /// from 2000-01-01). The shift depends on the date itself, so one date moves alike
    /// in every table; dates that are not finite stay as they are.
    pub fn date_days(&self, rule: &MaskSpec, days_since_2000: i32) -> i32 {
        let Some(date) = epoch_2000().checked_add(Duration::days(days_since_2000.into())) else {
            return days_since_2000;
        };
        let shifted = self.shift(rule, date);
        (shifted - epoch_2000()).whole_days() as i32
    }

    fn date_text(&self, rule: &MaskSpec, value: &str, column: &Column) -> Result<String> {
        let head = value.get(..10).unwrap_or(value);
        let date =
            Date::parse(head, ISO_DATE).map_err(|_| does_not_fit(column, "not an ISO date"))?;
        let shifted = self.shift(rule, date);
        let text = shifted
            .format(ISO_DATE)
            .map_err(|_| does_not_fit(column, "date out of range"))?;
        Ok(format!("{text}{}", &value[head.len()..]))
    }

    /// `date` moved by 1 to `days` days, earlier or later, never by 0.
    fn shift(&self, rule: &MaskSpec, date: Date) -> Date {
        let days = u64::from(rule.days.unwrap_or(1).max(1));
        let iso = date.to_string();
        let n = self.prf.number(rule.domain(), "date", &[iso.as_bytes()]);
        let magnitude = (n % days) as i64 + 1;
        let by = if n >> 63 == 1 { -magnitude } else { magnitude };
        date.checked_add(Duration::days(by)).unwrap_or(date)
    }

    fn email(&self, domain: &str, value: &str, column: &Column) -> Result<String> {
        let tag = &self.hex(domain, "email", value, EMAIL_TAG);
        let person = self.person(domain, value).to_lowercase().replace(' ', ".");
        let full = format!("{person}.{tag}@{EMAIL_DOMAIN}");
        let short = format!("{tag}@{EMAIL_DOMAIN}");
        match column.max_len {
            Some(max) if full.len() > max && short.len() > max => {
                Err(does_not_fit(column, "too short for an e-mail pseudonym"))
            }
            Some(max) if full.len() > max => Ok(short),
            _ => Ok(full),
        }
    }

    /// A company's name for a value that reads like one, else a person's. On a unique
    /// column a short tag follows, since the lists give only a few thousand names.
    fn name(&self, domain: &str, value: &str, column: &Column) -> String {
        let last = value.rsplit([' ', ',']).next().unwrap_or("").to_lowercase();
        let mut name = if COMPANY_HINTS.contains(&last.trim_end_matches('.')) {
            self.company(domain, value)
        } else {
            self.person(domain, value)
        };
        if column.unique {
            let _ = write!(name, " {}", self.hex(domain, "name-tag", value, EMAIL_TAG));
        }
        truncate(name, column.max_len)
    }

    fn person(&self, domain: &str, value: &str) -> String {
        let n = self.prf.number(domain, "person", &[value.as_bytes()]);
        let given = GIVEN[(n % GIVEN.len() as u64) as usize];
        let family = FAMILY[((n >> 20) % FAMILY.len() as u64) as usize];
        format!("{given} {family}")
    }

    fn company(&self, domain: &str, value: &str) -> String {
        let n = self.prf.number(domain, "company", &[value.as_bytes()]);
        let pick =
            |list: &[&'static str], shift: u32| list[((n >> shift) % list.len() as u64) as usize];
        format!(
            "{} {} {}",
            pick(COMPANY_FIRST, 0),
            pick(COMPANY_SECOND, 16),
            pick(COMPANY_FORM, 32)
        )
    }

    /// Digits permuted (so a unique column stays unique), everything else kept.
    fn phone(&self, domain: &str, value: &str) -> String {
        let digits: Vec<u8> = value.bytes().filter(u8::is_ascii_digit).collect();
        let mut permuted = permute_digits(&self.prf, domain, &digits).into_iter();
        value
            .chars()
            .map(|c| match c {
                '0'..='9' => permuted.next().map_or(c, char::from),
                _ => c,
            })
            .collect()
    }

    fn hash(&self, domain: &str, value: &str, column: &Column) -> String {
        let len = column.max_len.unwrap_or(HASH_LEN).min(2 * HASH_LEN);
        self.hex(domain, "hash", value, len)
    }

    /// `len` hex digits of (domain, purpose, value).
    fn hex(&self, domain: &str, purpose: &str, value: &str, len: usize) -> String {
        let mut out = String::with_capacity(len);
        for block in 0u64.. {
            if out.len() >= len {
                break;
            }
            let bytes = self
                .prf
                .bytes(domain, purpose, &[value.as_bytes(), &block.to_le_bytes()]);
            for b in bytes {
                let _ = write!(out, "{b:02x}");
            }
        }
        out.truncate(len);
        out
    }

    /// Same length in characters: letters become letters of the same case, digits
    /// digits; spaces and punctuation stay, so a street keeps its look.
    fn keep_shape(&self, domain: &str, value: &str) -> String {
        let mut stream = Vec::new();
        let mut out = String::with_capacity(value.len());
        for (i, c) in value.chars().enumerate() {
            if i % 32 == 0 {
                let block = (i / 32) as u64;
                stream = self
                    .prf
                    .bytes(domain, "text", &[value.as_bytes(), &block.to_le_bytes()])
                    .to_vec();
            }
            let r = stream[i % 32];
            out.push(match c {
                '0'..='9' => char::from(b'0' + r % 10),
                c if c.is_uppercase() => char::from(b'A' + r % 26),
                c if c.is_alphabetic() => char::from(b'a' + r % 26),
                c => c,
            });
        }
        out
    }
}

fn epoch_2000() -> Date {
    time::macros::date!(2000 - 01 - 01)
}

fn does_not_fit(column: &Column, what: &str) -> MaskError {
    MaskError::DoesNotFit {
        table: column.table.to_owned(),
        column: column.column.to_owned(),
        what: what.to_owned(),
    }
}

/// A fixed value longer than the column is refused rather than cut silently.
fn fits(column: &Column, value: String) -> Result<String> {
    match column.max_len {
        Some(max) if value.chars().count() > max => Err(does_not_fit(
            column,
            "the masked value is longer than the column allows",
        )),
        _ => Ok(value),
    }
}

fn truncate(mut value: String, max_len: Option<usize>) -> String {
    if let Some((at, _)) = max_len.and_then(|max| value.char_indices().nth(max)) {
        value.truncate(at);
    }
    value
}
