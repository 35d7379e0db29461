//! Each customer's compact timeline, in memory: what the engine's one read of the log leaves behind
//! (see `engine::compact_sql`), arranged so that any snapshot's aggregates, and any purchase history,
//! are one linear pass over it on the driver.
//!
//! An [`Entry`] is one group of rows of one customer with the same order, instant and kind (valid
//! or not, purchase, return), with their row and duplicate counts and their integer cents. A
//! customer's entries are sorted by order, so distinct orders are counted by watching the order
//! change: no hash set per customer, no `count(DISTINCT)`. Every aggregate is the same integer sum,
//! minimum or maximum the SQL computes over the raw rows, so the results are equal to the bit
//! (`tests/properties.rs` checks it on random logs).
//!
//! Written by hand rather than as a DataFusion query over an in-memory table because that query
//! (two hash aggregations over string keys per snapshot) took 4-5 s per snapshot on 3.7 million
//! groups, against tens of milliseconds for this pass.
//!
//! **Memory.** The entries are the run's one structure that grows with the log (one per order, in
//! effect), so they are kept small: 56 bytes, the order as its 128-bit key hash rather than its
//! text, the used-row count derived rather than stored. The engine hands them over already
//! grouped and sorted per customer (`churn_timeline`, see [`crate::gather`]); [`TimelineBuilder`]
//! decodes them batch by batch and puts the customers in id order by their bounds, so the driver
//! never holds the engine's output and the entries at once, nor two copies of the entries. They
//! are stored in blocks of a few million ([`EntryBlocks`]), not in one vector grown by doubling:
//! at a hundred million rows the last doubling copied 1.9 GB into a new 3.8 GB allocation while the
//! engine still held its own gigabyte, and the run's peak memory was that copy.

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::DataType;
use rayon::slice::ParallelSliceMut as _;

use crate::engine::{CustomerAgg, PurchaseAgg, MICROS_PER_DAY};
use crate::error::{Error, Result};

pub(crate) const OK: u8 = 1;
pub(crate) const PURCHASE: u8 = 2;
pub(crate) const RETURN: u8 = 4;
/// The rows have no order id: each of their purchase lines is an order of its own.
pub(crate) const NO_ORDER: u8 = 8;
/// The group's cents overflowed an integer sum; `cents` then holds the bits of its absolute cents
/// as a float, for the error that any snapshot counting the group must raise.
pub(crate) const OVERFLOW: u8 = 16;

/// Bytes of an encoded [`Entry`]: order 16, instant 8, rows 8, duplicates 8, cents 8, flags 1.
pub(crate) const ENTRY_BYTES: usize = 49;

/// One group of a customer's rows (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry {
    /// The order's key hash (zero without an order).
    pub(crate) order: [u64; 2],
    /// The instant (meaningful when `OK`).
    pub(crate) ts_us: i64,
    /// Input rows.
    pub(crate) n: u64,
    /// Rows repeating an earlier row exactly.
    pub(crate) dup: u64,
    pub(crate) cents: i64,
    /// [`OK`], [`PURCHASE`], [`RETURN`], [`NO_ORDER`], [`OVERFLOW`].
    pub(crate) flags: u8,
}

impl Entry {
    /// Appends the entry's [`ENTRY_BYTES`] bytes (how `churn_timeline` hands entries to the driver).
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        for word in [
            self.order[0],
            self.order[1],
            self.ts_us as u64,
            self.n,
            self.dup,
            self.cents as u64,
        ] {
            out.extend_from_slice(&word.to_le_bytes());
        }
        out.push(self.flags);
    }

    /// The entry of [`ENTRY_BYTES`] bytes written by [`Entry::encode`].
    pub(crate) fn decode(bytes: &[u8]) -> Entry {
        let word = |i: usize| u64::from_le_bytes(bytes[i..i + 8].try_into().expect("8 bytes of an entry"));
        Entry {
            order: [word(0), word(8)],
            ts_us: word(16) as i64,
            n: word(24),
            dup: word(32),
            cents: word(40) as i64,
            flags: bytes[48],
        }
    }

    fn ok(&self) -> bool {
        self.flags & OK != 0
    }
    fn purchase(&self) -> bool {
        self.flags & PURCHASE != 0
    }
    fn is_return(&self) -> bool {
        self.flags & RETURN != 0
    }
    fn no_order(&self) -> bool {
        self.flags & NO_ORDER != 0
    }
    /// The order, as far as counting distinct orders goes.
    fn order_key(&self) -> (bool, [u64; 2]) {
        (self.no_order(), self.order)
    }
    /// The group's absolute cents, as the float bound on the customer's sums.
    fn abs_cents(&self) -> f64 {
        if self.flags & OVERFLOW != 0 {
            f64::from_bits(self.cents as u64)
        } else {
            self.cents.unsigned_abs() as f64
        }
    }
}

