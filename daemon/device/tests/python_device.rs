//! A device built independently from docs/DEVICES.md (tests/oracles/device.py, Python `cryptography`)
//! must be accepted by this crate for every purpose, and refused when its signature is replayed for
//! another purpose. Needs the oracle venv of tests/oracles/setup.sh; fails (not skips) without it.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;
use sigil_device::messages::{
    challenge_message, decode_nonce, mpa_message, poll_message, registration_message,
};
use sigil_device::{
    Decision, DeviceSigningKey, parse_public_key, pictogram_of_hex, verify_response,
};

fn python() -> PathBuf {
    let venv = std::env::var_os("SIGIL_ORACLE_VENV").map_or_else(
        || PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/sigil-oracles/venv"),
        PathBuf::from,
    );
    let python = venv.join("bin/python");
    let usable = python.exists()
        && Command::new(&python)
            .args(["-c", "import cryptography"])
            .status()
            .is_ok_and(|status| status.success());
    assert!(
        usable,
        "the Python device oracle needs a venv with `cryptography` at {}: run tests/oracles/setup.sh \
         (or set SIGIL_ORACLE_VENV)",
        venv.display()
    );
    python
}

fn device(args: &[&str]) -> String {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/oracles/device.py");
    let output = Command::new(python())
        .arg(script)
        .args(args)
        .output()
        .expect("running device.py");
    assert!(
        output.status.success(),
        "device.py {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("UTF-8")
        .trim_end()
        .to_owned()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// An action that exercises canonicalization: key order, nesting, non-ASCII, escapes and floats.
const ACTION: &str = r#"{"z": [1, 2.50, {"b": "é\n\u0001", "a": null}], "amount": 12.75, "Zeta": 1e-7, "note": "€"}"#;

struct Case {
    purpose: &'static str,
    inputs: Vec<String>,
    message: Vec<u8>,
}

fn cases(fingerprint: &str) -> Vec<Case> {
    let action: Value = serde_json::from_str(ACTION).unwrap();
    let nonce = "q83vASNFZ4mrze8BI0VniQ==";
    let challenge: [u8; 32] = std::array::from_fn(|i| (i as u8).wrapping_mul(37) ^ 0x5c);
    let owned = |items: &[&str]| {
        items
            .iter()
            .map(|item| (*item).to_owned())
            .collect::<Vec<_>>()
    };
    vec![
        Case {
            purpose: "register",
            inputs: owned(&["--nonce", nonce]),
            message: registration_message(&decode_nonce(nonce).unwrap()),
        },
        Case {
            purpose: "approve",
            inputs: owned(&["--challenge-hex", &hex(&challenge), "--action", ACTION]),
            message: challenge_message(Decision::Approve, &challenge, Some(&action)).unwrap(),
        },
        Case {
            purpose: "deny",
            inputs: owned(&["--challenge-hex", &hex(&challenge)]),
            message: challenge_message(Decision::Deny, &challenge, None).unwrap(),
        },
        Case {
            purpose: "mpa-approve",
            inputs: owned(&["--request-id", "mpa_é_42", "--action", ACTION]),
            message: mpa_message(Decision::Approve, "mpa_é_42", Some(&action)).unwrap(),
        },
        Case {
            purpose: "mpa-deny",
            inputs: owned(&["--request-id", "mpa_é_42", "--action", ACTION]),
            message: mpa_message(Decision::Deny, "mpa_é_42", Some(&action)).unwrap(),
        },
        Case {
            purpose: "poll",
            inputs: owned(&["--fingerprint", fingerprint, "--timestamp", "1767225600"]),
            message: poll_message(fingerprint, 1_767_225_600).unwrap(),
        },
    ]
}

#[test]
fn python_device_signatures_verify_for_their_purpose_only() {
    let generated: Value = serde_json::from_str(&device(&["keygen"])).unwrap();
    let field = |name: &str| generated[name].as_str().unwrap().to_owned();
    let key = parse_public_key(&field("public_key_b64")).expect("the Python key parses");
    assert_eq!(key.fingerprint(), field("fingerprint"));
    assert_eq!(
        pictogram_of_hex(&key.fingerprint()).unwrap().speakable,
        field("pictogram")
    );
    let private_key = field("private_key_hex");

    let cases = cases(&key.fingerprint());
    let signatures: Vec<String> = cases
        .iter()
        .map(|case| {
            let inputs: Vec<&str> = case.inputs.iter().map(String::as_str).collect();
            let message = device(&[&["message", case.purpose][..], &inputs].concat());
            assert_eq!(
                message,
                hex(&case.message),
                "{}: message bytes differ",
                case.purpose
            );
            device(&[&["sign", case.purpose, "--key", &private_key][..], &inputs].concat())
        })
        .collect();
    for (case, signature) in cases.iter().zip(&signatures) {
        for (other, _) in cases.iter().zip(&signatures) {
            let result = verify_response(&key, &other.message, signature);
            if other.purpose == case.purpose {
                assert_eq!(result, Ok(()), "{}", case.purpose);
            } else {
                let code = result.unwrap_err().code();
                assert_eq!(
                    code, "SIGNATURE_INVALID",
                    "{} signature used as {}",
                    case.purpose, other.purpose
                );
            }
        }
    }
}

#[test]
fn python_and_rust_sign_identically_with_rfc6979() {
    let scalar: [u8; 32] = std::array::from_fn(|i| i as u8 + 1);
    let signer = DeviceSigningKey::from_bytes(&scalar).unwrap();
    let key = signer.public_key();
    let generated: Value =
        serde_json::from_str(&device(&["keygen", "--private-key-hex", &hex(&scalar)])).unwrap();
    assert_eq!(generated["public_key_b64"], key.to_base64());
    for case in cases(&key.fingerprint()) {
        let inputs: Vec<&str> = case.inputs.iter().map(String::as_str).collect();
        let python =
            device(&[&["sign", case.purpose, "--key", &hex(&scalar)][..], &inputs].concat());
        assert_eq!(
            python,
            signer.sign(&case.message),
            "{}: RFC 6979 signatures differ (deterministic signing needs cryptography >= 44)",
            case.purpose
        );
    }
}
