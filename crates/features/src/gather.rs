//! `churn_timeline(...)`: the aggregate function of the one read of the log. Grouped by customer
//! id, it gathers each customer's rows and gives back their timeline entries (see
//! [`crate::timeline`]): one entry per order, instant and kind, with its row count, exact
//! duplicates and integer cents, sorted by order and instant, encoded as bytes.
//!
//! Before, the read grouped rows by customer, order, instant and kind in the engine's hash
//! aggregation (six keys, one a string) and found duplicates with a second aggregate that sorted
//! every row of the log at once; the driver then sorted the groups by customer again. That took
//! 6-8 s of a 10-million-row log whose columns the engine reads in 0.5 s, and grouping by the
//! customer id alone takes 0.3 s. Here the engine groups by the customer id only, and each
//! customer's few rows are arranged by this function, where they are already together: the
//! arranging is a counting sort of row numbers by customer and a sort of each customer's rows.
//!
//! It is an ordinary DataFusion aggregate (a [`GroupsAccumulator`] with a partial state and a
//! merge), so the plan stays a DataFusion plan that a cluster can split: the partial state is each
//! customer's rows as a list of fixed-size records. A partial aggregation cannot reduce rows that
//! are all kept, so on one machine the rule [`GatherOnce`] has the engine partition the rows by
//! customer first and aggregate once per partition; the state and the merge serve spilling, and
//! plans that do split the aggregation (a cluster's).
//!
//! **Memory.** Every row is held (56 bytes) until its customer is emitted, in chunks, and the
//! memory pool sees exactly that; past its share (see [`crate::memory`]) the engine spills the
//! rows to disk, sorted by customer, and merges them back. Measured at 10.56 M rows: the query
//! takes 1.9 s under the default 1 GiB, which it fits, and 3.1 s spilling under 256 MiB. Before
//! [`GatherOnce`] the engine ran it in two phases that both held the rows, and it spilled under
//! 1 GiB and 1.5 GiB (3.3-3.6 s; 2.5 s under 4 GiB).
//!
//! The three variants differ in what they do with exact duplicate rows (rows equal in every
//! column: the same group key and the same `churn_row_hash` of the remaining columns, its last
//! argument): `churn_timeline` does not look, `churn_timeline_dups` counts them and
//! `churn_timeline_drop` counts them and leaves them out of the cents.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, FixedSizeBinaryArray, LargeBinaryArray, ListArray};
use arrow::buffer::{Buffer, OffsetBuffer, ScalarBuffer};
use arrow::datatypes::{DataType, Field, FieldRef, Int64Type};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::common::{exec_err, Result};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, EmitTo, GroupsAccumulator, Signature, Volatility,
};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::{ExecutionPlan, Partitioning};

use crate::engine::MAX_ABS_CENTS;
use crate::timeline::{key_words, Entry, NO_ORDER, OK, OVERFLOW, PURCHASE, RETURN};

/// The row's instant is missing (it is then also not `OK`); a key apart from instant zero.
const TS_NULL: u8 = 32;
/// The row has no cents (it is not `OK`).
const CENTS_NULL: u8 = 64;
/// The flags that are part of an entry's key.
const KEY_FLAGS: u8 = OK | PURCHASE | RETURN | NO_ORDER | TS_NULL;

/// Bytes of one row in the partial state: order 16, line 16, instant 8, cents 8, flags 1.
const ROW_BYTES: usize = 49;

/// What the function does with exact duplicates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Duplicates {
    /// Not looked for: every entry's `dup` is 0 (`churn_timeline`).
    Ignore,
    /// Counted in `dup`, and kept in the cents (`churn_timeline_dups`).
    Count,
    /// Counted in `dup`, and left out of the cents (`churn_timeline_drop`).
    Drop,
}

/// The variants, to register with a session.
pub(crate) fn functions() -> [AggregateUDF; 3] {
    [Duplicates::Ignore, Duplicates::Count, Duplicates::Drop].map(|d| AggregateUDF::from(GatherTimeline::new(d)))
}

/// The function's name for a duplicate mode.
pub(crate) fn name(duplicates: Duplicates) -> &'static str {
    match duplicates {
        Duplicates::Ignore => "churn_timeline",
        Duplicates::Count => "churn_timeline_dups",
        Duplicates::Drop => "churn_timeline_drop",
    }
}

