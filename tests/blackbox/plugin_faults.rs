//! The plugin host under faults: `[plugin_host]` reloads while the local TSA stamps, truncated and garbage
//! plugin files (at start and swapped in), the private copies they leave (none), generation numbers across a
//! re-created instance, a config refused by `create` (not retried), a call queued behind `max_in_flight` (said
//! to have never reached the plugin), and a hung KMS behind the local TSA (a fast refusal, other routes
//! unaffected, readiness red).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{Daemon, FAST_TEST_BASE, PASSWORD, assert_error};
use crate::plugins::{
    admin_daemon, built_plugin, compile_c_fixture, config_with, instance, is_up, wait_for,
};

/// A DER TimeStampReq (v1, SHA-256 imprint of `digest`, certReq) built by hand.
fn timestamp_query(digest: &[u8; 32]) -> Vec<u8> {
    let mut der = vec![
        0x30, 0x39, 0x02, 0x01, 0x01, 0x30, 0x31, 0x30, 0x0d, 0x06, 0x09,
    ];
    der.extend_from_slice(&[
        0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00,
    ]);
    der.extend_from_slice(&[0x04, 0x20]);
    der.extend_from_slice(digest);
    der.extend_from_slice(&[0x01, 0x01, 0xff]);
    der
}

/// The PKIStatus of a DER TimeStampResp: `SEQUENCE { SEQUENCE { INTEGER status, ... }, ... }`.
fn pki_status(response: &[u8]) -> Option<u8> {
    fn header(bytes: &[u8]) -> Option<usize> {
        match *bytes.get(1)? {
            len if len < 0x80 => Some(2),
            0x81 => Some(3),
            0x82 => Some(4),
            0x83 => Some(5),
            _ => None,
        }
    }
    if response.first() != Some(&0x30) {
        return None;
    }
    let inner = &response[header(response)?..];
    if inner.first() != Some(&0x30) {
        return None;
    }
    let status = &inner[header(inner)?..];
    (status.get(..2)? == [0x02, 0x01]).then(|| status[2])
}

/// Posts a query to `/tsr`; answers the PKIStatus (0 granted, 2 rejection) or the HTTP failure.
pub(crate) fn post_tsr(daemon: &Daemon, digest: &[u8; 32]) -> Result<u8, String> {
    let response = daemon
        .client()
        .post(daemon.url("/tsr"))
        .header("Content-Type", "application/timestamp-query")
        .body(timestamp_query(digest))
        .send()
        .map_err(|e| format!("POST /tsr: {e}"))?;
    let status = response.status().as_u16();
    let body = response.bytes().map_err(|e| e.to_string())?;
    if status != 200 {
        return Err(format!(
            "POST /tsr answered {status}: {}",
            String::from_utf8_lossy(&body)
        ));
    }
    pki_status(&body).ok_or_else(|| format!("POST /tsr answered no TimeStampResp: {body:?}"))
}

