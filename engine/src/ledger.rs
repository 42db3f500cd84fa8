//! The ledger: what the work cost [USD], by pool and by annotator, inside the statistics window.

use crate::spec::PaySpec;

/// How one annotator is paid.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Pay {
    /// [USD/h] on shift.
    PerHour(f64),
    /// [USD] per submitted label.
    PerItem(f64),
}

impl From<&PaySpec> for Pay {
    fn from(p: &PaySpec) -> Pay {
        match *p {
            PaySpec::PerHour(r) => Pay::PerHour(r),
            PaySpec::PerItem(r) => Pay::PerItem(r),
        }
    }
}

/// What a piece of work was for (cost is split this way).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkKind {
    Labeling = 0,
    Gold = 1,
    Review = 2,
}

/// Money spent.
#[derive(Clone, Debug, Default)]
pub struct Ledger {
    /// Per annotator: pay scheme, pool, items paid, per-item earnings [USD].
    pub pay: Vec<Pay>,
    pub pool_of: Vec<u16>,
    pub items: Vec<u64>,
    pub item_earnings: Vec<f64>,
    /// [USD] per-item pay by [`WorkKind`].
    pub item_by_kind: [f64; 3],
    /// [USD] spent on model pre-annotation.
    pub model_usd: f64,
}

/// Final accounts, once on-shift hours are known.
#[derive(Clone, Debug)]
pub struct Accounts {
    /// [USD] per annotator (hourly pay for on-shift time + per-item pay).
    pub earned: Vec<f64>,
    /// [USD] per pool.
    pub by_pool: Vec<f64>,
    pub model_usd: f64,
    /// [USD] by [`WorkKind`]: per-item pay, and hourly pay for the busy time on each kind.
    pub by_kind: [f64; 3],
    /// [USD] hourly pay for on-shift time with no item in hand.
    pub idle: f64,
    pub total: f64,
}

impl Ledger {
    pub fn new(pay: Vec<Pay>, pool_of: Vec<u16>) -> Self {
        let n = pay.len();
        Ledger { pay, pool_of, items: vec![0; n], item_earnings: vec![0.0; n], item_by_kind: [0.0; 3], model_usd: 0.0 }
    }

    /// An item (label, golden answer or review) submitted inside the window, with its per-item
    /// pay [USD] (0 under hourly pay).
    pub fn item(&mut self, a: u32, kind: WorkKind, usd: f64) {
        self.items[a as usize] += 1;
        if let Pay::PerItem(_) = self.pay[a as usize] {
            self.item_earnings[a as usize] += usd;
            self.item_by_kind[kind as usize] += usd;
        }
    }

    /// [USD] spent so far on work done (hourly pay for the busy time `busy_us` per annotator,
    /// per-item pay) and on models: the cost of the labels, without idle paid time.
    pub fn productive_usd(&self, busy_us: &[u64]) -> f64 {
        let pay: f64 = (0..self.pay.len())
            .map(|a| match self.pay[a] {
                Pay::PerHour(r) => r * busy_us.get(a).copied().unwrap_or(0) as f64 / 3.6e9,
                Pay::PerItem(_) => self.item_earnings[a],
            })
            .sum();
        pay + self.model_usd
    }

    /// Closes the books given each annotator's on-shift time [h] and busy time per kind inside
    /// the window.
    pub fn accounts(&self, on_shift_h: &[f64], busy_by_kind: &[[u64; 3]], pools: usize) -> Accounts {
        let earned: Vec<f64> = (0..self.pay.len())
            .map(|a| match self.pay[a] {
                Pay::PerHour(r) => r * on_shift_h[a],
                Pay::PerItem(_) => self.item_earnings[a],
            })
            .collect();
        let mut by_pool = vec![0.0; pools];
        for (a, e) in earned.iter().enumerate() {
            by_pool[self.pool_of[a] as usize] += e;
        }
        let mut by_kind = self.item_by_kind;
        let mut idle = 0.0;
        for (a, e) in earned.iter().enumerate() {
            if let Pay::PerHour(r) = self.pay[a] {
                let busy = busy_by_kind[a];
                let total_h = busy.iter().sum::<u64>() as f64 / 3.6e9;
                // Paid only on shift: busy time past the end of a shift is not paid again.
                let paid_busy = (r * total_h).min(*e);
                for k in 0..3 {
                    if total_h > 0.0 {
                        by_kind[k] += paid_busy * (busy[k] as f64 / 3.6e9) / total_h;
                    }
                }
                idle += e - paid_busy;
            }
        }
        let total = by_pool.iter().sum::<f64>() + self.model_usd;
        Accounts { earned, by_pool, model_usd: self.model_usd, by_kind, idle, total }
    }
}
