//! `tessera plan` end to end: a plan that meets its targets in simulation at the CI bounds, with
//! predicted cost and throughput within 5% of the simulated ones, written as a runnable
//! scenario; targets out of reach named with how far they are.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn tessera() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tessera"))
}

fn scenario(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios").join(name).display().to_string()
}

fn plan(dir: &Path, args: &[&str]) -> (Output, Option<serde_json::Value>) {
    let out = tessera().arg("plan").args(args).args(["-q", "-o"]).arg(dir).output().unwrap();
    let json = std::fs::read_to_string(dir.join("plan.json")).ok().map(|t| serde_json::from_str(&t).unwrap());
    (out, json)
}

#[test]
fn mmc_plan_meets_its_targets_and_predicts_cost_and_throughput() {
    let d = tempfile::tempdir().unwrap();
    let (out, json) = plan(d.path(), &[&scenario("mmc.toml"), "--target-accuracy", "0.9", "--within", "2d"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let j = json.unwrap();
    assert_eq!(j["met"], true, "{j}");
    let last = j["rounds"].as_array().unwrap().last().unwrap();
    for v in last["verdicts"].as_array().unwrap() {
        assert!(v["met"].as_bool().unwrap() && v["ci95_low"].as_f64().unwrap() >= v["goal"].as_f64().unwrap(), "{v}");
    }
    let predicted = last["solved"]["cost_week"].as_f64().unwrap();
    let simulated = last["simulated_cost_week"][0].as_f64().unwrap();
    assert!((simulated / predicted - 1.0).abs() < 0.05, "cost: predicted {predicted}, simulated {simulated}");
    let tp = last["solved"]["throughput"][0].as_f64().unwrap();
    let sim_tp = last["simulated_throughput"][0].as_f64().unwrap();
    assert!((sim_tp / tp - 1.0).abs() < 0.05, "throughput: predicted {tp}, simulated {sim_tp}");
    // The plan is a scenario that runs as it is.
    let run = tessera().args(["simulate"]).arg(d.path().join("plan.toml")).args(["-q", "--tasks", "none", "-o"]).arg(d.path().join("sim")).output().unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let text = std::fs::read_to_string(d.path().join("plan.toml")).unwrap();
    assert!(text.contains("# Written by `tessera plan`") && text.contains("overlap = "), "{text}");
}

#[test]
fn targets_out_of_reach_are_named_with_the_gap() {
    let d = tempfile::tempdir().unwrap();
    // One label per task cannot reach 99.9% with annotators right 90% of the time.
    let (out, json) = plan(d.path(), &[&scenario("mmc.toml"), "--target-accuracy", "0.999", "--within", "2d", "--levels", "1"]);
    assert!(out.status.success());
    let j = json.unwrap();
    assert_eq!(j["met"], false);
    let why = j["infeasible"].as_str().unwrap();
    assert!(why.contains("stream \"calls\"") && why.contains("9.9 points out of reach"), "{why}");
    // Weekday shifts cannot finish 95% of round-the-clock arrivals within 2 days.
    let (out, json) = plan(d.path(), &[&scenario("lidar-cuboids.toml"), "--target-accuracy", "0.8", "--within", "2d"]);
    assert!(out.status.success());
    let why = json.unwrap()["infeasible"].as_str().unwrap().to_string();
    assert!(why.contains("shift calendars") && why.contains("within 2d"), "{why}");
    // Bad arguments are refused before any work.
    let (out, _) = plan(&d.path().join("x"), &[&scenario("mmc.toml"), "--target-accuracy", "1.5", "--within", "2d"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--target-accuracy"));
    let (out, _) = plan(&d.path().join("x"), &[&scenario("mmc.toml"), "--target-accuracy", "0.9", "--within", "48"]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("no unit"));
    if !cfg!(feature = "highs") {
        let (out, _) = plan(&d.path().join("x"), &[&scenario("mmc.toml"), "--target-accuracy", "0.9", "--within", "2d", "--solver", "highs"]);
        assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("--features highs"), "{}", String::from_utf8_lossy(&out.stderr));
    }
}

fn weekly_cost(dir: &Path, scenario: &str, sets: &[String]) -> f64 {
    let mut cmd = tessera();
    cmd.args(["simulate", scenario, "-q", "-r", "3", "--tasks", "none", "-o"]).arg(dir);
    for s in sets {
        cmd.args(["--set", s]);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    let runs = s["runs"].as_array().unwrap();
    runs.iter().map(|r| r["cost"]["total_usd"].as_f64().unwrap() / (r["window_end_h"].as_f64().unwrap() - r["window_start_h"].as_f64().unwrap()) * 168.0).sum::<f64>() / runs.len() as f64
}

/// ecommerce-surge votes by trust (weighted), adds labels until confident (dynamic overlap) and
/// bans on gold: majority vote's formula overstates the labels it needs. The planner estimates
/// accuracy and labels per task by simulating each pool alone at each level, caches them, and
/// its plan meets the targets for less than the scenario as shipped, with its cost and
/// throughput predicted within 5%.
#[test]
fn weighted_dynamic_overlap_is_planned_from_cached_simulations() {
    let d = tempfile::tempdir().unwrap();
    let args = [&scenario("ecommerce-surge.toml") as &str, "--target-accuracy", "0.9", "--within", "2d"];
    let (out, json) = plan(d.path(), &args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let j = json.unwrap();
    assert_eq!(j["met"], true, "{j}");
    let e = &j["estimates"];
    assert_eq!(e["simulated"], 8, "2 pools × 4 levels: {e}");
    assert!(e["reasons"].as_array().unwrap().iter().any(|r| r == "dynamic overlap"), "{e}");
    // Dynamic overlap adds labels after the first until confident: between 1 and its ceiling of 4.
    let crowd1 = e["entries"].as_array().unwrap().iter().find(|x| x["pool"] == "crowd" && x["level"] == 1).unwrap();
    let labels = crowd1["streams"]["products"]["labels_per_task"].as_f64().unwrap();
    assert!(labels > 1.5 && labels < 4.0, "{crowd1}");
    let last = j["rounds"].as_array().unwrap().last().unwrap().clone();
    let predicted = last["solved"]["cost_week"].as_f64().unwrap();
    let simulated = last["simulated_cost_week"][0].as_f64().unwrap();
    assert!((simulated / predicted - 1.0).abs() < 0.05, "cost: predicted {predicted}, simulated {simulated}");
    let (tp, sim_tp) = (last["solved"]["throughput"][0].as_f64().unwrap(), last["simulated_throughput"][0].as_f64().unwrap());
    assert!((sim_tp / tp - 1.0).abs() < 0.05, "throughput: predicted {tp}, simulated {sim_tp}");
    // Cheaper than the scenario as shipped, over the same steady-state window.
    let window: Vec<String> = last["overrides"].as_array().unwrap().iter().map(|o| o.as_str().unwrap().to_string()).filter(|o| o.starts_with("run.")).collect();
    assert_eq!(window, ["run.warmup=\"2d\"", "run.horizon=\"9d\""]);
    let shipped = weekly_cost(&d.path().join("shipped"), &scenario("ecommerce-surge.toml"), &window);
    assert!(simulated < shipped, "plan {simulated} vs shipped {shipped}");
    // Planning again reads every estimate from the cache.
    let (out, json) = plan(d.path(), &args);
    assert!(out.status.success());
    let e = json.unwrap()["estimates"].clone();
    assert_eq!((e["simulated"].as_u64(), e["from_cache"].as_u64()), (Some(0), Some(8)), "{e}");
    // Dynamic overlap's threshold as a decision: one for the scenario, written into the plan.
    let c = d.path().join("confidence");
    let mut more = args.to_vec();
    more.extend(["--levels", "1,2", "--confidence-levels", "0.9,0.99"]);
    let (out, json) = plan(&c, &more);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let j = json.unwrap();
    assert_eq!(j["met"], true, "{j}");
    assert_eq!(j["estimates"]["simulated"], 8, "2 pools × 2 levels × 2 thresholds");
    let chosen = j["rounds"].as_array().unwrap().last().unwrap()["solved"]["confidence"].as_f64().unwrap();
    assert!(chosen == 0.9 || chosen == 0.99, "{chosen}");
    let text = std::fs::read_to_string(c.join("plan.toml")).unwrap();
    assert!(text.contains(&format!("confidence = {chosen}")), "{text}");
    // Only where there is a dynamic overlap to set.
    let (out, _) = plan(&d.path().join("x"), &[&scenario("mmc.toml"), "--target-accuracy", "0.9", "--within", "2d", "--confidence-levels", "0.9"]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("no quality.dynamic_overlap"));
}

/// With --shifts the headcount is per pool per weekly tour. medical-imaging's pools work
/// weekdays only, so 95% within 2 days is out of reach on their own calendars; with a weekend
/// tour to staff, the plan meets it, written as one pool per staffed tour that runs as it is.
#[test]
fn shift_tours_are_planned_per_pool_and_written_as_pools() {
    let d = tempfile::tempdir().unwrap();
    let shifts = d.path().join("shifts.csv");
    std::fs::write(&shifts, "name,start,length,days,break_start,break_length\nweekday-early,07:00,8h,mon-fri,4h,30min\nweekday-late,12:00,8h,mon-fri,4h,30min\nweekend,09:00,8h,sat-sun,4h,30min\n").unwrap();
    // 0.88: certified reads at overlap 3 sit at 0.90 ± 0.01, so a 0.9 target is decided by noise.
    let base = [&scenario("medical-imaging.toml") as &str, "--target-accuracy", "0.88", "--within", "2d"];
    let (_, json) = plan(&d.path().join("calendars"), &base);
    assert!(json.unwrap()["infeasible"].as_str().unwrap().contains("shift calendars"));
    let mut args = base.to_vec();
    let s = shifts.display().to_string();
    // A --set on a pool by its name in the file reaches every tour of it.
    args.extend(["--shifts", &s, "--set", "pools.residents.pay.per_hour=31"]);
    let (out, json) = plan(d.path(), &args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let j = json.unwrap();
    assert_eq!(j["met"], true, "{j}");
    let pools: Vec<&str> = j["pools"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
    assert_eq!(pools.len(), 6, "{pools:?}");
    assert!(pools.contains(&"radiologists@weekend"), "{pools:?}");
    let last = j["rounds"].as_array().unwrap().last().unwrap();
    let heads: Vec<i64> = last["solved"]["headcount"].as_array().unwrap().iter().map(|n| n.as_i64().unwrap()).collect();
    let weekend = pools.iter().position(|p| *p == "radiologists@weekend").unwrap();
    assert!(heads[weekend] >= 1, "someone reads certified studies at the weekend: {heads:?}");
    for v in last["verdicts"].as_array().unwrap() {
        assert!(v["met"].as_bool().unwrap(), "{v}");
    }
    // plan.toml has one pool per staffed tour, with the tour's calendar, and runs as it is.
    let text = std::fs::read_to_string(d.path().join("plan.toml")).unwrap();
    assert!(text.contains("name = \"radiologists@weekend\"") && text.contains("\"sat,sun 09:00-13:00\""), "{text}");
    assert!(text.contains("per_hour = 31") && !text.contains("per_hour = 35.0"), "{text}");
    let staffed = heads.iter().filter(|&&n| n > 0).count();
    assert_eq!(text.matches("[[pools]]").count(), staffed, "{text}");
    let run = tessera().args(["simulate"]).arg(d.path().join("plan.toml")).args(["-q", "--tasks", "none", "-o"]).arg(d.path().join("sim")).output().unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
}

/// The expert-review sampling rate as a decision (`--review-rates`): one rate for the scenario,
/// each (level, rate) estimated by simulation, the chosen one written into plan.toml; refused
/// where there is no review to set.
#[test]
fn review_rate_is_chosen_and_written() {
    let d = tempfile::tempdir().unwrap();
    let s = d.path().join("reviewed.toml");
    std::fs::write(
        &s,
        r#"name = "reviewed-crowd"
[run]
horizon = "7d"
[[streams]]
name = "images"
task_type = "classification"
classes = 4
arrivals = { poisson = { per_hour = 120 } }
[[pools]]
name = "crowd"
count = 12
service.classification = { lognormal = { median = "40s", sigma = 0.5 } }
accuracy = { one_coin = { beta = [8, 2] } }
pay = { per_item = 0.05 }
[[pools]]
name = "experts"
count = 2
service.classification = { lognormal = { median = "2min", sigma = 0.3 } }
accuracy = { one_coin = { mean = 0.98 } }
pay = { per_hour = 40 }
[quality]
review = { pool = "experts", sample = 0.1, max_reworks = 2, service = { fixed = "20s" } }
"#,
    )
    .unwrap();
    let path = s.display().to_string();
    let (out, json) = plan(&d.path().join("plan"), &[&path, "--target-accuracy", "0.85", "--within", "1d", "--levels", "1,3", "--review-rates", "0,0.3"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let j = json.unwrap();
    assert_eq!(j["met"], true, "{j}");
    assert_eq!(j["estimates"]["simulated"], 8, "2 pools × 2 levels × 2 rates");
    let last = j["rounds"].as_array().unwrap().last().unwrap();
    let rate = last["solved"]["review_rate"].as_f64().unwrap();
    assert!(rate == 0.0 || rate == 0.3, "{rate}");
    let text = std::fs::read_to_string(d.path().join("plan").join("plan.toml")).unwrap();
    assert!(text.contains(&format!("sample = {rate}")), "{text}");
    let predicted = last["solved"]["cost_week"].as_f64().unwrap();
    let simulated = last["simulated_cost_week"][0].as_f64().unwrap();
    assert!((simulated / predicted - 1.0).abs() < 0.05, "cost: predicted {predicted}, simulated {simulated}");
    let (out, _) = plan(&d.path().join("x"), &[&scenario("mmc.toml"), "--target-accuracy", "0.9", "--within", "2d", "--review-rates", "0.1"]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("no quality.review"));
}

/// Workflow graphs are planned from their measured work: toxicity-adjudication (a model gate,
/// adjudication on disagreement, QA with rework) and lidar-sequences (scenes waiting for 40
/// keyframes each, a stage shared by two crowd pools on different shifts). Each plan meets its
/// targets at the CI bounds, predicts cost and throughput within 5%, and is written as a runnable
/// scenario with the overlap of the graph's main label stage; planning again simulates nothing.
#[test]
fn workflow_graphs_are_planned_from_their_measured_work() {
    let check = |j: &serde_json::Value| {
        assert_eq!(j["met"], true, "{j}");
        let last = j["rounds"].as_array().unwrap().last().unwrap();
        for v in last["verdicts"].as_array().unwrap() {
            assert!(v["met"].as_bool().unwrap() && v["ci95_low"].as_f64().unwrap() >= v["goal"].as_f64().unwrap(), "{v}");
        }
        let (predicted, simulated) = (last["solved"]["cost_week"].as_f64().unwrap(), last["simulated_cost_week"][0].as_f64().unwrap());
        assert!((simulated / predicted - 1.0).abs() < 0.05, "cost: predicted {predicted}, simulated {simulated}");
        for (tp, sim) in last["solved"]["throughput"].as_array().unwrap().iter().zip(last["simulated_throughput"].as_array().unwrap()) {
            let (tp, sim) = (tp.as_f64().unwrap(), sim.as_f64().unwrap());
            assert!((sim / tp - 1.0).abs() < 0.05, "throughput: predicted {tp}, simulated {sim}");
        }
        last["overrides"].as_array().unwrap().iter().map(|o| o.as_str().unwrap().to_string()).collect::<Vec<_>>()
    };
    let d = tempfile::tempdir().unwrap();
    let args = [&scenario("toxicity-adjudication.toml") as &str, "--target-accuracy", "0.9", "--within", "1d"];
    let (out, json) = plan(d.path(), &args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let j = json.unwrap();
    let sets = check(&j);
    assert!(sets.iter().any(|o| o.starts_with("streams.passages.stages.label.overlap=")), "{sets:?}");
    assert_eq!(j["estimates"]["reasons"], serde_json::json!(["workflow graph"]));
    let levels = j["estimates"]["graphs"].as_array().unwrap();
    assert_eq!(levels.len(), 4, "one measurement per level of 1,2,3,5");
    // More labels at the main stage: more crowd hours per passage, and (majority of more votes
    // before adjudication) no less accuracy from 2 labels up.
    let crowd = |k: usize| levels[k]["streams"]["passages"]["hours"][0].as_f64().unwrap();
    let acc = |k: usize| levels[k]["streams"]["passages"]["accuracy"].as_f64().unwrap();
    assert!(crowd(0) < crowd(1) && crowd(1) < crowd(2) && crowd(2) < crowd(3), "{levels:?}");
    assert!(acc(3) > acc(1), "{levels:?}");
    let run = tessera().args(["simulate"]).arg(d.path().join("plan.toml")).args(["-q", "--tasks", "none", "-o"]).arg(d.path().join("sim")).output().unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    // Planning again takes every measurement from the cache.
    let (_, again) = plan(d.path(), &args);
    let again = again.unwrap();
    assert_eq!((again["estimates"]["simulated"].as_u64(), again["estimates"]["from_cache"].as_u64()), (Some(0), Some(4)));
    assert_eq!(again["rounds"], j["rounds"]);

    // Parts: the keyframes stream is planned at the parent's rate × 40; its label stage's hours
    // are shared by the day and evening crowds, and the plan staffs both.
    let d = tempfile::tempdir().unwrap();
    let (out, json) = plan(d.path(), &[&scenario("lidar-sequences.toml"), "--target-accuracy", "0.85", "--within", "4d"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let j = json.unwrap();
    let sets = check(&j);
    let last = j["rounds"].as_array().unwrap().last().unwrap();
    assert_eq!(last["solved"]["throughput"], serde_json::json!([1.0, 40.0]));
    assert!(sets.iter().any(|o| o.starts_with("streams.keyframes.stages.label.overlap=")), "{sets:?}");
    let flow = &last["solved"]["flow"][1];
    assert!(flow[0].as_f64().unwrap() > 0.0 && flow[1].as_f64().unwrap() > 0.0, "both crowds label keyframes: {flow}");
}

/// With --shifts, a graph's stages are worked by the tours of their pools: the plan names the
/// staffed tours in each stage's `pools`, and runs.
#[test]
fn workflow_graphs_are_planned_per_shift_tour() {
    let d = tempfile::tempdir().unwrap();
    let shifts = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/shifts/weekdays-and-weekend.csv");
    let (out, json) = plan(d.path(), &[&scenario("toxicity-adjudication.toml"), "--target-accuracy", "0.9", "--within", "1d", "--max-scale", "6", "--shifts", &shifts.display().to_string()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let j = json.unwrap();
    assert_eq!(j["met"], true, "{j}");
    let text = std::fs::read_to_string(d.path().join("plan.toml")).unwrap();
    let doc: toml::Table = text.parse().unwrap();
    let staffed: Vec<&str> = doc["pools"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert!(staffed.contains(&"qa") && staffed.iter().any(|p| p.starts_with("crowd@")) && !staffed.contains(&"crowd"), "{staffed:?}");
    for stage in doc["streams"].as_array().unwrap()[0]["stages"].as_array().unwrap() {
        for p in stage.get("pools").and_then(|p| p.as_array()).into_iter().flatten() {
            assert!(staffed.contains(&p.as_str().unwrap()), "stage {} names {p}, not a pool of the plan: {staffed:?}", stage["name"]);
        }
    }
    let run = tessera().args(["simulate"]).arg(d.path().join("plan.toml")).args(["-q", "--tasks", "none", "-o"]).arg(d.path().join("sim")).output().unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
}

/// --pareto traces the cost-accuracy-turnaround frontier from the same model: a higher accuracy
/// target or a shorter turnaround never costs less, accuracy out of reach stays out of reach, and
/// a turnaround the shift calendars cannot meet has no cost at all (medical-imaging's
/// weekday-only radiologists within 2 days).
#[test]
fn the_frontier_costs_more_for_more_accuracy_and_less_time() {
    let d = tempfile::tempdir().unwrap();
    let (out, json) = plan(d.path(), &[&scenario("medical-imaging.toml"), "--target-accuracy", "0.9", "--within", "4d", "--pareto", "--rounds", "1"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let j = json.unwrap();
    let points: Vec<(f64, f64, Option<f64>)> = j["pareto"].as_array().unwrap().iter().map(|p| (p["within_s"].as_f64().unwrap(), p["accuracy"].as_f64().unwrap(), p["cost_usd_week"].as_f64())).collect();
    let day = 86_400.0;
    let mut withins: Vec<f64> = points.iter().map(|p| p.0).collect();
    withins.dedup();
    assert_eq!(withins, vec![2.0 * day, 4.0 * day, 8.0 * day], "half, once and twice --within");
    let cost = |w: f64, a: f64| points.iter().find(|p| p.0 == w && (p.1 - a).abs() < 1e-9).unwrap().2;
    assert!((80..=99).all(|x| cost(2.0 * day, x as f64 / 100.0).is_none()), "2 days: the calendars");
    for &w in &withins[1..] {
        let row: Vec<Option<f64>> = (80..=99).map(|x| cost(w, x as f64 / 100.0)).collect();
        let reached = row.iter().take_while(|c| c.is_some()).count();
        assert!(reached >= 5 && row[reached..].iter().all(Option::is_none), "{w}: {row:?}");
        for pair in row[..reached].windows(2) {
            assert!(pair[1].unwrap() >= pair[0].unwrap() - 1e-6, "{w}: more accuracy cheaper: {row:?}");
        }
    }
    for x in 80..=99 {
        let a = x as f64 / 100.0;
        if let (Some(c4), Some(c8)) = (cost(4.0 * day, a), cost(8.0 * day, a)) {
            assert!(c4 >= c8 - 1e-6, "{a}: less time cheaper: {c4} against {c8}");
        }
    }
}
