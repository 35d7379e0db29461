//! Synthetic retail transactions with a known ground truth.
//!
//! The model is the classic non-contractual one (Pareto/NBD): each customer is acquired at a uniform
//! time in `[start, end)` with a first purchase, then buys as a Poisson process with a personal rate
//! `λ ~ Gamma(r, α)` until an unobserved dropout after an exponential lifetime with a personal rate
//! `μ ~ Gamma(s, β)`. On top of that: weekly seasonality (purchases are thinned by a weekday weight),
//! lognormal order values around a lognormal personal mean, 1-5 lines per order, and about 3 % of
//! lines returned later as negative lines on the original order id.
//!
//! **Continuing a population, with a treatment.** [`GenerateParams::continue_to`] runs the same
//! customers past `end` (nobody new is acquired): every row before `end` is the plain generation's,
//! so a run on the first file and a run on the continued one see the same past. With a
//! [`Treatment`], each treated customer (for example, the customers of an `at_risk.csv` made as
//! of `end`) is won over with probability `effect`: one who had dropped out buys again from `end`
//! on, at their own rate, and one who would have dropped out later does not. That is the ground
//! truth of a retention experiment. Whether a customer's dropout would be
//! averted is drawn from a stream of its own for every customer, treated or not, so generating the
//! same seed with everyone treated and with no one treated gives each customer's two potential
//! outcomes.
//!
//! Every customer draws from its own ChaCha8 stream (`seed`, stream = customer index), so the output
//! is identical across runs and machines and does not depend on batch sizes. Rows are written per
//! customer in time order, in batches, so memory stays flat however many rows are asked for.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Float64Builder, Int64Builder, RecordBatch, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::NaiveDate;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp, Gamma, LogNormal};

use crate::engine::MICROS_PER_DAY;
use crate::error::{Error, Result};

/// How customers drop out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Process {
    /// Pareto/NBD: an exponential lifetime with a personal rate `μ ~ Gamma(s, β)` (the default).
    #[default]
    ParetoNbd,
    /// BG/NBD: right after each repeat purchase the customer drops out with a personal probability
    /// `p ~ Beta(`[`BGNBD_A`]`, `[`BGNBD_B`]`)`. With the purchase rate `λ ~ Gamma(r, α)` of
    /// [`GenerateParams::truth_r`] and [`GenerateParams::truth_alpha_days`], this is exactly the
    /// BG/NBD model (up to weekday seasonality and same-day merging), so a fit can be checked
    /// against the generating parameters.
    BgNbd,
}

/// Beta shape `a` of the BG/NBD dropout probability.
pub const BGNBD_A: f64 = 0.8;
/// Beta shape `b` of the BG/NBD dropout probability.
pub const BGNBD_B: f64 = 2.5;

/// Output format of the generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// `transactions.parquet` and `truth.parquet`.
    Parquet,
    /// `transactions.csv` and `truth.csv`.
    Csv,
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenerateParams {
    /// Number of customers.
    pub customers: u64,
    /// Seed of every random draw.
    pub seed: u64,
    /// First day of the period (inclusive).
    pub start: NaiveDate,
    /// Last day of the period (exclusive): no row is at or after it.
    pub end: NaiveDate,
    /// File format.
    pub format: OutputFormat,
    /// Mean days between purchases of an active customer (`1 / E[λ]`).
    pub mean_days_between_orders: f64,
    /// Mean customer lifetime in days (`1 / E[μ]`).
    pub mean_lifetime_days: f64,
    /// Probability that a line is later returned.
    pub return_probability: f64,
    /// How customers drop out.
    pub process: Process,
    /// Continue the customers' purchases past `end`, up to this day (exclusive); see the
    /// [module docs](self).
    pub continue_to: Option<NaiveDate>,
    /// A treatment from `end` on, in a continuation.
    pub treatment: Option<Treatment>,
}

/// Who was treated from `end` on, and how well it works (see the [module docs](self)).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Treatment {
    /// The treated customers' ids.
    pub treated: std::collections::HashSet<String>,
    /// The probability that a treated customer is won over: buys from `end` on, whether or not
    /// they had dropped out.
    pub effect: f64,
}

