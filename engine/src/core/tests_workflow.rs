//! Workflow graphs in the core: each edge condition, branching walks (adjudication, review
//! verdicts, model auto-accept), task dependencies (parts, deadlines, re-opened parts), and a
//! property test over random small graphs with parts: every walk follows its graph's edges, no
//! dependant starts before its parts are final, every task ends final, left unserved, or open
//! for a reason the core can name.

use super::tests::*;
use super::workflow::{StageWork, Target};
use super::workflow_walk::holds;
use super::*;
use crate::spec::{Condition, RuleAction, RuleMetric, RuleSpec, StageKind, StageSpec, Verdict};
use crate::time::Dur;
use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn work(final_label: Option<(u16, f32)>, split: bool, verdict: Option<bool>, model_conf: Option<f32>) -> TaskWork {
    TaskWork { final_label, split, verdict, model_conf, ..TaskWork::default() }
}

#[test]
fn each_condition_means_what_it_says() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let w = work(Some((1, 0.7)), true, Some(false), Some(0.93));
    assert!(holds(Condition::Always, &w, &mut rng));
    assert!(holds(Condition::ConfidenceBelow(0.8), &w, &mut rng) && !holds(Condition::ConfidenceBelow(0.7), &w, &mut rng));
    assert!(holds(Condition::ConfidenceAtLeast(0.7), &w, &mut rng) && !holds(Condition::ConfidenceAtLeast(0.71), &w, &mut rng));
    assert!(holds(Condition::Disagree(true), &w, &mut rng) && !holds(Condition::Disagree(false), &w, &mut rng));
    assert!(holds(Condition::Verdict(Verdict::Reject), &w, &mut rng) && !holds(Condition::Verdict(Verdict::Accept), &w, &mut rng));
    assert!(holds(Condition::ModelConfidenceAbove(0.9), &w, &mut rng) && !holds(Condition::ModelConfidenceAbove(0.95), &w, &mut rng));
    assert!(holds(Condition::ModelConfidenceBelow(0.95), &w, &mut rng) && !holds(Condition::ModelConfidenceBelow(0.9), &w, &mut rng));
    // No label yet: confidence 0. No review yet, no pre-label: neither verdict nor model holds.
    let blank = work(None, false, None, None);
    assert!(holds(Condition::ConfidenceBelow(0.1), &blank, &mut rng));
    for c in [Condition::Verdict(Verdict::Accept), Condition::Verdict(Verdict::Reject), Condition::ModelConfidenceAbove(0.0), Condition::ModelConfidenceBelow(1.0)] {
        assert!(!holds(c, &blank, &mut rng), "{c:?}");
    }
    // Sampling: p = 0 never draws (so a branch that never fires changes nothing), p = 1 always
    // holds, p = 0.3 holds about 30% of the time.
    let before = rng.clone();
    assert!(!holds(Condition::Sampled(0.0), &w, &mut rng));
    assert_eq!(rng, before, "sampled = 0 drew from the random stream");
    assert!(holds(Condition::Sampled(1.0), &w, &mut rng));
    let hits = (0..20_000).filter(|_| holds(Condition::Sampled(0.3), &w, &mut rng)).count();
    assert!((5_700..6_300).contains(&hits), "{hits}");
}

/// label (2) → adjudicate (1, when the two disagree) → final.
fn adjudication() -> Vec<StageSpec> {
    vec![spec("label", StageKind::Label, vec![edge("adjudicate", Condition::Disagree(true))]), { let mut a = spec("adjudicate", StageKind::Label, vec![]); a.overlap = Some(1); a }]
}

fn one_stream(q: Q, stages: &[StageSpec], n: u32, reviewers: u32) -> Core {
    let st = stream_with(workflow(&q, stages));
    core_of(q, vec![st], n, reviewers)
}

fn entered(out: &[Effect]) -> Vec<u16> {
    out.iter().filter_map(|e| if let Effect::StageEntered { stage, .. } = e { Some(*stage) } else { None }).collect()
}

