//! PostgreSQL's own `regression` database, built the way `pg_regress` builds it.
//!
//! pg_upgrade's test gets its hardest input this way: it runs the core regression suite
//! (`src/test/regress/parallel_schedule`) against a server, then dumps what the tests left
//! behind. [`build`] does the same against a [`Cluster`], from the installed server's own
//! source package, its `pg_regress` (`pg_config --pkglibdir`/pgxs) and its headers
//! (`postgresql-server-dev-<major>`):
//!
//! - the suite's files are copied into a temporary work directory the server's OS account
//!   can read (the source usually sits under a home directory it cannot enter);
//! - `regress.c` and contrib's `autoinc.c` and `refint.c` (which the `triggers` test loads)
//!   are compiled there with the server headers;
//! - the database is created as `pg_regress` creates it (`template0`, `lc_messages = 'C'`
//!   and friends), then `pg_regress --use-existing` runs the schedule in it, as the server's
//!   OS account, so that files the server writes (`COPY ... TO`) land in a directory it owns.
//!
//! Tests whose output differs from the expected one are not an error: what is wanted is the
//! database they leave. The returned [`Regression`] keeps the work directory, because the
//! database's C functions name the libraries in it: drop it only when done with every
//! server that holds a copy.
//!
//! The source is looked for in `$DATAALM_PG_SOURCE` (a source tree), else in the cache
//! `scripts/test` fills: `${XDG_CACHE_HOME:-$HOME/.cache}/dataalm/postgresql-<major>/`,
//! which holds `postgresql-<major>-<version>/` as `apt-get source` extracts it.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::runas::RunAs;
use crate::{Cluster, ClusterOptions, SUPERUSER, sql};

/// Environment variable naming an extracted PostgreSQL source tree to use.
pub const SOURCE_ENV: &str = "DATAALM_PG_SOURCE";

/// What to do when something is missing.
const HOW_TO_GET: &str = "run scripts/test, which installs postgresql-server-dev-15, a C compiler \
     and the PostgreSQL 15 source (apt-get source postgresql-15)";

/// The suite's files that `pg_regress` and the tests read.
const SUITE_FILES: [&str; 5] = ["sql", "expected", "data", "parallel_schedule", "resultmap"];

/// The C modules the schedule loads: (source file under the source tree, library name,
/// compiler flags their makefile adds: `triggers` expects refint's notices).
const MODULES: [(&str, &str, &[&str]); 3] = [
    ("src/test/regress/regress.c", "regress", &[]),
    ("contrib/spi/autoinc.c", "autoinc", &[]),
    ("contrib/spi/refint.c", "refint", &["-DREFINT_VERBOSE"]),
];

/// How many tests of a parallel group run at once (as pg_upgrade's test runs them).
const MAX_CONCURRENT_TESTS: &str = "20";

/// How many lines of `pg_regress` output an error shows.
const OUTPUT_TAIL_LINES: usize = 40;

/// What can stop the regression database from being built.
#[derive(Debug, thiserror::Error)]
pub enum RegressError {
    /// A file or program the build needs is not on this machine.
    #[error("{what} not found: {HOW_TO_GET}")]
    Missing {
        /// What was looked for, and where.
        what: String,
    },

    /// Compiling one of the C modules failed.
    #[error("compiling {source_file} into {library}.so failed ({status}): {output}")]
    Compile {
        /// The C file.
        source_file: PathBuf,
        /// The library being built.
        library: String,
        /// The compiler's exit status.
        status: ExitStatus,
        /// The compiler's messages.
        output: String,
    },

    /// `pg_regress` could not run the schedule to its end (it exits 1 when only some tests
    /// differ from their expected output, which is fine, and 2 when it gave up).
    #[error("pg_regress did not finish ({status}); the end of its output:\n{tail}")]
    PgRegress {
        /// Its exit status.
        status: ExitStatus,
        /// The last lines of its output.
        tail: String,
    },

