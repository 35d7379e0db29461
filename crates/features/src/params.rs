//! What to read and how to compute features: plain data, checked once by [`FeatureParams::check`].

use chrono::NaiveDate;
use chrono_tz::Tz;

use crate::error::{Error, Result};
use crate::rfm::RfmRules;
use crate::text::TextFormat;

/// Maps the transaction roles to input columns. Each value is a column name (a quoted identifier such
/// as `"Customer ID"` also counts as a name) or a SQL expression over the input's columns, e.g.
/// `Quantity * Price`. Serialized with the role names as keys (a run's manifest records it).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ColumnMapping {
    /// Customer identifier; read as a string, compared byte for byte.
    pub customer_id: String,
    /// When the transaction happened.
    pub timestamp: String,
    /// Money amount of the line; negative for returns.
    pub amount: String,
    /// Order (invoice) identifier; without one, every row is its own order.
    pub order_id: Option<String>,
    /// Units on the line (optional; available to custom features).
    pub quantity: Option<String>,
    /// Product category (optional; available to custom features).
    pub category: Option<String>,
}

impl Default for ColumnMapping {
    fn default() -> Self {
        ColumnMapping {
            customer_id: "customer_id".into(),
            timestamp: "timestamp".into(),
            amount: "amount".into(),
            order_id: None,
            quantity: None,
            category: None,
        }
    }
}

/// What a mapped input column is to the engine; named in messages and settings as in
/// `[input.columns]` (`customer_id`, `timestamp`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ColumnRole {
    /// The customer id (required).
    CustomerId,
    /// When the line was bought (required).
    Timestamp,
    /// The line's amount, negative for returns (required).
    Amount,
    /// The order the line belongs to.
    OrderId,
    /// Units on the line.
    Quantity,
    /// A product category.
    Category,
}

impl ColumnRole {
    /// The role's key under `[input.columns]`.
    pub fn name(self) -> &'static str {
        match self {
            ColumnRole::CustomerId => "customer_id",
            ColumnRole::Timestamp => "timestamp",
            ColumnRole::Amount => "amount",
            ColumnRole::OrderId => "order_id",
            ColumnRole::Quantity => "quantity",
            ColumnRole::Category => "category",
        }
    }
}

impl std::fmt::Display for ColumnRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl ColumnMapping {
    /// The roles and their mappings, required ones first.
    pub fn roles(&self) -> Vec<(ColumnRole, &str)> {
        let mut roles = vec![
            (ColumnRole::CustomerId, self.customer_id.as_str()),
            (ColumnRole::Timestamp, self.timestamp.as_str()),
            (ColumnRole::Amount, self.amount.as_str()),
        ];
        for (role, value) in [
            (ColumnRole::OrderId, &self.order_id),
            (ColumnRole::Quantity, &self.quantity),
            (ColumnRole::Category, &self.category),
        ] {
            if let Some(v) = value {
                roles.push((role, v.as_str()));
            }
        }
        roles
    }
}

/// How many problems a read collects before it stops, unless `input.max_errors` says otherwise.
pub const DEFAULT_MAX_ERRORS: usize = 20;

/// Where the transactions are and how to read them.
#[derive(Debug, Clone)]
pub struct InputSpec {
    /// A file, a directory of files, or a glob. CSV (optionally gzip) or Parquet.
    pub transactions: String,
    /// Column mapping.
    pub columns: ColumnMapping,
    /// Optional SQL row filter over the input columns; rows where it is not true are skipped.
    pub filter: Option<String>,
    /// Delimited-text options (ignored for Parquet).
    pub text: TextFormat,
    /// Zone of naive timestamps (text without an offset, Parquet timestamps without a zone); UTC
    /// when `None`.
    pub timezone: Option<Tz>,
    /// strftime format of text timestamps; ISO 8601 when `None`.
    pub timestamp_format: Option<String>,
    /// Problems (bad values and lines) to collect before giving up; at least 1. All of them are
    /// reported together, in file and line order.
    pub max_errors: usize,
    /// Text amounts use a decimal comma (`12,50`), as European exports with `;` delimiters do. A
    /// `.` in an amount is then an error, never a guess.
    pub decimal_comma: bool,
    /// The customers table (CSV, gzip CSV or Parquet; one row per customer), when there is one:
    /// its signup dates start tenure, and it is counted against the transactions.
    pub customers: Option<std::path::PathBuf>,
    /// The customers table's signup column; [`crate::DEFAULT_SIGNUP_COLUMN`] when present if unset.
    pub signup_column: Option<String>,
}

