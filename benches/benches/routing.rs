//! Routing speed: decisions per second of every policy on one large routing state — 1,000 waiting
//! tasks (3 streams, 3 task types, some with a label already) and 200 idle annotators (each
//! qualified for 2 of the 3 types). One decision is one `pick_task` (a free annotator chooses
//! among the 1,000 tasks) or one `pick_annotator` (a new task chooses among the 200 annotators);
//! batch-lp's decision is one `assign_batch` round on 200 waiting × 200 idle (and on the full
//! 1,000 × 200).
//!
//! `route10k`: the same world with 10,000 waiting tasks, `pick_task` alone and `pick_task+change`
//! (after each decision the chosen task's view is written again, as the core does when it hands
//! out a slot: policies that index the queue re-read it before the next decision). batch-lp:
//! rounds on 10,000 waiting × 200 and × 8 idle. See benches/RESULTS.md, "## Routing".

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use rand::{Rng, SeedableRng};
use tessera_engine::dispatch::{AnnotatorView, RouteState, Skill, StreamFacts, TaskView, TaskViews, WaitQueue};
use tessera_engine::domain::{AnnotatorIdx, TaskId};
use tessera_engine::kernel::ActorRng;
use tessera_engine::time::{SimTime, US_PER_SEC};

struct World {
    table: TaskViews,
    queue: WaitQueue,
    annotators: Vec<AnnotatorView>,
    idle: Vec<AnnotatorIdx>,
}

fn world(tasks: usize, annotators: u32) -> World {
    let mut g = ActorRng::seed_from_u64(3);
    let annotators: Vec<AnnotatorView> = (0..annotators)
        .map(|i| {
            let skip = i % 3;
            let skills = (0..3)
                .map(|k| (k != skip).then(|| Skill { accuracy: g.random_range(0.7..0.98), mean_secs: g.random_range(20.0..90.0), cost_per_item: g.random_range(0.01..0.5) }))
                .collect();
            AnnotatorView { idx: i, pool: (i % 4) as u16, skills, languages: [0u16].into_iter().collect(), idle_since: SimTime(g.random_range(0..1_000_000)), trust: 0.9, banned: false, reserved_for: Default::default(), reviewer: false, stages: Default::default() }
        })
        .collect();
    let mut table = TaskViews::default();
    let facts = (0..3u16).map(|s| StreamFacts { ttype: s, mixed_types: false, priority: s as u32, holding_cost: 1.0 + s as f32 }).collect();
    let mut queue = WaitQueue::new(facts);
    for i in 0..tasks {
        let stream = (i % 3) as u16;
        let mut labelers = smallvec_of(&[]);
        if i % 5 == 0 {
            labelers = smallvec_of(&[g.random_range(0..annotators.len() as u32)]);
        }
        let view = TaskView {
            id: TaskId(i as u64),
            stream,
            ttype: stream,
            language: None,
            priority: stream as u32,
            arrival: SimTime(i as u64 * US_PER_SEC),
            deadline: Some(SimTime((i as u64 + 3600) * US_PER_SEC)),
            open: 1,
            labelers,
            confidence: g.random_range(0.0..1.0),
            gold: i % 50 == 0,
            min_accuracy: 0.8,
            holding_cost: 1.0 + stream as f32,
            ..Default::default()
        };
        table.insert(view);
        queue.push_back(TaskId(i as u64), stream);
    }
    let idle = (0..annotators.len() as u32).collect();
    World { table, queue, annotators, idle }
}

fn smallvec_of(xs: &[u32]) -> <TaskView as LabelersType>::L {
    xs.iter().copied().collect()
}
trait LabelersType {
    type L: FromIterator<u32>;
}
impl LabelersType for TaskView {
    type L = smallvec::SmallVec<[u32; 4]>;
}

impl World {
    fn state(&self) -> RouteState<'_> {
        RouteState { now: SimTime(2_000 * US_PER_SEC), annotators: &self.annotators, tasks: &self.table, queue: &self.queue, idle: &self.idle }
    }
}

/// `route`: 1,000 waiting tasks, `pick_task` and `pick_annotator`. `route10k`: 10,000 waiting
/// tasks, `pick_task` alone and plus one changed view.
fn decisions(c: &mut Criterion) {
    for (group, tasks) in [("route", 1000), ("route10k", 10_000)] {
        let mut w = world(tasks, 200);
        let mut g = c.benchmark_group(group);
        g.throughput(Throughput::Elements(1));
        for name in tessera_policies::heuristics() {
            if name == "batch-lp" {
                continue;
            }
            let mut r = tessera_policies::router(name).unwrap();
            let mut rng = ActorRng::seed_from_u64(1);
            let mut a = 0u32;
            {
                let st = w.state();
                g.bench_function(format!("{name}/pick_task"), |b| {
                    b.iter(|| {
                        a = (a + 1) % 200;
                        black_box(r.pick_task(a, &st, &mut rng))
                    })
                });
                let mut t = 0usize;
                if tasks == 1000 {
                    g.bench_function(format!("{name}/pick_annotator"), |b| {
                        b.iter(|| {
                            t = (t + 1) % tasks;
                            black_box(r.pick_annotator(w.queue[t], &st, &mut rng))
                        })
                    });
                }
            }
            if tasks == 10_000 {
                g.bench_function(format!("{name}/pick_task+change"), |b| {
                    b.iter(|| {
                        a = (a + 1) % 200;
                        let pos = r.pick_task(a, &w.state(), &mut rng);
                        if let Some(p) = pos {
                            let view = w.table.get(w.queue[p]).unwrap().clone();
                            w.table.insert(view);
                        }
                        black_box(pos)
                    })
                });
            }
        }
        g.finish();
    }
}

fn batch(c: &mut Criterion) {
    let mut g = c.benchmark_group("batch-lp");
    g.sample_size(10);
    for (tasks, idle) in [(200, 200), (1000, 200), (10_000, 200), (10_000, 8)] {
        let mut w = world(tasks, 200);
        w.idle.truncate(idle);
        let st = w.state();
        let mut r = tessera_policies::router("batch-lp").unwrap();
        let mut rng = ActorRng::seed_from_u64(1);
        assert_eq!(r.assign_batch(&st, &mut rng).len(), idle);
        g.bench_function(format!("assign_batch/{tasks}x{idle}"), |b| b.iter(|| black_box(r.assign_batch(&st, &mut rng))));
    }
    g.finish();
}

criterion_group!(benches, decisions, batch);
criterion_main!(benches);
