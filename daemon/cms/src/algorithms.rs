//! Hash and signature algorithms: identification from AlgorithmIdentifiers, hashing, and signature
//! verification for ECDSA (P-256, P-384), RSA PKCS#1 v1.5 and RSA-PSS with SHA-256/384/512, as CMS
//! SignerInfos and X.509 certificates carry them. SHA-1 is recognised for digests (time-stamp imprints,
//! ESSCertID hashes), never for signatures. Signatures outside CMS and X.509 (a bare key and a message) are
//! [`crate::raw`]'s.

use der::{Any, asn1::ObjectIdentifier};
use rsa::{Pkcs1v15Sign, Pss, RsaPublicKey, pkcs1::DecodeRsaPublicKey};
use sha2::Digest;
use signature::hazmat::PrehashVerifier;
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};

use crate::{asn1::RsaPssParams, oids};

/// A hash algorithm this crate can compute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HashAlgorithm {
    /// SHA-1: accepted in imprints and ESSCertID (legacy tokens), refused for requests and signatures.
    Sha1,
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl HashAlgorithm {
    /// The algorithm's OID.
    #[must_use]
    pub fn oid(self) -> ObjectIdentifier {
        match self {
            Self::Sha1 => oids::ID_SHA1,
            Self::Sha256 => oids::ID_SHA256,
            Self::Sha384 => oids::ID_SHA384,
            Self::Sha512 => oids::ID_SHA512,
        }
    }

    /// The algorithm with this OID, if supported.
    #[must_use]
    pub fn from_oid(oid: &ObjectIdentifier) -> Option<Self> {
        [Self::Sha1, Self::Sha256, Self::Sha384, Self::Sha512]
            .into_iter()
            .find(|alg| alg.oid() == *oid)
    }

    /// The SHA-2 algorithm whose output has this many bytes (32, 48, 64); SHA-1 is never inferred.
    #[must_use]
    pub fn from_digest_len(length: usize) -> Option<Self> {
        match length {
            32 => Some(Self::Sha256),
            48 => Some(Self::Sha384),
            64 => Some(Self::Sha512),
            _ => None,
        }
    }

    /// Output length in bytes.
    #[must_use]
    pub fn output_len(self) -> usize {
        match self {
            Self::Sha1 => 20,
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }

    /// Conventional name (`SHA-256`).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha1 => "SHA-1",
            Self::Sha256 => "SHA-256",
            Self::Sha384 => "SHA-384",
            Self::Sha512 => "SHA-512",
        }
    }

    /// Hashes `data`.
    #[must_use]
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha1 => sha1::Sha1::digest(data).to_vec(),
            Self::Sha256 => sha2::Sha256::digest(data).to_vec(),
            Self::Sha384 => sha2::Sha384::digest(data).to_vec(),
            Self::Sha512 => sha2::Sha512::digest(data).to_vec(),
        }
    }

    /// The AlgorithmIdentifier this crate writes: parameters absent (RFC 5754 §2).
    #[must_use]
    pub fn algorithm_identifier(self) -> AlgorithmIdentifierOwned {
        AlgorithmIdentifierOwned {
            oid: self.oid(),
            parameters: None,
        }
    }

    /// Reads an AlgorithmIdentifier, accepting absent or NULL parameters; `None` for another algorithm or
    /// other parameters.
    #[must_use]
    pub fn from_algorithm_identifier(alg: &AlgorithmIdentifierOwned) -> Option<Self> {
        let parameters_ok = alg.parameters.as_ref().is_none_or(Any::is_null);
        Self::from_oid(&alg.oid).filter(|_| parameters_ok)
    }
}

impl core::fmt::Display for HashAlgorithm {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// A signature algorithm, as a signer announces it and as a verified token reports it. The curve of an
/// ECDSA signature is the signer key's; PSS uses MGF1 with the same hash and a salt as long as the hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SignatureAlgorithm {
    /// ECDSA with SHA-256 (P-256 keys; other curves verify too).
    EcdsaSha256,
    /// ECDSA with SHA-384 (P-384 keys).
    EcdsaSha384,
    /// ECDSA with SHA-512.
    EcdsaSha512,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RsaPkcs1Sha256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RsaPkcs1Sha384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RsaPkcs1Sha512,
    /// RSASSA-PSS with SHA-256, MGF1-SHA-256, 32-byte salt.
    RsaPssSha256,
    /// RSASSA-PSS with SHA-384, MGF1-SHA-384, 48-byte salt.
    RsaPssSha384,
    /// RSASSA-PSS with SHA-512, MGF1-SHA-512, 64-byte salt.
    RsaPssSha512,
}