/// A physical optimizer rule that aggregates `churn_timeline` once per partition: the planner
/// always makes a grouped aggregation two phases (`Partial`, a repartition by the group keys,
/// `FinalPartitioned`), and DataFusion's distribution rule drops a repartition the query asked
/// for below it. For most aggregates the partial phase shrinks what crosses the repartition; this
/// one keeps every row, so it only copied each row three more times (into the partial
/// accumulator, into its state lists, out of them in the final one), and the memory pool split the
/// budget between six spilling consumers instead of four. Measured at 10.56 M rows under a 1.5 GiB
/// budget: both phases spilled.
///
/// The rule turns `FinalPartitioned(Repartition(Hash(keys), Partial(input)))` of these functions
/// into `SinglePartitioned(Repartition(Hash(keys), input))`: the rows cross the repartition as
/// they are, and each partition's customers are gathered once. The result is the same (every
/// customer's rows meet in one partition either way); any other aggregate keeps its two phases.
#[derive(Debug, Default)]
pub(crate) struct GatherOnce;

impl PhysicalOptimizerRule for GatherOnce {
    fn optimize(&self, plan: Arc<dyn ExecutionPlan>, _config: &ConfigOptions) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|plan| Ok(gathered_once(&plan)?.map_or(Transformed::no(plan), Transformed::yes)))
            .data()
    }

    fn name(&self) -> &str {
        "churn_gather_once"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// `plan` as one phase, when it is the two phases of a `churn_timeline` aggregation (see
/// [`GatherOnce`]).
fn gathered_once(plan: &Arc<dyn ExecutionPlan>) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    let Some(last) = plan.downcast_ref::<AggregateExec>() else {
        return Ok(None);
    };
    let Some(repartition) = last.input().downcast_ref::<RepartitionExec>() else {
        return Ok(None);
    };
    let Some(first) = repartition.input().downcast_ref::<AggregateExec>() else {
        return Ok(None);
    };
    let names = [Duplicates::Ignore, Duplicates::Count, Duplicates::Drop].map(name);
    let gathers =
        |a: &AggregateExec| !a.aggr_expr().is_empty() && a.aggr_expr().iter().all(|f| names.contains(&f.fun().name()));
    let Partitioning::Hash(_, partitions) = repartition.partitioning() else {
        return Ok(None);
    };
    if *last.mode() != AggregateMode::FinalPartitioned
        || *first.mode() != AggregateMode::Partial
        || !gathers(first)
        || !first.group_expr().is_single()
        || repartition.preserve_order()
    {
        return Ok(None);
    }
    let keys = Partitioning::Hash(first.group_expr().input_exprs(), *partitions);
    let rows = Arc::new(RepartitionExec::try_new(Arc::clone(first.input()), keys)?);
    let once = AggregateExec::try_new(
        AggregateMode::SinglePartitioned,
        first.group_expr().clone(),
        first.aggr_expr().to_vec(),
        first.filter_expr().to_vec(),
        rows,
        first.input_schema(),
    )?
    .with_limit_options(last.limit_options());
    Ok(Some(Arc::new(once)))
}

/// `churn_timeline(order_key, ts_us, ok, purchase, ret, cents)`, and
/// `churn_timeline_dups(..., line)` / `churn_timeline_drop(..., line)`: the group's timeline
/// entries as bytes (see [`Entry::encode`]).
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct GatherTimeline {
    signature: Signature,
    duplicates: Duplicates,
}

impl GatherTimeline {
    fn new(duplicates: Duplicates) -> Self {
        let hash = DataType::FixedSizeBinary(16);
        let mut types = vec![
            hash.clone(),
            DataType::Int64,
            DataType::Boolean,
            DataType::Boolean,
            DataType::Boolean,
            DataType::Int64,
        ];
        if duplicates != Duplicates::Ignore {
            types.push(hash);
        }
        Self {
            signature: Signature::exact(types, Volatility::Immutable),
            duplicates,
        }
    }
}

fn row_list_field() -> FieldRef {
    Arc::new(Field::new_list_field(
        DataType::FixedSizeBinary(ROW_BYTES as i32),
        false,
    ))
}

impl AggregateUDFImpl for GatherTimeline {
    fn name(&self) -> &str {
        name(self.duplicates)
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        // Large: a whole log's entries can pass 2 GiB in one emitted array.
        Ok(DataType::LargeBinary)
    }

    fn is_nullable(&self) -> bool {
        false
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(
            format!("{}[rows]", args.name),
            DataType::List(row_list_field()),
            true,
        ))])
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(OneGroup(Gather::new(self.duplicates))))
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(Gather::new(self.duplicates)))
    }
}

/// One input row, held until its group is emitted. 56 bytes: the accumulator holds one per row
/// of the log, and its size is what the memory pool sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Row {
    order: [u64; 2],
    /// `churn_row_hash` of the columns outside the key (zero when duplicates are not looked for).
    line: [u64; 2],
    ts_us: i64,
    cents: i64,
    group: u32,
    /// The key's flags, and [`CENTS_NULL`].
    flags: u8,
}

