//! Data-driven tests of keys, signatures and domain separation, and the worked example of
//! docs/DEVICES.md, which is rendered here and must appear in the document verbatim.

use p256::elliptic_curve::ops::Reduce as _;
use serde_json::{Value, json};

use crate::messages::{
    challenge_message, check_poll_timestamp, decode_nonce, mpa_message, parse_poll_timestamp,
    poll_message, registration_message,
};
use crate::{
    Decision, DeviceError, DevicePublicKey, DeviceSigningKey, Purpose, action_digest,
    decode_base64, encode_base64, fingerprint, parse_fingerprint, parse_public_key,
    parse_signature, pictogram_of_hex, to_hex, verify_response,
};

/// The documented private key: the scalar 0x0102...20.
fn example_key() -> DeviceSigningKey {
    let scalar: [u8; 32] = std::array::from_fn(|i| i as u8 + 1);
    DeviceSigningKey::from_bytes(&scalar).unwrap()
}

fn code<T: std::fmt::Debug>(result: Result<T, DeviceError>) -> &'static str {
    result.unwrap_err().code()
}

/// The P-256 group order n.
const ORDER: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

#[test]
fn public_keys_that_are_refused() {
    let good = example_key().public_key();
    let good_bytes = *good.as_bytes();
    let uncompressed = {
        use p256::ecdsa::VerifyingKey;
        let key = VerifyingKey::from_sec1_bytes(&good_bytes).unwrap();
        key.to_sec1_point(false).as_bytes().to_vec()
    };
    assert_eq!(uncompressed.len(), 65);
    // X = 1 has no point on P-256 (1 - 3 + b is not a square mod p); X = p is out of range.
    let mut off_curve = [0u8; 33];
    off_curve[0] = 0x02;
    off_curve[32] = 1;
    assert!(p256::ecdsa::VerifyingKey::from_sec1_bytes(&off_curve).is_err());
    // p = ffffffff 00000001 00000000 00000000 00000000 ffffffff ffffffff ffffffff
    let mut x_is_p = [0xffu8; 33];
    x_is_p[0] = 0x02;
    x_is_p[5..9].copy_from_slice(&[0, 0, 0, 1]);
    x_is_p[9..21].fill(0);
    let mut bad_prefix = good_bytes;
    bad_prefix[0] = 0x04;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("identity (SEC1 0x00)", vec![0x00]),
        ("32 bytes", good_bytes[1..].to_vec()),
        ("34 bytes", [&good_bytes[..], &[0]].concat()),
        ("65-byte uncompressed", uncompressed.clone()),
        ("uncompressed prefix on 33 bytes", bad_prefix.to_vec()),
        ("hybrid prefix 0x06", [&[0x06], &good_bytes[1..]].concat()),
        ("prefix 0x00 with X", [&[0x00], &good_bytes[1..]].concat()),
        ("X with no point", off_curve.to_vec()),
        ("X = p", x_is_p.to_vec()),
        ("X = 0xff..ff", [&[0x03u8][..], &[0xff; 32]].concat()),
    ];
    for (name, bytes) in cases {
        assert_eq!(
            code(DevicePublicKey::from_compressed(&bytes)),
            "INVALID_PUBLIC_KEY",
            "{name}"
        );
        assert_eq!(
            code(parse_public_key(&encode_base64(&bytes))),
            "INVALID_PUBLIC_KEY",
            "{name}"
        );
    }
    let b64 = good.to_base64();
    for bad in [
        format!(" {b64}"),
        format!("{b64}="),
        b64[..43].to_owned(),
        b64.replace('+', "-").replace('/', "_") + "!",
        "not base64".to_owned(),
    ] {
        assert_eq!(
            code(parse_public_key(&bad)),
            "INVALID_PUBLIC_KEY",
            "{bad:?}"
        );
    }
    assert_eq!(parse_public_key(&b64).unwrap(), good);
    // Both compressed prefixes of a valid X are accepted (they are the two points with that X).
    let mut other = good_bytes;
    other[0] ^= 0x01;
    assert!(DevicePublicKey::from_compressed(&other).is_ok());
}

#[test]
fn fingerprints() {
    let key = example_key().public_key();
    let text = key.fingerprint();
    assert_eq!(text, fingerprint(key.as_bytes()));
    assert_eq!(to_hex(&parse_fingerprint(&text).unwrap()), text);
    for bad in [
        String::new(),
        text[..63].to_owned(),
        format!("{text}0"),
        text.to_uppercase(),
        format!("{}g", &text[..63]),
        format!(" {}", &text[1..]),
        "é".repeat(32),
    ] {
        assert_eq!(
            code(parse_fingerprint(&bad)),
            "INVALID_FINGERPRINT",
            "{bad:?}"
        );
    }
}

