//! Writing a calibration: the fitted scenario (the base's text, comments kept, with the fit's
//! edits; or a skeleton with the trace's streams and pools) and the side file of intervals.

use crate::fit::Calibration;
use crate::tally::Tally;
use serde_json::{json, Map, Value};

/// Schema of the side file.
pub const SIDE_SCHEMA: &str = "tessera.calibration/1";

/// A scenario with the trace's streams and pools and nothing fitted yet (no `--base`).
pub fn skeleton(tally: &Tally, cal: &Calibration) -> String {
    let name = tally.scenario.clone().unwrap_or_else(|| "operation".into());
    let mut s = format!("name = {:?}\ndescription = {:?}\n\n[run]\nhorizon = \"1h\"\n", format!("{name}-fitted"), format!("Fitted by tessera calibrate from {}", tally.origin));
    for (stream, task_type, classes) in &cal.streams {
        s.push_str(&format!("\n[[streams]]\nname = {stream:?}\ntask_type = {task_type:?}\nclasses = {classes}\narrivals = {{ poisson = {{ per_hour = 1 }} }}\n"));
    }
    for pool in &cal.pools {
        s.push_str(&format!("\n[[pools]]\nname = {pool:?}\ncount = 1\n"));
    }
    s
}

/// The fitted scenario's text: `base` (text, origin) or the skeleton, with the edits, under a
/// comment that says where it came from.
pub fn scenario_text(tally: &Tally, cal: &Calibration, base: Option<(&str, &str)>) -> Result<String, tessera_scenarios::ScenarioError> {
    let sk;
    let (text, origin) = match base {
        Some(b) => b,
        None => {
            sk = skeleton(tally, cal);
            (sk.as_str(), "the skeleton of the trace's streams and pools")
        }
    };
    let edited = tessera_scenarios::apply_edits(text, origin, &cal.unset, &cal.set)?;
    let mut head = format!(
        "# Fitted by `tessera calibrate` to {} (replication {}, {} events over {:.1} h{}).\n# Each fitted value's 95% interval, and what the trace could not identify, are in the side file\n# (JSON keyed by the same dotted paths as --set).\n",
        tally.origin,
        tally.replication,
        tally.events,
        tally.span_h(),
        base.map(|(_, o)| format!("; what a trace cannot tell is from {o}")).unwrap_or_default()
    );
    if base.is_none() {
        head.push_str("# No --base: pay, quality, routing and models are the schema's defaults.\n");
    }
    Ok(format!("{head}{edited}"))
}

/// The side file: each fitted value by its `--set` path, with its interval, unit, method and
/// observations; what was not identified and why; where the rest comes from.
pub fn side_file(tally: &Tally, cal: &Calibration, scenario_path: &str) -> Value {
    let mut fitted = Map::new();
    for f in &cal.fitted {
        let mut v = json!({ "estimate": f.estimate, "unit": f.unit, "method": f.method, "n": f.n });
        if let Some((lo, hi)) = &f.interval {
            v["interval_95"] = json!([lo, hi]);
        }
        fitted.insert(f.path.clone(), v);
    }
    let not: Map<String, Value> = cal.not_identified.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    let rest: Map<String, Value> = cal.from_elsewhere.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    json!({
        "schema": SIDE_SCHEMA,
        "trace": tally.origin,
        "replication": tally.replication,
        "clock": tally.clock,
        "utc_offset_s": tally.utc_offset_s,
        "events": tally.events,
        "span_h": (tally.span_h() * 1e4).round() / 1e4,
        "scenario": scenario_path,
        "fitted": fitted,
        "not_identified": not,
        "from_elsewhere": rest,
    })
}
