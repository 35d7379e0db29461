//! Training on data with a known answer, degenerate data, and the artifact round trip.

use churn_core::{FeatureFrame, FeatureSpec, Transform};
use churn_score::{train, ChurnModel, Error, ModelParams, TrainingSource, PROBABILITY_FLOOR};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn one_input(column: &str) -> churn_score::ValidModelParams {
    ModelParams {
        features: vec![FeatureSpec::new(column, Transform::Identity)],
        ..ModelParams::default()
    }
    .check()
    .expect("valid")
}

fn frame(columns: &[(&str, Vec<f64>)]) -> FeatureFrame {
    let n = columns[0].1.len();
    let mut frame = FeatureFrame::try_new((0..n).map(|i| format!("c{i:04}")).collect()).expect("ids");
    for (name, values) in columns {
        frame = frame
            .with_numeric(name, values.iter().map(|v| Some(*v)).collect())
            .expect("column");
    }
    frame
}

/// A deterministic "random" number in [0, 1) per index (a hash), so tests need no RNG.
fn u(i: usize) -> f64 {
    let mut x = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    x ^= x >> 31;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 29;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

/// Labels drawn from a true logistic model: P(churn) = sigmoid(b + w * (recency - 100) / 50).
fn logistic_data(n: usize, b: f64, w: f64) -> (FeatureFrame, Vec<bool>) {
    let recency: Vec<f64> = (0..n).map(|i| 200.0 * u(i)).collect();
    let labels = recency
        .iter()
        .enumerate()
        .map(|(i, r)| u(i + 1_000_000) < 1.0 / (1.0 + (-(b + w * (r - 100.0) / 50.0)).exp()))
        .collect();
    (frame(&[("recency_days", recency)]), labels)
}

/// An independent reference: Newton's method on the same objective as linfa (summed log-loss plus
/// l2/2 * w^2, intercept unpenalized) for one standardized input.
fn newton_reference(z: &[f64], y: &[bool], l2: f64) -> (f64, f64) {
    let (mut b, mut w) = (0.0, 0.0);
    for _ in 0..50 {
        let (mut gb, mut gw, mut hbb, mut hbw, mut hww) = (0.0, l2 * w, 0.0, 0.0, l2);
        for (&x, &t) in z.iter().zip(y) {
            let p = 1.0 / (1.0 + (-(b + w * x)).exp());
            let r = p - if t { 1.0 } else { 0.0 };
            gb += r;
            gw += r * x;
            let s = p * (1.0 - p);
            hbb += s;
            hbw += s * x;
            hww += s * x * x;
        }
        let det = hbb * hww - hbw * hbw;
        b -= (hww * gb - hbw * gw) / det;
        w -= (hbb * gw - hbw * gb) / det;
    }
    (b, w)
}

#[test]
fn coefficients_match_an_independent_newton_solution() -> TestResult {
    let (frame, labels) = logistic_data(3000, -0.5, 1.2);
    let model = train(
        &frame,
        &labels,
        90,
        &one_input("recency_days"),
        TrainingSource::default(),
    )?;
    let z: Vec<f64> = model.standardized(&frame)?.column(0).to_vec();
    let (b, w) = newton_reference(&z, &labels, 1.0);
    assert!(
        (model.intercept - b).abs() < 1e-3,
        "intercept {} vs {b}",
        model.intercept
    );
    assert!(
        (model.coefficients[0] - w).abs() < 1e-3,
        "coefficient {} vs {w}",
        model.coefficients[0]
    );
    // The true slope is 1.2 per 50 days; the standardized slope is 1.2 * std / 50 (std = 200 / sqrt 12).
    let true_w = 1.2 * (200.0 / 12f64.sqrt()) / 50.0;
    assert!(
        (model.coefficients[0] - true_w).abs() < 0.2,
        "{} vs {true_w}",
        model.coefficients[0]
    );
    Ok(())
}

#[test]
fn the_direction_of_the_effect_does_not_depend_on_which_class_is_larger() -> TestResult {
    // linfa calls the more frequent class positive; churn must stay the positive class either way.
    for intercept in [-2.0, 2.0] {
        let (frame, labels) = logistic_data(2000, intercept, 1.5);
        let rate = labels.iter().filter(|&&y| y).count() as f64 / labels.len() as f64;
        let model = train(
            &frame,
            &labels,
            90,
            &one_input("recency_days"),
            TrainingSource::default(),
        )?;
        assert!(
            model.coefficients[0] > 0.5,
            "rate {rate}: coefficient {}",
            model.coefficients[0]
        );
        let p = model.predict(&frame)?;
        let mean = p.iter().sum::<f64>() / p.len() as f64;
        assert!(
            (mean - rate).abs() < 0.02,
            "mean probability {mean} vs churn rate {rate}"
        );
    }
    Ok(())
}

#[test]
fn perfectly_separable_data_gives_a_finite_model_and_a_warning() -> TestResult {
    let recency: Vec<f64> = (0..200).map(|i| i as f64).collect();
    let labels: Vec<bool> = (0..200).map(|i| i >= 100).collect();
    let model = train(
        &frame(&[("recency_days", recency)]),
        &labels,
        90,
        &one_input("recency_days"),
        TrainingSource::default(),
    )?;
    assert!(model.coefficients[0].is_finite() && model.intercept.is_finite());
    assert!(
        model.warnings.iter().any(|w| w.contains("separable")),
        "{:?}",
        model.warnings
    );
    let p = model.predict(&frame(&[("recency_days", vec![-1e6, 1e6])]))?;
    assert_eq!(p, vec![PROBABILITY_FLOOR, 1.0 - PROBABILITY_FLOOR]);
    Ok(())
}

#[test]
fn one_class_or_too_few_of_a_class_is_an_error() -> TestResult {
    let f = frame(&[("recency_days", (0..100).map(f64::from).collect())]);
    let err = train(
        &f,
        &[false; 100],
        90,
        &one_input("recency_days"),
        TrainingSource::default(),
    )
    .expect_err("one class");
    assert!(
        matches!(err, Error::Degenerate(_)) && err.to_string().contains("0 churned and 100 retained"),
        "{err}"
    );
    let mut few = vec![false; 100];
    few[..5].iter_mut().for_each(|y| *y = true);
    let err = train(&f, &few, 90, &one_input("recency_days"), TrainingSource::default()).expect_err("few");
    assert!(err.to_string().contains("at least 20 of each"), "{err}");
    Ok(())
}

#[test]
fn a_constant_input_is_harmless_and_reported() -> TestResult {
    let (base, labels) = logistic_data(500, 0.0, 1.0);
    let f = base.with_numeric("return_ratio", vec![Some(0.0); 500])?;
    let params = ModelParams {
        features: vec![
            FeatureSpec::new("recency_days", Transform::Identity),
            FeatureSpec::new("return_ratio", Transform::Identity),
        ],
        ..ModelParams::default()
    }
    .check()?;
    let model = train(&f, &labels, 90, &params, TrainingSource::default())?;
    assert_eq!(model.coefficients[1], 0.0);
    assert!(model
        .warnings
        .iter()
        .any(|w| w.contains("return_ratio is the same for every customer")));
    Ok(())
}

#[test]
fn the_artifact_round_trips_and_scores_identically() -> TestResult {
    let (f, labels) = logistic_data(800, -1.0, 1.0);
    let with_gaps = f.with_numeric(
        "avg_days_between_orders",
        (0..800)
            .map(|i| if i % 3 == 0 { None } else { Some(10.0 + u(i) * 50.0) })
            .collect(),
    )?;
    let params = ModelParams {
        features: vec![
            FeatureSpec::new("recency_days", Transform::Identity),
            FeatureSpec::new("avg_days_between_orders", Transform::Log1p),
        ],
        ..ModelParams::default()
    }
    .check()?;
    let model = train(&with_gaps, &labels, 90, &params, TrainingSource::default())?;
    assert_eq!(
        model.columns,
        [
            "recency_days",
            "log1p(avg_days_between_orders)",
            "missing(avg_days_between_orders)"
        ]
    );
    let loaded = ChurnModel::from_json(&model.to_json()?)?;
    assert_eq!(loaded, model);
    assert_eq!(loaded.predict(&with_gaps)?, model.predict(&with_gaps)?);

    let broken = model.to_json()?.replacen("\"churn-model\"", "\"churn-segments\"", 1);
    assert!(ChurnModel::from_json(&broken)
        .expect_err("format")
        .to_string()
        .contains("churn train"));
    Ok(())
}

#[test]
fn sampling_the_training_set_barely_moves_the_model() -> TestResult {
    let (f, labels) = logistic_data(20_000, -0.5, 1.0);
    let all = train(&f, &labels, 90, &one_input("recency_days"), TrainingSource::default())?;
    let mut sampled = (*one_input("recency_days")).clone();
    sampled.train_sample = 5_000;
    let part = train(&f, &labels, 90, &sampled.check()?, TrainingSource::default())?;
    assert_eq!(part.training.sample_size, 5_000);
    let auc = |m: &ChurnModel| churn_score::metrics::roc_auc(&m.predict(&f).expect("scores"), &labels);
    assert!((auc(&all).expect("auc") - auc(&part).expect("auc")).abs() < 0.002);
    Ok(())
}
