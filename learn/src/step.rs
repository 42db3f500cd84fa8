//! The routing environment one decision at a time, for callers that drive it (Gymnasium's
//! `reset` / `step`: `tessera.gym`). The simulation runs on its own thread (`run`, nothing
//! copied) with a router that, at every decision with two or more candidates, hands the
//! candidates and features of the `learned` policy (`tessera_policies::learned::features`) to the
//! caller and waits for the caller's pick. Decisions with one candidate or none are taken as the
//! `learned` policy takes them, without asking. The picks draw nothing from the simulation's
//! random streams, so a sequence of picks gives the same run as any policy making those picks.
//!
//! The reward of a step is [`crate::reward`]'s reward of that decision, the number training puts
//! on it: decision k owns [t_k, t_{k+1}), and its reward is known when decision k + 1 comes (or
//! the run ends). It is integrated as the run goes: arrivals from the trace's `arrive` lines,
//! exits and final labels from the tasks' records as they settle. Nothing is kept per task, so
//! memory is bounded by the work in the system, not the length of the run.
//!
//! The candidates are listed in queue order (an annotator picking a task) or idle order (a task
//! picking an annotator), so slot 0 is always first-come-first-served's pick: taking slot 0 at
//! every step runs `fifo`.

use crate::reward::{Objective, Outcome, HOUR};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use tessera_engine::dispatch::{RouteState, Router};
use tessera_engine::domain::{AnnotatorIdx, TaskId};
use tessera_engine::run::record::{RecordSink, TaskRecord, TraceSink};
use tessera_engine::run::{run, summarize_replications, Cancel, RunOptions};
use tessera_engine::spec::Scenario;
use tessera_engine::time::Epoch;
use tessera_policies::learned::features::{self, Candidates, Decision, GLOBAL, MAX_CANDIDATES, PAIR};

/// Length of the padded observation: [`MAX_CANDIDATES`] rows of [`PAIR`] numbers (zeros past the
/// candidates), then the [`GLOBAL`] numbers.
pub const OBS_LEN: usize = MAX_CANDIDATES * PAIR + GLOBAL;

/// Every observation number lies within ±this: each feature is a 0/1 flag, a share in [0, 1], or
/// a signed log ln(1 + |x|) of an f32 (at most ln(f32::MAX) ≈ 88.7).
pub const OBS_BOUND: f32 = 89.0;


/// The decision as a fixed-size observation and its action mask (true: a candidate).
pub fn padded(d: &Decision) -> (Vec<f32>, Vec<bool>) {
    let mut obs = vec![0f32; OBS_LEN];
    let n = d.len().min(MAX_CANDIDATES);
    obs[..n * PAIR].copy_from_slice(&d.pairs[..n * PAIR]);
    obs[MAX_CANDIDATES * PAIR..].copy_from_slice(&d.global);
    let mask = (0..MAX_CANDIDATES).map(|i| i < n).collect();
    (obs, mask)
}

/// The reward integrated as the run goes (see the module doc): the level Σ w over the tasks in
/// the system (w: the holding cost, or the composite's time-cost rate) and Σ w × arrival [h].
struct Accrual {
    objective: Objective,
    holding: HashMap<String, f64>,
    /// Set at the first decision (time before it is no decision's doing).
    start: Option<u64>,
    /// [µs] integrated up to here.
    t: u64,
    level: f64,
    level_arrival: f64,
    /// The current step's reward so far.
    reward: f64,
    /// Final-label terms (composite) not yet given to a step: (time, amount).
    pending: Vec<(u64, f64)>,
    /// [µs] the latest exit or decision: the run's end when it has no horizon.
    last: u64,
}

impl Accrual {
    fn new(objective: Objective, holding: HashMap<String, f64>) -> Self {
        Accrual { objective, holding, start: None, t: 0, level: 0.0, level_arrival: 0.0, reward: 0.0, pending: Vec::new(), last: 0 }
    }

    fn holding_cost(&self, stream: &str) -> f64 {
        self.holding.get(stream).copied().unwrap_or(0.0)
    }

