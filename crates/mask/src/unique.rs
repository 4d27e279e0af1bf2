//! Collision detection for unique columns. Pseudonyms that are not a permutation (`hash`,
//! `email`, `text`...) could give two values one pseudonym; the copy would then fail on
//! the unique index, or worse, silently merge rows if the index were built later. Each
//! pseudonym of a unique column is remembered (16 bytes of its digest) and a repeat is
//! an error naming the column: never silent.

use crate::{MaskError, Result};
use sha2::Digest;
use std::collections::HashSet;

/// The pseudonyms seen so far in one unique column.
pub struct Unique {
    table: String,
    column: String,
    seen: HashSet<[u8; 16]>,
}

impl Unique {
    pub fn new(table: &str, column: &str) -> Unique {
        Unique {
            table: table.to_owned(),
            column: column.to_owned(),
            seen: HashSet::new(),
        }
    }

    /// Records `pseudonym`; an error if it was seen before. NULL (`None`) never collides.
    pub fn check(&mut self, pseudonym: Option<&[u8]>) -> Result<()> {
        let Some(value) = pseudonym else {
            return Ok(());
        };
        let digest = sha2::Sha256::digest(value);
        let mut short = [0u8; 16];
        short.copy_from_slice(&digest[..16]);
        if self.seen.insert(short) {
            Ok(())
        } else {
            Err(MaskError::Collision {
                table: self.table.clone(),
                column: self.column.clone(),
            })
        }
    }
}
