//! Fitting: scale, sample, k-means (linfa) per candidate k, choose k, assign everyone, order and
//! name the segments.

use std::collections::HashSet;

use churn_core::{FeatureFrame, StandardScaler};
use linfa::traits::Fit as _;
use linfa::DatasetBase;
use linfa_clustering::{KMeans, KMeansInit};
use linfa_nn::distance::{Distance, L2Dist};
use ndarray::{Array2, ArrayView, ArrayView2, Axis, Dimension};
use rand08::SeedableRng;
use rand_xoshiro::Xoshiro256Plus;

use crate::error::{Error, Result};
use crate::model::{nearest, Assignment, FitInfo, KScore, Segment, SegmentModel, MODEL_FORMAT, MODEL_VERSION};
use crate::naming::{unique_names, RoleScores};
use crate::params::{KChoice, ValidSegmentParams};
use crate::silhouette::silhouettes;

/// Where the features came from, recorded in the model.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Provenance {
    /// The snapshot date of the feature file.
    pub as_of: Option<String>,
    /// The input fingerprint of the feature file.
    pub input_fingerprint: Option<String>,
}

/// A fitted model, the assignment of the population it was fitted on, and what was adjusted.
#[derive(Debug, Clone)]
pub struct SegmentFit {
    /// The model, ready to save.
    pub model: SegmentModel,
    /// Every customer's segment.
    pub assignment: Assignment,
    /// Adjustments made to degenerate data (k reduced, constant inputs dropped), for the user.
    pub warnings: Vec<String>,
}

