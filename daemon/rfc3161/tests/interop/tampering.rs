//! Each alteration of a valid token, and each unfit signer certificate, yields its own error; BER and
//! reordered SETs of the same token still verify.

use std::{
    str::FromStr,
    time::{Duration, SystemTime},
};

use sigil_rfc3161::{
    BigInteger, Certificate, CertificateValidity, Expectations, HashAlgorithm, IssuedToken, Name,
    ObjectIdentifier, ParsedRequest, SoftwareKey, SoftwareTsaSigner, TimestampRequest, TrustStatus,
    TrustStore, UntrustedReason, VerifyError, WireEncoding, build_tsa_certificate, der::Decode,
    issue_token, verify_response,
};

use crate::support::{
    KeyKind, LocalPki, local_pki, make_self_signed, openssl, pem, policy, read, tsa_policy, write,
};

struct Fixture {
    pki: LocalPki,
    request: TimestampRequest,
    issued: IssuedToken,
}

fn fixture(cert_req: bool) -> Fixture {
    let pki = local_pki(KeyKind::P256);
    let digest = HashAlgorithm::Sha256.digest(b"tamper with me");
    let request =
        TimestampRequest::new(HashAlgorithm::Sha256, &digest, Some(policy()), cert_req).unwrap();
    let parsed = ParsedRequest::from_der(&request.der).unwrap();
    let issued = issue_token(&parsed, &pki.signer, &tsa_policy(), None, SystemTime::now()).unwrap();
    Fixture {
        pki,
        request,
        issued,
    }
}

fn trust(pki: &LocalPki) -> TrustStore {
    let mut trust = TrustStore::new();
    trust.add_root(&pki.root).unwrap();
    trust
}

fn find(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("pattern present")
}

fn verify(
    f: &Fixture,
    response: &[u8],
    expected: &Expectations,
) -> Result<sigil_rfc3161::VerifiedToken, VerifyError> {
    verify_response(response, expected, &trust(&f.pki))
}

#[test]
fn each_alteration_has_its_error() {
    let f = fixture(true);
    let good = &f.issued.response_der;
    let expected = f.request.expectations();
    verify(&f, good, &expected).unwrap();

    // A byte of the imprint.
    let mut imprint = good.clone();
    imprint[find(good, &f.request.digest)] ^= 0x01;
    assert!(matches!(
        verify(&f, &imprint, &expected),
        Err(VerifyError::ImprintMismatch { .. })
    ));

    // The last byte of the signature (the SignerInfo closes the response).
    let mut signature = good.clone();
    *signature.last_mut().unwrap() ^= 0x01;
    assert_eq!(
        verify(&f, &signature, &expected).unwrap_err(),
        VerifyError::SignatureInvalid
    );

    // The last digit of genTime's seconds.
    let mut gen_time = good.clone();
    let text = f.issued.gen_time.as_str().as_bytes();
    let at = find(good, text) + 13;
    gen_time[at] = if gen_time[at] == b'0' { b'1' } else { b'0' };
    assert_eq!(
        verify(&f, &gen_time, &expected).unwrap_err(),
        VerifyError::MessageDigestMismatch
    );

    // The nonce expected is another one.
    let other_nonce = Expectations {
        nonce: Some(BigInteger::from(42u64)),
        ..expected.clone()
    };
    assert!(matches!(
        verify(&f, good, &other_nonce),
        Err(VerifyError::NonceMismatch { .. })
    ));

    // The nonce in the token altered.
    let mut nonce = good.clone();
    let nonce_bytes = f.request.nonce.as_twos_complement();
    nonce[find(good, nonce_bytes) + 1] ^= 0x01;
    assert!(matches!(
        verify(&f, &nonce, &expected),
        Err(VerifyError::NonceMismatch { .. })
    ));

    // Another imprint algorithm or policy expected.
    let sha384 = Expectations {
        hash_alg: HashAlgorithm::Sha384,
        ..expected.clone()
    };
    assert!(matches!(
        verify(&f, good, &sha384),
        Err(VerifyError::ImprintAlgorithmMismatch { .. })
    ));
    let other_policy = Expectations {
        acceptable_policies: Some(vec![ObjectIdentifier::new_unwrap("1.2.3.4.2")]),
        ..expected.clone()
    };
    assert_eq!(
        verify(&f, good, &other_policy).unwrap_err(),
        VerifyError::PolicyNotAccepted(policy())
    );
}

