//! The heavy stage on an Apache DataFusion Ballista cluster.
//!
//! The one read of the log ([`crate::read_log`] and the other entry points that read the input) is a
//! DataFusion plan. With [`FeatureParams::cluster`](crate::FeatureParams::cluster) set to a
//! scheduler's `df://host:port`, the engine session is a Ballista client: the same SQL is planned
//! here, shipped to the scheduler, split into stages, and run by the executors, and only its
//! result (a few rows per customer) comes back to this process, where the timelines, the models
//! and the outputs are built exactly as in a local run.
//!
//! The query calls the project's own functions (`churn_row_hash`, `churn_key_hash`,
//! `churn_distinct_lines`, `churn_distinct_sum`, `churn_local_micros`), which travel in a plan by
//! name: the scheduler that plans the stages and every executor that runs them must know them.
//! [`functions`] is the one list of them; `churn cluster scheduler` and `churn cluster executor`
//! register it, which is why the cluster's processes are this binary rather than Ballista's own.
//!
//! The input paths travel in the plan as they are, so every executor must be able to read them:
//! a shared filesystem mounted at the same path everywhere.
//!
//! ```
//! use churn_features::cluster::{functions, SchedulerAddress};
//!
//! let address: SchedulerAddress = "df://10.0.0.5:50050".parse().unwrap();
//! assert_eq!((address.host.as_str(), address.port), ("10.0.0.5", 50050));
//! assert!("http://10.0.0.5".parse::<SchedulerAddress>().is_err());
//!
//! let names: Vec<String> = functions().scalar.iter().map(|f| f.name().to_string()).collect();
//! assert!(names.contains(&"churn_row_hash".to_string()));
//! ```

use std::net::ToSocketAddrs;
use std::sync::Arc;
use std::time::Duration;

use datafusion::logical_expr::{AggregateUDF, ScalarUDF};
use datafusion::prelude::SessionContext;

use crate::error::{Error, Result};

/// The scheduler's port when a `df://` address names none (Ballista's default).
pub const DEFAULT_SCHEDULER_PORT: u16 = 50050;

/// How long the driver waits for the scheduler's port to answer before it gives up: a scheduler
/// that is up answers in milliseconds; one that is down should fail the run now, not after a
/// query's retries.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The functions the engine's queries call, beyond DataFusion's own.
pub struct Functions {
    /// Scalar functions.
    pub scalar: Vec<Arc<ScalarUDF>>,
    /// Aggregate functions.
    pub aggregate: Vec<Arc<AggregateUDF>>,
}

/// Every function of the project's queries: registered by the local engine, and by the cluster's
/// scheduler and executors.
pub fn functions() -> Functions {
    let (hashes, distinct) = crate::lines::functions();
    let mut scalar: Vec<Arc<ScalarUDF>> = hashes.into_iter().map(Arc::new).collect();
    scalar.push(Arc::new(ScalarUDF::from(crate::local_time::LocalMicros::new())));
    Functions {
        scalar,
        aggregate: distinct.into_iter().map(Arc::new).collect(),
    }
}

/// Registers [`functions`] with a session (the driver's, local or remote).
pub(crate) fn register_functions(ctx: &SessionContext) {
    let functions = functions();
    for f in functions.scalar {
        ctx.register_udf(f.as_ref().clone());
    }
    for f in functions.aggregate {
        ctx.register_udaf(f.as_ref().clone());
    }
}

/// A Ballista scheduler's address, written `df://host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchedulerAddress {
    /// Host name or IP address.
    pub host: String,
    /// The scheduler's gRPC port.
    pub port: u16,
}

impl std::fmt::Display for SchedulerAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "df://{}:{}", self.host, self.port)
    }
}