impl GenerateParams {
    /// Defaults for `customers` customers over `start..end`.
    pub fn new(customers: u64, seed: u64, start: NaiveDate, end: NaiveDate) -> Self {
        GenerateParams {
            customers,
            seed,
            start,
            end,
            format: OutputFormat::Parquet,
            mean_days_between_orders: 90.0,
            mean_lifetime_days: 365.0,
            return_probability: 0.03,
            process: Process::ParetoNbd,
            continue_to: None,
            treatment: None,
        }
    }

    /// The shape `r` of the purchase-rate Gamma (the same for every process).
    pub fn truth_r(&self) -> f64 {
        RATE_SHAPE
    }

    /// The rate `α` of the purchase-rate Gamma, in days: `E[λ] = r / α = 1 / mean_days_between_orders`.
    pub fn truth_alpha_days(&self) -> f64 {
        RATE_SHAPE * self.mean_days_between_orders
    }

    /// Checks every rule on the parameters.
    pub fn check(&self) -> Result<()> {
        if self.customers == 0 {
            return Err(Error::invalid("customers", "must be at least 1"));
        }
        if self.end <= self.start {
            return Err(Error::invalid(
                "end",
                format!("{} is not after start {}", self.end, self.start),
            ));
        }
        for (name, value) in [
            ("mean_days_between_orders", self.mean_days_between_orders),
            ("mean_lifetime_days", self.mean_lifetime_days),
        ] {
            if !(value.is_finite() && value > 0.0) {
                return Err(Error::invalid(name, format!("must be positive, got {value}")));
            }
        }
        if !(0.0..0.5).contains(&self.return_probability) {
            return Err(Error::invalid("return_probability", "must be in [0, 0.5)"));
        }
        if let Some(until) = self.continue_to {
            if until <= self.end {
                return Err(Error::invalid(
                    "continue_to",
                    format!("{until} is not after end {}", self.end),
                ));
            }
        }
        if let Some(t) = &self.treatment {
            if self.continue_to.is_none() {
                return Err(Error::invalid(
                    "treatment",
                    "a treatment acts after end: continue the population with continue_to",
                ));
            }
            if !(0.0..=1.0).contains(&t.effect) {
                return Err(Error::invalid("effect", format!("{} is not a probability", t.effect)));
            }
        }
        Ok(())
    }
}

/// What was written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GenerateReport {
    /// Transaction rows (lines), returns included.
    pub rows: u64,
    /// Orders.
    pub orders: u64,
    /// Return lines.
    pub returns: u64,
    /// Customers alive at the end of the period (of the continuation, in one).
    pub alive_at_end: u64,
    /// Customers treated (in a continuation with a treatment).
    pub treated: u64,
    /// Treated customers whose dropout was averted.
    pub averted: u64,
    /// The transactions file.
    pub transactions: PathBuf,
    /// The ground-truth file.
    pub truth: PathBuf,
}

const CATEGORIES: [&str; 8] = [
    "books",
    "music",
    "electronics",
    "home",
    "garden",
    "toys",
    "fashion",
    "beauty",
];
/// Relative purchase intensity Monday..Sunday.
const WEEKDAY_WEIGHTS: [f64; 7] = [0.85, 0.9, 0.95, 1.0, 1.1, 1.3, 0.9];
const BATCH_ROWS: usize = 65_536;
/// Heterogeneity shapes of the purchase and dropout rates (smaller = more spread).
const RATE_SHAPE: f64 = 0.9;
/// Seeds (xored with the seed) of the treatment's draws and of the draws after `end`.
const TREATMENT_STREAM: u64 = 0x7472_6561_746d_656e;
const LATE_STREAM: u64 = 0x6c61_7465_5f64_7261;
const DROPOUT_SHAPE: f64 = 0.8;

fn transactions_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("customer_id", DataType::Utf8, false),
        Field::new("order_id", DataType::Utf8, false),
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("amount", DataType::Float64, false),
        Field::new("quantity", DataType::Int64, false),
        Field::new("category", DataType::Utf8, false),
    ]))
}

