//! Writing and reading the feature file: Parquet with its provenance in the schema metadata.

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow::array::RecordBatch;
use chrono::NaiveDate;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::error::{Error, Result};
use crate::features::IngestReport;

/// Metadata key: the snapshot date `S`, `YYYY-MM-DD`.
pub const META_AS_OF: &str = "churn.as_of";
/// Metadata key: the fingerprint of the input files (`blake3:` + hex).
pub const META_FINGERPRINT: &str = "churn.input_fingerprint";
/// Metadata key: the feature-set version (`2`; `1` in files from before version 2).
pub const META_FEATURE_SET_VERSION: &str = "churn.feature_set_version";
/// Metadata key: the version of the tool that wrote the file.
pub const META_TOOL_VERSION: &str = "churn.tool_version";
/// The feature-set version this crate writes.
pub const FEATURE_SET_VERSION: &str = "2";

/// The feature-set versions this crate reads: every version's columns keep their meaning, later
/// versions add columns, so a model trained on an earlier version scores a later table.
pub const READABLE_FEATURE_SET_VERSIONS: [&str; 2] = ["1", "2"];

/// A temporary-file builder for outputs that are renamed into place when complete. Temporary files
/// are private (0600) by default; outputs are shared files, so they get the usual 0666 minus umask.
pub(crate) fn staging_file(prefix: &str) -> tempfile::Builder<'_, '_> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(prefix).suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    builder
}

/// Writes one batch to `path` as zstd Parquet, atomically: a temporary file in the same directory,
/// synced, then renamed over `path`. A failure leaves no file and any previous file untouched.
pub(crate) fn write_batch_atomically(path: &Path, batch: &RecordBatch, prefix: &str) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = staging_file(prefix)
        .tempfile_in(dir)
        .map_err(|e| Error::io("cannot create a temporary file in", dir, e))?;
    encode_batch(batch, tmp.as_file_mut(), path)?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| Error::io("cannot sync", path, e))?;
    tmp.persist(path)
        .map_err(|e| Error::io("cannot move the finished file to", path, e.error))?;
    Ok(())
}

/// Encodes one batch as zstd Parquet into `out` (`path` names the file in errors): the one encoding
/// of every file the crate writes, so bytes encoded ahead of time equal a file written directly.
pub(crate) fn encode_batch(batch: &RecordBatch, out: impl std::io::Write + Send, path: &Path) -> Result<()> {
    encode_columns_in_parallel(batch, out, writer_props()?, cores()).map_err(|e| parquet_error(path, e))
}

/// zstd at level 1, the writer's defaults otherwise.
fn writer_props() -> Result<WriterProperties> {
    Ok(WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(1).map_err(|e| Error::Engine(e.to_string()))?,
        ))
        .build())
}

/// What [`ArrowWriter`] writes for `batch` under `props`, byte for byte, with the columns of each
/// row group encoded and compressed on `threads` threads.
fn encode_columns_in_parallel(
    batch: &RecordBatch,
    out: impl std::io::Write + Send,
    props: WriterProperties,
    threads: usize,
) -> parquet::errors::Result<()> {
    let mut encoder = ParallelEncoder::new(out, batch.schema(), props, threads)?;
    encoder.write(batch)?;
    encoder.finish().map(drop)
}

/// Encodes a batch's columns in parallel, batch after batch, into the row groups `ArrowWriter`
/// would cut (by rows only: no byte limit is set here).
///
/// `ArrowWriter` encodes one column after another on the caller's thread: at a million customers
/// `scores.parquet` and `features.parquet` took a second or more each on one core while the other
/// waited. The parquet crate's own column writers (`ArrowColumnWriter`, its documented way to write
/// columns in parallel) encode each column chunk independently and keep only encoded pages; the
/// chunks are appended in column order when a row group is full, so the file is the same. Fed a
/// slice of the rows at a time, the writers hold the compressed pages rather than the columns: the
/// caller never needs a million customers' columns at once. The tests compare the bytes with
/// `ArrowWriter`'s.
struct ParallelEncoder<W: std::io::Write + Send> {
    file: parquet::file::writer::SerializedFileWriter<W>,
    factory: parquet::arrow::arrow_writer::ArrowRowGroupWriterFactory,
    schema: arrow::datatypes::SchemaRef,
    /// The row group being filled: its column writers and its rows so far.
    group: Option<(Vec<parquet::arrow::arrow_writer::ArrowColumnWriter>, usize)>,
    /// Row groups closed.
    groups: usize,
    max_rows: usize,
    threads: usize,
}

