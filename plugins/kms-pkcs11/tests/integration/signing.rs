//! Every key algorithm and signature scheme on a SoftHSM2 token, verified by RustCrypto and by openssl.

use p256::pkcs8::DecodePublicKey;
use sha2::{Digest, Sha256, Sha384, Sha512};
use sigil_kms_pkcs11::Pkcs11Kms;
use sigil_plugin_api::{KeyAlgorithm, KmsSigner, PublicKeyRequest, SignatureAlgorithm, Status};
use signature::Verifier;
use signature::hazmat::PrehashVerifier;

use crate::support::{OpensslCheck, TOKEN, assert_openssl_accepts, generate, sign};

const MESSAGE: &[u8] = b"Sigil: sealed at 2026-03-01T12:00:00Z";

fn public_key(kms: &Pkcs11Kms, key_uri: &str) -> (Vec<u8>, Option<KeyAlgorithm>) {
    let response = kms
        .public_key(PublicKeyRequest {
            key_uri: key_uri.into(),
        })
        .unwrap();
    (response.public_key_spki_der.0, response.algorithm)
}

softhsm_test! {
    fn ecdsa_p256_signs_messages_and_digests_as_der(hsm) {
        let kms = hsm.open();
        let (uri, spki) = generate(&kms, "seal-p256", KeyAlgorithm::EcdsaP256);
        assert_eq!(uri, format!("pkcs11:token={TOKEN};object=seal-p256;type=private"));
        assert_eq!(public_key(&kms, &uri), (spki.clone(), Some(KeyAlgorithm::EcdsaP256)));
        let verifying = p256::ecdsa::VerifyingKey::from_public_key_der(&spki).unwrap();

        let der = sign(&kms, &uri, SignatureAlgorithm::EcdsaP256Sha256, MESSAGE, false).unwrap();
        assert_eq!(der[0], 0x30, "DER ECDSA-Sig-Value, not raw r||s");
        let signature = p256::ecdsa::Signature::from_der(&der).unwrap();
        verifying.verify(MESSAGE, &signature).unwrap();
        assert_openssl_accepts(&spki, MESSAGE, &der, OpensslCheck::Digest("sha256"));

        let digest = Sha256::digest(MESSAGE);
        let der = sign(&kms, &uri, SignatureAlgorithm::EcdsaP256Sha256, &digest, true).unwrap();
        let signature = p256::ecdsa::Signature::from_der(&der).unwrap();
        verifying.verify_prehash(&digest, &signature).unwrap();
        assert_openssl_accepts(&spki, MESSAGE, &der, OpensslCheck::Digest("sha256"));

        let error = sign(&kms, &uri, SignatureAlgorithm::EcdsaP256Sha256, &digest[..31], true).unwrap_err();
        assert_eq!(error.status, Status::InvalidInput);
        for scheme in [SignatureAlgorithm::Ed25519, SignatureAlgorithm::RsaPssSha256] {
            let error = sign(&kms, &uri, scheme, MESSAGE, false).unwrap_err();
            assert_eq!(error.status, Status::Unsupported, "{scheme:?}");
        }
    }
}

softhsm_test! {
    fn ed25519_signs_messages_only(hsm) {
        let kms = hsm.open();
        let (uri, spki) = generate(&kms, "device-ed", KeyAlgorithm::Ed25519);
        assert_eq!(public_key(&kms, &uri), (spki.clone(), Some(KeyAlgorithm::Ed25519)));
        let verifying = ed25519_dalek::VerifyingKey::from_public_key_der(&spki).unwrap();

        let bytes = sign(&kms, &uri, SignatureAlgorithm::Ed25519, MESSAGE, false).unwrap();
        let signature = ed25519_dalek::Signature::from_slice(&bytes).unwrap();
        verifying.verify_strict(MESSAGE, &signature).unwrap();
        assert_openssl_accepts(&spki, MESSAGE, &bytes, OpensslCheck::Raw);

        let error = sign(&kms, &uri, SignatureAlgorithm::Ed25519, &Sha512::digest(MESSAGE), true).unwrap_err();
        assert_eq!(error.status, Status::Unsupported);
        let error = sign(&kms, &uri, SignatureAlgorithm::EcdsaP256Sha256, MESSAGE, false).unwrap_err();
        assert_eq!(error.status, Status::Unsupported);
    }
}

