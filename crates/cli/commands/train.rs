//! `churn train`: three snapshots, honest labels, out-of-time evaluation, a saved model (the work is
//! `churn_pipeline::training`; this prints and saves).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use churn_pipeline::training::{train as run_training, Trained};
use churn_score::{Evaluation, Metrics};
use serde_json::json;

use super::thousands;
use crate::outputs::StagedOutputs;
use crate::printer::Printer;
use crate::settings::TrainSettings;

pub fn train(settings: &TrainSettings, printer: Printer) -> Result<()> {
    let started = Instant::now();
    let progress = printer.progress();
    let trained = run_training(&settings.plan, &progress)?;
    let Trained {
        model,
        at_s,
        training_snapshot: c1,
        evaluation_fit_snapshot: c2,
        customers,
        churners,
        timings,
        ..
    } = trained;
    let (s, h) = (at_s.as_of, settings.plan.horizon_days);
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
        "evaluation_fit_snapshot": if settings.plan.explicit_labels.is_some() { c1.to_string() } else { c2.to_string() },
        "labels": if settings.plan.explicit_labels.is_some() { "explicit" } else { "purchases" },
        "customers": customers,
        "churners": churners,
        "evaluation": evaluation,
        "coefficients": model.columns.iter().zip(&model.coefficients).map(|(c, w)| json!({"column": c, "coefficient": w})).collect::<Vec<_>>(),
        "warnings": model.warnings,
        "seconds": seconds,
        "timings": {
            "features_seconds": timings.features_seconds,
            "evaluation_seconds": timings.evaluation_seconds,
            "production_fit_seconds": timings.fit_seconds,
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
