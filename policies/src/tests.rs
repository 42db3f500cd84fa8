//! Policy unit tests on tiny hand-built routing states: every policy returns only eligible pairs
//! (fuzzed), and each behaves as its definition says.

use crate::{heuristics, names, router, router_for, BatchLp};
use rand::{Rng, SeedableRng};
use tessera_engine::dispatch::{eligible, AnnotatorView, RouteState, Router, Skill, StreamFacts, TaskView, TaskViews, WaitQueue};
use tessera_engine::domain::TaskId;
use tessera_engine::domain::AnnotatorIdx;
use tessera_engine::kernel::ActorRng;
use tessera_engine::spec::RoutingSpec;
use tessera_engine::time::{Dur, SimTime};

mod smallvec_free {
    /// Builds a TaskView's labelers list without naming the smallvec type.
    pub fn labelers(xs: &[u32]) -> tessera_engine::dispatch::TaskView {
        let mut v = super::blank_view();
        for &x in xs {
            v.labelers.push(x);
        }
        v
    }
}

fn blank_view() -> TaskView {
    TaskView {
        id: TaskId(0),
        stream: 0,
        ttype: 0,
        language: None,
        priority: 0,
        arrival: SimTime::ZERO,
        deadline: None,
        open: 1,
        labelers: Default::default(),
        confidence: 0.0,
        gold: false,
        min_accuracy: 0.0,
        holding_cost: 1.0,
        ..Default::default()
    }
}

/// A waiting task; `f` adjusts its view.
fn task(f: impl FnOnce(&mut TaskView)) -> TaskView {
    let mut v = blank_view();
    f(&mut v);
    v
}

fn skill(accuracy: f64, mean_secs: f64, cost_per_item: f64) -> Option<Skill> {
    Some(Skill { accuracy, mean_secs, cost_per_item })
}

fn annotator(idx: u32, skills: Vec<Option<Skill>>) -> AnnotatorView {
    AnnotatorView { idx, pool: 0, skills, languages: [0u16].into_iter().collect(), idle_since: SimTime::ZERO, trust: 0.9, banned: false, reserved_for: Default::default(), reviewer: false, stages: Default::default() }
}

/// Tasks (in queue order) and annotators, with every annotator idle in the given order.
struct World {
    table: TaskViews,
    queue: WaitQueue,
    annotators: Vec<AnnotatorView>,
    idle: Vec<AnnotatorIdx>,
}

impl World {
    fn new(tasks: Vec<TaskView>, annotators: Vec<AnnotatorView>) -> World {
        let mut table = TaskViews::default();
        // Stream facts as the dispatcher keeps them: taken from each stream's first task (the
        // tests give every task of a stream the same type, priority and holding cost).
        let streams = tasks.iter().map(|t| t.stream as usize + 1).max().unwrap_or(0);
        let facts = (0..streams)
            .map(|s| {
                tasks.iter().find(|t| t.stream as usize == s).map_or(StreamFacts::default(), |t| StreamFacts { ttype: t.ttype, mixed_types: false, priority: t.priority, holding_cost: t.holding_cost })
            })
            .collect();
        let mut queue = WaitQueue::new(facts);
        for (i, v) in tasks.into_iter().enumerate() {
            let stream = v.stream;
            table.insert(TaskView { id: TaskId(i as u64), ..v });
            queue.push_back(TaskId(i as u64), stream);
        }
        let idle = annotators.iter().map(|a| a.idx).collect();
        World { table, queue, annotators, idle }
    }
    fn state(&self) -> RouteState<'_> {
        RouteState { now: SimTime(1_000_000), annotators: &self.annotators, tasks: &self.table, queue: &self.queue, idle: &self.idle }
    }
}

fn rng() -> ActorRng {
    ActorRng::seed_from_u64(7)
}

fn pick_task(policy: &str, w: &World, a: AnnotatorIdx) -> Option<usize> {
    router(policy).unwrap().pick_task(a, &w.state(), &mut rng())
}

fn pick_annotator(policy: &str, w: &World, t: usize) -> Option<usize> {
    router(policy).unwrap().pick_annotator(w.queue[t], &w.state(), &mut rng())
}

#[test]
fn every_name_builds_a_router_of_that_name() {
    for n in heuristics() {
        let r = router(n).unwrap_or_else(|| panic!("no router for {n}"));
        assert_eq!(r.name(), n);
    }
    assert!(router("no-such-policy").is_none());
    assert!(router("learned").is_none(), "learned needs a policy file");
    for &n in crate::ACTIVE_LEARNING {
        assert_eq!(router(n).unwrap().name(), n);
    }
    assert_eq!(heuristics().len(), 13);
    assert_eq!(names().len(), 16);
}

