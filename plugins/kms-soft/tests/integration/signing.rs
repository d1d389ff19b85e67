//! Every key algorithm and signature scheme, verified by RustCrypto and by openssl.

use p256::pkcs8::DecodePublicKey;
use sha2::{Digest, Sha256, Sha384, Sha512};
use sigil_kms_soft::SoftKms;
use sigil_plugin_api::{KeyAlgorithm, KmsSigner, PublicKeyRequest, SignatureAlgorithm, Status};
use signature::Verifier;
use signature::hazmat::PrehashVerifier;

use crate::support::{Fixture, OpensslCheck, assert_openssl_accepts, generate, sign};

const MESSAGE: &[u8] = b"Sigil: sealed at 2026-03-01T12:00:00Z";

fn public_key(kms: &SoftKms, key_uri: &str) -> (Vec<u8>, Option<KeyAlgorithm>) {
    let response = kms
        .public_key(PublicKeyRequest {
            key_uri: key_uri.into(),
        })
        .unwrap();
    (response.public_key_spki_der.0, response.algorithm)
}

#[test]
fn ecdsa_p256_signs_messages_and_digests_as_der() {
    let fixture = Fixture::new();
    let kms = fixture.open();
    let (uri, spki) = generate(&kms, "seal-p256", KeyAlgorithm::EcdsaP256);
    assert_eq!(uri, "sigil-soft:store=default;object=seal-p256");
    assert_eq!(
        public_key(&kms, &uri),
        (spki.clone(), Some(KeyAlgorithm::EcdsaP256))
    );
    let verifying = p256::ecdsa::VerifyingKey::from_public_key_der(&spki).unwrap();

    let der = sign(
        &kms,
        &uri,
        SignatureAlgorithm::EcdsaP256Sha256,
        MESSAGE,
        false,
    )
    .unwrap();
    // DER ECDSA-Sig-Value: a SEQUENCE, never raw r||s.
    assert_eq!(der[0], 0x30);
    let signature = p256::ecdsa::Signature::from_der(&der).unwrap();
    verifying.verify(MESSAGE, &signature).unwrap();
    assert_openssl_accepts(&spki, MESSAGE, &der, OpensslCheck::Digest("sha256"));

    let digest = Sha256::digest(MESSAGE);
    let der = sign(
        &kms,
        &uri,
        SignatureAlgorithm::EcdsaP256Sha256,
        &digest,
        true,
    )
    .unwrap();
    let signature = p256::ecdsa::Signature::from_der(&der).unwrap();
    verifying.verify_prehash(&digest, &signature).unwrap();
    assert_openssl_accepts(&spki, MESSAGE, &der, OpensslCheck::Digest("sha256"));

    let error = sign(
        &kms,
        &uri,
        SignatureAlgorithm::EcdsaP256Sha256,
        &digest[..20],
        true,
    )
    .unwrap_err();
    assert_eq!(error.status, Status::InvalidInput);
    for scheme in [
        SignatureAlgorithm::Ed25519,
        SignatureAlgorithm::RsaPkcs1v15Sha256,
    ] {
        let error = sign(&kms, &uri, scheme, MESSAGE, false).unwrap_err();
        assert_eq!(error.status, Status::Unsupported, "{scheme:?}");
    }
}

#[test]
fn ed25519_signs_messages_only() {
    let fixture = Fixture::new();
    let kms = fixture.open();
    let (uri, spki) = generate(&kms, "device-ed", KeyAlgorithm::Ed25519);
    assert_eq!(
        public_key(&kms, &uri),
        (spki.clone(), Some(KeyAlgorithm::Ed25519))
    );
    let verifying = ed25519_dalek::VerifyingKey::from_public_key_der(&spki).unwrap();

    let bytes = sign(&kms, &uri, SignatureAlgorithm::Ed25519, MESSAGE, false).unwrap();
    assert_eq!(bytes.len(), 64);
    let signature = ed25519_dalek::Signature::from_slice(&bytes).unwrap();
    verifying.verify_strict(MESSAGE, &signature).unwrap();
    assert_openssl_accepts(&spki, MESSAGE, &bytes, OpensslCheck::Raw);

    let digest = Sha512::digest(MESSAGE);
    let error = sign(&kms, &uri, SignatureAlgorithm::Ed25519, &digest, true).unwrap_err();
    assert_eq!(error.status, Status::Unsupported);
    let error = sign(
        &kms,
        &uri,
        SignatureAlgorithm::EcdsaP256Sha256,
        MESSAGE,
        false,
    )
    .unwrap_err();
    assert_eq!(error.status, Status::Unsupported);
}

