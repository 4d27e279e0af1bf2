//! The users of an application: list them, find them by id or e-mail, enable or disable
//! them, and the Neutralize rule (everyone disabled but the profile's `keep_enabled`).
//!
//! Users are read whole and matched here rather than in SQL, so ids keep the type the
//! database gave them when they go back as parameters (an integer id stays an integer on
//! PostgreSQL) and no user input ever reaches SQL text.

use crate::sql::{self, transaction};
use crate::{Error, Result, section};
use dataalm_core::profile::UsersSpec;
use dataalm_core::sql::quote_ident;
use dataalm_core::{Profile, Value};
use dataalm_engine::Database;

/// One user as the application holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub name: Option<String>,
    /// Empty when the database holds none.
    pub email: String,
    pub enabled: bool,
}

/// Which users [`list`] returns; the default is everyone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserFilter {
    pub enabled: Option<bool>,
    /// A piece of the id, name or e-mail, case-insensitively.
    pub search: Option<String>,
}

/// What [`set_enabled`] did: ids it changed and ids that were already as asked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsersChanged {
    pub changed: Vec<String>,
    pub already: Vec<String>,
}

/// A user and the id value as stored.
pub(crate) struct Stored {
    pub key: Value,
    pub user: User,
}

/// Users in id order, filtered.
pub fn list(db: &mut dyn Database, profile: &Profile, filter: &UserFilter) -> Result<Vec<User>> {
    let spec = section(profile, &profile.users, "users")?;
    let needle = filter.search.as_deref().map(str::to_lowercase);
    let users = load(db, spec)?
        .into_iter()
        .map(|stored| stored.user)
        .filter(|user| filter.enabled.is_none_or(|enabled| user.enabled == enabled))
        .filter(|user| needle.as_deref().is_none_or(|n| matches_search(user, n)))
        .collect();
    Ok(users)
}

fn matches_search(user: &User, needle: &str) -> bool {
    let name = user.name.as_deref().unwrap_or_default();
    [user.id.as_str(), name, user.email.as_str()]
        .iter()
        .any(|field| field.to_lowercase().contains(needle))
}

/// The ids of the users named by id (exactly) or e-mail (case-insensitively), in the
/// order given, each once. Unknown ones are an error naming every one of them.
pub fn resolve(
    db: &mut dyn Database,
    profile: &Profile,
    ids_or_emails: &[String],
) -> Result<Vec<String>> {
    let spec = section(profile, &profile.users, "users")?;
    let stored = load(db, spec)?;
    let found = find(&stored, ids_or_emails)?;
    Ok(found.iter().map(|s| s.user.id.clone()).collect())
}

/// Enables or disables the users named by id or e-mail, all or none: when any one is
/// unknown, nothing changes.
pub fn set_enabled(
    db: &mut dyn Database,
    profile: &Profile,
    ids_or_emails: &[String],
    enabled: bool,
) -> Result<UsersChanged> {
    let spec = section(profile, &profile.users, "users")?;
    transaction(db, |db| set_enabled_in(db, spec, ids_or_emails, enabled))
}

/// [`set_enabled`] inside a transaction the caller holds.
pub(crate) fn set_enabled_in(
    db: &mut dyn Database,
    spec: &UsersSpec,
    ids_or_emails: &[String],
    enabled: bool,
) -> Result<UsersChanged> {
    let stored = load(db, spec)?;
    let found = find(&stored, ids_or_emails)?;
    let mut result = UsersChanged::default();
    for user in found {
        if user.user.enabled == enabled {
            result.already.push(user.user.id.clone());
            continue;
        }
        write_enabled(db, spec, &user.key, enabled)?;
        result.changed.push(user.user.id.clone());
    }
    Ok(result)
}

/// Neutralize: disables every user but the profile's `keep_enabled` ones, and enables those
/// if they were disabled. Returns how many users were disabled.
pub fn disable_all_but_kept(db: &mut dyn Database, profile: &Profile) -> Result<u64> {
    let spec = section(profile, &profile.users, "users")?;
    transaction(db, |db| disable_all_but_kept_in(db, spec))
}

