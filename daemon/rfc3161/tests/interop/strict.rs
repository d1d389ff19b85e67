//! The stricter RFC 3161 rules and the ETSI verdicts: the ESS attribute is required, TSTInfo must be version 1,
//! `certReq` obliges the TSA to embed its certificate, SHA-1 is refused unless allowed, embedded certificates are
//! capped, and only a chain to an anchor earns `PASSED`.

use sigil_rfc3161::{
    HashAlgorithm, Indication, SubIndication, TimestampRequest, TimestampVerdict, TrustStatus,
    TrustStore, Verdict, VerifyError, verify_response, verify_token, verify_token_against_digest,
};

use crate::support::{KeyKind, OpensslTsa, openssl, policy, read, sha256, write};

fn trust_in(tsa: &OpensslTsa) -> TrustStore {
    let mut trust = TrustStore::new();
    trust.add_root_der(&tsa.certificate_der()).unwrap();
    trust
}

/// A token OpenSSL made for `data`, re-signed by `openssl cms -sign` over the same TSTInfo: a CMS signature
/// without any ESS signing-certificate attribute (OpenSSL's CMS signer adds none), embedding `certfile`'s
/// certificates too when given.
fn resigned_without_ess(tsa: &OpensslTsa, data: &[u8], certfile: Option<&str>) -> Vec<u8> {
    let path = tsa.path();
    let request =
        TimestampRequest::new(HashAlgorithm::Sha256, &sha256(data), Some(policy()), true).unwrap();
    write(path, "query.tsq", &request.der);
    let (_, token) = tsa.reply("query.tsq");
    write(path, "token.der", &token);
    openssl(
        path,
        &[
            "cms",
            "-verify",
            "-noverify",
            "-inform",
            "DER",
            "-in",
            "token.der",
            "-out",
            "tstinfo.der",
        ],
    );
    let mut args = vec![
        "cms",
        "-sign",
        "-binary",
        "-nodetach",
        "-nosmimecap",
        "-in",
        "tstinfo.der",
        "-econtent_type",
        "1.2.840.113549.1.9.16.1.4",
        "-signer",
        "tsa.pem",
        "-inkey",
        "tsa.key",
        "-md",
        "sha256",
        "-outform",
        "DER",
        "-out",
        "resigned.der",
    ];
    if let Some(certfile) = certfile {
        args.extend(["-certfile", certfile]);
    }
    openssl(path, &args);
    read(path, "resigned.der")
}

#[test]
fn a_token_without_ess_signing_certificate_is_refused() {
    let tsa = OpensslTsa::new(KeyKind::P256, "sha256");
    let token = resigned_without_ess(&tsa, b"no ess", None);
    let error =
        verify_token_against_digest(&token, &sha256(b"no ess"), &trust_in(&tsa)).unwrap_err();
    // Every check before it passed: structure, message digest, signer, signature.
    assert_eq!(
        error,
        VerifyError::MissingAttribute("signing-certificate or signing-certificate-v2")
    );
    let verdict = Verdict::of_error(&error);
    assert_eq!(verdict.indication, Indication::Failed);
    assert_eq!(verdict.sub_indication, Some(SubIndication::FormatFailure));
}

#[test]
fn too_many_embedded_certificates_are_refused_before_any_chain_building() {
    let tsa = OpensslTsa::new(KeyKind::P256, "sha256");
    let path = tsa.path();
    let mut bundle = Vec::new();
    for index in 0..sigil_rfc3161::MAX_EMBEDDED_CERTIFICATES {
        let key = format!("extra{index}.key");
        let cert = format!("extra{index}.pem");
        openssl(
            path,
            &[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-out",
                &key,
            ],
        );
        crate::support::make_self_signed(path, &key, &cert, "");
        bundle.extend(read(path, &cert));
    }
    write(path, "extra.pem", &bundle);
    let token = resigned_without_ess(&tsa, b"many", Some("extra.pem"));
    let error = verify_token_against_digest(&token, &sha256(b"many"), &trust_in(&tsa)).unwrap_err();
    assert!(
        matches!(error, VerifyError::TooManyCertificates(n) if n > sigil_rfc3161::MAX_EMBEDDED_CERTIFICATES),
        "{error:?}"
    );
}

#[test]
fn tstinfo_version_other_than_one_is_refused() {
    let tsa = OpensslTsa::new(KeyKind::P256, "sha256");
    let request =
        TimestampRequest::new(HashAlgorithm::Sha256, &sha256(b"v2"), Some(policy()), true).unwrap();
    write(tsa.path(), "query.tsq", &request.der);
    let (mut response, _) = tsa.reply("query.tsq");
    // TSTInfo starts with `version INTEGER 1` followed by the policy OID.
    let at = response
        .windows(4)
        .position(|w| w == [0x02, 0x01, 0x01, 0x06])
        .expect("TSTInfo version");
    response[at + 2] = 2;
    let error = verify_response(&response, &request.expectations(), &trust_in(&tsa)).unwrap_err();
    assert_eq!(error, VerifyError::UnsupportedVersion("2".into()));
}

