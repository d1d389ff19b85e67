//! CMS made by `openssl cms -sign` (not by us) through our verifier.

use sigil_seal::{
    ContentDigest, HashAlgorithm, Indication, SealCheck, SubIndication, TrustSettings, TrustStore,
    verify_cades,
};

use crate::support::{KeyKind, Pki, now, openssl, pki, read, write};

fn openssl_sign(pki: &Pki, cades: bool, signer: &str, key: &str) -> Vec<u8> {
    write(pki.path(), "content.bin", b"the original document\n");
    let mut args = vec![
        "cms",
        "-sign",
        "-binary",
        "-in",
        "content.bin",
        "-signer",
        signer,
        "-inkey",
        key,
        "-outform",
        "DER",
        "-out",
        "f.p7s",
        "-md",
        "sha256",
    ];
    if cades {
        args.push("-cades");
    }
    openssl(pki.path(), &args);
    read(pki.path(), "f.p7s")
}

fn digests(content: &[u8]) -> Vec<ContentDigest> {
    [HashAlgorithm::Sha256, HashAlgorithm::Sha512]
        .into_iter()
        .map(|algorithm| ContentDigest {
            algorithm,
            digest: algorithm.digest(content),
        })
        .collect()
}

fn verify(p7s: &[u8], content: &[u8], anchors: &TrustStore) -> sigil_seal::SealReport {
    let empty = TrustStore::new();
    let settings = TrustSettings {
        anchors,
        platform: &empty,
        tsa: &empty,
        now: now(),
    };
    verify_cades(p7s, &digests(content), &settings)
}

#[test]
fn openssl_cades_passes_with_our_anchors() {
    for kind in [KeyKind::P256, KeyKind::Rsa3072] {
        let pki = pki(kind);
        let p7s = openssl_sign(&pki, true, "leaf.pem", "leaf.key");
        let report = verify(&p7s, b"the original document\n", &pki.anchors());
        assert_eq!(
            report.verdict.indication,
            Indication::Passed,
            "{kind:?}: {report:?}"
        );
        assert_eq!(report.level.map(|l| l.as_str()), Some("B-B"));
        assert_eq!(report.hash_match, Some(true));
        assert!(report.signing_time.is_some());
        assert!(!report.qualified);
    }
}

#[test]
fn tampered_content_fails_with_hash_failure() {
    let pki = pki(KeyKind::P256);
    let p7s = openssl_sign(&pki, true, "leaf.pem", "leaf.key");
    let report = verify(&p7s, b"the altered document\n", &pki.anchors());
    assert_eq!(report.verdict.indication, Indication::Failed);
    assert_eq!(
        report.verdict.sub_indication,
        Some(SubIndication::HashFailure)
    );
    assert_eq!(report.failed_check, Some(SealCheck::ContentDigest));
    assert_eq!(report.hash_match, Some(false));
    assert!(
        report.verdict.message.contains("does not match"),
        "{}",
        report.verdict.message
    );
}

#[test]
fn wrong_anchors_are_indeterminate_no_chain() {
    let pki = pki(KeyKind::P256);
    let other = crate::support::pki(KeyKind::P256);
    let p7s = openssl_sign(&pki, true, "leaf.pem", "leaf.key");
    // Another root with the same name: the issuer is found but its signature does not verify.
    let report = verify(&p7s, b"the original document\n", &other.anchors());
    assert_eq!(report.verdict.indication, Indication::Indeterminate);
    assert_eq!(
        report.verdict.sub_indication,
        Some(SubIndication::CertificateChainGeneralFailure)
    );
    assert_eq!(report.trust.as_str(), "untrusted");
    // No anchor at all: no chain found.
    let report = verify(&p7s, b"the original document\n", &TrustStore::new());
    assert_eq!(report.verdict.indication, Indication::Indeterminate);
    assert_eq!(
        report.verdict.sub_indication,
        Some(SubIndication::NoCertificateChainFound)
    );
    assert_eq!(report.trust.as_str(), "untrusted");
    assert_eq!(report.failed_check, Some(SealCheck::Trust));
    assert!(report.signature_valid);
}

#[test]
fn the_platform_root_gives_dev_ca() {
    let pki = pki(KeyKind::P256);
    let p7s = openssl_sign(&pki, true, "leaf.pem", "leaf.key");
    let empty = TrustStore::new();
    let platform = pki.anchors();
    let settings = TrustSettings {
        anchors: &empty,
        platform: &platform,
        tsa: &empty,
        now: now(),
    };
    let report = verify_cades(&p7s, &digests(b"the original document\n"), &settings);
    assert_eq!(report.trust.as_str(), "dev_ca");
    assert_eq!(report.verdict.indication, Indication::Passed);
}

#[test]
fn missing_ess_attribute_is_no_signing_certificate_found() {
    let pki = pki(KeyKind::P256);
    let p7s = openssl_sign(&pki, false, "leaf.pem", "leaf.key");
    let report = verify(&p7s, b"the original document\n", &pki.anchors());
    assert_eq!(report.verdict.indication, Indication::Indeterminate);
    assert_eq!(
        report.verdict.sub_indication,
        Some(SubIndication::NoSigningCertificateFound)
    );
    assert_eq!(
        report.failed_check,
        Some(SealCheck::SigningCertificateBinding)
    );
    assert!(report.signature_valid);
    assert!(report.verdict.message.contains("signing-certificate-v2"));
}

#[test]
fn a_self_signed_signer_is_self_signed() {
    let pki = pki(KeyKind::P256);
    openssl(
        pki.path(),
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "self.key",
            "-out",
            "self.pem",
            "-subj",
            "/CN=Self Sealer",
            "-days",
            "2",
        ],
    );
    let p7s = openssl_sign(&pki, true, "self.pem", "self.key");
    let report = verify(&p7s, b"the original document\n", &pki.anchors());
    assert_eq!(report.trust.as_str(), "self_signed");
    assert_eq!(report.verdict.indication, Indication::Indeterminate);
    assert_eq!(
        report.verdict.sub_indication,
        Some(SubIndication::NoCertificateChainFound)
    );
}

#[test]
fn a_signer_without_signing_key_usage_is_refused() {
    let pki = crate::support::pki_with(KeyKind::P256, "keyUsage=critical,keyEncipherment\n");
    let p7s = openssl_sign(&pki, true, "leaf.pem", "leaf.key");
    let report = verify(&p7s, b"the original document\n", &pki.anchors());
    assert_eq!(report.failed_check, Some(SealCheck::Certificate));
    assert_eq!(
        report.verdict.sub_indication,
        Some(SubIndication::ChainConstraintsFailure)
    );
}

#[test]
fn a_qualified_certificate_is_reported() {
    // QCStatements with id-etsi-qcs-QcCompliance, DER: SEQUENCE { SEQUENCE { OID 0.4.0.1862.1.1 } }.
    let pki = crate::support::pki_with(
        KeyKind::P256,
        "keyUsage=critical,nonRepudiation\n1.3.6.1.5.5.7.1.3=DER:300A3008060604008E460101\n",
    );
    let p7s = openssl_sign(&pki, true, "leaf.pem", "leaf.key");
    let report = verify(&p7s, b"the original document\n", &pki.anchors());
    assert!(report.qualified, "{report:?}");
    assert_eq!(report.verdict.indication, Indication::Passed);
}

#[test]
fn garbage_is_a_format_failure() {
    let report = verify(b"not a cms", b"x", &TrustStore::new());
    assert_eq!(
        report.verdict.sub_indication,
        Some(SubIndication::FormatFailure)
    );
    assert_eq!(report.failed_check, Some(SealCheck::Format));
}