impl std::str::FromStr for SchedulerAddress {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Self, String> {
        let expected =
            || format!("{text:?} is not a scheduler address: expected df://HOST:PORT, e.g. df://127.0.0.1:50050");
        let rest = text.strip_prefix("df://").ok_or_else(expected)?;
        let rest = rest.trim_end_matches('/');
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, port)) => (host, port.parse::<u16>().map_err(|_| expected())?),
            None => (rest, DEFAULT_SCHEDULER_PORT),
        };
        if host.is_empty() || host.contains(['/', '@', '?', '#']) || port == 0 {
            return Err(expected());
        }
        Ok(SchedulerAddress {
            host: host.to_string(),
            port,
        })
    }
}

impl SchedulerAddress {
    /// Fails with a clear error unless something accepts connections at the address.
    pub fn check_reachable(&self) -> Result<()> {
        let unreachable = |reason: String| Error::Cluster(format!("cannot reach the scheduler at {self}: {reason}"));
        let addresses: Vec<_> = (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(|e| unreachable(format!("cannot resolve {}: {e}", self.host)))?
            .collect();
        let mut last = None;
        for address in addresses {
            match std::net::TcpStream::connect_timeout(&address, CONNECT_TIMEOUT) {
                Ok(_) => return Ok(()),
                Err(e) => last = Some(e),
            }
        }
        Err(unreachable(last.map_or_else(
            || "the name resolves to no address".to_string(),
            |e| e.to_string(),
        )))
    }
}

/// A Ballista client session on the scheduler at `address`, with the given engine settings and
/// the project's functions.
#[cfg(feature = "cluster")]
pub(crate) async fn remote_context(
    address: &SchedulerAddress,
    config: datafusion::prelude::SessionConfig,
) -> Result<SessionContext> {
    use ballista::prelude::SessionContextExt;
    use datafusion::execution::SessionStateBuilder;
    address.check_reachable()?;
    let state = SessionStateBuilder::new()
        .with_default_features()
        .with_config(config)
        .build();
    let ctx = SessionContext::remote_with_state(&address.to_string(), state)
        .await
        .map_err(|e| Error::Cluster(format!("cannot open a session on the scheduler at {address}: {e}")))?;
    register_functions(&ctx);
    Ok(ctx)
}

/// Without the `cluster` feature, asking for a cluster is an error that says how to get one.
#[cfg(not(feature = "cluster"))]
pub(crate) async fn remote_context(
    address: &SchedulerAddress,
    _config: datafusion::prelude::SessionConfig,
) -> Result<SessionContext> {
    Err(Error::Cluster(format!(
        "this build of churn cannot use the cluster at {address}: it was built without the `cluster` feature"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_with_and_without_a_port() {
        let a: SchedulerAddress = "df://scheduler.internal".parse().expect("ok");
        assert_eq!(a.port, DEFAULT_SCHEDULER_PORT);
        assert_eq!(a.to_string(), "df://scheduler.internal:50050");
        let b: SchedulerAddress = "df://127.0.0.1:6000/".parse().expect("ok");
        assert_eq!((b.host.as_str(), b.port), ("127.0.0.1", 6000));
        for bad in [
            "127.0.0.1:50050",
            "df://",
            "df://host:port",
            "df://host:0",
            "df://a/b:1",
            "grpc://h:1",
        ] {
            let err = bad.parse::<SchedulerAddress>().expect_err("an error");
            assert!(err.contains("expected df://HOST:PORT"), "{bad}: {err}");
        }
    }

    #[test]
    fn an_unreachable_scheduler_is_named() {
        // A port nothing listens on: bind one, learn it, close it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("ok")
            .local_addr()
            .expect("ok")
            .port();
        let address: SchedulerAddress = format!("df://127.0.0.1:{port}").parse().expect("ok");
        let err = address.check_reachable().expect_err("an error").to_string();
        assert!(
            err.contains(&format!("cannot reach the scheduler at df://127.0.0.1:{port}")),
            "{err}"
        );
    }

    #[test]
    fn every_function_has_a_distinct_name() {
        let f = functions();
        let mut names: Vec<String> = f
            .scalar
            .iter()
            .map(|f| f.name().to_string())
            .chain(f.aggregate.iter().map(|f| f.name().to_string()))
            .collect();
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n);
        assert_eq!(n, 5);
    }
}
