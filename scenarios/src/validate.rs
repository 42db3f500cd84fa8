//! Semantic checks that the schema alone cannot express: ranges, cross-references (task types,
//! models, languages), names that must be unique. Each problem is (dotted path, message).

use std::collections::BTreeSet;
use tessera_engine::domain::shift::Calendar;
use tessera_engine::spec::limits::{MAX_ANNOTATORS, MAX_BATCH, MAX_HORIZON, MAX_NAME_CHARS, MAX_REPLICATIONS, MAX_SIGMA, MAX_TASKS, WARN_SIGMA};
use tessera_engine::spec::{RoutingSpec, AccuracySpec, ArrivalSpec, DifficultySpec, PaySpec, ProbDist, Scenario, ServiceDist};

impl<'a> Known<'a> {
    /// The engine's aggregation methods with the given routing policies.
    pub fn with_policies(policies: &'a [&'a str]) -> Self {
        Known {
            policies,
            aggregations: tessera_engine::quality::ONLINE_AGGREGATIONS,
            batch_aggregations: &tessera_engine::quality::aggregation::Method::NAMES,
            check_routing: None,
        }
    }
    /// Also check `[routing]` with `f` (a learned policy's model file, say); its message is
    /// reported at `routing.model`.
    pub fn with_routing_check(mut self, f: fn(&RoutingSpec) -> Result<(), String>) -> Self {
        self.check_routing = Some(f);
        self
    }
}

/// Names that the layers above the engine know (routing policies, aggregation methods).
pub struct Known<'a> {
    pub policies: &'a [&'a str],
    /// Online aggregation methods (`quality.aggregation`).
    pub aggregations: &'a [&'a str],
    /// Batch algorithms (`quality.batch_aggregation`).
    pub batch_aggregations: &'a [&'a str],
    /// What the layer that builds routers checks beyond the policy's name.
    pub check_routing: Option<fn(&RoutingSpec) -> Result<(), String>>,
}

pub(crate) type Problems = Vec<(String, String)>;

pub(crate) fn prob(p: &mut Problems, path: String, x: f64) {
    if !(0.0..=1.0).contains(&x) {
        p.push((path, format!("expected a probability between 0 and 1, found {x}")));
    }
}

fn prob_dist(p: &mut Problems, path: &str, d: &ProbDist) {
    match *d {
        ProbDist::Mean(m) => prob(p, format!("{path}.mean"), m),
        ProbDist::Beta([a, b]) => {
            if !(a > 0.0 && b > 0.0 && a.is_finite() && b.is_finite()) {
                p.push((format!("{path}.beta"), format!("expected two positive shape parameters [a, b], found [{a}, {b}]")));
            }
        }
        ProbDist::Uniform([lo, hi]) => {
            if !(0.0 <= lo && lo <= hi && hi <= 1.0) {
                p.push((format!("{path}.uniform"), format!("expected [lo, hi] with 0 <= lo <= hi <= 1, found [{lo}, {hi}]")));
            }
        }
    }
}

pub(crate) fn non_negative(p: &mut Problems, path: String, x: f64, what: &str) {
    if !(x >= 0.0 && x.is_finite()) {
        p.push((path, format!("expected {what} >= 0, found {x}")));
    }
}

fn unique(p: &mut Problems, what: &str, names: impl Iterator<Item = Option<String>>) {
    let mut seen = BTreeSet::new();
    for (i, n) in names.enumerate() {
        if let Some(n) = n {
            if !seen.insert(n.clone()) {
                p.push((format!("{what}[{i}].name"), format!("the name {n:?} is used twice")));
            }
        }
    }
}

fn one_of(p: &mut Problems, path: &str, value: &str, allowed: &[&str]) {
    if !allowed.contains(&value) {
        p.push((path.to_string(), format!("unknown value {value:?}; expected one of: {}", allowed.join(", "))));
    }
}

