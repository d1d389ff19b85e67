//! `/auth/*`: registration, login, refresh and the profile, with every validation and credential error.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::harness::{Daemon, PASSWORD, assert_error, assert_invalid_field, str_field};

#[test]
fn register_returns_token_user_id_and_lower_cased_email() {
    let daemon = Daemon::start();
    let body = daemon
        .post_public(
            "/auth/register",
            json!({ "name": "Ann", "email": "  Ann@Example.ORG ", "password": PASSWORD }),
        )
        .expect(200);
    assert_eq!(body["email"], "ann@example.org");
    let token = str_field(&body, "token");
    assert_eq!(
        token.split('.').count(),
        3,
        "a session token is a JWT: {token}"
    );
    assert!(!str_field(&body, "userId").is_empty());
    let mut keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["email", "token", "userId"]);

    let me = daemon.get("/auth/me", &token).expect(200);
    assert_eq!(me["userId"], body["userId"]);
    assert_eq!(me["email"], "ann@example.org");
    assert_eq!(me["name"], "Ann");
    assert_eq!(me["tenantId"], Value::Null);
    assert_eq!(me["role"], Value::Null);
    assert_eq!(me["isAdmin"], false);
    assert!(
        me["createdAt"].as_str().is_some_and(|at| !at.is_empty()),
        "{me}"
    );
}

#[test]
fn duplicate_email_in_any_case_is_a_conflict() {
    let daemon = Daemon::start();
    daemon.register("Ann", "ann@example.org", PASSWORD);
    for email in ["ann@example.org", "ANN@Example.Org", " ann@example.org "] {
        let reply = daemon.post_public(
            "/auth/register",
            json!({ "name": "Other", "email": email, "password": PASSWORD }),
        );
        assert_error(&reply, 409, "CONFLICT");
    }
}

#[test]
fn invalid_registrations_name_the_field() {
    let daemon = Daemon::start();
    let cases: &[(Value, &str)] = &[
        (
            json!({ "name": "Ann", "email": "ann@example.org", "password": "short" }),
            "password",
        ),
        (
            json!({ "name": "Ann", "email": "ann@example.org", "password": "1234567" }),
            "password",
        ),
        (
            json!({ "name": "Ann", "email": "ann@example.org", "password": "x".repeat(2000) }),
            "password",
        ),
        (
            json!({ "name": "Ann", "email": "not-an-email", "password": PASSWORD }),
            "email",
        ),
        (
            json!({ "name": "Ann", "email": "ann@", "password": PASSWORD }),
            "email",
        ),
        (
            json!({ "name": "Ann", "email": "@example.org", "password": PASSWORD }),
            "email",
        ),
        (
            json!({ "name": "Ann", "email": "ann@example", "password": PASSWORD }),
            "email",
        ),
        (
            json!({ "name": "Ann", "email": "a b@example.org", "password": PASSWORD }),
            "email",
        ),
        (
            json!({ "name": "", "email": "ann@example.org", "password": PASSWORD }),
            "name",
        ),
        (
            json!({ "name": "   ", "email": "ann@example.org", "password": PASSWORD }),
            "name",
        ),
        (
            json!({ "name": "x".repeat(201), "email": "ann@example.org", "password": PASSWORD }),
            "name",
        ),
        (
            json!({ "email": "ann@example.org", "password": PASSWORD }),
            "name",
        ),
        (json!({ "name": "Ann", "password": PASSWORD }), "email"),
        (
            json!({ "name": "Ann", "email": "ann@example.org" }),
            "password",
        ),
        (
            json!({ "name": 5, "email": "ann@example.org", "password": PASSWORD }),
            "name",
        ),
        (
            json!({ "name": "Ann", "email": ["ann@example.org"], "password": PASSWORD }),
            "email",
        ),
        (
            json!({ "name": "Ann", "email": "ann@example.org", "password": 12345678 }),
            "password",
        ),
        (
            json!({ "name": "Ann", "email": "ann@example.org", "password": PASSWORD, "admin": true }),
            "admin",
        ),
    ];
    for (body, field) in cases {
        let reply = daemon.post_public("/auth/register", body.clone());
        assert_eq!(
            reply.status, 400,
            "{body} should be refused: {}",
            reply.text
        );
        assert_invalid_field(&reply, field);
    }
    // None of them created the account.
    daemon.register("Ann", "ann@example.org", PASSWORD);
}

