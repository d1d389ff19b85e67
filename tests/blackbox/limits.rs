//! Rate limits per client IP, per session and per API key: 429 `RATE_LIMITED` with `Retry-After`, and buckets
//! that do not leak into each other.

use serde_json::json;

use crate::harness::{Daemon, PASSWORD, Reply, assert_error};

/// Asserts a 429 with a whole-seconds `Retry-After` of at least 1 that `details.retryAfterSeconds` repeats.
#[track_caller]
fn assert_rate_limited(reply: &Reply) {
    let body = assert_error(reply, 429, "RATE_LIMITED");
    let retry_after = reply
        .header("retry-after")
        .expect("429 carries Retry-After");
    let seconds: u64 = retry_after
        .parse()
        .unwrap_or_else(|_| panic!("Retry-After is not whole seconds: {retry_after}"));
    assert!(seconds >= 1, "Retry-After must be at least 1: {seconds}");
    assert_eq!(body["details"]["retryAfterSeconds"], seconds, "{body}");
}

#[test]
fn unauthenticated_requests_are_limited_per_ip() {
    let daemon = Daemon::start_with("[limits]\nunauthenticated_per_minute = 3");
    let login = |password: &str| {
        daemon.post_public(
            "/auth/login",
            json!({ "email": "a@example.org", "password": password }),
        )
    };
    for _ in 0..3 {
        assert_error(&login("wrong password"), 401, "UNAUTHORIZED");
    }
    assert_rate_limited(&login("wrong password"));
    // Register shares the bucket, and the operational endpoints are never limited.
    let register = daemon.post_public(
        "/auth/register",
        json!({ "name": "A", "email": "a@example.org", "password": PASSWORD }),
    );
    assert_rate_limited(&register);
    for _ in 0..5 {
        daemon.get_public("/healthz").expect(200);
        daemon.get_public("/readyz").expect(200);
        daemon.metrics();
    }
}

#[test]
fn forwarded_for_is_ignored_unless_trusted() {
    let send = |daemon: &Daemon, client_ip: &str| {
        let request = daemon
            .client()
            .post(daemon.url("/auth/login"))
            .header("x-forwarded-for", client_ip);
        daemon
            .send(request.json(&json!({ "email": "a@example.org", "password": "wrong password" })))
    };
    let untrusting = Daemon::start_with("[limits]\nunauthenticated_per_minute = 2");
    for ip in ["203.0.113.1", "203.0.113.2"] {
        assert_error(&send(&untrusting, ip), 401, "UNAUTHORIZED");
    }
    // A new forged address does not buy a new bucket.
    assert_rate_limited(&send(&untrusting, "203.0.113.3"));

    let trusting = Daemon::start_with(
        "[limits]\nunauthenticated_per_minute = 2\n[server]\ntrust_forwarded_for = true",
    );
    for _ in 0..2 {
        assert_error(&send(&trusting, "203.0.113.1"), 401, "UNAUTHORIZED");
    }
    assert_rate_limited(&send(&trusting, "203.0.113.1"));
    assert_error(
        &send(&trusting, "203.0.113.2, 10.0.0.1"),
        401,
        "UNAUTHORIZED",
    );
}

#[test]
fn sessions_are_limited_one_by_one() {
    let daemon = Daemon::start_with("[limits]\nsession_per_minute = 3");
    let (ann, _) = daemon.register("Ann", "ann@example.org", PASSWORD);
    let (bob, _) = daemon.register("Bob", "bob@example.org", PASSWORD);
    for _ in 0..3 {
        daemon.get("/api/tenants", &ann).expect(200);
    }
    assert_rate_limited(&daemon.get("/api/tenants", &ann));
    assert_rate_limited(&daemon.get("/auth/me", &ann));
    daemon.get("/api/tenants", &bob).expect(200);

    // The same holds for sessions scoped to a tenant, where the tenant's actor keeps the buckets.
    let carol = daemon.owner_with_tenant();
    let (dave_token, _, dave_email) = daemon.user();
    daemon.add_member(&carol.token, &carol.tenant_id, &dave_email, "member");
    let dave = daemon.refresh_to(&dave_token, &carol.tenant_id);
    for _ in 0..2 {
        daemon.get("/api/api-keys", &carol.token).expect(200);
    }
    assert_rate_limited(&daemon.get("/api/api-keys", &carol.token));
    daemon.get("/api/api-keys", &dave).expect(200);
}

