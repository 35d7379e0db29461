//! `churn.toml`: the schema of the config file, and loading it once.
//!
//! Every table has `deny_unknown_fields`: a typo in a key is an error that names it, never a silent
//! default. What the keys mean, and their defaults, is resolved in `settings.rs`.

use std::path::{Path, PathBuf};

use anyhow::Result;
use chrono::NaiveDate;
use churn_score::{ActionRule, RiskBands};
use serde::Deserialize;

use crate::settings::config_error;

/// A loaded config file, and the directory its relative paths are relative to.
#[derive(Debug, Default)]
pub struct Config {
    /// The parsed file (all keys absent without `--config`).
    pub file: ConfigFile,
    /// The config file's directory; `None` without a config file.
    base: Option<PathBuf>,
}

impl Config {
    /// Reads and parses the config file, or the empty config when there is none; errors name the
    /// file and the offending key.
    pub fn load(path: Option<&Path>) -> Result<Config> {
        let Some(path) = path else {
            return Ok(Config::default());
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| config_error(format!("cannot read config {}: {e}", path.display())))?;
        let file = toml::from_str(&text).map_err(|e| config_error(format!("config {}: {e}", path.display())))?;
        Ok(Config {
            file,
            base: path.parent().map(Path::to_path_buf),
        })
    }

    /// A path from the config, relative to the config file's directory unless absolute.
    pub fn path(&self, value: &str) -> String {
        resolve_path(self.base.as_deref(), value)
    }
}

/// `value` under `base` when it is relative.
pub fn resolve_path(base: Option<&Path>, value: &str) -> String {
    match base {
        Some(dir) if Path::new(value).is_relative() => normalize_lexically(&dir.join(value)).display().to_string(),
        _ => value.to_string(),
    }
}

/// `path` with `.` dropped and each `..` cancelling the name before it, as people write paths:
/// `data/sample/../../output` is `output`. Lexical, like Go's `filepath.Clean`: the paths may not
/// exist yet (an output directory), so they cannot be canonicalized. Where a cancelled name is a
/// symbolic link the result can differ from what the filesystem would resolve, which is why it is
/// used only for paths from the config, relative to the config's directory.
pub fn normalize_lexically(path: &Path) -> std::path::PathBuf {
    use std::path::Component;
    let mut out = std::path::PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => match out.components().next_back() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                // `/..` is `/`; a leading `..` stays.
                Some(Component::RootDir | Component::Prefix(_)) => {}
                _ => out.push(".."),
            },
            other => out.push(other),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
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
    pub holdout: HoldoutConfig,
    #[serde(default)]
    pub run: RunConfig,
    #[serde(default)]
    pub gates: GatesConfig,
    /// `[clv]`: present = `churn run` fits the lifetime-value model and values risk with it.
    pub clv: Option<ClvConfig>,
    #[serde(default)]
    pub engine: EngineConfig,
}

/// `[engine]`: where the heavy stage runs.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineConfig {
    /// A Ballista scheduler, `df://host:port`: the one read of the log runs on its executors.
    pub cluster: Option<String>,
    /// How long to wait for one query on the cluster before failing the command.
    pub cluster_timeout_minutes: Option<u64>,
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
    /// Contact at most this many customers, ranked by expected gain.
    pub contact_budget: Option<usize>,
    /// Contacts whose costs add up to at most this much, ranked by expected gain.
    pub budget: Option<f64>,
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

/// `[holdout]`: the control group of a retention experiment.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HoldoutConfig {
    pub share: Option<f64>,
    pub salt: Option<String>,
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
    /// Its signup column (`signup_date` when unset and present).
    pub signup_column: Option<String>,
    /// An order id under more than one customer: "warn" (default) or "reject".
    pub shared_orders: Option<String>,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_relative_paths_are_normalized_lexically() {
        let base = Some(Path::new("data/sample"));
        assert_eq!(resolve_path(base, "../../output"), "output");
        assert_eq!(resolve_path(base, "./transactions.csv"), "data/sample/transactions.csv");
        assert_eq!(resolve_path(base, "../../../elsewhere"), "../elsewhere");
        assert_eq!(resolve_path(Some(Path::new("/srv/churn")), "../../../x"), "/x");
        assert_eq!(resolve_path(base, "../.."), ".");
        // Absolute values and values without a config directory are left as written.
        assert_eq!(resolve_path(base, "/abs/../path"), "/abs/../path");
        assert_eq!(resolve_path(None, "a/../b"), "a/../b");
    }
}
