//! `dataalm env ...`: register environments.

use super::profiles;
use crate::cli::{EnvAddArgs, EnvCommand, EnvSetArgs};
use crate::output;
use anyhow::{Context, Result, anyhow};
use dataalm_core::profile::check_profile_name;
use dataalm_ops::Actor;
use dataalm_ops::actions::{self, EnvChanges, NewEnvironment, environment_view as shown};
use dataalm_store::Store;
use serde_json::json;
use std::path::Path;

pub fn run(store: &Store, cmd: EnvCommand) -> Result<()> {
    match cmd {
        EnvCommand::Add(args) => add(store, args),
        EnvCommand::List { json } => list(store, json),
        EnvCommand::Show { name, json } => show(store, &name, json),
        EnvCommand::Set(args) => set(store, args),
        EnvCommand::Remove { name } => {
            store.remove_env(&name)?;
            store.audit(
                &dataalm_ops::Actor::local().0,
                "env remove",
                Some(&name),
                "ok",
            )?;
            outln!("removed environment `{name}` (its database is untouched)");
            Ok(())
        }
    }
}

fn add(store: &Store, args: EnvAddArgs) -> Result<()> {
    let profile = profile_name(store, &args.profile)?;
    let new = NewEnvironment {
        name: args.name,
        kind: args.kind,
        sqlite: args.sqlite,
        postgres: args.postgres,
        profile: Some(profile),
        url: args.url,
    };
    let (env, unreachable) = actions::add_environment(store, &Actor::local(), new)?;
    if let Some(reason) = unreachable {
        eprintln!("warning: {reason}; the environment is added anyway, check it before a refresh");
    }
    outln!(
        "added {} environment `{}` ({} at {}, profile {})",
        env.kind,
        env.name,
        env.location.engine_name(),
        env.location.redacted(),
        env.profile
    );
    Ok(())
}

fn set(store: &Store, args: EnvSetArgs) -> Result<()> {
    let name = args.name.clone();
    let rotate = args.rotate_mask_key;
    let settings_changed = args.kind.is_some()
        || args.sqlite.is_some()
        || args.postgres.is_some()
        || args.profile.is_some()
        || args.url.is_some()
        || args.throttle.is_some()
        || args.time_zone.is_some();
    if settings_changed || !rotate {
        change_settings(store, args)?;
    }
    if rotate {
        // An unknown name is refused as such, not as an environment without a key.
        store.env(&name)?;
        let had_key = actions::rotate_mask_key(store, &Actor::local(), &name)
            .with_context(|| format!("rotating the mask key of `{name}`"))?;
        if had_key {
            outln!(
                "mask key of `{name}` rotated: its next refresh masks with a new key, so every \
                 masked value gets a new pseudonym"
            );
        } else {
            outln!("`{name}` has no mask key yet: its next masked refresh makes one");
        }
    }
    Ok(())
}

fn change_settings(store: &Store, args: EnvSetArgs) -> Result<()> {
    let profile = args
        .profile
        .map(|profile| profile_name(store, &profile))
        .transpose()?;
    let changes = EnvChanges {
        kind: args.kind,
        sqlite: args.sqlite,
        postgres: args.postgres,
        profile,
        url: args.url,
        throttle: args.throttle,
        time_zone: args.time_zone,
    };
    let (env, unreachable) =
        actions::update_environment(store, &Actor::local(), &args.name, changes)?;
    if let Some(reason) = unreachable {
        eprintln!(
            "warning: {reason}; the environment is changed anyway, check it before a refresh"
        );
    }
    outln!("changed environment `{}`", env.name);
    print_settings(&env);
    Ok(())
}

/// The settings `env set` changes, as `env show` prints them.
fn print_settings(env: &dataalm_core::Environment) {
    let throttle = env
        .settings
        .throttle
        .map_or_else(|| "off".to_owned(), |t| t.to_string());
    outln!("throttle: {throttle}");
    outln!(
        "time zone: {}",
        env.settings
            .time_zone
            .as_deref()
            .unwrap_or(dataalm_core::zone::DEFAULT)
    );
}

/// The profile `--profile` means: a name as given, or a file, registered under its stem
/// (refused when another profile has that name).
fn profile_name(store: &Store, name_or_file: &str) -> Result<String> {
    if check_profile_name(name_or_file).is_ok() {
        return Ok(name_or_file.to_owned());
    }
    let file = Path::new(name_or_file);
    let stem = file
        .file_stem()
        .and_then(|s| s.to_str())
        .with_context(|| format!("--profile {name_or_file}: no file name to name it by"))?;
    check_profile_name(stem).map_err(|e| {
        anyhow!("--profile {name_or_file}: {e}; register it under a name with `dataalm profile add NAME FILE`")
    })?;
    profiles::register_file(store, stem, file)
        .with_context(|| format!("--profile {name_or_file}"))?;
    Ok(stem.to_owned())
}

fn list(store: &Store, json: bool) -> Result<()> {
    let envs = store.envs()?;
    if json {
        return output::json(&envs.iter().map(shown).collect::<Vec<_>>());
    }
    let rows: Vec<Vec<String>> = envs
        .iter()
        .map(|e| {
            let last = store
                .latest_operation(&e.name)
                .ok()
                .flatten()
                .map(|op| format!("{} {}", op.id, dataalm_ops::refresh::display_state(&op)))
                .unwrap_or_else(|| "-".into());
            vec![
                e.name.clone(),
                e.kind.to_string(),
                e.location.engine_name().to_owned(),
                e.profile.clone(),
                e.location.redacted(),
                last,
            ]
        })
        .collect();
    output::table(
        &[
            "name",
            "kind",
            "engine",
            "profile",
            "location",
            "last refresh",
        ],
        &rows,
    );
    Ok(())
}

fn show(store: &Store, name: &str, json: bool) -> Result<()> {
    let env = store.env(name)?;
    let plan = store.plan(name)?;
    if json {
        let mut value = shown(&env);
        value["plan"] = json!(plan.is_some());
        return output::json(&value);
    }
    outln!("name:     {}", env.name);
    outln!("id:       {}", env.settings.id);
    outln!("kind:     {}", env.kind);
    outln!("engine:   {}", env.location.engine_name());
    outln!("location: {}", env.location.redacted());
    outln!("profile:  {}", env.profile);
    if let Some(url) = &env.url {
        outln!("url:      {url}");
    }
    outln!(
        "plan:     {}",
        if plan.is_some() {
            "set (dataalm plan show)"
        } else {
            "none"
        }
    );
    print_settings(&env);
    Ok(())
}