#[test]
fn signatures_that_are_refused() {
    let signer = example_key();
    let key = signer.public_key();
    let message = b"SIGIL-REGISTER-V1\0nonce";
    let good = signer.sign(message);
    assert_eq!(verify_response(&key, message, &good), Ok(()));
    let bytes = decode_base64(&good).unwrap();

    // High-S: the same signature with s replaced by n - s verifies mathematically but is refused.
    let s = p256::Scalar::reduce(&p256::FieldBytes::from(
        <[u8; 32]>::try_from(&bytes[32..]).unwrap(),
    ));
    let high: [u8; 32] = (-s).to_bytes().into();
    let high_s = encode_base64(&[&bytes[..32], &high[..]].concat());
    let error = verify_response(&key, message, &high_s).unwrap_err();
    assert_eq!(error.code(), "INVALID_SIGNATURE");
    assert!(error.to_string().contains("high-S"), "{error}");

    let zeros = [0u8; 64];
    let r_is_n = [&ORDER[..], &bytes[32..]].concat();
    let s_is_n = [&bytes[..32], &ORDER[..]].concat();
    let cases: Vec<(&str, String)> = vec![
        ("63 bytes", encode_base64(&bytes[..63])),
        ("65 bytes", encode_base64(&[&bytes[..], &[0]].concat())),
        ("DER", encode_base64(&[&[0x30, 0x44][..], &bytes].concat())),
        ("zeros", encode_base64(&zeros)),
        ("r = n", encode_base64(&r_is_n)),
        ("s = n", encode_base64(&s_is_n)),
        (
            "url-safe alphabet",
            good.replace('+', "-").replace('/', "_").replace('=', "") + "xx",
        ),
        ("unpadded", good.trim_end_matches('=').to_owned()),
        ("whitespace", format!("{good}\n")),
        ("empty", String::new()),
    ];
    for (name, signature) in cases {
        assert_eq!(
            code(verify_response(&key, message, &signature)),
            "INVALID_SIGNATURE",
            "{name}"
        );
    }
    assert_eq!(
        code(verify_response(&key, b"another message", &good)),
        "SIGNATURE_INVALID"
    );
    let stranger = DeviceSigningKey::from_bytes(&[7; 32]).unwrap().public_key();
    assert_eq!(
        code(verify_response(&stranger, message, &good)),
        "SIGNATURE_INVALID"
    );
    assert!(parse_signature(&good).is_ok());
}

#[test]
fn signing_is_deterministic_and_low_s() {
    let signer = example_key();
    for i in 0u8..64 {
        let message = [i; 7];
        let signature = signer.sign(&message);
        assert_eq!(signature, signer.sign(&message));
        parse_signature(&signature).expect("low-S");
    }
    assert!(DeviceSigningKey::from_bytes(&[0; 32]).is_none());
    assert!(DeviceSigningKey::from_bytes(&ORDER).is_none());
}

/// One message of every purpose, from the same key and related inputs.
fn one_of_each(
    fingerprint: &str,
    challenge: &[u8; 32],
    action: Option<&Value>,
) -> Vec<(Purpose, Vec<u8>)> {
    vec![
        (Purpose::Register, registration_message(challenge)),
        (
            Purpose::ChallengeApprove,
            challenge_message(Decision::Approve, challenge, action).unwrap(),
        ),
        (
            Purpose::ChallengeDeny,
            challenge_message(Decision::Deny, challenge, action).unwrap(),
        ),
        (
            Purpose::MpaApprove,
            mpa_message(Decision::Approve, "req-1", action).unwrap(),
        ),
        (
            Purpose::MpaDeny,
            mpa_message(Decision::Deny, "req-1", action).unwrap(),
        ),
        (
            Purpose::Poll,
            poll_message(fingerprint, 1_767_225_600).unwrap(),
        ),
    ]
}

