//! The mask key and the keyed function every pseudonym is drawn from.
//!
//! The key is a secret of its target environment: it has no `Display`, and its `Debug`
//! shows nothing of it, so a log line or an error cannot carry it.

use crate::{MaskError, Result};
use hmac::{KeyInit, Mac};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// Bytes in a mask key: 256 bits.
pub const KEY_LEN: usize = 32;

/// The key of one target environment's pseudonyms.
#[derive(Clone)]
pub struct MaskKey([u8; KEY_LEN]);

impl MaskKey {
    pub fn from_bytes(bytes: &[u8]) -> Result<MaskKey> {
        let key: [u8; KEY_LEN] = bytes
            .try_into()
            .map_err(|_| MaskError::KeyLength(bytes.len()))?;
        Ok(MaskKey(key))
    }

    /// The raw key, to be sealed by whoever keeps it.
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl std::fmt::Debug for MaskKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MaskKey(..)")
    }
}

/// HMAC-SHA256 under the key, keyed once: each use clones the keyed state, which
/// saves hashing the key again for every value.
#[derive(Clone)]
pub(crate) struct Prf(HmacSha256);

impl Prf {
    pub fn new(key: &MaskKey) -> Prf {
        // HMAC takes keys of any length; 32 bytes cannot be refused.
        Prf(HmacSha256::new_from_slice(&key.0).expect("HMAC accepts any key length"))
    }

    /// 32 pseudorandom bytes of (domain, purpose, parts). Each piece is length-prefixed so
    /// no two different inputs share an encoding.
    pub fn bytes(&self, domain: &str, purpose: &str, parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = self.0.clone();
        for piece in [domain.as_bytes(), purpose.as_bytes()]
            .into_iter()
            .chain(parts.iter().copied())
        {
            mac.update(&(piece.len() as u64).to_le_bytes());
            mac.update(piece);
        }
        mac.finalize().into_bytes().into()
    }

    /// A pseudorandom number of (domain, purpose, parts).
    pub fn number(&self, domain: &str, purpose: &str, parts: &[&[u8]]) -> u64 {
        let b = self.bytes(domain, purpose, parts);
        u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
    }
}
