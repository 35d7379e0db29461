//! One module per command; each takes resolved settings and a printer.

#[cfg(feature = "cluster")]
mod cluster;
mod clv;
mod explain;
mod features;
mod generate;
mod report;
mod run;
mod score;
mod segment;
mod train;

use anyhow::Result;

use crate::args::{Args, Command};
use crate::printer::Printer;

pub use run::{GatesFailed, EXIT_GATES_FAILED};

pub fn run(args: Args) -> Result<()> {
    let printer = Printer::new(args.global.quiet, args.global.json);
    let seal = args.global.seal();
    match args.command {
        Command::Features(features_args) => {
            let settings = crate::settings::FeaturesSettings::resolve(&features_args)?;
            features::features(&settings, printer)
        }
        Command::Generate(generate_args) => generate::generate(&generate_args, printer),
        Command::Segment(segment_args) => {
            let settings = crate::settings::SegmentSettings::resolve(&segment_args, seal)?;
            segment::segment(&settings, printer)
        }
        Command::Train(train_args) => {
            let settings = crate::settings::TrainSettings::resolve(&train_args)?;
            train::train(&settings, printer)
        }
        Command::Score(score_args) => {
            let settings = crate::settings::ScoreSettings::resolve(&score_args, seal)?;
            score::score(&settings, printer)
        }
        Command::Clv(clv_args) => {
            let settings = crate::settings::ClvCommandSettings::resolve(&clv_args, seal)?;
            clv::clv(&settings, printer)
        }
        Command::Report(report_args) => report::report(&report_args, printer),
        Command::Explain(explain_args) => explain::explain(&explain_args, seal, printer),
        Command::Run(run_args) => {
            let settings = crate::settings::RunSettings::resolve(&run_args, seal)?;
            run::run(&settings, printer)
        }
        #[cfg(feature = "cluster")]
        Command::Cluster(command) => cluster::cluster(command),
    }
}

/// The spinner's words while the log is read: where, and on which cluster.
pub(crate) fn reading(input: &churn_features::InputSpec, params: &churn_features::FeatureParams) -> String {
    match &params.cluster {
        Some(url) => format!("reading {} on the cluster {url}", input.transactions),
        None => format!("reading {}", input.transactions),
    }
}

/// `1234567` as `1,234,567`, for people.
pub(crate) fn thousands(n: u64) -> String {
    churn_core::format::count(n)
}

/// The input checks beyond the row counts, as summary lines: orders under more than one customer,
/// and the customers table against the snapshot.
pub(crate) fn input_check_lines(
    shared_orders: u64,
    customers_table: Option<&churn_features::CustomersReport>,
    as_of: &str,
) -> String {
    let mut out = String::new();
    if shared_orders > 0 {
        out.push_str(&format!(
            "  orders       {} order ids appear under more than one customer (each customer keeps their lines)\n",
            thousands(shared_orders)
        ));
    }
    if let Some(t) = customers_table {
        out.push_str(&customers_table_lines(t, as_of));
    }
    out
}

/// The summary lines of a customers table against a snapshot: its orphans both ways, and what
/// became of the signups (each snapshot customer in exactly one count).
fn customers_table_lines(t: &churn_features::CustomersReport, as_of: &str) -> String {
    let mut out = format!(
        "  customers    {} rows in {}: {} customers bought before {as_of} without a row, {} rows have no purchase \
         before it\n",
        thousands(t.rows),
        t.path,
        thousands(t.customers_without_row),
        thousands(t.rows_without_purchase),
    );
    match &t.signup_column {
        None => out.push_str("  signups      the table has no signup column; tenure starts at the first purchase\n"),
        Some(column) => out.push_str(&format!(
            "  signups      {column}: {} start tenure, {} after the first purchase and {} on or after {as_of} (not \
             used), {} empty\n",
            thousands(t.signups_used),
            thousands(t.signups_after_first_purchase),
            thousands(t.signups_on_or_after_as_of),
            thousands(t.signups_missing),
        )),
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn thousands_are_separated() {
        assert_eq!(super::thousands(0), "0");
        assert_eq!(super::thousands(999), "999");
        assert_eq!(super::thousands(1000), "1,000");
        assert_eq!(super::thousands(1234567), "1,234,567");
    }
}
