//! The DataFusion side: registering the input, mapping columns, and the per-customer aggregation.
//!
//! # The plans
//! **The read** ([`compact_sql`], what every command runs): the rows, hash-partitioned by customer,
//! grouped by customer id alone; the aggregate function `churn_timeline` ([`crate::gather`]) gathers
//! each customer's rows into entries by order, instant and kind (valid or not, purchase, return),
//! with each entry's row count, duplicate count and integer cents. Exact duplicates share every
//! column and so an entry: they are counted as the entry's rows minus its distinct row hashes
//! ([`crate::lines`]), without grouping whole rows. Each snapshot is then a linear pass over these
//! entries ([`Timelines`]).
//!
//! **The reference** ([`run`], only for the tests' comparison): one statement, three hash
//! aggregations, no `count(DISTINCT ...)` and no window:
//! 1. **lines**: group identical rows (all mapped columns) and count them: exact duplicates counted
//!    (or dropped) the plain way.
//! 2. **orders**: group lines by (customer, order) and sum integer cents under the window filters. An
//!    order counts towards `frequency` if it has a purchase line, so distinct-order counts become sums.
//!    Rows without an order id form one group per customer whose purchase lines each count as an order.
//! 3. **customers**: group orders by customer.
//!
//! Validation rides along: every row is tagged `ok` (timestamp and amount present, amount finite and
//! within bounds) and invalid rows are counted. If any are, a slow second pass over the files in
//! order finds the first offending line or row for the error message; the fast path never tracks
//! positions.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type, Int64Type, TimeUnit, UInt64Type};
use datafusion::common::DFSchema;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::{DataFrame, ParquetReadOptions, SessionConfig, SessionContext};
use futures::StreamExt;

use crate::error::{Error, Location, Problems, Result};
use crate::gather::Duplicates;
use crate::memory::WeightedSpillPool;
use crate::params::{ColumnRole, FeatureParams, InputSpec, SharedOrders};
use crate::parse::TimestampParser;
use crate::source::{self, ColumnKind, Format, InputFiles, TextPlan, LINE_COLUMN};
use crate::timeline::{TimelineBuilder, Timelines};

pub(crate) const MICROS_PER_DAY: i64 = 86_400_000_000;

/// Per-customer aggregates as the engine returns them; all money in integer cents.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct CustomerAgg {
    pub(crate) customer_id: Option<String>,
    pub(crate) rows_total: u64,
    pub(crate) rows_invalid: u64,
    pub(crate) rows_future: u64,
    pub(crate) rows_duplicate: u64,
    pub(crate) rows_before: u64,
    pub(crate) net_cents: i64,
    /// Sum of |cents| as a float: the bound on every money sum of the customer, which shows
    /// whether an integer sum could have overflowed.
    pub(crate) abs_cents: f64,
    pub(crate) purchase_cents: i64,
    pub(crate) return_cents: i64,
    pub(crate) spend_30d_cents: i64,
    pub(crate) spend_90d_cents: i64,
    pub(crate) spend_365d_cents: i64,
    pub(crate) first_purchase_us: Option<i64>,
    pub(crate) last_purchase_us: Option<i64>,
    pub(crate) frequency: i64,
    pub(crate) orders_90d: i64,
    /// Orders with a purchase row in `[S - 180 days, S - 90 days)`.
    pub(crate) orders_prev_90d: i64,
    /// Net cents in `[S - 180 days, S - 90 days)`.
    pub(crate) spend_prev_90d_cents: i64,
    /// The median gap in days between consecutive distinct purchase days; none with fewer than two.
    pub(crate) typical_gap_days: Option<f64>,
}

/// One custom feature: its name and a value per customer id.
pub(crate) type CustomColumn = (String, Vec<(String, Option<f64>)>);

/// A snapshot's customers, as `features::build` takes them.
pub(crate) enum Aggregates<'a> {
    /// In any order (the SQL reference computes them this way): sorted by id before use.
    Unsorted(Vec<CustomerAgg>),
    /// In id order, one at a time (a snapshot of the timelines): the first error ends the snapshot.
    InIdOrder(Box<dyn Iterator<Item = Result<CustomerAgg>> + 'a>),
}

/// What the engine hands back.
pub(crate) struct EngineOutput<'a> {
    pub(crate) customers: Aggregates<'a>,
    pub(crate) custom: Vec<CustomColumn>,
    pub(crate) as_of_us: i64,
    pub(crate) rows_read: u64,
    pub(crate) format: Format,
    pub(crate) files: Vec<PathBuf>,
    /// Order ids under more than one customer, anywhere in the log.
    pub(crate) shared_orders: u64,
}

/// A mapping value resolved against the input's columns.
#[derive(Debug, Clone)]
struct Mapped {
    role: ColumnRole,
    /// The config text, for messages.
    written: String,
    /// The input column when the mapping is a plain name.
    column: Option<String>,
    /// SQL producing the value from `raw`.
    sql: String,
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A value that is not a column but reads like one (letters, digits, `_`, spaces) is a missing
/// column, not an expression: say so, listing the columns the file has.
fn check_not_missing(role: ColumnRole, value: &str, names: &[String], file: &Path) -> Result<()> {
    let looks_like_name = value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b' ');
    if looks_like_name && plain_column(value, names).is_none() {
        return Err(Error::MissingColumn {
            path: file.to_path_buf(),
            role: role.to_string(),
            column: value.to_string(),
            found: names.join(", "),
            hint: delimiter_hint(names).unwrap_or_else(|| "map it under [input.columns]".to_string()),
        });
    }
    Ok(())
}

/// When a header did not split into columns, the delimiter it seems to use.
fn delimiter_hint(names: &[String]) -> Option<String> {
    let [only] = names else { return None };
    source::sniff_delimiter(only.as_bytes())
        .map(|d| format!("the header is one column containing {d:?}: set input.delimiter = {d:?}"))
}

/// A mapping is a plain column if it names one exactly, or as a double-quoted identifier.
fn plain_column(value: &str, names: &[String]) -> Option<String> {
    if names.iter().any(|n| n == value) {
        return Some(value.to_string());
    }
    let inner = value.strip_prefix('"')?.strip_suffix('"')?.replace("\"\"", "\"");
    names.contains(&inner).then_some(inner)
}

fn role_kind(role: ColumnRole) -> ColumnKind {
    match role {
        ColumnRole::Timestamp => ColumnKind::Timestamp,
        ColumnRole::Amount => ColumnKind::Amount,
        ColumnRole::Quantity => ColumnKind::Float,
        ColumnRole::CustomerId => ColumnKind::Id,
        ColumnRole::OrderId | ColumnRole::Category => ColumnKind::Text,
    }
}

struct Session {
    runtime: tokio::runtime::Runtime,
    ctx: SessionContext,
    /// On a cluster, how long one query may take (see [`FeatureParams::cluster_timeout`]).
    job_timeout: Option<std::time::Duration>,
}

fn new_session(params: &FeatureParams, partitions: usize) -> Result<Session> {
    let cluster = params.cluster.as_deref();
    let threads = params
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .map_err(|e| Error::Engine(format!("cannot start the runtime: {e}")))?;
    let mut config = SessionConfig::new().with_target_partitions(partitions.min(threads).max(1));
    // Column names in mappings are case-sensitive (`Quantity * Price` means the column `Quantity`).
    config.options_mut().sql_parser.enable_ident_normalization = false;
    let ctx = match cluster {
        Some(url) => {
            // The executors run the query with their own memory budget (`churn cluster executor
            // --memory-limit-mb`), and `threads` tasks each (`--threads` is per executor there).
            let address: crate::cluster::SchedulerAddress = url.parse().map_err(Error::Cluster)?;
            runtime.block_on(crate::cluster::remote_context(&address, config, threads))?
        }
        None => {
            // Spill instead of failing or swapping when the hash tables outgrow the budget. Each
            // spilling operator has a share: with a first-come pool one partition's aggregation
            // took it all at a hundred million rows, and the other failed with nothing of its own
            // to spill (see `crate::memory` for how the shares are weighted).
            let env = RuntimeEnvBuilder::new()
                .with_memory_pool(Arc::new(WeightedSpillPool::new(params.memory_limit_bytes)))
                .build_arc()
                .map_err(|e| Error::Engine(e.to_string()))?;
            let state = datafusion::execution::SessionStateBuilder::new()
                .with_default_features()
                .with_config(config)
                .with_runtime_env(env)
                .with_physical_optimizer_rule(Arc::new(crate::gather::GatherOnce))
                .build();
            let ctx = SessionContext::new_with_state(state);
            crate::cluster::register_functions(&ctx);
            ctx
        }
    };
    Ok(Session {
        runtime,
        ctx,
        job_timeout: cluster.map(|_| params.cluster_timeout),
    })
}

/// The input registered as table `raw`, with what is needed to interpret failures.
struct Registered {
    names: Vec<String>,
    /// Problems the text readers found; empty for Parquet, whose values are checked by the query.
    problems: Arc<Problems>,
    /// Rows per file: from the footers for Parquet, counted by the readers for text.
    rows_read: Vec<Arc<AtomicU64>>,
    text_plan: Option<Arc<TextPlan>>,
    /// Parquet files, to find the one a failed scan tripped on (the engine's error does not say).
    parquet_files: Vec<PathBuf>,
    /// The text files, when the input is text.
    text_files: Vec<PathBuf>,
    /// The cluster that runs the queries, to name in their errors.
    cluster: Option<String>,
}

