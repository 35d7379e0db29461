//! `uplift.csv`: what each earlier list earned, measured against its control group.
//!
//! A published run with a holdout sent its `at_risk.csv` to the CRM (the treatment) and kept its
//! `holdout.csv` back (the control), both drawn from one ranking. Once that run's window
//! `[as_of, as_of + H)` has ended on or before tonight's as-of, tonight's single read of the log
//! says who of either group bought in the window and what they spent there; the difference,
//! per recommended action and segment and in total, is the uplift ([`churn_score::uplift`]).
//!
//! **Nothing reads at or after tonight's as-of**: only windows that end by then are measured, and
//! a window reads no row at or after its end.
//!
//! **Each window is measured once.** The first night after a window ends measures it; later nights
//! carry its rows over from the previous run's `uplift.csv` unchanged (a year of nightly runs would
//! otherwise read a year of lists every night). A run whose rows cannot be carried (the previous
//! `uplift.csv` is missing or damaged) is measured again. One run per as-of date is measured: the
//! latest, as in `history.csv`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use chrono::{Duration, NaiveDate};
use churn_features::{Activity, TransactionLog};
use churn_score::uplift::{estimate, GroupOutcomes, Interval, UpliftEstimate};
use churn_score::{escape_formula, unescape_formula as unescape};

use crate::error::{Context, Error, Result};

/// The file in each run.
pub const UPLIFT_FILE: &str = "uplift.csv";

/// The label of a row over every action or every segment.
pub const ALL: &str = "all";

/// `uplift.csv`'s columns, in order.
pub const UPLIFT_COLUMNS: [&str; 19] = [
    "measured_run",
    "as_of",
    "window_end",
    "action",
    "segment",
    "treatment_customers",
    "control_customers",
    "treatment_retained",
    "control_retained",
    "retained_uplift",
    "retained_uplift_low",
    "retained_uplift_high",
    "treatment_revenue_per_customer",
    "control_revenue_per_customer",
    "revenue_uplift_per_customer",
    "revenue_uplift_low",
    "revenue_uplift_high",
    "incremental_revenue",
    "note",
];

/// An earlier run whose window has ended.
#[derive(Debug, Clone, PartialEq)]
pub struct MeasurableRun {
    /// Its run id.
    pub run_id: String,
    /// Its directory.
    pub dir: PathBuf,
    /// Its as-of date, the window's first day.
    pub as_of: NaiveDate,
    /// The day after the window: `as_of + H`.
    pub window_end: NaiveDate,
}

/// The published runs under `runs_dir` with a holdout whose window ends on or before `tonight`:
/// one per as-of date (the latest run id), by date. A run whose manifest cannot be read is left
/// out with a warning, as the history does.
pub fn measurable_runs(runs_dir: &Path, tonight: NaiveDate) -> Result<Vec<MeasurableRun>> {
    let mut runs: BTreeMap<NaiveDate, (String, MeasurableRun)> = BTreeMap::new();
    for (dir, manifest) in crate::history::published(runs_dir, "uplift")? {
        if manifest.holdout.is_none() {
            continue;
        }
        let Ok(as_of) = manifest.as_of.parse::<NaiveDate>() else {
            tracing::warn!(
                "uplift leaves out {}: as_of {:?} is not a date",
                dir.display(),
                manifest.as_of
            );
            continue;
        };
        let window_end = as_of + Duration::days(manifest.horizon_days);
        if window_end > tonight {
            continue;
        }
        let run = MeasurableRun {
            run_id: manifest.run_id.clone(),
            dir,
            as_of,
            window_end,
        };
        match runs.get(&as_of) {
            Some((id, _)) if *id >= manifest.run_id => {}
            _ => {
                runs.insert(as_of, (manifest.run_id, run));
            }
        }
    }
    Ok(runs.into_values().map(|(_, run)| run).collect())
}

