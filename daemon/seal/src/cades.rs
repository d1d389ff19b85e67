//! CAdES detached signatures (ETSI EN 319 122-1, baseline B-B and B-T) built in explicit steps, because the
//! key is in a KMS and the time-stamp source is remote: [`CadesBuilder::new`] (or [`CadesBuilder::for_pades`])
//! → [`CadesBuilder::to_be_signed`] → the caller signs → [`CadesBuilder::assemble`] → [`SignedCms`], whose
//! [`SignedCms::signature_value`] the caller time-stamps and hands back to
//! [`SignedCms::add_signature_timestamp`] → [`SignedCms::to_der`].
//!
//! The output is deterministic DER: SETs sorted, one SignerInfo, certificates = the chain given.

use std::time::SystemTime;

use der::{
    Decode, Encode,
    asn1::{Any, OctetString},
};
use sigil_cms::{
    CertEntry, CmsSignatureAlgorithm, HashAlgorithm,
    algorithms::SignatureCheck,
    asn1::{Attribute, SetOf, SignerInfo},
    oids,
    signed_data::{
        self, ID_AA_SIGNATURE_TIME_STAMP_TOKEN, add_unsigned_attribute,
        algorithm_protection_attribute, signing_certificate_v2_attribute,
    },
    time::x509_time,
};

/// Which signed attributes a signature carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    /// CAdES (EN 319 122-1): content-type, message-digest, signing-time, signing-certificate-v2.
    Cades,
    /// The CMS of a PAdES signature (EN 319 142-1 §6.3): the same without signing-time, which PAdES forbids
    /// (the time is the PDF signature dictionary's `/M`).
    Pades,
}

/// What a CAdES signature states beside the content digest and the chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CadesOptions {
    /// The claimed signing time (CAdES only; ignored by [`Profile::Pades`]).
    pub signing_time: SystemTime,
    /// Whether to add the CMSAlgorithmProtection attribute (RFC 6211).
    pub algorithm_protection: bool,
}

impl Default for CadesOptions {
    fn default() -> Self {
        Self {
            signing_time: SystemTime::now(),
            algorithm_protection: true,
        }
    }
}

/// Why a seal could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// No certificate was given.
    #[error("the signer certificate chain is empty")]
    EmptyChain,
    /// A certificate of the chain does not parse.
    #[error("certificate {index} of the chain does not parse: {source}")]
    BadCertificate {
        /// Position in the chain, leaf = 0.
        index: usize,
        /// The decoder's error.
        source: der::Error,
    },
    /// The digest does not have the length of its algorithm.
    #[error("a {algorithm} digest is {expected} bytes, got {actual}")]
    DigestLength {
        /// The algorithm.
        algorithm: HashAlgorithm,
        /// Its output length.
        expected: usize,
        /// The length given.
        actual: usize,
    },
    /// The content digest's algorithm is not the one the signature algorithm uses for the SignerInfo's
    /// digestAlgorithm (the signed attributes are hashed with it too, so the two must agree).
    #[error("the content digest is {given}, but a {algorithm:?} signer needs a {needed} digest")]
    DigestAlgorithmMismatch {
        /// The digest's algorithm.
        given: HashAlgorithm,
        /// What the signer needs.
        needed: HashAlgorithm,
        /// The signer's algorithm.
        algorithm: CmsSignatureAlgorithm,
    },
    /// SHA-1 is not accepted for new signatures.
    #[error("SHA-1 is not accepted for new signatures")]
    Sha1Refused,
    /// The signature given to `assemble` does not verify under the leaf certificate's key: the KMS key and
    /// the certificate do not belong together, or the signature is of another algorithm.
    #[error("the signature does not verify under the signer certificate's key: {0}")]
    SignatureRejected(SignatureCheck),
    /// The time-stamp token is not a ContentInfo.
    #[error("the time-stamp token does not parse: {0}")]
    BadTimestampToken(der::Error),
    /// Encoding failed.
    #[error("encoding failed: {0}")]
    Encoding(#[from] der::Error),
}

