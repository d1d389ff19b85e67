//! Envelope validation (one failing case per reason code, positive cases per type), trust levels on
//! vectors frozen from the Node oracle (`tests/oracles/connect_builder.mjs`, WebCrypto signatures and
//! real `localeCompare`), result bodies and `verify_message`.

use base64::Engine as _;
use serde_json::{Value, json};

use crate::*;

const NOW: u64 = 1_700_000_000;
/// Identities from `qubic::tests` (checked there against pycryptodome's K12).
const ID_A: &str = "EPIMSWIECMTVIGYPQWLNZOMPGWTCHEQOUWZMSXBYNEVGVFUBXPIZEAYDLQHE";
const ID_BURN: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAFXIB";

/// Node oracle output: a transfer signed by key k1 (issuer `demo.app`, key id `k1`, `public_jwk`
/// included), with a callback and the legacy `cb` parameter; exp = NOW + 600.
const SIGNED_TRANSFER: &str = include_str!("../testdata/signed_transfer.json");
/// Node oracle output: a sign_message signed by k1 (issuer `did:web:acme.example`, no key id, no
/// `public_jwk`), callback null, with a redirect_uri (not covered by the proof); exp = NOW + 300.
const SIGNED_MESSAGE: &str = include_str!("../testdata/signed_message.json");

/// The public half of the oracle's test key k1.
fn k1() -> Value {
    json!({"kty": "EC", "crv": "P-256", "x": "FEx-_kwzb-83Ksno2gBBd939HGtp3DD3b8w4t2EEBE0", "y": "USm8irN8wzj6mlMO0eZf6h8d8smHwm5jpyF0ctQwwRg"})
}

/// The public half of another oracle key, k2.
fn k2() -> Value {
    json!({"kty": "EC", "crv": "P-256", "x": "54x55syMkHpidqimyn2zjH3g3OoKOzZ7e7dg-PbB-mk", "y": "JAxsAUF-JLfTEKu5njs9ZQ4aR3j0BfXgOz3S3PF6YpI"})
}

fn fixture(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn uri_of(value: &Value) -> String {
    format!(
        "sigil://v1/request?d={}",
        b64url(value.to_string().as_bytes())
    )
}

fn transfer() -> Value {
    json!({
        "type": "transfer",
        "dapp": {"name": "Demo", "origin": "https://demo.app"},
        "nonce": "0123456789abcdef0123456789abcdef",
        "to": ID_A,
        "amount": 1_000_000,
    })
}

fn request_of(kind: &str) -> Value {
    let mut request = transfer();
    let fields = request.as_object_mut().unwrap();
    fields.remove("to");
    fields.remove("amount");
    fields.insert("type".into(), json!(kind));
    let extra = match kind {
        "transfer" => json!({"to": ID_A, "amount": "42"}),
        "sc_call" => json!({"contract_index": 1, "input_type": 2}),
        "sign_message" => json!({"message": "hello"}),
        "verify_message" => json!({"message": "hello", "signature": "sig", "public_key": "key"}),
        _ => json!({}),
    };
    for (key, value) in extra.as_object().unwrap() {
        fields.insert(key.clone(), value.clone());
    }
    request
}

/// Sets `request[key] = value` (or removes it for `Value::Null` when `remove`).
fn with(mut request: Value, key: &str, value: Value) -> Value {
    request[key] = value;
    request
}

fn without(mut request: Value, key: &str) -> Value {
    request.as_object_mut().unwrap().remove(key);
    request
}

fn reason_of(value: &Value) -> &'static str {
    parse_envelope(value, NOW)
        .expect_err("expected a refusal")
        .reason
}

fn request_reason(request: Value) -> &'static str {
    reason_of(&json!({ "request": request }))
}

// ---------------------------------------------------------------------------------------------------
// Oracle vectors and trust levels

#[test]
fn oracle_transfer_parses_and_its_canonical_payload_matches_node() {
    let fixture = fixture(SIGNED_TRANSFER);
    let envelope = parse_uri(fixture["uri"].as_str().unwrap(), NOW).unwrap();
    assert!(!envelope.legacy_bare);
    assert_eq!(envelope.kind, RequestType::Transfer);
    assert_eq!(envelope.request, fixture["envelope"]["request"]);
    assert_eq!(envelope.nonce, "a1b2c3d4e5f60718293a4b5c6d7e8f90");
    assert_eq!(envelope.exp, NOW + 600);
    assert_eq!(
        envelope.callback.as_deref(),
        Some("https://demo.app/api/sigil/callback")
    );
    assert_eq!(
        envelope.details,
        Details::Transfer {
            to: ID_A.into(),
            amount: "1500000".into(),
            from: None,
            tick_offset: Some(10)
        }
    );
    let proof = envelope.proof.as_ref().unwrap();
    assert_eq!(proof.issuer, "demo.app");
    assert_eq!(proof.key_id.as_deref(), Some("k1"));

    let canonical = canonical_payload(&envelope.request, envelope.callback.as_deref()).unwrap();
    // Node's localeCompare puts `a_b` before `a1` and `Zulu` last; code-unit order would not.
    assert_eq!(canonical, fixture["canonical"].as_str().unwrap());
    assert_eq!(payload_hash(&canonical), fixture["payload_hash"]);
    assert_eq!(proof.payload_hash, fixture["payload_hash"]);
    assert_eq!(
        parse_p256_jwk(proof.public_jwk.as_ref().unwrap()).unwrap(),
        parse_p256_jwk(&k1()).unwrap()
    );
}

fn entry(
    id: &str,
    issuer: &str,
    origins: &[&str],
    jwk: Value,
    key_id: Option<&str>,
) -> RegistryEntry {
    RegistryEntry {
        id: id.into(),
        issuer: issuer.into(),
        origins: origins.iter().map(|o| (*o).to_owned()).collect(),
        public_jwk: jwk,
        key_id: key_id.map(str::to_owned),
        revoked: false,
    }
}

fn signed_transfer() -> Envelope {
    parse_uri(fixture(SIGNED_TRANSFER)["uri"].as_str().unwrap(), NOW).unwrap()
}

fn level(envelope: &Envelope, registry: &[RegistryEntry]) -> TrustLevel {
    evaluate_trust(envelope, registry).level
}