impl Registered {
    /// Text files read by a cluster's executors: their reports and row counts stay there (see
    /// [`checked`] and [`Prepared::rows_read`]).
    fn remote_text_files(&self) -> &[PathBuf] {
        match self.cluster {
            Some(_) => &self.text_files,
            None => &[],
        }
    }
}

impl Session {
    /// Runs a query's future to its end; on a cluster, an error once the time bound has passed
    /// (the job is left to the scheduler: the driver only stops waiting for it).
    fn block<T>(
        &self,
        future: impl std::future::Future<Output = datafusion::error::Result<T>>,
    ) -> datafusion::error::Result<T> {
        let Some(limit) = self.job_timeout else {
            return self.runtime.block_on(future);
        };
        self.runtime.block_on(async {
            tokio::time::timeout(limit, future).await.unwrap_or_else(|_| {
                Err(datafusion::error::DataFusionError::Execution(format!(
                    "no result within {} minutes (engine.cluster_timeout_minutes); a Ballista job can stall when \
                     an executor is lost mid-stage: see the scheduler's log, and run again",
                    limit.as_secs().div_ceil(60)
                )))
            })
        })
    }

    fn register_parquet(&self, files: &[PathBuf]) -> Result<Registered> {
        let mut rows = 0;
        for file in files {
            rows += source::parquet_row_count(file)?;
        }
        let paths: Vec<String> = files.iter().map(|p| p.to_string_lossy().into_owned()).collect();
        let df = self
            .block(self.ctx.read_parquet(paths, ParquetReadOptions::default()))
            .map_err(|e| Error::BadFile {
                path: files[0].clone(),
                reason: format!("cannot read as Parquet: {e}"),
            })?;
        let names = df.schema().fields().iter().map(|f| f.name().clone()).collect();
        self.ctx.register_table("raw", df.into_view()).map_err(engine_err)?;
        Ok(Registered {
            names,
            problems: Arc::new(Problems::new(1)),
            rows_read: vec![Arc::new(AtomicU64::new(rows))],
            text_plan: None,
            parquet_files: files.to_vec(),
            text_files: Vec::new(),
            cluster: None,
        })
    }

    fn register_text(&self, files: &[PathBuf], input: &InputSpec, params: &FeatureParams) -> Result<Registered> {
        let names = source::text_column_names(&files[0], &input.text)?;
        for other in &files[1..] {
            let other_names = source::text_column_names(other, &input.text)?;
            if other_names != names {
                return Err(Error::BadFile {
                    path: other.clone(),
                    reason: format!(
                        "has columns [{}] but {} has [{}]; all input files must share one header",
                        other_names.join(", "),
                        files[0].display(),
                        names.join(", ")
                    ),
                });
            }
        }
        // Plain mappings are parsed by role, with exact line numbers; columns that only expressions
        // (and the row filter) use get an inferred type.
        let mut columns: Vec<(String, usize, ColumnKind)> = Vec::new();
        for (role, value) in input.columns.roles() {
            check_not_missing(role, value, &names, &files[0])?;
            if let Some(column) = plain_column(value, &names) {
                if !columns.iter().any(|c| c.0 == column) {
                    let index = names.iter().position(|n| *n == column).unwrap_or_default();
                    columns.push((column, index, role_kind(role)));
                }
            }
        }
        let utf8_schema = arrow::datatypes::Schema::new(
            names
                .iter()
                .map(|n| arrow::datatypes::Field::new(n, DataType::Utf8, true))
                .collect::<Vec<_>>(),
        );
        let df_schema = DFSchema::try_from(utf8_schema).map_err(engine_err)?;
        let mut to_infer = Vec::new();
        let expressions = input
            .columns
            .roles()
            .into_iter()
            .filter(|(_, v)| plain_column(v, &names).is_none())
            .map(|(role, v)| (format!("input.columns.{role}"), v.to_string()))
            .chain(input.filter.iter().map(|f| ("input.where".to_string(), f.clone())));
        for (setting, sql) in expressions {
            let expr = self
                .ctx
                .parse_sql_expr(&sql, &df_schema)
                .map_err(|e| Error::BadExpression {
                    setting: setting.clone(),
                    sql: sql.clone(),
                    reason: e.to_string(),
                })?;
            for column in expr.column_refs() {
                let name = &column.name;
                if let Some(index) = names.iter().position(|n| n == name) {
                    if !columns.iter().any(|c| c.0 == *name) {
                        to_infer.push(columns.len());
                        columns.push((name.clone(), index, ColumnKind::Text));
                    }
                }
            }
        }
        source::infer_kinds(files, &input.text, &mut columns, &to_infer)?;
        // The remaining columns are read as text: they take part in duplicate detection only.
        for (index, name) in names.iter().enumerate() {
            if !columns.iter().any(|c| c.0 == *name) {
                columns.push((name.clone(), index, ColumnKind::Text));
            }
        }
        let plan = Arc::new(TextPlan {
            format: input.text.clone(),
            timestamps: TimestampParser {
                timezone: input.timezone,
                format: input.timestamp_format.clone(),
            },
            max_abs_amount: params.max_abs_amount,
            min_us: params.min_us(),
            min_date: params.min_date,
            decimal_comma: input.decimal_comma,
            columns,
            n_fields: names.len(),
        });
        let problems = Arc::new(Problems::new(input.max_errors));
        let rows_read: Vec<Arc<AtomicU64>> = files.iter().map(|_| Arc::new(AtomicU64::new(0))).collect();
        let table = crate::text_scan::TextTable {
            scan: crate::text_scan::TextScan {
                files: files.to_vec(),
                plan: Arc::clone(&plan),
                problems: Arc::clone(&problems),
                rows_read: rows_read.clone(),
                fail_on_problems: false,
            },
        };
        self.ctx.register_table("raw", Arc::new(table)).map_err(engine_err)?;
        Ok(Registered {
            names,
            problems,
            rows_read,
            text_plan: Some(plan),
            parquet_files: Vec::new(),
            text_files: files.to_vec(),
            cluster: None,
        })
    }

    fn register(&self, input_files: &InputFiles, input: &InputSpec, params: &FeatureParams) -> Result<Registered> {
        let registered = match input_files.format {
            Format::Parquet => self.register_parquet(&input_files.files),
            Format::Text => self.register_text(&input_files.files, input, params),
        }?;
        Ok(Registered {
            cluster: params.cluster.clone(),
            ..registered
        })
    }

    /// Plans `sql` and returns its data frame, attributing planning errors to the config setting.
    fn plan(&self, setting: &str, written: &str, sql: &str) -> Result<DataFrame> {
        self.block(self.ctx.sql(sql)).map_err(|e| Error::BadExpression {
            setting: setting.to_string(),
            sql: written.to_string(),
            reason: e.strip_backtrace(),
        })
    }

    /// Resolves every mapping to SQL that yields the normalized type of its role.
    fn map_columns(&self, input: &InputSpec, registered: &Registered, first_file: &Path) -> Result<Vec<Mapped>> {
        if let Some(filter) = &input.filter {
            self.plan(
                "input.where",
                filter,
                &format!("SELECT 1 FROM raw WHERE {filter} LIMIT 0"),
            )?;
        }
        let mut mapped = Vec::new();
        for (role, value) in input.columns.roles() {
            let column = plain_column(value, &registered.names);
            check_not_missing(role, value, &registered.names, first_file)?;
            let fragment = match &column {
                Some(name) => quote_ident(name),
                None => format!("({value})"),
            };
            let setting = format!("input.columns.{role}");
            let df = self.plan(&setting, value, &format!("SELECT {fragment} AS v FROM raw LIMIT 0"))?;
            let data_type = df.schema().field(0).data_type().clone();
            let epoch_unit = TimestampParser {
                timezone: None,
                format: input.timestamp_format.clone(),
            }
            .epoch_unit();
            let sql = normalize(role, &fragment, &data_type, epoch_unit, input.timezone).map_err(|reason| {
                Error::BadExpression {
                    setting: setting.clone(),
                    sql: value.to_string(),
                    reason,
                }
            })?;
            mapped.push(Mapped {
                role,
                written: value.to_string(),
                column,
                sql,
            });
        }
        Ok(mapped)
    }
}

fn engine_err(e: datafusion::error::DataFusionError) -> Error {
    Error::Engine(e.strip_backtrace())
}

