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
            let salt = identified.pss_salt.unwrap_or(algorithm.hash().output_len());
            verify_rsa(algorithm, salt, key_bits, &hashed, signature)?;
        }
    }
    Ok(algorithm)
}

/// Below this modulus size RSA goes through the `rsa` crate: aws-lc-rs's verification parameters start at 2048
/// bits for SHA-384 and PSS, while this crate has always accepted keys from 1024 bits (the `rsa` crate's floor).
const AWS_LC_MIN_RSA_BITS: u32 = 2048;

/// The `rsa` crate's bounds, which decide what RSA keys this crate accepts (kept when verification moved to
/// aws-lc-rs): modulus 1024 to 8192 bits, public exponent 2 to 2^33 - 1.
const RSA_MIN_BITS: u32 = 1024;
const RSA_MAX_BITS: u32 = 8192;
const RSA_MAX_EXPONENT: u64 = (1 << 33) - 1;

/// The modulus size of a PKCS#1 `RSAPublicKey` that goes to aws-lc-rs: one the `rsa` crate would accept (the
/// same DER parser and the same bounds: odd modulus within the size range, odd exponent within its range and
/// below the modulus) of at least [`AWS_LC_MIN_RSA_BITS`]. `None` for anything else, which takes the `rsa`
/// crate's path and so gets exactly its verdict and error message; this check may be stricter than the crate,
/// never looser, and costs no big-number arithmetic.
fn rsa_key_for_aws_lc(pkcs1: &[u8]) -> Option<u32> {
    use rsa::pkcs1::der::Decode as _;
    let key = rsa::pkcs1::RsaPublicKeyRef::from_der(pkcs1).ok()?;
    let n = key.modulus.as_bytes();
    let e = key.public_exponent.as_bytes();
    let (&n_first, &n_last) = (n.first()?, n.last()?);
    let n_bits = u32::try_from(n.len()).ok()?.checked_mul(8)? - n_first.leading_zeros();
    if !(RSA_MIN_BITS..=RSA_MAX_BITS).contains(&n_bits) || n_bits < AWS_LC_MIN_RSA_BITS {
        return None;
    }
    if e.len() > 8 || n_last & 1 == 0 {
        return None;
    }
    let e = e
        .iter()
        .fold(0u64, |value, byte| (value << 8) | u64::from(*byte));
    // e < n holds: e has at most 33 bits, n at least 2048.
    ((2..=RSA_MAX_EXPONENT).contains(&e) && e & 1 == 1).then_some(n_bits)
}

/// Verifies an RSA signature over `hashed` with the PKCS#1 `RSAPublicKey` `pkcs1`: through aws-lc-rs (faster
/// than the pure-Rust `rsa` crate; every token the local TSA issues is verified before it leaves) when
/// [`rsa_key_for_aws_lc`] lets the key through, else through the `rsa` crate as before.
fn verify_rsa(
    algorithm: SignatureAlgorithm,
    salt: usize,
    pkcs1: &[u8],
    hashed: &[u8],
    signature: &[u8],
) -> Result<(), SignatureCheck> {
    match rsa_key_for_aws_lc(pkcs1) {
        Some(_) => verify_rsa_aws_lc(algorithm, salt, pkcs1, hashed, signature),
        None => verify_rsa_crate(algorithm, salt, pkcs1, hashed, signature),
    }
}

