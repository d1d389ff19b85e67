//! The actor of one plugin instance. It owns the current generation (library + instance), runs calls on the
//! blocking pool with a deadline and a concurrency bound, re-creates a poisoned instance with backoff, checks
//! health periodically, and swaps in a new generation on reload while the old one drains. Host settings
//! (deadline, bound, health period) change in place: a reload of `[plugin_host]` never replaces the actor, so
//! whoever holds its address or a [`DirectCaller`] keeps being served.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use actix::prelude::*;
use sigil_plugin_api::{HostInstance, PluginError, Status};
use tokio::sync::Semaphore;

use super::frame::{Hello, Op};
use super::library::{self, Library};
use super::process::{self, PluginProcess};
use crate::config::Isolation;

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
    /// Where the instance runs.
    pub isolation: Isolation,
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

/// Where a generation's instance lives.
enum Backend {
    /// In this process, through the library mapped here.
    InProcess(HostInstance),
    /// In a `sigild plugin-host` child.
    Process(PluginProcess),
}

/// One loaded generation of an instance.
struct Generation {
    number: u64,
    library: Library,
    /// What the descriptor says (read here, or reported by the child).
    info: Hello,
    backend: Backend,
    semaphore: Arc<Semaphore>,
    /// How many permits `semaphore` stands for now (it is resized in place when `max_in_flight` changes).
    bound: AtomicU32,
}

impl Generation {
    /// Moves the concurrency bound to `bound`. Growing adds permits at once; shrinking takes the surplus out as
    /// calls in flight return them (the semaphore is fair, so later calls queue behind the shrink).
    fn resize(&self, bound: u32) {
        let old = self.bound.swap(bound, Ordering::AcqRel);
        if bound > old {
            self.semaphore.add_permits((bound - old) as usize);
        } else if old > bound {
            let semaphore = self.semaphore.clone();
            actix_rt::spawn(async move {
                if let Ok(surplus) = semaphore.acquire_many_owned(old - bound).await {
                    surplus.forget();
                }
            });
        }
    }
}

/// The instance's concurrency bound for a plugin: the host's `max_in_flight`, or the plugin's own
/// `max_concurrency` when that is lower.
fn bound_for(info: &Hello, max_in_flight: u32) -> u32 {
    match info.max_concurrency {
        0 => max_in_flight,
        n => n.min(max_in_flight),
    }
}

/// Settings that callers outside the actor read at each call, so changing them needs no new handle.
struct Live {
    /// Deadline of one call, in nanoseconds.
    call_timeout_nanos: AtomicU64,
}

impl Live {
    fn new(call_timeout: Duration) -> Self {
        Self {
            call_timeout_nanos: AtomicU64::new(nanos(call_timeout)),
        }
    }

    fn call_timeout(&self) -> Duration {
        Duration::from_nanos(self.call_timeout_nanos.load(Ordering::Relaxed))
    }
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// Why a load, reload or re-creation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadFailure {
    /// What went wrong.
    pub reason: String,
    /// The generation still serving (0: none).
    pub serving: u64,
    /// Whether the actor retries by itself. It does not after `create` refused the config (INVALID_INPUT):
    /// only a change of the config or of the file can help then.
    pub retrying: bool,
}

impl std::fmt::Display for LoadFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

/// How a load failure that stops background retries ends its message.
const NOT_RETRYING: &str =
    "the plugin refused its config; not retrying until the config or the file changes";

/// What an attempt produced.
enum Loaded {
    /// The file is the serving generation's: nothing to do.
    Unchanged,
    /// A new generation: library, health-checked instance, what the descriptor says (with the health detail).
    New(Box<(Library, Backend, Hello)>),
}

/// What the blocking loader reports on failure: the reason and whether retrying can help.
struct LoaderError {
    reason: String,
    permanent: bool,
}

impl From<String> for LoaderError {
    fn from(reason: String) -> Self {
        Self {
            reason,
            permanent: false,
        }
    }
}

