//! The command line, and only the command line: what each flag means, no defaults from elsewhere.

use std::path::PathBuf;

use chrono::NaiveDate;
use clap::{Args as ClapArgs, Parser, Subcommand, ValueEnum};

/// Customer churn prediction and segmentation from a transaction log.
///
/// `churn` reads transactions (CSV, gzip CSV or Parquet), computes per-customer RFM, tenure and spend
/// features as of a date, finds customer segments with k-means and keeps them stable from night to
/// night, trains a logistic churn model with an honest out-of-time evaluation, and publishes an
/// at-risk list for the CRM. `churn run` does all of it as one nightly job.
#[derive(Debug, Parser)]
#[command(
    name = "churn",
    version,
    about,
    long_about,
    max_term_width = 100,
    after_help = "Start with the bundled sample:\n  churn run --config data/sample/churn.toml\n\n\
    Or step by step:\n  churn features --config data/sample/churn.toml --out features.parquet\n  \
    churn segment --features features.parquet --k auto\n  \
    churn train --config data/sample/churn.toml\n  \
    churn score --features features.parquet --model models/churn-2024-01-01.json"
)]
pub struct Args {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, ClapArgs)]
pub struct GlobalArgs {
    /// Print nothing but errors on stderr (no progress, no warnings).
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// More logs on stderr: -v for progress notes, -vv for debug timings (or set CHURN_LOG).
    #[arg(long, short, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,
    /// Print the result as one JSON object on stdout instead of a human summary.
    #[arg(long, global = true)]
    pub json: bool,
    /// Read saved models that carry no checksum (written before churn sealed its models, or with
    /// the key removed). Without it such a file is refused: a change to it could not be detected.
    #[arg(long, global = true)]
    pub accept_unsealed_models: bool,
}

impl GlobalArgs {
    /// What to do with a saved model that has no checksum.
    pub fn seal(&self) -> churn_core::SealPolicy {
        match self.accept_unsealed_models {
            true => churn_core::SealPolicy::AcceptUnsealed,
            false => churn_core::SealPolicy::Required,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Compute the v1 per-customer features as of a date and write them to Parquet.
    ///
    /// Reads the transactions named by --input or by [input] in the config, validates every row
    /// (a malformed file is rejected with its file, line and column, and nothing is written), and
    /// writes one row per customer with at least one purchase before the as-of date, sorted by
    /// customer id. Rows without a customer id and rows at or after the as-of date are dropped and
    /// counted; exact duplicate rows are counted.
    #[command(
        after_help = "Examples:\n  churn features --config data/sample/churn.toml --out features.parquet\n  \
        churn features --input 'exports/*.csv.gz' --config churn.toml --as-of 2024-01-01 --out features.parquet"
    )]
    Features(FeaturesArgs),

