//! Synthetic annotators: one actor per person, with hidden skills drawn from their pool's
//! distributions, a shift calendar, a learning curve, fatigue and abandonment.

use super::model::PrelabelWork;
use super::shift::Calendar;
use super::source::draw_prob;
use super::{noisy_label, AnnotatorIdx, Job, Msg};
use crate::kernel::{Actor, ActorId, ActorRng, Context};
use crate::spec::{AccuracySpec, FatigueSpec, LearningSpec, PoolSpec, ServiceDist};
use crate::time::{Dur, SimTime};
use rand::Rng;
use rand_distr::StandardNormal;
use std::sync::Arc;

/// How an annotator's answer depends on the truth (hidden from routing and aggregation).
#[derive(Clone, Debug, PartialEq)]
pub enum Accuracy {
    /// Right with probability p; otherwise a uniformly random wrong class.
    OneCoin(f64),
    /// Row-major `classes × classes` confusion matrix: `m[truth * classes + label]`.
    Confusion { classes: u16, m: Vec<f64> },
}

impl Accuracy {
    /// Draws one annotator's accuracy for a task type with `classes` classes.
    pub fn draw(spec: &AccuracySpec, classes: u16, rng: &mut impl Rng) -> Accuracy {
        match spec {
            AccuracySpec::OneCoin(d) => Accuracy::OneCoin(draw_prob(d, rng).clamp(0.0, 1.0)),
            AccuracySpec::Confusion { diagonal } => {
                let k = classes as usize;
                let mut m = vec![0.0; k * k];
                for t in 0..k {
                    let diag = draw_prob(diagonal, rng).clamp(0.0, 1.0);
                    // Flat Dirichlet over the wrong classes: normalised Exp(1) draws.
                    let w: Vec<f64> = (0..k).map(|l| if l == t { 0.0 } else { -(1.0 - rng.random::<f64>()).ln() }).collect();
                    let sum: f64 = w.iter().sum();
                    for l in 0..k {
                        m[t * k + l] = if l == t {
                            diag
                        } else if sum > 0.0 {
                            (1.0 - diag) * w[l] / sum
                        } else {
                            0.0
                        };
                    }
                }
                Accuracy::Confusion { classes, m }
            }
        }
    }

    /// Probability of the right label for `truth` before difficulty, learning and fatigue.
    pub fn p_correct(&self, truth: u16) -> f64 {
        match self {
            Accuracy::OneCoin(p) => *p,
            Accuracy::Confusion { classes, m } => m[truth as usize * *classes as usize + truth as usize],
        }
    }
}

/// One skill: what the annotator can do on one task type.
#[derive(Clone, Debug)]
pub struct HiddenSkill {
    pub accuracy: Accuracy,
    pub service: ServiceDist,
}

/// Everything that makes one synthetic annotator who they are.
#[derive(Clone, Debug)]
pub struct Profile {
    /// Indexed by task-type index; None = cannot do that type.
    pub skills: Vec<Option<HiddenSkill>>,
    /// Personal time multiplier (1 = the pool's distribution).
    pub speed: f64,
    pub learning: Option<LearningSpec>,
    pub fatigue: Option<FatigueSpec>,
    /// (probability, lease timeout)
    pub abandonment: Option<(f64, Dur)>,
    pub calendar: Calendar,
    /// For members of the review pool: time per review and probability of a right verdict.
    pub review: Option<(ServiceDist, f64)>,
    /// A planted bias (`pools.bias`), for the members it was planted in.
    pub bias: Option<PlantedBias>,
}

/// A planted bias: with probability `strength` the answer is fixed whatever the item.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PlantedBias {
    /// Answers this class (on streams that have it).
    Class { class: u16, strength: f64 },
    /// Picks the preference-pair answer shown on the left (`left`) or on the right.
    Position { left: bool, strength: f64 },
}

impl PlantedBias {
    pub fn from_spec(b: &crate::spec::BiasSpec) -> Option<PlantedBias> {
        match (b.class, b.position) {
            (Some(class), _) => Some(PlantedBias::Class { class, strength: b.strength }),
            (None, Some(side)) => Some(PlantedBias::Position { left: side == crate::spec::Side::Left, strength: b.strength }),
            (None, None) => None,
        }
    }

    /// The biased answer to `job`, if the bias decides it this time (draws only when it applies).
    fn answer(&self, job: &Job, rng: &mut ActorRng) -> Option<u16> {
        match *self {
            PlantedBias::Class { class, strength } if class < job.classes => (rng.random::<f64>() < strength).then_some(class),
            PlantedBias::Position { left, strength } => {
                let swapped = job.swapped?;
                let l = crate::quality::bias::left_label(swapped);
                (rng.random::<f64>() < strength).then_some(if left { l } else { 1 - l })
            }
            _ => None,
        }
    }
}

