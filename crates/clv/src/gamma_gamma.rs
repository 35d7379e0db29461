//! The Gamma-Gamma model of spend per transaction (Fader, Hardie & Lee 2005, "RFM and CLV"),
//! fitted on repeat buyers.

use serde::{Deserialize, Serialize};
use statrs::function::gamma::{digamma, ln_gamma};

use crate::error::{Error, Result};
use crate::optimize::{chunked_sum, maximize_warm, weighted_sample, Convergence, LogLikelihood, WARM_START_ROWS};

/// A repeat buyer's spend: `x` repeat transactions with mean value `mean_spend` (or `weight` such
/// customers).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Spend {
    /// Repeat transactions (at least 1).
    pub x: f64,
    /// Mean value of the repeat transactions (positive).
    pub mean_spend: f64,
    /// How many customers have exactly these statistics.
    pub weight: f64,
}

impl Spend {
    /// One customer.
    pub fn new(x: f64, mean_spend: f64) -> Self {
        Spend {
            x,
            mean_spend,
            weight: 1.0,
        }
    }
}

/// A Gamma-Gamma model: transaction values Gamma(p, nu), nu ~ Gamma(q, gamma).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GammaGamma {
    /// Shape of a customer's transaction values.
    pub p: f64,
    /// Shape of the spread across customers.
    pub q: f64,
    /// Scale of the spread across customers.
    pub gamma: f64,
    /// Log-likelihood of the repeat buyers (0 for a model built with [`GammaGamma::new`]).
    pub log_likelihood: f64,
    /// How the fit converged.
    pub convergence: Option<Convergence>,
}

/// A repeat buyer with the logarithm of the mean spend precomputed.
#[derive(Clone, Copy)]
struct Row {
    x: f64,
    mean_spend: f64,
    ln_mean: f64,
    weight: f64,
}

/// The Gamma-Gamma likelihood, rows sorted by `x`: the Gamma and digamma functions depend on `x`
/// only and are computed once per distinct `x`, leaving one logarithm per row.
struct Likelihood {
    rows: Vec<Row>,
    total_weight: f64,
}

impl Likelihood {
    fn new(spends: &[Spend]) -> Self {
        let mut rows: Vec<Row> = spends
            .iter()
            .map(|s| Row {
                x: s.x,
                mean_spend: s.mean_spend,
                ln_mean: s.mean_spend.ln(),
                weight: s.weight,
            })
            .collect();
        rows.sort_by(|a, b| a.x.total_cmp(&b.x));
        let total_weight = rows.iter().map(|s| s.weight).sum();
        Likelihood { rows, total_weight }
    }
}

/// ln f(mean spend | x) = ln Gamma(px + q) - ln Gamma(px) - ln Gamma(q) + q ln gamma + (px - 1) ln m
/// + px ln x - (px + q) ln(gamma + m x), summed with its gradient over rows sorted by `x`.
fn sum_rows([p, q, g]: [f64; 3], rows: &[Row]) -> (f64, [f64; 3]) {
    let (mut ll, mut grad) = (0.0, [0.0; 3]);
    let (ln_q, dq, ln_g) = (ln_gamma(q), digamma(q), g.ln());
    // (x, constant part of ln f, d/dp constant part / x, d/dq constant part)
    let mut terms = (f64::NAN, 0.0, 0.0, 0.0);
    for s in rows {
        let (x, px) = (s.x, p * s.x);
        if terms.0 != x {
            let (lg, dg) = (ln_gamma(px + q), digamma(px + q));
            terms = (
                x,
                lg - ln_gamma(px) - ln_q + q * ln_g + px * x.ln(),
                dg - digamma(px) + x.ln(),
                dg - dq + ln_g,
            );
        }
        let total = g + s.mean_spend * x;
        let ln_total = total.ln();
        ll += s.weight * (terms.1 + (px - 1.0) * s.ln_mean - (px + q) * ln_total);
        grad[0] += s.weight * x * (terms.2 + s.ln_mean - ln_total);
        grad[1] += s.weight * (terms.3 - ln_total);
        grad[2] += s.weight * (q / g - (px + q) / total);
    }
    (ll, grad)
}

