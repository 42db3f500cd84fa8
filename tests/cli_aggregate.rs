//! `tessera aggregate` end to end: the built binary on small files.

use std::io::Write;
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tessera"))
}

fn file(dir: &tempfile::TempDir, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.path().join(name);
    std::fs::File::create(&p).unwrap().write_all(text.as_bytes()).unwrap();
    p
}

const ANSWERS: &str = "task,worker,label,comment\n\
t1,alice,cat,x\nt1,bob,cat,x\nt1,carol,dog,x\n\
t2,alice,dog,x\nt2,bob,dog,x\nt2,carol,dog,x\n\
t3,alice,cat,x\nt3,carol,dog,x\n";

#[test]
fn json_summary_and_labels_file() {
    let dir = tempfile::tempdir().unwrap();
    let answers = file(&dir, "a.csv", ANSWERS);
    let gt = file(&dir, "gt.csv", "task,label\nt1,cat\nt2,dog\nt9,cat\n");
    let out = dir.path().join("labels.csv");
    let o = bin()
        .arg("aggregate")
        .arg(&answers)
        .args(["--method", "mv", "--format", "json", "--gt"])
        .arg(&gt)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["method"], "mv");
    assert_eq!(v["tasks"], 3);
    assert_eq!(v["workers"], 3);
    assert_eq!(v["answers"], 8);
    assert_eq!(v["accuracy"], 1.0);
    assert_eq!(v["iterations"], 0);
    assert!(v["seconds"].as_f64().unwrap() >= 0.0);
    let labels = std::fs::read_to_string(&out).unwrap();
    // t3 is a 1-1 tie: the lowest label ("cat" < "dog") wins
    assert_eq!(labels, "task,label,confidence\nt1,cat,0.666667\nt2,dog,1.000000\nt3,cat,0.500000\n");
}

#[test]
fn every_method_runs() {
    let dir = tempfile::tempdir().unwrap();
    let answers = file(&dir, "a.csv", ANSWERS);
    let golden = file(&dir, "g.csv", "task,label\nt1,cat\n");
    for m in ["ds", "mv", "wawa", "zbs", "gold-mv", "one-coin-ds", "glad", "mace", "kos", "mmsr", "ds-smoothed"] {
        let o = bin()
            .arg("aggregate")
            .arg(&answers)
            .args(["--method", m, "--format", "json", "--golden"])
            .arg(&golden)
            .output()
            .unwrap();
        assert!(o.status.success(), "{m}: {}", String::from_utf8_lossy(&o.stderr));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["method"], m);
        assert!(v["accuracy"].is_null());
    }
}

#[test]
fn bad_input_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("missing.csv", "task,worker\nt1,w1\n", "line 1: missing column \"label\""),
        ("short.csv", "task,worker,label\nt1,w1,0\nt2,w2\n", "line 3"),
        ("empty.csv", "", "the file is empty"),
        ("blank.csv", "task,worker,label\nt1,,0\n", "line 2: empty worker"),
    ];
    for (name, text, want) in cases {
        let p = file(&dir, name, text);
        let o = bin().arg("aggregate").arg(&p).output().unwrap();
        assert!(!o.status.success(), "{name} should fail");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(name) && err.contains(want), "{name}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    let o = bin().args(["aggregate", "/no/such/file.csv"]).output().unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("/no/such/file.csv"));
    let o = bin().args(["aggregate", "x.csv", "--method", "nope"]).output().unwrap();
    assert!(String::from_utf8_lossy(&o.stderr).contains("expected one of"));
}

#[test]
fn help_teaches_with_an_example() {
    let o = bin().args(["aggregate", "--help"]).output().unwrap();
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(s.contains("Example:") && s.contains("--method ds") && s.contains("Dawid-Skene"), "{s}");
}

/// A preference-pair file: "lefty" picks whatever was shown on the left, the others pick the
/// truth ("A" on even tasks), and "tilt" answers "B" on most tasks whatever the item.
fn pairs_file() -> String {
    let mut s = String::from("task,worker,label,left\n");
    for t in 0..60 {
        let truth = if t % 2 == 0 { "A" } else { "B" };
        let left = if t % 3 == 0 { "A" } else { "B" };
        for w in ["ann", "bob", "cid", "dee"] {
            s += &format!("t{t},{w},{truth},{left}\n");
        }
        s += &format!("t{t},lefty,{left},{left}\n");
        let tilt = if t % 5 == 0 { "A" } else { "B" };
        s += &format!("t{t},tilt,{tilt},\n");
    }
    s
}

#[test]
fn bias_report_in_json_and_table() {
    let dir = tempfile::tempdir().unwrap();
    let answers = file(&dir, "pairs.csv", &pairs_file());
    let o = bin().arg("aggregate").arg(&answers).args(["--bias", "--fdr", "0.05", "--format", "json"]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let b = &v["bias"];
    assert_eq!(b["estimator"], "ds-smoothed");
    assert_eq!(b["fdr"], 0.05);
    assert_eq!(b["workers_tested"], 6);
    let workers = b["workers"].as_array().unwrap();
    assert_eq!(workers.len(), 6);
    let tilt = workers.iter().find(|w| w["worker"] == "tilt").unwrap();
    assert_eq!(tilt["flagged"], true, "{tilt}");
    assert_eq!(tilt["toward"], "B");
    assert_eq!(tilt["answers"], 60);
    assert!(tilt["strength"].as_f64().unwrap() > 0.4, "{tilt}");
    for w in workers.iter().filter(|w| ["ann", "bob", "cid", "dee"].contains(&w["worker"].as_str().unwrap())) {
        assert_eq!(w["flagged"], false, "{w}");
    }
    for key in ["raw", "z", "p", "q"] {
        assert!(tilt[key].is_number(), "{key}: {tilt}");
    }
    // sorted by q, then name
    let keys: Vec<(f64, String)> = workers.iter().map(|w| (w["q"].as_f64().unwrap(), w["worker"].as_str().unwrap().to_owned())).collect();
    assert!(keys.windows(2).all(|k| k[0] <= k[1]), "{keys:?}");
    // position: tilt's answers have no left label; lefty always picks the left one
    let p = &b["position"];
    assert_eq!(p["workers_tested"], 5, "{p}");
    let lefty = p["workers"].as_array().unwrap().iter().find(|w| w["worker"] == "lefty").unwrap();
    assert_eq!(lefty["flagged"], true);
    assert_eq!(lefty["left"], 60);
    assert_eq!(p["flagged"], 1, "{p}");

    let o = bin().arg("aggregate").arg(&answers).args(["--bias", "--out"]).arg(dir.path().join("l.csv")).output().unwrap();
    assert!(o.status.success());
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(table.contains("of 6 workers tested flagged") && table.contains("tilt") && table.contains("position    1 of 5"), "{table}");

    // without --bias: no key; --fdr needs --bias and a rate in (0, 1]
    let o = bin().arg("aggregate").arg(&answers).args(["--format", "json"]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v.get("bias").is_none());
    let o = bin().arg("aggregate").arg(&answers).args(["--bias", "--fdr", "2"]).output().unwrap();
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("false-discovery rate"));
    let o = bin().arg("aggregate").arg(&answers).args(["--fdr", "0.1"]).output().unwrap();
    assert!(!o.status.success());
    // a left label that is no answer's label: file and line
    let bad = file(&dir, "bad.csv", "task,worker,label,left\nt1,a,A,A\nt1,b,B,Z\n");
    let o = bin().arg("aggregate").arg(&bad).arg("--bias").output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("bad.csv") && err.contains("line 3"), "{err}");
}
