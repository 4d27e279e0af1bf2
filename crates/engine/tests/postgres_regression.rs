//! PostgreSQL's own `regression` database, copied as pg_upgrade's test copies it.
//!
//! The core regression suite leaves behind nearly every kind of object and column type
//! PostgreSQL has (`reg*` and `aclitem` columns, types without binary I/O, inheritance with
//! reordered columns, partitions, rules, large objects...). This test builds that database
//! on a throw-away source server (`dataalm_pgtest::regress`, from the installed server's
//! own source package), then puts two copies of it on a second server:
//!
//! - the baseline: `pg_dump -Fc | pg_restore --create`, under the source's name;
//! - dataalm's copy, with `verify` on.
//!
//! It compares normalized plain dumps made with `--create`, so that the database's own
//! properties (locale, settings, comment) count too. `\restrict`, `\connect` and
//! `\encoding` lines are dropped, the copy's name is read as the source's, rows are sorted
//! inside COPY blocks (columns in name order) and entries are keyed by their `-- Name:`
//! header. The copy may differ from the source only where the baseline differs too (such
//! as inheritance column order). Those inherent differences are printed (`--nocapture`
//! shows them). Statistics are not in a dump: the extended statistics the source has data
//! for must have it in the copy too.
//!
//! Needs the PostgreSQL 15 source, `postgresql-server-dev-15` and a C compiler: `scripts/test`
//! installs them.

use dataalm_core::progress::Silent;
use dataalm_core::{CopyOptions, Location};
use dataalm_engine::Engine;
use dataalm_engine::postgres::PgEngine;
use dataalm_pgtest::{Cluster, SUPERUSER, regress};
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::thread;
use std::time::Instant;

const ENGINE: PgEngine = PgEngine;

/// The database the suite builds, named as pg_regress names it.
const REGRESSION: &str = "regression";

/// How many differing entries, and lines of each, a report shows.
const SHOWN_ENTRIES: usize = 25;
const SHOWN_LINES: usize = 8;
/// How much of pg_regress's differences is shown.
const SHOWN_DIFF_LINES: usize = 30;
/// Longer lines (COPY rows of wide tables) are cut in reports.
const SHOWN_LINE_CHARS: usize = 160;

