//! Fitting on data with a known answer: separated blobs, automatic k, degenerate inputs, and
//! determinism.

use churn_core::{FeatureFrame, FeatureSpec, SealPolicy, Transform};
use churn_segment::{fit_segments, Error, KChoice, Provenance, SegmentModel, SegmentParams};
use rand08::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256Plus;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// The adjusted Rand index (Hubert & Arabie 1985) of two labelings: 1 for identical partitions
/// (up to renaming), about 0 for independent ones.
fn adjusted_rand_index(a: &[usize], b: &[usize]) -> f64 {
    let ka = a.iter().max().map_or(0, |m| m + 1);
    let kb = b.iter().max().map_or(0, |m| m + 1);
    let mut table = vec![vec![0u64; kb]; ka];
    for (&x, &y) in a.iter().zip(b) {
        table[x][y] += 1;
    }
    let pairs = |n: u64| (n * n.saturating_sub(1)) as f64 / 2.0;
    let sum_cells: f64 = table.iter().flatten().map(|&n| pairs(n)).sum();
    let sum_rows: f64 = table.iter().map(|r| pairs(r.iter().sum())).sum();
    let sum_cols: f64 = (0..kb).map(|j| pairs(table.iter().map(|r| r[j]).sum())).sum();
    let expected = sum_rows * sum_cols / pairs(a.len() as u64);
    let max = (sum_rows + sum_cols) / 2.0;
    (sum_cells - expected) / (max - expected)
}

#[test]
fn adjusted_rand_index_matches_the_published_example() {
    // scikit-learn's documentation: adjusted_rand_score([0, 0, 1, 1], [0, 0, 1, 2]) = 0.5714...
    assert!((adjusted_rand_index(&[0, 0, 1, 1], &[0, 0, 1, 2]) - 0.571_428_571_428_571_5).abs() < 1e-12);
    assert!((adjusted_rand_index(&[0, 0, 1, 1], &[1, 1, 0, 0]) - 1.0).abs() < 1e-12);
}

/// `per_blob` customers around each centre (in raw feature units) with unit-ish noise, plus
/// `monetary_total` so that segments can be ordered; returns the frame and the true blob per row.
fn blobs(centres: &[[f64; 4]], per_blob: usize, spread: f64, seed: u64) -> (FeatureFrame, Vec<usize>) {
    let mut rng = Xoshiro256Plus::seed_from_u64(seed);
    let n = centres.len() * per_blob;
    let mut truth = Vec::with_capacity(n);
    let mut cols: Vec<Vec<Option<f64>>> = (0..4).map(|_| Vec::with_capacity(n)).collect();
    for i in 0..n {
        // Interleave blobs so that row order says nothing.
        let b = i % centres.len();
        truth.push(b);
        for (j, col) in cols.iter_mut().enumerate() {
            let noise: f64 = rng.gen_range(-1.0..1.0) + rng.gen_range(-1.0..1.0);
            col.push(Some(centres[b][j] + spread * noise));
        }
    }
    let frame = FeatureFrame::try_new((0..n).map(|i| format!("c{i:05}")).collect())
        .and_then(|f| f.with_numeric("a", cols[0].clone()))
        .and_then(|f| f.with_numeric("b", cols[1].clone()))
        .and_then(|f| f.with_numeric("c", cols[2].clone()))
        .and_then(|f| f.with_numeric("monetary_total", cols[3].clone()))
        .expect("valid frame");
    (frame, truth)
}

fn raw_params(k: KChoice) -> SegmentParams {
    let mut params = SegmentParams::new(k);
    params.features = ["a", "b", "c", "monetary_total"]
        .into_iter()
        .map(|c| FeatureSpec::new(c, Transform::Identity))
        .collect();
    // Smaller than most test populations, so that auto-k scores a sample, not everyone.
    params.silhouette_sample = 400;
    params
}

const FOUR: [[f64; 4]; 4] = [
    [0.0, 0.0, 0.0, 100.0],
    [10.0, 0.0, 0.0, 200.0],
    [0.0, 10.0, 0.0, 300.0],
    [0.0, 0.0, 10.0, 400.0],
];

#[test]
fn separated_blobs_are_recovered() -> TestResult {
    let (frame, truth) = blobs(&FOUR, 500, 1.0, 1);
    let fit = fit_segments(&frame, &raw_params(KChoice::Fixed(4)).check()?, Provenance::default())?;
    let ari = adjusted_rand_index(&truth, &fit.assignment.segment);
    assert!(ari > 0.99, "adjusted Rand index {ari}");
    // Ids follow revenue: the blob with the largest money is segment 0.
    assert_eq!(fit.assignment.segment[3], 0);
    assert_eq!(fit.assignment.segment[0], 3);
    assert!(fit.warnings.is_empty(), "{:?}", fit.warnings);
    Ok(())
}

