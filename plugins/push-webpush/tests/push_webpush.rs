//! Black-box tests of the push-webpush plugin against a loopback stand-in for a push service and the browser
//! behind it: the stand-in checks the VAPID JWT with the public key from the `k` parameter and decrypts the
//! `aes128gcm` body with the subscription's private key and auth secret, with decryption code written here
//! from RFC 8291 and RFC 8188 rather than taken from the plugin. Nothing leaves 127.0.0.1.
#![allow(unsafe_code)] // reason: one test loads the built cdylib with dlopen, as sigild does.

use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use aes_gcm::Aes128Gcm;
use aes_gcm::aead::{Aead, KeyInit, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hkdf::Hkdf;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::elliptic_curve::sec1::ToSec1Point;
use p256::{PublicKey, SecretKey};
use sha2::Sha256;
use sigil_plugin_api::serde_json::{self, Value, json};
use sigil_plugin_api::{
    DeliveryOutcome, ErrorClass, PluginError, PushChannel, SendRequest, SendResponse, Status,
    ValidateRecipientRequest,
};
use sigil_push_common::test_support::{Answer, Request, StandIn};
use sigil_push_webpush::WebPushChannel;

/// The VAPID key of the channel under test (the RFC 8291 example's application-server key, reused).
const VAPID_RAW: &str = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw";
const SUBJECT: &str = "mailto:ops@example.org";

/// A browser's side of a subscription: its key pair and auth secret.
struct Browser {
    secret: SecretKey,
    auth: [u8; 16],
}

impl Browser {
    fn new(seed: u8) -> Browser {
        let mut scalar = [seed; 32];
        scalar[0] = 0x11;
        Browser {
            secret: SecretKey::from_slice(&scalar).unwrap(),
            auth: [seed ^ 0x5a; 16],
        }
    }

    fn public(&self) -> Vec<u8> {
        self.secret
            .public_key()
            .to_sec1_point(false)
            .as_bytes()
            .to_vec()
    }

    fn subscription(&self, endpoint: &str) -> String {
        json!({
            "endpoint": endpoint,
            "expirationTime": null,
            "keys": {
                "p256dh": URL_SAFE_NO_PAD.encode(self.public()),
                "auth": URL_SAFE_NO_PAD.encode(self.auth),
            },
        })
        .to_string()
    }

    /// RFC 8188 §2 with the key derivation of RFC 8291 §3.3-3.4, from the receiving side: read the header,
    /// derive the key from our private key and the sender's key in `keyid`, open every record, strip the
    /// padding after the last non-zero byte and check its delimiter.
    fn decrypt(&self, body: &[u8]) -> Result<Vec<u8>, String> {
        if body.len() < 21 {
            return Err("no header".into());
        }
        let salt = &body[..16];
        let rs = u32::from_be_bytes(body[16..20].try_into().unwrap()) as usize;
        let idlen = body[20] as usize;
        if idlen != 65 || body.len() < 21 + idlen {
            return Err(format!("keyid of {idlen} bytes"));
        }
        let as_public = &body[21..21 + idlen];
        let sender = PublicKey::from_sec1_bytes(as_public).map_err(|_| "keyid is not a point")?;
        let ecdh = p256::ecdh::diffie_hellman(self.secret.to_nonzero_scalar(), sender.as_affine());

        let mut info = b"WebPush: info\0".to_vec();
        info.extend_from_slice(&self.public());
        info.extend_from_slice(as_public);
        let mut ikm = [0u8; 32];
        Hkdf::<Sha256>::new(Some(&self.auth), ecdh.raw_secret_bytes())
            .expand(&info, &mut ikm)
            .unwrap();
        let prk = Hkdf::<Sha256>::new(Some(salt), &ikm);
        let mut cek = [0u8; 16];
        prk.expand(b"Content-Encoding: aes128gcm\0", &mut cek)
            .unwrap();
        let mut base_nonce = [0u8; 12];
        prk.expand(b"Content-Encoding: nonce\0", &mut base_nonce)
            .unwrap();
        let cipher = Aes128Gcm::new_from_slice(&cek).unwrap();

        let records: Vec<&[u8]> = body[21 + idlen..].chunks(rs).collect();
        let mut plaintext = Vec::new();
        for (sequence, record) in records.iter().enumerate() {
            let mut nonce = base_nonce;
            for (at, byte) in (sequence as u64).to_be_bytes().iter().enumerate() {
                nonce[4 + at] ^= byte;
            }
            let mut opened = cipher
                .decrypt(&Nonce::<Aes128Gcm>::from(nonce), *record)
                .map_err(|_| format!("record {sequence} does not authenticate"))?;
            while opened.last() == Some(&0) {
                opened.pop();
            }
            let last = sequence + 1 == records.len();
            match opened.pop() {
                Some(2) if last => {}
                Some(1) if !last => {}
                other => return Err(format!("record {sequence} delimiter {other:?}")),
            }
            plaintext.extend_from_slice(&opened);
        }
        Ok(plaintext)
    }
}

/// One push message as the stand-in saw it, after its own checks.
#[derive(Debug, Clone)]
struct Push {
    path: String,
    headers: Vec<(String, String)>,
    /// The JWT's claims, when its signature verified with `k`.
    vapid_claims: Option<Value>,
    vapid_k: String,
    /// The decrypted body, or why it did not decrypt.
    plaintext: Result<Vec<u8>, String>,
    /// The body as it arrived.
    body: Vec<u8>,
}

impl Push {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// Checks `Authorization: vapid t=<jwt>, k=<key>` as a push service would; the claims when it verifies.
fn verify_vapid(header: &str) -> (Option<Value>, String) {
    let Some(params) = header.strip_prefix("vapid ") else {
        return (None, String::new());
    };
    let mut token = "";
    let mut k = "";
    for param in params.split(',') {
        match param.trim().split_once('=') {
            Some(("t", value)) => token = value,
            Some(("k", value)) => k = value,
            _ => {}
        }
    }
    let parts: Vec<&str> = token.split('.').collect();
    let verified = (|| {
        let [header, claims, signature] = parts[..] else {
            return None;
        };
        let jose: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).ok()?).ok()?;
        if jose["alg"] != "ES256" {
            return None;
        }
        let key = VerifyingKey::from_sec1_bytes(&URL_SAFE_NO_PAD.decode(k).ok()?).ok()?;
        let signature = Signature::from_slice(&URL_SAFE_NO_PAD.decode(signature).ok()?).ok()?;
        key.verify(format!("{header}.{claims}").as_bytes(), &signature)
            .ok()?;
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).ok()?).ok()
    })();
    (verified, k.to_owned())
}

