//! The split is stratified, everything is bitwise reproducible from its seed, the learner reaches
//! the accuracy logistic regression is known for on this task, degenerate inputs fall back, the
//! inverse power law recovers known curves, and (the test) a curve fitted on at most 200
//! noisy labels forecasts the accuracy observed at 400 and 800 inside a band that is not vacuous.

use crate::*;

fn clean_labels(d: &WineQuality) -> Vec<(usize, u16)> {
    (0..d.pool_len()).map(|i| (i, d.true_class(i))).collect()
}

/// Each class is split 70/30 on its own, so both parts keep the data's share of class 1
/// (855 of 1,599 = 53.5%) within a point; a plain random 30% split misses by more than a point
/// in about two seeds of three (sd of the test share ≈ 2.3 points), so ten seeds would fail it.
#[test]
fn split_is_stratified_and_standardised_on_the_pool() {
    let all = wine::share_good_all();
    assert!((all - 855.0 / 1599.0).abs() < 1e-12, "binarised at quality ≥ 6: {all}");
    for seed in 0..10 {
        let d = WineQuality::load(seed);
        assert_eq!((d.pool_len(), d.test_len()), (1_119, 480), "seed {seed}");
        for (part, share) in [("pool", d.pool_share_good()), ("test", d.test_share_good())] {
            assert!((share - all).abs() < 0.01, "seed {seed}: {part} share {share:.4} vs {all:.4}");
        }
        // standardised with the pool's own mean and sd
        for f in 0..wine::FEATURES {
            let col: Vec<f64> = (0..d.pool_len()).map(|i| d.features(i)[f]).collect();
            let mean = col.iter().sum::<f64>() / col.len() as f64;
            let var = col.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (col.len() - 1) as f64;
            assert!(mean.abs() < 1e-9 && (var - 1.0).abs() < 1e-9, "seed {seed} feature {f}");
        }
    }
    // the seed moves the split
    let (a, b) = (WineQuality::load(0), WineQuality::load(1));
    assert_ne!(a.test_classes(), b.test_classes());
}

/// Same seed, same split, labels, models, predictions and forecast, to the bit; another seed
/// gives another run.
#[test]
fn same_seed_same_bits() {
    let run = |seed: u64| {
        let d = WineQuality::load(seed);
        let labels = simulate_labels(&d, seed, 0.85);
        let curve = learning_curve(&d, seed, 0.85, &LABEL_COUNTS, LogisticConfig::default()).unwrap();
        let mut l = LogisticLearner::new(LogisticConfig::default());
        l.fit(&d, &labels[..300]).unwrap();
        let preds: Vec<(u16, u32)> =
            (0..d.pool_len()).map(|i| l.predict(&d, i)).map(|p| (p.label, p.confidence.to_bits())).collect();
        let opts = ForecastOptions { resamples: 10, seed, ..ForecastOptions::default() };
        let f = forecast(&d, &labels, &[25, 50, 100, 200], &[400, 800], &opts).unwrap();
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        let fbits = bits(&f.bands.iter().flat_map(|b| [b.mid, b.lo, b.hi]).collect::<Vec<_>>());
        let cbits = bits(&curve.iter().map(|p| p.test_accuracy).collect::<Vec<_>>());
        (labels, cbits, preds, fbits)
    };
    let (a, b) = (run(7), run(7));
    assert!(a == b, "seed 7 twice differs");
    let c = run(8);
    assert!(a.0 != c.0 && a.2 != c.2, "seeds 7 and 8 gave the same run");
}