#[test]
fn api_keys_are_limited_one_by_one() {
    let daemon = Daemon::start_with("[limits]\napi_key_per_minute = 3");
    let owner = daemon.owner_with_tenant();
    let key = daemon.api_key(&owner.token, "live");
    let other = daemon.api_key(&owner.token, "test");
    for _ in 0..3 {
        daemon.get("/api/api-keys", &key).expect(200);
    }
    assert_rate_limited(&daemon.get("/api/api-keys", &key));
    daemon.get("/api/api-keys", &other).expect(200);
    daemon.get("/api/api-keys", &owner.token).expect(200);
}

#[test]
fn failed_credentials_count_against_the_client_ip() {
    let daemon = Daemon::start_with("[limits]\nunauthenticated_per_minute = 3\n");
    let guess = format!("sgk_live_{}", "0".repeat(64));
    for _ in 0..3 {
        assert_error(&daemon.get("/api/api-keys", &guess), 401, "UNAUTHORIZED");
    }
    // The fourth wrong key from the same address is throttled, whatever the token looks like.
    let throttled = daemon.get("/api/api-keys", "not-even-a-jwt");
    assert_error(&throttled, 429, "RATE_LIMITED");
    assert!(throttled.header("retry-after").is_some());
}

#[test]
fn behind_a_proxy_the_client_is_the_rightmost_untrusted_forwarded_entry() {
    let send = |daemon: &Daemon, forwarded: &str| {
        let request = daemon
            .client()
            .post(daemon.url("/auth/login"))
            .header("x-forwarded-for", forwarded);
        daemon
            .send(request.json(&json!({ "email": "a@example.org", "password": "wrong password" })))
    };
    let daemon = Daemon::start_with(
        "[limits]\nunauthenticated_per_minute = 2\n\
         [server]\ntrust_forwarded_for = true\ntrusted_proxies = [\"10.0.0.0/8\"]",
    );
    // The client writes whatever it likes on the left; the proxies (10/8) appended the real address.
    for spoofed in ["198.51.100.1", "198.51.100.2"] {
        assert_error(
            &send(&daemon, &format!("{spoofed}, 203.0.113.5, 10.0.0.7")),
            401,
            "UNAUTHORIZED",
        );
    }
    assert_rate_limited(&send(&daemon, "198.51.100.3, 203.0.113.5, 10.0.0.9"));
    // IPv6 clients are keyed by their /64: a new address in the same /64 buys no new bucket.
    for host in ["1", "2"] {
        assert_error(
            &send(&daemon, &format!("2001:db8:5:6::{host}, 10.0.0.7")),
            401,
            "UNAUTHORIZED",
        );
    }
    assert_rate_limited(&send(&daemon, "2001:db8:5:6:ffff::3, 10.0.0.7"));
    assert_error(
        &send(&daemon, "2001:db8:5:7::1, 10.0.0.7"),
        401,
        "UNAUTHORIZED",
    );
}

#[test]
fn a_bad_trusted_proxy_range_is_refused_at_start() {
    let output = crate::harness::cli(&["check-config", "--config", "/dev/null"]);
    assert!(output.status.success(), "{output:?}");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("sigild.toml");
    std::fs::write(&config, "[server]\ntrusted_proxies = [\"10.0.0.1/8\"]\n").unwrap();
    let output = crate::harness::cli(&["check-config", "--config", config.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("server.trusted_proxies"),
        "{output:?}"
    );
}

#[test]
fn tsr_with_an_api_key_uses_the_keys_budget_not_the_address_budget() {
    let daemon = Daemon::start_with(
        "[limits]\nunauthenticated_per_minute = 2\napi_key_per_minute = 5\n[local_tsa]\nhttp = \"api_key\"",
    );
    crate::timestamping::wait_local_tsa(&daemon);
    let owner = daemon.owner_with_tenant();
    let key = daemon.api_key(&owner.token, "live");
    let query = sigil_rfc3161::TimestampRequest::new(
        sigil_rfc3161::HashAlgorithm::Sha256,
        &[7u8; 32],
        None,
        true,
    )
    .unwrap()
    .der;
    // More than the anonymous budget of this address, within the key's.
    for _ in 0..5 {
        let (status, _, _) = crate::timestamping::post_tsr(
            &daemon,
            Some("application/timestamp-query"),
            Some(&key),
            query.clone(),
        );
        assert_eq!(status, 200);
    }
    // The key's budget is spent.
    let (status, _, _) = crate::timestamping::post_tsr(
        &daemon,
        Some("application/timestamp-query"),
        Some(&key),
        query,
    );
    assert_eq!(status, 429);
}
