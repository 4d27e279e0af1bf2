//! One module per group of commands; `run` dispatches.

mod application;
mod envs;
mod operations;
mod sample;
mod service;

pub use operations::{operation_json, print_operation};
pub use sample::create_sqlite;

use crate::cli::{Cli, Command};
use crate::output;
use anyhow::{Context, Result};
use dataalm_store::Store;
use std::path::Path;

pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Demo(args) => crate::demo::run(&args),
        Command::Sample(cmd) => sample::sample(cmd),
        Command::Profile(cmd) => sample::profile(cmd),
        Command::Env(cmd) => envs::run(&open_store(&cli.home)?, cmd),
        Command::Refresh(args) => operations::refresh(&open_store(&cli.home)?, &args),
        Command::Status(args) => operations::status(&open_store(&cli.home)?, &args),
        Command::History(args) => operations::history(&open_store(&cli.home)?, &args),
        Command::Signoff(args) => operations::sign_off(&open_store(&cli.home)?, &args),
        Command::Rollback(args) => operations::rollback(&open_store(&cli.home)?, &args),
        Command::Resume(args) => operations::resume(&open_store(&cli.home)?, &args),
        Command::Message(args) => application::message(&open_store(&cli.home)?, &args),
        Command::Plan(cmd) => application::plan(&open_store(&cli.home)?, cmd),
        Command::Reconfigure(args) => application::reconfigure(&open_store(&cli.home)?, &args),
        Command::Users(cmd) => application::users(&open_store(&cli.home)?, cmd),
        Command::Jobs(cmd) => application::jobs(&open_store(&cli.home)?, cmd),
        Command::Audit(args) => audit(&open_store(&cli.home)?, args.limit, args.json),
        Command::Serve(args) => service::serve(&cli.home, args),
        Command::App(cmd) => service::app(&open_store(&cli.home)?, cmd),
    }
}

pub fn open_store(home: &Path) -> Result<Store> {
    Store::open(home).with_context(|| format!("control plane at {}", home.display()))
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