impl Profile {
    /// Draws a profile for one member of `pool`. `classes_by_type[t]` is the class count of type t.
    pub fn draw(pool: &PoolSpec, types: &[String], classes_by_type: &[u16], calendar: Calendar, rng: &mut ActorRng) -> Profile {
        let skills = types
            .iter()
            .zip(classes_by_type)
            .map(|(t, &classes)| {
                let service = if pool.service.is_empty() { Some(ServiceDist::default()) } else { pool.service.get(t).cloned() }?;
                let spec = pool.accuracy_by_type.get(t).unwrap_or(&pool.accuracy);
                Some(HiddenSkill { accuracy: Accuracy::draw(spec, classes, rng), service })
            })
            .collect();
        let z: f64 = rng.sample(StandardNormal);
        Profile {
            skills,
            speed: (pool.speed_sigma * z).exp(),
            learning: pool.learning.clone(),
            fatigue: pool.fatigue.clone(),
            abandonment: pool.abandonment.as_ref().map(|a| (a.probability, a.timeout)),
            calendar,
            review: None,
            bias: None,
        }
    }
}

/// Fraction of the learning curve reached after `n` items: 1 − 2^(−n/half_life).
fn experience(l: &LearningSpec, n: u64) -> f64 {
    if l.half_life_items <= 0.0 {
        return 1.0;
    }
    1.0 - (-(n as f64) / l.half_life_items * std::f64::consts::LN_2).exp()
}

/// Draws a service time from a distribution [µs].
pub fn draw_service(d: &ServiceDist, rng: &mut impl Rng) -> f64 {
    d.draw(rng)
}

/// The annotator actor.
pub struct Annotator {
    pub idx: AnnotatorIdx,
    pub dispatcher: ActorId,
    pub profile: Profile,
    /// Items labelled so far (drives the learning curve).
    pub items_done: u64,
    on_shift: bool,
    shift_start: SimTime,
    busy: Option<Job>,
    /// What each model's pre-label does to the work, by model index (shared by everyone).
    models: Arc<[PrelabelWork]>,
}

impl Annotator {
    pub fn new(idx: AnnotatorIdx, dispatcher: ActorId, profile: Profile, models: Arc<[PrelabelWork]>) -> Self {
        Annotator { idx, dispatcher, profile, items_done: 0, on_shift: false, shift_start: SimTime::ZERO, busy: None, models }
    }

    fn hours_on_shift(&self, now: SimTime) -> f64 {
        now.since(self.shift_start).hours()
    }

    /// Time this annotator takes on `job` now [µs].
    fn service_time(&self, job: &Job, now: SimTime, rng: &mut ActorRng) -> u64 {
        let dist = match (&job.review, &self.profile.review) {
            (Some(_), Some((review, _))) if !job.review_by_skill => review,
            _ => &self.profile.skills[job.ttype as usize].as_ref().expect("routed to an unskilled annotator").service,
        };
        let t = draw_service(dist, rng) * self.profile.speed * self.learning_factor() * self.fatigue_factor(now) * job.slowdown as f64;
        (t.round() as u64).max(1)
    }

    /// Time multiplier of experience: 1 − speedup·(1 − 2^(−n/h)), at least 0.05 (1 without learning).
    fn learning_factor(&self) -> f64 {
        self.profile.learning.as_ref().map_or(1.0, |l| (1.0 - l.speedup * experience(l, self.items_done)).max(0.05))
    }

    /// Time multiplier of fatigue now (1 without fatigue).
    fn fatigue_factor(&self, now: SimTime) -> f64 {
        self.profile.fatigue.as_ref().map_or(1.0, |f| 1.0 + f.slowdown_per_hour * self.hours_on_shift(now))
    }

    /// What multiplies a time of a pre-label's own distribution: the person's speed, learning,
    /// fatigue and the item's difficulty, as for a time from scratch.
    fn time_scale(&self, job: &Job, now: SimTime) -> f64 {
        self.profile.speed * self.learning_factor() * self.fatigue_factor(now) * job.slowdown as f64
    }

    /// The time [µs] on `job` given the time from scratch `t`: a pre-label of a model changes it
    /// (`PrelabelWork`); a review or an item without one keeps it.
    fn with_prelabel(&self, job: &Job, t: u64, now: SimTime, rng: &mut ActorRng) -> u64 {
        let (Some(pre), None) = (job.prelabel, job.review) else { return t };
        let Some(w) = self.models.get(job.model as usize) else { return t };
        let right = pre == job.truth;
        match w.time(right, t as f64, self.time_scale(job, now), rng) {
            Some(x) => (x.round() as u64).max(1),
            None if right && w.speedup > 1.0 => ((t as f64 / w.speedup as f64).round() as u64).max(1),
            None => t,
        }
    }

    /// Automation bias: a person shown a wrong pre-label keeps it with the model's
    /// `automation_bias` (drawn only then).
    fn keeps_prelabel(&self, job: &Job, rng: &mut ActorRng) -> Option<u16> {
        let pre = job.prelabel.filter(|&p| p != job.truth)?;
        let bias = self.models.get(job.model as usize)?.automation_bias;
        (bias > 0.0 && rng.random::<f64>() < bias).then_some(pre)
    }

