//! `dataalm users | jobs | message | plan | reconfigure`: one environment's application.

use crate::cli::{
    JobsCommand, MessageArgs, PlanCommand, ReconfigureArgs, UsersChangeArgs, UsersCommand,
};
use crate::output;
use anyhow::{Context, Result, bail};
use dataalm_app::jobs::JobsToSet;
use dataalm_app::users::UserFilter;
use dataalm_core::{Value, when};
use dataalm_ops::{Actor, actions};
use dataalm_store::Store;
use serde_json::json;

pub fn message(store: &Store, args: &MessageArgs) -> Result<()> {
    let now = when::now();
    let from = when::parse(&args.from, now).context("--from")?;
    let to = when::parse(&args.to, now).context("--to")?;
    let id = actions::post_message(store, &Actor::local(), &args.env, from, to, &args.text)?;
    outln!(
        "message {id} posted to `{}`: shown from {} to {} UTC",
        args.env,
        when::format(from),
        when::format(to)
    );
    Ok(())
}

pub fn plan(store: &Store, cmd: PlanCommand) -> Result<()> {
    match cmd {
        PlanCommand::Set { env, file } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read plan {}", file.display()))?;
            actions::set_plan(store, &Actor::local(), &env, &text)?;
            outln!(
                "plan of `{env}` set from {}; `dataalm reconfigure {env} --dry-run` shows what it changes",
                file.display()
            );
        }
        PlanCommand::Show { env } => match store.plan(&env)? {
            Some(text) => out!("{text}"),
            None => outln!("# `{env}` has no plan yet: `dataalm plan set {env} plan.toml`"),
        },
    }
    Ok(())
}

pub fn reconfigure(store: &Store, args: &ReconfigureArgs) -> Result<()> {
    let changes = actions::reconfigure(store, &Actor::local(), &args.env, args.dry_run)?;
    if args.json {
        return output::json(&json!({ "dry_run": args.dry_run, "changes": changes }));
    }
    if changes.is_empty() {
        outln!("`{}` already matches its plan: no changes", args.env);
        return Ok(());
    }
    let verb = if args.dry_run {
        "would change"
    } else {
        "changed"
    };
    outln!("{verb} {} setting(s) of `{}`:", changes.len(), args.env);
    for change in &changes {
        outln!("  {change}");
    }
    Ok(())
}

pub fn users(store: &Store, cmd: UsersCommand) -> Result<()> {
    match cmd {
        UsersCommand::List {
            env,
            enabled,
            disabled,
            search,
            json,
        } => {
            let filter = UserFilter {
                enabled: if enabled {
                    Some(true)
                } else if disabled {
                    Some(false)
                } else {
                    None
                },
                search,
            };
            let users = actions::list_users(store, &env, &filter)?;
            if json {
                let list: Vec<_> = users
                    .iter()
                    .map(|u| json!({"id": u.id, "name": u.name, "email": u.email, "enabled": u.enabled}))
                    .collect();
                return output::json(&list);
            }
            let rows: Vec<Vec<String>> = users
                .iter()
                .map(|u| {
                    vec![
                        u.id.clone(),
                        u.name.clone().unwrap_or_default(),
                        u.email.clone(),
                        if u.enabled { "enabled" } else { "disabled" }.to_owned(),
                    ]
                })
                .collect();
            output::table(&["id", "name", "email", "state"], &rows);
            outln!("{} user(s)", users.len());
            Ok(())
        }
        UsersCommand::Enable(args) => change_users(store, args, true),
        UsersCommand::Disable(args) => change_users(store, args, false),
        UsersCommand::Export { env, xlsx } => {
            let users = actions::list_users(store, &env, &UserFilter::default())?;
            dataalm_app::userlist::write_users_xlsx(&xlsx, &users)?;
            outln!(
                "wrote {} user(s) of `{env}` to {}",
                users.len(),
                xlsx.display()
            );
            Ok(())
        }
    }
}

fn change_users(store: &Store, args: UsersChangeArgs, enabled: bool) -> Result<()> {
    let mut wanted = args.users;
    if let Some(file) = &args.file {
        wanted.extend(dataalm_app::userlist::read_user_list(file)?);
    }
    if wanted.is_empty() {
        bail!("name the users: ids or e-mails as arguments, or --file users.csv|users.xlsx");
    }
    let done = actions::set_users_enabled(store, &Actor::local(), &args.env, &wanted, enabled)?;
    let verb = if enabled { "enabled" } else { "disabled" };
    outln!(
        "{verb} {} user(s) in `{}`; {} already {verb}",
        done.changed.len(),
        args.env,
        done.already.len()
    );
    Ok(())
}

pub fn jobs(store: &Store, cmd: JobsCommand) -> Result<()> {
    match cmd {
        JobsCommand::List { env, status, json } => {
            let jobs = actions::list_jobs(store, &env, status.as_deref())?;
            if json {
                let list: Vec<_> = jobs
                    .iter()
                    .map(|j| json!({"id": j.id, "name": j.name, "status": j.status}))
                    .collect();
                return output::json(&list);
            }
            let rows: Vec<Vec<String>> = jobs
                .iter()
                .map(|j| {
                    vec![
                        j.id.to_string(),
                        j.name.clone().unwrap_or_default(),
                        j.status.clone(),
                    ]
                })
                .collect();
            output::table(&["id", "name", "status"], &rows);
            outln!("{} job(s)", jobs.len());
            Ok(())
        }
        JobsCommand::SetStatus {
            env,
            status,
            all_withheld,
            ids,
        } => {
            let selection = if all_withheld {
                JobsToSet::AllWithheld
            } else {
                JobsToSet::Ids(ids.into_iter().map(Value::Text).collect())
            };
            let done = actions::set_jobs_status(store, &Actor::local(), &env, &status, selection)?;
            outln!(
                "set {} job(s) of `{env}` to {status}; {} already were",
                done.changed.len(),
                done.already.len()
            );
            Ok(())
        }
    }
}
