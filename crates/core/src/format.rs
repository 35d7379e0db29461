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

/// Writes `v` with `decimals` decimals, the same text as `write!(out, "{:.*}", decimals, v)`.
///
/// The standard library finds the digits of a fixed precision exactly (Grisu, then Dragon4 with
/// big integers when Grisu cannot decide), which was a quarter of the at-risk list's formatting
/// at a million rows. Here a value that is not negative and below 2^32 after scaling is scaled by
/// `10^decimals` in one multiplication (an error of at most half a unit in the last place, under
/// 2^-21) and rounded to an integer: that is the exact answer unless the scaled value lies within
/// 2^-16 of a half, where the error could decide the rounding; those values, negative values and
/// the rest go to the standard library. The tests hold the two to the same text.
pub fn write_fixed(out: &mut impl std::fmt::Write, v: f64, decimals: usize) -> std::fmt::Result {
    const POWERS: [f64; 10] = [1.0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9];
    const HALF_BAND: f64 = 1.0 / 65_536.0;
    if let Some(&power) = POWERS.get(decimals) {
        let scaled = v * power;
        let fraction = scaled - scaled.floor();
        if v.is_sign_positive() && scaled < 4_294_967_296.0 && (fraction - 0.5).abs() > HALF_BAND {
            // Below 2^32 and not NaN (NaN fails the comparison), so the cast is exact.
            let n = scaled.round() as u64;
            let unit = power as u64;
            return if decimals == 0 {
                write!(out, "{n}")
            } else {
                write!(out, "{}.{:0width$}", n / unit, n % unit, width = decimals)
            };
        }
    }
    write!(out, "{:.*}", decimals, v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixed(v: f64, decimals: usize) -> String {
        let mut out = String::new();
        write_fixed(&mut out, v, decimals).expect("a String takes any text");
        out
    }

    #[test]
    fn fixed_decimals_equal_the_standard_library_on_ties_and_edges() {
        let mut values = vec![
            0.0,
            -0.0,
            1.0,
            0.5,
            0.125,
            2.5,
            0.0000005,
            0.9999995,
            0.999_999_5,
            1e-300,
            42_949_672.95,
            42_949_672.96,
            4_294_967_295.5,
            1e20,
            -1.234,
            -0.001,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MIN_POSITIVE,
        ];
        // Every exact tie k / 2 / 10^d near the ranges the outputs use.
        for k in 0..20_000u32 {
            values.push(f64::from(k) / 2e6);
            values.push(f64::from(k) / 200.0);
            values.push(f64::from(k) * 0.005 + 1_000.0);
        }
        for v in values {
            for decimals in 0..12 {
                assert_eq!(
                    fixed(v, decimals),
                    format!("{v:.decimals$}"),
                    "{v:e} with {decimals} decimals"
                );
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(20_000))]

        /// Any finite value, by its bits; probabilities; money.
        #[test]
        fn fixed_decimals_equal_the_standard_library(
            bits in proptest::prelude::any::<u64>(),
            p in 0.0f64..=1.0,
            money in 0.0f64..1e8,
            decimals in 0usize..10,
        ) {
            for v in [f64::from_bits(bits), p, money] {
                proptest::prop_assert_eq!(fixed(v, decimals), format!("{v:.decimals$}"));
            }
        }
    }

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
