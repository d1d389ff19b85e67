//! The actor of one plugin instance. It owns the current generation (library + instance), runs calls on the
//! blocking pool with a deadline and a concurrency bound, re-creates a poisoned instance with backoff, checks
//! health periodically, and swaps in a new generation on reload while the old one drains.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use actix::prelude::*;
use sigil_plugin_api::{HostInstance, PluginError, Status};
use tokio::sync::Semaphore;

use super::library::{self, Library};

/// Everything that defines an instance; a change of any field means a reload.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceSpec {
    /// Instance name.
    pub name: String,
    /// File name in the plugin directory.
    pub file: String,
    /// Optional SHA-256 pin.
    pub sha256: Option<String>,
    /// The plugin's config, as JSON bytes.
    pub config: Vec<u8>,
}

/// Host-wide settings an instance needs.
#[derive(Debug, Clone, PartialEq)]
pub struct HostSettings {
    /// Where plugins are loaded from.
    pub plugin_dir: std::path::PathBuf,
    /// Where private copies go.
    pub copies_dir: std::path::PathBuf,
    /// Deadline per call.
    pub call_timeout: Duration,
    /// Host-side bound on calls in flight.
    pub max_in_flight: u32,
    /// Health check period.
    pub health_interval: Duration,
}

/// One loaded generation of an instance.
struct Generation {
    number: u64,
    library: Library,
    instance: HostInstance,
    semaphore: Arc<Semaphore>,
}

/// Counters readable without asking the actor.
#[derive(Default)]
struct Counters {
    calls: AtomicU64,
    errors: AtomicU64,
    panics: AtomicU64,
    timeouts: AtomicU64,
}

impl Counters {
    /// Counts a failed call; a panic (the instance is poisoned) also tells the actor to re-create it.
    fn record_failure<T>(
        &self,
        result: &Result<T, PluginError>,
        actor: &Addr<PluginInstance>,
        generation: u64,
    ) {
        let Err(error) = result else { return };
        self.errors.fetch_add(1, Ordering::Relaxed);
        if HostInstance::is_poisoning(error) {
            self.panics.fetch_add(1, Ordering::Relaxed);
            actor.do_send(Poisoned {
                generation,
                error: error.to_string(),
            });
        }
    }
}

/// Health as last observed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase", tag = "state", content = "detail")]
pub enum Health {
    /// Not loaded yet.
    Starting,
    /// The health hook answered OK.
    Up(Option<String>),
    /// Loading, creating or the health hook failed.
    Down(String),
}

/// What `GET /api/plugins` shows for one instance.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceStatus {
    /// Instance name.
    pub name: String,
    /// Configured file.
    pub file: String,
    /// Plugin name from the descriptor.
    pub plugin: Option<String>,
    /// `tsa_backend`, `kms_signer` or `push_channel`.
    pub kind: Option<String>,
    /// Plugin version.
    pub version: Option<String>,
    /// ABI version, e.g. `1.0`.
    pub abi_version: Option<String>,
    /// SHA-256 of the loaded file.
    pub sha256: Option<String>,
    /// Generation number; increases with every load or re-creation.
    pub generation: u64,
    /// Health.
    pub health: Health,
    /// Calls made.
    pub calls: u64,
    /// Calls that failed (any reason).
    pub errors: u64,
    /// Calls that panicked inside the plugin.
    pub panics: u64,
    /// Calls that ran past the deadline.
    pub timeouts: u64,
    /// Last load or reload failure, if the last attempt failed.
    pub last_reload_error: Option<String>,
}

/// The actor.
pub struct PluginInstance {
    spec: InstanceSpec,
    settings: HostSettings,
    current: Option<Arc<Generation>>,
    generations: u64,
    counters: Arc<Counters>,
    health: Health,
    last_reload_error: Option<String>,
    backoff: Duration,
    recreate_pending: bool,
    retired: bool,
    health_timer: Option<SpawnHandle>,
    /// Set once the first load attempt has finished (ready or failed).
    first_attempt_done: bool,
    /// Callers of [`WaitFirstLoad`] waiting for that.
    first_load_waiters: Vec<tokio::sync::oneshot::Sender<()>>,
    /// The generation serving now (0: none), shared with [`DirectCaller`]s so they notice a swap.
    serving: Arc<AtomicU64>,
}