/// One row of `uplift.csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct UpliftRow {
    /// The run whose list is measured.
    pub measured_run: String,
    /// Its as-of date.
    pub as_of: NaiveDate,
    /// The day after its window.
    pub window_end: NaiveDate,
    /// The recommended action, or [`ALL`].
    pub action: String,
    /// The segment, or [`ALL`].
    pub segment: String,
    /// Treatment customers.
    pub treatment_customers: u64,
    /// Control customers.
    pub control_customers: u64,
    /// Treatment customers who bought in the window.
    pub treatment_retained: u64,
    /// Control customers who bought in the window.
    pub control_retained: u64,
    /// Retention difference.
    pub retained_uplift: Option<f64>,
    /// Its 95 % interval.
    pub retained_interval: Option<Interval>,
    /// Net spend per treatment customer in the window.
    pub treatment_revenue: Option<f64>,
    /// Net spend per control customer in the window.
    pub control_revenue: Option<f64>,
    /// Revenue difference per customer.
    pub revenue_uplift: Option<f64>,
    /// Its 95 % interval.
    pub revenue_interval: Option<Interval>,
    /// Revenue difference per customer times treatment customers.
    pub incremental_revenue: Option<f64>,
    /// Why an interval is missing.
    pub note: String,
}

impl UpliftRow {
    fn new(run: &MeasurableRun, action: &str, segment: &str, e: &UpliftEstimate) -> Self {
        UpliftRow {
            measured_run: run.run_id.clone(),
            as_of: run.as_of,
            window_end: run.window_end,
            action: action.to_string(),
            segment: segment.to_string(),
            treatment_customers: e.treatment.customers(),
            control_customers: e.control.customers(),
            treatment_retained: e.treatment.retained(),
            control_retained: e.control.retained(),
            retained_uplift: e.retained_uplift,
            retained_interval: e.retained_interval,
            treatment_revenue: e.treatment.mean_revenue(),
            control_revenue: e.control.mean_revenue(),
            revenue_uplift: e.revenue_uplift_per_customer,
            revenue_interval: e.revenue_interval,
            incremental_revenue: e.incremental_revenue,
            note: e.note.clone().unwrap_or_default(),
        }
    }

    /// Whether this is a run's row over every action and segment.
    pub fn is_total(&self) -> bool {
        self.action == ALL && self.segment == ALL
    }

    fn record(&self) -> Vec<String> {
        let share = |v: Option<f64>| v.map_or(String::new(), |v| format!("{:.6}", v + 0.0));
        let money = |v: Option<f64>| v.map_or(String::new(), |v| format!("{:.2}", v + 0.0));
        vec![
            self.measured_run.clone(),
            self.as_of.to_string(),
            self.window_end.to_string(),
            escape_formula(&self.action).into_owned(),
            escape_formula(&self.segment).into_owned(),
            self.treatment_customers.to_string(),
            self.control_customers.to_string(),
            self.treatment_retained.to_string(),
            self.control_retained.to_string(),
            share(self.retained_uplift),
            share(self.retained_interval.map(|i| i.low)),
            share(self.retained_interval.map(|i| i.high)),
            money(self.treatment_revenue),
            money(self.control_revenue),
            money(self.revenue_uplift),
            money(self.revenue_interval.map(|i| i.low)),
            money(self.revenue_interval.map(|i| i.high)),
            money(self.incremental_revenue),
            self.note.clone(),
        ]
    }

    fn from_record(record: &csv::StringRecord) -> std::result::Result<Self, String> {
        if record.len() != UPLIFT_COLUMNS.len() {
            return Err(format!("{} fields, expected {}", record.len(), UPLIFT_COLUMNS.len()));
        }
        let field = |i: usize| &record[i];
        let date = |i: usize| {
            field(i)
                .parse::<NaiveDate>()
                .map_err(|_| format!("{} {:?} is not a date", UPLIFT_COLUMNS[i], field(i)))
        };
        let count = |i: usize| {
            field(i)
                .parse::<u64>()
                .map_err(|_| format!("{} {:?} is not a count", UPLIFT_COLUMNS[i], field(i)))
        };
        let number = |i: usize| match field(i) {
            "" => Ok(None),
            text => text
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .map(Some)
                .ok_or_else(|| format!("{} {text:?} is not a number", UPLIFT_COLUMNS[i])),
        };
        let interval = |low: usize| -> std::result::Result<Option<Interval>, String> {
            Ok(match (number(low)?, number(low + 1)?) {
                (Some(low), Some(high)) => Some(Interval { low, high }),
                _ => None,
            })
        };
        Ok(UpliftRow {
            measured_run: field(0).to_string(),
            as_of: date(1)?,
            window_end: date(2)?,
            action: unescape(field(3)).to_string(),
            segment: unescape(field(4)).to_string(),
            treatment_customers: count(5)?,
            control_customers: count(6)?,
            treatment_retained: count(7)?,
            control_retained: count(8)?,
            retained_uplift: number(9)?,
            retained_interval: interval(10)?,
            treatment_revenue: number(12)?,
            control_revenue: number(13)?,
            revenue_uplift: number(14)?,
            revenue_interval: interval(15)?,
            incremental_revenue: number(17)?,
            note: field(18).to_string(),
        })
    }
}

