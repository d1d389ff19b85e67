//! The Sigil Auth rows (device approvals, seed 002), against a daemon of their own:
//! - `p256-verify`: the in-process ceiling, RustCrypto `p256` ECDSA verification (what `sigil-device` checks a
//!   device's answer with) of a 32-byte digest on all cores;
//! - `device-flow`: whole approvals per second at each connection count, one flow per connection and one device
//!   per flow: `POST /challenge` (API key) → the device polls `GET /v1/devices/{fp}/challenges` (its signed
//!   timestamp) → `POST /respond` (its signature over the challenge) → `GET /v1/auth/challenge/{id}/status`
//!   until `verified`. The daemon checks two device signatures and has the KMS sign one challenge per flow; the
//!   client's P-256 signatures (poll and answer) use aws-lc-rs so that they take as little of the shared cores
//!   as possible;
//! - `live-challenges`: pending challenges the daemon holds per GB of resident memory, from `--challenges`
//!   pending at once (each with its timer actor) against the memory before them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use sigil_device::messages::{self, Decision};

use crate::{Connection, Options, call, collect, json_request, start_daemon};

/// A simulated device: an aws-lc-rs P-256 key, its compressed public key and fingerprint.
struct Device {
    key: EcdsaKeyPair,
    public_key: String,
    fingerprint: String,
}

impl Device {
    fn new() -> Device {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let document =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).expect("key");
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, document.as_ref())
            .expect("key");
        let point = p256::PublicKey::from_sec1_bytes(key.public_key().as_ref()).expect("point");
        let compressed = {
            use p256::elliptic_curve::sec1::ToSec1Point;
            point.to_sec1_point(true).as_bytes().to_vec()
        };
        Device {
            key,
            public_key: B64.encode(&compressed),
            fingerprint: sigil_device::fingerprint(&compressed),
        }
    }

    /// `r‖s` (low-S, as the daemon requires) over `message`, standard base64.
    fn sign(&self, message: &[u8]) -> String {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let fixed = self.key.sign(&rng, message).expect("sign");
        let signature = p256::ecdsa::Signature::from_slice(fixed.as_ref()).expect("r||s");
        B64.encode(signature.normalize_s().to_bytes())
    }
}

pub(crate) fn run(
    options: &Options,
    runtime: &tokio::runtime::Runtime,
    wanted: &dyn Fn(&str) -> bool,
) {
    let flows = wanted("device-flow");
    let live = options.only.is_some() && wanted("live-challenges");
    if !(wanted("p256-verify") || flows || live) {
        return;
    }
    let ceiling = p256_verify_ceiling(options.phase.min(Duration::from_secs(5)));
    println!(
        "ceiling  raw P-256 ECDSA verify in-process, RustCrypto p256 (all cores): {ceiling:>9.0} /s"
    );
    if flows {
        runtime.block_on(device_flows(options, ceiling));
    }
    // Opt-in, like pending-100k: it creates many challenges.
    if live {
        runtime.block_on(live_challenges(options));
    }
}

/// ECDSA P-256 verifications per second with RustCrypto's `p256` on all cores.
fn p256_verify_ceiling(phase: Duration) -> f64 {
    use p256::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
    crate::all_cores(phase, || {
        let key = p256::ecdsa::SigningKey::from_slice(&rand::random::<[u8; 32]>()).expect("key");
        let digest: [u8; 32] = rand::random();
        let signature: p256::ecdsa::Signature = key.sign_prehash(&digest).expect("sign");
        let verifying = *key.verifying_key();
        move || {
            verifying
                .verify_prehash(&digest, &signature)
                .expect("verify");
        }
    })
}

