//! Dawid-Skene: every worker has a confusion matrix; EM alternates between the posterior of each
//! task's true label and the workers' confusion matrices.
//!
//! Maths (K labels, prior `p`, worker confusion `e_w[l, c] = P(w answers l | truth c)`):
//!
//! ```text
//! E-step:  log2 q_t(c) = log2 max(p_c, 1e-10) + sum_{answers (t, w, l)} log2 e_w[l, c]
//!          q_t = softmax_2(log2 q_t)                       (shifted by the row max: no underflow)
//! M-step:  p_c      = mean_t q_t(c)
//!          n_w[l,c] = max(sum_{answers (t, w, l)} q_t(c), 1e-10)      for labels l that w used
//!          e_w[l,c] = n_w[l, c] / sum_{l' used by w} n_w[l', c]
//! loss:    ELBO / #answers = ( sum_answers sum_c q_t(c) (ln e_w[l,c] + ln p_c)
//!                            - sum_t sum_c q_t(c) ln q_t(c) ) / #answers
//! stop:    after n_iter iterations, or as soon as loss_i - loss_{i-1} < tol
//! ```
//!
//! This follows crowd-kit 1.4.2 `DawidSkene` exactly: the posteriors start from majority-vote
//! shares, priors are the mean posterior over tasks, counts are floored at 1e-10 and normalised
//! over the labels each worker used, the E-step works in base-2 logs, the stopping rule compares
//! consecutive ELBOs (it is not monotone, so it may stop after 2 iterations), duplicates are
//! kept, ties go to the lowest label. Golden labels, when given, overwrite the posteriors of
//! their tasks with one-hot rows after the initialisation and after every E-step.
//!
//! Cost per iteration: O(#answers * K) for the E- and M-steps plus O(R * K), R = the distinct
//! (worker, label) pairs of the answers; the ELBO reuses the M-step counts (`sum_answers q_t(c) ln
//! e_w[l,c] = sum_{w,l,c} n_w[l,c] ln e_w[l,c]`), so it costs no pass over the answers. No
//! allocation inside the loop.
//!
//! Memory: O(#answers + #workers + #tasks * K + R * K), R <= min(#answers, #workers * K). A
//! confusion row `e_w[l, .]` exists only for a label `l` that worker `w` used (the others are 0 and
//! never read), so 300 workers answering 2,000 times with 2,000 distinct labels need 2,000 rows of
//! 2,000 values (32 MB), not 300 x 2,000 x 2,000 (9.6 GB per table).
//!
//! Paper: A. P. Dawid and A. M. Skene, "Maximum Likelihood Estimation of Observer Error-Rates
//! Using the EM Algorithm", Applied Statistics 28(1), 1979.
//!
//! ```
//! use tessera_engine::quality::aggregation::{Aggregator, Answers, DawidSkene};
//! // workers 0 and 1 agree, worker 2 always says the opposite
//! let a = Answers::new(3, 3, 2,
//!     vec![0, 0, 0, 1, 1, 1, 2, 2, 2], vec![0, 1, 2, 0, 1, 2, 0, 1, 2],
//!     vec![1, 1, 0, 0, 0, 1, 1, 1, 0]).unwrap();
//! let r = DawidSkene::default().fit(&a, None).unwrap();
//! assert_eq!(r.labels, vec![1, 0, 1]);
//! let e = r.confusion.unwrap(); // e.get(worker, observed, true)
//! assert!(e.get(2, 0, 1) > 0.9); // worker 2 answers 0 when the truth is 1
//! ```

use super::*;

/// Dawid-Skene parameters (crowd-kit defaults: 100 iterations, tol 1e-5).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DawidSkene {
    /// Maximum number of EM iterations.
    pub n_iter: usize,
    /// Stop when the ELBO per answer grows by less than this (0 = always run `n_iter`).
    pub tol: f64,
}

impl Default for DawidSkene {
    fn default() -> Self {
        DawidSkene { n_iter: 100, tol: 1e-5 }
    }
}

/// The answers re-laid out for EM: grouped by task, each answer reduced to its confusion row, one
/// row per distinct (worker, label) pair, numbered in (worker, label) order. Shared with
/// [`super::one_coin_dawid_skene`]. Memory: O(#answers + #workers + #tasks + R), R = the number of
/// rows; the tables indexed by row (`counts`, `errors`, ...) hold R * K values.
pub(crate) struct EmData {
    pub k: usize,
    pub n_tasks: usize,
    pub n_workers: usize,
    pub offsets: Vec<u32>,
    /// The confusion row of each answer, in task order.
    pub rows: Vec<u32>,
    /// The rows of worker `w` are `worker_rows[w]..worker_rows[w + 1]`.
    pub worker_rows: Vec<u32>,
    /// The worker and the (observed) label of each row; labels ascend within a worker.
    pub row_worker: Vec<u32>,
    pub row_label: Vec<u32>,
    pub n_active_tasks: usize,
    pub n_answers: usize,
}

