//! `tessera-fuzz`: a mutational fuzzer for everything Tessera reads from users. For a bounded
//! time per target it mutates the inputs of the corpus kept in the repository (`fuzz/corpus/`),
//! feeds them to the same functions the CLI calls, and fails on the first panic, hang or bad
//! error (see `targets.rs`). Run it under a memory limit (`scripts/fuzz.sh` does, with `ulimit -v`):
//! an allocation that fails aborts the process, and the input that did it is left in
//! `$TMPDIR/tessera-fuzz-<pid>/current`.
//!
//!   tessera-fuzz scenario set csv --seconds 60 --corpus fuzz/corpus

mod mutate;
mod targets;

use clap::Parser;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tessera_engine::run::Cancel;
use targets::Outcome;

/// The shipped scenarios: the bases that `set` inputs change, and seeds of the `scenario` corpus
/// beside `fuzz/corpus/scenario/`.
const BASES: &[&str] = &[
    include_str!("../../scenarios/mmc.toml"),
    include_str!("../../scenarios/lidar-cuboids.toml"),
    include_str!("../../scenarios/llm-preference.toml"),
    include_str!("../../scenarios/medical-imaging.toml"),
    include_str!("../../scenarios/ecommerce-surge.toml"),
    include_str!("../../scenarios/bench/tight-deadlines.toml"),
    include_str!("../../scenarios/bench/drifting-workforce.toml"),
    include_str!("../../scenarios/bench/expensive-vs-cheap.toml"),
    include_str!("../../scenarios/bench/heterogeneous-accuracy.toml"),
    include_str!("../../scenarios/bench/high-class-overlap.toml"),
    include_str!("../../scenarios/bench/scarce-experts-surge.toml"),
    include_str!("../../scenarios/biased-crowd.toml"),
];

/// Fuzz what users feed Tessera: scenarios, --set/--unset overrides, answer and truth CSVs, the
/// live server's settings and bodies, learned policy files.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
struct Args {
    /// Targets: scenario, set, csv, live, policy [default: all five]
    targets: Vec<String>,
    /// Seconds per target
    #[arg(long, default_value_t = 30.0)]
    seconds: f64,
    /// Corpus folder, one subfolder per target
    #[arg(long, default_value = "fuzz/corpus")]
    corpus: PathBuf,
    /// Seed of the mutations (a failure prints it)
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Wall-clock seconds one input may take before it is cancelled; twice that is a hang
    #[arg(long, default_value_t = 20.0)]
    budget: f64,
    /// Longest input [bytes]
    #[arg(long, default_value_t = 1 << 16)]
    max_len: usize,
    /// Write inputs that reached a new kind of outcome here (to grow the corpus)
    #[arg(long)]
    save_new: Option<PathBuf>,
    /// Where a failing input is written
    #[arg(long, default_value = "fuzz/crashes")]
    crashes: PathBuf,
}

/// What the watchdog sees: when the current input started, and how to cancel its run.
struct Watch {
    started: Instant,
    cancel: Option<Arc<Cancel>>,
    busy: bool,
}

static PANIC: Mutex<Option<String>> = Mutex::new(None);

fn read_corpus(dir: &Path) -> Vec<Vec<u8>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir).map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_file()).collect()).unwrap_or_default();
    files.sort();
    files.iter().filter_map(|p| std::fs::read(p).ok()).collect()
}

/// Every dotted path to a value in a scenario (the keys `set` inputs change).
fn keys(text: &str) -> Vec<String> {
    fn walk(prefix: &str, t: &dyn toml_edit::TableLike, out: &mut Vec<String>) {
        for (k, item) in t.iter() {
            let path = if prefix.is_empty() { k.to_string() } else { format!("{prefix}.{k}") };
            match item {
                toml_edit::Item::Table(sub) => walk(&path, sub, out),
                toml_edit::Item::ArrayOfTables(aot) => {
                    for (i, sub) in aot.iter().enumerate() {
                        walk(&format!("{path}.{i}"), sub, out);
                    }
                }
                toml_edit::Item::Value(toml_edit::Value::InlineTable(it)) => {
                    out.push(path.clone());
                    walk(&path, it, out);
                }
                _ => out.push(path),
            }
        }
    }
    let mut out = Vec::new();
    if let Ok(doc) = text.parse::<toml_edit::DocumentMut>() {
        walk("", doc.as_table(), &mut out);
    }
    out
}

