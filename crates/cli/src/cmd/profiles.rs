//! `dataalm profile add|list|show`: application profiles registered in the control plane.

use crate::cli::ProfileCommand;
use crate::output;
use anyhow::Result;
use dataalm_ops::Actor;
use dataalm_store::{Registered, Store};
use std::path::Path;

pub fn run(store: &Store, cmd: ProfileCommand) -> Result<()> {
    match cmd {
        ProfileCommand::Add { name, file } => {
            register_file(store, &name, &file)?;
            Ok(())
        }
        ProfileCommand::List { json } => list(store, json),
        ProfileCommand::Show { name } => {
            out!("{}", store.stored_profile(&name)?.text);
            Ok(())
        }
    }
}

/// Registers the profile in `file` as `name` (audited), and points environments that an
/// older dataalm left naming that file at it.
pub fn register_file(store: &Store, name: &str, file: &Path) -> Result<()> {
    let text = dataalm_store::read_profile_file(file)?;
    let origin = file.display().to_string();
    let actor = Actor::local();
    let registered = store.register_profile(name, &text, &origin, &actor.0)?;
    match registered {
        Registered::Added => {
            store.audit(
                &actor.0,
                "profile add",
                None,
                &format!("{name} from {origin}"),
            )?;
            outln!("registered profile `{name}` from {origin}");
        }
        Registered::AlreadyThere => outln!("profile `{name}` is already registered as {origin}"),
    }
    if let Ok(absolute) = std::path::absolute(file) {
        for env in store.adopt_profile_file(&absolute.display().to_string(), name)? {
            outln!("environment `{env}` now uses profile `{name}`");
        }
    }
    Ok(())
}

fn list(store: &Store, json: bool) -> Result<()> {
    let profiles = store.stored_profiles()?;
    if json {
        return output::json(&profiles);
    }
    let rows: Vec<Vec<String>> = profiles
        .iter()
        .map(|p| {
            vec![
                p.name.clone(),
                p.added_at.clone().unwrap_or_else(|| "built in".into()),
                p.added_by.clone().unwrap_or_default(),
                p.sha256.chars().take(12).collect(),
            ]
        })
        .collect();
    output::table(&["name", "added", "by", "sha256"], &rows);
    Ok(())
}
