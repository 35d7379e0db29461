//! Fitting: scale, sample, k-means per candidate k, choose k, assign everyone, order and
//! name the segments.

use std::collections::HashSet;

use churn_core::{FeatureFrame, StandardScaler};
use ndarray::{ArrayView2, Axis};
use rand08::SeedableRng;
use rand_xoshiro::Xoshiro256Plus;

use crate::error::{Error, Result};
use crate::kmeans::KMeansConfig;
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
/// starts, `n_runs` runs, as linfa-clustering's) runs on a seeded sample of `fit_sample` customers, and
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
    // The kept columns are a new matrix, standardized in its own memory; the full one goes.
    let z = scaler.transform_owned(if keep.len() == x.ncols() {
        x
    } else {
        x.select(Axis(1), &keep)
    });

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
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        kmeans(sample.view(), k_max_usable, params, threads)?
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
        let fit_candidate = |&k: &usize| -> Result<Candidate> {
            // One thread each: the candidates already share the cores.
            let centroids = kmeans(sample.view(), k, params, 1)?;
            let inertia = nearest(sample.view(), &centroids).inertia();
            let labels = nearest(scored.view(), &centroids).segment;
            Ok((k, centroids, inertia, labels))
        };
        let mut candidates = churn_core::parallel_map(&ks, fit_candidate)
            .into_iter()
            .collect::<Result<Vec<Candidate>>>()?;
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

/// k-means with k-means++ starts on `x` ([`crate::kmeans`], linfa's algorithm to the bit); the
/// centroids of the best of `n_runs` runs. The assignment step runs on `threads` threads.
fn kmeans(x: ArrayView2<'_, f64>, k: usize, params: &ValidSegmentParams, threads: usize) -> Result<Vec<Vec<f64>>> {
    let started = std::time::Instant::now();
    let config = KMeansConfig {
        k,
        n_runs: params.n_runs,
        tolerance: params.tolerance,
        max_iterations: params.max_iterations,
        seed: params.seed,
        threads,
    };
    let fitted = crate::kmeans::kmeans(x, &config)
        .ok_or_else(|| Error::KMeans(format!("k = {k}: no run reached a finite inertia")))?;
    tracing::debug!(
        k,
        rows = x.nrows(),
        seconds = started.elapsed().as_secs_f64(),
        inertia = fitted.inertia,
        "k-means fitted"
    );
    if fitted.centroids.iter().any(|v| !v.is_finite()) {
        return Err(Error::KMeans(format!("k = {k} produced a non-finite centroid")));
    }
    Ok(fitted.centroids.chunks_exact(x.ncols()).map(<[f64]>::to_vec).collect())
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
