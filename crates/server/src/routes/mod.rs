//! The API's routes, one module per resource. Handlers only check the caller, parse
//! input and shape output; the rules live in `dataalm-ops`.

pub mod application;
pub mod audit;
pub mod broadcast;
pub mod environments;
pub mod movement;
pub mod operations;
