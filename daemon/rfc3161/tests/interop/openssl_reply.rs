//! `openssl ts -reply` makes tokens; this crate parses and verifies them.

use sigil_rfc3161::{
    EssBinding, HashAlgorithm, ObjectIdentifier, ParsedRequest, PkiStatus, TimestampRequest,
    TrustStatus, TrustStore, VerifyError, WireEncoding, inspect, parse_response, parse_token,
    verify_response, verify_token, verify_token_against_digest,
};

use crate::support::{KeyKind, OpensslTsa, POLICY, openssl, policy, read, sha256, write};

fn trust_in(tsa: &OpensslTsa) -> TrustStore {
    let mut trust = TrustStore::new();
    trust.add_root_der(&tsa.certificate_der()).unwrap();
    trust
}

#[test]
fn p256_token_for_our_request_verifies() {
    let tsa = OpensslTsa::new(KeyKind::P256, "sha256");
    let digest = sha256(b"document one");
    let request =
        TimestampRequest::new(HashAlgorithm::Sha256, &digest, Some(policy()), true).unwrap();
    write(tsa.path(), "query.tsq", &request.der);
    let (response, token) = tsa.reply("query.tsq");

    let verified = verify_response(&response, &request.expectations(), &trust_in(&tsa)).unwrap();
    assert_eq!(verified.status, PkiStatus::Granted);
    // The stored-response shortcut finds the token openssl put in its response.
    assert_eq!(
        sigil_rfc3161::token_slice(&response),
        Some(verified.token.token_der.as_slice())
    );
    assert_eq!(parse_token(&token).unwrap().token_der, token);
    assert!(matches!(verified.trust, TrustStatus::Chained { ref chain } if chain.len() == 1));
    assert_eq!(
        verified.ess_binding,
        EssBinding::SigningCertificateV2(HashAlgorithm::Sha256)
    );
    assert_eq!(
        verified.signature_algorithm,
        sigil_rfc3161::SignatureAlgorithm::EcdsaSha256
    );
    let parsed = &verified.token;
    assert_eq!(parsed.policy.to_string(), POLICY);
    assert_eq!(parsed.nonce.as_ref(), Some(&request.nonce));
    assert_eq!(parsed.message_imprint, digest);
    assert_eq!(parsed.hash_algorithm, Some(HashAlgorithm::Sha256));
    assert!(!parsed.serial.is_negative());
    assert!(parsed.ordering);
    let accuracy = parsed.accuracy.unwrap();
    assert_eq!(
        (accuracy.seconds, accuracy.millis, accuracy.micros),
        (1, 500, 100)
    );
    assert_eq!(
        parsed.tsa_name.as_deref(),
        Some("CN=OpenSSL TSA,O=Sigil Interop,C=FR")
    );
    // `certs = tsa.pem` in the TSA config embeds the signer certificate twice.
    assert_eq!(parsed.certificates.len(), 1);
    assert_eq!(parsed.duplicate_certificates, 1);
    assert_eq!(parsed.encoding, WireEncoding::Der);
    let signer = parsed.signer.as_ref().unwrap();
    assert_eq!(signer.subject, "CN=OpenSSL TSA,O=Sigil Interop,C=FR");
    assert!(parsed.gen_time.to_rfc3339().ends_with('Z'));

    // The bare token (-token_out) and `inspect` agree with the response.
    let bare = verify_token(&token, &request.expectations(), &trust_in(&tsa)).unwrap();
    assert_ne!(
        bare.token.serial, parsed.serial,
        "each reply draws the next serial"
    );
    assert_eq!(bare.token.message_imprint, parsed.message_imprint);
    assert_eq!(inspect(&response).unwrap().message_imprint, digest);
    assert_eq!(inspect(&token).unwrap().message_imprint, digest);
    assert_eq!(parse_token(&token).unwrap().token_der, token);

    // Without the root in the store the same token is only self-signed.
    let untrusted =
        verify_response(&response, &request.expectations(), &TrustStore::new()).unwrap();
    assert!(matches!(untrusted.trust, TrustStatus::SelfSigned { .. }));
}

