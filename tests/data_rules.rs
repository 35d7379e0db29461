//! The README's "Data rules" table, row by row, through the real binary: every kind of bad input is
//! rejected at its file, line and column, dropped with a counter, or accepted as documented, and
//! never makes `churn` panic or write a partial file.
//!
//! Each case is one small file. Run with `--nocapture` to see the per-class summary that the
//! closing note of the hostile-input issue quotes.

mod util;

use util::Dir;

/// What a case must produce.
enum Expect {
    /// Exit 1 or 2, nothing written, and the first reported problem at this line (None: the
    /// whole file) and column (None: the line as a whole), saying `says`.
    Rejected {
        line: Option<u64>,
        column: Option<&'static str>,
        says: &'static str,
    },
    /// Success with this many customers, and the report's `rows.<counter>` equal to the number.
    Accepted {
        customers: u64,
        counter: Option<(&'static str, u64)>,
    },
}

use Expect::{Accepted, Rejected};

struct Case {
    class: &'static str,
    name: &'static str,
    /// The transactions file (`tx.csv`), bytes as written.
    file: Vec<u8>,
    /// Extra `[input]` settings.
    input: &'static str,
    expect: Expect,
}

const HEADER: &str = "customer_id,timestamp,amount\n";

fn csv(rows: &str) -> Vec<u8> {
    format!("{HEADER}{rows}").into_bytes()
}

fn rejected(line: Option<u64>, column: Option<&'static str>, says: &'static str) -> Expect {
    Rejected { line, column, says }
}

fn accepted(customers: u64) -> Expect {
    Accepted {
        customers,
        counter: None,
    }
}

fn counted(customers: u64, counter: &'static str, n: u64) -> Expect {
    Accepted {
        customers,
        counter: Some((counter, n)),
    }
}

fn case(class: &'static str, name: &'static str, file: Vec<u8>, expect: Expect) -> Case {
    Case {
        class,
        name,
        file,
        input: "",
        expect,
    }
}

fn framing() -> Vec<Case> {
    let c = "framing";
    vec![
        case(c, "empty file", Vec::new(), rejected(None, None, "empty")),
        case(c, "header only", HEADER.into(), rejected(None, None, "no data rows")),
        case(
            c,
            "missing column",
            b"customer_id,timestamp\na,2024-01-01\n".to_vec(),
            rejected(None, Some("amount"), "columns found: customer_id, timestamp"),
        ),
        case(
            c,
            "renamed column",
            b"customer_id,timestamp,Amount\na,2024-01-01,1\n".to_vec(),
            rejected(None, Some("amount"), "map it under [input.columns]"),
        ),
        case(
            c,
            "duplicated column",
            b"customer_id,timestamp,amount,amount\na,2024-01-01,1,2\n".to_vec(),
            rejected(Some(1), None, "appears twice"),
        ),
        case(
            c,
            "wrong delimiter",
            b"customer_id;timestamp;amount\na;2024-01-01;1\n".to_vec(),
            rejected(None, Some("customer_id"), "set input.delimiter = ';'"),
        ),
        case(
            c,
            "one line with another delimiter",
            csv("a,2024-01-01,1\nb;2024-01-02;2\n"),
            rejected(Some(3), None, "the line contains ';'"),
        ),
        case(
            c,
            "too many fields",
            csv("a,2024-01-01,1\nb,2024-01-02,1,200.00\n"),
            rejected(Some(3), None, "has 4 fields, expected 3"),
        ),
        case(
            c,
            "too few fields",
            csv("a,2024-01-01,1\nb,2024-01-02\nc,2024-01-03,1\n"),
            rejected(Some(3), None, "has 2 fields, expected 3"),
        ),
        case(
            c,
            "unterminated quote",
            csv("a,2024-01-01,1\n\"b,2024-01-02,1\nc,2024-01-03,1\n"),
            rejected(Some(3), None, "never closed"),
        ),
        case(
            c,
            "truncated last line",
            csv("a,2024-01-01,1\nb,2024-01-0"),
            rejected(Some(3), None, "has 2 fields"),
        ),
        case(
            c,
            "header repeated mid-file",
            csv("a,2024-01-01,1\ncustomer_id,timestamp,amount\nb,2024-01-02,1\n"),
            rejected(Some(3), None, "repeats the header"),
        ),
        case(
            c,
            "UTF-8 byte order mark",
            [b"\xEF\xBB\xBF".as_slice(), &csv("a,2024-01-01,1\n")].concat(),
            accepted(1),
        ),
        case(
            c,
            "CRLF line ends",
            b"customer_id,timestamp,amount\r\na,2024-01-01,1\r\nb,2024-01-02,1\r\n".to_vec(),
            accepted(2),
        ),
        case(
            c,
            "blank lines",
            csv("\na,2024-01-01,1\n\n\nb,2024-01-02,1\n\n"),
            accepted(2),
        ),
        case(
            c,
            "line number after blank lines and a quoted newline",
            b"customer_id,timestamp,amount,note\n\na,2024-01-01,1,\"two\nlines\"\r\n\r\nb,2024-13-01,1,\n".to_vec(),
            rejected(Some(6), Some("timestamp"), "2024-13-01"),
        ),
        case(
            c,
            "NUL byte",
            csv("a,2024-01-01,1\nb,2024-01-02,\x001\n"),
            rejected(Some(3), None, "NUL byte"),
        ),
    ]
}

fn encoding() -> Vec<Case> {
    let c = "encoding";
    let utf16: Vec<u8> = "customer_id,timestamp,amount\na,2024-01-01,1\n"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    vec![
        case(
            c,
            "invalid UTF-8 in an id",
            [HEADER.as_bytes(), b"a,2024-01-01,1\n\xC3\x28b,2024-01-02,1\n"].concat(),
            rejected(Some(3), Some("customer_id"), "not valid UTF-8"),
        ),
        case(
            c,
            "UTF-16 with a byte order mark",
            [b"\xFF\xFE".as_slice(), &utf16].concat(),
            rejected(None, None, "UTF-16"),
        ),
        case(
            c,
            "UTF-16 without a byte order mark",
            utf16,
            rejected(Some(1), None, "NUL byte"),
        ),
        // Latin a, Cyrillic а, fullwidth ａ: three customers, never merged.
        case(
            c,
            "look-alike ids",
            csv("a,2024-01-01,1\n\u{430},2024-01-02,1\n\u{FF41},2024-01-03,1\n"),
            accepted(3),
        ),
    ]
}

fn timestamps() -> Vec<Case> {
    let c = "timestamps";
    vec![
        case(
            c,
            "unparseable",
            csv("a,2024-01-01,1\nb,yesterday,1\n"),
            rejected(Some(3), Some("timestamp"), "cannot parse \"yesterday\""),
        ),
        case(
            c,
            "impossible date",
            csv("a,2023-02-29,1\n"),
            rejected(Some(2), Some("timestamp"), "2023-02-29"),
        ),
        case(
            c,
            "mixed formats",
            csv("a,2024-01-01,1\nb,01/02/2024,1\n"),
            rejected(Some(3), Some("timestamp"), "01/02/2024"),
        ),
        case(
            c,
            "offsets and naive values together",
            csv("a,2024-01-01T10:00:00+02:00,1\nb,2024-01-01 10:00:00,1\nc,2024-01-01T10:00:00Z,1\n"),
            accepted(3),
        ),
        case(
            c,
            "before input.min_date",
            csv("a,2024-01-01,1\nb,1900-01-01,1\n"),
            rejected(Some(3), Some("timestamp"), "before input.min_date"),
        ),
        Case {
            input: "min_date = \"1899-01-01\"\n",
            ..case(c, "before a lowered min_date", csv("a,1900-01-01,1\n"), accepted(1))
        },
        case(
            c,
            "epoch number without a unit",
            csv("a,1704067200,1\n"),
            rejected(Some(2), Some("timestamp"), "unix_s"),
        ),
        Case {
            input: "timestamp_format = \"unix_ms\"\n",
            ..case(c, "epoch number with a unit", csv("a,1704067200000,1\n"), accepted(1))
        },
        case(
            c,
            "rows on or after the as-of date",
            csv("a,2024-01-01,1\na,2024-02-01,1\nb,2024-03-01,1\n"),
            counted(1, "on_or_after_as_of", 2),
        ),
        case(
            c,
            "empty",
            csv("a,,1\n"),
            rejected(Some(2), Some("timestamp"), "timestamp is empty"),
        ),
    ]
}

fn amounts() -> Vec<Case> {
    let c = "amounts";
    let mut overflow = String::from(HEADER);
    for i in 0..95_000 {
        overflow.push_str(&format!("a,2024-01-01T00:00:{:02},1000000000000\n", i % 60));
    }
    vec![
        case(
            c,
            "currency symbol",
            csv("a,2024-01-01,$12.00\n"),
            rejected(Some(2), Some("amount"), "currency symbols"),
        ),
        case(
            c,
            "thousands separator",
            csv("a,2024-01-01,\"1,200.00\"\n"),
            rejected(Some(2), Some("amount"), "thousands separators"),
        ),
        case(
            c,
            "decimal comma",
            csv("a,2024-01-01,\"12,50\"\n"),
            rejected(Some(2), Some("amount"), "set input.decimal = \",\""),
        ),
        Case {
            input: "decimal = \",\"\ndelimiter = \";\"\n",
            ..case(
                c,
                "decimal comma, configured",
                b"customer_id;timestamp;amount\na;2024-01-01;12,50\n".to_vec(),
                accepted(1),
            )
        },
        Case {
            input: "decimal = \",\"\ndelimiter = \";\"\n",
            ..case(
                c,
                "decimal point under a decimal-comma config",
                b"customer_id;timestamp;amount\na;2024-01-01;1.200,50\n".to_vec(),
                rejected(Some(2), Some("amount"), "contains '.'"),
            )
        },
        case(
            c,
            "NaN",
            csv("a,2024-01-01,NaN\n"),
            rejected(Some(2), Some("amount"), "not a finite number"),
        ),
        case(
            c,
            "infinity",
            csv("a,2024-01-01,-inf\n"),
            rejected(Some(2), Some("amount"), "not a finite number"),
        ),
        case(
            c,
            "1e309",
            csv("a,2024-01-01,1e309\n"),
            rejected(Some(2), Some("amount"), "not a finite number"),
        ),
        case(
            c,
            "empty",
            csv("a,2024-01-01,\n"),
            rejected(Some(2), Some("amount"), "amount is empty"),
        ),
        case(
            c,
            "absurd magnitude",
            csv("a,2024-01-01,1\nb,2024-01-01,250000000\n"),
            rejected(Some(3), Some("amount"), "input.max_abs_amount"),
        ),
        Case {
            input: "max_abs_amount = 1e12\n",
            ..case(
                c,
                "a sum that would overflow integer cents",
                overflow.into_bytes(),
                rejected(None, None, "more than integer cents can hold"),
            )
        },
        // A zero-value order is neither a purchase nor a return: b has no purchase.
        case(
            c,
            "zero-value orders",
            csv("a,2024-01-01,1\nb,2024-01-02,0\n"),
            accepted(1),
        ),
        case(
            c,
            "returns exceeding purchases",
            csv("a,2024-01-01,10\na,2024-01-05,-25\n"),
            accepted(1),
        ),
    ]
}

fn ids() -> Vec<Case> {
    let c = "ids and duplicates";
    vec![
        case(
            c,
            "missing ids in every spelling",
            csv("a,2024-01-01,1\n,2024-01-01,1\n   ,2024-01-01,1\nNULL,2024-01-01,1\nNone,2024-01-01,1\nnull,2024-01-01,1\nN/A,2024-01-01,1\nNaN,2024-01-01,1\n"),
            counted(1, "missing_customer_id", 7),
        ),
        case(c, "leading zeros kept", csv("007,2024-01-01,1\n7,2024-01-01,1\n"), accepted(2)),
        case(
            c,
            "whitespace and case are significant",
            csv("b,2024-01-01,1\nB,2024-01-01,1\n\"b \",2024-01-01,1\n"),
            accepted(3),
        ),
        case(
            c,
            "an order id shared by two customers",
            b"customer_id,timestamp,amount,order_id\na,2024-01-01,1,o1\nb,2024-01-01,1,o1\n".to_vec(),
            accepted(2),
        ),
        case(
            c,
            "duplicate rows",
            csv("a,2024-01-01,1\na,2024-01-01,1\nb,2024-01-01,1\n"),
            counted(2, "duplicate", 1),
        ),
        case(
            c,
            "control character in an id",
            csv("a,2024-01-01,1\n\"b\tc\",2024-01-01,1\n"),
            rejected(Some(3), Some("customer_id"), "U+0009"),
        ),
        case(
            c,
            "overlong id",
            csv(&format!("a,2024-01-01,1\n{},2024-01-01,1\n", "x".repeat(300))),
            rejected(Some(3), Some("customer_id"), "longer than 256 bytes"),
        ),
        // Kept exactly here; the CSV writers escape it (tests/score.rs).
        case(
            c,
            "a value a spreadsheet reads as a formula",
            csv("\"=HYPERLINK(\"\"http://x\"\")\",2024-01-01,1\n"),
            accepted(1),
        ),
    ]
}

/// What happened, as the summary counts it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    RejectedLocated,
    RejectedFile,
    Counted,
    Accepted,
}

