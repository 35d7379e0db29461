//! The nightly pipeline in process, on generated data: no binary, no publishing.

use std::path::Path;

use chrono::NaiveDate;
use churn_core::Column;
use churn_features::generate::{generate, GenerateParams};
use churn_features::read_table;
use churn_features::{ColumnMapping, FeatureParams, InputSpec};
use churn_pipeline::changes::ChangeKind;
use churn_pipeline::manifest::{Manifest, ValueBasis};
use churn_pipeline::nightly::{self, Nightly, RunRecord};
use churn_pipeline::registry::{Registry, REGISTRY_FILE};
use churn_pipeline::{Gates, NightlyPlan, Progress, ScorePlan, TrainPlan};
use churn_score::{default_actions, ModelParams, RiskBands};
use churn_segment::{KChoice, SegmentParams};

type Result<T = (), E = Box<dyn std::error::Error>> = std::result::Result<T, E>;

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("date")
}

/// 1,500 generated customers over two years, as CSV.
fn transactions(dir: &Path) -> Result<String> {
    let mut params = GenerateParams::new(1_500, 7, date(2022, 1, 1), date(2024, 1, 1));
    params.format = churn_features::generate::OutputFormat::Csv;
    let report = generate(&params, dir, &mut |_| {})?;
    Ok(report.transactions.display().to_string())
}

fn plan(transactions: String, dir: &Path, as_of: NaiveDate) -> Result<NightlyPlan> {
    Ok(NightlyPlan {
        train: TrainPlan {
            input: InputSpec {
                transactions,
                columns: ColumnMapping {
                    timestamp: "ts".into(),
                    order_id: Some("order_id".into()),
                    ..ColumnMapping::default()
                },
                ..InputSpec::default()
            },
            features: FeatureParams {
                as_of: Some(as_of),
                ..FeatureParams::default()
            },
            horizon_days: 90,
            model: ModelParams::default().check()?,
            active_within_days: None,
            explicit_labels: None,
            clv_features: None,
        },
        segments: SegmentParams::new(KChoice::Fixed(4)).check()?,
        refit_segments: false,
        score: ScorePlan {
            bands: RiskBands::default(),
            top: None,
            actions: default_actions(),
            holdout: None,
            budget: None,
        },
        gates: Gates::default(),
        clv: None,
        models_dir: dir.join("models"),
        output_dir: dir.join("output"),
        previous_run: None,
        seal: churn_core::SealPolicy::Required,
    })
}

/// Saves a night's models and registry the way `churn run` does.
fn save_models(night: &Nightly, models_dir: &Path) -> Result {
    std::fs::create_dir_all(models_dir)?;
    let (models, registry) = night.models()?;
    for (file, json) in models {
        std::fs::write(models_dir.join(file), json)?;
    }
    std::fs::write(models_dir.join(REGISTRY_FILE), registry.to_json()?)?;
    Ok(())
}

/// Records the stages it is told about.
#[derive(Default)]
struct Recorder(std::sync::Mutex<Vec<String>>);

impl Progress for Recorder {
    fn begin(&self, stage: &str) {
        self.0.lock().expect("lock").push(stage.to_string());
    }
    fn finish(&self) {}
}

