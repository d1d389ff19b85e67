//! Instance administration: `sigild admin grant|revoke` on a stopped daemon, and `GET /api/admin/health`.

use crate::harness::{Daemon, PASSWORD, assert_error, str_field};

#[test]
fn granted_administrators_see_instance_health() {
    let mut daemon = Daemon::start();
    let (_, admin_id) = daemon.register("Ada", "ada@example.org", PASSWORD);
    let owner = daemon.owner_with_tenant();
    let key = daemon.api_key(&owner.token, "live");
    assert_error(
        &daemon.get("/api/admin/health", &owner.token),
        403,
        "FORBIDDEN",
    );

    assert!(daemon.stop().success());
    let granted = daemon.run_cli(&["admin", "grant", "ADA@example.org"]);
    assert!(
        granted.status.success(),
        "grant failed: {}",
        String::from_utf8_lossy(&granted.stderr)
    );
    assert!(
        String::from_utf8_lossy(&granted.stdout)
            .to_lowercase()
            .contains("ada@example.org")
    );
    let unknown = daemon.run_cli(&["admin", "grant", "nobody@example.org"]);
    assert!(
        !unknown.status.success(),
        "granting an unknown account must fail"
    );
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("nobody@example.org"),
        "the error names the account"
    );
    daemon.restart();

    let token = str_field(&daemon.login("ada@example.org", PASSWORD), "token");
    let me = daemon.get("/auth/me", &token).expect(200);
    assert_eq!(
        (&me["userId"], &me["isAdmin"]),
        (&serde_json::json!(admin_id), &serde_json::json!(true))
    );
    let health = daemon.get("/api/admin/health", &token).expect(200);
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"));
    assert!(health["uptimeSeconds"].is_u64(), "{health}");
    assert!(
        health["store"]["url"]
            .as_str()
            .is_some_and(|u| u.starts_with("surrealkv://")),
        "{health}"
    );
    assert!(
        health["store"]["schemaVersion"]
            .as_i64()
            .is_some_and(|v| v >= 1),
        "{health}"
    );
    assert!(health["tenantActors"].is_u64(), "{health}");
    assert_eq!(health["configGeneration"], 0, "no reload yet: {health}");
    daemon.sighup();
    daemon.wait_for_log("configuration reloaded");
    let health = daemon.get("/api/admin/health", &token).expect(200);
    assert_eq!(
        health["configGeneration"], 1,
        "each reload is a generation: {health}"
    );

    // Everyone else, including an API key and the key's owner, is refused.
    assert_error(
        &daemon.get("/api/admin/health", &owner.token),
        403,
        "FORBIDDEN",
    );
    assert_error(&daemon.get("/api/admin/health", &key), 403, "FORBIDDEN");
    assert_error(&daemon.get_public("/api/admin/health"), 401, "UNAUTHORIZED");

    // Revoking takes administration away again; the same session token is then refused.
    assert!(daemon.stop().success());
    let revoked = daemon.run_cli(&["admin", "revoke", "ada@example.org"]);
    assert!(
        revoked.status.success(),
        "revoke failed: {}",
        String::from_utf8_lossy(&revoked.stderr)
    );
    daemon.restart();
    assert_error(&daemon.get("/api/admin/health", &token), 403, "FORBIDDEN");
    assert_eq!(daemon.get("/auth/me", &token).expect(200)["isAdmin"], false);
}
