//! [`FeatureFrame`]: customers by features, validated once.

use std::collections::HashMap;
use std::sync::Arc;

use ndarray::{Array2, ArrayViewMut1, Axis};

use crate::error::{Error, Result};
use crate::transform::FeatureSpec;

/// One row per customer: unique ids, named numeric columns (finite or null) and named text columns.
///
/// Invariants, checked by the constructors and relied on by every model: ids are unique, every
/// column has one value per row, column names are unique, and no numeric value is NaN or infinite
/// (a missing value is `None`, never NaN).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FeatureFrame {
    // Shared, so that a frame with one more column (a baseline's input, say) or a kept copy costs
    // no copy of a million ids and values: columns are never changed in place.
    ids: Arc<Vec<String>>,
    numeric: Vec<(String, Arc<Numeric>)>,
    text: Vec<(String, Arc<Text>)>,
}

/// A numeric column as it is held: the values, and which of them are present when any is not.
///
/// Not `Vec<Option<f64>>`: an `f64` has no spare bit pattern for `None`, so that takes 16 bytes a
/// value, and the frames of a run's snapshots were its largest allocation (a third of a gigabyte
/// each at a million customers). Most feature columns have no nulls and take 8 bytes a value here.
/// An absent value's slot holds 0.0, so two equal columns compare equal.
#[derive(Debug, Clone, Default, PartialEq)]
struct Numeric {
    values: Vec<f64>,
    present: Option<Vec<bool>>,
}

impl Numeric {
    fn from_options(values: &[Option<f64>]) -> Numeric {
        let present = values
            .iter()
            .any(Option::is_none)
            .then(|| values.iter().map(Option::is_some).collect());
        Numeric {
            values: values.iter().map(|v| v.unwrap_or(0.0)).collect(),
            present,
        }
    }

    fn view(&self) -> Numbers<'_> {
        Numbers {
            values: &self.values,
            present: self.present.as_deref(),
        }
    }
}

/// A text column as it is held: each row's code into the distinct values, [`Text::NULL`] for null.
///
/// Not `Vec<Option<String>>`: the text columns of features are labels (the RFM segment) with a
/// handful of values, and a string per row was 40 bytes and an allocation for each of a million
/// customers in every snapshot's frame; a code is 4 bytes. Written here rather than with Arrow's
/// dictionary arrays because this crate holds no Arrow (see its manifest).
#[derive(Debug, Clone, Default)]
struct Text {
    codes: Vec<u32>,
    words: Arc<Vec<String>>,
}

/// Equal when the values are, however they are coded (a selection of rows keeps every word).
impl PartialEq for Text {
    fn eq(&self, other: &Text) -> bool {
        self.view() == other.view()
    }
}

impl Text {
    /// The code of a null.
    const NULL: u32 = u32::MAX;

    /// Encodes the values, each distinct one kept once, in order of first appearance.
    fn encode<'a>(column: &str, values: impl Iterator<Item = Option<&'a str>>) -> Result<Text> {
        let mut index: HashMap<&str, u32> = HashMap::new();
        let mut words: Vec<String> = Vec::new();
        let mut codes = Vec::with_capacity(values.size_hint().0);
        for value in values {
            let code = match value {
                None => Text::NULL,
                Some(word) => match index.get(word) {
                    Some(&code) => code,
                    None => {
                        let code = u32::try_from(words.len())
                            .ok()
                            .filter(|&c| c != Text::NULL)
                            .ok_or_else(|| Error::TooManyTexts {
                                column: column.to_string(),
                                max: u64::from(Text::NULL),
                            })?;
                        index.insert(word, code);
                        words.push(word.to_string());
                        code
                    }
                },
            };
            codes.push(code);
        }
        Ok(Text {
            codes,
            words: Arc::new(words),
        })
    }

    fn view(&self) -> Texts<'_> {
        Texts {
            codes: &self.codes,
            words: &self.words,
        }
    }
}

/// A text column of a [`FeatureFrame`], borrowed: a value or null per row. Two are equal when
/// their values are.
#[derive(Debug, Clone, Copy)]
pub struct Texts<'a> {
    codes: &'a [u32],
    words: &'a [String],
}

impl<'a> Texts<'a> {
    /// The number of rows.
    pub fn len(&self) -> usize {
        self.codes.len()
    }

    /// Whether the column has no rows.
    pub fn is_empty(&self) -> bool {
        self.codes.is_empty()
    }

