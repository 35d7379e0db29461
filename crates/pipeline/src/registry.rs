//! The models directory: saved models named by their content, and `current.json` naming the ones
//! in use.

use std::path::{Path, PathBuf};

use churn_core::SealPolicy;
use churn_features::{FEATURE_SET_VERSION, READABLE_FEATURE_SET_VERSIONS};
use churn_score::ChurnModel;
use churn_segment::SegmentModel;
use serde::{Deserialize, Serialize};

use crate::error::{io_error, Context, Error, Result};

/// The registry's file name in the models directory.
pub const REGISTRY_FILE: &str = "current.json";

/// `<models>/current.json`: which saved models score and segment.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Registry {
    /// The churn model that scores.
    pub churn: Option<String>,
    /// The segment model that assigns.
    pub segments: Option<String>,
    /// The lifetime-value model of the last run, when `[clv]` is configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clv: Option<String>,
}

impl Registry {
    /// Reads `<models>/current.json`; an empty registry when there is none yet.
    pub fn read(models_dir: &Path) -> Result<Registry> {
        let path = models_dir.join(REGISTRY_FILE);
        if !path.exists() {
            return Ok(Registry::default());
        }
        let text = std::fs::read_to_string(&path).map_err(|e| io_error("read", &path, e))?;
        serde_json::from_str(&text).context_with(|| format!("{} is not a model registry", path.display()))
    }

    /// The registry as written to disk.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self).context("cannot serialize the model registry")
    }
}

/// A short name for a model's content: the same model always gets the same file name, so that the
/// same inputs give byte-identical outputs (which name their models) run after run.
pub fn content_id(json: &str) -> String {
    blake3::hash(json.as_bytes()).to_hex()[..12].to_string()
}

/// A saved model and the file it came from (relative to the models directory when registered).
#[derive(Debug, Clone)]
pub struct Named<M> {
    /// The file name.
    pub file: String,
    /// The model.
    pub model: M,
}

/// Reads a churn model and checks it fits the features this build writes.
pub fn load_churn_model(path: &Path, seal: SealPolicy) -> Result<ChurnModel> {
    let text = std::fs::read_to_string(path).map_err(|e| io_error("read the churn model", path, e))?;
    let model = ChurnModel::from_json_with(&text, seal).context_with(|| format!("cannot use {}", path.display()))?;
    // Later versions only add columns: a model of an earlier version finds its inputs.
    if !READABLE_FEATURE_SET_VERSIONS.contains(&model.feature_set_version.as_str()) {
        return Err(Error::invalid(format!(
            "{} was trained on feature-set version {}, but this build writes version {FEATURE_SET_VERSION}; retrain it",
            path.display(),
            model.feature_set_version
        )));
    }
    Ok(model)
}

/// Reads a saved segment model.
pub fn load_segment_model(path: &Path, seal: SealPolicy) -> Result<SegmentModel> {
    let text = std::fs::read_to_string(path).map_err(|e| io_error("read the segment model", path, e))?;
    SegmentModel::from_json_with(&text, seal).context_with(|| format!("cannot use {}", path.display()))
}

/// The models the registry names, loaded from `models_dir`.
#[derive(Debug, Default)]
pub struct CurrentModels {
    /// The churn model that scores now.
    pub churn: Option<Named<ChurnModel>>,
    /// The segment model that assigns now.
    pub segments: Option<Named<SegmentModel>>,
}

impl CurrentModels {
    /// Loads the models `registry` names; `segments = false` skips the segment model (a refit).
    pub fn load(models_dir: &Path, registry: &Registry, segments: bool, seal: SealPolicy) -> Result<CurrentModels> {
        let path = |name: &str| -> PathBuf { models_dir.join(name) };
        Ok(CurrentModels {
            churn: registry
                .churn
                .as_ref()
                .map(|file| {
                    Ok::<_, Error>(Named {
                        file: file.clone(),
                        model: load_churn_model(&path(file), seal)?,
                    })
                })
                .transpose()?,
            segments: match (&registry.segments, segments) {
                (Some(file), true) => Some(Named {
                    file: file.clone(),
                    model: load_segment_model(&path(file), seal)?,
                }),
                _ => None,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_registry_is_empty_and_a_written_one_reads_back() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| io_error("create", Path::new("tempdir"), e))?;
        assert_eq!(Registry::read(dir.path())?, Registry::default());
        let registry = Registry {
            churn: Some("churn-2024-01-01-abc.json".into()),
            segments: Some("segments-2024-01-01-def.json".into()),
            clv: None,
        };
        std::fs::write(dir.path().join(REGISTRY_FILE), registry.to_json()?)
            .map_err(|e| io_error("write", dir.path(), e))?;
        assert_eq!(Registry::read(dir.path())?, registry);
        std::fs::write(dir.path().join(REGISTRY_FILE), r#"{"churn": null, "typo": 1}"#)
            .map_err(|e| io_error("write", dir.path(), e))?;
        let err = Registry::read(dir.path()).expect_err("unknown key");
        assert!(err.to_string().contains("is not a model registry"), "{err}");
        Ok(())
    }

    #[test]
    fn content_ids_follow_the_content() {
        assert_eq!(content_id("{}"), content_id("{}"));
        assert_ne!(content_id("{}"), content_id("{ }"));
        assert_eq!(content_id("{}").len(), 12);
    }
}