    fn advance(&mut self, to: u64) {
        if to <= self.t {
            return;
        }
        if self.start.is_some() {
            self.reward -= self.objective.cost(self.level, self.level_arrival, self.t, to);
        }
        self.t = to;
    }

    /// Task of weight `w` in the system from `at` (`sign` 1) or out of it from `at` (−1).
    /// A change stamped before the clock (not expected: the engine reports as things happen) is
    /// put right on the current step.
    fn change(&mut self, at: u64, arrival: u64, w: f64, sign: f64) {
        if w == 0.0 {
            return;
        }
        self.advance(at);
        let wa = w * arrival as f64 / HOUR;
        if let Some(start) = self.start {
            if at < self.t {
                self.reward -= sign * self.objective.cost(w, wa, at.max(start), self.t);
            }
        }
        self.level += sign * w;
        self.level_arrival += sign * wa;
    }

    fn arrived(&mut self, at: u64, stream: &str) {
        let w = self.objective.weight(self.holding_cost(stream));
        self.change(at, at, w, 1.0);
    }

    fn settled(&mut self, r: &TaskRecord) {
        let o = Outcome::of(r, self.holding_cost(&r.stream));
        let w = self.objective.weight(o.holding_cost);
        if let Some(left) = o.left {
            self.last = self.last.max(left);
            self.change(left, o.arrival, w, -1.0);
        }
        if let (Objective::Composite, Some(f)) = (self.objective, o.final_at) {
            self.pending.push((f, o.final_term()));
        }
    }

    /// A decision at `now`: the reward of the step before it (0 for the first).
    fn cut(&mut self, now: u64) -> f64 {
        self.advance(now);
        self.last = self.last.max(now);
        if self.start.is_none() {
            self.start = Some(now);
            self.t = self.t.max(now);
            self.pending.retain(|p| p.0 >= now);
            return 0.0;
        }
        let mut r = std::mem::take(&mut self.reward);
        self.pending.retain(|&(at, amount)| {
            if at < now {
                r += amount;
            }
            at >= now
        });
        r
    }

    /// The run ended at `end`: the last step's reward (0 without steps).
    fn finish(&mut self, end: u64) -> f64 {
        if self.start.is_none() {
            return 0.0;
        }
        self.advance(end);
        let r = std::mem::take(&mut self.reward) + self.pending.iter().filter(|p| p.0 <= end).map(|p| p.1).sum::<f64>();
        self.pending.clear();
        r
    }
}

fn lock(a: &Mutex<Accrual>) -> MutexGuard<'_, Accrual> {
    a.lock().unwrap_or_else(|e| e.into_inner())
}

/// Arrivals, from the trace.
struct Arrivals(Arc<Mutex<Accrual>>);

impl TraceSink for Arrivals {
    fn write(&mut self, line: &[u8]) -> Result<(), String> {
        const ARRIVE: &[u8] = b"\"event\":\"arrive\"";
        if !line.windows(ARRIVE.len()).any(|w| w == ARRIVE) {
            return Ok(());
        }
        #[derive(Deserialize)]
        struct Arrive {
            t_us: i64,
            stream: Option<String>,
        }
        let a: Arrive = serde_json::from_slice(line).map_err(|e| format!("a trace line the environment cannot read: {e}"))?;
        let at = u64::try_from(a.t_us - Epoch::SIMULATION.0).unwrap_or(0);
        lock(&self.0).arrived(at, a.stream.as_deref().unwrap_or(""));
        Ok(())
    }
}

/// Exits and final labels, from the records.
struct Settled(Arc<Mutex<Accrual>>);

impl RecordSink for Settled {
    fn record(&mut self, r: &TaskRecord) -> Result<(), String> {
        lock(&self.0).settled(r);
        Ok(())
    }
    fn finish(&mut self) -> Result<(), String> {
        Ok(())
    }
}

/// What the simulation thread tells the caller.
enum Msg {
    Decision { reward: f64, at: u64, decision: Decision },
    Done(Result<Finished, String>),
}

