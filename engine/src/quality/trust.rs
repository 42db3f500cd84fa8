//! Trust: an online per-annotator reliability estimate, the posterior mean of a Beta whose prior
//! is the pool's declared accuracy with the weight of `prior_strength` answers. Golden answers count
//! fully; agreement with a final label counts half (the final label can itself be wrong).

/// Trust of every annotator.
#[derive(Clone, Debug)]
pub struct Trust {
    prior_strength: f64,
    prior: Vec<f64>,
    right: Vec<f64>,
    seen: Vec<f64>,
}

impl Trust {
    pub fn new(prior: Vec<f64>, prior_strength: f64) -> Self {
        let n = prior.len();
        Trust { prior_strength: prior_strength.max(0.0), prior, right: vec![0.0; n], seen: vec![0.0; n] }
    }

    /// A new annotator with their prior (ids are dense: they get the next one).
    pub fn push(&mut self, prior: f64) {
        self.prior.push(prior);
        self.right.push(0.0);
        self.seen.push(0.0);
    }

    /// Records an answer of `a` that was right or wrong, with a weight (1 = golden task).
    pub fn observe(&mut self, a: u32, right: bool, weight: f64) {
        self.seen[a as usize] += weight;
        if right {
            self.right[a as usize] += weight;
        }
    }

    /// Overrides the estimate (a quality rule's set_trust): forget the evidence, new prior.
    pub fn set(&mut self, a: u32, value: f64) {
        self.prior[a as usize] = value;
        self.right[a as usize] = 0.0;
        self.seen[a as usize] = 0.0;
    }

    pub fn value(&self, a: u32) -> f64 {
        let a = a as usize;
        let s = self.prior_strength;
        let denom = s + self.seen[a];
        if denom <= 0.0 {
            return self.prior[a];
        }
        (s * self.prior[a] + self.right[a]) / denom
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn trust_moves_from_the_prior_towards_the_evidence() {
        let mut t = Trust::new(vec![0.9, 0.9], 10.0);
        assert_eq!(t.value(0), 0.9);
        for _ in 0..90 {
            t.observe(0, false, 1.0);
        }
        assert!((t.value(0) - 9.0 / 100.0).abs() < 1e-12);
        assert_eq!(t.value(1), 0.9);
        t.set(0, 0.5);
        assert_eq!(t.value(0), 0.5);
    }
}