    /// Generate synthetic transactions with a known ground truth.
    ///
    /// Customers are acquired uniformly over [--start, --end), buy as a Poisson process with a
    /// personal rate until an unobserved dropout (Pareto/NBD), with weekly seasonality, lognormal
    /// order values, 1-5 lines per order and about 3 % returned lines. Writes transactions.<format>
    /// and truth.<format> (first purchase, true dropout time, purchase rate, alive at end) into
    /// --out. The same seed gives the same files.
    #[command(
        after_help = "Examples:\n  churn generate --customers 100000 --seed 7 --out bench-data\n  \
        churn generate --customers 5000 --end 2024-01-01 --continue-to 2024-04-01 \\\n    \
        --treated output/current/at_risk.csv --effect 0.3 --out continued"
    )]
    Generate(GenerateArgs),

    /// Find customer segments with k-means, or assign customers to saved segments.
    ///
    /// Fitting (without --model): standardizes recency, log frequency, signed log monetary value
    /// and tenure (see segments.features), runs k-means (k-means++ starts, several runs, fixed
    /// seed) on a seeded sample, picks k by silhouette when --k is auto, assigns every customer,
    /// orders segments by revenue (0 = most valuable), names them from their centroids, and saves
    /// the model (scaler, centroids, names) as JSON.
    ///
    /// Assigning (--model FILE): puts every customer into the saved segments without refitting,
    /// so segment ids stay stable from night to night.
    ///
    /// Both write segments.parquet (customer_id, segment_id, segment_name, distance) and
    /// segment_profiles.csv (size, revenue share, mean and median R/F/M and tenure, and counts per
    /// RFM segment), and print the profiles. Outputs appear together or not at all.
    #[command(
        after_help = "Examples:\n  churn segment --features features.parquet --k auto --model-out models/segments.json\n  \
        churn segment --features features.parquet --k 6 --out segments.parquet\n  \
        churn segment --features features.parquet --model models/segments.json --out segments.parquet"
    )]
    Segment(SegmentArgs),

    /// Train the churn model, with an honest out-of-time evaluation.
    ///
    /// With snapshot S (--as-of) and horizon H (--horizon-days), a customer who bought before a
    /// cutoff C is churned if they made no purchase in [C, C + H). The model is first fitted on
    /// snapshot S - 2H (labels from [S - 2H, S - H)) and evaluated on snapshot S - H (labels from
    /// [S - H, S)) beside two baselines, recency alone and the RFM score: ROC AUC, PR AUC, log loss,
    /// Brier score, top-decile lift and capture, and a calibration table. Then it is refitted on
    /// S - H for production and saved with its evaluation. Features for a snapshot never read a
    /// row at or after it.
    #[command(after_help = "Example:\n  churn train --config data/sample/churn.toml --horizon-days 90")]
    Train(TrainArgs),

    /// Score customers with a trained churn model and write the at-risk list for the CRM.
    ///
    /// Writes scores.parquet (every customer: probability, risk band, value at risk, segment,
    /// RFM segment, recommended action, three reasons) and at_risk.csv (customers in the medium
    /// and high bands, largest value at risk first; RFC 4180, UTF-8, formula cells escaped).
    #[command(
        after_help = "Example:\n  churn score --features features.parquet --model models/churn-2024-01-01.json \\\n    \
        --segment-model models/segments-2024-01-01.json --out scores.parquet --top 500"
    )]
    Score(ScoreArgs),

    /// Explain one customer's churn score: features, probability, each input's contribution.
    #[command(
        after_help = "Example:\n  churn explain C000042 --features features.parquet --model models/churn-2024-01-01.json"
    )]
    Explain(ExplainArgs),

    /// Draw report.html for a published run: one self-contained page with the headline numbers,
    /// the figures over time, segments, revenue concentration, risk, model quality, drift and data
    /// quality.
    ///
    /// `churn run` writes it into every run; this command redraws it from the run's files
    /// (manifest.json, scores.parquet, features.parquet, segment_profiles.csv, changes.csv,
    /// history.csv). The page
    /// has inline CSS and SVG charts, no scripts and no links out, so it opens from a file share
    /// or an email attachment.
    #[command(after_help = "Example:\n  churn report --run output/current --out /tmp/churn-report.html")]
    Report(ReportArgs),

    /// Customer lifetime value: BG/NBD and Gamma-Gamma fitted by maximum likelihood.
    ///
    /// Reads the transactions up to and including --calibration-end, merges each customer's
    /// purchases of one day (or one Monday-aligned period of --merge-days days) into one
    /// transaction, and fits the BG/NBD model of repeat purchasing (Fader, Hardie & Lee 2005) and
    /// the Gamma-Gamma model of spend on repeat buyers. A fit that does not converge is an error.
    /// Zero-value purchases count as transactions; returns do not.
    ///
    /// Writes the model (JSON: parameters, log-likelihood, convergence, time unit, calibration
    /// window) and clv.parquet: per customer P(alive), expected purchases and P(no purchase) in the
    /// next --horizon-days, expected spend per purchase, and the CLV over the horizon discounted at
    /// --discount-rate a year. With --holdout-end, compares predicted and actual repeat purchases
    /// after the calibration end, by number of calibration repeat purchases.
    #[command(
        after_help = "Examples:\n  churn clv --config churn.toml --calibration-end 1997-09-30 --time-unit week \\\n    \
        --model-out models/clv.json --out clv.parquet\n  \
        churn clv --config churn.toml --calibration-end 1997-09-30 --holdout-end 1998-06-30\n  \
        churn score --features features.parquet --model models/churn.json --clv clv.parquet"
    )]
    Clv(ClvArgs),

    /// The nightly job: features, segments, training with its gates, scores and the at-risk list,
    /// published atomically.
    ///
    /// Computes the features as of S, assigns customers to the current segment model (fitting one
    /// if there is none, or with --refit-segments), trains a churn model with an out-of-time
    /// evaluation and promotes it only if it passes the gates (else the current model keeps
    /// scoring), scores everyone, and compares with the previous run. Everything is written into a
    /// staging directory and published by renaming it into <output>/runs/<as-of>-<run id>/ and
    /// swapping the symlink <output>/current to it: a CRM reading <output>/current/at_risk.csv never
    /// sees a half-written file, and a failed run leaves the previous one current.
    ///
    /// Exit codes: 0 published; 1 data, validation or run error (nothing published); 2 usage or
    /// configuration error; 3 another run holds the output directory; 4 published, but the new
    /// model failed its gates (only with gates.fail_exit_code = true).
    #[command(after_help = "Example:\n  churn run --config data/sample/churn.toml")]
    Run(RunArgs),

    /// Be part of an Apache DataFusion Ballista cluster: its scheduler or one of its executors.
    ///
    /// With `--cluster df://HOST:PORT` (or `[engine] cluster`), `churn run`, `features`, `train`
    /// and `clv` send the one read of the log, the stage that grows with the rows, to the
    /// cluster's executors; the models and outputs are computed where the command runs. The
    /// scheduler and every executor must be this binary (the project's own functions are
    /// registered in it) of the same version, and every executor must read the input at the path
    /// the command is given: a shared filesystem mounted at the same path everywhere.
    #[cfg(feature = "cluster")]
    #[command(
        subcommand,
        after_help = "Example, one machine:\n  \
        churn cluster scheduler --port 50050 &\n  \
        churn cluster executor --scheduler 127.0.0.1:50050 --port 50051 --work-dir /var/tmp/churn-1 &\n  \
        churn cluster executor --scheduler 127.0.0.1:50050 --port 50061 --work-dir /var/tmp/churn-2 &\n  \
        churn run --config churn.toml --cluster df://127.0.0.1:50050"
    )]
    Cluster(ClusterCommand),
}