#[test]
fn a_token_without_nonce_fails_when_one_was_sent() {
    let f = fixture(true);
    let parsed = ParsedRequest {
        nonce: None,
        ..ParsedRequest::from_der(&f.request.der).unwrap()
    };
    let issued = issue_token(
        &parsed,
        &f.pki.signer,
        &tsa_policy(),
        None,
        SystemTime::now(),
    )
    .unwrap();
    assert!(matches!(
        verify(&f, &issued.response_der, &f.request.expectations()),
        Err(VerifyError::NonceMissing { .. })
    ));
}

#[test]
fn trust_classification() {
    let f = fixture(true);
    let expected = f.request.expectations();
    // No anchors: the TSA certificate is not self-signed, so untrusted.
    let verified = verify_response(&f.issued.response_der, &expected, &TrustStore::new()).unwrap();
    assert!(matches!(
        verified.trust,
        TrustStatus::Untrusted {
            reason: UntrustedReason::IssuerNotFound { .. },
            ..
        }
    ));
    // Another root of the same name: the chain's signature fails.
    let other = local_pki(KeyKind::P256);
    let verified = verify_response(&f.issued.response_der, &expected, &trust(&other)).unwrap();
    assert!(matches!(
        verified.trust,
        TrustStatus::Untrusted {
            reason: UntrustedReason::SignatureInvalid { .. },
            ..
        }
    ));
    // The TSA certificate itself as anchor.
    let mut direct = TrustStore::new();
    direct.add_root(&f.pki.tsa).unwrap();
    let verified = verify_response(&f.issued.response_der, &expected, &direct).unwrap();
    assert!(matches!(verified.trust, TrustStatus::Chained { ref chain } if chain.len() == 1));
}

#[test]
fn expired_signer_certificate_is_refused() {
    let pki = local_pki(KeyKind::P256);
    let root_key = SoftwareKey::generate_p256().unwrap();
    let root = sigil_rfc3161::build_root_ca(
        &Name::from_str("CN=Old Root").unwrap(),
        crate::support::validity(),
        &root_key,
    )
    .unwrap();
    let tsa_key = SoftwareKey::generate_p256().unwrap();
    let past = CertificateValidity {
        not_before: SystemTime::now() - Duration::from_secs(86_400 * 10),
        not_after: SystemTime::now() - Duration::from_secs(86_400),
    };
    let tsa = build_tsa_certificate(
        &Name::from_str("CN=Expired TSA").unwrap(),
        &tsa_key.subject_public_key_info().unwrap(),
        past,
        &root,
        &root_key,
    )
    .unwrap();
    let signer = SoftwareTsaSigner::new(tsa_key, vec![tsa]);
    let digest = HashAlgorithm::Sha256.digest(b"late");
    let request = TimestampRequest::new(HashAlgorithm::Sha256, &digest, None, true).unwrap();
    let parsed = ParsedRequest::from_der(&request.der).unwrap();
    let issued = issue_token(&parsed, &signer, &tsa_policy(), None, SystemTime::now()).unwrap();
    assert!(matches!(
        verify_response(&issued.response_der, &request.expectations(), &trust(&pki)),
        Err(VerifyError::SignerCertificateNotValidAtGenTime { .. })
    ));
    // The helpers refuse a TSA certificate issued by a non-CA.
    let not_ca = build_tsa_certificate(
        &Name::from_str("CN=Nope").unwrap(),
        &SoftwareKey::generate_p256()
            .unwrap()
            .subject_public_key_info()
            .unwrap(),
        crate::support::validity(),
        &pki.tsa,
        pki.signer.key(),
    );
    assert!(matches!(
        not_ca,
        Err(sigil_rfc3161::CertificateError::IssuerNotCa)
    ));
}

/// A signer whose key and self-signed certificate come from `openssl req -x509` with `eku`.
fn openssl_signer(eku: &str) -> SoftwareTsaSigner {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    openssl(
        path,
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            "k.key",
        ],
    );
    openssl(
        path,
        &[
            "pkcs8", "-topk8", "-nocrypt", "-in", "k.key", "-outform", "DER", "-out", "k.der",
        ],
    );
    make_self_signed(path, "k.key", "c.pem", eku);
    openssl(
        path,
        &["x509", "-in", "c.pem", "-outform", "DER", "-out", "c.der"],
    );
    let key = SoftwareKey::from_pkcs8_der(&read(path, "k.der")).unwrap();
    SoftwareTsaSigner::new(
        key,
        vec![Certificate::from_der(&read(path, "c.der")).unwrap()],
    )
}

