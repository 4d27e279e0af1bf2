//! The schema half of a copy, done by PostgreSQL's own tools.
//!
//! `pg_restore` turns the schema dump into SQL, one entry per object, each under a
//! `-- Name: ...; Type: ...; Owner: ...` header. Owners, privileges and row-security
//! policies can name roles, and roles belong to a server: the target may lack some.
//! Those are handled per entry, never by editing inside a definition: an owner the
//! target lacks is left out (the object then belongs to dataalm's user), so are the
//! grants and policies for roles it lacks, and the roles are reported.
//!
//! - pre-data (types, tables, functions, views) is applied as filtered SQL text;
//! - post-data is built in three passes: indexes, constraints and triggers by
//!   `pg_restore -j`, which knows their dependencies and builds them in parallel,
//!   without owners; then the owner statements of pg_restore's SQL for that part,
//!   filtered; then privileges, policies and publications as filtered SQL text.
//!
//! Publications of all tables or of schemas need a superuser; without one they are
//! left out and reported. Subscriptions are never copied: a copy must not connect to
//! anything.

use super::conn::{PgUrl, blocking, exec, sql_error};
use super::indexes::{CatalogId, listing_id};
use super::tools::{Tool, dbname_arg};
use crate::{Error, Result};
use std::collections::{BTreeSet, HashSet};
use std::path::Path;
use tokio_postgres::Client;

/// Entries applied after filtering, by how their listing lines start after the ids:
/// those that name roles beyond their owner, and publications (some need a superuser).
const FILTERED_ENTRIES: [&str; 6] = [
    "ACL ",
    "DEFAULT ACL ",
    "POLICY ",
    "PUBLICATION ",
    "COMMENT - PUBLICATION ",
    "SECURITY LABEL - PUBLICATION ",
];

/// The roles of the target server, as far as rebuilding the schema cares.
#[derive(Default)]
pub(crate) struct TargetRoles {
    /// Roles that exist: grants and policies may name them.
    pub existing: BTreeSet<String>,
    /// Roles dataalm's user may act as: objects may be given to them, default
    /// privileges set for them.
    pub assumable: BTreeSet<String>,
    /// Superusers: only they may own a publication of all tables or of a schema's.
    pub superusers: BTreeSet<String>,
    /// Whether dataalm's user is a superuser, who alone may create those.
    pub superuser: bool,
}

pub(crate) async fn roles(client: &Client) -> Result<TargetRoles> {
    let rows = client
        .query(
            "SELECT rolname::text, pg_has_role(current_user, oid, 'MEMBER'), rolsuper,
                    rolname = current_user
             FROM pg_roles",
            &[],
        )
        .await
        .map_err(|e| sql_error("list the target server's roles", &e))?;
    let mut roles = TargetRoles::default();
    for row in rows {
        let (name, member): (String, bool) = (row.get(0), row.get(1));
        let (superuser, me): (bool, bool) = (row.get(2), row.get(3));
        if member {
            roles.assumable.insert(name.clone());
        }
        if superuser {
            roles.superuser |= me;
            roles.superusers.insert(name.clone());
        }
        roles.existing.insert(name);
    }
    Ok(roles)
}

/// A directory for the schema dump, readable by dataalm's user alone (0700): the dump
/// describes every object of production. It is removed when dropped, so on every way out
/// of the copy, failure and cancel included.
pub(crate) fn private_dump_dir() -> Result<tempfile::TempDir> {
    use std::os::unix::fs::PermissionsExt;
    tempfile::Builder::new()
        .prefix("dataalm-schema-")
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir()
        .map_err(|e| Error::Io {
            context: "make a directory for the schema".into(),
            source: e,
        })
}

/// How the schema is rebuilt: from which dump, keeping owners and grants or not,
/// for a server with which roles.
pub(crate) struct Rebuild<'a> {
    pub dump: &'a Path,
    pub keep_owners: bool,
    pub target_roles: &'a TargetRoles,
}

