//! Conversions between Arrow and the shared vocabulary of `churn-core`: feature tables become
//! [`FeatureFrame`]s for the models, and the models' output [`Table`]s become Parquet files.

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use churn_core::{Column, FeatureFrame, Table};

use crate::error::{Error, Location, Result};
use crate::output::{read_parquet_file, write_batch_atomically, FeatureTable, ParquetSource};

impl FeatureTable {
    /// The features as a [`FeatureFrame`]: `customer_id` as ids, every numeric column as numbers
    /// (nulls kept as `None`), every string column as text. NaN or infinity in any numeric column
    /// is an error naming the column, row and customer.
    pub fn to_frame(&self) -> Result<FeatureFrame> {
        frame_of(&self.batch, None)
    }

    /// [`FeatureTable::to_frame`] of the rows `rows` only (in the order given), without a frame of
    /// every row first: a frame holds 16 bytes per value, so the whole snapshot's frame is a third
    /// of a gigabyte at a million customers.
    pub fn to_frame_rows(&self, rows: &[usize]) -> Result<FeatureFrame> {
        let indices = arrow::array::UInt64Array::from_iter_values(rows.iter().map(|&r| r as u64));
        let batch = arrow::compute::take_record_batch(&self.batch, &indices)
            .map_err(|e| Error::Engine(format!("cannot take {} rows of the features: {e}", rows.len())))?;
        frame_of(&batch, None)
    }

    /// [`FeatureTable::to_frame`] with the named numeric or text columns only (the ids always),
    /// each of which must exist.
    pub fn to_frame_columns(&self, columns: &[&str]) -> Result<FeatureFrame> {
        if let Some(missing) = columns.iter().find(|c| self.batch.column_by_name(c).is_none()) {
            return Err(Error::Engine(format!("the feature table has no {missing} column")));
        }
        frame_of(&self.batch, Some(columns))
    }
}

/// See [`FeatureTable::to_frame`]; `columns` keeps only those named (the ids always).
fn frame_of(batch: &RecordBatch, columns: Option<&[&str]>) -> Result<FeatureFrame> {
    let ids = batch
        .column_by_name("customer_id")
        .ok_or_else(|| Error::Engine("the feature table has no customer_id column".into()))?;
    let ids = cast(ids, &DataType::Utf8, "customer_id")?;
    let ids = ids
        .as_any()
        .downcast_ref::<StringArray>()
        .ok_or_else(|| Error::Engine("customer_id is not text".into()))?;
    if let Some(row) = (0..ids.len()).find(|&i| ids.is_null(i)) {
        return Err(Error::Engine(format!("customer_id is null on row {row}")));
    }
    let ids: Vec<String> = ids.iter().map(|v| v.unwrap_or_default().to_string()).collect();
    let mut frame = FeatureFrame::try_new(ids)?;
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        let name = field.name();
        if name == "customer_id" || columns.is_some_and(|keep| !keep.contains(&name.as_str())) {
            continue;
        }
        if field.data_type().is_numeric() {
            let values = cast(column, &DataType::Float64, name)?;
            let values = values
                .as_any()
                .downcast_ref::<Float64Array>()
                .ok_or_else(|| Error::Engine(format!("{name} did not convert to float64")))?;
            let present = values.nulls().map(|nulls| nulls.iter().collect());
            frame = frame.with_numeric_values(name, values.values().to_vec(), present)?;
        } else if matches!(
            field.data_type(),
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
        ) {
            let values = cast(column, &DataType::Utf8, name)?;
            let values = values
                .as_any()
                .downcast_ref::<StringArray>()
                .ok_or_else(|| Error::Engine(format!("{name} did not convert to text")))?;
            frame = frame.with_text_values(name, values.iter())?;
        }
    }
    Ok(frame)
}

fn cast(column: &ArrayRef, to: &DataType, name: &str) -> Result<ArrayRef> {
    arrow::compute::cast(column, to).map_err(|e| Error::Engine(format!("column {name:?}: {e}")))
}

