//! This crate issues tokens (root and TSA certificates from its own helpers); `openssl ts -verify`
//! must accept them by digest, by data and by query file.

use std::time::SystemTime;

use sigil_rfc3161::{
    EssBinding, HashAlgorithm, ParsedRequest, PkiStatus, TimestampRequest, TrustStatus, TrustStore,
    check_signer, issue_token, parse_response, reject, respond, verify_response,
};

use crate::support::{
    KeyKind, cert_pem, hex, local_pki, openssl, openssl_status, policy, read, tsa_policy, write,
};

fn issue_and_check_with_openssl(kind: KeyKind) {
    let pki = local_pki(kind);
    check_signer(&pki.signer).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    write(path, "root.pem", cert_pem(&pki.root).as_bytes());
    write(path, "tsa.pem", cert_pem(&pki.tsa).as_bytes());
    write(path, "data.bin", b"the data being stamped");

    // A query from our builder, answered by our issuer.
    let digest = HashAlgorithm::Sha256.digest(b"the data being stamped");
    let request =
        TimestampRequest::new(HashAlgorithm::Sha256, &digest, Some(policy()), true).unwrap();
    write(path, "query.tsq", &request.der);
    let parsed = ParsedRequest::from_der(&request.der).unwrap();
    let issued = issue_token(&parsed, &pki.signer, &tsa_policy(), None, SystemTime::now()).unwrap();
    write(path, "resp.tsr", &issued.response_der);

    let untrusted = ["-CAfile", "root.pem", "-untrusted", "tsa.pem"];
    let by_digest = hex(&digest);
    for input in [
        vec![
            "ts",
            "-verify",
            "-digest",
            by_digest.as_str(),
            "-in",
            "resp.tsr",
        ],
        vec!["ts", "-verify", "-data", "data.bin", "-in", "resp.tsr"],
        vec![
            "ts",
            "-verify",
            "-queryfile",
            "query.tsq",
            "-in",
            "resp.tsr",
        ],
    ] {
        let mut args = input.clone();
        args.extend(untrusted);
        let output = openssl(path, &args);
        assert!(
            output.contains("Verification: OK"),
            "{kind:?} {input:?}: {output}"
        );
    }

    // Our verifier agrees and chains to our root.
    let mut trust = TrustStore::new();
    trust.add_root(&pki.root).unwrap();
    let verified = verify_response(&issued.response_der, &request.expectations(), &trust).unwrap();
    assert!(matches!(verified.trust, TrustStatus::Chained { ref chain } if chain.len() == 2));
    assert_eq!(
        verified.ess_binding,
        EssBinding::SigningCertificateV2(HashAlgorithm::Sha256)
    );
    assert_eq!(verified.token.serial, issued.serial);
    assert!(issued.serial.encoded_len() >= 8);
    assert_eq!(
        verified.token.tsa_name.as_deref(),
        Some("CN=Sigil Test TSA,O=Sigil,C=FR")
    );
    // The token is strict DER: it re-parses byte for byte through the strict path.
    assert_eq!(verified.token.token_der, issued.token_der);
    assert_eq!(verified.token.encoding, sigil_rfc3161::WireEncoding::Der);

    // OpenSSL's own reading of the reply.
    let text = openssl(path, &["ts", "-reply", "-in", "resp.tsr", "-text"]);
    assert!(text.contains("Status: Granted"), "{text}");
    assert!(
        text.contains(&format!("Policy OID: {}", crate::support::POLICY)),
        "{text}"
    );
}

#[test]
fn p256_tokens_verify_with_openssl() {
    issue_and_check_with_openssl(KeyKind::P256);
}

#[test]
fn p384_tokens_verify_with_openssl() {
    issue_and_check_with_openssl(KeyKind::P384);
}

#[test]
fn rsa_tokens_verify_with_openssl() {
    issue_and_check_with_openssl(KeyKind::Rsa);
}

#[test]
fn rsa_pss_tokens_verify_with_our_verifier() {
    let pki = local_pki(KeyKind::RsaPss);
    let digest = HashAlgorithm::Sha256.digest(b"pss");
    let request = TimestampRequest::new(HashAlgorithm::Sha256, &digest, None, true).unwrap();
    let parsed = ParsedRequest::from_der(&request.der).unwrap();
    let issued = issue_token(&parsed, &pki.signer, &tsa_policy(), None, SystemTime::now()).unwrap();
    let mut trust = TrustStore::new();
    trust.add_root(&pki.root).unwrap();
    let verified = verify_response(&issued.response_der, &request.expectations(), &trust).unwrap();
    assert_eq!(
        verified.signature_algorithm,
        sigil_rfc3161::SignatureAlgorithm::RsaPssSha256
    );
}