/// The end of an episode.
#[derive(Clone, Debug)]
pub struct Finished {
    /// The last step's reward.
    pub reward: f64,
    /// [µs] the end of the run.
    pub end: u64,
    /// The run's summary, as `tessera simulate` writes it for one replication.
    pub summary: serde_json::Value,
}

/// What comes after a pick (or the start).
#[derive(Clone, Debug)]
pub enum Next {
    /// A decision with two or more candidates; `reward` is the previous step's (0 at the first).
    Decision { reward: f64, at: u64, decision: Decision },
    Done(Finished),
}

/// The router that asks the caller.
struct Asking {
    decision: Decision,
    link: Option<(SyncSender<Msg>, Receiver<usize>)>,
    accrual: Arc<Mutex<Accrual>>,
    /// The tasks a free annotator is offered.
    candidates: Candidates,
}

impl Asking {
    fn ask(&mut self, now: u64) -> Option<usize> {
        let n = self.decision.len();
        if n < 2 {
            return self.decision.positions.first().copied();
        }
        let reward = lock(&self.accrual).cut(now);
        let pick = self.link.as_ref().and_then(|(tx, rx)| {
            tx.send(Msg::Decision { reward, at: now, decision: self.decision.clone() }).ok()?;
            rx.recv().ok()
        });
        match pick {
            Some(i) if i < n => Some(self.decision.positions[i]),
            // The caller is gone (reset or closed; the run is being cancelled): first come, first served.
            _ => {
                self.link = None;
                Some(self.decision.positions[0])
            }
        }
    }
}

impl Router for Asking {
    fn name(&self) -> &str {
        "gym"
    }
    fn pick_task(&mut self, a: AnnotatorIdx, st: &RouteState, _: &mut dyn rand::RngCore) -> Option<usize> {
        features::for_annotator_with(a, st, &mut self.decision, self.candidates);
        self.ask(st.now.0)
    }
    fn pick_annotator(&mut self, t: TaskId, st: &RouteState, _: &mut dyn rand::RngCore) -> Option<usize> {
        features::for_task(t, st, &mut self.decision);
        self.ask(st.now.0)
    }
}

/// One episode being driven by the caller. Dropping it cancels the run and waits for its thread.
pub struct StepEnv {
    actions: Option<SyncSender<usize>>,
    msgs: Option<Receiver<Msg>>,
    cancel: Arc<Cancel>,
    worker: Option<JoinHandle<()>>,
    /// Candidates of the decision waiting for a pick (0 when the episode is over).
    waiting: usize,
}

impl StepEnv {
    /// Starts an episode of `scenario` with simulation seed `seed`, free annotators offered the
    /// tasks of `candidates`, and runs it to its first decision (or its end, for a run without
    /// one).
    pub fn start(scenario: Arc<Scenario>, seed: u64, objective: Objective, candidates: Candidates) -> Result<(StepEnv, Next), String> {
        let (msg_tx, msg_rx) = sync_channel::<Msg>(1);
        let (act_tx, act_rx) = sync_channel::<usize>(1);
        let cancel = Arc::new(Cancel::default());
        let c2 = cancel.clone();
        let worker = std::thread::Builder::new()
            .name("tessera-step".into())
            .spawn(move || {
                let holding: HashMap<String, f64> = (0..scenario.streams.len()).map(|i| (scenario.stream_name(i), scenario.streams[i].holding_cost)).collect();
                let accrual = Arc::new(Mutex::new(Accrual::new(objective, holding)));
                let link = Mutex::new(Some((msg_tx.clone(), act_rx)));
                let make_router = || -> Box<dyn Router> {
                    let link = link.lock().unwrap_or_else(|e| e.into_inner()).take();
                    Box::new(Asking { decision: Decision::default(), link, accrual: accrual.clone(), candidates })
                };
                let records = |_r: u32| -> Result<Box<dyn RecordSink>, String> { Ok(Box::new(Settled(accrual.clone()))) };
                let trace = |_r: u32| -> Result<Box<dyn TraceSink>, String> { Ok(Box::new(Arrivals(accrual.clone()))) };
                let mut opts = RunOptions::figures(seed);
                opts.records = Some(&records);
                opts.trace = Some(&trace);
                opts.cancel = Some(&c2);
                let result = run(&scenario, &make_router, opts, &mut |_| {}).map(|out| {
                    let mut a = lock(&accrual);
                    let end = scenario.run.arrival_horizon().map_or(a.last, |h| h.0.max(a.last));
                    let end = out.stopped.as_ref().map_or(end, |s| (s.at_s * 1e6) as u64);
                    let reward = a.finish(end);
                    let stopped: Vec<_> = out.stopped.into_iter().collect();
                    Finished { reward, end, summary: summarize_replications(&[out.summary], seed, &stopped) }
                });
                let _ = msg_tx.send(Msg::Done(result));
            })
            .map_err(|e| format!("cannot start the simulation thread: {e}"))?;
        let mut env = StepEnv { actions: Some(act_tx), msgs: Some(msg_rx), cancel, worker: Some(worker), waiting: 0 };
        let next = env.receive()?;
        Ok((env, next))
    }

