//! The reaper: a detached shell that removes a cluster once its owner process is gone.
//!
//! `Drop` cleans up a cluster normally, but not one held in a `static`, nor one left behind by
//! a test that was killed. For those, each cluster gets a reaper when it starts: a `sh` in its
//! own process group (so a Ctrl-C or a kill of the test's group does not reach it) that polls
//! the owner's pid, then stops the server and removes the directory.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::Error;

/// `$1` = owner pid, `$2` = directory to remove, the rest = the command that stops the server.
/// Stop and remove are retried a few times: a killed owner may leave an `initdb` or `pg_ctl
/// start` running on, which could recreate files or start the server during the first pass.
const SCRIPT: &str = r#"owner=$1; dir=$2; shift 2
while kill -0 "$owner" 2>/dev/null; do sleep 0.5; done
for try in 1 2 3 4 5; do
  "$@" >/dev/null 2>&1
  rm -rf "$dir" 2>/dev/null
  [ -e "$dir" ] || exit 0
  sleep 1
done"#;

/// A running reaper. Dropping it (when the cluster was removed normally) ends the process.
#[derive(Debug)]
pub(crate) struct Reaper(Child);

/// Spawns a reaper that waits for `owner` to exit, then runs `stop` and removes `dir`.
pub(crate) fn spawn(owner: u32, dir: &Path, stop: Vec<OsString>) -> Result<Reaper, Error> {
    let child = Command::new("sh")
        .arg("-c")
        .arg(SCRIPT)
        .arg("dataalm-pg-reaper") // $0, shown by ps
        .arg(owner.to_string())
        .arg(dir)
        .args(stop)
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| Error::io("spawning the cluster's reaper (sh)", e))?;
    Ok(Reaper(child))
}

impl Drop for Reaper {
    /// Kills the reaper and collects its exit status (no zombie is left).
    fn drop(&mut self) {
        // Kill fails only if it already exited; wait reaps it either way.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
