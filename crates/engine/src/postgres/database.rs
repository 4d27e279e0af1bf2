//! What belongs to a whole database rather than to what it holds.
//!
//! - Encoding and locale, provider included: the staging database is created with the
//!   source's, since collation decides index order and the meaning of text comparisons.
//! - Settings made with `ALTER DATABASE ... SET` and `ALTER ROLE ... IN DATABASE ... SET`
//!   (`search_path` above all) and the database's comment: `pg_dump` without `--create`
//!   leaves them out, so the copy reads the source's and writes them on staging at its
//!   end. At cutover the target's own settings are written over them (a value the
//!   environment tuned wins) and its grants replace the copy's (`cutover.rs`).

use super::ddl::TargetRoles;
use dataalm_core::sql::{quote_literal, quote_name};
use std::collections::BTreeSet;
use tokio_postgres::Client;
use tokio_postgres::error::SqlState;

/// What this module's callers turn into their own errors, naming the server.
type PgResult<T> = std::result::Result<T, tokio_postgres::Error>;

/// The source database's encoding and locale, which the staging database must share.
pub(crate) struct DatabaseFacts {
    pub encoding: String,
    pub collate: String,
    pub ctype: String,
    /// `pg_database.datlocprovider`: `c` (libc), `i` (ICU) or `b` (builtin, 17+).
    pub provider: String,
    /// The ICU or builtin locale, for those providers.
    pub provider_locale: Option<String>,
}

/// The first version with a choice of locale provider, and the one that renamed
/// `daticulocale` to `datlocale`.
const PROVIDERS_SINCE: i32 = 150_000;
const DATLOCALE_SINCE: i32 = 170_000;

impl DatabaseFacts {
    /// The facts of the database `client` is connected to.
    pub(crate) async fn read(client: &Client) -> PgResult<Self> {
        let provider = match server_version(client).await? {
            v if v >= DATLOCALE_SINCE => "datlocprovider::text, datlocale::text",
            v if v >= PROVIDERS_SINCE => "datlocprovider::text, daticulocale::text",
            _ => "'c', NULL::text",
        };
        let sql = format!(
            "SELECT pg_catalog.pg_encoding_to_char(encoding)::text, datcollate::text,
                    datctype::text, {provider}
             FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database()"
        );
        let row = client.query_one(&sql, &[]).await?;
        Ok(DatabaseFacts {
            encoding: row.get(0),
            collate: row.get(1),
            ctype: row.get(2),
            provider: row.get(3),
            provider_locale: row.get(4),
        })
    }

    /// The options of `CREATE DATABASE` that give a database these facts, on a server of
    /// `version`. The provider is always named where there is a choice: left out, the
    /// new database would take template0's, which need not be the source's.
    pub(crate) fn create_options(&self, version: i32) -> String {
        let mut options = format!(
            "ENCODING {} LC_COLLATE {} LC_CTYPE {}",
            quote_literal(&self.encoding),
            quote_literal(&self.collate),
            quote_literal(&self.ctype)
        );
        if version < PROVIDERS_SINCE {
            return options;
        }
        let locale = self.provider_locale.as_deref().map(quote_literal);
        match (self.provider.as_str(), locale) {
            ("i", Some(locale)) => {
                options.push_str(&format!(" LOCALE_PROVIDER icu ICU_LOCALE {locale}"));
            }
            ("b", Some(locale)) => {
                options.push_str(&format!(" LOCALE_PROVIDER builtin BUILTIN_LOCALE {locale}"));
            }
            _ => options.push_str(" LOCALE_PROVIDER libc"),
        }
        options
    }
}

pub(crate) async fn server_version(client: &Client) -> PgResult<i32> {
    let row = client
        .query_one(
            "SELECT pg_catalog.current_setting('server_version_num')::integer",
            &[],
        )
        .await?;
    Ok(row.get(0))
}

/// The settings of the database named `$1`: (role, or none for the whole database;
/// `name=value`), in the order they were made, which is the order they are kept in.
pub(crate) const SETTINGS_SQL: &str = "
    SELECT r.rolname::text, c.setting
    FROM pg_catalog.pg_db_role_setting s
    JOIN pg_catalog.pg_database d ON d.oid = s.setdatabase
    LEFT JOIN pg_catalog.pg_roles r ON r.oid = s.setrole
    CROSS JOIN LATERAL pg_catalog.unnest(s.setconfig) WITH ORDINALITY AS c(setting, n)
    WHERE d.datname = $1
    ORDER BY 1 NULLS FIRST, c.n";

/// One `ALTER ... SET` made for a database: for all of it, or for one role in it.
pub(crate) struct DatabaseSetting {
    pub role: Option<String>,
    name: String,
    value: String,
}

/// Settings whose values are lists (PostgreSQL's GUC_LIST_QUOTE): they are stored
/// already quoted, so they are written back as they are.
const LIST_SETTINGS: [&str; 5] = [
    "search_path",
    "temp_tablespaces",
    "session_preload_libraries",
    "shared_preload_libraries",
    "local_preload_libraries",
];

