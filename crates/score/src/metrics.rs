//! Evaluation metrics for churn scores: ranking (ROC AUC, PR AUC, lift, capture) and probability
//! quality (log loss, Brier score, calibration).
//!
//! Written here rather than taken from linfa: linfa 0.8's ROC AUC walks thresholds without averaging
//! tied scores, and tied scores are the rule for the baselines (recency in whole days, RFM score
//! sums). Every function here treats ties exactly, and the tests pin each against hand-computed
//! values.

use serde::{Deserialize, Serialize};

/// The scores ranked once, highest first, as groups of tied scores: every ranking metric below is a
/// walk over these groups, so [`Metrics::compute`] sorts once instead of once per metric (the
/// gains curve alone asked for twenty sorts of every customer).
#[derive(Debug, Clone)]
pub struct Ranking {
    /// `(customers, positives)` of each group of tied scores, highest score first.
    groups: Vec<(f64, f64)>,
    positives: f64,
    customers: f64,
}

impl Ranking {
    /// Ranks `scores` (ties are groups, so the order of tied rows does not matter).
    pub fn new(scores: &[f64], labels: &[bool]) -> Ranking {
        let mut ranked: Vec<(f64, bool)> = scores.iter().copied().zip(labels.iter().copied()).collect();
        ranked.sort_unstable_by(|a, b| b.0.total_cmp(&a.0));
        let mut groups = Vec::new();
        let mut start = 0;
        for i in 1..=ranked.len() {
            if i == ranked.len() || ranked[i].0 != ranked[start].0 {
                let pos = ranked[start..i].iter().filter(|r| r.1).count() as f64;
                groups.push(((i - start) as f64, pos));
                start = i;
            }
        }
        Ranking {
            groups,
            positives: labels.iter().filter(|&&y| y).count() as f64,
            customers: labels.len() as f64,
        }
    }

    /// See [`roc_auc`].
    pub fn roc_auc(&self) -> Option<f64> {
        let (positives, negatives) = (self.positives, self.customers - self.positives);
        if positives == 0.0 || negatives == 0.0 {
            return None;
        }
        // Walk from the top: each positive beats the negatives below it; a tie counts half.
        let mut negatives_above = 0.0;
        let mut wins = 0.0;
        for &(size, pos) in &self.groups {
            let neg = size - pos;
            wins += pos * (negatives - negatives_above - neg) + 0.5 * pos * neg;
            negatives_above += neg;
        }
        Some(wins / (positives * negatives))
    }

    /// See [`pr_auc`].
    pub fn pr_auc(&self) -> Option<f64> {
        if self.positives == 0.0 {
            return None;
        }
        let (mut tp, mut seen, mut ap) = (0.0, 0.0, 0.0);
        for &(size, pos) in &self.groups {
            tp += pos;
            seen += size;
            ap += (pos / self.positives) * (tp / seen);
        }
        Some(ap)
    }

    /// See [`top_fraction`].
    pub fn top_fraction(&self, fraction: f64) -> Option<TopFraction> {
        let (n, positives) = (self.customers, self.positives);
        if positives == 0.0 || n == 0.0 {
            return None;
        }
        let target = (fraction * n).ceil();
        let (mut taken, mut caught) = (0.0, 0.0);
        for &(size, pos) in &self.groups {
            if taken >= target {
                break;
            }
            let share = ((target - taken) / size).min(1.0);
            taken += share * size;
            caught += share * pos;
        }
        let capture = caught / positives;
        let rate_top = caught / taken;
        Some(TopFraction {
            fraction,
            lift: rate_top / (positives / n),
            capture,
        })
    }

    /// See [`roc_curve`].
    pub fn roc_curve(&self, max_points: usize) -> Vec<[f64; 2]> {
        let (positives, negatives) = (self.positives, self.customers - self.positives);
        if positives == 0.0 || negatives == 0.0 {
            return Vec::new();
        }
        let (mut tp, mut fp) = (0.0, 0.0);
        let mut points = vec![[0.0, 0.0]];
        for &(size, pos) in &self.groups {
            tp += pos;
            fp += size - pos;
            points.push([fp / negatives, tp / positives]);
        }
        thin(points, max_points)
    }

    /// See [`gains_curve`].
    pub fn gains_curve(&self, steps: usize) -> Vec<[f64; 2]> {
        if self.positives == 0.0 || steps == 0 {
            return Vec::new();
        }
        (0..=steps)
            .map(|k| {
                let fraction = k as f64 / steps as f64;
                let capture = if k == 0 {
                    0.0
                } else {
                    self.top_fraction(fraction).map_or(0.0, |t| t.capture)
                };
                [fraction, capture]
            })
            .collect()
    }
}