/// SQL turning a mapped value of `data_type` into its role's normalized type: ids and categories as
/// text, timestamps as UTC microseconds, amounts and quantities as doubles.
///
/// Integer timestamps are epoch numbers only when `epoch_unit` (microseconds per unit, from
/// `input.timestamp_format = "unix_s"` and friends) says which unit they count.
fn normalize(
    role: ColumnRole,
    fragment: &str,
    data_type: &DataType,
    epoch_unit: Option<i64>,
    timezone: Option<chrono_tz::Tz>,
) -> std::result::Result<String, String> {
    use DataType::*;
    // A column of nothing but nulls (pyarrow's `null` type): each row is then reported where the
    // role needs a value, exactly as a null of the role's own type would be.
    if *data_type == Null {
        let null_type = match role {
            ColumnRole::CustomerId | ColumnRole::OrderId | ColumnRole::Category => "VARCHAR",
            ColumnRole::Timestamp => "BIGINT",
            ColumnRole::Amount | ColumnRole::Quantity => "DOUBLE",
        };
        return Ok(format!("CAST({fragment} AS {null_type})"));
    }
    // Dictionary-encoded columns (pandas' `category` dtype, Polars' `Categorical`, Parquet
    // dictionary pages read as dictionaries) carry the role in their values: decode and apply the
    // values' rule. The cast keeps nulls and is exact.
    if let Dictionary(_, values) = data_type {
        let decoded = format!("arrow_cast({fragment}, '{values}')");
        return normalize(role, &decoded, values, epoch_unit, timezone)
            .map_err(|reason| format!("{reason} (the column is dictionary-encoded: {data_type})"));
    }
    let is_text = matches!(data_type, Utf8 | LargeUtf8 | Utf8View);
    let is_integer = data_type.is_integer();
    let is_number = data_type.is_numeric();
    match role {
        ColumnRole::CustomerId | ColumnRole::OrderId | ColumnRole::Category => match data_type {
            _ if is_text => Ok(fragment.to_string()),
            _ if is_integer => Ok(format!("CAST({fragment} AS VARCHAR)")),
            // Databases and Spark export whole numbers as DECIMAL(p, 0) (Oracle's NUMBER, a
            // Spark sum of ids): they print as plain integers, so they are ids like any integer.
            Decimal32(_, 0) | Decimal64(_, 0) | Decimal128(_, 0) | Decimal256(_, 0) => {
                Ok(format!("CAST({fragment} AS VARCHAR)"))
            }
            // Older Spark and Impala exports store text as bytes without the UTF-8 annotation.
            Binary | LargeBinary | BinaryView | FixedSizeBinary(_) => Err(format!(
                "{role} is a binary column ({data_type}); if it holds text (older Spark and Impala exports \
                 write strings so), map it as CAST({role} AS VARCHAR), or re-export with strings annotated as UTF-8"
            )),
            Float16 | Float32 | Float64 => Err(format!(
                "{role} must be text or an integer column, found {data_type}: floating-point ids are \
                 not exact, and pandas makes an integer column with missing values float64; save it as \
                 pandas' nullable \"Int64\" or as text"
            )),
            _ => Err(format!("{role} must be text or an integer column, found {data_type}")),
        },
        ColumnRole::Timestamp => match data_type {
            Timestamp(unit, zone) => {
                // Arrow stores zoned timestamps as UTC instants, so the raw integer is the instant;
                // without a zone it is a wall-clock time, UTC unless `input.timezone` says where.
                let raw = format!("arrow_cast({fragment}, 'Int64')");
                let micros = match unit {
                    TimeUnit::Second => format!("{raw} * 1000000"),
                    TimeUnit::Millisecond => format!("{raw} * 1000"),
                    TimeUnit::Microsecond => raw,
                    TimeUnit::Nanosecond => format!("{raw} / 1000"),
                };
                Ok(match (zone, timezone) {
                    (None, Some(tz)) => format!("{}({micros}, '{}')", crate::local_time::NAME, tz.name()),
                    _ => micros,
                })
            }
            Date32 => Ok(format!(
                "CAST(arrow_cast({fragment}, 'Int32') AS BIGINT) * {MICROS_PER_DAY}"
            )),
            Date64 => Ok(format!("arrow_cast({fragment}, 'Int64') * 1000")),
            _ if is_integer => match epoch_unit {
                Some(unit) => Ok(format!("CAST({fragment} AS BIGINT) * {unit}")),
                None => Err(format!(
                    "the timestamp column holds integers ({data_type}); if they are Unix epoch numbers, \
                     set input.timestamp_format to \"unix_s\", \"unix_ms\" or \"unix_us\""
                )),
            },
            _ if is_text => Err(format!(
                "the timestamp is text in this file ({data_type}); in Parquet, store a timestamp type or \
                 map it with an expression such as to_timestamp_micros(col)"
            )),
            _ => Err(format!(
                "the timestamp must be a timestamp or date column, found {data_type}"
            )),
        },
        ColumnRole::Amount | ColumnRole::Quantity => {
            if is_number {
                Ok(format!("CAST({fragment} AS DOUBLE)"))
            } else if is_text {
                Err(format!(
                    "{role} must be numeric, found {data_type}; store a number (a decimal keeps cents \
                     exact) or map it with an expression such as CAST({role} AS DECIMAL(18, 2))"
                ))
            } else {
                Err(format!("{role} must be numeric, found {data_type}"))
            }
        }
    }
}

fn role_sql(mapped: &[Mapped], role: ColumnRole) -> Option<&Mapped> {
    mapped.iter().find(|m| m.role == role)
}

/// Input columns that no role maps by name: they are carried as `__k0, __k1, ...` so that duplicate
/// detection compares whole input rows (two lines of one invoice with the same quantity and price
/// but different products are not duplicates).
fn extra_key_columns(mapped: &[Mapped], names: &[String]) -> Vec<String> {
    names
        .iter()
        .filter(|n| n.as_str() != LINE_COLUMN && !mapped.iter().any(|m| m.column.as_deref() == Some(n.as_str())))
        .cloned()
        .collect()
}

fn tx_sql(mapped: &[Mapped], extra_keys: &[String], filter: Option<&str>) -> String {
    let get = |role: ColumnRole, null_type: &str| {
        role_sql(mapped, role).map_or_else(|| format!("CAST(NULL AS {null_type})"), |m| m.sql.clone())
    };
    let mut sql = format!(
        "SELECT {} AS customer_id, {} AS order_id, {} AS ts_us, {} AS amount, {} AS quantity, {} AS category FROM raw",
        get(ColumnRole::CustomerId, "VARCHAR"),
        get(ColumnRole::OrderId, "VARCHAR"),
        get(ColumnRole::Timestamp, "BIGINT"),
        get(ColumnRole::Amount, "DOUBLE"),
        get(ColumnRole::Quantity, "DOUBLE"),
        get(ColumnRole::Category, "VARCHAR"),
    );
    let keys: String = extra_keys
        .iter()
        .enumerate()
        .map(|(i, name)| format!(", {} AS __k{i}", quote_ident(name)))
        .collect();
    sql = sql.replacen(" FROM raw", &format!("{keys} FROM raw"), 1);
    if let Some(filter) = filter {
        sql.push_str(&format!(" WHERE {filter}"));
    }
    sql
}

fn ok_sql(params: &FeatureParams) -> String {
    format!(
        "(ts_us IS NOT NULL AND ts_us >= {} AND amount IS NOT NULL AND NOT isnan(amount) AND abs(amount) <= {:?})",
        params.min_us(),
        params.max_abs_amount
    )
}

/// The `lines` and `checked` steps shared by every aggregation: identical input rows grouped into
/// one line with its count `n`, its multiplicity `m` (1 when duplicates are dropped) and its
/// validity `ok`.
fn checked_lines_sql(params: &FeatureParams, n_extra_keys: usize) -> String {
    let extra_keys: String = (0..n_extra_keys).map(|i| format!(", __k{i}")).collect();
    let multiplicity = if params.drop_duplicates { "1" } else { "n" };
    let ok = ok_sql(params);
    // Each row as its own line (n = 1) gives the same sums when duplicates are kept: skipping the
    // all-columns grouping only loses the duplicate count.
    let lines = if params.count_duplicates || params.drop_duplicates {
        format!(
            "SELECT customer_id, order_id, ts_us, amount, count(*) AS n\n    FROM tx\n    \
             GROUP BY customer_id, order_id, ts_us, amount, quantity, category{extra_keys}"
        )
    } else {
        "SELECT customer_id, order_id, ts_us, amount, 1 AS n FROM tx".to_string()
    };
    format!(
        r#"lines AS (
    {lines}
), checked AS (
    SELECT customer_id, order_id, ts_us, amount, n, {multiplicity} AS m, {ok} AS ok
    FROM lines
)"#
    )
}

