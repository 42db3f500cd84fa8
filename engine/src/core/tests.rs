//! The decision core alone: the transition table walked row by row, and property tests that drive
//! it with random command sequences (duplicates, late and out-of-order answers, expiries, bans in
//! mid-lease, re-opens, dynamic overlap) and check its invariants after every step.

use super::*;
use crate::dispatch::{Fifo, Skill};
use crate::ledger::Pay;
use crate::spec::Modality;
use crate::spec::{Condition, EdgeSpec, RuleAction, RuleMetric, RuleSpec, StageKind, StageSpec, Verdict};
use workflow::StageWork;
use crate::time::Dur;
use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

pub(super) const S: u64 = 1_000_000;

/// Quality settings of a test core: the core's own, plus what the workflow's stages take.
pub(super) struct Q {
    pub(super) cfg: QualityConfig,
    pub(super) overlap: u16,
    pub(super) dynamic: Option<(u16, f32)>,
    pub(super) weighted: bool,
    /// Review of a sample: (sample, below_confidence, max_reworks).
    pub(super) review: Option<(f64, f32, u16)>,
}

impl std::ops::Deref for Q {
    type Target = QualityConfig;
    fn deref(&self) -> &QualityConfig {
        &self.cfg
    }
}
impl std::ops::DerefMut for Q {
    fn deref_mut(&mut self) -> &mut QualityConfig {
        &mut self.cfg
    }
}

pub(super) fn quality(overlap: u16) -> Q {
    let cfg = QualityConfig { gold_rate: 0.0, rules: Vec::new(), reopen_within: 3600 * S, batch: None, trust_prior_strength: 4.0 };
    Q { cfg, overlap, dynamic: None, weighted: false, review: None }
}

pub(super) fn spec(name: &str, kind: StageKind, next: Vec<EdgeSpec>) -> StageSpec {
    StageSpec { next, ..StageSpec::new(name, kind) }
}

pub(super) fn edge(to: &str, when: Condition) -> EdgeSpec {
    EdgeSpec { to: to.into(), when }
}

/// A workflow of stages: label stages get the overlap, dynamic overlap and aggregation of `q`
/// unless their spec sets an overlap; review stages take `q.review`'s max reworks; model stages
/// model 0. Stage i has run-wide number i; nobody is named, so reviews go to reviewers.
pub(super) fn workflow(q: &Q, stages: &[StageSpec]) -> Workflow {
    Workflow::build(stages, |i, x| {
        let work = match x.kind {
            StageKind::Label => StageWork::Label { overlap: x.overlap.map_or(q.overlap, |o| o as u16), dynamic: q.dynamic, weighted: q.weighted },
            StageKind::Review => StageWork::Review { overlap: x.overlap.unwrap_or(1) as u16, max_reworks: q.review.map_or(2, |r| r.2) },
            StageKind::Model => StageWork::Model { model: 0 },
        };
        Ok((work, 0, 0, i as u16))
    })
    .unwrap()
}

/// The chain label → (review of a sample) → final, as the scenario's chain syntax builds it.
pub(super) fn chain(q: &Q) -> Vec<StageSpec> {
    match q.review {
        None => vec![spec("label", StageKind::Label, vec![])],
        Some((sample, below, _)) => vec![
            spec("label", StageKind::Label, vec![edge("review", Condition::ConfidenceBelow(below as f64)), edge("review", Condition::Sampled(sample))]),
            spec("review", StageKind::Review, vec![edge("rework", Condition::Verdict(Verdict::Reject))]),
        ],
    }
}

pub(super) fn stream_with(wf: Workflow) -> StreamInfo {
    StreamInfo {
        name: "items".into(),
        task_type: "classification".into(),
        ttype: 0,
        modality: Modality::Text,
        classes: 3,
        priority: 0,
        deadline: None,
        language: None,
        workflow: wf,
        model: None,
        waiting_sid: None,
        mean_difficulty: 0.0,
        difficulty_slowdown: 0.0,
        min_accuracy: 0.0,
        holding_cost: 1.0,
        patience: None,
    }
}