/// Area under the ROC curve: the probability that a random positive scores above a random
/// negative, ties counting one half (the Mann-Whitney U statistic). `None` without both classes.
pub fn roc_auc(scores: &[f64], labels: &[bool]) -> Option<f64> {
    Ranking::new(scores, labels).roc_auc()
}

/// Average precision (area under the precision-recall curve, step-wise as scikit-learn's
/// `average_precision_score`): the sum over distinct score thresholds of the recall gained times
/// the precision at that threshold. `None` without positives.
pub fn pr_auc(scores: &[f64], labels: &[bool]) -> Option<f64> {
    Ranking::new(scores, labels).pr_auc()
}

/// Mean negative log-likelihood of the labels under the probabilities (natural log), with
/// probabilities clipped to `[1e-15, 1 - 1e-15]` as scikit-learn does.
pub fn log_loss(probabilities: &[f64], labels: &[bool]) -> f64 {
    let total: f64 = probabilities
        .iter()
        .zip(labels)
        .map(|(&p, &y)| {
            let p = p.clamp(1e-15, 1.0 - 1e-15);
            if y {
                -p.ln()
            } else {
                -(1.0 - p).ln()
            }
        })
        .sum();
    total / probabilities.len().max(1) as f64
}

/// Mean squared difference between probability and outcome.
pub fn brier(probabilities: &[f64], labels: &[bool]) -> f64 {
    let total: f64 = probabilities
        .iter()
        .zip(labels)
        .map(|(&p, &y)| (p - if y { 1.0 } else { 0.0 }).powi(2))
        .sum();
    total / probabilities.len().max(1) as f64
}

/// Lift and capture in the top `fraction` of customers by score.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TopFraction {
    /// The fraction of customers targeted (0.1 = top decile).
    pub fraction: f64,
    /// Churn rate among them divided by the overall churn rate.
    pub lift: f64,
    /// Share of all churners among them.
    pub capture: f64,
}

/// Lift and capture in the top `fraction` of customers by score. The cut rarely falls between two
/// different scores; customers tied at the cut are counted in proportion to how many of them fit,
/// so the result does not depend on row order. `None` without positives.
pub fn top_fraction(scores: &[f64], labels: &[bool], fraction: f64) -> Option<TopFraction> {
    Ranking::new(scores, labels).top_fraction(fraction)
}

/// The ROC curve, `[false positive rate, true positive rate]` from `[0, 0]` to `[1, 1]`, one point
/// after each group of tied scores (a tie is a straight segment, so the trapezoids under these
/// points sum to [`roc_auc`] exactly). With more than `max_points` groups, evenly spaced groups are
/// kept (always the first and last points): the curve for a chart, not for the AUC. Empty without
/// both classes.
pub fn roc_curve(scores: &[f64], labels: &[bool], max_points: usize) -> Vec<[f64; 2]> {
    Ranking::new(scores, labels).roc_curve(max_points)
}

/// The cumulative gains curve: `[share of customers targeted, share of churners among them]` at
/// `steps` equal steps of the share targeted (0, 1/steps, ..., 1), highest scores first, ties at a
/// cut counted in proportion as in [`top_fraction`]. Empty without positives.
pub fn gains_curve(scores: &[f64], labels: &[bool], steps: usize) -> Vec<[f64; 2]> {
    Ranking::new(scores, labels).gains_curve(steps)
}

/// At most `max_points` of `points` (at least 2), evenly spaced, keeping the first and the last.
fn thin(points: Vec<[f64; 2]>, max_points: usize) -> Vec<[f64; 2]> {
    let max_points = max_points.max(2);
    if points.len() <= max_points {
        return points;
    }
    let last = points.len() - 1;
    (0..max_points)
        .map(|k| points[(k * last).div_ceil(max_points - 1).min(last)])
        .collect()
}

/// One bin of a calibration table.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CalibrationBin {
    /// Lower edge of the predicted-probability bin (inclusive).
    pub lower: f64,
    /// Upper edge (exclusive, except 1.0 for the last bin).
    pub upper: f64,
    /// Customers whose probability falls in the bin.
    pub customers: u64,
    /// Their mean predicted probability (none for an empty bin).
    pub mean_predicted: Option<f64>,
    /// Their observed churn rate (none for an empty bin).
    pub observed_rate: Option<f64>,
}

/// Ten equal-width bins over `[0, 1]` (scikit-learn's `calibration_curve`, strategy "uniform"):
/// a calibrated model has `observed_rate` close to `mean_predicted` in every bin.
pub fn calibration(probabilities: &[f64], labels: &[bool]) -> Vec<CalibrationBin> {
    const BINS: usize = 10;
    let mut count = [0u64; BINS];
    let mut sum_p = [0.0; BINS];
    let mut sum_y = [0.0; BINS];
    for (&p, &y) in probabilities.iter().zip(labels) {
        let b = ((p * BINS as f64) as usize).min(BINS - 1);
        count[b] += 1;
        sum_p[b] += p;
        sum_y[b] += if y { 1.0 } else { 0.0 };
    }
    (0..BINS)
        .map(|b| CalibrationBin {
            lower: b as f64 / BINS as f64,
            upper: (b + 1) as f64 / BINS as f64,
            customers: count[b],
            mean_predicted: (count[b] > 0).then(|| sum_p[b] / count[b] as f64),
            observed_rate: (count[b] > 0).then(|| sum_y[b] / count[b] as f64),
        })
        .collect()
}

