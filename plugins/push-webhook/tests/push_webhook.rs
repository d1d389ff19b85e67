//! Black-box tests of the push-webhook plugin against loopback receivers that check every signature
//! independently; nothing leaves 127.0.0.1. One binary, one module per area.
#![allow(unsafe_code)] // reason: one test loads the built cdylib with dlopen, as sigild does.

use std::net::{SocketAddr, TcpListener};
use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use sigil_plugin_api::serde_json::{Value, json};
use sigil_plugin_api::{
    DeliveryOutcome, ErrorClass, PluginError, PushChannel, SendRequest, SendResponse, Status,
    ValidateRecipientRequest,
};
use sigil_push_common::test_support::{Answer, Request, StandIn};
use sigil_push_webhook::WebhookPush;

const SECRET: &str = "receiver-shared-secret-0123456789";

/// One delivery as the receiver saw it, after it checked the signature itself.
#[derive(Debug, Clone)]
struct Delivery {
    path: String,
    content_type: String,
    delivery: String,
    timestamp: u64,
    signature_valid: bool,
    body: Value,
}

/// A webhook receiver on an ephemeral loopback port. It answers every request with `status`, at once or,
/// when started held, only once the test releases it.
struct Receiver {
    addr: SocketAddr,
    stand_in: StandIn<Delivery>,
}

impl Receiver {
    const fn answer(status: &'static str) -> Answer {
        Answer {
            status,
            headers: "",
            body: "ok",
        }
    }

    fn start(status: &'static str) -> Receiver {
        Receiver::new(StandIn::start(Self::answer(status), record))
    }

    /// A receiver that records each delivery, then holds its answer until [`Receiver::release`].
    fn start_held(status: &'static str) -> Receiver {
        Receiver::new(StandIn::start_held(Self::answer(status), record))
    }

    fn new(stand_in: StandIn<Delivery>) -> Receiver {
        Receiver {
            addr: stand_in.addr(),
            stand_in,
        }
    }

    /// Whether the receiver has written an answer.
    fn answered(&self) -> bool {
        self.stand_in.answered()
    }

    fn release(&self) {
        self.stand_in.release();
    }

    fn url(&self, path: &str) -> String {
        self.stand_in.url(path)
    }

    fn deliveries(&self) -> Vec<Delivery> {
        self.stand_in.recorded()
    }
}