impl Row {
    /// The entry this row belongs to, as a sort key: by order (rows without one apart) and
    /// instant, as the timelines expect, then the rest of the key; the line last, so that equal
    /// lines of an entry are adjacent.
    fn sort_key(&self) -> (bool, [u64; 2], i64, u8, [u64; 2]) {
        (
            self.flags & NO_ORDER != 0,
            self.order,
            self.ts_us,
            self.flags & KEY_FLAGS,
            self.line,
        )
    }

    fn same_entry(&self, other: &Row) -> bool {
        self.flags & KEY_FLAGS == other.flags & KEY_FLAGS && self.order == other.order && self.ts_us == other.ts_us
    }

    fn encode(&self, out: &mut Vec<u8>) {
        for word in self.order.iter().chain(&self.line) {
            out.extend_from_slice(&word.to_le_bytes());
        }
        out.extend_from_slice(&self.ts_us.to_le_bytes());
        out.extend_from_slice(&self.cents.to_le_bytes());
        out.push(self.flags);
    }

    fn decode(bytes: &[u8], group: u32) -> Row {
        let word = |i: usize| u64::from_le_bytes(bytes[i..i + 8].try_into().expect("8 bytes of a 49-byte row"));
        Row {
            order: [word(0), word(8)],
            line: [word(16), word(24)],
            ts_us: word(32) as i64,
            cents: word(40) as i64,
            group,
            flags: bytes[48],
        }
    }
}

/// Rows in chunks of [`Rows::CHUNK`]: memory grows by a chunk at a time and the size reported
/// to the memory pool is what is held, where one vector would double (and could report twice
/// the rows) when it grows.
#[derive(Debug, Default)]
struct Rows {
    chunks: Vec<Vec<Row>>,
    len: usize,
}

impl Rows {
    const CHUNK: usize = 1 << 16;

    fn push(&mut self, row: Row) {
        match self.chunks.last_mut() {
            Some(chunk) if chunk.len() < Self::CHUNK => chunk.push(row),
            _ => {
                let mut chunk = Vec::with_capacity(Self::CHUNK);
                chunk.push(row);
                self.chunks.push(chunk);
            }
        }
        self.len += 1;
    }

    fn get(&self, i: usize) -> Row {
        self.chunks[i / Self::CHUNK][i % Self::CHUNK]
    }

    fn iter(&self) -> impl Iterator<Item = &Row> {
        self.chunks.iter().flatten()
    }

    fn bytes(&self) -> usize {
        self.chunks.len() * Self::CHUNK * size_of::<Row>()
    }
}

/// The groups accumulator of [`GatherTimeline`]: rows are appended as they come, and arranged by
/// group only when the groups are emitted.
#[derive(Debug)]
struct Gather {
    duplicates: Duplicates,
    rows: Rows,
    groups: usize,
}

/// The columns of one batch of arguments.
struct Args<'a> {
    orders: &'a FixedSizeBinaryArray,
    ts: &'a arrow::array::Int64Array,
    ok: &'a BooleanArray,
    purchase: &'a BooleanArray,
    ret: &'a BooleanArray,
    cents: &'a arrow::array::Int64Array,
    lines: Option<&'a FixedSizeBinaryArray>,
}

impl<'a> Args<'a> {
    fn of(values: &'a [ArrayRef], duplicates: Duplicates) -> Result<Self> {
        let fixed = |i: usize| -> Result<&'a FixedSizeBinaryArray> {
            match values.get(i).and_then(|v| v.as_fixed_size_binary_opt()) {
                Some(a) if a.value_length() == 16 => Ok(a),
                _ => exec_err!("churn_timeline: argument {} is not a 16-byte hash", i + 1),
            }
        };
        let int = |i: usize| -> Result<&'a arrow::array::Int64Array> {
            match values.get(i).and_then(|v| v.as_primitive_opt::<Int64Type>()) {
                Some(a) => Ok(a),
                None => exec_err!("churn_timeline: argument {} is not a 64-bit integer", i + 1),
            }
        };
        let flag = |i: usize| -> Result<&'a BooleanArray> {
            match values.get(i).and_then(|v| v.as_boolean_opt()) {
                Some(a) => Ok(a),
                None => exec_err!("churn_timeline: argument {} is not a boolean", i + 1),
            }
        };
        Ok(Args {
            orders: fixed(0)?,
            ts: int(1)?,
            ok: flag(2)?,
            purchase: flag(3)?,
            ret: flag(4)?,
            cents: int(5)?,
            lines: match duplicates {
                Duplicates::Ignore => None,
                _ => Some(fixed(6)?),
            },
        })
    }

    fn row(&self, i: usize, group: u32) -> Row {
        let set = |a: &BooleanArray| a.is_valid(i) && a.value(i);
        let order = self.orders.is_valid(i).then(|| key_words(self.orders.value(i)));
        let line = match self.lines {
            Some(lines) if lines.is_valid(i) => key_words(lines.value(i)),
            _ => [0, 0],
        };
        let flags = (u8::from(set(self.ok)) * OK)
            | (u8::from(set(self.purchase)) * PURCHASE)
            | (u8::from(set(self.ret)) * RETURN)
            | (u8::from(order.is_none()) * NO_ORDER)
            | (u8::from(self.ts.is_null(i)) * TS_NULL)
            | (u8::from(self.cents.is_null(i)) * CENTS_NULL);
        Row {
            order: order.unwrap_or_default(),
            line,
            ts_us: if self.ts.is_valid(i) { self.ts.value(i) } else { 0 },
            cents: if self.cents.is_valid(i) { self.cents.value(i) } else { 0 },
            group,
            flags,
        }
    }
}

