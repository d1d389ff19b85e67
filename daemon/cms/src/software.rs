//! In-process keys: [`SoftwareKey`] (ECDSA P-256/P-384, RSA PKCS#1 v1.5 or PSS with SHA-256) signs
//! certificates as a [`CertificateSigner`], and is what formats wrap for their own signer traits (RFC 3161's
//! `SoftwareTsaSigner`). Used by the tests and by the daemon's in-process fallback when no KMS is configured.

use core::fmt;

use p256::elliptic_curve::Generate;
use rsa::{
    Pkcs1v15Sign, Pss, RsaPrivateKey,
    pkcs8::{DecodePrivateKey, EncodePrivateKey},
};
use sha2::Digest;
use signature::Signer;
use spki::SubjectPublicKeyInfoOwned;

use crate::{
    CertificateSigner, SignatureAlgorithm, SignerError,
    algorithms::{ec_spki, rsa_spki},
    oids,
};

/// A private key held in process memory.
pub enum SoftwareKey {
    /// ECDSA on P-256 with SHA-256 (deterministic nonces, RFC 6979).
    EcdsaP256(p256::ecdsa::SigningKey),
    /// ECDSA on P-384 with SHA-384.
    EcdsaP384(p384::ecdsa::SigningKey),
    /// RSA, RSASSA-PKCS1-v1_5 with SHA-256.
    RsaPkcs1Sha256(Box<RsaPrivateKey>),
    /// RSA, RSASSA-PSS with SHA-256, MGF1-SHA-256 and a 32-byte salt.
    RsaPssSha256(Box<RsaPrivateKey>),
}

impl fmt::Debug for SoftwareKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print key material.
        write!(f, "SoftwareKey({:?})", self.signature_algorithm())
    }
}

impl SoftwareKey {
    /// A new random P-256 key.
    ///
    /// # Errors
    /// [`SignerError::Failed`] if the operating system's random source fails.
    pub fn generate_p256() -> Result<Self, SignerError> {
        p256::ecdsa::SigningKey::try_generate_from_rng(&mut getrandom::SysRng)
            .map(Self::EcdsaP256)
            .map_err(|error| SignerError::Failed(format!("random source: {error}")))
    }

    /// A new random P-384 key.
    ///
    /// # Errors
    /// [`SignerError::Failed`] if the operating system's random source fails.
    pub fn generate_p384() -> Result<Self, SignerError> {
        p384::ecdsa::SigningKey::try_generate_from_rng(&mut getrandom::SysRng)
            .map(Self::EcdsaP384)
            .map_err(|error| SignerError::Failed(format!("random source: {error}")))
    }

    /// A new random RSA key of `bits` bits (2048 or more) for PKCS#1 v1.5 signatures. Slow: seconds in
    /// optimised builds, much longer in unoptimised ones.
    ///
    /// # Errors
    /// [`SignerError::Unsupported`] below 2048 bits, [`SignerError::Failed`] if generation fails.
    pub fn generate_rsa(bits: usize) -> Result<Self, SignerError> {
        if bits < 2048 {
            return Err(SignerError::Unsupported(format!(
                "RSA keys below 2048 bits ({bits})"
            )));
        }
        // `UnwrapErr` turns a failure of the OS random source into a panic: the rsa crate takes only an
        // infallible CryptoRng, and a machine without randomness cannot make keys at all.
        let mut rng = getrandom::rand_core::UnwrapErr(getrandom::SysRng);
        RsaPrivateKey::new(&mut rng, bits)
            .map(|key| Self::RsaPkcs1Sha256(Box::new(key)))
            .map_err(|error| SignerError::Failed(format!("RSA key generation: {error}")))
    }

