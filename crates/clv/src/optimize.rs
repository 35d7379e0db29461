//! Maximum likelihood in log-parameter space with argmin's L-BFGS, shared by the models.

use argmin::core::{CostFunction, Executor, Gradient, State};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

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

/// A model's log-likelihood over positive parameters.
pub(crate) trait LogLikelihood {
    /// The summed (weighted) log-likelihood and its gradient with respect to the parameters.
    fn evaluate(&self, params: &[f64]) -> (f64, Vec<f64>);
    /// The total weight (number of customers), to work with the mean.
    fn total_weight(&self) -> f64;
}

/// The mean negative log-likelihood over `theta = ln(params)`, so every parameter stays positive.
struct Problem<'a, L> {
    model: &'a L,
}

impl<L: LogLikelihood> Problem<'_, L> {
    fn evaluate(&self, theta: &[f64]) -> (f64, Vec<f64>) {
        let params: Vec<f64> = theta.iter().map(|t| t.exp()).collect();
        let (ll, grad) = self.model.evaluate(&params);
        let n = self.model.total_weight();
        // Chain rule for p = exp(theta): d/dtheta = p d/dp.
        (-ll / n, grad.iter().zip(&params).map(|(g, p)| -g * p / n).collect())
    }
}

impl<L: LogLikelihood> CostFunction for Problem<'_, L> {
    type Param = Vec<f64>;
    type Output = f64;

    fn cost(&self, theta: &Self::Param) -> std::result::Result<f64, argmin::core::Error> {
        let (cost, _) = self.evaluate(theta);
        // A non-finite cost makes the line search back off instead of stepping there.
        Ok(if cost.is_finite() { cost } else { f64::INFINITY })
    }
}

impl<L: LogLikelihood> Gradient for Problem<'_, L> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;

    fn gradient(&self, theta: &Self::Param) -> std::result::Result<Vec<f64>, argmin::core::Error> {
        Ok(self.evaluate(theta).1)
    }
}

/// Rows per chunk below which a likelihood is summed on the calling thread.
const CHUNK_ROWS: usize = 16_384;
/// The number of chunks a large likelihood is split into. It is fixed, not the number of cores, so
/// the floating-point sum (and the fitted parameters, to the last bit) is the same on every machine.
const CHUNKS: usize = 4;

/// Sums `f` over chunks of `rows`, on one scoped thread per chunk when there are many rows, adding
/// the chunk results in order.
pub(crate) fn chunked_sum<T: Sync, const K: usize>(
    rows: &[T],
    f: impl Fn(&[T]) -> (f64, [f64; K]) + Sync,
) -> (f64, [f64; K]) {
    if rows.len() < CHUNK_ROWS * CHUNKS {
        return f(rows);
    }
    let size = rows.len().div_ceil(CHUNKS);
    let parts: Vec<(f64, [f64; K])> = std::thread::scope(|scope| {
        let handles: Vec<_> = rows.chunks(size).map(|chunk| scope.spawn(|| f(chunk))).collect();
        // A panicking chunk cannot happen short of a bug; its sum is then NaN, which the optimizer
        // treats as a failed evaluation and the convergence check refuses.
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or((f64::NAN, [f64::NAN; K])))
            .collect()
    });
    let mut total = (0.0, [0.0; K]);
    for (ll, grad) in parts {
        total.0 += ll;
        for (sum, g) in total.1.iter_mut().zip(grad) {
            *sum += g;
        }
    }
    total
}

/// Rows above which the starting points are tried on a sample first.
pub(crate) const WARM_START_ROWS: usize = 50_000;

/// A systematic sample of about `target` customers from weighted rows: walking the rows in order, a
/// row is taken once for every multiple of `total / target` its cumulative weight crosses, with that
/// step as its weight. It only picks the starting point of the full fit, so it needs to be
/// representative, not exact.
pub(crate) fn weighted_sample<T: Copy>(
    rows: &[T],
    weight: impl Fn(&T) -> f64,
    with_weight: impl Fn(T, f64) -> T,
    target: usize,
) -> Vec<T> {
    let total: f64 = rows.iter().map(&weight).sum();
    let step = total / target.max(1) as f64;
    let mut cumulative = 0.0;
    let mut out = Vec::with_capacity(target + 1);
    for row in rows {
        let before = (cumulative / step).floor();
        cumulative += weight(row);
        let taken = (cumulative / step).floor() - before;
        if taken > 0.0 {
            out.push(with_weight(*row, taken * step));
        }
    }
    out
}

