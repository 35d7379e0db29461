//! `churn run`: the nightly job, from transactions to a published at-risk list.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use churn_core::{Column, FeatureFrame, Table};
use churn_features::{input_files, read_table, write_table};
use churn_score::{at_risk, population_stability, score_customers, write_at_risk, ChurnModel, Drift};
use churn_segment::{fit_segments, profile_segments, Assignment, Provenance, SegmentModel};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::clv::{compute as compute_clv, ClvRun};
use super::score::{load_model, load_segment_model, ScoreColumns};
use super::segment::segments_table;
use super::thousands;
use super::train::{evaluation_table, run_training};
use crate::outputs::StagedOutputs;
use crate::printer::Printer;
use crate::publish::{hash_file, RunLock, Staging};
use crate::settings::{Gates, RunSettings};

/// Exit code of a run that published, but whose new model failed its gates (when configured).
pub const EXIT_GATES_FAILED: u8 = 4;

/// The run published, but the new model was not promoted and `gates.fail_exit_code` asks to say so.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct GatesFailed(pub String);

/// `<models>/current.json`: which saved models score and segment.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Registry {
    churn: Option<String>,
    segments: Option<String>,
    /// The lifetime-value model of the last run, when `[clv]` is configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    clv: Option<String>,
}

fn read_registry(models: &Path) -> Result<Registry> {
    let path = models.join("current.json");
    if !path.exists() {
        return Ok(Registry::default());
    }
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not a model registry", path.display()))
}

/// Whether a new model may replace the current one, and why not.
fn gate(model: &ChurnModel, current: Option<&ChurnModel>, gates: &Gates) -> Vec<String> {
    let mut reasons = Vec::new();
    let Some(evaluation) = &model.evaluation else {
        return vec!["the model has no evaluation".into()];
    };
    let auc = evaluation.model.roc_auc.unwrap_or(0.0);
    if auc < gates.min_roc_auc {
        reasons.push(format!(
            "ROC AUC {auc:.4} is below gates.min_roc_auc = {}",
            gates.min_roc_auc
        ));
    }
    let (churned, retained) = (
        model.training.churners,
        model.training.customers - model.training.churners,
    );
    if churned.min(retained) < gates.min_per_class {
        reasons.push(format!(
            "{churned} churned and {retained} retained customers: gates.min_per_class = {} of each",
            gates.min_per_class
        ));
    }
    // An AUC measured on a handful of churners is noise: a model is not promoted on it.
    let (eval_churned, eval_retained) = (
        evaluation.churners,
        evaluation.customers.saturating_sub(evaluation.churners),
    );
    if eval_churned.min(eval_retained) < gates.min_per_class {
        reasons.push(format!(
            "the evaluation snapshot has {eval_churned} churned and {eval_retained} retained customers, too few to \
             trust its ROC AUC: gates.min_per_class = {} of each",
            gates.min_per_class
        ));
    }
    if let Some(old) = current
        .and_then(|c| c.evaluation.as_ref())
        .and_then(|e| e.model.roc_auc)
    {
        if auc < old - gates.max_auc_drop {
            reasons.push(format!(
                "ROC AUC {auc:.4} is more than gates.max_auc_drop = {} below the current model's {old:.4}",
                gates.max_auc_drop
            ));
        }
    }
    reasons
}

