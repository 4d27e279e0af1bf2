//! The HTTP API end to end over a PostgreSQL control plane: the same cases as `api.rs`,
//! each with its own database on a throw-away cluster shared by this test binary.

use api_cases::Backend;

const BACKEND: Backend = Backend::Postgres;

mod api_cases;
mod running;
mod samples;
