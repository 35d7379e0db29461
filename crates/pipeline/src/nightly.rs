//! The nightly job as one function: [`run`] takes a [`NightlyPlan`] and returns a [`Nightly`], every
//! output in memory; [`Nightly::write_outputs`] writes them into a directory, [`Nightly::manifest`]
//! describes them, and the caller publishes (the binary owns the lock, staging and `current`).
//!
//! The stages, in order, each with its contract:
//! 1. the registry (`<models>/current.json`) and the models it names are loaded first, so a broken
//!    registry fails the run before any work;
//! 2. training ([`crate::training::train`]): the snapshots `S`, `S - H`, `S - 2H`, labels, the
//!    out-of-time evaluation and the production model;
//! 3. segments: the current segment model assigns, or a new one is fitted (first night, or
//!    `refit_segments`);
//! 4. promotion ([`crate::gates::gate`]): tonight's model scores only if it passes the gates, else
//!    the current model does; with neither, the run fails;
//! 5. lifetime values (when configured), refitted each night on everything before `S`;
//! 6. scores, the at-risk list, the changes against the previous run, the segment profiles with
//!    their churn rates, and the drift since the training snapshot.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use churn_clv::ValidClvParams;
use churn_core::{FeatureFrame, Table};
use churn_features::{arrays_to_parquet_bytes, input_files, write_table, FeatureParams, FeatureTable, TransactionLog};
use churn_score::gain::{expected_gains, within_budget, Budget};
use churn_score::{
    at_risk, population_stability, score_customers, split_holdout, ActionRule, ChurnModel, Holdout, NextPurchaseFrom,
    RiskBands,
};
use churn_segment::{
    fit_segments, profile_segments, Assignment, Profiles, Provenance, SegmentModel, ValidSegmentParams,
};

use crate::changes::{changes, write_changes, Change};
use crate::error::{io_error, Context, Error, Result};
use crate::gates::{gate, joined, Gates, Refusal};
use crate::lifetime::{compute_clv, compute_clv_from, ClvRun};
use crate::manifest::{
    AtRiskSummary, BudgetSummary, ClvSummary, Coefficient, CustomFeatureEcho, DriftSummary, FileEntry, HoldoutSummary,
    InputEcho, KpiRow, Kpis, Manifest, ModelEcho, ModelSummary, OutputEntry, Rows, RunSettingsEcho, ScoreEcho,
    SegmentsEcho, SegmentsSummary, Timings, UpliftSummary, UpliftTotal, ValueBasis, MANIFEST_FORMAT, MANIFEST_VERSION,
};
use crate::progress::{stage, Progress};
use crate::registry::{content_id, CurrentModels, Named, Registry};
use crate::tables::{scores_parquet, segments_columns};
use crate::training::{train_with, TrainPlan, Trained};
use crate::uplift::{Uplift, UPLIFT_FILE};

/// The report's file name in a run directory.
pub const REPORT_FILE: &str = "report.html";

/// How customers are scored and listed (`[score]`).
#[derive(Debug, Clone, PartialEq)]
pub struct ScorePlan {
    /// The risk bands.
    pub bands: RiskBands,
    /// Keep only this many customers on the list, by value at risk.
    pub top: Option<usize>,
    /// The action table.
    pub actions: Vec<ActionRule>,
    /// The control group held out of the list (`[holdout]`), when its share is above 0.
    pub holdout: Option<Holdout>,
    /// Rank the list by expected gain and keep it within this budget (`run.contact_budget` or
    /// `run.budget`); `None` lists every customer at risk by value at risk.
    pub budget: Option<Budget>,
}

/// Everything the nightly job needs, resolved and checked.
#[derive(Debug, Clone)]
pub struct NightlyPlan {
    /// The input, features, horizon and churn model.
    pub train: TrainPlan,
    /// Segmentation, used when a segment model is fitted.
    pub segments: ValidSegmentParams,
    /// Fit a new segment model even if there is a current one.
    pub refit_segments: bool,
    /// Scoring.
    pub score: ScorePlan,
    /// Promotion.
    pub gates: Gates,
    /// Lifetime values (`[clv]`), fitted each night when given.
    pub clv: Option<ValidClvParams>,
    /// Where models and the registry are kept.
    pub models_dir: PathBuf,
    /// Where runs are published (recorded in the manifest).
    pub output_dir: PathBuf,
    /// The previous published run, to diff against; `None` on the first night.
    pub previous_run: Option<PathBuf>,
    /// Whether saved models without a checksum are read.
    pub seal: churn_core::SealPolicy,
}

/// The night's lifetime-value model and what it gives the run.
#[derive(Debug)]
pub struct NightlyClv {
    /// The fit and every customer's predictions.
    pub run: ClvRun,
    /// The model as saved, and its file name in the models directory.
    pub json: String,
    /// The file name.
    pub file: String,
    /// `clv.parquet`.
    pub table: Table,
}