#[test]
fn trust_levels_of_the_oracle_transfer() {
    let envelope = signed_transfer();
    let good = entry("e1", "demo.app", &["https://demo.app"], k1(), Some("k1"));

    let trust = evaluate_trust(&envelope, std::slice::from_ref(&good));
    assert_eq!(
        trust,
        Trust {
            level: TrustLevel::VerifiedRegistry,
            issuer: Some("demo.app".into()),
            registry_entry: Some("e1".into())
        }
    );
    // An entry without key id also matches; an entry for another key id is passed over for it.
    let other_key = entry("e0", "demo.app", &["https://demo.app"], k2(), Some("k0"));
    let any_key = entry("e2", "demo.app", &["https://demo.app"], k1(), None);
    let trust = evaluate_trust(&envelope, &[other_key.clone(), any_key]);
    assert_eq!(trust.level, TrustLevel::VerifiedRegistry);
    assert_eq!(trust.registry_entry.as_deref(), Some("e2"));
    // Only an entry for another key id: it is still the issuer's entry, and its key fails.
    let trust = evaluate_trust(&envelope, std::slice::from_ref(&other_key));
    assert_eq!(trust.level, TrustLevel::SignatureInvalid);
    assert_eq!(trust.registry_entry.as_deref(), Some("e0"));

    // Not in the registry: its own public_jwk verifies.
    let stranger = entry("s", "other.app", &["https://demo.app"], k1(), None);
    assert_eq!(level(&envelope, &[]), TrustLevel::SignedUntrusted);
    assert_eq!(level(&envelope, &[stranger]), TrustLevel::SignedUntrusted);

    let revoked = RegistryEntry {
        revoked: true,
        ..good.clone()
    };
    assert_eq!(level(&envelope, &[revoked]), TrustLevel::RegistryRevoked);
    let elsewhere = entry("e1", "demo.app", &["https://demo.app.evil"], k1(), None);
    assert_eq!(
        level(&envelope, &[elsewhere]),
        TrustLevel::RegistryOriginMismatch
    );
    // The registry's key is another key: the signature fails.
    let wrong_key = entry("e1", "demo.app", &["https://demo.app"], k2(), Some("k1"));
    assert_eq!(level(&envelope, &[wrong_key]), TrustLevel::SignatureInvalid);
    // The registry's key is unusable.
    let broken = entry(
        "e1",
        "demo.app",
        &["https://demo.app"],
        json!({"kty": "EC"}),
        None,
    );
    assert_eq!(level(&envelope, &[broken]), TrustLevel::SignatureInvalid);

    // Not registered, public_jwk of another key: signature_invalid; no public_jwk: registry_key_mismatch.
    let mut swapped = envelope.clone();
    swapped.proof.as_mut().unwrap().public_jwk = Some(k2());
    assert_eq!(level(&swapped, &[]), TrustLevel::SignatureInvalid);
    let mut keyless = envelope.clone();
    keyless.proof.as_mut().unwrap().public_jwk = None;
    assert_eq!(level(&keyless, &[]), TrustLevel::RegistryKeyMismatch);
    assert_eq!(
        level(&keyless, std::slice::from_ref(&good)),
        TrustLevel::VerifiedRegistry
    );

    // A corrupted signature with the right hash.
    let mut forged = envelope.clone();
    let signature = &mut forged.proof.as_mut().unwrap().signature;
    let flipped = if signature.starts_with('A') { "B" } else { "A" };
    signature.replace_range(0..1, flipped);
    assert_eq!(
        level(&forged, std::slice::from_ref(&good)),
        TrustLevel::SignatureInvalid
    );
    assert_eq!(level(&forged, &[]), TrustLevel::SignatureInvalid);

    // No proof at all.
    let mut bare = envelope.clone();
    bare.proof = None;
    assert_eq!(
        evaluate_trust(&bare, std::slice::from_ref(&good)),
        Trust {
            level: TrustLevel::LegacyUnverified,
            issuer: None,
            registry_entry: None
        }
    );

    for (level, blocks) in [
        (TrustLevel::LegacyUnverified, false),
        (TrustLevel::SignedUntrusted, false),
        (TrustLevel::VerifiedRegistry, false),
        (TrustLevel::SignatureInvalid, true),
        (TrustLevel::RegistryRevoked, true),
        (TrustLevel::RegistryOriginMismatch, true),
        (TrustLevel::RegistryKeyMismatch, true),
    ] {
        assert_eq!(level.blocks(), blocks, "{}", level.as_str());
    }
}

#[test]
fn a_tampered_request_or_callback_breaks_the_hash() {
    let fixture = fixture(SIGNED_TRANSFER);
    let good = entry("e1", "demo.app", &["https://demo.app"], k1(), Some("k1"));
    // The amount changed after signing: the envelope is still valid, but its hash no longer matches.
    let mut tampered = fixture["envelope"].clone();
    tampered["request"]["amount"] = json!("1500001");
    let envelope = parse_uri(&uri_of(&tampered), NOW).unwrap();
    let trust = evaluate_trust(&envelope, std::slice::from_ref(&good));
    assert_eq!(trust.level, TrustLevel::SignatureInvalid);
    assert_eq!(trust.registry_entry, None);
    // An unknown field added after signing.
    let mut extra = fixture["envelope"].clone();
    extra["request"]["note"] = json!("x");
    let envelope = parse_envelope(&extra, NOW).unwrap();
    assert_eq!(level(&envelope, &[]), TrustLevel::SignatureInvalid);
    // Another callback: the proof covers it.
    let mut moved = fixture["envelope"].clone();
    moved["callback"] = json!("https://evil.example/cb");
    let envelope = parse_envelope(&moved, NOW).unwrap();
    assert_eq!(
        level(&envelope, std::slice::from_ref(&good)),
        TrustLevel::SignatureInvalid
    );
    // Dropping the callback and passing it as a legacy cb keeps the effective callback: still verified.
    let mut legacy = fixture["envelope"].clone();
    legacy["callback"] = Value::Null;
    let uri = format!(
        "{}&cb=https%3A%2F%2Fdemo.app%2Fapi%2Fsigil%2Fcallback",
        uri_of(&legacy)
    );
    let envelope = parse_uri(&uri, NOW).unwrap();
    assert_eq!(
        level(&envelope, std::slice::from_ref(&good)),
        TrustLevel::VerifiedRegistry
    );
    // But a cb injected into an envelope signed with no callback breaks the proof.
    let message = fixture_message_envelope();
    let uri = format!("{}&cb=https://evil.example/cb", uri_of(&message));
    let envelope = parse_uri(&uri, NOW).unwrap();
    assert_eq!(
        envelope.callback.as_deref(),
        Some("https://evil.example/cb")
    );
    let acme = entry(
        "a",
        "did:web:acme.example",
        &["https://acme.example"],
        k1(),
        None,
    );
    assert_eq!(level(&envelope, &[acme]), TrustLevel::SignatureInvalid);
}