/// Random worlds with skills, languages, bans, reservations and prior labels: every answer of
/// every policy must be an eligible pair, and a work-conserving policy must find one when one
/// exists.
#[test]
fn every_policy_respects_eligibility() {
    let mut g = ActorRng::seed_from_u64(99);
    for round in 0..300 {
        let n_types = g.random_range(1..=3usize);
        let annotators: Vec<AnnotatorView> = (0..g.random_range(1..=6u32))
            .map(|i| {
                let skills = (0..n_types).map(|_| if g.random_bool(0.6) { skill(g.random_range(0.5..1.0), g.random_range(10.0..100.0), g.random_range(0.01..2.0)) } else { None }).collect();
                let mut a = annotator(i, skills);
                a.languages = (0..2u16).filter(|_| g.random_bool(0.5)).collect();
                a.banned = g.random_bool(0.15);
                a.reserved_for = if g.random_bool(0.2) { [g.random_range(0..2u16)].into_iter().collect() } else { Default::default() };
                a.idle_since = SimTime(g.random_range(0..1000));
                a
            })
            .collect();
        let na = annotators.len() as u32;
        let tasks: Vec<TaskView> = (0..g.random_range(0..=8))
            .map(|_| {
                let mut t = smallvec_free::labelers(&[g.random_range(0..na)][..g.random_range(0..2usize)]);
                t.stream = g.random_range(0..2);
                t.ttype = g.random_range(0..n_types as u16);
                t.language = if g.random_bool(0.3) { Some(g.random_range(0..2)) } else { None };
                t.priority = g.random_range(0..3);
                t.confidence = g.random_range(0.0..1.0);
                t.gold = g.random_bool(0.2);
                t.min_accuracy = g.random_range(0.0..1.0);
                t.holding_cost = g.random_range(0.5..3.0);
                t
            })
            .collect();
        let w = World::new(tasks, annotators);
        let st = w.state();
        for name in heuristics() {
            let mut r = router(name).unwrap();
            let mut rg = ActorRng::seed_from_u64(round);
            for &a in &w.idle {
                let any = w.queue.iter().any(|&t| eligible(st.task(t), st.annotator(a)));
                match r.pick_task(a, &st, &mut rg) {
                    Some(p) => assert!(eligible(st.task(w.queue[p]), st.annotator(a)), "{name}: pick_task gave an ineligible task"),
                    None => assert!(!any || matches!(name, "batch-lp" | "cheapest-capable"), "{name}: annotator {a} left idle next to an eligible task"),
                }
            }
            for &t in w.queue.iter() {
                let any = w.idle.iter().any(|&a| eligible(st.task(t), st.annotator(a)));
                match r.pick_annotator(t, &st, &mut rg) {
                    Some(p) => assert!(eligible(st.task(t), st.annotator(w.idle[p])), "{name}: pick_annotator gave an ineligible annotator"),
                    None => assert!(!any || matches!(name, "batch-lp" | "cheapest-capable"), "{name}: task left waiting next to an eligible annotator"),
                }
            }
            let pairs = r.assign_batch(&st, &mut rg);
            let mut seen_t = std::collections::BTreeSet::new();
            let mut seen_a = std::collections::BTreeSet::new();
            for (t, a) in pairs {
                assert!(eligible(st.task(t), st.annotator(a)), "{name}: batch pair not eligible");
                assert!(seen_t.insert(t) && seen_a.insert(a), "{name}: a task or annotator used twice in one round");
            }
        }
    }
}

#[test]
fn fixed_priority_takes_higher_priority_before_older() {
    // Priority is a stream property: stream 0 at priority 1, stream 1 at priority 5.
    let hi = |t: &mut TaskView| {
        t.stream = 1;
        t.priority = 5;
    };
    let w = World::new(vec![task(|t| t.priority = 1), task(hi), task(hi)], vec![annotator(0, vec![skill(0.9, 30.0, 0.1)])]);
    assert_eq!(pick_task("fixed-priority", &w, 0), Some(1));
    assert_eq!(pick_task("fifo", &w, 0), Some(0));
}

#[test]
fn longest_idle_and_fastest_pick_their_annotator() {
    let mut a = vec![annotator(0, vec![skill(0.9, 60.0, 0.1)]), annotator(1, vec![skill(0.9, 20.0, 0.1)]), annotator(2, vec![skill(0.9, 40.0, 0.1)])];
    a[0].idle_since = SimTime(500);
    a[1].idle_since = SimTime(300);
    a[2].idle_since = SimTime(100);
    let w = World::new(vec![task(|_| {})], a);
    assert_eq!(pick_annotator("longest-idle", &w, 0), Some(2));
    assert_eq!(pick_annotator("fastest-server-first", &w, 0), Some(1));
    assert_eq!(pick_annotator("c-mu", &w, 0), Some(1));
    assert_eq!(pick_annotator("max-weight", &w, 0), Some(1));
}

#[test]
fn round_robin_cycles_through_annotators() {
    let a = (0..3).map(|i| annotator(i, vec![skill(0.9, 30.0, 0.1)])).collect();
    let w = World::new(vec![task(|_| {})], a);
    let mut r = router("round-robin").unwrap();
    let got: Vec<usize> = (0..6).map(|_| r.pick_annotator(w.queue[0], &w.state(), &mut rng()).unwrap()).collect();
    assert_eq!(got, vec![0, 1, 2, 0, 1, 2]);
}

#[test]
fn random_is_uniform_over_eligible() {
    let mut a: Vec<AnnotatorView> = (0..4).map(|i| annotator(i, vec![skill(0.9, 30.0, 0.1)])).collect();
    a[3].banned = true;
    let w = World::new(vec![task(|_| {})], a);
    let mut r = router("random").unwrap();
    let mut g = rng();
    let mut counts = [0u32; 4];
    for _ in 0..3000 {
        counts[r.pick_annotator(w.queue[0], &w.state(), &mut g).unwrap()] += 1;
    }
    assert_eq!(counts[3], 0, "a banned annotator was picked");
    for c in &counts[..3] {
        assert!((900..1100).contains(c), "not uniform: {counts:?}");
    }
}

