//! Signing requests (seed 003, contract 04) against the real daemon. Links are built by an independent
//! re-implementation of the dApp builder (`tests/oracles/connect_builder.mjs`, Node's own `localeCompare` and
//! WebCrypto); approvals come from the Python device simulator (`device.py`); results reach a local callback
//! receiver, and their detached JWS, signatures and Qubic identities are checked with jwcrypto,
//! `cryptography` and pycryptodome (`connect_result.py`).

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD as B64URL};
use serde_json::{Value, json};

use crate::agents::{Receiver, header};
use crate::harness::{Daemon, Owner, Reply, str_field};
use crate::sigil_auth::{DeviceSim, api_get, api_post, poll, register, tenant};

const ORIGIN: &str = "https://shop.example";

fn config() -> &'static str {
    "[webhooks]\nallow_private_networks = [\"127.0.0.0/8\"]\npoll_interval = \"100ms\"\n\n\
     [testing]\nwebhook_retry_unit_ms = 100\n"
}

fn oracle(script: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/oracles")
        .join(script)
}

/// Runs the Node builder with a spec; returns its `{uri, envelope, canonical, payload_hash}`.
fn build(spec: Value) -> Value {
    let output = std::process::Command::new("node")
        .arg(oracle("connect_builder.mjs"))
        .arg(spec.to_string())
        .output()
        .expect("running node (tests/oracles/setup.sh installs it)");
    assert!(
        output.status.success(),
        "connect_builder.mjs failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn keygen() -> Value {
    let output = std::process::Command::new("node")
        .arg(oracle("connect_builder.mjs"))
        .arg("keygen")
        .output()
        .expect("running node");
    assert!(output.status.success());
    serde_json::from_slice(&output.stdout).unwrap()
}

fn result_py(args: &[&str]) -> Result<String, String> {
    let output = std::process::Command::new(crate::seals::venv().join("bin/python"))
        .arg(oracle("connect_result.py"))
        .args(args)
        .output()
        .expect("running connect_result.py");
    if output.status.success() {
        Ok(String::from_utf8(output.stdout).unwrap().trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

fn owner_put(daemon: &Daemon, owner: &Owner, path: &str, body: Value) -> Reply {
    daemon.send(
        daemon
            .client()
            .put(daemon.url(path))
            .bearer_auth(&owner.token)
            .json(&body),
    )
}

fn owner_patch(daemon: &Daemon, owner: &Owner, path: &str, body: Value) -> Reply {
    daemon.send(
        daemon
            .client()
            .patch(daemon.url(path))
            .bearer_auth(&owner.token)
            .json(&body),
    )
}

/// The request's public JWK (the private one minus `d`).
fn public_jwk(private: &Value) -> Value {
    json!({ "kty": "EC", "crv": "P-256", "x": private["x"], "y": private["y"] })
}

/// Waits until the request is decided and has its result.
fn decided(daemon: &Daemon, key: &str, id: &str) -> Value {
    for _ in 0..400 {
        let view = api_get(daemon, key, &format!("/v1/requests/{id}")).expect(200);
        if view.get("result").is_some() {
            return view;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("signing request {id} got no result: {}", daemon.logs());
}

/// The device answers the signing request's challenge it finds by polling.
fn answer(daemon: &Daemon, device: &DeviceSim, request_id: &str, purpose: &str) -> Value {
    let waiting = poll(daemon, device);
    let item = waiting["challenges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|item| item["parent"] == request_id)
        .unwrap_or_else(|| panic!("no challenge for {request_id} in {waiting}"))
        .clone();
    assert_eq!(item["kind"], "signing_request", "{item}");
    let bytes_hex = hex::encode(B64.decode(str_field(&item, "challenge_bytes")).unwrap());
    let action = item["action"].to_string();
    let signature = device.sign(
        purpose,
        &["--challenge-hex", &bytes_hex, "--action", &action],
    );
    let decision = if purpose == "approve" {
        "approve"
    } else {
        "deny"
    };
    daemon
        .send(daemon.client().post(daemon.url("/respond")).json(&json!({
            "challenge_id": item["challenge_id"], "fingerprint": device.fingerprint,
            "decision": decision, "signature": signature,
        })))
        .expect(200);
    item
}

/// The callback bodies and `Sigil-Signature` headers received so far, waiting for at least `count`.
fn callbacks(receiver: &Receiver, count: usize) -> Vec<(String, String)> {
    receiver.events_by("content-type", count);
    receiver
        .deliveries
        .lock()
        .unwrap()
        .iter()
        .map(|(headers, body)| (body.clone(), header(headers, "sigil-signature")))
        .collect()
}

#[test]
fn a_signed_link_is_approved_by_a_device_signed_by_the_kms_key_and_posted_to_the_callback() {
    let daemon = Daemon::start_with(config());
    let (owner, key) = tenant(&daemon);
    let phone = DeviceSim::new(21);
    register(&daemon, &key, &phone);
    let receiver = Receiver::start(1);

    // No policy yet: refused with its reason.
    let unsigned = build(json!({
        "create": "sign_message",
        "request": { "dapp": { "name": "Shop", "origin": ORIGIN }, "message": "hello" },
        "callback": receiver.url,
    }));
    let refused = api_post(
        &daemon,
        &key,
        "/v1/requests",
        json!({ "uri": unsigned["uri"] }),
    );
    assert_eq!(refused.status, 409, "{}", refused.text);
    assert_eq!(refused.json()["reason"], "no_policy");
    // Only an owner sets the policy; it names its key, made in the KMS.
    let policy = json!({ "approvers": { "devices": [phone.fingerprint] },
                         "signingKey": { "algorithm": "ed25519" } });
    let by_key = daemon.send(
        daemon
            .client()
            .put(daemon.url("/v1/requests/policy"))
            .bearer_auth(&key)
            .json(&policy),
    );
    assert_eq!(by_key.status, 403, "{}", by_key.text);
    let stored = owner_put(&daemon, &owner, "/v1/requests/policy", policy).expect(200);
    let signing_key = B64
        .decode(str_field(&stored["keys"]["ed25519"], "publicKey"))
        .unwrap();
    assert_eq!(signing_key.len(), 32);
    let identity = str_field(&stored["keys"]["ed25519"], "identity");
    assert_eq!(
        result_py(&["qubic-identity", "--bytes-hex", &hex::encode(&signing_key)]).unwrap(),
        identity,
        "the identity is the key's Qubic form, as pycryptodome's K12 computes it"
    );

    // The app's issuer is registered with its key and origin; its signed link rates verified_registry.
    let app_key = keygen();
    let issuer = daemon
        .send(
            daemon
                .client()
                .post(daemon.url("/v1/issuers"))
                .bearer_auth(&owner.token)
                .json(
                    &json!({ "issuer": "did:web:shop.example", "name": "Shop", "origins": [ORIGIN],
                               "publicJwk": public_jwk(&app_key), "keyId": "k1" }),
                ),
        )
        .expect(201);
    assert_eq!(issuer["status"], "active");
    let message = "Sign in to Shop · 2026-11-30";
    let link = build(json!({
        "create": "sign_message",
        "request": { "dapp": { "name": "Shop", "origin": ORIGIN }, "message": message },
        "callback": receiver.url,
        "sign": { "issuer": "did:web:shop.example", "key_id": "k1", "include_public_jwk": false,
                  "private_jwk": app_key },
    }));
    let created =
        api_post(&daemon, &key, "/v1/requests", json!({ "uri": link["uri"] })).expect(201);
    let id = str_field(&created, "id");
    assert_eq!(created["status"], "pending");
    assert_eq!(created["trust_level"], "verified_registry");
    assert_eq!(created["identity"], identity.as_str());
    // The same link again: a replayed nonce.
    let replay = api_post(&daemon, &key, "/v1/requests", json!({ "uri": link["uri"] }));
    assert_eq!(replay.status, 400, "{}", replay.text);
    assert_eq!(replay.json()["reason"], "nonce_replay");

    // The device is shown what it approves, and signs the request itself as the action.
    let item = answer(&daemon, &phone, &id, "approve");
    assert_eq!(item["request"]["type"], "sign_message");
    assert_eq!(item["request"]["app"]["origin"], ORIGIN);
    assert_eq!(item["request"]["trust_level"], "verified_registry");
    assert_eq!(item["request"]["fields"]["message"], message);
    assert_eq!(item["action"], link["envelope"]["request"]);

    // The callback gets the contract's body (after one failed attempt: retried), with the daemon's JWS.
    let view = decided(&daemon, &key, &id);
    assert_eq!(view["status"], "approved");
    let delivered = callbacks(&receiver, 1);
    let (body, jws) = &delivered[0];
    assert_eq!(body, view["result_body"].as_str().unwrap());
    let result: Value = serde_json::from_str(body).unwrap();
    assert_eq!(result["status"], "signed");
    assert_eq!(result["type"], "sign_message");
    assert_eq!(result["nonce"], link["envelope"]["request"]["nonce"]);
    assert_eq!(result["identity"], identity.as_str());
    assert!(
        body.starts_with(r#"{"status":"signed","nonce":"#),
        "the app's key order: {body}"
    );
    // The signature is the tenant key's over the message bytes (Ed25519, checked by `cryptography`).
    assert_eq!(result["public_key"], B64.encode(&signing_key));
    result_py(&[
        "verify-signature",
        "--algorithm",
        "ed25519",
        "--public-key",
        result["public_key"].as_str().unwrap(),
        "--message-b64",
        &B64.encode(message.as_bytes()),
        "--signature",
        result["signature"].as_str().unwrap(),
    ])
    .expect("the result's signature verifies");
    // The detached JWS verifies with the published JWKS (jwcrypto); a forged body does not.
    let jwks = daemon.get_public("/v1/requests/keys").expect(200);
    let checked = result_py(&[
        "verify-jws",
        "--jwks",
        &jwks.to_string(),
        "--body",
        body,
        "--jws",
        jws,
    ])
    .expect("the callback's Sigil-Signature verifies");
    // The protected header binds it to this tenant, this request and this callback.
    let protected: Value = serde_json::from_str(&checked).unwrap();
    assert_eq!(protected["alg"], "ES256");
    assert_eq!(protected["sigil_tenant"], owner.tenant_id.as_str());
    assert_eq!(protected["sigil_request"], id.as_str());
    assert_eq!(protected["aud"], receiver.url.as_str());
    let forged = body.replace("\"signed\"", "\"rejected\"");
    assert!(
        result_py(&[
            "verify-jws",
            "--jwks",
            &jwks.to_string(),
            "--body",
            &forged,
            "--jws",
            jws
        ])
        .is_err(),
        "a forged body must not verify"
    );

    // Another tenant cannot see it.
    let (_, other_key) = tenant(&daemon);
    assert_eq!(
        api_get(&daemon, &other_key, &format!("/v1/requests/{id}")).status,
        404
    );
}

#[test]
fn a_rejection_comes_back_through_the_redirect_and_multi_party_policies_decide_transfers() {
    let daemon = Daemon::start_with(config());
    let (owner, key) = tenant(&daemon);
    let alice = DeviceSim::new(22);
    let bob = DeviceSim::new(23);
    register(&daemon, &key, &alice);
    register(&daemon, &key, &bob);
    owner_put(
        &daemon,
        &owner,
        "/v1/requests/policy",
        json!({ "approvers": { "devices": [alice.fingerprint] }, "signingKey": { "algorithm": "ecdsa-p256" } }),
    )
    .expect(200);

    // An unsigned envelope (legacy_unverified) with a redirect: the user rejects.
    let link = build(json!({
        "create": "sign_message",
        "request": { "dapp": { "name": "Shop", "origin": ORIGIN }, "message": "pay?" },
        "redirect_uri": "https://shop.example/signed?step=2",
    }));
    let created = api_post(&daemon, &key, "/v1/requests", link["envelope"].clone()).expect(201);
    assert_eq!(created["trust_level"], "legacy_unverified");
    let id = str_field(&created, "id");
    answer(&daemon, &alice, &id, "deny");
    let view = decided(&daemon, &key, &id);
    assert_eq!(view["status"], "rejected");
    assert_eq!(view["result"]["status"], "rejected");
    assert_eq!(view["result"]["reason"], "user_rejected");
    let redirect = str_field(&view, "redirect_url");
    assert!(
        redirect.starts_with("https://shop.example/signed?step=2&result="),
        "{redirect}"
    );
    // The page decodes `result` as the seed's example does (base64url JSON) and checks `signature`.
    let query = redirect.split_once('?').unwrap().1;
    let param = |name: &str| {
        query
            .split('&')
            .find_map(|pair| pair.strip_prefix(&format!("{name}=")))
            .unwrap()
            .to_string()
    };
    let decoded = String::from_utf8(B64URL.decode(param("result")).unwrap()).unwrap();
    assert_eq!(decoded, view["result_body"].as_str().unwrap());
    let jwks = daemon.get_public("/v1/requests/keys").expect(200);
    result_py(&[
        "verify-jws",
        "--jwks",
        &jwks.to_string(),
        "--body",
        &decoded,
        "--jws",
        &param("signature"),
    ])
    .expect("the redirect's signature verifies");

    // A 2-of-2 multi-party policy for transfers: both devices approve, the P-256 key authorizes it.
    owner_put(
        &daemon,
        &owner,
        "/v1/requests/policy",
        json!({ "approvers": { "mpa": { "required": 2, "groups": [
                    { "name": "finance", "members": [alice.fingerprint] },
                    { "name": "security", "members": [bob.fingerprint] } ] } },
                "signingKey": { "algorithm": "ecdsa-p256" } }),
    )
    .expect(200);
    let receiver = Receiver::start(0);
    let to = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAFXIB";
    let transfer = build(json!({
        "create": "transfer",
        "request": { "dapp": { "name": "Shop", "origin": ORIGIN }, "to": to, "amount": "1000000",
                     "tick_offset": 5 },
        "callback": receiver.url,
        "legacy_cb": true,
    }));
    let created = api_post(
        &daemon,
        &key,
        "/v1/requests",
        json!({ "uri": transfer["uri"] }),
    )
    .expect(201);
    let id = str_field(&created, "id");
    for device in [&alice, &bob] {
        let waiting = poll(&daemon, device);
        let item = waiting["mpa_requests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|item| item["parent"] == id.as_str())
            .unwrap_or_else(|| panic!("no multi-party request for {id}: {waiting}"))
            .clone();
        assert_eq!(item["request"]["fields"]["to"], to);
        let action = item["action"].to_string();
        let signature = device.sign("mpa-approve", &["--request-id", &id, "--action", &action]);
        daemon
            .send(
                daemon
                    .client()
                    .post(daemon.url("/mpa/respond"))
                    .json(&json!({
                        "request_id": id, "fingerprint": device.fingerprint, "approved": true,
                        "signature": signature,
                    })),
            )
            .expect(200);
    }
    let view = decided(&daemon, &key, &id);
    assert_eq!(view["status"], "approved");
    let result = &view["result"];
    assert_eq!(result["status"], "signed");
    assert_eq!(result["type"], "transfer");
    assert_eq!(result["target_tick"], 5);
    // The authorization: the P-256 key's signature over the canonical request, whose SHA-256 is tx_hash.
    // The builder's canonical form of `{callback: null, request}` (signing with a throwaway key) holds the
    // request's canonical form, which the authorization covers.
    let canonical = {
        let signed = build(json!({ "request": transfer["envelope"]["request"],
                                   "sign": { "issuer": "x", "private_jwk": keygen() } }));
        let text = str_field(&signed, "canonical");
        let start = text.find("\"request\":").unwrap() + "\"request\":".len();
        text[start..text.len() - 1].to_string()
    };
    use sha2::Digest;
    assert_eq!(
        result["tx_hash"],
        hex::encode(sha2::Sha256::digest(canonical.as_bytes()))
    );
    result_py(&[
        "verify-signature",
        "--algorithm",
        "ecdsa-p256",
        "--public-key",
        result["public_key"].as_str().unwrap(),
        "--message-b64",
        &B64.encode([b"SIGIL-CONNECT-AUTHZ-V1\0".as_slice(), canonical.as_bytes()].concat()),
        "--signature",
        result["signature"].as_str().unwrap(),
    ])
    .expect("the transfer authorization verifies");
    let delivered = callbacks(&receiver, 1);
    assert_eq!(delivered[0].0, view["result_body"].as_str().unwrap());
}

#[test]
fn every_refusal_has_its_reason_and_the_trust_levels_decide() {
    let daemon = Daemon::start_with(config());
    let (owner, key) = tenant(&daemon);
    let phone = DeviceSim::new(24);
    register(&daemon, &key, &phone);
    owner_put(
        &daemon,
        &owner,
        "/v1/requests/policy",
        json!({ "approvers": { "devices": [phone.fingerprint] }, "signingKey": { "algorithm": "ed25519" } }),
    )
    .expect(200);
    let dapp = json!({ "name": "Shop", "origin": ORIGIN });
    let submit = |body: Value| api_post(&daemon, &key, "/v1/requests", body);
    let refused = |reply: Reply, reason: &str| {
        assert_eq!(reply.status, 400, "{reason}: {}", reply.text);
        let body = reply.json();
        assert_eq!(body["reason"], reason, "{body}");
        assert_eq!(body["code"], "REQUEST_REFUSED", "{body}");
        assert!(body["error"].as_str().is_some_and(|m| !m.is_empty()));
    };
    let now = chrono::Utc::now().timestamp();
    let request = |extra: Value| {
        let mut request = json!({ "type": "sign_message", "dapp": dapp, "message": "m",
                                  "nonce": format!("n{}", uuid_like()), "exp": now + 300 });
        for (name, value) in extra.as_object().unwrap() {
            request[name] = value.clone();
        }
        request
    };
    let uri_of = |envelope: &Value| {
        format!(
            "sigil://v1/request?d={}",
            B64URL.encode(envelope.to_string())
        )
    };

    // Transport.
    refused(
        submit(json!({ "uri": format!("sigil://v1/request?d={}", "A".repeat(8193)) })),
        "envelope_too_large",
    );
    refused(
        submit(json!({ "uri": "https://v1/request?d=e30" })),
        "invalid_scheme",
    );
    refused(
        submit(json!({ "uri": "sigil://v2/request?d=e30" })),
        "invalid_scheme",
    );
    let padded = format!(
        "sigil://v1/request?d={}=",
        B64URL.encode(json!({ "request": request(json!({})) }).to_string())
    );
    refused(submit(json!({ "uri": padded })), "invalid_encoding");
    refused(
        submit(json!({ "uri": format!("sigil://v1/request?d={}", B64URL.encode("[1]")) })),
        "invalid_json",
    );
    // Fields.
    for (extra, reason) in [
        (json!({ "nonce": "short" }), "nonce_invalid"),
        (json!({ "nonce": "has spaces in it!!" }), "nonce_invalid"),
        (
            json!({ "dapp": { "name": "x", "origin": "http://shop.example" } }),
            "origin_not_https",
        ),
        (json!({ "dapp": { "name": "x" } }), "origin_missing"),
        (json!({ "exp": now + 7200 }), "exp_too_far"),
        (json!({ "exp": now - 5 }), "exp_expired"),
        (json!({ "message": "" }), "message_empty"),
        (json!({ "message": "x".repeat(2049) }), "message_too_long"),
        (
            json!({ "message": "SIGIL-CONNECT-AUTHZ-V1" }),
            "message_reserved",
        ),
        (
            json!({ "data": B64.encode(b"SIGIL-CONNECT-AUTHZ-V1\0{}") }),
            "message_reserved",
        ),
        (
            json!({ "from": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAFXIB" }),
            "invalid_identity",
        ),
        (json!({ "type": "steal" }), "invalid_type"),
        (
            json!({ "type": "transfer", "to": "NQZBXKZP4MTLDUVWXYZK8MFAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                    "amount": 1 }),
            "invalid_identity",
        ),
        (
            json!({ "type": "transfer", "to": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAFXIB",
                    "amount": 0 }),
            "invalid_amount",
        ),
        (
            json!({ "type": "sc_call", "contract_index": 64, "input_type": 1 }),
            "invalid_contract_index",
        ),
        (
            json!({ "type": "connect", "permissions": ["root"] }),
            "invalid_permissions",
        ),
        (
            json!({ "type": "connect", "permissions": ["transfer", "transfer"] }),
            "invalid_permissions",
        ),
        (json!({ "exp": "soon" }), "exp_invalid"),
        (
            json!({ "dapp": { "name": 7, "origin": ORIGIN } }),
            "invalid_dapp",
        ),
        (
            json!({ "type": "transfer", "to": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAFXIB",
                    "amount": 5, "tick_offset": 1.5 }),
            "invalid_tick_offset",
        ),
        (
            json!({ "type": "sc_call", "contract_index": 1, "input_type": -1 }),
            "invalid_input_type",
        ),
        (
            json!({ "type": "sc_call", "contract_index": 1, "input_type": 0, "payload": 5 }),
            "invalid_payload",
        ),
        (json!({ "data": "not base64!" }), "invalid_data"),
        (
            json!({ "type": "verify_message", "public_key": "AAAA" }),
            "invalid_signature_field",
        ),
        (
            json!({ "type": "verify_message", "signature": "AAAA" }),
            "invalid_public_key",
        ),
        (json!({ "big": 9_007_199_254_740_993u64 }), "invalid_json"),
    ] {
        refused(submit(json!({ "request": request(extra.clone()) })), reason);
    }
    for (url, callback, redirect) in [
        (
            "http://shop.example/cb",
            "callback_not_https",
            "redirect_not_https",
        ),
        (
            "https://10.0.0.7/cb",
            "callback_private",
            "redirect_private",
        ),
        ("not a url", "callback_invalid", "redirect_invalid"),
        (
            "https://user:pw@shop.example/cb",
            "callback_invalid",
            "redirect_invalid",
        ),
    ] {
        refused(
            submit(json!({ "request": request(json!({})), "callback": url })),
            callback,
        );
        refused(
            submit(json!({ "request": request(json!({})), "redirect_uri": url })),
            redirect,
        );
    }
    refused(
        submit(json!({ "uri": "sigil://v1/request?x=1" })),
        "missing_payload",
    );
    refused(
        submit(json!({ "request": request(json!({})), "proof": { "version": 2 } })),
        "proof_invalid",
    );
    let envelope = json!({ "request": request(json!({})), "callback": "https://shop.example/cb" });
    refused(
        submit(
            json!({ "uri": format!("{}&cb={}", uri_of(&envelope), "https%3A%2F%2Fevil.example%2Fcb") }),
        ),
        "callback_mismatch",
    );

    // Trust levels: each proof case through the real intake.
    let app_key = keygen();
    let other_key = keygen();
    let signed = |private: &Value, issuer: &str, include: bool, origin: &str| {
        build(json!({
            "create": "connect",
            "request": { "dapp": { "name": "Shop", "origin": origin }, "permissions": ["sign_message"] },
            "sign": { "issuer": issuer, "include_public_jwk": include, "private_jwk": private },
        }))
    };
    // Not registered, key included and verifying: accepted, shown as signed_untrusted.
    let accepted =
        submit(json!({ "uri": signed(&app_key, "shop.example", true, ORIGIN)["uri"] })).expect(201);
    assert_eq!(accepted["trust_level"], "signed_untrusted");
    // Not registered and no key: registry_key_mismatch, refused.
    refused(
        submit(json!({ "uri": signed(&app_key, "shop.example", false, ORIGIN)["uri"] })),
        "registry_key_mismatch",
    );
    // A tampered request: the hash no longer matches.
    let mut tampered = signed(&app_key, "shop.example", true, ORIGIN)["envelope"].clone();
    tampered["request"]["permissions"] = json!(["sign_message", "transfer"]);
    refused(submit(tampered), "signature_invalid");
    // Registered: verified; from another origin: mismatch; signed by another key: invalid; revoked: refused.
    let entry = daemon
        .send(
            daemon
                .client()
                .post(daemon.url("/v1/issuers"))
                .bearer_auth(&owner.token)
                .json(&json!({ "issuer": "shop.example", "origins": [ORIGIN],
                               "publicJwk": public_jwk(&app_key) })),
        )
        .expect(201);
    let verified = submit(json!({ "uri": signed(&app_key, "shop.example", false, ORIGIN)["uri"] }))
        .expect(201);
    assert_eq!(verified["trust_level"], "verified_registry");
    refused(
        submit(
            json!({ "uri": signed(&app_key, "shop.example", false, "https://elsewhere.example")["uri"] }),
        ),
        "registry_origin_mismatch",
    );
    refused(
        submit(json!({ "uri": signed(&other_key, "shop.example", true, ORIGIN)["uri"] })),
        "signature_invalid",
    );
    owner_patch(
        &daemon,
        &owner,
        &format!("/v1/issuers/{}", str_field(&entry, "id")),
        json!({ "status": "revoked" }),
    )
    .expect(200);
    refused(
        submit(json!({ "uri": signed(&app_key, "shop.example", false, ORIGIN)["uri"] })),
        "registry_revoked",
    );
    // The proof does not cover redirect_uri: a signed request's result goes back to its own origin only.
    let mut redirected = signed(&app_key, "shop.example", true, ORIGIN)["envelope"].clone();
    redirected["redirect_uri"] = json!("https://evil.example/steal");
    refused(submit(redirected), "redirect_origin_mismatch");
    // Each tenant has its own policy: a second tenant's does not replace the first's.
    let (other_owner, other_key) = tenant(&daemon);
    owner_put(
        &daemon,
        &other_owner,
        "/v1/requests/policy",
        json!({ "approvers": { "devices": [phone.fingerprint] }, "signingKey": { "algorithm": "ecdsa-p256" } }),
    )
    .expect(200);
    let ours = api_get(&daemon, &key, "/v1/requests/policy").expect(200);
    assert_eq!(ours["signingKey"]["algorithm"], "ed25519", "{ours}");
    submit(json!({ "request": request(json!({})) })).expect(201);
    // The other tenant's policy names a device it does not have: accepted, but nobody is asked.
    api_post(
        &daemon,
        &other_key,
        "/v1/requests",
        json!({ "request": request(json!({})) }),
    )
    .expect(201);
    // The registry belongs to its tenant, and only an owner changes it.
    let (_, other_tenant_key) = tenant(&daemon);
    assert_eq!(
        api_get(
            &daemon,
            &other_tenant_key,
            &format!("/v1/issuers/{}", str_field(&entry, "id"))
        )
        .status,
        404
    );
    assert_eq!(
        api_post(
            &daemon,
            &key,
            "/v1/issuers",
            json!({ "issuer": "x", "origins": [ORIGIN],
                                                        "publicJwk": public_jwk(&app_key) })
        )
        .status,
        403
    );
    // A private key is never accepted into the registry.
    let leaked = daemon.send(
        daemon
            .client()
            .post(daemon.url("/v1/issuers"))
            .bearer_auth(&owner.token)
            .json(&json!({ "issuer": "y", "origins": [ORIGIN], "publicJwk": app_key })),
    );
    assert_eq!(leaked.status, 400, "{}", leaked.text);
}

#[test]
fn an_unanswered_request_expires_as_wallet_locked_or_expired_even_across_a_restart() {
    let mut daemon = Daemon::start_with(config());
    let (owner, key) = tenant(&daemon);
    let phone = DeviceSim::new(25);
    register(&daemon, &key, &phone);
    owner_put(
        &daemon,
        &owner,
        "/v1/requests/policy",
        json!({ "approvers": { "devices": [phone.fingerprint] }, "signingKey": { "algorithm": "ed25519" } }),
    )
    .expect(200);
    let receiver = Receiver::start(0);
    let now = chrono::Utc::now().timestamp();
    let link = |exp: i64| {
        build(json!({
            "create": "connect",
            "request": { "dapp": { "name": "Shop", "origin": ORIGIN } },
            "exp": exp,
            "callback": receiver.url,
        }))
    };
    // Nobody's device was reached (no push channel, never polled): wallet_locked.
    let locked = api_post(
        &daemon,
        &key,
        "/v1/requests",
        json!({ "uri": link(now + 3)["uri"] }),
    )
    .expect(201);
    let locked_view = decided(&daemon, &key, &str_field(&locked, "id"));
    assert_eq!(locked_view["status"], "expired");
    assert_eq!(locked_view["result"]["reason"], "wallet_locked");
    // The device polls this one but does not answer: expired.
    let seen = api_post(
        &daemon,
        &key,
        "/v1/requests",
        json!({ "uri": link(chrono::Utc::now().timestamp() + 3)["uri"] }),
    )
    .expect(201);
    let waiting = poll(&daemon, &phone);
    assert!(
        waiting["challenges"]
            .as_array()
            .unwrap()
            .iter()
            .any(|item| item["parent"] == seen["id"]),
        "{waiting}"
    );
    let seen_view = decided(&daemon, &key, &str_field(&seen, "id"));
    assert_eq!(seen_view["result"]["reason"], "expired");
    assert_eq!(callbacks(&receiver, 2).len(), 2);

    // A request still pending when the daemon dies expires on time after the restart, with its callback.
    let pending = api_post(
        &daemon,
        &key,
        "/v1/requests",
        json!({ "uri": link(chrono::Utc::now().timestamp() + 4)["uri"] }),
    )
    .expect(201);
    daemon.kill9();
    daemon.restart();
    let view = decided(&daemon, &key, &str_field(&pending, "id"));
    assert_eq!(view["status"], "expired");
    assert_eq!(view["result"]["status"], "rejected");
    let delivered = callbacks(&receiver, 3);
    assert!(
        delivered
            .iter()
            .any(|(body, _)| body == view["result_body"].as_str().unwrap()),
        "{delivered:?}"
    );
}

/// 24 random hex digits, for nonces.
fn uuid_like() -> String {
    hex::encode(rand::random::<[u8; 12]>())
}

#[test]
fn connect_and_verify_message_requests_give_the_contract_results() {
    let daemon = Daemon::start_with(config());
    let (owner, key) = tenant(&daemon);
    let phone = DeviceSim::new(26);
    register(&daemon, &key, &phone);
    let stored = owner_put(
        &daemon,
        &owner,
        "/v1/requests/policy",
        json!({ "approvers": { "devices": [phone.fingerprint] }, "signingKey": { "algorithm": "ecdsa-p256" } }),
    )
    .expect(200);
    let identity = str_field(&stored["keys"]["ecdsa-p256"], "identity");
    let public_key = B64
        .decode(str_field(&stored["keys"]["ecdsa-p256"], "publicKey"))
        .unwrap();
    assert_eq!(public_key.len(), 33, "a compressed P-256 point");
    // The P-256 identity is the Qubic form of SHA-256 of the compressed key.
    use sha2::Digest;
    assert_eq!(
        result_py(&[
            "qubic-identity",
            "--bytes-hex",
            &hex::encode(sha2::Sha256::digest(&public_key))
        ])
        .unwrap(),
        identity
    );

    // connect: the identity and the permissions asked for.
    let link = build(json!({
        "create": "connect",
        "request": { "dapp": { "name": "Shop", "origin": ORIGIN }, "permissions": ["sign_message", "transfer"] },
    }));
    let created =
        api_post(&daemon, &key, "/v1/requests", json!({ "uri": link["uri"] })).expect(201);
    let id = str_field(&created, "id");
    answer(&daemon, &phone, &id, "approve");
    let result = decided(&daemon, &key, &id)["result"].clone();
    assert_eq!(
        result,
        json!({ "status": "connected", "nonce": link["envelope"]["request"]["nonce"], "type": "connect",
                "identity": identity, "permissions": ["sign_message", "transfer"] })
    );

    // verify_message: a P-256 signature made here verifies; the same over another message does not.
    use p256::ecdsa::signature::Signer as _;
    let signer = p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).unwrap();
    let signature: p256::ecdsa::Signature = signer.sign(b"I agree");
    let signer_key = {
        use p256::elliptic_curve::sec1::ToSec1Point;
        B64.encode(
            p256::PublicKey::from(signer.verifying_key())
                .to_sec1_point(true)
                .as_bytes(),
        )
    };
    for (message, valid) in [("I agree", true), ("I disagree", false)] {
        let link = build(json!({
            "create": "verify_message",
            "request": { "dapp": { "name": "Shop", "origin": ORIGIN }, "message": message,
                         "signature": B64.encode(signature.to_bytes()), "public_key": signer_key },
        }));
        let created =
            api_post(&daemon, &key, "/v1/requests", json!({ "uri": link["uri"] })).expect(201);
        let id = str_field(&created, "id");
        answer(&daemon, &phone, &id, "approve");
        let result = decided(&daemon, &key, &id)["result"].clone();
        assert_eq!(result["status"], "verified");
        assert_eq!(result["valid"], valid, "{message}: {result}");
        assert_eq!(result["identity"], identity.as_str());
    }
}