/// Fits a segment model on `frame` and assigns every customer to it.
///
/// The inputs are transformed and standardized over the whole population; k-means (k-means++
/// starts, `n_runs` runs, linfa-clustering) runs on a seeded sample of `fit_sample` customers, and
/// everyone is then assigned to the nearest centroid. Segment ids are ordered by revenue, 0 first.
///
/// Degenerate data is handled, never turned into NaN: no customers, or no input with any spread, is
/// an error; constant inputs are dropped, and k is reduced to the number of distinct customers,
/// each with a warning in [`SegmentFit::warnings`].
pub fn fit_segments(frame: &FeatureFrame, params: &ValidSegmentParams, provenance: Provenance) -> Result<SegmentFit> {
    if frame.is_empty() {
        return Err(Error::Degenerate("the feature file has no customers to segment".into()));
    }
    let mut warnings = Vec::new();
    let revenue = frame.required(&params.revenue_column)?;
    let x = frame.matrix(&params.features)?;
    let full_scaler = StandardScaler::fit(x.view());

    // A constant input carries no information about who is like whom; clustering on it would only
    // shift every distance by the same amount. Drop it and say so.
    let constant = full_scaler.constant_columns();
    let keep: Vec<usize> = (0..params.features.len()).filter(|j| !constant.contains(j)).collect();
    let dropped: Vec<String> = constant.iter().map(|&j| params.features[j].to_string()).collect();
    if keep.is_empty() {
        return Err(Error::Degenerate(format!(
            "every segmentation input is the same for all {} customers ({}); there is nothing to segment on",
            frame.len(),
            dropped.join(", ")
        )));
    }
    if !dropped.is_empty() {
        warnings.push(format!(
            "{} {} the same for every customer and left out of the segmentation",
            dropped.join(", "),
            if dropped.len() == 1 { "is" } else { "are" }
        ));
    }
    let features: Vec<_> = keep.iter().map(|&j| params.features[j].clone()).collect();
    let scaler = StandardScaler {
        mean: keep.iter().map(|&j| full_scaler.mean[j]).collect(),
        std: keep.iter().map(|&j| full_scaler.std[j]).collect(),
    };
    let z = scaler.transform(x.select(Axis(1), &keep).view());

    let n = frame.len();
    let sample = if n > params.fit_sample {
        let mut rng = Xoshiro256Plus::seed_from_u64(params.seed);
        let mut rows = rand08::seq::index::sample(&mut rng, n, params.fit_sample).into_vec();
        rows.sort_unstable();
        z.select(Axis(0), &rows)
    } else {
        z.clone()
    };

    let (k_min, k_max) = match params.k {
        KChoice::Fixed(k) => (k, k),
        KChoice::Auto { min, max } => (min, max),
    };
    let distinct = count_distinct_rows(sample.view(), k_max);
    if distinct < 2 {
        return Err(Error::Degenerate(format!(
            "all {} customers have the same {}; there is nothing to segment",
            sample.nrows(),
            features.iter().map(|f| f.to_string()).collect::<Vec<_>>().join(", ")
        )));
    }
    let k_max_usable = k_max.min(distinct);
    let k_min_usable = k_min.min(k_max_usable);
    if k_max_usable < k_max {
        warnings.push(format!(
            "only {distinct} distinct customers on the segmentation inputs; k reduced from {k_max} to {k_max_usable}"
        ));
    }

    let mut k_scores = Vec::new();
    let centroids = if k_min_usable == k_max_usable {
        kmeans(sample.view(), k_max_usable, params)?
    } else {
        // Score every candidate on the same silhouette sample, drawn from the fit sample.
        let m = params.silhouette_sample.min(sample.nrows());
        let mut rng = Xoshiro256Plus::seed_from_u64(params.seed.wrapping_add(1));
        let mut rows = rand08::seq::index::sample(&mut rng, sample.nrows(), m).into_vec();
        rows.sort_unstable();
        let scored = sample.select(Axis(0), &rows);
        // The candidates are independent (each fit seeds its own generator), so they are fitted on
        // every core at once, largest k first (the slowest), and kept in the order of k.
        let ks: Vec<usize> = (k_min_usable..=k_max_usable).rev().collect();
        let next = std::sync::atomic::AtomicUsize::new(0);
        let workers = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(ks.len());
        let fit_candidate = |k: usize| -> Result<Candidate> {
            let centroids = kmeans(sample.view(), k, params)?;
            let inertia = nearest(sample.view(), &centroids).inertia();
            let labels = nearest(scored.view(), &centroids).segment;
            Ok((k, centroids, inertia, labels))
        };
        let mut candidates: Vec<Candidate> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..workers)
                .map(|_| {
                    scope.spawn(|| {
                        let mut fitted = Vec::new();
                        loop {
                            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let Some(&k) = ks.get(i) else { break };
                            fitted.push(fit_candidate(k));
                        }
                        fitted
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
                .collect::<Result<Vec<_>>>()
        })?;
        candidates.sort_by_key(|c| c.0);
        let started = std::time::Instant::now();
        let labelings: Vec<(&[usize], usize)> = candidates.iter().map(|(k, _, _, l)| (l.as_slice(), *k)).collect();
        let scores = silhouettes(scored.view(), &labelings);
        tracing::debug!(
            rows = scored.nrows(),
            seconds = started.elapsed().as_secs_f64(),
            "silhouettes scored"
        );
        let mut best: Option<(f64, Vec<Vec<f64>>)> = None;
        for ((k, centroids, inertia, _), score) in candidates.into_iter().zip(scores) {
            k_scores.push(KScore {
                k,
                silhouette: score,
                inertia,
            });
            // Strictly better only: on a tie the smaller k wins.
            let s = score.unwrap_or(f64::NEG_INFINITY);
            if best.as_ref().is_none_or(|(b, _)| s > *b) {
                best = Some((s, centroids));
            }
        }
        best.map(|(_, c)| c)
            .ok_or_else(|| Error::Degenerate("no candidate k could be fitted".into()))?
    };

    // Assign everyone; a centroid nobody is nearest to is not a segment.
    let first = nearest(z.view(), &centroids);
    let mut counts = vec![0u64; centroids.len()];
    let mut revenue_by = vec![0.0; centroids.len()];
    for (row, &c) in first.segment.iter().enumerate() {
        counts[c] += 1;
        revenue_by[c] += revenue[row];
    }
    let mut order: Vec<usize> = (0..centroids.len()).filter(|&c| counts[c] > 0).collect();
    if order.len() < centroids.len() {
        warnings.push(format!(
            "{} of {} segments had no customers and were removed",
            centroids.len() - order.len(),
            centroids.len()
        ));
    }
    order.sort_by(|&a, &b| {
        revenue_by[b]
            .total_cmp(&revenue_by[a])
            .then(counts[b].cmp(&counts[a]))
            .then(a.cmp(&b))
    });
    let ordered: Vec<Vec<f64>> = order.iter().map(|&c| centroids[c].clone()).collect();
    let assignment = nearest(z.view(), &ordered);

    let total_revenue: f64 = revenue.iter().sum();
    let base_names: Vec<&str> = ordered
        .iter()
        .map(|c| RoleScores::from_centroid(&features, &scaler, c).name())
        .collect();
    let names = unique_names(&base_names);
    let segments = order
        .iter()
        .zip(ordered)
        .zip(names)
        .enumerate()
        .map(|(id, ((&c, centroid), name))| Segment {
            id,
            name,
            centroid,
            customers: counts[c],
            revenue_share: (total_revenue > 0.0).then(|| revenue_by[c] / total_revenue),
        })
        .collect();

    let k_choice = match params.k {
        KChoice::Fixed(k) => k.to_string(),
        KChoice::Auto { min, max } => format!("auto {min}..={max}"),
    };
    let model = SegmentModel {
        format: MODEL_FORMAT.to_string(),
        version: MODEL_VERSION,
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        features,
        scaler,
        segments,
        fit: FitInfo {
            as_of: provenance.as_of,
            input_fingerprint: provenance.input_fingerprint,
            customers: n as u64,
            sample_size: sample.nrows() as u64,
            k_choice,
            k_scores,
            seed: params.seed,
            n_runs: params.n_runs,
            tolerance: params.tolerance,
            max_iterations: params.max_iterations,
            inertia: assignment.inertia(),
            dropped_features: dropped,
        },
    };
    Ok(SegmentFit {
        model,
        assignment,
        warnings,
    })
}

/// A fitted candidate of the automatic choice of k: k, centroids, inertia on the fit sample and
/// the labels of the silhouette sample.
type Candidate = (usize, Vec<Vec<f64>>, f64, Vec<usize>);

/// k-means with k-means++ starts on `x`; the centroids of the best of `n_runs` runs.
fn kmeans(x: ArrayView2<'_, f64>, k: usize, params: &ValidSegmentParams) -> Result<Vec<Vec<f64>>> {
    let started = std::time::Instant::now();
    let dataset = DatasetBase::from(x);
    let model = KMeans::params_with(k, Xoshiro256Plus::seed_from_u64(params.seed), RowL2)
        .n_runs(params.n_runs)
        .tolerance(params.tolerance)
        .max_n_iterations(params.max_iterations)
        .init_method(KMeansInit::KMeansPlusPlus)
        .fit(&dataset)
        .map_err(|e| Error::KMeans(e.to_string()))?;
    tracing::debug!(
        k,
        rows = x.nrows(),
        seconds = started.elapsed().as_secs_f64(),
        inertia = model.inertia(),
        "k-means fitted"
    );
    let centroids: Array2<f64> = model.centroids().clone();
    if centroids.iter().any(|v| !v.is_finite()) {
        return Err(Error::KMeans(format!("k = {k} produced a non-finite centroid")));
    }
    Ok(centroids.rows().into_iter().map(|r| r.to_vec()).collect())
}

/// Euclidean distance, as linfa's [`L2Dist`], over contiguous rows in a plain loop.
///
/// k-means spends nearly all its time measuring a customer against each centroid. linfa's `L2Dist`
/// goes through ndarray-stats' generic `sq_l2_dist`: a shape check, a `Zip` and a `Result` for each
/// pair of ~10-element rows, which profiled as most of the segments stage. The loop adds the same
/// squares in the same order from the same zero, so every distance, and therefore every centroid,
/// is identical to the bit to `L2Dist`'s; views that are not contiguous go to `L2Dist` itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RowL2;

impl Distance<f64> for RowL2 {
    #[inline]
    fn distance<D: Dimension>(&self, a: ArrayView<'_, f64, D>, b: ArrayView<'_, f64, D>) -> f64 {
        self.rdistance(a, b).sqrt()
    }

    #[inline]
    fn rdistance<D: Dimension>(&self, a: ArrayView<'_, f64, D>, b: ArrayView<'_, f64, D>) -> f64 {
        match (a.as_slice(), b.as_slice()) {
            (Some(x), Some(y)) if a.shape() == b.shape() => x.iter().zip(y).fold(0.0, |sum, (p, q)| {
                let d = p - q;
                sum + d * d
            }),
            _ => L2Dist.rdistance(a, b),
        }
    }

    #[inline]
    fn rdist_to_dist(&self, rdist: f64) -> f64 {
        rdist.sqrt()
    }

    #[inline]
    fn dist_to_rdist(&self, dist: f64) -> f64 {
        dist.powi(2)
    }
}

/// The number of distinct rows of `x`, counting no further than `cap`.
fn count_distinct_rows(x: ArrayView2<'_, f64>, cap: usize) -> usize {
    let mut seen: HashSet<Vec<u64>> = HashSet::new();
    for row in x.rows() {
        // -0.0 and 0.0 are the same point.
        seen.insert(row.iter().map(|v| (v + 0.0).to_bits()).collect());
        if seen.len() >= cap {
            break;
        }
    }
    seen.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array1, Slice};
    use proptest::prelude::*;

    fn finite() -> impl Strategy<Value = f64> {
        prop_oneof![-1e6..1e6, -3.0..3.0f64, Just(0.0), Just(-0.0)]
    }

    proptest! {
        #[test]
        fn row_distance_is_linfas_to_the_bit(pairs in prop::collection::vec((finite(), finite()), 1..24)) {
            let a = Array1::from_iter(pairs.iter().map(|p| p.0));
            let b = Array1::from_iter(pairs.iter().map(|p| p.1));
            prop_assert_eq!(RowL2.rdistance(a.view(), b.view()).to_bits(), L2Dist.rdistance(a.view(), b.view()).to_bits());
            prop_assert_eq!(RowL2.distance(a.view(), b.view()).to_bits(), L2Dist.distance(a.view(), b.view()).to_bits());
            // Every other element: not contiguous, so linfa's own distance.
            let every_other = Slice::new(0, None, 2);
            let (a2, b2) = (a.slice_axis(Axis(0), every_other), b.slice_axis(Axis(0), every_other));
            prop_assert_eq!(RowL2.rdistance(a2, b2).to_bits(), L2Dist.rdistance(a2, b2).to_bits());
            // As matrices, which is how k-means compares old and new centroids.
            let (m, n) = (a.view().into_shape_with_order((1, pairs.len())).expect("one row"), b.view().into_shape_with_order((1, pairs.len())).expect("one row"));
            prop_assert_eq!(RowL2.distance(m, n).to_bits(), L2Dist.distance(m, n).to_bits());
        }
    }

    #[test]
    fn kmeans_with_the_row_distance_finds_linfas_centroids() {
        let mut rng = Xoshiro256Plus::seed_from_u64(7);
        let x = Array2::from_shape_fn((2_000, 5), |(i, j)| {
            use rand08::Rng as _;
            (i % 4) as f64 * 1.5 + j as f64 * 0.1 + rng.gen_range(-1.0..1.0)
        });
        fn centroids<D: Distance<f64> + std::fmt::Debug>(x: ArrayView2<'_, f64>, d: D) -> Array2<f64> {
            KMeans::params_with(4, Xoshiro256Plus::seed_from_u64(3), d)
                .n_runs(3)
                .init_method(KMeansInit::KMeansPlusPlus)
                .fit(&DatasetBase::from(x))
                .expect("k-means fits")
                .centroids()
                .clone()
        }
        let (ours, linfas) = (centroids(x.view(), RowL2), centroids(x.view(), L2Dist));
        let bits = |c: &Array2<f64>| c.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&ours), bits(&linfas));
    }
}
