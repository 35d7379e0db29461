//! Strict parsers for the text values of a transaction file.
//!
//! These are deliberately stricter than Rust's own `str::parse::<f64>` (which accepts `NaN`, `inf` and
//! turns `1e309` into infinity) and than a CSV reader's type inference (which would turn the id `007`
//! into the number 7). A nightly job must reject what it does not understand, not guess.

use chrono::{DateTime, LocalResult, NaiveDate, NaiveDateTime, TimeZone};
use chrono_tz::Tz;

/// How naive (offset-less) text timestamps are read, and an optional explicit format.
#[derive(Debug, Clone, Default)]
pub struct TimestampParser {
    /// The zone naive timestamps are in; UTC when `None`. The machine's local zone is never used.
    pub timezone: Option<Tz>,
    /// A `chrono` strftime format (e.g. `%Y%m%d` or `%d/%m/%Y %H:%M`), or `unix_s`, `unix_ms` or
    /// `unix_us` for integer Unix epoch numbers in that unit; ISO 8601 when `None`.
    pub format: Option<String>,
}

/// The epoch formats and their unit in microseconds. Epoch numbers are only read with an explicit
/// unit: `1700000000` is a plausible second, millisecond and microsecond count alike.
pub const EPOCH_FORMATS: [(&str, i64); 3] = [("unix_s", 1_000_000), ("unix_ms", 1_000), ("unix_us", 1)];

const ISO_HINT: &str = "expected ISO 8601 such as 2024-03-01, 2024-03-01 14:30:00 or \
                        2024-03-01T14:30:00+01:00, or set input.timestamp_format";

impl TimestampParser {
    /// Parses one value into microseconds since the Unix epoch (UTC).
    pub fn parse_micros(&self, text: &str) -> Result<i64, String> {
        if text.is_empty() {
            return Err("timestamp is empty".to_string());
        }
        if let Some(unit) = self.epoch_unit() {
            return parse_epoch(text, unit);
        }
        match &self.format {
            Some(format) => self.parse_with_format(text, format),
            None => self.parse_iso(text),
        }
    }

    /// Microseconds per unit when the format is an epoch format (`unix_s`, `unix_ms`, `unix_us`).
    pub fn epoch_unit(&self) -> Option<i64> {
        let format = self.format.as_deref()?;
        EPOCH_FORMATS
            .iter()
            .find(|(name, _)| *name == format)
            .map(|&(_, unit)| unit)
    }

