//! The one error type of this crate.

use std::fmt;
use std::path::PathBuf;

/// Where in an input file a problem is: a CSV physical line (1-based, the header is line 1) or a
/// Parquet row (0-based, as every Parquet tool counts them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// A physical line of a text file, counted from 1 and including the header and blank lines.
    Line(u64),
    /// A row of a Parquet file, counted from 0.
    Row(u64),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Line(n) => write!(f, "line {n}"),
            Location::Row(n) => write!(f, "row {n}"),
        }
    }
}

/// Everything that can go wrong while reading transactions and computing features.
///
/// Messages are lowercase, name the file, the line or row and the column where there is one, and
/// say what was expected, so that a person can fix the input without reading code.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A parameter or configuration value is invalid.
    #[error("invalid setting `{name}`: {reason}")]
    InvalidParam {
        /// The setting, as spelled in the config file.
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },

    /// The input path, directory or glob matched no readable transaction file.
    #[error("no transaction files found at {pattern} (expected a .csv, .csv.gz, .txt or .parquet file, a directory of them, or a glob)")]
    NoInputFiles {
        /// The path or pattern as given.
        pattern: String,
    },

    /// The input files are of different formats.
    #[error(
        "input files mix formats ({first} is {first_format}, {other} is {other_format}); give files of one format"
    )]
    MixedFormats {
        /// A file of the first format.
        first: PathBuf,
        /// Its format.
        first_format: &'static str,
        /// A file of another format.
        other: PathBuf,
        /// That format.
        other_format: &'static str,
    },

    /// The operating system refused a read or a write.
    #[error("{action} {path}: {source}")]
    Io {
        /// What we were doing, e.g. "cannot read".
        action: &'static str,
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A file as a whole is unusable: empty, truncated, not the format its name says.
    #[error("{path}: {reason}")]
    BadFile {
        /// The file.
        path: PathBuf,
        /// What is wrong, and what to do.
        reason: String,
    },

    /// A column the mapping needs is not in the file.
    #[error("{path}: no column {column:?} for `{role}` (columns found: {found}); {hint}")]
    MissingColumn {
        /// The file.
        path: PathBuf,
        /// The role, e.g. `timestamp`.
        role: String,
        /// The column the mapping names.
        column: String,
        /// The columns the file has, comma separated.
        found: String,
        /// What to do: map the column, or fix the delimiter when the header did not split.
        hint: String,
    },

    /// A value (or the framing around it) at a known place is invalid.
    #[error("{path}: {location}, column {column:?}: {reason}")]
    BadValue {
        /// The file.
        path: PathBuf,
        /// The line or row.
        location: Location,
        /// The column name (or the mapped role when the value comes from an expression).
        column: String,
        /// What was found and what was expected.
        reason: String,
    },

    /// Order ids appear under more than one customer and `input.shared_orders = "reject"`.
    #[error(
        "{count} order ids appear under more than one customer: {examples}; an order belongs to one customer \
         (a join gone wrong upstream, or two systems reusing numbers?); fix the export, or set \
         input.shared_orders = \"warn\" to count them and keep each customer's lines"
    )]
    SharedOrders {
        /// How many order ids.
        count: u64,
        /// The first few, each with the first line of each customer that claims it.
        examples: String,
    },

    /// A line has the wrong number of fields or broken quoting.
    #[error("{path}: line {line}: {reason}")]
    BadLine {
        /// The file.
        path: PathBuf,
        /// The physical line (1-based).
        line: u64,
        /// What is wrong.
        reason: String,
    },

    /// A mapping expression, row filter or custom feature is not valid SQL for this input.
    #[error("{setting} = {sql:?}: {reason}")]
    BadExpression {
        /// The config key, e.g. `input.columns.amount`.
        setting: String,
        /// The expression as written.
        sql: String,
        /// The engine's complaint.
        reason: String,
    },

    /// No customer made a purchase before the as-of date.
    #[error(
        "no customer has a purchase (amount > 0) before the as-of date {as_of}; check --as-of and the amount mapping"
    )]
    EmptySnapshot {
        /// The snapshot date.
        as_of: chrono::NaiveDate,
    },
    /// No customer has a transaction (a row with amount >= 0) before the calibration end.
    #[error(
        "no customer has a purchase (amount >= 0) before {as_of}; check the calibration end and the amount mapping"
    )]
    NoTransactions {
        /// The day after the calibration end.
        as_of: chrono::NaiveDate,
    },

    /// A feature value came out non-finite. This is a guard: the definitions cannot produce one from
    /// validated input, so seeing it means a bug or a custom feature that divides by zero.
    #[error("feature {feature:?} is not finite for customer {customer_id:?}")]
    NonFinite {
        /// The feature column.
        feature: String,
        /// The customer.
        customer_id: String,
    },

    /// The query engine failed for a reason not attributable to a single value.
    #[error("query engine: {0}")]
    Engine(String),

    /// The cluster could not be reached or did not run the query (see [`crate::cluster`]).
    #[error("cluster: {0}")]
    Cluster(String),

    /// A frame or table violates its invariants (duplicate ids, NaN, ragged columns).
    #[error(transparent)]
    Frame(#[from] churn_core::Error),

    /// Several values or lines are invalid: every problem found, up to `input.max_errors`, in file
    /// and line (or row) order. A single problem is reported as itself, never wrapped in this.
    #[error(
        "{} in the input{}; the first: {}",
        count(problems.len(), "problem"),
        if *stopped { " (reading stopped at input.max_errors)" } else { "" },
        problems.first().map(ToString::to_string).unwrap_or_default()
    )]
    Rejected {
        /// The located problems ([`Error::BadValue`], [`Error::BadLine`], [`Error::BadFile`]).
        problems: Vec<Error>,
        /// Whether reading stopped at the limit, so that more problems may exist.
        stopped: bool,
    },

    /// Writing or reading Parquet failed.
    #[error("{path}: parquet: {reason}")]
    Parquet {
        /// The file.
        path: PathBuf,
        /// What the parquet library said.
        reason: String,
    },
}