fn main() {
    let args = Args::parse();
    let targets: Vec<String> = if args.targets.is_empty() { vec!["scenario".into(), "set".into(), "csv".into(), "live".into(), "policy".into(), "trace".into(), "drift".into()] } else { args.targets.clone() };
    for t in &targets {
        if !["scenario", "set", "csv", "live", "policy", "trace", "drift"].contains(&t.as_str()) {
            eprintln!("error: unknown target {t:?} (targets: scenario, set, csv, live, policy, trace, drift)");
            std::process::exit(2);
        }
    }
    let work = std::env::temp_dir().join(format!("tessera-fuzz-{}", std::process::id()));
    if let Err(e) = std::fs::create_dir_all(&work) {
        eprintln!("error: cannot create {}: {e}", work.display());
        std::process::exit(2);
    }
    std::panic::set_hook(Box::new(|info| {
        let at = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
        *PANIC.lock().unwrap_or_else(|e| e.into_inner()) = Some(format!("{info}{at}"));
    }));
    let watch = Arc::new(Mutex::new(Watch { started: Instant::now(), cancel: None, busy: false }));
    {
        let (watch, budget, current) = (watch.clone(), Duration::from_secs_f64(args.budget), work.join("current"));
        std::thread::spawn(move || loop {
            std::thread::sleep(Duration::from_millis(100));
            let w = watch.lock().unwrap_or_else(|e| e.into_inner());
            if !w.busy {
                continue;
            }
            let took = w.started.elapsed();
            if took > budget {
                if let Some(c) = &w.cancel {
                    c.cancel("the fuzz driver's time budget".into());
                }
            }
            if took > budget * 2 {
                eprintln!("FAIL: hang: one input ran for {:.0} s and did not stop when cancelled; the input is {}", took.as_secs_f64(), current.display());
                std::process::exit(1);
            }
        });
    }
    let known = targets::known();
    let bases: Vec<String> = BASES.iter().map(|s| s.to_string()).collect();
    let base_keys: Vec<Vec<String>> = bases.iter().map(|b| keys(b)).collect();
    let mut failed = false;
    for target in &targets {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(args.seed ^ tessera_engine::kernel::stream_key(&["fuzz", target]));
        let mut corpus = read_corpus(&args.corpus.join(target));
        if target == "scenario" && !corpus.is_empty() {
            corpus.extend(BASES.iter().map(|b| b.as_bytes().to_vec()));
        }
        if corpus.is_empty() {
            eprintln!("error: no corpus in {} (the corpus is kept in the repository)", args.corpus.join(target).display());
            std::process::exit(2);
        }
        let seeds = corpus.len();
        let mut kinds: HashSet<String> = HashSet::new();
        let (mut runs, mut accepted, mut slow) = (0u64, 0u64, 0u64);
        let start = Instant::now();
        while start.elapsed().as_secs_f64() < args.seconds {
            // An input: a corpus entry as it is (first pass), mutated, or for `set` made afresh.
            let mut input = if (runs as usize) < seeds { corpus[runs as usize].clone() } else { corpus.choose(&mut rng).cloned().unwrap_or_default() };
            if runs as usize >= seeds {
                if target == "set" && rng.random_bool(0.5) {
                    let b = rng.random_range(0..bases.len());
                    let mut s = format!("{b}\n");
                    for _ in 0..rng.random_range(1..=3) {
                        let k = base_keys[b].choose(&mut rng).cloned().unwrap_or_default();
                        if rng.random_bool(0.1) {
                            s.push_str(&format!("unset {k}\n"));
                        } else {
                            s.push_str(&format!("set {k}={}\n", mutate::VALUES.choose(&mut rng).unwrap_or(&"0")));
                        }
                    }
                    input = s.into_bytes();
                } else {
                    let other = corpus.choose(&mut rng).cloned().unwrap_or_default();
                    mutate::mutate(&mut rng, &mut input, &other, args.max_len);
                }
            }
            let _ = std::fs::write(work.join("current"), &input);
            let cancel = Arc::new(Cancel::default());
            {
                let mut w = watch.lock().unwrap_or_else(|e| e.into_inner());
                *w = Watch { started: Instant::now(), cancel: Some(cancel.clone()), busy: true };
            }
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match target.as_str() {
                "scenario" => targets::scenario(&input, &known, &cancel),
                "set" => targets::overrides(&input, &bases, &known, &cancel),
                "live" => targets::live(&input),
                "policy" => targets::policy(&input, &known, &cancel),
                "trace" => targets::trace(&input, &known),
                "drift" => targets::drift(&input),
                _ => targets::csv(&input, &work),
            }));
            watch.lock().unwrap_or_else(|e| e.into_inner()).busy = false;
            runs += 1;
            let problem = match result {
                Err(_) => Some(format!("panic: {}", PANIC.lock().unwrap_or_else(|e| e.into_inner()).take().unwrap_or_default())),
                Ok(Err(bug)) => Some(bug),
                Ok(Ok(outcome)) => {
                    if cancel.is_set() {
                        slow += 1;
                    }
                    let k = match outcome {
                        Outcome::Accepted(k) => {
                            accepted += 1;
                            format!("ok {k}")
                        }
                        Outcome::Rejected(k) => k,
                    };
                    if kinds.insert(k) && runs as usize > seeds {
                        if corpus.len() < 4096 {
                            corpus.push(input.clone());
                        }
                        if let Some(dir) = &args.save_new {
                            let _ = std::fs::create_dir_all(dir.join(target));
                            let _ = std::fs::write(dir.join(target).join(format!("new-{:016x}", tessera_engine::kernel::stream_key(&[&String::from_utf8_lossy(&input)]))), &input);
                        }
                    }
                    None
                }
            };
            if let Some(p) = problem {
                let _ = std::fs::create_dir_all(&args.crashes);
                let file = args.crashes.join(format!("{target}-{:016x}", tessera_engine::kernel::stream_key(&[&String::from_utf8_lossy(&input)])));
                let _ = std::fs::write(&file, &input);
                eprintln!("FAIL: {target}: input {} (seed {}, input #{runs}): {p}", file.display(), args.seed);
                failed = true;
                break;
            }
        }
        println!(
            "fuzz {target}: {runs} inputs in {:.0} s ({seeds} from the corpus), {accepted} accepted, {} kinds of outcome, {slow} cancelled at the time budget",
            start.elapsed().as_secs_f64(),
            kinds.len()
        );
        if failed {
            break;
        }
    }
    let _ = std::fs::remove_dir_all(&work);
    std::process::exit(if failed { 1 } else { 0 });
}
