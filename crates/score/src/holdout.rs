//! The control group of a retention experiment: customers held out of every at-risk list, so that
//! what contacting the others earned can be measured against comparable customers who were not
//! contacted.
//!
//! A customer is in the control group iff the BLAKE3 hash of `(salt, customer_id)`, read as a
//! fraction of 2^64, is below `share`. That depends on nothing but the id and the experiment's
//! salt: the same customers are held out night after night, whatever the model says, whether or
//! not they are on tonight's list, and on every machine; a new salt draws a new group.

use crate::error::ParamError;

/// `[holdout]`: the share of customers held out, and the experiment's name.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Holdout {
    /// The share of customers in the control group, in `[0, 1)`; 0 turns the holdout off.
    pub share: f64,
    /// The experiment's name: changing it draws a new control group.
    pub salt: String,
}

impl Holdout {
    /// Checks the share and the salt.
    pub fn check(self) -> Result<Self, ParamError> {
        if !(self.share >= 0.0 && self.share < 1.0) {
            return Err(ParamError::Invalid(format!(
                "holdout.share = {}: must be at least 0 and below 1",
                self.share
            )));
        }
        if self.salt.trim().is_empty() {
            return Err(ParamError::Invalid(
                "holdout.salt is empty: name the experiment, e.g. salt = \"retention-2024\"".into(),
            ));
        }
        Ok(self)
    }

    /// Whether `customer_id` is in the control group.
    pub fn is_control(&self, customer_id: &str) -> bool {
        if self.share <= 0.0 {
            return false;
        }
        let mut hasher = blake3::Hasher::new();
        // The salt's length first, so that ("ab", "c") and ("a", "bc") hash apart.
        hasher.update(&(self.salt.len() as u64).to_le_bytes());
        hasher.update(self.salt.as_bytes());
        hasher.update(customer_id.as_bytes());
        let bytes = hasher.finalize();
        let mut word = [0u8; 8];
        word.copy_from_slice(&bytes.as_bytes()[..8]);
        // The top 53 bits as a fraction in [0, 1), exact in an f64.
        let fraction = (u64::from_le_bytes(word) >> 11) as f64 / (1u64 << 53) as f64;
        fraction < self.share
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holdout(share: f64, salt: &str) -> Holdout {
        Holdout {
            share,
            salt: salt.into(),
        }
    }

    #[test]
    fn the_group_is_stable_its_size_the_share_and_a_new_salt_draws_anew() {
        let ids: Vec<String> = (0..100_000).map(|i| format!("C{i:07}")).collect();
        let h = holdout(0.1, "retention-2024");
        let group: Vec<bool> = ids.iter().map(|id| h.is_control(id)).collect();
        // Stable: the same answer every time (and so every night).
        assert_eq!(group, ids.iter().map(|id| h.is_control(id)).collect::<Vec<_>>());
        // About the share: 10,000 expected, standard deviation about 95.
        let n = group.iter().filter(|&&c| c).count();
        assert!((9_600..=10_400).contains(&n), "{n}");
        // Another salt draws another group: independent, so about 10 % of it overlaps.
        let other = holdout(0.1, "retention-2025");
        let both = ids
            .iter()
            .zip(&group)
            .filter(|(id, &c)| c && other.is_control(id))
            .count();
        assert!((800..=1_200).contains(&both), "{both}");
        // A larger share keeps everyone the smaller one held out.
        let wider = holdout(0.2, "retention-2024");
        assert!(ids.iter().zip(&group).all(|(id, &c)| !c || wider.is_control(id)));
        assert!(!ids.iter().any(|id| holdout(0.0, "x").is_control(id)));
    }

    #[test]
    fn shares_outside_0_to_1_and_empty_salts_are_refused() {
        assert!(holdout(0.1, "x").check().is_ok());
        assert!(holdout(0.0, "x").check().is_ok());
        for bad in [-0.1, 1.0, f64::NAN] {
            assert!(holdout(bad, "x").check().is_err(), "{bad}");
        }
        assert!(holdout(0.1, " ").check().is_err());
    }
}
