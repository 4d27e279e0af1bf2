//! SQL text helpers shared by every engine: identifier quoting and parameter placeholders.
//!
//! Every identifier that comes from a profile, a plan or a user goes through
//! [`quote_ident`]; values always travel as parameters, never as text.

/// Quotes an identifier for SQLite and PostgreSQL alike: `"name"`, inner quotes doubled.
/// A dotted name (`schema.table`) is quoted part by part.
pub fn quote_ident(name: &str) -> String {
    name.split('.')
        .map(|part| format!("\"{}\"", part.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(".")
}

/// Quotes one identifier as it is, dots and all: a database or role name.
pub fn quote_name(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Quotes a string literal (standard-conforming strings: only `'` needs doubling).
pub fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// How an engine spells positional parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// The placeholder of the `n`th parameter (1-based).
    pub fn param(self, n: usize) -> String {
        match self {
            Dialect::Sqlite => format!("?{n}"),
            Dialect::Postgres => format!("${n}"),
        }
    }

    /// `?1, ?2, ...` from `first` on, `count` of them.
    pub fn params(self, first: usize, count: usize) -> String {
        (first..first + count)
            .map(|n| self.param(n))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_doubles_inner_quotes() {
        assert_eq!(quote_ident("users"), "\"users\"");
        assert_eq!(
            quote_ident("a\"; DROP TABLE x; --"),
            "\"a\"\"; DROP TABLE x; --\""
        );
        assert_eq!(quote_ident("public.Users"), "\"public\".\"Users\"");
    }

    #[test]
    fn placeholders_follow_the_dialect() {
        assert_eq!(Dialect::Sqlite.params(1, 3), "?1, ?2, ?3");
        assert_eq!(Dialect::Postgres.params(2, 2), "$2, $3");
    }
}
