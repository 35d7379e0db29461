//! Transaction ingestion, validation and the v1 per-customer features of `churn`.
//!
//! This crate reads a transaction log (CSV, gzip CSV, whitespace-separated text or Parquet; a file,
//! a directory or a glob), maps its columns by name or SQL expression, validates every row, and
//! computes the v1 RFM, tenure and spend features of each customer as of a snapshot date, on Apache
//! DataFusion. It is the only crate of the workspace that knows Arrow, Parquet and DataFusion.
//!
//! The main entry points:
//! - [`extract_features`] turns an [`InputSpec`] and [`FeatureParams`] into a [`FeatureTable`];
//! - [`FeatureTable::write_parquet`] / [`FeatureTable::read_parquet`] store it, atomically, with the
//!   snapshot date, the input fingerprint and the feature-set version in the Parquet metadata;
//! - [`FeatureTable::to_frame`] hands the features to the models as a `churn_core::FeatureFrame`, and
//!   [`write_table`] writes their output tables (segments, scores) the same atomic way;
//! - [`generate`] writes synthetic transactions with a known ground truth, for tests and benchmarks.
//!
//! # Example
//! ```
//! use churn_features::{extract_features, FeatureParams, InputSpec};
//!
//! let dir = tempfile::tempdir()?;
//! let csv = dir.path().join("tx.csv");
//! std::fs::write(&csv, "customer_id,timestamp,amount\n\
//!                       007,2024-01-10,30.00\n\
//!                       007,2024-03-01 12:00:00,20.00\n\
//!                       7,2024-02-01,5.50\n")?;
//! let input = InputSpec { transactions: csv.display().to_string(), ..InputSpec::default() };
//! let params = FeatureParams { as_of: chrono::NaiveDate::from_ymd_opt(2024, 3, 2), ..FeatureParams::default() };
//! let table = extract_features(&input, &params)?;
//!
//! // `007` and `7` are different customers: ids are strings, never numbers.
//! assert_eq!(table.batch.num_rows(), 2);
//! assert_eq!(table.report.rows_used, 3);
//! table.write_parquet(&dir.path().join("features.parquet"))?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod cluster;
mod customers;
mod engine;
mod error;
mod features;
#[cfg(test)]
mod fuzz;
mod gather;
pub mod generate;
mod lines;
mod local_time;
mod memory;
mod output;
mod params;
mod parse;
mod purchases;
pub mod rfm;
mod source;
mod tables;
mod text;
mod text_scan;
mod timeline;

use std::io::Read;
use std::path::PathBuf;

use chrono::NaiveDate;

pub use customers::{CustomersReport, DEFAULT_SIGNUP_COLUMN};
pub use error::{Error, Location, Result};
pub use features::IngestReport;
pub use output::{
    FeatureTable, ParquetBytes, ParquetSource, FEATURE_SET_VERSION, META_AS_OF, META_FEATURE_SET_VERSION,
    META_FINGERPRINT, META_TOOL_VERSION, READABLE_FEATURE_SET_VERSIONS,
};
pub use params::{
    ColumnMapping, ColumnRole, CustomFeature, FeatureParams, InputSpec, SharedOrders, DEFAULT_MAX_ERRORS, V1_COLUMNS,
    V2_COLUMNS,
};
pub use parse::{check_id, is_missing_id, TimestampParser, MAX_ID_BYTES};
pub use purchases::{purchase_history, CustomerPurchases, PurchaseHistory, PurchaseReport};
pub use tables::{
    arrays_to_parquet_bytes, read_arrow_columns, read_customer_table, read_table, read_table_columns,
    read_table_columns_from, write_table,
};
pub use text::{Delimiter, TextFormat};

/// Reads, validates and aggregates the input into the v1 features as of `params.as_of`.
///
/// Nothing is written; a malformed input is an [`Error`] naming the file, the line or row and the
/// column. The input's fingerprint is computed on a second thread while the engine runs. This is
/// [`read_log`] with one snapshot.
pub fn extract_features(input: &InputSpec, params: &FeatureParams) -> Result<FeatureTable> {
    read_log(input, params)?.features(params.as_of)
}

