//! App registrations (OAuth2 client credentials) and the key that signs their tokens.
//!
//! A registration is a client id (a random UUID), a name people recognise, a role and
//! the environments it may touch (none listed = all). Its secret is shown once, when it
//! is registered; only an argon2 hash of it is kept, so a copy of `control.db` does not
//! give anyone a working credential. Revoking keeps the row, so the audit log's names
//! still resolve and a revoked name can be registered again.
//!
//! Secrets never reach a log or an error message: `AppRegistration` has no field for
//! one, and every failed authentication is the same `BadCredentials`, whatever the cause,
//! so the answer does not tell a caller which client ids exist.

use crate::backend::Cells;
use crate::sealed::{self, Purpose};
use crate::secrets::{self, RANDOM_LEN};
use crate::{Error, Result, Store, check_name, format_time, from_json, is_duplicate, to_json};
use dataalm_core::Value;
use dataalm_core::access::Role;
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Marks a string as a dataalm client secret, so it is recognisable in a leaked file or a
/// secret scanner's rules.
const SECRET_PREFIX: &str = "dsec_";

/// The `settings` key of the HS256 key that signed tokens before they were ES256; still
/// sealed on upgrade (it is a secret), no longer used.
const SIGNING_KEY: &str = "token_signing_key";

/// The `settings` key of the ES256 (P-256) key that signs tokens, as sealed PKCS#8.
const TOKEN_KEY: &str = "token_key_es256";

/// `client_type` of a registration with a secret, and of one without (a script run by
/// a person, who signs in with the password grant).
const CONFIDENTIAL: &str = "confidential";
const PUBLIC: &str = "public";

/// A registered app, as shown to admins. It has no secret: that exists only as a hash.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AppRegistration {
    pub client_id: String,
    pub name: String,
    pub role: Role,
    /// Environments the app may act on; empty means all of them.
    pub environments: Vec<String>,
    /// A public client has no secret: people sign in through it with their own portal
    /// name and password (`grant_type=password`), and `role` caps what they may do.
    pub public: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

impl AppRegistration {
    pub fn is_revoked(&self) -> bool {
        self.revoked_at.is_some()
    }

    /// Whether the registration covers `env` (an empty list covers every environment).
    pub fn covers(&self, env: &str) -> bool {
        self.environments.is_empty() || self.environments.iter().any(|e| e == env)
    }
}

const APP_COLUMNS: &str =
    "client_id, name, role, environments, created_at, revoked_at, client_type";

impl Store {
    /// Registers an app and returns it with its plain secret, which is not kept and
    /// cannot be shown again. Refused when `name` is already used by an active
    /// registration or an environment is unknown.
    pub fn register_app(
        &self,
        name: &str,
        role: Role,
        environments: &[String],
    ) -> Result<(AppRegistration, String)> {
        let secret = format!("{SECRET_PREFIX}{}", secrets::random_token()?);
        let app = self.insert_app(name, role, environments, Some(&secret))?;
        Ok((app, secret))
    }

    /// Registers a public client: no secret, only the password and refresh-token grants
    /// of people, whose role it caps at `role`.
    pub fn register_public_app(
        &self,
        name: &str,
        role: Role,
        environments: &[String],
    ) -> Result<AppRegistration> {
        self.insert_app(name, role, environments, None)
    }