#[test]
fn automatic_k_finds_four_blobs() -> TestResult {
    let (frame, _) = blobs(&FOUR, 400, 1.0, 2);
    let fit = fit_segments(
        &frame,
        &raw_params(KChoice::Auto { min: 2, max: 10 }).check()?,
        Provenance::default(),
    )?;
    assert_eq!(fit.model.k(), 4, "scores: {:?}", fit.model.fit.k_scores);
    assert_eq!(fit.model.fit.k_scores.len(), 9);
    let best = fit
        .model
        .fit
        .k_scores
        .iter()
        .filter_map(|s| s.silhouette)
        .fold(f64::MIN, f64::max);
    assert_eq!(fit.model.fit.k_scores[2].silhouette, Some(best));
    Ok(())
}

#[test]
fn fitting_on_a_sample_assigns_everyone_consistently() -> TestResult {
    let (frame, truth) = blobs(&FOUR, 1_000, 1.0, 3);
    let mut params = raw_params(KChoice::Fixed(4));
    params.fit_sample = 500;
    let fit = fit_segments(&frame, &params.check()?, Provenance::default())?;
    assert_eq!(fit.model.fit.sample_size, 500);
    assert_eq!(fit.assignment.segment.len(), 4_000);
    assert!(adjusted_rand_index(&truth, &fit.assignment.segment) > 0.99);
    Ok(())
}

#[test]
fn the_same_seed_gives_the_same_model_and_a_saved_model_reproduces_the_labels() -> TestResult {
    let (frame, _) = blobs(&FOUR, 300, 3.0, 4);
    let params = raw_params(KChoice::Auto { min: 2, max: 6 }).check()?;
    let first = fit_segments(&frame, &params, Provenance::default())?;
    let second = fit_segments(&frame, &params, Provenance::default())?;
    assert_eq!(first.model.to_json()?, second.model.to_json()?);
    assert_eq!(first.assignment, second.assignment);

    let loaded = SegmentModel::from_json(&first.model.to_json()?)?;
    assert_eq!(loaded, first.model);
    assert_eq!(loaded.assign(&frame)?, first.assignment);
    Ok(())
}

#[test]
fn a_different_seed_can_change_the_sample_but_not_the_blobs() -> TestResult {
    let (frame, truth) = blobs(&FOUR, 500, 1.0, 5);
    let mut params = raw_params(KChoice::Fixed(4));
    params.fit_sample = 300;
    params.seed = 7;
    let fit = fit_segments(&frame, &params.check()?, Provenance::default())?;
    assert!(adjusted_rand_index(&truth, &fit.assignment.segment) > 0.99);
    Ok(())
}

#[test]
fn fewer_distinct_customers_than_k_reduces_k_with_a_warning() -> TestResult {
    let (frame, _) = blobs(&FOUR, 5, 0.0, 6);
    let fit = fit_segments(&frame, &raw_params(KChoice::Fixed(6)).check()?, Provenance::default())?;
    assert_eq!(fit.model.k(), 4);
    assert!(
        fit.warnings.iter().any(|w| w.contains("k reduced from 6 to 4")),
        "{:?}",
        fit.warnings
    );
    assert!(fit
        .model
        .segments
        .iter()
        .all(|s| s.centroid.iter().all(|v| v.is_finite())));
    Ok(())
}

#[test]
fn a_constant_input_is_dropped_with_a_warning() -> TestResult {
    let (frame, truth) = blobs(&[[0.0, 5.0, 0.0, 100.0], [10.0, 5.0, 10.0, 200.0]], 100, 0.5, 7);
    let constant = FeatureFrame::try_new(frame.ids().to_vec())?
        .with_numeric("a", frame.numeric("a").expect("a").to_vec())?
        .with_numeric("b", vec![Some(5.0); frame.len()])?
        .with_numeric("c", frame.numeric("c").expect("c").to_vec())?
        .with_numeric("monetary_total", frame.numeric("monetary_total").expect("m").to_vec())?;
    let fit = fit_segments(
        &constant,
        &raw_params(KChoice::Fixed(2)).check()?,
        Provenance::default(),
    )?;
    assert_eq!(fit.model.fit.dropped_features, vec!["b"]);
    assert_eq!(fit.model.features.len(), 3);
    assert!(fit
        .warnings
        .iter()
        .any(|w| w.contains("b is the same for every customer")));
    assert!(adjusted_rand_index(&truth, &fit.assignment.segment) > 0.99);
    // Assigning with the saved model needs only the inputs it kept.
    assert_eq!(fit.model.assign(&constant)?, fit.assignment);
    Ok(())
}

