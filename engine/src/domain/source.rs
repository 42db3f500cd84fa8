//! Task sources: one actor per stream, producing arrivals (Poisson, hourly schedule, batch drops).

use super::{Msg, NewTask};
use crate::kernel::{Actor, ActorId, Context};
use crate::spec::{ArrivalSpec, DifficultySpec, ProbDist};
use crate::time::{Dur, US_PER_HOUR};
use rand::Rng;

/// How arrivals are timed.
#[derive(Clone, Debug)]
pub enum ArrivalProcess {
    /// [tasks/µs]
    Poisson { rate: f64 },
    /// [tasks/µs] for each hour of the week (168 entries, Monday 00:00 first).
    Schedule { rate: Vec<f64> },
    Batch { size: u32, every: Dur, first: Dur },
    /// (start, end, [tasks/µs]) intervals of a demand curve, in time order; none after the last.
    Curve { pieces: Vec<(u64, u64, f64)> },
}

impl ArrivalProcess {
    pub fn from_spec(spec: &ArrivalSpec) -> ArrivalProcess {
        let per_us = |per_hour: f64| per_hour / US_PER_HOUR as f64;
        match spec {
            ArrivalSpec::Poisson { per_hour } => ArrivalProcess::Poisson { rate: per_us(*per_hour) },
            ArrivalSpec::Schedule { .. } => ArrivalProcess::Schedule { rate: spec.hourly_rates().unwrap_or_default().into_iter().map(per_us).collect() },
            ArrivalSpec::Batch { size, every, first } => ArrivalProcess::Batch { size: *size, every: *every, first: *first },
            ArrivalSpec::Curve { intervals } => {
                let mut pieces: Vec<(u64, u64, f64)> = intervals.iter().filter(|i| i.end.0 > i.start.0).map(|i| (i.start.0, i.end.0, i.count.max(0.0) / (i.end.0 - i.start.0) as f64)).collect();
                pieces.sort_by_key(|p| p.0);
                ArrivalProcess::Curve { pieces }
            }
        }
    }

    /// Mean arrival rate over a week [tasks/h].
    pub fn mean_per_hour(&self) -> f64 {
        match self {
            ArrivalProcess::Poisson { rate } => rate * US_PER_HOUR as f64,
            ArrivalProcess::Schedule { rate } => rate.iter().sum::<f64>() / 168.0 * US_PER_HOUR as f64,
            ArrivalProcess::Batch { size, every, .. } => *size as f64 / every.hours(),
            ArrivalProcess::Curve { pieces } => {
                let span: u64 = pieces.iter().map(|p| p.1 - p.0).sum();
                if span == 0 { 0.0 } else { pieces.iter().map(|p| p.2 * (p.1 - p.0) as f64).sum::<f64>() / span as f64 * US_PER_HOUR as f64 }
            }
        }
    }
}

/// Next arrival instant of a Poisson process with a piecewise-constant rate over the intervals
/// of a demand curve (sorted, not overlapping), by inversion of the integrated rate. None after
/// the last interval.
fn next_on_curve(now: u64, pieces: &[(u64, u64, f64)], rng: &mut impl Rng) -> Option<u64> {
    let mut need = -(1.0 - rng.random::<f64>()).ln();
    let first = pieces.partition_point(|p| p.1 <= now);
    for &(start, end, rate) in &pieces[first..] {
        let from = start.max(now);
        let span = (end - from) as f64;
        if rate > 0.0 && need <= rate * span {
            return Some(from + ((need / rate).round() as u64).min(end - from - 1));
        }
        need -= rate * span;
    }
    None
}

/// Next arrival instant of a non-homogeneous Poisson process with a piecewise-constant hourly rate,
/// by inversion of the integrated rate: exact, no thinning. None when the rate is zero all week.
fn next_scheduled(now: u64, rate: &[f64], rng: &mut impl Rng) -> Option<u64> {
    if !rate.iter().any(|&r| r > 0.0) {
        return None;
    }
    let mut need = -(1.0 - rng.random::<f64>()).ln(); // Exp(1) units of integrated rate
    let mut t = now;
    loop {
        let hour = ((t / US_PER_HOUR) % rate.len() as u64) as usize;
        let seg_end = (t / US_PER_HOUR + 1) * US_PER_HOUR;
        let (r, span) = (rate[hour], (seg_end - t) as f64);
        if r > 0.0 && need <= r * span {
            return Some(t + ((need / r).round() as u64).min(seg_end - t));
        }
        need -= r * span;
        t = seg_end;
    }
}

/// Samples task properties.
#[derive(Clone, Debug)]
pub struct TaskDraw {
    /// Cumulative class weights (normalised).
    pub class_cdf: Vec<f64>,
    pub difficulty: DifficultySpec,
}

impl TaskDraw {
    /// A task's hidden truth and difficulty.
    pub fn draw(&self, rng: &mut (impl Rng + ?Sized)) -> (u16, f32) {
        let u: f64 = rng.random();
        let truth = self.class_cdf.iter().position(|&c| u < c).unwrap_or(self.class_cdf.len() - 1) as u16;
        let difficulty = match &self.difficulty {
            DifficultySpec::Fixed(d) => *d,
            DifficultySpec::Drawn(p) => draw_prob(p, rng),
        } as f32;
        (truth, difficulty)
    }
}

/// One value from a [0, 1] distribution.
pub fn draw_prob(d: &ProbDist, rng: &mut (impl Rng + ?Sized)) -> f64 {
    match *d {
        ProbDist::Mean(m) => m,
        ProbDist::Beta([a, b]) => rand_distr::Beta::new(a, b).map(|b| rng.sample(b)).unwrap_or(a / (a + b)),
        ProbDist::Uniform([lo, hi]) => lo + (hi - lo) * rng.random::<f64>(),
    }
}

