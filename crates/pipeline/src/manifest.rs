//! `manifest.json`: what a run read, decided and wrote. `churn run` writes it, `churn report` and
//! the next night's run read it back through the same types.

use std::collections::BTreeMap;
use std::path::Path;

use churn_clv::{BgNbd, FitData, GammaGamma};
use churn_features::ColumnMapping;
use churn_score::{ActionRule, Drift, Evaluation, RiskBands};
use serde::{Deserialize, Serialize};

use crate::error::{io_error, Context, Error, Result};
use crate::gates::Gates;

/// The `format` value of a run manifest.
pub const MANIFEST_FORMAT: &str = "churn-run";
/// The manifest's version: keys are only ever added.
pub const MANIFEST_VERSION: u32 = 1;
/// The manifest's file name in a run directory.
pub const MANIFEST_FILE: &str = "manifest.json";

/// A run's manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`MANIFEST_FORMAT`].
    pub format: String,
    /// [`MANIFEST_VERSION`].
    pub version: u32,
    /// The `churn` version that wrote it.
    pub tool_version: String,
    /// Unique per run: start time and process id.
    pub run_id: String,
    /// The snapshot date `S`.
    pub as_of: String,
    /// The churn horizon `H`.
    pub horizon_days: i64,
    /// Every input file with its size and hash.
    pub inputs: Vec<FileEntry>,
    /// The fingerprint of the input files (as in the Parquet metadata).
    pub input_fingerprint: String,
    /// The resolved settings the run used.
    pub settings: RunSettingsEcho,
    /// What happened to the input rows at `S`.
    pub rows: Rows,
    /// Customers scored.
    pub customers: usize,
    /// Tonight's retention figures, in total and per segment: what `history.csv` collects night
    /// by night. Absent from manifests written before they were recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kpis: Option<Kpis>,
    /// The customers table against the snapshot at `S` (orphans both ways, signups), when there
    /// is one. Absent from manifests written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customers_table: Option<churn_features::CustomersReport>,
    /// The segment model.
    pub segments: SegmentsSummary,
    /// The churn model: trained, promoted or not, and the one that scored.
    pub model: ModelSummary,
    /// The lifetime-value model, when `[clv]` is configured.
    pub clv: Option<ClvSummary>,
    /// The control group held out of the list, with `[holdout]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holdout: Option<HoldoutSummary>,
    /// Earlier lists measured against their control groups (`uplift.csv`); absent in manifests
    /// from before it was measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uplift: Option<UpliftSummary>,
    /// The at-risk list.
    pub at_risk: AtRiskSummary,
    /// Rows in `changes.csv`.
    pub changes: usize,
    /// Each model input's and the score's shift since the training snapshot.
    pub drift: DriftSummary,
    /// The report's file name.
    pub report: String,
    /// Where the time went.
    pub timings: Timings,
    /// Every output file (but the manifest, the report and the marker) with its size and hash.
    pub outputs: BTreeMap<String, OutputEntry>,
}

/// An input file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Its path as given.
    pub path: String,
    /// Its size.
    pub bytes: u64,
    /// `blake3:<hex>` of its bytes.
    pub hash: String,
}

/// An output file of the run directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputEntry {
    /// Its size.
    pub bytes: u64,
    /// `blake3:<hex>` of its bytes.
    pub hash: String,
}

/// The settings of a run, as resolved from flags and `churn.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSettingsEcho {
    /// The input and its rules.
    pub input: InputEcho,
    /// Where runs are published.
    pub output_dir: String,
    /// Where models are kept.
    pub models_dir: String,
    /// `H`.
    pub horizon_days: i64,
    /// `S`.
    pub as_of: String,
    /// Segmentation.
    pub segments: SegmentsEcho,
    /// The churn model.
    pub model: ModelEcho,
    /// The promotion gates.
    pub gates: Gates,
    /// Scoring.
    pub score: ScoreEcho,
}

/// `[input]`, resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputEcho {
    /// The transactions (a file, directory or glob).
    pub transactions: String,
    /// The customers table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customers: Option<String>,
    /// The customers table's signup column, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signup_column: Option<String>,
    /// The column mapping.
    pub columns: ColumnMapping,
    /// The row filter.
    #[serde(rename = "where")]
    pub filter: Option<String>,
    /// The delimiter, as the engine names it.
    pub delimiter: String,
    /// Whether the first line names the columns.
    pub has_header: bool,
    /// Column names given in the config.
    pub column_names: Option<Vec<String>>,
    /// The zone of naive timestamps.
    pub timezone: Option<String>,
    /// The timestamp format.
    pub timestamp_format: Option<String>,
    /// Whether exact duplicates were dropped.
    pub drop_duplicates: bool,
    /// The largest accepted amount.
    pub max_abs_amount: f64,
    /// The custom SQL features.
    pub custom_features: Vec<CustomFeatureEcho>,
    /// The engine's memory limit.
    pub memory_limit_bytes: usize,
    /// The Ballista scheduler that read the log (`df://host:port`); absent for a local run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
}

