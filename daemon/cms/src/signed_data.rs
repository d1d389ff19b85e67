//! Generic CMS SignedData (RFC 5652) building and reading for every format that signs with a certificate:
//! the signed attributes a detached signature carries (ESS signing-certificate-v2, CMSAlgorithmProtection),
//! SignerInfo and SignedData assembly in deterministic DER, liberal parsing of someone else's SignedData
//! ([`parse_signed_data`]) and the signature check over the **received** signed attributes
//! ([`verify_signer_info`]), with Ed25519 (RFC 8419) beside the algorithms of [`crate::algorithms`].
//!
//! Format rules (which attributes, which content type, what a time-stamp must cover) stay with the
//! formats: this module neither requires nor judges attributes.

use der::{
    Decode, Encode, Sequence, Tag, Tagged,
    asn1::{Any, Int, ObjectIdentifier, OctetString},
};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::{Certificate, ext::pkix::name::GeneralName};

use crate::{
    CertEntry, HashAlgorithm, SignatureAlgorithm, WireEncoding,
    algorithms::{SignatureCheck, verify},
    asn1::{
        Attribute, ContentInfo, EncapsulatedContentInfo, EssCertIdV2, IssuerAndSerialNumber,
        IssuerSerial, SetOf, SignedData, SignerIdentifier, SignerInfo, SigningCertificateV2,
    },
    ber::decode_any,
    oids,
    raw::verify_ed25519,
};

/// `id-aa-signatureTimeStampToken` (RFC 3161 Appendix A): the unsigned attribute holding a time-stamp token
/// over a SignerInfo's signature value (CAdES B-T).
pub const ID_AA_SIGNATURE_TIME_STAMP_TOKEN: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.14");
/// `id-aa-CMSAlgorithmProtection` (RFC 6211).
pub const ID_AA_CMS_ALGORITHM_PROTECTION: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.52");

/// A signature algorithm a CMS signer may use: those of [`SignatureAlgorithm`] and Ed25519 (RFC 8419, pure
/// EdDSA over the DER of the signed attributes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CmsSignatureAlgorithm {
    /// ECDSA or RSA, with the hash the variant names.
    Classic(SignatureAlgorithm),
    /// Ed25519; the SignerInfo's digestAlgorithm is SHA-512 (RFC 8419 §3.1).
    Ed25519,
}

impl CmsSignatureAlgorithm {
    /// The digestAlgorithm a SignerInfo with this signature algorithm carries: the signature's own hash, and
    /// SHA-512 for Ed25519.
    #[must_use]
    pub fn digest_algorithm(self) -> HashAlgorithm {
        match self {
            Self::Classic(algorithm) => algorithm.hash(),
            Self::Ed25519 => HashAlgorithm::Sha512,
        }
    }

    /// The signatureAlgorithm identifier written into a SignerInfo.
    ///
    /// # Errors
    /// Only if encoding the PSS parameters fails.
    pub fn algorithm_identifier(self) -> der::Result<AlgorithmIdentifierOwned> {
        match self {
            Self::Classic(algorithm) => algorithm.algorithm_identifier(),
            Self::Ed25519 => Ok(AlgorithmIdentifierOwned {
                oid: oids::ID_ED25519,
                parameters: None,
            }),
        }
    }
}

impl From<SignatureAlgorithm> for CmsSignatureAlgorithm {
    fn from(algorithm: SignatureAlgorithm) -> Self {
        Self::Classic(algorithm)
    }
}

/// `CMSAlgorithmProtection` (RFC 6211 §2): the digest and signature algorithms, signed, so that neither can
/// be swapped. `macAlgorithm` is never written.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct CmsAlgorithmProtection {
    /// The SignerInfo's digestAlgorithm.
    pub digest_algorithm: AlgorithmIdentifierOwned,
    /// The SignerInfo's signatureAlgorithm.
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    pub signature_algorithm: Option<AlgorithmIdentifierOwned>,
    /// Only for authenticated data; absent here.
    #[asn1(context_specific = "2", tag_mode = "IMPLICIT", optional = "true")]
    pub mac_algorithm: Option<AlgorithmIdentifierOwned>,
}

/// An attribute with one value.
///
/// # Errors
/// Only if `value` does not encode.
pub fn attribute(oid: ObjectIdentifier, value: &impl Encode) -> der::Result<Attribute> {
    Ok(Attribute {
        attr_type: oid,
        attr_values: SetOf(vec![Any::from_der(&value.to_der()?)?]),
    })
}