softhsm_test! {
    /// RSA-2048 through every PKCS#1 v1.5 and PSS scheme, message and digest; RSA-3072 and RSA-4096 keys get
    /// the right modulus (the token generates them quickly).
    fn rsa_signs_every_pkcs1_and_pss_scheme(hsm) {
        use rsa::pkcs8::DecodePublicKey as _;
        use rsa::traits::PublicKeyParts;
        use rsa::{RsaPublicKey, pkcs1v15, pss};

        let kms = hsm.open();
        let (uri, spki) = generate(&kms, "tsa-rsa", KeyAlgorithm::Rsa2048);
        assert_eq!(public_key(&kms, &uri), (spki.clone(), Some(KeyAlgorithm::Rsa2048)));
        let public = RsaPublicKey::from_public_key_der(&spki).unwrap();
        assert_eq!(public.n().bits(), 2048);
        let exponent: Vec<u8> = public.e().to_be_bytes().iter().copied().skip_while(|byte| *byte == 0).collect();
        assert_eq!(exponent, [1, 0, 1]);

        let schemes = [
            (SignatureAlgorithm::RsaPkcs1v15Sha256, "sha256", false),
            (SignatureAlgorithm::RsaPkcs1v15Sha384, "sha384", false),
            (SignatureAlgorithm::RsaPkcs1v15Sha512, "sha512", false),
            (SignatureAlgorithm::RsaPssSha256, "sha256", true),
            (SignatureAlgorithm::RsaPssSha384, "sha384", true),
            (SignatureAlgorithm::RsaPssSha512, "sha512", true),
        ];
        for prehashed in [false, true] {
            for (scheme, hash, is_pss) in schemes {
                let digest = match hash {
                    "sha256" => Sha256::digest(MESSAGE).to_vec(),
                    "sha384" => Sha384::digest(MESSAGE).to_vec(),
                    _ => Sha512::digest(MESSAGE).to_vec(),
                };
                let data = if prehashed { &digest[..] } else { MESSAGE };
                let bytes = sign(&kms, &uri, scheme, data, prehashed).unwrap();
                assert_eq!(bytes.len(), 256);
                let signature = bytes[..].try_into().unwrap();
                let pss_signature = bytes[..].try_into().unwrap();
                let verified = match (hash, is_pss) {
                    ("sha256", false) => pkcs1v15::VerifyingKey::<Sha256>::new(public.clone()).verify(MESSAGE, &signature),
                    ("sha384", false) => pkcs1v15::VerifyingKey::<Sha384>::new(public.clone()).verify(MESSAGE, &signature),
                    ("sha512", false) => pkcs1v15::VerifyingKey::<Sha512>::new(public.clone()).verify(MESSAGE, &signature),
                    ("sha256", true) => pss::VerifyingKey::<Sha256>::new(public.clone()).verify(MESSAGE, &pss_signature),
                    ("sha384", true) => pss::VerifyingKey::<Sha384>::new(public.clone()).verify(MESSAGE, &pss_signature),
                    _ => pss::VerifyingKey::<Sha512>::new(public.clone()).verify(MESSAGE, &pss_signature),
                };
                verified.unwrap_or_else(|error| panic!("{scheme:?} prehashed={prehashed}: {error}"));
                let check = if is_pss { OpensslCheck::Pss(hash) } else { OpensslCheck::Digest(hash) };
                assert_openssl_accepts(&spki, MESSAGE, &bytes, check);
            }
        }
        let error = sign(&kms, &uri, SignatureAlgorithm::RsaPkcs1v15Sha512, &[0; 48], true).unwrap_err();
        assert_eq!(error.status, Status::InvalidInput);
        for scheme in [SignatureAlgorithm::EcdsaP256Sha256, SignatureAlgorithm::Ed25519] {
            let error = sign(&kms, &uri, scheme, MESSAGE, false).unwrap_err();
            assert_eq!(error.status, Status::Unsupported, "{scheme:?}");
        }

        for (label, algorithm, bits) in [
            ("rsa-3072", KeyAlgorithm::Rsa3072, 3072),
            ("rsa-4096", KeyAlgorithm::Rsa4096, 4096),
        ] {
            let (uri, spki) = generate(&kms, label, algorithm);
            assert_eq!(RsaPublicKey::from_public_key_der(&spki).unwrap().n().bits(), bits);
            let bytes = sign(&kms, &uri, SignatureAlgorithm::RsaPssSha384, MESSAGE, false).unwrap();
            assert_openssl_accepts(&spki, MESSAGE, &bytes, OpensslCheck::Pss("sha384"));
        }
    }
}
