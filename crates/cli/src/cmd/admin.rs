//! `dataalm admin ...`: the people who may sign in to the web portal, and their accounts.

use crate::cli::AdminCommand;
use crate::output;
use anyhow::{Context, Result};
use dataalm_core::access::Role;
use dataalm_store::Store;

pub fn run(store: &Store, cmd: AdminCommand) -> Result<()> {
    match cmd {
        AdminCommand::CreateUser { name, role } => {
            let role: Role = role.parse().map_err(anyhow::Error::msg)?;
            let password = read_password(&name)?;
            let person = store.create_person(&name, role, &password)?;
            store.audit(
                &dataalm_ops::Actor::local().0,
                "portal account create",
                None,
                &format!("{} as {role}", person.name),
            )?;
            outln!("created portal account `{}` as {role}", person.name);
            Ok(())
        }
        AdminCommand::ListUsers { json } => {
            let people = store.people()?;
            if json {
                return output::json(&people);
            }
            let rows: Vec<Vec<String>> = people
                .iter()
                .map(|p| {
                    let state = if p.enabled { "enabled" } else { "disabled" };
                    vec![p.name.clone(), p.role.to_string(), state.into()]
                })
                .collect();
            output::table(&["name", "role", "state"], &rows);
            Ok(())
        }
        AdminCommand::DisableUser { name } => {
            store.set_person_enabled(&name, false)?;
            audited(store, "portal account disable", &name)?;
            outln!("disabled `{name}`; their sessions ended");
            Ok(())
        }
        AdminCommand::EnableUser { name } => {
            store.set_person_enabled(&name, true)?;
            audited(store, "portal account enable", &name)?;
            outln!("enabled `{name}`");
            Ok(())
        }
        AdminCommand::DeleteUser { name } => {
            store.delete_person(&name)?;
            audited(store, "portal account delete", &name)?;
            outln!("deleted `{name}` and their sessions");
            Ok(())
        }
        AdminCommand::SetPassword { name } => {
            store.person(&name)?;
            let password = read_password(&name)?;
            store.set_person_password(&name, &password)?;
            audited(store, "portal account set password", &name)?;
            outln!("set the password of `{name}`; their sessions ended");
            Ok(())
        }
        AdminCommand::EndSessions { name } => {
            let ended = store.end_sessions(&name)?;
            audited(store, "portal account end sessions", &name)?;
            outln!("ended {ended} session(s) of `{name}`");
            Ok(())
        }
    }
}

/// Audits a change to an account, done from the command line.
fn audited(store: &Store, action: &str, name: &str) -> Result<()> {
    store.audit(&dataalm_ops::Actor::local().0, action, None, name)?;
    Ok(())
}

/// A new password: typed twice, unseen, on a terminal; else the first line
/// of standard input (for scripts).
fn read_password(name: &str) -> Result<String> {
    use std::io::IsTerminal;
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password(format!("password for {name}: "))?;
        let again = rpassword::prompt_password("again: ")?;
        anyhow::ensure!(
            first == again,
            "the two passwords differ; nothing was changed"
        );
        return Ok(first);
    }
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("cannot read the password from standard input")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}
