//! Mask keys: one per target environment, the key of its pseudonyms (issue 13).
//!
//! A key is 32 random bytes made at the environment's first masked copy and kept in
//! `settings` under `mask_key:<env>`, sealed with the secret key (`sealed.rs`) like the
//! token signing key, so a copy of the control plane alone does not give the pseudonyms
//! away. No schema change: `settings` is a key/value table. Rotating removes the row;
//! the next masked copy makes a new key, and with it new pseudonyms.

use crate::backend::Cells;
use crate::sealed::{self, Purpose};
use crate::secrets::{self, RANDOM_LEN};
use crate::{Error, Result, Store};
use dataalm_core::Value;

fn setting(env: &str) -> String {
    format!("mask_key:{env}")
}

impl Store {
    /// The mask key of environment `env`, made and kept on first use. Racing first uses
    /// all get the one key that was stored. A key sealed with another secret key is an
    /// error, never a reason to make a new one (that would change every pseudonym).
    pub fn mask_key(&self, env: &str) -> Result<Vec<u8>> {
        self.env(env)?;
        if let Some(stored) = self.stored_mask_key(env)? {
            return self.open_mask_key(env, stored);
        }
        let candidate = secrets::random_bytes()?;
        let sealed = self.sealer.seal(Purpose::MaskKey, &candidate)?;
        self.conn.execute(
            "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            &[setting(env).into(), Value::Blob(sealed.into_bytes())],
        )?;
        let stored = self
            .stored_mask_key(env)?
            .ok_or_else(|| Error::Corrupt(format!("the mask key of `{env}` was not kept")))?;
        self.open_mask_key(env, stored)
    }

    /// Forgets `env`'s mask key: its next masked copy gets new pseudonyms. Whether there
    /// was one.
    pub fn rotate_mask_key(&self, env: &str) -> Result<bool> {
        self.env(env)?;
        let removed = self.conn.execute(
            "DELETE FROM settings WHERE key = ?1",
            &[setting(env).into()],
        )?;
        Ok(removed > 0)
    }

    fn open_mask_key(&self, env: &str, stored: Vec<u8>) -> Result<Vec<u8>> {
        if !sealed::is_sealed(&stored) {
            return Err(Error::Corrupt(format!(
                "the mask key of `{env}` is not sealed"
            )));
        }
        let text = String::from_utf8(stored)
            .map_err(|_| Error::Corrupt(format!("the mask key of `{env}` is not text")))?;
        let key = self
            .sealer
            .open(Purpose::MaskKey, &text, &format!("mask key of `{env}`"))?;
        if key.len() != RANDOM_LEN {
            return Err(Error::Corrupt(format!(
                "the mask key of `{env}` has {} bytes, not {RANDOM_LEN}",
                key.len()
            )));
        }
        Ok(key)
    }

    fn stored_mask_key(&self, env: &str) -> Result<Option<Vec<u8>>> {
        self.conn
            .query_opt(
                "SELECT value FROM settings WHERE key = ?1",
                &[setting(env).into()],
            )?
            .map(|row| row.blob(0))
            .transpose()
    }
}
