//! Exact rectangular assignment: the Hungarian algorithm with potentials (Kuhn 1955, Munkres
//! 1957; the O(n²·m) shortest-augmenting-path form of Jonker & Volgenant / e-maxx).
//!
//! Given an n × m cost matrix (row-major) with n ≤ m, [`Hungarian::solve`] assigns every row to a
//! distinct column so that the total cost is minimal. [`Hungarian::solve_rect`] accepts any shape
//! (it transposes when n > m) and returns, for each row, its column or None. Costs must be
//! finite. The solver keeps its work vectors between calls: no allocation once warmed up.
//!
//! ```
//! use tessera_policies::assignment::Hungarian;
//! let cost = [4.0, 1.0, 3.0,
//!             2.0, 0.0, 5.0];           // 2 rows × 3 columns
//! let mut h = Hungarian::default();
//! let mut cols = Vec::new();
//! let total = h.solve(&cost, 2, 3, &mut cols);
//! assert_eq!(cols, vec![1, 0]);          // row 0 → column 1, row 1 → column 0
//! assert_eq!(total, 3.0);
//! ```

/// Work space of the solver (dual potentials, matching, augmenting-path bookkeeping).
#[derive(Default, Debug)]
pub struct Hungarian {
    u: Vec<f64>,
    v: Vec<f64>,
    p: Vec<usize>,
    way: Vec<usize>,
    minv: Vec<f64>,
    used: Vec<bool>,
    transposed: Vec<f64>,
    cols: Vec<usize>,
}

impl Hungarian {
    /// Minimum-cost assignment of each of the `n` rows to a distinct one of the `m ≥ n` columns.
    /// `cost[i * m + j]` is the cost of row i on column j. Writes the column of each row into
    /// `out` and returns the total cost.
    pub fn solve(&mut self, cost: &[f64], n: usize, m: usize, out: &mut Vec<usize>) -> f64 {
        assert!(n <= m, "Hungarian::solve needs rows <= columns (got {n} × {m}); use solve_rect");
        assert_eq!(cost.len(), n * m, "cost matrix has the wrong size");
        out.clear();
        if n == 0 {
            return 0.0;
        }
        const INF: f64 = f64::INFINITY;
        let reset = |v: &mut Vec<f64>, len: usize| {
            v.clear();
            v.resize(len, 0.0);
        };
        reset(&mut self.u, n + 1);
        reset(&mut self.v, m + 1);
        self.p.clear();
        self.p.resize(m + 1, 0);
        self.way.clear();
        self.way.resize(m + 1, 0);
        let (u, v, p, way) = (&mut self.u, &mut self.v, &mut self.p, &mut self.way);
        for i in 1..=n {
            p[0] = i;
            let mut j0 = 0usize;
            self.minv.clear();
            self.minv.resize(m + 1, INF);
            self.used.clear();
            self.used.resize(m + 1, false);
            loop {
                self.used[j0] = true;
                let i0 = p[j0];
                let row = &cost[(i0 - 1) * m..i0 * m];
                let mut delta = INF;
                let mut j1 = 0usize;
                for j in 1..=m {
                    if !self.used[j] {
                        let cur = row[j - 1] - u[i0] - v[j];
                        if cur < self.minv[j] {
                            self.minv[j] = cur;
                            way[j] = j0;
                        }
                        if self.minv[j] < delta {
                            delta = self.minv[j];
                            j1 = j;
                        }
                    }
                }
                for j in 0..=m {
                    if self.used[j] {
                        u[p[j]] += delta;
                        v[j] -= delta;
                    } else {
                        self.minv[j] -= delta;
                    }
                }
                j0 = j1;
                if p[j0] == 0 {
                    break;
                }
            }
            loop {
                let j1 = way[j0];
                p[j0] = p[j1];
                j0 = j1;
                if j0 == 0 {
                    break;
                }
            }
        }
        out.resize(n, usize::MAX);
        for j in 1..=m {
            if p[j] != 0 {
                out[p[j] - 1] = j - 1;
            }
        }
        out.iter().enumerate().map(|(i, &j)| cost[i * m + j]).sum()
    }