impl Error {
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn invalid(name: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidParam {
            name,
            reason: reason.into(),
        }
    }
}

impl Error {
    /// The problems this error reports, each with its place: the list of a [`Error::Rejected`], or
    /// the error itself.
    pub fn problems(&self) -> Vec<&Error> {
        match self {
            Error::Rejected { problems, .. } => problems.iter().collect(),
            other => vec![other],
        }
    }

    /// The file, location and column of a problem, where it has them.
    pub fn place(&self) -> (Option<&std::path::Path>, Option<Location>, Option<&str>) {
        match self {
            Error::BadValue {
                path, location, column, ..
            } => (Some(path), Some(*location), Some(column)),
            Error::BadLine { path, line, .. } => (Some(path), Some(Location::Line(*line)), None),
            Error::BadFile { path, .. } | Error::Parquet { path, .. } | Error::Io { path, .. } => {
                (Some(path), None, None)
            }
            Error::MissingColumn { path, column, .. } => (Some(path), None, Some(column)),
            _ => (None, None, None),
        }
    }

    /// What is wrong, without the place (which [`Error::place`] gives).
    pub fn reason(&self) -> String {
        match self {
            Error::BadValue { reason, .. } | Error::BadLine { reason, .. } | Error::BadFile { reason, .. } => {
                reason.clone()
            }
            other => other.to_string(),
        }
    }
}

/// Problems found while reading, shared by the reader threads of one query.
///
/// Readers record a bad line or value and go on (skipping the row) until `limit` problems are found
/// in their file, so that one run reports everything wrong with an export, not only the first line,
/// like pandera's lazy validation or DuckDB's rejects table. The same file may be scanned more than
/// once by a plan; a problem is kept once.
#[derive(Debug)]
pub(crate) struct Problems {
    limit: usize,
    found: std::sync::Mutex<(Vec<Error>, bool)>,
}

impl Problems {
    pub(crate) fn new(limit: usize) -> Self {
        Problems {
            limit: limit.max(1),
            found: std::sync::Mutex::new((Vec::new(), false)),
        }
    }

    /// How many problems a reader collects in one file before it stops.
    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    /// Adds one file's problems; `stopped` when the reader gave up at the limit.
    pub(crate) fn record(&self, problems: Vec<Error>, stopped: bool) {
        if problems.is_empty() {
            return;
        }
        // A poisoned lock means another reader panicked; its problems are lost but ours are not.
        let mut found = match self.found.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        for problem in problems {
            let key = sort_key(&problem);
            if !found.0.iter().any(|p| sort_key(p) == key) {
                found.0.push(problem);
            }
        }
        found.1 |= stopped;
    }

    /// The recorded problems as one error, in file and line order; `None` if there are none.
    pub(crate) fn take(&self) -> Option<Error> {
        let mut found = match self.found.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let (mut problems, stopped) = (std::mem::take(&mut found.0), found.1);
        into_error(&mut problems, stopped, self.limit)
    }
}

/// Sorts problems by place, keeps the first `limit`, and makes one error of them.
pub(crate) fn into_error(problems: &mut Vec<Error>, stopped: bool, limit: usize) -> Option<Error> {
    problems.sort_by_cached_key(sort_key);
    let stopped = stopped || problems.len() > limit;
    problems.truncate(limit.max(1));
    match problems.len() {
        0 => None,
        1 if !stopped => problems.pop(),
        _ => Some(Error::Rejected {
            problems: std::mem::take(problems),
            stopped,
        }),
    }
}

fn sort_key(problem: &Error) -> (PathBuf, u64, String) {
    let (path, location, column) = problem.place();
    let at = match location {
        // A whole-file problem sorts before the file's lines.
        None => 0,
        Some(Location::Line(n)) => n,
        Some(Location::Row(n)) => n + 1,
    };
    (
        path.map(std::path::Path::to_path_buf).unwrap_or_default(),
        at,
        column.unwrap_or_default().to_string(),
    )
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `1 problem`, `2 problems`.
pub(crate) fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Shortens a value for an error message so that one bad megabyte-long field cannot flood a terminal.
pub(crate) fn truncate_value(value: &str) -> String {
    const MAX_CHARS: usize = 40;
    if value.chars().count() <= MAX_CHARS {
        format!("{value:?}")
    } else {
        let head: String = value.chars().take(MAX_CHARS).collect();
        format!("{head:?}... ({} bytes)", value.len())
    }
}
