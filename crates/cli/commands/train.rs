//! `churn train`: three snapshots, honest labels, out-of-time evaluation, a saved model.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use chrono::{Duration, NaiveDate};
use churn_core::FeatureFrame;
use churn_features::{extract_features, read_customer_table, FeatureParams, FeatureTable, FEATURE_SET_VERSION};
use churn_score::{
    churn_labels, evaluate_holdout, evaluate_out_of_time, explicit_labels, train as fit_model, ChurnModel, Evaluation,
    Metrics, TrainingSource,
};
use serde_json::json;

use super::clv::{compute as compute_clv, ClvRun};
use super::thousands;
use crate::outputs::StagedOutputs;
use crate::printer::Printer;
use crate::settings::TrainSettings;

/// The features as of `as_of`. Only the snapshot at `S` reports its duplicate rows; the earlier ones
/// (`count_duplicates = false`) skip that costly count, which leaves their features unchanged.
fn snapshot(
    settings: &TrainSettings,
    as_of: Option<NaiveDate>,
    count_duplicates: bool,
    printer: Printer,
    what: &str,
) -> Result<FeatureTable> {
    let mut params = settings.features.params.clone();
    params.as_of = as_of;
    params.count_duplicates = count_duplicates;
    let spinner = printer.spinner(&format!("computing features for {what}"));
    let result = extract_features(&settings.features.input, &params);
    spinner.finish_and_clear();
    result.with_context(|| format!("cannot compute the features for {what}"))
}

/// The snapshot as a frame, with the lifetime-value features when `clv.churn_features` is on: a
/// BG/NBD + Gamma-Gamma model fitted on the rows before the snapshot, like every other feature, so
/// the training and evaluation snapshots see what the scored one sees. Returns the fit too.
fn snapshot_frame(
    settings: &TrainSettings,
    table: &FeatureTable,
    printer: Printer,
    what: &str,
) -> Result<(FeatureFrame, Option<ClvRun>)> {
    let frame = table.to_frame()?;
    let Some(options) = &settings.clv_features else {
        return Ok((frame, None));
    };
    let params = FeatureParams {
        as_of: Some(table.as_of),
        ..settings.features.params.clone()
    };
    let spinner = printer.spinner(&format!("fitting lifetime values for {what}"));
    let run = compute_clv(&settings.features.input, &params, options, None);
    spinner.finish_and_clear();
    let run = run.with_context(|| format!("cannot compute the lifetime-value features for {what}"))?;
    let frame = run.with_churn_features(frame)?;
    Ok((frame, Some(run)))
}

/// Customers who bought within `days` of the snapshot, or everyone.
fn active(frame: FeatureFrame, days: Option<f64>) -> Result<FeatureFrame> {
    let Some(days) = days else { return Ok(frame) };
    let recency = frame.required("recency_days")?;
    let rows: Vec<usize> = (0..frame.len()).filter(|&r| recency[r] <= days).collect();
    Ok(frame.select_rows(&rows))
}

/// A trained model and what it was trained from.
pub(crate) struct Trained {
    pub model: ChurnModel,
    /// The features at the as-of date `S` (the snapshot to score), and as a frame.
    pub at_s: FeatureTable,
    pub frame_s: FeatureFrame,
    /// The lifetime-value fit at `S` when the model uses its outputs (`clv.churn_features`).
    pub clv_s: Option<ClvRun>,
    /// The training snapshot `S - H` and the evaluation-fit snapshot.
    pub c1: NaiveDate,
    pub c2: NaiveDate,
    pub customers: usize,
    pub churners: u64,
    /// The training snapshot's customers and their labels.
    pub train_frame: FeatureFrame,
    pub train_labels: Vec<bool>,
    pub features_seconds: f64,
    pub evaluation_seconds: f64,
    pub fit_seconds: f64,
}

