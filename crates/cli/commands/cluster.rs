//! `churn cluster scheduler|executor`: this binary as a part of an Apache DataFusion Ballista
//! cluster.
//!
//! Ballista ships a scheduler and an executor binary of its own, but they know only DataFusion's
//! functions: the one read of the log calls the project's (`churn_features::cluster::functions`),
//! which travel in a plan by name. So the cluster's processes are `churn` itself, with those
//! functions registered in the scheduler's sessions (it plans the stages) and in every executor's
//! registry (they decode and run them), and the text reader's plan node in everyone's codecs.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{anyhow, Context, Result};
use ballista_core::registry::BallistaFunctionRegistry;
use ballista_executor::executor_process::{start_executor_process, ExecutorProcessConfig};
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::start_server;
use churn_features::cluster::codec::{LogicalCodec, PhysicalCodec};
use datafusion::execution::{FunctionRegistry, SessionState};
use datafusion::prelude::SessionConfig;

use crate::args::{ClusterCommand, ExecutorArgs, SchedulerArgs};

/// The executor's memory budget when `--memory-limit-mb` is not given: the local engine's default.
const DEFAULT_EXECUTOR_MEMORY_MB: u64 = 1024;

/// Seconds between an executor's heartbeats. Ballista's default (60 s) would let a lost executor
/// go unnoticed for minutes; a heartbeat is a few hundred bytes.
const HEARTBEAT_SECONDS: u64 = 5;

/// Seconds an executor keeps retrying to reach a scheduler that is not up yet (both are often
/// started together by a service manager).
const SCHEDULER_CONNECT_SECONDS: u16 = 60;

pub fn cluster(command: ClusterCommand) -> Result<()> {
    // Deep SQL expressions are planned recursively; Ballista's own binaries use 32 MiB stacks too.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(32 << 20)
        .build()
        .context("cannot start the runtime")?;
    match command {
        ClusterCommand::Scheduler(args) => runtime.block_on(scheduler(args)),
        ClusterCommand::Executor(args) => runtime.block_on(executor(args)),
    }
}

/// A scheduler's sessions: Ballista's defaults plus the project's functions.
fn session_with_functions(config: SessionConfig) -> datafusion::error::Result<SessionState> {
    let mut state = ballista_core::utils::default_session_builder(config)?;
    let functions = churn_features::cluster::functions();
    for f in functions.scalar {
        state.register_udf(f)?;
    }
    for f in functions.aggregate {
        state.register_udaf(f)?;
    }
    Ok(state)
}

fn socket_address(host: &str, port: u16) -> Result<SocketAddr> {
    (host, port)
        .to_socket_addrs()
        .with_context(|| format!("--bind {host}: not an address to listen on"))?
        .next()
        .ok_or_else(|| anyhow!("--bind {host}: the name resolves to no address"))
}

async fn scheduler(args: SchedulerArgs) -> Result<()> {
    let address = socket_address(&args.bind, args.port)?;
    let mut config = SchedulerConfig {
        bind_host: args.bind.clone(),
        bind_port: args.port,
        external_host: args.bind.clone(),
        executor_timeout_seconds: args.executor_timeout,
        // Look for lost executors as often as they are expected to beat.
        expire_dead_executor_interval_seconds: HEARTBEAT_SECONDS,
        no_executors_grace_period_seconds: args.executor_timeout,
        ..SchedulerConfig::default()
    };
    config = config.with_override_session_builder(Arc::new(session_with_functions));
    // The text reader's table and plan node travel through the project's codecs.
    config.override_logical_codec = Some(Arc::new(LogicalCodec::default()));
    config.override_physical_codec = Some(Arc::new(PhysicalCodec::default()));
    let cluster = BallistaCluster::new_from_config(&config)
        .await
        .map_err(|e| anyhow!("cannot set up the scheduler: {e}"))?;
    eprintln!(
        "churn cluster scheduler: listening on {address}; drivers use --cluster df://{}:{}",
        args.bind, args.port
    );
    start_server(cluster, address, Arc::new(config))
        .await
        .map_err(|e| anyhow!("the scheduler on {address} stopped: {e}"))
}

/// `HOST:PORT`, as `--scheduler` takes it (a `df://` prefix is forgiven), read as the drivers'
/// `--cluster` address is.
fn scheduler_host_port(text: &str) -> Result<(String, u16)> {
    let bare = text.strip_prefix("df://").unwrap_or(text);
    let expected =
        || crate::settings::config_error(format!("--scheduler {text}: expected HOST:PORT, e.g. 127.0.0.1:50050"));
    // The port is required here: an executor and its scheduler are configured side by side.
    if !bare.contains(':') {
        return Err(expected());
    }
    let address: churn_features::cluster::SchedulerAddress = format!("df://{bare}").parse().map_err(|_| expected())?;
    Ok((address.host, address.port))
}

