//! The BG/NBD model: likelihood, analytic gradient, fit, and predictions.

use serde::{Deserialize, Serialize};
use statrs::function::gamma::{digamma, ln_gamma};

use crate::error::{Error, Result};
use crate::optimize::{chunked_sum, maximize_warm, weighted_sample, Convergence, LogLikelihood, WARM_START_ROWS};

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

/// When a customer's next purchase falls, in the model's time units after the end of calibration
/// (see [`BgNbd::next_purchase`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NextPurchase {
    /// The probability of a purchase within the window.
    pub p_within: f64,
    /// The median wait, given a purchase within the window.
    pub median: f64,
    /// The 10th percentile of the wait, given a purchase within the window.
    pub low: f64,
    /// The 90th percentile of the wait, given a purchase within the window.
    pub high: f64,
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

/// The terms of a row's log-likelihood that depend on the parameters and `x` only: every Gamma,
/// Beta and digamma function of the likelihood. Customers share few distinct `x`, so computing these
/// once per `x` leaves two logarithms and an exponential per row.
struct XTerms {
    r_x: f64,
    /// ln A1 = ln Gamma(r + x) - ln Gamma(r) + r ln alpha, and its gradient.
    ln_a1: f64,
    d_a1: [f64; 4],
    /// ln B(a, b + x) - ln B(a, b), and its (a, b) gradient.
    ln_b2: f64,
    d_b2: [f64; 2],
    /// ln B(a + 1, b + x - 1) - ln B(a, b), and its (a, b) gradient (x > 0 only).
    ln_b3: f64,
    d_b3: [f64; 2],
}

impl XTerms {
    fn new([r, alpha, a, b]: [f64; 4], x: f64) -> Self {
        let ab = digamma(a + b);
        let abx = digamma(a + b + x);
        let (ln_b3, d_b3) = if x > 0.0 {
            (
                ln_beta(a + 1.0, b + x - 1.0) - ln_beta(a, b),
                [
                    digamma(a + 1.0) - abx - digamma(a) + ab,
                    digamma(b + x - 1.0) - abx - digamma(b) + ab,
                ],
            )
        } else {
            (0.0, [0.0; 2])
        };
        XTerms {
            r_x: r + x,
            ln_a1: ln_gamma(r + x) - ln_gamma(r) + r * alpha.ln(),
            d_a1: [digamma(r + x) - digamma(r) + alpha.ln(), r / alpha, 0.0, 0.0],
            ln_b2: ln_beta(a, b + x) - ln_beta(a, b),
            d_b2: [ab - abx, digamma(b + x) - abx - digamma(b) + ab],
            ln_b3,
            d_b3,
        }
    }
}

/// Log-likelihood and its gradient with respect to (r, alpha, a, b) for one summary row (unweighted),
/// given the terms of its `x` (Fader, Hardie & Lee 2005, equation 6, as ln A1 + ln(A2 + A3)).
fn row_ll(terms: &XTerms, alpha: f64, s: &Summary) -> (f64, [f64; 4]) {
    let XTerms { r_x, d_a1, .. } = *terms;
    let ln_t = (alpha + s.t).ln();
    let ln_a2 = terms.ln_b2 - r_x * ln_t;
    let d_a2 = [-ln_t, -r_x / (alpha + s.t), terms.d_b2[0], terms.d_b2[1]];
    if s.x == 0.0 {
        let g = std::array::from_fn(|k| d_a1[k] + d_a2[k]);
        return (terms.ln_a1 + ln_a2, g);
    }
    let ln_tx = (alpha + s.t_x).ln();
    let ln_a3 = terms.ln_b3 - r_x * ln_tx;
    let d_a3 = [-ln_tx, -r_x / (alpha + s.t_x), terms.d_b3[0], terms.d_b3[1]];
    // log(e^A2 + e^A3) without overflow, and the weights of each term in the gradient.
    let m = ln_a2.max(ln_a3);
    let (e2, e3) = ((ln_a2 - m).exp(), (ln_a3 - m).exp());
    let (w2, w3) = (e2 / (e2 + e3), e3 / (e2 + e3));
    let ll = terms.ln_a1 + m + (e2 + e3).ln();
    let g = std::array::from_fn(|k| d_a1[k] + w2 * d_a2[k] + w3 * d_a3[k]);
    (ll, g)
}

