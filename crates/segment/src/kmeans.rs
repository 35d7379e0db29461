//! k-means with k-means++ starts: linfa-clustering's algorithm, to the bit, over flat rows.
//!
//! linfa's `KMeans` (0.8.1) spends nearly all of its time in per-row bookkeeping rather than in
//! arithmetic: every customer against every centroid is a pair of ndarray views, a generic
//! distance with a shape check, and a rayon task, and the k-means++ start measures each customer
//! against all chosen centroids again for every new one. Automatic k runs nine candidates of three
//! runs each on 100,000 customers, and that bookkeeping was the largest single cost of `churn run`
//! (linfa's `closest_centroid` alone was 11-13 % of its CPU samples).
//!
//! This module runs the same algorithm on one contiguous row-major buffer. It draws the same random
//! numbers from the same generator (rand 0.8's `WeightedIndex` over the same weights), adds the same
//! values in the same order from the same zero, and breaks ties the same way, so its centroids and
//! inertia are linfa's to the bit. The tests hold it to linfa itself on random data, ties and
//! degenerate starts included; linfa stays the reference, as a test dependency.
//!
//! The one change of order that cannot change a result: the k-means++ start keeps each customer's
//! smallest squared distance and lowers it with each new centroid, where linfa recomputes the
//! minimum over all chosen centroids. The minimum of a set of finite numbers does not depend on the
//! order it is taken in.
//!
//! The distances are taken [`LANES`] rows at a time from a copy of the rows stored column by column
//! within each block ([`Blocks`]): each row's sum still runs over the coordinates in order from
//! zero, so the bits are the same, but the eight rows' sums are independent and the compiler does
//! them in vector registers (row by row, each distance was a chain of dependent additions). The
//! silhouettes of automatic k use the same blocks; at a million customers they took 0.44-0.56 s
//! instead of 0.84-0.97 s, while the nine candidates' fits changed little.

use ndarray::{ArrayView1, ArrayView2};
use rand08::distributions::{Distribution, WeightedIndex};
use rand08::SeedableRng;
use rand_xoshiro::Xoshiro256Plus;

/// How to run k-means.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct KMeansConfig {
    /// The number of clusters, at least 1.
    pub k: usize,
    /// Runs from new starts; the run with the least inertia wins (the first on a tie).
    pub n_runs: usize,
    /// A run stops when its centroids move less than this (Euclidean, over all coordinates).
    pub tolerance: f64,
    /// A run stops after this many iterations in any case (at least 1).
    pub max_iterations: u64,
    /// The seed of the generator shared by the runs' starts.
    pub seed: u64,
    /// Threads for the assignment step; 1 when the caller already runs fits in parallel.
    pub threads: usize,
}

/// The best run's centroids (`k` rows of `dim` values, row-major) and its inertia: the mean squared
/// distance of a row to the centroid it was assigned to in the run's last iteration.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct KMeansResult {
    pub centroids: Vec<f64>,
    pub inertia: f64,
}

/// Squared Euclidean distance, summed left to right from zero as linfa's `L2Dist` does.
#[inline]
fn squared_distance(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).fold(0.0, |sum, (p, q)| {
        let d = p - q;
        sum + d * d
    })
}

