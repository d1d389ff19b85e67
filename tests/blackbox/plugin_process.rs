//! `isolation = "process"`: a native plugin that aborts, segfaults, exits, hangs or writes to its stdout costs
//! only the calls in flight to its own child process. Each test keeps tenants stamping (through the local TSA
//! and its KMS, another instance) and a second process-isolated instance answering while the fault strikes,
//! then proves the faulty instance came back in a new process. And the local TSA's KMS in process mode: `/tsr`
//! and tenant stamps through the process hop.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use serde_json::{Value, json};

use crate::harness::Daemon;
use crate::harness::FAST_TEST_BASE;
use crate::plugin_faults::{post_tsr, random_digest};
use crate::plugins::{admin_daemon, built_plugin, compile_c_fixture, instance, is_up, wait_for};
use crate::timestamping::{fresh_hash, stamp, wait_local_tsa};

/// A plugin directory with the crashy fixture and kms-soft (the local TSA's default KMS).
fn plugin_dir() -> tempfile::TempDir {
    let plugins = tempfile::tempdir().unwrap();
    compile_c_fixture("crashy.c", plugins.path(), "libcrashy.so");
    let kms = built_plugin("libsigil_kms_soft.so");
    std::fs::copy(&kms, plugins.path().join("libsigil_kms_soft.so")).unwrap();
    plugins
}

fn config(plugins: &Path, mode: &str, extra: &str) -> String {
    format!(
        r#"
{FAST_TEST_BASE}

[plugin_host]
dir = "{dir}"
watch = false
health_interval = "1s"
call_timeout = "2s"

[[plugins]]
name = "crashy"
file = "libcrashy.so"
isolation = "process"
[plugins.config]
mode = "{mode}"
trigger = "{dir}/trigger"

[[plugins]]
name = "neighbour"
file = "libcrashy.so"
isolation = "process"
[plugins.config]
mode = "{mode}"
trigger = "{dir}/never"

{extra}
"#,
        dir = plugins.display()
    )
}

/// Tenants stamping (tenant API and `/tsr`) on another thread until stopped; answers how many succeeded, and
/// every failure.
struct Stampers {
    stop: Arc<AtomicBool>,
    done: Arc<AtomicUsize>,
    thread: std::thread::JoinHandle<Vec<String>>,
}

