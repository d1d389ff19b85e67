//! Tenant actors: started on first use, released after `tenants.idle_timeout`, and started again on demand.

use std::time::{Duration, Instant};

use crate::harness::Daemon;

fn tenant_actors(daemon: &Daemon) -> u64 {
    let ready = daemon.get_public("/readyz").expect(200);
    ready["tenantActors"]
        .as_u64()
        .unwrap_or_else(|| panic!("tenantActors is a count: {ready}"))
}

#[test]
fn idle_tenant_actors_stop_and_start_again_on_demand() {
    let daemon = Daemon::start_with("[tenants]\nidle_timeout = \"1s\"");
    let owner = daemon.owner_with_tenant();
    let key = daemon.api_key(&owner.token, "live");
    daemon.get("/api/api-keys", &key).expect(200);
    assert_eq!(tenant_actors(&daemon), 1);
    assert!(daemon.metrics().contains("sigil_tenant_actors"));

    let deadline = Instant::now() + Duration::from_secs(60);
    while tenant_actors(&daemon) != 0 {
        assert!(
            Instant::now() < deadline,
            "the idle tenant actor was never released"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    daemon.get("/api/api-keys", &owner.token).expect(200);
    daemon.get("/api/api-keys", &key).expect(200);
    assert_eq!(tenant_actors(&daemon), 1);
}