    /// Starting a program, a file operation, or SQL on the cluster failed.
    #[error(transparent)]
    Cluster(#[from] crate::Error),
}

/// The settings the suite needs from the server: `prepared_xacts` needs prepared
/// transactions (pg_regress's own temporary instance sets the same value).
pub fn cluster_options() -> ClusterOptions {
    ClusterOptions {
        settings: vec![("max_prepared_transactions".into(), "2".into())],
        ..ClusterOptions::default()
    }
}

/// A built `regression` database and the work directory its C functions need.
#[derive(Debug)]
pub struct Regression {
    /// The database the suite ran in.
    pub database: String,
    /// How long compiling and running the suite took.
    pub elapsed: Duration,
    /// The tests whose output differed from the expected one.
    pub failed_tests: Vec<String>,
    /// How many tests ran.
    pub tests: usize,
    /// Holds the compiled libraries (named by the database's C functions) and the results.
    work: TempDir,
}

impl Regression {
    /// The directory of `regress.so` and the other libraries the database's functions load.
    pub fn lib_dir(&self) -> PathBuf {
        self.work.path().join("lib")
    }

    /// `pg_regress`'s differences file (present when some test failed).
    pub fn diffs(&self) -> PathBuf {
        self.work.path().join("out").join("regression.diffs")
    }

    /// The first `lines` lines of `pg_regress`'s differences (empty when every test passed).
    pub fn diffs_head(&self, lines: usize) -> String {
        fs::read_to_string(self.diffs())
            .map(|text| text.lines().take(lines).collect::<Vec<_>>().join("\n"))
            .unwrap_or_default()
    }