/// A name is printed in every record and trace line: short, and no control characters (a newline
/// or a NUL would break the files it is written to).
fn name(p: &mut Problems, path: String, n: &str) {
    let chars = n.chars().count();
    if n.trim().is_empty() {
        p.push((path, "expected a name, found an empty one".into()));
    } else if chars > MAX_NAME_CHARS {
        p.push((path, format!("a name has at most {MAX_NAME_CHARS} characters, found {chars}")));
    } else if let Some(c) = n.chars().find(|c| c.is_control()) {
        p.push((path, format!("a name cannot hold the control character {c:?}")));
    }
}

/// Tasks expected to arrive in one replication of stream `st` over `hours` [h].
fn expected_arrivals(st: &tessera_engine::spec::StreamSpec, horizon: tessera_engine::time::Dur) -> f64 {
    match &st.arrivals {
        ArrivalSpec::Poisson { .. } | ArrivalSpec::Schedule { .. } => st.arrivals.mean_per_hour() * horizon.hours(),
        ArrivalSpec::Batch { size, every, first } => {
            if every.0 == 0 || first.0 >= horizon.0 {
                0.0
            } else {
                *size as f64 * ((horizon.0 - first.0) as f64 / every.0 as f64).ceil()
            }
        }
        // The share of each interval before the horizon.
        ArrivalSpec::Curve { intervals } => intervals
            .iter()
            .filter(|i| i.end.0 > i.start.0 && i.start.0 < horizon.0)
            .map(|i| i.count * (i.end.0.min(horizon.0) - i.start.0) as f64 / (i.end.0 - i.start.0) as f64)
            .sum(),
    }
}

/// The most intervals a demand curve may hold (a year of hours).
const MAX_CURVE_INTERVALS: usize = 8_784;

fn sigma_cap(p: &mut Problems, path: String, x: f64) {
    if x > MAX_SIGMA {
        p.push((path, format!("expected at most {MAX_SIGMA}, found {x}: the mean would be e^(sigma²/2) = e^{:.1} times the median", x * x / 2.0)));
    }
}

/// A time distribution (service times, queue patience): positive, with a sane spread.
pub(crate) fn service_dist(p: &mut Problems, path: &str, d: &ServiceDist) {
    match d {
        ServiceDist::Lognormal { median, sigma } => {
            if median.0 == 0 {
                p.push((format!("{path}.lognormal.median"), "expected a positive duration, found 0s".into()));
            }
            non_negative(p, format!("{path}.lognormal.sigma"), *sigma, "sigma");
            sigma_cap(p, format!("{path}.lognormal.sigma"), *sigma);
        }
        ServiceDist::Exponential { mean } if mean.0 == 0 => p.push((format!("{path}.exponential.mean"), "expected a positive duration, found 0s".into())),
        ServiceDist::Fixed(d) if d.0 == 0 => p.push((format!("{path}.fixed"), "expected a positive duration, found 0s".into())),
        _ => {}
    }
}

/// Values that are allowed but probably not meant: (dotted path, why).
pub fn warnings(s: &Scenario) -> Problems {
    let mut w = Problems::new();
    let warn = |w: &mut Problems, path: String, x: f64| {
        if x > WARN_SIGMA && x <= MAX_SIGMA {
            w.push((path, format!("sigma {x} makes the mean {:.0} times the median (e^(sigma²/2)); published annotation times have sigma 0.4 to 1.2", (x * x / 2.0).exp())));
        }
    };
    for (i, pool) in s.pools.iter().enumerate() {
        warn(&mut w, format!("pools[{i}].speed_sigma"), pool.speed_sigma);
        for (t, d) in &pool.service {
            if let ServiceDist::Lognormal { sigma, .. } = d {
                warn(&mut w, format!("pools[{i}].service.{t}.lognormal.sigma"), *sigma);
            }
        }
        if let Some(a) = &pool.abandonment {
            if a.probability >= 1.0 {
                w.push((format!("pools[{i}].abandonment.probability"), "every annotator of this pool walks away from every item: it never finishes work".into()));
            }
        }
    }
    w
}

