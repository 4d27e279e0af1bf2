//! Refresh tokens: what a person signed in through a public client (the OAuth2 password
//! grant) trades for a new access token without giving the password again.
//!
//! A refresh token is 256 random bits; the control plane keeps only its SHA-256 digest,
//! with the client, the person and the environments it was issued for. Each is used
//! once: redeeming deletes it, and the caller issues a new one (rotation), so a token
//! that leaked and was used is refused to whoever comes second. Disabling, deleting or
//! setting the password of a person ends their refresh tokens (`people.rs`), and a
//! redeemed token must still belong to an enabled person and an active registration.

use crate::backend::Cells;
use crate::people::Person;
use crate::secrets;
use crate::{Error, Result, Store, from_json, millis, to_json};
use std::time::Duration;

/// What a redeemed refresh token was for.
#[derive(Debug, Clone, PartialEq)]
pub struct Redeemed {
    pub person: Person,
    /// The environments it was issued for; empty means every one the client may use.
    pub environments: Vec<String>,
}

impl Store {
    /// Issues a refresh token for `person` through the client `client_id`, lasting
    /// `ttl`; returns the token, which is not kept.
    pub fn issue_refresh_token(
        &self,
        client_id: &str,
        person: &str,
        environments: &[String],
        ttl: Duration,
    ) -> Result<String> {
        let token = secrets::random_token()?;
        self.conn.execute(
            &format!(
                "INSERT INTO refresh_tokens (token_hash, client_id, person, environments, expires_ms)
                 VALUES (?1, ?2, ?3, ?4, {} + ?5)",
                self.conn.now_ms()
            ),
            &[
                secrets::digest(&token).into(),
                client_id.into(),
                person.into(),
                to_json(&environments)?.into(),
                millis(ttl).into(),
            ],
        )?;
        // Expired tokens are of no use to anyone; this is as good a time as any.
        self.conn.execute(
            &format!(
                "DELETE FROM refresh_tokens WHERE expires_ms < {}",
                self.conn.now_ms()
            ),
            &[],
        )?;
        Ok(token)
    }

    /// Uses up a refresh token given to `client_id`. An unknown, used, expired or
    /// another client's token, and one whose person is disabled or whose registration
    /// is revoked, are all `BadCredentials`. Of two racing uses only one deletes the row,
    /// so only one succeeds.
    pub fn redeem_refresh_token(&self, client_id: &str, token: &str) -> Result<Redeemed> {
        let digest = secrets::digest(token);
        let row = self.conn.query_opt(
            &format!(
                "SELECT t.person, t.environments FROM refresh_tokens t
                 JOIN people p ON p.name = t.person
                 JOIN apps a ON a.client_id = t.client_id
                 WHERE t.token_hash = ?1 AND t.client_id = ?2 AND t.expires_ms > {}
                   AND p.disabled_at IS NULL AND a.revoked_at IS NULL",
                self.conn.now_ms()
            ),
            &[digest.as_str().into(), client_id.into()],
        )?;
        // A token shown to the wrong client is spent all the same: it has leaked.
        let deleted = self.conn.execute(
            "DELETE FROM refresh_tokens WHERE token_hash = ?1",
            &[digest.into()],
        )?;
        let Some(row) = row.filter(|_| deleted == 1) else {
            return Err(Error::BadCredentials);
        };
        let person = self.person(&row.text(0)?)?;
        let environments = from_json(&row.text(1)?)?;
        Ok(Redeemed {
            person,
            environments,
        })
    }
}