    /// One line: how many tests ran, which failed, how long it took.
    pub fn summary(&self) -> String {
        let failed = if self.failed_tests.is_empty() {
            "none failed".to_string()
        } else {
            format!(
                "{} failed ({}; see {})",
                self.failed_tests.len(),
                self.failed_tests.join(", "),
                self.diffs().display()
            )
        };
        format!(
            "regression database {:?}: {} tests in {:.1} s, {failed}",
            self.database,
            self.tests,
            self.elapsed.as_secs_f64()
        )
    }
}

/// Where the suite's pieces are on this machine.
#[derive(Debug)]
struct Suite {
    /// The extracted source tree.
    source: PathBuf,
    /// `pg_regress`, from the installed PostgreSQL's pgxs directory.
    pg_regress: PathBuf,
    /// The server headers (`pg_config --includedir-server`).
    include_server: PathBuf,
    /// The C compiler (`$CC`, else `cc`).
    compiler: String,
}

/// Builds database `database` on `cluster` by running the core regression suite in it.
/// The cluster should be started with [`cluster_options`] and be the test's own: the suite
/// creates roles and tablespaces.
pub fn build(cluster: &Cluster, database: &str) -> Result<Regression, RegressError> {
    let started = Instant::now();
    let suite = locate(cluster.bin_dir())?;
    let run_as = RunAs::detect()?;
    let work = prepare_work_dir(&suite, run_as)?;
    for (file, library, flags) in MODULES {
        let module = Module {
            source_file: &suite.source.join(file),
            library,
            flags,
        };
        compile(&suite, &module, work.path())?;
    }
    create_database(cluster, database)?;
    let output = run_pg_regress(cluster, &suite, run_as, work.path(), database)?;
    Ok(Regression {
        database: database.to_string(),
        elapsed: started.elapsed(),
        failed_tests: failed_tests(&output),
        tests: count_tests(&output),
        work,
    })
}

/// Finds the source tree, `pg_regress`, the server headers and a C compiler.
fn locate(bin_dir: &Path) -> Result<Suite, RegressError> {
    let pg_config = pg_config(bin_dir);
    let version = server_version(bin_dir)?;
    let source = source_tree(&version)?;
    let pkglibdir = PathBuf::from(query_pg_config(&pg_config, "--pkglibdir")?);
    let pg_regress = pkglibdir.join("pgxs/src/test/regress/pg_regress");
    let include_server = PathBuf::from(query_pg_config(&pg_config, "--includedir-server")?);
    let compiler = std::env::var("CC").unwrap_or_else(|_| "cc".to_string());
    require(&pg_regress, "pg_regress")?;
    require(&include_server.join("postgres.h"), "the server headers")?;
    if Command::new(&compiler).arg("--version").output().is_err() {
        return Err(RegressError::Missing {
            what: format!("the C compiler {compiler:?}"),
        });
    }
    Ok(Suite {
        source,
        pg_regress,
        include_server,
        compiler,
    })
}

fn require(path: &Path, what: &str) -> Result<(), RegressError> {
    if path.exists() {
        Ok(())
    } else {
        Err(RegressError::Missing {
            what: format!("{what} ({})", path.display()),
        })
    }
}

/// The `pg_config` beside the server binaries, else the one on `PATH`.
fn pg_config(bin_dir: &Path) -> PathBuf {
    let beside = bin_dir.join("pg_config");
    if beside.is_file() {
        beside
    } else {
        PathBuf::from("pg_config")
    }
}

fn query_pg_config(pg_config: &Path, option: &str) -> Result<String, RegressError> {
    let output =
        Command::new(pg_config)
            .arg(option)
            .output()
            .map_err(|_| RegressError::Missing {
                what: format!("pg_config ({})", pg_config.display()),
            })?;
    if !output.status.success() {
        return Err(RegressError::Missing {
            what: format!("pg_config {option} ({})", pg_config.display()),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// The server's version, e.g. `15.18`, from `postgres --version`.
fn server_version(bin_dir: &Path) -> Result<String, RegressError> {
    let program = bin_dir.join("postgres");
    let output = Command::new(&program)
        .arg("--version")
        .output()
        .map_err(|e| crate::Error::io(format!("running {} --version", program.display()), e))?;
    let text = String::from_utf8_lossy(&output.stdout);
    parse_version(&text).ok_or_else(|| RegressError::Missing {
        what: format!(
            "a version in {:?} (from {})",
            text.trim(),
            program.display()
        ),
    })
}

/// `15.18` from `postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)`.
fn parse_version(text: &str) -> Option<String> {
    text.split_whitespace()
        .find(|word| word.starts_with(|c: char| c.is_ascii_digit()))
        .map(str::to_string)
}

/// `$DATAALM_PG_SOURCE`, else the cache's tree for `version`, else the cache's newest tree
/// of the same major version (its tests then may differ a little from the server's).
fn source_tree(version: &str) -> Result<PathBuf, RegressError> {
    if let Some(dir) = std::env::var_os(SOURCE_ENV).filter(|v| !v.is_empty()) {
        let dir = PathBuf::from(dir);
        require(&dir.join("src/test/regress/parallel_schedule"), SOURCE_ENV)?;
        return Ok(dir);
    }
    let major = version.split('.').next().unwrap_or(version);
    let cache = cache_dir().join(format!("postgresql-{major}"));
    let exact = cache.join(format!("postgresql-{major}-{version}"));
    if exact.join("src/test/regress/parallel_schedule").is_file() {
        return Ok(exact);
    }
    newest_tree(&cache, major).ok_or_else(|| RegressError::Missing {
        what: format!(
            "the PostgreSQL {version} source (looked in {})",
            cache.display()
        ),
    })
}

/// `${XDG_CACHE_HOME:-$HOME/.cache}/dataalm`, as `scripts/test` spells it.
fn cache_dir() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    base.join("dataalm")
}

/// The last (by name) `postgresql-<major>-*` tree in `cache` that holds the suite.
fn newest_tree(cache: &Path, major: &str) -> Option<PathBuf> {
    let prefix = format!("postgresql-{major}-");
    let mut trees: Vec<PathBuf> = fs::read_dir(cache)
        .ok()?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| {
            path.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix))
                && path.join("src/test/regress/parallel_schedule").is_file()
        })
        .collect();
    trees.sort();
    trees.pop()
}

/// A temporary directory with the suite's files (`src/`), room for the libraries (`lib/`)
/// and an output directory (`out/`) owned by the server's account.
fn prepare_work_dir(suite: &Suite, run_as: RunAs) -> Result<TempDir, RegressError> {
    let work = tempfile::Builder::new()
        .prefix("dataalm-regress-")
        .tempdir()
        .map_err(|e| crate::Error::io("creating the regression work directory", e))?;
    let regress = suite.source.join("src/test/regress");
    let src = work.path().join("src");
    for name in SUITE_FILES {
        copy_tree(&regress.join(name), &src.join(name))?;
    }
    for dir in ["lib", "out"] {
        create_dir(&work.path().join(dir))?;
    }
    // Everyone may read the suite and libraries; the server's account writes the results.
    set_mode(work.path(), 0o755)?;
    run_as.give(work.path())?;
    run_as.give(&work.path().join("out"))?;
    Ok(work)
}

/// Copies a file, or a directory and everything in it.
fn copy_tree(from: &Path, to: &Path) -> Result<(), crate::Error> {
    let action = || format!("copying {} to {}", from.display(), to.display());
    if from.is_file() {
        return fs::copy(from, to)
            .map(drop)
            .map_err(|e| crate::Error::io(action(), e));
    }
    create_dir(to)?;
    for entry in fs::read_dir(from).map_err(|e| crate::Error::io(action(), e))? {
        let entry = entry.map_err(|e| crate::Error::io(action(), e))?;
        copy_tree(&entry.path(), &to.join(entry.file_name()))?;
    }
    Ok(())
}

fn create_dir(path: &Path) -> Result<(), crate::Error> {
    fs::create_dir_all(path)
        .map_err(|e| crate::Error::io(format!("creating {}", path.display()), e))
}

fn set_mode(path: &Path, mode: u32) -> Result<(), crate::Error> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(|e| crate::Error::io(format!("chmod {mode:o} {}", path.display()), e))
}

