//! tessera-scenarios: loading and validating scenario files.
