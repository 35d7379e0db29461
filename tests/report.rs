//! `report.html`: drawn by every run and by `churn report --run`, self-contained, its numbers those
//! of the run's files, and drawn (not blank) by a real headless browser.

mod util;

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use util::{repo, Dir};

/// Runs `churn run` on the bundled sample inside `dir`; returns the published run directory.
fn sample_run(dir: &Dir) -> PathBuf {
    let config = std::fs::read_to_string(repo().join("data/sample/churn.toml")).expect("sample config");
    let tx = repo().join("data/sample/transactions.csv");
    let config = config.replace("\"transactions.csv\"", &format!("{:?}", tx.display().to_string()));
    let config = config.split("\n[run]").next().unwrap_or_default().to_string();
    dir.write("churn.toml", config);
    dir.churn(&["run", "--config", "churn.toml"]).success();
    dir.join("output/current")
}

/// A feature column of a feature file.
fn feature(path: &Path, name: &str) -> Vec<f64> {
    let table = churn_features::FeatureTable::read_parquet(path).expect("feature file");
    table.to_frame().expect("frame").required(name).expect("column")
}

/// The population stability index over the reference's deciles, written again from its definition.
fn psi(reference: &[f64], current: &[f64]) -> f64 {
    let mut sorted = reference.to_vec();
    sorted.sort_by(f64::total_cmp);
    let max = sorted[sorted.len() - 1];
    let mut edges: Vec<f64> = (1..10)
        .map(|k| sorted[k * (sorted.len() - 1) / 10])
        .filter(|e| *e < max)
        .collect();
    edges.dedup();
    let shares = |values: &[f64]| {
        let mut counts = vec![0.0; edges.len() + 1];
        for v in values {
            counts[edges.iter().filter(|e| **e < *v).count()] += 1.0;
        }
        counts.into_iter().map(|c| c / values.len() as f64).collect::<Vec<_>>()
    };
    let (r, c) = (shares(reference), shares(current));
    r.iter()
        .zip(&c)
        .map(|(r, c)| {
            let (r, c) = (r.max(1e-4), c.max(1e-4));
            (c - r) * (c / r).ln()
        })
        .sum()
}