/// A 16-byte key hash (`churn_key_hash`) as two little-endian words: a `u128` would align each
/// entry to 64 bytes.
pub(crate) fn key_words(hash: &[u8]) -> [u64; 2] {
    let (low, high) = hash.split_at(hash.len().min(8));
    let word = |b: &[u8]| b.try_into().map_or(0, u64::from_le_bytes);
    [word(low), word(high)]
}

/// Each customer's purchases in a window (see [`Timelines::window`]), customers in id byte order.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Window {
    pub(crate) ids: Vec<String>,
    pub(crate) orders: Vec<u64>,
    pub(crate) net_cents: Vec<i64>,
    /// The instant of the customer's first purchase row in the window.
    pub(crate) first_purchase_us: Vec<Option<i64>>,
    /// The log's first valid instant, whatever the window.
    pub(crate) first_valid_us: Option<i64>,
}

/// Every customer's entries, customers in id byte order.
pub(crate) struct Timelines {
    ids: Vec<Option<String>>,
    /// Customer `c` owns `entries.get(spans[c])`. Customers come from the engine in no
    /// particular order; they are put in id order by these bounds rather than by moving the
    /// entries, which would need a second copy of them (gigabytes at a hundred million rows).
    spans: Vec<Span>,
    entries: EntryBlocks,
    /// Duplicates are dropped: a group's used rows are `n - dup` rather than `n`.
    drop_duplicates: bool,
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a arrow::array::ArrayRef> {
    batch
        .column_by_name(name)
        .ok_or_else(|| Error::Engine(format!("the compact log has no column {name}")))
}

/// Collects the compact query's rows (`customer_id, timeline`: each customer once, with their
/// entries as `churn_timeline` encodes them, already sorted by order and instant) batch by batch,
/// then puts the customers in id order.
pub(crate) struct TimelineBuilder {
    drop_duplicates: bool,
    ids: Vec<Option<String>>,
    spans: Vec<Span>,
    entries: EntryBlocks,
}

/// Where a customer's entries lie: a block of [`EntryBlocks`] and a range in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    block: usize,
    start: usize,
    end: usize,
}

/// Entries in blocks, each customer's entries within one block. A block is allocated at its full
/// size and filled in place, and a full one is followed by a new one, twice as large up to
/// [`EntryBlocks::MAX_BLOCK`] (or one customer's entries, when more): nothing is ever copied to
/// grow, and small logs take small blocks.
#[derive(Debug, Default)]
struct EntryBlocks {
    blocks: Vec<Vec<Entry>>,
    len: usize,
}

impl EntryBlocks {
    const FIRST_BLOCK: usize = 1 << 12;
    /// 224 MiB of entries.
    const MAX_BLOCK: usize = 1 << 22;

    /// Appends one customer's entries, kept together, and says where they lie.
    fn push_customer(&mut self, entries: impl ExactSizeIterator<Item = Entry>) -> Span {
        let n = entries.len();
        let last = self.blocks.last().map_or(0, Vec::capacity);
        let fits = self.blocks.last().is_some_and(|b| b.capacity() - b.len() >= n);
        if !fits {
            let size = (2 * last).clamp(Self::FIRST_BLOCK, Self::MAX_BLOCK);
            self.blocks.push(Vec::with_capacity(size.max(n)));
        }
        let block = self.blocks.len() - 1;
        let entries_of_block = &mut self.blocks[block];
        let start = entries_of_block.len();
        entries_of_block.extend(entries);
        self.len += n;
        Span {
            block,
            start,
            end: entries_of_block.len(),
        }
    }

    fn get(&self, span: Span) -> &[Entry] {
        &self.blocks[span.block][span.start..span.end]
    }

