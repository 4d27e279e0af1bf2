//! `dataalm`: refresh sandbox environments (UAT, training, test) from production as one
//! safe, resumable, audited operation.
//!
//! This binary only parses flags and prints; the work is in `dataalm-ops`.

#[macro_use]
mod output;
mod cli;
mod cmd;
mod demo;
mod interrupt;
mod progress;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    init_logging(cli.verbose);
    match cmd::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("DATAALM_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // The PostgreSQL client logs every statement with its parameters at debug level, and
    // the control plane's parameters include stored passwords: it never goes below info,
    // whatever DATAALM_LOG asks.
    let filter = ["tokio_postgres=info", "postgres=info"]
        .into_iter()
        .filter_map(|directive| directive.parse().ok())
        .fold(filter, |filter, directive| filter.add_directive(directive));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
