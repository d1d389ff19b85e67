//! The key algorithms: generating a key pair, encoding it (PKCS#8 for the sealed private half, SPKI for the
//! public half) and signing with it. Nothing here touches the disk or knows about URIs.

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::signature::{KeyPair as _, RsaEncoding, RsaKeyPair};
use ed25519_dalek::Signer as _;
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey};
use sigil_plugin_api::{KeyAlgorithm, PluginError, SignatureAlgorithm};
use zeroize::Zeroizing;

use crate::sealing::random_bytes;

/// A decrypted private key. Every variant wipes its secret on drop (p256's `SigningKey` implements `Drop` with
/// zeroize, ed25519-dalek's with its `zeroize` feature, and aws-lc's `OPENSSL_free` cleanses every allocation it
/// frees, the RSA key's numbers included), so the key is gone as soon as the value goes out of scope.
pub enum PrivateKey {
    /// ECDSA P-256: the RustCrypto key (generation, encoding, public key) and the same key loaded into aws-lc-rs,
    /// which signs about ten times faster (the local TSA signs one token per request with it).
    P256(
        p256::ecdsa::SigningKey,
        Box<aws_lc_rs::signature::EcdsaKeyPair>,
    ),
    /// RSA (2048, 3072 or 4096 bits), in aws-lc-rs: about four times the signing speed of the pure-Rust `rsa`
    /// crate, which this plugin used before; keys it sealed are standard PKCS#8 and load here unchanged.
    Rsa(Box<RsaKeyPair>),
    /// Ed25519.
    Ed25519(ed25519_dalek::SigningKey),
}

/// The hash of an ECDSA or RSA signature scheme.
#[derive(Debug, Clone, Copy)]
enum SchemeHash {
    Sha256,
    Sha384,
    Sha512,
}

fn encoding_error(what: &str) -> impl Fn(String) -> PluginError + '_ {
    move |error| PluginError::internal(format!("cannot encode the {what}: {error}"))
}

impl PrivateKey {
    /// A P-256 key with its aws-lc-rs twin (loaded from the same PKCS#8 document, which is wiped after).
    fn p256(key: p256::ecdsa::SigningKey) -> Result<PrivateKey, PluginError> {
        use p256::pkcs8::EncodePrivateKey;
        let document = key.to_pkcs8_der().map_err(|error| {
            PluginError::internal(format!("cannot encode the P-256 key: {error}"))
        })?;
        let fast = aws_lc_rs::signature::EcdsaKeyPair::from_private_key_der(
            &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            document.as_bytes(),
        )
        .map_err(|error| {
            PluginError::internal(format!("cannot load the P-256 key into aws-lc: {error}"))
        })?;
        Ok(PrivateKey::P256(key, Box::new(fast)))
    }

    /// Generates a key pair inside the plugin. RSA uses e = 65537.
    ///
    /// EC and Ed25519 secrets are 32 bytes straight from the OS random source; RSA keys come from aws-lc's
    /// generator (seeded from the OS), which also checks the key it made before returning it.
    pub fn generate(algorithm: KeyAlgorithm) -> Result<PrivateKey, PluginError> {
        let rsa_bits = match algorithm {
            KeyAlgorithm::EcdsaP256 => {
                // A uniformly random 32-byte string is a valid scalar except with probability ~2^-32
                // (zero or >= the group order); then we draw again.
                loop {
                    let secret = Zeroizing::new(random_bytes::<32>()?);
                    if let Ok(key) = p256::ecdsa::SigningKey::from_slice(secret.as_slice()) {
                        return PrivateKey::p256(key);
                    }
                }
            }
            KeyAlgorithm::Ed25519 => {
                let seed = Zeroizing::new(random_bytes::<32>()?);
                return Ok(PrivateKey::Ed25519(ed25519_dalek::SigningKey::from_bytes(
                    &seed,
                )));
            }
            KeyAlgorithm::Rsa2048 => aws_lc_rs::rsa::KeySize::Rsa2048,
            KeyAlgorithm::Rsa3072 => aws_lc_rs::rsa::KeySize::Rsa3072,
            KeyAlgorithm::Rsa4096 => aws_lc_rs::rsa::KeySize::Rsa4096,
            KeyAlgorithm::Unknown => {
                return Err(PluginError::unsupported("unknown key algorithm"));
            }
        };
        RsaKeyPair::generate(rsa_bits)
            .map(|key| PrivateKey::Rsa(Box::new(key)))
            .map_err(|error| PluginError::internal(format!("RSA key generation failed: {error}")))
    }

