//! Lifetime values for a run: purchase histories read before a date, the BG/NBD + Gamma-Gamma fit
//! (or a saved model), and every customer's predictions.

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use chrono::NaiveDate;
use churn_clv::{churn_inputs, ClvModel, ClvSettings, History, Prediction, ValidClvParams};
use churn_core::format::count;
use churn_core::{Column, FeatureFrame, Table};
use churn_features::{purchase_history, FeatureParams, InputSpec, PurchaseHistory};
use churn_score::{NextDays, Outlook};

use crate::error::{io_error, Context, Error, Result};

/// Day number (days since 1970-01-01) of a date, the day count of purchase histories (and of
/// Parquet's dates).
pub(crate) fn day_number(date: NaiveDate) -> i64 {
    date.signed_duration_since(NaiveDate::default()).num_days()
}

/// Where the time of a lifetime-value computation went.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ClvTimings {
    /// Reading the purchase histories.
    pub read_seconds: f64,
    /// Fitting both models (0 when a saved model was used).
    pub fit_seconds: f64,
    /// Predicting every customer.
    pub predict_seconds: f64,
}

/// A fitted (or loaded) model with its predictions for every customer of the calibration window.
#[derive(Debug)]
pub struct ClvRun {
    /// The model.
    pub model: ClvModel,
    /// The histories it was fitted on (or predicted for), sorted by customer id.
    pub history: PurchaseHistory,
    /// One prediction per customer of `history`, in its order.
    pub predictions: Vec<Prediction>,
    /// The settings of the fit.
    pub settings: ClvSettings,
    /// Whether the model was fitted here (else loaded).
    pub fitted: bool,
    /// Where the time went.
    pub timings: ClvTimings,
}

impl ClvRun {
    /// Each customer's CLV in the row order of `ids`.
    pub fn values_for(&self, ids: &[String]) -> Result<Vec<f64>> {
        self.lookup(ids, |p| p.clv)
    }

    /// One prediction per row of `ids`. Every customer of a snapshot has a purchase before it (one
    /// whose rows are all returns is not in the snapshot), so a missing one is an error.
    fn lookup<T: Copy>(&self, ids: &[String], value: impl Fn(&Prediction) -> T) -> Result<Vec<T>> {
        let customers = self.history.customers.iter().map(|c| c.customer_id.as_str());
        values_by_id(
            customers.zip(self.predictions.iter().map(value)),
            ids,
            "the lifetime values fitted on the same rows",
        )
    }

    /// Each customer's next purchase from the BG/NBD posterior, in the row order of `ids`, with the
    /// chance of a purchase within the churn horizon `horizon_days` (which may differ from the
    /// lifetime value's).
    pub fn outlooks_for(&self, ids: &[String], horizon_days: i64) -> Result<Vec<Outlook>> {
        let unit = self.model.time_unit.days();
        let bg = &self.model.bgnbd;
        let outlooks: Vec<Outlook> = histories(&self.history)
            .iter()
            .zip(&self.predictions)
            .map(|(h, p)| {
                let summary = self.settings.summary(h);
                let silent = bg.p_no_purchase(&summary, horizon_days as f64 / unit);
                Outlook {
                    p_30d: p.p_purchase_30d,
                    p_90d: p.p_purchase_90d,
                    p_horizon: 1.0 - silent,
                    p_365d: p.next.p_within,
                    days: (p.next.p_within >= 0.5).then_some(NextDays {
                        median: p.next.median,
                        low: p.next.low,
                        high: p.next.high,
                    }),
                }
            })
            .collect();
        let customers = self.history.customers.iter().map(|c| c.customer_id.as_str());
        values_by_id(
            customers.zip(outlooks),
            ids,
            "the lifetime values fitted on the same rows",
        )
    }

    /// `frame` with the churn-model inputs of [`churn_inputs`].
    pub fn with_churn_features(&self, frame: FeatureFrame) -> Result<FeatureFrame> {
        let [p_alive, expected] = churn_inputs::columns(self.settings.horizon_days);
        let p = self.lookup(frame.ids(), |p| p.p_alive)?;
        let e = self.lookup(frame.ids(), |p| p.expected_purchases)?;
        Ok(frame
            .with_numeric(&p_alive, p.into_iter().map(Some).collect())?
            .with_numeric(&expected, e.into_iter().map(Some).collect())?)
    }