/// A push service on an ephemeral loopback port that answers every message with `status`, decrypting each
/// for `browser`.
struct PushService {
    addr: SocketAddr,
    stand_in: StandIn<Push>,
}

impl PushService {
    fn start(status: &'static str, browser: Browser) -> PushService {
        let answer = Answer {
            status,
            headers: "Location: /m/1\r\n",
            body: "",
        };
        let stand_in = StandIn::start(answer, move |request| record(request, &browser));
        PushService {
            addr: stand_in.addr(),
            stand_in,
        }
    }

    fn endpoint(&self, path: &str) -> String {
        self.stand_in.url(path)
    }

    fn pushes(&self) -> Vec<Push> {
        self.stand_in.recorded()
    }
}

/// What the push service makes of a request: the message, with its VAPID JWT checked and its body decrypted.
fn record(request: Request, browser: &Browser) -> Push {
    let (vapid_claims, vapid_k) = verify_vapid(request.header("authorization").unwrap_or_default());
    Push {
        path: request.path,
        plaintext: browser.decrypt(&request.body),
        body: request.body,
        headers: request.headers,
        vapid_claims,
        vapid_k,
    }
}

/// A VAPID key file in a temporary directory (kept alive with the channel).
struct Fixture {
    _dir: tempfile::TempDir,
    key_file: PathBuf,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("vapid.key");
    std::fs::write(&key_file, format!("{VAPID_RAW}\n")).unwrap();
    Fixture {
        _dir: dir,
        key_file,
    }
}

fn channel(fixture: &Fixture, extra: Value) -> WebPushChannel {
    let mut config = json!({
        "vapid_private_key_file": fixture.key_file,
        "vapid_subject": SUBJECT,
        "allow_private_networks": ["127.0.0.1/32"],
    });
    for (key, value) in extra.as_object().unwrap() {
        config[key] = value.clone();
    }
    WebPushChannel::create(config).unwrap()
}