impl<W: std::io::Write + Send> ParallelEncoder<W> {
    fn new(
        out: W,
        schema: arrow::datatypes::SchemaRef,
        props: WriterProperties,
        threads: usize,
    ) -> parquet::errors::Result<Self> {
        use parquet::errors::ParquetError;
        if props.max_row_group_bytes().is_some() {
            return Err(ParquetError::General(
                "a row group byte limit is not supported here".into(),
            ));
        }
        let max_rows = props.max_row_group_row_count().unwrap_or(usize::MAX).max(1);
        let (file, factory) = ArrowWriter::try_new(out, schema.clone(), Some(props))?.into_serialized_writer()?;
        Ok(ParallelEncoder {
            file,
            factory,
            schema,
            group: None,
            groups: 0,
            max_rows,
            threads,
        })
    }

    /// Encodes `batch`'s rows (its schema is the encoder's), closing each row group that fills.
    fn write(&mut self, batch: &RecordBatch) -> parquet::errors::Result<()> {
        use parquet::arrow::arrow_writer::compute_leaves;
        use parquet::errors::ParquetError;
        let mut start = 0;
        while start < batch.num_rows() {
            let (writers, rows) = match self.group.take() {
                Some(group) => group,
                None => (self.factory.create_column_writers(self.groups)?, 0),
            };
            let len = (self.max_rows - rows).min(batch.num_rows() - start);
            let slice = batch.slice(start, len);
            let mut leaves = Vec::new();
            for (field, column) in self.schema.fields().iter().zip(slice.columns()) {
                leaves.extend(compute_leaves(field, column)?);
            }
            if writers.len() != leaves.len() {
                return Err(ParquetError::General(format!(
                    "{} column writers for {} leaf columns",
                    writers.len(),
                    leaves.len()
                )));
            }
            // Columns share the cores, a wide text column beside narrow number columns; the
            // writers come back in column order.
            let jobs: Vec<_> = writers.into_iter().zip(leaves).collect();
            let writers = churn_core::parallel_map_on(self.threads, jobs, |(mut writer, leaf)| {
                writer.write(&leaf).map(|()| writer)
            })
            .into_iter()
            .collect::<parquet::errors::Result<Vec<_>>>()?;
            self.group = Some((writers, rows + len));
            if rows + len == self.max_rows {
                self.close_group()?;
            }
            start += len;
        }
        Ok(())
    }

    /// Closes the row group being filled: its chunks are compressed on the cores and appended in
    /// column order.
    fn close_group(&mut self) -> parquet::errors::Result<()> {
        let Some((writers, _)) = self.group.take() else {
            return Ok(());
        };
        let chunks = churn_core::parallel_map_on(self.threads, writers, |writer| writer.close());
        let mut group = self.file.next_row_group()?;
        for chunk in chunks {
            chunk?.append_to_row_group(&mut group)?;
        }
        group.close()?;
        self.groups += 1;
        Ok(())
    }

    /// Closes the last row group, writes the footer and gives back the writer.
    fn finish(mut self) -> parquet::errors::Result<W> {
        self.close_group()?;
        self.file.into_inner()
    }
}

/// A Parquet file's bytes, encoded as [`encode_batch`] encodes them, from slices of its rows
/// written one after another ([`ParquetBytes::slices`]): a caller with a million customers' rows
/// then never holds their columns all at once, and the bytes are those of one batch of every row.
pub struct ParquetBytes {
    path: std::path::PathBuf,
    encoder: ParallelEncoder<Vec<u8>>,
    /// Rows per slice within a row group (see [`ParquetBytes::slices`]).
    slice_rows: usize,
}

