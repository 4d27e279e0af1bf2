//! Application profiles: where an application keeps what a refresh must handle.
//!
//! A profile is TOML (see `profiles/finance.toml`). Every table and column it names is
//! checked against the database with [`Profile::validate`] before anything is changed.
//!
//! Profiles are registered in the control plane by name (`dataalm profile add`); this
//! module reads none from files. A parse error gives the line, the column and what was
//! wrong, never the text it found there: the file may be one that should not be shown.

use crate::schema::Schema;
use crate::value::Value;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The built-in profiles: `finance` (the sample application) and `none` (a plain copy).
pub const BUILTIN: &[&str] = &["finance", "none"];

const FINANCE_TOML: &str = include_str!("../profiles/finance.toml");

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("invalid profile {origin}: {message}")]
    Parse { origin: String, message: String },
    #[error("profile `{profile}` does not match the database: {}", missing.join(", "))]
    Mismatch {
        profile: String,
        missing: Vec<String>,
    },
    /// A masked copy would carry columns that look personal and have no rule.
    #[error(
        "profile `{profile}` masks the copy, but these columns look personal and have no \
         [[mask]] rule: {}; mask them, or accept them with `unmasked = [\"table.column\", ...]`",
        columns.join(", ")
    )]
    Unmasked {
        profile: String,
        columns: Vec<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub users: Option<UsersSpec>,
    pub batch_jobs: Option<BatchJobsSpec>,
    pub batch_groups: Option<BatchGroupsSpec>,
    pub broadcast: Option<BroadcastSpec>,
    pub email: Option<EmailSpec>,
    pub system: Option<SystemSpec>,
    #[serde(default)]
    pub keep: Vec<KeepSpec>,
    #[serde(default)]
    pub neutralize: Vec<NeutralizeSpec>,
    #[serde(default)]
    pub aggregates: Vec<AggregateSpec>,
    /// Columns whose values a copy replaces with pseudonyms (`dataalm-mask` does it).
    #[serde(default)]
    pub mask: Vec<MaskSpec>,
    /// `table.column` that look personal but are knowingly copied as they are.
    #[serde(default)]
    pub unmasked: Vec<String>,
}

/// The users table. Users are found by id or by e-mail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsersSpec {
    pub table: String,
    pub id: String,
    pub email: String,
    pub name: Option<String>,
    pub enabled: String,
    #[serde(default = "one")]
    pub enabled_value: Value,
    #[serde(default = "zero")]
    pub disabled_value: Value,
    /// Ids of the users that stay enabled in a copy (admin, service accounts).
    #[serde(default)]
    pub keep_enabled: Vec<String>,
}

/// The batch jobs table and the values its status column takes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchJobsSpec {
    pub table: String,
    pub id: String,
    pub name: Option<String>,
    pub status: String,
    /// Status name (lower case: withhold, waiting, executing, error, ended...) → stored value.
    /// `withhold` and `waiting` are required.
    pub statuses: BTreeMap<String, Value>,
    /// Statuses that Neutralize turns into `withhold`.
    #[serde(default = "default_withhold_from")]
    pub withhold_from: Vec<String>,
}

impl BatchJobsSpec {
    /// The stored value of a status name, case-insensitively.
    pub fn status_value(&self, name: &str) -> Option<&Value> {
        self.statuses
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// The status name of a stored value.
    pub fn status_name(&self, value: &Value) -> Option<&str> {
        self.statuses
            .iter()
            .find(|(_, v)| v.same_as(value))
            .map(|(k, _)| k.as_str())
    }
}

/// Batch group → batch server mapping table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchGroupsSpec {
    pub table: String,
    pub group: String,
    pub server: String,
}

/// Broadcast messages shown to signed-in users. `id` is filled by the database.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BroadcastSpec {
    pub table: String,
    pub id: String,
    pub from: String,
    pub to: String,
    pub text: String,
}

/// A one-row table of e-mail (SMTP) settings; `columns` are those a plan may set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailSpec {
    pub table: String,
    pub columns: Vec<String>,
}

/// Name/value system parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SystemSpec {
    pub table: String,
    pub key: String,
    pub value: String,
}

/// A table whose rows are environment-specific: the target's rows survive a refresh.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeepSpec {
    pub table: String,
}

/// What Neutralize does to one table: delete its rows, or set columns to values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NeutralizeSpec {
    pub table: String,
    #[serde(default)]
    pub delete: bool,
    #[serde(default)]
    pub set: BTreeMap<String, Value>,
}

/// An aggregate (entity store) table and the statements that rebuild it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggregateSpec {
    pub name: String,
    pub table: String,
    pub refresh: Vec<String>,
}