#[test]
fn disagreement_goes_to_adjudication_and_agreement_is_final() {
    let mut b = Bench::new(one_stream(quality(2), &adjudication(), 3, 0));
    b.arrive(0);
    let x = assigned(&b.ready(0))[0].0;
    let y = assigned(&b.ready(1))[0].0;
    b.label(x, 0, 1);
    let out = b.label(y, 1, 1);
    assert!(has(&out, |e| matches!(e, Effect::Final { label: 1, .. })) && entered(&out).is_empty(), "agreement: final at once {out:?}");
    b.arrive(1);
    let x = assigned(&b.ready(0))[0].0;
    let y = assigned(&b.ready(1))[0].0;
    b.label(x, 0, 2);
    let out = b.label(y, 1, 0);
    assert_eq!(entered(&out), vec![1], "disagreement: adjudication");
    assert!(!has(&out, |e| matches!(e, Effect::Final { .. })));
    // The two labellers may not adjudicate their own task; the third person does, alone.
    assert!(assigned(&b.ready(0)).is_empty() && assigned(&b.ready(1)).is_empty());
    let z = assigned(&b.ready(2));
    assert_eq!(z.len(), 1);
    let out = b.label(z[0].0, 2, 2);
    assert!(has(&out, |e| matches!(e, Effect::Final { label: 2, confidence, labels, .. } if *confidence == 1.0 && labels.len() == 3)), "{out:?}");
}

#[test]
fn a_rejecting_review_can_go_to_adjudication_instead_of_rework() {
    let stages = vec![
        spec("label", StageKind::Label, vec![edge("review", Condition::Always)]),
        spec("review", StageKind::Review, vec![edge("adjudicate", Condition::Verdict(Verdict::Reject))]),
        { let mut a = spec("adjudicate", StageKind::Label, vec![]); a.overlap = Some(1); a },
    ];
    let mut b = Bench::new(one_stream(quality(1), &stages, 3, 1));
    for (t, accept) in [(0, true), (1, false)] {
        b.arrive(t);
        let x = assigned(&b.ready(0))[0].0;
        assert!(has(&b.label(x, 0, 1), |e| matches!(e, Effect::ReviewRequested { .. })));
        let r = assigned(&b.ready(2))[0].0;
        let out = b.go(Command::Submitted { assignment: r, annotator: 2, answer: Answer::Verdict { accept } });
        if accept {
            assert!(has(&out, |e| matches!(e, Effect::Final { label: 1, .. })), "{out:?}");
        } else {
            assert_eq!(entered(&out), vec![2]);
            assert!(!has(&out, |e| matches!(e, Effect::Rework { .. })));
            let z = assigned(&b.ready(1));
            assert!(has(&b.label(z[0].0, 1, 0), |e| matches!(e, Effect::Final { label: 0, .. })));
        }
    }
}

#[test]
fn a_confident_model_skips_people_and_an_unsure_one_routes_to_them() {
    let mut m = spec("model", StageKind::Model, vec![edge("final", Condition::ModelConfidenceAbove(0.9)), edge("label", Condition::Always)]);
    m.model = Some("m".into());
    let stages = vec![m, spec("label", StageKind::Label, vec![])];
    let mut b = Bench::new(one_stream(quality(1), &stages, 1, 0));
    let out = b.arrive(0);
    assert!(has(&out, |e| matches!(e, Effect::PreAnnotate { model: 0, .. })) && has(&out, |e| matches!(e, Effect::ModelPaid { .. })));
    let out = b.go(Command::PreLabelled { task: TaskId(0), label: 2, confidence: 0.95 });
    assert!(has(&out, |e| matches!(e, Effect::Final { label: 2, confidence, labels, .. } if (*confidence - 0.95).abs() < 1e-6 && labels.is_empty())), "{out:?}");
    b.arrive(1);
    let out = b.go(Command::PreLabelled { task: TaskId(1), label: 2, confidence: 0.6 });
    assert_eq!(entered(&out), vec![1]);
    let a = assigned(&b.ready(0));
    assert_eq!(a.len(), 1, "a person labels it, with the pre-label shown");
    assert!(has(&b.ready(0), |e| matches!(e, Effect::Rejected { reason: Rejection::StillHolding, .. })));
    let out = b.label(a[0].0, 0, 1);
    assert!(has(&out, |e| matches!(e, Effect::Final { label: 1, .. })));
    // A confidence that is not one is rejected.
    b.arrive(2);
    assert_eq!(rejected(&b.go(Command::PreLabelled { task: TaskId(2), label: 0, confidence: f32::NAN })), Some(Rejection::ConfidenceOutOfRange));
}

