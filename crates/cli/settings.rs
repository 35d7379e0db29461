//! How flags and `churn.toml` combine into each command's settings and the libraries' checked
//! parameters.
//!
//! Each command loads its config once ([`Config::load`]) and resolves its settings from
//! `(args, config)`. Precedence: a flag beats the config file, the config file beats the built-in
//! default. Defaults live in the library that owns the parameter (`ModelParams::default`,
//! `SegmentParams::new`, `ClvParams::default`, `Gates::default`, `DEFAULT_HORIZON_DAYS`); the help
//! text states them and a test checks that it states them right. Relative paths in the config are
//! relative to the config file's directory, so a nightly job gives the same result from any
//! working directory.

use std::path::{Path, PathBuf};

use anyhow::Result;
use chrono::NaiveDate;
use churn_clv::{churn_inputs, ClvParams, ValidClvParams};
use churn_core::{FeatureSpec, SealPolicy};
use churn_features::rfm::{RfmRule, RfmRules};
use churn_features::{ColumnMapping, CustomFeature, Delimiter, FeatureParams, InputSpec, TextFormat};
use churn_pipeline::training::{ExplicitLabels, DEFAULT_HORIZON_DAYS};
use churn_pipeline::{Gates, NightlyPlan, ScorePlan, TrainPlan};
use churn_score::gain::{check_actions_for_gain, Budget};
use churn_score::{default_actions, ModelParams};
use churn_segment::{KChoice, SegmentParams, ValidSegmentParams};

use crate::args::{ClvArgs, FeaturesArgs, RunArgs, ScoreArgs, SegmentArgs, TrainArgs};
use crate::config::{ClvConfig, Config, KConfig};

/// A configuration problem (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

pub(crate) fn config_error(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(ConfigError(message.into()))
}

/// Where the output and models go when neither a flag nor `[run]` says.
const DEFAULT_OUTPUT_DIR: &str = "output";
const DEFAULT_MODELS_DIR: &str = "models";

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

/// The transactions and how to read them: `[input]` under `--input` and `--max-errors`.
fn input_spec(config: &Config, input: Option<&str>, max_errors: Option<usize>) -> Result<InputSpec> {
    let input_config = &config.file.input;
    let transactions = match (input, &input_config.transactions) {
        (Some(flag), _) => flag.to_string(),
        (None, Some(path)) => config.path(path),
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
    if input_config.signup_column.is_some() && input_config.customers.is_none() {
        return Err(config_error(
            "input.signup_column is set but there is no customers table: set input.customers",
        ));
    }
    Ok(InputSpec {
        transactions,
        customers: input_config.customers.as_deref().map(|p| config.path(p).into()),
        signup_column: input_config.signup_column.clone(),
        columns: mapping,
        filter: input_config.filter.clone(),
        text,
        timezone,
        timestamp_format: input_config.timestamp_format.clone(),
        max_errors: match max_errors.or(input_config.max_errors) {
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
    })
}

/// The engine flags of `churn features`; other commands use the config's values, apart from
/// `--cluster`, which `run`, `train` and `clv` take as well.
#[derive(Debug, Default, Clone, Copy)]
struct EngineFlags<'a> {
    drop_duplicates: bool,
    memory_limit_mb: Option<usize>,
    threads: Option<usize>,
    cluster: Option<&'a str>,
}

/// `--cluster` over `[engine] cluster`, checked to be a scheduler address.
fn cluster(config: &Config, flag: Option<&str>) -> Result<Option<String>> {
    let Some(url) = flag.or(config.file.engine.cluster.as_deref()) else {
        return Ok(None);
    };
    let setting = if flag.is_some() { "--cluster" } else { "engine.cluster" };
    url.parse::<churn_features::cluster::SchedulerAddress>()
        .map_err(|e| config_error(format!("{setting}: {e}")))?;
    Ok(Some(url.to_string()))
}

/// The feature parameters: `[features]` and the input rules under the flags, checked.
fn feature_params(config: &Config, as_of: Option<NaiveDate>, flags: EngineFlags<'_>) -> Result<FeatureParams> {
    let file = &config.file;
    let features = &file.features;
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
    let memory_limit_mb = flags.memory_limit_mb.or(features.memory_limit_mb);
    let params = FeatureParams {
        as_of: as_of.or(file.as_of),
        drop_duplicates: flags.drop_duplicates || file.input.drop_duplicates.unwrap_or(false),
        count_duplicates: true,
        max_abs_amount: file.input.max_abs_amount.unwrap_or(defaults.max_abs_amount),
        min_date: file.input.min_date.unwrap_or(defaults.min_date),
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
        threads: flags.threads.or(features.threads),
        shared_orders: match file.input.shared_orders.as_deref() {
            None => defaults.shared_orders,
            Some(text) => text.parse().map_err(config_error)?,
        },
        cluster: cluster(config, flags.cluster)?,
        cluster_timeout: file
            .engine
            .cluster_timeout_minutes
            .map_or(defaults.cluster_timeout, |m| {
                std::time::Duration::from_secs(m.saturating_mul(60))
            }),
    };
    params.check().map_err(|e| config_error(e.to_string()))?;
    Ok(params)
}

/// `[clv]` under the flags of `churn clv`, checked in `churn-clv`.
#[derive(Debug, Default)]
struct ClvFlags<'a> {
    time_unit: Option<&'a str>,
    merge_days: Option<u32>,
    horizon_days: Option<u32>,
    discount_rate: Option<f64>,
}