#[test]
fn two_nights_fit_then_assign_and_the_manifest_round_trips() -> Result {
    let dir = tempfile::tempdir()?;
    let tx = transactions(dir.path())?;
    let first_plan = plan(tx.clone(), dir.path(), date(2023, 12, 1))?;
    let progress = Recorder::default();
    let first = nightly::run(&first_plan, &progress)?;
    let stages = progress.0.lock().expect("lock").clone();
    assert!(
        stages.iter().any(|s| s.ends_with("; segmenting customers")),
        "{stages:?}"
    );
    assert!(stages
        .iter()
        .any(|s| s.starts_with("computing features for the as-of date and the earlier snapshots")));

    // First night: segments fitted, the model promoted (there is no current one to compare with).
    assert!(first.segments.refitted);
    assert_eq!(first.segments.model.k(), 4);
    assert!(first.promotion.promoted(), "{:?}", first.promotion.refusals);
    assert_eq!(first.promotion.scoring_file, first.promotion.trained_file);
    assert!(first.scores.changes.is_empty());

    // The at-risk list holds exactly the customers outside the low band, with their value.
    let run_dir = dir.path().join("night-1");
    std::fs::create_dir_all(&run_dir)?;
    let outputs = first.write_outputs(&run_dir)?;
    let mut listed: Vec<String> = csv::Reader::from_path(run_dir.join("at_risk.csv"))?
        .records()
        .map(|r| r.map(|r| r[0].to_string()))
        .collect::<Result<_, _>>()?;
    listed.sort();
    let scores = read_table(&run_dir.join("scores.parquet"))?;
    let column = |name: &str| match scores.columns().iter().find(|(n, _)| n == name) {
        Some((_, Column::Text(v))) => v.clone(),
        _ => panic!("no text column {name}"),
    };
    let (ids, bands) = (column("customer_id"), column("risk_band"));
    let mut banded: Vec<String> = ids
        .into_iter()
        .zip(bands)
        .filter(|(_, band)| band != "low")
        .map(|(id, _)| id)
        .collect();
    banded.sort();
    assert_eq!(listed, banded);
    assert_eq!(listed.len(), first.scores.at_risk);
    assert!(first.scores.at_risk > 0 && first.scores.at_risk < first.trained.frame_s.len());
    for name in [
        "features.parquet",
        "scores.parquet",
        "segments.parquet",
        "at_risk.csv",
        "changes.csv",
    ] {
        let entry = outputs.get(name).ok_or(name)?;
        assert_eq!(entry.bytes, std::fs::metadata(run_dir.join(name))?.len(), "{name}");
    }

    // The manifest says what happened and reads back as it was written.
    let manifest = first.manifest(
        &first_plan,
        RunRecord {
            run_id: "test".into(),
            inputs: nightly::hash_inputs(&tx)?.files,
            outputs,
        },
    );
    assert_eq!(manifest.customers, first.trained.frame_s.len());
    assert_eq!(manifest.at_risk.value_basis, ValueBasis::Spend365d);
    assert_eq!(manifest.model.training_snapshot, "2023-09-02");
    assert_eq!(manifest.inputs.len(), 1);
    // The end-of-run hash of the input is the fingerprint the features were computed with.
    let hashes = nightly::hash_inputs(&tx)?;
    assert_eq!(hashes.fingerprint, first.trained.at_s.fingerprint);
    assert_eq!(hashes.files[0].hash, nightly::hash_file(Path::new(&tx))?.0);
    std::fs::write(run_dir.join("manifest.json"), manifest.to_json()?)?;
    assert_eq!(Manifest::read(&run_dir)?, manifest);

    // Second night, a month later: the saved segment model assigns (ids stay stable) and the
    // changes against the first night are listed.
    save_models(&first, &first_plan.models_dir)?;
    let mut second_plan = plan(tx, dir.path(), date(2024, 1, 1))?;
    second_plan.previous_run = Some(run_dir);
    let second = nightly::run(&second_plan, &churn_pipeline::Silent)?;
    assert!(!second.segments.refitted);
    assert_eq!(second.segments.file, first.segments.file);
    assert!(!second.scores.changes.is_empty());
    assert!(second.scores.changes.iter().all(|c| !c.customer_id.is_empty()));
    let kinds = |kind: ChangeKind| second.scores.changes.iter().filter(|c| c.kind == kind).count();
    assert!(kinds(ChangeKind::EnteredAtRisk) + kinds(ChangeKind::LeftAtRisk) > 0);
    let registry = Registry::read(&second_plan.models_dir)?;
    assert_eq!(registry.segments.as_deref(), Some(first.segments.file.as_str()));
    Ok(())
}

#[test]
fn a_model_that_fails_its_gates_with_no_current_model_is_an_error() -> Result {
    let dir = tempfile::tempdir()?;
    let tx = transactions(dir.path())?;
    let mut plan = plan(tx, dir.path(), date(2024, 1, 1))?;
    plan.gates.min_roc_auc = 0.999;
    let err = nightly::run(&plan, &churn_pipeline::Silent).expect_err("gated");
    let text = err.to_string();
    assert!(text.contains("below gates.min_roc_auc = 0.999"), "{text}");
    assert!(text.contains("there is no current model to score with"), "{text}");
    Ok(())
}

#[test]
fn a_broken_registry_fails_before_any_work() -> Result {
    let dir = tempfile::tempdir()?;
    let plan = plan("/nonexistent/transactions.csv".into(), dir.path(), date(2024, 1, 1))?;
    std::fs::create_dir_all(&plan.models_dir)?;
    std::fs::write(plan.models_dir.join(REGISTRY_FILE), "{\"churn\": \"gone.json\"}")?;
    let err = nightly::run(&plan, &churn_pipeline::Silent).expect_err("missing model");
    // The registry's model is the first thing read, before the (missing) transactions.
    assert!(err.to_string().contains("gone.json"), "{err}");
    Ok(())
}
