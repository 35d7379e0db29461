//! Finding input files, checking them as wholes, and turning text files into Arrow batches.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arrow::array::{
    ArrayRef, Float64Builder, Int64Builder, RecordBatch, StringBuilder, TimestampMicrosecondBuilder, UInt64Builder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::error::DataFusionError;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;

use crate::error::{truncate_value, Error, Location, Result};
use crate::parse::{self, TimestampParser};
use crate::text::{Delimiter, RecordReader, TextFormat};

/// The hidden column carrying each text row's physical line, for error messages.
pub(crate) const LINE_COLUMN: &str = "__line";

/// The storage format of the input files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Text,
    Parquet,
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Format::Text => "delimited text",
            Format::Parquet => "Parquet",
        }
    }
}

/// The resolved input: files in a deterministic order, all of one format.
#[derive(Debug, Clone)]
pub(crate) struct InputFiles {
    pub(crate) files: Vec<PathBuf>,
    pub(crate) format: Format,
}

fn format_of(path: &Path) -> Option<Format> {
    let name = path.file_name()?.to_str()?.to_ascii_lowercase();
    if name.ends_with(".parquet") || name.ends_with(".pq") {
        Some(Format::Parquet)
    } else if [".csv", ".csv.gz", ".txt", ".txt.gz", ".tsv", ".tsv.gz", ".dat"]
        .iter()
        .any(|ext| name.ends_with(ext))
    {
        Some(Format::Text)
    } else {
        None
    }
}

/// Resolves a file, a directory (its transaction files, not recursing) or a glob into files, sorted
/// by path so that the same input always gives the same row order and fingerprint.
pub(crate) fn discover(pattern: &str) -> Result<InputFiles> {
    let path = Path::new(pattern);
    let mut files: Vec<PathBuf> = if path.is_file() {
        vec![path.to_path_buf()]
    } else if path.is_dir() {
        let entries = std::fs::read_dir(path).map_err(|e| Error::io("cannot list", path, e))?;
        let mut found = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| Error::io("cannot list", path, e))?;
            let p = entry.path();
            if p.is_file() && format_of(&p).is_some() {
                found.push(p);
            }
        }
        found
    } else {
        let paths = glob::glob(pattern).map_err(|e| Error::invalid("input.transactions", e.to_string()))?;
        paths.filter_map(|p| p.ok()).filter(|p| p.is_file()).collect()
    };
    files.sort();
    let first = files.first().ok_or_else(|| Error::NoInputFiles {
        pattern: pattern.to_string(),
    })?;
    // A single explicitly named file with an unknown extension is read as text: the user chose it.
    let format = format_of(first).unwrap_or(Format::Text);
    for other in &files {
        let other_format = format_of(other).unwrap_or(Format::Text);
        if other_format != format {
            return Err(Error::MixedFormats {
                first: first.clone(),
                first_format: format.name(),
                other: other.clone(),
                other_format: other_format.name(),
            });
        }
    }
    for file in &files {
        check_whole_file(file, format)?;
    }
    Ok(InputFiles { files, format })
}

/// Rejects empty files and files whose content contradicts their name, before any parsing.
fn check_whole_file(path: &Path, format: Format) -> Result<()> {
    let mut head = [0u8; 4];
    let mut file = File::open(path).map_err(|e| Error::io("cannot open", path, e))?;
    let n = file.read(&mut head).map_err(|e| Error::io("cannot read", path, e))?;
    if n == 0 {
        return Err(Error::BadFile {
            path: path.to_path_buf(),
            reason: "file is empty (0 bytes)".to_string(),
        });
    }
    if format == Format::Parquet && &head[..n] != b"PAR1" {
        return Err(Error::BadFile {
            path: path.to_path_buf(),
            reason: "is named like a Parquet file but does not start with the Parquet magic bytes \"PAR1\"; \
                     is it a CSV file with the wrong extension?"
                .to_string(),
        });
    }
    Ok(())
}

