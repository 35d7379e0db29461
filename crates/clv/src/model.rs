//! The lifetime-value model: BG/NBD and Gamma-Gamma fitted on one calibration window, its saved
//! form, and the per-customer predictions (P(alive), expected purchases, expected spend, CLV).

use chrono::NaiveDate;
use churn_core::{parse_artifact, SealPolicy};
use serde::{Deserialize, Serialize};

use crate::bgnbd::{collapse, BgNbd, Summary};
use crate::error::{Error, Result};
use crate::gamma_gamma::{GammaGamma, Spend};

/// The `format` field of a saved lifetime-value model.
pub const CLV_FORMAT: &str = "churn-clv";
/// The file version this build writes and reads.
pub const CLV_VERSION: u32 = 1;
/// Days in a year for discounting: the Gregorian average, so that a horizon in days is discounted
/// by its exact length and no month is assumed to have 30 days.
pub const DAYS_PER_YEAR: f64 = 365.2425;
/// Discounting step in days: expected purchases are accumulated over steps of two weeks (the last
/// one shorter) and each step is discounted at its midpoint. The discount factor changes by under
/// 0.4 % over a step at 10 % a year, so against daily steps the difference is below 5e-5 of the
/// value (tested; 3.4e-5 at most in the cases tried), at a 14th of the cost.
pub const DISCOUNT_STEP_DAYS: f64 = 14.0;

/// The time unit of the model's `x`, `t_x` and `T` (and of `alpha`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TimeUnit {
    /// Days.
    Day,
    /// Weeks of 7 days.
    Week,
}

impl TimeUnit {
    /// The unit's length in days.
    pub fn days(self) -> f64 {
        match self {
            TimeUnit::Day => 1.0,
            TimeUnit::Week => 7.0,
        }
    }

    /// `day` or `week`.
    pub fn name(self) -> &'static str {
        match self {
            TimeUnit::Day => "day",
            TimeUnit::Week => "week",
        }
    }
}

impl std::str::FromStr for TimeUnit {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "day" | "days" => Ok(TimeUnit::Day),
            "week" | "weeks" => Ok(TimeUnit::Week),
            other => Err(format!("unknown time unit {other:?}; use day or week")),
        }
    }
}

/// One customer's calibration history, in days: what `churn_features::purchase_history` gives.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct History {
    /// Transactions (at least 1).
    pub transactions: u64,
    /// Day of the first purchase (any day count, e.g. days since 1970-01-01).
    pub first_day: i64,
    /// Day of the last transaction, on the same count.
    pub last_day: i64,
    /// Mean value of the repeat transactions; `None` without repeat transactions.
    pub mean_repeat_value: Option<f64>,
}

/// How a model is fitted and what it predicts.
#[derive(Debug, Clone, PartialEq)]
pub struct ClvSettings {
    /// Last day of the calibration window (inclusive), on the same day count as the histories.
    pub calibration_end_day: i64,
    /// The calibration end as a date, for the artifact.
    pub calibration_end: NaiveDate,
    /// Time unit of the model.
    pub time_unit: TimeUnit,
    /// Purchases within this many days (a Monday-aligned period) were merged into one transaction.
    pub period_days: u32,
    /// The CLV horizon in days.
    pub horizon_days: u32,
    /// Annual discount rate, e.g. 0.1 for 10 %.
    pub annual_discount_rate: f64,
}

impl ClvSettings {
    /// Checks every rule on the settings.
    pub fn check(&self) -> Result<()> {
        if self.horizon_days == 0 {
            return Err(Error::Degenerate("the CLV horizon must be at least 1 day".into()));
        }
        if !(self.annual_discount_rate.is_finite() && (0.0..=10.0).contains(&self.annual_discount_rate)) {
            return Err(Error::Degenerate(format!(
                "the annual discount rate must be between 0 and 10 (1000 %), got {}",
                self.annual_discount_rate
            )));
        }
        if self.period_days == 0 {
            return Err(Error::Degenerate("the merge period must be at least 1 day".into()));
        }
        Ok(())
    }

