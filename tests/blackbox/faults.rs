//! Fault injection (`testing.fault_injection`): a panicking handler or tenant actor costs one request, not the
//! daemon or the tenant.

use crate::harness::{Daemon, assert_error, assert_invalid_field};

const FAULTS: &str = "[testing]\nfault_injection = true";

fn inject(daemon: &Daemon, target: &str, token: &str) -> crate::harness::Reply {
    daemon.send(
        daemon
            .client()
            .post(daemon.url(&format!("/_test/panic?target={target}")))
            .bearer_auth(token),
    )
}

#[test]
fn a_panicking_handler_costs_one_request() {
    let daemon = Daemon::start_with(FAULTS);
    let owner = daemon.owner_with_tenant();
    for _ in 0..2 {
        let reply = inject(&daemon, "handler", &owner.token);
        assert_eq!(reply.status, 500, "{}", reply.text);
        assert!(
            reply
                .header("content-type")
                .unwrap_or_default()
                .starts_with("application/json")
        );
        let body = reply.json();
        assert_eq!(body["code"], "INTERNAL");
        assert!(
            !body.to_string().contains("injected"),
            "panic messages stay in the log: {body}"
        );
        daemon.get_public("/healthz").expect(200);
        daemon.get("/api/api-keys", &owner.token).expect(200);
        daemon.get("/api/tenants", &owner.token).expect(200);
    }
    let metrics = daemon.metrics();
    assert!(
        metrics.contains("sigil_handler_panics_total 2"),
        "{metrics}"
    );
    assert!(daemon.logs().contains("request handler panicked"));
}

#[test]
fn a_panicking_handler_answers_in_the_error_shape() {
    let daemon = Daemon::start_with(FAULTS);
    let owner = daemon.owner_with_tenant();
    // Like every error, the 500 repeats the request id in `details.requestId`, so operators can find the log.
    assert_error(&inject(&daemon, "handler", &owner.token), 500, "INTERNAL");
}

#[test]
fn a_panicking_tenant_actor_is_restarted() {
    let daemon = Daemon::start_with(FAULTS);
    let owner = daemon.owner_with_tenant();
    let other = daemon.owner_with_tenant();
    let key = daemon.api_key(&owner.token, "live");
    daemon.get("/api/api-keys", &owner.token).expect(200);

    assert_error(&inject(&daemon, "actor", &owner.token), 500, "INTERNAL");
    // The next request to the same tenant is served by the restarted actor; other tenants never noticed.
    daemon.get("/api/api-keys", &owner.token).expect(200);
    daemon.get("/api/api-keys", &key).expect(200);
    daemon.get("/api/api-keys", &other.token).expect(200);
    assert_error(&inject(&daemon, "actor", &key), 500, "INTERNAL");
    daemon.get("/api/api-keys", &key).expect(200);
    let metrics = daemon.metrics();
    assert!(
        metrics.contains(r#"sigil_actor_restarts_total{actor="tenant"} 2"#),
        "{metrics}"
    );

    // Without a tenant there is no actor to panic in; an unknown target is a bad parameter.
    let (lonely, _, _) = daemon.user();
    assert_error(&inject(&daemon, "actor", &lonely), 403, "FORBIDDEN");
    assert_invalid_field(&inject(&daemon, "everything", &owner.token), "target");
    assert_error(
        &daemon.send(
            daemon
                .client()
                .post(daemon.url("/_test/panic?target=handler")),
        ),
        401,
        "UNAUTHORIZED",
    );
}

#[test]
fn fault_injection_is_off_by_default() {
    let daemon = Daemon::start();
    let owner = daemon.owner_with_tenant();
    for target in ["handler", "actor"] {
        assert_error(&inject(&daemon, target, &owner.token), 404, "NOT_FOUND");
    }
    daemon.get_public("/healthz").expect(200);
}