    fn len(&self) -> usize {
        self.len
    }

    fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.blocks.iter().flatten()
    }
}

impl TimelineBuilder {
    pub(crate) fn new(drop_duplicates: bool) -> Self {
        TimelineBuilder {
            drop_duplicates,
            ids: Vec::new(),
            spans: Vec::new(),
            entries: EntryBlocks::default(),
        }
    }

    /// Takes one batch of the compact query's rows.
    pub(crate) fn push(&mut self, batch: &RecordBatch) -> Result<()> {
        let customers = arrow::compute::cast(column(batch, "customer_id")?, &DataType::Utf8)
            .map_err(|e| Error::Engine(e.to_string()))?;
        let customers = customers.as_string::<i32>();
        let timelines = column(batch, "timeline")?
            .as_binary_opt::<i64>()
            .ok_or_else(|| Error::Engine("timeline is not a column of bytes".into()))?;
        for i in 0..batch.num_rows() {
            let bytes = timelines.value(i);
            if bytes.len() % ENTRY_BYTES != 0 {
                return Err(Error::Engine(format!(
                    "a timeline of {} bytes is not a whole number of {ENTRY_BYTES}-byte entries",
                    bytes.len()
                )));
            }
            let span = self
                .entries
                .push_customer(bytes.chunks_exact(ENTRY_BYTES).map(Entry::decode));
            self.ids
                .push(customers.is_valid(i).then(|| customers.value(i).to_string()));
            self.spans.push(span);
        }
        Ok(())
    }

    /// Puts the customers in id byte order (none first, as `Option`'s order has it), so every
    /// snapshot comes out sorted and the features' own sort finds nothing to do.
    pub(crate) fn finish(self) -> Result<Timelines> {
        let TimelineBuilder {
            drop_duplicates,
            mut ids,
            spans,
            entries,
        } = self;
        let mut by_id: Vec<u32> = (0..ids.len() as u32).collect();
        // On every core: a million customers' ids compared through an index were a tenth of a
        // second on one core while the other waited. Ids are unique (checked next), so the
        // unstable sort has one result, on any number of threads.
        by_id.par_sort_unstable_by(|&a, &b| ids[a as usize].cmp(&ids[b as usize]));
        if let Some(pair) = by_id.windows(2).find(|w| ids[w[0] as usize] == ids[w[1] as usize]) {
            return Err(Error::Engine(format!(
                "the compact read gave customer {:?} twice",
                ids[pair[0] as usize]
            )));
        }
        let spans = by_id.iter().map(|&c| spans[c as usize]).collect();
        let ids = by_id.into_iter().map(|c| ids[c as usize].take()).collect();
        Ok(Timelines {
            ids,
            spans,
            entries,
            drop_duplicates,
        })
    }
}

impl Timelines {
    /// Compact groups held.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Every customer id, once each.
    pub(crate) fn ids(&self) -> impl Iterator<Item = Option<&str>> {
        self.ids.iter().map(Option::as_deref)
    }

    /// Orders that appear under more than one customer anywhere in the log (customers without an
    /// id aside): how many, and the keys of the first `keep` found.
    ///
    /// One map of every order would cost about a gigabyte at a hundred million rows, on top of the
    /// timelines, and passes over shares of the orders cost a scan of the timelines each (seven
    /// seconds at that size). So a first scan marks, in a bit set of four to eight slots per order,
    /// the slots that two (customer, order) pairs fall in: a shared order always does, and the
    /// others by chance (a sixth of them at 10.6 million rows: 630,000 of 3.7 million). A second
    /// scan gathers just those candidates, and one exact map of full keys takes them in id order.
    /// The result is exact. Both scans run on every core. Measured: 0.09 s at 10.6 million rows
    /// (0.12 s on one core); 1.1 s at 97 million (34 million groups; 1.8 s on one core), with 64 MB
    /// of marks, where the scans wait on memory. Eight slots per order instead of four halve the
    /// candidates but were slower (the marks no longer stay in cache).
    pub(crate) fn shared_orders(&self, keep: usize) -> (u64, Vec<[u64; 2]>) {
        let bits = (self.entries.len().max(1) * 4)
            .next_power_of_two()
            .clamp(1 << 12, 1 << 32);
        self.shared_orders_with(keep, bits)
    }

