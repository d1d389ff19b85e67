//! The test harness: starts the real `sigild` in its own temp dir on a free loopback port, captures its log, and
//! offers HTTP helpers and the account/tenant/key set-up most tests share.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::blocking::{Client, RequestBuilder};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

/// Path of the binary under test.
pub const SIGILD: &str = env!("CARGO_BIN_EXE_sigild");

/// The password every helper-made account uses.
pub const PASSWORD: &str = "correct horse battery staple";

/// How long a daemon may take to start listening or to exit before the test gives up. Generous: other builds may
/// share the two cores.
const PATIENCE: Duration = Duration::from_secs(60);

/// The base of configs that tests write whole (timestamping, plugins): the cheapest argon2 cost the daemon
/// accepts and limits out of reach. A test appends its own sections after it.
pub const FAST_TEST_BASE: &str = r#"[auth]
argon2_memory_kib = 8192
argon2_iterations = 1

[limits]
api_key_per_minute = 1000000
session_per_minute = 1000000
verification_per_minute = 1000000
unauthenticated_per_minute = 1000000"#;

/// Settings every test daemon gets unless the test overrides them: limits too high to trip by accident, the
/// cheapest argon2 cost the daemon accepts (so registration and login stay fast), and no file watching: the
/// plugin directory defaults to the shared target directory, where other builds write, and a watched config file
/// would reload on its own where a test means to reload with SIGHUP.
const BASE_CONFIG: &str = r#"
[plugin_host]
watch = false

[auth]
argon2_memory_kib = 8192
argon2_iterations = 1

[limits]
api_key_per_minute = 100000
session_per_minute = 100000
verification_per_minute = 100000
unauthenticated_per_minute = 100000
"#;

/// A running `sigild` with its own data directory. Dropping it kills the process.
pub struct Daemon {
    child: Option<Child>,
    address: SocketAddr,
    dir: tempfile::TempDir,
    config_path: PathBuf,
    logs: Arc<Mutex<String>>,
    /// Drains the current process's stderr into `logs`; finished once the process is gone and the pipe is empty.
    log_reader: Option<std::thread::JoinHandle<()>>,
    client: Client,
    accounts: AtomicUsize,
    /// Extra environment variables for every spawn of this daemon (see [`Daemon::start_raw_with_env`]).
    env: Vec<(String, String)>,
}

/// A user who owns a tenant and holds a session scoped to it.
pub struct Owner {
    /// Session JWT scoped to `tenant_id`.
    pub token: String,
    /// User id.
    pub user_id: String,
    /// The tenant.
    pub tenant_id: String,
    /// The account's email.
    pub email: String,
}

impl Daemon {
    /// A daemon with the base test settings.
    pub fn start() -> Daemon {
        Daemon::start_with("")
    }

    /// A daemon whose config is the base test settings overridden key by key with `config_toml`.
    pub fn start_with(config_toml: &str) -> Daemon {
        let dir = tempfile::Builder::new()
            .prefix("sigild-test-")
            .tempdir()
            .expect("creating a temp dir");
        let config_path = dir.path().join("sigild.toml");
        std::fs::write(&config_path, merge_config(BASE_CONFIG, config_toml))
            .expect("writing the config");
        std::fs::create_dir_all(dir.path().join("data")).expect("creating the data dir");
        let client = Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("building the HTTP client");
        let mut daemon = Daemon {
            child: None,
            address: SocketAddr::from(([127, 0, 0, 1], 0)),
            dir,
            config_path,
            logs: Arc::new(Mutex::new(String::new())),
            log_reader: None,
            client,
            accounts: AtomicUsize::new(0),
            env: Vec::new(),
        };
        daemon.spawn();
        daemon
    }