impl SignatureAlgorithm {
    /// The hash the signature is computed with (and the one this crate uses for the message digest).
    #[must_use]
    pub fn hash(self) -> HashAlgorithm {
        match self {
            Self::EcdsaSha256 | Self::RsaPkcs1Sha256 | Self::RsaPssSha256 => HashAlgorithm::Sha256,
            Self::EcdsaSha384 | Self::RsaPkcs1Sha384 | Self::RsaPssSha384 => HashAlgorithm::Sha384,
            Self::EcdsaSha512 | Self::RsaPkcs1Sha512 | Self::RsaPssSha512 => HashAlgorithm::Sha512,
        }
    }

    fn family(self) -> Family {
        match self {
            Self::EcdsaSha256 | Self::EcdsaSha384 | Self::EcdsaSha512 => Family::Ecdsa,
            Self::RsaPkcs1Sha256 | Self::RsaPkcs1Sha384 | Self::RsaPkcs1Sha512 => Family::Pkcs1,
            Self::RsaPssSha256 | Self::RsaPssSha384 | Self::RsaPssSha512 => Family::Pss,
        }
    }

    fn from_parts(family: Family, hash: HashAlgorithm) -> Option<Self> {
        Some(match (family, hash) {
            (_, HashAlgorithm::Sha1) => return None,
            (Family::Ecdsa, HashAlgorithm::Sha256) => Self::EcdsaSha256,
            (Family::Ecdsa, HashAlgorithm::Sha384) => Self::EcdsaSha384,
            (Family::Ecdsa, HashAlgorithm::Sha512) => Self::EcdsaSha512,
            (Family::Pkcs1, HashAlgorithm::Sha256) => Self::RsaPkcs1Sha256,
            (Family::Pkcs1, HashAlgorithm::Sha384) => Self::RsaPkcs1Sha384,
            (Family::Pkcs1, HashAlgorithm::Sha512) => Self::RsaPkcs1Sha512,
            (Family::Pss, HashAlgorithm::Sha256) => Self::RsaPssSha256,
            (Family::Pss, HashAlgorithm::Sha384) => Self::RsaPssSha384,
            (Family::Pss, HashAlgorithm::Sha512) => Self::RsaPssSha512,
        })
    }

