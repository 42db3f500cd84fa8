//! Label aggregation speed: DS / MV / Wawa on each shared crowd dataset and on a synthetic
//! 1,000,000-answer, 10-class dataset. Compare with `benches/peers/crowdkit_bench.py`.
//!
//! cargo bench -p tessera-benches --bench aggregation
//! (datasets from $TESSERA_CROWD_DATA, default ../shared/data/crowd; missing ones are skipped)

use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tessera_engine::quality::aggregation::{Aggregator, Answers, DawidSkene, MajorityVote, Wawa};
use tessera_scenarios::answers::read_answers;

/// 100,000 tasks x 10 answers, 10 classes, 2,000 one-coin workers with accuracy U(0.3, 0.95).
pub fn synthetic(seed: u64) -> Answers {
    let (n_tasks, per_task, k, n_workers) = (100_000usize, 10usize, 10u32, 2_000usize);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let acc: Vec<f64> = (0..n_workers).map(|_| rng.random_range(0.3..0.95)).collect();
    let (mut t, mut w, mut l) = (Vec::new(), Vec::new(), Vec::new());
    for task in 0..n_tasks {
        let truth = rng.random_range(0..k);
        for _ in 0..per_task {
            let worker = rng.random_range(0..n_workers);
            let label = if rng.random::<f64>() < acc[worker] { truth } else { (truth + rng.random_range(1..k)) % k };
            t.push(task as u32);
            w.push(worker as u32);
            l.push(label);
        }
    }
    Answers::new(n_tasks, n_workers, k as usize, t, w, l).unwrap()
}

fn datasets() -> Vec<(String, Answers)> {
    let dir = std::env::var_os("TESSERA_CROWD_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/crowd"));
    let mut out = Vec::new();
    for name in ["d_product", "d_possent", "s_rel", "s_adult", "rte", "temp", "bluebirds"] {
        match read_answers(&dir.join(name).join("labels.csv")) {
            Ok(f) => out.push((name.to_string(), f.answers)),
            Err(e) => eprintln!("WARNING: skipping {name}: {e}"),
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let mut all = datasets();
    all.push(("synthetic_1m_10c".to_string(), synthetic(42)));
    let methods: [(&str, Box<dyn Aggregator>); 3] =
        [("ds", Box::new(DawidSkene::default())), ("mv", Box::new(MajorityVote)), ("wawa", Box::new(Wawa))];
    let mut g = c.benchmark_group("aggregation");
    g.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
    for (name, a) in &all {
        for (m, agg) in &methods {
            let r = agg.fit(a, None).unwrap();
            eprintln!("{name} {m}: {} iterations", r.iterations);
            g.bench_with_input(BenchmarkId::new(*m, name), a, |b, a| b.iter(|| agg.fit(a, None).unwrap()));
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
