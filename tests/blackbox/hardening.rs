//! Findings of the hostile-input run: text fields refuse control and invisible characters, emails are compared
//! in one normal form, and the HTTP layer is strict (duplicate credentials, encodings it does not decode,
//! media types in any case).

use serde_json::json;

use crate::harness::{Daemon, PASSWORD, assert_error, assert_invalid_field};

/// Characters no human-readable field may hold: C0/C1 controls and bidi/invisible formatting characters.
const FORBIDDEN: &[char] = &[
    '\u{0}', '\u{1b}', '\r', '\n', '\u{7f}', '\u{85}', '\u{200b}', '\u{200c}', '\u{200d}',
    '\u{200e}', '\u{200f}', '\u{202a}', '\u{202b}', '\u{202c}', '\u{202d}', '\u{202e}', '\u{2066}',
    '\u{2067}', '\u{2068}', '\u{2069}', '\u{feff}',
];

#[test]
fn text_fields_refuse_control_and_invisible_characters() {
    let daemon = Daemon::start();
    let owner = daemon.owner_with_tenant();
    for (n, c) in FORBIDDEN.iter().enumerate() {
        let text = format!("Acme{c}Corp");
        assert_invalid_field(
            &daemon.post_public(
                "/auth/register",
                json!({ "name": text, "email": format!("x{n}@example.org"), "password": PASSWORD }),
            ),
            "name",
        );
        assert_invalid_field(
            &daemon.post("/api/tenants", &owner.token, json!({ "name": text })),
            "name",
        );
        assert_invalid_field(
            &daemon.post(
                "/api/api-keys",
                &owner.token,
                json!({ "name": text, "environment": "live" }),
            ),
            "name",
        );
        assert_invalid_field(
            &daemon.post(
                "/tsa/stamp-hash",
                &owner.token,
                json!({ "hashHex": "ab".repeat(32), "label": text }),
            ),
            "label",
        );
    }
    // Ordinary non-ASCII text is fine.
    daemon
        .post(
            "/api/tenants",
            &owner.token,
            json!({ "name": "Zoë & Søn 東京" }),
        )
        .expect(201);
    assert_eq!(
        daemon.get("/api/api-keys", &owner.token).expect(200)["total"],
        0
    );
}

#[test]
fn emails_are_normalised_before_uniqueness() {
    let daemon = Daemon::start();
    daemon.register("Ann", "ann@example.org", PASSWORD);
    // Full-width look-alikes are the same address after NFKC.
    for twin in [
        "ＡＮＮ@example.org",
        "ann@ｅｘａｍｐｌｅ.org",
        "Ａnn@EXAMPLE.ORG",
    ] {
        assert_error(
            &daemon.post_public(
                "/auth/register",
                json!({ "name": "Twin", "email": twin, "password": PASSWORD }),
            ),
            409,
            "CONFLICT",
        );
        // And they log in to the same account.
        assert_eq!(daemon.login(twin, PASSWORD)["email"], "ann@example.org");
    }
    for bad in [
        "an\u{200b}n@example.org",
        "ann@exam\u{202e}ple.org",
        "ann\u{feff}@example.org",
        "ann@[127.0.0.1]",
        "ann@127.0.0.1",
        "ann@[IPv6:::1]",
    ] {
        assert_invalid_field(
            &daemon.post_public(
                "/auth/register",
                json!({ "name": "Bad", "email": bad, "password": PASSWORD }),
            ),
            "email",
        );
    }
}

#[test]
fn duplicate_authorization_headers_are_refused() {
    let daemon = Daemon::start();
    let (ann, _) = daemon.register("Ann", "ann@example.org", PASSWORD);
    let (bob, _) = daemon.register("Bob", "bob@example.org", PASSWORD);
    for (first, second) in [(&ann, &bob), (&ann, &ann)] {
        let reply = daemon.send(
            daemon
                .client()
                .get(daemon.url("/auth/me"))
                .header("authorization", format!("Bearer {first}"))
                .header("authorization", format!("Bearer {second}")),
        );
        assert_invalid_field(&reply, "Authorization");
    }
}