    fn parse_iso(&self, text: &str) -> Result<i64, String> {
        let bad = || {
            if text.len() >= 9 && text.bytes().all(|b| b.is_ascii_digit()) {
                return format!(
                    "{} looks like a Unix epoch number; set input.timestamp_format to \"unix_s\", \
                     \"unix_ms\" or \"unix_us\" to say its unit",
                    crate::error::truncate_value(text)
                );
            }
            format!(
                "cannot parse {} as a timestamp ({ISO_HINT})",
                crate::error::truncate_value(text)
            )
        };
        // A value with an explicit offset or `Z` names an instant; everything else is a wall-clock
        // time in the configured zone. The date part is always 10 bytes, so the suffix check is cheap.
        let has_offset = text.len() > 10 && {
            let time = &text[text.char_indices().nth(10).map_or(text.len(), |(i, _)| i)..];
            // `get`, not slicing: with multi-byte characters in the date part the rest may be empty
            // (the fuzzer found `20Ş4-01-04`, which panicked here).
            time.ends_with('Z')
                || time.ends_with('z')
                || time.contains('+')
                || time.get(1..).is_some_and(|t| t.contains('-'))
        };
        if has_offset {
            let parsed = DateTime::parse_from_rfc3339(text)
                .or_else(|_| DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f%#z"))
                .or_else(|_| DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%#z"))
                .or_else(|_| DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M%#z"))
                .or_else(|_| DateTime::parse_from_str(text, "%Y-%m-%d %H:%M%#z"))
                .map_err(|_| bad())?;
            return Ok(parsed.timestamp_micros());
        }
        let naive = if text.len() == 10 {
            NaiveDate::parse_from_str(text, "%Y-%m-%d").map(|d| d.and_time(chrono::NaiveTime::MIN))
        } else {
            NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f")
                .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f"))
                .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M"))
                .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M"))
        };
        self.localize(naive.map_err(|_| bad())?, text)
    }

    fn parse_with_format(&self, text: &str, format: &str) -> Result<i64, String> {
        let bad = || {
            format!(
                "cannot parse {} with timestamp_format {format:?}",
                crate::error::truncate_value(text)
            )
        };
        if format.contains("%z") || format.contains("%:z") || format.contains("%#z") {
            return DateTime::parse_from_str(text, format)
                .map(|t| t.timestamp_micros())
                .map_err(|_| bad());
        }
        let naive = NaiveDateTime::parse_from_str(text, format)
            .or_else(|_| NaiveDate::parse_from_str(text, format).map(|d| d.and_time(chrono::NaiveTime::MIN)))
            .map_err(|_| bad())?;
        self.localize(naive, text)
    }

    fn localize(&self, naive: NaiveDateTime, text: &str) -> Result<i64, String> {
        let Some(tz) = self.timezone else {
            return Ok(naive.and_utc().timestamp_micros());
        };
        match tz.from_local_datetime(&naive) {
            LocalResult::Single(t) => Ok(t.timestamp_micros()),
            // The hour repeated when clocks go back: take the first occurrence, as PostgreSQL and
            // pandas (ambiguous="infer" aside) do, so the result never depends on row order.
            LocalResult::Ambiguous(first, _) => Ok(first.timestamp_micros()),
            LocalResult::None => Err(format!(
                "{} does not exist in time zone {tz} (it falls in a daylight-saving gap)",
                crate::error::truncate_value(text)
            )),
        }
    }
}

/// The reason for a timestamp before `input.min_date`.
pub(crate) fn before_min_date(us: i64, min_date: NaiveDate) -> String {
    let when = DateTime::from_timestamp_micros(us).map_or_else(|| us.to_string(), |t| t.to_rfc3339());
    format!("timestamp {when} is before input.min_date ({min_date}); a placeholder date, or a wrong unit?")
}

/// An integer count of `unit` microseconds since 1970-01-01T00:00:00Z.
fn parse_epoch(text: &str, unit: i64) -> Result<i64, String> {
    let shown = crate::error::truncate_value(text);
    let digits = text.strip_prefix('-').unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{shown} is not an integer epoch number"));
    }
    text.parse::<i64>()
        .ok()
        .and_then(|n| n.checked_mul(unit))
        .filter(|us| chrono::DateTime::from_timestamp_micros(*us).is_some())
        .ok_or_else(|| format!("{shown} is out of the range of dates"))
}

/// True when `text` is a plain decimal number: optional sign, digits with an optional fraction, and an
/// optional exponent. Rejects `NaN`, `inf`, currency symbols, thousands separators, decimal commas
/// and surrounding spaces.
pub fn is_plain_decimal(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut i = 0;
    if matches!(bytes.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    let int_start = i;
    while i < bytes.len() && bytes[i].is_ascii_digit() {
        i += 1;
    }
    let mut digits = i - int_start;
    if i < bytes.len() && bytes[i] == b'.' {
        i += 1;
        let frac_start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        digits += i - frac_start;
    }
    if digits == 0 {
        return false;
    }
    if i < bytes.len() && (bytes[i] == b'e' || bytes[i] == b'E') {
        i += 1;
        if matches!(bytes.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let exp_start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if i == exp_start {
            return false;
        }
    }
    i == bytes.len()
}

/// True when `text` is an integer without a leading zero (`0` itself is fine). A leading zero marks a
/// code such as a zip code or a zero-padded id, which must stay text.
pub fn is_plain_integer(text: &str) -> bool {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits.len() == 1 || !digits.starts_with('0'))
        && digits.len() <= 18
}

/// True when `text` is a number written with a redundant leading zero (`007`, `-01.5`): the mark of
/// a code or a zero-padded id, which must stay text even if every value is numeric.
pub fn has_leading_zero(text: &str) -> bool {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text).as_bytes();
    digits.len() > 1 && digits[0] == b'0' && digits[1].is_ascii_digit()
}

/// Parses a money amount: a plain decimal, finite, with magnitude at most `max_abs`.
pub fn parse_amount(text: &str, max_abs: f64) -> Result<f64, String> {
    if text.is_empty() {
        return Err("amount is empty".to_string());
    }
    let shown = crate::error::truncate_value(text);
    if !is_plain_decimal(text) {
        let lower = text.to_ascii_lowercase();
        let reason = if lower.contains("nan") || lower.contains("inf") {
            "is not a finite number".to_string()
        } else if text.contains(',') {
            // `12,50`: one comma, then one or two digits, reads as a decimal comma; `1,200.00` as
            // thousands separators. Either way, say which setting or export fixes it.
            let after_comma = text.rsplit(',').next().unwrap_or_default();
            let decimal_comma = text.matches(',').count() == 1
                && !text.contains('.')
                && (1..=2).contains(&after_comma.len())
                && after_comma.bytes().all(|b| b.is_ascii_digit());
            if decimal_comma {
                "is not a plain decimal number: it looks like a decimal comma; set input.decimal = \",\" \
                 (European exports, usually with input.delimiter = \";\") or export with a '.' decimal point"
                    .to_string()
            } else {
                "is not a plain decimal number (thousands separators are not accepted; export without \
                 grouping, or set input.decimal = \",\" if the comma is the decimal mark)"
                    .to_string()
            }
        } else {
            "is not a plain decimal number (expected digits with an optional sign, '.' fraction and \
             exponent; currency symbols and spaces are not accepted)"
                .to_string()
        };
        return Err(format!("{shown} {reason}"));
    }
    let value: f64 = text.parse().map_err(|_| format!("{shown} is not a number"))?;
    check_amount(value, max_abs).map_err(|reason| format!("{shown} {reason}"))
}

/// Checks a numeric amount from a typed source (Parquet, or an expression's result).
pub fn check_amount(value: f64, max_abs: f64) -> Result<f64, String> {
    if !value.is_finite() {
        return Err("is not a finite number".to_string());
    }
    if value.abs() > max_abs {
        return Err(format!(
            "exceeds the largest accepted amount magnitude {max_abs} (input.max_abs_amount)"
        ));
    }
    Ok(value)
}

/// Parses an optional numeric column (quantity, inferred numeric columns): plain decimal, finite.
pub fn parse_number(text: &str) -> Result<f64, String> {
    if !is_plain_decimal(text) {
        return Err(format!(
            "{} is not a plain decimal number",
            crate::error::truncate_value(text)
        ));
    }
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(format!("{} is not a finite number", crate::error::truncate_value(text))),
    }
}

/// The longest accepted customer id, in bytes. Longer values are a broken export (a whole line in
/// one field), and CRM imports truncate them, merging customers.
pub const MAX_ID_BYTES: usize = 256;

/// How exports spell "no id": compared after trimming, ignoring ASCII case.
const MISSING_ID_SPELLINGS: [&str; 8] = ["null", "none", "nil", "nan", "na", "n/a", "#n/a", "undefined"];

/// True when an id is missing: null, empty, only whitespace, or a spelling of "missing" such as
/// `NULL`, `None`, `NaN` or `N/A`.
pub fn is_missing_id(id: Option<&str>) -> bool {
    id.is_none_or(|id| {
        let id = id.trim();
        id.is_empty() || MISSING_ID_SPELLINGS.iter().any(|m| id.eq_ignore_ascii_case(m))
    })
}

/// Checks a customer id: `Ok(None)` when it is missing ([`is_missing_id`]), `Ok(Some(id))`, unchanged,
/// when it is usable, and an error for an id no downstream system should receive: one with control
/// characters (tabs and newlines break CSV exports and CRM imports), one longer than
/// [`MAX_ID_BYTES`]. An id a spreadsheet would run as a formula (`=HYPERLINK(..)`) is a valid id: it
/// is kept exactly, and the CSV writers escape it. Ids are never trimmed, case-folded or normalized:
/// `007`, `7` and `7 ` are three customers.
pub fn check_id(id: &str) -> Result<Option<&str>, String> {
    if is_missing_id(Some(id)) {
        return Ok(None);
    }
    if let Some((at, c)) = id.char_indices().find(|(_, c)| c.is_control()) {
        return Err(format!(
            "customer id {} contains the control character U+{:04X} at byte {at}; \
             ids with control characters break CSV exports and CRM imports",
            crate::error::truncate_value(id),
            c as u32
        ));
    }
    if id.len() > MAX_ID_BYTES {
        return Err(format!(
            "customer id {} is longer than {MAX_ID_BYTES} bytes; is a delimiter or quote missing?",
            crate::error::truncate_value(id)
        ));
    }
    Ok(Some(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc() -> TimestampParser {
        TimestampParser::default()
    }

    fn micros(y: i32, m: u32, d: u32, hh: u32, mm: u32, ss: u32) -> i64 {
        NaiveDate::from_ymd_opt(y, m, d)
            .and_then(|d| d.and_hms_opt(hh, mm, ss))
            .map(|t| t.and_utc().timestamp_micros())
            .expect("valid test date")
    }

    #[test]
    fn dates_are_midnight_utc() {
        assert_eq!(utc().parse_micros("2024-03-01"), Ok(micros(2024, 3, 1, 0, 0, 0)));
    }

    #[test]
    fn naive_timestamps_are_utc_by_default() {
        assert_eq!(
            utc().parse_micros("2024-03-01 14:30:00"),
            Ok(micros(2024, 3, 1, 14, 30, 0))
        );
        assert_eq!(
            utc().parse_micros("2024-03-01T14:30"),
            Ok(micros(2024, 3, 1, 14, 30, 0))
        );
        assert_eq!(
            utc().parse_micros("2024-03-01 14:30:00.25"),
            Ok(micros(2024, 3, 1, 14, 30, 0) + 250_000)
        );
    }

    #[test]
    fn offsets_are_converted_to_utc() {
        assert_eq!(
            utc().parse_micros("2024-03-01T14:30:00+02:00"),
            Ok(micros(2024, 3, 1, 12, 30, 0))
        );
        assert_eq!(
            utc().parse_micros("2024-03-01 14:30:00-0500"),
            Ok(micros(2024, 3, 1, 19, 30, 0))
        );
        assert_eq!(
            utc().parse_micros("2024-03-01T14:30:00Z"),
            Ok(micros(2024, 3, 1, 14, 30, 0))
        );
    }

    #[test]
    fn naive_timestamps_use_the_configured_zone() {
        let london = TimestampParser {
            timezone: Some(chrono_tz::Europe::London),
            format: None,
        };
        // British Summer Time: 14:30 local is 13:30 UTC.
        assert_eq!(
            london.parse_micros("2024-07-01 14:30:00"),
            Ok(micros(2024, 7, 1, 13, 30, 0))
        );
        // An explicit offset wins over the zone.
        assert_eq!(
            london.parse_micros("2024-07-01T14:30:00Z"),
            Ok(micros(2024, 7, 1, 14, 30, 0))
        );
        // 01:30 on the spring-forward night does not exist in London.
        assert!(london.parse_micros("2024-03-31 01:30:00").is_err());
    }

    #[test]
    fn multi_byte_characters_in_a_date_are_an_error_not_a_panic() {
        for bad in [
            "20\u{15e}4-01-04",
            "2024-01-0\u{e9}",
            "\u{1F600}\u{1F600}\u{1F600}-01-01",
        ] {
            assert!(utc().parse_micros(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn impossible_calendar_dates_are_rejected() {
        assert!(utc().parse_micros("2024-02-30").is_err());
        assert!(utc().parse_micros("2023-13-01 00:00:00").is_err());
        assert!(utc().parse_micros("01/03/2024").is_err());
        assert!(utc().parse_micros("").is_err());
    }

    #[test]
    fn explicit_formats_read_compact_dates() {
        let cdnow = TimestampParser {
            timezone: None,
            format: Some("%Y%m%d".into()),
        };
        assert_eq!(cdnow.parse_micros("19970101"), Ok(micros(1997, 1, 1, 0, 0, 0)));
        assert!(cdnow.parse_micros("1997-01-01").is_err());
    }

    #[test]
    fn epoch_numbers_need_an_explicit_unit() {
        let iso_err = utc().parse_micros("1704067200").expect_err("no unit");
        assert!(iso_err.contains("unix_s"), "{iso_err}");
        let with = |format: &str| TimestampParser {
            timezone: None,
            format: Some(format.into()),
        };
        let new_year = micros(2024, 1, 1, 0, 0, 0);
        assert_eq!(with("unix_s").parse_micros("1704067200"), Ok(new_year));
        assert_eq!(with("unix_ms").parse_micros("1704067200000"), Ok(new_year));
        assert_eq!(with("unix_us").parse_micros("1704067200000000"), Ok(new_year));
        assert_eq!(with("unix_s").parse_micros("-86400"), Ok(micros(1969, 12, 31, 0, 0, 0)));
        for bad in ["", "1.5", "1e9", " 1", "99999999999999999999", "2024-01-01"] {
            assert!(with("unix_s").parse_micros(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn amounts_must_be_plain_finite_decimals() {
        assert_eq!(parse_amount("12.50", 1e8), Ok(12.5));
        assert_eq!(parse_amount("-3", 1e8), Ok(-3.0));
        assert_eq!(parse_amount("1e3", 1e8), Ok(1000.0));
        assert_eq!(parse_amount(".5", 1e8), Ok(0.5));
        for bad in [
            "NaN",
            "inf",
            "-Infinity",
            "$12.00",
            "1,200.00",
            "12,5",
            " 12",
            "",
            "1e309",
            "1e9",
            ".",
        ] {
            assert!(parse_amount(bad, 1e8).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn a_decimal_comma_points_to_the_setting_and_grouping_is_told_apart() {
        for comma in ["12,50", "12,5", "-0,99"] {
            let message = parse_amount(comma, 1e8).expect_err(comma);
            assert!(
                message.contains("looks like a decimal comma; set input.decimal = \",\""),
                "{message}"
            );
        }
        for grouped in ["1,200.00", "1,200", "1,200,300"] {
            let message = parse_amount(grouped, 1e8).expect_err(grouped);
            assert!(
                message.contains("thousands separators are not accepted"),
                "{grouped}: {message}"
            );
        }
    }

    #[test]
    fn leading_zeros_mark_codes_not_numbers() {
        assert!(has_leading_zero("007"));
        assert!(has_leading_zero("-01.5"));
        assert!(!has_leading_zero("0.5"));
        assert!(!has_leading_zero("0"));
        assert!(!has_leading_zero("70"));
    }

    #[test]
    fn missing_ids_in_every_spelling_are_missing() {
        for missing in [
            "",
            "   ",
            "\t",
            "NULL",
            "null",
            "None",
            "NaN",
            "N/A",
            "#N/A",
            " na ",
            "undefined",
        ] {
            assert_eq!(check_id(missing), Ok(None), "{missing:?}");
            assert!(is_missing_id(Some(missing)));
        }
        assert!(is_missing_id(None));
    }

    #[test]
    fn usable_ids_are_kept_exactly() {
        for id in [
            "007",
            "7",
            "7 ",
            " 7",
            "b",
            "B",
            "NULLA",
            "nan1",
            "-1",
            "ＡＢＣ",
            "é",
            "=1+1",
            "@x",
        ] {
            assert_eq!(check_id(id), Ok(Some(id)), "{id:?}");
        }
    }

    #[test]
    fn control_characters_and_overlong_ids_are_rejected() {
        for bad in ["a\tb", "line\nbreak", "bell\u{7}", "del\u{7f}", "c1\u{85}"] {
            assert!(check_id(bad).is_err(), "{bad:?} accepted");
        }
        assert!(check_id(&"x".repeat(MAX_ID_BYTES)).is_ok());
        let err = check_id(&"x".repeat(MAX_ID_BYTES + 1)).expect_err("overlong");
        assert!(err.contains("longer than 256 bytes"), "{err}");
        assert!(check_id("a\tb").expect_err("tab").contains("U+0009"));
    }

    #[test]
    fn integers_with_leading_zeros_stay_text() {
        assert!(is_plain_integer("7"));
        assert!(is_plain_integer("-12"));
        assert!(is_plain_integer("0"));
        assert!(!is_plain_integer("007"));
        assert!(!is_plain_integer("1.0"));
        assert!(!is_plain_integer(""));
    }
}