    /// The per-customer table written as `clv.parquet`.
    pub fn table(&self) -> Result<Table> {
        let h = self.settings.horizon_days;
        let column = |f: fn(&Prediction) -> f64| Column::Float64(self.predictions.iter().map(f).collect());
        // The next purchase's days after the as-of date (its median and 80 % interval), given a
        // purchase within a year; null ("unlikely") when that chance is under one half.
        let likely = |f: fn(&Prediction) -> f64| {
            Column::OptionalFloat64(
                self.predictions
                    .iter()
                    .map(|p| (p.next.p_within >= 0.5).then(|| f(p)))
                    .collect(),
            )
        };
        let ids = self.history.customers.iter().map(|c| c.customer_id.clone()).collect();
        let [p_alive, expected] = churn_inputs::columns(h);
        Ok(Table::new()
            .with_column("customer_id", Column::Text(ids))?
            .with_column(&p_alive, column(|p| p.p_alive))?
            .with_column(&expected, column(|p| p.expected_purchases))?
            .with_column(&format!("p_no_purchase_{h}d"), column(|p| p.p_no_purchase))?
            .with_column("expected_spend", column(|p| p.expected_spend))?
            .with_column(&format!("clv_{h}d"), column(|p| p.clv))?
            .with_column("p_purchase_30d", column(|p| p.p_purchase_30d))?
            .with_column("p_purchase_90d", column(|p| p.p_purchase_90d))?
            .with_column("p_purchase_365d", column(|p| p.next.p_within))?
            .with_column("next_purchase_days", likely(|p| p.next.median))?
            .with_column("next_purchase_low_days", likely(|p| p.next.low))?
            .with_column("next_purchase_high_days", likely(|p| p.next.high))?
            .with_metadata("churn.as_of", &self.history.as_of.to_string())
            .with_metadata("churn.calibration_end", &self.settings.calibration_end.to_string())
            .with_metadata("churn.input_fingerprint", &self.history.fingerprint)
            .with_metadata("churn.clv_horizon_days", &h.to_string())
            .with_metadata("churn.tool_version", crate::TOOL_VERSION))
    }

    /// The model's histories as the fitting crate takes them, in customer order.
    pub fn histories(&self) -> Vec<History> {
        histories(&self.history)
    }
}

/// The values of `pairs` (id, value) in the order of `ids`; an id without a value is an error naming
/// it and `source`.
pub fn values_by_id<'a, T: Copy>(
    pairs: impl Iterator<Item = (&'a str, T)>,
    ids: &[String],
    source: &str,
) -> Result<Vec<T>> {
    let by_id: HashMap<&str, T> = pairs.collect();
    ids.iter()
        .map(|id| {
            by_id
                .get(id.as_str())
                .copied()
                .ok_or_else(|| Error::invalid(format!("customer {id} has features but no lifetime value in {source}")))
        })
        .collect()
}

fn histories(history: &PurchaseHistory) -> Vec<History> {
    history
        .customers
        .iter()
        .map(|c| History {
            transactions: c.transactions,
            first_day: c.first_day,
            last_day: c.last_day,
            mean_repeat_value: c.mean_repeat_value(),
        })
        .collect()
}

/// Predictions for every history, on two threads; rows keep their order. A panicked worker is an
/// error, never a silently shorter list.
fn predict_all(model: &ClvModel, histories: &[History], settings: &ClvSettings) -> Result<Vec<Prediction>> {
    let chunk = histories.len().div_ceil(2).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = histories
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(|h| model.predict(h, settings)).collect::<Vec<_>>()))
            .collect();
        let mut all = Vec::with_capacity(histories.len());
        for handle in handles {
            let part = handle
                .join()
                .map_err(|_| Error::invalid("a lifetime-value prediction thread panicked; this is a bug"))?;
            all.extend(part);
        }
        Ok(all)
    })
}

/// Reads the purchase histories before `params.as_of`, fits the model (or takes `model`) and
/// predicts every customer.
pub fn compute_clv(
    input: &InputSpec,
    params: &FeatureParams,
    clv: &ValidClvParams,
    model: Option<ClvModel>,
) -> Result<ClvRun> {
    // Duplicates are kept unless dropped; counting them (an all-columns grouping) is the costliest
    // step of the query and the lifetime values do not report them.
    let params = FeatureParams {
        count_duplicates: false,
        ..params.clone()
    };
    compute_clv_from(|period_days| purchase_history(input, &params, period_days), clv, model)
}

