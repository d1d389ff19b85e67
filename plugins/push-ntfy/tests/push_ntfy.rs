//! Black-box tests of the push-ntfy plugin against a loopback stand-in for an ntfy server that records what it
//! was sent; nothing leaves 127.0.0.1.
#![allow(unsafe_code)] // reason: one test loads the built cdylib with dlopen, as sigild does.

use std::net::{SocketAddr, TcpListener};

use sigil_plugin_api::serde_json::{Value, json};
use sigil_plugin_api::{
    DeliveryOutcome, ErrorClass, PluginError, PushChannel, SendRequest, SendResponse, Status,
    ValidateRecipientRequest,
};
use sigil_push_common::test_support::{Answer, Request, StandIn};
use sigil_push_ntfy::NtfyPush;

const TOKEN: &str = "tk_sigiltesttoken0123456789";

/// One publish as the stand-in saw it.
type Publish = Request;

/// An ntfy stand-in on an ephemeral loopback port that answers every request with `status`.
struct Server {
    addr: SocketAddr,
    stand_in: StandIn<Publish>,
}

impl Server {
    fn start(status: &'static str) -> Server {
        let answer = Answer {
            status,
            headers: "Content-Type: application/json\r\n",
            body: r#"{"id":"hwQ2YpKdmg","event":"message"}"#,
        };
        let stand_in = StandIn::start(answer, |request| request);
        Server {
            addr: stand_in.addr(),
            stand_in,
        }
    }

    fn url(&self, path: &str) -> String {
        self.stand_in.url(path)
    }

    fn publishes(&self) -> Vec<Publish> {
        self.stand_in.recorded()
    }
}

/// A channel that may reach the loopback stand-ins (unless the config says otherwise).
fn channel(mut config: Value) -> NtfyPush {
    if config.get("allow_private_networks").is_none() {
        config["allow_private_networks"] = json!(["127.0.0.1/32"]);
    }
    NtfyPush::create(config).unwrap()
}

