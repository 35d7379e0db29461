//! Exact duplicate rows found inside each compact group, not by grouping whole rows.
//!
//! Two input rows are duplicates when every column is equal. Such rows always share the compact
//! form's group key (customer, order, instant and kind), so they can be found inside those groups:
//! [`RowHash`] (`churn_row_hash(...)`) gives every row a 128-bit hash of its remaining columns, and
//! [`DistinctLines`] (`churn_distinct_lines(hash)`, `churn_distinct_sum(hash, value)`) counts the
//! distinct hashes of each group (and sums a value over them, for `drop_duplicates`).
//!
//! Before, the engine grouped every row by all its columns (about ten million groups of wide
//! string keys for ten million rows, spilling under the memory pool), which was most of the cost of
//! reading the log. Both functions are ordinary DataFusion functions registered with the session,
//! so the plan stays a DataFusion plan that a cluster can run.
//!
//! **Collisions.** Rows are encoded with arrow's row format (unambiguous: nulls, lengths and types
//! are part of the bytes) and hashed with 128-bit SipHash-1-3 under fixed keys, which is portable
//! (the same bits on every machine, so executors on different hosts agree). Two different rows are taken for duplicates only
//! when they fall in the same group *and* their hashes collide: for a group of `n` rows the odds
//! are at most `n(n-1)/2 / 2^128`, about `3e-39` for a pair, and below `1e-24` even if all ten
//! million rows of a log shared one customer, order and instant.

use std::hash::Hasher;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, FixedSizeBinaryArray, Int64Array, ListArray};
use arrow::buffer::{Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow::datatypes::{DataType, Field, FieldRef, Int64Type};
use arrow::row::{RowConverter, SortField};
use datafusion::common::{exec_err, Result, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, ColumnarValue, EmitTo, GroupsAccumulator, ScalarFunctionArgs,
    ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use siphasher::sip128::{Hasher128, SipHasher13};

/// SipHash keys: fixed, so a row hashes alike in every process of a run and on every host.
const KEYS: (u64, u64) = (0x6368_7572_6e5f_726f, 0x775f_6861_7368_3132);

/// Bytes of a row hash.
const HASH_BYTES: i32 = 16;

/// The functions of this module, to register with a session.
pub(crate) fn functions() -> ([ScalarUDF; 2], [AggregateUDF; 2]) {
    (
        [
            ScalarUDF::from(RowHash::new(false)),
            ScalarUDF::from(RowHash::new(true)),
        ],
        [
            AggregateUDF::from(DistinctLines::new(false)),
            AggregateUDF::from(DistinctLines::new(true)),
        ],
    )
}

/// `churn_row_hash(a, b, ...)`: the 128-bit SipHash-1-3 of the row `(a, b, ...)` in arrow's row format,
/// as 16 bytes. Equal rows (nulls equal to nulls) hash alike.
///
/// `churn_key_hash(a, ...)` is the same hash as a compact group key standing for a long one (the
/// order id: 16 fixed bytes group and travel more cheaply than text of any length), except that it
/// is NULL where an argument is NULL, so that a missing key stays missing.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct RowHash {
    signature: Signature,
    /// `churn_key_hash`: NULL where an argument is NULL.
    keep_nulls: bool,
}

impl RowHash {
    fn new(keep_nulls: bool) -> Self {
        Self {
            signature: Signature::variadic_any(Volatility::Immutable),
            keep_nulls,
        }
    }
}

impl ScalarUDFImpl for RowHash {
    fn name(&self) -> &str {
        if self.keep_nulls {
            "churn_key_hash"
        } else {
            "churn_row_hash"
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::FixedSizeBinary(HASH_BYTES))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let columns = ColumnarValue::values_to_arrays(&args.args)?;
        let fields = columns.iter().map(|c| SortField::new(c.data_type().clone())).collect();
        let converter = RowConverter::new(fields)?;
        let rows = converter.convert_columns(&columns)?;
        let mut bytes = Vec::with_capacity(rows.num_rows() * HASH_BYTES as usize);
        for row in rows.iter() {
            let mut hasher = SipHasher13::new_with_keys(KEYS.0, KEYS.1);
            hasher.write(row.as_ref());
            bytes.extend_from_slice(&hasher.finish128().as_u128().to_le_bytes());
        }
        let nulls = if self.keep_nulls {
            columns.iter().fold(None, |nulls, column| {
                NullBuffer::union(nulls.as_ref(), column.logical_nulls().as_ref())
            })
        } else {
            None
        };
        let hashes = FixedSizeBinaryArray::try_new(HASH_BYTES, Buffer::from(bytes), nulls)?;
        Ok(ColumnarValue::Array(Arc::new(hashes)))
    }
}

/// `churn_distinct_lines(hash)`: how many distinct hashes a group holds; `churn_distinct_sum(hash,
/// value)`: the sum of `value` over the group's distinct hashes (one row of each; NULL when no such
/// row has a value, as SQL's `sum`).
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct DistinctLines {
    signature: Signature,
    /// `churn_distinct_sum` rather than `churn_distinct_lines`.
    sum: bool,
}

impl DistinctLines {
    fn new(sum: bool) -> Self {
        let hash = DataType::FixedSizeBinary(HASH_BYTES);
        let types = if sum { vec![hash, DataType::Int64] } else { vec![hash] };
        Self {
            signature: Signature::exact(types, Volatility::Immutable),
            sum,
        }
    }
}

fn hash_list_field() -> FieldRef {
    Arc::new(Field::new_list_field(DataType::FixedSizeBinary(HASH_BYTES), false))
}

fn value_list_field() -> FieldRef {
    Arc::new(Field::new_list_field(DataType::Int64, true))
}

impl AggregateUDFImpl for DistinctLines {
    fn name(&self) -> &str {
        if self.sum {
            "churn_distinct_sum"
        } else {
            "churn_distinct_lines"
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }

    fn is_nullable(&self) -> bool {
        self.sum
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        // Each group's distinct hashes (and their values), as lists.
        let mut fields = vec![Arc::new(Field::new(
            format!("{}[hashes]", args.name),
            DataType::List(hash_list_field()),
            true,
        ))];
        if self.sum {
            fields.push(Arc::new(Field::new(
                format!("{}[values]", args.name),
                DataType::List(value_list_field()),
                true,
            )));
        }
        Ok(fields)
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(OneGroup(Lines::new(self.sum))))
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(Lines::new(self.sum)))
    }
}