/// `n` annotators; the last `reviewers` of them review.
pub(super) fn people(n: u32, reviewers: u32) -> Vec<AnnotatorView> {
    (0..n)
        .map(|idx| AnnotatorView {
            idx,
            pool: 0,
            skills: vec![Some(Skill { accuracy: 0.9, mean_secs: 30.0, cost_per_item: 0.1 })],
            languages: Default::default(),
            idle_since: SimTime::ZERO,
            trust: 0.9,
            banned: false,
            reserved_for: Default::default(),
            reviewer: idx >= n - reviewers,
            stages: Default::default(),
        })
        .collect()
}

pub(super) fn core_of(q: Q, streams: Vec<StreamInfo>, n: u32, reviewers: u32) -> Core {
    let models = vec![ModelInfo { cost: 0.01 }];
    let cfg = CoreConfig { streams, quality: q.cfg, models, pay: vec![Pay::PerItem(0.1); n as usize], late_window: 3600 * S, learn_speed: None };
    Core::new(cfg, Box::new(Fifo), people(n, reviewers))
}

pub(super) fn core_with(q: Q, n: u32, reviewers: u32) -> Core {
    let st = stream_with(workflow(&q, &chain(&q)));
    core_of(q, vec![st], n, reviewers)
}

/// A core, a clock and a random stream.
pub(super) struct Bench {
    pub(super) core: Core,
    pub(super) now: SimTime,
    pub(super) rng: ChaCha8Rng,
}

impl Bench {
    pub(super) fn new(core: Core) -> Bench {
        Bench { core, now: SimTime::ZERO, rng: ChaCha8Rng::seed_from_u64(5) }
    }
    pub(super) fn go(&mut self, cmd: Command) -> Vec<Effect> {
        self.now = self.now.plus(Dur(S));
        let out = self.core.handle(cmd, self.now, &mut self.rng).to_vec();
        self.core.check().unwrap_or_else(|e| panic!("after {cmd:?}: {e}"));
        out
    }
    pub(super) fn arrive(&mut self, t: u64) -> Vec<Effect> {
        self.go(Command::TaskArrived { task: TaskId(t), stream: 0, parts: 0, part_of: None })
    }
    pub(super) fn ready(&mut self, a: AnnotatorId) -> Vec<Effect> {
        self.go(Command::AnnotatorReady { annotator: a })
    }
    pub(super) fn label(&mut self, id: AssignmentId, a: AnnotatorId, l: u16) -> Vec<Effect> {
        self.go(Command::Submitted { assignment: id, annotator: a, answer: Answer::Label(l) })
    }
}

pub(super) fn assigned(out: &[Effect]) -> Vec<(AssignmentId, AnnotatorId, Work)> {
    out.iter().filter_map(|e| if let Effect::Assign { assignment, annotator, work, .. } = e { Some((*assignment, *annotator, *work)) } else { None }).collect()
}

pub(super) fn has(out: &[Effect], f: impl Fn(&Effect) -> bool) -> bool {
    out.iter().any(f)
}

pub(super) fn fate(out: &[Effect]) -> Option<LabelFate> {
    out.iter().find_map(|e| if let Effect::LabelStored { fate, .. } = e { Some(*fate) } else { None })
}

pub(super) fn rejected(out: &[Effect]) -> Option<Rejection> {
    out.iter().find_map(|e| if let Effect::Rejected { reason, .. } = e { Some(*reason) } else { None })
}

