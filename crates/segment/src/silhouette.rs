//! The silhouette score (Rousseeuw 1987), used to choose `k`.
//!
//! linfa has `SilhouetteScore`, but it is written by hand here for three reasons found by reading
//! `linfa/src/metrics_clustering.rs` (0.8.1): it allocates a vector for every pair of points (too
//! slow for the 10,000-point samples auto-k scores nine times), it divides 0 by 0 when two
//! coincident points sit in different clusters (NaN), and it scores a point alone in its cluster 1
//! instead of 0 as Rousseeuw and scikit-learn define it. The tests check this version against
//! linfa's on data where both definitions agree.

use ndarray::ArrayView2;

use crate::kmeans::{block_distances, Blocks, LANES};

/// Mean silhouette of `labels` (cluster index per row of `x`, below `k`), with Euclidean distance.
///
/// For point `i` in cluster `A`: `a` is its mean distance to the other points of `A`, `b` the
/// smallest mean distance to the points of another non-empty cluster, and
/// `s = (b - a) / max(a, b)`; `s = 0` when `i` is alone in `A` or when `a = b = 0`. Returns `None`
/// when fewer than two clusters are non-empty (the score is undefined).
pub fn silhouette(x: ArrayView2<'_, f64>, labels: &[usize], k: usize) -> Option<f64> {
    silhouettes(x, &[(labels, k)])[0]
}

/// [`silhouette`] of several labelings of the same points at once.
///
/// The pairwise distances, which are nearly all of the cost, do not depend on the labeling, so each
/// is computed once and added to every labeling's sums: scoring nine candidate k costs little more
/// than scoring one. Rows are split over the available cores; each point's score does not depend
/// on the split and the scores are summed in row order, so the result is deterministic.
pub fn silhouettes(x: ArrayView2<'_, f64>, labelings: &[(&[usize], usize)]) -> Vec<Option<f64>> {
    let n = x.nrows();
    let d = x.ncols();
    let sizes: Vec<Vec<usize>> = labelings
        .iter()
        .map(|(labels, k)| {
            assert_eq!(labels.len(), n, "one label per row");
            let mut sizes = vec![0usize; *k];
            for &label in *labels {
                sizes[label] += 1;
            }
            sizes
        })
        .collect();
    // Offsets of each labeling's sums in one flat buffer per point.
    let offsets: Vec<usize> = labelings
        .iter()
        .scan(0, |acc, (_, k)| {
            let start = *acc;
            *acc += k;
            Some(start)
        })
        .collect();
    let total_k: usize = labelings.iter().map(|(_, k)| k).sum();
    let m = labelings.len();
    let mut scores = vec![0.0; n * m];
    if n == 0 || d == 0 {
        return silhouettes_of(&scores, n, &sizes);
    }
    // Point `j`'s sum in every labeling, side by side: the inner loop reads one short run of
    // indices per pair instead of one label from each labeling's own array.
    let slots: Vec<usize> = (0..n)
        .flat_map(|j| {
            labelings
                .iter()
                .zip(&offsets)
                .map(move |((labels, _), o)| o + labels[j])
        })
        .collect();
    let points: Vec<f64> = x.iter().copied().collect();
    let blocks = Blocks::new(&points, d);
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get()).min(n);
    let chunk = n.div_ceil(threads);
    std::thread::scope(|scope| {
        for (c, out) in scores.chunks_mut(chunk * m).enumerate() {
            let (points, sizes, offsets, slots, blocks) = (&points, &sizes, &offsets, &slots, &blocks);
            scope.spawn(move || {
                let mut sums = vec![0.0; total_k];
                for (offset, point_scores) in out.chunks_mut(m).enumerate() {
                    let i = c * chunk + offset;
                    sums.iter_mut().for_each(|s| *s = 0.0);
                    let xi = &points[i * d..(i + 1) * d];
                    // Each sum still takes the distances in the order of `j`, so the scores do not
                    // depend on the blocks.
                    for (block, slots) in blocks.columns.chunks_exact(d * LANES).zip(slots.chunks(m * LANES)) {
                        let squared = block_distances(block, xi);
                        for (&squared, slots) in squared.iter().zip(slots.chunks_exact(m)) {
                            let dist = squared.sqrt();
                            for &slot in slots {
                                sums[slot] += dist;
                            }
                        }
                    }
                    for (l, (labels, k)) in labelings.iter().enumerate() {
                        let (sums, sizes) = (&sums[offsets[l]..offsets[l] + k], &sizes[l]);
                        let own = labels[i];
                        point_scores[l] = if sizes[own] < 2 {
                            0.0
                        } else {
                            let a = sums[own] / (sizes[own] - 1) as f64;
                            let b = (0..*k)
                                .filter(|&c| c != own && sizes[c] > 0)
                                .map(|c| sums[c] / sizes[c] as f64)
                                .fold(f64::INFINITY, f64::min);
                            let max = a.max(b);
                            if max > 0.0 {
                                (b - a) / max
                            } else {
                                0.0
                            }
                        };
                    }
                }
            });
        }
    });
    silhouettes_of(&scores, n, &sizes)
}