/// [`compute_clv`] on the histories `read(period_days)` gives: from the files, or from a
/// [`TransactionLog`](churn_features::TransactionLog) a run has already read.
pub fn compute_clv_from(
    read: impl FnOnce(u32) -> churn_features::Result<PurchaseHistory>,
    clv: &ValidClvParams,
    model: Option<ClvModel>,
) -> Result<ClvRun> {
    let period_days = model.as_ref().map_or(clv.merge_days, |m| m.period_days);
    let started = Instant::now();
    let history = read(period_days).context("cannot read the purchase histories")?;
    let read_seconds = started.elapsed().as_secs_f64();
    let calibration_end = history
        .as_of
        .pred_opt()
        .ok_or_else(|| Error::invalid("the calibration end is out of range"))?;
    let settings = ClvSettings {
        calibration_end_day: day_number(calibration_end),
        calibration_end,
        time_unit: model.as_ref().map_or(clv.time_unit, |m| m.time_unit),
        period_days,
        horizon_days: clv.horizon_days,
        annual_discount_rate: clv.annual_discount_rate,
    };
    let rows = histories(&history);
    let fitted = model.is_none();
    let started = Instant::now();
    let model = match model {
        Some(model) => model,
        None => ClvModel::fit(&rows, &settings, &history.fingerprint).context_with(|| {
            format!(
                "cannot fit the lifetime-value model on {} customers up to {calibration_end}",
                count(rows.len() as u64)
            )
        })?,
    };
    let fit_seconds = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let predictions = predict_all(&model, &rows, &settings)?;
    let predict_seconds = started.elapsed().as_secs_f64();
    tracing::debug!(read_seconds, fit_seconds, predict_seconds, "lifetime values");
    if let Some((c, p)) = history.customers.iter().zip(&predictions).find(|(_, p)| {
        ![
            p.p_alive,
            p.expected_purchases,
            p.p_no_purchase,
            p.expected_spend,
            p.clv,
            p.p_purchase_30d,
            p.p_purchase_90d,
            p.next.p_within,
            p.next.median,
            p.next.low,
            p.next.high,
        ]
        .iter()
        .all(|v| v.is_finite())
    }) {
        return Err(Error::invalid(format!(
            "the lifetime-value prediction for customer {} is not finite: {p:?}",
            c.customer_id
        )));
    }
    Ok(ClvRun {
        model,
        history,
        predictions,
        settings,
        fitted,
        timings: ClvTimings {
            read_seconds,
            fit_seconds,
            predict_seconds,
        },
    })
}

/// Reads a saved lifetime-value model.
pub fn load_clv_model(path: &Path, seal: churn_core::SealPolicy) -> Result<ClvModel> {
    let text = std::fs::read_to_string(path).map_err(|e| io_error("read the lifetime-value model", path, e))?;
    ClvModel::from_json_with(&text, seal).context_with(|| format!("cannot use {}", path.display()))
}

/// One row of the holdout comparison: customers with `x` calibration repeat purchases.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct HoldoutRow {
    /// `0` to `6`, then `7+`.
    #[serde(rename = "x")]
    pub label: String,
    /// Customers with that many calibration repeat purchases.
    pub customers: u64,
    /// Their repeat purchases in the holdout period.
    pub actual: f64,
    /// What the model expected.
    pub expected: f64,
}

/// Actual vs expected repeat purchases between the calibration end and `holdout_end`, by calibration
/// repeat purchases (0..=6, then 7 and more).
pub fn clv_holdout(
    run: &ClvRun,
    input: &InputSpec,
    params: &FeatureParams,
    holdout_end: NaiveDate,
) -> Result<Vec<HoldoutRow>> {
    let later = FeatureParams {
        as_of: holdout_end.succ_opt(),
        ..params.clone()
    };
    let after = purchase_history(input, &later, run.settings.period_days).context("cannot read the holdout period")?;
    let counts: HashMap<&str, u64> = after
        .customers
        .iter()
        .map(|c| (c.customer_id.as_str(), c.transactions))
        .collect();
    let length = (holdout_end - run.settings.calibration_end).num_days() as f64 / run.model.time_unit.days();
    let mut rows: Vec<HoldoutRow> = (0..8)
        .map(|x| HoldoutRow {
            label: if x < 7 { x.to_string() } else { "7+".into() },
            customers: 0,
            actual: 0.0,
            expected: 0.0,
        })
        .collect();
    for (c, h) in run.history.customers.iter().zip(histories(&run.history)) {
        let s = run.settings.summary(&h);
        let row = &mut rows[(s.x as usize).min(7)];
        row.customers += 1;
        row.actual += counts
            .get(c.customer_id.as_str())
            .map_or(0, |n| n.saturating_sub(c.transactions)) as f64;
        row.expected += run.model.bgnbd.expected_transactions(&s, length);
    }
    Ok(rows)
}
