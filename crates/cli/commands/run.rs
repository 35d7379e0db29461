//! `churn run`: the nightly job. `churn_pipeline::nightly` computes the night; this command holds
//! the lock, writes the run into a staging directory, publishes it, saves the models and prints
//! the summary.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use anyhow::Result;
use churn_features::ParquetSource;
use churn_pipeline::gates::joined;
use churn_pipeline::manifest::{Manifest, ValueBasis, MANIFEST_FILE};
use churn_pipeline::nightly::{self, hash_inputs, Nightly, RunRecord, REPORT_FILE};
use churn_pipeline::registry::REGISTRY_FILE;

use super::thousands;
use super::train::evaluation_table;
use crate::outputs::StagedOutputs;
use crate::printer::Printer;
use crate::publish::{self, InputStamp, PublishedIncomplete, RunLock, Staging};
use crate::settings::RunSettings;

/// Exit code of a run that published, but whose new model failed its gates (when configured).
pub const EXIT_GATES_FAILED: u8 = 4;

/// The run published, but the new model was not promoted and `gates.fail_exit_code` asks to say so.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct GatesFailed(pub String);

/// Runs one step after the stages, its time in the debug log (`CHURN_LOG=churn=debug`).
fn timed<T>(what: &str, step: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let result = step();
    tracing::debug!(seconds = started.elapsed().as_secs_f64(), "{what}");
    result
}

pub fn run(settings: &RunSettings, printer: Printer) -> Result<()> {
    let started = Instant::now();
    let mut plan = settings.plan.clone();
    let output = plan.output_dir.clone();
    // Stamped before the lock is taken, so that whoever sees the lock knows the stamp exists.
    let input_pattern = plan.train.input.transactions.clone();
    let stamp = InputStamp::take(&input_pattern)?;
    publish::stop_cleanly_on_signals()?;
    let _lock = RunLock::acquire(&output)?;
    publish::remove_stale_model_temps(&plan.models_dir);
    let run_id = publish::new_run_id();
    let staging = Staging::create(&output, &run_id)?;
    let previous = output.join("current");
    plan.previous_run = previous.join("_SUCCESS").exists().then_some(previous);

    let progress = printer.progress();
    let night = nightly::run(&plan, &progress)?;

    // Everything is written into the staging directory; the manifest, report and marker last.
    let spinner = printer.spinner("writing the outputs");
    // While the files are written, the report decodes the two it draws from the same bytes in
    // memory (the writes are the kernel's work, the decoding a core's).
    let dir = staging.path("");
    let (outputs, tables) = std::thread::scope(|scope| {
        let writing = scope.spawn(|| timed("outputs written", || night.write_outputs(&dir)));
        let tables = timed("report's tables decoded", || {
            let (scores, features) = (dir.join("scores.parquet"), dir.join("features.parquet"));
            crate::report::Tables::decode(
                &dir,
                ParquetSource::Bytes(&scores, night.scores.scores_parquet.clone()),
                ParquetSource::Bytes(&features, night.features_parquet()),
            )
        });
        let outputs = writing.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (outputs, tables)
    });
    let outputs = outputs?;
    let inputs = timed("inputs hashed", || hash_inputs(&input_pattern))?;
    // The metadata first (it names the file that changed), then the content.
    stamp.check_unchanged(&input_pattern)?;
    publish::check_content(&input_pattern, &night.trained.at_s.fingerprint, &inputs.fingerprint)?;
    let record = RunRecord {
        run_id: run_id.clone(),
        inputs: inputs.files,
        outputs,
    };
    let manifest = night.manifest(&plan, record);
    staging.write(MANIFEST_FILE, manifest.to_json()?.as_bytes())?;
    // Derived from the published manifests and tonight's, like the report: not in the manifest.
    let history = timed("history derived", || -> Result<Vec<u8>> {
        let nights = churn_pipeline::history::nights(&output.join("runs"), &manifest)?;
        Ok(churn_pipeline::history::write_history(
            &churn_pipeline::history::history(&nights),
        )?)
    })?;
    staging.write(churn_pipeline::history::HISTORY_FILE, &history)?;
    // The report reads the run's files as `churn report --run` does (its two tables decoded above).
    let page = timed("report rendered", || crate::report::render_run_with(&dir, tables?))?;
    staging.write(REPORT_FILE, page.as_bytes())?;
    staging.write("_SUCCESS", b"")?;
    spinner.finish_and_clear();

    // Every step that can fail comes before the switch of `current`, which is the run's last act:
    // the summary is rendered, the input checked once more, the models and registry saved.
    let name = format!("{}-{run_id}", manifest.as_of);
    let published_dir = output.join("runs").join(&name);
    let seconds = started.elapsed().as_secs_f64();
    let human = summary(&night, &manifest, &plan.models_dir, (&output, &published_dir), seconds);
    let json = serde_json::to_value(&manifest)?;
    stamp.check_unchanged(&input_pattern)?;
    let registry = plan.models_dir.join(REGISTRY_FILE);
    let registry_before = std::fs::read(&registry).ok();
    save_models(&night, &plan.models_dir)?;
    if let Err(e) = staging.publish(&output, &name) {
        // Not published: the registry goes back to the models that were in use.
        let mut restore = StagedOutputs::new();
        let restored = match &registry_before {
            Some(bytes) => restore.stage_bytes(&registry, bytes).and_then(|()| restore.commit()),
            None => std::fs::remove_file(&registry).map_err(anyhow::Error::from),
        };
        if let Err(r) = restored {
            tracing::error!("cannot restore {}: {r:#}", registry.display());
        }
        return Err(e);
    }

    // Published: from here on a failure is exit 5, never 1.
    publish::sync_published(&output)?;
    if let Err(e) = printer.result(&human, &json) {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            return Err(anyhow::Error::new(PublishedIncomplete(format!(
                "published {}, but the summary could not be written: {e}",
                published_dir.display()
            ))));
        }
    }
    if !night.promotion.promoted() && plan.gates.fail_exit_code {
        return Err(anyhow::Error::new(GatesFailed(format!(
            "published with the previous model: the new model failed its gates ({})",
            joined(&night.promotion.refusals)
        ))));
    }
    Ok(())
}

