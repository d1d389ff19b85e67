//! Agent authorization (Sigilum surface) against the real daemon: an agent holding an Ed25519 key, a service
//! with its key and a namespace owner go through submit → approve → verify → revoke as the Sigilum clients do;
//! every signature refusal has its code; a standard RFC 9421 signer (Python `http-message-signatures`) is
//! accepted; webhooks arrive signed (checked by the `standardwebhooks` library) and retried; claims stay in
//! their tenant; policies and limits decide first; a crash loses no pending claim and no timer, and a kill in
//! the middle of a burst of submissions loses no acknowledged claim.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::blocking::RequestBuilder;
use serde_json::{Value, json};
use sigil_httpsig::sigilum::{self, AgentIdentity};

use crate::harness::{Daemon, Owner, Reply, assert_error, str_field};

/// The webhook secret the test services use.
const SECRET: &str = "whk-test-secret-0123456789";

/// Loopback receivers are allowed for webhooks; retries are fast; pending claims expire in `expiry`.
fn config(expiry: &str) -> String {
    format!(
        "[webhooks]\nallow_private_networks = [\"127.0.0.0/8\"]\npoll_interval = \"100ms\"\n\n\
         [testing]\nwebhook_retry_unit_ms = 100\n\n[approvals]\npending_expiry = \"{expiry}\"\n"
    )
}

/// One accepted delivery: its header fields (lower-case names) and body.
type Delivery = (Vec<(String, String)>, String);

/// A webhook receiver on loopback that records every delivery; it answers 500 to the first `failures` ones.
pub(crate) struct Receiver {
    pub(crate) url: String,
    pub(crate) deliveries: Arc<Mutex<Vec<Delivery>>>,
}

impl Receiver {
    pub(crate) fn start(failures: usize) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding a webhook receiver");
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let deliveries = Arc::new(Mutex::new(Vec::new()));
        let seen = deliveries.clone();
        let count = Arc::new(AtomicUsize::new(0));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut headers = Vec::new();
                let mut line = String::new();
                let _ = reader.read_line(&mut line); // request line
                loop {
                    line.clear();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some((name, value)) = line.trim_end().split_once(':') {
                        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
                    }
                }
                let length = headers
                    .iter()
                    .find(|(name, _)| name == "content-length")
                    .and_then(|(_, value)| value.parse::<usize>().ok())
                    .unwrap_or(0);
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                let attempt = count.fetch_add(1, Ordering::SeqCst);
                let status = if attempt < failures {
                    "500 Internal Server Error"
                } else {
                    seen.lock()
                        .unwrap()
                        .push((headers, String::from_utf8_lossy(&body).into_owned()));
                    "200 OK"
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
            }
        });
        Receiver { url, deliveries }
    }

    /// The accepted deliveries' events, waiting (bounded) until there are at least `count`.
    fn events(&self, count: usize) -> Vec<String> {
        self.events_by("x-sigilum-event", count)
    }

    /// The accepted deliveries' values of the event header `name`, waiting (bounded) for at least `count`.
    pub(crate) fn events_by(&self, name: &str, count: usize) -> Vec<String> {
        for _ in 0..600 {
            let events: Vec<String> = self
                .deliveries
                .lock()
                .unwrap()
                .iter()
                .map(|(headers, _)| header(headers, name))
                .collect();
            if events.len() >= count {
                return events;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "fewer than {count} webhook deliveries arrived: {:?}",
            self.deliveries.lock().unwrap()
        );
    }
}