    /// [`Timelines::shared_orders`] with bit sets of `bits` slots (a power of two).
    fn shared_orders_with(&self, keep: usize, bits: usize) -> (u64, Vec<[u64; 2]>) {
        use datafusion::common::hash_map::Entry as Slot;
        use rayon::iter::{IndexedParallelIterator as _, IntoParallelIterator as _, ParallelIterator as _};
        use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
        /// The owner of an order already counted as shared.
        const SHARED: u32 = u32::MAX;
        /// Customers per piece of work on a core.
        const CUSTOMERS_PER_TASK: usize = 1 << 12;
        let mask = bits as u64 - 1;
        // Customer `c`'s distinct orders: entries are sorted by order within a customer.
        let orders_of = |c: usize| {
            let entries = self.customer(c);
            entries.iter().enumerate().filter_map(move |(i, e)| {
                let first = i == 0 || entries[i - 1].order_key() != e.order_key();
                (first && !e.no_order()).then_some(e.order)
            })
        };
        let with_id = |c: &usize| self.ids[*c].is_some();
        let slot = |order: &[u64; 2]| ((order[0] & mask) / 64) as usize;
        let bit = |order: &[u64; 2]| 1u64 << (order[0] & 63);
        // Both scans run on every core (they wait on memory; see above). `[seen, again]` side by
        // side: one cache line per slot, as the slots are hit at random. A bit is only ever set,
        // so the marks do not depend on the order the customers are taken in.
        let marks: Vec<[AtomicU64; 2]> = std::iter::repeat_with(Default::default).take(bits / 64).collect();
        (0..self.ids.len())
            .into_par_iter()
            .with_min_len(CUSTOMERS_PER_TASK)
            .filter(with_id)
            .for_each(|c| {
                for order in orders_of(c) {
                    let (m, b) = (&marks[slot(&order)], bit(&order));
                    if m[0].fetch_or(b, Relaxed) & b != 0 {
                        m[1].fetch_or(b, Relaxed);
                    }
                }
            });
        // The candidates in id order (rayon's `collect` keeps the customers' order), so the exact
        // map below meets them as one scan in id order did, and keeps the same first `keep`.
        let again = |order: &[u64; 2]| marks[slot(order)][1].load(Relaxed) & bit(order) != 0;
        let candidates: Vec<(u32, [u64; 2])> = (0..self.ids.len())
            .into_par_iter()
            .with_min_len(CUSTOMERS_PER_TASK)
            .filter(with_id)
            .flat_map_iter(|c| orders_of(c).filter(again).map(move |order| (c as u32, order)))
            .collect();
        drop(marks);
        let (mut count, mut sample) = (0u64, Vec::new());
        let mut owner: datafusion::common::HashMap<[u64; 2], u32> = Default::default();
        for (c, order) in candidates {
            match owner.entry(order) {
                Slot::Vacant(slot) => {
                    slot.insert(c);
                }
                Slot::Occupied(mut slot) => {
                    let first = *slot.get();
                    if first != SHARED && first != c {
                        count += 1;
                        if sample.len() < keep {
                            sample.push(order);
                        }
                        slot.insert(SHARED);
                    }
                }
            }
        }
        (count, sample)
    }

    /// Input rows whose timestamp or amount is invalid.
    /// Every input row that passed the row filter.
    pub(crate) fn rows(&self) -> u64 {
        self.entries.iter().map(|e| e.n).sum()
    }

    pub(crate) fn invalid_rows(&self) -> u64 {
        self.entries.iter().filter(|e| !e.ok()).map(|e| e.n).sum()
    }

    /// The last valid instant.
    pub(crate) fn last_valid_us(&self) -> Option<i64> {
        self.entries.iter().filter(|e| e.ok()).map(|e| e.ts_us).max()
    }

    /// The group's rows counted as used: all of them, or the distinct ones when duplicates are
    /// dropped.
    fn used(&self, e: &Entry) -> u64 {
        if self.drop_duplicates {
            e.n.saturating_sub(e.dup)
        } else {
            e.n
        }
    }

    fn customer(&self, c: usize) -> &[Entry] {
        self.entries.get(self.spans[c])
    }