impl Command {
    /// Whether the command is a long-running server (a cluster process) rather than a job.
    pub fn serves(&self) -> bool {
        #[cfg(feature = "cluster")]
        if let Command::Cluster(_) = self {
            return true;
        }
        false
    }
}

/// `churn cluster ...`.
#[cfg(feature = "cluster")]
#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Run a scheduler: it plans each query into stages and hands their tasks to executors.
    ///
    /// Runs until interrupted (Ctrl-C or SIGTERM). Drivers connect to df://HOST:PORT.
    Scheduler(SchedulerArgs),
    /// Run an executor: it registers with the scheduler and runs the tasks it is given.
    ///
    /// Shuffle files go to --work-dir. Runs until interrupted (Ctrl-C or SIGTERM), or until the
    /// scheduler stops it.
    Executor(ExecutorArgs),
}

/// `churn cluster scheduler`.
#[cfg(feature = "cluster")]
#[derive(Debug, ClapArgs)]
pub struct SchedulerArgs {
    /// The address to listen on (0.0.0.0 for every interface).
    #[arg(long, default_value = "127.0.0.1", value_name = "ADDRESS")]
    pub bind: String,
    /// The port drivers and executors connect to.
    #[arg(long, default_value_t = 50050)]
    pub port: u16,
    /// Seconds without a heartbeat after which an executor counts as lost and its tasks are run
    /// elsewhere.
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    pub executor_timeout: u64,
}

/// `churn cluster executor`.
#[cfg(feature = "cluster")]
#[derive(Debug, ClapArgs)]
pub struct ExecutorArgs {
    /// The scheduler, HOST:PORT.
    #[arg(long, value_name = "HOST:PORT")]
    pub scheduler: String,
    /// The address to listen on (0.0.0.0 for every interface).
    #[arg(long, default_value = "127.0.0.1", value_name = "ADDRESS")]
    pub bind: String,
    /// The host name other executors and drivers reach this one by [default: --bind; required
    /// when --bind is 0.0.0.0 or ::].
    #[arg(long, value_name = "HOST")]
    pub external_host: Option<String>,
    /// The port that serves shuffle data to other executors and results to drivers.
    #[arg(long, default_value_t = 50051)]
    pub port: u16,
    /// The port of the executor's task service [default: --port + 1].
    #[arg(long)]
    pub grpc_port: Option<u16>,
    /// Tasks run at once [default: the number of cores].
    #[arg(long, value_name = "N")]
    pub concurrent_tasks: Option<usize>,
    /// Where shuffle files are written [default: a temporary directory, removed at exit].
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,
    /// Memory the executor's tasks may use before they spill to disk, in MiB [default: 1024].
    #[arg(long, value_name = "MIB")]
    pub memory_limit_mb: Option<u64>,
}