fn feature_sql(as_of_us: i64, params: &FeatureParams, n_extra_keys: usize) -> String {
    let since = |days: i64| as_of_us - days * MICROS_PER_DAY;
    let (s30, s90, s180, s365) = (since(30), since(90), since(180), since(365));
    let checked = checked_lines_sql(params, n_extra_keys);
    let day = floor_div_sql("ts_us", MICROS_PER_DAY);
    format!(
        r#"
WITH {checked}, valued AS (
    SELECT customer_id, order_id, ts_us, amount, n, m, ok,
           ok AND ts_us < {as_of_us} AS before,
           CASE WHEN ok THEN TRY_CAST(round(amount * 100) AS BIGINT) END AS cents
    FROM checked
), orders AS (
    SELECT customer_id, order_id,
        sum(n) AS rows_total,
        sum(n) FILTER (WHERE NOT ok) AS rows_invalid,
        sum(n) FILTER (WHERE ok AND ts_us >= {as_of_us}) AS rows_future,
        sum(n - 1) FILTER (WHERE before) AS rows_duplicate,
        sum(m) FILTER (WHERE before) AS rows_before,
        sum(m * cents) FILTER (WHERE before) AS net_cents,
        sum(m * abs(CAST(cents AS DOUBLE))) FILTER (WHERE before) AS abs_cents,
        sum(m * cents) FILTER (WHERE before AND amount > 0) AS purchase_cents,
        sum(m * cents) FILTER (WHERE before AND amount < 0) AS return_cents,
        sum(m * cents) FILTER (WHERE before AND ts_us >= {s30}) AS spend_30d_cents,
        sum(m * cents) FILTER (WHERE before AND ts_us >= {s90}) AS spend_90d_cents,
        sum(m * cents) FILTER (WHERE before AND ts_us >= {s365}) AS spend_365d_cents,
        sum(m * cents) FILTER (WHERE before AND ts_us >= {s180} AND ts_us < {s90}) AS spend_prev_90d_cents,
        min(ts_us) FILTER (WHERE before AND amount > 0) AS first_purchase_us,
        max(ts_us) FILTER (WHERE before AND amount > 0) AS last_purchase_us,
        sum(m) FILTER (WHERE before AND amount > 0) AS purchase_lines,
        sum(m) FILTER (WHERE before AND amount > 0 AND ts_us >= {s90}) AS purchase_lines_90d,
        sum(m) FILTER (WHERE before AND amount > 0 AND ts_us >= {s180} AND ts_us < {s90}) AS purchase_lines_prev_90d
    FROM valued
    GROUP BY customer_id, order_id
), purchase_days AS (
    SELECT DISTINCT customer_id, {day} AS day FROM valued WHERE before AND amount > 0
), gaps AS (
    SELECT customer_id, day - lag(day) OVER (PARTITION BY customer_id ORDER BY day) AS gap FROM purchase_days
), typical AS (
    SELECT customer_id, median(CAST(gap AS DOUBLE)) AS typical_gap_days
    FROM gaps WHERE gap IS NOT NULL GROUP BY customer_id
), per_customer AS (
SELECT customer_id,
    sum(rows_total) AS rows_total,
    sum(rows_invalid) AS rows_invalid,
    sum(rows_future) AS rows_future,
    sum(rows_duplicate) AS rows_duplicate,
    sum(rows_before) AS rows_before,
    sum(net_cents) AS net_cents,
    sum(abs_cents) AS abs_cents,
    sum(purchase_cents) AS purchase_cents,
    sum(return_cents) AS return_cents,
    sum(spend_30d_cents) AS spend_30d_cents,
    sum(spend_90d_cents) AS spend_90d_cents,
    sum(spend_365d_cents) AS spend_365d_cents,
    min(first_purchase_us) AS first_purchase_us,
    max(last_purchase_us) AS last_purchase_us,
    sum(CASE WHEN order_id IS NULL THEN coalesce(purchase_lines, 0)
             WHEN purchase_lines > 0 THEN 1 ELSE 0 END) AS frequency,
    sum(CASE WHEN order_id IS NULL THEN coalesce(purchase_lines_90d, 0)
             WHEN purchase_lines_90d > 0 THEN 1 ELSE 0 END) AS orders_90d,
    sum(spend_prev_90d_cents) AS spend_prev_90d_cents,
    sum(CASE WHEN order_id IS NULL THEN coalesce(purchase_lines_prev_90d, 0)
             WHEN purchase_lines_prev_90d > 0 THEN 1 ELSE 0 END) AS orders_prev_90d
FROM orders
GROUP BY customer_id
)
SELECT per_customer.*, typical.typical_gap_days
FROM per_customer LEFT JOIN typical ON per_customer.customer_id = typical.customer_id
"#
    )
}

/// `floor(value / divisor)` in SQL integer arithmetic (SQL's `/` truncates towards zero, which is
/// wrong for days before 1970).
fn floor_div_sql(value: &str, divisor: i64) -> String {
    format!("(({value}) - ((({value}) % {divisor}) + {divisor}) % {divisor}) / {divisor}")
}

/// Per-customer transaction periods before `as_of_us` (see `purchases.rs` for the rules): periods of
/// `period_days` days aligned to a Monday, the first purchase day of each, and their values in cents.
fn purchase_sql(as_of_us: i64, params: &FeatureParams, n_extra_keys: usize, period_days: u32) -> String {
    let checked = checked_lines_sql(params, n_extra_keys);
    let day = floor_div_sql("ts_us", MICROS_PER_DAY);
    // Day 4 (1970-01-05) is a Monday: shifting by 3 makes 7-day periods calendar weeks.
    let period = floor_div_sql(&format!("{day} + 3"), i64::from(period_days));
    format!(
        r#"
WITH {checked}, valued AS (
    SELECT customer_id, ts_us, amount, n, m, ok,
           ok AND ts_us < {as_of_us} AS before,
           CASE WHEN ok THEN TRY_CAST(round(amount * 100) AS BIGINT) END AS cents,
           CASE WHEN ok THEN {day} END AS day,
           CASE WHEN ok THEN {period} END AS period
    FROM checked
), periods AS (
    SELECT customer_id, period,
        sum(n) AS rows_total,
        sum(n) FILTER (WHERE NOT ok) AS rows_invalid,
        sum(n) FILTER (WHERE ok AND ts_us >= {as_of_us}) AS rows_future,
        sum(n - 1) FILTER (WHERE before) AS rows_duplicate,
        sum(m) FILTER (WHERE before AND amount >= 0) AS purchase_rows,
        sum(m) FILTER (WHERE before AND amount < 0) AS return_rows,
        sum(m * cents) FILTER (WHERE before AND amount >= 0) AS cents,
        min(day) FILTER (WHERE before AND amount >= 0) AS first_day
    FROM valued
    GROUP BY customer_id, period
)
SELECT customer_id,
    sum(rows_total) AS rows_total,
    sum(rows_invalid) AS rows_invalid,
    sum(rows_future) AS rows_future,
    sum(rows_duplicate) AS rows_duplicate,
    sum(purchase_rows) AS purchase_rows,
    sum(return_rows) AS return_rows,
    count(first_day) AS transactions,
    min(first_day) AS first_day,
    max(first_day) AS last_day,
    sum(cents) AS total_cents,
    first_value(cents ORDER BY first_day ASC NULLS LAST) AS first_cents
FROM periods
GROUP BY customer_id
"#
    )
}

/// One customer's row of [`purchase_sql`].
pub(crate) struct PurchaseAgg {
    pub(crate) customer_id: Option<String>,
    pub(crate) rows_total: u64,
    pub(crate) rows_future: u64,
    pub(crate) rows_duplicate: u64,
    pub(crate) purchase_rows: u64,
    pub(crate) return_rows: u64,
    pub(crate) transactions: u64,
    pub(crate) first_day: Option<i64>,
    pub(crate) last_day: Option<i64>,
    pub(crate) first_cents: i64,
    pub(crate) total_cents: i64,
}

/// The rows of [`purchase_sql`] (or its compact form), and how many input rows were invalid.
fn parse_purchases(batches: &[RecordBatch]) -> Result<(Vec<PurchaseAgg>, u64)> {
    let mut customers = Vec::new();
    let mut invalid = 0;
    for batch in batches {
        let ids = id_column(batch)?;
        let ids = ids.as_string::<i32>();
        let col = |name: &str| int_values(batch, name);
        let (rows_total, rows_invalid, rows_future) = (col("rows_total")?, col("rows_invalid")?, col("rows_future")?);
        let (rows_duplicate, purchase_rows, return_rows) =
            (col("rows_duplicate")?, col("purchase_rows")?, col("return_rows")?);
        let (transactions, first_day, last_day) = (col("transactions")?, col("first_day")?, col("last_day")?);
        let (total_cents, first_cents) = (col("total_cents")?, col("first_cents")?);
        for i in 0..batch.num_rows() {
            invalid += to_u64(rows_invalid[i]);
            customers.push(PurchaseAgg {
                customer_id: ids.is_valid(i).then(|| ids.value(i).to_string()),
                rows_total: to_u64(rows_total[i]),
                rows_future: to_u64(rows_future[i]),
                rows_duplicate: to_u64(rows_duplicate[i]),
                purchase_rows: to_u64(purchase_rows[i]),
                return_rows: to_u64(return_rows[i]),
                transactions: to_u64(transactions[i]),
                first_day: first_day[i],
                last_day: last_day[i],
                first_cents: first_cents[i].unwrap_or(0),
                total_cents: total_cents[i].unwrap_or(0),
            });
        }
    }
    Ok((customers, invalid))
}

/// What [`run_purchases`] hands back.
pub(crate) struct PurchaseOutput {
    pub(crate) customers: Vec<PurchaseAgg>,
    pub(crate) as_of_us: i64,
    pub(crate) rows_read: u64,
}

/// Runs the purchase-history aggregation: registration, mapping, validation, one query.
pub(crate) fn run_purchases(
    input: &InputSpec,
    params: &FeatureParams,
    input_files: &InputFiles,
    period_days: u32,
) -> Result<PurchaseOutput> {
    let prepared = prepare(input, params, input_files)?;
    let as_of_us = prepared.as_of_us(input, params, input_files)?;
    let sql = purchase_sql(as_of_us, params, prepared.extra_keys.len(), period_days);
    let batches = prepared.collect(&sql)?;
    let (customers, invalid) = parse_purchases(&batches)?;
    prepared.validate(
        invalid,
        customers.iter().map(|c| c.customer_id.as_deref()),
        input,
        params,
        input_files,
    )?;
    Ok(PurchaseOutput {
        customers,
        as_of_us,
        rows_read: prepared.rows_read()?,
    })
}

/// The largest sum of |cents| whose integer sums are certainly exact: below 2^63 with a margin for
/// the float sum's own rounding.
pub(crate) const MAX_ABS_CENTS: f64 = 9.0e18;

/// Fails when a customer's money is too large for integer cents: the SQL sums would have wrapped
/// around silently. Needs about 90,000 rows at the largest accepted amount (1e12) for one customer.
fn check_no_overflow(customers: &[CustomerAgg], file: &Path) -> Result<()> {
    customers.iter().try_for_each(|c| check_customer_fits(c, file))
}