/// SQL ready to run, and the roles left out of it.
pub(crate) struct Filtered {
    pub sql: String,
    pub missing_roles: BTreeSet<String>,
    /// Publications only a superuser may create, when dataalm's user is not one.
    pub left_out_publications: BTreeSet<String>,
}

/// What post-data left out.
pub(crate) struct PostData {
    pub missing_roles: BTreeSet<String>,
    pub left_out_publications: BTreeSet<String>,
}

impl PostData {
    /// Says which publications were left out, if any.
    pub(crate) fn note(&self) -> String {
        if self.left_out_publications.is_empty() {
            return String::new();
        }
        let names: Vec<&str> = self
            .left_out_publications
            .iter()
            .map(String::as_str)
            .collect();
        format!(
            "; left out publications of all tables or of schemas, which only a superuser may create: {}",
            names.join(", ")
        )
    }
}

impl Rebuild<'_> {
    /// Creates everything rows need, in the staging database `client` is connected to.
    pub(crate) async fn pre_data(&self, client: &Client) -> Result<BTreeSet<String>> {
        let text = self.restore_to_text(&["--section=pre-data"], None).await?;
        let filtered = filter_entries(&text, self.target_roles);
        exec(
            client,
            &filtered.sql,
            "create the schema in the staging database",
        )
        .await?;
        Ok(filtered.missing_roles)
    }

    /// Builds indexes, constraints and triggers `jobs` at a time, then gives owners,
    /// then privileges, policies and publications.
    pub(crate) async fn post_data(
        &self,
        staging: &PgUrl,
        client: &Client,
        jobs: usize,
        built: &HashSet<CatalogId>,
    ) -> Result<PostData> {
        // The lists hold post-data entries only, so no `--section` is needed below: with
        // one, pg_restore would judge an entry without a section of its own (a comment)
        // by the entry listed before it, and drop comments on objects built early.
        let listing = self
            .restore_to_text(&["--section=post-data", "--list"], None)
            .await?;
        let (parallel, with_roles) = split_listing(&listing, built);
        let dir = self.dump.parent().unwrap_or(Path::new("."));
        let parallel_list = dir.join("post-data-parallel.list");
        let roles_list = dir.join("post-data-roles.list");
        write_file(&parallel_list, &parallel)?;
        write_file(&roles_list, &with_roles)?;
        // Built without owners, which are given afterwards from pg_restore's own SQL:
        // one owner the target lacks would otherwise stop the whole build, and the
        // listing cannot tell an owner from the last word of a name.
        self.restore_in_parallel(staging, &parallel_list, jobs)
            .await?;
        let mut missing = BTreeSet::new();
        if self.keep_owners {
            let text = self.restore_to_text(&[], Some(&parallel_list)).await?;
            let owners = owner_statements(&text, self.target_roles);
            exec(client, &owners.sql, "give post-data objects their owners").await?;
            missing.extend(owners.missing_roles);
        }
        // Without owners and grants, pg_restore leaves out the grants; policies remain.
        let text = self.restore_to_text(&[], Some(&roles_list)).await?;
        let filtered = filter_entries(&text, self.target_roles);
        exec(
            client,
            &filtered.sql,
            "grant privileges in the staging database",
        )
        .await?;
        missing.extend(filtered.missing_roles);
        Ok(PostData {
            missing_roles: missing,
            left_out_publications: filtered.left_out_publications,
        })
    }

    /// `pg_restore` writing SQL (or the listing) to standard output.
    async fn restore_to_text(&self, what: &[&str], list: Option<&Path>) -> Result<String> {
        let mut args: Vec<String> = what.iter().map(|arg| (*arg).to_owned()).collect();
        args.push("--file=-".to_owned());
        if let Some(list) = list {
            args.push(format!("--use-list={}", list.display()));
        }
        if !self.keep_owners {
            args.extend(["--no-owner".to_owned(), "--no-privileges".to_owned()]);
        }
        args.push(self.dump.display().to_string());
        let text = blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let output = Tool::find("pg_restore")?.run_local(&args)?;
            String::from_utf8(output.stdout)
                .map_err(|_| Error::Other("pg_restore wrote a schema that is not UTF-8".into()))
        })
        .await?;
        Ok(text)
    }

    async fn restore_in_parallel(&self, staging: &PgUrl, list: &Path, jobs: usize) -> Result<()> {
        let mut args = vec![
            "--exit-on-error".to_owned(),
            format!("--jobs={jobs}"),
            format!("--use-list={}", list.display()),
            format!("--dbname={}", dbname_arg(staging.dbname())),
            "--no-owner".to_owned(),
            "--no-privileges".to_owned(),
        ];
        args.push(self.dump.display().to_string());
        let staging = staging.clone();
        blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            Tool::find("pg_restore")?.run(&staging, &args)?;
            Ok(())
        })
        .await
    }
}

