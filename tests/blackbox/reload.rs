//! SIGHUP: a valid changed config is applied in place; a broken one is refused, logged and counted, and the
//! daemon keeps serving with the old settings.

use serde_json::json;

use crate::harness::{Daemon, PASSWORD, assert_error};

#[test]
fn a_broken_config_is_refused_and_the_old_one_kept() {
    let mut daemon = Daemon::start();
    let (token, _) = daemon.register("Ann", "ann@example.org", PASSWORD);
    let original = std::fs::read_to_string(daemon.config_path()).unwrap();

    daemon.write_raw_config("[server\nthis is = = not toml");
    daemon.sighup();
    daemon.wait_for_log("configuration reload refused");
    daemon.get_public("/healthz").expect(200);
    daemon.get("/auth/me", &token).expect(200);
    daemon.register("Bob", "bob@example.org", PASSWORD);
    let metrics = daemon.metrics();
    assert!(
        metrics.contains(r#"sigil_config_reloads_total{outcome="error"} 1"#),
        "{metrics}"
    );
    assert!(!metrics.contains(r#"outcome="ok""#), "{metrics}");

    // Well-formed TOML that fails validation is refused the same way.
    daemon.write_raw_config(&format!("{original}\n[tenants]\nidle_timeout = \"0s\"\n"));
    daemon.sighup();
    wait_for_count(&daemon, "configuration reload refused", 2);
    daemon.write_raw_config(&original.replace("[limits]", "[limits]\nsesion_per_minute = 1"));
    daemon.sighup();
    wait_for_count(&daemon, "configuration reload refused", 3);
    assert!(
        daemon
            .metrics()
            .contains(r#"sigil_config_reloads_total{outcome="error"} 3"#)
    );
    daemon.get("/api/tenants", &token).expect(200);

    // A restart with the broken file fails loudly instead of serving.
    daemon.write_raw_config("[server\n");
    assert_eq!(daemon.stop().code(), Some(0));
    let output = daemon.run_cli(&["serve", "--listen", "127.0.0.1:0"]);
    assert_eq!(
        output.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn wait_for_count(daemon: &Daemon, needle: &str, count: usize) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while daemon.logs().matches(needle).count() < count {
        assert!(
            std::time::Instant::now() < deadline,
            "{needle:?} was not logged {count} times:\n{}",
            daemon.logs()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn a_valid_changed_config_is_applied() {
    let daemon = Daemon::start();
    let (token, _) = daemon.register("Ann", "ann@example.org", PASSWORD);
    let owner = daemon.owner_with_tenant();
    for _ in 0..5 {
        daemon.get("/api/tenants", &token).expect(200);
        daemon.get("/api/api-keys", &owner.token).expect(200);
    }

    daemon.rewrite_config(
        "[limits]\nsession_per_minute = 2\n[auth]\nallow_registration = false\n[server]\nmax_body_bytes = 1024",
    );
    daemon.sighup();
    daemon.wait_for_log("configuration reloaded");
    // The body limit needs a restart: the reload says so and the old limit stays.
    assert!(
        daemon.logs().contains("take effect at the next restart"),
        "{}",
        daemon.logs()
    );
    let long = json!({ "email": "ann@example.org", "password": "x".repeat(2000) });
    assert_error(
        &daemon.post_public("/auth/login", long),
        401,
        "UNAUTHORIZED",
    );
    assert!(
        daemon
            .metrics()
            .contains(r#"sigil_config_reloads_total{outcome="ok"} 1"#)
    );

    // New limits start with fresh buckets, for sessions with and without a tenant.
    for _ in 0..2 {
        daemon.get("/api/tenants", &token).expect(200);
        daemon.get("/api/api-keys", &owner.token).expect(200);
    }
    assert_error(&daemon.get("/api/tenants", &token), 429, "RATE_LIMITED");
    assert_error(
        &daemon.get("/api/api-keys", &owner.token),
        429,
        "RATE_LIMITED",
    );
    let register = daemon.post_public(
        "/auth/register",
        json!({ "name": "Bob", "email": "bob@example.org", "password": PASSWORD }),
    );
    assert_error(&register, 403, "FORBIDDEN");
    daemon.login("ann@example.org", PASSWORD);
}

#[test]
fn a_sighup_right_after_startup_reloads() {
    // systemd's ExecReload may send SIGHUP as soon as the daemon reports ready; that must not kill it. The
    // window before the handler is installed is short, so try a few fresh daemons.
    for _ in 0..4 {
        let daemon = Daemon::start();
        daemon.sighup();
        daemon.wait_for_log("configuration reloaded");
        daemon.get_public("/healthz").expect(200);
    }
}