#[test]
fn encoded_bodies_are_refused() {
    let daemon = Daemon::start();
    let body =
        br#"{"name":"Ann","email":"ann@example.org","password":"correct horse battery staple"}"#;
    for encoding in ["gzip", "deflate", "br", "identity, gzip"] {
        let reply = daemon.send_raw(
            &format!(
                "POST /auth/register HTTP/1.1\r\nContent-Type: application/json\r\nContent-Encoding: {encoding}\r\nContent-Length: {}",
                body.len()
            ),
            body,
        );
        let error = assert_error(&reply, 415, "UNSUPPORTED_MEDIA_TYPE");
        assert_eq!(error["details"]["field"], "Content-Encoding", "{error}");
    }
    let chunked = format!(
        "{:x}\r\n{}\r\n0\r\n\r\n",
        body.len(),
        String::from_utf8_lossy(body)
    );
    let reply = daemon.send_raw(
        "POST /auth/register HTTP/1.1\r\nContent-Type: application/json\r\nTransfer-Encoding: gzip, chunked",
        chunked.as_bytes(),
    );
    assert_eq!(reply.status, 400, "{}", reply.text);
    // Nothing was registered by the refused requests; plain identity and chunked bodies work.
    let reply = daemon.send_raw(
        &format!(
            "POST /auth/register HTTP/1.1\r\nContent-Type: application/json\r\nContent-Encoding: identity\r\nContent-Length: {}",
            body.len()
        ),
        body,
    );
    assert_eq!(reply.status, 200, "{}", reply.text);
    let body2 =
        br#"{"name":"Bob","email":"bob@example.org","password":"correct horse battery staple"}"#;
    let chunked = format!(
        "{:x}\r\n{}\r\n0\r\n\r\n",
        body2.len(),
        String::from_utf8_lossy(body2)
    );
    let reply = daemon.send_raw(
        "POST /auth/register HTTP/1.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked",
        chunked.as_bytes(),
    );
    assert_eq!(reply.status, 200, "{}", reply.text);
}

#[test]
fn media_types_match_in_any_case() {
    let daemon = crate::timestamping::start("");
    crate::timestamping::wait_local_tsa(&daemon);
    // Not a valid request: the TSA answers with a refusal in an RFC 3161 reply, which proves the media type passed.
    for content_type in [
        "APPLICATION/TIMESTAMP-QUERY",
        "Application/Timestamp-Query; charset=binary",
    ] {
        let (status, reply_type, _) =
            crate::timestamping::post_tsr(&daemon, Some(content_type), None, vec![0x30, 0x00]);
        assert_eq!(status, 200, "{content_type}");
        assert_eq!(reply_type, "application/timestamp-reply", "{content_type}");
    }
    let (status, _, _) = crate::timestamping::post_tsr(
        &daemon,
        Some("application/timestamp-queryx"),
        None,
        vec![0x30],
    );
    assert_eq!(status, 415);
    let (token, _) = daemon.register("Ann", "ann@example.org", PASSWORD);
    let reply = daemon.send(
        daemon
            .client()
            .post(daemon.url("/api/tenants"))
            .bearer_auth(&token)
            .header("content-type", "APPLICATION/JSON")
            .body(r#"{"name": "Acme"}"#),
    );
    reply.expect(201);
}

#[test]
fn oversized_request_heads_get_the_error_shape() {
    let daemon = Daemon::start();
    let long_path = format!("/healthz?{}", "a".repeat(9 * 1024));
    let reply = daemon.send_raw(&format!("GET {long_path} HTTP/1.1"), b"");
    assert_error(&reply, 414, "URI_TOO_LONG");

    let many: String = (0..150).map(|n| format!("\r\nX-Filler-{n}: x")).collect();
    let reply = daemon.send_raw(&format!("GET /healthz HTTP/1.1{many}"), b"");
    assert_error(&reply, 431, "HEADERS_TOO_LARGE");

    let big = format!("GET /healthz HTTP/1.1\r\nX-Big: {}", "b".repeat(40 * 1024));
    assert_error(&daemon.send_raw(&big, b""), 431, "HEADERS_TOO_LARGE");

    // Within the limits all is well.
    let fine: String = (0..50).map(|n| format!("\r\nX-Filler-{n}: x")).collect();
    assert_eq!(
        daemon
            .send_raw(&format!("GET /healthz HTTP/1.1{fine}"), b"")
            .status,
        200
    );
}
