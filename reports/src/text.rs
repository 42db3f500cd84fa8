//! The short human summary printed after a run: every figure with its unit, durations in units
//! a person reads (35 s, 12.5 min, 48.8 h, 2.1 d), mean ± 95% half-width over replications.

use serde_json::Value;
use std::fmt::Write;

fn fig(v: &Value) -> Option<(f64, Option<f64>)> {
    let m = v.get("mean")?.as_f64()?;
    Some((m, v.get("half_width").and_then(Value::as_f64)))
}

fn show(v: &Value, digits: usize) -> String {
    match fig(v) {
        Some((m, Some(h))) if h > 0.0 => format!("{m:.digits$} ± {h:.digits$}"),
        Some((m, _)) => format!("{m:.digits$}"),
        None => "n/a".into(),
    }
}

/// A share as a percentage.
fn pct(v: &Value) -> String {
    match fig(v) {
        Some((m, Some(h))) if h > 0.0 => format!("{:.1}% ± {:.1}", m * 100.0, h * 100.0),
        Some((m, _)) => format!("{:.1}%", m * 100.0),
        None => "n/a".into(),
    }
}

/// The unit a person reads a duration of `secs` in: (divisor, unit).
fn unit(secs: f64) -> (f64, &'static str) {
    let a = secs.abs();
    if a < 120.0 {
        (1.0, "s")
    } else if a < 7200.0 {
        (60.0, "min")
    } else if a < 48.0 * 3600.0 {
        (3600.0, "h")
    } else {
        (86400.0, "d")
    }
}

/// A duration figure [s] in a readable unit (the mean picks the unit, the half-width follows).
pub fn duration(v: &Value) -> String {
    match fig(v) {
        Some((m, h)) => {
            let (d, u) = unit(m);
            let digits = if d == 1.0 && m.abs() >= 10.0 { 0 } else { 1 };
            match h {
                Some(h) if h > 0.0 => format!("{:.digits$} ± {:.digits$} {u}", m / d, h / d),
                _ => format!("{:.digits$} {u}", m / d),
            }
        }
        None => "n/a".into(),
    }
}

/// A number of seconds in a readable unit ("36.5 h", "2.0 d").
pub fn human_secs(secs: f64) -> String {
    duration(&serde_json::json!({ "mean": secs }))
}

/// A plain number of seconds (a target) in a readable unit.
fn target(v: &Value) -> String {
    duration(&serde_json::json!({ "mean": v["mean"] }))
}

