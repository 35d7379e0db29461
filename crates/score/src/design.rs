//! The model's design matrix: which features, how they are transformed, how nulls are filled.

use churn_core::{FeatureFrame, FeatureSpec, Numbers, Transform};
use ndarray::{Array2, ArrayViewMut1, Axis};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One model input: a transformed feature, and for a feature that can be null (an interval that
/// needs two orders), the value that fills a null and whether a 0/1 "missing" column goes with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// The feature and its transform.
    pub spec: FeatureSpec,
    /// The (transformed) value that replaces a null: the training median. `None` for an input
    /// that must not be null.
    pub fill: Option<f64>,
}

/// The v1 model inputs: log1p on counts, signed log1p on money, days as they are, and the interval
/// between orders (null for one-time buyers) filled with its median and flagged.
pub fn default_inputs() -> Vec<FeatureSpec> {
    use Transform::{Identity, Log1p, SignedLog1p};
    [
        ("recency_days", Identity),
        ("frequency", Log1p),
        ("monetary_total", SignedLog1p),
        ("monetary_avg_order", SignedLog1p),
        ("tenure_days", Identity),
        ("spend_30d", SignedLog1p),
        ("spend_90d", SignedLog1p),
        ("spend_365d", SignedLog1p),
        ("orders_90d", Log1p),
        ("avg_days_between_orders", Log1p),
        ("return_ratio", Identity),
    ]
    .into_iter()
    .map(|(c, t)| FeatureSpec::new(c, t))
    .collect()
}

/// The design: inputs in column order. An input with a fill contributes two columns, its value
/// and `missing(<column>)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Design {
    /// The inputs.
    pub inputs: Vec<Input>,
}

impl Design {
    /// Fits the fills on the training frame: an input whose column has nulls gets the median of its
    /// transformed non-null values and a missing indicator. An input that is null for every customer
    /// (the interval between orders when nobody has two) says nothing: it is left out, with a
    /// warning in the second value; if nothing is left, that is an error.
    pub fn fit(frame: &FeatureFrame, specs: &[FeatureSpec]) -> Result<(Design, Vec<String>)> {
        let mut inputs = Vec::with_capacity(specs.len());
        let mut warnings = Vec::new();
        for spec in specs {
            let values = frame.numeric_column(spec.column())?;
            let fill = if values.has_nulls() {
                let mut present = transformed(frame, spec, values)?;
                if present.is_empty() {
                    warnings.push(format!(
                        "{spec} is null for every customer of the training snapshot and was left out of the model"
                    ));
                    continue;
                }
                churn_core::median(&mut present)
            } else {
                None
            };
            inputs.push(Input {
                spec: spec.clone(),
                fill,
            });
        }
        if inputs.is_empty() {
            return Err(Error::Degenerate(format!(
                "every model input is null for every customer ({}); choose other model.features",
                specs.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
            )));
        }
        Ok((Design { inputs }, warnings))
    }

    /// Column names: each input's spec, plus `missing(<column>)` after a filled input.
    pub fn column_names(&self) -> Vec<String> {
        let mut names = Vec::new();
        for input in &self.inputs {
            names.push(input.spec.to_string());
            if input.fill.is_some() {
                names.push(format!("missing({})", input.spec.column()));
            }
        }
        names
    }

    /// For each column, the index of the input it belongs to.
    pub fn column_inputs(&self) -> Vec<usize> {
        let mut owners = Vec::new();
        for (i, input) in self.inputs.iter().enumerate() {
            owners.push(i);
            if input.fill.is_some() {
                owners.push(i);
            }
        }
        owners
    }

