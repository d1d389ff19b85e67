//! OCSP and CRL checks against data made by openssl (the test PKI of `tests/fixtures/revocation/make-pki.sh`):
//! our request answered by `openssl ocsp` acting as responder, its answers judged; CRLs from `openssl ca`.

use std::path::Path;
use std::process::Command;

use sigil_cms::CertEntry;
use sigil_cms::revocation::{
    CertStatusKind, Crl, OcspResponse, RevocationError, build_ocsp_request, crl_urls, issued_by,
    ocsp_urls,
};

fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn pki() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/revocation/make-pki.sh")
        .canonicalize()
        .unwrap();
    let output = Command::new("sh")
        .arg(script)
        .args(["19001", "19002"])
        .current_dir(dir.path())
        .output()
        .expect("sh");
    assert!(
        output.status.success(),
        "make-pki.sh: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    dir
}

fn cert(dir: &Path, name: &str) -> CertEntry {
    let pem = std::fs::read_to_string(dir.join(format!("{name}.pem"))).unwrap();
    let certificate = sigil_cms::Certificate::load_pem_chain(pem.as_bytes())
        .unwrap()
        .remove(0);
    CertEntry::from_certificate(&certificate).unwrap()
}

/// Our request for `leaf`, answered by `openssl ocsp` signing as `signer` (`ocsp` or `ca`); the response DER.
fn answer(
    dir: &Path,
    leaf: &CertEntry,
    ca: &CertEntry,
    signer: &str,
    nonce: Option<&[u8]>,
) -> Vec<u8> {
    let request = build_ocsp_request(&leaf.certificate, &ca.certificate, nonce).unwrap();
    std::fs::write(dir.join("req.der"), request).unwrap();
    // openssl reads our request as it would a client's: text, then an answer from the index.
    openssl(dir, &["ocsp", "-reqin", "req.der", "-req_text"]);
    let (rsigner, rkey) = (format!("{signer}.pem"), format!("{signer}.key"));
    openssl(
        dir,
        &[
            "ocsp",
            "-index",
            "index.txt",
            "-rsigner",
            &rsigner,
            "-rkey",
            &rkey,
            "-CA",
            "ca.pem",
            "-reqin",
            "req.der",
            "-respout",
            "resp.der",
            "-nmin",
            "10",
        ],
    );
    std::fs::read(dir.join("resp.der")).unwrap()
}

fn now() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