/// Runs k-means on the rows of `x`; `None` when no run had a finite inertia (linfa's
/// `InertiaError`). `x` must have at least one row and `config.k` at least 1.
pub(crate) fn kmeans(x: ArrayView2<'_, f64>, config: &KMeansConfig) -> Option<KMeansResult> {
    let (n, dim) = x.dim();
    assert!(
        n > 0 && dim > 0 && config.k > 0,
        "k-means needs rows, columns and k >= 1"
    );
    let points: Vec<f64> = match x.as_slice() {
        Some(s) => s.to_vec(),
        None => x.iter().copied().collect(),
    };
    let blocks = Blocks::new(&points, dim);
    let mut rng = Xoshiro256Plus::seed_from_u64(config.seed);
    let mut memberships = vec![0usize; n];
    let mut dists = vec![0.0f64; n];
    let mut best: Option<(f64, Vec<f64>)> = None;
    for _ in 0..config.n_runs {
        let mut centroids = plus_plus(&points, &blocks, config.k, &mut rng, &mut dists);
        let mut iterations = 0u64;
        let inertia = loop {
            assign(&blocks, &centroids, config.threads, &mut memberships, &mut dists);
            let moved = update(&points, dim, &memberships, &mut centroids);
            iterations += 1;
            if moved < config.tolerance || iterations == config.max_iterations {
                // ndarray's sum (an unrolled fold), as linfa takes it.
                break ArrayView1::from(&dists[..]).sum();
            }
        };
        if inertia < best.as_ref().map_or(f64::INFINITY, |b| b.0) {
            best = Some((inertia, centroids));
        }
    }
    best.map(|(inertia, centroids)| KMeansResult {
        centroids,
        inertia: inertia / n as f64,
    })
}

/// k-means++ starts: the first centroid uniformly (as a weighted draw over weights of one), then
/// each next one with probability proportional to the squared distance to the nearest chosen one.
/// When every point sits on a chosen centroid, linfa takes row 0; so does this.
fn plus_plus(points: &[f64], blocks: &Blocks, k: usize, rng: &mut Xoshiro256Plus, dists: &mut [f64]) -> Vec<f64> {
    let (n, dim) = (dists.len(), blocks.dim);
    let ones = vec![1.0f64; n];
    let first = WeightedIndex::new(ones.iter())
        .expect("n >= 1 weights of one")
        .sample(rng);
    let mut centroids = Vec::with_capacity(k * dim);
    centroids.extend_from_slice(&points[first * dim..(first + 1) * dim]);
    dists.iter_mut().for_each(|d| *d = f64::INFINITY);
    for c in 1..k {
        let newest = &centroids[(c - 1) * dim..c * dim];
        for (block, d) in blocks.columns.chunks_exact(dim * LANES).zip(dists.chunks_mut(LANES)) {
            let to_newest = block_distances(block, newest);
            for (d, to_newest) in d.iter_mut().zip(to_newest) {
                if to_newest < *d {
                    *d = to_newest;
                }
            }
        }
        let next = WeightedIndex::new(dists.iter()).map_or(0, |w| w.sample(rng));
        centroids.extend_from_slice(&points[next * dim..(next + 1) * dim]);
    }
    centroids
}

/// Rows whose distances are taken together: eight doubles are four SSE2 or two AVX registers.
pub(crate) const LANES: usize = 8;

/// The rows again, [`LANES`] at a time, each block column by column: coordinate `j` of row `r` of
/// block `b` at `(b * dim + j) * LANES + r`. The last block is padded with zeros, whose distances
/// are taken and never read.
pub(crate) struct Blocks {
    pub(crate) columns: Vec<f64>,
    dim: usize,
}

impl Blocks {
    pub(crate) fn new(points: &[f64], dim: usize) -> Self {
        let n = points.len() / dim;
        let mut columns = vec![0.0; n.div_ceil(LANES) * LANES * dim];
        for (block, rows) in columns.chunks_exact_mut(dim * LANES).zip(points.chunks(dim * LANES)) {
            for (r, row) in rows.chunks_exact(dim).enumerate() {
                for (j, &v) in row.iter().enumerate() {
                    block[j * LANES + r] = v;
                }
            }
        }
        Self { columns, dim }
    }
}

/// The squared distances of one block's rows to `centroid`, each summed over the coordinates in
/// order from zero, as [`squared_distance`] sums one row's.
#[inline]
pub(crate) fn block_distances(block: &[f64], centroid: &[f64]) -> [f64; LANES] {
    let mut sums = [0.0f64; LANES];
    for (column, &c) in block.chunks_exact(LANES).zip(centroid) {
        for (sum, &v) in sums.iter_mut().zip(column) {
            let d = v - c;
            *sum += d * d;
        }
    }
    sums
}

