//! `report.html`: one self-contained page about a run, for people who would rather look than read.
//!
//! [`render_run`] reads only the files of a run directory (the manifest, the scores, the features,
//! the segment profiles, the changes and the history), so `churn run` and `churn report --run DIR`
//! draw the same page from the same bytes (`churn run` decodes the two Parquet files from the bytes
//! it is writing), and the page is the same bytes run after run. Everything is inline: CSS in a
//! `<style>` element, charts as `<svg>` elements (see [`svg`]), no scripts, no fonts, no
//! links out, so it opens from a CRM share or an email attachment.

pub mod svg;

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use chrono::{Duration, NaiveDate};
use churn_core::{Column, FeatureFrame, Table};
use churn_features::{read_table_columns_from, FeatureTable, ParquetSource};
use churn_pipeline::manifest::{Manifest, ValueBasis};
use churn_score::{Drift, Evaluation, Metrics};

use churn_core::format::{count, money, number, percent};
use svg::{
    bar_chart, column_chart, escape, histogram, interval_chart, line_chart, time_chart, Dash, IntervalRow, Series,
    Ticks,
};

/// The columns of `scores.parquet` the page draws.
const SCORE_COLUMNS: [&str; 4] = ["churn_probability", "risk_band", "value_at_risk", "segment"];

/// The columns of `features.parquet` the page draws (with `customer_id`).
const FEATURE_COLUMNS: [&str; 3] = ["recency_days", "monetary_total", "tenure_days"];

/// What the report reads from a run directory.
struct Run {
    manifest: Manifest,
    scores: Table,
    features: FeatureFrame,
    as_of: NaiveDate,
    profiles: Csv,
    changes: Csv,
    /// `history.csv`, in runs that have one.
    history: Option<Csv>,
    /// `uplift.csv`, in runs that have one.
    uplift: Option<Csv>,
}

/// A small CSV file, as text.
struct Csv {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Csv {
    fn read(path: &Path) -> Result<Csv> {
        let mut reader = csv::Reader::from_path(path).with_context(|| format!("cannot read {}", path.display()))?;
        let header = reader
            .headers()
            .with_context(|| format!("cannot read {}", path.display()))?
            .iter()
            .map(str::to_string)
            .collect();
        let rows = reader
            .records()
            .map(|r| r.map(|r| r.iter().map(str::to_string).collect()))
            .collect::<Result<_, _>>()
            .with_context(|| format!("cannot read {}", path.display()))?;
        Ok(Csv { header, rows })
    }

    fn column(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| h == name)
    }
}

/// The two large tables the page draws, decoded: the columns it needs of `scores.parquet` and of
/// `features.parquet`.
pub struct Tables {
    scores: Table,
    features: FeatureFrame,
    as_of: NaiveDate,
}

impl Tables {
    /// Decoded from the files in the run directory `dir`.
    fn read(dir: &Path) -> Result<Tables> {
        let (scores, features) = (dir.join("scores.parquet"), dir.join("features.parquet"));
        Tables::decode(dir, ParquetSource::File(&scores), ParquetSource::File(&features))
    }

    /// Decoded from `scores` and `features`, the files of the run directory `dir` or their bytes
    /// (`churn run` decodes the bytes it is writing into the staging directory, while it writes
    /// them: the same bytes, not read back).
    pub fn decode(dir: &Path, scores: ParquetSource<'_>, features: ParquetSource<'_>) -> Result<Tables> {
        // Only the columns the page draws: at a million customers, decoding the reasons and ids
        // it does not need was most of the report's time and memory. The two files are decoded
        // side by side, each on a core (the decoder of one file keeps to one).
        let (scores, features) = std::thread::scope(|scope| {
            let scores = scope.spawn(|| {
                read_table_columns_from(&scores, &SCORE_COLUMNS)
                    .with_context(|| format!("cannot read the scores in {}", dir.display()))
            });
            let features = FeatureTable::read_parquet_columns_from(&features, &FEATURE_COLUMNS)
                .with_context(|| format!("cannot read the features in {}", dir.display()))
                .and_then(|table| Ok((table.as_of, table.to_frame()?)));
            let scores = scores.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (scores, features)
        });
        let (scores, (as_of, features)) = (scores?, features?);
        Ok(Tables {
            scores,
            features,
            as_of,
        })
    }
}

impl Run {
    fn load(dir: &Path, manifest: Manifest, tables: Tables) -> Result<Run> {
        let Tables {
            scores,
            features,
            as_of,
        } = tables;
        Ok(Run {
            manifest,
            scores,
            features,
            as_of,
            profiles: Csv::read(&dir.join("segment_profiles.csv"))?,
            changes: Csv::read(&dir.join("changes.csv"))?,
            history: {
                let path = dir.join(churn_pipeline::history::HISTORY_FILE);
                path.exists().then(|| Csv::read(&path)).transpose()?
            },
            uplift: {
                let path = dir.join(churn_pipeline::uplift::UPLIFT_FILE);
                path.exists().then(|| Csv::read(&path)).transpose()?
            },
        })
    }

    fn floats(&self, name: &str) -> Result<&[f64]> {
        match self.scores.columns().iter().find(|(n, _)| n == name) {
            Some((_, Column::Float64(v))) => Ok(v),
            _ => anyhow::bail!("scores.parquet has no number column {name}"),
        }
    }

    fn texts(&self, name: &str) -> Result<Vec<String>> {
        match self.scores.columns().iter().find(|(n, _)| n == name) {
            Some((_, Column::Text(v))) => Ok(v.clone()),
            Some((_, Column::OptionalText(v))) => Ok(v.iter().map(|s| s.clone().unwrap_or_default()).collect()),
            _ => anyhow::bail!("scores.parquet has no text column {name}"),
        }
    }
}

/// Renders the report of the run in `dir`.
pub fn render_run(dir: &Path) -> Result<String> {
    // The manifest first: a directory that is not a run is said to be one before any table is read.
    let manifest = Manifest::read(dir)?;
    render(dir, manifest, Tables::read(dir)?)
}

/// [`render_run`] with the run's large tables already decoded (see [`Tables::decode`]).
pub fn render_run_with(dir: &Path, tables: Tables) -> Result<String> {
    render(dir, Manifest::read(dir)?, tables)
}

