//! Recognising a database by what it is, not by how its location is written, so that
//! production cannot become a target under another name.

use crate::{Error, Result};
use dataalm_core::{EnvKind, Environment, Location};
use dataalm_engine::Identity;
use dataalm_store::Store;
use std::path::{Path, PathBuf};

/// The identity of `env`'s database, or `None` while it cannot be reached.
pub fn of(env: &Environment) -> Option<Identity> {
    dataalm_engine::engine_for(&env.location)
        .and_then(|engine| engine.probe(&env.location))
        .ok()
        .map(|info| info.identity)
}

/// Refuses `env` when a registered environment of another name (of `kind`, or of any
/// kind when `None`) is the same database as `identity`.
pub fn refuse_alias(
    store: &Store,
    env: &Environment,
    identity: &Identity,
    kind: Option<EnvKind>,
) -> Result<()> {
    for other in store.envs()? {
        if other.name == env.name || kind.is_some_and(|k| k != other.kind) {
            continue;
        }
        if same_engine(&other.location, &env.location) && of(&other).as_ref() == Some(identity) {
            return Err(Error::SameDatabase {
                env: env.name.clone(),
                other: other.name,
                other_kind: other.kind,
            });
        }
    }
    Ok(())
}

fn same_engine(a: &Location, b: &Location) -> bool {
    a.engine_name() == b.engine_name()
}

/// A SQLite file's path with `.`, `..` and symbolic links resolved: the file it names
/// when it exists, else the name inside its (resolved) directory.
pub fn canonical_file(path: &Path) -> std::io::Result<PathBuf> {
    let absolute = std::path::absolute(path)?;
    if let Ok(real) = std::fs::canonicalize(&absolute) {
        return Ok(real);
    }
    match (absolute.parent(), absolute.file_name()) {
        (Some(dir), Some(name)) => Ok(std::fs::canonicalize(dir)?.join(name)),
        _ => Ok(absolute),
    }
}
