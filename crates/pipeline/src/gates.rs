//! The promotion policy: what a new churn model must show before it replaces the current one.

use churn_score::ChurnModel;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// What a new churn model must show to be promoted (`[gates]` in `churn.toml`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Gates {
    /// The smallest out-of-time ROC AUC.
    pub min_roc_auc: f64,
    /// How far below the current model's ROC AUC the new one may be.
    pub max_auc_drop: f64,
    /// The fewest churned and the fewest retained customers, in training and in the evaluation.
    pub min_per_class: u64,
    /// Exit with a distinct code when a run published with the previous model.
    pub fail_exit_code: bool,
}

impl Default for Gates {
    /// ROC AUC at least 0.6, at most 0.02 below the current model, 20 customers of each class, and a
    /// refusal does not change the exit code.
    fn default() -> Self {
        Gates {
            min_roc_auc: 0.6,
            max_auc_drop: 0.02,
            min_per_class: 20,
            fail_exit_code: false,
        }
    }
}

impl Gates {
    /// Checks that the AUC bounds are between 0 and 1.
    pub fn check(self) -> Result<Gates> {
        if !(0.0..=1.0).contains(&self.min_roc_auc) || !(0.0..=1.0).contains(&self.max_auc_drop) {
            return Err(Error::invalid(
                "gates.min_roc_auc and gates.max_auc_drop must be between 0 and 1",
            ));
        }
        Ok(self)
    }
}

/// Why a new model is not promoted.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// The model carries no evaluation.
    NotEvaluated,
    /// Its ROC AUC is below `gates.min_roc_auc`.
    WeakAuc {
        /// The new model's AUC.
        auc: f64,
        /// The bound.
        min: f64,
    },
    /// The training snapshot has too few churned or retained customers.
    FewTrainingCustomers {
        /// Churned customers.
        churned: u64,
        /// Retained customers.
        retained: u64,
        /// The bound for each.
        min: u64,
    },
    /// The evaluation snapshot has too few churned or retained customers to trust its AUC.
    FewEvaluationCustomers {
        /// Churned customers.
        churned: u64,
        /// Retained customers.
        retained: u64,
        /// The bound for each.
        min: u64,
    },
    /// The model is worse than the current one by more than `gates.max_auc_drop`.
    WorseThanCurrent {
        /// The new model's AUC.
        auc: f64,
        /// The current model's AUC.
        current: f64,
        /// The tolerated drop.
        max_drop: f64,
    },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Refusal::NotEvaluated => write!(f, "the model has no evaluation"),
            Refusal::WeakAuc { auc, min } => write!(f, "ROC AUC {auc:.4} is below gates.min_roc_auc = {min}"),
            Refusal::FewTrainingCustomers { churned, retained, min } => write!(
                f,
                "{churned} churned and {retained} retained customers: gates.min_per_class = {min} of each"
            ),
            Refusal::FewEvaluationCustomers { churned, retained, min } => write!(
                f,
                "the evaluation snapshot has {churned} churned and {retained} retained customers, too few to \
                 trust its ROC AUC: gates.min_per_class = {min} of each"
            ),
            Refusal::WorseThanCurrent { auc, current, max_drop } => write!(
                f,
                "ROC AUC {auc:.4} is more than gates.max_auc_drop = {max_drop} below the current model's {current:.4}"
            ),
        }
    }
}

/// Whether `model` may replace `current`: empty when it may, else every reason it may not.
pub fn gate(model: &ChurnModel, current: Option<&ChurnModel>, gates: &Gates) -> Vec<Refusal> {
    let mut refusals = Vec::new();
    let Some(evaluation) = &model.evaluation else {
        return vec![Refusal::NotEvaluated];
    };
    let auc = evaluation.model.roc_auc.unwrap_or(0.0);
    if auc < gates.min_roc_auc {
        refusals.push(Refusal::WeakAuc {
            auc,
            min: gates.min_roc_auc,
        });
    }
    let (churned, retained) = (
        model.training.churners,
        model.training.customers - model.training.churners,
    );
    if churned.min(retained) < gates.min_per_class {
        refusals.push(Refusal::FewTrainingCustomers {
            churned,
            retained,
            min: gates.min_per_class,
        });
    }
    // An AUC measured on a handful of churners is noise: a model is not promoted on it.
    let (churned, retained) = (
        evaluation.churners,
        evaluation.customers.saturating_sub(evaluation.churners),
    );
    if churned.min(retained) < gates.min_per_class {
        refusals.push(Refusal::FewEvaluationCustomers {
            churned,
            retained,
            min: gates.min_per_class,
        });
    }
    if let Some(current) = current
        .and_then(|c| c.evaluation.as_ref())
        .and_then(|e| e.model.roc_auc)
    {
        if auc < current - gates.max_auc_drop {
            refusals.push(Refusal::WorseThanCurrent {
                auc,
                current,
                max_drop: gates.max_auc_drop,
            });
        }
    }
    refusals
}