#[test]
fn openssl_query_without_cert_req_gets_a_token_without_certificates() {
    let pki = local_pki(KeyKind::P256);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    write(path, "root.pem", cert_pem(&pki.root).as_bytes());
    write(path, "tsa.pem", cert_pem(&pki.tsa).as_bytes());
    write(path, "data.bin", b"openssl query");
    openssl(
        path,
        &[
            "ts",
            "-query",
            "-data",
            "data.bin",
            "-sha384",
            "-out",
            "query.tsq",
        ],
    );
    let issued = respond(
        &read(path, "query.tsq"),
        &pki.signer,
        &tsa_policy(),
        SystemTime::now(),
    )
    .unwrap();
    write(path, "resp.tsr", &issued.response_der);
    assert!(
        parse_response(&issued.response_der)
            .unwrap()
            .token
            .unwrap()
            .certificates
            .is_empty()
    );
    let output = openssl(
        path,
        &[
            "ts",
            "-verify",
            "-queryfile",
            "query.tsq",
            "-in",
            "resp.tsr",
            "-CAfile",
            "root.pem",
            "-untrusted",
            "tsa.pem",
        ],
    );
    assert!(output.contains("Verification: OK"), "{output}");
}

#[test]
fn refusals_parse_in_openssl() {
    let pki = local_pki(KeyKind::P256);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    // A request for a policy the TSA does not have.
    write(path, "data.bin", b"refused");
    openssl(
        path,
        &[
            "ts",
            "-query",
            "-data",
            "data.bin",
            "-sha256",
            "-tspolicy",
            "1.2.3.4.77",
            "-out",
            "query.tsq",
        ],
    );
    let refusal = respond(
        &read(path, "query.tsq"),
        &pki.signer,
        &tsa_policy(),
        SystemTime::now(),
    )
    .unwrap_err();
    assert!(matches!(
        refusal.error,
        sigil_rfc3161::IssueError::UnacceptedPolicy(_)
    ));
    write(path, "refused.tsr", &refusal.response_der);
    let text = openssl(path, &["ts", "-reply", "-in", "refused.tsr", "-text"]);
    assert!(text.contains("Status: Rejected"), "{text}");
    assert!(
        text.contains("the requested TSA policy is not supported"),
        "{text}"
    );

    // Each reject() failure bit round-trips through OpenSSL and our parser.
    for (failure, openssl_text) in [
        (
            sigil_rfc3161::FailureInfo::BadAlg,
            "unrecognized or unsupported algorithm identifier",
        ),
        (
            sigil_rfc3161::FailureInfo::BadRequest,
            "transaction not permitted or supported",
        ),
        (
            sigil_rfc3161::FailureInfo::BadDataFormat,
            "the data submitted has the wrong format",
        ),
        (
            sigil_rfc3161::FailureInfo::UnacceptedPolicy,
            "the requested TSA policy is not supported",
        ),
        (
            sigil_rfc3161::FailureInfo::SystemFailure,
            "the request cannot be handled due to system failure",
        ),
    ] {
        let der = reject(PkiStatus::Rejection, failure, "no");
        write(path, "reject.tsr", &der);
        let (ok, text) = openssl_status(path, &["ts", "-reply", "-in", "reject.tsr", "-text"]);
        assert!(ok && text.contains(openssl_text), "{failure:?}: {text}");
        let parsed = parse_response(&der).unwrap();
        assert_eq!(parsed.failure_info, vec![failure]);
        assert_eq!(parsed.status_text, vec!["no".to_owned()]);
    }

    // Garbage and a SHA-1 query are refused with badDataFormat and badAlg.
    let garbage = respond(
        b"\x30\x03\x02\x01\x01",
        &pki.signer,
        &tsa_policy(),
        SystemTime::now(),
    )
    .unwrap_err();
    assert_eq!(
        garbage.error.failure_info(),
        sigil_rfc3161::FailureInfo::BadDataFormat
    );
    openssl(
        path,
        &[
            "ts", "-query", "-data", "data.bin", "-sha1", "-out", "sha1.tsq",
        ],
    );
    let sha1 = respond(
        &read(path, "sha1.tsq"),
        &pki.signer,
        &tsa_policy(),
        SystemTime::now(),
    )
    .unwrap_err();
    assert_eq!(
        sha1.error.failure_info(),
        sigil_rfc3161::FailureInfo::BadAlg
    );
}