impl ParquetBytes {
    /// An empty file of `fields` with `metadata` in its schema; `path` names it in errors.
    pub fn new(path: &Path, fields: Vec<arrow::datatypes::Field>, metadata: &[(&str, &str)]) -> Result<Self> {
        let metadata = metadata.iter().map(|&(k, v)| (k.to_string(), v.to_string())).collect();
        let schema = Arc::new(arrow::datatypes::Schema::new(fields).with_metadata(metadata));
        Self::with_props(path, schema, writer_props()?)
    }

    fn with_props(path: &Path, schema: arrow::datatypes::SchemaRef, props: WriterProperties) -> Result<Self> {
        // A column writer checks its page's size and rows after each mini-batch, of
        // `write_batch_size` rows or (for a column whose levels are all alike) of
        // `data_page_row_count_limit`, counted from the start of each write. Writes whose lengths
        // are multiples of both start every mini-batch where one write of the row group starts
        // it, so the pages are cut at the same rows.
        let (a, b) = (
            props.write_batch_size().max(1),
            props.data_page_row_count_limit().max(1),
        );
        let slice_rows = a / gcd(a, b) * b;
        let encoder = ParallelEncoder::new(Vec::new(), schema, props, cores()).map_err(|e| parquet_error(path, e))?;
        Ok(ParquetBytes {
            path: path.to_path_buf(),
            encoder,
            slice_rows,
        })
    }

    /// The slices of `rows` rows to write, in order: each row group's rows cut into pieces of the
    /// same whole number of mini-batches (640,000 rows with the writer's defaults), its last piece
    /// what is left.
    pub fn slices(&self, rows: usize) -> Vec<std::ops::Range<usize>> {
        let mut slices = Vec::new();
        let mut start = 0;
        while start < rows {
            let group_end = rows.min(start.saturating_add(self.encoder.max_rows));
            while start < group_end {
                let end = group_end.min(start + self.slice_rows);
                slices.push(start..end);
                start = end;
            }
        }
        slices
    }

    /// Encodes the next rows, one array per field: the rows of the next of [`ParquetBytes::slices`]
    /// (other lengths give a valid file of the same values, cut into other pages).
    pub fn write(&mut self, columns: Vec<arrow::array::ArrayRef>) -> Result<()> {
        let batch =
            RecordBatch::try_new(self.encoder.schema.clone(), columns).map_err(|e| Error::Engine(e.to_string()))?;
        self.encoder.write(&batch).map_err(|e| parquet_error(&self.path, e))
    }