/// Formats summary.json (as built by the engine) for a terminal.
pub fn human_summary(s: &Value) -> String {
    let f = &s["figures"];
    let mut o = String::new();
    let reps = s["replications"].as_u64().unwrap_or(1);
    let each = if reps > 1 { " (per replication: mean ± 95% CI)" } else { "" };
    let _ = writeln!(
        o,
        "{} · policy {} · seed {} · {} replication{} · window {} h – {} h{each}",
        s["scenario"].as_str().unwrap_or("?"),
        s["policy"].as_str().unwrap_or("?"),
        s["seed"],
        reps,
        if reps == 1 { "" } else { "s" },
        show(&f["window_start_h"], 0),
        show(&f["window_end_h"], 0),
    );
    if let Some(stops) = s["stopped"].as_array().filter(|n| !n.is_empty()) {
        let _ = writeln!(o, "  STOPPED EARLY: figures are censored where each run stopped, not at its horizon or task count:");
        for x in stops {
            let _ = writeln!(o, "    replication {} at {}: {}", x["replication"], human_secs(x["at_s"].as_f64().unwrap_or(f64::NAN)), x["reason"].as_str().unwrap_or("?"));
        }
    }
    if let Some(notes) = s["overload"].as_array().filter(|n| !n.is_empty()) {
        let _ = writeln!(o, "  OVERLOADED: the offered load exceeds what the workforce can serve (fluid bound):");
        for n in notes {
            let _ = writeln!(o, "    {}", n.as_str().unwrap_or("?"));
        }
    }
    let _ = writeln!(
        o,
        "  tasks            {} arrived   {} finished   {} open at the end ({} never started)",
        show(&f["arrivals"], 0),
        show(&f["completions"], 0),
        show(&f["unfinished"], 0),
        show(&f["never_started"], 0)
    );
    if f["left_unserved"]["mean"].as_f64().is_some_and(|x| x > 0.0) {
        let _ = writeln!(o, "  left unserved    {} tasks ({} of arrivals): their queue patience ran out before anyone started them", show(&f["left_unserved"], 0), pct(&f["p_left_unserved"]));
    }
    let _ = writeln!(o, "  throughput       {} tasks/h (arrivals {} tasks/h)", show(&f["throughput_per_hour"], 1), show(&f["arrival_rate_per_hour"], 1));
    let _ = writeln!(
        o,
        "  finished in time {} of tasks within their stream's turnaround target (run default {}; open tasks past it count as late)",
        pct(&f["completion_within_target"]),
        target(&f["turnaround_target_s"])
    );
    let t = &f["time_in_system_s"];
    let _ = writeln!(o, "  time to final    finished tasks: mean {}   p50 {}   p90 {}   p99 {}", duration(&t["mean"]), duration(&t["p50"]), duration(&t["p90"]), duration(&t["p99"]));
    let c = &f["time_in_system_censored_s"];
    let _ = writeln!(o, "                   every task (open ones at their age): mean {}   p90 {}", duration(&c["mean"]), duration(&c["p90"]));
    let w = &f["wait_to_start_s"];
    let _ = writeln!(
        o,
        "  wait to start    mean {}   p90 {}   P(wait) {}   started within {}: {}",
        duration(&w["mean"]),
        duration(&w["p90"]),
        pct(&f["p_wait_to_start"]),
        target(&f["start_target_s"]),
        pct(&f["start_within_target"])
    );
    let _ = writeln!(o, "  in the system    {} tasks on average ({} waiting for an annotator)", show(&f["tasks_in_system_mean"], 1), show(&f["queue_length_mean"], 1));
    if let Some(streams) = f["streams"].as_object().filter(|m| m.len() > 1) {
        let _ = writeln!(o, "  by stream        arrived / finished / open · finished within target · deadline misses · accuracy");
        for (name, st) in streams {
            let _ = writeln!(
                o,
                "    {name:<14} {} / {} / {} · {} within {} · {} · {}",
                show(&st["arrivals"], 0),
                show(&st["completions"], 0),
                show(&st["unfinished"], 0),
                pct(&st["completion_within_target"]),
                target(&st["turnaround_target_s"]),
                pct(&st["deadline_miss_rate"]),
                pct(&st["accuracy"])
            );
        }
    }
    // Stages, in workflow order, when some stream has more than one (or waits for parts).
    if let Some(stages) = f["stages"].as_object() {
        let mut rows: Vec<(&String, &Value)> = stages.iter().collect();
        rows.sort_by(|a, b| fig(&a.1["order"]).map(|x| x.0).partial_cmp(&fig(&b.1["order"]).map(|x| x.0)).unwrap_or(std::cmp::Ordering::Equal));
        let streams = rows.iter().map(|r| r.1["stream"].as_str().unwrap_or_default()).collect::<std::collections::BTreeSet<_>>().len();
        if rows.len() > streams {
            let _ = writeln!(o, "  by stage         entered · time in stage (mean, p90) · in it on average · busy share of the pools working it");
            for (name, st) in rows {
                let pools: Vec<String> = st["utilization_by_pool"].as_object().map(|m| m.iter().map(|(p, u)| format!("{p} {}", pct(u))).collect()).unwrap_or_default();
                let _ = writeln!(
                    o,
                    "    {name:<24} {} · {}, {} · {} tasks{}",
                    show(&st["entered"], 0),
                    duration(&st["time_in_stage_mean_s"]),
                    duration(&st["time_in_stage_s"]["p90"]),
                    show(&st["tasks_in_stage_mean"], 1),
                    if pools.is_empty() { String::new() } else { format!(" · {}", pools.join(", ")) }
                );
            }
        }
    }
    if let Some(pools) = f["pools"].as_object() {
        let _ = writeln!(o, "  by pool          on shift · busy (working + walked away) · cost · effective wage");
        for (name, p) in pools {
            let u = &p["utilization"];
            let _ = writeln!(
                o,
                "    {name:<14} {} annotators · {} ({} + {}) · ${} · ${}/h",
                show(&p["on_shift_mean"], 1),
                pct(&u["busy"]),
                pct(&u["working"]),
                pct(&u["walked_away"]),
                show(&p["cost_usd"], 2),
                show(&p["effective_hourly_wage_usd"], 2)
            );
        }
    }
    let _ = writeln!(o, "  accuracy         {} of finished tasks   mean overlap {} labels", pct(&f["accuracy"]), show(&f["mean_overlap"], 2));
    let c = &f["cost"];
    let _ = writeln!(
        o,
        "  cost             ${} total: ${} productive + ${} idle paid time",
        show(&c["total_usd"], 2),
        show(&c["productive_usd"], 2),
        show(&c["idle_paid_usd"], 2)
    );
    let _ = writeln!(
        o,
        "  per final label  ${} = labelling ${} + gold ${} + review ${} + idle ${}",
        show(&c["per_final_label_usd"], 4),
        show(&c["per_final_label_labeling_usd"], 4),
        show(&c["per_final_label_gold_usd"], 4),
        show(&c["per_final_label_review_usd"], 4),
        show(&c["per_final_label_idle_usd"], 4)
    );
    let _ = writeln!(
        o,
        "  deadline misses  {} tasks ({} of arrivals)   walk-aways {} (items an annotator left unanswered)",
        show(&f["deadline_misses"], 0),
        pct(&f["deadline_miss_rate"]),
        show(&f["walkaways"], 0)
    );
    if let Some(models) = f["models"].as_object() {
        let _ = writeln!(o, "  models           pre-labels · right · mean confidence · calibration error (ECE) · retrains · serving at the end");
        for (name, m) in models {
            let retrains = if m["retrains"]["mean"].as_f64().is_some_and(|x| x > 0.0) {
                format!("{} (${})", show(&m["retrains"], 1), show(&m["retrain_usd"], 2))
            } else {
                "none".into()
            };
            let _ = writeln!(
                o,
                "    {name:<14} {} · {} · {} · {} · {retrains} · {} right after {} labels",
                show(&m["prelabels"], 0),
                pct(&m["accuracy"]),
                pct(&m["mean_confidence"]),
                show(&m["ece"], 3),
                pct(&m["accuracy_at_end"]),
                show(&m["labels_trained"], 0)
            );
        }
    }
    for kind in ["class", "position"] {
        let b = &f["bias"][kind];
        if b["tested"]["mean"].as_f64().is_some_and(|x| x > 0.0) {
            let scored = if b["planted"]["mean"].as_f64().is_some_and(|x| x > 0.0) {
                format!(" · planted {} · recall {} · false discoveries {}", show(&b["planted"], 1), pct(&b["recall"]), pct(&b["false_discovery"]))
            } else {
                String::new()
            };
            let _ = writeln!(o, "  {kind:<8} bias    {} of {} annotators flagged (false-discovery rate 10%){scored} · bias.csv", show(&b["flagged"], 1), show(&b["tested"], 1));
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn durations_read_in_human_units() {
        let d = |m: f64| duration(&json!({ "mean": m }));
        assert_eq!(d(35.2), "35 s");
        assert_eq!(d(4.24), "4.2 s");
        assert_eq!(d(750.0), "12.5 min");
        assert_eq!(d(47.8 * 3600.0), "47.8 h");
        assert_eq!(d(2.1 * 86400.0), "2.1 d");
        assert_eq!(duration(&json!({ "mean": 7200.0, "half_width": 360.0 })), "2.0 ± 0.1 h");
        assert_eq!(duration(&json!({ "mean": null })), "n/a");
    }
}
