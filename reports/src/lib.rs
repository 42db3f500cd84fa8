//! tessera-reports: output formats for simulation results (tables, CSV, JSON; HTML charts later).
