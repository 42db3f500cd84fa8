//! Online consensus on one task's labels (majority vote, ties to the lowest label).
//! The batch algorithms of crowd-kit (Dawid-Skene and friends) live in `crate::quality`.

/// The majority label of `labels` among `classes` and the share of votes it got.
pub fn majority(labels: impl Iterator<Item = u16>, classes: u16) -> (u16, f32) {
    let mut labels = labels;
    let Some(first) = labels.next() else { return (0, 0.0) };
    let Some(second) = labels.next() else {
        // One label (overlap 1): it is the vote, if it is a class.
        return if first < classes { (first, 1.0) } else { (0, 0.0) };
    };
    let mut few = [first, second, 0, 0, 0, 0, 0, 0];
    let mut n = 2usize;
    // Up to eight labels (every usual overlap): count among them, no table of every class.
    for l in labels.by_ref() {
        if n == few.len() {
            return majority_table(few.into_iter().chain(std::iter::once(l)).chain(labels), classes);
        }
        few[n] = l;
        n += 1;
    }
    let few = &few[..n];
    let (mut best, mut votes, mut valid) = (0u16, 0u32, 0u32);
    for &l in few {
        if l >= classes {
            continue;
        }
        valid += 1;
        let c = few.iter().filter(|&&x| x == l).count() as u32;
        if c > votes || (c == votes && l < best) {
            (best, votes) = (l, c);
        }
    }
    (best, if valid == 0 { 0.0 } else { votes as f32 / valid as f32 })
}

/// [`majority`] by a table of counts over every class.
fn majority_table(labels: impl Iterator<Item = u16>, classes: u16) -> (u16, f32) {
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
        assert_eq!(majority([5, 1].into_iter(), 3), (1, 1.0), "labels out of range are not votes");
        assert_eq!(majority([5, 7].into_iter(), 3), (0, 0.0));
    }
    #[test]
    fn the_few_labels_path_agrees_with_the_table() {
        let mut x = 7u64;
        for len in 0..12usize {
            for _ in 0..300 {
                let classes = 1 + (x % 5) as u16;
                let labels: Vec<u16> = (0..len)
                    .map(|_| {
                        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                        ((x >> 33) % 6) as u16
                    })
                    .collect();
                assert_eq!(majority(labels.iter().copied(), classes), majority_table(labels.iter().copied(), classes), "{labels:?} of {classes}");
            }
        }
    }
}