#[test]
fn ocsp_answers_from_openssl_are_judged_by_signer_status_nonce_and_freshness() {
    let pki = pki();
    let dir = pki.path();
    let (ca, good, revoked) = (cert(dir, "ca"), cert(dir, "good"), cert(dir, "revoked"));
    assert!(issued_by(&good, &ca));
    assert!(!issued_by(&good, &good));
    assert_eq!(ocsp_urls(&good.certificate), ["http://127.0.0.1:19001/"]);
    assert_eq!(
        crl_urls(&good.certificate),
        ["http://127.0.0.1:19002/crl.der"]
    );
    assert!(ocsp_urls(&ca.certificate).is_empty());

    let nonce = [7u8; 16];
    // (leaf, signer, checked as, expected status or error)
    type Expect = Result<&'static str, fn(&RevocationError) -> bool>;
    let cases: Vec<(&CertEntry, &str, &CertEntry, Expect)> = vec![
        (&good, "ocsp", &good, Ok("good")),
        (&good, "ca", &good, Ok("good")),
        (&revoked, "ocsp", &revoked, Ok("revoked")),
        (&revoked, "ca", &revoked, Ok("revoked")),
        // A response about another certificate says nothing about this one.
        (
            &good,
            "ocsp",
            &revoked,
            Err(|e| matches!(e, RevocationError::NotCovered(_))),
        ),
        // A CA-issued certificate without id-kp-OCSPSigning has no authority to answer.
        (
            &good,
            "noeku",
            &good,
            Err(|e| matches!(e, RevocationError::NotAuthorized(_))),
        ),
    ];
    for (leaf, signer, checked, expect) in cases {
        let der = answer(dir, leaf, &ca, signer, Some(&nonce));
        let response = OcspResponse::parse(&der).unwrap();
        let outcome = response.status_of(&checked.certificate, &ca);
        match (expect, outcome) {
            (Ok(name), Ok(status)) => {
                let found = match status.kind {
                    CertStatusKind::Good => "good",
                    CertStatusKind::Revoked { time, reason } => {
                        assert_eq!(reason, Some(1), "keyCompromise");
                        assert!((now() - time).abs() < 600, "revocation time {time}");
                        "revoked"
                    }
                    CertStatusKind::Unknown => "unknown",
                };
                assert_eq!(found, name, "{signer}");
                response.check_nonce(&nonce).unwrap();
                assert_eq!(
                    response.check_nonce(&[8u8; 16]),
                    Err(RevocationError::NonceMismatch)
                );
                OcspResponse::check_fresh(&status, now(), 3600).unwrap();
                assert!(matches!(
                    OcspResponse::check_fresh(&status, now() + 3600, 3600),
                    Err(RevocationError::Stale(_))
                ));
                assert!(matches!(
                    OcspResponse::check_fresh(&status, now() - 3600, 3600),
                    Err(RevocationError::Stale(_))
                ));
            }
            (Err(check), Err(error)) => assert!(check(&error), "{signer}: {error}"),
            (expect, outcome) => panic!("{signer}: expected {:?}, got {outcome:?}", expect.ok()),
        }
    }

    // Without a nonce sent, none is echoed.
    let der = answer(dir, &good, &ca, "ocsp", None);
    let response = OcspResponse::parse(&der).unwrap();
    assert_eq!(
        response.check_nonce(&nonce),
        Err(RevocationError::NonceMismatch)
    );
    // One byte of the signature changed: it no longer verifies.
    let mut tampered = der.clone();
    let last = tampered.len() - 1;
    let at = tampered
        .windows(2)
        .rposition(|w| w == [0x02, 0x20] || w == [0x02, 0x21])
        .unwrap_or(last - 40)
        + 6;
    tampered[at] ^= 0x01;
    let error = OcspResponse::parse(&tampered)
        .unwrap()
        .status_of(&good.certificate, &ca)
        .unwrap_err();
    assert!(
        matches!(error, RevocationError::NotAuthorized(_)),
        "{error}"
    );
    // Another CA with the same name is not the issuer.
    let other = pki_other(dir);
    let error = response.status_of(&good.certificate, &other).unwrap_err();
    assert!(matches!(error, RevocationError::NotCovered(_)), "{error}");

    // Error statuses and garbage.
    for (bytes, expect) in [
        (&[0x30, 0x03, 0x0a, 0x01, 0x01][..], "malformedRequest"),
        (&[0x30, 0x03, 0x0a, 0x01, 0x03][..], "tryLater"),
        (&[0x30, 0x03, 0x0a, 0x01, 0x06][..], "unauthorized"),
    ] {
        assert_eq!(
            OcspResponse::parse(bytes).unwrap_err(),
            RevocationError::ResponderError(expect)
        );
    }
    for garbage in [&b""[..], b"\x30\x00", b"<html>", &der[..der.len() / 2]] {
        assert!(matches!(
            OcspResponse::parse(garbage),
            Err(RevocationError::Malformed { .. })
        ));
    }
}

/// A second CA with the same subject as the test CA (and another key), in `dir/other`.
fn pki_other(dir: &Path) -> CertEntry {
    let other = dir.join("other");
    std::fs::create_dir_all(&other).unwrap();
    openssl(
        &other,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-subj",
            "/CN=Sigil Test Revocation CA/O=Test",
            "-days",
            "30",
        ],
    );
    cert(&other, "ca")
}

#[test]
fn crls_from_openssl_are_judged_by_issuer_signature_serial_and_freshness() {
    let pki = pki();
    let dir = pki.path();
    let (ca, good, revoked) = (cert(dir, "ca"), cert(dir, "good"), cert(dir, "revoked"));
    let der = std::fs::read(dir.join("crl.der")).unwrap();
    let crl = Crl::parse(&der).unwrap();
    let status = crl.status_of(&good.certificate, &ca).unwrap();
    assert_eq!(status.kind, CertStatusKind::Good);
    Crl::check_fresh(&status, now(), 3600).unwrap();
    assert!(Crl::check_fresh(&status, now() + 8 * 86_400, 3600).is_err());
    let status = crl.status_of(&revoked.certificate, &ca).unwrap();
    assert!(
        matches!(
            status.kind,
            CertStatusKind::Revoked {
                reason: Some(1),
                ..
            }
        ),
        "{status:?}"
    );
    // Signed by another key under the same name: refused.
    let other = pki_other(dir);
    let error = crl.status_of(&good.certificate, &other).unwrap_err();
    assert!(
        matches!(error, RevocationError::NotAuthorized(_)),
        "{error}"
    );
    // A CRL by someone else: not about this certificate.
    let error = crl.status_of(&other.certificate, &good).unwrap_err();
    assert!(matches!(error, RevocationError::NotCovered(_)), "{error}");
    // One byte of the signature changed.
    let mut tampered = der.clone();
    let at = tampered.len() - 5;
    tampered[at] ^= 0x01;
    let error = Crl::parse(&tampered)
        .unwrap()
        .status_of(&good.certificate, &ca)
        .unwrap_err();
    assert!(
        matches!(error, RevocationError::NotAuthorized(_)),
        "{error}"
    );
    for garbage in [&b""[..], b"\x30\x00", &der[..der.len() / 2]] {
        assert!(matches!(
            Crl::parse(garbage),
            Err(RevocationError::Malformed { .. })
        ));
    }
}