/// The regression database on the source, `pg_dump -Fc | pg_restore` and dataalm's copy
/// on the target: the copy differs from the source only where the baseline does too.
#[test]
fn the_regression_database_copies_as_well_as_pg_restore() {
    let started = Instant::now();
    let (source, target) = thread::scope(|scope| {
        let source = scope.spawn(start_cluster);
        let target = scope.spawn(start_cluster);
        (
            source.join().expect("source thread"),
            target.join().expect("target thread"),
        )
    });
    let regression = regress::build(&source, REGRESSION)
        .unwrap_or_else(|e| panic!("building the regression database: {e}"));
    println!("{}", regression.summary());
    if !regression.failed_tests.is_empty() {
        println!("{}", regression.diffs_head(SHOWN_DIFF_LINES));
    }
    copy_role_names(&source, &target);

    let step = Instant::now();
    let restore_errors = dump_and_restore(&source, &target);
    println!(
        "baseline pg_dump -Fc | pg_restore: {:.1} s, {} pg_restore errors{}",
        step.elapsed().as_secs_f64(),
        restore_errors.len(),
        shown(&restore_errors)
    );
    let source_dump = Dump::of(&source, REGRESSION);
    let baseline_dump = Dump::of(&target, REGRESSION);
    let inherent = source_dump.differing_keys(&baseline_dump);
    println!(
        "inherent differences (source vs pg_restore): {} entries\n{}",
        inherent.len(),
        source_dump.report(&baseline_dump, &inherent)
    );

    let step = Instant::now();
    let staging = ENGINE.staging_location(
        &Location::Postgres(target.url(REGRESSION)),
        "op-20260101-000000-0001",
    );
    let options = CopyOptions {
        jobs: Some(2),
        verify: true,
        owners_and_grants: true,
        ..CopyOptions::default()
    };
    let copied = ENGINE.copy(
        &Location::Postgres(source.url(REGRESSION)),
        &staging,
        &options,
        &Silent,
    );
    if let Err(e) = copied {
        panic!("dataalm's copy of the regression database failed: {e}");
    }
    println!("dataalm copy: {:.1} s", step.elapsed().as_secs_f64());

    let copy_dump = Dump::of(&target, &dbname(&staging));
    let wrong: Vec<String> = source_dump
        .differing_keys(&copy_dump)
        .into_iter()
        .filter(|key| !inherent.contains(key))
        .collect();
    let also = source_dump
        .differing_keys(&copy_dump)
        .into_iter()
        .filter(|key| inherent.contains(key) && copy_dump.get(key) != baseline_dump.get(key))
        .collect::<Vec<_>>();
    if !also.is_empty() {
        println!(
            "where pg_restore differs too, the copy differs otherwise ({} entries; baseline vs copy):\n{}",
            also.len(),
            baseline_dump.report(&copy_dump, &also)
        );
    }
    println!("whole test: {:.1} s", started.elapsed().as_secs_f64());
    let mut failures = Vec::new();
    if !wrong.is_empty() {
        failures.push(format!(
            "the copy differs from the source where pg_dump | pg_restore does not, in {} \
             entries (source vs copy):\n{}",
            wrong.len(),
            source_dump.report(&copy_dump, &wrong)
        ));
    }
    // Statistics are not in a dump, and pg_restore gathers none: checked on their own.
    let unbuilt = unbuilt_statistics(&source, &target, &dbname(&staging));
    if !unbuilt.is_empty() {
        failures.push(format!(
            "extended statistics the source has data for are empty in the copy: {}",
            unbuilt.join("; ")
        ));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The source's extended statistics whose kinds of data the copy lacks, with those kinds.
fn unbuilt_statistics(source: &Cluster, target: &Cluster, copy_db: &str) -> Vec<String> {
    let copied = extended_statistics(target, copy_db);
    extended_statistics(source, REGRESSION)
        .into_iter()
        .filter(|(name, kinds)| copied.get(name).is_none_or(|have| !kinds.is_subset(have)))
        .map(|(name, kinds)| format!("{name} ({})", Vec::from_iter(kinds).join(", ")))
        .collect()
}

/// The kinds of data (`ndistinct`, `dependencies`, `mcv`, `expressions`) each extended
/// statistics object of `db` holds, by qualified name; ANALYZE fills them.
fn extended_statistics(cluster: &Cluster, db: &str) -> BTreeMap<String, BTreeSet<String>> {
    let lines = cluster
        .psql(
            db,
            "SELECT format('%I.%I', n.nspname, s.stxname), kind
             FROM pg_statistic_ext s JOIN pg_namespace n ON n.oid = s.stxnamespace
             JOIN pg_statistic_ext_data d ON d.stxoid = s.oid
             CROSS JOIN LATERAL (VALUES
                 ('ndistinct', d.stxdndistinct IS NOT NULL),
                 ('dependencies', d.stxddependencies IS NOT NULL),
                 ('mcv', d.stxdmcv IS NOT NULL),
                 ('expressions', d.stxdexpr IS NOT NULL)) AS k(kind, present)
             WHERE present",
        )
        .unwrap_or_else(|e| panic!("read the extended statistics of {db}: {e}"));
    let mut kinds: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in lines.lines() {
        if let Some((name, kind)) = line.rsplit_once('|') {
            kinds
                .entry(name.to_owned())
                .or_default()
                .insert(kind.to_owned());
        }
    }
    kinds
}

fn start_cluster() -> Cluster {
    Cluster::start(&regress::cluster_options()).expect("start a cluster")
}

/// Creates on `target` every role the suite left on `source`, so that owners and grants
/// can be kept by both copies (attributes and memberships do not show in a database dump).
fn copy_role_names(source: &Cluster, target: &Cluster) {
    let statements = source
        .psql(
            "postgres",
            "SELECT format('CREATE ROLE %I;', rolname) FROM pg_roles
             WHERE rolname !~ '^pg_' AND rolname <> current_user ORDER BY 1",
        )
        .expect("list the source's roles");
    if !statements.trim().is_empty() {
        target
            .psql_script("postgres", &statements)
            .expect("create the roles on the target");
    }
}

/// A command running one of the cluster's client programs as its superuser.
fn client_program(cluster: &Cluster, program: &str) -> Command {
    let mut cmd = Command::new(cluster.bin_dir().join(program));
    cmd.args(["--no-password", "--host", cluster.host()])
        .arg(format!("--port={}", cluster.port()))
        .args(["--username", SUPERUSER])
        .env("PGPASSWORD", cluster.password())
        .env_remove("PGSERVICE")
        .env_remove("PGOPTIONS");
    cmd
}

/// `pg_dump -Fc` of the regression database, restored under the same name on `target`;
/// returns pg_restore's error lines (it goes on after an error, as a real restore would).
fn dump_and_restore(source: &Cluster, target: &Cluster) -> Vec<String> {
    let dir = tempfile::tempdir().expect("tempdir");
    let archive = dir.path().join("regression.dump");
    let output = client_program(source, "pg_dump")
        .args(["--format=custom", "--file"])
        .arg(&archive)
        .arg(format!("--dbname={REGRESSION}"))
        .output()
        .expect("run pg_dump");
    assert!(
        output.status.success(),
        "pg_dump -Fc: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let output = client_program(target, "pg_restore")
        .args(["--create", "--dbname=postgres"])
        .arg(&archive)
        .output()
        .expect("run pg_restore");
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .filter(|line| line.starts_with("pg_restore: error:"))
        .map(str::to_owned)
        .collect()
}

/// The database a location names (engine-made names are plain ASCII, no escapes).
fn dbname(location: &Location) -> String {
    let Location::Postgres(url) = location else {
        panic!("not a PostgreSQL location: {location}");
    };
    let name = url.rsplit('/').next().unwrap_or_default();
    name.split('?').next().unwrap_or_default().to_owned()
}

/// The first lines of a list, on lines of their own after a colon.
fn shown(lines: &[String]) -> String {
    let mut text: String = lines
        .iter()
        .take(SHOWN_LINES)
        .map(|line| format!("\n  {}", cut(line)))
        .collect();
    if lines.len() > SHOWN_LINES {
        text.push_str(&format!("\n  ... and {} more", lines.len() - SHOWN_LINES));
    }
    text
}

fn cut(line: &str) -> String {
    match line.char_indices().nth(SHOWN_LINE_CHARS) {
        Some((at, _)) => format!("{}...", &line[..at]),
        None => line.to_owned(),
    }
}

/// A plain dump made comparable: entries keyed by their header without the owner (the
/// owner line stays in the entry's text), in no particular order; rows sorted inside
/// COPY blocks; client directives ([`is_client_directive`]), blank and `--` lines dropped.
struct Dump {
    /// Header key -> the texts of the entries with that key, sorted.
    entries: BTreeMap<String, Vec<String>>,
}

impl Dump {
    /// `pg_dump --create` of `db`, which is read as if it were named [`REGRESSION`].
    fn of(cluster: &Cluster, db: &str) -> Dump {
        let output = client_program(cluster, "pg_dump")
            .arg("--create")
            .arg(format!("--dbname={db}"))
            .output()
            .expect("run pg_dump");
        assert!(
            output.status.success(),
            "pg_dump {db}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let text = String::from_utf8_lossy(&output.stdout);
        if db == REGRESSION {
            return Dump::parse(&text);
        }
        // The copy's name is made by dataalm and unique: nothing else in a dump spells it.
        let text = text
            .replace(&format!("\"{db}\""), REGRESSION)
            .replace(db, REGRESSION);
        Dump::parse(&text)
    }

    fn parse(text: &str) -> Dump {
        let mut entries: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut key = "(preamble)".to_owned();
        let mut body: Vec<String> = Vec::new();
        let mut block: Option<CopyBlock> = None;
        for line in text.lines() {
            if let Some(copy) = block.as_mut() {
                if line == "\\." {
                    body.extend(copy.finish());
                    body.push(line.to_owned());
                    block = None;
                } else {
                    copy.rows.push(copy.reorder(line));
                }
                continue;
            }
            if is_client_directive(line) {
                continue;
            }
            if line.is_empty() || line == "--" {
                continue;
            }
            if let Some(header) = entry_key(line) {
                let done = std::mem::replace(&mut key, header);
                entries.entry(done).or_default().push(body.join("\n"));
                body = vec![line.to_owned()];
                continue;
            }
            match CopyBlock::start(line) {
                Some(copy) => {
                    body.push(copy.header.clone());
                    block = Some(copy);
                }
                None => body.push(line.to_owned()),
            }
        }
        entries.entry(key).or_default().push(body.join("\n"));
        for texts in entries.values_mut() {
            texts.sort_unstable();
        }
        Dump { entries }
    }

    fn get(&self, key: &str) -> Option<&Vec<String>> {
        self.entries.get(key)
    }

    /// The keys whose entries differ between the two dumps, or that one lacks.
    fn differing_keys(&self, other: &Dump) -> BTreeSet<String> {
        let keys: BTreeSet<&String> = self.entries.keys().chain(other.entries.keys()).collect();
        keys.into_iter()
            .filter(|key| self.get(key) != other.get(key))
            .cloned()
            .collect()
    }

    /// For the first of `keys`, the lines only `self` has (`-`) and only `other` has (`+`).
    fn report<'a>(&self, other: &Dump, keys: impl IntoIterator<Item = &'a String>) -> String {
        let keys: Vec<&String> = keys.into_iter().collect();
        let mut text = String::new();
        for key in keys.iter().take(SHOWN_ENTRIES) {
            text.push_str(&format!("* {key}\n"));
            let (mine, theirs) = (self.lines(key), other.lines(key));
            let removed = mine.iter().filter(|line| !theirs.contains(*line));
            let added = theirs.iter().filter(|line| !mine.contains(*line));
            let changes: Vec<String> = removed
                .map(|line| format!("    - {}", cut(line)))
                .chain(added.map(|line| format!("    + {}", cut(line))))
                .collect();
            if changes.is_empty() {
                text.push_str("    (same lines, another count or order of entries)\n");
            }
            for change in changes.iter().take(SHOWN_LINES) {
                text.push_str(change);
                text.push('\n');
            }
            if changes.len() > SHOWN_LINES {
                text.push_str(&format!(
                    "    ... {} more lines\n",
                    changes.len() - SHOWN_LINES
                ));
            }
        }
        if keys.len() > SHOWN_ENTRIES {
            text.push_str(&format!(
                "... and {} more entries\n",
                keys.len() - SHOWN_ENTRIES
            ));
        }
        text
    }

    /// Every line of the entries under `key`.
    fn lines(&self, key: &str) -> BTreeSet<&str> {
        self.get(key)
            .into_iter()
            .flatten()
            .flat_map(|text| text.lines())
            .collect()
    }
}

/// psql lines that only steer the client: `\restrict` carries a random key per dump, and
/// `\connect` (with `\encoding` around it) is spelled differently for names that need
/// quotes.
fn is_client_directive(line: &str) -> bool {
    ["\\restrict ", "\\unrestrict ", "\\connect ", "\\encoding "]
        .iter()
        .any(|start| line.starts_with(start))
}

/// The rows of one `COPY ... FROM stdin;` block, columns in name order: pg_restore (and
/// any copy through pg_dump's schema) may reorder an inheritance child's columns, which
/// says nothing about its data.
struct CopyBlock {
    /// The `COPY` line with the columns in name order.
    header: String,
    /// For each output column, its position in the dump's rows.
    order: Vec<usize>,
    rows: Vec<String>,
}

impl CopyBlock {
    /// The block a line opens, if it is a `COPY` line.
    fn start(line: &str) -> Option<CopyBlock> {
        let inner = line.strip_prefix("COPY ")?.strip_suffix(" FROM stdin;")?;
        let (table, columns) = split_outside_quotes(inner, ' ')
            .filter(|(_, rest)| rest.starts_with('(') && rest.ends_with(')'))
            .map(|(table, rest)| (table, &rest[1..rest.len() - 1]))
            .unwrap_or((inner, ""));
        let mut names: Vec<&str> = Vec::new();
        let mut rest = columns;
        while let Some((name, after)) = split_outside_quotes(rest, ',') {
            names.push(name.trim());
            rest = after;
        }
        if !rest.trim().is_empty() {
            names.push(rest.trim());
        }
        let mut order: Vec<usize> = (0..names.len()).collect();
        order.sort_by_key(|&i| names[i]);
        let sorted: Vec<&str> = order.iter().map(|&i| names[i]).collect();
        let header = if names.is_empty() {
            line.to_owned()
        } else {
            format!("COPY {table} ({}) FROM stdin;", sorted.join(", "))
        };
        Some(CopyBlock {
            header,
            order,
            rows: Vec::new(),
        })
    }

    /// A row with its fields in column-name order (tabs inside values are escaped).
    fn reorder(&self, row: &str) -> String {
        let fields: Vec<&str> = row.split('\t').collect();
        if fields.len() != self.order.len() {
            return row.to_owned();
        }
        let sorted: Vec<&str> = self.order.iter().map(|&i| fields[i]).collect();
        sorted.join("\t")
    }

    /// The rows, sorted.
    fn finish(&mut self) -> Vec<String> {
        let mut rows = std::mem::take(&mut self.rows);
        rows.sort_unstable();
        rows
    }
}

/// `text` split at the first `separator` outside double quotes: (before, after).
fn split_outside_quotes(text: &str, separator: char) -> Option<(&str, &str)> {
    let mut quoted = false;
    for (at, c) in text.char_indices() {
        match c {
            '"' => quoted = !quoted,
            c if c == separator && !quoted => return Some((&text[..at], &text[at + 1..])),
            _ => {}
        }
    }
    None
}

/// `Name: t; Type: TABLE; Schema: public` from
/// `-- Name: t; Type: TABLE; Schema: public; Owner: alice` (also `-- Data for Name: ...`).
fn entry_key(line: &str) -> Option<String> {
    let header = line.strip_prefix("-- ")?;
    if !(header.starts_with("Name: ") || header.starts_with("Data for Name: ")) {
        return None;
    }
    let key = header.rfind("; Owner: ").map_or(header, |at| &header[..at]);
    Some(key.to_owned())
}

#[test]
fn dumps_compare_by_entry_with_sorted_rows() {
    let source = "\\restrict abc\n--\n-- Name: t; Type: TABLE; Schema: public; Owner: a\n--\n\
                  CREATE TABLE public.t (i int);\n\
                  --\n-- Data for Name: t; Type: TABLE DATA; Schema: public; Owner: a\n--\n\
                  COPY public.t (i) FROM stdin;\n2\n1\n\\.\n\\unrestrict abc\n";
    let reordered = "\\restrict xyz\n--\n-- Data for Name: t; Type: TABLE DATA; Schema: public; Owner: a\n--\n\
                     COPY public.t (i) FROM stdin;\n1\n2\n\\.\n\
                     --\n-- Name: t; Type: TABLE; Schema: public; Owner: a\n--\n\
                     CREATE TABLE public.t (i int);\n";
    let (a, b) = (Dump::parse(source), Dump::parse(reordered));
    let columns = "-- Data for Name: t; Type: TABLE DATA; Schema: public; Owner: a\n\
                   COPY public.t (b, \"a, \"\"x\"\" (y)\") FROM stdin;\n1\t2\n\\.\n";
    let swapped = "-- Data for Name: t; Type: TABLE DATA; Schema: public; Owner: a\n\
                   COPY public.t (\"a, \"\"x\"\" (y)\", b) FROM stdin;\n2\t1\n\\.\n";
    assert!(
        Dump::parse(columns)
            .differing_keys(&Dump::parse(swapped))
            .is_empty()
    );
    let wrong = swapped.replace("2\t1", "1\t2");
    assert_eq!(
        Dump::parse(columns)
            .differing_keys(&Dump::parse(&wrong))
            .len(),
        1
    );
    assert!(a.differing_keys(&b).is_empty());
    let owner = reordered.replace(
        "TABLE; Schema: public; Owner: a",
        "TABLE; Schema: public; Owner: b",
    );
    let c = Dump::parse(&owner);
    let keys = a.differing_keys(&c);
    assert_eq!(
        keys.iter().collect::<Vec<_>>(),
        ["Name: t; Type: TABLE; Schema: public"]
    );
    let report = a.report(&c, &keys);
    assert!(
        report.contains("- -- Name: t; Type: TABLE; Schema: public; Owner: a"),
        "{report}"
    );
    assert!(
        report.contains("+ -- Name: t; Type: TABLE; Schema: public; Owner: b"),
        "{report}"
    );
}