#[test]
fn a_signature_serves_one_purpose_only() {
    let signer = example_key();
    let key = signer.public_key();
    let challenge = [0x5a; 32];
    let action = json!({"op": "deploy"});
    let messages = one_of_each(&key.fingerprint(), &challenge, Some(&action));
    for (purpose, message) in &messages {
        assert!(message.starts_with(purpose.domain_tag()));
        let signature = signer.sign(message);
        for (other, other_message) in &messages {
            let result = verify_response(&key, other_message, &signature);
            if other == purpose {
                assert_eq!(result, Ok(()), "{purpose:?}");
            } else {
                assert_eq!(
                    code(result),
                    "SIGNATURE_INVALID",
                    "{purpose:?} used as {other:?}"
                );
            }
        }
    }
    // No tag is a prefix of another, so no message of one purpose is a message of another.
    for a in Purpose::ALL {
        for b in Purpose::ALL {
            assert!(
                a == b || !a.domain_tag().starts_with(b.domain_tag()),
                "{a:?} {b:?}"
            );
        }
    }

    let approve = challenge_message(Decision::Approve, &challenge, Some(&action)).unwrap();
    let signature = signer.sign(&approve);
    let refused = |message: Vec<u8>| code(verify_response(&key, &message, &signature));
    // Another challenge, another action, no action, and reordered keys that canonicalize the same.
    assert_eq!(
        refused(challenge_message(Decision::Approve, &[0x5b; 32], Some(&action)).unwrap()),
        "SIGNATURE_INVALID"
    );
    assert_eq!(
        refused(
            challenge_message(
                Decision::Approve,
                &challenge,
                Some(&json!({"op": "destroy"}))
            )
            .unwrap()
        ),
        "SIGNATURE_INVALID"
    );
    assert_eq!(
        refused(challenge_message(Decision::Approve, &challenge, None).unwrap()),
        "SIGNATURE_INVALID"
    );
    let mpa = mpa_message(Decision::Approve, "req-1", Some(&action)).unwrap();
    let mpa_signature = signer.sign(&mpa);
    assert_eq!(
        code(verify_response(
            &key,
            &mpa_message(Decision::Approve, "req-2", Some(&action)).unwrap(),
            &mpa_signature
        )),
        "SIGNATURE_INVALID"
    );
}