/// Counters readable without asking the actor.
#[derive(Default)]
struct Counters {
    calls: AtomicU64,
    errors: AtomicU64,
    panics: AtomicU64,
    timeouts: AtomicU64,
    /// Child processes that died while serving (`isolation = "process"`).
    crashes: AtomicU64,
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
    /// Generation number; increases with every load or re-creation, never reset while the process runs (an
    /// instance removed from the config and added again continues from its last number).
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
    /// `in_process` or `process`.
    pub isolation: &'static str,
    /// Child processes of this instance that died while serving (crash, exit, protocol error, killed when hung).
    pub crashes: u64,
    /// The pid of the serving generation's child process (`isolation = "process"`).
    pub pid: Option<u32>,
    /// Last load or reload failure, if the last attempt failed; cleared by a successful load or when the file
    /// on disk is the serving generation's again.
    pub last_reload_error: Option<String>,
    /// Whether loading is retried in the background: nothing serves and the last failure may pass. False
    /// after `create` refused the config (INVALID_INPUT) until the config or the file changes.
    pub retrying: bool,
}

/// The actor.
pub struct PluginInstance {
    spec: InstanceSpec,
    settings: HostSettings,
    current: Option<Arc<Generation>>,
    /// The instance name's generation counter, owned by the host so that it survives re-creation of the actor.
    generations: Arc<AtomicU64>,
    /// Whether any generation was ever ready on this actor.
    ever_loaded: bool,
    /// Set when `create` refused the config: background retries stop until the spec or the file changes.
    gave_up: bool,
    live: Arc<Live>,
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
    /// Held by one load attempt at a time, from its decision to its swap.
    load_lock: Arc<tokio::sync::Mutex<()>>,
}

impl PluginInstance {
    /// An instance that loads itself when started; its generations are numbered from `generations` (shared by
    /// every actor this instance name ever had).
    pub fn new(spec: InstanceSpec, settings: HostSettings, generations: Arc<AtomicU64>) -> Self {
        Self {
            live: Arc::new(Live::new(settings.call_timeout)),
            spec,
            settings,
            current: None,
            generations,
            ever_loaded: false,
            gave_up: false,
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
            load_lock: Arc::default(),
        }
    }

    /// Applies new host settings in place: the deadline for the next call, the concurrency bound of the
    /// serving generation, the health period.
    fn apply_settings(&mut self, ctx: &mut Context<Self>, settings: HostSettings) {
        if settings == self.settings {
            return;
        }
        self.live
            .call_timeout_nanos
            .store(nanos(settings.call_timeout), Ordering::Relaxed);
        if let Some(generation) = &self.current {
            generation.resize(bound_for(&generation.info, settings.max_in_flight));
        }
        let health_changed = settings.health_interval != self.settings.health_interval;
        self.settings = settings;
        if health_changed && !self.retired {
            if let Some(timer) = self.health_timer.take() {
                ctx.cancel_future(timer);
            }
            self.start_health_timer(ctx);
        }
        tracing::info!(instance = %self.spec.name, "plugin host settings applied in place");
    }

    fn start_health_timer(&mut self, ctx: &mut Context<Self>) {
        let timer = ctx.run_interval(self.settings.health_interval, |actor, ctx| {
            let Some(generation) = actor.current.clone() else {
                return;
            };
            let deadline = actor.live.call_timeout();
            let check = generation.health(deadline);
            ctx.spawn(check.into_actor(actor).map(|outcome, actor, ctx| {
                actor.health = match outcome {
                    Ok(detail) => Health::Up(detail),
                    Err(error) => {
                        if HostInstance::is_poisoning(&error) {
                            actor.schedule_recreate(ctx);
                        }
                        Health::Down(error.to_string())
                    }
                };
            }));
        });
        self.health_timer = Some(timer);
    }

    fn serving(&self) -> u64 {
        self.current.as_ref().map_or(0, |g| g.number)
    }

    /// Loads the file (when `reuse` is None) or re-creates an instance from an already loaded library, then
    /// health-checks it, all on the blocking pool; the swap happens back on the actor. Attempts on one instance
    /// run one after the other (a lock held from the decision to the swap), so a slow attempt can never land
    /// after, and undo, a later one. With `only_if_changed`, the file is first compared with the serving
    /// generation's when the attempt starts (not when it was asked for): the same bytes and spec are no reload.
    fn load(
        &mut self,
        spec: InstanceSpec,
        reuse: Option<Library>,
        only_if_changed: bool,
    ) -> ResponseActFuture<Self, Result<u64, LoadFailure>> {
        let lock = self.load_lock.clone();
        Box::pin(
            async move { lock.lock_owned().await }
                .into_actor(self)
                .then(move |guard, actor, ctx| {
                    let address = ctx.address();
                    actor.attempt(guard, spec, reuse, only_if_changed, address)
                }),
        )
    }

