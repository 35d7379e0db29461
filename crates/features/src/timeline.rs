//! Each customer's compact timeline, in memory: what the engine's one read of the log leaves behind
//! (see `engine::compact_sql`), arranged so that any snapshot's aggregates, and any purchase history,
//! are one linear pass over it on the driver.
//!
//! An [`Entry`] is one group of rows of one customer with the same order, instant and kind (valid
//! or not, purchase, return), with their row, line and duplicate counts and their integer cents. A
//! customer's entries are sorted by order, so distinct orders are counted by watching the order
//! change: no hash set per customer, no `count(DISTINCT)`. Every aggregate is the same integer sum,
//! minimum or maximum the SQL computes over the raw rows, so the results are equal to the bit
//! (`tests/properties.rs` checks it on random logs).
//!
//! Written by hand rather than as a DataFusion query over an in-memory table because that query
//! (two hash aggregations over string keys per snapshot) took 4-5 s per snapshot on 3.7 million
//! groups, against tens of milliseconds for this pass.

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type, Int64Type};

use crate::engine::{CustomerAgg, PurchaseAgg, MICROS_PER_DAY};
use crate::error::{Error, Result};

/// The order of an entry without an order id: each of its purchase lines is an order of its own.
const NO_ORDER: u32 = u32::MAX;

const OK: u8 = 1;
const PURCHASE: u8 = 2;
const RETURN: u8 = 4;

/// One group of a customer's rows (see the module docs).
#[derive(Debug, Clone, Copy)]
struct Entry {
    /// The order's rank among the customer's orders (by id bytes), or [`NO_ORDER`].
    order: u32,
    /// [`OK`], [`PURCHASE`], [`RETURN`].
    flags: u8,
    /// The instant (meaningful when `OK`).
    ts_us: i64,
    /// Input rows.
    n: u64,
    /// Rows counted as used (`n`, or distinct lines when duplicates are dropped).
    m: u64,
    /// Rows repeating an earlier row exactly.
    dup: u64,
    cents: i64,
    abs_cents: f64,
}

impl Entry {
    fn ok(&self) -> bool {
        self.flags & OK != 0
    }
    fn purchase(&self) -> bool {
        self.flags & PURCHASE != 0
    }
    fn is_return(&self) -> bool {
        self.flags & RETURN != 0
    }
}

/// A placeholder entry for slots about to be filled.
const EMPTY: Entry = Entry {
    order: NO_ORDER,
    flags: 0,
    ts_us: 0,
    n: 0,
    m: 0,
    dup: 0,
    cents: 0,
    abs_cents: 0.0,
};