#[test]
fn rsa_token_for_openssl_query_verifies_with_ess_v1() {
    let tsa = OpensslTsa::new(KeyKind::Rsa, "sha1");
    write(tsa.path(), "data.txt", b"document two");
    openssl(
        tsa.path(),
        &[
            "ts",
            "-query",
            "-data",
            "data.txt",
            "-sha512",
            "-cert",
            "-out",
            "query.tsq",
        ],
    );
    let query = ParsedRequest::from_der(&read(tsa.path(), "query.tsq")).unwrap();
    assert_eq!(query.hash_algorithm, HashAlgorithm::Sha512);
    assert!(query.cert_req);
    let (response, _) = tsa.reply("query.tsq");

    let expected = sigil_rfc3161::Expectations {
        hash_alg: HashAlgorithm::Sha512,
        digest: HashAlgorithm::Sha512.digest(b"document two"),
        nonce: query.nonce.clone(),
        acceptable_policies: Some(vec![policy()]),
        signer_certificate_required: true,
    };
    let verified = verify_response(&response, &expected, &trust_in(&tsa)).unwrap();
    assert_eq!(verified.ess_binding, EssBinding::SigningCertificate);
    assert_eq!(
        verified.signature_algorithm,
        sigil_rfc3161::SignatureAlgorithm::RsaPkcs1Sha256
    );
    assert!(matches!(verified.trust, TrustStatus::Chained { .. }));

    // `/tsa/verify-hash`: the right digest verifies, another yields both digests.
    verify_token_against_digest(&response, &expected.digest, &trust_in(&tsa)).unwrap();
    let wrong = HashAlgorithm::Sha512.digest(b"another document");
    match verify_token_against_digest(&response, &wrong, &trust_in(&tsa)) {
        Err(VerifyError::ImprintMismatch {
            expected_hex,
            found_hex,
        }) => {
            assert_eq!(found_hex, crate::support::hex(&expected.digest));
            assert_eq!(expected_hex, crate::support::hex(&wrong));
        }
        other => panic!("expected ImprintMismatch, got {other:?}"),
    }
    assert!(matches!(
        verify_token_against_digest(&response, &sha256(b"x"), &trust_in(&tsa)),
        Err(VerifyError::DigestLength {
            expected: 64,
            actual: 32,
            ..
        })
    ));
}

#[test]
fn p384_token_verifies() {
    let tsa = OpensslTsa::new(KeyKind::P384, "sha256");
    let digest = HashAlgorithm::Sha384.digest(b"document three");
    let request = TimestampRequest::new(HashAlgorithm::Sha384, &digest, None, true).unwrap();
    write(tsa.path(), "query.tsq", &request.der);
    let (response, _) = tsa.reply("query.tsq");
    let verified = verify_response(&response, &request.expectations(), &trust_in(&tsa)).unwrap();
    // The TSA signs with signer_digest = sha256 even on P-384.
    assert_eq!(
        verified.signature_algorithm,
        sigil_rfc3161::SignatureAlgorithm::EcdsaSha256
    );
}

#[test]
fn token_without_certificates_needs_the_certificate_from_the_store() {
    let tsa = OpensslTsa::new(KeyKind::P256, "sha256");
    let digest = sha256(b"no cert requested");
    let request = TimestampRequest::new(HashAlgorithm::Sha256, &digest, None, false).unwrap();
    write(tsa.path(), "query.tsq", &request.der);
    let (response, _) = tsa.reply("query.tsq");
    let parsed = parse_response(&response).unwrap().token.unwrap();
    assert!(parsed.certificates.is_empty());
    assert!(parsed.signer.is_none());

    assert_eq!(
        verify_response(&response, &request.expectations(), &TrustStore::new()).unwrap_err(),
        VerifyError::SignerCertificateNotFound
    );
    let verified = verify_response(&response, &request.expectations(), &trust_in(&tsa)).unwrap();
    assert!(matches!(verified.trust, TrustStatus::Chained { .. }));
}

#[test]
fn rejection_is_reported_with_fail_info() {
    let tsa = OpensslTsa::new(KeyKind::P256, "sha256");
    let digest = sha256(b"wrong policy");
    let unknown = ObjectIdentifier::new_unwrap("1.2.3.4.99");
    let request =
        TimestampRequest::new(HashAlgorithm::Sha256, &digest, Some(unknown), true).unwrap();
    write(tsa.path(), "query.tsq", &request.der);
    let response = tsa.reply_response("query.tsq");
    let parsed = parse_response(&response).unwrap();
    assert_eq!(parsed.status, PkiStatus::Rejection);
    assert_eq!(
        parsed.failure_info,
        vec![sigil_rfc3161::FailureInfo::UnacceptedPolicy]
    );
    assert!(parsed.token.is_none());
    match verify_response(&response, &request.expectations(), &TrustStore::new()) {
        Err(VerifyError::NotGranted {
            status: PkiStatus::Rejection,
            text,
        }) => {
            assert!(text.contains("unacceptedPolicy"), "{text}");
        }
        other => panic!("expected NotGranted, got {other:?}"),
    }
}