impl Stampers {
    fn start(daemon: &Arc<Daemon>) -> Stampers {
        let owner = daemon.owner_with_tenant();
        let other = daemon.owner_with_tenant();
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicUsize::new(0));
        let (daemon, flag, count) = (daemon.clone(), stop.clone(), done.clone());
        let thread = std::thread::spawn(move || {
            let mut failures = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                for token in [&owner.token, &other.token] {
                    let reply = stamp(&daemon, token, json!({ "hashHex": fresh_hash() }));
                    if reply.status != 200 {
                        failures.push(format!("stamp-hash: {} {}", reply.status, reply.text));
                    }
                }
                match post_tsr(&daemon, &random_digest()) {
                    Ok(0) => {}
                    other => failures.push(format!("/tsr: {other:?}")),
                }
                count.fetch_add(1, Ordering::Relaxed);
            }
            failures
        });
        Stampers { stop, done, thread }
    }

    /// Waits until at least `rounds` more rounds have completed.
    fn wait_rounds(&self, rounds: usize) {
        let target = self.done.load(Ordering::Relaxed) + rounds;
        for _ in 0..2000 {
            if self.done.load(Ordering::Relaxed) >= target || self.thread.is_finished() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    fn finish(self) -> (usize, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        let failures = self.thread.join().unwrap();
        (self.done.load(Ordering::Relaxed), failures)
    }
}

fn probe(daemon: &Daemon, token: &str, name: &str) -> crate::harness::Reply {
    daemon.post(&format!("/api/plugins/{name}/probe"), token, json!({}))
}

/// Arms the fault, makes the call that triggers it, and checks that its error says what happened, that the
/// daemon and its other instances serve throughout, and that the instance recovers in a new process.
fn survives(mode: &str, expected: &[&str]) {
    let plugins = plugin_dir();
    let (daemon, admin) = admin_daemon(&config(plugins.path(), mode, ""));
    wait_local_tsa(&daemon);
    let before = wait_for(&daemon, &admin, "crashy", "up", is_up);
    assert_eq!(before["isolation"], "process", "{before}");
    assert_eq!(before["crashes"], 0, "{before}");
    let old_pid = before["pid"].as_u64().expect("a child pid");
    assert_ne!(old_pid, u64::from(daemon.pid() as u32));
    wait_for(&daemon, &admin, "neighbour", "up", is_up);
    probe(&daemon, &admin, "crashy").expect(200);

    let daemon = Arc::new(daemon);
    let stampers = Stampers::start(&daemon);
    stampers.wait_rounds(2);
    std::fs::write(plugins.path().join("trigger"), b"").unwrap();
    let failed = probe(&daemon, &admin, "crashy");
    assert_eq!(failed.status, 502, "{}", failed.text);
    let error = failed.json()["error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    for fragment in expected {
        assert!(
            error.contains(fragment),
            "{fragment:?} missing from {error:?}; log:\n{}",
            daemon.logs()
        );
    }
    // The other process-isolated instance answers while the faulty one is down or restarting.
    let neighbour = probe(&daemon, &admin, "neighbour").expect(200);
    assert_eq!(neighbour["response"]["slug"], "crashy", "{neighbour}");

    let after = wait_for(
        &daemon,
        &admin,
        "crashy",
        "back in a new process",
        |status: &Value| {
            is_up(status)
                && status["crashes"].as_u64() >= Some(1)
                && status["pid"].as_u64().is_some_and(|pid| pid != old_pid)
        },
    );
    let recovered = probe(&daemon, &admin, "crashy").expect(200);
    assert_eq!(recovered["response"]["name"], "Crashy", "{recovered}");
    assert_eq!(
        instance(&daemon, &admin, "neighbour")["crashes"],
        0,
        "the neighbour's process was never touched"
    );
    stampers.wait_rounds(2);
    let (rounds, failures) = stampers.finish();
    assert!(rounds >= 4, "only {rounds} stamping rounds");
    assert!(failures.is_empty(), "tenants saw failures: {failures:?}");
    daemon.get_public("/healthz").expect(200);
    let logs = daemon.logs();
    assert!(
        logs.contains("plugin process died; starting a new one"),
        "{logs}"
    );
    assert!(after["generation"].as_u64() > before["generation"].as_u64());
}

#[test]
fn a_plugin_that_aborts_costs_only_its_own_calls() {
    survives(
        "abort",
        &[
            "plugin instance crashy (process ",
            "died: signal 6 (SIGABRT)",
            "last stderr: crashy: about to abort",
        ],
    );
}

#[test]
fn a_plugin_that_segfaults_costs_only_its_own_calls() {
    survives(
        "segv",
        &[
            "plugin instance crashy (process ",
            "died: signal 11 (SIGSEGV)",
            "crashy: about to segv",
        ],
    );
}

#[test]
fn a_plugin_that_exits_costs_only_its_own_calls() {
    survives(
        "exit",
        &[
            "plugin instance crashy (process ",
            "exited with status 3",
            "crashy: about to exit",
        ],
    );
}

#[test]
fn a_hung_plugin_times_out_and_its_process_is_replaced() {
    survives("hang", &["did not answer within 2000ms"]);
}

#[test]
fn a_plugin_that_writes_to_stdout_is_a_protocol_error_and_is_replaced() {
    survives(
        "stdout",
        &[
            "plugin instance crashy (process ",
            "protocol error",
            "bad frame magic",
        ],
    );
}

#[test]
fn the_local_tsa_signs_through_a_process_isolated_kms() {
    let plugins = plugin_dir();
    let kek = plugins.path().join("kek");
    std::fs::write(&kek, [7u8; 32]).unwrap();
    std::fs::set_permissions(&kek, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let extra = format!(
        r#"
[[plugins]]
name = "local-kms"
file = "libsigil_kms_soft.so"
isolation = "process"
[plugins.config]
dir = "{}"
key_file = "{}"
"#,
        plugins.path().join("keystore").display(),
        kek.display()
    );
    let (daemon, admin) = admin_daemon(&config(plugins.path(), "abort", &extra));
    wait_local_tsa(&daemon);
    let kms = wait_for(&daemon, &admin, "local-kms", "up", is_up);
    assert_eq!(kms["isolation"], "process", "{kms}");
    assert!(kms["pid"].as_u64().is_some(), "{kms}");
    for _ in 0..5 {
        assert_eq!(post_tsr(&daemon, &random_digest()), Ok(0));
    }
    let owner = daemon.owner_with_tenant();
    let stamped = stamp(&daemon, &owner.token, json!({ "hashHex": fresh_hash() })).expect(200);
    assert!(stamped["tsrBase64"].as_str().is_some(), "{stamped}");
    let kms = instance(&daemon, &admin, "local-kms");
    let calls = kms["calls"].as_u64().unwrap();
    assert!(calls >= 6, "{calls} KMS calls");

    // The child outlives the thread that started it: PR_SET_PDEATHSIG fires when the forking *thread* exits,
    // and tokio retires idle blocking-pool threads after 10 s, so the child must not be forked from one.
    std::thread::sleep(std::time::Duration::from_secs(12));
    assert_eq!(post_tsr(&daemon, &random_digest()), Ok(0));
    let later = instance(&daemon, &admin, "local-kms");
    assert_eq!(later["pid"], kms["pid"], "{later}");
    assert_eq!(later["crashes"], 0, "{later}");
}

/// Whether a process with this pid still exists (a reaped child is gone from `/proc`).
fn alive(pid: u64) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn a_reload_starts_a_new_child_the_old_one_exits_and_pins_hold() {
    let plugins = plugin_dir();
    let library = plugins.path().join("libcrashy.so");
    let pin = crate::timestamping::sha256_hex(&std::fs::read(&library).unwrap());
    let pinned = |pin: &str| {
        config(
            plugins.path(),
            "abort",
            &format!(
                r#"
[[plugins]]
name = "pinned"
file = "libcrashy.so"
sha256 = "{pin}"
isolation = "process"
[plugins.config]
mode = "abort"
trigger = "{}/never"
"#,
                plugins.path().display()
            ),
        )
    };
    let (daemon, admin) = admin_daemon(&pinned(&pin));
    let first = wait_for(&daemon, &admin, "pinned", "up", is_up);
    let old_pid = first["pid"].as_u64().expect("a child pid");
    assert!(alive(old_pid));
    assert_eq!(first["sha256"], pin.as_str(), "{first}");

    // A config change is a reload: a new generation in a new child; the drained one's child exits.
    daemon.write_raw_config(&pinned(&pin).replace("/never\"", "/never-again\""));
    daemon.sighup();
    let second = wait_for(&daemon, &admin, "pinned", "reloaded", |status: &Value| {
        status["generation"].as_u64() > first["generation"].as_u64() && is_up(status)
    });
    let new_pid = second["pid"].as_u64().expect("a child pid");
    assert_ne!(new_pid, old_pid);
    probe(&daemon, &admin, "pinned").expect(200);
    for _ in 0..400 {
        if !alive(old_pid) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(!alive(old_pid), "the old child {old_pid} never exited");
    assert_eq!(second["crashes"], 0, "a drained child's exit is no crash");

    // A pin that does not match is refused in the parent, before any child starts: the running one stays.
    daemon.write_raw_config(&pinned(&"0".repeat(64)).replace("/never\"", "/never-again\""));
    daemon.sighup();
    let refused = wait_for(&daemon, &admin, "pinned", "refused", |status: &Value| {
        status["lastReloadError"].as_str().is_some()
    });
    let error = refused["lastReloadError"].as_str().unwrap();
    assert!(error.contains("but the config pins"), "{error}");
    assert_eq!(refused["pid"].as_u64(), Some(new_pid), "{refused}");
    assert!(alive(new_pid));
    probe(&daemon, &admin, "pinned").expect(200);
}