/// Writes `table` to `path` as Parquet, atomically (a temporary file renamed into place), with the
/// table's metadata in the schema. Text columns are `utf8`, integers `int64`, floats `float64`,
/// dates `date32`.
pub fn write_table(path: &Path, table: &Table) -> Result<()> {
    let arrays = table.columns().iter().map(|(name, column)| {
        let (data_type, nullable, array): (DataType, bool, ArrayRef) = match column {
            Column::Text(v) => (DataType::Utf8, false, Arc::new(StringArray::from_iter_values(v))),
            Column::OptionalText(v) => (DataType::Utf8, true, Arc::new(v.iter().collect::<StringArray>())),
            Column::Int64(v) => (DataType::Int64, false, Arc::new(Int64Array::from(v.clone()))),
            Column::Float64(v) => (DataType::Float64, false, Arc::new(Float64Array::from(v.clone()))),
            Column::OptionalFloat64(v) => (DataType::Float64, true, Arc::new(Float64Array::from(v.clone()))),
            Column::OptionalDate(v) => (DataType::Date32, true, Arc::new(Date32Array::from(v.clone()))),
        };
        (Field::new(name, data_type, nullable), array)
    });
    write_arrays(path, arrays.collect(), table.metadata())
}

/// The bytes of the file `path` (named in errors) of `columns` (each a field and its array) with
/// `metadata` in its schema, encoded as every file of this crate is: for a caller that builds Arrow
/// arrays itself, such as `scores.parquet` from a million customers' scores without a [`Table`] of
/// strings between.
pub fn arrays_to_parquet_bytes(
    path: &Path,
    columns: Vec<(Field, ArrayRef)>,
    metadata: &[(&str, &str)],
) -> Result<Vec<u8>> {
    let metadata = metadata
        .iter()
        .map(|&(key, value)| (key.to_string(), value.to_string()));
    let mut bytes = Vec::new();
    crate::output::encode_batch(&batch_of(columns, metadata.collect())?, &mut bytes, path)?;
    Ok(bytes)
}

/// The columns as one batch with `metadata` in its schema.
fn batch_of(columns: Vec<(Field, ArrayRef)>, metadata: HashMap<String, String>) -> Result<RecordBatch> {
    let (fields, arrays): (Vec<Field>, Vec<ArrayRef>) = columns.into_iter().unzip();
    let schema = Arc::new(Schema::new(fields).with_metadata(metadata));
    if arrays.is_empty() {
        Ok(RecordBatch::new_empty(schema))
    } else {
        RecordBatch::try_new(schema, arrays).map_err(|e| Error::Engine(e.to_string()))
    }
}

/// Writes the columns as one batch with `metadata` in its schema (see [`write_table`]).
fn write_arrays(path: &Path, columns: Vec<(Field, ArrayRef)>, metadata: &[(String, String)]) -> Result<()> {
    write_batch_atomically(path, &batch_of(columns, metadata.iter().cloned().collect())?, ".table-")
}

/// Reads a Parquet file written by [`write_table`] back into a [`Table`] (for tests, and for
/// comparing a run with the previous one).
pub fn read_table(path: &Path) -> Result<Table> {
    read_table_projected(&ParquetSource::File(path), None)
}

/// [`read_table`], reading only the named columns (in file order); a column the file lacks is an
/// error naming it.
pub fn read_table_columns(path: &Path, columns: &[&str]) -> Result<Table> {
    read_table_projected(&ParquetSource::File(path), Some(columns))
}

/// [`read_table_columns`] from `source`: the file, or its bytes in memory.
pub fn read_table_columns_from(source: &ParquetSource<'_>, columns: &[&str]) -> Result<Table> {
    read_table_projected(source, Some(columns))
}

/// The named columns of a Parquet file (in file order) as one Arrow batch: for a reader that
/// borrows the values where they lie rather than copy each into a [`Table`] (a million ids are a
/// million allocations there). A column the file lacks is an error naming it.
pub fn read_arrow_columns(path: &Path, columns: &[&str]) -> Result<RecordBatch> {
    Ok(crate::output::read_parquet_columns(&ParquetSource::File(path), Some(columns))?.1)
}

