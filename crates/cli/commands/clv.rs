//! `churn clv`: customer lifetime value (BG/NBD + Gamma-Gamma) from the transactions.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use chrono::NaiveDate;
use churn_clv::{ClvModel, ClvSettings, History, Prediction};
use churn_core::{Column, FeatureFrame, Table};
use churn_features::{purchase_history, write_table, FeatureParams, InputSpec, PurchaseHistory};
use serde_json::json;

use super::thousands;
use crate::outputs::StagedOutputs;
use crate::printer::Printer;
use crate::settings::{ClvCommandSettings, ClvOptions};

/// Day number (days since 1970-01-01) of a date, the day count of purchase histories.
fn day_number(date: NaiveDate) -> i64 {
    date.signed_duration_since(NaiveDate::default()).num_days()
}

/// A fitted (or loaded) model with its predictions for every customer of the calibration window.
pub(crate) struct ClvRun {
    pub model: ClvModel,
    pub history: PurchaseHistory,
    pub predictions: Vec<Prediction>,
    pub settings: ClvSettings,
    pub fitted: bool,
    /// Seconds reading the histories, fitting, predicting.
    pub timings: [f64; 3],
}

impl ClvRun {
    /// Each customer's CLV in the row order of `ids`.
    pub fn values_for(&self, ids: &[String]) -> Result<Vec<f64>> {
        self.lookup(ids, |p| p.clv)
    }

    /// One prediction per row of `ids`. Every customer of a snapshot has a purchase before it (one
    /// whose rows are all returns is not in the snapshot), so a missing one is an error.
    fn lookup(&self, ids: &[String], value: fn(&Prediction) -> f64) -> Result<Vec<f64>> {
        let customers = self.history.customers.iter().map(|c| c.customer_id.as_str());
        values_by_id(
            customers.zip(self.predictions.iter().map(value)),
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
        let ids = self.history.customers.iter().map(|c| c.customer_id.clone()).collect();
        let [p_alive, expected] = churn_inputs::columns(h);
        Ok(Table::new()
            .with_column("customer_id", Column::Text(ids))?
            .with_column(&p_alive, column(|p| p.p_alive))?
            .with_column(&expected, column(|p| p.expected_purchases))?
            .with_column(&format!("p_no_purchase_{h}d"), column(|p| p.p_no_purchase))?
            .with_column("expected_spend", column(|p| p.expected_spend))?
            .with_column(&format!("clv_{h}d"), column(|p| p.clv))?
            .with_metadata("churn.as_of", &self.history.as_of.to_string())
            .with_metadata("churn.calibration_end", &self.settings.calibration_end.to_string())
            .with_metadata("churn.input_fingerprint", &self.history.fingerprint)
            .with_metadata("churn.clv_horizon_days", &h.to_string())
            .with_metadata("churn.tool_version", env!("CARGO_PKG_VERSION")))
    }
}

/// The lifetime-value outputs offered to the churn model (`clv.churn_features = true`): P(alive) as
/// it is and the expected purchases over the CLV horizon on a log scale, like the other counts. They
/// have the names of their `clv.parquet` columns, so `churn score --clv` finds them there.
pub(crate) mod churn_inputs {
    use churn_core::{FeatureSpec, Transform};

    pub const P_ALIVE: &str = "p_alive";
    pub const EXPECTED_PREFIX: &str = "expected_purchases_";

    /// The two column names for a CLV horizon of `horizon_days`.
    pub fn columns(horizon_days: u32) -> [String; 2] {
        [P_ALIVE.to_string(), format!("{EXPECTED_PREFIX}{horizon_days}d")]
    }

    /// The two model inputs.
    pub fn specs(horizon_days: u32) -> Vec<FeatureSpec> {
        let [p_alive, expected] = columns(horizon_days);
        vec![
            FeatureSpec::new(&p_alive, Transform::Identity),
            FeatureSpec::new(&expected, Transform::Log1p),
        ]
    }
}

/// The values of `pairs` (id, value) in the order of `ids`; an id without a value is an error naming
/// it and `source`.
pub(crate) fn values_by_id<'a>(
    pairs: impl Iterator<Item = (&'a str, f64)>,
    ids: &[String],
    source: &str,
) -> Result<Vec<f64>> {
    let by_id: HashMap<&str, f64> = pairs.collect();
    ids.iter()
        .map(|id| {
            by_id
                .get(id.as_str())
                .copied()
                .with_context(|| format!("customer {id} has features but no lifetime value in {source}"))
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

/// Predictions for every history, on two threads; rows keep their order.
fn predict_all(model: &ClvModel, histories: &[History], settings: &ClvSettings) -> Vec<Prediction> {
    let chunk = histories.len().div_ceil(2).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = histories
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(|h| model.predict(h, settings)).collect::<Vec<_>>()))
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect()
    })
}