fn send(
    channel: &WebPushChannel,
    recipient: &str,
    payload: Value,
) -> Result<SendResponse, PluginError> {
    let Value::Object(payload) = payload else {
        unreachable!()
    };
    channel.send(SendRequest {
        recipient: recipient.to_owned(),
        payload,
        idempotency_key: "notif-1".to_owned(),
        timeout_ms: Some(5_000),
        vapid: None,
    })
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn a_message_arrives_signed_and_decrypts_to_the_payload() {
    let fixture = fixture();
    let browser = Browser::new(3);
    let subscription = browser.subscription("PLACEHOLDER");
    let service = PushService::start("201 Created", browser);
    let subscription =
        subscription.replace("PLACEHOLDER", &service.endpoint("/wpush/v2/gAAAAABk-sub"));
    let channel = channel(&fixture, json!({"ttl_seconds": 600, "urgency": "high"}));
    let payload = json!({"title": "Approve signing?", "request": 42, "topic": "approval-42"});
    let before = unix_now();
    let sent = send(&channel, &subscription, payload.clone()).unwrap();
    assert_eq!(
        sent.outcome,
        DeliveryOutcome::Delivered,
        "{:?}",
        sent.detail
    );
    assert_eq!(sent.detail.as_deref(), Some("HTTP 201 Created"));
    assert_eq!(sent.delivery_id, "notif-1");

    let pushes = service.pushes();
    assert_eq!(pushes.len(), 1);
    let push = &pushes[0];
    assert_eq!(push.path, "/wpush/v2/gAAAAABk-sub");
    assert_eq!(push.header("content-encoding"), Some("aes128gcm"));
    assert_eq!(push.header("ttl"), Some("600"));
    assert_eq!(push.header("urgency"), Some("high"));
    assert_eq!(push.header("topic"), Some("approval-42"));

    // The plaintext is the payload JSON.
    let plaintext = push.plaintext.clone().unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&plaintext).unwrap(),
        payload
    );

    // The JWT verifies with `k`, which is the configured key's public half, and says what RFC 8292 asks.
    let claims = push.vapid_claims.clone().expect("the VAPID JWT verifies");
    assert_eq!(
        push.vapid_k,
        channel.config().vapid.as_ref().unwrap().public_key_b64()
    );
    assert_eq!(claims["aud"], format!("http://{}", service.addr));
    assert_eq!(claims["sub"], SUBJECT);
    let exp = claims["exp"].as_u64().unwrap();
    assert!(
        exp >= before + 11 * 3600 && exp <= unix_now() + 24 * 3600,
        "{exp}"
    );
}

#[test]
fn every_message_is_encrypted_afresh() {
    let fixture = fixture();
    let browser = Browser::new(4);
    let subscription = browser.subscription("PLACEHOLDER");
    let service = PushService::start("202 Accepted", browser);
    let subscription = subscription.replace("PLACEHOLDER", &service.endpoint("/up/x"));
    let channel = channel(&fixture, json!({}));
    for _ in 0..2 {
        let sent = send(&channel, &subscription, json!({"n": 1})).unwrap();
        assert_eq!(sent.outcome, DeliveryOutcome::Delivered);
    }
    let pushes = service.pushes();
    assert_eq!(pushes.len(), 2);
    for push in &pushes {
        assert_eq!(push.plaintext.as_deref(), Ok(&b"{\"n\":1}"[..]));
        assert_eq!(push.header("ttl"), Some("86400"));
        assert_eq!(push.header("urgency"), None);
    }
    // Both attempts carry the same notification key, so the same derived topic: a retry replaces a copy the
    // push service still holds.
    let topic = pushes[0].header("topic").unwrap();
    assert_eq!(topic.len(), 32);
    assert_eq!(pushes[1].header("topic"), Some(topic));
}

/// A subscription the browser dropped: 410 (or 404) is permanent, and the detail says to remove it.
#[test]
fn a_gone_subscription_is_failed() {
    for status in ["410 Gone", "404 Not Found"] {
        let fixture = fixture();
        let browser = Browser::new(5);
        let subscription = browser.subscription("PLACEHOLDER");
        let service = PushService::start(status, browser);
        let subscription = subscription.replace("PLACEHOLDER", &service.endpoint("/gone"));
        let sent = send(
            &channel(&fixture, json!({})),
            &subscription,
            json!({"n": 1}),
        )
        .unwrap();
        assert_eq!(sent.outcome, DeliveryOutcome::Failed, "{status}");
        let detail = sent.detail.unwrap();
        assert!(
            detail.contains(status) && detail.contains("subscription is gone"),
            "{detail}"
        );
        assert!(
            !detail.contains("/gone"),
            "the endpoint path leaked: {detail}"
        );
    }
}