    /// Reads a PKCS#8 `PrivateKeyInfo` (EC P-256, EC P-384 or RSA; RSA keys sign PKCS#1 v1.5).
    ///
    /// # Errors
    /// [`SignerError::Unsupported`] when the key is none of these or does not parse.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, SignerError> {
        if let Ok(key) = p256::ecdsa::SigningKey::from_pkcs8_der(der) {
            return Ok(Self::EcdsaP256(key));
        }
        if let Ok(key) = p384::ecdsa::SigningKey::from_pkcs8_der(der) {
            return Ok(Self::EcdsaP384(key));
        }
        RsaPrivateKey::from_pkcs8_der(der)
            .map(|key| Self::RsaPkcs1Sha256(Box::new(key)))
            .map_err(|error| SignerError::Unsupported(format!("PKCS#8 key: {error}")))
    }

    /// Writes the key as PKCS#8 DER. The caller owns the secret bytes from then on.
    ///
    /// # Errors
    /// [`SignerError::Failed`] if encoding fails.
    pub fn to_pkcs8_der(&self) -> Result<Vec<u8>, SignerError> {
        let document = match self {
            Self::EcdsaP256(key) => key.to_pkcs8_der(),
            Self::EcdsaP384(key) => key.to_pkcs8_der(),
            Self::RsaPkcs1Sha256(key) | Self::RsaPssSha256(key) => key.to_pkcs8_der(),
        };
        document
            .map(|doc| doc.as_bytes().to_vec())
            .map_err(|error| SignerError::Failed(format!("PKCS#8 encoding: {error}")))
    }

    /// Switches an RSA key to RSA-PSS signatures (same key material).
    #[must_use]
    pub fn into_pss(self) -> Self {
        match self {
            Self::RsaPkcs1Sha256(key) => Self::RsaPssSha256(key),
            other => other,
        }
    }

    /// The algorithm this key signs with.
    #[must_use]
    pub fn signature_algorithm(&self) -> SignatureAlgorithm {
        match self {
            Self::EcdsaP256(_) => SignatureAlgorithm::EcdsaSha256,
            Self::EcdsaP384(_) => SignatureAlgorithm::EcdsaSha384,
            Self::RsaPkcs1Sha256(_) => SignatureAlgorithm::RsaPkcs1Sha256,
            Self::RsaPssSha256(_) => SignatureAlgorithm::RsaPssSha256,
        }
    }

    /// The public key as SubjectPublicKeyInfo.
    ///
    /// # Errors
    /// [`SignerError::Failed`] if encoding fails.
    pub fn subject_public_key_info(&self) -> Result<SubjectPublicKeyInfoOwned, SignerError> {
        let spki = match self {
            Self::EcdsaP256(key) => ec_spki(
                oids::SECP256R1,
                key.verifying_key().to_sec1_point(false).as_bytes(),
            ),
            Self::EcdsaP384(key) => ec_spki(
                oids::SECP384R1,
                key.verifying_key().to_sec1_point(false).as_bytes(),
            ),
            Self::RsaPkcs1Sha256(key) | Self::RsaPssSha256(key) => rsa_spki(key.as_public_key()),
        };
        spki.map_err(|error| SignerError::Failed(format!("public key encoding: {error}")))
    }

    /// Signs `message` (hashing it first) with [`SoftwareKey::signature_algorithm`].
    ///
    /// # Errors
    /// [`SignerError::Failed`] if the signature cannot be made.
    pub fn sign_message(&self, message: &[u8]) -> Result<Vec<u8>, SignerError> {
        let failed = |error: &dyn fmt::Display| SignerError::Failed(error.to_string());
        match self {
            Self::EcdsaP256(key) => {
                let signature: p256::ecdsa::Signature =
                    key.try_sign(message).map_err(|e| failed(&e))?;
                Ok(signature.to_der().as_bytes().to_vec())
            }
            Self::EcdsaP384(key) => {
                let signature: p384::ecdsa::Signature =
                    key.try_sign(message).map_err(|e| failed(&e))?;
                Ok(signature.to_der().as_bytes().to_vec())
            }
            Self::RsaPkcs1Sha256(key) => {
                let hashed = sha2::Sha256::digest(message);
                // Blinded signing (RSA's side-channel defence) needs randomness; see `generate_rsa`.
                let mut rng = getrandom::rand_core::UnwrapErr(getrandom::SysRng);
                key.sign_with_rng(&mut rng, Pkcs1v15Sign::new::<sha2::Sha256>(), &hashed)
                    .map_err(|e| failed(&e))
            }
            Self::RsaPssSha256(key) => {
                let hashed = sha2::Sha256::digest(message);
                let mut rng = getrandom::rand_core::UnwrapErr(getrandom::SysRng);
                key.sign_with_rng(&mut rng, Pss::<sha2::Sha256>::new(), &hashed)
                    .map_err(|e| failed(&e))
            }
        }
    }
}

impl CertificateSigner for SoftwareKey {
    fn algorithm(&self) -> SignatureAlgorithm {
        self.signature_algorithm()
    }

    fn public_key(&self) -> Result<SubjectPublicKeyInfoOwned, SignerError> {
        self.subject_public_key_info()
    }

    fn sign(&self, tbs_der: &[u8]) -> Result<Vec<u8>, SignerError> {
        self.sign_message(tbs_der)
    }
}