pub fn validate(s: &Scenario, known: &Known) -> Problems {
    let mut p = Problems::new();
    // names
    if let Some(n) = &s.name {
        name(&mut p, "name".into(), n);
    }
    for (i, st) in s.streams.iter().enumerate() {
        if let Some(n) = &st.name {
            name(&mut p, format!("streams[{i}].name"), n);
        }
        name(&mut p, format!("streams[{i}].task_type"), &st.task_type);
        if let Some(l) = &st.language {
            name(&mut p, format!("streams[{i}].language"), l);
        }
    }
    for (i, pool) in s.pools.iter().enumerate() {
        if let Some(n) = &pool.name {
            name(&mut p, format!("pools[{i}].name"), n);
        }
        for (k, l) in pool.languages.iter().enumerate() {
            name(&mut p, format!("pools[{i}].languages[{k}]"), l);
        }
    }
    for (i, m) in s.models.iter().enumerate() {
        name(&mut p, format!("models[{i}].name"), &m.name);
    }
    // run
    let r = &s.run;
    if r.replications > MAX_REPLICATIONS {
        p.push(("run.replications".into(), format!("at most {MAX_REPLICATIONS} replications are supported, found {}", r.replications)));
    }
    if let Some(h) = r.horizon {
        if h > MAX_HORIZON {
            p.push(("run.horizon".into(), format!("at most {MAX_HORIZON} (ten years) of arrivals are supported, found {h}")));
        }
    }
    if let Some(n) = r.tasks {
        if n as f64 > MAX_TASKS {
            p.push(("run.tasks".into(), format!("at most {MAX_TASKS:.0} tasks per replication are supported, found {n}")));
        }
    } else if let Some(h) = r.arrival_horizon() {
        if h <= MAX_HORIZON {
            // A task with parts brings them along; a stream of parts has no arrivals of its own.
            let is_part = |i: usize| s.streams.iter().any(|o| o.parts.as_ref().is_some_and(|p| p.stream == s.stream_name(i)));
            let each: Vec<f64> = s
                .streams
                .iter()
                .enumerate()
                .map(|(i, st)| if is_part(i) { 0.0 } else { expected_arrivals(st, h) * (1.0 + st.parts.as_ref().map_or(0.0, |p| p.count as f64)) })
                .collect();
            let total: f64 = each.iter().sum();
            if total > MAX_TASKS {
                let (k, most) = each.iter().enumerate().fold((0, 0.0), |b, (k, &x)| if x > b.1 { (k, x) } else { b });
                p.push((
                    format!("streams[{k}].arrivals"),
                    format!("the streams would bring {total:.3e} tasks per replication over the horizon of {h} ({most:.3e} from this one); at most {MAX_TASKS:.0} are supported: shorten run.horizon or lower the rate"),
                ));
            }
        }
    }
    if r.horizon.is_some() && r.tasks.is_some() {
        p.push(("run.tasks".into(), "set either run.horizon or run.tasks, not both".into()));
    }
    if r.horizon.is_some_and(|h| h.0 == 0) {
        p.push(("run.horizon".into(), "expected a positive duration, found 0s".into()));
    }
    if r.tasks == Some(0) {
        p.push(("run.tasks".into(), "expected a positive integer, found 0".into()));
    }
    if let Some(h) = r.arrival_horizon() {
        if r.warmup >= h && h.0 > 0 {
            p.push(("run.warmup".into(), format!("the warm-up ({}) must be shorter than the horizon ({h})", r.warmup)));
        }
    }
    if r.replications == 0 {
        p.push(("run.replications".into(), "expected a positive integer, found 0".into()));
    }
    if r.turnaround.0 == 0 {
        p.push(("run.turnaround".into(), "expected a positive duration, found 0s".into()));
    }
    // streams
    if s.streams.is_empty() {
        p.push(("streams".into(), "expected at least one [[streams]] table".into()));
    }
    if s.streams.len() > 64 {
        p.push(("streams".into(), format!("at most 64 streams are supported, found {}", s.streams.len())));
    }
    unique(&mut p, "streams", s.streams.iter().map(|x| x.name.clone()));
    // Task types: the streams' and the skills their workflow stages name.
    let types: BTreeSet<&str> = s.streams.iter().flat_map(|x| std::iter::once(x.task_type.as_str()).chain(x.stages.iter().filter_map(|st| st.skill.as_deref()))).collect();
    for (i, st) in s.streams.iter().enumerate() {
        let at = |f: &str| format!("streams[{i}].{f}");
        if st.turnaround.is_some_and(|t| t.0 == 0) {
            p.push((at("turnaround"), "expected a positive duration, found 0s".into()));
        }
        if st.classes == 0 || st.classes > 4096 {
            p.push((at("classes"), format!("expected a number of classes between 1 and 4096, found {}", st.classes)));
        }
        if let Some(w) = &st.class_weights {
            if w.len() != st.classes as usize {
                p.push((at("class_weights"), format!("expected {} weights (one per class), found {}", st.classes, w.len())));
            } else if w.iter().any(|x| !(*x >= 0.0 && x.is_finite())) || w.iter().sum::<f64>() <= 0.0 {
                p.push((at("class_weights"), "expected non-negative weights with a positive sum".into()));
            }
        }
        match &st.difficulty {
            DifficultySpec::Fixed(d) => prob(&mut p, at("difficulty"), *d),
            DifficultySpec::Drawn(d) => prob_dist(&mut p, &at("difficulty"), d),
        }
        if !(0.0..=100.0).contains(&st.difficulty_slowdown) {
            p.push((at("difficulty_slowdown"), format!("expected a factor between 0 and 100 (an item of difficulty 1 takes 1 + this times as long), found {}", st.difficulty_slowdown)));
        }
        match &st.arrivals {
            ArrivalSpec::Poisson { per_hour } => non_negative(&mut p, at("arrivals.poisson.per_hour"), *per_hour, "a rate"),
            ArrivalSpec::Schedule { per_hour, day_factor } => {
                if per_hour.len() != 24 && per_hour.len() != 168 {
                    p.push((at("arrivals.schedule.per_hour"), format!("expected 24 hourly rates (or 168 for a whole week), found {}", per_hour.len())));
                }
                for (h, x) in per_hour.iter().enumerate() {
                    non_negative(&mut p, at(&format!("arrivals.schedule.per_hour[{h}]")), *x, "a rate");
                }
                if let Some(d) = day_factor {
                    if d.len() != 7 {
                        p.push((at("arrivals.schedule.day_factor"), format!("expected 7 factors (Monday first), found {}", d.len())));
                    }
                    for (k, x) in d.iter().enumerate() {
                        non_negative(&mut p, at(&format!("arrivals.schedule.day_factor[{k}]")), *x, "a factor");
                    }
                }
            }
            ArrivalSpec::Batch { size, every, .. } => {
                if *size == 0 {
                    p.push((at("arrivals.batch.size"), "expected a positive integer, found 0".into()));
                } else if *size > MAX_BATCH {
                    p.push((at("arrivals.batch.size"), format!("at most {MAX_BATCH} tasks per batch are supported, found {size}")));
                }
                if every.0 == 0 {
                    p.push((at("arrivals.batch.every"), "expected a positive duration, found 0s".into()));
                }
            }
            ArrivalSpec::Curve { intervals } => {
                if intervals.is_empty() {
                    p.push((at("arrivals.curve.intervals"), "expected at least one interval".into()));
                } else if intervals.len() > MAX_CURVE_INTERVALS {
                    p.push((at("arrivals.curve.intervals"), format!("at most {MAX_CURVE_INTERVALS} intervals are supported, found {}", intervals.len())));
                }
                for (k, i) in intervals.iter().enumerate().take(MAX_CURVE_INTERVALS) {
                    non_negative(&mut p, at(&format!("arrivals.curve.intervals[{k}].count")), i.count, "a count");
                    if i.end.0 <= i.start.0 {
                        p.push((at(&format!("arrivals.curve.intervals[{k}].end")), format!("expected an end after the start ({}), found {}", i.start, i.end)));
                    } else if k > 0 && i.start.0 < intervals[k - 1].end.0 {
                        p.push((at(&format!("arrivals.curve.intervals[{k}].start")), format!("expected intervals in time order without overlap: this one starts at {}, before the one before it ends ({})", i.start, intervals[k - 1].end)));
                    }
                }
            }
        }
        prob(&mut p, at("min_accuracy"), st.min_accuracy);
        if let Some(k) = st.overlap {
            if k == 0 || k > 64 {
                p.push((at("overlap"), format!("expected between 1 and 64 labels per task, found {k}")));
            }
        }
        if let Some(d) = &st.patience {
            service_dist(&mut p, &at("patience"), d);
        }
        non_negative(&mut p, at("holding_cost"), st.holding_cost, "a holding cost");
        if st.deadline.is_some_and(|d| d.0 == 0) {
            p.push((at("deadline"), "expected a positive duration, found 0s".into()));
        }
        if let Some(m) = &st.pre_annotation {
            if !s.models.iter().any(|x| x.name == *m) {
                let names: Vec<&str> = s.models.iter().map(|x| x.name.as_str()).collect();
                p.push((at("pre_annotation"), format!("no model named {m:?} in [[models]] (models: {})", if names.is_empty() { "none".into() } else { names.join(", ") })));
            }
        }
        let speaking: Vec<_> = (0..s.pools.len()).filter(|&q| s.pool_has_skill(q, &st.task_type) && s.pool_may_take(q, i)).map(|q| &s.pools[q]).collect();
        if !s.pools.is_empty() && speaking.is_empty() {
            let lang = st.language.as_ref().map(|l| format!(" speaking {l:?}")).unwrap_or_default();
            p.push((at("task_type"), format!("no pool can do task type {:?}{lang}: add it to some pool's `service` table", st.task_type)));
        } else {
            // Each label of a task comes from a different person: enough of them must qualify.
            let able: i64 = speaking.iter().map(|pool| pool.count.max(0)).sum();
            let own = s.overlap_of(i);
            let most = s.quality.dynamic_overlap.as_ref().map_or(own, |d| d.max.max(own)) as i64;
            if able > 0 && able < most && st.stages.is_empty() {
                p.push((
                    at("task_type"),
                    format!("{most} labels per task need {most} different annotators able to do {:?}, but only {able} can (the overlap / dynamic_overlap.max)", st.task_type),
                ));
            }
        }
    }
    // pools
    if s.pools.is_empty() {
        p.push(("pools".into(), "expected at least one [[pools]] table".into()));
    }
    unique(&mut p, "pools", s.pools.iter().map(|x| x.name.clone()));
    let annotators: i64 = s.pools.iter().fold(0i64, |a, x| a.saturating_add(x.count.max(0)));
    if annotators > MAX_ANNOTATORS {
        let (k, _) = s.pools.iter().enumerate().max_by_key(|(_, x)| x.count).expect("pools exist");
        p.push((format!("pools[{k}].count"), format!("at most {MAX_ANNOTATORS} annotators over all pools are supported, found {annotators}")));
    }
    for (i, pool) in s.pools.iter().enumerate() {
        let at = |f: &str| format!("pools[{i}].{f}");
        if pool.count < 1 {
            p.push((at("count"), format!("expected a positive integer, found {}", pool.count)));
        }
        let acc = |p: &mut Problems, path: String, a: &AccuracySpec| match a {
            AccuracySpec::OneCoin(d) => prob_dist(p, &format!("{path}.one_coin"), d),
            AccuracySpec::Confusion { diagonal } => prob_dist(p, &format!("{path}.confusion.diagonal"), diagonal),
        };
        acc(&mut p, at("accuracy"), &pool.accuracy);
        for (t, a) in &pool.accuracy_by_type {
            if !types.contains(t.as_str()) {
                p.push((at(&format!("accuracy_by_type.{t}")), format!("no stream has task type {t:?} and no stage names it as its skill (known: {})", types.iter().cloned().collect::<Vec<_>>().join(", "))));
            }
            acc(&mut p, at(&format!("accuracy_by_type.{t}")), a);
        }
        for (t, d) in &pool.service {
            let path = at(&format!("service.{t}"));
            if !types.contains(t.as_str()) {
                p.push((path.clone(), format!("no stream has task type {t:?} and no stage names it as its skill (known: {})", types.iter().cloned().collect::<Vec<_>>().join(", "))));
            }
            service_dist(&mut p, &path, d);
        }
        non_negative(&mut p, at("speed_sigma"), pool.speed_sigma, "speed_sigma");
        sigma_cap(&mut p, at("speed_sigma"), pool.speed_sigma);
        match pool.pay {
            PaySpec::PerHour(x) => non_negative(&mut p, at("pay.per_hour"), x, "pay"),
            PaySpec::PerItem(x) => non_negative(&mut p, at("pay.per_item"), x, "pay"),
        }
        if let Err(e) = Calendar::parse(&pool.shifts) {
            p.push((at("shifts"), e));
        }
        if let Some(l) = &pool.learning {
            prob(&mut p, at("learning.accuracy_gain"), l.accuracy_gain);
            if !(0.0..0.95).contains(&l.speedup) {
                p.push((at("learning.speedup"), format!("expected a share of time saved between 0 and 0.95, found {}", l.speedup)));
            }
            if !(l.half_life_items > 0.0) {
                p.push((at("learning.half_life_items"), format!("expected a positive number of items, found {}", l.half_life_items)));
            }
        }
        if let Some(f) = &pool.fatigue {
            non_negative(&mut p, at("fatigue.slowdown_per_hour"), f.slowdown_per_hour, "a slowdown");
            non_negative(&mut p, at("fatigue.accuracy_loss_per_hour"), f.accuracy_loss_per_hour, "a loss");
        }
        if let Some(a) = &pool.abandonment {
            prob(&mut p, at("abandonment.probability"), a.probability);
            if a.timeout.0 == 0 {
                p.push((at("abandonment.timeout"), "expected a positive duration, found 0s".into()));
            }
        }
        let stream_names: Vec<String> = (0..s.streams.len()).map(|k| s.stream_name(k)).collect();
        for (k, r) in pool.reserved_for.iter().enumerate() {
            if !stream_names.contains(r) {
                p.push((at(&format!("reserved_for[{k}]")), format!("no stream named {r:?} (streams: {})", stream_names.join(", "))));
            }
        }
        if pool.languages.is_empty() {
            p.push((at("languages"), "expected at least one language (default [\"en\"])".into()));
        }
        if let Some(b) = &pool.bias {
            prob(&mut p, at("bias.share"), b.share);
            prob(&mut p, at("bias.strength"), b.strength);
            let served: Vec<&tessera_engine::spec::StreamSpec> = s.streams.iter().enumerate().filter(|&(k, _)| pool.reserved_for.is_empty() || pool.reserved_for.contains(&s.stream_name(k))).map(|(_, x)| x).collect();
            match (b.class, b.position) {
                (Some(_), Some(_)) | (None, None) => p.push((at("bias"), "give either `class` (a class number the annotators over-use) or `position` (\"left\" or \"right\": the side of a preference pair they pick)".into())),
                (Some(c), None) => {
                    if !served.iter().any(|x| (c as u32) < x.classes) {
                        p.push((at("bias.class"), format!("class {c} is not a class of any stream this pool may take (classes are numbered from 0)")));
                    }
                }
                (None, Some(_)) => {
                    if !served.iter().any(|x| x.modality() == tessera_engine::spec::Modality::PreferencePair && x.classes == 2) {
                        p.push((at("bias.position"), "position bias needs a preference-pair stream (modality \"preference_pair\", 2 classes) this pool may take".into()));
                    }
                }
            }
        }
    }
    // models
    unique(&mut p, "models", s.models.iter().map(|x| Some(x.name.clone())));
    for (i, m) in s.models.iter().enumerate() {
        crate::validate_model::validate_model(&mut p, i, m);
    }
    // quality and routing
    let people: i64 = s.pools.iter().map(|x| x.count.max(0)).sum();
    if s.quality.overlap == 0 {
        p.push(("quality.overlap".into(), "expected a positive integer, found 0".into()));
    } else if s.quality.overlap > 64 || (people > 0 && s.quality.overlap as i64 > people) {
        p.push(("quality.overlap".into(), format!("overlap {} needs that many distinct annotators; the scenario has {people}", s.quality.overlap)));
    }
    one_of(&mut p, "quality.aggregation", &s.quality.aggregation, known.aggregations);
    let q = &s.quality;
    if let Some(b) = &q.batch_aggregation {
        one_of(&mut p, "quality.batch_aggregation", b, known.batch_aggregations);
    }
    if let Some(d) = &q.dynamic_overlap {
        if d.max < q.overlap {
            p.push(("quality.dynamic_overlap.max".into(), format!("expected at least quality.overlap ({}), found {}", q.overlap, d.max)));
        }
        if d.max as i64 > people.max(1) || d.max > 64 {
            p.push(("quality.dynamic_overlap.max".into(), format!("max {} needs that many distinct annotators; the scenario has {people}", d.max)));
        }
        if !(d.confidence > 0.0 && d.confidence <= 1.0) {
            p.push(("quality.dynamic_overlap.confidence".into(), format!("expected a probability in (0, 1], found {}", d.confidence)));
        }
    }
    if let Some(g) = &q.gold {
        if !(0.0..1.0).contains(&g.rate) {
            p.push(("quality.gold.rate".into(), format!("expected a share in [0, 1), found {}", g.rate)));
        }
        if g.window == 0 {
            p.push(("quality.gold.window".into(), "expected a positive integer, found 0".into()));
        }
    }
    for (i, r) in q.rules.iter().enumerate() {
        let at = |f: &str| format!("quality.rules[{i}].{f}");
        let (bar, other) = if r.metric.fires_above() { ("above", r.below.map(|_| "below")) } else { ("below", r.above.map(|_| "above")) };
        match if r.metric.fires_above() { r.above } else { r.below } {
            Some(v) => prob(&mut p, at(bar), v),
            None => p.push((at(bar), format!("{} needs `{bar}` (the bar it fires {bar})", r.metric.name()))),
        }
        if let Some(o) = other {
            p.push((at(o), format!("this metric fires {bar} a bar: write `{bar}`, not `{o}`")));
        }
        if r.metric == tessera_engine::spec::RuleMetric::PositionBias && !s.streams.iter().any(|x| x.modality() == tessera_engine::spec::Modality::PreferencePair && x.classes == 2) {
            p.push((at("metric"), "position_bias needs a preference-pair stream (modality \"preference_pair\", 2 classes)".into()));
        }
        if r.window == 0 {
            p.push((at("window"), "expected a positive integer, found 0".into()));
        }
        if r.min_answers > r.window {
            p.push((at("min_answers"), format!("expected at most the window ({}), found {}", r.window, r.min_answers)));
        }
        if r.duration.is_some_and(|d| d.0 == 0) {
            p.push((at("duration"), "expected a positive duration, found 0s".into()));
        }
        if let Some(rate) = r.false_ban_rate {
            if !r.metric.fires_above() {
                p.push((at("false_ban_rate"), format!("{} has no test of a person who is fine (only class_bias and position_bias take a false-ban rate)", r.metric.name())));
            } else if !(rate > 0.0 && rate <= 0.5) {
                p.push((at("false_ban_rate"), format!("expected a probability in (0, 0.5], found {rate}")));
            }
        }
        match (r.action, r.value) {
            (tessera_engine::spec::RuleAction::SetTrust, None) => p.push((at("value"), "set_trust needs a value (the new trust, 0 to 1)".into())),
            (_, Some(v)) => prob(&mut p, at("value"), v),
            _ => {}
        }
        if r.metric == tessera_engine::spec::RuleMetric::GoldAccuracy && q.gold.is_none() {
            p.push((at("metric"), "gold_accuracy needs golden tasks: add [quality.gold]".into()));
        }
    }
    if let Some(r) = &q.review {
        let names: Vec<String> = (0..s.pools.len()).map(|k| s.pool_name(k)).collect();
        if !names.contains(&r.pool) {
            p.push(("quality.review.pool".into(), format!("no pool named {:?} (pools: {})", r.pool, names.join(", "))));
        }
        prob(&mut p, "quality.review.sample".into(), r.sample);
        prob(&mut p, "quality.review.below_confidence".into(), r.below_confidence);
    }
    crate::validate_workflow::validate_workflows(s, known.aggregations, &mut p);
    one_of(&mut p, "routing.policy", &s.routing.policy, known.policies);
    if let Some(check) = known.check_routing {
        if let Err(e) = check(&s.routing) {
            p.push(("routing.model".into(), e));
        }
    }
    if s.routing.batch_interval.is_some_and(|d| d.0 == 0) {
        p.push(("routing.batch_interval".into(), "expected a positive duration, found 0s".into()));
    }
    non_negative(&mut p, "routing.cost_weight".into(), s.routing.cost_weight, "a cost weight");
    p
}

