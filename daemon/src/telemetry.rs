//! Logs and metrics: a `tracing` subscriber (human on a terminal, JSON otherwise, level reloadable on SIGHUP) and
//! the Prometheus recorder behind `GET /metrics`.

use std::io::IsTerminal;
use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Registry, reload};

use crate::config::{LogConfig, LogFormat};

/// Lets a reload change the log filter. The format is fixed at start.
#[derive(Clone)]
pub struct LogHandle {
    filter: Option<reload::Handle<EnvFilter, Registry>>,
}

impl LogHandle {
    /// A handle that changes nothing (for embedding without a global subscriber).
    pub fn detached() -> Self {
        Self { filter: None }
    }

    /// Applies a new level from a reloaded config (unless `RUST_LOG` pins it).
    pub fn apply(&self, config: &LogConfig) {
        if std::env::var_os("RUST_LOG").is_some() {
            return;
        }
        if let (Some(handle), Ok(filter)) = (
            &self.filter,
            EnvFilter::try_new(quiet_dependencies(&config.level)),
        ) {
            let _ = handle.reload(filter);
        }
    }
}

/// The storage engine logs its tuning at `info` on every start; keep it at `warn` unless the level names it.
/// `surrealkv::lsm` also warns "No runtime available for closing the store" at every clean shutdown: its commit
/// thread drops its own clone of the tree outside the runtime, after the engine has already flushed and closed
/// it. That line is noise, so that target is kept at `error`.
fn quiet_dependencies(level: &str) -> String {
    if level.contains("surreal") {
        level.to_string()
    } else {
        format!("{level},surrealdb=warn,surrealkv=warn,surrealkv::lsm=error")
    }
}

/// Installs the global subscriber. `RUST_LOG` overrides `log.level`.
pub fn init_logging(config: &LogConfig) -> LogHandle {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(quiet_dependencies(&config.level)))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let (filter, handle) = reload::Layer::new(filter);
    let json = match config.format {
        LogFormat::Json => true,
        LogFormat::Human => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    let registry = tracing_subscriber::registry().with(filter);
    let installed = if json {
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(std::io::stderr),
            )
            .try_init()
    } else {
        registry
            .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
            .try_init()
    };
    LogHandle {
        filter: installed.ok().map(|_| handle),
    }
}

/// Installs the Prometheus recorder once per process and returns its handle.
pub fn install_metrics() -> anyhow::Result<PrometheusHandle> {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    if let Some(handle) = HANDLE.get() {
        return Ok(handle.clone());
    }
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    // Another thread may have won the race; its recorder stays installed and its handle is the one to use.
    if metrics::set_global_recorder(recorder).is_ok() {
        let _ = HANDLE.set(handle);
    }
    HANDLE
        .get()
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("a metrics recorder was installed by someone else"))
}