/// The truth's columns; with a treatment, also `treated` and `dropout_averted`.
fn truth_schema(treatment: bool) -> SchemaRef {
    let mut fields = vec![
        Field::new("customer_id", DataType::Utf8, false),
        Field::new(
            "first_purchase",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new(
            "dropout_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("purchase_rate_per_day", DataType::Float64, false),
        Field::new("alive_at_end", DataType::Boolean, false),
    ];
    if treatment {
        fields.push(Field::new("treated", DataType::Boolean, false));
        fields.push(Field::new("dropout_averted", DataType::Boolean, false));
    }
    Arc::new(Schema::new(fields))
}

/// One generated line.
struct Line {
    order: u32,
    ts_us: i64,
    cents: i64,
    quantity: i64,
    category: &'static str,
}

/// One customer's truth and lines.
#[derive(Default)]
struct Customer {
    id: String,
    first_us: i64,
    dropout_us: i64,
    rate_per_day: f64,
    alive: bool,
    lines: Vec<Line>,
    orders: u32,
    /// In the treatment's list.
    treated: bool,
    /// Treated, won over, and buying from `end` on past a dropout that would have ended their
    /// purchases before the end of the continuation.
    averted: bool,
}

struct Model {
    start_us: i64,
    end_us: i64,
    /// Purchases go on until here: `end_us`, or `continue_to` in a continuation.
    until_us: i64,
    treatment: Option<Treatment>,
    rate: Gamma<f64>,
    dropout: Gamma<f64>,
    customer_mean: LogNormal<f64>,
    seed: u64,
    return_probability: f64,
    /// The BG/NBD dropout probability's Beta, when that is the process.
    dropout_after_purchase: Option<rand_distr::Beta<f64>>,
}

impl Model {
    fn new(params: &GenerateParams) -> Result<Self> {
        let micros = |d: NaiveDate| d.and_time(chrono::NaiveTime::MIN).and_utc().timestamp_micros();
        let gamma = |shape: f64, mean: f64| {
            Gamma::new(shape, mean / shape).map_err(|e| Error::invalid("generate", e.to_string()))
        };
        Ok(Model {
            start_us: micros(params.start),
            end_us: micros(params.end),
            until_us: micros(params.continue_to.unwrap_or(params.end)),
            treatment: params.treatment.clone(),
            rate: gamma(RATE_SHAPE, 1.0 / params.mean_days_between_orders)?,
            dropout: gamma(DROPOUT_SHAPE, 1.0 / params.mean_lifetime_days)?,
            customer_mean: LogNormal::new(40f64.ln(), 0.6).map_err(|e| Error::invalid("generate", e.to_string()))?,
            seed: params.seed,
            return_probability: params.return_probability,
            dropout_after_purchase: match params.process {
                Process::ParetoNbd => None,
                Process::BgNbd => Some(
                    rand_distr::Beta::new(BGNBD_A, BGNBD_B).map_err(|e| Error::invalid("generate", e.to_string()))?,
                ),
            },
        })
    }

    fn weekday_weight(ts_us: i64) -> f64 {
        let days = ts_us.div_euclid(MICROS_PER_DAY);
        // 1970-01-01 was a Thursday (index 3 with Monday = 0).
        WEEKDAY_WEIGHTS[((days + 3).rem_euclid(7)) as usize]
    }

    fn customer(&self, index: u64, out: &mut Customer) {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_stream(index);
        out.id.clear();
        use std::fmt::Write as _;
        let _ = write!(out.id, "C{index:07}");
        out.lines.clear();
        out.orders = 0;
        // The treatment's draw, from a stream of its own so the other draws stay those of the
        // plain generation; drawn for everyone, so each customer has both potential outcomes.
        let (mut treatment_rng, mut late_rng) = (
            ChaCha8Rng::seed_from_u64(self.seed ^ TREATMENT_STREAM),
            ChaCha8Rng::seed_from_u64(self.seed ^ LATE_STREAM),
        );
        treatment_rng.set_stream(index);
        late_rng.set_stream(index);
        let keeps_buying = treatment_rng.random::<f64>();
        out.treated = self.treatment.as_ref().is_some_and(|t| t.treated.contains(&out.id));
        let spared = out.treated && self.treatment.as_ref().is_some_and(|t| keeps_buying < t.effect);
        out.averted = false;

        let span = (self.end_us - self.start_us) as f64;
        let first_us = self.start_us + (rng.random::<f64>() * span) as i64;
        let rate = self.rate.sample(&mut rng).max(1e-6);
        let mu = self.dropout.sample(&mut rng).max(1e-6);
        let lifetime_days = Exp::new(mu).map_or(f64::INFINITY, |d| d.sample(&mut rng));
        let mut dropout_us = first_us.saturating_add((lifetime_days * MICROS_PER_DAY as f64).min(1e17) as i64);
        let mean_order = self.customer_mean.sample(&mut rng);
        let order_value = LogNormal::new(mean_order.ln() - 0.125, 0.5).ok();
        let max_weight = WEEKDAY_WEIGHTS.iter().copied().fold(0.0, f64::max);
        // Under BG/NBD the lifetime ends at a purchase, decided below; drawn after every draw the
        // Pareto/NBD process makes, so that process's output does not change.
        let p_drop = self.dropout_after_purchase.as_ref().map(|beta| beta.sample(&mut rng));
        // The same far-future cap as an unbounded exponential lifetime.
        let never = first_us.saturating_add(1e17 as i64);
        if p_drop.is_some() {
            // Until a purchase ends it.
            dropout_us = never;
        }

        // A spared customer buys again from `end` on: a dropout before `end` only pauses them
        // until then, and none happens after it. Everyone else stops at their dropout.
        let mut t = first_us;
        let mut first = true;
        while t < self.until_us {
            let dropped = t >= dropout_us;
            if dropped && !spared {
                break;
            }
            let buying = !dropped || t >= self.end_us;
            // Thinning: candidates at the peak rate, kept with the weekday's relative weight.
            if buying && (first || rng.random::<f64>() * max_weight < Self::weekday_weight(t)) {
                self.order(&mut rng, &mut late_rng, t, order_value.as_ref(), out);
                let repeat = !first;
                first = false;
                if let (true, Some(p)) = (repeat, p_drop) {
                    // Drawn whatever the treatment, so the draws after it stay aligned.
                    if rng.random::<f64>() < p {
                        if spared && t >= self.end_us {
                            // Won over: this dropout does not happen.
                            out.averted = true;
                        } else {
                            dropout_us = t;
                            if !spared {
                                break;
                            }
                        }
                    }
                }
            }
            let gap_days = -rng.random::<f64>().max(f64::MIN_POSITIVE).ln() / (rate * max_weight);
            t = t.saturating_add((gap_days * MICROS_PER_DAY as f64) as i64);
        }
        if spared && (out.averted || dropout_us < self.until_us) {
            out.averted = true;
            dropout_us = never;
        }
        out.lines.sort_by_key(|l| (l.ts_us, l.order));
        out.first_us = first_us;
        out.dropout_us = dropout_us;
        out.rate_per_day = rate;
        out.alive = dropout_us >= self.until_us;
    }

    /// One order at `ts_us`. `late` draws what the plain generation never drew: the size of a
    /// return that falls after `end`, in a continuation.
    fn order(
        &self,
        rng: &mut ChaCha8Rng,
        late: &mut ChaCha8Rng,
        ts_us: i64,
        value: Option<&LogNormal<f64>>,
        out: &mut Customer,
    ) {
        out.orders += 1;
        let order = out.orders;
        let total = value.map_or(40.0, |d| d.sample(rng)).clamp(1.0, 50_000.0);
        let n_lines = rng.random_range(1..=5usize);
        let weights: Vec<f64> = (0..n_lines).map(|_| 0.2 + rng.random::<f64>()).collect();
        let weight_sum: f64 = weights.iter().sum();
        for w in weights {
            let cents = ((total * w / weight_sum) * 100.0).round().max(1.0) as i64;
            let line = Line {
                order,
                ts_us,
                cents,
                quantity: rng.random_range(1..=5),
                category: CATEGORIES[rng.random_range(0..CATEGORIES.len())],
            };
            if rng.random::<f64>() < self.return_probability {
                let delay_days = rng.random_range(1.0..30.0);
                let return_us = ts_us + (delay_days * MICROS_PER_DAY as f64) as i64;
                // Most returns are whole lines; some are partial refunds.
                let share = |rng: &mut ChaCha8Rng| {
                    if rng.random::<f64>() < 0.7 {
                        1.0
                    } else {
                        rng.random_range(0.2..0.9)
                    }
                };
                let share = if return_us < self.end_us {
                    Some(share(rng))
                } else if return_us < self.until_us {
                    Some(share(late))
                } else {
                    None
                };
                if let Some(share) = share {
                    let refund = ((cents as f64 * share).round() as i64).max(1);
                    out.lines.push(Line {
                        order,
                        ts_us: return_us,
                        cents: -refund,
                        quantity: -line.quantity,
                        category: line.category,
                    });
                }
            }
            out.lines.push(line);
        }
    }
}

/// Writes batches as Parquet or CSV.
enum Sink {
    // Boxed: the Parquet writer is ten times the size of the CSV one.
    Parquet(Box<ArrowWriter<File>>),
    Csv(BufWriter<File>),
}

impl Sink {
    fn create(file: File, schema: SchemaRef, format: OutputFormat, path: &Path) -> Result<Self> {
        match format {
            OutputFormat::Parquet => {
                let props = WriterProperties::builder()
                    .set_compression(Compression::ZSTD(
                        ZstdLevel::try_new(1).map_err(|e| Error::Engine(e.to_string()))?,
                    ))
                    .build();
                ArrowWriter::try_new(file, schema, Some(props))
                    .map(|w| Sink::Parquet(Box::new(w)))
                    .map_err(|e| Error::Parquet {
                        path: path.to_path_buf(),
                        reason: e.to_string(),
                    })
            }
            OutputFormat::Csv => {
                let mut w = BufWriter::with_capacity(1 << 20, file);
                let header: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
                writeln!(w, "{}", header.join(",")).map_err(|e| Error::io("cannot write", path, e))?;
                Ok(Sink::Csv(w))
            }
        }
    }

    fn write(&mut self, batch: &RecordBatch, path: &Path) -> Result<()> {
        match self {
            Sink::Parquet(w) => w.write(batch).map_err(|e| Error::Parquet {
                path: path.to_path_buf(),
                reason: e.to_string(),
            }),
            Sink::Csv(w) => write_csv_rows(w, batch).map_err(|e| Error::io("cannot write", path, e)),
        }
    }

    fn finish(self, path: &Path) -> Result<File> {
        match self {
            Sink::Parquet(w) => w.into_inner().map_err(|e| Error::Parquet {
                path: path.to_path_buf(),
                reason: e.to_string(),
            }),
            Sink::Csv(w) => w
                .into_inner()
                .map_err(|e| Error::io("cannot write", path, e.into_error())),
        }
    }
}

/// Plain CSV rows: the generator's values never contain a delimiter, quote or newline, so no quoting
/// is needed, and timestamps are written RFC 3339 with `Z`.
fn write_csv_rows(w: &mut impl Write, batch: &RecordBatch) -> std::io::Result<()> {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{Float64Type, Int64Type, TimestampMicrosecondType};
    let columns = batch.columns();
    for row in 0..batch.num_rows() {
        for (i, column) in columns.iter().enumerate() {
            if i > 0 {
                w.write_all(b",")?;
            }
            match column.data_type() {
                DataType::Utf8 => w.write_all(column.as_string::<i32>().value(row).as_bytes())?,
                // Money keeps its two decimals; other numbers (rates) their shortest exact form.
                DataType::Float64 if batch.schema().field(i).name() == "amount" => {
                    write!(w, "{:.2}", column.as_primitive::<Float64Type>().value(row))?
                }
                DataType::Float64 => write!(w, "{}", column.as_primitive::<Float64Type>().value(row))?,
                DataType::Int64 => write!(w, "{}", column.as_primitive::<Int64Type>().value(row))?,
                DataType::Boolean => write!(w, "{}", column.as_boolean().value(row))?,
                DataType::Timestamp(..) => {
                    let us = column.as_primitive::<TimestampMicrosecondType>().value(row);
                    let t = chrono::DateTime::from_timestamp_micros(us).unwrap_or_default();
                    write!(w, "{}", t.format("%Y-%m-%dT%H:%M:%SZ"))?
                }
                _ => {}
            }
            debug_assert!(column.is_valid(row));
        }
        w.write_all(b"\n")?;
    }
    Ok(())
}

/// A file written under a temporary name and renamed into place when complete.
struct Staged {
    tmp: tempfile::NamedTempFile,
    sink: Sink,
    path: PathBuf,
}

impl Staged {
    fn create(dir: &Path, name: &str, schema: SchemaRef, format: OutputFormat) -> Result<Self> {
        let path = dir.join(name);
        let tmp = crate::output::staging_file(&format!(".{name}-"))
            .tempfile_in(dir)
            .map_err(|e| Error::io("cannot create a temporary file in", dir, e))?;
        let file = tmp.reopen().map_err(|e| Error::io("cannot open", tmp.path(), e))?;
        let sink = Sink::create(file, schema, format, &path)?;
        Ok(Staged { tmp, sink, path })
    }

    fn publish(self) -> Result<PathBuf> {
        let file = self.sink.finish(&self.path)?;
        file.sync_all().map_err(|e| Error::io("cannot sync", &self.path, e))?;
        self.tmp
            .persist(&self.path)
            .map_err(|e| Error::io("cannot move the finished file to", &self.path, e.error))?;
        Ok(self.path)
    }
}

struct TxBuilders {
    ids: StringBuilder,
    orders: StringBuilder,
    ts: TimestampMicrosecondBuilder,
    amounts: Float64Builder,
    quantities: Int64Builder,
    categories: StringBuilder,
    rows: usize,
}

impl TxBuilders {
    fn new() -> Self {
        TxBuilders {
            ids: StringBuilder::with_capacity(BATCH_ROWS, BATCH_ROWS * 8),
            orders: StringBuilder::with_capacity(BATCH_ROWS, BATCH_ROWS * 13),
            ts: TimestampMicrosecondBuilder::with_capacity(BATCH_ROWS).with_timezone("UTC"),
            amounts: Float64Builder::with_capacity(BATCH_ROWS),
            quantities: Int64Builder::with_capacity(BATCH_ROWS),
            categories: StringBuilder::with_capacity(BATCH_ROWS, BATCH_ROWS * 6),
            rows: 0,
        }
    }

    fn finish(&mut self, schema: &SchemaRef) -> Result<RecordBatch> {
        self.rows = 0;
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.ids.finish()),
            Arc::new(self.orders.finish()),
            Arc::new(self.ts.finish()),
            Arc::new(self.amounts.finish()),
            Arc::new(self.quantities.finish()),
            Arc::new(self.categories.finish()),
        ];
        RecordBatch::try_new(schema.clone(), columns).map_err(|e| Error::Engine(e.to_string()))
    }
}