    /// Every customer's aggregates as of `as_of_us`, as `engine::feature_sql` defines them, one
    /// customer at a time in id order (`Option<String>`'s order, the order the feature table is
    /// sorted in). Handed over one by one rather than as a vector: a million customers' aggregates
    /// were 200 MB per snapshot, two snapshots are made at once, and the run's memory peaked there.
    pub(crate) fn snapshot(&self, as_of_us: i64) -> Snapshot<'_> {
        let since = |days: i64| as_of_us - days * MICROS_PER_DAY;
        Snapshot {
            timelines: self,
            as_of_us,
            since: [since(30), since(90), since(180), since(365)],
            next: 0,
            days: Vec::new(),
        }
    }

    /// Every customer's purchases in `[from_us, to_us)`: distinct orders with a purchase line there
    /// (a line without an order is an order of its own, as for `frequency`), and the net cents of
    /// every valid row there (purchases and returns, duplicates as the snapshots count them).
    /// Customers without an id are left out. An overflowing group in the window is an error, as in
    /// a snapshot.
    pub(crate) fn window(&self, from_us: i64, to_us: i64) -> Result<Window> {
        let mut out = Window::default();
        for (c, id) in self.ids.iter().enumerate() {
            let Some(id) = id else { continue };
            let (mut orders, mut cents) = (0u64, 0i64);
            let mut first: Option<i64> = None;
            let mut last: Option<(bool, [u64; 2])> = None;
            for e in self.customer(c) {
                if !e.ok() || e.ts_us < from_us || e.ts_us >= to_us {
                    continue;
                }
                if e.flags & OVERFLOW != 0 {
                    return Err(Error::Engine(format!(
                        "customer {id} has amounts in the window whose sum overflows"
                    )));
                }
                cents = cents.checked_add(e.cents).ok_or_else(|| {
                    Error::Engine(format!("customer {id} has amounts in the window whose sum overflows"))
                })?;
                if e.purchase() {
                    first = Some(first.map_or(e.ts_us, |t| t.min(e.ts_us)));
                    // Entries are sorted by order: a new order starts where the key changes; lines
                    // without an order each count.
                    if e.no_order() {
                        orders += self.used(e);
                    } else if last != Some(e.order_key()) {
                        orders += 1;
                    }
                    last = Some(e.order_key());
                }
            }
            out.ids.push(id.clone());
            out.orders.push(orders);
            out.net_cents.push(cents);
            out.first_purchase_us.push(first);
        }
        out.first_valid_us = self.entries.iter().filter(|e| e.ok()).map(|e| e.ts_us).min();
        Ok(out)
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
                    agg.return_rows += self.used(e);
                    continue;
                }
                agg.purchase_rows += self.used(e);
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

/// One snapshot's aggregates, customer by customer: see [`Timelines::snapshot`].
pub(crate) struct Snapshot<'a> {
    timelines: &'a Timelines,
    as_of_us: i64,
    /// The starts of the windows: 30, 90, 180 and 365 days before `as_of_us`.
    since: [i64; 4],
    /// The next customer.
    next: usize,
    /// The customer's purchase days, reused.
    days: Vec<i64>,
}

