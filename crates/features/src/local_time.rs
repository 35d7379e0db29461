//! `churn_local_micros(wall_us, zone)`: a naive timestamp (wall-clock microseconds, as Parquet and
//! Arrow store a timestamp without a zone) read in `input.timezone`, as UTC microseconds.
//!
//! The rule is the text reader's ([`crate::TimestampParser`]): a repeated hour takes its first
//! occurrence; a time inside a daylight-saving gap does not exist and becomes NULL, which the
//! validation pass then reports at its row as a gap. A DataFusion function rather than arrow's cast
//! to a zoned type, because that cast turns both the gap and the repeated hour into errors or
//! nulls and so cannot give the first occurrence.

use std::sync::Arc;

use arrow::array::{AsArray, Int64Array};
use arrow::datatypes::{DataType, Int64Type};
use chrono::{DateTime, LocalResult, TimeZone};
use chrono_tz::Tz;
use datafusion::common::{exec_err, Result, ScalarValue};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility};

/// The function's name in SQL.
pub(crate) const NAME: &str = "churn_local_micros";

/// See the module docs.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct LocalMicros {
    signature: Signature,
}

impl LocalMicros {
    pub(crate) fn new() -> Self {
        Self {
            signature: Signature::exact(vec![DataType::Int64, DataType::Utf8], Volatility::Immutable),
        }
    }
}

/// The UTC instant of the wall-clock time `wall_us` in `zone`, by the text reader's rule.
pub(crate) fn local_to_utc(wall_us: i64, zone: Tz) -> Option<i64> {
    let naive = DateTime::from_timestamp_micros(wall_us)?.naive_utc();
    match zone.from_local_datetime(&naive) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => Some(t.timestamp_micros()),
        LocalResult::None => None,
    }
}

impl ScalarUDFImpl for LocalMicros {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let zone = match args.args.get(1) {
            Some(ColumnarValue::Scalar(ScalarValue::Utf8(Some(name)))) => match name.parse::<Tz>() {
                Ok(zone) => zone,
                Err(_) => return exec_err!("{NAME}: {name:?} is not an IANA time zone"),
            },
            _ => return exec_err!("{NAME} takes the zone as a text literal"),
        };
        let Some(wall) = args.args.first() else {
            return exec_err!("{NAME} takes a wall-clock time in microseconds");
        };
        let wall = wall.to_array(args.number_rows)?;
        let wall = wall.as_primitive::<Int64Type>();
        let utc: Int64Array = wall.iter().map(|w| w.and_then(|w| local_to_utc(w, zone))).collect();
        Ok(ColumnarValue::Array(Arc::new(utc)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR_US: i64 = 3_600_000_000;

    fn wall(text: &str) -> i64 {
        chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M")
            .expect("wall time")
            .and_utc()
            .timestamp_micros()
    }

    /// London, 2024: clocks go forward at 01:00 on 31 March and back at 02:00 on 27 October.
    #[test]
    fn wall_times_become_instants_as_the_text_reader_reads_them() {
        let london: Tz = "Europe/London".parse().expect("zone");
        assert_eq!(
            local_to_utc(wall("2024-01-15 12:00"), london),
            Some(wall("2024-01-15 12:00"))
        );
        assert_eq!(
            local_to_utc(wall("2024-07-15 12:00"), london),
            Some(wall("2024-07-15 12:00") - HOUR_US)
        );
        // 01:30 on the spring-forward night does not exist.
        assert_eq!(local_to_utc(wall("2024-03-31 01:30"), london), None);
        // 01:30 on the fall-back night happens twice: the first (still summer time, UTC+1).
        assert_eq!(
            local_to_utc(wall("2024-10-27 01:30"), london),
            Some(wall("2024-10-27 00:30"))
        );
        for text in ["2024-01-15 12:00", "2024-07-15 12:00", "2024-10-27 01:30"] {
            let parser = crate::TimestampParser {
                timezone: Some(london),
                format: None,
            };
            let iso = text.replace(' ', "T");
            assert_eq!(
                local_to_utc(wall(text), london),
                parser.parse_micros(&iso).ok(),
                "{text}"
            );
        }
    }
}
