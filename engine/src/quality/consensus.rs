//! Online consensus on one task's labels (majority vote, ties to the lowest label).
//! The batch algorithms of crowd-kit (Dawid-Skene and friends) live in `crate::quality`.

/// The majority label of `labels` among `classes` and the share of votes it got.
pub fn majority(labels: impl Iterator<Item = u16>, classes: u16) -> (u16, f32) {
    let mut counts = [0u32; 64];
    let mut big: Vec<u32> = Vec::new();
    let counts: &mut [u32] = if classes as usize <= counts.len() {
        &mut counts[..classes as usize]
    } else {
        big.resize(classes as usize, 0);
        &mut big
    };
    let mut n = 0u32;
    for l in labels {
        if let Some(c) = counts.get_mut(l as usize) {
            *c += 1;
            n += 1;
        }
    }
    let (best, votes) = counts.iter().enumerate().fold((0usize, 0u32), |acc, (i, &c)| if c > acc.1 { (i, c) } else { acc });
    (best as u16, if n == 0 { 0.0 } else { votes as f32 / n as f32 })
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn majority_breaks_ties_to_lowest() {
        assert_eq!(majority([2, 1, 2].into_iter(), 3), (2, 2.0 / 3.0));
        assert_eq!(majority([2, 1].into_iter(), 3), (1, 0.5));
        assert_eq!(majority(std::iter::empty(), 3), (0, 0.0));
        assert_eq!(majority([99, 99, 70].into_iter(), 100).0, 99);
    }
}