/// The nearest centroid of each row of a block and its squared distance, as
/// linfa finds them: the first centroid's distance to start from, then a later one only if strictly
/// nearer (so the first of equals wins).
#[inline]
fn block_nearest(block: &[f64], centroids: &[f64], dim: usize) -> ([usize; LANES], [f64; LANES]) {
    let mut chunks = centroids.chunks_exact(dim);
    let first = chunks.next().expect("at least one centroid");
    let mut best_d = block_distances(block, first);
    let mut best_c = [0usize; LANES];
    for (c, centroid) in chunks.enumerate() {
        let d = block_distances(block, centroid);
        for r in 0..LANES {
            if d[r] < best_d[r] {
                best_d[r] = d[r];
                best_c[r] = c + 1;
            }
        }
    }
    (best_c, best_d)
}

/// Assigns every row its nearest centroid and squared distance, on `threads` threads (each row's
/// answer does not depend on the split).
fn assign(blocks: &Blocks, centroids: &[f64], threads: usize, memberships: &mut [usize], dists: &mut [f64]) {
    let (n, dim) = (dists.len(), blocks.dim);
    let part = |columns: &[f64], memberships: &mut [usize], dists: &mut [f64]| {
        for ((block, m), d) in columns
            .chunks_exact(dim * LANES)
            .zip(memberships.chunks_mut(LANES))
            .zip(dists.chunks_mut(LANES))
        {
            let (best_c, best_d) = block_nearest(block, centroids, dim);
            m.copy_from_slice(&best_c[..m.len()]);
            d.copy_from_slice(&best_d[..d.len()]);
        }
    };
    // Below a few thousand rows a thread costs more than it saves.
    if threads <= 1 || n < 4096 {
        part(&blocks.columns, memberships, dists);
        return;
    }
    let chunk = n.div_ceil(threads).div_ceil(LANES) * LANES;
    std::thread::scope(|scope| {
        for ((p, m), d) in blocks
            .columns
            .chunks(chunk * dim)
            .zip(memberships.chunks_mut(chunk))
            .zip(dists.chunks_mut(chunk))
        {
            scope.spawn(move || part(p, m, d));
        }
    });
}

/// Moves each centroid to the mean of its rows with the old centroid counted as one more row
/// (linfa's "m_k-means" update, which keeps an empty cluster where it was), summing rows in order,
/// then the old centroid, then dividing by the count. Returns how far the centroids moved.
fn update(points: &[f64], dim: usize, memberships: &[usize], centroids: &mut [f64]) -> f64 {
    let k = centroids.len() / dim;
    let mut counts = vec![1usize; k];
    let mut sums = vec![0.0f64; k * dim];
    for (row, &m) in points.chunks_exact(dim).zip(memberships) {
        for (s, v) in sums[m * dim..(m + 1) * dim].iter_mut().zip(row) {
            *s += v;
        }
        counts[m] += 1;
    }
    for (s, old) in sums.iter_mut().zip(centroids.iter()) {
        *s += old;
    }
    for (c, &count) in counts.iter().enumerate() {
        sums[c * dim..(c + 1) * dim].iter_mut().for_each(|s| *s /= count as f64);
    }
    let moved = squared_distance(centroids, &sums).sqrt();
    centroids.copy_from_slice(&sums);
    moved
}

#[cfg(test)]
mod tests {
    use super::*;
    use linfa::traits::Fit as _;
    use linfa::DatasetBase;
    use linfa_clustering::{KMeans, KMeansInit};
    use linfa_nn::distance::L2Dist;
    use ndarray::Array2;
    use proptest::prelude::*;

    /// linfa's k-means with the same settings: the reference.
    fn linfas(x: ArrayView2<'_, f64>, c: &KMeansConfig) -> Option<KMeansResult> {
        let model = KMeans::params_with(c.k, Xoshiro256Plus::seed_from_u64(c.seed), L2Dist)
            .n_runs(c.n_runs)
            .tolerance(c.tolerance)
            .max_n_iterations(c.max_iterations)
            .init_method(KMeansInit::KMeansPlusPlus)
            .fit(&DatasetBase::from(x))
            .ok()?;
        Some(KMeansResult {
            centroids: model.centroids().iter().copied().collect(),
            inertia: model.inertia(),
        })
    }

