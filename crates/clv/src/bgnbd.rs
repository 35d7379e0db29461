//! The BG/NBD model: likelihood, analytic gradient, fit, and predictions.

use argmin::core::{CostFunction, Executor, Gradient, State};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;
use serde::{Deserialize, Serialize};
use statrs::function::gamma::{digamma, ln_gamma};

use crate::error::{Error, Result};

/// One customer's calibration statistics (or `weight` identical customers').
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Repeat transactions (purchases after the first; same-period purchases merged).
    pub x: f64,
    /// Time of the last repeat transaction since the first purchase (0 when `x = 0`).
    pub t_x: f64,
    /// Time from the first purchase to the end of calibration.
    pub t: f64,
    /// How many customers have exactly these statistics.
    pub weight: f64,
}

impl Summary {
    /// One customer.
    pub fn new(x: f64, t_x: f64, t: f64) -> Self {
        Summary { x, t_x, t, weight: 1.0 }
    }

    fn check(&self, row: usize) -> Result<()> {
        let bad = |reason: String| Err(Error::BadSummary { row, reason });
        if ![self.x, self.t_x, self.t, self.weight].iter().all(|v| v.is_finite()) {
            return bad("values must be finite".into());
        }
        if self.x < 0.0 || self.x.fract() != 0.0 {
            return bad(format!("x = {} must be a whole number of repeat transactions", self.x));
        }
        if self.t_x < 0.0 || self.t_x > self.t {
            return bad(format!("t_x = {} must be between 0 and T = {}", self.t_x, self.t));
        }
        if self.weight <= 0.0 {
            return bad(format!("weight = {} must be positive", self.weight));
        }
        Ok(())
    }
}

/// Collapses customers with identical `(x, t_x, t)` into weighted rows: the likelihood is a sum over
/// customers, so a million customers often need only tens of thousands of evaluations.
pub fn collapse(rows: &[Summary]) -> Vec<Summary> {
    let mut sorted: Vec<Summary> = rows.to_vec();
    sorted.sort_by(|a, b| {
        a.x.total_cmp(&b.x)
            .then(a.t_x.total_cmp(&b.t_x))
            .then(a.t.total_cmp(&b.t))
    });
    let mut out: Vec<Summary> = Vec::new();
    for row in sorted {
        match out.last_mut() {
            Some(last) if last.x == row.x && last.t_x == row.t_x && last.t == row.t => last.weight += row.weight,
            _ => out.push(row),
        }
    }
    out
}

/// How a fit ended.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Convergence {
    /// L-BFGS iterations of the best start.
    pub iterations: u64,
    /// Norm of the gradient of the mean log-likelihood (in log-parameters) at the solution.
    pub gradient_norm: f64,
    /// Starting points tried.
    pub starts: usize,
}

/// A BG/NBD model: purchase rates Gamma(r, alpha), dropout probabilities Beta(a, b).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BgNbd {
    /// Shape of the purchase-rate Gamma.
    pub r: f64,
    /// Scale (time units) of the purchase-rate Gamma.
    pub alpha: f64,
    /// Beta shape a of the dropout probability.
    pub a: f64,
    /// Beta shape b of the dropout probability.
    pub b: f64,
    /// Log-likelihood of the calibration data (0 for a model built with [`BgNbd::new`]).
    pub log_likelihood: f64,
    /// How the fit converged (none for a model built with [`BgNbd::new`]).
    pub convergence: Option<Convergence>,
}

fn ln_beta(p: f64, q: f64) -> f64 {
    ln_gamma(p) + ln_gamma(q) - ln_gamma(p + q)
}