pub(crate) fn random_digest() -> [u8; 32] {
    let mut digest = [0u8; 32];
    digest[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    digest[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    digest
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Waits (bounded by attempts) until `needle` occurs `count` times in the log.
#[track_caller]
fn wait_for_log_count(daemon: &Daemon, needle: &str, count: usize) {
    for _ in 0..1200 {
        if daemon.logs().matches(needle).count() >= count {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "{needle:?} was not logged {count} times:\n{}",
        daemon.logs()
    );
}

/// Waits (bounded by attempts) until `/readyz` answers `status`; answers its body.
#[track_caller]
fn wait_for_readiness(daemon: &Daemon, status: u16) -> Value {
    for _ in 0..1200 {
        let reply = daemon.get_public("/readyz");
        if reply.status == status {
            return reply.json();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("/readyz never answered {status}; log:\n{}", daemon.logs());
}

/// The private copies in the data directory.
fn copies(daemon: &Daemon) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(daemon.data_dir().join("plugin-copies"))
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// A plugin directory of the test's own holding a copy of one first-party plugin the workspace built.
fn plugin_dir_with(file: &str) -> tempfile::TempDir {
    let plugins = tempfile::tempdir().unwrap();
    install(
        plugins.path(),
        file,
        &std::fs::read(built_plugin(file)).unwrap(),
    );
    plugins
}

/// Installs `bytes` as `file` the way a package manager does: write aside, rename over.
fn install(dir: &Path, file: &str, bytes: &[u8]) {
    let staged = dir.join(format!(".staged-{}", uuid::Uuid::new_v4()));
    std::fs::write(&staged, bytes).unwrap();
    std::fs::rename(&staged, dir.join(file)).unwrap();
}

/// The base of a timestamping config: fast argon2, limits out of reach, no file watching.
fn stamping_config(plugin_host: &str, extra: &str) -> String {
    format!(
        r#"
{FAST_TEST_BASE}

[plugin_host]
watch = false
{plugin_host}

{extra}
"#
    )
}

#[test]
fn every_reloadable_plugin_host_setting_changes_in_place_while_the_local_tsa_stamps() {
    let (daemon, admin) = admin_daemon(&stamping_config("", ""));
    crate::timestamping::wait_local_tsa(&daemon);
    let before = wait_for(&daemon, &admin, "local-kms", "up", is_up);
    let owner = daemon.owner_with_tenant();
    let daemon = Arc::new(daemon);
    let load = StampLoad::start(&daemon, &owner.token);
    load.wait_for_stamps(10);
    // Every `[plugin_host]` setting a reload applies, one change at a time, then all of them back at once.
    let changes = [
        "health_interval = \"1s\"",
        "call_timeout = \"7s\"",
        "max_in_flight = 2",
        "max_in_flight = 64",
        "health_interval = \"45s\"\ncall_timeout = \"20s\"\nmax_in_flight = 8",
        "",
    ];
    for (round, change) in changes.iter().enumerate() {
        daemon.write_raw_config(&stamping_config(change, ""));
        daemon.sighup();
        wait_for_log_count(&daemon, "configuration reloaded", round + 1);
        load.wait_for_stamps(10);
        let ready = daemon.get_public("/readyz").expect(200);
        assert_eq!(ready["localTsa"], "up", "{ready}");
    }
    load.stop_without_failures("the reloads");
    // The instance was never re-created: same generation, same actor.
    let after = instance(&daemon, &admin, "local-kms");
    assert_eq!(after["generation"], before["generation"], "{after}");
    assert!(is_up(&after), "{after}");
    assert!(
        daemon
            .logs()
            .contains("plugin host settings applied in place")
    );
}

/// A copy of a real first-party plugin cut to a quarter: its loadable segments reach past the end, so a loader
/// that maps it faults (SIGBUS) when it touches them.
fn truncated(file: &str) -> Vec<u8> {
    let bytes = std::fs::read(built_plugin(file)).unwrap();
    bytes[..bytes.len() / 4].to_vec()
}

#[test]
fn truncated_and_garbage_plugin_files_are_refused_at_start_and_on_reload() {
    let plugins = tempfile::tempdir().unwrap();
    let good = std::fs::read(built_plugin("libsigil_tsa_http.so")).unwrap();
    install(plugins.path(), "libsigil_tsa_http.so", &good);
    install(
        plugins.path(),
        "libtruncated.so",
        &truncated("libsigil_kms_soft.so"),
    );
    install(
        plugins.path(),
        "libgarbage.so",
        b"\x7fELF but nothing a loader could map",
    );
    let config = config_with(
        plugins.path(),
        r#"
[local_tsa]
enabled = false

[[plugins]]
name = "tsa"
file = "libsigil_tsa_http.so"
[plugins.config]
url = "http://127.0.0.1:9/"
slug = "tsa"

[[plugins]]
name = "truncated"
file = "libtruncated.so"

[[plugins]]
name = "garbage"
file = "libgarbage.so"
"#,
    );
    // The daemon starts (twice: admin_daemon restarts it) with both bad files in place.
    let (daemon, token) = admin_daemon(&config);
    let before = wait_for(&daemon, &token, "tsa", "up", is_up);
    for name in ["truncated", "garbage"] {
        let status = wait_for(&daemon, &token, name, "refused", |s| {
            s["lastReloadError"].is_string()
        });
        let error = status["lastReloadError"].as_str().unwrap();
        assert!(
            error.contains("is not a loadable shared object"),
            "{status}"
        );
        assert_eq!(status["generation"], 0, "{status}");
        assert_eq!(status["health"]["state"], "down", "{status}");
    }
    let error = instance(&daemon, &token, "truncated")["lastReloadError"].clone();
    assert!(error.as_str().unwrap().contains("truncated"), "{error}");
    assert!(
        daemon
            .logs()
            .contains("plugin load failed; the instance has never loaded"),
        "{}",
        daemon.logs()
    );
    let baseline = copies(&daemon);
    assert_eq!(
        baseline.len(),
        1,
        "only the serving generation's copy: {baseline:?}"
    );

    // Swapped in by reload: the running generation keeps serving, the error is reported.
    for (round, bytes) in [truncated("libsigil_tsa_http.so"), b"garbage".to_vec()]
        .into_iter()
        .enumerate()
    {
        install(plugins.path(), "libsigil_tsa_http.so", &bytes);
        let status = wait_for(&daemon, &token, "tsa", "refusing the bad file", |s| {
            s["lastReloadError"]
                .as_str()
                .is_some_and(|e| e.contains("is not a loadable shared object"))
        });
        assert_eq!(
            status["generation"], before["generation"],
            "round {round}: {status}"
        );
        let probed = daemon
            .post("/api/plugins/tsa/probe", &token, json!({}))
            .expect(200);
        assert_eq!(probed["generation"], before["generation"]);
        // The good file returns: the error clears and the recovery is logged.
        install(plugins.path(), "libsigil_tsa_http.so", &good);
        let status = wait_for(&daemon, &token, "tsa", "recovered", |s| {
            s["lastReloadError"].is_null()
        });
        assert_eq!(status["generation"], before["generation"], "{status}");
        assert!(is_up(&status), "{status}");
    }
    assert!(
        daemon
            .logs()
            .contains("plugin file is the serving generation's again; reload error cleared"),
        "{}",
        daemon.logs()
    );
    assert_eq!(copies(&daemon), baseline);
    daemon.get_public("/healthz").expect(200);
}

#[test]
fn reloads_of_a_bad_library_leave_no_private_copies() {
    let plugins = tempfile::tempdir().unwrap();
    let good = std::fs::read(built_plugin("libsigil_tsa_http.so")).unwrap();
    install(plugins.path(), "libsigil_tsa_http.so", &good);
    // A complete ELF library without the entry symbol: it gets as far as dlopen, so it is copied first.
    let scratch = tempfile::tempdir().unwrap();
    let missing_entry = std::fs::read(compile_c_fixture(
        "missing_entry.c",
        scratch.path(),
        "libmissing.so",
    ))
    .unwrap();
    let config = config_with(
        plugins.path(),
        r#"
[local_tsa]
enabled = false

[[plugins]]
name = "tsa"
file = "libsigil_tsa_http.so"
[plugins.config]
url = "http://127.0.0.1:9/"
slug = "tsa"
"#,
    );
    let (daemon, token) = admin_daemon(&config);
    let before = wait_for(&daemon, &token, "tsa", "up", is_up);
    let baseline = copies(&daemon);
    assert_eq!(baseline.len(), 1, "{baseline:?}");
    for round in 0..5u8 {
        // A different file each round (a trailing byte), so each is a reload attempt.
        let mut bytes = missing_entry.clone();
        bytes.push(round);
        install(plugins.path(), "libsigil_tsa_http.so", &bytes);
        wait_for_log_count(&daemon, "no entry symbol", usize::from(round) + 1);
    }
    let status = instance(&daemon, &token, "tsa");
    assert_eq!(status["generation"], before["generation"], "{status}");
    assert_eq!(copies(&daemon), baseline, "failed loads left copies behind");

    // A good reload replaces the copy: the superseded generation's file goes once it has drained.
    let mut newer = good.clone();
    newer.extend_from_slice(&[0, 1, 0xAA]);
    install(plugins.path(), "libsigil_tsa_http.so", &newer);
    wait_for(&daemon, &token, "tsa", "reloaded", |s| {
        s["generation"].as_u64() > before["generation"].as_u64() && is_up(s)
    });
    for _ in 0..400 {
        if copies(&daemon).len() == 1 && copies(&daemon) != baseline {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let now = copies(&daemon);
    assert_eq!(now.len(), 1, "{now:?}");
    assert_ne!(now, baseline, "the copy is the new generation's");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(daemon.data_dir().join("plugin-copies").join(&now[0]))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "copies are private");
    }
}

#[test]
fn a_re_created_instance_continues_the_generation_numbers() {
    let plugins = plugin_dir_with("libsigil_tsa_http.so");
    let base = r#"
[local_tsa]
enabled = false
"#;
    let entry = r#"
[[plugins]]
name = "tsa"
file = "libsigil_tsa_http.so"
[plugins.config]
url = "http://127.0.0.1:9/"
slug = "tsa"
"#;
    let (daemon, token) = admin_daemon(&config_with(plugins.path(), &format!("{base}{entry}")));
    let first = wait_for(&daemon, &token, "tsa", "up", is_up)["generation"]
        .as_u64()
        .unwrap();
    // Removed from the config, then added back: a new actor, but the numbering goes on.
    daemon.write_raw_config(&config_with(plugins.path(), base));
    daemon.sighup();
    wait_for_log_count(&daemon, "retiring it", 1);
    daemon.write_raw_config(&config_with(plugins.path(), &format!("{base}{entry}")));
    daemon.sighup();
    let again = wait_for(&daemon, &token, "tsa", "back", |s| {
        s["generation"].as_u64() > Some(0) && is_up(s)
    });
    assert!(
        again["generation"].as_u64().unwrap() > first,
        "generation went from {first} to {again}"
    );
}

#[test]
fn a_config_that_create_refuses_is_not_retried_in_the_background() {
    let plugins = plugin_dir_with("libsigil_fixture_faulty.so");
    let config = config_with(
        plugins.path(),
        r#"
[local_tsa]
enabled = false

[[plugins]]
name = "refused"
file = "libsigil_fixture_faulty.so"
[plugins.config]
mode = "no such mode"
"#,
    );
    let (daemon, token) = admin_daemon(&config);
    let status = wait_for(&daemon, &token, "refused", "refused", |s| {
        s["lastReloadError"].is_string()
    });
    let error = status["lastReloadError"].as_str().unwrap();
    assert!(error.contains("create failed"), "{status}");
    assert!(error.contains("not retrying"), "{status}");
    assert_eq!(status["retrying"], false, "{status}");
    assert_eq!(status["health"]["state"], "down", "{status}");
    // Background retries start at 200 ms and double: several would have run by now.
    std::thread::sleep(Duration::from_secs(3));
    let failures = daemon
        .metrics()
        .lines()
        .find(|l| l.starts_with("sigil_plugin_reload_failures_total{instance=\"refused\"}"))
        .map(str::to_string)
        .unwrap_or_default();
    assert!(
        failures.ends_with(" 1"),
        "one attempt, no retries: {failures:?}"
    );
    assert!(
        daemon
            .logs()
            .contains("did not load; not retrying until the config or the file changes"),
        "{}",
        daemon.logs()
    );
}

#[test]
fn a_call_queued_behind_max_in_flight_says_it_never_reached_the_plugin() {
    let plugins = plugin_dir_with("libsigil_fixture_faulty.so");
    let config = config_with(
        plugins.path(),
        r#"
[local_tsa]
enabled = false

[[plugins]]
name = "slow"
file = "libsigil_fixture_faulty.so"
[plugins.config]
mode = "slow"
delay_ms = 4000
ops = ["describe"]
"#,
    )
    .replace(
        "[plugin_host]\n",
        "[plugin_host]\nmax_in_flight = 1\ncall_timeout = \"1s\"\n",
    );
    let (daemon, token) = admin_daemon(&config);
    wait_for(&daemon, &token, "slow", "up", is_up);
    let daemon = Arc::new(daemon);
    let first = {
        let (daemon, token) = (daemon.clone(), token.clone());
        std::thread::spawn(move || daemon.post("/api/plugins/slow/probe", &token, json!({})))
    };
    // The second call queues behind the first, which holds the one slot for the plugin's whole delay.
    wait_for(&daemon, &token, "slow", "busy", |s| {
        s["calls"].as_u64() >= Some(1)
    });
    let queued = daemon.post("/api/plugins/slow/probe", &token, json!({}));
    let first = first.join().unwrap();
    assert_error(&first, 502, "BAD_GATEWAY");
    assert_error(&queued, 502, "BAD_GATEWAY");
    assert!(
        first
            .text
            .contains("the plugin did not answer within 1000ms"),
        "{}",
        first.text
    );
    assert!(
        queued.text.contains("never reached the plugin"),
        "{} {}",
        queued.status,
        queued.text
    );
}

#[test]
fn a_hung_kms_fails_tsr_fast_and_turns_readiness_red() {
    let plugins = plugin_dir_with("libsigil_fixture_hanging_kms.so");
    let hang = plugins.path().join("hang");
    let config = stamping_config(
        &format!(
            "dir = \"{}\"\ncall_timeout = \"1s\"",
            plugins.path().display()
        ),
        &format!(
            r#"
[[plugins]]
name = "local-kms"
file = "libsigil_fixture_hanging_kms.so"
[plugins.config]
hang_file = "{}"
"#,
            hang.display()
        ),
    );
    let daemon = Daemon::start_raw_with_env(&config, &[]);
    crate::timestamping::wait_local_tsa(&daemon);
    assert_eq!(post_tsr(&daemon, &random_digest()), Ok(0));
    wait_for_readiness(&daemon, 200);
    let (token, _) = daemon.register("Ann", "ann@example.org", PASSWORD);

    std::fs::write(&hang, b"").unwrap();
    let daemon = Arc::new(daemon);
    let stampers: Vec<_> = (0..4)
        .map(|_| {
            let daemon = daemon.clone();
            std::thread::spawn(move || post_tsr(&daemon, &random_digest()))
        })
        .collect();
    // Other routes answer while the KMS hangs.
    for _ in 0..5 {
        daemon.get_public("/healthz").expect(200);
        daemon.get("/auth/me", &token).expect(200);
    }
    for stamper in stampers {
        // A refusal in RFC 3161 terms (PKIStatus rejection), within the client's own time-out.
        assert_eq!(stamper.join().unwrap(), Ok(2));
    }
    let red = wait_for_readiness(&daemon, 503);
    assert_eq!(red["details"]["localTsa"], "down", "{red}");
    let metrics = daemon.metrics();
    assert!(
        metrics.contains("sigil_tsr_refused_total{reason=\"systemFailure\"}"),
        "{metrics}"
    );

    std::fs::remove_file(&hang).unwrap();
    let ready = wait_for_readiness(&daemon, 200);
    assert_eq!(ready["localTsa"], "up", "{ready}");
    assert_eq!(post_tsr(&daemon, &random_digest()), Ok(0));
}

#[test]
fn the_local_tsa_follows_its_kms_instance_when_it_is_removed_and_added_back() {
    let (daemon, admin) = admin_daemon(&stamping_config("", ""));
    crate::timestamping::wait_local_tsa(&daemon);
    let first = wait_for(&daemon, &admin, "local-kms", "up", is_up)["generation"]
        .as_u64()
        .unwrap();
    assert_eq!(post_tsr(&daemon, &random_digest()), Ok(0));
    assert_eq!(wait_for_readiness(&daemon, 200)["localTsa"], "up");

    // Declared and disabled: the instance leaves the config, and the local TSA cannot sign.
    daemon.write_raw_config(&stamping_config(
        "",
        "[[plugins]]\nname = \"local-kms\"\nfile = \"libsigil_kms_soft.so\"\nenabled = false\n",
    ));
    daemon.sighup();
    wait_for_log_count(&daemon, "retiring it", 1);
    let red = wait_for_readiness(&daemon, 503);
    assert_eq!(red["details"]["localTsa"], "down", "{red}");
    assert_eq!(post_tsr(&daemon, &random_digest()), Ok(2));

    // Back as it was: a new actor, found again by name, numbering continued.
    daemon.write_raw_config(&stamping_config("", ""));
    daemon.sighup();
    wait_for_log_count(&daemon, "configuration reloaded", 2);
    let again = wait_for(&daemon, &admin, "local-kms", "back", |s| {
        s["generation"].as_u64() > Some(first) && is_up(s)
    });
    assert!(again["generation"].as_u64().unwrap() > first, "{again}");
    assert_eq!(wait_for_readiness(&daemon, 200)["localTsa"], "up");
    assert_eq!(post_tsr(&daemon, &random_digest()), Ok(0));
    let owner = daemon.owner_with_tenant();
    daemon
        .post(
            "/tsa/stamp-hash",
            &owner.token,
            json!({ "hashHex": hex(&random_digest()) }),
        )
        .expect(200);
}

/// Continuous stamping on the local TSA, one client on `POST /tsr` and one on `POST /tsa/stamp-hash`; every
/// answer must be a granted token.
struct StampLoad {
    daemon: Arc<Daemon>,
    stop: Arc<AtomicBool>,
    succeeded: Arc<AtomicUsize>,
    clients: Vec<std::thread::JoinHandle<Vec<String>>>,
}

impl StampLoad {
    fn start(daemon: &Arc<Daemon>, token: &str) -> StampLoad {
        let stop = Arc::new(AtomicBool::new(false));
        let succeeded = Arc::new(AtomicUsize::new(0));
        let mut clients = Vec::new();
        for route in ["tsr", "stamp-hash"] {
            let (daemon, stop, succeeded) = (daemon.clone(), stop.clone(), succeeded.clone());
            let token = token.to_string();
            clients.push(std::thread::spawn(move || {
                let mut failures = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let digest = random_digest();
                    let outcome = if route == "tsr" {
                        match post_tsr(&daemon, &digest) {
                            Ok(0 | 1) => Ok(()),
                            Ok(status) => Err(format!("/tsr refused with PKIStatus {status}")),
                            Err(error) => Err(error),
                        }
                    } else {
                        let reply = daemon.post(
                            "/tsa/stamp-hash",
                            &token,
                            json!({ "hashHex": hex(&digest) }),
                        );
                        match reply.status {
                            200 => Ok(()),
                            status => {
                                Err(format!("/tsa/stamp-hash answered {status}: {}", reply.text))
                            }
                        }
                    };
                    match outcome {
                        Ok(()) => {
                            succeeded.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(error) => failures.push(error),
                    }
                }
                failures
            }));
        }
        StampLoad {
            daemon: daemon.clone(),
            stop,
            succeeded,
            clients,
        }
    }

    /// Waits (bounded by attempts) until `more` further stamps succeeded.
    #[track_caller]
    fn wait_for_stamps(&self, more: usize) {
        let target = self.succeeded.load(Ordering::Relaxed) + more;
        for _ in 0..1200 {
            if self.succeeded.load(Ordering::Relaxed) >= target {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("stamping stalled; log:\n{}", self.daemon.logs());
    }

    /// Stops the clients and asserts that no request failed during `what`.
    #[track_caller]
    fn stop_without_failures(self, what: &str) {
        self.stop.store(true, Ordering::Relaxed);
        let failures: Vec<String> = self
            .clients
            .into_iter()
            .flat_map(|c| c.join().unwrap())
            .collect();
        assert!(
            failures.is_empty(),
            "{} requests failed across {what}, e.g. {:?}",
            failures.len(),
            &failures[..failures.len().min(5)]
        );
    }
}

#[test]
fn truncated_garbage_and_missing_kms_files_under_load_never_fail_a_stamp() {
    // The local TSA's KMS (the implicit `local-kms`, kms-soft) comes from a plugin directory of this test's
    // own, watched, so that every file change is a reload attempt while two clients stamp.
    let plugins = tempfile::tempdir().unwrap();
    let good = std::fs::read(built_plugin("libsigil_kms_soft.so")).unwrap();
    install(plugins.path(), "libsigil_kms_soft.so", &good);
    let config = config_with(plugins.path(), "");
    let (daemon, admin) = admin_daemon(&config);
    crate::timestamping::wait_local_tsa(&daemon);
    let before = wait_for(&daemon, &admin, "local-kms", "up", is_up);
    let owner = daemon.owner_with_tenant();
    let daemon = Arc::new(daemon);
    let load = StampLoad::start(&daemon, &owner.token);
    load.wait_for_stamps(10);
    for (what, bytes) in [
        ("a truncated file", Some(truncated("libsigil_kms_soft.so"))),
        ("a garbage file", Some(b"garbage, not a library".to_vec())),
        ("a missing file", None),
    ] {
        match bytes {
            Some(bytes) => install(plugins.path(), "libsigil_kms_soft.so", &bytes),
            None => std::fs::remove_file(plugins.path().join("libsigil_kms_soft.so")).unwrap(),
        }
        let status = wait_for(&daemon, &admin, "local-kms", what, |s| {
            s["lastReloadError"].is_string()
        });
        assert_eq!(
            status["generation"], before["generation"],
            "{what}: {status}"
        );
        // The running generation keeps signing, and readiness says so.
        load.wait_for_stamps(10);
        let ready = daemon.get_public("/readyz").expect(200);
        assert_eq!(ready["localTsa"], "up", "{what}: {ready}");
        install(plugins.path(), "libsigil_kms_soft.so", &good);
        let status = wait_for(&daemon, &admin, "local-kms", "recovered", |s| {
            s["lastReloadError"].is_null()
        });
        assert_eq!(
            status["generation"], before["generation"],
            "{what}: {status}"
        );
        load.wait_for_stamps(10);
    }
    load.stop_without_failures("bad plugin files");
}