#[test]
fn max_weight_weighs_queue_length_holding_cost_and_rate() {
    // Annotator: 60 s on type 0, 30 s on type 1 (twice the rate).
    let a = vec![annotator(0, vec![skill(0.9, 60.0, 0.1), skill(0.9, 30.0, 0.1)])];
    // Stream 0: 3 tasks (3 × 1 × 60/h = 180); stream 1: 1 task, h = 1 (1 × 1 × 120/h = 120).
    let mut tasks: Vec<TaskView> = (0..3).map(|_| task(|_| {})).collect();
    tasks.push(task(|t| {
        t.stream = 1;
        t.ttype = 1;
    }));
    let w = World::new(tasks.clone(), a.clone());
    assert_eq!(pick_task("max-weight", &w, 0), Some(0));
    // c-mu ignores queue length: the faster type wins.
    assert_eq!(pick_task("c-mu", &w, 0), Some(3));
    // With h = 2 on stream 1: 240 > 180, max-weight switches.
    tasks[3].holding_cost = 2.0;
    let w = World::new(tasks, a);
    assert_eq!(pick_task("max-weight", &w, 0), Some(3));
}

#[test]
fn c_mu_breaks_ties_by_deadline() {
    let a = vec![annotator(0, vec![skill(0.9, 60.0, 0.1)])];
    // Streams 0 and 1 tie on h × μ; stream 1's deadline is earlier; stream 2 has a lower h.
    let w = World::new(
        vec![
            task(|t| t.deadline = Some(SimTime(9_000))),
            task(|t| {
                t.stream = 1;
                t.deadline = Some(SimTime(5_000));
            }),
            task(|t| {
                t.stream = 2;
                t.holding_cost = 0.5;
            }),
        ],
        a,
    );
    assert_eq!(pick_task("c-mu", &w, 0), Some(1));
}

#[test]
fn cheapest_capable_respects_the_accuracy_bar() {
    let a = vec![annotator(0, vec![skill(0.80, 30.0, 0.05)]), annotator(1, vec![skill(0.95, 30.0, 0.50)]), annotator(2, vec![skill(0.97, 30.0, 0.90)])];
    let w = World::new(vec![task(|t| t.min_accuracy = 0.9), task(|t| t.min_accuracy = 0.0), task(|t| t.min_accuracy = 0.99)], a);
    assert_eq!(pick_annotator("cheapest-capable", &w, 0), Some(1), "cheapest meeting 0.9");
    assert_eq!(pick_annotator("cheapest-capable", &w, 1), Some(0), "no bar: the cheapest");
    assert_eq!(pick_annotator("cheapest-capable", &w, 2), Some(2), "bar nobody meets: the most accurate");
    // A free crowd worker skips the task it is not good enough for.
    assert_eq!(pick_task("cheapest-capable", &w, 0), Some(1));
}

#[test]
fn uncertainty_first_takes_least_confident() {
    let a = vec![annotator(0, vec![skill(0.9, 30.0, 0.1)])];
    let w = World::new(vec![task(|t| t.confidence = 0.9), task(|t| t.confidence = 0.5), task(|t| t.confidence = 0.5)], a);
    assert_eq!(pick_task("uncertainty-first", &w, 0), Some(1));
}

#[test]
fn label_studio_cascade_gold_then_breadth_then_random() {
    let a = vec![annotator(5, vec![skill(0.9, 30.0, 0.1)])];
    let mut two = smallvec_free::labelers(&[1, 2]);
    two.gold = true;
    let one = smallvec_free::labelers(&[1]);
    let w = World::new(vec![one.clone(), two, task(|_| {})], a.clone());
    let mut annotators = a;
    annotators[0].idx = 0;
    let w = World { annotators, ..w };
    assert_eq!(pick_task("label-studio", &w, 0), Some(1), "ground truth first");
    // No gold: fewest labels first, ties uniformly at random.
    let w = World::new(vec![one.clone(), task(|_| {}), task(|_| {}), one], vec![annotator(0, vec![skill(0.9, 30.0, 0.1)])]);
    let mut r = router("label-studio").unwrap();
    let mut g = rng();
    let mut counts = [0u32; 4];
    for _ in 0..2000 {
        counts[r.pick_task(0, &w.state(), &mut g).unwrap()] += 1;
    }
    assert_eq!(counts[0] + counts[3], 0, "a task with more labels was taken first");
    assert!(counts[1] > 850 && counts[2] > 850, "ties not sampled uniformly: {counts:?}");
}

#[test]
fn batch_lp_finds_the_optimal_matching_where_greedy_fails() {
    // Annotator 0 is good at both types, annotator 1 only at type 0. Greedy (oldest task to the
    // best annotator) gives task 0 → annotator 0 and leaves task 1 unserved; the optimum serves
    // both: task 0 → annotator 1, task 1 → annotator 0.
    let a = vec![annotator(0, vec![skill(0.95, 30.0, 0.1), skill(0.95, 30.0, 0.1)]), annotator(1, vec![skill(0.90, 30.0, 0.1), None])];
    let w = World::new(vec![task(|_| {}), task(|t| t.ttype = 1)], a);
    let mut r = BatchLp::default();
    let mut pairs = r.assign_batch(&w.state(), &mut rng());
    pairs.sort();
    assert_eq!(pairs, vec![(w.queue[0], 1), (w.queue[1], 0)]);

    // λ trades accuracy against cost: one task, a cheap 0.85 and a dear 0.95 annotator.
    let a = vec![annotator(0, vec![skill(0.85, 30.0, 0.02)]), annotator(1, vec![skill(0.95, 30.0, 0.50)])];
    let w = World::new(vec![task(|_| {})], a);
    let with = |lambda: f64| {
        let spec = RoutingSpec { policy: "batch-lp".into(), batch_interval: Some(Dur(1)), cost_weight: lambda, model: None };
        let mut r = router_for(&spec).unwrap();
        assert_eq!(r.batch_interval(), Some(Dur(1)));
        r.assign_batch(&w.state(), &mut rng())
    };
    assert_eq!(with(0.0), vec![(w.queue[0], 1)], "λ = 0: accuracy only");
    assert_eq!(with(1.0), vec![(w.queue[0], 0)], "λ = 1: 0.85 − 0.02 > 0.95 − 0.50");
}