/// [`disable_all_but_kept`] inside a transaction the caller holds.
pub(crate) fn disable_all_but_kept_in(db: &mut dyn Database, spec: &UsersSpec) -> Result<u64> {
    let stored = load(db, spec)?;
    // A kept account missing from this database is nothing to keep, not an error.
    let kept: Vec<&Stored> = stored
        .iter()
        .filter(|s| spec.keep_enabled.iter().any(|k| is_named(s, k)))
        .collect();
    let dialect = db.dialect();
    let mut sql = format!(
        "UPDATE {table} SET {enabled} = {p1} WHERE ({enabled} IS NULL OR {enabled} <> {p1})",
        table = quote_ident(&spec.table),
        enabled = quote_ident(&spec.enabled),
        p1 = dialect.param(1),
    );
    let mut params = vec![spec.disabled_value.clone()];
    if !kept.is_empty() {
        sql.push_str(&format!(
            " AND {} NOT IN ({})",
            quote_ident(&spec.id),
            dialect.params(2, kept.len())
        ));
        params.extend(kept.iter().map(|s| s.key.clone()));
    }
    let disabled = db.execute(&sql, &params)?;
    for user in kept.iter().filter(|s| !s.user.enabled) {
        write_enabled(db, spec, &user.key, true)?;
    }
    Ok(disabled)
}

pub(crate) fn write_enabled(
    db: &mut dyn Database,
    spec: &UsersSpec,
    key: &Value,
    enabled: bool,
) -> Result<()> {
    let value = if enabled {
        &spec.enabled_value
    } else {
        &spec.disabled_value
    };
    sql::update_one(db, &spec.table, &spec.enabled, value, &spec.id, key)?;
    Ok(())
}

/// Every user, in id order.
pub(crate) fn load(db: &mut dyn Database, spec: &UsersSpec) -> Result<Vec<Stored>> {
    let mut columns = vec![spec.id.as_str(), spec.email.as_str(), spec.enabled.as_str()];
    columns.extend(spec.name.as_deref());
    let query = sql::select_ordered(&spec.table, &columns, &spec.id);
    let rows = db.query(&query, &[])?;
    let stored = rows
        .rows
        .into_iter()
        .map(|row| {
            let cell = |i: usize| row.get(i).cloned().unwrap_or(Value::Null);
            let key = cell(0);
            let user = User {
                id: sql::text(&key),
                email: sql::text(&cell(1)),
                enabled: cell(2).same_as(&spec.enabled_value),
                name: spec.name.as_ref().and_then(|_| sql::opt_text(&cell(3))),
            };
            Stored { key, user }
        })
        .collect();
    Ok(stored)
}

/// True when `wanted` is the user's id, or e-mail in any case.
fn is_named(stored: &Stored, wanted: &str) -> bool {
    let wanted = wanted.trim();
    stored.user.id == wanted
        || (!stored.user.email.is_empty()
            && stored.user.email.to_lowercase() == wanted.to_lowercase())
}

/// The users named, in the order given, each once; blank names are skipped.
pub(crate) fn find<'a>(stored: &'a [Stored], ids_or_emails: &[String]) -> Result<Vec<&'a Stored>> {
    let mut found: Vec<&Stored> = Vec::new();
    let mut unknown: Vec<String> = Vec::new();
    for wanted in ids_or_emails.iter().filter(|w| !w.trim().is_empty()) {
        // An exact id wins over an e-mail that happens to look like it.
        let by_id = stored.iter().find(|s| s.user.id == wanted.trim());
        match by_id.or_else(|| stored.iter().find(|s| is_named(s, wanted))) {
            Some(user) if found.iter().any(|f| f.user.id == user.user.id) => {}
            Some(user) => found.push(user),
            None if unknown.contains(wanted) => {}
            None => unknown.push(wanted.clone()),
        }
    }
    if unknown.is_empty() {
        Ok(found)
    } else {
        Err(Error::UnknownUsers(unknown))
    }
}