fn render(dir: &Path, manifest: Manifest, tables: Tables) -> Result<String> {
    let run = Run::load(dir, manifest, tables)?;
    let mut body = String::new();
    headline(&run, &mut body)?;
    did_it_work(&run, &mut body);
    over_time(&run, &mut body);
    segments(&run, &mut body);
    concentration(&run, &mut body)?;
    risk(&run, &mut body)?;
    model_quality(&run, &mut body);
    drift(&run, &mut body);
    data_quality(&run, &mut body)?;
    Ok(page(&format!("Churn report {}", run.as_of), &body))
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;color:#1a1a1a;background:#fafafa}\
main{max-width:1100px;margin:0 auto;padding:24px}h1{font-size:26px;margin:0 0 4px}h2{font-size:20px;margin:32px 0 8px;border-bottom:2px solid #0072B2;padding-bottom:4px}\
h3{font-size:15px;margin:18px 0 6px}p.note{color:#555;font-size:13px;margin:4px 0 10px}\
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}.card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:10px 14px;min-width:150px}\
.card b{display:block;font-size:22px}.card span{font-size:12px;color:#555}\
.charts{display:flex;flex-wrap:wrap;gap:16px}svg.chart{background:#fff;border:1px solid #e3e3e3;border-radius:4px}\
table{border-collapse:collapse;background:#fff;font-size:13px;margin:6px 0 12px}th,td{border:1px solid #ddd;padding:4px 8px;text-align:right}\
th{background:#f0f0f0}td.l,th.l{text-align:left}.ok{color:#1b7a3a}.warn{color:#b36b00;font-weight:600}.bad{color:#c0392b;font-weight:700}\
.badge{padding:1px 6px;border-radius:3px;font-size:12px}.badge.stable{background:#e3f4e8}.badge.moderate{background:#fff0d6}.badge.major{background:#fbe0dc}";

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" \
         content=\"width=device-width, initial-scale=1\"><title>{}</title><style>{STYLE}</style></head>\n\
         <body><main>\n{body}\n</main></body></html>\n",
        escape(title)
    )
}

/// A metric that may be undefined (one class only), as NaN: it prints as `NaN`, never as a number.
fn or_nan(v: Option<f64>) -> f64 {
    v.unwrap_or(f64::NAN)
}

/// A metric set of the evaluation, by its key, when there is an evaluation.
fn metrics<'a>(evaluation: Option<&'a Evaluation>, key: &str) -> Option<&'a Metrics> {
    evaluation.map(|e| match key {
        "recency_baseline" => &e.recency_baseline,
        "rfm_baseline" => &e.rfm_baseline,
        _ => &e.model,
    })
}

fn card(out: &mut String, value: &str, label: &str) {
    let _ = write!(
        out,
        "<div class=\"card\"><b>{}</b><span>{}</span></div>",
        escape(value),
        escape(label)
    );
}

fn headline(run: &Run, out: &mut String) -> Result<()> {
    let m = &run.manifest;
    let model = &m.model;
    let evaluation = model.evaluation.as_ref();
    let auc = |key: &str| or_nan(metrics(evaluation, key).and_then(|m| m.roc_auc));
    let horizon = m.horizon_days;
    let _ = write!(
        out,
        "<section id=\"headline\"><h1>Customer churn report, as of {}</h1><p class=\"note\">Churn: no purchase \
         within {horizon} days. Customers are scored on their purchases before {}.</p><div class=\"cards\">",
        run.as_of, run.as_of
    );
    card(out, &count(m.customers as u64), "customers scored");
    let (customers, churners) = (model.training_customers as u64, model.training_churners);
    card(
        out,
        &percent(churners as f64 / customers.max(1) as f64),
        &format!(
            "churned in the last {horizon} days ({} of {} customers at {})",
            count(churners),
            count(customers),
            model.training_snapshot
        ),
    );
    match &m.at_risk.budget {
        Some(b) => card(
            out,
            &count(m.at_risk.customers as u64),
            &format!(
                "customers to contact: the highest expected gain within {} (spends {}, expected gain {})",
                match (b.contacts, b.money) {
                    (Some(n), _) => format!("{} contacts", count(n as u64)),
                    (_, Some(x)) => money(x),
                    _ => String::new(),
                },
                money(b.spent),
                money(b.expected_gain)
            ),
        ),
        None => card(out, &count(m.at_risk.customers as u64), "customers at risk"),
    }
    if let Some(h) = &m.holdout {
        card(
            out,
            &count(h.customers as u64),
            &format!(
                "held out as the control group ({} of everyone, \"{}\"): in holdout.csv, not on the list",
                percent(h.share),
                h.salt
            ),
        );
    }
    let basis = match m.at_risk.value_basis {
        ValueBasis::Clv => "churn probability x lifetime value",
        ValueBasis::Spend365d => "churn probability x spend in the last 365 days",
    };
    card(
        out,
        &money(m.at_risk.value_at_risk),
        &format!("value at risk ({basis})"),
    );
    card(
        out,
        &format!("{:.3}", auc("model")),
        &format!(
            "ROC AUC out of time (recency alone {:.3}, RFM score {:.3})",
            auc("recency_baseline"),
            auc("rfm_baseline")
        ),
    );
    let promoted = model.promoted;
    card(
        out,
        if promoted { "promoted" } else { "not promoted" },
        &if promoted {
            "tonight's model passed its gates and scores".to_string()
        } else {
            format!("kept {}: {}", model.scoring_model, model.refusals.join("; "))
        },
    );
    out.push_str("</div></section>\n");
    Ok(())
}

fn segments(run: &Run, out: &mut String) {
    let p = &run.profiles;
    out.push_str("<section id=\"segments\"><h2>Segments</h2>");
    let (Some(name), Some(customers), Some(share_c), Some(share_r)) = (
        p.column("segment_name"),
        p.column("customers"),
        p.column("share_customers"),
        p.column("share_revenue"),
    ) else {
        out.push_str("<p class=\"note\">segment_profiles.csv lacks its columns.</p></section>\n");
        return;
    };
    let cell = |row: &Vec<String>, i: usize| row.get(i).cloned().unwrap_or_default();
    let num = |row: &Vec<String>, i: usize| cell(row, i).parse::<f64>().unwrap_or(f64::NAN);
    let names: Vec<String> = p.rows.iter().map(|r| cell(r, name)).collect();
    out.push_str("<div class=\"charts\">");
    out.push_str(&bar_chart(
        "segment-shares",
        "Customers and revenue by segment",
        &names,
        &[
            ("share of customers", p.rows.iter().map(|r| num(r, share_c)).collect()),
            ("share of revenue", p.rows.iter().map(|r| num(r, share_r)).collect()),
        ],
        Ticks::Percent,
        &percent,
    ));
    out.push_str(
        "</div><h3>Segment profiles</h3><table id=\"profiles\"><tr><th class=\"l\">segment</th><th>customers</th>\
        <th>days since last order (median)</th><th>orders (median)</th><th>total spend (median)</th>\
        <th>days as customer (median)</th><th>churned in the last horizon</th></tr>",
    );
    for row in &p.rows {
        let get = |col: &str, f: &dyn Fn(f64) -> String| p.column(col).map_or("-".to_string(), |i| f(num(row, i)));
        let _ = write!(
            out,
            "<tr><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&cell(row, name)),
            count(num(row, customers) as u64),
            get("recency_days_median", &|v| number(v, 0)),
            get("frequency_median", &|v| number(v, 1)),
            get("monetary_total_median", &money),
            get("tenure_days_median", &|v| number(v, 0)),
            get("churn_rate", &percent),
        );
    }
    out.push_str("</table>");
    // The k-means segments against the RFM rule segments.
    let rfm: Vec<(usize, &str)> = p
        .header
        .iter()
        .enumerate()
        .filter_map(|(i, h)| h.strip_prefix("rfm_segment=").map(|n| (i, n)))
        .collect();
    if !rfm.is_empty() {
        out.push_str("<h3>Segments against the RFM segments</h3><p class=\"note\">Customers in each pair; shading by the share of the segment's row.</p><table id=\"crosstab\"><tr><th class=\"l\">segment</th>");
        for (_, n) in &rfm {
            let _ = write!(out, "<th>{}</th>", escape(n));
        }
        out.push_str("</tr>");
        for row in &p.rows {
            let total = num(row, customers).max(1.0);
            let _ = write!(out, "<tr><td class=\"l\">{}</td>", escape(&cell(row, name)));
            for (i, _) in &rfm {
                let v = num(row, *i);
                let _ = write!(
                    out,
                    "<td style=\"background:rgba(0,114,178,{:.2})\">{}</td>",
                    (v / total).clamp(0.0, 1.0) * 0.6,
                    if v.is_finite() { count(v as u64) } else { "-".into() }
                );
            }
            out.push_str("</tr>");
        }
        out.push_str("</table>");
    }
    // Moves since the previous run.
    let c = &run.changes;
    out.push_str("<h3>Changes since the previous run</h3>");
    if c.rows.is_empty() {
        out.push_str("<p class=\"note\">No changes: this is the first run, or nobody moved.</p>");
    } else if let (Some(kind), Some(old), Some(new)) =
        (c.column("change"), c.column("old_value"), c.column("new_value"))
    {
        let mut kinds: std::collections::BTreeMap<&str, u64> = Default::default();
        let mut moves: std::collections::BTreeMap<(&str, &str), u64> = Default::default();
        for row in &c.rows {
            let k = row.get(kind).map_or("", String::as_str);
            *kinds.entry(k).or_default() += 1;
            if k == "segment_changed" {
                let pair = (
                    row.get(old).map_or("", String::as_str),
                    row.get(new).map_or("", String::as_str),
                );
                *moves.entry(pair).or_default() += 1;
            }
        }
        out.push_str("<table id=\"changes\"><tr><th class=\"l\">change</th><th>customers</th></tr>");
        for (k, n) in &kinds {
            let _ = write!(
                out,
                "<tr><td class=\"l\">{}</td><td>{}</td></tr>",
                escape(&k.replace('_', " ")),
                count(*n)
            );
        }
        out.push_str("</table>");
        if !moves.is_empty() {
            let mut moves: Vec<_> = moves.into_iter().collect();
            moves.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            out.push_str("<table id=\"moves\"><tr><th class=\"l\">from segment</th><th class=\"l\">to segment</th><th>customers</th></tr>");
            for ((from, to), n) in moves.iter().take(12) {
                let _ = write!(
                    out,
                    "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td></tr>",
                    escape(from),
                    escape(to),
                    count(*n)
                );
            }
            out.push_str("</table>");
        }
    }
    out.push_str("</section>\n");
}

/// The Lorenz curve of total spend: customers from the biggest spender down, against the share of
/// all spend they bring (negative totals count as 0).
fn lorenz(spend: &[f64]) -> (Vec<[f64; 2]>, f64, f64) {
    let mut sorted: Vec<f64> = spend.iter().map(|v| v.max(0.0)).collect();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let total: f64 = sorted.iter().sum();
    let n = sorted.len();
    if n == 0 || total <= 0.0 {
        return (vec![[0.0, 0.0], [1.0, 1.0]], f64::NAN, f64::NAN);
    }
    let mut cumulative = Vec::with_capacity(n + 1);
    let mut running = 0.0;
    cumulative.push(0.0);
    for v in &sorted {
        running += v;
        cumulative.push(running / total);
    }
    // The share of the top `q` of customers, interpolating inside the customer at the cut.
    let share = |q: f64| {
        let position = q * n as f64;
        let whole = position.floor() as usize;
        let next = cumulative[(whole + 1).min(n)];
        cumulative[whole.min(n)] + (position - whole as f64) * (next - cumulative[whole.min(n)])
    };
    let points = (0..=100).map(|k| [k as f64 / 100.0, share(k as f64 / 100.0)]).collect();
    (points, share(0.1), share(0.2))
}

fn concentration(run: &Run, out: &mut String) -> Result<()> {
    let spend = run.features.required("monetary_total")?;
    let (points, top10, top20) = lorenz(&spend);
    let _ = write!(
        out,
        "<section id=\"concentration\"><h2>Revenue concentration</h2><p class=\"note\">The top 10 % of customers \
         bring <b>{}</b> of all spend, the top 20 % bring <b>{}</b>.</p><div class=\"charts\">",
        percent(top10),
        percent(top20)
    );
    out.push_str(&line_chart(
        "lorenz",
        "Share of spend by the top customers",
        ("share of customers, biggest spenders first", Ticks::Percent, 0.0, 1.0),
        ("share of total spend", Ticks::Percent, 0.0, 1.0),
        &[Series {
            name: "customers",
            points: &points,
            dash: Dash::Solid,
            labels: &[],
            markers: false,
        }],
        true,
    ));
    out.push_str("</div></section>\n");
    Ok(())
}

fn risk(run: &Run, out: &mut String) -> Result<()> {
    let p = run.floats("churn_probability")?;
    let value = run.floats("value_at_risk")?;
    let bands = run.texts("risk_band")?;
    let segments = run.texts("segment")?;
    let mut histogram_counts = vec![0.0; 20];
    for v in p {
        histogram_counts[((v * 20.0) as usize).min(19)] += 1.0;
    }
    // Where the bands start: the configured probabilities, or with bands by top share the lowest
    // probabilities that made each band tonight.
    let lowest = |in_band: &dyn Fn(&str) -> bool| {
        (0..p.len())
            .filter(|&i| in_band(&bands[i]))
            .map(|i| p[i])
            .min_by(f64::total_cmp)
    };
    let (medium, high) = match run.manifest.settings.score.bands {
        churn_score::RiskBands::Probability { medium, high } => (Some(medium), Some(high)),
        churn_score::RiskBands::TopShare { .. } => {
            (lowest(&|b| b == "medium" || b == "high"), lowest(&|b| b == "high"))
        }
    };
    let thresholds: Vec<(f64, String)> = [(medium, "medium"), (high, "high")]
        .into_iter()
        .filter_map(|(at, name)| Some((at?, format!("{name} from {}", percent(at?)))))
        .collect();
    out.push_str("<section id=\"risk\"><h2>Risk</h2><div class=\"charts\">");
    out.push_str(&histogram(
        "probabilities",
        "Customers by churn probability",
        &histogram_counts,
        ("churn probability (5-point bins)", "customers"),
        &thresholds,
    ));
    out.push_str("</div><h3>At risk by segment and band</h3><table id=\"risk-table\"><tr><th class=\"l\">segment</th>");
    let band_names = churn_score::RiskBand::ALL.map(churn_score::RiskBand::as_str);
    for b in band_names {
        let _ = write!(out, "<th>{b}: customers</th><th>{b}: value at risk</th>");
    }
    out.push_str("</tr>");
    // One pass: (customers, value) per segment and band; segments by id, as in every other table.
    let order = segment_order(run);
    let mut cells: Vec<(&str, [(u64, f64); 3])> = Vec::new();
    for i in 0..p.len() {
        if let Some(b) = band_names.iter().position(|b| *b == bands[i]) {
            let name = segments[i].as_str();
            let row = match cells.iter().position(|(n, _)| *n == name) {
                Some(row) => row,
                None => {
                    cells.push((name, Default::default()));
                    cells.len() - 1
                }
            };
            cells[row].1[b].0 += 1;
            cells[row].1[b].1 += value[i];
        }
    }
    cells.sort_by_key(|(name, _)| {
        (
            order.iter().position(|n| n == name).unwrap_or(usize::MAX),
            name.to_string(),
        )
    });
    for (name, row) in &cells {
        let _ = write!(out, "<tr><td class=\"l\">{}</td>", escape(name));
        for (n, v) in row {
            let _ = write!(out, "<td>{}</td><td>{}</td>", count(*n), money(*v));
        }
        out.push_str("</tr>");
    }
    out.push_str("</table></section>\n");
    Ok(())
}

/// A model column in plain words: `log1p(frequency)` -> "orders (log scale)".
fn plain_words(column: &str) -> String {
    let words = |name: &str| -> String {
        match name {
            "recency_days" => "days since the last order".into(),
            "frequency" => "orders".into(),
            "monetary_total" => "total spend".into(),
            "monetary_avg_order" => "average order value".into(),
            "tenure_days" => "days since the first order".into(),
            "spend_30d" => "spend in the last 30 days".into(),
            "spend_90d" => "spend in the last 90 days".into(),
            "spend_365d" => "spend in the last 365 days".into(),
            "orders_90d" => "orders in the last 90 days".into(),
            "avg_days_between_orders" => "days between orders".into(),
            "return_ratio" => "share of spend returned".into(),
            "p_alive" => "P(still a customer), lifetime-value model".into(),
            "rfm_score" => "RFM score".into(),
            other if other.starts_with("expected_purchases_") => "expected purchases, lifetime-value model".into(),
            other => other.replace('_', " "),
        }
    };
    if let Some(inner) = column.strip_prefix("missing(").and_then(|s| s.strip_suffix(')')) {
        return format!("{} unknown (one order)", words(inner));
    }
    for prefix in ["signed_log1p(", "log1p("] {
        if let Some(inner) = column.strip_prefix(prefix).and_then(|s| s.strip_suffix(')')) {
            return format!("{} (log scale)", words(inner));
        }
    }
    words(column)
}

fn model_quality(run: &Run, out: &mut String) {
    let model = &run.manifest.model;
    let e = model.evaluation.as_ref();
    let _ = write!(
        out,
        "<section id=\"model\"><h2>Model quality</h2><p class=\"note\">Out of time: fitted on {}, evaluated on {} \
         ({} customers, {} churned). Baselines are fitted the same way on recency alone and on the RFM score.</p>",
        e.and_then(|e| e.fit_snapshot.as_deref()).unwrap_or("?"),
        e.and_then(|e| e.eval_snapshot.as_deref()).unwrap_or("?"),
        count(e.map_or(0, |e| e.customers)),
        count(e.map_or(0, |e| e.churners)),
    );
    out.push_str("<table id=\"metrics\"><tr><th class=\"l\"></th><th>ROC AUC</th><th>PR AUC</th><th>log loss</th><th>Brier</th><th>lift in top 10%</th><th>churners caught in top 10%</th></tr>");
    let names = [
        ("model", "model"),
        ("recency_baseline", "recency alone"),
        ("rfm_baseline", "RFM score"),
    ];
    for (key, name) in names {
        let m = metrics(e, key);
        let top = m.and_then(|m| m.top_decile);
        let _ = write!(
            out,
            "<tr><td class=\"l\">{name}</td><td>{:.3}</td><td>{:.3}</td><td>{:.3}</td><td>{:.3}</td><td>{:.2}</td><td>{}</td></tr>",
            or_nan(m.and_then(|m| m.roc_auc)),
            or_nan(m.and_then(|m| m.pr_auc)),
            or_nan(m.map(|m| m.log_loss)),
            or_nan(m.map(|m| m.brier)),
            or_nan(top.map(|t| t.lift)),
            percent(or_nan(top.map(|t| t.capture))),
        );
    }
    let _ = write!(
        out,
        "</table><p class=\"note\">The scoring model is {}. In the coefficient chart, a bar to the right means that \
         more of that input goes with more churn, one standard deviation at a time.</p><div class=\"charts\">",
        escape(&model.scoring_model)
    );
    // ROC and gains: the model solid, recency alone dashed, the RFM score dotted, each with a few
    // dots of its own, so that curves lying on one another are still told apart.
    let churn_share = e
        .filter(|e| e.customers > 0)
        .map(|e| e.churners as f64 / e.customers as f64);
    let perfect: Vec<[f64; 2]> = churn_share.map_or_else(Vec::new, |b| vec![[0.0, 0.0], [b, 1.0], [1.0, 1.0]]);
    let curves = [
        (
            "roc",
            "ROC curve",
            (|m: &Metrics| m.roc_curve.clone()) as fn(&Metrics) -> Vec<[f64; 2]>,
            "retained customers flagged (false positive rate)",
            "churners flagged (true positive rate)",
        ),
        (
            "gains",
            "Cumulative gains",
            |m: &Metrics| m.gains.clone(),
            "customers contacted, highest risk first",
            "share of churners reached",
        ),
    ];
    for (chart, title, points_of, x_label, y_label) in curves {
        let points: Vec<Vec<[f64; 2]>> = names
            .iter()
            .map(|(k, _)| metrics(e, k).map(points_of).unwrap_or_default())
            .collect();
        let mut series: Vec<Series> = names
            .iter()
            .zip(&points)
            .zip([Dash::Solid, Dash::Dashed, Dash::Dotted])
            .map(|(((_, name), points), dash)| Series {
                name,
                points,
                dash,
                markers: true,
                labels: &[],
            })
            .collect();
        // Gains of a perfect model (every churner first): without it, at a high churn rate every
        // curve hugs the diagonal and the model's lead looks small.
        if chart == "gains" && !perfect.is_empty() {
            series.push(Series {
                name: "perfect model",
                points: &perfect,
                dash: Dash::Dotted,
                ..Series::default()
            });
        }
        out.push_str(&line_chart(
            chart,
            title,
            (x_label, Ticks::Percent, 0.0, 1.0),
            (y_label, Ticks::Percent, 0.0, 1.0),
            &series,
            true,
        ));
    }
    // Each point with the customers behind it: a bin of 18 customers is read differently from
    // one of 1,800.
    let (calibration, bin_counts): (Vec<[f64; 2]>, Vec<String>) = e
        .map(|e| {
            e.calibration
                .iter()
                .filter_map(|b| Some(([b.mean_predicted?, b.observed_rate?], count(b.customers))))
                .unzip()
        })
        .unwrap_or_default();
    out.push_str(&line_chart(
        "calibration",
        "Calibration (the customers in each bin beside its point)",
        ("predicted churn probability (bin mean)", Ticks::Percent, 0.0, 1.0),
        ("observed churn rate", Ticks::Percent, 0.0, 1.0),
        &[Series {
            name: "model",
            points: &calibration,
            dash: Dash::Solid,
            markers: true,
            labels: &bin_counts,
        }],
        true,
    ));
    let mut coefficients: Vec<(String, f64)> = model
        .coefficients
        .iter()
        .map(|c| (plain_words(&c.column), c.coefficient))
        .collect();
    coefficients.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
    let labels: Vec<String> = coefficients.iter().map(|(n, _)| n.clone()).collect();
    out.push_str(&bar_chart(
        "coefficients",
        "What moves the churn risk (log-odds per standard deviation)",
        &labels,
        &[("coefficient", coefficients.iter().map(|(_, c)| *c).collect())],
        Ticks::Number,
        &|v| format!("{v:+.2}"),
    ));
    out.push_str("</div></section>\n");
}

fn drift(run: &Run, out: &mut String) {
    let d = &run.manifest.drift;
    let _ = write!(
        out,
        "<section id=\"drift\"><h2>Drift</h2><p class=\"note\">Each model input and the churn probability now, \
         against the training snapshot {}: population stability index (PSI) over the training deciles. Below 0.1 \
         stable, 0.1 to 0.25 a moderate shift, above 0.25 a major one.</p>",
        d.reference_snapshot
    );
    // The score first, then each input.
    let all: Vec<&Drift> = std::iter::once(&d.score).chain(&d.features).collect();
    out.push_str(
        "<table id=\"psi\"><tr><th class=\"l\">distribution</th><th>PSI</th><th class=\"l\">reading</th></tr>",
    );
    let mut expected_note = false;
    for item in &all {
        let level = item.level.as_str();
        // Tenure moves by construction: at `S` every customer of the training snapshot is `H`
        // days older, and on a young history that is a large share of everyone's tenure.
        let expected = churn_pipeline::nightly::drifts_by_construction(&item.name)
            && item.level != churn_score::DriftLevel::Stable;
        expected_note |= expected;
        let _ = write!(
            out,
            "<tr><td class=\"l\">{}</td><td>{:.3}</td><td class=\"l\"><span class=\"badge {}\">{level}</span>{}</td></tr>",
            escape(&plain_words(&item.name)),
            item.psi,
            if expected { "stable" } else { level },
            if expected { " expected (see below)" } else { "" },
        );
    }
    out.push_str("</table>");
    if expected_note {
        out.push_str(
            "<p class=\"note\" id=\"drift-expected\">Days since the first order shift by construction: between the \
             training snapshot and tonight every customer grew one horizon older, which on a young history is a large \
             part of everyone's tenure. Its PSI says little about the data and is not an alarm here.</p>",
        );
    }
    out.push_str("<div class=\"charts\">");
    // The score and the three inputs that moved most.
    let mut shown: Vec<&Drift> = all.iter().skip(1).copied().collect();
    shown.sort_by(|a, b| b.psi.total_cmp(&a.psi));
    shown.truncate(3);
    shown.insert(0, &d.score);
    for item in shown {
        let bins = &item.bins;
        let labels: Vec<String> = bins
            .iter()
            .map(|b| {
                if b.null {
                    "none".to_string()
                } else {
                    match (b.lower, b.upper) {
                        (_, Some(u)) => format!("≤{}", short(u)),
                        (Some(l), None) => format!(">{}", short(l)),
                        (None, None) => "all".to_string(),
                    }
                }
            })
            .collect();
        let share = |of: fn(&churn_score::DriftBin) -> f64| bins.iter().map(of).collect::<Vec<f64>>();
        let name = item.name.as_str();
        out.push_str(&column_chart(
            &format!("drift-{name}"),
            &format!("{} (PSI {:.3})", plain_words(name), item.psi),
            &labels,
            &[
                ("training snapshot", share(|b| b.reference)),
                ("now", share(|b| b.current)),
            ],
            ("bins of the training snapshot", "share of customers"),
            Ticks::Percent,
        ));
    }
    out.push_str("</div></section>\n");
}

/// Segment names by segment id, from `segment_profiles.csv` (the order of every segment table).
fn segment_order(run: &Run) -> Vec<String> {
    let (Some(id), Some(name)) = (run.profiles.column("segment_id"), run.profiles.column("segment_name")) else {
        return Vec::new();
    };
    let mut rows: Vec<(u64, String)> = run
        .profiles
        .rows
        .iter()
        .map(|r| (r[id].parse().unwrap_or(u64::MAX), r[name].clone()))
        .collect();
    rows.sort();
    rows.into_iter().map(|(_, n)| n).collect()
}

/// "Did it work?": each earlier list against its control group over its window, from
/// `uplift.csv`: the totals of every measured run, then the latest run per action. Shown when the
/// run holds customers out or has measurements.
fn did_it_work(run: &Run, out: &mut String) {
    let rows: &[Vec<String>] = run.uplift.as_ref().map_or(&[], |u| &u.rows);
    let Some(uplift) = run
        .uplift
        .as_ref()
        .filter(|_| run.manifest.holdout.is_some() || !rows.is_empty())
    else {
        return;
    };
    let col = |name: &str| uplift.column(name);
    let text = |row: &[String], name: &str| col(name).map_or(String::new(), |c| row[c].clone());
    let value = |row: &[String], name: &str| col(name).and_then(|c| row[c].parse::<f64>().ok());
    out.push_str(
        "<section id=\"uplift\"><h2>Did it work?</h2><p class=\"note\">Each earlier list against its control group: \
         customers the list would have held but <code>holdout.csv</code> kept out of the CRM, over the horizon after \
         the list. Retained: at least one purchase in that window. Intervals are 95 %; an uplift is shown to be real \
         only when its interval lies above zero.",
    );
    if rows.is_empty() {
        let first = run.as_of + Duration::days(run.manifest.horizon_days);
        let _ = writeln!(
            out,
            " Nothing is measured yet: tonight's list is measured by the first run on or after {first}, when its \
             window ends.</p></section>"
        );
        return;
    }
    out.push_str(" All figures are in <code>uplift.csv</code>.</p>");
    let interval =
        |row: &[String], low: &str, high: &str, show: &dyn Fn(f64) -> String| match (value(row, low), value(row, high))
        {
            (Some(l), Some(h)) => format!("{} to {}", show(l), show(h)),
            _ => "-".to_string(),
        };
    let points = |v: f64| format!("{:+.1} pts", 100.0 * v);
    let verdict = |row: &[String]| match (value(row, "retained_uplift_low"), value(row, "retained_uplift_high")) {
        (Some(l), _) if l > 0.0 => ("ok", "helped"),
        (_, Some(h)) if h < 0.0 => ("bad", "hurt"),
        (Some(_), Some(_)) => ("", "not shown"),
        _ => ("warn", "too few customers"),
    };
    let table = |out: &mut String, first: &str, rows: &[&Vec<String>], label: &dyn Fn(&[String]) -> String| {
        let _ = write!(
            out,
            "<table><tr><th class=\"l\">{first}</th><th>treated</th><th>control</th><th>retained (treated)</th>\
             <th>retained (control)</th><th>retention uplift</th><th>95 % interval</th><th>revenue uplift per \
             customer</th><th>95 % interval</th><th>incremental revenue</th><th class=\"l\">verdict</th></tr>"
        );
        for row in rows {
            let share = |n: &str, d: &str| match (value(row, n), value(row, d)) {
                (Some(n), Some(d)) if d > 0.0 => percent(n / d),
                _ => "-".to_string(),
            };
            let (class, word) = verdict(row);
            let _ = write!(
                out,
                "<tr><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
                 <td>{}</td><td>{}</td><td>{}</td><td class=\"l {class}\">{word}</td></tr>",
                escape(&label(row)),
                count(value(row, "treatment_customers").unwrap_or(0.0) as u64),
                count(value(row, "control_customers").unwrap_or(0.0) as u64),
                share("treatment_retained", "treatment_customers"),
                share("control_retained", "control_customers"),
                value(row, "retained_uplift").map_or("-".into(), points),
                interval(row, "retained_uplift_low", "retained_uplift_high", &points),
                value(row, "revenue_uplift_per_customer").map_or("-".into(), money),
                interval(row, "revenue_uplift_low", "revenue_uplift_high", &money),
                value(row, "incremental_revenue").map_or("-".into(), money),
            );
        }
        out.push_str("</table>");
    };
    let totals: Vec<&Vec<String>> = rows
        .iter()
        .filter(|r| text(r, "action") == "all" && text(r, "segment") == "all")
        .collect();
    // The latest twelve lists, newest first.
    let recent: Vec<&Vec<String>> = totals.iter().rev().take(12).copied().collect();
    out.push_str("<h3>Every list, in total</h3>");
    let interval_rows = |rows: &[&Vec<String>], label: &dyn Fn(&[String]) -> String| -> Vec<IntervalRow> {
        rows.iter()
            .filter_map(|r| {
                Some(IntervalRow {
                    label: label(r),
                    estimate: value(r, "retained_uplift")?,
                    interval: value(r, "retained_uplift_low").zip(value(r, "retained_uplift_high")),
                })
            })
            .collect()
    };
    let lists = interval_rows(&recent, &|r| text(r, "as_of"));
    if !lists.is_empty() {
        let _ = write!(
            out,
            "<div class=\"charts\">{}</div>",
            interval_chart(
                "uplift-lists",
                "Retention uplift of each list, with its 95 % interval",
                ("treated minus control retention", Ticks::Percent),
                &lists
            )
        );
    }
    table(out, "list of, measured until", &recent, &|r| {
        format!("{}, until {}", text(r, "as_of"), text(r, "window_end"))
    });
    if let Some(latest) = totals.last() {
        let run_id = text(latest, "measured_run");
        let actions: Vec<&Vec<String>> = rows
            .iter()
            .filter(|r| text(r, "measured_run") == run_id && text(r, "action") != "all" && text(r, "segment") == "all")
            .collect();
        let _ = write!(
            out,
            "<h3>The list of {}, by recommended action</h3>",
            escape(&text(latest, "as_of"))
        );
        let by_action = interval_rows(&actions, &|r| text(r, "action"));
        if !by_action.is_empty() {
            let _ = write!(
                out,
                "<div class=\"charts\">{}</div>",
                interval_chart(
                    "uplift-actions",
                    &format!("Retention uplift by action, list of {}", text(latest, "as_of")),
                    ("treated minus control retention", Ticks::Percent),
                    &by_action
                )
            );
        }
        table(out, "action", &actions, &|r| text(r, "action"));
        for row in rows.iter().filter(|r| text(r, "measured_run") == run_id) {
            let note = text(row, "note");
            if !note.is_empty() && text(row, "segment") == "all" {
                let _ = write!(
                    out,
                    "<p class=\"note\">{}: {}</p>",
                    escape(&text(row, "action")),
                    escape(&note)
                );
            }
        }
    }
    out.push_str("</section>\n");
}

/// The retention figures night by night, from `history.csv`: small multiples of each figure, in
/// total and per segment, with the nights where the model changed or the segments were refitted
/// marked, and the last nights as a table.
fn over_time(run: &Run, out: &mut String) {
    let Some(history) = &run.history else {
        return;
    };
    let col = |name: &str| history.column(name);
    let (Some(as_of), Some(segment)) = (col("as_of"), col("segment")) else {
        return;
    };
    let day = |text: &str| {
        NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .map(|d| (d - NaiveDate::default()).num_days() as f64)
            .ok()
    };
    let value = |row: &[String], name: &str| col(name).and_then(|c| row[c].parse::<f64>().ok());
    let flag = |row: &[String], name: &str| col(name).is_some_and(|c| row[c] == "true");
    let all: Vec<&Vec<String>> = history.rows.iter().filter(|r| r[segment] == "all").collect();
    // Segments in the order of tonight's model (by id), then any older names.
    let mut names: Vec<String> = run
        .manifest
        .kpis
        .as_ref()
        .map(|k| k.segments.iter().map(|s| s.segment.clone()).collect())
        .unwrap_or_default();
    for r in &history.rows {
        if r[segment] != "all" && !names.contains(&r[segment]) {
            names.push(r[segment].clone());
        }
    }
    let _ = write!(
        out,
        "<section id=\"over-time\"><h2>Over time</h2><p class=\"note\">{} night{} in <code>history.csv</code>, \
         derived from the published runs' manifests.",
        all.len(),
        if all.len() == 1 { "" } else { "s" }
    );
    if all.len() < 2 {
        out.push_str(" The series start with this run: each night adds a point.</p>");
    } else {
        out.push_str(
            " Dotted vertical lines mark the nights where the scoring model changed or the segments were refitted; \
             the total is the solid line with dots, segments are dashed.</p>",
        );
    }
    let marks: Vec<f64> = all
        .iter()
        .filter(|r| flag(r, "model_changed") || flag(r, "segments_refitted"))
        .filter_map(|r| day(&r[as_of]))
        .collect();
    let points = |rows: &[&Vec<String>], name: &str| -> Vec<[f64; 2]> {
        rows.iter()
            .filter_map(|r| Some([day(&r[as_of])?, value(r, name)?]))
            .collect()
    };
    let per_segment: Vec<(String, Vec<&Vec<String>>)> = names
        .iter()
        .map(|n| (n.clone(), history.rows.iter().filter(|r| &r[segment] == n).collect()))
        .collect();
    out.push_str("<div class=\"charts\">");
    let charts: [(&str, &str, Ticks, bool); 6] = [
        ("customers", "Customers scored", Ticks::Number, false),
        ("churn_rate", "Churn over the last horizon", Ticks::Percent, true),
        ("repeat_purchase_rate", "Repeat-purchase rate", Ticks::Percent, true),
        ("value_at_risk", "Value at risk", Ticks::Number, true),
        (
            "roc_auc_out_of_time",
            "Out-of-time ROC AUC of the model",
            Ticks::Number,
            false,
        ),
        ("mean_clv", "Mean lifetime value", Ticks::Number, true),
    ];
    for (name, title, ticks, by_segment) in charts {
        let total = points(&all, name);
        if total.is_empty() {
            continue;
        }
        let mut lines: Vec<(String, Vec<[f64; 2]>)> = vec![("all customers".to_string(), total)];
        if by_segment {
            lines.extend(
                per_segment
                    .iter()
                    .map(|(n, rows)| (n.clone(), points(rows, name)))
                    .filter(|(_, p)| !p.is_empty()),
            );
        }
        let ys = lines.iter().flat_map(|(_, p)| p.iter().map(|p| p[1]));
        let (lo, hi) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), y| (lo.min(y), hi.max(y)));
        let (lo, hi) = match ticks {
            // Shares on their whole scale, so that a small move does not look like a large one.
            Ticks::Percent => (0.0, 1.0),
            _ if name == "roc_auc_out_of_time" => (lo.min(0.5), 1.0),
            _ => (lo.min(0.0), if hi > lo.min(0.0) { hi } else { lo.min(0.0) + 1.0 }),
        };
        let series: Vec<Series> = lines
            .iter()
            .enumerate()
            .map(|(i, (n, p))| Series {
                name: n,
                points: p,
                dash: if i == 0 { Dash::Solid } else { Dash::Dashed },
                markers: i == 0 || all.len() < 2,
                labels: &[],
            })
            .collect();
        out.push_str(&time_chart(
            &format!("history-{name}"),
            title,
            (title, ticks, lo, hi),
            &series,
            &marks,
        ));
    }
    out.push_str("</div>");
    // The last nights as numbers.
    out.push_str(
        "<table id=\"history\"><tr><th class=\"l\">night</th><th>customers</th><th>churn rate</th>\
         <th>repeat rate</th><th>at risk</th><th>value at risk</th><th>ROC AUC</th><th class=\"l\">changed</th></tr>",
    );
    for r in all.iter().rev().take(10) {
        let pct = |name: &str| value(r, name).map_or("-".to_string(), percent);
        let changed: Vec<&str> = [("model_changed", "model"), ("segments_refitted", "segments")]
            .into_iter()
            .filter(|(f, _)| flag(r, f))
            .map(|(_, what)| what)
            .collect();
        let _ = write!(
            out,
            "<tr><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"l\">{}</td></tr>",
            escape(&r[as_of]),
            value(r, "customers").map_or("-".into(), |v| count(v as u64)),
            pct("churn_rate"),
            pct("repeat_purchase_rate"),
            value(r, "at_risk_customers").map_or("-".into(), |v| count(v as u64)),
            value(r, "value_at_risk").map_or("-".into(), money),
            value(r, "roc_auc_out_of_time").map_or("-".into(), |v| number(v, 3)),
            escape(&changed.join(", "))
        );
    }
    out.push_str("</table></section>\n");
}

