//! `tessera calibrate` against traces of scenarios whose true values we know.
//!
//! - Recovery over 50 seeds of `tests/data/calibration-recovery.toml` (7 days, one crowd at ≈ 1.05
//!   of capacity): every fitted value within its stated tolerance in every seed, and each 95%
//!   interval covering the true value in at least 45 of the 50 (the spread of speeds by its
//!   Q-profile interval, the Beta of accuracies by profile likelihood; the bootstraps they
//!   replaced covered 44 of 50).
//! - Accuracy from agreement over 50 seeds of `tests/data/calibration-agreement.toml` (overlap 3,
//!   no golden items).
//! - M/M/14: the exponential family is chosen, no spread of speeds, the rate recovered.
//! - Round trip: a twin fitted on one trace passes `--check` on a fresh trace of the original;
//!   a trace with 30% more arrivals fails it.
//! - The same trace gives the same bytes; a broken trace is an error naming file and line.
//! - Models in the loop: a detector's accuracy, confidence spread, latency, accept and fix laws
//!   and automation bias; a classifier's speed-up and the time from scratch it implies.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn tessera(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tessera")).args(args).output().unwrap()
}

fn ok(args: &[&str]) -> String {
    let out = tessera(args);
    assert!(out.status.success(), "tessera {args:?} failed: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Simulates `scenario` with a trace into `dir` and returns the trace's path.
fn trace(scenario: &Path, dir: &Path, seed: u64, sets: &[&str]) -> PathBuf {
    let (s, d, seed) = (scenario.to_str().unwrap(), dir.to_str().unwrap(), seed.to_string());
    let mut args = vec!["simulate", s, "--trace", "--tasks", "none", "-q", "--seed", &seed, "--out", d];
    for x in sets {
        args.extend(["--set", x]);
    }
    ok(&args);
    dir.join("events.jsonl")
}

fn side(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Simulates `scenario` into `dir`, calibrates the trace against it (the trace then removed) and
/// returns the side file.
fn fit_seed(scenario: &Path, dir: &Path, seed: u64, sets: &[&str]) -> serde_json::Value {
    let t = trace(scenario, dir, seed, sets);
    ok(&["calibrate", t.to_str().unwrap(), "--base", scenario.to_str().unwrap(), "-q"]);
    std::fs::remove_file(&t).unwrap();
    side(&dir.join("fitted.calibration.json"))
}

/// (path, true value, tolerance, relative?, least seeds of 50 whose interval covers the truth)
const RECOVERED: [(&str, f64, f64, bool, usize); 7] = [
    ("streams.images.arrivals.poisson.per_hour", 160.0, 0.025, true, 45),
    ("streams.images.patience.exponential.mean", 3600.0, 0.08, true, 45),
    ("pools.crowd.service.classification.lognormal.median", 600.0, 0.20, true, 45),
    ("pools.crowd.service.classification.lognormal.sigma", 0.5, 0.02, false, 45),
    ("pools.crowd.speed_sigma", 0.3, 0.12, false, 45),
    ("pools.crowd.abandonment.probability", 0.03, 0.005, false, 45),
    ("pools.crowd.accuracy.one_coin.mean", 0.8, 0.05, false, 45),
];

#[test]
fn recovers_every_fitted_law_over_fifty_seeds() {
    let tmp = tempfile::tempdir().unwrap();
    let scenario = root().join("tests/data/calibration-recovery.toml");
    let mut covered = [0usize; RECOVERED.len()];
    let mut beta_covered = 0;
    let mut learning_kept = 0;
    for seed in 1..=50u64 {
        let s = fit_seed(&scenario, &tmp.path().join(format!("s{seed}")), seed, &[]);
        let fitted = &s["fitted"];
        for (i, (path, truth, tol, relative, _)) in RECOVERED.iter().enumerate() {
            let f = &fitted[*path];
            let est = f["estimate"].as_f64().unwrap_or_else(|| panic!("seed {seed}: {path} not fitted: {s}"));
            let err = if *relative { (est - truth).abs() / truth } else { (est - truth).abs() };
            assert!(err <= *tol, "seed {seed}: {path} = {est}, true {truth}, tolerance {tol}{}", if *relative { " (relative)" } else { "" });
            let (lo, hi) = (f["interval_95"][0].as_f64().unwrap(), f["interval_95"][1].as_f64().unwrap());
            assert!(lo <= est && est <= hi, "seed {seed}: {path}: estimate {est} outside its interval [{lo}, {hi}]");
            covered[i] += usize::from(lo <= *truth && *truth <= hi);
        }
        assert_eq!(fitted["pools.crowd.count"]["estimate"], 30, "seed {seed}");
        assert_eq!(fitted["pools.crowd.abandonment.timeout"]["estimate"].as_f64(), Some(600.0), "seed {seed}");
        let beta = &fitted["pools.crowd.accuracy.one_coin.beta"];
        assert!(beta.is_object(), "seed {seed}: the Beta of 30 annotators' accuracies, Beta(16, 4), is identified: {}", s["not_identified"]);
        let inside = |k: usize, truth: f64| beta["interval_95"][0][k].as_f64().unwrap() <= truth && truth <= beta["interval_95"][1][k].as_f64().unwrap();
        beta_covered += usize::from(inside(0, 16.0) && inside(1, 4.0));
        // What the trace cannot say is said: no shifts, so fatigue cannot be told from learning.
        for key in ["pools.crowd.fatigue", "pools.crowd.bias"] {
            assert!(s["not_identified"][key].is_string(), "seed {seed}: {key} should be declared: {}", s["not_identified"]);
        }
        // The crowd does not learn: a curve kept is a false positive of a 1% test (and at least
        // a 1% effect): more than 3 of 50 would happen 1 time in 600.
        learning_kept += usize::from(fitted["pools.crowd.learning.speedup"].is_object());
    }
    for (i, (path, _, _, _, least)) in RECOVERED.iter().enumerate() {
        assert!(covered[i] >= *least, "{path}: the 95% interval covers the true value in {} of 50 seeds (at least {least} expected)", covered[i]);
        assert!(covered[i] <= 50, "{path}");
    }
    assert!(beta_covered >= 45, "the Beta's intervals cover (16, 4) in {beta_covered} of 50 seeds");
    assert!(learning_kept <= 3, "learning kept in {learning_kept} of 50 seeds of a crowd that does not learn (a 1% test)");
}

/// Accuracy from agreement alone: 50 seeds of `tests/data/calibration-agreement.toml` (3 days,
/// overlap 3, no golden items; a crowd of 30 drawn from Beta(16, 4) and 8 experts at 0.9 each).
/// Measured: the crowd's mean covered in 48 of 50 seeds, the experts' in 46, the crowd's Beta
/// (both a and b) in 45; a spread found among the experts (who do not differ) in 1.
#[test]
fn accuracy_comes_back_from_agreement_without_golden_answers() {
    let tmp = tempfile::tempdir().unwrap();
    let scenario = root().join("tests/data/calibration-agreement.toml");
    let (mut crowd_covered, mut experts_covered, mut beta_covered, mut false_spread) = (0, 0, 0, 0);
    for seed in 1..=50u64 {
        let s = fit_seed(&scenario, &tmp.path().join(format!("s{seed}")), seed, &[]);
        let f = &s["fitted"];
        let mean = |pool: &str, truth: f64, tol: f64| -> bool {
            let m = &f[format!("pools.{pool}.accuracy.one_coin.mean")];
            let est = m["estimate"].as_f64().unwrap_or_else(|| panic!("seed {seed}: {pool}'s accuracy not fitted: {}", s["not_identified"]));
            assert!((est - truth).abs() <= tol, "seed {seed}: {pool}'s accuracy {est}, true {truth}, tolerance {tol}");
            assert!(m["method"].as_str().unwrap().starts_with("agreement: a smoothed Dawid-Skene"), "{m}");
            let (lo, hi) = (m["interval_95"][0].as_f64().unwrap(), m["interval_95"][1].as_f64().unwrap());
            assert!(lo <= est && est <= hi);
            lo <= truth && truth <= hi
        };
        crowd_covered += usize::from(mean("crowd", 0.8, 0.05));
        experts_covered += usize::from(mean("experts", 0.9, 0.025));
        let beta = &f["pools.crowd.accuracy.one_coin.beta"];
        assert!(beta.is_object(), "seed {seed}: the crowd's Beta(16, 4) is identified from agreement: {}", s["not_identified"]);
        let inside = |k: usize, truth: f64| beta["interval_95"][0][k].as_f64().unwrap() <= truth && truth <= beta["interval_95"][1][k].as_f64().unwrap();
        beta_covered += usize::from(inside(0, 16.0) && inside(1, 4.0));
        false_spread += usize::from(f["pools.experts.accuracy.one_coin.beta"].is_object());
    }
    assert!(crowd_covered >= 45, "the crowd's mean covered in {crowd_covered} of 50 seeds");
    assert!(experts_covered >= 45, "the experts' mean covered in {experts_covered} of 50 seeds");
    assert!(beta_covered >= 45, "the crowd's Beta covered in {beta_covered} of 50 seeds");
    assert!(false_spread <= 5, "a spread among experts who do not differ in {false_spread} of 50 seeds (a 5% test)");

    // Overlap 2 cannot say who of two is wrong: declared, not guessed.
    let s = fit_seed(&scenario, &tmp.path().join("overlap2"), 1, &["quality.overlap=2", "run.horizon=1d"]);
    let why = s["not_identified"]["pools.crowd.accuracy"].as_str().unwrap_or_else(|| panic!("{}", s["not_identified"]));
    assert!(why.contains("needs at least 2.5"), "{why}");
    assert!(s["fitted"]["pools.crowd.accuracy.one_coin.mean"].is_null());
}

/// A stream whose tasks are parts of another's (lidar-sequences: 40 keyframes per scene) gets no
/// arrivals of its own in the twin, which would not validate: it is declared instead, with the
/// parts per task the trace shows. Handling times go to the skill of the stream's label stage.
#[test]
fn a_stream_of_parts_arrives_with_its_parent() {
    let tmp = tempfile::tempdir().unwrap();
    let scenario = root().join("scenarios/lidar-sequences.toml");
    let s = fit_seed(&scenario, tmp.path(), 1, &["run.horizon=3d", "run.warmup=0s"]);
    let why = s["not_identified"]["streams.keyframes.arrivals"].as_str().unwrap_or_else(|| panic!("{}", s["not_identified"]));
    assert!(why.contains("parts of \"scenes\"") && why.contains("40.0 per task"), "{why}");
    assert!(s["fitted"]["streams.scenes.arrivals.poisson.per_hour"].is_object(), "{}", s["fitted"]);
    // A scene's labelling answers are its repair stage's (skill scene-repair, 30 min), not the
    // stream's task type (scene-check, the review stage's skill).
    let repair = &s["fitted"]["pools.experts.service.scene-repair.lognormal.median"];
    let est = repair["estimate"].as_f64().unwrap_or_else(|| panic!("{}", s["fitted"]));
    assert!((est - 1800.0).abs() < 0.15 * 1800.0, "repair median {est}");
    // Reviews whose stage names a skill are that skill's work (assign lines say the task type):
    // the scene's consistency check (scene-check, 5 min) and the keyframes' QA (keyframe-qa,
    // 2 min), not the review law.
    for (tt, truth) in [("scene-check", 300.0), ("keyframe-qa", 120.0)] {
        let m = &s["fitted"][format!("pools.experts.service.{tt}.lognormal.median")];
        let est = m["estimate"].as_f64().unwrap_or_else(|| panic!("{tt} not fitted: {}", s["not_identified"]));
        assert!((est - truth).abs() < 0.2 * truth, "{tt} median {est} s, true {truth} s");
    }
    assert!(s["not_identified"]["quality.review.service"].is_null(), "no review is timed by the review law here: {}", s["not_identified"]);
    ok(&["simulate", tmp.path().join("fitted.toml").to_str().unwrap(), "-q", "--set", "run.horizon=6h", "--out", tmp.path().join("run").to_str().unwrap()]);
}

/// Queue patience of each of the schema's families comes back as that family (the least AIC over
/// the binned waits; the exponential of the recovery scenario is kept in each of its 50 seeds).
#[test]
fn patience_comes_back_in_its_own_family() {
    let tmp = tempfile::tempdir().unwrap();
    let scenario = root().join("tests/data/calibration-recovery.toml");
    let s = fit_seed(&scenario, &tmp.path().join("ln"), 4, &["streams.images.patience={ lognormal = { median = \"40min\", sigma = 0.5 } }"]);
    let f = &s["fitted"];
    let median = f["streams.images.patience.lognormal.median"]["estimate"].as_f64().unwrap_or_else(|| panic!("lognormal patience not chosen: {f}"));
    let sigma = f["streams.images.patience.lognormal.sigma"]["estimate"].as_f64().unwrap();
    assert!((median - 2400.0).abs() <= 0.1 * 2400.0 && (sigma - 0.5).abs() <= 0.06, "patience median {median} s, σ {sigma}; true 2400 s, 0.5");
    let s = fit_seed(&scenario, &tmp.path().join("fixed"), 4, &["streams.images.patience={ fixed = \"45min\" }"]);
    let d = s["fitted"]["streams.images.patience.fixed"]["estimate"].as_f64().unwrap_or_else(|| panic!("fixed patience not found: {}", s["fitted"]));
    assert!((d - 2700.0).abs() < 1.0, "fixed patience {d} s, true 2700 s");
}

/// A model in the loop comes back from its pre-labels and from people's work on them:
/// detector-in-the-loop (accept and fix laws of their own, automation bias, a confidence that
/// follows difficulty) and toxicity-adjudication (the speed-up shorthand, so the crowd's and the
/// experts' time from scratch comes back too, though every task they see is pre-labelled).
#[test]
fn models_in_the_loop_come_back() {
    let tmp = tempfile::tempdir().unwrap();
    let near = |s: &serde_json::Value, path: &str, truth: f64, tol: f64, relative: bool| {
        let f = &s["fitted"][path];
        let est = f["estimate"].as_f64().unwrap_or_else(|| panic!("{path} not fitted: {}", s["not_identified"]));
        let err = if relative { (est - truth).abs() / truth } else { (est - truth).abs() };
        assert!(err <= tol, "{path}: {est}, true {truth} (tolerance {tol}{})", if relative { " relative" } else { "" });
        let (lo, hi) = (f["interval_95"][0].as_f64().unwrap_or(est), f["interval_95"][1].as_f64().unwrap_or(est));
        assert!(lo <= est && est <= hi, "{path}: {est} outside its interval [{lo}, {hi}]");
    };
    let detector = root().join("scenarios/detector-in-the-loop.toml");
    let s = fit_seed(&detector, &tmp.path().join("d"), 2, &["run.horizon=2d", "run.warmup=0s"]);
    near(&s, "models.detector.accuracy", 0.80, 0.01, false);
    near(&s, "models.detector.confidence_concentration", 6.0, 0.1, true);
    near(&s, "models.detector.latency", 0.3, 1e-6, false);
    near(&s, "models.detector.accept_time.lognormal.median", 3.5, 0.2, true);
    near(&s, "models.detector.fix_time.lognormal.median", 11.0, 0.2, true);
    near(&s, "models.detector.accept_time.lognormal.sigma", 0.5, 0.05, false);
    near(&s, "models.detector.automation_bias", 0.10, 0.04, false);
    near(&s, "pools.crowd.speed_sigma", 0.2, 0.1, false);
    assert!(s["fitted"]["models.detector.speedup"].is_null(), "accept and fix laws of their own: no shorthand");
    let twin = std::fs::read_to_string(tmp.path().join("d/fitted.toml")).unwrap();
    assert!(twin.contains("automation_bias") && twin.contains("accept_time"), "{twin}");

    let toxicity = root().join("scenarios/toxicity-adjudication.toml");
    let s = fit_seed(&toxicity, &tmp.path().join("t"), 2, &["run.horizon=3d", "run.warmup=0s"]);
    near(&s, "models.classifier.accuracy", 0.85, 0.01, false);
    near(&s, "models.classifier.confidence_concentration", 4.0, 0.1, true);
    near(&s, "models.classifier.speedup", 1.5, 0.1, true);
    near(&s, "pools.crowd.service.toxicity.lognormal.median", 150.0, 0.12, true);
    near(&s, "pools.crowd.service.toxicity.lognormal.sigma", 0.5, 0.03, false);
    near(&s, "pools.experts.service.toxicity.lognormal.median", 120.0, 0.12, true);
    ok(&["simulate", tmp.path().join("t/fitted.toml").to_str().unwrap(), "-q", "--set", "run.horizon=6h", "--out", tmp.path().join("t/run").to_str().unwrap()]);
    // Without a base the trace does not name its model: said, not fitted.
    let t = trace(&toxicity, &tmp.path().join("bare"), 3, &["run.horizon=12h", "run.warmup=0s"]);
    ok(&["calibrate", t.to_str().unwrap(), "-q", "--out", tmp.path().join("bare/fit.toml").to_str().unwrap()]);
    let s = side(&tmp.path().join("bare/fit.calibration.json"));
    assert!(s["not_identified"]["models (stream passages)"].as_str().is_some_and(|m| m.contains("--base")), "{}", s["not_identified"]);
    // Before the first shift no one works: no pool to fit, said as such (not "a bug").
    let t = trace(&toxicity, &tmp.path().join("night"), 3, &["run.horizon=5h", "run.warmup=0s"]);
    let out = tessera(&["calibrate", t.to_str().unwrap(), "-q", "--out", tmp.path().join("night/fit.toml").to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("names no annotator") && !err.contains("a bug"), "{err}");
}

#[test]
fn mmc_is_exponential_with_no_spread_of_speeds() {
    let tmp = tempfile::tempdir().unwrap();
    let mmc = root().join("scenarios/mmc.toml");
    let t = trace(&mmc, tmp.path(), 3, &["run.horizon=7d"]);
    let out = tmp.path().join("twin.toml");
    ok(&["calibrate", t.to_str().unwrap(), "--out", out.to_str().unwrap(), "-q"]);
    let s = side(&tmp.path().join("twin.calibration.json"));
    let f = &s["fitted"];
    let rate = f["streams.calls.arrivals.poisson.per_hour"]["estimate"].as_f64().unwrap();
    assert!((rate - 200.0).abs() < 200.0 * 0.02, "rate {rate}");
    let mean = f["pools.agents.service.classification.exponential.mean"]["estimate"].as_f64().unwrap_or_else(|| panic!("exponential not chosen: {f}"));
    assert!((mean - 180.0).abs() < 180.0 * 0.03, "mean handling time {mean}");
    assert_eq!(f["pools.agents.speed_sigma"]["estimate"].as_f64(), Some(0.0), "{}", f["pools.agents.speed_sigma"]);
    // The task type comes from the trace's arrive lines; without --base the sections a trace
    // cannot tell are named.
    assert!(s["from_elsewhere"].as_object().unwrap().values().all(|v| v.as_str().unwrap().contains("defaults")));
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.contains("No --base"), "{text}");
    // The skeleton's twin runs.
    ok(&["simulate", out.to_str().unwrap(), "-q", "--set", "run.horizon=1d", "--out", tmp.path().join("run").to_str().unwrap()]);
}

#[test]
fn a_twin_passes_check_on_a_fresh_trace_and_fails_on_a_changed_one() {
    let tmp = tempfile::tempdir().unwrap();
    let scenario = root().join("scenarios/mmc.toml");
    let base = scenario.to_str().unwrap();
    let t1 = trace(&scenario, &tmp.path().join("a"), 1, &["run.horizon=7d"]);
    let twin = tmp.path().join("twin.toml");
    let stdout = ok(&["calibrate", t1.to_str().unwrap(), "--base", base, "--out", twin.to_str().unwrap(), "--check", "-r", "12"]);
    assert!(stdout.contains("throughput") && !stdout.contains("FAIL"), "{stdout}");
    let s = side(&tmp.path().join("twin.calibration.json"));
    assert_eq!(s["check"]["figures"].as_array().unwrap().len(), 6);
    // The bands carry the twin's estimation error: its estimates are redrawn per replication.
    let redrawn: Vec<&str> = s["check"]["redrawn"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    for path in ["streams.calls.arrivals.poisson.per_hour", "pools.agents.service.classification.exponential.mean"] {
        assert!(redrawn.contains(&path), "{path} not redrawn: {redrawn:?}");
    }
    // A fresh trace of the original passes.
    let t2 = trace(&scenario, &tmp.path().join("b"), 2, &["run.horizon=7d"]);
    let stdout = ok(&["calibrate", t2.to_str().unwrap(), "--fitted", twin.to_str().unwrap(), "-r", "12"]);
    assert!(!stdout.contains("FAIL"), "{stdout}");
    // 30% more arrivals: throughput and waiting fail, and the exit status says so.
    let t3 = trace(&scenario, &tmp.path().join("c"), 3, &["run.horizon=7d", "streams.calls.arrivals.poisson.per_hour=260"]);
    let out = tessera(&["calibrate", t3.to_str().unwrap(), "--fitted", twin.to_str().unwrap(), "-r", "12"]);
    assert_eq!(out.status.code(), Some(4), "{}", String::from_utf8_lossy(&out.stdout));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let line = stdout.lines().find(|l| l.contains("throughput")).unwrap();
    assert!(line.ends_with("FAIL"), "{stdout}");
}

#[test]
fn same_trace_same_bytes_and_broken_traces_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let scenario = root().join("tests/data/calibration-recovery.toml");
    let t = trace(&scenario, tmp.path(), 9, &["run.horizon=2d"]);
    let (o1, o2) = (tmp.path().join("one.toml"), tmp.path().join("two.toml"));
    ok(&["calibrate", t.to_str().unwrap(), "--base", scenario.to_str().unwrap(), "--out", o1.to_str().unwrap(), "-q"]);
    ok(&["calibrate", t.to_str().unwrap(), "--base", scenario.to_str().unwrap(), "--out", o2.to_str().unwrap(), "-q"]);
    assert_eq!(std::fs::read_to_string(&o1).unwrap().replace("one.toml", ""), std::fs::read_to_string(&o2).unwrap().replace("two.toml", ""));
    let s1 = std::fs::read_to_string(tmp.path().join("one.calibration.json")).unwrap().replace("one.toml", "");
    let s2 = std::fs::read_to_string(tmp.path().join("two.calibration.json")).unwrap().replace("two.toml", "");
    assert_eq!(s1, s2);

    let header = r#"{"schema":"tessera.trace/2","v":2,"replication":0,"clock":"live","epoch_unix_us":0}"#;
    for (body, expect) in [
        (format!("{header}\n{{\"v\":2,\"t_us\":5,\"event\":\"arrive\",\"stream\":\"a\",\"task\":1}}\n{{\"v\":2,\"t_us\":\"x\",\"event\":\"arrive\"}}\n"), ":3: a field has the wrong type"),
        ("not json\n".to_string(), ":1: not a JSON object"),
        (String::new(), "no header line"),
        ("{\"v\":2,\"t_us\":1,\"event\":\"arrive\"}\n".to_string(), ":1: an event before the trace's header"),
        (format!("{header}\n{{\"v\":2,\"t_us\":5,\"event\":\"arrive\",\"task\":1}}\n"), ":2: a \"arrive\" event without \"stream\""),
        (r#"{"schema":"other/1","v":2}"#.to_string() + "\n", ":1: schema \"other/1\" is not a Tessera trace"),
        (format!("{header}\n"), "no events"),
        // Found by the fuzzer: a time in the year 56,000 made the week-by-week sums run for ever.
        (format!("{header}\n{{\"v\":2,\"t_us\":1704018446744073710,\"event\":\"arrive\",\"stream\":\"a\",\"task\":1}}\n"), ":2: t_us 1704018446744073710 is not a time"),
    ] {
        let path = tmp.path().join("bad.jsonl");
        std::fs::write(&path, &body).unwrap();
        let out = tessera(&["calibrate", path.to_str().unwrap(), "-q"]);
        assert_eq!(out.status.code(), Some(1), "{body}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(path.to_str().unwrap()) && err.contains(expect), "{body:?}: {err}");
    }
    // A base whose names do not match the trace's.
    let out = tessera(&["calibrate", t.to_str().unwrap(), "--base", root().join("scenarios/mmc.toml").to_str().unwrap(), "-q"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("stream \"images\" is not in the base scenario"));
}

/// Simulates the recovery scenario for 21 days with `sets`, and writes its days 7 to 21 as a
/// trace of their own (the header's epoch moved to day 7): the same people, a week later.
fn continuation(dir: &Path, seed: u64, sets: &[&str]) -> PathBuf {
    let scenario = root().join("tests/data/calibration-recovery.toml");
    let mut all = vec!["run.horizon=21d"];
    all.extend_from_slice(sets);
    let full = trace(&scenario, &dir.join("full"), seed, &all);
    let text = std::fs::read_to_string(&full).unwrap();
    let mut lines = text.lines();
    let mut head: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    let cut = head["epoch_unix_us"].as_i64().unwrap() + 7 * 24 * 3_600_000_000;
    head["epoch_unix_us"] = cut.into();
    let mut out = head.to_string() + "\n";
    for l in lines {
        let t = l.split("\"t_us\":").nth(1).and_then(|r| r.split(',').next()).and_then(|n| n.parse::<i64>().ok()).unwrap();
        if t >= cut {
            out.push_str(l);
            out.push('\n');
        }
    }
    std::fs::remove_file(&full).unwrap();
    let path = dir.join("rest.jsonl");
    std::fs::write(&path, out).unwrap();
    path
}

/// `tessera drift`'s tests as (metric, direction) → (alarms, first alarm's hour, stated delay).
fn drift_report(trace: &Path, twin: &Path) -> (Option<i32>, Vec<(String, i64, usize, f64, f64)>) {
    let out_json = trace.with_file_name("drift.json");
    let out = tessera(&["drift", trace.to_str().unwrap(), "--against", twin.to_str().unwrap(), "--paths", "400", "-q", "--out", out_json.to_str().unwrap()]);
    assert!(matches!(out.status.code(), Some(0) | Some(4)), "{}", String::from_utf8_lossy(&out.stderr));
    let r = side(&out_json);
    assert_eq!(r["estimation_error_allowed"], true);
    let tests = r["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let alarms = t["alarms"].as_array().unwrap();
            (t["metric"].as_str().unwrap().to_string(), t["direction"].as_i64().unwrap(), alarms.len(), alarms.first().map_or(f64::INFINITY, |a| a["at_h"].as_f64().unwrap()), t["delay_p90_h"].as_f64().unwrap())
        })
        .collect();
    (out.status.code(), tests)
}

#[test]
fn drift_catches_planted_changes_within_the_stated_delay_and_stays_quiet_otherwise() {
    let tmp = tempfile::tempdir().unwrap();
    let scenario = root().join("tests/data/calibration-recovery.toml");
    // (name, change, the test that must alarm)
    let planted: [(&str, &str, &str, i64); 3] = [
        ("arrivals +30%", "streams.images.arrivals.poisson.per_hour=208", "arrivals", 1),
        ("the crowd 20% slower", "pools.crowd.service.classification.lognormal.median=12min", "handling_time", 1),
        // p(1 − d) + d/4 with p = 0.8: d = 0.0909 takes 5 points off every answer, golden ones included.
        ("accuracy −5 points", "streams.images.difficulty=0.0909", "gold_accuracy", -1),
    ];
    let mut false_alarms: std::collections::BTreeMap<String, usize> = Default::default();
    for seed in 1..=3u64 {
        let dir = tmp.path().join(format!("s{seed}"));
        // The twin: the first week of the operation.
        let first = trace(&scenario, &dir.join("first"), seed, &[]);
        let twin = dir.join("twin.toml");
        ok(&["calibrate", first.to_str().unwrap(), "--base", scenario.to_str().unwrap(), "--out", twin.to_str().unwrap(), "-q"]);
        // Unchanged: the next two weeks of the same people.
        let (_, tests) = drift_report(&continuation(&dir.join("same"), seed, &[]), &twin);
        for (metric, _, alarms, _, _) in &tests {
            *false_alarms.entry(metric.clone()).or_default() += alarms;
        }
        for (name, change, metric, direction) in planted {
            let (code, tests) = drift_report(&continuation(&dir.join(metric), seed, &[change]), &twin);
            assert_eq!(code, Some(4), "seed {seed}, {name}: no alarm: {tests:?}");
            let (_, _, alarms, first, delay) = tests.iter().find(|t| t.0 == metric && t.1 == direction).unwrap().clone();
            assert!(alarms > 0, "seed {seed}, {name}: the {metric} test did not alarm: {tests:?}");
            assert!(first <= delay, "seed {seed}, {name}: first alarm at hour {first}, stated delay (p90) {delay} h");
        }
    }
    // 42 days of unchanged operation; the budget is one false alarm per metric per 90 days
    // (expected 0.47 here): more than 2 on one metric would be P < 1.1% at that rate.
    for (metric, n) in &false_alarms {
        assert!(*n <= 2, "{metric}: {n} false alarms in 42 days of unchanged operation");
    }
}

/// The handling-time test is unbiased when nothing changed: four weeks of M/M/14 simulated from
/// the twin itself stay within the false-alarm budget (one per metric per 90 days). Weighting
/// each person active in an hour once read every hour half a standard deviation slow (a person
/// who finished few items in an hour had long ones), and raised about two alarms a week here.
/// The report runs again as a monitor (`--monitor`), to the same alarms; a broken one is refused
/// with the field named.
#[test]
fn drift_is_quiet_on_the_twin_itself_and_its_report_runs_as_a_monitor() {
    let tmp = tempfile::tempdir().unwrap();
    let mmc = root().join("scenarios/mmc.toml");
    let t = trace(&mmc, &tmp.path().join("a"), 2, &["run.horizon=28d", "run.warmup=0s"]);
    let report = tmp.path().join("drift.json");
    let out = tessera(&["drift", t.to_str().unwrap(), "--against", mmc.to_str().unwrap(), "--paths", "300", "-q", "--out", report.to_str().unwrap()]);
    assert!(matches!(out.status.code(), Some(0 | 4)), "{}", String::from_utf8_lossy(&out.stderr));
    let r = side(&report);
    let alarms = |r: &serde_json::Value, metric: &str| -> u64 { r["tests"].as_array().unwrap().iter().filter(|t| t["metric"] == metric).map(|t| t["alarm_count"].as_u64().unwrap()).sum() };
    // 28 days at one false alarm per 90: expected 0.31 per metric; more than 2 is P < 0.4%.
    assert!(alarms(&r, "handling_time") <= 2 && alarms(&r, "arrivals") <= 2, "{}", serde_json::to_string(&r["tests"]).unwrap());
    // Identical agents: no composition offset.
    assert_eq!(r["pools"][0]["handling"][0]["composition"], 0.0);
    // The report as a monitor over the same trace: the same alarms, without simulating.
    let again = tmp.path().join("again.json");
    let out = tessera(&["drift", t.to_str().unwrap(), "--monitor", report.to_str().unwrap(), "-q", "--out", again.to_str().unwrap()]);
    assert!(matches!(out.status.code(), Some(0 | 4)), "{}", String::from_utf8_lossy(&out.stderr));
    let a = side(&again);
    for (x, y) in r["tests"].as_array().unwrap().iter().zip(a["tests"].as_array().unwrap()) {
        assert_eq!(x["alarms"], y["alarms"]);
        assert_eq!(x["statistic_at_end"], y["statistic_at_end"]);
    }
    // Its pools were grouped by name: another grouping would name none of them.
    let out = tessera(&["drift", t.to_str().unwrap(), "--monitor", report.to_str().unwrap(), "--group-by", "skills"]);
    assert!(out.status.code() == Some(1) && String::from_utf8_lossy(&out.stderr).contains("grouped by name"), "{}", String::from_utf8_lossy(&out.stderr));
    // A broken monitor is refused, naming the test and the field.
    let mut bad = r.clone();
    bad["tests"][1]["threshold"] = serde_json::json!(-1.0);
    std::fs::write(tmp.path().join("bad.json"), bad.to_string()).unwrap();
    let out = tessera(&["drift", t.to_str().unwrap(), "--monitor", tmp.path().join("bad.json").to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("bad.json") && err.contains("tests[1]") && err.contains("threshold"), "{err}");
    std::fs::write(tmp.path().join("bad.json"), r.to_string().replace("\"rates\"", "\"rate\"")).unwrap();
    let out = tessera(&["drift", t.to_str().unwrap(), "--monitor", tmp.path().join("bad.json").to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.code() == Some(1) && err.contains("tests[0].model") && err.contains("rates"), "{err}");
}

/// Review handling times come back (the schema's one `quality.review.service`, every reviewer
/// with their own speed): the recovery crowd reviewing a fifth of its final labels at a median of
/// 45 s. Without the base's review rules the reviews are declared, not fitted.
#[test]
fn review_handling_times_come_back() {
    let tmp = tempfile::tempdir().unwrap();
    let scenario = root().join("tests/data/calibration-recovery.toml");
    let review = ["quality.review.pool=crowd", "quality.review.sample=0.2", "quality.review.service={ lognormal = { median = \"45s\", sigma = 0.4 } }"];
    let t = trace(&scenario, &tmp.path().join("r"), 3, &review);
    let base = tmp.path().join("base.toml");
    std::fs::write(&base, std::fs::read_to_string(&scenario).unwrap() + "\n[quality.review]\npool = \"crowd\"\nsample = 0.2\nservice = { lognormal = { median = \"45s\", sigma = 0.4 } }\n").unwrap();
    ok(&["calibrate", t.to_str().unwrap(), "--base", base.to_str().unwrap(), "-q", "--out", tmp.path().join("fit.toml").to_str().unwrap()]);
    let f = side(&tmp.path().join("fit.calibration.json"))["fitted"].clone();
    let median = &f["quality.review.service.lognormal.median"];
    let (est, lo, hi) = (median["estimate"].as_f64().unwrap(), median["interval_95"][0].as_f64().unwrap(), median["interval_95"][1].as_f64().unwrap());
    // About 4,400 reviews by 30 people whose speeds spread by 0.3: the median to about ±5%.
    assert!((est - 45.0).abs() <= 0.15 * 45.0 && lo <= 45.0 && 45.0 <= hi, "review median {est} s [{lo}, {hi}], true 45 s");
    let sigma = f["quality.review.service.lognormal.sigma"]["estimate"].as_f64().unwrap();
    assert!((sigma - 0.4).abs() <= 0.02, "review sigma {sigma}, true 0.4");
    let text = std::fs::read_to_string(tmp.path().join("fit.toml")).unwrap();
    assert!(text.contains("[quality.review]") && !text.contains("median = \"45s\""), "the fitted law replaces the base's:\n{text}");
    // No base: said, not fitted.
    ok(&["calibrate", t.to_str().unwrap(), "-q", "--out", tmp.path().join("bare.toml").to_str().unwrap()]);
    let s = side(&tmp.path().join("bare.calibration.json"));
    assert!(s["not_identified"]["quality.review.service"].as_str().is_some_and(|m| m.contains("reviews")), "{}", s["not_identified"]);
}

#[test]
fn shifts_and_batch_drops_come_back_from_activity() {
    // llm-preference: 55 writers on "mon-fri 09:00-17:00", 5,561 pairs every Monday 00:00.
    let tmp = tempfile::tempdir().unwrap();
    let t = trace(&root().join("scenarios/llm-preference.toml"), tmp.path(), 2, &[]);
    ok(&["calibrate", t.to_str().unwrap(), "-q"]);
    let s = side(&tmp.path().join("fitted.calibration.json"));
    let f = &s["fitted"];
    assert_eq!(f["pools.writers.shifts"]["estimate"], serde_json::json!(["mon-fri 09:00-17:00"]), "{}", f["pools.writers.shifts"]);
    assert_eq!(f["streams.pairs.arrivals.batch.size"]["estimate"], 5561);
    assert_eq!(f["streams.pairs.arrivals.batch.every"]["estimate"].as_f64(), Some(604800.0));
    let text = std::fs::read_to_string(tmp.path().join("fitted.toml")).unwrap();
    assert!(text.contains("shifts = [\"mon-fri 09:00-17:00\"]"), "{text}");
    // M/M/14's agents are on all week: no calendar.
    let t = trace(&root().join("scenarios/mmc.toml"), &tmp.path().join("mmc"), 1, &["run.horizon=8d"]);
    ok(&["calibrate", t.to_str().unwrap(), "-q"]);
    let s = side(&tmp.path().join("mmc/fitted.calibration.json"));
    assert_eq!(s["fitted"]["pools.agents.shifts"]["estimate"], serde_json::json!([]));
}

#[test]
fn learning_and_fatigue_are_kept_where_the_trace_supports_them() {
    // The recovery crowd, learning (30% faster at full experience, half of it after 50 items)
    // and tiring (3% slower per hour on shift) on 8-hour shifts.
    let tmp = tempfile::tempdir().unwrap();
    let scenario = root().join("tests/data/calibration-recovery.toml");
    let sets = ["pools.crowd.learning={ speedup = 0.3, half_life_items = 50 }", "pools.crowd.fatigue={ slowdown_per_hour = 0.03 }", "pools.crowd.shifts=[\"daily 08:00-16:00\"]"];
    let t = trace(&scenario, tmp.path(), 1, &sets);
    ok(&["calibrate", t.to_str().unwrap(), "--base", scenario.to_str().unwrap(), "-q"]);
    let s = side(&tmp.path().join("fitted.calibration.json"));
    let f = &s["fitted"];
    for (path, truth, tol) in [("pools.crowd.learning.speedup", 0.3, 0.03), ("pools.crowd.fatigue.slowdown_per_hour", 0.03, 0.008)] {
        let est = f[path]["estimate"].as_f64().unwrap_or_else(|| panic!("{path} not kept: {}", s["not_identified"]));
        assert!((est - truth).abs() <= tol, "{path} = {est}, true {truth}");
        let (lo, hi) = (f[path]["interval_95"][0].as_f64().unwrap(), f[path]["interval_95"][1].as_f64().unwrap());
        assert!(lo <= truth && truth <= hi, "{path}: [{lo}, {hi}] misses {truth}");
    }
    assert_eq!(f["pools.crowd.learning.half_life_items"]["estimate"].as_f64(), Some(50.0));
    // The handling-time law is the novice's, fresh on shift: the curves come on top.
    let median = f["pools.crowd.service.classification.lognormal.median"]["estimate"].as_f64().unwrap();
    assert!((median - 600.0).abs() <= 0.2 * 600.0, "median {median}");
    let text = std::fs::read_to_string(tmp.path().join("fitted.toml")).unwrap();
    assert!(text.contains("learning = { speedup = ") && text.contains("fatigue = { slowdown_per_hour = "), "{text}");
}