/// Refusals as one line: `a; b`.
pub fn joined(refusals: &[Refusal]) -> String {
    refusals.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gates() -> Gates {
        Gates::default()
    }

    fn model_with(auc: f64, customers: u64, churners: u64) -> ChurnModel {
        evaluated_on(auc, customers, churners, 50)
    }

    fn evaluated_on(auc: f64, customers: u64, churners: u64, eval_churners: u64) -> ChurnModel {
        let json = format!(
            r#"{{"format":"churn-model","version":1,"tool_version":"0","feature_set_version":"1","horizon_days":90,
            "design":[{{"spec":"recency_days","fill":null}}],"columns":["recency_days"],
            "scaler":{{"mean":[0.0],"std":[1.0]}},"coefficients":[1.0],"intercept":0.0,
            "training":{{"snapshot":null,"label_window":null,"input_fingerprint":null,"customers":{customers},
            "churners":{churners},"sample_size":{customers},"l2":1.0,"train_log_loss":0.5,"seed":42}},
            "evaluation":{{"method":"out_of_time","fit_snapshot":null,"eval_snapshot":null,"customers":100,"churners":{eval_churners},
            "model":{{"roc_auc":{auc},"pr_auc":0.5,"log_loss":0.6,"brier":0.2,"top_decile":null}},
            "recency_baseline":{{"roc_auc":0.5,"pr_auc":0.5,"log_loss":0.7,"brier":0.25,"top_decile":null}},
            "rfm_baseline":{{"roc_auc":0.5,"pr_auc":0.5,"log_loss":0.7,"brier":0.25,"top_decile":null}},
            "calibration":[]}},"warnings":[]}}"#
        );
        ChurnModel::from_json_with(&json, churn_core::SealPolicy::AcceptUnsealed).expect("model")
    }

    fn text(refusals: Vec<Refusal>) -> Vec<String> {
        refusals.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn gates_refuse_weak_models_and_models_worse_than_the_current_one() {
        let current = model_with(0.80, 1000, 400);
        assert!(gate(&model_with(0.79, 1000, 400), Some(&current), &gates()).is_empty());
        let worse = text(gate(&model_with(0.77, 1000, 400), Some(&current), &gates()));
        assert!(
            worse[0].contains("more than gates.max_auc_drop = 0.02 below the current model's 0.8000"),
            "{worse:?}"
        );
        assert!(gate(&model_with(0.77, 1000, 400), None, &gates()).is_empty());
        let weak = text(gate(&model_with(0.55, 1000, 400), None, &gates()));
        assert!(weak[0].contains("below gates.min_roc_auc"), "{weak:?}");
        let few = gate(&model_with(0.9, 1000, 5), None, &gates());
        assert_eq!(
            few,
            [Refusal::FewTrainingCustomers {
                churned: 5,
                retained: 995,
                min: 20
            }]
        );
        assert!(text(few)[0].contains("5 churned and 995 retained"));
        let noisy = text(gate(&evaluated_on(0.9, 1000, 400, 3), None, &gates()));
        assert!(
            noisy[0].contains("evaluation snapshot has 3 churned and 97 retained"),
            "{noisy:?}"
        );
        assert!(gate(&evaluated_on(0.9, 1000, 400, 20), None, &gates()).is_empty());
    }

    #[test]
    fn gate_bounds_must_be_probabilities() {
        assert!(Gates::default().check().is_ok());
        let bad = Gates {
            min_roc_auc: 1.5,
            ..Gates::default()
        };
        assert!(bad.check().is_err());
    }
}
