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
    /// Each input's columns are computed on their own, on every core (a million customers' logs
    /// and checks for a dozen inputs were a single-threaded half second of every scoring), then
    /// laid out row by row.
    pub fn matrix(&self, frame: &FeatureFrame) -> Result<Array2<f64>> {
        let mut x = Array2::zeros((frame.len(), self.column_names().len()));
        // Each input's columns of `x` (one, or two with a fill), as disjoint views.
        let mut columns = x.axis_iter_mut(Axis(1));
        let jobs: Vec<(&Input, Vec<ArrayViewMut1<'_, f64>>)> = self
            .inputs
            .iter()
            .map(|input| {
                let width = if input.fill.is_some() { 2 } else { 1 };
                (input, columns.by_ref().take(width).collect())
            })
            .collect();
        // Inputs share the cores; the first error in input order wins.
        let results = churn_core::parallel_map_owned(jobs, |(input, views)| self.fill_columns(input, frame, views));
        results.into_iter().collect::<Result<()>>()?;
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