    /// Inserts a registration, confidential with `secret` (kept as its hash) or public.
    fn insert_app(
        &self,
        name: &str,
        role: Role,
        environments: &[String],
        secret: Option<&str>,
    ) -> Result<AppRegistration> {
        check_name(name).map_err(Error::InvalidApp)?;
        let mut environments = environments.to_vec();
        environments.sort();
        environments.dedup();
        let mut unknown = Vec::new();
        for env in &environments {
            match self.env(env) {
                Ok(_) => {}
                Err(Error::UnknownEnv(env)) => unknown.push(env),
                Err(e) => return Err(e),
            }
        }
        if !unknown.is_empty() {
            return Err(Error::UnknownEnvs(unknown));
        }
        // Checked here too (the index decides) so a taken name fails before the slow hash.
        if self.active_app_named(name)?.is_some() {
            return Err(Error::AppExists(name.to_owned()));
        }

        // A public client's hash is empty: no secret verifies against it (see
        // `authenticate_app`).
        let secret_hash = secret.map(secrets::hash).transpose()?.unwrap_or_default();
        let app = AppRegistration {
            client_id: uuid::Uuid::new_v4().to_string(),
            name: name.to_owned(),
            role,
            environments,
            public: secret.is_none(),
            created_at: OffsetDateTime::now_utc(),
            revoked_at: None,
        };
        let client_type = if app.public { PUBLIC } else { CONFIDENTIAL };
        let result = self.conn.execute(
            "INSERT INTO apps (client_id, name, role, environments, secret_hash, created_at, client_type)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            &[
                app.client_id.as_str().into(),
                app.name.as_str().into(),
                app.role.as_str().into(),
                to_json(&app.environments)?.into(),
                secret_hash.into(),
                format_time(app.created_at).into(),
                client_type.into(),
            ],
        );
        match result {
            Ok(_) => Ok(app),
            // Another process registered the same name since the check above.
            Err(e) if is_duplicate(&e) => match self.active_app_named(name)? {
                Some(_) => Err(Error::AppExists(name.to_owned())),
                None => Err(Error::Corrupt(format!(
                    "duplicate client id {}",
                    app.client_id
                ))),
            },
            Err(e) => Err(e),
        }
    }

    /// Every registration, revoked ones too, by name (then oldest first).
    pub fn apps(&self) -> Result<Vec<AppRegistration>> {
        self.conn
            .query(
                &format!("SELECT {APP_COLUMNS} FROM apps ORDER BY name, created_at, client_id"),
                &[],
            )?
            .iter()
            .map(|row| AppRow::read(row)?.into_registration())
            .collect()
    }

    pub fn app(&self, client_id: &str) -> Result<AppRegistration> {
        let row = self.conn.query_opt(
            &format!("SELECT {APP_COLUMNS} FROM apps WHERE client_id = ?1"),
            &[client_id.into()],
        )?;
        match row {
            Some(row) => AppRow::read(&row)?.into_registration(),
            None => Err(Error::UnknownApp(client_id.to_owned())),
        }
    }

    /// Revokes a registration, named by client id or by the name of an active one; its
    /// secret stops working at once. Revoking a revoked registration is an error, so a
    /// typo'd or stale name does not pass for success.
    pub fn revoke_app(&self, client_id_or_name: &str) -> Result<AppRegistration> {
        let app = match self.app(client_id_or_name) {
            Ok(app) => app,
            Err(Error::UnknownApp(_)) => self.latest_app_named(client_id_or_name)?,
            Err(e) => return Err(e),
        };
        let revoked_at = OffsetDateTime::now_utc();
        let changed = self.conn.execute(
            "UPDATE apps SET revoked_at = ?2 WHERE client_id = ?1 AND revoked_at IS NULL",
            &[
                app.client_id.as_str().into(),
                format_time(revoked_at).into(),
            ],
        )?;
        if changed == 0 {
            return Err(Error::AppRevoked {
                name: app.name,
                client_id: app.client_id,
            });
        }
        self.app(&app.client_id)
    }

    /// Checks client credentials and returns the registration they belong to. An unknown
    /// id, a revoked app and a wrong secret all give `BadCredentials`, and each costs one
    /// argon2 verification, so neither the answer nor its timing tells them apart.
    pub fn authenticate_app(&self, client_id: &str, secret: &str) -> Result<AppRegistration> {
        let found = self.conn.query_opt(
            &format!("SELECT {APP_COLUMNS}, secret_hash FROM apps WHERE client_id = ?1"),
            &[client_id.into()],
        )?;
        let Some(found) = found else {
            secrets::verify(secret, None, "")?;
            return Err(Error::BadCredentials);
        };
        let secret_hash = found.text(7)?;
        let app = AppRow::read(&found)?.into_registration()?;
        if app.public {
            // No secret is right for a public client; the same work as for any other.
            secrets::verify(secret, None, "")?;
            return Err(Error::BadCredentials);
        }
        // Verified before looking at revocation, so a revoked app takes as long as any.
        let whose = format!("app {}", app.client_id);
        match secrets::verify(secret, Some(&secret_hash), &whose)? {
            true if !app.is_revoked() => Ok(app),
            _ => Err(Error::BadCredentials),
        }
    }

    /// The key that signs access tokens: 32 random bytes made on first use and kept in
    /// `settings`, sealed with the secret key (`sealed.rs`), so tokens stay valid across
    /// restarts and a copy of the control plane alone cannot forge one. Two processes
    /// asking first at the same time both end up with the one key that was stored
    /// (insert-or-ignore, then read back). A key sealed with another secret key is an
    /// error, never a reason to make a new one.
    pub fn signing_key(&self) -> Result<Vec<u8>> {
        // Read first, so a missing secret key is reported as such, not replaced.
        if let Some(stored) = self.stored_signing_key()? {
            return self.open_signing_key(stored);
        }
        let candidate = secrets::random_bytes()?;
        let sealed = self.sealer.seal(Purpose::SigningKey, &candidate)?;
        self.conn.execute(
            "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            &[SIGNING_KEY.into(), Value::Blob(sealed.into_bytes())],
        )?;
        let stored = self
            .stored_signing_key()?
            .ok_or_else(|| Error::Corrupt("the token signing key was not kept".into()))?;
        self.open_signing_key(stored)
    }

    /// The ES256 key that signs access tokens, as PKCS#8 DER: a P-256 key made on first
    /// use and kept sealed in `settings`, like the key before it. Its public half is
    /// published (JWKS), so gateways can check tokens without any secret. Racing first
    /// uses end up with the one key stored, and a key sealed under another secret key is
    /// an error, never a reason to make a new one.
    pub fn token_key(&self) -> Result<Vec<u8>> {
        if let Some(stored) = self.stored_setting(TOKEN_KEY)? {
            return self.sealer.open(
                Purpose::TokenKey,
                &sealed_text(stored)?,
                "token signing key",
            );
        }
        // Secrets sealed before this key existed show whether the secret key is the
        // right one: a new key sealed under a wrong one would lock the rest out.
        if let Some(stored) = self.stored_signing_key()? {
            self.open_signing_key(stored)?;
        }
        let candidate = new_p256_key()?;
        let sealed = self.sealer.seal(Purpose::TokenKey, &candidate)?;
        self.conn.execute(
            "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            &[TOKEN_KEY.into(), Value::Blob(sealed.into_bytes())],
        )?;
        let stored = self
            .stored_setting(TOKEN_KEY)?
            .ok_or_else(|| Error::Corrupt("the token signing key was not kept".into()))?;
        self.sealer.open(
            Purpose::TokenKey,
            &sealed_text(stored)?,
            "token signing key",
        )
    }

    /// The signing key from its row: sealed, or (until the next open seals it, see
    /// `seal_plain_signing_key`) in the clear from an older dataalm.
    fn open_signing_key(&self, stored: Vec<u8>) -> Result<Vec<u8>> {
        let key = match sealed::is_sealed(&stored) {
            true => {
                let text = String::from_utf8(stored)
                    .map_err(|_| Error::Corrupt("the encrypted signing key is not text".into()))?;
                self.sealer
                    .open(Purpose::SigningKey, &text, "token signing key")?
            }
            false => stored,
        };
        if key.len() != RANDOM_LEN {
            return Err(Error::Corrupt(format!(
                "the token signing key has {} bytes, not {RANDOM_LEN}",
                key.len()
            )));
        }
        Ok(key)
    }

    /// Encrypts a signing key an older dataalm kept in the clear; the row changes only if
    /// it still holds what was read. Whether it changed.
    pub(crate) fn seal_plain_signing_key(&self) -> Result<bool> {
        let Some(stored) = self.stored_signing_key()? else {
            return Ok(false);
        };
        if sealed::is_sealed(&stored) {
            return Ok(false);
        }
        let sealed = self.sealer.seal(Purpose::SigningKey, &stored)?;
        let changed = self.conn.execute(
            "UPDATE settings SET value = ?3 WHERE key = ?1 AND value = ?2",
            &[
                SIGNING_KEY.into(),
                Value::Blob(stored),
                Value::Blob(sealed.into_bytes()),
            ],
        )?;
        Ok(changed > 0)
    }

    /// The signing key's row as stored: sealed text, or 32 bytes from an older dataalm.
    fn stored_signing_key(&self) -> Result<Option<Vec<u8>>> {
        self.stored_setting(SIGNING_KEY)
    }

    fn stored_setting(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.conn
            .query_opt("SELECT value FROM settings WHERE key = ?1", &[key.into()])?
            .map(|row| row.blob(0))
            .transpose()
    }

    fn active_app_named(&self, name: &str) -> Result<Option<AppRegistration>> {
        self.conn
            .query_opt(
                &format!("SELECT {APP_COLUMNS} FROM apps WHERE name = ?1 AND revoked_at IS NULL"),
                &[name.into()],
            )?
            .map(|row| AppRow::read(&row)?.into_registration())
            .transpose()
    }

    /// The active registration called `name`, else the one revoked last.
    fn latest_app_named(&self, name: &str) -> Result<AppRegistration> {
        let row = self.conn.query_opt(
            &format!(
                "SELECT {APP_COLUMNS} FROM apps WHERE name = ?1
                 ORDER BY revoked_at IS NULL DESC, revoked_at DESC LIMIT 1"
            ),
            &[name.into()],
        )?;
        match row {
            Some(row) => AppRow::read(&row)?.into_registration(),
            None => Err(Error::UnknownApp(name.to_owned())),
        }
    }
}

