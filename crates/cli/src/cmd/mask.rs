//! `dataalm mask scan | check`: the rules a profile still needs, and whether a masked
//! sandbox kept any raw value. Neither ever prints a value of the data.

use crate::cli::{MaskCheckArgs, MaskCommand};
use crate::output;
use anyhow::{Context, Result, bail};
use dataalm_core::profile::MaskWith;
use dataalm_ops::masking;
use dataalm_store::Store;
use serde_json::json;

pub fn run(store: &Store, cmd: MaskCommand) -> Result<()> {
    match cmd {
        MaskCommand::Scan { env, json } => scan(store, &env, json),
        MaskCommand::Check(args) => check(store, &args),
    }
}

fn scan(store: &Store, env: &str, json: bool) -> Result<()> {
    let profile = store.env(env)?.profile;
    let found =
        masking::scan(store, env).with_context(|| format!("scanning the database of `{env}`"))?;
    if json {
        let rows: Vec<_> = found
            .iter()
            .map(|s| {
                json!({
                    "table": s.table,
                    "column": s.column,
                    "with": s.with.name(),
                    "why": s.why,
                })
            })
            .collect();
        return output::json(&json!({ "env": env, "profile": profile, "suggested": rows }));
    }
    if found.is_empty() {
        outln!(
            "no suggestions: every column of `{env}` that looks personal is masked or \
             accepted as unmasked by profile `{profile}`"
        );
        return Ok(());
    }
    let rows: Vec<Vec<String>> = found
        .iter()
        .map(|s| {
            vec![
                s.table.clone(),
                s.column.clone(),
                s.with.name().to_owned(),
                s.why.clone(),
            ]
        })
        .collect();
    output::table(&["table", "column", "with", "why"], &rows);
    outln!();
    outln!(
        "# {} column(s) of `{env}` look personal and have no rule in profile `{profile}`.",
        found.len()
    );
    outln!(
        "# Add these rules to the profile (`dataalm profile show {profile}`), or accept a \
         column with `unmasked = [\"table.column\"]`:"
    );
    for s in &found {
        outln!();
        outln!("[[mask]]");
        outln!("table = \"{}\"", s.table);
        outln!("column = \"{}\"", s.column);
        outln!("with = \"{}\"  # {}", s.with.name(), s.why);
        if s.with == MaskWith::DateShift {
            outln!("days = 30");
        }
    }
    Ok(())
}

fn check(store: &Store, args: &MaskCheckArgs) -> Result<()> {
    let target = store.env(&args.env)?;
    let source = match &args.from {
        Some(from) => from.clone(),
        None => match store.latest_operation(&args.env)? {
            Some(op) => op.source,
            None => bail!(
                "`{}` has not been refreshed yet: name the environment it was copied from with --from",
                args.env
            ),
        },
    };
    let sample = args.sample as usize;
    let found = masking::check(store, &source, &args.env, sample)
        .with_context(|| format!("checking `{}` against its source `{source}`", args.env))?;
    let surviving: u64 = found.iter().map(|s| s.surviving).sum();
    if args.json {
        let rows: Vec<_> = found
            .iter()
            .map(|s| {
                json!({
                    "table": s.table,
                    "column": s.column,
                    "sampled": s.sampled,
                    "surviving": s.surviving,
                })
            })
            .collect();
        output::json(&json!({
            "env": args.env,
            "source": source,
            "sample": sample,
            "columns": rows,
            "surviving": surviving,
        }))?;
    } else if found.is_empty() {
        outln!(
            "profile `{}` of `{}` masks nothing: nothing to check",
            target.profile,
            args.env
        );
        return Ok(());
    } else {
        let rows: Vec<Vec<String>> = found
            .iter()
            .map(|s| {
                vec![
                    s.table.clone(),
                    s.column.clone(),
                    s.sampled.to_string(),
                    s.surviving.to_string(),
                ]
            })
            .collect();
        output::table(&["table", "column", "checked", "surviving"], &rows);
        outln!(
            "looked up a random sample of up to {sample} values of `{source}` per masked \
             column in `{}` (date_shift columns are not checked)",
            args.env
        );
    }
    if surviving > 0 {
        let columns: Vec<String> = found
            .iter()
            .filter(|s| s.surviving > 0)
            .map(|s| {
                format!(
                    "{}.{} ({} of {})",
                    s.table, s.column, s.surviving, s.sampled
                )
            })
            .collect();
        bail!(
            "raw values of `{source}` survive in masked columns of `{}`: {}",
            args.env,
            columns.join(", ")
        );
    }
    if !args.json {
        outln!("no raw value found: `{}` is masked", args.env);
    }
    Ok(())
}