fn check(dir: &Dir, case: &Case) -> Result<Outcome, String> {
    dir.write("tx.csv", &case.file);
    dir.write(
        "churn.toml",
        format!(
            "as_of = \"2024-02-01\"\n[input]\ntransactions = \"tx.csv\"\n{}",
            case.input
        ),
    );
    let _ = std::fs::remove_file(dir.join("f.parquet"));
    let run = dir.churn(&["features", "--config", "churn.toml", "--out", "f.parquet", "--json"]);
    let code = run.output.status.code();
    if code == Some(101) || run.stderr().contains("panicked") {
        return Err(format!("panicked: {}", run.stderr()));
    }
    let json: serde_json::Value =
        serde_json::from_str(run.stdout().trim()).map_err(|e| format!("stdout is not JSON ({e}): {}", run.stdout()))?;
    match &case.expect {
        Rejected { line, column, says } => {
            if !matches!(code, Some(1 | 2)) {
                return Err(format!("expected exit 1 or 2, got {code:?}; stdout {json}"));
            }
            if dir.join("f.parquet").exists() {
                return Err("a rejected input left an output file".into());
            }
            let first = &json["error"]["problems"][0];
            let message = json["error"]["message"].as_str().unwrap_or_default();
            if !message.contains(says) {
                return Err(format!("message lacks {says:?}: {message}"));
            }
            if line.is_some() || column.is_some() {
                if first["line"].as_u64() != *line {
                    return Err(format!("expected line {line:?}, got {first}"));
                }
                if first["column"].as_str() != *column {
                    return Err(format!("expected column {column:?}, got {first}"));
                }
                if !message.contains("tx.csv") {
                    return Err(format!("message does not name the file: {message}"));
                }
                Ok(Outcome::RejectedLocated)
            } else {
                Ok(Outcome::RejectedFile)
            }
        }
        Accepted { customers, counter } => {
            if code != Some(0) {
                return Err(format!("expected success, got {code:?}: {}", run.stderr()));
            }
            if json["customers"].as_u64() != Some(*customers) {
                return Err(format!("expected {customers} customers: {json}"));
            }
            match counter {
                Some((name, n)) => {
                    if json["rows"][name].as_u64() != Some(*n) {
                        return Err(format!("expected rows.{name} = {n}: {json}"));
                    }
                    Ok(Outcome::Counted)
                }
                None => Ok(Outcome::Accepted),
            }
        }
    }
}

