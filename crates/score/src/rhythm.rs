//! Each customer's own rhythm: when they should buy next, without a lifetime-value model.
//!
//! The churn model already says how likely a purchase within the horizon `H` is: `1 - p`. What it
//! does not say is *when*. The rhythm model answers that from the customer's own gaps:
//!
//! - An active customer's next purchase comes one gap after their last one. The gap is log-normal,
//!   `ln G ~ N(mu_c, sigma^2)`, centred on the customer's typical gap `m` (`typical_gap_days`) shrunk
//!   toward the population's by how many gaps they have shown:
//!   `mu_c = (k ln m + kappa mu_0) / (k + kappa)`, `k = max(frequency - 1, 1)`. A customer without a
//!   typical gap (one purchase day) takes `mu_0`.
//! - Given the `r` days already waited since the last purchase (`recency_days`), the share of the
//!   remaining gap distribution that falls within `w` days is
//!   `R(w) = 1 - P(G > r + w) / P(G > r)`.
//! - The chance of a purchase within `w` days spreads the model's `-ln p` over time as `R` does:
//!   `P(w) = 1 - p^(R(w) / R(H))`. At `w = H` this is `1 - p`, the churn model's own figure, so the
//!   list and the dates never disagree about the horizon; before and after `H` the customer's rhythm
//!   shapes it. The chance of never buying again is `p^(1 / R(H))`.
//! - `mu_0`, `sigma` and `kappa` are fitted by maximum likelihood on the training snapshot `C = S -
//!   H`: the days from `C` to each customer's first purchase in `[C, C + H)`, given one, with the
//!   production model's probabilities at `C` (see [`RhythmModel::fit`]).
//!
//! The expected date is the median of the first purchase given one within a year, and the 80 %
//! interval its 10th and 90th percentiles; when the year's chance is under one half the customer
//! is "unlikely" and has no date, as with the BG/NBD figures of `churn clv`.

use argmin::core::{CostFunction, Executor};
use argmin::solver::neldermead::NelderMead;
use serde::{Deserialize, Serialize};
use statrs::function::erf::{erfc, erfc_inv};

use crate::error::{Error, Result};

/// The window the next purchase is predicted in, in days: a customer unlikely to buy within a year
/// is "unlikely", whatever the horizon (as for the BG/NBD figures).
pub const NEXT_PURCHASE_WINDOW_DAYS: f64 = 365.0;

/// The most buyers the fit looks at: an evenly spaced selection in id order beyond this. Three
/// parameters are well determined by far fewer (the test recovers them from 6,000 within 0.05 to
/// 0.15), and the fit stays a fraction of a second.
pub const RHYTHM_FIT_SAMPLE: usize = 10_000;

/// The fixed parts the likelihood is summed in (see `Likelihood::mean_log_likelihood`).
const LIKELIHOOD_CHUNKS: usize = 2;

/// Fewer buyers in the training window than this and no rhythm is fitted.
pub const RHYTHM_MIN_BUYERS: usize = 30;

/// The fitted rhythm: the population's typical log gap, the spread of one customer's gaps around
/// their own, and how much a customer's history counts against the population's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RhythmModel {
    /// `mu_0`: the log of the typical gap, in days, of a customer with no gaps of their own.
    pub log_gap_mean: f64,
    /// `sigma`: the standard deviation of a customer's log gaps around their own typical one.
    pub log_gap_sd: f64,
    /// `kappa`: how many gaps the population's typical gap weighs against the customer's.
    pub prior_gaps: f64,
    /// Buyers of the training window the fit used.
    pub buyers: u64,
    /// Mean log-likelihood per buyer at the solution (days; for comparing fits).
    pub log_likelihood: f64,
}

/// One customer's next purchase, as days after the snapshot `S`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Outlook {
    /// P(a purchase within 30 days).
    pub p_30d: f64,
    /// P(a purchase within 90 days).
    pub p_90d: f64,
    /// P(a purchase within the churn horizon): `1 - churn_probability` for the rhythm model.
    pub p_horizon: f64,
    /// P(a purchase within a year).
    pub p_365d: f64,
    /// The median day of the next purchase and its 80 % interval `[low, high]`, given a purchase
    /// within a year; `None` ("unlikely") when `p_365d < 0.5`.
    pub days: Option<NextDays>,
}