#[derive(Debug, ClapArgs)]
pub struct RunArgs {
    /// The TOML config: input, mapping, horizon, [run], [segments], [model], [gates], [score].
    #[arg(long, short, value_name = "FILE")]
    pub config: PathBuf,
    /// Snapshot date S (overrides as_of) [default: the day after the last transaction].
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub as_of: Option<NaiveDate>,
    /// Churn horizon H in days (overrides horizon_days) [default: 90].
    #[arg(long, value_name = "DAYS")]
    pub horizon_days: Option<i64>,
    /// Where runs are published (overrides run.output_dir) [default: output].
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
    /// Where models are kept (overrides run.models_dir) [default: models].
    #[arg(long, value_name = "DIR")]
    pub models_dir: Option<PathBuf>,
    /// Fit a new segment model instead of assigning to the current one (segment ids may change).
    #[arg(long)]
    pub refit_segments: bool,
    /// Run the heavy stage (the one read of the log) on a Ballista cluster: the scheduler's
    /// address, e.g. df://10.0.0.5:50050 (overrides engine.cluster). The input must be on a path
    /// every executor can read; see `churn cluster --help`.
    #[arg(long, value_name = "df://HOST:PORT")]
    pub cluster: Option<String>,
}

#[derive(Debug, ClapArgs)]
pub struct ClvArgs {
    /// The TOML config (input, column mapping, [clv]).
    #[arg(long, short, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Transactions: a file, a directory or a quoted glob (overrides input.transactions).
    #[arg(long, short, value_name = "PATH")]
    pub input: Option<String>,
    /// Last day of the calibration window, inclusive [default: the day before as_of, else the last
    /// day with a transaction].
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub calibration_end: Option<NaiveDate>,
    /// Time unit of the model: day or week (overrides clv.time_unit) [default: week].
    #[arg(long, value_name = "UNIT")]
    pub time_unit: Option<String>,
    /// Purchases within one Monday-aligned period of this many days are one transaction (overrides
    /// clv.merge_days) [default: 1, same-day purchases].
    #[arg(long, value_name = "DAYS")]
    pub merge_days: Option<u32>,
    /// The CLV horizon in days (overrides clv.horizon_days) [default: 365].
    #[arg(long, value_name = "DAYS")]
    pub horizon_days: Option<u32>,
    /// Annual discount rate, 0.1 = 10 % (overrides clv.annual_discount_rate) [default: 0.1].
    #[arg(long, value_name = "RATE")]
    pub discount_rate: Option<f64>,
    /// Predict with this saved model instead of fitting one.
    #[arg(long, short, value_name = "FILE", conflicts_with = "model_out")]
    pub model: Option<PathBuf>,
    /// Where to save the fitted model [default: models/clv-<calibration end>.json].
    #[arg(long, value_name = "FILE")]
    pub model_out: Option<PathBuf>,
    /// Where to write the per-customer predictions.
    #[arg(long, short, value_name = "FILE", default_value = "clv.parquet")]
    pub out: PathBuf,
    /// Compare predictions with the actual repeat purchases after the calibration end, through
    /// this day (inclusive).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub holdout_end: Option<NaiveDate>,
    /// Run the heavy stage (the one read of the log) on a Ballista cluster: the scheduler's
    /// address, e.g. df://10.0.0.5:50050 (overrides engine.cluster). The input must be on a path
    /// every executor can read; see `churn cluster --help`.
    #[arg(long, value_name = "df://HOST:PORT")]
    pub cluster: Option<String>,
}