pub(crate) fn header(headers: &[(String, String)], name: &str) -> String {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

/// The oracle venv of tests/oracles/setup.sh.
fn python() -> std::path::PathBuf {
    crate::seals::venv().join("bin/python")
}

fn oracle_script(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/oracles")
        .join(name)
}

/// Runs a Python oracle with JSON on stdin; returns (success, output).
fn run_python(script: &str, input: &Value) -> (bool, String) {
    let mut child = std::process::Command::new(python())
        .arg(oracle_script(script))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("running a Python oracle");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// Checks every accepted delivery with the Standard Webhooks library and a plain HMAC of the body.
fn assert_deliveries_verify(receiver: &Receiver) {
    assert_standard_webhooks(receiver, SECRET, true);
}

/// Checks every accepted delivery with the Standard Webhooks library, and with `sigilum` also Sigilum's
/// `X-Sigilum-Signature` HMAC.
pub(crate) fn assert_standard_webhooks(receiver: &Receiver, secret: &str, sigilum: bool) {
    let deliveries: Vec<Value> = receiver
        .deliveries
        .lock()
        .unwrap()
        .iter()
        .map(|(headers, body)| {
            let headers: serde_json::Map<String, Value> =
                headers.iter().map(|(n, v)| (n.clone(), json!(v))).collect();
            json!({ "headers": headers, "body": body })
        })
        .collect();
    let (ok, output) = run_python(
        "webhook_verify.py",
        &json!({ "secret": secret, "deliveries": deliveries, "sigilum": sigilum }),
    );
    assert!(ok, "webhook deliveries did not verify: {output}");
}

/// A Sigilum `VALIDATION_ERROR`: 400 with `details` a list of `{field, message}`.
#[track_caller]
fn validation_refusal(reply: &Reply) -> Value {
    assert_eq!(reply.status, 400, "{}", reply.text);
    let body = reply.json();
    assert_eq!(body["code"], "VALIDATION_ERROR", "{body}");
    assert!(body["details"].is_array(), "{body}");
    body
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn agent(namespace: &str, seed: u8) -> AgentIdentity {
    AgentIdentity {
        namespace: namespace.into(),
        seed: [seed; 32],
        issued_at: "2026-11-30T00:00:00Z".into(),
    }
}

/// A request signed as a Sigilum SDK signs it (lower-case `@method`, fresh nonce, `created` = now).
fn signed(
    daemon: &Daemon,
    identity: &AgentIdentity,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> RequestBuilder {
    signed_at(
        daemon,
        identity,
        method,
        path,
        body,
        now(),
        &uuid::Uuid::new_v4().to_string(),
    )
}

fn signed_at(
    daemon: &Daemon,
    identity: &AgentIdentity,
    method: &str,
    path: &str,
    body: Option<&Value>,
    created: i64,
    nonce: &str,
) -> RequestBuilder {
    let url = daemon.url(path);
    let bytes = body.map(|b| b.to_string().into_bytes());
    let headers = sigilum::sign_sigilum(
        identity,
        method,
        &url,
        bytes.as_deref(),
        &identity.namespace,
        created,
        nonce,
    )
    .expect("signing");
    let method = reqwest::Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
    let mut request = daemon.client().request(method, url);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    if let Some(bytes) = bytes {
        request = request
            .header("content-type", "application/json")
            .body(bytes);
    }
    request
}

/// A namespace owner with a namespace, a service (its webhook pointing at `receiver`) and the service's key.
struct World {
    owner: Owner,
    namespace: String,
    service_id: String,
    service_key: String,
    webhook_id: String,
}

fn world(daemon: &Daemon, namespace: &str, slug: &str, receiver: &Receiver) -> World {
    let owner = daemon.owner_with_tenant();
    daemon
        .post(
            "/v1/namespaces",
            &owner.token,
            json!({ "namespace": namespace }),
        )
        .expect(201);
    let service = daemon
        .post(
            "/v1/services",
            &owner.token,
            json!({ "name": format!("Service {slug}"), "slug": slug, "domain": format!("{slug}.example"),
                    "description": "agents", "webhook": { "url": receiver.url, "secret": SECRET } }),
        )
        .expect(201);
    let service_id = str_field(&service, "id");
    let webhook_id = str_field(&service["webhook"], "id");
    let key = daemon
        .post(
            &format!("/v1/services/{service_id}/keys"),
            &owner.token,
            json!({}),
        )
        .expect(201);
    World {
        owner,
        namespace: namespace.into(),
        service_id,
        service_key: str_field(&key, "key"),
        webhook_id,
    }
}

fn claim_body(world: &World, identity: &AgentIdentity, slug: &str, nonce: &str) -> Value {
    json!({ "namespace": world.namespace, "public_key": identity.public_key_text(), "service": slug,
            "agent_ip": "203.0.113.7", "nonce": nonce, "agent_name": "build bot" })
}

fn submit(
    daemon: &Daemon,
    world: &World,
    identity: &AgentIdentity,
    slug: &str,
    nonce: &str,
) -> Reply {
    let body = claim_body(world, identity, slug, nonce);
    daemon.send(
        signed(daemon, identity, "post", "/v1/claims", Some(&body)).bearer_auth(&world.service_key),
    )
}

fn verify(daemon: &Daemon, identity: &AgentIdentity, namespace: &str, slug: &str) -> Value {
    let key = identity.public_key_text();
    let path = format!(
        "/v1/verify?namespace={namespace}&public_key={}&service={slug}",
        urlencode(&key)
    );
    daemon
        .send(signed(daemon, identity, "get", &path, None))
        .expect(200)
}

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

#[test]
fn an_agent_is_authorized_verified_and_revoked_as_sigilum_clients_do() {
    let daemon = Daemon::start_with(&config("1day"));
    let receiver = Receiver::start(0);
    let world = world(&daemon, "acme-agents", "acme-svc", &receiver);
    let bot = agent("acme-agents", 7);

    // Submit: 201 pending, a claim id of the contract's shape.
    let first = submit(&daemon, &world, &bot, "acme-svc", "nonce-0001").expect(201);
    let claim_id = str_field(&first, "claim_id");
    assert!(
        claim_id.starts_with("cl_") && claim_id.len() == 27,
        "{first}"
    );
    assert_eq!(first["status"], "pending");
    assert_eq!(first["service"], "acme-svc");
    // Resubmitting the same agent answers the pending claim with 200.
    let again = submit(&daemon, &world, &bot, "acme-svc", "nonce-0002").expect(200);
    assert_eq!(again["claim_id"], claim_id.as_str());
    // Not authorized while pending.
    let pending = verify(&daemon, &bot, "acme-agents", "acme-svc");
    assert_eq!(
        pending,
        json!({ "authorized": false, "reason": "no_approved_claim" })
    );

    // The owner sees it and approves it.
    let listed = daemon
        .get(
            "/v1/namespaces/acme-agents/claims?status=pending",
            &world.owner.token,
        )
        .expect(200);
    assert_eq!(listed["pagination"]["total"], 1, "{listed}");
    assert_eq!(listed["claims"][0]["claim_id"], claim_id.as_str());
    let approved = daemon
        .post(
            &format!("/v1/claims/{claim_id}/approve"),
            &world.owner.token,
            json!({ "reason": "known bot" }),
        )
        .expect(200);
    assert_eq!(approved["status"], "approved");
    assert_eq!(approved["agents_approved"], 1);
    assert_eq!(approved["agents_limit"], 10);

    // Authorized now; the service's feed and the namespace's DID document list the agent.
    let authorized = verify(&daemon, &bot, "acme-agents", "acme-svc");
    assert_eq!(authorized["authorized"], true, "{authorized}");
    assert_eq!(authorized["claim_id"], claim_id.as_str());
    let feed = daemon
        .send(
            signed(
                &daemon,
                &bot,
                "get",
                "/v1/namespaces/claims?service=acme-svc&limit=10",
                None,
            )
            .bearer_auth(&world.service_key),
        )
        .expect(200);
    assert_eq!(
        feed["pagination"],
        json!({ "limit": 10, "offset": 0, "total": 1, "has_more": false })
    );
    assert_eq!(feed["claims"][0]["public_key"], bot.public_key_text());
    let document = daemon.get_public("/.well-known/did/did:sigilum:acme-agents");
    assert_eq!(
        document.header("content-type").as_deref(),
        Some("application/did+ld+json")
    );
    let document = document.expect(200);
    assert_eq!(document["id"], "did:sigilum:acme-agents");
    let method = &document["verificationMethod"][0];
    assert_eq!(method["type"], "Ed25519VerificationKey2020");
    assert!(
        method["publicKeyMultibase"]
            .as_str()
            .is_some_and(|m| m.starts_with('z')),
        "{document}"
    );
    let resolution = daemon
        .get_public("/1.0/identifiers/did:sigilum:acme-agents")
        .expect(200);
    assert_eq!(resolution["didDocument"], document);
    assert_eq!(
        daemon.get_public("/1.0/identifiers/did:web:nope").status,
        400
    );
    assert_eq!(
        daemon
            .get_public("/1.0/identifiers/did:sigilum:nobody-here")
            .status,
        404
    );
    let view = daemon.send(signed(
        &daemon,
        &bot,
        "get",
        "/v1/namespaces/acme-agents",
        None,
    ));
    assert_eq!(
        view.header("cache-control").as_deref(),
        Some("public, max-age=300")
    );
    assert_eq!(view.expect(200)["active_claims"], 1);

    // Revoked: no longer authorized, and a revoked claim cannot be approved again.
    let revoked = daemon
        .post(
            &format!("/v1/claims/{claim_id}/revoke"),
            &world.owner.token,
            json!({}),
        )
        .expect(200);
    assert_eq!(revoked["status"], "revoked");
    assert_eq!(
        verify(&daemon, &bot, "acme-agents", "acme-svc")["authorized"],
        false
    );
    assert_error(
        &daemon.post(
            &format!("/v1/claims/{claim_id}/approve"),
            &world.owner.token,
            json!({}),
        ),
        409,
        "CONFLICT",
    );
    let audit = daemon
        .get(&format!("/v1/claims/{claim_id}/audit"), &world.owner.token)
        .expect(200);
    let states: Vec<&str> = audit["audit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["to"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["pending", "approved", "revoked"], "{audit}");

    // The service's webhook got submitted, approved and revoked, signed both ways, with its endpoint id.
    let mut events = receiver.events(3);
    events.sort();
    assert_eq!(
        events,
        ["request.approved", "request.revoked", "request.submitted"]
    );
    for (headers, body) in receiver.deliveries.lock().unwrap().iter() {
        assert_eq!(header(headers, "x-sigilum-webhook-id"), world.webhook_id);
        let body: Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["data"]["claim_id"], claim_id.as_str(), "{body}");
        assert_eq!(body["data"]["namespace"], "acme-agents");
    }
    assert_deliveries_verify(&receiver);
}

#[test]
fn every_signature_refusal_has_its_code() {
    let daemon = Daemon::start_with(&config("1day"));
    let receiver = Receiver::start(0);
    let world = world(&daemon, "sig-checks", "sig-svc", &receiver);
    let bot = agent("sig-checks", 9);
    let other = agent("sig-other", 10);
    let verify_path = format!(
        "/v1/verify?namespace=sig-checks&public_key={}&service=sig-svc",
        urlencode(&bot.public_key_text())
    );
    let body = claim_body(&world, &bot, "sig-svc", "nonce-sig-01");

    // Missing headers.
    assert_error(
        &daemon.send(daemon.client().get(daemon.url(&verify_path))),
        401,
        "SIGNATURE_MISSING",
    );
    // Too old, and too far in the future.
    let old = signed_at(
        &daemon,
        &bot,
        "get",
        &verify_path,
        None,
        now() - 3600,
        "n-old-0001",
    );
    assert_error(&daemon.send(old), 401, "SIGNATURE_EXPIRED");
    let future = signed_at(
        &daemon,
        &bot,
        "get",
        &verify_path,
        None,
        now() + 3600,
        "n-future-01",
    );
    assert_error(&daemon.send(future), 401, "SIGNATURE_EXPIRED");
    // A body that is not the one the digest covers.
    let tampered = signed(&daemon, &bot, "post", "/v1/claims", Some(&body))
        .bearer_auth(&world.service_key)
        .body(claim_body(&world, &bot, "sig-svc", "nonce-sig-99").to_string());
    assert_error(&daemon.send(tampered), 401, "SIGNATURE_DIGEST_MISMATCH");
    // Signed as another namespace than the one queried.
    let foreign = signed(&daemon, &other, "get", &verify_path, None);
    assert_error(&daemon.send(foreign), 403, "SIGNATURE_NAMESPACE_MISMATCH");
    // A claim for a key the signer does not hold, without the namespace-only binding.
    let mut for_other = body.clone();
    for_other["public_key"] = json!(agent("sig-checks", 11).public_key_text());
    let key_bound = signed(&daemon, &bot, "post", "/v1/claims", Some(&for_other))
        .bearer_auth(&world.service_key);
    assert_error(&daemon.send(key_bound), 403, "SIGNATURE_KEY_MISMATCH");
    // The same signed request twice: the nonce is remembered.
    let once = signed_at(
        &daemon,
        &bot,
        "get",
        &verify_path,
        None,
        now(),
        "n-replayed-01",
    );
    let twice = signed_at(
        &daemon,
        &bot,
        "get",
        &verify_path,
        None,
        now(),
        "n-replayed-01",
    );
    daemon.send(once).expect(200);
    assert_error(&daemon.send(twice), 409, "SIGNATURE_NONCE_REPLAY");
    // Fewer components than the profile requires.
    let url = daemon.url(&verify_path);
    let seed = [9u8; 32];
    let cert = bot.certificate().to_header_value();
    let header_list = [
        ("sigilum-namespace", "sig-checks".to_string()),
        ("sigilum-subject", "sig-checks".to_string()),
        ("sigilum-agent-key", bot.public_key_text()),
        ("sigilum-agent-cert", cert),
    ];
    let borrowed: Vec<(&str, &str)> = header_list.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let message = sigil_httpsig::Message {
        method: "get",
        target_uri: &url,
        headers: &borrowed,
        body: None,
    };
    let nonce = uuid::Uuid::new_v4().to_string();
    let spec = sigil_httpsig::rfc9421::SignatureSpec {
        label: "sig1",
        components: &["@method", "@target-uri", "sigilum-namespace"],
        created: Some(now()),
        keyid: Some(&bot.key_id()),
        alg: Some("ed25519"),
        nonce: Some(&nonce),
        ..Default::default()
    };
    let partial = sigil_httpsig::rfc9421::sign_ed25519(&message, &spec, &seed).unwrap();
    let mut request = daemon
        .client()
        .get(&url)
        .header("signature-input", partial.signature_input)
        .header("signature", partial.signature);
    for (name, value) in &header_list {
        request = request.header(*name, value);
    }
    assert_error(&daemon.send(request), 401, "SIGNATURE_COMPONENTS_INVALID");
    // An oversize signed header, and a signature over another host than the daemon's public URL.
    let mut huge = signed(&daemon, &bot, "get", &verify_path, None);
    huge = huge.header("sigilum-subject", "x".repeat(9_000));
    assert_error(&daemon.send(huge), 401, "SIGNATURE_INVALID");
    let elsewhere = sigilum::sign_sigilum(
        &bot,
        "get",
        &format!("http://attacker.example{verify_path}"),
        None,
        "sig-checks",
        now(),
        "n-elsewhere-1",
    )
    .unwrap();
    let mut request = daemon
        .client()
        .get(daemon.url(&verify_path))
        .header("host", "attacker.example");
    for (name, value) in elsewhere {
        request = request.header(name, value);
    }
    assert_error(&daemon.send(request), 401, "SIGNATURE_INVALID");

    // The service's own failures.
    let unsigned_key = signed(&daemon, &bot, "post", "/v1/claims", Some(&body));
    assert_error(&daemon.send(unsigned_key), 401, "UNAUTHORIZED");
    let wrong_service = claim_body(&world, &bot, "another-svc", "nonce-sig-02");
    let request = signed(&daemon, &bot, "post", "/v1/claims", Some(&wrong_service))
        .bearer_auth(&world.service_key);
    assert_error(&daemon.send(request), 403, "FORBIDDEN");
    submit(&daemon, &world, &bot, "sig-svc", "nonce-sig-03").expect(201);
    assert_error(
        &submit(&daemon, &world, &bot, "sig-svc", "nonce-sig-03"),
        409,
        "NONCE_REPLAY",
    );
    let mut invalid = claim_body(&world, &bot, "sig-svc", "short");
    invalid["agent_ip"] = json!(42);
    let request =
        signed(&daemon, &bot, "post", "/v1/claims", Some(&invalid)).bearer_auth(&world.service_key);
    let refusal = validation_refusal(&daemon.send(request));
    let fields: Vec<&str> = refusal["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["agent_ip", "nonce"], "{refusal}");
    let ghost = agent("ghost-space", 12);
    let mut ghost_body = claim_body(&world, &ghost, "sig-svc", "nonce-sig-04");
    ghost_body["namespace"] = json!("ghost-space");
    let request = signed(&daemon, &ghost, "post", "/v1/claims", Some(&ghost_body))
        .bearer_auth(&world.service_key);
    assert_error(&daemon.send(request), 404, "NOT_FOUND");
}

#[test]
fn a_standard_rfc_9421_signer_is_accepted() {
    let daemon = Daemon::start_with(&config("1day"));
    let receiver = Receiver::start(0);
    let world = world(&daemon, "py-agents", "py-svc", &receiver);
    let bot = agent("py-agents", 21);
    let key = bot.public_key_text();
    let path = format!(
        "/v1/verify?namespace=py-agents&public_key={}&service=py-svc",
        urlencode(&key)
    );
    let headers = json!({
        "sigilum-namespace": "py-agents",
        "sigilum-subject": "py-agents",
        "sigilum-agent-key": key,
        "sigilum-agent-cert": bot.certificate().to_header_value(),
    });
    let sign = |nonce: &str,
                url: &str,
                method: &str,
                body: Option<String>,
                components: Vec<&str>,
                headers: &Value| {
        let input = json!({
            "method": method, "url": url, "headers": headers, "body": body,
            "seed_b64": base64_seed(&[21u8; 32]), "key_id": bot.key_id(), "created": now(), "nonce": nonce,
            "components": components,
        });
        let (ok, output) = run_python("httpsig_sign.py", &input);
        assert!(ok, "the Python signer failed: {output}");
        serde_json::from_str::<Value>(output.trim()).expect("signer output")
    };
    let components = vec![
        "@method",
        "@target-uri",
        "sigilum-namespace",
        "sigilum-subject",
        "sigilum-agent-key",
        "sigilum-agent-cert",
    ];
    // A GET, `@method` upper case as RFC 9421 has it.
    let url = daemon.url(&path);
    let signature = sign(
        "py-nonce-0001",
        &url,
        "GET",
        None,
        components.clone(),
        &headers,
    );
    let mut request = daemon.client().get(&url);
    for (name, value) in headers.as_object().unwrap() {
        request = request.header(name, value.as_str().unwrap());
    }
    request = request
        .header(
            "signature-input",
            signature["signature-input"].as_str().unwrap(),
        )
        .header("signature", signature["signature"].as_str().unwrap());
    assert_eq!(daemon.send(request).expect(200)["authorized"], false);

    // A POST with a body and its Content-Digest: the claim submission itself.
    let body = claim_body(&world, &bot, "py-svc", "py-body-nonce-1").to_string();
    let mut with_digest = headers.clone();
    with_digest["content-digest"] = json!(sigil_httpsig::digest::content_digest_sha256(
        body.as_bytes()
    ));
    with_digest["content-type"] = json!("application/json");
    let mut body_components = components.clone();
    body_components.insert(2, "content-digest");
    let claims_url = daemon.url("/v1/claims");
    let signature = sign(
        "py-nonce-0002",
        &claims_url,
        "POST",
        Some(body.clone()),
        body_components,
        &with_digest,
    );
    let mut request = daemon
        .client()
        .post(&claims_url)
        .bearer_auth(&world.service_key)
        .body(body);
    for (name, value) in with_digest.as_object().unwrap() {
        request = request.header(name, value.as_str().unwrap());
    }
    request = request
        .header(
            "signature-input",
            signature["signature-input"].as_str().unwrap(),
        )
        .header("signature", signature["signature"].as_str().unwrap());
    assert_eq!(daemon.send(request).expect(201)["status"], "pending");
}

fn base64_seed(seed: &[u8; 32]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(seed)
}

#[test]
fn claims_stay_in_their_tenant() {
    let daemon = Daemon::start_with(&config("1day"));
    let receiver = Receiver::start(0);
    let world = world(&daemon, "tenant-a-ns", "tenant-a-svc", &receiver);
    let bot = agent("tenant-a-ns", 31);
    let claim_id = str_field(
        &submit(&daemon, &world, &bot, "tenant-a-svc", "nonce-iso-01").expect(201),
        "claim_id",
    );
    let intruder = daemon.owner_with_tenant();
    for path in [
        format!("/v1/claims/{claim_id}"),
        format!("/v1/claims/{claim_id}/audit"),
    ] {
        assert_error(&daemon.get(&path, &intruder.token), 404, "NOT_FOUND");
    }
    for action in ["approve", "reject", "revoke"] {
        assert_error(
            &daemon.post(
                &format!("/v1/claims/{claim_id}/{action}"),
                &intruder.token,
                json!({}),
            ),
            404,
            "NOT_FOUND",
        );
    }
    for path in [
        "/v1/namespaces/tenant-a-ns/claims",
        "/v1/namespaces/tenant-a-ns/policy",
    ] {
        assert_error(&daemon.get(path, &intruder.token), 404, "NOT_FOUND");
    }
    assert_error(
        &daemon.get(
            &format!("/v1/services/{}/webhooks", world.service_id),
            &intruder.token,
        ),
        404,
        "NOT_FOUND",
    );
    // The owner still sees it pending: nothing the intruder did changed it.
    let claim = daemon
        .get(&format!("/v1/claims/{claim_id}"), &world.owner.token)
        .expect(200);
    assert_eq!(claim["status"], "pending");
}

#[test]
fn policies_and_limits_decide_before_the_owner() {
    let daemon = Daemon::start_with(&config("1day"));
    let receiver = Receiver::start(0);
    let world = world(&daemon, "policy-ns", "policy-svc", &receiver);
    let policy = json!({ "autoApproveTrusted": true, "trustedServices": ["policy-svc"] });
    daemon
        .send(
            daemon
                .client()
                .put(daemon.url("/v1/namespaces/policy-ns/policy"))
                .bearer_auth(&world.owner.token)
                .json(&policy),
        )
        .expect(200);
    // Trusted service: approved at once, up to the agent limit; the eleventh is auto-rejected.
    for n in 0..10u8 {
        let reply = submit(
            &daemon,
            &world,
            &agent("policy-ns", 40 + n),
            "policy-svc",
            &format!("nonce-pol-{n:04}"),
        );
        assert_eq!(reply.expect(201)["status"], "approved");
    }
    let eleventh = submit(
        &daemon,
        &world,
        &agent("policy-ns", 60),
        "policy-svc",
        "nonce-pol-0100",
    )
    .expect(201);
    assert_eq!(eleventh["status"], "rejected");
    assert_eq!(eleventh["reason"], "agent_limit_reached");
    // The webhook says which were decided by policy.
    let events = receiver.events(22);
    assert_eq!(
        events.iter().filter(|e| *e == "request.approved").count(),
        10
    );
    let deliveries = receiver.deliveries.lock().unwrap().clone();
    let auto = deliveries
        .iter()
        .filter_map(|(_, body)| serde_json::from_str::<Value>(body).ok())
        .filter(|body| body["event"] == "request.approved")
        .all(|body| body["data"]["auto_approved"] == true);
    assert!(auto, "policy approvals must say so");
    let reasons: Vec<Value> = deliveries
        .iter()
        .filter_map(|(_, body)| serde_json::from_str::<Value>(body).ok())
        .filter(|body| body["event"] == "request.rejected")
        .map(|body| body["data"]["reason"].clone())
        .collect();
    assert_eq!(reasons, [json!("agent_limit_reached")]);
    // Invalid policies are refused with the field named.
    let bad = json!({ "autoApproveIP": true, "trustedIPRanges": ["10.0.0.1/8"] });
    let reply = daemon.send(
        daemon
            .client()
            .put(daemon.url("/v1/namespaces/policy-ns/policy"))
            .bearer_auth(&world.owner.token)
            .json(&bad),
    );
    assert_eq!(
        validation_refusal(&reply)["details"][0]["field"],
        "trustedIPRanges"
    );
}

#[test]
fn a_crash_loses_no_pending_claim_and_no_timer() {
    let mut daemon = Daemon::start_with(&config("6s"));
    let receiver = Receiver::start(2);
    let world = world(&daemon, "crash-ns", "crash-svc", &receiver);
    let bot = agent("crash-ns", 71);
    let submitted = submit(&daemon, &world, &bot, "crash-svc", "nonce-crash-1").expect(201);
    let claim_id = str_field(&submitted, "claim_id");
    let before = daemon
        .get(&format!("/v1/claims/{claim_id}"), &world.owner.token)
        .expect(200);
    daemon.kill9();
    daemon.restart();
    // The restarted daemon re-created the timer: the claim expires at its original time, no earlier.
    let mut expired = Value::Null;
    for _ in 0..600 {
        let claim = daemon
            .get(&format!("/v1/claims/{claim_id}"), &world.owner.token)
            .expect(200);
        if claim["status"] != "pending" {
            expired = claim;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(expired["status"], "expired", "{expired}");
    assert_eq!(expired["expires_at"], before["expires_at"]);
    assert!(
        expired["updated_at"].as_str().unwrap() >= before["expires_at"].as_str().unwrap(),
        "{expired}"
    );
    assert_eq!(expired["decided_by"]["actor"], "timer");
    // The webhook receiver failed twice; the outbox retried until it had both events, signed.
    let mut events = receiver.events(2);
    events.sort();
    assert_eq!(events, ["request.expired", "request.submitted"]);
    assert_deliveries_verify(&receiver);
    let deliveries = daemon
        .get(
            &format!(
                "/v1/services/{}/webhooks/{}/deliveries",
                world.service_id, world.webhook_id
            ),
            &world.owner.token,
        )
        .expect(200);
    let attempts: usize = deliveries["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["attempt_log"].as_array().map_or(0, Vec::len))
        .sum();
    assert!(
        attempts >= 4,
        "two failures and two successes must be on record: {deliveries}"
    );
    // An owner can deliver one again.
    let first = str_field(&deliveries["deliveries"][0], "id");
    daemon
        .post(
            &format!(
                "/v1/services/{}/webhooks/{}/deliveries/{first}/redeliver",
                world.service_id, world.webhook_id
            ),
            &world.owner.token,
            json!({}),
        )
        .expect(200);
    receiver.events(3);
}

/// A killed daemon loses no acknowledged claim: ten agents submit at once, the daemon is killed (SIGKILL) as
/// soon as half of them have their 201, with the rest in flight; after a restart every acknowledged claim is
/// there, pending, with the answer it was acknowledged with. Claims whose answer never came may or may not be.
#[test]
fn a_kill_during_a_burst_loses_no_acknowledged_claim() {
    let daemon = Daemon::start_with(&config("1h"));
    let receiver = Receiver::start(0);
    let world = Arc::new(world(&daemon, "burst-ns", "burst-svc", &receiver));
    let daemon = Arc::new(daemon);
    let acknowledged: Arc<Mutex<Vec<Value>>> = Arc::default();
    let submitters: Vec<_> = (0..10u8)
        .map(|index| {
            let (daemon, world, acknowledged) =
                (daemon.clone(), world.clone(), acknowledged.clone());
            std::thread::spawn(move || {
                let identity = agent("burst-ns", 120 + index);
                let body = claim_body(
                    &world,
                    &identity,
                    "burst-svc",
                    &format!("nonce-burst-{index}"),
                );
                let request = signed(&daemon, &identity, "post", "/v1/claims", Some(&body))
                    .bearer_auth(&world.service_key);
                // A request cut by the kill has no answer: nothing was acknowledged.
                if let Ok(response) = request.send()
                    && response.status().as_u16() == 201
                    && let Ok(claim) = response.json::<Value>()
                {
                    acknowledged.lock().unwrap().push(claim);
                }
            })
        })
        .collect();
    for _ in 0..60_000 {
        if acknowledged.lock().unwrap().len() >= 5 {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    daemon.signal(libc::SIGKILL);
    for submitter in submitters {
        submitter.join().unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() >= 5, "{acknowledged:?}");
    let mut daemon = Arc::try_unwrap(daemon).unwrap_or_else(|_| panic!("the daemon is shared"));
    daemon.kill9();
    daemon.restart();
    for claim in &acknowledged {
        let id = str_field(claim, "claim_id");
        let stored = daemon
            .get(&format!("/v1/claims/{id}"), &world.owner.token)
            .expect(200);
        assert_eq!(stored["status"], "pending", "{stored}");
        assert_eq!(stored["status"], claim["status"], "{stored} {claim}");
        assert_eq!(stored["claim_id"], claim["claim_id"], "{stored} {claim}");
        assert_eq!(stored["service"], "burst-svc", "{stored}");
    }
}