/// Log-likelihood and its gradient with respect to (r, alpha, a, b) for one summary row (unweighted).
fn row_ll(params: [f64; 4], s: &Summary) -> (f64, [f64; 4]) {
    let [r, alpha, a, b] = params;
    let x = s.x;
    let ln_a1 = ln_gamma(r + x) - ln_gamma(r) + r * alpha.ln();
    let d_a1 = [digamma(r + x) - digamma(r) + alpha.ln(), r / alpha, 0.0, 0.0];
    let ln_a2 = ln_beta(a, b + x) - ln_beta(a, b) - (r + x) * (alpha + s.t).ln();
    let d_a2 = [
        -(alpha + s.t).ln(),
        -(r + x) / (alpha + s.t),
        digamma(a + b) - digamma(a + b + x),
        digamma(b + x) - digamma(a + b + x) - digamma(b) + digamma(a + b),
    ];
    if x == 0.0 {
        let g = [d_a1[0] + d_a2[0], d_a1[1] + d_a2[1], d_a2[2], d_a2[3]];
        return (ln_a1 + ln_a2, g);
    }
    let ln_a3 = ln_beta(a + 1.0, b + x - 1.0) - ln_beta(a, b) - (r + x) * (alpha + s.t_x).ln();
    let d_a3 = [
        -(alpha + s.t_x).ln(),
        -(r + x) / (alpha + s.t_x),
        digamma(a + 1.0) - digamma(a + b + x) - digamma(a) + digamma(a + b),
        digamma(b + x - 1.0) - digamma(a + b + x) - digamma(b) + digamma(a + b),
    ];
    // log(e^A2 + e^A3) without overflow, and the weights of each term in the gradient.
    let m = ln_a2.max(ln_a3);
    let (e2, e3) = ((ln_a2 - m).exp(), (ln_a3 - m).exp());
    let (w2, w3) = (e2 / (e2 + e3), e3 / (e2 + e3));
    let ll = ln_a1 + m + (e2 + e3).ln();
    let g = std::array::from_fn(|k| d_a1[k] + w2 * d_a2[k] + w3 * d_a3[k]);
    (ll, g)
}

/// The optimization problem: the mean negative log-likelihood over log-parameters.
struct Problem<'a> {
    rows: &'a [Summary],
    total_weight: f64,
}

impl Problem<'_> {
    fn evaluate(&self, theta: &[f64]) -> (f64, Vec<f64>) {
        let params: [f64; 4] = std::array::from_fn(|k| theta[k].exp());
        let mut ll = 0.0;
        let mut grad = [0.0; 4];
        for s in self.rows {
            let (l, g) = row_ll(params, s);
            ll += s.weight * l;
            for k in 0..4 {
                // Chain rule for p = exp(theta): d/dtheta = p d/dp.
                grad[k] += s.weight * g[k] * params[k];
            }
        }
        let n = self.total_weight;
        (-ll / n, grad.iter().map(|g| -g / n).collect())
    }
}

impl CostFunction for Problem<'_> {
    type Param = Vec<f64>;
    type Output = f64;

    fn cost(&self, theta: &Self::Param) -> std::result::Result<f64, argmin::core::Error> {
        let (cost, _) = self.evaluate(theta);
        // A non-finite cost makes the line search back off instead of stepping there.
        Ok(if cost.is_finite() { cost } else { f64::INFINITY })
    }
}

impl Gradient for Problem<'_> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;

    fn gradient(&self, theta: &Self::Param) -> std::result::Result<Vec<f64>, argmin::core::Error> {
        Ok(self.evaluate(theta).1)
    }
}

/// The gradient norm (of the mean log-likelihood) below which a fit counts as converged.
const GRADIENT_TOLERANCE: f64 = 1e-6;

impl BgNbd {
    /// A model with given parameters (for predictions).
    pub fn new(r: f64, alpha: f64, a: f64, b: f64) -> Self {
        BgNbd {
            r,
            alpha,
            a,
            b,
            log_likelihood: 0.0,
            convergence: None,
        }
    }

    /// The log-likelihood of `rows` under this model.
    pub fn log_likelihood_of(&self, rows: &[Summary]) -> f64 {
        rows.iter()
            .map(|s| s.weight * row_ll([self.r, self.alpha, self.a, self.b], s).0)
            .sum()
    }