fn fixture_message_envelope() -> Value {
    fixture(SIGNED_MESSAGE)["envelope"].clone()
}

#[test]
fn oracle_sign_message_with_redirect_uri() {
    let fixture = fixture(SIGNED_MESSAGE);
    let envelope = parse_uri(fixture["uri"].as_str().unwrap(), NOW).unwrap();
    assert_eq!(envelope.exp, NOW + 300);
    assert_eq!(envelope.callback, None);
    assert_eq!(
        envelope.redirect_uri.as_deref(),
        Some("https://acme.example/signed")
    );
    assert_eq!(
        envelope.dapp,
        Dapp {
            name: "Acme".into(),
            origin: "https://acme.example".into(),
            icon: Some("https://acme.example/i.png".into())
        }
    );
    let Details::SignMessage {
        message,
        data,
        from,
    } = &envelope.details
    else {
        panic!("{:?}", envelope.details)
    };
    assert!(message.starts_with("Sign in to Acme · "));
    assert_eq!(data.as_deref(), Some(&[0u8, 1, 2, 3, 4][..]));
    assert_eq!(*from, None);
    let canonical = canonical_payload(&envelope.request, None).unwrap();
    assert_eq!(canonical, fixture["canonical"].as_str().unwrap());
    assert_eq!(payload_hash(&canonical), fixture["payload_hash"]);

    let acme = entry(
        "a",
        "did:web:acme.example",
        &["https://acme.example"],
        k1(),
        None,
    );
    assert_eq!(
        level(&envelope, std::slice::from_ref(&acme)),
        TrustLevel::VerifiedRegistry
    );
    // No public_jwk in this proof and no registry entry.
    assert_eq!(level(&envelope, &[]), TrustLevel::RegistryKeyMismatch);
    // redirect_uri is not covered by the proof: another path of the origin keeps the level, another origin
    // is refused for a signed request.
    let mut redirected = fixture["envelope"].clone();
    redirected["redirect_uri"] = json!("https://acme.example/elsewhere?x=1");
    let envelope = parse_envelope(&redirected, NOW).unwrap();
    assert_eq!(level(&envelope, &[acme]), TrustLevel::VerifiedRegistry);
    redirected["redirect_uri"] = json!("https://elsewhere.example/");
    assert_eq!(
        parse_envelope(&redirected, NOW).unwrap_err().reason,
        "redirect_origin_mismatch"
    );
}

#[test]
fn oracle_signatures_verify_with_verify_message_too() {
    // The WebCrypto signature (raw r||s) over the canonical payload, checked as a P-256 verify_message.
    let fixture = fixture(SIGNED_TRANSFER);
    let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(fixture["envelope"]["proof"]["signature"].as_str().unwrap())
        .unwrap();
    let key = parse_p256_jwk(&k1()).unwrap();
    let sec1 = key.to_sec1_point(false);
    let std = &base64::engine::general_purpose::STANDARD;
    let canonical = fixture["canonical"].as_str().unwrap().as_bytes();
    assert_eq!(
        verify_message(
            canonical,
            &std.encode(&signature),
            &std.encode(sec1.as_bytes())
        ),
        Ok(true)
    );
    let compressed = key.to_sec1_point(true);
    assert_eq!(
        verify_message(
            canonical,
            &std.encode(&signature),
            &std.encode(compressed.as_bytes())
        ),
        Ok(true)
    );
    assert_eq!(
        verify_message(
            b"other",
            &std.encode(&signature),
            &std.encode(sec1.as_bytes())
        ),
        Ok(false)
    );
}

#[test]
fn high_s_webcrypto_signatures_are_accepted() {
    // WebCrypto does not normalize s; the proof must verify with s or n - s.
    use p256::elliptic_curve::scalar::IsHigh as _;
    let mut envelope = signed_transfer();
    let proof = envelope.proof.as_mut().unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(&proof.signature)
        .unwrap();
    let signature = p256::ecdsa::Signature::from_slice(&bytes).unwrap();
    let (r, s) = signature.split_scalars();
    let flipped = p256::ecdsa::Signature::from_scalars(r, -*s).unwrap();
    assert_ne!(bool::from(s.is_high()), bool::from((-*s).is_high()));
    proof.signature = b64url(&flipped.to_bytes());
    assert_eq!(level(&envelope, &[]), TrustLevel::SignedUntrusted);
}

#[test]
fn jwk_parsing() {
    assert!(parse_p256_jwk(&k1()).is_ok());
    let mut extra = k1();
    extra["ext"] = json!(true);
    extra["alg"] = json!("ES256");
    assert!(parse_p256_jwk(&extra).is_ok());
    let mut private = k1();
    private["d"] = json!("hp6dCnrflDArciybokO7Rw3NmpPSfOs-7IzQ52BphaU");
    let mut off_curve = k1();
    off_curve["y"] = json!(b64url(&[1u8; 32]));
    let mut short = k1();
    short["x"] = json!(b64url(&[1u8; 31]));
    let mut padded = k1();
    padded["x"] = json!("FEx-_kwzb-83Ksno2gBBd939HGtp3DD3b8w4t2EEBE0=");
    for bad in [
        private,
        off_curve,
        short,
        padded,
        with(k1(), "crv", json!("P-384")),
        with(k1(), "kty", json!("OKP")),
        json!("not an object"),
    ] {
        assert_eq!(
            parse_p256_jwk(&bad).unwrap_err().reason,
            "invalid_jwk",
            "{bad}"
        );
    }
}

// ---------------------------------------------------------------------------------------------------
// URI layer