/// RSA PKCS#1 v1.5 or PSS (MGF1 with the same hash, `salt` bytes of salt) through aws-lc-rs, for a key that
/// [`rsa_key_for_aws_lc`] let through. The signature must be exactly as long as the modulus, as before.
fn verify_rsa_aws_lc(
    algorithm: SignatureAlgorithm,
    salt: usize,
    pkcs1: &[u8],
    hashed: &[u8],
    signature: &[u8],
) -> Result<(), SignatureCheck> {
    use aws_lc_rs::digest;
    use aws_lc_rs::signature::{
        self as lc, RsaParameters, RsaPssSaltLength, VerificationAlgorithm,
    };
    let hash = algorithm.hash();
    let (digest_algorithm, pkcs1_params, pss_params): (
        _,
        &'static RsaParameters,
        &'static RsaParameters,
    ) = match hash {
        HashAlgorithm::Sha384 => (
            &digest::SHA384,
            &lc::RSA_PKCS1_2048_8192_SHA384,
            &lc::RSA_PSS_2048_8192_SHA384,
        ),
        HashAlgorithm::Sha512 => (
            &digest::SHA512,
            &lc::RSA_PKCS1_2048_8192_SHA512,
            &lc::RSA_PSS_2048_8192_SHA512,
        ),
        // SHA-1 never gets here (`identify` refuses it for signatures).
        HashAlgorithm::Sha256 | HashAlgorithm::Sha1 => (
            &digest::SHA256,
            &lc::RSA_PKCS1_2048_8192_SHA256,
            &lc::RSA_PSS_2048_8192_SHA256,
        ),
    };
    let digest = digest::Digest::import_less_safe(hashed, digest_algorithm)
        .map_err(|_| SignatureCheck::Invalid)?;
    let verified = match algorithm.family() {
        Family::Pss if salt != hash.output_len() => {
            // A salt length other than the hash's, as an AlgorithmIdentifier may state: the parameters are
            // built for this call, so they are used directly rather than through the 'static-only
            // UnparsedPublicKey. A salt that does not fit in 16 bits fits no key up to 8192 bits either.
            let salt = u16::try_from(salt).map_err(|_| SignatureCheck::Invalid)?;
            let params = match hash {
                HashAlgorithm::Sha384 => lc::RSA_PSS_2048_8192_SHA384,
                HashAlgorithm::Sha512 => lc::RSA_PSS_2048_8192_SHA512,
                _ => lc::RSA_PSS_2048_8192_SHA256,
            }
            .with_pss_salt_length(RsaPssSaltLength::Custom(salt));
            params.verify_digest_sig(pkcs1, &digest, signature)
        }
        Family::Pss => {
            lc::UnparsedPublicKey::new(pss_params, pkcs1).verify_digest(&digest, signature)
        }
        _ => lc::UnparsedPublicKey::new(pkcs1_params, pkcs1).verify_digest(&digest, signature),
    };
    verified.map_err(|_| SignatureCheck::Invalid)
}

