//! Real crowd datasets: our aggregators against crowd-kit 1.4.2.
//!
//! Data: `$TESSERA_CROWD_DATA` (default `$CARGO_MANIFEST_DIR/../shared/data/crowd`), one folder per
//! dataset with `labels.csv` and `gt.csv`. Missing data is a loud skip here; `.ci/run` makes it an
//! error.
//!
//! Accuracies are asserted to the 4th decimal against the table of that folder's README
//! (crowd-kit 1.4.2, default parameters; KOS, which the README does not list, against crowd-kit
//! 1.4.2 run by `benches/peers/crowdkit_labels.py`). When `$TESSERA_CROWDKIT_REF` points at the
//! output of that script, labels are also compared task by task with crowd-kit's: identical for
//! the methods of [`EXACT`], and for KOS identical up to one swap of the two labels over the
//! whole dataset, because our KOS anchors its sign on majority vote and crowd-kit's does not
//! (see `kos.rs`; on these datasets no swap is needed, and the test says which it found).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use tessera_engine::quality::aggregation::{Aggregator, DawidSkene, Method, NO_LABEL};
use tessera_scenarios::answers::{read_answers, read_truth, AnswersFile, Role};

mod crowd_common;
use crowd_common::skip_or_fail;

fn data_dir() -> Option<PathBuf> {
    crowd_common::data_dir("the crowd-kit comparison tests")
}

/// README table: (dataset, method, accuracy, iterations where stated).
const EXPECTED: &[(&str, &str, f64, Option<usize>)] = &[
    ("d_product", "mv", 0.8966, None),
    ("d_product", "wawa", 0.8966, None),
    ("d_product", "ds", 0.9397, Some(80)),
    ("d_product", "one-coin-ds", 0.9084, None),
    ("d_possent", "mv", 0.9320, None),
    ("d_possent", "wawa", 0.9510, None),
    ("d_possent", "ds", 0.9600, Some(5)),
    ("d_possent", "one-coin-ds", 0.9490, None),
    ("d_possent", "glad", 0.9480, None),
    ("s_rel", "mv", 0.5356, None),
    ("s_rel", "wawa", 0.5578, None),
    ("s_rel", "ds", 0.6173, Some(22)),
    ("s_adult", "mv", 0.7628, None),
    ("s_adult", "wawa", 0.7658, None),
    ("s_adult", "ds", 0.7658, Some(2)),
    ("s_adult", "one-coin-ds", 0.7087, None),
    ("rte", "mv", 0.9188, None),
    ("rte", "wawa", 0.9213, None),
    ("rte", "ds", 0.9275, Some(9)),
    ("rte", "one-coin-ds", 0.9250, None),
    ("temp", "mv", 0.9394, None),
    ("temp", "wawa", 0.9437, None),
    ("temp", "ds", 0.9416, Some(6)),
    ("temp", "one-coin-ds", 0.9394, None),
    ("temp", "glad", 0.9351, None),
    ("bluebirds", "mv", 0.7593, None),
    ("bluebirds", "wawa", 0.7593, None),
    ("bluebirds", "ds", 0.8889, Some(2)),
    ("bluebirds", "one-coin-ds", 0.5833, None),
    ("bluebirds", "glad", 0.7222, None),
    // KOS (binary datasets), crowd-kit 1.4.2 with any random_state. rte and temp are near
    // chance for crowd-kit too: prolific workers who give one label to most tasks carry the
    // messages; the sign anchor does not change them (a swap would give 0.5025 and 0.4307).
    ("d_product", "kos", 0.8955, None),
    ("d_possent", "kos", 0.9330, None),
    ("rte", "kos", 0.4975, None),
    ("temp", "kos", 0.5693, None),
    ("bluebirds", "kos", 0.7222, None),
];

/// Methods whose labels must be identical to crowd-kit's, task by task.
const EXACT: &[&str] = &["mv", "wawa", "ds", "ds-golden", "one-coin-ds", "zbs"];

/// Methods whose labels must be crowd-kit's up to one swap of the two labels over a dataset.
const UP_TO_SWAP: &[&str] = &["kos"];

fn file_with(rows: &[&str]) -> tempfile::NamedTempFile {
    use std::io::Write;
    let mut f = tempfile::NamedTempFile::new().unwrap();
    writeln!(f, "task,label").unwrap();
    for r in rows {
        writeln!(f, "{r}").unwrap();
    }
    f
}

fn load(dir: &Path, name: &str) -> (AnswersFile, Vec<Option<u32>>) {
    let f = read_answers(&dir.join(name).join("labels.csv")).unwrap();
    let gt = read_truth(&dir.join(name).join("gt.csv"), &f, Role::Truth).unwrap().labels;
    (f, gt)
}

