//! Running the daemon: the actix `System` on a multi-threaded tokio runtime, the store, the actors, the axum
//! server on a listener passed in by the caller, systemd notifications, SIGHUP reloads and graceful shutdown.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::Actor;
use anyhow::Context as _;
use tokio::net::TcpListener;

use crate::actors::Runtime;
use crate::actors::registry::TenantRegistry;

use crate::config::{Config, Overrides};
use crate::credentials::SessionKeys;
use crate::http::{self, AppState, Timestamping};
use crate::plugin_host::{Apply, Change, PluginHost};
use crate::store::Store;
use crate::telemetry::LogHandle;
use crate::tsa::local::LocalTsaCell;
use crate::tsa::{Providers, TrustCell};

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

    /// What `sigild check-config` checks: [`ConfigSource::load`], then that every enabled plugin entry's file
    /// is in the plugin directory (the daemon would start without those instances).
    pub fn check(&self) -> Result<Config, crate::config::ConfigError> {
        let config = self.load()?;
        let sources = crate::config::source_files(self.path.as_deref(), &config);
        let missing = config.missing_plugin_files(&sources);
        if missing.is_empty() {
            Ok(config)
        } else {
            Err(crate::config::ConfigError::MissingPluginFiles(missing))
        }
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
        // Installed first: from here on, SIGTERM means a graceful stop, whatever stage start-up is at.
        let shutdown = shutdown_signal();
        run(listener, config, source, log, shutdown).await
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
    // SIGHUP's default action is to terminate; catch it before anything can be announced (systemd's
    // ExecReload may fire as soon as READY=1 is sent). A reload requested during start-up is served after it.
    let hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup());
    let metrics = crate::telemetry::install_metrics()?;
    let store = Store::open(&config).await.context("opening the store")?;
    tracing::info!(store = %store.description(), schema = crate::store::SCHEMA_VERSION, "store open");
    let secret = store
        .jwt_secret()
        .await
        .context("loading the session signing key")?;
    let sessions = SessionKeys::new(&secret);

    let runtime = Arc::new(Runtime::new(store.clone(), config.clone()));
    let arbiters: Vec<actix::Arbiter> =
        (0..worker_count()).map(|_| actix::Arbiter::new()).collect();
    let registry = TenantRegistry::new(
        runtime.clone(),
        arbiters.iter().map(|a| a.handle()).collect(),
    );
    let plugin_arbiter = actix::Arbiter::new();
    ensure_local_keystore_key(&config).context("preparing the local TSA's keystore key")?;
    let plugins = PluginHost::new(config.data_dir(), plugin_arbiter.handle()).start();
    // Plugins load before readiness is announced (bounded), so the first requests find them.
    let first_load = tokio::time::timeout(
        STARTUP_WAIT,
        plugins.send(Apply {
            config: Arc::new(config.clone()),
        }),
    )
    .await;
    let mut local_kms_loaded = false;
    match first_load {
        Ok(Ok(outcomes)) => {
            for (instance, outcome) in outcomes {
                match outcome {
                    Ok(_) => local_kms_loaded |= instance == config.local_tsa.kms,
                    Err(failure) if failure.retrying => {
                        tracing::warn!(%instance, error = %failure, "plugin instance did not load; retrying in the background");
                    }
                    Err(failure) => {
                        tracing::warn!(%instance, error = %failure, "plugin instance did not load; not retrying until the config or the file changes");
                    }
                }
            }
        }
        _ => tracing::warn!(
            "plugins still loading after {}s; continuing",
            STARTUP_WAIT.as_secs()
        ),
    }

    let timestamping = Timestamping {
        providers: Providers::new(plugin_arbiter.handle()),
        local_tsa: LocalTsaCell::default(),
        trust: TrustCell::default(),
    };
    timestamping.apply(&config, &plugins);
    if config.local_tsa.enabled {
        let ready = crate::tsa::local::spawn_initializer(
            Arc::new(config.clone()),
            store.clone(),
            plugins.clone(),
            timestamping.local_tsa.clone(),
            timestamping.trust.clone(),
        );
        // Without its KMS the local TSA cannot come up now; it keeps trying while the daemon serves.
        if local_kms_loaded && tokio::time::timeout(STARTUP_WAIT, ready).await.is_err() {
            tracing::warn!("the local TSA is not ready yet; it keeps trying in the background");
        }
    }
    let secrets_key = crate::secretbox::SecretBox::key_path(&config);
    let secrets = crate::secretbox::SecretBox::load_or_create(&secrets_key)
        .context("loading the secrets key")?;
    let secrets = Arc::new(secrets);
    let webhooks = crate::app::webhooks::WebhookService::new(runtime.clone(), secrets.clone());
    let identity = crate::app::sigil_auth::IdentityCell::default();
    crate::app::sigil_auth::spawn_identity(
        config.seal.kms.clone(),
        plugins.clone(),
        identity.clone(),
        config.approvals.vapid_subject.clone(),
    );
    // One name for this node in every lease it takes (approval timers, webhook deliveries).
    let node = crate::app::approvals::node_id(
        config.approvals.node_id.as_deref(),
        &config.data_dir(),
        !matches!(config.store_url(), crate::config::StoreUrl::Memory),
    );
    let approvals = crate::app::approvals::ApprovalEngine::new(
        store.clone(),
        node.clone(),
        config.approvals.lease,
        arbiters.iter().map(|a| a.handle()).collect(),
    );
    {
        // A committed approval change may have written outbox events: wake the dispatcher.
        let wake = webhooks.notify();
        approvals.after_commit(Arc::new(move || wake.notify_one()));
    }
    let state = AppState::new(
        runtime.clone(),
        sessions,
        registry.clone(),
        plugins.clone(),
        metrics,
        timestamping.clone(),
        http::ApprovalParts {
            webhooks: webhooks.clone(),
            engine: approvals.clone(),
            bound: address,
            secrets,
            identity,
        },
    );
    // The webhook outbox dispatcher, leasing deliveries under this node's name.
    let dispatcher = webhooks.spawn_dispatcher(node.clone());
    // Live approval requests come back with their remaining time (an expiry that fell while the daemon was
    // down fires at once) before the first request is served.
    let adopt_started = Instant::now();
    match approvals.adopt().await {
        Ok(count) => tracing::info!(
            count,
            node = %node,
            elapsed_ms = adopt_started.elapsed().as_millis() as u64,
            "live approval requests adopted"
        ),
        Err(error) => {
            tracing::warn!(%error, "could not adopt live approval requests yet; retrying in the background")
        }
    }
    // The platform seal certificate comes up in the background like the local TSA (its KMS loads concurrently).
    crate::app::seal_platform::spawn_initializer(
        config.seal.kms.clone(),
        store.clone(),
        plugins.clone(),
        state.seals.platform_cell(),
    );
    // Revoked seal keys are destroyed once their grace period has ended; hourly is far finer than the 7 days.
    let key_deletions = {
        let seals = state.seals.clone();
        let interval = if config.testing.seal_key_grace_secs.is_some() {
            Duration::from_secs(1)
        } else {
            KEY_DELETION_INTERVAL
        };
        tokio::spawn(async move {
            let mut every = tokio::time::interval(interval);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                seals.destroy_due_keys().await;
            }
        })
    };
    // Idle rate-limit buckets are forgotten, so that their number stays bounded.
    let sweeper = {
        let state = state.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(LIMITER_SWEEP);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                state.sweep_limiters();
                metrics::gauge!("sigil_rate_limit_buckets").set(state.limiter_buckets() as f64);
            }
        })
    };
    // Signing requests a crash left half done (decided without a result, or approvers decided while the
    // request was not told) are finished at start and then every 15 seconds.
    let signing_recovery = {
        let signing = state.signing_requests.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(15));
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                match signing.recover().await {
                    Ok(0) => {}
                    Ok(count) => tracing::info!(count, "finished interrupted signing requests"),
                    Err(error) => {
                        tracing::warn!(%error, "could not look for interrupted signing requests")
                    }
                }
            }
        })
    };
    let app = http::router(state);

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let approval_leases = {
        let approvals = approvals.clone();
        let stop = stop_rx.clone();
        tokio::spawn(async move { approvals.run(stop).await })
    };
    // Replay nonces outlive their window by little: expired ones are forgotten every minute.
    let nonce_sweeper = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(60));
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                if let Err(error) = store.sweep_nonces().await {
                    tracing::warn!(%error, "could not sweep expired nonces");
                }
            }
        })
    };
    let server = tokio::spawn(http::connections::serve(
        listener,
        app,
        runtime.clone(),
        stop_rx.clone(),
    ));

    tracing::info!(%address, version = env!("CARGO_PKG_VERSION"), "sigild listening");
    // The listener is bound and the store is open: tell systemd we are ready (a no-op outside systemd).
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);
    spawn_watchdog(store.clone(), stop_rx.clone());
    let reloader = Reloader {
        source,
        runtime: runtime.clone(),
        log,
        plugins: plugins.clone(),
        timestamping,
    };
    let _watcher = spawn_watcher(&config, reloader.clone(), stop_rx.clone());
    spawn_reloader(reloader, hangup, stop_rx.clone());

    shutdown.await;
    tracing::info!("shutting down: draining in-flight requests");
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
    let _ = stop_tx.send(true);
    let grace = runtime.settings().1.server.shutdown_grace;
    match tokio::time::timeout(grace, server).await {
        Ok(Ok(())) => tracing::info!("all requests drained"),
        Ok(Err(error)) => tracing::warn!(%error, "server task failed"),
        Err(_) => tracing::warn!(
            grace_secs = grace.as_secs(),
            "grace period over; abandoning remaining requests"
        ),
    }
    sweeper.abort();
    key_deletions.abort();
    dispatcher.abort();
    nonce_sweeper.abort();
    signing_recovery.abort();
    // The lease loop stops its timers and gives the lease up, so another node can adopt at once.
    let _ = tokio::time::timeout(Duration::from_secs(5), approval_leases).await;
    registry.shutdown();
    drop(registry);
    let _ = plugins.send(crate::plugin_host::Shutdown).await;
    drop(plugins);
    plugin_arbiter.stop();
    for arbiter in arbiters {
        arbiter.stop();
        let _ = arbiter.join();
    }
    drop(runtime);
    // Services that hold the store go before it is watched closing.
    drop(approvals);
    drop(webhooks);
    // The engine closes itself (WAL flush, close) once the last handle is gone; wait for that while the runtime
    // is still here to run it. Every acknowledged write was already synced at commit either way.
    let closing = store.close_watch();
    drop(store);
    if !closing.closed(Duration::from_secs(5)).await {
        tracing::warn!(
            "the store was still open at exit; the next start replays its write-ahead log"
        );
    }
    tracing::info!("sigild stopped");
    Ok(())
}

