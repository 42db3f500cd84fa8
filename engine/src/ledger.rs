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

/// Money spent.
#[derive(Clone, Debug, Default)]
pub struct Ledger {
    /// Per annotator: pay scheme, pool, items paid, per-item earnings [USD].
    pub pay: Vec<Pay>,
    pub pool_of: Vec<u16>,
    pub items: Vec<u64>,
    pub item_earnings: Vec<f64>,
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
    pub total: f64,
}

impl Ledger {
    pub fn new(pay: Vec<Pay>, pool_of: Vec<u16>) -> Self {
        let n = pay.len();
        Ledger { pay, pool_of, items: vec![0; n], item_earnings: vec![0.0; n], model_usd: 0.0 }
    }

    /// A label submitted inside the window; returns its per-item cost [USD].
    pub fn label(&mut self, a: u32) -> f64 {
        self.items[a as usize] += 1;
        match self.pay[a as usize] {
            Pay::PerItem(r) => {
                self.item_earnings[a as usize] += r;
                r
            }
            Pay::PerHour(_) => 0.0,
        }
    }

    /// Closes the books given each annotator's on-shift time [h] inside the window.
    pub fn accounts(&self, on_shift_h: &[f64], pools: usize) -> Accounts {
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
        let total = by_pool.iter().sum::<f64>() + self.model_usd;
        Accounts { earned, by_pool, model_usd: self.model_usd, total }
    }
}
