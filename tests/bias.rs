//! Annotator bias in the simulation, through the binary users run (`tessera simulate`) on the
//! shipped `scenarios/biased-crowd.toml` (a fifth of a crowd over-uses class 1 with strength 0.3;
//! a fifth of the preference judges picks the left-shown answer with strength 0.3):
//!
//! - planted bias is found from what the operation sees (no hidden truth): over 20 seeds, recall
//!   ≥ 0.9 with a false-discovery rate ≤ 0.1, each planted annotator with ≥ 100 answers;
//! - the rules acting on it improve final-label accuracy against the same workforce without
//!   them, paired replication by replication (common random numbers: same seeds);
//! - bias.csv is byte-identical at 1 and 2 threads, and preference pairs carry their
//!   presentation order in the trace;
//! - a bias spec or rule that cannot mean anything is an error naming file:line and the field.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn scenario() -> String {
    root().join("scenarios/biased-crowd.toml").to_string_lossy().into_owned()
}

fn simulate(dir: &Path, args: &[&str], threads: usize) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tessera")).arg("simulate").args(args).arg("--out").arg(dir).env("RAYON_NUM_THREADS", threads.to_string()).output().unwrap()
}

fn ok(dir: &Path, args: &[&str]) -> Value {
    let out = simulate(dir, args, 2);
    assert!(out.status.success(), "tessera failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap()
}

/// bias.csv as (kind, flagged, planted, answers) rows.
fn bias_rows(dir: &Path) -> Vec<(String, bool, bool, u64)> {
    let mut r = csv::Reader::from_path(dir.join("bias.csv")).unwrap();
    let h = r.headers().unwrap().clone();
    let col = |n: &str| h.iter().position(|x| x == n).unwrap();
    let (kind, flagged, planted, answers) = (col("kind"), col("flagged"), col("planted"), col("answers"));
    r.records().map(|x| x.unwrap()).map(|x| (x[kind].to_string(), &x[flagged] == "true", &x[planted] == "true", x[answers].parse().unwrap())).collect()
}

#[test]
fn planted_bias_is_found_with_high_recall_and_a_controlled_false_discovery_rate() {
    let tmp = tempfile::tempdir().unwrap();
    let s = ok(tmp.path(), &[&scenario(), "-q", "--unset", "quality.rules", "-r", "20", "--tasks", "none"]);
    let rows = bias_rows(tmp.path());
    for kind in ["class", "position"] {
        let mine: Vec<_> = rows.iter().filter(|r| r.0 == kind).collect();
        let planted: Vec<_> = mine.iter().filter(|r| r.2).collect();
        let flagged: Vec<_> = mine.iter().filter(|r| r.1).collect();
        // A class-biased person's unit is their stream; position is counted per person.
        assert!(planted.len() >= 20 * 6, "{kind}: {} planted units over 20 seeds", planted.len());
        assert!(planted.iter().all(|r| r.3 >= 100), "{kind}: a planted annotator with fewer than 100 answers");
        let recall = planted.iter().filter(|r| r.1).count() as f64 / planted.len() as f64;
        let fdr = flagged.iter().filter(|r| !r.2).count() as f64 / flagged.len() as f64;
        println!("{kind}: {} tested units, {} planted, {} flagged: recall {recall:.3}, false-discovery rate {fdr:.3}", mine.len(), planted.len(), flagged.len());
        assert!(recall >= 0.9, "{kind}: recall {recall}");
        assert!(fdr <= 0.1, "{kind}: false-discovery rate {fdr}");
        // The summary says the same per replication; the false-discovery rate proper is the mean
        // over seeds of each run's V / max(R, 1).
        let d = &s["figures"]["bias"][kind];
        let (r, f) = (d["recall"]["mean"].as_f64().unwrap(), d["false_discovery"]["mean"].as_f64().unwrap());
        println!("{kind}: over the 20 runs, mean recall {r:.3}, false-discovery rate (mean of V / max(R, 1)) {f:.3}");
        assert!(r >= 0.9 && f <= 0.1, "{d}");
    }
}

#[test]
fn the_bias_rules_improve_accuracy_against_the_same_workforce_without_them() {
    let tmp = tempfile::tempdir().unwrap();
    let args = ["-q", "-r", "10", "--tasks", "none", "--seed", "5"];
    let path = scenario();
    let with: Vec<&str> = [path.as_str()].into_iter().chain(args).collect();
    let with_rules = ok(&tmp.path().join("with"), &with);
    let mut without = with.clone();
    without.extend(["--unset", "quality.rules"]);
    let no_rules = ok(&tmp.path().join("without"), &without);
    let acc = |s: &Value| -> Vec<f64> { s["runs"].as_array().unwrap().iter().map(|r| r["accuracy"].as_f64().unwrap()).collect() };
    let (a, b) = (acc(&with_rules), acc(&no_rules));
    let d: Vec<f64> = a.iter().zip(&b).map(|(x, y)| x - y).collect();
    let n = d.len() as f64;
    let mean = d.iter().sum::<f64>() / n;
    let sd = (d.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    let half = 2.262 * sd / n.sqrt(); // t(0.975, 9)
    println!("accuracy with the rules − without: {:+.4} ± {half:.4} (paired, 10 replications); bans {}", mean, with_rules["figures"]["bans"]["mean"]);
    assert!(mean - half > 0.0, "the rules did not improve accuracy: {mean:+.4} ± {half:.4}");
    assert!(with_rules["figures"]["bans"]["mean"].as_f64().unwrap() > 0.0);
}

#[test]
fn bias_csv_is_the_same_at_any_thread_count_and_pairs_carry_their_order_in_the_trace() {
    let tmp = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for threads in [1, 2] {
        let dir = tmp.path().join(format!("t{threads}"));
        let out = simulate(&dir, &[&scenario(), "-q", "-r", "3", "--trace", "--set", "run.horizon=2d", "--set", "run.warmup=6h"], threads);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        files.push(["bias.csv", "summary.json", "events.jsonl"].map(|f| std::fs::read(dir.join(f)).unwrap()));
    }
    assert!(files[0] == files[1], "1 and 2 threads differ");
    let trace = String::from_utf8(files[0][2].clone()).unwrap();
    let (mut ab, mut ba) = (0, 0);
    for line in trace.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        if v["event"] == "assign" && v["work"] != "review" {
            match (v["stream"].as_str(), v["order"].as_str()) {
                (Some("pairs"), Some("AB")) => ab += 1,
                (Some("pairs"), Some("BA")) => ba += 1,
                (Some("pairs"), o) => panic!("a pair without its order: {o:?} in {line}"),
                (_, o) => assert!(o.is_none(), "only pairs have an order: {line}"),
            }
        }
    }
    let share = ab as f64 / (ab + ba) as f64;
    assert!(ab + ba > 1000 && (0.45..0.55).contains(&share), "{ab} AB, {ba} BA");
}

#[test]
fn a_bias_that_cannot_mean_anything_is_an_error_at_its_line() {
    let tmp = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(scenario()).unwrap();
    let planted = "bias = { share = 0.2, strength = 0.3, class = 1 }";
    let line = text.lines().position(|l| l.starts_with(planted)).unwrap() + 1;
    let cases: [(&str, &str, &str); 4] = [
        ("bias = { share = 0.2, strength = 0.3 }", "pools[0].bias", "give either `class`"),
        ("bias = { share = 0.2, strength = 0.3, class = 7 }", "pools[0].bias.class", "class 7 is not a class of any stream"),
        ("bias = { share = 0.2, strength = 0.3, position = \"left\" }", "pools[0].bias.position", "needs a preference-pair stream"),
        ("bias = { share = 0.2, strength = 1.5, class = 1 }", "pools[0].bias.strength", "1.5"),
    ];
    for (i, (bad, field, says)) in cases.into_iter().enumerate() {
        let file = tmp.path().join(format!("bad{i}.toml"));
        std::fs::write(&file, text.replacen(planted, bad, 1)).unwrap();
        let out = simulate(&tmp.path().join("x"), &[file.to_str().unwrap(), "-q"], 1);
        let e = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && !e.contains("panicked"), "{bad}: {e}");
        assert!(e.contains(&format!("bad{i}.toml:{line}:")) && e.contains(field) && e.contains(says), "{bad}: {e}");
    }
    for (args, field, says) in [
        (["--set", "quality.rules[0].below=0.2"], "quality.rules[0].below", "write `above`, not `below`"),
        (["--unset", "quality.rules[0].above"], "quality.rules[0].above", "class_bias needs `above`"),
        (["--set", "quality.rules[1].false_ban_rate=0.7"], "quality.rules[1].false_ban_rate", "expected a probability in (0, 0.5], found 0.7"),
        (["--set", "quality.rules[0].metric=\"agreement\""], "quality.rules[0].false_ban_rate", "agreement has no test of a person who is fine"),
    ] {
        let out = simulate(&tmp.path().join("y"), &[&scenario(), "-q", args[0], args[1]], 1);
        let e = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && e.contains(field) && e.contains(says), "{args:?}: {e}");
    }
}