/// `pg_dump` of the whole schema, reading the exported snapshot, in custom format so
/// pg_restore can build its two halves separately (and the second in parallel).
pub(crate) async fn dump_schema(source: &PgUrl, snapshot: &str, file: &Path) -> Result<()> {
    let source = source.clone();
    let snapshot = snapshot.to_owned();
    let file = file.to_owned();
    blocking(move || {
        let tool = Tool::find("pg_dump")?;
        let dbname = dbname_arg(source.dbname());
        let file = format!("--file={}", file.display());
        let snapshot = format!("--snapshot={snapshot}");
        tool.run(
            &source,
            &[
                "--format=custom",
                "--schema-only",
                // A copy must never connect to anything; publications only wait.
                "--no-subscriptions",
                &snapshot,
                &file,
                &dbname,
            ],
        )?;
        Ok(())
    })
    .await
}

fn write_file(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|source| Error::Io {
        context: format!("write {}", path.display()),
        source,
    })
}

/// Splits a `pg_restore --list` into the entries built in parallel and those applied
/// after filtering, leaving out those already `built`.
fn split_listing(listing: &str, built: &HashSet<CatalogId>) -> (String, String) {
    let mut plain = String::new();
    let mut with_roles = String::new();
    let lines = listing.lines().filter(|l| !l.starts_with(';'));
    for line in lines.filter(|l| listing_id(l).is_none_or(|id| !built.contains(&id))) {
        let kind = line.split_once("; ").map_or("", |(_, rest)| rest);
        // `<table oid> <oid> <TYPE> <schema> <name> <owner>`
        let kind = kind.splitn(3, ' ').nth(2).unwrap_or("");
        let target = if FILTERED_ENTRIES.iter().any(|t| kind.starts_with(t)) {
            &mut with_roles
        } else {
            &mut plain
        };
        target.push_str(line);
        target.push('\n');
    }
    (plain, with_roles)
}

/// One entry of pg_restore's SQL: its header fields and its text.
struct Entry<'a> {
    kind: &'a str,
    owner: &'a str,
    lines: Vec<&'a str>,
}

/// Splits SQL at entry headers: `--` / `-- Name: ...; Type: ...; Owner: ...` / `--`.
fn entries(sql: &str) -> Vec<Entry<'_>> {
    let lines: Vec<&str> = sql.lines().collect();
    let mut entries = vec![Entry {
        kind: "",
        owner: "",
        lines: Vec::new(),
    }];
    let mut i = 0;
    while i < lines.len() {
        let header = (lines[i] == "--" && lines.get(i + 2) == Some(&"--"))
            .then(|| lines.get(i + 1).and_then(|l| parse_header(l)))
            .flatten();
        if let Some((kind, owner)) = header {
            entries.push(Entry {
                kind,
                owner,
                lines: lines[i..i + 3].to_vec(),
            });
            i += 3;
            continue;
        }
        if let Some(entry) = entries.last_mut() {
            entry.lines.push(lines[i]);
        }
        i += 1;
    }
    entries
}