/// [`check_no_overflow`] of one customer.
fn check_customer_fits(c: &CustomerAgg, file: &Path) -> Result<()> {
    if c.abs_cents > MAX_ABS_CENTS {
        Err(Error::BadFile {
            path: file.to_path_buf(),
            reason: format!(
                "customer {} has rows whose amounts sum to about {:.3e} in absolute value, more than \
                 integer cents can hold ({:.3e}); is the amount column in the wrong unit?",
                crate::error::truncate_value(c.customer_id.as_deref().unwrap_or("")),
                c.abs_cents / 100.0,
                MAX_ABS_CENTS / 100.0
            ),
        })
    } else {
        Ok(())
    }
}

/// The `customer_id` column of a result as UTF-8 text.
fn id_column(batch: &RecordBatch) -> Result<arrow::array::ArrayRef> {
    let column = batch
        .column_by_name("customer_id")
        .ok_or_else(|| Error::Engine("result has no column customer_id".into()))?;
    arrow::compute::cast(column, &DataType::Utf8).map_err(|e| Error::Engine(e.to_string()))
}

/// Reads an integer column of any integer type as i64, nulls as `None`.
fn int_values(batch: &RecordBatch, name: &str) -> Result<Vec<Option<i64>>> {
    let column = batch
        .column_by_name(name)
        .ok_or_else(|| Error::Engine(format!("result has no column {name}")))?;
    let column = arrow::compute::cast(column, &DataType::Int64).map_err(|e| Error::Engine(e.to_string()))?;
    let values = column.as_primitive::<Int64Type>();
    Ok((0..values.len())
        .map(|i| values.is_valid(i).then(|| values.value(i)))
        .collect())
}

fn to_u64(value: Option<i64>) -> u64 {
    value.map_or(0, |v| u64::try_from(v).unwrap_or(0))
}

fn parse_aggregates(batches: &[RecordBatch]) -> Result<Vec<CustomerAgg>> {
    let mut customers = Vec::new();
    for batch in batches {
        let ids = id_column(batch)?;
        let ids = ids.as_string::<i32>();
        let col = |name: &str| int_values(batch, name);
        let (rows_total, rows_invalid, rows_future) = (col("rows_total")?, col("rows_invalid")?, col("rows_future")?);
        let (rows_duplicate, rows_before) = (col("rows_duplicate")?, col("rows_before")?);
        let (net, purchase, returns) = (col("net_cents")?, col("purchase_cents")?, col("return_cents")?);
        let (s30, s90, s365) = (
            col("spend_30d_cents")?,
            col("spend_90d_cents")?,
            col("spend_365d_cents")?,
        );
        let (first, last) = (col("first_purchase_us")?, col("last_purchase_us")?);
        let (frequency, orders_90d) = (col("frequency")?, col("orders_90d")?);
        let (orders_prev_90d, spend_prev_90d) = (col("orders_prev_90d")?, col("spend_prev_90d_cents")?);
        let typical_gap = batch
            .column_by_name("typical_gap_days")
            .ok_or_else(|| Error::Engine("result has no column typical_gap_days".into()))?;
        let typical_gap =
            arrow::compute::cast(typical_gap, &DataType::Float64).map_err(|e| Error::Engine(e.to_string()))?;
        let typical_gap = typical_gap.as_primitive::<Float64Type>();
        let abs_cents = batch
            .column_by_name("abs_cents")
            .ok_or_else(|| Error::Engine("result has no column abs_cents".into()))?;
        let abs_cents =
            arrow::compute::cast(abs_cents, &DataType::Float64).map_err(|e| Error::Engine(e.to_string()))?;
        let abs_cents = abs_cents.as_primitive::<Float64Type>();
        for i in 0..batch.num_rows() {
            customers.push(CustomerAgg {
                abs_cents: if abs_cents.is_valid(i) { abs_cents.value(i) } else { 0.0 },
                customer_id: ids.is_valid(i).then(|| ids.value(i).to_string()),
                rows_total: to_u64(rows_total[i]),
                rows_invalid: to_u64(rows_invalid[i]),
                rows_future: to_u64(rows_future[i]),
                rows_duplicate: to_u64(rows_duplicate[i]),
                rows_before: to_u64(rows_before[i]),
                net_cents: net[i].unwrap_or(0),
                purchase_cents: purchase[i].unwrap_or(0),
                return_cents: returns[i].unwrap_or(0),
                spend_30d_cents: s30[i].unwrap_or(0),
                spend_90d_cents: s90[i].unwrap_or(0),
                spend_365d_cents: s365[i].unwrap_or(0),
                first_purchase_us: first[i],
                last_purchase_us: last[i],
                frequency: frequency[i].unwrap_or(0),
                orders_90d: orders_90d[i].unwrap_or(0),
                orders_prev_90d: orders_prev_90d[i].unwrap_or(0),
                spend_prev_90d_cents: spend_prev_90d[i].unwrap_or(0),
                typical_gap_days: typical_gap.is_valid(i).then(|| typical_gap.value(i)),
            });
        }
    }
    Ok(customers)
}

/// Turns a query's outcome into the most precise result: the problems the readers found, if any
/// (they skip bad rows, so a query over a bad file "succeeds" on the rest), else the engine's error.
fn checked<T>(registered: &Registered, result: datafusion::error::Result<T>) -> Result<T> {
    if let Some(problems) = registered.problems.take() {
        return Err(problems);
    }
    if result.is_err() {
        // An executor that found a bad value failed its task with a terse message; the files are
        // on a shared filesystem, so they are read here, in order, for the same report a local
        // run gives (every problem up to `input.max_errors`, with file, line and column).
        if let (Some(plan), false) = (&registered.text_plan, registered.remote_text_files().is_empty()) {
            for file in registered.remote_text_files() {
                let read =
                    source::read_text_batches(file, plan, source::TEXT_BATCH_ROWS, registered.problems.limit(), |_| {
                        true
                    });
                registered.problems.record(read.problems, read.stopped);
            }
            if let Some(problems) = registered.problems.take() {
                return Err(problems);
            }
        }
    }
    result.map_err(|e| {
        // A corrupt page (a checksum mismatch, a truncated chunk) surfaces as a bare engine error;
        // read the files one by one to name the broken one.
        registered
            .parquet_files
            .iter()
            .find_map(|file| source::verify_parquet(file).err())
            .unwrap_or_else(|| match &registered.cluster {
                Some(url) => Error::Cluster(format!("the job on {url} failed: {e}")),
                None => engine_err(e),
            })
    })
}

/// The input registered and mapped: the engine session with the view `tx` of normalized rows.
pub(crate) struct Prepared {
    session: Session,
    registered: Registered,
    mapped: Vec<Mapped>,
    extra_keys: Vec<String>,
}

/// Registers the input, resolves the column mappings and plans the normalized view `tx`.
fn prepare(input: &InputSpec, params: &FeatureParams, input_files: &InputFiles) -> Result<Prepared> {
    let session = new_session(params, input_files.files.len().max(2))?;
    let registered = session.register(input_files, input, params)?;
    let mapped = session.map_columns(input, &registered, &input_files.files[0])?;
    let extra_keys = extra_key_columns(&mapped, &registered.names);
    let tx = tx_sql(&mapped, &extra_keys, input.filter.as_deref());
    let tx_df = session.plan("input.columns", "", &tx)?;
    session
        .ctx
        .register_table("tx", tx_df.into_view())
        .map_err(engine_err)?;
    Ok(Prepared {
        session,
        registered,
        mapped,
        extra_keys,
    })
}

impl Prepared {
    /// Registers the rows of `sql` as the view `name`. (A hash repartition by customer asked for
    /// here is dropped by the engine's distribution rule, which plans its own; [`GatherOnce`]
    /// places it under the aggregation.)
    ///
    /// [`GatherOnce`]: crate::gather::GatherOnce
    fn register_view(&self, name: &str, sql: &str) -> Result<()> {
        let ctx = &self.session.ctx;
        let result = self.session.block(async {
            let rows = ctx.sql(sql).await?;
            ctx.register_table(name, rows.into_view()).map(|_| ())
        });
        checked(&self.registered, result)
    }

    /// Runs `sql`, handing each result batch to `each` as it comes; the first error of either side
    /// stops the query. A reader's failure becomes its own (located) error, as in [`Self::collect`].
    /// Returns how many times the plan's operators spilled to disk (the engine's `spill_count`).
    fn for_each_batch(&self, sql: &str, mut each: impl FnMut(&RecordBatch) -> Result<()>) -> Result<usize> {
        let mut failed = None;
        let ctx = &self.session.ctx;
        let result = self.session.block(async {
            let plan = ctx.sql(sql).await?.create_physical_plan().await?;
            let mut stream = datafusion::physical_plan::execute_stream(Arc::clone(&plan), ctx.task_ctx())?;
            while let Some(batch) = stream.next().await {
                if let Err(e) = each(&batch?) {
                    failed = Some(e);
                    break;
                }
            }
            Ok(spills(plan.as_ref()))
        });
        match failed {
            Some(e) => Err(e),
            None => checked(&self.registered, result),
        }
    }

    /// Runs `sql` to completion, turning a reader's failure into its own (located) error.
    fn collect(&self, sql: &str) -> Result<Vec<RecordBatch>> {
        let result = self
            .session
            .block(async { self.session.ctx.sql(sql).await?.collect().await });
        checked(&self.registered, result)
    }

