//! People who use the web portal, and their sessions.
//!
//! A person has a name, a role (the API's roles) and a password kept only as an argon2
//! hash. Signing in opens a session: a random token that only the person's browser holds
//! (the control plane keeps its SHA-256 digest) and a CSRF token that every form carries
//! back. Sessions live in the control plane, so servers sharing one share sessions.
//!
//! Admins disable, enable and delete accounts, set passwords and end sessions. Disabling
//! or deleting someone, or setting their password, ends their sessions and refresh
//! tokens (`grants.rs`) at once; the last enabled admin can be neither
//! disabled nor deleted, so the portal always has someone to manage it.

use crate::backend::Cells;
use crate::secrets;
use crate::{Error, Result, Store, check_name, format_time, is_duplicate, millis, now_text};
use dataalm_core::Value;
use dataalm_core::access::Role;
use serde::Serialize;
use std::time::Duration;
use time::OffsetDateTime;

/// Shorter passwords are refused.
pub const MIN_PASSWORD_LEN: usize = 8;

/// A portal account, as shown to admins. It has no password: that exists only as a hash.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Person {
    pub name: String,
    pub role: Role,
    /// A disabled person cannot sign in.
    pub enabled: bool,
}

/// A signed-in person, found from the browser's session token.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub person: Person,
    /// What every form of this session must send back.
    pub csrf: String,
}

impl Store {
    /// Creates a portal account. Refused when the name is taken or will not do, or the
    /// password is too short.
    pub fn create_person(&self, name: &str, role: Role, password: &str) -> Result<Person> {
        check_name(name).map_err(Error::InvalidPerson)?;
        check_password(password)?;
        let hash = secrets::hash(password)?;
        let inserted = self.conn.execute(
            "INSERT INTO people (name, role, password_hash, created_at) VALUES (?1, ?2, ?3, ?4)",
            &[
                name.into(),
                role.as_str().into(),
                hash.into(),
                format_time(OffsetDateTime::now_utc()).into(),
            ],
        );
        match inserted {
            Ok(_) => Ok(Person {
                name: name.to_owned(),
                role,
                enabled: true,
            }),
            Err(e) if is_duplicate(&e) => Err(Error::PersonExists(name.to_owned())),
            Err(e) => Err(e),
        }
    }

    /// Every portal account, by name.
    pub fn people(&self) -> Result<Vec<Person>> {
        self.conn
            .query(
                "SELECT name, role, disabled_at IS NULL FROM people ORDER BY name",
                &[],
            )?
            .iter()
            .map(|row| read_person(row, 0))
            .collect()
    }

    /// Checks a person's password. An unknown name and a wrong password both give
    /// `BadCredentials`, after the same work.
    pub fn authenticate_person(&self, name: &str, password: &str) -> Result<Person> {
        let found = self.conn.query_opt(
            "SELECT name, role, disabled_at IS NULL, password_hash FROM people WHERE name = ?1",
            &[name.into()],
        )?;
        let hash = found.as_ref().map(|row| row.text(3)).transpose()?;
        if !secrets::verify(password, hash.as_deref(), &format!("person {name}"))? {
            return Err(Error::BadCredentials);
        }
        let person = match found {
            Some(row) => read_person(&row, 0)?,
            None => return Err(Error::BadCredentials),
        };
        // Said only to whoever knows the password.
        if !person.enabled {
            return Err(Error::PersonDisabled(person.name));
        }
        Ok(person)
    }

    /// Opens a session for `person` lasting `ttl`; returns the token for the cookie.
    pub fn open_session(&self, person: &Person, ttl: Duration) -> Result<String> {
        let token = secrets::random_token()?;
        self.conn.execute(
            &format!(
                "INSERT INTO sessions (token_hash, person, csrf, expires_ms) VALUES (?1, ?2, ?3, {} + ?4)",
                self.conn.now_ms()
            ),
            &[
                secrets::digest(&token).into(),
                person.name.as_str().into(),
                secrets::random_token()?.into(),
                millis(ttl).into(),
            ],
        )?;
        // Expired sessions are of no use to anyone; this is as good a time as any.
        self.conn.execute(
            &format!(
                "DELETE FROM sessions WHERE expires_ms < {}",
                self.conn.now_ms()
            ),
            &[],
        )?;
        Ok(token)
    }

    /// The live session with this token, if any.
    pub fn session(&self, token: &str) -> Result<Option<Session>> {
        let row = self.conn.query_opt(
            &format!(
                "SELECT p.name, p.role, p.disabled_at IS NULL, s.csrf
                 FROM sessions s JOIN people p ON p.name = s.person
                 WHERE s.token_hash = ?1 AND s.expires_ms > {} AND p.disabled_at IS NULL",
                self.conn.now_ms()
            ),
            &[secrets::digest(token).into()],
        )?;
        row.map(|row| {
            Ok(Session {
                person: read_person(&row, 0)?,
                csrf: row.text(3)?,
            })
        })
        .transpose()
    }

