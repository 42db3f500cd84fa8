//! One-shot speed of the M/M/c models, for benches/peers/compare.sh: prints one JSON line per model
//! with tasks/s and events/s (best of 5), the same figures SimPy's script prints.

use std::time::Instant;
use tessera_benches::mmc::{domain_mmc, domain_scenario, kernel_mmc};

fn best<F: FnMut() -> (u64, u64)>(mut f: F) -> (f64, u64, u64) {
    let mut best = f64::MAX;
    let mut last = (0, 0);
    for _ in 0..5 {
        let t = Instant::now();
        last = f();
        best = best.min(t.elapsed().as_secs_f64());
    }
    (best, last.0, last.1)
}

fn main() {
    let customers: u64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
    let (secs, events, served) = best(|| kernel_mmc(200.0, 180.0, 14, customers, 1));
    println!(r#"{{"model":"tessera-kernel","customers":{served},"events":{events},"seconds":{secs:.4},"tasks_per_s":{:.0},"events_per_s":{:.0}}}"#, served as f64 / secs, events as f64 / secs);
    let s = domain_scenario((customers as f64 / 200.0) as u64);
    let (secs, events, served) = best(|| domain_mmc(&s, 1));
    println!(r#"{{"model":"tessera-domain","customers":{served},"events":{events},"seconds":{secs:.4},"tasks_per_s":{:.0},"events_per_s":{:.0}}}"#, served as f64 / secs, events as f64 / secs);
}