/// See [`Outlook::days`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct NextDays {
    /// The median, in days after `S`.
    pub median: f64,
    /// The 10th percentile.
    pub low: f64,
    /// The 90th percentile.
    pub high: f64,
}

/// `ln P(Z > z)` for a standard normal `Z`, accurate far into the upper tail (where `erfc`
/// underflows, the asymptotic series takes over).
fn ln_upper(z: f64) -> f64 {
    if z < 30.0 {
        (0.5 * erfc(z / std::f64::consts::SQRT_2)).ln()
    } else {
        let z2 = z * z;
        -0.5 * z2 - (z * (2.0 * std::f64::consts::PI).sqrt()).ln() + (1.0 - 1.0 / z2 + 3.0 / (z2 * z2)).ln()
    }
}

/// The `z` with `ln P(Z > z) = target` (`target <= 0`).
fn ln_upper_inverse(target: f64) -> f64 {
    if target >= 0.0 {
        return f64::NEG_INFINITY;
    }
    if target > -690.0 {
        return std::f64::consts::SQRT_2 * erfc_inv(2.0 * target.exp());
    }
    // Beyond f64's exponent range: Newton on the asymptotic tail, whose slope is about -z.
    let mut z = (-2.0 * target).sqrt();
    for _ in 0..50 {
        let step = (ln_upper(z) - target) / (z + 1.0 / z);
        z += step;
        if step.abs() < 1e-12 * z {
            break;
        }
    }
    z
}

/// One customer's rhythm: their log-normal gap and the days already waited.
struct Gap {
    mu: f64,
    sigma: f64,
    waited: f64,
    /// `ln P(G > waited)`.
    ln_survived: f64,
}

impl Gap {
    fn new(model: &RhythmModel, waited: f64, typical_gap: Option<f64>, frequency: f64) -> Self {
        Self::with(
            model.log_gap_mean,
            model.log_gap_sd,
            model.prior_gaps,
            waited,
            typical_gap,
            frequency,
        )
    }

    fn with(mu0: f64, sigma: f64, kappa: f64, waited: f64, typical_gap: Option<f64>, frequency: f64) -> Self {
        let mu = match typical_gap {
            Some(m) if m > 0.0 => {
                let k = (frequency - 1.0).max(1.0);
                (k * m.ln() + kappa * mu0) / (k + kappa)
            }
            _ => mu0,
        };
        let waited = waited.max(0.0);
        let ln_survived = Self::ln_survival(mu, sigma, waited);
        Gap {
            mu,
            sigma,
            waited,
            ln_survived,
        }
    }

    fn ln_survival(mu: f64, sigma: f64, x: f64) -> f64 {
        if x <= 0.0 {
            0.0
        } else {
            ln_upper((x.ln() - mu) / sigma)
        }
    }

    /// `R(w)`: the share of the remaining gap distribution within `w` more days.
    fn within(&self, w: f64) -> f64 {
        -(Self::ln_survival(self.mu, self.sigma, self.waited + w) - self.ln_survived).exp_m1()
    }

    /// The `w` with `R(w) = share`.
    fn days_for(&self, share: f64) -> f64 {
        let target = self.ln_survived + (-share).ln_1p();
        let z = ln_upper_inverse(target);
        ((self.mu + self.sigma * z).exp() - self.waited).max(0.0)
    }
}

/// The smallest `R(H)` the ratio `R(w) / R(H)` is taken from; below it (a customer so far past
/// their rhythm that the remaining distribution is flat over years) time is spread evenly.
const FLAT: f64 = 1e-12;

