//! The routing environment over the simulator: a rollout runs the simulation itself
//! (`tessera_engine::run::run`, nothing copied) with a [`Rollout`] router that, at every decision
//! with more than one candidate, builds the same candidates and features as the `learned` policy,
//! samples a candidate from the network's softmax with its own random stream (the simulation's
//! streams are untouched, so common random numbers hold), and records the step. A record sink
//! collects each task's outcome; rewards are put on the decisions afterwards
//! ([`crate::reward::rewards`]).
//!
//! Masking: only eligible candidates are offered, and an annotator with an eligible task waiting
//! always gets one (there is no "stay idle" action): the non-idling mask of QGym's N-model study.
//!
//! Episodes run in parallel (rayon), each with its own seeds, and come back in episode order, so
//! a batch is the same at any thread count.

use crate::reward::Outcome;
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tessera_engine::dispatch::{RouteState, Router};
use tessera_engine::domain::{AnnotatorIdx, TaskId};
use tessera_engine::run::record::{RecordSink, TaskRecord};
use tessera_engine::run::{run, RunOptions};
use tessera_engine::spec::Scenario;
use tessera_policies::learned::features::{self, Candidates, Decision, GLOBAL};
use tessera_policies::learned::net::{log_softmax, Net, Scratch};

/// One recorded decision.
#[derive(Clone, Debug)]
pub struct Step {
    /// [µs] simulated time of the decision.
    pub at: u64,
    pub n: usize,
    /// n × PAIR numbers.
    pub pairs: Vec<f32>,
    pub global: [f32; GLOBAL],
    pub action: usize,
    /// log π(action) when it was taken (0 for a teacher's step).
    pub logp: f32,
    pub value: f32,
}

/// How a rollout picks.
pub enum Actor {
    /// Sample from the network's softmax with this seed.
    Sample(Arc<Net>, u64),
    /// Follow a heuristic and record its picks as actions (behaviour-cloning data), offered as
    /// the candidates of this rule.
    Teacher(Box<dyn Router>, Candidates),
}

/// The recording router of one episode.
struct Rollout {
    actor: Actor,
    rng: ChaCha8Rng,
    decision: Decision,
    scratch: Scratch,
    logp: Vec<f32>,
    steps: Vec<Step>,
    out: Arc<Mutex<Vec<Step>>>,
}

impl Rollout {
    fn new(actor: Actor, out: Arc<Mutex<Vec<Step>>>) -> Self {
        let seed = match &actor {
            Actor::Sample(_, s) => *s,
            Actor::Teacher(..) => 0,
        };
        Rollout { actor, rng: ChaCha8Rng::seed_from_u64(seed), decision: Decision::default(), scratch: Scratch::default(), logp: Vec::new(), steps: Vec::new(), out }
    }

    /// Samples from the network over `self.decision` (two or more candidates).
    fn sample(&mut self, net: &Net, now: u64) -> usize {
        let d = &self.decision;
        let value = net.forward(&d.pairs, &d.global, d.len(), &mut self.scratch);
        log_softmax(&self.scratch.logits, &mut self.logp);
        let u: f32 = self.rng.random();
        let mut acc = 0.0;
        let mut pick = d.len() - 1;
        for (i, l) in self.logp.iter().enumerate() {
            acc += l.exp();
            if u < acc {
                pick = i;
                break;
            }
        }
        self.steps.push(Step { at: now, n: d.len(), pairs: d.pairs.clone(), global: d.global, action: pick, logp: self.logp[pick], value });
        pick
    }

    /// The position the sampling policy takes: none without candidates, the only one without a
    /// choice (not recorded), else a draw from the network.
    fn sampled(&mut self, net: &Net, now: u64) -> Option<usize> {
        match self.decision.len() {
            0 => None,
            1 => Some(self.decision.positions[0]),
            _ => {
                let i = self.sample(net, now);
                Some(self.decision.positions[i])
            }
        }
    }

    /// A teacher's pick as a candidate, recorded when there was a choice: the candidate at queue
    /// position `pos` when there is one (a free annotator's youngest task), else the first of
    /// the pick's stream or pool `group`. (A task's annotator is matched by pool only, as before
    /// the youngest candidates existed, so that warm starts reproduce the files they made.)
    fn follow(&mut self, pos: Option<usize>, group: Option<u16>, now: u64) {
        let d = &self.decision;
        if d.len() < 2 {
            return;
        }
        let exact = pos.and_then(|p| d.positions.iter().position(|&x| x == p));
        if let Some(i) = exact.or_else(|| group.and_then(|g| d.groups.iter().position(|&x| x == g))) {
            self.steps.push(Step { at: now, n: d.len(), pairs: d.pairs.clone(), global: d.global, action: i, logp: 0.0, value: 0.0 });
        }
    }
}

impl Drop for Rollout {
    fn drop(&mut self) {
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        out.append(&mut self.steps);
    }
}