fn included(opt_filter: Option<&BooleanArray>, row: usize) -> bool {
    opt_filter.is_none_or(|f| f.is_valid(row) && f.value(row))
}

fn group_u32(group: usize) -> Result<u32> {
    match u32::try_from(group) {
        Ok(g) => Ok(g),
        Err(_) => exec_err!("churn_timeline holds at most 2^32 customers per partition"),
    }
}

impl Gather {
    fn new(duplicates: Duplicates) -> Self {
        Self {
            duplicates,
            rows: Rows::default(),
            groups: 0,
        }
    }

    /// Takes the rows of the first `n` groups (all with `EmitTo::All`) and each group's bounds in
    /// the returned order of row numbers (a counting sort by group: four bytes per row rather
    /// than a second copy of the rows); the other groups are renumbered from 0.
    fn take(&mut self, emit_to: EmitTo) -> Result<(Rows, Vec<u32>, Vec<usize>)> {
        let n = match emit_to {
            EmitTo::All => self.groups,
            EmitTo::First(n) => n.min(self.groups),
        };
        let taken = if n == self.groups {
            std::mem::take(&mut self.rows)
        } else {
            let (mut taken, mut kept) = (Rows::default(), Rows::default());
            for mut r in std::mem::take(&mut self.rows).chunks.into_iter().flatten() {
                if (r.group as usize) < n {
                    taken.push(r);
                } else {
                    r.group -= n as u32;
                    kept.push(r);
                }
            }
            self.rows = kept;
            taken
        };
        self.groups -= n;
        if u32::try_from(taken.len).is_err() {
            return exec_err!("churn_timeline holds at most 2^32 rows per partition; lower the memory budget");
        }
        let mut bounds = vec![0usize; n + 1];
        for r in taken.iter() {
            bounds[r.group as usize + 1] += 1;
        }
        for g in 0..n {
            bounds[g + 1] += bounds[g];
        }
        let mut next = bounds.clone();
        let mut order = vec![0u32; taken.len];
        for (i, r) in taken.iter().enumerate() {
            let slot = &mut next[r.group as usize];
            order[*slot] = i as u32;
            *slot += 1;
        }
        Ok((taken, order, bounds))
    }

    /// Appends the entries of one group's rows (sorted by [`Row::sort_key`]) to `out`.
    fn entries(&self, rows: &[Row], out: &mut Vec<u8>) {
        let mut start = 0;
        while start < rows.len() {
            let first = rows[start];
            let end = start + rows[start..].iter().take_while(|r| r.same_entry(&first)).count();
            let group = &rows[start..end];
            let (mut net, mut abs, mut valued) = (0i64, 0f64, false);
            let mut distinct = 0u64;
            for (i, r) in group.iter().enumerate() {
                let new_line = i == 0 || group[i - 1].line != r.line;
                distinct += u64::from(new_line);
                if r.flags & CENTS_NULL != 0 || (self.duplicates == Duplicates::Drop && !new_line) {
                    continue;
                }
                valued = true;
                // Saturating, so that a sum past the range of cents stays beyond the overflow
                // check (a wrapped sum could look small).
                net = net.saturating_add(r.cents);
                abs += (r.cents as f64).abs();
            }
            if self.duplicates == Duplicates::Drop {
                // Every valid amount of an entry has one sign (purchase and return are keys).
                abs = (net as f64).abs();
            }
            let n = group.len() as u64;
            let dup = match self.duplicates {
                Duplicates::Ignore => 0,
                Duplicates::Count | Duplicates::Drop => n - distinct,
            };
            let overflow = valued && abs > MAX_ABS_CENTS;
            Entry {
                order: first.order,
                ts_us: first.ts_us,
                n,
                dup,
                cents: if overflow { abs.to_bits() as i64 } else { net },
                flags: (first.flags & (OK | PURCHASE | RETURN | NO_ORDER)) | if overflow { OVERFLOW } else { 0 },
            }
            .encode(out);
            start = end;
        }
    }
}