/// The certificate's issuer and serial number, as a SignerIdentifier and an ESSCertIDv2 name it.
///
/// # Errors
/// Only if the serial does not re-encode.
pub fn issuer_and_serial(certificate: &Certificate) -> der::Result<IssuerAndSerialNumber> {
    let tbs = certificate.tbs_certificate();
    Ok(IssuerAndSerialNumber {
        issuer: tbs.issuer().clone(),
        serial_number: Int::new(tbs.serial_number().as_bytes())?,
    })
}

/// The `signing-certificate-v2` attribute (RFC 5035) naming `signer` alone: one ESSCertIDv2 with the hash of
/// its DER (hashAlgorithm omitted for SHA-256, the DEFAULT) and its IssuerSerial.
///
/// # Errors
/// Only if encoding fails.
pub fn signing_certificate_v2_attribute(
    signer: &CertEntry,
    hash: HashAlgorithm,
) -> der::Result<Attribute> {
    let id = issuer_and_serial(&signer.certificate)?;
    let value = SigningCertificateV2 {
        certs: vec![EssCertIdV2 {
            hash_algorithm: (hash != HashAlgorithm::Sha256).then(|| hash.algorithm_identifier()),
            cert_hash: OctetString::new(hash.digest(&signer.der))?,
            issuer_serial: Some(IssuerSerial {
                issuer: vec![GeneralName::DirectoryName(id.issuer)],
                serial_number: id.serial_number,
            }),
        }],
        policies: None,
    };
    attribute(oids::ID_AA_SIGNING_CERTIFICATE_V2, &value)
}

/// The `CMSAlgorithmProtection` attribute (RFC 6211) for a SignerInfo signed with `algorithm`.
///
/// # Errors
/// Only if encoding fails.
pub fn algorithm_protection_attribute(algorithm: CmsSignatureAlgorithm) -> der::Result<Attribute> {
    attribute(
        ID_AA_CMS_ALGORITHM_PROTECTION,
        &CmsAlgorithmProtection {
            digest_algorithm: algorithm.digest_algorithm().algorithm_identifier(),
            signature_algorithm: Some(algorithm.algorithm_identifier()?),
            mac_algorithm: None,
        },
    )
}

/// A SignerInfo (version 1, identified by issuer and serial) over `signed_attrs`, with `signature` made by
/// the key of `signer` and no unsigned attributes yet.
///
/// # Errors
/// Only if encoding fails.
pub fn signer_info(
    signer: &Certificate,
    algorithm: CmsSignatureAlgorithm,
    signed_attrs: SetOf<Attribute>,
    signature: &[u8],
) -> der::Result<SignerInfo> {
    Ok(SignerInfo {
        version: Int::new(&[1])?,
        sid: SignerIdentifier::IssuerAndSerialNumber(issuer_and_serial(signer)?),
        digest_algorithm: algorithm.digest_algorithm().algorithm_identifier(),
        signed_attrs: Some(signed_attrs),
        signature_algorithm: algorithm.algorithm_identifier()?,
        signature: OctetString::new(signature)?,
        unsigned_attrs: None,
    })
}

/// Adds `attribute` to the SignerInfo's unsigned attributes, keeping the SET in DER order.
///
/// # Errors
/// Only if encoding fails.
pub fn add_unsigned_attribute(info: &mut SignerInfo, attribute: Attribute) -> der::Result<()> {
    let mut attributes = info
        .unsigned_attrs
        .take()
        .map(|set| set.0)
        .unwrap_or_default();
    attributes.push(attribute);
    info.unsigned_attrs = Some(SetOf::der_sorted(attributes)?);
    Ok(())
}

/// A ContentInfo holding a SignedData with one signer: `content_type` encapsulated (its octets only when
/// `e_content` is given; detached otherwise), the DER certificates given as a DER-sorted SET, and the
/// SignedData version RFC 5652 §5.1 requires (1 for id-data with an issuer-and-serial signer, else 3).
///
/// # Errors
/// When a certificate is not DER, or encoding fails.
pub fn encode_signed_data(
    content_type: ObjectIdentifier,
    e_content: Option<&[u8]>,
    certificates: &[Vec<u8>],
    signer: SignerInfo,
) -> der::Result<Vec<u8>> {
    let version = if content_type == oids::ID_DATA
        && matches!(signer.sid, SignerIdentifier::IssuerAndSerialNumber(_))
    {
        1
    } else {
        3
    };
    let certificates = certificates
        .iter()
        .map(|der| Any::from_der(der))
        .collect::<der::Result<Vec<_>>>()?;
    let signed_data = SignedData {
        version: Int::new(&[version])?,
        digest_algorithms: SetOf(vec![signer.digest_algorithm.clone()]),
        encap_content_info: EncapsulatedContentInfo {
            e_content_type: content_type,
            e_content: e_content.map(OctetString::new).transpose()?,
        },
        certificates: (!certificates.is_empty())
            .then(|| SetOf::der_sorted(certificates))
            .transpose()?,
        crls: None,
        signer_infos: SetOf(vec![signer]),
    };
    ContentInfo {
        content_type: oids::ID_SIGNED_DATA,
        content: Any::encode_from(&signed_data)?,
    }
    .to_der()
}