/// The class-based policies' fast paths (per-stream counts, then the first eligible task of the
/// best class) give exactly the answer of their definitions computed by brute force, on random
/// states where type, priority and holding cost are stream properties, as in the dispatcher.
#[test]
fn class_fast_paths_match_brute_force() {
    let mut g = ActorRng::seed_from_u64(11);
    for _ in 0..400 {
        let n_streams = g.random_range(1..=4u16);
        let props: Vec<(u16, u32, f32)> = (0..n_streams).map(|_| (g.random_range(0..3u16), g.random_range(0..3u32), [0.5f32, 1.0, 2.0][g.random_range(0..3usize)])).collect();
        let annotators: Vec<AnnotatorView> = (0..g.random_range(1..=4u32))
            .map(|i| {
                let skills = (0..3).map(|_| if g.random_bool(0.7) { skill(0.9, [30.0, 60.0][g.random_range(0..2usize)], 0.1) } else { None }).collect();
                annotator(i, skills)
            })
            .collect();
        let na = annotators.len() as u32;
        let tasks: Vec<TaskView> = (0..g.random_range(0..=10))
            .map(|_| {
                let mut t = smallvec_free::labelers(&[g.random_range(0..na)][..g.random_range(0..2usize)]);
                t.stream = g.random_range(0..n_streams);
                (t.ttype, t.priority, t.holding_cost) = props[t.stream as usize];
                t
            })
            .collect();
        // Deadlines as the dispatcher makes them: arrival (queue order) + the stream's deadline.
        let mut tasks = tasks;
        let horizon: Vec<Option<u64>> = (0..n_streams).map(|_| [None, Some(50), Some(200)][g.random_range(0..3usize)]).collect();
        for (i, t) in tasks.iter_mut().enumerate() {
            t.deadline = horizon[t.stream as usize].map(|h| SimTime(i as u64 * 10 + h));
        }
        let w = World::new(tasks, annotators);
        let st = w.state();
        for &a in &w.idle {
            let view = st.annotator(a);
            let elig: Vec<(usize, &TaskView)> = w.queue.iter().enumerate().map(|(p, &t)| (p, st.task(t))).filter(|(_, t)| eligible(t, view)).collect();
            // fixed-priority: highest priority among eligible tasks, then the oldest.
            let top = elig.iter().map(|(_, t)| t.priority).max();
            let expect_fp = top.and_then(|p| elig.iter().find(|(_, t)| t.priority == p).map(|(pos, _)| *pos));
            assert_eq!(pick_task("fixed-priority", &w, a), expect_fp);
            // max-weight: classes with an eligible task, weight = all waiting × h × μ; ties to the
            // class whose first eligible task is older.
            let mut best: Option<(usize, f64)> = None;
            for s in 0..n_streams {
                let Some(&(pos, t)) = elig.iter().find(|(_, t)| t.stream == s) else { continue };
                let q = w.queue.iter().filter(|&&x| st.task(x).stream == s).count() as f64;
                let wgt = q * (t.holding_cost as f64 * (3600.0 / view.skills[t.ttype as usize].unwrap().mean_secs));
                if best.is_none_or(|(bp, bw)| wgt > bw || (wgt == bw && pos < bp)) {
                    best = Some((pos, wgt));
                }
            }
            assert_eq!(pick_task("max-weight", &w, a), best.map(|b| b.0));
            // c-mu: the largest h × μ among eligible tasks, then the earliest deadline, then the oldest.
            let mut best: Option<(usize, f64, u64)> = None;
            for &(pos, t) in &elig {
                let index = t.holding_cost as f64 * (3600.0 / view.skills[t.ttype as usize].unwrap().mean_secs);
                let due = t.deadline.map_or(u64::MAX, |d| d.0);
                if best.is_none_or(|(_, b, bd)| index > b || (index == b && due < bd)) {
                    best = Some((pos, index, due));
                }
            }
            assert_eq!(pick_task("c-mu", &w, a), best.map(|b| b.0));
        }
    }
}

/// Random's rejection-sampling fast path still picks every eligible task with the same chance.
#[test]
fn random_is_uniform_over_eligible_tasks() {
    let a = vec![annotator(0, vec![skill(0.9, 30.0, 0.1)])];
    let mut tasks: Vec<TaskView> = (0..6).map(|_| task(|_| {})).collect();
    for i in [1, 4] {
        tasks[i] = smallvec_free::labelers(&[0]); // already labelled by annotator 0: ineligible
    }
    let w = World::new(tasks, a);
    let mut r = router("random").unwrap();
    let mut g = rng();
    let mut hits = [0u32; 6];
    let n = 40_000;
    for _ in 0..n {
        hits[r.pick_task(0, &w.state(), &mut g).unwrap()] += 1;
    }
    assert_eq!((hits[1], hits[4]), (0, 0));
    for i in [0, 2, 3, 5] {
        let share = hits[i] as f64 / n as f64;
        assert!((share - 0.25).abs() < 0.01, "task {i}: share {share}");
    }
}

