//! Sessions are revocable: logout ends the presented session, a password change ends all of the user's, and
//! refreshing never extends a session past `auth.max_session` from login.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::harness::{Daemon, PASSWORD, assert_error, assert_invalid_field, str_field};

fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url")).expect("JSON")
}

fn logout(daemon: &Daemon, token: &str) -> crate::harness::Reply {
    daemon.send(
        daemon
            .client()
            .post(daemon.url("/auth/logout"))
            .bearer_auth(token),
    )
}

#[test]
fn logout_ends_the_presented_session_only() {
    let daemon = Daemon::start();
    let owner = daemon.owner_with_tenant();
    let other = str_field(&daemon.login(&owner.email, PASSWORD), "token");
    // A refreshed token belongs to the same session as the one it came from.
    let refreshed = daemon.refresh(&owner.token);
    daemon.get("/auth/me", &refreshed).expect(200);

    assert_eq!(logout(&daemon, &owner.token).status, 204);
    for token in [&owner.token, &refreshed] {
        let body = assert_error(&daemon.get("/auth/me", token), 401, "UNAUTHORIZED");
        assert_eq!(body["details"]["reason"], "ended", "{body}");
        assert_error(&logout(&daemon, token), 401, "UNAUTHORIZED");
        assert_error(
            &daemon.send(
                daemon
                    .client()
                    .post(daemon.url("/auth/refresh"))
                    .bearer_auth(token),
            ),
            401,
            "UNAUTHORIZED",
        );
    }
    // The user's other session is untouched.
    daemon.get("/auth/me", &other).expect(200);
    // API keys are not sessions.
    let key = daemon.api_key(&other, "live");
    assert_error(&logout(&daemon, &key), 403, "FORBIDDEN");
    assert_error(&logout(&daemon, "nonsense"), 401, "UNAUTHORIZED");
}

#[test]
fn a_password_change_ends_every_session_of_the_user() {
    let daemon = Daemon::start();
    let owner = daemon.owner_with_tenant();
    let second = str_field(&daemon.login(&owner.email, PASSWORD), "token");
    let (bystander, _, _) = daemon.user();
    let new_password = "a much better passphrase";

    // Wrong current password, or a too-short new one: nothing changes.
    let wrong = daemon.post(
        "/auth/password",
        &owner.token,
        json!({ "currentPassword": "not it at all", "newPassword": new_password }),
    );
    assert_error(&wrong, 401, "UNAUTHORIZED");
    assert_invalid_field(
        &daemon.post(
            "/auth/password",
            &owner.token,
            json!({ "currentPassword": PASSWORD, "newPassword": "short" }),
        ),
        "newPassword",
    );
    daemon.get("/auth/me", &second).expect(200);

    let changed = daemon
        .post(
            "/auth/password",
            &owner.token,
            json!({ "currentPassword": PASSWORD, "newPassword": new_password }),
        )
        .expect(200);
    let fresh = str_field(&changed, "token");
    for token in [&owner.token, &second] {
        assert_error(&daemon.get("/auth/me", token), 401, "UNAUTHORIZED");
    }
    // The caller continues in a new session, in the same tenant.
    let me = daemon.get("/auth/me", &fresh).expect(200);
    assert_eq!(me["tenantId"], owner.tenant_id.as_str());
    daemon.get("/auth/me", &bystander).expect(200);
    // Only the new password logs in.
    assert_error(
        &daemon.post_public(
            "/auth/login",
            json!({ "email": owner.email, "password": PASSWORD }),
        ),
        401,
        "UNAUTHORIZED",
    );
    daemon.login(&owner.email, new_password);
}

#[test]
fn refresh_never_extends_a_session_past_max_session() {
    let daemon = Daemon::start_with("[auth]\njwt_ttl = \"30s\"\nmax_session = \"30s\"");
    let (token, _) = daemon.register("Ann", "ann@example.org", PASSWORD);
    let first = claims(&token);
    // Let the clock move to the next second, so that an uncapped refresh would expire later.
    let issued = first["iat"].as_u64().unwrap();
    while std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        <= issued
    {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let refreshed = claims(&daemon.refresh(&token));
    assert!(refreshed["iat"].as_u64().unwrap() > issued, "{refreshed}");
    assert_eq!(
        refreshed["exp"], first["exp"],
        "the session ends {} after login, however often it is refreshed",
        "30s"
    );
    assert_eq!(refreshed["sid"], first["sid"]);
}
