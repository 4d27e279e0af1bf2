//! What a masked refresh needs besides the engine's copy: the target's key with the
//! profile's rules, and, before anything is recorded, the check that no column looking
//! personal would be copied raw without the profile saying so (fail closed).

use super::Ends;
use crate::Result;
use dataalm_core::profile::ProfileError;
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
            let why = match (name_looks_personal(column), content) {
                (Some(word), _) => format!("name: {word}"),
                (None, Some(shape)) => format!("content: {shape}"),
                (None, None) => continue,
            };
            found.push(format!("{table}.{column} ({why})"));
        }
    }
    if found.is_empty() {
        return Ok(());
    }
    Err(ProfileError::Unmasked {
        profile: profile.name.clone(),
        columns: found,
    }
    .into())
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
