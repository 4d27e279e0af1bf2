//! CopyToStaging on PostgreSQL: one consistent point in time, copied in parallel.
//!
//! 1. A coordinator connection opens a repeatable-read, read-only transaction on the
//!    source and exports its snapshot. It stays open until the copy ends, so every
//!    other reader below sees exactly the same data, however long the copy takes.
//! 2. The staging database is (re)created on the target server, and `pg_dump` (reading
//!    that snapshot) with `pg_restore` builds the pre-data schema in it: types, tables,
//!    functions, views. No indexes or constraints yet, so loading is fast.
//! 3. `jobs` lanes, each a source connection in the snapshot and a staging connection,
//!    take chunks from one queue, largest first, and stream `COPY ... (FORMAT binary)`
//!    straight from one server into the other. Big tables are cut into ctid ranges so
//!    several lanes share them. Memory stays at a few buffers per lane. A table whose
//!    columns reach a `reg*` type (binary carries raw oids) or a type without binary
//!    I/O goes in text instead, said in the copy's method. Tables with `[[mask]]` rules
//!    are decoded row by row and masked on the way (`mask`). The lane that loads a
//!    table's last chunk builds its indexes and extended statistics, then analyzes it.
//! 4. Sequences get the source's values; large objects are copied in pieces with their
//!    owners, grants and comments; `pg_restore -j` builds the rest of post-data in
//!    parallel, then owners, privileges, policies and publications follow, filtered
//!    per role; populated materialized views are refreshed; the source database's own
//!    settings and comment are written on staging (`database.rs`).
//! 5. With `verify`, every table's row count and content checksum are compared between
//!    the snapshot and the staging copy, by column name with the settings pinned.
//!
//! The source is only read: no temporary objects, no writes. A crash leaves a partial
//! staging database, which the next attempt drops; its snapshot died with the
//! coordinator, so a resume takes a new one and copies everything again.

use super::conn::{PgUrl, describe};
use super::{checks, database, ddl, maintenance};
use crate::{CopyStats, Error, MaskSet, Result, Side};
use dataalm_core::CopyOptions;
use dataalm_core::progress::Progress;
use tokio_postgres::Client;

mod catalog;
mod lanes;
mod mask;
mod objects;
mod verify;

use catalog::SourceFacts;
pub(crate) use catalog::USER_SCHEMA;
pub(crate) use verify::{COLUMNS_SQL, PINNED_SETTINGS, checksum_sql, compare, sorted};

/// How every source session starts. Row security off: a table whose policies would
/// hide rows from dataalm's user makes the copy fail rather than come out partial.
/// An empty `search_path`, as pg_dump uses: every definition read from the catalog
/// (index and constraint definitions, `reg*` values) comes out fully qualified, so it
/// means the same in the staging database whatever the source's own path.
pub(super) const SNAPSHOT_SESSION: &str = "SET row_security = off; SET search_path = ''; \
     BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY";

pub(crate) fn copy(
    source: &PgUrl,
    staging: &PgUrl,
    options: &CopyOptions,
    mask: Option<&MaskSet>,
    progress: &dyn Progress,
) -> Result<CopyStats> {
    let jobs = options.jobs();
    // One thread drives every connection: the client only forwards bytes, and keeping
    // it on one thread saves the cross-thread wake-ups (half its system time).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Io {
            context: "start the copy's runtime".into(),
            source: e,
        })?;
    runtime.block_on(run(source, staging, options, jobs, mask, progress))
}