#[test]
fn login_reports_the_current_tenant_once_there_is_one() {
    let daemon = Daemon::start();
    let (token, user_id) = daemon.register("Ann", "ann@example.org", PASSWORD);
    let login = daemon.login("ann@example.org", PASSWORD);
    assert_eq!(login["userId"], user_id.as_str());
    assert_eq!(login["email"], "ann@example.org");
    assert!(
        login.get("tenantId").is_some_and(Value::is_null),
        "tenantId must be present and null: {login}"
    );

    let tenant = daemon.create_tenant(&token, "Acme");
    let login = daemon.login("ANN@example.org", PASSWORD);
    assert_eq!(
        login["tenantId"],
        tenant.as_str(),
        "emails are case-insensitive and the new tenant is current"
    );
    let me = daemon
        .get("/auth/me", login["token"].as_str().unwrap())
        .expect(200);
    assert_eq!(me["tenantId"], tenant.as_str());
    assert_eq!(me["role"], "owner");
}

#[test]
fn wrong_password_and_unknown_email_are_indistinguishable() {
    let daemon = Daemon::start();
    daemon.register("Ann", "ann@example.org", PASSWORD);
    let wrong_password = daemon.post_public(
        "/auth/login",
        json!({ "email": "ann@example.org", "password": "not the password" }),
    );
    let unknown_email = daemon.post_public(
        "/auth/login",
        json!({ "email": "bob@example.org", "password": PASSWORD }),
    );
    let wrong = assert_error(&wrong_password, 401, "UNAUTHORIZED");
    let unknown = assert_error(&unknown_email, 401, "UNAUTHORIZED");
    assert_eq!(
        wrong["error"], unknown["error"],
        "the message must not reveal which accounts exist"
    );
    assert_eq!(
        wrong["details"].as_object().unwrap().len(),
        unknown["details"].as_object().unwrap().len()
    );
    assert_invalid_field(
        &daemon.post_public("/auth/login", json!({ "email": "ann@example.org" })),
        "password",
    );
}

#[test]
fn refresh_scopes_the_session_to_the_new_tenant() {
    let daemon = Daemon::start();
    let (token, _) = daemon.register("Ann", "ann@example.org", PASSWORD);
    let tenant = daemon.create_tenant(&token, "Acme");
    // The old token still has no tenant: tenant-scoped routes say so.
    assert_error(&daemon.get("/api/api-keys", &token), 403, "FORBIDDEN");
    let refreshed = daemon.refresh(&token);
    let me = daemon.get("/auth/me", &refreshed).expect(200);
    assert_eq!(me["tenantId"], tenant.as_str());
    assert_eq!(me["role"], "owner");
    daemon.get("/api/api-keys", &refreshed).expect(200);
}

#[test]
fn refresh_switches_between_the_users_tenants() {
    let daemon = Daemon::start();
    let (token, _) = daemon.register("Ann", "ann@example.org", PASSWORD);
    let first = daemon.create_tenant(&token, "First");
    let second = daemon.create_tenant(&token, "Second");
    let current = daemon.refresh(&token);
    assert_eq!(
        daemon.get("/auth/me", &current).expect(200)["tenantId"],
        second.as_str(),
        "newest tenant is current"
    );

    let switched = daemon.refresh_to(&current, &first);
    assert_eq!(
        daemon.get("/auth/me", &switched).expect(200)["tenantId"],
        first.as_str()
    );
    // The switch sticks: a plain refresh and a new login stay on the chosen tenant.
    assert_eq!(
        daemon
            .get("/auth/me", &daemon.refresh(&current))
            .expect(200)["tenantId"],
        first.as_str()
    );
    assert_eq!(
        daemon.login("ann@example.org", PASSWORD)["tenantId"],
        first.as_str()
    );
}

