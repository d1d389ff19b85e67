//! The key algorithms: generating a key pair, encoding it (PKCS#8 for the sealed private half, SPKI for the
//! public half) and signing with it. Nothing here touches the disk or knows about URIs.

use ed25519_dalek::Signer as _;
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey};
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};
use sha2::{Digest, Sha256, Sha384, Sha512};
use sigil_plugin_api::{KeyAlgorithm, PluginError, SignatureAlgorithm};
use signature::SignatureEncoding;
use signature::hazmat::{PrehashSigner, RandomizedPrehashSigner};
use zeroize::Zeroizing;

use crate::sealing::random_bytes;

/// A decrypted private key. Every variant wipes its secret on drop (p256's `SigningKey` and rsa's
/// `RsaPrivateKey` implement `Drop` with zeroize, ed25519-dalek's with its `zeroize` feature), so the key is
/// gone as soon as the value goes out of scope after one operation.
pub enum PrivateKey {
    /// ECDSA P-256: the RustCrypto key (generation, encoding, public key) and the same key loaded into aws-lc-rs,
    /// which signs about ten times faster (the local TSA signs one token per request with it).
    P256(
        p256::ecdsa::SigningKey,
        Box<aws_lc_rs::signature::EcdsaKeyPair>,
    ),
    /// RSA of the given modulus size.
    Rsa(RsaPrivateKey),
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
    /// EC and Ed25519 secrets are 32 bytes straight from the OS random source. RSA needs an infallible
    /// `CryptoRng`; `UnwrapErr` over the OS source panics if the source fails, which is the right answer (the
    /// panic is caught at the plugin boundary and costs the instance; a key from a broken RNG costs more).
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
            KeyAlgorithm::Rsa2048 => 2048,
            KeyAlgorithm::Rsa3072 => 3072,
            KeyAlgorithm::Rsa4096 => 4096,
            KeyAlgorithm::Unknown => {
                return Err(PluginError::unsupported("unknown key algorithm"));
            }
        };
        let mut rng = getrandom::rand_core::UnwrapErr(getrandom::SysRng);
        RsaPrivateKey::new(&mut rng, rsa_bits)
            .map(PrivateKey::Rsa)
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
            KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096 => {
                PrivateKey::Rsa(
                    RsaPrivateKey::from_pkcs8_der(der)
                        .map_err(|error| corrupt(error.to_string()))?,
                )
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
            PrivateKey::Rsa(key) => match key.n().bits() {
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
            PrivateKey::Rsa(key) => key.to_pkcs8_der(),
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
            PrivateKey::Rsa(key) => RsaPublicKey::from(key).to_public_key_der(),
        }
        .map_err(|error| encoding_error("public key")(error.to_string()))?;
        Ok(document.into_vec())
    }

    /// Signs `data`: the message, or its digest under the scheme's hash when `prehashed`.
    ///
    /// ECDSA P-256 (aws-lc-rs, random nonces) returns DER; RSA PKCS#1 v1.5 and PSS use blinding, PSS with
    /// MGF1 over the same hash and a salt as long as the hash; Ed25519 is pure Ed25519 over the message.
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
        let internal =
            |error: signature::Error| PluginError::internal(format!("signing failed: {error}"));
        match (self, scheme) {
            (PrivateKey::P256(_, fast), SignatureAlgorithm::EcdsaP256Sha256) => {
                let digest = digest_of(SchemeHash::Sha256, data, prehashed)?;
                let digest = aws_lc_rs::digest::Digest::import_less_safe(
                    &digest,
                    &aws_lc_rs::digest::SHA256,
                )
                .map_err(|_| PluginError::internal("signing failed: bad digest"))?;
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
                let (hash, pss) = match scheme {
                    SignatureAlgorithm::RsaPkcs1v15Sha256 => (SchemeHash::Sha256, false),
                    SignatureAlgorithm::RsaPkcs1v15Sha384 => (SchemeHash::Sha384, false),
                    SignatureAlgorithm::RsaPkcs1v15Sha512 => (SchemeHash::Sha512, false),
                    SignatureAlgorithm::RsaPssSha256 => (SchemeHash::Sha256, true),
                    SignatureAlgorithm::RsaPssSha384 => (SchemeHash::Sha384, true),
                    SignatureAlgorithm::RsaPssSha512 => (SchemeHash::Sha512, true),
                    _ => return Err(mismatch()),
                };
                let digest = digest_of(hash, data, prehashed)?;
                rsa_sign(key, hash, pss, &digest).map_err(internal)
            }
            _ => Err(mismatch()),
        }
    }
}

/// The digest to sign: computed here, or checked for length when the caller sent it.
fn digest_of(hash: SchemeHash, data: &[u8], prehashed: bool) -> Result<Vec<u8>, PluginError> {
    let length = match hash {
        SchemeHash::Sha256 => 32,
        SchemeHash::Sha384 => 48,
        SchemeHash::Sha512 => 64,
    };
    if prehashed {
        if data.len() != length {
            return Err(PluginError::invalid_input(format!(
                "prehashed data must be the {length}-byte {hash:?} digest, got {} bytes",
                data.len()
            )));
        }
        return Ok(data.to_vec());
    }
    Ok(match hash {
        SchemeHash::Sha256 => Sha256::digest(data).to_vec(),
        SchemeHash::Sha384 => Sha384::digest(data).to_vec(),
        SchemeHash::Sha512 => Sha512::digest(data).to_vec(),
    })
}

/// RSA over a digest. The signing keys take the private key by value, so each call clones it; the clone is
/// wiped with the signing key when it drops at the end of the call.
fn rsa_sign(
    key: &RsaPrivateKey,
    hash: SchemeHash,
    pss: bool,
    digest: &[u8],
) -> Result<Vec<u8>, signature::Error> {
    use rsa::{pkcs1v15, pss as rsa_pss};
    let mut rng = getrandom::SysRng;
    let key = key.clone();
    Ok(match (hash, pss) {
        (SchemeHash::Sha256, false) => pkcs1v15::SigningKey::<Sha256>::new(key)
            .sign_prehash(digest)?
            .to_vec(),
        (SchemeHash::Sha384, false) => pkcs1v15::SigningKey::<Sha384>::new(key)
            .sign_prehash(digest)?
            .to_vec(),
        (SchemeHash::Sha512, false) => pkcs1v15::SigningKey::<Sha512>::new(key)
            .sign_prehash(digest)?
            .to_vec(),
        (SchemeHash::Sha256, true) => rsa_pss::SigningKey::<Sha256>::new(key)
            .sign_prehash_with_rng(&mut rng, digest)?
            .to_vec(),
        (SchemeHash::Sha384, true) => rsa_pss::SigningKey::<Sha384>::new(key)
            .sign_prehash_with_rng(&mut rng, digest)?
            .to_vec(),
        (SchemeHash::Sha512, true) => rsa_pss::SigningKey::<Sha512>::new(key)
            .sign_prehash_with_rng(&mut rng, digest)?
            .to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::pkcs8::DecodePublicKey;
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
}