/// Tonight's uplift: every row, and what was measured, carried and left out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Uplift {
    /// The rows, by measured run's date, then action and segment (totals first).
    pub rows: Vec<UpliftRow>,
    /// Runs measured tonight.
    pub measured: Vec<String>,
    /// Runs whose rows came from the previous run's `uplift.csv`.
    pub carried: Vec<String>,
    /// Runs that could not be measured, with why.
    pub skipped: Vec<String>,
}

impl Uplift {
    /// The total row of the latest measured run.
    pub fn latest_total(&self) -> Option<&UpliftRow> {
        self.rows.iter().rev().find(|r| r.is_total())
    }

    /// The measured retention uplift of each (action, segment) whose interval excludes zero, the
    /// latest measurement of each: what the ranking by expected gain uses instead of the prior.
    pub fn measured_uplift(&self) -> churn_score::gain::MeasuredUplift {
        let mut measured = churn_score::gain::MeasuredUplift::default();
        // Rows are in the order of their runs' dates: a later run's measurement replaces an older one.
        for row in self.rows.iter().filter(|r| r.action != ALL && r.segment != ALL) {
            if let (Some(uplift), Some(interval)) = (row.retained_uplift, row.retained_interval) {
                if interval.excludes_zero() {
                    measured.insert(&row.action, &row.segment, uplift);
                }
            }
        }
        measured
    }

    /// `uplift.csv`'s bytes.
    pub fn to_csv(&self) -> Result<Vec<u8>> {
        let mut w = csv::WriterBuilder::new()
            .terminator(csv::Terminator::Any(b'\n'))
            .from_writer(Vec::new());
        let csv_error = |e: csv::Error| Error::invalid(format!("cannot write {UPLIFT_FILE}: {e}"));
        w.write_record(UPLIFT_COLUMNS).map_err(csv_error)?;
        for row in &self.rows {
            w.write_record(row.record()).map_err(csv_error)?;
        }
        w.into_inner()
            .map_err(|e| Error::invalid(format!("cannot write {UPLIFT_FILE}: {}", e.error())))
    }
}

/// Reads the rows of an `uplift.csv`.
pub fn read_uplift(path: &Path) -> Result<Vec<UpliftRow>> {
    let mut reader =
        csv::Reader::from_path(path).map_err(|e| Error::invalid(format!("cannot read {}: {e}", path.display())))?;
    let headers = reader
        .headers()
        .map_err(|e| Error::invalid(format!("cannot read {}: {e}", path.display())))?
        .clone();
    if headers.iter().ne(UPLIFT_COLUMNS) {
        return Err(Error::invalid(format!(
            "{} does not have the columns of {UPLIFT_FILE}",
            path.display()
        )));
    }
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        let record = record.map_err(|e| Error::invalid(format!("{} line {line}: {e}", path.display())))?;
        rows.push(
            UpliftRow::from_record(&record)
                .map_err(|e| Error::invalid(format!("{} line {line}: {e}", path.display())))?,
        );
    }
    Ok(rows)
}

/// One customer of a list: id, recommended action and segment.
struct Listed {
    customer_id: String,
    action: String,
    segment: String,
}

/// The customers of an `at_risk.csv` or `holdout.csv`, by their column names (any column-set
/// version).
fn read_list(path: &Path) -> Result<Vec<Listed>> {
    let fail = |e: &dyn std::fmt::Display| Error::invalid(format!("cannot read {}: {e}", path.display()));
    let mut reader = csv::Reader::from_path(path).map_err(|e| fail(&e))?;
    let headers = reader.headers().map_err(|e| fail(&e))?.clone();
    let index = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| Error::invalid(format!("{} has no column {name}", path.display())))
    };
    let (id, action, segment) = (index("customer_id")?, index("recommended_action")?, index("segment")?);
    let mut list = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| Error::invalid(format!("{} line {}: {e}", path.display(), i + 2)))?;
        let cell = |c: usize| unescape(record.get(c).unwrap_or("")).to_string();
        list.push(Listed {
            customer_id: cell(id),
            action: cell(action),
            segment: cell(segment),
        });
    }
    Ok(list)
}