#[test]
fn refresh_to_a_foreign_or_unknown_tenant_is_not_found() {
    let daemon = Daemon::start();
    let other = daemon.owner_with_tenant();
    let (token, _) = daemon.register("Ann", "ann@example.org", PASSWORD);
    let own = daemon.create_tenant(&token, "Acme");
    let unknown = "00000000-0000-4000-8000-000000000000";
    for tenant in [other.tenant_id.as_str(), unknown, "not-a-uuid"] {
        assert_error(
            &daemon.post("/auth/refresh", &token, json!({ "tenantId": tenant })),
            404,
            "NOT_FOUND",
        );
    }
    assert_invalid_field(
        &daemon.post("/auth/refresh", &token, json!({ "tenantId": 5 })),
        "tenantId",
    );
    // The failed switches changed nothing.
    assert_eq!(
        daemon.get("/auth/me", &daemon.refresh(&token)).expect(200)["tenantId"],
        own.as_str()
    );
}

#[test]
fn me_refuses_missing_and_malformed_credentials() {
    let daemon = Daemon::start();
    let (token, _) = daemon.register("Ann", "ann@example.org", PASSWORD);
    assert_error(&daemon.get_public("/auth/me"), 401, "UNAUTHORIZED");
    let garbage = [
        "garbage",
        "a.b.c",
        "eyJhbGciOiJIUzI1NiJ9..",
        &format!("sgk_live_{}", "0".repeat(64)),
    ];
    for bad in garbage {
        assert_error(&daemon.get("/auth/me", bad), 401, "UNAUTHORIZED");
    }
    for header in [
        format!("Basic {token}"),
        format!("Bearer{token}"),
        "Bearer ".to_string(),
        token.clone(),
    ] {
        let reply = daemon.send(
            daemon
                .client()
                .get(daemon.url("/auth/me"))
                .header("authorization", header.clone()),
        );
        assert_error(&reply, 401, "UNAUTHORIZED");
    }
    // The scheme is case-insensitive.
    let reply = daemon.send(
        daemon
            .client()
            .get(daemon.url("/auth/me"))
            .header("authorization", format!("bearer {token}")),
    );
    reply.expect(200);
}

/// The three parts of a JWT.
fn jwt_parts(token: &str) -> [String; 3] {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "not a JWT: {token}");
    [
        parts[0].to_string(),
        parts[1].to_string(),
        parts[2].to_string(),
    ]
}

fn jwt_claims(token: &str) -> Value {
    let payload = URL_SAFE_NO_PAD
        .decode(&jwt_parts(token)[1])
        .expect("base64url payload");
    serde_json::from_slice(&payload).expect("JSON claims")
}

#[test]
fn forged_session_tokens_are_refused() {
    let daemon = Daemon::start();
    let (ann, _) = daemon.register("Ann", "ann@example.org", PASSWORD);
    let (bob, _) = daemon.register("Bob", "bob@example.org", PASSWORD);
    let [header, payload, signature] = jwt_parts(&ann);
    let [_, bob_payload, bob_signature] = jwt_parts(&bob);

    // Claims with a tenant the user never joined, signed by nobody.
    let mut claims = jwt_claims(&ann);
    claims["tenantId"] = json!("00000000-0000-4000-8000-000000000000");
    claims["exp"] = json!(claims["exp"].as_u64().unwrap() + 3600);
    let forged_claims = URL_SAFE_NO_PAD.encode(claims.to_string());
    let none_header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let hs512_header = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS512","typ":"JWT"}"#);

    let forgeries = [
        (
            "wrong signature",
            format!("{header}.{payload}.{bob_signature}"),
        ),
        (
            "tampered payload",
            format!("{header}.{bob_payload}.{signature}"),
        ),
        (
            "edited claims",
            format!("{header}.{forged_claims}.{signature}"),
        ),
        (
            "truncated signature",
            format!("{header}.{payload}.{}", &signature[..signature.len() - 4]),
        ),
        ("no signature", format!("{header}.{payload}.")),
        ("alg none", format!("{none_header}.{payload}.")),
        (
            "alg none with claims",
            format!("{none_header}.{forged_claims}."),
        ),
        (
            "alg none with the old signature",
            format!("{none_header}.{payload}.{signature}"),
        ),
        (
            "other algorithm",
            format!("{hs512_header}.{payload}.{signature}"),
        ),
    ];
    for (what, token) in forgeries {
        let reply = daemon.get("/auth/me", &token);
        assert_eq!(reply.status, 401, "{what} must be refused: {}", reply.text);
        let body = assert_error(&reply, 401, "UNAUTHORIZED");
        assert_eq!(body["error"], "session token is invalid", "{what}: {body}");
        for internal in [
            "InvalidToken",
            "InvalidSignature",
            "InvalidAlgorithm",
            "Base64",
        ] {
            assert!(!reply.text.contains(internal), "{what}: {}", reply.text);
        }
    }
    daemon.get("/auth/me", &ann).expect(200);
}