#[derive(Debug, ClapArgs)]
pub struct TrainArgs {
    /// The TOML config (input, column mapping, horizon_days, [model]).
    #[arg(long, short, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Transactions: a file, a directory or a quoted glob (overrides input.transactions).
    #[arg(long, short, value_name = "PATH")]
    pub input: Option<String>,
    /// Snapshot date S [default: the day after the last transaction].
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub as_of: Option<NaiveDate>,
    /// Churn horizon H in days (overrides horizon_days) [default: 90].
    #[arg(long, value_name = "DAYS")]
    pub horizon_days: Option<i64>,
    /// Only customers who bought within this many days of each snapshot (overrides model.active_within_days).
    #[arg(long, value_name = "DAYS")]
    pub active_within_days: Option<f64>,
    /// Where to save the model [default: models/churn-<as-of>.json].
    #[arg(long, value_name = "FILE")]
    pub model_out: Option<PathBuf>,
    /// Run the heavy stage (the one read of the log) on a Ballista cluster: the scheduler's
    /// address, e.g. df://10.0.0.5:50050 (overrides engine.cluster). The input must be on a path
    /// every executor can read; see `churn cluster --help`.
    #[arg(long, value_name = "df://HOST:PORT")]
    pub cluster: Option<String>,
}

#[derive(Debug, ClapArgs)]
pub struct ScoreArgs {
    /// The feature file to score (written by `churn features`).
    #[arg(long, short, value_name = "FILE")]
    pub features: PathBuf,
    /// The churn model (written by `churn train`).
    #[arg(long, short, value_name = "FILE")]
    pub model: PathBuf,
    /// A segment model: adds each customer's segment (and lets actions depend on it).
    #[arg(long, value_name = "FILE")]
    pub segment_model: Option<PathBuf>,
    /// The TOML config ([score] risk bands, actions, top).
    #[arg(long, short, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where to write every customer's score.
    #[arg(long, short, value_name = "FILE", default_value = "scores.parquet")]
    pub out: PathBuf,
    /// Where to write the at-risk list [default: at_risk.csv beside --out].
    #[arg(long, value_name = "FILE")]
    pub at_risk: Option<PathBuf>,
    /// Keep only the N customers with the largest value at risk (overrides score.top).
    #[arg(long, value_name = "N")]
    pub top: Option<usize>,
    /// Lifetime values written by `churn clv` as of the same date: value at risk becomes churn
    /// probability x CLV instead of churn probability x last year's spend.
    #[arg(long, value_name = "FILE")]
    pub clv: Option<PathBuf>,
}

