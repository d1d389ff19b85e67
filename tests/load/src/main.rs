//! `sigil-load`: the load benchmark. It starts a real `sigild` (release build) with the local TSA (P-256 key in
//! kms-soft), then measures, at several numbers of concurrent keep-alive connections, tokens per second and
//! p50/p99 latency for `POST /tsr` and for `POST /tsa/stamp-hash` with an API key (every stamp a durable write),
//! and `POST /tsr` again against daemons whose local TSA has an RSA-2048 or RSA-4096 key. In the same run it
//! measures the ceilings, the daemon's `GET /healthz` rate and the raw signing rates in-process (P-256 with
//! aws-lc-rs, which kms-soft signs with; RSA through kms-soft's own key code), and prints every rate as a ratio
//! to them. Seal rows: `POST /seal/sign-hash` and `POST /seal/sign` (multipart, CAdES of 1 byte and of 1 MiB
//! with the platform certificate's P-256 key and with an RSA-4096 tenant certificate activated with a throw-away
//! `openssl` CA, PAdES of a small and of a 1 MiB PDF), each divided by the raw signing rate of its key type and
//! shown next to the raw SHA-256 rate of 1 MiB. It also times cold starts (`sigild serve` with a fresh data directory until `/readyz` answers 200).
//! The agent authorization rows (module `agents`, `--only ed25519,agent-verify,pending-100k`) measure the
//! Ed25519 verification ceiling, signed `GET /v1/verify`, and a daemon holding many pending claims and restarting
//! on them. The Sigil Auth rows (module `devices`, `--only p256-verify,device-flow,live-challenges`) measure
//! the P-256 verification ceiling, whole device approvals per second, and live challenges per GB. Run it with
//! `tests/bench.sh`. The in-process row `timer-memory` (module `memory`, `--claims N`)
//! measures what live requests cost the approval timers alone.

/// The daemon's allocator, so that the store ceiling measured in this process allocates as the daemon does.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

mod agents;
mod devices;
mod memory;

use std::io::BufRead;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use serde_json::{Value, json};

/// How long each measurement runs.
const PHASE: Duration = Duration::from_secs(8);
/// Warm-up before each measurement.
const WARMUP: Duration = Duration::from_secs(1);
/// Connection counts to measure.
const CONNECTIONS: [usize; 2] = [8, 64];

struct Options {
    sigild: PathBuf,
    phase: Duration,
    /// Only the endpoints whose name contains one of these comma-separated names (the ceilings of the rows
    /// that run are always measured).
    only: Option<String>,
    /// How many pending claims `pending-100k` submits.
    claims: u64,
    /// Concurrent connections submitting them.
    submitters: usize,
    /// How many verify requests per second of the measured period (plus warm-up) `agent-verify` pre-signs.
    presign_rate: u64,
    /// Connection counts to measure.
    connections: Vec<usize>,
    /// How many pending challenges `live-challenges` creates.
    challenges: u64,
}

fn options() -> Options {
    let mut sigild = None;
    let mut phase = PHASE;
    let mut only = None;
    let mut connections = CONNECTIONS.to_vec();
    let mut claims = 100_000;
    let mut submitters = 24;
    let mut presign_rate = 3_000;
    let mut challenges = 20_000;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--sigild" => sigild = args.next().map(PathBuf::from),
            "--seconds" => {
                phase = Duration::from_secs(args.next().and_then(|s| s.parse().ok()).unwrap_or(8))
            }
            "--only" => only = args.next(),
            "--claims" => claims = args.next().and_then(|s| s.parse().ok()).unwrap_or(claims),
            "--submitters" => {
                submitters = args
                    .next()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(submitters)
            }
            "--presign-rate" => {
                presign_rate = args
                    .next()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(presign_rate)
            }
            "--challenges" => {
                challenges = args
                    .next()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(challenges)
            }
            "--connections" => {
                connections = args
                    .next()
                    .map(|list| list.split(',').filter_map(|n| n.parse().ok()).collect())
                    .unwrap_or_default()
            }
            other => panic!(
                "unknown argument {other}; usage: sigil-load --sigild PATH [--seconds N] \
                 [--only NAME[,NAME...]] [--connections 8,64] [--claims 100000] [--submitters 24] [--presign-rate 3000] [--challenges 20000]"
            ),
        }
    }
    let sigild = sigild.unwrap_or_else(|| {
        let exe = std::env::current_exe().expect("current exe");
        exe.parent().expect("exe dir").join("sigild")
    });
    Options {
        sigild,
        phase,
        only,
        claims,
        submitters,
        presign_rate,
        connections,
        challenges,
    }
}