#[test]
fn actions_bind_by_canonical_json() {
    let a: Value = serde_json::from_str(r#"{"b": {"y": [1, 2.50], "x": "é"}, "a": null}"#).unwrap();
    let b: Value = serde_json::from_str(r#"{"a":null,"b":{"x":"\u00e9","y":[1,2.5]}}"#).unwrap();
    assert_eq!(
        action_digest(Some(&a)).unwrap(),
        action_digest(Some(&b)).unwrap()
    );
    assert_ne!(
        action_digest(Some(&a)).unwrap(),
        action_digest(Some(&json!({"a": null}))).unwrap()
    );
    assert_eq!(
        action_digest(None).unwrap(),
        action_digest(Some(&json!({}))).unwrap()
    );
    assert_eq!(
        code(action_digest(Some(
            &json!({"amount": 9_007_199_254_740_993u64})
        ))),
        "INVALID_ACTION"
    );
}

#[test]
fn nonce_and_poll_inputs() {
    assert_eq!(decode_nonce("AAEC").unwrap(), vec![0, 1, 2]);
    for bad in ["", "AAE", "AA==\n", "A-_B", "AAEC "] {
        assert_eq!(code(decode_nonce(bad)), "INVALID_NONCE", "{bad:?}");
    }
    assert_eq!(parse_poll_timestamp("1767225600"), Ok(1_767_225_600));
    assert_eq!(parse_poll_timestamp("0"), Ok(0));
    for bad in [
        "",
        "01767225600",
        "+1767225600",
        "-1",
        "1767225600.0",
        " 1",
        "1e9",
        "99999999999999999999",
    ] {
        assert_eq!(
            code(parse_poll_timestamp(bad)),
            "INVALID_TIMESTAMP",
            "{bad:?}"
        );
    }
    assert_eq!(check_poll_timestamp(1000, 1060), Ok(()));
    assert_eq!(check_poll_timestamp(1060, 1000), Ok(()));
    assert_eq!(code(check_poll_timestamp(1000, 1061)), "STALE_TIMESTAMP");
    assert_eq!(code(check_poll_timestamp(1061, 1000)), "STALE_TIMESTAMP");
    assert_eq!(code(poll_message("ABC", 1)), "INVALID_FINGERPRINT");
}

/// One worked example: its name, its labelled inputs and the message they make.
type Case = (&'static str, Vec<(&'static str, String)>, Vec<u8>);

/// The worked example of docs/DEVICES.md, rendered from the code. Set `SIGIL_DEVICE_PRINT_VECTORS=1`
/// to print it after a deliberate change.
fn render_vectors() -> String {
    use std::fmt::Write as _;
    let signer = example_key();
    let key = signer.public_key();
    let fingerprint = key.fingerprint();
    let picture = pictogram_of_hex(&fingerprint).unwrap();
    let mut out = String::new();
    let mut line = |label: &str, value: &str| writeln!(out, "- {label}: `{value}`").unwrap();
    line(
        "private key scalar (hex)",
        &to_hex(&std::array::from_fn::<u8, 32, _>(|i| i as u8 + 1)),
    );
    line("device_public_key", &key.to_base64());
    line("public key (hex)", &to_hex(key.as_bytes()));
    line("fingerprint", &fingerprint);
    line(
        "pictogram",
        &format!("{} {}", picture.emojis.concat(), picture.speakable),
    );
    let jcs_text = r#"{"b": [1.50, {"y": "\u00e9\n", "x": 1e21}], "a": -0.0, "c": "\u0007"}"#;
    let jcs_value: Value = serde_json::from_str(jcs_text).unwrap();
    line("JCS input", jcs_text);
    line("JCS output", &crate::jcs::canonicalize(&jcs_value).unwrap());

    let nonce_b64 = "AAECAwQFBgcICQoLDA0ODw==";
    let challenge: [u8; 32] = std::array::from_fn(|i| 0xc0 + i as u8);
    let action_text = r#"{"scope": "deploy", "env": "prod", "replicas": 3}"#;
    let action: Value = serde_json::from_str(action_text).unwrap();
    let mpa_action_text = r#"{"user": "alice", "operation": "delete_user"}"#;
    let mpa_action: Value = serde_json::from_str(mpa_action_text).unwrap();
    let a_action = action_digest(Some(&action)).unwrap();
    let a_mpa = action_digest(Some(&mpa_action)).unwrap();
    let a_none = action_digest(None).unwrap();
    let cases: Vec<Case> = vec![
        (
            "register",
            vec![("nonce", nonce_b64.to_owned())],
            registration_message(&decode_nonce(nonce_b64).unwrap()),
        ),
        (
            "challenge approve",
            vec![
                ("challenge (hex)", to_hex(&challenge)),
                ("action", action_text.to_owned()),
                ("JCS", crate::jcs::canonicalize(&action).unwrap()),
                ("A", to_hex(&a_action)),
            ],
            challenge_message(Decision::Approve, &challenge, Some(&action)).unwrap(),
        ),
        (
            "challenge deny",
            vec![
                ("challenge (hex)", to_hex(&challenge)),
                ("action", "absent".to_owned()),
                ("A", to_hex(&a_none)),
            ],
            challenge_message(Decision::Deny, &challenge, None).unwrap(),
        ),
        (
            "MPA approve",
            vec![
                ("request_id", "mpa_01J9Z3".to_owned()),
                ("action", mpa_action_text.to_owned()),
                ("JCS", crate::jcs::canonicalize(&mpa_action).unwrap()),
                ("A", to_hex(&a_mpa)),
            ],
            mpa_message(Decision::Approve, "mpa_01J9Z3", Some(&mpa_action)).unwrap(),
        ),
        (
            "MPA deny",
            vec![
                ("request_id", "mpa_01J9Z3".to_owned()),
                ("action", "same as above".to_owned()),
                ("A", to_hex(&a_mpa)),
            ],
            mpa_message(Decision::Deny, "mpa_01J9Z3", Some(&mpa_action)).unwrap(),
        ),
        (
            "poll",
            vec![
                ("fingerprint", fingerprint.clone()),
                ("timestamp", "1767225600".to_owned()),
            ],
            poll_message(&fingerprint, 1_767_225_600).unwrap(),
        ),
    ];
    for (name, inputs, message) in cases {
        let signature = signer.sign(&message);
        verify_response(&key, &message, &signature).unwrap();
        writeln!(out, "\n**{name}**\n").unwrap();
        for (label, value) in inputs {
            writeln!(out, "- {label}: `{value}`").unwrap();
        }
        writeln!(out, "- message (hex): `{}`", to_hex(&message)).unwrap();
        writeln!(out, "- signature: `{signature}`").unwrap();
    }
    out
}

#[test]
fn documented_vectors_match_the_code() {
    let rendered = render_vectors();
    if std::env::var_os("SIGIL_DEVICE_PRINT_VECTORS").is_some() {
        println!("{rendered}");
    }
    let document = include_str!("../../../docs/DEVICES.md");
    for (index, (word, emoji)) in crate::pictogram::WORDS.iter().enumerate() {
        assert!(
            document.contains(&format!("| {emoji} {word} |")),
            "pictogram {index} {word} not documented"
        );
    }
    assert!(
        document.contains(&rendered),
        "docs/DEVICES.md does not contain the worked example as the code computes it; \
         run with SIGIL_DEVICE_PRINT_VECTORS=1 -- --nocapture to see it:\n{rendered}"
    );
}