#[test]
fn cert_req_obliges_the_token_to_carry_the_signer_certificate() {
    // A token made without the certificate (certReq false), checked as if certReq had been sent: the
    // verifier's own copy of the certificate no longer stands in for it.
    let tsa = OpensslTsa::new(KeyKind::P256, "sha256");
    let digest = sha256(b"cert req");
    let request =
        TimestampRequest::new(HashAlgorithm::Sha256, &digest, Some(policy()), false).unwrap();
    write(tsa.path(), "query.tsq", &request.der);
    let config = String::from_utf8(read(tsa.path(), "openssl.cnf")).unwrap();
    write(
        tsa.path(),
        "openssl.cnf",
        config.replace("certs = ./tsa.pem\n", "").as_bytes(),
    );
    let (response, _) = tsa.reply("query.tsq");
    let trust = trust_in(&tsa);
    let mut expected = request.expectations();
    assert!(!expected.signer_certificate_required);
    verify_response(&response, &expected, &trust).expect("certReq false: the store may supply it");
    expected.signer_certificate_required = true;
    assert_eq!(
        verify_response(&response, &expected, &trust).unwrap_err(),
        VerifyError::SignerCertificateNotFound
    );
}

#[test]
fn sha1_imprints_are_refused_unless_allowed() {
    let tsa = OpensslTsa::new(KeyKind::P256, "sha256");
    let path = tsa.path();
    let config = String::from_utf8(read(path, "openssl.cnf")).unwrap();
    write(
        path,
        "openssl.cnf",
        config
            .replace("digests = sha256,", "digests = sha1, sha256,")
            .as_bytes(),
    );
    write(path, "data.txt", b"old document");
    openssl(
        path,
        &[
            "ts", "-query", "-data", "data.txt", "-sha1", "-cert", "-out", "sha1.tsq",
        ],
    );
    let (response, _) = tsa.reply("sha1.tsq");
    let digest = HashAlgorithm::Sha1.digest(b"old document");
    let trust = trust_in(&tsa);
    assert_eq!(
        verify_token_against_digest(&response, &digest, &trust).unwrap_err(),
        VerifyError::Sha1Refused("message imprint algorithm")
    );
    let verified =
        verify_token_against_digest(&response, &digest, &trust.allowing_sha1(true)).unwrap();
    assert!(verified.trust.is_chained());
}

#[test]
fn only_a_chain_to_an_anchor_passes() {
    let tsa = OpensslTsa::new(KeyKind::P256, "sha256");
    let request =
        TimestampRequest::new(HashAlgorithm::Sha256, &sha256(b"verdict"), None, true).unwrap();
    write(tsa.path(), "query.tsq", &request.der);
    let (_, token) = tsa.reply("query.tsq");

    let anchored = verify_token(&token, &request.expectations(), &trust_in(&tsa)).unwrap();
    let verdict = Verdict::of_token(&anchored);
    assert!(verdict.passed());
    assert_eq!(verdict.sub_indication, None);

    // The same sound token without its root configured: indeterminate, and the message names the certificate
    // to trust by subject and SHA-256.
    let unanchored = verify_token(&token, &request.expectations(), &TrustStore::new()).unwrap();
    let TrustStatus::SelfSigned { top } = &unanchored.trust else {
        panic!("{:?}", unanchored.trust)
    };
    assert_eq!(
        top.sha256_hex,
        crate::support::hex(&sha256(&tsa.certificate_der()))
    );
    let verdict = Verdict::of_token(&unanchored);
    assert_eq!(verdict.indication, Indication::Indeterminate);
    assert_eq!(
        verdict.sub_indication,
        Some(SubIndication::NoCertificateChainFound)
    );
    assert!(
        verdict.message.contains(&top.sha256_hex),
        "{}",
        verdict.message
    );
    assert!(
        verdict.message.contains("OpenSSL TSA"),
        "{}",
        verdict.message
    );

    // Another file's digest: failed, hash.
    let error =
        verify_token_against_digest(&token, &sha256(b"other"), &trust_in(&tsa)).unwrap_err();
    let verdict = Verdict::of_error(&error);
    assert_eq!(verdict.indication, Indication::Failed);
    assert_eq!(verdict.sub_indication, Some(SubIndication::HashFailure));
}
