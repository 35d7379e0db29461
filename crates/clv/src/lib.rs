//! Customer lifetime value for `churn`: the BG/NBD model of repeat purchasing and the Gamma-Gamma
//! model of spend (Fader, Hardie & Lee 2005), fitted by maximum likelihood.
//!
//! - [`Summary`] is one customer's (or, with a weight, a group of identical customers')
//!   calibration-period statistics: `x` repeat transactions, `t_x` the time of the last one and `t`
//!   the age, in one time unit (days or weeks).
//! - [`BgNbd::fit`] maximizes the log-likelihood in log-parameter space (so the parameters stay
//!   positive) with argmin's L-BFGS from several starting points, using the analytic gradient, and
//!   refuses a fit that did not converge.
//! - [`BgNbd::p_alive`] and [`BgNbd::expected_transactions`] are the per-customer predictions.
//! - [`GammaGamma::fit`] fits the spend per transaction on repeat buyers, and
//!   [`GammaGamma::expected_spend`] gives a customer's expected mean transaction value.
//!
//! ```
//! use churn_clv::{BgNbd, Summary};
//!
//! // The published CDNOW parameters and its point check (Fader, Hardie & Lee 2005).
//! let model = BgNbd::new(0.2425982, 4.4136842, 0.7929899, 2.4261667);
//! let customer = Summary::new(2.0, 30.43, 38.86);
//! assert!((model.p_alive(&customer) - 0.7266).abs() < 5e-5);
//! assert!((model.expected_transactions(&customer, 39.0) - 1.226).abs() < 5e-4);
//! ```

mod bgnbd;
mod error;
mod gamma_gamma;
mod model;
mod optimize;
mod params;

pub use bgnbd::{collapse, BgNbd, NextPurchase, Summary};
pub use error::{Error, ParamError, Result};
pub use gamma_gamma::{GammaGamma, Spend};
pub use model::{
    discounted_transactions, ClvModel, ClvSettings, FitData, History, Prediction, TimeUnit, CLV_FORMAT, CLV_VERSION,
    DAYS_PER_YEAR, DISCOUNT_STEP_DAYS, NEXT_PURCHASE_WINDOW_DAYS,
};
pub use optimize::Convergence;
pub use params::{churn_inputs, ClvParams, ValidClvParams, MAX_ANNUAL_DISCOUNT_RATE};