/// One C module to build.
struct Module<'a> {
    source_file: &'a Path,
    library: &'a str,
    flags: &'a [&'a str],
}

/// Compiles a module into `<work>/lib/<library>.so` against the server headers.
fn compile(suite: &Suite, module: &Module, work: &Path) -> Result<(), RegressError> {
    let Module {
        source_file,
        library,
        flags,
    } = *module;
    require(source_file, "a C module of the suite")?;
    let output = Command::new(&suite.compiler)
        .args(["-fPIC", "-shared", "-O2"])
        .args(flags)
        .arg(format!("-I{}", suite.include_server.display()))
        .arg("-o")
        .arg(work.join("lib").join(format!("{library}.so")))
        .arg(source_file)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| crate::Error::io(format!("running {}", suite.compiler), e))?;
    if output.status.success() {
        return Ok(());
    }
    Err(RegressError::Compile {
        source_file: source_file.to_path_buf(),
        library: library.to_string(),
        status: output.status,
        output: String::from_utf8_lossy(&output.stderr).trim().to_string(),
    })
}

/// Creates the database as `pg_regress` does when it is not told `--use-existing`.
fn create_database(cluster: &Cluster, database: &str) -> Result<(), crate::Error> {
    let name = sql::quote_ident(database);
    cluster.execute(&format!("CREATE DATABASE {name} TEMPLATE = template0"))?;
    let settings = [
        ("lc_messages", "C"),
        ("lc_monetary", "C"),
        ("lc_numeric", "C"),
        ("lc_time", "C"),
        ("bytea_output", "hex"),
        ("timezone_abbreviations", "Default"),
    ];
    for (setting, value) in settings {
        let value = sql::quote_literal(value);
        cluster.execute(&format!("ALTER DATABASE {name} SET {setting} TO {value}"))?;
    }
    Ok(())
}

