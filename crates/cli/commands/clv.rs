//! `churn clv`: customer lifetime value (BG/NBD + Gamma-Gamma) from the transactions (the work is
//! `churn_pipeline::lifetime`; this prints and saves).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use chrono::NaiveDate;
use churn_features::write_table;
use churn_pipeline::lifetime::{clv_holdout, compute_clv, load_clv_model};
use serde_json::json;

use super::thousands;
use crate::outputs::StagedOutputs;
use crate::printer::Printer;
use crate::settings::ClvCommandSettings;

fn default_model_path(end: NaiveDate) -> PathBuf {
    PathBuf::from(format!("models/clv-{end}.json"))
}

pub fn clv(settings: &ClvCommandSettings, printer: Printer) -> Result<()> {
    let started = Instant::now();
    let loaded = settings
        .model
        .as_deref()
        .map(|p| load_clv_model(p, settings.seal))
        .transpose()?;
    let spinner = printer.spinner(&crate::commands::reading(&settings.input, &settings.params));
    let run = compute_clv(&settings.input, &settings.params, &settings.clv, loaded);
    spinner.finish_and_clear();
    let run = run?;
    let table = run.table()?;
    let end = run.settings.calibration_end;
    let holdout_rows = settings
        .holdout_end
        .map(|h| clv_holdout(&run, &settings.input, &settings.params, h))
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
        "  next {h} days  {} expected purchases, mean P(alive) {:.3}, total CLV {} (discounted at {} % a year)",
        churn_core::format::number(expected, 1),
        mean_alive,
        churn_core::format::money(total_clv),
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
        "holdout": holdout_rows,
        "seconds": seconds,
        "timings": {
            "read_seconds": run.timings.read_seconds,
            "fit_seconds": run.timings.fit_seconds,
            "predict_seconds": run.timings.predict_seconds,
        },
    });
    printer.result(&human, &json)?;
    Ok(())
}