#[test]
fn unfit_signer_certificates_have_their_errors() {
    let digest = HashAlgorithm::Sha256.digest(b"eku");
    let request = TimestampRequest::new(HashAlgorithm::Sha256, &digest, None, true).unwrap();
    let parsed = ParsedRequest::from_der(&request.der).unwrap();
    type Check = fn(&VerifyError) -> bool;
    let table: &[(&str, Check)] = &[
        ("", |e| *e == VerifyError::MissingTimestampingEku),
        ("timeStamping", |e| {
            *e == VerifyError::TimestampingEkuNotCritical
        }),
        ("critical,codeSigning", |e| {
            *e == VerifyError::TimestampingEkuAbsent
        }),
        (
            "critical,timeStamping,codeSigning",
            |e| matches!(e, VerifyError::ExtraKeyPurposes(p) if p.len() == 1),
        ),
    ];
    for (eku, expected) in table {
        let signer = openssl_signer(eku);
        assert!(
            sigil_rfc3161::check_signer(&signer).is_err(),
            "check_signer must refuse EKU {eku:?}"
        );
        let issued = issue_token(&parsed, &signer, &tsa_policy(), None, SystemTime::now()).unwrap();
        let error = verify_response(
            &issued.response_der,
            &request.expectations(),
            &TrustStore::new(),
        )
        .unwrap_err();
        assert!(expected(&error), "EKU {eku:?}: {error:?}");
    }
    // The same construction with a proper EKU verifies (self-signed).
    let signer = openssl_signer("critical,timeStamping");
    sigil_rfc3161::check_signer(&signer).unwrap();
    let issued = issue_token(&parsed, &signer, &tsa_policy(), None, SystemTime::now()).unwrap();
    let verified = verify_response(
        &issued.response_der,
        &request.expectations(),
        &TrustStore::new(),
    )
    .unwrap();
    assert!(matches!(verified.trust, TrustStatus::SelfSigned { .. }));
}

#[test]
fn ess_binding_to_another_certificate_is_refused() {
    // A token without embedded certificates, checked against a second certificate that has the same
    // issuer, serial and key as the signer's but other bytes (OpenSSL re-issues it with -set_serial).
    let f = fixture(false);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    let root_key = SoftwareKey::generate_p256().unwrap();
    let root = sigil_rfc3161::build_root_ca(
        &Name::from_str("CN=ESS Root").unwrap(),
        crate::support::validity(),
        &root_key,
    )
    .unwrap();
    let tsa_key = crate::support::rsa_key();
    let tsa = build_tsa_certificate(
        &Name::from_str("CN=ESS TSA").unwrap(),
        &tsa_key.subject_public_key_info().unwrap(),
        crate::support::validity(),
        &root,
        &root_key,
    )
    .unwrap();
    write(path, "root.pem", crate::support::cert_pem(&root).as_bytes());
    write(
        path,
        "root.key",
        pem("PRIVATE KEY", &root_key.to_pkcs8_der().unwrap()).as_bytes(),
    );
    write(
        path,
        "tsa.key",
        pem("PRIVATE KEY", &tsa_key.to_pkcs8_der().unwrap()).as_bytes(),
    );
    write(
        path,
        "ext.cnf",
        b"extendedKeyUsage=critical,timeStamping\nkeyUsage=critical,digitalSignature\n",
    );
    let serial = format!(
        "0x{}",
        sigil_rfc3161::CertificateSummary::of(&tsa).serial_hex
    );
    openssl(
        path,
        &[
            "req",
            "-new",
            "-key",
            "tsa.key",
            "-subj",
            "/CN=ESS TSA",
            "-out",
            "tsa.csr",
        ],
    );
    openssl(
        path,
        &[
            "x509",
            "-req",
            "-in",
            "tsa.csr",
            "-CA",
            "root.pem",
            "-CAkey",
            "root.key",
            "-set_serial",
            &serial,
            "-days",
            "7",
            "-extfile",
            "ext.cnf",
            "-outform",
            "DER",
            "-out",
            "twin.der",
        ],
    );
    let signer = SoftwareTsaSigner::new(tsa_key, vec![tsa]);
    let parsed = ParsedRequest::from_der(&f.request.der).unwrap();
    let issued = issue_token(&parsed, &signer, &tsa_policy(), None, SystemTime::now()).unwrap();
    let mut store = TrustStore::new();
    store.add_root(&root).unwrap();
    store.add_intermediate_der(&read(path, "twin.der")).unwrap();
    assert_eq!(
        verify_response(&issued.response_der, &f.request.expectations(), &store).unwrap_err(),
        VerifyError::SigningCertificateMismatch("signing-certificate-v2")
    );
}

