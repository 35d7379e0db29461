//! `churn segment`: fit k-means segments (or assign to saved ones), profile them, write the outputs.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use churn_features::arrays_to_parquet_bytes;
use churn_pipeline::registry::load_segment_model;
use churn_pipeline::tables::segments_columns;
use churn_segment::{fit_segments, profile_segments, Profiles, Provenance};
use serde_json::json;

use super::score::load_features;
use super::thousands;
use crate::outputs::StagedOutputs;
use crate::printer::Printer;
use crate::settings::SegmentSettings;

pub fn segment(settings: &SegmentSettings, printer: Printer) -> Result<()> {
    let started = Instant::now();
    let (table, frame) = load_features(&settings.features)?;
    let read_seconds = started.elapsed().as_secs_f64();

    let mut outputs = StagedOutputs::new();
    let (model, assignment, warnings, model_path, fitted) = match &settings.model {
        Some(path) => {
            let model = load_segment_model(path, settings.seal)?;
            let assignment = model.assign(&frame).with_context(|| {
                format!(
                    "cannot assign the customers of {} to the segments of {}",
                    settings.features.display(),
                    path.display()
                )
            })?;
            (model, assignment, Vec::new(), path.clone(), false)
        }
        None => {
            let spinner = printer.spinner(&format!(
                "fitting segments on {} customers",
                thousands(frame.len() as u64)
            ));
            let provenance = Provenance {
                as_of: Some(table.as_of.to_string()),
                input_fingerprint: Some(table.fingerprint.clone()),
            };
            let fit = fit_segments(&frame, &settings.params, provenance);
            spinner.finish_and_clear();
            let fit =
                fit.with_context(|| format!("cannot segment the customers of {}", settings.features.display()))?;
            let path = settings
                .model_out
                .clone()
                .unwrap_or_else(|| PathBuf::from(format!("models/segments-{}.json", table.as_of)));
            outputs.stage_bytes(&path, fit.model.to_json()?.as_bytes())?;
            (fit.model, fit.assignment, fit.warnings, path, true)
        }
    };
    let model_seconds = started.elapsed().as_secs_f64() - read_seconds;
    for warning in &warnings {
        tracing::warn!("{warning}");
    }

    let names = model.names();
    let profiles =
        profile_segments(&frame, &names, &assignment, "monetary_total", None).context("cannot profile the segments")?;
    let (as_of, model_name) = (table.as_of.to_string(), model_path.display().to_string());
    let metadata = [
        ("churn.as_of", as_of.as_str()),
        ("churn.input_fingerprint", table.fingerprint.as_str()),
        ("churn.segment_model", model_name.as_str()),
        ("churn.tool_version", env!("CARGO_PKG_VERSION")),
    ];
    let columns = segments_columns(frame.ids(), &names, &assignment);
    let segments = arrays_to_parquet_bytes(&settings.out, columns, &metadata)
        .with_context(|| format!("cannot write {}", settings.out.display()))?;
    outputs.stage_bytes(&settings.out, &segments)?;
    let mut csv = Vec::new();
    profiles.write_csv(&mut csv)?;
    outputs.stage_bytes(&settings.profiles_out, &csv)?;
    outputs.commit()?;
    let seconds = started.elapsed().as_secs_f64();

    let mut human = String::new();
    let how = if fitted {
        format!("fitted, k = {}", model.fit.k_choice)
    } else {
        "assigned with a saved model".to_string()
    };
    let _ = writeln!(
        human,
        "churn segment: {} customers in {} segments ({how}) -> {} ({seconds:.2} s)",
        thousands(frame.len() as u64),
        model.k(),
        settings.out.display()
    );
    if fitted && !model.fit.k_scores.is_empty() {
        let _ = writeln!(human, "\n  k   silhouette   inertia");
        for score in &model.fit.k_scores {
            let silhouette = score.silhouette.map_or("-".to_string(), |s| format!("{s:.4}"));
            let chosen = if score.k == model.k() { "  <- chosen" } else { "" };
            let _ = writeln!(
                human,
                "  {:<3} {silhouette:>10}   {:>7.4}{chosen}",
                score.k, score.inertia
            );
        }
    }
    let _ = writeln!(human);
    human.push_str(&profile_table(&profiles));
    if let Some(rfm) = &profiles.rfm {
        let _ = writeln!(
            human,
            "\n  customers by RFM segment (rows) and k-means segment (columns)"
        );
        let width = rfm.columns.iter().map(|c| c.len()).max().unwrap_or(0).max(11);
        let _ = write!(human, "  {:<width$}", "");
        for s in &profiles.segments {
            let _ = write!(human, " {:>7}", s.id);
        }
        let _ = writeln!(human);
        for (c, name) in rfm.columns.iter().enumerate() {
            let _ = write!(human, "  {name:<width$}");
            for s in &profiles.segments {
                let _ = write!(human, " {:>7}", thousands(rfm.counts[s.id][c]));
            }
            let _ = writeln!(human);
        }
    }
    let _ = writeln!(human);
    if fitted {
        let _ = writeln!(human, "  model      {}", model_path.display());
    }
    let _ = writeln!(human, "  profiles   {}", settings.profiles_out.display());

    let json = json!({
        "command": "segment",
        "mode": if fitted { "fit" } else { "assign" },
        "customers": frame.len(),
        "k": model.k(),
        "k_choice": model.fit.k_choice,
        "k_scores": model.fit.k_scores,
        "model": model_path.display().to_string(),
        "output": settings.out.display().to_string(),
        "profiles_output": settings.profiles_out.display().to_string(),
        "inertia": assignment.inertia(),
        "profiles": profiles,
        "warnings": warnings,
        "seconds": seconds,
        "timings": {
            "read_seconds": read_seconds,
            "model_seconds": model_seconds,
            "profile_and_write_seconds": seconds - read_seconds - model_seconds,
        },
    });
    printer.result(&human, &json)?;
    Ok(())
}

/// The profile table for the terminal: medians, which describe a typical member better than means
/// on skewed money and counts. The CSV has both.
fn profile_table(profiles: &Profiles) -> String {
    let mut out = String::new();
    let name_width = profiles.segments.iter().map(|s| s.name.len()).max().unwrap_or(0).max(7);
    fn short(feature: &str) -> &str {
        match feature {
            "recency_days" => "recency d",
            "frequency" => "orders",
            "monetary_total" => "spend",
            "tenure_days" => "tenure d",
            other => other,
        }
    }
    let _ = write!(
        out,
        "  {:>2}  {:<name_width$}  {:>9}  {:>6}  {:>7}",
        "id", "segment", "customers", "share", "revenue"
    );
    for f in &profiles.features {
        let _ = write!(out, "  {:>10}", short(f));
    }
    let _ = writeln!(out);
    let _ = write!(out, "  {:>2}  {:<name_width$}  {:>9}  {:>6}  {:>7}", "", "", "", "", "");
    for _ in &profiles.features {
        let _ = write!(out, "  {:>10}", "(median)");
    }
    let _ = writeln!(out);
    let percent = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{:.1}%", 100.0 * v));
    for s in &profiles.segments {
        let _ = write!(
            out,
            "  {:>2}  {:<name_width$}  {:>9}  {:>6}  {:>7}",
            s.id,
            s.name,
            thousands(s.customers),
            percent(Some(s.share_customers)),
            percent(s.share_revenue)
        );
        for m in &s.medians {
            let _ = write!(out, "  {:>10}", m.map_or("-".to_string(), |v| format!("{v:.1}")));
        }
        let _ = writeln!(out);
    }
    out
}