/// One row seen by [`Lines`]: its group, its hash and, for a sum, where its value is. 24 bytes:
/// the accumulator holds one per row of the log, and its size is what the memory pool sees.
#[derive(Debug, Clone, Copy)]
struct Seen {
    hash: [u64; 2],
    group: u32,
    /// Index into [`Lines::values`] (sums only).
    slot: u32,
}

/// The groups accumulator of [`DistinctLines`]: rows are appended as they come (no hashing per
/// row), and sorted by group and hash, in place, only when the groups are emitted.
#[derive(Debug)]
struct Lines {
    sum: bool,
    seen: Vec<Seen>,
    /// The values of a sum, by [`Seen::slot`].
    values: Vec<Option<i64>>,
    groups: usize,
}

impl Lines {
    fn new(sum: bool) -> Self {
        Self {
            sum,
            seen: Vec::new(),
            values: Vec::new(),
            groups: 0,
        }
    }

    fn push(&mut self, group: usize, hash: &[u8], value: Option<i64>) -> Result<()> {
        let (Ok(group), Ok(slot)) = (u32::try_from(group), u32::try_from(self.values.len())) else {
            return exec_err!("churn_distinct_lines holds at most 2^32 groups and rows per partition");
        };
        let word = |i: usize| u64::from_le_bytes(hash[i..i + 8].try_into().expect("8 bytes of a 16-byte hash"));
        self.seen.push(Seen {
            hash: [word(0), word(8)],
            group,
            slot,
        });
        if self.sum {
            self.values.push(value);
        }
        Ok(())
    }

    /// Takes the rows of the first `n` groups (all with `EmitTo::All`), sorted by group and then
    /// hash, with each group's bounds and the values; the rest are renumbered from 0.
    fn take(&mut self, emit_to: EmitTo) -> (Vec<Seen>, Vec<usize>, Vec<Option<i64>>) {
        let n = match emit_to {
            EmitTo::All => self.groups,
            EmitTo::First(n) => n.min(self.groups),
        };
        let mut taken = if n == self.groups {
            std::mem::take(&mut self.seen)
        } else {
            let (taken, kept): (Vec<Seen>, Vec<Seen>) = std::mem::take(&mut self.seen)
                .into_iter()
                .partition(|s| (s.group as usize) < n);
            self.seen = kept;
            taken
        };
        let values = if self.seen.is_empty() {
            std::mem::take(&mut self.values)
        } else {
            // The kept rows' values move to a fresh vector, so emitted values are not held on to.
            let all = std::mem::take(&mut self.values);
            for s in &mut self.seen {
                s.group -= n as u32;
                if self.sum {
                    let slot = self.values.len() as u32;
                    self.values.push(all[s.slot as usize]);
                    s.slot = slot;
                }
            }
            all
        };
        self.groups -= n;
        // In place: a counting sort would hold a second copy of every row.
        taken.sort_unstable_by_key(|s| (s.group, s.hash));
        let mut bounds = Vec::with_capacity(n + 1);
        bounds.push(0);
        let mut row = 0;
        for g in 0..n as u32 {
            while row < taken.len() && taken[row].group == g {
                row += 1;
            }
            bounds.push(row);
        }
        (taken, bounds, values)
    }
}