/// Reads the purchase histories before `params.as_of`, fits the model (or takes `model`) and
/// predicts every customer.
pub(crate) fn compute(
    input: &InputSpec,
    params: &FeatureParams,
    options: &ClvOptions,
    model: Option<ClvModel>,
) -> Result<ClvRun> {
    let period_days = model.as_ref().map_or(options.merge_days, |m| m.period_days);
    let started = Instant::now();
    // Duplicates are kept unless dropped; counting them (an all-columns grouping) is the costliest
    // step of the query and the lifetime values do not report them.
    let params = FeatureParams {
        count_duplicates: false,
        ..params.clone()
    };
    let history = purchase_history(input, &params, period_days).context("cannot read the purchase histories")?;
    let read_seconds = started.elapsed().as_secs_f64();
    let calibration_end = history
        .as_of
        .pred_opt()
        .context("the calibration end is out of range")?;
    let settings = ClvSettings {
        calibration_end_day: day_number(calibration_end),
        calibration_end,
        time_unit: model.as_ref().map_or(options.time_unit, |m| m.time_unit),
        period_days,
        horizon_days: options.horizon_days,
        annual_discount_rate: options.annual_discount_rate,
    };
    let rows = histories(&history);
    let fitted = model.is_none();
    let started = Instant::now();
    let model = match model {
        Some(model) => model,
        None => ClvModel::fit(&rows, &settings, &history.fingerprint).with_context(|| {
            format!(
                "cannot fit the lifetime-value model on {} customers up to {calibration_end}",
                thousands(rows.len() as u64)
            )
        })?,
    };
    let fit_seconds = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let predictions = predict_all(&model, &rows, &settings);
    let predict_seconds = started.elapsed().as_secs_f64();
    tracing::debug!(read_seconds, fit_seconds, predict_seconds, "lifetime values");
    if let Some((c, p)) = history.customers.iter().zip(&predictions).find(|(_, p)| {
        ![
            p.p_alive,
            p.expected_purchases,
            p.p_no_purchase,
            p.expected_spend,
            p.clv,
        ]
        .iter()
        .all(|v| v.is_finite())
    }) {
        bail!(
            "the lifetime-value prediction for customer {} is not finite: {p:?}",
            c.customer_id
        );
    }
    Ok(ClvRun {
        model,
        history,
        predictions,
        settings,
        fitted,
        timings: [read_seconds, fit_seconds, predict_seconds],
    })
}

/// Reads a saved lifetime-value model.
pub(crate) fn load_model(path: &Path) -> Result<ClvModel> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the lifetime-value model {}", path.display()))?;
    ClvModel::from_json(&text).with_context(|| format!("cannot use {}", path.display()))
}

/// One row of the holdout comparison: customers with `x` calibration repeat purchases.
struct HoldoutRow {
    label: String,
    customers: u64,
    actual: f64,
    expected: f64,
}

