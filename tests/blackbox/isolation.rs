//! Tenant isolation: another tenant's members, keys and context answer 404 as if they did not exist.

use serde_json::json;

use crate::harness::{Daemon, assert_error, str_field};

#[test]
fn owners_cannot_reach_each_others_tenants() {
    let daemon = Daemon::start();
    let a = daemon.owner_with_tenant();
    let b = daemon.owner_with_tenant();
    let a_key = daemon.create_api_key(&a.token, "live");
    let b_key = daemon.create_api_key(&b.token, "live");
    let a_members = format!("/api/tenants/{}/members", a.tenant_id);

    assert_error(&daemon.get(&a_members, &b.token), 404, "NOT_FOUND");
    let add = daemon.post(
        &a_members,
        &b.token,
        json!({ "email": b.email, "role": "owner" }),
    );
    assert_error(&add, 404, "NOT_FOUND");
    assert_error(
        &daemon.delete(&format!("{a_members}/{}", a.user_id), &b.token),
        404,
        "NOT_FOUND",
    );
    assert_error(
        &daemon.delete(&format!("{a_members}/{}", b.user_id), &b.token),
        404,
        "NOT_FOUND",
    );
    let a_key_path = format!("/api/api-keys/{}", str_field(&a_key, "id"));
    assert_error(&daemon.delete(&a_key_path, &b.token), 404, "NOT_FOUND");
    assert_error(
        &daemon.post(
            "/auth/refresh",
            &b.token,
            json!({ "tenantId": a.tenant_id }),
        ),
        404,
        "NOT_FOUND",
    );

    // Nothing of A changed, and each side sees only its own.
    let a_list = daemon.get(&a_members, &a.token).expect(200);
    assert_eq!(a_list["total"], 1);
    assert_eq!(a_list["items"][0]["userId"], a.user_id.as_str());
    let b_tenants = daemon.get("/api/tenants", &b.token).expect(200);
    assert_eq!(b_tenants["total"], 1);
    assert_eq!(b_tenants["items"][0]["id"], b.tenant_id.as_str());
    assert_eq!(
        daemon
            .get("/auth/me", &daemon.refresh(&b.token))
            .expect(200)["tenantId"],
        b.tenant_id.as_str()
    );

    let a_secret = str_field(&a_key, "key");
    let through_a_key = daemon.get("/api/api-keys", &a_secret);
    let listed = through_a_key.expect(200);
    assert_eq!(listed["total"], 1);
    assert_eq!(listed["items"][0]["id"], a_key["id"]);
    assert!(
        !through_a_key.text.contains(b_key["id"].as_str().unwrap()),
        "A's key sees B's key"
    );
    let through_b_key = daemon
        .get("/api/api-keys", &str_field(&b_key, "key"))
        .expect(200);
    assert_eq!(through_b_key["items"][0]["id"], b_key["id"]);
    assert_eq!(through_b_key["total"], 1);
    // A's key keeps working after B's attempt to revoke it.
    daemon.get("/api/api-keys", &a_secret).expect(200);
    // A's key cannot be turned on A's members from B's tenant either: keys have no member routes.
    assert_error(
        &daemon.get(&format!("/api/tenants/{}/members", b.tenant_id), &a_secret),
        403,
        "FORBIDDEN",
    );
}