    /// The AlgorithmIdentifier written into certificates and SignerInfos: `ecdsa-with-SHAx` without
    /// parameters, `shaxWithRSAEncryption` with NULL, `id-RSASSA-PSS` with explicit parameters.
    ///
    /// # Errors
    /// Only if encoding the PSS parameters fails, which does not happen for these fixed values.
    pub fn algorithm_identifier(self) -> der::Result<AlgorithmIdentifierOwned> {
        let hash = self.hash();
        Ok(match self.family() {
            Family::Ecdsa => AlgorithmIdentifierOwned {
                oid: match hash {
                    HashAlgorithm::Sha384 => oids::ECDSA_WITH_SHA384,
                    HashAlgorithm::Sha512 => oids::ECDSA_WITH_SHA512,
                    _ => oids::ECDSA_WITH_SHA256,
                },
                parameters: None,
            },
            Family::Pkcs1 => AlgorithmIdentifierOwned {
                oid: match hash {
                    HashAlgorithm::Sha384 => oids::SHA384_WITH_RSA,
                    HashAlgorithm::Sha512 => oids::SHA512_WITH_RSA,
                    _ => oids::SHA256_WITH_RSA,
                },
                parameters: Some(Any::null()),
            },
            Family::Pss => {
                let hash_id = AlgorithmIdentifierOwned {
                    oid: hash.oid(),
                    parameters: None,
                };
                let params = RsaPssParams {
                    hash_algorithm: Some(hash_id.clone()),
                    mask_gen_algorithm: Some(AlgorithmIdentifierOwned {
                        oid: oids::ID_MGF1,
                        parameters: Some(Any::encode_from(&hash_id)?),
                    }),
                    salt_length: Some(u32::try_from(hash.output_len()).unwrap_or(32)),
                    trailer_field: None,
                };
                AlgorithmIdentifierOwned {
                    oid: oids::ID_RSASSA_PSS,
                    parameters: Some(Any::encode_from(&params)?),
                }
            }
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    Ecdsa,
    Pkcs1,
    Pss,
}

/// Why a signature could not be accepted. Each format maps these to its own errors: only `Invalid` proves a
/// signature wrong, the others say it could not be checked.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureCheck {
    /// The signature algorithm is unknown, refused (SHA-1) or has parameters this crate does not support.
    #[error("unsupported signature algorithm {0}")]
    UnsupportedAlgorithm(ObjectIdentifier),
    /// The public key is of an unsupported type or curve, or does not parse.
    #[error("unsupported public key: {0}")]
    UnsupportedKey(String),
    /// The signature algorithm is for another key type (an ECDSA signature and an RSA key).
    #[error("the signature algorithm does not match the key type")]
    KeyMismatch,
    /// The signature does not verify under the key.
    #[error("signature does not verify")]
    Invalid,
}

/// A signature algorithm identified from an AlgorithmIdentifier, with the PSS salt length if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdentifiedAlgorithm {
    /// The algorithm.
    pub algorithm: SignatureAlgorithm,
    /// The salt length an RSASSA-PSS AlgorithmIdentifier states; `None` for other algorithms.
    pub pss_salt: Option<usize>,
}

/// Identifies a signature AlgorithmIdentifier. In a SignerInfo some producers write only the key
/// algorithm (`rsaEncryption`, `id-ecPublicKey`); then `digest_hint` (the SignerInfo's digestAlgorithm)
/// supplies the hash.
///
/// # Errors
/// [`SignatureCheck::UnsupportedAlgorithm`] for an unknown or refused algorithm.
pub fn identify(
    alg: &AlgorithmIdentifierOwned,
    digest_hint: Option<HashAlgorithm>,
) -> Result<IdentifiedAlgorithm, SignatureCheck> {
    let unsupported = || SignatureCheck::UnsupportedAlgorithm(alg.oid);
    let (family, hash, pss_salt) = match alg.oid {
        oids::ECDSA_WITH_SHA256 => (Family::Ecdsa, HashAlgorithm::Sha256, None),
        oids::ECDSA_WITH_SHA384 => (Family::Ecdsa, HashAlgorithm::Sha384, None),
        oids::ECDSA_WITH_SHA512 => (Family::Ecdsa, HashAlgorithm::Sha512, None),
        oids::SHA256_WITH_RSA => (Family::Pkcs1, HashAlgorithm::Sha256, None),
        oids::SHA384_WITH_RSA => (Family::Pkcs1, HashAlgorithm::Sha384, None),
        oids::SHA512_WITH_RSA => (Family::Pkcs1, HashAlgorithm::Sha512, None),
        oids::RSA_ENCRYPTION => (Family::Pkcs1, digest_hint.ok_or_else(unsupported)?, None),
        oids::ID_EC_PUBLIC_KEY => (Family::Ecdsa, digest_hint.ok_or_else(unsupported)?, None),
        oids::ID_RSASSA_PSS => {
            let params = alg
                .parameters
                .as_ref()
                .ok_or_else(unsupported)?
                .decode_as::<RsaPssParams>()
                .map_err(|_| unsupported())?;
            let hash = params
                .hash_algorithm
                .as_ref()
                .map_or(
                    Some(HashAlgorithm::Sha1),
                    HashAlgorithm::from_algorithm_identifier,
                )
                .ok_or_else(unsupported)?;
            let mgf_hash = match &params.mask_gen_algorithm {
                None => HashAlgorithm::Sha1,
                Some(mgf) if mgf.oid == oids::ID_MGF1 => mgf
                    .parameters
                    .as_ref()
                    .and_then(|p| p.decode_as::<AlgorithmIdentifierOwned>().ok())
                    .and_then(|id| HashAlgorithm::from_algorithm_identifier(&id))
                    .ok_or_else(unsupported)?,
                Some(_) => return Err(unsupported()),
            };
            if mgf_hash != hash || params.trailer_field.is_some_and(|t| t != 1) {
                return Err(unsupported());
            }
            let salt = params.salt_length.unwrap_or(20);
            (
                Family::Pss,
                hash,
                Some(usize::try_from(salt).map_err(|_| unsupported())?),
            )
        }
        _ => return Err(unsupported()),
    };
    let algorithm = SignatureAlgorithm::from_parts(family, hash).ok_or_else(unsupported)?;
    Ok(IdentifiedAlgorithm {
        algorithm,
        pss_salt,
    })
}

/// Verifies `signature` over `message` (hashed here) with the key in `spki`, for a signature algorithm as
/// a SignerInfo or certificate states it; `digest_hint` is the SignerInfo's digestAlgorithm, `None` for a
/// certificate. ECDSA signatures are DER `ECDSA-Sig-Value`s, RSA signatures the raw octets.
///
/// # Errors
/// [`SignatureCheck`]: `Invalid` only when the signature is wrong.
pub fn verify(
    alg: &AlgorithmIdentifierOwned,
    digest_hint: Option<HashAlgorithm>,
    spki: &SubjectPublicKeyInfoOwned,
    message: &[u8],
    signature: &[u8],
) -> Result<SignatureAlgorithm, SignatureCheck> {
    let identified = identify(alg, digest_hint)?;
    let algorithm = identified.algorithm;
    let hashed = algorithm.hash().digest(message);
    let key_bits = spki.subject_public_key.raw_bytes();
    match algorithm.family() {
        Family::Ecdsa => {
            if spki.algorithm.oid != oids::ID_EC_PUBLIC_KEY {
                return Err(SignatureCheck::KeyMismatch);
            }
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.decode_as::<ObjectIdentifier>().ok())
                .ok_or_else(|| {
                    SignatureCheck::UnsupportedKey("EC key without a named curve".into())
                })?;
            match curve {
                // P-256 goes through aws-lc-rs: about ten times faster than the pure-Rust verifier, and every
                // token the daemon stores or returns is verified, so this is on the stamping hot path.
                oids::SECP256R1 => {
                    use aws_lc_rs::{digest, signature as lc};
                    let (scheme, digest_algorithm) = match algorithm.hash() {
                        HashAlgorithm::Sha384 => (&lc::ECDSA_P256_SHA384_ASN1, &digest::SHA384),
                        HashAlgorithm::Sha512 => (&lc::ECDSA_P256_SHA512_ASN1, &digest::SHA512),
                        HashAlgorithm::Sha256 => (&lc::ECDSA_P256_SHA256_ASN1, &digest::SHA256),
                        HashAlgorithm::Sha1 => {
                            (&lc::ECDSA_P256_SHA1_ASN1, &digest::SHA1_FOR_LEGACY_USE_ONLY)
                        }
                    };
                    let digest = digest::Digest::import_less_safe(&hashed, digest_algorithm)
                        .map_err(|_| SignatureCheck::Invalid)?;
                    lc::UnparsedPublicKey::new(scheme, key_bits)
                        .verify_digest(&digest, signature)
                        .map_err(|_| SignatureCheck::Invalid)?;
                }
                oids::SECP384R1 => {
                    let key =
                        p384::ecdsa::VerifyingKey::from_sec1_bytes(key_bits).map_err(|_| {
                            SignatureCheck::UnsupportedKey("invalid P-384 point".into())
                        })?;
                    let sig = p384::ecdsa::Signature::from_der(signature)
                        .map_err(|_| SignatureCheck::Invalid)?;
                    key.verify_prehash(&hashed, &sig)
                        .map_err(|_| SignatureCheck::Invalid)?;
                }
                other => return Err(SignatureCheck::UnsupportedKey(format!("EC curve {other}"))),
            }
        }
        Family::Pkcs1 | Family::Pss => {
            if spki.algorithm.oid != oids::RSA_ENCRYPTION
                && spki.algorithm.oid != oids::ID_RSASSA_PSS
            {
                return Err(SignatureCheck::KeyMismatch);
            }
            let key = RsaPublicKey::from_pkcs1_der(key_bits)
                .map_err(|error| SignatureCheck::UnsupportedKey(format!("RSA key: {error}")))?;
            let result = match (algorithm.family(), algorithm.hash()) {
                (Family::Pkcs1, HashAlgorithm::Sha256) => {
                    key.verify(Pkcs1v15Sign::new::<sha2::Sha256>(), &hashed, signature)
                }
                (Family::Pkcs1, HashAlgorithm::Sha384) => {
                    key.verify(Pkcs1v15Sign::new::<sha2::Sha384>(), &hashed, signature)
                }
                (Family::Pkcs1, _) => {
                    key.verify(Pkcs1v15Sign::new::<sha2::Sha512>(), &hashed, signature)
                }
                (_, hash) => {
                    let salt = identified.pss_salt.unwrap_or(hash.output_len());
                    match hash {
                        HashAlgorithm::Sha384 => {
                            key.verify(Pss::<sha2::Sha384>::new_with_salt(salt), &hashed, signature)
                        }
                        HashAlgorithm::Sha512 => {
                            key.verify(Pss::<sha2::Sha512>::new_with_salt(salt), &hashed, signature)
                        }
                        _ => {
                            key.verify(Pss::<sha2::Sha256>::new_with_salt(salt), &hashed, signature)
                        }
                    }
                }
            };
            result.map_err(|_| SignatureCheck::Invalid)?;
        }
    }
    Ok(algorithm)
}

