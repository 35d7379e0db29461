//! Scoring: probabilities, risk bands, value at risk, reasons in plain words, recommended actions.

use std::fmt::Write as _;

use chrono::NaiveDate;
use churn_core::format::write_fixed;
use churn_core::{FeatureFrame, Numbers};
use rayon::iter::{IndexedParallelIterator as _, IntoParallelIterator as _, ParallelIterator as _};
use rayon::slice::ParallelSliceMut as _;
use serde::{Deserialize, Serialize};

use crate::error::{Error, ParamError, Result};
use crate::model::ChurnModel;
use crate::reasons::ReasonList;
use crate::rhythm::Outlook;

/// A customer's risk band. Serialized (and written to files) in lower case: `high`, `medium`, `low`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RiskBand {
    /// The highest risk: contacted first.
    High,
    /// At risk, after `high`.
    Medium,
    /// Not at risk: not on the at-risk list.
    Low,
}

impl RiskBand {
    /// Every band, highest first.
    pub const ALL: [RiskBand; 3] = [RiskBand::High, RiskBand::Medium, RiskBand::Low];

    /// The band's name as written to files: `high`, `medium` or `low`.
    pub fn as_str(self) -> &'static str {
        match self {
            RiskBand::High => "high",
            RiskBand::Medium => "medium",
            RiskBand::Low => "low",
        }
    }

    /// Whether customers in this band are on the at-risk list (`medium` and `high`).
    pub fn is_at_risk(self) -> bool {
        self != RiskBand::Low
    }
}

impl std::fmt::Display for RiskBand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for RiskBand {
    type Err = ParamError;

    fn from_str(text: &str) -> Result<Self, ParamError> {
        RiskBand::ALL
            .into_iter()
            .find(|b| b.as_str() == text)
            .ok_or_else(|| ParamError::UnknownBand(text.to_string()))
    }
}

/// How customers are put into risk bands.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case", deny_unknown_fields)]
pub enum RiskBands {
    /// `high` at or above `high`, `medium` at or above `medium`, else `low`.
    Probability {
        /// Lower probability bound of `medium`.
        medium: f64,
        /// Lower probability bound of `high`.
        high: f64,
    },
    /// The top `high` share of customers by probability is `high`, the next up to `medium` (a
    /// cumulative share) is `medium`, the rest `low`.
    TopShare {
        /// Cumulative share of customers in `high` or `medium`.
        medium: f64,
        /// Share of customers in `high`.
        high: f64,
    },
}

impl Default for RiskBands {
    /// `high` from probability 0.7, `medium` from 0.4.
    fn default() -> Self {
        RiskBands::Probability { medium: 0.4, high: 0.7 }
    }
}

impl RiskBands {
    /// Checks that the bounds are increasing and strictly between 0 and 1.
    pub fn check(self) -> Result<Self, ParamError> {
        let (RiskBands::Probability { medium, high } | RiskBands::TopShare { medium, high }) = self;
        let ok = match self {
            RiskBands::Probability { .. } => 0.0 < medium && medium < high && high < 1.0,
            RiskBands::TopShare { .. } => 0.0 < high && high < medium && medium <= 1.0,
        };
        if ok {
            Ok(self)
        } else {
            Err(ParamError::Bands(vec![medium, high]))
        }
    }

    /// The band of every customer.
    pub fn assign(&self, probabilities: &[f64]) -> Vec<RiskBand> {
        match *self {
            RiskBands::Probability { medium, high } => probabilities
                .iter()
                .map(|&p| {
                    if p >= high {
                        RiskBand::High
                    } else if p >= medium {
                        RiskBand::Medium
                    } else {
                        RiskBand::Low
                    }
                })
                .collect(),
            RiskBands::TopShare { medium, high } => {
                let n = probabilities.len();
                let mut order: Vec<usize> = (0..n).collect();
                order.sort_by(|&a, &b| probabilities[b].total_cmp(&probabilities[a]).then(a.cmp(&b)));
                let (n_high, n_medium) = ((high * n as f64).ceil() as usize, (medium * n as f64).ceil() as usize);
                let mut bands = vec![RiskBand::Low; n];
                for (rank, &i) in order.iter().enumerate() {
                    bands[i] = if rank < n_high {
                        RiskBand::High
                    } else if rank < n_medium {
                        RiskBand::Medium
                    } else {
                        RiskBand::Low
                    };
                }
                bands
            }
        }
    }
}

/// One row of the action table: the first rule whose conditions all hold gives the action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionRule {
    /// The risk band; any band when absent.
    pub band: Option<RiskBand>,
    /// RFM segments the rule applies to; any when absent.
    pub rfm_segments: Option<Vec<String>>,
    /// k-means segment names the rule applies to; any when absent.
    pub segments: Option<Vec<String>>,
    /// The recommended action.
    pub action: String,
    /// What one contact with this action costs, in the data's currency (for ranking by expected
    /// gain within a budget).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<f64>,
    /// The retention uplift expected of this action before any is measured: the share of
    /// contacted customers it keeps who would otherwise leave.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_uplift: Option<f64>,
}

/// The default action table (first match wins): valuable customers at high risk get VIP outreach,
/// other high-risk customers a win-back offer; at medium risk, valuable customers get a loyalty
/// reward and the rest a service call; low risk needs no action.
pub fn default_actions() -> Vec<ActionRule> {
    let valuable = || Some(["Champions", "Loyal", "Can't lose them"].map(String::from).to_vec());
    let rule = |band: RiskBand, rfm: Option<Vec<String>>, action: &str| ActionRule {
        band: Some(band),
        rfm_segments: rfm,
        segments: None,
        action: action.to_string(),
        cost: None,
        expected_uplift: None,
    };
    vec![
        rule(RiskBand::High, valuable(), "VIP outreach"),
        rule(RiskBand::High, None, "win-back offer"),
        rule(RiskBand::Medium, valuable(), "loyalty reward"),
        rule(RiskBand::Medium, None, "service call"),
        rule(RiskBand::Low, None, "no action"),
    ]
}

/// The action for a customer, or `no action` when no rule matches.
pub fn recommend<'a>(rules: &'a [ActionRule], band: RiskBand, rfm: Option<&str>, segment: Option<&str>) -> &'a str {
    let matches = |list: &Option<Vec<String>>, value: Option<&str>| {
        list.as_ref()
            .is_none_or(|l| value.is_some_and(|v| l.iter().any(|x| x == v)))
    };
    rules
        .iter()
        .find(|r| r.band.is_none_or(|b| b == band) && matches(&r.rfm_segments, rfm) && matches(&r.segments, segment))
        .map_or("no action", |r| r.action.as_str())
}