/// The receiver's side of the contract, written from the documentation rather than from the plugin's code:
/// recompute HMAC-SHA256 over "<timestamp>.<body>" and compare in constant time (`verify_slice`).
fn signature_is_valid(secret: &[u8], timestamp: &str, body: &[u8], header: &str) -> bool {
    let Some(hex) = header.strip_prefix("sha256=") else {
        return false;
    };
    let Ok(expected) = (0..hex.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(hex.get(at..at + 2).unwrap_or("zz"), 16))
        .collect::<Result<Vec<u8>, _>>()
    else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

/// What the receiver makes of a request: the delivery, with its signature checked.
fn record(request: Request) -> Delivery {
    let header = |name: &str| request.header(name).unwrap_or_default().to_owned();
    let timestamp = header("x-sigil-timestamp");
    Delivery {
        path: request.path.clone(),
        content_type: header("content-type"),
        delivery: header("x-sigil-delivery"),
        timestamp: timestamp.parse().unwrap_or(0),
        signature_valid: signature_is_valid(
            SECRET.as_bytes(),
            &timestamp,
            &request.body,
            &header("x-sigil-signature"),
        ),
        body: request.json(),
    }
}

/// The allowlist that lets a channel reach the loopback receivers; every test but the address guard's own
/// uses it.
const LOOPBACK: &str = "127.0.0.1/32";

/// A channel that may deliver to the loopback receivers (unless the config says otherwise).
fn channel(mut config: Value) -> WebhookPush {
    if config.get("allow_private_networks").is_none() {
        config["allow_private_networks"] = json!([LOOPBACK]);
    }
    WebhookPush::create(config).unwrap()
}

fn send(
    channel: &WebhookPush,
    recipient: &str,
    key: &str,
    timeout_ms: Option<u64>,
) -> Result<SendResponse, PluginError> {
    let Value::Object(payload) = json!({"title": "Approve signing?", "request": 42}) else {
        unreachable!()
    };
    channel.send(SendRequest {
        recipient: recipient.to_owned(),
        payload,
        idempotency_key: key.to_owned(),
        timeout_ms,
        vapid: None,
    })
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Deliveries that arrive, signed as documented.
mod delivered {
    use super::*;

    #[test]
    fn a_device_id_goes_to_the_default_url_signed() {
        let receiver = Receiver::start("200 OK");
        let channel = channel(json!({"url": receiver.url("/hooks/sigil"), "secret": SECRET}));
        let sent = send(&channel, "device-7", "notif-1", None).unwrap();
        assert_eq!(sent.outcome, DeliveryOutcome::Delivered);
        assert_eq!(sent.detail.as_deref(), Some("HTTP 200 OK"));
        assert_eq!(sent.delivery_id, "notif-1");

        let deliveries = receiver.deliveries();
        assert_eq!(deliveries.len(), 1);
        let delivery = &deliveries[0];
        assert!(delivery.signature_valid, "{delivery:?}");
        assert_eq!(delivery.path, "/hooks/sigil");
        assert_eq!(delivery.content_type, "application/json");
        assert_eq!(delivery.delivery, "notif-1");
        assert!(delivery.timestamp.abs_diff(unix_now()) < 60, "{delivery:?}");
        assert_eq!(
            delivery.body,
            json!({"idempotency_key": "notif-1", "recipient": "device-7",
                   "payload": {"title": "Approve signing?", "request": 42}})
        );
    }

    #[test]
    fn a_device_url_recipient_gets_its_own_delivery() {
        let default = Receiver::start("200 OK");
        let device = Receiver::start("202 Accepted");
        let channel = channel(json!({
            "url": default.url("/"), "secret": SECRET, "allowed_hosts": ["127.0.0.1"],
        }));
        let recipient = device.url("/device/7");
        let valid = channel
            .validate_recipient(ValidateRecipientRequest {
                recipient: recipient.clone(),
            })
            .unwrap();
        assert!(valid.valid, "{valid:?}");
        let sent = send(&channel, &recipient, "notif-2", None).unwrap();
        assert_eq!(sent.outcome, DeliveryOutcome::Delivered);
        assert_eq!(sent.detail.as_deref(), Some("HTTP 202 Accepted"));
        assert!(default.deliveries().is_empty());
        let deliveries = device.deliveries();
        assert!(deliveries[0].signature_valid);
        assert_eq!(deliveries[0].path, "/device/7");
    }

    #[test]
    fn a_retry_keeps_the_key_and_signs_again() {
        let receiver = Receiver::start("200 OK");
        let dir = tempfile::tempdir().unwrap();
        let secret_file = dir.path().join("webhook-secret");
        std::fs::write(&secret_file, format!("{SECRET}\n")).unwrap();
        let channel = channel(json!({"url": receiver.url("/"), "secret_file": secret_file}));
        send(&channel, "device-7", "same-key", None).unwrap();
        send(&channel, "device-7", "same-key", None).unwrap();
        let deliveries = receiver.deliveries();
        assert_eq!(deliveries.len(), 2);
        for delivery in deliveries {
            assert!(delivery.signature_valid, "secret_file is the same key");
            assert_eq!(delivery.delivery, "same-key");
        }
    }

    #[test]
    fn a_wrong_secret_fails_the_receivers_check() {
        let receiver = Receiver::start("200 OK");
        let channel =
            channel(json!({"url": receiver.url("/"), "secret": "another-secret-of-enough-length"}));
        send(&channel, "device-7", "k", None).unwrap();
        assert!(!receiver.deliveries()[0].signature_valid);
    }
}

/// Deliveries that do not arrive: permanent refusals are outcomes, transient failures are errors to retry.
mod refused {
    use super::*;

    #[test]
    fn recipients_outside_the_rules_are_invalid_and_never_contacted() {
        let receiver = Receiver::start("200 OK");
        let channel = channel(json!({"secret": SECRET, "allowed_hosts": ["hooks.example"]}));
        for recipient in [
            receiver.url("/"),
            "device-without-default-url".to_owned(),
            "ftp://hooks.example/".to_owned(),
            String::new(),
        ] {
            let check = channel
                .validate_recipient(ValidateRecipientRequest {
                    recipient: recipient.clone(),
                })
                .unwrap();
            assert!(
                !check.valid && check.reason.is_some(),
                "{recipient:?}: {check:?}"
            );
            let sent = send(&channel, &recipient, "k", None).unwrap();
            assert_eq!(sent.outcome, DeliveryOutcome::Failed, "{recipient:?}");
            assert!(sent.detail.unwrap().contains("recipient refused"));
        }
        assert!(receiver.deliveries().is_empty());
    }

    #[test]
    fn a_4xx_answer_is_a_failed_outcome() {
        let receiver = Receiver::start("410 Gone");
        let channel = channel(json!({"url": receiver.url("/"), "secret": SECRET}));
        let sent = send(&channel, "device-7", "k", None).unwrap();
        assert_eq!(sent.outcome, DeliveryOutcome::Failed);
        assert!(
            sent.detail.as_deref().unwrap().contains("410 Gone"),
            "{sent:?}"
        );
    }

    #[test]
    fn a_5xx_or_429_answer_is_an_http_status_error() {
        for (status, code) in [
            ("503 Service Unavailable", 503),
            ("429 Too Many Requests", 429),
        ] {
            let receiver = Receiver::start(status);
            let channel = channel(json!({"url": receiver.url("/"), "secret": SECRET}));
            let error = send(&channel, "device-7", "k", None).unwrap_err();
            assert_eq!(
                (error.status, error.class),
                (Status::Backend, Some(ErrorClass::HttpStatus))
            );
            assert_eq!(error.http_status, Some(code));
        }
    }

    #[test]
    fn a_dead_receiver_is_a_network_error() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let channel = channel(json!({"url": format!("http://{addr}/"), "secret": SECRET}));
        let error = send(&channel, "device-7", "k", None).unwrap_err();
        assert_eq!(
            (error.status, error.class),
            (Status::Backend, Some(ErrorClass::Network))
        );
    }

    /// Proved without a clock: the receiver holds its answer until the test releases it, so a send that
    /// returns while the answer is still unwritten was cut off by its deadline, which the message names as the
    /// request's 300 ms hint rather than the configured 60 s.
    #[test]
    fn a_slow_receiver_times_out_at_the_hint() {
        let receiver = Receiver::start_held("200 OK");
        let channel =
            channel(json!({"url": receiver.url("/"), "secret": SECRET, "timeout_ms": 60_000}));
        let error = send(&channel, "device-7", "k", Some(300)).unwrap_err();
        let answered = receiver.answered();
        receiver.release();
        assert!(
            !answered,
            "the send returned only after the receiver answered"
        );
        assert_eq!(
            (error.status, error.class),
            (Status::Timeout, Some(ErrorClass::Timeout)),
            "{error}"
        );
        assert!(error.message.contains("within 300 ms"), "{error}");
    }

    #[test]
    fn a_key_unfit_for_a_header_is_invalid_input() {
        let channel = channel(json!({"url": "http://127.0.0.1:9/", "secret": SECRET}));
        for key in ["", "line\r\nX-Injected: 1", "naïve"] {
            let error = send(&channel, "device-7", key, None).unwrap_err();
            assert_eq!(error.status, Status::InvalidInput, "{key:?}");
        }
    }
}

/// The SSRF guard: where a delivery may connect, checked on the resolved address it connects to.
mod address_guard {
    use super::*;

    fn assert_refused(sent: &SendResponse, fragment: &str) {
        assert_eq!(sent.outcome, DeliveryOutcome::Failed, "{sent:?}");
        let detail = sent.detail.as_deref().unwrap();
        assert!(
            detail.contains("recipient refused")
                && detail.contains(fragment)
                && detail.contains("allow_private_networks"),
            "{detail:?} should name {fragment:?} and the setting"
        );
    }

    #[test]
    fn a_loopback_default_url_is_refused_at_create_without_the_allowlist() {
        let receiver = Receiver::start("200 OK");
        let error = WebhookPush::create(json!({"url": receiver.url("/"), "secret": SECRET}))
            .err()
            .unwrap();
        assert_eq!(error.status, Status::InvalidInput);
        assert!(
            error
                .message
                .contains("`url`: 127.0.0.1 is a loopback address")
                && error.message.contains("allow_private_networks"),
            "{error}"
        );
        assert!(receiver.deliveries().is_empty());
    }

    #[test]
    fn a_loopback_recipient_is_refused_without_the_allowlist_and_delivered_with_it() {
        let receiver = Receiver::start("200 OK");
        let recipient = receiver.url("/device");
        let guarded = WebhookPush::create(json!({"secret": SECRET})).unwrap();
        let check = guarded
            .validate_recipient(ValidateRecipientRequest {
                recipient: recipient.clone(),
            })
            .unwrap();
        assert!(!check.valid, "{check:?}");
        assert!(
            check.reason.as_deref().unwrap().contains("loopback"),
            "{check:?}"
        );
        assert_refused(
            &send(&guarded, &recipient, "k", None).unwrap(),
            "127.0.0.1 is a loopback address",
        );
        assert!(receiver.deliveries().is_empty());

        let allowed = channel(json!({"secret": SECRET}));
        let sent = send(&allowed, &recipient, "k", None).unwrap();
        assert_eq!(sent.outcome, DeliveryOutcome::Delivered, "{sent:?}");
        assert_eq!(receiver.deliveries().len(), 1);
    }

    /// A name is checked on what it resolves to: `localhost` is loopback, whatever its spelling says.
    #[test]
    fn a_name_resolving_to_loopback_is_refused() {
        let receiver = Receiver::start("200 OK");
        let url = format!("http://localhost:{}/hook", receiver.addr.port());
        // A name cannot be judged without a lookup, so the config is accepted and the delivery refused.
        let guarded = WebhookPush::create(json!({"url": url, "secret": SECRET})).unwrap();
        let sent = send(&guarded, "device-7", "k", None).unwrap();
        assert_refused(&sent, "localhost resolved to ");
        assert!(
            sent.detail.as_deref().unwrap().contains("loopback"),
            "{sent:?}"
        );
        assert!(receiver.deliveries().is_empty());

        let allowed = channel(json!({"url": url, "secret": SECRET,
                                     "allow_private_networks": [LOOPBACK, "::1/128"]}));
        let sent = send(&allowed, "device-7", "k", None).unwrap();
        assert_eq!(sent.outcome, DeliveryOutcome::Delivered, "{sent:?}");
        assert_eq!(receiver.deliveries().len(), 1);
    }

    /// `http://2130706433/` stays a name to the URL parser and becomes 127.0.0.1 in the C resolver: refused
    /// without the allowlist, and (proving that reading) delivered to the loopback receiver with it.
    #[test]
    fn an_integer_host_is_the_loopback_address_it_encodes() {
        let receiver = Receiver::start("200 OK");
        for host in ["2130706433", "127.1", "0x7f.0.0.1"] {
            let recipient = format!("http://{host}:{}/int", receiver.addr.port());
            let guarded = WebhookPush::create(json!({"secret": SECRET})).unwrap();
            assert_refused(
                &send(&guarded, &recipient, "k", None).unwrap(),
                "127.0.0.1 is a loopback address",
            );
            assert!(receiver.deliveries().is_empty(), "{host}");
        }
        let allowed = channel(json!({"secret": SECRET}));
        let recipient = format!("http://2130706433:{}/int", receiver.addr.port());
        let sent = send(&allowed, &recipient, "k", None).unwrap();
        assert_eq!(sent.outcome, DeliveryOutcome::Delivered, "{sent:?}");
        assert_eq!(receiver.deliveries()[0].path, "/int");
    }

    #[test]
    fn unspecified_and_mapped_forms_are_refused() {
        let receiver = Receiver::start("200 OK");
        let port = receiver.addr.port();
        let guarded = WebhookPush::create(json!({"secret": SECRET})).unwrap();
        for (recipient, fragment) in [
            (format!("http://0.0.0.0:{port}/"), "unspecified"),
            (format!("http://[::]:{port}/"), "unspecified"),
            (
                format!("http://[::ffff:127.0.0.1]:{port}/"),
                "carries 127.0.0.1",
            ),
            (format!("http://[::1]:{port}/"), "loopback"),
        ] {
            assert_refused(&send(&guarded, &recipient, "k", None).unwrap(), fragment);
        }
        assert!(receiver.deliveries().is_empty());
    }

    /// A redirect is not followed, not even to an allowed address: the signed delivery would go to a place
    /// no rule checked. It is a failed delivery that says so.
    #[test]
    fn a_redirect_is_a_failed_delivery_and_is_not_followed() {
        let elsewhere = Receiver::start("200 OK");
        let location = elsewhere.url("/stolen");
        let redirecting = Receiver::start(format!("302 Found\r\nLocation: {location}").leak());
        let channel = channel(json!({"url": redirecting.url("/hook"), "secret": SECRET}));
        let sent = send(&channel, "device-7", "k", None).unwrap();
        assert_eq!(sent.outcome, DeliveryOutcome::Failed, "{sent:?}");
        let detail = sent.detail.as_deref().unwrap();
        assert!(
            detail.contains("302 Found") && detail.contains("redirects are not followed"),
            "{detail}"
        );
        assert_eq!(redirecting.deliveries().len(), 1);
        assert!(elsewhere.deliveries().is_empty());
    }
}

/// The built cdylib, loaded through the plugin-api host API as sigild loads it.
mod cdylib {
    use super::*;
    use core::ffi::{c_char, c_int, c_void};
    use std::ffi::CString;
    use std::path::PathBuf;

    use sigil_plugin_api::{
        PluginKind, SIGIL_PLUGIN_ENTRY_SYMBOL, SigilPluginEntryFn, ValidateRecipientResponse,
        validate_descriptor,
    };

    unsafe extern "C" {
        // In glibc's libc.so.6 since 2.34, which the Rust standard library already links.
        fn dlopen(filename: *const c_char, flags: c_int) -> *mut c_void;
        fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
    }

    /// `target/<profile>/libsigil_push_webhook.so`, built alongside the rlib this test links.
    fn library() -> PathBuf {
        let exe = std::env::current_exe().unwrap();
        let deps = exe.parent().unwrap();
        [deps.parent().unwrap(), deps]
            .iter()
            .map(|dir| dir.join("libsigil_push_webhook.so"))
            .find(|path| path.exists())
            .expect(
                "the cdylib next to the test binary; `cargo build -p sigil-push-webhook` builds it",
            )
    }

    #[test]
    fn loads_validates_and_delivers() {
        let path = CString::new(library().to_str().unwrap()).unwrap();
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
        assert_eq!(plugin.name(), "push-webhook");

        let error = plugin.create_instance(b"{}").unwrap_err();
        assert_eq!(error.status, Status::InvalidInput);

        let receiver = Receiver::start("200 OK");
        let config = json!({"url": receiver.url("/"), "secret": SECRET,
                            "allow_private_networks": [LOOPBACK]})
        .to_string();
        let instance = plugin.create_instance(config.as_bytes()).unwrap();
        instance.health().unwrap();
        let check: ValidateRecipientResponse = instance
            .call_message("validate_recipient", &json!({"recipient": "device-7"}))
            .unwrap();
        assert!(check.valid);
        let sent: SendResponse = instance
            .call_message(
                "send",
                &json!({"recipient": "device-7", "payload": {"n": 1}, "idempotency_key": "abi-1"}),
            )
            .unwrap();
        assert_eq!(sent.outcome, DeliveryOutcome::Delivered);
        assert!(receiver.deliveries()[0].signature_valid);
    }
}
