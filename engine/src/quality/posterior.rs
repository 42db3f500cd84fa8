//! Weighted consensus on one task: the one-coin posterior over labels.
//!
//! With annotator j right with probability p_j and otherwise uniformly wrong among K − 1 classes,
//! and a uniform prior, P(y = k | labels) ∝ Π_j (p_j if l_j = k else (1 − p_j)/(K − 1)).
//! Computed in log space; p_j is clamped to [0.01, 0.99] so one vote never settles a task alone.
//! Ties go to the lowest label. With every p_j equal this is majority vote with a confidence.

/// The unnormalised log posterior of each of the `classes` labels (None with no votes).
fn log_posterior(votes: impl Iterator<Item = (f64, u16)>, classes: u16) -> Option<Vec<f64>> {
    let k = classes.max(2) as usize;
    let mut logp = vec![0.0f64; k];
    let mut any = false;
    for (p, label) in votes {
        any = true;
        let p = p.clamp(0.01, 0.99);
        let (right, wrong) = (p.ln(), ((1.0 - p) / (k as f64 - 1.0)).ln());
        for (c, lp) in logp.iter_mut().enumerate() {
            *lp += if c == label as usize { right } else { wrong };
        }
    }
    any.then_some(logp)
}

/// The largest log posterior and the normaliser Σ exp(l − max).
fn peak(logp: &[f64]) -> (f64, f64) {
    let max = logp.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    (max, logp.iter().map(|l| (l - max).exp()).sum())
}

/// The leading label and its posterior probability.
pub fn one_coin_posterior(votes: impl Iterator<Item = (f64, u16)>, classes: u16) -> (u16, f32) {
    let Some(logp) = log_posterior(votes, classes) else { return (0, 0.0) };
    let (max, total) = peak(&logp);
    let best = logp.iter().position(|&l| l == max).unwrap_or(0);
    (best as u16, (1.0 / total) as f32)
}

/// The whole posterior over the `classes` labels (the same model; sums to 1; empty with no
/// votes).
pub fn one_coin_posteriors(votes: impl Iterator<Item = (f64, u16)>, classes: u16) -> Vec<f32> {
    let Some(logp) = log_posterior(votes, classes) else { return Vec::new() };
    let (max, total) = peak(&logp);
    logp.iter().map(|l| ((l - max).exp() / total) as f32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn posterior_weighs_votes_by_reliability() {
        // Two weak voters against one strong one: the strong one wins.
        let (l, c) = one_coin_posterior([(0.6, 1), (0.6, 1), (0.99, 0)].into_iter(), 2);
        assert_eq!(l, 0);
        assert!(c > 0.9);
        // Equal reliabilities: majority, with a confidence that grows with agreement.
        let (l2, c2) = one_coin_posterior([(0.8, 2), (0.8, 2), (0.8, 1)].into_iter(), 3);
        let (_, c3) = one_coin_posterior([(0.8, 2), (0.8, 2), (0.8, 2)].into_iter(), 3);
        assert_eq!(l2, 2);
        assert!(c3 > c2 && c2 > 0.5);
        // Binary, p = 0.8, one vote: posterior = 0.8 exactly.
        let (_, c1) = one_coin_posterior([(0.8, 1)].into_iter(), 2);
        assert!((c1 - 0.8).abs() < 1e-6);
        assert_eq!(one_coin_posterior(std::iter::empty(), 4), (0, 0.0));
        // A tie goes to the lowest label.
        assert_eq!(one_coin_posterior([(0.7, 3), (0.7, 1)].into_iter(), 4).0, 1);
    }

    #[test]
    fn the_whole_posterior_agrees_with_the_leading_label() {
        let votes = [(0.6, 1), (0.6, 1), (0.99, 0), (0.7, 2)];
        let all = one_coin_posteriors(votes.into_iter(), 3);
        let (l, c) = one_coin_posterior(votes.into_iter(), 3);
        assert!((all.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert_eq!(all.iter().cloned().fold(0.0, f32::max), c);
        assert_eq!(all[l as usize], c);
        assert!(one_coin_posteriors(std::iter::empty(), 3).is_empty());
    }
}