    /// Any shape: when n ≤ m every row gets a column; when n > m every column gets a row and the
    /// other rows get None. Returns the total cost.
    pub fn solve_rect(&mut self, cost: &[f64], n: usize, m: usize, out: &mut Vec<Option<usize>>) -> f64 {
        out.clear();
        let mut cols = std::mem::take(&mut self.cols);
        let total = if n <= m {
            self.solve(cost, n, m, &mut cols);
            out.extend(cols.iter().map(|&j| Some(j)));
            cost_of(cost, m, out)
        } else {
            let mut t = std::mem::take(&mut self.transposed);
            t.clear();
            for j in 0..m {
                for i in 0..n {
                    t.push(cost[i * m + j]);
                }
            }
            self.solve(&t, m, n, &mut cols);
            self.transposed = t;
            out.resize(n, None);
            for (j, &i) in cols.iter().enumerate() {
                out[i] = Some(j);
            }
            cost_of(cost, m, out)
        };
        self.cols = cols;
        total
    }
}

fn cost_of(cost: &[f64], m: usize, out: &[Option<usize>]) -> f64 {
    out.iter().enumerate().filter_map(|(i, j)| j.map(|j| cost[i * m + j])).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Minimum over every injective map of the smaller side into the larger.
    fn brute(cost: &[f64], n: usize, m: usize) -> f64 {
        fn rec(cost: &[f64], n: usize, m: usize, i: usize, used: &mut Vec<bool>, acc: f64, best: &mut f64) {
            if i == n {
                *best = best.min(acc);
                return;
            }
            for j in 0..m {
                if !used[j] {
                    used[j] = true;
                    rec(cost, n, m, i + 1, used, acc + cost[i * m + j], best);
                    used[j] = false;
                }
            }
        }
        if n <= m {
            let mut best = f64::INFINITY;
            rec(cost, n, m, 0, &mut vec![false; m], 0.0, &mut best);
            best
        } else {
            let t: Vec<f64> = (0..m).flat_map(|j| (0..n).map(move |i| (i, j))).map(|(i, j)| cost[i * m + j]).collect();
            brute(&t, m, n)
        }
    }

    #[test]
    fn matches_brute_force_on_random_rectangles() {
        let mut rng = ChaCha8Rng::seed_from_u64(42);
        let mut h = Hungarian::default();
        let mut out = Vec::new();
        for case in 0..600 {
            let n = rng.random_range(0..=6);
            let m = rng.random_range(0..=6);
            // Integer costs make ties common (the hard case); some negative.
            let cost: Vec<f64> = (0..n * m).map(|_| if case % 2 == 0 { rng.random_range(-5..10) as f64 } else { rng.random_range(-1.0..1.0) }).collect();
            let total = h.solve_rect(&cost, n, m, &mut out);
            let expect = brute(&cost, n, m);
            assert!((total - expect).abs() < 1e-9, "case {case}: {n}×{m} got {total}, brute force {expect}");
            // A valid assignment: right count, distinct columns, in range.
            let cols: Vec<usize> = out.iter().flatten().copied().collect();
            assert_eq!(cols.len(), n.min(m));
            let mut sorted = cols.clone();
            sorted.sort();
            sorted.dedup();
            assert_eq!(sorted.len(), cols.len(), "a column used twice");
            assert!(cols.iter().all(|&j| j < m));
        }
    }

    #[test]
    fn square_example_and_reuse() {
        // Classic 3×3 example: optimum 5 (0→1, 1→0, 2→2).
        let cost = [4.0, 1.0, 3.0, 2.0, 0.0, 5.0, 3.0, 2.0, 2.0];
        let mut h = Hungarian::default();
        let mut out = Vec::new();
        assert_eq!(h.solve(&cost, 3, 3, &mut out), 5.0);
        assert_eq!(out, vec![1, 0, 2]);
        // The same solver gives the same answer again (work space reset between calls).
        assert_eq!(h.solve(&cost, 3, 3, &mut out), 5.0);
        let mut r = Vec::new();
        assert_eq!(h.solve_rect(&[1.0, 9.0, 2.0, 9.0, 3.0, 0.5], 3, 2, &mut r), 1.5);
        assert_eq!(r, vec![Some(0), None, Some(1)]);
    }
}
