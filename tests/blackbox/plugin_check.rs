//! `sigild plugin check`: the author's tool loads a plugin outside the daemon with the daemon's checks and says
//! what the daemon would make of each answer. Exit status 0 passed, 1 a check failed, 2 usage error.

use std::path::Path;
use std::process::Output;

use crate::harness::cli;
use crate::plugins::{built_plugin, compile_c_fixture, openssl_tsa_files};

fn check(file: &Path, extra: &[&str]) -> (i32, String) {
    let mut args = vec!["plugin", "check", file.to_str().expect("utf-8 path")];
    args.extend_from_slice(extra);
    let output: Output = cli(&args);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let code = output.status.code().unwrap_or_else(|| {
        panic!(
            "the tool itself died: {:?}\n{stdout}\n{stderr}",
            output.status
        )
    });
    (code, format!("{stdout}{stderr}"))
}

fn assert_has(output: &str, needle: &str) {
    assert!(
        output.contains(needle),
        "`{needle}` missing from:\n{output}"
    );
}

#[test]
fn the_first_party_tsa_http_plugin_passes_and_reports_what_the_daemon_uses() {
    let file = built_plugin("libsigil_tsa_http.so");
    let (code, output) = check(&file, &["--config", r#"{"url": "http://127.0.0.1:9/"}"#]);
    assert_eq!(code, 0, "{output}");
    assert_has(&output, "PASS  file: complete ELF shared object");
    assert_has(&output, "PASS  descriptor: tsa_backend plugin `tsa-http`");
    assert_has(&output, r#"[[tsa_providers]] plugin = "tsa-http""#);
    assert_has(&output, "PASS  create:");
    assert_has(&output, "PASS  health:");
    assert_has(&output, "PASS  describe:");
    assert_has(&output, "informational");
    assert_has(&output, "result: passed");

    // A config the plugin refuses: create fails with INVALID_INPUT, which the daemon does not retry.
    let (code, output) = check(&file, &[]);
    assert_eq!(code, 1, "{output}");
    assert_has(&output, "FAIL  create: status invalid_input");
    assert_has(&output, "does not retry");

    // A TSA nobody answers: the timestamp op fails as the daemon would classify it.
    let (code, output) = check(
        &file,
        &[
            "--config",
            r#"{"url": "http://127.0.0.1:9/"}"#,
            "--op",
            "timestamp",
        ],
    );
    assert_eq!(code, 1, "{output}");
    assert_has(&output, "FAIL  timestamp: status backend, class network");
    assert_has(&output, "failed attempt of class `network`");
}

#[test]
fn a_c_tsa_plugin_stamps_and_its_token_is_verified_like_the_daemon_does() {
    let plugins = tempfile::tempdir().unwrap();
    let file = compile_c_fixture("tsa_openssl.c", plugins.path(), "libtsa_openssl.so");
    let tsa = tempfile::tempdir().unwrap();
    let (key, cert, openssl_config) = openssl_tsa_files(tsa.path());
    let config = serde_json::json!({
        "key": key, "cert": cert, "openssl_config": openssl_config, "slug": "c-tsa",
    })
    .to_string();
    let (code, output) = check(&file, &["--config", &config]);
    assert_eq!(code, 0, "{output}");
    assert_has(&output, "PASS  describe: slug \"c-tsa\"");
    // No short name: the file is not libsigil_*.so.
    assert_has(&output, "only libsigil_<name>.so files have a short name");

    // Without trust roots the token verifies but is not anchored: a warning, as the daemon's acceptance depends
    // on the operator's roots.
    let (code, output) = check(&file, &["--config", &config, "--op", "timestamp"]);
    assert_eq!(code, 0, "{output}");
    assert_has(&output, "WARN  timestamp: token verified");
    assert_has(&output, "trust_roots_file");
    assert_has(&output, "result: passed with 1 warning(s)");

    let roots = cert.to_str().unwrap();
    let (code, output) = check(
        &file,
        &[
            "--config",
            &config,
            "--op",
            "timestamp",
            "--trust-roots",
            roots,
        ],
    );
    assert_eq!(code, 0, "{output}");
    assert_has(&output, "PASS  timestamp: token verified");
    assert_has(&output, "CN=Test TSA");
}

#[test]
fn a_plugin_that_crashes_is_reported_with_its_signal() {
    let plugins = tempfile::tempdir().unwrap();
    let file = compile_c_fixture(
        "crash_on_timestamp.c",
        plugins.path(),
        "libcrash_on_timestamp.so",
    );
    let (code, output) = check(&file, &["--op", "timestamp"]);
    assert_eq!(code, 1, "{output}");
    assert_has(&output, "PASS  health: healthy");
    assert_has(
        &output,
        "FAIL  crash: the plugin crashed with signal 6 (SIGABRT)",
    );
}

#[test]
fn garbage_and_truncated_files_fail_the_daemon_checks() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("libgarbage.so");
    std::fs::write(&garbage, b"this is not a shared object").unwrap();
    let (code, output) = check(&garbage, &[]);
    assert_eq!(code, 1, "{output}");
    assert_has(&output, "FAIL  file:");
    assert_has(&output, "no ELF magic");
    assert_has(&output, "result: FAILED");

    let bytes = std::fs::read(built_plugin("libsigil_tsa_http.so")).unwrap();
    let truncated = dir.path().join("libtruncated.so");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let (code, output) = check(&truncated, &[]);
    assert_eq!(code, 1, "{output}");
    assert_has(&output, "FAIL  file:");
    assert_has(&output, "truncated");

    // A C file refused by the descriptor check names the field, as the daemon does.
    let wrong = compile_c_fixture("wrong_major.c", dir.path(), "libwrong_major.so");
    let (code, output) = check(&wrong, &[]);
    assert_eq!(code, 1, "{output}");
    assert_has(&output, "FAIL  descriptor:");
    assert_has(&output, "abi_major");
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let file = built_plugin("libsigil_tsa_http.so");
    let (code, output) = check(&dir.path().join("libmissing.so"), &[]);
    assert_eq!(code, 2, "{output}");
    let (code, output) = check(&file, &["--config", "not json"]);
    assert_eq!(code, 2, "{output}");
    assert_has(&output, "--config is not JSON");
    let (code, output) = check(&file, &["--config", "[1]"]);
    assert_eq!(code, 2, "{output}");
    let (code, output) = check(&file, &["--input", "{}"]);
    assert_eq!(code, 2, "{output}");
    let (code, output) = check(&file, &["--op", "sign"]);
    assert_eq!(code, 2, "{output}");
    assert_has(&output, "needs its request message");
}
