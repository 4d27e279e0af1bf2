//! Environments: named databases an application runs on.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::Range;
use std::path::PathBuf;
use std::str::FromStr;

/// What an environment is for. A production environment is never a refresh target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EnvKind {
    Production,
    Sandbox,
    Dev,
}

impl EnvKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EnvKind::Production => "production",
            EnvKind::Sandbox => "sandbox",
            EnvKind::Dev => "dev",
        }
    }
}

impl fmt::Display for EnvKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EnvKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "production" | "prod" => Ok(EnvKind::Production),
            "sandbox" | "uat" | "test" | "training" => Ok(EnvKind::Sandbox),
            "dev" | "development" => Ok(EnvKind::Dev),
            other => Err(format!(
                "unknown environment kind `{other}` (expected production, sandbox or dev)"
            )),
        }
    }
}

/// Where an environment's database lives. The engine follows from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "engine", content = "at", rename_all = "lowercase")]
pub enum Location {
    /// A SQLite database file.
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL (it may hold a password: never print it, use
    /// [`Location::redacted`]).
    Postgres(String),
}

impl Location {
    pub fn engine_name(&self) -> &'static str {
        match self {
            Location::Sqlite(_) => "sqlite",
            Location::Postgres(_) => "postgres",
        }
    }

    /// The location as it may be shown or logged: passwords removed.
    pub fn redacted(&self) -> String {
        match self {
            Location::Sqlite(path) => path.display().to_string(),
            Location::Postgres(url) => redact_url(url),
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// Removes the password from `scheme://user:password@host/...` and from `password=...`
/// key/value pairs.
pub fn redact_url(url: &str) -> String {
    let mut out = url.to_owned();
    for span in password_spans(url).into_iter().rev() {
        out.replace_range(span, "***");
    }
    out
}

/// Where the passwords of a connection URL are, in order: the `password` of
/// `scheme://user:password@host/...`, then the value of a `password=...` key/value pair.
/// What [`redact_url`] hides, and what the control plane keeps encrypted.
///
/// The user part ends at the *last* `@` before the query: a password with an unencoded
/// `@` (`p@ss`) is found whole, not cut at its own `@`.
pub fn password_spans(url: &str) -> Vec<Range<usize>> {
    let mut spans = Vec::new();
    if let Some(scheme_end) = url.find("://") {
        let rest_start = scheme_end + 3;
        let query = url[rest_start..]
            .find('?')
            .map_or(url.len(), |i| i + rest_start);
        if let Some(at) = url[rest_start..query].rfind('@').map(|i| i + rest_start)
            && let Some(colon) = url[rest_start..at].find(':').map(|i| i + rest_start)
        {
            spans.push(colon + 1..at);
        }
    }
    let after = spans.last().map_or(0, |span| span.end);
    if let Some(start) = url[after..].find("password=").map(|i| i + after) {
        let value_start = start + "password=".len();
        let end = url[value_start..]
            .find(['&', ' '])
            .map_or(url.len(), |i| i + value_start);
        spans.push(value_start..end);
    }
    spans
}

/// A named environment as the control plane records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Environment {
    pub name: String,
    pub kind: EnvKind,
    pub location: Location,
    /// The name of a built-in or registered profile (`finance`, `none`, `dataalm profile add`).
    pub profile: String,
    /// The application's base URL, used by the API to find an environment by Host.
    #[serde(default)]
    pub url: Option<String>,
    /// Its GUID and the settings `env set` changes.
    #[serde(default, flatten)]
    pub settings: EnvSettings,
}

/// What an environment carries besides where it is: a stable GUID (for clients that
/// name environments by id, as the ERP's movement API does) and the settings that
/// `env set` changes. All optional in a stored record, so older records read as before.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvSettings {
    /// A GUID, given by the control plane when the environment is added (or when an
    /// older record is upgraded); never changes.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// At most this many refreshes may start on it in a rolling window; none when off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttle: Option<Throttle>,
    /// The IANA time zone in which a date-time without an offset is read (AddMessage);
    /// UTC when not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
}

/// A limit on the operations that start changes on an environment: `limit` in any
/// `window_secs` (rolling). Written `N/24h` (`s`, `m`, `h` or `d`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Throttle {
    pub limit: u32,
    pub window_secs: u64,
}