/// The implicit `local-kms` instance (the local TSA's and the seals' default KMS) seals keys under a key file;
/// make it once, 0600.
fn ensure_local_keystore_key(config: &Config) -> std::io::Result<()> {
    use crate::config::KeystoreKeySource;
    use std::io::Write as _;
    use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
    // Exactly when the instance is run: with [local_tsa] disabled the seals may still use it.
    if !crate::wiring::implicit_local_kms(config) {
        return Ok(());
    }
    let key = config.local_keystore_key();
    let data_dir = config.data_dir();
    let inside_data = |path: &std::path::Path| {
        let canonical = |p: &std::path::Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
        path.parent()
            .is_some_and(|parent| canonical(parent).starts_with(canonical(&data_dir)))
    };
    if key.source == KeystoreKeySource::InsideDataDir || inside_data(&key.path) {
        tracing::warn!(
            key = %key.path.display(),
            data_dir = %data_dir.display(),
            "SECURITY: the local keystore's key file sits in the data directory, beside the keys it encrypts: \
             anyone with a copy or backup of the data directory can use the local TSA's key. Move the file \
             out of it and set [local_tsa] keystore_key_file to its new path (or pass it as the systemd \
             credential sigil-keystore-key)"
        );
    }
    if key.source != KeystoreKeySource::Default {
        // Configured, a credential or an existing file: never created or changed by sigild.
        return Ok(());
    }
    if let Some(parent) = key.path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)?;
    }
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&key.path)
    {
        Ok(mut file) => {
            file.write_all(&rand::random::<[u8; 32]>())?;
            file.sync_all()?;
            tracing::info!(
                path = %key.path.display(),
                "created the local keystore key (back it up separately from the data directory)"
            );
            Ok(())
        }
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(error),
    }
}