/// [`extract_features`] by one SQL query over the raw rows that groups every whole row to count
/// duplicates: slower, and kept as the independent reference the tests compare the compact path
/// (the one every command uses) with.
#[doc(hidden)]
pub fn extract_features_by_sql(input: &InputSpec, params: &FeatureParams) -> Result<FeatureTable> {
    params.check()?;
    let files = source::discover(&input.transactions)?;
    let (output, fingerprint) = while_hashing(&files, || engine::run(input, params, &files))?;
    let as_of_us = output.as_of_us;
    let customers = read_customers(input, params)?;
    let (batch, report) = features::build(output, params, customers.as_ref())?;
    let as_of = date_of(as_of_us)?;
    Ok(FeatureTable {
        batch,
        as_of,
        fingerprint,
        report,
    })
}

/// The transactions read and validated once, ready to give the features at any snapshot: what a
/// run with several snapshots (`S`, `S - H`, `S - 2H`) reads once. The files are read once into a compact form held in memory (one group per customer,
/// order, instant and kind of row; a few bytes per order, not per line), and each snapshot is one
/// in-memory aggregation over it with exactly the v1 definitions: the same features, to the bit.
/// Custom SQL features still read the input per snapshot.
///
/// ```
/// use chrono::NaiveDate;
/// use churn_features::{read_log, extract_features, ColumnMapping, FeatureParams, InputSpec};
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("tx.csv");
/// std::fs::write(&path, "customer_id,ts,amount\na,2024-01-02,10.00\na,2024-03-01,5.50\nb,2024-02-01,7.25\n")?;
/// let input = InputSpec {
///     transactions: path.display().to_string(),
///     columns: ColumnMapping { timestamp: "ts".into(), ..ColumnMapping::default() },
///     ..InputSpec::default()
/// };
/// let log = read_log(&input, &FeatureParams::default())?;
/// let march = NaiveDate::from_ymd_opt(2024, 3, 1);
/// let february = NaiveDate::from_ymd_opt(2024, 2, 1);
/// assert_eq!(log.features(march)?.batch.num_rows(), 2);
/// assert_eq!(log.features(february)?.batch.num_rows(), 1);
/// let direct = extract_features(&input, &FeatureParams { as_of: march, ..FeatureParams::default() })?;
/// assert_eq!(log.features(march)?.batch, direct.batch);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct TransactionLog {
    input: InputSpec,
    params: FeatureParams,
    files: source::InputFiles,
    compact: engine::CompactLog,
    customers: Option<customers::Customers>,
    fingerprint: String,
}

/// Reads and validates the transactions once (see [`TransactionLog`]). `params.as_of` is ignored:
/// each snapshot names its own.
pub fn read_log(input: &InputSpec, params: &FeatureParams) -> Result<TransactionLog> {
    params.check()?;
    let files = source::discover(&input.transactions)?;
    let customers = read_customers(input, params)?;
    let (compact, fingerprint) = while_hashing(&files, || engine::read_compact(input, params, &files))?;
    tracing::debug!(groups = compact.groups(), "transaction log read");
    Ok(TransactionLog {
        input: input.clone(),
        params: params.clone(),
        files,
        compact,
        customers,
        fingerprint,
    })
}

/// The customers table of `input`, read and checked, when there is one.
fn read_customers(input: &InputSpec, params: &FeatureParams) -> Result<Option<customers::Customers>> {
    let Some(path) = &input.customers else {
        return Ok(None);
    };
    let parser = TimestampParser {
        timezone: input.timezone,
        format: input.timestamp_format.clone(),
    };
    customers::Customers::read(path, input.signup_column.as_deref(), &parser, params.min_date).map(Some)
}

impl std::fmt::Debug for TransactionLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransactionLog")
            .field("transactions", &self.input.transactions)
            .field("groups", &self.compact.groups())
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

impl TransactionLog {
    /// How many times the engine spilled to disk while reading the log (its operators'
    /// `spill_count`): zero when the read fit its memory budget (`features.memory_limit_mb`). A
    /// spill costs time, not correctness: the features are the same.
    pub fn spills(&self) -> usize {
        self.compact.spills()
    }

