//! Kernel speed: events per second on M/M/c (λ = 200/h, 1/μ = 3 min, c = 14) for the bare kernel
//! model and the full annotation domain, and on every shipped scenario (no file output).
//! See benches/RESULTS.md for figures and the SimPy comparison.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tessera_benches::mmc::{domain_mmc, domain_scenario, kernel_mmc};
use tessera_engine::dispatch::builtin_router;
use tessera_engine::run::{run, RunOptions};

fn mmc(c: &mut Criterion) {
    let customers = 200_000;
    let (events, _) = kernel_mmc(200.0, 180.0, 14, customers, 1);
    let mut g = c.benchmark_group("mmc");
    g.sample_size(20);
    g.throughput(Throughput::Elements(events));
    g.bench_function("kernel_events", |b| b.iter(|| kernel_mmc(200.0, 180.0, 14, customers, 1)));
    let s = domain_scenario(1000);
    let (events, _) = domain_mmc(&s, 1);
    g.throughput(Throughput::Elements(events));
    g.bench_function("domain_events", |b| b.iter(|| domain_mmc(&s, 1)));
    g.finish();
}

fn library(c: &mut Criterion) {
    let mut g = c.benchmark_group("scenario");
    g.sample_size(10);
    let mut files: Vec<_> = std::fs::read_dir(tessera_scenarios::library_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml") && !p.ends_with("Cargo.toml"))
        .collect();
    files.sort();
    let known = tessera_scenarios::Known::with_policies(tessera_engine::dispatch::BUILTIN_ROUTERS);
    for f in files {
        let s = tessera_scenarios::load_file(&f, &[], &known).unwrap();
        let policy = s.routing.policy.clone();
        let make = move || builtin_router(&policy).unwrap();
        let once = || run(&s, &make, RunOptions::figures(1), &mut |_| {}).unwrap().summary.events;
        g.throughput(Throughput::Elements(once()));
        g.bench_function(s.name.clone().unwrap(), |b| b.iter(once));
    }
    g.finish();
}

criterion_group!(benches, mmc, library);
criterion_main!(benches);
