//! The heavy stage on an Apache DataFusion Ballista cluster.
//!
//! The one read of the log ([`crate::read_log`] and the other entry points that read the input) is a
//! DataFusion plan. With [`FeatureParams::cluster`](crate::FeatureParams::cluster) set to a
//! scheduler's `df://host:port`, the engine session is a Ballista client: the same SQL is planned
//! here, shipped to the scheduler, split into stages, and run by the executors, and only its
//! result (the compact groups, in effect one row per order) comes back to this process, where the
//! timelines, the models and the outputs are built exactly as in a local run.
//!
//! The query calls the project's own functions (`churn_row_hash`, `churn_key_hash`,
//! `churn_timeline`, `churn_timeline_dups`, `churn_timeline_drop`, `churn_local_micros`), which travel in a plan by
//! name: the scheduler that plans the stages and every executor that runs them must know them.
//! [`functions`] is the one list of them; `churn cluster scheduler` and `churn cluster executor`
//! register it, which is why the cluster's processes are this binary rather than Ballista's own.
//!
//! Text input is read by the project's own plan node (`TextScanExec`), which Ballista's plan codecs
//! do not know: the `codec` module (with the `cluster` feature) adds it, and every side of the cluster uses those codecs.
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
    let mut scalar: Vec<Arc<ScalarUDF>> = crate::lines::functions().into_iter().map(Arc::new).collect();
    scalar.push(Arc::new(ScalarUDF::from(crate::local_time::LocalMicros::new())));
    Functions {
        scalar,
        aggregate: crate::gather::functions().into_iter().map(Arc::new).collect(),
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
    /// Fails with a clear error unless the scheduler answers and has an executor to run tasks.
    ///
    /// A Ballista scheduler accepts jobs while it has no executors and waits for one without
    /// limit, so a driver that only connected would hang all night on a cluster whose executors
    /// are down. The scheduler's `/readyz` endpoint (on its gRPC port) says how many executors
    /// are alive; executors started with the scheduler register within a heartbeat, so a
    /// not-ready cluster is asked again for up to 15 seconds before the run fails.
    ///
    /// Returns the number of executors alive.
    pub fn check_ready(&self) -> Result<usize> {
        let started = std::time::Instant::now();
        loop {
            let ready = self.readiness()?;
            match ready.status {
                200 => {
                    self.check_versions(&ready)?;
                    return Ok(ready.executors().unwrap_or(1));
                }
                503 if started.elapsed() < READY_WAIT => std::thread::sleep(Duration::from_millis(250)),
                503 => {
                    return Err(Error::Cluster(format!(
                        "the scheduler at {self} has no executor to run the job ({}); start one with \
                         `churn cluster executor --scheduler {}:{}`",
                        ready.body.trim(),
                        self.host,
                        self.port
                    )))
                }
                other => {
                    return Err(Error::Cluster(format!(
                        "{self} does not answer like a Ballista scheduler (HTTP {other} from /readyz: {})",
                        ready.body.trim()
                    )))
                }
            }
        }
    }

    /// The scheduler runs plans this process serializes: it must be on the same DataFusion.
    fn check_versions(&self, ready: &Readiness) -> Result<()> {
        match &ready.datafusion {
            Some(theirs) if *theirs != datafusion::DATAFUSION_VERSION => Err(Error::Cluster(format!(
                "the scheduler at {self} runs DataFusion {theirs}, this churn {}: the cluster must run \
                 the same churn release as the driver",
                datafusion::DATAFUSION_VERSION
            ))),
            _ => Ok(()),
        }
    }

    /// One `GET /readyz`. Written on a plain socket rather than with an HTTP client library: it is
    /// one request and a status line, and the project has no other use for an HTTP client.
    fn readiness(&self) -> Result<Readiness> {
        use std::io::{Read, Write};
        let unreachable = |reason: String| Error::Cluster(format!("cannot reach the scheduler at {self}: {reason}"));
        let addresses: Vec<_> = (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(|e| unreachable(format!("cannot resolve {}: {e}", self.host)))?
            .collect();
        let mut last = None;
        let mut stream = None;
        for address in addresses {
            match std::net::TcpStream::connect_timeout(&address, CONNECT_TIMEOUT) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        let Some(mut stream) = stream else {
            return Err(unreachable(last.map_or_else(
                || "the name resolves to no address".to_string(),
                |e| e.to_string(),
            )));
        };
        let io = |e: std::io::Error| unreachable(format!("asking /readyz: {e}"));
        stream.set_read_timeout(Some(CONNECT_TIMEOUT)).map_err(io)?;
        stream.set_write_timeout(Some(CONNECT_TIMEOUT)).map_err(io)?;
        write!(
            stream,
            "GET /readyz HTTP/1.1\r\nHost: {}:{}\r\nConnection: close\r\n\r\n",
            self.host, self.port
        )
        .map_err(io)?;
        let mut response = Vec::new();
        stream.take(64 * 1024).read_to_end(&mut response).map_err(io)?;
        Readiness::parse(&String::from_utf8_lossy(&response))
            .ok_or_else(|| Error::Cluster(format!("{self} does not answer like a Ballista scheduler")))
    }
}

/// How long the driver waits for a scheduler without executors to get one.
const READY_WAIT: Duration = Duration::from_secs(15);

/// The scheduler's answer to `GET /readyz`.
#[derive(Debug, PartialEq)]
struct Readiness {
    status: u16,
    body: String,
    /// From the `x-powered-by: datafusion/<version>` header.
    datafusion: Option<String>,
}

impl Readiness {
    /// The executors alive, from a ready answer's body (`ready: 2 executors registered`).
    fn executors(&self) -> Option<usize> {
        self.body
            .trim()
            .strip_prefix("ready: ")?
            .split(' ')
            .next()?
            .parse()
            .ok()
    }

    fn parse(response: &str) -> Option<Readiness> {
        let (head, body) = response.split_once("\r\n\r\n")?;
        let mut lines = head.lines();
        let status = lines.next()?.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()?;
        let datafusion = lines.find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.trim()
                .eq_ignore_ascii_case("x-powered-by")
                .then(|| value.trim().strip_prefix("datafusion/").map(str::to_string))
                .flatten()
        });
        Some(Readiness {
            status,
            body: body.to_string(),
            datafusion,
        })
    }
}