impl GroupsAccumulator for Gather {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.groups = total_num_groups;
        let args = Args::of(values, self.duplicates)?;
        for (i, &group) in group_indices.iter().enumerate() {
            if included(opt_filter, i) {
                let row = args.row(i, group_u32(group)?);
                self.rows.push(row);
            }
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let (rows, order, bounds) = self.take(emit_to)?;
        let groups = bounds.len() - 1;
        let mut bytes: Vec<u8> = Vec::with_capacity(rows.len * crate::timeline::ENTRY_BYTES);
        let mut offsets: Vec<i64> = Vec::with_capacity(groups + 1);
        offsets.push(0);
        let mut scratch: Vec<Row> = Vec::new();
        for g in 0..groups {
            scratch.clear();
            scratch.extend(order[bounds[g]..bounds[g + 1]].iter().map(|&i| rows.get(i as usize)));
            scratch.sort_unstable_by_key(Row::sort_key);
            self.entries(&scratch, &mut bytes);
            offsets.push(bytes.len() as i64);
        }
        Ok(Arc::new(LargeBinaryArray::new(
            OffsetBuffer::new(ScalarBuffer::from(offsets)),
            Buffer::from(bytes),
            None,
        )))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let (rows, order, bounds) = self.take(emit_to)?;
        let mut bytes = Vec::with_capacity(rows.len * ROW_BYTES);
        for &i in &order {
            rows.get(i as usize).encode(&mut bytes);
        }
        row_lists(bounds.iter().map(|&b| b as i64), bytes)
    }

    fn merge_batch(&mut self, values: &[ArrayRef], group_indices: &[usize], total_num_groups: usize) -> Result<()> {
        self.groups = total_num_groups;
        let Some(lists) = values.first().and_then(|v| v.as_list_opt::<i32>()) else {
            return exec_err!("churn_timeline: the partial state is not a list");
        };
        let Some(records) = lists
            .values()
            .as_fixed_size_binary_opt()
            .filter(|r| r.value_length() as usize == ROW_BYTES)
        else {
            return exec_err!("churn_timeline: the partial state's rows are not {ROW_BYTES}-byte records");
        };
        let offsets = lists.value_offsets();
        for (i, &group) in group_indices.iter().enumerate() {
            if lists.is_null(i) {
                continue;
            }
            let group = group_u32(group)?;
            for r in offsets[i] as usize..offsets[i + 1] as usize {
                self.rows.push(Row::decode(records.value(r), group));
            }
        }
        Ok(())
    }

    fn convert_to_state(&self, values: &[ArrayRef], opt_filter: Option<&BooleanArray>) -> Result<Vec<ArrayRef>> {
        // Every row its own group: a list of its one row, or an empty list when filtered out.
        let args = Args::of(values, self.duplicates)?;
        let rows = args.orders.len();
        let mut bytes = Vec::with_capacity(rows * ROW_BYTES);
        let mut offsets = Vec::with_capacity(rows + 1);
        offsets.push(0i64);
        for i in 0..rows {
            if included(opt_filter, i) {
                args.row(i, 0).encode(&mut bytes);
            }
            offsets.push((bytes.len() / ROW_BYTES) as i64);
        }
        row_lists(offsets.into_iter(), bytes)
    }

    fn size(&self) -> usize {
        self.rows.bytes() + size_of::<Self>()
    }
}

/// The partial state: each group's rows, [`ROW_BYTES`] each, as lists with `offsets` (in rows).
fn row_lists(offsets: impl Iterator<Item = i64>, bytes: Vec<u8>) -> Result<Vec<ArrayRef>> {
    let offsets = offsets
        .map(i32::try_from)
        .collect::<std::result::Result<Vec<i32>, _>>()
        .or_else(|_| exec_err!("churn_timeline: more than 2^31 rows in one state batch"))?;
    let records = FixedSizeBinaryArray::try_new(ROW_BYTES as i32, Buffer::from(bytes), None)?;
    Ok(vec![Arc::new(ListArray::try_new(
        row_list_field(),
        OffsetBuffer::new(ScalarBuffer::from(offsets)),
        Arc::new(records),
        None,
    )?)])
}