#[test]
fn a_task_collects_its_overlap_then_is_final_and_settles() {
    let mut b = Bench::new(core_with(quality(2), 3, 0));
    b.arrive(0);
    let a0 = assigned(&b.ready(0));
    let a1 = assigned(&b.ready(1));
    assert_eq!(a0.len() + a1.len(), 2, "two slots, two annotators");
    assert!(assigned(&b.ready(2)).is_empty(), "no third slot");
    let out = b.label(a0[0].0, 0, 1);
    assert_eq!(fate(&out), Some(LabelFate::Counted));
    assert!(!has(&out, |e| matches!(e, Effect::Final { .. })));
    let out = b.label(a1[0].0, 1, 1);
    assert!(has(&out, |e| matches!(e, Effect::Final { label: 1, confidence, .. } if *confidence == 1.0)));
    assert!(has(&out, |e| matches!(e, Effect::Settled { .. })), "no rule can re-open: it settles at once");
    assert!(has(&out, |e| matches!(e, Effect::Paid { usd, task: Some(_), .. } if *usd == 0.1)));
    assert_eq!(b.core.live_tasks(), 0);
}

#[test]
fn a_duplicate_submission_changes_nothing() {
    let mut b = Bench::new(core_with(quality(2), 2, 0));
    b.arrive(0);
    let a = assigned(&b.ready(0))[0].0;
    b.label(a, 0, 2);
    let out = b.label(a, 0, 2);
    assert_eq!(out, vec![Effect::Duplicate { assignment: a }]);
    assert_eq!(b.core.counted_labels(TaskId(0)), Some(1));
}

#[test]
fn a_late_label_counts_when_its_slot_was_not_leased_again() {
    let mut b = Bench::new(core_with(quality(1), 2, 0));
    b.arrive(0);
    let a = assigned(&b.ready(0))[0].0;
    let out = b.go(Command::LeaseExpired { assignment: a });
    assert!(has(&out, |e| matches!(e, Effect::LeaseClosed { how: Closed::Expired, .. })));
    assert_eq!(b.core.queue_len(), 1, "the slot is open again");
    let out = b.label(a, 0, 2);
    assert_eq!(fate(&out), Some(LabelFate::Counted));
    assert!(has(&out, |e| matches!(e, Effect::Final { label: 2, .. })), "the late label filled the slot: final");
    assert_eq!(b.core.queue_len(), 0);
}

#[test]
fn a_late_label_is_an_extra_when_its_slot_was_leased_again() {
    let mut b = Bench::new(core_with(quality(1), 2, 0));
    b.arrive(0);
    let first = assigned(&b.ready(0))[0].0;
    b.go(Command::LeaseExpired { assignment: first });
    let second = assigned(&b.ready(1))[0].0;
    let out = b.label(first, 0, 0);
    assert_eq!(fate(&out), Some(LabelFate::Extra));
    assert!(has(&out, |e| matches!(e, Effect::Paid { task: None, usd, .. } if *usd == 0.1)), "an extra is paid");
    assert_eq!(b.core.counted_labels(TaskId(0)), Some(0));
    let out = b.label(second, 1, 1);
    assert!(has(&out, |e| matches!(e, Effect::Final { label: 1, .. })));
}

#[test]
fn a_label_for_a_task_that_became_final_meanwhile_is_an_extra() {
    let mut b = Bench::new(core_with(quality(1), 2, 0));
    b.arrive(0);
    let first = assigned(&b.ready(0))[0].0;
    b.go(Command::LeaseExpired { assignment: first });
    let second = assigned(&b.ready(1))[0].0;
    b.label(second, 1, 1);
    assert_eq!(b.core.live_tasks(), 0);
    let out = b.label(first, 0, 2);
    assert_eq!(fate(&out), Some(LabelFate::Extra));
}