impl DatabaseSetting {
    /// From a row of [`SETTINGS_SQL`].
    pub(crate) fn from_row(role: Option<String>, config: &str) -> Option<DatabaseSetting> {
        let (name, value) = config.split_once('=')?;
        Some(DatabaseSetting {
            role,
            name: name.to_owned(),
            value: value.to_owned(),
        })
    }

    /// The statement that makes this setting on `database`.
    pub(crate) fn statement(&self, database: &str) -> String {
        let value = if LIST_SETTINGS.contains(&self.name.as_str()) {
            self.value.clone()
        } else {
            quote_literal(&self.value)
        };
        let (database, name) = (quote_name(database), quote_name(&self.name));
        match &self.role {
            Some(role) => format!(
                "ALTER ROLE {} IN DATABASE {database} SET {name} TO {value}",
                quote_name(role)
            ),
            None => format!("ALTER DATABASE {database} SET {name} TO {value}"),
        }
    }

    /// How the report names it.
    fn label(&self) -> String {
        match &self.role {
            Some(role) => format!("{} for {role}", self.name),
            None => self.name.clone(),
        }
    }
}

/// What the source database's own settings left out of the copy.
#[derive(Default)]
pub(crate) struct LeftOut {
    /// Roles with settings in the source database that the target server lacks.
    pub roles: BTreeSet<String>,
    /// Settings dataalm's user may not make (superuser-only ones, other roles').
    pub settings: Vec<String>,
}

/// The source database's own settings and comment, to be written on staging.
pub(crate) struct SourceSettings {
    settings: Vec<DatabaseSetting>,
    comment: Option<String>,
}

impl SourceSettings {
    /// Reads them from the source server (`source`), for its database `name`.
    pub(crate) async fn read(source: &Client, name: &str) -> PgResult<SourceSettings> {
        let rows = source.query(SETTINGS_SQL, &[&name]).await?;
        let settings = rows
            .iter()
            .filter_map(|row| DatabaseSetting::from_row(row.get(0), row.get(1)))
            .collect();
        let comment = source
            .query_one(
                "SELECT pg_catalog.shobj_description(d.oid, 'pg_database')
                 FROM pg_catalog.pg_database d WHERE d.datname = $1",
                &[&name],
            )
            .await?
            .get(0);
        Ok(SourceSettings { settings, comment })
    }

    /// Writes them on the staging database `name` (which `staging` is connected to),
    /// leaving out those of roles the target lacks and those dataalm may not make.
    pub(crate) async fn apply(
        &self,
        staging: &Client,
        name: &str,
        roles: &TargetRoles,
    ) -> PgResult<LeftOut> {
        let mut left_out = LeftOut::default();
        for setting in &self.settings {
            if let Some(role) = setting
                .role
                .as_ref()
                .filter(|r| !roles.existing.contains(*r))
            {
                left_out.roles.insert(role.clone());
                continue;
            }
            match staging.batch_execute(&setting.statement(name)).await {
                Err(e) if e.code() == Some(&SqlState::INSUFFICIENT_PRIVILEGE) => {
                    left_out.settings.push(setting.label());
                }
                other => other?,
            }
        }
        if let Some(comment) = &self.comment {
            let sql = format!(
                "COMMENT ON DATABASE {} IS {}",
                quote_name(name),
                quote_literal(comment)
            );
            staging.batch_execute(&sql).await?;
        }
        Ok(left_out)
    }
}

/// The report's words for what was left out, if anything.
pub(crate) fn describe_left_out(settings: &[String]) -> String {
    if settings.is_empty() {
        return String::new();
    }
    format!(
        "; left out database settings dataalm's user may not make: {}",
        settings.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(provider: &str, locale: Option<&str>) -> DatabaseFacts {
        DatabaseFacts {
            encoding: "UTF8".into(),
            collate: "C".into(),
            ctype: "C".into(),
            provider: provider.into(),
            provider_locale: locale.map(str::to_owned),
        }
    }

    #[test]
    fn the_locale_provider_is_always_named_where_there_is_a_choice() {
        let icu = facts("i", Some("en-US"));
        assert!(
            icu.create_options(150_004)
                .ends_with("LOCALE_PROVIDER icu ICU_LOCALE 'en-US'")
        );
        assert!(
            facts("c", None)
                .create_options(160_000)
                .ends_with("LOCALE_PROVIDER libc")
        );
        assert!(
            !facts("c", None)
                .create_options(140_000)
                .contains("PROVIDER")
        );
    }

    #[test]
    fn list_settings_are_written_back_as_stored() {
        let path = DatabaseSetting::from_row(None, "search_path=app, \"Ext\", public").unwrap();
        assert_eq!(
            path.statement("db"),
            "ALTER DATABASE \"db\" SET \"search_path\" TO app, \"Ext\", public"
        );
        let role = DatabaseSetting::from_row(Some("Mixed Role".into()), "work_mem=8MB").unwrap();
        assert_eq!(
            role.statement("db"),
            "ALTER ROLE \"Mixed Role\" IN DATABASE \"db\" SET \"work_mem\" TO '8MB'"
        );
    }
}
