//! What a database holds, as far as profiles care: tables and their columns.

use std::collections::BTreeMap;

/// Tables (lower-cased names) and their columns (lower-cased), read by an engine.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Schema {
    tables: BTreeMap<String, Vec<String>>,
}

impl Schema {
    pub fn add_table(&mut self, table: &str, columns: impl IntoIterator<Item = String>) {
        self.tables.insert(
            table.to_lowercase(),
            columns.into_iter().map(|c| c.to_lowercase()).collect(),
        );
    }

    pub fn has_table(&self, table: &str) -> bool {
        self.tables.contains_key(&table.to_lowercase())
    }

    pub fn has_column(&self, table: &str, column: &str) -> bool {
        self.tables
            .get(&table.to_lowercase())
            .is_some_and(|cols| cols.iter().any(|c| c.eq_ignore_ascii_case(column)))
    }

    pub fn columns(&self, table: &str) -> Option<&[String]> {
        self.tables.get(&table.to_lowercase()).map(Vec::as_slice)
    }

    pub fn tables(&self) -> impl Iterator<Item = &str> {
        self.tables.keys().map(String::as_str)
    }
}
