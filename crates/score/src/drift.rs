//! Drift: how far a distribution has moved from a reference, as the population stability index.
//!
//! `PSI = sum over bins (now - reference) x ln(now / reference)` over the reference's deciles, with
//! nulls as a bin of their own. The usual reading: below 0.1 stable, 0.1 to 0.25 a moderate shift,
//! above 0.25 a major one. A share of 0 is floored at 1e-4 so that an emptied or new bin counts as a
//! large but finite shift.

use serde::{Deserialize, Serialize};

/// Shares below this are taken as this in the logarithm.
const SHARE_FLOOR: f64 = 1e-4;

/// One bin: values in `(lower, upper]` (open-ended at the ends), or the nulls.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftBin {
    /// Lower edge (exclusive); `None` for the first bin and the null bin.
    pub lower: Option<f64>,
    /// Upper edge (inclusive); `None` for the last bin and the null bin.
    pub upper: Option<f64>,
    /// Whether this is the bin of null values.
    pub null: bool,
    /// Share of the reference in the bin.
    pub reference: f64,
    /// Share of the current population in the bin.
    pub current: f64,
}

/// The drift of one distribution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Drift {
    /// What moved: a feature's column, or `churn_probability`.
    pub name: String,
    /// Population stability index.
    pub psi: f64,
    /// How large the shift is, read from the PSI.
    pub level: DriftLevel,
    /// The bins it was computed on.
    pub bins: Vec<DriftBin>,
}

/// The usual reading of a PSI value; serialized in lower case (`stable`, `moderate`, `major`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DriftLevel {
    /// PSI below 0.1.
    Stable,
    /// PSI from 0.1 to 0.25.
    Moderate,
    /// PSI above 0.25.
    Major,
}

impl DriftLevel {
    /// The level's name, as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            DriftLevel::Stable => "stable",
            DriftLevel::Moderate => "moderate",
            DriftLevel::Major => "major",
        }
    }
}

/// The reading of a PSI value.
pub fn drift_level(psi: f64) -> DriftLevel {
    if psi > 0.25 {
        DriftLevel::Major
    } else if psi >= 0.1 {
        DriftLevel::Moderate
    } else {
        DriftLevel::Stable
    }
}