    /// Decodes a PKCS#8 private key of the expected algorithm; a document of another algorithm or size is
    /// refused, so a key file's `algorithm` field and its sealed content cannot disagree.
    pub fn from_pkcs8(algorithm: KeyAlgorithm, der: &[u8]) -> Result<PrivateKey, PluginError> {
        let corrupt = |error: String| {
            PluginError::internal(format!(
                "the sealed private key is not a valid {algorithm:?} PKCS#8 key: {error}"
            ))
        };
        let key = match algorithm {
            KeyAlgorithm::EcdsaP256 => PrivateKey::p256(
                p256::ecdsa::SigningKey::from_pkcs8_der(der)
                    .map_err(|error| corrupt(error.to_string()))?,
            )?,
            KeyAlgorithm::Ed25519 => PrivateKey::Ed25519(
                ed25519_dalek::SigningKey::from_pkcs8_der(der)
                    .map_err(|error| corrupt(error.to_string()))?,
            ),
            // aws-lc checks the key's consistency (RSA_check_key) as it parses it.
            KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096 => {
                PrivateKey::Rsa(Box::new(
                    RsaKeyPair::from_pkcs8(der).map_err(|error| corrupt(error.to_string()))?,
                ))
            }
            KeyAlgorithm::Unknown => {
                return Err(PluginError::unsupported("unknown key algorithm"));
            }
        };
        if key.algorithm() != algorithm {
            return Err(corrupt(format!("it is a {:?} key", key.algorithm())));
        }
        Ok(key)
    }

    /// The key's algorithm, read from the key itself.
    pub fn algorithm(&self) -> KeyAlgorithm {
        match self {
            PrivateKey::P256(..) => KeyAlgorithm::EcdsaP256,
            PrivateKey::Ed25519(_) => KeyAlgorithm::Ed25519,
            PrivateKey::Rsa(key) => match rsa_modulus_bits(key) {
                2048 => KeyAlgorithm::Rsa2048,
                3072 => KeyAlgorithm::Rsa3072,
                4096 => KeyAlgorithm::Rsa4096,
                _ => KeyAlgorithm::Unknown,
            },
        }
    }

    /// The private key as PKCS#8 DER, in a buffer wiped on drop.
    pub fn to_pkcs8(&self) -> Result<Zeroizing<Vec<u8>>, PluginError> {
        let document = match self {
            PrivateKey::P256(key, _) => key.to_pkcs8_der(),
            PrivateKey::Ed25519(key) => key.to_pkcs8_der(),
            PrivateKey::Rsa(key) => {
                // aws-lc's buffer wipes itself on drop, like RustCrypto's `SecretDocument`.
                let document: Pkcs8V1Der<'static> = key
                    .as_der()
                    .map_err(|error| encoding_error("private key")(error.to_string()))?;
                return Ok(Zeroizing::new(document.as_ref().to_vec()));
            }
        }
        .map_err(|error| encoding_error("private key")(error.to_string()))?;
        // `SecretDocument` wipes itself too; the copy lives in a wiped buffer as well.
        Ok(Zeroizing::new(document.as_bytes().to_vec()))
    }

    /// The public key as a DER SubjectPublicKeyInfo.
    pub fn public_key_spki(&self) -> Result<Vec<u8>, PluginError> {
        let document = match self {
            PrivateKey::P256(key, _) => key.verifying_key().to_public_key_der(),
            PrivateKey::Ed25519(key) => key.verifying_key().to_public_key_der(),
            PrivateKey::Rsa(key) => {
                // `rsaEncryption` with NULL parameters, byte for byte what the `rsa` crate wrote into the key
                // files of earlier versions (the store compares the two when it unseals a key).
                let document: PublicKeyX509Der<'static> = key
                    .public_key()
                    .as_der()
                    .map_err(|error| encoding_error("public key")(error.to_string()))?;
                return Ok(document.as_ref().to_vec());
            }
        }
        .map_err(|error| encoding_error("public key")(error.to_string()))?;
        Ok(document.into_vec())
    }

