//! The plugin host: first-party plugins from a plain build, a plugin written in C, broken plugins refused with the
//! daemon staying up, pins and confinement, and hot reload under continuous load without a single failure.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use serde_json::Value;

use crate::harness::{Daemon, FAST_TEST_BASE, PASSWORD, SIGILD, str_field};

/// Settings every plugin test shares: the test's own plugin directory, a fast debounce, and the base limits.
pub(crate) fn config_with(plugin_dir: &Path, instances: &str) -> String {
    format!(
        r#"
{FAST_TEST_BASE}

[plugin_host]
dir = "{}"
debounce = "100ms"
health_interval = "1s"

{instances}
"#,
        plugin_dir.display()
    )
}

/// Where `cargo build --workspace` put the plugins: next to `sigild`.
fn build_dir() -> PathBuf {
    Path::new(SIGILD)
        .parent()
        .expect("sigild has a directory")
        .to_path_buf()
}

/// A plugin built by the workspace, or a clear failure naming the command that builds it.
pub(crate) fn built_plugin(file: &str) -> PathBuf {
    let path = build_dir().join(file);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace` first (tests/run-all.sh does)",
        path.display()
    );
    path
}

/// A daemon with this config whose first account is an instance administrator; returns its session token.
pub(crate) fn admin_daemon(config: &str) -> (Daemon, String) {
    let mut daemon = Daemon::start();
    daemon.write_raw_config(config);
    daemon.register("Root", "root@example.org", PASSWORD);
    assert!(daemon.stop().success());
    let granted = daemon.run_cli(&["admin", "grant", "root@example.org"]);
    assert!(
        granted.status.success(),
        "{}",
        String::from_utf8_lossy(&granted.stderr)
    );
    daemon.restart();
    let token = str_field(&daemon.login("root@example.org", PASSWORD), "token");
    (daemon, token)
}

pub(crate) fn instances(daemon: &Daemon, token: &str) -> Vec<Value> {
    let listing = daemon.get("/api/plugins", token).expect(200);
    listing["instances"]
        .as_array()
        .expect("instances array")
        .clone()
}

pub(crate) fn instance(daemon: &Daemon, token: &str, name: &str) -> Value {
    instances(daemon, token)
        .into_iter()
        .find(|i| i["name"] == name)
        .unwrap_or_else(|| panic!("no instance {name}"))
}

/// Waits (bounded by attempts, not by a clock assertion) until the instance satisfies `ready`.
pub(crate) fn wait_for(
    daemon: &Daemon,
    token: &str,
    name: &str,
    what: &str,
    ready: impl Fn(&Value) -> bool,
) -> Value {
    for _ in 0..400 {
        let status = instance(daemon, token, name);
        if ready(&status) {
            return status;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!(
        "instance {name} never became {what}: {}\nlog:\n{}",
        instance(daemon, token, name),
        daemon.logs()
    );
}

pub(crate) fn is_up(status: &Value) -> bool {
    status["health"]["state"] == "up"
}

fn sha256_hex(path: &Path) -> String {
    let output = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum");
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

pub(crate) fn compile_c_fixture(source: &str, out_dir: &Path, library: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root");
    let output_path = out_dir.join(library);
    let status = Command::new("cc")
        .args([
            "-std=c11", "-Wall", "-Wextra", "-Werror", "-O2", "-shared", "-fPIC", "-I",
        ])
        .arg(root.join("plugin-api/include"))
        .arg("-o")
        .arg(&output_path)
        .arg(root.join("tests/fixtures/plugins").join(source))
        .status()
        .expect("running cc (install gcc)");
    assert!(status.success(), "compiling {source} failed");
    output_path
}

/// An OpenSSL TSA key, certificate (critical timeStamping EKU) and `[tsa]` config in `dir`.
pub(crate) fn openssl_tsa_files(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let (key, cert, config) = (
        dir.join("tsa.key"),
        dir.join("tsa.pem"),
        dir.join("openssl.cnf"),
    );
    let run = |args: &[&str]| {
        let status = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .status()
            .expect("running openssl");
        assert!(status.success(), "openssl {args:?} failed");
    };
    run(&[
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-out",
        "tsa.key",
    ]);
    run(&[
        "req",
        "-new",
        "-x509",
        "-key",
        "tsa.key",
        "-out",
        "tsa.pem",
        "-days",
        "30",
        "-subj",
        "/CN=Test TSA",
        "-addext",
        "extendedKeyUsage=critical,timeStamping",
        "-addext",
        "keyUsage=critical,digitalSignature",
    ]);
    std::fs::write(dir.join("serial"), "01\n").unwrap();
    std::fs::write(
        &config,
        format!(
            "[ tsa ]\ndefault_tsa = tsa_config\n[ tsa_config ]\nserial = {}/serial\nsigner_digest = sha256\n\
             default_policy = 1.3.6.1.4.1.32473.1\ndigests = sha256, sha384, sha512\naccuracy = secs:1\n\
             ess_cert_id_alg = sha256\n",
            dir.display()
        ),
    )
    .unwrap();
    (key, cert, config)
}

#[test]
fn first_party_plugins_load_into_the_real_daemon() {
    let plugins = tempfile::tempdir().unwrap();
    let secret = plugins.path().join("webhook-secret");
    std::fs::write(&secret, "0123456789abcdef0123456789abcdef").unwrap();
    let kek = plugins.path().join("kek");
    std::fs::write(&kek, [7u8; 32]).unwrap();
    std::fs::set_permissions(&kek, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let tsa = built_plugin("libsigil_tsa_http.so");
    let push = built_plugin("libsigil_push_webhook.so");
    let kms = built_plugin("libsigil_kms_soft.so");
    for file in [&tsa, &push, &kms] {
        std::fs::copy(file, plugins.path().join(file.file_name().unwrap())).unwrap();
    }
    let config = config_with(
        plugins.path(),
        &format!(
            r#"
[[plugins]]
name = "digicert"
file = "libsigil_tsa_http.so"
sha256 = "{}"
[plugins.config]
url = "http://127.0.0.1:9/tsa"
slug = "digicert"
name = "DigiCert"
hash = "sha256"

[[plugins]]
name = "webhook"
file = "libsigil_push_webhook.so"
[plugins.config]
url = "http://127.0.0.1:9/hook"
secret_file = "{}"
allow_private_networks = ["127.0.0.1/32"]

[[plugins]]
name = "keys"
file = "libsigil_kms_soft.so"
[plugins.config]
dir = "{}"
key_file = "{}"
"#,
            sha256_hex(&tsa),
            secret.display(),
            plugins.path().join("keystore").display(),
            kek.display()
        ),
    );
    let (daemon, token) = admin_daemon(&config);
    let digicert = wait_for(&daemon, &token, "digicert", "up", is_up);
    assert_eq!(digicert["kind"], "tsa_backend");
    assert_eq!(digicert["abiVersion"], "1.0");
    assert_eq!(digicert["plugin"], "tsa-http");
    assert_eq!(digicert["sha256"], sha256_hex(&tsa));
    assert!(digicert["generation"].as_u64().unwrap() >= 1);
    let webhook = wait_for(&daemon, &token, "webhook", "up", is_up);
    assert_eq!(webhook["kind"], "push_channel");
    let keys = wait_for(&daemon, &token, "keys", "up", is_up);
    assert_eq!(keys["kind"], "kms_signer");
    let listed = daemon
        .post("/api/plugins/keys/probe", &token, serde_json::json!({}))
        .expect(200);
    assert_eq!(
        listed["response"]["keys"],
        serde_json::json!([]),
        "{listed}"
    );

    let described = daemon
        .post("/api/plugins/digicert/probe", &token, serde_json::json!({}))
        .expect(200);
    assert_eq!(described["response"]["slug"], "digicert", "{described}");
    let validated = daemon
        .post(
            "/api/plugins/webhook/probe",
            &token,
            serde_json::json!({ "recipient": "https://device.example/x" }),
        )
        .expect(200);
    assert_eq!(validated["response"]["valid"], true, "{validated}");
    // The SSRF guard: a recipient at a cloud metadata address is refused, allowlist or not.
    let metadata = daemon
        .post(
            "/api/plugins/webhook/probe",
            &token,
            serde_json::json!({ "recipient": "http://169.254.169.254/latest/meta-data/" }),
        )
        .expect(200);
    assert_eq!(metadata["response"]["valid"], false, "{metadata}");
    assert!(
        metadata["response"]["reason"]
            .as_str()
            .is_some_and(|reason| reason.contains("cloud metadata")),
        "{metadata}"
    );
    let counted = instance(&daemon, &token, "digicert");
    assert!(counted["calls"].as_u64().unwrap() >= 1, "{counted}");

    // Everyone who is not an instance administrator is refused.
    let owner = daemon.owner_with_tenant();
    crate::harness::assert_error(&daemon.get("/api/plugins", &owner.token), 403, "FORBIDDEN");
    crate::harness::assert_error(
        &daemon.post(
            "/api/plugins/digicert/probe",
            &owner.token,
            serde_json::json!({}),
        ),
        403,
        "FORBIDDEN",
    );
    crate::harness::assert_error(
        &daemon.post("/api/plugins/nope/probe", &token, serde_json::json!({})),
        404,
        "NOT_FOUND",
    );
}

#[test]
fn a_plugin_written_in_c_loads_and_answers() {
    let plugins = tempfile::tempdir().unwrap();
    compile_c_fixture("tsa_openssl.c", plugins.path(), "libtsa_openssl.so");
    let tsa = tempfile::tempdir().unwrap();
    let (key, cert, openssl_config) = openssl_tsa_files(tsa.path());
    let config = config_with(
        plugins.path(),
        &format!(
            r#"
[[plugins]]
name = "openssl-tsa"
file = "libtsa_openssl.so"
[plugins.config]
key = "{}"
cert = "{}"
openssl_config = "{}"
slug = "c-tsa"
name = "TSA written in C"
"#,
            key.display(),
            cert.display(),
            openssl_config.display()
        ),
    );
    let (daemon, token) = admin_daemon(&config);
    let status = wait_for(&daemon, &token, "openssl-tsa", "loaded", |s| {
        s["generation"].as_u64() >= Some(1)
    });
    assert_eq!(status["kind"], "tsa_backend");
    assert_eq!(status["plugin"], "tsa-openssl");
    let described = daemon
        .post(
            "/api/plugins/openssl-tsa/probe",
            &token,
            serde_json::json!({}),
        )
        .expect(200);
    assert_eq!(described["response"]["slug"], "c-tsa", "{described}");
    assert_eq!(
        described["response"]["name"], "TSA written in C",
        "{described}"
    );
}

#[test]
fn broken_plugins_are_refused_and_the_daemon_stays_up() {
    let plugins = tempfile::tempdir().unwrap();
    compile_c_fixture("missing_entry.c", plugins.path(), "libmissing_entry.so");
    compile_c_fixture("wrong_major.c", plugins.path(), "libwrong_major.so");
    std::fs::copy(
        built_plugin("libsigil_fixture_faulty.so"),
        plugins.path().join("libsigil_fixture_faulty.so"),
    )
    .unwrap();
    std::fs::write(
        plugins.path().join("libnot_a_library.so"),
        b"this is not an ELF file",
    )
    .unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::copy(
        built_plugin("libsigil_tsa_http.so"),
        outside.path().join("outside.so"),
    )
    .unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("outside.so"),
        plugins.path().join("libescape.so"),
    )
    .unwrap();
    let config = config_with(
        plugins.path(),
        r#"
[[plugins]]
name = "missing-entry"
file = "libmissing_entry.so"

[[plugins]]
name = "wrong-major"
file = "libwrong_major.so"

[[plugins]]
name = "not-a-library"
file = "libnot_a_library.so"

[[plugins]]
name = "escape"
file = "libescape.so"

[[plugins]]
name = "pinned-wrong"
file = "libsigil_fixture_faulty.so"
sha256 = "0000000000000000000000000000000000000000000000000000000000000000"
[plugins.config]
mode = "panic"

[[plugins]]
name = "panicky"
file = "libsigil_fixture_faulty.so"
[plugins.config]
mode = "ok_once_then_panic"
ops = ["describe"]

[[plugins]]
name = "garbage"
file = "libsigil_fixture_faulty.so"
[plugins.config]
mode = "garbage"
ops = ["describe"]
"#,
    );
    let (daemon, token) = admin_daemon(&config);
    let refused = |name: &str, needle: &str| {
        let status = wait_for(&daemon, &token, name, "refused", |s| {
            s["lastReloadError"].is_string()
        });
        let error = status["lastReloadError"].as_str().unwrap();
        assert!(
            error.contains(needle),
            "{name}: `{error}` should mention `{needle}`"
        );
        assert_eq!(status["health"]["state"], "down", "{status}");
        assert_eq!(status["generation"], 0, "{status}");
    };
    refused("missing-entry", "sigil_plugin_entry_v1");
    refused("wrong-major", "abi_major");
    refused("not-a-library", "not a loadable shared object");
    refused("escape", "outside the plugin directory");
    refused("pinned-wrong", "pins");

    // A panic costs the one call: the instance is re-created and answers again.
    let first = daemon
        .post("/api/plugins/panicky/probe", &token, serde_json::json!({}))
        .expect(200);
    let generation = first["generation"].as_u64().unwrap();
    let panicked = daemon.post("/api/plugins/panicky/probe", &token, serde_json::json!({}));
    crate::harness::assert_error(&panicked, 502, "BAD_GATEWAY");
    assert_eq!(
        panicked.json()["details"]["status"],
        "panicked",
        "{}",
        panicked.text
    );
    let recreated = wait_for(&daemon, &token, "panicky", "re-created", |s| {
        s["generation"].as_u64() > Some(generation) && is_up(s)
    });
    assert_eq!(recreated["panics"], 1, "{recreated}");
    daemon
        .post("/api/plugins/panicky/probe", &token, serde_json::json!({}))
        .expect(200);

    // Garbage is a failed call, never trusted.
    let garbage = daemon.post("/api/plugins/garbage/probe", &token, serde_json::json!({}));
    crate::harness::assert_error(&garbage, 502, "BAD_GATEWAY");

    daemon.get_public("/healthz").expect(200);
    // Its plugin directory has no kms-soft, so the local TSA cannot sign: readiness says so.
    let ready = daemon.get_public("/readyz");
    crate::harness::assert_error(&ready, 503, "SERVICE_UNAVAILABLE");
    assert_eq!(
        ready.json()["details"]["localTsa"],
        "down",
        "{}",
        ready.text
    );
}

#[test]
fn a_failed_reload_keeps_the_running_generation() {
    let plugins = tempfile::tempdir().unwrap();
    let file = plugins.path().join("libsigil_tsa_http.so");
    std::fs::copy(built_plugin("libsigil_tsa_http.so"), &file).unwrap();
    let config = config_with(
        plugins.path(),
        r#"
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
    // Replace the file with something that is not a library: the reload fails, the old code keeps serving.
    let staged = plugins.path().join(".staged");
    std::fs::write(&staged, b"definitely not an ELF shared object").unwrap();
    std::fs::rename(&staged, &file).unwrap();
    let after = wait_for(&daemon, &token, "tsa", "refusing the new file", |s| {
        s["lastReloadError"].is_string()
    });
    assert_eq!(after["generation"], before["generation"], "{after}");
    assert_eq!(after["sha256"], before["sha256"], "{after}");
    let described = daemon
        .post("/api/plugins/tsa/probe", &token, serde_json::json!({}))
        .expect(200);
    assert_eq!(described["generation"], before["generation"]);
}

#[test]
fn hot_reload_under_continuous_load_fails_no_request() {
    hot_reload_under_load("in_process");
}

#[test]
fn hot_reload_of_a_process_isolated_instance_under_continuous_load_fails_no_request() {
    hot_reload_under_load("process");
}

/// Five reloads while four clients call the instance: none of their calls may fail. In process mode each
/// generation is a new child and every superseded child exits once drained.
fn hot_reload_under_load(isolation: &str) {
    let plugins = tempfile::tempdir().unwrap();
    let original = std::fs::read(built_plugin("libsigil_tsa_http.so")).unwrap();
    let file = plugins.path().join("libsigil_tsa_http.so");
    std::fs::write(&file, &original).unwrap();
    let config = config_with(
        plugins.path(),
        &format!(
            r#"
[[plugins]]
name = "tsa"
file = "libsigil_tsa_http.so"
isolation = "{isolation}"
[plugins.config]
url = "http://127.0.0.1:9/"
slug = "tsa"
"#
        ),
    );
    let (daemon, token) = admin_daemon(&config);
    let started = wait_for(&daemon, &token, "tsa", "up", is_up);
    assert_eq!(started["isolation"], isolation, "{started}");
    let first = started["generation"].as_u64().unwrap();
    let mut pids = vec![started["pid"].as_u64()];

    let daemon = Arc::new(daemon);
    let stop = Arc::new(AtomicBool::new(false));
    let (succeeded, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let load: Vec<_> = (0..4)
        .map(|_| {
            let (daemon, token, stop) = (daemon.clone(), token.clone(), stop.clone());
            let (succeeded, failed) = (succeeded.clone(), failed.clone());
            std::thread::spawn(move || {
                let mut failures = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let reply =
                        daemon.post("/api/plugins/tsa/probe", &token, serde_json::json!({}));
                    if reply.status == 200 && reply.json()["response"]["slug"] == "tsa" {
                        succeeded.fetch_add(1, Ordering::Relaxed);
                    } else {
                        failed.fetch_add(1, Ordering::Relaxed);
                        failures.push(reply.text);
                    }
                }
                failures
            })
        })
        .collect();

    // Five new builds of the plugin (the same code with a different trailing byte, so a different hash), each
    // installed the way a package manager does it: write aside, then rename over.
    for round in 0..5u8 {
        let expected = first + u64::from(round) + 1;
        let mut bytes = original.clone();
        bytes.extend_from_slice(&[0, round, 0xAA]);
        let staged = plugins.path().join(format!(".staged-{round}"));
        std::fs::write(&staged, &bytes).unwrap();
        std::fs::rename(&staged, &file).unwrap();
        let reloaded = wait_for(&daemon, &token, "tsa", "reloaded", |s| {
            s["generation"].as_u64() >= Some(expected) && is_up(s)
        });
        pids.push(reloaded["pid"].as_u64());
    }
    stop.store(true, Ordering::Relaxed);
    let failures: Vec<String> = load.into_iter().flat_map(|t| t.join().unwrap()).collect();
    let status = instance(&daemon, &token, "tsa");
    assert!(
        status["generation"].as_u64().unwrap() >= first + 5,
        "{status}"
    );
    assert!(
        succeeded.load(Ordering::Relaxed) > 0,
        "the load must have run"
    );
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "requests failed during reloads: {failures:?}"
    );
    assert!(daemon.logs().contains("plugin changed; reloading"));
    if isolation == "process" {
        let current = status["pid"].as_u64();
        assert!(pids.iter().all(Option::is_some), "{pids:?}");
        let mut distinct = pids.clone();
        distinct.dedup();
        assert_eq!(
            distinct.len(),
            pids.len(),
            "a new child per generation: {pids:?}"
        );
        // Every superseded child exits once its calls have drained.
        for pid in pids
            .into_iter()
            .flatten()
            .filter(|&pid| Some(pid) != current)
        {
            let proc = std::path::PathBuf::from(format!("/proc/{pid}"));
            for _ in 0..400 {
                if !proc.exists() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            assert!(
                !proc.exists(),
                "child {pid} of a drained generation never exited"
            );
        }
        assert_eq!(status["crashes"], 0, "{status}");
    } else {
        assert!(status["pid"].is_null(), "{status}");
    }
}
