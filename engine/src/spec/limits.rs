//! What a scenario may ask of one machine: the largest values that can be meant. Past these a value
//! is a typo or a unit mistake (1e9 tasks per hour, a pool of 100 million), and taking it literally
//! would allocate or run for longer than any planner waits; validation rejects it with the limit in
//! the message. Each limit sits far above the shipped scenarios and the published benchmarks.

use crate::time::{Dur, US_PER_DAY};

/// Replications per run (`run.replications`, `--replications`).
pub const MAX_REPLICATIONS: u32 = 10_000;
/// Annotators over all pools (each is an actor with its own state).
pub const MAX_ANNOTATORS: i64 = 1_000_000;
/// Tasks expected to arrive in one replication (`run.tasks`, or the rates times the horizon): at
/// about a million tasks per second, a quarter of an hour per replication.
pub const MAX_TASKS: f64 = 1e9;
/// Tasks in one batch drop (`arrivals.batch.size`): they arrive at one instant.
pub const MAX_BATCH: u32 = 1_000_000;
/// The arrival horizon (`run.horizon`): ten years.
pub const MAX_HORIZON: Dur = Dur(3_653 * US_PER_DAY);
/// Characters in a name (scenario, stream, pool, model, task type, language): names are repeated
/// in every record and trace line.
pub const MAX_NAME_CHARS: usize = 128;
/// Lognormal log-space standard deviations (`service.*.lognormal.sigma`, `speed_sigma`): at 4 the
/// mean is e^8 ≈ 3,000 times the median, which no annotation time distribution is.
pub const MAX_SIGMA: f64 = 4.0;
/// Above this a sigma is allowed but warned about: the mean is e^2 ≈ 7.4 times the median.
pub const WARN_SIGMA: f64 = 2.0;