/// The first step of a CAdES or PAdES-CMS signature: the signed attributes, ready to be signed.
#[derive(Clone, Debug)]
pub struct CadesBuilder {
    algorithm: CmsSignatureAlgorithm,
    chain: Vec<CertEntry>,
    signed_attrs: SetOf<Attribute>,
    to_be_signed: Vec<u8>,
}

impl CadesBuilder {
    /// A CAdES signature over content whose `digest_algorithm` digest is `content_digest`, by the key of
    /// `chain[0]` (DER certificates, leaf first) signing with `algorithm`.
    ///
    /// # Errors
    /// [`BuildError`] for an empty or unparsable chain, a digest of the wrong length or algorithm.
    pub fn new(
        digest_algorithm: HashAlgorithm,
        content_digest: &[u8],
        chain: &[Vec<u8>],
        algorithm: CmsSignatureAlgorithm,
        options: CadesOptions,
    ) -> Result<Self, BuildError> {
        Self::build(
            Profile::Cades,
            digest_algorithm,
            content_digest,
            chain,
            algorithm,
            options,
        )
    }

    /// The CMS of a PAdES signature: as [`CadesBuilder::new`] without signing-time; `content_digest` is
    /// the digest of the PDF's ByteRange.
    ///
    /// # Errors
    /// As [`CadesBuilder::new`].
    pub fn for_pades(
        digest_algorithm: HashAlgorithm,
        content_digest: &[u8],
        chain: &[Vec<u8>],
        algorithm: CmsSignatureAlgorithm,
        algorithm_protection: bool,
    ) -> Result<Self, BuildError> {
        let options = CadesOptions {
            signing_time: SystemTime::UNIX_EPOCH,
            algorithm_protection,
        };
        Self::build(
            Profile::Pades,
            digest_algorithm,
            content_digest,
            chain,
            algorithm,
            options,
        )
    }

    fn build(
        profile: Profile,
        digest_algorithm: HashAlgorithm,
        content_digest: &[u8],
        chain: &[Vec<u8>],
        algorithm: CmsSignatureAlgorithm,
        options: CadesOptions,
    ) -> Result<Self, BuildError> {
        check_digest(digest_algorithm, content_digest)?;
        let needed = algorithm.digest_algorithm();
        if needed != digest_algorithm {
            return Err(BuildError::DigestAlgorithmMismatch {
                given: digest_algorithm,
                needed,
                algorithm,
            });
        }
        let chain = parse_chain(chain)?;
        let leaf = &chain[0];
        let mut attributes = vec![
            signed_data::attribute(oids::ID_CONTENT_TYPE, &oids::ID_DATA)?,
            signed_data::attribute(oids::ID_MESSAGE_DIGEST, &OctetString::new(content_digest)?)?,
            signing_certificate_v2_attribute(leaf, HashAlgorithm::Sha256)?,
        ];
        if profile == Profile::Cades {
            attributes.push(signed_data::attribute(
                oids::ID_SIGNING_TIME,
                &x509_time(options.signing_time)?,
            )?);
        }
        if options.algorithm_protection {
            attributes.push(algorithm_protection_attribute(algorithm)?);
        }
        let signed_attrs = SetOf::der_sorted(attributes)?;
        let to_be_signed = signed_attrs.to_der()?;
        Ok(Self {
            algorithm,
            chain,
            signed_attrs,
            to_be_signed,
        })
    }

    /// The bytes the key signs: the DER of the signed attributes as a SET (RFC 5652 §5.4). The signer
    /// hashes them with the algorithm's hash (Ed25519 signs them as they are).
    #[must_use]
    pub fn to_be_signed(&self) -> &[u8] {
        &self.to_be_signed
    }