/// The partial state: each group's hashes (and values, for a sum) as lists with `offsets`.
fn state_lists(offsets: Vec<i32>, hashes: ArrayRef, values: Option<ArrayRef>) -> Result<Vec<ArrayRef>> {
    let offsets = OffsetBuffer::new(ScalarBuffer::from(offsets));
    let mut state: Vec<ArrayRef> = vec![Arc::new(ListArray::try_new(
        hash_list_field(),
        offsets.clone(),
        hashes,
        None,
    )?)];
    if let Some(values) = values {
        state.push(Arc::new(ListArray::try_new(value_list_field(), offsets, values, None)?));
    }
    Ok(state)
}

/// Calls `each(group, distinct rows of the group)` for every group of sorted rows.
fn distinct_by_group(
    arranged: &[Seen],
    bounds: &[usize],
    mut each: impl FnMut(usize, &mut dyn Iterator<Item = &Seen>),
) {
    for g in 0..bounds.len() - 1 {
        let group = &arranged[bounds[g]..bounds[g + 1]];
        let mut distinct = group
            .iter()
            .enumerate()
            .filter(|(i, s)| *i == 0 || group[i - 1].hash != s.hash)
            .map(|(_, s)| s);
        each(g, &mut distinct);
    }
}

impl GroupsAccumulator for Lines {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.groups = total_num_groups;
        let hashes = values[0].as_fixed_size_binary();
        let sums = self.sum.then(|| values[1].as_primitive::<Int64Type>());
        self.seen.reserve(group_indices.len());
        for (row, &group) in group_indices.iter().enumerate() {
            let included = opt_filter.is_none_or(|f| f.is_valid(row) && f.value(row));
            if !included || hashes.is_null(row) {
                continue;
            }
            let value = match sums {
                Some(v) => v.is_valid(row).then(|| v.value(row)),
                None => Some(0),
            };
            self.push(group, hashes.value(row), value)?;
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let (arranged, bounds, values) = self.take(emit_to);
        let groups = bounds.len() - 1;
        if !self.sum {
            let mut counts = vec![0i64; groups];
            distinct_by_group(&arranged, &bounds, |g, rows| counts[g] = rows.count() as i64);
            return Ok(Arc::new(Int64Array::from(counts)));
        }
        let mut sums = vec![0i64; groups];
        let mut valid = vec![false; groups];
        distinct_by_group(&arranged, &bounds, |g, rows| {
            for value in rows.filter_map(|s| values[s.slot as usize]) {
                // Saturating, so that a sum past the range of cents stays beyond the engine's
                // overflow check (a wrapped sum could look small).
                sums[g] = sums[g].saturating_add(value);
                valid[g] = true;
            }
        });
        Ok(Arc::new(Int64Array::new(
            ScalarBuffer::from(sums),
            Some(NullBuffer::from(valid)),
        )))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let (arranged, bounds, sum_values) = self.take(emit_to);
        let sum = self.sum;
        let mut offsets = Vec::with_capacity(bounds.len());
        offsets.push(0i32);
        let mut hashes: Vec<u8> = Vec::new();
        let mut values: Vec<Option<i64>> = Vec::new();
        distinct_by_group(&arranged, &bounds, |_, rows| {
            for s in rows {
                hashes.extend_from_slice(&s.hash[0].to_le_bytes());
                hashes.extend_from_slice(&s.hash[1].to_le_bytes());
                if sum {
                    values.push(sum_values[s.slot as usize]);
                }
            }
            offsets.push(i32::try_from(hashes.len() / HASH_BYTES as usize).unwrap_or(i32::MAX));
        });
        if hashes.len() / HASH_BYTES as usize > i32::MAX as usize {
            return exec_err!("churn_distinct_lines: more than 2^31 distinct rows in one state batch");
        }
        let hashes = Arc::new(FixedSizeBinaryArray::try_new(HASH_BYTES, Buffer::from(hashes), None)?);
        let values: Option<ArrayRef> = self.sum.then(|| Arc::new(Int64Array::from(values)) as ArrayRef);
        state_lists(offsets, hashes, values)
    }