/// No cap on streams: with 70 streams (past any 64-bit stream mask), every policy still answers
/// with an eligible task, the one its definition picks on the full scan.
#[test]
fn more_than_64_streams_work() {
    let tasks: Vec<TaskView> = (0..70u16).map(|s| task(|t| { t.stream = s; t.priority = (s % 5) as u32; t.holding_cost = 1.0 + s as f32 })).collect();
    let w = World::new(tasks, vec![annotator(0, vec![skill(0.9, 30.0, 0.1)])]);
    for name in heuristics() {
        if name == "batch-lp" {
            continue;
        }
        let pos = pick_task(name, &w, 0).unwrap_or_else(|| panic!("{name} found nothing"));
        assert!(eligible(w.state().task(w.queue[pos]), &w.annotators[0]), "{name}");
    }
    assert_eq!(pick_task("fixed-priority", &w, 0).map(|p| w.state().task(w.queue[p]).priority), Some(4));
    assert_eq!(pick_task("c-mu", &w, 0).map(|p| w.state().task(w.queue[p]).stream), Some(69));
}

/// The indexed picks against their definitions (the full scans), on random sequences of changes
/// applied through the public API of the views and the queue, with one router kept across the
/// whole sequence (so the index follows the change logs, is trimmed past and rebuilt, and is
/// shown a second state), and checked at every step for every annotator: label-studio must give
/// the same task *and* leave the random stream where the scan leaves it; uncertainty-first and
/// cheapest-capable the same task; batch-lp a matching as good as the one over every column.
mod indexed_picks {
    use super::*;
    use crate::{CheapestCapable, LabelStudio, ModelLeastConfident, UncertaintyFirst};
    use proptest::prelude::{any, prop, prop_assert, prop_assert_eq, prop_oneof, proptest, Just, ProptestConfig, Strategy, TestCaseError};
    use rand::RngCore;

    #[derive(Clone, Debug)]
    enum Op {
        /// A new task (stream, language, gold, review, confidence index) at the back.
        Arrive(u16, Option<u16>, bool, bool, usize),
        /// A task that left the queue joins again at its id's place.
        Requeue(usize),
        /// The task at a queue position leaves it.
        Leave(usize),
        /// An annotator labels (or holds) / skips the task at a queue position.
        Label(usize, u32),
        Decline(usize, u32),
        /// The task at a queue position is reserved for these annotators (or no longer, empty).
        Reserve(usize, Vec<u32>),
        /// New confidence / gold flag for the task at a queue position.
        Confidence(usize, usize),
        Gold(usize),
        Ban(u32),
        /// Rewrites a view many times over: the change logs drop their older half.
        Burst(usize),
        /// The task at a queue position joins a second time at the back (the queue leaves id
        /// order), then every id out of order leaves again.
        Misplace(usize),
        Tidy,
        /// Decide on the other state for a while.
        Elsewhere,
        Decide,
    }

