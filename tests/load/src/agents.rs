//! The agent authorization rows (the Sigilum API), each against a daemon of its own:
//! - `ed25519`: the in-process ceiling, Ed25519 `verify_strict` of a 300-byte message on all cores;
//! - `agent-verify`: `GET /v1/verify` signed by approved agents (every request freshly signed with its own nonce,
//!   so every request is two Ed25519 verifications in the daemon, the certificate proof and the request, plus a
//!   durable nonce write), from a pool signed before the measurement so client-side signing stays out of it;
//! - `pending-100k`: many pending claims in one namespace (distinct agents, `maxPendingLimit` off), the daemon's
//!   memory with them, then a restart on the same data: time until `/healthz` answers and the adoption the
//!   daemon logs (`live approval requests adopted`, its `count` and `elapsed_ms`), and the memory after it.
//!   Only when `--only` names it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::Request;
use serde_json::{Value, json};
use sigil_httpsig::sigilum::{AgentIdentity, sign_sigilum};
use sigild::store::now_ms;

use crate::{Connection, Measured, Options, call, measure, owner_session, start_daemon_in};

const NAMESPACE: &str = "bench-ns";
const SERVICE: &str = "bench-svc";
/// How many approved agents `agent-verify` signs with, in turn.
const VERIFY_AGENTS: u64 = 4;

/// Pending claims wait a day (none expires during the run); the rest of the config is `start_daemon`'s.
const AGENT_CONFIG: &str = "\n[approvals]\npending_expiry = \"1day\"\n";

/// [`AGENT_CONFIG`], followed by the TOML in `SIGIL_LOAD_AGENT_CONFIG` when set (e.g. `[storage]` sizes, to
/// compare settings on the same phase).
fn agent_config() -> String {
    AGENT_CONFIG.to_string() + &std::env::var("SIGIL_LOAD_AGENT_CONFIG").unwrap_or_default()
}

pub(crate) fn run(
    options: &Options,
    runtime: &tokio::runtime::Runtime,
    wanted: &dyn Fn(&str) -> bool,
) {
    let verify_rows = wanted("agent-verify");
    let ceiling = if wanted("ed25519") || verify_rows {
        let rate = ed25519_ceiling(options.phase.min(Duration::from_secs(5)));
        println!(
            "ceiling  raw Ed25519 verify_strict of 300 B in-process, ed25519-dalek (all cores): {rate:>9.0} /s"
        );
        rate
    } else {
        f64::NAN
    };
    if verify_rows {
        runtime.block_on(agent_verify(options, ceiling));
    }
    // Opt-in: it takes long (minutes for a few thousand claims today), so a plain run leaves it out.
    if options.only.is_some() && wanted("pending-100k") {
        pending_claims(options, runtime);
    }
}

/// Ed25519 signature verifications per second (`verify_strict`, what sigil-httpsig verifies with, of a 300-byte
/// message) in this process on all cores: the ceiling of a verify request, which checks two signatures.
fn ed25519_ceiling(phase: Duration) -> f64 {
    use ed25519_dalek::Signer as _;
    crate::all_cores(phase, || {
        let key = ed25519_dalek::SigningKey::from_bytes(&rand::random::<[u8; 32]>());
        let message: Vec<u8> = (0..300).map(|_| rand::random::<u8>()).collect();
        let signature = key.sign(&message);
        let public = key.verifying_key();
        move || {
            public
                .verify_strict(std::hint::black_box(&message), &signature)
                .expect("verify");
        }
    })
}

