//! Findings of the hostile-input run: text fields refuse control and invisible characters, and emails are
//! compared in one normal form.

use serde_json::json;

use crate::harness::{Daemon, PASSWORD, assert_error, assert_invalid_field};

/// Characters no human-readable field may hold: C0/C1 controls and bidi/invisible formatting characters.
const FORBIDDEN: &[char] = &[
    '\u{0}', '\u{1b}', '\r', '\n', '\u{7f}', '\u{85}', '\u{200b}', '\u{200c}', '\u{200d}',
    '\u{200e}', '\u{200f}', '\u{202a}', '\u{202b}', '\u{202c}', '\u{202d}', '\u{202e}', '\u{2066}',
    '\u{2067}', '\u{2068}', '\u{2069}', '\u{feff}',
];

#[test]
fn text_fields_refuse_control_and_invisible_characters() {
    let daemon = Daemon::start();
    let owner = daemon.owner_with_tenant();
    for (n, c) in FORBIDDEN.iter().enumerate() {
        let text = format!("Acme{c}Corp");
        assert_invalid_field(
            &daemon.post_public(
                "/auth/register",
                json!({ "name": text, "email": format!("x{n}@example.org"), "password": PASSWORD }),
            ),
            "name",
        );
        assert_invalid_field(
            &daemon.post("/api/tenants", &owner.token, json!({ "name": text })),
            "name",
        );
        assert_invalid_field(
            &daemon.post(
                "/api/api-keys",
                &owner.token,
                json!({ "name": text, "environment": "live" }),
            ),
            "name",
        );
        assert_invalid_field(
            &daemon.post(
                "/tsa/stamp-hash",
                &owner.token,
                json!({ "hashHex": "ab".repeat(32), "label": text }),
            ),
            "label",
        );
    }
    // Ordinary non-ASCII text is fine.
    daemon
        .post(
            "/api/tenants",
            &owner.token,
            json!({ "name": "Zoë & Søn 東京" }),
        )
        .expect(201);
    assert_eq!(
        daemon.get("/api/api-keys", &owner.token).expect(200)["total"],
        0
    );
}

#[test]
fn emails_are_normalised_before_uniqueness() {
    let daemon = Daemon::start();
    daemon.register("Ann", "ann@example.org", PASSWORD);
    // Full-width look-alikes are the same address after NFKC.
    for twin in [
        "ＡＮＮ@example.org",
        "ann@ｅｘａｍｐｌｅ.org",
        "Ａnn@EXAMPLE.ORG",
    ] {
        assert_error(
            &daemon.post_public(
                "/auth/register",
                json!({ "name": "Twin", "email": twin, "password": PASSWORD }),
            ),
            409,
            "CONFLICT",
        );
        // And they log in to the same account.
        assert_eq!(daemon.login(twin, PASSWORD)["email"], "ann@example.org");
    }
    for bad in [
        "an\u{200b}n@example.org",
        "ann@exam\u{202e}ple.org",
        "ann\u{feff}@example.org",
        "ann@[127.0.0.1]",
        "ann@127.0.0.1",
        "ann@[IPv6:::1]",
    ] {
        assert_invalid_field(
            &daemon.post_public(
                "/auth/register",
                json!({ "name": "Bad", "email": bad, "password": PASSWORD }),
            ),
            "email",
        );
    }
}