impl Default for InputSpec {
    fn default() -> Self {
        InputSpec {
            transactions: String::new(),
            columns: ColumnMapping::default(),
            filter: None,
            text: TextFormat::default(),
            timezone: None,
            timestamp_format: None,
            max_errors: DEFAULT_MAX_ERRORS,
            decimal_comma: false,
            customers: None,
            signup_column: None,
        }
    }
}

/// A user feature: a SQL aggregate over a customer's rows before the as-of date, e.g.
/// `count(DISTINCT category)`. It sees the mapped columns `customer_id`, `order_id`, `ts`
/// (timestamp, UTC), `amount`, `quantity` and `category`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomFeature {
    /// Output column name.
    pub name: String,
    /// The aggregate expression.
    pub sql: String,
}

/// How features are computed.
#[derive(Debug, Clone)]
pub struct FeatureParams {
    /// Snapshot date `S`; the day after the last transaction when `None`.
    pub as_of: Option<NaiveDate>,
    /// Drop exact duplicate rows instead of only counting them.
    pub drop_duplicates: bool,
    /// Count exact duplicate rows (the report's `rows_duplicate`). Grouping every row by all its
    /// columns is the most expensive step of the query; a caller that keeps duplicates and does
    /// not report them (the earlier snapshots of `churn train`) can skip it: the features are the
    /// same, and `rows_duplicate` is then 0. Ignored when `drop_duplicates` is set.
    pub count_duplicates: bool,
    /// Largest accepted |amount| of one row; larger values are rejected as absurd.
    pub max_abs_amount: f64,
    /// Earliest accepted timestamp (midnight UTC of this day); earlier rows are rejected, since
    /// they are placeholders such as `1900-01-01` or a zero epoch rather than real purchases.
    pub min_date: NaiveDate,
    /// Extra SQL features, appended after the v1 columns.
    pub custom: Vec<CustomFeature>,
    /// Rule table naming RFM segments.
    pub rfm_rules: RfmRules,
    /// Memory the engine may use before it spills to disk.
    pub memory_limit_bytes: usize,
    /// Parallelism; the number of cores when `None`.
    pub threads: Option<usize>,
    /// What an order id under more than one customer does (`input.shared_orders`).
    pub shared_orders: SharedOrders,
    /// The Ballista scheduler (`df://host:port`) that runs the heavy stage (the one read of the log)
    /// instead of this process; `None` runs everything here. See [`crate::cluster`].
    pub cluster: Option<String>,
    /// How long the driver waits for one query on the cluster before it gives up with an error
    /// (`engine.cluster_timeout_minutes`): a Ballista job can stall for good when an executor is
    /// lost mid-stage, and a nightly job must end rather than wait for ever.
    pub cluster_timeout: std::time::Duration,
}

/// [`FeatureParams::cluster_timeout`]'s default: six hours.
pub const DEFAULT_CLUSTER_TIMEOUT_MINUTES: u64 = 360;

/// What to do with an order id that appears under more than one customer: a join gone wrong
/// upstream, or two systems reusing numbers. Either way the log is counted and the first few such
/// orders are named with their lines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SharedOrders {
    /// Warn, and keep each customer's lines as their own (the order counts once for each).
    #[default]
    Warn,
    /// Refuse the log.
    Reject,
}

impl std::str::FromStr for SharedOrders {
    type Err = String;
    fn from_str(text: &str) -> std::result::Result<Self, String> {
        match text {
            "warn" => Ok(SharedOrders::Warn),
            "reject" => Ok(SharedOrders::Reject),
            other => Err(format!(
                "input.shared_orders = {other:?}: expected \"warn\" or \"reject\""
            )),
        }
    }
}

/// The default earliest accepted transaction date: before it, a timestamp is far more likely a
/// placeholder (`1900-01-01`, `1970-01-01`) than a purchase.
pub const DEFAULT_MIN_DATE: NaiveDate = match NaiveDate::from_ymd_opt(1990, 1, 1) {
    Some(date) => date,
    None => NaiveDate::MIN,
};

/// Names of the v1 feature columns, in file order.
pub const V1_COLUMNS: [&str; 16] = [
    "customer_id",
    "recency_days",
    "frequency",
    "monetary_total",
    "monetary_avg_order",
    "tenure_days",
    "spend_30d",
    "spend_90d",
    "spend_365d",
    "orders_90d",
    "avg_days_between_orders",
    "return_ratio",
    "r_score",
    "f_score",
    "m_score",
    "rfm_segment",
];

/// The columns feature-set version 2 adds after the version-1 columns (before custom features).
pub const V2_COLUMNS: [&str; 4] = ["typical_gap_days", "overdue_ratio", "orders_prev_90d", "spend_prev_90d"];

