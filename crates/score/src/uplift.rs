//! What contacting customers earned: the difference between the customers a list sent to the CRM
//! (treatment) and the control customers held out of it ([`crate::Holdout`]), over the window
//! after the list, with 95 % intervals.
//!
//! - Retention (at least one purchase in the window) is a difference of two proportions, with
//!   Newcombe's hybrid score interval (method 10 of Newcombe 1998), built from each group's Wilson
//!   interval: it stays inside `[-1, 1]` and keeps its coverage near 0 and 1, where the textbook
//!   Wald interval fails.
//! - Revenue per customer (net spend in the window) is a difference of two means with very
//!   unequal variances and, often, group sizes: Welch's interval, with the Welch-Satterthwaite
//!   degrees of freedom.
//!
//! A group with fewer than [`MIN_GROUP`] customers gets point estimates but no interval, and a note
//! that says so.
//!
//! ```
//! use churn_score::uplift::{estimate, GroupOutcomes};
//!
//! // Newcombe's (1998) example: 56 of 70 against 48 of 80.
//! let (mut treated, mut control) = (GroupOutcomes::default(), GroupOutcomes::default());
//! (0..70).for_each(|i| treated.add(i < 56, 0.0));
//! (0..80).for_each(|i| control.add(i < 48, 0.0));
//! let e = estimate(&treated, &control);
//! let interval = e.retained_interval.unwrap();
//! assert!((e.retained_uplift.unwrap() - 0.2).abs() < 1e-12);
//! assert_eq!((format!("{:.4}", interval.low), format!("{:.4}", interval.high)), ("0.0524".into(), "0.3339".into()));
//! ```

use statrs::distribution::{ContinuousCDF, StudentsT};

/// The two-sided 95 % standard normal quantile.
pub const Z_95: f64 = 1.959_963_984_540_054;

/// Fewer customers than this in either group: no interval.
pub const MIN_GROUP: u64 = 30;

/// A two-sided 95 % interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    /// The lower bound.
    pub low: f64,
    /// The upper bound.
    pub high: f64,
}

impl Interval {
    /// Whether the interval lies wholly above or below zero.
    pub fn excludes_zero(&self) -> bool {
        self.low > 0.0 || self.high < 0.0
    }
}

/// The Wilson score interval of `successes` out of `n` (none for `n = 0`).
pub fn wilson(successes: u64, n: u64) -> Option<Interval> {
    if n == 0 || successes > n {
        return None;
    }
    let (n, p) = (n as f64, successes as f64 / n as f64);
    let z2 = Z_95 * Z_95;
    let centre = p + z2 / (2.0 * n);
    let spread = Z_95 * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    let scale = 1.0 + z2 / n;
    Some(Interval {
        low: ((centre - spread) / scale).max(0.0),
        high: ((centre + spread) / scale).min(1.0),
    })
}

/// Newcombe's hybrid score interval for `x1 / n1 - x2 / n2`.
pub fn newcombe(x1: u64, n1: u64, x2: u64, n2: u64) -> Option<Interval> {
    let (w1, w2) = (wilson(x1, n1)?, wilson(x2, n2)?);
    let (p1, p2) = (x1 as f64 / n1 as f64, x2 as f64 / n2 as f64);
    let d = p1 - p2;
    Some(Interval {
        low: d - ((p1 - w1.low).powi(2) + (w2.high - p2).powi(2)).sqrt(),
        high: d + ((w1.high - p1).powi(2) + (p2 - w2.low).powi(2)).sqrt(),
    })
}

/// Welch's interval for the difference of the means of `a` and `b` (each at least two customers).
pub fn welch(a: &GroupOutcomes, b: &GroupOutcomes) -> Option<Interval> {
    if a.n < 2 || b.n < 2 {
        return None;
    }
    let (va, vb) = (a.variance()? / a.n as f64, b.variance()? / b.n as f64);
    let d = a.mean_revenue()? - b.mean_revenue()?;
    let se = (va + vb).sqrt();
    if se == 0.0 {
        // Every customer of both groups spent the same: the difference is known exactly.
        return Some(Interval { low: d, high: d });
    }
    let df = (va + vb).powi(2) / (va * va / (a.n - 1) as f64 + vb * vb / (b.n - 1) as f64);
    let t = StudentsT::new(0.0, 1.0, df).ok()?.inverse_cdf(0.975);
    Some(Interval {
        low: d - t * se,
        high: d + t * se,
    })
}