/// Where the EM algorithms start: the layout, majority-vote posteriors (golden rows one-hot) and
/// the priors they imply.
pub(crate) struct EmStart {
    pub d: EmData,
    pub idx: TaskIndex,
    pub probas: Vec<f64>,
    pub priors: Vec<f64>,
}

/// The EM iteration shared by Dawid-Skene and its one-coin variant: E-step (golden rows kept
/// one-hot), priors, the model's M-step into `errors`, ELBO per answer; stops after `n_iter`
/// iterations or when the ELBO gains less than `tol` (crowd-kit's rule). All buffers allocated
/// once: the posteriors (#tasks * K) and three tables of one row of K per confusion row (R * K).
pub(crate) struct EmLoop {
    pub probas: Vec<f64>,
    pub priors: Vec<f64>,
    pub counts: Vec<f64>,
    pub errors: Vec<f64>,
    pub history: Vec<f64>,
    log2err: Vec<f64>,
    scratch: Vec<f64>,
    prior_sum: Vec<f64>,
}

impl EmLoop {
    pub fn new(d: &EmData, probas: Vec<f64>, priors: Vec<f64>) -> Self {
        let (k, size) = (d.k, d.n_rows() * d.k);
        EmLoop {
            probas,
            priors,
            counts: vec![0.0; size],
            errors: vec![0.0; size],
            history: Vec::new(),
            log2err: vec![0.0; size],
            scratch: vec![0.0; 2 * k],
            prior_sum: vec![0.0; k],
        }
    }

    /// Runs EM from the current `errors`. `m_step(d, probas, counts, errors)` refits the model.
    pub fn run(&mut self, d: &EmData, golden: Option<&Golden>, n_iter: usize, tol: f64, mut m_step: impl FnMut(&EmData, &[f64], &[f64], &mut [f64])) {
        let k = d.k;
        let mut loss = f64::NEG_INFINITY;
        self.history = Vec::with_capacity(n_iter);
        for _ in 0..n_iter {
            d.log2_errors(&self.errors, &mut self.log2err);
            let entropy = if golden.is_some() {
                let e = d.e_step(&self.priors, &self.log2err, &mut self.probas, &mut self.scratch, None);
                correct_with_golden(&mut self.probas, k, golden);
                d.priors(&self.probas, &mut self.priors);
                d.counts(&self.probas, &mut self.counts);
                e
            } else {
                let e = d.e_step(&self.priors, &self.log2err, &mut self.probas, &mut self.scratch, Some((&mut self.prior_sum, &mut self.counts)));
                d.priors_from_sum(&self.prior_sum, &mut self.priors);
                e
            };
            m_step(d, &self.probas, &self.counts, &mut self.errors);
            let new_loss = d.elbo(&self.probas, &self.priors, &self.counts, &self.errors, golden.is_none().then_some(entropy));
            self.history.push(new_loss);
            if new_loss - loss < tol {
                break;
            }
            loss = new_loss;
        }
    }
}

impl EmData {
    /// Checks `golden` and lays out the start of EM; None when there are no answers.
    pub fn start(a: &Answers, golden: Option<&Golden>) -> Result<Option<EmStart>, AggregationError> {
        if let Some(g) = golden {
            a.check_golden(g)?;
        }
        if a.is_empty() {
            return Ok(None);
        }
        let (d, idx) = EmData::new(a);
        let (mut probas, _) = vote_shares(a, &idx, None);
        correct_with_golden(&mut probas, d.k, golden);
        let mut priors = vec![0.0; d.k];
        d.priors(&probas, &mut priors);
        Ok(Some(EmStart { d, idx, probas, priors }))
    }

