//! Black-box tests of the tsa-http plugin and the C plugin fixtures, all against servers on 127.0.0.1 that the
//! tests start themselves (never the internet). One binary, one module per area.
#![allow(unsafe_code)] // reason: the cdylib and C fixture tests load plugins with dlopen, as sigild does.

mod support;

use std::sync::Arc;
use std::time::Duration;

use sigil_plugin_api::serde_json::json;
use sigil_plugin_api::{
    ErrorClass, PluginError, Status, TimestampRequest, TsaBackend, TsaDescribeRequest,
};
use support::{Gate, OpensslTsa, dead_port, plugin, respond, serve};

/// A syntactically valid TimeStampResp (status granted, no token): enough for the shape check.
const MINIMAL_RESP: &[u8] = &[0x30, 0x05, 0x30, 0x03, 0x02, 0x01, 0x00];

fn stamp(
    plugin: &sigil_tsa_http::TsaHttp,
    der: &[u8],
    timeout_ms: Option<u64>,
) -> Result<Vec<u8>, PluginError> {
    plugin
        .timestamp(TimestampRequest {
            request_der: der.into(),
            timeout_ms,
        })
        .map(|response| response.response_der.0)
}

fn assert_class(error: &PluginError, status: Status, class: ErrorClass) {
    assert_eq!(
        (error.status, error.class),
        (status, Some(class)),
        "{error}"
    );
}

/// A real TSA (OpenSSL) behind a loopback HTTP server; its tokens must verify with `openssl ts -verify`.
mod real_tsa {
    use super::*;

    #[test]
    fn stamps_verify_with_openssl() {
        let tsa = Arc::new(OpensslTsa::new());
        let server = tsa.serve();
        let plugin = plugin(json!({"url": server.url("/tsr"), "slug": "local-openssl"}));

        let (query_path, query_der) = tsa.query("one", b"the document to stamp");
        let reply = stamp(&plugin, &query_der, None).unwrap();
        tsa.verify(&query_path, &reply, "one").unwrap();

        let requests = server.requests();
        assert_eq!(requests.len(), 1);
        assert_eq!(requests[0].request_line, "POST /tsr HTTP/1.1");
        assert_eq!(
            requests[0].header("content-type"),
            Some("application/timestamp-query")
        );
        assert_eq!(requests[0].body, query_der, "the request is sent unchanged");
        assert!(requests[0].header("authorization").is_none());
    }

    #[test]
    fn concurrent_stamps_each_verify() {
        let tsa = Arc::new(OpensslTsa::new());
        let server = tsa.serve();
        let plugin = plugin(json!({"url": server.url("/")}));
        std::thread::scope(|scope| {
            for n in 0..3 {
                let (tsa, plugin) = (&tsa, &plugin);
                scope.spawn(move || {
                    let name = format!("parallel{n}");
                    let (query_path, query_der) = tsa.query(&name, name.as_bytes());
                    let reply = stamp(plugin, &query_der, Some(20_000)).unwrap();
                    tsa.verify(&query_path, &reply, &name).unwrap();
                });
            }
        });
        assert_eq!(server.requests().len(), 3);
    }

    /// A reply for another query is passed through (verification is sigild's job) but fails the oracle:
    /// proof that the oracle checks something.
    #[test]
    fn the_oracle_rejects_a_reply_to_another_query() {
        let tsa = Arc::new(OpensslTsa::new());
        let server = tsa.serve();
        let plugin = plugin(json!({"url": server.url("/")}));
        let (query_path, _) = tsa.query("asked", b"asked");
        let (_, other_der) = tsa.query("other", b"other");
        let reply = stamp(&plugin, &other_der, None).unwrap();
        assert!(tsa.verify(&query_path, &reply, "mismatch").is_err());
    }
}

/// Every way an exchange fails, and the class it must be reported with.
mod failures {
    use super::*;
    use std::io::Write;

    #[test]
    fn connection_refused_is_network() {
        let plugin = plugin(json!({"url": format!("http://{}/", dead_port())}));
        let error = stamp(&plugin, MINIMAL_RESP, None).unwrap_err();
        assert_class(&error, Status::Backend, ErrorClass::Network);
        assert!(error.message.contains("refused"), "{error}");
    }

