//! The one error type of the sample application.

/// What can go wrong while creating a sample or reading its options.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database refused a statement or could not be reached.
    #[error(transparent)]
    Engine(#[from] dataalm_engine::Error),
    /// The database already holds tables of the sample; creating it again would mix two
    /// samples, so nothing was changed.
    #[error(
        "the database already has the finance sample's tables ({}); create the sample in a new, empty database",
        tables.join(", ")
    )]
    AlreadyExists { tables: Vec<String> },
    /// A size such as `50MB` could not be read.
    #[error("invalid size `{input}`: {reason} (examples: 500kB, 50MB, 1GB, 2GiB, 1048576)")]
    InvalidSize { input: String, reason: String },
    /// A role name other than production/prod or uat/sandbox.
    #[error("unknown role `{0}`: expected `production` (or `prod`) or `uat` (or `sandbox`)")]
    InvalidRole(String),
}
