//! The SQLite engine. (Being written.)

use super::*;

pub struct SqliteEngine;