/// Saves the night's models, then the registry naming the ones in use, synced: as one unit, before
/// the run is published, so a published manifest never names a model that was not saved.
fn save_models(night: &Nightly, models_dir: &Path) -> Result<()> {
    let (models, registry) = night.models()?;
    let mut staged = StagedOutputs::new();
    for (file, json) in &models {
        staged.stage_bytes(&models_dir.join(file), json.as_bytes())?;
    }
    staged.commit()?;
    // The registry last, once the models it names are durable.
    let mut pointer = StagedOutputs::new();
    pointer.stage_bytes(&models_dir.join(REGISTRY_FILE), registry.to_json()?.as_bytes())?;
    pointer.commit()
}

/// The summary printed after a run.
fn summary(night: &Nightly, manifest: &Manifest, models_dir: &Path, dirs: (&Path, &Path), seconds: f64) -> String {
    let (output, published) = dirs;
    let (rows, as_of) = (&manifest.rows, &manifest.as_of);
    let segments = &night.segments;
    let promotion = &night.promotion;
    let t = &manifest.timings;
    let mut human = String::new();
    let _ = writeln!(
        human,
        "churn run: {} customers as of {as_of} -> {} ({seconds:.2} s)",
        thousands(manifest.customers as u64),
        output.join("current").display(),
    );
    let _ = writeln!(
        human,
        "  input        {} rows read, {} used; dropped {} without customer id, {} on or after {as_of}, {} by input.where; {} duplicate rows",
        thousands(rows.read),
        thousands(rows.used),
        thousands(rows.missing_customer_id),
        thousands(rows.on_or_after_as_of),
        thousands(rows.filtered_by_where),
        thousands(rows.duplicate)
    );
    human.push_str(&super::input_check_lines(
        rows.shared_orders,
        manifest.customers_table.as_ref(),
        as_of,
    ));
    let how = match segments.refitted {
        true => format!("fitted) -> {}", models_dir.join(&segments.file).display()),
        false => "assigned with the current model)".to_string(),
    };
    let _ = writeln!(human, "  segments     {} ({how}", segments.model.k());
    let verdict = match promotion.promoted() {
        true => "promoted".to_string(),
        false => format!(
            "not promoted ({}); scoring with {}",
            joined(&promotion.refusals),
            promotion.scoring_file
        ),
    };
    let _ = writeln!(human, "  model        {}: {verdict}", promotion.trained_file);
    if let Some(e) = &night.trained.model.evaluation {
        human.push_str(&evaluation_table(e));
    }
    if let Some(clv) = &manifest.clv {
        let bg = &clv.bgnbd;
        let _ = writeln!(
            human,
            "\n  lifetime     {}: BG/NBD r = {:.3}, alpha = {:.3}, a = {:.3}, b = {:.3} ({}s); total {}-day CLV {}",
            clv.model,
            bg.r,
            bg.alpha,
            bg.a,
            bg.b,
            clv.time_unit,
            clv.horizon_days,
            churn_core::format::money(clv.total_clv)
        );
    }
    let basis = match manifest.at_risk.value_basis {
        ValueBasis::Clv => "churn probability x CLV",
        ValueBasis::Spend365d => "churn probability x last year's spend",
    };
    let _ = writeln!(
        human,
        "\n  at risk      {} customers, value at risk {} ({basis}); {} changes since the previous run",
        thousands(manifest.at_risk.customers as u64),
        churn_core::format::money(manifest.at_risk.value_at_risk),
        thousands(manifest.changes as u64)
    );
    if let Some(b) = &manifest.at_risk.budget {
        let within = match (b.contacts, b.money) {
            (Some(n), _) => format!("{} contacts", thousands(n as u64)),
            (_, Some(m)) => churn_core::format::money(m),
            _ => String::new(),
        };
        let _ = writeln!(
            human,
            "  budget       ranked by expected gain within {within}: spends {}, expected gain {} ({} from measured uplifts)",
            churn_core::format::money(b.spent),
            churn_core::format::money(b.expected_gain),
            thousands(b.measured_uplifts as u64)
        );
    }
    if let Some(h) = &manifest.holdout {
        let _ = writeln!(
            human,
            "  held out     {} control customers the list would have held ({} of everyone, salt {:?}): holdout.csv",
            thousands(h.customers as u64),
            churn_core::format::percent(h.share),
            h.salt
        );
    }
    if let Some(u) = manifest.uplift.as_ref().and_then(|u| u.latest.as_ref()) {
        let interval = match (u.retained_uplift_low, u.retained_uplift_high) {
            (Some(l), Some(h)) => format!(" (95 % interval {:+.1} to {:+.1})", 100.0 * l, 100.0 * h),
            _ => " (too few customers for an interval)".to_string(),
        };
        let _ = writeln!(
            human,
            "  uplift       the list of {}: retention {} points{interval} against its control group, {} to {}; \
             uplift.csv",
            u.as_of,
            u.retained_uplift
                .map_or("-".to_string(), |v| format!("{:+.1}", 100.0 * v)),
            u.as_of,
            u.window_end
        );
    }
    let _ = writeln!(
        human,
        "  timings      features {:.2} s, evaluation {:.2} s, fit {:.2} s, segments {:.2} s, lifetime values {:.2} s, scores {:.2} s",
        t.features_seconds, t.evaluation_seconds, t.fit_seconds, t.segments_seconds, t.clv_seconds, t.score_seconds
    );
    let _ = writeln!(human, "  published    {}", published.display());
    human
}