    /// A history as BG/NBD statistics in the model's time unit: `x` repeat transactions, `t_x`
    /// from the first to the last transaction, `T` from the first purchase to the calibration end.
    pub fn summary(&self, h: &History) -> Summary {
        let unit = self.time_unit.days();
        Summary::new(
            h.transactions.saturating_sub(1) as f64,
            (h.last_day - h.first_day) as f64 / unit,
            (self.calibration_end_day - h.first_day) as f64 / unit,
        )
    }
}

/// Counts of the data a model was fitted on.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FitData {
    /// Customers (BG/NBD rows).
    pub customers: u64,
    /// Distinct `(x, t_x, T)` after collapsing.
    pub distinct_summaries: u64,
    /// Repeat buyers with positive mean repeat spend (Gamma-Gamma rows).
    pub repeat_buyers: u64,
    /// Repeat buyers left out of Gamma-Gamma because their repeat transactions were worth 0.
    pub repeat_buyers_without_spend: u64,
    /// Pearson correlation of repeat transactions and mean repeat spend over the Gamma-Gamma rows.
    /// Gamma-Gamma assumes spend does not depend on frequency; a value far from 0 (say beyond
    /// +-0.3) says the assumption is doubtful for this data.
    pub frequency_spend_correlation: f64,
}

/// A fitted lifetime-value model, saved as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClvModel {
    /// Always [`CLV_FORMAT`].
    pub format: String,
    /// The file version, [`CLV_VERSION`].
    pub version: u32,
    /// The version of `churn` that fitted it.
    pub tool_version: String,
    /// The purchase model.
    pub bgnbd: BgNbd,
    /// The spend model.
    pub gamma_gamma: GammaGamma,
    /// Time unit of the BG/NBD parameters (`alpha` is in this unit).
    pub time_unit: TimeUnit,
    /// Purchases within this many days were one transaction.
    pub period_days: u32,
    /// First purchase day of the calibration data.
    pub calibration_start: NaiveDate,
    /// Last day of the calibration window (inclusive).
    pub calibration_end: NaiveDate,
    /// The CLV horizon in days.
    pub horizon_days: u32,
    /// The annual discount rate.
    pub annual_discount_rate: f64,
    /// What the model was fitted on.
    pub data: FitData,
    /// Fingerprint of the input the histories came from.
    pub fingerprint: String,
}

/// One customer's predictions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prediction {
    /// P(alive) at the end of calibration.
    pub p_alive: f64,
    /// Expected transactions in the horizon.
    pub expected_purchases: f64,
    /// P(no purchase in the horizon).
    pub p_no_purchase: f64,
    /// Expected value of one transaction.
    pub expected_spend: f64,
    /// Discounted expected value over the horizon.
    pub clv: f64,
    /// P(a purchase within 30 days of the end of calibration).
    pub p_purchase_30d: f64,
    /// P(a purchase within 90 days).
    pub p_purchase_90d: f64,
    /// The next purchase within a year of the end of calibration, in days (see
    /// [`crate::BgNbd::next_purchase`]).
    pub next: crate::NextPurchase,
}

/// The window the next purchase is predicted in, in days: a customer unlikely to buy within a year
/// is "unlikely", whatever the horizon.
pub const NEXT_PURCHASE_WINDOW_DAYS: f64 = 365.0;

/// Weighted Pearson correlation; 0 when either side is constant.
fn correlation(rows: &[Spend]) -> f64 {
    let w: f64 = rows.iter().map(|r| r.weight).sum();
    let mx = rows.iter().map(|r| r.weight * r.x).sum::<f64>() / w;
    let my = rows.iter().map(|r| r.weight * r.mean_spend).sum::<f64>() / w;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for r in rows {
        let (dx, dy) = (r.x - mx, r.mean_spend - my);
        sxy += r.weight * dx * dy;
        sxx += r.weight * dx * dx;
        syy += r.weight * dy * dy;
    }
    if sxx > 0.0 && syy > 0.0 {
        sxy / (sxx * syy).sqrt()
    } else {
        0.0
    }
}