    /// A reviewer's verdict on a proposed final label: 1 = accept, 0 = send back. Right with the
    /// reviewer's verdict accuracy (a wrong label is sent back, a right one accepted).
    fn verdict(&self, job: &Job, proposed: u16, rng: &mut ActorRng) -> u16 {
        let p = self.profile.review.as_ref().map_or(0.5, |r| r.1);
        let label_right = proposed == job.truth;
        let verdict_right = rng.random::<f64>() < p;
        (label_right == verdict_right) as u16
    }

    /// The label this annotator gives to `job` now.
    fn answer(&self, job: &Job, now: SimTime, rng: &mut ActorRng) -> u16 {
        if let Some(l) = self.profile.bias.and_then(|b| b.answer(job, rng)) {
            return l;
        }
        let skill = self.profile.skills[job.ttype as usize].as_ref().expect("routed to an unskilled annotator");
        let k = job.classes.max(1) as f64;
        let mut shift = 0.0;
        if let Some(l) = &self.profile.learning {
            shift += l.accuracy_gain * experience(l, self.items_done);
        }
        if let Some(f) = &self.profile.fatigue {
            shift -= f.accuracy_loss_per_hour * self.hours_on_shift(now);
        }
        let d = job.difficulty as f64;
        match &skill.accuracy {
            Accuracy::OneCoin(p) => {
                let p = ((p + shift).clamp(0.0, 1.0) * (1.0 - d) + d / k).clamp(0.0, 1.0);
                noisy_label(job.truth, job.classes, p, rng)
            }
            Accuracy::Confusion { classes, m } => {
                let kk = *classes as usize;
                let row = &m[job.truth as usize * kk..(job.truth as usize + 1) * kk];
                let u: f64 = rng.random();
                let mut acc = 0.0;
                for (l, &p) in row.iter().enumerate() {
                    // Difficulty blends the row with the uniform; learning/fatigue move mass on/off the diagonal.
                    let mut q = p * (1.0 - d) + d / k;
                    if l == job.truth as usize {
                        q = (q + shift).clamp(0.0, 1.0);
                    } else if kk > 1 {
                        q = (q - shift / (k - 1.0)).max(0.0);
                    }
                    acc += q;
                    if u < acc {
                        return l as u16;
                    }
                }
                job.truth
            }
        }
    }

    fn schedule_shift_change<C: Context<Msg> + ?Sized>(&self, ctx: &mut C) {
        if let Some(at) = self.profile.calendar.next_change(ctx.now()) {
            let msg = if self.profile.calendar.is_on(at) { Msg::ShiftStart } else { Msg::ShiftEnd };
            let me = ctx.me();
            ctx.send_in(at.since(ctx.now()), me, msg);
        }
    }
}

impl Actor<Msg> for Annotator {
    fn handle<C: Context<Msg> + ?Sized>(&mut self, msg: Msg, ctx: &mut C) {
        match msg {
            Msg::Start => {
                if self.profile.calendar.is_on(ctx.now()) {
                    self.on_shift = true;
                    self.shift_start = ctx.now();
                    ctx.send(self.dispatcher, Msg::Available { annotator: self.idx });
                }
                self.schedule_shift_change(ctx);
            }
            Msg::ShiftStart => {
                self.on_shift = true;
                self.shift_start = ctx.now();
                if self.busy.is_none() {
                    ctx.send(self.dispatcher, Msg::Available { annotator: self.idx });
                }
                self.schedule_shift_change(ctx);
            }
            Msg::ShiftEnd => {
                self.on_shift = false;
                if self.busy.is_none() {
                    ctx.send(self.dispatcher, Msg::Unavailable { annotator: self.idx });
                }
                self.schedule_shift_change(ctx);
            }
            Msg::Assign(job) => {
                self.busy = Some(job);
                let me = ctx.me();
                let now = ctx.now();
                if let Some((p, timeout)) = self.profile.abandonment {
                    if ctx.rng().random::<f64>() < p {
                        ctx.send_in(timeout, me, Msg::AbandonTimeout);
                        return;
                    }
                }
                let t = self.service_time(&job, now, ctx.rng());
                let t = self.with_prelabel(&job, t, now, ctx.rng());
                ctx.send_in(Dur(t), me, Msg::WorkDone);
            }
            Msg::WorkDone => {
                let Some(job) = self.busy.take() else { return };
                let now = ctx.now();
                let label = match job.review {
                    Some(proposed) => self.verdict(&job, proposed, ctx.rng()),
                    None => {
                        self.items_done += 1;
                        match self.keeps_prelabel(&job, ctx.rng()) {
                            Some(pre) => pre,
                            None => self.answer(&job, now, ctx.rng()),
                        }
                    }
                };
                ctx.send(self.dispatcher, Msg::Submit { annotator: self.idx, assignment: job.assignment, label, review: job.review.is_some(), leaving: !self.on_shift });
            }
            Msg::AbandonTimeout => {
                let Some(job) = self.busy.take() else { return };
                ctx.send(self.dispatcher, Msg::Abandoned { annotator: self.idx, assignment: job.assignment, leaving: !self.on_shift });
            }
            _ => {}
        }
    }
}