/// Every customer's entries, customers in id byte order.
pub(crate) struct Timelines {
    ids: Vec<Option<String>>,
    /// Customer `c` owns `entries[starts[c]..starts[c + 1]]`.
    starts: Vec<usize>,
    entries: Vec<Entry>,
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a arrow::array::ArrayRef> {
    batch
        .column_by_name(name)
        .ok_or_else(|| Error::Engine(format!("the compact log has no column {name}")))
}

fn ints(batch: &RecordBatch, name: &str) -> Result<arrow::array::ArrayRef> {
    arrow::compute::cast(column(batch, name)?, &DataType::Int64).map_err(|e| Error::Engine(e.to_string()))
}

fn texts(batch: &RecordBatch, name: &str) -> Result<arrow::array::ArrayRef> {
    arrow::compute::cast(column(batch, name)?, &DataType::Utf8).map_err(|e| Error::Engine(e.to_string()))
}

impl Timelines {
    /// Arranges the compact query's rows (`customer_id, order_id, ts_us, ok, purchase, ret, n, m,
    /// dup, cents, abs_cents`) by customer and order.
    pub(crate) fn build(batches: &[RecordBatch]) -> Result<Timelines> {
        // (customer index, order id, entry) per row, customers numbered as first seen.
        let mut ids: Vec<Option<String>> = Vec::new();
        let owned = batches
            .iter()
            .map(|batch| Ok((texts(batch, "customer_id")?, texts(batch, "order_id")?)))
            .collect::<Result<Vec<_>>>()?;
        // DataFusion's map (foldhash): a million short ids hash several times faster than with
        // the standard library's SipHash, and nothing here needs resistance to chosen keys.
        let mut index: datafusion::common::HashMap<Option<&str>, u32> = datafusion::common::HashMap::default();
        let total: usize = batches.iter().map(RecordBatch::num_rows).sum();
        let mut rows: Vec<(u32, u32, u32, Entry)> = Vec::with_capacity(total);
        for (b, batch) in batches.iter().enumerate() {
            let (ts, n, m, dup, cents) = (
                ints(batch, "ts_us")?,
                ints(batch, "n")?,
                ints(batch, "m")?,
                ints(batch, "dup")?,
                ints(batch, "cents")?,
            );
            let (ts, n, m, dup, cents) = (
                ts.as_primitive::<Int64Type>(),
                n.as_primitive::<Int64Type>(),
                m.as_primitive::<Int64Type>(),
                dup.as_primitive::<Int64Type>(),
                cents.as_primitive::<Int64Type>(),
            );
            let abs = arrow::compute::cast(column(batch, "abs_cents")?, &DataType::Float64)
                .map_err(|e| Error::Engine(e.to_string()))?;
            let abs = abs.as_primitive::<Float64Type>();
            let flag = |name: &str| -> Result<arrow::array::BooleanArray> {
                Ok(column(batch, name)?
                    .as_boolean_opt()
                    .ok_or_else(|| Error::Engine(format!("{name} is not a boolean column")))?
                    .clone())
            };
            let (ok, purchase, ret) = (flag("ok")?, flag("purchase")?, flag("ret")?);
            let int =
                |a: &arrow::array::PrimitiveArray<Int64Type>, i: usize| if a.is_valid(i) { a.value(i) } else { 0 };
            let set = |a: &arrow::array::BooleanArray, i: usize| a.is_valid(i) && a.value(i);
            let customers = owned[b].0.as_string::<i32>();
            for i in 0..batch.num_rows() {
                let id = customers.is_valid(i).then(|| customers.value(i));
                // The map borrows the id strings from `owned`, which outlives it.
                let next = ids.len() as u32;
                let c = *index.entry(id).or_insert(next);
                if c == next {
                    ids.push(id.map(str::to_string));
                }
                let flags = (u8::from(set(&ok, i)) * OK)
                    | (u8::from(set(&purchase, i)) * PURCHASE)
                    | (u8::from(set(&ret, i)) * RETURN);
                let entry = Entry {
                    order: NO_ORDER,
                    flags,
                    ts_us: int(ts, i),
                    n: u64::try_from(int(n, i)).unwrap_or(0),
                    m: u64::try_from(int(m, i)).unwrap_or(0),
                    dup: u64::try_from(int(dup, i)).unwrap_or(0),
                    cents: int(cents, i),
                    abs_cents: if abs.is_valid(i) { abs.value(i) } else { 0.0 },
                };
                rows.push((c, b as u32, i as u32, entry));
            }
        }
        drop(index);
        let order_of = |b: u32, i: u32| -> Option<&str> {
            let orders = owned[b as usize].1.as_string::<i32>();
            orders.is_valid(i as usize).then(|| orders.value(i as usize))
        };
        // Customers in id byte order (none first, as `Option`'s order has it), so every snapshot
        // comes out sorted and the features' own sort finds nothing to do.
        let mut by_id: Vec<u32> = (0..ids.len() as u32).collect();
        by_id.sort_unstable_by(|&a, &b| ids[a as usize].cmp(&ids[b as usize]));
        let mut rank_of = vec![0u32; ids.len()];
        for (rank, &c) in by_id.iter().enumerate() {
            rank_of[c as usize] = rank as u32;
        }
        // A counting sort by customer (linear), then each customer's few entries by order id bytes
        // (no order last) and instant: sorting all groups by strings at once took seconds.
        let mut starts = vec![0usize; ids.len() + 1];
        for row in &rows {
            starts[rank_of[row.0 as usize] as usize + 1] += 1;
        }
        for c in 0..ids.len() {
            starts[c + 1] += starts[c];
        }
        let mut next = starts.clone();
        let mut placed: Vec<(u32, u32, Entry)> = vec![(0, 0, EMPTY); rows.len()];
        for (c, b, i, entry) in rows {
            let slot = &mut next[rank_of[c as usize] as usize];
            placed[*slot] = (b, i, entry);
            *slot += 1;
        }
        let mut entries = Vec::with_capacity(placed.len());
        for c in 0..ids.len() {
            let group = &mut placed[starts[c]..starts[c + 1]];
            group.sort_unstable_by(|x, y| {
                match (order_of(x.0, x.1), order_of(y.0, y.1)) {
                    (Some(a), Some(b)) => a.as_bytes().cmp(b.as_bytes()),
                    (Some(_), None) => std::cmp::Ordering::Less,
                    (None, Some(_)) => std::cmp::Ordering::Greater,
                    (None, None) => std::cmp::Ordering::Equal,
                }
                .then(x.2.ts_us.cmp(&y.2.ts_us))
            });
            let mut rank = 0u32;
            for (k, &(b, i, mut entry)) in group.iter().enumerate() {
                let order = order_of(b, i);
                if k > 0 && order_of(group[k - 1].0, group[k - 1].1) != order {
                    rank += 1;
                }
                entry.order = if order.is_some() { rank } else { NO_ORDER };
                entries.push(entry);
            }
        }
        let ids = by_id.into_iter().map(|c| ids[c as usize].take()).collect();
        Ok(Timelines { ids, starts, entries })
    }

