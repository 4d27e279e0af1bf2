//! The rules of one copy with the key they are applied under: what an engine is given.

use crate::{MaskKey, Masker};
use dataalm_core::profile::MaskSpec;

/// A profile's mask rules and the target's key. `Debug` shows the rules, never the key.
#[derive(Clone)]
pub struct MaskSet {
    pub rules: Vec<MaskSpec>,
    pub masker: Masker,
}

impl MaskSet {
    pub fn new(rules: Vec<MaskSpec>, key: &MaskKey) -> MaskSet {
        MaskSet {
            rules,
            masker: Masker::new(key),
        }
    }

    /// The rules of one table, in profile order (table names compare case-insensitively,
    /// as the profile's references do).
    pub fn rules_of(&self, table: &str) -> Vec<&MaskSpec> {
        self.rules
            .iter()
            .filter(|r| r.table.eq_ignore_ascii_case(table))
            .collect()
    }

    /// The tables that have masked columns.
    pub fn tables(&self) -> Vec<&str> {
        let mut tables: Vec<&str> = Vec::new();
        for rule in &self.rules {
            if !tables.iter().any(|t| t.eq_ignore_ascii_case(&rule.table)) {
                tables.push(&rule.table);
            }
        }
        tables
    }
}

impl std::fmt::Debug for MaskSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MaskSet")
            .field("rules", &self.rules)
            .finish_non_exhaustive()
    }
}