/// Reads a Parquet file's footer: its row count, or an error naming the file if it is truncated or
/// corrupt. Cheap: only the footer is read.
pub(crate) fn parquet_row_count(path: &Path) -> Result<u64> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let file = File::open(path).map_err(|e| Error::io("cannot open", path, e))?;
    let reader = SerializedFileReader::new(file).map_err(|e| Error::BadFile {
        path: path.to_path_buf(),
        reason: format!("is not a readable Parquet file, possibly truncated or corrupt ({e})"),
    })?;
    let rows = reader.metadata().file_metadata().num_rows();
    u64::try_from(rows).map_err(|_| Error::BadFile {
        path: path.to_path_buf(),
        reason: format!("footer claims a negative row count {rows}"),
    })
}

/// Reads the column names of a text file: its header, or the configured names.
pub(crate) fn text_column_names(path: &Path, format: &TextFormat) -> Result<Vec<String>> {
    let mut reader = RecordReader::open(path, format.delimiter)?;
    let header = if format.has_header {
        let Some(_) = reader.next_record()? else {
            return Err(Error::BadFile {
                path: path.to_path_buf(),
                reason: "file is empty (no header line)".into(),
            });
        };
        let mut names = Vec::with_capacity(reader.n_fields());
        for i in 0..reader.n_fields() {
            let name = std::str::from_utf8(reader.field(i)).map_err(|_| Error::BadLine {
                path: path.to_path_buf(),
                line: 1,
                reason: format!("header field {} is not valid UTF-8", i + 1),
            })?;
            names.push(name.to_string());
        }
        Some(names)
    } else {
        None
    };
    let names = match (&format.column_names, header) {
        (Some(names), Some(header)) if names.len() != header.len() => {
            return Err(Error::BadLine {
                path: path.to_path_buf(),
                line: 1,
                reason: format!(
                    "the header has {} fields but input.column_names lists {}",
                    header.len(),
                    names.len()
                ),
            })
        }
        (Some(names), _) => names.clone(),
        (None, Some(header)) => header,
        (None, None) => {
            let Some(_) = reader.next_record()? else {
                return Err(Error::BadFile {
                    path: path.to_path_buf(),
                    reason: "file is empty".into(),
                });
            };
            (1..=reader.n_fields()).map(|i| format!("column_{i}")).collect()
        }
    };
    let mut seen = std::collections::HashSet::new();
    for name in &names {
        if !seen.insert(name) {
            return Err(Error::BadLine {
                path: path.to_path_buf(),
                line: 1,
                reason: format!("column name {name:?} appears twice in the header"),
            });
        }
    }
    Ok(names)
}

/// How one text column is turned into an Arrow column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ColumnKind {
    /// Kept byte for byte as a string; empty is null.
    Text,
    /// A timestamp, parsed to UTC microseconds; empty is an error.
    Timestamp,
    /// A money amount; empty, non-finite or absurd is an error.
    Amount,
    /// A plain number; empty is null.
    Float,
    /// An integer (no leading zeros); empty is null.
    Integer,
}

impl ColumnKind {
    fn data_type(self) -> DataType {
        match self {
            ColumnKind::Text => DataType::Utf8,
            ColumnKind::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            ColumnKind::Amount | ColumnKind::Float => DataType::Float64,
            ColumnKind::Integer => DataType::Int64,
        }
    }
}

/// Which text columns to read, and as what.
#[derive(Debug)]
pub(crate) struct TextPlan {
    pub(crate) format: TextFormat,
    pub(crate) timestamps: TimestampParser,
    pub(crate) max_abs_amount: f64,
    /// Column name, field index, kind.
    pub(crate) columns: Vec<(String, usize, ColumnKind)>,
    pub(crate) n_fields: usize,
}

impl TextPlan {
    pub(crate) fn schema(&self) -> SchemaRef {
        let mut fields: Vec<Field> = self
            .columns
            .iter()
            .map(|(name, _, kind)| Field::new(name, kind.data_type(), true))
            .collect();
        fields.push(Field::new(LINE_COLUMN, DataType::UInt64, false));
        Arc::new(Schema::new(fields))
    }
}