/// The daemon under test.
struct Daemon {
    child: Child,
    address: SocketAddr,
    /// The `live approval requests adopted` event of this start (its JSON fields), when it was logged.
    adopted: Option<Value>,
    _dir: Option<tempfile::TempDir>,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Daemon {
    /// Stops the daemon as systemd would (SIGTERM) and waits for it to exit; returns how long that took.
    fn terminate(&mut self) -> Duration {
        let started = Instant::now();
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("running kill");
        assert!(status.success(), "kill -TERM failed");
        self.child.wait().expect("waiting for sigild");
        started.elapsed()
    }

    /// `VmRSS` and `VmHWM` of the daemon process, in MB (from `/proc/<pid>/status`).
    fn memory_mb(&self) -> (f64, f64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("reading /proc/<pid>/status");
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| {
                    rest.trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<f64>()
                        .ok()
                })
                .map_or(f64::NAN, |kib| kib / 1024.0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }
}

/// A daemon with the default local TSA; with `kms_in_child`, its KMS instance (kms-soft, as by default) runs
/// with `isolation = "process"`; `extra` is appended to the config (e.g. a `[local_tsa]` key algorithm).
fn start_daemon(sigild: &PathBuf, kms_in_child: bool, extra: &str) -> Daemon {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut daemon = start_daemon_in(sigild, dir.path(), kms_in_child, extra);
    daemon._dir = Some(dir);
    daemon
}

/// The same in `dir` (config and data directory there), which the caller keeps: starting again in the same
/// directory restarts the daemon on its data.
fn start_daemon_in(
    sigild: &PathBuf,
    dir: &std::path::Path,
    kms_in_child: bool,
    extra: &str,
) -> Daemon {
    let config = dir.join("sigild.toml");
    let kms = if kms_in_child {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let key_file = dir.join("keystore.key");
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&key_file)
            .and_then(|mut file| file.write_all(&rand::random::<[u8; 32]>()))
            .expect("writing the keystore key");
        format!(
            "[[plugins]]\nname = \"local-kms\"\nfile = \"libsigil_kms_soft.so\"\nisolation = \"process\"\n\
             [plugins.config]\ndir = \"{}\"\nkey_file = \"{}\"\n",
            dir.join("keystore").display(),
            key_file.display()
        )
    } else {
        String::new()
    };
    // Limits far above what the run can reach: the benchmark measures throughput, not the limiter.
    std::fs::write(
        &config,
        r#"
[limits]
api_key_per_minute = 1000000000
session_per_minute = 1000000000
verification_per_minute = 1000000000
unauthenticated_per_minute = 1000000000

[log]
level = "warn"
format = "json"

[plugin_host]
watch = false
"#
        .to_string()
            + extra
            + &kms,
    )
    .expect("writing config");
    let mut child = Command::new(sigild)
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .env("RUST_LOG", "warn,sigild::server=info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", sigild.display()));
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel::<(String, Value)>();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if let Ok(event) = serde_json::from_str::<Value>(&line)
                && let Some(message) = event["fields"]["message"].as_str()
                && matches!(
                    message,
                    "sigild listening" | "live approval requests adopted"
                )
            {
                let _ = tx.send((message.to_string(), event["fields"].clone()));
            }
        }
    });
    let mut adopted = None;
    let address = loop {
        let (message, fields) = rx
            .recv_timeout(Duration::from_secs(600))
            .expect("sigild did not start listening");
        if message == "live approval requests adopted" {
            adopted = Some(fields);
        } else if let Some(address) = fields["address"].as_str().and_then(|a| a.parse().ok()) {
            break address;
        }
    };
    Daemon {
        child,
        address,
        adopted,
        _dir: None,
    }
}

/// One keep-alive HTTP/1.1 connection.
struct Connection {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
}

impl Connection {
    async fn open(address: SocketAddr) -> Connection {
        let stream = tokio::net::TcpStream::connect(address)
            .await
            .expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        let (sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .expect("handshake");
        tokio::spawn(connection);
        Connection { sender }
    }

    async fn send(&mut self, request: Request<Full<Bytes>>) -> (u16, Bytes) {
        let (status, _, body) = self.send_with_headers(request).await;
        (status, body)
    }

    async fn send_with_headers(
        &mut self,
        request: Request<Full<Bytes>>,
    ) -> (u16, hyper::HeaderMap, Bytes) {
        self.sender.ready().await.expect("connection ready");
        let response = self.sender.send_request(request).await.expect("request");
        let status = response.status().as_u16();
        let (parts, body) = response.into_parts();
        let body = body.collect().await.expect("body").to_bytes();
        (status, parts.headers, body)
    }
}

fn json_request(
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &Value,
) -> Request<Full<Bytes>> {
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "bench")
        .header("content-type", "application/json");
    if let Some(token) = token {
        builder = builder.header("authorization", format!("Bearer {token}"));
    }
    builder
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("request")
}

