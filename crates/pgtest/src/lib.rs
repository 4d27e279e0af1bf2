//! Throw-away PostgreSQL clusters for tests and benchmarks (being written).