#[test]
fn a_return_after_a_ban_with_reopen_is_kept_but_not_counted() {
    let mut q = quality(2);
    q.gold_rate = 0.0;
    q.rules =
        vec![RuleSpec { metric: RuleMetric::Agreement, window: 1, min_answers: 1, below: Some(0.9), above: None, action: RuleAction::Ban, value: None, duration: Some(Dur(3600 * S)), reopen: true, false_ban_rate: None }];
    let mut b = Bench::new(core_with(q, 2, 0));
    b.arrive(0);
    b.arrive(1);
    let x = assigned(&b.ready(0)); // task 0
    let y = assigned(&b.ready(1)); // task 0 (overlap 2)
    assert_eq!((x[0].2, y[0].2), (Work::Label { task: TaskId(0) }, Work::Label { task: TaskId(0) }));
    b.label(y[0].0, 1, 2);
    let z = assigned(&b.ready(1)); // task 1
    assert_eq!(z[0].2, Work::Label { task: TaskId(1) });
    // Annotator 0's label makes task 0 final with label 1 (a tie goes to the lower label):
    // annotator 1 disagreed and is banned with re-open while holding task 1.
    let out = b.label(x[0].0, 0, 1);
    assert!(has(&out, |e| matches!(e, Effect::Final { task: TaskId(0), label: 1, .. })));
    assert!(has(&out, |e| matches!(e, Effect::Banned { annotator: 1, until: Some(_) })), "{out:?}");
    assert!(has(&out, |e| matches!(e, Effect::Schedule { timer: Timer::Unban(1), .. })));
    assert!(has(&out, |e| matches!(e, Effect::Reopened { task: TaskId(0), .. })), "its provisional final label re-opens");
    // The label annotator 1 returns after the ban is kept and paid, not counted.
    let out = b.label(z[0].0, 1, 0);
    assert_eq!(fate(&out), Some(LabelFate::Discarded));
    assert!(has(&out, |e| matches!(e, Effect::Paid { annotator: 1, task: None, .. })));
    assert_eq!(b.core.counted_labels(TaskId(1)), Some(0));
    // Annotator 1 holds nothing now; ready gives them nothing while banned.
    assert!(assigned(&b.ready(1)).is_empty());
    let out = b.go(Command::TimerFired { timer: Timer::Unban(1) });
    assert!(has(&out, |e| matches!(e, Effect::Unbanned { annotator: 1 })));
}

#[test]
fn a_wrong_golden_answer_checks_trust_and_bans() {
    let mut q = quality(1);
    q.rules = vec![RuleSpec { metric: RuleMetric::GoldAccuracy, window: 1, min_answers: 1, below: Some(0.5), above: None, action: RuleAction::Ban, value: None, duration: None, reopen: true, false_ban_rate: None }];
    q.gold_rate = 1.0;
    let mut b = Bench::new(core_with(q, 2, 0));
    // Annotator 0 gets a golden item first (gold_rate 1), answers it wrong, and is banned.
    let gold = assigned(&b.ready(0));
    let Work::Gold { answer, .. } = gold[0].2 else { panic!("expected a golden item, got {gold:?}") };
    let out = b.label(gold[0].0, 0, (answer + 1) % 3);
    assert!(has(&out, |e| matches!(e, Effect::GoldChecked { right: false, .. })));
    assert!(has(&out, |e| matches!(e, Effect::Banned { annotator: 0, until: None })));
    // A ready banned annotator gets nothing.
    assert!(assigned(&b.ready(0)).is_empty());
}