#[test]
fn uri_refusals() {
    let good = uri_of(&json!({"request": transfer()}));
    assert!(parse_uri(&good, NOW).is_ok());
    let d = good.split_once("?d=").unwrap().1;
    for (uri, reason) in [
        (format!("https://v1/request?d={d}"), "invalid_scheme"),
        (format!("sigil://v2/request?d={d}"), "invalid_scheme"),
        (format!("sigil://v1/requests?d={d}"), "invalid_scheme"),
        (format!("sigil://v1:99/request?d={d}"), "invalid_scheme"),
        (format!("sigil://u@v1/request?d={d}"), "invalid_scheme"),
        ("not a uri".to_owned(), "invalid_scheme"),
        ("sigil://v1/request".to_owned(), "missing_payload"),
        (
            "sigil://v1/request?x=1&cb=https://a.example".to_owned(),
            "missing_payload",
        ),
        (
            format!("sigil://v1/request?d={}", "A".repeat(8193)),
            "envelope_too_large",
        ),
        (format!("sigil://v1/request?d={d}="), "invalid_encoding"),
        (format!("sigil://v1/request?d={d}%3D"), "invalid_encoding"),
        ("sigil://v1/request?d=ab+c".to_owned(), "invalid_encoding"),
        ("sigil://v1/request?d=ab/c".to_owned(), "invalid_encoding"),
        (
            format!("sigil://v1/request?d={}", b64url(b"[1,2]")),
            "invalid_json",
        ),
        (
            format!("sigil://v1/request?d={}", b64url(b"{\"a\":")),
            "invalid_json",
        ),
        (
            format!("sigil://v1/request?d={}", b64url(&[0xff, 0xfe])),
            "invalid_json",
        ),
        (
            format!("{good}&cb=https%3A%2F%2Fother.example%2Fcb"),
            "ok-cb-alone",
        ),
    ] {
        if reason == "ok-cb-alone" {
            let envelope = parse_uri(&uri, NOW).unwrap();
            assert_eq!(
                envelope.callback.as_deref(),
                Some("https://other.example/cb")
            );
            continue;
        }
        assert_eq!(parse_uri(&uri, NOW).unwrap_err().reason, reason, "{uri}");
    }
    // Exactly 8192 characters is not too large (it then fails to decode as JSON).
    let at_limit = format!("sigil://v1/request?d={}", "A".repeat(8192));
    assert_eq!(
        parse_uri(&at_limit, NOW).unwrap_err().reason,
        "invalid_json"
    );
    // Other keys are ignored; the first d counts; '+' in cb is a space (URLSearchParams).
    let uri = format!("sigil://v1/request?x=1&d={d}&d=zzz");
    assert!(parse_uri(&uri, NOW).is_ok());
    let uri = format!("{good}&cb=https://a.example/?q=a+b");
    assert_eq!(
        parse_uri(&uri, NOW).unwrap().callback.as_deref(),
        Some("https://a.example/?q=a b")
    );
}

#[test]
fn callback_mismatch_between_payload_and_cb() {
    let envelope = json!({"request": transfer(), "callback": "https://demo.app/cb"});
    let same = format!("{}&cb=https%3A%2F%2Fdemo.app%2Fcb", uri_of(&envelope));
    assert_eq!(
        parse_uri(&same, NOW).unwrap().callback.as_deref(),
        Some("https://demo.app/cb")
    );
    let other = format!("{}&cb=https%3A%2F%2Fdemo.app%2Fcb2", uri_of(&envelope));
    let refusal = parse_uri(&other, NOW).unwrap_err();
    assert_eq!(refusal.reason, "callback_mismatch");
    // A cb alone is checked like a callback.
    let bare = format!("{}&cb=http%3A%2F%2Fdemo.app%2Fcb", uri_of(&transfer()));
    assert_eq!(
        parse_uri(&bare, NOW).unwrap_err().reason,
        "callback_not_https"
    );
}

// ---------------------------------------------------------------------------------------------------
// Envelope and request fields

#[test]
fn bare_requests_are_legacy() {
    let bare = with(transfer(), "callback", json!("https://demo.app/cb"));
    let envelope = parse_uri(&uri_of(&bare), NOW).unwrap();
    assert!(envelope.legacy_bare);
    assert_eq!(envelope.request, bare);
    assert_eq!(envelope.callback.as_deref(), Some("https://demo.app/cb"));
    assert_eq!(envelope.exp, NOW + DEFAULT_TTL_SECS);
    assert_eq!(
        evaluate_trust(&envelope, &[]).level,
        TrustLevel::LegacyUnverified
    );
    // A `request` member that is not an object does not make an envelope.
    let odd = with(transfer(), "request", json!("x"));
    assert!(parse_envelope(&odd, NOW).unwrap().legacy_bare);
    // Envelope form: unknown request fields are kept as received.
    let request = with(transfer(), "unknown", json!({"z": [1, 2]}));
    let envelope =
        parse_envelope(&json!({"request": request.clone(), "proof": null}), NOW).unwrap();
    assert!(!envelope.legacy_bare);
    assert_eq!(envelope.request, request);
    assert_eq!(envelope.proof, None);
}

