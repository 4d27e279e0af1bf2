//! Timing child processes, their peak memory, and the page cache of the source.
//!
//! Peak memory comes from `/usr/bin/time -f %M` (the child's maximum resident set, as
//! the kernel counts it), so that dataalm, `cp` and `sqlite3` are measured alike. Without
//! `/usr/bin/time` the figure is left out rather than guessed.

use anyhow::{Context, Result, bail};
use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

const GNU_TIME: &str = "/usr/bin/time";

/// One child process run.
pub struct Timed {
    pub seconds: f64,
    /// Peak resident memory of the child, in KiB.
    pub peak_rss_kib: Option<u64>,
    pub stdout: String,
}

/// Runs `program args`, timing it from spawn to exit; fails if it fails.
pub fn run_timed(program: &OsStr, args: &[&OsStr]) -> Result<Timed> {
    let mut command = Command::new(program);
    command.args(args);
    run_command(command, &program.to_string_lossy()).map(|(timed, _)| timed)
}

/// Runs `command`, timed from spawn to exit, with its peak memory from GNU `time` when
/// installed (the largest resident set among the process and the children it waited
/// for). Fails with the end of its error output if it fails; else returns what it
/// wrote to stderr too.
pub fn run_command(command: Command, what: &str) -> Result<(Timed, String)> {
    let memory_file = tempfile::NamedTempFile::new().context("create a temporary file")?;
    let wrapped = Path::new(GNU_TIME).is_file();
    let mut command = if wrapped {
        wrap_in_time(&command, memory_file.path())
    } else {
        command
    };
    let started = Instant::now();
    let output = command.output().with_context(|| format!("run {what}"))?;
    let seconds = started.elapsed().as_secs_f64();
    if !output.status.success() {
        bail!(
            "{what} failed ({}): {}",
            output.status,
            tail(&String::from_utf8_lossy(&output.stderr), 12)
        );
    }
    let peak_rss_kib = if wrapped {
        std::fs::read_to_string(memory_file.path())
            .ok()
            .and_then(|text| text.lines().last().and_then(|l| l.trim().parse().ok()))
    } else {
        None
    };
    let timed = Timed {
        seconds,
        peak_rss_kib,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
    };
    Ok((timed, String::from_utf8_lossy(&output.stderr).into_owned()))
}
/// The same command under `/usr/bin/time -f %M -o FILE`, environment included.
fn wrap_in_time(command: &Command, memory_file: &Path) -> Command {
    let mut wrapped = Command::new(GNU_TIME);
    wrapped
        .args(["-f", "%M", "-o"])
        .arg(memory_file)
        .arg(command.get_program())
        .args(command.get_args());
    for (key, value) in command.get_envs() {
        match value {
            Some(value) => wrapped.env(key, value),
            None => wrapped.env_remove(key),
        };
    }
    if let Some(dir) = command.get_current_dir() {
        wrapped.current_dir(dir);
    }
    wrapped
}

/// The last `lines` lines of `text`.
fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.trim().lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Asks the kernel to drop the file's pages from the page cache (GNU `dd`'s
/// `iflag=nocache count=0` is `posix_fadvise(DONTNEED)` on the whole file). Only this
/// file: the machine's other caches are not ours to drop. Dirty pages cannot be dropped,
/// so the file is flushed first (`sync FILE`: an fsync, which changes no byte of it).
/// Returns whether it worked.
pub fn drop_file_cache(path: &Path) -> bool {
    let flushed = Command::new("sync")
        .arg(path)
        .status()
        .is_ok_and(|s| s.success());
    if !flushed {
        return false;
    }
    let mut input = std::ffi::OsString::from("if=");
    input.push(path);
    Command::new("dd")
        .arg(input)
        .args(["iflag=nocache", "count=0", "status=none"])
        .status()
        .is_ok_and(|s| s.success())
}

/// Bytes of `path` in the page cache, from util-linux `fincore`, when available.
pub fn cached_bytes(path: &Path) -> Option<u64> {
    let output = Command::new("fincore")
        .args(["--bytes", "--noheadings", "--output", "RES"])
        .arg(path)
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    String::from_utf8_lossy(&output.stdout).trim().parse().ok()
}

/// This process's peak resident memory (`VmHWM`), in KiB.
pub fn own_peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}