/// Stream 0: tasks with `parts` parts of stream 1 (label, overlap 1). Stream 0 runs a single
/// label stage (run-wide stages: 0 = stream 0's waiting, 1 = its label, 2 = stream 1's label).
fn with_parts(q: Q, deadlines: (Option<u64>, Option<u64>), n: u32) -> Core {
    let q1 = Q { overlap: 1, ..quality(1) };
    let mut parent = StreamInfo { waiting_sid: Some(0), deadline: deadlines.0, ..stream_with(workflow(&q, &[spec("check", StageKind::Label, vec![])])) };
    parent.workflow.stages[0].sid = 1;
    let mut part = StreamInfo { name: "frames".into(), deadline: deadlines.1, ..stream_with(workflow(&q1, &[spec("label", StageKind::Label, vec![])])) };
    part.workflow.stages[0].sid = 2;
    core_of(q, vec![parent, part], n, 0)
}

fn arrive_group(b: &mut Bench, parent: u64, parts: u32) -> Vec<Effect> {
    let mut out = b.go(Command::TaskArrived { task: TaskId(parent), stream: 0, parts, part_of: None });
    for k in 0..parts as u64 {
        out.extend(b.go(Command::TaskArrived { task: TaskId(parent + 1 + k), stream: 1, parts: 0, part_of: Some(TaskId(parent)) }));
    }
    out
}

#[test]
fn a_task_waits_for_its_parts_and_starts_when_they_are_final() {
    let mut b = Bench::new(with_parts(quality(1), (Some(3600 * S), Some(7200 * S)), 2));
    let out = arrive_group(&mut b, 0, 2);
    assert_eq!(entered(&out), vec![0, 2, 2], "the check waits; its two frames are labelled");
    assert_eq!(b.core.queue_len(), 2, "only the parts wait for people");
    // A part is due no later than the task waiting for it.
    assert_eq!(b.core.task_view(TaskId(1)).unwrap().deadline, b.core.task_view(TaskId(0)).unwrap().deadline);
    // A third part, or a part of a task that has no parts, is refused.
    let extra = Command::TaskArrived { task: TaskId(9), stream: 1, parts: 0, part_of: Some(TaskId(0)) };
    assert_eq!(rejected(&b.go(extra)), Some(Rejection::NotAwaitingParts));
    let stray = Command::TaskArrived { task: TaskId(10), stream: 1, parts: 0, part_of: Some(TaskId(1)) };
    assert_eq!(rejected(&b.go(stray)), Some(Rejection::NotAwaitingParts));
    let a = assigned(&b.ready(0));
    let c = assigned(&b.ready(1));
    let out = b.label(a[0].0, 0, 1);
    assert!(has(&out, |e| matches!(e, Effect::Final { task: TaskId(1), .. })) && entered(&out).is_empty(), "one part is not enough");
    assert!(assigned(&b.ready(0)).is_empty(), "nothing for annotator 0 yet: idle");
    let out = b.label(c[0].0, 1, 1);
    assert!(has(&out, |e| matches!(e, Effect::Final { task: TaskId(2), .. })));
    assert_eq!(entered(&out), vec![1], "the last part's final label starts the check");
    assert!(has(&out, |e| matches!(e, Effect::Assign { work: Work::Label { task: TaskId(0) }, .. })), "and an idle annotator gets it: {out:?}");
}