/// Generates `params.customers` customers into `out_dir`, calling `progress` with the number of
/// customers done so far. Files appear only when complete.
pub fn generate(params: &GenerateParams, out_dir: &Path, progress: &mut dyn FnMut(u64)) -> Result<GenerateReport> {
    params.check()?;
    std::fs::create_dir_all(out_dir).map_err(|e| Error::io("cannot create directory", out_dir, e))?;
    let model = Model::new(params)?;
    let ext = match params.format {
        OutputFormat::Parquet => "parquet",
        OutputFormat::Csv => "csv",
    };
    let tx_schema = transactions_schema();
    let treatment = params.treatment.is_some();
    let truth_schema = truth_schema(treatment);
    let mut tx_file = Staged::create(
        out_dir,
        &format!("transactions.{ext}"),
        tx_schema.clone(),
        params.format,
    )?;
    let mut truth_file = Staged::create(out_dir, &format!("truth.{ext}"), truth_schema.clone(), params.format)?;

    let mut tx = TxBuilders::new();
    let mut truth_ids = StringBuilder::new();
    let mut truth_first = TimestampMicrosecondBuilder::new().with_timezone("UTC");
    let mut truth_dropout = TimestampMicrosecondBuilder::new().with_timezone("UTC");
    let mut truth_rate = Float64Builder::new();
    let mut truth_alive = BooleanBuilder::new();
    let mut truth_treated = BooleanBuilder::new();
    let mut truth_averted = BooleanBuilder::new();
    let mut truth_rows = 0usize;

    let mut report = GenerateReport::default();
    let mut customer = Customer::default();
    let mut order_id = String::new();
    for index in 0..params.customers {
        model.customer(index, &mut customer);
        report.orders += u64::from(customer.orders);
        report.alive_at_end += u64::from(customer.alive);
        report.treated += u64::from(customer.treated);
        report.averted += u64::from(customer.averted);
        for line in &customer.lines {
            use std::fmt::Write as _;
            order_id.clear();
            let _ = write!(order_id, "{}-{:04}", customer.id, line.order);
            tx.ids.append_value(&customer.id);
            tx.orders.append_value(&order_id);
            tx.ts.append_value(line.ts_us);
            tx.amounts.append_value(line.cents as f64 / 100.0);
            tx.quantities.append_value(line.quantity);
            tx.categories.append_value(line.category);
            tx.rows += 1;
            report.rows += 1;
            report.returns += u64::from(line.cents < 0);
            if tx.rows == BATCH_ROWS {
                let batch = tx.finish(&tx_schema)?;
                tx_file.sink.write(&batch, &tx_file.path)?;
            }
        }
        truth_ids.append_value(&customer.id);
        truth_first.append_value(customer.first_us);
        truth_dropout.append_value(customer.dropout_us);
        truth_rate.append_value(customer.rate_per_day);
        truth_alive.append_value(customer.alive);
        truth_treated.append_value(customer.treated);
        truth_averted.append_value(customer.averted);
        truth_rows += 1;
        if truth_rows == BATCH_ROWS || index + 1 == params.customers {
            let mut columns: Vec<ArrayRef> = vec![
                Arc::new(truth_ids.finish()),
                Arc::new(truth_first.finish()),
                Arc::new(truth_dropout.finish()),
                Arc::new(truth_rate.finish()),
                Arc::new(truth_alive.finish()),
            ];
            let (treated, averted) = (truth_treated.finish(), truth_averted.finish());
            if treatment {
                columns.push(Arc::new(treated));
                columns.push(Arc::new(averted));
            }
            let batch =
                RecordBatch::try_new(truth_schema.clone(), columns).map_err(|e| Error::Engine(e.to_string()))?;
            truth_file.sink.write(&batch, &truth_file.path)?;
            truth_rows = 0;
        }
        if index % 4096 == 4095 {
            progress(index + 1);
        }
    }
    if tx.rows > 0 {
        let batch = tx.finish(&tx_schema)?;
        tx_file.sink.write(&batch, &tx_file.path)?;
    }
    progress(params.customers);
    report.transactions = tx_file.publish()?;
    report.truth = truth_file.publish()?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(customers: u64) -> GenerateParams {
        GenerateParams::new(
            customers,
            7,
            NaiveDate::from_ymd_opt(2022, 1, 1).expect("date"),
            NaiveDate::from_ymd_opt(2024, 1, 1).expect("date"),
        )
    }

    #[test]
    fn zero_customers_is_an_error() {
        assert!(params(0).check().is_err());
    }

    #[test]
    fn end_must_be_after_start() {
        let mut p = params(1);
        p.end = p.start;
        assert!(p.check().is_err());
    }

    #[test]
    fn the_weekday_of_the_epoch_is_thursday() {
        assert_eq!(WEEKDAY_WEIGHTS[3], Model::weekday_weight(0));
        use chrono::Datelike;
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("date");
        assert_eq!(epoch.weekday().num_days_from_monday(), 3);
    }

    #[test]
    fn a_customer_is_the_same_whatever_else_is_generated() {
        let model = Model::new(&params(10)).expect("model");
        let mut a = Customer::default();
        let mut b = Customer::default();
        model.customer(5, &mut a);
        model.customer(3, &mut b);
        model.customer(5, &mut b);
        assert_eq!(a.id, "C0000005");
        assert_eq!(
            (a.first_us, a.dropout_us, a.orders),
            (b.first_us, b.dropout_us, b.orders)
        );
        assert_eq!(a.lines.len(), b.lines.len());
    }

    fn rows(c: &Customer) -> Vec<(i64, u32, i64)> {
        c.lines.iter().map(|l| (l.ts_us, l.order, l.cents)).collect()
    }

    #[test]
    fn a_continuation_keeps_every_row_before_the_end_and_a_treatment_only_adds_purchases() {
        for process in [Process::ParetoNbd, Process::BgNbd] {
            let plain = GenerateParams { process, ..params(300) };
            let until = NaiveDate::from_ymd_opt(2024, 7, 1).expect("date");
            let continued = GenerateParams {
                continue_to: Some(until),
                ..plain.clone()
            };
            let everyone: std::collections::HashSet<String> = (0..300).map(|i| format!("C{i:07}")).collect();
            let treated = |effect: f64| GenerateParams {
                treatment: Some(Treatment {
                    treated: everyone.clone(),
                    effect,
                }),
                ..continued.clone()
            };
            let models = [&plain, &continued, &treated(0.0), &treated(1.0)].map(|p| Model::new(p).expect("model"));
            let (mut averted, mut later) = (0, 0);
            for i in 0..300 {
                let [a, b, c, d] = [0, 1, 2, 3].map(|m| {
                    let mut c = Customer::default();
                    models[m].customer(i, &mut c);
                    c
                });
                let end = models[0].end_us;
                let before = |c: &Customer| rows(c).into_iter().filter(|r| r.0 < end).collect::<Vec<_>>();
                // The past is the plain generation's, in every continuation.
                assert_eq!(rows(&a), before(&b), "{process:?} customer {i}");
                assert_eq!(before(&b), before(&d), "{process:?} customer {i}");
                later += b.lines.iter().filter(|l| l.ts_us >= end).count();
                assert!(b.lines.iter().all(|l| l.ts_us < models[1].until_us));
                // No effect is no treatment; a certain effect averts every dropout, and the treated
                // customer buys everything the untreated one did, and more.
                assert_eq!(rows(&b), rows(&c));
                assert!(!c.averted && d.treated);
                assert_eq!(d.averted, b.dropout_us < models[1].until_us, "{process:?} customer {i}");
                assert!(!d.averted || d.alive);
                let purchases = |c: &Customer| {
                    c.lines
                        .iter()
                        .filter(|l| l.cents > 0)
                        .map(|l| (l.ts_us, l.order))
                        .collect::<Vec<_>>()
                };
                let (untreated, treated) = (purchases(&b), purchases(&d));
                assert_eq!(treated[..untreated.len()], untreated[..], "{process:?} customer {i}");
                averted += usize::from(d.averted);
            }
            assert!(
                averted > 10 && later > 100,
                "{process:?}: {averted} averted, {later} later rows"
            );
        }
        let mut bad = params(1);
        bad.treatment = Some(Treatment::default());
        assert!(bad.check().is_err(), "a treatment needs a continuation");
        bad.continue_to = Some(bad.end);
        assert!(bad.check().is_err(), "a continuation goes past the end");
    }

    #[test]
    fn lines_stay_inside_the_period_and_after_the_first_purchase() {
        let model = Model::new(&params(200)).expect("model");
        let mut c = Customer::default();
        for i in 0..200 {
            model.customer(i, &mut c);
            assert!(!c.lines.is_empty(), "every customer has a first purchase");
            assert_eq!(c.lines[0].ts_us, c.first_us);
            assert!(c.lines.iter().all(|l| l.ts_us >= c.first_us && l.ts_us < model.end_us));
            assert!(c.lines.iter().all(|l| l.cents != 0));
            // Purchases never happen after the true dropout.
            assert!(c
                .lines
                .iter()
                .filter(|l| l.cents > 0)
                .all(|l| l.ts_us <= c.dropout_us.max(c.first_us)));
        }
    }
}
