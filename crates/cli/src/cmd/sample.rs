//! `dataalm sample create`.

use crate::cli::SampleCommand;
use crate::progress::Display;
use anyhow::{Context, Result, bail};
use dataalm_core::Location;
use dataalm_engine::postgres;
use dataalm_engine::sqlite::SqliteDb;
use dataalm_finance::{Role, SampleOptions};
use std::path::Path;

pub fn sample(cmd: SampleCommand) -> Result<()> {
    match cmd {
        SampleCommand::Create(args) => {
            let role: Role = args.role.parse().map_err(anyhow::Error::msg)?;
            let size_bytes = dataalm_finance::parse_size(&args.size)?;
            let options = SampleOptions {
                role,
                size_bytes,
                seed: args.seed,
            };
            let started = std::time::Instant::now();
            let display = Display::new(false);
            let (place, size) = match (&args.sqlite, &args.postgres) {
                (Some(path), _) => {
                    create_sqlite(path, &options, &display)?;
                    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
                    (path.display().to_string(), size)
                }
                (None, Some(url)) => create_postgres(url, &options, &display)?,
                (None, None) => bail!("give --sqlite PATH or --postgres URL"),
            };
            outln!(
                "created the finance sample ({}) at {place}: {size} bytes in {}",
                args.role,
                crate::progress::human(started.elapsed())
            );
            Ok(())
        }
    }
}

/// Writes the finance sample into a new SQLite file; an existing file is refused.
pub fn create_sqlite(path: &Path, options: &SampleOptions, progress: &Display) -> Result<()> {
    if path.exists() {
        bail!(
            "{} already exists: the sample goes into a new file",
            path.display()
        );
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut db = SqliteDb::create(path)?;
    dataalm_finance::create(&mut db, options, progress)
        .with_context(|| format!("creating the sample at {}", path.display()))?;
    Ok(())
}

/// Writes the finance sample into a PostgreSQL database, created when missing.
/// Returns where (password hidden) and the database's size.
fn create_postgres(
    url: &str,
    options: &SampleOptions,
    progress: &Display,
) -> Result<(String, u64)> {
    let location = Location::Postgres(url.to_owned());
    let place = location.redacted();
    postgres::create_database_if_missing(&location)?;
    let engine = dataalm_engine::engine_for(&location)?;
    let mut db = engine.open(&location, false)?;
    if db.schema()?.tables().next().is_some() {
        bail!("{place} already has tables: the sample goes into an empty database");
    }
    dataalm_finance::create(db.as_mut(), options, progress)
        .with_context(|| format!("creating the sample at {place}"))?;
    drop(db);
    Ok((place, engine.probe(&location)?.size_bytes))
}
