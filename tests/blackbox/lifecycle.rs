//! Process lifecycle: persistence across restarts, durability across kill -9, and graceful shutdown on signals.

use crate::harness::{Daemon, PASSWORD, str_field};

#[test]
fn data_survives_a_graceful_restart() {
    let mut daemon = Daemon::start();
    let (token, user_id) = daemon.register("Ann", "ann@example.org", PASSWORD);
    let tenant = daemon.create_tenant(&token, "Acme");
    let scoped = daemon.refresh(&token);
    let key = daemon.api_key(&scoped, "live");

    let status = daemon.stop();
    assert_eq!(
        status.code(),
        Some(0),
        "SIGTERM must exit 0; log:\n{}",
        daemon.logs()
    );
    daemon.restart();

    let login = daemon.login("ann@example.org", PASSWORD);
    assert_eq!(login["userId"], user_id.as_str());
    assert_eq!(login["tenantId"], tenant.as_str());
    let keys = daemon.get("/api/api-keys", &key).expect(200);
    assert_eq!(keys["total"], 1);
    // The session signing key is stored, so sessions issued before the restart stay valid.
    assert_eq!(
        daemon.get("/auth/me", &scoped).expect(200)["tenantId"],
        tenant.as_str()
    );
    let fresh = str_field(&login, "token");
    assert_eq!(
        daemon.get("/api/tenants", &fresh).expect(200)["items"][0]["name"],
        "Acme"
    );
}

#[test]
fn acknowledged_writes_survive_kill_9() {
    let mut daemon = Daemon::start();
    let (token, _) = daemon.register("Ann", "ann@example.org", PASSWORD);
    let tenant = daemon.create_tenant(&token, "Acme");
    let key = daemon.api_key(&daemon.refresh(&token), "test");
    daemon.kill9();
    daemon.restart();

    let login = daemon.login("ann@example.org", PASSWORD);
    assert_eq!(login["tenantId"], tenant.as_str());
    let tenants = daemon
        .get("/api/tenants", &str_field(&login, "token"))
        .expect(200);
    assert_eq!(tenants["total"], 1);
    assert_eq!(tenants["items"][0]["id"], tenant.as_str());
    daemon.get("/api/api-keys", &key).expect(200);
}

#[test]
fn sigterm_and_sigint_drain_and_exit_0() {
    let mut daemon = Daemon::start();
    let owner = daemon.owner_with_tenant();
    daemon.get("/api/api-keys", &owner.token).expect(200);
    let status = daemon.stop();
    assert_eq!(status.code(), Some(0), "log:\n{}", daemon.logs());
    let logs = daemon.logs();
    assert!(logs.contains("SIGTERM received"), "{logs}");
    assert!(logs.contains("sigild stopped"), "{logs}");

    daemon.restart();
    daemon.get("/api/api-keys", &owner.token).expect(200);
    let status = daemon.stop_with(libc::SIGINT);
    assert_eq!(status.code(), Some(0), "log:\n{}", daemon.logs());
    assert!(
        daemon.logs().contains("SIGINT received"),
        "{}",
        daemon.logs()
    );
    assert_eq!(daemon.logs().matches("sigild stopped").count(), 2);
}

#[test]
fn a_second_daemon_cannot_open_a_busy_store() {
    let daemon = Daemon::start();
    let (token, _) = daemon.register("Ann", "ann@example.org", PASSWORD);
    // The embedded store is exclusive: `admin` on a running daemon's data dir must fail, not corrupt it.
    let output = crate::harness::cli(&[
        "admin",
        "grant",
        "ann@example.org",
        "--config",
        daemon.config_path().to_str().unwrap(),
        "--data-dir",
        daemon.data_dir().to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "admin on a busy store must fail");
    assert!(
        stderr.contains("stop it first"),
        "the error should say why: {stderr}"
    );
    daemon.get_public("/readyz").expect(200);
    assert_eq!(daemon.get("/auth/me", &token).expect(200)["isAdmin"], false);
}

#[test]
fn sigterm_lets_in_flight_requests_finish() {
    // A costly password hash keeps the registration in flight while the signal arrives; the request log at
    // debug level tells when it has started.
    let mut daemon = Daemon::start_with(
        "[auth]\nargon2_memory_kib = 65536\nargon2_iterations = 8\n[log]\nlevel = \"info,tower_http=debug\"",
    );
    let reply = std::thread::scope(|scope| {
        let request = scope.spawn(|| {
            let body = serde_json::json!({ "name": "Ann", "email": "ann@example.org", "password": PASSWORD });
            daemon.post_public("/auth/register", body)
        });
        daemon.wait_for_log("started processing request");
        daemon.signal(libc::SIGTERM);
        request.join().unwrap()
    });
    assert_eq!(
        reply.status, 200,
        "the in-flight request must complete: {}",
        reply.text
    );
    let status = daemon.stop();
    assert_eq!(status.code(), Some(0), "log:\n{}", daemon.logs());
    assert!(daemon.logs().contains("sigild stopped"));
    daemon.restart();
    assert_eq!(
        daemon.login("ann@example.org", PASSWORD)["userId"],
        reply.json()["userId"]
    );
}

#[test]
fn a_graceful_stop_is_clean() {
    let mut daemon = Daemon::start();
    let owner = daemon.owner_with_tenant();
    daemon.api_key(&owner.token, "live");
    // Not a timing assertion: a real daemon runs for longer than a test, long enough for the store's background
    // tasks to start, and their shutdown is what this test is about.
    std::thread::sleep(std::time::Duration::from_secs(1));
    assert_eq!(daemon.stop().code(), Some(0));
    // A normal run and SIGTERM must not warn: a warning at shutdown (for example a store closed without its
    // runtime) is exactly what operators are told to investigate.
    let logs = daemon.logs();
    let complaints: Vec<&str> = logs
        .lines()
        .filter(|line| {
            let event: serde_json::Value = serde_json::from_str(line).unwrap_or_default();
            matches!(event["level"].as_str(), Some("WARN" | "ERROR"))
        })
        .collect();
    assert!(
        complaints.is_empty(),
        "warnings during a clean run and stop:\n{}",
        complaints.join("\n")
    );
}

#[test]
fn a_sigterm_right_after_startup_is_graceful() {
    // "sigild listening" (and systemd's READY=1 with it) says the daemon is up; a stop from then on is graceful.
    // The window before the handler is installed is short, so try a few fresh daemons.
    for _ in 0..3 {
        let mut daemon = Daemon::start();
        let status = daemon.stop();
        assert_eq!(
            status.code(),
            Some(0),
            "SIGTERM right after startup ended sigild with {status}"
        );
        assert!(
            daemon.logs().contains("sigild stopped"),
            "{}",
            daemon.logs()
        );
    }
}