/// The actor that produces one stream's tasks.
pub struct TaskSource {
    pub stream: u16,
    pub dispatcher: ActorId,
    pub process: ArrivalProcess,
    pub draw: TaskDraw,
    pub stopped: bool,
    /// Each task comes with this many parts of another stream (index), drawn by that stream's
    /// draw: they arrive right after it, in one go.
    pub parts: Option<(u16, u32, TaskDraw)>,
    /// A stream pre-labelled by a real learner: its tasks are the learner's items, in order.
    pub items: Option<super::learner::ItemDraw>,
}

impl TaskSource {
    fn emit<C: Context<Msg> + ?Sized>(&mut self, ctx: &mut C) {
        let (truth, difficulty, item) = match &mut self.items {
            Some(items) => items.draw(),
            None => {
                let (truth, difficulty) = self.draw.draw(ctx.rng());
                (truth, difficulty, super::NO_ITEM)
            }
        };
        let parts = self.parts.as_ref().map_or(0, |p| p.1);
        ctx.send(self.dispatcher, Msg::Arrive(NewTask { stream: self.stream, truth, difficulty, parts, part: false, item }));
        if let Some((stream, n, draw)) = &self.parts {
            for _ in 0..*n {
                let (truth, difficulty) = draw.draw(ctx.rng());
                ctx.send(self.dispatcher, Msg::Arrive(NewTask { stream: *stream, truth, difficulty, parts: 0, part: true, item: super::NO_ITEM }));
            }
        }
    }

    fn schedule_next<C: Context<Msg> + ?Sized>(&mut self, ctx: &mut C, first: bool) {
        let now = ctx.now().0;
        let me = ctx.me();
        let at = match &self.process {
            ArrivalProcess::Poisson { rate } => {
                if *rate <= 0.0 {
                    return;
                }
                let e = -(1.0 - ctx.rng().random::<f64>()).ln();
                Some(now.saturating_add((e / rate).round() as u64)) // a tiny rate saturates, never wraps
            }
            ArrivalProcess::Schedule { rate } => next_scheduled(now, rate, ctx.rng()),
            ArrivalProcess::Curve { pieces } => next_on_curve(now, pieces, ctx.rng()),
            ArrivalProcess::Batch { every, first: f, .. } => Some(if first { now.saturating_add(f.0) } else { now.saturating_add(every.0.max(1)) }),
        };
        if let Some(at) = at {
            ctx.send_in(Dur(at - now), me, Msg::NextArrival);
        }
    }
}

impl Actor<Msg> for TaskSource {
    fn handle<C: Context<Msg> + ?Sized>(&mut self, msg: Msg, ctx: &mut C) {
        match msg {
            Msg::Start => self.schedule_next(ctx, true),
            Msg::NextArrival if !self.stopped => {
                let n = match self.process {
                    ArrivalProcess::Batch { size, .. } => size,
                    _ => 1,
                };
                for _ in 0..n {
                    self.emit(ctx);
                }
                self.schedule_next(ctx, false);
            }
            Msg::StopArrivals => self.stopped = true,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::stream_rng;

    #[test]
    fn scheduled_arrivals_follow_the_rate() {
        // 0 tasks/h at night (0-8h), 100/h by day: count arrivals per hour over many weeks.
        let per_hour: Vec<f64> = (0..24).map(|h| if h < 8 { 0.0 } else { 100.0 }).collect();
        let p = ArrivalProcess::from_spec(&ArrivalSpec::Schedule { per_hour, day_factor: None });
        let ArrivalProcess::Schedule { rate } = &p else { unreachable!() };
        let mut rng = stream_rng(3, 1);
        let (mut t, mut night, mut day) = (0u64, 0u64, 0u64);
        let weeks = 20;
        while let Some(n) = next_scheduled(t, rate, &mut rng) {
            if n >= weeks * 168 * US_PER_HOUR {
                break;
            }
            t = n;
            if (t / US_PER_HOUR) % 24 < 8 { night += 1 } else { day += 1 }
        }
        assert_eq!(night, 0);
        let expected = (weeks * 7 * 16 * 100) as f64;
        assert!((day as f64 - expected).abs() < 4.0 * expected.sqrt(), "{day} vs {expected}");
        assert!((p.mean_per_hour() - 100.0 * 16.0 / 24.0).abs() < 1e-9);
    }

    #[test]
    fn zero_rate_never_arrives() {
        let rate = vec![0.0; 168];
        assert_eq!(next_scheduled(0, &rate, &mut stream_rng(1, 1)), None);
    }

    #[test]
    fn a_demand_curve_brings_its_counts_in_its_intervals() {
        use rand::SeedableRng;
        const H: u64 = 3_600_000_000;
        // 100 tasks in [0, 10 h), none in [10 h, 20 h), 400 in [20 h, 30 h).
        let pieces = vec![(0, 10 * H, 100.0 / (10 * H) as f64), (10 * H, 20 * H, 0.0), (20 * H, 30 * H, 400.0 / (10 * H) as f64)];
        let mut counts = [0u64; 3];
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        for _ in 0..200 {
            let mut t = 0;
            while let Some(next) = next_on_curve(t, &pieces, &mut rng) {
                assert!(next >= t && next < 30 * H);
                counts[(next / (10 * H)) as usize] += 1;
                t = next;
            }
        }
        // 200 runs: 20,000 and 80,000 expected (sd 141 and 283).
        assert_eq!(counts[1], 0);
        assert!((counts[0] as f64 - 20_000.0).abs() < 600.0, "{counts:?}");
        assert!((counts[2] as f64 - 80_000.0).abs() < 1_200.0, "{counts:?}");
    }
}
