//! The digital twin: `tessera calibrate` reads an operation's event trace (schema
//! `tessera.trace/2`) in one streaming pass ([`tally`]), fits the scenario schema's own laws to it
//! ([`fit`]: arrivals, handling times and the spread of people's speed, accuracy from golden
//! answers, walking away, queue patience), writes a runnable scenario and a side file of
//! intervals ([`output`]), and checks the fit by simulating it against the trace's own figures
//! ([`check`]).

pub mod accuracy;
pub mod agreement;
pub mod arrivals;
pub mod check;
pub mod curves;
pub mod drift;
pub mod fit;
pub mod models;
pub mod output;
pub mod patience;
pub mod prelabels;
pub mod service;
pub mod shifts;
pub mod stats;
pub mod tally;
pub mod trace;

pub use fit::{fit, Calibration, FitOptions, Fitted};
pub use tally::{GroupBy, ReadOptions, Tally};
pub use trace::TraceError;
