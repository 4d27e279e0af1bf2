//! Which OS account runs the server.
//!
//! PostgreSQL refuses to run as root. When this process is root, server programs run as the
//! `postgres` OS user through `runuser -u postgres --`, and the files they need are given to it.

use std::ffi::{CString, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::Command;

use crate::Error;

/// The account server programs (`initdb`, `pg_ctl`) run as.
#[derive(Clone, Copy, Debug)]
pub(crate) enum RunAs {
    /// This process's own user (not root).
    Me,
    /// The `postgres` OS user, because this process is root.
    Postgres { uid: libc::uid_t, gid: libc::gid_t },
}

impl RunAs {
    /// `Me` unless the effective user is root.
    pub(crate) fn detect() -> Result<Self, Error> {
        // SAFETY: geteuid has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            return Ok(RunAs::Me);
        }
        let (uid, gid) = lookup_user("postgres")?.ok_or(Error::NoPostgresUser)?;
        Ok(RunAs::Postgres { uid, gid })
    }

    /// The words that go before a server program: `runuser -u postgres --` when root.
    pub(crate) fn prefix(self) -> Vec<OsString> {
        match self {
            RunAs::Me => Vec::new(),
            RunAs::Postgres { .. } => ["runuser", "-u", "postgres", "--"]
                .map(OsString::from)
                .to_vec(),
        }
    }

    /// A command running `program` as this account.
    pub(crate) fn command(self, program: &Path) -> Command {
        let mut words = self.prefix();
        words.push(program.as_os_str().to_owned());
        let mut cmd = Command::new(&words[0]);
        cmd.args(&words[1..]);
        cmd
    }

    /// Makes `path` owned by this account (a no-op for `Me`).
    pub(crate) fn give(self, path: &Path) -> Result<(), Error> {
        let RunAs::Postgres { uid, gid } = self else {
            return Ok(());
        };
        let action = || format!("giving {} to the postgres user", path.display());
        let c_path =
            CString::new(path.as_os_str().as_bytes()).map_err(|e| Error::io(action(), e.into()))?;
        // SAFETY: c_path is a valid NUL-terminated string that outlives the call.
        if unsafe { libc::chown(c_path.as_ptr(), uid, gid) } != 0 {
            return Err(Error::io(action(), std::io::Error::last_os_error()));
        }
        Ok(())
    }
}

/// The uid and gid of OS user `name`, or `None` if there is no such user.
///
/// Uses `getpwnam_r`, the thread-safe form of `getpwnam`: tests start clusters in parallel.
fn lookup_user(name: &str) -> Result<Option<(libc::uid_t, libc::gid_t)>, Error> {
    let action = || format!("looking up OS user {name:?}");
    let c_name = CString::new(name).map_err(|e| Error::io(action(), e.into()))?;
    // SAFETY: passwd is plain old data; an all-zero value is valid and is overwritten below.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call and buf.len() is its true length.
    let rc = unsafe {
        libc::getpwnam_r(
            c_name.as_ptr(),
            &mut pwd,
            buf.as_mut_ptr(),
            buf.len(),
            &mut found,
        )
    };
    if rc != 0 {
        return Err(Error::io(action(), std::io::Error::from_raw_os_error(rc)));
    }
    Ok((!found.is_null()).then_some((pwd.pw_uid, pwd.pw_gid)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_is_found_and_strangers_are_not() {
        assert_eq!(lookup_user("root").expect("lookup"), Some((0, 0)));
        assert_eq!(lookup_user("no-such-user-dataalm").expect("lookup"), None);
    }

    #[test]
    fn prefix_matches_account() {
        assert!(RunAs::Me.prefix().is_empty());
        let pg = RunAs::Postgres { uid: 1, gid: 1 };
        assert_eq!(pg.prefix(), ["runuser", "-u", "postgres", "--"]);
    }
}