#[test]
fn a_reopened_part_pulls_back_the_task_waiting_for_it() {
    // Annotator 1 disagrees with the final label of the second frame and is banned with re-open:
    // the frame re-opens, and the check, which had just started, waits for it again.
    let mut q = quality(2);
    q.rules = vec![RuleSpec { metric: RuleMetric::Agreement, window: 1, min_answers: 1, below: Some(0.9), above: None, action: RuleAction::Ban, value: None, duration: Some(Dur(3600 * S)), reopen: true, false_ban_rate: None }];
    let q1 = Q { overlap: 2, ..quality(2) };
    let mut parent = StreamInfo { waiting_sid: Some(0), ..stream_with(workflow(&Q { overlap: 1, ..quality(1) }, &[spec("check", StageKind::Label, vec![])])) };
    parent.workflow.stages[0].sid = 1;
    let mut part = StreamInfo { name: "frames".into(), ..stream_with(workflow(&q1, &[spec("label", StageKind::Label, vec![])])) };
    part.workflow.stages[0].sid = 2;
    let mut b = Bench::new(core_of(q, vec![parent, part], 3, 0));
    arrive_group(&mut b, 0, 1);
    let x = assigned(&b.ready(0));
    let y = assigned(&b.ready(1));
    b.label(x[0].0, 0, 1);
    let out = b.label(y[0].0, 1, 2); // tie: label 1 wins, annotator 1 disagreed
    assert!(has(&out, |e| matches!(e, Effect::Final { task: TaskId(1), .. })));
    assert!(has(&out, |e| matches!(e, Effect::Banned { annotator: 1, .. })));
    assert!(has(&out, |e| matches!(e, Effect::Reopened { task: TaskId(1), .. })));
    assert_eq!(entered(&out), vec![1, 0, 2], "the check started, then waits again for the frame, which is labelled again: {out:?}");
    let w = b.core.views.work(TaskId(0)).unwrap();
    assert_eq!((w.stage, w.parts_pending), (NOT_STARTED, 1));
    // A fresh label for the frame makes it final again, and the check starts again.
    let z = assigned(&b.ready(2));
    assert_eq!(z[0].2, Work::Label { task: TaskId(1) });
    let out = b.label(z[0].0, 2, 1);
    assert!(has(&out, |e| matches!(e, Effect::Final { task: TaskId(1), .. })));
    assert_eq!(entered(&out), vec![1]);
}

#[test]
fn a_part_that_leaves_unserved_takes_its_dependant_with_it() {
    let mut c = with_parts(quality(1), (None, None), 1);
    c.cfg.streams[1].patience = Some(crate::spec::ServiceDist::Fixed(Dur(60 * S)));
    let mut b = Bench::new(c);
    arrive_group(&mut b, 0, 2);
    let out = b.go(Command::TimerFired { timer: Timer::Patience(TaskId(1)) });
    assert!(has(&out, |e| matches!(e, Effect::LeftUnserved { task: TaskId(1), .. })));
    assert!(has(&out, |e| matches!(e, Effect::LeftUnserved { task: TaskId(0), stream: 0 })));
    assert_eq!(b.core.live_tasks(), 1, "the other part stays");
}

// ---- random small graphs ----

#[derive(Clone, Debug)]
struct Graph {
    stages: Vec<StageSpec>,
    parts: u32,
}

fn condition() -> impl Strategy<Value = Condition> {
    prop_oneof![
        Just(Condition::Always),
        (0.0..1.0f64).prop_map(Condition::Sampled),
        (0.0..1.0f64).prop_map(Condition::ConfidenceBelow),
        (0.0..1.0f64).prop_map(Condition::ConfidenceAtLeast),
        any::<bool>().prop_map(Condition::Disagree),
    ]
}

/// Up to five label/review stages with forward edges (so acyclic), every stage reachable from
/// stage 0 through a chain of edges, verdict edges and rework from reviews; 0 to 3 parts.
fn graph() -> impl Strategy<Value = Graph> {
    (1usize..=5, prop::collection::vec((any::<bool>(), prop::collection::vec((0usize..8, condition(), any::<bool>()), 0..3)), 5), 0u32..4).prop_map(|(n, raw, parts)| {
        let mut stages: Vec<StageSpec> = (0..n).map(|i| spec(&format!("s{i}"), if i > 0 && raw[i].0 { StageKind::Review } else { StageKind::Label }, vec![])).collect();
        for i in 0..n {
            let review = stages[i].kind == StageKind::Review;
            let mut next = Vec::new();
            if i + 1 < n {
                // Keep stage i+1 reachable: a sampled edge to it first, then random ones.
                next.push(edge(&format!("s{}", i + 1), Condition::Sampled(0.7)));
            }
            for &(to, c, verdict) in &raw[i].1 {
                let c = if review && verdict { Condition::Verdict(if to % 2 == 0 { Verdict::Accept } else { Verdict::Reject }) } else { c };
                let target = if to > i && to < n { format!("s{to}") } else if review && to == 7 { "rework".into() } else { "final".into() };
                next.push(edge(&target, c));
            }
            if let Some(o) = [None, Some(1), Some(2)][(i + n) % 3] {
                stages[i].overlap = if stages[i].kind == StageKind::Label { Some(o) } else { None };
            }
            stages[i].next = next;
        }
        Graph { stages, parts }
    })
}

