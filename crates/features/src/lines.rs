//! Row hashes: exact duplicate rows found inside each customer's groups, not by grouping whole
//! rows, and order ids as fixed-size keys.
//!
//! Two input rows are duplicates when every column is equal. Such rows always share the compact
//! form's group key (customer, order, instant and kind), so they can be found inside those groups:
//! [`RowHash`] (`churn_row_hash(...)`) gives every row a 128-bit hash of its remaining columns, and
//! `churn_timeline` ([`crate::gather`]) counts the distinct hashes of each group (and sums the
//! cents over them, for `drop_duplicates`).
//!
//! Before, the engine grouped every row by all its columns (about ten million groups of wide
//! string keys for ten million rows, spilling under the memory pool), which was most of the cost of
//! reading the log. The functions are ordinary DataFusion functions registered with the session,
//! so the plan stays a DataFusion plan that a cluster can run.
//!
//! **Collisions.** Rows are encoded with arrow's row format (unambiguous: nulls, lengths and types
//! are part of the bytes) and hashed with 128-bit XXH3 under a fixed seed, which is portable (the
//! same bits on every machine, so executors on different hosts agree). XXH3 replaced SipHash-1-3:
//! under fixed, published keys SipHash resists no crafted input either, and hashing the 21 million
//! keys and rows of a 10.56 M-row log took a tenth of the read's CPU; with XXH3 the read is 0.1-0.3 s
//! faster and its result the same. Two different rows are taken for duplicates only
//! when they fall in the same group *and* their hashes collide: for a group of `n` rows the odds
//! are at most `n(n-1)/2 / 2^128`, about `3e-39` for a pair, and below `1e-24` even if all ten
//! million rows of a log shared one customer, order and instant.

use std::sync::Arc;

use arrow::array::{Array, FixedSizeBinaryArray};
use arrow::buffer::{Buffer, NullBuffer};
use arrow::datatypes::DataType;
use arrow::row::{RowConverter, SortField};
use datafusion::common::Result;
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};

/// The hash's seed: fixed, so a row hashes alike in every process of a run and on every host.
const SEED: u64 = 0x6368_7572_6e5f_726f;

/// Bytes of a row hash.
const HASH_BYTES: i32 = 16;

/// The functions of this module, to register with a session.
pub(crate) fn functions() -> [ScalarUDF; 2] {
    [
        ScalarUDF::from(RowHash::new(false)),
        ScalarUDF::from(RowHash::new(true)),
    ]
}

/// `churn_row_hash(a, b, ...)`: the 128-bit XXH3 of the row `(a, b, ...)` in arrow's row format,
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
            bytes.extend_from_slice(&twox_hash::XxHash3_128::oneshot_with_seed(SEED, row.as_ref()).to_le_bytes());
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

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{ArrayRef, AsArray, StringArray};
    use arrow::datatypes::Field;

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
}