    /// Time and memory O(#answers + #workers + K): the answers grouped by worker (a counting
    /// sort), then each worker's distinct labels sorted and numbered.
    pub fn new(a: &Answers) -> (Self, TaskIndex) {
        let k = a.n_labels;
        let idx = a.by_task();
        let by_worker = TaskIndex::group(&a.worker, a.n_workers);
        // slot[l]: the row of label l for the current worker (NONE when unused), reset per worker
        const NONE: u32 = u32::MAX;
        let mut slot = vec![NONE; k];
        let mut row_of = vec![0u32; a.len()];
        let mut worker_rows = Vec::with_capacity(a.n_workers + 1);
        worker_rows.push(0u32);
        let (mut row_worker, mut row_label, mut used) = (Vec::new(), Vec::new(), Vec::new());
        for w in 0..a.n_workers {
            let mine = by_worker.answers(w);
            used.clear();
            for &i in mine {
                let l = a.label[i as usize];
                if slot[l as usize] == NONE {
                    slot[l as usize] = 0;
                    used.push(l);
                }
            }
            used.sort_unstable();
            for &l in &used {
                slot[l as usize] = row_label.len() as u32;
                row_label.push(l);
                row_worker.push(w as u32);
            }
            for &i in mine {
                row_of[i as usize] = slot[a.label[i as usize] as usize];
            }
            used.iter().for_each(|&l| slot[l as usize] = NONE);
            worker_rows.push(row_label.len() as u32);
        }
        let rows: Vec<u32> = idx.order.iter().map(|&i| row_of[i as usize]).collect();
        let n_active_tasks = (0..a.n_tasks).filter(|&t| idx.count(t) > 0).count();
        let d = EmData {
            k,
            n_tasks: a.n_tasks,
            n_workers: a.n_workers,
            offsets: idx.offsets.clone(),
            rows,
            worker_rows,
            row_worker,
            row_label,
            n_active_tasks,
            n_answers: a.len(),
        };
        (d, idx)
    }

    /// Number of confusion rows (distinct (worker, label) pairs).
    pub fn n_rows(&self) -> usize {
        self.row_label.len()
    }

    /// The fitted confusion matrices in their sparse form (`values`: one row of K per row here).
    pub fn into_confusion(self, values: Vec<f64>) -> Confusion {
        Confusion { n_labels: self.k, offsets: self.worker_rows, observed: self.row_label, values }
    }

    fn range(&self, t: usize) -> std::ops::Range<usize> {
        self.offsets[t] as usize..self.offsets[t + 1] as usize
    }

    /// E-step: posteriors from priors and base-2 log confusion rows. Returns the entropy term of
    /// the ELBO, `-sum_t sum_c max(q,1e-10) ln max(q,1e-10)`, computed from the log-likelihoods:
    /// `-q ln q = q (ln s_t - (ll_c - max) ln 2)`, and `sum_t ln s_t` is taken as the log of a
    /// running product, so there is no `ln` per task. The label with the largest log-likelihood
    /// gets `exp2(0) = 1` without a call.
    ///
    /// With `fused = Some((priors_sum, counts))` it also accumulates the M-step statistics in the
    /// same pass (the caller must not change `probas` afterwards, i.e. no golden labels):
    /// `priors_sum[c] += q_t(c)` and `counts[row] += q_t` (both zeroed here first).
    pub fn e_step(
        &self,
        priors: &[f64],
        log2err: &[f64],
        probas: &mut [f64],
        scratch: &mut [f64],
        fused: Option<(&mut [f64], &mut [f64])>,
    ) -> f64 {
        // Monomorphise the common label counts so the inner loops unroll.
        match self.k {
            2 => self.e_step_k::<2>(priors, log2err, probas, scratch, fused),
            3 => self.e_step_k::<3>(priors, log2err, probas, scratch, fused),
            4 => self.e_step_k::<4>(priors, log2err, probas, scratch, fused),
            5 => self.e_step_k::<5>(priors, log2err, probas, scratch, fused),
            10 => self.e_step_k::<10>(priors, log2err, probas, scratch, fused),
            _ => self.e_step_k::<0>(priors, log2err, probas, scratch, fused),
        }
    }