/// One `[[features.custom]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomFeatureEcho {
    /// Its column name.
    pub name: String,
    /// Its SQL aggregate.
    pub sql: String,
}

/// `[segments]`, resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentsEcho {
    /// How `k` was chosen, as the library names it.
    pub k: String,
    /// The inputs.
    pub features: Vec<String>,
    /// The seed.
    pub seed: u64,
    /// Whether a refit was asked for or needed.
    pub refit: bool,
}

/// `[model]`, resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelEcho {
    /// The inputs.
    pub features: Vec<String>,
    /// L2 strength.
    pub l2: f64,
    /// The training sample size.
    pub train_sample: usize,
    /// The seed.
    pub seed: u64,
}

/// `[score]`, resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreEcho {
    /// The risk bands.
    pub bands: RiskBands,
    /// The list's length cap.
    pub top: Option<usize>,
    /// The action table.
    pub actions: Vec<ActionRule>,
}

/// What happened to the input rows at `S`; every dropped row is in one bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rows {
    /// Data rows in the files.
    pub read: u64,
    /// Rows that went into the features.
    pub used: u64,
    /// Rows without a customer id.
    pub missing_customer_id: u64,
    /// Rows at or after `S`.
    pub on_or_after_as_of: u64,
    /// Rows `input.where` excluded.
    pub filtered_by_where: u64,
    /// Exact duplicate rows.
    pub duplicate: u64,
    /// Whether they were dropped.
    pub duplicates_dropped: bool,
    /// Order ids under more than one customer (kept, with a warning). Absent (0) from manifests
    /// written before it was counted.
    #[serde(default)]
    pub shared_orders: u64,
}

/// A night's retention figures (see [`Manifest::kpis`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Kpis {
    /// All customers.
    pub all: KpiRow,
    /// Each segment, by segment id.
    pub segments: Vec<KpiRow>,
}

/// The retention figures of all customers or of one segment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KpiRow {
    /// `all`, or the segment's name.
    pub segment: String,
    /// Customers scored tonight (bought before `S`).
    pub customers: u64,
    /// Churn over the last horizon: the share of the training snapshot's customers (who bought
    /// before `S - H`, in this segment then) with no purchase in `[S - H, S)`.
    pub churn_rate: Option<f64>,
    /// The share of tonight's customers with two orders or more.
    pub repeat_purchase_rate: Option<f64>,
    /// Mean lifetime value of tonight's customers, with `[clv]`.
    pub mean_clv: Option<f64>,
    /// Total lifetime value, with `[clv]`.
    pub total_clv: Option<f64>,
    /// Customers on tonight's at-risk list.
    pub at_risk: u64,
    /// Their summed value at risk.
    pub value_at_risk: f64,
}

/// The segment model of the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentsSummary {
    /// Its file in the models directory.
    pub model: String,
    /// Whether it was fitted tonight.
    pub refitted: bool,
    /// Its number of segments.
    pub k: usize,
    /// Warnings of the fit.
    pub warnings: Vec<String>,
}

/// The churn models of the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSummary {
    /// The model trained tonight (its file in the models directory).
    pub trained: String,
    /// Whether it passed the gates.
    pub promoted: bool,
    /// Why not, in words.
    pub refusals: Vec<String>,
    /// The model that scored: tonight's, or the current one.
    pub scoring_model: String,
    /// `S - H`.
    pub training_snapshot: String,
    /// `S - 2H`.
    pub evaluation_fit_snapshot: String,
    /// Tonight's model's evaluation.
    pub evaluation: Option<Evaluation>,
    /// Tonight's model's warnings.
    pub warnings: Vec<String>,
    /// Customers in the training snapshot.
    pub training_customers: usize,
    /// Of those, churned.
    pub training_churners: u64,
    /// The scoring model's coefficients.
    pub coefficients: Vec<Coefficient>,
}

/// One coefficient of the scoring model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Coefficient {
    /// The design column.
    pub column: String,
    /// Log-odds of churn per standard deviation.
    pub coefficient: f64,
}