/// One masked column: `[[mask]] table, column, with` (+ `domain`, `value`, `days`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaskSpec {
    pub table: String,
    pub column: String,
    pub with: MaskWith,
    /// Values masked in one domain map alike in every table; the transformer's name
    /// when not given, so two `hash` columns join.
    pub domain: Option<String>,
    /// The value of `with = "fixed"`.
    pub value: Option<String>,
    /// The largest shift of `with = "date_shift"`, in days either way.
    pub days: Option<u32>,
}

impl MaskSpec {
    /// The domain the pseudonyms are drawn in.
    pub fn domain(&self) -> &str {
        self.domain.as_deref().unwrap_or(self.with.name())
    }
}

/// How a masked column's values are replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaskWith {
    Email,
    Name,
    Phone,
    Hash,
    Text,
    Null,
    Fixed,
    DateShift,
}

impl MaskWith {
    pub fn name(self) -> &'static str {
        match self {
            MaskWith::Email => "email",
            MaskWith::Name => "name",
            MaskWith::Phone => "phone",
            MaskWith::Hash => "hash",
            MaskWith::Text => "text",
            MaskWith::Null => "null",
            MaskWith::Fixed => "fixed",
            MaskWith::DateShift => "date_shift",
        }
    }
}

/// Checks a profile's registered name: 1 to 63 letters, digits, `-` or `_`, as an
/// environment's. A path is not a name, and is refused here without being looked at.
pub fn check_profile_name(name: &str) -> Result<(), String> {
    if crate::env::is_simple_name(name) {
        return Ok(());
    }
    Err(format!(
        "invalid profile name `{}`: use 1 to 63 letters, digits, `-` or `_` \
         (a file is registered with `dataalm profile add NAME FILE`)",
        name.escape_debug()
    ))
}

/// What toml says went wrong, at "line L, column C", without the text it found. toml's
/// own Display quotes the offending line, and serde's messages quote unexpected values
/// and unknown keys: all of that is the file's content.
fn describe_toml_error(text: &str, error: &toml::de::Error) -> String {
    let message = without_quoted_input(error.message().trim());
    match error.span() {
        Some(span) => {
            let (line, column) = line_and_column(text, span.start);
            format!("line {line}, column {column}: {message}")
        }
        None => message,
    }
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line, column)
}

/// serde's messages name what the input held: "unknown field `x`, expected ...",
/// "invalid type: string \"x\", expected ...". Keep what was expected (the profile
/// format's own words) and drop what was found. Messages toml's parser writes itself
/// ("invalid key", "expected `=`") hold no input.
fn without_quoted_input(message: &str) -> String {
    for lead in ["unknown field", "unknown variant"] {
        if let Some(rest) = message.strip_prefix(lead) {
            let expected = rest.find(", expected").map_or("", |at| &rest[at..]);
            return format!("{lead}{expected}");
        }
    }
    for lead in ["invalid type: ", "invalid value: ", "invalid length "] {
        if let Some(rest) = message.strip_prefix(lead) {
            // "string \"x\"" -> "string": the kind of value, not the value.
            let found = rest.split([' ', ',']).next().unwrap_or("");
            let expected = rest.find(", expected").map_or("", |at| &rest[at..]);
            return format!("{lead}{found}{expected}");
        }
    }
    message.to_owned()
}

fn one() -> Value {
    Value::Int(1)
}
fn zero() -> Value {
    Value::Int(0)
}
fn default_withhold_from() -> Vec<String> {
    vec!["waiting".into(), "executing".into()]
}

impl Profile {
    /// A built-in profile by name.
    pub fn builtin(name: &str) -> Option<Profile> {
        match name {
            "finance" => Some(
                Profile::parse(FINANCE_TOML, "finance (built in)")
                    .expect("the built-in finance profile parses"),
            ),
            "none" => Some(Profile::none()),
            _ => None,
        }
    }

    /// The TOML text of a built-in profile, as shipped (with its comments).
    pub fn builtin_text(name: &str) -> Option<String> {
        match name {
            "finance" => Some(FINANCE_TOML.to_owned()),
            "none" => {
                Some("# A plain database copy: no application steps.\nname = \"none\"\n".to_owned())
            }
            _ => None,
        }
    }

    /// A plain copy: no application steps.
    pub fn none() -> Profile {
        Profile {
            name: "none".into(),
            description: "A plain database copy with no application steps".into(),
            users: None,
            batch_jobs: None,
            batch_groups: None,
            broadcast: None,
            email: None,
            system: None,
            keep: Vec::new(),
            neutralize: Vec::new(),
            aggregates: Vec::new(),
            mask: Vec::new(),
            unmasked: Vec::new(),
        }
    }

    /// Parses a profile's TOML text; `origin` names it in errors (a file, a name).
    pub fn parse(text: &str, origin: &str) -> Result<Profile, ProfileError> {
        let profile: Profile = toml::from_str(text).map_err(|e| ProfileError::Parse {
            origin: origin.to_owned(),
            message: describe_toml_error(text, &e),
        })?;
        profile.check_self(origin)?;
        Ok(profile)
    }

