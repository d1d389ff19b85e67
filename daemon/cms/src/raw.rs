//! Signatures outside CMS and X.509: a bare public key, a message and a signature, as HTTP Message Signatures
//! (RFC 9421), JWS (JAdES) and device challenges carry them. [`verify_ed25519`] and [`verify_p256_sha256`]
//! check one; both go through aws-lc-rs, already in the daemon's tree, so they add nothing to the build.
//!
//! Errors use [`SignatureCheck`] like the CMS verifier: [`SignatureCheck::UnsupportedKey`] when the key does
//! not parse (or is on another curve), [`SignatureCheck::Invalid`] when the signature does not verify, which
//! includes a signature that is malformed for its encoding.

use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA256_FIXED, ED25519, ParsedPublicKey,
    VerificationAlgorithm,
};

use crate::SignatureCheck;

/// How an ECDSA signature is encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EcdsaSignatureEncoding {
    /// A DER `ECDSA-Sig-Value` (RFC 3279 §2.2.3), as X.509, CMS and most libraries write it.
    Der,
    /// Fixed-length `r || s`, big-endian, each padded to the curve size (64 bytes for P-256): JWS `ES256`
    /// (RFC 7518 §3.4), RFC 9421 `ecdsa-p256-sha256`, WebCrypto and FIDO devices' raw form.
    Fixed,
}

/// Verifies an ECDSA P-256 signature with SHA-256 over `message` (hashed here).
///
/// `public_key` is either a SEC1 point (uncompressed `04 || x || y`, 65 bytes, or compressed `02`/`03 || x`,
/// 33 bytes) or a DER SubjectPublicKeyInfo (`id-ecPublicKey` with `prime256v1`); points not on the curve are
/// refused. `signature` is in `encoding`. High-S signatures are accepted, as ECDSA allows.
///
/// # Errors
/// [`SignatureCheck::UnsupportedKey`] when the key is not a P-256 key in one of these forms,
/// [`SignatureCheck::Invalid`] when the signature does not verify.
pub fn verify_p256_sha256(
    public_key: &[u8],
    message: &[u8],
    signature: &[u8],
    encoding: EcdsaSignatureEncoding,
) -> Result<(), SignatureCheck> {
    let algorithm = match encoding {
        EcdsaSignatureEncoding::Der => &ECDSA_P256_SHA256_ASN1,
        EcdsaSignatureEncoding::Fixed => &ECDSA_P256_SHA256_FIXED,
    };
    verify_with(algorithm, "P-256", public_key, message, signature)
}

/// Verifies an Ed25519 signature (RFC 8032 §5.1, pure Ed25519: no context, no prehash) over `message`.
///
/// `public_key` is either the 32-byte encoded point or a DER SubjectPublicKeyInfo (`id-Ed25519`,
/// RFC 8410); `signature` is the 64-byte `R || S`.
///
/// # Errors
/// [`SignatureCheck::UnsupportedKey`] when the key is not an Ed25519 key in one of these forms,
/// [`SignatureCheck::Invalid`] when the signature does not verify.
pub fn verify_ed25519(
    public_key: &[u8],
    message: &[u8],
    signature: &[u8],
) -> Result<(), SignatureCheck> {
    verify_with(&ED25519, "Ed25519", public_key, message, signature)
}

