//! Inputs that are not tokens: every entry point answers with an error, never a panic.

use std::time::SystemTime;

use sigil_rfc3161::{
    HashAlgorithm, ParseError, ParsedRequest, TimestampRequest, TrustStore, inspect, issue_token,
    parse_response, parse_token, verify_response, verify_token_against_digest,
};

use crate::support::{KeyKind, local_pki, tsa_policy};

fn valid_response() -> (Vec<u8>, TimestampRequest) {
    let pki = local_pki(KeyKind::P256);
    let digest = HashAlgorithm::Sha256.digest(b"malformed");
    let request = TimestampRequest::new(HashAlgorithm::Sha256, &digest, None, true).unwrap();
    let parsed = ParsedRequest::from_der(&request.der).unwrap();
    let issued = issue_token(&parsed, &pki.signer, &tsa_policy(), None, SystemTime::now()).unwrap();
    (issued.response_der, request)
}

/// Deterministic pseudo-random bytes (xorshift), so failures reproduce.
fn noise(length: usize, mut state: u64) -> Vec<u8> {
    (0..length)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

#[test]
fn table_of_non_tokens() {
    let (response, request) = valid_response();
    let mut trailing = response.clone();
    trailing.extend_from_slice(&[0x00, 0x01]);
    let mut deep = Vec::new();
    for _ in 0..5000 {
        deep.extend_from_slice(&[0x30, 0x80]);
    }
    let certificate = sigil_rfc3161::der::Encode::to_der(&local_pki(KeyKind::P256).tsa).unwrap();
    let table: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("one byte", vec![0x30]),
        ("truncated", response[..response.len() / 2].to_vec()),
        ("random bytes", noise(300, 0x9E37_79B9_7F4A_7C15)),
        (
            "random bytes behind a SEQUENCE header",
            [&[0x30, 0x81, 0xC8][..], &noise(200, 7)].concat(),
        ),
        (
            "SEQUENCE of the wrong shape",
            vec![0x30, 0x06, 0x02, 0x01, 0x05, 0x01, 0x01, 0xFF],
        ),
        (
            "SEQUENCE { OID } without content",
            vec![0x30, 0x05, 0x06, 0x03, 0x2A, 0x03, 0x04],
        ),
        ("a certificate", certificate),
        ("a request", request.der.clone()),
        ("trailing bytes", trailing),
        ("indefinite nesting beyond the limit", deep),
        (
            "granted status without token",
            vec![0x30, 0x05, 0x30, 0x03, 0x02, 0x01, 0x00],
        ),
    ];
    let expected = request.expectations();
    for (name, input) in &table {
        assert!(
            parse_response(input).is_err(),
            "parse_response accepted {name}"
        );
        assert!(parse_token(input).is_err(), "parse_token accepted {name}");
        assert!(inspect(input).is_err(), "inspect accepted {name}");
        assert!(
            verify_response(input, &expected, &TrustStore::new()).is_err(),
            "verify accepted {name}"
        );
        assert!(
            verify_token_against_digest(input, &request.digest, &TrustStore::new()).is_err(),
            "verify_token_against_digest accepted {name}"
        );
        if *name != "a request" {
            assert!(
                ParsedRequest::from_der(input).is_err(),
                "request parser accepted {name}"
            );
        }
    }
    assert_eq!(parse_response(&[]).unwrap_err(), ParseError::Empty);
    assert!(matches!(
        parse_response(&[0x30, 0x05, 0x30, 0x03, 0x02, 0x01, 0x00]),
        Err(ParseError::MissingToken(sigil_rfc3161::PkiStatus::Granted))
    ));
}

#[test]
fn every_prefix_and_every_flipped_byte_is_handled() {
    let (response, request) = valid_response();
    for length in 0..response.len() {
        assert!(
            inspect(&response[..length]).is_err(),
            "prefix of {length} bytes accepted"
        );
    }
    let expected = request.expectations();
    let original = inspect(&response).unwrap();
    for position in 0..response.len() {
        let mut flipped = response.clone();
        flipped[position] ^= 0x55;
        // Parsing may succeed (a flipped byte inside a certificate's signature still parses); it must
        // not panic, and full verification must never accept the altered response.
        let _ = inspect(&flipped);
        if position % 5 == 0
            && let Ok(verified) = verify_response(&flipped, &expected, &TrustStore::new())
        {
            // Bytes outside the signed content (SignedData version, the digestAlgorithms SET) are not
            // protected and not used; what the token asserts must be exactly what was signed.
            let token = &verified.token;
            assert_eq!(
                token.message_imprint, original.message_imprint,
                "flip at {position}"
            );
            assert_eq!(token.gen_time, original.gen_time, "flip at {position}");
            assert_eq!(token.serial, original.serial, "flip at {position}");
            assert_eq!(token.nonce, original.nonce, "flip at {position}");
            assert_eq!(token.policy, original.policy, "flip at {position}");
        }
    }
}