    /// Checks what can be checked without a database.
    fn check_self(&self, origin: &str) -> Result<(), ProfileError> {
        let parse_error = |message: String| ProfileError::Parse {
            origin: origin.to_owned(),
            message,
        };
        if let Some(jobs) = &self.batch_jobs {
            for required in ["withhold", "waiting"] {
                if jobs.status_value(required).is_none() {
                    return Err(parse_error(format!(
                        "[batch_jobs.statuses] must define `{required}`"
                    )));
                }
            }
            for name in &jobs.withhold_from {
                if jobs.status_value(name).is_none() {
                    return Err(parse_error(format!(
                        "[batch_jobs] withhold_from names `{name}`, which is not in [batch_jobs.statuses]"
                    )));
                }
            }
        }
        for n in &self.neutralize {
            if !n.delete && n.set.is_empty() {
                return Err(parse_error(format!(
                    "[[neutralize]] for `{}` needs `delete = true` or `set = {{ ... }}`",
                    n.table
                )));
            }
        }
        self.check_masks().map_err(parse_error)
    }

    /// `fixed` needs its value, `date_shift` its days, and a column is masked once.
    fn check_masks(&self) -> Result<(), String> {
        let mut seen = std::collections::BTreeSet::new();
        for m in &self.mask {
            let at = format!("[[mask]] for `{}.{}`", m.table, m.column);
            if !seen.insert((m.table.as_str(), m.column.as_str())) {
                return Err(format!("{at} is given twice"));
            }
            let fixed = m.with == MaskWith::Fixed;
            let shift = m.with == MaskWith::DateShift;
            if fixed != m.value.is_some() {
                return Err(format!(
                    "{at}: `value` goes with, and only with, `with = \"fixed\"`"
                ));
            }
            if shift != m.days.is_some_and(|d| d > 0) {
                return Err(format!(
                    "{at}: `days` (1 or more) goes with, and only with, `with = \"date_shift\"`"
                ));
            }
        }
        for u in &self.unmasked {
            if u.split_once('.')
                .is_none_or(|(t, c)| t.is_empty() || c.is_empty())
            {
                return Err(format!("unmasked: `{u}` is not `table.column`"));
            }
        }
        Ok(())
    }

    /// The mask rule of a column, if any.
    pub fn mask_of(&self, table: &str, column: &str) -> Option<&MaskSpec> {
        self.mask
            .iter()
            .find(|m| m.table.eq_ignore_ascii_case(table) && m.column.eq_ignore_ascii_case(column))
    }

    /// Whether the profile accepts `table.column` unmasked.
    pub fn accepts_unmasked(&self, table: &str, column: &str) -> bool {
        self.unmasked.iter().any(|u| {
            u.split_once('.').is_some_and(|(t, c)| {
                t.eq_ignore_ascii_case(table) && c.eq_ignore_ascii_case(column)
            })
        })
    }

    /// Every (table, column) the profile names; `None` stands for the table itself.
    pub fn references(&self) -> Vec<(String, Option<String>)> {
        let mut refs: Vec<(String, Option<String>)> = Vec::new();
        let mut add = |table: &str, columns: &[&str]| {
            refs.push((table.to_owned(), None));
            for c in columns {
                refs.push((table.to_owned(), Some((*c).to_owned())));
            }
        };
        if let Some(u) = &self.users {
            let mut cols = vec![u.id.as_str(), u.email.as_str(), u.enabled.as_str()];
            cols.extend(u.name.as_deref());
            add(&u.table, &cols);
        }
        if let Some(j) = &self.batch_jobs {
            let mut cols = vec![j.id.as_str(), j.status.as_str()];
            cols.extend(j.name.as_deref());
            add(&j.table, &cols);
        }
        if let Some(g) = &self.batch_groups {
            add(&g.table, &[&g.group, &g.server]);
        }
        if let Some(b) = &self.broadcast {
            add(&b.table, &[&b.id, &b.from, &b.to, &b.text]);
        }
        if let Some(e) = &self.email {
            let cols: Vec<&str> = e.columns.iter().map(String::as_str).collect();
            add(&e.table, &cols);
        }
        if let Some(s) = &self.system {
            add(&s.table, &[&s.key, &s.value]);
        }
        for k in &self.keep {
            add(&k.table, &[]);
        }
        for n in &self.neutralize {
            let cols: Vec<&str> = n.set.keys().map(String::as_str).collect();
            add(&n.table, &cols);
        }
        for a in &self.aggregates {
            add(&a.table, &[]);
        }
        for m in &self.mask {
            add(&m.table, &[&m.column]);
        }
        refs
    }

