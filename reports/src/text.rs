//! The short human summary printed after a run.

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

/// Formats summary.json (as built by the engine) for a terminal.
pub fn human_summary(s: &Value) -> String {
    let f = &s["figures"];
    let mut o = String::new();
    let reps = s["replications"].as_u64().unwrap_or(1);
    let _ = writeln!(
        o,
        "{} · policy {} · seed {} · {} replication{} · window {}h–{}h",
        s["scenario"].as_str().unwrap_or("?"),
        s["policy"].as_str().unwrap_or("?"),
        s["seed"],
        reps,
        if reps == 1 { "" } else { "s" },
        show(&f["window_start_h"], 0),
        show(&f["window_end_h"], 0),
    );
    let _ = writeln!(o, "  arrivals         {}   completed {}   unfinished {}", show(&f["arrivals"], 0), show(&f["completions"], 0), show(&f["unfinished"], 0));
    let _ = writeln!(o, "  throughput       {} tasks/h", show(&f["throughput_per_hour"], 2));
    let t = &f["time_in_system_s"];
    let _ = writeln!(o, "  time in system   mean {} s   p50 {}   p90 {}   p99 {}", show(&t["mean"], 1), show(&t["p50"], 1), show(&t["p90"], 1), show(&t["p99"], 1));
    let _ = writeln!(
        o,
        "  waiting          P(wait) {}   mean {} s   service level ({} s) {}",
        show(&f["p_wait"], 4),
        show(&f["waiting_time_mean_s"], 2),
        show(&f["service_level_threshold_s"], 0),
        show(&f["service_level"], 4)
    );
    let _ = writeln!(o, "  queue length     {}   tasks in system {}", show(&f["queue_length_mean"], 2), show(&f["tasks_in_system_mean"], 2));
    if let Some(u) = f["utilization"].as_object() {
        let parts: Vec<String> = u.iter().map(|(k, v)| format!("{k} {}", show(v, 3))).collect();
        let _ = writeln!(o, "  utilization      {}", parts.join("   "));
    }
    let _ = writeln!(o, "  accuracy         {}", show(&f["accuracy"], 4));
    let c = &f["cost"];
    let _ = writeln!(o, "  cost             ${} total   ${} per final label", show(&c["total_usd"], 2), show(&c["per_final_label_usd"], 4));
    let _ = writeln!(o, "  deadline misses  {} ({} of arrivals)   abandonments {}", show(&f["deadline_misses"], 0), show(&f["deadline_miss_rate"], 4), show(&f["abandonments"], 0));
    o
}