/// Computes the snapshots, labels, evaluation and production model (nothing is written).
pub(crate) fn run_training(settings: &TrainSettings, printer: Printer) -> Result<Trained> {
    let started = Instant::now();
    let h = settings.horizon_days;
    let at_s = snapshot(
        settings,
        settings.features.params.as_of,
        true,
        printer,
        "the as-of date",
    )?;
    let s = at_s.as_of;
    let c1 = s - Duration::days(h);
    let c2 = s - Duration::days(2 * h);
    let history = |date: NaiveDate, role: &str| {
        format!(
            "the {role} snapshot {date} (as-of {s} minus {} x {h} days) has no customers: the out-of-time evaluation \
             needs at least {} days of history before {s}; use a later --as-of or a shorter --horizon-days",
            if role == "training" { 1 } else { 2 },
            2 * h
        )
    };
    let at_c1 = snapshot(
        settings,
        Some(c1),
        false,
        printer,
        &format!("the training snapshot {c1}"),
    )
    .with_context(|| history(c1, "training"))?;
    let (frame_s, clv_s) = snapshot_frame(settings, &at_s, printer, "the as-of date")?;
    let (frame_c1, _) = snapshot_frame(settings, &at_c1, printer, &format!("the training snapshot {c1}"))?;
    let train_frame = active(frame_c1.clone(), settings.active_within_days)?;
    let source = |date: NaiveDate| TrainingSource {
        snapshot: Some(date.to_string()),
        label_window: Some([date.to_string(), (date + Duration::days(h)).to_string()]),
        input_fingerprint: Some(at_s.fingerprint.clone()),
        feature_set_version: FEATURE_SET_VERSION.to_string(),
    };

    let (train_labels, evaluation, features_seconds, evaluation_seconds) = match &settings.explicit_labels {
        // Explicit labels describe one window: evaluate on a held-out share of the training snapshot.
        Some((path, column, share)) => {
            let customers = read_customer_table(path)
                .with_context(|| format!("cannot read the customers table {}", path.display()))?;
            let labels = explicit_labels(&train_frame, &customers, column).with_context(|| {
                format!(
                    "cannot label the snapshot {c1} from {} column {column:?}",
                    path.display()
                )
            })?;
            let features_seconds = started.elapsed().as_secs_f64();
            let evaluation_started = Instant::now();
            let spinner = printer.spinner("fitting and evaluating the model on a holdout");
            let evaluation = evaluate_holdout(&train_frame, &labels, *share, h, &settings.params, source(c1));
            spinner.finish_and_clear();
            let evaluation = evaluation.context("cannot evaluate the model on a holdout")?;
            (
                labels,
                evaluation,
                features_seconds,
                evaluation_started.elapsed().as_secs_f64(),
            )
        }
        None => {
            let at_c2 = snapshot(
                settings,
                Some(c2),
                false,
                printer,
                &format!("the evaluation-fit snapshot {c2}"),
            )
            .with_context(|| history(c2, "evaluation-fit"))?;
            let (frame_c2, _) =
                snapshot_frame(settings, &at_c2, printer, &format!("the evaluation-fit snapshot {c2}"))?;
            let fit_frame = active(frame_c2, settings.active_within_days)?;
            // Labels look the customers up in the full later snapshot: activity filters who is
            // modelled, not whether a purchase counts.
            let fit_labels = churn_labels(&fit_frame, &frame_c1, h)?;
            let labels = churn_labels(&train_frame, &frame_s, h)?;
            let features_seconds = started.elapsed().as_secs_f64();
            let evaluation_started = Instant::now();
            let spinner = printer.spinner("fitting and evaluating the model");
            let evaluation = evaluate_out_of_time(
                (&fit_frame, &fit_labels, source(c2)),
                (&train_frame, &labels, Some(c1.to_string())),
                h,
                &settings.params,
            );
            spinner.finish_and_clear();
            let evaluation = evaluation
                .with_context(|| format!("cannot evaluate the model out of time (fit on {c2}, evaluate on {c1})"))?;
            (
                labels,
                evaluation,
                features_seconds,
                evaluation_started.elapsed().as_secs_f64(),
            )
        }
    };
    let fit_started = Instant::now();
    let spinner = printer.spinner("fitting the production model");
    let model = fit_model(&train_frame, &train_labels, h, &settings.params, source(c1));
    spinner.finish_and_clear();
    let mut model = model.with_context(|| format!("cannot train the model on the snapshot {c1}"))?;
    let fit_seconds = fit_started.elapsed().as_secs_f64();
    let eval_retained = evaluation.customers.saturating_sub(evaluation.churners);
    if evaluation.churners.min(eval_retained) < settings.params.min_per_class as u64 {
        model.warnings.push(format!(
            "the evaluation snapshot has {} churned and {eval_retained} retained customers: its metrics are too \
             noisy to trust, and churn run will not promote this model",
            evaluation.churners
        ));
    }
    model.evaluation = Some(evaluation.clone());
    for warning in &model.warnings {
        tracing::warn!("{warning}");
    }
    let churners = train_labels.iter().filter(|&&y| y).count() as u64;
    Ok(Trained {
        model,
        at_s,
        frame_s,
        clv_s,
        c1,
        c2,
        customers: train_frame.len(),
        churners,
        train_frame,
        train_labels,
        features_seconds,
        evaluation_seconds,
        fit_seconds,
    })
}