/// A sealed value's text from its `settings` row.
fn sealed_text(stored: Vec<u8>) -> Result<String> {
    String::from_utf8(stored).map_err(|_| Error::Corrupt("an encrypted setting is not text".into()))
}

/// A new P-256 key as PKCS#8 DER, from the operating system's generator.
fn new_p256_key() -> Result<Vec<u8>> {
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
    let rng = aws_lc_rs::rand::SystemRandom::new();
    EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
        .map(|document| document.as_ref().to_vec())
        .map_err(|e| Error::Random(format!("cannot make a P-256 key: {e}")))
}

/// An `apps` row as stored, before its text columns are parsed.
struct AppRow {
    client_id: String,
    name: String,
    role: String,
    environments: String,
    created_at: String,
    revoked_at: Option<String>,
    client_type: String,
}

impl AppRow {
    /// Reads the columns of `APP_COLUMNS`, in that order.
    fn read(r: &[Value]) -> Result<AppRow> {
        Ok(AppRow {
            client_id: r.text(0)?,
            name: r.text(1)?,
            role: r.text(2)?,
            environments: r.text(3)?,
            created_at: r.text(4)?,
            revoked_at: r.opt_text(5)?,
            client_type: r.text(6)?,
        })
    }

    fn into_registration(self) -> Result<AppRegistration> {
        let damaged = |what: &str, e: &dyn std::fmt::Display| {
            Error::Corrupt(format!("{what} of app {}: {e}", self.client_id))
        };
        let role = self.role.parse().map_err(|e| damaged("role", &e))?;
        let environments =
            from_json(&self.environments).map_err(|e| damaged("environments", &e))?;
        let created_at = OffsetDateTime::parse(&self.created_at, &Rfc3339)
            .map_err(|e| damaged("created_at", &e))?;
        let revoked_at = self
            .revoked_at
            .as_deref()
            .map(|t| OffsetDateTime::parse(t, &Rfc3339))
            .transpose()
            .map_err(|e| damaged("revoked_at", &e))?;
        let public = match self.client_type.as_str() {
            PUBLIC => true,
            CONFIDENTIAL => false,
            other => return Err(damaged("client type", &other)),
        };
        Ok(AppRegistration {
            client_id: self.client_id,
            name: self.name,
            role,
            environments,
            public,
            created_at,
            revoked_at,
        })
    }
}