    /// A daemon whose config file is exactly `config_text` (no base settings merged in: include them), spawned
    /// with these extra environment variables, which restarts keep (e.g. `SOFTHSM2_CONF` for a private token).
    pub fn start_raw_with_env(config_text: &str, env: &[(&str, &str)]) -> Daemon {
        let dir = tempfile::Builder::new()
            .prefix("sigild-test-")
            .tempdir()
            .expect("creating a temp dir");
        let config_path = dir.path().join("sigild.toml");
        std::fs::write(&config_path, config_text).expect("writing the config");
        std::fs::create_dir_all(dir.path().join("data")).expect("creating the data dir");
        let client = Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("building the HTTP client");
        let mut daemon = Daemon {
            child: None,
            address: SocketAddr::from(([127, 0, 0, 1], 0)),
            dir,
            config_path,
            logs: Arc::new(Mutex::new(String::new())),
            log_reader: None,
            client,
            accounts: AtomicUsize::new(0),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        daemon.spawn();
        daemon
    }

    /// The config file the daemon reads (and re-reads on SIGHUP).
    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// The data directory (embedded store).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Replaces the config file with the base settings overridden by `config_toml` (takes effect on SIGHUP or
    /// restart).
    pub fn rewrite_config(&self, config_toml: &str) {
        std::fs::write(&self.config_path, merge_config(BASE_CONFIG, config_toml))
            .expect("writing the config");
    }

    /// Replaces the config file with exactly `text`.
    pub fn write_raw_config(&self, text: &str) {
        std::fs::write(&self.config_path, text).expect("writing the config");
    }

    fn spawn(&mut self) {
        let mut command = Command::new(SIGILD);
        isolate(&mut command);
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
        let mut child = command
            .arg("serve")
            .arg("--config")
            .arg(&self.config_path)
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(self.data_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning sigild");
        let stderr = child.stderr.take().expect("piped stderr");
        let logs = self.logs.clone();
        let (lines_tx, lines_rx) = mpsc::channel::<String>();
        // Drain stderr for the whole life of the process: a full pipe would block the daemon, and tests assert on
        // what it logged. Lines also go to the starter until it has seen the listening line.
        self.log_reader = Some(std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                {
                    let mut logs = logs.lock().unwrap_or_else(|p| p.into_inner());
                    logs.push_str(&line);
                    logs.push('\n');
                }
                let _ = lines_tx.send(line);
            }
        }));
        self.child = Some(child);
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines_rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(address) = listening_address(&line) {
                        self.address = address;
                        return;
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = self.child.as_mut().and_then(|c| c.wait().ok());
                    panic!(
                        "sigild exited before listening (status {status:?}); its log:\n{}",
                        self.logs()
                    );
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    panic!(
                        "sigild did not log \"sigild listening\" within {PATIENCE:?}; its log:\n{}",
                        self.logs()
                    );
                }
            }
        }
    }

    /// Everything the daemon (and its earlier incarnations in this test) wrote to stderr so far.
    pub fn logs(&self) -> String {
        self.logs.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Waits until the log contains `needle`, for things the daemon does asynchronously (signal handling).
    #[track_caller]
    pub fn wait_for_log(&self, needle: &str) {
        let deadline = Instant::now() + PATIENCE;
        while !self.logs().contains(needle) {
            let exited = self
                .log_reader
                .as_ref()
                .is_none_or(std::thread::JoinHandle::is_finished);
            assert!(
                !exited,
                "sigild exited before logging {needle:?}; its log:\n{}",
                self.logs()
            );
            assert!(
                Instant::now() < deadline,
                "the log never contained {needle:?}; it was:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The full URL of `path` on this daemon.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// A blocking HTTP client (shares connections with the helpers).
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// The process id of the running daemon.
    pub fn pid(&self) -> i32 {
        let child = self.child.as_ref().expect("the daemon is not running");
        i32::try_from(child.id()).expect("pid fits in i32")
    }

    /// Sends a signal to the running daemon.
    pub fn signal(&self, signal: i32) {
        send_signal(self.pid(), signal);
    }

    /// Asks the daemon to re-read its config.
    pub fn sighup(&self) {
        self.signal(libc::SIGHUP);
    }

    /// Stops the daemon with SIGTERM and returns its exit status.
    pub fn stop(&mut self) -> ExitStatus {
        self.stop_with(libc::SIGTERM)
    }

    /// Stops the daemon with `signal` and returns its exit status.
    pub fn stop_with(&mut self, signal: i32) -> ExitStatus {
        let mut child = self.child.take().expect("the daemon is not running");
        if matches!(child.try_wait(), Ok(None)) {
            send_signal(i32::try_from(child.id()).expect("pid fits in i32"), signal);
        }
        let status = wait_with_patience(&mut child).unwrap_or_else(|| {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "sigild did not exit within {PATIENCE:?} of signal {signal}; its log:\n{}",
                self.logs()
            )
        });
        self.finish_log();
        status
    }

    /// Waits until the exited process's last log lines are in `logs`.
    fn finish_log(&mut self) {
        if let Some(reader) = self.log_reader.take() {
            reader.join().expect("the log reader panicked");
        }
    }

    /// Kills the daemon with SIGKILL (no chance to clean up).
    pub fn kill9(&mut self) {
        let mut child = self.child.take().expect("the daemon is not running");
        child.kill().expect("sending SIGKILL");
        child.wait().expect("reaping sigild");
        self.finish_log();
    }

    /// Starts a new process on the same config and data dir (on a new port), stopping the old one with SIGTERM
    /// first if it still runs.
    pub fn restart(&mut self) {
        if self.child.is_some() {
            let status = self.stop();
            assert!(
                status.success(),
                "sigild exited with {status} on SIGTERM; its log:\n{}",
                self.logs()
            );
        }
        self.spawn();
    }

    /// Runs `sigild <args> --config <file> --data-dir <dir>` against this daemon's files (e.g. `admin grant`).
    /// With the embedded store, stop the daemon first.
    pub fn run_cli(&self, args: &[&str]) -> Output {
        assert!(
            self.child.is_none(),
            "stop the daemon first: the embedded store is opened exclusively"
        );
        let mut command = Command::new(SIGILD);
        command
            .args(args)
            .arg("--config")
            .arg(&self.config_path)
            .arg("--data-dir")
            .arg(self.data_dir());
        cli_output(command)
    }

    // ---- HTTP ---------------------------------------------------------------------------------------------------

    /// Sends a request built from [`Daemon::client`] and reads the whole reply.
    pub fn send(&self, request: RequestBuilder) -> Reply {
        let response = request
            .send()
            .unwrap_or_else(|e| panic!("request failed: {e}; log:\n{}", self.logs()));
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().expect("reading the response body");
        Reply {
            status,
            headers,
            text,
        }
    }

    /// Sends one HTTP/1.1 request on a fresh connection in a single write, then reads the reply until the server
    /// closes. For bodies the server refuses without reading them: reqwest may still be writing such a body when
    /// the server closes the connection, and would report a send error instead of the response. `head` is the
    /// request line and headers, without `Host` and the blank line.
    pub fn send_raw(&self, head: &str, body: &[u8]) -> Reply {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(self.address).expect("connecting to sigild");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("setting a read timeout");
        let mut request = format!(
            "{head}\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.address
        )
        .into_bytes();
        request.extend_from_slice(body);
        stream.write_all(&request).expect("sending the request");
        let mut raw = Vec::new();
        // A reset after the reply is how a server discards an unread body; what arrived before it counts.
        if let Err(error) = stream.read_to_end(&mut raw) {
            assert_eq!(
                error.kind(),
                std::io::ErrorKind::ConnectionReset,
                "reading the reply: {error}"
            );
        }
        let raw = String::from_utf8(raw).expect("a UTF-8 reply");
        let (head, body) = raw
            .split_once("\r\n\r\n")
            .unwrap_or_else(|| panic!("no complete reply: {raw:?}"));
        let mut lines = head.lines();
        let status_line = lines.next().unwrap_or_default();
        let status = status_line.split(' ').nth(1).and_then(|s| s.parse().ok());
        let status = status.unwrap_or_else(|| panic!("bad status line: {status_line:?}"));
        let mut headers = HeaderMap::new();
        for line in lines {
            let (name, value) = line
                .split_once(':')
                .unwrap_or_else(|| panic!("bad header line: {line:?}"));
            let name = reqwest::header::HeaderName::from_bytes(name.trim().as_bytes())
                .expect("header name");
            headers.append(name, value.trim().parse().expect("header value"));
        }
        Reply {
            status,
            headers,
            text: body.to_string(),
        }
    }

    /// GET with a bearer token.
    pub fn get(&self, path: &str, token: &str) -> Reply {
        self.send(self.client.get(self.url(path)).bearer_auth(token))
    }

    /// GET without credentials.
    pub fn get_public(&self, path: &str) -> Reply {
        self.send(self.client.get(self.url(path)))
    }

    /// POST a JSON body with a bearer token.
    pub fn post(&self, path: &str, token: &str, body: Value) -> Reply {
        self.send(
            self.client
                .post(self.url(path))
                .bearer_auth(token)
                .json(&body),
        )
    }

    /// POST a JSON body without credentials.
    pub fn post_public(&self, path: &str, body: Value) -> Reply {
        self.send(self.client.post(self.url(path)).json(&body))
    }

    /// DELETE with a bearer token.
    pub fn delete(&self, path: &str, token: &str) -> Reply {
        self.send(self.client.delete(self.url(path)).bearer_auth(token))
    }

    // ---- set-up helpers -----------------------------------------------------------------------------------------

    /// Registers an account; returns its session token and user id.
    #[track_caller]
    pub fn register(&self, name: &str, email: &str, password: &str) -> (String, String) {
        let body = self
            .post_public(
                "/auth/register",
                json!({ "name": name, "email": email, "password": password }),
            )
            .expect(200);
        (str_field(&body, "token"), str_field(&body, "userId"))
    }

    /// Logs in; returns the whole 200 body.
    #[track_caller]
    pub fn login(&self, email: &str, password: &str) -> Value {
        self.post_public(
            "/auth/login",
            json!({ "email": email, "password": password }),
        )
        .expect(200)
    }

    /// Creates a tenant; returns its id.
    #[track_caller]
    pub fn create_tenant(&self, token: &str, name: &str) -> String {
        let body = self
            .post("/api/tenants", token, json!({ "name": name }))
            .expect(201);
        str_field(&body, "id")
    }

    /// A fresh token scoped to the user's current tenant.
    #[track_caller]
    pub fn refresh(&self, token: &str) -> String {
        let reply = self.send(
            self.client
                .post(self.url("/auth/refresh"))
                .bearer_auth(token),
        );
        str_field(&reply.expect(200), "token")
    }

    /// A fresh token scoped to `tenant_id`.
    #[track_caller]
    pub fn refresh_to(&self, token: &str, tenant_id: &str) -> String {
        str_field(
            &self
                .post("/auth/refresh", token, json!({ "tenantId": tenant_id }))
                .expect(200),
            "token",
        )
    }

    /// A new account (unique within this daemon) that owns a new tenant, with a session scoped to it.
    #[track_caller]
    pub fn owner_with_tenant(&self) -> Owner {
        let n = self.accounts.fetch_add(1, Ordering::Relaxed);
        let email = format!("owner{n}@example.org");
        let (token, user_id) = self.register(&format!("Owner {n}"), &email, PASSWORD);
        let tenant_id = self.create_tenant(&token, &format!("Tenant {n}"));
        let token = self.refresh(&token);
        Owner {
            token,
            user_id,
            tenant_id,
            email,
        }
    }

    /// A new account (unique within this daemon) without a tenant; returns (token, user id, email).
    #[track_caller]
    pub fn user(&self) -> (String, String, String) {
        let n = self.accounts.fetch_add(1, Ordering::Relaxed);
        let email = format!("user{n}@example.org");
        let (token, user_id) = self.register(&format!("User {n}"), &email, PASSWORD);
        (token, user_id, email)
    }

    /// Adds `email` to the tenant with `role`; returns the member body.
    #[track_caller]
    pub fn add_member(&self, owner_token: &str, tenant_id: &str, email: &str, role: &str) -> Value {
        self.post(
            &format!("/api/tenants/{tenant_id}/members"),
            owner_token,
            json!({ "email": email, "role": role }),
        )
        .expect(201)
    }

    /// Creates an API key in the session's tenant; returns the secret key.
    #[track_caller]
    pub fn api_key(&self, token: &str, environment: &str) -> String {
        str_field(&self.create_api_key(token, environment), "key")
    }

    /// Creates an API key in the session's tenant; returns the whole 201 body.
    #[track_caller]
    pub fn create_api_key(&self, token: &str, environment: &str) -> Value {
        self.post(
            "/api/api-keys",
            token,
            json!({ "name": format!("{environment} key"), "environment": environment }),
        )
        .expect(201)
    }

    /// The Prometheus text of `/metrics`.
    #[track_caller]
    pub fn metrics(&self) -> String {
        let reply = self.get_public("/metrics");
        assert_eq!(reply.status, 200, "{}", reply.text);
        reply.text
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A fully read HTTP response.
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Response headers.
    pub headers: HeaderMap,
    /// Body text.
    pub text: String,
}

impl Reply {
    /// The body as JSON.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.text))
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().expect("header is not text").to_string())
    }

    /// Asserts the status and returns the JSON body (`null` for an empty one).
    #[track_caller]
    pub fn expect(&self, status: u16) -> Value {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.text
        );
        if self.text.is_empty() {
            Value::Null
        } else {
            self.json()
        }
    }
}