/// The PSI of `current` against `reference` over the reference's deciles (edges at the 10 %, ...,
/// 90 % quantiles, lower interpolation; repeated edges merge bins, so a count that is mostly 0 gets
/// fewer bins). Nulls form their own bin when either side has any. Non-finite values are not
/// expected (frames hold finite values or nulls) and count as nulls.
///
/// The values come as iterators (a frame's column or a slice's `iter().copied()`), so that a
/// frame's column is read where it is rather than copied into options first.
pub fn population_stability<R, C>(name: &str, reference: R, current: C) -> Drift
where
    R: IntoIterator<Item = Option<f64>>,
    R::IntoIter: Clone,
    C: IntoIterator<Item = Option<f64>>,
{
    let reference = reference.into_iter();
    let finite = |v: Option<f64>| v.filter(|x| x.is_finite());
    let mut values: Vec<f64> = reference.clone().filter_map(finite).collect();
    let mut edges: Vec<f64> = Vec::new();
    if !values.is_empty() {
        // The ten order statistics the edges need (the deciles and the maximum), selected in
        // increasing position rather than sorting everything: each selection leaves the larger
        // values to its right, where the next one looks. Exactly the values a sort would give.
        let n = values.len();
        let mut quantiles = [0.0; 10];
        let mut start = 0;
        for (q, k) in quantiles.iter_mut().zip(1..=10) {
            let position = if k == 10 { n - 1 } else { (k * (n - 1)) / 10 };
            let (_, nth, _) = values[start..].select_nth_unstable_by(position - start, f64::total_cmp);
            *q = *nth;
            start = position;
        }
        let max = quantiles[9];
        for &edge in &quantiles[..9] {
            if edges.last() != Some(&edge) && edge < max {
                edges.push(edge);
            }
        }
    }
    // Bin b holds values <= edges[b] and > edges[b - 1]; the last bin has no upper edge.
    let bins = edges.len() + 1;
    fn shares(values: impl Iterator<Item = Option<f64>>, edges: &[f64]) -> Vec<f64> {
        let bins = edges.len() + 1;
        let mut counts = vec![0u64; bins + 1];
        let mut n = 0usize;
        for v in values {
            n += 1;
            match v.filter(|x| x.is_finite()) {
                Some(x) => counts[edges.partition_point(|&e| e < x)] += 1,
                None => counts[bins] += 1,
            }
        }
        let n = n.max(1) as f64;
        counts.into_iter().map(|c| c as f64 / n).collect()
    }
    let (r, c) = (shares(reference, &edges), shares(current.into_iter(), &edges));
    let mut out = Vec::with_capacity(bins + 1);
    let mut psi = 0.0;
    for b in 0..=bins {
        let null = b == bins;
        if null && r[b] == 0.0 && c[b] == 0.0 {
            continue;
        }
        let (rs, cs) = (r[b].max(SHARE_FLOOR), c[b].max(SHARE_FLOOR));
        psi += (cs - rs) * (cs / rs).ln();
        out.push(DriftBin {
            lower: if null || b == 0 { None } else { Some(edges[b - 1]) },
            upper: if null || b == bins - 1 { None } else { Some(edges[b]) },
            null,
            reference: r[b],
            current: c[b],
        });
    }
    Drift {
        name: name.to_string(),
        psi,
        level: drift_level(psi),
        bins: out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn some(values: &[f64]) -> Vec<Option<f64>> {
        values.iter().copied().map(Some).collect()
    }

    #[test]
    fn selected_deciles_equal_sorted_ones() {
        // Against the edges of a full sort, on sizes around the decile positions, with ties.
        for n in [1usize, 2, 9, 10, 11, 19, 101, 1000] {
            let values: Vec<Option<f64>> = (0..n).map(|i| Some(((i * 7919) % 13) as f64 / 3.0)).collect();
            let mut sorted: Vec<f64> = values.iter().flatten().copied().collect();
            sorted.sort_by(f64::total_cmp);
            let mut expected: Vec<f64> = Vec::new();
            for k in 1..10 {
                let edge = sorted[(k * (n - 1)) / 10];
                if expected.last() != Some(&edge) && edge < sorted[n - 1] {
                    expected.push(edge);
                }
            }
            let bins = population_stability("x", values.iter().copied(), values.iter().copied()).bins;
            let uppers: Vec<f64> = bins.iter().filter_map(|b| b.upper).collect();
            assert_eq!(uppers, expected, "{n} values");
        }
    }

    #[test]
    fn the_same_distribution_has_no_drift() {
        let values = some(&(0..100).map(f64::from).collect::<Vec<_>>());
        let drift = population_stability("x", values.iter().copied(), values.iter().copied());
        assert_eq!(drift.psi, 0.0);
        assert_eq!(drift.level, DriftLevel::Stable);
        assert_eq!(drift.bins.len(), 10);
        assert!(drift.bins.iter().all(|b| (b.reference - 0.1).abs() < 1e-12));
    }

    #[test]
    fn psi_matches_a_hand_computation() {
        // Reference 0..=9 (ten values): edges at 0, 1, ..., 8, so each value is its own bin.
        // Current: five values in the first bin (0) and five in the last (9).
        let reference = some(&(0..10).map(f64::from).collect::<Vec<_>>());
        let current = some(&[0.0, 0.0, 0.0, 0.0, 0.0, 9.0, 9.0, 9.0, 9.0, 9.0]);
        let drift = population_stability("x", reference.iter().copied(), current.iter().copied());
        // Bins 0 and 9: (0.5 - 0.1) ln 5 each. Bins 1..8: (1e-4 - 0.1) ln(1e-4 / 0.1) each.
        let expected = 2.0 * 0.4 * 5f64.ln() + 8.0 * (1e-4 - 0.1) * (1e-4f64 / 0.1).ln();
        assert!((drift.psi - expected).abs() < 1e-12, "{} vs {expected}", drift.psi);
        assert_eq!(drift.level, DriftLevel::Major);
    }

    #[test]
    fn nulls_are_a_bin_and_repeated_edges_merge() {
        // Mostly zeros: one edge (0), two bins, and a null bin.
        let mut reference = some(&[0.0; 8]);
        reference.extend([Some(3.0), None]);
        let current: [Option<f64>; 10] = [None; 10];
        let drift = population_stability("x", reference.iter().copied(), current.iter().copied());
        assert_eq!(drift.bins.len(), 3);
        assert!(drift.bins[2].null);
        assert_eq!((drift.bins[2].reference, drift.bins[2].current), (0.1, 1.0));
        assert!(drift.psi > 0.25);
    }

    #[test]
    fn levels_follow_the_usual_thresholds() {
        assert_eq!(drift_level(0.05), DriftLevel::Stable);
        assert_eq!(drift_level(0.1), DriftLevel::Moderate);
        assert_eq!(drift_level(0.25), DriftLevel::Moderate);
        assert_eq!(drift_level(0.3), DriftLevel::Major);
    }
}
