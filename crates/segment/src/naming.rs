//! Readable segment names from centroids.
//!
//! A centroid lives in standardized space, where 0 is the population mean of each input, so its
//! coordinates say directly how a segment differs from the average customer, in standard
//! deviations (z). The rule reads four roles from the model's inputs, whatever their transform:
//! recency (`recency_days`), frequency (`frequency`, `orders_90d`), money (`monetary_total`,
//! `monetary_avg_order`, `spend_365d`) and tenure (`tenure_days`). A role the model does not use
//! counts as average (z = 0); when several inputs share a role, their mean z is used.
//!
//! 1. **Activity** from recency z: *lost* if z >= 1, *lapsing* if 0.25 <= z < 1, else *active*.
//! 2. **Value** from the mean of the frequency and money z: *high* if >= 0.5, *low* if <= -0.5,
//!    else *mid*.
//! 3. **New**: an active segment with tenure z <= -0.5.
//! 4. **One-time buyers**: when the segment's typical order count (the `frequency` input's centroid
//!    turned back into orders) is below 1.5 and its value is not high, "regulars" and "low-value"
//!    would mislead: the segment is called *One-time buyers*, *Lapsing one-time buyers* or *Lost
//!    one-time buyers* by its activity (new segments keep their name).
//!
//! | activity | high value | mid value | low value |
//! |---|---|---|---|
//! | active, new | Promising new customers | New customers | New customers |
//! | active | High-value loyal | Steady regulars | Occasional buyers |
//! | lapsing | Lapsing big spenders | Cooling regulars | Lapsing low-value |
//! | lost | Lost big spenders | Lost regulars | Lost low-value |
//!
//! Two segments can earn the same name; the one with the larger revenue keeps it and the others
//! get " (2)", " (3)" in id order, so names stay unique.

use churn_core::{FeatureSpec, StandardScaler, Transform};

/// How far (in standard deviations) a segment sits from the average customer on each role.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RoleScores {
    /// Days since the last purchase (higher = less recent).
    pub recency: f64,
    /// Purchase counts.
    pub frequency: f64,
    /// Money spent.
    pub money: f64,
    /// Days since the first purchase.
    pub tenure: f64,
    /// The typical number of orders at the centroid, when `frequency` is an input.
    pub orders: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Recency,
    Frequency,
    Money,
    Tenure,
}

fn role_of(column: &str) -> Option<Role> {
    match column {
        "recency_days" => Some(Role::Recency),
        "frequency" | "orders_90d" => Some(Role::Frequency),
        "monetary_total" | "monetary_avg_order" | "spend_365d" => Some(Role::Money),
        "tenure_days" => Some(Role::Tenure),
        _ => None,
    }
}

impl RoleScores {
    /// Reads the roles from a standardized centroid whose coordinates follow `features`, scaled
    /// by `scaler`.
    pub fn from_centroid(features: &[FeatureSpec], scaler: &StandardScaler, centroid: &[f64]) -> Self {
        let orders = features.iter().position(|f| f.column() == "frequency").map(|j| {
            let x = centroid[j] * scaler.scale(j) + scaler.mean[j];
            match features[j].transform() {
                Transform::Identity => x,
                Transform::Log1p => x.exp_m1(),
                Transform::SignedLog1p => x.signum() * x.abs().exp_m1(),
            }
        });
        let mean_of = |role: Role| {
            let values: Vec<f64> = features
                .iter()
                .zip(centroid)
                .filter(|(spec, _)| role_of(spec.column()) == Some(role))
                .map(|(_, z)| *z)
                .collect();
            if values.is_empty() {
                0.0
            } else {
                values.iter().sum::<f64>() / values.len() as f64
            }
        };
        RoleScores {
            recency: mean_of(Role::Recency),
            frequency: mean_of(Role::Frequency),
            money: mean_of(Role::Money),
            tenure: mean_of(Role::Tenure),
            orders,
        }
    }

    /// The segment name by the rule in the module documentation.
    pub fn name(&self) -> &'static str {
        let value = (self.frequency + self.money) / 2.0;
        let high = value >= 0.5;
        let low = value <= -0.5;
        let one_time = !high && self.orders.is_some_and(|o| o < 1.5);
        if self.recency >= 1.0 {
            if one_time {
                return "Lost one-time buyers";
            }
            match (high, low) {
                (true, _) => "Lost big spenders",
                (_, true) => "Lost low-value",
                _ => "Lost regulars",
            }
        } else if self.recency >= 0.25 {
            if one_time {
                return "Lapsing one-time buyers";
            }
            match (high, low) {
                (true, _) => "Lapsing big spenders",
                (_, true) => "Lapsing low-value",
                _ => "Cooling regulars",
            }
        } else if self.tenure <= -0.5 {
            if high {
                "Promising new customers"
            } else {
                "New customers"
            }
        } else if one_time {
            "One-time buyers"
        } else {
            match (high, low) {
                (true, _) => "High-value loyal",
                (_, true) => "Occasional buyers",
                _ => "Steady regulars",
            }
        }
    }
}