/// Rows of `changes.csv` against the previous published run.
fn changes(previous: &Path, ids: &[String], at_risk_now: &[bool], segments_now: &[String]) -> Result<Vec<[String; 4]>> {
    let text_column = |table: &Table, name: &str| -> Option<Vec<Option<String>>> {
        table.columns().iter().find(|(n, _)| n == name).map(|(_, c)| match c {
            Column::Text(v) => v.iter().cloned().map(Some).collect(),
            Column::OptionalText(v) => v.clone(),
            _ => Vec::new(),
        })
    };
    let scores = read_table(&previous.join("scores.parquet")).context("cannot read the previous run's scores")?;
    let segments = read_table(&previous.join("segments.parquet")).context("cannot read the previous run's segments")?;
    let ids_before: Vec<String> = text_column(&scores, "customer_id")
        .unwrap_or_default()
        .into_iter()
        .flatten()
        .collect();
    let bands: Vec<Option<String>> = text_column(&scores, "risk_band").unwrap_or_default();
    let seg_ids: Vec<String> = text_column(&segments, "customer_id")
        .unwrap_or_default()
        .into_iter()
        .flatten()
        .collect();
    let seg_names = text_column(&segments, "segment_name").unwrap_or_default();
    let was_at_risk: HashMap<&str, &str> = ids_before
        .iter()
        .zip(&bands)
        .filter_map(|(id, band)| band.as_deref().filter(|b| *b != "low").map(|b| (id.as_str(), b)))
        .collect();
    let was_in: HashMap<&str, &str> = seg_ids
        .iter()
        .zip(&seg_names)
        .filter_map(|(id, name)| name.as_deref().map(|n| (id.as_str(), n)))
        .collect();
    let mut rows = Vec::new();
    let mut now_at_risk = std::collections::HashSet::new();
    for (i, id) in ids.iter().enumerate() {
        if at_risk_now[i] {
            now_at_risk.insert(id.as_str());
            if !was_at_risk.contains_key(id.as_str()) {
                rows.push([id.clone(), "entered_at_risk".into(), String::new(), "at risk".into()]);
            }
        }
        if let Some(old) = was_in.get(id.as_str()) {
            if *old != segments_now[i] {
                rows.push([
                    id.clone(),
                    "segment_changed".into(),
                    old.to_string(),
                    segments_now[i].clone(),
                ]);
            }
        }
    }
    let mut left: Vec<&&str> = was_at_risk.keys().filter(|id| !now_at_risk.contains(**id)).collect();
    left.sort();
    for id in left {
        rows.push([id.to_string(), "left_at_risk".into(), "at risk".into(), String::new()]);
    }
    rows.sort_by(|a, b| a[0].as_bytes().cmp(b[0].as_bytes()).then(a[1].cmp(&b[1])));
    Ok(rows)
}

fn write_changes(rows: &[[String; 4]]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    churn_score::write_changes(rows, &mut out)?;
    Ok(out)
}

/// The night's lifetime-value model and what it gives the run.
struct NightlyClv {
    run: ClvRun,
    /// Each scored customer's CLV, in the frame's row order.
    values: Vec<f64>,
    /// The model, saved as `file` in the models directory.
    json: String,
    file: String,
    /// `clv.parquet`.
    table: Table,
}

/// The report of a run, in its directory.
pub(crate) const REPORT_FILE: &str = "report.html";

/// Each model input's drift and the score's, from the training snapshot to now.
fn drift(
    model: &ChurnModel,
    training: &FeatureFrame,
    now: &FeatureFrame,
    scored: &[churn_score::ScoredCustomer],
) -> Result<(Vec<Drift>, Drift)> {
    let mut features = Vec::new();
    for input in &model.design.inputs {
        let column = input.spec.column();
        if features.iter().any(|d: &Drift| d.name == column) {
            continue;
        }
        features.push(population_stability(
            column,
            training.numeric_column(column)?,
            now.numeric_column(column)?,
        ));
    }
    let then: Vec<Option<f64>> = model
        .predict(training)
        .context("cannot score the training snapshot for the drift of the score")?
        .into_iter()
        .map(Some)
        .collect();
    let current: Vec<Option<f64>> = scored.iter().map(|s| Some(s.churn_probability)).collect();
    Ok((features, population_stability("churn_probability", &then, &current)))
}

/// A short name for a model's content: the same model always gets the same file name, so that the
/// same inputs give byte-identical outputs (which name their models) run after run.
fn content_id(json: &str) -> String {
    blake3::hash(json.as_bytes()).to_hex()[..12].to_string()
}

/// What the input files looked like when a run started: which files, and each one's size,
/// modification time and inode. A nightly export landing while the run reads would otherwise give
/// features from one version of the file and a fingerprint from another, or snapshots that
/// disagree; a run whose input changed publishes nothing.
#[derive(Debug, PartialEq)]
struct InputStamp(Vec<(std::path::PathBuf, u64, Option<std::time::SystemTime>, u64)>);

impl InputStamp {
    fn take(pattern: &str) -> Result<InputStamp> {
        use std::os::unix::fs::MetadataExt;
        let files = churn_features::input_files(pattern)?;
        let mut stamp = Vec::with_capacity(files.len());
        for file in files {
            let meta =
                std::fs::metadata(&file).with_context(|| format!("cannot read the metadata of {}", file.display()))?;
            stamp.push((file, meta.len(), meta.modified().ok(), meta.ino()));
        }
        Ok(InputStamp(stamp))
    }

