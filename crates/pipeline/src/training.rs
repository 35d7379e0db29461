//! Training: the snapshots at `S`, `S - H` and `S - 2H`, honest labels, the out-of-time evaluation
//! beside the baselines, and the production model fitted on `S - H`.

use std::path::PathBuf;
use std::time::Instant;

use chrono::{Duration, NaiveDate};
use churn_clv::ValidClvParams;
use churn_core::FeatureFrame;
use churn_features::{
    read_customer_table, read_log, Activity, FeatureParams, FeatureTable, InputSpec, TransactionLog,
    FEATURE_SET_VERSION,
};
use churn_score::{
    churn_labels, evaluate_holdout, evaluate_out_of_time, explicit_labels, rhythm::RHYTHM_MIN_BUYERS,
    train as fit_model, ChurnModel, RhythmModel, TrainingSource, ValidModelParams,
};

use crate::error::{Context, Error, Result};
use crate::lifetime::{compute_clv_from, ClvRun};
use crate::progress::{stage, Progress};

/// The churn horizon `H` when none is configured.
pub const DEFAULT_HORIZON_DAYS: i64 = 90;

/// Explicit churn labels: a column of the customers table, evaluated on a held-out share.
#[derive(Debug, Clone, PartialEq)]
pub struct ExplicitLabels {
    /// The customers table.
    pub customers: PathBuf,
    /// Its label column.
    pub column: String,
    /// The share of the training snapshot held out for the evaluation.
    pub holdout_share: f64,
}

/// Everything training needs, resolved and checked.
#[derive(Debug, Clone)]
pub struct TrainPlan {
    /// The transactions.
    pub input: InputSpec,
    /// Feature parameters; `as_of` is the snapshot `S` (or `None`: the day after the data).
    pub features: FeatureParams,
    /// The churn horizon `H` in days (at least 1).
    pub horizon_days: i64,
    /// The model.
    pub model: ValidModelParams,
    /// Only customers who bought within this many days of each snapshot.
    pub active_within_days: Option<f64>,
    /// Explicit labels instead of labels from purchases.
    pub explicit_labels: Option<ExplicitLabels>,
    /// `clv.churn_features`: every snapshot gets the lifetime-value model's `p_alive` and expected
    /// purchases, fitted on the rows before that snapshot, as features.
    pub clv_features: Option<ValidClvParams>,
}

/// Where the time of training went.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TrainTimings {
    /// The snapshots (and their lifetime-value features).
    pub features_seconds: f64,
    /// The evaluation: fitting the model and baselines on the earlier snapshot, scoring the later.
    pub evaluation_seconds: f64,
    /// The production fit.
    pub fit_seconds: f64,
}

/// A trained model and what it was trained from.
#[derive(Debug)]
pub struct Trained {
    /// The production model, with its evaluation.
    pub model: ChurnModel,
    /// The features at the as-of date `S` (the snapshot to score). A nightly run encodes them as
    /// `features.parquet` while it segments, then keeps only the table's schema and provenance.
    pub at_s: FeatureTable,
    /// `at_s` as a frame, with the lifetime-value features when the model uses them (a nightly run
    /// keeps only its ids once everyone is scored).
    pub frame_s: FeatureFrame,
    /// The lifetime-value fit at `S` when the model uses its outputs (`clv.churn_features`).
    pub clv_s: Option<ClvRun>,
    /// The training snapshot `S - H`.
    pub training_snapshot: NaiveDate,
    /// The snapshot the evaluation fitted on (`S - 2H`).
    pub evaluation_fit_snapshot: NaiveDate,
    /// Customers of the training snapshot (after the activity filter).
    pub customers: usize,
    /// Of those, churned.
    pub churners: u64,
    /// The training snapshot's customers (a nightly run lets them go once the drift is measured)...
    pub train_frame: FeatureFrame,
    /// ...and their labels.
    pub train_labels: Vec<bool>,
    /// Where the time went.
    pub timings: TrainTimings,
    /// The log every snapshot came from, for later stages that read the transactions (lifetime
    /// values): kept by [`train_keeping_log`] only, `None` once taken.
    pub log: Option<TransactionLog>,
}