fn read_table_projected(source: &ParquetSource<'_>, columns: Option<&[&str]>) -> Result<Table> {
    let path = source.path();
    let (schema, batch) = crate::output::read_parquet_columns(source, columns)?;
    let mut table = Table::new();
    let mut metadata: Vec<_> = schema.metadata().iter().collect();
    metadata.sort();
    for (key, value) in metadata {
        table = table.with_metadata(key, value);
    }
    let bad = |name: &str, reason: &str| Error::BadFile {
        path: path.to_path_buf(),
        reason: format!("column {name:?}: {reason}"),
    };
    for (field, array) in schema.fields().iter().zip(batch.columns()) {
        let name = field.name();
        let column = match field.data_type() {
            DataType::Utf8 => {
                let a = array
                    .as_any()
                    .downcast_ref::<StringArray>()
                    .ok_or_else(|| bad(name, "unreadable text"))?;
                if field.is_nullable() {
                    Column::OptionalText(a.iter().map(|v| v.map(str::to_string)).collect())
                } else {
                    Column::Text(a.iter().map(|v| v.unwrap_or_default().to_string()).collect())
                }
            }
            DataType::Int64 => {
                let a = array
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .ok_or_else(|| bad(name, "unreadable int64"))?;
                Column::Int64(a.values().to_vec())
            }
            DataType::Float64 => {
                let a = array
                    .as_any()
                    .downcast_ref::<Float64Array>()
                    .ok_or_else(|| bad(name, "unreadable float64"))?;
                if field.is_nullable() {
                    Column::OptionalFloat64(a.iter().collect())
                } else {
                    Column::Float64(a.values().to_vec())
                }
            }
            DataType::Date32 => {
                let a = array
                    .as_any()
                    .downcast_ref::<Date32Array>()
                    .ok_or_else(|| bad(name, "unreadable date"))?;
                Column::OptionalDate(a.iter().collect())
            }
            other => return Err(bad(name, &format!("type {other} is not a table column type"))),
        };
        table = table.with_column(name, column)?;
    }
    Ok(table)
}

/// Reads a customers table (CSV with a header, gzip CSV, or Parquet): one row per customer, a
/// `customer_id` column, and any other columns, all kept as text for the caller to interpret
/// (an empty cell is null). A missing id, a repeated id or a malformed line is an error naming the
/// file and the line (CSV) or row (Parquet).
pub fn read_customer_table(path: &Path) -> Result<FeatureFrame> {
    let rows = read_customer_rows(path)?;
    let mut frame = FeatureFrame::try_new(rows.ids)?;
    for (name, values) in rows.names.iter().zip(rows.columns) {
        frame = frame.with_text(name, values)?;
    }
    Ok(frame)
}

/// A customers table's rows, checked: each id once, and where each row is in the file.
pub(crate) struct CustomerRows {
    /// The ids, in file order.
    pub(crate) ids: Vec<String>,
    /// The other columns' names.
    pub(crate) names: Vec<String>,
    /// The other columns, as text (empty cells as `None`).
    pub(crate) columns: Vec<Vec<Option<String>>>,
    /// Each row's line (CSV) or row (Parquet), for messages.
    pub(crate) locations: Vec<Location>,
    /// Read from Parquet: typed values turned into text by Arrow (dates and times as ISO 8601).
    pub(crate) parquet: bool,
}