#[test]
fn refusals_are_failed() {
    for (status, why) in [
        ("400 Bad Request", "refused the message"),
        ("413 Payload Too Large", "too large"),
        ("403 Forbidden", "VAPID"),
        ("302 Found", "redirects"),
    ] {
        let fixture = fixture();
        let browser = Browser::new(6);
        let subscription = browser.subscription("PLACEHOLDER");
        let service = PushService::start(status, browser);
        let subscription = subscription.replace("PLACEHOLDER", &service.endpoint("/p"));
        let sent = send(
            &channel(&fixture, json!({})),
            &subscription,
            json!({"n": 1}),
        )
        .unwrap();
        assert_eq!(sent.outcome, DeliveryOutcome::Failed, "{status}");
        let detail = sent.detail.unwrap();
        assert!(detail.contains(status) && detail.contains(why), "{detail}");
    }
}

#[test]
fn server_errors_and_rate_limits_are_transient() {
    for status in ["500 Internal Server Error", "429 Too Many Requests"] {
        let fixture = fixture();
        let browser = Browser::new(7);
        let subscription = browser.subscription("PLACEHOLDER");
        let service = PushService::start(status, browser);
        let subscription = subscription.replace("PLACEHOLDER", &service.endpoint("/p"));
        let error = send(
            &channel(&fixture, json!({})),
            &subscription,
            json!({"n": 1}),
        )
        .unwrap_err();
        assert_eq!(error.status, Status::Backend, "{status}");
        assert_eq!(error.class, Some(ErrorClass::HttpStatus));
        assert_eq!(error.http_status, Some(status[..3].parse().unwrap()));
        // It reached the service and decrypted: the failure is the service's.
        assert!(service.pushes()[0].plaintext.is_ok());
    }
}

#[test]
fn no_push_service_is_a_network_error() {
    let fixture = fixture();
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let subscription = Browser::new(8).subscription(&format!("http://{addr}/p"));
    let error = send(
        &channel(&fixture, json!({})),
        &subscription,
        json!({"n": 1}),
    )
    .unwrap_err();
    assert_eq!(error.status, Status::Backend);
    assert_eq!(error.class, Some(ErrorClass::Network));
}

#[test]
fn oversized_payloads_are_failed_before_sending() {
    let fixture = fixture();
    let browser = Browser::new(9);
    let subscription = browser.subscription("PLACEHOLDER");
    let service = PushService::start("201 Created", browser);
    let subscription = subscription.replace("PLACEHOLDER", &service.endpoint("/p"));
    let sent = send(
        &channel(&fixture, json!({})),
        &subscription,
        json!({"blob": "x".repeat(4000)}),
    )
    .unwrap();
    assert_eq!(sent.outcome, DeliveryOutcome::Failed);
    assert!(sent.detail.unwrap().contains("at most 3993"));
    assert!(service.pushes().is_empty());
}

/// The SSRF guard: loopback is refused unless allowed, by address and by name.
#[test]
fn private_endpoints_are_refused_by_default() {
    let fixture = fixture();
    let browser = Browser::new(10);
    let subscription = browser.subscription("PLACEHOLDER");
    let service = PushService::start("201 Created", browser);
    let closed = channel(&fixture, json!({"allow_private_networks": []}));

    let by_address = subscription.replace("PLACEHOLDER", &service.endpoint("/p"));
    let sent = send(&closed, &by_address, json!({"n": 1})).unwrap();
    assert_eq!(sent.outcome, DeliveryOutcome::Failed);
    assert!(sent.detail.unwrap().contains("http://"));

    let https_name = subscription.replace(
        "PLACEHOLDER",
        &format!("https://localhost:{}/p", service.addr.port()),
    );
    let sent = send(&closed, &https_name, json!({"n": 1})).unwrap();
    assert_eq!(sent.outcome, DeliveryOutcome::Failed);
    let detail = sent.detail.unwrap();
    assert!(
        detail.contains("loopback") && detail.contains("allow_private_networks"),
        "{detail}"
    );
    assert!(service.pushes().is_empty());
}