#[cfg(test)]
mod tests {
    use crate::{load_str, Known};

    fn problems(text: &str) -> String {
        let known = Known::with_policies(&["fifo", "batch-lp"]);
        match load_str(text, "t.toml", &[], &known) {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn routing_fields_are_range_checked_with_dotted_paths() {
        let base = "[[pools]]\n[[streams]]\n";
        assert_eq!(problems(&format!("{base}min_accuracy = 0.9\nholding_cost = 3.0\n[routing]\npolicy = \"batch-lp\"\nbatch_interval = \"30s\"\ncost_weight = 0.5\n")), "");
        assert!(problems(&format!("{base}min_accuracy = 1.5\n")).contains("streams[0].min_accuracy"));
        assert!(problems(&format!("{base}holding_cost = -1\n")).contains("streams[0].holding_cost"));
        assert!(problems(&format!("{base}[routing]\nbatch_interval = \"0s\"\n")).contains("routing.batch_interval"));
        assert!(problems(&format!("{base}[routing]\ncost_weight = -2\n")).contains("routing.cost_weight"));
    }

    #[test]
    fn demand_curves_are_checked_interval_by_interval() {
        let curve = |iv: &str| problems(&format!("[[pools]]\n[[streams]]\narrivals = {{ curve = {{ intervals = [{iv}] }} }}\n"));
        assert_eq!(curve("{ start = \"0h\", end = \"7d\", count = 100 }, { start = \"7d\", end = \"14d\", count = 50.5 }"), "");
        assert!(curve("").contains("streams[0].arrivals.curve.intervals") && curve("").contains("at least one interval"));
        let e = curve("{ start = \"1h\", end = \"1h\", count = 1 }");
        assert!(e.contains("streams[0].arrivals.curve.intervals[0].end") && e.contains("after the start"), "{e}");
        let e = curve("{ start = \"0h\", end = \"2h\", count = 1 }, { start = \"1h\", end = \"3h\", count = 1 }");
        assert!(e.contains("intervals[1].start") && e.contains("without overlap"), "{e}");
        assert!(curve("{ start = \"0h\", end = \"2h\", count = -1 }").contains("intervals[0].count"));
        assert!(curve("{ start = \"0h\", end = \"2h\", count = 1, rate = 3 }").contains("rate"), "unknown fields are refused");
    }
}