/// Clean labels on the whole pool: logistic regression on red Wine Quality binarised at 6 is
/// commonly reported at about 0.72–0.77 test accuracy (the figure the issue cites; we found no
/// peer-reviewed table for this exact binarisation). This implementation gives 0.723–0.763 over
/// split seeds 0–9, mean 0.747; the majority class alone scores 0.535. The band asserted is that
/// range with a little room: a model that learns less than logistic regression should (or the
/// wrong class) fails it.
#[test]
fn clean_labels_reach_the_known_accuracy() {
    let accs: Vec<f64> = (0..10)
        .map(|seed| {
            let d = WineQuality::load(seed);
            let mut l = LogisticLearner::new(LogisticConfig::default());
            l.fit(&d, &clean_labels(&d)).unwrap();
            l.test_accuracy(&d)
        })
        .collect();
    let mean = accs.iter().sum::<f64>() / accs.len() as f64;
    assert!((0.735..=0.76).contains(&mean), "mean clean accuracy {mean:.4} ({accs:?})");
    assert!(accs.iter().all(|a| (0.71..=0.78).contains(a)), "{accs:?}");
}

#[test]
fn degenerate_inputs_fall_back_without_panicking() {
    let d = WineQuality::load(3);
    let mut l = LogisticLearner::new(LogisticConfig::default());
    // no labels: the prior
    l.fit(&d, &[]).unwrap();
    assert_eq!(l.predict(&d, 0), Prediction { label: 1, confidence: 0.5 });
    // one class only: that class, at the smoothed share (k+1)/(k+2)
    let zeros: Vec<(usize, u16)> =
        (0..d.pool_len()).filter(|&i| d.true_class(i) == 0).take(8).map(|i| (i, 0)).collect();
    l.fit(&d, &zeros).unwrap();
    assert_eq!(l.predict(&d, 5), Prediction { label: 0, confidence: 0.9 });
    assert!((l.test_accuracy(&d) - (1.0 - d.test_share_good())).abs() < 1e-12);
    l.fit(&d, &[(4, 1)]).unwrap();
    assert_eq!(l.predict(&d, 9), Prediction { label: 1, confidence: 2.0 / 3.0 });
    // two labels, two classes: a real (if weak) model
    let one = (0..d.pool_len()).find(|&i| d.true_class(i) == 1).unwrap();
    l.fit(&d, &[(zeros[0].0, 0), (one, 1)]).unwrap();
    assert_eq!(l.predict(&d, one).label, 1);
    assert_eq!(l.predict(&d, zeros[0].0).label, 0);
    // bad input is an error and keeps the model
    let before = l.predict(&d, one);
    assert!(matches!(l.fit(&d, &[(0, 2)]), Err(LearnerError::BadLabel(2))));
    let out = l.fit(&d, &[(5_000, 1)]);
    assert!(matches!(out, Err(LearnerError::ItemOutOfRange { item: 5_000, len: 1_119 })));
    assert_eq!(l.predict(&d, one), before);
}

fn synthetic(a: f64, b: f64, c: f64, noise: f64) -> Vec<(f64, f64)> {
    // deterministic ± noise, alternating
    [10.0, 20.0, 40.0, 80.0, 160.0, 320.0, 640.0, 1280.0]
        .iter()
        .enumerate()
        .map(|(i, &n)| (n, a - b * f64::powf(n, -c) + if i % 2 == 0 { noise } else { -noise }))
        .collect()
}

