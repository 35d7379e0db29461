//! Errors raised while building frames, matrices and tables.

/// A `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can be wrong with a frame, a feature spec or a table.
///
/// Rows are counted from 0, as in Parquet; each message names the customer id as well, which is
/// what a person searches for.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The same customer id appears on two rows.
    #[error("customer id {id:?} appears twice (rows {first_row} and {row}); a feature file has one row per customer")]
    DuplicateId {
        /// The repeated id.
        id: String,
        /// The first row it appears on.
        first_row: usize,
        /// The second row it appears on.
        row: usize,
    },
    /// Two columns share a name.
    #[error("column {0:?} appears twice")]
    DuplicateColumn(String),
    /// A column does not have one value per row.
    #[error("column {column:?} has {found} values for {expected} rows")]
    LengthMismatch {
        /// The column.
        column: String,
        /// The number of rows of the frame or table.
        expected: usize,
        /// The number of values given.
        found: usize,
    },
    /// A value is NaN or infinite.
    #[error("column {column:?}, row {row} (customer {id:?}): {value} is not a finite number")]
    NotFinite {
        /// The column.
        column: String,
        /// The row.
        row: usize,
        /// The customer id of the row.
        id: String,
        /// The value found.
        value: f64,
    },
    /// A required column is absent.
    #[error("column {column:?} is missing (columns present: {available})")]
    MissingColumn {
        /// The column.
        column: String,
        /// The columns that are present, comma-separated.
        available: String,
    },
    /// A model input is null for some customer.
    #[error("column {column:?}, row {row} (customer {id:?}) is null; a model input needs a value for every customer (choose a feature without nulls)")]
    Null {
        /// The column.
        column: String,
        /// The row.
        row: usize,
        /// The customer id of the row.
        id: String,
    },
    /// A transform is undefined for a value (`log1p` of a value at or below -1).
    #[error("{spec}: row {row} (customer {id:?}) has {value}, outside the transform's domain (use signed_log1p for values that can be negative)")]
    Domain {
        /// The feature spec.
        spec: String,
        /// The row.
        row: usize,
        /// The customer id of the row.
        id: String,
        /// The value found.
        value: f64,
    },
    /// A text column has more distinct values than its codes can number.
    #[error("text column {column:?} has more than {max} distinct values")]
    TooManyTexts {
        /// The column.
        column: String,
        /// The most distinct values a text column holds.
        max: u64,
    },
    /// A feature spec does not parse.
    #[error("cannot read feature {spec:?}: {reason}")]
    BadSpec {
        /// The text given.
        spec: String,
        /// What is wrong and what is accepted.
        reason: String,
    },
}
