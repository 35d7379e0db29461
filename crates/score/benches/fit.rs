//! The churn model's fit beside linfa-logistic's, on the shape a nightly run fits: 250,000 sampled
//! customers, eleven standardized inputs, the default penalty, iterations and tolerance.
//!
//!     cargo bench -p churn-score --bench fit
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion};
use linfa::traits::Fit as _;
use linfa::DatasetBase;
use ndarray::{Array1, Array2};
use rand08::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256Plus;

use churn_score::logistic::{fit_logistic, LogisticParams};

const ROWS: usize = 250_000;
const COLUMNS: usize = 11;

/// Standardized-looking inputs, correlated with each other, and classes drawn from a log-odds that
/// uses most of them (a churn rate near a third, as on the generated logs).
fn data() -> (Array2<f64>, Vec<bool>) {
    let mut rng = Xoshiro256Plus::seed_from_u64(7);
    let mut x = Array2::zeros((ROWS, COLUMNS));
    let weights = [1.4, -0.6, 0.3, 0.0, -0.2, 0.8, 0.1, -0.05, 0.5, 0.0, -0.3];
    let mut y = Vec::with_capacity(ROWS);
    for mut row in x.rows_mut() {
        let shared: f64 = rng.gen_range(-1.0..1.0);
        for v in row.iter_mut() {
            *v = 0.6 * shared + rng.gen_range(-1.5..1.5);
        }
        let z: f64 = -0.7 + row.iter().zip(&weights).map(|(x, w)| x * w).sum::<f64>();
        y.push(rng.gen::<f64>() < 1.0 / (1.0 + (-z).exp()));
    }
    (x, y)
}

fn fits(c: &mut Criterion) {
    let (x, y) = data();
    let params = LogisticParams {
        alpha: 1.0,
        max_iterations: 100,
        gradient_tolerance: 1e-4 * ROWS as f64,
    };
    let dataset = DatasetBase::new(x.clone(), Array1::from(y.clone()));
    let linfa = || {
        linfa_logistic::LogisticRegression::default()
            .alpha(params.alpha)
            .max_iterations(params.max_iterations)
            .gradient_tolerance(params.gradient_tolerance)
            .fit(&dataset)
            .expect("fits")
    };
    // The two fits agree on this shape too, not only on the unit tests' small data.
    let ours = fit_logistic(x.view(), &y, params).expect("fits");
    let theirs = linfa();
    let sign = if theirs.labels().pos.class { 1.0 } else { -1.0 };
    let gap = ours
        .coefficients
        .iter()
        .zip(theirs.params())
        .map(|(a, b)| (a - sign * b).abs())
        .chain([(ours.intercept - sign * theirs.intercept()).abs()])
        .fold(0.0, f64::max);
    println!(
        "{} iterations, {} passes over the rows; largest difference from linfa-logistic's coefficients {gap:.1e}",
        ours.iterations, ours.passes
    );
    assert!(gap < 1e-6, "the fits differ by {gap}");
    let mut group = c.benchmark_group("logistic fit, 250000 x 11");
    group.sample_size(10);
    group.bench_function("churn-score (one pass per point)", |b| {
        b.iter(|| fit_logistic(x.view(), &y, params).expect("fits"))
    });
    group.bench_function("linfa-logistic", |b| b.iter(linfa));
    group.finish();
}

criterion_group!(benches, fits);
criterion_main!(benches);