    fn merge_batch(&mut self, values: &[ArrayRef], group_indices: &[usize], total_num_groups: usize) -> Result<()> {
        self.groups = total_num_groups;
        let hash_lists = values[0].as_list::<i32>();
        let value_lists = self.sum.then(|| values[1].as_list::<i32>());
        for (row, &group) in group_indices.iter().enumerate() {
            if hash_lists.is_null(row) {
                continue;
            }
            let hashes = hash_lists.value(row);
            let hashes = hashes.as_fixed_size_binary();
            let sums = value_lists.map(|v| v.value(row));
            let sums = sums.as_ref().map(|v| v.as_primitive::<Int64Type>());
            for i in 0..hashes.len() {
                let value = match sums {
                    Some(v) => v.is_valid(i).then(|| v.value(i)),
                    None => Some(0),
                };
                self.push(group, hashes.value(i), value)?;
            }
        }
        Ok(())
    }

    fn convert_to_state(&self, values: &[ArrayRef], opt_filter: Option<&BooleanArray>) -> Result<Vec<ArrayRef>> {
        // Every row its own group: a list of its one hash (and value), or an empty list when
        // filtered out.
        let hashes = values[0].as_fixed_size_binary();
        let included = |row: usize| opt_filter.is_none_or(|f| f.is_valid(row) && f.value(row)) && hashes.is_valid(row);
        let mut offsets = Vec::with_capacity(hashes.len() + 1);
        offsets.push(0i32);
        let mut kept = Vec::with_capacity(hashes.len());
        for row in 0..hashes.len() {
            if included(row) {
                kept.push(row as u32);
            }
            offsets.push(kept.len() as i32);
        }
        let take = arrow::array::UInt32Array::from(kept);
        let sums = self
            .sum
            .then(|| arrow::compute::take(&values[1], &take, None))
            .transpose()?;
        state_lists(offsets, arrow::compute::take(hashes, &take, None)?, sums)
    }

    fn size(&self) -> usize {
        self.seen.capacity() * size_of::<Seen>() + self.values.capacity() * size_of::<Option<i64>>() + size_of::<Self>()
    }
}

/// [`Lines`] over a single group, for the plans that ask for a plain accumulator (an aggregate
/// without `GROUP BY`, a window).
#[derive(Debug)]
struct OneGroup(Lines);

impl OneGroup {
    fn single(result: ArrayRef) -> Result<ScalarValue> {
        ScalarValue::try_from_array(&result, 0)
    }
}

