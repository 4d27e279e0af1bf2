//! dataalm's vocabulary, shared by every other crate: environments, application profiles,
//! reconfiguration plans, operations and the steps of a refresh.
//!
//! This crate does no I/O. It parses and validates what users write (profiles, plans,
//! times) and describes what the other crates record; the engines, the control-plane
//! store and the refresh driver act on it.
//!
//! ```
//! use dataalm_core::profile::Profile;
//! let finance = Profile::builtin("finance").expect("finance is built in");
//! assert_eq!(finance.name, "finance");
//! ```

pub mod access;
pub mod dotnet_time;
pub mod env;
pub mod failpoint;
pub mod op;
pub mod plan;
pub mod profile;
pub mod progress;
pub mod schema;
pub mod sql;
pub mod value;
pub mod when;
pub mod zone;

pub use env::{EnvKind, EnvSettings, Environment, Location, Throttle};
pub use op::{
    CopyOptions, Lease, OpState, Operation, RollbackRecord, Step, StepRecord, StepStatus, Takeovers,
};
pub use plan::Plan;
pub use profile::Profile;
pub use value::{Row, Rows, Value};