    /// Signs `data`: the message, or its digest under the scheme's hash when `prehashed`.
    ///
    /// ECDSA P-256 (aws-lc-rs, random nonces) returns DER; RSA PKCS#1 v1.5 and PSS (aws-lc-rs, blinded) sign
    /// the digest, PSS with MGF1 over the same hash and a salt as long as the hash; Ed25519 is pure Ed25519
    /// over the message.
    pub fn sign(
        &self,
        scheme: SignatureAlgorithm,
        data: &[u8],
        prehashed: bool,
    ) -> Result<Vec<u8>, PluginError> {
        let mismatch = || {
            PluginError::unsupported(format!(
                "a {:?} key cannot sign with {scheme:?}",
                self.algorithm()
            ))
        };
        match (self, scheme) {
            (PrivateKey::P256(_, fast), SignatureAlgorithm::EcdsaP256Sha256) => {
                let digest = digest_of(SchemeHash::Sha256, data, prehashed)?;
                let signature = fast
                    .sign_digest(&digest)
                    .map_err(|_| PluginError::internal("signing failed"))?;
                Ok(signature.as_ref().to_vec())
            }
            (PrivateKey::Ed25519(key), SignatureAlgorithm::Ed25519) => {
                if prehashed {
                    return Err(PluginError::unsupported(
                        "ed25519 signs the message itself; prehashed data (Ed25519ph) is not supported",
                    ));
                }
                Ok(key.sign(data).to_vec())
            }
            (PrivateKey::Rsa(key), scheme) => {
                use aws_lc_rs::signature as lc;
                // PSS: the salt is as long as the digest (aws-lc's default), MGF1 over the same hash.
                let (hash, padding): (SchemeHash, &'static dyn RsaEncoding) = match scheme {
                    SignatureAlgorithm::RsaPkcs1v15Sha256 => {
                        (SchemeHash::Sha256, &lc::RSA_PKCS1_SHA256)
                    }
                    SignatureAlgorithm::RsaPkcs1v15Sha384 => {
                        (SchemeHash::Sha384, &lc::RSA_PKCS1_SHA384)
                    }
                    SignatureAlgorithm::RsaPkcs1v15Sha512 => {
                        (SchemeHash::Sha512, &lc::RSA_PKCS1_SHA512)
                    }
                    SignatureAlgorithm::RsaPssSha256 => (SchemeHash::Sha256, &lc::RSA_PSS_SHA256),
                    SignatureAlgorithm::RsaPssSha384 => (SchemeHash::Sha384, &lc::RSA_PSS_SHA384),
                    SignatureAlgorithm::RsaPssSha512 => (SchemeHash::Sha512, &lc::RSA_PSS_SHA512),
                    _ => return Err(mismatch()),
                };
                let digest = digest_of(hash, data, prehashed)?;
                let mut signature = vec![0; key.public_modulus_len()];
                key.sign_digest(padding, &digest, &mut signature)
                    .map_err(|_| PluginError::internal("signing failed"))?;
                Ok(signature)
            }
            _ => Err(mismatch()),
        }
    }
}

/// The digest to sign, as aws-lc-rs takes it: computed here, or checked for length when the caller sent it.
fn digest_of(
    hash: SchemeHash,
    data: &[u8],
    prehashed: bool,
) -> Result<aws_lc_rs::digest::Digest, PluginError> {
    let algorithm = match hash {
        SchemeHash::Sha256 => &aws_lc_rs::digest::SHA256,
        SchemeHash::Sha384 => &aws_lc_rs::digest::SHA384,
        SchemeHash::Sha512 => &aws_lc_rs::digest::SHA512,
    };
    if !prehashed {
        return Ok(aws_lc_rs::digest::digest(algorithm, data));
    }
    let length = algorithm.output_len();
    if data.len() != length {
        return Err(PluginError::invalid_input(format!(
            "prehashed data must be the {length}-byte {hash:?} digest, got {} bytes",
            data.len()
        )));
    }
    aws_lc_rs::digest::Digest::import_less_safe(data, algorithm)
        .map_err(|_| PluginError::internal("signing failed: bad digest"))
}