    fn receive(&mut self) -> Result<Next, String> {
        let msg = self.msgs.as_ref().and_then(|m| m.recv().ok());
        match msg {
            Some(Msg::Decision { reward, at, decision }) => {
                self.waiting = decision.len();
                Ok(Next::Decision { reward, at, decision })
            }
            Some(Msg::Done(r)) => {
                self.waiting = 0;
                self.actions = None;
                if let Some(w) = self.worker.take() {
                    let _ = w.join();
                }
                r.map(Next::Done)
            }
            None => {
                self.waiting = 0;
                Err("the simulation thread ended without a result".into())
            }
        }
    }

    /// Candidates of the decision waiting for a pick; 0 once the episode is over.
    pub fn candidates(&self) -> usize {
        self.waiting
    }

    /// Takes candidate `action` of the waiting decision and runs to the next one.
    pub fn step(&mut self, action: usize) -> Result<Next, String> {
        if self.waiting == 0 {
            return Err("the episode is over: start a new one".into());
        }
        if action >= self.waiting {
            return Err(format!("action {action} is not a candidate: this decision has {} (slots 0 to {})", self.waiting, self.waiting - 1));
        }
        let sent = self.actions.as_ref().is_some_and(|tx| tx.send(action).is_ok());
        if !sent {
            self.waiting = 0;
            return Err("the simulation thread is gone".into());
        }
        self.receive()
    }
}

impl Drop for StepEnv {
    fn drop(&mut self) {
        self.cancel.cancel("the episode was abandoned (reset or closed)".into());
        // Closing both channels makes the router answer on its own until the run sees the cancel.
        self.actions = None;
        self.msgs = None;
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::{episode, Actor};
    use crate::reward::rewards;

    fn scenario(path: &str, set: &[&str]) -> Arc<Scenario> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios").join(path);
        let set: Vec<String> = set.iter().map(|s| s.to_string()).collect();
        let policies = tessera_policies::names();
        Arc::new(tessera_scenarios::load_file(&path, &set, &tessera_scenarios::Known::with_policies(&policies)).unwrap())
    }

    /// Drives an episode with `pick` and returns (rewards per step, times, finished).
    fn drive(s: &Arc<Scenario>, seed: u64, objective: Objective, pick: impl Fn(usize, &Decision) -> usize) -> (Vec<f64>, Vec<u64>, Finished) {
        let (mut env, mut next) = StepEnv::start(s.clone(), seed, objective, Candidates::Oldest).unwrap();
        let (mut rs, mut at) = (Vec::new(), Vec::new());
        loop {
            match next {
                Next::Decision { reward, at: t, decision } => {
                    if !at.is_empty() {
                        rs.push(reward);
                    } else {
                        assert_eq!(reward, 0.0);
                    }
                    at.push(t);
                    assert_eq!(env.candidates(), decision.len());
                    next = env.step(pick(at.len() - 1, &decision)).unwrap();
                }
                Next::Done(f) => {
                    if !at.is_empty() {
                        rs.push(f.reward);
                    }
                    assert!(env.step(0).is_err(), "no step after the end");
                    return (rs, at, f);
                }
            }
        }
    }