/// One input's contribution to a customer's log-odds of churn.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Contribution {
    /// The feature column.
    pub feature: String,
    /// Coefficient x standardized value, summed over the input's columns (log-odds).
    pub log_odds: f64,
    /// The customer's raw value (none when null).
    pub value: Option<f64>,
    /// The population median of the raw value.
    pub median: Option<f64>,
}

/// Per-customer contributions of every input, and the population medians behind the reasons.
pub struct Explainer<'a> {
    model: &'a ChurnModel,
    /// For each design column, the input it belongs to.
    owners: Vec<usize>,
    /// For each input, the frame's raw values (looked up once, not per customer).
    values: Vec<Option<Numbers<'a>>>,
    /// The words of the reasons, and the population medians [`Contribution`] reports.
    words: crate::reasons::Reasons<'a>,
}

impl<'a> Explainer<'a> {
    /// Prepares explanations of `model` over `frame` (medians are the frame's).
    pub fn new(model: &'a ChurnModel, frame: &'a FeatureFrame) -> Self {
        Self::with_segments(model, frame, None)
    }

    /// [`Explainer::new`], with each row's segment name: reasons compare a customer with the
    /// typical customer of their segment rather than of everyone.
    pub fn with_segments(model: &'a ChurnModel, frame: &'a FeatureFrame, segments: Option<&[&str]>) -> Self {
        let values: Vec<Option<Numbers<'a>>> = model
            .design
            .inputs
            .iter()
            .map(|i| frame.numeric(i.spec.column()))
            .collect();
        let columns: Vec<&str> = model.design.inputs.iter().map(|i| i.spec.column()).collect();
        Explainer {
            model,
            owners: model.design.column_inputs(),
            values,
            words: crate::reasons::Reasons::new(frame, &columns, segments),
        }
    }

    /// Each input's log-odds contribution for one standardized design row, into `out`.
    fn log_odds(&self, z_row: &[f64], out: &mut [f64]) {
        out.iter_mut().for_each(|v| *v = 0.0);
        for ((&owner, w), z) in self.owners.iter().zip(&self.model.coefficients).zip(z_row) {
            out[owner] += w * z;
        }
    }

    /// The contributions of each input for the customer on `row`, from its standardized design row.
    pub fn contributions(&self, z_row: &[f64], row: usize) -> Vec<Contribution> {
        let mut log_odds = vec![0.0; self.model.design.inputs.len()];
        self.log_odds(z_row, &mut log_odds);
        self.model
            .design
            .inputs
            .iter()
            .enumerate()
            .map(|(i, input)| Contribution {
                feature: input.spec.column().to_string(),
                log_odds: log_odds[i],
                value: self.values[i].and_then(|v| v.get(row)),
                median: self.words.population_median(i),
            })
            .collect()
    }

    /// Up to three reasons for the customer on `row`: the largest positive contributions whose
    /// values read as a risk, in plain words, on different topics (ties by feature name; see
    /// `reasons.rs`). `scratch` is reused between customers.
    pub fn reasons(&self, z_row: &[f64], row: usize, scratch: &mut ReasonScratch) -> ReasonList {
        let inputs = &self.model.design.inputs;
        let ReasonScratch {
            log_odds,
            positive,
            text,
        } = scratch;
        log_odds.resize(inputs.len(), 0.0);
        self.log_odds(z_row, log_odds);
        positive.clear();
        positive.extend((0..inputs.len()).filter(|&i| log_odds[i] > 0.0));
        positive.sort_by(|&a, &b| {
            log_odds[b]
                .total_cmp(&log_odds[a])
                .then_with(|| inputs[a].spec.column().cmp(inputs[b].spec.column()))
        });
        self.words
            .write(positive.iter().map(|&i| (i, inputs[i].spec.column())), row, text)
    }
}

/// What [`Explainer::reasons`] reuses from one customer to the next.
#[derive(Debug, Default)]
pub struct ReasonScratch {
    log_odds: Vec<f64>,
    positive: Vec<usize>,
    text: String,
}

fn num(v: Option<f64>, decimals: usize) -> String {
    // Adding 0.0 turns -0.0 into 0.0, so a median never prints as "-0".
    v.map_or("-".to_string(), |v| format!("{:.decimals$}", v + 0.0))
}

fn orders(v: Option<f64>) -> String {
    match v {
        Some(1.0) => "1 order".to_string(),
        other => format!("{} orders", num(other, 0)),
    }
}

/// A contribution in plain words, with the customer's value and the population median.
pub fn describe(c: &Contribution) -> String {
    describe_value(&c.feature, c.value, &MedianText::new(c.median))
}

/// A population median as [`describe`] prints it.
pub(crate) struct MedianText {
    whole: String,
    cents: String,
    percent: String,
}

impl MedianText {
    fn new(m: Option<f64>) -> Self {
        MedianText {
            whole: num(m, 0),
            cents: num(m, 2),
            percent: m.map_or("-".into(), |m| format!("{:.0}%", 100.0 * m + 0.0)),
        }
    }
}

fn describe_value(feature: &str, v: Option<f64>, m: &MedianText) -> String {
    let (m0, m2) = (&m.whole, &m.cents);
    match feature {
        "recency_days" => format!("no purchase for {} days (median {m0})", num(v, 0)),
        "frequency" => format!("{} in total (median {m0})", orders(v)),
        "monetary_total" => format!("spent {} in total (median {m2})", num(v, 2)),
        "monetary_avg_order" => format!("average order {} (median {m2})", num(v, 2)),
        "tenure_days" => format!("customer for {} days (median {m0})", num(v, 0)),
        "spend_30d" => format!("spent {} in the last 30 days (median {m2})", num(v, 2)),
        "spend_90d" => format!("spent {} in the last 90 days (median {m2})", num(v, 2)),
        "spend_365d" => format!("spent {} in the last 365 days (median {m2})", num(v, 2)),
        "orders_90d" => format!("{} in the last 90 days (median {m0})", orders(v)),
        "avg_days_between_orders" if v.is_none() => "only one order so far".to_string(),
        "avg_days_between_orders" => format!("{} days between orders (median {m0})", num(v, 0)),
        "return_ratio" => format!(
            "returned {} of purchases (median {})",
            v.map_or("-".into(), |v| format!("{:.0}%", 100.0 * v + 0.0)),
            m.percent
        ),
        other => format!("{other} = {} (median {m2})", num(v, 2)),
    }
}