    /// The value on `row`, `None` when it is null. Panics when `row` is out of range, as indexing
    /// a slice does.
    #[inline]
    pub fn get(&self, row: usize) -> Option<&'a str> {
        let words = self.words;
        match self.codes[row] {
            Text::NULL => None,
            code => Some(words[code as usize].as_str()),
        }
    }

    /// The values in row order, `None` for nulls.
    pub fn iter(&self) -> impl Iterator<Item = Option<&'a str>> + Clone + 'a {
        let words = self.words;
        self.codes.iter().map(move |&code| match code {
            Text::NULL => None,
            code => Some(words[code as usize].as_str()),
        })
    }

    /// The values as borrowed options.
    pub fn to_vec(&self) -> Vec<Option<&'a str>> {
        self.iter().collect()
    }
}

impl PartialEq for Texts<'_> {
    fn eq(&self, other: &Texts<'_>) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

/// A numeric column of a [`FeatureFrame`], borrowed: one finite value or null per row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Numbers<'a> {
    values: &'a [f64],
    present: Option<&'a [bool]>,
}

impl<'a> Numbers<'a> {
    /// The number of rows.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether the column has no rows.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The value on `row`, `None` when it is null. Panics when `row` is out of range, as indexing
    /// a slice does.
    #[inline]
    pub fn get(&self, row: usize) -> Option<f64> {
        let value = self.values[row];
        match self.present {
            Some(present) if !present[row] => None,
            _ => Some(value),
        }
    }

    /// The values in row order, `None` for nulls.
    pub fn iter(&self) -> impl Iterator<Item = Option<f64>> + Clone + 'a {
        let (values, present) = (self.values, self.present);
        values
            .iter()
            .enumerate()
            .map(move |(row, &v)| present.is_none_or(|p| p[row]).then_some(v))
    }

    /// Every value when none is null (a plain slice, for the loops that need speed), else `None`.
    pub fn dense(&self) -> Option<&'a [f64]> {
        self.present.is_none().then_some(self.values)
    }

    /// Whether any value is null.
    pub fn has_nulls(&self) -> bool {
        self.present.is_some_and(|p| p.contains(&false))
    }

    /// The values as owned options.
    pub fn to_vec(&self) -> Vec<Option<f64>> {
        self.iter().collect()
    }
}

impl FeatureFrame {
    /// A frame with these customer ids and no columns yet; an id that repeats is an error.
    pub fn try_new(ids: Vec<String>) -> Result<Self> {
        // Feature tables come sorted by id: strictly increasing ids are distinct, checked in one
        // pass without a million-entry map.
        if ids.windows(2).all(|w| w[0] < w[1]) {
            return Ok(FeatureFrame {
                ids: Arc::new(ids),
                ..FeatureFrame::default()
            });
        }
        let mut seen: HashMap<&str, usize> = HashMap::with_capacity(ids.len());
        for (row, id) in ids.iter().enumerate() {
            if let Some(first_row) = seen.insert(id, row) {
                return Err(Error::DuplicateId {
                    id: id.clone(),
                    first_row,
                    row,
                });
            }
        }
        Ok(FeatureFrame {
            ids: Arc::new(ids),
            ..FeatureFrame::default()
        })
    }

    fn check_new_column(&self, name: &str, len: usize) -> Result<()> {
        if self.numeric.iter().any(|(n, _)| n == name) || self.text.iter().any(|(n, _)| n == name) {
            return Err(Error::DuplicateColumn(name.to_string()));
        }
        if len != self.ids.len() {
            return Err(Error::LengthMismatch {
                column: name.to_string(),
                expected: self.ids.len(),
                found: len,
            });
        }
        Ok(())
    }

    /// Adds a numeric column; NaN or infinity anywhere is an error naming the row.
    pub fn with_numeric(self, name: &str, values: Vec<Option<f64>>) -> Result<Self> {
        self.with_numeric_column(name, Numeric::from_options(&values))
    }

    /// [`FeatureFrame::with_numeric`] from plain values and, when some are null, which are present
    /// (`present[row]`; a null's value is ignored): how an Arrow column comes in without a copy
    /// into options.
    pub fn with_numeric_values(self, name: &str, mut values: Vec<f64>, present: Option<Vec<bool>>) -> Result<Self> {
        if let Some(p) = &present {
            if p.len() != values.len() {
                return Err(Error::LengthMismatch {
                    column: name.to_string(),
                    expected: values.len(),
                    found: p.len(),
                });
            }
            values
                .iter_mut()
                .zip(p)
                .filter(|(_, &p)| !p)
                .for_each(|(v, _)| *v = 0.0);
        }
        let present = present.filter(|p| p.contains(&false));
        self.with_numeric_column(name, Numeric { values, present })
    }

