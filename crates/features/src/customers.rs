//! The customers table beside the transactions: signup dates start tenure, and the two are
//! checked against each other (customers with transactions but no row, rows with no purchase).
//!
//! The rules, as the README's data rules table states them:
//! - one row per customer (a repeated id is an error naming both lines), ids compared byte for byte;
//! - the signup column (`input.signup_column`, else `signup_date` when the table has one) is read
//!   as the transactions' timestamps are: in a CSV table, ISO 8601 or `input.timestamp_format`, naive
//!   ones in `input.timezone`; in a Parquet table, its dates and timestamps; an unreadable value or
//!   one before `input.min_date` is an error at its line and column;
//! - tenure starts at the earlier of the signup and the first purchase (the spec's rule). A signup
//!   later than the first purchase (a CRM that created the record after the first order) leaves
//!   tenure at the first purchase and is counted; a signup on or after the as-of date is not yet
//!   known at the snapshot, is not used, and is counted.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use crate::error::{Error, Result};
use crate::parse::{before_min_date, TimestampParser};
use crate::tables::read_customer_rows;

/// The column a customers table's signup dates are read from when `input.signup_column` is unset.
pub const DEFAULT_SIGNUP_COLUMN: &str = "signup_date";

/// A customers table, read and checked once per run.
#[derive(Debug)]
pub(crate) struct Customers {
    path: PathBuf,
    /// The signup column, when the table has one.
    signup_column: Option<String>,
    /// Each customer's signup instant in UTC microseconds (`None`: an empty cell, or no column).
    signups: HashMap<String, Option<i64>>,
}

impl Customers {
    /// Reads `path`. `signup_column` names the signup column (an error if the table lacks it);
    /// `None` uses [`DEFAULT_SIGNUP_COLUMN`] when present.
    pub(crate) fn read(
        path: &Path,
        signup_column: Option<&str>,
        parser: &TimestampParser,
        min_date: NaiveDate,
    ) -> Result<Customers> {
        let rows = read_customer_rows(path)?;
        // Parquet dates and timestamps arrive as Arrow's ISO 8601 text, whatever format the
        // transactions' text uses.
        let iso = TimestampParser {
            timezone: parser.timezone,
            format: None,
        };
        let parser = if rows.parquet { &iso } else { parser };
        let column = match signup_column {
            Some(name) => Some(
                rows.names
                    .iter()
                    .position(|n| n == name)
                    .ok_or_else(|| Error::BadFile {
                        path: path.to_path_buf(),
                        reason: format!(
                            "input.signup_column = {name:?}, but the customers table has no such column (columns \
                     found: customer_id, {})",
                            rows.names.join(", ")
                        ),
                    })?,
            ),
            None => rows.names.iter().position(|n| n == DEFAULT_SIGNUP_COLUMN),
        };
        let min_us = min_date.and_time(chrono::NaiveTime::MIN).and_utc().timestamp_micros();
        let mut signups = HashMap::with_capacity(rows.ids.len());
        for (row, id) in rows.ids.into_iter().enumerate() {
            let signup = match column {
                None => None,
                Some(c) => match &rows.columns[c][row] {
                    None => None,
                    Some(text) => {
                        let bad = |reason: String| Error::BadValue {
                            path: path.to_path_buf(),
                            location: rows.locations[row],
                            column: rows.names[c].clone(),
                            reason,
                        };
                        let us = parser.parse_micros(text.trim()).map_err(bad)?;
                        if us < min_us {
                            return Err(bad(before_min_date(us, min_date).replacen("timestamp", "signup", 1)));
                        }
                        Some(us)
                    }
                },
            };
            signups.insert(id, signup);
        }
        Ok(Customers {
            path: path.to_path_buf(),
            signup_column: column.map(|c| rows.names[c].clone()),
            signups,
        })
    }

    /// A customer's row: `None` without one, else its signup instant (if it has one).
    pub(crate) fn signup(&self, id: &str) -> Option<Option<i64>> {
        self.signups.get(id).copied()
    }

    /// An empty report for one snapshot, to be counted into.
    pub(crate) fn report(&self) -> CustomersReport {
        CustomersReport {
            path: self.path.display().to_string(),
            signup_column: self.signup_column.clone(),
            rows: self.signups.len() as u64,
            ..CustomersReport::default()
        }
    }
}

/// What a snapshot made of the customers table; every customer of the snapshot is in exactly one of
/// `customers_without_row`, `signups_missing`, `signups_used`, `signups_after_first_purchase` and
/// `signups_on_or_after_as_of`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CustomersReport {
    /// The customers table.
    pub path: String,
    /// The column signups were read from; `None` when the table has none.
    pub signup_column: Option<String>,
    /// Rows in the table (one per customer).
    pub rows: u64,
    /// Customers of the snapshot (they bought before the as-of date) with no row in the table.
    pub customers_without_row: u64,
    /// Rows of the table whose customer is not in the snapshot: no purchase before the as-of date.
    pub rows_without_purchase: u64,
    /// Customers of the snapshot whose row has no signup date: tenure from the first purchase.
    pub signups_missing: u64,
    /// Signups on or before the first purchase: tenure starts at the signup.
    pub signups_used: u64,
    /// Signups after the first purchase: tenure starts at the first purchase, the earlier of the two.
    pub signups_after_first_purchase: u64,
    /// Signups on or after the as-of date: not known at the snapshot, so not used.
    pub signups_on_or_after_as_of: u64,
}

impl CustomersReport {
    /// Counts one customer of the snapshot, whose first purchase was at `first` (UTC microseconds),
    /// and returns when its tenure starts.
    pub(crate) fn tenure_start(&mut self, customers: &Customers, id: &str, first: i64, as_of: i64) -> i64 {
        match customers.signup(id) {
            None => {
                self.customers_without_row += 1;
                first
            }
            Some(None) => {
                self.signups_missing += 1;
                first
            }
            Some(Some(signup)) if signup >= as_of => {
                self.signups_on_or_after_as_of += 1;
                first
            }
            Some(Some(signup)) if signup > first => {
                self.signups_after_first_purchase += 1;
                first
            }
            Some(Some(signup)) => {
                self.signups_used += 1;
                signup
            }
        }
    }

    /// Snapshot customers that have a row.
    pub(crate) fn finish(&mut self) {
        let matched = self.signups_missing
            + self.signups_used
            + self.signups_after_first_purchase
            + self.signups_on_or_after_as_of;
        self.rows_without_purchase = self.rows.saturating_sub(matched);
    }
}
