//! The error contract: unknown routes, wrong methods, bad bodies and content types, oversized bodies, and the
//! `{"error","code","details"}` shape with a request id on every one.

use serde_json::json;

use crate::harness::{Daemon, PASSWORD, assert_error, assert_invalid_field};

#[test]
fn unknown_paths_are_json_404s() {
    let daemon = Daemon::start();
    let (token, _) = daemon.register("Ann", "ann@example.org", PASSWORD);
    for path in [
        "/nope",
        "/api",
        "/api/nope",
        "/auth",
        "/api/tenants/x/y/z",
        "/healthz/extra",
    ] {
        assert_error(&daemon.get_public(path), 404, "NOT_FOUND");
        assert_error(&daemon.get(path, &token), 404, "NOT_FOUND");
    }
    assert_error(&daemon.post_public("/nope", json!({})), 404, "NOT_FOUND");
}

#[test]
fn wrong_methods_are_json_405s() {
    let daemon = Daemon::start();
    let client = daemon.client();
    let cases = [
        client.get(daemon.url("/auth/login")),
        client.get(daemon.url("/auth/register")),
        client.delete(daemon.url("/auth/me")),
        client.get(daemon.url("/auth/refresh")),
        client.put(daemon.url("/api/tenants")),
        client.delete(daemon.url("/api/tenants")),
        client.patch(daemon.url("/api/api-keys")),
        client.get(daemon.url("/api/api-keys/00000000-0000-4000-8000-000000000000")),
        client.post(daemon.url("/healthz")),
        client.post(daemon.url("/metrics")),
    ];
    for request in cases {
        assert_error(&daemon.send(request), 405, "METHOD_NOT_ALLOWED");
    }
}

#[test]
fn malformed_json_is_a_400() {
    let daemon = Daemon::start();
    let (token, _) = daemon.register("Ann", "ann@example.org", PASSWORD);
    let bodies = [
        "{",
        "{\"name\": }",
        "not json",
        "[]",
        "\"Acme\"",
        "null",
        "{\"name\": \"Acme\",}",
        "",
    ];
    for body in bodies {
        let register = daemon
            .client()
            .post(daemon.url("/auth/register"))
            .header("content-type", "application/json");
        let reply = daemon.send(register.body(body));
        assert_eq!(reply.status, 400, "{body:?}: {}", reply.text);
        assert_error(&reply, 400, "INVALID_REQUEST");
        let create = daemon
            .client()
            .post(daemon.url("/api/tenants"))
            .bearer_auth(&token);
        let reply = daemon.send(create.header("content-type", "application/json").body(body));
        assert_error(&reply, 400, "INVALID_REQUEST");
    }
}

#[test]
fn json_bodies_need_a_json_content_type() {
    let daemon = Daemon::start();
    let (token, _) = daemon.register("Ann", "ann@example.org", PASSWORD);
    let body = json!({ "email": "ann@example.org", "password": PASSWORD }).to_string();
    let login = || daemon.client().post(daemon.url("/auth/login"));
    assert_error(
        &daemon.send(login().body(body.clone())),
        415,
        "UNSUPPORTED_MEDIA_TYPE",
    );
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/xml",
    ] {
        let reply = daemon.send(
            login()
                .header("content-type", content_type)
                .body(body.clone()),
        );
        assert_error(&reply, 415, "UNSUPPORTED_MEDIA_TYPE");
    }
    // A charset parameter is still JSON.
    daemon
        .send(
            login()
                .header("content-type", "application/json; charset=utf-8")
                .body(body.clone()),
        )
        .expect(200);
    let create = daemon
        .client()
        .post(daemon.url("/api/tenants"))
        .bearer_auth(&token);
    assert_error(
        &daemon.send(create.body(r#"{"name":"Acme"}"#)),
        415,
        "UNSUPPORTED_MEDIA_TYPE",
    );
}

#[test]
fn an_optional_body_still_needs_a_json_content_type() {
    let daemon = Daemon::start();
    let (token, _) = daemon.register("Ann", "ann@example.org", PASSWORD);
    let first = daemon.create_tenant(&token, "First");
    daemon.create_tenant(&token, "Second");
    let refresh = || {
        daemon
            .client()
            .post(daemon.url("/auth/refresh"))
            .bearer_auth(&token)
    };
    // No body at all needs no content type.
    daemon.send(refresh()).expect(200);
    let body = json!({ "tenantId": first }).to_string();
    for request in [
        refresh().body(body.clone()),
        refresh().header("content-type", "text/plain").body(body),
    ] {
        assert_error(&daemon.send(request), 415, "UNSUPPORTED_MEDIA_TYPE");
    }
}

#[test]
fn oversized_bodies_are_413s() {
    let daemon = Daemon::start_with("[server]\nmax_body_bytes = 2048");
    let (token, _) = daemon.register("Ann", "ann@example.org", PASSWORD);
    let json_post = |path: &str, body: &str| {
        let head = format!(
            "POST {path} HTTP/1.1\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\n\
             Content-Length: {}",
            body.len()
        );
        daemon.send_raw(&head, body.as_bytes())
    };
    let big = json!({ "name": "x".repeat(4096), "email": "bob@example.org", "password": PASSWORD });
    assert_error(
        &json_post("/auth/register", &big.to_string()),
        413,
        "PAYLOAD_TOO_LARGE",
    );
    let huge = json!({ "name": "x".repeat(64 * 1024) });
    assert_error(
        &json_post("/api/tenants", &huge.to_string()),
        413,
        "PAYLOAD_TOO_LARGE",
    );
    // Routes that read the raw body are bounded too.
    let padded = format!("{}{}", " ".repeat(4096), json!({}));
    assert_error(
        &json_post("/auth/refresh", &padded),
        413,
        "PAYLOAD_TOO_LARGE",
    );
    // Just under the limit the body is read and judged on its content.
    let under =
        json!({ "name": "x".repeat(1900), "email": "bob@example.org", "password": PASSWORD });
    assert_invalid_field(&daemon.post_public("/auth/register", under), "name");
    // A chunked body of unknown length is cut off too.
    let mut chunked = Vec::new();
    for chunk in [" ".repeat(1024).as_str(); 8]
        .into_iter()
        .chain([r#"{"name":"Acme"}"#])
    {
        chunked.extend_from_slice(format!("{:x}\r\n{chunk}\r\n", chunk.len()).as_bytes());
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let head = format!(
        "POST /api/tenants HTTP/1.1\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked"
    );
    assert_error(&daemon.send_raw(&head, &chunked), 413, "PAYLOAD_TOO_LARGE");
    assert_eq!(daemon.get("/api/tenants", &token).expect(200)["total"], 0);
}

#[test]
fn every_response_carries_a_request_id() {
    let daemon = Daemon::start();
    let reply = daemon.get_public("/healthz");
    let generated = reply
        .header("x-request-id")
        .expect("success responses carry X-Request-Id too");
    assert!(!generated.is_empty());
    assert_ne!(
        daemon.get_public("/healthz").header("x-request-id"),
        Some(generated),
        "ids are per request"
    );

    // A client-supplied id is kept, in the header and in the error body.
    let request = daemon
        .client()
        .get(daemon.url("/nope"))
        .header("x-request-id", "trace-me-123");
    let reply = daemon.send(request);
    assert_eq!(
        reply.header("x-request-id").as_deref(),
        Some("trace-me-123")
    );
    let body = assert_error(&reply, 404, "NOT_FOUND");
    assert_eq!(body["details"]["requestId"], "trace-me-123");
}