#[test]
fn subscriptions_are_validated() {
    let fixture = fixture();
    let channel = channel(
        &fixture,
        json!({"allowed_hosts": ["*.push.example", "fcm.example"], "allow_private_networks": ["10.0.0.0/8"]}),
    );
    let browser = Browser::new(11);
    let valid = |recipient: &str| {
        channel
            .validate_recipient(ValidateRecipientRequest {
                recipient: recipient.to_owned(),
            })
            .unwrap()
    };
    for endpoint in [
        "https://updates.push.example/wpush/v2/abc",
        "https://fcm.example:8443/fcm/send/abc",
        "https://up.push.example/upABC?up=1",
    ] {
        let answer = valid(&browser.subscription(endpoint));
        assert!(answer.valid, "{endpoint}: {:?}", answer.reason);
    }
    let good_keys = json!({
        "p256dh": URL_SAFE_NO_PAD.encode(browser.public()),
        "auth": URL_SAFE_NO_PAD.encode([1u8; 16]),
    });
    let cases: Vec<(String, &str)> = vec![
        (String::new(), "empty"),
        ("https://a.push.example/x".to_owned(), "not a push subscription"),
        (json!({"keys": good_keys}).to_string(), "no `endpoint`"),
        (json!({"endpoint": 5, "keys": good_keys}).to_string(), "not a string"),
        (json!({"endpoint": "https://a.push.example/x"}).to_string(), "keys.p256dh"),
        (
            json!({"endpoint": "https://a.push.example/x", "keys": {"p256dh": good_keys["p256dh"], "auth": "AAAA"}})
                .to_string(),
            "`keys.auth`",
        ),
        (
            json!({"endpoint": "https://a.push.example/x", "keys": {"p256dh": URL_SAFE_NO_PAD.encode([4u8; 65]), "auth": good_keys["auth"]}})
                .to_string(),
            "`keys.p256dh`",
        ),
        (browser.subscription("https://evil.example/x"), "not in this channel's allowed_hosts"),
        (browser.subscription("https://push.example/x"), "not in this channel's allowed_hosts"),
        (browser.subscription("ftp://a.push.example/x"), "not an https:// URL"),
        (browser.subscription("https://u:p@a.push.example/x"), "credentials"),
        (browser.subscription("https://a.push.example/x#f"), "fragment"),
    ];
    for (recipient, reason) in cases {
        let answer = valid(&recipient);
        assert!(!answer.valid, "{recipient}");
        let why = answer.reason.unwrap();
        assert!(
            why.contains(reason),
            "{recipient}: {why:?} should mention {reason:?}"
        );
    }

    // http:// only inside allow_private_networks, and never to an address the policy refuses.
    let open = channel_open(&fixture);
    let answer = |channel: &WebPushChannel, endpoint: &str| {
        channel
            .validate_recipient(ValidateRecipientRequest {
                recipient: browser.subscription(endpoint),
            })
            .unwrap()
    };
    assert!(answer(&open, "http://10.1.2.3/up").valid);
    assert!(!answer(&open, "http://push.example/up").valid);
    assert!(!answer(&open, "http://192.168.1.1/up").valid);
    let metadata = answer(&open, "https://169.254.169.254/x");
    assert!(!metadata.valid && metadata.reason.unwrap().contains("metadata"));
    // Standard base64 with padding, as some serializers write it, is read too.
    let padded = json!({
        "endpoint": "https://push.example/x",
        "keys": {
            "p256dh": base64::engine::general_purpose::STANDARD.encode(browser.public()),
            "auth": base64::engine::general_purpose::STANDARD.encode([0xfbu8; 16]),
        },
    });
    let answer = open
        .validate_recipient(ValidateRecipientRequest {
            recipient: padded.to_string(),
        })
        .unwrap();
    assert!(answer.valid, "{:?}", answer.reason);
}

fn channel_open(fixture: &Fixture) -> WebPushChannel {
    channel(fixture, json!({"allow_private_networks": ["10.0.0.0/8"]}))
}