/// `-- Name: x; Type: TABLE; Schema: public; Owner: app` → (`TABLE`, `app`).
fn parse_header(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_prefix("-- Name: ")?;
    let type_at = rest.rfind("; Type: ")? + "; Type: ".len();
    let kind = &rest[type_at..];
    let kind = kind.split_once("; ").map_or(kind, |(kind, _)| kind);
    let owner = rest
        .rfind("; Owner: ")
        .map_or("", |i| &rest[i + "; Owner: ".len()..]);
    Some((kind, owner))
}

/// Leaves out what names roles the target lacks, or owners dataalm's user cannot give
/// objects to: owner statements, grants and revokes, policies. Publications of all
/// tables or of schemas are left out whole unless dataalm's user is a superuser, and
/// keep their owner only if it is one. psql's `\restrict` lines are dropped too; they
/// are not SQL.
fn filter_entries(sql: &str, roles: &TargetRoles) -> Filtered {
    let lacks = |role: &str, membership: bool| {
        let known = if membership {
            &roles.assumable
        } else {
            &roles.existing
        };
        !role.eq_ignore_ascii_case("public") && !known.contains(role)
    };
    let mut missing_roles = BTreeSet::new();
    let mut left_out_publications = BTreeSet::new();
    let mut out = String::with_capacity(sql.len());
    let entries = entries(sql);
    let superuser_only = publications_needing_superuser(&entries);
    for entry in entries {
        let superuser_publication =
            publication_of(&entry).filter(|name| superuser_only.contains(name));
        if let Some(name) = &superuser_publication
            && !roles.superuser
        {
            left_out_publications.insert(name.clone());
            continue;
        }
        let owner_may_not = |owner: &str| {
            lacks(owner, true)
                || (superuser_publication.is_some() && !roles.superusers.contains(owner))
        };
        let mut lines = entry.lines;
        match entry.kind {
            "ACL" | "DEFAULT ACL" => lines.retain(|line| {
                let lacking: Vec<String> = roles_named(line)
                    .into_iter()
                    .filter(|(role, membership)| lacks(role, *membership))
                    .map(|(role, _)| role)
                    .collect();
                missing_roles.extend(lacking.iter().cloned());
                lacking.is_empty()
            }),
            "POLICY" => {
                let lacking: Vec<String> = lines
                    .iter()
                    .flat_map(|line| policy_roles(line))
                    .filter(|role| lacks(role, false))
                    .collect();
                if !lacking.is_empty() {
                    missing_roles.extend(lacking);
                    continue;
                }
            }
            _ if !entry.owner.is_empty() && owner_may_not(entry.owner) => {
                if let Some(at) = lines
                    .iter()
                    .rposition(|line| is_owner_line(line, entry.owner))
                {
                    lines.remove(at);
                    missing_roles.insert(entry.owner.to_owned());
                }
            }
            _ => {}
        }
        for line in lines {
            if is_restrict_line(line) {
                continue;
            }
            out.push_str(line);
            out.push('\n');
        }
    }
    Filtered {
        sql: out,
        missing_roles,
        left_out_publications,
    }
}

/// The owner statements of pg_restore's SQL (`ALTER ... OWNER TO r;`) for the owners
/// dataalm's user may give objects to (event triggers: superusers), and the owners left
/// out. Entries without an
/// owner statement (extensions, casts, indexes...) name no role.
fn owner_statements(sql: &str, roles: &TargetRoles) -> Filtered {
    let mut missing_roles = BTreeSet::new();
    let mut out = String::new();
    for entry in entries(sql) {
        if entry.owner.is_empty() {
            continue;
        }
        let Some(line) = entry
            .lines
            .iter()
            .rev()
            .find(|line| is_owner_line(line, entry.owner))
        else {
            continue;
        };
        // An event trigger's owner must be a superuser, as pg_restore would find out.
        let may_own = roles.assumable.contains(entry.owner)
            && (entry.kind != "EVENT TRIGGER" || roles.superusers.contains(entry.owner));
        if may_own {
            out.push_str(line);
            out.push('\n');
        } else {
            missing_roles.insert(entry.owner.to_owned());
        }
    }
    Filtered {
        sql: out,
        missing_roles,
        left_out_publications: BTreeSet::new(),
    }
}

