//! `churn generate`: synthetic transactions with a known ground truth.

use std::time::Instant;

use anyhow::{Context, Result};
use churn_features::generate::{
    generate as run_generator, GenerateParams, OutputFormat, Process, Treatment, BGNBD_A, BGNBD_B,
};
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
    params.continue_to = args.continue_to;
    if let Some(path) = &args.treated {
        params.treatment = Some(Treatment {
            treated: read_treated(path)?,
            effect: args.effect,
        });
    }
    let bar = printer.bar(args.customers, "customers");
    bar.set_message("generating");
    let result = run_generator(&params, &args.out, &mut |done| bar.set_position(done));
    bar.finish_and_clear();
    let report = result.with_context(|| format!("cannot generate into {}", args.out.display()))?;
    let seconds = started.elapsed().as_secs_f64();
    let mut human = format!(
        "churn generate: {} customers, {} orders, {} rows ({} returns), {} alive at {} -> {}, {} ({seconds:.2} s)\n",
        thousands(args.customers),
        thousands(report.orders),
        thousands(report.rows),
        thousands(report.returns),
        thousands(report.alive_at_end),
        args.continue_to.unwrap_or(args.end),
        report.transactions.display(),
        report.truth.display(),
    );
    if args.treated.is_some() {
        human.push_str(&format!(
            "  treated from {}: {} customers; {} dropouts averted (effect {})\n",
            args.end,
            thousands(report.treated),
            thousands(report.averted),
            args.effect
        ));
    }
    let json = json!({
        "command": "generate",
        "customers": args.customers,
        "seed": args.seed,
        "orders": report.orders,
        "rows": report.rows,
        "returns": report.returns,
        "alive_at_end": report.alive_at_end,
        "continue_to": args.continue_to.map(|d| d.to_string()),
        "treated": report.treated,
        "averted": report.averted,
        "effect": args.treated.is_some().then_some(args.effect),
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

/// The `customer_id` column of a CSV file (a list `churn run` wrote, or any file with that
/// column), without the apostrophe the lists put before formula-looking ids.
fn read_treated(path: &std::path::Path) -> Result<std::collections::HashSet<String>> {
    let mut reader = csv::Reader::from_path(path).with_context(|| format!("cannot read {}", path.display()))?;
    let headers = reader
        .headers()
        .with_context(|| format!("cannot read {}", path.display()))?
        .clone();
    let column = headers
        .iter()
        .position(|h| h == "customer_id")
        .with_context(|| format!("{} has no customer_id column", path.display()))?;
    let mut ids = std::collections::HashSet::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.with_context(|| format!("cannot read {} line {}", path.display(), i + 2))?;
        ids.insert(churn_score::unescape_formula(record.get(column).unwrap_or("")).to_string());
    }
    Ok(ids)
}