/// The segments of the night.
#[derive(Debug)]
pub struct NightlySegments {
    /// The model that assigned (current or fitted tonight).
    pub model: SegmentModel,
    /// Its file in the models directory.
    pub file: String,
    /// Each customer's segment.
    pub assignment: Assignment,
    /// Warnings of a fit.
    pub warnings: Vec<String>,
    /// Whether the model was fitted tonight.
    pub refitted: bool,
    /// Profiles with each segment's churn rate.
    pub profiles: Profiles,
}

/// Which churn model scored, and why.
#[derive(Debug)]
pub struct Promotion {
    /// Tonight's model as saved, and its file name.
    pub trained_json: String,
    /// Its file in the models directory.
    pub trained_file: String,
    /// Why it was not promoted (empty: promoted).
    pub refusals: Vec<Refusal>,
    /// The file of the model that scored (tonight's, or the current one).
    pub scoring_file: String,
    /// The scoring model's coefficients, by design column.
    pub coefficients: Vec<Coefficient>,
}

impl Promotion {
    /// Whether tonight's model scores.
    pub fn promoted(&self) -> bool {
        self.refusals.is_empty()
    }
}

/// The scores of the night.
#[derive(Debug)]
pub struct NightlyScores {
    /// `scores.parquet`'s bytes (shared: the report decodes them while they are written).
    pub scores_parquet: bytes::Bytes,
    /// `segments.parquet`'s bytes.
    pub segments_parquet: Vec<u8>,
    /// Tonight's retention figures, for the manifest and the history.
    pub kpis: Kpis,
    /// `at_risk.csv`, as it was formatted (written a row at a time, never joined into one buffer).
    pub at_risk_csv: churn_score::AtRiskCsv,
    /// `holdout.csv`, with a holdout: the control customers the list would have held, in its
    /// columns and order.
    pub holdout_csv: Option<churn_score::AtRiskCsv>,
    /// Customers in `holdout.csv`.
    pub held_out: usize,
    /// Customers on the list.
    pub at_risk: usize,
    /// The budget the list was chosen within, and what it holds.
    pub budget: Option<BudgetSummary>,
    /// Their summed value at risk.
    pub value_at_risk: f64,
    /// `changes.csv`'s rows.
    pub changes: Vec<Change>,
    /// Drift since the training snapshot.
    pub drift: DriftSummary,
}

/// Seconds spent per stage after training.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StageSeconds {
    /// Segments.
    pub segments: f64,
    /// Lifetime values.
    pub clv: f64,
    /// Scores and tables.
    pub score: f64,
}

/// A night's results, in memory.
#[derive(Debug)]
pub struct Nightly {
    /// Training: the snapshots, the labels and tonight's model.
    pub trained: Trained,
    /// Segments.
    pub segments: NightlySegments,
    /// Promotion.
    pub promotion: Promotion,
    /// Lifetime values.
    pub clv: Option<NightlyClv>,
    /// Scores, the list and the changes.
    pub scores: NightlyScores,
    /// Earlier lists measured against their control groups (`uplift.csv`).
    pub uplift: Uplift,
    /// Where the time went after training.
    pub seconds: StageSeconds,
    /// `features.parquet`, encoded while the segments were found (the as-of table is then let go).
    features_parquet: bytes::Bytes,
    started: Instant,
}

