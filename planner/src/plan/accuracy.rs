//! The accuracy of majority vote under the scenario's accuracy model, exactly.
//!
//! Each of a task's `k` labels comes from a different annotator of the pool, whose accuracy was
//! drawn from the pool's distribution (one-coin, or a confusion matrix whose wrong classes are a
//! flat Dirichlet): marginally the labels are independent, right with probability `q` (the
//! distribution's mean, blended with the stream's difficulty as the simulator blends it:
//! q = mean·(1−d) + d/K), and otherwise one of the K−1 wrong classes with equal probability.
//! Majority vote is right when the true class has more labels than every wrong class; on a tie
//! with t wrong classes it is right with probability 1/(t+1) (the tie goes to the lowest label,
//! and the true class is equally likely to be any of them). The probability is a binomial over
//! the right labels times a count over the wrong ones (a sum over the partitions of the wrong
//! labels). Where it stops being exact: a difficulty drawn per task is replaced by its mean, a
//! task's labels drawn from several pools are priced as from one, learning, fatigue and dynamic
//! overlap are left out; the closed loop's simulation is the judge.

/// P(majority vote right) with `k` labels, each right with probability `q`, among `classes`.
pub fn majority_accuracy(q: f64, k: u32, classes: u32) -> f64 {
    let q = q.clamp(0.0, 1.0);
    let k = k.max(1) as usize;
    let wrong_classes = classes.max(2) as usize - 1;
    let mut total = 0.0;
    for c in 0..=k {
        let n = k - c;
        let p_c = binomial(k, c) * q.powi(c as i32) * (1.0 - q).powi(n as i32);
        if p_c == 0.0 {
            continue;
        }
        total += p_c * wrong_ok(n, c, wrong_classes);
    }
    total.clamp(0.0, 1.0)
}

fn binomial(n: usize, k: usize) -> f64 {
    (0..k).fold(1.0, |acc, i| acc * (n - i) as f64 / (i + 1) as f64)
}

/// With `n` wrong labels spread uniformly over `m` wrong classes and `c` right labels: the
/// probability that the right class wins (no wrong class above c; ties shared).
fn wrong_ok(n: usize, c: usize, m: usize) -> f64 {
    if n == 0 {
        return 1.0; // c = k > 0
    }
    if c == 0 {
        return 0.0; // some wrong class has a label, the right one none
    }
    wrong_counts(n, c, m)
}

/// Sum over the partitions of the n wrong labels into used classes (each count 1..=c) of their
/// multinomial probability times the ways to pick which of the m classes are used.
fn wrong_counts(n: usize, c: usize, m: usize) -> f64 {
    fn parts(n: usize, max: usize, out: &mut Vec<usize>, acc: &mut Vec<Vec<usize>>) {
        if n == 0 {
            acc.push(out.clone());
            return;
        }
        for j in (1..=max.min(n)).rev() {
            out.push(j);
            parts(n - j, j, out, acc);
            out.pop();
        }
    }
    let mut all = Vec::new();
    parts(n, c, &mut Vec::new(), &mut all);
    let fact = |x: usize| (1..=x).fold(1.0, |a, i| a * i as f64);
    let mut total = 0.0;
    for p in all {
        let used = p.len();
        if used > m {
            continue;
        }
        // Ordered choice of classes for the parts, divided by the repeats of equal parts.
        let mut choose = 1.0;
        for i in 0..used {
            choose *= (m - i) as f64;
        }
        let mut repeats = 1.0;
        let mut i = 0;
        while i < used {
            let j = p[i..].iter().take_while(|&&x| x == p[i]).count();
            repeats *= fact(j);
            i += j;
        }
        let multinomial = fact(n) / p.iter().map(|&x| fact(x)).product::<f64>();
        let ties = p.iter().filter(|&&x| x == c).count();
        total += choose / repeats * multinomial / (m as f64).powi(n as i32) / (ties + 1) as f64;
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Monte Carlo of the same model, for the check.
    fn simulate(q: f64, k: u32, classes: u32, n: usize) -> f64 {
        let mut state = 0x2545F4914F6CDD1Du64;
        let mut u = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut right = 0.0;
        for _ in 0..n {
            let mut counts = vec![0u32; classes as usize];
            for _ in 0..k {
                if u() < q {
                    counts[0] += 1;
                } else {
                    let w = 1 + ((u() * (classes - 1) as f64) as usize).min(classes as usize - 2);
                    counts[w] += 1;
                }
            }
            let best = *counts.iter().max().unwrap();
            let tied = counts.iter().filter(|&&c| c == best).count();
            if counts[0] == best {
                right += 1.0 / tied as f64;
            }
        }
        right / n as f64
    }

    #[test]
    fn binary_majority_is_the_binomial_tail() {
        // k = 3: q³ + 3q²(1−q).
        let q: f64 = 0.8;
        assert!((majority_accuracy(q, 3, 2) - (q.powi(3) + 3.0 * q * q * (1.0 - q))).abs() < 1e-12);
        assert!((majority_accuracy(q, 1, 2) - q).abs() < 1e-12);
        // k = 2 binary: both right, or a 1-1 tie won half the time.
        assert!((majority_accuracy(q, 2, 2) - (q * q + q * (1.0 - q))).abs() < 1e-12);
    }

    #[test]
    fn many_classes_agree_with_a_monte_carlo_of_the_model() {
        for (q, k, classes) in [(0.7, 3, 4), (0.6, 5, 3), (0.55, 4, 10), (0.5, 5, 1000), (0.8, 7, 6)] {
            let exact = majority_accuracy(q, k, classes);
            let mc = simulate(q, k, classes, 400_000);
            assert!((exact - mc).abs() < 0.004, "q {q} k {k} K {classes}: exact {exact}, Monte Carlo {mc}");
        }
        // More labels help when q is above the others' share.
        assert!(majority_accuracy(0.7, 5, 4) > majority_accuracy(0.7, 3, 4));
    }
}
