//! `dataalm sample create` and `dataalm profile show|list`.

use crate::cli::{ProfileCommand, SampleCommand};
use crate::progress::Display;
use anyhow::{Context, Result, bail};
use dataalm_core::Profile;
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
            create_sqlite(&args.sqlite, &options, &Display::new(false))?;
            let size = std::fs::metadata(&args.sqlite)
                .map(|m| m.len())
                .unwrap_or(0);
            println!(
                "created the finance sample ({}) at {}: {} bytes in {}",
                args.role,
                args.sqlite.display(),
                size,
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

pub fn profile(cmd: ProfileCommand) -> Result<()> {
    match cmd {
        ProfileCommand::Show { name } => {
            let text = match Profile::builtin_text(&name) {
                Some(text) => text,
                None => {
                    // A file is checked before it is shown, so errors surface here.
                    Profile::resolve(&name)?;
                    std::fs::read_to_string(&name)
                        .with_context(|| format!("cannot read profile {name}"))?
                }
            };
            print!("{text}");
            Ok(())
        }
        ProfileCommand::List => {
            for name in dataalm_core::profile::BUILTIN {
                if let Some(p) = Profile::builtin(name) {
                    println!("{name:<10} {}", p.description);
                }
            }
            Ok(())
        }
    }
}