async fn run(
    source: &PgUrl,
    staging: &PgUrl,
    options: &CopyOptions,
    jobs: usize,
    mask: Option<&MaskSet>,
    progress: &dyn Progress,
) -> Result<CopyStats> {
    let clock = PhaseClock::start();
    let (from, to) = (
        End::new(Side::Source, source),
        End::new(Side::Target, staging),
    );
    let coordinator = source.connect_async().await?;
    // Again here: a resumed copy may run long after validation.
    let slots = coordinator
        .query_one(checks::SLOTS_SQL, &[])
        .await
        .map_err(|e| from.failed("count the source's free connection slots", e))?;
    checks::check_slots(&slots, source, jobs)?;
    from.exec(&coordinator, SNAPSHOT_SESSION, "open the snapshot")
        .await?;
    let snapshot: String = coordinator
        .query_one("SELECT pg_export_snapshot()", &[])
        .await
        .map_err(|e| from.failed("export the snapshot", e))?
        .get(0);
    let mut facts = SourceFacts::read(&coordinator, &from).await?;
    let masks = mask::Masks::plan(&coordinator, &from, &facts.tables, mask).await?;

    let server = maintenance::connect_async(staging).await?;
    maintenance::recreate_database(&server, staging.dbname(), &facts.database).await?;
    drop(server);

    let dump_dir = ddl::private_dump_dir()?;
    let dump = dump_dir.path().join("schema.dump");
    ddl::dump_schema(source, &snapshot, &dump).await?;
    clock.lap("snapshot, staging database and schema dump");
    let staging_client = staging.connect_async().await?;
    // Names read back as they were written: fully qualified (see SNAPSHOT_SESSION).
    to.exec(
        &staging_client,
        "SET search_path = ''",
        "set up the staging session",
    )
    .await?;
    let target_roles = ddl::roles(&staging_client).await?;
    let rebuild = ddl::Rebuild {
        dump: &dump,
        keep_owners: options.owners_and_grants,
        target_roles: &target_roles,
    };
    let mut missing_roles = rebuild
        .pre_data(&staging_client)
        .await
        .map_err(|e| to.named(e))?;
    if options.owners_and_grants {
        missing_roles.extend(facts.early_indexes.give_owners(&target_roles));
    }
    clock.lap("pre-data schema");
    let mut lanes = lanes::open_lanes(source, staging, &snapshot, jobs).await?;
    let ends = Ends {
        from: &from,
        to: &to,
    };
    let copied = lanes::copy_data(
        &mut lanes,
        &facts,
        options.split_bytes,
        masks.as_ref(),
        progress,
        ends,
    )
    .await?;

    clock.lap("data");
    let (source_client, staging_client) = ((&coordinator, &from), (&staging_client, &to));
    objects::copy_sequences(source_client, staging_client, &facts.sequences).await?;
    objects::copy_large_objects(source_client, staging_client, &facts.large_objects).await?;
    missing_roles.extend(
        objects::copy_large_object_metadata(
            source_client,
            staging_client,
            &target_roles,
            options.owners_and_grants,
        )
        .await?,
    );
    let staging_client = staging_client.0;
    clock.lap("sequences and large objects");
    let built = &facts.early_indexes.entries;
    let post_data = rebuild
        .post_data(staging, staging_client, jobs, built)
        .await
        .map_err(|e| to.named(e))?;
    missing_roles.extend(post_data.missing_roles.iter().cloned());
    clock.lap("indexes, constraints and triggers");
    objects::refresh_materialized_views(staging_client, &to, &facts.materialized_views).await?;
    // Loaded tables were analyzed as they were finished; these have no rows of their own
    // or got them only now.
    for relation in facts.partitioned.iter().chain(&facts.materialized_views) {
        let sql = format!("ANALYZE {relation}");
        to.exec(
            staging_client,
            &sql,
            &format!("gather statistics of {relation}"),
        )
        .await?;
    }
    clock.lap("materialized views and statistics");
    // Last, so that no setting of the source's (a read-only default, say) changes how
    // the steps above ran.
    let settings = database::SourceSettings::read(&coordinator, source.dbname())
        .await
        .map_err(|e| from.failed("read the source database's settings", e))?
        .apply(staging_client, staging.dbname(), &target_roles)
        .await
        .map_err(|e| to.failed("give the copy the source database's settings", e))?;
    missing_roles.extend(settings.roles);
    if options.verify {
        // A masked table differs from its source by design.
        let unmasked: Vec<catalog::Table> = facts
            .tables
            .iter()
            .filter(|t| !masks.as_ref().is_some_and(|m| m.masks(&t.quoted)))
            .cloned()
            .collect();
        verify::verify(&mut lanes, &unmasked, ends).await?;
        clock.lap("verification");
    }
    from.exec(&coordinator, "COMMIT", "end the snapshot")
        .await?;

    let mut tables: Vec<(String, u64)> = copied.rows.into_iter().collect();
    tables.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Ok(CopyStats {
        bytes: copied.bytes,
        tables,
        method: format!(
            "binary COPY in {jobs} streams from one snapshot{}{}{}{}",
            if options.verify { ", verified" } else { "" },
            catalog::text_tables(&facts.tables),
            left_out(&missing_roles),
            post_data.note()
        ) + &database::describe_left_out(&settings.settings),
        masked: masks.map(|m| m.counts()).unwrap_or_default(),
    })
}

/// Says which roles' owners, grants and policies were left out, if any.
fn left_out(roles: &std::collections::BTreeSet<String>) -> String {
    if roles.is_empty() {
        return String::new();
    }
    let names: Vec<&str> = roles.iter().map(String::as_str).collect();
    format!(
        "; left out owners, grants and policies of roles the target server lacks or dataalm may not act as: {}",
        names.join(", ")
    )
}

/// Logs how long each phase of the copy took (`-v` shows them).
struct PhaseClock(std::sync::Mutex<std::time::Instant>);

impl PhaseClock {
    fn start() -> PhaseClock {
        PhaseClock(std::sync::Mutex::new(std::time::Instant::now()))
    }

    fn lap(&self, phase: &str) {
        if let Ok(mut last) = self.0.lock() {
            tracing::info!("copy: {phase} took {:.2} s", last.elapsed().as_secs_f64());
            *last = std::time::Instant::now();
        }
    }
}

/// One end of the copy, so that a failure says which server failed: "connection
/// closed" alone does not tell the source from the target.
pub(super) struct End {
    side: Side,
    location: String,
}

impl End {
    fn new(side: Side, url: &PgUrl) -> End {
        End {
            side,
            location: url.redacted(),
        }
    }

    fn failed(&self, context: impl Into<String>, e: tokio_postgres::Error) -> Error {
        Error::ServerFailed {
            side: self.side,
            location: self.location.clone(),
            context: context.into(),
            message: describe(&e),
            source: Some(e),
        }
    }

    /// A statement error from code shared with other steps, given this end's name.
    fn named(&self, e: Error) -> Error {
        match e {
            Error::Sql { context, message } | Error::Duplicate { context, message } => {
                Error::ServerFailed {
                    side: self.side,
                    location: self.location.clone(),
                    context,
                    message,
                    source: None,
                }
            }
            other => other,
        }
    }

    async fn exec(&self, client: &Client, sql: &str, context: &str) -> Result<()> {
        client
            .batch_execute(sql)
            .await
            .map_err(|e| self.failed(context, e))
    }
}

/// Both ends, for the lanes.
#[derive(Clone, Copy)]
pub(super) struct Ends<'a> {
    from: &'a End,
    to: &'a End,
}