/// Asserts that `reply` is an API error with this status and code, in the documented shape: a JSON content type,
/// an `X-Request-Id` header, and `{"error": text, "code", "details": {"requestId": <that id>, ...}}`. Returns the
/// body.
#[track_caller]
pub fn assert_error(reply: &Reply, status: u16, code: &str) -> Value {
    assert_eq!(
        reply.status, status,
        "unexpected status; body: {}",
        reply.text
    );
    let content_type = reply.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("application/json"),
        "error content type is {content_type:?}"
    );
    let request_id = reply
        .header("x-request-id")
        .expect("every response carries X-Request-Id");
    assert!(!request_id.is_empty(), "empty X-Request-Id");
    let body = reply.json();
    assert_eq!(body["code"], code, "wrong code in {body}");
    assert!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "`error` must be a message: {body}"
    );
    assert!(
        body["details"].is_object(),
        "`details` must be an object: {body}"
    );
    assert_eq!(
        body["details"]["requestId"],
        request_id.as_str(),
        "details.requestId must repeat the header: {body}"
    );
    body
}

/// Asserts a 400 `INVALID_REQUEST` that names `field` in `details.field`.
#[track_caller]
pub fn assert_invalid_field(reply: &Reply, field: &str) {
    let body = assert_error(reply, 400, "INVALID_REQUEST");
    assert_eq!(
        body["details"]["field"], field,
        "details.field should name {field}: {body}"
    );
}