    /// `KC` = the label count known at compile time, or 0 for "read it from `self.k`".
    fn e_step_k<const KC: usize>(
        &self,
        priors: &[f64],
        log2err: &[f64],
        probas: &mut [f64],
        scratch: &mut [f64],
        mut fused: Option<(&mut [f64], &mut [f64])>,
    ) -> f64 {
        const LN2: f64 = std::f64::consts::LN_2;
        let eps_term = EPS * EPS.ln();
        let mut entropy = 0.0;
        let mut log_prod = 0.0;
        let mut prod = 1.0f64;
        let k = if KC > 0 { KC } else { self.k };
        let (lp, ll) = scratch.split_at_mut(k);
        for c in 0..k {
            lp[c] = priors[c].max(EPS).log2();
        }
        if let Some((ps, counts)) = fused.as_mut() {
            ps.fill(0.0);
            counts.fill(0.0);
        }
        for t in 0..self.n_tasks {
            let range = self.range(t);
            if range.is_empty() {
                continue;
            }
            let ll = &mut ll[..k];
            ll.copy_from_slice(lp);
            for &r in &self.rows[range.clone()] {
                let e = &log2err[r as usize * k..r as usize * k + k];
                for c in 0..k {
                    ll[c] += e[c];
                }
            }
            let m = ll.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let row = &mut probas[t * k..t * k + k];
            let mut s = 0.0;
            for c in 0..k {
                let d = ll[c] - m;
                row[c] = if d == 0.0 { 1.0 } else { d.exp2() };
                s += row[c];
            }
            let mut clipped_mass = 0.0;
            for c in 0..k {
                let q = row[c] / s;
                row[c] = q;
                if q >= EPS {
                    entropy -= q * ((ll[c] - m) * LN2);
                } else {
                    entropy -= eps_term;
                    clipped_mass += q;
                }
            }
            // + sum_{q >= EPS} q ln s = ln s - clipped_mass ln s
            prod *= s;
            if prod > 1e250 {
                log_prod += prod.ln();
                prod = 1.0;
            }
            if clipped_mass > 0.0 {
                entropy -= clipped_mass * s.ln();
            }
            if let Some((ps, counts)) = fused.as_mut() {
                for c in 0..k {
                    ps[c] += row[c];
                }
                for &r in &self.rows[range] {
                    let n = &mut counts[r as usize * k..r as usize * k + k];
                    for c in 0..k {
                        n[c] += row[c];
                    }
                }
            }
        }
        entropy + log_prod + prod.ln()
    }

    /// Priors from the sums accumulated by a fused E-step.
    pub fn priors_from_sum(&self, sum: &[f64], priors: &mut [f64]) {
        let n = self.n_active_tasks.max(1) as f64;
        for (p, s) in priors.iter_mut().zip(sum) {
            *p = s / n;
        }
    }

    /// Mean posterior over tasks with answers.
    pub fn priors(&self, probas: &[f64], priors: &mut [f64]) {
        let k = self.k;
        priors.fill(0.0);
        for t in 0..self.n_tasks {
            if self.offsets[t] != self.offsets[t + 1] {
                for c in 0..k {
                    priors[c] += probas[t * k + c];
                }
            }
        }
        let n = self.n_active_tasks.max(1) as f64;
        priors.iter_mut().for_each(|p| *p /= n);
    }

    /// `counts[(w * K + l) * K + c] = sum_{answers (t, w, l)} probas[t, c]`.
    pub fn counts(&self, probas: &[f64], counts: &mut [f64]) {
        let k = self.k;
        counts.fill(0.0);
        for t in 0..self.n_tasks {
            let q = &probas[t * k..t * k + k];
            for &r in &self.rows[self.range(t)] {
                let n = &mut counts[r as usize * k..r as usize * k + k];
                for c in 0..k {
                    n[c] += q[c];
                }
            }
        }
    }

    /// ELBO per answer (crowd-kit `_evidence_lower_bound / len(data)`), from the raw counts.
    /// `entropy`: the value returned by [`EmData::e_step`], or `None` to recompute it from
    /// `probas` (needed after golden rows were overwritten).
    pub fn elbo(&self, probas: &[f64], priors: &[f64], counts: &[f64], errors: &[f64], entropy: Option<f64>) -> f64 {
        let k = self.k;
        let mut joint = 0.0;
        let mut mass = vec![0.0; k];
        for r in 0..self.n_rows() {
            for c in 0..k {
                let n = counts[r * k + c];
                mass[c] += n;
                joint += n * errors[r * k + c].ln();
            }
        }
        for c in 0..k {
            joint += mass[c] * priors[c].max(EPS).ln();
        }
        let entropy = entropy.unwrap_or_else(|| {
            let mut entropy = 0.0;
            for t in 0..self.n_tasks {
                if self.offsets[t] == self.offsets[t + 1] {
                    continue;
                }
                for &q in &probas[t * k..t * k + k] {
                    let q = q.max(EPS);
                    entropy -= q * q.ln();
                }
            }
            entropy
        });
        (joint + entropy) / self.n_answers as f64
    }