/// How often idle rate-limit buckets are forgotten.
const LIMITER_SWEEP: Duration = Duration::from_secs(30);
/// How often revoked seal keys past their grace period are destroyed.
const KEY_DELETION_INTERVAL: Duration = Duration::from_secs(3600);

/// How long start-up waits for plugins and the local TSA before announcing readiness anyway.
const STARTUP_WAIT: Duration = Duration::from_secs(60);

fn worker_count() -> usize {
    std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(1, 8)
}

/// Resolves on SIGTERM or SIGINT.
///
/// The handlers are installed when this function is called, not when the future is first polled: a SIGTERM
/// that arrives while the store opens (or right after readiness is announced) must find them in place, or the
/// default action kills the process.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{SignalKind, signal};
    let handlers = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    );
    async move {
        let (Ok(mut terminate), Ok(mut interrupt)) = handlers else {
            tracing::error!("cannot install signal handlers; only a kill will stop sigild");
            return std::future::pending().await;
        };
        tokio::select! {
            _ = terminate.recv() => tracing::info!("SIGTERM received"),
            _ = interrupt.recv() => tracing::info!("SIGINT received"),
        }
    }
}

/// Re-reads the config and applies it; shared by SIGHUP and the file watcher.
#[derive(Clone)]
struct Reloader {
    source: ConfigSource,
    runtime: Arc<Runtime>,
    log: LogHandle,
    plugins: actix::Addr<PluginHost>,
    timestamping: Timestamping,
}