/// Actual vs expected repeat purchases between the calibration end and `holdout_end`, by calibration
/// repeat purchases (0..=6, then 7 and more).
fn holdout(run: &ClvRun, input: &InputSpec, params: &FeatureParams, holdout_end: NaiveDate) -> Result<Vec<HoldoutRow>> {
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

fn default_model_path(end: NaiveDate) -> PathBuf {
    PathBuf::from(format!("models/clv-{end}.json"))
}

pub fn clv(settings: &ClvCommandSettings, printer: Printer) -> Result<()> {
    let started = Instant::now();
    let loaded = settings.model.as_deref().map(load_model).transpose()?;
    let spinner = printer.spinner(&format!("reading {}", settings.features.input.transactions));
    let run = compute(
        &settings.features.input,
        &settings.features.params,
        &settings.options,
        loaded,
    );
    spinner.finish_and_clear();
    let run = run?;
    let table = run.table()?;
    let end = run.settings.calibration_end;
    let holdout_rows = settings
        .holdout_end
        .map(|h| holdout(&run, &settings.features.input, &settings.features.params, h))
        .transpose()?;

    let mut outputs = StagedOutputs::new();
    let model_path = match (&settings.model, &settings.model_out) {
        (Some(path), _) => path.clone(),
        (None, Some(path)) => path.clone(),
        (None, None) => default_model_path(end),
    };
    if run.fitted {
        outputs.stage_bytes(&model_path, run.model.to_json()?.as_bytes())?;
    }
    let staged = outputs.stage(&settings.out)?;
    write_table(&staged, &table).with_context(|| format!("cannot write {}", settings.out.display()))?;
    outputs.commit()?;
    let seconds = started.elapsed().as_secs_f64();

    let m = &run.model;
    let (bg, gg) = (&m.bgnbd, &m.gamma_gamma);
    let n = run.predictions.len() as f64;
    let total_clv: f64 = run.predictions.iter().map(|p| p.clv).sum();
    let mean_alive = run.predictions.iter().map(|p| p.p_alive).sum::<f64>() / n;
    let expected: f64 = run.predictions.iter().map(|p| p.expected_purchases).sum();
    let h = run.settings.horizon_days;
    let unit = m.time_unit.name();
    let mut human = String::new();
    let _ = writeln!(
        human,
        "churn clv: {} customers, calibration {} to {} ({}s) -> {} ({seconds:.2} s)",
        thousands(run.history.customers.len() as u64),
        m.calibration_start,
        end,
        unit,
        settings.out.display()
    );
    let convergence = |c: &Option<churn_clv::Convergence>| {
        c.map_or("loaded".to_string(), |c| {
            format!("{} iterations, gradient norm {:.1e}", c.iterations, c.gradient_norm)
        })
    };
    let _ = writeln!(
        human,
        "  BG/NBD       r = {:.4}, alpha = {:.4}, a = {:.4}, b = {:.4}; log-likelihood {:.1} ({})",
        bg.r,
        bg.alpha,
        bg.a,
        bg.b,
        bg.log_likelihood,
        convergence(&bg.convergence)
    );
    let _ = writeln!(
        human,
        "  Gamma-Gamma  p = {:.4}, q = {:.4}, gamma = {:.4} on {} repeat buyers; frequency-spend correlation {:.3}",
        gg.p,
        gg.q,
        gg.gamma,
        thousands(m.data.repeat_buyers),
        m.data.frequency_spend_correlation
    );
    if m.data.frequency_spend_correlation.abs() > 0.3 {
        tracing::warn!(
            "spend and frequency are correlated ({:.2}); Gamma-Gamma assumes they are independent, so expected spend is doubtful",
            m.data.frequency_spend_correlation
        );
    }
    let _ = writeln!(
        human,
        "  next {h} days  {:.1} expected purchases, mean P(alive) {:.3}, total CLV {:.2} (discounted at {} % a year)",
        expected,
        mean_alive,
        total_clv,
        run.settings.annual_discount_rate * 100.0
    );
    if run.fitted {
        let _ = writeln!(human, "  model        {}", model_path.display());
    }
    if let Some(rows) = &holdout_rows {
        let _ = writeln!(
            human,
            "\n  holdout to {}: repeat purchases by calibration repeat purchases",
            settings.holdout_end.unwrap_or_default()
        );
        let _ = writeln!(
            human,
            "  {:>5} {:>10} {:>10} {:>10}",
            "x", "customers", "actual", "expected"
        );
        for r in rows {
            let _ = writeln!(
                human,
                "  {:>5} {:>10} {:>10.0} {:>10.1}",
                r.label,
                thousands(r.customers),
                r.actual,
                r.expected
            );
        }
        let (actual, expected): (f64, f64) = rows.iter().fold((0.0, 0.0), |(a, e), r| (a + r.actual, e + r.expected));
        let _ = writeln!(human, "  {:>5} {:>10} {:>10.0} {:>10.1}", "all", "", actual, expected);
    }
    let json = json!({
        "command": "clv",
        "output": settings.out.display().to_string(),
        "model": model_path.display().to_string(),
        "fitted": run.fitted,
        "calibration_start": m.calibration_start.to_string(),
        "calibration_end": end.to_string(),
        "time_unit": unit,
        "merge_days": run.settings.period_days,
        "customers": run.history.customers.len(),
        "rows": {
            "read": run.history.report.rows_read,
            "used": run.history.report.rows_used,
            "returns": run.history.report.rows_returns,
            "missing_customer_id": run.history.report.rows_missing_customer,
            "after_calibration": run.history.report.rows_on_or_after_as_of,
            "filtered_by_where": run.history.report.rows_filtered_out,
        },
        "bgnbd": bg,
        "gamma_gamma": gg,
        "data": m.data,
        "horizon_days": h,
        "annual_discount_rate": run.settings.annual_discount_rate,
        "expected_purchases": expected,
        "mean_p_alive": mean_alive,
        "total_clv": total_clv,
        "holdout": holdout_rows.as_ref().map(|rows| rows.iter().map(|r| json!({
            "x": r.label, "customers": r.customers, "actual": r.actual, "expected": r.expected,
        })).collect::<Vec<_>>()),
        "seconds": seconds,
        "timings": {
            "read_seconds": run.timings[0],
            "fit_seconds": run.timings[1],
            "predict_seconds": run.timings[2],
        },
    });
    printer.result(&human, &json)?;
    Ok(())
}