    const CONF: [f32; 8] = [0.0, -0.0, 0.5, 1.0, 0.25, 0.5, 1.0, f32::NAN];

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (0..3u16, prop::option::of(0..2u16), prop::bool::weighted(0.2), prop::bool::weighted(0.15), 0..7usize).prop_map(|(s, l, g, r, c)| Op::Arrive(s, l, g, r, c)),
            2 => any::<usize>().prop_map(Op::Requeue),
            3 => any::<usize>().prop_map(Op::Leave),
            4 => (any::<usize>(), 0..5u32).prop_map(|(p, a)| Op::Label(p, a)),
            1 => (any::<usize>(), 0..5u32).prop_map(|(p, a)| Op::Decline(p, a)),
            1 => (any::<usize>(), prop::collection::vec(0..5u32, 0..3)).prop_map(|(p, r)| Op::Reserve(p, r)),
            2 => (any::<usize>(), 0..8usize).prop_map(|(p, c)| Op::Confidence(p, c)),
            1 => any::<usize>().prop_map(Op::Gold),
            1 => (0..5u32).prop_map(Op::Ban),
            1 => Just(Op::Elsewhere),
            1 => any::<usize>().prop_map(Op::Burst),
            1 => any::<usize>().prop_map(Op::Misplace),
            2 => Just(Op::Tidy),
            5 => Just(Op::Decide),
        ]
    }

    struct State {
        table: TaskViews,
        queue: WaitQueue,
        annotators: Vec<AnnotatorView>,
        idle: Vec<AnnotatorIdx>,
        next: u64,
        left: Vec<TaskId>,
    }

    impl State {
        fn new(seed: u64) -> State {
            let mut g = ActorRng::seed_from_u64(seed);
            let annotators = (0..5u32)
                .map(|i| {
                    let skills = (0..3).map(|_| if g.random_bool(0.7) { skill(g.random_range(0.6..1.0), g.random_range(10.0..100.0), g.random_range(0.01..1.0)) } else { None }).collect();
                    let mut a = annotator(i, skills);
                    a.languages = (0..2u16).filter(|_| g.random_bool(0.6)).collect();
                    a.reserved_for = if g.random_bool(0.2) { [g.random_range(0..3u16)].into_iter().collect() } else { Default::default() };
                    a.reviewer = g.random_bool(0.3);
                    a
                })
                .collect();
            let facts = (0..3u16).map(|s| StreamFacts { ttype: s % 2, mixed_types: false, priority: 0, holding_cost: 1.0 }).collect();
            State { table: TaskViews::default(), queue: WaitQueue::new(facts), annotators, idle: (0..5).collect(), next: 0, left: Vec::new() }
        }
        fn st(&self) -> RouteState<'_> {
            RouteState { now: SimTime(1_000_000), annotators: &self.annotators, tasks: &self.table, queue: &self.queue, idle: &self.idle }
        }
        /// Rewrites the view of the task at a queue position (None with an empty queue).
        fn edit(&mut self, pos: usize, f: impl FnOnce(&mut TaskView)) {
            if self.queue.is_empty() {
                return;
            }
            let id = self.queue[pos % self.queue.len()];
            let mut v = self.table.get(id).unwrap().clone();
            f(&mut v);
            self.table.insert(v);
        }
        fn apply(&mut self, op: &Op) {
            match *op {
                Op::Arrive(stream, language, gold, review, c) => {
                    let id = TaskId(self.next);
                    self.next += 1;
                    // Type and bar are stream facts, as in the core; a few streams of bar 0.8.
                    self.table.insert(TaskView { id, stream, ttype: stream % 2, language, gold, review, confidence: CONF[c], min_accuracy: if stream == 2 { 0.8 } else { 0.0 }, open: 1, ..Default::default() });
                    self.queue.push_back(id, stream);
                }
                Op::Requeue(i) => {
                    if !self.left.is_empty() {
                        let id = self.left.swap_remove(i % self.left.len());
                        let pos = self.queue.partition_point(|&q| q < id);
                        self.queue.insert(pos, id, self.table.get(id).unwrap().stream);
                    }
                }
                Op::Leave(p) => {
                    if !self.queue.is_empty() {
                        let pos = p % self.queue.len();
                        let id = self.queue[pos];
                        self.queue.remove(pos, self.table.get(id).unwrap().stream);
                        self.left.push(id);
                    }
                }
                Op::Label(p, a) => self.edit(p, |v| {
                    if !v.labelers.contains(&a) {
                        v.labelers.push(a)
                    }
                }),
                Op::Decline(p, a) => self.edit(p, |v| v.declined.push(a)),
                Op::Reserve(p, ref r) => self.edit(p, |v| v.reserved_for = (!r.is_empty()).then(|| Box::new(r.clone()))),
                Op::Confidence(p, c) => self.edit(p, |v| {
                    v.confidence = CONF[c];
                    // A model's score too (a retrain scoring a waiting task again), some classes.
                    v.model_confidence = Some(CONF[(c + 1) % CONF.len()]);
                    v.prelabel = Some((c % 3) as u16);
                }),
                Op::Gold(p) => self.edit(p, |v| v.gold = !v.gold),
                Op::Ban(a) => self.annotators[a as usize].banned ^= true,
                Op::Burst(p) => {
                    for _ in 0..5000 {
                        self.edit(p, |_| {});
                    }
                }
                Op::Misplace(p) => {
                    if !self.queue.is_empty() {
                        let id = self.queue[p % self.queue.len()];
                        self.queue.push_back(id, self.table.get(id).unwrap().stream);
                    }
                }
                Op::Tidy => {
                    let mut i = 1;
                    while i < self.queue.len() {
                        if self.queue[i] <= self.queue[i - 1] {
                            let id = self.queue[i];
                            self.queue.remove(i, self.table.get(id).unwrap().stream);
                        } else {
                            i += 1;
                        }
                    }
                }
                Op::Elsewhere | Op::Decide => {}
            }
        }
    }

    struct Routers {
        ls: LabelStudio,
        mlc: ModelLeastConfident,
        bal: ModelLeastConfident,
        uf: UncertaintyFirst,
        cc: CheapestCapable,
        lp: BatchLp,
    }

    impl Routers {
        fn new() -> Routers {
            Routers { ls: LabelStudio::default(), mlc: ModelLeastConfident::new(false), bal: ModelLeastConfident::new(true), uf: UncertaintyFirst::default(), cc: CheapestCapable::default(), lp: BatchLp::default() }
        }
        fn check(&mut self, w: &State, seed: u64) -> Result<(), TestCaseError> {
            let st = w.st();
            for &a in &w.idle {
                let (mut r1, mut r2) = (ActorRng::seed_from_u64(seed + a as u64), ActorRng::seed_from_u64(seed + a as u64));
                let got = self.ls.pick_task(a, &st, &mut r1);
                prop_assert_eq!(got, LabelStudio::pick_task_scan(a, &st, &mut r2), "label-studio, annotator {}", a);
                prop_assert_eq!(r1.next_u64(), r2.next_u64(), "label-studio left the random stream elsewhere");
                prop_assert_eq!(self.uf.pick_task(a, &st, &mut r1), UncertaintyFirst::pick_task_scan(a, &st), "uncertainty-first, annotator {}", a);
                prop_assert_eq!(self.mlc.pick_task(a, &st, &mut r1), ModelLeastConfident::pick_task_scan(false, 0, a, &st), "model-least-confident, annotator {}", a);
                let target = self.bal.target();
                prop_assert_eq!(self.bal.pick_task(a, &st, &mut r1), ModelLeastConfident::pick_task_scan(true, target, a, &st), "model-least-confident-balanced, annotator {}", a);
                prop_assert_eq!(self.cc.pick_task(a, &st, &mut r1), CheapestCapable::default().pick_task_scan(a, &st), "cheapest-capable, annotator {}", a);
            }
            // batch-lp: as many pairs, and the same objective, as over every column.
            let value = |pairs: &[(TaskId, AnnotatorIdx)]| -> f64 {
                let m = w.queue.len();
                pairs
                    .iter()
                    .map(|&(t, a)| {
                        let (task, view) = (st.task(t), st.annotator(a));
                        let pos = w.queue.iter().position(|&q| q == t).unwrap();
                        crate::common::skill(task, view).map_or(0.0, |s| s.accuracy - s.cost_per_item + 1e-6 * (m - pos) as f64 / m as f64)
                    })
                    .sum()
            };
            let mut rng = ActorRng::seed_from_u64(seed);
            let got = self.lp.assign_batch(&st, &mut rng);
            let want = BatchLp::default().with_all_columns().assign_batch(&st, &mut rng);
            prop_assert_eq!(got.len(), want.len(), "batch-lp started fewer tasks");
            prop_assert!((value(&got) - value(&want)).abs() < 1e-9, "batch-lp: {} vs {} over every column", value(&got), value(&want));
            for &(t, a) in &got {
                prop_assert!(eligible(st.task(t), st.annotator(a)));
            }
            Ok(())
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]
        #[test]
        fn indexed_picks_equal_the_definitions(seed in 0..1000u64, ops in prop::collection::vec(op(), 1..120)) {
            // The other state: the same workforce (cheapest-capable learns its bars from the
            // first one it sees), tasks that drift apart.
            let (mut here, mut there) = (State::new(seed), State::new(seed));
            let mut routers = Routers::new();
            for (i, op) in ops.iter().enumerate() {
                here.apply(op);
                if i % 3 != 0 {
                    there.apply(op);
                }
                match op {
                    Op::Decide => routers.check(&here, seed * 1000 + i as u64)?,
                    Op::Elsewhere => routers.check(&there, seed * 1000 + i as u64)?,
                    _ => {}
                }
            }
            routers.check(&here, seed)?;
        }
    }

    /// Many tasks: the index with real blocks (several per class), long tie runs and a few
    /// annotators turned away, against the scans.
    #[test]
    fn large_queues_match_the_definitions() {
        let mut w = State::new(5);
        let mut g = ActorRng::seed_from_u64(8);
        let mut routers = Routers::new();
        for step in 0..3000 {
            let op = match g.random_range(0..10) {
                0..=4 => Op::Arrive(g.random_range(0..3), if g.random_bool(0.2) { Some(g.random_range(0..2)) } else { None }, g.random_bool(0.05), g.random_bool(0.05), g.random_range(0..7)),
                5 => Op::Leave(g.random_range(0..usize::MAX)),
                6 => Op::Label(g.random_range(0..usize::MAX), g.random_range(0..5)),
                7 => Op::Confidence(g.random_range(0..usize::MAX), g.random_range(0..7)),
                8 => Op::Requeue(g.random_range(0..usize::MAX)),
                _ => Op::Gold(g.random_range(0..usize::MAX)),
            };
            w.apply(&op);
            if step % 150 == 149 {
                routers.check(&w, step).unwrap();
            }
        }
        assert!(w.queue.len() > 600, "{}", w.queue.len());
    }
}