#[test]
fn bad_configs_name_the_field() {
    let fixture = fixture();
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("cert.pem");
    std::fs::write(
        &cert,
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let base = || json!({"vapid_private_key_file": fixture.key_file, "vapid_subject": SUBJECT});
    let with = |key: &str, value: Value| {
        let mut config = base();
        config[key] = value;
        config
    };
    for (config, field) in [
        (
            json!({"vapid_subject": SUBJECT}),
            "`vapid_private_key_file`",
        ),
        (
            with("vapid_private_key_file", json!("/nonexistent/key")),
            "`vapid_private_key_file`",
        ),
        (with("vapid_private_key_file", json!(cert)), "another kind"),
        (
            json!({"vapid_private_key_file": fixture.key_file}),
            "`vapid_subject`",
        ),
        (
            with("vapid_subject", json!("ops@example.org")),
            "`vapid_subject`",
        ),
        (with("vapid_subject", json!("mailto:")), "`vapid_subject`"),
        (
            with("vapid_subject", json!("http://example.org")),
            "`vapid_subject`",
        ),
        (with("ttl_seconds", json!(30 * 86_400)), "`ttl_seconds`"),
        (with("urgency", json!("urgent")), "`urgency`"),
        (with("timeout_ms", json!(0)), "`timeout_ms`"),
        (with("allowed_hosts", json!(["a/b"])), "`allowed_hosts`"),
        (
            with("allow_private_networks", json!(["10.0.0.1/8"])),
            "`allow_private_networks`",
        ),
        (with("vapid_private_key", json!("x")), "unknown field"),
    ] {
        let error = WebPushChannel::create(config.clone()).err().unwrap();
        assert_eq!(error.status, Status::InvalidInput, "{config}");
        assert!(error.message.contains(field), "{config}: {}", error.message);
        assert!(!error.message.contains(VAPID_RAW), "{}", error.message);
    }
}

#[test]
fn health_shows_the_public_key_only() {
    let fixture = fixture();
    let channel = channel(&fixture, json!({}));
    let detail = channel.health().unwrap().detail.unwrap();
    assert!(
        detail.contains(channel.config().vapid.as_ref().unwrap().public_key_b64()),
        "{detail}"
    );
    assert!(!detail.contains(VAPID_RAW), "{detail}");
    let shown = format!("{:?}", channel.config());
    assert!(!shown.contains(VAPID_RAW), "{shown}");
}

/// The same delivery checked by libraries nobody here wrote: `http_ece` (Mozilla's reference implementation
/// of RFC 8188/8291) decrypts the body with the browser's private key and auth secret, and `py_vapid`
/// verifies the VAPID JWT with the `k` key (both installed by tests/oracles/setup.sh into the oracle venv).
#[test]
fn python_oracles_decrypt_and_verify() {
    const ORACLE: &str = r#"
import base64, json, sys, time
import http_ece
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02

def b(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))

spec = json.load(sys.stdin)
key = ec.derive_private_key(int.from_bytes(b(spec["private_key"]), "big"), ec.SECP256R1())
plain = http_ece.decrypt(b(spec["body"]), private_key=key, auth_secret=b(spec["auth"]), version="aes128gcm")
assert json.loads(plain) == spec["payload"], plain
# RFC 8292's own example separates the parameters with ", "; py_vapid's parser wants ",".
auth = spec["authorization"].replace(", ", ",")
assert Vapid02.verify(auth), "the VAPID signature does not verify"
token = auth.split("t=", 1)[1].split(",", 1)[0]
claims = json.loads(b(token.split(".")[1]))
assert claims["aud"] == spec["aud"] and claims["sub"] == spec["sub"], claims
assert time.time() < claims["exp"] <= time.time() + 86400, claims
print("verified")
"#;
    let venv = std::env::var_os("SIGIL_ORACLE_VENV").map_or_else(
        || PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/sigil-oracles/venv"),
        PathBuf::from,
    );
    let fixture = fixture();
    let browser = Browser::new(12);
    let private_key = URL_SAFE_NO_PAD.encode(browser.secret.to_bytes());
    let auth = URL_SAFE_NO_PAD.encode(browser.auth);
    let subscription = browser.subscription("PLACEHOLDER");
    let service = PushService::start("201 Created", browser);
    let subscription = subscription.replace("PLACEHOLDER", &service.endpoint("/push/abc"));
    let payload = json!({"title": "Approve signing?", "request": 42, "text": "Grüße"});
    let sent = send(
        &channel(&fixture, json!({})),
        &subscription,
        payload.clone(),
    )
    .unwrap();
    assert_eq!(sent.outcome, DeliveryOutcome::Delivered);
    let push = service.pushes().remove(0);

    let spec = json!({
        "private_key": private_key,
        "auth": auth,
        "body": URL_SAFE_NO_PAD.encode(&push.body),
        "authorization": push.header("authorization").unwrap(),
        "payload": payload,
        "aud": format!("http://{}", service.addr),
        "sub": SUBJECT,
    });
    let mut child = std::process::Command::new(venv.join("bin/python"))
        .args(["-c", ORACLE])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| {
            panic!("the oracle venv's python could not run ({error}); run tests/oracles/setup.sh")
        });
    child
        .stdin
        .take()
        .unwrap()
        .write_all(spec.to_string().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success() && output.stdout.starts_with(b"verified"),
        "the oracles refused the delivery: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The built cdylib, loaded through the plugin-api host API as sigild loads it.
mod cdylib {
    use super::*;
    use core::ffi::{c_char, c_int, c_void};
    use std::ffi::CString;
    use std::path::PathBuf;

    use sigil_plugin_api::{
        PluginKind, SIGIL_PLUGIN_ENTRY_SYMBOL, SigilPluginEntryFn, ValidatedDescriptor,
        validate_descriptor,
    };

    unsafe extern "C" {
        // In glibc's libc.so.6 since 2.34, which the Rust standard library already links.
        fn dlopen(filename: *const c_char, flags: c_int) -> *mut c_void;
        fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
    }

    /// `target/<profile>/libsigil_push_webpush.so`, built alongside the rlib this test links.
    pub fn load() -> ValidatedDescriptor {
        let exe = std::env::current_exe().unwrap();
        let deps = exe.parent().unwrap();
        let library: PathBuf = [deps.parent().unwrap(), deps]
            .iter()
            .map(|dir| dir.join("libsigil_push_webpush.so"))
            .find(|path| path.exists())
            .expect(
                "the cdylib next to the test binary; `cargo build -p sigil-push-webpush` builds it",
            );
        let path = CString::new(library.to_str().unwrap()).unwrap();
        let symbol = CString::new(SIGIL_PLUGIN_ENTRY_SYMBOL).unwrap();
        // SAFETY: valid NUL-terminated strings; RTLD_NOW (2) | RTLD_LOCAL (0); the library is never closed.
        let handle = unsafe { dlopen(path.as_ptr(), 2) };
        assert!(!handle.is_null());
        // SAFETY: as above.
        let entry = unsafe { dlsym(handle, symbol.as_ptr()) };
        assert!(!entry.is_null());
        // SAFETY: the symbol is the plugin's entry function by the ABI, and the library stays loaded.
        let plugin = unsafe {
            let entry = std::mem::transmute::<*mut c_void, SigilPluginEntryFn>(entry);
            validate_descriptor(entry())
        }
        .unwrap();
        assert_eq!(plugin.kind(), PluginKind::PushChannel);
        assert_eq!(plugin.name(), "push-webpush");
        plugin
    }

    #[test]
    fn loads_validates_and_delivers() {
        let plugin = load();
        // An empty config is valid (VAPID credentials from the host); a half one is not.
        plugin.create_instance(b"{}").unwrap();
        let error = plugin
            .create_instance(br#"{"vapid_subject": "mailto:ops@example.org"}"#)
            .unwrap_err();
        assert_eq!(error.status, Status::InvalidInput);

        let fixture = fixture();
        let browser = Browser::new(13);
        let subscription = browser.subscription("PLACEHOLDER");
        let service = PushService::start("201 Created", browser);
        let subscription = subscription.replace("PLACEHOLDER", &service.endpoint("/p"));
        let config = json!({"vapid_private_key_file": fixture.key_file, "vapid_subject": SUBJECT,
                            "allow_private_networks": ["127.0.0.1/32"]})
        .to_string();
        let instance = plugin.create_instance(config.as_bytes()).unwrap();
        instance.health().unwrap();
        let check: sigil_plugin_api::ValidateRecipientResponse = instance
            .call_message("validate_recipient", &json!({"recipient": subscription}))
            .unwrap();
        assert!(check.valid, "{:?}", check.reason);
        let sent: SendResponse = instance
            .call_message(
                "send",
                &json!({"recipient": subscription, "payload": {"n": 1}, "idempotency_key": "abi-1"}),
            )
            .unwrap();
        assert_eq!(sent.outcome, DeliveryOutcome::Delivered);
        assert_eq!(
            service.pushes()[0].plaintext.as_deref(),
            Ok(&b"{\"n\":1}"[..])
        );
    }
}

/// Without a key of its own, the channel sends the host's credential (sigild signs it in its KMS) when it was
/// made for the subscription's push service, and refuses to send without one or with another's.
#[test]
fn the_hosts_vapid_credential_is_used_for_its_own_push_service_only() {
    let fixture = fixture();
    let browser = Browser::new(9);
    let subscription = browser.subscription("PLACEHOLDER");
    let service = PushService::start("201 Created", browser);
    let subscription = subscription.replace("PLACEHOLDER", &service.endpoint("/push/host"));
    let keyless =
        WebPushChannel::create(json!({ "allow_private_networks": ["127.0.0.1/32"] })).unwrap();
    let detail = keyless.health().unwrap().detail.unwrap();
    assert!(detail.contains("from the host"), "{detail}");
    // The host's key: the one the fixture's file holds, so the stand-in verifies it the same way.
    let host = channel(&fixture, json!({}));
    let own = host.config().vapid.as_ref().unwrap();
    let send_with = |credential: Option<sigil_plugin_api::VapidCredential>| {
        keyless
            .send(SendRequest {
                recipient: subscription.clone(),
                payload: json!({"n": 1}).as_object().unwrap().clone(),
                idempotency_key: "host-1".to_owned(),
                timeout_ms: Some(5_000),
                vapid: credential,
            })
            .unwrap()
    };
    let credential = |audience: &str| sigil_plugin_api::VapidCredential {
        token: own.jwt(audience, SUBJECT, unix_now() + 3600),
        public_key: own.public_key_b64().to_owned(),
    };
    // None: failed, nothing sent.
    let refused = send_with(None);
    assert_eq!(refused.outcome, DeliveryOutcome::Failed);
    assert!(refused.detail.unwrap().contains("vapid_subject"));
    // Made for another push service: failed, nothing sent.
    let refused = send_with(Some(credential("https://push.elsewhere.example")));
    assert_eq!(refused.outcome, DeliveryOutcome::Failed);
    assert!(service.pushes().is_empty());
    // Made for this one: sent as is, and it verifies.
    let sent = send_with(Some(credential(&format!("http://{}", service.addr))));
    assert_eq!(
        sent.outcome,
        DeliveryOutcome::Delivered,
        "{:?}",
        sent.detail
    );
    let pushes = service.pushes();
    assert_eq!(pushes.len(), 1);
    assert!(pushes[0].vapid_claims.is_some(), "the JWT verifies");
    assert_eq!(pushes[0].vapid_k, own.public_key_b64());
}

/// With `unifiedpush_discovery`, a subscription is accepted only when its endpoint answers the UnifiedPush
/// discovery `GET` with version 1; a browser push service's answer (or none) refuses it with the reason.
#[test]
fn unifiedpush_discovery_accepts_only_unifiedpush_endpoints() {
    let fixture = fixture();
    let discovering = channel(&fixture, json!({ "unifiedpush_discovery": true }));
    let browser = Browser::new(21);
    let validate = |endpoint: &str| {
        let recipient = browser.subscription(endpoint);
        discovering
            .validate_recipient(ValidateRecipientRequest { recipient })
            .unwrap()
    };
    for (answer, accepted) in [
        (r#"{"unifiedpush":{"version":1}}"#, true),
        (r#"{"unifiedpush":{"version":2}}"#, false),
        ("{}", false),
        ("not json", false),
    ] {
        let stand_in = StandIn::start(
            Answer {
                status: "200 OK",
                headers: "Content-Type: application/json\r\n",
                body: answer,
            },
            |request: Request| request.method,
        );
        let verdict = validate(&stand_in.url("/up/abc"));
        assert_eq!(verdict.valid, accepted, "{answer}: {:?}", verdict.reason);
        assert_eq!(
            stand_in.recorded(),
            vec!["GET".to_owned()],
            "one discovery GET"
        );
    }
    let missing = StandIn::start(
        Answer {
            status: "404 Not Found",
            headers: "",
            body: "",
        },
        |request: Request| request.method,
    );
    let verdict = validate(&missing.url("/gone"));
    assert!(!verdict.valid);
    assert!(
        verdict.reason.unwrap().contains("404"),
        "the status is named"
    );
    // Off by default: nothing is fetched.
    let plain = channel(&fixture, json!({}));
    let quiet = StandIn::start(
        Answer {
            status: "404 Not Found",
            headers: "",
            body: "",
        },
        |request: Request| request.method,
    );
    let recipient = browser.subscription(&quiet.url("/x"));
    assert!(
        plain
            .validate_recipient(ValidateRecipientRequest { recipient })
            .unwrap()
            .valid
    );
    assert!(quiet.recorded().is_empty());
}