fn verify_with(
    algorithm: &'static dyn VerificationAlgorithm,
    name: &str,
    public_key: &[u8],
    message: &[u8],
    signature: &[u8],
) -> Result<(), SignatureCheck> {
    let key = ParsedPublicKey::new(algorithm, public_key)
        .map_err(|error| SignatureCheck::UnsupportedKey(format!("{name} public key: {error}")))?;
    key.verify_sig(message, signature)
        .map_err(|_| SignatureCheck::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{algorithms::ec_spki, oids};

    fn bytes(hex: &str) -> Vec<u8> {
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect()
    }

    /// RFC 8032 §7.1, "Test Vectors for Ed25519", TEST 1, TEST 2 and TEST 3: (public key, message,
    /// signature), copied from the RFC.
    const RFC8032: [(&str, &str, &str); 3] = [
        (
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
            "",
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
        ),
        (
            "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
            "72",
            "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
        ),
        (
            "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
            "af82",
            "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
        ),
    ];

    #[test]
    fn ed25519_rfc8032_vectors_verify() {
        for (public_key, message, signature) in RFC8032 {
            let (public_key, message, signature) =
                (bytes(public_key), bytes(message), bytes(signature));
            assert_eq!(verify_ed25519(&public_key, &message, &signature), Ok(()));
            // The same key as a SubjectPublicKeyInfo (RFC 8410: SEQUENCE { SEQUENCE { id-Ed25519 }, BIT STRING }).
            let mut spki = bytes("302a300506032b6570032100");
            spki.extend_from_slice(&public_key);
            assert_eq!(verify_ed25519(&spki, &message, &signature), Ok(()));

            let mut altered = message.clone();
            altered.push(0);
            assert_eq!(
                verify_ed25519(&public_key, &altered, &signature),
                Err(SignatureCheck::Invalid)
            );
            let mut forged = signature.clone();
            forged[0] ^= 1;
            assert_eq!(
                verify_ed25519(&public_key, &message, &forged),
                Err(SignatureCheck::Invalid)
            );
        }
        let (_, message, signature) = RFC8032[1];
        assert!(matches!(
            verify_ed25519(&[0x04; 31], &bytes(message), &bytes(signature)),
            Err(SignatureCheck::UnsupportedKey(_))
        ));
    }

    /// NIST CAVP, FIPS 186-4 ECDSA test vectors (186-4ecdsatestvectors.zip), SigVer.rsp, section
    /// [P-256,SHA-256], a case with `Result = P`: Msg, Qx, Qy, R, S copied from the file.
    const CAVP_MSG: &str = "e1130af6a38ccb412a9c8d13e15dbfc9e69a16385af3c3f1e5da954fd5e7c45fd75e2b8c36699228e92840c0562fbf3772f07e17f1add56588dd45f7450e1217ad239922dd9c32695dc71ff2424ca0dec1321aa47064a044b7fe3c2b97d03ce470a592304c5ef21eed9f93da56bb232d1eeb0035f9bf0dfafdcc4606272b20a3";
    const CAVP_QX: &str = "e424dc61d4bb3cb7ef4344a7f8957a0c5134e16f7a67c074f82e6e12f49abf3c";
    const CAVP_QY: &str = "970eed7aa2bc48651545949de1dddaf0127e5965ac85d1243d6f60e7dfaee927";
    const CAVP_R: &str = "bf96b99aa49c705c910be33142017c642ff540c76349b9dab72f981fd9347f4f";
    const CAVP_S: &str = "17c55095819089c2e03b9cd415abdf12444e323075d98f31920b9e0f57ec871c";

    /// DER `ECDSA-Sig-Value` of two unsigned 32-byte integers (short lengths suffice for P-256).
    fn der_signature(r: &[u8], s: &[u8]) -> Vec<u8> {
        let integer = |value: &[u8]| {
            let mut value = value[value.iter().take_while(|&&b| b == 0).count()..].to_vec();
            if value.first().is_some_and(|b| b & 0x80 != 0) {
                value.insert(0, 0);
            }
            let mut out = vec![0x02, u8::try_from(value.len()).unwrap()];
            out.extend_from_slice(&value);
            out
        };
        let body = [integer(r), integer(s)].concat();
        let mut out = vec![0x30, u8::try_from(body.len()).unwrap()];
        out.extend_from_slice(&body);
        out
    }

    #[test]
    fn p256_cavp_vector_verifies_in_every_key_and_signature_form() {
        let message = bytes(CAVP_MSG);
        let (x, y) = (bytes(CAVP_QX), bytes(CAVP_QY));
        let (r, s) = (bytes(CAVP_R), bytes(CAVP_S));
        let uncompressed = [&[0x04][..], &x, &y].concat();
        // Qy is odd, so the compressed point starts with 03.
        let compressed = [&[0x03][..], &x].concat();
        let spki = der::Encode::to_der(&ec_spki(oids::SECP256R1, &uncompressed).unwrap()).unwrap();
        let fixed = [r.clone(), s.clone()].concat();
        let der = der_signature(&r, &s);
        for key in [&uncompressed, &compressed, &spki] {
            assert_eq!(
                verify_p256_sha256(key, &message, &fixed, EcdsaSignatureEncoding::Fixed),
                Ok(())
            );
            assert_eq!(
                verify_p256_sha256(key, &message, &der, EcdsaSignatureEncoding::Der),
                Ok(())
            );
        }

        let mut altered = message.clone();
        altered[0] ^= 1;
        assert_eq!(
            verify_p256_sha256(
                &uncompressed,
                &altered,
                &fixed,
                EcdsaSignatureEncoding::Fixed
            ),
            Err(SignatureCheck::Invalid)
        );
        // A signature in the other encoding than announced does not verify.
        assert_eq!(
            verify_p256_sha256(&uncompressed, &message, &der, EcdsaSignatureEncoding::Fixed),
            Err(SignatureCheck::Invalid)
        );
        assert_eq!(
            verify_p256_sha256(&uncompressed, &message, &fixed, EcdsaSignatureEncoding::Der),
            Err(SignatureCheck::Invalid)
        );
        // A point off the curve, and a P-384 key, are refused as keys.
        let mut off_curve = uncompressed.clone();
        off_curve[64] ^= 1;
        assert!(matches!(
            verify_p256_sha256(&off_curve, &message, &fixed, EcdsaSignatureEncoding::Fixed),
            Err(SignatureCheck::UnsupportedKey(_))
        ));
        let p384 = crate::SoftwareKey::generate_p384()
            .unwrap()
            .subject_public_key_info()
            .unwrap();
        let p384 = der::Encode::to_der(&p384).unwrap();
        assert!(matches!(
            verify_p256_sha256(&p384, &message, &der, EcdsaSignatureEncoding::Der),
            Err(SignatureCheck::UnsupportedKey(_))
        ));
    }
}
