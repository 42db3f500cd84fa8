//! The command log: everything the server feeds a project's decision core, in order, with the
//! time it was fed at. The store keeps it; the core's state is a function of it (a restarted
//! server replays it, the trace endpoint replays it to write events.jsonl, and the replay test
//! checks that a fresh core fed the log gives the same effects the server acted on).

use crate::project::{Registration, Settings};
use rand_chacha::rand_core::SeedableRng;
use serde::{Deserialize, Serialize};
use tessera_engine::core::{AnnotatorId, Command, Core, Effect, TaskId, TaskOverrides};
use tessera_engine::time::SimTime;

/// One logged input of a project's core.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "entry", rename_all = "snake_case")]
pub enum Entry {
    /// A person registered (the core gives them the next annotator id).
    Join { registration: Registration },
    /// The answers the golden tasks of a stream hold changed.
    Gold { stream: u16, answers: Vec<u16> },
    /// A task arrived with its own priority, deadline and exclusions.
    Arrive {
        task: TaskId,
        stream: u16,
        #[serde(default)]
        parts: u32,
        #[serde(default)]
        part_of: Option<TaskId>,
        #[serde(default)]
        priority: Option<u32>,
        #[serde(default)]
        deadline_us: Option<u64>,
        #[serde(default)]
        unavailable_for: Vec<AnnotatorId>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        reserved_for: Vec<AnnotatorId>,
    },
    /// A core command.
    Core { command: Command },
}

/// The random stream a logged entry is applied with: a pure function of the project's seed and
/// the entry's place in the log, so a replay draws the same numbers.
pub fn rng_for(seed: u64, seq: u64) -> rand_chacha::ChaCha8Rng {
    let mut s = [0u8; 32];
    s[..8].copy_from_slice(&seed.to_le_bytes());
    s[8..16].copy_from_slice(&seq.to_le_bytes());
    s[16..24].copy_from_slice(b"tessera\0");
    rand_chacha::ChaCha8Rng::from_seed(s)
}

/// Applies one entry to a core at `now` and returns its effects. Errors are entries that could
/// not have been logged (a registration the settings refuse).
pub fn apply<'c>(core: &'c mut Core, settings: &Settings, entry: &Entry, seq: u64, now: SimTime) -> Result<&'c [Effect], String> {
    let mut rng = rng_for(settings.seed, seq);
    Ok(match entry {
        Entry::Join { registration } => {
            let (view, pay) = settings.annotator_view(registration, now).map_err(|e| e.body.message)?;
            core.add_annotator(view, pay);
            &[]
        }
        Entry::Gold { stream, answers } => {
            core.set_gold_answers(*stream, answers.clone());
            &[]
        }
        Entry::Arrive { task, stream, parts, part_of, priority, deadline_us, unavailable_for, reserved_for } => {
            let over = TaskOverrides { priority: *priority, deadline: deadline_us.map(SimTime), unavailable_for: unavailable_for.clone(), reserved_for: reserved_for.clone() };
            core.arrive_with(*task, *stream, *parts, *part_of, over, now, &mut rng)
        }
        Entry::Core { command } => core.handle(*command, now, &mut rng),
    })
}
