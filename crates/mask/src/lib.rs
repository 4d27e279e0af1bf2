//! Masking: replaces personal data in a copy with pseudonyms, without I/O.
//!
//! A pseudonym is a keyed pseudorandom function (HMAC-SHA256) of (key, domain, value):
//! the same value in the same domain gives the same pseudonym in every table (masked
//! keys still join) and in every refresh with the same key, and another key (another
//! environment) gives other ones. The rules come from the profile
//! (`dataalm_core::MaskSpec`); engines call [`Masker`] on each value they copy.

mod detect;
mod fpe;
mod key;
mod set;
mod transform;
mod unique;
mod words;

pub use detect::{content_looks_personal, name_looks_personal};
pub use key::{KEY_LEN, MaskKey};
pub use set::MaskSet;
pub use transform::{Column, Masked, Masker};
pub use unique::Unique;

/// What can go wrong while masking a value.
#[derive(Debug, thiserror::Error)]
pub enum MaskError {
    #[error("masking `{table}.{column}`: {what}")]
    DoesNotFit {
        table: String,
        column: String,
        what: String,
    },
    /// Two values of a unique column got one pseudonym: the copy would break the index.
    #[error(
        "masking `{table}.{column}` (unique) gave two values one pseudonym; \
         use a transformer with more room (`hash` on a wider column, `phone`)"
    )]
    Collision { table: String, column: String },
    #[error("a mask key has {KEY_LEN} bytes, not {0}")]
    KeyLength(usize),
}

pub type Result<T, E = MaskError> = std::result::Result<T, E>;