#[test]
fn invalid_answers_are_rejected_with_a_reason_and_change_nothing() {
    let mut b = Bench::new(core_with(quality(2), 2, 0));
    b.arrive(0);
    let a = assigned(&b.ready(0))[0].0;
    assert_eq!(rejected(&b.label(AssignmentId(99), 0, 0)), Some(Rejection::UnknownAssignment));
    assert_eq!(rejected(&b.label(a, 1, 0)), Some(Rejection::NotTheHolder));
    assert_eq!(rejected(&b.label(a, 0, 7)), Some(Rejection::LabelOutOfRange));
    let verdict = b.go(Command::Submitted { assignment: a, annotator: 0, answer: Answer::Verdict { accept: true } });
    assert_eq!(rejected(&verdict), Some(Rejection::WrongAnswerKind));
    assert_eq!(rejected(&b.ready(0)), Some(Rejection::StillHolding));
    assert_eq!(rejected(&b.go(Command::LeaseExpired { assignment: AssignmentId(42) })), Some(Rejection::UnknownAssignment));
    assert_eq!(rejected(&b.arrive(0)), Some(Rejection::DuplicateTask));
    assert_eq!(rejected(&b.go(Command::TaskArrived { task: TaskId(5), stream: 9, parts: 0, part_of: None })), Some(Rejection::UnknownStream));
    assert_eq!(rejected(&b.ready(77)), Some(Rejection::UnknownAnnotator));
    assert_eq!(rejected(&b.go(Command::PreLabelled { task: TaskId(8), label: 0, confidence: 0.5 })), Some(Rejection::UnknownTask));
    // The lease is still open and still counts.
    assert_eq!(fate(&b.label(a, 0, 1)), Some(LabelFate::Counted));
    assert_eq!(rejected(&b.go(Command::LeaseExpired { assignment: a })), Some(Rejection::LeaseNotOpen));
}

#[test]
fn a_skip_means_the_task_is_never_offered_to_that_annotator_again() {
    let mut b = Bench::new(core_with(quality(1), 2, 0));
    b.arrive(0);
    let a = assigned(&b.ready(0))[0].0;
    let out = b.go(Command::Returned { assignment: a, annotator: 0, skip: true });
    assert!(has(&out, |e| matches!(e, Effect::LeaseClosed { how: Closed::Skipped, .. })));
    assert!(assigned(&b.ready(0)).is_empty(), "skipped: not offered again");
    assert_eq!(assigned(&b.ready(1)).len(), 1);
}

#[test]
fn a_returned_task_may_come_back_to_the_same_annotator() {
    let mut b = Bench::new(core_with(quality(1), 1, 0));
    b.arrive(0);
    let a = assigned(&b.ready(0))[0].0;
    b.go(Command::Returned { assignment: a, annotator: 0, skip: false });
    assert_eq!(assigned(&b.ready(0)).len(), 1);
}

#[test]
fn review_rejects_send_the_task_back_and_accepts_make_it_final() {
    let mut q = quality(1);
    q.review = Some((1.0, 0.0, 1));
    let mut b = Bench::new(core_with(q, 2, 1));
    b.arrive(0);
    let a = assigned(&b.ready(0))[0].0;
    let out = b.label(a, 0, 2);
    assert!(has(&out, |e| matches!(e, Effect::ReviewRequested { .. })));
    let r = assigned(&b.ready(1));
    assert!(matches!(r[0].2, Work::Review { proposed: 2, .. }), "{r:?}");
    assert_eq!(rejected(&b.label(r[0].0, 1, 0)), Some(Rejection::WrongAnswerKind));
    let out = b.go(Command::Submitted { assignment: r[0].0, annotator: 1, answer: Answer::Verdict { accept: false } });
    assert!(has(&out, |e| matches!(e, Effect::Rework { .. })));
    // A fresh round of labels: annotator 0 may label it again.
    let again = assigned(&b.ready(0));
    assert_eq!(again.len(), 1);
    let out = b.label(again[0].0, 0, 1);
    // max_reworks = 1 reached: no second review, final.
    assert!(has(&out, |e| matches!(e, Effect::Final { label: 1, .. })), "{out:?}");
}

#[test]
fn closed_leases_are_forgotten_after_the_late_window() {
    let mut b = Bench::new(core_with(quality(1), 1, 0));
    b.arrive(0);
    let a = assigned(&b.ready(0))[0].0;
    b.label(a, 0, 0);
    b.now = b.now.plus(Dur(7200 * S));
    assert_eq!(rejected(&b.label(a, 0, 0)), Some(Rejection::ForgottenAssignment));
}