    /// Input rows. Text read by a cluster's executors is counted there, so it is counted again
    /// by a query (see [`read_compact`] for the case that needs no second read).
    fn rows_read(&self) -> Result<u64> {
        if self.registered.remote_text_files().is_empty() {
            return Ok(self
                .registered
                .rows_read
                .iter()
                .map(|n| n.load(Ordering::Relaxed))
                .sum());
        }
        let batches = self.collect("SELECT count(*) AS n FROM raw")?;
        Ok(to_u64(
            batches
                .first()
                .map(|b| int_values(b, "n"))
                .transpose()?
                .and_then(|v| v.first().copied().flatten()),
        ))
    }

    /// The snapshot instant: midnight UTC of `as_of`, or of the day after the last valid row.
    fn as_of_us(&self, input: &InputSpec, params: &FeatureParams, input_files: &InputFiles) -> Result<i64> {
        if let Some(date) = params.as_of {
            return Ok(date.and_time(chrono::NaiveTime::MIN).and_utc().timestamp_micros());
        }
        let ok = ok_sql(params);
        let batches = self.collect(&format!("SELECT max(ts_us) AS last FROM tx WHERE {ok}"))?;
        let last = batches
            .first()
            .map(|b| int_values(b, "last"))
            .transpose()?
            .and_then(|v| v.first().copied().flatten());
        let Some(last) = last else {
            return Err(
                locate_problems(input, params, input_files, &self.mapped, &HashMap::new())?.unwrap_or_else(|| {
                    Error::BadFile {
                        path: input_files.files[0].clone(),
                        reason: "has no valid transaction rows (after input.where)".into(),
                    }
                }),
            );
        };
        Ok((last.div_euclid(MICROS_PER_DAY) + 1) * MICROS_PER_DAY)
    }

    /// Fails with the located problems when the aggregation counted `invalid` rows or produced a
    /// customer id that [`crate::parse::check_id`] rejects (possible only for ids the query computes:
    /// Parquet columns and expressions; the text reader checks the others as it reads).
    fn validate<'a>(
        &self,
        invalid: u64,
        ids: impl Iterator<Item = Option<&'a str>>,
        input: &InputSpec,
        params: &FeatureParams,
        input_files: &InputFiles,
    ) -> Result<()> {
        // Each rejected id with its reason, checked once per customer rather than once per row.
        let bad_ids: HashMap<String, String> = ids
            .flatten()
            .filter_map(|id| crate::parse::check_id(id).err().map(|reason| (id.to_string(), reason)))
            .collect();
        if invalid == 0 && bad_ids.is_empty() {
            return Ok(());
        }
        match locate_problems(input, params, input_files, &self.mapped, &bad_ids)? {
            Some(problems) => Err(problems),
            None => Err(Error::Engine(format!(
                "{invalid} rows have a missing timestamp or an invalid amount and {} customer ids are \
                 invalid, but none could be located",
                bad_ids.len()
            ))),
        }
    }
}

/// The compact form of the log, one pass over the input: each customer's rows gathered by
/// `churn_timeline` (see [`crate::gather`]) into groups by order, instant and kind (valid or not,
/// purchase, return), with their row counts, duplicate counts and cents. Every snapshot's v1
/// aggregates are sums, minima and maxima over these groups with the snapshot's filters (see
/// [`Timelines`]), so they equal the aggregates over the raw rows exactly: the filters only look at
/// the instant and the kind, which are group keys, and the money is integer cents.
///
/// Exact duplicates share every column, so they share a group: they are the rows of a group whose
/// hash of the other columns repeats (`churn_row_hash`), counted without grouping whole rows.
///
/// The order is keyed by `churn_key_hash(order_id)`, its 128-bit hash, not by its text: the
/// groups only need to tell a customer's orders apart, and 16 fixed bytes cost the aggregation
/// and the driver's memory less than ids of any length (the collision odds are those of
/// [`crate::lines`]: two orders of one customer would have to collide).
///
/// On one machine the rows are hash-partitioned by customer before the aggregation, and the
/// engine aggregates each partition once (`SinglePartitioned`, by the rule
/// [`crate::gather::GatherOnce`]): a partial aggregation would only copy rows that
/// `churn_timeline` keeps anyway, and each partition's aggregation then has the memory pool's share
/// of one consumer, not of two. A cluster's scheduler plans the usual two phases, whose partial
/// state is what crosses the network.
fn compact_sql(params: &FeatureParams, n_extra_keys: usize) -> (String, String) {
    let ok = ok_sql(params);
    let extra_keys: String = (0..n_extra_keys).map(|i| format!(", __k{i}")).collect();
    let duplicates = if params.drop_duplicates {
        Duplicates::Drop
    } else if params.count_duplicates {
        Duplicates::Count
    } else {
        Duplicates::Ignore
    };
    // The columns that are not keys of a group; the keys are equal within a group by definition.
    let (line, line_arg) = match duplicates {
        Duplicates::Ignore => (String::new(), ""),
        _ => (
            format!(", churn_row_hash(amount, quantity, category{extra_keys}) AS line"),
            ", line",
        ),
    };
    let cents = "CASE WHEN ok THEN TRY_CAST(round(amount * 100) AS BIGINT) END";
    let rows = format!(
        r#"
WITH checked AS (
    SELECT *, {ok} AS ok FROM tx
)
SELECT customer_id, churn_key_hash(order_id) AS order_key, ts_us, ok, ok AND amount > 0 AS purchase,
    ok AND amount < 0 AS ret, {cents} AS cents{line}
FROM checked
"#
    );
    let aggregate = format!(
        "SELECT customer_id, {function}(order_key, ts_us, ok, purchase, ret, cents{line_arg}) AS timeline \
         FROM {COMPACT_ROWS} GROUP BY customer_id",
        function = crate::gather::name(duplicates),
    );
    (rows, aggregate)
}

/// How many times the operators of an executed plan spilled to disk.
fn spills(plan: &dyn ExecutionPlan) -> usize {
    let own = plan.metrics().and_then(|m| m.spill_count()).unwrap_or(0);
    own + plan.children().into_iter().map(|c| spills(c.as_ref())).sum::<usize>()
}

/// The view of the compact read's rows (see [`compact_sql`]).
const COMPACT_ROWS: &str = "compact_rows";

/// The log read and validated once, its compact form arranged as each customer's timeline (see
/// [`Timelines`]): every snapshot of a run is one pass over it instead of another read of the files.
pub(crate) struct CompactLog {
    /// Order ids under more than one customer, anywhere in the log.
    pub(crate) shared_orders: u64,
    prepared: Prepared,
    rows_read: u64,
    timelines: Timelines,
    /// The last valid instant, for the default snapshot (the day after it).
    last_us: Option<i64>,
    /// How many times the read spilled to disk.
    spills: usize,
}

/// Reads, maps and validates the input once into its compact form (see [`compact_sql`]).
pub(crate) fn read_compact(input: &InputSpec, params: &FeatureParams, input_files: &InputFiles) -> Result<CompactLog> {
    let prepared = prepare(input, params, input_files)?;
    let (rows_sql, sql) = compact_sql(params, prepared.extra_keys.len());
    prepared.register_view(COMPACT_ROWS, &rows_sql)?;
    let started = std::time::Instant::now();
    // The groups are taken batch by batch as the engine emits them, so the driver never holds the
    // engine's output and the timelines at once: at a hundred million rows that was gigabytes.
    let mut builder = TimelineBuilder::new(params.drop_duplicates);
    let spills = prepared.for_each_batch(&sql, |batch| builder.push(batch))?;
    tracing::debug!(seconds = started.elapsed().as_secs_f64(), spills, "compact query");
    if spills > 0 {
        tracing::info!(
            "the read spilled to disk under its {} MiB memory budget (features.memory_limit_mb); a larger budget \
             makes it faster",
            params.memory_limit_bytes >> 20
        );
    }
    let started = std::time::Instant::now();
    let timelines = builder.finish()?;
    tracing::debug!(
        seconds = started.elapsed().as_secs_f64(),
        groups = timelines.len(),
        "timelines arranged"
    );
    // Validation, once for the whole run, from the timelines (each customer id appears once there):
    // invalid rows, and ids a query computed.
    prepared.validate(timelines.invalid_rows(), timelines.ids(), input, params, input_files)?;
    let started = std::time::Instant::now();
    let (shared_orders, keys) = timelines.shared_orders(SHARED_ORDER_EXAMPLES);
    tracing::debug!(
        seconds = started.elapsed().as_secs_f64(),
        shared_orders,
        "shared orders counted"
    );
    if shared_orders > 0 {
        let examples = locate_shared_orders(input, params, input_files, &prepared.mapped, &keys)?;
        match params.shared_orders {
            SharedOrders::Reject => {
                return Err(Error::SharedOrders {
                    count: shared_orders,
                    examples,
                })
            }
            SharedOrders::Warn => tracing::warn!(
                "{shared_orders} order ids appear under more than one customer: {examples}; each customer keeps \
                 their lines (input.shared_orders = \"reject\" refuses such a log)"
            ),
        }
    }
    let last_us = timelines.last_valid_us();
    // Without a row filter every input row is in a group, so a cluster's text rows need no count.
    let rows_read = if !prepared.registered.remote_text_files().is_empty() && input.filter.is_none() {
        timelines.rows()
    } else {
        prepared.rows_read()?
    };
    Ok(CompactLog {
        prepared,
        rows_read,
        timelines,
        last_us,
        shared_orders,
        spills,
    })
}

impl CompactLog {
    /// Compact groups held, for the logs.
    pub(crate) fn groups(&self) -> usize {
        self.timelines.len()
    }

    /// How many times the read spilled to disk.
    pub(crate) fn spills(&self) -> usize {
        self.spills
    }

