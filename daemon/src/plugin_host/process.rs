//! The parent's side of `isolation = "process"`: one `sigild plugin-host` child per generation, which maps the
//! parent's validated private copy of the plugin and runs the instance through the same C ABI. Calls cross the
//! child's stdin and stdout as [`frame`](super::frame)s: a writer thread batches requests (one flush per
//! wake-up), a reader thread matches responses to waiting calls by id, and a third thread keeps the child's
//! last stderr lines. When the child dies (signal, exit, a broken frame, or a kill for a hung call), every call
//! in flight to it is answered with an error that names the instance, the pid, the signal or status and the
//! last stderr lines, and the instance actor is told, so it can start a new child with backoff.

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead as _, BufReader};
use std::os::unix::process::{CommandExt as _, ExitStatusExt as _};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::time::Duration;

use sigil_plugin_api::{PluginError, Status};
use tokio::sync::{OwnedSemaphorePermit, oneshot};

use super::frame::{self, Hello, Op};

/// How many stderr lines of a child are kept (and quoted when it dies).
const STDERR_LINES: usize = 20;
/// How many of them a death message quotes.
const QUOTED_LINES: usize = 5;
/// Longest kept stderr line, in bytes.
const STDERR_LINE_MAX: usize = 500;

/// Environment variables a child inherits; everything else is cleared. Plugins that need more take it from
/// their config (or a `SIGIL_PLUGIN_`-prefixed variable, which is passed too).
pub const PASSED_ENV: &[&str] = &[
    "PATH",
    "SOFTHSM2_CONF",
    "CREDENTIALS_DIRECTORY",
    "TMPDIR",
    "TZ",
    "LANG",
    "LC_ALL",
];

/// Prefix of further environment variables passed to a child.
pub const PASSED_ENV_PREFIX: &str = "SIGIL_PLUGIN_";

/// Someone waiting for a response: where it goes, and the call slot held until it arrives.
type Waiter = (
    oneshot::Sender<Result<Vec<u8>, PluginError>>,
    Option<OwnedSemaphorePermit>,
);

/// Where a call's response (or the child's death) arrives.
pub type Answer = oneshot::Receiver<Result<Vec<u8>, PluginError>>;

/// How a child ended, as the actor is told.
#[derive(Debug, Clone)]
pub struct Death {
    /// Its pid.
    pub pid: u32,
    /// The signal that ended it, if any.
    pub signal: Option<i32>,
    /// The full message (instance, pid, cause, last stderr lines).
    pub message: String,
}

/// Called (from the reader thread) when a child dies while it was meant to serve.
pub type OnDeath = Box<dyn Fn(Death) + Send + Sync>;

struct Pending {
    waiters: HashMap<u64, Waiter>,
    /// Set once the child is gone: every later call fails with it.
    dead: Option<String>,
}

struct Shared {
    name: String,
    pid: u32,
    pending: Mutex<Pending>,
    process: Mutex<Child>,
    stderr: Mutex<VecDeque<String>>,
    /// Why the parent killed the child (protocol error, hung call), if it did.
    kill_reason: Mutex<Option<String>>,
    /// Set when the parent closes the child on purpose (its generation drained): its exit is no crash.
    closing: AtomicBool,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    fn kill(&self, reason: String) {
        {
            let mut kill_reason = lock(&self.kill_reason);
            if kill_reason.is_none() {
                *kill_reason = Some(reason);
            }
        }
        let _ = lock(&self.process).kill();
    }

    fn died_error(&self, message: &str) -> PluginError {
        PluginError::new(Status::Internal, message.to_string())
    }

    fn last_stderr(&self) -> String {
        let lines = lock(&self.stderr);
        let skip = lines.len().saturating_sub(QUOTED_LINES);
        let quoted: Vec<&str> = lines.iter().skip(skip).map(String::as_str).collect();
        if quoted.is_empty() {
            "(none)".into()
        } else {
            quoted.join(" | ")
        }
    }
}

/// A running child.
pub struct PluginProcess {
    shared: Arc<Shared>,
    writer: Mutex<Option<mpsc::Sender<Vec<u8>>>>,
    next_id: AtomicU64,
}

impl std::fmt::Debug for PluginProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginProcess")
            .field("instance", &self.shared.name)
            .field("pid", &self.shared.pid)
            .finish_non_exhaustive()
    }
}