/// The only RSA key the suite generates (RSA generation is the slow part of a debug build); it covers every
/// RSA scheme, message and digest, and survives a reopen.
#[test]
fn rsa_2048_signs_every_pkcs1_and_pss_scheme() {
    use rsa::pkcs8::DecodePublicKey as _;
    use rsa::{RsaPublicKey, pkcs1v15, pss};

    let fixture = Fixture::new();
    let kms = fixture.open();
    let (uri, spki) = generate(&kms, "tsa-rsa", KeyAlgorithm::Rsa2048);
    assert_eq!(
        public_key(&kms, &uri),
        (spki.clone(), Some(KeyAlgorithm::Rsa2048))
    );
    let public = RsaPublicKey::from_public_key_der(&spki).unwrap();
    assert_eq!(rsa::traits::PublicKeyParts::n(&public).bits(), 2048);

    let schemes = [
        (SignatureAlgorithm::RsaPkcs1v15Sha256, "sha256", false),
        (SignatureAlgorithm::RsaPkcs1v15Sha384, "sha384", false),
        (SignatureAlgorithm::RsaPkcs1v15Sha512, "sha512", false),
        (SignatureAlgorithm::RsaPssSha256, "sha256", true),
        (SignatureAlgorithm::RsaPssSha384, "sha384", true),
        (SignatureAlgorithm::RsaPssSha512, "sha512", true),
    ];
    // A reopened instance must sign with the key the first one generated.
    let reopened = fixture.open();
    for (kms, prehashed) in [(&kms, false), (&reopened, true)] {
        for (scheme, hash, is_pss) in schemes {
            let digest = match hash {
                "sha256" => Sha256::digest(MESSAGE).to_vec(),
                "sha384" => Sha384::digest(MESSAGE).to_vec(),
                _ => Sha512::digest(MESSAGE).to_vec(),
            };
            let data = if prehashed { &digest[..] } else { MESSAGE };
            let bytes = sign(kms, &uri, scheme, data, prehashed).unwrap();
            assert_eq!(bytes.len(), 256);
            let verified = match (hash, is_pss) {
                ("sha256", false) => pkcs1v15::VerifyingKey::<Sha256>::new(public.clone())
                    .verify(MESSAGE, &bytes[..].try_into().unwrap()),
                ("sha384", false) => pkcs1v15::VerifyingKey::<Sha384>::new(public.clone())
                    .verify(MESSAGE, &bytes[..].try_into().unwrap()),
                ("sha512", false) => pkcs1v15::VerifyingKey::<Sha512>::new(public.clone())
                    .verify(MESSAGE, &bytes[..].try_into().unwrap()),
                ("sha256", true) => pss::VerifyingKey::<Sha256>::new(public.clone())
                    .verify(MESSAGE, &bytes[..].try_into().unwrap()),
                ("sha384", true) => pss::VerifyingKey::<Sha384>::new(public.clone())
                    .verify(MESSAGE, &bytes[..].try_into().unwrap()),
                _ => pss::VerifyingKey::<Sha512>::new(public.clone())
                    .verify(MESSAGE, &bytes[..].try_into().unwrap()),
            };
            verified.unwrap_or_else(|error| panic!("{scheme:?} prehashed={prehashed}: {error}"));
            let check = if is_pss {
                OpensslCheck::Pss(hash)
            } else {
                OpensslCheck::Digest(hash)
            };
            assert_openssl_accepts(&spki, MESSAGE, &bytes, check);
        }
    }
    // A digest of the wrong length, and schemes of other key types.
    let error = sign(
        &kms,
        &uri,
        SignatureAlgorithm::RsaPkcs1v15Sha384,
        &[0; 32],
        true,
    )
    .unwrap_err();
    assert_eq!(error.status, Status::InvalidInput);
    for scheme in [
        SignatureAlgorithm::EcdsaP256Sha256,
        SignatureAlgorithm::Ed25519,
    ] {
        let error = sign(&kms, &uri, scheme, MESSAGE, false).unwrap_err();
        assert_eq!(error.status, Status::Unsupported, "{scheme:?}");
    }
}

