//! Running the daemon: the actix `System` on a multi-threaded tokio runtime, the store, the actors, the axum
//! server on a listener passed in by the caller, systemd notifications, SIGHUP reloads and graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix::Actor;
use anyhow::Context as _;
use tokio::net::TcpListener;

use crate::actors::Runtime;
use crate::actors::registry::TenantRegistry;

use crate::config::{Config, Overrides};
use crate::credentials::SessionKeys;
use crate::http::{self, AppState};
use crate::store::Store;
use crate::telemetry::LogHandle;

/// Where the config came from, so SIGHUP can read it again the same way.
#[derive(Clone, Debug, Default)]
pub struct ConfigSource {
    /// The config file, if any.
    pub path: Option<PathBuf>,
    /// Command-line and environment overrides.
    pub overrides: Overrides,
}

impl ConfigSource {
    /// Loads and validates the config.
    pub fn load(&self) -> Result<Config, crate::config::ConfigError> {
        Config::load(self.path.as_deref(), &self.overrides)
    }
}

/// Builds the actix System on a multi-threaded tokio runtime and runs the daemon until `shutdown` resolves or a
/// SIGTERM/SIGINT arrives. Returns after a graceful drain.
pub fn run_blocking(config: Config, source: ConfigSource, log: LogHandle) -> anyhow::Result<()> {
    let system = actix_rt::System::with_tokio_rt(|| {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("sigild-worker")
            .build()
            .expect("building the tokio runtime")
    });
    system.block_on(async move {
        let listener = TcpListener::bind(config.server.listen)
            .await
            .with_context(|| format!("binding {}", config.server.listen))?;
        run(listener, config, source, log, shutdown_signal()).await
    })
}

/// Runs the daemon on an already-bound listener until `shutdown` resolves. Must be called inside an actix System.
pub async fn run(
    listener: TcpListener,
    config: Config,
    source: ConfigSource,
    log: LogHandle,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let address = listener.local_addr()?;
    let metrics = crate::telemetry::install_metrics()?;
    let store = Store::open(&config).await.context("opening the store")?;
    tracing::info!(store = %store.description(), schema = crate::store::SCHEMA_VERSION, "store open");
    let secret = store.jwt_secret().await.context("loading the session signing key")?;
    let sessions = SessionKeys::new(&secret);

    let runtime = Arc::new(Runtime::new(store.clone(), config.clone()));
    let arbiters: Vec<actix::Arbiter> = (0..worker_count()).map(|_| actix::Arbiter::new()).collect();
    let registry = TenantRegistry::new(runtime.clone(), arbiters.iter().map(|a| a.handle()).collect()).start();
    let state = AppState::new(runtime.clone(), sessions, registry.clone(), metrics);
    let app = http::router(state).into_make_service_with_connect_info::<SocketAddr>();

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut server_stop = stop_rx.clone();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = server_stop.wait_for(|stop| *stop).await;
            })
            .await
    });

    tracing::info!(%address, version = env!("CARGO_PKG_VERSION"), "sigild listening");
    // The listener is bound and the store is open: tell systemd we are ready (a no-op outside systemd).
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);
    spawn_watchdog(store.clone(), stop_rx.clone());
    spawn_reloader(source, runtime.clone(), log, stop_rx.clone());

    shutdown.await;
    tracing::info!("shutting down: draining in-flight requests");
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
    let _ = stop_tx.send(true);
    let grace = runtime.settings().1.server.shutdown_grace;
    match tokio::time::timeout(grace, server).await {
        Ok(Ok(Ok(()))) => tracing::info!("all requests drained"),
        Ok(Ok(Err(error))) => tracing::warn!(%error, "server ended with an error"),
        Ok(Err(error)) => tracing::warn!(%error, "server task failed"),
        Err(_) => tracing::warn!(grace_secs = grace.as_secs(), "grace period over; abandoning remaining requests"),
    }
    let _ = registry.send(crate::actors::registry::Shutdown).await;
    drop(registry);
    for arbiter in arbiters {
        arbiter.stop();
        let _ = arbiter.join();
    }
    drop(runtime);
    drop(store);
    // The embedded engine has no awaitable close: give its background tasks a moment to flush after the last
    // handle is dropped. Every acknowledged write was already synced at commit.
    tokio::time::sleep(Duration::from_millis(200)).await;
    tracing::info!("sigild stopped");
    Ok(())
}

fn worker_count() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(1, 8)
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut terminate), Ok(mut interrupt)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt()))
    else {
        tracing::error!("cannot install signal handlers; only a kill will stop sigild");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = terminate.recv() => tracing::info!("SIGTERM received"),
        _ = interrupt.recv() => tracing::info!("SIGINT received"),
    }
}

/// SIGHUP re-reads the config; an invalid one is logged and the running config kept.
fn spawn_reloader(
    source: ConfigSource,
    runtime: Arc<Runtime>,
    log: LogHandle,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hangup) = signal(SignalKind::hangup()) else {
        tracing::warn!("cannot install the SIGHUP handler; config reload disabled");
        return;
    };
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = hangup.recv() => {}
                _ = stop.wait_for(|stop| *stop) => return,
            }
            let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Reloading]);
            match source.load() {
                Ok(new) => {
                    let (_, old) = runtime.settings();
                    warn_restart_only(&old, &new);
                    if new.log != old.log {
                        log.apply(&new.log);
                    }
                    runtime.replace_settings(new);
                    metrics::counter!("sigil_config_reloads_total", "outcome" => "ok").increment(1);
                    tracing::info!("configuration reloaded");
                }
                Err(error) => {
                    metrics::counter!("sigil_config_reloads_total", "outcome" => "error").increment(1);
                    tracing::error!(%error, "configuration reload refused; keeping the running configuration");
                }
            }
            let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);
        }
    });
}

fn warn_restart_only(old: &Config, new: &Config) {
    if old.server.listen != new.server.listen || old.server.data_dir != new.server.data_dir {
        tracing::warn!("server.listen and server.data_dir take effect at the next restart");
    }
    if old.storage != new.storage {
        tracing::warn!("[storage] settings take effect at the next restart");
    }
    if old.server.max_body_bytes != new.server.max_body_bytes
        || old.server.request_timeout != new.server.request_timeout
        || old.testing != new.testing
    {
        tracing::warn!("server.max_body_bytes, server.request_timeout and [testing] take effect at the next restart");
    }
}

/// With `WatchdogSec=` set, pings systemd at half the interval, but only while the store answers: a wedged
/// store gets the service restarted.
fn spawn_watchdog(store: Store, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut usec = 0;
    if !sd_notify::watchdog_enabled(false, &mut usec) {
        return;
    }
    let interval = Duration::from_micros(usec / 2).max(Duration::from_millis(500));
    tracing::info!(interval_ms = interval.as_millis() as u64, "systemd watchdog enabled");
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = stop.wait_for(|stop| *stop) => return,
            }
            match tokio::time::timeout(interval, store.ping()).await {
                Ok(Ok(())) => {
                    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Watchdog]);
                }
                _ => tracing::warn!("store did not answer; withholding the watchdog ping"),
            }
        }
    });
}