    pub fn log2_errors(&self, errors: &[f64], log2err: &mut [f64]) {
        for (l, &e) in log2err.iter_mut().zip(errors) {
            *l = e.log2();
        }
    }
}

/// DS M-step: floor the counts, normalise each true-label column over the labels the worker used.
fn ds_errors(d: &EmData, counts: &[f64], errors: &mut [f64]) {
    let k = d.k;
    let mut colsum = vec![0.0; k];
    for w in 0..d.n_workers {
        let rows = d.worker_rows[w] as usize..d.worker_rows[w + 1] as usize;
        colsum.fill(0.0);
        for r in rows.clone() {
            for c in 0..k {
                colsum[c] += counts[r * k + c].max(EPS);
            }
        }
        for r in rows {
            for c in 0..k {
                errors[r * k + c] = counts[r * k + c].max(EPS) / colsum[c];
            }
        }
    }
}

pub(crate) fn empty_result(a: &Answers) -> Aggregation {
    Aggregation {
        n_labels: a.n_labels,
        labels: vec![NO_LABEL; a.n_tasks],
        probas: vec![0.0; a.n_tasks * a.n_labels],
        worker_skills: None,
        confusion: None,
        task_difficulty: None,
        iterations: 0,
        loss_history: vec![],
    }
}

impl Aggregator for DawidSkene {
    fn name(&self) -> &'static str {
        "ds"
    }

    /// Memory: O(#answers + #workers + #tasks * K + R * K), R = distinct (worker, label) pairs.
    fn fit(&self, a: &Answers, golden: Option<&Golden>) -> Result<Aggregation, AggregationError> {
        fit_confusion_em(a, golden, self.n_iter, self.tol, ds_errors)
    }
}

/// Dawid-Skene's fit with the M-step `m_step(d, counts, errors)` (counts → confusion rows):
/// majority-vote start, an M-step, EM to convergence, labels, the sparse confusion. Shared by DS
/// and its smoothed variant.
pub(crate) fn fit_confusion_em(
    a: &Answers,
    golden: Option<&Golden>,
    n_iter: usize,
    tol: f64,
    mut m_step: impl FnMut(&EmData, &[f64], &mut [f64]),
) -> Result<Aggregation, AggregationError> {
    let Some(EmStart { d, idx, probas, priors }) = EmData::start(a, golden)? else {
        return Ok(empty_result(a));
    };
    let k = d.k;
    let mut em = EmLoop::new(&d, probas, priors);
    d.counts(&em.probas, &mut em.counts);
    m_step(&d, &em.counts, &mut em.errors);
    em.run(&d, golden, n_iter, tol, |d, _, counts, errors| m_step(d, counts, errors));
    let labels = labels_from_probas(&em.probas, k, &idx);
    Ok(Aggregation {
        n_labels: k,
        labels,
        probas: em.probas,
        worker_skills: None,
        confusion: Some(d.into_confusion(em.errors)),
        task_difficulty: None,
        iterations: em.history.len(),
        loss_history: em.history,
    })
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    #[test]
    fn golden_rows_are_one_hot_and_pull_the_others() {
        let a = answers(&[(0, 0, 0), (0, 1, 1), (1, 0, 0), (1, 1, 1), (2, 0, 0), (2, 1, 1)], 2);
        // Without golden: ties -> 0. Golden says task 0 is 1, so worker 1 is trusted.
        let g = [Some(1), None, None];
        let r = DawidSkene::default().fit(&a, Some(&g)).unwrap();
        assert_eq!(r.proba(0), &[0.0, 1.0]);
        assert_eq!(r.labels, vec![1, 1, 1]);
        assert_finite(&r, &a);
    }

    #[test]
    fn tol_zero_runs_all_iterations() {
        let (_, a) = edge_cases().remove(3);
        let r = DawidSkene { n_iter: 7, tol: 0.0 }.fit(&a, None).unwrap();
        assert!(r.iterations <= 7);
        assert_finite(&r, &a);
    }

    #[test]
    fn confusion_columns_sum_to_one() {
        for (_, a) in edge_cases() {
            let r = DawidSkene::default().fit(&a, None).unwrap();
            let k = a.n_labels as u32;
            let e = r.confusion.clone().unwrap();
            for w in 0..a.n_workers {
                if e.offsets[w] == e.offsets[w + 1] {
                    continue;
                }
                for c in 0..a.n_labels {
                    let s: f64 = (0..k).map(|l| e.get(w, l, c)).sum();
                    assert!((s - 1.0).abs() < 1e-9);
                }
            }
        }
    }
}