    /// The per-customer aggregates as of `params.as_of` (or the day after the last valid row), and
    /// the custom features, which are SQL over the raw rows and so read the input again.
    /// The purchase histories of [`run_purchases`] as of `params.as_of` (or the day after the last
    /// valid row), from the compact form.
    pub(crate) fn purchases(
        &self,
        params: &FeatureParams,
        input_files: &InputFiles,
        period_days: u32,
    ) -> Result<PurchaseOutput> {
        let as_of_us = self.as_of_us(params, input_files)?;
        let customers = self.timelines.purchases(as_of_us, period_days);
        Ok(PurchaseOutput {
            customers,
            as_of_us,
            rows_read: self.rows_read,
        })
    }

    /// Each customer's purchases in `[from_us, to_us)`, from the compact form.
    pub(crate) fn window(&self, from_us: i64, to_us: i64) -> Result<crate::timeline::Window> {
        self.timelines.window(from_us, to_us)
    }

    pub(crate) fn as_of_us(&self, params: &FeatureParams, input_files: &InputFiles) -> Result<i64> {
        Ok(match (params.as_of, self.last_us) {
            (Some(date), _) => date.and_time(chrono::NaiveTime::MIN).and_utc().timestamp_micros(),
            (None, Some(last)) => (last.div_euclid(MICROS_PER_DAY) + 1) * MICROS_PER_DAY,
            (None, None) => {
                return Err(Error::BadFile {
                    path: input_files.files[0].clone(),
                    reason: "has no valid transaction rows (after input.where)".into(),
                })
            }
        })
    }

    pub(crate) fn snapshot(&self, params: &FeatureParams, input_files: &InputFiles) -> Result<EngineOutput<'_>> {
        let as_of_us = self.as_of_us(params, input_files)?;
        let custom = custom_features(&self.prepared, params, as_of_us)?;
        // The aggregates are made as the feature table takes them, each checked for overflow.
        let file = input_files.files[0].clone();
        let customers = self
            .timelines
            .snapshot(as_of_us)
            .map(move |c| check_customer_fits(&c, &file).map(|()| c));
        Ok(EngineOutput {
            customers: Aggregates::InIdOrder(Box::new(customers)),
            custom,
            as_of_us,
            rows_read: self.rows_read,
            format: input_files.format,
            files: input_files.files.clone(),
            shared_orders: self.shared_orders,
        })
    }
}

/// Runs the whole extraction on the engine: registration, mapping, validation and aggregation.
pub(crate) fn run(
    input: &InputSpec,
    params: &FeatureParams,
    input_files: &InputFiles,
) -> Result<EngineOutput<'static>> {
    let prepared = prepare(input, params, input_files)?;
    let as_of_us = prepared.as_of_us(input, params, input_files)?;
    let Prepared { extra_keys, .. } = &prepared;

    let sql = feature_sql(as_of_us, params, extra_keys.len());
    let batches = prepared.collect(&sql)?;
    let rows_read = prepared.rows_read()?;
    let customers = parse_aggregates(&batches)?;
    check_no_overflow(&customers, &input_files.files[0])?;
    let invalid: u64 = customers.iter().map(|c| c.rows_invalid).sum();
    prepared.validate(
        invalid,
        customers.iter().map(|c| c.customer_id.as_deref()),
        input,
        params,
        input_files,
    )?;

    let custom = custom_features(&prepared, params, as_of_us)?;
    let shared_orders = count_shared_orders(&prepared)?;

    Ok(EngineOutput {
        customers: Aggregates::Unsorted(customers),
        custom,
        as_of_us,
        rows_read,
        format: input_files.format,
        files: input_files.files.clone(),
        shared_orders,
    })
}

/// Order ids under more than one customer, counted the plain way: every distinct (order id,
/// customer) pair from SQL, grouped by order id here. The reference for the single read's count
/// ([`Timelines::shared_orders`]), which compares order key hashes in passes.
fn count_shared_orders(prepared: &Prepared) -> Result<u64> {
    let batches = prepared.collect(
        "SELECT CAST(order_id AS VARCHAR) AS order_id, customer_id FROM tx WHERE order_id IS NOT NULL \
         GROUP BY order_id, customer_id",
    )?;
    let mut customers: HashMap<String, u32> = HashMap::new();
    for batch in &batches {
        let orders =
            arrow::compute::cast(batch.column(0), &DataType::Utf8).map_err(|e| Error::Engine(e.to_string()))?;
        let orders = orders.as_string::<i32>();
        let ids = id_column(batch)?;
        let ids = ids.as_string::<i32>();
        for i in 0..batch.num_rows() {
            if ids.is_valid(i) && !crate::parse::is_missing_id(Some(ids.value(i))) {
                *customers.entry(orders.value(i).to_string()).or_default() += 1;
            }
        }
    }
    Ok(customers.values().filter(|&&n| n > 1).count() as u64)
}

/// The `[[features.custom]]` columns as of `as_of_us`: each a SQL aggregate over a customer's valid
/// rows before the snapshot, computed from the normalized rows `tx`.
fn custom_features(prepared: &Prepared, params: &FeatureParams, as_of_us: i64) -> Result<Vec<CustomColumn>> {
    let session = &prepared.session;
    let mut custom = Vec::new();
    for feature in &params.custom {
        let sql = format!(
            "SELECT customer_id, CAST(({}) AS DOUBLE) AS v FROM \
             (SELECT *, arrow_cast(ts_us, 'Timestamp(Microsecond, Some(\"UTC\"))') AS ts FROM tx \
              WHERE {} AND ts_us < {as_of_us} AND customer_id IS NOT NULL) GROUP BY customer_id",
            feature.sql,
            ok_sql(params)
        );
        let setting = format!("features.custom.{}", feature.name);
        let df = session.plan(&setting, &feature.sql, &sql)?;
        let batches = session.block(df.collect());
        if let Some(problems) = prepared.registered.problems.take() {
            return Err(problems);
        }
        let batches = batches.map_err(|e| Error::BadExpression {
            setting: setting.clone(),
            sql: feature.sql.clone(),
            reason: e.strip_backtrace(),
        })?;
        let mut values = Vec::new();
        for batch in &batches {
            // The id may come back as a string view (Parquet text is read as views): read it as
            // plain UTF-8, never downcast it blindly.
            let ids = id_column(batch)?;
            let ids = ids.as_string::<i32>();
            let v =
                arrow::compute::cast(batch.column(1), &DataType::Float64).map_err(|e| Error::Engine(e.to_string()))?;
            let v = v.as_primitive::<Float64Type>();
            for i in 0..batch.num_rows() {
                values.push((ids.value(i).to_string(), v.is_valid(i).then(|| v.value(i))));
            }
        }
        custom.push((feature.name.clone(), values));
    }

    Ok(custom)
}

/// One input file on a session of its own, one partition, for the ordered second reads that
/// locate problems by line or row: the row filter (`keep`) and the line number (`line`, 0 for
/// Parquet, whose rows are counted as they stream) as SQL over `raw`.
struct OneFile {
    session: Session,
    registered: Registered,
    keep: String,
    line: String,
}

impl OneFile {
    fn open(file: &Path, format: Format, input: &InputSpec, single: &FeatureParams) -> Result<OneFile> {
        // The second reads that locate a problem run here, on the shared filesystem: one file in
        // order, on the error path only.
        let single = FeatureParams {
            cluster: None,
            ..single.clone()
        };
        let session = new_session(&single, 1)?;
        let one = InputFiles {
            files: vec![file.to_path_buf()],
            format,
        };
        let registered = session.register(&one, input, &single)?;
        let keep = input
            .filter
            .as_deref()
            .map_or_else(|| "true".to_string(), |f| format!("coalesce(({f}), false)"));
        let line = if registered.text_plan.is_some() {
            quote_ident(LINE_COLUMN)
        } else {
            "CAST(0 AS BIGINT)".into()
        };
        Ok(OneFile {
            session,
            registered,
            keep,
            line,
        })
    }

    /// Streams `sql` over the file in order (its first column the row filter `keep`, its column
    /// `line_at` the line): `each` gets every batch with its kept rows and where each one is (the
    /// line for text, the row for Parquet, counted as the rows stream), and returns `false` to stop.
    fn stream(
        &self,
        sql: &str,
        line_at: usize,
        mut each: impl FnMut(&RecordBatch, &[(usize, Location)]) -> datafusion::error::Result<bool>,
    ) -> Result<()> {
        let text = self.registered.text_plan.is_some();
        let result = self.session.block(async {
            let mut stream = self.session.ctx.sql(sql).await?.execute_stream().await?;
            let (mut row, mut kept) = (0u64, Vec::new());
            while let Some(batch) = stream.next().await {
                let batch = batch?;
                let keep = batch.column(0).as_boolean();
                let lines = arrow::compute::cast(batch.column(line_at), &DataType::UInt64)?;
                let lines = lines.as_primitive::<UInt64Type>();
                kept.clear();
                kept.extend(
                    (0..batch.num_rows())
                        .filter(|&i| keep.is_valid(i) && keep.value(i))
                        .map(|i| {
                            let at = if text {
                                Location::Line(lines.value(i))
                            } else {
                                Location::Row(row + i as u64)
                            };
                            (i, at)
                        }),
                );
                row += batch.num_rows() as u64;
                if !each(&batch, &kept)? {
                    break;
                }
            }
            Ok(())
        });
        checked(&self.registered, result)
    }
}

/// How many orders under more than one customer a message names.
const SHARED_ORDER_EXAMPLES: usize = 3;