/// The name of a signal, for messages.
pub fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGABRT => "SIGABRT",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGBUS => "SIGBUS",
        libc::SIGILL => "SIGILL",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGTERM => "SIGTERM",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGINT => "SIGINT",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGSYS => "SIGSYS",
        _ => "signal",
    }
}

/// Starts a child for instance `name` on the private copy at `library`, creates the instance from `config` and
/// waits (at most `start_timeout`) for its hello. A refusal by `create` comes back as the plugin's error.
pub fn spawn(
    library: &Path,
    name: &str,
    config: &[u8],
    start_timeout: Duration,
    on_death: OnDeath,
) -> Result<(PluginProcess, Hello), PluginError> {
    let start_error = |reason: String| {
        PluginError::internal(format!(
            "plugin instance {name}: cannot start its process: {reason}"
        ))
    };
    let mut command = Command::new("/proc/self/exe");
    command
        .arg0("sigild")
        .arg("plugin-host")
        .arg("--parent")
        .arg(std::process::id().to_string())
        .arg(library)
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group: a terminal's Ctrl-C reaches sigild, which shuts its children down in order.
        .process_group(0);
    for (key, value) in std::env::vars_os() {
        let key_text = key.to_string_lossy();
        if PASSED_ENV.contains(&key_text.as_ref()) || key_text.starts_with(PASSED_ENV_PREFIX) {
            command.env(&key, value);
        }
    }
    let mut child = spawn_from_spawner(command).map_err(|e| start_error(e.to_string()))?;
    let pid = child.id();
    let (Some(stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(start_error("missing pipes".into()));
    };
    let shared = Arc::new(Shared {
        name: name.to_string(),
        pid,
        pending: Mutex::new(Pending {
            waiters: HashMap::new(),
            dead: None,
        }),
        process: Mutex::new(child),
        stderr: Mutex::new(VecDeque::new()),
        kill_reason: Mutex::new(None),
        closing: AtomicBool::new(false),
    });

    let (stderr_done_tx, stderr_done) = mpsc::channel::<()>();
    let stderr_shared = shared.clone();
    let spawned = std::thread::Builder::new()
        .name(format!("plugin-stderr-{pid}"))
        .spawn(move || {
            collect_stderr(&stderr_shared, stderr);
            drop(stderr_done_tx);
        });
    if let Err(error) = spawned {
        shared.kill("cannot start its threads".into());
        return Err(start_error(error.to_string()));
    }

    let (queue, frames) = mpsc::channel::<Vec<u8>>();
    let spawned = std::thread::Builder::new()
        .name(format!("plugin-writer-{pid}"))
        .spawn(move || write_frames(frames, stdin));
    if let Err(error) = spawned {
        shared.kill("cannot start its threads".into());
        return Err(start_error(error.to_string()));
    }

    let (hello_tx, hello_rx) = mpsc::channel::<frame::Response>();
    let reader_shared = shared.clone();
    let spawned = std::thread::Builder::new()
        .name(format!("plugin-reader-{pid}"))
        .spawn(move || read_frames(reader_shared, stdout, hello_tx, stderr_done, on_death));
    if let Err(error) = spawned {
        shared.kill("cannot start its threads".into());
        return Err(start_error(error.to_string()));
    }

    let mut init = Vec::new();
    frame::encode_request(&mut init, 0, Op::Init, name, config);
    let _ = queue.send(init);
    let process = PluginProcess {
        shared: shared.clone(),
        writer: Mutex::new(Some(queue)),
        next_id: AtomicU64::new(1),
    };
    let hello = match hello_rx.recv_timeout(start_timeout) {
        Ok(response) if response.status == 0 => {
            Hello::decode(&response.body).map_err(|e| start_error(e.to_string()))
        }
        Ok(response) => Err(PluginError::from_wire(response.status, &response.body)),
        Err(mpsc::RecvTimeoutError::Timeout) => {
            shared.kill("it did not create the instance in time".into());
            Err(start_error(format!(
                "it did not create the instance within {}ms",
                start_timeout.as_millis()
            )))
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            let dead = lock(&shared.pending).dead.clone();
            Err(start_error(dead.unwrap_or_else(|| "it ended".into())))
        }
    };
    match hello {
        Ok(hello) => Ok((process, hello)),
        Err(error) => {
            // Dropping the handle closes the child's stdin; it exits, and nothing reports it as a crash.
            shared.closing.store(true, Ordering::Release);
            drop(process);
            Err(error)
        }
    }
}

/// Spawns `command` from one long-lived thread. `PR_SET_PDEATHSIG` fires when the *thread* that forked the
/// child exits, not the process: a child forked from a blocking-pool thread would be killed when that thread
/// idles out.
fn spawn_from_spawner(command: Command) -> std::io::Result<Child> {
    type Job = (Command, mpsc::Sender<std::io::Result<Child>>);
    static SPAWNER: std::sync::OnceLock<Mutex<mpsc::Sender<Job>>> = std::sync::OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (jobs, queue) = mpsc::channel::<Job>();
        // If the thread cannot start, the queue is dropped with the closure and every spawn fails below.
        let _ = std::thread::Builder::new()
            .name("sigild-plugin-spawner".into())
            .spawn(move || {
                for (mut command, reply) in queue {
                    let _ = reply.send(command.spawn());
                }
            });
        Mutex::new(jobs)
    });
    let (reply, answer) = mpsc::channel();
    let gone = || std::io::Error::other("the plugin spawner thread is gone");
    lock(spawner).send((command, reply)).map_err(|_| gone())?;
    answer.recv().map_err(|_| gone())?
}