    #[test]
    fn tls_to_a_plain_server_is_network() {
        let server = serve(|_, stream| {
            let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
        });
        // The server never sees a parsable request (a TLS ClientHello) and closes after a garbage answer.
        let plugin = plugin(json!({"url": format!("https://{}/", server.addr)}));
        let error = stamp(&plugin, MINIMAL_RESP, None).unwrap_err();
        assert_class(&error, Status::Backend, ErrorClass::Network);
    }

    #[test]
    fn connection_closed_without_an_answer_is_network() {
        let server = serve(|_, stream| {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        });
        let plugin = plugin(json!({"url": server.url("/")}));
        let error = stamp(&plugin, MINIMAL_RESP, None).unwrap_err();
        assert_class(&error, Status::Backend, ErrorClass::Network);
    }

    /// A TSA that answers a valid reply, but only once the test opens the gate.
    fn held_server() -> (support::Server, Arc<Gate>) {
        let gate = Gate::new();
        let held = Arc::clone(&gate);
        let server = serve(move |_, stream| {
            held.pass(|| {
                respond(
                    stream,
                    "200 OK",
                    "application/timestamp-reply",
                    MINIMAL_RESP,
                );
            });
        });
        (server, gate)
    }

    /// Stamps against a held TSA and returns the error, after checking that the call came back while the
    /// answer was still held: proof, without a clock, that the deadline ended it.
    fn stamp_held(config_timeout_ms: u64, hint_ms: Option<u64>) -> PluginError {
        let (server, gate) = held_server();
        let plugin = plugin(json!({"url": server.url("/"), "timeout_ms": config_timeout_ms}));
        let outcome = stamp(&plugin, MINIMAL_RESP, hint_ms);
        let answered = gate.answered();
        gate.release();
        assert!(!answered, "the call returned only after the TSA answered");
        outcome.unwrap_err()
    }

    #[test]
    fn a_slow_tsa_times_out_at_the_configured_timeout() {
        let error = stamp_held(300, None);
        assert_class(&error, Status::Timeout, ErrorClass::Timeout);
        assert!(error.message.contains("within 300 ms"), "{error}");
    }

    #[test]
    fn the_request_hint_overrides_the_configured_timeout() {
        let error = stamp_held(60_000, Some(300));
        assert_class(&error, Status::Timeout, ErrorClass::Timeout);
        assert!(error.message.contains("within 300 ms"), "{error}");
    }