impl PluginInstance {
    /// An instance that loads itself when started.
    pub fn new(spec: InstanceSpec, settings: HostSettings) -> Self {
        Self {
            spec,
            settings,
            current: None,
            generations: 0,
            counters: Arc::default(),
            health: Health::Starting,
            last_reload_error: None,
            backoff: Duration::from_millis(200),
            recreate_pending: false,
            retired: false,
            health_timer: None,
            first_attempt_done: false,
            first_load_waiters: Vec::new(),
            serving: Arc::default(),
        }
    }

    fn semaphore_for(&self, library: &Library) -> Arc<Semaphore> {
        let plugin_bound = library.descriptor.max_concurrency();
        let bound = match plugin_bound {
            0 => self.settings.max_in_flight,
            n => n.min(self.settings.max_in_flight),
        };
        Arc::new(Semaphore::new(bound as usize))
    }

    /// Loads the file (when `reuse` is None) or re-creates an instance from an already loaded library, then
    /// health-checks it, all on the blocking pool; the swap happens back on the actor.
    fn load(
        &mut self,
        ctx: &mut Context<Self>,
        spec: InstanceSpec,
        reuse: Option<Library>,
    ) -> ResponseActFuture<Self, Result<u64, String>> {
        let settings = self.settings.clone();
        let load_spec = spec.clone();
        let work = tokio::task::spawn_blocking(
            move || -> Result<(Library, HostInstance, Option<String>), String> {
                let library = match reuse {
                    Some(library) => library,
                    None => library::load(
                        &settings.plugin_dir,
                        &load_spec.file,
                        load_spec.sha256.as_deref(),
                        &settings.copies_dir,
                    )
                    .map_err(|e| e.to_string())?,
                };
                let instance = library
                    .descriptor
                    .create_instance(&load_spec.config)
                    .map_err(|e| format!("create failed: {e}"))?;
                let report = instance
                    .health()
                    .map_err(|e| format!("health check failed: {e}"))?;
                Ok((library, instance, report.detail))
            },
        );
        let _ = ctx;
        Box::pin(async move { work.await.map_err(|e| format!("loader panicked: {e}"))? }.into_actor(self).map(
            move |outcome, actor, _ctx| match outcome {
                Ok((library, instance, detail)) => {
                    actor.generations += 1;
                    let semaphore = actor.semaphore_for(&library);
                    let generation = Generation { number: actor.generations, library, instance, semaphore };
                    let previous = actor.current.replace(Arc::new(generation));
                    actor.serving.store(actor.generations, Ordering::Release);
                    actor.spec = spec;
                    actor.health = Health::Up(detail);
                    actor.last_reload_error = None;
                    actor.backoff = Duration::from_millis(200);
                    tracing::info!(instance = %actor.spec.name, generation = actor.generations, "plugin instance ready");
                    // The previous generation drains: calls in flight hold their own Arc, and the instance is
                    // destroyed when the last one returns.
                    drop(previous);
                    Ok(actor.generations)
                }
                Err(reason) => {
                    tracing::error!(instance = %actor.spec.name, error = %reason, "plugin load failed; keeping the running generation");
                    metrics::counter!("sigil_plugin_reload_failures_total", "instance" => actor.spec.name.clone()).increment(1);
                    actor.last_reload_error = Some(reason.clone());
                    if actor.current.is_none() {
                        actor.health = Health::Down(reason.clone());
                    }
                    Err(reason)
                }
            },
        ))
    }

    fn schedule_recreate(&mut self, ctx: &mut Context<Self>) {
        if self.recreate_pending {
            return;
        }
        self.recreate_pending = true;
        let delay = self.backoff;
        self.backoff = (self.backoff * 2).min(Duration::from_secs(30));
        ctx.run_later(delay, |actor, ctx| {
            actor.recreate_pending = false;
            let reuse = actor.current.as_ref().map(|g| g.library.clone());
            let spec = actor.spec.clone();
            let reload = actor.load(ctx, spec, reuse);
            ctx.spawn(reload.map(|result, actor, ctx| {
                if result.is_err() {
                    actor.schedule_recreate(ctx);
                }
            }));
        });
    }
}

