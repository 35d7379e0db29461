//! Output tables (segments, scores): typed columns, checked once, written by the features crate.

use crate::error::{Error, Result};

/// A typed column of a [`Table`].
#[derive(Debug, Clone, PartialEq)]
pub enum Column {
    /// Text, no nulls.
    Text(Vec<String>),
    /// Text with nulls.
    OptionalText(Vec<Option<String>>),
    /// 64-bit integers, no nulls.
    Int64(Vec<i64>),
    /// Finite floats, no nulls.
    Float64(Vec<f64>),
    /// Finite floats with nulls.
    OptionalFloat64(Vec<Option<f64>>),
    /// Calendar dates with nulls, as days since 1970-01-01 (Parquet `DATE`, Arrow `Date32`).
    OptionalDate(Vec<Option<i32>>),
}

impl Column {
    /// The number of values.
    pub fn len(&self) -> usize {
        match self {
            Column::Text(v) => v.len(),
            Column::OptionalText(v) => v.len(),
            Column::Int64(v) => v.len(),
            Column::Float64(v) => v.len(),
            Column::OptionalFloat64(v) => v.len(),
            Column::OptionalDate(v) => v.len(),
        }
    }

    /// Whether the column has no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn first_non_finite(&self) -> Option<(usize, f64)> {
        let mut values: Box<dyn Iterator<Item = Option<f64>>> = match self {
            Column::Float64(v) => Box::new(v.iter().map(|x| Some(*x))),
            Column::OptionalFloat64(v) => Box::new(v.iter().copied()),
            _ => return None,
        };
        values
            .by_ref()
            .enumerate()
            .find_map(|(row, v)| v.filter(|x| !x.is_finite()).map(|x| (row, x)))
    }
}

/// A column with its name.
pub type NamedColumn = (String, Column);

/// Named columns of equal length plus key-value metadata, in the order they are added.
///
/// No float in a table is NaN or infinite: [`Table::with_column`] rejects them, so a file written
/// from a table never carries one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table {
    rows: Option<usize>,
    columns: Vec<(String, Column)>,
    metadata: Vec<(String, String)>,
}

impl Table {
    /// An empty table.
    pub fn new() -> Self {
        Table::default()
    }

    /// Adds a column; its length must match the columns before it and its floats must be finite.
    pub fn with_column(mut self, name: &str, column: Column) -> Result<Self> {
        if self.columns.iter().any(|(n, _)| n == name) {
            return Err(Error::DuplicateColumn(name.to_string()));
        }
        let rows = *self.rows.get_or_insert(column.len());
        if column.len() != rows {
            return Err(Error::LengthMismatch {
                column: name.to_string(),
                expected: rows,
                found: column.len(),
            });
        }
        if let Some((row, value)) = column.first_non_finite() {
            return Err(Error::NotFinite {
                column: name.to_string(),
                row,
                id: String::new(),
                value,
            });
        }
        self.columns.push((name.to_string(), column));
        Ok(self)
    }

    /// Adds a metadata entry (written into the file's schema metadata).
    pub fn with_metadata(mut self, key: &str, value: &str) -> Self {
        self.metadata.push((key.to_string(), value.to_string()));
        self
    }

    /// The number of rows.
    pub fn num_rows(&self) -> usize {
        self.rows.unwrap_or(0)
    }

    /// The columns, in order.
    pub fn columns(&self) -> &[(String, Column)] {
        &self.columns
    }

    /// The metadata entries, in order.
    pub fn metadata(&self) -> &[(String, String)] {
        &self.metadata
    }

    /// The columns and the metadata, taken out of the table (for a writer that lets each column
    /// go once it is converted).
    pub fn into_parts(self) -> (Vec<NamedColumn>, Vec<(String, String)>) {
        (self.columns, self.metadata)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_reject_ragged_columns_and_non_finite_floats() -> Result<()> {
        let table = Table::new().with_column("id", Column::Text(vec!["a".into(), "b".into()]))?;
        let err = table
            .clone()
            .with_column("x", Column::Int64(vec![1]))
            .expect_err("ragged");
        assert!(matches!(
            err,
            Error::LengthMismatch {
                expected: 2,
                found: 1,
                ..
            }
        ));
        let err = table
            .clone()
            .with_column("p", Column::OptionalFloat64(vec![None, Some(f64::NAN)]))
            .expect_err("NaN");
        assert!(matches!(err, Error::NotFinite { row: 1, .. }));
        let table = table.with_column("p", Column::Float64(vec![0.5, 1.0]))?;
        assert_eq!(table.num_rows(), 2);
        assert_eq!(table.columns().len(), 2);
        Ok(())
    }
}
