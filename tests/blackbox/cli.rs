//! The command line: `version`, `check-config` (exit 2 naming key and line) and `serve` refusing a bad config.

use std::process::Output;

use crate::harness::cli;

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn version_prints_the_version() {
    let output = cli(&["version"]);
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        format!("sigild {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn check_config_accepts_the_shipped_and_an_empty_config() {
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/../config/sigild.toml");
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.toml");
    std::fs::write(&empty, "").unwrap();
    for path in [shipped, empty.to_str().unwrap()] {
        let output = cli(&["check-config", "--config", path]);
        assert!(output.status.success(), "{path}: {}", stderr(&output));
        assert!(String::from_utf8_lossy(&output.stdout).contains("configuration ok"));
    }
}

#[test]
fn check_config_names_the_bad_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    // (file, what the message must contain)
    let cases: &[(&str, &[&str])] = &[
        (
            "[server]\nmax_body_bytes = 4096\nlistn = \"127.0.0.1:1\"\n",
            &["listn", "line 3"],
        ),
        (
            "[auth]\njwt_ttl = \"15m\"\n\n[nope]\nx = 1\n",
            &["nope", "line 4"],
        ),
        ("[limits]\nsession_per_minute = \"many\"\n", &["line 2"]),
        ("[server]\nlisten = \"not an address\"\n", &["line 2"]),
        ("[server]\nrequest_timeout = \"soon\"\n", &["line 2"]),
        (
            "[limits]\nsession_per_minute = 0\n",
            &["limits.session_per_minute"],
        ),
        ("[auth]\njwt_ttl = \"1s\"\n", &["auth.jwt_ttl"]),
        (
            "[auth]\nargon2_memory_kib = 1024\n",
            &["auth.argon2_memory_kib"],
        ),
        (
            "[server]\nmax_body_bytes = 10\n",
            &["server.max_body_bytes"],
        ),
        ("[storage]\nurl = \"postgres://db\"\n", &["storage.url"]),
        (
            "[storage]\nurl = \"ws://user:secret@db:8000\"\n",
            &["storage.url"],
        ),
        ("[log]\nformat = \"xml\"\n", &["line 2"]),
        ("[server\n", &["line 1"]),
    ];
    for (index, (text, expected)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("bad{index}.toml"));
        std::fs::write(&path, text).unwrap();
        let output = cli(&["check-config", "--config", path.to_str().unwrap()]);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{text:?} must be refused with exit 2"
        );
        let message = stderr(&output);
        for needle in *expected {
            assert!(
                message.contains(needle),
                "{text:?}: {message:?} should contain {needle:?}"
            );
        }
        assert!(
            !message.contains("secret"),
            "the message must not repeat credentials: {message}"
        );
    }
    let missing = cli(&[
        "check-config",
        "--config",
        dir.path().join("absent.toml").to_str().unwrap(),
    ]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("absent.toml"));
}

#[test]
fn serve_refuses_an_invalid_config() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "[server]\nlistn = \"127.0.0.1:0\"\n").unwrap();
    let data = dir.path().join("data");
    let output = cli(&[
        "serve",
        "--config",
        path.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("listn"));
    assert!(
        !data.join("store").exists(),
        "a refused config must not create a store"
    );
}

#[test]
fn bad_arguments_exit_2() {
    for args in [
        &["serve", "--listen", "not-an-address"][..],
        &["frobnicate"],
        &[],
    ] {
        assert_eq!(cli(args).status.code(), Some(2), "{args:?}");
    }
    assert!(cli(&["--help"]).status.success());
}

#[test]
fn check_config_names_the_provider_plugin_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sigild.toml");
    std::fs::write(
        &path,
        "[local_tsa]\nenabled = false\n\n[[tsa_providers]]\nslug = \"acme\"\nname = \"Acme\"\nplugin = \"../x\"\n",
    )
    .unwrap();
    let output = cli(&["check-config", "--config", path.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(message.contains("`tsa_providers.plugin`"), "{message}");
    assert!(message.contains("line 7"), "{message}");
    assert!(!message.contains("plugins.file"), "{message}");
}

#[test]
fn check_config_reports_missing_plugin_files_with_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    let path = dir.path().join("sigild.toml");
    std::fs::write(
        &path,
        format!(
            "[plugin_host]\ndir = \"{}\"\n\n[local_tsa]\nenabled = false\n\n[[plugins]]\nname = \"alerts\"\nfile = \"libalerts.so\"\n\n[[tsa_providers]]\nslug = \"acme\"\nname = \"Acme\"\nplugin = \"tsa-nope\"\n",
            plugins.display()
        ),
    )
    .unwrap();
    let output = cli(&["check-config", "--config", path.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let message = stderr(&output);
    for needle in [
        "`plugins.file`",
        "line 9",
        "libalerts.so",
        "`tsa_providers.plugin`",
        "line 14",
        "libsigil_tsa_nope.so",
        "not in the plugin directory",
    ] {
        assert!(
            message.contains(needle),
            "{needle:?} missing from {message}"
        );
    }
    // With the files present the same config passes.
    std::fs::write(plugins.join("libalerts.so"), b"").unwrap();
    std::fs::write(plugins.join("libsigil_tsa_nope.so"), b"").unwrap();
    let output = cli(&["check-config", "--config", path.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
}