#[test]
fn expired_sessions_are_refused() {
    // The shortest lifetime the daemon accepts; this is the only test that waits for a clock.
    let daemon = Daemon::start_with("[auth]\njwt_ttl = \"30s\"");
    let (token, _) = daemon.register("Ann", "ann@example.org", PASSWORD);
    let claims = jwt_claims(&token);
    let (issued, expires) = (
        claims["iat"].as_u64().unwrap(),
        claims["exp"].as_u64().unwrap(),
    );
    assert_eq!(expires - issued, 30, "jwt_ttl sets the lifetime: {claims}");
    daemon.get("/auth/me", &token).expect(200);
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    };
    while now() <= expires {
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    let body = assert_error(&daemon.get("/auth/me", &token), 401, "UNAUTHORIZED");
    // The API's words, not the JWT library's (`ExpiredSignature`).
    assert_eq!(body["error"], "session expired", "{body}");
    assert_eq!(body["details"]["reason"], "expired", "{body}");
    assert_error(
        &daemon.send(
            daemon
                .client()
                .post(daemon.url("/auth/refresh"))
                .bearer_auth(&token),
        ),
        401,
        "UNAUTHORIZED",
    );
}

#[test]
fn api_keys_cannot_use_account_routes() {
    let daemon = Daemon::start();
    let owner = daemon.owner_with_tenant();
    let key = daemon.api_key(&owner.token, "live");
    assert_error(&daemon.get("/auth/me", &key), 403, "FORBIDDEN");
    assert_error(
        &daemon.send(
            daemon
                .client()
                .post(daemon.url("/auth/refresh"))
                .bearer_auth(&key),
        ),
        403,
        "FORBIDDEN",
    );
    assert_error(
        &daemon.post("/api/tenants", &key, json!({ "name": "Sneaky" })),
        403,
        "FORBIDDEN",
    );
    assert_error(&daemon.get("/api/tenants", &key), 403, "FORBIDDEN");
}

#[test]
fn registration_can_be_disabled() {
    let daemon = Daemon::start_with("[auth]\nallow_registration = false");
    let reply = daemon.post_public(
        "/auth/register",
        json!({ "name": "Ann", "email": "ann@example.org", "password": PASSWORD }),
    );
    assert_error(&reply, 403, "FORBIDDEN");
    let login = daemon.post_public(
        "/auth/login",
        json!({ "email": "ann@example.org", "password": PASSWORD }),
    );
    assert_error(&login, 401, "UNAUTHORIZED");
}

#[test]
fn concurrent_registrations_of_one_email_create_one_account() {
    let daemon = Daemon::start();
    let barrier = std::sync::Barrier::new(8);
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let (daemon, barrier) = (&daemon, &barrier);
                scope.spawn(move || {
                    let body = json!({ "name": format!("Ann {i}"), "email": "ann@example.org", "password": PASSWORD });
                    barrier.wait();
                    let reply = daemon.post_public("/auth/register", body);
                    if reply.status != 200 {
                        assert_error(&reply, 409, "CONFLICT");
                    }
                    reply.status
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "exactly one registration wins: {statuses:?}"
    );
    daemon.login("ann@example.org", PASSWORD);
}