/// The tenant's API key once the server identity is up, and `count` registered devices.
async fn world(address: SocketAddr, count: usize) -> (String, Vec<Arc<Device>>) {
    let (_owner, key) = crate::api_key(address).await;
    for _ in 0..600 {
        let mut connection = Connection::open(address).await;
        let request = hyper::Request::get("/info")
            .header("host", "bench")
            .body(http_body_util::Full::new(bytes::Bytes::new()))
            .expect("request");
        if connection.send(request).await.0 == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut devices = Vec::new();
    for _ in 0..count {
        let device = Device::new();
        let challenge = call(
            address,
            "GET",
            "/devices/register/challenge",
            Some(&key),
            Value::Null,
        )
        .await;
        let nonce = B64
            .decode(challenge["nonce"].as_str().expect("nonce"))
            .expect("nonce base64");
        let signature = device.sign(&messages::registration_message(&nonce));
        call(
            address,
            "POST",
            "/devices/register",
            Some(&key),
            json!({ "device_public_key": device.public_key, "challenge_id": challenge["challenge_id"],
                    "signature": signature }),
        )
        .await;
        devices.push(Arc::new(device));
    }
    (key, devices)
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// One whole approval on `connection`; `true` when it ended `verified`.
async fn one_flow(connection: &mut Connection, key: &str, device: &Device) -> bool {
    let action = json!({ "type": "login", "description": "bench" });
    let (status, body) = connection
        .send(json_request(
            "POST",
            "/challenge",
            Some(key),
            &json!({ "fingerprint": device.fingerprint, "device_public_key": device.public_key,
                     "action": action }),
        ))
        .await;
    if status != 201 {
        return false;
    }
    let created: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let id = created["challenge_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    // The device polls, as one without a push channel does.
    let timestamp = now_secs();
    let poll_signature =
        device.sign(&messages::poll_message(&device.fingerprint, timestamp).expect("poll message"));
    let request = hyper::Request::get(format!("/v1/devices/{}/challenges", device.fingerprint))
        .header("host", "bench")
        .header("x-sigil-device-timestamp", timestamp.to_string())
        .header("x-sigil-device-signature", poll_signature)
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .expect("request");
    let (status, body) = connection.send(request).await;
    if status != 200 {
        return false;
    }
    let waiting: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let Some(item) = waiting["challenges"].as_array().and_then(|items| {
        items
            .iter()
            .find(|item| item["challenge_id"] == id.as_str())
    }) else {
        return false;
    };
    let Some(bytes) = item["challenge_bytes"]
        .as_str()
        .and_then(|text| B64.decode(text).ok())
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
    else {
        return false;
    };
    let message = messages::challenge_message(Decision::Approve, &bytes, Some(&item["action"]))
        .expect("challenge message");
    let (status, _) = connection
        .send(json_request(
            "POST",
            "/respond",
            None,
            &json!({ "challenge_id": id, "fingerprint": device.fingerprint, "decision": "approve",
                     "signature": device.sign(&message) }),
        ))
        .await;
    if status != 200 {
        return false;
    }
    let (status, body) = connection
        .send(json_request(
            "GET",
            &format!("/v1/auth/challenge/{id}/status"),
            Some(key),
            &Value::Null,
        ))
        .await;
    status == 200
        && serde_json::from_slice::<Value>(&body).is_ok_and(|status| status["status"] == "verified")
}

/// `device-flow` at each connection count.
async fn device_flows(options: &Options, ceiling: f64) {
    let most = options.connections.iter().copied().max().unwrap_or(8);
    let daemon = start_daemon(&options.sigild, false, "");
    let address = daemon.address;
    println!(
        "device-flow: sigild (pid {}) on {address}, {most} devices, {}s per measurement",
        daemon.child.id(),
        options.phase.as_secs()
    );
    let (key, devices) = world(address, most).await;
    let key = Arc::new(key);
    for &connections in &options.connections {
        let measuring = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        for device in devices.iter().take(connections) {
            let (device, key, measuring, stop) =
                (device.clone(), key.clone(), measuring.clone(), stop.clone());
            tasks.push(tokio::spawn(async move {
                let mut connection = Connection::open(address).await;
                let mut latencies = Vec::with_capacity(16384);
                let mut errors = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let started = Instant::now();
                    let verified = one_flow(&mut connection, &key, &device).await;
                    if measuring.load(Ordering::Relaxed) {
                        latencies.push(started.elapsed().as_micros() as u32);
                        errors += u64::from(!verified);
                    }
                }
                (latencies, errors)
            }));
        }
        let measured = collect(tasks, measuring, stop, options.phase).await;
        println!(
            "challenge create → poll → answer → verified, {connections:>2} flows: {:>7.0} approvals/s \
             (= {:.3} of the P-256 verify ceiling; 2 device verifications each), p50 {:.2} ms, p99 {:.2} ms, \
             {} errors",
            measured.rate,
            measured.rate / ceiling,
            measured.p50_ms,
            measured.p99_ms,
            measured.errors
        );
    }
    drop(daemon);
}

/// `live-challenges`: `options.challenges` pending at once, and the daemon's memory with them.
async fn live_challenges(options: &Options) {
    let daemon = start_daemon(&options.sigild, false, "");
    let address = daemon.address;
    let count = options.challenges;
    let (key, devices) = world(address, 16).await;
    let (before, _) = daemon.memory_mb();
    let key = Arc::new(key);
    let started = Instant::now();
    let submitters = 16;
    let mut tasks = Vec::new();
    for (index, device) in devices.iter().enumerate().take(submitters) {
        let (device, key) = (device.clone(), key.clone());
        let share =
            count / submitters as u64 + u64::from((index as u64) < count % submitters as u64);
        tasks.push(tokio::spawn(async move {
            let mut connection = Connection::open(address).await;
            let mut errors = 0u64;
            for _ in 0..share {
                let (status, _) = connection
                    .send(json_request(
                        "POST",
                        "/challenge",
                        Some(&key),
                        &json!({ "fingerprint": device.fingerprint,
                                 "device_public_key": device.public_key, "action": { "type": "login" } }),
                    ))
                    .await;
                errors += u64::from(status != 201);
            }
            errors
        }));
    }
    let mut errors = 0;
    for task in tasks {
        errors += task.await.expect("submitter");
    }
    let elapsed = started.elapsed();
    let created = count - errors;
    let (rss, hwm) = daemon.memory_mb();
    let per_request_kb = (rss - before) * 1024.0 / created as f64;
    println!(
        "live-challenges: {created} pending in {:.1} s ({:.0}/s, {errors} errors); VmRSS {rss:.0} MB \
         (before {before:.0} MB, VmHWM {hwm:.0} MB): {per_request_kb:.1} KB each, {:.0} live challenges per GB",
        elapsed.as_secs_f64(),
        created as f64 / elapsed.as_secs_f64(),
        1024.0 * 1024.0 / per_request_kb
    );
    drop(daemon);
}