/// Names the orders with `keys` (key hashes of order ids claimed by more than one customer) with
/// the first line of each of their first two customers, in the order of `keys`: one more read of
/// the files, on one partition each, made only when such orders exist, and stopped once every
/// order has its two lines.
fn locate_shared_orders(
    input: &InputSpec,
    params: &FeatureParams,
    input_files: &InputFiles,
    mapped: &[Mapped],
    keys: &[[u64; 2]],
) -> Result<String> {
    let (Some(id), Some(order)) = (
        role_sql(mapped, ColumnRole::CustomerId),
        role_sql(mapped, ColumnRole::OrderId),
    ) else {
        return Ok(String::new());
    };
    let single = FeatureParams {
        threads: Some(1),
        ..params.clone()
    };
    /// An order's id and up to two (customer, where) claims on it.
    type Claims = (Option<String>, Vec<(String, String)>);
    let mut found: Vec<Claims> = vec![(None, Vec::new()); keys.len()];
    let complete = |found: &[Claims]| found.iter().all(|f| f.1.len() >= 2);
    for file in &input_files.files {
        if complete(&found) {
            break;
        }
        let one = OneFile::open(file, input_files.format, input, &single)?;
        let sql = format!(
            "SELECT {} AS keep, CAST({} AS VARCHAR) AS id, CAST({} AS VARCHAR) AS order_id, \
             churn_key_hash({}) AS key, CAST({} AS BIGINT) AS line FROM raw",
            one.keep, id.sql, order.sql, order.sql, one.line
        );
        let name = file
            .file_name()
            .map_or_else(|| file.display().to_string(), |n| n.to_string_lossy().into_owned());
        one.stream(&sql, 4, |batch, kept| {
            let ids = arrow::compute::cast(batch.column(1), &DataType::Utf8)?;
            let ids = ids.as_string::<i32>();
            let orders = arrow::compute::cast(batch.column(2), &DataType::Utf8)?;
            let orders = orders.as_string::<i32>();
            let hashes = batch.column(3).as_fixed_size_binary();
            for &(i, at) in kept {
                if hashes.is_null(i) || ids.is_null(i) || crate::parse::is_missing_id(Some(ids.value(i))) {
                    continue;
                }
                let Some(k) = keys
                    .iter()
                    .position(|key| *key == crate::timeline::key_words(hashes.value(i)))
                else {
                    continue;
                };
                let customer = ids.value(i);
                let (order_id, claims) = &mut found[k];
                order_id.get_or_insert_with(|| orders.value(i).to_string());
                if claims.len() < 2 && claims.iter().all(|(c, _)| c != customer) {
                    claims.push((customer.to_string(), format!("{name} {at}")));
                }
            }
            Ok(!complete(&found))
        })?;
    }
    Ok(found
        .into_iter()
        .map(|(order_id, claims)| {
            let claims: Vec<String> = claims
                .iter()
                .map(|(customer, at)| format!("customer {customer:?} ({at})"))
                .collect();
            format!(
                "order {:?} under {}",
                order_id.unwrap_or_default(),
                claims.join(" and ")
            )
        })
        .collect::<Vec<_>>()
        .join("; "))
}

/// The slow path: reads each file in order on one partition and reports the rows whose timestamp
/// or amount is invalid, or whose customer id is a key of `bad_ids` (the value says why), with their line (text) or row
/// index (Parquet), up to `input.max_errors` of them.
fn locate_problems(
    input: &InputSpec,
    params: &FeatureParams,
    input_files: &InputFiles,
    mapped: &[Mapped],
    bad_ids: &HashMap<String, String>,
) -> Result<Option<Error>> {
    let single = FeatureParams {
        threads: Some(1),
        ..params.clone()
    };
    let limit = input.max_errors.max(1);
    let mut problems = Vec::new();
    let mut stopped = false;
    let (Some(id), Some(ts), Some(amount)) = (
        role_sql(mapped, ColumnRole::CustomerId),
        role_sql(mapped, ColumnRole::Timestamp),
        role_sql(mapped, ColumnRole::Amount),
    ) else {
        return Ok(None);
    };
    let column_of = |m: &Mapped| {
        m.column
            .clone()
            .unwrap_or_else(|| format!("{} = {}", m.role, m.written))
    };
    for file in &input_files.files {
        let one = OneFile::open(file, input_files.format, input, &single)?;
        // The timestamp as written, to tell a wall-clock time that does not exist in
        // `input.timezone` (NULL after conversion) from a missing one.
        let ts_raw = ts
            .column
            .as_deref()
            .map_or_else(|| format!("({})", ts.written), quote_ident);
        let sql = format!(
            "SELECT {} AS keep, {} AS ts_us, {} AS amount, CAST({} AS BIGINT) AS line, \
             CAST({} AS VARCHAR) AS id, CAST({ts_raw} AS VARCHAR) AS ts_written FROM raw",
            one.keep, ts.sql, amount.sql, one.line, id.sql
        );
        // Only Parquet's naive timestamps are converted by SQL; the text reader reports its own
        // gaps as it parses.
        let converted = one.registered.text_plan.is_none() && input.timezone.is_some();
        one.stream(&sql, 3, |batch, kept| {
            let ts_values = arrow::compute::cast(batch.column(1), &DataType::Int64)?;
            let ts_values = ts_values.as_primitive::<Int64Type>();
            let amounts = batch.column(2).as_primitive::<Float64Type>();
            // `CAST(.. AS VARCHAR)` may come back as a string view; read it as plain UTF-8.
            let ids = arrow::compute::cast(batch.column(4), &DataType::Utf8)?;
            let ids = ids.as_string::<i32>();
            let written = arrow::compute::cast(batch.column(5), &DataType::Utf8)?;
            let written = written.as_string::<i32>();
            for &(i, location) in kept {
                let mut found = |m: &Mapped, reason: String| {
                    problems.push(Error::BadValue {
                        path: file.clone(),
                        location,
                        column: column_of(m),
                        reason,
                    })
                };
                if let Some(reason) = ids.is_valid(i).then(|| bad_ids.get(ids.value(i))).flatten() {
                    found(id, reason.clone());
                }
                if ts_values.is_null(i) && written.is_valid(i) && converted {
                    let zone = input.timezone.map(|tz| tz.name()).unwrap_or_default();
                    found(
                        ts,
                        format!(
                            "{} does not exist in time zone {zone} (it falls in a daylight-saving gap)",
                            crate::error::truncate_value(written.value(i))
                        ),
                    );
                } else if ts_values.is_null(i) {
                    found(ts, "timestamp is missing (null)".to_string());
                } else if ts_values.value(i) < params.min_us() {
                    found(ts, crate::parse::before_min_date(ts_values.value(i), params.min_date));
                }
                if amounts.is_null(i) {
                    found(amount, "amount is missing (null)".to_string());
                } else if let Err(reason) = crate::parse::check_amount(amounts.value(i), params.max_abs_amount) {
                    found(amount, format!("{} {reason}", amounts.value(i)));
                }
                if problems.len() >= limit {
                    stopped = true;
                    return Ok(false);
                }
            }
            Ok(true)
        })?;
        if stopped {
            break;
        }
    }
    Ok(crate::error::into_error(&mut problems, stopped, limit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_columns_are_found_by_name_or_quoted_identifier() {
        let names = vec!["Customer ID".to_string(), "Price".to_string()];
        assert_eq!(plain_column("Price", &names), Some("Price".to_string()));
        assert_eq!(plain_column("\"Customer ID\"", &names), Some("Customer ID".to_string()));
        assert_eq!(plain_column("Quantity * Price", &names), None);
    }

    #[test]
    fn zoned_timestamps_are_read_as_utc_instants() {
        let sql = normalize(
            ColumnRole::Timestamp,
            "t",
            &DataType::Timestamp(TimeUnit::Millisecond, Some("+02:00".into())),
            None,
            "Europe/London".parse().ok(),
        )
        .expect("supported");
        // A zoned timestamp is an instant: input.timezone does not apply.
        assert_eq!(sql, "arrow_cast(t, 'Int64') * 1000");
        let naive = normalize(
            ColumnRole::Timestamp,
            "t",
            &DataType::Timestamp(TimeUnit::Millisecond, None),
            None,
            "Europe/London".parse().ok(),
        )
        .expect("supported");
        assert_eq!(
            naive,
            "churn_local_micros(arrow_cast(t, 'Int64') * 1000, 'Europe/London')"
        );
    }

    #[test]
    fn binary_ids_ask_for_a_cast() {
        let reason = normalize(ColumnRole::CustomerId, "c", &DataType::Binary, None, None).expect_err("binary");
        assert!(reason.contains("CAST(customer_id AS VARCHAR)"), "{reason}");
        let reason = normalize(
            ColumnRole::Category,
            "c",
            &DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Binary)),
            None,
            None,
        )
        .expect_err("dictionary of binary");
        assert!(reason.contains("dictionary-encoded"), "{reason}");
    }

    #[test]
    fn float_ids_are_rejected() {
        assert!(normalize(ColumnRole::CustomerId, "c", &DataType::Float64, None, None).is_err());
        assert!(normalize(ColumnRole::CustomerId, "c", &DataType::Int64, None, None).is_ok());
        assert!(normalize(ColumnRole::Timestamp, "t", &DataType::Int64, None, None).is_err());
        assert_eq!(
            normalize(ColumnRole::Timestamp, "t", &DataType::Int64, Some(1000), None),
            Ok("CAST(t AS BIGINT) * 1000".to_string())
        );
    }
}