#[test]
fn positive_cases_for_every_type() {
    let envelope = parse_envelope(
        &json!({"request": with(with(transfer(), "from", json!(ID_BURN)), "tick_offset", json!(-5))}),
        NOW,
    )
    .unwrap();
    assert_eq!(
        envelope.details,
        Details::Transfer {
            to: ID_A.into(),
            amount: "1000000".into(),
            from: Some(ID_BURN.into()),
            tick_offset: Some(-5)
        }
    );
    let max = with(transfer(), "amount", json!("18446744073709551615"));
    let Details::Transfer { amount, .. } = parse_envelope(&json!({"request": max}), NOW)
        .unwrap()
        .details
    else {
        panic!()
    };
    assert_eq!(amount, "18446744073709551615");
    let float = with(transfer(), "amount", json!(1e6));
    let Details::Transfer { amount, .. } = parse_envelope(&json!({"request": float}), NOW)
        .unwrap()
        .details
    else {
        panic!()
    };
    assert_eq!(amount, "1000000");

    let sc_call = json!({"request": with(with(with(request_of("sc_call"), "amount", json!("0")), "payload", json!("AAEC")), "from", json!(ID_A))});
    assert_eq!(
        parse_envelope(&sc_call, NOW).unwrap().details,
        Details::ScCall {
            contract_index: 1,
            input_type: 2,
            from: Some(ID_A.into()),
            amount: Some("0".into()),
            payload: Some("AAEC".into()),
            tick_offset: None
        }
    );
    let edge = with(
        with(request_of("sc_call"), "contract_index", json!(63)),
        "input_type",
        json!(0),
    );
    assert!(matches!(
        parse_envelope(&json!({"request": edge}), NOW)
            .unwrap()
            .details,
        Details::ScCall {
            contract_index: 63,
            input_type: 0,
            amount: None,
            ..
        }
    ));

    let long = "é".repeat(MAX_MESSAGE_CHARS); // 2048 chars, 4096 bytes
    let sign = with(
        with(request_of("sign_message"), "message", json!(long)),
        "data",
        json!("AAECAw"),
    );
    let Details::SignMessage { message, data, .. } = parse_envelope(&json!({"request": sign}), NOW)
        .unwrap()
        .details
    else {
        panic!()
    };
    assert_eq!(message.chars().count(), 2048);
    assert_eq!(data, Some(vec![0, 1, 2, 3]));

    let verify = with(request_of("verify_message"), "data", json!("AAECAw=="));
    assert_eq!(
        parse_envelope(&json!({"request": verify}), NOW)
            .unwrap()
            .details,
        Details::VerifyMessage {
            message: "hello".into(),
            signature: "sig".into(),
            public_key: "key".into(),
            data: Some(vec![0, 1, 2, 3])
        }
    );

    let connect = with(
        request_of("connect"),
        "permissions",
        json!(["transfer", "sign_message", "sc_call"]),
    );
    let envelope = parse_envelope(&json!({"request": connect, "callback": "http://localhost:5173/cb", "redirect_uri": "http://127.0.0.1:8080/back"}), NOW).unwrap();
    assert_eq!(envelope.kind, RequestType::Connect);
    assert_eq!(
        envelope.details,
        Details::Connect {
            permissions: vec![
                Permission::Transfer,
                Permission::SignMessage,
                Permission::ScCall
            ]
        }
    );
    assert_eq!(envelope.dapp.name, "Demo");
    let no_permissions = parse_envelope(&json!({"request": request_of("connect")}), NOW).unwrap();
    assert_eq!(
        no_permissions.details,
        Details::Connect {
            permissions: vec![]
        }
    );
    // dapp.name may be absent ("").
    let nameless = with(
        request_of("connect"),
        "dapp",
        json!({"origin": "https://x.example"}),
    );
    assert_eq!(
        parse_envelope(&json!({"request": nameless}), NOW)
            .unwrap()
            .dapp
            .name,
        ""
    );

    for (kind, name) in [
        (RequestType::Transfer, "transfer"),
        (RequestType::ScCall, "sc_call"),
        (RequestType::SignMessage, "sign_message"),
        (RequestType::VerifyMessage, "verify_message"),
        (RequestType::Connect, "connect"),
    ] {
        assert_eq!(kind.as_str(), name);
        assert_eq!(
            parse_envelope(&json!({"request": request_of(name)}), NOW)
                .unwrap()
                .kind,
            kind
        );
    }
    assert_eq!(Permission::ScCall.as_str(), "sc_call");
}

#[test]
fn exp_rules() {
    let exp =
        |value: Value| parse_envelope(&json!({"request": with(transfer(), "exp", value)}), NOW);
    assert_eq!(exp(json!(NOW + 1)).unwrap().exp, NOW + 1);
    assert_eq!(exp(json!(NOW + MAX_TTL_SECS)).unwrap().exp, NOW + 3600);
    assert_eq!(exp(json!(1.7000001e9)).unwrap().exp, 1_700_000_100);
    assert_eq!(exp(Value::Null).unwrap().exp, NOW + 300);
    for (value, reason) in [
        (json!(NOW), "exp_expired"),
        (json!(1), "exp_expired"),
        (json!(NOW + MAX_TTL_SECS + 1), "exp_too_far"),
        (json!(u64::MAX), "exp_invalid"),
        (json!(0), "exp_invalid"),
        (json!(-5), "exp_invalid"),
        (json!(1_700_000_100.5), "exp_invalid"),
        (json!("1700000100"), "exp_invalid"),
    ] {
        assert_eq!(exp(value.clone()).unwrap_err().reason, reason, "{value}");
    }
}

#[test]
fn nonce_rules() {
    let nonce = |value: Value| request_reason(with(transfer(), "nonce", value));
    for good in ["abcdefghijklmnop", "A-_=+0123456789Z", &"x".repeat(128)] {
        assert!(
            parse_envelope(
                &json!({"request": with(transfer(), "nonce", json!(good))}),
                NOW
            )
            .is_ok()
        );
    }
    for bad in [
        json!("abcdefghijklmno"),
        json!("x".repeat(129)),
        json!("abcdefghijklmno/"),
        json!("abcdefghijklmnoé"),
        json!("abcdefghijk lmnop"),
        json!(1234567890123456789u64),
        Value::Null,
    ] {
        assert_eq!(nonce(bad.clone()), "nonce_invalid", "{bad}");
    }
    assert_eq!(
        request_reason(without(transfer(), "nonce")),
        "nonce_invalid"
    );
    assert_eq!(NONCE_REPLAY, "nonce_replay");
}

#[test]
fn callback_and_redirect_rules() {
    let check = |key: &str, value: Value| {
        parse_envelope(&json!({"request": transfer(), key: value}), NOW).map(|_| ())
    };
    for good in [
        "https://demo.app/cb",
        "https://demo.app:8443/cb?x=1#f",
        "https://127.0.0.1/cb",
        "https://localhost/cb",
        "http://localhost/cb",
        "http://localhost:5173/cb",
        "http://127.0.0.1:8080/cb",
        "https://8.8.8.8/cb",
        "https://[2001:db8::1]/cb",
        "https://[::ffff:8.8.8.8]/cb",
    ] {
        assert_eq!(check("callback", json!(good)), Ok(()), "{good}");
        assert_eq!(check("redirect_uri", json!(good)), Ok(()), "{good}");
    }
    assert_eq!(check("callback", Value::Null), Ok(()));
    for (value, callback, redirect) in [
        (json!(5), "callback_invalid", "redirect_invalid"),
        (json!("not a url"), "callback_invalid", "redirect_invalid"),
        (json!("/relative"), "callback_invalid", "redirect_invalid"),
        (
            json!("https://user@demo.app/cb"),
            "callback_invalid",
            "redirect_invalid",
        ),
        (
            json!("https://user:pw@demo.app/cb"),
            "callback_invalid",
            "redirect_invalid",
        ),
        (
            json!("http://demo.app/cb"),
            "callback_not_https",
            "redirect_not_https",
        ),
        (
            json!("http://127.0.0.2/cb"),
            "callback_not_https",
            "redirect_not_https",
        ),
        (
            json!("http://[::1]/cb"),
            "callback_not_https",
            "redirect_not_https",
        ),
        (
            json!("http://foo.localhost/cb"),
            "callback_not_https",
            "redirect_not_https",
        ),
        (
            json!("ftp://demo.app/cb"),
            "callback_not_https",
            "redirect_not_https",
        ),
        (
            json!("javascript:alert(1)"),
            "callback_not_https",
            "redirect_not_https",
        ),
        (
            json!("https://10.0.0.1/cb"),
            "callback_private",
            "redirect_private",
        ),
        (
            json!("https://172.16.5.4/cb"),
            "callback_private",
            "redirect_private",
        ),
        (
            json!("https://192.168.1.1/cb"),
            "callback_private",
            "redirect_private",
        ),
        (
            json!("https://169.254.169.254/latest"),
            "callback_private",
            "redirect_private",
        ),
        (
            json!("https://127.0.0.2/cb"),
            "callback_private",
            "redirect_private",
        ),
        (
            json!("https://0.0.0.0/cb"),
            "callback_private",
            "redirect_private",
        ),
        (
            json!("https://100.64.0.1/cb"),
            "callback_private",
            "redirect_private",
        ),
        (
            json!("https://0x7f.2/cb"),
            "callback_private",
            "redirect_private",
        ),
        (
            json!("https://[::1]/cb"),
            "callback_private",
            "redirect_private",
        ),
        (
            json!("https://[::]/cb"),
            "callback_private",
            "redirect_private",
        ),
        (
            json!("https://[fd00::1]/cb"),
            "callback_private",
            "redirect_private",
        ),
        (
            json!("https://[fe80::1]/cb"),
            "callback_private",
            "redirect_private",
        ),
        (
            json!("https://[::ffff:10.1.2.3]/cb"),
            "callback_private",
            "redirect_private",
        ),
    ] {
        let refusal = check("callback", value.clone()).expect_err(&value.to_string());
        assert_eq!(
            (refusal.reason, refusal.field.as_deref()),
            (callback, Some("callback")),
            "{value}"
        );
        let refusal = check("redirect_uri", value.clone()).unwrap_err();
        assert_eq!(
            (refusal.reason, refusal.field.as_deref()),
            (redirect, Some("redirect_uri")),
            "{value}"
        );
    }
}