impl Reloader {
    /// An invalid config is logged and the running one kept.
    async fn reload_config(&self) {
        let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Reloading]);
        match self.source.load() {
            Ok(new) => {
                let (_, old) = self.runtime.settings();
                warn_restart_only(&old, &new);
                if new.log != old.log {
                    self.log.apply(&new.log);
                }
                let new = Arc::new(new);
                self.runtime.replace_settings((*new).clone());
                self.timestamping.apply(&new, &self.plugins);
                metrics::counter!("sigil_config_reloads_total", "outcome" => "ok").increment(1);
                tracing::info!("configuration reloaded");
                self.apply_plugins(new).await;
            }
            Err(error) => {
                metrics::counter!("sigil_config_reloads_total", "outcome" => "error").increment(1);
                tracing::error!(%error, "configuration reload refused; keeping the running configuration");
            }
        }
        let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);
    }

    /// Lets every plugin instance reload if its file or spec changed.
    async fn apply_plugins(&self, config: Arc<Config>) {
        match self.plugins.send(Apply { config }).await {
            Ok(outcomes) => {
                for (instance, outcome) in outcomes {
                    match outcome {
                        Err(failure) if failure.serving > 0 => {
                            tracing::warn!(%instance, error = %failure, generation = failure.serving, "plugin reload failed; the previous generation keeps serving");
                        }
                        Err(failure) => {
                            tracing::warn!(%instance, error = %failure, "plugin load failed; the instance has no generation to keep serving");
                        }
                        Ok(_) => {}
                    }
                }
            }
            Err(error) => tracing::error!(%error, "plugin host unavailable"),
        }
    }
}

/// SIGHUP re-reads the config.
fn spawn_reloader(
    reloader: Reloader,
    hangup: std::io::Result<tokio::signal::unix::Signal>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let Ok(mut hangup) = hangup else {
        tracing::warn!("cannot install the SIGHUP handler; config reload disabled");
        return;
    };
    tokio::spawn(async move {
        loop {
            // Decide inside select!, act outside it: the stop receiver's guard must not live across the reload.
            let hung_up = tokio::select! {
                _ = hangup.recv() => true,
                _ = stop.wait_for(|stop| *stop) => false,
            };
            if !hung_up {
                return;
            }
            reloader.reload_config().await;
        }
    });
}

/// With `plugin_host.watch`, reloads when the config file or a plugin file changes.
fn spawn_watcher(
    config: &Config,
    reloader: Reloader,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Option<notify::RecommendedWatcher> {
    if !config.plugin_host.watch {
        return None;
    }
    let (changes_tx, mut changes) = tokio::sync::mpsc::unbounded_channel();
    let plugin_dir = config.plugin_dir();
    let watcher = match crate::plugin_host::watch(
        &plugin_dir,
        reloader.source.path.as_deref(),
        config.plugin_host.debounce,
        changes_tx,
    ) {
        Ok(watcher) => watcher,
        Err(error) => {
            tracing::warn!(dir = %plugin_dir.display(), %error, "cannot watch for plugin changes; hot reload disabled");
            return None;
        }
    };
    tokio::spawn(async move {
        loop {
            let change = tokio::select! {
                change = changes.recv() => change,
                _ = stop.wait_for(|stop| *stop) => return,
            };
            match change {
                Some(Change::Config) => reloader.reload_config().await,
                Some(Change::Plugins) => {
                    reloader.apply_plugins(reloader.runtime.settings().1).await
                }
                None => return,
            }
        }
    });
    Some(watcher)
}

fn warn_restart_only(old: &Config, new: &Config) {
    if old.server.listen != new.server.listen || old.server.data_dir != new.server.data_dir {
        tracing::warn!("server.listen and server.data_dir take effect at the next restart");
    }
    if old.storage != new.storage {
        tracing::warn!("[storage] settings take effect at the next restart");
    }
    if old.plugin_host.dir != new.plugin_host.dir
        || old.plugin_host.watch != new.plugin_host.watch
        || old.plugin_host.debounce != new.plugin_host.debounce
    {
        tracing::warn!(
            "plugin_host.dir, plugin_host.watch and plugin_host.debounce take effect at the next restart"
        );
    }
    if old.seal.kms != new.seal.kms {
        tracing::warn!(
            "seal.kms: new seal certificates use it at once; the platform seal certificate follows it at the next restart"
        );
    }
    if old.server.max_body_bytes != new.server.max_body_bytes
        || old.server.request_timeout != new.server.request_timeout
        || old.testing != new.testing
    {
        tracing::warn!(
            "server.max_body_bytes, server.request_timeout and [testing] take effect at the next restart"
        );
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
    tracing::info!(
        interval_ms = interval.as_millis() as u64,
        "systemd watchdog enabled"
    );
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
