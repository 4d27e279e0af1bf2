//! One module per group of commands; `run` dispatches.

mod admin;
mod application;
mod envs;
mod mask;
mod operations;
mod profiles;
mod sample;
mod service;

pub use operations::{operation_json, print_operation};
pub use sample::create_sqlite;

use crate::cli::{Cli, Command};
use crate::output;
use anyhow::{Context, Result};
use dataalm_core::Location;
use dataalm_engine::postgres::PgUrl;
use dataalm_store::Store;
use std::path::Path;

pub fn run(cli: Cli) -> Result<()> {
    // The secret key of a PostgreSQL control plane is this machine's, in --home.
    dataalm_store::use_home(&cli.home);
    let location = || store_location(&cli.home, cli.store.as_deref());
    let store = || open_store(&location()?);
    match cli.command {
        Command::Demo(args) => crate::demo::run(&args),
        Command::Sample(cmd) => sample::sample(cmd),
        Command::Profile(cmd) => profiles::run(&store()?, cmd),
        Command::Env(cmd) => envs::run(&store()?, cmd),
        Command::Refresh(args) => operations::refresh(&store()?, &args),
        Command::Mask(cmd) => mask::run(&store()?, cmd),
        Command::Status(args) => operations::status(&store()?, &args),
        Command::History(args) => operations::history(&store()?, &args),
        Command::Signoff(args) => operations::sign_off(&store()?, &args),
        Command::Rollback(args) => operations::rollback(&store()?, &args),
        Command::Resume(args) => operations::resume(&store()?, &args),
        Command::Cancel(args) => operations::cancel(&store()?, &args),
        Command::Message(args) => application::message(&store()?, &args),
        Command::Plan(cmd) => application::plan(&store()?, cmd),
        Command::Reconfigure(args) => application::reconfigure(&store()?, &args),
        Command::Users(cmd) => application::users(&store()?, cmd),
        Command::Jobs(cmd) => application::jobs(&store()?, cmd),
        Command::Audit(args) => audit(&store()?, args.limit, args.json),
        Command::Serve(args) => service::serve(&location()?, args),
        Command::App(cmd) => service::app(&store()?, cmd),
        Command::Admin(cmd) => admin::run(&store()?, cmd),
    }
}

fn open_store(location: &Location) -> Result<Store> {
    // The error names the place already.
    Ok(Store::connect(location)?)
}

/// Where the control plane is: `--store`, else `control.db` under `--home`.
fn store_location(home: &Path, store: Option<&str>) -> Result<Location> {
    let Some(store) = store else {
        return Ok(Store::in_home(home));
    };
    if store.starts_with("postgres://") || store.starts_with("postgresql://") {
        // Parsed now, so a malformed URL is refused before anything is tried.
        let url = PgUrl::parse_url(store).context("--store")?;
        return Ok(url.location());
    }
    Ok(Location::Sqlite(store.into()))
}

fn audit(store: &Store, limit: u32, json: bool) -> Result<()> {
    let log = store.audit_log(limit)?;
    if json {
        return output::json(&log);
    }
    let rows: Vec<Vec<String>> = log
        .into_iter()
        .map(|e| vec![e.at, e.actor, e.action, e.env.unwrap_or_default(), e.result])
        .collect();
    output::table(&["when", "who", "what", "env", "result"], &rows);
    Ok(())
}