async fn call(
    address: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Value,
) -> Value {
    let mut connection = Connection::open(address).await;
    let (status, bytes) = connection
        .send(json_request(method, path, token, &body))
        .await;
    assert!(
        status < 300,
        "{method} {path} answered {status}: {}",
        String::from_utf8_lossy(&bytes)
    );
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}

/// Registers an owner with a tenant and returns the owner's session token (with the tenant).
async fn owner_session(address: SocketAddr) -> String {
    let body =
        json!({ "name": "Bench", "email": "bench@example.org", "password": "benchmark password" });
    let token = call(address, "POST", "/auth/register", None, body).await["token"]
        .as_str()
        .expect("token")
        .to_string();
    call(
        address,
        "POST",
        "/api/tenants",
        Some(&token),
        json!({ "name": "Bench" }),
    )
    .await;
    call(address, "POST", "/auth/refresh", Some(&token), json!({})).await["token"]
        .as_str()
        .expect("token")
        .to_string()
}

/// Registers an owner with a tenant and returns the owner's session token (with the tenant) and a live API key.
async fn api_key(address: SocketAddr) -> (String, String) {
    let token = owner_session(address).await;
    let key = call(
        address,
        "POST",
        "/api/api-keys",
        Some(&token),
        json!({ "name": "bench", "environment": "live" }),
    )
    .await;
    (token, key["key"].as_str().expect("key").to_string())
}

async fn wait_for_local_tsa(address: SocketAddr) {
    for _ in 0..600 {
        let mut connection = Connection::open(address).await;
        let request = Request::get("/proxy/services/local/certificates")
            .header("host", "bench")
            .body(Full::new(Bytes::new()))
            .expect("request");
        if connection.send(request).await.0 == 200 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the local TSA never became ready");
}

/// What one measurement found.
struct Measured {
    rate: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: u64,
}

/// Runs `connections` loops of `make_request` for `phase` after a warm-up; every answer must be `expect`.
async fn measure<F>(
    address: SocketAddr,
    connections: usize,
    phase: Duration,
    expect: u16,
    make_request: F,
) -> Measured
where
    F: Fn() -> Request<Full<Bytes>> + Send + Sync + 'static,
{
    let make_request = Arc::new(make_request);
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (make_request, measuring, stop) =
            (make_request.clone(), measuring.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut connection = Connection::open(address).await;
            let mut latencies = Vec::with_capacity(65536);
            let mut errors = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                let (status, _) = connection.send(make_request()).await;
                if measuring.load(Ordering::Relaxed) {
                    latencies.push(started.elapsed().as_micros() as u32);
                    if status != expect {
                        errors += 1;
                    }
                }
            }
            (latencies, errors)
        }));
    }
    collect(tasks, measuring, stop, phase).await
}

/// Durable stamp writes per second through the daemon's own store code (embedded SurrealKV, synced commits, the
/// same schema and group-commit writer as `sigild`), in this process, from `writers` concurrent tasks: the
/// ceiling of `POST /tsa/stamp-hash`, which adds a token, its verification and HTTP on top of one such write.
async fn store_ceiling(writers: usize, phase: Duration, tsr_base64: String) -> Measured {
    use sigild::store::{IfStamped, NewStamp, Store};
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = sigild::config::Config::default();
    config.server.data_dir = Some(dir.path().to_path_buf());
    let store = Store::open(&config).await.expect("opening the store");
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..writers {
        let (store, measuring, stop, tsr) = (
            store.clone(),
            measuring.clone(),
            stop.clone(),
            tsr_base64.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(65536);
            let mut errors = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let stamp = NewStamp {
                    tenant: sigild::ids::TenantId::new("bench-tenant"),
                    hash_hex: hex::encode(rand::random::<[u8; 32]>()),
                    hash_alg_oid: "2.16.840.1.101.3.4.2.1".into(),
                    serial: "1234567890123456789".into(),
                    gen_time: "2026-11-21T10:00:00Z".into(),
                    tsr: tsr.clone(),
                    provider: "local".into(),
                    tsa_name: "Sigil local TSA".into(),
                    label: None,
                    qualified: false,
                    policy_oid: "1.3.6.1.4.1.32473.1.1".into(),
                    parent: None,
                    cert_not_after: Some("2036-11-21T10:00:00Z".into()),
                    cert_not_before: Some("2026-11-21T10:00:00Z".into()),
                    latency_ms: 1,
                };
                let started = Instant::now();
                let written = store.insert_stamp(stamp, IfStamped::Conflict).await;
                if measuring.load(Ordering::Relaxed) {
                    latencies.push(started.elapsed().as_micros() as u32);
                    errors += u64::from(written.is_err());
                }
            }
            (latencies, errors)
        }));
    }
    collect(tasks, measuring, stop, phase).await
}