fn collect_stderr(shared: &Shared, stderr: std::process::ChildStderr) {
    let mut reader = BufReader::new(stderr);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let mut text = String::from_utf8_lossy(&line).trim_end().to_string();
        if text.is_empty() {
            continue;
        }
        if text.len() > STDERR_LINE_MAX {
            let mut cut = STDERR_LINE_MAX;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
        }
        tracing::info!(instance = %shared.name, pid = shared.pid, line = %text, "plugin stderr");
        let mut lines = lock(&shared.stderr);
        if lines.len() == STDERR_LINES {
            lines.pop_front();
        }
        lines.push_back(text);
    }
}

fn write_frames(frames: mpsc::Receiver<Vec<u8>>, stdin: ChildStdin) {
    // A write error means the child is gone; the reader notices and reports it.
    let _ = frame::pump(frames, stdin);
}

fn read_frames(
    shared: Arc<Shared>,
    stdout: ChildStdout,
    hello: mpsc::Sender<frame::Response>,
    stderr_done: mpsc::Receiver<()>,
    on_death: OnDeath,
) {
    let mut reader = BufReader::with_capacity(64 * 1024, stdout);
    let mut hello = Some(hello);
    let ended = loop {
        match frame::read_response(&mut reader) {
            Ok(Some(response)) => {
                if response.id == 0 {
                    match hello.take() {
                        Some(sender) => {
                            let _ = sender.send(response);
                            continue;
                        }
                        None => break Some("a second hello (response id 0)".to_string()),
                    }
                }
                let waiter = lock(&shared.pending).waiters.remove(&response.id);
                let Some((sender, _permit)) = waiter else {
                    break Some(format!(
                        "a response to request {}, which nobody waits for",
                        response.id
                    ));
                };
                let result = if response.status == 0 {
                    Ok(response.body)
                } else {
                    Err(PluginError::from_wire(response.status, &response.body))
                };
                let _ = sender.send(result);
            }
            Ok(None) => break None,
            Err(error) if error.kind() == std::io::ErrorKind::InvalidData => {
                break Some(error.to_string());
            }
            Err(error) => break Some(format!("reading its responses: {error}")),
        }
    };
    if let Some(protocol) = ended {
        shared.kill(format!(
            "protocol error on its stdout ({protocol}; a plugin must not write to fd 1)"
        ));
    }
    // The stream ended: the child is exiting or gone. Give it a moment to finish on its own, then make sure.
    let status = {
        let mut waited = None;
        for _ in 0..200 {
            match lock(&shared.process).try_wait() {
                Ok(Some(status)) => {
                    waited = Some(status);
                    break;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                Err(_) => break,
            }
        }
        match waited {
            Some(status) => Some(status),
            None => {
                let mut process = lock(&shared.process);
                let _ = process.kill();
                process.wait().ok()
            }
        }
    };
    // Let the stderr collector take the child's last words.
    let _ = stderr_done.recv_timeout(Duration::from_millis(500));
    let signal = status.and_then(|s| s.signal());
    let cause = match (lock(&shared.kill_reason).clone(), status) {
        (Some(reason), _) => format!("was killed: {reason}"),
        (None, Some(status)) => match (status.signal(), status.code()) {
            (Some(signal), _) => format!("died: signal {signal} ({})", signal_name(signal)),
            (None, Some(code)) => format!("exited with status {code}"),
            (None, None) => format!("ended: {status}"),
        },
        (None, None) => "ended (status unknown)".to_string(),
    };
    let message = format!(
        "plugin instance {} (process {}) {cause}; last stderr: {}",
        shared.name,
        shared.pid,
        shared.last_stderr()
    );
    let waiters: Vec<Waiter> = {
        let mut pending = lock(&shared.pending);
        pending.dead = Some(message.clone());
        pending.waiters.drain().map(|(_, waiter)| waiter).collect()
    };
    let in_flight = waiters.len();
    for (sender, _permit) in waiters {
        let _ = sender.send(Err(shared.died_error(&message)));
    }
    if !shared.closing.load(Ordering::Acquire) {
        tracing::debug!(instance = %shared.name, pid = shared.pid, in_flight, "plugin process gone");
        on_death(Death {
            pid: shared.pid,
            signal,
            message,
        });
    }
}

impl PluginProcess {
    /// The child's pid.
    pub fn pid(&self) -> u32 {
        self.shared.pid
    }

    /// Sends one request; the receiver gets the response, or the death error if the child dies first. The
    /// permit, if any, is held until then.
    pub fn start(
        &self,
        op: Op,
        name: &str,
        body: &[u8],
        permit: Option<OwnedSemaphorePermit>,
    ) -> Result<(u64, Answer), PluginError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (sender, receiver) = oneshot::channel();
        {
            let mut pending = lock(&self.shared.pending);
            if let Some(dead) = &pending.dead {
                return Err(self.shared.died_error(dead));
            }
            pending.waiters.insert(id, (sender, permit));
        }
        let mut bytes = Vec::new();
        frame::encode_request(&mut bytes, id, op, name, body);
        let sent = lock(&self.writer)
            .as_ref()
            .is_some_and(|writer| writer.send(bytes).is_ok());
        if !sent {
            lock(&self.shared.pending).waiters.remove(&id);
            return Err(PluginError::internal(format!(
                "plugin instance {} (process {}) is shutting down",
                self.shared.name, self.shared.pid
            )));
        }
        Ok((id, receiver))
    }

    /// The error of a call whose response channel closed without an answer.
    pub fn gone_error(&self) -> PluginError {
        let dead = lock(&self.shared.pending).dead.clone();
        PluginError::internal(dead.unwrap_or_else(|| {
            format!(
                "plugin instance {} (process {}) dropped the call",
                self.shared.name, self.shared.pid
            )
        }))
    }

    /// After a call passed its deadline: if it is still unanswered `grace` later, the child is hung; kill it
    /// (the reader then answers every call in flight and the actor starts a new child).
    pub fn watch_overdue(&self, id: u64, deadline: Duration, grace: Duration) {
        let shared = self.shared.clone();
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            let still_waiting = lock(&shared.pending).waiters.contains_key(&id);
            if still_waiting {
                shared.kill(format!(
                    "call {id} was still unanswered {}ms after its {}ms deadline (hung)",
                    grace.as_millis(),
                    deadline.as_millis()
                ));
            }
        });
    }

    /// Kills the child now (for tests and operators' tooling).
    pub fn kill(&self, reason: &str) {
        self.shared.kill(reason.to_string());
    }
}

impl Drop for PluginProcess {
    fn drop(&mut self) {
        // The generation is drained: nobody waits for a call any more. Close stdin, so the child destroys the
        // instance and exits; one that still runs abandoned (timed-out) calls is killed instead.
        self.shared.closing.store(true, Ordering::Release);
        let abandoned = !lock(&self.shared.pending).waiters.is_empty();
        lock(&self.writer).take();
        if abandoned {
            self.shared
                .kill("its generation was replaced while calls were still running".into());
        }
    }
}