/// The learned policy's candidates: for a free annotator, the first eligible task of each stream
/// it is qualified for; for a task, each pool's longest idle and most trusted eligible annotator;
/// every candidate eligible, features of the right size.
#[test]
fn learned_candidates_are_stream_heads_and_pool_representatives() {
    use crate::learned::features::{for_annotator, for_task, Decision, PAIR};
    // stream 0 (type 0): tasks 0, 2; stream 1 (type 1): tasks 1, 3; stream 2 (type 2): task 4
    let tasks: Vec<TaskView> = [0u16, 1, 0, 1, 2].iter().map(|&s| task(|t| { t.stream = s; t.ttype = s })).collect();
    let mut a0 = annotator(0, vec![skill(0.9, 30.0, 0.1), skill(0.8, 60.0, 0.1), None]);
    let mut a1 = annotator(1, vec![skill(0.9, 30.0, 0.1), None, None]);
    let mut a2 = annotator(2, vec![skill(0.9, 30.0, 0.1), None, None]);
    let mut a3 = annotator(3, vec![skill(0.9, 30.0, 0.1), None, None]);
    a0.pool = 0;
    (a1.pool, a2.pool, a3.pool) = (1, 1, 1);
    (a1.trust, a2.trust, a3.trust) = (0.7, 0.95, 0.8);
    let w = World::new(tasks, vec![a0, a1, a2, a3]);
    let st = w.state();
    let mut d = Decision::default();
    for_annotator(0, &st, &mut d);
    assert_eq!(d.positions, vec![0, 1], "heads of streams 0 and 1; stream 2 needs a skill annotator 0 lacks");
    assert_eq!(d.groups, vec![0, 1]);
    assert_eq!(d.pairs.len(), 2 * PAIR);
    for_task(w.queue[0], &st, &mut d);
    // pool 0: annotator 0 (both longest idle and most trusted); pool 1: annotator 1 (longest
    // idle) and annotator 2 (most trusted)
    assert_eq!(d.positions, vec![0, 1, 2]);
    assert_eq!(d.groups, vec![0, 1, 1]);
    for &p in &d.positions {
        assert!(eligible(st.task(w.queue[0]), st.annotator(st.idle[p])));
    }
    for_task(w.queue[4], &st, &mut d);
    assert!(d.is_empty(), "nobody is qualified for type 2");
}