/// The name other machines reach an executor by: `--external-host`, else the address it listens
/// on, which must then be a real one (drivers told `0.0.0.0` would fetch results from themselves).
fn external_host(bind: &str, external: Option<&str>) -> Result<String> {
    match (external, bind.parse::<std::net::IpAddr>()) {
        (Some(host), _) => Ok(host.to_string()),
        (None, Ok(ip)) if ip.is_unspecified() => Err(crate::settings::config_error(format!(
            "--bind {bind} listens on every interface, so other machines need --external-host: the name or \
             address they reach this executor by"
        ))),
        (None, _) => Ok(bind.to_string()),
    }
}

async fn executor(args: ExecutorArgs) -> Result<()> {
    let (scheduler_host, scheduler_port) = scheduler_host_port(&args.scheduler)?;
    let grpc_port = match args.grpc_port {
        Some(port) => port,
        None => args
            .port
            .checked_add(1)
            .ok_or_else(|| anyhow!("--port {}: no room for --grpc-port above it", args.port))?,
    };
    socket_address(&args.bind, args.port)?;
    // The work directory holds shuffle files; without --work-dir it is a temporary directory that
    // lives as long as this process (`_temporary` is dropped, and removed, at return).
    let (_temporary, work_dir): (Option<tempfile::TempDir>, PathBuf) = match &args.work_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create --work-dir {}", dir.display()))?;
            (None, dir.clone())
        }
        None => {
            let dir = tempfile::Builder::new()
                .prefix("churn-executor-")
                .tempdir()
                .context("cannot create a work directory")?;
            let path = dir.path().to_path_buf();
            (Some(dir), path)
        }
    };
    let mut registry = BallistaFunctionRegistry::default();
    let functions = churn_features::cluster::functions();
    for f in functions.scalar {
        registry.scalar_functions.insert(f.name().to_string(), f);
    }
    for f in functions.aggregate {
        registry.aggregate_functions.insert(f.name().to_string(), f);
    }
    let external_host = external_host(&args.bind, args.external_host.as_deref())?;
    let memory_mb = args.memory_limit_mb.unwrap_or(DEFAULT_EXECUTOR_MEMORY_MB);
    let config = ExecutorProcessConfig {
        bind_host: args.bind.clone(),
        external_host: Some(external_host),
        port: args.port,
        grpc_port,
        scheduler_host,
        scheduler_port,
        scheduler_connect_timeout_seconds: SCHEDULER_CONNECT_SECONDS,
        // 0: every core.
        vcores: args.concurrent_tasks.unwrap_or(0),
        work_dir: Some(work_dir.to_string_lossy().into_owned()),
        executor_heartbeat_interval_seconds: HEARTBEAT_SECONDS,
        memory_pool_size: Some(memory_mb.saturating_mul(1 << 20)),
        override_function_registry: Some(Arc::new(registry)),
        override_logical_codec: Some(Arc::new(LogicalCodec::default())),
        override_physical_codec: Some(Arc::new(PhysicalCodec::default())),
        ..ExecutorProcessConfig::default()
    };
    eprintln!(
        "churn cluster executor: serving on {}:{} (tasks on {grpc_port}), scheduler {}, work directory {}",
        args.bind,
        args.port,
        args.scheduler,
        work_dir.display()
    );
    start_executor_process(Arc::new(config))
        .await
        .map_err(|e| anyhow!("the executor on {}:{} stopped: {e}", args.bind, args.port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheduler_addresses_are_host_and_port() {
        assert_eq!(
            scheduler_host_port("10.0.0.5:50050").expect("ok"),
            ("10.0.0.5".to_string(), 50050)
        );
        assert_eq!(scheduler_host_port("df://h:7").expect("ok"), ("h".to_string(), 7));
        for bad in ["10.0.0.5", ":50050", "h:port", "h:70000"] {
            assert!(scheduler_host_port(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_executor_on_every_interface_needs_an_external_host() {
        assert_eq!(external_host("127.0.0.1", None).expect("ok"), "127.0.0.1");
        assert_eq!(
            external_host("0.0.0.0", Some("exec-1.internal")).expect("ok"),
            "exec-1.internal"
        );
        for bind in ["0.0.0.0", "::"] {
            let err = external_host(bind, None).expect_err("no name to advertise");
            assert!(err.downcast_ref::<crate::settings::ConfigError>().is_some());
            assert!(err.to_string().contains("--external-host"), "{err}");
        }
    }

    #[test]
    fn the_scheduler_knows_the_project_functions() {
        let state = session_with_functions(SessionConfig::new()).expect("ok");
        for name in ["churn_row_hash", "churn_key_hash", "churn_local_micros"] {
            assert!(state.udf(name).is_ok(), "{name}");
        }
        for name in ["churn_timeline", "churn_timeline_dups", "churn_timeline_drop"] {
            assert!(state.udaf(name).is_ok(), "{name}");
        }
    }
}
