//! Our CAdES through the independent oracles: `openssl cms -verify -cades`, `openssl ts -verify` on the
//! extracted signature time-stamp, and `pyhanko sign validate --detached`; then through our own verifier.

use sigil_cms::{
    HashAlgorithm,
    signed_data::{ID_AA_SIGNATURE_TIME_STAMP_TOKEN, parse_signed_data},
};
use sigil_seal::{
    CadesBuilder, CadesOptions, ContentDigest, Indication, Level, SealSigner, TrustSettings,
    verify_cades,
};

use crate::support::{KeyKind, Pki, Tsa, hex, now, openssl, pki, read, run, tsa, venv, write};

/// Builds a B-T CAdES over `content` with the PKI's key, writes `x.p7s` and `content.bin`.
pub fn seal(pki: &Pki, tsa: &Tsa, content: &[u8]) -> Vec<u8> {
    let algorithm = pki.key.algorithm();
    let hash = algorithm.digest_algorithm();
    let builder = CadesBuilder::new(
        hash,
        &hash.digest(content),
        &pki.chain(),
        algorithm,
        CadesOptions::default(),
    )
    .unwrap();
    let signature = pki.key.sign(builder.to_be_signed()).unwrap();
    let mut cms = builder.assemble(&signature).unwrap();
    let token = tsa.stamp(cms.signature_value());
    cms.add_signature_timestamp(&token).unwrap();
    let der = cms.to_der().unwrap();
    write(pki.path(), "x.p7s", &der);
    write(pki.path(), "content.bin", content);
    der
}

fn token_of(p7s: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let parsed = parse_signed_data(p7s).unwrap();
    let info = &parsed.signed_data.signer_infos.0[0];
    let attribute = info
        .unsigned_attrs
        .as_ref()
        .unwrap()
        .0
        .iter()
        .find(|a| a.attr_type == ID_AA_SIGNATURE_TIME_STAMP_TOKEN)
        .expect("signature-time-stamp attribute");
    let token = sigil_cms::der::Encode::to_der(&attribute.attr_values.0[0]).unwrap();
    (token, info.signature.as_bytes().to_vec())
}

fn check_with_oracles(kind: KeyKind) {
    let pki = pki(kind);
    let tsa = tsa();
    let content = format!("contract for {kind:?}\n").repeat(50).into_bytes();
    let p7s = seal(&pki, &tsa, &content);
    let dir = pki.path();

    // OpenSSL: the CMS signature, the message digest and the ESS signing-certificate-v2 (-cades).
    // OpenSSL 3.0 cannot check Ed25519 CMS with signed attributes ("eddsa_digest_signverify_init: invalid
    // digest", with or without -cades), so for Ed25519 pyHanko and our verifier are the oracles.
    if kind != KeyKind::Ed25519 {
        openssl(
            dir,
            &[
                "cms",
                "-verify",
                "-binary",
                "-inform",
                "DER",
                "-in",
                "x.p7s",
                "-content",
                "content.bin",
                "-cades",
                "-purpose",
                "any",
                "-CAfile",
                "root.pem",
                "-out",
                "/dev/null",
            ],
        );
    }

    // OpenSSL ts: the token's imprint is SHA-256 of the signature value, and it chains to the TSA root.
    let (token, signature) = token_of(&p7s);
    write(dir, "token.der", &token);
    tsa.root_pem_file(dir);
    let digest = hex(&HashAlgorithm::Sha256.digest(&signature));
    let text = openssl(
        dir,
        &[
            "ts",
            "-verify",
            "-digest",
            &digest,
            "-token_in",
            "-in",
            "token.der",
            "-CAfile",
            "tsaroot.pem",
        ],
    );
    assert!(text.contains("Verification: OK"), "{text}");

    // pyHanko: intact, trusted, with the timestamp checked against the same roots.
    let pyhanko = venv().join("bin/pyhanko");
    let (ok, text) = run(
        dir,
        pyhanko.to_str().unwrap(),
        &[
            "sign",
            "validate",
            "--detached",
            "x.p7s",
            "--trust",
            "root.pem",
            "--trust",
            "tsaroot.pem",
            "--trust-replace",
            "--no-revocation-check",
            "content.bin",
        ],
    );
    assert!(ok, "pyhanko rejected the {kind:?} seal:\n{text}");
    assert!(text.contains("INTACT"), "{kind:?}: {text}");
    assert!(text.contains("TRUSTED"), "{kind:?}: {text}");
    assert!(!text.contains("UNTRUSTED"), "{kind:?}: {text}");
    assert!(
        text.to_lowercase().contains("timestamp"),
        "{kind:?}: no timestamp in {text}"
    );

    // Our verifier agrees: PASSED, B-T, chained.
    let hash = pki.key.algorithm().digest_algorithm();
    let anchors = pki.anchors();
    let platform = sigil_seal::TrustStore::new();
    let tsa_trust = tsa.trust();
    let settings = TrustSettings {
        anchors: &anchors,
        platform: &platform,
        tsa: &tsa_trust,
        now: now(),
    };
    let digests = [ContentDigest {
        algorithm: hash,
        digest: hash.digest(&read(dir, "content.bin")),
    }];
    let report = verify_cades(&p7s, &digests, &settings);
    assert_eq!(report.verdict.indication, Indication::Passed, "{report:?}");
    assert_eq!(report.level, Some(Level::BT));
    assert_eq!(report.trust.as_str(), "chained");
    assert!(report.timestamp.as_ref().is_some_and(|t| t.trusted));
    assert!(report.signer.unwrap().subject.contains("CN=Acme Seal"));
}

