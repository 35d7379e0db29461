//! RFM quintile scores and the rule table that names RFM segments.
//!
//! # Scores
//! A score is `1 + floor(5 * worse / n)`, where `n` is the number of customers in the snapshot and
//! `worse` the number of customers with a strictly worse value (a larger recency; a smaller frequency
//! or monetary total). Ties share a score, so a value held by many customers (frequency 1, typically)
//! is never split across two scores by an arbitrary order, and the result does not depend on row order.
//! With distinct values the scores are exact quintiles: the best fifth scores 5, the worst fifth 1.
//!
//! # Segment names
//! An ordered list of rules, each a name and an inclusive range for each of R, F and M; the first rule
//! that matches names the customer. [`RfmRules::standard`] covers every one of the 125 score
//! combinations; [`RfmRules::try_new`] rejects a table that leaves a combination unnamed.

use crate::error::{Error, Result};

/// Which direction of a value is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    /// Smaller values are better (recency).
    Lower,
    /// Larger values are better (frequency, monetary).
    Higher,
}

/// Computes 1..=5 scores for `values` as documented in the module. Values must be finite.
pub fn quintile_scores(values: &[f64], better: Better) -> Vec<i32> {
    let n = values.len();
    // One sort of the indices, then each run of equal values gets its score at once: the count of
    // worse values is where the run starts (or how many follow it). A binary search per value over
    // the sorted values did the same with a million cache-missing searches per column.
    let mut order: Vec<u32> = (0..n as u32).collect();
    order.sort_unstable_by(|&a, &b| values[a as usize].total_cmp(&values[b as usize]));
    let mut scores = vec![0; n];
    let mut start = 0;
    while start < n {
        let v = values[order[start] as usize];
        // `==`, not `total_cmp`: -0.0 and 0.0 are one value, as `<` sees them.
        let end = start + order[start..].iter().take_while(|&&i| values[i as usize] == v).count();
        let worse = match better {
            Better::Higher => start,
            Better::Lower => n - end,
        };
        // `worse < n`, so the score is at most 5; the min only documents that.
        let score = (1 + (5 * worse) / n).min(5) as i32;
        for &i in &order[start..end] {
            scores[i as usize] = score;
        }
        start = end;
    }
    scores
}

/// One row of the rule table: a name and inclusive score ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RfmRule {
    /// The segment name, e.g. `Champions`.
    pub name: String,
    /// Inclusive range of the recency score.
    pub r: (i32, i32),
    /// Inclusive range of the frequency score.
    pub f: (i32, i32),
    /// Inclusive range of the monetary score.
    pub m: (i32, i32),
}

impl RfmRule {
    fn new(name: &str, r: (i32, i32), f: (i32, i32), m: (i32, i32)) -> Self {
        RfmRule {
            name: name.to_string(),
            r,
            f,
            m,
        }
    }

    fn matches(&self, r: i32, f: i32, m: i32) -> bool {
        let within = |(lo, hi): (i32, i32), v: i32| lo <= v && v <= hi;
        within(self.r, r) && within(self.f, f) && within(self.m, m)
    }
}

/// An ordered, complete rule table naming every (R, F, M) score combination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RfmRules {
    rules: Vec<RfmRule>,
}

impl RfmRules {
    /// The default table. First match wins:
    ///
    /// | segment | R | F | M |
    /// |---|---|---|---|
    /// | Champions | 4-5 | 4-5 | 4-5 |
    /// | Loyal | 3-5 | 4-5 | any |
    /// | Potential loyalist | 4-5 | 2-3 | any |
    /// | New | 5 | 1 | any |
    /// | Promising | 4 | 1 | any |
    /// | Needs attention | 3 | 3 | any |
    /// | About to sleep | 3 | 1-2 | any |
    /// | Can't lose them | 1-2 | 5 | any |
    /// | At risk | 1-2 | 3-4 | any |
    /// | Hibernating | 2 | 1-2 | any |
    /// | Lost | 1 | 1-2 | any |
    pub fn standard() -> Self {
        let any = (1, 5);
        RfmRules {
            rules: vec![
                RfmRule::new("Champions", (4, 5), (4, 5), (4, 5)),
                RfmRule::new("Loyal", (3, 5), (4, 5), any),
                RfmRule::new("Potential loyalist", (4, 5), (2, 3), any),
                RfmRule::new("New", (5, 5), (1, 1), any),
                RfmRule::new("Promising", (4, 4), (1, 1), any),
                RfmRule::new("Needs attention", (3, 3), (3, 3), any),
                RfmRule::new("About to sleep", (3, 3), (1, 2), any),
                RfmRule::new("Can't lose them", (1, 2), (5, 5), any),
                RfmRule::new("At risk", (1, 2), (3, 4), any),
                RfmRule::new("Hibernating", (2, 2), (1, 2), any),
                RfmRule::new("Lost", (1, 1), (1, 2), any),
            ],
        }
    }

