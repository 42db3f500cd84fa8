//! M/M/c two ways, for the kernel benchmark:
//! - [`kernel_mmc`]: the smallest actor model on the kernel (a source and a server bank, two
//!   messages per customer), the same model as `peers/simpy_mmc.py`;
//! - [`domain_mmc`]: the full annotation domain (source, dispatcher, annotator actors, router,
//!   monitor, ledger) on `scenarios/mmc.toml`'s parameters.

use rand::Rng;
use std::collections::VecDeque;
use tessera_engine::dispatch::builtin_router;
use tessera_engine::kernel::{stream_key, Actor, ActorId, Context, Simulation};
use tessera_engine::run::{run, RunOptions};
use tessera_engine::spec::Scenario;
use tessera_engine::time::{Dur, SimTime};

#[derive(Clone, Copy)]
pub enum M {
    Arrive,
    Depart,
}

/// A source and c servers with a FIFO queue, as one actor per role.
pub enum Node {
    Source { rate_per_us: f64, bank: ActorId },
    Bank { servers: u32, busy: u32, queue: VecDeque<u64>, mean_us: f64, served: u64, waited: u64 },
}

fn exp(rng: &mut impl Rng, mean: f64) -> Dur {
    Dur((-(1.0 - rng.random::<f64>()).ln() * mean) as u64)
}

impl Actor<M> for Node {
    fn handle<C: Context<M> + ?Sized>(&mut self, msg: M, ctx: &mut C) {
        match self {
            Node::Source { rate_per_us, bank } => {
                let d = exp(ctx.rng(), 1.0 / *rate_per_us);
                let me = ctx.me();
                ctx.send_in(d, me, M::Arrive);
                ctx.send(*bank, M::Arrive);
            }
            Node::Bank { servers, busy, queue, mean_us, served, waited } => match msg {
                M::Arrive => {
                    if *busy < *servers {
                        *busy += 1;
                        let d = exp(ctx.rng(), *mean_us);
                        let me = ctx.me();
                        ctx.send_in(d, me, M::Depart);
                    } else {
                        *waited += 1;
                        queue.push_back(ctx.now().0);
                    }
                }
                M::Depart => {
                    *served += 1;
                    if queue.pop_front().is_some() {
                        let d = exp(ctx.rng(), *mean_us);
                        let me = ctx.me();
                        ctx.send_in(d, me, M::Depart);
                    } else {
                        *busy -= 1;
                    }
                }
            },
        }
    }
}

/// Runs the minimal kernel M/M/c for `customers` arrivals; returns (events, customers served).
pub fn kernel_mmc(per_hour: f64, mean_s: f64, c: u32, customers: u64, seed: u64) -> (u64, u64) {
    let mut sim: Simulation<M, Node> = Simulation::new(seed);
    let rate = per_hour / 3.6e9;
    let bank = ActorId(1);
    let src = sim.add(Node::Source { rate_per_us: rate, bank }, stream_key(&["source"]));
    sim.add(Node::Bank { servers: c, busy: 0, queue: VecDeque::new(), mean_us: mean_s * 1e6, served: 0, waited: 0 }, stream_key(&["bank"]));
    sim.schedule(SimTime(0), src, M::Arrive);
    let horizon = SimTime((customers as f64 / rate) as u64);
    sim.run_until(horizon, |_| true);
    let served = match &sim.actors[1] {
        Node::Bank { served, .. } => *served,
        _ => 0,
    };
    (sim.delivered(), served)
}

/// The `scenarios/mmc.toml` model with `hours` of arrivals, through the full annotation domain.
pub fn domain_scenario(hours: u64) -> Scenario {
    toml::from_str(&format!(
        r#"
        [run]
        horizon = "{hours}h"
        service_level = "20s"
        [[streams]]
        arrivals = {{ poisson = {{ per_hour = 200 }} }}
        [[pools]]
        count = 14
        service.classification = {{ exponential = {{ mean = "3min" }} }}
        "#
    ))
    .expect("valid scenario")
}

/// Runs the domain M/M/c; returns (events, tasks completed).
pub fn domain_mmc(s: &Scenario, seed: u64) -> (u64, u64) {
    let f = || builtin_router("fifo").unwrap();
    let out = run(s, &f, RunOptions::figures(seed), &mut |_| {}).unwrap();
    (out.summary.events, out.summary.completions)
}