#[test]
fn accuracies_match_crowdkit_readme_table() {
    let Some(dir) = data_dir() else { return };
    let mut failures = Vec::new();
    let mut cache: HashMap<&str, (AnswersFile, Vec<Option<u32>>)> = HashMap::new();
    for &(ds, method, expected, iters) in EXPECTED {
        let (f, gt) = cache.entry(ds).or_insert_with(|| load(&dir, ds));
        let m: Method = method.parse().unwrap();
        let r = m.aggregator().fit(&f.answers, None).unwrap();
        let acc = r.accuracy(gt).unwrap();
        // "to the 4th decimal": within one unit of it. The README rounds inconsistently at the
        // half (rte MV 735/800 = 0.91875 shows as 0.9188, s_rel MV 2389/4460 = 0.535650 as 0.5356),
        // and our labels are identical to crowd-kit's there. GLAD's M-step optimiser differs from
        // SciPy's CG, so it gets the 0.5-point tolerance of the non-exact methods.
        let tol = if method == "glad" { 0.005 } else { 1e-4 + 1e-9 };
        let ok = (acc - expected).abs() <= tol && !matches!(iters, Some(it) if it != r.iterations);
        eprintln!(
            "{ds:10} {method:12} accuracy {acc:.5} (crowd-kit {expected:.4}) iterations {} {}",
            r.iterations,
            if ok { "ok" } else { "MISMATCH" }
        );
        if !ok {
            failures.push(format!("{ds}/{method}: {acc:.5} vs {expected} ({} it, want {iters:?})", r.iterations));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn ds_with_100_forced_iterations_matches_readme() {
    let Some(dir) = data_dir() else { return };
    // "DS 100 it" column: crowd-kit forced to run all 100 iterations.
    for (ds, expected) in [("d_product", 0.9397), ("d_possent", 0.9600), ("rte", 0.9275), ("temp", 0.9416)] {
        let (f, gt) = load(&dir, ds);
        let r = DawidSkene { n_iter: 100, tol: f64::NEG_INFINITY }.fit(&f.answers, None).unwrap();
        assert_eq!(r.iterations, 100);
        let acc = r.accuracy(&gt).unwrap();
        assert!((acc - expected).abs() <= 1e-4 + 1e-9, "{ds}: {acc} vs {expected}");
    }
}

#[test]
fn labels_identical_to_crowdkit() {
    let Some(dir) = data_dir() else { return };
    let Some(refdir) = std::env::var_os("TESSERA_CROWDKIT_REF").map(PathBuf::from) else {
        skip_or_fail(
            "TESSERA_CROWDKIT_REF is not set; SKIPPING the task-by-task label comparison with crowd-kit \
             (generate it with benches/peers/crowdkit_labels.py)",
        );
        return;
    };
    let mut compared = 0;
    let mut failures = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let ds = entry.unwrap().file_name().to_string_lossy().into_owned();
        if !dir.join(&ds).join("labels.csv").is_file() {
            continue;
        }
        let (f, _) = load(&dir, &ds);
        for &method in EXACT.iter().chain(UP_TO_SWAP) {
            let path = refdir.join(&ds).join(format!("{method}.csv"));
            if method == "kos" && f.label_names.len() != 2 {
                continue; // binary only, in crowd-kit too
            }
            if !path.is_file() {
                eprintln!("WARNING: no crowd-kit reference {}", path.display());
                continue;
            }
            let reference = read_truth(&path, &f, Role::Truth).unwrap().labels;
            let r = if method == "ds-golden" {
                // golden: the first half of gt.csv's rows, in file order (as crowdkit_labels.py)
                let text = std::fs::read_to_string(dir.join(&ds).join("gt.csv")).unwrap();
                let rows: Vec<&str> = text.lines().skip(1).filter(|l| !l.is_empty()).collect();
                let half = file_with(&rows[..rows.len() / 2]);
                let golden = read_truth(half.path(), &f, Role::Golden).unwrap().labels;
                DawidSkene::default().fit(&f.answers, Some(&golden)).unwrap()
            } else {
                method.parse::<Method>().unwrap().aggregator().fit(&f.answers, None).unwrap()
            };
            let mut diff = 0;
            let mut diff_swapped = 0;
            for t in 0..f.task_names.len() {
                let ours = (r.labels[t] != NO_LABEL).then_some(r.labels[t]);
                if ours != reference[t] {
                    diff += 1;
                }
                if ours.map(|l| 1 - l) != reference[t] {
                    diff_swapped += 1;
                }
            }
            compared += 1;
            let swap = UP_TO_SWAP.contains(&method) && diff_swapped < diff;
            let diff = if swap { diff_swapped } else { diff };
            eprintln!(
                "{ds:10} {method:12} {diff} of {} labels differ from crowd-kit{}",
                f.task_names.len(),
                if swap { " with the two labels swapped (our sign anchor)" } else { "" }
            );
            if diff > 0 {
                failures.push(format!("{ds}/{method}: {diff} labels differ"));
            }
        }
    }
    assert!(compared > 0, "no reference files under {}", refdir.display());
    assert!(failures.is_empty(), "{failures:#?}");
}