/// A string field of a JSON object, or a panic naming it.
#[track_caller]
pub fn str_field(body: &Value, field: &str) -> String {
    body[field]
        .as_str()
        .unwrap_or_else(|| panic!("`{field}` should be a string in {body}"))
        .to_string()
}

/// Runs a `sigild` command line with a clean environment and returns its output.
pub fn cli(args: &[&str]) -> Output {
    let mut command = Command::new(SIGILD);
    command.args(args);
    cli_output(command)
}

fn cli_output(mut command: Command) -> Output {
    isolate(&mut command)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = command.spawn().expect("spawning sigild");
    // A CLI command that serves instead of exiting would hang the suite: wait with a deadline.
    let pid = child.id();
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done_tx.send(child.wait_with_output());
    });
    match done_rx.recv_timeout(PATIENCE) {
        Ok(output) => output.expect("waiting for sigild"),
        Err(_) => {
            send_signal(i32::try_from(pid).expect("pid fits in i32"), libc::SIGKILL);
            panic!("`sigild` did not exit within {PATIENCE:?}");
        }
    }
}

/// Keeps the developer's environment out of the test: these variables would override the test's config, log
/// filter or data dir, or make sigild talk to a systemd that is not its supervisor.
fn isolate(command: &mut Command) -> &mut Command {
    for variable in [
        "RUST_LOG",
        "SIGIL_CONFIG",
        "SIGIL_LISTEN",
        "SIGIL_DATA_DIR",
        "STATE_DIRECTORY",
        "NOTIFY_SOCKET",
        "WATCHDOG_USEC",
    ] {
        command.env_remove(variable);
    }
    command
}

