//! Small statistics every crate needs once.

/// The median of `values` (the mean of the two middle values for an even count), `None` when empty.
/// A selection, not a sort: linear time, so a million values take milliseconds. Reorders `values`.
pub fn median(values: &mut [f64]) -> Option<f64> {
    let (len, mid) = (values.len(), values.len() / 2);
    if len == 0 {
        return None;
    }
    let (below, upper, _) = values.select_nth_unstable_by(mid, f64::total_cmp);
    let upper = *upper;
    Some(if len % 2 == 1 {
        upper
    } else {
        // The lower middle value is the largest of the values below the upper one.
        let lower = below.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (lower + upper) / 2.0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_by_selection_match_the_sorted_definition() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&mut [5.0, 5.0]), Some(5.0));
        assert_eq!(median(&mut []), None);
    }
}