impl Accumulator for OneGroup {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let groups = vec![0; values[0].len()];
        self.0.update_batch(values, &groups, None, 1)
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        self.0.groups = 1;
        Self::single(self.0.evaluate(EmitTo::All)?)
    }

    fn size(&self) -> usize {
        self.0.size()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        self.0.groups = 1;
        self.0
            .state(EmitTo::All)?
            .iter()
            .map(|column| ScalarValue::try_from_array(column, 0))
            .collect()
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let groups = vec![0; states[0].len()];
        self.0.merge_batch(states, &groups, 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::StringArray;

    fn hashes(columns: Vec<ArrayRef>) -> FixedSizeBinaryArray {
        hashes_of(columns, false)
    }

    fn hashes_of(columns: Vec<ArrayRef>, keep_nulls: bool) -> FixedSizeBinaryArray {
        let rows = columns[0].len();
        let fields = columns
            .iter()
            .map(|c| Arc::new(Field::new("c", c.data_type().clone(), true)))
            .collect();
        let args = ScalarFunctionArgs {
            args: columns.into_iter().map(ColumnarValue::Array).collect(),
            arg_fields: fields,
            number_rows: rows,
            return_field: Arc::new(Field::new("h", DataType::FixedSizeBinary(HASH_BYTES), false)),
            config_options: Arc::default(),
        };
        match RowHash::new(keep_nulls).invoke_with_args(args).expect("hashes") {
            ColumnarValue::Array(a) => a.as_fixed_size_binary().clone(),
            ColumnarValue::Scalar(_) => panic!("an array"),
        }
    }

    #[test]
    fn equal_rows_hash_alike_and_different_rows_do_not() {
        // Rows 0 and 3 are equal; the others differ from row 0 in one way each: a null for a
        // value, text moved across the column boundary, another number.
        let text_a: ArrayRef = Arc::new(StringArray::from(vec![
            Some("ab"),
            None,
            Some("a"),
            Some("ab"),
            Some("ab"),
        ]));
        let text_b: ArrayRef = Arc::new(StringArray::from(vec![
            Some("c"),
            Some("c"),
            Some("bc"),
            Some("c"),
            Some("c"),
        ]));
        let amount: ArrayRef = Arc::new(arrow::array::Float64Array::from(vec![1.5, 1.5, 1.5, 1.5, 2.5]));
        let h = hashes(vec![text_a, text_b, amount]);
        assert_eq!(h.value(0), h.value(3));
        for other in [1, 2, 4] {
            assert_ne!(h.value(0), h.value(other), "row {other}");
        }
    }

    #[test]
    fn key_hashes_are_row_hashes_that_keep_nulls() {
        let ids: ArrayRef = Arc::new(StringArray::from(vec![Some("o-1"), None, Some("o-2"), Some("o-1")]));
        let keys = hashes_of(vec![ids.clone()], true);
        let rows = hashes(vec![ids]);
        assert_eq!(keys.null_count(), 1);
        assert!(keys.is_null(1) && rows.is_valid(1));
        for i in [0, 2, 3] {
            assert_eq!(keys.value(i), rows.value(i), "row {i}");
        }
        assert_eq!(keys.value(0), keys.value(3));
        assert_ne!(keys.value(0), keys.value(2));
    }

    fn hash(n: u8) -> [u8; 16] {
        [n; 16]
    }

    fn hash_array(values: &[u8]) -> ArrayRef {
        Arc::new(FixedSizeBinaryArray::try_from_iter(values.iter().map(|&n| hash(n))).expect("hashes"))
    }

    #[test]
    fn distinct_lines_counts_each_group_and_emits_the_first_groups_apart() -> Result<()> {
        let mut lines = Lines::new(false);
        // Group 0: hashes 1, 1, 2 (two lines); group 1: 3 (one); group 2: 4, 4, 4 (one).
        lines.update_batch(&[hash_array(&[1, 3, 1, 4, 2, 4, 4])], &[0, 1, 0, 2, 0, 2, 2], None, 3)?;
        let first = lines.evaluate(EmitTo::First(1))?;
        assert_eq!(first.as_primitive::<Int64Type>().values(), &[2]);
        // The rest are renumbered from 0, and later rows land in the renumbered groups.
        lines.update_batch(&[hash_array(&[5])], &[0], None, 2)?;
        let rest = lines.evaluate(EmitTo::All)?;
        assert_eq!(rest.as_primitive::<Int64Type>().values(), &[2, 1]);
        Ok(())
    }

    #[test]
    fn distinct_sums_survive_the_partial_state_and_a_filter() -> Result<()> {
        let values: ArrayRef = Arc::new(Int64Array::from(vec![Some(10), Some(10), Some(7), None, Some(7)]));
        let filter = BooleanArray::from(vec![true, true, true, true, false]);
        // Two partial accumulators over the same two groups, merged into a final one.
        let mut left = Lines::new(true);
        left.update_batch(
            &[hash_array(&[1, 1, 2, 3, 9]), values],
            &[0, 0, 0, 1, 1],
            Some(&filter),
            2,
        )?;
        let right = Lines::new(true);
        // Equal hashes carry equal values, as equal rows do.
        let right_values: ArrayRef = Arc::new(Int64Array::from(vec![7, 10, 7, 7, 7]));
        let state_rows = right.convert_to_state(&[hash_array(&[2, 4, 9, 9, 9]), right_values], None)?;
        let mut merged = Lines::new(true);
        merged.merge_batch(&left.state(EmitTo::All)?, &[0, 1], 2)?;
        // Every converted row is its own group; send them to groups 0, 0, 1, 1, 1.
        merged.merge_batch(&state_rows, &[0, 0, 1, 1, 1], 2)?;
        let sums = merged.evaluate(EmitTo::All)?;
        let sums = sums.as_primitive::<Int64Type>();
        // Group 0: lines 1 (10) and 2 (7) from the left, 2 again and 4 (10) from the right.
        assert_eq!(sums.value(0), 27);
        // Group 1: line 3 has no value; line 9 (filtered out on the left) counts once, from the right.
        assert_eq!(sums.value(1), 7);
        let mut empty = Lines::new(true);
        empty.update_batch(
            &[hash_array(&[3]), Arc::new(Int64Array::from(vec![None::<i64>]))],
            &[0],
            None,
            1,
        )?;
        assert!(
            empty.evaluate(EmitTo::All)?.is_null(0),
            "a sum of no values is NULL, as SQL's"
        );
        Ok(())
    }
}