impl Default for FeatureParams {
    fn default() -> Self {
        FeatureParams {
            as_of: None,
            drop_duplicates: false,
            count_duplicates: true,
            max_abs_amount: 1e8,
            min_date: DEFAULT_MIN_DATE,
            custom: Vec::new(),
            rfm_rules: RfmRules::standard(),
            memory_limit_bytes: 1 << 30,
            threads: None,
            shared_orders: SharedOrders::Warn,
            cluster: None,
            cluster_timeout: std::time::Duration::from_secs(DEFAULT_CLUSTER_TIMEOUT_MINUTES * 60),
        }
    }
}

impl FeatureParams {
    /// The earliest accepted instant, in microseconds since the epoch.
    pub(crate) fn min_us(&self) -> i64 {
        self.min_date
            .and_time(chrono::NaiveTime::MIN)
            .and_utc()
            .timestamp_micros()
    }

    /// Checks every rule on the parameters; called once before any work.
    pub fn check(&self) -> Result<()> {
        if !(self.max_abs_amount.is_finite() && self.max_abs_amount > 0.0) {
            return Err(Error::invalid(
                "input.max_abs_amount",
                format!("must be a positive finite number, got {}", self.max_abs_amount),
            ));
        }
        // Beyond this, integer cents could overflow an i64 after a few thousand rows.
        if self.max_abs_amount > 1e12 {
            return Err(Error::invalid("input.max_abs_amount", "must be at most 1e12"));
        }
        if let Some(as_of) = self.as_of {
            if as_of <= self.min_date {
                return Err(Error::invalid(
                    "as_of",
                    format!("{as_of} is not after input.min_date ({})", self.min_date),
                ));
            }
        }
        if self.memory_limit_bytes < (64 << 20) {
            return Err(Error::invalid("features.memory_limit_mb", "must be at least 64 MiB"));
        }
        if self.cluster_timeout.is_zero() {
            return Err(Error::invalid("engine.cluster_timeout_minutes", "must be at least 1"));
        }
        if self.threads == Some(0) {
            return Err(Error::invalid("features.threads", "must be at least 1"));
        }
        let mut names: std::collections::HashSet<&str> = V1_COLUMNS.iter().chain(&V2_COLUMNS).copied().collect();
        for feature in &self.custom {
            let valid = !feature.name.is_empty()
                && feature.name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                && !feature.name.as_bytes()[0].is_ascii_digit();
            if !valid {
                return Err(Error::invalid(
                    "features.custom.name",
                    format!(
                        "{:?} must be letters, digits and '_', not starting with a digit",
                        feature.name
                    ),
                ));
            }
            if !names.insert(feature.name.as_str()) {
                return Err(Error::invalid(
                    "features.custom.name",
                    format!("{:?} is already a feature column", feature.name),
                ));
            }
            if feature.sql.trim().is_empty() {
                return Err(Error::invalid(
                    "features.custom.sql",
                    format!("feature {:?} has an empty expression", feature.name),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        FeatureParams::default().check().expect("defaults pass");
    }

    #[test]
    fn max_abs_amount_must_be_positive_and_finite() {
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e13] {
            let params = FeatureParams {
                max_abs_amount: bad,
                ..FeatureParams::default()
            };
            assert!(params.check().is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn custom_features_cannot_shadow_v1_columns() {
        let params = FeatureParams {
            custom: vec![CustomFeature {
                name: "frequency".into(),
                sql: "count(*)".into(),
            }],
            ..FeatureParams::default()
        };
        assert!(params.check().expect_err("shadowing").to_string().contains("already"));
    }

    #[test]
    fn custom_feature_names_must_be_identifiers() {
        let params = FeatureParams {
            custom: vec![CustomFeature {
                name: "2x spend".into(),
                sql: "sum(amount)".into(),
            }],
            ..FeatureParams::default()
        };
        assert!(params.check().is_err());
    }

    #[test]
    fn the_cluster_time_bound_is_six_hours_and_never_zero() {
        assert_eq!(FeatureParams::default().cluster_timeout.as_secs(), 6 * 3600);
        let params = FeatureParams {
            cluster_timeout: std::time::Duration::ZERO,
            ..FeatureParams::default()
        };
        let err = params.check().expect_err("zero");
        assert!(err.to_string().contains("engine.cluster_timeout_minutes"), "{err}");
    }

    #[test]
    fn threads_cannot_be_zero() {
        let params = FeatureParams {
            threads: Some(0),
            ..FeatureParams::default()
        };
        assert!(params.check().is_err());
    }
}