/// Runs the night: see the [module docs](self) for the stages. Nothing is written.
pub fn run(plan: &NightlyPlan, progress: &dyn Progress) -> Result<Nightly> {
    let started = Instant::now();
    let registry = Registry::read(&plan.models_dir)?;
    let current = CurrentModels::load(&plan.models_dir, &registry, !plan.refit_segments, plan.seal)?;

    // The log stays in memory only for the lifetime values, which read purchases from it; the
    // uplift of earlier lists takes its look before the log goes.
    let runs_dir = plan.output_dir.join("runs");
    let segments_plan = (plan, current.segments);
    let (mut trained, uplift, (segmented, segments_seconds)) = train_with(
        &plan.train,
        plan.clv.is_some(),
        progress,
        |log, as_of| {
            stage(progress, "measuring earlier lists against their control groups", || {
                crate::uplift::measure(&runs_dir, plan.previous_run.as_deref(), as_of, log)
            })
        },
        // Tonight's segments need only tonight's features: they are found while the models are
        // fitted.
        ("segmenting customers", |at_s: &FeatureTable, frame_s: &FeatureFrame| {
            let (plan, current) = segments_plan;
            let started = Instant::now();
            let segmented = segment(plan, at_s, frame_s, current);
            let seconds = started.elapsed().as_secs_f64();
            tracing::debug!(seconds, "segments found");
            (segmented, seconds)
        }),
    )?;
    let clv_fitted = trained.clv_s.take();
    let log = trained.log.take();
    let as_of = trained.at_s.as_of;

    let segments_started = Instant::now();
    let (model, file, assignment, warnings, refitted) = segmented?;
    for warning in &warnings {
        tracing::warn!("{warning}");
    }
    tracing::info!(k = model.k(), refitted, "segments ready");

    let refusals = gate(&trained.model, current.churn.as_ref().map(|c| &c.model), &plan.gates);
    let trained_json = trained.model.to_json()?;
    let trained_file = format!("churn-{as_of}-{}.json", content_id(&trained_json));
    let (scoring_model, scoring_file): (&ChurnModel, String) = match (refusals.is_empty(), &current.churn) {
        (true, _) => (&trained.model, trained_file.clone()),
        (false, Some(named)) => {
            tracing::warn!(
                "the new model is not promoted: {}; the current model {} keeps scoring",
                joined(&refusals),
                named.file
            );
            (&named.model, named.file.clone())
        }
        (false, None) => {
            return Err(Error::invalid(format!(
                "the new model did not pass its gates ({}) and there is no current model to score with; nothing \
                 was published",
                joined(&refusals)
            )))
        }
    };

    // `features.parquet` is encoded beside the segments' profiles and the drift's reference, and
    // kept as its bytes (a tenth of the table's size): the table would otherwise sit in memory
    // through scoring, the run's peak. The drift since the training snapshot is the last use of
    // that snapshot's features: measured now, they are let go before the lifetime values and the
    // scores.
    let (features_parquet, profiles, drift) = std::thread::scope(|scope| {
        let encoding = scope.spawn(|| {
            let started = Instant::now();
            let bytes = trained.at_s.to_parquet_bytes();
            tracing::debug!(seconds = started.elapsed().as_secs_f64(), "features.parquet encoded");
            bytes
        });
        let profiles = profiles_with_churn_rates(&model, &assignment, &trained);
        let drift = drift_reference(scoring_model, &trained);
        let encoded = encoding.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (encoded, profiles, drift)
    });
    let (features_parquet, profiles, drift) = (bytes::Bytes::from(features_parquet?), profiles?, drift?);
    trained.at_s.clear_rows();
    trained.train_frame = FeatureFrame::default();
    let segments = NightlySegments {
        model,
        file,
        assignment,
        warnings,
        refitted,
        profiles,
    };
    let segments_seconds = segments_seconds + segments_started.elapsed().as_secs_f64();

    let clv_started = Instant::now();
    let clv = nightly_clv(plan, &trained, log, clv_fitted, progress)?;
    let clv_seconds = clv_started.elapsed().as_secs_f64();

    let score_started = Instant::now();
    let scores = stage(progress, "scoring customers and writing the outputs", || {
        score(
            plan,
            &trained,
            &segments,
            (scoring_model, &scoring_file),
            clv.as_ref(),
            &uplift,
            drift,
        )
    })?;
    // Scored: the rest of the run (the manifest) counts the customers and reads no feature, and the
    // columns are a third of a gigabyte at a million customers while the outputs are written.
    trained.frame_s = trained.frame_s.ids_only();
    let promotion = Promotion {
        trained_json,
        trained_file,
        refusals,
        coefficients: scoring_model
            .columns
            .iter()
            .zip(&scoring_model.coefficients)
            .map(|(column, &coefficient)| Coefficient {
                column: column.clone(),
                coefficient,
            })
            .collect(),
        scoring_file,
    };
    let seconds = StageSeconds {
        segments: segments_seconds,
        clv: clv_seconds,
        score: score_started.elapsed().as_secs_f64(),
    };
    Ok(Nightly {
        trained,
        segments,
        promotion,
        clv,
        scores,
        uplift,
        seconds,
        features_parquet,
        started,
    })
}

/// Tonight's segments: `current`'s assignment of everyone, or a model fitted now (the model, its
/// file name, the assignment, the fit's warnings, and whether it was fitted).
fn segment(
    plan: &NightlyPlan,
    at_s: &FeatureTable,
    frame: &FeatureFrame,
    current: Option<Named<SegmentModel>>,
) -> Result<(SegmentModel, String, Assignment, Vec<String>, bool)> {
    let as_of = at_s.as_of;
    Ok(match current {
        Some(named) => {
            let assignment = named
                .model
                .assign(frame)
                .context_with(|| format!("cannot assign segments with the current model {}", named.file))?;
            (named.model, named.file, assignment, Vec::new(), false)
        }
        None => {
            let provenance = Provenance {
                as_of: Some(as_of.to_string()),
                input_fingerprint: Some(at_s.fingerprint.clone()),
            };
            let fit = fit_segments(frame, &plan.segments, provenance).context("cannot fit segments")?;
            let file = format!("segments-{as_of}-{}.json", content_id(&fit.model.to_json()?));
            (fit.model, file, fit.assignment, fit.warnings, true)
        }
    })
}

/// Profiles of tonight's customers, with each segment's churn rate: the training snapshot's
/// customers, in the segments they were in then, and whether they churned within the horizon after.
fn profiles_with_churn_rates(model: &SegmentModel, assignment: &Assignment, trained: &Trained) -> Result<Profiles> {
    let names = model.names();
    let mut profiles = profile_segments(&trained.frame_s, &names, assignment, "monetary_total", None)?;
    let then = model
        .assign(&trained.train_frame)
        .context("cannot assign the training snapshot to segments")?;
    for profile in &mut profiles.segments {
        let members: Vec<usize> = (0..then.segment.len())
            .filter(|&r| then.segment[r] == profile.id)
            .collect();
        profile.churn_rate = (!members.is_empty())
            .then(|| members.iter().filter(|&&r| trained.train_labels[r]).count() as f64 / members.len() as f64);
    }
    Ok(profiles)
}