    /// The signature algorithm the builder was made for.
    #[must_use]
    pub fn algorithm(&self) -> CmsSignatureAlgorithm {
        self.algorithm
    }

    /// Completes the SignedData with the signer's `signature` over [`CadesBuilder::to_be_signed`]. The
    /// signature is checked under the leaf certificate's key first, so a KMS key that does not match the
    /// certificate never produces a seal.
    ///
    /// # Errors
    /// [`BuildError::SignatureRejected`], or an encoding error.
    pub fn assemble(self, signature: &[u8]) -> Result<SignedCms, BuildError> {
        let leaf = &self.chain[0];
        let info = signed_data::signer_info(
            &leaf.certificate,
            self.algorithm,
            self.signed_attrs,
            signature,
        )?;
        let spki = leaf.certificate.tbs_certificate().subject_public_key_info();
        signed_data::verify_signer_info(&info, spki).map_err(|error| match error {
            signed_data::SignerInfoCheck::Signature(check) => BuildError::SignatureRejected(check),
            other => {
                BuildError::SignatureRejected(SignatureCheck::UnsupportedKey(other.to_string()))
            }
        })?;
        Ok(SignedCms {
            certificates: self.chain.into_iter().map(|entry| entry.der).collect(),
            signer_info: info,
        })
    }
}

/// An assembled signature (B-B), to which a signature time-stamp may be added (B-T) before encoding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedCms {
    certificates: Vec<Vec<u8>>,
    signer_info: SignerInfo,
}

impl SignedCms {
    /// The SignerInfo's signature value: what the signature time-stamp's imprint is the hash of (EN 319
    /// 122-1 §5.3).
    #[must_use]
    pub fn signature_value(&self) -> &[u8] {
        self.signer_info.signature.as_bytes()
    }

    /// Adds `token_der` (an RFC 3161 TimeStampToken, a ContentInfo) as the signature-time-stamp unsigned
    /// attribute. The token is not verified here: the caller asked for it over
    /// `hash(signature_value())` and [`crate::verify_cades`] checks the result.
    ///
    /// # Errors
    /// [`BuildError::BadTimestampToken`] when the bytes are not one DER value.
    pub fn add_signature_timestamp(&mut self, token_der: &[u8]) -> Result<(), BuildError> {
        let token = Any::from_der(token_der).map_err(BuildError::BadTimestampToken)?;
        let attribute = signed_data::attribute(ID_AA_SIGNATURE_TIME_STAMP_TOKEN, &token)?;
        add_unsigned_attribute(&mut self.signer_info, attribute)?;
        Ok(())
    }

    /// The detached CMS (`.p7s`), DER.
    ///
    /// # Errors
    /// Only if encoding fails.
    pub fn to_der(&self) -> Result<Vec<u8>, BuildError> {
        Ok(signed_data::encode_signed_data(
            oids::ID_DATA,
            None,
            &self.certificates,
            self.signer_info.clone(),
        )?)
    }
}

pub(crate) fn check_digest(algorithm: HashAlgorithm, digest: &[u8]) -> Result<(), BuildError> {
    if algorithm == HashAlgorithm::Sha1 {
        return Err(BuildError::Sha1Refused);
    }
    if digest.len() != algorithm.output_len() {
        return Err(BuildError::DigestLength {
            algorithm,
            expected: algorithm.output_len(),
            actual: digest.len(),
        });
    }
    Ok(())
}

pub(crate) fn parse_chain(chain: &[Vec<u8>]) -> Result<Vec<CertEntry>, BuildError> {
    if chain.is_empty() {
        return Err(BuildError::EmptyChain);
    }
    chain
        .iter()
        .enumerate()
        .map(|(index, der)| {
            let certificate = sigil_cms::Certificate::from_der(der)
                .map_err(|source| BuildError::BadCertificate { index, source })?;
            Ok(CertEntry {
                certificate,
                der: der.clone(),
            })
        })
        .collect()
}