    /// The v1 features (and custom features) as of `as_of`, or as of the day after the last
    /// transaction.
    pub fn features(&self, as_of: Option<NaiveDate>) -> Result<FeatureTable> {
        let params = FeatureParams {
            as_of,
            ..self.params.clone()
        };
        let started = std::time::Instant::now();
        // The aggregates are made while `build` fills the columns: one time for both.
        let output = self.compact.snapshot(&params, &self.files)?;
        let as_of_us = output.as_of_us;
        let (batch, report) = features::build(output, &params, self.customers.as_ref())?;
        tracing::debug!(seconds = started.elapsed().as_secs_f64(), "snapshot from the log");
        let as_of = date_of(as_of_us)?;
        Ok(FeatureTable {
            batch,
            as_of,
            fingerprint: self.fingerprint.clone(),
            report,
        })
    }

    /// The snapshot date `features(as_of)` uses: `as_of`, or the day after the last valid
    /// transaction.
    pub fn snapshot_date(&self, as_of: Option<NaiveDate>) -> Result<NaiveDate> {
        let params = FeatureParams {
            as_of,
            ..self.params.clone()
        };
        date_of(self.compact.as_of_us(&params, &self.files)?)
    }

    /// The purchase histories for lifetime value as of `as_of` (or the day after the last
    /// transaction), as [`purchase_history`] gives them, from the same single read.
    pub fn purchase_history(&self, as_of: Option<NaiveDate>, period_days: u32) -> Result<PurchaseHistory> {
        if period_days == 0 {
            return Err(Error::invalid("period_days", "must be at least 1"));
        }
        let params = FeatureParams {
            as_of,
            ..self.params.clone()
        };
        let output = self.compact.purchases(&params, &self.files, period_days)?;
        purchases::history(output, self.fingerprint.clone(), period_days)
    }

    /// Each customer's purchases in `[from, to)` (dates at midnight, in the log's time), from the
    /// same single read: what an experiment measures over its window. See [`Activity`].
    pub fn activity(&self, from: NaiveDate, to: NaiveDate) -> Result<Activity> {
        if to <= from {
            return Err(Error::invalid("window", format!("{to} is not after {from}")));
        }
        let micros = |d: NaiveDate| d.and_time(chrono::NaiveTime::MIN).and_utc().timestamp_micros();
        let window = self.compact.window(micros(from), micros(to))?;
        Ok(Activity {
            from,
            to,
            first_day: window.first_valid_us.map(date_of).transpose()?,
            ids: window.ids,
            orders: window.orders,
            net_cents: window.net_cents,
            first_purchase_us: window.first_purchase_us,
        })
    }

    /// The fingerprint of the input files as they were read.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The input this log was read from.
    pub fn input(&self) -> &InputSpec {
        &self.input
    }
}

/// Every customer's purchases in a window `[from, to)`, from [`TransactionLog::activity`]: the
/// distinct orders with a purchase line in the window (counted as `frequency` counts them) and the
/// net spend there (purchases minus returns, as `monetary_total` sums it). A customer of the log
/// without a row in the window has zero of both; one who is not in the log at all is not listed.
#[derive(Debug, Clone, PartialEq)]
pub struct Activity {
    /// The window's first day.
    pub from: NaiveDate,
    /// The day after the window.
    pub to: NaiveDate,
    /// The day of the log's first valid row: a window starting before it is not covered.
    pub first_day: Option<NaiveDate>,
    ids: Vec<String>,
    orders: Vec<u64>,
    net_cents: Vec<i64>,
    first_purchase_us: Vec<Option<i64>>,
}

impl Activity {
    /// The customer's orders and net cents in the window, or `None` when the log has no row of
    /// theirs.
    pub fn get(&self, customer_id: &str) -> Option<(u64, i64)> {
        // Ids are in byte order, as everywhere in the crate.
        let i = self
            .ids
            .binary_search_by(|id| id.as_bytes().cmp(customer_id.as_bytes()))
            .ok()?;
        Some((self.orders[i], self.net_cents[i]))
    }

    /// Days from the window's start to the customer's first purchase row in it (a row with a
    /// positive amount), or `None` when they bought nothing there or are not in the log.
    pub fn first_purchase_days(&self, customer_id: &str) -> Option<f64> {
        let i = self
            .ids
            .binary_search_by(|id| id.as_bytes().cmp(customer_id.as_bytes()))
            .ok()?;
        self.first_purchase_days_at(i)
    }

