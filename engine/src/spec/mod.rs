//! The scenario schema: what a planner writes (in TOML, via tessera-scenarios) and what the engine
//! builds a simulation from. Every field has a documented default (see `scenarios/README.md`), so a
//! three-line scenario is valid. Units: durations are [`Dur`] (`"25.5s"`), rates are [tasks/h],
//! money is [USD].

mod dist;
pub mod limits;
mod model;
pub mod workflow;
mod pool;
mod stream;

pub use dist::{ArrivalSpec, CurveInterval, DifficultySpec, ProbDist, ServiceDist};
pub use pool::{AbandonSpec, AccuracySpec, BiasSpec, FatigueSpec, LearningSpec, PaySpec, PoolSpec, Side};
pub use model::{ModelLearningSpec, ModelSpec, PrelabelTime};
pub use stream::{Modality, Stage, StreamSpec};
pub use workflow::{Condition, EdgeSpec, PartsSpec, StageKind, StageSpec, Verdict};

use crate::time::Dur;
use serde::{Deserialize, Serialize};

/// A whole scenario.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name used in reports (default: the file name).
    #[serde(default)]
    pub name: Option<String>,
    /// One-paragraph description.
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub run: RunSpec,
    /// Task streams: where work comes from.
    #[serde(default)]
    pub streams: Vec<StreamSpec>,
    /// Annotator pools: who does the work.
    #[serde(default)]
    pub pools: Vec<PoolSpec>,
    /// ML models that pre-annotate.
    #[serde(default)]
    pub models: Vec<ModelSpec>,
    #[serde(default)]
    pub quality: QualitySpec,
    #[serde(default)]
    pub routing: RoutingSpec,
}

impl Scenario {
    /// Name of stream `i`: its own, or "stream-i".
    pub fn stream_name(&self, i: usize) -> String {
        self.streams[i].name.clone().unwrap_or_else(|| format!("stream-{i}"))
    }
    /// Labels per task of stream `i`: its own overlap, else `quality.overlap` (at least 1).
    pub fn overlap_of(&self, i: usize) -> u32 {
        self.streams[i].overlap.unwrap_or(self.quality.overlap).max(1)
    }
    /// Name of pool `i`: its own, or "pool-i".
    pub fn pool_name(&self, i: usize) -> String {
        self.pools[i].name.clone().unwrap_or_else(|| format!("pool-{i}"))
    }
    /// Index of the pool that does expert review (`quality.review.pool`), if any.
    pub fn review_pool(&self) -> Option<usize> {
        let r = self.quality.review.as_ref()?;
        (0..self.pools.len()).find(|&p| self.pool_name(p) == r.pool)
    }
    /// Whether pool `p` has the skill `task_type`: a `service` entry for it, or no `service`
    /// table at all (every type).
    pub fn pool_has_skill(&self, p: usize, task_type: &str) -> bool {
        self.pools[p].service.is_empty() || self.pools[p].service.contains_key(task_type)
    }
    /// Whether pool `p` may take stream `i`'s tasks at all: it speaks the stream's language and
    /// is not reserved for other streams (skills aside).
    pub fn pool_may_take(&self, p: usize, i: usize) -> bool {
        let (pool, st) = (&self.pools[p], &self.streams[i]);
        st.language.as_ref().is_none_or(|l| pool.languages.contains(l)) && (pool.reserved_for.is_empty() || pool.reserved_for.contains(&self.stream_name(i)))
    }
}

/// How long to run and what to measure.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RunSpec {
    /// Simulated time during which tasks arrive (default 7d). The run stops there.
    #[serde(default)]
    pub horizon: Option<Dur>,
    /// Alternatively: stop arrivals after this many tasks and run until every task is final.
    #[serde(default)]
    pub tasks: Option<u64>,
    /// Tasks arriving before this instant are left out of the statistics (default 0s).
    #[serde(default)]
    pub warmup: Dur,
    /// Waiting target: the share of tasks that start service within it is reported as
    /// `start_within_target` (default 1h).
    #[serde(default = "default_sl")]
    pub service_level: Dur,
    /// Turnaround target: the share of tasks finished (final label) within it is reported as
    /// `completion_within_target`, overall and per stream; a stream's own `turnaround`, else its
    /// `deadline`, wins (default 24h).
    #[serde(default = "default_turnaround")]
    pub turnaround: Dur,
    /// Default seed (the CLI's `--seed` wins).
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Default number of replications (the CLI's `--replications` wins).
    #[serde(default = "default_reps")]
    pub replications: u32,
}

