//! Quality control in the simulation: golden tasks and ban rules find spammers, re-opening keeps
//! final labels off them, dynamic overlap spends labels where they are needed, expert review
//! catches errors, weighted consensus uses learned trust. Each test compares against the same
//! scenario without the mechanism (common random numbers: same seed, same people, same tasks).

use tessera_engine::dispatch::builtin_router;
use tessera_engine::run::{run_replications, Keep, Summary};
use tessera_engine::spec::Scenario;

/// Eight good annotators (0.9) and four spammers (0.5 on 2 classes: coin flips).
const BASE: &str = r#"
[run]
horizon = "3d"
[[streams]]
name = "items"
classes = 2
arrivals = { poisson = { per_hour = 400 } }
[[pools]]
name = "good"
count = 8
service.classification = { exponential = { mean = "20s" } }
accuracy = { one_coin = { mean = 0.9 } }
pay = { per_item = 0.05 }
[[pools]]
name = "spam"
count = 4
service.classification = { exponential = { mean = "10s" } }
accuracy = { one_coin = { mean = 0.5 } }
pay = { per_item = 0.05 }
[quality]
overlap = 3
"#;

fn run(extra: &str) -> Summary {
    let s: Scenario = toml::from_str(&format!("{BASE}\n{extra}")).unwrap_or_else(|e| panic!("{e}"));
    let f = || builtin_router("fifo").unwrap();
    let mut runs = run_replications(&s, &f, 7, 1, Keep::default(), &|_, _| {}).unwrap();
    runs.remove(0).summary
}

const GOLD_BAN: &str = r#"
gold = { rate = 0.1, window = 20 }
[[quality.rules]]
metric = "gold_accuracy"
window = 20
min_answers = 20
below = 0.65
action = "ban"
"#;

#[test]
fn golden_tasks_and_a_ban_rule_remove_spammers() {
    let plain = run("");
    let ruled = run(GOLD_BAN);
    eprintln!("accuracy without rules {:.4}, with {:.4}; bans {}", plain.accuracy, ruled.accuracy, ruled.bans);
    assert!(ruled.bans >= 4, "all four spammers should be banned, got {} bans", ruled.bans);
    assert!(ruled.bans <= 5, "good annotators should rarely be banned: {} bans", ruled.bans);
    assert!(ruled.accuracy > plain.accuracy + 0.02, "{} vs {}", ruled.accuracy, plain.accuracy);
    assert!(ruled.gold_answers > 0);
    assert!(ruled.cost.per_final_label_gold_usd > 0.0);
    let split = ruled.cost.per_final_label_labeling_usd + ruled.cost.per_final_label_gold_usd + ruled.cost.per_final_label_review_usd;
    assert!((split - ruled.cost.per_final_label_usd).abs() < 1e-9, "cost split {split} vs {}", ruled.cost.per_final_label_usd);
}

#[test]
fn reopening_takes_banned_labels_out_of_final_labels() {
    let banned = run(GOLD_BAN);
    let reopened = run(&GOLD_BAN.replace("action = \"ban\"", "action = \"ban\"\nreopen = true"));
    eprintln!("accuracy ban {:.4}, ban + reopen {:.4}; reopened {}", banned.accuracy, reopened.accuracy, reopened.reopened);
    assert!(reopened.reopened > 0);
    assert!(reopened.accuracy > banned.accuracy, "{} vs {}", reopened.accuracy, banned.accuracy);
}

#[test]
fn timed_bans_end() {
    let timed = run(&GOLD_BAN.replace("action = \"ban\"", "action = \"ban\"\nduration = \"2h\""));
    let forever = run(GOLD_BAN);
    eprintln!("bans: timed {} forever {}", timed.bans, forever.bans);
    assert!(timed.bans > forever.bans, "spammers come back and get banned again");
}

#[test]
fn dynamic_overlap_spends_labels_where_confidence_is_low() {
    let fixed2 = run("");
    let s2 = run("").mean_overlap;
    assert!((s2 - 3.0).abs() < 1e-9, "fixed overlap 3 uses 3 labels, got {s2}");
    let dynamic = run("dynamic_overlap = { max = 5, confidence = 0.95 }\naggregation = \"weighted\"");
    eprintln!("mean overlap {:.3}, accuracy dynamic {:.4} vs fixed-3 {:.4}", dynamic.mean_overlap, dynamic.accuracy, fixed2.accuracy);
    assert!(dynamic.mean_overlap > 3.0 && dynamic.mean_overlap < 5.0, "{}", dynamic.mean_overlap);
    assert!(dynamic.accuracy > fixed2.accuracy);
}

#[test]
fn expert_review_sends_wrong_labels_back() {
    let review = r#"
review = { pool = "experts", sample = 1.0, max_reworks = 3, service = { fixed = "30s" } }
[[pools]]
name = "experts"
count = 3
service.classification = { exponential = { mean = "20s" } }
accuracy = { one_coin = { mean = 0.98 } }
pay = { per_hour = 60 }
"#;
    // The [[pools]] table must come after [quality] keys: append the review line to [quality].
    let plain = run("");
    let reviewed = run(review);
    eprintln!("accuracy {:.4} → {:.4} with review; reviews {} reworks {}", plain.accuracy, reviewed.accuracy, reviewed.reviews, reviewed.reworks);
    assert!(reviewed.reviews as f64 >= 0.9 * reviewed.completions as f64);
    assert!(reviewed.reworks > 0);
    assert!(reviewed.accuracy > plain.accuracy + 0.02);
    assert!(reviewed.cost.per_final_label_review_usd > 0.0);
}

#[test]
fn weighted_consensus_beats_majority_once_trust_is_learned() {
    let majority = run(GOLD_BAN.split("[[quality.rules]]").next().unwrap());
    let weighted = run(&format!("aggregation = \"weighted\"\n{}", GOLD_BAN.split("[[quality.rules]]").next().unwrap()));
    eprintln!("majority {:.4}, weighted {:.4}", majority.accuracy, weighted.accuracy);
    assert!(weighted.accuracy > majority.accuracy);
}

#[test]
fn batch_dawid_skene_at_the_end_learns_who_the_spammers_are() {
    let online = run("batch_aggregation = \"ds\"");
    let batch = online.batch_accuracy.expect("batch accuracy reported");
    eprintln!("online majority {:.4}, end-of-run Dawid-Skene {:.4}", online.accuracy, batch);
    assert!(batch > online.accuracy + 0.02, "{batch} vs {}", online.accuracy);
    assert!(run("").batch_accuracy.is_none());
}