/// Reads and checks a customers table (see [`read_customer_table`]).
pub(crate) fn read_customer_rows(path: &Path) -> Result<CustomerRows> {
    let is_parquet = {
        let mut magic = [0u8; 4];
        let mut file = File::open(path).map_err(|e| Error::io("cannot open", path, e))?;
        std::io::Read::read(&mut file, &mut magic).map_err(|e| Error::io("cannot read", path, e))? == 4
            && &magic == b"PAR1"
    };
    let (mut names, mut columns, locations) = if is_parquet {
        read_parquet_as_text(path)?
    } else {
        read_csv_as_text(path)?
    };
    let bad = |reason: String| Error::BadFile {
        path: path.to_path_buf(),
        reason,
    };
    let id_index = names.iter().position(|n| n == "customer_id").ok_or_else(|| {
        bad(format!(
            "no customer_id column (columns found: {}); a customers table needs one",
            names.join(", ")
        ))
    })?;
    names.remove(id_index);
    let id_column = columns.remove(id_index);
    let mut ids = Vec::with_capacity(locations.len());
    let mut first_seen: HashMap<&str, usize> = HashMap::new();
    for (row, id) in id_column.iter().enumerate() {
        let Some(id) = id else {
            return Err(bad(format!("{}: customer_id is empty", locations[row])));
        };
        if let Some(first) = first_seen.insert(id, row) {
            return Err(bad(format!(
                "{}: customer {id:?} appears again (first on {}); one row per customer",
                locations[row], locations[first]
            )));
        }
        ids.push(id.clone());
    }
    Ok(CustomerRows {
        ids,
        names,
        columns,
        locations,
        parquet: is_parquet,
    })
}

/// Column names, text columns (empty cells as `None`) and each row's location for messages.
type TextColumns = (Vec<String>, Vec<Vec<Option<String>>>, Vec<Location>);

fn read_csv_as_text(path: &Path) -> Result<TextColumns> {
    use crate::text::{Delimiter, RecordReader};
    let mut reader = RecordReader::open(path, Delimiter::Byte(b','))?;
    let utf8 = |bytes: &[u8], line: u64| {
        std::str::from_utf8(bytes)
            .map(str::to_string)
            .map_err(|_| Error::BadLine {
                path: path.to_path_buf(),
                line,
                reason: "a field is not valid UTF-8".into(),
            })
    };
    let Some(header_line) = reader.next_record()? else {
        return Err(Error::BadFile {
            path: path.to_path_buf(),
            reason: "file is empty (no header line)".into(),
        });
    };
    let names: Vec<String> = (0..reader.n_fields())
        .map(|i| utf8(reader.field(i), header_line))
        .collect::<Result<_>>()?;
    let mut columns: Vec<Vec<Option<String>>> = vec![Vec::new(); names.len()];
    let mut locations = Vec::new();
    while let Some(line) = reader.next_record()? {
        if reader.n_fields() != names.len() {
            return Err(Error::BadLine {
                path: path.to_path_buf(),
                line,
                reason: format!("{} fields, but the header has {}", reader.n_fields(), names.len()),
            });
        }
        for (i, column) in columns.iter_mut().enumerate() {
            let value = utf8(reader.field(i), line)?;
            column.push((!value.trim().is_empty()).then_some(value));
        }
        locations.push(Location::Line(line));
    }
    Ok((names, columns, locations))
}

