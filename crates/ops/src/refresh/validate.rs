//! Step 1, Validate: both ends reachable, target not production, profile matching both
//! databases, a plan that parses, room for the staging copy.
//!
//! A busy target is refused by the control plane when the operation is recorded (an
//! index allows one active operation per target), which no race can get around.

use super::Outcome;
use crate::{EnvDb, Error, Result};
use dataalm_core::profile::ProfileError;
use dataalm_core::{CopyOptions, EnvKind, Operation, Plan};
use dataalm_store::Store;

/// What validation found out.
pub struct Checked {
    pub source_bytes: u64,
    /// Columns that look personal, have no mask rule and were let through once.
    pub allowed_unmasked: Vec<String>,
    pub(crate) outcome: Outcome,
}

/// Checks that `target` may be refreshed from `source` with `copy`. Changes nothing.
pub fn preflight(store: &Store, source: &str, target: &str, copy: &CopyOptions) -> Result<Checked> {
    preflight_masked(store, source, target, copy, false)
}

/// As [`preflight`]; with `allow_unmasked`, columns that look personal and have no mask
/// rule do not stop a masked refresh: they are named in the outcome instead.
pub fn preflight_masked(
    store: &Store,
    source: &str,
    target: &str,
    copy: &CopyOptions,
    allow_unmasked: bool,
) -> Result<Checked> {
    let source_env = store.env(source)?;
    let target_env = store.env(target)?;
    if target_env.kind == EnvKind::Production {
        return Err(Error::ProductionTarget(target_env.name));
    }
    if source_env.name == target_env.name || source_env.location == target_env.location {
        return Err(Error::SameEnvironment(target_env.name));
    }
    if source_env.location.engine_name() != target_env.location.engine_name() {
        return Err(Error::EngineMismatch {
            source_env: source_env.name,
            source_engine: source_env.location.engine_name().into(),
            target: target_env.name,
            target_engine: target_env.location.engine_name().into(),
        });
    }
    let engine = dataalm_engine::engine_for(&target_env.location)?;
    let source_info = engine.probe(&source_env.location)?;
    let target_info = engine.probe(&target_env.location)?;
    if source_info.identity == target_info.identity {
        return Err(Error::SameDatabase {
            env: target_env.name,
            other: source_env.name,
            other_kind: source_env.kind,
        });
    }
    let production = Some(EnvKind::Production);
    crate::identity::refuse_alias(store, &target_env, &target_info.identity, production)?;
    engine.check_refresh(&source_env.location, &target_env.location)?;
    engine.check_copy(&source_env.location, copy)?;

    // The copy gets the target's profile applied, so it must fit both databases.
    let profile = store.load_profile(&target_env.profile)?;
    let mut source_db = EnvDb::with_profile(&source_env, profile.clone(), true)?;
    let mut target_db = EnvDb::with_profile(&target_env, profile, false)?;
    let source_schema = source_db.db().schema()?;
    let target_schema = target_db.db().schema()?;
    target_db.profile.validate(&source_schema)?;
    target_db.profile.validate(&target_schema)?;
    let unruled = crate::masking::check_unruled(source_db.db(), &source_schema, &target_db.profile);
    let allowed_unmasked = match unruled {
        Err(Error::Profile(ProfileError::Unmasked { columns, .. })) if allow_unmasked => columns,
        other => other.map(|()| Vec::new())?,
    };
    let allowed = match allowed_unmasked.is_empty() {
        true => String::new(),
        false => format!("; allowed unmasked once: {}", allowed_unmasked.join(", ")),
    };
    // The source must not stay open: closing a descriptor drops SQLite's locks on it.
    drop(source_db);
    if let Some(text) = store.plan(target)? {
        Plan::parse(&text, &format!("of environment `{target}`"))?;
    }
    engine.check_space(&target_env.location, source_info.size_bytes)?;

    Ok(Checked {
        source_bytes: source_info.size_bytes,
        allowed_unmasked,
        outcome: Outcome::said(format!(
            "{} ({}, {}) -> {} ({}); profile `{}` matches both{}{allowed}",
            source_env.name,
            source_env.location.engine_name(),
            human_bytes(source_info.size_bytes),
            target_env.name,
            target_env.kind,
            target_db.profile.name,
            match target_db.profile.mask.len() {
                0 => String::new(),
                n => format!("; {n} columns will be masked"),
            }
        )),
    })
}

/// Validate as a journaled step (only reached if an operation was recorded without it).
pub(crate) fn run(store: &Store, op: &Operation) -> Result<Checked> {
    preflight_masked(
        store,
        &op.source,
        &op.target,
        &op.data.copy,
        op.data.allow_unmasked,
    )
}

/// `1.2 GB`, `340 MB`, `12 kB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}