/// A Ballista client session on the scheduler at `address`, with the given engine settings and
/// the project's functions. The plan is split into `tasks_per_executor` partitions per executor
/// alive, so that every executor has work from the first stage on.
#[cfg(feature = "cluster")]
pub(crate) async fn remote_context(
    address: &SchedulerAddress,
    config: datafusion::prelude::SessionConfig,
    tasks_per_executor: usize,
) -> Result<SessionContext> {
    use ballista::prelude::SessionContextExt;
    use datafusion::execution::SessionStateBuilder;
    let executors = address.check_ready()?;
    use ballista::prelude::SessionConfigExt;
    let config = config
        .with_target_partitions(executors.max(1) * tasks_per_executor.max(1))
        .with_ballista_logical_extension_codec(Arc::new(codec::LogicalCodec::default()))
        .with_ballista_physical_extension_codec(Arc::new(codec::PhysicalCodec::default()));
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

/// The plan codecs of every side of a cluster (driver, scheduler, executors): Ballista's own, plus
/// the text reader's table and plan node (see `crate::text_scan`), which they do not know.
///
/// A node of ours is written as [`codec::TEXT_SCAN_TAG`] followed by its JSON; anything else is left to
/// Ballista's codec, whose bytes are a protobuf message and never start with the tag.
#[cfg(feature = "cluster")]
pub mod codec {
    use std::sync::Arc;

    use arrow::datatypes::SchemaRef;
    use ballista_core::serde::{BallistaLogicalExtensionCodec, BallistaPhysicalExtensionCodec};
    use datafusion::catalog::TableProvider;
    use datafusion::common::TableReference;
    use datafusion::error::{DataFusionError, Result};
    use datafusion::execution::TaskContext;
    use datafusion::logical_expr::{Extension, LogicalPlan};
    use datafusion::physical_plan::ExecutionPlan;
    use datafusion_proto::logical_plan::LogicalExtensionCodec;
    use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};

    use crate::text_scan::{TextScanExec, TextScanWire, TextTable};

    /// The first bytes of an encoded text scan.
    pub const TEXT_SCAN_TAG: &[u8] = b"churn-text-scan/1\n";

    fn encode(wire: &TextScanWire, buf: &mut Vec<u8>) -> Result<()> {
        buf.extend_from_slice(TEXT_SCAN_TAG);
        serde_json::to_writer(buf, wire).map_err(|e| DataFusionError::Internal(format!("encoding a text scan: {e}")))
    }

    fn decode(buf: &[u8]) -> Option<Result<TextScanWire>> {
        let json = buf.strip_prefix(TEXT_SCAN_TAG)?;
        Some(serde_json::from_slice(json).map_err(|e| DataFusionError::Internal(format!("decoding a text scan: {e}"))))
    }

    /// Ballista's logical codec, and the text table.
    #[derive(Debug, Default)]
    pub struct LogicalCodec {
        ballista: BallistaLogicalExtensionCodec,
    }

    impl LogicalExtensionCodec for LogicalCodec {
        fn try_decode(&self, buf: &[u8], inputs: &[LogicalPlan], ctx: &TaskContext) -> Result<Extension> {
            self.ballista.try_decode(buf, inputs, ctx)
        }

        fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> Result<()> {
            self.ballista.try_encode(node, buf)
        }

        fn try_decode_table_provider(
            &self,
            buf: &[u8],
            table_ref: &TableReference,
            schema: SchemaRef,
            ctx: &TaskContext,
        ) -> Result<Arc<dyn TableProvider>> {
            match decode(buf) {
                Some(wire) => {
                    let (scan, _) = wire?.into_scan()?;
                    Ok(Arc::new(TextTable { scan }))
                }
                None => self.ballista.try_decode_table_provider(buf, table_ref, schema, ctx),
            }
        }

        fn try_encode_table_provider(
            &self,
            table_ref: &TableReference,
            node: Arc<dyn TableProvider>,
            buf: &mut Vec<u8>,
        ) -> Result<()> {
            match node.downcast_ref::<TextTable>() {
                Some(table) => encode(&TextScanWire::new(&table.scan, None), buf),
                None => self.ballista.try_encode_table_provider(table_ref, node, buf),
            }
        }
    }

    /// Ballista's physical codec (its shuffle nodes), and the text scan node.
    #[derive(Debug, Default)]
    pub struct PhysicalCodec {
        ballista: BallistaPhysicalExtensionCodec,
    }

    impl PhysicalExtensionCodec for PhysicalCodec {
        fn try_decode(
            &self,
            buf: &[u8],
            inputs: &[Arc<dyn ExecutionPlan>],
            ctx: &TaskContext,
            proto_converter: &dyn PhysicalProtoConverterExtension,
        ) -> Result<Arc<dyn ExecutionPlan>> {
            match decode(buf) {
                Some(wire) => {
                    let (scan, projection) = wire?.into_scan()?;
                    Ok(Arc::new(TextScanExec::new(scan, projection)?))
                }
                None => self.ballista.try_decode(buf, inputs, ctx, proto_converter),
            }
        }

        fn try_encode(
            &self,
            node: Arc<dyn ExecutionPlan>,
            buf: &mut Vec<u8>,
            proto_converter: &dyn PhysicalProtoConverterExtension,
        ) -> Result<()> {
            match node.downcast_ref::<TextScanExec>() {
                Some(exec) => encode(&TextScanWire::new(&exec.scan, exec.projection.clone()), buf),
                None => self.ballista.try_encode(node, buf, proto_converter),
            }
        }
    }
}