impl FromStr for Throttle {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            format!("invalid throttle `{s}`: write N/WINDOW, e.g. `3/24h` (s, m, h or d), or `off`")
        };
        let (limit, window) = s.trim().split_once('/').ok_or_else(bad)?;
        let limit: u32 = limit.trim().parse().map_err(|_| bad())?;
        let window = window.trim();
        let split = window.len().checked_sub(1).ok_or_else(bad)?;
        let (amount, unit) = window.split_at_checked(split).ok_or_else(bad)?;
        let amount: u64 = if amount.is_empty() {
            1
        } else {
            amount.parse().map_err(|_| bad())?
        };
        let unit_secs = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            _ => return Err(bad()),
        };
        let window_secs = amount.checked_mul(unit_secs).ok_or_else(bad)?;
        if limit == 0 || window_secs == 0 {
            return Err(format!(
                "invalid throttle `{s}`: the limit and the window must be above zero (`off` turns it off)"
            ));
        }
        Ok(Throttle { limit, window_secs })
    }
}

impl fmt::Display for Throttle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let w = self.window_secs;
        // Hours rather than days: `N/24h` is how people say it.
        let (amount, unit) = if w.is_multiple_of(3600) {
            (w / 3600, "h")
        } else if w.is_multiple_of(60) {
            (w / 60, "m")
        } else {
            (w, "s")
        };
        write!(f, "{}/{amount}{unit}", self.limit)
    }
}

/// A GUID in its canonical form (lowercase, hyphenated), if `text` is one: GUIDs are
/// compared as such, whatever case a client writes them in.
pub fn canonical_guid(text: &str) -> Option<String> {
    uuid::Uuid::parse_str(text.trim())
        .ok()
        .map(|id| id.hyphenated().to_string())
}

/// A new random GUID.
pub fn new_guid() -> String {
    uuid::Uuid::new_v4().hyphenated().to_string()
}

/// Whether `name` is a simple name: 1 to 63 letters, digits, `-` or `_`. Environment
/// and profile names are used in file names and URLs, and a path is never one.
pub fn is_simple_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Environment names are used in file names and URLs: keep them simple.
pub fn check_env_name(name: &str) -> Result<(), String> {
    if is_simple_name(name) {
        Ok(())
    } else {
        Err(format!(
            "invalid environment name `{name}`: use 1 to 63 letters, digits, `-` or `_`"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db:5432/erp"),
            "postgres://app:***@db:5432/erp"
        );
        assert_eq!(
            redact_url("host=db password=s3cret user=app"),
            "host=db password=*** user=app"
        );
        assert_eq!(redact_url("postgres://db/erp"), "postgres://db/erp");
        let at_in_password = redact_url("postgres://app:p@ss@w0rd@db:5432/erp?sslmode=require");
        assert_eq!(
            at_in_password,
            "postgres://app:***@db:5432/erp?sslmode=require"
        );
        assert_eq!(
            redact_url("postgres://app@db/erp?password=s3cret&sslmode=require"),
            "postgres://app@db/erp?password=***&sslmode=require"
        );
    }

    #[test]
    fn password_spans_are_the_redacted_parts() {
        let url = "postgres://app:p@ss@db/erp?password=two&sslmode=require";
        let found: Vec<&str> = password_spans(url).into_iter().map(|s| &url[s]).collect();
        assert_eq!(found, ["p@ss", "two"]);
        assert!(password_spans("postgres://app@db/erp").is_empty());
    }

    #[test]
    fn throttles_parse_and_print() {
        let t: Throttle = "3/24h".parse().unwrap();
        assert_eq!(
            t,
            Throttle {
                limit: 3,
                window_secs: 86_400
            }
        );
        assert_eq!(t.to_string(), "3/24h");
        assert_eq!("2/1d".parse::<Throttle>().unwrap().window_secs, 86_400);
        assert_eq!("5/90m".parse::<Throttle>().unwrap().to_string(), "5/90m");
        assert_eq!("1/h".parse::<Throttle>().unwrap().window_secs, 3600);
        for bad in ["", "3", "0/24h", "3/0h", "3/24x", "x/24h", "3/", "-1/2h"] {
            assert!(bad.parse::<Throttle>().is_err(), "{bad}");
        }
    }

    #[test]
    fn guids_are_canonical() {
        let id = new_guid();
        assert_eq!(canonical_guid(&id.to_uppercase()), Some(id));
        assert_eq!(canonical_guid("uat"), None);
    }

    #[test]
    fn older_records_read_without_settings() {
        let env: Environment = serde_json::from_str(
            r#"{"name":"uat","kind":"sandbox","location":{"engine":"sqlite","at":"/x"},"profile":"finance"}"#,
        )
        .unwrap();
        assert_eq!(env.settings, EnvSettings::default());
    }

    #[test]
    fn env_names_are_checked() {
        assert!(check_env_name("uat-1").is_ok());
        assert!(check_env_name("../etc").is_err());
        assert!(check_env_name("").is_err());
    }
}
