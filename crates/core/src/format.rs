//! Numbers for people: thousands separators, fixed decimals, percentages. Shared by messages,
//! summaries and the report, so a count reads the same everywhere.

/// `v` with `decimals` decimals and a comma every three digits: `1234567.891` -> `1,234,567.89`.
pub fn number(v: f64, decimals: usize) -> String {
    if !v.is_finite() {
        return "-".to_string();
    }
    let text = format!("{:.*}", decimals, v.abs());
    let (whole, fraction) = match text.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (text.as_str(), None),
    };
    let mut out = String::with_capacity(text.len() + whole.len() / 3 + 1);
    // "-0" and "-0.00" are noise: a value that rounds to zero has no sign.
    if v < 0.0 && text.chars().any(|c| c.is_ascii_digit() && c != '0') {
        out.push('-');
    }
    out.push_str(&grouped(whole));
    if let Some(fraction) = fraction {
        out.push('.');
        out.push_str(fraction);
    }
    out
}

/// Digits with a comma every three from the right.
fn grouped(digits: &str) -> String {
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A count: `12345` -> `12,345`.
pub fn count(n: u64) -> String {
    grouped(&n.to_string())
}

/// Money in the data's currency, two decimals: `1234.5` -> `1,234.50`.
pub fn money(v: f64) -> String {
    number(v, 2)
}

/// A share as a percentage with one decimal: `0.1234` -> `12.3%`.
pub fn percent(v: f64) -> String {
    if v.is_finite() {
        format!("{:.1}%", 100.0 * v)
    } else {
        "-".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped_and_rounded() {
        assert_eq!(number(1234567.891, 2), "1,234,567.89");
        assert_eq!(number(-1234.5, 0), "-1,234");
        assert_eq!(number(999.999, 2), "1,000.00");
        assert_eq!(number(-0.001, 2), "0.00");
        assert_eq!(number(f64::NAN, 2), "-");
        assert_eq!(count(1_000_000), "1,000,000");
        assert_eq!(count(u64::MAX), "18,446,744,073,709,551,615");
        assert_eq!(money(0.5), "0.50");
        assert_eq!(percent(0.1234), "12.3%");
    }
}