    /// Checks that every table and column the profile names exists in `schema`; the error
    /// names each one that is missing.
    pub fn validate(&self, schema: &Schema) -> Result<(), ProfileError> {
        let mut missing: Vec<String> = Vec::new();
        for (table, column) in self.references() {
            let what = match &column {
                None if !schema.has_table(&table) => format!("table `{table}`"),
                Some(c) if schema.has_table(&table) && !schema.has_column(&table, c) => {
                    format!("column `{table}.{c}`")
                }
                _ => continue,
            };
            if !missing.contains(&what) {
                missing.push(what);
            }
        }
        if missing.is_empty() {
            Ok(())
        } else {
            Err(ProfileError::Mismatch {
                profile: self.name.clone(),
                missing,
            })
        }
    }

    pub fn aggregate(&self, name: &str) -> Option<&AggregateSpec> {
        self.aggregates
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finance_is_built_in_and_none_is_empty() {
        let finance = Profile::builtin("finance").unwrap();
        assert_eq!(finance.users.as_ref().unwrap().table, "user_info");
        assert!(
            finance
                .batch_jobs
                .unwrap()
                .status_value("Waiting")
                .is_some()
        );
        assert!(Profile::none().references().is_empty());
    }

    #[test]
    fn validation_names_what_is_missing() {
        let finance = Profile::builtin("finance").unwrap();
        let mut schema = Schema::default();
        schema.add_table("user_info", ["id".to_string(), "email".to_string()]);
        let err = finance.validate(&schema).unwrap_err().to_string();
        assert!(err.contains("column `user_info.enabled`"), "{err}");
        assert!(err.contains("table `batch_job`"), "{err}");
    }

    #[test]
    fn unknown_keys_and_missing_statuses_are_refused() {
        let err = Profile::parse("name = \"x\"\ncolour = 1\n", "t").unwrap_err();
        let err = err.to_string();
        assert!(err.contains("line 2, column 1: unknown field"), "{err}");
        assert!(!err.contains("colour"), "the key is the file's: {err}");
        let text = "name = \"x\"\n[batch_jobs]\ntable=\"j\"\nid=\"i\"\nstatus=\"s\"\n[batch_jobs.statuses]\nwaiting = 1\n";
        let err = Profile::parse(text, "t").unwrap_err();
        assert!(err.to_string().contains("withhold"), "{err}");
    }

    #[test]
    fn parse_errors_never_repeat_the_text() {
        let shadow = "root:$y$j9T$Secret0123:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n";
        let err = Profile::parse(shadow, "/etc/shadow")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("invalid profile /etc/shadow: line 1, column "),
            "{err}"
        );
        for piece in ["root", "Secret0123", "19000", "daemon"] {
            assert!(!err.contains(piece), "{piece} leaked: {err}");
        }
        let wrong_type = "name = \"x\"\n[users]\ntable = \"hunter2-password\"\nid = 5\n";
        let err = Profile::parse(wrong_type, "t").unwrap_err().to_string();
        assert!(
            err.contains("invalid type: integer, expected a string"),
            "{err}"
        );
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn mask_rules_parse_and_bad_ones_are_refused() {
        let ok = "name = \"x\"\nunmasked = [\"t.note\"]\n[[mask]]\ntable = \"t\"\ncolumn = \"born\"\nwith = \"date_shift\"\ndays = 30\n";
        let p = Profile::parse(ok, "t").unwrap();
        assert_eq!(p.mask_of("T", "born").unwrap().with, MaskWith::DateShift);
        assert_eq!(p.mask[0].domain(), "date_shift");
        assert!(p.accepts_unmasked("t", "NOTE") && !p.accepts_unmasked("t", "born"));
        assert!(p.references().contains(&("t".into(), Some("born".into()))));
        for bad in [
            "[[mask]]\ntable = \"t\"\ncolumn = \"c\"\nwith = \"fixed\"\n",
            "[[mask]]\ntable = \"t\"\ncolumn = \"c\"\nwith = \"hash\"\ndays = 3\n",
            "[[mask]]\ntable = \"t\"\ncolumn = \"c\"\nwith = \"hash\"\n[[mask]]\ntable = \"t\"\ncolumn = \"c\"\nwith = \"text\"\n",
            "unmasked = [\"nodot\"]\n",
            "[[mask]]\ntable = \"t\"\ncolumn = \"c\"\nwith = \"scramble\"\n",
        ] {
            assert!(
                Profile::parse(&format!("name = \"x\"\n{bad}"), "t").is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn profile_names_are_not_paths() {
        assert!(check_profile_name("erp-2").is_ok());
        for bad in ["/etc/shadow", "../x", "a.toml", "", "a b"] {
            assert!(check_profile_name(bad).is_err(), "{bad}");
        }
    }
}
