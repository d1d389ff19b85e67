//! Operational endpoints: `/healthz`, `/readyz` and the Prometheus text of `/metrics`.

use crate::harness::{Daemon, PASSWORD};

#[test]
fn health_and_readiness() {
    let daemon = Daemon::start();
    let health = daemon.get_public("/healthz");
    assert_eq!(health.expect(200), serde_json::json!({ "status": "ok" }));
    assert!(
        health
            .header("content-type")
            .unwrap_or_default()
            .starts_with("application/json")
    );

    let ready = daemon.get_public("/readyz").expect(200);
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["store"], "up");
    assert_eq!(ready["tenantActors"], 0, "no tenant was used yet: {ready}");
    let owner = daemon.owner_with_tenant();
    daemon.get("/api/api-keys", &owner.token).expect(200);
    let ready = daemon.get_public("/readyz").expect(200);
    assert!(
        ready["tenantActors"].as_u64().is_some_and(|n| n >= 1),
        "a tenant actor runs now: {ready}"
    );
}

#[test]
fn metrics_are_prometheus_text() {
    let daemon = Daemon::start();
    daemon.get_public("/healthz").expect(200);
    daemon.register("Ann", "ann@example.org", PASSWORD);
    daemon.get_public("/nope");
    let reply = daemon.get_public("/metrics");
    assert_eq!(reply.status, 200);
    assert!(
        reply
            .header("content-type")
            .unwrap_or_default()
            .starts_with("text/plain"),
        "{:?}",
        reply.headers
    );
    let text = reply.text;
    assert!(text.contains("sigil_http_requests_total"), "{text}");
    assert!(
        text.contains("sigil_http_request_duration_seconds"),
        "{text}"
    );
    let requests: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("sigil_http_requests_total{"))
        .collect();
    let has = |route: &str, status: &str| {
        requests.iter().any(|l| {
            l.contains(&format!("route=\"{route}\"")) && l.contains(&format!("status=\"{status}\""))
        })
    };
    assert!(has("/healthz", "200"), "{requests:?}");
    assert!(has("/auth/register", "200"), "{requests:?}");
    // Unmatched paths share one label, so scanners cannot blow up the series count.
    assert!(has("unmatched", "404"), "{requests:?}");
    assert!(
        !text.contains("/nope"),
        "raw paths must not become labels: {text}"
    );
    // Every sample line is `name{labels} value` or `name value`, with a numeric value.
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let value = line.rsplit(' ').next().unwrap();
        assert!(
            value.parse::<f64>().is_ok(),
            "not a Prometheus sample: {line}"
        );
    }
}