/// Makes names unique: the first occurrence (segments are in id order, most valuable first) keeps
/// the plain name, later ones get " (2)", " (3)".
pub fn unique_names(names: &[&str]) -> Vec<String> {
    names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let earlier = names[..i].iter().filter(|n| *n == name).count();
            if earlier == 0 {
                name.to_string()
            } else {
                format!("{name} ({})", earlier + 1)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use churn_core::Transform;

    use super::*;
    use crate::params::default_features;

    fn name(recency: f64, frequency: f64, money: f64, tenure: f64) -> &'static str {
        RoleScores {
            recency,
            frequency,
            money,
            tenure,
            orders: None,
        }
        .name()
    }

    fn name_with_orders(recency: f64, value: f64, tenure: f64, orders: f64) -> &'static str {
        RoleScores {
            recency,
            frequency: value,
            money: value,
            tenure,
            orders: Some(orders),
        }
        .name()
    }

    #[test]
    fn each_cell_of_the_naming_table_is_reachable() {
        assert_eq!(name(-0.8, 1.2, 1.5, 0.6), "High-value loyal");
        assert_eq!(name(-0.8, 0.0, 0.2, 0.3), "Steady regulars");
        assert_eq!(name(0.0, -0.9, -0.7, 0.0), "Occasional buyers");
        assert_eq!(name(-1.0, -0.3, -0.2, -1.2), "New customers");
        assert_eq!(name(-1.0, 0.4, 1.6, -1.2), "Promising new customers");
        assert_eq!(name(0.6, 0.8, 1.0, 0.5), "Lapsing big spenders");
        assert_eq!(name(0.6, 0.0, 0.0, 0.5), "Cooling regulars");
        assert_eq!(name(0.6, -0.6, -0.6, 0.5), "Lapsing low-value");
        assert_eq!(name(1.8, 0.9, 0.9, 0.0), "Lost big spenders");
        assert_eq!(name(1.8, 0.0, -0.2, 0.0), "Lost regulars");
        assert_eq!(name(1.8, -0.7, -0.8, 0.0), "Lost low-value");
    }

    #[test]
    fn segments_of_one_time_buyers_are_not_called_regulars() {
        assert_eq!(name_with_orders(1.5, 0.0, 0.0, 1.2), "Lost one-time buyers");
        assert_eq!(name_with_orders(1.5, -1.0, 0.0, 1.0), "Lost one-time buyers");
        assert_eq!(name_with_orders(0.5, 0.0, 0.0, 1.4), "Lapsing one-time buyers");
        assert_eq!(name_with_orders(0.0, -0.2, 0.0, 1.0), "One-time buyers");
        // New customers stay new; high value is never "one-time"; 1.5 orders is a repeat buyer.
        assert_eq!(name_with_orders(0.0, 0.0, -1.0, 1.0), "New customers");
        assert_eq!(name_with_orders(1.5, 0.8, 0.0, 1.2), "Lost big spenders");
        assert_eq!(name_with_orders(1.5, 0.0, 0.0, 1.5), "Lost regulars");
    }

    #[test]
    fn thresholds_are_inclusive_where_documented() {
        assert_eq!(name(1.0, 0.0, 0.0, 0.0), "Lost regulars");
        assert_eq!(name(0.25, 0.0, 0.0, 0.0), "Cooling regulars");
        assert_eq!(name(0.2499, 0.5, 0.5, 0.0), "High-value loyal");
        assert_eq!(name(0.0, -0.5, -0.5, 0.0), "Occasional buyers");
        assert_eq!(name(0.0, 0.0, 0.0, -0.5), "New customers");
        // Lapsing customers are never "new", whatever their tenure.
        assert_eq!(name(0.5, 0.0, 0.0, -2.0), "Cooling regulars");
    }

    #[test]
    fn roles_are_read_from_the_model_inputs_whatever_their_order_and_transform() {
        let features = default_features();
        // log1p(frequency) has mean ln 3 and standard deviation 0.5: z = -0.2 is 3 e^-0.1 - 1 orders.
        let scaler = StandardScaler {
            mean: vec![100.0, 3f64.ln(), 4.0, 300.0],
            std: vec![50.0, 0.5, 1.0, 100.0],
        };
        let scores = RoleScores::from_centroid(&features, &scaler, &[1.5, -0.2, -1.0, 0.3]);
        let orders = 3.0 * (-0.1f64).exp() - 1.0;
        assert_eq!(
            (scores.recency, scores.frequency, scores.money, scores.tenure),
            (1.5, -0.2, -1.0, 0.3)
        );
        assert!((scores.orders.expect("frequency is an input") - orders).abs() < 1e-12);
        assert_eq!(scores.name(), "Lost low-value");
        // A custom list without recency or tenure; two money inputs average.
        let custom = vec![
            FeatureSpec::new("monetary_avg_order", Transform::SignedLog1p),
            FeatureSpec::new("spend_365d", Transform::SignedLog1p),
            FeatureSpec::new("return_ratio", Transform::Identity),
        ];
        let scaler = StandardScaler {
            mean: vec![0.0; 3],
            std: vec![1.0; 3],
        };
        let scores = RoleScores::from_centroid(&custom, &scaler, &[2.0, 1.0, 9.0]);
        assert_eq!(scores.orders, None);
        assert_eq!(scores.money, 1.5);
        assert_eq!((scores.recency, scores.frequency, scores.tenure), (0.0, 0.0, 0.0));
        assert_eq!(scores.name(), "High-value loyal");
    }

    #[test]
    fn repeated_names_get_a_number_in_id_order() {
        let names = unique_names(&["Lost low-value", "New customers", "Lost low-value", "Lost low-value"]);
        assert_eq!(
            names,
            vec![
                "Lost low-value",
                "New customers",
                "Lost low-value (2)",
                "Lost low-value (3)"
            ]
        );
    }
}