/// Why bytes are not a SignedData ContentInfo.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignedDataError {
    /// A structure does not decode, even as BER (`what` names it).
    #[error("malformed {what}: {source}")]
    Malformed {
        /// `ContentInfo` or `SignedData`.
        what: &'static str,
        /// The decoder's error.
        source: der::Error,
    },
    /// The ContentInfo holds something other than SignedData.
    #[error("content type {0} is not id-signedData")]
    NotSignedData(ObjectIdentifier),
}

/// A SignedData read from the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedSignedData {
    /// The structure; each SignerInfo's signed attributes keep their received order, so their DER is the
    /// bytes that were signed.
    pub signed_data: SignedData,
    /// The embedded X.509 certificates, each once, in received order, with their received bytes.
    pub certificates: Vec<CertEntry>,
    /// `CertificateChoices` skipped: other alternatives than a plain certificate, or ones that do not parse.
    pub skipped_certificates: usize,
    /// How the ContentInfo was encoded.
    pub encoding: WireEncoding,
}

/// Reads a ContentInfo holding a SignedData, DER or BER (indefinite lengths, as `openssl cms` streams).
///
/// # Errors
/// [`SignedDataError`] when the bytes are neither.
pub fn parse_signed_data(bytes: &[u8]) -> Result<ParsedSignedData, SignedDataError> {
    let (content_info, outer) =
        crate::ber::decode_liberal::<ContentInfo>(bytes).map_err(|source| {
            SignedDataError::Malformed {
                what: "ContentInfo",
                source,
            }
        })?;
    if content_info.content_type != oids::ID_SIGNED_DATA {
        return Err(SignedDataError::NotSignedData(content_info.content_type));
    }
    let (signed_data, inner) =
        decode_any::<SignedData>(&content_info.content).map_err(|source| {
            SignedDataError::Malformed {
                what: "SignedData",
                source,
            }
        })?;
    let mut certificates: Vec<CertEntry> = Vec::new();
    let mut skipped_certificates = 0;
    for choice in signed_data.certificates.iter().flat_map(|set| set.0.iter()) {
        // Only the plain `certificate` alternative is a SEQUENCE; [0]..[3] are other CertificateChoices.
        let parsed = (choice.tag() == Tag::Sequence)
            .then(|| choice.to_der().ok())
            .flatten()
            .and_then(|der| CertEntry::from_der(&der).ok());
        match parsed {
            Some(entry) if certificates.iter().any(|known| known.der == entry.der) => {}
            Some(entry) => certificates.push(entry),
            None => skipped_certificates += 1,
        }
    }
    Ok(ParsedSignedData {
        signed_data,
        certificates,
        skipped_certificates,
        encoding: if outer == WireEncoding::Ber || inner == WireEncoding::Ber {
            WireEncoding::Ber
        } else {
            WireEncoding::Der
        },
    })
}

/// The first of `candidates` that the SignerInfo's sid names.
#[must_use]
pub fn find_signer<'a>(
    info: &SignerInfo,
    candidates: impl IntoIterator<Item = &'a CertEntry>,
) -> Option<&'a CertEntry> {
    candidates
        .into_iter()
        .find(|entry| info.sid.matches(&entry.certificate))
}

/// Why [`verify_signer_info`] did not accept a SignerInfo's signature.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignerInfoCheck {
    /// The SignerInfo has no signed attributes (this module checks only signatures over them).
    #[error("SignerInfo has no signed attributes")]
    NoSignedAttributes,
    /// The signed attributes do not re-encode (they decoded, so this does not happen for DER input).
    #[error("signed attributes do not encode: {0}")]
    Encoding(der::Error),
    /// The signature check failed or could not be made.
    #[error(transparent)]
    Signature(#[from] SignatureCheck),
}