    /// One account by name.
    pub fn person(&self, name: &str) -> Result<Person> {
        self.conn
            .query_opt(
                "SELECT name, role, disabled_at IS NULL FROM people WHERE name = ?1",
                &[name.into()],
            )?
            .map(|row| read_person(&row, 0))
            .transpose()?
            .ok_or_else(|| Error::UnknownPerson(name.to_owned()))
    }

    /// Disables an account and ends its sessions, or enables it again. Refused for the
    /// last enabled admin.
    pub fn set_person_enabled(&self, name: &str, enabled: bool) -> Result<Person> {
        self.conn.transaction(|conn| {
            let person = self.person(name)?;
            if !enabled {
                self.refuse_last_admin(&person)?;
                conn.execute(
                    "UPDATE people SET disabled_at = ?2 WHERE name = ?1 AND disabled_at IS NULL",
                    &[name.into(), now_text().into()],
                )?;
                end_sign_ins(conn, name)?;
            } else {
                conn.execute(
                    "UPDATE people SET disabled_at = NULL WHERE name = ?1",
                    &[name.into()],
                )?;
            }
            Ok(Person { enabled, ..person })
        })
    }

    /// Deletes an account and its sessions. Refused for the last enabled admin.
    pub fn delete_person(&self, name: &str) -> Result<()> {
        self.conn.transaction(|conn| {
            let person = self.person(name)?;
            self.refuse_last_admin(&person)?;
            end_sign_ins(conn, name)?;
            conn.execute("DELETE FROM people WHERE name = ?1", &[name.into()])?;
            Ok(())
        })
    }

    /// Sets a new password; the account's sessions end, so whoever had the old one is
    /// signed out.
    pub fn set_person_password(&self, name: &str, password: &str) -> Result<()> {
        check_password(password)?;
        let hash = secrets::hash(password)?;
        self.conn.transaction(|conn| {
            self.person(name)?;
            conn.execute(
                "UPDATE people SET password_hash = ?2 WHERE name = ?1",
                &[name.into(), hash.into()],
            )?;
            end_sign_ins(conn, name)?;
            Ok(())
        })
    }

    /// Ends every session of an account; returns how many there were.
    pub fn end_sessions(&self, name: &str) -> Result<u64> {
        self.person(name)?;
        self.conn
            .execute("DELETE FROM sessions WHERE person = ?1", &[name.into()])
    }

    /// Refuses to take away the last enabled admin. Runs in the caller's transaction; on
    /// PostgreSQL the admins' rows stay locked to its end, so two admins disabling each
    /// other at once cannot both succeed.
    fn refuse_last_admin(&self, person: &Person) -> Result<()> {
        if person.role != Role::Admin || !person.enabled {
            return Ok(());
        }
        let admins = self.conn.query(
            &format!(
                "SELECT name FROM people WHERE role = ?1 AND disabled_at IS NULL{}",
                self.conn.for_update()
            ),
            &[Role::Admin.as_str().into()],
        )?;
        if admins.len() <= 1 {
            return Err(Error::LastAdmin(person.name.clone()));
        }
        Ok(())
    }

    /// Ends a session (sign-out); nothing if there is none.
    pub fn close_session(&self, token: &str) -> Result<()> {
        self.conn.execute(
            "DELETE FROM sessions WHERE token_hash = ?1",
            &[secrets::digest(token).into()],
        )?;
        Ok(())
    }
}

/// Ends a person's sessions and refresh tokens: what disabling, deleting or a new
/// password must take away.
fn end_sign_ins(conn: &crate::backend::Conn, name: &str) -> Result<()> {
    conn.execute("DELETE FROM sessions WHERE person = ?1", &[name.into()])?;
    conn.execute(
        "DELETE FROM refresh_tokens WHERE person = ?1",
        &[name.into()],
    )?;
    Ok(())
}

/// A person from columns `at` (name), `at + 1` (role) and `at + 2` (enabled, 0 or 1).
fn read_person(row: &[Value], at: usize) -> Result<Person> {
    let name = row.text(at)?;
    let role = row
        .text(at + 1)?
        .parse()
        .map_err(|e| Error::Corrupt(format!("role of person {name}: {e}")))?;
    let enabled = enabled_cell(row.get(at + 2))
        .ok_or_else(|| Error::Corrupt(format!("enabled flag of person {name}")))?;
    Ok(Person {
        name,
        role,
        enabled,
    })
}

/// `disabled_at IS NULL`: an integer on SQLite, a boolean on PostgreSQL.
fn enabled_cell(cell: Option<&Value>) -> Option<bool> {
    match cell? {
        Value::Bool(b) => Some(*b),
        Value::Int(n) => Some(*n != 0),
        _ => None,
    }
}

fn check_password(password: &str) -> Result<()> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(Error::InvalidPerson(format!(
            "the password is shorter than {MIN_PASSWORD_LEN} characters"
        )));
    }
    Ok(())
}
