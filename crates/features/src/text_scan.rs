//! The text reader as a DataFusion table ([`TextTable`]) and plan node ([`TextScanExec`]) of the
//! project's own, one partition per file.
//!
//! DataFusion's `StreamingTable` would read the files as well, but its partitions are opaque
//! trait objects: nothing can say which file and which parsing rules a partition stands for, so a
//! plan holding one cannot be sent to a cluster. These two types keep the files and the
//! [`TextPlan`] in the open, and [`TextScanWire`] is their serialized form, which
//! `crate::cluster`'s codecs carry to the scheduler and the executors.

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::TableType;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::Expr;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties};
use futures::StreamExt;

use crate::error::Problems;
use crate::parse::TimestampParser;
use crate::source::{ColumnKind, TextPartition, TextPlan};
use crate::text::{Delimiter, TextFormat};

/// The input files as a table: what `raw` is for text input.
#[derive(Debug)]
pub(crate) struct TextTable {
    pub(crate) scan: TextScan,
}

/// What a scan of the text files needs, on whichever machine it runs.
#[derive(Debug, Clone)]
pub(crate) struct TextScan {
    pub(crate) files: Vec<PathBuf>,
    pub(crate) plan: Arc<TextPlan>,
    /// Where the readers report bad values; on the driver, the run's report.
    pub(crate) problems: Arc<Problems>,
    /// Rows read per file; on the driver, the run's counters.
    pub(crate) rows_read: Vec<Arc<AtomicU64>>,
    /// Fail the partition's stream on a bad value instead of only reporting it: on an executor,
    /// where the report does not reach the driver, a skipped line would otherwise go unnoticed.
    pub(crate) fail_on_problems: bool,
}

#[async_trait::async_trait]
impl TableProvider for TextTable {
    fn schema(&self) -> SchemaRef {
        self.scan.plan.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        // Not pushed down: DataFusion applies the filters and the limit above the scan.
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        Ok(Arc::new(TextScanExec::new(self.scan.clone(), projection.cloned())?))
    }
}

/// Reads the text files, one partition per file, and keeps the projected columns.
#[derive(Debug)]
pub(crate) struct TextScanExec {
    pub(crate) scan: TextScan,
    pub(crate) projection: Option<Vec<usize>>,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
}

impl TextScanExec {
    pub(crate) fn new(scan: TextScan, projection: Option<Vec<usize>>) -> DfResult<Self> {
        let full = scan.plan.schema();
        let schema = match &projection {
            Some(p) => Arc::new(full.project(p)?),
            None => full,
        };
        let properties = PlanProperties::new(
            EquivalenceProperties::new(Arc::clone(&schema)),
            Partitioning::UnknownPartitioning(scan.files.len()),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        Ok(TextScanExec {
            scan,
            projection,
            schema,
            properties: Arc::new(properties),
        })
    }
}

impl DisplayAs for TextScanExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "TextScanExec: files={}", self.scan.files.len())
    }
}

impl ExecutionPlan for TextScanExec {
    fn name(&self) -> &str {
        "TextScanExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>,
    ) -> DfResult<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(self: Arc<Self>, _children: Vec<Arc<dyn ExecutionPlan>>) -> DfResult<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn execute(&self, partition: usize, ctx: Arc<TaskContext>) -> DfResult<SendableRecordBatchStream> {
        let (Some(path), Some(rows_read)) = (self.scan.files.get(partition), self.scan.rows_read.get(partition)) else {
            return Err(DataFusionError::Internal(format!(
                "TextScanExec has {} partitions, not {partition}",
                self.scan.files.len()
            )));
        };
        let file = TextPartition {
            path: path.clone(),
            plan: Arc::clone(&self.scan.plan),
            schema: self.scan.plan.schema(),
            problems: Arc::clone(&self.scan.problems),
            rows_read: Arc::clone(rows_read),
            fail_on_problems: self.scan.fail_on_problems,
        };
        let stream = file.execute(ctx);
        let Some(projection) = self.projection.clone() else {
            return Ok(stream);
        };
        let projected = stream.map(move |batch| Ok(batch?.project(&projection)?));
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&self.schema),
            projected,
        )))
    }
}

/// A [`TextScan`] (and a projection) as bytes: everything but the driver's report and counters,
/// which an executor replaces with its own and fails on instead.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct TextScanWire {
    files: Vec<PathBuf>,
    /// `None`: whitespace-delimited.
    delimiter: Option<u8>,
    has_header: bool,
    column_names: Option<Vec<String>>,
    timezone: Option<String>,
    timestamp_format: Option<String>,
    max_abs_amount: f64,
    min_us: i64,
    min_date: chrono::NaiveDate,
    decimal_comma: bool,
    columns: Vec<(String, usize, String)>,
    n_fields: usize,
    max_problems: usize,
    projection: Option<Vec<usize>>,
}

impl TextScanWire {
    pub(crate) fn new(scan: &TextScan, projection: Option<Vec<usize>>) -> Self {
        let plan = &scan.plan;
        TextScanWire {
            files: scan.files.clone(),
            delimiter: match plan.format.delimiter {
                Delimiter::Byte(b) => Some(b),
                Delimiter::Whitespace => None,
            },
            has_header: plan.format.has_header,
            column_names: plan.format.column_names.clone(),
            timezone: plan.timestamps.timezone.map(|tz| tz.name().to_string()),
            timestamp_format: plan.timestamps.format.clone(),
            max_abs_amount: plan.max_abs_amount,
            min_us: plan.min_us,
            min_date: plan.min_date,
            decimal_comma: plan.decimal_comma,
            columns: plan
                .columns
                .iter()
                .map(|(name, index, kind)| (name.clone(), *index, kind.name().to_string()))
                .collect(),
            n_fields: plan.n_fields,
            max_problems: scan.problems.limit(),
            projection,
        }
    }

    /// The scan this stands for, with a report and counters of its own that fail on a bad value.
    pub(crate) fn into_scan(self) -> DfResult<(TextScan, Option<Vec<usize>>)> {
        let bad = |what: String| DataFusionError::Internal(format!("a text scan from the driver: {what}"));
        let timezone = match &self.timezone {
            Some(name) => Some(
                name.parse::<chrono_tz::Tz>()
                    .map_err(|_| bad(format!("unknown time zone {name:?}")))?,
            ),
            None => None,
        };
        let columns = self
            .columns
            .into_iter()
            .map(|(name, index, kind)| {
                ColumnKind::from_name(&kind)
                    .map(|kind| (name, index, kind))
                    .ok_or_else(|| bad(format!("unknown column kind {kind:?}")))
            })
            .collect::<DfResult<Vec<_>>>()?;
        let plan = TextPlan {
            format: TextFormat {
                delimiter: self.delimiter.map_or(Delimiter::Whitespace, Delimiter::Byte),
                has_header: self.has_header,
                column_names: self.column_names,
            },
            timestamps: TimestampParser {
                timezone,
                format: self.timestamp_format,
            },
            max_abs_amount: self.max_abs_amount,
            min_us: self.min_us,
            min_date: self.min_date,
            decimal_comma: self.decimal_comma,
            columns,
            n_fields: self.n_fields,
        };
        let scan = TextScan {
            rows_read: self.files.iter().map(|_| Arc::new(AtomicU64::new(0))).collect(),
            files: self.files,
            plan: Arc::new(plan),
            problems: Arc::new(Problems::new(self.max_problems)),
            fail_on_problems: true,
        };
        Ok((scan, self.projection))
    }
}