/// Decides `Integer`, `Float` or `Text` for columns that only expressions use, by reading the whole
/// file once: a column is numeric only if every non-empty value is. Sampling would be faster, but a
/// sampled guess fails on row 900,000 of a nightly file (`C489449` after a run of numeric invoices).
///
/// `to_infer` holds indices into `columns`; their kinds are overwritten.
pub(crate) fn infer_kinds(
    paths: &[PathBuf],
    format: &TextFormat,
    columns: &mut [(String, usize, ColumnKind)],
    to_infer: &[usize],
) -> Result<()> {
    // (column index, all integers so far, all numbers so far, any non-empty value)
    let mut candidates: Vec<(usize, bool, bool, bool)> = to_infer.iter().map(|&i| (i, true, true, false)).collect();
    if candidates.is_empty() {
        return Ok(());
    }
    for path in paths {
        let mut reader = RecordReader::open(path, format.delimiter)?;
        if format.has_header {
            reader.next_record()?;
        }
        while reader.next_record()?.is_some() {
            for (i, is_int, is_float, any) in candidates.iter_mut() {
                let field_index = columns[*i].1;
                if field_index >= reader.n_fields() {
                    continue; // reported with its line by the real read
                }
                let Ok(text) = std::str::from_utf8(reader.field(field_index)) else {
                    continue;
                };
                if text.is_empty() {
                    continue;
                }
                *any = true;
                *is_int = *is_int && parse::is_plain_integer(text);
                *is_float = *is_float && !parse::has_leading_zero(text) && parse::parse_number(text).is_ok();
            }
        }
    }
    for (i, is_int, is_float, any) in candidates {
        columns[i].2 = match (any, is_int, is_float) {
            (true, true, _) => ColumnKind::Integer,
            (true, false, true) => ColumnKind::Float,
            _ => ColumnKind::Text,
        };
    }
    Ok(())
}

enum Builder {
    Text(StringBuilder),
    Timestamp(TimestampMicrosecondBuilder),
    Float(Float64Builder),
    Integer(Int64Builder),
}

impl Builder {
    fn new(kind: ColumnKind, capacity: usize) -> Self {
        match kind {
            ColumnKind::Text => Builder::Text(StringBuilder::with_capacity(capacity, capacity * 8)),
            ColumnKind::Timestamp => {
                Builder::Timestamp(TimestampMicrosecondBuilder::with_capacity(capacity).with_timezone("UTC"))
            }
            ColumnKind::Amount | ColumnKind::Float => Builder::Float(Float64Builder::with_capacity(capacity)),
            ColumnKind::Integer => Builder::Integer(Int64Builder::with_capacity(capacity)),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Builder::Text(b) => Arc::new(b.finish()),
            Builder::Timestamp(b) => Arc::new(b.finish()),
            Builder::Float(b) => Arc::new(b.finish()),
            Builder::Integer(b) => Arc::new(b.finish()),
        }
    }
}

