//! The agent directory of the Sigilum surface: `/v1/namespaces`, `/v1/services*` with their keys, `/health`, the
//! contract's error shapes (`VALIDATION_ERROR` with `[{field, message}]`, `INVALID_JSON`), the limits, and that
//! another tenant's owner can neither see nor touch a tenant's services.

use serde_json::{Value, json};

use crate::harness::{Daemon, Owner, Reply, assert_error, str_field};

/// Asserts a 400 with `code` whose `details` list exactly these fields, each with a message.
#[track_caller]
fn assert_fields(reply: &Reply, code: &str, fields: &[&str]) {
    assert_eq!(reply.status, 400, "{}", reply.text);
    let body = reply.json();
    assert_eq!(body["code"], code, "{body}");
    assert!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{body}"
    );
    let details = body["details"]
        .as_array()
        .unwrap_or_else(|| panic!("details must be a list: {body}"));
    let named: Vec<&str> = details
        .iter()
        .map(|d| {
            assert!(
                d["message"].as_str().is_some_and(|m| !m.is_empty()),
                "{body}"
            );
            d["field"].as_str().unwrap()
        })
        .collect();
    assert_eq!(named, fields, "{body}");
}

/// `^sk_live_[0-9a-f]{48}$`, without a regex engine.
fn is_service_key(key: &str) -> bool {
    key.strip_prefix("sk_live_").is_some_and(|hex| {
        hex.len() == 48
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

fn patch(daemon: &Daemon, path: &str, token: &str, body: Value) -> Reply {
    daemon.send(
        daemon
            .client()
            .patch(daemon.url(path))
            .bearer_auth(token)
            .json(&body),
    )
}

fn service_body(slug: &str) -> Value {
    json!({ "name": format!("Service {slug}"), "slug": slug, "domain": format!("{slug}.example"),
            "description": "test service" })
}

#[track_caller]
fn create_service(daemon: &Daemon, owner: &Owner, slug: &str) -> String {
    str_field(
        &daemon
            .post("/v1/services", &owner.token, service_body(slug))
            .expect(201),
        "id",
    )
}

#[test]
fn health_is_public() {
    let daemon = Daemon::start();
    let body = daemon.get_public("/health").expect(200);
    assert_eq!(body["status"], "ok");
    let at = str_field(&body, "timestamp");
    assert!(chrono::DateTime::parse_from_rfc3339(&at).is_ok(), "{at}");
}

#[test]
fn namespaces_are_created_once_in_lower_case() {
    let daemon = Daemon::start();
    let owner = daemon.owner_with_tenant();
    let created = daemon
        .post(
            "/v1/namespaces",
            &owner.token,
            json!({ "namespace": "Acme-Agents" }),
        )
        .expect(201);
    assert_eq!(created["did"], "did:sigilum:acme-agents");
    assert_eq!(created["namespace"], "acme-agents");
    assert_eq!(created["owner"], owner.user_id.as_str());
    assert_eq!(created["active"], true);
    assert!(
        created["created_at"]
            .as_str()
            .is_some_and(|at| !at.is_empty())
    );

    // Taken, whatever the case.
    for name in ["acme-agents", "ACME-AGENTS"] {
        let again = daemon.post("/v1/namespaces", &owner.token, json!({ "namespace": name }));
        assert_error(&again, 409, "CONFLICT");
    }
    // Bad names and bodies.
    for name in [
        json!("ab"),
        json!("-acme"),
        json!("acme_agents"),
        json!("a".repeat(65)),
        json!(7),
    ] {
        let reply = daemon.post("/v1/namespaces", &owner.token, json!({ "namespace": name }));
        assert_fields(&reply, "VALIDATION_ERROR", &["namespace"]);
    }
    assert_fields(
        &daemon.post("/v1/namespaces", &owner.token, json!({})),
        "VALIDATION_ERROR",
        &["namespace"],
    );
    let malformed = daemon.send(
        daemon
            .client()
            .post(daemon.url("/v1/namespaces"))
            .bearer_auth(&owner.token)
            .header("content-type", "application/json")
            .body("{\"namespace\": "),
    );
    assert_error(&malformed, 400, "INVALID_JSON");

    // The tenant's list, paginated the Sigilum way.
    daemon
        .post(
            "/v1/namespaces",
            &owner.token,
            json!({ "namespace": "beta" }),
        )
        .expect(201);
    let list = daemon
        .get("/v1/namespaces?limit=1", &owner.token)
        .expect(200);
    assert_eq!(list["namespaces"].as_array().unwrap().len(), 1);
    assert_eq!(list["namespaces"][0]["namespace"], "acme-agents");
    assert_eq!(
        list["pagination"],
        json!({ "limit": 1, "offset": 0, "total": 2, "has_more": true })
    );
    assert_fields(
        &daemon.get("/v1/namespaces?limit=0&offset=-1", &owner.token),
        "VALIDATION_ERROR",
        &["limit", "offset"],
    );

    // Only an owner creates; any member reads.
    let (member_token, _, email) = daemon.user();
    daemon.add_member(&owner.token, &owner.tenant_id, &email, "member");
    let member_token = daemon.refresh_to(&member_token, &owner.tenant_id);
    let refused = daemon.post(
        "/v1/namespaces",
        &member_token,
        json!({ "namespace": "gamma" }),
    );
    assert_error(&refused, 403, "FORBIDDEN");
    assert_eq!(
        daemon.get("/v1/namespaces", &member_token).expect(200)["pagination"]["total"],
        2
    );
    // No credentials, no directory.
    assert_error(&daemon.get_public("/v1/namespaces"), 401, "UNAUTHORIZED");
}

#[test]
fn services_crud_slugs_and_the_service_limit() {
    let daemon = Daemon::start();
    let owner = daemon.owner_with_tenant();
    let created = daemon
        .post("/v1/services", &owner.token, service_body("shop"))
        .expect(201);
    let id = str_field(&created, "id");
    assert_eq!(created["name"], "Service shop");
    assert_eq!(created["slug"], "shop");
    assert_eq!(created["domain"], "shop.example");
    assert_eq!(created["description"], "test service");
    assert!(created["registration_tx_hash"].is_null());
    assert!(
        created["created_at"]
            .as_str()
            .is_some_and(|at| !at.is_empty())
    );

    let one = daemon
        .get(&format!("/v1/services/{id}"), &owner.token)
        .expect(200);
    assert_eq!(one, created);
    let list = daemon.get("/v1/services", &owner.token).expect(200);
    assert_eq!(list["services"], json!([created.clone()]));

    let patched = patch(
        &daemon,
        &format!("/v1/services/{id}"),
        &owner.token,
        json!({ "name": "Shop 2", "description": "" }),
    )
    .expect(200);
    assert_eq!(
        (
            &patched["name"],
            &patched["description"],
            &patched["slug"],
            &patched["domain"]
        ),
        (
            &json!("Shop 2"),
            &json!(""),
            &json!("shop"),
            &json!("shop.example")
        )
    );
    assert_fields(
        &patch(
            &daemon,
            &format!("/v1/services/{id}"),
            &owner.token,
            json!({ "slug": "other" }),
        ),
        "VALIDATION_ERROR",
        &["slug"],
    );

    // Validation, all broken rules at once; a bad webhook URL alone has its own code.
    let mut bad = service_body("Bad_Slug");
    bad["name"] = json!("x".repeat(101));
    bad["description"] = json!("d".repeat(501));
    assert_fields(
        &daemon.post("/v1/services", &owner.token, bad),
        "VALIDATION_ERROR",
        &["name", "slug", "description"],
    );
    let mut hooked = service_body("hooked");
    hooked["webhook"] = json!({ "url": "ftp://hooks.example/", "secret": "0123456789abcdef" });
    assert_fields(
        &daemon.post("/v1/services", &owner.token, hooked.clone()),
        "INVALID_WEBHOOK_URL",
        &["webhook.url"],
    );
    hooked["webhook"] = json!({ "url": "https://hooks.example/", "secret": "short" });
    assert_fields(
        &daemon.post("/v1/services", &owner.token, hooked.clone()),
        "VALIDATION_ERROR",
        &["webhook.secret"],
    );
    hooked["webhook"]["secret"] = json!("0123456789abcdef");
    daemon
        .post("/v1/services", &owner.token, hooked)
        .expect(201);

    // Slugs are global: another tenant cannot take one.
    let other = daemon.owner_with_tenant();
    let taken = daemon.post("/v1/services", &other.token, service_body("shop"));
    assert_error(&taken, 409, "CONFLICT");

    // Five per tenant (two so far).
    for n in 3..=5 {
        create_service(&daemon, &owner, &format!("shop-{n}"));
    }
    let refused = daemon.post("/v1/services", &owner.token, service_body("shop-6"));
    let body = assert_error(&refused, 403, "SERVICE_LIMIT_REACHED");
    assert_eq!(body["details"]["service_limit"], 5);
    assert_eq!(body["details"]["services_connected"], 5);

    // Deleting frees a place, not the slug.
    let deleted = daemon
        .delete(&format!("/v1/services/{id}"), &owner.token)
        .expect(200);
    assert_eq!(deleted, json!({ "id": id, "deleted": true }));
    assert_error(
        &daemon.get(&format!("/v1/services/{id}"), &owner.token),
        404,
        "NOT_FOUND",
    );
    assert_error(
        &daemon.delete(&format!("/v1/services/{id}"), &owner.token),
        404,
        "NOT_FOUND",
    );
    assert_error(
        &daemon.post("/v1/services", &owner.token, service_body("shop")),
        409,
        "CONFLICT",
    );
    create_service(&daemon, &owner, "shop-6");
    assert_eq!(
        daemon.get("/v1/services", &owner.token).expect(200)["services"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
    // Ids that are not UUIDs name nothing.
    assert_error(
        &daemon.get("/v1/services/nope", &owner.token),
        404,
        "NOT_FOUND",
    );
}

#[test]
fn service_keys_are_shown_once_limited_and_revocable() {
    let daemon = Daemon::start();
    let owner = daemon.owner_with_tenant();
    let service = create_service(&daemon, &owner, "shop");
    let keys = format!("/v1/services/{service}/keys");

    let first = daemon
        .post(&keys, &owner.token, json!({ "name": "ci" }))
        .expect(201);
    let secret = str_field(&first, "key");
    assert!(is_service_key(&secret), "{secret}");
    assert_eq!(first["name"], "ci");
    assert_eq!(
        first["key_prefix"],
        format!("...{}", &secret[secret.len() - 4..])
    );
    assert!(first["message"].as_str().is_some_and(|m| !m.is_empty()));
    let first_id = str_field(&first, "id");
    // An empty body is a key with the default name.
    let second = daemon
        .send(
            daemon
                .client()
                .post(daemon.url(&keys))
                .bearer_auth(&owner.token),
        )
        .expect(201);
    assert!(is_service_key(&str_field(&second, "key")));
    assert_ne!(second["key"], first["key"]);

    // Never listed again.
    let list = daemon.get(&keys, &owner.token).expect(200);
    assert!(!list.to_string().contains(&secret), "{list}");
    let listed = list["keys"].as_array().unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|k| k.get("key").is_none()), "{list}");
    assert_eq!(listed[0]["key_prefix"], first["key_prefix"]);
    assert_eq!(listed[0]["active"], true);

    // Two active keys at most.
    let refused = daemon.post(&keys, &owner.token, json!({ "name": "third" }));
    let body = assert_error(&refused, 400, "KEY_LIMIT_REACHED");
    assert_eq!(body["details"]["key_limit"], 2);

    let marked = daemon
        .post(
            &format!("{keys}/{first_id}/mark-gateway"),
            &owner.token,
            json!({}),
        )
        .expect(200);
    assert_eq!(marked["gateway"], true);

    let revoked = daemon
        .delete(&format!("{keys}/{first_id}"), &owner.token)
        .expect(200);
    assert_eq!(revoked["revoked"], true);
    assert!(revoked["revoked_at"].as_str().is_some());
    assert_error(
        &daemon.delete(&format!("{keys}/{first_id}"), &owner.token),
        404,
        "NOT_FOUND",
    );
    let list = daemon.get(&keys, &owner.token).expect(200);
    assert_eq!(list["keys"][0]["active"], false);
    // A revoked key frees its place.
    daemon
        .post(&keys, &owner.token, json!({ "name": "third" }))
        .expect(201);
    assert_fields(
        &daemon.post(&keys, &owner.token, json!({ "name": "" })),
        "VALIDATION_ERROR",
        &["name"],
    );
    // Keys of an unknown service: 404.
    let unknown = "/v1/services/00000000-0000-4000-8000-000000000000/keys";
    assert_error(
        &daemon.post(unknown, &owner.token, json!({})),
        404,
        "NOT_FOUND",
    );
    assert_error(&daemon.get(unknown, &owner.token), 404, "NOT_FOUND");
}

#[test]
fn another_tenant_cannot_see_or_touch_a_service_or_take_a_namespace() {
    let daemon = Daemon::start();
    let a = daemon.owner_with_tenant();
    let b = daemon.owner_with_tenant();
    daemon
        .post("/v1/namespaces", &a.token, json!({ "namespace": "acme" }))
        .expect(201);
    let service = create_service(&daemon, &a, "shop");
    let key = str_field(
        &daemon
            .post(&format!("/v1/services/{service}/keys"), &a.token, json!({}))
            .expect(201),
        "id",
    );
    let path = format!("/v1/services/{service}");

    assert_error(&daemon.get(&path, &b.token), 404, "NOT_FOUND");
    assert_error(
        &patch(&daemon, &path, &b.token, json!({ "name": "Mine" })),
        404,
        "NOT_FOUND",
    );
    assert_error(&daemon.delete(&path, &b.token), 404, "NOT_FOUND");
    assert_error(
        &daemon.get(&format!("{path}/keys"), &b.token),
        404,
        "NOT_FOUND",
    );
    assert_error(
        &daemon.post(&format!("{path}/keys"), &b.token, json!({})),
        404,
        "NOT_FOUND",
    );
    assert_error(
        &daemon.delete(&format!("{path}/keys/{key}"), &b.token),
        404,
        "NOT_FOUND",
    );
    assert_error(
        &daemon.post(
            &format!("{path}/keys/{key}/mark-gateway"),
            &b.token,
            json!({}),
        ),
        404,
        "NOT_FOUND",
    );
    assert!(
        daemon.get("/v1/services", &b.token).expect(200)["services"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    // The answers are those of a service that does not exist.
    let missing = daemon.get(
        "/v1/services/00000000-0000-4000-8000-000000000000",
        &b.token,
    );
    let foreign = daemon.get(&path, &b.token);
    assert_eq!(missing.json()["error"], foreign.json()["error"]);

    // B cannot take A's namespace, in any case.
    for name in ["acme", "ACME"] {
        let taken = daemon.post("/v1/namespaces", &b.token, json!({ "namespace": name }));
        assert_error(&taken, 409, "CONFLICT");
    }
    assert_eq!(
        daemon.get("/v1/namespaces", &b.token).expect(200)["pagination"]["total"],
        0
    );

    // A's service and key are untouched.
    let kept = daemon.get(&path, &a.token).expect(200);
    assert_eq!(kept["name"], "Service shop");
    let keys = daemon.get(&format!("{path}/keys"), &a.token).expect(200);
    assert_eq!(keys["keys"][0]["active"], true);
    assert_eq!(keys["keys"][0]["gateway"], false);
}