impl ClvModel {
    /// Fits BG/NBD on every history and Gamma-Gamma on the repeat buyers with positive spend.
    pub fn fit(histories: &[History], settings: &ClvSettings, fingerprint: &str) -> Result<ClvModel> {
        settings.check()?;
        let first_day = histories
            .iter()
            .map(|h| h.first_day)
            .min()
            .ok_or_else(|| Error::Degenerate("no customers in the calibration window".into()))?;
        let mut summaries = Vec::with_capacity(histories.len());
        let mut spends = Vec::new();
        let mut without_spend = 0;
        for (row, h) in histories.iter().enumerate() {
            if h.transactions == 0 || h.last_day < h.first_day || h.last_day > settings.calibration_end_day {
                return Err(Error::BadSummary {
                    row,
                    reason: format!(
                        "{} transactions from day {} to day {} do not fit a calibration window ending on day {}",
                        h.transactions, h.first_day, h.last_day, settings.calibration_end_day
                    ),
                });
            }
            let summary = settings.summary(h);
            summaries.push(summary);
            if summary.x > 0.0 {
                match h.mean_repeat_value {
                    Some(v) if v.is_finite() && v > 0.0 => spends.push(Spend::new(summary.x, v)),
                    _ => without_spend += 1,
                }
            }
        }
        let collapsed = collapse(&summaries);
        let bgnbd = BgNbd::fit(&collapsed)?;
        let gamma_gamma = GammaGamma::fit(&spends)?;
        // Expected spend p gamma / (q - 1) is finite only for q > 1.
        if gamma_gamma.q <= 1.0 {
            return Err(Error::Degenerate(format!(
                "the Gamma-Gamma fit has q = {:.3} <= 1, so the expected spend is infinite; the spend data \
                 has too heavy a tail for this model",
                gamma_gamma.q
            )));
        }
        let calibration_start = settings
            .calibration_end
            .checked_sub_signed(chrono::Duration::days(settings.calibration_end_day - first_day))
            .ok_or_else(|| Error::Degenerate("the first purchase date is out of range".into()))?;
        Ok(ClvModel {
            format: CLV_FORMAT.into(),
            version: CLV_VERSION,
            tool_version: env!("CARGO_PKG_VERSION").into(),
            bgnbd,
            gamma_gamma,
            time_unit: settings.time_unit,
            period_days: settings.period_days,
            calibration_start,
            calibration_end: settings.calibration_end,
            horizon_days: settings.horizon_days,
            annual_discount_rate: settings.annual_discount_rate,
            data: FitData {
                customers: histories.len() as u64,
                distinct_summaries: collapsed.len() as u64,
                repeat_buyers: spends.len() as u64,
                repeat_buyers_without_spend: without_spend,
                frequency_spend_correlation: correlation(&spends),
            },
            fingerprint: fingerprint.into(),
        })
    }

    /// The settings this model was fitted with, for predicting as of its calibration end.
    pub fn settings(&self, calibration_end_day: i64) -> ClvSettings {
        ClvSettings {
            calibration_end_day,
            calibration_end: self.calibration_end,
            time_unit: self.time_unit,
            period_days: self.period_days,
            horizon_days: self.horizon_days,
            annual_discount_rate: self.annual_discount_rate,
        }
    }