#[derive(Debug, ClapArgs)]
pub struct ReportArgs {
    /// A run directory written by `churn run` (for example output/current).
    #[arg(long, value_name = "DIR")]
    pub run: PathBuf,
    /// Where to write the page [default: report.html in the run directory].
    #[arg(long, short, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, ClapArgs)]
pub struct ExplainArgs {
    /// The customer id, exactly as in the feature file.
    pub customer_id: String,
    /// The feature file (written by `churn features`).
    #[arg(long, short, value_name = "FILE")]
    pub features: PathBuf,
    /// The churn model (written by `churn train`).
    #[arg(long, short, value_name = "FILE")]
    pub model: PathBuf,
    /// A segment model, to show the customer's segment.
    #[arg(long, value_name = "FILE")]
    pub segment_model: Option<PathBuf>,
}

#[derive(Debug, ClapArgs)]
pub struct SegmentArgs {
    /// The feature file written by `churn features`.
    #[arg(long, short, value_name = "FILE")]
    pub features: PathBuf,
    /// The TOML config ([segments] settings).
    #[arg(long, short, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Number of segments, or `auto` to choose by silhouette in segments.k_min..=k_max [default: auto].
    #[arg(long, value_name = "K|auto", conflicts_with = "model")]
    pub k: Option<String>,
    /// Assign customers to the segments of this saved model instead of fitting.
    #[arg(long, short, value_name = "FILE")]
    pub model: Option<PathBuf>,
    /// Where to save the fitted model [default: models/segments-<as-of>.json].
    #[arg(long, value_name = "FILE", conflicts_with = "model")]
    pub model_out: Option<PathBuf>,
    /// Where to write each customer's segment.
    #[arg(long, short, value_name = "FILE", default_value = "segments.parquet")]
    pub out: PathBuf,
    /// Where to write the profile table [default: segment_profiles.csv beside --out].
    #[arg(long, value_name = "FILE")]
    pub profiles_out: Option<PathBuf>,
    /// Seed of the samples and k-means starts (overrides segments.seed) [default: 42].
    #[arg(long, value_name = "N", conflicts_with = "model")]
    pub seed: Option<u64>,
}

#[derive(Debug, ClapArgs)]
pub struct FeaturesArgs {
    /// Transactions: a file, a directory or a quoted glob (overrides input.transactions).
    #[arg(long, short, value_name = "PATH")]
    pub input: Option<String>,
    /// The TOML config (column mapping, input rules, features).
    #[arg(long, short, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Snapshot date S: only rows before S are used [default: the day after the last transaction].
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub as_of: Option<NaiveDate>,
    /// Where to write the features (written atomically; nothing is written on error).
    #[arg(long, short, value_name = "FILE", default_value = "features.parquet")]
    pub out: PathBuf,
    /// Drop exact duplicate rows instead of only counting them (overrides input.drop_duplicates).
    #[arg(long)]
    pub drop_duplicates: bool,
    /// Memory the engine may use before spilling to disk, in MiB [default: 1024].
    #[arg(long, value_name = "MIB")]
    pub memory_limit_mb: Option<usize>,
    /// Worker threads [default: the number of cores].
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Bad values and lines to collect before stopping; all are reported, as a table or with
    /// --json as a list (overrides input.max_errors) [default: 20].
    #[arg(long, value_name = "N")]
    pub max_errors: Option<usize>,
    /// Run the heavy stage (the one read of the log) on a Ballista cluster: the scheduler's
    /// address, e.g. df://10.0.0.5:50050 (overrides engine.cluster). The input must be on a path
    /// every executor can read; see `churn cluster --help`.
    #[arg(long, value_name = "df://HOST:PORT")]
    pub cluster: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FileFormat {
    Parquet,
    Csv,
}

#[derive(Debug, ClapArgs)]
pub struct GenerateArgs {
    /// Number of customers.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub customers: u64,
    /// Random seed; the same seed gives byte-identical files.
    #[arg(long, value_name = "N", default_value_t = 42)]
    pub seed: u64,
    /// First day of the period.
    #[arg(long, value_name = "YYYY-MM-DD", default_value = "2022-01-01")]
    pub start: NaiveDate,
    /// Day after the last day of the period (no transaction on or after it).
    #[arg(long, value_name = "YYYY-MM-DD", default_value = "2024-01-01")]
    pub end: NaiveDate,
    /// Output directory (created if missing).
    #[arg(long, short, value_name = "DIR")]
    pub out: PathBuf,
    /// File format.
    #[arg(long, value_enum, default_value = "parquet")]
    pub format: FileFormat,
    /// Mean days between purchases of an active customer.
    #[arg(long, value_name = "DAYS", default_value_t = 90.0)]
    pub mean_days_between_orders: f64,
    /// Mean customer lifetime in days (pareto-nbd only).
    #[arg(long, value_name = "DAYS", default_value_t = 365.0)]
    pub mean_lifetime_days: f64,
    /// How customers drop out: pareto-nbd (an exponential lifetime) or bg-nbd (after each repeat
    /// purchase with a personal probability p ~ Beta(0.8, 2.5)), to check lifetime-value fits
    /// against known parameters.
    #[arg(long, value_enum, default_value = "pareto-nbd")]
    pub process: ProcessArg,
    /// Continue the same customers past --end up to this day (exclusive): every row before --end
    /// is the one the plain generation writes, and purchases go on after it. Nobody new is
    /// acquired.
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub continue_to: Option<NaiveDate>,
    /// With --continue-to: the customers treated from --end on, the customer_id column of a CSV
    /// file such as the at_risk.csv of a run as of --end.
    #[arg(long, value_name = "FILE", requires = "continue_to")]
    pub treated: Option<PathBuf>,
    /// With --treated: the probability that a treated customer's dropout on or after --end is
    /// averted (they keep buying). truth.<format> then says who was treated and whose dropout was
    /// averted.
    #[arg(long, value_name = "P", requires = "treated", default_value_t = 0.0)]
    pub effect: f64,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ProcessArg {
    ParetoNbd,
    BgNbd,
}