fn default_sl() -> Dur {
    Dur(crate::time::US_PER_HOUR)
}
fn default_turnaround() -> Dur {
    Dur(crate::time::US_PER_DAY)
}
fn default_seed() -> u64 {
    1
}
fn default_reps() -> u32 {
    1
}

impl Default for RunSpec {
    fn default() -> Self {
        Self { horizon: None, tasks: None, warmup: Dur::ZERO, service_level: default_sl(), turnaround: default_turnaround(), seed: 1, replications: 1 }
    }
}

impl RunSpec {
    /// The arrival horizon: `horizon`, or 7 days when neither `horizon` nor `tasks` is set.
    pub fn arrival_horizon(&self) -> Option<Dur> {
        match (self.horizon, self.tasks) {
            (Some(h), _) => Some(h),
            (None, Some(_)) => None,
            (None, None) => Some(Dur(7 * crate::time::US_PER_DAY)),
        }
    }
}

/// Quality control.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct QualitySpec {
    /// Labels collected per task from distinct annotators (default 1); with `dynamic_overlap`, the
    /// number collected before the first confidence check.
    #[serde(default = "default_overlap")]
    pub overlap: u32,
    /// Add annotators one at a time until the aggregated confidence reaches `confidence` or
    /// `max` labels are in (Toloka's dynamic overlap).
    #[serde(default)]
    pub dynamic_overlap: Option<DynamicOverlapSpec>,
    /// How a task's labels become its final label online (default "majority"; "weighted" weighs
    /// each vote by the annotator's trust, one-coin posterior).
    #[serde(default = "default_aggregation")]
    pub aggregation: String,
    /// Also re-aggregate every answer of the run at its end with a batch algorithm (e.g. "ds"),
    /// reported as `batch_accuracy` (default: none).
    #[serde(default)]
    pub batch_aggregation: Option<String>,
    /// Golden tasks mixed into each annotator's stream (default: none).
    #[serde(default)]
    pub gold: Option<GoldSpec>,
    /// Quality rules: a metric over a window below a bar → an action.
    #[serde(default)]
    pub rules: Vec<RuleSpec>,
    /// Expert review of a sample of final labels (default: none).
    #[serde(default)]
    pub review: Option<ReviewSpec>,
    /// A final label can be re-opened by a ban for this long after it is given (default 24h).
    #[serde(default = "default_reopen")]
    pub reopen_within: Dur,
    /// Weight, in answers, of the pool's declared accuracy in the trust estimate (default 10).
    #[serde(default = "default_trust_prior")]
    pub trust_prior_strength: f64,
}

/// Dynamic overlap.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DynamicOverlapSpec {
    /// Most labels per task.
    pub max: u32,
    /// Stop once the leading label's posterior reaches this.
    pub confidence: f64,
}

/// Golden tasks.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GoldSpec {
    /// Share of an annotator's items that are golden.
    pub rate: f64,
    /// Golden answers remembered per annotator (default 20).
    #[serde(default = "default_gold_window")]
    pub window: u32,
}

/// What a rule watches.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RuleMetric {
    /// Share of right answers on the last `window` golden tasks.
    GoldAccuracy,
    /// Share of the last `window` labels that agreed with the final label.
    Agreement,
    /// Class bias over the last `window` answers, each against its golden answer or the
    /// leave-one-out online Dawid-Skene reference of the task's other labels
    /// (`quality::online_ds`): the smoothed strength of the most over-used class (the share of
    /// answers given to it whatever the item; `quality::bias`). Fires `above` a bar.
    ClassBias,
    /// Position bias over the last `window` answers to preference pairs: |2·left/n − 1| smoothed
    /// (0 = picks left and right equally often, 1 = always one side). Fires `above` a bar.
    PositionBias,
}

impl RuleMetric {
    /// The name a scenario writes.
    pub fn name(self) -> &'static str {
        match self {
            RuleMetric::GoldAccuracy => "gold_accuracy",
            RuleMetric::Agreement => "agreement",
            RuleMetric::ClassBias => "class_bias",
            RuleMetric::PositionBias => "position_bias",
        }
    }

    /// Bias metrics fire above their bar; accuracy metrics below theirs.
    pub fn fires_above(self) -> bool {
        matches!(self, RuleMetric::ClassBias | RuleMetric::PositionBias)
    }
}

/// What a rule does.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RuleAction {
    /// No more work from this project, for `duration` or for good.
    Ban,
    /// Set the annotator's trust (used by weighted aggregation and routing) to `value`.
    SetTrust,
}

