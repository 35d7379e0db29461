//! The header every saved model starts with (what it is and which version of its format), and the
//! checksum that seals it.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The key under which a saved model carries the BLAKE3 hash of its own content.
pub const CHECKSUM_KEY: &str = "checksum";

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

/// The checksum of a model's JSON value (without its checksum key): BLAKE3 over the compact JSON.
/// Both sides hash a parsed value, never the file's bytes, so the file's layout does not matter,
/// only its content; floats survive the round trip exactly (serde_json's `float_roundtrip`).
fn checksum(value: &serde_json::Value) -> Result<String, String> {
    let compact = serde_json::to_vec(value).map_err(|e| e.to_string())?;
    Ok(format!("blake3:{}", blake3::hash(&compact).to_hex()))
}

/// Writes a model as pretty JSON sealed with a checksum of its content, so that a file changed or
/// corrupted after it was written (a flipped digit in a coefficient parses fine) is refused on
/// load instead of scoring customers with numbers nobody fitted.
pub fn artifact_json<T: Serialize>(model: &T) -> Result<String, String> {
    let mut value = serde_json::to_value(model).map_err(|e| e.to_string())?;
    let object = value.as_object_mut().ok_or("a model must serialize to a JSON object")?;
    if object.remove(CHECKSUM_KEY).is_some() {
        return Err(format!("a model must not have a field named {CHECKSUM_KEY:?}"));
    }
    let sum = checksum(&value)?;
    // The file keeps the struct's field order (a `Value` would sort the keys), with the checksum
    // as its first field.
    let pretty = serde_json::to_string_pretty(model).map_err(|e| e.to_string())?;
    let body = pretty
        .strip_prefix('{')
        .ok_or("a model must serialize to a JSON object")?;
    Ok(format!("{{\n  \"{CHECKSUM_KEY}\": \"{sum}\",{body}"))
}

/// Whether a saved model must carry its checksum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SealPolicy {
    /// A file without a checksum is refused: removing the key must not switch the check off.
    #[default]
    Required,
    /// A file without a checksum is read as it is (models written before checksums existed), by
    /// explicit choice; a file with one is still checked.
    AcceptUnsealed,
}

/// Parses a saved model of `format` and `version`: the header first, so that a wrong or newer file
/// gets a message saying so rather than a list of missing fields, then the checksum (required
/// unless `seal` accepts unsealed files), then the whole model. The model's own invariants are the
/// caller's to check.
pub fn parse_artifact<T: DeserializeOwned>(
    text: &str,
    format: &str,
    version: u32,
    kind: &str,
    seal: SealPolicy,
) -> Result<T, String> {
    let header: ArtifactHeader = serde_json::from_str(text).map_err(|e| format!("not a JSON object: {e}"))?;
    header.check(format, version, kind)?;
    let mut value: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let stored = value.as_object_mut().and_then(|o| o.remove(CHECKSUM_KEY));
    if stored.is_none() && seal == SealPolicy::Required {
        return Err(format!(
            "the file has no {CHECKSUM_KEY:?}, so a change to it could not be detected (it was edited, or written \
             before churn sealed its models); retrain it, or accept unsealed models explicitly (churn: \
             --accept-unsealed-models)"
        ));
    }
    if let Some(stored) = stored {
        let expected = checksum(&value)?;
        if stored.as_str() != Some(expected.as_str()) {
            return Err(format!(
                "checksum mismatch: the file was changed or corrupted after churn wrote it \
                 (its content hashes to {expected}, the file says {stored}); retrain or restore it"
            ));
        }
    }
    serde_json::from_value(value).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPEN: SealPolicy = SealPolicy::AcceptUnsealed;

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
            parse_artifact(r#"{"format": "m", "version": 1, "x": 2.5}"#, "m", 1, "a model", OPEN).expect("reads");
        assert_eq!(model.x, 2.5);
        let wrong =
            parse_artifact::<Model>(r#"{"format": "n", "version": 1}"#, "m", 1, "a model", OPEN).expect_err("format");
        assert!(wrong.contains("expected \"m\""), "{wrong}");
        let missing =
            parse_artifact::<Model>(r#"{"format": "m", "version": 1}"#, "m", 1, "a model", OPEN).expect_err("x");
        assert!(missing.contains("missing field `x`"), "{missing}");
        assert!(parse_artifact::<Model>("[", "m", 1, "a model", OPEN)
            .expect_err("json")
            .starts_with("not a JSON object"));
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Sealed {
        format: String,
        version: u32,
        w: Vec<f64>,
    }

    #[test]
    fn a_sealed_model_reads_back_and_any_changed_value_is_refused() {
        let model = Sealed {
            format: "m".into(),
            version: 1,
            w: vec![0.1, -2.5e-300, 1.0 / 3.0],
        };
        let text = artifact_json(&model).expect("writes");
        assert!(text.contains("\"checksum\": \"blake3:"), "{text}");
        assert_eq!(
            parse_artifact::<Sealed>(&text, "m", 1, "a model", SealPolicy::Required),
            Ok(model)
        );
        // Layout does not matter, content does.
        let compact: serde_json::Value = serde_json::from_str(&text).expect("json");
        let compact = serde_json::to_string(&compact).expect("compact");
        assert!(parse_artifact::<Sealed>(&compact, "m", 1, "a model", SealPolicy::Required).is_ok());
        let flipped = text.replacen("0.1", "0.2", 1);
        // Accepting unsealed files does not switch off the check of a sealed one.
        let err = parse_artifact::<Sealed>(&flipped, "m", 1, "a model", OPEN).expect_err("flipped digit");
        assert!(err.starts_with("checksum mismatch"), "{err}");
    }

    #[test]
    fn a_model_without_its_checksum_is_refused_unless_accepted() {
        let model = Sealed {
            format: "m".into(),
            version: 1,
            w: vec![1.0],
        };
        let mut value: serde_json::Value = serde_json::from_str(&artifact_json(&model).expect("writes")).expect("json");
        value.as_object_mut().expect("object").remove(CHECKSUM_KEY);
        let unsealed = serde_json::to_string(&value).expect("json");
        let err = parse_artifact::<Sealed>(&unsealed, "m", 1, "a model", SealPolicy::Required).expect_err("refused");
        assert!(err.contains("has no \"checksum\""), "{err}");
        assert_eq!(parse_artifact::<Sealed>(&unsealed, "m", 1, "a model", OPEN), Ok(model));
    }
}
