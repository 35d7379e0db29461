//! `churn.toml`, and how it combines with flags into the library crates' parameters.
//!
//! Precedence: a flag beats the config file, the config file beats the built-in default. Relative
//! paths in the config are relative to the config file's directory, so a nightly job gives the same
//! result from any working directory. Unknown keys are errors: a typo must not become a silent default.

use std::path::{Path, PathBuf};

use anyhow::Result;
use chrono::NaiveDate;
use churn_features::rfm::{RfmRule, RfmRules};
use churn_features::{ColumnMapping, CustomFeature, Delimiter, FeatureParams, InputSpec, TextFormat};
use serde::Deserialize;

use churn_clv::TimeUnit;
use churn_core::FeatureSpec;
use churn_score::{default_actions, ActionRule, ModelParams, RiskBands, ValidModelParams};
use churn_segment::{KChoice, SegmentParams, ValidSegmentParams};

use crate::args::{ClvArgs, FeaturesArgs, RunArgs, ScoreArgs, SegmentArgs, TrainArgs};
use crate::commands::clv::churn_inputs as clv_inputs;

/// A configuration problem (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

fn config_error(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(ConfigError(message.into()))
}

/// The whole config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Snapshot date.
    pub as_of: Option<NaiveDate>,
    #[serde(default)]
    pub input: InputConfig,
    #[serde(default)]
    pub features: FeaturesConfig,
    #[serde(default)]
    pub segments: SegmentsConfig,
    /// The churn horizon H in days.
    pub horizon_days: Option<i64>,
    #[serde(default)]
    pub model: ModelConfig,
    #[serde(default)]
    pub score: ScoreConfig,
    #[serde(default)]
    pub run: RunConfig,
    #[serde(default)]
    pub gates: GatesConfig,
    /// `[clv]`: present = `churn run` fits the lifetime-value model and values risk with it.
    pub clv: Option<ClvConfig>,
}

/// `[clv]`: the lifetime-value model.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClvConfig {
    /// `day` or `week`.
    pub time_unit: Option<String>,
    /// Purchases within a Monday-aligned period of this many days are one transaction.
    pub merge_days: Option<u32>,
    pub horizon_days: Option<u32>,
    pub annual_discount_rate: Option<f64>,
    /// Offer `p_alive` and `expected_purchases_<horizon>d` to the churn model as features.
    pub churn_features: Option<bool>,
}

/// `[run]`: where `churn run` publishes and keeps models.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    pub output_dir: Option<String>,
    pub models_dir: Option<String>,
}

/// `[gates]`: what a new churn model must show to be promoted.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatesConfig {
    pub min_roc_auc: Option<f64>,
    pub max_auc_drop: Option<f64>,
    pub min_per_class: Option<u64>,
    pub fail_exit_code: Option<bool>,
}

/// The promotion gates, resolved.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Gates {
    pub min_roc_auc: f64,
    pub max_auc_drop: f64,
    pub min_per_class: u64,
    pub fail_exit_code: bool,
}

/// `[model]`: each key overrides one default of `churn_score::ModelParams`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    pub features: Option<Vec<String>>,
    pub l2: Option<f64>,
    pub max_iterations: Option<u64>,
    pub gradient_tolerance: Option<f64>,
    pub min_per_class: Option<usize>,
    pub train_sample: Option<usize>,
    pub seed: Option<u64>,
    pub active_within_days: Option<f64>,
    /// A column of the customers table holding explicit churn labels.
    pub label_column: Option<String>,
    /// The share of customers held out to evaluate a model on explicit labels.
    pub holdout_share: Option<f64>,
}

/// `[score]`: risk bands, the action table and the list length.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoreConfig {
    pub bands: Option<RiskBands>,
    pub top: Option<usize>,
    pub actions: Option<Vec<ActionRule>>,
}

/// `[segments]`: k-means settings; each key overrides one default of `churn_segment::SegmentParams`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentsConfig {
    /// A number, or "auto".
    pub k: Option<KConfig>,
    pub k_min: Option<usize>,
    pub k_max: Option<usize>,
    pub features: Option<Vec<String>>,
    pub n_runs: Option<usize>,
    pub tolerance: Option<f64>,
    pub max_iterations: Option<u64>,
    pub seed: Option<u64>,
    pub fit_sample: Option<usize>,
    pub silhouette_sample: Option<usize>,
}