    fn attempt(
        &mut self,
        guard: tokio::sync::OwnedMutexGuard<()>,
        spec: InstanceSpec,
        reuse: Option<Library>,
        only_if_changed: bool,
        address: Addr<PluginInstance>,
    ) -> ResponseActFuture<Self, Result<u64, LoadFailure>> {
        let settings = self.settings.clone();
        let start_timeout = self.live.call_timeout().max(Duration::from_secs(30));
        let load_spec = spec.clone();
        let serving_sha = self
            .current
            .as_ref()
            .filter(|_| only_if_changed && spec == self.spec)
            .map(|g| g.library.sha256.clone());
        let work = tokio::task::spawn_blocking(move || -> Result<Loaded, LoaderError> {
            if let Some(serving_sha) = serving_sha {
                let path = settings.plugin_dir.join(&load_spec.file);
                if library::file_sha256(&path).is_ok_and(|hash| hash == serving_sha) {
                    return Ok(Loaded::Unchanged);
                }
                tracing::info!(instance = %load_spec.name, "plugin changed; reloading");
            }
            let in_process = load_spec.isolation == Isolation::InProcess;
            let library = match reuse {
                // A library loaded for the other isolation (mapped or not) is loaded again.
                Some(library) if library.descriptor.is_some() == in_process => library,
                _ => library::load(
                    &settings.plugin_dir,
                    &load_spec.file,
                    load_spec.sha256.as_deref(),
                    &settings.copies_dir,
                    in_process,
                )
                .map_err(|e| e.to_string())?,
            };
            let create_failed = |e: PluginError| LoaderError {
                permanent: e.status == Status::InvalidInput,
                reason: format!("create failed: {e}"),
            };
            if let Some(descriptor) = &library.descriptor {
                let instance = descriptor
                    .create_instance(&load_spec.config)
                    .map_err(create_failed)?;
                let report = instance
                    .health()
                    .map_err(|e| format!("health check failed: {e}"))?;
                let info = Hello {
                    kind: descriptor.kind(),
                    name: descriptor.name().to_string(),
                    version: descriptor.version().to_string(),
                    abi_minor: descriptor.abi_minor(),
                    max_concurrency: descriptor.max_concurrency(),
                    health_detail: report.detail,
                };
                return Ok(Loaded::New(Box::new((
                    library,
                    Backend::InProcess(instance),
                    info,
                ))));
            }
            let on_death: process::OnDeath = Box::new(move |death| {
                address.do_send(ChildDied { death });
            });
            let (child, info) = process::spawn(
                library.loaded_from.path(),
                &load_spec.name,
                &load_spec.config,
                start_timeout,
                on_death,
            )
            .map_err(create_failed)?;
            tracing::info!(instance = %load_spec.name, pid = child.pid(), "plugin process started");
            Ok(Loaded::New(Box::new((
                library,
                Backend::Process(child),
                info,
            ))))
        });
        Box::pin(
            async move {
                work.await
                    .map_err(|e| LoaderError::from(format!("loader panicked: {e}")))?
            }
            .into_actor(self)
            .map(move |outcome, actor, ctx| {
                let _serialised = guard;
                match outcome {
                Ok(Loaded::Unchanged) => {
                    let serving = actor.serving();
                    // The file on disk is the serving generation's again (a bad file was put back): nothing to
                    // load, and the earlier failure no longer describes the instance.
                    if let Some(error) = actor.last_reload_error.take() {
                        tracing::info!(instance = %actor.spec.name, generation = serving, previous_error = %error, "plugin file is the serving generation's again; reload error cleared");
                    }
                    Ok(serving)
                }
                Ok(Loaded::New(..)) if actor.retired => {
                    // Removed from the config while loading: the new instance is destroyed unused.
                    Err(LoadFailure {
                        reason: "plugin instance was removed from the config".into(),
                        serving: 0,
                        retrying: false,
                    })
                }
                Ok(Loaded::New(loaded)) => {
                    let (library, backend, info) = *loaded;
                    let number = actor.generations.fetch_add(1, Ordering::AcqRel) + 1;
                    let bound = bound_for(&info, actor.settings.max_in_flight);
                    let detail = info.health_detail.clone();
                    let generation = Generation {
                        number,
                        library,
                        info,
                        backend,
                        semaphore: Arc::new(Semaphore::new(bound as usize)),
                        bound: AtomicU32::new(bound),
                    };
                    let previous = actor.current.replace(Arc::new(generation));
                    actor.serving.store(number, Ordering::Release);
                    actor.spec = spec;
                    actor.health = Health::Up(detail);
                    actor.ever_loaded = true;
                    actor.gave_up = false;
                    actor.backoff = Duration::from_millis(200);
                    if let Some(error) = actor.last_reload_error.take() {
                        tracing::info!(instance = %actor.spec.name, generation = number, previous_error = %error, "plugin instance recovered");
                    }
                    tracing::info!(instance = %actor.spec.name, generation = number, "plugin instance ready");
                    // The previous generation drains: calls in flight hold their own Arc, and the instance is
                    // destroyed when the last one returns (its private copy is removed then, its mapping stays).
                    drop(previous);
                    Ok(number)
                }
                Err(LoaderError { reason, permanent }) => {
                    let serving = actor.serving();
                    let retrying = !permanent;
                    let reason = if permanent {
                        format!("{reason} ({NOT_RETRYING})")
                    } else {
                        reason
                    };
                    if serving > 0 {
                        tracing::error!(instance = %actor.spec.name, error = %reason, generation = serving, "plugin load failed; keeping the running generation");
                    } else if actor.ever_loaded {
                        tracing::error!(instance = %actor.spec.name, error = %reason, "plugin load failed; no generation of this instance is serving");
                    } else {
                        tracing::error!(instance = %actor.spec.name, error = %reason, "plugin load failed; the instance has never loaded, so nothing serves its calls");
                    }
                    metrics::counter!("sigil_plugin_reload_failures_total", "instance" => actor.spec.name.clone()).increment(1);
                    actor.last_reload_error = Some(reason.clone());
                    actor.gave_up = permanent;
                    if actor.current.is_none() {
                        actor.health = Health::Down(reason.clone());
                        if retrying && !actor.retired {
                            // Nothing serves: keep trying in the background (the file may still be arriving).
                            actor.schedule_recreate(ctx);
                        }
                    }
                    Err(LoadFailure { reason, serving, retrying })
                }
            }
            }),
        )
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
            if actor.retired || actor.gave_up {
                return;
            }
            let reuse = actor.current.as_ref().map(|g| g.library.clone());
            let spec = actor.spec.clone();
            let reload = actor.load(spec, reuse, false);
            ctx.spawn(reload.map(|result, actor, ctx| {
                if result.as_ref().is_err_and(|failure| failure.retrying) {
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
        let first = self.load(spec, None, false);
        ctx.spawn(first.map(|result, actor, ctx| {
            actor.first_attempt_done = true;
            for waiter in actor.first_load_waiters.drain(..) {
                let _ = waiter.send(());
            }
            if result.as_ref().is_err_and(|failure| failure.retrying) {
                // Nothing to fall back on: keep trying, in case the file is still being installed.
                actor.schedule_recreate(ctx);
            }
        }));
        self.start_health_timer(ctx);
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
        let (op, request) = match generation.info.kind {
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
        let deadline = self.live.call_timeout();
        let name = self.spec.name.clone();
        let address = ctx.address();
        Box::pin(async move {
            counters.calls.fetch_add(1, Ordering::Relaxed);
            let started = Instant::now();
            let number = generation.number;
            let result = run_call(generation, op, request, deadline, counters.clone()).await;
            counters.record_failure(&result, &address, number);
            metrics::histogram!("sigil_plugin_call_duration_seconds", "instance" => name)
                .record(started.elapsed().as_secs_f64());
            result
        })
    }
}

/// One of the instance's call slots, waited for until `deadline_at`; a refusal names why (shutting down, or
/// every slot taken by calls still running).
async fn call_slot(
    generation: &Arc<Generation>,
    deadline: Duration,
    deadline_at: tokio::time::Instant,
    counters: &Counters,
) -> Result<tokio::sync::OwnedSemaphorePermit, PluginError> {
    match tokio::time::timeout_at(deadline_at, generation.semaphore.clone().acquire_owned()).await {
        Ok(Ok(permit)) => Ok(permit),
        Ok(Err(_)) => Err(PluginError::new(
            Status::Internal,
            "plugin instance is shutting down",
        )),
        Err(_) => {
            counters.timeouts.fetch_add(1, Ordering::Relaxed);
            Err(queued_too_long(deadline, generation))
        }
    }
}

/// Runs one call on a generation, within its concurrency bound and the deadline. In process the plugin runs on
/// the blocking pool; in a child, the call waits for its response frame. Either way the call slot stays taken
/// until the plugin answers (or its child dies), not just until the deadline.
async fn run_call(
    generation: Arc<Generation>,
    op: String,
    request: Vec<u8>,
    deadline: Duration,
    counters: Arc<Counters>,
) -> Result<Vec<u8>, PluginError> {
    let deadline_at = tokio::time::Instant::now() + deadline;
    // The permit travels with the call, so an abandoned (timed-out) call still holds it until the plugin
    // returns: a stuck plugin exhausts its own bound, never the blocking pool.
    let permit = call_slot(&generation, deadline, deadline_at, &counters).await?;
    if let Backend::Process(child) = &generation.backend {
        let (id, response) = child.start(Op::Call, &op, &request, Some(permit))?;
        return match tokio::time::timeout_at(deadline_at, response).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(child.gone_error()),
            Err(_) => {
                counters.timeouts.fetch_add(1, Ordering::Relaxed);
                // A call still unanswered one more deadline later means the child is hung: it is killed
                // then, and the actor starts a new one.
                child.watch_overdue(id, deadline, deadline);
                Err(plugin_too_slow(deadline))
            }
        };
    }
    let worker = generation.clone();
    let call = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        worker.call_in_process(&op, &request)
    });
    match tokio::time::timeout_at(deadline_at, call).await {
        Ok(Ok(result)) => result,
        Ok(Err(join)) => Err(PluginError::new(
            Status::Internal,
            format!("plugin call task failed: {join}"),
        )),
        Err(_) => {
            counters.timeouts.fetch_add(1, Ordering::Relaxed);
            Err(plugin_too_slow(deadline))
        }
    }
}

impl Generation {
    /// A call on the instance mapped in this process (blocking).
    fn call_in_process(&self, op: &str, request: &[u8]) -> Result<Vec<u8>, PluginError> {
        match &self.backend {
            Backend::InProcess(instance) => instance.call(op, request),
            Backend::Process(_) => Err(PluginError::internal(
                "a process-isolated instance was called in process",
            )),
        }
    }

    /// Runs the health hook: on the blocking pool in process, through the child otherwise (with the call
    /// deadline).
    fn health(
        self: &Arc<Self>,
        deadline: Duration,
    ) -> futures::future::BoxFuture<'static, Result<Option<String>, PluginError>> {
        let generation = self.clone();
        Box::pin(async move {
            match &generation.backend {
                Backend::InProcess(_) => {
                    let worker = generation.clone();
                    tokio::task::spawn_blocking(move || match &worker.backend {
                        Backend::InProcess(instance) => instance.health().map(|r| r.detail),
                        Backend::Process(_) => Ok(None),
                    })
                    .await
                    .unwrap_or_else(|join| {
                        Err(PluginError::internal(format!(
                            "health check panicked: {join}"
                        )))
                    })
                }
                Backend::Process(child) => {
                    let (_, response) = child.start(Op::Health, "", &[], None)?;
                    match tokio::time::timeout(deadline, response).await {
                        Ok(Ok(Ok(bytes))) => super::frame::decode_detail(&bytes)
                            .map_err(|e| PluginError::internal(e.to_string())),
                        Ok(Ok(Err(error))) => Err(error),
                        Ok(Err(_)) => Err(child.gone_error()),
                        Err(_) => Err(plugin_too_slow(deadline)),
                    }
                }
            }
        })
    }
}

/// The error of a call that waited its whole deadline for a slot and never reached the plugin.
fn queued_too_long(deadline: Duration, generation: &Generation) -> PluginError {
    PluginError::timeout(format!(
        "the call never reached the plugin: it waited {}ms for one of the instance's {} call slots \
         (plugin_host.max_in_flight or the plugin's max_concurrency), all taken by calls still running",
        deadline.as_millis(),
        generation.bound.load(Ordering::Relaxed)
    ))
}

/// The error of a call the plugin did not answer within the deadline.
fn plugin_too_slow(deadline: Duration) -> PluginError {
    PluginError::timeout(format!(
        "the plugin did not answer within {}ms (plugin_host.call_timeout)",
        deadline.as_millis()
    ))
}

/// The child process of a generation died while serving (`isolation = "process"`).
#[derive(Message)]
#[rtype(result = "()")]
struct ChildDied {
    death: process::Death,
}

impl Handler<ChildDied> for PluginInstance {
    type Result = ();