#[test]
fn dynamic_overlap_asks_for_more_labels_until_confident() {
    let mut q = quality(2);
    q.dynamic = Some((4, 0.95));
    let mut b = Bench::new(core_with(q, 4, 0));
    b.arrive(0);
    let x = assigned(&b.ready(0))[0].0;
    let y = assigned(&b.ready(1))[0].0;
    b.label(x, 0, 0);
    let out = b.label(y, 1, 1);
    assert!(!has(&out, |e| matches!(e, Effect::Final { .. })), "disagreement: a third label is wanted");
    assert_eq!(b.core.queue_len(), 1);
}

#[test]
fn away_annotators_get_nothing_and_come_back_on_ready() {
    let mut b = Bench::new(core_with(quality(1), 1, 0));
    assert!(has(&b.ready(0), |e| matches!(e, Effect::OnShift { annotator: 0 })));
    assert!(has(&b.go(Command::AnnotatorAway { annotator: 0 }), |e| matches!(e, Effect::OffShift { annotator: 0 })));
    assert!(assigned(&b.arrive(0)).is_empty(), "nobody is on shift");
    assert_eq!(assigned(&b.ready(0)).len(), 1);
}

// ---- property tests ----

/// One step of a random session, with ids drawn from small ranges so that duplicates, unknown
/// ids, wrong holders and late answers are frequent.
#[derive(Clone, Debug)]
enum Step {
    Arrive,
    Ready(u32),
    Away(u32),
    /// Answer the k-th assignment handed out so far (mod their number), by its holder or not.
    Answer {
        k: usize,
        label: u16,
        verdict: bool,
        by_holder: bool,
    },
    Expire(usize),
    Return {
        k: usize,
        skip: bool,
    },
    Unban(u32),
    Wait(u64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        2 => Just(Step::Arrive),
        3 => (0..6u32).prop_map(Step::Ready),
        1 => (0..6u32).prop_map(Step::Away),
        5 => (0..64usize, 0..4u16, any::<bool>(), prop::bool::weighted(0.9)).prop_map(|(k, label, verdict, by_holder)| Step::Answer { k, label, verdict, by_holder }),
        1 => (0..64usize).prop_map(Step::Expire),
        1 => (0..64usize, any::<bool>()).prop_map(|(k, skip)| Step::Return { k, skip }),
        1 => (0..6u32).prop_map(Step::Unban),
        1 => (1..20_000u64).prop_map(Step::Wait),
    ]
}