impl Actor for PluginInstance {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let spec = self.spec.clone();
        let first = self.load(ctx, spec, None);
        ctx.spawn(first.map(|result, actor, ctx| {
            actor.first_attempt_done = true;
            for waiter in actor.first_load_waiters.drain(..) {
                let _ = waiter.send(());
            }
            if result.is_err() {
                // Nothing to fall back on: keep trying, in case the file is still being installed.
                actor.schedule_recreate(ctx);
            }
        }));
        let timer = ctx.run_interval(self.settings.health_interval, |actor, ctx| {
            let Some(generation) = actor.current.clone() else {
                return;
            };
            let check = tokio::task::spawn_blocking(move || generation.instance.health());
            ctx.spawn(check.into_actor(actor).map(|outcome, actor, ctx| {
                actor.health = match outcome {
                    Ok(Ok(report)) => Health::Up(report.detail),
                    Ok(Err(error)) => {
                        if HostInstance::is_poisoning(&error) {
                            actor.schedule_recreate(ctx);
                        }
                        Health::Down(error.to_string())
                    }
                    Err(join) => Health::Down(format!("health check panicked: {join}")),
                };
            }));
        });
        self.health_timer = Some(timer);
    }
}

impl Supervised for PluginInstance {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        // `started` runs again after a restart and reloads from the file; start from a clean slate.
        self.current = None;
        self.serving.store(0, Ordering::Release);
        self.health = Health::Starting;
        self.recreate_pending = false;
        self.health_timer = None;
    }
}

/// One plugin call: op name and JSON request bytes; answers the JSON response bytes.
#[derive(Message)]
#[rtype(result = "Result<Vec<u8>, PluginError>")]
pub struct Call {
    /// Op name, e.g. `timestamp`.
    pub op: String,
    /// Request message.
    pub request: Vec<u8>,
}

impl Handler<Call> for PluginInstance {
    type Result = ResponseFuture<Result<Vec<u8>, PluginError>>;

    fn handle(&mut self, message: Call, ctx: &mut Context<Self>) -> Self::Result {
        self.dispatch(ctx, message.op, message.request)
    }
}

/// Runs the kind's read-only diagnostic op (`describe`, `list_keys`, or `validate_recipient` of `recipient`),
/// for operators and for the hot-reload test. Answers the generation that served it and the response.
#[derive(Message)]
#[rtype(result = "Result<(u64, Vec<u8>), PluginError>")]
pub struct Probe {
    /// Recipient to validate, for push channels.
    pub recipient: Option<String>,
}

impl Handler<Probe> for PluginInstance {
    type Result = ResponseFuture<Result<(u64, Vec<u8>), PluginError>>;

    fn handle(&mut self, message: Probe, ctx: &mut Context<Self>) -> Self::Result {
        use sigil_plugin_api::PluginKind;
        let Some(generation) = self.current.as_ref() else {
            return Box::pin(async {
                Err(PluginError::new(
                    Status::Internal,
                    "plugin instance not loaded",
                ))
            });
        };
        let number = generation.number;
        let (op, request) = match generation.library.descriptor.kind() {
            PluginKind::TsaBackend => ("describe", serde_json::json!({})),
            PluginKind::KmsSigner => ("list_keys", serde_json::json!({})),
            PluginKind::PushChannel => (
                "validate_recipient",
                serde_json::json!({ "recipient": message.recipient.unwrap_or_default() }),
            ),
        };
        let call = self.dispatch(ctx, op.to_string(), request.to_string().into_bytes());
        Box::pin(async move { call.await.map(|response| (number, response)) })
    }
}

