//! Reasons a person believes: why a customer is at risk, in words a retention manager acts on.
//!
//! The model says which inputs push a customer's risk up (positive contributions, largest first);
//! the words must say it too. A reason is written only when the customer's value reads as a risk:
//! against their own habit where they have one ("buys every 9 days as a rule; 40 days since the last
//! purchase", "spent 120.00 in the last 90 days against 480.00 in the 90 before"), else against the
//! typical (median) customer of their segment ("spent only 12.00 in the last 365 days (typical for
//! High-value loyal: 410.00)"). An input whose contribution is positive but whose value reads as
//! good news (a large average order, a recent purchase) gives no reason. At most three reasons, no
//! two on the same topic (recency and the overdue ratio both speak of the customer's rhythm).

use std::collections::HashMap;
use std::fmt::Write as _;

use churn_core::format::write_fixed;
use churn_core::{FeatureFrame, Numbers};

/// What a reason is about: two inputs on one topic give one reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Topic {
    Rhythm,
    Gaps,
    Orders,
    RecentOrders,
    RecentSpend,
    Spend,
    AverageOrder,
    Tenure,
    Returns,
    StillActive,
    ExpectedPurchases,
    /// Any other input, by its position among the model's inputs.
    Other(usize),
}

/// A column the reasons read: its values and their typical values, per segment and over everyone.
struct Slot<'a> {
    values: Option<Numbers<'a>>,
    by_group: Vec<Option<f64>>,
    all: Option<f64>,
}

/// The columns the reasons read besides the model's inputs: the customer's own habit. Their slots
/// come first, in this order.
const HABIT: [&str; 6] = [
    "recency_days",
    "typical_gap_days",
    "orders_90d",
    "orders_prev_90d",
    "spend_90d",
    "spend_prev_90d",
];
const RECENCY: usize = 0;
const GAP: usize = 1;
const ORDERS_90D: usize = 2;
const ORDERS_PREV_90D: usize = 3;
const SPEND_90D: usize = 4;
const SPEND_PREV_90D: usize = 5;

/// Writes the reasons of [`crate::Explainer::reasons`] (see the [module docs](self)).
pub(crate) struct Reasons<'a> {
    /// Each row's segment (an index into the names), when segments are known.
    groups: Option<(Vec<usize>, Vec<String>)>,
    /// The habit columns, then one per distinct model input column.
    slots: Vec<Slot<'a>>,
    /// Each model input's slot. Resolved once: looking columns up by name for every customer was
    /// most of the cost of writing a million customers' reasons.
    inputs: Vec<usize>,
}

/// How a typical value is named: `typical for <segment>`, or `typical` without segments. Written
/// only into the reasons that are kept (formatting it for every comparison cost more than the rest).
#[derive(Debug, Clone, Copy)]
struct Typical<'a>(Option<&'a str>);

impl std::fmt::Display for Typical<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(segment) => write!(f, "typical for {segment}"),
            None => f.write_str("typical"),
        }
    }
}

/// The median of the present values.
fn median(values: impl Iterator<Item = f64>) -> Option<f64> {
    churn_core::median(&mut values.collect::<Vec<f64>>())
}

