//! Application profiles registered in the control plane, by name.
//!
//! A profile's TOML text is stored once, checked, with its SHA-256 and who added it when;
//! a name never changes content, so a refresh uses exactly what was registered, whatever
//! happens to the file it came from. The built-in profiles (`finance`, `none`) are always
//! there by name and are not stored. Environments name their profile; nothing here reads a
//! file except [`read_profile_file`] (for the CLI) and the upgrade of environments that an
//! older dataalm pointed at a file path ([`Store::adopt_profile_files`]).

use crate::backend::Cells;
use crate::{Error, Result, Store, now_text, secrets};
use dataalm_core::Profile;
use dataalm_core::profile::{BUILTIN, check_profile_name};
use serde::Serialize;
use std::path::Path;

/// The largest profile file read: real profiles are a few kB.
const MAX_PROFILE_BYTES: u64 = 1 << 20;

/// A registered profile, as `profile list` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredProfile {
    pub name: String,
    /// The TOML text, as registered (with its comments).
    #[serde(skip)]
    pub text: String,
    /// SHA-256 of the text, hex.
    pub sha256: String,
    /// When and by whom it was added; `None` for a built-in profile.
    pub added_at: Option<String>,
    pub added_by: Option<String>,
}

impl StoredProfile {
    pub fn is_builtin(&self) -> bool {
        self.added_at.is_none()
    }
}

/// What [`Store::register_profile`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registered {
    Added,
    /// The same text was already registered under that name.
    AlreadyThere,
}

/// Reads a profile file for registration. The error names the file and what went wrong,
/// never what it holds.
pub fn read_profile_file(path: &Path) -> Result<String> {
    let failed = |message: String| Error::ProfileFile {
        path: path.display().to_string(),
        message,
    };
    let size = std::fs::metadata(path)
        .map_err(|e| failed(e.to_string()))?
        .len();
    if size > MAX_PROFILE_BYTES {
        return Err(failed(format!(
            "{size} bytes is more than a profile's {MAX_PROFILE_BYTES}"
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| failed(e.to_string()))?;
    String::from_utf8(bytes).map_err(|_| failed("it is not UTF-8 text".into()))
}

impl Store {
    /// Registers `text` as profile `name`, after checking it parses as a profile (`origin`
    /// names it in errors). Registering the same text again is harmless; a different
    /// text under a taken name (a built-in one too) is refused.
    pub fn register_profile(
        &self,
        name: &str,
        text: &str,
        origin: &str,
        by: &str,
    ) -> Result<Registered> {
        check_profile_name(name).map_err(Error::InvalidProfileName)?;
        Profile::parse(text, origin)?;
        let sha256 = secrets::digest(text);
        if let Some(existing) = self.find_profile(name)? {
            return same_text(&existing, &sha256);
        }
        let inserted = self.conn.execute(
            "INSERT INTO profiles (name, body, sha256, added_at, added_by)
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
            &[
                name.into(),
                text.into(),
                sha256.as_str().into(),
                now_text().into(),
                by.into(),
            ],
        )?;
        if inserted == 0 {
            // Another process registered the name in between.
            let existing = self.stored_profile(name)?;
            return same_text(&existing, &sha256);
        }
        Ok(Registered::Added)
    }

    /// A profile by name: built in or registered.
    pub fn stored_profile(&self, name: &str) -> Result<StoredProfile> {
        match self.find_profile(name)? {
            Some(profile) => Ok(profile),
            None => Err(self.unknown_profile(name)),
        }
    }

    /// The built-in profiles, then the registered ones by name.
    pub fn stored_profiles(&self) -> Result<Vec<StoredProfile>> {
        let mut all: Vec<StoredProfile> = BUILTIN.iter().filter_map(|n| builtin(n)).collect();
        for row in self.conn.query(
            "SELECT name, body, sha256, added_at, added_by FROM profiles ORDER BY name",
            &[],
        )? {
            all.push(read_profile(&row)?);
        }
        Ok(all)
    }

    /// The profile an environment names, parsed from the registered text.
    pub fn load_profile(&self, name: &str) -> Result<Profile> {
        if let Some(profile) = Profile::builtin(name) {
            return Ok(profile);
        }
        let stored = self.stored_profile(name)?;
        Ok(Profile::parse(
            &stored.text,
            &format!("{name} (registered)"),
        )?)
    }

    /// Points every environment that names the file `path` (as an older dataalm kept
    /// profiles) at the registered profile `name`; returns their names.
    pub fn adopt_profile_file(&self, path: &str, name: &str) -> Result<Vec<String>> {
        let mut adopted = Vec::new();
        for mut env in self.envs()? {
            if env.profile == path {
                env.profile = name.to_owned();
                self.update_env(&env)?;
                adopted.push(env.name);
            }
        }
        Ok(adopted)
    }

    /// The upgrade from control planes whose environments named a profile file: each
    /// readable file is registered under its stem and its environments point at that.
    /// What cannot be done (unreadable file, stem taken by another profile) is left as it
    /// is and reported when the environment is used.
    pub(crate) fn adopt_profile_files(&self) -> Result<()> {
        let paths: Vec<String> = self
            .envs()?
            .into_iter()
            .map(|env| env.profile)
            .filter(|profile| check_profile_name(profile).is_err())
            .collect();
        for path in paths {
            let Some(name) = Path::new(&path).file_stem().and_then(|s| s.to_str()) else {
                continue;
            };
            let registered = read_profile_file(Path::new(&path))
                .and_then(|text| self.register_profile(name, &text, &path, "upgrade"));
            if registered.is_ok() {
                self.adopt_profile_file(&path, name)?;
            }
        }
        Ok(())
    }

    fn find_profile(&self, name: &str) -> Result<Option<StoredProfile>> {
        if let Some(profile) = builtin(name) {
            return Ok(Some(profile));
        }
        self.conn
            .query_opt(
                "SELECT name, body, sha256, added_at, added_by FROM profiles WHERE name = ?1",
                &[name.into()],
            )?
            .map(|row| read_profile(&row))
            .transpose()
    }

    /// The error for a name that is not registered, listing those that are.
    fn unknown_profile(&self, name: &str) -> Error {
        if check_profile_name(name).is_err() {
            return Error::UnregisteredProfileFile(name.to_owned());
        }
        match self.stored_profiles() {
            Ok(all) => Error::UnknownProfile {
                name: name.to_owned(),
                registered: all.into_iter().map(|p| p.name).collect(),
            },
            Err(error) => error,
        }
    }
}

fn same_text(existing: &StoredProfile, sha256: &str) -> Result<Registered> {
    if existing.sha256 == sha256 {
        Ok(Registered::AlreadyThere)
    } else {
        Err(Error::ProfileExists(existing.name.clone()))
    }
}

fn builtin(name: &str) -> Option<StoredProfile> {
    let text = Profile::builtin_text(name)?;
    Some(StoredProfile {
        name: name.to_owned(),
        sha256: secrets::digest(&text),
        text,
        added_at: None,
        added_by: None,
    })
}

fn read_profile(row: &[dataalm_core::Value]) -> Result<StoredProfile> {
    Ok(StoredProfile {
        name: row.text(0)?,
        text: row.text(1)?,
        sha256: row.text(2)?,
        added_at: Some(row.text(3)?),
        added_by: Some(row.text(4)?),
    })
}
