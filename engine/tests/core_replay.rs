//! The decision core without a kernel: record a simulation's command stream (with times), feed
//! it to a fresh core in a plain loop, as a live server would, and get the same effects byte for
//! byte. The scenario exercises every part of the core: a pre-annotating model, abandonment
//! (lease expiry), golden items, a ban rule that re-opens final labels, timed bans, dynamic
//! overlap with weighted consensus, and expert review with rework.

use tessera_engine::dispatch::builtin_router;
use tessera_engine::kernel::{stream_key, stream_rng};
use tessera_engine::run::{build, run, RunOptions};
use tessera_engine::spec::Scenario;

const SCENARIO: &str = r#"
[run]
horizon = "2d"
[[streams]]
name = "items"
classes = 3
arrivals = { poisson = { per_hour = 150 } }
deadline = "6h"
pre_annotation = "tagger"
[[models]]
name = "tagger"
accuracy = 0.7
speedup = 2.0
latency = "2s"
[[pools]]
name = "good"
count = 8
service.classification = { exponential = { mean = "40s" } }
accuracy = { one_coin = { mean = 0.9 } }
pay = { per_item = 0.05 }
abandonment = { probability = 0.05, timeout = "10min" }
[[pools]]
name = "spam"
count = 3
service.classification = { exponential = { mean = "20s" } }
accuracy = { one_coin = { mean = 0.4 } }
pay = { per_item = 0.05 }
[[pools]]
name = "experts"
count = 2
service.classification = { exponential = { mean = "30s" } }
accuracy = { one_coin = { mean = 0.97 } }
pay = { per_hour = 40 }
[quality]
overlap = 2
aggregation = "weighted"
dynamic_overlap = { max = 4, confidence = 0.9 }
gold = { rate = 0.1, window = 10 }
reopen_within = "2h"
review = { pool = "experts", sample = 0.2, below_confidence = 0.6, max_reworks = 2, service = { fixed = "45s" } }
[[quality.rules]]
metric = "gold_accuracy"
window = 10
min_answers = 8
below = 0.6
action = "ban"
duration = "6h"
reopen = true
"#;

#[test]
fn a_recorded_command_stream_replays_to_the_same_effects_without_a_kernel() {
    let s: Scenario = toml::from_str(SCENARIO).unwrap_or_else(|e| panic!("{e}"));
    let make = || builtin_router("fifo").unwrap();
    let seed = 11;
    let opts = RunOptions { core_log: true, ..RunOptions::figures(seed) };
    let out = run(&s, &make, opts, &mut |_| {}).unwrap();
    let log = out.core_log.expect("asked for the core log");
    let kinds = |name: &str| log.effects.iter().filter(|(_, e)| serde_json::to_value(e).unwrap()["effect"] == name).count();
    for needed in ["pre_annotate", "assign", "lease_closed", "gold_checked", "banned", "unbanned", "reopened", "reviewed", "rework", "settled"] {
        assert!(kinds(needed) > 0, "the scenario should exercise {needed}");
    }
    eprintln!("{} commands, {} effects", log.commands.len(), log.effects.len());

    // A fresh core from the same scenario, driven by a plain loop: no kernel, no messages.
    let mut fresh = build(&s, make(), RunOptions::figures(seed)).unwrap();
    let core = fresh.dispatcher_mut().core_mut();
    let mut rng = stream_rng(seed, stream_key(&["dispatcher"]));
    let mut replayed = Vec::with_capacity(log.effects.len());
    for &(t, cmd) in &log.commands {
        for e in core.handle(cmd, t, &mut rng) {
            replayed.push((t, e.clone()));
        }
    }
    let end = log.effects.last().map(|e| e.0).unwrap();
    for e in core.settle_all() {
        replayed.push((end, e.clone()));
    }
    let a = serde_json::to_string(&log.effects).unwrap();
    let b = serde_json::to_string(&replayed).unwrap();
    assert_eq!(log.effects.len(), replayed.len());
    assert!(a == b, "the replay diverged at effect {}", log.effects.iter().zip(&replayed).position(|(x, y)| x != y).unwrap_or(0));
}
