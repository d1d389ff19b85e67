//! `/api/api-keys`: creating, listing, using and revoking tenant API keys, and who may do each.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{Daemon, assert_error, assert_invalid_field, str_field};

/// `^sgk_(live|test)_[0-9a-f]{64}$`, without a regex engine.
fn is_api_key(key: &str, environment: &str) -> bool {
    key.strip_prefix(&format!("sgk_{environment}_"))
        .is_some_and(|hex| {
            hex.len() == 64
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
}

#[test]
fn owner_creates_keys_shown_once() {
    let daemon = Daemon::start();
    let owner = daemon.owner_with_tenant();
    for (environment, requested) in [
        ("live", json!("live")),
        ("test", json!("test")),
        ("live", Value::Null),
    ] {
        let mut body = json!({ "name": "ci" });
        if !requested.is_null() {
            body["environment"] = requested;
        }
        let created = daemon.post("/api/api-keys", &owner.token, body).expect(201);
        let key = str_field(&created, "key");
        assert!(
            is_api_key(&key, environment),
            "{key} is not a {environment} key"
        );
        let prefix = str_field(&created, "prefix");
        assert_eq!(
            prefix,
            key[..format!("sgk_{environment}_").len() + 8],
            "prefix is the kind plus 8 hex"
        );
        assert_eq!(created["environment"], environment);
        assert_eq!(created["name"], "ci");
        assert!(!str_field(&created, "id").is_empty());
        assert!(
            created["createdAt"]
                .as_str()
                .is_some_and(|at| !at.is_empty())
        );
        assert!(
            created.get("lastUsedAt").is_some_and(Value::is_null),
            "{created}"
        );
    }
}

#[test]
fn key_lists_never_show_secrets() {
    let daemon = Daemon::start();
    let owner = daemon.owner_with_tenant();
    let live = daemon.create_api_key(&owner.token, "live");
    let test = daemon.create_api_key(&owner.token, "test");
    let secrets = [str_field(&live, "key"), str_field(&test, "key")];

    for path in [
        "/api/api-keys",
        "/api/api-keys?limit=10",
        "/api/api-keys?page=1&pageSize=1",
    ] {
        for token in [owner.token.as_str(), secrets[0].as_str()] {
            let reply = daemon.get(path, token);
            let list = reply.expect(200);
            for secret in &secrets {
                assert!(
                    !reply.text.contains(secret.as_str()),
                    "{path} shows a secret: {}",
                    reply.text
                );
                assert!(
                    !reply.text.contains(&secret[secret.len() - 56..]),
                    "{path} shows part of a secret"
                );
            }
            for item in list["items"].as_array().unwrap() {
                let mut keys: Vec<&str> = item
                    .as_object()
                    .unwrap()
                    .keys()
                    .map(String::as_str)
                    .collect();
                keys.sort_unstable();
                assert_eq!(
                    keys,
                    [
                        "createdAt",
                        "environment",
                        "id",
                        "lastUsedAt",
                        "name",
                        "prefix"
                    ],
                    "{item}"
                );
            }
        }
    }
    let list = daemon.get("/api/api-keys", &owner.token).expect(200);
    assert_eq!(list["total"], 2);
    let ids: Vec<&Value> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| &k["id"])
        .collect();
    assert_eq!(ids, [&test["id"], &live["id"]], "newest first");
    assert_eq!(list["items"][1]["prefix"], live["prefix"]);
}

#[test]
fn a_key_authenticates_and_records_its_use() {
    let daemon = Daemon::start();
    let owner = daemon.owner_with_tenant();
    let created = daemon.create_api_key(&owner.token, "test");
    let key = str_field(&created, "key");
    let list = daemon.get("/api/api-keys", &key).expect(200);
    assert_eq!(list["items"][0]["id"], created["id"]);

    // Use is recorded in the background: wait for it rather than for a fixed time.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let list = daemon.get("/api/api-keys", &owner.token).expect(200);
        if list["items"][0]["lastUsedAt"].as_str().is_some() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "lastUsedAt was never set: {list}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn only_signed_in_owners_create_keys() {
    let daemon = Daemon::start();
    let owner = daemon.owner_with_tenant();
    let (member_token, _, member_email) = daemon.user();
    daemon.add_member(&owner.token, &owner.tenant_id, &member_email, "member");
    let member = daemon.refresh_to(&member_token, &owner.tenant_id);
    let key = daemon.api_key(&owner.token, "live");
    let body = json!({ "name": "mine", "environment": "live" });

    assert_error(
        &daemon.post("/api/api-keys", &member, body.clone()),
        403,
        "FORBIDDEN",
    );
    assert_error(
        &daemon.post("/api/api-keys", &key, body.clone()),
        403,
        "FORBIDDEN",
    );
    // A session with no tenant selected has nowhere to put a key.
    let (lonely, _, _) = daemon.user();
    assert_error(
        &daemon.post("/api/api-keys", &lonely, body.clone()),
        403,
        "FORBIDDEN",
    );
    assert_error(&daemon.get("/api/api-keys", &lonely), 403, "FORBIDDEN");
    assert_error(
        &daemon.post_public("/api/api-keys", body),
        401,
        "UNAUTHORIZED",
    );
    // Members may read the list.
    assert_eq!(daemon.get("/api/api-keys", &member).expect(200)["total"], 1);
}

#[test]
fn invalid_key_requests_name_the_field() {
    let daemon = Daemon::start();
    let owner = daemon.owner_with_tenant();
    let cases: &[(Value, &str)] = &[
        (json!({ "name": "k", "environment": "prod" }), "environment"),
        (json!({ "name": "k", "environment": "LIVE" }), "environment"),
        (json!({ "name": "k", "environment": "" }), "environment"),
        (json!({ "name": "k", "environment": 1 }), "environment"),
        (json!({ "name": "", "environment": "live" }), "name"),
        (json!({ "name": "x".repeat(201) }), "name"),
        (json!({ "environment": "live" }), "name"),
        (json!({ "name": "k", "scopes": ["all"] }), "scopes"),
    ];
    for (body, field) in cases {
        assert_invalid_field(
            &daemon.post("/api/api-keys", &owner.token, body.clone()),
            field,
        );
    }
    assert_eq!(
        daemon.get("/api/api-keys", &owner.token).expect(200)["total"],
        0
    );
}

#[test]
fn revoked_keys_stop_working_at_once() {
    let daemon = Daemon::start();
    let owner = daemon.owner_with_tenant();
    let (member_token, _, member_email) = daemon.user();
    daemon.add_member(&owner.token, &owner.tenant_id, &member_email, "member");
    let member = daemon.refresh_to(&member_token, &owner.tenant_id);
    let created = daemon.create_api_key(&owner.token, "live");
    let (id, key) = (str_field(&created, "id"), str_field(&created, "key"));
    let other_key = daemon.api_key(&owner.token, "live");
    daemon.get("/api/api-keys", &key).expect(200);

    let path = format!("/api/api-keys/{id}");
    assert_error(&daemon.delete(&path, &member), 403, "FORBIDDEN");
    assert_error(&daemon.delete(&path, &other_key), 403, "FORBIDDEN");
    assert_error(&daemon.delete(&path, &key), 403, "FORBIDDEN");
    daemon.get("/api/api-keys", &key).expect(200);

    let revoked = daemon.delete(&path, &owner.token);
    assert_eq!(revoked.status, 204, "{}", revoked.text);
    assert_error(&daemon.get("/api/api-keys", &key), 401, "UNAUTHORIZED");
    assert_error(&daemon.delete(&path, &owner.token), 404, "NOT_FOUND");
    // The other key is untouched and the list no longer has the revoked one.
    let list = daemon.get("/api/api-keys", &other_key).expect(200);
    assert_eq!(list["total"], 1);
    assert_ne!(list["items"][0]["id"], id.as_str());
}

#[test]
fn revoking_unknown_keys_is_not_found() {
    let daemon = Daemon::start();
    let owner = daemon.owner_with_tenant();
    for id in [
        "00000000-0000-4000-8000-000000000000",
        "not-a-uuid",
        "sgk_live_0",
        "1%20OR%201=1",
    ] {
        assert_error(
            &daemon.delete(&format!("/api/api-keys/{id}"), &owner.token),
            404,
            "NOT_FOUND",
        );
    }
}

#[test]
fn revocation_is_final_under_concurrent_use() {
    // Requests with the key race the revocation; whatever they read on the way, once the revocation has answered
    // the key must fail, on every later request, however the cache was filled meanwhile.
    let daemon = Daemon::start();
    let owner = daemon.owner_with_tenant();
    for _round in 0..5 {
        let created = daemon.create_api_key(&owner.token, "live");
        let (id, key) = (str_field(&created, "id"), str_field(&created, "key"));
        let revoked = std::sync::atomic::AtomicBool::new(false);
        let barrier = std::sync::Barrier::new(5);
        std::thread::scope(|scope| {
            for _ in 0..4 {
                let (daemon, key, revoked, barrier) = (&daemon, &key, &revoked, &barrier);
                scope.spawn(move || {
                    barrier.wait();
                    for _ in 0..40 {
                        // Read the flag first: a request sent after the revocation answered must fail.
                        let after = revoked.load(std::sync::atomic::Ordering::SeqCst);
                        let status = daemon.get("/api/api-keys", key).status;
                        assert!(
                            status == 401 || (status == 200 && !after),
                            "a revoked key answered {status}"
                        );
                    }
                });
            }
            barrier.wait();
            std::thread::sleep(Duration::from_millis(5));
            daemon
                .delete(&format!("/api/api-keys/{id}"), &owner.token)
                .expect(204);
            revoked.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        for _ in 0..5 {
            assert_error(&daemon.get("/api/api-keys", &key), 401, "UNAUTHORIZED");
        }
    }
}