/// The weighted log-likelihood and gradient of rows sorted by `x`.
fn sum_rows(params: [f64; 4], rows: &[Summary]) -> (f64, [f64; 4]) {
    let mut ll = 0.0;
    let mut grad = [0.0; 4];
    let mut terms: Option<(f64, XTerms)> = None;
    for s in rows {
        if terms.as_ref().is_none_or(|(x, _)| *x != s.x) {
            terms = Some((s.x, XTerms::new(params, s.x)));
        }
        let Some((_, t)) = &terms else { continue };
        let (l, g) = row_ll(t, params[1], s);
        ll += s.weight * l;
        for (sum, g) in grad.iter_mut().zip(g) {
            *sum += s.weight * g;
        }
    }
    (ll, grad)
}

/// The BG/NBD likelihood of a set of summaries, sorted by `x` so that [`XTerms`] are shared.
struct Likelihood {
    rows: Vec<Summary>,
    total_weight: f64,
}

impl Likelihood {
    fn new(rows: &[Summary]) -> Self {
        let mut rows = rows.to_vec();
        rows.sort_by(|a, b| a.x.total_cmp(&b.x));
        let total_weight = rows.iter().map(|s| s.weight).sum();
        Likelihood { rows, total_weight }
    }
}

impl LogLikelihood for Likelihood {
    fn evaluate(&self, params: &[f64]) -> (f64, Vec<f64>) {
        let p = [params[0], params[1], params[2], params[3]];
        let (ll, grad) = chunked_sum(&self.rows, |chunk| sum_rows(p, chunk));
        (ll, grad.to_vec())
    }