/// Runs the warm-up and the measured period of already started load tasks, then gathers their latencies.
async fn collect(
    tasks: Vec<tokio::task::JoinHandle<(Vec<u32>, u64)>>,
    measuring: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    phase: Duration,
) -> Measured {
    tokio::time::sleep(WARMUP).await;
    measuring.store(true, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(phase).await;
    measuring.store(false, Ordering::Relaxed);
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (mut own, own_errors) = task.await.expect("load task");
        latencies.append(&mut own);
        errors += own_errors;
    }
    latencies.sort_unstable();
    let percentile = |p: f64| {
        if latencies.is_empty() {
            return 0.0;
        }
        latencies[((latencies.len() - 1) as f64 * p) as usize] as f64 / 1000.0
    };
    Measured {
        rate: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50_ms: percentile(0.50),
        p99_ms: percentile(0.99),
        errors,
    }
}

/// Operations per second on all cores, in this process: each thread runs `setup` once (keys, inputs: not
/// timed), then the operation it returned for `phase`; the rates are summed.
fn all_cores<Setup, Op>(phase: Duration, setup: Setup) -> f64
where
    Setup: Fn() -> Op + Send + Sync + 'static,
    Op: FnMut(),
{
    let setup = Arc::new(setup);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let setup = setup.clone();
            std::thread::spawn(move || {
                let mut operation = setup();
                let started = Instant::now();
                let mut count = 0u64;
                while started.elapsed() < phase {
                    operation();
                    count += 1;
                }
                count as f64 / started.elapsed().as_secs_f64()
            })
        })
        .collect();
    handles
        .into_iter()
        .map(|h| h.join().expect("measuring thread"))
        .sum()
}

/// Raw P-256 signatures per second on this machine, in this process, on all cores, with the implementation
/// `kms-soft` signs with (aws-lc-rs): the ceiling of a token-per-request endpoint.
fn p256_ceiling(phase: Duration) -> f64 {
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};
    all_cores(phase, || {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let document =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).expect("key");
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, document.as_ref())
            .expect("key");
        let digest: [u8; 32] = rand::random();
        let digest =
            aws_lc_rs::digest::Digest::import_less_safe(&digest, &aws_lc_rs::digest::SHA256)
                .expect("digest");
        move || {
            let _signature = key.sign_digest(&digest).expect("sign");
        }
    })
}

/// The same with RustCrypto's `p256`, for reference (the pure-Rust implementation the project started with).
fn p256_rustcrypto_rate(phase: Duration) -> f64 {
    use p256::ecdsa::signature::hazmat::PrehashSigner;
    all_cores(phase, || {
        let key = p256::ecdsa::SigningKey::from_slice(&rand::random::<[u8; 32]>()).expect("key");
        let digest: [u8; 32] = rand::random();
        move || {
            let _signature: p256::ecdsa::Signature = key.sign_prehash(&digest).expect("sign");
        }
    })
}

/// Raw RSA signatures per second (PKCS#1 v1.5 with SHA-256 over a pre-computed digest, what the local TSA asks
/// for) through kms-soft's own key code, in this process, on all cores: the ceiling of `/tsr` with an RSA key.
fn rsa_ceiling(algorithm: sigil_plugin_api::KeyAlgorithm, phase: Duration) -> f64 {
    use sigil_kms_soft::keypair::PrivateKey;
    let key = Arc::new(PrivateKey::generate(algorithm).expect("RSA key"));
    all_cores(phase, move || {
        let key = key.clone();
        let digest: [u8; 32] = rand::random();
        move || {
            let _signature = key
                .sign(
                    sigil_plugin_api::SignatureAlgorithm::RsaPkcs1v15Sha256,
                    &digest,
                    true,
                )
                .expect("sign");
        }
    })
}

/// Cold start to ready, in milliseconds: from spawning `sigild serve` with a fresh temporary data directory
/// (embedded store, default local TSA, whose P-256 key and certificates are made on this first start) until
/// `GET /readyz` answers 200. Each run is a new daemon in a new directory; the median of `runs` is returned
/// with the fastest and slowest.
fn cold_start_ms(
    sigild: &PathBuf,
    runtime: &tokio::runtime::Runtime,
    runs: usize,
) -> (f64, f64, f64) {
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let started = Instant::now();
            let daemon = start_daemon(sigild, false, "");
            runtime.block_on(async {
                for _ in 0..30_000 {
                    let mut connection = Connection::open(daemon.address).await;
                    let request = Request::get("/readyz")
                        .header("host", "bench")
                        .body(Full::new(Bytes::new()))
                        .expect("request");
                    if connection.send(request).await.0 == 200 {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                panic!("sigild never became ready");
            });
            let elapsed = started.elapsed().as_secs_f64() * 1000.0;
            drop(daemon);
            elapsed
        })
        .collect();
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], times[0], times[times.len() - 1])
}