    /// The file's bytes.
    pub fn finish(self) -> Result<Vec<u8>> {
        self.encoder.finish().map_err(|e| parquet_error(&self.path, e))
    }
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

fn parquet_error(path: &Path, e: parquet::errors::ParquetError) -> Error {
    Error::Parquet {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Reads a whole Parquet file into one batch; the schema keeps the file's metadata, the batch's
/// schema does not (so batches of different files compare by content).
pub(crate) fn read_parquet_file(path: &Path) -> Result<(arrow::datatypes::SchemaRef, RecordBatch)> {
    read_parquet_columns(&ParquetSource::File(path), None)
}

/// Where a Parquet file is read from: the file itself, or its bytes already in memory (a run that
/// has just encoded a file decodes it again without reading it back), named by the path they are
/// written to, for errors.
#[derive(Debug, Clone)]
pub enum ParquetSource<'a> {
    /// The file at this path.
    File(&'a Path),
    /// The file's whole contents, and the path it is written to.
    Bytes(&'a Path, bytes::Bytes),
}

impl ParquetSource<'_> {
    /// The path the bytes are (or will be) at, for errors.
    pub fn path(&self) -> &Path {
        match self {
            ParquetSource::File(path) | ParquetSource::Bytes(path, _) => path,
        }
    }
}

/// [`read_parquet_file`], reading only the columns named in `columns` (in file order) when given:
/// a reader that needs four columns of a million rows then skips decoding the others (the text
/// ones, mostly). A named column the file lacks is an error naming it.
pub(crate) fn read_parquet_columns(
    source: &ParquetSource<'_>,
    columns: Option<&[&str]>,
) -> Result<(arrow::datatypes::SchemaRef, RecordBatch)> {
    let path = source.path();
    let parquet_err = |e: parquet::errors::ParquetError| Error::Parquet {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    match source {
        ParquetSource::File(path) => {
            let file = File::open(path).map_err(|e| Error::io("cannot open", path, e))?;
            let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(parquet_err)?;
            read_projected(builder, path, columns)
        }
        ParquetSource::Bytes(path, bytes) => {
            let builder = ParquetRecordBatchReaderBuilder::try_new(bytes.clone()).map_err(parquet_err)?;
            read_projected(builder, path, columns)
        }
    }
}

/// The named columns (all when `None`) of the file `builder` reads, as one batch (see
/// [`read_parquet_columns`]).
fn read_projected<R: parquet::file::reader::ChunkReader + 'static>(
    mut builder: ParquetRecordBatchReaderBuilder<R>,
    path: &Path,
    columns: Option<&[&str]>,
) -> Result<(arrow::datatypes::SchemaRef, RecordBatch)> {
    let parquet_err = |e: parquet::errors::ParquetError| Error::Parquet {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    if let Some(names) = columns {
        let fields = builder.schema().fields();
        let mut roots = Vec::with_capacity(names.len());
        for name in names {
            let index = fields
                .iter()
                .position(|f| f.name() == name)
                .ok_or_else(|| Error::BadFile {
                    path: path.to_path_buf(),
                    reason: format!("has no column {name:?}"),
                })?;
            roots.push(index);
        }
        let mask = parquet::arrow::ProjectionMask::roots(builder.parquet_schema(), roots);
        builder = builder.with_projection(mask);
    }
    let metadata = builder.schema().metadata().clone();
    let reader = builder.build().map_err(parquet_err)?;
    // The projected schema, with the file's metadata (which the reader's own schema drops).
    let schema = Arc::new(
        arrow::record_batch::RecordBatchReader::schema(&reader)
            .as_ref()
            .clone()
            .with_metadata(metadata),
    );
    let batches = reader
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::Parquet {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    let plain = Arc::new(schema.as_ref().clone().with_metadata(HashMap::new()));
    let batch = arrow::compute::concat_batches(&plain, &batches).map_err(|e| Error::Engine(e.to_string()))?;
    Ok((schema, batch))
}

/// Per-customer features as of a snapshot date, with their provenance.
#[derive(Debug, Clone)]
pub struct FeatureTable {
    /// One row per customer, sorted by `customer_id` bytes; v1 columns first, then custom features.
    pub batch: RecordBatch,
    /// The snapshot date `S`.
    pub as_of: NaiveDate,
    /// Fingerprint of the input files' contents.
    pub fingerprint: String,
    /// What happened to the input rows (empty when read back from a file).
    pub report: IngestReport,
}

impl FeatureTable {
    fn with_metadata(&self) -> Result<RecordBatch> {
        let metadata = HashMap::from([
            (META_AS_OF.to_string(), self.as_of.format("%Y-%m-%d").to_string()),
            (META_FINGERPRINT.to_string(), self.fingerprint.clone()),
            (META_FEATURE_SET_VERSION.to_string(), FEATURE_SET_VERSION.to_string()),
            (META_TOOL_VERSION.to_string(), env!("CARGO_PKG_VERSION").to_string()),
        ]);
        let schema = Arc::new(self.batch.schema().as_ref().clone().with_metadata(metadata));
        self.batch
            .clone()
            .with_schema(schema)
            .map_err(|e| Error::Engine(e.to_string()))
    }

    /// Writes the table to `path` atomically: into a temporary file in the same directory, synced,
    /// then renamed over `path`. A failure leaves no file (and any previous file untouched).
    pub fn write_parquet(&self, path: &Path) -> Result<()> {
        write_batch_atomically(path, &self.with_metadata()?, ".features-")
    }

    /// The bytes [`FeatureTable::write_parquet`] would write: for a caller that keeps the file,
    /// compressed, instead of the table until it writes.
    pub fn to_parquet_bytes(&self) -> Result<Vec<u8>> {
        let mut bytes = Vec::new();
        encode_batch(&self.with_metadata()?, &mut bytes, Path::new("features.parquet"))?;
        Ok(bytes)
    }

    /// Lets the rows go, keeping the schema and the provenance (`as_of`, fingerprint, report):
    /// for a caller that keeps [`FeatureTable::to_parquet_bytes`] instead. (A zero-row slice
    /// would keep the buffers alive.)
    pub fn clear_rows(&mut self) {
        self.batch = RecordBatch::new_empty(self.batch.schema());
    }

    /// Reads a feature file written by [`FeatureTable::write_parquet`], checking its metadata.
    pub fn read_parquet(path: &Path) -> Result<FeatureTable> {
        Self::read_parquet_projected(&ParquetSource::File(path), None)
    }

    /// [`FeatureTable::read_parquet`], reading `customer_id` and the named columns only.
    pub fn read_parquet_columns(path: &Path, columns: &[&str]) -> Result<FeatureTable> {
        let mut names = vec!["customer_id"];
        names.extend(columns.iter().filter(|c| **c != "customer_id"));
        Self::read_parquet_projected(&ParquetSource::File(path), Some(&names))
    }

    /// [`FeatureTable::read_parquet_columns`] from `source`: the file, or its bytes in memory.
    pub fn read_parquet_columns_from(source: &ParquetSource<'_>, columns: &[&str]) -> Result<FeatureTable> {
        let mut names = vec!["customer_id"];
        names.extend(columns.iter().filter(|c| **c != "customer_id"));
        Self::read_parquet_projected(source, Some(&names))
    }

    fn read_parquet_projected(source: &ParquetSource<'_>, columns: Option<&[&str]>) -> Result<FeatureTable> {
        let path = source.path();
        let (schema, batch) = read_parquet_columns(source, columns)?;
        let meta = |key: &str| {
            schema.metadata().get(key).cloned().ok_or_else(|| Error::BadFile {
                path: path.to_path_buf(),
                reason: format!("has no {key:?} metadata; is it a feature file written by `churn features`?"),
            })
        };
        let as_of_text = meta(META_AS_OF)?;
        let as_of = NaiveDate::parse_from_str(&as_of_text, "%Y-%m-%d").map_err(|_| Error::BadFile {
            path: path.to_path_buf(),
            reason: format!("metadata {META_AS_OF} = {as_of_text:?} is not a date"),
        })?;
        let fingerprint = meta(META_FINGERPRINT)?;
        let version = meta(META_FEATURE_SET_VERSION)?;
        if !READABLE_FEATURE_SET_VERSIONS.contains(&version.as_str()) {
            return Err(Error::BadFile {
                path: path.to_path_buf(),
                reason: format!(
                    "feature-set version {version} is not supported (this build reads versions {})",
                    READABLE_FEATURE_SET_VERSIONS.join(" and ")
                ),
            });
        }
        Ok(FeatureTable {
            batch,
            as_of,
            fingerprint,
            report: IngestReport::default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{ArrayRef, Date32Array, Float64Array, Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;

    /// A table like the outputs: text with and without nulls, numbers with nulls, dates.
    fn batch(rows: usize) -> RecordBatch {
        let text: ArrayRef = Arc::new(StringArray::from_iter_values(
            (0..rows).map(|i| format!("C{:07}", i * 7919 % 100_003)),
        ));
        let optional: ArrayRef = Arc::new(
            (0..rows)
                .map(|i| (i % 3 != 0).then(|| ["Champions", "At risk", "Lost"][i % 3].to_string()))
                .collect::<StringArray>(),
        );
        let numbers: ArrayRef = Arc::new(Float64Array::from_iter(
            (0..rows).map(|i| (i % 5 != 0).then(|| i as f64 / 7.0)),
        ));
        let counts: ArrayRef = Arc::new(Int64Array::from_iter_values((0..rows).map(|i| (i * i % 97) as i64)));
        let dates: ArrayRef = Arc::new(Date32Array::from_iter(
            (0..rows).map(|i| (i % 4 != 0).then_some(19_000 + (i % 400) as i32)),
        ));
        let schema = Schema::new(vec![
            Field::new("customer_id", DataType::Utf8, false),
            Field::new("rfm_segment", DataType::Utf8, true),
            Field::new("score", DataType::Float64, true),
            Field::new("orders", DataType::Int64, false),
            Field::new("next", DataType::Date32, true),
        ])
        .with_metadata([("churn.as_of".to_string(), "2024-01-01".to_string())].into());
        RecordBatch::try_new(Arc::new(schema), vec![text, optional, numbers, counts, dates]).expect("batch")
    }

    fn props(max_rows: usize) -> WriterProperties {
        WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).expect("level")))
            .set_max_row_group_row_count(Some(max_rows))
            .set_data_page_size_limit(4096)
            .build()
    }

    fn arrow_writers(batch: &RecordBatch, props: WriterProperties) -> Vec<u8> {
        let mut out = Vec::new();
        let mut writer = ArrowWriter::try_new(&mut out, batch.schema(), Some(props)).expect("writer");
        writer.write(batch).expect("write");
        writer.close().expect("close");
        out
    }

    #[test]
    fn columns_encoded_in_parallel_are_arrow_writers_bytes() {
        // One row group, several (the last one short), an exact multiple, and no rows at all.
        for (rows, max_rows) in [(5_000, 1 << 20), (2_500, 1_000), (3_000, 1_000), (0, 1_000), (1, 1)] {
            let batch = batch(rows);
            let expected = arrow_writers(&batch, props(max_rows));
            for threads in [1, 2, 3, 16] {
                let mut ours = Vec::new();
                encode_columns_in_parallel(&batch, &mut ours, props(max_rows), threads).expect("encodes");
                assert!(
                    ours == expected,
                    "{rows} rows, {max_rows} a group, {threads} threads: the bytes differ"
                );
            }
        }
    }

    #[test]
    fn the_file_reads_back_with_its_metadata() -> Result<()> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t.parquet");
        let written = batch(1_234);
        write_batch_atomically(&path, &written, ".t-")?;
        let (schema, read) = read_parquet_file(&path)?;
        assert_eq!(
            schema.metadata().get("churn.as_of").map(String::as_str),
            Some("2024-01-01")
        );
        assert_eq!(read.columns(), written.columns());
        Ok(())
    }

    #[test]
    fn slices_written_one_by_one_are_one_writes_bytes() -> Result<()> {
        // Mini-batches of 64 rows, or 100 for a column whose levels are all alike: slices of 1,600
        // rows within row groups of 4,000 (one long, several with a short last slice, none).
        let props = |max_rows: usize| {
            WriterProperties::builder()
                .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).expect("level")))
                .set_max_row_group_row_count(Some(max_rows))
                .set_write_batch_size(64)
                .set_data_page_row_count_limit(100)
                .set_data_page_size_limit(4096)
                .build()
        };
        for (rows, max_rows) in [(10_000, 4_000), (8_000, 4_000), (3_000, 1 << 20), (0, 4_000)] {
            let batch = batch(rows);
            let expected = arrow_writers(&batch, props(max_rows));
            let mut file = ParquetBytes::with_props(Path::new("t.parquet"), batch.schema(), props(max_rows))?;
            let slices = file.slices(rows);
            assert!(slices.iter().all(|s| s.len() <= 1_600), "{slices:?}");
            assert_eq!(slices.iter().map(|s| s.len()).sum::<usize>(), rows);
            for slice in slices {
                file.write(batch.slice(slice.start, slice.len()).columns().to_vec())?;
            }
            assert!(
                file.finish()? == expected,
                "{rows} rows, {max_rows} a group: the bytes differ"
            );
        }
        Ok(())
    }

    #[test]
    fn a_byte_limit_on_row_groups_is_refused_not_ignored() {
        let props = WriterProperties::builder()
            .set_max_row_group_bytes(Some(1 << 20))
            .build();
        let err = encode_columns_in_parallel(&batch(10), Vec::new(), props, 2).expect_err("refused");
        assert!(err.to_string().contains("byte limit"), "{err}");
    }
}