/// Escapes a cell a spreadsheet would read as a formula (starting with `=`, `+`, `-`, `@`, tab or
/// carriage return) by prefixing an apostrophe, as OWASP recommends for CSV injection.
pub fn escape_formula(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => format!("'{cell}").into(),
        _ => cell.into(),
    }
}

/// A cell as [`escape_formula`] wrote it, without the apostrophe it put before a formula-looking
/// value: what reads a list back (`uplift.csv`'s measurement, `churn generate --treated`).
pub fn unescape_formula(cell: &str) -> &str {
    match cell.as_bytes() {
        [b'\'', b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r', ..] => &cell[1..],
        _ => cell,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_escapes_round_trip() {
        for cell in ["=1+2", "-5", "@x", "+", "plain", "'quoted", ""] {
            assert_eq!(unescape_formula(&escape_formula(cell)), cell);
        }
    }

    #[test]
    fn medians_skip_nulls() {
        let median = |values: &[Option<f64>]| {
            let ids = (0..values.len()).map(|i| format!("c{i}")).collect();
            let frame = FeatureFrame::try_new(ids)
                .and_then(|f| f.with_numeric("x", values.to_vec()))
                .expect("frame");
            crate::reasons::Reasons::new(&frame, &["x"], None).population_median(0)
        };
        assert_eq!(median(&[Some(3.0), None, Some(1.0), Some(2.0)]), Some(2.0));
        assert_eq!(median(&[None]), None);
    }

    #[test]
    fn probability_bands_use_inclusive_lower_bounds() {
        let bands = RiskBands::default().assign(&[0.1, 0.4, 0.69, 0.7, 0.99]);
        use RiskBand::{High, Low, Medium};
        assert_eq!(bands, [Low, Medium, Medium, High, High]);
    }

    #[test]
    fn top_share_bands_rank_customers() {
        let bands =
            RiskBands::TopShare { medium: 0.5, high: 0.2 }.assign(&[0.1, 0.9, 0.5, 0.3, 0.2, 0.8, 0.05, 0.6, 0.4, 0.7]);
        // Top 2 (0.9, 0.8) high, next 3 (0.7, 0.6, 0.5) medium.
        use RiskBand::{High, Low, Medium};
        assert_eq!(bands, [Low, High, Medium, Low, Low, High, Low, Medium, Low, Medium]);
    }

    #[test]
    fn band_bounds_must_be_ordered_probabilities() {
        assert!(RiskBands::Probability { medium: 0.7, high: 0.4 }.check().is_err());
        assert!(RiskBands::Probability { medium: 0.0, high: 0.4 }.check().is_err());
        assert!(RiskBands::TopShare { medium: 0.1, high: 0.2 }.check().is_err());
        assert!(RiskBands::TopShare { medium: 0.3, high: 0.1 }.check().is_ok());
    }

    #[test]
    fn the_first_matching_action_rule_wins() {
        let rules = default_actions();
        assert_eq!(
            recommend(&rules, RiskBand::High, Some("Champions"), None),
            "VIP outreach"
        );
        assert_eq!(recommend(&rules, RiskBand::High, Some("Lost"), None), "win-back offer");
        assert_eq!(recommend(&rules, RiskBand::High, None, None), "win-back offer");
        assert_eq!(
            recommend(&rules, RiskBand::Medium, Some("Loyal"), None),
            "loyalty reward"
        );
        assert_eq!(recommend(&rules, RiskBand::Medium, Some("New"), None), "service call");
        assert_eq!(recommend(&rules, RiskBand::Low, Some("Champions"), None), "no action");
        let custom = vec![ActionRule {
            band: None,
            rfm_segments: None,
            segments: Some(vec!["High-value loyal".into()]),
            action: "call the account manager".into(),
            cost: None,
            expected_uplift: None,
        }];
        assert_eq!(
            recommend(&custom, RiskBand::Low, None, Some("High-value loyal")),
            "call the account manager"
        );
        assert_eq!(recommend(&custom, RiskBand::Low, None, Some("Lost")), "no action");
    }

    #[test]
    fn formula_cells_are_escaped_and_others_untouched() {
        for (cell, expected) in [
            ("=HYPERLINK(\"x\")", "'=HYPERLINK(\"x\")"),
            ("+1", "'+1"),
            ("-2", "'-2"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("\rx", "'\rx"),
            ("C-17", "C-17"),
            ("", ""),
        ] {
            assert_eq!(escape_formula(cell), expected);
        }
    }

    #[test]
    fn reasons_read_as_words_with_the_median() {
        let c = |feature: &str, value: Option<f64>, median: Option<f64>| Contribution {
            feature: feature.into(),
            log_odds: 1.0,
            value,
            median,
        };
        assert_eq!(
            describe(&c("recency_days", Some(143.4), Some(31.0))),
            "no purchase for 143 days (median 31)"
        );
        assert_eq!(
            describe(&c("avg_days_between_orders", None, Some(40.0))),
            "only one order so far"
        );
        assert_eq!(
            describe(&c("return_ratio", Some(0.25), Some(0.0))),
            "returned 25% of purchases (median 0%)"
        );
        assert_eq!(
            describe(&c("distinct_categories", Some(1.0), Some(3.0))),
            "distinct_categories = 1.00 (median 3.00)"
        );
    }
}

/// The version of the `at_risk.csv` column set, written in its last column. Version 1 ended with
/// the reasons; version 3 adds `expected_next_purchase` and `overdue_days` after them.
pub const AT_RISK_SCHEMA_VERSION: u32 = 3;

/// The version of the column set of a list ranked by expected gain within a budget: version 3
/// plus `expected_gain` before `schema_version` (version 2 was version 1 plus `expected_gain`).
pub const AT_RISK_GAIN_SCHEMA_VERSION: u32 = 4;

/// The `at_risk.csv` columns of a list ranked by expected gain, in order.
pub const AT_RISK_GAIN_COLUMNS: [&str; 14] = {
    let mut columns = [""; 14];
    let mut i = 0;
    while i < 12 {
        columns[i] = AT_RISK_COLUMNS[i];
        i += 1;
    }
    columns[12] = "expected_gain";
    columns[13] = AT_RISK_COLUMNS[12];
    columns
};

/// The `at_risk.csv` columns, in order.
pub const AT_RISK_COLUMNS: [&str; 13] = [
    "customer_id",
    "churn_probability",
    "risk_band",
    "value_at_risk",
    "segment",
    "rfm_segment",
    "recommended_action",
    "reason_1",
    "reason_2",
    "reason_3",
    "expected_next_purchase",
    "overdue_days",
    "schema_version",
];

/// What `expected_next_purchase` says of a customer whose chance of a purchase within a year is
/// under one half.
pub const UNLIKELY: &str = "unlikely";

/// One customer's score, as written to `scores.parquet` and `at_risk.csv`. Its text is borrowed from
/// what was scored (the frame's ids, the segment names, the action table): a million customers'
/// scores are held at once, and each owned string was an allocation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScoredCustomer<'a> {
    /// The customer.
    pub customer_id: &'a str,
    /// Probability of no purchase within the horizon.
    pub churn_probability: f64,
    /// The risk band.
    pub risk_band: RiskBand,
    /// `churn_probability x value`: the customer's lifetime value over the CLV horizon when a CLV
    /// model is used, else `max(spend_365d, 0)`, the last year's spend that churn would lose.
    pub value_at_risk: f64,
    /// The k-means segment name, when a segment model was given.
    pub segment: Option<&'a str>,
    /// The rule-based RFM segment.
    pub rfm_segment: Option<&'a str>,
    /// From the action table.
    pub recommended_action: &'a str,
    /// Up to three reasons, largest first.
    pub reasons: ReasonList,
    /// When they should buy next, when a rhythm or lifetime-value model gave it.
    pub next_purchase: Option<NextPurchase>,
    /// Days past their own usual gap: `recency_days - typical_gap_days`, at least 0; none without a
    /// typical gap (one purchase day).
    pub overdue_days: Option<f64>,
}

/// A customer's next purchase: the chances and, when a purchase within a year is likelier than
/// not, its expected date and 80 % interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct NextPurchase {
    /// The chances, and the days after the snapshot.
    pub outlook: Outlook,
    /// `[median, low, high]` as dates: the snapshot plus the whole days (the day the purchase
    /// falls on); none when unlikely.
    pub dates: Option<[NaiveDate; 3]>,
}

impl NextPurchase {
    /// The outlook as of snapshot `as_of`.
    pub fn new(outlook: Outlook, as_of: NaiveDate) -> Self {
        let date = |days: f64| as_of + chrono::Duration::days(days.floor() as i64);
        NextPurchase {
            outlook,
            dates: outlook.days.map(|d| [date(d.median), date(d.low), date(d.high)]),
        }
    }
}

/// Where the next-purchase figures of [`score_customers`] come from.
#[derive(Debug, Clone, Copy)]
pub enum NextPurchaseFrom<'a> {
    /// No figures.
    Nothing,
    /// The churn model's rhythm (no figures when the model has none), at snapshot `S`.
    Rhythm(NaiveDate),
    /// One outlook per row of the frame (the BG/NBD model's), at snapshot `S`.
    Given(NaiveDate, &'a [Outlook]),
}

impl NextPurchaseFrom<'_> {
    /// What gives the figures when scoring with `model`, as the scores file's metadata says:
    /// `bg-nbd`, `rhythm`, or `none` (no figures: a model of an earlier build has no rhythm).
    pub fn model_name(&self, model: &ChurnModel) -> &'static str {
        match self {
            NextPurchaseFrom::Given(..) => "bg-nbd",
            NextPurchaseFrom::Rhythm(_) if model.rhythm.is_some() => "rhythm",
            _ => "none",
        }
    }
}