    fn handle(&mut self, message: ChildDied, ctx: &mut Context<Self>) {
        let death = message.death;
        let serving = self.current.as_ref().is_some_and(
            |g| matches!(&g.backend, Backend::Process(child) if child.pid() == death.pid),
        );
        if !serving {
            // A child of an older generation, or one that never got to serve (its load failed and says so).
            return;
        }
        self.counters.crashes.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("sigil_plugin_crashes_total", "instance" => self.spec.name.clone())
            .increment(1);
        let plugin = self
            .current
            .as_ref()
            .map(|g| g.info.name.clone())
            .unwrap_or_default();
        tracing::error!(
            instance = %self.spec.name,
            %plugin,
            pid = death.pid,
            signal = death.signal.map(|s| format!("{s} ({})", process::signal_name(s))),
            error = %death.message,
            "plugin process died; starting a new one"
        );
        self.health = Health::Down(death.message);
        self.schedule_recreate(ctx);
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
#[rtype(result = "Result<u64, LoadFailure>")]
pub struct Refresh {
    /// The spec from the current config.
    pub spec: InstanceSpec,
}

impl Handler<Refresh> for PluginInstance {
    type Result = ResponseActFuture<Self, Result<u64, LoadFailure>>;

    fn handle(&mut self, message: Refresh, _ctx: &mut Context<Self>) -> Self::Result {
        if message.spec != self.spec {
            tracing::info!(instance = %message.spec.name, "plugin config changed; reloading");
        }
        // Whether the file changed is decided when the attempt runs, after any attempt still in progress.
        self.load(message.spec, None, true)
    }
}

/// New host settings (`[plugin_host]`), applied in place: the actor, its generation and every handle to them
/// stay.
#[derive(Message)]
#[rtype(result = "()")]
pub struct UpdateSettings {
    /// The settings from the current config.
    pub settings: HostSettings,
}

impl Handler<UpdateSettings> for PluginInstance {
    type Result = ();

    fn handle(&mut self, message: UpdateSettings, ctx: &mut Context<Self>) {
        self.apply_settings(ctx, message.settings);
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
        let info = generation.map(|g| &g.info);
        MessageResult(InstanceStatus {
            name: self.spec.name.clone(),
            file: self.spec.file.clone(),
            plugin: info.map(|d| d.name.clone()),
            kind: info.map(|d| d.kind.as_str().to_string()),
            version: info.map(|d| d.version.clone()),
            abi_version: info.map(|d| {
                format!(
                    "{}.{}",
                    sigil_plugin_api::SIGIL_PLUGIN_ABI_MAJOR,
                    d.abi_minor
                )
            }),
            sha256: generation.map(|g| g.library.sha256.clone()),
            generation: self.serving(),
            health: self.health.clone(),
            calls: self.counters.calls.load(Ordering::Relaxed),
            errors: self.counters.errors.load(Ordering::Relaxed),
            panics: self.counters.panics.load(Ordering::Relaxed),
            timeouts: self.counters.timeouts.load(Ordering::Relaxed),
            isolation: self.spec.isolation.as_str(),
            crashes: self.counters.crashes.load(Ordering::Relaxed),
            pid: generation.and_then(|g| match &g.backend {
                Backend::Process(child) => Some(child.pid()),
                Backend::InProcess(_) => None,
            }),
            last_reload_error: self.last_reload_error.clone(),
            retrying: self.current.is_none() && !self.gave_up && !self.retired,
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
/// the actor: the local TSA signs one token per request this way. It checks before each call that its
/// generation is still the one serving; when it is not (reload, re-creation, retirement), the caller asks the
/// actor for a fresh handle. Calls get the same deadline as calls through the actor (`plugin_host.call_timeout`,
/// read at each call): the plugin runs on another blocking thread while this one waits at most that long, so a
/// hung plugin costs its caller one deadline and holds only its own concurrency slot. Supervision is unchanged:
/// a panic is reported to the actor, which re-creates the instance, and the counters are the actor's.
pub struct DirectCaller {
    generation: Arc<Generation>,
    serving: Arc<AtomicU64>,
    counters: Arc<Counters>,
    live: Arc<Live>,
    actor: Addr<PluginInstance>,
}

impl DirectCaller {
    /// Whether this handle's generation still serves.
    pub fn is_current(&self) -> bool {
        self.serving.load(Ordering::Acquire) == self.generation.number
    }

    /// The instance's call deadline now.
    pub fn deadline(&self) -> Duration {
        self.live.call_timeout()
    }

    /// Runs one call within the instance's concurrency bound and deadline, blocking this thread until it answers.
    /// Must not be called from an async context.
    ///
    /// An instance mapped in this process is called **on this thread**, with no hand-off: a synchronous call
    /// cannot be interrupted anyway, so the deadline bounds the wait for a permit, and an answer that comes after
    /// it is refused as too slow (and counted as a timeout). The caller bounds its own wait (it runs this on the
    /// blocking pool and stops waiting at the deadline); a hung plugin then holds its permits and this thread,
    /// so it exhausts its own bound, never the blocking pool. A process-isolated instance is asked through its
    /// pipe with the same deadline as any call.
    pub fn call_blocking(
        &self,
        runtime: &tokio::runtime::Handle,
        op: &str,
        request: &[u8],
    ) -> Result<Vec<u8>, PluginError> {
        self.counters.calls.fetch_add(1, Ordering::Relaxed);
        let deadline = self.live.call_timeout();
        let result = match &self.generation.backend {
            Backend::InProcess(_) => self.call_on_this_thread(runtime, op, request, deadline),
            Backend::Process(_) => {
                let generation = self.generation.clone();
                let counters = self.counters.clone();
                let (op, request) = (op.to_string(), request.to_vec());
                runtime.block_on(run_call(generation, op, request, deadline, counters))
            }
        };
        self.counters
            .record_failure(&result, &self.actor, self.generation.number);
        result
    }

    fn call_on_this_thread(
        &self,
        runtime: &tokio::runtime::Handle,
        op: &str,
        request: &[u8],
        deadline: Duration,
    ) -> Result<Vec<u8>, PluginError> {
        let started = std::time::Instant::now();
        // A free slot is taken without touching the runtime; otherwise wait for one, up to the deadline.
        let permit = match self.generation.semaphore.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => runtime.block_on(call_slot(
                &self.generation,
                deadline,
                tokio::time::Instant::now() + deadline,
                &self.counters,
            ))?,
        };
        let result = self.generation.call_in_process(op, request);
        drop(permit);
        if started.elapsed() > deadline {
            self.counters.timeouts.fetch_add(1, Ordering::Relaxed);
            return Err(plugin_too_slow(deadline));
        }
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
            let reason = self
                .last_reload_error
                .clone()
                .unwrap_or_else(|| "not loaded yet".into());
            PluginError::new(
                Status::Internal,
                format!("plugin instance unavailable: {reason}"),
            )
        })?;
        Ok(DirectCaller {
            generation,
            serving: self.serving.clone(),
            counters: self.counters.clone(),
            live: self.live.clone(),
            actor: ctx.address(),
        })
    }
}
