//! Speed of the shift-scheduling MILP (tessera-planner, good_lp + microlp) on a generated instance
//! of about 10,000 variables: a week of 30-minute intervals (336), 10 pools (streams), 20 shift
//! patterns with 5 start times each on every day (700 shift instances per pool), breaks in the
//! patterns of 8 h and more (so the LP relaxation is not integral and branch and bound has work).
//!
//! ```text
//! cargo run --release -p tessera-benches --example staffing_milp -- [GAP] [OUT_DIR] [TIME_LIMIT_S] [SOLVER]
//! cargo run --release -p tessera-benches --features highs --example staffing_milp -- 0.01 - - highs
//! ```
//! SOLVER: microlp (default) or highs (the `highs` feature; OUT_DIR and TIME_LIMIT_S `-` for none).
//! GAP: the relative MIP gap to stop at (default 0.01; 0 proves optimality). With OUT_DIR it also
//! writes demand.csv and shifts.csv there, so that `tessera staffing --demand OUT_DIR/demand.csv
//! --shifts OUT_DIR/shifts.csv --handling-time 180s --max-occupancy 0.85 --shrinkage 0.3
//! --mip-gap GAP` solves the same instance through the CLI. Prints one JSON line.

use std::time::Instant;

use rand::{Rng, SeedableRng};
use tessera_planner::demand::read_demand;
use tessera_planner::schedule::{schedule, Settings, Solver};
use tessera_planner::shifts::read_shifts;
use tessera_planner::staffing::Target;
use tessera_planner::{requirements, to_requirements};

/// The instance's two files, generated from a fixed seed.
fn instance() -> (String, String) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(12);
    let mut demand = String::from("stream,start,count\n");
    for p in 0..10 {
        // Each pool: a daily double peak, quieter weekends, its own size and noise.
        let size = rng.random_range(40.0..160.0);
        let (am, pm) = (rng.random_range(9.0..11.5), rng.random_range(14.0..17.0));
        for k in 0..336u32 {
            let (day, h) = (k / 48, (k % 48) as f64 / 2.0 + 0.25);
            let shape = 0.15 + (-(h - am) * (h - am) / 6.0).exp() + 0.8 * (-(h - pm) * (h - pm) / 8.0).exp();
            let weekend = if day >= 5 { 0.5 } else { 1.0 };
            let noise = rng.random_range(0.9..1.1);
            demand += &format!("pool{p},{}min,{:.1}\n", k * 30, size * shape * weekend * noise);
        }
    }
    let mut shifts = String::from("name,start,length,days,break_start,break_length,cost\n");
    let lengths = [4.0, 6.0, 8.0, 9.0, 10.0];
    for s in 0..20 {
        let len = lengths[s % 5];
        let first = (s / 5) as f64 * 5.0 + if s % 2 == 0 { 0.0 } else { 2.5 }; // 00:00 .. 17:30
        let starts: Vec<String> = (0..5).map(|i| first + 0.5 * i as f64).map(|t| format!("{:02}:{:02}", t as u32, ((t.fract()) * 60.0) as u32)).collect();
        let brk = if len >= 8.0 { format!("{}h,30min", len / 2.0) } else { ",".into() };
        let cost = len * if first < 6.0 || first >= 16.0 { 1.2 } else { 1.0 };
        shifts += &format!("p{s:02}-{len}h,{},{len}h,all,{brk},{cost:.1}\n", starts.join(" "));
    }
    (demand, shifts)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let gap: f64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(0.01);
    let time_limit: Option<f64> = args.get(3).and_then(|a| a.parse().ok());
    let solver = Solver::parse(args.get(4).map_or("microlp", String::as_str)).unwrap_or_else(|e| panic!("{e}"));
    let (demand_csv, shifts_csv) = instance();
    if let Some(dir) = args.get(2).filter(|d| d.as_str() != "-") {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(format!("{dir}/demand.csv"), &demand_csv).unwrap();
        std::fs::write(format!("{dir}/shifts.csv"), &shifts_csv).unwrap();
    }
    let demand = read_demand(&demand_csv, "demand.csv").unwrap();
    let shifts = read_shifts(&shifts_csv, "shifts.csv").unwrap();
    let template = Target { handling_s: 180.0, max_occupancy: 0.85, shrinkage: 0.3, ..Target::default() };
    let needs = requirements(&demand, &template, "demand.csv").unwrap();
    let req = to_requirements(&needs);
    let dearest = shifts.iter().map(|s| s.cost).fold(0.0, f64::max);
    let t0 = Instant::now();
    let r = schedule(&req, &shifts, &Settings { under_penalty: Some(10.0 * dearest), mip_gap: gap, time_limit, solver }).unwrap();
    let wall = t0.elapsed().as_secs_f64();
    let agent_intervals: u64 = req.iter().flat_map(|p| &p.intervals).map(|i| i.2 as u64).sum();
    println!(
        r#"{{"solver":"{}","pools":{},"intervals_per_pool":{},"shift_patterns":{},"variables":{},"constraints":{},"mip_gap":{gap},"status":"{}","objective":{:.3},"shift_cost":{:.3},"under_coverage_agent_intervals":{},"required_agent_intervals":{agent_intervals},"solve_s":{:.3},"wall_s":{wall:.3}}}"#,
        solver.name(),
        req.len(),
        req[0].intervals.len(),
        shifts.len(),
        r.variables,
        r.constraints,
        r.status,
        r.objective,
        r.shift_cost,
        r.under_coverage,
        r.seconds
    );
}