    /// Compact groups held.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Every customer id, once each.
    pub(crate) fn ids(&self) -> impl Iterator<Item = Option<&str>> {
        self.ids.iter().map(Option::as_deref)
    }

    /// Input rows whose timestamp or amount is invalid.
    pub(crate) fn invalid_rows(&self) -> u64 {
        self.entries.iter().filter(|e| !e.ok()).map(|e| e.n).sum()
    }

    /// The last valid instant.
    pub(crate) fn last_valid_us(&self) -> Option<i64> {
        self.entries.iter().filter(|e| e.ok()).map(|e| e.ts_us).max()
    }

    fn customer(&self, c: usize) -> &[Entry] {
        &self.entries[self.starts[c]..self.starts[c + 1]]
    }

    /// Every customer's aggregates as of `as_of_us`, as `engine::feature_sql` defines them.
    pub(crate) fn snapshot(&self, as_of_us: i64) -> Vec<CustomerAgg> {
        let since = |days: i64| as_of_us - days * MICROS_PER_DAY;
        let (s30, s90, s365) = (since(30), since(90), since(365));
        let mut out = Vec::with_capacity(self.ids.len());
        for (c, id) in self.ids.iter().enumerate() {
            let mut agg = CustomerAgg {
                customer_id: id.clone(),
                ..CustomerAgg::default()
            };
            // The current order's purchase lines (before S, and in the last 90 days).
            let mut order: Option<u32> = None;
            let (mut lines, mut lines_90d) = (0u64, 0u64);
            let close = |agg: &mut CustomerAgg, order: Option<u32>, lines: u64, lines_90d: u64| match order {
                Some(NO_ORDER) => {
                    agg.frequency += lines as i64;
                    agg.orders_90d += lines_90d as i64;
                }
                Some(_) => {
                    agg.frequency += i64::from(lines > 0);
                    agg.orders_90d += i64::from(lines_90d > 0);
                }
                None => {}
            };
            for e in self.customer(c) {
                if order != Some(e.order) {
                    close(&mut agg, order, lines, lines_90d);
                    (order, lines, lines_90d) = (Some(e.order), 0, 0);
                }
                agg.rows_total += e.n;
                if !e.ok() {
                    agg.rows_invalid += e.n;
                    continue;
                }
                if e.ts_us >= as_of_us {
                    agg.rows_future += e.n;
                    continue;
                }
                agg.rows_duplicate += e.dup;
                agg.rows_before += e.m;
                agg.net_cents = agg.net_cents.wrapping_add(e.cents);
                agg.abs_cents += e.abs_cents;
                if e.purchase() {
                    agg.purchase_cents = agg.purchase_cents.wrapping_add(e.cents);
                    agg.first_purchase_us = Some(agg.first_purchase_us.map_or(e.ts_us, |t| t.min(e.ts_us)));
                    agg.last_purchase_us = Some(agg.last_purchase_us.map_or(e.ts_us, |t| t.max(e.ts_us)));
                    lines += e.m;
                    if e.ts_us >= s90 {
                        lines_90d += e.m;
                    }
                }
                if e.is_return() {
                    agg.return_cents = agg.return_cents.wrapping_add(e.cents);
                }
                if e.ts_us >= s30 {
                    agg.spend_30d_cents = agg.spend_30d_cents.wrapping_add(e.cents);
                }
                if e.ts_us >= s90 {
                    agg.spend_90d_cents = agg.spend_90d_cents.wrapping_add(e.cents);
                }
                if e.ts_us >= s365 {
                    agg.spend_365d_cents = agg.spend_365d_cents.wrapping_add(e.cents);
                }
            }
            close(&mut agg, order, lines, lines_90d);
            out.push(agg);
        }
        out
    }

