//! The SQLite engine: databases are files.

mod db;

pub use db::SqliteDb;

use crate::{CopyStats, Database, DbInfo, Engine, Result};
use dataalm_core::Location;
use dataalm_core::progress::Progress;
use std::time::Duration;

pub struct SqliteEngine;

impl Engine for SqliteEngine {
    fn name(&self) -> &'static str {
        "sqlite"
    }
    fn probe(&self, _location: &Location) -> Result<DbInfo> {
        todo!()
    }
    fn open(&self, _location: &Location, _read_only: bool) -> Result<Box<dyn Database>> {
        todo!()
    }
    fn staging_location(&self, _target: &Location, _op_id: &str) -> Location {
        todo!()
    }
    fn previous_location(&self, _target: &Location, _op_id: &str) -> Location {
        todo!()
    }
    fn check_space(&self, _target: &Location, _bytes: u64) -> Result<()> {
        todo!()
    }
    fn copy(
        &self,
        _source: &Location,
        _staging: &Location,
        _progress: &dyn Progress,
    ) -> Result<CopyStats> {
        todo!()
    }
    fn cutover(
        &self,
        _target: &Location,
        _staging: &Location,
        _previous: &Location,
    ) -> Result<Duration> {
        todo!()
    }
    fn swap_back(&self, _target: &Location, _previous: &Location) -> Result<()> {
        todo!()
    }
    fn drop_database(&self, _location: &Location) -> Result<()> {
        todo!()
    }
    fn exists(&self, _location: &Location) -> Result<bool> {
        todo!()
    }
}