/// A bin edge, short: 3 significant digits.
fn short(v: f64) -> String {
    if v.abs() >= 100.0 || v == v.trunc() {
        number(v, 0)
    } else if v.abs() >= 1.0 {
        number(v, 1)
    } else {
        format!("{v:.2}")
    }
}

fn data_quality(run: &Run, out: &mut String) -> Result<()> {
    let rows = &run.manifest.rows;
    let tenure = run.features.required("tenure_days")?;
    let recency = run.features.required("recency_days")?;
    let date = |days_before: f64| {
        let seconds = (days_before * 86_400.0).round() as i64;
        (run.as_of.and_hms_opt(0, 0, 0).unwrap_or_default() - Duration::seconds(seconds))
            .date()
            .to_string()
    };
    let first = tenure.iter().copied().fold(0.0, f64::max);
    let last = recency.iter().copied().fold(f64::INFINITY, f64::min);
    let _ = write!(
        out,
        "<section id=\"data\"><h2>Data quality</h2><p class=\"note\">Purchases from {} to {} (the customers' first \
         and last purchases before {}).</p><table id=\"rows\"><tr><th class=\"l\">rows</th><th>count</th></tr>",
        date(first),
        if last.is_finite() { date(last) } else { "-".into() },
        run.as_of
    );
    let duplicates = if rows.duplicates_dropped {
        "repeating an earlier row (dropped)"
    } else {
        "repeating an earlier row (kept)"
    };
    for (n, label) in [
        (rows.read, "read"),
        (rows.used, "used for the features"),
        (rows.on_or_after_as_of, "on or after the as-of date (not yet)"),
        (rows.missing_customer_id, "without a customer id (dropped)"),
        (rows.filtered_by_where, "excluded by input.where"),
        (rows.duplicate, duplicates),
        (rows.shared_orders, "order ids under more than one customer (kept)"),
    ] {
        let _ = write!(
            out,
            "<tr><td class=\"l\">{}</td><td>{}</td></tr>",
            escape(label),
            count(n)
        );
    }
    out.push_str("</table>");
    if let Some(t) = &run.manifest.customers_table {
        let _ = write!(
            out,
            "<table id=\"customers-table\"><tr><th class=\"l\">customers table {}</th><th>count</th></tr>",
            escape(&t.path)
        );
        let signup = t.signup_column.as_deref().unwrap_or("no signup column");
        for (n, label) in [
            (t.rows, "rows (one per customer)".to_string()),
            (
                t.customers_without_row,
                "customers who bought, without a row".to_string(),
            ),
            (
                t.rows_without_purchase,
                "rows without a purchase before the as-of date".to_string(),
            ),
            (
                t.signups_used,
                format!("{signup}: on or before the first purchase (tenure starts there)"),
            ),
            (
                t.signups_after_first_purchase,
                format!("{signup}: after the first purchase (not used)"),
            ),
            (
                t.signups_on_or_after_as_of,
                format!("{signup}: on or after the as-of date (not used)"),
            ),
            (t.signups_missing, format!("{signup}: empty")),
        ] {
            let _ = write!(
                out,
                "<tr><td class=\"l\">{}</td><td>{}</td></tr>",
                escape(&label),
                count(n)
            );
        }
        out.push_str("</table>");
    }
    let _ = writeln!(
        out,
        "<p class=\"note\">Written by churn {} from the files of this run.</p></section>",
        escape(&run.manifest.tool_version)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lorenz_curve_matches_a_hand_computation() {
        // Spend 50, 30, 10, 10, 0 and a negative total (counted as 0): 10 customers with 5 zeros.
        let spend = [50.0, 30.0, 10.0, 10.0, 0.0, -5.0, 0.0, 0.0, 0.0, 0.0];
        let (points, top10, top20) = lorenz(&spend);
        assert!((top10 - 0.5).abs() < 1e-12);
        assert!((top20 - 0.8).abs() < 1e-12);
        // A quarter of the customers: 2.5 customers = 50 + 30 + half of 10.
        assert!((points[25][1] - 0.85).abs() < 1e-12);
        assert_eq!(points[100], [1.0, 1.0]);
    }

    #[test]
    fn model_columns_read_as_words() {
        assert_eq!(plain_words("log1p(frequency)"), "orders (log scale)");
        assert_eq!(
            plain_words("missing(avg_days_between_orders)"),
            "days between orders unknown (one order)"
        );
        assert_eq!(plain_words("recency_days"), "days since the last order");
        assert_eq!(plain_words("distinct_categories"), "distinct categories");
    }
}