fn graph_core(g: &Graph, variant: u8) -> Core {
    let mut q = quality(2);
    q.gold_rate = 0.1;
    q.reopen_within = 600 * S;
    q.rules = vec![RuleSpec { metric: RuleMetric::Agreement, window: 3, min_answers: 2, below: Some(0.5), above: None, action: RuleAction::Ban, value: None, duration: Some(Dur(300 * S)), reopen: variant % 2 == 0, false_ban_rate: None }];
    q.review = Some((0.0, 0.0, 1));
    if variant % 3 == 1 {
        q.dynamic = Some((3, 0.9));
    }
    let mut parent = StreamInfo { waiting_sid: Some(0), ..stream_with(workflow(&q, &g.stages)) };
    for (k, s) in parent.workflow.stages.iter_mut().enumerate() {
        s.sid = 1 + k as u16;
    }
    let mut part = StreamInfo { name: "parts".into(), ..stream_with(workflow(&Q { overlap: 1, ..quality(1) }, &[spec("label", StageKind::Label, vec![])])) };
    part.workflow.stages[0].sid = 100;
    let mut c = core_of(q, vec![parent, part], 5, 2);
    c.cfg.late_window = 2000 * S;
    c
}

#[derive(Clone, Debug)]
enum Move {
    Arrive,
    Ready(AnnotatorId),
    Answer { k: usize, label: u16, accept: bool },
    Expire(usize),
    Wait(u64),
}