/// The metrics of one set of churn probabilities.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metrics {
    /// ROC AUC (ties count half).
    pub roc_auc: Option<f64>,
    /// Average precision.
    pub pr_auc: Option<f64>,
    /// Mean log-loss.
    pub log_loss: f64,
    /// Brier score.
    pub brier: f64,
    /// Lift and capture in the top 10 % by probability.
    pub top_decile: Option<TopFraction>,
    /// The ROC curve (at most 101 points), for charts.
    #[serde(default)]
    pub roc_curve: Vec<[f64; 2]>,
    /// The cumulative gains curve in 5 % steps, for charts.
    #[serde(default)]
    pub gains: Vec<[f64; 2]>,
}

impl Metrics {
    /// Computes every metric of `probabilities` against `labels`.
    pub fn compute(probabilities: &[f64], labels: &[bool]) -> Metrics {
        let ranking = Ranking::new(probabilities, labels);
        Metrics {
            roc_auc: ranking.roc_auc(),
            pr_auc: ranking.pr_auc(),
            log_loss: log_loss(probabilities, labels),
            brier: brier(probabilities, labels),
            top_decile: ranking.top_fraction(0.1),
            roc_curve: ranking.roc_curve(101),
            gains: ranking.gains_curve(20),
        }
    }
}