    fn with_numeric_column(mut self, name: &str, column: Numeric) -> Result<Self> {
        self.check_new_column(name, column.values.len())?;
        if let Some((row, value)) = column
            .view()
            .iter()
            .enumerate()
            .find_map(|(row, v)| v.filter(|x| !x.is_finite()).map(|x| (row, x)))
        {
            return Err(Error::NotFinite {
                column: name.to_string(),
                row,
                id: self.ids[row].clone(),
                value,
            });
        }
        self.numeric.push((name.to_string(), Arc::new(column)));
        Ok(self)
    }

    /// Adds a text column.
    pub fn with_text(self, name: &str, values: Vec<Option<String>>) -> Result<Self> {
        self.with_text_values(name, values.iter().map(Option::as_deref))
    }

    /// Adds a text column from borrowed values (an Arrow column's, say): each distinct value is
    /// copied once.
    pub fn with_text_values<'a>(
        mut self,
        name: &str,
        values: impl ExactSizeIterator<Item = Option<&'a str>>,
    ) -> Result<Self> {
        self.check_new_column(name, values.len())?;
        self.text
            .push((name.to_string(), Arc::new(Text::encode(name, values)?)));
        Ok(self)
    }

    /// The frame restricted to `rows` (in the order given; each row at most once).
    pub fn select_rows(&self, rows: &[usize]) -> FeatureFrame {
        FeatureFrame {
            ids: Arc::new(rows.iter().map(|&r| self.ids[r].clone()).collect()),
            numeric: self
                .numeric
                .iter()
                .map(|(n, v)| {
                    let column = Numeric {
                        values: rows.iter().map(|&r| v.values[r]).collect(),
                        present: v.present.as_ref().map(|p| rows.iter().map(|&r| p[r]).collect()),
                    };
                    (n.clone(), Arc::new(column))
                })
                .collect(),
            text: self
                .text
                .iter()
                .map(|(n, v)| {
                    let column = Text {
                        codes: rows.iter().map(|&r| v.codes[r]).collect(),
                        words: Arc::clone(&v.words),
                    };
                    (n.clone(), Arc::new(column))
                })
                .collect(),
        }
    }

    /// The frame's customers without its columns (the ids are shared, not copied): what a caller
    /// keeps once the features are used, letting the columns go.
    pub fn ids_only(&self) -> FeatureFrame {
        FeatureFrame {
            ids: Arc::clone(&self.ids),
            ..FeatureFrame::default()
        }
    }

    /// The number of customers.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether the frame has no customers.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Customer ids, one per row.
    pub fn ids(&self) -> &[String] {
        &self.ids
    }

    /// A numeric column by name.
    pub fn numeric(&self, name: &str) -> Option<Numbers<'_>> {
        self.numeric
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, values)| values.view())
    }

    /// A text column by name.
    pub fn text(&self, name: &str) -> Option<Texts<'_>> {
        self.text
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, values)| values.view())
    }

    /// Names of the numeric columns, in the order they were added.
    pub fn numeric_names(&self) -> impl Iterator<Item = &str> {
        self.numeric.iter().map(|(n, _)| n.as_str())
    }

    /// A numeric column that must exist (nulls allowed); a missing one is an error listing the
    /// columns present.
    pub fn numeric_column(&self, name: &str) -> Result<Numbers<'_>> {
        self.numeric(name).ok_or_else(|| self.missing(name))
    }

    /// A numeric column that must exist and have no nulls, e.g. for a profile.
    pub fn required(&self, name: &str) -> Result<Vec<f64>> {
        let values = self.numeric_column(name)?;
        if let Some(dense) = values.dense() {
            return Ok(dense.to_vec());
        }
        values
            .iter()
            .enumerate()
            .map(|(row, v)| {
                v.ok_or_else(|| Error::Null {
                    column: name.to_string(),
                    row,
                    id: self.ids[row].clone(),
                })
            })
            .collect()
    }

    fn missing(&self, name: &str) -> Error {
        let available: Vec<&str> = self.numeric_names().collect();
        Error::MissingColumn {
            column: name.to_string(),
            available: available.join(", "),
        }
    }

    /// The model matrix for `specs`: one row per customer, one column per spec, transformed.
    ///
    /// Every entry of the result is finite: a missing column, a null, or a value outside a
    /// transform's domain is an error naming the spec, the row and the customer.
    pub fn matrix(&self, specs: &[FeatureSpec]) -> Result<Array2<f64>> {
        let mut x = Array2::zeros((self.len(), specs.len()));
        for (spec, column) in specs.iter().zip(x.axis_iter_mut(Axis(1))) {
            self.matrix_column(spec, column)?;
        }
        Ok(x)
    }

    /// One column of [`FeatureFrame::matrix`], written into `out` (one value per row): for a caller
    /// that fills the columns of one matrix on several threads.
    pub fn matrix_column(&self, spec: &FeatureSpec, mut out: ArrayViewMut1<'_, f64>) -> Result<()> {
        // A column without nulls is read in place; one with nulls is checked by `required`.
        let checked;
        let values = match self.numeric_column(spec.column())?.dense() {
            Some(dense) => dense,
            None => {
                checked = self.required(spec.column())?;
                &checked
            }
        };
        if out.len() != values.len() {
            return Err(Error::LengthMismatch {
                column: spec.to_string(),
                expected: values.len(),
                found: out.len(),
            });
        }
        for (row, (&value, slot)) in values.iter().zip(out.iter_mut()).enumerate() {
            *slot = spec
                .transform()
                .apply(value)
                .filter(|t| t.is_finite())
                .ok_or_else(|| Error::Domain {
                    spec: spec.to_string(),
                    row,
                    id: self.ids[row].clone(),
                    value,
                })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("c{i}")).collect()
    }

    #[test]
    fn selecting_rows_keeps_every_column_aligned() -> Result<()> {
        let frame = FeatureFrame::try_new(ids(3))?
            .with_numeric("x", vec![Some(0.0), None, Some(2.0)])?
            .with_text("t", vec![Some("a".into()), Some("b".into()), None])?;
        let picked = frame.select_rows(&[2, 0]);
        assert_eq!(picked.ids(), ["c2", "c0"]);
        assert_eq!(
            picked.numeric("x").map(|v| v.to_vec()),
            Some(vec![Some(2.0), Some(0.0)])
        );
        assert_eq!(picked.text("t").map(|t| t.to_vec()), Some(vec![None, Some("a")]));
        Ok(())
    }

    #[test]
    fn numeric_columns_keep_their_nulls_however_they_come_in() -> Result<()> {
        let frame = FeatureFrame::try_new(ids(4))?
            .with_numeric("options", vec![Some(1.5), None, Some(-0.0), None])?
            .with_numeric_values(
                "masked",
                vec![1.5, f64::NAN, -0.0, 7.0],
                Some(vec![true, false, true, false]),
            )?
            .with_numeric_values("all_present", vec![1.0, 2.0, 3.0, 4.0], Some(vec![true; 4]))?
            .with_numeric("dense", vec![Some(1.0), Some(2.0), Some(3.0), Some(4.0)])?;
        let expected = vec![Some(1.5), None, Some(-0.0), None];
        for name in ["options", "masked"] {
            let column = frame.numeric(name).expect("present");
            assert_eq!(column.to_vec(), expected, "{name}");
            assert_eq!((column.len(), column.get(1), column.get(2)), (4, None, Some(-0.0)));
            assert!(column.has_nulls() && column.dense().is_none());
        }
        // A null's value never counts: the two columns are the same column.
        assert_eq!(frame.numeric("options"), frame.numeric("masked"));
        assert_eq!(frame.numeric("all_present"), frame.numeric("dense"));
        assert_eq!(
            frame.numeric("dense").and_then(|c| c.dense()),
            Some(&[1.0, 2.0, 3.0, 4.0][..])
        );
        assert_eq!(frame.required("dense")?, [1.0, 2.0, 3.0, 4.0]);
        assert!(matches!(frame.required("masked"), Err(Error::Null { row: 1, .. })));
        // Rows picked keep their nulls.
        assert_eq!(
            frame.select_rows(&[3, 2]).numeric("masked").map(|c| c.to_vec()),
            Some(vec![None, Some(-0.0)])
        );
        // A present NaN is refused, wherever it comes from; a mask of the wrong length too.
        let bad = FeatureFrame::try_new(ids(2))?.with_numeric_values("x", vec![1.0, f64::INFINITY], None);
        assert!(matches!(bad, Err(Error::NotFinite { row: 1, .. })));
        let short = FeatureFrame::try_new(ids(2))?.with_numeric_values("x", vec![1.0, 2.0], Some(vec![true]));
        assert!(matches!(short, Err(Error::LengthMismatch { .. })));
        Ok(())
    }

    #[test]
    fn text_columns_give_back_their_values_and_nulls() -> Result<()> {
        let labels = [
            Some("Champions"),
            None,
            Some("At risk"),
            Some("Champions"),
            Some(""),
            None,
        ];
        let frame = FeatureFrame::try_new(ids(6))?.with_text("rfm", labels.map(|v| v.map(String::from)).to_vec())?;
        let text = frame.text("rfm").expect("column");
        assert_eq!(text.to_vec(), labels);
        assert_eq!((text.len(), text.get(2), text.get(5)), (6, Some("At risk"), None));
        // Each distinct value is held once.
        assert_eq!(frame.text[0].1.words.len(), 3);
        // A selection shares the values and equals the same values built afresh.
        let picked = frame.select_rows(&[3, 1, 4]);
        let afresh = FeatureFrame::try_new(["c3", "c1", "c4"].map(String::from).to_vec())?
            .with_text_values("rfm", [Some("Champions"), None, Some("")].into_iter())?;
        assert_eq!(picked.text("rfm"), afresh.text("rfm"));
        assert_eq!(
            picked.text("rfm").map(|t| t.to_vec()),
            Some(vec![Some("Champions"), None, Some("")])
        );
        assert!(Arc::ptr_eq(&picked.text[0].1.words, &frame.text[0].1.words));
        assert_eq!(picked.text[0].1, afresh.text[0].1);
        Ok(())
    }

    #[test]
    fn duplicate_ids_are_rejected_with_both_rows() {
        let err = FeatureFrame::try_new(vec!["a".into(), "b".into(), "a".into()]).expect_err("duplicate");
        assert_eq!(
            err,
            Error::DuplicateId {
                id: "a".into(),
                first_row: 0,
                row: 2
            }
        );
    }

    #[test]
    fn sorted_ids_with_a_repeat_are_rejected_too() {
        // Sorted input takes the one-pass check; a repeat in it still finds both rows.
        let err = FeatureFrame::try_new(vec!["a".into(), "b".into(), "b".into()]).expect_err("duplicate");
        assert_eq!(
            err,
            Error::DuplicateId {
                id: "b".into(),
                first_row: 1,
                row: 2
            }
        );
        assert_eq!(FeatureFrame::try_new(ids(3)).map(|f| f.len()), Ok(3));
    }

    #[test]
    fn nan_and_infinity_never_enter_a_frame() {
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let err = FeatureFrame::try_new(ids(3))
                .and_then(|f| f.with_numeric("x", vec![Some(1.0), None, Some(bad)]))
                .expect_err("not finite");
            assert!(
                matches!(&err, Error::NotFinite { column, row: 2, id, .. } if column == "x" && id == "c2"),
                "{err}"
            );
        }
    }

    #[test]
    fn columns_must_match_the_rows_and_have_unique_names() {
        let frame = FeatureFrame::try_new(ids(2)).expect("ids");
        let err = frame.clone().with_numeric("x", vec![Some(1.0)]).expect_err("short");
        assert!(matches!(
            err,
            Error::LengthMismatch {
                expected: 2,
                found: 1,
                ..
            }
        ));
        let err = frame
            .with_numeric("x", vec![Some(1.0), Some(2.0)])
            .and_then(|f| f.with_text("x", vec![None, None]))
            .expect_err("duplicate name");
        assert_eq!(err, Error::DuplicateColumn("x".into()));
    }

    #[test]
    fn matrix_names_the_missing_column_null_and_domain_errors() -> Result<()> {
        let frame = FeatureFrame::try_new(ids(2))?
            .with_numeric("frequency", vec![Some(1.0), Some(2.0)])?
            .with_numeric("gap", vec![Some(3.0), None])?
            .with_numeric("money", vec![Some(5.0), Some(-2.0)])?;
        let err = frame.matrix(&["tenure_days".parse()?]).expect_err("missing");
        assert!(err
            .to_string()
            .contains("\"tenure_days\" is missing (columns present: frequency, gap, money)"));
        let err = frame.matrix(&["gap".parse()?]).expect_err("null");
        assert_eq!(
            err,
            Error::Null {
                column: "gap".into(),
                row: 1,
                id: "c1".into()
            }
        );
        let err = frame.matrix(&["log1p(money)".parse()?]).expect_err("domain");
        assert!(matches!(err, Error::Domain { row: 1, value, .. } if value == -2.0));
        let x = frame.matrix(&["signed_log1p(money)".parse()?, "frequency".parse()?])?;
        assert_eq!(x.row(1).to_vec(), vec![-(2f64.ln_1p()), 2.0]);
        Ok(())
    }
}