/// Publications only a superuser may create and own: of all tables, or of a schema's.
fn publications_needing_superuser(entries: &[Entry]) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for entry in entries {
        for line in &entry.lines {
            let needs = match entry.kind {
                "PUBLICATION" => line.strip_prefix("CREATE PUBLICATION ").and_then(|rest| {
                    let (name, used) = identifier_len(rest);
                    rest[used..].starts_with(" FOR ALL TABLES").then_some(name)
                }),
                "PUBLICATION TABLES IN SCHEMA" => {
                    line.strip_prefix("ALTER PUBLICATION ").map(identifier)
                }
                _ => None,
            };
            names.extend(needs);
        }
    }
    names
}

/// The publication an entry makes, adds to, owns or describes.
fn publication_of(entry: &Entry) -> Option<String> {
    let prefixes: &[&str] = match entry.kind {
        "PUBLICATION" | "PUBLICATION TABLE" | "PUBLICATION TABLES IN SCHEMA" => {
            &["CREATE PUBLICATION ", "ALTER PUBLICATION "]
        }
        "COMMENT" => &["COMMENT ON PUBLICATION "],
        "SECURITY LABEL" => &[" ON PUBLICATION "],
        _ => return None,
    };
    entry.lines.iter().find_map(|line| {
        prefixes.iter().find_map(|prefix| {
            let at = if entry.kind == "SECURITY LABEL" {
                line.starts_with("SECURITY LABEL ")
                    .then(|| line.find(prefix))
                    .flatten()?
            } else {
                line.starts_with(prefix).then_some(0)?
            };
            Some(identifier(&line[at + prefix.len()..]))
        })
    })
}

fn is_restrict_line(line: &str) -> bool {
    let Some(rest) = line
        .strip_prefix("\\restrict ")
        .or_else(|| line.strip_prefix("\\unrestrict "))
    else {
        return false;
    };
    !rest.is_empty() && rest.chars().all(|c| c.is_ascii_alphanumeric())
}

fn is_owner_line(line: &str, owner: &str) -> bool {
    line.starts_with("ALTER ")
        && line
            .rfind(" OWNER TO ")
            .is_some_and(|i| identifier(&line[i + " OWNER TO ".len()..]) == owner)
}

/// The roles a grant, revoke or default-privileges statement names, unquoted, and
/// whether acting for them needs membership (`FOR ROLE`).
fn roles_named(line: &str) -> Vec<(String, bool)> {
    [(" TO ", false), (" FROM ", false), (" FOR ROLE ", true)]
        .iter()
        .filter_map(|(keyword, membership)| {
            let at = line.rfind(keyword)?;
            let role = identifier(&line[at + keyword.len()..]);
            (!role.is_empty()).then_some((role, *membership))
        })
        .collect()
}

/// The roles of `CREATE POLICY ... TO a, "b" USING (...)`.
fn policy_roles(line: &str) -> Vec<String> {
    if !line.starts_with("CREATE POLICY ") {
        return Vec::new();
    }
    let Some(at) = line.find(" TO ") else {
        return Vec::new();
    };
    let mut rest = &line[at + " TO ".len()..];
    let mut roles = Vec::new();
    loop {
        let (role, used) = identifier_len(rest);
        if role.is_empty() {
            break;
        }
        roles.push(role);
        rest = &rest[used..];
        match rest.strip_prefix(", ") {
            Some(next) => rest = next,
            None => break,
        }
    }
    roles
}

/// The identifier at the start of `text`: `"Quoted ""one"""` or `plain`.
fn identifier(text: &str) -> String {
    identifier_len(text).0
}

