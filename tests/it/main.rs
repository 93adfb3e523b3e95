//! The integration tests: one binary, so that the crate and its
//! dependencies are linked once. Each area is a module, and each test keeps
//! its name: `cargo test corpus::empty_file` runs one.

mod support;

mod cli;
mod corpus;
mod hostile;
mod hr;
mod identity;
mod import;
mod known;
mod offboarding;
mod output;
mod pacing;
mod resilience;
mod roster;
mod sandbox;
mod workbook;
