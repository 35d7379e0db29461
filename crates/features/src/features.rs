//! From per-customer aggregates to the v1 feature table: the population rule, the formulas, the scores.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema};

use crate::customers::{Customers, CustomersReport};
use crate::engine::{Aggregates, CustomerAgg, EngineOutput, MICROS_PER_DAY};
use crate::error::{Error, Result};
use crate::params::FeatureParams;
use crate::rfm::{quintile_scores, Better};

/// Counts of what happened to the input rows; every dropped row is in exactly one bucket.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestReport {
    /// Number of input files.
    pub files: usize,
    /// `csv` (delimited text) or `parquet`.
    pub format: &'static str,
    /// Data rows in the files.
    pub rows_read: u64,
    /// Rows the `input.where` filter excluded.
    pub rows_filtered_out: u64,
    /// Rows without a customer id (null, empty, only whitespace, or a spelling of missing such as
    /// `NULL`, `None` or `N/A`); dropped.
    pub rows_missing_customer: u64,
    /// Rows at or after the as-of date; dropped.
    pub rows_on_or_after_as_of: u64,
    /// Rows that repeat an earlier row exactly (every input column); kept unless `drop_duplicates`.
    pub rows_duplicate: u64,
    /// Whether duplicates were dropped.
    pub duplicates_dropped: bool,
    /// Rows that went into the features.
    pub rows_used: u64,
    /// Customers in the snapshot (at least one purchase before the as-of date).
    pub customers: u64,
    /// Customers with rows before the as-of date but no purchase (only returns); not in the snapshot.
    pub customers_without_purchase: u64,
    /// Order ids under more than one customer anywhere in the log (kept: `input.shared_orders`
    /// is `warn`).
    pub shared_orders: u64,
    /// The customers table against this snapshot, when `input.customers` is set.
    pub customers_table: Option<CustomersReport>,
}

fn is_missing(id: &Option<String>) -> bool {
    crate::parse::is_missing_id(id.as_deref())
}

fn days(micros: i64) -> f64 {
    micros as f64 / MICROS_PER_DAY as f64
}

fn money(cents: i64) -> f64 {
    cents as f64 / 100.0
}

/// The v1 schema, plus custom feature columns.
pub(crate) fn feature_schema(custom: &[String]) -> Schema {
    let f64_field = |name: &str| Field::new(name, DataType::Float64, false);
    let mut fields = vec![
        Field::new("customer_id", DataType::Utf8, false),
        f64_field("recency_days"),
        Field::new("frequency", DataType::Int64, false),
        f64_field("monetary_total"),
        f64_field("monetary_avg_order"),
        f64_field("tenure_days"),
        f64_field("spend_30d"),
        f64_field("spend_90d"),
        f64_field("spend_365d"),
        Field::new("orders_90d", DataType::Int64, false),
        Field::new("avg_days_between_orders", DataType::Float64, true),
        Field::new("return_ratio", DataType::Float64, true),
        Field::new("r_score", DataType::Int32, false),
        Field::new("f_score", DataType::Int32, false),
        Field::new("m_score", DataType::Int32, false),
        Field::new("rfm_segment", DataType::Utf8, false),
        // Version 2.
        Field::new("typical_gap_days", DataType::Float64, true),
        Field::new("overdue_ratio", DataType::Float64, true),
        Field::new("orders_prev_90d", DataType::Int64, false),
        f64_field("spend_prev_90d"),
    ];
    fields.extend(custom.iter().map(|name| Field::new(name, DataType::Float64, true)));
    Schema::new(fields)
}