/// The lifetime-value model of the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClvSummary {
    /// Its file in the models directory.
    pub model: String,
    /// BG/NBD parameters.
    pub bgnbd: BgNbd,
    /// Gamma-Gamma parameters.
    pub gamma_gamma: GammaGamma,
    /// What it was fitted on.
    pub data: FitData,
    /// `day` or `week`.
    pub time_unit: String,
    /// Purchases merged per this many days.
    pub merge_days: u32,
    /// The CLV horizon.
    pub horizon_days: u32,
    /// The discount rate.
    pub annual_discount_rate: f64,
    /// The sum of every customer's CLV.
    pub total_clv: f64,
}

/// What value at risk is measured in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueBasis {
    /// Churn probability x lifetime value.
    Clv,
    /// Churn probability x last year's spend.
    #[serde(rename = "spend_365d")]
    Spend365d,
}

/// The at-risk list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AtRiskSummary {
    /// Customers on it.
    pub customers: usize,
    /// Their summed value at risk.
    pub value_at_risk: f64,
    /// What the value is.
    pub value_basis: ValueBasis,
    /// The budget the list was chosen within, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<BudgetSummary>,
}

/// A list ranked by expected gain within a budget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BudgetSummary {
    /// `run.contact_budget`, when the budget is a number of customers.
    pub contacts: Option<usize>,
    /// `run.budget`, when the budget is money.
    pub money: Option<f64>,
    /// The listed customers' summed contact costs.
    pub spent: f64,
    /// Their summed expected gain.
    pub expected_gain: f64,
    /// Listed customers whose gain used a measured uplift (the others used the prior).
    pub measured_uplifts: usize,
}

/// `[holdout]` and tonight's control customers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HoldoutSummary {
    /// The share of all customers in the control group.
    pub share: f64,
    /// The experiment's name.
    pub salt: String,
    /// Control customers the list would have held tonight (`holdout.csv`).
    pub customers: usize,
}

/// What `uplift.csv` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpliftSummary {
    /// The file.
    pub file: String,
    /// Earlier runs with rows in it.
    pub measured_runs: usize,
    /// Its rows.
    pub rows: usize,
    /// The runs measured tonight (the others were carried over from the previous run).
    pub measured_tonight: Vec<String>,
    /// Runs carried over.
    pub carried: usize,
    /// Runs that could not be measured, with why.
    pub skipped: Vec<String>,
    /// The latest measured run's total row.
    pub latest: Option<UpliftTotal>,
}

/// A measured run's row over every action and segment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpliftTotal {
    /// The run measured.
    pub measured_run: String,
    /// Its as-of date.
    pub as_of: String,
    /// The day after its window.
    pub window_end: String,
    /// Customers on its list.
    pub treatment_customers: u64,
    /// Its control customers.
    pub control_customers: u64,
    /// Retention difference.
    pub retained_uplift: Option<f64>,
    /// Its 95 % interval's lower bound.
    pub retained_uplift_low: Option<f64>,
    /// Its 95 % interval's upper bound.
    pub retained_uplift_high: Option<f64>,
    /// Revenue difference per customer.
    pub revenue_uplift_per_customer: Option<f64>,
    /// Revenue difference per customer times the treated.
    pub incremental_revenue: Option<f64>,
}

/// Drift since the training snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftSummary {
    /// The training snapshot, the reference.
    pub reference_snapshot: String,
    /// Each model input.
    pub features: Vec<Drift>,
    /// The churn probability.
    pub score: Drift,
}

/// Seconds per stage.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Timings {
    /// The snapshots.
    pub features_seconds: f64,
    /// The out-of-time evaluation.
    pub evaluation_seconds: f64,
    /// The production fit.
    pub fit_seconds: f64,
    /// Segments.
    pub segments_seconds: f64,
    /// Lifetime values.
    pub clv_seconds: f64,
    /// Scores, the list and the tables.
    pub score_seconds: f64,
    /// The whole run up to the manifest.
    pub total_seconds: f64,
}

impl Manifest {
    /// The manifest as written: pretty JSON with every object's keys in sorted order (as it has
    /// always been written, so manifests of different versions diff cleanly).
    pub fn to_json(&self) -> Result<String> {
        let value = serde_json::to_value(self).context("cannot serialize the manifest")?;
        serde_json::to_string_pretty(&value).context("cannot serialize the manifest")
    }

    /// Reads `manifest.json` from a run directory and checks its format.
    pub fn read(run_dir: &Path) -> Result<Manifest> {
        let path = run_dir.join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| io_error("read", &path, e))?;
        let not_a_manifest = || format!("{} is not a run manifest", path.display());
        let value: serde_json::Value = serde_json::from_str(&text).context_with(not_a_manifest)?;
        if value["format"] != MANIFEST_FORMAT {
            return Err(Error::invalid(format!(
                "{} (format {})",
                not_a_manifest(),
                value["format"]
            )));
        }
        serde_json::from_value(value).context_with(not_a_manifest)
    }
}
