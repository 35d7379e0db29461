//! Standardization: `(x - mean) / std` per column, with the population standard deviation.

use ndarray::{Array2, ArrayView2, Axis};
use serde::{Deserialize, Serialize};

/// Below this ratio of standard deviation to mean magnitude a column counts as constant. Dividing
/// by such a spread turns a later shift far smaller than any business meaning into hundreds of
/// standard deviations: a lifetime-value model fitted on a short history, for one, can give every
/// customer a P(alive) within 1e-9 of 1, and a model standardizing that spread would score a
/// customer whose P(alive) later drops to 0.5 with a logit in the millions.
pub const RELATIVE_SPREAD_FLOOR: f64 = 1e-9;

/// Per-column mean and population standard deviation (`ddof = 0`, as scikit-learn's
/// `StandardScaler`), fitted once and saved with a model so that new rows are scaled the same way.
///
/// A column whose values are all equal, or whose spread is below a billionth of its mean (a
/// [`RELATIVE_SPREAD_FLOOR`]), is *constant*: its standard deviation is taken as exactly 0, it is
/// centred but not divided (its scale is taken as 1, as scikit-learn does), and
/// [`StandardScaler::constant_columns`] names it so that a model can drop it or warn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StandardScaler {
    /// Column means.
    pub mean: Vec<f64>,
    /// Column population standard deviations (0 for a constant column).
    pub std: Vec<f64>,
}

impl StandardScaler {
    /// Fits the scaler on the rows of `x` (two passes, for accuracy on large offsets such as days).
    /// With no rows, every mean is 0 and every column constant.
    pub fn fit(x: ArrayView2<'_, f64>) -> Self {
        let n = x.nrows();
        if n == 0 {
            return StandardScaler {
                mean: vec![0.0; x.ncols()],
                std: vec![0.0; x.ncols()],
            };
        }
        let mut mean = Vec::with_capacity(x.ncols());
        let mut std = Vec::with_capacity(x.ncols());
        for column in x.axis_iter(Axis(1)) {
            let first = column[0];
            if column.iter().all(|v| *v == first) {
                // Summing equal values can round the mean off the value and leave a spread of
                // rounding noise, which standardizing would blow up to unit size. Equal is equal.
                mean.push(first);
                std.push(0.0);
                continue;
            }
            let m = column.sum() / n as f64;
            let var = column.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / n as f64;
            mean.push(m);
            let sd = var.sqrt();
            std.push(if sd <= RELATIVE_SPREAD_FLOOR * m.abs() { 0.0 } else { sd });
        }
        StandardScaler { mean, std }
    }

    /// Indices of the columns with no spread.
    pub fn constant_columns(&self) -> Vec<usize> {
        (0..self.std.len()).filter(|&j| self.std[j] == 0.0).collect()
    }

    /// The divisor used for column `j`: its standard deviation, or 1 for a constant column.
    pub fn scale(&self, j: usize) -> f64 {
        if self.std[j] > 0.0 {
            self.std[j]
        } else {
            1.0
        }
    }

    /// Standardizes one value of column `j`.
    pub fn standardize(&self, j: usize, x: f64) -> f64 {
        (x - self.mean[j]) / self.scale(j)
    }

    /// Standardizes every row of `x`, which must have the fitted number of columns.
    pub fn transform(&self, x: ArrayView2<'_, f64>) -> Array2<f64> {
        self.transform_owned(x.as_standard_layout().into_owned())
    }

    /// [`StandardScaler::transform`], in `x`'s own memory when it is in row-major order (a design
    /// matrix of a million rows need not be held twice).
    pub fn transform_owned(&self, x: Array2<f64>) -> Array2<f64> {
        let mut z = if x.is_standard_layout() {
            x
        } else {
            x.as_standard_layout().into_owned()
        };
        let params: Vec<(f64, f64)> = (0..z.ncols()).map(|j| (self.mean[j], self.scale(j))).collect();
        // Row by row, in blocks of rows over the cores (a million rows of a dozen columns is a
        // tenth of a second on one): every value gets the same subtraction and division wherever
        // it is done.
        let scale_rows = |mut block: ndarray::ArrayViewMut2<'_, f64>| {
            for mut row in block.rows_mut() {
                for (v, &(m, s)) in row.iter_mut().zip(&params) {
                    *v = (*v - m) / s;
                }
            }
        };
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        if threads <= 1 || z.nrows() < 65_536 {
            scale_rows(z.view_mut());
            return z;
        }
        let block = z.nrows().div_ceil(threads);
        std::thread::scope(|scope| {
            for rows in z.axis_chunks_iter_mut(Axis(0), block) {
                scope.spawn(|| scale_rows(rows));
            }
        });
        z
    }

    /// Whether every parameter is finite (a scaler read from a file is checked with this).
    pub fn is_finite(&self) -> bool {
        self.mean.iter().chain(&self.std).all(|v| v.is_finite()) && self.std.iter().all(|s| *s >= 0.0)
    }
}