/// Applies the population rule and the v1 definitions. Output rows are sorted by customer id bytes.
/// With a customers table, tenure starts at the earlier of the signup and the first purchase.
pub(crate) fn build(
    output: EngineOutput<'_>,
    params: &FeatureParams,
    customers: Option<&Customers>,
) -> Result<(RecordBatch, IngestReport)> {
    let as_of = output.as_of_us;
    let mut report = IngestReport {
        files: output.files.len(),
        format: match output.format {
            crate::source::Format::Text => "csv",
            crate::source::Format::Parquet => "parquet",
        },
        rows_read: output.rows_read,
        duplicates_dropped: params.drop_duplicates,
        shared_orders: output.shared_orders,
        ..IngestReport::default()
    };
    let aggregates: Box<dyn Iterator<Item = Result<CustomerAgg>> + '_> = match output.customers {
        Aggregates::Unsorted(mut aggregates) => {
            // Byte order: `String`'s `Ord` compares the UTF-8 bytes.
            aggregates.sort_unstable_by(|a, b| a.customer_id.cmp(&b.customer_id));
            Box::new(aggregates.into_iter().map(Ok))
        }
        Aggregates::InIdOrder(aggregates) => aggregates,
    };

    // One pass: every customer is counted in the report, and the population (customers with a
    // purchase before the snapshot) goes into the columns as it comes, in id order.
    let capacity = aggregates.size_hint().0;
    let mut ids = StringBuilder::with_capacity(capacity, capacity * 8);
    let mut recency = Vec::with_capacity(capacity);
    let mut frequency = Vec::with_capacity(capacity);
    let mut monetary = Vec::with_capacity(capacity);
    let mut avg_order = Vec::with_capacity(capacity);
    let mut tenure = Vec::with_capacity(capacity);
    let (mut spend_30, mut spend_90, mut spend_365) = (
        Vec::with_capacity(capacity),
        Vec::with_capacity(capacity),
        Vec::with_capacity(capacity),
    );
    let mut orders_90 = Vec::with_capacity(capacity);
    let mut between = Vec::with_capacity(capacity);
    let mut return_ratio = Vec::with_capacity(capacity);
    let (mut typical_gap, mut overdue) = (Vec::with_capacity(capacity), Vec::with_capacity(capacity));
    let (mut orders_prev_90, mut spend_prev_90) = (Vec::with_capacity(capacity), Vec::with_capacity(capacity));
    let mut table_report = customers.map(Customers::report);
    let mut rows_kept_by_filter = 0u64;
    for c in aggregates {
        let c = c?;
        rows_kept_by_filter += c.rows_total;
        if is_missing(&c.customer_id) {
            report.rows_missing_customer += c.rows_total;
            continue;
        }
        report.rows_on_or_after_as_of += c.rows_future;
        report.rows_duplicate += c.rows_duplicate;
        report.rows_used += c.rows_before;
        // The population is the customers with a purchase before the snapshot.
        let (Some(first), Some(last)) = (c.first_purchase_us, c.last_purchase_us) else {
            if c.rows_before > 0 {
                report.customers_without_purchase += 1;
            }
            continue;
        };
        let id = c.customer_id.as_deref().unwrap_or_default();
        ids.append_value(id);
        let recency_days = days(as_of - last);
        recency.push(recency_days);
        typical_gap.push(c.typical_gap_days);
        // Purchases on one day only (or gaps that are all zero) give no rhythm to be late for.
        overdue.push(c.typical_gap_days.filter(|&g| g > 0.0).map(|g| recency_days / g));
        orders_prev_90.push(c.orders_prev_90d);
        spend_prev_90.push(money(c.spend_prev_90d_cents));
        let start = match (customers, &mut table_report) {
            (Some(table), Some(counts)) => counts.tenure_start(table, id, first, as_of),
            _ => first,
        };
        tenure.push(days(as_of - start));
        frequency.push(c.frequency);
        let total = money(c.net_cents);
        monetary.push(total);
        avg_order.push(total / c.frequency.max(1) as f64);
        spend_30.push(money(c.spend_30d_cents));
        spend_90.push(money(c.spend_90d_cents));
        spend_365.push(money(c.spend_365d_cents));
        orders_90.push(c.orders_90d);
        between.push((c.frequency >= 2).then(|| days(last - first) / (c.frequency - 1) as f64));
        // Purchases that round to zero cents leave the ratio undefined: null, never infinity.
        return_ratio.push((c.purchase_cents > 0).then(|| -(c.return_cents as f64) / c.purchase_cents as f64));
    }
    report.rows_filtered_out = output.rows_read.saturating_sub(rows_kept_by_filter);
    let n = recency.len();
    if n == 0 {
        let date = chrono::DateTime::from_timestamp_micros(as_of)
            .map(|t| t.date_naive())
            .unwrap_or_default();
        return Err(Error::EmptySnapshot { as_of: date });
    }
    report.customers = n as u64;
    let ids = ids.finish();
    if let Some(mut counts) = table_report {
        counts.finish();
        report.customers_table = Some(counts);
    }
    let frequency_f64: Vec<f64> = frequency.iter().map(|&f| f as f64).collect();
    let r_score = quintile_scores(&recency, Better::Lower);
    let f_score = quintile_scores(&frequency_f64, Better::Higher);
    let m_score = quintile_scores(&monetary, Better::Higher);
    let segment: Vec<&str> = (0..n)
        .map(|i| params.rfm_rules.name(r_score[i], f_score[i], m_score[i]))
        .collect();

    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(ids.clone()),
        Arc::new(Float64Array::from(recency)),
        Arc::new(Int64Array::from(frequency)),
        Arc::new(Float64Array::from(monetary)),
        Arc::new(Float64Array::from(avg_order)),
        Arc::new(Float64Array::from(tenure)),
        Arc::new(Float64Array::from(spend_30)),
        Arc::new(Float64Array::from(spend_90)),
        Arc::new(Float64Array::from(spend_365)),
        Arc::new(Int64Array::from(orders_90)),
        Arc::new(Float64Array::from(between)),
        Arc::new(Float64Array::from(return_ratio)),
        Arc::new(Int32Array::from(r_score)),
        Arc::new(Int32Array::from(f_score)),
        Arc::new(Int32Array::from(m_score)),
        Arc::new(StringArray::from(segment)),
        Arc::new(Float64Array::from(typical_gap)),
        Arc::new(Float64Array::from(overdue)),
        Arc::new(Int64Array::from(orders_prev_90)),
        Arc::new(Float64Array::from(spend_prev_90)),
    ];
    let mut custom_names = Vec::new();
    for (name, values) in output.custom {
        let by_id: HashMap<String, Option<f64>> = values.into_iter().collect();
        let column: Vec<Option<f64>> = ids
            .iter()
            .map(|id| id.and_then(|id| by_id.get(id).copied().flatten()))
            .collect();
        columns.push(Arc::new(Float64Array::from(column)));
        custom_names.push(name);
    }
    let schema = Arc::new(feature_schema(&custom_names));
    let batch = RecordBatch::try_new(schema, columns).map_err(|e| Error::Engine(e.to_string()))?;
    check_finite(&batch)?;
    Ok((batch, report))
}

/// The guard that no NaN or infinity reaches a file.
fn check_finite(batch: &RecordBatch) -> Result<()> {
    let ids = batch.column(0).as_any().downcast_ref::<StringArray>();
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        let Some(values) = column.as_any().downcast_ref::<Float64Array>() else {
            continue;
        };
        if let Some(i) = (0..values.len()).find(|&i| values.is_valid(i) && !values.value(i).is_finite()) {
            return Err(Error::NonFinite {
                feature: field.name().clone(),
                customer_id: ids.map(|a| a.value(i).to_string()).unwrap_or_default(),
            });
        }
    }
    Ok(())
}