    /// Builds a table from configured rules, checking ranges and that every combination is named.
    pub fn try_new(rules: Vec<RfmRule>) -> Result<Self> {
        for rule in &rules {
            if rule.name.trim().is_empty() {
                return Err(Error::invalid("features.rfm_segments", "a rule has an empty name"));
            }
            for (axis, (lo, hi)) in [("r", rule.r), ("f", rule.f), ("m", rule.m)] {
                if !(1..=5).contains(&lo) || !(1..=5).contains(&hi) || lo > hi {
                    return Err(Error::invalid(
                        "features.rfm_segments",
                        format!(
                            "rule {:?}: {axis} = [{lo}, {hi}] must be a range within 1..=5",
                            rule.name
                        ),
                    ));
                }
            }
        }
        let table = RfmRules { rules };
        for r in 1..=5 {
            for f in 1..=5 {
                for m in 1..=5 {
                    if table.find(r, f, m).is_none() {
                        return Err(Error::invalid(
                            "features.rfm_segments",
                            format!(
                                "no rule names customers with scores r={r}, f={f}, m={m}; add a catch-all rule last"
                            ),
                        ));
                    }
                }
            }
        }
        Ok(table)
    }

    fn find(&self, r: i32, f: i32, m: i32) -> Option<&str> {
        self.rules
            .iter()
            .find(|rule| rule.matches(r, f, m))
            .map(|rule| rule.name.as_str())
    }

    /// The segment name for scores that are each within 1..=5.
    pub fn name(&self, r: i32, f: i32, m: i32) -> &str {
        // Completeness is checked at construction, so a miss means scores outside 1..=5.
        self.find(r, f, m).unwrap_or("Unscored")
    }

    /// The rules, in match order.
    pub fn rules(&self) -> &[RfmRule] {
        &self.rules
    }
}

impl Default for RfmRules {
    fn default() -> Self {
        RfmRules::standard()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_values_split_into_exact_quintiles() {
        let values: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(
            quintile_scores(&values, Better::Higher),
            vec![1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
        );
        assert_eq!(
            quintile_scores(&values, Better::Lower),
            vec![5, 5, 4, 4, 3, 3, 2, 2, 1, 1]
        );
    }

    #[test]
    fn ties_share_a_score_whatever_their_order() {
        // Six customers with frequency 1 and four with 2, 3, 4, 5 (worse counts 0, 6, 7, 8, 9).
        let values = [1.0, 5.0, 1.0, 1.0, 2.0, 1.0, 3.0, 1.0, 4.0, 1.0];
        let scores = quintile_scores(&values, Better::Higher);
        assert_eq!(scores, vec![1, 5, 1, 1, 4, 1, 4, 1, 5, 1]);
    }

    #[test]
    fn scores_follow_the_definition_with_ties_and_signed_zeros() {
        let values = [3.0, -0.0, 0.0, 7.5, 3.0, 3.0, -2.0, 0.0, 11.0, 3.0, -0.0, 1.0];
        let n = values.len();
        for better in [Better::Higher, Better::Lower] {
            // The module's definition, counted directly.
            let expected: Vec<i32> = values
                .iter()
                .map(|&v| {
                    let worse = match better {
                        Better::Higher => values.iter().filter(|&&x| x < v).count(),
                        Better::Lower => values.iter().filter(|&&x| x > v).count(),
                    };
                    (1 + 5 * worse / n) as i32
                })
                .collect();
            assert_eq!(quintile_scores(&values, better), expected, "{better:?}");
        }
    }

    #[test]
    fn a_single_customer_scores_one() {
        assert_eq!(quintile_scores(&[42.0], Better::Lower), vec![1]);
    }

    #[test]
    fn the_standard_table_names_every_combination() {
        let table = RfmRules::try_new(RfmRules::standard().rules).expect("complete");
        assert_eq!(table.name(5, 5, 5), "Champions");
        assert_eq!(table.name(5, 5, 1), "Loyal");
        assert_eq!(table.name(5, 1, 3), "New");
        assert_eq!(table.name(4, 1, 3), "Promising");
        assert_eq!(table.name(3, 2, 5), "About to sleep");
        assert_eq!(table.name(1, 5, 5), "Can't lose them");
        assert_eq!(table.name(2, 3, 1), "At risk");
        assert_eq!(table.name(2, 1, 1), "Hibernating");
        assert_eq!(table.name(1, 1, 1), "Lost");
    }

    #[test]
    fn an_incomplete_table_is_rejected_naming_a_gap() {
        let err = RfmRules::try_new(vec![RfmRule::new("Top", (5, 5), (1, 5), (1, 5))]).expect_err("incomplete");
        assert!(err.to_string().contains("r=1, f=1, m=1"), "{err}");
    }

    #[test]
    fn ranges_outside_one_to_five_are_rejected() {
        let err = RfmRules::try_new(vec![RfmRule::new("All", (0, 5), (1, 5), (1, 5))]).expect_err("bad range");
        assert!(err.to_string().contains("within 1..=5"), "{err}");
    }
}