    /// The design matrix of `frame`: finite everywhere. A null in an input without a fill, a missing
    /// column, or a value outside a transform's domain is an error naming it (the first input's
    /// error, in input order).
    ///
    /// Blocks of rows are filled on every core, each row's columns side by side (a million
    /// customers' logs and checks for a dozen inputs were a single-threaded tenth of a second of
    /// every matrix, and a run makes several). Rows rather than columns: two threads filling
    /// neighbouring columns of the same rows wrote into the same cache lines at once, and two
    /// cores were only a third faster than one. Each value is computed as the column-by-column
    /// fill computes it; when any block meets a value it cannot use, that fill runs to find the
    /// error it reports, so errors are the same too.
    pub fn matrix(&self, frame: &FeatureFrame) -> Result<Array2<f64>> {
        const BLOCK_ROWS: usize = 16 * 1024;
        let mut x = Array2::zeros((frame.len(), self.column_names().len()));
        let blocks: Vec<(usize, ndarray::ArrayViewMut2<'_, f64>)> = x
            .axis_chunks_iter_mut(Axis(0), BLOCK_ROWS)
            .enumerate()
            .map(|(b, block)| (b * BLOCK_ROWS, block))
            .collect();
        let filled = churn_core::parallel_map_owned(blocks, |(start, block)| self.fill_rows(frame, start, block));
        if filled.into_iter().all(|ok| ok) {
            Ok(x)
        } else {
            self.matrix_by_columns(frame)
        }
    }

    /// Fills the rows of `block` (the matrix's rows from `start`); false at the first value that
    /// cannot be used (a missing column, a null without a fill, a value outside the transform's
    /// domain), leaving the block partly filled.
    fn fill_rows(&self, frame: &FeatureFrame, start: usize, mut block: ndarray::ArrayViewMut2<'_, f64>) -> bool {
        let Some(values) = self
            .inputs
            .iter()
            .map(|input| frame.numeric(input.spec.column()))
            .collect::<Option<Vec<Numbers<'_>>>>()
        else {
            return false;
        };
        for (r, mut out) in block.rows_mut().into_iter().enumerate() {
            let row = start + r;
            let mut j = 0;
            for (input, values) in self.inputs.iter().zip(&values) {
                let value = values.get(row);
                let transformed = value.and_then(|v| input.spec.transform().apply(v).filter(|t| t.is_finite()));
                match (value, transformed, input.fill) {
                    (Some(_), Some(t), None) => out[j] = t,
                    (Some(_), Some(t), Some(_)) => {
                        out[j] = t;
                        out[j + 1] = 0.0;
                    }
                    (None, _, Some(fill)) => {
                        out[j] = fill;
                        out[j + 1] = 1.0;
                    }
                    _ => return false,
                }
                j += if input.fill.is_some() { 2 } else { 1 };
            }
        }
        true
    }

    /// [`Design::matrix`] one input's columns at a time, on one thread: the reference the row
    /// blocks are held to, and the first error in input order when there is one.
    fn matrix_by_columns(&self, frame: &FeatureFrame) -> Result<Array2<f64>> {
        let mut x = Array2::zeros((frame.len(), self.column_names().len()));
        let mut columns = x.axis_iter_mut(Axis(1));
        for input in &self.inputs {
            let width = if input.fill.is_some() { 2 } else { 1 };
            self.fill_columns(input, frame, columns.by_ref().take(width).collect())?;
        }
        Ok(x)
    }

    /// Writes one input's design columns into `views`: its values, then the missing flag when it
    /// has a fill.
    fn fill_columns(&self, input: &Input, frame: &FeatureFrame, mut views: Vec<ArrayViewMut1<'_, f64>>) -> Result<()> {
        match (input.fill, views.as_mut_slice()) {
            (None, [column]) => Ok(frame.matrix_column(&input.spec, column.view_mut())?),
            (Some(fill), [filled, missing]) => {
                let values = frame.numeric_column(input.spec.column())?;
                for (row, value) in values.iter().enumerate() {
                    let (v, m) = match value {
                        Some(v) => (apply(input, v, row, frame)?, 0.0),
                        None => (fill, 1.0),
                    };
                    filled[row] = v;
                    missing[row] = m;
                }
                Ok(())
            }
            _ => Err(Error::Degenerate(format!(
                "{}: {} design columns for one input; this is a bug",
                input.spec,
                views.len()
            ))),
        }
    }
}

fn apply(input: &Input, value: f64, row: usize, frame: &FeatureFrame) -> Result<f64> {
    input
        .spec
        .transform()
        .apply(value)
        .filter(|t| t.is_finite())
        .ok_or_else(|| {
            Error::Frame(churn_core::Error::Domain {
                spec: input.spec.to_string(),
                row,
                id: frame.ids()[row].clone(),
                value,
            })
        })
}

fn transformed(frame: &FeatureFrame, spec: &FeatureSpec, values: Numbers<'_>) -> Result<Vec<f64>> {
    let probe = Input {
        spec: spec.clone(),
        fill: None,
    };
    values
        .iter()
        .enumerate()
        .filter_map(|(row, v)| v.map(|v| apply(&probe, v, row, frame)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nullable_inputs_get_the_training_median_and_a_missing_flag() -> Result<()> {
        let frame = FeatureFrame::try_new((0..4).map(|i| format!("c{i}")).collect())?
            .with_numeric("recency_days", vec![Some(1.0), Some(2.0), Some(3.0), Some(4.0)])?
            .with_numeric("gap", vec![None, Some(0.0), Some(3.0), Some(7.0)])?;
        let specs = vec![
            FeatureSpec::new("recency_days", Transform::Identity),
            FeatureSpec::new("gap", Transform::Log1p),
        ];
        let (design, warnings) = Design::fit(&frame, &specs)?;
        assert!(warnings.is_empty());
        // Median of ln 1, ln 4, ln 8 is ln 4.
        assert_eq!(design.inputs[1].fill, Some(4f64.ln()));
        assert_eq!(design.column_names(), ["recency_days", "log1p(gap)", "missing(gap)"]);
        assert_eq!(design.column_inputs(), [0, 1, 1]);
        let x = design.matrix(&frame)?;
        assert_eq!(x.row(0).to_vec(), vec![1.0, 4f64.ln(), 1.0]);
        assert_eq!(x.row(3).to_vec(), vec![4.0, 8f64.ln(), 0.0]);
        Ok(())
    }

    #[test]
    fn a_null_in_an_input_without_nulls_at_training_is_an_error() -> Result<()> {
        let train =
            FeatureFrame::try_new(vec!["a".into(), "b".into()])?.with_numeric("x", vec![Some(1.0), Some(2.0)])?;
        let (design, _) = Design::fit(&train, &[FeatureSpec::new("x", Transform::Identity)])?;
        let later = FeatureFrame::try_new(vec!["a".into(), "b".into()])?.with_numeric("x", vec![Some(1.0), None])?;
        let err = design.matrix(&later).expect_err("null");
        assert!(err.to_string().contains("row 1 (customer \"b\") is null"), "{err}");
        Ok(())
    }

    /// Several blocks of rows: the row-block fill equals the column-by-column one to the bit, and
    /// a bad value in a later block (a null without a fill, a value outside log1p's domain) is
    /// the same error as the column-by-column fill's: the first input's, at its first row.
    #[test]
    fn row_blocks_equal_the_column_fill_and_report_its_errors() -> Result<()> {
        let n = 40_000;
        let frame = |x: Vec<Option<f64>>, y: Vec<Option<f64>>| -> Result<FeatureFrame> {
            Ok(FeatureFrame::try_new((0..n).map(|i| format!("c{i}")).collect())?
                .with_numeric("x", x)?
                .with_numeric("y", y)?)
        };
        let x: Vec<Option<f64>> = (0..n).map(|i| Some((i % 97) as f64 * 1.7 - 3.0)).collect();
        let y: Vec<Option<f64>> = (0..n).map(|i| (i % 5 != 0).then_some((i % 13) as f64 * 0.3)).collect();
        let good = frame(x.clone(), y.clone())?;
        let specs = [
            FeatureSpec::new("x", Transform::SignedLog1p),
            FeatureSpec::new("y", Transform::Log1p),
        ];
        let (design, _) = Design::fit(&good, &specs)?;
        assert!(design.inputs[1].fill.is_some(), "y has nulls: filled and flagged");
        let bits = |m: &Array2<f64>| m.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&design.matrix(&good)?), bits(&design.matrix_by_columns(&good)?));

        let (mut x_null, mut y_bad) = (x.clone(), y.clone());
        x_null[35_000] = None;
        x_null[30_001] = None;
        y_bad[20_000] = Some(-2.0);
        for (bad, row) in [(frame(x_null, y.clone())?, 30_001), (frame(x.clone(), y_bad)?, 20_000)] {
            let err = design.matrix(&bad).expect_err("bad value").to_string();
            let reference = design.matrix_by_columns(&bad).expect_err("bad value").to_string();
            assert_eq!(err, reference);
            assert!(err.contains(&format!("c{row}")), "{err}");
        }
        Ok(())
    }

    #[test]
    fn an_input_that_is_always_null_is_left_out_with_a_warning() -> Result<()> {
        let frame = FeatureFrame::try_new(vec!["a".into()])?
            .with_numeric("x", vec![None])?
            .with_numeric("y", vec![Some(1.0)])?;
        let specs = [
            FeatureSpec::new("x", Transform::Identity),
            FeatureSpec::new("y", Transform::Identity),
        ];
        let (design, warnings) = Design::fit(&frame, &specs)?;
        assert_eq!(design.column_names(), ["y"]);
        assert!(warnings[0].contains("x is null for every customer"), "{warnings:?}");
        let err = Design::fit(&frame, &specs[..1]).expect_err("nothing left");
        assert!(err.to_string().contains("every model input is null"), "{err}");
        Ok(())
    }
}