    /// Every customer's purchase periods as of `as_of_us`, as `engine::purchase_sql` defines them:
    /// a purchase is a valid row that is not a return; periods are `period_days` long and aligned to
    /// Monday 1970-01-05.
    pub(crate) fn purchases(&self, as_of_us: i64, period_days: u32) -> Vec<PurchaseAgg> {
        let period_days = i64::from(period_days.max(1));
        let mut out = Vec::with_capacity(self.ids.len());
        // (period, first day, cents) of the customer's purchase entries, reused.
        let mut periods: Vec<(i64, i64, i64)> = Vec::new();
        for (c, id) in self.ids.iter().enumerate() {
            let mut agg = PurchaseAgg {
                customer_id: id.clone(),
                rows_total: 0,
                rows_future: 0,
                rows_duplicate: 0,
                purchase_rows: 0,
                return_rows: 0,
                transactions: 0,
                first_day: None,
                last_day: None,
                first_cents: 0,
                total_cents: 0,
            };
            periods.clear();
            for e in self.customer(c) {
                agg.rows_total += e.n;
                if !e.ok() {
                    continue;
                }
                if e.ts_us >= as_of_us {
                    agg.rows_future += e.n;
                    continue;
                }
                agg.rows_duplicate += e.dup;
                if e.is_return() {
                    agg.return_rows += e.m;
                    continue;
                }
                agg.purchase_rows += e.m;
                let day = e.ts_us.div_euclid(MICROS_PER_DAY);
                periods.push(((day + 3).div_euclid(period_days), day, e.cents));
            }
            periods.sort_unstable();
            let mut i = 0;
            while i < periods.len() {
                let (period, first_day, _) = periods[i];
                let mut cents: i64 = 0;
                while i < periods.len() && periods[i].0 == period {
                    cents = cents.wrapping_add(periods[i].2);
                    i += 1;
                }
                if agg.transactions == 0 {
                    agg.first_day = Some(first_day);
                    agg.first_cents = cents;
                }
                agg.transactions += 1;
                agg.last_day = Some(first_day);
                agg.total_cents = agg.total_cents.wrapping_add(cents);
            }
            out.push(agg);
        }
        out
    }
}