/// Encodes an EC public key as SubjectPublicKeyInfo (`id-ecPublicKey` with the named `curve`), for a
/// SEC1 point (uncompressed, as certificates carry it).
///
/// # Errors
/// Only if encoding fails.
pub fn ec_spki(
    curve: ObjectIdentifier,
    sec1_uncompressed: &[u8],
) -> der::Result<SubjectPublicKeyInfoOwned> {
    Ok(SubjectPublicKeyInfoOwned {
        algorithm: AlgorithmIdentifierOwned {
            oid: oids::ID_EC_PUBLIC_KEY,
            parameters: Some(Any::encode_from(&curve)?),
        },
        subject_public_key: der::asn1::BitString::from_bytes(sec1_uncompressed)?,
    })
}

/// Encodes an RSA public key as SubjectPublicKeyInfo (`rsaEncryption`, NULL parameters).
///
/// # Errors
/// Only if encoding fails.
pub fn rsa_spki(key: &RsaPublicKey) -> der::Result<SubjectPublicKeyInfoOwned> {
    use rsa::pkcs1::EncodeRsaPublicKey;
    let pkcs1 = key
        .to_pkcs1_der()
        .map_err(|_| der::Error::from(der::ErrorKind::Failed))?;
    Ok(SubjectPublicKeyInfoOwned {
        algorithm: AlgorithmIdentifierOwned {
            oid: oids::RSA_ENCRYPTION,
            parameters: Some(Any::null()),
        },
        subject_public_key: der::asn1::BitString::from_bytes(pkcs1.as_bytes())?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifies_what_it_writes() {
        for algorithm in [
            SignatureAlgorithm::EcdsaSha256,
            SignatureAlgorithm::EcdsaSha384,
            SignatureAlgorithm::EcdsaSha512,
            SignatureAlgorithm::RsaPkcs1Sha256,
            SignatureAlgorithm::RsaPkcs1Sha384,
            SignatureAlgorithm::RsaPkcs1Sha512,
            SignatureAlgorithm::RsaPssSha256,
            SignatureAlgorithm::RsaPssSha384,
            SignatureAlgorithm::RsaPssSha512,
        ] {
            let identifier = algorithm.algorithm_identifier().unwrap();
            let identified = identify(&identifier, None).unwrap();
            assert_eq!(identified.algorithm, algorithm);
            if identified.pss_salt.is_some() {
                assert_eq!(identified.pss_salt, Some(algorithm.hash().output_len()));
            }
        }
    }

    #[test]
    fn refuses_sha1_and_unknown_signatures() {
        let sha1 = AlgorithmIdentifierOwned {
            oid: oids::SHA1_WITH_RSA,
            parameters: Some(Any::null()),
        };
        assert_eq!(
            identify(&sha1, None),
            Err(SignatureCheck::UnsupportedAlgorithm(oids::SHA1_WITH_RSA))
        );
        let bare_rsa = AlgorithmIdentifierOwned {
            oid: oids::RSA_ENCRYPTION,
            parameters: Some(Any::null()),
        };
        assert!(identify(&bare_rsa, None).is_err());
        assert!(identify(&bare_rsa, Some(HashAlgorithm::Sha1)).is_err());
        assert_eq!(
            identify(&bare_rsa, Some(HashAlgorithm::Sha384))
                .unwrap()
                .algorithm,
            SignatureAlgorithm::RsaPkcs1Sha384
        );
        // PSS with default (SHA-1) parameters.
        let pss_default = AlgorithmIdentifierOwned {
            oid: oids::ID_RSASSA_PSS,
            parameters: Some(
                Any::encode_from(&RsaPssParams {
                    hash_algorithm: None,
                    mask_gen_algorithm: None,
                    salt_length: None,
                    trailer_field: None,
                })
                .unwrap(),
            ),
        };
        assert!(identify(&pss_default, None).is_err());
    }

    #[test]
    fn hash_lookup() {
        assert_eq!(
            HashAlgorithm::from_digest_len(48),
            Some(HashAlgorithm::Sha384)
        );
        assert_eq!(HashAlgorithm::from_digest_len(20), None);
        let with_null = AlgorithmIdentifierOwned {
            oid: oids::ID_SHA256,
            parameters: Some(Any::null()),
        };
        assert_eq!(
            HashAlgorithm::from_algorithm_identifier(&with_null),
            Some(HashAlgorithm::Sha256)
        );
        let with_junk = AlgorithmIdentifierOwned {
            oid: oids::ID_SHA256,
            parameters: Some(Any::encode_from(&1u8).unwrap()),
        };
        assert_eq!(HashAlgorithm::from_algorithm_identifier(&with_junk), None);
        assert_eq!(
            HashAlgorithm::Sha256.digest(b"abc")[..4],
            [0xba, 0x78, 0x16, 0xbf]
        );
    }
}