/// A CRL from the test CA with the extensions of `crlexts` (openssl config lines), DER.
fn crl_with(dir: &Path, name: &str, crlexts: &str) -> Crl {
    let config = std::fs::read_to_string(dir.join("ca.cnf")).unwrap()
        + &format!("[{name}]\nauthorityKeyIdentifier = keyid:always\n{crlexts}\n");
    let cnf = format!("{name}.cnf");
    std::fs::write(dir.join(&cnf), config).unwrap();
    let (pem, der) = (format!("{name}.crl.pem"), format!("{name}.crl.der"));
    openssl(
        dir,
        &[
            "ca", "-gencrl", "-config", &cnf, "-cert", "ca.pem", "-keyfile", "ca.key", "-crlexts",
            name, "-out", &pem,
        ],
    );
    openssl(dir, &["crl", "-in", &pem, "-outform", "DER", "-out", &der]);
    Crl::parse(&std::fs::read(dir.join(der)).unwrap()).unwrap()
}

#[test]
fn crls_whose_scope_or_extensions_are_not_understood_are_refused_not_read_as_good() {
    let pki = pki();
    let dir = pki.path();
    let (ca, good, revoked) = (cert(dir, "ca"), cert(dir, "good"), cert(dir, "revoked"));
    let unsupported = |e: &RevocationError| matches!(e, RevocationError::Unsupported(_));
    let not_covered = |e: &RevocationError| matches!(e, RevocationError::NotCovered(_));
    type Refused = fn(&RevocationError) -> bool;
    let cases: Vec<(&str, &str, Refused)> = vec![
        (
            "idp_elsewhere",
            "issuingDistributionPoint = critical,@dp_elsewhere\n[dp_elsewhere]\nfullname = URI:http://elsewhere.example/other.crl",
            not_covered,
        ),
        (
            "idp_some_reasons",
            "issuingDistributionPoint = critical,@dp_reasons\n[dp_reasons]\nonlysomereasons = keyCompromise",
            unsupported,
        ),
        (
            "idp_indirect",
            "issuingDistributionPoint = critical,@dp_indirect\n[dp_indirect]\nindirectCRL = TRUE",
            unsupported,
        ),
        (
            "idp_only_ca",
            "issuingDistributionPoint = critical,@dp_only_ca\n[dp_only_ca]\nonlyCA = TRUE",
            not_covered,
        ),
        (
            "idp_only_attribute",
            "issuingDistributionPoint = critical,@dp_only_aa\n[dp_only_aa]\nonlyAA = TRUE",
            not_covered,
        ),
        ("delta", "deltaCRL = critical,ASN1:INTEGER:1", unsupported),
        (
            "unknown_critical",
            "1.2.3.4 = critical,ASN1:NULL",
            unsupported,
        ),
    ];
    for (name, crlexts, refused) in cases {
        let crl = crl_with(dir, name, crlexts);
        for leaf in [&good, &revoked] {
            let error = crl.status_of(&leaf.certificate, &ca).unwrap_err();
            assert!(refused(&error), "{name}: {error}");
        }
    }
    // A scope that covers the leaves: read as usual.
    for (name, crlexts) in [
        (
            "idp_ours",
            "issuingDistributionPoint = critical,@dp_ours\n[dp_ours]\nfullname = URI:http://127.0.0.1:19002/crl.der\nonlyuser = TRUE",
        ),
        ("unknown_noncritical", "1.2.3.4 = ASN1:NULL"),
    ] {
        let crl = crl_with(dir, name, crlexts);
        let status = crl.status_of(&good.certificate, &ca).unwrap();
        assert_eq!(status.kind, CertStatusKind::Good, "{name}");
        let status = crl.status_of(&revoked.certificate, &ca).unwrap();
        assert!(
            matches!(status.kind, CertStatusKind::Revoked { .. }),
            "{name}"
        );
    }
    // Only user certificates: not about the CA itself.
    let crl = crl_with(
        dir,
        "idp_only_user",
        "issuingDistributionPoint = critical,@dp_only_user\n[dp_only_user]\nonlyuser = TRUE",
    );
    let error = crl.status_of(&ca.certificate, &ca).unwrap_err();
    assert!(not_covered(&error), "{error}");
}