/// The snapshot as a frame (of the rows `rows`, or all), with the lifetime-value features when
/// `clv.churn_features` is on (the log is then required): a BG/NBD + Gamma-Gamma model fitted on
/// the rows before the snapshot, like every other feature, so the training and evaluation
/// snapshots see what the scored one sees. Returns the fit too.
fn snapshot_frame(
    plan: &TrainPlan,
    log: Option<&TransactionLog>,
    table: &FeatureTable,
    rows: Option<&[usize]>,
    progress: &dyn Progress,
    what: &str,
) -> Result<(FeatureFrame, Option<ClvRun>)> {
    let frame = match rows {
        Some(rows) => table.to_frame_rows(rows)?,
        None => table.to_frame()?,
    };
    let Some(clv) = &plan.clv_features else {
        return Ok((frame, None));
    };
    let log = log.ok_or_else(|| {
        Error::invalid("the lifetime-value features need the transaction log, which was let go; this is a bug")
    })?;
    let run = stage(progress, &format!("fitting lifetime values for {what}"), || {
        compute_clv_from(|period| log.purchase_history(Some(table.as_of), period), clv, None)
    })
    .map_err(|e| Error::Step {
        what: format!("cannot compute the lifetime-value features for {what}"),
        source: Box::new(e),
    })?;
    let frame = run.with_churn_features(frame)?;
    Ok((frame, Some(run)))
}

/// The model with its rhythm of the next purchase fitted on the training snapshot `frame` and the
/// purchases of the label window. A fit that cannot be made leaves the model without one (its
/// scores then carry no next purchase) and says why in the model's warnings: the churn scores do
/// not depend on it.
fn with_rhythm(mut model: ChurnModel, frame: &FeatureFrame, window: &Activity) -> ChurnModel {
    let started = Instant::now();
    let fit = RhythmModel::fit_frame(&model, frame, &window.first_purchase_days_of(frame.ids()));
    tracing::debug!(
        seconds = started.elapsed().as_secs_f64(),
        "rhythm of the next purchase fitted"
    );
    match fit {
        Ok(Some(rhythm)) => model.rhythm = Some(rhythm),
        Ok(None) => model.warnings.push(format!(
            "fewer than {RHYTHM_MIN_BUYERS} customers of the training snapshot bought in the label window: no \
             next-purchase dates without [clv]"
        )),
        Err(e) => model.warnings.push(format!(
            "cannot fit the rhythm of the next purchase ({e}): no next-purchase dates without [clv]"
        )),
    }
    model
}

/// The rows of `frame` (a snapshot's `recency_days`) whose customers bought within `days` of the
/// snapshot; `None` (everyone) without a limit.
fn active_rows(frame: &FeatureFrame, days: Option<f64>) -> Result<Option<Vec<usize>>> {
    let Some(days) = days else { return Ok(None) };
    let recency = frame.required("recency_days")?;
    Ok(Some((0..frame.len()).filter(|&r| recency[r] <= days).collect()))
}

/// Wraps a pipeline error as the cause of a step.
fn step(what: String) -> impl FnOnce(Error) -> Error {
    move |e| Error::Step {
        what,
        source: Box::new(e),
    }
}

/// Computes the snapshots, labels, evaluation and production model (nothing is written). The log
/// is dropped after the last snapshot, before the models are fitted: it is the largest thing held.
pub fn train(plan: &TrainPlan, progress: &dyn Progress) -> Result<Trained> {
    train_with(plan, false, progress, |_, _| Ok(()), ("", nothing_beside)).map(|(trained, (), ())| trained)
}

/// [`train`], keeping the log in [`Trained::log`] for a later stage that reads the transactions.
pub fn train_keeping_log(plan: &TrainPlan, progress: &dyn Progress) -> Result<Trained> {
    train_with(plan, true, progress, |_, _| Ok(()), ("", nothing_beside)).map(|(trained, (), ())| trained)
}

/// Nothing to do beside the fits.
fn nothing_beside(_: &FeatureTable, _: &FeatureFrame) {}

/// What the evaluation fits on, once the log is let go.
enum EvaluationFit {
    /// A held-out share of the training snapshot.
    Holdout(f64),
    /// The snapshot `S - 2H` and its labels.
    OutOfTime(FeatureFrame, Vec<bool>),
}

/// How the model is evaluated: its snapshot is computed before the log is let go.
enum Evaluation<'a> {
    /// On a held-out share of the training snapshot, labelled from the customers table.
    Holdout(&'a ExplicitLabels),
    /// Fitted on the snapshot `S - 2H` (this frame of its active customers), evaluated on `S - H`.
    OutOfTime(FeatureFrame),
}

