//! `churn_row_hash(...)`: a deterministic 64-bit hash of a row's values, as a DataFusion function.
//!
//! Duplicate counting groups rows by this one primitive column instead of by every column (two of
//! them strings), which DataFusion does several times faster. A hash can collide, so the hash only
//! nominates candidates: rows whose hash occurs twice or more are grouped again by their real values,
//! and that second grouping is what is counted. The count is therefore exact.

use std::sync::Arc;

use arrow::array::{ArrayRef, UInt64Array};
use arrow::datatypes::DataType;
use datafusion::common::hash_utils::{create_hashes_with_hasher, QualityRandomState};
use datafusion::error::Result;
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};

/// The SQL name of the function.
pub(crate) const NAME: &str = "churn_row_hash";

#[derive(Debug, PartialEq, Eq, Hash)]
struct RowHash {
    signature: Signature,
}

impl ScalarUDFImpl for RowHash {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::UInt64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays: Vec<ArrayRef> = ColumnarValue::values_to_arrays(&args.args)?;
        let mut hashes = vec![0u64; args.number_rows];
        // A fixed seed: the same rows hash alike in every run and on every machine.
        create_hashes_with_hasher(&arrays, &QualityRandomState::with_seed(0x5eed), &mut hashes)?;
        Ok(ColumnarValue::Array(Arc::new(UInt64Array::from(hashes))))
    }
}

/// The function, ready to register on a session.
pub(crate) fn udf() -> ScalarUDF {
    ScalarUDF::from(RowHash {
        signature: Signature::variadic_any(Volatility::Immutable),
    })
}
