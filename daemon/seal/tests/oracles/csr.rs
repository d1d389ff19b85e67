//! The seal certificate's CSR through `openssl req -verify`, and the activation checks.

use sigil_cms::{SoftwareKey, der::Decode};
use sigil_seal::{ActivationError, CsrSubject, SealSigner, build_csr, check_activation_chain};

use crate::support::{KeyKind, now, openssl, pki, read, write};

fn subject() -> CsrSubject {
    CsrSubject {
        common_name: "Acme Corp Seal 2026".into(),
        organization: "Acme Corp AS, Norway".into(),
        country: "no".into(),
        organizational_unit: Some("Legal".into()),
        locality: Some("Oslo".into()),
        state: None,
        email: Some("seal@acme.example".into()),
    }
}

#[test]
fn csr_verifies_with_openssl_for_each_key() {
    for key in [
        SoftwareKey::generate_p256().unwrap(),
        SoftwareKey::from_pkcs8_der(&rsa4096()).unwrap(),
    ] {
        let der = build_csr(&subject(), &key).unwrap();
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "req.der", &der);
        let text = openssl(
            dir.path(),
            &[
                "req", "-verify", "-inform", "DER", "-in", "req.der", "-noout", "-subject",
            ],
        );
        assert!(text.contains("CN = Acme Corp Seal 2026"), "{text}");
        assert!(text.contains("C = NO"), "{text}");
        assert!(text.contains("O = \"Acme Corp AS, Norway\""), "{text}");
    }
    let mut bad = subject();
    bad.country = "NOR".into();
    assert!(build_csr(&bad, &SoftwareKey::generate_p256().unwrap()).is_err());
}

fn rsa4096() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    openssl(
        dir.path(),
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:4096",
            "-out",
            "k.pem",
        ],
    );
    openssl(
        dir.path(),
        &[
            "pkcs8", "-topk8", "-nocrypt", "-in", "k.pem", "-outform", "DER", "-out", "k.der",
        ],
    );
    read(dir.path(), "k.der")
}

#[test]
fn activation_checks_each_rule() {
    let pki = pki(KeyKind::P256);
    let kms_key = pki.key.public_key().unwrap();
    assert_eq!(
        check_activation_chain(&pki.chain(), &kms_key, now()),
        Ok(())
    );
    assert_eq!(
        check_activation_chain(&[], &kms_key, now()),
        Err(ActivationError::EmptyChain)
    );
    let other = SealSigner::public_key(&SoftwareKey::generate_p256().unwrap()).unwrap();
    assert_eq!(
        check_activation_chain(&pki.chain(), &other, now()),
        Err(ActivationError::PublicKeyMismatch)
    );
    let stranger = crate::support::pki(KeyKind::P256);
    let broken = vec![pki.leaf_der.clone(), stranger.root_der.clone()];
    assert!(matches!(
        check_activation_chain(&broken, &kms_key, now()),
        Err(ActivationError::BrokenLink { index: 0, .. })
    ));
    assert!(matches!(
        check_activation_chain(&pki.chain(), &kms_key, now() + 10 * 86_400),
        Err(ActivationError::Expired { .. })
    ));
    assert!(matches!(
        check_activation_chain(&pki.chain(), &kms_key, now() - 10 * 86_400),
        Err(ActivationError::NotYetValid { .. })
    ));
    let no_signing = crate::support::pki_with(KeyKind::P256, "keyUsage=critical,keyEncipherment\n");
    let key = no_signing.key.public_key().unwrap();
    assert_eq!(
        check_activation_chain(&no_signing.chain(), &key, now()),
        Err(ActivationError::KeyUsage)
    );
    assert!(matches!(
        check_activation_chain(&[vec![1, 2, 3]], &kms_key, now()),
        Err(ActivationError::BadCertificate { index: 0, .. })
    ));
    let _ = sigil_cms::Certificate::from_der(&pki.leaf_der).unwrap();
}
