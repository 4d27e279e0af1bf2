//! Neutralize: what makes a copy unable to act as production. Users are disabled but the
//! profile's kept accounts, active batch jobs are withheld, and each `[[neutralize]]` table
//! has its rows deleted or columns set, all in one transaction.

use crate::sql::transaction;
use crate::{Result, jobs, users};
use dataalm_core::Profile;
use dataalm_core::profile::NeutralizeSpec;
use dataalm_core::sql::quote_ident;
use dataalm_engine::Database;

/// Neutralizes the database; returns what was done, in words: (what, how much).
pub fn neutralize(db: &mut dyn Database, profile: &Profile) -> Result<Vec<(String, String)>> {
    transaction(db, |db| {
        let mut summary = Vec::new();
        if let Some(spec) = &profile.users {
            let disabled = users::disable_all_but_kept_in(db, spec)?;
            summary.push(("users disabled".to_owned(), disabled.to_string()));
        }
        if let Some(spec) = &profile.batch_jobs {
            let withheld = jobs::withhold_active_in(db, spec)?;
            summary.push(("batch jobs withheld".to_owned(), withheld.to_string()));
        }
        for spec in &profile.neutralize {
            summary.push((spec.table.clone(), apply_spec(db, spec)?));
        }
        Ok(summary)
    })
}

/// Deletes the rows or sets the columns one spec names; says what it did.
fn apply_spec(db: &mut dyn Database, spec: &NeutralizeSpec) -> Result<String> {
    let table = quote_ident(&spec.table);
    if spec.delete {
        let deleted = db.execute(&format!("DELETE FROM {table}"), &[])?;
        return Ok(format!("{deleted} {} deleted", rows(deleted)));
    }
    let dialect = db.dialect();
    let assignments: Vec<String> = spec
        .set
        .keys()
        .enumerate()
        .map(|(i, column)| format!("{} = {}", quote_ident(column), dialect.param(i + 1)))
        .collect();
    let values: Vec<_> = spec.set.values().cloned().collect();
    let query = format!("UPDATE {table} SET {}", assignments.join(", "));
    let updated = db.execute(&query, &values)?;
    let columns: Vec<&str> = spec.set.keys().map(String::as_str).collect();
    Ok(format!(
        "{updated} {} updated ({})",
        rows(updated),
        columns.join(", ")
    ))
}

fn rows(n: u64) -> &'static str {
    if n == 1 { "row" } else { "rows" }
}
