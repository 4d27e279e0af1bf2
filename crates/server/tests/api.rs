//! The HTTP API end to end over a SQLite control plane (the cases are in `api_cases`).

use api_cases::Backend;

const BACKEND: Backend = Backend::Sqlite;

mod api_cases;
mod running;
mod samples;