/// Rewrites DER as BER: every constructed value gets an indefinite length and every OCTET STRING of two
/// bytes or more becomes a constructed string of two segments.
fn berify(der: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < der.len() {
        let tag = der[pos];
        let (length, header) = match der[pos + 1] {
            short @ 0..=0x7F => (usize::from(short), 2),
            long => {
                let count = usize::from(long & 0x7F);
                let length = der[pos + 2..pos + 2 + count]
                    .iter()
                    .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
                (length, 2 + count)
            }
        };
        let content = &der[pos + header..pos + header + length];
        if tag & 0x20 != 0 {
            out.extend_from_slice(&[tag, 0x80]);
            out.extend(berify(content));
            out.extend_from_slice(&[0, 0]);
        } else if tag == 0x04 && content.len() >= 2 {
            let (a, b) = content.split_at(content.len() / 2);
            out.extend_from_slice(&[0x24, 0x80]);
            for part in [a, b] {
                out.push(0x04);
                let mut len = Vec::new();
                if part.len() < 0x80 {
                    len.push(part.len() as u8);
                } else {
                    let bytes = part.len().to_be_bytes();
                    let skip = bytes.iter().take_while(|b| **b == 0).count();
                    len.push(0x80 | (bytes.len() - skip) as u8);
                    len.extend_from_slice(&bytes[skip..]);
                }
                out.extend(len);
                out.extend_from_slice(part);
            }
            out.extend_from_slice(&[0, 0]);
        } else {
            out.extend_from_slice(&der[pos..pos + header + length]);
        }
        pos += header + length;
    }
    out
}

#[test]
fn ber_and_reordered_sets_still_verify() {
    let f = fixture(true);
    let expected = f.request.expectations();
    let ber = berify(&f.issued.response_der);
    assert_ne!(ber, f.issued.response_der);
    let verified = verify(&f, &ber, &expected).unwrap();
    assert_eq!(verified.token.encoding, WireEncoding::Ber);
    assert_eq!(
        verified.token.token_der, f.issued.token_der,
        "the DER rewrite is the issued token"
    );

    // Unsorted certificate SET: a token carrying root and TSA certificates, swapped.
    let chain_signer = SoftwareTsaSigner::new(
        SoftwareKey::from_pkcs8_der(&f.pki.signer.key().to_pkcs8_der().unwrap()).unwrap(),
        vec![f.pki.tsa.clone(), f.pki.root.clone()],
    );
    let parsed = ParsedRequest::from_der(&f.request.der).unwrap();
    let issued = issue_token(
        &parsed,
        &chain_signer,
        &tsa_policy(),
        None,
        SystemTime::now(),
    )
    .unwrap();
    let tsa_der = sigil_rfc3161::der::Encode::to_der(&f.pki.tsa).unwrap();
    let root_der = sigil_rfc3161::der::Encode::to_der(&f.pki.root).unwrap();
    let (first, second) = {
        let t = find(&issued.response_der, &tsa_der);
        let r = find(&issued.response_der, &root_der);
        if t < r {
            (tsa_der.clone(), root_der.clone())
        } else {
            (root_der.clone(), tsa_der.clone())
        }
    };
    let start = find(&issued.response_der, &first);
    let mut swapped = issued.response_der.clone();
    let mut both = second.clone();
    both.extend_from_slice(&first);
    swapped[start..start + both.len()].copy_from_slice(&both);
    assert_ne!(swapped, issued.response_der);
    let verified = verify(&f, &swapped, &expected).unwrap();
    assert_eq!(verified.token.certificates.len(), 2);
    assert!(matches!(verified.trust, TrustStatus::Chained { .. }));
}

/// `token_slice`, the shortcut for stored responses, finds exactly the token the full parser finds in DER, and
/// nothing in what it does not claim to read: BER, a cut or lengthened response, a rejection.
#[test]
fn token_slice_agrees_with_the_parser_or_declines() {
    use sigil_rfc3161::{FailureInfo, PkiStatus, parse_response, reject, token_slice};
    let f = fixture(true);
    let der = &f.issued.response_der;
    let parsed = parse_response(der).unwrap().token.unwrap();
    assert_eq!(token_slice(der), Some(parsed.token_der.as_slice()));
    assert_eq!(token_slice(&berify(der)), None);
    for length in 0..der.len() {
        assert_eq!(token_slice(&der[..length]), None, "prefix of {length}");
    }
    let mut longer = der.clone();
    longer.push(0);
    assert_eq!(token_slice(&longer), None);
    let refusal = reject(PkiStatus::Rejection, FailureInfo::BadAlg, "no");
    assert!(parse_response(&refusal).unwrap().token.is_none());
    assert_eq!(token_slice(&refusal), None);
}