impl Iterator for Snapshot<'_> {
    type Item = CustomerAgg;

    fn next(&mut self) -> Option<CustomerAgg> {
        let (t, c, as_of_us) = (self.timelines, self.next, self.as_of_us);
        let id = t.ids.get(c)?;
        self.next += 1;
        let [s30, s90, s180, s365] = self.since;
        let days = &mut self.days;
        let mut agg = CustomerAgg {
            customer_id: id.clone(),
            ..CustomerAgg::default()
        };
        // The current order's purchase lines before S: all, in the last 90 days, in the 90
        // days before those.
        let mut order: Option<(bool, [u64; 2])> = None;
        let mut lines = [0u64; 3];
        let close = |agg: &mut CustomerAgg, order: Option<(bool, [u64; 2])>, lines: [u64; 3]| {
            // Without an order id every purchase line is an order; with one, the order counts once.
            let count = |n: u64| match order {
                Some((true, _)) => n as i64,
                Some((false, _)) => i64::from(n > 0),
                None => 0,
            };
            agg.frequency += count(lines[0]);
            agg.orders_90d += count(lines[1]);
            agg.orders_prev_90d += count(lines[2]);
        };
        days.clear();
        for e in t.customer(c) {
            if order != Some(e.order_key()) {
                close(&mut agg, order, lines);
                (order, lines) = (Some(e.order_key()), [0; 3]);
            }
            let m = t.used(e);
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
            agg.rows_before += m;
            agg.net_cents = agg.net_cents.wrapping_add(e.cents);
            agg.abs_cents += e.abs_cents();
            if e.purchase() {
                agg.purchase_cents = agg.purchase_cents.wrapping_add(e.cents);
                agg.first_purchase_us = Some(agg.first_purchase_us.map_or(e.ts_us, |t| t.min(e.ts_us)));
                agg.last_purchase_us = Some(agg.last_purchase_us.map_or(e.ts_us, |t| t.max(e.ts_us)));
                lines[0] += m;
                if e.ts_us >= s90 {
                    lines[1] += m;
                } else if e.ts_us >= s180 {
                    lines[2] += m;
                }
                days.push(e.ts_us.div_euclid(MICROS_PER_DAY));
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
            if e.ts_us >= s180 && e.ts_us < s90 {
                agg.spend_prev_90d_cents = agg.spend_prev_90d_cents.wrapping_add(e.cents);
            }
        }
        close(&mut agg, order, lines);
        agg.typical_gap_days = typical_gap(days);
        Some(agg)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.timelines.ids.len() - self.next;
        (left, Some(left))
    }
}

/// The median gap in days between consecutive distinct days of `days` (sorted and deduplicated in
/// place), as the SQL reference's `median` computes it: the middle gap, or the mean of the two
/// middle ones; none with fewer than two distinct days.
fn typical_gap(days: &mut Vec<i64>) -> Option<f64> {
    days.sort_unstable();
    days.dedup();
    if days.len() < 2 {
        return None;
    }
    // The gaps, in place of the days (no allocation per customer).
    for i in 0..days.len() - 1 {
        days[i] = days[i + 1] - days[i];
    }
    days.pop();
    days.sort_unstable();
    let mid = days.len() / 2;
    Some(if days.len() % 2 == 1 {
        days[mid] as f64
    } else {
        (days[mid - 1] as f64 + days[mid] as f64) / 2.0
    })
}

#[cfg(test)]
mod tests {
    use rand::{Rng as _, SeedableRng as _};
    use rand_chacha::ChaCha8Rng;

    use super::*;

    fn entry(order: Option<u64>) -> Entry {
        Entry {
            // The low word spreads the orders over the passes; the high word makes them distinct.
            order: order.map_or([0, 0], |o| [o.wrapping_mul(0x9E37_79B9_7F4A_7C15), o]),
            ts_us: 0,
            n: 1,
            dup: 0,
            cents: 100,
            flags: OK | PURCHASE | if order.is_none() { NO_ORDER } else { 0 },
        }
    }

    /// Customers a, b, c and one without an id; each customer's entries in order.
    fn timelines(per_customer: [Vec<Option<u64>>; 4]) -> Timelines {
        let mut entries = EntryBlocks::default();
        let spans = per_customer
            .iter()
            .map(|orders| entries.push_customer(orders.iter().map(|&o| entry(o))))
            .collect();
        Timelines {
            ids: vec![Some("a".into()), Some("b".into()), Some("c".into()), None],
            spans,
            entries,
            drop_duplicates: false,
        }
    }

    /// Customers of every size, across block edges and larger than a block: each reads back as
    /// pushed, whole, and the blocks hold them in order.
    #[test]
    fn entry_blocks_keep_each_customer_whole_and_in_order() {
        let sizes = [
            0,
            1,
            3000,
            1096,
            1,
            EntryBlocks::FIRST_BLOCK + 5,
            7,
            3 * EntryBlocks::FIRST_BLOCK,
            2,
        ];
        let mut blocks = EntryBlocks::default();
        let mut next = 0u64;
        let mut pushed = Vec::new();
        for &n in &sizes {
            let customer: Vec<Entry> = (0..n)
                .map(|_| {
                    next += 1;
                    entry(Some(next))
                })
                .collect();
            let span = blocks.push_customer(customer.iter().copied());
            pushed.push((span, customer));
        }
        for (span, customer) in &pushed {
            assert_eq!(blocks.get(*span), customer.as_slice());
        }
        assert_eq!(blocks.len(), sizes.iter().sum::<usize>());
        let all: Vec<u64> = blocks.iter().map(|e| e.order[1]).collect();
        assert_eq!(all, (1..=next).collect::<Vec<_>>());
        // The customers took several blocks, so their edges were crossed.
        assert!(blocks.blocks.len() > 2, "{} blocks", blocks.blocks.len());
    }