#[test]
fn dapp_and_type_rules() {
    for (request, reason) in [
        (without(transfer(), "type"), "invalid_type"),
        (with(transfer(), "type", json!("Transfer")), "invalid_type"),
        (with(transfer(), "type", json!(1)), "invalid_type"),
        (without(transfer(), "dapp"), "origin_missing"),
        (
            with(transfer(), "dapp", json!("https://demo.app")),
            "origin_missing",
        ),
        (
            with(transfer(), "dapp", json!({"name": "Demo"})),
            "origin_missing",
        ),
        (
            with(transfer(), "dapp", json!({"origin": null})),
            "origin_missing",
        ),
        (
            with(transfer(), "dapp", json!({"origin": "http://demo.app"})),
            "origin_not_https",
        ),
        (
            with(transfer(), "dapp", json!({"origin": "demo.app"})),
            "origin_not_https",
        ),
        (
            with(transfer(), "dapp", json!({"origin": ""})),
            "origin_not_https",
        ),
        (
            with(transfer(), "dapp", json!({"origin": 7})),
            "origin_not_https",
        ),
        (
            with(transfer(), "dapp", json!({"origin": "https://"})),
            "origin_not_https",
        ),
        (
            with(
                transfer(),
                "dapp",
                json!({"origin": "https://d.app", "name": 5}),
            ),
            "invalid_dapp",
        ),
        (
            with(
                transfer(),
                "dapp",
                json!({"origin": "https://d.app", "icon": []}),
            ),
            "invalid_dapp",
        ),
    ] {
        assert_eq!(request_reason(request.clone()), reason, "{request}");
    }
    let refusal =
        parse_envelope(&json!({"request": without(transfer(), "dapp")}), NOW).unwrap_err();
    assert_eq!(refusal.field.as_deref(), Some("request.dapp"));
    assert_eq!(reason_of(&json!([1])), "invalid_json");
}

#[test]
fn transfer_rules() {
    for (request, reason) in [
        (without(transfer(), "to"), "invalid_identity"),
        (
            with(transfer(), "to", json!(ID_A.to_lowercase())),
            "invalid_identity",
        ),
        (
            with(transfer(), "to", json!(&ID_A[..59])),
            "invalid_identity",
        ),
        (
            with(transfer(), "to", json!(format!("{}A", &ID_A[..59]))),
            "invalid_identity",
        ),
        (with(transfer(), "to", json!(5)), "invalid_identity"),
        (
            with(transfer(), "from", json!("NOT AN IDENTITY")),
            "invalid_identity",
        ),
        (without(transfer(), "amount"), "invalid_amount"),
        (with(transfer(), "amount", json!(0)), "invalid_amount"),
        (with(transfer(), "amount", json!("0")), "invalid_amount"),
        (with(transfer(), "amount", json!(-1)), "invalid_amount"),
        (with(transfer(), "amount", json!(1.5)), "invalid_amount"),
        (
            with(transfer(), "amount", json!(9_007_199_254_740_993u64)),
            "invalid_amount",
        ),
        (with(transfer(), "amount", json!("")), "invalid_amount"),
        (with(transfer(), "amount", json!("+5")), "invalid_amount"),
        (with(transfer(), "amount", json!("-5")), "invalid_amount"),
        (with(transfer(), "amount", json!("05")), "invalid_amount"),
        (with(transfer(), "amount", json!("1.0")), "invalid_amount"),
        (with(transfer(), "amount", json!(" 5")), "invalid_amount"),
        (
            with(transfer(), "amount", json!("18446744073709551616")),
            "invalid_amount",
        ),
        (with(transfer(), "amount", json!(true)), "invalid_amount"),
        (
            with(transfer(), "tick_offset", json!(1.5)),
            "invalid_tick_offset",
        ),
        (
            with(transfer(), "tick_offset", json!("5")),
            "invalid_tick_offset",
        ),
    ] {
        assert_eq!(request_reason(request.clone()), reason, "{request}");
    }
    let refusal = parse_envelope(
        &json!({"request": with(transfer(), "from", json!("X"))}),
        NOW,
    )
    .unwrap_err();
    assert_eq!(refusal.field.as_deref(), Some("request.from"));
}

/// The seed page's example transfer uses an identity with digits: the newer app checks the alphabet and
/// the checksum, so it is refused.
#[test]
fn the_seed_page_example_identity_is_refused() {
    let request = json!({
        "type": "transfer",
        "nonce": "8f14e45f-ceea-467f-a0b5-2b3c4d5e6f70",
        "dapp": {"name": "Acme", "origin": "https://acme.example"},
        "to": "NQZBXKZP4MTLDUVWXYZK8MFAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "amount": 1_000_000,
        "exp": NOW + 300,
    });
    let refusal = parse_envelope(
        &json!({"request": request, "callback": "https://acme.example/api/sigil/callback"}),
        NOW,
    )
    .unwrap_err();
    assert_eq!(refusal.reason, "invalid_identity");
    assert_eq!(refusal.field.as_deref(), Some("request.to"));
}

