//! What masking needs besides the engine's copy: the target's key with the profile's
//! rules; before a masked refresh is recorded, the check that no column looking personal
//! would be copied raw without the profile saying so (fail closed); and [`scan`], the
//! rules an application would need (for `dataalm mask scan`).

use crate::refresh::Ends;
use crate::{EnvDb, Result};
use dataalm_core::profile::{MaskWith, ProfileError};
use dataalm_core::schema::Schema;
use dataalm_core::sql::quote_ident;
use dataalm_core::{Profile, Value};
use dataalm_engine::{Database, MaskSet};
use dataalm_mask::{MaskKey, content_looks_personal, name_looks_personal};
use dataalm_store::Store;

/// Rows of each table whose values are looked at for e-mail and IBAN shapes.
const SAMPLE_ROWS: usize = 50;

/// The rules of the target's profile under the target's key (made on first use); none
/// when the profile masks nothing.
pub(crate) fn mask_set(store: &Store, ends: &Ends) -> Result<Option<MaskSet>> {
    if ends.profile.mask.is_empty() {
        return Ok(None);
    }
    let key = store.mask_key(&ends.target.name)?;
    let key = MaskKey::from_bytes(&key).map_err(dataalm_engine::Error::from)?;
    Ok(Some(MaskSet::new(ends.profile.mask.clone(), &key)))
}

/// Refuses a masked refresh of a source with personal-looking columns (by name, or by a
/// sample of e-mail or IBAN values) that have no rule and are not in `unmasked`.
/// A profile without rules copies as it always did.
pub(crate) fn check_unruled(
    db: &mut dyn Database,
    schema: &Schema,
    profile: &Profile,
) -> Result<()> {
    if profile.mask.is_empty() {
        return Ok(());
    }
    let found: Vec<String> = unruled(db, schema, profile)?
        .iter()
        .map(|s| format!("{}.{} ({})", s.table, s.column, s.why))
        .collect();
    if found.is_empty() {
        return Ok(());
    }
    Err(ProfileError::Unmasked {
        profile: profile.name.clone(),
        columns: found,
    }
    .into())
}

/// A column that looks personal and has no rule: the rule it would take, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suggestion {
    pub table: String,
    pub column: String,
    pub with: MaskWith,
    /// `name: email`, `content: IBAN`.
    pub why: String,
}

/// The `[[mask]]` rules environment `env`'s database would need under its profile: each
/// column that looks personal, has no rule and is not accepted as `unmasked`. Reads a
/// small sample of each table; changes nothing. For `dataalm mask scan`.
pub fn scan(store: &Store, env: &str) -> Result<Vec<Suggestion>> {
    let env = store.env(env)?;
    let mut db = EnvDb::open(store, &env, true)?;
    let schema = db.db().schema()?;
    let profile = db.profile.clone();
    unruled(db.db(), &schema, &profile)
}

fn unruled(db: &mut dyn Database, schema: &Schema, profile: &Profile) -> Result<Vec<Suggestion>> {
    let mut found = Vec::new();
    for table in schema.tables() {
        let open: Vec<&String> = schema
            .columns(table)
            .unwrap_or_default()
            .iter()
            .filter(|c| profile.mask_of(table, c).is_none() && !profile.accepts_unmasked(table, c))
            .collect();
        if open.is_empty() {
            continue;
        }
        let by_content = sample_shapes(db, table, &open)?;
        for (column, content) in open.iter().zip(by_content) {
            let (why, with) = match (name_looks_personal(column), content) {
                (Some(word), _) => (format!("name: {word}"), transformer_for(word)),
                (None, Some(shape)) => (format!("content: {shape}"), transformer_for(shape)),
                (None, None) => continue,
            };
            found.push(Suggestion {
                table: table.to_owned(),
                column: (*column).clone(),
                with,
                why,
            });
        }
    }
    Ok(found)
}

/// The transformer that keeps what the detected word or shape suggests the column holds.
fn transformer_for(hint: &str) -> MaskWith {
    match hint {
        "email" | "mail" | "e-mail" => MaskWith::Email,
        "phone" | "mobile" => MaskWith::Phone,
        "name" => MaskWith::Name,
        "birth" => MaskWith::DateShift,
        // Streets, addresses, bank accounts, IBANs, tax and passport numbers: same
        // length and look, other letters and digits.
        _ => MaskWith::Text,
    }
}

/// For each of `columns`, the personal shape seen in a sample of its text values, if any.
/// Only the shape's name is kept: never a value.
fn sample_shapes(
    db: &mut dyn Database,
    table: &str,
    columns: &[&String],
) -> Result<Vec<Option<&'static str>>> {
    let list: Vec<String> = columns.iter().map(|c| quote_ident(c)).collect();
    let sql = format!(
        "SELECT {} FROM {} LIMIT {SAMPLE_ROWS}",
        list.join(", "),
        quote_ident(table)
    );
    let rows = db.query(&sql, &[])?;
    let mut shapes = vec![None; columns.len()];
    for row in &rows.rows {
        for (slot, value) in shapes.iter_mut().zip(row) {
            if let (None, Value::Text(text)) = (&slot, value) {
                *slot = content_looks_personal(text);
            }
        }
    }
    Ok(shapes)
}

/// What [`check`] found in one masked column of a sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Survivors {
    pub table: String,
    pub column: String,
    /// Values of the source's column that were looked for (a sample for big tables).
    pub sampled: u64,
    /// How many of them the sandbox's column still holds.
    pub surviving: u64,
}

/// Checks a masked sandbox against its source (for `dataalm mask check`): per masked
/// column of `target`'s profile, up to `sample` of the source's values, drawn at random,
/// are looked up in the sandbox's column. Any found is a raw value that survived. `date_shift` columns
/// are left out: shifted dates are other real dates, so a match says nothing. A `phone`
/// pseudonym may, rarely, equal another row's raw number. Reads only.
pub fn check(store: &Store, source: &str, target: &str, sample: usize) -> Result<Vec<Survivors>> {
    let target_env = store.env(target)?;
    let mut sandbox = EnvDb::open(store, &target_env, true)?;
    let profile = sandbox.profile.clone();
    let mut origin = EnvDb::with_profile(&store.env(source)?, profile.clone(), true)?;
    let mut found = Vec::new();
    for rule in profile
        .mask
        .iter()
        .filter(|r| r.with != MaskWith::DateShift)
    {
        let (table, column) = (quote_ident(&rule.table), quote_ident(&rule.column));
        let draw = format!(
            "SELECT {column} FROM {table} WHERE {column} IS NOT NULL \
             ORDER BY random() LIMIT {sample}"
        );
        let values = origin.db().query(&draw, &[])?;
        let lookup = format!(
            "SELECT 1 FROM {table} WHERE {column} = {} LIMIT 1",
            sandbox.db().dialect().param(1)
        );
        let mut surviving = 0u64;
        for row in &values.rows {
            let Some(value) = row.first() else { continue };
            if !sandbox
                .db()
                .query(&lookup, std::slice::from_ref(value))?
                .rows
                .is_empty()
            {
                surviving += 1;
            }
        }
        found.push(Survivors {
            table: rule.table.clone(),
            column: rule.column.clone(),
            sampled: values.rows.len() as u64,
            surviving,
        });
    }
    Ok(found)
}
