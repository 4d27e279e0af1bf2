//! What looks like personal data: by a column's name, and by a sample of its content.
//! A masked refresh stops on such a column that has no rule and is not accepted in the
//! profile's `unmasked` list, so a column added to production is not copied raw unseen.

/// Words that mark a column as personal when a word of its name contains them.
const LONG_WORDS: &[&str] = &[
    "email", "mail", "phone", "mobile", "street", "address", "iban", "bank", "birth", "passport",
];
/// Short words, matched as a whole word or a word's ending (`lastname`, `vatno` is not).
const SHORT_WORDS: &[&str] = &["name", "ssn", "tax", "vat"];

/// Why a column's name looks personal (the word it matched), if it does.
pub fn name_looks_personal(column: &str) -> Option<&'static str> {
    for word in words_of(column) {
        if let Some(hit) = LONG_WORDS.iter().find(|w| word.contains(*w)) {
            return Some(hit);
        }
        if let Some(hit) = SHORT_WORDS
            .iter()
            .find(|w| word == **w || (word.ends_with(*w) && w.len() >= 4))
        {
            return Some(hit);
        }
    }
    None
}

/// Lower-case words of a column name: split at non-alphanumerics and camelCase humps.
fn words_of(column: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut previous_lower = false;
    for c in column.chars() {
        let hump = c.is_uppercase() && previous_lower;
        if (!c.is_alphanumeric() || hump) && !word.is_empty() {
            words.push(std::mem::take(&mut word));
        }
        if c.is_alphanumeric() {
            word.extend(c.to_lowercase());
        }
        previous_lower = c.is_lowercase();
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// What shape of personal data a value has (`e-mail`, `IBAN`), if any.
pub fn content_looks_personal(value: &str) -> Option<&'static str> {
    if looks_like_email(value) {
        Some("e-mail")
    } else if looks_like_iban(value) {
        Some("IBAN")
    } else {
        None
    }
}

fn looks_like_email(value: &str) -> bool {
    let value = value.trim();
    let Some((local, domain)) = value.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !value.contains(char::is_whitespace)
        && !domain.contains('@')
        && domain.split('.').count() >= 2
        && domain.split('.').all(|part| !part.is_empty())
}

/// Two letters, two check digits, 11 to 30 letters or digits, and the ISO 13616
/// check (mod 97 = 1), so account numbers of other shapes do not count.
fn looks_like_iban(value: &str) -> bool {
    let compact: Vec<u8> = value.bytes().filter(|b| *b != b' ').collect();
    let shaped = (15..=34).contains(&compact.len())
        && compact[..2].iter().all(u8::is_ascii_uppercase)
        && compact[2..4].iter().all(u8::is_ascii_digit)
        && compact.iter().all(u8::is_ascii_alphanumeric);
    if !shaped {
        return false;
    }
    let rotated = compact[4..].iter().chain(&compact[..4]);
    let mut rest = 0u32;
    for b in rotated {
        let digit = if b.is_ascii_digit() {
            u32::from(b - b'0')
        } else {
            u32::from(b.to_ascii_uppercase() - b'A') + 10
        };
        rest = if digit >= 10 {
            (rest * 100 + digit) % 97
        } else {
            (rest * 10 + digit) % 97
        };
    }
    rest == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn personal_names_are_seen_and_others_not() {
        for (column, word) in [
            ("email", "email"),
            ("ContactPhone", "phone"),
            ("bank_account", "bank"),
            ("last_name", "name"),
            ("FirstName", "name"),
            ("vat_num", "vat"),
            ("date_of_birth", "birth"),
        ] {
            assert_eq!(name_looks_personal(column), Some(word), "{column}");
        }
        for column in [
            "account_num",
            "currency",
            "created_at",
            "cust_group",
            "amount",
        ] {
            assert_eq!(name_looks_personal(column), None, "{column}");
        }
    }

    #[test]
    fn content_shapes_are_seen() {
        assert_eq!(content_looks_personal("a.b@corp.example"), Some("e-mail"));
        assert_eq!(
            content_looks_personal("GB82 WEST 1234 5698 7654 32"),
            Some("IBAN")
        );
        assert_eq!(content_looks_personal("GB82 WEST 1234 5698 7654 33"), None);
        assert_eq!(content_looks_personal("@handle"), None);
        assert_eq!(content_looks_personal("C000123"), None);
    }
}