    /// The shared orders as one scan in id order with one exact map finds them: how many, and the
    /// first `keep` in the order they are found shared (at their second distinct owner).
    fn shared_orders_one_scan(t: &Timelines, keep: usize) -> (u64, Vec<[u64; 2]>) {
        let mut owner: std::collections::HashMap<[u64; 2], Option<usize>> = Default::default();
        let (mut count, mut sample) = (0, Vec::new());
        for c in (0..t.ids.len()).filter(|&c| t.ids[c].is_some()) {
            let mut orders: Vec<[u64; 2]> = t
                .customer(c)
                .iter()
                .filter(|e| !e.no_order())
                .map(|e| e.order)
                .collect();
            orders.dedup();
            for order in orders {
                match owner.get(&order) {
                    None => {
                        owner.insert(order, Some(c));
                    }
                    Some(Some(first)) if *first != c => {
                        count += 1;
                        if sample.len() < keep {
                            sample.push(order);
                        }
                        owner.insert(order, None);
                    }
                    Some(_) => {}
                }
            }
        }
        (count, sample)
    }

    #[test]
    fn shared_orders_found_on_every_core_are_those_one_scan_finds_in_the_same_order() {
        // 30,000 customers (several pieces of work per core), one in 97 without an id, each with
        // up to five orders of 60,000: many orders shared, some by three or more customers.
        let mut rng = ChaCha8Rng::seed_from_u64(16);
        let mut entries = EntryBlocks::default();
        let mut ids = Vec::new();
        let mut spans = Vec::new();
        for c in 0..30_000u32 {
            let mut orders: Vec<Option<u64>> = (0..rng.random_range(0..6))
                .map(|_| Some(rng.random_range(1..60_000)))
                .collect();
            if c % 13 == 0 {
                orders.push(None);
            }
            let mut customer: Vec<Entry> = orders.into_iter().map(entry).collect();
            customer.sort_by_key(|e| e.order_key());
            spans.push(entries.push_customer(customer.into_iter()));
            ids.push((c % 97 != 0).then(|| format!("c{c:05}")));
        }
        let t = Timelines {
            ids,
            spans,
            entries,
            drop_duplicates: false,
        };
        let (count, sample) = shared_orders_one_scan(&t, 50);
        assert!(count > 1000, "{count} shared orders: the test needs many");
        for bits in [64, 1 << 12, 1 << 20] {
            assert_eq!(t.shared_orders_with(50, bits), (count, sample.clone()), "{bits} bits");
        }
    }

    #[test]
    fn orders_under_two_customers_are_counted_once_whatever_the_bit_set_size() {
        // Order 1 under a and b, 2 under a, b and c (one order, counted once), 3 twice under c
        // (one customer), 4 under b and the customer without an id (not counted: that row is
        // dropped), and rows without an order under everyone.
        let t = timelines([
            vec![None, Some(1), Some(2), Some(5)],
            vec![None, Some(1), Some(2), Some(4)],
            vec![None, Some(2), Some(3), Some(3)],
            vec![None, Some(4)],
        ]);
        // From bit sets where every order collides with every other to ones where none do.
        for bits in [64, 128, 1 << 12, 1 << 20] {
            let (count, sample) = t.shared_orders_with(10, bits);
            assert_eq!(count, 2, "{bits} bits");
            let mut high: Vec<u64> = sample.iter().map(|k| k[1]).collect();
            high.sort_unstable();
            assert_eq!(high, [1, 2], "{bits} bits");
        }
        assert_eq!(t.shared_orders(1).1.len(), 1);
        let alone = timelines([vec![Some(1)], vec![Some(2)], vec![Some(3), Some(3)], vec![Some(1)]]);
        assert_eq!(alone.shared_orders(5), (0, Vec::new()));
    }
}