/// An out-of-time evaluation, saved in the model artifact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Evaluation {
    /// `out_of_time` (fit on `S - 2H`, evaluate on `S - H`) or `holdout` (a seeded share of one
    /// snapshot held out, for explicit labels that exist for one window only).
    pub method: String,
    /// The snapshot fitted on (`S - 2H`).
    pub fit_snapshot: Option<String>,
    /// The snapshot evaluated on (`S - H`).
    pub eval_snapshot: Option<String>,
    /// Customers evaluated.
    pub customers: u64,
    /// Of those, churned.
    pub churners: u64,
    /// The model's metrics.
    pub model: Metrics,
    /// Baseline: logistic regression on recency alone.
    pub recency_baseline: Metrics,
    /// Baseline: logistic regression on the RFM score (r + f + m quintile scores).
    pub rfm_baseline: Metrics,
    /// The model's calibration table (10 equal-width bins).
    pub calibration: Vec<CalibrationBin>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const EPS: f64 = 1e-12;

    #[test]
    fn the_roc_curve_walks_tie_groups_and_its_area_is_the_auc() {
        // Positives 0.8, 0.4, 0.4; negatives 0.4, 0.1: groups {0.8}, {0.4 x3}, {0.1}.
        let scores = [0.8, 0.4, 0.4, 0.4, 0.1];
        let labels = [true, true, true, false, false];
        let curve = roc_curve(&scores, &labels, 100);
        assert_eq!(curve, vec![[0.0, 0.0], [0.0, 1.0 / 3.0], [0.5, 1.0], [1.0, 1.0]]);
        let area: f64 = curve
            .windows(2)
            .map(|w| (w[1][0] - w[0][0]) * (w[1][1] + w[0][1]) / 2.0)
            .sum();
        assert!((area - roc_auc(&scores, &labels).expect("auc")).abs() < EPS, "{area}");
        // Thinned: the ends are kept.
        let scores: Vec<f64> = (0..1000).map(f64::from).collect();
        let labels: Vec<bool> = (0..1000).map(|i| i % 3 == 0).collect();
        let thin = roc_curve(&scores, &labels, 50);
        assert_eq!(thin.len(), 50);
        assert_eq!((thin[0], thin[49]), ([0.0, 0.0], [1.0, 1.0]));
        assert!(thin.windows(2).all(|w| w[0][0] <= w[1][0] && w[0][1] <= w[1][1]));
        assert!(roc_curve(&[0.1, 0.2], &[true, true], 10).is_empty());
    }

    #[test]
    fn gains_count_ties_at_the_cut_in_proportion() {
        // 4 customers, 2 churners: scores 0.9 (churner), 0.5 (churner), 0.5, 0.1.
        let scores = [0.9, 0.5, 0.5, 0.1];
        let labels = [true, true, false, false];
        let gains = gains_curve(&scores, &labels, 4);
        // Top 25 %: the 0.9 churner (1/2). Top 50 %: it and half of the tied pair (1.5 / 2).
        assert_eq!(
            gains,
            vec![[0.0, 0.0], [0.25, 0.5], [0.5, 0.75], [0.75, 1.0], [1.0, 1.0]]
        );
    }

    #[test]
    fn roc_auc_counts_ties_as_half() {
        // Positives score 0.8, 0.4, 0.4; negatives 0.4, 0.1.
        // Pairs (pos, neg): (0.8, 0.4) 1, (0.8, 0.1) 1, (0.4, 0.4) 1/2 twice, (0.4, 0.1) 1 twice.
        let scores = [0.8, 0.4, 0.4, 0.4, 0.1];
        let labels = [true, true, true, false, false];
        let auc = roc_auc(&scores, &labels).expect("both classes");
        assert!((auc - 5.0 / 6.0).abs() < EPS, "{auc}");
        // All tied: exactly one half.
        assert_eq!(roc_auc(&[1.0; 4], &[true, false, true, false]), Some(0.5));
        // Perfect and reversed.
        assert_eq!(roc_auc(&[3.0, 2.0, 1.0], &[true, true, false]), Some(1.0));
        assert_eq!(roc_auc(&[1.0, 2.0, 3.0], &[true, true, false]), Some(0.0));
        assert_eq!(roc_auc(&[1.0, 2.0], &[true, true]), None);
    }

    #[test]
    fn roc_auc_does_not_depend_on_row_order_within_ties() {
        let a = roc_auc(&[0.5, 0.5, 0.5, 0.2], &[true, false, false, true]);
        let b = roc_auc(&[0.5, 0.5, 0.5, 0.2], &[false, false, true, true]);
        assert_eq!(a, b);
    }

    #[test]
    fn average_precision_matches_scikit_learns_documented_example() {
        // sklearn.metrics.average_precision_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) = 0.8333...
        let ap = pr_auc(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]).expect("positives");
        assert!((ap - 0.833_333_333_333_333_3).abs() < EPS, "{ap}");
        // A tie between a positive and a negative at the top: precision 1/2 at recall 1.
        assert_eq!(pr_auc(&[0.9, 0.9], &[true, false]), Some(0.5));
    }

    #[test]
    fn log_loss_and_brier_match_hand_computed_values() {
        let p = [0.9, 0.2, 0.6];
        let y = [true, false, false];
        let expected = -(0.9f64.ln() + 0.8f64.ln() + 0.4f64.ln()) / 3.0;
        assert!((log_loss(&p, &y) - expected).abs() < EPS);
        assert!((brier(&p, &y) - (0.01 + 0.04 + 0.36) / 3.0).abs() < EPS);
        // A confident mistake is clipped, not infinite.
        assert!(log_loss(&[0.0], &[true]).is_finite());
    }

    #[test]
    fn top_decile_lift_and_capture_by_hand() {
        // 20 customers, 4 churners; the top 2 by score are one churner and one not.
        let mut scores: Vec<f64> = (0..20).map(|i| 100.0 - i as f64).collect();
        let mut labels = vec![false; 20];
        labels[0] = true;
        labels[5] = true;
        labels[10] = true;
        labels[15] = true;
        let top = top_fraction(&scores, &labels, 0.1).expect("positives");
        // Top decile rate 1/2, base rate 4/20 = 1/5: lift 2.5; it holds 1 of 4 churners.
        assert!(
            (top.lift - 2.5).abs() < EPS && (top.capture - 0.25).abs() < EPS,
            "{top:?}"
        );
        // Now customers 1 and 2 tie at the cut: half of the tie fits, with its churner share.
        scores[2] = scores[1];
        labels[2] = true;
        let top = top_fraction(&scores, &labels, 0.1).expect("positives");
        // Taken: customer 0 (churner) + half of {1 (no), 2 (yes)}: 1.5 churners of 5 among 2.
        assert!((top.capture - 1.5 / 5.0).abs() < EPS, "{top:?}");
        assert!((top.lift - (1.5 / 2.0) / (5.0 / 20.0)).abs() < EPS, "{top:?}");
    }

    #[test]
    fn calibration_bins_are_equal_width_and_count_everyone() {
        let p = [0.05, 0.15, 0.12, 0.95, 1.0, 0.5];
        let y = [false, true, false, true, true, false];
        let bins = calibration(&p, &y);
        assert_eq!(bins.len(), 10);
        assert_eq!(bins.iter().map(|b| b.customers).sum::<u64>(), 6);
        assert_eq!(bins[1].customers, 2);
        assert!((bins[1].mean_predicted.expect("filled") - 0.135).abs() < EPS);
        assert_eq!(bins[1].observed_rate, Some(0.5));
        // 1.0 belongs to the last bin.
        assert_eq!(bins[9].customers, 2);
        assert_eq!(bins[3].mean_predicted, None);
    }
}
