//! Quality control: how the labels of several annotators become one trusted label.
//!
//! - [`aggregation`]: consensus algorithms over an answers table (majority vote, Wawa,
//!   Dawid-Skene, GLAD, MACE, ...), all behind one [`aggregation::Aggregator`] trait.

pub mod aggregation;