    /// Fails, naming the first file that changed, when the input is not what it was.
    fn check_unchanged(&self, pattern: &str) -> Result<()> {
        let now = InputStamp::take(pattern).context("the input changed during the run; nothing was published")?;
        if now == *self {
            return Ok(());
        }
        let changed = self
            .0
            .iter()
            .zip(&now.0)
            .find(|(a, b)| a != b)
            .map(|(a, _)| a.0.display().to_string())
            .unwrap_or_else(|| format!("the set of files matching {pattern}"));
        bail!(
            "the input changed during the run ({changed} was replaced, rewritten or appended to); nothing was \
             published: run again once the export is complete"
        )
    }
}

pub fn run(settings: &RunSettings, printer: Printer) -> Result<()> {
    let started = Instant::now();
    let output = &settings.output_dir;
    // Stamped before the lock is taken, so that whoever sees the lock knows the stamp exists.
    let input_pattern = &settings.train.features.input.transactions;
    let stamp = InputStamp::take(input_pattern)?;
    let _lock = RunLock::acquire(output)?;
    let run_id = format!(
        "{}-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        std::process::id()
    );
    let staging = Staging::create(output, &run_id)?;
    let registry = read_registry(&settings.models_dir)?;

    // Features, training and its evaluation.
    let mut trained = run_training(&settings.train, printer)?;
    let as_of = trained.at_s.as_of;
    let frame: &FeatureFrame = &trained.frame_s;

    // Segments: the current model unless there is none or a refit is asked for.
    let segments_started = Instant::now();
    let spinner = printer.spinner("segmenting customers");
    let current_segments = match (&registry.segments, settings.refit_segments) {
        (Some(name), false) => Some((name.clone(), load_segment_model(&settings.models_dir.join(name))?)),
        _ => None,
    };
    let (segment_model, segment_file, assignment, segment_warnings, refitted): (
        SegmentModel,
        String,
        Assignment,
        Vec<String>,
        bool,
    ) = match current_segments {
        Some((name, model)) => {
            let assignment = model
                .assign(frame)
                .with_context(|| format!("cannot assign segments with the current model {name}"))?;
            (model, name, assignment, Vec::new(), false)
        }
        None => {
            let fit = fit_segments(
                frame,
                &settings.segments.params,
                Provenance {
                    as_of: Some(as_of.to_string()),
                    input_fingerprint: Some(trained.at_s.fingerprint.clone()),
                },
            )
            .context("cannot fit segments")?;
            let file = format!("segments-{as_of}-{}.json", content_id(&fit.model.to_json()?));
            (fit.model, file, fit.assignment, fit.warnings, true)
        }
    };
    spinner.finish_and_clear();
    for warning in &segment_warnings {
        tracing::warn!("{warning}");
    }
    tracing::info!(k = segment_model.k(), refitted, "segments ready");
    let segments_seconds = segments_started.elapsed().as_secs_f64();

    // Gates: promote the new model, or keep scoring with the current one.
    let current_churn = match &registry.churn {
        Some(name) => Some((name.clone(), load_model(&settings.models_dir.join(name))?)),
        None => None,
    };
    let refusals = gate(&trained.model, current_churn.as_ref().map(|(_, m)| m), &settings.gates);
    let promoted = refusals.is_empty();
    let new_churn_json = trained.model.to_json()?;
    let new_churn_file = format!("churn-{as_of}-{}.json", content_id(&new_churn_json));
    let (scoring_model, scoring_file) = match (promoted, &current_churn) {
        (true, _) => (&trained.model, new_churn_file.clone()),
        (false, Some((name, model))) => {
            tracing::warn!("the new model is not promoted: {}; the current model {name} keeps scoring", refusals.join("; "));
            (model, name.clone())
        }
        (false, None) => bail!(
            "the new model did not pass its gates ({}) and there is no current model to score with; nothing was published",
            refusals.join("; ")
        ),
    };

    // Lifetime values, refitted each night on everything before S: value at risk becomes
    // churn probability x CLV.
    let clv_started = Instant::now();
    let clv = match (&settings.clv, trained.clv_s.take()) {
        (None, _) => None,
        (Some(options), fitted) => {
            // With `clv.churn_features` the training already fitted this model at S.
            let run = match fitted {
                Some(run) => run,
                None => {
                    let spinner = printer.spinner("fitting lifetime values");
                    let params = churn_features::FeatureParams {
                        as_of: Some(as_of),
                        ..settings.train.features.params.clone()
                    };
                    let run = compute_clv(&settings.train.features.input, &params, options, None);
                    spinner.finish_and_clear();
                    run?
                }
            };
            let values = run.values_for(frame.ids())?;
            let json = run.model.to_json()?;
            let file = format!("clv-{as_of}-{}.json", content_id(&json));
            let table = run.table()?.with_metadata("churn.clv_model", &file);
            Some(NightlyClv {
                run,
                values,
                json,
                file,
                table,
            })
        }
    };
    let clv_seconds = clv_started.elapsed().as_secs_f64();

    // Scores and the at-risk list.
    let score_started = Instant::now();
    let spinner = printer.spinner("scoring customers and writing the outputs");
    let names = segment_model.names();
    let segment_names: Vec<String> = assignment.segment.iter().map(|&s| names[s].to_string()).collect();
    let scored = score_customers(
        scoring_model,
        frame,
        Some(&segment_names),
        clv.as_ref().map(|c| c.values.as_slice()),
        &settings.score.bands,
        &settings.score.actions,
    )
    .with_context(|| format!("cannot score with {scoring_file}"))?;
    let list = at_risk(&scored, settings.score.top);
    let mut at_risk_csv = Vec::new();
    write_at_risk(&list, &mut at_risk_csv)?;
    let at_risk_count = list.len();
    let value_at_risk: f64 = list.iter().map(|s| s.value_at_risk).sum();
    drop(list);
    let flags: Vec<bool> = scored.iter().map(|s| s.risk_band != "low").collect();
    let previous = output.join("current");
    let change_rows = if previous.join("_SUCCESS").exists() {
        changes(&previous, frame.ids(), &flags, &segment_names)?
    } else {
        Vec::new()
    };
    let mut profiles = profile_segments(frame, &names, &assignment, "monetary_total", None)?;
    // Churn rates: the training snapshot's customers, in the segments they were in then, and
    // whether they churned within the horizon after it.
    let then = segment_model
        .assign(&trained.train_frame)
        .context("cannot assign the training snapshot to segments")?;
    for profile in &mut profiles.segments {
        let members: Vec<usize> = (0..then.segment.len())
            .filter(|&r| then.segment[r] == profile.id)
            .collect();
        profile.churn_rate = (!members.is_empty())
            .then(|| members.iter().filter(|&&r| trained.train_labels[r]).count() as f64 / members.len() as f64);
    }
    let drift = drift(scoring_model, &trained.train_frame, frame, &scored)?;
    for d in std::iter::once(&drift.1).chain(&drift.0).filter(|d| d.level == "major") {
        tracing::warn!(
            "{} has shifted since the training snapshot {}: population stability index {:.3}",
            d.name,
            trained.c1,
            d.psi
        );
    }
    let mut columns = ScoreColumns::with_capacity(scored.len());
    for s in scored {
        columns.push(s);
    }
    let meta = |t: Table| {
        t.with_metadata("churn.as_of", &as_of.to_string())
            .with_metadata("churn.input_fingerprint", &trained.at_s.fingerprint)
            .with_metadata("churn.tool_version", env!("CARGO_PKG_VERSION"))
    };
    let scores = meta(columns.into_table()?.with_metadata("churn.churn_model", &scoring_file));
    let segments_table =
        meta(segments_table(frame.ids(), &names, &assignment)?.with_metadata("churn.segment_model", &segment_file));
    let score_seconds = score_started.elapsed().as_secs_f64();

    // Write everything into the staging directory; the manifest and the marker last.
    trained.at_s.write_parquet(&staging.path("features.parquet"))?;
    write_table(&staging.path("segments.parquet"), &segments_table)?;
    write_table(&staging.path("scores.parquet"), &scores)?;
    // Written: the report reads them back from the staging directory, so do not hold two copies.
    drop((scores, segments_table));
    staging.write("at_risk.csv", &at_risk_csv)?;
    staging.write("changes.csv", &write_changes(&change_rows)?)?;
    let mut profile_csv = Vec::new();
    profiles.write_csv(&mut profile_csv)?;
    staging.write("segment_profiles.csv", &profile_csv)?;
    let mut output_names = vec![
        "features.parquet",
        "segments.parquet",
        "scores.parquet",
        "at_risk.csv",
        "changes.csv",
        "segment_profiles.csv",
    ];
    if let Some(c) = &clv {
        write_table(&staging.path("clv.parquet"), &c.table)?;
        output_names.push("clv.parquet");
    }
    let mut output_files = serde_json::Map::new();
    for name in output_names {
        let (hash, size) = hash_file(&staging.path(name))?;
        output_files.insert(name.into(), json!({"bytes": size, "hash": hash}));
    }
    let mut inputs = Vec::new();
    for file in input_files(&settings.train.features.input.transactions)? {
        let (hash, size) = hash_file(&file)?;
        inputs.push(json!({"path": file.display().to_string(), "bytes": size, "hash": hash}));
    }
    let r = &trained.at_s.report;
    let (input, feature_params) = (&settings.train.features.input, &settings.train.features.params);
    let manifest = json!({
        "format": "churn-run",
        "version": 1,
        "tool_version": env!("CARGO_PKG_VERSION"),
        "run_id": run_id,
        "as_of": as_of.to_string(),
        "horizon_days": settings.train.horizon_days,
        "inputs": inputs,
        "input_fingerprint": trained.at_s.fingerprint,
        "settings": {
            "input": {
                "transactions": input.transactions,
                "columns": {
                    "customer_id": input.columns.customer_id, "timestamp": input.columns.timestamp,
                    "amount": input.columns.amount, "order_id": input.columns.order_id,
                    "quantity": input.columns.quantity, "category": input.columns.category,
                },
                "where": input.filter,
                "delimiter": format!("{:?}", input.text.delimiter),
                "has_header": input.text.has_header,
                "column_names": input.text.column_names,
                "timezone": input.timezone.map(|tz| tz.name().to_string()),
                "timestamp_format": input.timestamp_format,
                "drop_duplicates": feature_params.drop_duplicates,
                "max_abs_amount": feature_params.max_abs_amount,
                "custom_features": feature_params.custom.iter().map(|c| json!({"name": c.name, "sql": c.sql})).collect::<Vec<_>>(),
                "memory_limit_bytes": feature_params.memory_limit_bytes,
            },
            "output_dir": output.display().to_string(),
            "models_dir": settings.models_dir.display().to_string(),
            "horizon_days": settings.train.horizon_days,
            "as_of": as_of.to_string(),
            "segments": {"k": format!("{:?}", settings.segments.params.k), "features": settings.segments.params.features.iter().map(ToString::to_string).collect::<Vec<_>>(), "seed": settings.segments.params.seed, "refit": refitted},
            "model": {"features": settings.train.params.features.iter().map(ToString::to_string).collect::<Vec<_>>(), "l2": settings.train.params.l2, "train_sample": settings.train.params.train_sample, "seed": settings.train.params.seed},
            "gates": settings.gates,
            "score": {"bands": settings.score.bands, "top": settings.score.top, "actions": settings.score.actions},
        },
        "rows": {
            "read": r.rows_read, "used": r.rows_used, "missing_customer_id": r.rows_missing_customer,
            "on_or_after_as_of": r.rows_on_or_after_as_of, "filtered_by_where": r.rows_filtered_out,
            "duplicate": r.rows_duplicate, "duplicates_dropped": r.duplicates_dropped,
        },
        "customers": frame.len(),
        "segments": {"model": segment_file, "refitted": refitted, "k": segment_model.k(), "warnings": segment_warnings},
        "model": {
            "trained": new_churn_file, "promoted": promoted, "refusals": refusals, "scoring_model": scoring_file,
            "training_snapshot": trained.c1.to_string(), "evaluation_fit_snapshot": trained.c2.to_string(),
            "evaluation": trained.model.evaluation, "warnings": trained.model.warnings,
            "training_customers": trained.customers, "training_churners": trained.churners,
            "coefficients": scoring_model.columns.iter().zip(&scoring_model.coefficients).map(|(c, w)| json!({"column": c, "coefficient": w})).collect::<Vec<_>>(),
        },
        "clv": clv.as_ref().map(|NightlyClv { run, file, .. }| json!({
            "model": file,
            "bgnbd": run.model.bgnbd,
            "gamma_gamma": run.model.gamma_gamma,
            "data": run.model.data,
            "time_unit": run.model.time_unit.name(),
            "merge_days": run.settings.period_days,
            "horizon_days": run.settings.horizon_days,
            "annual_discount_rate": run.settings.annual_discount_rate,
            "total_clv": run.predictions.iter().map(|p| p.clv).sum::<f64>(),
        })),
        "at_risk": {
            "customers": at_risk_count,
            "value_at_risk": value_at_risk,
            "value_basis": if clv.is_some() { "clv" } else { "spend_365d" },
        },
        "changes": change_rows.len(),
        "drift": {
            "reference_snapshot": trained.c1.to_string(),
            "features": drift.0,
            "score": drift.1,
        },
        "report": REPORT_FILE,
        "timings": {
            "features_seconds": trained.features_seconds, "evaluation_seconds": trained.evaluation_seconds,
            "fit_seconds": trained.fit_seconds, "segments_seconds": segments_seconds, "clv_seconds": clv_seconds, "score_seconds": score_seconds,
            "total_seconds": started.elapsed().as_secs_f64(),
        },
        "outputs": output_files,
    });
    staging.write("manifest.json", serde_json::to_string_pretty(&manifest)?.as_bytes())?;
    // The report reads the run's files, as `churn report --run` does.
    let page = crate::report::render_run(&staging.path(""))?;
    staging.write(REPORT_FILE, page.as_bytes())?;
    staging.write("_SUCCESS", b"")?;
    spinner.finish_and_clear();
    stamp.check_unchanged(input_pattern)?;
    let published = staging.publish(output, &format!("{as_of}-{run_id}"))?;

    // The registry moves only after the run is published: models first, then the pointer.
    let mut models = StagedOutputs::new();
    models.stage_bytes(&settings.models_dir.join(&new_churn_file), new_churn_json.as_bytes())?;
    if refitted {
        models.stage_bytes(
            &settings.models_dir.join(&segment_file),
            segment_model.to_json()?.as_bytes(),
        )?;
    }
    if let Some(c) = &clv {
        models.stage_bytes(&settings.models_dir.join(&c.file), c.json.as_bytes())?;
    }
    let registry = Registry {
        churn: Some(scoring_file.clone()),
        segments: Some(segment_file.clone()),
        clv: clv.as_ref().map(|c| c.file.clone()),
    };
    models.stage_bytes(
        &settings.models_dir.join("current.json"),
        serde_json::to_string_pretty(&registry)?.as_bytes(),
    )?;
    models.commit()?;
    let seconds = started.elapsed().as_secs_f64();

    let mut human = String::new();
    let _ = writeln!(
        human,
        "churn run: {} customers as of {as_of} -> {} ({seconds:.2} s)",
        thousands(frame.len() as u64),
        output.join("current").display()
    );
    let _ = writeln!(
        human,
        "  input        {} rows read, {} used; dropped {} without customer id, {} on or after {as_of}, {} by input.where; {} duplicate rows",
        thousands(r.rows_read),
        thousands(r.rows_used),
        thousands(r.rows_missing_customer),
        thousands(r.rows_on_or_after_as_of),
        thousands(r.rows_filtered_out),
        thousands(r.rows_duplicate)
    );
    let _ = writeln!(
        human,
        "  segments     {} ({}){}",
        segment_model.k(),
        if refitted {
            "fitted"
        } else {
            "assigned with the current model"
        },
        if refitted {
            format!(" -> {}", settings.models_dir.join(&segment_file).display())
        } else {
            String::new()
        }
    );
    let _ = writeln!(
        human,
        "  model        {}: {}",
        new_churn_file,
        if promoted {
            "promoted".to_string()
        } else {
            format!("not promoted ({}); scoring with {scoring_file}", refusals.join("; "))
        }
    );
    if let Some(e) = &trained.model.evaluation {
        human.push_str(&evaluation_table(e));
    }
    if let Some(NightlyClv { run, file, .. }) = &clv {
        let bg = &run.model.bgnbd;
        let _ = writeln!(
            human,
            "\n  lifetime     {file}: BG/NBD r = {:.3}, alpha = {:.3}, a = {:.3}, b = {:.3} ({}s); total {}-day CLV {:.2}",
            bg.r,
            bg.alpha,
            bg.a,
            bg.b,
            run.model.time_unit.name(),
            run.settings.horizon_days,
            run.predictions.iter().map(|p| p.clv).sum::<f64>()
        );
    }
    let _ = writeln!(
        human,
        "\n  at risk      {} customers, value at risk {value_at_risk:.2} ({}); {} changes since the previous run",
        thousands(at_risk_count as u64),
        if clv.is_some() {
            "churn probability x CLV"
        } else {
            "churn probability x last year's spend"
        },
        thousands(change_rows.len() as u64)
    );
    let _ = writeln!(
        human,
        "  timings      features {:.2} s, evaluation {:.2} s, fit {:.2} s, segments {segments_seconds:.2} s, lifetime values {clv_seconds:.2} s, scores {score_seconds:.2} s",
        trained.features_seconds, trained.evaluation_seconds, trained.fit_seconds
    );
    let _ = writeln!(human, "  published    {}", published.display());
    printer.result(&human, &manifest)?;
    if !promoted && settings.gates.fail_exit_code {
        return Err(anyhow::Error::new(GatesFailed(format!(
            "published with the previous model: the new model failed its gates ({})",
            refusals.join("; ")
        ))));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gates() -> Gates {
        Gates {
            min_roc_auc: 0.6,
            max_auc_drop: 0.02,
            min_per_class: 20,
            fail_exit_code: false,
        }
    }

    fn model_with(auc: f64, customers: u64, churners: u64) -> ChurnModel {
        evaluated_on(auc, customers, churners, 50)
    }

    fn evaluated_on(auc: f64, customers: u64, churners: u64, eval_churners: u64) -> ChurnModel {
        let json = format!(
            r#"{{"format":"churn-model","version":1,"tool_version":"0","feature_set_version":"1","horizon_days":90,
            "design":[{{"spec":"recency_days","fill":null}}],"columns":["recency_days"],
            "scaler":{{"mean":[0.0],"std":[1.0]}},"coefficients":[1.0],"intercept":0.0,
            "training":{{"snapshot":null,"label_window":null,"input_fingerprint":null,"customers":{customers},
            "churners":{churners},"sample_size":{customers},"l2":1.0,"train_log_loss":0.5,"seed":42}},
            "evaluation":{{"method":"out_of_time","fit_snapshot":null,"eval_snapshot":null,"customers":100,"churners":{eval_churners},
            "model":{{"roc_auc":{auc},"pr_auc":0.5,"log_loss":0.6,"brier":0.2,"top_decile":null}},
            "recency_baseline":{{"roc_auc":0.5,"pr_auc":0.5,"log_loss":0.7,"brier":0.25,"top_decile":null}},
            "rfm_baseline":{{"roc_auc":0.5,"pr_auc":0.5,"log_loss":0.7,"brier":0.25,"top_decile":null}},
            "calibration":[]}},"warnings":[]}}"#
        );
        ChurnModel::from_json(&json).expect("model")
    }

    #[test]
    fn gates_refuse_weak_models_and_models_worse_than_the_current_one() {
        let current = model_with(0.80, 1000, 400);
        assert!(gate(&model_with(0.79, 1000, 400), Some(&current), &gates()).is_empty());
        let worse = gate(&model_with(0.77, 1000, 400), Some(&current), &gates());
        assert!(
            worse[0].contains("more than gates.max_auc_drop = 0.02 below the current model's 0.8000"),
            "{worse:?}"
        );
        assert!(gate(&model_with(0.77, 1000, 400), None, &gates()).is_empty());
        let weak = gate(&model_with(0.55, 1000, 400), None, &gates());
        assert!(weak[0].contains("below gates.min_roc_auc"), "{weak:?}");
        let few = gate(&model_with(0.9, 1000, 5), None, &gates());
        assert!(few[0].contains("5 churned and 995 retained"), "{few:?}");
        let noisy = gate(&evaluated_on(0.9, 1000, 400, 3), None, &gates());
        assert!(
            noisy[0].contains("evaluation snapshot has 3 churned and 97 retained"),
            "{noisy:?}"
        );
        assert!(gate(&evaluated_on(0.9, 1000, 400, 20), None, &gates()).is_empty());
    }

    #[test]
    fn changes_csv_escapes_and_orders_its_rows() -> Result<()> {
        let rows = vec![[
            "=x".to_string(),
            "entered_at_risk".to_string(),
            String::new(),
            "at risk".to_string(),
        ]];
        let text = String::from_utf8(write_changes(&rows)?)?;
        assert_eq!(
            text,
            "customer_id,change,old_value,new_value\n'=x,entered_at_risk,,at risk\n"
        );
        Ok(())
    }
}
