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
fn encode_batch(batch: &RecordBatch, out: impl std::io::Write + Send, path: &Path) -> Result<()> {
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(1).map_err(|e| Error::Engine(e.to_string()))?,
        ))
        .build();
    let parquet_err = |e: parquet::errors::ParquetError| Error::Parquet {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let mut writer = ArrowWriter::try_new(out, batch.schema(), Some(props)).map_err(parquet_err)?;
    writer.write(batch).map_err(parquet_err)?;
    writer.close().map_err(parquet_err)?;
    Ok(())
}

/// Reads a whole Parquet file into one batch; the schema keeps the file's metadata, the batch's
/// schema does not (so batches of different files compare by content).
pub(crate) fn read_parquet_file(path: &Path) -> Result<(arrow::datatypes::SchemaRef, RecordBatch)> {
    read_parquet_columns(path, None)
}

/// [`read_parquet_file`], reading only the columns named in `columns` (in file order) when given:
/// a reader that needs four columns of a million rows then skips decoding the others (the text
/// ones, mostly). A named column the file lacks is an error naming it.
pub(crate) fn read_parquet_columns(
    path: &Path,
    columns: Option<&[&str]>,
) -> Result<(arrow::datatypes::SchemaRef, RecordBatch)> {
    let file = File::open(path).map_err(|e| Error::io("cannot open", path, e))?;
    let parquet_err = |e: parquet::errors::ParquetError| Error::Parquet {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let mut builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(parquet_err)?;
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
        Self::read_parquet_projected(path, None)
    }

    /// [`FeatureTable::read_parquet`], reading `customer_id` and the named columns only.
    pub fn read_parquet_columns(path: &Path, columns: &[&str]) -> Result<FeatureTable> {
        let mut names = vec!["customer_id"];
        names.extend(columns.iter().filter(|c| **c != "customer_id"));
        Self::read_parquet_projected(path, Some(&names))
    }

    fn read_parquet_projected(path: &Path, columns: Option<&[&str]>) -> Result<FeatureTable> {
        let (schema, batch) = read_parquet_columns(path, columns)?;
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