    /// [`Activity::first_purchase_days`] of the customer at index `i`: microseconds after the
    /// window's midnight, in days as `recency_days` counts them.
    fn first_purchase_days_at(&self, i: usize) -> Option<f64> {
        let from_us = self.from.and_time(chrono::NaiveTime::MIN).and_utc().timestamp_micros();
        self.first_purchase_us[i].map(|t| (t - from_us) as f64 / engine::MICROS_PER_DAY as f64)
    }

    /// [`Activity::first_purchase_days`] of every id of `ids`, in their order. Ids in byte order
    /// (as feature tables hold them) are matched in one merged walk; others are looked up one by
    /// one.
    pub fn first_purchase_days_of(&self, ids: &[String]) -> Vec<Option<f64>> {
        let sorted = ids.windows(2).all(|w| w[0].as_bytes() < w[1].as_bytes());
        if !sorted {
            return ids.iter().map(|id| self.first_purchase_days(id)).collect();
        }
        let mut at = 0;
        ids.iter()
            .map(|id| {
                while at < self.ids.len() && self.ids[at].as_bytes() < id.as_bytes() {
                    at += 1;
                }
                let found = at < self.ids.len() && self.ids[at] == *id;
                found.then(|| self.first_purchase_days_at(at)).flatten()
            })
            .collect()
    }

    /// Customers of the log, in id byte order.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether the log has no customer.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Whether the log reaches back to the window's first day.
    pub fn covers_window(&self) -> bool {
        self.first_day.is_some_and(|d| d <= self.from)
    }
}

/// Runs `work` while a second thread computes the fingerprint of `files` (reading them is I/O the
/// engine's threads do not wait for); returns both. A panic of the hashing thread is an error.
pub(crate) fn while_hashing<T>(files: &source::InputFiles, work: impl FnOnce() -> Result<T>) -> Result<(T, String)> {
    std::thread::scope(|scope| {
        let hashing = scope.spawn(|| fingerprint(&files.files));
        let out = work()?;
        let fingerprint = hashing
            .join()
            .map_err(|_| Error::Engine("fingerprint thread panicked".into()))??;
        Ok((out, fingerprint))
    })
}

/// The transaction files a path, directory or glob resolves to, in the order they are read.
pub fn input_files(pattern: &str) -> Result<Vec<PathBuf>> {
    Ok(source::discover(pattern)?.files)
}

/// Hashes the contents of the files, in order, with their lengths as separators: the same bytes give
/// the same fingerprint wherever the files live.
pub fn fingerprint(files: &[PathBuf]) -> Result<String> {
    Ok(hash_files(files, false)?.0)
}

/// One input file's size and the BLAKE3 hash of its bytes (`blake3:<hex>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileHash {
    /// The file.
    pub path: PathBuf,
    /// Its size.
    pub bytes: u64,
    /// `blake3:<hex>` of its bytes.
    pub hash: String,
}

/// The [`fingerprint`] of `files` and, with `each`, every file's own hash, from one read of each
/// file (a run's manifest lists the files and checks the fingerprint at the end).
pub fn hash_files(files: &[PathBuf], each: bool) -> Result<(String, Vec<FileHash>)> {
    let mut hasher = blake3::Hasher::new();
    let mut hashes = Vec::new();
    let mut buf = vec![0u8; 1 << 20];
    for path in files {
        let mut file = std::fs::File::open(path).map_err(|e| Error::io("cannot open", path, e))?;
        let len = file.metadata().map_err(|e| Error::io("cannot read", path, e))?.len();
        hasher.update(&len.to_le_bytes());
        let mut own = each.then(blake3::Hasher::new);
        let mut bytes = 0u64;
        loop {
            let n = file.read(&mut buf).map_err(|e| Error::io("cannot read", path, e))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            if let Some(own) = &mut own {
                own.update(&buf[..n]);
            }
            bytes += n as u64;
        }
        if let Some(own) = own {
            hashes.push(FileHash {
                path: path.clone(),
                bytes,
                hash: format!("blake3:{}", own.finalize().to_hex()),
            });
        }
    }
    Ok((format!("blake3:{}", hasher.finalize().to_hex()), hashes))
}

/// A snapshot instant as its date.
pub(crate) fn date_of(micros: i64) -> Result<NaiveDate> {
    chrono::DateTime::from_timestamp_micros(micros)
        .map(|t| t.date_naive())
        .ok_or_else(|| Error::invalid("as_of", "out of range"))
}