impl RhythmModel {
    /// The outlook of one customer: `waited` days since the last purchase, their typical gap and
    /// order count, and the churn model's probability `p` of no purchase within `horizon_days`.
    pub fn outlook(&self, waited: f64, typical_gap: Option<f64>, frequency: f64, p: f64, horizon_days: f64) -> Outlook {
        let gap = Gap::new(self, waited, typical_gap, frequency);
        let r_horizon = gap.within(horizon_days);
        let share = |w: f64| {
            if w == horizon_days {
                // R(H) / R(H), without a second look at the tail (the 90-day chance is often H's).
                1.0
            } else if r_horizon < FLAT {
                w / horizon_days
            } else {
                gap.within(w) / r_horizon
            }
        };
        let ln_p = p.clamp(f64::MIN_POSITIVE, 1.0).ln();
        let chance = |w: f64| -(share(w) * ln_p).exp_m1();
        let p_365d = chance(NEXT_PURCHASE_WINDOW_DAYS);
        let days = (p_365d >= 0.5).then(|| {
            // The day by which a share q of the year's purchases has come: p^(R(t)/R(H)) = 1 - q P(year).
            let at = |q: f64| {
                let ratio = (-q * p_365d).ln_1p() / ln_p;
                if r_horizon < FLAT {
                    ratio * horizon_days
                } else {
                    gap.days_for(ratio * r_horizon)
                }
                .min(NEXT_PURCHASE_WINDOW_DAYS)
            };
            NextDays {
                median: at(0.5),
                low: at(0.1),
                high: at(0.9),
            }
        });
        Outlook {
            p_30d: chance(30.0),
            p_90d: chance(90.0),
            p_horizon: chance(horizon_days),
            p_365d,
            days,
        }
    }

    /// Fits `mu_0`, `sigma` and `kappa` by maximum likelihood (Nelder-Mead on `mu_0`, `ln sigma`,
    /// `ln kappa`) on the customers of the training snapshot who bought within the horizon: for
    /// each, `waited` days since the last purchase at `C`, the typical gap and frequency at `C`, the
    /// model's churn probability `p` at `C`, and `first` days from `C` to the first purchase in
    /// `[C, C + H)`. Their likelihood is the density of `first` given a purchase within `H`:
    /// `-ln p p^(R(t)/R(H)) R'(t) / (R(H) (1 - p))`.
    ///
    /// Returns `None` with fewer than [`RHYTHM_MIN_BUYERS`] buyers.
    pub fn fit(buyers: &[Buyer], horizon_days: f64) -> Result<Option<RhythmModel>> {
        if buyers.len() < RHYTHM_MIN_BUYERS {
            return Ok(None);
        }
        if let Some(b) = buyers.iter().find(|b| {
            !(b.waited.is_finite()
                && b.first.is_finite()
                && b.frequency.is_finite()
                && b.p.is_finite()
                && b.typical_gap.is_none_or(f64::is_finite))
        }) {
            return Err(Error::Degenerate(format!("a non-finite rhythm input: {b:?}")));
        }
        // An evenly spaced selection in the given (id) order: deterministic, and as representative
        // as a random one for a sample this size.
        let step = buyers.len().div_ceil(RHYTHM_FIT_SAMPLE).max(1);
        let sample: Vec<Buyer> = buyers.iter().step_by(step).copied().collect();
        let logs: Vec<f64> = sample.iter().filter_map(|b| b.typical_gap).map(f64::ln).collect();
        let mu0 = if logs.is_empty() {
            sample.iter().map(|b| (b.waited + b.first).max(1.0).ln()).sum::<f64>() / sample.len() as f64
        } else {
            logs.iter().sum::<f64>() / logs.len() as f64
        };
        let cost = Likelihood {
            buyers: &sample,
            horizon_days,
        };
        let start = [mu0, 0.0, 0.0];
        let simplex: Vec<Vec<f64>> = std::iter::once(start.to_vec())
            .chain((0..3).map(|i| {
                let mut v = start.to_vec();
                v[i] += 0.5;
                v
            }))
            .collect();
        let solver = NelderMead::new(simplex)
            .with_sd_tolerance(1e-9)
            .map_err(|e| Error::Degenerate(format!("rhythm fit: {e}")))?;
        let result = Executor::new(cost, solver)
            .configure(|state| state.max_iters(400))
            .run()
            .map_err(|e| Error::Degenerate(format!("rhythm fit: {e}")))?;
        let state = result.state();
        tracing::debug!(
            iterations = state.iter,
            buyers = sample.len(),
            "rhythm likelihood maximized"
        );
        let best = state
            .best_param
            .clone()
            .ok_or_else(|| Error::Degenerate("the rhythm fit found no parameters".into()))?;
        let value = state.best_cost;
        if !value.is_finite() || best.iter().any(|v| !v.is_finite()) {
            return Err(Error::Degenerate(format!(
                "the rhythm fit did not converge (mean log-likelihood {})",
                -value
            )));
        }
        Ok(Some(RhythmModel {
            log_gap_mean: best[0],
            log_gap_sd: best[1].exp(),
            prior_gaps: best[2].exp(),
            buyers: sample.len() as u64,
            log_likelihood: -value,
        }))
    }