impl PluginInstance {
    /// Starts a call on the current generation; the returned future runs off the actor.
    fn dispatch(
        &mut self,
        ctx: &mut Context<Self>,
        op: String,
        request: Vec<u8>,
    ) -> ResponseFuture<Result<Vec<u8>, PluginError>> {
        if self.retired {
            return Box::pin(async {
                Err(PluginError::not_found(
                    "plugin instance was removed from the config",
                ))
            });
        }
        let Some(generation) = self.current.clone() else {
            let reason = self
                .last_reload_error
                .clone()
                .unwrap_or_else(|| "not loaded yet".into());
            return Box::pin(async move {
                Err(PluginError::new(
                    Status::Internal,
                    format!("plugin instance unavailable: {reason}"),
                ))
            });
        };
        let counters = self.counters.clone();
        let deadline = self.settings.call_timeout;
        let name = self.spec.name.clone();
        let address = ctx.address();
        Box::pin(async move {
            counters.calls.fetch_add(1, Ordering::Relaxed);
            let started = Instant::now();
            let outcome = tokio::time::timeout(deadline, async {
                // The permit travels into the blocking task, so an abandoned (timed-out) call still holds it
                // until the plugin returns: a stuck plugin exhausts its own bound, never the blocking pool.
                let permit = generation
                    .semaphore
                    .clone()
                    .acquire_owned()
                    .await
                    .map_err(|_| {
                        PluginError::new(Status::Internal, "plugin instance is shutting down")
                    })?;
                let worker = generation.clone();
                tokio::task::spawn_blocking(move || {
                    let _permit = permit;
                    worker.instance.call(&op, &request)
                })
                .await
                .map_err(|join| {
                    PluginError::new(Status::Internal, format!("plugin call task failed: {join}"))
                })?
            })
            .await;
            let result = match outcome {
                Ok(result) => result,
                Err(_) => {
                    counters.timeouts.fetch_add(1, Ordering::Relaxed);
                    Err(PluginError::timeout(format!(
                        "plugin call exceeded {}ms",
                        deadline.as_millis()
                    )))
                }
            };
            counters.record_failure(&result, &address, generation.number);
            metrics::histogram!("sigil_plugin_call_duration_seconds", "instance" => name)
                .record(started.elapsed().as_secs_f64());
            result
        })
    }
}

/// A call saw the instance poisoned (the plugin panicked).
#[derive(Message)]
#[rtype(result = "()")]
struct Poisoned {
    generation: u64,
    error: String,
}

impl Handler<Poisoned> for PluginInstance {
    type Result = ();

    fn handle(&mut self, message: Poisoned, ctx: &mut Context<Self>) {
        if self
            .current
            .as_ref()
            .is_some_and(|g| g.number == message.generation)
        {
            tracing::error!(instance = %self.spec.name, error = %message.error, "plugin panicked; re-creating the instance");
            self.health = Health::Down("the plugin panicked; re-creating the instance".into());
            self.schedule_recreate(ctx);
        }
    }
}

/// Re-reads the spec: reloads when it or the file changed, else does nothing. Answers the generation serving.
#[derive(Message)]
#[rtype(result = "Result<u64, String>")]
pub struct Refresh {
    /// The spec from the current config.
    pub spec: InstanceSpec,
}

impl Handler<Refresh> for PluginInstance {
    type Result = ResponseActFuture<Self, Result<u64, String>>;

    fn handle(&mut self, message: Refresh, ctx: &mut Context<Self>) -> Self::Result {
        let file_changed = match &self.current {
            Some(generation) => {
                let path = self.settings.plugin_dir.join(&message.spec.file);
                library::file_sha256(&path).map_or(true, |hash| hash != generation.library.sha256)
            }
            None => true,
        };
        if !file_changed && message.spec == self.spec {
            let serving = self.current.as_ref().map_or(0, |g| g.number);
            return Box::pin(async move { Ok(serving) }.into_actor(self));
        }
        tracing::info!(instance = %message.spec.name, "plugin changed; reloading");
        self.load(ctx, message.spec, None)
    }
}

/// The instance's status for the operators' view.
#[derive(Message)]
#[rtype(result = "InstanceStatus")]
pub struct GetStatus;

impl Handler<GetStatus> for PluginInstance {
    type Result = MessageResult<GetStatus>;

    fn handle(&mut self, _message: GetStatus, _ctx: &mut Context<Self>) -> Self::Result {
        let generation = self.current.as_ref();
        let descriptor = generation.map(|g| &g.library.descriptor);
        MessageResult(InstanceStatus {
            name: self.spec.name.clone(),
            file: self.spec.file.clone(),
            plugin: descriptor.map(|d| d.name().to_string()),
            kind: descriptor.map(|d| d.kind().as_str().to_string()),
            version: descriptor.map(|d| d.version().to_string()),
            abi_version: descriptor.map(|d| {
                format!(
                    "{}.{}",
                    sigil_plugin_api::SIGIL_PLUGIN_ABI_MAJOR,
                    d.abi_minor()
                )
            }),
            sha256: generation.map(|g| g.library.sha256.clone()),
            generation: generation.map_or(0, |g| g.number),
            health: self.health.clone(),
            calls: self.counters.calls.load(Ordering::Relaxed),
            errors: self.counters.errors.load(Ordering::Relaxed),
            panics: self.counters.panics.load(Ordering::Relaxed),
            timeouts: self.counters.timeouts.load(Ordering::Relaxed),
            last_reload_error: self.last_reload_error.clone(),
        })
    }
}

