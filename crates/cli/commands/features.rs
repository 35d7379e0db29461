//! `churn features`: transactions in, per-customer v1 features out.

use std::fmt::Write as _;
use std::time::Instant;

use anyhow::{Context, Result};
use churn_features::extract_features;
use serde_json::json;

use super::thousands;
use crate::printer::Printer;
use crate::settings::FeaturesSettings;

pub fn features(settings: &FeaturesSettings, printer: Printer) -> Result<()> {
    let started = Instant::now();
    let spinner = printer.spinner(&crate::commands::reading(&settings.input, &settings.params));
    let result = extract_features(&settings.input, &settings.params);
    spinner.finish_and_clear();
    let table = result.context("cannot compute features; nothing was written")?;
    table
        .write_parquet(&settings.out)
        .with_context(|| format!("cannot write {}", settings.out.display()))?;
    let seconds = started.elapsed().as_secs_f64();

    let r = &table.report;
    let mut human = String::new();
    let _ = writeln!(
        human,
        "churn features: {} customers as of {} -> {} ({seconds:.2} s)",
        thousands(r.customers),
        table.as_of,
        settings.out.display()
    );
    let _ = writeln!(
        human,
        "  input        {} {} file{}, {} rows, {}",
        r.files,
        r.format,
        if r.files == 1 { "" } else { "s" },
        thousands(r.rows_read),
        table.fingerprint
    );
    let _ = writeln!(human, "  used         {} rows", thousands(r.rows_used));
    let _ = writeln!(
        human,
        "  dropped      {} without customer id, {} on or after the as-of date, {} by input.where",
        thousands(r.rows_missing_customer),
        thousands(r.rows_on_or_after_as_of),
        thousands(r.rows_filtered_out)
    );
    let duplicate_note = if r.duplicates_dropped {
        "dropped"
    } else {
        "kept; --drop-duplicates drops them"
    };
    let _ = writeln!(
        human,
        "  duplicates   {} exact duplicate rows ({duplicate_note})",
        thousands(r.rows_duplicate)
    );
    if r.customers_without_purchase > 0 {
        let _ = writeln!(
            human,
            "  not scored   {} customers with only returns before the as-of date",
            thousands(r.customers_without_purchase)
        );
    }
    human.push_str(&super::input_check_lines(
        r.shared_orders,
        r.customers_table.as_ref(),
        &table.as_of.to_string(),
    ));
    let json = json!({
        "command": "features",
        "output": settings.out.display().to_string(),
        "as_of": table.as_of.to_string(),
        "fingerprint": table.fingerprint,
        "feature_set_version": churn_features::FEATURE_SET_VERSION,
        "customers": r.customers,
        "files": r.files,
        "format": r.format,
        "rows": {
            "read": r.rows_read,
            "used": r.rows_used,
            "missing_customer_id": r.rows_missing_customer,
            "on_or_after_as_of": r.rows_on_or_after_as_of,
            "filtered_by_where": r.rows_filtered_out,
            "duplicate": r.rows_duplicate,
            "duplicates_dropped": r.duplicates_dropped,
        },
        "shared_orders": r.shared_orders,
        "customers_without_purchase": r.customers_without_purchase,
        "customers_table": r.customers_table,
        "seconds": seconds,
    });
    printer.result(&human, &json)?;
    Ok(())
}
