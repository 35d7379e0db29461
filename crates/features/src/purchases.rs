//! Purchase histories for lifetime-value models: per customer, the transactions before a date, with
//! purchases in one period (a day by default) merged into one transaction.
//!
//! This is the input the BG/NBD and Gamma-Gamma models need (`x`, `t_x`, `T` and the mean repeat
//! spend follow from it by arithmetic). It differs from the v1 features on purpose in one rule: a
//! zero-value row is a transaction here (a free order is still a visit), as in the published
//! analyses of CDNOW, whose reference numbers count them. Returns (negative rows) never make a
//! transaction and are not netted into a transaction's value; they are counted in the report.

use crate::engine;
use crate::error::{Error, Result};
use crate::params::{FeatureParams, InputSpec};

/// One customer's transactions before the as-of date.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerPurchases {
    /// The customer id, exactly as in the input.
    pub customer_id: String,
    /// Day of the first purchase (days since 1970-01-01, UTC).
    pub first_day: i64,
    /// Day of the first purchase of the last transaction period (equal to `first_day` when there
    /// is one transaction).
    pub last_day: i64,
    /// Transactions: periods with at least one purchase row (amount >= 0).
    pub transactions: u64,
    /// Value of the first transaction (sum of its purchase rows).
    pub first_value: f64,
    /// Value of all transactions.
    pub total_value: f64,
}

impl CustomerPurchases {
    /// Repeat transactions (all but the first).
    pub fn repeat_transactions(&self) -> u64 {
        self.transactions.saturating_sub(1)
    }

    /// Mean value of the repeat transactions; `None` without repeat transactions.
    pub fn mean_repeat_value(&self) -> Option<f64> {
        let repeats = self.repeat_transactions();
        (repeats > 0).then(|| (self.total_value - self.first_value) / repeats as f64)
    }
}

/// What happened to the input rows. Without dropped duplicates, every row read is in exactly one of
/// `rows_filtered_out`, `rows_missing_customer`, `rows_on_or_after_as_of`, `rows_returns` and `rows_used`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PurchaseReport {
    /// Data rows in the files.
    pub rows_read: u64,
    /// Rows the `input.where` filter excluded.
    pub rows_filtered_out: u64,
    /// Rows without a customer id; dropped.
    pub rows_missing_customer: u64,
    /// Rows at or after the as-of date; dropped.
    pub rows_on_or_after_as_of: u64,
    /// Return rows (amount < 0) before the as-of date: not transactions.
    pub rows_returns: u64,
    /// Purchase rows (amount >= 0) that went into transactions.
    pub rows_used: u64,
    /// Rows repeating an earlier row exactly (all input columns); kept unless duplicates are dropped.
    /// 0 when `FeatureParams::count_duplicates` is off.
    pub rows_duplicate: u64,
    /// Customers with at least one purchase.
    pub customers: u64,
}

/// Purchase histories of every customer before the as-of date.
#[derive(Debug, Clone, PartialEq)]
pub struct PurchaseHistory {
    /// Customers sorted by id bytes.
    pub customers: Vec<CustomerPurchases>,
    /// The as-of date: only rows before it are used.
    pub as_of: chrono::NaiveDate,
    /// Length of a transaction period in days (1 = same-day purchases are one transaction).
    pub period_days: u32,
    /// The input's fingerprint, as in feature files.
    pub fingerprint: String,
    /// Row counts.
    pub report: PurchaseReport,
}

/// Reads, validates and aggregates the input into purchase histories before `params.as_of` (the
/// day after the last transaction when `None`, as for the features).
///
/// Purchases in one period of `period_days` days are one transaction. Periods are aligned to Monday
/// 1970-01-05 (UTC), so `7` merges the purchases of a calendar week, Monday to Sunday, and `1` those
/// of a day. A malformed input is an [`Error`] naming the file, the line or row and the column, as
/// for the features.
pub fn purchase_history(input: &InputSpec, params: &FeatureParams, period_days: u32) -> Result<PurchaseHistory> {
    params.check()?;
    if period_days == 0 {
        return Err(Error::invalid("period_days", "must be at least 1"));
    }
    let files = crate::source::discover(&input.transactions)?;
    let (output, fingerprint) =
        crate::while_hashing(&files, || engine::run_purchases(input, params, &files, period_days))?;
    history(output, fingerprint, period_days)
}

/// The histories from the engine's per-customer rows, with the row report.
pub(crate) fn history(
    output: engine::PurchaseOutput,
    fingerprint: String,
    period_days: u32,
) -> Result<PurchaseHistory> {
    let as_of = crate::date_of(output.as_of_us)?;

    let mut report = PurchaseReport {
        rows_read: output.rows_read,
        ..PurchaseReport::default()
    };
    let mut customers = Vec::with_capacity(output.customers.len());
    let mut rows_kept_by_filter = 0;
    for row in output.customers {
        rows_kept_by_filter += row.rows_total;
        let Some(id) = row.customer_id.filter(|id| !crate::parse::is_missing_id(Some(id))) else {
            report.rows_missing_customer += row.rows_total;
            continue;
        };
        report.rows_on_or_after_as_of += row.rows_future;
        report.rows_returns += row.return_rows;
        report.rows_used += row.purchase_rows;
        report.rows_duplicate += row.rows_duplicate;
        if let (Some(first_day), Some(last_day), true) = (row.first_day, row.last_day, row.transactions > 0) {
            customers.push(CustomerPurchases {
                customer_id: id,
                first_day,
                last_day,
                transactions: row.transactions,
                first_value: row.first_cents as f64 / 100.0,
                total_value: row.total_cents as f64 / 100.0,
            });
        }
    }
    report.rows_filtered_out = report.rows_read.saturating_sub(rows_kept_by_filter);
    if customers.is_empty() {
        return Err(Error::NoTransactions { as_of });
    }
    customers.sort_unstable_by(|a, b| a.customer_id.cmp(&b.customer_id));
    report.customers = customers.len() as u64;
    Ok(PurchaseHistory {
        customers,
        as_of,
        period_days,
        fingerprint,
        report,
    })
}
