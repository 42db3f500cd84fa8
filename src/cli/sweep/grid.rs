//! A sweep's grid: `--vary KEY=VALUES` axes (a list `1,3,5` or an inclusive range
//! `20..60:10`), their product in row-major order (the first `--vary` varies slowest), and the
//! deterministic split of the points into shards.

use anyhow::{bail, Result};

/// The most points a sweep may have.
pub const MAX_POINTS: usize = 10_000;

/// One varied field and its values, as text (what `--set` receives).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Axis {
    pub key: String,
    pub values: Vec<String>,
}

impl Axis {
    /// The values as numbers, when every one is a number.
    pub fn numbers(&self) -> Option<Vec<f64>> {
        self.values.iter().map(|v| v.parse::<f64>().ok().filter(|x| x.is_finite())).collect()
    }
}

/// Parses `KEY=1,3,5` or `KEY=FROM..TO[:STEP]` (both ends included; STEP defaults to 1).
pub fn parse_vary(s: &str) -> Result<Axis> {
    let Some((key, spec)) = s.split_once('=') else { bail!("--vary {s:?}: expected KEY=VALUES, e.g. pools.crowd.count=20..60:10 or quality.overlap=1,3,5") };
    let key = key.trim();
    if key.is_empty() {
        bail!("--vary {s:?}: the key is empty");
    }
    let spec = spec.trim();
    let values = if let Some((from, rest)) = spec.split_once("..") {
        let (to, step) = rest.split_once(':').unwrap_or((rest, "1"));
        let num = |t: &str, what: &str| -> Result<f64> {
            let x: f64 = t.trim().parse().map_err(|_| anyhow::anyhow!("--vary {key}: the range's {what} {t:?} is not a number (a range is FROM..TO or FROM..TO:STEP, both ends included)"))?;
            if !x.is_finite() {
                bail!("--vary {key}: the range's {what} must be finite, found {t}");
            }
            Ok(x)
        };
        let (a, b, d) = (num(from, "start")?, num(to, "end")?, num(step, "step")?);
        if d <= 0.0 {
            bail!("--vary {key}: the step must be positive, found {step}");
        }
        if b < a {
            bail!("--vary {key}: the range ends ({b}) before it starts ({a})");
        }
        let n = ((b - a) / d + 1e-9).floor() as u64 + 1;
        if n as usize > MAX_POINTS {
            bail!("--vary {key}: {n} values; a sweep may have at most {MAX_POINTS} points");
        }
        let ints = [from, to, step].iter().all(|t| t.trim().parse::<i64>().is_ok());
        (0..n)
            .map(|i| {
                let x = a + i as f64 * d;
                if ints {
                    format!("{}", x.round() as i64)
                } else {
                    // Rounded to 12 significant digits, so 0.1 steps stay 0.3, not 0.30000000000000004.
                    let r: f64 = format!("{x:.12e}").parse().unwrap_or(x);
                    format!("{r}")
                }
            })
            .collect()
    } else {
        let v: Vec<String> = spec.split(',').map(|v| v.trim().to_string()).collect();
        if v.iter().any(String::is_empty) {
            bail!("--vary {key}: an empty value in {spec:?} (values are separated by commas)");
        }
        v
    };
    Ok(Axis { key: key.to_string(), values })
}

/// The grid's points, each the values of every axis (row-major: the last axis varies fastest).
pub fn points(axes: &[Axis]) -> Result<Vec<Vec<usize>>> {
    let n: usize = axes.iter().try_fold(1usize, |acc, a| acc.checked_mul(a.values.len())).unwrap_or(usize::MAX);
    if n > MAX_POINTS {
        bail!("the grid has {n} points; a sweep may have at most {MAX_POINTS} (split it, or use --shard to spread it over machines)");
    }
    let mut out = Vec::with_capacity(n);
    for mut i in 0..n {
        let mut idx = vec![0; axes.len()];
        for (k, a) in axes.iter().enumerate().rev() {
            idx[k] = i % a.values.len();
            i /= a.values.len();
        }
        out.push(idx);
    }
    Ok(out)
}

/// A shard `i/n` (0 ≤ i < n): it runs the points whose index is i modulo n.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    pub fn parse(s: &str) -> Result<Shard> {
        let Some((i, n)) = s.split_once('/') else { bail!("--shard {s:?}: expected I/N, e.g. 0/4 (shards are numbered from 0, as a Kubernetes indexed Job's JOB_COMPLETION_INDEX)") };
        let (Ok(index), Ok(count)) = (i.trim().parse::<usize>(), n.trim().parse::<usize>()) else { bail!("--shard {s:?}: expected two whole numbers I/N") };
        if count == 0 || index >= count {
            bail!("--shard {s}: expected 0 ≤ I < N");
        }
        Ok(Shard { index, count })
    }

    pub fn holds(&self, point: usize) -> bool {
        point % self.count == self.index
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_include_both_ends() {
        assert_eq!(parse_vary("pools.crowd.count=20..60:10").unwrap().values, ["20", "30", "40", "50", "60"]);
        assert_eq!(parse_vary("quality.overlap=1,3,5").unwrap().values, ["1", "3", "5"]);
        assert_eq!(parse_vary("x=1..3").unwrap().values, ["1", "2", "3"]);
        assert_eq!(parse_vary("x=0.1..0.3:0.1").unwrap().values, ["0.1", "0.2", "0.3"]);
        assert_eq!(parse_vary("routing.policy=fifo,c-mu").unwrap().values, ["fifo", "c-mu"]);
        for bad in ["x", "=1,2", "x=1..0", "x=1..5:0", "x=a..b", "x=1,,2"] {
            assert!(parse_vary(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_grid_is_row_major_and_shards_cover_it_once() {
        let axes = [parse_vary("a=1,2").unwrap(), parse_vary("b=1..3").unwrap()];
        let p = points(&axes).unwrap();
        assert_eq!(p, vec![vec![0, 0], vec![0, 1], vec![0, 2], vec![1, 0], vec![1, 1], vec![1, 2]]);
        let shards: Vec<Shard> = (0..4).map(|i| Shard::parse(&format!("{i}/4")).unwrap()).collect();
        for k in 0..p.len() {
            assert_eq!(shards.iter().filter(|s| s.holds(k)).count(), 1);
        }
        assert!(Shard::parse("4/4").is_err() && Shard::parse("1").is_err() && Shard::parse("0/0").is_err());
        assert!(points(&[parse_vary("a=1..200").unwrap(), parse_vary("b=1..200").unwrap()]).is_err());
    }
}
