//! Summary statistics: percentiles, means and Student-t confidence intervals.

/// Nearest-rank percentile of sorted data (q in [0, 1]); NaN for no data.
pub fn percentile_sorted(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (q * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

pub fn mean(xs: &[f64]) -> f64 {
    if xs.is_empty() { f64::NAN } else { xs.iter().sum::<f64>() / xs.len() as f64 }
}

/// Sample standard deviation (n − 1).
pub fn std_dev(xs: &[f64]) -> f64 {
    if xs.len() < 2 {
        return f64::NAN;
    }
    let m = mean(xs);
    (xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (xs.len() - 1) as f64).sqrt()
}

/// Two-sided Student-t quantile t_{1−α/2, df} for α = 0.05 or 0.01 (table to df 30, then the
/// Cornish-Fisher expansion around the normal quantile).
pub fn t_quantile(df: usize, confidence: f64) -> f64 {
    const T95: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
        2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
    ];
    const T99: [f64; 30] = [
        63.657, 9.925, 5.841, 4.604, 4.032, 3.707, 3.499, 3.355, 3.250, 3.169, 3.106, 3.055, 3.012, 2.977, 2.947,
        2.921, 2.898, 2.878, 2.861, 2.845, 2.831, 2.819, 2.807, 2.797, 2.787, 2.779, 2.771, 2.763, 2.756, 2.750,
    ];
    let (table, z) = if confidence >= 0.985 { (&T99, 2.5758293035489) } else { (&T95, 1.959963984540054) };
    if df == 0 {
        return f64::INFINITY;
    }
    if df <= 30 {
        return table[df - 1];
    }
    let n = df as f64;
    let z3 = z * z * z;
    let z5 = z3 * z * z;
    z + (z3 + z) / (4.0 * n) + (5.0 * z5 + 16.0 * z3 + 3.0 * z) / (96.0 * n * n)
}

/// Mean and half-width of the two-sided confidence interval of the mean.
pub fn mean_ci(xs: &[f64], confidence: f64) -> (f64, f64) {
    let m = mean(xs);
    if xs.len() < 2 {
        return (m, f64::NAN);
    }
    (m, t_quantile(xs.len() - 1, confidence) * std_dev(xs) / (xs.len() as f64).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn percentiles_and_intervals() {
        let xs: Vec<f64> = (1..=100).map(|i| i as f64).collect();
        assert_eq!(percentile_sorted(&xs, 0.5), 50.0);
        assert_eq!(percentile_sorted(&xs, 0.9), 90.0);
        assert_eq!(percentile_sorted(&xs, 0.99), 99.0);
        assert_eq!(percentile_sorted(&xs, 1.0), 100.0);
        assert!(percentile_sorted(&[], 0.5).is_nan());
        let (m, h) = mean_ci(&[1.0, 2.0, 3.0, 4.0], 0.95);
        assert_eq!(m, 2.5);
        assert!((h - 3.182 * (1.6666666666666667f64).sqrt() / 2.0).abs() < 1e-9);
        // Large df approaches the normal quantile (R: qt(0.975, 100) = 1.983972).
        assert!((t_quantile(100, 0.95) - 1.983972).abs() < 1e-4);
        assert!((t_quantile(60, 0.99) - 2.660283).abs() < 1e-3);
    }
}