#[cfg(test)]
mod tests {
    use ndarray::{array, ShapeBuilder as _};

    use super::*;

    #[test]
    fn transform_in_blocks_of_rows_is_each_value_scaled_alone() {
        // Past the size where the rows are split over the cores, and read through a transposed
        // (column-major) view as well as a plain one.
        let x = Array2::from_shape_fn((100_003, 3), |(i, j)| {
            ((i * 31 + j * 7) % 1_000) as f64 / 7.0 - j as f64
        });
        let scaler = StandardScaler::fit(x.view());
        let expected = Array2::from_shape_fn(x.dim(), |(i, j)| (x[[i, j]] - scaler.mean[j]) / scaler.scale(j));
        let bits = |a: &Array2<f64>| a.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&scaler.transform(x.view())), bits(&expected));
        let mut column_major = Array2::zeros(x.dim().f());
        column_major.assign(&x);
        assert!(!column_major.is_standard_layout());
        assert_eq!(bits(&scaler.transform(column_major.view())), bits(&expected));
        // In place, and from an owned column-major matrix.
        assert_eq!(bits(&scaler.transform_owned(x.clone())), bits(&expected));
        assert_eq!(bits(&scaler.transform_owned(column_major)), bits(&expected));
    }

    #[test]
    fn scaler_matches_hand_computed_mean_and_population_std() {
        // Column 0: 2, 4, 4, 4, 5, 5, 7, 9 has mean 5 and population standard deviation 2.
        let x = array![[2.0], [4.0], [4.0], [4.0], [5.0], [5.0], [7.0], [9.0]];
        let scaler = StandardScaler::fit(x.view());
        assert_eq!(scaler.mean, vec![5.0]);
        assert_eq!(scaler.std, vec![2.0]);
        let z = scaler.transform(x.view());
        assert_eq!(z[[0, 0]], -1.5);
        assert_eq!(z[[7, 0]], 2.0);
    }

    #[test]
    fn constant_columns_are_centred_not_divided() {
        // 0.1 summed three times and divided by 3 is not 0.1; the rounding must not become spread.
        let x = array![[0.1, 1.0], [0.1, 2.0], [0.1, 3.0]];
        let scaler = StandardScaler::fit(x.view());
        assert_eq!(scaler.constant_columns(), vec![0]);
        let z = scaler.transform(x.view());
        assert!(z.iter().all(|v| v.is_finite()));
        assert!(z.column(0).iter().all(|v| *v == 0.0));
    }

    #[test]
    fn a_spread_below_a_billionth_of_the_mean_is_constant() {
        // A P(alive) saturated at 1 by a model that sees no dropout: real, but no usable spread.
        let x = array![[1.0 - 1e-9, 1.0], [1.0, 2.0], [1.0 - 1e-11, 3.0], [1.0, 4.0]];
        let scaler = StandardScaler::fit(x.view());
        assert_eq!(scaler.constant_columns(), vec![0]);
        let z = scaler.transform(array![[0.5, 1.0]].view());
        assert!((z[[0, 0]] + 0.5).abs() < 1e-8, "{z:?}");
        // The same spread around 0 is a spread.
        let x = array![[-3e-9], [0.0], [1e-11]];
        assert!(StandardScaler::fit(x.view()).constant_columns().is_empty());
    }

    #[test]
    fn large_offsets_keep_their_spread() {
        // A one-pass variance (mean of squares minus square of mean) loses this spread to cancellation.
        // At 1e6 it loses about 1e-4 of the variance 2/3.
        let x = array![[1e6], [1e6 + 1.0], [1e6 + 2.0]];
        let scaler = StandardScaler::fit(x.view());
        assert_eq!(scaler.mean, vec![1e6 + 1.0]);
        assert!((scaler.std[0] - (2.0f64 / 3.0).sqrt()).abs() < 1e-9, "{scaler:?}");
    }
}