impl<'a> Reasons<'a> {
    /// Prepares the typical values of the model's input `columns` (in input order) and of the habit
    /// columns, per segment when each row's segment is given.
    pub(crate) fn new(frame: &'a FeatureFrame, columns: &[&str], segments: Option<&[&str]>) -> Self {
        let groups = segments.map(|names| {
            let mut index: HashMap<&str, usize> = HashMap::new();
            let mut group_names: Vec<String> = Vec::new();
            let rows = names
                .iter()
                .map(|&name| {
                    *index.entry(name).or_insert_with(|| {
                        group_names.push(name.to_string());
                        group_names.len() - 1
                    })
                })
                .collect::<Vec<usize>>();
            (rows, group_names)
        });
        let mut names: Vec<&str> = HABIT.to_vec();
        let inputs = columns
            .iter()
            .map(|&c| {
                names.iter().position(|&n| n == c).unwrap_or_else(|| {
                    names.push(c);
                    names.len() - 1
                })
            })
            .collect();
        // Each slot's medians sort a million values: the slots are shared out over the cores.
        let slot = |name: &str| {
            let values = frame.numeric(name);
            let by_group = match (&groups, values) {
                (Some((rows, group_names)), Some(values)) => {
                    let mut members: Vec<Vec<f64>> = vec![Vec::new(); group_names.len()];
                    for (value, &g) in values.iter().zip(rows) {
                        if let Some(v) = value {
                            members[g].push(v);
                        }
                    }
                    members.into_iter().map(|m| median(m.into_iter())).collect()
                }
                _ => Vec::new(),
            };
            let all = values.and_then(|v| median(v.iter().flatten()));
            Slot { values, by_group, all }
        };
        let threads = std::thread::available_parallelism().map_or(1, |t| t.get()).max(1);
        let chunk = names.len().div_ceil(threads).max(1);
        let slots = std::thread::scope(|scope| {
            let handles: Vec<_> = names
                .chunks(chunk)
                .map(|part| scope.spawn(|| part.iter().map(|&name| slot(name)).collect::<Vec<Slot<'a>>>()))
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
                .collect()
        });
        Reasons { groups, slots, inputs }
    }

    /// The median of model input `input`'s present values over everyone (computed once here for
    /// the reasons, and reported with each [`crate::Contribution`]).
    pub(crate) fn population_median(&self, input: usize) -> Option<f64> {
        self.slots[self.inputs[input]].all
    }

    fn value(&self, slot: usize, row: usize) -> Option<f64> {
        self.slots[slot].values.and_then(|v| v.get(row))
    }

    /// The typical value of a slot's column for the customer on `row`, and how to name it.
    fn typical(&self, slot: usize, row: usize) -> Option<(f64, Typical<'_>)> {
        let t = &self.slots[slot];
        match &self.groups {
            Some((rows, names)) => {
                let g = rows[row];
                t.by_group
                    .get(g)
                    .copied()
                    .flatten()
                    .map(|m| (m, Typical(Some(&names[g]))))
            }
            None => t.all.map(|m| (m, Typical(None))),
        }
    }

    /// What input `input` (column `column`) would give a reason about: two inputs on one topic give
    /// one reason, so a topic already written is not formatted again.
    fn topic(input: usize, column: &str) -> Topic {
        match column {
            "recency_days" | "overdue_ratio" => Topic::Rhythm,
            "avg_days_between_orders" | "typical_gap_days" => Topic::Gaps,
            "frequency" => Topic::Orders,
            "orders_90d" | "orders_prev_90d" => Topic::RecentOrders,
            "spend_30d" | "spend_90d" | "spend_prev_90d" => Topic::RecentSpend,
            "spend_365d" | "monetary_total" => Topic::Spend,
            "monetary_avg_order" => Topic::AverageOrder,
            "tenure_days" => Topic::Tenure,
            "return_ratio" => Topic::Returns,
            "p_alive" => Topic::StillActive,
            c if c.starts_with("expected_purchases_") => Topic::ExpectedPurchases,
            _ => Topic::Other(input),
        }
    }

    /// Appends the reason an input gives for the customer on `row` to `out` and says so, when its
    /// value reads as a risk; else leaves `out` as it was. Written in place (`Days`, `Money` and the
    /// rest are formatted into `out`): a million customers' reasons were seven strings each.
    fn reason(&self, input: usize, column: &str, row: usize, out: &mut String) -> Option<()> {
        let own = self.inputs[input];
        let v = self.value(own, row);
        // Writing to a `String` cannot fail.
        let mut put = |text: std::fmt::Arguments<'_>| {
            let _ = out.write_fmt(text);
            Some(())
        };
        // The customer's value against their segment's typical one, when it is worse as written:
        // values are compared as they print (`shown`), so "0% (typical: 0%)" is never a reason.
        let against_typical = |worse: fn(f64, f64) -> bool, shown: fn(f64) -> f64| -> Option<(f64, f64, Typical<'_>)> {
            let value = v?;
            let (typical, name) = self.typical(own, row)?;
            worse(shown(value), shown(typical)).then_some((value, typical, name))
        };
        let lower = |v: f64, t: f64| v < t;
        let higher = |v: f64, t: f64| v > t;
        let (in_days, in_cents, in_points) = (
            |v: f64| v.round(),
            |v: f64| (v * 100.0).round(),
            |v: f64| (v * 100.0).round(),
        );
        match column {
            "recency_days" | "overdue_ratio" => {
                let recency = self.value(RECENCY, row)?;
                if let Some(gap) = self.value(GAP, row).filter(|&g| g > 0.0) {
                    if recency.round() > gap.round() {
                        return put(format_args!(
                            "buys every {} as a rule; {} since the last purchase",
                            Days(gap),
                            Days(recency)
                        ));
                    }
                }
                let (typical, name) = self.typical(RECENCY, row)?;
                if recency.round() > typical.round() {
                    return put(format_args!(
                        "no purchase for {} ({name}: {})",
                        Days(recency),
                        Days(typical)
                    ));
                }
                None
            }
            "avg_days_between_orders" | "typical_gap_days" => match v {
                None => put(format_args!("only one purchase day so far")),
                Some(_) => {
                    let (gap, typical, name) = against_typical(higher, in_days)?;
                    put(format_args!(
                        "{} between purchases ({name}: {})",
                        Days(gap),
                        Days(typical)
                    ))
                }
            },
            "frequency" => {
                let (n, typical, name) = against_typical(lower, in_days)?;
                put(format_args!("only {} in total ({name}: {})", Orders(n), Whole(typical)))
            }
            "orders_90d" | "orders_prev_90d" => {
                let recent = self.value(ORDERS_90D, row)?;
                match self.value(ORDERS_PREV_90D, row) {
                    Some(before) if recent < before => put(format_args!(
                        "{} in the last 90 days against {} in the 90 before",
                        Orders(recent),
                        Whole(before)
                    )),
                    _ => {
                        let (typical, name) = self.typical(ORDERS_90D, row)?;
                        if recent.round() < typical.round() {
                            return put(format_args!(
                                "{} in the last 90 days ({name}: {})",
                                FewOrders(recent),
                                Whole(typical)
                            ));
                        }
                        None
                    }
                }
            }
            "spend_30d" | "spend_90d" | "spend_prev_90d" => {
                let (recent, before) = (self.value(SPEND_90D, row), self.value(SPEND_PREV_90D, row));
                if let (Some(recent), Some(before)) = (recent, before) {
                    if in_cents(recent) < in_cents(before) {
                        return put(format_args!(
                            "spent {} in the last 90 days against {} in the 90 before",
                            Money(recent),
                            Money(before)
                        ));
                    }
                }
                let (window, slot) = if column == "spend_30d" {
                    (30, own)
                } else {
                    (90, SPEND_90D)
                };
                let value = self.value(slot, row)?;
                let (typical, name) = self.typical(slot, row)?;
                if in_cents(value) < in_cents(typical) {
                    return put(format_args!(
                        "spent only {} in the last {window} days ({name}: {})",
                        Money(value),
                        Money(typical)
                    ));
                }
                None
            }
            "spend_365d" | "monetary_total" => {
                let (value, typical, name) = against_typical(lower, in_cents)?;
                let when = if column == "spend_365d" {
                    "in the last 365 days"
                } else {
                    "in total"
                };
                put(format_args!(
                    "spent only {} {when} ({name}: {})",
                    Money(value),
                    Money(typical)
                ))
            }
            "monetary_avg_order" => {
                let (value, typical, name) = against_typical(lower, in_cents)?;
                put(format_args!(
                    "an average order of only {} ({name}: {})",
                    Money(value),
                    Money(typical)
                ))
            }
            "tenure_days" => {
                let (value, typical, name) = against_typical(lower, in_days)?;
                put(format_args!(
                    "a customer for only {} ({name}: {})",
                    Days(value),
                    Days(typical)
                ))
            }
            "return_ratio" => {
                let (value, typical, name) = against_typical(higher, in_points)?;
                put(format_args!(
                    "returned {} of purchases ({name}: {})",
                    Percent(value),
                    Percent(typical)
                ))
            }
            "p_alive" => {
                let (value, typical, name) = against_typical(lower, in_points)?;
                put(format_args!(
                    "{} likely still a customer ({name}: {})",
                    Percent(value),
                    Percent(typical)
                ))
            }
            c if c.starts_with("expected_purchases_") => {
                let (value, typical, name) = against_typical(lower, |v| (v * 10.0).round())?;
                let horizon = c.trim_start_matches("expected_purchases_").trim_end_matches('d');
                put(format_args!(
                    "only {value:.1} purchases expected in the next {horizon} days ({name}: {typical:.1})"
                ))
            }
            // A column whose good and bad direction is unknown (a custom feature): the model's
            // direction, with the typical value beside it.
            other => {
                let (value, (typical, name)) = (v?, self.typical(own, row)?);
                if in_cents(value) != in_cents(typical) {
                    return put(format_args!("{other} = {value:.2} ({name}: {typical:.2})"));
                }
                None
            }
        }
    }

    /// Up to three reasons, from the inputs in the order given (largest contribution first), on
    /// different topics. `scratch` is reused between customers.
    pub(crate) fn write(
        &self,
        inputs: impl Iterator<Item = (usize, &'a str)>,
        row: usize,
        scratch: &mut String,
    ) -> ReasonList {
        let mut topics: Vec<Topic> = Vec::with_capacity(ReasonList::MAX);
        let mut ends = [0u32; ReasonList::MAX];
        scratch.clear();
        for (input, column) in inputs {
            let topic = Self::topic(input, column);
            if !topics.contains(&topic) && self.reason(input, column, row, scratch).is_some() {
                ends[topics.len()] = u32::try_from(scratch.len()).unwrap_or(u32::MAX);
                topics.push(topic);
                if topics.len() == ReasonList::MAX {
                    break;
                }
            }
        }
        ReasonList {
            text: scratch.as_str().into(),
            ends,
            len: topics.len() as u8,
        }
    }
}

/// A customer's reasons (at most three, largest first), kept as one piece of text and where each
/// ends: a million customers' scores are held at once, and three strings in a vector were four
/// allocations each.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReasonList {
    text: Box<str>,
    ends: [u32; ReasonList::MAX],
    len: u8,
}

impl ReasonList {
    /// The most reasons a customer gets.
    pub const MAX: usize = 3;