/// Lifetime values, refitted each night on everything before `S`: value at risk becomes churn
/// probability x CLV. With `clv.churn_features`, training already fitted this model at `S`
/// (`fitted`), and it is used as it is.
fn nightly_clv(
    plan: &NightlyPlan,
    trained: &Trained,
    log: Option<TransactionLog>,
    fitted: Option<ClvRun>,
    progress: &dyn Progress,
) -> Result<Option<NightlyClv>> {
    let Some(params) = &plan.clv else {
        return Ok(None);
    };
    let as_of = trained.at_s.as_of;
    let run = match (fitted, log) {
        (Some(run), _) => run,
        (None, Some(log)) => stage(progress, "fitting lifetime values", || {
            compute_clv_from(|period| log.purchase_history(Some(as_of), period), params, None)
        })?,
        (None, None) => stage(progress, "fitting lifetime values", || {
            let features = FeatureParams {
                as_of: Some(as_of),
                ..plan.train.features.clone()
            };
            compute_clv(&plan.train.input, &features, params, None)
        })?,
    };
    let json = run.model.to_json()?;
    let file = format!("clv-{as_of}-{}.json", content_id(&json));
    let table = run.table()?.with_metadata("churn.clv_model", &file);
    Ok(Some(NightlyClv { run, json, file, table }))
}

/// Scores everyone with the scoring model (and its file name), the at-risk list, the changes and
/// the drift (finished from `drift` with tonight's scores, and warned about here).
fn score(
    plan: &NightlyPlan,
    trained: &Trained,
    segments: &NightlySegments,
    (model, model_file): (&ChurnModel, &str),
    clv: Option<&NightlyClv>,
    uplift: &Uplift,
    drift: DriftReference,
) -> Result<NightlyScores> {
    // Debug timings of the steps, from the start of the stage.
    let started = Instant::now();
    let lap = |what: &str| tracing::debug!(seconds = started.elapsed().as_secs_f64(), "{what}");
    let frame = &trained.frame_s;
    let values = clv.map(|c| c.run.values_for(frame.ids())).transpose()?;
    let outlooks = clv
        .map(|c| c.run.outlooks_for(frame.ids(), model.horizon_days))
        .transpose()?;
    let as_of = trained.at_s.as_of;
    let next = match &outlooks {
        Some(outlooks) => NextPurchaseFrom::Given(as_of, outlooks),
        None => NextPurchaseFrom::Rhythm(as_of),
    };
    let next_purchase_model = next.model_name(model);
    let names = segments.model.names();
    let segment_names: Vec<&str> = segments.assignment.segment.iter().map(|&s| names[s]).collect();
    let scored = score_customers(
        model,
        frame,
        Some(&segment_names),
        values.as_deref(),
        &plan.score.bands,
        &plan.score.actions,
        next,
    )
    .context_with(|| format!("cannot score with {model_file}"))?;
    lap("customers scored");
    // Each file's schema metadata: the run's provenance, then the model it came from.
    let as_of = trained.at_s.as_of.to_string();
    let provenance = [
        ("churn.as_of", as_of.as_str()),
        ("churn.input_fingerprint", trained.at_s.fingerprint.as_str()),
        ("churn.tool_version", crate::TOOL_VERSION),
    ];
    // The scores and segments files are encoded first, and their compressed bytes kept until the
    // run writes: the columns of a million customers' scores and segments are hundreds of megabytes,
    // better made a slice at a time and let go before the at-risk list's text is (150 MB at a
    // million customers).
    let models = [
        ("churn.churn_model", model_file),
        ("churn.next_purchase_model", next_purchase_model),
    ];
    let scores_parquet = bytes::Bytes::from(scores_parquet(
        Path::new("scores.parquet"),
        &scored,
        &[&provenance[..], &models[..]].concat(),
    )?);
    lap("scores encoded");
    let segments_parquet = arrays_to_parquet_bytes(
        Path::new("segments.parquet"),
        segments_columns(frame.ids(), &names, &segments.assignment),
        &[&provenance[..], &[("churn.segment_model", segments.file.as_str())]].concat(),
    )?;
    lap("scores and segments encoded");
    // The list as it would be, then the control group taken out of it into holdout.csv: the
    // treated and the held-out customers are ranked and chosen alike, so they compare.
    let is_control = |id: &str| plan.score.holdout.as_ref().is_some_and(|h| h.is_control(id));
    let holdout = plan.score.holdout.as_ref();
    let (split, budget) = match plan.score.budget {
        None => {
            let list = at_risk(&scored, plan.score.top);
            lap("at-risk list drawn");
            (split_holdout(list, holdout)?, None)
        }
        Some(budget) => {
            let measured = uplift.measured_uplift();
            let gains = expected_gains(&scored, &plan.score.actions, &measured);
            let list = within_budget(&scored, &gains, budget, holdout);
            let summary = BudgetSummary {
                contacts: match budget {
                    Budget::Contacts(n) => Some(n),
                    Budget::Money(_) => None,
                },
                money: match budget {
                    Budget::Money(m) => Some(m),
                    Budget::Contacts(_) => None,
                },
                spent: list.spent,
                expected_gain: list.listed.iter().map(|(_, g)| g.expected_gain).sum(),
                measured_uplifts: list.listed.iter().filter(|(_, g)| g.measured).count(),
            };
            (list.into_split(holdout.is_some())?, Some(summary))
        }
    };
    let (list, held_out, at_risk_csv, holdout_csv) =
        (split.listed, split.held_out, split.at_risk_csv, split.holdout_csv);
    lap("at-risk list formatted");
    let at_risk_count = list.len();
    let held_out_count = held_out.len();
    let value_at_risk: f64 = list.iter().map(|s| s.value_at_risk).sum();
    let kpis = kpis(trained, segments, &list, values.as_deref())?;
    // A control customer is never on the list, so never enters or leaves it in changes.csv. Within
    // a budget, being on the list is being chosen, not only being at risk.
    let chosen: Option<std::collections::HashSet<&str>> =
        budget.is_some().then(|| list.iter().map(|s| s.customer_id).collect());
    let flags: Vec<bool> = scored
        .iter()
        .map(|s| match &chosen {
            Some(chosen) => chosen.contains(s.customer_id),
            None => s.risk_band.is_at_risk() && !is_control(s.customer_id),
        })
        .collect();
    drop((chosen, list, held_out));
    let change_rows = match &plan.previous_run {
        Some(previous) => changes(previous, frame.ids(), &flags, &segment_names)?,
        None => Vec::new(),
    };
    lap("changes found");
    let drift = drift.finish(&scored);
    drop(scored);
    for d in std::iter::once(&drift.score)
        .chain(&drift.features)
        .filter(|d| d.level == churn_score::DriftLevel::Major && !drifts_by_construction(&d.name))
    {
        tracing::warn!(
            "{} has shifted since the training snapshot {}: population stability index {:.3}",
            d.name,
            trained.training_snapshot,
            d.psi
        );
    }
    Ok(NightlyScores {
        scores_parquet,
        segments_parquet,
        kpis,
        holdout_csv,
        held_out: held_out_count,
        at_risk_csv,
        at_risk: at_risk_count,
        budget,
        value_at_risk,
        changes: change_rows,
        drift,
    })
}