/// RSA through the `rsa` crate: keys below [`AWS_LC_MIN_RSA_BITS`], and keys it refuses (with its message).
fn verify_rsa_crate(
    algorithm: SignatureAlgorithm,
    salt: usize,
    pkcs1: &[u8],
    hashed: &[u8],
    signature: &[u8],
) -> Result<(), SignatureCheck> {
    let key = RsaPublicKey::from_pkcs1_der(pkcs1)
        .map_err(|error| SignatureCheck::UnsupportedKey(format!("RSA key: {error}")))?;
    let result = match (algorithm.family(), algorithm.hash()) {
        (Family::Pkcs1, HashAlgorithm::Sha256) => {
            key.verify(Pkcs1v15Sign::new::<sha2::Sha256>(), hashed, signature)
        }
        (Family::Pkcs1, HashAlgorithm::Sha384) => {
            key.verify(Pkcs1v15Sign::new::<sha2::Sha384>(), hashed, signature)
        }
        (Family::Pkcs1, _) => key.verify(Pkcs1v15Sign::new::<sha2::Sha512>(), hashed, signature),
        (_, HashAlgorithm::Sha384) => {
            key.verify(Pss::<sha2::Sha384>::new_with_salt(salt), hashed, signature)
        }
        (_, HashAlgorithm::Sha512) => {
            key.verify(Pss::<sha2::Sha512>::new_with_salt(salt), hashed, signature)
        }
        _ => key.verify(Pss::<sha2::Sha256>::new_with_salt(salt), hashed, signature),
    };
    result.map_err(|_| SignatureCheck::Invalid)
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

    /// The aws-lc-rs path gives the `rsa` crate's verdict (the path every RSA signature took before) on the
    /// same inputs: right and tampered signatures, other salts, short and overlong signatures, for keys on
    /// both sides of the 2048-bit switch and with the smallest and largest public exponents accepted.
    #[test]
    fn rsa_verdicts_match_the_rsa_crate() {
        use rsa::pkcs1::EncodeRsaPublicKey as _;
        use rsa::traits::PublicKeyParts as _;
        let mut rng = getrandom::rand_core::UnwrapErr(getrandom::SysRng);
        let keys = [
            rsa::RsaPrivateKey::new(&mut rng, 2048).unwrap(),
            rsa::RsaPrivateKey::new_with_exp(&mut rng, 2048, 3u64.into()).unwrap(),
            rsa::RsaPrivateKey::new_with_exp(&mut rng, 2048, RSA_MAX_EXPONENT.into()).unwrap(),
            rsa::RsaPrivateKey::new(&mut rng, 1024).unwrap(),
        ];
        let message = b"sigil";
        for key in &keys {
            let public = rsa::RsaPublicKey::from(key);
            let pkcs1 = public.to_pkcs1_der().unwrap();
            let pkcs1 = pkcs1.as_bytes();
            let bits = public.n().bits();
            assert_eq!(rsa_key_for_aws_lc(pkcs1).is_some(), bits >= 2048, "{bits}");
            for algorithm in [
                SignatureAlgorithm::RsaPkcs1Sha256,
                SignatureAlgorithm::RsaPkcs1Sha384,
                SignatureAlgorithm::RsaPkcs1Sha512,
                SignatureAlgorithm::RsaPssSha256,
                SignatureAlgorithm::RsaPssSha384,
                SignatureAlgorithm::RsaPssSha512,
            ] {
                let hash = algorithm.hash();
                let hashed = hash.digest(message);
                let pss = algorithm.family() == Family::Pss;
                // PSS signed with the hash's salt length and with 20 bytes (RFC 4055's default).
                let salts: &[usize] = if pss { &[hash.output_len(), 20] } else { &[0] };
                for &signed_salt in salts {
                    let signed = match (pss, hash) {
                        (false, HashAlgorithm::Sha256) => {
                            key.sign(Pkcs1v15Sign::new::<sha2::Sha256>(), &hashed)
                        }
                        (false, HashAlgorithm::Sha384) => {
                            key.sign(Pkcs1v15Sign::new::<sha2::Sha384>(), &hashed)
                        }
                        (false, _) => key.sign(Pkcs1v15Sign::new::<sha2::Sha512>(), &hashed),
                        (true, HashAlgorithm::Sha256) => key.sign_with_rng(
                            &mut rng,
                            Pss::<sha2::Sha256>::new_with_salt(signed_salt),
                            &hashed,
                        ),
                        (true, HashAlgorithm::Sha384) => key.sign_with_rng(
                            &mut rng,
                            Pss::<sha2::Sha384>::new_with_salt(signed_salt),
                            &hashed,
                        ),
                        (true, _) => key.sign_with_rng(
                            &mut rng,
                            Pss::<sha2::Sha512>::new_with_salt(signed_salt),
                            &hashed,
                        ),
                    };
                    // PSS-SHA-512 with a 64-byte salt does not fit a 1024-bit modulus.
                    let Ok(signature) = signed else {
                        assert!(bits < 2048 && pss, "{bits} bits, {algorithm:?}");
                        continue;
                    };
                    let mut tampered = signature.clone();
                    tampered[10] ^= 1;
                    let mut leading_zero = vec![0];
                    leading_zero.extend_from_slice(&signature);
                    let signatures = [
                        signature.clone(),
                        tampered,
                        signature[1..].to_vec(),
                        leading_zero,
                        vec![0xff; signature.len()],
                        Vec::new(),
                    ];
                    let stated_salts = [signed_salt, hash.output_len(), 0, 20, 70_000];
                    for (index, candidate) in signatures.iter().enumerate() {
                        for stated in stated_salts {
                            let now = verify_rsa(algorithm, stated, pkcs1, &hashed, candidate);
                            let before =
                                verify_rsa_crate(algorithm, stated, pkcs1, &hashed, candidate);
                            assert_eq!(
                                now, before,
                                "{bits} bits, {algorithm:?}, signed salt {signed_salt}, signature {index}, \
                                 stated salt {stated}"
                            );
                        }
                    }
                    // The right signature with its salt verifies; PKCS#1 v1.5 ignores the salt.
                    let stated = if pss { signed_salt } else { 0 };
                    assert_eq!(
                        verify_rsa(algorithm, stated, pkcs1, &hashed, &signature),
                        Ok(())
                    );
                }
            }
        }
    }

    /// Keys the `rsa` crate refuses are refused with its message; keys it accepts but aws-lc-rs must not see
    /// (below 2048 bits) take its path.
    #[test]
    fn rsa_key_policy_is_the_rsa_crate_s() {
        use der::Encode as _;
        let encode = |n: &[u8], e: &[u8]| {
            rsa::pkcs1::RsaPublicKeyRef {
                modulus: rsa::pkcs1::UintRef::new(n).unwrap(),
                public_exponent: rsa::pkcs1::UintRef::new(e).unwrap(),
            }
            .to_der()
            .unwrap()
        };
        let odd = |bits: usize| {
            let mut n = vec![0xc5; bits / 8];
            *n.last_mut().unwrap() |= 1;
            n
        };
        let mut even = odd(2048);
        *even.last_mut().unwrap() &= 0xfe;
        let cases = [
            encode(&odd(2048), &[1, 0, 1]),
            encode(&odd(8192), &[1, 0, 1]),
            encode(&odd(8200), &[1, 0, 1]),
            encode(&odd(1016), &[1, 0, 1]),
            encode(&odd(1024), &[1, 0, 1]),
            encode(&even, &[1, 0, 1]),
            encode(&odd(2048), &[1]),
            encode(&odd(2048), &[2]),
            encode(&odd(2048), &[1, 0, 0]),
            encode(&odd(2048), &[1, 0xff, 0xff, 0xff, 0xff]),
            encode(&odd(2048), &[2, 0, 0, 0, 1]),
            encode(&odd(2048), &[1, 0, 0, 0, 0, 0, 0, 0, 1]),
            {
                let mut trailing = encode(&odd(2048), &[1, 0, 1]);
                trailing.push(0);
                trailing
            },
            vec![0x30, 0x00],
        ];
        let hashed = HashAlgorithm::Sha256.digest(b"sigil");
        for (index, pkcs1) in cases.iter().enumerate() {
            let accepted = <rsa::RsaPublicKey as DecodeRsaPublicKey>::from_pkcs1_der(pkcs1).is_ok();
            if rsa_key_for_aws_lc(pkcs1).is_some() {
                assert!(
                    accepted,
                    "case {index}: aws-lc-rs would see a key the rsa crate refuses"
                );
            }
            let signature = vec![1; 256];
            let now = verify_rsa(
                SignatureAlgorithm::RsaPkcs1Sha256,
                0,
                pkcs1,
                &hashed,
                &signature,
            );
            let before = verify_rsa_crate(
                SignatureAlgorithm::RsaPkcs1Sha256,
                0,
                pkcs1,
                &hashed,
                &signature,
            );
            assert_eq!(now, before, "case {index}");
            if !accepted {
                assert!(
                    matches!(&now, Err(SignatureCheck::UnsupportedKey(m)) if m.starts_with("RSA key: ")),
                    "case {index}: {now:?}"
                );
            }
        }
    }
}