#[test]
fn ipl_recovers_known_curves() {
    for (a, b, c) in [(0.8, 0.6, 0.5), (0.95, 2.0, 1.0), (0.7, 0.3, 0.2), (0.9, 5.0, 1.5)] {
        for wp in [0.0, 1.0] {
            let opts = IplOptions { weight_power: wp, ..IplOptions::default() };
            let fit = Ipl::fit_with(&synthetic(a, b, c, 0.0), &opts).unwrap();
            let ok = (fit.a - a).abs() < 1e-6 && (fit.b - b).abs() < 1e-4 * b && (fit.c - c).abs() < 1e-5;
            assert!(ok, "exact ({a}, {b}, {c}), weights n^{wp}: got {fit:?}");
            let fit = Ipl::fit_with(&synthetic(a, b, c, 0.002), &opts).unwrap();
            // ±0.002 noise: a and c trade off (worst at small c), the curve itself stays put
            let ok = (fit.a - a).abs() < 0.025 && (fit.c - c).abs() < 0.25 * c;
            assert!(ok, "noisy ({a}, {b}, {c}), weights n^{wp}: got {fit:?}");
            let err = (fit.predict(2000.0) - (a - b * 2000f64.powf(-c))).abs();
            assert!(err < 0.005, "noisy ({a}, {b}, {c}), weights n^{wp}: off by {err} at 2000");
        }
    }
    // a falling or flat set gives b = 0 (a flat line at the weighted mean), never b < 0
    let ols = IplOptions { weight_power: 0.0, ..IplOptions::default() };
    let flat = Ipl::fit_with(&[(10.0, 0.7), (20.0, 0.69), (40.0, 0.68)], &ols).unwrap();
    assert_eq!(flat.b, 0.0);
    assert!((flat.a - 0.69).abs() < 1e-12);
    // the asymptote is capped at a_max
    let steep = Ipl::fit(&synthetic(1.2, 1.0, 0.3, 0.0)).unwrap();
    assert!(steep.a <= 1.0 && steep.b > 0.0, "{steep:?}");
    assert_eq!(Ipl::fit(&[(1.0, 0.5), (2.0, 0.6), (2.0, 0.6)]), Err(IplError::TooFewPoints(2)));
    assert!(matches!(Ipl::fit(&[(0.0, 0.5), (2.0, 0.6), (3.0, 0.6)]), Err(IplError::BadPoint(..))));
}

/// The test. For 30 seeds (each its own split, label order and annotator noise, annotator
/// accuracy 0.85), the curve is fitted on the test accuracies after 25, 50, 75, 100, 150 and 200
/// labels, and forecasts the accuracy the same run observes after 400 and 800 labels with the
/// 90% band of `forecast` (50 resamples).
///
/// Required: at least 50 of the 60 seed × n cases inside their band (83%); a band that truly
/// holds 90% fails that with probability about 3% (binomial, cases taken as independent), one
/// that holds 80% or less passes it with probability under 40%. Without the test-set noise term
/// the band holds only 44 of 60 and this fails. And the band must say something: mean half-width
/// at most 0.055 at each n and none above 0.08. Measured: 54/60 inside (29 at 400, 25 at 800),
/// mean half-widths 0.040 and 0.048, widest 0.068; the observed accuracies lie in 0.70–0.77.
#[test]
fn ipl_on_200_labels_forecasts_400_and_800() {
    let fit_counts = [25, 50, 75, 100, 150, 200];
    let targets = [400, 800];
    let (mut inside, mut cases, mut inside_at) = (0, 0, [0; 2]);
    let (mut widths, mut widest) = ([0.0f64; 2], 0.0f64);
    let seeds = 30;
    for seed in 0..seeds {
        let d = WineQuality::load(seed);
        let labels = simulate_labels(&d, seed, 0.85);
        let opts = ForecastOptions { seed, ..ForecastOptions::default() };
        let f = forecast(&d, &labels, &fit_counts, &targets, &opts).unwrap();
        let mut l = LogisticLearner::new(LogisticConfig::default());
        for (k, band) in f.bands.iter().enumerate() {
            l.fit(&d, &labels[..band.n]).unwrap();
            let observed = l.test_accuracy(&d);
            cases += 1;
            inside += band.contains(observed) as usize;
            inside_at[k] += band.contains(observed) as usize;
            widths[k] += band.half_width();
            widest = widest.max(band.half_width());
            eprintln!(
                "seed {seed} n {}: observed {observed:.3}, band {:.3} [{:.3}, {:.3}]",
                band.n, band.mid, band.lo, band.hi
            );
        }
    }
    let means = widths.map(|w| w / seeds as f64);
    eprintln!(
        "inside {inside}/{cases} ({inside_at:?} at {targets:?}); mean half-widths {means:.4?}; \
         widest {widest:.4}"
    );
    assert!(inside * 6 >= cases * 5, "only {inside} of {cases} observed accuracies inside the band");
    let narrow = means.iter().all(|&w| w <= 0.055) && widest <= 0.08;
    assert!(narrow, "band too wide: mean half-widths {means:?}, widest {widest}");
}