/// Tonight's retention figures, in total and per segment (see [`Kpis`]). `list` is the at-risk
/// list as published; `values` each customer's lifetime value, with `[clv]`.
fn kpis(
    trained: &Trained,
    segments: &NightlySegments,
    list: &[&churn_score::ScoredCustomer<'_>],
    values: Option<&[f64]>,
) -> Result<Kpis> {
    let frequency = trained.frame_s.required("frequency")?;
    let assigned = &segments.assignment.segment;
    let names = segments.model.names();
    let share = |part: u64, whole: u64| (whole > 0).then(|| part as f64 / whole as f64);
    let row = |name: &str, members: &dyn Fn(usize) -> bool, churn_rate: Option<f64>| {
        let rows: Vec<usize> = (0..frequency.len()).filter(|&r| members(r)).collect();
        let n = rows.len() as u64;
        let repeat = rows.iter().filter(|&&r| frequency[r] >= 2.0).count() as u64;
        let total_clv = values.map(|v| rows.iter().map(|&r| v[r]).sum::<f64>());
        KpiRow {
            segment: name.to_string(),
            customers: n,
            churn_rate,
            repeat_purchase_rate: share(repeat, n),
            mean_clv: total_clv.and_then(|t| (n > 0).then(|| t / n as f64)),
            total_clv,
            at_risk: 0,
            value_at_risk: 0.0,
        }
    };
    let mut all = row("all", &|_| true, share(trained.churners, trained.customers as u64));
    let mut by_segment: Vec<KpiRow> = names
        .iter()
        .enumerate()
        .map(|(id, name)| {
            let churn_rate = segments
                .profiles
                .segments
                .iter()
                .find(|p| p.id == id)
                .and_then(|p| p.churn_rate);
            row(name, &|r| assigned[r] == id, churn_rate)
        })
        .collect();
    for s in list {
        all.at_risk += 1;
        all.value_at_risk += s.value_at_risk;
        if let Some(row) = by_segment.iter_mut().find(|k| Some(k.segment.as_str()) == s.segment) {
            row.at_risk += 1;
            row.value_at_risk += s.value_at_risk;
        }
    }
    Ok(Kpis {
        all,
        segments: by_segment,
    })
}

/// Inputs that shift between the training snapshot and tonight by construction, whatever the data:
/// tenure (everyone is one horizon older). Their drift is reported, never raised as an alarm.
pub fn drifts_by_construction(input: &str) -> bool {
    input.contains("tenure_days")
}

/// What the drift needs from the training snapshot, taken before its features go: each model
/// input's drift from then to now, and the scoring model's probabilities then. The score's own
/// drift is finished with tonight's scores ([`DriftReference::finish`]), so no one is scored twice.
struct DriftReference {
    snapshot: String,
    features: Vec<churn_score::Drift>,
    training_scores: Vec<Option<f64>>,
}

/// See [`DriftReference`].
fn drift_reference(model: &ChurnModel, trained: &Trained) -> Result<DriftReference> {
    let (training, now): (&FeatureFrame, &FeatureFrame) = (&trained.train_frame, &trained.frame_s);
    let mut columns: Vec<&str> = Vec::new();
    for input in &model.design.inputs {
        let column = input.spec.column();
        if !columns.contains(&column) {
            columns.push(column);
        }
    }
    let pairs = columns
        .iter()
        .map(|&c| Ok((c, training.numeric_column(c)?, now.numeric_column(c)?)))
        .collect::<Result<Vec<_>>>()?;
    // Each PSI selects deciles among a million values: the inputs are shared out over the cores,
    // and the results kept in input order.
    let features: Vec<churn_score::Drift> = churn_core::parallel_map(&pairs, |(c, then, now)| {
        population_stability(c, then.iter(), now.iter())
    });
    let training_scores: Vec<Option<f64>> = model
        .predict(training)
        .context("cannot score the training snapshot for the drift of the score")?
        .into_iter()
        .map(Some)
        .collect();
    Ok(DriftReference {
        snapshot: trained.training_snapshot.to_string(),
        features,
        training_scores,
    })
}

impl DriftReference {
    /// Each model input's drift and the score's, from the training snapshot to tonight's scores.
    fn finish(self, scored: &[churn_score::ScoredCustomer<'_>]) -> DriftSummary {
        let current: Vec<Option<f64>> = scored.iter().map(|s| Some(s.churn_probability)).collect();
        DriftSummary {
            reference_snapshot: self.snapshot,
            features: self.features,
            score: population_stability(
                "churn_probability",
                self.training_scores.iter().copied(),
                current.iter().copied(),
            ),
        }
    }
}

/// Writes `bytes` to `path`, synced (large contents bypass the page cache: see
/// [`crate::durable`]), and returns their hash and size for the manifest: from the bytes in memory,
/// which are the file's, so the file is not read back.
fn write_synced(path: &Path, bytes: &[u8]) -> Result<(String, u64)> {
    write_synced_chunks(path, || std::iter::once(bytes))
}

/// [`write_synced`] of a file in pieces (the at-risk list's rows), hashed as it is written.
fn write_synced_chunks<'a, I: Iterator<Item = &'a [u8]>>(path: &Path, chunks: impl Fn() -> I) -> Result<(String, u64)> {
    let written = crate::durable::write_synced_chunks(path, chunks).map_err(|e| io_error("write", path, e))?;
    Ok((format!("blake3:{}", written.hash.to_hex()), written.len))
}

/// `blake3:<hex>` of a file's bytes, and its size.
pub fn hash_file(path: &Path) -> Result<(String, u64)> {
    let mut hasher = blake3::Hasher::new();
    let mut file = std::fs::File::open(path).map_err(|e| io_error("read", path, e))?;
    let size = std::io::copy(&mut file, &mut hasher).map_err(|e| io_error("read", path, e))?;
    Ok((format!("blake3:{}", hasher.finalize().to_hex()), size))
}

/// The input files hashed at the end of a run, in one read.
#[derive(Debug, Clone, PartialEq)]
pub struct InputHashes {
    /// Each file with its size and hash, for the manifest.
    pub files: Vec<FileEntry>,
    /// The input fingerprint (the one the features carry), so a caller can check that the content
    /// did not change while it was read.
    pub fingerprint: String,
}

/// Hashes every input file: each on its own for the manifest, and all together into the input
/// fingerprint, from one read of each file.
pub fn hash_inputs(transactions: &str) -> Result<InputHashes> {
    let (fingerprint, files) = churn_features::hash_files(&input_files(transactions)?, true)?;
    Ok(InputHashes {
        files: files
            .into_iter()
            .map(|f| FileEntry {
                path: f.path.display().to_string(),
                bytes: f.bytes,
                hash: f.hash,
            })
            .collect(),
        fingerprint,
    })
}

/// A run's identity and where it stands, for the manifest.
#[derive(Debug, Clone)]
pub struct RunRecord {
    /// Unique per run.
    pub run_id: String,
    /// Every input file, hashed.
    pub inputs: Vec<FileEntry>,
    /// Every output written by [`Nightly::write_outputs`].
    pub outputs: BTreeMap<String, OutputEntry>,
}

/// Writes one of the run's files (once).
type Write<'a> = Box<dyn FnOnce() -> Result<(String, u64)> + Send + 'a>;

impl Nightly {
    /// `features.parquet`'s bytes, as [`Nightly::write_outputs`] writes them (shared, not copied).
    pub fn features_parquet(&self) -> bytes::Bytes {
        self.features_parquet.clone()
    }

    /// Writes the run's files into `dir` (each synced): `features.parquet`, `segments.parquet`,
    /// `scores.parquet`, `at_risk.csv`, `changes.csv`, `segment_profiles.csv`, `uplift.csv` and, with lifetime
    /// values, `clv.parquet`. Returns each file's size and hash. The manifest, the report and the
    /// success marker are the caller's.
    ///
    pub fn write_outputs(&self, dir: &Path) -> Result<BTreeMap<String, OutputEntry>> {
        let this = self;
        let path = |name: &str| dir.join(name);
        let changes_csv = write_changes(&this.scores.changes)?;
        let uplift_csv = this.uplift.to_csv()?;
        let mut profile_csv = Vec::new();
        this.segments.profiles.write_csv(&mut profile_csv)?;
        // Each file is encoded, compressed, synced and hashed on its own thread: one after another
        // they took two seconds at a million customers, most of it one core compressing while the
        // other waited. Errors are reported in the order of the list, whatever finishes first.
        let mut writes: Vec<(&str, Write<'_>)> = vec![
            (
                "features.parquet",
                Box::new(|| write_synced(&path("features.parquet"), &this.features_parquet)),
            ),
            (
                "segments.parquet",
                Box::new(|| write_synced(&path("segments.parquet"), &this.scores.segments_parquet)),
            ),
            (
                "scores.parquet",
                Box::new(|| write_synced(&path("scores.parquet"), &this.scores.scores_parquet)),
            ),
            (
                "at_risk.csv",
                Box::new(|| write_synced_chunks(&path("at_risk.csv"), || this.scores.at_risk_csv.pieces())),
            ),
            (
                "changes.csv",
                Box::new(|| write_synced(&path("changes.csv"), &changes_csv)),
            ),
            (
                "segment_profiles.csv",
                Box::new(|| write_synced(&path("segment_profiles.csv"), &profile_csv)),
            ),
            (UPLIFT_FILE, Box::new(|| write_synced(&path(UPLIFT_FILE), &uplift_csv))),
        ];
        if let Some(csv) = &this.scores.holdout_csv {
            writes.push((
                "holdout.csv",
                Box::new(|| write_synced_chunks(&path("holdout.csv"), || csv.pieces())),
            ));
        }
        if let Some(c) = &this.clv {
            writes.push((
                "clv.parquet",
                Box::new(|| {
                    write_table(&path("clv.parquet"), &c.table)?;
                    hash_file(&path("clv.parquet"))
                }),
            ));
        }
        let names: Vec<&str> = writes.iter().map(|(name, _)| *name).collect();
        let written: Vec<Result<(String, u64)>> = std::thread::scope(|scope| {
            let handles: Vec<_> = writes.into_iter().map(|(_, write)| scope.spawn(write)).collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
                .collect()
        });
        let mut outputs = BTreeMap::new();
        for (name, result) in names.into_iter().zip(written) {
            let (hash, bytes) = result?;
            outputs.insert(name.to_string(), OutputEntry { bytes, hash });
        }
        Ok(outputs)
    }

    /// The models to save in the models directory (file name, JSON), and the registry naming the
    /// ones in use. The caller saves them all, then the registry, as one unit.
    pub fn models(&self) -> Result<(Vec<(String, String)>, Registry)> {
        let mut models = vec![(self.promotion.trained_file.clone(), self.promotion.trained_json.clone())];
        if self.segments.refitted {
            models.push((self.segments.file.clone(), self.segments.model.to_json()?));
        }
        if let Some(c) = &self.clv {
            models.push((c.file.clone(), c.json.clone()));
        }
        let registry = Registry {
            churn: Some(self.promotion.scoring_file.clone()),
            segments: Some(self.segments.file.clone()),
            clv: self.clv.as_ref().map(|c| c.file.clone()),
        };
        Ok((models, registry))
    }

    /// What `uplift.csv` holds, for the manifest.
    fn uplift_summary(&self) -> UpliftSummary {
        let u = &self.uplift;
        let runs: std::collections::BTreeSet<&str> = u.rows.iter().map(|r| r.measured_run.as_str()).collect();
        UpliftSummary {
            file: UPLIFT_FILE.to_string(),
            measured_runs: runs.len(),
            rows: u.rows.len(),
            measured_tonight: u.measured.clone(),
            carried: u.carried.len(),
            skipped: u.skipped.clone(),
            latest: u.latest_total().map(|r| UpliftTotal {
                measured_run: r.measured_run.clone(),
                as_of: r.as_of.to_string(),
                window_end: r.window_end.to_string(),
                treatment_customers: r.treatment_customers,
                control_customers: r.control_customers,
                retained_uplift: r.retained_uplift,
                retained_uplift_low: r.retained_interval.map(|i| i.low),
                retained_uplift_high: r.retained_interval.map(|i| i.high),
                revenue_uplift_per_customer: r.revenue_uplift,
                incremental_revenue: r.incremental_revenue,
            }),
        }
    }

    /// The manifest of the run.
    pub fn manifest(&self, plan: &NightlyPlan, record: RunRecord) -> Manifest {
        let trained = &self.trained;
        let as_of = trained.at_s.as_of.to_string();
        let r = &trained.at_s.report;
        let (input, features) = (&plan.train.input, &plan.train.features);
        let model_params = &plan.train.model;
        Manifest {
            format: MANIFEST_FORMAT.to_string(),
            version: MANIFEST_VERSION,
            tool_version: crate::TOOL_VERSION.to_string(),
            run_id: record.run_id,
            as_of: as_of.clone(),
            horizon_days: plan.train.horizon_days,
            inputs: record.inputs,
            input_fingerprint: trained.at_s.fingerprint.clone(),
            settings: RunSettingsEcho {
                input: InputEcho {
                    transactions: input.transactions.clone(),
                    customers: input.customers.as_ref().map(|p| p.display().to_string()),
                    signup_column: input.signup_column.clone(),
                    columns: input.columns.clone(),
                    filter: input.filter.clone(),
                    delimiter: format!("{:?}", input.text.delimiter),
                    has_header: input.text.has_header,
                    column_names: input.text.column_names.clone(),
                    timezone: input.timezone.map(|tz| tz.name().to_string()),
                    timestamp_format: input.timestamp_format.clone(),
                    drop_duplicates: features.drop_duplicates,
                    max_abs_amount: features.max_abs_amount,
                    custom_features: features
                        .custom
                        .iter()
                        .map(|c| CustomFeatureEcho {
                            name: c.name.clone(),
                            sql: c.sql.clone(),
                        })
                        .collect(),
                    memory_limit_bytes: features.memory_limit_bytes,
                    cluster: features.cluster.clone(),
                },
                output_dir: plan.output_dir.display().to_string(),
                models_dir: plan.models_dir.display().to_string(),
                horizon_days: plan.train.horizon_days,
                as_of: as_of.clone(),
                segments: SegmentsEcho {
                    k: format!("{:?}", plan.segments.k),
                    features: plan.segments.features.iter().map(ToString::to_string).collect(),
                    seed: plan.segments.seed,
                    refit: self.segments.refitted,
                },
                model: ModelEcho {
                    features: model_params.features.iter().map(ToString::to_string).collect(),
                    l2: model_params.l2,
                    train_sample: model_params.train_sample,
                    seed: model_params.seed,
                },
                gates: plan.gates,
                score: ScoreEcho {
                    bands: plan.score.bands,
                    top: plan.score.top,
                    actions: plan.score.actions.clone(),
                },
            },
            rows: Rows {
                read: r.rows_read,
                used: r.rows_used,
                missing_customer_id: r.rows_missing_customer,
                on_or_after_as_of: r.rows_on_or_after_as_of,
                filtered_by_where: r.rows_filtered_out,
                duplicate: r.rows_duplicate,
                duplicates_dropped: r.duplicates_dropped,
                shared_orders: r.shared_orders,
            },
            customers: trained.frame_s.len(),
            kpis: Some(self.scores.kpis.clone()),
            customers_table: r.customers_table.clone(),
            segments: SegmentsSummary {
                model: self.segments.file.clone(),
                refitted: self.segments.refitted,
                k: self.segments.model.k(),
                warnings: self.segments.warnings.clone(),
            },
            model: ModelSummary {
                trained: self.promotion.trained_file.clone(),
                promoted: self.promotion.promoted(),
                refusals: self.promotion.refusals.iter().map(ToString::to_string).collect(),
                scoring_model: self.promotion.scoring_file.clone(),
                training_snapshot: trained.training_snapshot.to_string(),
                evaluation_fit_snapshot: trained.evaluation_fit_snapshot.to_string(),
                evaluation: trained.model.evaluation.clone(),
                warnings: trained.model.warnings.clone(),
                training_customers: trained.customers,
                training_churners: trained.churners,
                coefficients: self.promotion.coefficients.clone(),
            },
            clv: self.clv.as_ref().map(|NightlyClv { run, file, .. }| ClvSummary {
                model: file.clone(),
                bgnbd: run.model.bgnbd,
                gamma_gamma: run.model.gamma_gamma,
                data: run.model.data,
                time_unit: run.model.time_unit.name().to_string(),
                merge_days: run.settings.period_days,
                horizon_days: run.settings.horizon_days,
                annual_discount_rate: run.settings.annual_discount_rate,
                total_clv: run.predictions.iter().map(|p| p.clv).sum(),
            }),
            holdout: plan.score.holdout.as_ref().map(|h| HoldoutSummary {
                share: h.share,
                salt: h.salt.clone(),
                customers: self.scores.held_out,
            }),
            uplift: Some(self.uplift_summary()),
            at_risk: AtRiskSummary {
                customers: self.scores.at_risk,
                value_at_risk: self.scores.value_at_risk,
                value_basis: if self.clv.is_some() {
                    ValueBasis::Clv
                } else {
                    ValueBasis::Spend365d
                },
                budget: self.scores.budget.clone(),
            },
            changes: self.scores.changes.len(),
            drift: self.scores.drift.clone(),
            report: REPORT_FILE.to_string(),
            timings: Timings {
                features_seconds: trained.timings.features_seconds,
                evaluation_seconds: trained.timings.evaluation_seconds,
                fit_seconds: trained.timings.fit_seconds,
                segments_seconds: self.seconds.segments,
                clv_seconds: self.seconds.clv,
                score_seconds: self.seconds.score,
                total_seconds: self.started.elapsed().as_secs_f64(),
            },
            outputs: record.outputs,
        }
    }
}
