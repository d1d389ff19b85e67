//! Secrets never reach the log: passwords, API keys and session tokens, even at debug level.

use serde_json::json;

use crate::harness::{Daemon, PASSWORD, str_field};

#[test]
fn logs_never_contain_credentials() {
    let mut daemon = Daemon::start_with("[log]\nlevel = \"debug\"");
    let wrong_password = "hunter2-but-longer";
    let (register_token, _) = daemon.register("Ann", "ann@example.org", PASSWORD);
    let tenant = daemon.create_tenant(&register_token, "Acme");
    let login = daemon.login("ann@example.org", PASSWORD);
    let login_token = str_field(&login, "token");
    let refreshed = daemon.refresh_to(&login_token, &tenant);
    let created = daemon.create_api_key(&refreshed, "live");
    let key = str_field(&created, "key");
    daemon.get("/api/api-keys", &key).expect(200);
    daemon.post_public(
        "/auth/login",
        json!({ "email": "ann@example.org", "password": wrong_password }),
    );
    daemon.post_public(
        "/auth/register",
        json!({ "name": "Bob", "email": "bob@example.org", "password": "short" }),
    );
    daemon.get("/auth/me", &format!("{login_token}x"));
    daemon.get("/api/api-keys", &format!("{}0", &key[..key.len() - 1]));
    daemon
        .delete(
            &format!("/api/api-keys/{}", str_field(&created, "id")),
            &refreshed,
        )
        .expect(204);
    daemon.get("/api/api-keys", &key);
    assert!(daemon.stop().success());

    let logs = daemon.logs();
    assert!(
        logs.contains("sigild stopped"),
        "the whole run was captured: {logs}"
    );
    let secrets = [
        ("the password", PASSWORD.to_string()),
        ("a wrong password", wrong_password.to_string()),
        ("a too-short password", "\"short\"".to_string()),
        ("the API key", key.clone()),
        (
            "the API key's secret part",
            key["sgk_live_".len()..].to_string(),
        ),
        ("the registration token", register_token.clone()),
        ("the login token", login_token.clone()),
        ("the refreshed token", refreshed.clone()),
    ];
    for (what, secret) in secrets {
        assert!(!logs.contains(&secret), "the log contains {what}:\n{logs}");
    }
    // No JWT of any kind: their signatures would be enough to replay them.
    for token in [&register_token, &login_token, &refreshed] {
        let signature = token.rsplit('.').next().unwrap();
        assert!(
            !logs.contains(signature),
            "the log contains a token signature:\n{logs}"
        );
    }
    assert!(
        !logs.contains("$argon2id$"),
        "the log contains a password hash:\n{logs}"
    );
}

#[test]
fn the_keystore_key_is_kept_outside_the_data_directory() {
    let daemon = crate::timestamping::start("");
    crate::timestamping::wait_local_tsa(&daemon);
    let data = daemon.data_dir();
    assert!(
        !data.join("keystore.key").exists(),
        "a new install must not put the key beside the keys"
    );
    let key = data.with_file_name("data-keystore.key");
    let metadata = std::fs::metadata(&key).expect("the key file beside the data directory");
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(metadata.len(), 32);
    assert_eq!(metadata.permissions().mode() & 0o777, 0o600);
    assert!(
        !daemon
            .logs()
            .contains("SECURITY: the local keystore's key file"),
        "no warning for a key outside the data directory"
    );
}

#[test]
fn a_key_file_left_in_the_data_directory_keeps_working_and_is_warned_about() {
    let mut daemon = crate::timestamping::start("");
    crate::timestamping::wait_local_tsa(&daemon);
    let owner = daemon.owner_with_tenant();
    let before = crate::timestamping::stamp_ok(
        &daemon,
        &owner.token,
        serde_json::json!({ "hashHex": crate::timestamping::fresh_hash() }),
    );
    // An install made by an earlier version: the key inside the data directory.
    daemon.stop();
    let data = daemon.data_dir();
    std::fs::rename(
        data.with_file_name("data-keystore.key"),
        data.join("keystore.key"),
    )
    .expect("moving the key into the data directory");
    daemon.restart();
    crate::timestamping::wait_local_tsa(&daemon);
    daemon.wait_for_log("SECURITY: the local keystore's key file sits in the data directory");
    // The same key still signs: the local chain did not change.
    let after = crate::timestamping::stamp_ok(
        &daemon,
        &owner.token,
        serde_json::json!({ "hashHex": crate::timestamping::fresh_hash() }),
    );
    assert_eq!(before["tsaName"], after["tsaName"]);
    assert!(
        !data.with_file_name("data-keystore.key").exists(),
        "no second key is made"
    );
}