fn clv_params(config: Option<&ClvConfig>, flags: ClvFlags<'_>) -> Result<ValidClvParams> {
    let empty = ClvConfig::default();
    let c = config.unwrap_or(&empty);
    let defaults = ClvParams::default();
    let time_unit = match flags.time_unit.or(c.time_unit.as_deref()) {
        Some(text) => text
            .parse()
            .map_err(|e| config_error(format!("time unit (--time-unit or clv.time_unit): {e}")))?,
        None => defaults.time_unit,
    };
    ClvParams {
        time_unit,
        merge_days: flags.merge_days.or(c.merge_days).unwrap_or(defaults.merge_days),
        horizon_days: flags.horizon_days.or(c.horizon_days).unwrap_or(defaults.horizon_days),
        annual_discount_rate: flags
            .discount_rate
            .or(c.annual_discount_rate)
            .unwrap_or(defaults.annual_discount_rate),
    }
    .check()
    .map_err(|e| config_error(e.to_string()))
}

/// Everything `churn features` needs, resolved.
#[derive(Debug)]
pub struct FeaturesSettings {
    pub input: InputSpec,
    pub params: FeatureParams,
    pub out: PathBuf,
}

impl FeaturesSettings {
    pub fn resolve(args: &FeaturesArgs) -> Result<Self> {
        let config = Config::load(args.config.as_deref())?;
        let flags = EngineFlags {
            drop_duplicates: args.drop_duplicates,
            memory_limit_mb: args.memory_limit_mb,
            threads: args.threads,
            cluster: args.cluster.as_deref(),
        };
        Ok(FeaturesSettings {
            input: input_spec(&config, args.input.as_deref(), args.max_errors)?,
            params: feature_params(&config, args.as_of, flags)?,
            out: args.out.clone(),
        })
    }
}

/// Everything `churn clv` needs, resolved.
#[derive(Debug)]
pub struct ClvCommandSettings {
    pub input: InputSpec,
    /// `as_of` is the day after the calibration end (or `None`: after the data).
    pub params: FeatureParams,
    pub clv: ValidClvParams,
    /// Predict with this saved model instead of fitting.
    pub model: Option<PathBuf>,
    /// `None`: `models/clv-<calibration end>.json`.
    pub model_out: Option<PathBuf>,
    pub out: PathBuf,
    pub holdout_end: Option<NaiveDate>,
    pub seal: SealPolicy,
}