/// One group's outcomes over a window: customers, how many bought, and their revenue's mean and
/// spread (Welford's running sums, which stay exact enough over millions of customers).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct GroupOutcomes {
    n: u64,
    retained: u64,
    mean: f64,
    m2: f64,
}

impl GroupOutcomes {
    /// Adds a customer: whether they bought in the window, and their net spend there.
    pub fn add(&mut self, retained: bool, revenue: f64) {
        self.n += 1;
        self.retained += u64::from(retained);
        let delta = revenue - self.mean;
        self.mean += delta / self.n as f64;
        self.m2 += delta * (revenue - self.mean);
    }

    /// Customers.
    pub fn customers(&self) -> u64 {
        self.n
    }

    /// Customers who bought in the window.
    pub fn retained(&self) -> u64 {
        self.retained
    }

    /// The share who bought, with at least one customer.
    pub fn retention(&self) -> Option<f64> {
        (self.n > 0).then(|| self.retained as f64 / self.n as f64)
    }

    /// Mean net spend per customer, with at least one customer.
    pub fn mean_revenue(&self) -> Option<f64> {
        (self.n > 0).then_some(self.mean)
    }

    /// The sample variance of the net spend, with at least two customers.
    pub fn variance(&self) -> Option<f64> {
        (self.n > 1).then(|| self.m2 / (self.n - 1) as f64)
    }
}

/// The uplift of a treatment group over its control group.
#[derive(Debug, Clone, PartialEq)]
pub struct UpliftEstimate {
    /// The treatment group.
    pub treatment: GroupOutcomes,
    /// The control group.
    pub control: GroupOutcomes,
    /// Treatment retention minus control retention (both groups non-empty).
    pub retained_uplift: Option<f64>,
    /// Its Newcombe interval (both groups of at least [`MIN_GROUP`]).
    pub retained_interval: Option<Interval>,
    /// Treatment revenue per customer minus control revenue per customer.
    pub revenue_uplift_per_customer: Option<f64>,
    /// Its Welch interval (both groups of at least [`MIN_GROUP`]).
    pub revenue_interval: Option<Interval>,
    /// The revenue the treatment earned: the revenue uplift per customer times the treated.
    pub incremental_revenue: Option<f64>,
    /// Why an interval is missing.
    pub note: Option<String>,
}