    /// [`RhythmModel::fit`] on the customers of a training snapshot `frame` (as of `C`), with the
    /// churn `model` fitted there and `first[row]`, the days from `C` to each customer's first
    /// purchase in `[C, C + H)`. Customers who bought later than `H` days are not buyers. The
    /// evenly spaced selection of [`RHYTHM_FIT_SAMPLE`] buyers is made here, so that only they are
    /// scored by the model.
    pub fn fit_frame(
        model: &crate::ChurnModel,
        frame: &churn_core::FeatureFrame,
        first: &[Option<f64>],
    ) -> Result<Option<RhythmModel>> {
        if first.len() != frame.len() {
            return Err(Error::Degenerate(format!(
                "{} first purchases for {} customers",
                first.len(),
                frame.len()
            )));
        }
        let h = model.horizon_days as f64;
        let bought: Vec<usize> = (0..frame.len())
            .filter(|&row| first[row].is_some_and(|t| (0.0..h).contains(&t)))
            .collect();
        tracing::debug!(buyers = bought.len(), "rhythm buyers found");
        let step = bought.len().div_ceil(RHYTHM_FIT_SAMPLE).max(1);
        let rows: Vec<usize> = bought.into_iter().step_by(step).collect();
        let sample = frame.select_rows(&rows);
        let p = model.predict(&sample)?;
        let recency = sample.required("recency_days")?;
        let frequency = sample.required("frequency")?;
        let typical_gap = sample.numeric("typical_gap_days");
        let buyers: Vec<Buyer> = rows
            .iter()
            .enumerate()
            .filter_map(|(i, &row)| {
                Some(Buyer {
                    waited: recency[i],
                    typical_gap: typical_gap.and_then(|g| g.get(i)),
                    frequency: frequency[i],
                    p: p[i],
                    first: first[row]?,
                })
            })
            .collect();
        Self::fit(&buyers, h)
    }

    /// Checks the parameters of a model read from a file.
    pub fn check(&self) -> std::result::Result<(), String> {
        if self.log_gap_mean.is_finite()
            && self.log_gap_sd.is_finite()
            && self.log_gap_sd > 0.0
            && self.prior_gaps.is_finite()
            && self.prior_gaps >= 0.0
        {
            Ok(())
        } else {
            Err(format!("the rhythm's parameters are out of range: {self:?}"))
        }
    }
}

/// A customer of the training snapshot who bought within the horizon (see [`RhythmModel::fit`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Buyer {
    /// Days since the last purchase at `C` (`recency_days`).
    pub waited: f64,
    /// `typical_gap_days` at `C`.
    pub typical_gap: Option<f64>,
    /// `frequency` at `C`.
    pub frequency: f64,
    /// The model's churn probability at `C`.
    pub p: f64,
    /// Days from `C` to the first purchase in `[C, C + H)`.
    pub first: f64,
}

/// The negative mean log-likelihood of [`RhythmModel::fit`].
struct Likelihood<'a> {
    buyers: &'a [Buyer],
    horizon_days: f64,
}