/// Without the `cluster` feature, asking for a cluster is an error that says how to get one.
#[cfg(not(feature = "cluster"))]
pub(crate) async fn remote_context(
    address: &SchedulerAddress,
    _config: datafusion::prelude::SessionConfig,
    _tasks_per_executor: usize,
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
        let err = address.check_ready().expect_err("nothing listens").to_string();
        assert!(
            err.contains(&format!("cannot reach the scheduler at df://127.0.0.1:{port}")),
            "{err}"
        );
    }

    #[test]
    fn readiness_answers_are_read_with_their_engine_version() {
        let ready = "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\nserver: ballista/55.0.0\r\n\
                     X-Powered-By: datafusion/55.2.0\r\n\r\nnot ready: 0/1 executors registered\n";
        assert_eq!(
            Readiness::parse(ready),
            Some(Readiness {
                status: 503,
                body: "not ready: 0/1 executors registered\n".into(),
                datafusion: Some("55.2.0".into()),
            })
        );
        assert_eq!(Readiness::parse(ready).and_then(|r| r.executors()), None);
        assert_eq!(Readiness::parse("SSH-2.0-OpenSSH_9.2\r\n"), None);
        let other =
            Readiness::parse("HTTP/1.1 200 OK\r\nx-powered-by: datafusion/1.0.0\r\n\r\nready\n").expect("parsed");
        let address: SchedulerAddress = "df://h:1".parse().expect("ok");
        let err = address.check_versions(&other).expect_err("another engine").to_string();
        assert!(err.contains("runs DataFusion 1.0.0"), "{err}");
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
        assert_eq!(n, 6);
    }
}