    fn total_weight(&self) -> f64 {
        self.total_weight
    }
}

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
        Likelihood::new(rows).evaluate(&[self.r, self.alpha, self.a, self.b]).0
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
        // Starting points in (r, alpha, a, b), spread over typical retail magnitudes; alpha scales
        // with the time unit, so it starts near the mean age.
        let mean_t = rows.iter().map(|s| s.weight * s.t).sum::<f64>() / total_weight;
        let starts = [
            vec![1.0, mean_t.max(1.0), 1.0, 1.0],
            vec![0.5, (mean_t / 4.0).max(0.5), 0.5, 2.0],
            vec![2.0, (mean_t * 2.0).max(1.0), 2.0, 5.0],
        ];
        let sample = || {
            let picked = weighted_sample(
                rows,
                |s| s.weight,
                |s, weight| Summary { weight, ..s },
                WARM_START_ROWS / 2,
            );
            Likelihood::new(&picked)
        };
        let (p, log_likelihood, convergence) =
            maximize_warm(&Likelihood::new(rows), rows.len(), sample, &starts, "BG/NBD")?;
        Ok(BgNbd {
            r: p[0],
            alpha: p[1],
            a: p[2],
            b: p[3],
            log_likelihood,
            convergence: Some(convergence),
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

    /// The probability that a customer with these statistics makes no purchase in the next `t` time
    /// units: dead already, or alive and silent. An alive customer cannot drop out without buying (in
    /// BG/NBD dropout happens right after a purchase), and given the history and being alive the
    /// purchase rate is Gamma(r + x, alpha + T), so P(silent | alive) = ((alpha + T) / (alpha + T + t))^(r + x).
    pub fn p_no_purchase(&self, s: &Summary, t: f64) -> f64 {
        self.p_no_purchase_given(s, t, self.p_alive(s))
    }

    /// [`BgNbd::p_no_purchase`] with the customer's P(alive) already known.
    pub(crate) fn p_no_purchase_given(&self, s: &Summary, t: f64, alive: f64) -> f64 {
        let silent = ((self.alpha + s.t) / (self.alpha + s.t + t)).powf(self.r + s.x);
        (1.0 - alive) + alive * silent
    }

    /// When this customer's next purchase falls: the chance of one within `within` time units of
    /// the end of calibration, and the median and the 10th and 90th percentiles of the wait, given
    /// a purchase within `within` (an 80 % interval).
    ///
    /// Given the history, the customer is alive with probability `P(alive)`; alive, their rate is
    /// Gamma(r + x, alpha + T) and the wait to the next purchase is exponential at that rate, so
    /// `P(wait > w | alive) = (A / (A + w))^s` with `A = alpha + T`, `s = r + x` (a Lomax law); a
    /// dead customer never buys. The wait's distribution up to `within` is then
    /// `F(w) = P(alive) (1 - (A / (A + w))^s)`, and its quantile `q` given `wait <= within` solves
    /// `F(w) = q F(within)`: `w = A ((1 - q c)^(-1/s) - 1)` with `c = 1 - (A / (A + within))^s`.
    /// Computed through `ln_1p` and `exp_m1`, which stay exact when `c` is tiny (a long-lapsed
    /// customer whose `A` dwarfs the window).
    pub fn next_purchase(&self, s: &Summary, within: f64) -> NextPurchase {
        let alive = self.p_alive(s);
        let (a, shape) = (self.alpha + s.t, self.r + s.x);
        // c = 1 - (A / (A + within))^s, without cancellation.
        let c = -(-shape * (within / a).ln_1p()).exp_m1();
        let quantile = |q: f64| a * ((-(-q * c).ln_1p() / shape).exp_m1());
        NextPurchase {
            p_within: alive * c,
            median: quantile(0.5),
            low: quantile(0.1),
            high: quantile(0.9),
        }
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
        crate::optimize::check_gradient(&Likelihood::new(&rows), &[0.3, 5.0, 0.8, 2.5]);
    }

    /// The published CDNOW fit (Fader, Hardie & Lee 2005): r = 0.243, alpha = 4.414, a = 0.793,
    /// b = 2.426, in weeks.
    fn cdnow() -> BgNbd {
        BgNbd::new(0.243, 4.414, 0.793, 2.426)
    }

    #[test]
    fn next_purchase_agrees_with_the_no_purchase_probability_and_a_hand_computation() {
        let cdnow = cdnow();
        let s = Summary::new(2.0, 30.43, 38.86);
        let next = cdnow.next_purchase(&s, 52.0);
        assert!((next.p_within - (1.0 - cdnow.p_no_purchase(&s, 52.0))).abs() < 1e-12);
        // By hand: A = 43.274, s = 2.243, c = 1 - (43.274 / 95.274)^2.243.
        let (a, shape) = (4.414 + 38.86, 0.243 + 2.0);
        let c = 1.0 - (a / (a + 52.0_f64)).powf(shape);
        let median = a * ((1.0 - 0.5 * c).powf(-1.0 / shape) - 1.0);
        assert!(
            (next.median - median).abs() < 1e-9 * median,
            "{} vs {median}",
            next.median
        );
        assert!(next.low < next.median && next.median < next.high && next.high < 52.0);
        // The 90th percentile given a purchase within the window leaves a tenth of F(52) above it.
        let f = |w: f64| cdnow.p_alive(&s) * (1.0 - (a / (a + w)).powf(shape));
        assert!((f(next.high) - 0.9 * f(52.0)).abs() < 1e-12);
        assert!((f(next.low) - 0.1 * f(52.0)).abs() < 1e-12);
    }

    #[test]
    fn next_purchase_is_exact_for_customers_long_gone() {
        // alpha + T dwarfs the window: c ~ 1e-10, where 1 - (A / (A + w))^s would lose most digits.
        let model = BgNbd::new(0.5, 1e9, 0.8, 2.5);
        let next = model.next_purchase(&Summary::new(0.0, 0.0, 1e9), 0.4);
        // c = 1 - (1 + 0.4 / 2e9)^-0.5 = 1e-10 - 3/8 (2e-10)^2 + ...
        assert!((next.p_within - 1e-10).abs() < 1e-19, "{}", next.p_within);
        // Tiny c: the wait given a purchase is nearly uniform over the window.
        assert!((next.median - 0.2).abs() < 1e-6, "{}", next.median);
        assert!((next.low - 0.04).abs() < 1e-6 && (next.high - 0.36).abs() < 1e-6);
    }

    /// Draws waits from the posterior the docs describe (alive or not, then a Gamma rate, then an
    /// exponential wait) and compares their distribution with the closed forms.
    #[test]
    fn next_purchase_matches_draws_from_the_posterior() {
        use rand::{Rng, SeedableRng};
        use rand_distr::{Distribution, Exp, Gamma};
        let cdnow = cdnow();
        let s = Summary::new(3.0, 20.0, 40.0);
        let next = cdnow.next_purchase(&s, 26.0);
        let alive = cdnow.p_alive(&s);
        let rate = Gamma::new(cdnow.r + s.x, 1.0 / (cdnow.alpha + s.t)).expect("gamma");
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let n = 400_000;
        let mut within: Vec<f64> = Vec::new();
        for _ in 0..n {
            if rng.random::<f64>() >= alive {
                continue;
            }
            let wait = Exp::new(rate.sample(&mut rng)).expect("exp").sample(&mut rng);
            if wait <= 26.0 {
                within.push(wait);
            }
        }
        let p = within.len() as f64 / n as f64;
        let se = (next.p_within * (1.0 - next.p_within) / n as f64).sqrt();
        assert!((p - next.p_within).abs() < 4.0 * se, "{p} vs {}", next.p_within);
        within.sort_by(f64::total_cmp);
        let at = |q: f64| within[(q * within.len() as f64) as usize];
        for (q, expected) in [(0.1, next.low), (0.5, next.median), (0.9, next.high)] {
            assert!((at(q) - expected).abs() < 0.02 * 26.0, "q {q}: {} vs {expected}", at(q));
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