/// The multipart boundary of the seal uploads.
const BOUNDARY: &str = "sigil-load-boundary-7d1c";

/// A `multipart/form-data` body with the file part `file` (named `file_name`) and the text parts `fields`.
fn multipart(file_name: &str, file: &[u8], fields: &[(&str, &str)]) -> Bytes {
    let mut body = Vec::with_capacity(file.len() + 1024);
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    Bytes::from(body)
}

/// `POST /seal/sign` with a prepared multipart body (a cheap clone of shared bytes).
fn seal_request(key: &str, body: &Bytes) -> Request<Full<Bytes>> {
    Request::post("/seal/sign")
        .header("host", "bench")
        .header("authorization", format!("Bearer {key}"))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(Full::new(body.clone()))
        .expect("request")
}

/// A valid one-page PDF (catalog, pages, page, font, content stream, classic xref table) whose content stream
/// has about `stream_bytes` bytes of text-showing operators, so the file is that big and still well formed.
fn bench_pdf(stream_bytes: usize) -> Vec<u8> {
    let line = "BT /F1 12 Tf 72 720 Td (Sigil load benchmark) Tj ET\n";
    let content = line.repeat((stream_bytes / line.len()).max(1));
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R \
         /Resources << /Font << /F1 5 0 R >> >> >>"
            .to_string(),
        format!(
            "<< /Length {} >>\nstream\n{content}endstream",
            content.len()
        ),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_string(),
    ];
    let mut out = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = Vec::new();
    for (i, object) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{object}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for offset in offsets {
        out.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R /ID [<00112233445566778899aabbccddeeff> \
             <00112233445566778899aabbccddeeff>] >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

/// Waits until the platform seal certificate (ECDSA P-256, made on first start) is listed.
async fn wait_for_platform_seal(address: SocketAddr, key: &str) {
    for _ in 0..600 {
        let list = call(address, "GET", "/seal/certificates", Some(key), Value::Null).await;
        if list
            .as_array()
            .and_then(|l| l.last())
            .is_some_and(|last| last["source"] == "platform")
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the platform seal certificate never became ready");
}

/// Runs `openssl` in `dir`; panics with its output when it fails.
fn openssl(dir: &std::path::Path, args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("running openssl");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Provisions a tenant seal certificate with `algorithm` (the daemon makes the key in kms-soft and returns a
/// CSR), has a throw-away P-256 CA made with `openssl` sign it, activates the chain, and returns its id.
async fn tenant_certificate(address: SocketAddr, owner: &str, algorithm: &str) -> String {
    let provisioned = call(
        address,
        "POST",
        "/seal/certificates",
        Some(owner),
        json!({ "commonName": "Bench Seal", "organization": "Bench AS", "countryCode": "NO",
                "label": format!("bench {algorithm}"), "keyAlgorithm": algorithm }),
    )
    .await;
    let id = provisioned["id"].as_str().expect("id").to_string();
    let pki = tempfile::tempdir().expect("temp dir");
    let dir = pki.path();
    std::fs::write(
        dir.join("csr.pem"),
        provisioned["csrPem"].as_str().expect("csrPem"),
    )
    .expect("writing the CSR");
    std::fs::write(
        dir.join("leaf.ext"),
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,nonRepudiation\n",
    )
    .expect("writing the extensions");
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-subj",
            "/CN=Sigil Bench Seal CA/O=Bench",
            "-days",
            "2",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "csr.pem",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "leaf.pem",
            "-days",
            "1",
            "-extfile",
            "leaf.ext",
        ],
    );
    let chain = std::fs::read_to_string(dir.join("leaf.pem")).expect("leaf")
        + &std::fs::read_to_string(dir.join("ca.pem")).expect("CA");
    let active = call(
        address,
        "POST",
        &format!("/seal/certificates/{id}/activate"),
        Some(owner),
        json!({ "certificatePem": chain }),
    )
    .await;
    assert_eq!(active["status"], "active", "{active}");
    id
}

/// Seals once and checks the answer (200, `Content-Type`, `X-Seal-Format`, `X-Seal-Level: B-T`), so a row
/// never measures refusals.
async fn check_seal(
    address: SocketAddr,
    request: Request<Full<Bytes>>,
    content_type: &str,
    format: &str,
) {
    let mut connection = Connection::open(address).await;
    let (status, headers, body) = connection.send_with_headers(request).await;
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    assert_eq!(
        status,
        200,
        "seal answered {status}: {}",
        String::from_utf8_lossy(&body)
    );
    assert_eq!(header("content-type"), content_type);
    assert_eq!(header("x-seal-format"), format);
    assert_eq!(
        header("x-seal-level"),
        "B-T",
        "the seal was not time-stamped"
    );
    if format == "pades" {
        assert!(
            body.starts_with(b"%PDF-"),
            "the sealed PDF does not start with %PDF-"
        );
    }
}

/// SHA-256 of `size`-byte buffers per second in this process on all cores, with the `sha2` crate the daemon
/// hashes uploads with: the hashing share of a seal of a file that big.
fn sha256_rate(size: usize, phase: Duration) -> f64 {
    use sha2::Digest as _;
    all_cores(phase, move || {
        let data = vec![0x5au8; size];
        move || {
            std::hint::black_box(sha2::Sha256::digest(std::hint::black_box(&data)));
        }
    })
}

/// The seal rows, in the order they run: sign-hash (no upload), then uploads from 1 byte to 1 MiB.
const SEAL_ROWS: [&str; 6] = [
    "POST /seal/sign-hash CAdES P-256",
    "POST /seal/sign CAdES 1 B P-256",
    "POST /seal/sign CAdES 1 MiB P-256",
    "POST /seal/sign CAdES 1 MiB RSA-4096",
    "POST /seal/sign PAdES 2.6 KiB P-256",
    "POST /seal/sign PAdES 1 MiB P-256",
];

/// What the seal rows need, made once before the measurements: the multipart bodies (built once and shared by
/// every connection) and the certificates they name, each checked by one seal first.
struct SealSetup {
    /// Row name, multipart body, whether the row's key is the RSA-4096 tenant certificate.
    uploads: Vec<(&'static str, Bytes, bool)>,
}

impl SealSetup {
    async fn prepare(
        address: SocketAddr,
        owner: &str,
        key: &str,
        wanted: &dyn Fn(&str) -> bool,
    ) -> SealSetup {
        wait_for_platform_seal(address, key).await;
        let platform = [("certificateId", "platform")];
        let one_mib: Vec<u8> = (0..1usize << 20).map(|i| (i * 31 % 251) as u8).collect();
        let mut uploads = Vec::new();
        if wanted(SEAL_ROWS[0]) {
            let request = json_request(
                "POST",
                "/seal/sign-hash",
                Some(key),
                &json!({ "hashHex": hex::encode([1u8; 32]), "certificateId": "platform" }),
            );
            check_seal(address, request, "application/pkcs7-signature", "cades").await;
        }
        let rsa_id = if wanted(SEAL_ROWS[3]) {
            Some(tenant_certificate(address, owner, "rsa-4096").await)
        } else {
            None
        };
        let mut cases: Vec<(&'static str, Bytes, bool)> = vec![
            (SEAL_ROWS[1], multipart("one.bin", b"x", &platform), false),
            (
                SEAL_ROWS[2],
                multipart("one-mib.bin", &one_mib, &platform),
                false,
            ),
        ];
        if let Some(id) = &rsa_id {
            cases.push((
                SEAL_ROWS[3],
                multipart("one-mib.bin", &one_mib, &[("certificateId", id)]),
                true,
            ));
        }
        cases.push((
            SEAL_ROWS[4],
            multipart("small.pdf", &bench_pdf(2048), &platform),
            false,
        ));
        cases.push((
            SEAL_ROWS[5],
            multipart("one-mib.pdf", &bench_pdf(1 << 20), &platform),
            false,
        ));
        for (name, body, rsa) in cases {
            if !wanted(name) {
                continue;
            }
            let (content_type, format) = if name.contains("PAdES") {
                ("application/pdf", "pades")
            } else {
                ("application/pkcs7-signature", "cades")
            };
            check_seal(address, seal_request(key, &body), content_type, format).await;
            uploads.push((name, body, rsa));
        }
        SealSetup { uploads }
    }
}

/// The RSA key sizes measured: label, `[local_tsa] algorithm`, kms-soft key algorithm.
const RSA_SIZES: [(&str, &str, sigil_plugin_api::KeyAlgorithm); 2] = [
    (
        "RSA-2048",
        "rsa-2048",
        sigil_plugin_api::KeyAlgorithm::Rsa2048,
    ),
    (
        "RSA-4096",
        "rsa-4096",
        sigil_plugin_api::KeyAlgorithm::Rsa4096,
    ),
];

fn main() {
    let options = options();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let wanted = {
        let only = options.only.clone();
        move |name: &str| {
            only.as_deref()
                .is_none_or(|only| only.split(',').any(|part| name.contains(part)))
        }
    };
    if wanted("cold start") {
        let (median, fastest, slowest) = cold_start_ms(&options.sigild, &runtime, 5);
        println!(
            "cold start to ready (sigild serve, fresh data dir, until /readyz is 200): median {median:.0} ms \
             of 5 (fastest {fastest:.0}, slowest {slowest:.0})"
        );
    }
    // The agent authorization rows run first, each on a daemon of its own, stopped before the next one starts.
    agents::run(&options, &runtime, &wanted);
    devices::run(&options, &runtime, &wanted);
    memory::run(&options, &wanted);
    let legacy = [
        "GET /healthz",
        "POST /tsr",
        "POST /tsr (KMS in a child process)",
        "POST /tsr RSA-2048",
        "POST /tsr RSA-4096",
        "POST /tsa/stamp-hash",
    ]
    .iter()
    .chain(SEAL_ROWS.iter())
    .any(|name| wanted(name));
    if !legacy {
        return;
    }
    let daemon = start_daemon(&options.sigild, false, "");
    let address = daemon.address;
    println!(
        "sigil-load: sigild {} (pid {}) on {address}, {}s per measurement",
        options.sigild.display(),
        daemon.child.id(),
        options.phase.as_secs()
    );
    let phase = options.phase;
    let sigild = options.sigild.clone();

    let sign_rate = p256_ceiling(phase.min(Duration::from_secs(3)));
    println!("ceiling  raw P-256 signing in-process, aws-lc-rs (all cores): {sign_rate:>9.0} /s");
    let rustcrypto = p256_rustcrypto_rate(phase.min(Duration::from_secs(3)));
    println!(
        "reference raw P-256 signing in-process, RustCrypto p256 (all cores): {rustcrypto:>9.0} /s"
    );
    let mut rsa_rates = Vec::new();
    for (label, config_name, algorithm) in RSA_SIZES {
        let tsr_row = wanted(&format!("POST /tsr {label}"));
        // The RSA-4096 seal row divides by the same ceiling.
        let seal_row = label == "RSA-4096" && wanted(SEAL_ROWS[3]);
        if tsr_row || seal_row {
            let rate = rsa_ceiling(algorithm, phase.min(Duration::from_secs(3)));
            println!(
                "ceiling  raw {label} signing in-process, kms-soft (aws-lc-rs, all cores): {rate:>9.0} /s"
            );
            rsa_rates.push((label, config_name, rate, tsr_row));
        }
    }
    let rsa4096_rate = rsa_rates
        .iter()
        .find(|(label, ..)| *label == "RSA-4096")
        .map_or(f64::NAN, |(_, _, rate, _)| *rate);
    let seals = SEAL_ROWS.iter().any(|name| wanted(name));
    if seals {
        let rate = sha256_rate(1 << 20, phase.min(Duration::from_secs(3)));
        println!(
            "ceiling  raw SHA-256 of 1 MiB in-process, sha2 (all cores): {rate:>9.0} /s ({:.0} MB/s)",
            rate * 1.048_576
        );
    }

    runtime.block_on(async move {
        wait_for_local_tsa(address).await;
        let (owner, key) = api_key(address).await;
        let query = sigil_rfc3161::TimestampRequest::new(
            sigil_rfc3161::HashAlgorithm::Sha256,
            &[7u8; 32],
            None,
            true,
        )
        .expect("query")
        .der;
        let query = Bytes::from(query);
        // A real token from this daemon, so the write ceiling stores rows of the real size.
        let token = {
            let mut connection = Connection::open(address).await;
            let request = Request::post("/tsr")
                .header("host", "bench")
                .header("content-type", "application/timestamp-query")
                .body(Full::new(query.clone()))
                .expect("request");
            let (status, body) = connection.send(request).await;
            assert_eq!(status, 200, "POST /tsr");
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.encode(&body)
        };
        let seal_setup = if seals {
            Some(SealSetup::prepare(address, &owner, &key, &wanted).await)
        } else {
            None
        };
        println!(
            "{:<38} {:>5} {:>10} {:>8} {:>8} {:>7} {:>9} {:>9} {:>9}",
            "endpoint",
            "conns",
            "rate/s",
            "p50 ms",
            "p99 ms",
            "errors",
            "÷healthz",
            "÷sign",
            "÷write"
        );
        for connections in options.connections {
            let health = measure(address, connections, phase, 200, || {
                Request::get("/healthz")
                    .header("host", "bench")
                    .body(Full::new(Bytes::new()))
                    .expect("request")
            })
            .await;
            // `÷sign` divides by the raw signing rate of the row's own key type (P-256 unless the row names RSA).
            let row_signed = |name: &str, m: &Measured, write: Option<f64>, sign: f64| {
                let write = write.map_or("".to_string(), |w| format!("{:.3}", m.rate / w));
                println!(
                    "{name:<38} {connections:>5} {:>10.0} {:>8.2} {:>8.2} {:>7} {:>9.3} {:>9.3} {write:>9}",
                    m.rate,
                    m.p50_ms,
                    m.p99_ms,
                    m.errors,
                    m.rate / health.rate,
                    m.rate / sign
                );
            };
            let row = |name: &str, m: &Measured, write: Option<f64>| {
                row_signed(name, m, write, sign_rate)
            };
            row("GET /healthz (ceiling)", &health, None);
            if wanted("POST /tsr") {
                let tsr_query = query.clone();
                let tsr = measure(address, connections, phase, 200, move || {
                    Request::post("/tsr")
                        .header("host", "bench")
                        .header("content-type", "application/timestamp-query")
                        .body(Full::new(tsr_query.clone()))
                        .expect("request")
                })
                .await;
                row("POST /tsr", &tsr, None);
            }
            if wanted("POST /tsr (KMS in a child process)") {
                // The same request against a second daemon whose local-kms runs with isolation = "process",
                // started now and stopped after, so the two never compete for the cores.
                let isolated = start_daemon(&sigild, true, "");
                wait_for_local_tsa(isolated.address).await;
                let tsr_query = query.clone();
                let tsr = measure(isolated.address, connections, phase, 200, move || {
                    Request::post("/tsr")
                        .header("host", "bench")
                        .header("content-type", "application/timestamp-query")
                        .body(Full::new(tsr_query.clone()))
                        .expect("request")
                })
                .await;
                drop(isolated);
                row("POST /tsr (KMS in a child process)", &tsr, None);
            }
            for (label, config_name, rsa_rate, tsr_row) in &rsa_rates {
                if !tsr_row {
                    continue;
                }
                // A daemon whose local TSA has an RSA key of this size (made by kms-soft on its first start),
                // started now and stopped after, like the row above.
                let rsa = start_daemon(
                    &sigild,
                    false,
                    &format!("\n[local_tsa]\nalgorithm = \"{config_name}\"\n"),
                );
                wait_for_local_tsa(rsa.address).await;
                let tsr_query = query.clone();
                let tsr = measure(rsa.address, connections, phase, 200, move || {
                    Request::post("/tsr")
                        .header("host", "bench")
                        .header("content-type", "application/timestamp-query")
                        .body(Full::new(tsr_query.clone()))
                        .expect("request")
                })
                .await;
                drop(rsa);
                row_signed(&format!("POST /tsr {label}"), &tsr, None, *rsa_rate);
            }
            if wanted("POST /tsa/stamp-hash") {
                let write = store_ceiling(connections, phase, token.clone()).await;
                row("durable stamp writes (ceiling)", &write, Some(write.rate));
                let stamp_key = key.clone();
                let stamp = measure(address, connections, phase, 200, move || {
                    // A fresh digest each time: every request is a new stamp and a durable write.
                    let digest: [u8; 32] = rand::random();
                    json_request(
                        "POST",
                        "/tsa/stamp-hash",
                        Some(&stamp_key),
                        &json!({ "hashHex": hex::encode(digest), "tsaSlug": "local" }),
                    )
                })
                .await;
                row("POST /tsa/stamp-hash", &stamp, Some(write.rate));
            }
            if let Some(setup) = &seal_setup {
                if wanted(SEAL_ROWS[0]) {
                    let seal_key = key.clone();
                    let m = measure(address, connections, phase, 200, move || {
                        // A fresh digest each time, like a client hashing its own files.
                        let digest: [u8; 32] = rand::random();
                        json_request(
                            "POST",
                            "/seal/sign-hash",
                            Some(&seal_key),
                            &json!({ "hashHex": hex::encode(digest), "certificateId": "platform" }),
                        )
                    })
                    .await;
                    row(SEAL_ROWS[0], &m, None);
                }
                for (name, body, rsa) in &setup.uploads {
                    let (seal_key, body) = (key.clone(), body.clone());
                    let m = measure(address, connections, phase, 200, move || {
                        seal_request(&seal_key, &body)
                    })
                    .await;
                    row_signed(name, &m, None, if *rsa { rsa4096_rate } else { sign_rate });
                }
            }
        }
    });
    drop(daemon);
}