    /// Predictions for one customer, with statistics taken at `settings.calibration_end_day`.
    pub fn predict(&self, h: &History, settings: &ClvSettings) -> Prediction {
        let s = settings.summary(h);
        let unit = self.time_unit.days();
        let horizon = f64::from(settings.horizon_days) / unit;
        let bg = &self.bgnbd;
        let expected_spend = self
            .gamma_gamma
            .expected_spend(s.x, h.mean_repeat_value.filter(|v| *v > 0.0).unwrap_or(0.0));
        let (discounted, expected_purchases) = discounted_with_step(
            bg,
            &s,
            f64::from(settings.horizon_days),
            unit,
            settings.annual_discount_rate,
            DISCOUNT_STEP_DAYS,
        );
        let p_alive = bg.p_alive(&s);
        let next = bg.next_purchase(&s, NEXT_PURCHASE_WINDOW_DAYS / unit);
        Prediction {
            p_alive,
            expected_purchases,
            p_no_purchase: bg.p_no_purchase_given(&s, horizon, p_alive),
            expected_spend,
            clv: expected_spend * discounted,
            p_purchase_30d: 1.0 - bg.p_no_purchase_given(&s, 30.0 / unit, p_alive),
            p_purchase_90d: 1.0 - bg.p_no_purchase_given(&s, 90.0 / unit, p_alive),
            // In days, like every other duration a person reads.
            next: crate::NextPurchase {
                p_within: next.p_within,
                median: next.median * unit,
                low: next.low * unit,
                high: next.high * unit,
            },
        }
    }

    /// Pretty JSON.
    pub fn to_json(&self) -> Result<String> {
        churn_core::artifact_json(self).map_err(Error::BadModel)
    }

    /// Reads a model written by [`ClvModel::to_json`], checking its checksum (required) and its
    /// invariants.
    pub fn from_json(text: &str) -> Result<Self> {
        Self::from_json_with(text, SealPolicy::Required)
    }

    /// [`ClvModel::from_json`], with a choice about files that carry no checksum.
    pub fn from_json_with(text: &str, seal: SealPolicy) -> Result<Self> {
        let bad = |reason: String| Error::BadModel(reason);
        let model: ClvModel = parse_artifact(
            text,
            CLV_FORMAT,
            CLV_VERSION,
            "a lifetime-value model written by `churn clv`",
            seal,
        )
        .map_err(bad)?;
        let bg = &model.bgnbd;
        let gg = &model.gamma_gamma;
        let positive = [bg.r, bg.alpha, bg.a, bg.b, gg.p, gg.q, gg.gamma];
        if !positive.iter().all(|v| v.is_finite() && *v > 0.0) || gg.q <= 1.0 {
            return Err(bad(format!(
                "parameters must be finite and positive (and q > 1): {positive:?}"
            )));
        }
        let settings = model.settings(0);
        settings.check().map_err(|e| bad(e.to_string()))?;
        Ok(model)
    }
}

/// Expected transactions in the next `horizon_days`, each discounted to the calibration end at
/// `annual_rate`: the horizon is cut into steps of [`DISCOUNT_STEP_DAYS`] and the expected
/// purchases of a step are discounted at its midpoint, `(1 + rate)^-(days / 365.2425)`.
pub fn discounted_transactions(bg: &BgNbd, s: &Summary, horizon_days: f64, unit_days: f64, annual_rate: f64) -> f64 {
    discounted_with_step(bg, s, horizon_days, unit_days, annual_rate, DISCOUNT_STEP_DAYS).0
}