    /// Maximum-likelihood fit on calibration summaries (collapse them first for speed). Tries
    /// several starting points and keeps the best; a best fit whose gradient is not near zero is
    /// [`Error::NotConverged`], never returned as if it were a solution.
    pub fn fit(rows: &[Summary]) -> Result<BgNbd> {
        for (row, s) in rows.iter().enumerate() {
            s.check(row)?;
        }
        let total_weight: f64 = rows.iter().map(|s| s.weight).sum();
        if rows.iter().all(|s| s.x == 0.0) {
            return Err(Error::Degenerate(
                "no customer made a repeat purchase in the calibration period; BG/NBD cannot be fitted".into(),
            ));
        }
        let problem = Problem { rows, total_weight };
        // Starting points in (r, alpha, a, b), spread over typical retail magnitudes; alpha scales
        // with the time unit, so it starts near the mean age.
        let mean_t = rows.iter().map(|s| s.weight * s.t).sum::<f64>() / total_weight;
        let starts = [
            [1.0, mean_t.max(1.0), 1.0, 1.0],
            [0.5, (mean_t / 4.0).max(0.5), 0.5, 2.0],
            [2.0, (mean_t * 2.0).max(1.0), 2.0, 5.0],
        ];
        let mut best: Option<(f64, Vec<f64>, u64)> = None;
        for start in starts {
            let init: Vec<f64> = start.iter().map(|p| p.ln()).collect();
            let solver = LBFGS::new(MoreThuenteLineSearch::new(), 10)
                .with_tolerance_grad(GRADIENT_TOLERANCE * 0.1)
                .map_err(|e| Error::NotConverged(e.to_string()))?
                .with_tolerance_cost(0.0)
                .map_err(|e| Error::NotConverged(e.to_string()))?;
            let Ok(result) = Executor::new(Problem { rows, total_weight }, solver)
                .configure(|state| state.param(init).max_iters(500))
                .run()
            else {
                continue;
            };
            let state = result.state();
            let Some(theta) = state.get_best_param().cloned() else {
                continue;
            };
            let cost = state.get_best_cost();
            if cost.is_finite() && best.as_ref().is_none_or(|(c, _, _)| cost < *c) {
                best = Some((cost, theta, state.get_iter()));
            }
        }
        let (cost, theta, iterations) =
            best.ok_or_else(|| Error::NotConverged("no starting point reached a finite likelihood".into()))?;
        let (_, grad) = problem.evaluate(&theta);
        let gradient_norm = grad.iter().map(|g| g * g).sum::<f64>().sqrt();
        let [r, alpha, a, b]: [f64; 4] = std::array::from_fn(|k| theta[k].exp());
        if !(gradient_norm < GRADIENT_TOLERANCE && [r, alpha, a, b].iter().all(|p| p.is_finite() && *p > 0.0)) {
            return Err(Error::NotConverged(format!(
                "gradient norm {gradient_norm:.2e} at r = {r}, alpha = {alpha}, a = {a}, b = {b}"
            )));
        }
        Ok(BgNbd {
            r,
            alpha,
            a,
            b,
            log_likelihood: -cost * total_weight,
            convergence: Some(Convergence {
                iterations,
                gradient_norm,
                starts: starts.len(),
            }),
        })
    }

    /// The probability that a customer with these statistics is still alive at the end of
    /// calibration. (BG/NBD says 1 for `x = 0`: a one-time buyer cannot have dropped out.)
    pub fn p_alive(&self, s: &Summary) -> f64 {
        if s.x == 0.0 {
            return 1.0;
        }
        let ratio =
            (self.a / (self.b + s.x - 1.0)) * ((self.r + s.x) * ((self.alpha + s.t) / (self.alpha + s.t_x)).ln()).exp();
        1.0 / (1.0 + ratio)
    }

