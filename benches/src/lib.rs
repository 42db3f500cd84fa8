//! Shared pieces of the benchmarks: the M/M/c models that the kernel benchmark and the SimPy
//! comparison both run.

pub mod mmc;