/// Runs the parallel schedule in `database`; returns `pg_regress`'s output when it ran to
/// the end, whether or not every test matched its expected output.
fn run_pg_regress(
    cluster: &Cluster,
    suite: &Suite,
    run_as: RunAs,
    work: &Path,
    database: &str,
) -> Result<String, RegressError> {
    let src = work.join("src");
    let mut cmd = run_as.command(&suite.pg_regress);
    cmd.arg("--use-existing")
        .arg(format!("--host={}", cluster.host()))
        .arg(format!("--port={}", cluster.port()))
        .arg(format!("--user={SUPERUSER}"))
        .arg(format!("--dbname={database}"))
        .arg(format!("--bindir={}", cluster.bin_dir().display()))
        .arg(format!("--inputdir={}", src.display()))
        .arg(format!("--outputdir={}", work.join("out").display()))
        .arg(format!("--dlpath={}", work.join("lib").display()))
        .arg(format!(
            "--schedule={}",
            src.join("parallel_schedule").display()
        ))
        .arg(format!("--max-concurrent-tests={MAX_CONCURRENT_TESTS}"))
        .env("PGPASSWORD", cluster.password())
        .env_remove("PGSERVICE")
        .env_remove("PGOPTIONS")
        .current_dir(work)
        .stdin(Stdio::null());
    let output = cmd
        .output()
        .map_err(|e| crate::Error::io(format!("running {}", suite.pg_regress.display()), e))?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    // 0: every test passed; 1: some differ from their expected output; 2: it gave up.
    match output.status.code() {
        Some(0 | 1) => Ok(text),
        _ => Err(RegressError::PgRegress {
            status: output.status,
            tail: tail(&text, OUTPUT_TAIL_LINES),
        }),
    }
}

/// The names of the tests `pg_regress` marked `FAILED` (or `failed (ignored)`).
fn failed_tests(output: &str) -> Vec<String> {
    output
        .lines()
        .filter(|line| line.contains("... FAILED") || line.contains("... failed"))
        .filter_map(|line| test_name(line).map(str::to_string))
        .collect()
}

/// How many test result lines (`name ... ok|FAILED`) the output holds.
fn count_tests(output: &str) -> usize {
    output.lines().filter(|line| line.contains(" ... ")).count()
}

/// `triggers` from `     triggers     ... FAILED     1096 ms` (or `test triggers ...`).
fn test_name(line: &str) -> Option<&str> {
    let before = line.split(" ... ").next()?;
    before.split_whitespace().last()
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_is_read_from_postgres_version() {
        let text = "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)\n";
        assert_eq!(parse_version(text).as_deref(), Some("15.18"));
        assert_eq!(parse_version("postgres (PostgreSQL)"), None);
    }

    #[test]
    fn failed_tests_are_named() {
        let output = "test tablespace                   ... ok          371 ms\n\
             parallel group (3 tests):  a b triggers\n\
             \x20    triggers                     ... FAILED     1096 ms\n\
             \x20    random                       ... failed (ignored)  5 ms\n\
             \x20    with                         ... ok          947 ms\n\
             ========================\n 2 of 4 tests failed.\n";
        assert_eq!(failed_tests(output), ["triggers", "random"]);
        assert_eq!(count_tests(output), 4);
    }

    #[test]
    fn newest_tree_of_the_major_is_found() {
        let cache = tempfile::tempdir().expect("tempdir");
        for name in [
            "postgresql-15-15.17",
            "postgresql-15-15.18",
            "postgresql-16-16.2",
        ] {
            let suite = cache.path().join(name).join("src/test/regress");
            fs::create_dir_all(&suite).expect("mkdir");
            fs::write(suite.join("parallel_schedule"), "").expect("write");
        }
        fs::create_dir_all(cache.path().join("postgresql-15-15.99")).expect("mkdir"); // empty
        let found = newest_tree(cache.path(), "15").expect("a tree");
        assert!(
            found.ends_with("postgresql-15-15.18"),
            "{}",
            found.display()
        );
        assert_eq!(newest_tree(cache.path(), "14"), None);
    }

    #[test]
    fn missing_pieces_say_how_to_get_them() {
        let err = require(Path::new("/nonexistent/pg_regress"), "pg_regress").expect_err("missing");
        let text = err.to_string();
        assert!(
            text.starts_with("pg_regress (/nonexistent/pg_regress) not found: run scripts/test")
        );
        assert!(text.contains("postgresql-server-dev-15"), "{text}");
    }
}