    fn bits(r: &Option<KMeansResult>) -> Option<(Vec<u64>, u64)> {
        r.as_ref()
            .map(|r| (r.centroids.iter().map(|v| v.to_bits()).collect(), r.inertia.to_bits()))
    }

    fn config(k: usize, n_runs: usize, tolerance: f64, max_iterations: u64, seed: u64) -> KMeansConfig {
        KMeansConfig {
            k,
            n_runs,
            tolerance,
            max_iterations,
            seed,
            threads: 1,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// Random points on a coarse grid (so ties and repeated points are common), any k up to the
        /// number of rows (so starts run out of distinct points), few or many iterations.
        #[test]
        fn equals_linfa_to_the_bit(
            dim in 1usize..5,
            cells in prop::collection::vec(-4i32..4, 1..240),
            scale in prop_oneof![Just(1.0), Just(0.37), Just(1e3)],
            k in 1usize..8,
            n_runs in 1usize..4,
            tolerance in prop_oneof![Just(1e-2), Just(1e-9), Just(10.0)],
            max_iterations in 1u64..40,
            seed in 0u64..1_000,
        ) {
            let n = cells.len() / dim;
            prop_assume!(n >= 1);
            let x = Array2::from_shape_fn((n, dim), |(i, j)| f64::from(cells[i * dim + j]) * scale + 0.01 * j as f64);
            let c = config(k.min(n), n_runs, tolerance, max_iterations, seed);
            prop_assert_eq!(bits(&kmeans(x.view(), &c)), bits(&linfas(x.view(), &c)));
        }
    }

    /// Customers-like data: four blobs in five dimensions, 3 runs to convergence at the product's
    /// defaults, for every k auto-k tries; on two threads as well as one.
    #[test]
    fn equals_linfa_on_blobs_for_every_candidate_k() {
        use rand08::Rng as _;
        let mut rng = Xoshiro256Plus::seed_from_u64(7);
        let x = Array2::from_shape_fn((6_000, 5), |(i, j)| {
            (i % 4) as f64 * 1.5 + j as f64 * 0.1 + rng.gen_range(-1.0..1.0)
        });
        for k in 2..=10 {
            let one = config(k, 3, 1e-2, 300, 42);
            let two = KMeansConfig { threads: 2, ..one };
            let reference = bits(&linfas(x.view(), &one));
            assert!(reference.is_some());
            assert_eq!(bits(&kmeans(x.view(), &one)), reference, "k = {k}");
            assert_eq!(bits(&kmeans(x.view(), &two)), reference, "k = {k}, two threads");
        }
    }

    /// A column-major view is read in row order, like any other.
    #[test]
    fn reads_views_that_are_not_row_major() {
        let x = Array2::from_shape_fn((50, 3), |(i, j)| ((i * 7 + j * 3) % 11) as f64);
        let t = x.t().to_owned();
        let c = config(3, 2, 1e-4, 100, 5);
        assert_eq!(bits(&kmeans(t.t(), &c)), bits(&kmeans(x.view(), &c)));
    }

    /// One cluster: the mean (with the start counted once more, as linfa's update does).
    #[test]
    fn one_cluster_by_hand() {
        let x = ndarray::array![[0.0], [2.0], [4.0]];
        let r = kmeans(x.view(), &config(1, 1, 1e-12, 1, 0)).expect("fits");
        // Start at one of the rows s; the update is (0 + 2 + 4 + s) / 4.
        assert!([1.5, 2.0, 2.5].contains(&r.centroids[0]), "{:?}", r.centroids);
        let s = r.centroids[0] * 4.0 - 6.0;
        let expected = [0.0f64, 2.0, 4.0].iter().map(|v| (v - s) * (v - s)).sum::<f64>() / 3.0;
        assert_eq!(r.inertia, expected);
    }
}