fn moves() -> impl Strategy<Value = Move> {
    prop_oneof![
        2 => Just(Move::Arrive),
        5 => (0..5u32).prop_map(Move::Ready),
        6 => (0..64usize, 0..3u16, any::<bool>()).prop_map(|(k, label, accept)| Move::Answer { k, label, accept }),
        1 => (0..64usize).prop_map(Move::Expire),
        1 => (1..2_000u64).prop_map(Move::Wait),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, max_shrink_iters: 2000, .. ProptestConfig::default() })]

    #[test]
    fn random_graphs_walk_their_edges_and_respect_dependencies(g in graph(), variant in 0u8..6, steps in prop::collection::vec(moves(), 1..150), seed in any::<u64>()) {
        let mut core = graph_core(&g, variant);
        prop_assert!(super::workflow::check_graph(&g.stages).is_empty(), "{:?}", super::workflow::check_graph(&g.stages));
        let wf = core.config().streams[0].workflow.clone();
        // Allowed moves between run-wide stages of stream 0: its edges, rework to the first label
        // stage, back to the first label stage (re-open), into and out of waiting.
        let idx = |sid: u16| wf.stages.iter().position(|s| s.sid == sid);
        let may_follow = |from: Option<u16>, to: u16| -> bool {
            let first = wf.stages[0].sid;
            let Some(from) = from else { return to == first || to == 0 };
            if to == 0 || to == first || Some(to) == wf.first_label.map(|f| wf.stages[f as usize].sid) {
                return true;
            }
            if from == 0 {
                return to == first;
            }
            let Some(i) = idx(from) else { return false };
            wf.stages[i].edges.iter().any(|e| matches!(e.to, Target::Stage(j) if wf.stages[j as usize].sid == to))
        };
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut now = SimTime::ZERO;
        let mut next = 0u64;
        let mut handed: Vec<(AssignmentId, AnnotatorId, Work)> = Vec::new();
        let mut at: std::collections::HashMap<TaskId, Option<u16>> = Default::default();
        let mut parts_of: std::collections::HashMap<TaskId, Vec<TaskId>> = Default::default();
        let mut is_final: std::collections::HashSet<TaskId> = Default::default();
        let mut left: std::collections::HashSet<TaskId> = Default::default();
        for m in steps {
            now = now.plus(Dur(S));
            let mut cmds = Vec::new();
            match m {
                Move::Arrive => {
                    let p = TaskId(next);
                    cmds.push(Command::TaskArrived { task: p, stream: 0, parts: g.parts, part_of: None });
                    for k in 0..g.parts as u64 {
                        cmds.push(Command::TaskArrived { task: TaskId(next + 1 + k), stream: 1, parts: 0, part_of: Some(p) });
                        parts_of.entry(p).or_default().push(TaskId(next + 1 + k));
                    }
                    next += 1 + g.parts as u64;
                }
                Move::Ready(a) => cmds.push(Command::AnnotatorReady { annotator: a }),
                Move::Answer { k, label, accept } => {
                    if let Some(&(id, a, w)) = handed.get(k % handed.len().max(1)) {
                        let answer = if matches!(w, Work::Review { .. }) { Answer::Verdict { accept } } else { Answer::Label(label) };
                        cmds.push(Command::Submitted { assignment: id, annotator: a, answer });
                        cmds.push(Command::AnnotatorReady { annotator: a });
                    }
                }
                Move::Expire(k) => if let Some(&(id, _, _)) = handed.get(k % handed.len().max(1)) { cmds.push(Command::LeaseExpired { assignment: id }) },
                Move::Wait(secs) => { now = now.plus(Dur(secs * S)); cmds.push(Command::TimerFired { timer: Timer::BatchRound }) }
            }
            for cmd in cmds {
                let out = core.handle(cmd, now, &mut rng).to_vec();
                if let Err(e) = core.check() {
                    return Err(TestCaseError::fail(format!("after {cmd:?}: {e}")));
                }
                for e in &out {
                    match e {
                        Effect::Assign { assignment, annotator, work, .. } => {
                            handed.push((*assignment, *annotator, *work));
                            if let Some(t) = work.task() {
                                // Nobody works a task that waits for its parts.
                                prop_assert_ne!(at.get(&t).copied().flatten(), Some(0), "{:?} assigned while waiting for parts", t);
                            }
                        }
                        Effect::StageEntered { task, stage } if task.0 < next && !parts_of.values().any(|v| v.contains(task)) => {
                            let from = at.get(task).copied().flatten();
                            prop_assert!(may_follow(from, *stage), "task {:?}: stage {:?} → {} is no edge of its graph", task, from, stage);
                            if *stage != 0 && from == Some(0) || (from.is_none() && *stage != 0) {
                                // Leaving "waiting for parts": every part is final.
                                for p in parts_of.get(task).into_iter().flatten() {
                                    prop_assert!(is_final.contains(p), "task {:?} started before its part {:?} was final", task, p);
                                }
                            }
                            at.insert(*task, Some(*stage));
                        }
                        Effect::Final { task, .. } => { is_final.insert(*task); at.insert(*task, None); }
                        Effect::Reopened { task, .. } => { is_final.remove(task); }
                        Effect::LeftUnserved { task, .. } => { left.insert(*task); }
                        _ => {}
                    }
                }
            }
        }
        // Every task is final, left unserved, or still open for a reason: waiting for parts,
        // for a model, for people (queued or in someone's hands).
        for t in 0..next {
            let t = TaskId(t);
            if is_final.contains(&t) || left.contains(&t) {
                continue;
            }
            let (v, w) = core.views.both(t).ok_or_else(|| TestCaseError::fail(format!("task {t:?} is neither final, left, nor live")))?;
            let waiting = w.stage == NOT_STARTED && w.parts_pending > 0;
            prop_assert!(waiting || w.pre_annotating || v.open > 0 || w.in_flight > 0, "task {:?} is stuck: {:?} {:?}", t, v, w);
        }
    }
}

#[test]
fn stage_work_is_what_the_stage_says() {
    let q = quality(3);
    let wf = workflow(&q, &adjudication());
    assert!(matches!(wf.stages[0].work, StageWork::Label { overlap: 3, .. }));
    assert!(matches!(wf.stages[1].work, StageWork::Label { overlap: 1, .. }));
    assert_eq!(wf.stages[0].edges[0].to, Target::Stage(1));
    assert_eq!(wf.first_label, Some(0));
}