/// Measures one run's list against its control group over its window (see the module docs).
pub fn measure_run(run: &MeasurableRun, activity: &Activity) -> Result<Vec<UpliftRow>> {
    let treated = read_list(&run.dir.join("at_risk.csv"))?;
    let control = read_list(&run.dir.join("holdout.csv"))?;
    // (action, segment) -> (treatment, control); `all` rows are sums of the cells.
    let mut cells: BTreeMap<(String, String), [GroupOutcomes; 2]> = BTreeMap::new();
    for (group, list) in [(0, &treated), (1, &control)] {
        for c in list {
            // A customer the log no longer has bought nothing in the window.
            let (orders, cents) = activity.get(&c.customer_id).unwrap_or((0, 0));
            let (retained, revenue) = (orders > 0, cents as f64 / 100.0);
            for key in [
                (c.action.clone(), c.segment.clone()),
                (c.action.clone(), ALL.to_string()),
                (ALL.to_string(), c.segment.clone()),
                (ALL.to_string(), ALL.to_string()),
            ] {
                cells.entry(key).or_default()[group].add(retained, revenue);
            }
        }
    }
    cells.entry((ALL.to_string(), ALL.to_string())).or_default();
    // The total first, then each action (its `all` row first), then each segment over all actions.
    let mut keys: Vec<&(String, String)> = cells.keys().collect();
    keys.sort_by_key(|(action, segment)| {
        let group = match (action == ALL, segment == ALL) {
            (true, true) => 0,
            (false, _) => 1,
            (true, false) => 2,
        };
        (group, action, segment != ALL, segment)
    });
    Ok(keys
        .into_iter()
        .map(|key| {
            let [t, c] = &cells[key];
            UpliftRow::new(run, &key.0, &key.1, &estimate(t, c))
        })
        .collect())
}

/// Tonight's uplift (see the module docs): every measurable run under `runs_dir`, carried over
/// from `previous` (the previous run's directory) or measured from `log`.
pub fn measure(runs_dir: &Path, previous: Option<&Path>, tonight: NaiveDate, log: &TransactionLog) -> Result<Uplift> {
    let runs = measurable_runs(runs_dir, tonight)?;
    let mut uplift = Uplift::default();
    if runs.is_empty() {
        return Ok(uplift);
    }
    let carried_rows: Vec<UpliftRow> = match previous.map(|p| p.join(UPLIFT_FILE)).filter(|p| p.exists()) {
        Some(path) => read_uplift(&path).unwrap_or_else(|e| {
            tracing::warn!("the uplift of earlier runs is measured again: {e}");
            Vec::new()
        }),
        None => Vec::new(),
    };
    let carried_runs: BTreeSet<&str> = carried_rows.iter().map(|r| r.measured_run.as_str()).collect();
    for run in &runs {
        if carried_runs.contains(run.run_id.as_str()) {
            uplift
                .rows
                .extend(carried_rows.iter().filter(|r| r.measured_run == run.run_id).cloned());
            uplift.carried.push(run.run_id.clone());
            continue;
        }
        let activity = log
            .activity(run.as_of, run.window_end)
            .context_with(|| format!("cannot measure the window of run {}", run.run_id))?;
        if !activity.covers_window() {
            let why = format!(
                "run {} (as of {}): tonight's input starts after its window's first day",
                run.run_id, run.as_of
            );
            tracing::warn!("uplift leaves out {why}");
            uplift.skipped.push(why);
            continue;
        }
        match measure_run(run, &activity) {
            Ok(rows) => {
                uplift.rows.extend(rows);
                uplift.measured.push(run.run_id.clone());
            }
            Err(e) => {
                let why = format!("run {} (as of {}): {e}", run.run_id, run.as_of);
                tracing::warn!("uplift leaves out {why}");
                uplift.skipped.push(why);
            }
        }
    }
    Ok(uplift)
}