#[test]
fn sc_call_rules() {
    let sc = request_of("sc_call");
    for (request, reason) in [
        (
            without(sc.clone(), "contract_index"),
            "invalid_contract_index",
        ),
        (
            with(sc.clone(), "contract_index", json!(64)),
            "invalid_contract_index",
        ),
        (
            with(sc.clone(), "contract_index", json!(-1)),
            "invalid_contract_index",
        ),
        (
            with(sc.clone(), "contract_index", json!("1")),
            "invalid_contract_index",
        ),
        (
            with(sc.clone(), "contract_index", json!(1.5)),
            "invalid_contract_index",
        ),
        (without(sc.clone(), "input_type"), "invalid_input_type"),
        (
            with(sc.clone(), "input_type", json!(-1)),
            "invalid_input_type",
        ),
        (
            with(sc.clone(), "input_type", json!("2")),
            "invalid_input_type",
        ),
        (with(sc.clone(), "amount", json!(-1)), "invalid_amount"),
        (with(sc.clone(), "amount", json!("00")), "invalid_amount"),
        (with(sc.clone(), "payload", json!(5)), "invalid_payload"),
        (
            with(sc.clone(), "from", json!(ID_A.replace('E', "F"))),
            "invalid_identity",
        ),
        (
            with(sc.clone(), "tick_offset", json!(true)),
            "invalid_tick_offset",
        ),
    ] {
        assert_eq!(request_reason(request.clone()), reason, "{request}");
    }
}

#[test]
fn message_rules() {
    let sign = request_of("sign_message");
    let verify = request_of("verify_message");
    for (request, reason) in [
        (without(sign.clone(), "message"), "message_empty"),
        (with(sign.clone(), "message", json!("")), "message_empty"),
        (with(sign.clone(), "message", json!(5)), "message_empty"),
        (
            with(sign.clone(), "message", json!("é".repeat(2049))),
            "message_too_long",
        ),
        (with(sign.clone(), "data", json!("AAEC-_")), "invalid_data"),
        (with(sign.clone(), "data", json!("A")), "invalid_data"),
        (with(sign.clone(), "data", json!(5)), "invalid_data"),
        (with(sign.clone(), "from", json!("ABC")), "invalid_identity"),
        (with(verify.clone(), "message", json!("")), "message_empty"),
        (
            without(verify.clone(), "signature"),
            "invalid_signature_field",
        ),
        (
            with(verify.clone(), "signature", json!(5)),
            "invalid_signature_field",
        ),
        (without(verify.clone(), "public_key"), "invalid_public_key"),
        (
            with(verify.clone(), "public_key", json!([])),
            "invalid_public_key",
        ),
        (with(verify.clone(), "data", json!("!!!!")), "invalid_data"),
    ] {
        assert_eq!(request_reason(request.clone()), reason, "{request}");
    }
}

