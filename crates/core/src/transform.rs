//! Model inputs: a frame column and the transform applied to it before scaling.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// A monotone transform that tames a skewed feature before standardization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transform {
    /// The value as is (days, ratios).
    Identity,
    /// `ln(1 + x)`, for counts; undefined at or below -1.
    Log1p,
    /// `sign(x) * ln(1 + |x|)`, for money that can be negative (net of returns).
    SignedLog1p,
}

impl Transform {
    /// Applies the transform; `None` where it is undefined.
    pub fn apply(self, x: f64) -> Option<f64> {
        match self {
            Transform::Identity => Some(x),
            Transform::Log1p if x > -1.0 => Some(x.ln_1p()),
            Transform::Log1p => None,
            Transform::SignedLog1p => Some(x.signum() * x.abs().ln_1p()),
        }
    }

    fn name(self) -> Option<&'static str> {
        match self {
            Transform::Identity => None,
            Transform::Log1p => Some("log1p"),
            Transform::SignedLog1p => Some("signed_log1p"),
        }
    }
}

/// One model input: a column of a [`FeatureFrame`](crate::FeatureFrame) and its [`Transform`].
///
/// Written as the column name (`recency_days`), `log1p(frequency)` or
/// `signed_log1p(monetary_total)`; models store specs in this form, so a saved model names exactly
/// the inputs it needs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FeatureSpec {
    column: String,
    transform: Transform,
}

impl FeatureSpec {
    /// A spec from its parts.
    pub fn new(column: impl Into<String>, transform: Transform) -> Self {
        FeatureSpec {
            column: column.into(),
            transform,
        }
    }

    /// The frame column this input reads.
    pub fn column(&self) -> &str {
        &self.column
    }

    /// The transform applied to the column.
    pub fn transform(&self) -> Transform {
        self.transform
    }
}

impl fmt::Display for FeatureSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.transform.name() {
            None => f.write_str(&self.column),
            Some(name) => write!(f, "{name}({})", self.column),
        }
    }
}

impl FromStr for FeatureSpec {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        let bad = |reason: &str| Error::BadSpec {
            spec: text.to_string(),
            reason: reason.to_string(),
        };
        let trimmed = text.trim();
        let (transform, column) = match trimmed.split_once('(') {
            None => (Transform::Identity, trimmed),
            Some((name, rest)) => {
                let column = rest
                    .strip_suffix(')')
                    .ok_or_else(|| bad("a transform is written name(column), with a closing parenthesis"))?;
                let transform = match name.trim() {
                    "log1p" => Transform::Log1p,
                    "signed_log1p" => Transform::SignedLog1p,
                    other => {
                        return Err(bad(&format!(
                            "unknown transform {other:?}; use a column name, log1p(column) or signed_log1p(column)"
                        )))
                    }
                };
                (transform, column.trim())
            }
        };
        if column.is_empty() {
            return Err(bad("the column name is empty"));
        }
        if column.contains(['(', ')']) {
            return Err(bad(
                "transforms do not nest; use one of column, log1p(column), signed_log1p(column)",
            ));
        }
        Ok(FeatureSpec::new(column, transform))
    }
}

impl TryFrom<String> for FeatureSpec {
    type Error = Error;

    fn try_from(text: String) -> Result<Self, Error> {
        text.parse()
    }
}

impl From<FeatureSpec> for String {
    fn from(spec: FeatureSpec) -> String {
        spec.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_print_back() {
        for text in ["recency_days", "log1p(frequency)", "signed_log1p(monetary_total)"] {
            let spec: FeatureSpec = text.parse().expect("valid spec");
            assert_eq!(spec.to_string(), text);
        }
        let spaced: FeatureSpec = " log1p( frequency ) ".parse().expect("spaces are trimmed");
        assert_eq!(spaced, FeatureSpec::new("frequency", Transform::Log1p));
    }

    #[test]
    fn malformed_specs_are_rejected_with_a_reason() {
        for text in ["", "log1p()", "log(frequency)", "log1p(frequency", "log1p(log1p(x))"] {
            let err = text.parse::<FeatureSpec>().expect_err(text);
            assert!(matches!(err, Error::BadSpec { .. }), "{text}: {err}");
        }
    }

    #[test]
    fn transforms_match_their_definitions() {
        assert_eq!(Transform::Log1p.apply(0.0), Some(0.0));
        assert_eq!(Transform::Log1p.apply(std::f64::consts::E - 1.0), Some(1.0));
        assert_eq!(Transform::Log1p.apply(-1.0), None);
        assert_eq!(Transform::SignedLog1p.apply(-(std::f64::consts::E - 1.0)), Some(-1.0));
        assert_eq!(Transform::SignedLog1p.apply(0.0), Some(0.0));
        assert_eq!(Transform::Identity.apply(-5.5), Some(-5.5));
    }

    #[test]
    fn specs_serialize_as_their_text() {
        let spec = FeatureSpec::new("monetary_total", Transform::SignedLog1p);
        let json = serde_json::to_string(&spec).expect("serializes");
        assert_eq!(json, "\"signed_log1p(monetary_total)\"");
        assert_eq!(serde_json::from_str::<FeatureSpec>(&json).expect("deserializes"), spec);
        assert!(serde_json::from_str::<FeatureSpec>("\"sqrt(x)\"").is_err());
    }
}