#[test]
fn identical_customers_are_an_error_not_nan() -> TestResult {
    let (frame, _) = blobs(&[[1.0, 2.0, 3.0, 4.0]], 50, 0.0, 8);
    let err = fit_segments(&frame, &raw_params(KChoice::Fixed(3)).check()?, Provenance::default())
        .expect_err("nothing to segment");
    assert!(matches!(err, Error::Degenerate(_)), "{err}");
    assert!(err.to_string().contains("same for all 50 customers"), "{err}");
    Ok(())
}

#[test]
fn two_distinct_customers_still_segment() -> TestResult {
    let (frame, _) = blobs(&[[0.0, 0.0, 0.0, 1.0], [1.0, 1.0, 1.0, 2.0]], 1, 0.0, 9);
    let fit = fit_segments(
        &frame,
        &raw_params(KChoice::Auto { min: 2, max: 10 }).check()?,
        Provenance::default(),
    )?;
    assert_eq!(fit.model.k(), 2);
    // The richer customer (row 1) is segment 0.
    assert_eq!(fit.assignment.segment, vec![1, 0]);
    assert_eq!(fit.assignment.distance, vec![0.0, 0.0]);
    Ok(())
}

#[test]
fn an_empty_frame_is_an_error() -> TestResult {
    let frame = FeatureFrame::try_new(Vec::new())?.with_numeric("monetary_total", Vec::new())?;
    let err = fit_segments(&frame, &raw_params(KChoice::Fixed(2)).check()?, Provenance::default()).expect_err("empty");
    assert!(err.to_string().contains("no customers"), "{err}");
    Ok(())
}

#[test]
fn a_missing_or_null_input_names_the_feature() -> TestResult {
    let (frame, _) = blobs(&FOUR, 10, 1.0, 10);
    let mut params = raw_params(KChoice::Fixed(2));
    params
        .features
        .push(FeatureSpec::new("tenure_days", Transform::Identity));
    let err = fit_segments(&frame, &params.check()?, Provenance::default()).expect_err("missing");
    assert!(err.to_string().contains("\"tenure_days\" is missing"), "{err}");

    let model = fit_segments(&frame, &raw_params(KChoice::Fixed(2)).check()?, Provenance::default())?.model;
    let mut with_null: Vec<Option<f64>> = frame.numeric("c").expect("c").to_vec();
    with_null[7] = None;
    let other = FeatureFrame::try_new(frame.ids().to_vec())?
        .with_numeric("a", frame.numeric("a").expect("a").to_vec())?
        .with_numeric("b", frame.numeric("b").expect("b").to_vec())?
        .with_numeric("c", with_null)?
        .with_numeric("monetary_total", frame.numeric("monetary_total").expect("m").to_vec())?;
    let err = model.assign(&other).expect_err("null");
    assert!(err.to_string().contains("row 7 (customer \"c00007\") is null"), "{err}");
    Ok(())
}

#[test]
fn corrupt_model_files_are_rejected_with_a_reason() -> TestResult {
    let (frame, _) = blobs(&FOUR, 20, 1.0, 11);
    let model = fit_segments(&frame, &raw_params(KChoice::Fixed(3)).check()?, Provenance::default())?.model;
    let sealed = model.to_json()?;
    // Any edit of a sealed file is a checksum mismatch; the invariants are checked on files without
    // a checksum (as written before checksums existed).
    let edited = sealed.replacen("\"id\": 1", "\"id\": 5", 1);
    let err = SegmentModel::from_json(&edited).expect_err("edited");
    assert!(err.to_string().contains("checksum mismatch"), "{err}");
    let json: String = sealed
        .lines()
        .filter(|line| !line.trim_start().starts_with("\"checksum\""))
        .collect::<Vec<_>>()
        .join("\n");
    let refused = SegmentModel::from_json(&json).expect_err("an unsealed file is refused by default");
    assert!(refused.to_string().contains("has no \"checksum\""), "{refused}");
    assert!(
        SegmentModel::from_json_with(&json, SealPolicy::AcceptUnsealed).is_ok(),
        "an unsealed file reads when accepted"
    );
    let cases = [
        (
            json.replacen("\"churn-segments\"", "\"churn-model\"", 1),
            "format is \"churn-model\"",
        ),
        (json.replacen("\"version\": 1", "\"version\": 9", 1), "newer churn"),
        (json.replacen("\"id\": 1", "\"id\": 5", 1), "ids must be 0..k"),
        ("[1, 2]".to_string(), "not a JSON object"),
        (
            json.replacen("\"tool_version\"", "\"surprise\": 1, \"tool_version\"", 1),
            "unknown field",
        ),
    ];
    for (text, expected) in cases {
        let err = SegmentModel::from_json_with(&text, SealPolicy::AcceptUnsealed).expect_err(expected);
        assert!(err.to_string().contains(expected), "{err} should contain {expected}");
    }
    Ok(())
}