#[test]
fn every_run_draws_a_self_contained_report_of_its_own_numbers() {
    let dir = Dir::new();
    let run = sample_run(&dir);
    let page = std::fs::read_to_string(run.join("report.html")).expect("report.html");
    for section in [
        "headline",
        "segments",
        "concentration",
        "risk",
        "model",
        "drift",
        "data",
    ] {
        assert!(
            page.contains(&format!("<section id=\"{section}\"")),
            "no section {section}"
        );
    }
    for chart in [
        "segment-shares",
        "lorenz",
        "probabilities",
        "roc",
        "gains",
        "calibration",
        "coefficients",
        "drift-churn_probability",
    ] {
        assert!(page.contains(&format!("data-chart=\"{chart}\"")), "no chart {chart}");
    }
    for table in ["profiles", "crosstab", "risk-table", "metrics", "psi", "rows"] {
        assert!(page.contains(&format!("<table id=\"{table}\"")), "no table {table}");
    }
    // Self-contained: nothing is fetched, nothing runs.
    for outside in [
        "http:", "https:", "<script", "src=", "url(", "@import", "<link", "<iframe",
    ] {
        assert!(!page.contains(outside), "the report refers to {outside}");
    }
    assert!(page.len() < 2_000_000, "{} bytes", page.len());

    // The headline is the manifest's.
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("manifest.json")).expect("manifest")).expect("json");
    assert_eq!(manifest["report"], "report.html");
    assert!(page.contains("<b>2,000</b><span>customers scored"), "customers");
    let auc = manifest["model"]["evaluation"]["model"]["roc_auc"]
        .as_f64()
        .expect("auc");
    assert!(page.contains(&format!("<b>{auc:.3}</b>")), "AUC {auc:.3}");

    // Revenue concentration, computed again from the features.
    let features = run.join("features.parquet");
    let mut spend: Vec<f64> = feature(&features, "monetary_total")
        .into_iter()
        .map(|v| v.max(0.0))
        .collect();
    spend.sort_by(|a, b| b.total_cmp(a));
    let total: f64 = spend.iter().sum();
    let top = spend.len() as f64 * 0.1;
    let whole = top.floor() as usize;
    let share = (spend[..whole].iter().sum::<f64>() + (top - whole as f64) * spend[whole]) / total;
    assert!(
        page.contains(&format!("bring <b>{:.1}%</b> of all spend", 100.0 * share)),
        "top 10 % share {share}"
    );

    // Drift: the recency PSI, computed again from the training snapshot's features and today's.
    let c1 = manifest["drift"]["reference_snapshot"].as_str().expect("snapshot");
    dir.churn(&[
        "features",
        "--config",
        "churn.toml",
        "--as-of",
        c1,
        "--out",
        "c1.parquet",
    ])
    .success();
    let expected = psi(
        &feature(&dir.join("c1.parquet"), "recency_days"),
        &feature(&features, "recency_days"),
    );
    let recency = manifest["drift"]["features"]
        .as_array()
        .expect("features")
        .iter()
        .find(|d| d["name"] == "recency_days")
        .expect("recency drift");
    let got = recency["psi"].as_f64().expect("psi");
    assert!((got - expected).abs() < 1e-9, "PSI {got} vs {expected}");
    assert!(page.contains(&format!("<td>{got:.3}</td>")), "PSI in the table");

    // `churn report` draws the same bytes from the same files.
    dir.churn(&["report", "--run", "output/current", "--out", "again.html"])
        .success();
    assert_eq!(std::fs::read(dir.join("again.html")).expect("again"), page.as_bytes());
}

#[test]
fn the_next_night_shows_what_changed() {
    let dir = Dir::new();
    sample_run(&dir);
    // A month later everyone's recency has grown: customers enter the at-risk list and move.
    dir.churn(&["run", "--config", "churn.toml", "--as-of", "2024-02-01"])
        .success();
    let run = dir.join("output/current");
    let page = std::fs::read_to_string(run.join("report.html")).expect("report.html");
    let changes = std::fs::read_to_string(run.join("changes.csv")).expect("changes.csv");
    let count = |kind: &str| changes.lines().filter(|l| l.split(',').nth(1) == Some(kind)).count();
    assert!(count("entered_at_risk") > 0, "{changes}");
    assert!(page.contains("<table id=\"changes\">"));
    assert!(
        page.contains(&format!(
            "<td class=\"l\">entered at risk</td><td>{}</td>",
            count("entered_at_risk")
        )),
        "the page's count of customers entering the list"
    );
    if count("segment_changed") > 0 {
        assert!(page.contains("<table id=\"moves\">"));
    }
}