/// Scores every customer of `frame`: probability, band, value at risk, reasons, action and next
/// purchase. `segments`, when given, holds each row's k-means segment name; `values`, when given,
/// each row's value that churn would lose (the lifetime value), used instead of `spend_365d`.
pub fn score_customers<'a>(
    model: &ChurnModel,
    frame: &'a FeatureFrame,
    segments: Option<&'a [&'a str]>,
    values: Option<&[f64]>,
    bands: &RiskBands,
    actions: &'a [ActionRule],
    next: NextPurchaseFrom<'_>,
) -> Result<Vec<ScoredCustomer<'a>>> {
    let z = model.standardized(frame)?;
    let probabilities = model.predict_standardized(&z);
    let rhythm = NextPurchases::new(model, frame, &next)?;
    let spend = match values {
        Some(v) => {
            if v.len() != frame.len() {
                return Err(Error::Degenerate(format!(
                    "{} customer values for {} customers",
                    v.len(),
                    frame.len()
                )));
            }
            if let Some(row) = v.iter().position(|x| !x.is_finite()) {
                return Err(Error::Degenerate(format!(
                    "the value of customer {} is {}; values must be finite",
                    frame.ids()[row],
                    v[row]
                )));
            }
            std::borrow::Cow::Borrowed(v)
        }
        None => std::borrow::Cow::Owned(frame.required("spend_365d")?),
    };
    let rfm = frame.text("rfm_segment");
    let risk = bands.assign(&probabilities);
    let explainer = Explainer::with_segments(model, frame, segments);
    let score_row = |row: usize, scratch: &mut ReasonScratch| {
        let rfm_segment = rfm.and_then(|r| r.get(row));
        let segment = segments.map(|s| s[row]);
        let recommended_action = recommend(actions, risk[row], rfm_segment, segment);
        let z_row = z.row(row);
        let reasons = match z_row.as_slice() {
            Some(slice) => explainer.reasons(slice, row, scratch),
            None => explainer.reasons(&z_row.to_vec(), row, scratch),
        };
        ScoredCustomer {
            customer_id: &frame.ids()[row],
            churn_probability: probabilities[row],
            risk_band: risk[row],
            value_at_risk: probabilities[row] * spend[row].max(0.0),
            segment,
            rfm_segment,
            recommended_action,
            reasons,
            next_purchase: rhythm.next_purchase(row, probabilities[row]),
            overdue_days: rhythm.overdue_days(row),
        }
    };
    // Reasons are text for every customer: the costly part. Rows are scored on every core and
    // each is written straight into its place in the vector, so the output does not depend on the
    // number of threads. (Parts joined afterwards were a copy of a quarter of a gigabyte on one
    // core, and both copies in memory at once.)
    let mut scored = Vec::new();
    (0..frame.len())
        .into_par_iter()
        .map_init(ReasonScratch::default, |scratch, row| score_row(row, scratch))
        .collect_into_vec(&mut scored);
    // A non-finite chance or day would print as a wrong date in the list: refused, never written.
    let finite = |n: &NextPurchase| {
        let o = n.outlook;
        let days = o.days.map_or([0.0; 3], |d| [d.median, d.low, d.high]);
        [o.p_30d, o.p_90d, o.p_horizon, o.p_365d]
            .iter()
            .chain(&days)
            .all(|x| x.is_finite())
    };
    if let Some(s) = scored
        .iter()
        .find(|s| s.next_purchase.as_ref().is_some_and(|n| !finite(n)))
    {
        return Err(Error::Degenerate(format!(
            "the next purchase of customer {} is not finite: {:?}",
            s.customer_id, s.next_purchase
        )));
    }
    Ok(scored)
}

