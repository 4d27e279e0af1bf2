//! Secrets the control plane checks but never keeps: app secrets and people's passwords
//! are stored as argon2 hashes, session tokens as SHA-256 digests (they are random and
//! long, so a fast digest is enough and every request can afford it).
//!
//! A failed check costs the same whatever the cause (unknown name, wrong secret), so
//! neither the answer nor its timing tells a caller which names exist.

use crate::{Error, Result};
use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use rand::TryRng;
use sha2::Digest;
use std::sync::OnceLock;

/// Random bytes in a secret, a token and the signing key: 256 bits, beyond guessing.
pub(crate) const RANDOM_LEN: usize = 32;

/// Bytes straight from the operating system's generator.
pub(crate) fn random_bytes() -> Result<[u8; RANDOM_LEN]> {
    let mut bytes = [0u8; RANDOM_LEN];
    rand::rngs::SysRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| Error::Random(e.to_string()))?;
    Ok(bytes)
}

/// A random token as hex text: 256 bits from the operating system's generator.
pub fn random_token() -> Result<String> {
    Ok(hex::encode(random_bytes()?))
}

pub(crate) fn hash(secret: &str) -> Result<String> {
    Argon2::default()
        .hash_password(secret.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| Error::Hash(e.to_string()))
}

/// Whether `secret` matches `stored` (an argon2 hash); with no stored hash, the same
/// work is done against a dummy and the answer is no. `whose` names the record in the
/// error for a damaged hash.
pub(crate) fn verify(secret: &str, stored: Option<&str>, whose: &str) -> Result<bool> {
    let Some(stored) = stored else {
        let _ = Argon2::default().verify_password(secret.as_bytes(), dummy_hash());
        return Ok(false);
    };
    match Argon2::default().verify_password(secret.as_bytes(), stored) {
        Ok(()) => Ok(true),
        Err(argon2::password_hash::Error::PasswordInvalid) => Ok(false),
        // An unreadable stored hash is damage, not a wrong secret.
        Err(e) => Err(Error::Corrupt(format!("secret hash of {whose}: {e}"))),
    }
}

/// The SHA-256 digest of a token, as hex: what is stored of a session token.
pub(crate) fn digest(token: &str) -> String {
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
}

/// A hash with the same parameters as real ones, to verify against when the name is
/// unknown. Made once per process (from a value nobody knows) rather than written in, so
/// it follows argon2's defaults if they change.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let password = hex::encode(random_bytes().unwrap_or([0x5a; RANDOM_LEN]));
        hash(&password).unwrap_or_default()
    })
}