    /// Taking slot 0 everywhere is fifo: the same decisions as the fifo teacher, and each step's
    /// reward, integrated as the run goes, equals the reward training computes afterwards.
    #[test]
    fn online_rewards_are_trainings_rewards_and_slot_zero_is_fifo() {
        for (path, set) in [("bench/qgym/n-model.toml", &["run.horizon=300h"][..]), ("bench/overlapping-skills.toml", &["run.horizon=24h"][..])] {
            let s = scenario(path, set);
            for objective in [Objective::Holding, Objective::Composite] {
                let (online, at, fin) = drive(&s, 7, objective, |_, _| 0);
                assert!(at.len() > 20, "{path}: {} decisions", at.len());
                let teacher = episode(&s, 7, &|| Actor::Teacher(tessera_engine::dispatch::builtin_router("fifo").unwrap(), Default::default())).unwrap();
                let times: Vec<u64> = teacher.steps.iter().map(|st| st.at).collect();
                assert_eq!(times, at, "{path}: the same decisions as fifo");
                assert!(teacher.steps.iter().all(|st| st.action == 0), "fifo's pick is slot 0");
                assert_eq!(teacher.end, fin.end);
                let offline = rewards(objective, &times, &teacher.outcomes, teacher.end);
                assert_eq!(online.len(), offline.len());
                for (k, (a, b)) in online.iter().zip(&offline).enumerate() {
                    assert!((a - b).abs() <= 1e-9 * (1.0 + b.abs()) + 1e-9, "{path} {objective:?} step {k}: online {a} vs offline {b}");
                }
                assert!(online.iter().any(|r| *r != 0.0));
            }
            // and the figures are fifo's
            let mut fifo = (*s).clone();
            fifo.routing.policy = "fifo".into();
            let out = run(&fifo, &|| tessera_engine::dispatch::builtin_router("fifo").unwrap(), RunOptions::figures(7), &mut |_| {}).unwrap();
            let want = summarize_replications(&[out.summary], 7, &[]);
            let (_, _, fin) = drive(&s, 7, Objective::Holding, |_, _| 0);
            assert!(strip(fin.summary) == strip(want), "{path}: slot 0 everywhere does not give fifo's figures");
        }
    }

    /// The summary without the policy's name ("gym" against "fifo").
    fn strip(mut v: serde_json::Value) -> serde_json::Value {
        if let Some(m) = v.as_object_mut() {
            m.remove("policy");
            for r in m.get_mut("runs").and_then(|r| r.as_array_mut()).into_iter().flatten() {
                r.as_object_mut().map(|r| r.remove("policy"));
            }
        }
        v
    }

    /// Other picks change the run; the same picks give the same run; abandoning an episode midway
    /// ends its thread.
    #[test]
    fn picks_matter_and_repeat() {
        let s = scenario("bench/overlapping-skills.toml", &["run.horizon=12h"]);
        let last = |k: usize, d: &Decision| (k * 7 + 3) % d.len();
        let (r1, a1, f1) = drive(&s, 3, Objective::Composite, last);
        let (r2, a2, f2) = drive(&s, 3, Objective::Composite, last);
        assert_eq!((r1.clone(), a1, f1.summary.clone()), (r2, a2, f2.summary));
        let (r0, _, f0) = drive(&s, 3, Objective::Composite, |_, _| 0);
        assert_ne!(f0.summary, f1.summary);
        assert_ne!(r0, r1);
        for _ in 0..3 {
            let (mut env, mut next) = StepEnv::start(s.clone(), 3, Objective::Composite, Candidates::Oldest).unwrap();
            for _ in 0..5 {
                if let Next::Decision { .. } = next {
                    assert!(env.step(99).is_err(), "a slot past the candidates is refused");
                    next = env.step(1).unwrap();
                }
            }
            drop(env);
        }
    }
}