/// Each customer's next purchase and days overdue, as [`score_customers`] gives them (also for
/// one customer, as `churn explain` shows them).
pub struct NextPurchases<'a> {
    next: NextPurchaseFrom<'a>,
    rhythm: Option<&'a crate::RhythmModel>,
    horizon_days: f64,
    recency: Option<Numbers<'a>>,
    frequency: Option<Numbers<'a>>,
    typical_gap: Option<Numbers<'a>>,
}

impl<'a> NextPurchases<'a> {
    /// Reads what the figures of `frame`'s customers come from; a missing column or a null the
    /// rhythm needs, or outlooks of another length than the frame, is an error.
    pub fn new(model: &'a ChurnModel, frame: &'a FeatureFrame, next: &NextPurchaseFrom<'a>) -> Result<Self> {
        match next {
            NextPurchaseFrom::Given(_, outlooks) if outlooks.len() != frame.len() => {
                return Err(Error::Degenerate(format!(
                    "{} next-purchase outlooks for {} customers",
                    outlooks.len(),
                    frame.len()
                )));
            }
            NextPurchaseFrom::Rhythm(_) if model.rhythm.is_some() => {
                // The rhythm reads these for every customer: a missing column or a null is an
                // error here, not a silent gap in the file.
                frame.required("recency_days")?;
                frame.required("frequency")?;
            }
            _ => {}
        }
        Ok(NextPurchases {
            next: *next,
            rhythm: model.rhythm.as_ref(),
            horizon_days: model.horizon_days as f64,
            recency: frame.numeric("recency_days"),
            frequency: frame.numeric("frequency"),
            // Feature files of version 1 have no typical gap: every customer then takes the
            // population's, and none is overdue.
            typical_gap: frame.numeric("typical_gap_days"),
        })
    }

    fn value(column: Option<Numbers<'_>>, row: usize) -> Option<f64> {
        column.and_then(|c| c.get(row))
    }

    /// The next purchase of the customer on `row`, whose churn probability is `p`.
    pub fn next_purchase(&self, row: usize, p: f64) -> Option<NextPurchase> {
        match self.next {
            NextPurchaseFrom::Nothing => None,
            NextPurchaseFrom::Given(as_of, outlooks) => Some(NextPurchase::new(outlooks[row], as_of)),
            NextPurchaseFrom::Rhythm(as_of) => {
                let rhythm = self.rhythm?;
                let outlook = rhythm.outlook(
                    Self::value(self.recency, row)?,
                    Self::value(self.typical_gap, row),
                    Self::value(self.frequency, row)?,
                    p,
                    self.horizon_days,
                );
                Some(NextPurchase::new(outlook, as_of))
            }
        }
    }

    /// `recency_days - typical_gap_days` of the customer on `row`, at least 0; none without a
    /// typical gap.
    pub fn overdue_days(&self, row: usize) -> Option<f64> {
        let gap = Self::value(self.typical_gap, row)?;
        Some((Self::value(self.recency, row)? - gap).max(0.0))
    }
}

/// The at-risk list: customers not in the `low` band, by value at risk (largest first) then
/// customer id, at most `top` of them.
pub fn at_risk<'a, 'b>(scored: &'a [ScoredCustomer<'b>], top: Option<usize>) -> Vec<&'a ScoredCustomer<'b>> {
    // The sort compares each customer's value and row (16 bytes side by side), and reads the ids
    // only on equal values: sorting the references themselves read two customers, scattered over
    // hundreds of megabytes, per comparison.
    let mut keys: Vec<(f64, usize)> = scored
        .iter()
        .enumerate()
        .filter(|(_, s)| s.risk_band.is_at_risk())
        .map(|(row, s)| (s.value_at_risk, row))
        .collect();
    // Customer ids are unique, so no two customers compare equal and an unstable sort (faster on a
    // million) gives the one order there is, on any number of threads.
    keys.par_sort_unstable_by(|(a, ra), (b, rb)| {
        b.total_cmp(a).then_with(|| {
            scored[*ra]
                .customer_id
                .as_bytes()
                .cmp(scored[*rb].customer_id.as_bytes())
        })
    });
    if let Some(top) = top {
        keys.truncate(top);
    }
    keys.into_iter().map(|(_, row)| &scored[row]).collect()
}

/// The at-risk list without the control group of `holdout`, and the control customers it held
/// (each in list order): the list is drawn as without a holdout, then split, so that the two
/// groups are chosen alike. Also the two files' bytes: `at_risk.csv`, and `holdout.csv` when there
/// is a holdout.
pub fn split_holdout<'a, 'b>(
    list: Vec<&'a ScoredCustomer<'b>>,
    holdout: Option<&crate::Holdout>,
) -> Result<SplitList<'a, 'b>> {
    let (listed, held_out): (Vec<_>, Vec<_>) = list
        .into_iter()
        .partition(|s| !holdout.is_some_and(|h| h.is_control(s.customer_id)));
    let listed_csv = at_risk_csv(&listed, None)?;
    let holdout_csv = holdout.map(|_| at_risk_csv(&held_out, None)).transpose()?;
    Ok(SplitList {
        listed,
        held_out,
        at_risk_csv: listed_csv,
        holdout_csv,
    })
}