    /// Expected transactions in the next `t` time units for a customer with these statistics
    /// (Fader, Hardie & Lee 2005, equation 10).
    pub fn expected_transactions(&self, s: &Summary, t: f64) -> f64 {
        let (r, alpha, a, b, x) = (self.r, self.alpha, self.a, self.b, s.x);
        let z = t / (alpha + s.t + t);
        let head = (a + b + x - 1.0) / (a - 1.0);
        let hyper = hyp2f1(r + x, b + x, a + b + x - 1.0, z);
        let tail = 1.0 - ((alpha + s.t) / (alpha + s.t + t)).powf(r + x) * hyper;
        let alive_odds = if x > 0.0 {
            (a / (b + x - 1.0)) * ((alpha + s.t) / (alpha + s.t_x)).powf(r + x)
        } else {
            0.0
        };
        head * tail / (1.0 + alive_odds)
    }
}

/// The Gauss hypergeometric function 2F1(a, b; c; z) for 0 <= z < 1, by its power series. Written
/// here because no crate in the dependency tree has it; the series converges for |z| < 1 and the
/// BG/NBD argument `t / (alpha + T + t)` always is.
fn hyp2f1(a: f64, b: f64, c: f64, z: f64) -> f64 {
    let (mut term, mut sum) = (1.0, 1.0);
    for n in 0..100_000 {
        let n = n as f64;
        term *= (a + n) * (b + n) / ((c + n) * (n + 1.0)) * z;
        sum += term;
        if term.abs() < 1e-15 * sum.abs() {
            break;
        }
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gradient_matches_finite_differences() {
        let rows = [
            Summary::new(0.0, 0.0, 30.0),
            Summary::new(3.0, 20.0, 35.0),
            Summary::new(1.0, 2.0, 10.0),
        ];
        let problem = Problem {
            rows: &rows,
            total_weight: 3.0,
        };
        let theta = vec![0.3f64.ln(), 5.0f64.ln(), 0.8f64.ln(), 2.5f64.ln()];
        let (_, grad) = problem.evaluate(&theta);
        for k in 0..4 {
            let h = 1e-6;
            let (mut up, mut down) = (theta.clone(), theta.clone());
            up[k] += h;
            down[k] -= h;
            let numeric = (problem.evaluate(&up).0 - problem.evaluate(&down).0) / (2.0 * h);
            assert!(
                (numeric - grad[k]).abs() < 1e-6,
                "parameter {k}: {numeric} vs {}",
                grad[k]
            );
        }
    }

    #[test]
    fn hypergeometric_series_matches_closed_forms() {
        // 2F1(1, 1; 2; z) = -ln(1 - z) / z.
        let z: f64 = 0.6;
        assert!((hyp2f1(1.0, 1.0, 2.0, z) - (-(1.0 - z).ln() / z)).abs() < 1e-12);
        // 2F1(a, b; b; z) = (1 - z)^-a.
        assert!((hyp2f1(2.5, 3.0, 3.0, 0.3) - 0.7f64.powf(-2.5)).abs() < 1e-12);
    }

    #[test]
    fn collapsing_keeps_the_likelihood() {
        let rows = [
            Summary::new(1.0, 5.0, 30.0),
            Summary::new(0.0, 0.0, 30.0),
            Summary::new(1.0, 5.0, 30.0),
            Summary::new(0.0, 0.0, 30.0),
        ];
        let collapsed = collapse(&rows);
        assert_eq!(collapsed.len(), 2);
        assert_eq!(collapsed.iter().map(|s| s.weight).sum::<f64>(), 4.0);
        let model = BgNbd::new(0.3, 5.0, 0.8, 2.5);
        assert!((model.log_likelihood_of(&rows) - model.log_likelihood_of(&collapsed)).abs() < 1e-10);
    }

    #[test]
    fn impossible_rows_and_data_without_repeat_purchases_are_errors() {
        let err = BgNbd::fit(&[Summary::new(1.0, 40.0, 30.0)]).expect_err("t_x > T");
        assert!(err.to_string().contains("must be between 0 and T"), "{err}");
        let err = BgNbd::fit(&[Summary::new(0.0, 0.0, 30.0); 3]).expect_err("no repeats");
        assert!(matches!(err, Error::Degenerate(_)), "{err}");
    }
}