    /// The number of reasons.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Whether there is no reason.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The `i`-th reason (0 is the strongest).
    pub fn get(&self, i: usize) -> Option<&str> {
        (i < self.len()).then(|| {
            let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
            &self.text[start..self.ends[i] as usize]
        })
    }

    /// The reasons, strongest first.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        (0..self.len()).map(|i| self.get(i).unwrap_or_default())
    }
}

/// The first [`ReasonList::MAX`] of the given reasons (for tests and callers that have them as
/// text; scoring writes them in place).
impl<S: AsRef<str>> FromIterator<S> for ReasonList {
    fn from_iter<I: IntoIterator<Item = S>>(reasons: I) -> Self {
        let mut text = String::new();
        let mut ends = [0u32; ReasonList::MAX];
        let mut len = 0;
        for reason in reasons.into_iter().take(ReasonList::MAX) {
            text.push_str(reason.as_ref());
            ends[len] = u32::try_from(text.len()).unwrap_or(u32::MAX);
            len += 1;
        }
        ReasonList {
            text: text.into(),
            ends,
            len: len as u8,
        }
    }
}

/// Serialized as the list of reasons it is.
impl serde::Serialize for ReasonList {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

/// Days in words: `1 day`, `40 days`.
struct Days(f64);

impl std::fmt::Display for Days {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let rounded = self.0.round() + 0.0;
        if rounded == 1.0 {
            f.write_str("1 day")
        } else {
            write_fixed(f, rounded, 0)?;
            f.write_str(" days")
        }
    }
}

