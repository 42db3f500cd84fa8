//! Erlang C: the analytical M/M/c queue, the baseline the simulator is checked against.
//!
//! With arrival rate λ, mean handling time 1/μ and c servers, the offered load is A = λ/μ
//! [Erlang]. Erlang B is computed by the stable recursion B(0) = 1, B(k) = A·B(k−1) / (k + A·B(k−1));
//! then P(wait) = C = c·B / (c − A·(1 − B)), the service level P(W ≤ t) = 1 − C·e^{−(c−A)·t·μ}, and
//! the mean wait (ASA) = C / (c·μ − λ).

/// An M/M/c queue.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ErlangC {
    /// [arrivals/s]
    pub lambda: f64,
    /// [s] mean handling time.
    pub handling: f64,
    pub servers: u32,
}

impl ErlangC {
    /// From arrivals per `period_s` seconds and a handling time [s].
    pub fn new(arrivals: f64, period_s: f64, handling_s: f64, servers: u32) -> Self {
        ErlangC { lambda: arrivals / period_s, handling: handling_s, servers }
    }
    /// Offered load A [Erlang].
    pub fn load(&self) -> f64 {
        self.lambda * self.handling
    }
    /// Server utilisation ρ = A / c.
    pub fn utilization(&self) -> f64 {
        self.load() / self.servers as f64
    }
    pub fn erlang_b(&self) -> f64 {
        let a = self.load();
        (1..=self.servers).fold(1.0, |b, k| a * b / (k as f64 + a * b))
    }
    /// Probability that an arrival waits (None if the queue is unstable, A ≥ c).
    pub fn p_wait(&self) -> Option<f64> {
        let (a, c) = (self.load(), self.servers as f64);
        if a >= c {
            return None;
        }
        let b = self.erlang_b();
        Some(c * b / (c - a * (1.0 - b)))
    }
    /// P(wait ≤ t) for t [s].
    pub fn service_level(&self, t: f64) -> Option<f64> {
        let c = self.p_wait()?;
        Some(1.0 - c * (-(self.servers as f64 - self.load()) * t / self.handling).exp())
    }
    /// Mean waiting time [s] over all arrivals.
    pub fn mean_wait(&self) -> Option<f64> {
        let c = self.p_wait()?;
        Some(c * self.handling / (self.servers as f64 - self.load()))
    }
    /// Mean number waiting (Lq = λ·Wq).
    pub fn mean_queue(&self) -> Option<f64> {
        Some(self.lambda * self.mean_wait()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    /// Published call-centre examples (callcentrehelper.com Erlang C worked example; Wikipedia).
    #[test]
    fn reproduces_published_values() {
        let q = ErlangC::new(100.0, 1800.0, 180.0, 14);
        assert_eq!(format!("{:.6}", q.p_wait().unwrap()), "0.174132");
        assert_eq!(format!("{:.6}", q.service_level(20.0).unwrap()), "0.888350");
        assert_eq!(format!("{:.3}", q.mean_wait().unwrap()), "7.836");
        let q = ErlangC::new(1000.0, 3600.0, 120.0, 40);
        assert_eq!(format!("{:.4}", q.p_wait().unwrap()), "0.1907");
        assert_eq!(format!("{:.4}", q.service_level(20.0).unwrap()), "0.9372");
        assert_eq!(format!("{:.2}", q.mean_wait().unwrap()), "3.43");
    }
    #[test]
    fn unstable_and_degenerate() {
        assert_eq!(ErlangC::new(10.0, 1.0, 1.0, 10).p_wait(), None);
        let q = ErlangC::new(1.0, 1.0, 0.5, 1);
        assert!((q.p_wait().unwrap() - 0.5).abs() < 1e-12); // M/M/1: P(wait) = ρ
    }
}