pub fn train(settings: &TrainSettings, printer: Printer) -> Result<()> {
    let started = Instant::now();
    let trained = run_training(settings, printer)?;
    let Trained {
        model,
        at_s,
        c1,
        c2,
        customers,
        churners,
        features_seconds,
        evaluation_seconds,
        fit_seconds,
        ..
    } = trained;
    let (s, h) = (at_s.as_of, settings.horizon_days);
    let evaluation = model.evaluation.clone().context("the model has no evaluation")?;
    let path = settings
        .model_out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("models/churn-{s}.json")));
    let mut outputs = StagedOutputs::new();
    outputs.stage_bytes(&path, model.to_json()?.as_bytes())?;
    outputs.commit()?;
    let seconds = started.elapsed().as_secs_f64();

    let mut human = String::new();
    let _ = writeln!(
        human,
        "churn train: {} customers at {c1}, {} churned within {h} days ({:.1}%) -> {} ({seconds:.2} s)",
        thousands(customers as u64),
        thousands(churners),
        100.0 * churners as f64 / customers.max(1) as f64,
        path.display()
    );
    human.push_str(&evaluation_table(&evaluation));
    let _ = writeln!(human, "\n  coefficients (log-odds of churn per standard deviation)");
    let mut order: Vec<usize> = (0..model.columns.len()).collect();
    order.sort_by(|&a, &b| model.coefficients[b].abs().total_cmp(&model.coefficients[a].abs()));
    for j in order {
        let _ = writeln!(human, "  {:>+8.3}  {}", model.coefficients[j], model.columns[j]);
    }
    let json = json!({
        "command": "train",
        "model": path.display().to_string(),
        "as_of": s.to_string(),
        "horizon_days": h,
        "training_snapshot": c1.to_string(),
        "evaluation_fit_snapshot": if settings.explicit_labels.is_some() { c1.to_string() } else { c2.to_string() },
        "labels": if settings.explicit_labels.is_some() { "explicit" } else { "purchases" },
        "customers": customers,
        "churners": churners,
        "evaluation": evaluation,
        "coefficients": model.columns.iter().zip(&model.coefficients).map(|(c, w)| json!({"column": c, "coefficient": w})).collect::<Vec<_>>(),
        "warnings": model.warnings,
        "seconds": seconds,
        "timings": {
            "features_seconds": features_seconds,
            "evaluation_seconds": evaluation_seconds,
            "production_fit_seconds": fit_seconds,
        },
        "train_sample": model.training.sample_size,
    });
    printer.result(&human, &json)?;
    Ok(())
}

/// The out-of-time metrics of the model and the baselines, and the calibration table.
pub(crate) fn evaluation_table(e: &Evaluation) -> String {
    let mut out = String::new();
    let rate = 100.0 * e.churners as f64 / e.customers.max(1) as f64;
    if e.method == "holdout" {
        let _ = writeln!(
            out,
            "\n  holdout (explicit labels): fitted and evaluated within {} ({} held-out customers, {rate:.1}% churned)",
            e.fit_snapshot.as_deref().unwrap_or("?"),
            thousands(e.customers),
        );
    } else {
        let _ = writeln!(
            out,
            "\n  out of time: fitted on {}, evaluated on {} ({} customers, {rate:.1}% churned)",
            e.fit_snapshot.as_deref().unwrap_or("?"),
            e.eval_snapshot.as_deref().unwrap_or("?"),
            thousands(e.customers),
        );
    }
    let _ = writeln!(
        out,
        "  {:<14} {:>8} {:>8} {:>9} {:>7} {:>9} {:>12}",
        "", "ROC AUC", "PR AUC", "log loss", "Brier", "lift@10%", "capture@10%"
    );
    let row = |name: &str, m: &Metrics| {
        let opt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.4}"));
        format!(
            "  {name:<14} {:>8} {:>8} {:>9.4} {:>7.4} {:>9} {:>12}\n",
            opt(m.roc_auc),
            opt(m.pr_auc),
            m.log_loss,
            m.brier,
            m.top_decile.map_or("-".into(), |t| format!("{:.2}", t.lift)),
            m.top_decile
                .map_or("-".into(), |t| format!("{:.1}%", 100.0 * t.capture)),
        )
    };
    out.push_str(&row("model", &e.model));
    out.push_str(&row("recency only", &e.recency_baseline));
    out.push_str(&row("RFM score", &e.rfm_baseline));
    let _ = writeln!(out, "\n  calibration   predicted   observed   customers");
    for bin in e.calibration.iter().filter(|b| b.customers > 0) {
        let _ = writeln!(
            out,
            "  {:.1}-{:.1}      {:>8.3}   {:>8.3}   {:>9}",
            bin.lower,
            bin.upper,
            bin.mean_predicted.unwrap_or(0.0),
            bin.observed_rate.unwrap_or(0.0),
            thousands(bin.customers)
        );
    }
    out
}
