//! Sigil Auth (seed 002, contract 02) against the real daemon, with a device nobody here wrote: the Python
//! simulator `tests/oracles/device.py` (built from docs/DEVICES.md on `cryptography`) registers, polls,
//! approves and rejects; multi-party requests reach their quorum or fail; every refusal has its code in the
//! nested error shape the SDKs parse; the webhooks verify with an HMAC check in the Go SDK's format.

use std::io::Write;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use reqwest::blocking::RequestBuilder;
use serde_json::{Value, json};

use crate::harness::{Daemon, Owner, Reply, str_field};

const SECRET: &str = "sigil-auth-webhook-secret-01";

/// The Python device simulator.
pub(crate) struct DeviceSim {
    key_hex: String,
    pub(crate) public_key: String,
    pub(crate) fingerprint: String,
}

fn device_py(args: &[&str]) -> String {
    let output = std::process::Command::new(crate::seals::venv().join("bin/python"))
        .arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/oracles/device.py"))
        .args(args)
        .output()
        .expect("running the device simulator");
    assert!(
        output.status.success(),
        "device.py {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

impl DeviceSim {
    pub(crate) fn new(seed: u8) -> DeviceSim {
        let key_hex = hex::encode([seed; 32]);
        let keys: Value =
            serde_json::from_str(&device_py(&["keygen", "--private-key-hex", &key_hex])).unwrap();
        DeviceSim {
            key_hex,
            public_key: str_field(&keys, "public_key_b64"),
            fingerprint: str_field(&keys, "fingerprint"),
        }
    }

    pub(crate) fn sign(&self, purpose: &str, inputs: &[&str]) -> String {
        let mut args = vec!["sign", purpose, "--key", &self.key_hex];
        args.extend_from_slice(inputs);
        device_py(&args)
    }
}

pub(crate) fn api_post(daemon: &Daemon, key: &str, path: &str, body: Value) -> Reply {
    daemon.send(
        daemon
            .client()
            .post(daemon.url(path))
            .bearer_auth(key)
            .json(&body),
    )
}

pub(crate) fn api_get(daemon: &Daemon, key: &str, path: &str) -> Reply {
    daemon.send(daemon.client().get(daemon.url(path)).bearer_auth(key))
}

fn device_post(daemon: &Daemon, path: &str, body: Value) -> Reply {
    daemon.send(daemon.client().post(daemon.url(path)).json(&body))
}

/// Asserts the SDKs' nested error shape with `status` and `code`.
#[track_caller]
fn assert_nested(reply: &Reply, status: u16, code: &str) {
    assert_eq!(reply.status, status, "{}", reply.text);
    let body = reply.json();
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

/// A tenant with a live API key, once the server identity is up.
pub(crate) fn tenant(daemon: &Daemon) -> (Owner, String) {
    let owner = daemon.owner_with_tenant();
    let key = daemon.api_key(&owner.token, "live");
    for _ in 0..400 {
        if daemon.get_public("/info").status == 200 {
            return (owner, key);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the server identity did not come up: {}", daemon.logs());
}

pub(crate) fn register(daemon: &Daemon, key: &str, device: &DeviceSim) -> Value {
    let challenge = api_get(daemon, key, "/devices/register/challenge").expect(200);
    let nonce = str_field(&challenge, "nonce");
    let signature = device.sign("register", &["--nonce", &nonce]);
    api_post(
        daemon,
        key,
        "/devices/register",
        json!({ "device_public_key": device.public_key, "challenge_id": challenge["challenge_id"],
                "signature": signature, "name": "phone" }),
    )
    .expect(201)
}

fn challenge_bytes_hex(item: &Value) -> String {
    hex::encode(
        B64.decode(item["challenge_bytes"].as_str().unwrap())
            .unwrap(),
    )
}

pub(crate) fn poll(daemon: &Daemon, device: &DeviceSim) -> Value {
    let now = chrono::Utc::now().timestamp().to_string();
    let signature = device.sign(
        "poll",
        &["--fingerprint", &device.fingerprint, "--timestamp", &now],
    );
    let request: RequestBuilder = daemon
        .client()
        .get(daemon.url(&format!("/v1/devices/{}/challenges", device.fingerprint)))
        .header("x-sigil-device-timestamp", now)
        .header("x-sigil-device-signature", signature);
    daemon.send(request).expect(200)
}

#[test]
fn a_device_registers_polls_and_answers_as_the_docs_describe() {
    let daemon = Daemon::start_with(
        "[webhooks]\nallow_private_networks = [\"127.0.0.0/8\"]\npoll_interval = \"100ms\"\n",
    );
    let (owner, key) = tenant(&daemon);
    let receiver = crate::agents::Receiver::start(0);
    let hook = api_post(
        &daemon,
        &key,
        "/v1/config/webhooks",
        json!({ "url": receiver.url, "events": ["challenge.verified", "challenge.rejected", "challenge.not_me"],
                "secret": SECRET }),
    )
    .expect(201);
    assert!(str_field(&hook, "webhook_id").starts_with("whk_"), "{hook}");

    let phone = DeviceSim::new(3);
    let registered = register(&daemon, &key, &phone);
    assert_eq!(registered["fingerprint"], phone.fingerprint.as_str());
    assert_eq!(registered["pictogram"].as_array().unwrap().len(), 5);
    // The server's identity and its pictogram are published.
    let info = daemon.get_public("/info").expect(200);
    let server_key = B64.decode(str_field(&info, "server_public_key")).unwrap();
    assert_eq!(server_key.len(), 33);

    // The integrator asks; the device sees it by polling, with the server's signature over the challenge.
    let action = json!({ "type": "step_up", "description": "Transfer $5000", "params": { "amount_usd": 5000 } });
    let created = api_post(
        &daemon,
        &key,
        "/challenge",
        json!({ "fingerprint": phone.fingerprint, "device_public_key": phone.public_key, "action": action }),
    )
    .expect(201);
    let challenge_id = str_field(&created, "challenge_id");
    assert_eq!(created["pictogram"], registered["pictogram"]);
    assert!(chrono::DateTime::parse_from_rfc3339(created["expires_at"].as_str().unwrap()).is_ok());
    let status = api_get(
        &daemon,
        &key,
        &format!("/v1/auth/challenge/{challenge_id}/status"),
    )
    .expect(200);
    assert_eq!(status["status"], "pending");
    assert!(
        status.get("responded_at").is_none() && status.get("verified_at").is_none(),
        "{status}"
    );
    let waiting = poll(&daemon, &phone);
    let item = &waiting["challenges"][0];
    assert_eq!(item["challenge_id"], challenge_id.as_str());
    assert_eq!(item["action"], action);
    {
        use p256::ecdsa::signature::Verifier;
        let verifying = p256::ecdsa::VerifyingKey::from_sec1_bytes(&server_key).unwrap();
        let signature = p256::ecdsa::Signature::from_slice(
            &B64.decode(item["server_signature"].as_str().unwrap())
                .unwrap(),
        )
        .unwrap();
        let bytes = B64
            .decode(item["challenge_bytes"].as_str().unwrap())
            .unwrap();
        verifying
            .verify(&bytes, &signature)
            .expect("the server's signature over the challenge verifies");
    }

    // A signature for another purpose (deny) does not approve.
    let bytes_hex = challenge_bytes_hex(item);
    let action_text = action.to_string();
    let deny_signature = phone.sign(
        "deny",
        &["--challenge-hex", &bytes_hex, "--action", &action_text],
    );
    assert_nested(
        &device_post(
            &daemon,
            "/respond",
            json!({ "challenge_id": challenge_id, "fingerprint": phone.fingerprint,
                                                   "decision": "approve", "signature": deny_signature }),
        ),
        401,
        "SIGNATURE_INVALID",
    );
    // The real approval.
    let approve = phone.sign(
        "approve",
        &["--challenge-hex", &bytes_hex, "--action", &action_text],
    );
    let answer = device_post(
        &daemon,
        "/respond",
        json!({ "challenge_id": challenge_id, "fingerprint": phone.fingerprint, "decision": "approve",
                "signature": approve }),
    )
    .expect(200);
    assert_eq!(answer["status"], "verified");
    let status = api_get(
        &daemon,
        &key,
        &format!("/v1/auth/challenge/{challenge_id}/status"),
    )
    .expect(200);
    assert_eq!(status["status"], "verified");
    assert_eq!(status["decision"], "approved");
    assert!(status["verified_at"].is_string(), "{status}");
    // One answer per challenge.
    assert_nested(
        &device_post(
            &daemon,
            "/respond",
            json!({ "challenge_id": challenge_id, "fingerprint": phone.fingerprint,
                                                   "decision": "approve", "signature": approve }),
        ),
        409,
        "CHALLENGE_ALREADY_USED",
    );

    // A second challenge, rejected as "not me": a rejection and an alert.
    let second = api_post(
        &daemon,
        &key,
        "/challenge",
        json!({ "fingerprint": phone.fingerprint, "device_public_key": phone.public_key }),
    )
    .expect(201);
    let second_id = str_field(&second, "challenge_id");
    let item = poll(&daemon, &phone)["challenges"][0].clone();
    let deny = phone.sign("deny", &["--challenge-hex", &challenge_bytes_hex(&item)]);
    let answer = device_post(
        &daemon,
        "/respond",
        json!({ "challenge_id": second_id, "fingerprint": phone.fingerprint, "decision": "reject",
                "signature": deny, "reason": "not_me" }),
    )
    .expect(200);
    assert_eq!(answer["status"], "rejected");

    // Refusals, each with its code.
    assert_nested(
        &api_get(
            &daemon,
            &key,
            "/v1/auth/challenge/00000000-0000-0000-0000-000000000000/status",
        ),
        404,
        "CHALLENGE_NOT_FOUND",
    );
    let mut off_curve = B64.decode(&phone.public_key).unwrap();
    off_curve[1..].fill(0xff);
    assert_nested(
        &api_post(
            &daemon,
            &key,
            "/challenge",
            json!({ "fingerprint": phone.fingerprint, "device_public_key": B64.encode(&off_curve) }),
        ),
        400,
        "INVALID_PUBLIC_KEY",
    );
    assert_nested(
        &daemon.send(
            daemon
                .client()
                .post(daemon.url("/challenge"))
                .json(&json!({})),
        ),
        401,
        "UNAUTHORIZED",
    );
    let other_tenant = tenant(&daemon).1;
    assert_nested(
        &api_get(
            &daemon,
            &other_tenant,
            &format!("/v1/auth/challenge/{challenge_id}/status"),
        ),
        404,
        "CHALLENGE_NOT_FOUND",
    );
    let stranger = DeviceSim::new(4);
    assert_nested(
        &api_post(
            &daemon,
            &key,
            "/challenge",
            json!({ "fingerprint": stranger.fingerprint, "device_public_key": stranger.public_key }),
        ),
        404,
        "DEVICE_NOT_FOUND",
    );
    // A revoked device gets no more challenges.
    daemon
        .delete(&format!("/v1/devices/{}", phone.fingerprint), &owner.token)
        .expect(200);
    assert_nested(
        &api_post(
            &daemon,
            &key,
            "/challenge",
            json!({ "fingerprint": phone.fingerprint, "device_public_key": phone.public_key }),
        ),
        403,
        "DEVICE_REVOKED",
    );

    // The webhooks: verified, rejected and the alert, each signed as the Go SDK verifies, and as the
    // Standard Webhooks library verifies.
    let mut events = receiver.events_by("x-sigil-event", 3);
    events.sort();
    assert_eq!(
        events,
        [
            "challenge.not_me",
            "challenge.rejected",
            "challenge.verified"
        ]
    );
    crate::agents::assert_standard_webhooks(&receiver, SECRET, false);
    for (headers, body) in receiver.deliveries.lock().unwrap().iter() {
        let timestamp = crate::agents::header(headers, "x-sigil-timestamp");
        let signature = crate::agents::header(headers, "x-sigil-signature");
        let mut child = std::process::Command::new(crate::seals::venv().join("bin/python"))
            .args(["-c", "import hmac,hashlib,sys; s,t,b=sys.argv[1],sys.argv[2],sys.stdin.buffer.read(); \
                          print('v1,'+hmac.new(s.encode(), t.encode()+b'.'+b, hashlib.sha256).hexdigest())", SECRET, &timestamp])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(body.as_bytes())
            .unwrap();
        let expected = String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap();
        assert_eq!(signature, expected.trim(), "X-Sigil-Signature of {body}");
    }
}

#[test]
fn multi_party_requests_reach_a_quorum_or_fail() {
    let daemon = Daemon::start();
    let (_owner, key) = tenant(&daemon);
    let devices: Vec<DeviceSim> = (10..14).map(DeviceSim::new).collect();
    for device in &devices {
        register(&daemon, &key, device);
    }
    let member =
        |d: &DeviceSim| json!({ "fingerprint": d.fingerprint, "device_public_key": d.public_key });
    let action = json!({ "type": "cold_boot", "description": "Cold boot ENG-001" });
    // The SDK form: client request id, `members`; 2 of 3 groups, one device in two groups.
    let created = api_post(
        &daemon,
        &key,
        "/mpa/request",
        json!({ "request_id": "boot-eng-001", "action": action, "required": 2,
                "groups": [ { "members": [member(&devices[0])] },
                            { "members": [member(&devices[1]), member(&devices[0])] },
                            { "members": [member(&devices[2])] } ],
                "expires_in_seconds": 300 }),
    )
    .expect(201);
    assert_eq!(created["status"], "pending");
    assert_eq!(created["groups_required"], 2);
    assert_eq!(created["groups_total"], 3);
    let action_text = action.to_string();
    let answer = |device: &DeviceSim, approved: bool| {
        let purpose = if approved { "mpa-approve" } else { "mpa-deny" };
        let signature = device.sign(
            purpose,
            &["--request-id", "boot-eng-001", "--action", &action_text],
        );
        device_post(
            &daemon,
            "/mpa/respond",
            json!({ "request_id": "boot-eng-001", "fingerprint": device.fingerprint, "approved": approved,
                    "signature": signature }),
        )
    };
    // The device waits for it in its poll.
    assert_eq!(
        poll(&daemon, &devices[2])["mpa_requests"][0]["request_id"],
        "boot-eng-001"
    );
    // One answer counts once, even for a member of two groups; a second answer is refused.
    let first = answer(&devices[0], true).expect(200);
    assert_eq!(first["groups_satisfied"], json!([0]));
    assert_eq!(first["status"], "pending");
    assert_nested(&answer(&devices[0], true), 409, "ALREADY_ANSWERED");
    // A rejection while a quorum is still reachable leaves it pending; a non-member is refused.
    assert_eq!(answer(&devices[2], false).expect(200)["status"], "pending");
    assert_nested(&answer(&devices[3], true), 400, "NOT_A_MEMBER");
    // The second group's other member approves: 2 of 3.
    let done = answer(&devices[1], true).expect(200);
    assert_eq!(done["status"], "approved");
    assert_eq!(done["groups_satisfied"], json!([0, 1]));
    let status = api_get(&daemon, &key, "/mpa/status/boot-eng-001").expect(200);
    assert_eq!(status["status"], "approved");
    assert!(status["completed_at"].is_string(), "{status}");
    // Decided: further answers are refused.
    assert_nested(&answer(&devices[2], true), 409, "ALREADY_COMPLETED");

    // The seed page's form (`approvers`, names) with reject_on_first: the first rejection decides.
    let created = api_post(
        &daemon,
        &key,
        "/mpa/request",
        json!({ "request_id": "rotate-keys", "action": {}, "required": 1, "reject_policy": "reject_on_first",
                "groups": [ { "name": "Security", "approvers": [member(&devices[3])] },
                            { "name": "Ops", "approvers": [member(&devices[2])] } ] }),
    )
    .expect(201);
    assert_eq!(created["groups_total"], 2);
    let signature = devices[3].sign(
        "mpa-deny",
        &["--request-id", "rotate-keys", "--action", "{}"],
    );
    let rejected = device_post(
        &daemon,
        "/mpa/respond",
        json!({ "request_id": "rotate-keys", "fingerprint": devices[3].fingerprint, "approved": false,
                "signature": signature }),
    )
    .expect(200);
    assert_eq!(rejected["status"], "rejected");
    // Invalid requests.
    assert_nested(
        &api_post(
            &daemon,
            &key,
            "/mpa/request",
            json!({ "required": 3, "groups": [ { "members": [member(&devices[0])] } ] }),
        ),
        400,
        "INVALID_REQUEST",
    );
    assert_nested(
        &api_post(
            &daemon,
            &key,
            "/mpa/request",
            json!({ "required": 1, "expires_in_seconds": 30, "groups": [ { "members": [member(&devices[0])] } ] }),
        ),
        400,
        "INVALID_REQUEST",
    );
    assert_nested(
        &api_get(&daemon, &key, "/mpa/status/nope"),
        404,
        "MPA_NOT_FOUND",
    );
}

#[test]
fn a_challenge_is_pushed_through_the_device_channel_and_a_failed_push_leaves_polling() {
    let receiver = crate::agents::Receiver::start(0);
    let config = format!(
        "{}\n\n[plugin_host]\nwatch = false\n\n[[plugins]]\nname = \"device-push\"\nfile = \"libsigil_push_webhook.so\"\n\
         [plugins.config]\nurl = \"{}\"\nsecret = \"0123456789abcdef0123456789abcdef\"\n\
         allow_private_networks = [\"127.0.0.1/32\"]\n\n[[plugins]]\nname = \"dead-push\"\n\
         file = \"libsigil_push_webhook.so\"\n[plugins.config]\nurl = \"http://127.0.0.1:9/nobody\"\n\
         secret = \"0123456789abcdef0123456789abcdef\"\nallow_private_networks = [\"127.0.0.1/32\"]\n",
        crate::harness::FAST_TEST_BASE,
        receiver.url
    );
    let daemon = Daemon::start_raw_with_env(&config, &[]);
    let (_owner, key) = tenant(&daemon);
    let enrol = |device: &DeviceSim, channel: &str| {
        let challenge = api_get(&daemon, &key, "/devices/register/challenge").expect(200);
        let signature = device.sign(
            "register",
            &["--nonce", challenge["nonce"].as_str().unwrap()],
        );
        api_post(
            &daemon,
            &key,
            "/devices/register",
            json!({ "device_public_key": device.public_key, "challenge_id": challenge["challenge_id"],
                    "signature": signature, "push_channel": channel, "push_token": format!("device-{channel}") }),
        )
        .expect(201)
    };
    let reachable = DeviceSim::new(21);
    let unreachable = DeviceSim::new(22);
    enrol(&reachable, "device-push");
    enrol(&unreachable, "dead-push");
    // An unknown channel is refused at registration.
    let challenge = api_get(&daemon, &key, "/devices/register/challenge").expect(200);
    assert_nested(
        &api_post(
            &daemon,
            &key,
            "/devices/register",
            json!({ "device_public_key": DeviceSim::new(23).public_key,
            "challenge_id": challenge["challenge_id"], "signature": "AA==", "push_channel": "nope", "push_token": "x" }),
        ),
        400,
        "INVALID_REQUEST",
    );

    // The reachable device gets the challenge pushed: the push item, with the server's signature.
    let created = api_post(
        &daemon,
        &key,
        "/challenge",
        json!({ "fingerprint": reachable.fingerprint, "device_public_key": reachable.public_key }),
    )
    .expect(201);
    receiver.events_by("x-sigil-delivery", 1);
    let (_, body) = receiver.deliveries.lock().unwrap()[0].clone();
    let pushed: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(pushed["recipient"], "device-device-push");
    assert_eq!(pushed["payload"]["type"], "challenge");
    assert_eq!(pushed["payload"]["challenge_id"], created["challenge_id"]);
    assert!(
        pushed["payload"]["server_signature"].is_string(),
        "{pushed}"
    );

    // The unreachable one's push fails, yet the challenge exists and the device finds it by polling.
    let created = api_post(
        &daemon,
        &key,
        "/challenge",
        json!({ "fingerprint": unreachable.fingerprint, "device_public_key": unreachable.public_key }),
    )
    .expect(201);
    assert_eq!(
        poll(&daemon, &unreachable)["challenges"][0]["challenge_id"],
        created["challenge_id"]
    );
    for _ in 0..200 {
        if daemon
            .metrics()
            .contains("sigil_device_pushes_total{outcome=\"failed\"}")
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the failed push was not counted:\n{}", daemon.metrics());
}

#[test]
fn a_challenge_expires_on_time_across_a_kill_and_its_late_answer_is_refused() {
    let mut daemon = Daemon::start_with(
        "[webhooks]\nallow_private_networks = [\"127.0.0.0/8\"]\npoll_interval = \"100ms\"\n\n\
         [testing]\nchallenge_ttl_secs = 3\n",
    );
    let (_owner, key) = tenant(&daemon);
    let receiver = crate::agents::Receiver::start(0);
    api_post(
        &daemon,
        &key,
        "/v1/config/webhooks",
        json!({ "url": receiver.url, "events": ["challenge.expired"], "secret": SECRET }),
    )
    .expect(201);
    let phone = DeviceSim::new(31);
    register(&daemon, &key, &phone);
    let created = api_post(
        &daemon,
        &key,
        "/challenge",
        json!({ "fingerprint": phone.fingerprint, "device_public_key": phone.public_key,
                "action": { "type": "login" } }),
    )
    .expect(201);
    let challenge_id = str_field(&created, "challenge_id");
    let item = poll(&daemon, &phone)["challenges"][0].clone();
    let bytes_hex = challenge_bytes_hex(&item);
    let approve = phone.sign(
        "approve",
        &[
            "--challenge-hex",
            &bytes_hex,
            "--action",
            &item["action"].to_string(),
        ],
    );
    // The daemon dies with the challenge pending and comes back after its expiry passed (or about to).
    daemon.kill9();
    std::thread::sleep(Duration::from_secs(3));
    daemon.restart();
    let mut status = Value::Null;
    for _ in 0..200 {
        status = api_get(
            &daemon,
            &key,
            &format!("/v1/auth/challenge/{challenge_id}/status"),
        )
        .expect(200);
        if status["status"] == "expired" {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(status["status"], "expired", "{status}");
    // The late answer is refused as expired, and the expiry reached the integrator's webhook.
    assert_nested(
        &device_post(
            &daemon,
            "/respond",
            json!({ "challenge_id": challenge_id, "fingerprint": phone.fingerprint, "decision": "approve",
                    "signature": approve }),
        ),
        410,
        "CHALLENGE_EXPIRED",
    );
    assert_eq!(
        receiver.events_by("x-sigil-event", 1),
        vec!["challenge.expired".to_string()]
    );
}

#[test]
fn web_push_deliveries_carry_a_vapid_credential_signed_in_the_kms() {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
    use p256::ecdsa::signature::Verifier as _;
    use p256::elliptic_curve::sec1::ToSec1Point as _;
    let push_service = crate::agents::Receiver::start(0);
    let endpoint = push_service.url.replace("/hook", "/push/subscription-1");
    let origin = push_service.url.trim_end_matches("/hook").to_string();
    // The channel has no key of its own: every credential comes from sigild's KMS.
    let config = format!(
        "{}\n\n[approvals]\nvapid_subject = \"mailto:ops@example.org\"\n\n[plugin_host]\nwatch = false\n\n\
         [[plugins]]\nname = \"web-push\"\nfile = \"libsigil_push_webpush.so\"\n[plugins.config]\n\
         allow_private_networks = [\"127.0.0.1/32\"]\n",
        crate::harness::FAST_TEST_BASE,
    );
    let daemon = Daemon::start_raw_with_env(&config, &[]);
    let (_owner, key) = tenant(&daemon);
    let info = daemon.get_public("/info").expect(200);
    let vapid_key = str_field(&info, "vapid_public_key");
    let vapid_point = B64URL.decode(&vapid_key).unwrap();
    assert_eq!(vapid_point.len(), 65, "an uncompressed P-256 point: {info}");

    // A browser's subscription: its P-256 key and auth secret.
    let browser = p256::SecretKey::from_slice(&[0x11; 32]).unwrap();
    let subscription = json!({
        "endpoint": endpoint,
        "keys": {
            "p256dh": B64URL.encode(browser.public_key().to_sec1_point(false).as_bytes()),
            "auth": B64URL.encode([0x5a; 16]),
        },
    });
    let device = DeviceSim::new(32);
    // A push token the channel cannot use is refused at registration, with the channel's reason.
    let challenge = api_get(&daemon, &key, "/devices/register/challenge").expect(200);
    let signature = device.sign(
        "register",
        &["--nonce", challenge["nonce"].as_str().unwrap()],
    );
    let refused = api_post(
        &daemon,
        &key,
        "/devices/register",
        json!({ "device_public_key": device.public_key, "challenge_id": challenge["challenge_id"],
                "signature": signature, "push_channel": "web-push", "push_token": "not a subscription" }),
    );
    assert_nested(&refused, 400, "INVALID_PUSH_TOKEN");
    let challenge = api_get(&daemon, &key, "/devices/register/challenge").expect(200);
    let signature = device.sign(
        "register",
        &["--nonce", challenge["nonce"].as_str().unwrap()],
    );
    api_post(
        &daemon,
        &key,
        "/devices/register",
        json!({ "device_public_key": device.public_key, "challenge_id": challenge["challenge_id"],
                "signature": signature, "push_channel": "web-push", "push_token": subscription.to_string() }),
    )
    .expect(201);
    api_post(
        &daemon,
        &key,
        "/challenge",
        json!({ "fingerprint": device.fingerprint, "device_public_key": device.public_key }),
    )
    .expect(201);

    // The push service receives an encrypted message with `Authorization: vapid t=<JWT>, k=<key>`.
    push_service.events_by("authorization", 1);
    let (headers, _) = push_service.deliveries.lock().unwrap()[0].clone();
    assert_eq!(
        crate::agents::header(&headers, "content-encoding"),
        "aes128gcm"
    );
    let authorization = crate::agents::header(&headers, "authorization");
    let rest = authorization
        .strip_prefix("vapid ")
        .expect("a vapid credential");
    let (mut token, mut k) = (String::new(), String::new());
    for part in rest.split(',') {
        let part = part.trim();
        if let Some(value) = part.strip_prefix("t=") {
            token = value.to_string();
        } else if let Some(value) = part.strip_prefix("k=") {
            k = value.to_string();
        }
    }
    assert_eq!(k, vapid_key, "k= is the key /info publishes");
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "{token}");
    let header: Value = serde_json::from_slice(&B64URL.decode(parts[0]).unwrap()).unwrap();
    let claims: Value = serde_json::from_slice(&B64URL.decode(parts[1]).unwrap()).unwrap();
    assert_eq!(header["alg"], "ES256");
    assert_eq!(claims["aud"], origin.as_str(), "{claims}");
    assert_eq!(claims["sub"], "mailto:ops@example.org");
    let now = chrono::Utc::now().timestamp();
    let exp = claims["exp"].as_i64().unwrap();
    assert!(exp > now && exp <= now + 24 * 3600, "RFC 8292 §2: {claims}");
    let verifying = p256::ecdsa::VerifyingKey::from_sec1_bytes(&vapid_point).unwrap();
    let signature = p256::ecdsa::Signature::from_slice(&B64URL.decode(parts[2]).unwrap()).unwrap();
    verifying
        .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature)
        .expect("the JWT verifies with the published VAPID key");
}
