//! The red Wine Quality data as a binary task: the pool a simulation draws items from and the
//! held-out test set, split stratified by class with a seed.
//!
//! Data: P. Cortez, A. Cerdeira, F. Almeida, T. Matos and J. Reis, "Modeling wine preferences by
//! data mining from physicochemical properties", *Decision Support Systems* 47(4):547–553, 2009;
//! the UCI Machine Learning Repository's "Wine Quality" data set
//! (<https://doi.org/10.24432/C56S3T>), licensed CC BY 4.0. The red-wine file (1,599 rows, 11
//! physicochemical features, a quality score 3–8) ships inside the `linfa-datasets` crate (feature
//! `winequality`), so nothing is downloaded.

use std::sync::OnceLock;

use linfa::dataset::Records;
use ndarray::{Array1, Array2, ArrayView2, Axis};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Rows in the red Wine Quality data.
pub const ROWS: usize = 1_599;
/// Physicochemical features per row.
pub const FEATURES: usize = 11;
/// A wine is class 1 ("good") when its quality score is at least this.
pub const GOOD_QUALITY: usize = 6;
/// The share of each class held out as the test set.
pub const TEST_SHARE: f64 = 0.3;

/// The ChaCha8 stream the split draws from (the seed picks the key), kept apart from the streams
/// of `curve`.
const SPLIT_STREAM: u64 = 0x5711_7000;

/// The raw rows and binary classes, parsed once per process.
fn raw() -> &'static (Array2<f64>, Vec<u16>) {
    static RAW: OnceLock<(Array2<f64>, Vec<u16>)> = OnceLock::new();
    RAW.get_or_init(|| {
        let ds = linfa_datasets::winequality();
        assert_eq!((ds.records().nsamples(), ds.records().nfeatures()), (ROWS, FEATURES));
        let classes = ds.targets().iter().map(|&q| u16::from(q >= GOOD_QUALITY)).collect();
        (ds.records().to_owned(), classes)
    })
}

/// Red Wine Quality, binarised (quality ≥ 6 is class 1, else 0), split stratified into a pool
/// (70%: the items a simulation labels and learns from) and a test set (30%: held out, only ever
/// scored), with features standardised by the pool's mean and standard deviation.
///
/// Pool items and test rows keep the data file's order within each part, so a pool item's index
/// is stable for a given seed.
#[derive(Debug, Clone)]
pub struct WineQuality {
    pool_x: Array2<f64>,
    pool_y: Vec<u16>,
    test_x: Array2<f64>,
    test_y: Vec<u16>,
}

impl WineQuality {
    /// Load and split with the given seed: in each class, `round(0.3 × class size)` rows drawn
    /// at random (ChaCha8 keyed by `seed`) go to the test set, the rest to the pool.
    pub fn load(seed: u64) -> Self {
        let (x, y) = raw();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(SPLIT_STREAM);
        let mut pool = Vec::with_capacity(ROWS);
        let mut test = Vec::with_capacity(ROWS);
        for class in [0u16, 1] {
            let mut rows: Vec<usize> = (0..ROWS).filter(|&r| y[r] == class).collect();
            rows.shuffle(&mut rng);
            let n_test = (TEST_SHARE * rows.len() as f64).round() as usize;
            test.extend_from_slice(&rows[..n_test]);
            pool.extend_from_slice(&rows[n_test..]);
        }
        pool.sort_unstable();
        test.sort_unstable();

        let mut pool_x = x.select(Axis(0), &pool);
        let mut test_x = x.select(Axis(0), &test);
        // standardise with the pool's statistics only: the test set stays unseen
        let mean: Array1<f64> = pool_x.mean_axis(Axis(0)).expect("pool is not empty");
        let sd: Array1<f64> = pool_x.std_axis(Axis(0), 1.0).mapv(|s| if s > 0.0 { s } else { 1.0 });
        for m in [&mut pool_x, &mut test_x] {
            *m -= &mean;
            *m /= &sd;
        }
        WineQuality {
            pool_x,
            pool_y: pool.iter().map(|&r| y[r]).collect(),
            test_x,
            test_y: test.iter().map(|&r| y[r]).collect(),
        }
    }

    /// Items in the pool (1,119).
    pub fn pool_len(&self) -> usize {
        self.pool_y.len()
    }

    /// A pool item's standardised features, `FEATURES` of them. Panics if `item >= pool_len()`.
    pub fn features(&self, item: usize) -> &[f64] {
        self.pool_x.row(item).to_slice().expect("rows are contiguous")
    }

    /// A pool item's true class (0 or 1). Panics if `item >= pool_len()`.
    pub fn true_class(&self, item: usize) -> u16 {
        self.pool_y[item]
    }

    /// Rows in the test set (480).
    pub fn test_len(&self) -> usize {
        self.test_y.len()
    }

    /// A test row's standardised features. Panics if `row >= test_len()`.
    pub fn test_features(&self, row: usize) -> &[f64] {
        self.test_x.row(row).to_slice().expect("rows are contiguous")
    }

    /// The test set's true classes, in row order.
    pub fn test_classes(&self) -> &[u16] {
        &self.test_y
    }

    /// The share of class 1 in the pool.
    pub fn pool_share_good(&self) -> f64 {
        share_good(&self.pool_y)
    }

    /// The share of class 1 in the test set.
    pub fn test_share_good(&self) -> f64 {
        share_good(&self.test_y)
    }

    pub(crate) fn pool_matrix(&self) -> ArrayView2<'_, f64> {
        self.pool_x.view()
    }

    pub(crate) fn test_matrix(&self) -> ArrayView2<'_, f64> {
        self.test_x.view()
    }
}

/// The share of class 1 in the whole data (855 of 1,599).
pub fn share_good_all() -> f64 {
    share_good(&raw().1)
}

fn share_good(y: &[u16]) -> f64 {
    y.iter().filter(|&&c| c == 1).count() as f64 / y.len() as f64
}