fn send_payload(
    channel: &NtfyPush,
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

fn send(channel: &NtfyPush, recipient: &str) -> Result<SendResponse, PluginError> {
    send_payload(
        channel,
        recipient,
        json!({"title": "Approve signing?", "request": 42, "priority": 4}),
    )
}

#[test]
fn a_topic_is_published_to_the_server_with_the_token() {
    let server = Server::start("200 OK");
    let channel = channel(json!({"server": server.url(""), "token": TOKEN}));
    let sent = send(&channel, "sigil_alerts-7").unwrap();
    assert_eq!(sent.outcome, DeliveryOutcome::Delivered);
    assert_eq!(sent.delivery_id, "notif-1");
    assert_eq!(sent.detail.as_deref(), Some("HTTP 200 OK"));

    let publishes = server.publishes();
    assert_eq!(publishes.len(), 1);
    let publish = &publishes[0];
    assert_eq!(publish.method, "POST");
    assert_eq!(publish.path, "/sigil_alerts-7");
    assert_eq!(
        publish.header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert_eq!(publish.header("title"), Some("Approve signing?"));
    assert_eq!(publish.header("priority"), Some("4"));
    assert_eq!(publish.header("content-type"), Some("application/json"));
    assert_eq!(
        publish.json(),
        json!({"title": "Approve signing?", "request": 42, "priority": 4})
    );
}

#[test]
fn a_server_with_a_path_prefix_and_a_token_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, format!("{TOKEN}\n")).unwrap();
    let server = Server::start("200 OK");
    let channel = channel(json!({
        "server": server.url("/ntfy/"),
        "token_file": file,
        "title": "Sigil",
    }));
    let sent = send_payload(&channel, "device-9", json!({"request": 7})).unwrap();
    assert_eq!(sent.outcome, DeliveryOutcome::Delivered);
    let publish = &server.publishes()[0];
    assert_eq!(publish.path, "/ntfy/device-9");
    assert_eq!(
        publish.header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    // No title in the payload: the config's; no priority: no header.
    assert_eq!(publish.header("title"), Some("Sigil"));
    assert_eq!(publish.header("priority"), None);
    assert_eq!(publish.json(), json!({"request": 7}));
}

#[test]
fn without_a_token_no_authorization_is_sent() {
    let server = Server::start("200 OK");
    let channel = channel(json!({"server": server.url("")}));
    let sent = send_payload(&channel, "t1", json!({"title": "Signatur prüfen"})).unwrap();
    assert_eq!(sent.outcome, DeliveryOutcome::Delivered);
    let publish = &server.publishes()[0];
    assert_eq!(publish.header("authorization"), None);
    assert_eq!(
        publish.header("title"),
        Some("=?UTF-8?B?U2lnbmF0dXIgcHLDvGZlbg==?=")
    );
}

/// A topic URL on another server gets the message, but never the configured server's token.
#[test]
fn a_topic_url_elsewhere_gets_no_token() {
    let ours = Server::start("200 OK");
    let theirs = Server::start("200 OK");
    let channel = channel(json!({"server": ours.url(""), "token": TOKEN}));
    let sent = send(&channel, &theirs.url("/up-device-12")).unwrap();
    assert_eq!(sent.outcome, DeliveryOutcome::Delivered);
    assert!(ours.publishes().is_empty());
    let publish = &theirs.publishes()[0];
    assert_eq!(publish.path, "/up-device-12");
    assert_eq!(publish.header("authorization"), None);

    // The same URL form on our own server does carry it.
    let sent = send(&channel, &ours.url("/up-device-12")).unwrap();
    assert_eq!(sent.outcome, DeliveryOutcome::Delivered);
    assert_eq!(
        ours.publishes()[0].header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
}

#[test]
fn rate_limits_and_server_errors_are_transient() {
    for status in [
        "429 Too Many Requests",
        "500 Internal Server Error",
        "503 Service Unavailable",
    ] {
        let server = Server::start(status);
        let channel = channel(json!({"server": server.url("")}));
        let error = send(&channel, "alerts").unwrap_err();
        assert_eq!(error.status, Status::Backend, "{status}");
        assert_eq!(error.class, Some(ErrorClass::HttpStatus), "{status}");
        let code: u16 = status[..3].parse().unwrap();
        assert_eq!(error.http_status, Some(code));
        assert!(error.message.contains(status), "{}", error.message);
        assert!(
            !error.message.contains("alerts"),
            "the topic leaked: {}",
            error.message
        );
    }
}

#[test]
fn refusals_are_failed() {
    for (status, hint) in [
        ("403 Forbidden", "token"),
        ("404 Not Found", "refused the message"),
        ("413 Payload Too Large", "too large"),
        ("400 Bad Request", "refused the message"),
        ("301 Moved Permanently", "redirects are not followed"),
    ] {
        let server = Server::start(status);
        let channel = channel(json!({"server": server.url(""), "token": TOKEN}));
        let sent = send(&channel, "alerts").unwrap();
        assert_eq!(sent.outcome, DeliveryOutcome::Failed, "{status}");
        let detail = sent.detail.unwrap();
        assert!(detail.contains(status) && detail.contains(hint), "{detail}");
    }
}

#[test]
fn no_server_is_a_network_error() {
    // Bind and drop: a loopback port that nothing listens on.
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let channel = channel(json!({"server": format!("http://{addr}")}));
    let error = send(&channel, "alerts").unwrap_err();
    assert_eq!(error.status, Status::Backend);
    assert_eq!(error.class, Some(ErrorClass::Network));
}

/// Without `allow_private_networks`, the loopback server is refused before anything is sent.
#[test]
fn private_addresses_are_refused_by_default() {
    let server = Server::start("200 OK");
    let error = NtfyPush::create(json!({"server": server.url("")}))
        .err()
        .unwrap();
    assert_eq!(error.status, Status::InvalidInput);
    assert!(error.message.contains("loopback"), "{}", error.message);

    // A name that resolves to loopback passes the config check and is refused at connection time.
    let channel = NtfyPush::create(json!({
        "server": format!("http://localhost:{}", server.addr.port()),
    }))
    .unwrap();
    let sent = send(&channel, "alerts").unwrap();
    assert_eq!(sent.outcome, DeliveryOutcome::Failed);
    let detail = sent.detail.unwrap();
    assert!(detail.contains("allow_private_networks"), "{detail}");
    assert!(server.publishes().is_empty());
}

#[test]
fn recipients_are_validated() {
    let channel = channel(json!({
        "server": "https://ntfy.example/base",
        "allowed_hosts": ["push.example", "*.ntfy.example", "10.1.2.3"],
        "allow_private_networks": ["10.0.0.0/8"],
    }));
    let valid = |recipient: &str| {
        channel
            .validate_recipient(ValidateRecipientRequest {
                recipient: recipient.to_owned(),
            })
            .unwrap()
    };
    for recipient in [
        "alerts",
        "A-b_9",
        &"x".repeat(64),
        "https://push.example/up123",
        "https://eu.ntfy.example/topic",
        "https://ntfy.example/base/topic",
        "https://ntfy.example:443/base/topic/",
        "http://10.1.2.3/topic",
    ] {
        let answer = valid(recipient);
        assert!(answer.valid, "{recipient}: {:?}", answer.reason);
    }
    for (recipient, reason) in [
        ("", "empty"),
        (&"x".repeat(65) as &str, "1 to 64"),
        ("al.erts", "1 to 64"),
        ("alerts/x", "1 to 64"),
        ("a b", "1 to 64"),
        (
            "https://evil.example/topic",
            "not in this channel's allowed_hosts",
        ),
        (
            "https://ntfy.example/other/topic",
            "not in this channel's allowed_hosts",
        ),
        ("https://push.example/", "last path segment"),
        ("https://push.example/a.b", "last path segment"),
        ("https://push.example/t?x=1", "query"),
        ("https://user:pw@push.example/t", "credentials"),
        ("ftp://push.example/t", "not http or https"),
        ("http://push.example/t", "http://"),
        (
            "http://192.168.1.1/t",
            "not in this channel's allowed_hosts",
        ),
    ] {
        let answer = valid(recipient);
        assert!(!answer.valid, "{recipient}");
        let why = answer.reason.unwrap();
        assert!(
            why.contains(reason),
            "{recipient}: {why:?} should mention {reason:?}"
        );
    }

    // Open host list: an address literal still meets the address policy.
    let open = channel_open();
    let answer = open
        .validate_recipient(ValidateRecipientRequest {
            recipient: "https://169.254.169.254/topic".to_owned(),
        })
        .unwrap();
    assert!(!answer.valid);
    assert!(answer.reason.unwrap().contains("metadata"));
}

fn channel_open() -> NtfyPush {
    NtfyPush::create(json!({"server": "https://ntfy.example"})).unwrap()
}

#[test]
fn bad_configs_name_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    std::fs::write(&empty, "\n").unwrap();
    for (config, field) in [
        (json!({}), "`server`"),
        (json!({"server": "ftp://ntfy.example"}), "`server`"),
        (json!({"server": "https://ntfy.example/?x=1"}), "`server`"),
        (json!({"server": "http://127.0.0.1:80"}), "`server`"),
        (
            json!({"server": "https://ntfy.example", "token": "a b"}),
            "`token`",
        ),
        (
            json!({"server": "https://ntfy.example", "token_file": empty}),
            "`token_file`",
        ),
        (
            json!({"server": "https://ntfy.example", "token_file": "/nonexistent/t"}),
            "`token_file`",
        ),
        (
            json!({"server": "https://ntfy.example", "token": "x", "token_file": "/x"}),
            "`token_file`",
        ),
        (
            json!({"server": "https://ntfy.example", "timeout_ms": 0}),
            "`timeout_ms`",
        ),
        (
            json!({"server": "https://ntfy.example", "allowed_hosts": ["a/b"]}),
            "`allowed_hosts`",
        ),
        (
            json!({"server": "https://ntfy.example", "allow_private_networks": ["10.0.0.1/8"]}),
            "`allow_private_networks`",
        ),
        (
            json!({"server": "https://ntfy.example", "title": "a\nb"}),
            "`title`",
        ),
        (
            json!({"server": "https://ntfy.example", "topic": "x"}),
            "unknown field `topic`",
        ),
    ] {
        let error = NtfyPush::create(config.clone()).err().unwrap();
        assert_eq!(error.status, Status::InvalidInput, "{config}");
        assert!(error.message.contains(field), "{config}: {}", error.message);
    }
}

#[test]
fn the_token_is_never_shown() {
    let channel = channel_with_token();
    let shown = format!("{:?}", channel.config());
    assert!(
        !shown.contains(TOKEN) && shown.contains("<redacted>"),
        "{shown}"
    );
    let health = channel.health().unwrap().detail.unwrap();
    assert!(!health.contains(TOKEN), "{health}");
    assert!(health.contains("with a token"), "{health}");
}

fn channel_with_token() -> NtfyPush {
    NtfyPush::create(json!({"server": "https://ntfy.example", "token": TOKEN})).unwrap()
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

    /// `target/<profile>/libsigil_push_ntfy.so`, built alongside the rlib this test links.
    pub fn load() -> ValidatedDescriptor {
        let exe = std::env::current_exe().unwrap();
        let deps = exe.parent().unwrap();
        let library: PathBuf = [deps.parent().unwrap(), deps]
            .iter()
            .map(|dir| dir.join("libsigil_push_ntfy.so"))
            .find(|path| path.exists())
            .expect(
                "the cdylib next to the test binary; `cargo build -p sigil-push-ntfy` builds it",
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
        assert_eq!(plugin.name(), "push-ntfy");
        plugin
    }

    #[test]
    fn loads_validates_and_publishes() {
        let plugin = load();
        let error = plugin.create_instance(b"{}").unwrap_err();
        assert_eq!(error.status, Status::InvalidInput);

        let server = Server::start("200 OK");
        let config = json!({"server": server.url(""), "token": TOKEN,
                            "allow_private_networks": ["127.0.0.1/32"]})
        .to_string();
        let instance = plugin.create_instance(config.as_bytes()).unwrap();
        instance.health().unwrap();
        let check: sigil_plugin_api::ValidateRecipientResponse = instance
            .call_message("validate_recipient", &json!({"recipient": "no spaces"}))
            .unwrap();
        assert!(!check.valid);
        let sent: SendResponse = instance
            .call_message(
                "send",
                &json!({"recipient": "alerts", "payload": {"n": 1}, "idempotency_key": "abi-1"}),
            )
            .unwrap();
        assert_eq!(sent.outcome, DeliveryOutcome::Delivered);
        assert_eq!(server.publishes()[0].path, "/alerts");
    }
}