    #[test]
    fn a_body_that_stalls_midway_times_out() {
        let server = serve(|_, stream| {
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/timestamp-reply\r\nContent-Length: 7\r\n\r\n\x30\x05",
            );
            let _ = stream.flush();
            std::thread::sleep(Duration::from_secs(3));
        });
        let plugin = plugin(json!({"url": server.url("/"), "timeout_ms": 400}));
        let error = stamp(&plugin, MINIMAL_RESP, None).unwrap_err();
        assert_class(&error, Status::Timeout, ErrorClass::Timeout);
    }

    #[test]
    fn http_503_is_http_status_with_the_code() {
        let server = serve(|_, stream| {
            respond(
                stream,
                "503 Service Unavailable",
                "text/plain",
                b"try later",
            );
        });
        let plugin = plugin(json!({"url": server.url("/")}));
        let error = stamp(&plugin, MINIMAL_RESP, None).unwrap_err();
        assert_class(&error, Status::Backend, ErrorClass::HttpStatus);
        assert_eq!(error.http_status, Some(503));
        assert!(error.message.contains("503 Service Unavailable"), "{error}");
    }

    #[test]
    fn a_redirect_is_reported_not_followed() {
        let server = serve(|_, stream| {
            let _ = stream.write_all(
                b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:1/elsewhere\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
        });
        let plugin = plugin(json!({"url": server.url("/")}));
        let error = stamp(&plugin, MINIMAL_RESP, None).unwrap_err();
        assert_class(&error, Status::Backend, ErrorClass::HttpStatus);
        assert_eq!(error.http_status, Some(302));
        assert_eq!(server.requests().len(), 1);
    }

    #[test]
    fn ok_with_garbage_is_parse() {
        for body in [
            &b"\xff\x00 not der at all"[..],
            b"<html><body>Welcome to the captive portal</body></html>",
            b"",
            &MINIMAL_RESP[..5],
        ] {
            let server = serve(move |_, stream| {
                respond(stream, "200 OK", "application/timestamp-reply", body);
            });
            let plugin = plugin(json!({"url": server.url("/")}));
            let error = stamp(&plugin, MINIMAL_RESP, None).unwrap_err();
            assert_class(&error, Status::Backend, ErrorClass::Parse);
        }
    }

    #[test]
    fn an_oversized_answer_is_parse() {
        let server = serve(|_, stream| {
            let mut body = vec![0x30, 0x84, 0x00, 0x20, 0x00, 0x00];
            body.resize(2 * 1024 * 1024 + 6, 0);
            respond(stream, "200 OK", "application/timestamp-reply", &body);
        });
        let plugin = plugin(json!({"url": server.url("/")}));
        let error = stamp(&plugin, MINIMAL_RESP, None).unwrap_err();
        assert_class(&error, Status::Backend, ErrorClass::Parse);
        assert!(error.message.contains("larger than"), "{error}");
    }

    #[test]
    fn a_wrong_content_type_with_a_valid_body_is_accepted_and_counted() {
        let server = serve(|_, stream| {
            respond(stream, "200 OK", "application/octet-stream", MINIMAL_RESP);
        });
        let plugin = plugin(json!({"url": server.url("/")}));
        assert_eq!(stamp(&plugin, MINIMAL_RESP, None).unwrap(), MINIMAL_RESP);
        assert_eq!(stamp(&plugin, MINIMAL_RESP, None).unwrap(), MINIMAL_RESP);
        let detail = plugin.health().unwrap().detail.unwrap();
        assert!(
            detail.contains("2 answer(s) had a content type"),
            "{detail}"
        );
    }

    #[test]
    fn an_empty_request_is_invalid_input() {
        let plugin = plugin(json!({"url": format!("http://{}/", dead_port())}));
        let error = stamp(&plugin, b"", None).unwrap_err();
        assert_eq!(error.status, Status::InvalidInput);
    }
}

/// Credentials and the proxy: what goes on the wire.
mod wire {
    use super::*;
    use std::io::Write;

    fn ok_server() -> support::Server {
        serve(|_, stream| {
            respond(
                stream,
                "200 OK",
                "application/timestamp-reply",
                MINIMAL_RESP,
            )
        })
    }

    #[test]
    fn basic_auth_is_sent_when_configured() {
        let server = ok_server();
        let with_auth = plugin(
            json!({"url": server.url("/"), "username": "Aladdin", "password": "open sesame"}),
        );
        stamp(&with_auth, MINIMAL_RESP, None).unwrap();
        let requests = server.requests();
        assert_eq!(
            requests[0].header("authorization"),
            Some("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==")
        );
    }

    #[test]
    fn basic_auth_from_a_password_file() {
        let server = ok_server();
        let dir = tempfile::tempdir().unwrap();
        let password_file = dir.path().join("tsa-password");
        std::fs::write(&password_file, "s3cret\n").unwrap();
        let plugin = plugin(
            json!({"url": server.url("/"), "username": "sigil", "password_file": password_file}),
        );
        stamp(&plugin, MINIMAL_RESP, None).unwrap();
        // base64("sigil:s3cret")
        assert_eq!(
            server.requests()[0].header("authorization"),
            Some("Basic c2lnaWw6czNjcmV0")
        );
    }

    /// ureq speaks CONNECT to every http(s) proxy, so the loopback proxy opens the tunnel and then serves
    /// the tunneled request itself.
    #[test]
    fn a_configured_proxy_tunnels_the_request() {
        let tunneled = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = Arc::clone(&tunneled);
        let proxy = serve(move |_, stream| {
            let _ = stream.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
            if let Some(request) = support::read_request(stream) {
                seen.lock().unwrap().push(request);
                respond(
                    stream,
                    "200 OK",
                    "application/timestamp-reply",
                    MINIMAL_RESP,
                );
            }
        });
        let plugin = plugin(json!({"url": "http://tsa.invalid/tsr", "proxy": proxy.url("")}));
        assert_eq!(stamp(&plugin, MINIMAL_RESP, None).unwrap(), MINIMAL_RESP);
        assert_eq!(
            proxy.requests()[0].request_line,
            "CONNECT tsa.invalid:80 HTTP/1.1"
        );
        let tunneled = tunneled.lock().unwrap();
        assert_eq!(tunneled[0].request_line, "POST /tsr HTTP/1.1");
        assert_eq!(tunneled[0].body, MINIMAL_RESP);
    }