impl Router for Rollout {
    fn name(&self) -> &str {
        "learned"
    }
    fn pick_task(&mut self, a: AnnotatorIdx, st: &RouteState, rng: &mut dyn RngCore) -> Option<usize> {
        let rule = match &self.actor {
            Actor::Sample(net, _) => net.candidates,
            Actor::Teacher(_, rule) => *rule,
        };
        features::for_annotator_with(a, st, &mut self.decision, rule);
        let now = st.now.0;
        match &mut self.actor {
            Actor::Teacher(t, _) => {
                let pos = t.pick_task(a, st, rng);
                let group = pos.map(|p| st.task(st.queue[p]).stream);
                self.follow(pos, group, now);
                pos
            }
            Actor::Sample(net, _) => {
                let net = net.clone();
                self.sampled(&net, now)
            }
        }
    }
    fn pick_annotator(&mut self, t: TaskId, st: &RouteState, rng: &mut dyn RngCore) -> Option<usize> {
        features::for_task(t, st, &mut self.decision);
        let now = st.now.0;
        match &mut self.actor {
            Actor::Teacher(r, _) => {
                let pos = r.pick_annotator(t, st, rng);
                let group = pos.map(|p| st.annotator(st.idle[p]).pool);
                self.follow(None, group, now);
                pos
            }
            Actor::Sample(net, _) => {
                let net = net.clone();
                self.sampled(&net, now)
            }
        }
    }
}

/// Collects each task's outcome.
struct Outcomes {
    holding: Arc<HashMap<String, f64>>,
    out: Arc<Mutex<Vec<Outcome>>>,
    buf: Vec<Outcome>,
}

impl RecordSink for Outcomes {
    fn record(&mut self, r: &TaskRecord) -> Result<(), String> {
        let h = self.holding.get(&*r.stream).copied().unwrap_or(0.0);
        self.buf.push(Outcome::of(r, h));
        Ok(())
    }
    fn finish(&mut self) -> Result<(), String> {
        self.out.lock().unwrap_or_else(|e| e.into_inner()).append(&mut self.buf);
        Ok(())
    }
}

/// One episode's record.
pub struct Episode {
    pub steps: Vec<Step>,
    pub outcomes: Vec<Outcome>,
    /// [µs] end of the run (the horizon, or the last thing that happened).
    pub end: u64,
}

/// Runs one episode of `scenario` with simulation seed `seed`.
pub fn episode(scenario: &Scenario, seed: u64, make_actor: &(dyn Fn() -> Actor + Sync)) -> Result<Episode, String> {
    let steps = Arc::new(Mutex::new(Vec::new()));
    let outcomes = Arc::new(Mutex::new(Vec::new()));
    let holding: Arc<HashMap<String, f64>> = Arc::new((0..scenario.streams.len()).map(|i| (scenario.stream_name(i), scenario.streams[i].holding_cost)).collect());
    let s2 = steps.clone();
    let make_router = move || -> Box<dyn Router> { Box::new(Rollout::new(make_actor(), s2.clone())) };
    let o2 = outcomes.clone();
    let records = move |_r: u32| -> Result<Box<dyn RecordSink>, String> { Ok(Box::new(Outcomes { holding: holding.clone(), out: o2.clone(), buf: Vec::new() })) };
    let mut opts = RunOptions::figures(seed);
    opts.records = Some(&records);
    let out = run(scenario, &make_router, opts, &mut |_| {})?;
    drop(out.tasks);
    let steps = std::mem::take(&mut *steps.lock().unwrap_or_else(|e| e.into_inner()));
    let outcomes = std::mem::take(&mut *outcomes.lock().unwrap_or_else(|e| e.into_inner()));
    let last = outcomes.iter().filter_map(|o| o.left).chain(steps.iter().map(|s| s.at)).max().unwrap_or(0);
    let end = scenario.run.arrival_horizon().map_or(last, |h| h.0.max(last));
    let end = out.stopped.as_ref().map_or(end, |s| (s.at_s * 1e6) as u64);
    Ok(Episode { steps, outcomes, end })
}

/// Runs `seeds.len()` episodes in parallel, in seed order.
pub fn episodes(scenario: &Scenario, seeds: &[u64], make_actor: &(dyn Fn(usize) -> Actor + Sync)) -> Result<Vec<Episode>, String> {
    seeds.par_iter().enumerate().map(|(i, &seed)| episode(scenario, seed, &move || make_actor(i))).collect()
}

/// Share of `steps` (a teacher's, say) where the network's highest-scoring candidate is the
/// recorded action: how often a greedy policy with `net` agrees with the teacher.
pub fn agreement(net: &Net, steps: &[Step]) -> f64 {
    let mut s = Scratch::default();
    let same = steps
        .iter()
        .filter(|st| {
            net.forward(&st.pairs, &st.global, st.n, &mut s);
            tessera_policies::learned::net::argmax(&s.logits) == st.action
        })
        .count();
    same as f64 / steps.len().max(1) as f64
}
