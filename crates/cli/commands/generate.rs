//! `churn generate`: synthetic transactions with a known ground truth.

use std::time::Instant;

use anyhow::{Context, Result};
use churn_features::generate::{generate as run_generator, GenerateParams, OutputFormat, Process, BGNBD_A, BGNBD_B};
use serde_json::json;

use super::thousands;
use crate::args::{FileFormat, GenerateArgs, ProcessArg};
use crate::printer::Printer;

pub fn generate(args: &GenerateArgs, printer: Printer) -> Result<()> {
    let started = Instant::now();
    let mut params = GenerateParams::new(args.customers, args.seed, args.start, args.end);
    params.format = match args.format {
        FileFormat::Parquet => OutputFormat::Parquet,
        FileFormat::Csv => OutputFormat::Csv,
    };
    params.mean_days_between_orders = args.mean_days_between_orders;
    params.mean_lifetime_days = args.mean_lifetime_days;
    params.process = match args.process {
        ProcessArg::ParetoNbd => Process::ParetoNbd,
        ProcessArg::BgNbd => Process::BgNbd,
    };
    let bar = printer.bar(args.customers, "customers");
    bar.set_message("generating");
    let result = run_generator(&params, &args.out, &mut |done| bar.set_position(done));
    bar.finish_and_clear();
    let report = result.with_context(|| format!("cannot generate into {}", args.out.display()))?;
    let seconds = started.elapsed().as_secs_f64();
    let human = format!(
        "churn generate: {} customers, {} orders, {} rows ({} returns), {} alive at {} -> {}, {} ({seconds:.2} s)\n",
        thousands(args.customers),
        thousands(report.orders),
        thousands(report.rows),
        thousands(report.returns),
        thousands(report.alive_at_end),
        args.end,
        report.transactions.display(),
        report.truth.display(),
    );
    let json = json!({
        "command": "generate",
        "customers": args.customers,
        "seed": args.seed,
        "orders": report.orders,
        "rows": report.rows,
        "returns": report.returns,
        "alive_at_end": report.alive_at_end,
        "transactions": report.transactions.display().to_string(),
        "truth": report.truth.display().to_string(),
        "process": match params.process {
            Process::ParetoNbd => json!({"name": "pareto-nbd", "r": params.truth_r(), "alpha_days": params.truth_alpha_days()}),
            Process::BgNbd => json!({"name": "bg-nbd", "r": params.truth_r(), "alpha_days": params.truth_alpha_days(), "a": BGNBD_A, "b": BGNBD_B}),
        },
        "seconds": seconds,
    });
    printer.result(&human, &json)?;
    Ok(())
}
