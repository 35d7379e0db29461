//! The header every saved model starts with: what it is and which version of its format.

use serde::de::DeserializeOwned;
use serde::Deserialize;

/// The `format` and `version` fields of a saved model, read before the rest so that a wrong or newer
/// file gets a message saying so rather than a list of missing fields.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ArtifactHeader {
    /// The kind of artifact, e.g. `churn-model`.
    pub format: Option<String>,
    /// Its format version.
    pub version: Option<u32>,
}

impl ArtifactHeader {
    /// Checks the header against the `format` and `version` this build reads; `kind` names the file
    /// for a person ("a churn model written by `churn train`").
    pub fn check(&self, format: &str, version: u32, kind: &str) -> Result<(), String> {
        if self.format.as_deref() != Some(format) {
            return Err(format!(
                "format is {:?}, expected {format:?}; is this {kind}?",
                self.format.clone().unwrap_or_default()
            ));
        }
        match self.version {
            Some(v) if v == version => Ok(()),
            Some(v) if v > version => Err(format!(
                "version {v} was written by a newer churn (this build reads version {version})"
            )),
            other => Err(format!("unsupported version {other:?}")),
        }
    }
}

/// Parses a saved model of `format` and `version`: the header first, so that a wrong or newer file
/// gets a message saying so rather than a list of missing fields, then the whole model. The model's
/// own invariants are the caller's to check.
pub fn parse_artifact<T: DeserializeOwned>(text: &str, format: &str, version: u32, kind: &str) -> Result<T, String> {
    let header: ArtifactHeader = serde_json::from_str(text).map_err(|e| format!("not a JSON object: {e}"))?;
    header.check(format, version, kind)?;
    serde_json::from_str(text).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(format: Option<&str>, version: Option<u32>) -> ArtifactHeader {
        ArtifactHeader {
            format: format.map(String::from),
            version,
        }
    }

    #[test]
    fn headers_name_the_wrong_format_and_a_newer_version() {
        assert_eq!(header(Some("m"), Some(1)).check("m", 1, "a model"), Ok(()));
        let wrong = header(Some("x"), Some(1)).check("m", 1, "a model").expect_err("format");
        assert_eq!(wrong, "format is \"x\", expected \"m\"; is this a model?");
        let newer = header(Some("m"), Some(3)).check("m", 1, "a model").expect_err("newer");
        assert!(newer.contains("newer churn"), "{newer}");
        assert!(header(Some("m"), None).check("m", 1, "a model").is_err());
    }

    #[test]
    fn artifacts_are_read_after_their_header() {
        #[derive(Debug, Deserialize)]
        struct Model {
            x: f64,
        }
        let model: Model =
            parse_artifact(r#"{"format": "m", "version": 1, "x": 2.5}"#, "m", 1, "a model").expect("reads");
        assert_eq!(model.x, 2.5);
        let wrong = parse_artifact::<Model>(r#"{"format": "n", "version": 1}"#, "m", 1, "a model").expect_err("format");
        assert!(wrong.contains("expected \"m\""), "{wrong}");
        let missing = parse_artifact::<Model>(r#"{"format": "m", "version": 1}"#, "m", 1, "a model").expect_err("x");
        assert!(missing.contains("missing field `x`"), "{missing}");
        assert!(parse_artifact::<Model>("[", "m", 1, "a model")
            .expect_err("json")
            .starts_with("not a JSON object"));
    }
}