/// Reads one text file into batches of the plan's schema, calling `sink` with each; stops early when
/// `sink` returns false. Returns the number of data rows read.
pub(crate) fn read_text_batches(
    path: &Path,
    plan: &TextPlan,
    batch_rows: usize,
    mut sink: impl FnMut(RecordBatch) -> bool,
) -> Result<u64> {
    let schema = plan.schema();
    let mut reader = RecordReader::open(path, plan.format.delimiter)?;
    if plan.format.has_header && reader.next_record()?.is_none() {
        return Err(Error::BadFile {
            path: path.to_path_buf(),
            reason: "file is empty (no header line)".into(),
        });
    }
    let mut builders: Vec<Builder> = plan.columns.iter().map(|c| Builder::new(c.2, batch_rows)).collect();
    let mut lines = UInt64Builder::with_capacity(batch_rows);
    let mut rows_in_batch = 0;
    let mut rows_total = 0u64;
    let bad = |line: u64, column: &str, reason: String| Error::BadValue {
        path: path.to_path_buf(),
        location: Location::Line(line),
        column: column.to_string(),
        reason,
    };
    while let Some(line) = reader.next_record()? {
        if reader.n_fields() != plan.n_fields {
            let hint = match plan.format.delimiter {
                Delimiter::Byte(b) if reader.n_fields() == 1 && plan.n_fields > 1 => {
                    format!(" (is the delimiter really {:?}?)", b as char)
                }
                _ => String::new(),
            };
            return Err(Error::BadLine {
                path: path.to_path_buf(),
                line,
                reason: format!(
                    "has {} fields, expected {} as in the header{hint}",
                    reader.n_fields(),
                    plan.n_fields
                ),
            });
        }
        for ((name, index, kind), builder) in plan.columns.iter().zip(builders.iter_mut()) {
            let raw = reader.field(*index);
            let text = std::str::from_utf8(raw).map_err(|e| {
                bad(
                    line,
                    name,
                    format!(
                        "is not valid UTF-8 (bad byte at offset {} of the value)",
                        e.valid_up_to()
                    ),
                )
            })?;
            match (builder, kind) {
                (Builder::Text(b), _) => {
                    if text.is_empty() {
                        b.append_null()
                    } else {
                        b.append_value(text)
                    }
                }
                (Builder::Timestamp(b), _) => {
                    b.append_value(plan.timestamps.parse_micros(text).map_err(|r| bad(line, name, r))?)
                }
                (Builder::Float(b), ColumnKind::Amount) => {
                    b.append_value(parse::parse_amount(text, plan.max_abs_amount).map_err(|r| bad(line, name, r))?)
                }
                (Builder::Float(b), _) if text.is_empty() => b.append_null(),
                (Builder::Float(b), _) => b.append_value(parse::parse_number(text).map_err(|r| bad(line, name, r))?),
                (Builder::Integer(b), _) if text.is_empty() => b.append_null(),
                (Builder::Integer(b), _) => b.append_value(
                    text.parse::<i64>()
                        .map_err(|_| bad(line, name, format!("{} is not an integer", truncate_value(text))))?,
                ),
            }
        }
        lines.append_value(line);
        rows_in_batch += 1;
        rows_total += 1;
        if rows_in_batch == batch_rows {
            if !sink(finish_batch(&schema, &mut builders, &mut lines)?) {
                return Ok(rows_total);
            }
            rows_in_batch = 0;
        }
    }
    if rows_total == 0 {
        return Err(Error::BadFile {
            path: path.to_path_buf(),
            reason: "has a header but no data rows; an empty export is treated as a failed export".into(),
        });
    }
    if rows_in_batch > 0 {
        sink(finish_batch(&schema, &mut builders, &mut lines)?);
    }
    Ok(rows_total)
}

fn finish_batch(schema: &SchemaRef, builders: &mut [Builder], lines: &mut UInt64Builder) -> Result<RecordBatch> {
    let mut columns: Vec<ArrayRef> = builders.iter_mut().map(Builder::finish).collect();
    columns.push(Arc::new(lines.finish()));
    RecordBatch::try_new(schema.clone(), columns).map_err(|e| Error::Engine(e.to_string()))
}

/// One text file as a DataFusion partition. Parsing runs on its own thread and hands batches over a
/// small bounded channel, so memory stays at a few batches per file however large the file is.
#[derive(Debug)]
pub(crate) struct TextPartition {
    pub(crate) path: PathBuf,
    pub(crate) plan: Arc<TextPlan>,
    pub(crate) schema: SchemaRef,
    /// The first error a reader hit; DataFusion only sees that the stream failed.
    pub(crate) failure: Arc<Mutex<Option<Error>>>,
    pub(crate) rows_read: Arc<AtomicU64>,
}

const TEXT_BATCH_ROWS: usize = 8192;

impl PartitionStream for TextPartition {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let (tx, rx) = tokio::sync::mpsc::channel::<datafusion::error::Result<RecordBatch>>(2);
        let path = self.path.clone();
        let plan = Arc::clone(&self.plan);
        let failure = Arc::clone(&self.failure);
        let rows_read = Arc::clone(&self.rows_read);
        std::thread::spawn(move || {
            let result = read_text_batches(&path, &plan, TEXT_BATCH_ROWS, |batch| {
                tx.blocking_send(Ok(batch)).is_ok()
            });
            match result {
                Ok(rows) => {
                    // A plan may scan the file more than once; every scan sees the same rows.
                    rows_read.store(rows, Ordering::Relaxed);
                }
                Err(err) => {
                    let message = err.to_string();
                    if let Ok(mut slot) = failure.lock() {
                        slot.get_or_insert(err);
                    }
                    let _ = tx.blocking_send(Err(DataFusionError::Execution(message)));
                }
            }
        });
        let stream = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
        Box::pin(RecordBatchStreamAdapter::new(Arc::clone(&self.schema), stream))
    }
}