#[test]
fn every_data_rule_holds_through_the_binary() {
    let dir = Dir::new();
    let classes = [framing(), encoding(), timestamps(), amounts(), ids()];
    let mut failures = Vec::new();
    eprintln!("| class | cases | rejected, located | rejected, whole file | dropped, counted | accepted |");
    eprintln!("|---|---|---|---|---|---|");
    for cases in &classes {
        let mut counts = [0usize; 4];
        for case in cases {
            match check(&dir, case) {
                Ok(outcome) => counts[outcome as usize] += 1,
                Err(why) => failures.push(format!("{} / {}: {why}", case.class, case.name)),
            }
        }
        eprintln!(
            "| {} | {} | {} | {} | {} | {} |",
            cases[0].class,
            cases.len(),
            counts[0],
            counts[1],
            counts[2],
            counts[3]
        );
    }
    assert!(
        failures.is_empty(),
        "{} rules broken:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_problem_is_listed_up_to_the_limit_in_line_order() {
    let dir = Dir::new();
    dir.write(
        "tx.csv",
        csv("a,2024-01-01,1\nb,2024-01-32,1\nc,2024-01-02,$3\n\nd,2024-01-02\ne,2024-01-02,1\nf,2024-01-02,NaN\n"),
    );
    dir.write("churn.toml", "[input]\ntransactions = \"tx.csv\"\n");
    let run = dir.churn(&["features", "--config", "churn.toml", "--json"]);
    let stderr = run.failure();
    let json: serde_json::Value = serde_json::from_str(run.stdout().trim()).expect("json");
    let problems = json["error"]["problems"].as_array().expect("problems");
    let places: Vec<(u64, Option<&str>)> = problems
        .iter()
        .map(|p| (p["line"].as_u64().unwrap_or(0), p["column"].as_str()))
        .collect();
    assert_eq!(
        places,
        [
            (3, Some("timestamp")),
            (4, Some("amount")),
            (6, None),
            (8, Some("amount"))
        ]
    );
    assert_eq!(json["error"]["stopped"], false);
    // The human form: one table row per problem.
    for line in ["line 3", "line 4", "line 6", "line 8"] {
        assert!(stderr.contains(line), "{stderr}");
    }
    assert!(stderr.contains("file") && stderr.contains("where") && stderr.contains("problem"));

    let run = dir.churn(&["features", "--config", "churn.toml", "--json", "--max-errors", "2"]);
    run.failure();
    let json: serde_json::Value = serde_json::from_str(run.stdout().trim()).expect("json");
    assert_eq!(json["error"]["problems"].as_array().map(Vec::len), Some(2));
    assert_eq!(json["error"]["stopped"], true);
    assert!(run.stderr().contains("raise input.max_errors"), "{}", run.stderr());
}

#[test]
fn problems_in_several_files_are_reported_in_file_order() {
    let dir = Dir::new();
    std::fs::create_dir(dir.join("in")).expect("mkdir");
    dir.write("in/1.csv", csv("a,2024-01-01,x\n"));
    dir.write("in/2.csv", csv("b,2024-01-01,1\nb,2024-01-01,y\n"));
    let run = dir.churn(&["features", "--input", "in", "--json"]);
    run.failure();
    let json: serde_json::Value = serde_json::from_str(run.stdout().trim()).expect("json");
    let problems = json["error"]["problems"].as_array().expect("problems");
    let files: Vec<String> = problems
        .iter()
        .map(|p| format!("{}:{}", p["file"].as_str().unwrap_or(""), p["line"]))
        .collect();
    assert_eq!(files, ["in/1.csv:2", "in/2.csv:3"]);
}

/// The customers table and orders under two customers, through the binary: counted in the JSON
/// summary, refused with both lines and nothing written, and a bad setting is a usage error.
#[test]
fn the_customers_table_and_shared_orders_through_the_binary() {
    let dir = Dir::new();
    dir.write(
        "tx.csv",
        "customer_id,order_id,timestamp,amount\na,1,2024-01-11,10\nb,1,2024-01-21,10\nc,2,2024-01-21,10\n",
    );
    let features = |input: &str| {
        dir.write(
            "churn.toml",
            format!(
                "as_of = \"2024-02-01\"\n[input]\ntransactions = \"tx.csv\"\ncustomers = \"customers.csv\"\n{input}\n\
                 [input.columns]\norder_id = \"order_id\"\n"
            ),
        );
        let _ = std::fs::remove_file(dir.join("f.parquet"));
        let run = dir.churn(&["features", "--config", "churn.toml", "--out", "f.parquet", "--json"]);
        let json: serde_json::Value = serde_json::from_str(run.stdout().trim()).expect("JSON on stdout");
        (run.output.status.code(), json, run.stderr())
    };

    dir.write(
        "customers.csv",
        "customer_id,signup_date\na,2024-01-01\nb,2024-01-25\nz,2023-01-01\n",
    );
    let (code, json, stderr) = features("");
    assert_eq!(code, Some(0), "{json} {stderr}");
    assert_eq!(json["shared_orders"], 1, "{json}");
    assert!(
        stderr.contains("order \"1\" under customer \"a\" (tx.csv line 2) and customer \"b\" (tx.csv line 3)"),
        "{stderr}"
    );
    let table = &json["customers_table"];
    assert_eq!(table["rows"], 3, "{json}");
    assert_eq!(table["customers_without_row"], 1, "{json}");
    assert_eq!(table["rows_without_purchase"], 1, "{json}");
    assert_eq!(table["signups_used"], 1, "{json}");
    assert_eq!(table["signups_after_first_purchase"], 1, "{json}");

    let (code, json, _) = features("shared_orders = \"reject\"");
    assert_eq!(code, Some(1), "{json}");
    assert!(!dir.join("f.parquet").exists());
    let message = json["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("(tx.csv line 2) and customer \"b\" (tx.csv line 3)"),
        "{message}"
    );

    let (code, json, _) = features("shared_orders = \"sometimes\"");
    assert_eq!(code, Some(2), "{json}");

    dir.write(
        "customers.csv",
        "customer_id,signup_date\na,2024-01-01\nb,2024-01-25\na,2023-01-01\n",
    );
    let (code, json, _) = features("");
    assert_eq!(code, Some(1), "{json}");
    assert!(!dir.join("f.parquet").exists());
    let message = json["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("customers.csv: line 4: customer \"a\" appears again (first on line 2)"),
        "{message}"
    );
}