/// A quality rule in the spirit of Toloka's: `metric` over the last `window` answers (at least
/// `min_answers`) below `below` (gold_accuracy, agreement) or above `above` (class_bias,
/// position_bias) → `action`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    pub metric: RuleMetric,
    /// The bar of gold_accuracy and agreement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub below: Option<f64>,
    /// The bar of class_bias and position_bias.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub above: Option<f64>,
    pub action: RuleAction,
    #[serde(default = "default_rule_window")]
    pub window: u32,
    #[serde(default = "default_min_answers")]
    pub min_answers: u32,
    /// Ban length (default: for good).
    #[serde(default)]
    pub duration: Option<Dur>,
    /// With a ban: discard the annotator's labels on tasks not final, or final less than
    /// `reopen_within` ago, and collect new ones (default false).
    #[serde(default)]
    pub reopen: bool,
    /// With set_trust: the new trust.
    #[serde(default)]
    pub value: Option<f64>,
    /// class_bias and position_bias only: the most probability that an annotator who is not
    /// biased is ever acted on by this rule, however many answers they give (e.g. 0.01). The
    /// rule is then tested once per `window` answers, on that block alone (`min_answers` is the
    /// window), and fires only when the bar is crossed *and* the block's test of no bias (the
    /// class test's Bonferroni-adjusted p, the exact binomial of left picks) has p below
    /// `false_ban_rate` × 6/(π² j²) at the j-th block: the α spent over all blocks sums to the
    /// rate. Without it, the bar is checked after every answer over a sliding window, and the
    /// chance of a false ban grows with the answers given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub false_ban_rate: Option<f64>,
}

/// Expert review.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ReviewSpec {
    /// Pool whose members review (they are paid as that pool is).
    pub pool: String,
    /// Share of final labels reviewed at random (default 0).
    #[serde(default)]
    pub sample: f64,
    /// Every final label with a confidence below this is reviewed (default 0: none).
    #[serde(default)]
    pub below_confidence: f64,
    /// Time a review takes (default lognormal, median 20s).
    #[serde(default = "default_review_service")]
    pub service: ServiceDist,
    /// After this many reworks the label is accepted as it is (default 2).
    #[serde(default = "default_max_reworks")]
    pub max_reworks: u32,
}

fn default_reopen() -> Dur {
    Dur(24 * crate::time::US_PER_HOUR)
}
fn default_trust_prior() -> f64 {
    10.0
}
fn default_gold_window() -> u32 {
    20
}
fn default_rule_window() -> u32 {
    10
}
fn default_min_answers() -> u32 {
    5
}
/// The time a review takes when the scenario does not say: lognormal, median 20 s.
pub fn default_review_service() -> ServiceDist {
    ServiceDist::Lognormal { median: Dur(20 * crate::time::US_PER_SEC), sigma: 0.5 }
}
fn default_max_reworks() -> u32 {
    2
}

fn default_overlap() -> u32 {
    1
}
fn default_aggregation() -> String {
    "majority".into()
}

impl Default for QualitySpec {
    fn default() -> Self {
        Self {
            overlap: 1,
            dynamic_overlap: None,
            aggregation: default_aggregation(),
            batch_aggregation: None,
            gold: None,
            rules: Vec::new(),
            review: None,
            reopen_within: default_reopen(),
            trust_prior_strength: default_trust_prior(),
        }
    }
}

/// Which annotator gets which task.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingSpec {
    /// Routing policy name (default "fifo"; the list, with what each does, is in scenarios/README.md).
    #[serde(default = "default_policy")]
    pub policy: String,
    /// Batch policies (batch-lp): how often a batch round assigns the waiting tasks to the idle
    /// annotators (default: none set, and batch-lp then uses 60s).
    #[serde(default)]
    pub batch_interval: Option<Dur>,
    /// [per USD] λ of cost-aware policies (batch-lp maximises expected accuracy − λ × cost per
    /// item; default 1.0: one expected right label is worth one dollar).
    #[serde(default = "default_cost_weight")]
    pub cost_weight: f64,
    /// The learned policy (`policy = "learned"`): the policy file `tessera train` wrote, a path
    /// relative to the current directory.
    #[serde(default)]
    pub model: Option<String>,
}

fn default_policy() -> String {
    "fifo".into()
}
fn default_cost_weight() -> f64 {
    1.0
}

impl Default for RoutingSpec {
    fn default() -> Self {
        Self { policy: default_policy(), batch_interval: None, cost_weight: default_cost_weight(), model: None }
    }
}