/// [`Gather`] over a single group, for the plans that ask for a plain accumulator (an aggregate
/// without `GROUP BY`).
#[derive(Debug)]
struct OneGroup(Gather);

impl Accumulator for OneGroup {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let groups = vec![0; values.first().map_or(0, |v| v.len())];
        self.0.update_batch(values, &groups, None, 1)
    }

    fn evaluate(&mut self) -> Result<datafusion::common::ScalarValue> {
        self.0.groups = 1;
        datafusion::common::ScalarValue::try_from_array(&self.0.evaluate(EmitTo::All)?, 0)
    }

    fn size(&self) -> usize {
        self.0.size()
    }

    fn state(&mut self) -> Result<Vec<datafusion::common::ScalarValue>> {
        self.0.groups = 1;
        self.0
            .state(EmitTo::All)?
            .iter()
            .map(|column| datafusion::common::ScalarValue::try_from_array(column, 0))
            .collect()
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let groups = vec![0; states.first().map_or(0, |s| s.len())];
        self.0.merge_batch(states, &groups, 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int64Array;

    /// One argument row: order, instant, cents (`None` for a row that is not valid), line.
    type In = (Option<u8>, Option<i64>, Option<i64>, u8);

    fn hash(byte: u8) -> [u8; 16] {
        let mut h = [0u8; 16];
        h[0] = byte;
        h[15] = byte.wrapping_mul(7);
        h
    }

    fn args(rows: &[In]) -> Vec<ArrayRef> {
        let fixed = |values: Vec<Option<[u8; 16]>>| -> ArrayRef {
            Arc::new(
                FixedSizeBinaryArray::try_from_sparse_iter_with_size(values.into_iter(), 16).expect("16-byte hashes"),
            )
        };
        let ok: Vec<bool> = rows.iter().map(|r| r.1.is_some() && r.2.is_some()).collect();
        let cents: Vec<Option<i64>> = rows.iter().map(|r| r.2).collect();
        vec![
            fixed(rows.iter().map(|r| r.0.map(hash)).collect()),
            Arc::new(Int64Array::from(rows.iter().map(|r| r.1).collect::<Vec<_>>())),
            Arc::new(BooleanArray::from(ok.clone())),
            Arc::new(BooleanArray::from(
                ok.iter()
                    .zip(&cents)
                    .map(|(&o, c)| o && c.unwrap_or(0) > 0)
                    .collect::<Vec<_>>(),
            )),
            Arc::new(BooleanArray::from(
                ok.iter()
                    .zip(&cents)
                    .map(|(&o, c)| o && c.unwrap_or(0) < 0)
                    .collect::<Vec<_>>(),
            )),
            Arc::new(Int64Array::from(cents)),
            fixed(rows.iter().map(|r| Some(hash(r.3))).collect()),
        ]
    }

    fn entries(array: &ArrayRef) -> Vec<Vec<Entry>> {
        let binary = array.as_binary::<i64>();
        (0..binary.len())
            .map(|g| {
                binary
                    .value(g)
                    .chunks_exact(crate::timeline::ENTRY_BYTES)
                    .map(Entry::decode)
                    .collect()
            })
            .collect()
    }

    fn entry(order: Option<u8>, ts_us: i64, n: u64, dup: u64, cents: i64, flags: u8) -> Entry {
        Entry {
            order: order.map_or([0, 0], |o| key_words(&hash(o))),
            ts_us,
            n,
            dup,
            cents,
            flags: flags | if order.is_none() { NO_ORDER } else { 0 },
        }
    }

    /// Two customers: 0 has an order of three lines at one instant (two of them equal), a return
    /// in the same order at the same instant, two lines without an order and a row without an
    /// instant; 1 has one line.
    fn sample() -> (Vec<In>, Vec<usize>) {
        let rows = vec![
            (Some(2), Some(50), Some(300), 1),
            (Some(1), Some(10), Some(-100), 2),
            (Some(1), Some(10), Some(250), 3),
            (Some(7), Some(5), Some(999), 9),
            (Some(1), Some(10), Some(250), 3),
            (None, Some(20), Some(40), 4),
            (Some(1), Some(10), Some(125), 5),
            (None, Some(20), Some(60), 6),
            (Some(1), None, None, 7),
        ];
        let groups = vec![0, 0, 0, 1, 0, 0, 0, 0, 0];
        (rows, groups)
    }

    fn expected(duplicates: Duplicates) -> Vec<Vec<Entry>> {
        let (dup, purchase_cents) = match duplicates {
            Duplicates::Ignore => (0, 625),
            Duplicates::Count => (1, 625),
            Duplicates::Drop => (1, 375),
        };
        vec![
            vec![
                // Sorted by order (its key hash), then instant, then kind; rows without an order last.
                entry(Some(1), 0, 1, 0, 0, 0),
                entry(Some(1), 10, 3, dup, purchase_cents, OK | PURCHASE),
                entry(Some(1), 10, 1, 0, -100, OK | RETURN),
                entry(Some(2), 50, 1, 0, 300, OK | PURCHASE),
                entry(None, 20, 2, 0, 100, OK | PURCHASE),
            ],
            vec![entry(Some(7), 5, 1, 0, 999, OK | PURCHASE)],
        ]
    }

    fn gathered(duplicates: Duplicates, rows: &[In], groups: &[usize]) -> Vec<Vec<Entry>> {
        let mut gather = Gather::new(duplicates);
        let mut values = args(rows);
        if duplicates == Duplicates::Ignore {
            values.pop();
        }
        gather.update_batch(&values, groups, None, 2).expect("update");
        entries(&gather.evaluate(EmitTo::All).expect("evaluate"))
    }

    #[test]
    fn a_customers_rows_become_their_entries_by_hand() {
        let (rows, groups) = sample();
        for duplicates in [Duplicates::Ignore, Duplicates::Count, Duplicates::Drop] {
            assert_eq!(
                gathered(duplicates, &rows, &groups),
                expected(duplicates),
                "{duplicates:?}"
            );
        }
    }

    #[test]
    fn partial_states_merge_to_the_same_entries() {
        let (rows, groups) = sample();
        for duplicates in [Duplicates::Count, Duplicates::Drop] {
            // Rows split between two partial accumulators, the duplicate pair across them; and
            // rows passed on one by one, as when the partial aggregation is skipped.
            let mut first = Gather::new(duplicates);
            first
                .update_batch(&args(&rows[..3]), &groups[..3], None, 2)
                .expect("update");
            let mut second = Gather::new(duplicates);
            second
                .update_batch(&args(&rows[3..]), &[0, 1, 1, 1, 1, 1], None, 2)
                .expect("update");
            let mut last = Gather::new(duplicates);
            last.merge_batch(&first.state(EmitTo::All).expect("state"), &[0, 1], 2)
                .expect("merge");
            // The second's groups are 1 and 0 in the final numbering.
            last.merge_batch(&second.state(EmitTo::All).expect("state"), &[1, 0], 2)
                .expect("merge");
            assert_eq!(
                entries(&last.evaluate(EmitTo::All).expect("evaluate")),
                expected(duplicates)
            );

            let mut direct = Gather::new(duplicates);
            let state = direct.convert_to_state(&args(&rows), None).expect("state");
            direct.merge_batch(&state, &groups, 2).expect("merge");
            assert_eq!(
                entries(&direct.evaluate(EmitTo::All).expect("evaluate")),
                expected(duplicates)
            );
        }
    }

    #[test]
    fn emitting_the_first_groups_keeps_the_others() {
        let (rows, groups) = sample();
        let mut gather = Gather::new(Duplicates::Count);
        gather.update_batch(&args(&rows), &groups, None, 2).expect("update");
        let first = entries(&gather.evaluate(EmitTo::First(1)).expect("evaluate"));
        assert_eq!(first, expected(Duplicates::Count)[..1]);
        // Customer 1 is group 0 now, and more of its rows can come.
        gather.update_batch(&args(&rows[3..4]), &[0], None, 1).expect("update");
        let rest = entries(&gather.evaluate(EmitTo::All).expect("evaluate"));
        assert_eq!(rest, [vec![entry(Some(7), 5, 2, 1, 1998, OK | PURCHASE)]]);
        assert_eq!(gather.rows.len, 0);
    }

    #[test]
    fn a_filtered_row_is_left_out() {
        let (rows, groups) = sample();
        let filter = BooleanArray::from((0..rows.len()).map(|i| i != 3).collect::<Vec<_>>());
        let mut gather = Gather::new(Duplicates::Count);
        gather
            .update_batch(&args(&rows), &groups, Some(&filter), 2)
            .expect("update");
        let got = entries(&gather.evaluate(EmitTo::All).expect("evaluate"));
        assert_eq!(got[0], expected(Duplicates::Count)[0]);
        assert!(got[1].is_empty());
        let state = gather.convert_to_state(&args(&rows), Some(&filter)).expect("state");
        assert_eq!(state[0].as_list::<i32>().value_length(3), 0);
    }

    #[test]
    fn cents_beyond_the_range_are_flagged_with_their_size() {
        let big = 5_000_000_000_000_000_000;
        let rows = vec![(Some(1), Some(10), Some(big), 1), (Some(1), Some(10), Some(big), 2)];
        for duplicates in [Duplicates::Count, Duplicates::Drop] {
            let got = gathered(duplicates, &rows, &[0, 0]);
            let e = got[0][0];
            assert_eq!(e.flags & OVERFLOW, OVERFLOW, "{duplicates:?}");
            let abs = f64::from_bits(e.cents as u64);
            assert!(abs > MAX_ABS_CENTS, "{abs}");
        }
        // Equal lines dropped: one of them counts, within the range.
        let twice = vec![(Some(1), Some(10), Some(big), 1), (Some(1), Some(10), Some(big), 1)];
        let got = gathered(Duplicates::Drop, &twice, &[0, 0]);
        assert_eq!(got[0][0], entry(Some(1), 10, 2, 1, big, OK | PURCHASE));
    }

    /// Sessions of two partitions, with and without [`GatherOnce`], over a table whose customers'
    /// rows are spread over both partitions.
    fn sessions() -> (datafusion::prelude::SessionContext, datafusion::prelude::SessionContext) {
        use arrow::array::StringArray;
        use arrow::datatypes::Schema;
        use arrow::record_batch::RecordBatch;
        use datafusion::datasource::MemTable;
        use datafusion::execution::SessionStateBuilder;
        use datafusion::prelude::{SessionConfig, SessionContext};

        let (rows, _) = sample();
        let mut columns = args(&rows);
        let customers: Vec<String> = (0..rows.len()).map(|i| format!("c{}", i % 3)).collect();
        columns.insert(0, Arc::new(StringArray::from(customers)));
        let names = [
            "customer_id",
            "order_key",
            "ts_us",
            "ok",
            "purchase",
            "ret",
            "cents",
            "line",
        ];
        let schema = Arc::new(Schema::new(
            names
                .iter()
                .zip(&columns)
                .map(|(name, c)| Field::new(*name, c.data_type().clone(), true))
                .collect::<Vec<_>>(),
        ));
        let batch = RecordBatch::try_new(Arc::clone(&schema), columns).expect("a batch");
        let partitions = vec![vec![batch.slice(0, 4)], vec![batch.slice(4, rows.len() - 4)]];
        let session = |rule: bool| {
            let config = SessionConfig::new().with_target_partitions(2);
            let mut state = SessionStateBuilder::new().with_default_features().with_config(config);
            if rule {
                state = state.with_physical_optimizer_rule(Arc::new(GatherOnce));
            }
            let ctx = SessionContext::new_with_state(state.build());
            for f in functions() {
                ctx.register_udaf(f);
            }
            let table = MemTable::try_new(Arc::clone(&schema), partitions.clone()).expect("a table");
            ctx.register_table("rows", Arc::new(table)).expect("registered");
            ctx
        };
        (session(true), session(false))
    }

    const TIMELINES: &str =
        "SELECT customer_id, churn_timeline_dups(order_key, ts_us, ok, purchase, ret, cents, line) AS t \
                             FROM rows GROUP BY customer_id ORDER BY customer_id";

    fn plan_and_rows(
        ctx: &datafusion::prelude::SessionContext,
        sql: &str,
    ) -> (String, Vec<arrow::record_batch::RecordBatch>) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        runtime.block_on(async {
            let frame = ctx.sql(sql).await.expect("planned");
            let plan = frame.clone().create_physical_plan().await.expect("a physical plan");
            let shown = datafusion::physical_plan::displayable(plan.as_ref())
                .indent(true)
                .to_string();
            (shown, frame.collect().await.expect("runs"))
        })
    }

    #[test]
    fn the_timelines_are_gathered_in_one_phase_with_the_same_result() {
        let (once, twice) = sessions();
        let (plan, rows) = plan_and_rows(&once, TIMELINES);
        assert!(plan.contains("mode=SinglePartitioned"), "{plan}");
        assert!(!plan.contains("mode=Partial"), "{plan}");
        assert!(
            plan.contains("RepartitionExec: partitioning=Hash([customer_id@0], 2)"),
            "{plan}"
        );
        let (plan, two_phases) = plan_and_rows(&twice, TIMELINES);
        assert!(plan.contains("mode=Partial"), "the planner's default changed: {plan}");
        assert_eq!(rows, two_phases);
        assert_eq!(rows.iter().map(|b| b.num_rows()).sum::<usize>(), 3);
    }

    #[test]
    fn other_aggregates_keep_their_two_phases() {
        let (once, _) = sessions();
        let (plan, _) = plan_and_rows(&once, "SELECT customer_id, sum(cents) FROM rows GROUP BY customer_id");
        assert!(plan.contains("mode=Partial"), "{plan}");
        assert!(!plan.contains("SinglePartitioned"), "{plan}");
    }
}
