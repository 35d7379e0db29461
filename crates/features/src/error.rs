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
    #[error("{path}: no column {column:?} for `{role}` (columns found: {found}); map it under [input.columns]")]
    MissingColumn {
        /// The file.
        path: PathBuf,
        /// The role, e.g. `timestamp`.
        role: String,
        /// The column the mapping names.
        column: String,
        /// The columns the file has, comma separated.
        found: String,
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

    /// A frame or table violates its invariants (duplicate ids, NaN, ragged columns).
    #[error(transparent)]
    Frame(#[from] churn_core::Error),

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

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

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