impl LogLikelihood for Likelihood {
    fn evaluate(&self, params: &[f64]) -> (f64, Vec<f64>) {
        let p = [params[0], params[1], params[2]];
        let (ll, grad) = chunked_sum(&self.rows, |chunk| sum_rows(p, chunk));
        (ll, grad.to_vec())
    }

    fn total_weight(&self) -> f64 {
        self.total_weight
    }
}

impl GammaGamma {
    /// A model with given parameters (for predictions).
    pub fn new(p: f64, q: f64, gamma: f64) -> Self {
        GammaGamma {
            p,
            q,
            gamma,
            log_likelihood: 0.0,
            convergence: None,
        }
    }

    /// Maximum-likelihood fit on repeat buyers. Rows with `x = 0` must be left out by the caller
    /// (they carry no spend information); a non-positive spend is an error.
    pub fn fit(rows: &[Spend]) -> Result<GammaGamma> {
        for (row, s) in rows.iter().enumerate() {
            if !(s.x >= 1.0 && s.mean_spend.is_finite() && s.mean_spend > 0.0 && s.weight > 0.0) {
                return Err(Error::BadSummary {
                    row,
                    reason: format!(
                        "Gamma-Gamma needs repeat buyers with positive mean spend (x = {}, mean spend = {})",
                        s.x, s.mean_spend
                    ),
                });
            }
        }
        if rows.len() < 2 {
            return Err(Error::Degenerate("Gamma-Gamma needs at least two repeat buyers".into()));
        }
        let mean =
            rows.iter().map(|s| s.weight * s.mean_spend).sum::<f64>() / rows.iter().map(|s| s.weight).sum::<f64>();
        let starts = [
            vec![1.0, 1.0, mean.max(1e-3)],
            vec![5.0, 3.0, mean.max(1e-3) * 3.0],
            vec![0.5, 2.0, 1.0],
        ];
        let sample = || {
            let picked = weighted_sample(
                rows,
                |s| s.weight,
                |s, weight| Spend { weight, ..s },
                WARM_START_ROWS / 2,
            );
            Likelihood::new(&picked)
        };
        let (params, log_likelihood, convergence) =
            maximize_warm(&Likelihood::new(rows), rows.len(), sample, &starts, "Gamma-Gamma")?;
        Ok(GammaGamma {
            p: params[0],
            q: params[1],
            gamma: params[2],
            log_likelihood,
            convergence: Some(convergence),
        })
    }

    /// Expected mean transaction value of a customer with `x` repeat transactions of mean value
    /// `mean_spend`: a weighted average of the population mean `p gamma / (q - 1)` and the
    /// customer's own mean. A customer without repeat purchases gets the population mean.
    pub fn expected_spend(&self, x: f64, mean_spend: f64) -> f64 {
        let population = self.p * self.gamma / (self.q - 1.0);
        if x <= 0.0 {
            return population;
        }
        let weight = self.p * x / (self.p * x + self.q - 1.0);
        (1.0 - weight) * population + weight * mean_spend
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gradient_matches_finite_differences() {
        let rows = [Spend::new(1.0, 20.0), Spend::new(4.0, 35.5), Spend::new(2.0, 12.0)];
        crate::optimize::check_gradient(&Likelihood::new(&rows), &[6.0, 3.5, 15.0]);
    }

    #[test]
    fn expected_spend_shrinks_toward_the_population_mean() {
        let model = GammaGamma::new(6.25, 3.74, 15.44);
        let population = 6.25 * 15.44 / 2.74;
        assert!((model.expected_spend(0.0, 0.0) - population).abs() < 1e-12);
        let one = model.expected_spend(1.0, 100.0);
        let many = model.expected_spend(20.0, 100.0);
        assert!(population < one && one < many && many < 100.0);
    }
}
