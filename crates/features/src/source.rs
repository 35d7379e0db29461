//! Finding input files, checking them as wholes, and turning text files into Arrow batches.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arrow::array::{
    ArrayRef, Float64Builder, Int64Builder, RecordBatch, StringBuilder, TimestampMicrosecondBuilder, UInt64Builder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;

use crate::error::{truncate_value, Error, Location, Problems, Result};
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

/// Decodes every page of a Parquet file (verifying page checksums where the writer stored them),
/// for an error that names the file and the row group of a corrupt page. Slow; only for failures.
pub(crate) fn verify_parquet(path: &Path) -> Result<()> {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let corrupt = |e: &dyn std::fmt::Display| Error::BadFile {
        path: path.to_path_buf(),
        reason: format!("is corrupt: {e}"),
    };
    let file = File::open(path).map_err(|e| Error::io("cannot open", path, e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| corrupt(&e))?;
    let row_groups = builder.metadata().num_row_groups();
    for group in 0..row_groups {
        let file = File::open(path).map_err(|e| Error::io("cannot open", path, e))?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .and_then(|b| b.with_row_groups(vec![group]).build())
            .map_err(|e| corrupt(&e))?;
        for batch in reader {
            batch.map_err(|e| corrupt(&format!("row group {group}: {e}")))?;
        }
    }
    Ok(())
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
    /// A customer id: kept byte for byte; the spellings of "missing" are null, and ids a CRM or a
    /// spreadsheet would choke on are errors (see [`parse::check_id`]).
    Id,
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
    const ALL: [ColumnKind; 6] = [
        ColumnKind::Text,
        ColumnKind::Id,
        ColumnKind::Timestamp,
        ColumnKind::Amount,
        ColumnKind::Float,
        ColumnKind::Integer,
    ];

    /// The kind's name on the wire (see [`crate::text_scan::TextScanWire`]).
    pub(crate) fn name(self) -> &'static str {
        match self {
            ColumnKind::Text => "text",
            ColumnKind::Id => "id",
            ColumnKind::Timestamp => "timestamp",
            ColumnKind::Amount => "amount",
            ColumnKind::Float => "float",
            ColumnKind::Integer => "integer",
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<ColumnKind> {
        ColumnKind::ALL.into_iter().find(|k| k.name() == name)
    }

    fn data_type(self) -> DataType {
        match self {
            ColumnKind::Text | ColumnKind::Id => DataType::Utf8,
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
    /// Earliest accepted timestamp, microseconds; and the date it is, for messages.
    pub(crate) min_us: i64,
    pub(crate) min_date: chrono::NaiveDate,
    /// Numbers are written with a decimal comma.
    pub(crate) decimal_comma: bool,
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
            ColumnKind::Text | ColumnKind::Id => Builder::Text(StringBuilder::with_capacity(capacity, capacity * 8)),
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

/// What one read of a text file found.
#[derive(Debug, Default)]
pub(crate) struct TextRead {
    /// Data rows read, including rows skipped for a problem.
    pub(crate) rows: u64,
    /// Located problems, in line order: bad values, bad lines, or the framing error that ended the
    /// read.
    pub(crate) problems: Vec<Error>,
    /// Whether reading stopped at the problem limit, so that more may exist.
    pub(crate) stopped: bool,
}

/// Reads one text file into batches of the plan's schema, calling `sink` with each; stops early when
/// `sink` returns false. A line with a problem is recorded and skipped, and reading goes on until
/// `max_problems` are found: the caller must treat any problem as a failed read.
pub(crate) fn read_text_batches(
    path: &Path,
    plan: &TextPlan,
    batch_rows: usize,
    max_problems: usize,
    mut sink: impl FnMut(RecordBatch) -> bool,
) -> TextRead {
    let mut read = TextRead::default();
    if let Err(e) = read_text_into(path, plan, batch_rows, max_problems, &mut sink, &mut read) {
        // A framing, encoding or I/O error ends the file: what follows cannot be trusted.
        read.problems.push(e);
    }
    read
}

fn read_text_into(
    path: &Path,
    plan: &TextPlan,
    batch_rows: usize,
    max_problems: usize,
    sink: &mut impl FnMut(RecordBatch) -> bool,
    read: &mut TextRead,
) -> Result<()> {
    let schema = plan.schema();
    let mut reader = RecordReader::open(path, plan.format.delimiter)?;
    let header: Option<Vec<Vec<u8>>> = if plan.format.has_header {
        if reader.next_record()?.is_none() {
            return Err(Error::BadFile {
                path: path.to_path_buf(),
                reason: "file is empty (no header line)".into(),
            });
        }
        Some((0..reader.n_fields()).map(|i| reader.field(i).to_vec()).collect())
    } else {
        None
    };
    let mut builders: Vec<Builder> = plan.columns.iter().map(|c| Builder::new(c.2, batch_rows)).collect();
    let mut lines = UInt64Builder::with_capacity(batch_rows);
    let mut rows_in_batch = 0;
    let mut parsed: Vec<Parsed> = Vec::with_capacity(plan.columns.len());
    let bad = |line: u64, column: &str, reason: String| Error::BadValue {
        path: path.to_path_buf(),
        location: Location::Line(line),
        column: column.to_string(),
        reason,
    };
    while let Some(line) = reader.next_record()? {
        read.rows += 1;
        if read.problems.len() >= max_problems {
            read.stopped = true;
            break;
        }
        if let Some(problem) = framing_problem(path, plan, &reader, line, header.as_deref()) {
            read.problems.push(problem);
            continue;
        }
        // Parse the whole row before appending anything, so a bad value leaves no half row behind.
        parsed.clear();
        for (name, index, kind) in &plan.columns {
            let value = match std::str::from_utf8(reader.field(*index)) {
                Err(e) => Err(format!(
                    "is not valid UTF-8 (bad byte at offset {} of the value); re-export the file as UTF-8",
                    e.valid_up_to()
                )),
                Ok(text) => parse_value(plan, *kind, text),
            };
            match value {
                Ok(value) => parsed.push(value),
                Err(reason) => read.problems.push(bad(line, name, reason)),
            }
        }
        if parsed.len() < plan.columns.len() {
            continue;
        }
        for (((_, index, _), builder), value) in plan.columns.iter().zip(builders.iter_mut()).zip(&parsed) {
            match (builder, *value) {
                (Builder::Text(b), Parsed::Field) => {
                    // Valid UTF-8: checked by the parse above.
                    b.append_value(std::str::from_utf8(reader.field(*index)).unwrap_or_default())
                }
                (Builder::Text(b), _) => b.append_null(),
                (Builder::Timestamp(b), Parsed::Int(v)) => b.append_value(v),
                (Builder::Integer(b), Parsed::Int(v)) => b.append_value(v),
                (Builder::Float(b), Parsed::Float(v)) => b.append_value(v),
                (Builder::Timestamp(b), _) => b.append_null(),
                (Builder::Integer(b), _) => b.append_null(),
                (Builder::Float(b), _) => b.append_null(),
            }
        }
        lines.append_value(line);
        rows_in_batch += 1;
        if rows_in_batch == batch_rows {
            if !sink(finish_batch(&schema, &mut builders, &mut lines)?) {
                return Ok(());
            }
            rows_in_batch = 0;
        }
    }
    if read.rows == 0 {
        return Err(Error::BadFile {
            path: path.to_path_buf(),
            reason: "has a header but no data rows; an empty export is treated as a failed export".into(),
        });
    }
    if rows_in_batch > 0 {
        sink(finish_batch(&schema, &mut builders, &mut lines)?);
    }
    Ok(())
}

/// A line whose shape is wrong: a field count unlike the header's, or the header itself again (two
/// exports concatenated).
fn framing_problem(
    path: &Path,
    plan: &TextPlan,
    reader: &RecordReader,
    line: u64,
    header: Option<&[Vec<u8>]>,
) -> Option<Error> {
    let n = reader.n_fields();
    let problem = |reason: String| {
        Some(Error::BadLine {
            path: path.to_path_buf(),
            line,
            reason,
        })
    };
    if n != plan.n_fields {
        // The likeliest cause: another delimiter (one field), a cut line (too few), or a value
        // with an unquoted delimiter (too many).
        let hint = match plan.format.delimiter {
            Delimiter::Byte(b) if n == 1 && plan.n_fields > 1 => {
                let found = sniff_delimiter(reader.field(0))
                    .map(|d| format!("; the line contains {d:?}: set input.delimiter = {d:?}"))
                    .unwrap_or_default();
                format!(" (is the delimiter really {:?}?{found})", b as char)
            }
            _ if n < plan.n_fields => " (a truncated line?)".to_string(),
            _ => " (an unquoted delimiter inside a value?)".to_string(),
        };
        return problem(format!(
            "has {n} fields, expected {} as in the header{hint}",
            plan.n_fields
        ));
    }
    if let Some(header) = header {
        // Compared whole: a header of another width is not this line, whatever the plan says.
        if header.iter().map(Vec::as_slice).eq((0..n).map(|i| reader.field(i))) {
            return problem(
                "repeats the header line; were two exports concatenated? remove the repeated header".to_string(),
            );
        }
    }
    None
}

/// The delimiter a one-field line most likely uses, for the hint.
pub(crate) fn sniff_delimiter(field: &[u8]) -> Option<char> {
    [b';', b'\t', b'|', b',']
        .into_iter()
        .map(|d| (d, field.iter().filter(|&&b| b == d).count()))
        .filter(|&(_, count)| count > 0)
        .max_by_key(|&(_, count)| count)
        .map(|(d, _)| d as char)
}

/// A parsed text value, ready to append.
#[derive(Debug, Clone, Copy)]
enum Parsed {
    Null,
    /// The field's text as it is.
    Field,
    Int(i64),
    Float(f64),
}

/// A number as Rust parses it: with `input.decimal = ","`, the comma becomes a point, and a point
/// (a thousands separator, or a file that is not what the config says) is an error.
fn decimal<'a>(plan: &TextPlan, text: &'a str) -> std::result::Result<std::borrow::Cow<'a, str>, String> {
    if !plan.decimal_comma {
        return Ok(std::borrow::Cow::Borrowed(text));
    }
    if text.contains('.') {
        return Err(format!(
            "{} contains '.', but input.decimal is \",\" (a thousands separator, or a file with decimal points?)",
            truncate_value(text)
        ));
    }
    Ok(std::borrow::Cow::Owned(text.replacen(',', ".", 1)))
}

/// Parses one text value as its column kind, or says why it is invalid.
fn parse_value(plan: &TextPlan, kind: ColumnKind, text: &str) -> std::result::Result<Parsed, String> {
    Ok(match kind {
        ColumnKind::Text if text.is_empty() => Parsed::Null,
        ColumnKind::Text => Parsed::Field,
        ColumnKind::Id => match parse::check_id(text)? {
            Some(_) => Parsed::Field,
            None => Parsed::Null,
        },
        ColumnKind::Timestamp => {
            let us = plan.timestamps.parse_micros(text)?;
            if us < plan.min_us {
                return Err(format!(
                    "{}: {}",
                    truncate_value(text),
                    parse::before_min_date(us, plan.min_date)
                ));
            }
            Parsed::Int(us)
        }
        ColumnKind::Amount => Parsed::Float(parse::parse_amount(&decimal(plan, text)?, plan.max_abs_amount)?),
        ColumnKind::Float | ColumnKind::Integer if text.is_empty() => Parsed::Null,
        ColumnKind::Float => Parsed::Float(parse::parse_number(&decimal(plan, text)?)?),
        ColumnKind::Integer => Parsed::Int(
            text.parse::<i64>()
                .map_err(|_| format!("{} is not an integer", truncate_value(text)))?,
        ),
    })
}

fn finish_batch(schema: &SchemaRef, builders: &mut [Builder], lines: &mut UInt64Builder) -> Result<RecordBatch> {
    let mut columns: Vec<ArrayRef> = builders.iter_mut().map(Builder::finish).collect();
    columns.push(Arc::new(lines.finish()));
    RecordBatch::try_new(schema.clone(), columns).map_err(|e| Error::Engine(e.to_string()))
}

/// One text file as a DataFusion partition. Parsing runs on its own thread and hands batches over a
/// small bounded channel, so memory stays at a few batches per file however large the file is.
///
/// Problems do not fail the stream: they are recorded in `problems` and the query runs to the end,
/// so that every file is read as far as the limit and the report does not depend on which reader
/// thread finished first. Whoever runs a query over this table must check `problems` afterwards.
#[derive(Debug)]
pub(crate) struct TextPartition {
    pub(crate) path: PathBuf,
    pub(crate) plan: Arc<TextPlan>,
    pub(crate) schema: SchemaRef,
    pub(crate) problems: Arc<Problems>,
    pub(crate) rows_read: Arc<AtomicU64>,
    /// End the stream with an error when the file has a bad value (see
    /// [`crate::text_scan::TextScan::fail_on_problems`]).
    pub(crate) fail_on_problems: bool,
}

pub(crate) const TEXT_BATCH_ROWS: usize = 8192;

impl PartitionStream for TextPartition {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let (tx, rx) = tokio::sync::mpsc::channel::<datafusion::error::Result<RecordBatch>>(2);
        let path = self.path.clone();
        let plan = Arc::clone(&self.plan);
        let problems = Arc::clone(&self.problems);
        let rows_read = Arc::clone(&self.rows_read);
        let fail_on_problems = self.fail_on_problems;
        std::thread::spawn(move || {
            // A panic here would end the stream as if the file had ended: rows silently missing.
            // Caught, it becomes a problem, and the query that read the file fails.
            let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                read_text_batches(&path, &plan, TEXT_BATCH_ROWS, problems.limit(), |batch| {
                    tx.blocking_send(Ok(batch)).is_ok()
                })
            }));
            match read {
                Ok(read) => {
                    // A plan may scan the file more than once; every scan sees the same rows.
                    rows_read.store(read.rows, Ordering::Relaxed);
                    let failure = (fail_on_problems && !read.problems.is_empty()).then(|| {
                        let first: Vec<String> = read.problems.iter().take(3).map(ToString::to_string).collect();
                        datafusion::error::DataFusionError::Execution(format!(
                            "{} has bad values: {}",
                            path.display(),
                            first.join("; ")
                        ))
                    });
                    problems.record(read.problems, read.stopped);
                    if let Some(failure) = failure {
                        let _ = tx.blocking_send(Err(failure));
                    }
                }
                Err(panic) => {
                    let message = panic
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_default();
                    problems.record(
                        vec![Error::BadFile {
                            path,
                            reason: format!("reading stopped on an internal error, a bug in churn: {message}"),
                        }],
                        false,
                    );
                }
            }
        });
        let stream = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
        Box::pin(RecordBatchStreamAdapter::new(Arc::clone(&self.schema), stream))
    }
}