#[test]
fn p256_seal_passes_every_oracle() {
    check_with_oracles(KeyKind::P256);
}

#[test]
fn p384_seal_passes_every_oracle() {
    check_with_oracles(KeyKind::P384);
}

#[test]
fn rsa3072_pkcs1_seal_passes_every_oracle() {
    check_with_oracles(KeyKind::Rsa3072);
}

#[test]
fn rsa4096_pss_seal_passes_every_oracle() {
    check_with_oracles(KeyKind::Rsa4096Pss);
}

#[test]
fn ed25519_seal_passes_every_oracle() {
    check_with_oracles(KeyKind::Ed25519);
}

#[test]
fn pades_profile_omits_signing_time_and_keeps_ess() {
    let pki = pki(KeyKind::P256);
    let digest = HashAlgorithm::Sha256.digest(b"byte range");
    let algorithm = pki.key.algorithm();
    let builder = CadesBuilder::for_pades(
        HashAlgorithm::Sha256,
        &digest,
        &pki.chain(),
        algorithm,
        true,
    )
    .unwrap();
    let signature = pki.key.sign(builder.to_be_signed()).unwrap();
    let der = builder.assemble(&signature).unwrap().to_der().unwrap();
    let parsed = parse_signed_data(&der).unwrap();
    let types: Vec<_> = parsed.signed_data.signer_infos.0[0]
        .signed_attrs
        .as_ref()
        .unwrap()
        .0
        .iter()
        .map(|a| a.attr_type)
        .collect();
    assert!(!types.contains(&sigil_cms::oids::ID_SIGNING_TIME));
    assert!(types.contains(&sigil_cms::oids::ID_AA_SIGNING_CERTIFICATE_V2));
    // Deterministic: the same inputs give the same to-be-signed bytes.
    let again = CadesBuilder::for_pades(
        HashAlgorithm::Sha256,
        &digest,
        &pki.chain(),
        algorithm,
        true,
    )
    .unwrap();
    assert_eq!(
        again.to_be_signed(),
        CadesBuilder::for_pades(
            HashAlgorithm::Sha256,
            &digest,
            &pki.chain(),
            algorithm,
            true
        )
        .unwrap()
        .to_be_signed()
    );
}

#[test]
fn a_signature_from_another_key_is_refused_at_assembly() {
    let pki = pki(KeyKind::P256);
    let digest = HashAlgorithm::Sha256.digest(b"x");
    let builder = CadesBuilder::new(
        HashAlgorithm::Sha256,
        &digest,
        &pki.chain(),
        pki.key.algorithm(),
        CadesOptions::default(),
    )
    .unwrap();
    let other = sigil_cms::SoftwareKey::generate_p256().unwrap();
    let signature = other.sign_message(builder.to_be_signed()).unwrap();
    assert!(matches!(
        builder.assemble(&signature),
        Err(sigil_seal::BuildError::SignatureRejected(_))
    ));
}