fn fuzz_core(variant: u8) -> Core {
    let mut q = quality(2);
    q.gold_rate = 0.15;
    q.reopen_within = 600 * S;
    q.rules = vec![
        RuleSpec { metric: RuleMetric::GoldAccuracy, window: 3, min_answers: 2, below: Some(0.6), above: None, action: RuleAction::Ban, value: None, duration: Some(Dur(300 * S)), reopen: true, false_ban_rate: None },
        RuleSpec { metric: RuleMetric::Agreement, window: 4, min_answers: 3, below: Some(0.4), above: None, action: RuleAction::Ban, value: None, duration: None, reopen: variant % 2 == 0, false_ban_rate: None },
    ];
    if variant % 3 != 0 {
        q.dynamic = Some((4, 0.9));
        q.weighted = variant % 3 == 1;
    }
    let review = variant % 4 < 2;
    if review {
        q.review = Some((0.5, 0.6, 2));
    }
    let mut c = core_with(q, 5, 1);
    c.cfg.late_window = 2000 * S;
    c
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, max_shrink_iters: 2000, .. ProptestConfig::default() })]

    #[test]
    fn random_command_sequences_keep_every_invariant(variant in 0u8..12, steps in prop::collection::vec(step(), 1..120), seed in any::<u64>()) {
        let mut core = fuzz_core(variant);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut now = SimTime::ZERO;
        let mut next_task = 0u64;
        let mut handed: Vec<(AssignmentId, AnnotatorId)> = Vec::new();
        // Per task: finals since its last re-open.
        let mut finals: std::collections::HashMap<TaskId, i32> = Default::default();
        for s in steps {
            now = now.plus(Dur(S));
            let cmd = match s {
                Step::Arrive => { next_task += 1; Command::TaskArrived { task: TaskId(next_task - 1), stream: 0, parts: 0, part_of: None } }
                Step::Ready(a) => Command::AnnotatorReady { annotator: a },
                Step::Away(a) => Command::AnnotatorAway { annotator: a },
                Step::Answer { k, label, verdict, by_holder } => {
                    let (id, holder) = handed.get(k % handed.len().max(1)).copied().unwrap_or((AssignmentId(k as u64), 0));
                    let answer = if verdict { Answer::Verdict { accept: label % 2 == 0 } } else { Answer::Label(label) };
                    Command::Submitted { assignment: id, annotator: if by_holder { holder } else { (holder + 1) % 5 }, answer }
                }
                Step::Expire(k) => Command::LeaseExpired { assignment: handed.get(k % handed.len().max(1)).map_or(AssignmentId(k as u64), |h| h.0) },
                Step::Return { k, skip } => {
                    let (id, holder) = handed.get(k % handed.len().max(1)).copied().unwrap_or((AssignmentId(k as u64), 0));
                    Command::Returned { assignment: id, annotator: holder, skip }
                }
                Step::Unban(a) => Command::TimerFired { timer: Timer::Unban(a) },
                Step::Wait(secs) => { now = now.plus(Dur(secs * S)); Command::TimerFired { timer: Timer::BatchRound } }
            };
            let out = core.handle(cmd, now, &mut rng).to_vec();
            if let Err(e) = core.check() {
                return Err(TestCaseError::fail(format!("after {cmd:?}: {e}")));
            }
            let mut answered = 0;
            for e in &out {
                match e {
                    Effect::Assign { assignment, annotator, .. } => handed.push((*assignment, *annotator)),
                    Effect::Final { task, .. } => {
                        let f = finals.entry(*task).or_default();
                        *f += 1;
                        prop_assert!(*f <= 1, "two final labels for {task:?} without a re-open");
                    }
                    Effect::Reopened { task, .. } => { finals.insert(*task, 0); }
                    Effect::LabelStored { .. } | Effect::GoldChecked { .. } | Effect::Reviewed { .. } => answered += 1,
                    _ => {}
                }
            }
            if let Command::Submitted { .. } = cmd {
                let accepted = !out.iter().any(|e| matches!(e, Effect::Rejected { .. } | Effect::Duplicate { .. }));
                // Every accepted answer is stored exactly once (counted, extra or discarded).
                prop_assert_eq!(answered, accepted as i32, "{:?} -> {:?}", cmd, out);
            }
        }
    }
}


#[test]
fn queue_patience_ends_a_wait_for_the_first_annotator_only() {
    let mut c = core_with(quality(2), 2, 0);
    c.cfg.streams[0].patience = Some(crate::spec::ServiceDist::Fixed(Dur(60 * S)));
    let mut b = Bench::new(c);
    // Task 0 arrives with nobody on shift: its patience is scheduled, it waits, then leaves.
    let out = b.arrive(0);
    let at = out.iter().find_map(|e| if let Effect::Schedule { at, timer: Timer::Patience(TaskId(0)) } = e { Some(*at) } else { None }).expect("patience scheduled");
    assert_eq!(at, SimTime(S + 60 * S));
    assert_eq!(b.core.queue_len(), 1);
    let out = b.go(Command::TimerFired { timer: Timer::Patience(TaskId(0)) });
    assert!(has(&out, |e| matches!(e, Effect::LeftUnserved { task: TaskId(0), stream: 0 })));
    assert_eq!((b.core.queue_len(), b.core.live_tasks()), (0, 0));
    // Its patience again, or a pre-label for it: nothing changes (gone), no second departure.
    let out = b.go(Command::TimerFired { timer: Timer::Patience(TaskId(0)) });
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(rejected(&b.go(Command::PreLabelled { task: TaskId(0), label: 1, confidence: 0.5 })), Some(Rejection::UnknownTask));
    // Task 1 gets one of its two labels started: it stays when its patience runs out, still
    // queued for its second slot, and ends final.
    b.arrive(1);
    let a = assigned(&b.ready(0));
    assert_eq!(a.len(), 1);
    let out = b.go(Command::TimerFired { timer: Timer::Patience(TaskId(1)) });
    assert!(out.is_empty() && b.core.live_tasks() == 1 && b.core.queue_len() == 1, "{out:?}");
    b.label(a[0].0, 0, 1);
    let a = assigned(&b.ready(1));
    assert!(has(&b.label(a[0].0, 1, 1), |e| matches!(e, Effect::Final { task: TaskId(1), .. })));
}