/// Retires the instance (removed from the config): new calls are refused, in-flight calls finish on their
/// generation, and the actor stops once the last address is dropped. (Stopping it outright would make its
/// supervisor restart it while anyone still holds an address.)
#[derive(Message)]
#[rtype(result = "()")]
pub struct Retire;

impl Handler<Retire> for PluginInstance {
    type Result = ();

    fn handle(&mut self, _message: Retire, ctx: &mut Context<Self>) {
        self.retired = true;
        self.health = Health::Down("removed from the config".into());
        if let Some(timer) = self.health_timer.take() {
            ctx.cancel_future(timer);
        }
        self.current = None;
        self.serving.store(0, Ordering::Release);
    }
}

/// Resolves once the instance's first load attempt has finished, whether it succeeded or not, so that start-up
/// can wait for plugins before it announces readiness.
#[derive(Message)]
#[rtype(result = "()")]
pub struct WaitFirstLoad;

impl Handler<WaitFirstLoad> for PluginInstance {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _message: WaitFirstLoad, _ctx: &mut Context<Self>) -> Self::Result {
        if self.first_attempt_done {
            return Box::pin(async {});
        }
        let (sender, receiver) = tokio::sync::oneshot::channel();
        self.first_load_waiters.push(sender);
        Box::pin(async move {
            let _ = receiver.await;
        })
    }
}

/// A handle for calling the current generation directly from a blocking thread, without a round trip through
/// the actor and a second blocking-pool hop: the local TSA signs one token per request this way. It checks
/// before each call that its generation is still the one serving; when it is not (reload, re-creation,
/// retirement), the caller asks the actor for a fresh handle. Supervision is unchanged: a panic is reported to
/// the actor, which re-creates the instance, and the counters are the actor's.
pub struct DirectCaller {
    generation: Arc<Generation>,
    serving: Arc<AtomicU64>,
    counters: Arc<Counters>,
    actor: Addr<PluginInstance>,
}

impl DirectCaller {
    /// Whether this handle's generation still serves.
    pub fn is_current(&self) -> bool {
        self.serving.load(Ordering::Acquire) == self.generation.number
    }

    /// Runs one call on this blocking thread, within the instance's concurrency bound (waited for on
    /// `runtime`). Must not be called from an async context.
    pub fn call_blocking(
        &self,
        runtime: &tokio::runtime::Handle,
        op: &str,
        request: &[u8],
    ) -> Result<Vec<u8>, PluginError> {
        self.counters.calls.fetch_add(1, Ordering::Relaxed);
        let permit = runtime
            .block_on(self.generation.semaphore.acquire())
            .map_err(|_| PluginError::new(Status::Internal, "plugin instance is shutting down"))?;
        let result = self.generation.instance.call(op, request);
        drop(permit);
        self.counters
            .record_failure(&result, &self.actor, self.generation.number);
        result
    }
}

/// A [`DirectCaller`] for the generation serving now.
#[derive(Message)]
#[rtype(result = "Result<DirectCaller, PluginError>")]
pub struct GetDirectCaller;

impl Handler<GetDirectCaller> for PluginInstance {
    type Result = Result<DirectCaller, PluginError>;

    fn handle(&mut self, _message: GetDirectCaller, ctx: &mut Context<Self>) -> Self::Result {
        if self.retired {
            return Err(PluginError::not_found(
                "plugin instance was removed from the config",
            ));
        }
        let generation = self.current.clone().ok_or_else(|| {
            PluginError::new(Status::Internal, "plugin instance unavailable: not loaded")
        })?;
        Ok(DirectCaller {
            generation,
            serving: self.serving.clone(),
            counters: self.counters.clone(),
            actor: ctx.address(),
        })
    }
}