/// Asks `openssl pkeyutl`, given only the digest, whether `signature` is a PKCS#1 v1.5 or PSS signature of it:
/// the check for the "sign this pre-computed digest" form, independent of how the message was hashed.
fn openssl_verifies_digest(
    spki: &[u8],
    digest: &[u8],
    signature: &[u8],
    hash: &str,
    pss: bool,
) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let public = dir.path().join("pub.pem");
    std::fs::write(&public, crate::support::spki_pem(spki)).unwrap();
    let digest_path = dir.path().join("digest");
    std::fs::write(&digest_path, digest).unwrap();
    let sig_path = dir.path().join("sig");
    std::fs::write(&sig_path, signature).unwrap();
    let mut command = std::process::Command::new("openssl");
    command
        .args(["pkeyutl", "-verify", "-pubin", "-inkey"])
        .arg(&public)
        .arg("-in")
        .arg(&digest_path)
        .arg("-sigfile")
        .arg(&sig_path)
        .args(["-pkeyopt", &format!("digest:{hash}")]);
    if pss {
        command.args([
            "-pkeyopt",
            "rsa_padding_mode:pss",
            "-pkeyopt",
            "rsa_pss_saltlen:digest",
        ]);
    } else {
        command.args(["-pkeyopt", "rsa_padding_mode:pkcs1"]);
    }
    let output = command.output().expect("openssl must be installed");
    output.status.success()
}

/// An RSA-4096 key (the default seal key): generated, reported as such, and its signatures over pre-computed
/// digests accepted by `openssl pkeyutl` for both paddings; a signature over another digest is refused.
#[test]
fn rsa_4096_digest_signatures_verify_with_openssl_pkeyutl() {
    let fixture = Fixture::new();
    let kms = fixture.open();
    let (uri, spki) = generate(&kms, "seal-rsa", KeyAlgorithm::Rsa4096);
    assert_eq!(public_key(&kms, &uri).1, Some(KeyAlgorithm::Rsa4096));
    for (scheme, hash, pss) in [
        (SignatureAlgorithm::RsaPkcs1v15Sha256, "sha256", false),
        (SignatureAlgorithm::RsaPssSha512, "sha512", true),
    ] {
        let digest = match hash {
            "sha256" => Sha256::digest(MESSAGE).to_vec(),
            _ => Sha512::digest(MESSAGE).to_vec(),
        };
        let bytes = sign(&kms, &uri, scheme, &digest, true).unwrap();
        assert_eq!(bytes.len(), 512);
        assert!(
            openssl_verifies_digest(&spki, &digest, &bytes, hash, pss),
            "openssl refused {scheme:?}"
        );
        let mut other = digest.clone();
        other[0] ^= 1;
        assert!(
            !openssl_verifies_digest(&spki, &other, &bytes, hash, pss),
            "openssl accepted {scheme:?} over another digest: the oracle is broken"
        );
        assert_openssl_accepts(
            &spki,
            MESSAGE,
            &bytes,
            if pss {
                OpensslCheck::Pss(hash)
            } else {
                OpensslCheck::Digest(hash)
            },
        );
    }
}

/// A store written by an earlier version, whose RSA key the pure-Rust `rsa` crate generated and encoded
/// (PKCS#8, sealed under the fixture's passphrase with the cheap test parameters): it unseals, its public key
/// matches the one recorded in the key file byte for byte, and it signs what the `rsa` crate and openssl accept.
#[test]
fn rsa_keys_sealed_by_earlier_versions_still_sign() {
    use rsa::pkcs8::DecodePublicKey as _;
    use rsa::{RsaPublicKey, pkcs1v15, pss};

    let fixture = Fixture::new();
    let source =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/legacy-rsa-store");
    let dir = fixture.store_dir();
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    for name in ["store.json", "legacy-rsa.key"] {
        std::fs::copy(source.join(name), dir.join(name)).unwrap();
        std::fs::set_permissions(
            dir.join(name),
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .unwrap();
    }
    let kms = fixture.open();
    let uri = "sigil-soft:store=default;object=legacy-rsa";
    let (spki, algorithm) = public_key(&kms, uri);
    assert_eq!(algorithm, Some(KeyAlgorithm::Rsa2048));
    let public = RsaPublicKey::from_public_key_der(&spki).unwrap();

    let bytes = sign(
        &kms,
        uri,
        SignatureAlgorithm::RsaPkcs1v15Sha256,
        MESSAGE,
        false,
    )
    .unwrap();
    pkcs1v15::VerifyingKey::<Sha256>::new(public.clone())
        .verify(MESSAGE, &bytes[..].try_into().unwrap())
        .unwrap();
    assert_openssl_accepts(&spki, MESSAGE, &bytes, OpensslCheck::Digest("sha256"));

    let digest = Sha384::digest(MESSAGE);
    let bytes = sign(&kms, uri, SignatureAlgorithm::RsaPssSha384, &digest, true).unwrap();
    pss::VerifyingKey::<Sha384>::new(public)
        .verify(MESSAGE, &bytes[..].try_into().unwrap())
        .unwrap();
    assert!(openssl_verifies_digest(
        &spki, &digest, &bytes, "sha384", true
    ));
}