#[test]
fn a_live_core_learns_people_speeds_golden_answers_and_task_overrides() {
    // Speed: declared 30 s; answered 3 handling times of 10 s with a learning weight of 0.5.
    let mut core = core_with(quality(1), 1, 0);
    core.cfg.learn_speed = Some(0.5);
    let mut b = Bench::new(core);
    for t in 0..3 {
        b.arrive(t);
        let (id, ..) = assigned(&b.ready(0))[0];
        b.now = b.now.plus(Dur(9 * S)); // `go` adds the tenth second
        b.label(id, 0, 1);
    }
    let secs = b.core.annotators()[0].skills[0].unwrap().mean_secs;
    assert!((secs - (30.0 * 0.125 + 10.0 * 0.875)).abs() < 1e-9, "{secs}");
    // Without learn_speed (the simulation) the declared speed stays.
    let mut s = Bench::new(core_with(quality(1), 1, 0));
    s.arrive(0);
    let (id, ..) = assigned(&s.ready(0))[0];
    s.label(id, 0, 1);
    assert_eq!(s.core.annotators()[0].skills[0].unwrap().mean_secs, 30.0);

    // Registration at run time; a reservation and an exclusion; a task's own priority.
    let mut b = Bench::new(core_with(quality(1), 1, 0));
    let new = b.core.add_annotator(people(1, 0).pop().unwrap(), Pay::PerItem(0.2));
    assert_eq!(new, 1);
    b.core.check().unwrap();
    let over = TaskOverrides { reserved_for: vec![1], ..Default::default() };
    b.core.arrive_with(TaskId(10), 0, 0, None, over, b.now, &mut b.rng);
    assert!(!b.core.has_waiting_for(0) && b.core.has_waiting_for(1), "reserved for 1");
    assert!(assigned(&b.ready(0)).is_empty());
    b.go(Command::AnnotatorAway { annotator: 0 });
    assert_eq!(assigned(&b.ready(1))[0].2, Work::Label { task: TaskId(10) });
    let over = TaskOverrides { unavailable_for: vec![1], priority: Some(7), ..Default::default() };
    b.core.arrive_with(TaskId(11), 0, 0, None, over, b.now, &mut b.rng);
    assert_eq!(b.core.task_view(TaskId(11)).map(|v| v.priority), Some(7));
    assert!(b.core.has_waiting_for(0));

    // Golden items only with the answers real golden tasks hold; none when there are none.
    let mut q = quality(1);
    q.gold_rate = 1.0;
    let mut g = Bench::new(core_with(q, 1, 0));
    g.core.set_gold_answers(0, vec![]);
    g.arrive(0);
    assert!(matches!(assigned(&g.ready(0))[0].2, Work::Label { .. }), "no golden task: real work");
    let mut q = quality(1);
    q.gold_rate = 1.0;
    let mut g = Bench::new(core_with(q, 1, 0));
    g.core.set_gold_answers(0, vec![2]);
    g.arrive(0);
    assert_eq!(assigned(&g.ready(0))[0].2, Work::Gold { stream: 0, answer: 2 });
}
