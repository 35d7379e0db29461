//! `churn report`: redraws report.html from a run directory.

use std::time::Instant;

use anyhow::{Context, Result};
use serde_json::json;

use crate::args::ReportArgs;
use crate::outputs::StagedOutputs;
use crate::printer::Printer;
use churn_pipeline::nightly::REPORT_FILE;

pub fn report(args: &ReportArgs, printer: Printer) -> Result<()> {
    let started = Instant::now();
    let page = crate::report::render_run(&args.run)
        .with_context(|| format!("cannot draw the report of {}", args.run.display()))?;
    let out = args.out.clone().unwrap_or_else(|| args.run.join(REPORT_FILE));
    let mut outputs = StagedOutputs::new();
    outputs.stage_bytes(&out, page.as_bytes())?;
    outputs.commit()?;
    let seconds = started.elapsed().as_secs_f64();
    printer.result(
        &format!(
            "churn report: {} ({} KB, {seconds:.2} s)\n",
            out.display(),
            page.len().div_ceil(1024)
        ),
        &json!({"command": "report", "out": out.display().to_string(), "bytes": page.len(), "seconds": seconds}),
    )?;
    Ok(())
}