/// With the oldest-and-youngest rule a free annotator is also offered each stream's youngest
/// eligible task, after the oldest ones; a stream with one eligible task gives one candidate.
#[test]
fn learned_candidates_oldest_and_youngest() {
    use crate::learned::features::{for_annotator_with, Candidates, Decision, PAIR};
    // stream 0 (type 0): tasks 0, 2, 5; stream 1 (type 1): tasks 1, 3; stream 2 (type 2): task 4
    let tasks: Vec<TaskView> = [0u16, 1, 0, 1, 2, 0].iter().map(|&s| task(|t| { t.stream = s; t.ttype = s })).collect();
    let a0 = annotator(0, vec![skill(0.9, 30.0, 0.1), skill(0.8, 60.0, 0.1), skill(0.7, 60.0, 0.1)]);
    let w = World::new(tasks, vec![a0]);
    let st = w.state();
    let mut d = Decision::default();
    for_annotator_with(0, &st, &mut d, Candidates::Oldest);
    assert_eq!(d.positions, vec![0, 1, 4], "oldest of each stream only");
    for_annotator_with(0, &st, &mut d, Candidates::OldestAndYoungest);
    assert_eq!(d.positions, vec![0, 1, 4, 5, 3], "then the youngest of streams 0 and 1; stream 2's one task once");
    assert_eq!(d.groups, vec![0, 1, 2, 0, 1]);
    assert_eq!(d.pairs.len(), 5 * PAIR);
    for &p in &d.positions {
        assert!(eligible(st.task(w.queue[p]), st.annotator(0)));
    }
    // The rule's names are what `tessera train --candidates` takes.
    for c in [Candidates::Oldest, Candidates::OldestAndYoungest] {
        assert_eq!(Candidates::parse(c.name()), Some(c));
    }
}

/// A policy file written before the candidate rule existed (schema 1, no rule) reads as
/// trained on the oldest-first rule it had; a schema-1 file naming another rule is refused.
#[test]
fn schema_1_policy_files_read_as_oldest_first() {
    use crate::learned::features::Candidates;
    use crate::learned::{PolicyFile, SCHEMA_V1};
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../benches/models/cmu-two-class.mpk");
    let p = PolicyFile::read(&path).unwrap();
    assert_eq!(p.schema, SCHEMA_V1, "the committed file predates schema 2");
    assert_eq!(p.net.candidates, Candidates::Oldest);
    let mut q = p.clone();
    q.net.candidates = Candidates::OldestAndYoungest;
    assert!(PolicyFile::from_bytes(&q.to_bytes(), "q.mpk").unwrap_err().contains("candidate rule"));
}

/// A policy file survives writing and reading; a file from other features is refused with a
/// message that says what to do.
#[test]
fn policy_files_round_trip_and_refuse_foreign_features() {
    use crate::learned::net::{Dense, Net};
    use crate::learned::{PolicyFile, Training, SCHEMA};
    use crate::learned::features::{GLOBAL, PAIR};
    let d = |i: usize, o: usize| Dense { inputs: i, outputs: o, w: vec![0.5; i * o], b: vec![0.0; o] };
    let h = 4;
    let net = Net { hidden: h, embed1: d(PAIR, h), embed2: d(h, h), actor1: d(2 * h + GLOBAL, h), actor2: d(h, 1), critic1: d(h + GLOBAL, h), critic2: d(h, 1), candidates: Default::default() };
    let p = PolicyFile::new(net, Training { scenario: "x".into(), ..Training::default() });
    assert_eq!(PolicyFile::from_bytes(&p.to_bytes(), "p.mpk").unwrap(), p);
    let mut q = p.clone();
    q.pair_features += 1;
    assert!(PolicyFile::from_bytes(&q.to_bytes(), "p.mpk").unwrap_err().contains("train it again"));
    let mut q = p.clone();
    q.schema = "other".into();
    assert!(PolicyFile::from_bytes(&q.to_bytes(), "p.mpk").unwrap_err().contains(SCHEMA));
    let mut q = p.clone();
    q.net.embed2.w[3] = f32::NAN;
    assert!(PolicyFile::from_bytes(&q.to_bytes(), "p.mpk").unwrap_err().contains("embed2"));
    assert!(PolicyFile::from_bytes(b"garbage", "p.mpk").unwrap_err().contains("not a Tessera policy file"));
    // A file replaced on disk is read again (the live server outlives a retraining).
    let path = std::env::temp_dir().join(format!("tessera-policy-test-{}.mpk", std::process::id()));
    std::fs::write(&path, p.to_bytes()).unwrap();
    let first = crate::learned::load(path.to_str().unwrap()).unwrap();
    let mut other = p.clone();
    other.net.embed1.b[0] = 1.0;
    other.training.scenario = "a longer name, so that the file's length changes".into();
    std::fs::write(&path, other.to_bytes()).unwrap();
    let second = crate::learned::load(path.to_str().unwrap()).unwrap();
    assert!(*first == p.net && *second == other.net, "the replaced file was read again");
    let _ = std::fs::remove_file(&path);
    let spec = RoutingSpec { policy: "learned".into(), ..RoutingSpec::default() };
    assert!(crate::check_routing(&spec).unwrap_err().contains("routing.model"));
    let spec = RoutingSpec { policy: "fifo".into(), model: Some("p.mpk".into()), ..RoutingSpec::default() };
    assert!(crate::check_routing(&spec).is_err());
}