impl Likelihood<'_> {
    /// The mean over the buyers, summed in [`LIKELIHOOD_CHUNKS`] fixed parts on as many threads and
    /// added in order: the same bits on any machine, in half the time on two cores.
    fn mean_log_likelihood(&self, mu0: f64, sigma: f64, kappa: f64) -> f64 {
        let chunk = self.buyers.len().div_ceil(LIKELIHOOD_CHUNKS).max(1);
        let parts: Vec<f64> = std::thread::scope(|scope| {
            let handles: Vec<_> = self
                .buyers
                .chunks(chunk)
                .map(|part| scope.spawn(move || self.sum_log_likelihood(part, mu0, sigma, kappa)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
                .collect()
        });
        parts.into_iter().sum::<f64>() / self.buyers.len() as f64
    }

    fn sum_log_likelihood(&self, buyers: &[Buyer], mu0: f64, sigma: f64, kappa: f64) -> f64 {
        let h = self.horizon_days;
        let ln_root_two_pi = 0.5 * (2.0 * std::f64::consts::PI).ln();
        let mut total = 0.0;
        for b in buyers {
            let gap = Gap::with(mu0, sigma, kappa, b.waited, b.typical_gap, b.frequency);
            let ln_p = b.p.clamp(f64::MIN_POSITIVE, 1.0 - 1e-12).ln();
            let r_horizon = gap.within(h);
            let x = (gap.waited + b.first).max(1e-9);
            // ln of the density of the first purchase at `first`, given one within H.
            let ln_density = if r_horizon < FLAT {
                b.first / h * ln_p - h.ln()
            } else {
                let z = (x.ln() - gap.mu) / sigma;
                let ln_gap_density = -0.5 * z * z - (sigma * x).ln() - ln_root_two_pi;
                gap.within(b.first) / r_horizon * ln_p + ln_gap_density - gap.ln_survived - r_horizon.ln()
            };
            // The constant ln(-ln p) - ln(1 - p) is left out: it does not depend on the parameters.
            total += ln_density;
        }
        total
    }
}

impl CostFunction for Likelihood<'_> {
    type Param = Vec<f64>;
    type Output = f64;

    fn cost(&self, param: &Self::Param) -> std::result::Result<f64, argmin::core::Error> {
        let (mu0, sigma, kappa) = (param[0], param[1].exp(), param[2].exp());
        let value = -self.mean_log_likelihood(mu0, sigma, kappa);
        // Nelder-Mead compares costs: a non-finite one (an overflowing corner) is the worst.
        Ok(if value.is_finite() { value } else { f64::MAX })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand08::{Rng, SeedableRng};
    use rand_xoshiro::Xoshiro256Plus;

    fn model(mu0: f64, sigma: f64, kappa: f64) -> RhythmModel {
        RhythmModel {
            log_gap_mean: mu0,
            log_gap_sd: sigma,
            prior_gaps: kappa,
            buyers: 0,
            log_likelihood: 0.0,
        }
    }

    #[test]
    fn the_normal_tail_is_accurate_and_invertible() {
        // P(Z > 0) = 1/2, P(Z > 1.959963984540054) = 0.025, and far out the asymptotic series.
        assert!((ln_upper(0.0) - 0.5f64.ln()).abs() < 1e-15);
        assert!((ln_upper(1.959963984540054) - 0.025f64.ln()).abs() < 1e-9);
        // ln P(Z > 40) = -804.608442013754 (Mills' ratio series).
        assert!((ln_upper(40.0) + 804.608442013754).abs() < 1e-6, "{}", ln_upper(40.0));
        // Continuous across the switch at 30.
        assert!((ln_upper(30.0 - 1e-9) - ln_upper(30.0)).abs() < 1e-6);
        for z in [-3.0, -0.5, 0.0, 0.7, 2.5, 8.0, 25.0, 35.0, 60.0] {
            let back = ln_upper_inverse(ln_upper(z));
            assert!((back - z).abs() < 1e-6 * z.abs().max(1.0), "{z} -> {back}");
        }
    }

    #[test]
    fn the_horizon_chance_is_the_churn_models() {
        let m = model(3.0, 0.8, 2.0);
        for (waited, gap, freq, p) in [
            (5.0, Some(20.0), 6.0, 0.2),
            (200.0, Some(9.0), 30.0, 0.9),
            (40.0, None, 1.0, 0.5),
            (1.0, Some(365.0), 2.0, 0.01),
        ] {
            let o = m.outlook(waited, gap, freq, p, 91.0);
            assert!((o.p_horizon - (1.0 - p)).abs() < 1e-12, "{o:?}");
            assert!(o.p_30d <= o.p_90d && o.p_90d <= o.p_365d && o.p_365d < 1.0, "{o:?}");
            assert!(o.p_30d > 0.0);
            match o.days {
                Some(d) => {
                    assert!(o.p_365d >= 0.5);
                    assert!(
                        0.0 <= d.low && d.low < d.median && d.median < d.high && d.high <= 365.0,
                        "{d:?}"
                    );
                }
                None => assert!(o.p_365d < 0.5),
            }
        }
    }

    #[test]
    fn an_outlook_matches_a_hand_computation() {
        // mu_0 = ln 30, sigma = 1, kappa = 1; typical gap 10 days over 3 orders (k = 2): mu = (2 ln 10
        // + ln 30) / 3. Waited 5 days, p = 0.3, H = 90.
        let m = model(30f64.ln(), 1.0, 1.0);
        let o = m.outlook(5.0, Some(10.0), 3.0, 0.3, 90.0);
        let mu = (2.0 * 10f64.ln() + 30f64.ln()) / 3.0;
        let survival = |x: f64| 0.5 * erfc((x.ln() - mu) / std::f64::consts::SQRT_2);
        let r = |w: f64| 1.0 - survival(5.0 + w) / survival(5.0);
        let p30 = 1.0 - 0.3f64.powf(r(30.0) / r(90.0));
        assert!((o.p_30d - p30).abs() < 1e-12, "{} vs {p30}", o.p_30d);
        let p365 = 1.0 - 0.3f64.powf(r(365.0) / r(90.0));
        assert!((o.p_365d - p365).abs() < 1e-12);
        // The median: the day t where P(t) = P(year) / 2, found by bisection.
        let (mut lo, mut hi) = (0.0, 365.0);
        for _ in 0..200 {
            let mid = 0.5 * (lo + hi);
            if 1.0 - 0.3f64.powf(r(mid) / r(90.0)) < 0.5 * p365 {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        let median = o.days.expect("likely").median;
        assert!((median - lo).abs() < 1e-5, "{median} vs {lo}");
    }

    #[test]
    fn a_long_overdue_customer_is_unlikely_and_stays_finite() {
        let m = model(2.0, 0.5, 1.0);
        // Typical gap 7 days, gone 5,000 days, the churn model nearly sure: no date.
        let o = m.outlook(5000.0, Some(7.0), 40.0, 0.999, 90.0);
        assert!(o.days.is_none() && o.p_365d < 0.5 && o.p_365d.is_finite(), "{o:?}");
        // The same customer, the model unsure: time is spread evenly (the flat tail), still finite.
        let o = m.outlook(5000.0, Some(7.0), 40.0, 0.05, 90.0);
        assert!(o.p_365d.is_finite() && o.p_30d > 0.0, "{o:?}");
        let d = o.days.expect("likely");
        assert!(d.low < d.median && d.median < d.high, "{d:?}");
    }

    proptest::proptest! {
        /// Whatever the parameters and the customer, every figure is finite, the chances grow
        /// with the window, the horizon's is the model's, and a date comes with an ordered interval.
        #[test]
        fn outlooks_are_finite_ordered_and_keep_the_models_horizon(
            mu0 in 0.0f64..7.0,
            sigma in 0.05f64..4.0,
            kappa in 0.0f64..100.0,
            waited in 0.0f64..20_000.0,
            gap in proptest::option::of(1.0f64..2_000.0),
            frequency in 1.0f64..500.0,
            p in 1e-6f64..(1.0 - 1e-6),
            horizon in 1.0f64..730.0,
        ) {
            let o = model(mu0, sigma, kappa).outlook(waited, gap, frequency, p, horizon);
            let chances = [o.p_30d, o.p_90d, o.p_horizon, o.p_365d];
            proptest::prop_assert!(chances.iter().all(|c| c.is_finite() && (0.0..=1.0).contains(c)), "{:?}", o);
            proptest::prop_assert!(o.p_30d <= o.p_90d + 1e-12 && o.p_90d <= o.p_365d + 1e-12, "{:?}", o);
            proptest::prop_assert!((o.p_horizon - (1.0 - p)).abs() < 1e-12, "{:?}", o);
            match o.days {
                Some(d) => {
                    proptest::prop_assert!(o.p_365d >= 0.5);
                    proptest::prop_assert!(
                        [d.low, d.median, d.high].iter().all(|x| x.is_finite()),
                        "{:?}", o
                    );
                    proptest::prop_assert!(
                        0.0 <= d.low && d.low <= d.median && d.median <= d.high && d.high <= 365.0,
                        "{:?}", o
                    );
                }
                None => proptest::prop_assert!(o.p_365d < 0.5),
            }
        }
    }

    /// Customers drawn from the model itself: the fit finds the parameters they were drawn with.
    #[test]
    fn the_fit_recovers_the_parameters_of_simulated_customers() -> Result<()> {
        let (mu0, sigma, kappa, h) = (3.0_f64, 0.6_f64, 2.0_f64, 90.0);
        let mut rng = Xoshiro256Plus::seed_from_u64(7);
        let normal = |rng: &mut Xoshiro256Plus| {
            // Box-Muller: two uniforms into one standard normal.
            let (u, v): (f64, f64) = (rng.gen_range(1e-12..1.0), rng.gen_range(0.0..1.0));
            (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
        };
        let truth = model(mu0, sigma, kappa);
        let mut buyers = Vec::new();
        while buyers.len() < 6000 {
            // The customer's own centre, and k observed gaps around it; the median as typical gap.
            let k = rng.gen_range(1..8usize);
            let centre = mu0 + sigma / kappa.sqrt() * normal(&mut rng);
            let mut gaps: Vec<f64> = (0..k).map(|_| (centre + sigma * normal(&mut rng)).exp()).collect();
            gaps.sort_by(f64::total_cmp);
            let typical = if k % 2 == 1 {
                gaps[k / 2]
            } else {
                0.5 * (gaps[k / 2 - 1] + gaps[k / 2])
            };
            let waited = rng.gen_range(0.0..120.0);
            let p: f64 = rng.gen_range(0.05..0.95);
            // Draw the first purchase from P(t) = 1 - p^(R(t)/R(H)) by inversion.
            let o = Gap::new(&truth, waited, Some(typical), (k + 1) as f64);
            let u: f64 = rng.gen_range(0.0..1.0);
            if u >= 1.0 - p {
                continue;
            }
            let r_h = o.within(h);
            if r_h < FLAT {
                continue;
            }
            let first = o.days_for((1.0 - u).ln() / p.ln() * r_h);
            buyers.push(Buyer {
                waited,
                typical_gap: Some(typical),
                frequency: (k + 1) as f64,
                p,
                first,
            });
        }
        let fit = RhythmModel::fit(&buyers, h)?.expect("enough buyers");
        // mu_0 weighs kappa / (k + kappa), about a third here, so it is the least determined.
        assert!((fit.log_gap_mean - mu0).abs() < 0.15, "{fit:?}");
        assert!((fit.log_gap_sd - sigma).abs() < 0.05, "{fit:?}");
        assert!(fit.prior_gaps > 1.0 && fit.prior_gaps < 4.0, "{fit:?}");
        // The optimum is at least as likely as the truth.
        let at_truth = Likelihood {
            buyers: &buyers,
            horizon_days: h,
        }
        .mean_log_likelihood(mu0, sigma, kappa);
        assert!(fit.log_likelihood >= at_truth - 1e-9, "{fit:?} vs {at_truth}");
        assert!(RhythmModel::fit(&buyers[..10], h)?.is_none());
        Ok(())
    }
}