/// The identifier at the start of `text` and how many bytes it took.
fn identifier_len(text: &str) -> (String, usize) {
    if let Some(rest) = text.strip_prefix('"') {
        let mut name = String::new();
        let mut chars = rest.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if c != '"' {
                name.push(c);
            } else if chars.peek().is_some_and(|(_, next)| *next == '"') {
                chars.next();
                name.push('"');
            } else {
                return (name, i + 2);
            }
        }
        return (name, text.len());
    }
    let name: String = text
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '$')
        .collect();
    let used = name.len();
    (name, used)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dump_directory_is_private_and_removed() {
        use std::os::unix::fs::PermissionsExt;
        let dir = private_dump_dir().unwrap();
        let path = dir.path().to_owned();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700, "mode {mode:o}");
        drop(dir);
        assert!(!path.exists());
    }

    fn entry(name: &str, kind: &str, owner: &str, body: &str) -> String {
        format!("--\n-- Name: {name}; Type: {kind}; Schema: public; Owner: {owner}\n--\n\n{body}\n")
    }

    fn roles(names: &[&str]) -> TargetRoles {
        let names: BTreeSet<String> = names.iter().map(|n| (*n).to_owned()).collect();
        TargetRoles {
            existing: names.clone(),
            assumable: names,
            superusers: BTreeSet::new(),
            superuser: true,
        }
    }

    #[test]
    fn objects_go_only_to_owners_dataalm_may_act_as() {
        let sql = [
            entry("t", "TABLE", "boss", "CREATE TABLE public.t (a integer);\n\nALTER TABLE public.t OWNER TO boss;"),
            entry("TABLE t", "ACL", "boss", "GRANT SELECT ON TABLE public.t TO boss;"),
            entry("DEFAULT PRIVILEGES", "DEFAULT ACL", "boss", "ALTER DEFAULT PRIVILEGES FOR ROLE boss IN SCHEMA public GRANT SELECT ON TABLES TO app;"),
        ]
        .concat();
        let mut target = roles(&["app"]);
        target.existing.insert("boss".into());
        let filtered = filter_entries(&sql, &target);
        assert!(!filtered.sql.contains("OWNER TO boss"));
        assert!(
            filtered
                .sql
                .contains("GRANT SELECT ON TABLE public.t TO boss;")
        );
        assert!(!filtered.sql.contains("FOR ROLE boss"));
        assert_eq!(
            filtered.missing_roles.into_iter().collect::<Vec<_>>(),
            ["boss"]
        );
    }

    #[test]
    fn owners_grants_and_policies_of_missing_roles_are_left_out() {
        let sql = [
            "\\restrict abc123\nSET row_security = off;\n".to_owned(),
            entry("t", "TABLE", "app", "CREATE TABLE public.t (a integer);\n\nALTER TABLE public.t OWNER TO app;"),
            entry("u", "TABLE", "Gone \"Role\"", "CREATE TABLE public.u (a integer);\n\nALTER TABLE public.u OWNER TO \"Gone \"\"Role\"\"\";"),
            entry("TABLE t", "ACL", "app", "GRANT SELECT ON TABLE public.t TO reporting;\nGRANT SELECT ON TABLE public.t TO PUBLIC;\nREVOKE ALL ON TABLE public.t FROM gone;"),
            entry("t p", "POLICY", "app", "CREATE POLICY p ON public.t FOR SELECT TO app, \"aud itor\" USING ((a > 0));"),
            entry("t q", "POLICY", "app", "CREATE POLICY q ON public.t FOR SELECT TO app USING ((a > 0));"),
            "\\unrestrict abc123\n".to_owned(),
        ]
        .concat();
        let filtered = filter_entries(&sql, &roles(&["app"]));
        assert!(filtered.sql.contains("ALTER TABLE public.t OWNER TO app;"));
        assert!(filtered.sql.contains("CREATE TABLE public.u"));
        assert!(!filtered.sql.contains("OWNER TO \"Gone"));
        assert!(!filtered.sql.contains("reporting"));
        assert!(filtered.sql.contains("TO PUBLIC;"));
        assert!(!filtered.sql.contains("FROM gone"));
        assert!(!filtered.sql.contains("CREATE POLICY p"));
        assert!(filtered.sql.contains("CREATE POLICY q"));
        assert!(!filtered.sql.contains("restrict"));
        let missing: Vec<&str> = filtered.missing_roles.iter().map(String::as_str).collect();
        assert_eq!(missing, ["Gone \"Role\"", "aud itor", "gone", "reporting"]);
    }

    #[test]
    fn definitions_are_never_edited() {
        // A function body with lines that look like grants or meta-commands.
        let body = "CREATE FUNCTION public.f() RETURNS void\n    LANGUAGE plpgsql\n    AS $$\nBEGIN\nGRANT SELECT ON ALL TABLES IN SCHEMA public TO lf_reporting;\n\\documentclass{article}\nEND $$;";
        let sql = entry("f()", "FUNCTION", "app", body);
        let filtered = filter_entries(&sql, &roles(&["app"]));
        assert_eq!(filtered.sql, sql);
        assert!(filtered.missing_roles.is_empty());
    }

    #[test]
    fn listings_split_by_entry_type() {
        let listing = ";\n; Archive\n3; 2606 1 CONSTRAINT public t t_pkey app\n4; 0 0 ACL public TABLE t app\n5; 0 0 DEFAULT ACL - DEFAULT PRIVILEGES FOR TABLES app\n6; 1 2 POLICY public t p app\n7; 1 3 EVENT TRIGGER - e gone\n8; 6104 4 PUBLICATION - p app\n10; 0 0 COMMENT - PUBLICATION p app\n11; 6106 5 PUBLICATION TABLE public p t app\n12; 0 0 COMMENT public TABLE t app\n";
        let built: HashSet<CatalogId> = [(2606, 9)].into();
        let listing = format!("{listing}9; 2606 9 CONSTRAINT public t t_built app\n");
        let (plain, with_roles) = split_listing(&listing, &built);
        assert_eq!(
            plain,
            "3; 2606 1 CONSTRAINT public t t_pkey app\n7; 1 3 EVENT TRIGGER - e gone\n12; 0 0 COMMENT public TABLE t app\n"
        );
        assert_eq!(with_roles.lines().count(), 6);
    }

    /// Publications of all tables or of schemas need a superuser to create and own;
    /// without one, each is left out whole (comment included), and said.
    #[test]
    fn publications_needing_a_superuser_are_left_out_whole_without_one() {
        let sql = [
            header_only("p_t", "PUBLICATION", "app", "CREATE PUBLICATION p_t WITH (publish = 'insert');\n\n\nALTER PUBLICATION p_t OWNER TO app;"),
            header_only("PUBLICATION p_t", "COMMENT", "app", "COMMENT ON PUBLICATION p_t IS 'kept';"),
            entry("p_t t", "PUBLICATION TABLE", "app", "ALTER PUBLICATION p_t ADD TABLE ONLY public.t;"),
            header_only("p_all", "PUBLICATION", "app", "CREATE PUBLICATION p_all FOR ALL TABLES WITH (publish = 'insert');\n\n\nALTER PUBLICATION p_all OWNER TO app;"),
            header_only("PUBLICATION p_all", "COMMENT", "app", "COMMENT ON PUBLICATION p_all IS 'gone';"),
            header_only("Sales Pub", "PUBLICATION", "app", "CREATE PUBLICATION \"Sales Pub\" WITH (publish = 'insert');"),
            entry("Sales Pub sales", "PUBLICATION TABLES IN SCHEMA", "app", "ALTER PUBLICATION \"Sales Pub\" ADD TABLES IN SCHEMA sales;"),
            header_only("PUBLICATION \"Sales Pub\"", "SECURITY LABEL", "app", "SECURITY LABEL FOR dummy ON PUBLICATION \"Sales Pub\" IS 'x';"),
        ]
        .concat();
        let mut target = roles(&["app"]);
        target.superuser = false;
        let filtered = filter_entries(&sql, &target);
        assert!(filtered.sql.contains("CREATE PUBLICATION p_t WITH"));
        assert!(filtered.sql.contains("ALTER PUBLICATION p_t OWNER TO app;"));
        assert!(filtered.sql.contains("'kept'"));
        assert!(filtered.sql.contains("ADD TABLE ONLY public.t"));
        for gone in ["p_all", "gone", "Sales Pub", "sales", "SECURITY LABEL"] {
            assert!(
                !filtered.sql.contains(gone),
                "{gone} is still in\n{}",
                filtered.sql
            );
        }
        assert_eq!(
            filtered
                .left_out_publications
                .into_iter()
                .collect::<Vec<_>>(),
            ["Sales Pub", "p_all"]
        );
        assert!(filtered.missing_roles.is_empty());

        // A superuser creates them all, but gives them only to a superuser.
        target.superuser = true;
        let filtered = filter_entries(&sql, &target);
        assert!(filtered.sql.contains("FOR ALL TABLES"));
        assert!(filtered.sql.contains("ADD TABLES IN SCHEMA sales"));
        assert!(
            !filtered
                .sql
                .contains("ALTER PUBLICATION p_all OWNER TO app;")
        );
        assert!(filtered.sql.contains("ALTER PUBLICATION p_t OWNER TO app;"));
        assert!(filtered.left_out_publications.is_empty());
        assert_eq!(
            filtered.missing_roles.into_iter().collect::<Vec<_>>(),
            ["app"]
        );
    }

    fn header_only(name: &str, kind: &str, owner: &str, body: &str) -> String {
        format!("--\n-- Name: {name}; Type: {kind}; Schema: -; Owner: {owner}\n--\n\n{body}\n")
    }

    /// Extensions, casts and access methods have no owner statement: they name no
    /// role, whatever the last word of their name.
    #[test]
    fn only_owner_statements_name_owners() {
        let sql = [
            header_only("hstore", "EXTENSION", "-", "CREATE EXTENSION IF NOT EXISTS hstore WITH SCHEMA public;"),
            header_only("CAST (text AS bigint)", "CAST", "-", "CREATE CAST (text AS bigint) WITH INOUT;"),
            header_only("myam", "ACCESS METHOD", "-", "CREATE ACCESS METHOD myam TYPE INDEX HANDLER bthandler;"),
            entry("t t_pkey", "CONSTRAINT", "Mixed Case Role", "ALTER TABLE ONLY public.t\n    ADD CONSTRAINT t_pkey PRIMARY KEY (a);"),
            entry("s", "STATISTICS", "Mixed Case Role", "CREATE STATISTICS public.s ON a, b FROM public.t;\n\n\nALTER STATISTICS public.s OWNER TO \"Mixed Case Role\";"),
            entry("p", "PUBLICATION", "gone", "CREATE PUBLICATION p;\n\n\nALTER PUBLICATION p OWNER TO gone;"),
            header_only("e", "EVENT TRIGGER", "Mixed Case Role", "CREATE EVENT TRIGGER e ON ddl_command_end\n   EXECUTE FUNCTION public.f();\n\n\nALTER EVENT TRIGGER e OWNER TO \"Mixed Case Role\";"),
        ]
        .concat();
        let owners = owner_statements(&sql, &roles(&["Mixed Case Role"]));
        assert_eq!(
            owners.sql,
            "ALTER STATISTICS public.s OWNER TO \"Mixed Case Role\";\n"
        );
        assert_eq!(
            owners.missing_roles.into_iter().collect::<Vec<_>>(),
            ["Mixed Case Role", "gone"]
        );
    }
}