#[test]
fn a_report_of_something_that_is_not_a_run_is_a_clear_error() {
    let dir = Dir::new();
    let err = dir.churn(&["report", "--run", "nowhere"]).failure();
    assert!(err.contains("nowhere") && err.contains("manifest.json"), "{err}");
    std::fs::create_dir_all(dir.join("fake")).expect("mkdir");
    dir.write("fake/manifest.json", r#"{"format": "churn-model"}"#);
    let err = dir.churn(&["report", "--run", "fake"]).failure();
    assert!(err.contains("not a run manifest"), "{err}");
    assert!(!dir.join("fake/report.html").exists());
}

/// The browser: `CHURN_CHROMIUM`, else `chromium` or `chromium-browser` on the PATH.
fn chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CHURN_CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| ["chromium", "chromium-browser"].map(|name| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// The RGB(A) pixels of an 8-bit, non-interlaced PNG: the chunks' IDAT data inflated with flate2
/// and each scanline unfiltered. Written here because the `png` crate would pull a second version
/// of the compression crates into the build, whose feature changes rebuild DataFusion.
fn png_pixels(bytes: &[u8]) -> (u32, u32, usize, Vec<u8>) {
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    let (mut at, mut idat) = (8, Vec::new());
    let (mut width, mut height, mut channels) = (0u32, 0u32, 0usize);
    while at + 8 <= bytes.len() {
        let length = u32::from_be_bytes(bytes[at..at + 4].try_into().expect("length")) as usize;
        let kind = &bytes[at + 4..at + 8];
        let data = &bytes[at + 8..at + 8 + length];
        match kind {
            b"IHDR" => {
                width = u32::from_be_bytes(data[0..4].try_into().expect("width"));
                height = u32::from_be_bytes(data[4..8].try_into().expect("height"));
                assert_eq!((data[8], data[12]), (8, 0), "8-bit, non-interlaced");
                channels = match data[9] {
                    2 => 3,
                    6 => 4,
                    other => panic!("colour type {other}"),
                };
            }
            b"IDAT" => idat.extend_from_slice(data),
            _ => {}
        }
        at += 12 + length;
    }
    let mut raw = Vec::new();
    flate2::read::ZlibDecoder::new(&idat[..])
        .read_to_end(&mut raw)
        .expect("inflate");
    let stride = width as usize * channels;
    let mut pixels = vec![0u8; stride * height as usize];
    for y in 0..height as usize {
        let filter = raw[y * (stride + 1)];
        let line = &raw[y * (stride + 1) + 1..(y + 1) * (stride + 1)];
        for x in 0..stride {
            let a = if x >= channels {
                pixels[y * stride + x - channels]
            } else {
                0
            };
            let b = if y > 0 { pixels[(y - 1) * stride + x] } else { 0 };
            let c = if x >= channels && y > 0 {
                pixels[(y - 1) * stride + x - channels]
            } else {
                0
            };
            let predicted = match filter {
                0 => 0,
                1 => a,
                2 => b,
                3 => ((a as u16 + b as u16) / 2) as u8,
                4 => {
                    let p = a as i16 + b as i16 - c as i16;
                    let (pa, pb, pc) = ((p - a as i16).abs(), (p - b as i16).abs(), (p - c as i16).abs());
                    if pa <= pb && pa <= pc {
                        a
                    } else if pb <= pc {
                        b
                    } else {
                        c
                    }
                }
                other => panic!("filter {other}"),
            };
            pixels[y * stride + x] = line[x].wrapping_add(predicted);
        }
    }
    (width, height, channels, pixels)
}

#[test]
fn the_report_is_drawn_by_a_headless_browser() {
    let Some(browser) = chromium() else {
        assert!(
            std::env::var_os("CHURN_REQUIRE_BROWSER").is_none(),
            "CHURN_REQUIRE_BROWSER is set but no chromium was found (install Debian's chromium or set CHURN_CHROMIUM)"
        );
        eprintln!("skipped: no chromium on the PATH (CI installs it and sets CHURN_REQUIRE_BROWSER)");
        return;
    };
    let dir = Dir::new();
    let run = sample_run(&dir);
    let shot = dir.join("report.png");
    let status = Command::new(&browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1200,3000",
            &format!("--screenshot={}", shot.display()),
        ])
        .arg(run.join("report.html"))
        .env("HOME", dir.path())
        .output()
        .expect("chromium runs");
    assert!(
        shot.is_file(),
        "no screenshot: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    let (width, height, channels, pixels) = png_pixels(&std::fs::read(&shot).expect("png"));
    assert_eq!((width, height), (1200, 3000));
    // The page background is #fafafa; a drawn page has text, tables and charts on it, including
    // the palette's blue (#0072B2) of the bars and lines.
    let total = (width * height) as usize;
    let is = |p: &[u8], rgb: [u8; 3]| p[..3].iter().zip(rgb).all(|(a, b)| a.abs_diff(b) <= 8);
    let drawn = pixels
        .chunks(channels)
        .filter(|p| !is(p, [0xfa, 0xfa, 0xfa]) && !is(p, [0xff, 0xff, 0xff]))
        .count();
    let blue = pixels.chunks(channels).filter(|p| is(p, [0x00, 0x72, 0xb2])).count();
    eprintln!("screenshot {width}x{height}: {drawn} of {total} pixels drawn, {blue} in the chart blue");
    // White cards and charts on the #fafafa page count as background; ink is what is drawn on them.
    assert!(drawn * 100 > total * 4, "only {drawn} of {total} pixels drawn");
    assert!(blue > 2_000, "only {blue} blue pixels");
}

/// The charts' fixes, on a real run's page: the gains chart has the perfect model, each
/// calibration point its customer count, the histogram its thresholds where the bands start, the
/// risk table its segments in id order, and tenure's drift is explained.
#[test]
fn the_charts_say_what_a_reader_needs() {
    let dir = Dir::new();
    let run = sample_run(&dir);
    let page = std::fs::read_to_string(run.join("report.html")).expect("report.html");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("manifest.json")).expect("manifest")).expect("json");
    let chart = |name: &str| {
        let start = page.find(&format!("data-chart=\"{name}\"")).expect(name);
        page[start..].split("</svg>").next().expect("svg").to_string()
    };
    let gains = chart("gains");
    assert!(gains.contains("<title>perfect model</title>"), "perfect model line");
    let e = &manifest["model"]["evaluation"];
    let share = e["churners"].as_f64().expect("churners") / e["customers"].as_f64().expect("customers");
    assert!(
        share > 0.5,
        "the sample churns at {share}: the gains curves crowd the diagonal without it"
    );
    // Three dash styles for the three curves.
    for dash in ["stroke-dasharray=\"7 4\"", "stroke-dasharray=\"2 3\""] {
        assert!(chart("roc").contains(dash), "{dash}");
    }
    // Each calibration point with its customers.
    let calibration = chart("calibration");
    for bin in e["calibration"].as_array().expect("bins") {
        if bin["mean_predicted"].is_number() {
            let n = bin["customers"].as_u64().expect("count");
            assert!(
                calibration.contains(&format!(">{}</text>", churn_core::format::count(n))),
                "bin of {n}"
            );
        }
    }
    // Thresholds where the configured bands start (the sample's: by probability).
    assert_eq!(manifest["settings"]["score"]["bands"]["by"], "probability");
    let high = manifest["settings"]["score"]["bands"]["high"].as_f64().expect("high");
    let histogram = chart("probabilities");
    assert!(
        histogram.contains(&format!(">high from {}</text>", churn_core::format::percent(high))),
        "high from {high}"
    );
    assert!(histogram.contains(">0%</text>") && histogram.contains(">100%</text>"));
    // Segments by id in the risk table, as in the profiles table.
    let profiles = std::fs::read_to_string(run.join("segment_profiles.csv")).expect("profiles");
    let by_id: Vec<&str> = profiles.lines().skip(1).filter_map(|l| l.split(',').nth(1)).collect();
    let risk = page.split("<table id=\"risk-table\"").nth(1).expect("risk table");
    let risk = risk.split("</table>").next().expect("table");
    let positions: Vec<usize> = by_id
        .iter()
        .filter_map(|name| risk.find(&format!("<td class=\"l\">{name}</td>")))
        .collect();
    assert_eq!(positions.len(), by_id.len(), "{by_id:?}");
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{by_id:?} in id order");
    // Tenure's drift, when flagged, is explained, and never an alarm in the history.
    let tenure = manifest["drift"]["features"]
        .as_array()
        .expect("features")
        .iter()
        .find(|d| d["name"].as_str().is_some_and(|n| n.contains("tenure_days")))
        .map(|d| d["level"].as_str().unwrap_or("").to_string());
    if tenure.as_deref().is_some_and(|l| l != "stable") {
        assert!(
            page.contains("id=\"drift-expected\""),
            "tenure flagged {tenure:?} without a note"
        );
    }
}
