//! tessera-scenarios: loading and validating scenario files, and reading real data files
//! (crowd answers) into the engine's dense-id types.

pub mod answers;