fn read_parquet_as_text(path: &Path) -> Result<TextColumns> {
    let (schema, batch) = read_parquet_file(path)?;
    let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    let mut columns: Vec<Vec<Option<String>>> = Vec::with_capacity(names.len());
    for (name, column) in names.iter().zip(batch.columns()) {
        let text = cast(column, &DataType::Utf8, name)?;
        let text = text
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(|| Error::Engine(format!("{name} did not convert to text")))?;
        columns.push(
            text.iter()
                .map(|v| v.filter(|s| !s.trim().is_empty()).map(str::to_string))
                .collect(),
        );
    }
    let rows = columns.first().map_or(0, Vec::len);
    Ok((names, columns, (0..rows as u64).map(Location::Row).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_is_read_whole_or_by_the_columns_named() -> std::result::Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("t.parquet");
        let table = Table::new()
            .with_column("customer_id", Column::Text(vec!["a".into(), "b".into()]))?
            .with_column("p", Column::Float64(vec![0.25, 0.75]))?
            .with_column("reason", Column::OptionalText(vec![Some("x".into()), None]))?
            .with_metadata("churn.as_of", "2024-01-01");
        write_table(&path, &table)?;
        assert_eq!(read_table(&path)?, table);
        // The same columns as arrays encode to the same bytes.
        let arrays: Vec<(Field, ArrayRef)> = vec![
            (
                Field::new("customer_id", DataType::Utf8, false),
                Arc::new(StringArray::from(vec!["a", "b"])),
            ),
            (
                Field::new("p", DataType::Float64, false),
                Arc::new(Float64Array::from(vec![0.25, 0.75])),
            ),
            (
                Field::new("reason", DataType::Utf8, true),
                Arc::new(StringArray::from(vec![Some("x"), None])),
            ),
        ];
        let metadata = [("churn.as_of", "2024-01-01")];
        assert_eq!(
            arrays_to_parquet_bytes(&path, arrays, &metadata)?,
            std::fs::read(&path)?
        );
        // Named out of order: the file's order, and its metadata, are kept.
        let some = read_table_columns(&path, &["reason", "customer_id"])?;
        let names: Vec<&str> = some.columns().iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["customer_id", "reason"]);
        assert_eq!(some.columns()[1].1, Column::OptionalText(vec![Some("x".into()), None]));
        assert!(some
            .metadata()
            .iter()
            .any(|(k, v)| k == "churn.as_of" && v == "2024-01-01"));
        let missing = read_table_columns(&path, &["p", "q"]).expect_err("no q").to_string();
        assert!(missing.contains("has no column \"q\""), "{missing}");

        // From the bytes in memory: the same table, and errors name the path they are for.
        let bytes = bytes::Bytes::from(std::fs::read(&path)?);
        let from_memory =
            read_table_columns_from(&ParquetSource::Bytes(&path, bytes.clone()), &["reason", "customer_id"])?;
        assert_eq!(from_memory, some);
        let cut = ParquetSource::Bytes(&path, bytes.slice(..bytes.len() - 10));
        let broken = read_table_columns_from(&cut, &["p"])
            .expect_err("cut short")
            .to_string();
        assert!(broken.contains("t.parquet"), "{broken}");
        Ok(())
    }

    #[test]
    fn customer_tables_are_read_with_their_locations() -> std::result::Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let good = dir.path().join("customers.csv");
        std::fs::write(&good, "customer_id,churned,plan\n007,yes,\n\n\"8\",no,gold\n")?;
        let frame = read_customer_table(&good)?;
        assert_eq!(frame.ids(), ["007", "8"]);
        assert_eq!(frame.text("plan").map(|t| t.to_vec()), Some(vec![None, Some("gold")]));
        let dup = dir.path().join("dup.csv");
        std::fs::write(&dup, "customer_id,churned\na,yes\n\nb,no\na,no\n")?;
        let err = read_customer_table(&dup).expect_err("duplicate");
        assert!(
            err.to_string()
                .contains("line 5: customer \"a\" appears again (first on line 2)"),
            "{err}"
        );
        let short = dir.path().join("short.csv");
        std::fs::write(&short, "customer_id,churned\na\n")?;
        let err = read_customer_table(&short).expect_err("short");
        assert!(
            err.to_string().contains("line 2: 1 fields, but the header has 2"),
            "{err}"
        );
        let no_id = dir.path().join("noid.csv");
        std::fs::write(&no_id, "id,churned\na,yes\n")?;
        assert!(read_customer_table(&no_id)
            .expect_err("no id")
            .to_string()
            .contains("no customer_id column"));
        Ok(())
    }

    #[test]
    fn tables_round_trip_through_parquet() -> std::result::Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("t.parquet");
        let table = Table::new()
            .with_column("customer_id", Column::Text(vec!["007".into(), "=1+1".into()]))?
            .with_column("segment_id", Column::Int64(vec![0, 3]))?
            .with_column("name", Column::OptionalText(vec![Some("Lost".into()), None]))?
            .with_column("distance", Column::Float64(vec![0.25, 1e-300]))?
            .with_column("reason", Column::OptionalFloat64(vec![None, Some(-0.0)]))?
            .with_column("next", Column::OptionalDate(vec![Some(19_723), None]))?
            .with_metadata("churn.model", "segments-2024-01-01.json");
        write_table(&path, &table)?;
        assert_eq!(read_table(&path)?, table);
        Ok(())
    }
}