/// [`train`], keeping the log in [`Trained::log`] when `keep_log`, and running `with_log` on the
/// log and the as-of date `S` once the snapshots are taken and before the log is let go: a stage
/// that needs one more look at the transactions gets it without holding them through the fits.
///
/// `beside` (what it does, for the progress line, and the work) runs on tonight's features (the as-of
/// table and its frame), on its own thread while the models are fitted, and its output is returned
/// as it is, after any error of the training itself.
/// The fits leave a core idle for stretches (one fit ends before the other; the evaluation's
/// metrics are one thread): work that does not need the model fills them instead of waiting.
pub fn train_with<T, U: Send>(
    plan: &TrainPlan,
    keep_log: bool,
    progress: &dyn Progress,
    with_log: impl FnOnce(&TransactionLog, NaiveDate) -> Result<T>,
    (beside_what, beside): (&str, impl FnOnce(&FeatureTable, &FeatureFrame) -> U + Send),
) -> Result<(Trained, T, U)> {
    let started = Instant::now();
    let h = plan.horizon_days;
    // The log is read and validated once; every snapshot is an aggregation over its compact form.
    let on_cluster = match &plan.features.cluster {
        Some(url) => format!(" on the cluster {url}"),
        None => String::new(),
    };
    let log = stage(
        progress,
        &format!("reading {}{on_cluster}", plan.input.transactions),
        || read_log(&plan.input, &plan.features),
    )
    .context("cannot compute the features for the as-of date")?;
    let s = log
        .snapshot_date(plan.features.as_of)
        .context("cannot compute the features for the as-of date")?;
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
    // The snapshots are independent passes over the log: the earlier two run on a second thread
    // while the first computes tonight's and reads when the training snapshot's customers first
    // bought in the label window (what the rhythm of the next purchase is fitted on). No frame is
    // made while the log is held: a snapshot being built holds its customers' aggregates beside its
    // table, and two of those beside the log and tonight's frame were the run's peak of memory.
    let out_of_time = plan.explicit_labels.is_none();
    let (at_s, window, at_c1, at_c2) = stage(
        progress,
        "computing features for the as-of date and the earlier snapshots",
        || {
            std::thread::scope(|scope| {
                let earlier = scope.spawn(|| (log.features(Some(c1)), out_of_time.then(|| log.features(Some(c2)))));
                let at_s = log.features(Some(s));
                let window_started = Instant::now();
                let window = log.activity(c1, s);
                tracing::debug!(
                    seconds = window_started.elapsed().as_secs_f64(),
                    "label window's purchases read"
                );
                let (at_c1, at_c2) = earlier.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                (at_s, window, at_c1, at_c2)
            })
        },
    );
    // Errors in the order the snapshots matter: `S`, then the training and evaluation-fit ones.
    let at_s = at_s.context("cannot compute the features for the as-of date")?;
    let at_c1 = at_c1
        .context_with(|| format!("cannot compute the features for the training snapshot {c1}"))
        .map_err(step(history(c1, "training")))?;
    let at_c2 = at_c2
        .transpose()
        .context_with(|| format!("cannot compute the features for the evaluation-fit snapshot {c2}"))
        .map_err(step(history(c2, "evaluation-fit")))?;
    let window = window.context_with(|| format!("cannot read the purchases of the label window {c1} to {s}"))?;
    let extra = with_log(&log, s)?;
    // Every snapshot is taken: the log goes now, before the tables become frames, unless a later
    // stage or the frames' lifetime-value features read it (then it goes after the frames).
    let log = (keep_log || plan.clv_features.is_some()).then_some(log);

    // Tonight's frame on one thread. On the other, the earlier snapshots become frames of their
    // active customers only (the ones fitted on), one after the other, each table let go as soon
    // as its frame is made. Everyone's recency at the training snapshot stays, for the evaluation
    // fit's labels.
    let frames_started = Instant::now();
    let (frame_s, earlier) = std::thread::scope(|scope| {
        let tonight = scope.spawn(|| snapshot_frame(plan, log.as_ref(), &at_s, None, progress, "the as-of date"));
        let earlier = (|| -> Result<_> {
            let recency_c1 = at_c1.to_frame_columns(&["recency_days"])?;
            let c1_rows = active_rows(&recency_c1, plan.active_within_days)?;
            let what = format!("the training snapshot {c1}");
            let train_frame = snapshot_frame(plan, log.as_ref(), &at_c1, c1_rows.as_deref(), progress, &what);
            drop(at_c1);
            let fit_frame = match (&plan.explicit_labels, at_c2) {
                (None, Some(at_c2)) => Some(
                    at_c2
                        .to_frame_columns(&["recency_days"])
                        .map_err(Error::from)
                        .and_then(|recency| active_rows(&recency, plan.active_within_days))
                        .and_then(|rows| {
                            let what = format!("the evaluation-fit snapshot {c2}");
                            snapshot_frame(plan, log.as_ref(), &at_c2, rows.as_deref(), progress, &what)
                        }),
                ),
                _ => None,
            };
            Ok((recency_c1, train_frame, fit_frame))
        })();
        let tonight = tonight.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (tonight, earlier)
    });
    let (frame_s, clv_s) = frame_s?;
    let (recency_c1, train_frame, fit_frame) = earlier?;
    let (train_frame, _) = train_frame?;
    let source = |date: NaiveDate| TrainingSource {
        snapshot: Some(date.to_string()),
        label_window: Some([date.to_string(), (date + Duration::days(h)).to_string()]),
        input_fingerprint: Some(at_s.fingerprint.clone()),
        feature_set_version: FEATURE_SET_VERSION.to_string(),
    };

    let how = match (&plan.explicit_labels, fit_frame) {
        (Some(explicit), _) => Evaluation::Holdout(explicit),
        (None, None) => {
            return Err(Error::invalid(format!(
                "the evaluation-fit snapshot {c2} was not computed"
            )))
        }
        (None, Some(fit_frame)) => Evaluation::OutOfTime(fit_frame?.0),
    };
    let log = if keep_log { log } else { None };
    tracing::debug!(seconds = frames_started.elapsed().as_secs_f64(), "frames made");

    // The training labels, and what the evaluation fits on.
    let (train_labels, job) = match how {
        // Explicit labels describe one window: evaluate on a held-out share of the training snapshot.
        Evaluation::Holdout(explicit) => {
            let path = &explicit.customers;
            let customers = read_customer_table(path)
                .context_with(|| format!("cannot read the customers table {}", path.display()))?;
            let labels = explicit_labels(&train_frame, &customers, &explicit.column).context_with(|| {
                format!(
                    "cannot label the snapshot {c1} from {} column {:?}",
                    path.display(),
                    explicit.column
                )
            })?;
            (labels, EvaluationFit::Holdout(explicit.holdout_share))
        }
        Evaluation::OutOfTime(fit_frame) => {
            // Labels look the customers up in the full later snapshot: activity filters who is
            // modelled, not whether a purchase counts.
            let fit_labels = churn_labels(&fit_frame, &recency_c1, h)?;
            let labels = churn_labels(&train_frame, &frame_s, h)?;
            (labels, EvaluationFit::OutOfTime(fit_frame, fit_labels))
        }
    };
    drop(recency_c1);
    tracing::debug!(
        seconds = frames_started.elapsed().as_secs_f64(),
        "frames and labels made"
    );
    let features_seconds = started.elapsed().as_secs_f64();
    // The evaluation and the production fit are independent single-threaded fits: side by side,
    // and `beside` with them.
    let fitting = match beside_what {
        "" => "fitting and evaluating the model, and the production model".to_string(),
        what => format!("fitting and evaluating the model, and the production model; {what}"),
    };
    let ((evaluation, evaluation_seconds), (model, fit_seconds), beside) = stage(progress, &fitting, || {
        std::thread::scope(|scope| {
            let beside = scope.spawn(|| beside(&at_s, &frame_s));
            let production = scope.spawn(|| {
                let started = Instant::now();
                let model = fit_model(&train_frame, &train_labels, h, &plan.model, source(c1))
                    .context_with(|| format!("cannot train the model on the snapshot {c1}"))
                    .map(|model| with_rhythm(model, &train_frame, &window));
                (model, started.elapsed().as_secs_f64())
            });
            let evaluation_started = Instant::now();
            let evaluation = match &job {
                EvaluationFit::Holdout(share) => {
                    evaluate_holdout(&train_frame, &train_labels, *share, h, &plan.model, source(c1))
                        .context("cannot evaluate the model on a holdout")
                }
                EvaluationFit::OutOfTime(fit_frame, fit_labels) => evaluate_out_of_time(
                    (fit_frame, fit_labels, source(c2)),
                    (&train_frame, &train_labels, Some(c1.to_string())),
                    h,
                    &plan.model,
                )
                .context_with(|| format!("cannot evaluate the model out of time (fit on {c2}, evaluate on {c1})")),
            };
            let evaluation = (evaluation, evaluation_started.elapsed().as_secs_f64());
            let production = production
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            let beside = beside.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (evaluation, production, beside)
        })
    });
    // The evaluation's error first, as when they ran one after the other.
    let evaluation = evaluation?;
    let mut model = model?;
    let eval_retained = evaluation.customers.saturating_sub(evaluation.churners);
    if evaluation.churners.min(eval_retained) < plan.model.min_per_class as u64 {
        model.warnings.push(format!(
            "the evaluation snapshot has {} churned and {eval_retained} retained customers: its metrics are too \
             noisy to trust, and churn run will not promote this model",
            evaluation.churners
        ));
    }
    model.evaluation = Some(evaluation);
    for warning in &model.warnings {
        tracing::warn!("{warning}");
    }
    let churners = train_labels.iter().filter(|&&y| y).count() as u64;
    let trained = Trained {
        model,
        at_s,
        frame_s,
        clv_s,
        training_snapshot: c1,
        evaluation_fit_snapshot: c2,
        customers: train_frame.len(),
        churners,
        train_frame,
        train_labels,
        timings: TrainTimings {
            features_seconds,
            evaluation_seconds,
            fit_seconds,
        },
        log,
    };
    Ok((trained, extra, beside))
}