/// `k = 6` or `k = "auto"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum KConfig {
    Number(usize),
    Text(String),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputConfig {
    pub transactions: Option<String>,
    /// The optional customers table (one row per customer).
    pub customers: Option<String>,
    #[serde(default)]
    pub columns: ColumnsConfig,
    #[serde(rename = "where")]
    pub filter: Option<String>,
    /// `,` (default), `;`, `|`, `\t` or `whitespace`.
    pub delimiter: Option<String>,
    pub has_header: Option<bool>,
    pub column_names: Option<Vec<String>>,
    pub timestamp_format: Option<String>,
    pub timezone: Option<String>,
    pub max_abs_amount: Option<f64>,
    pub min_date: Option<NaiveDate>,
    pub drop_duplicates: Option<bool>,
    pub max_errors: Option<usize>,
    /// The decimal mark of text amounts: "." (default) or ",".
    pub decimal: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnsConfig {
    pub customer_id: Option<String>,
    pub timestamp: Option<String>,
    pub amount: Option<String>,
    pub order_id: Option<String>,
    pub quantity: Option<String>,
    pub category: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeaturesConfig {
    #[serde(default)]
    pub custom: Vec<CustomConfig>,
    pub rfm_segments: Option<Vec<RfmRuleConfig>>,
    pub memory_limit_mb: Option<usize>,
    pub threads: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomConfig {
    pub name: String,
    pub sql: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RfmRuleConfig {
    pub name: String,
    #[serde(default = "full_range")]
    pub r: [i32; 2],
    #[serde(default = "full_range")]
    pub f: [i32; 2],
    #[serde(default = "full_range")]
    pub m: [i32; 2],
}

fn full_range() -> [i32; 2] {
    [1, 5]
}

impl ConfigFile {
    /// Reads and parses a config file; errors name the file and the offending key.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| config_error(format!("cannot read config {}: {e}", path.display())))?;
        toml::from_str(&text).map_err(|e| config_error(format!("config {}: {e}", path.display())))
    }
}

/// Everything `churn features` needs, resolved.
#[derive(Debug)]
pub struct FeaturesSettings {
    pub input: InputSpec,
    pub params: FeatureParams,
    pub out: PathBuf,
}

fn resolve_path(base: Option<&Path>, value: &str) -> String {
    match base {
        Some(dir) if Path::new(value).is_relative() => dir.join(value).display().to_string(),
        _ => value.to_string(),
    }
}

fn parse_delimiter(value: &str) -> Result<Delimiter> {
    match value {
        "whitespace" => Ok(Delimiter::Whitespace),
        "\\t" | "tab" => Ok(Delimiter::Byte(b'\t')),
        v if v.len() == 1 && v.is_ascii() && v != "\"" && v != "\n" && v != "\r" => {
            Ok(Delimiter::Byte(v.as_bytes()[0]))
        }
        v => Err(config_error(format!(
            "input.delimiter = {v:?}: expected one ASCII character such as \",\" or \";\", \"\\t\" or \"whitespace\""
        ))),
    }
}

impl FeaturesSettings {
    pub fn resolve(args: &FeaturesArgs) -> Result<Self> {
        let config = match &args.config {
            Some(path) => ConfigFile::load(path)?,
            None => ConfigFile::default(),
        };
        let base = args.config.as_deref().and_then(Path::parent);
        let input_config = &config.input;
        let transactions = match (&args.input, &input_config.transactions) {
            (Some(flag), _) => flag.clone(),
            (None, Some(path)) => resolve_path(base, path),
            (None, None) => {
                return Err(config_error(
                    "no transactions given: pass --input PATH or set input.transactions in the config (--config)",
                ))
            }
        };
        let defaults = ColumnMapping::default();
        let columns = &input_config.columns;
        let mapping = ColumnMapping {
            customer_id: columns.customer_id.clone().unwrap_or(defaults.customer_id),
            timestamp: columns.timestamp.clone().unwrap_or(defaults.timestamp),
            amount: columns.amount.clone().unwrap_or(defaults.amount),
            order_id: columns.order_id.clone(),
            quantity: columns.quantity.clone(),
            category: columns.category.clone(),
        };
        let mut text = TextFormat::default();
        if let Some(delimiter) = &input_config.delimiter {
            text.delimiter = parse_delimiter(delimiter)?;
        }
        if let Some(has_header) = input_config.has_header {
            text.has_header = has_header;
        }
        text.column_names.clone_from(&input_config.column_names);
        let timezone = input_config
            .timezone
            .as_deref()
            .map(|name| {
                name.parse::<chrono_tz::Tz>().map_err(|_| {
                    config_error(format!(
                        "input.timezone = {name:?} is not an IANA time zone such as \"Europe/London\""
                    ))
                })
            })
            .transpose()?;
        let input = InputSpec {
            transactions,
            columns: mapping,
            filter: input_config.filter.clone(),
            text,
            timezone,
            timestamp_format: input_config.timestamp_format.clone(),
            max_errors: match args.max_errors.or(input_config.max_errors) {
                Some(0) => return Err(config_error("input.max_errors must be at least 1")),
                Some(n) => n,
                None => churn_features::DEFAULT_MAX_ERRORS,
            },
            decimal_comma: match input_config.decimal.as_deref() {
                None | Some(".") => false,
                Some(",") => true,
                Some(other) => {
                    return Err(config_error(format!(
                        "input.decimal = {other:?}: expected \".\" or \",\""
                    )))
                }
            },
        };

        let features = &config.features;
        let rfm_rules = match &features.rfm_segments {
            None => RfmRules::standard(),
            Some(rules) => RfmRules::try_new(
                rules
                    .iter()
                    .map(|r| RfmRule {
                        name: r.name.clone(),
                        r: (r.r[0], r.r[1]),
                        f: (r.f[0], r.f[1]),
                        m: (r.m[0], r.m[1]),
                    })
                    .collect(),
            )
            .map_err(|e| config_error(e.to_string()))?,
        };
        let defaults = FeatureParams::default();
        let memory_limit_mb = args.memory_limit_mb.or(features.memory_limit_mb);
        let params = FeatureParams {
            as_of: args.as_of.or(config.as_of),
            drop_duplicates: args.drop_duplicates || input_config.drop_duplicates.unwrap_or(false),
            count_duplicates: true,
            max_abs_amount: input_config.max_abs_amount.unwrap_or(defaults.max_abs_amount),
            min_date: input_config.min_date.unwrap_or(defaults.min_date),
            custom: features
                .custom
                .iter()
                .map(|c| CustomFeature {
                    name: c.name.clone(),
                    sql: c.sql.clone(),
                })
                .collect(),
            rfm_rules,
            memory_limit_bytes: memory_limit_mb.map_or(defaults.memory_limit_bytes, |mb| mb.saturating_mul(1 << 20)),
            threads: args.threads.or(features.threads),
        };
        params.check().map_err(|e| config_error(e.to_string()))?;
        Ok(FeaturesSettings {
            input,
            params,
            out: args.out.clone(),
        })
    }
}

/// The lifetime-value settings a command uses: the `[clv]` section under the flags.
#[derive(Debug, Clone, PartialEq)]
pub struct ClvOptions {
    pub time_unit: TimeUnit,
    pub merge_days: u32,
    pub horizon_days: u32,
    pub annual_discount_rate: f64,
}

impl ClvOptions {
    /// The `[clv]` section with these flags on top; defaults: weeks, same-day merging, 365 days, 10 %.
    fn resolve(
        config: Option<&ClvConfig>,
        time_unit: Option<&str>,
        merge_days: Option<u32>,
        horizon_days: Option<u32>,
        rate: Option<f64>,
    ) -> Result<Self> {
        let empty = ClvConfig::default();
        let c = config.unwrap_or(&empty);
        let time_unit = time_unit
            .or(c.time_unit.as_deref())
            .unwrap_or("week")
            .parse::<TimeUnit>()
            .map_err(|e| config_error(format!("time unit (--time-unit or clv.time_unit): {e}")))?;
        let options = ClvOptions {
            time_unit,
            merge_days: merge_days.or(c.merge_days).unwrap_or(1),
            horizon_days: horizon_days.or(c.horizon_days).unwrap_or(365),
            annual_discount_rate: rate.or(c.annual_discount_rate).unwrap_or(0.1),
        };
        if options.merge_days == 0 || options.horizon_days == 0 {
            return Err(config_error("clv.merge_days and clv.horizon_days must be at least 1"));
        }
        if !(options.annual_discount_rate.is_finite() && (0.0..=10.0).contains(&options.annual_discount_rate)) {
            return Err(config_error(format!(
                "clv.annual_discount_rate = {}: must be between 0 and 10 (0.1 is 10 % a year)",
                options.annual_discount_rate
            )));
        }
        Ok(options)
    }
}

/// Everything `churn clv` needs, resolved.
#[derive(Debug)]
pub struct ClvCommandSettings {
    /// The input; `params.as_of` is the day after the calibration end (or `None`: after the data).
    pub features: FeaturesSettings,
    pub options: ClvOptions,
    /// Predict with this saved model instead of fitting.
    pub model: Option<PathBuf>,
    /// `None`: `models/clv-<calibration end>.json`.
    pub model_out: Option<PathBuf>,
    pub out: PathBuf,
    pub holdout_end: Option<NaiveDate>,
}

impl ClvCommandSettings {
    pub fn resolve(args: &ClvArgs) -> Result<Self> {
        let config = match &args.config {
            Some(path) => ConfigFile::load(path)?,
            None => ConfigFile::default(),
        };
        // Calibration through day D means the snapshot S = D + 1: rows before S.
        let as_of = match args.calibration_end {
            Some(end) => Some(
                end.succ_opt()
                    .ok_or_else(|| config_error("--calibration-end is out of range"))?,
            ),
            None => config.as_of,
        };
        let features = FeaturesSettings::resolve(&FeaturesArgs {
            input: args.input.clone(),
            config: args.config.clone(),
            as_of,
            out: PathBuf::new(),
            drop_duplicates: false,
            memory_limit_mb: None,
            threads: None,
            max_errors: None,
        })?;
        let options = ClvOptions::resolve(
            config.clv.as_ref(),
            args.time_unit.as_deref(),
            args.merge_days,
            args.horizon_days,
            args.discount_rate,
        )?;
        if let (Some(end), Some(holdout)) = (features.params.as_of, args.holdout_end) {
            if holdout < end {
                return Err(config_error(format!(
                    "--holdout-end {holdout} must be on or after the calibration end"
                )));
            }
        }
        Ok(ClvCommandSettings {
            features,
            options,
            model: args.model.clone(),
            model_out: args.model_out.clone(),
            out: args.out.clone(),
            holdout_end: args.holdout_end,
        })
    }
}

/// Everything `churn segment` needs, resolved.
#[derive(Debug)]
pub struct SegmentSettings {
    pub features: PathBuf,
    /// Fit with these parameters, or assign with `model`.
    pub params: ValidSegmentParams,
    pub model: Option<PathBuf>,
    /// `None`: `models/segments-<as-of>.json`, known once the feature file is read.
    pub model_out: Option<PathBuf>,
    pub out: PathBuf,
    pub profiles_out: PathBuf,
}

fn parse_k(text: &str, k_min: usize, k_max: usize) -> Result<KChoice> {
    if text.eq_ignore_ascii_case("auto") {
        return Ok(KChoice::Auto { min: k_min, max: k_max });
    }
    text.parse::<usize>()
        .map(KChoice::Fixed)
        .map_err(|_| config_error(format!("k = {text:?}: expected a number of segments or \"auto\"")))
}

impl SegmentSettings {
    pub fn resolve(args: &SegmentArgs) -> Result<Self> {
        let config = match &args.config {
            Some(path) => ConfigFile::load(path)?,
            None => ConfigFile::default(),
        };
        let seg = &config.segments;
        let (k_min, k_max) = (seg.k_min.unwrap_or(2), seg.k_max.unwrap_or(10));
        let k = match (&args.k, &seg.k) {
            (Some(flag), _) => parse_k(flag, k_min, k_max)?,
            (None, Some(KConfig::Number(k))) => KChoice::Fixed(*k),
            (None, Some(KConfig::Text(text))) => parse_k(text, k_min, k_max)?,
            (None, None) => KChoice::Auto { min: k_min, max: k_max },
        };
        let mut params = SegmentParams::new(k);
        if let Some(features) = &seg.features {
            params.features = features
                .iter()
                .map(|f| f.parse::<FeatureSpec>())
                .collect::<Result<_, _>>()
                .map_err(|e| config_error(format!("segments.features: {e}")))?;
        }
        params.n_runs = seg.n_runs.unwrap_or(params.n_runs);
        params.tolerance = seg.tolerance.unwrap_or(params.tolerance);
        params.max_iterations = seg.max_iterations.unwrap_or(params.max_iterations);
        params.seed = args.seed.or(seg.seed).unwrap_or(params.seed);
        params.fit_sample = seg.fit_sample.unwrap_or(params.fit_sample);
        params.silhouette_sample = seg.silhouette_sample.unwrap_or(params.silhouette_sample);
        let params = params.check().map_err(|e| config_error(e.to_string()))?;
        let profiles_out = args.profiles_out.clone().unwrap_or_else(|| {
            let dir = args.out.parent().unwrap_or(Path::new(""));
            dir.join("segment_profiles.csv")
        });
        Ok(SegmentSettings {
            features: args.features.clone(),
            params,
            model: args.model.clone(),
            model_out: args.model_out.clone(),
            out: args.out.clone(),
            profiles_out,
        })
    }
}

/// Everything `churn train` needs, resolved.
#[derive(Debug)]
pub struct TrainSettings {
    pub features: FeaturesSettings,
    pub horizon_days: i64,
    pub params: ValidModelParams,
    pub active_within_days: Option<f64>,
    pub model_out: Option<PathBuf>,
    /// Explicit labels: the customers table and its label column, and the holdout share.
    pub explicit_labels: Option<(PathBuf, String, f64)>,
    /// `clv.churn_features`: every snapshot gets the lifetime-value model's `p_alive` and expected
    /// purchases, fitted on the rows before that snapshot, as features.
    pub clv_features: Option<ClvOptions>,
}

impl TrainSettings {
    pub fn resolve(args: &TrainArgs) -> Result<Self> {
        let features = FeaturesSettings::resolve(&FeaturesArgs {
            input: args.input.clone(),
            config: args.config.clone(),
            as_of: args.as_of,
            out: PathBuf::new(),
            drop_duplicates: false,
            memory_limit_mb: None,
            threads: None,
            max_errors: None,
        })?;
        let config = match &args.config {
            Some(path) => ConfigFile::load(path)?,
            None => ConfigFile::default(),
        };
        let horizon_days = args.horizon_days.or(config.horizon_days).unwrap_or(90);
        if horizon_days < 1 {
            return Err(config_error(format!(
                "horizon_days = {horizon_days}: must be at least 1"
            )));
        }
        let m = &config.model;
        let mut params = ModelParams::default();
        if let Some(list) = &m.features {
            params.features = list
                .iter()
                .map(|f| f.parse::<FeatureSpec>())
                .collect::<Result<_, _>>()
                .map_err(|e| config_error(format!("model.features: {e}")))?;
        }
        let clv_features = match &config.clv {
            Some(c) if c.churn_features == Some(true) => Some(ClvOptions::resolve(Some(c), None, None, None, None)?),
            _ => None,
        };
        match (&clv_features, &m.features) {
            // The defaults grow by the lifetime-value features; a configured list is taken as written.
            (Some(options), None) => params.features.extend(clv_inputs::specs(options.horizon_days)),
            (None, _) => {
                if let Some(spec) = params
                    .features
                    .iter()
                    .find(|s| s.column() == clv_inputs::P_ALIVE || s.column().starts_with(clv_inputs::EXPECTED_PREFIX))
                {
                    return Err(config_error(format!(
                        "model.features names {spec}, a lifetime-value output: set churn_features = true in [clv]"
                    )));
                }
            }
            (Some(_), Some(_)) => {}
        }
        params.l2 = m.l2.unwrap_or(params.l2);
        params.max_iterations = m.max_iterations.unwrap_or(params.max_iterations);
        params.gradient_tolerance = m.gradient_tolerance.unwrap_or(params.gradient_tolerance);
        params.min_per_class = m.min_per_class.unwrap_or(params.min_per_class);
        params.train_sample = m.train_sample.unwrap_or(params.train_sample);
        params.seed = m.seed.unwrap_or(params.seed);
        let params = params.check().map_err(|e| config_error(e.to_string()))?;
        let active_within_days = args.active_within_days.or(m.active_within_days);
        if let Some(days) = active_within_days {
            if !(days.is_finite() && days > 0.0) {
                return Err(config_error(format!(
                    "active_within_days = {days}: must be a positive number of days"
                )));
            }
        }
        let explicit_labels = match &m.label_column {
            None => None,
            Some(column) => {
                let base = args.config.as_deref().and_then(Path::parent);
                let customers = config.input.customers.as_deref().ok_or_else(|| {
                    config_error(format!(
                        "model.label_column = {column:?} needs the customers table: set input.customers"
                    ))
                })?;
                let share = m.holdout_share.unwrap_or(0.3);
                if !(share > 0.0 && share < 1.0) {
                    return Err(config_error(format!(
                        "model.holdout_share = {share}: must be between 0 and 1"
                    )));
                }
                Some((PathBuf::from(resolve_path(base, customers)), column.clone(), share))
            }
        };
        Ok(TrainSettings {
            features,
            horizon_days,
            params,
            active_within_days,
            model_out: args.model_out.clone(),
            explicit_labels,
            clv_features,
        })
    }
}

/// Everything `churn score` needs, resolved.
#[derive(Debug)]
pub struct ScoreSettings {
    pub features: PathBuf,
    pub model: PathBuf,
    pub segment_model: Option<PathBuf>,
    pub out: PathBuf,
    pub at_risk: PathBuf,
    pub top: Option<usize>,
    pub bands: RiskBands,
    pub actions: Vec<ActionRule>,
    /// Lifetime values (`clv.parquet`) to value risk with.
    pub clv: Option<PathBuf>,
}

impl ScoreSettings {
    pub fn resolve(args: &ScoreArgs) -> Result<Self> {
        let config = match &args.config {
            Some(path) => ConfigFile::load(path)?,
            None => ConfigFile::default(),
        };
        let bands = config
            .score
            .bands
            .unwrap_or_default()
            .check()
            .map_err(|e| config_error(format!("score.bands: {e}")))?;
        let actions = config.score.actions.clone().unwrap_or_else(default_actions);
        for rule in &actions {
            if let Some(band) = &rule.band {
                if !["high", "medium", "low"].contains(&band.as_str()) {
                    return Err(config_error(format!(
                        "score.actions: band {band:?} is not one of \"high\", \"medium\", \"low\""
                    )));
                }
            }
        }
        let at_risk = args.at_risk.clone().unwrap_or_else(|| {
            let dir = args.out.parent().unwrap_or(Path::new(""));
            dir.join("at_risk.csv")
        });
        Ok(ScoreSettings {
            features: args.features.clone(),
            model: args.model.clone(),
            segment_model: args.segment_model.clone(),
            out: args.out.clone(),
            at_risk,
            top: args.top.or(config.score.top),
            bands,
            actions,
            clv: args.clv.clone(),
        })
    }
}

/// Everything `churn run` needs, resolved.
#[derive(Debug)]
pub struct RunSettings {
    pub train: TrainSettings,
    pub segments: SegmentSettings,
    pub score: ScoreSettings,
    pub output_dir: PathBuf,
    pub models_dir: PathBuf,
    pub refit_segments: bool,
    pub gates: Gates,
    /// Fit the lifetime-value model each night and value risk with it (`[clv]` present).
    pub clv: Option<ClvOptions>,
}

impl RunSettings {
    pub fn resolve(args: &RunArgs) -> Result<Self> {
        let config = ConfigFile::load(&args.config)?;
        let base = args.config.parent();
        let dir = |flag: &Option<PathBuf>, key: &Option<String>, default: &str| match (flag, key) {
            (Some(flag), _) => flag.clone(),
            (None, Some(value)) => PathBuf::from(resolve_path(base, value)),
            (None, None) => PathBuf::from(resolve_path(base, default)),
        };
        let output_dir = dir(&args.output_dir, &config.run.output_dir, "output");
        let models_dir = dir(&args.models_dir, &config.run.models_dir, "models");
        let train = TrainSettings::resolve(&TrainArgs {
            config: Some(args.config.clone()),
            input: None,
            as_of: args.as_of,
            horizon_days: args.horizon_days,
            active_within_days: None,
            model_out: None,
        })?;
        let segments = SegmentSettings::resolve(&SegmentArgs {
            features: PathBuf::new(),
            config: Some(args.config.clone()),
            k: None,
            model: None,
            model_out: None,
            out: PathBuf::new(),
            profiles_out: None,
            seed: None,
        })?;
        let score = ScoreSettings::resolve(&ScoreArgs {
            features: PathBuf::new(),
            model: PathBuf::new(),
            segment_model: None,
            config: Some(args.config.clone()),
            out: PathBuf::new(),
            at_risk: None,
            top: None,
            clv: None,
        })?;
        let g = &config.gates;
        let gates = Gates {
            min_roc_auc: g.min_roc_auc.unwrap_or(0.6),
            max_auc_drop: g.max_auc_drop.unwrap_or(0.02),
            min_per_class: g.min_per_class.unwrap_or(20),
            fail_exit_code: g.fail_exit_code.unwrap_or(false),
        };
        if !(0.0..=1.0).contains(&gates.min_roc_auc) || !(0.0..=1.0).contains(&gates.max_auc_drop) {
            return Err(config_error(
                "gates.min_roc_auc and gates.max_auc_drop must be between 0 and 1",
            ));
        }
        let clv = config
            .clv
            .as_ref()
            .map(|c| ClvOptions::resolve(Some(c), None, None, None, None))
            .transpose()?;
        Ok(RunSettings {
            clv,
            train,
            segments,
            score,
            output_dir,
            models_dir,
            refit_segments: args.refit_segments,
            gates,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A config with every table, for the fuzzer to break.
    const FULL_CONFIG: &str = r#"as_of = "2024-01-01"
horizon_days = 90
[input]
transactions = "tx.csv"
delimiter = ";"
timezone = "Europe/London"
max_abs_amount = 1e6
min_date = "2000-01-01"
max_errors = 5
decimal = ","
[input.columns]
customer_id = '"Customer ID"'
timestamp = "ts"
amount = "Quantity * Price"
[[features.custom]]
name = "categories"
sql = "count(DISTINCT category)"
[segments]
k = "auto"
k_min = 2
k_max = 8
[model]
l2 = 1.0
[score]
bands = { by = "top_share", medium = 0.3, high = 0.1 }
[clv]
time_unit = "week"
horizon_days = 365
[gates]
min_roc_auc = 0.6
[run]
output_dir = "out"
"#;

    /// Mutated and arbitrary config files through the whole resolution of `churn run`: an error
    /// is fine, a panic is not. `CHURN_FUZZ_SECONDS` runs it for longer (see churn-fuzzkit).
    #[test]
    fn fuzz_the_config_parser() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("churn.toml");
        RunSettings::resolve(&run_args(&path, FULL_CONFIG)).expect("the unbroken config resolves");
        churn_fuzzkit::fuzz(
            "config",
            256,
            churn_fuzzkit::mutations(FULL_CONFIG.as_bytes(), b"=\"'[]{},.#\n-+0123456789eE"),
            |bytes| {
                std::fs::write(&path, bytes).map_err(|e| proptest::test_runner::TestCaseError::fail(e.to_string()))?;
                if let Err(e) = RunSettings::resolve(&run_args(&path, "")) {
                    proptest::prop_assert!(!e.to_string().is_empty());
                }
                Ok(())
            },
        );
    }

    /// `churn run --config path`, writing `text` to the path unless it is empty.
    fn run_args(path: &Path, text: &str) -> RunArgs {
        if !text.is_empty() {
            std::fs::write(path, text).expect("write config");
        }
        RunArgs {
            config: path.to_path_buf(),
            as_of: None,
            horizon_days: None,
            output_dir: None,
            models_dir: None,
            refit_segments: false,
        }
    }

    #[test]
    fn unknown_keys_are_errors() {
        let err = toml::from_str::<ConfigFile>("[input]\ntransaction = \"x.csv\"\n").expect_err("typo");
        assert!(err.to_string().contains("unknown field `transaction`"), "{err}");
    }

    #[test]
    fn the_documented_shape_parses() {
        let config: ConfigFile = toml::from_str(
            r#"
            as_of = "2024-01-01"
            [input]
            transactions = "tx.csv"
            where = "Invoice NOT LIKE 'A%'"
            delimiter = "whitespace"
            timezone = "Europe/London"
            [input.columns]
            customer_id = '"Customer ID"'
            timestamp = "ts"
            amount = "Quantity * Price"
            [[features.custom]]
            name = "categories"
            sql = "count(DISTINCT category)"
            "#,
        )
        .expect("parses");
        assert_eq!(config.input.columns.amount.as_deref(), Some("Quantity * Price"));
        assert_eq!(config.features.custom.len(), 1);
        assert_eq!(config.as_of, NaiveDate::from_ymd_opt(2024, 1, 1));
    }

    #[test]
    fn segment_k_is_a_number_or_auto() {
        let config: ConfigFile =
            toml::from_str("[segments]\nk = 6\nfeatures = [\"log1p(frequency)\"]\n").expect("k number");
        assert!(matches!(config.segments.k, Some(KConfig::Number(6))));
        let config: ConfigFile = toml::from_str("[segments]\nk = \"auto\"\nk_max = 8\n").expect("k auto");
        assert!(matches!(config.segments.k, Some(KConfig::Text(ref t)) if t == "auto"));
        assert_eq!(parse_k("AUTO", 2, 8).expect("auto"), KChoice::Auto { min: 2, max: 8 });
        assert_eq!(parse_k("4", 2, 8).expect("four"), KChoice::Fixed(4));
        assert!(parse_k("four", 2, 8).is_err());
    }

    #[test]
    fn model_and_score_sections_parse() {
        let config: ConfigFile = toml::from_str(
            r#"
            horizon_days = 273
            [model]
            l2 = 2.0
            features = ["recency_days", "log1p(frequency)"]
            [score]
            top = 100
            bands = { by = "top_share", medium = 0.3, high = 0.1 }
            [[score.actions]]
            band = "high"
            rfm_segments = ["Champions"]
            action = "call"
            "#,
        )
        .expect("parses");
        assert_eq!(config.horizon_days, Some(273));
        assert_eq!(config.score.bands, Some(RiskBands::TopShare { medium: 0.3, high: 0.1 }));
        assert_eq!(config.score.actions.as_ref().map(Vec::len), Some(1));
        assert!(toml::from_str::<ConfigFile>("[score]\nbands = { by = \"magic\" }\n").is_err());
    }

    #[test]
    fn delimiters_are_one_byte_or_named() {
        assert_eq!(parse_delimiter(";").expect("semicolon"), Delimiter::Byte(b';'));
        assert_eq!(parse_delimiter("\\t").expect("tab"), Delimiter::Byte(b'\t'));
        assert_eq!(parse_delimiter("whitespace").expect("ws"), Delimiter::Whitespace);
        assert!(parse_delimiter(";;").is_err());
        assert!(parse_delimiter("\"").is_err());
    }

    #[test]
    fn relative_paths_follow_the_config_file() {
        assert_eq!(
            resolve_path(Some(Path::new("data/sample")), "tx.csv"),
            "data/sample/tx.csv"
        );
        assert_eq!(
            resolve_path(Some(Path::new("data/sample")), "/abs/tx.csv"),
            "/abs/tx.csv"
        );
        assert_eq!(resolve_path(None, "tx.csv"), "tx.csv");
    }
}