/// Verifies a SignerInfo's signature over its signed attributes with the key in `spki`.
///
/// The message is the DER of the signed attributes as a SET (RFC 5652 §5.4). [`SetOf`] keeps the received
/// order and raw values, so it encodes to the received bytes with the `[0]` tag replaced by SET; nothing is
/// sorted or re-encoded, which would break signatures from producers that sent another order. Ed25519
/// (RFC 8419) signs those bytes directly; other algorithms go through [`crate::algorithms::verify`] with
/// the digestAlgorithm as the hint (for `rsaEncryption`).
///
/// # Errors
/// [`SignerInfoCheck`]; only `Signature(SignatureCheck::Invalid)` proves the signature wrong.
pub fn verify_signer_info(
    info: &SignerInfo,
    spki: &SubjectPublicKeyInfoOwned,
) -> Result<CmsSignatureAlgorithm, SignerInfoCheck> {
    let attributes = info
        .signed_attrs
        .as_ref()
        .ok_or(SignerInfoCheck::NoSignedAttributes)?;
    let message = attributes.to_der().map_err(SignerInfoCheck::Encoding)?;
    let signature = info.signature.as_bytes();
    if info.signature_algorithm.oid == oids::ID_ED25519 {
        if spki.algorithm.oid != oids::ID_ED25519 {
            return Err(SignatureCheck::KeyMismatch.into());
        }
        verify_ed25519(spki.subject_public_key.raw_bytes(), &message, signature)?;
        return Ok(CmsSignatureAlgorithm::Ed25519);
    }
    let hint = HashAlgorithm::from_algorithm_identifier(&info.digest_algorithm);
    let algorithm = verify(&info.signature_algorithm, hint, spki, &message, signature)?;
    Ok(CmsSignatureAlgorithm::Classic(algorithm))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SoftwareKey, testing::Pki};

    #[test]
    fn built_signed_data_reads_back_and_verifies() {
        let pki = Pki::new();
        let leaf = pki.leaf_entry();
        let key = SoftwareKey::generate_p256().unwrap();
        // A leaf for this key is not needed to check the round trip: verify under the key itself.
        let algorithm = CmsSignatureAlgorithm::Classic(key.signature_algorithm());
        let attrs = SetOf::der_sorted(vec![
            attribute(oids::ID_CONTENT_TYPE, &oids::ID_DATA).unwrap(),
            attribute(
                oids::ID_MESSAGE_DIGEST,
                &OctetString::new([1u8; 32]).unwrap(),
            )
            .unwrap(),
            signing_certificate_v2_attribute(&leaf, HashAlgorithm::Sha256).unwrap(),
            algorithm_protection_attribute(algorithm).unwrap(),
        ])
        .unwrap();
        let signature = key.sign_message(&attrs.to_der().unwrap()).unwrap();
        let mut info = signer_info(&pki.leaf, algorithm, attrs, &signature).unwrap();
        add_unsigned_attribute(&mut info, attribute(oids::ID_SIGNING_TIME, &true).unwrap())
            .unwrap();
        let der = encode_signed_data(
            oids::ID_DATA,
            None,
            &[leaf.der.clone(), pki.root_entry().der],
            info,
        )
        .unwrap();
        let parsed = parse_signed_data(&der).unwrap();
        assert_eq!(parsed.encoding, WireEncoding::Der);
        assert_eq!(parsed.certificates.len(), 2);
        let info = &parsed.signed_data.signer_infos.0[0];
        assert_eq!(
            find_signer(info, &parsed.certificates).map(|e| &e.der),
            Some(&leaf.der)
        );
        let spki = key.subject_public_key_info().unwrap();
        assert_eq!(verify_signer_info(info, &spki), Ok(algorithm));
        assert_eq!(
            crate::ess::check_signing_certificate(info.signed_attrs.as_ref().unwrap(), &leaf),
            Ok(crate::EssBinding::SigningCertificateV2(
                HashAlgorithm::Sha256
            ))
        );
        let other = SoftwareKey::generate_p256()
            .unwrap()
            .subject_public_key_info()
            .unwrap();
        assert_eq!(
            verify_signer_info(info, &other),
            Err(SignerInfoCheck::Signature(SignatureCheck::Invalid))
        );
        assert!(matches!(
            parse_signed_data(&[0x30, 0x03, 0x06, 0x01, 0x00]),
            Err(SignedDataError::Malformed { .. })
        ));
    }
}