/// The agent with number `index`: its seed is SHA-256 of the index, so every index is a distinct key.
fn agent(index: u64) -> AgentIdentity {
    use sha2::Digest as _;
    let seed: [u8; 32] = sha2::Sha256::digest(format!("sigil-load agent {index}")).into();
    AgentIdentity {
        namespace: NAMESPACE.into(),
        seed,
        issued_at: "2026-11-30T00:00:00Z".into(),
    }
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

/// A nonce never used before, also across daemon restarts on the same data (the run's random prefix).
fn nonce() -> String {
    static RUN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let run = RUN.get_or_init(|| hex::encode(rand::random::<[u8; 8]>()));
    format!("bench-{run}-{:x}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Percent-encodes everything but the unreserved characters, as the agent SDKs encode a query value.
fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A request signed by `identity` for `path` (with query) on `address`; a body is sent as JSON.
fn signed_request(
    address: SocketAddr,
    identity: &AgentIdentity,
    method: &str,
    path: &str,
    body: Option<Vec<u8>>,
    bearer: Option<&str>,
) -> Request<Full<Bytes>> {
    let url = format!("http://{address}{path}");
    let headers = sign_sigilum(
        identity,
        method,
        &url,
        body.as_deref(),
        NAMESPACE,
        now_secs(),
        &nonce(),
    )
    .expect("signing");
    let mut builder = Request::builder()
        .method(method.to_ascii_uppercase().as_str())
        .uri(path)
        .header("host", address.to_string());
    for (name, value) in headers {
        builder = builder.header(name, value);
    }
    if let Some(token) = bearer {
        builder = builder.header("authorization", format!("Bearer {token}"));
    }
    if body.is_some() {
        builder = builder.header("content-type", "application/json");
    }
    builder
        .body(Full::new(Bytes::from(body.unwrap_or_default())))
        .expect("request")
}

/// The claim of agent `index` for the bench service.
fn claim_request(address: SocketAddr, index: u64, service_key: &str) -> Request<Full<Bytes>> {
    let identity = agent(index);
    let body = json!({ "namespace": NAMESPACE, "public_key": identity.public_key_text(), "service": SERVICE,
                       "agent_ip": "203.0.113.7", "nonce": format!("claim-{}", nonce()) });
    signed_request(
        address,
        &identity,
        "post",
        "/v1/claims",
        Some(body.to_string().into_bytes()),
        Some(service_key),
    )
}

/// An owner with the namespace (pending limit lifted), the service and a service key: (owner session, key).
async fn agent_world(address: SocketAddr) -> (String, String) {
    let owner = owner_session(address).await;
    call(
        address,
        "POST",
        "/v1/namespaces",
        Some(&owner),
        json!({ "namespace": NAMESPACE }),
    )
    .await;
    call(
        address,
        "PUT",
        &format!("/v1/namespaces/{NAMESPACE}/policy"),
        Some(&owner),
        json!({ "maxPendingLimit": false }),
    )
    .await;
    let service = call(
        address,
        "POST",
        "/v1/services",
        Some(&owner),
        json!({ "name": "Bench", "slug": SERVICE, "domain": "bench.example", "description": "bench" }),
    )
    .await;
    let id = service["id"].as_str().expect("service id");
    let key = call(
        address,
        "POST",
        &format!("/v1/services/{id}/keys"),
        Some(&owner),
        json!({}),
    )
    .await;
    (owner, key["key"].as_str().expect("service key").to_string())
}

/// The path and query of a verify request for `identity`.
fn verify_path(identity: &AgentIdentity) -> String {
    format!(
        "/v1/verify?namespace={NAMESPACE}&public_key={}&service={SERVICE}",
        urlencode(&identity.public_key_text())
    )
}

/// A signed verify request, kept as the two header fields that change from one request to the next.
struct Signed {
    agent: usize,
    signature_input: String,
    signature: String,
}

/// What the verify requests of one agent share: path and the header fields that do not change.
struct AgentRequests {
    identity: AgentIdentity,
    path: String,
    fixed: Vec<(String, String)>,
}

/// Signs `count` verify requests on all cores; returns them and the signing rate (per second).
fn presign(
    address: SocketAddr,
    agents: &Arc<Vec<AgentRequests>>,
    count: usize,
) -> (Vec<Signed>, f64) {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let started = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|thread| {
            let agents = agents.clone();
            std::thread::spawn(move || {
                let share = count / threads + usize::from(thread < count % threads);
                (0..share)
                    .map(|i| {
                        let agent = (i * threads + thread) % agents.len();
                        sign_verify(address, &agents[agent], agent)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut pool = Vec::with_capacity(count);
    for handle in handles {
        pool.extend(handle.join().expect("signing thread"));
    }
    (pool, count as f64 / started.elapsed().as_secs_f64())
}

fn sign_verify(address: SocketAddr, agent: &AgentRequests, index: usize) -> Signed {
    let url = format!("http://{address}{}", agent.path);
    let mut headers = sign_sigilum(
        &agent.identity,
        "get",
        &url,
        None,
        NAMESPACE,
        now_secs(),
        &nonce(),
    )
    .expect("signing");
    let signature = headers.pop().expect("signature");
    let signature_input = headers.pop().expect("signature-input");
    debug_assert_eq!(signature.0, "signature");
    debug_assert_eq!(signature_input.0, "signature-input");
    Signed {
        agent: index,
        signature_input: signature_input.1,
        signature: signature.1,
    }
}

fn verify_request(agents: &[AgentRequests], signed: &Signed) -> Request<Full<Bytes>> {
    let agent = &agents[signed.agent];
    let mut builder = Request::get(agent.path.as_str()).header("host", "bench");
    for (name, value) in &agent.fixed {
        builder = builder.header(name.as_str(), value.as_str());
    }
    builder
        .header("signature-input", signed.signature_input.as_str())
        .header("signature", signed.signature.as_str())
        .body(Full::new(Bytes::new()))
        .expect("request")
}

/// `agent-verify`: approved agents, then `GET /v1/verify` at each connection count, next to `/healthz`.
async fn agent_verify(options: &Options, ed25519: f64) {
    let dir = tempfile::tempdir().expect("temp dir");
    let daemon = start_daemon_in(&options.sigild, dir.path(), false, &agent_config());
    let address = daemon.address;
    println!(
        "agent-verify: sigild (pid {}) on {address}, {} approved agents, {}s per measurement",
        daemon.child.id(),
        VERIFY_AGENTS,
        options.phase.as_secs()
    );
    let (owner, service_key) = agent_world(address).await;
    let mut agents = Vec::new();
    for index in 0..VERIFY_AGENTS {
        let mut connection = Connection::open(address).await;
        let (status, body) = connection
            .send(claim_request(address, index, &service_key))
            .await;
        assert_eq!(
            status,
            201,
            "claim answered {status}: {}",
            String::from_utf8_lossy(&body)
        );
        let claim: Value = serde_json::from_slice(&body).expect("claim JSON");
        let id = claim["claim_id"].as_str().expect("claim_id");
        call(
            address,
            "POST",
            &format!("/v1/claims/{id}/approve"),
            Some(&owner),
            json!({}),
        )
        .await;
        let identity = agent(index);
        let path = verify_path(&identity);
        let mut fixed = sign_sigilum(
            &identity,
            "get",
            &format!("http://{address}{path}"),
            None,
            NAMESPACE,
            now_secs(),
            &nonce(),
        )
        .expect("signing");
        fixed.truncate(fixed.len() - 2);
        let requests = AgentRequests {
            identity,
            path,
            fixed,
        };
        // One verify first: it must say authorized, so the rows never measure refusals.
        let check = sign_verify(address, &requests, 0);
        let (status, body) = connection
            .send(verify_request(std::slice::from_ref(&requests), &check))
            .await;
        let answer: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        assert!(
            status == 200 && answer["authorized"] == true,
            "verify answered {status}: {answer}"
        );
        agents.push(requests);
    }
    let agents = Arc::new(agents);
    println!(
        "{:<38} {:>5} {:>10} {:>8} {:>8} {:>7} {:>9} {:>9}",
        "endpoint", "conns", "rate/s", "p50 ms", "p99 ms", "errors", "÷healthz", "÷ed25519"
    );
    for &connections in &options.connections {
        let health = measure(address, connections, options.phase, 200, || {
            Request::get("/healthz")
                .header("host", "bench")
                .body(Full::new(Bytes::new()))
                .expect("request")
        })
        .await;
        let row = |name: &str, m: &Measured| {
            println!(
                "{name:<38} {connections:>5} {:>10.0} {:>8.2} {:>8.2} {:>7} {:>9.3} {:>9.3}",
                m.rate,
                m.p50_ms,
                m.p99_ms,
                m.errors,
                m.rate / health.rate,
                m.rate / ed25519
            );
        };
        row("GET /healthz (ceiling)", &health);
        let count = ((options.phase + crate::WARMUP).as_secs_f64() * options.presign_rate as f64)
            as usize
            + connections;
        let signing = agents.clone();
        let (pool, sign_rate) =
            tokio::task::spawn_blocking(move || presign(address, &signing, count))
                .await
                .expect("pre-signing");
        println!(
            "  client: {count} verify requests pre-signed with sign_sigilum at {sign_rate:.0} /s (all cores)"
        );
        let pool = Arc::new(pool);
        let next = Arc::new(AtomicUsize::new(0));
        let inline = Arc::new(AtomicU64::new(0));
        let (request_agents, request_pool, request_next, request_inline) =
            (agents.clone(), pool.clone(), next.clone(), inline.clone());
        let cpu_before = (
            cpu_seconds(daemon.child.id()),
            cpu_seconds(std::process::id()),
        );
        let wall = Instant::now();
        let verify = measure(address, connections, options.phase, 200, move || {
            let index = request_next.fetch_add(1, Ordering::Relaxed);
            match request_pool.get(index) {
                Some(signed) => verify_request(&request_agents, signed),
                None => {
                    // The pool ran out: sign here (counted and printed, as it costs the daemon CPU).
                    request_inline.fetch_add(1, Ordering::Relaxed);
                    let agent = index % request_agents.len();
                    let signed = sign_verify(address, &request_agents[agent], agent);
                    verify_request(&request_agents, &signed)
                }
            }
        })
        .await;
        let wall = wall.elapsed().as_secs_f64();
        let cpu = |pid: u32, before: f64| (cpu_seconds(pid) - before) / wall * 100.0;
        row("GET /v1/verify (signed agent)", &verify);
        println!(
            "  CPU during verify (warm-up included): sigild {:.0} %, sigil-load {:.0} % (of {} % for all cores)",
            cpu(daemon.child.id(), cpu_before.0),
            cpu(std::process::id(), cpu_before.1),
            100 * std::thread::available_parallelism().map_or(2, |n| n.get())
        );
        // The store's share of a verify: one durable nonce per request, measured without HTTP or signatures.
        let nonces = nonce_ceiling(connections, options.phase).await;
        println!(
            "{:<38} {connections:>5} {:>10.0} {:>8.2} {:>8.2} {:>7}   verify ÷ this: {:.3}",
            "durable nonce writes (in-process)",
            nonces.rate,
            nonces.p50_ms,
            nonces.p99_ms,
            nonces.errors,
            verify.rate / nonces.rate
        );
        let inline = inline.load(Ordering::Relaxed);
        if inline > 0 {
            println!(
                "  client: the pool ran out; {inline} requests were signed during the run (raise --presign-rate)"
            );
        }
    }
    drop(daemon);
}

/// Durable replay-nonce writes per second through the daemon's own store code (embedded SurrealKV, synced
/// commits, the same schema and group-commit writer as `sigild`), in this process, from `writers` concurrent
/// tasks: the store's share of every signed request, which records its nonce before it is answered.
async fn nonce_ceiling(writers: usize, phase: Duration) -> Measured {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = sigild::config::Config::default();
    config.server.data_dir = Some(dir.path().to_path_buf());
    let store = sigild::store::Store::open(&config)
        .await
        .expect("opening the store");
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..writers {
        let (store, measuring, stop) = (store.clone(), measuring.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(65536);
            let mut errors = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                let fresh = store
                    .record_nonce("sig:bench-ns", &nonce(), now_ms() + 600_000)
                    .await;
                if measuring.load(Ordering::Relaxed) {
                    latencies.push(started.elapsed().as_micros() as u32);
                    errors += u64::from(!matches!(fresh, Ok(true)));
                }
            }
            (latencies, errors)
        }));
    }
    crate::collect(tasks, measuring, stop, phase).await
}

/// User plus system CPU time of process `pid` so far, in seconds (`/proc/<pid>/stat`, 100 ticks a second).
fn cpu_seconds(pid: u32) -> f64 {
    let stat =
        std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("reading /proc/<pid>/stat");
    // The fields after the command name (which is in parentheses and may hold spaces): utime and stime are
    // the 12th and 13th of them.
    let rest = &stat[stat.rfind(')').expect("stat") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 =
        fields[11].parse::<f64>().expect("utime") + fields[12].parse::<f64>().expect("stime");
    ticks / 100.0
}

/// `pending-100k`: submits `options.claims` pending claims, reads the daemon's memory, restarts it on the same
/// data and times the start, the adoption of the live claims and the memory after.
fn pending_claims(options: &Options, runtime: &tokio::runtime::Runtime) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut daemon = start_daemon_in(&options.sigild, dir.path(), false, &agent_config());
    let address = daemon.address;
    let claims = options.claims;
    println!(
        "pending-100k: sigild (pid {}) on {address}, {claims} claims from {} connections",
        daemon.child.id(),
        options.submitters
    );
    let (before_rss, _) = daemon.memory_mb();
    let pid = daemon.child.id();
    let (elapsed, errors, busy, latencies, cpu) = runtime.block_on(async {
        let (_owner, service_key) = agent_world(address).await;
        let before = (cpu_seconds(pid), cpu_seconds(std::process::id()));
        let (elapsed, errors, busy, latencies) =
            submit_claims(address, claims, options.submitters, &service_key).await;
        let cpu =
            |pid: u32, before: f64| (cpu_seconds(pid) - before) / elapsed.as_secs_f64() * 100.0;
        let cpu = (cpu(pid, before.0), cpu(std::process::id(), before.1));
        (elapsed, errors, busy, latencies, cpu)
    });
    let submitted = latencies.len() as u64 - errors;
    let percentile =
        |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize] as f64 / 1000.0;
    println!(
        "POST /v1/claims: {submitted} pending in {:.1} s = {:.0} claims/s, p50 {:.2} ms, p99 {:.2} ms, {errors} errors, \
         {busy} answers 503 \"namespace is busy\" retried",
        elapsed.as_secs_f64(),
        submitted as f64 / elapsed.as_secs_f64(),
        percentile(0.5),
        percentile(0.99)
    );
    println!(
        "  CPU during submission: sigild {:.0} %, sigil-load (signing every claim) {:.0} %",
        cpu.0, cpu.1
    );
    let (rss, hwm) = daemon.memory_mb();
    println!(
        "sigild memory with {submitted} pending claims: VmRSS {rss:.0} MB, VmHWM {hwm:.0} MB (at start: {before_rss:.0} MB)"
    );
    let stopped = daemon.terminate();
    println!(
        "stop (SIGTERM until exit): {:.0} ms",
        stopped.as_secs_f64() * 1000.0
    );
    drop(daemon);
    let started = Instant::now();
    let daemon = start_daemon_in(&options.sigild, dir.path(), false, &agent_config());
    let listening = started.elapsed();
    runtime.block_on(async {
        loop {
            let mut connection = Connection::open(daemon.address).await;
            let request = Request::get("/healthz")
                .header("host", "bench")
                .body(Full::new(Bytes::new()))
                .expect("request");
            if connection.send(request).await.0 == 200 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    });
    let healthy = started.elapsed();
    let adopted = daemon.adopted.clone().unwrap_or(Value::Null);
    println!(
        "restart on the same data: /healthz 200 after {:.0} ms (listening after {:.0} ms); \
         \"live approval requests adopted\": count {}, elapsed_ms {}",
        healthy.as_secs_f64() * 1000.0,
        listening.as_secs_f64() * 1000.0,
        adopted["count"],
        adopted["elapsed_ms"]
    );
    let (rss, hwm) = daemon.memory_mb();
    println!("sigild memory after the restart: VmRSS {rss:.0} MB, VmHWM {hwm:.0} MB");
    std::thread::sleep(Duration::from_secs(5));
    let (rss, hwm) = daemon.memory_mb();
    println!("sigild memory 5 s later: VmRSS {rss:.0} MB, VmHWM {hwm:.0} MB");
    drop(daemon);
}

/// Submits claims 0..`claims` from `submitters` connections; returns the time taken, the number of answers
/// that were not 201, the number of 503 answers retried and every latency (µs, retries included). Prints
/// progress every tenth.
async fn submit_claims(
    address: SocketAddr,
    claims: u64,
    submitters: usize,
    service_key: &str,
) -> (Duration, u64, u64, Vec<u32>) {
    let next = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let step = (claims / 10).max(1);
    let mut tasks = Vec::new();
    for _ in 0..submitters {
        let (next, done, key) = (next.clone(), done.clone(), service_key.to_string());
        tasks.push(tokio::spawn(async move {
            let mut connection = Connection::open(address).await;
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            let mut busy = 0u64;
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= claims {
                    break;
                }
                let sent = Instant::now();
                let (status, body) = loop {
                    // Freshly signed each time (new nonce); a 503 "the namespace is busy; retry" is retried, as
                    // the answer asks, and counted.
                    let request = claim_request(address, index, &key);
                    let (status, body) = connection.send(request).await;
                    if status != 503 {
                        break (status, body);
                    }
                    busy += 1;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                };
                latencies.push(sent.elapsed().as_micros() as u32);
                if status != 201 {
                    errors += 1;
                    if errors == 1 {
                        eprintln!(
                            "  claim {index} answered {status}: {}",
                            String::from_utf8_lossy(&body)
                        );
                    }
                }
                let finished = done.fetch_add(1, Ordering::Relaxed) + 1;
                if finished % step == 0 {
                    println!(
                        "  {finished} claims after {:.1} s",
                        started.elapsed().as_secs_f64()
                    );
                }
            }
            (latencies, errors, busy)
        }));
    }
    let mut latencies = Vec::new();
    let (mut errors, mut busy) = (0, 0);
    for task in tasks {
        let (mut own, own_errors, own_busy) = task.await.expect("submit task");
        latencies.append(&mut own);
        errors += own_errors;
        busy += own_busy;
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    (elapsed, errors, busy, latencies)
}