/// Compares `treatment` with `control` (see the [module docs](self)).
pub fn estimate(treatment: &GroupOutcomes, control: &GroupOutcomes) -> UpliftEstimate {
    let both = treatment.n > 0 && control.n > 0;
    let enough = treatment.n >= MIN_GROUP && control.n >= MIN_GROUP;
    let retained_uplift = both.then(|| treatment.retention().unwrap_or(0.0) - control.retention().unwrap_or(0.0));
    let revenue_uplift = both.then_some(treatment.mean - control.mean);
    let note = (!enough).then(|| {
        format!(
            "too few customers for an interval: {} treated and {} in control (at least {MIN_GROUP} each)",
            treatment.n, control.n
        )
    });
    UpliftEstimate {
        treatment: *treatment,
        control: *control,
        retained_uplift,
        retained_interval: enough
            .then(|| newcombe(treatment.retained, treatment.n, control.retained, control.n))
            .flatten(),
        revenue_uplift_per_customer: revenue_uplift,
        revenue_interval: enough.then(|| welch(treatment, control)).flatten(),
        incremental_revenue: revenue_uplift.map(|d| d * treatment.n as f64),
        note,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(values: &[(bool, f64)]) -> GroupOutcomes {
        let mut g = GroupOutcomes::default();
        for &(retained, revenue) in values {
            g.add(retained, revenue);
        }
        g
    }

    fn close(a: f64, b: f64, tolerance: f64) -> bool {
        (a - b).abs() <= tolerance
    }

    #[test]
    fn wilson_and_newcombe_match_the_published_examples() {
        // Newcombe (1998), "Two-sided confidence intervals for the single proportion", 81/263:
        // 0.2553 to 0.3662.
        let w = wilson(81, 263).expect("defined");
        assert!(
            close(w.low, 0.255_288_519_878, 1e-9) && close(w.high, 0.366_209_576_983, 1e-9),
            "{w:?}"
        );
        // Newcombe (1998), "Interval estimation for the difference between independent
        // proportions", example (a), 56/70 - 48/80: 0.0524 to 0.3339 by method 10.
        let d = newcombe(56, 70, 48, 80).expect("defined");
        assert!(
            close(d.low, 0.052_431_472_402, 1e-9) && close(d.high, 0.333_872_654_037, 1e-9),
            "{d:?}"
        );
        // At the edges the bounds stay in range and the interval is not empty.
        let edge = newcombe(0, 40, 40, 40).expect("defined");
        assert!(edge.low >= -1.0 && edge.high < -0.8, "{edge:?}");
        assert_eq!(wilson(1, 0), None);
        assert_eq!(wilson(3, 2), None);
    }

    #[test]
    fn welch_matches_scipy() {
        // scipy.stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95) on these values:
        // (-5.761489185219723, 27.261489185219723), difference 10.75, df 6.7609612768244025.
        let a = group(&[10.0, 0.0, 25.0, 40.0, 0.0, 15.0].map(|v| (v > 0.0, v)));
        let b = group(&[0.0, 5.0, 0.0, 12.0].map(|v| (v > 0.0, v)));
        let i = welch(&a, &b).expect("defined");
        assert!(close(i.low, -5.761_489_185_219_723, 1e-9), "{i:?}");
        assert!(close(i.high, 27.261_489_185_219_723, 1e-9), "{i:?}");
        // No spread at all: the difference is exact.
        let same = group(&[(true, 2.0); 3]);
        let other = group(&[(true, 1.0); 4]);
        assert_eq!(welch(&same, &other), Some(Interval { low: 1.0, high: 1.0 }));
        assert_eq!(welch(&group(&[(true, 1.0)]), &other), None);
    }

    #[test]
    fn a_hand_computed_cell_and_the_small_group_rule() {
        // 40 treated, 30 bought and spent 10 each;
        // 30 in control, 15 bought and spent 10 each.
        let treated = group(
            &(0..40)
                .map(|i| (i < 30, if i < 30 { 10.0 } else { 0.0 }))
                .collect::<Vec<_>>(),
        );
        let control = group(
            &(0..30)
                .map(|i| (i < 15, if i < 15 { 10.0 } else { 0.0 }))
                .collect::<Vec<_>>(),
        );
        let e = estimate(&treated, &control);
        assert!(close(e.retained_uplift.expect("defined"), 0.75 - 0.5, 1e-12));
        assert!(close(e.revenue_uplift_per_customer.expect("defined"), 7.5 - 5.0, 1e-12));
        assert!(close(e.incremental_revenue.expect("defined"), 2.5 * 40.0, 1e-9));
        let retained = e.retained_interval.expect("defined");
        assert!(retained.low < 0.25 && retained.high > 0.25 && retained.low > -1.0);
        assert!(e.revenue_interval.is_some());
        assert_eq!(e.note, None);
        // Sample variances by hand: treated 100 * 0.75 * 0.25 * 40 / 39, control 100 * 0.25 * 30 / 29.
        assert!(close(treated.variance().expect("defined"), 18.75 * 40.0 / 39.0, 1e-9));
        assert!(close(control.variance().expect("defined"), 25.0 * 30.0 / 29.0, 1e-9));

        // One control customer short: estimates, no intervals, and a note saying why.
        let small = group(&(0..29).map(|i| (i < 15, 10.0)).collect::<Vec<_>>());
        let e = estimate(&treated, &small);
        assert!(e.retained_uplift.is_some() && e.retained_interval.is_none() && e.revenue_interval.is_none());
        assert!(e.note.expect("defined").contains("40 treated and 29 in control"));
        // An empty group: nothing to compare.
        let e = estimate(&treated, &GroupOutcomes::default());
        assert_eq!((e.retained_uplift, e.incremental_revenue), (None, None));
    }
}