fn wait_with_patience(child: &mut Child) -> Option<ExitStatus> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(status) = child.try_wait().expect("polling sigild") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[allow(
    unsafe_code,
    reason = "kill(2) has no safe wrapper in std; signals are how operators drive sigild"
)]
fn send_signal(pid: i32, signal: i32) {
    // SAFETY: kill(2) takes plain integers and touches no memory of ours; `pid` is our own child, not yet reaped
    // (callers reap only after signalling), so it cannot name an unrelated process.
    let result = unsafe { libc::kill(pid, signal) };
    assert_eq!(
        result,
        0,
        "kill({pid}, {signal}) failed: {}",
        std::io::Error::last_os_error()
    );
}

/// The bound address from the JSON log line `{"fields": {"message": "sigild listening", "address": ...}}`.
fn listening_address(line: &str) -> Option<SocketAddr> {
    let event: Value = serde_json::from_str(line).ok()?;
    let fields = event.get("fields")?;
    if fields.get("message")?.as_str()? != "sigild listening" {
        return None;
    }
    fields.get("address")?.as_str()?.parse().ok()
}

/// Merges two TOML documents of `[section]` headers and `key = value` lines: keys of `overrides` replace those of
/// `base` in the same section. Enough for test configs; a test that needs an exact file writes it raw.
pub fn merge_config(base: &str, overrides: &str) -> String {
    let mut sections: Vec<(String, Vec<(String, String)>)> = vec![(String::new(), Vec::new())];
    for text in [base, overrides] {
        let mut current = String::new();
        for line in text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                current = name.trim().to_string();
                if !sections.iter().any(|(n, _)| *n == current) {
                    sections.push((current.clone(), Vec::new()));
                }
                continue;
            }
            let (key, value) = line
                .split_once('=')
                .unwrap_or_else(|| panic!("config line is not `key = value`: {line}"));
            let (key, value) = (key.trim().to_string(), value.trim().to_string());
            let entries = &mut sections
                .iter_mut()
                .find(|(n, _)| *n == current)
                .expect("section exists")
                .1;
            match entries.iter_mut().find(|(k, _)| *k == key) {
                Some(entry) => entry.1 = value,
                None => entries.push((key, value)),
            }
        }
    }
    let mut out = String::new();
    for (name, entries) in sections {
        if !name.is_empty() {
            out.push_str(&format!("\n[{name}]\n"));
        }
        for (key, value) in entries {
            out.push_str(&format!("{key} = {value}\n"));
        }
    }
    out
}

#[test]
fn merge_config_overrides_keys_and_adds_sections() {
    let merged = merge_config("[a]\nx = 1\ny = 2\n", "[a]\ny = 3\n[b]\nz = \"s\"\n");
    assert_eq!(merged, "\n[a]\nx = 1\ny = 3\n\n[b]\nz = \"s\"\n");
}
