//! The contact list ranked by expected gain, within a budget.
//!
//! Contacting a customer is worth `P(churn) x value x uplift - cost`: the value at risk
//! ([`ScoredCustomer::value_at_risk`]) the action is expected to save, less what the contact costs.
//! The uplift is the action's measured retention uplift in the customer's segment once a measured
//! interval lies wholly above or below zero ([`MeasuredUplift`]), else the action's prior
//! (`expected_uplift` in the action table). With a [`Budget`], the list holds the customers with the
//! highest positive expected gain, ties broken by customer id, for as long as the budget lasts.
//!
//! With a control group, the ranking walks the same customers: a control customer the walk
//! reaches goes to `holdout.csv` and spends nothing, so the treated and the held-out customers are
//! chosen alike and stay comparable.
//!
//! ```
//! use churn_score::gain::{expected_gains, within_budget, Budget, MeasuredUplift};
//! use churn_score::{ActionRule, RiskBand, ScoredCustomer};
//!
//! let customer = |id: &'static str, value_at_risk: f64| ScoredCustomer {
//!     customer_id: id,
//!     churn_probability: 0.8,
//!     risk_band: RiskBand::High,
//!     value_at_risk,
//!     segment: None,
//!     rfm_segment: None,
//!     recommended_action: "call",
//!     reasons: Default::default(),
//!     next_purchase: None,
//!     overdue_days: None,
//! };
//! let scored = [customer("a", 100.0), customer("b", 400.0), customer("c", 20.0)];
//! let actions = [ActionRule {
//!     band: None,
//!     rfm_segments: None,
//!     segments: None,
//!     action: "call".into(),
//!     cost: Some(5.0),
//!     expected_uplift: Some(0.1),
//! }];
//! // b: 400 x 0.1 - 5 = 35; a: 5; c: 2 - 5 < 0, never worth a call.
//! let gains = expected_gains(&scored, &actions, &MeasuredUplift::default());
//! let list = within_budget(&scored, &gains, Budget::Contacts(5), None);
//! let ids: Vec<&str> = list.listed.iter().map(|(s, _)| s.customer_id).collect();
//! assert_eq!(ids, ["b", "a"]);
//! assert_eq!(list.spent, 10.0);
//! ```

use std::collections::HashMap;

use crate::error::ParamError;
use crate::{ActionRule, Holdout, ScoredCustomer};

/// How many contacts the list may hold: a number of customers, or money.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Budget {
    /// At most this many customers (`run.contact_budget`).
    Contacts(usize),
    /// Contacts whose costs add up to at most this much (`run.budget`).
    Money(f64),
}

impl Budget {
    /// Checks the amount: a money budget is finite and not negative.
    pub fn check(self) -> Result<Self, ParamError> {
        match self {
            Budget::Money(m) if !(m.is_finite() && m >= 0.0) => Err(ParamError::Invalid(format!(
                "run.budget = {m}: must be a finite amount of at least 0"
            ))),
            _ => Ok(self),
        }
    }
}

/// Checks an action table for ranking by expected gain: every rule that recommends a contact
/// (any action but `no action`) has a finite `cost` of at least 0 and an `expected_uplift` in
/// `[-1, 1]`, and rules that share an action name agree on both.
pub fn check_actions_for_gain(actions: &[ActionRule]) -> Result<(), ParamError> {
    let mut seen: HashMap<&str, (f64, f64)> = HashMap::new();
    for rule in actions.iter().filter(|r| r.action != "no action") {
        let (Some(cost), Some(uplift)) = (rule.cost, rule.expected_uplift) else {
            return Err(ParamError::Invalid(format!(
                "action {:?} has no {}: ranking by expected gain within a budget needs a cost and an expected_uplift \
                 for every action in [[score.actions]], e.g. cost = 5.0 and expected_uplift = 0.05",
                rule.action,
                if rule.cost.is_none() { "cost" } else { "expected_uplift" }
            )));
        };
        if !(cost.is_finite() && cost >= 0.0) {
            return Err(ParamError::Invalid(format!(
                "action {:?}: cost = {cost} must be a finite amount of at least 0",
                rule.action
            )));
        }
        if !(-1.0..=1.0).contains(&uplift) {
            return Err(ParamError::Invalid(format!(
                "action {:?}: expected_uplift = {uplift} must be a share between -1 and 1",
                rule.action
            )));
        }
        if let Some(&(c, u)) = seen.get(rule.action.as_str()) {
            if (c, u) != (cost, uplift) {
                return Err(ParamError::Invalid(format!(
                    "action {:?} appears twice with different costs or expected uplifts ({c} and {u}, then {cost} and \
                     {uplift}): give it one of each",
                    rule.action
                )));
            }
        }
        seen.insert(&rule.action, (cost, uplift));
    }
    Ok(())
}