/// A count, rounded: `12`.
struct Whole(f64);

impl std::fmt::Display for Whole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write_fixed(f, self.0.round() + 0.0, 0)
    }
}

/// Orders in words: `1 order`, `12 orders`.
struct Orders(f64);

impl std::fmt::Display for Orders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.round() == 1.0 {
            f.write_str("1 order")
        } else {
            write!(f, "{} orders", Whole(self.0))
        }
    }
}

/// Fewer orders than typical, in words: `no order`, `only 1 order`, `only 2 orders`.
struct FewOrders(f64);

impl std::fmt::Display for FewOrders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.round() == 0.0 {
            f.write_str("no order")
        } else {
            write!(f, "only {}", Orders(self.0))
        }
    }
}

/// Money with cents: `120.00`.
struct Money(f64);

impl std::fmt::Display for Money {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write_fixed(f, self.0 + 0.0, 2)
    }
}

/// A share in whole percent: `30%`.
struct Percent(f64);

impl std::fmt::Display for Percent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write_fixed(f, 100.0 * self.0 + 0.0, 0)?;
        f.write_str("%")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three customers of two segments with the habit columns and a few inputs.
    fn frame() -> FeatureFrame {
        let col = |v: [Option<f64>; 4]| v.to_vec();
        FeatureFrame::try_new(["a", "b", "c", "d"].map(String::from).to_vec())
            .and_then(|f| f.with_numeric("recency_days", col([Some(40.0), Some(5.0), Some(200.0), Some(30.0)])))
            .and_then(|f| f.with_numeric("typical_gap_days", col([Some(9.0), Some(10.0), None, Some(60.0)])))
            .and_then(|f| f.with_numeric("orders_90d", col([Some(1.0), Some(6.0), Some(0.0), Some(0.0)])))
            .and_then(|f| f.with_numeric("orders_prev_90d", col([Some(8.0), Some(5.0), Some(0.0), Some(0.0)])))
            .and_then(|f| f.with_numeric("spend_90d", col([Some(120.0), Some(300.0), Some(0.0), Some(0.0)])))
            .and_then(|f| f.with_numeric("spend_prev_90d", col([Some(480.0), Some(100.0), Some(0.0), Some(0.0)])))
            .and_then(|f| {
                f.with_numeric(
                    "monetary_avg_order",
                    col([Some(9338.38), Some(20.0), Some(15.0), Some(40.0)]),
                )
            })
            .and_then(|f| f.with_numeric("frequency", col([Some(30.0), Some(12.0), Some(1.0), Some(2.0)])))
            .and_then(|f| {
                f.with_numeric(
                    "avg_days_between_orders",
                    col([Some(9.5), Some(10.0), None, Some(60.0)]),
                )
            })
            .expect("frame")
    }

    fn reasons(frame: &FeatureFrame, inputs: &[&'static str], row: usize) -> Vec<String> {
        let segments = ["loyal", "loyal", "lost", "lost"];
        let r = Reasons::new(frame, inputs, Some(&segments));
        let list = r.write(inputs.iter().copied().enumerate(), row, &mut String::new());
        list.iter().map(String::from).collect()
    }

    #[test]
    fn reasons_compare_with_the_customers_own_habit_first() {
        let f = frame();
        let all = [
            "recency_days",
            "monetary_avg_order",
            "spend_90d",
            "orders_90d",
            "frequency",
        ];
        // a: overdue against their own 9-day rhythm, spending and ordering less than before; a
        // large average order is no reason to leave, so it is not one.
        assert_eq!(
            reasons(&f, &all, 0),
            [
                "buys every 9 days as a rule; 40 days since the last purchase",
                "spent 120.00 in the last 90 days against 480.00 in the 90 before",
                "1 order in the last 90 days against 8 in the 90 before",
            ]
        );
        // b: bought 5 days ago within a 10-day rhythm, spends and orders more than before: the
        // recency, spend and order inputs read as good news. A small average order and 12 orders
        // against the loyal segment's typical 21 remain.
        assert_eq!(
            reasons(&f, &all, 1),
            [
                "an average order of only 20.00 (typical for loyal: 4679.19)",
                "only 12 orders in total (typical for loyal: 21)"
            ]
        );
        // c: one purchase day, gone 200 days (lost's typical: 115); no rhythm, and nothing in the
        // last 90 days is below lost's typical 0: no reason from a median of zero.
        assert_eq!(
            reasons(&f, &all, 2),
            [
                "no purchase for 200 days (typical for lost: 115 days)",
                "an average order of only 15.00 (typical for lost: 27.50)",
                "only 1 order in total (typical for lost: 2)",
            ]
        );
        // d: 30 days into a 60-day rhythm is on time.
        assert!(reasons(&f, &["recency_days"], 3).is_empty());
    }

    #[test]
    fn a_reason_list_gives_back_each_reason_as_written() {
        let list: ReasonList = ["no purchase for 40 days", "", "spent 1.00", "a fourth is dropped"]
            .into_iter()
            .collect();
        assert_eq!(list.len(), ReasonList::MAX);
        assert_eq!(
            list.iter().collect::<Vec<_>>(),
            ["no purchase for 40 days", "", "spent 1.00"]
        );
        assert_eq!((list.get(2), list.get(3)), (Some("spent 1.00"), None));
        assert_eq!(
            serde_json::to_string(&list).expect("json"),
            r#"["no purchase for 40 days","","spent 1.00"]"#
        );
        let none = ReasonList::default();
        assert!(none.is_empty() && none.get(0).is_none() && none.iter().next().is_none());
        // Written in place, a customer's reasons are the same text as written one by one, and a
        // reason that is not one leaves nothing behind in the shared buffer.
        let f = frame();
        let segments = ["loyal", "loyal", "lost", "lost"];
        let inputs = ["recency_days", "monetary_avg_order", "frequency", "spend_90d"];
        let r = Reasons::new(&f, &inputs, Some(&segments));
        let mut scratch = String::from("left over from the customer before");
        for row in 0..4 {
            let together = r.write(inputs.iter().copied().enumerate(), row, &mut scratch);
            let alone: Vec<String> = inputs
                .iter()
                .enumerate()
                .filter_map(|(i, &c)| {
                    r.write([(i, c)].into_iter(), row, &mut String::new())
                        .get(0)
                        .map(String::from)
                })
                .collect();
            assert_eq!(
                together.iter().collect::<Vec<_>>(),
                alone[..together.len()],
                "row {row}"
            );
        }
    }

    #[test]
    fn two_inputs_on_one_topic_give_one_reason_and_one_day_reads_as_a_day() {
        let f = frame();
        let both = ["spend_90d", "spend_prev_90d", "orders_90d", "orders_prev_90d"];
        assert_eq!(
            reasons(&f, &both, 0),
            [
                "spent 120.00 in the last 90 days against 480.00 in the 90 before",
                "1 order in the last 90 days against 8 in the 90 before",
            ]
        );
        assert_eq!(Days(1.2).to_string(), "1 day");
        assert_eq!(Days(0.4).to_string(), "0 days");
        assert_eq!(Orders(1.0).to_string(), "1 order");
        assert_eq!(
            (FewOrders(0.0).to_string(), FewOrders(2.0).to_string()),
            ("no order".to_string(), "only 2 orders".to_string())
        );
        // Compared as printed: 0.1 % returned against a typical 0 % reads "0% (typical: 0%)", no
        // reason; 30 % does.
        let returns = FeatureFrame::try_new(["a", "b", "c"].map(String::from).to_vec())
            .and_then(|f| f.with_numeric("return_ratio", vec![Some(0.001), Some(0.0), Some(0.3)]))
            .expect("frame");
        let r = Reasons::new(&returns, &["return_ratio"], None);
        let mut scratch = String::new();
        assert!(r.write([(0, "return_ratio")].into_iter(), 0, &mut scratch).is_empty());
        let list = r.write([(0, "return_ratio")].into_iter(), 2, &mut scratch);
        assert_eq!(
            list.iter().collect::<Vec<_>>(),
            ["returned 30% of purchases (typical: 0%)"]
        );
        // The gap input of a customer with one purchase day says so.
        assert_eq!(
            reasons(&f, &["avg_days_between_orders"], 2),
            ["only one purchase day so far"]
        );
    }
}