    #[test]
    fn describe_and_health_report_the_config() {
        let plugin = plugin(json!({
            "url": "https://tsa.example/qualified", "slug": "sk-ecc", "name": "SK ID ECC",
            "hash": "sha512", "qualified": true, "policy_oid": "0.4.0.2023.1.1",
        }));
        let description = plugin.describe(TsaDescribeRequest {}).unwrap();
        assert_eq!(description.slug, "sk-ecc");
        assert_eq!(description.name, "SK ID ECC");
        assert_eq!(description.hash_algorithms, ["sha512"]);
        assert!(description.qualified);
        assert_eq!(description.policy_oid.as_deref(), Some("0.4.0.2023.1.1"));
        let detail = plugin.health().unwrap().detail.unwrap();
        assert!(detail.contains("https://tsa.example/qualified"), "{detail}");
    }
}

/// The built cdylib, loaded through the plugin-api host API exactly as sigild loads it.
mod cdylib {
    use super::*;
    use sigil_plugin_api::{PluginKind, TsaDescription};
    use std::path::PathBuf;

    /// `target/<profile>/libsigil_tsa_http.so`: cargo builds the cdylib alongside the rlib this test links.
    fn library() -> PathBuf {
        let exe = std::env::current_exe().unwrap();
        let deps = exe.parent().unwrap();
        let candidates = [
            deps.parent().unwrap().join("libsigil_tsa_http.so"),
            deps.join("libsigil_tsa_http.so"),
        ];
        candidates
            .iter()
            .find(|path| path.exists())
            .cloned()
            .unwrap_or_else(|| {
                panic!("no cdylib at {candidates:?}; build it with `cargo build -p sigil-tsa-http`")
            })
    }

    #[test]
    fn loads_validates_and_stamps() {
        let plugin = support::dl::load(&library()).unwrap();
        assert_eq!(plugin.kind(), PluginKind::TsaBackend);
        assert_eq!(plugin.name(), "tsa-http");
        assert_eq!(plugin.version(), env!("CARGO_PKG_VERSION"));

        let error = plugin
            .create_instance(br#"{"url":"gopher://x"}"#)
            .unwrap_err();
        assert_eq!(error.status, Status::InvalidInput);
        assert!(error.message.contains("`url`"), "{error}");

        let tsa = Arc::new(OpensslTsa::new());
        let server = tsa.serve();
        let config =
            json!({"url": server.url("/"), "slug": "loaded", "hash": "sha384"}).to_string();
        let instance = plugin.create_instance(config.as_bytes()).unwrap();
        instance.health().unwrap();
        let description: TsaDescription = instance
            .call_message("describe", &TsaDescribeRequest {})
            .unwrap();
        assert_eq!(
            (description.slug.as_str(), description.hash_algorithms),
            ("loaded", vec!["sha384".to_owned()])
        );
        let (query_path, query_der) = tsa.query("dl", b"through the ABI");
        let reply = support::stamp_via_host(&instance, &query_der);
        tsa.verify(&query_path, &reply, "dl").unwrap();
    }

    #[test]
    fn error_classes_survive_the_abi() {
        let plugin = support::dl::load(&library()).unwrap();
        let server =
            serve(|_, stream| respond(stream, "503 Service Unavailable", "text/plain", b""));
        let config = json!({"url": server.url("/")}).to_string();
        let instance = plugin.create_instance(config.as_bytes()).unwrap();
        let request = TimestampRequest {
            request_der: MINIMAL_RESP.into(),
            timeout_ms: None,
        };
        let error = instance
            .call_message::<_, sigil_plugin_api::TimestampResponse>("timestamp", &request)
            .unwrap_err();
        assert_class(&error, Status::Backend, ErrorClass::HttpStatus);
        assert_eq!(error.http_status, Some(503));
    }
}

/// The C fixtures of `tests/fixtures/plugins`, compiled here with `cc` and loaded through the host API.
mod c_fixtures {
    use super::*;
    use sigil_plugin_api::{
        DescriptorError, PluginKind, SIGIL_PLUGIN_ABI_MAJOR, TimestampResponse, TsaDescription,
    };
    use std::path::{Path, PathBuf};
    use std::process::Command;