/// The discounted expected transactions over the horizon in steps of `step` days, and the
/// undiscounted expected transactions (the last step's cumulative count, computed on the way).
fn discounted_with_step(
    bg: &BgNbd,
    s: &Summary,
    horizon_days: f64,
    unit_days: f64,
    rate: f64,
    step: f64,
) -> (f64, f64) {
    if rate == 0.0 {
        let expected = bg.expected_transactions(s, horizon_days / unit_days);
        return (expected, expected);
    }
    let ln_factor = (1.0 + rate).ln() / DAYS_PER_YEAR;
    let (mut total, mut before, mut start) = (0.0, 0.0, 0.0);
    while start < horizon_days {
        let end = (start + step).min(horizon_days);
        let cumulative = bg.expected_transactions(s, end / unit_days);
        total += (cumulative - before) * (-ln_factor * 0.5 * (start + end)).exp();
        before = cumulative;
        start = end;
    }
    (total, before)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> BgNbd {
        BgNbd::new(0.243, 4.414, 0.793, 2.426)
    }

    #[test]
    fn two_weekly_discounting_agrees_with_daily_discounting() {
        for s in [
            Summary::new(2.0, 30.43, 38.86),
            Summary::new(0.0, 0.0, 2.0),
            Summary::new(9.0, 5.0, 5.5),
        ] {
            for horizon in [30.0, 365.0, 1000.0] {
                let stepped = discounted_transactions(&model(), &s, horizon, 7.0, 0.1);
                let (daily, expected) = discounted_with_step(&model(), &s, horizon, 7.0, 0.1, 1.0);
                // The last cumulative count is the undiscounted expectation over the horizon.
                assert!((expected - model().expected_transactions(&s, horizon / 7.0)).abs() < 1e-12);
                assert!(
                    (stepped - daily).abs() < 5e-5 * daily,
                    "{horizon}: {stepped} vs {daily}"
                );
            }
        }
    }

    #[test]
    fn no_discount_is_the_expected_count_and_a_discount_lowers_it() {
        let s = Summary::new(2.0, 30.43, 38.86);
        let plain = model().expected_transactions(&s, 365.0 / 7.0);
        assert_eq!(discounted_transactions(&model(), &s, 365.0, 7.0, 0.0), plain);
        let discounted = discounted_transactions(&model(), &s, 365.0, 7.0, 0.1);
        // Purchases spread over a year discounted at 10 %: about half a year of discount.
        assert!(
            discounted < plain && discounted > plain / 1.1,
            "{discounted} vs {plain}"
        );
        // A flat purchase stream would be discounted by (1 - 1.1^-1) / ln 1.1 = 0.9538; purchases
        // slow down over the year (customers drop out), so the factor is a bit above that.
        let factor = discounted / plain;
        assert!(factor > 0.9538 && factor < 0.97, "{factor}");
    }

    #[test]
    fn p_no_purchase_matches_a_numerical_integral_over_the_posterior() {
        // Independent computation: integrate P(no purchase in (T, T + t]) over the posterior of the
        // purchase rate lambda and the dropout probability p, by quadrature on a grid.
        let (r, alpha, a, b) = (0.8, 5.0, 0.9, 2.5);
        let bg = BgNbd::new(r, alpha, a, b);
        let s = Summary::new(3.0, 20.0, 35.0);
        let t = 26.0;
        let (mut silent, mut alive_mass, mut total) = (0.0, 0.0, 0.0);
        let (nl, np) = (4000, 400);
        for i in 0..nl {
            let lambda = (i as f64 + 0.5) * 2.0 / nl as f64;
            let prior_l = lambda.powf(r - 1.0) * (-alpha * lambda).exp();
            for j in 0..np {
                let p = (j as f64 + 0.5) / np as f64;
                let prior_p = p.powf(a - 1.0) * (1.0 - p).powf(b - 1.0);
                let x = s.x;
                let alive = lambda.powf(x) * (-lambda * s.t).exp() * (1.0 - p).powf(x);
                let dead = lambda.powf(x) * (-lambda * s.t_x).exp() * p * (1.0 - p).powf(x - 1.0);
                let weight = prior_l * prior_p;
                total += weight * (alive + dead);
                silent += weight * (alive * (-lambda * t).exp() + dead);
                alive_mass += weight * alive;
            }
        }
        let numeric = silent / total;
        let closed = bg.p_no_purchase(&s, t);
        assert!((numeric - closed).abs() < 2e-3, "{numeric} vs {closed}");
        // The same integral gives P(alive).
        let numeric_alive = alive_mass / total;
        assert!(
            (numeric_alive - bg.p_alive(&s)).abs() < 2e-3,
            "{numeric_alive} vs {}",
            bg.p_alive(&s)
        );
    }

    #[test]
    fn correlation_is_pearson() {
        let rows = [Spend::new(1.0, 10.0), Spend::new(2.0, 20.0), Spend::new(3.0, 30.0)];
        assert!((correlation(&rows) - 1.0).abs() < 1e-12);
        let flat = [Spend::new(1.0, 10.0), Spend::new(2.0, 10.0)];
        assert_eq!(correlation(&flat), 0.0);
    }
}