/// Maximizes from `starts`; for many rows, the starts are first tried on `sample`, and the full
/// data is fitted once, from the sample's optimum. The full fit's convergence check decides either way.
pub(crate) fn maximize_warm<L: LogLikelihood, S: LogLikelihood>(
    full: &L,
    rows: usize,
    sample: impl FnOnce() -> S,
    starts: &[Vec<f64>],
    name: &str,
) -> Result<(Vec<f64>, f64, Convergence)> {
    if rows > WARM_START_ROWS {
        if let Ok((best, _, _)) = maximize(&sample(), starts, name) {
            if let Ok(fit) = maximize(full, &[best], name) {
                return Ok(fit);
            }
        }
    }
    maximize(full, starts, name)
}

/// The gradient norm (of the mean log-likelihood) below which a fit counts as converged.
pub(crate) const GRADIENT_TOLERANCE: f64 = 1e-6;

/// Maximizes the likelihood from each starting point (positive parameters) and keeps the best. A
/// best point whose gradient is not near zero, or that is not finite, is [`Error::NotConverged`].
pub(crate) fn maximize<L: LogLikelihood>(
    model: &L,
    starts: &[Vec<f64>],
    name: &str,
) -> Result<(Vec<f64>, f64, Convergence)> {
    let mut best: Option<(f64, Vec<f64>, u64)> = None;
    for start in starts {
        let init: Vec<f64> = start.iter().map(|p| p.ln()).collect();
        let solver = LBFGS::new(MoreThuenteLineSearch::new(), 10)
            .with_tolerance_grad(GRADIENT_TOLERANCE * 0.1)
            .and_then(|s| s.with_tolerance_cost(0.0))
            .map_err(|e| Error::NotConverged(format!("{name}: {e}")))?;
        let Ok(result) = Executor::new(Problem { model }, solver)
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
        best.ok_or_else(|| Error::NotConverged(format!("{name}: no starting point reached a finite likelihood")))?;
    let (_, grad) = Problem { model }.evaluate(&theta);
    let gradient_norm = grad.iter().map(|g| g * g).sum::<f64>().sqrt();
    let params: Vec<f64> = theta.iter().map(|t| t.exp()).collect();
    if !(gradient_norm < GRADIENT_TOLERANCE && params.iter().all(|p| p.is_finite() && *p > 0.0)) {
        return Err(Error::NotConverged(format!(
            "{name}: gradient norm {gradient_norm:.2e} at parameters {params:?}"
        )));
    }
    Ok((
        params,
        -cost * model.total_weight(),
        Convergence {
            iterations,
            gradient_norm,
            starts: starts.len(),
        },
    ))
}

#[cfg(test)]
pub(crate) fn check_gradient<L: LogLikelihood>(model: &L, params: &[f64]) {
    let (_, grad) = model.evaluate(params);
    for k in 0..params.len() {
        let h = 1e-6 * params[k];
        let (mut up, mut down) = (params.to_vec(), params.to_vec());
        up[k] += h;
        down[k] -= h;
        let numeric = (model.evaluate(&up).0 - model.evaluate(&down).0) / (2.0 * h);
        assert!(
            (numeric - grad[k]).abs() < 1e-5 * (1.0 + numeric.abs()),
            "parameter {k}: {numeric} vs {}",
            grad[k]
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_sums_equal_the_serial_sum() {
        let rows: Vec<f64> = (0..CHUNK_ROWS * CHUNKS * 2 + 7)
            .map(|i| (i % 97) as f64 * 0.25)
            .collect();
        let f = |chunk: &[f64]| (chunk.iter().sum::<f64>(), [chunk.len() as f64]);
        let (sum, [count]) = chunked_sum(&rows, f);
        assert_eq!(count, rows.len() as f64);
        // Quarter multiples below 2^53 add exactly, so the chunked sum equals the serial one.
        assert_eq!(sum, rows.iter().sum::<f64>());
    }
}