    /// Compiles one fixture into `out_dir` with the flags its README gives (plus -Werror).
    fn build(cc: &str, source: &str, out_dir: &Path) -> PathBuf {
        let root = support::workspace_root();
        let output = out_dir.join(format!("lib{}.so", source.trim_end_matches(".c")));
        support::run(
            Command::new(cc)
                .args([
                    "-std=c11",
                    "-Wall",
                    "-Wextra",
                    "-Werror",
                    "-pedantic",
                    "-O2",
                    "-shared",
                    "-fPIC",
                ])
                .arg("-I")
                .arg(root.join("plugin-api/include"))
                .arg("-o")
                .arg(&output)
                .arg(root.join("tests/fixtures/plugins").join(source)),
        );
        output
    }

    #[test]
    fn tsa_openssl_stamps_for_real() {
        let Some(cc) = support::c_compiler() else {
            return;
        };
        let build_dir = tempfile::tempdir().unwrap();
        let plugin = support::dl::load(&build(&cc, "tsa_openssl.c", build_dir.path())).unwrap();
        assert_eq!(plugin.kind(), PluginKind::TsaBackend);
        assert_eq!(plugin.name(), "tsa-openssl");
        assert_eq!(plugin.max_concurrency(), 1);

        let tsa = OpensslTsa::new();
        let config = json!({
            "key": tsa.path("key.pem"), "cert": tsa.path("tsa.pem"), "openssl_config": tsa.path("ts.cnf"),
            "slug": "c-openssl", "name": "OpenSSL TSA \"in C\" \u{e9}", "hash": "sha384",
        });
        let instance = plugin
            .create_instance(config.to_string().as_bytes())
            .unwrap();
        instance.health().unwrap();
        let description: TsaDescription = instance
            .call_message("describe", &TsaDescribeRequest {})
            .unwrap();
        assert_eq!(description.slug, "c-openssl");
        assert_eq!(description.name, "OpenSSL TSA \"in C\" \u{e9}");
        assert_eq!(description.hash_algorithms, ["sha384"]);

        for n in 0..2 {
            let name = format!("c{n}");
            let (query_path, query_der) = tsa.query(&name, name.as_bytes());
            let reply = support::stamp_via_host(&instance, &query_der);
            tsa.verify(&query_path, &reply, &name).unwrap();
        }

        // A query that is not DER gets what a TSA answers: a TimeStampResp with status rejection (2), which
        // the plugin passes on unchanged.
        let rejection: TimestampResponse = instance
            .call_message(
                "timestamp",
                &TimestampRequest {
                    request_der: b"not a query".as_slice().into(),
                    timeout_ms: None,
                },
            )
            .unwrap();
        assert_eq!(rejection.response_der[2..7], [0x30, 0x2e, 0x02, 0x01, 0x02]);
        let error = instance
            .call("timestamp", br#"{"request_der":"***"}"#)
            .unwrap_err();
        assert_eq!(error.status, Status::InvalidInput, "{error}");
        let error = instance.call("sign", b"{}").unwrap_err();
        assert_eq!(error.status, Status::Unsupported, "{error}");

        let error = plugin.create_instance(br#"{"key":"/k"}"#).unwrap_err();
        assert_eq!(error.status, Status::InvalidInput, "{error}");
        assert!(error.message.contains("cert"), "{error}");
    }

    /// Stand-in `openssl` binaries: one that hangs (killed at the deadline) and one that fails loudly.
    #[test]
    fn tsa_openssl_reports_timeouts_and_failures() {
        use std::os::unix::fs::PermissionsExt;
        let Some(cc) = support::c_compiler() else {
            return;
        };
        let build_dir = tempfile::tempdir().unwrap();
        let plugin = support::dl::load(&build(&cc, "tsa_openssl.c", build_dir.path())).unwrap();
        let tsa = OpensslTsa::new();
        let script = |name: &str, body: &str| {
            let path = build_dir.path().join(name);
            std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
            path
        };
        let config = |openssl: &std::path::Path| {
            json!({
                "key": tsa.path("key.pem"), "cert": tsa.path("tsa.pem"),
                "openssl_config": tsa.path("ts.cnf"), "openssl": openssl, "timeout_ms": 60_000,
            })
            .to_string()
        };
        let request = TimestampRequest {
            request_der: MINIMAL_RESP.into(),
            timeout_ms: Some(300),
        };

        let hanging = plugin
            .create_instance(config(&script("hang", "exec sleep 30")).as_bytes())
            .unwrap();
        let error = hanging
            .call_message::<_, TimestampResponse>("timestamp", &request)
            .unwrap_err();
        // Proved without a clock: the plugin reports TIMEOUT only from the path that kills the child at the
        // deadline; had it waited for `sleep 30` to end, it would report that no reply was written
        // (BACKEND/parse). The message names the deadline: the 300 ms hint, not the configured 60 s.
        assert_class(&error, Status::Timeout, ErrorClass::Timeout);
        assert!(error.message.contains("within 300 ms"), "{error}");

        let failing = plugin
            .create_instance(
                config(&script("fail", "echo 'no \"key\" today' >&2; exit 3")).as_bytes(),
            )
            .unwrap();
        let error = failing
            .call_message::<_, TimestampResponse>("timestamp", &request)
            .unwrap_err();
        assert_class(&error, Status::Backend, ErrorClass::Unknown);
        assert!(
            error.message.contains("exit 3") && error.message.contains("no \"key\" today"),
            "{error}"
        );
    }

    #[test]
    fn broken_fixtures_are_refused() {
        let Some(cc) = support::c_compiler() else {
            return;
        };
        let build_dir = tempfile::tempdir().unwrap();
        let missing = build(&cc, "missing_entry.c", build_dir.path());
        assert!(support::dl::entry(&missing).is_none());

        let wrong_major = build(&cc, "wrong_major.c", build_dir.path());
        let error = support::dl::load(&wrong_major).unwrap_err();
        assert_eq!(
            error,
            DescriptorError::AbiMajorMismatch {
                found: 2,
                expected: SIGIL_PLUGIN_ABI_MAJOR
            }
        );
        assert_eq!(error.field(), "abi_major");
    }
}

/// `config/providers.toml`: every ready-made provider is disabled and its config is one this plugin accepts.
mod providers {
    use super::*;
    use sigil_plugin_api::serde_json::{self, Value};

    #[test]
    fn shipped_providers_are_disabled_and_valid() {
        let path = support::workspace_root().join("config/providers.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let file: toml::Table = toml::from_str(&text).unwrap();
        let providers = file["tsa_providers"].as_array().unwrap();
        let mut slugs = Vec::new();
        for provider in providers {
            let slug = provider["slug"].as_str().unwrap();
            assert_eq!(provider["plugin"].as_str(), Some("tsa-http"), "{slug}");
            assert_eq!(
                provider["enabled"].as_bool(),
                Some(false),
                "{slug} must ship disabled"
            );
            // What sigild hands the plugin: the config table plus the provider's identity.
            let mut config: serde_json::Map<String, Value> =
                serde_json::from_value(serde_json::to_value(&provider["config"]).unwrap()).unwrap();
            for key in ["slug", "name", "qualified", "policy_oid"] {
                if let Some(value) = provider.get(key) {
                    config.insert(key.to_owned(), serde_json::to_value(value).unwrap());
                }
            }
            let plugin = sigil_tsa_http::TsaHttp::create(Value::Object(config))
                .unwrap_or_else(|error| panic!("{slug}: {error}"));
            let description = plugin.describe(TsaDescribeRequest {}).unwrap();
            assert_eq!(description.slug, slug);
            assert_eq!(
                Some(description.qualified),
                provider["qualified"].as_bool(),
                "{slug}"
            );
            slugs.push(slug.to_owned());
        }
        for expected in [
            "digicert",
            "sectigo",
            "sectigo-qualified",
            "globalsign",
            "swisssign",
            "rfc3161.ai.moda",
            "skid-ecc",
            "skid-rsa",
        ] {
            assert!(
                slugs.iter().any(|slug| slug == expected),
                "{expected} missing"
            );
        }
    }
}