#[test]
fn a_message_cannot_pose_as_an_authorization() {
    let sign = request_of("sign_message");
    let forged = base64::engine::general_purpose::STANDARD
        .encode(crate::authorization_message(r#"{"type":"transfer"}"#));
    assert_eq!(
        request_reason(with(sign.clone(), "data", json!(forged))),
        "message_reserved"
    );
    assert_eq!(
        request_reason(with(sign, "message", json!("SIGIL-CONNECT-anything"))),
        "message_reserved"
    );
}

#[test]
fn connect_rules() {
    let connect = request_of("connect");
    for permissions in [
        json!("transfer"),
        json!(["transfer", "verify_message"]),
        json!([1]),
        json!({}),
        json!(["sign_message", "sign_message"]),
    ] {
        let request = with(connect.clone(), "permissions", permissions.clone());
        assert_eq!(
            request_reason(request),
            "invalid_permissions",
            "{permissions}"
        );
    }
}

#[test]
fn proof_shape_rules() {
    let fixture = fixture(SIGNED_TRANSFER);
    let proof = fixture["envelope"]["proof"].clone();
    let check = |proof: Value| reason_of(&json!({"request": transfer(), "proof": proof}));
    for (bad, field) in [
        (json!("proof"), "proof"),
        (with(proof.clone(), "version", json!(2)), "proof.version"),
        (with(proof.clone(), "version", json!("1")), "proof.version"),
        (without(proof.clone(), "version"), "proof.version"),
        (
            with(proof.clone(), "algorithm", json!("ES384")),
            "proof.algorithm",
        ),
        (with(proof.clone(), "issuer", json!("")), "proof.issuer"),
        (without(proof.clone(), "issuer"), "proof.issuer"),
        (
            with(proof.clone(), "payload_hash", json!("short")),
            "proof.payload_hash",
        ),
        (
            with(proof.clone(), "signature", json!("0123456789abcde")),
            "proof.signature",
        ),
        (without(proof.clone(), "signature"), "proof.signature"),
        (with(proof.clone(), "key_id", json!(1)), "proof.key_id"),
        (
            with(proof.clone(), "public_jwk", json!("jwk")),
            "proof.public_jwk",
        ),
    ] {
        assert_eq!(check(bad.clone()), "proof_invalid", "{bad}");
        let refusal =
            parse_envelope(&json!({"request": transfer(), "proof": bad}), NOW).unwrap_err();
        assert_eq!(refusal.field.as_deref(), Some(field));
    }
    // A shape-valid proof over another request is accepted here and judged by evaluate_trust.
    let envelope = parse_envelope(&json!({"request": transfer(), "proof": proof}), NOW).unwrap();
    assert_eq!(
        evaluate_trust(&envelope, &[]).level,
        TrustLevel::SignatureInvalid
    );
}

#[test]
fn uncanonicalizable_numbers_are_refused() {
    // A passthrough integer beyond 2^53 cannot be canonicalized: neither a proof nor a device could sign
    // over the request, so it is refused at once.
    let request = with(transfer(), "big", json!(u64::MAX));
    let mut value = fixture(SIGNED_TRANSFER)["envelope"].clone();
    value["request"] = request.clone();
    assert_eq!(
        parse_envelope(&value, NOW).unwrap_err().reason,
        "invalid_json"
    );
    assert_eq!(canonicalize(&request).unwrap_err().reason, "invalid_json");
}

// ---------------------------------------------------------------------------------------------------
// Result bodies and verify_message

#[test]
fn result_bodies_in_the_app_key_order() {
    let cases = [
        (
            RequestType::Transfer,
            Outcome::Signed {
                identity: ID_A.into(),
                tx_hash: "abc".into(),
                target_tick: 123,
                signature: None,
                public_key: None,
            },
            format!(
                r#"{{"status":"signed","nonce":"n1","type":"transfer","identity":"{ID_A}","tx_hash":"abc","target_tick":123}}"#
            ),
        ),
        (
            RequestType::ScCall,
            Outcome::Signed {
                identity: ID_A.into(),
                tx_hash: "t".into(),
                target_tick: 0,
                signature: Some("c2ln".into()),
                public_key: Some("a2V5".into()),
            },
            format!(
                r#"{{"status":"signed","nonce":"n1","type":"sc_call","identity":"{ID_A}","tx_hash":"t","target_tick":0,"signature":"c2ln","public_key":"a2V5"}}"#
            ),
        ),
        (
            RequestType::SignMessage,
            Outcome::SignedMessage {
                identity: ID_A.into(),
                signature: "c2ln".into(),
                public_key: "a2V5".into(),
            },
            format!(
                r#"{{"status":"signed","nonce":"n1","type":"sign_message","identity":"{ID_A}","signature":"c2ln","public_key":"a2V5"}}"#
            ),
        ),
        (
            RequestType::VerifyMessage,
            Outcome::Verified {
                valid: true,
                identity: ID_A.into(),
            },
            format!(
                r#"{{"status":"verified","nonce":"n1","type":"verify_message","valid":true,"identity":"{ID_A}"}}"#
            ),
        ),
        (
            RequestType::Connect,
            Outcome::Connected {
                identity: ID_A.into(),
                permissions: vec![Permission::Transfer, Permission::ScCall],
            },
            format!(
                r#"{{"status":"connected","nonce":"n1","type":"connect","identity":"{ID_A}","permissions":["transfer","sc_call"]}}"#
            ),
        ),
        (
            RequestType::Transfer,
            Outcome::Rejected {
                reason: "user_rejected".into(),
            },
            r#"{"status":"rejected","nonce":"n1","type":"transfer","reason":"user_rejected"}"#
                .to_owned(),
        ),
    ];
    for (kind, outcome, expected) in cases {
        assert_eq!(result_body("n1", kind, &outcome), expected);
    }
    assert_eq!(
        result_body(
            "q\"\\",
            RequestType::Connect,
            &Outcome::Rejected {
                reason: "permission_denied".into()
            }
        ),
        r#"{"status":"rejected","nonce":"q\"\\","type":"connect","reason":"permission_denied"}"#
    );
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn verify_message_ed25519_rfc8032_vectors() {
    let std = &base64::engine::general_purpose::STANDARD;
    // RFC 8032 §7.1, TEST 1 (empty message) and TEST 2 (one byte 0x72).
    let key1 = std.encode(hex(
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
    ));
    let sig1 = std.encode(hex("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"));
    let key2 = std.encode(hex(
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
    ));
    let sig2 = std.encode(hex("92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"));
    assert_eq!(verify_message(b"", &sig1, &key1), Ok(true));
    assert_eq!(verify_message(&[0x72], &sig2, &key2), Ok(true));
    assert_eq!(verify_message(&[0x73], &sig2, &key2), Ok(false));
    assert_eq!(verify_message(b"", &sig2, &key1), Ok(false));

    for (signature, key, reason) in [
        (sig1.as_str(), "not base64!", "invalid_public_key"),
        (sig1.as_str(), "AAAA", "invalid_public_key"),
        (
            &*std.encode([0u8; 63]),
            key1.as_str(),
            "invalid_signature_field",
        ),
        ("%%%", key1.as_str(), "invalid_signature_field"),
        // 33 bytes that are no SEC1 point (bad tag).
        (
            sig1.as_str(),
            &*std.encode([0x05; 33]),
            "invalid_public_key",
        ),
        // 65 bytes with the hybrid tag 0x06 instead of 0x04.
        (
            sig1.as_str(),
            &*std.encode(
                [
                    &[0x06u8][..],
                    &parse_p256_jwk(&k1())
                        .unwrap()
                        .to_sec1_point(false)
                        .as_bytes()[1..],
                ]
                .concat(),
            ),
            "invalid_public_key",
        ),
        // P-256: r = 0.
        (
            &*std.encode([0u8; 64]),
            &*std.encode(
                parse_p256_jwk(&k1())
                    .unwrap()
                    .to_sec1_point(true)
                    .as_bytes(),
            ),
            "invalid_signature_field",
        ),
    ] {
        assert_eq!(
            verify_message(b"m", signature, key).expect_err(key).reason,
            reason,
            "{key}"
        );
    }
}

/// Every reason code of the crate documentation's table is produced by at least one test above (as a
/// string literal), and every reason the code can return is in the table.
#[test]
fn every_documented_reason_is_tested_and_every_produced_reason_documented() {
    let lib = include_str!("lib.rs");
    let table: Vec<&str> = lib
        .lines()
        .filter(|line| line.starts_with("//! | `"))
        .flat_map(|line| {
            let cell = line.split('|').nth(1).unwrap_or("");
            cell.split('`').skip(1).step_by(2).collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(table.len(), 37, "{table:?}");
    let tests = include_str!("tests.rs");
    for reason in &table {
        if *reason == "nonce_replay" {
            continue; // the caller's check; only the constant exists here
        }
        assert!(
            tests.contains(&format!("\"{reason}\"")),
            "no test expects {reason}"
        );
    }
    let sources = [
        include_str!("envelope.rs"),
        include_str!("urls.rs"),
        include_str!("trust.rs"),
        include_str!("outcome.rs"),
        include_str!("qubic.rs"),
        include_str!("canonical.rs"),
    ];
    for source in sources {
        for (index, _) in source.match_indices("Refusal::new(\"") {
            let rest = &source[index + "Refusal::new(\"".len()..];
            let reason = &rest[..rest.find('"').unwrap()];
            assert!(table.contains(&reason), "{reason} is not documented");
        }
        for (index, _) in source.match_indices("refusal(\"") {
            let rest = &source[index + "refusal(\"".len()..];
            let reason = &rest[..rest.find('"').unwrap()];
            assert!(table.contains(&reason), "{reason} is not documented");
        }
    }
}