/// Measured retention uplifts by (action, segment): only those whose interval excludes zero.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MeasuredUplift(HashMap<(String, String), f64>);

impl MeasuredUplift {
    /// Records the measured uplift of `action` in `segment`; a later record replaces an earlier
    /// one, so measurements go in from the oldest to the newest.
    pub fn insert(&mut self, action: &str, segment: &str, uplift: f64) {
        self.0.insert((action.to_string(), segment.to_string()), uplift);
    }

    /// The measured uplift of `action` in `segment`.
    pub fn get(&self, action: &str, segment: &str) -> Option<f64> {
        self.0.get(&(action.to_string(), segment.to_string())).copied()
    }

    /// How many (action, segment) pairs have a measurement.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether nothing is measured.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A customer's expected gain and what it came from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gain {
    /// `value_at_risk x uplift - cost`.
    pub expected_gain: f64,
    /// The contact's cost.
    pub cost: f64,
    /// The uplift used.
    pub uplift: f64,
    /// Whether the uplift was measured (else it is the prior).
    pub measured: bool,
}

/// Each customer's expected gain, or `None` when they are not at risk or their action is `no
/// action` or has no cost and prior (see [`check_actions_for_gain`]).
pub fn expected_gains(
    scored: &[ScoredCustomer<'_>],
    actions: &[ActionRule],
    measured: &MeasuredUplift,
) -> Vec<Option<Gain>> {
    let priors: HashMap<&str, (f64, f64)> = actions
        .iter()
        .rev()
        .filter_map(|r| Some((r.action.as_str(), (r.cost?, r.expected_uplift?))))
        .collect();
    scored
        .iter()
        .map(|s| {
            if !s.risk_band.is_at_risk() || s.recommended_action == "no action" {
                return None;
            }
            let &(cost, prior) = priors.get(s.recommended_action)?;
            let segment = s.segment.unwrap_or_default();
            let (uplift, was_measured) = match measured.get(s.recommended_action, segment) {
                Some(u) => (u, true),
                None => (prior, false),
            };
            Some(Gain {
                expected_gain: s.value_at_risk * uplift - cost,
                cost,
                uplift,
                measured: was_measured,
            })
        })
        .collect()
}

/// The list within a budget (see the [module docs](self)).
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetedList<'a, 'b> {
    /// The customers to contact, with their gains, highest first.
    pub listed: Vec<(&'a ScoredCustomer<'b>, Gain)>,
    /// The control customers the walk reached, in the same order.
    pub held_out: Vec<(&'a ScoredCustomer<'b>, Gain)>,
    /// The listed customers' summed costs.
    pub spent: f64,
}

/// Walks the customers with a positive expected gain, highest first and then by customer id,
/// listing them until the budget is spent: a contact budget stops at its count, a money budget at
/// the first contact that would take it past its amount. Control customers of `holdout` are set
/// aside as they are reached.
pub fn within_budget<'a, 'b>(
    scored: &'a [ScoredCustomer<'b>],
    gains: &[Option<Gain>],
    budget: Budget,
    holdout: Option<&Holdout>,
) -> BudgetedList<'a, 'b> {
    let mut ranked: Vec<(&ScoredCustomer<'b>, Gain)> = scored
        .iter()
        .zip(gains)
        .filter_map(|(s, g)| g.filter(|g| g.expected_gain > 0.0).map(|g| (s, g)))
        .collect();
    ranked.sort_by(|(a, ga), (b, gb)| {
        gb.expected_gain
            .total_cmp(&ga.expected_gain)
            .then_with(|| a.customer_id.as_bytes().cmp(b.customer_id.as_bytes()))
    });
    let mut out = BudgetedList {
        listed: Vec::new(),
        held_out: Vec::new(),
        spent: 0.0,
    };
    for (s, g) in ranked {
        let fits = match budget {
            Budget::Contacts(n) => out.listed.len() < n,
            Budget::Money(m) => out.spent + g.cost <= m,
        };
        if !fits {
            break;
        }
        if holdout.is_some_and(|h| h.is_control(s.customer_id)) {
            out.held_out.push((s, g));
        } else {
            out.spent += g.cost;
            out.listed.push((s, g));
        }
    }
    out
}

impl<'a, 'b> BudgetedList<'a, 'b> {
    /// The list and the control customers as [`crate::SplitList`], their files with the
    /// `expected_gain` column ([`crate::AT_RISK_GAIN_COLUMNS`]); `holdout.csv` only with a holdout.
    pub fn into_split(self, with_holdout: bool) -> crate::Result<crate::SplitList<'a, 'b>> {
        let write = |list: &[(&ScoredCustomer<'b>, Gain)]| -> crate::Result<crate::AtRiskCsv> {
            let (customers, gains): (Vec<&ScoredCustomer<'b>>, Vec<f64>) =
                list.iter().map(|(s, g)| (*s, g.expected_gain)).unzip();
            crate::at_risk_csv(&customers, Some(&gains))
        };
        let at_risk_csv = write(&self.listed)?;
        let holdout_csv = with_holdout.then(|| write(&self.held_out)).transpose()?;
        Ok(crate::SplitList {
            listed: self.listed.iter().map(|(s, _)| *s).collect(),
            held_out: self.held_out.iter().map(|(s, _)| *s).collect(),
            at_risk_csv,
            holdout_csv,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ReasonList, RiskBand};

    fn customer<'a>(id: &'a str, value_at_risk: f64, action: &'a str, segment: &'a str) -> ScoredCustomer<'a> {
        ScoredCustomer {
            customer_id: id,
            churn_probability: 0.7,
            risk_band: RiskBand::High,
            value_at_risk,
            segment: Some(segment),
            rfm_segment: None,
            recommended_action: action,
            reasons: ReasonList::default(),
            next_purchase: None,
            overdue_days: None,
        }
    }

    fn rule(action: &str, cost: Option<f64>, uplift: Option<f64>) -> ActionRule {
        ActionRule {
            band: None,
            rfm_segments: None,
            segments: None,
            action: action.into(),
            cost,
            expected_uplift: uplift,
        }
    }

    fn ids(list: &[(&ScoredCustomer, Gain)]) -> Vec<String> {
        list.iter().map(|(s, _)| s.customer_id.to_string()).collect()
    }

    #[test]
    fn gains_use_the_measured_uplift_of_the_segment_else_the_prior() {
        let actions = [rule("call", Some(2.0), Some(0.1)), rule("mail", Some(0.5), Some(0.02))];
        let mut measured = MeasuredUplift::default();
        measured.insert("call", "loyal", 0.3);
        measured.insert("call", "loyal", 0.25); // a newer measurement replaces an older one
        let scored = [
            customer("a", 100.0, "call", "loyal"),
            customer("b", 100.0, "call", "new"),
            customer("c", 100.0, "mail", "loyal"),
            customer("d", 100.0, "no action", "loyal"),
            ScoredCustomer {
                risk_band: RiskBand::Low,
                ..customer("e", 100.0, "call", "loyal")
            },
        ];
        let gains = expected_gains(&scored, &actions, &measured);
        let g = |i: usize| gains[i].map(|g| (g.expected_gain, g.measured));
        assert_eq!(g(0), Some((100.0 * 0.25 - 2.0, true)));
        assert_eq!(g(1), Some((100.0 * 0.1 - 2.0, false)));
        assert_eq!(g(2), Some((100.0 * 0.02 - 0.5, false)));
        assert_eq!((g(3), g(4)), (None, None));
    }

    #[test]
    fn budgets_are_respected_exactly_and_ties_go_by_customer_id() {
        let actions = [rule("call", Some(3.0), Some(0.1))];
        // Gains: v x 0.1 - 3 -> z 7, y 7, x 7, w 2, v 0 (not positive), u -1.
        let scored = [
            customer("u", 20.0, "call", "s"),
            customer("w", 50.0, "call", "s"),
            customer("z", 100.0, "call", "s"),
            customer("y", 100.0, "call", "s"),
            customer("v", 30.0, "call", "s"),
            customer("x", 100.0, "call", "s"),
        ];
        let gains = expected_gains(&scored, &actions, &MeasuredUplift::default());
        let list = |budget| within_budget(&scored, &gains, budget, None);
        assert_eq!(ids(&list(Budget::Contacts(2)).listed), ["x", "y"]);
        assert_eq!(ids(&list(Budget::Contacts(10)).listed), ["x", "y", "z", "w"]);
        assert_eq!(ids(&list(Budget::Contacts(0)).listed), Vec::<String>::new());
        // Money: 3 per contact. 9 buys exactly three; 8.99 two.
        assert_eq!(ids(&list(Budget::Money(9.0)).listed), ["x", "y", "z"]);
        assert_eq!(list(Budget::Money(9.0)).spent, 9.0);
        assert_eq!(ids(&list(Budget::Money(8.99)).listed), ["x", "y"]);
        for n in 0..6 {
            let l = list(Budget::Contacts(n));
            assert!(l.listed.len() <= n);
            assert!(l
                .listed
                .windows(2)
                .all(|w| w[0].1.expected_gain >= w[1].1.expected_gain));
        }
    }

    #[test]
    fn controls_are_set_aside_where_the_walk_reaches_them_and_spend_nothing() {
        let actions = [rule("call", Some(1.0), Some(0.5))];
        let names: Vec<String> = (0..400).map(|i| format!("c{i:03}")).collect();
        let scored: Vec<ScoredCustomer> = names
            .iter()
            .enumerate()
            .map(|(i, id)| customer(id, 10.0 + i as f64, "call", "s"))
            .collect();
        let gains = expected_gains(&scored, &actions, &MeasuredUplift::default());
        let holdout = Holdout {
            share: 0.3,
            salt: "t".into(),
        };
        let list = within_budget(&scored, &gains, Budget::Contacts(100), Some(&holdout));
        assert_eq!(list.listed.len(), 100);
        assert!(list.listed.iter().all(|(s, _)| !holdout.is_control(s.customer_id)));
        assert!(list.held_out.iter().all(|(s, _)| holdout.is_control(s.customer_id)));
        // The walk reached exactly the top listed + held-out customers by gain.
        let reached = list.listed.len() + list.held_out.len();
        let mut walked = ids(&list.listed);
        walked.extend(ids(&list.held_out));
        walked.sort();
        let mut top: Vec<String> = (400 - reached..400).map(|i| format!("c{i:03}")).collect();
        top.sort();
        assert_eq!(walked, top);
        assert_eq!(list.spent, 100.0);
    }

    #[test]
    fn an_action_table_without_costs_or_priors_is_refused_by_name() {
        assert!(check_actions_for_gain(&[rule("call", Some(1.0), Some(0.1)), rule("no action", None, None)]).is_ok());
        let e = check_actions_for_gain(&[rule("call", None, Some(0.1))]).expect_err("no cost");
        assert!(e.to_string().contains("\"call\" has no cost"), "{e}");
        let e = check_actions_for_gain(&[rule("call", Some(1.0), None)]).expect_err("no prior");
        assert!(e.to_string().contains("expected_uplift"), "{e}");
        assert!(check_actions_for_gain(&[rule("call", Some(-1.0), Some(0.1))]).is_err());
        assert!(check_actions_for_gain(&[rule("call", Some(1.0), Some(1.5))]).is_err());
        assert!(
            check_actions_for_gain(&[rule("call", Some(1.0), Some(0.1)), rule("call", Some(2.0), Some(0.1))]).is_err()
        );
        assert!(Budget::Money(f64::NAN).check().is_err());
        assert!(Budget::Money(10.0).check().is_ok());
    }
}