/// The exact bit length of an RSA key's modulus (2048 for a 2048-bit key; a 2047-bit modulus is not one), read
/// from its DER `RSAPublicKey`; 0 if that does not parse, which no key aws-lc loaded can do.
fn rsa_modulus_bits(key: &RsaKeyPair) -> u32 {
    aws_lc_rs::signature::RsaParameters::public_modulus_len(key.public_key().as_ref()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::pkcs8::DecodePublicKey;
    use sha2::{Digest, Sha256};
    use signature::Verifier;
    use signature::hazmat::PrehashVerifier;

    #[test]
    fn p256_round_trip() {
        let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let spki = key.public_key_spki().unwrap();
        let again =
            PrivateKey::from_pkcs8(KeyAlgorithm::EcdsaP256, &key.to_pkcs8().unwrap()).unwrap();
        assert_eq!(again.public_key_spki().unwrap(), spki);
        let verifying = p256::ecdsa::VerifyingKey::from_public_key_der(&spki).unwrap();

        let message = b"sigil";
        let der = key
            .sign(SignatureAlgorithm::EcdsaP256Sha256, message, false)
            .unwrap();
        let signature = p256::ecdsa::Signature::from_der(&der).unwrap();
        verifying.verify(message, &signature).unwrap();

        let digest = Sha256::digest(message);
        let der = key
            .sign(SignatureAlgorithm::EcdsaP256Sha256, &digest, true)
            .unwrap();
        let signature = p256::ecdsa::Signature::from_der(&der).unwrap();
        verifying.verify_prehash(&digest, &signature).unwrap();
        verifying.verify(message, &signature).unwrap();

        let error = key
            .sign(SignatureAlgorithm::EcdsaP256Sha256, &digest[..31], true)
            .unwrap_err();
        assert_eq!(error.status, sigil_plugin_api::Status::InvalidInput);
        let error = key
            .sign(SignatureAlgorithm::RsaPkcs1v15Sha256, message, false)
            .unwrap_err();
        assert_eq!(error.status, sigil_plugin_api::Status::Unsupported);
        // A PKCS#8 document of another algorithm is refused.
        assert!(PrivateKey::from_pkcs8(KeyAlgorithm::Ed25519, &key.to_pkcs8().unwrap()).is_err());
    }

    #[test]
    fn ed25519_round_trip() {
        let key = PrivateKey::generate(KeyAlgorithm::Ed25519).unwrap();
        let spki = key.public_key_spki().unwrap();
        let again =
            PrivateKey::from_pkcs8(KeyAlgorithm::Ed25519, &key.to_pkcs8().unwrap()).unwrap();
        assert_eq!(again.public_key_spki().unwrap(), spki);
        let verifying = ed25519_dalek::VerifyingKey::from_public_key_der(&spki).unwrap();
        let bytes = key
            .sign(SignatureAlgorithm::Ed25519, b"sigil", false)
            .unwrap();
        let signature = ed25519_dalek::Signature::from_slice(&bytes).unwrap();
        verifying.verify_strict(b"sigil", &signature).unwrap();
        let error = key
            .sign(SignatureAlgorithm::Ed25519, &[0; 64], true)
            .unwrap_err();
        assert_eq!(error.status, sigil_plugin_api::Status::Unsupported);
    }

    /// The PKCS#8 document of an aws-lc RSA key reads back as the same key, here and in the `rsa` crate (the
    /// signer of earlier versions, so a downgrade can still open keys this version sealed); a document of the
    /// wrong size for the recorded algorithm is refused; and a message and its digest sign alike.
    #[test]
    fn rsa_round_trip() {
        use rsa::pkcs8::{DecodePrivateKey as _, DecodePublicKey as _};
        let key = PrivateKey::generate(KeyAlgorithm::Rsa2048).unwrap();
        assert_eq!(key.algorithm(), KeyAlgorithm::Rsa2048);
        let spki = key.public_key_spki().unwrap();
        let pkcs8 = key.to_pkcs8().unwrap();
        let again = PrivateKey::from_pkcs8(KeyAlgorithm::Rsa2048, &pkcs8).unwrap();
        assert_eq!(again.public_key_spki().unwrap(), spki);
        let old = rsa::RsaPrivateKey::from_pkcs8_der(&pkcs8).unwrap();
        assert_eq!(
            rsa::RsaPublicKey::from(&old),
            rsa::RsaPublicKey::from_public_key_der(&spki).unwrap()
        );
        let Err(error) = PrivateKey::from_pkcs8(KeyAlgorithm::Rsa4096, &pkcs8) else {
            panic!("a 2048-bit key loaded as RSA-4096");
        };
        assert_eq!(error.status, sigil_plugin_api::Status::Internal);
        assert!(PrivateKey::from_pkcs8(KeyAlgorithm::EcdsaP256, &pkcs8).is_err());

        // PKCS#1 v1.5 is deterministic: the message form and the digest form give the same bytes.
        let message = b"sigil";
        let signed = key
            .sign(SignatureAlgorithm::RsaPkcs1v15Sha384, message, false)
            .unwrap();
        let digest = sha2::Sha384::digest(message);
        let prehashed = key
            .sign(SignatureAlgorithm::RsaPkcs1v15Sha384, &digest, true)
            .unwrap();
        assert_eq!(signed, prehashed);
        assert_eq!(signed.len(), 256);
        // A digest of another hash's length, and another key type's scheme.
        let error = key
            .sign(SignatureAlgorithm::RsaPssSha512, &digest, true)
            .unwrap_err();
        assert_eq!(error.status, sigil_plugin_api::Status::InvalidInput);
        let error = key
            .sign(SignatureAlgorithm::Ed25519, message, false)
            .unwrap_err();
        assert_eq!(error.status, sigil_plugin_api::Status::Unsupported);
    }
}