impl ClvCommandSettings {
    pub fn resolve(args: &ClvArgs, seal: SealPolicy) -> Result<Self> {
        let config = Config::load(args.config.as_deref())?;
        // Calibration through day D means the snapshot S = D + 1: rows before S.
        let as_of = match args.calibration_end {
            Some(end) => Some(
                end.succ_opt()
                    .ok_or_else(|| config_error("--calibration-end is out of range"))?,
            ),
            None => None,
        };
        let input = input_spec(&config, args.input.as_deref(), None)?;
        let engine = EngineFlags {
            cluster: args.cluster.as_deref(),
            ..EngineFlags::default()
        };
        let params = feature_params(&config, as_of, engine)?;
        let clv = clv_params(
            config.file.clv.as_ref(),
            ClvFlags {
                time_unit: args.time_unit.as_deref(),
                merge_days: args.merge_days,
                horizon_days: args.horizon_days,
                discount_rate: args.discount_rate,
            },
        )?;
        if let (Some(end), Some(holdout)) = (params.as_of, args.holdout_end) {
            if holdout < end {
                return Err(config_error(format!(
                    "--holdout-end {holdout} must be on or after the calibration end"
                )));
            }
        }
        Ok(ClvCommandSettings {
            input,
            params,
            clv,
            model: args.model.clone(),
            model_out: args.model_out.clone(),
            out: args.out.clone(),
            holdout_end: args.holdout_end,
            seal,
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
    pub seal: SealPolicy,
}

fn parse_k(text: &str, k_min: usize, k_max: usize) -> Result<KChoice> {
    if text.eq_ignore_ascii_case("auto") {
        return Ok(KChoice::Auto { min: k_min, max: k_max });
    }
    text.parse::<usize>()
        .map(KChoice::Fixed)
        .map_err(|_| config_error(format!("k = {text:?}: expected a number of segments or \"auto\"")))
}

/// The k-means parameters: `[segments]` under `--k` and `--seed`, checked in `churn-segment`.
fn segment_params(config: &Config, k: Option<&str>, seed: Option<u64>) -> Result<ValidSegmentParams> {
    let seg = &config.file.segments;
    let (k_min, k_max) = (seg.k_min.unwrap_or(2), seg.k_max.unwrap_or(10));
    let k = match (k, &seg.k) {
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
    params.seed = seed.or(seg.seed).unwrap_or(params.seed);
    params.fit_sample = seg.fit_sample.unwrap_or(params.fit_sample);
    params.silhouette_sample = seg.silhouette_sample.unwrap_or(params.silhouette_sample);
    params.check().map_err(|e| config_error(e.to_string()))
}

impl SegmentSettings {
    pub fn resolve(args: &SegmentArgs, seal: SealPolicy) -> Result<Self> {
        let config = Config::load(args.config.as_deref())?;
        let profiles_out = args.profiles_out.clone().unwrap_or_else(|| {
            let dir = args.out.parent().unwrap_or(Path::new(""));
            dir.join("segment_profiles.csv")
        });
        Ok(SegmentSettings {
            features: args.features.clone(),
            params: segment_params(&config, args.k.as_deref(), args.seed)?,
            model: args.model.clone(),
            model_out: args.model_out.clone(),
            out: args.out.clone(),
            profiles_out,
            seal,
        })
    }
}

/// The flags `churn train` and `churn run` share with the training plan.
#[derive(Debug, Default)]
struct TrainFlags<'a> {
    input: Option<&'a str>,
    as_of: Option<NaiveDate>,
    horizon_days: Option<i64>,
    active_within_days: Option<f64>,
    cluster: Option<&'a str>,
}

/// The training plan: the input, features, horizon and `[model]`, with the lifetime-value features
/// when `clv.churn_features` asks for them.
fn train_plan(config: &Config, flags: TrainFlags<'_>) -> Result<TrainPlan> {
    let input = input_spec(config, flags.input, None)?;
    let engine = EngineFlags {
        cluster: flags.cluster,
        ..EngineFlags::default()
    };
    let features = feature_params(config, flags.as_of, engine)?;
    let file = &config.file;
    let horizon_days = flags.horizon_days.or(file.horizon_days).unwrap_or(DEFAULT_HORIZON_DAYS);
    if horizon_days < 1 {
        return Err(config_error(format!(
            "horizon_days = {horizon_days}: must be at least 1"
        )));
    }
    let m = &file.model;
    let mut params = ModelParams::default();
    if let Some(list) = &m.features {
        params.features = list
            .iter()
            .map(|f| f.parse::<FeatureSpec>())
            .collect::<Result<_, _>>()
            .map_err(|e| config_error(format!("model.features: {e}")))?;
    }
    let clv_features = match &file.clv {
        Some(c) if c.churn_features == Some(true) => Some(clv_params(Some(c), ClvFlags::default())?),
        _ => None,
    };
    match (&clv_features, &m.features) {
        // The defaults grow by the lifetime-value features; a configured list is taken as written.
        (Some(clv), None) => params.features.extend(clv.churn_inputs()),
        (None, _) => {
            if let Some(spec) = params.features.iter().find(|s| churn_inputs::is_clv_column(s.column())) {
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
    let model = params.check().map_err(|e| config_error(e.to_string()))?;
    let active_within_days = flags.active_within_days.or(m.active_within_days);
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
            let customers = file.input.customers.as_deref().ok_or_else(|| {
                config_error(format!(
                    "model.label_column = {column:?} needs the customers table: set input.customers"
                ))
            })?;
            let holdout_share = m.holdout_share.unwrap_or(0.3);
            if !(holdout_share > 0.0 && holdout_share < 1.0) {
                return Err(config_error(format!(
                    "model.holdout_share = {holdout_share}: must be between 0 and 1"
                )));
            }
            Some(ExplicitLabels {
                customers: PathBuf::from(config.path(customers)),
                column: column.clone(),
                holdout_share,
            })
        }
    };
    Ok(TrainPlan {
        input,
        features,
        horizon_days,
        model,
        active_within_days,
        explicit_labels,
        clv_features,
    })
}

/// Everything `churn train` needs, resolved.
#[derive(Debug)]
pub struct TrainSettings {
    pub plan: TrainPlan,
    pub model_out: Option<PathBuf>,
}

impl TrainSettings {
    pub fn resolve(args: &TrainArgs) -> Result<Self> {
        let config = Config::load(args.config.as_deref())?;
        let flags = TrainFlags {
            input: args.input.as_deref(),
            as_of: args.as_of,
            horizon_days: args.horizon_days,
            active_within_days: args.active_within_days,
            cluster: args.cluster.as_deref(),
        };
        Ok(TrainSettings {
            plan: train_plan(&config, flags)?,
            model_out: args.model_out.clone(),
        })
    }
}

/// The risk bands, the action table and the list length: `[score]` under `--top`.
fn score_plan(config: &Config, top: Option<usize>) -> Result<ScorePlan> {
    let score = &config.file.score;
    let bands = score
        .bands
        .unwrap_or_default()
        .check()
        .map_err(|e| config_error(format!("score.bands: {e}")))?;
    let holdout = &config.file.holdout;
    let share = holdout.share.unwrap_or(0.0);
    let holdout = match share {
        _ if share == 0.0 => None,
        share => Some(
            churn_score::Holdout {
                share,
                salt: holdout.salt.clone().unwrap_or_else(|| "holdout".to_string()),
            }
            .check()
            .map_err(|e| config_error(e.to_string()))?,
        ),
    };
    let top = top.or(score.top);
    let actions = score.actions.clone().unwrap_or_else(default_actions);
    let run = &config.file.run;
    let budget = match (run.contact_budget, run.budget) {
        (Some(_), Some(_)) => {
            return Err(config_error(
                "run.contact_budget and run.budget are both set: the list is kept within one budget, a number of \
                 customers or an amount of money"
                    .to_string(),
            ))
        }
        (Some(n), None) => Some(Budget::Contacts(n)),
        (None, Some(m)) => Some(Budget::Money(m).check().map_err(|e| config_error(e.to_string()))?),
        (None, None) => None,
    };
    if budget.is_some() {
        if top.is_some() {
            return Err(config_error(
                "score.top (or --top) and a run budget are both set: a budget already limits the list; remove one"
                    .to_string(),
            ));
        }
        check_actions_for_gain(&actions).map_err(|e| config_error(format!("score.actions: {e}")))?;
    }
    Ok(ScorePlan {
        bands,
        top,
        actions,
        holdout,
        budget,
    })
}

/// Everything `churn score` needs, resolved.
#[derive(Debug)]
pub struct ScoreSettings {
    pub features: PathBuf,
    pub model: PathBuf,
    pub segment_model: Option<PathBuf>,
    pub out: PathBuf,
    pub at_risk: PathBuf,
    pub plan: ScorePlan,
    /// Lifetime values (`clv.parquet`) to value risk with.
    pub clv: Option<PathBuf>,
    pub seal: SealPolicy,
}

impl ScoreSettings {
    pub fn resolve(args: &ScoreArgs, seal: SealPolicy) -> Result<Self> {
        let config = Config::load(args.config.as_deref())?;
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
            plan: score_plan(&config, args.top)?,
            clv: args.clv.clone(),
            seal,
        })
    }
}

/// The promotion gates: `[gates]` over [`Gates::default`].
fn gates(config: &Config) -> Result<Gates> {
    let g = &config.file.gates;
    let defaults = Gates::default();
    Gates {
        min_roc_auc: g.min_roc_auc.unwrap_or(defaults.min_roc_auc),
        max_auc_drop: g.max_auc_drop.unwrap_or(defaults.max_auc_drop),
        min_per_class: g.min_per_class.unwrap_or(defaults.min_per_class),
        fail_exit_code: g.fail_exit_code.unwrap_or(defaults.fail_exit_code),
    }
    .check()
    .map_err(|e| config_error(e.to_string()))
}

/// Everything `churn run` needs, resolved: the night's plan (its previous run is found when the
/// run starts).
#[derive(Debug)]
pub struct RunSettings {
    pub plan: NightlyPlan,
}

impl RunSettings {
    pub fn resolve(args: &RunArgs, seal: SealPolicy) -> Result<Self> {
        let config = Config::load(Some(&args.config))?;
        let dir = |flag: &Option<PathBuf>, key: &Option<String>, default: &str| match (flag, key) {
            (Some(flag), _) => flag.clone(),
            (None, Some(value)) => PathBuf::from(config.path(value)),
            (None, None) => PathBuf::from(config.path(default)),
        };
        let output_dir = dir(&args.output_dir, &config.file.run.output_dir, DEFAULT_OUTPUT_DIR);
        let models_dir = dir(&args.models_dir, &config.file.run.models_dir, DEFAULT_MODELS_DIR);
        let flags = TrainFlags {
            as_of: args.as_of,
            horizon_days: args.horizon_days,
            cluster: args.cluster.as_deref(),
            ..TrainFlags::default()
        };
        let train = train_plan(&config, flags)?;
        let segments = segment_params(&config, None, None)?;
        let score = score_plan(&config, None)?;
        let clv = config
            .file
            .clv
            .as_ref()
            .map(|c| clv_params(Some(c), ClvFlags::default()))
            .transpose()?;
        Ok(RunSettings {
            plan: NightlyPlan {
                train,
                segments,
                refit_segments: args.refit_segments,
                score,
                gates: gates(&config)?,
                clv,
                models_dir,
                output_dir,
                previous_run: None,
                seal,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{resolve_path, ConfigFile};
    use churn_score::RiskBands;

    /// The `[default: ...]` a flag's help states.
    fn stated_default(command: &str, flag: &str) -> String {
        use clap::CommandFactory;
        let cli = crate::args::Args::command();
        let sub = cli.find_subcommand(command).expect("subcommand");
        let arg = sub.get_arguments().find(|a| a.get_long() == Some(flag)).expect("flag");
        let help = arg.get_help().expect("help").to_string();
        let start = help.find("[default: ").expect("a stated default") + "[default: ".len();
        help[start..].split(']').next().expect("closing bracket").to_string()
    }

    #[test]
    fn the_help_states_the_defaults_that_apply() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("churn.toml");
        let settings = RunSettings::resolve(
            &run_args(&path, "[input]\ntransactions = \"tx.csv\"\n"),
            SealPolicy::Required,
        )?;
        let plan = &settings.plan;
        assert_eq!(
            stated_default("run", "horizon-days"),
            plan.train.horizon_days.to_string()
        );
        assert_eq!(
            stated_default("train", "horizon-days"),
            plan.train.horizon_days.to_string()
        );
        assert_eq!(stated_default("run", "output-dir"), DEFAULT_OUTPUT_DIR);
        assert_eq!(stated_default("run", "models-dir"), DEFAULT_MODELS_DIR);
        assert_eq!(stated_default("segment", "seed"), plan.segments.seed.to_string());
        assert_eq!(stated_default("segment", "k"), "auto");
        let clv = ClvParams::default();
        assert_eq!(stated_default("clv", "horizon-days"), clv.horizon_days.to_string());
        assert_eq!(stated_default("clv", "time-unit"), clv.time_unit.name());
        assert_eq!(
            stated_default("clv", "discount-rate"),
            clv.annual_discount_rate.to_string()
        );
        assert!(stated_default("clv", "merge-days").starts_with(&clv.merge_days.to_string()));
        assert!(stated_default("features", "max-errors") == churn_features::DEFAULT_MAX_ERRORS.to_string());
        Ok(())
    }

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
        RunSettings::resolve(&run_args(&path, FULL_CONFIG), SealPolicy::Required)
            .expect("the unbroken config resolves");
        churn_fuzzkit::fuzz(
            "config",
            256,
            churn_fuzzkit::mutations(FULL_CONFIG.as_bytes(), b"=\"'[]{},.#\n-+0123456789eE"),
            |bytes| {
                std::fs::write(&path, bytes).map_err(|e| proptest::test_runner::TestCaseError::fail(e.to_string()))?;
                if let Err(e) = RunSettings::resolve(&run_args(&path, ""), SealPolicy::Required) {
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
            cluster: None,
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