/// See [`split_holdout`].
pub struct SplitList<'a, 'b> {
    /// The customers on the list.
    pub listed: Vec<&'a ScoredCustomer<'b>>,
    /// The control customers the list would have held.
    pub held_out: Vec<&'a ScoredCustomer<'b>>,
    /// `at_risk.csv`.
    pub at_risk_csv: AtRiskCsv,
    /// `holdout.csv`, with a holdout.
    pub holdout_csv: Option<AtRiskCsv>,
}

/// A CSV writer's error as the I/O error it is (the writer only fails on I/O).
fn csv_io(e: csv::Error) -> std::io::Error {
    match e.into_kind() {
        csv::ErrorKind::Io(io) => io,
        other => std::io::Error::other(format!("{other:?}")),
    }
}

/// Writes the at-risk list as CSV for CRM import: the [`AT_RISK_COLUMNS`] in order, RFC 4180
/// quoting, UTF-8 without a byte-order mark, `\n` line ends, formula-looking text cells escaped
/// ([`escape_formula`]), probabilities with 6 decimals and money with 2. With `gains` (one per
/// customer of the list), the [`AT_RISK_GAIN_COLUMNS`] instead.
pub fn write_at_risk(list: &[&ScoredCustomer<'_>], gains: Option<&[f64]>, out: impl std::io::Write) -> Result<()> {
    use std::io::Write as _;
    let csv = at_risk_csv(list, gains)?;
    // Rows are copied out one at a time, a few hundred bytes each.
    let mut out = std::io::BufWriter::with_capacity(1 << 16, out);
    for piece in csv.pieces() {
        out.write_all(piece)?;
    }
    out.flush()?;
    Ok(())
}

/// [`write_at_risk`]'s text as it was formatted, for a caller that writes it piece by piece:
/// at a million customers the list is 170 MB, and joining its rows into one buffer was a copy of
/// all of it on one core and, while it lasted, the list twice in memory.
pub fn at_risk_csv(list: &[&ScoredCustomer<'_>], gains: Option<&[f64]>) -> Result<AtRiskCsv> {
    if let Some(g) = gains {
        if g.len() != list.len() {
            return Err(Error::Degenerate(format!(
                "{} expected gains for a list of {}",
                g.len(),
                list.len()
            )));
        }
    }
    // Formatting a million rows is most of the cost: parts of the list are formatted on every core
    // into their own buffers and written in list order, so the bytes do not depend on the cores.
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get()).max(1);
    let chunk = list.len().div_ceil(threads).max(1);
    let rows: Vec<std::io::Result<FormattedRows>> = std::thread::scope(|scope| {
        let handles: Vec<_> = list
            .chunks(chunk)
            .enumerate()
            .map(|(i, part)| {
                let gains = gains.map(|g| &g[i * chunk..i * chunk + part.len()]);
                scope.spawn(move || at_risk_rows(part, gains))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
            .collect()
    });
    let mut header = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    match gains {
        Some(_) => header.write_record(AT_RISK_GAIN_COLUMNS),
        None => header.write_record(AT_RISK_COLUMNS),
    }
    .map_err(csv_io)?;
    let header = header.into_inner().map_err(|e| e.into_error())?;
    let parts = rows.into_iter().collect::<std::io::Result<Vec<_>>>()?;
    Ok(AtRiskCsv { header, parts })
}

/// An at-risk list's CSV file as it was formatted: the header, then the rows of each part of the
/// list (see [`at_risk_csv`]).
#[derive(Debug)]
pub struct AtRiskCsv {
    header: Vec<u8>,
    parts: Vec<FormattedRows>,
}

impl AtRiskCsv {
    /// The file's bytes in order, a row (or the header) at a time.
    pub fn pieces(&self) -> impl Iterator<Item = &[u8]> + '_ {
        std::iter::once(self.header.as_slice()).chain(self.parts.iter().flat_map(FormattedRows::rows))
    }

    /// The file's length in bytes.
    pub fn len(&self) -> usize {
        self.header.len() + self.parts.iter().map(|p| p.bytes.len()).sum::<usize>()
    }

    /// Whether the file is empty (it never is: the header is always there).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Part of the at-risk list as CSV rows (no header): their bytes in the order they were
/// formatted, and where each row of the list lies in them.
#[derive(Debug)]
struct FormattedRows {
    bytes: Vec<u8>,
    /// Start and end of each row in `bytes`, in list order.
    spans: Vec<(usize, usize)>,
}

impl FormattedRows {
    /// The rows in list order.
    fn rows(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.spans.iter().map(|&(start, end)| &self.bytes[start..end])
    }
}

/// Appends `date` as `%Y-%m-%d`: by hand for the years 0 to 9999 (chrono parses the format string
/// again for every date, a tenth of the list's formatting), by chrono for any other year.
fn write_date(out: &mut String, date: NaiveDate) {
    use chrono::Datelike as _;
    if (0..=9999).contains(&date.year()) {
        let _ = write!(out, "{:04}-{:02}-{:02}", date.year(), date.month(), date.day());
    } else {
        let _ = write!(out, "{}", date.format("%Y-%m-%d"));
    }
}

/// The CSV rows (no header) of part of the at-risk list, with each customer's expected gain when
/// given.
///
/// The list is in order of value, the customers in the order they were scored: read in list order,
/// every row was three cache misses (the customer, its id, its reasons), 85 % of the formatting's
/// time at a million customers. The rows are formatted in the order the customers lie in memory,
/// which is the scored vector's order and near enough to the order their texts were made in, and
/// placed in list order when they are copied out.
fn at_risk_rows(list: &[&ScoredCustomer<'_>], gains: Option<&[f64]>) -> std::io::Result<FormattedRows> {
    let mut order: Vec<(&ScoredCustomer<'_>, usize)> = list.iter().copied().zip(0..).collect();
    order.sort_unstable_by_key(|(s, _)| std::ptr::from_ref(*s).addr());
    let mut spans = vec![(0, 0); list.len()];
    let mut builder = csv::WriterBuilder::new();
    builder.terminator(csv::Terminator::Any(b'\n'));
    let mut w = builder.from_writer(Vec::new());
    let version = match gains {
        Some(_) => AT_RISK_GAIN_SCHEMA_VERSION,
        None => AT_RISK_SCHEMA_VERSION,
    }
    .to_string();
    // One buffer per formatted cell, reused row after row: a million rows would otherwise
    // allocate five strings each.
    let (mut probability, mut value, mut gain, mut next, mut overdue) = (
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
    );
    // Rows are of much the same length: after the first few, room for the rest is made at once
    // (an eighth to spare) instead of doubling the buffer, which copies it and touches new pages.
    const MEASURED: usize = 256;
    let mut start = 0;
    for (n, &(s, i)) in order.iter().enumerate() {
        if n == MEASURED {
            // A writer between records holds nothing but its buffer, so a new one continues it.
            let mut bytes = w.into_inner().map_err(|e| e.into_error())?;
            bytes.reserve(bytes.len() / MEASURED * (list.len() - MEASURED) / 8 * 9);
            w = builder.from_writer(bytes);
        }
        let reason = |i: usize| s.reasons.get(i).unwrap_or_default();
        // Writing to a `String` cannot fail.
        probability.clear();
        let _ = write_fixed(&mut probability, s.churn_probability, 6);
        value.clear();
        let _ = write_fixed(&mut value, s.value_at_risk, 2);
        gain.clear();
        if let Some(g) = gains {
            let _ = write_fixed(&mut gain, g[i] + 0.0, 2);
        }
        // The date, "unlikely", or empty when no model gave a next purchase.
        next.clear();
        match s.next_purchase {
            Some(NextPurchase {
                dates: Some([median, ..]),
                ..
            }) => write_date(&mut next, median),
            Some(NextPurchase { dates: None, .. }) => next.push_str(UNLIKELY),
            None => {}
        }
        overdue.clear();
        if let Some(d) = s.overdue_days {
            let _ = write!(overdue, "{}", d.floor() as i64);
        }
        let record = [
            escape_formula(s.customer_id),
            probability.as_str().into(),
            s.risk_band.as_str().into(),
            value.as_str().into(),
            escape_formula(s.segment.unwrap_or_default()),
            escape_formula(s.rfm_segment.unwrap_or_default()),
            escape_formula(s.recommended_action),
            escape_formula(reason(0)),
            escape_formula(reason(1)),
            escape_formula(reason(2)),
            next.as_str().into(),
            overdue.as_str().into(),
        ];
        let tail = gains.map(|_| gain.as_str()).into_iter().chain([version.as_str()]);
        w.write_record(record.iter().map(|c| c.as_ref()).chain(tail).map(str::as_bytes))
            .map_err(csv_io)?;
        // The writer's buffer emptied into the bytes, to see where the row ends.
        w.flush()?;
        let end = w.get_ref().len();
        spans[i] = (start, end);
        start = end;
    }
    let bytes = w.into_inner().map_err(|e| e.into_error())?;
    Ok(FormattedRows { bytes, spans })
}

#[cfg(test)]
mod export_tests {
    use super::*;

    #[test]
    fn dates_are_written_as_chrono_writes_them() {
        // Before year 0, around year 1 and 2024, and the last day before and the first after 9999.
        let days = [-800_000, -1, 0, 1, 59, 10_000, 738_886, 3_652_059, 3_652_060, 3_700_000];
        for date in days.iter().filter_map(|&d| NaiveDate::from_num_days_from_ce_opt(d)) {
            let mut ours = String::from("x");
            write_date(&mut ours, date);
            assert_eq!(ours, format!("x{}", date.format("%Y-%m-%d")), "{date:?}");
        }
    }

    fn customer(id: &str, p: f64, value: f64, band: RiskBand) -> ScoredCustomer<'_> {
        ScoredCustomer {
            customer_id: id,
            churn_probability: p,
            risk_band: band,
            value_at_risk: value,
            segment: Some("Lost, low-value"),
            rfm_segment: Some("At risk"),
            recommended_action: "win-back offer",
            reasons: ["no purchase for 143 days (median 31)", "said \"bye\""]
                .into_iter()
                .collect(),
            next_purchase: None,
            overdue_days: Some(112.6),
        }
    }

    #[test]
    fn the_list_keeps_the_risky_sorted_by_value_then_id() {
        let scored = vec![
            customer("b", 0.8, 50.0, RiskBand::High),
            customer("a", 0.5, 50.0, RiskBand::Medium),
            customer("c", 0.2, 99.0, RiskBand::Low),
            customer("d", 0.9, 70.0, RiskBand::High),
        ];
        let ids: Vec<&str> = at_risk(&scored, None).iter().map(|s| s.customer_id).collect();
        assert_eq!(ids, ["d", "a", "b"]);
        assert_eq!(at_risk(&scored, Some(1)).len(), 1);
    }

    #[test]
    fn the_csv_is_rfc_4180_with_escaped_formulas_and_no_bom() -> Result<()> {
        let scored = [customer("=cmd|' /C calc'!A0", 0.8123456789, 1234.5, RiskBand::High)];
        let mut out = Vec::new();
        write_at_risk(&scored.iter().collect::<Vec<_>>(), None, &mut out)?;
        let text = String::from_utf8(out).expect("utf-8");
        assert!(!text.starts_with('\u{feff}') && !text.contains('\r'));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "customer_id,churn_probability,risk_band,value_at_risk,segment,rfm_segment,recommended_action,reason_1,reason_2,reason_3,\
             expected_next_purchase,overdue_days,schema_version"
        );
        assert_eq!(
            lines[1],
            "'=cmd|' /C calc'!A0,0.812346,high,1234.50,\"Lost, low-value\",At risk,win-back offer,\
             no purchase for 143 days (median 31),\"said \"\"bye\"\"\",,,112,3"
        );
        Ok(())
    }

    #[test]
    fn a_non_finite_next_purchase_is_refused() -> Result<()> {
        use churn_core::{FeatureSpec, Transform};
        let n = 60;
        let recency: Vec<Option<f64>> = (0..n).map(|i| Some(i as f64 * 3.0)).collect();
        let churned: Vec<bool> = (0..n).map(|i| i > 30 || i % 5 == 0).collect();
        let frame = FeatureFrame::try_new((0..n).map(|i| format!("c{i:02}")).collect())?
            .with_numeric("recency_days", recency)?
            .with_numeric("spend_365d", vec![Some(10.0); n])?;
        let params = crate::ModelParams {
            features: vec![FeatureSpec::new("recency_days", Transform::Identity)],
            ..crate::ModelParams::default()
        }
        .check()?;
        let model = crate::train(&frame, &churned, 90, &params, crate::TrainingSource::default())?;
        let as_of = NaiveDate::from_ymd_opt(2024, 1, 1).expect("date");
        let mut outlooks = vec![
            Outlook {
                p_30d: 0.1,
                p_90d: 0.2,
                p_horizon: 0.2,
                p_365d: 0.3,
                days: None,
            };
            n
        ];
        let actions = default_actions();
        let score = |outlooks: &[Outlook]| {
            score_customers(
                &model,
                &frame,
                None,
                None,
                &RiskBands::default(),
                &actions,
                NextPurchaseFrom::Given(as_of, outlooks),
            )
            .map(|scored| scored.len())
        };
        assert!(score(&outlooks).is_ok());
        outlooks[7].p_90d = f64::NAN;
        let err = score(&outlooks).expect_err("NaN");
        assert!(err.to_string().contains("customer c07"), "{err}");
        assert!(score(&outlooks[..3]).is_err(), "one outlook per customer");
        Ok(())
    }

    #[test]
    fn the_next_purchase_is_a_date_unlikely_or_empty() -> Result<()> {
        let as_of = NaiveDate::from_ymd_opt(2024, 1, 1).expect("date");
        // (median, low, high) days after the snapshot, or unlikely.
        let outlook = |days: Option<(f64, f64, f64)>| Outlook {
            p_30d: 0.2,
            p_90d: 0.5,
            p_horizon: 0.5,
            p_365d: if days.is_some() { 0.8 } else { 0.3 },
            days: days.map(|(median, low, high)| crate::NextDays { median, low, high }),
        };
        let with = |id: &'static str, next: Option<Outlook>, overdue: Option<f64>| ScoredCustomer {
            next_purchase: next.map(|o| NextPurchase::new(o, as_of)),
            overdue_days: overdue,
            ..customer(id, 0.8, 10.0, RiskBand::High)
        };
        let scored = [
            // Day 44.99 after 2024-01-01 falls on 2024-02-14.
            with("a", Some(outlook(Some((44.99, 3.0, 120.0)))), Some(0.0)),
            with("b", Some(outlook(None)), Some(40.7)),
            with("c", None, None),
        ];
        let mut out = Vec::new();
        write_at_risk(&scored.iter().collect::<Vec<_>>(), None, &mut out)?;
        let text = String::from_utf8(out).expect("utf-8");
        let tails: Vec<String> = text
            .lines()
            .skip(1)
            .map(|l| l.rsplitn(4, ',').collect::<Vec<_>>()[..3].join(","))
            .collect();
        // rsplitn reads the last three cells backwards: version, overdue days, next purchase.
        assert_eq!(tails, ["3,0,2024-02-14", "3,40,unlikely", "3,,"]);
        assert_eq!(
            scored[0].next_purchase.and_then(|n| n.dates),
            Some(["2024-02-14", "2024-01-04", "2024-04-30"].map(|d| d.parse().expect("date")))
        );
        Ok(())
    }

    fn in_list_order(rows: FormattedRows) -> Vec<u8> {
        rows.rows().collect::<Vec<_>>().concat()
    }

    #[test]
    fn a_long_list_is_its_rows_formatted_one_by_one() -> Result<()> {
        // Past the rows measured to size the buffer, with cells that need quotes and escapes.
        let ids: Vec<String> = (0..1_000)
            .map(|i| match i % 3 {
                0 => format!("c{i}"),
                1 => format!("\"quoted, {i}\""),
                _ => format!("=formula{i}"),
            })
            .collect();
        let scored: Vec<ScoredCustomer> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| customer(id, 0.5 + i as f64 / 3000.0, 1.25 * i as f64, RiskBand::High))
            .collect();
        // A list in another order than the customers' (as a list by value is), so the rows are
        // formatted in one order and written in the other.
        let list: Vec<&ScoredCustomer> = (0..scored.len()).map(|i| &scored[(i * 7 + 3) % scored.len()]).collect();
        let one_by_one: Vec<u8> = list
            .chunks(1)
            .map(|row| at_risk_rows(row, None).map(in_list_order))
            .collect::<std::io::Result<Vec<_>>>()?
            .concat();
        assert_eq!(in_list_order(at_risk_rows(&list, None)?), one_by_one);
        assert!(one_by_one.starts_with(b"c3,"), "the list's first customer first");
        let gains: Vec<f64> = (0..list.len()).map(|i| i as f64 / 7.0 - 20.0).collect();
        let gained: Vec<u8> = list
            .iter()
            .zip(&gains)
            .map(|(s, g)| at_risk_rows(&[*s], Some(&[*g])).map(in_list_order))
            .collect::<std::io::Result<Vec<_>>>()?
            .concat();
        assert_eq!(in_list_order(at_risk_rows(&list, Some(&gains))?), gained);
        let mut written = Vec::new();
        write_at_risk(&list, Some(&gains), &mut written)?;
        let csv = at_risk_csv(&list, Some(&gains))?;
        assert_eq!(csv.pieces().flatten().copied().collect::<Vec<u8>>(), written);
        assert_eq!(csv.len(), written.len());
        assert_eq!(
            written.split(|&b| b == b'\n').count(),
            1_002,
            "header, rows, and the empty tail"
        );
        Ok(())
    }

    #[test]
    fn a_list_formatted_in_parts_is_the_list_formatted_in_one() -> Result<()> {
        let ids: Vec<String> = (0..7).map(|i| format!("c{i}")).collect();
        let scored: Vec<ScoredCustomer> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| customer(id, 0.5 + i as f64 / 100.0, 10.0 * i as f64, RiskBand::High))
            .collect();
        let list: Vec<&ScoredCustomer> = scored.iter().collect();
        let mut in_parts = Vec::new();
        write_at_risk(&list, None, &mut in_parts)?;
        let whole = String::from_utf8(in_list_order(at_risk_rows(&list, None)?)).expect("utf-8");
        let text = String::from_utf8(in_parts).expect("utf-8");
        assert_eq!(text, format!("{}\n{whole}", AT_RISK_COLUMNS.join(",")));
        assert_eq!(text.lines().nth(7), Some(whole.lines().nth(6).expect("7 rows")));
        let mut empty = Vec::new();
        write_at_risk(&[], None, &mut empty)?;
        assert_eq!(
            String::from_utf8(empty).expect("utf-8"),
            format!("{}\n", AT_RISK_COLUMNS.join(","))
        );
        Ok(())
    }
}