/// Each labeling's mean of its points' scores (`scores`: `n` rows of one score per labeling), in
/// row order; `None` for a labeling with fewer than two non-empty clusters.
fn silhouettes_of(scores: &[f64], n: usize, sizes: &[Vec<usize>]) -> Vec<Option<f64>> {
    let m = sizes.len();
    (0..m)
        .map(|l| {
            let defined = sizes[l].iter().filter(|&&s| s > 0).count() >= 2;
            defined.then(|| (0..n).map(|i| scores[i * m + l]).sum::<f64>() / n as f64)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use linfa::metrics::SilhouetteScore;
    use linfa::DatasetBase;
    use ndarray::{array, Array1, Array2};

    use super::*;

    #[test]
    fn hand_computed_four_points() {
        // Clusters {0, 1} and {10, 12} on a line.
        // x=0: a=1, b=(10+12)/2=11, s=10/11.  x=1: a=1, b=(9+11)/2=10, s=9/10.
        // x=10: a=2, b=(10+9)/2=9.5, s=7.5/9.5.  x=12: a=2, b=(12+11)/2=11.5, s=9.5/11.5.
        let x = array![[0.0], [1.0], [10.0], [12.0]];
        let expected = (10.0 / 11.0 + 9.0 / 10.0 + 7.5 / 9.5 + 9.5 / 11.5) / 4.0;
        let got = silhouette(x.view(), &[0, 0, 1, 1], 2).expect("defined");
        assert!((got - expected).abs() < 1e-12, "{got} vs {expected}");
    }

    #[test]
    fn agrees_with_linfa_where_the_definitions_agree() {
        // No singletons and no coincident points across clusters: both definitions coincide.
        let mut x = Array2::zeros((60, 3));
        let mut labels = Vec::new();
        for i in 0..60 {
            let c = i % 3;
            let t = i as f64;
            x[[i, 0]] = 4.0 * c as f64 + (t * 0.37).sin();
            x[[i, 1]] = -3.0 * c as f64 + (t * 1.91).cos();
            x[[i, 2]] = (t * 0.11).sin() * 2.0;
            labels.push(c);
        }
        let ours = silhouette(x.view(), &labels, 3).expect("defined");
        let dataset = DatasetBase::new(x, Array1::from(labels));
        let theirs: f64 = dataset.silhouette_score().expect("linfa scores");
        assert!((ours - theirs).abs() < 1e-12, "{ours} vs {theirs}");
    }

    #[test]
    fn singletons_score_zero_and_coincident_points_do_not_make_nan() {
        // Point 2 is alone; points 0 and 3 coincide but sit in different clusters.
        let x = array![[0.0], [0.0], [5.0], [0.0]];
        let got = silhouette(x.view(), &[0, 0, 1, 2], 3).expect("defined");
        assert!(got.is_finite());
        // 0: a=0, b=min(5, 0)=0 -> 0. 1: same -> 0. 2: alone -> 0. 3: alone -> 0.
        assert_eq!(got, 0.0);
    }

    #[test]
    fn scoring_labelings_together_equals_scoring_them_apart() {
        let x = array![
            [0.0, 1.0],
            [1.0, 1.5],
            [10.0, 0.0],
            [12.0, 2.0],
            [11.0, 9.0],
            [3.0, 3.0]
        ];
        let (a, b, c): (&[usize], &[usize], &[usize]) = (&[0, 0, 1, 1, 1, 0], &[0, 0, 1, 1, 2, 0], &[0, 0, 0, 0, 0, 0]);
        let together = silhouettes(x.view(), &[(a, 2), (b, 3), (c, 1)]);
        assert_eq!(
            together,
            vec![silhouette(x.view(), a, 2), silhouette(x.view(), b, 3), None]
        );
        assert!(together[0].is_some() && together[1].is_some());
    }

    /// The definition pair by pair, each sum over `j` in order: what the blocked kernel must give to
    /// the bit (the chosen `k`, and the scores in the segments file, must not move with it).
    fn by_pairs(x: ArrayView2<'_, f64>, labels: &[usize], k: usize) -> Option<f64> {
        let n = x.nrows();
        let mut sizes = vec![0usize; k];
        labels.iter().for_each(|&l| sizes[l] += 1);
        let mut total = 0.0;
        for i in 0..n {
            let mut sums = vec![0.0; k];
            for j in 0..n {
                let dist = x
                    .row(i)
                    .iter()
                    .zip(x.row(j))
                    .map(|(a, b)| (a - b) * (a - b))
                    .sum::<f64>()
                    .sqrt();
                sums[labels[j]] += dist;
            }
            let own = labels[i];
            total += if sizes[own] < 2 {
                0.0
            } else {
                let a = sums[own] / (sizes[own] - 1) as f64;
                let b = (0..k)
                    .filter(|&c| c != own && sizes[c] > 0)
                    .map(|c| sums[c] / sizes[c] as f64)
                    .fold(f64::INFINITY, f64::min);
                if a.max(b) > 0.0 {
                    (b - a) / a.max(b)
                } else {
                    0.0
                }
            };
        }
        (sizes.iter().filter(|&&s| s > 0).count() >= 2).then(|| total / n as f64)
    }

    #[test]
    fn blocked_kernel_equals_the_pairwise_definition_to_the_bit() {
        // Row counts around the block width, uneven values, several labelings at once.
        for n in [1usize, 7, 8, 9, 23, 64, 101] {
            let x = Array2::from_shape_fn((n, 4), |(i, j)| {
                ((i * 31 + j * 17) % 13) as f64 * 0.37 - (i as f64).sin()
            });
            let labelings: Vec<(Vec<usize>, usize)> = (2..6)
                .map(|k| ((0..n).map(|i| (i * 7 + i / 3) % k).collect(), k))
                .collect();
            let views: Vec<(&[usize], usize)> = labelings.iter().map(|(l, k)| (l.as_slice(), *k)).collect();
            let together = silhouettes(x.view(), &views);
            for ((labels, k), got) in labelings.iter().zip(&together) {
                let expected = by_pairs(x.view(), labels, *k);
                assert_eq!(got.map(f64::to_bits), expected.map(f64::to_bits), "n = {n}, k = {k}");
            }
        }
    }

    #[test]
    fn one_cluster_has_no_score() {
        let x = array![[0.0], [1.0]];
        assert_eq!(silhouette(x.view(), &[1, 1], 3), None);
    }
}
