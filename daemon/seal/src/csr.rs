//! The seal certificate's life cycle outside the KMS: [`build_csr`] makes the PKCS#10 request for a KMS key
//! (x509-cert's `RequestBuilder`: finalize → the KMS signs → assemble), and [`check_activation_chain`]
//! checks the chain a CA returned before the certificate is activated, one error variant per broken rule.

use der::{
    Decode, Encode,
    asn1::{Any, BitString, Ia5StringRef, ObjectIdentifier, PrintableStringRef, Utf8StringRef},
};
use sigil_cms::{
    CertEntry, SignerError, SubjectPublicKeyInfoOwned, algorithms::verify, asn1::SetOf,
    time::rfc3339, trust::valid_at,
};
use spki::{AlgorithmIdentifierOwned, DynSignatureAlgorithmIdentifier, EncodePublicKey};
use x509_cert::{
    attr::AttributeTypeAndValue, builder::Builder, ext::pkix::KeyUsage, name::Name,
    request::RequestBuilder,
};

use crate::SealSigner;

const ID_AT_COMMON_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");
const ID_AT_COUNTRY: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.6");
const ID_AT_LOCALITY: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.7");
const ID_AT_STATE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.8");
const ID_AT_ORGANIZATION: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.10");
const ID_AT_ORGANIZATIONAL_UNIT: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.11");
const ID_EMAIL_ADDRESS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.1");

/// The subject of a seal certificate request (`POST /seal/certificates`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CsrSubject {
    /// CN, required.
    pub common_name: String,
    /// O, required.
    pub organization: String,
    /// C: two ASCII letters (ISO 3166), written upper case.
    pub country: String,
    /// OU.
    pub organizational_unit: Option<String>,
    /// L.
    pub locality: Option<String>,
    /// ST.
    pub state: Option<String>,
    /// emailAddress (PKCS#9), ASCII.
    pub email: Option<String>,
}

/// Why no CSR was made.
#[derive(Debug, thiserror::Error)]
pub enum CsrError {
    /// A required field is empty or a field is longer than X.520 allows (64).
    #[error("subject field {0} is empty or longer than 64 characters")]
    InvalidField(&'static str),
    /// The country is not two ASCII letters.
    #[error("country must be two ASCII letters, got {0:?}")]
    InvalidCountry(String),
    /// The email address is not ASCII.
    #[error("email address must be ASCII")]
    InvalidEmail,
    /// The KMS could not give its public key or sign.
    #[error(transparent)]
    Signer(#[from] SignerError),
    /// x509-cert's builder failed.
    #[error("CSR building failed: {0}")]
    Builder(String),
    /// Encoding failed.
    #[error("encoding failed: {0}")]
    Encoding(#[from] der::Error),
}

impl CsrSubject {
    /// The subject as an X.501 Name: C, ST, L, O, OU, CN, emailAddress, one attribute per RDN; C as
    /// PrintableString, emailAddress as IA5String, the rest UTF8String.
    ///
    /// # Errors
    /// [`CsrError`] naming the invalid field.
    pub fn to_name(&self) -> Result<Name, CsrError> {
        let field = |value: &str, name: &'static str| {
            let length = value.chars().count();
            if length == 0 || length > 64 {
                Err(CsrError::InvalidField(name))
            } else {
                Ok(())
            }
        };
        field(&self.common_name, "commonName")?;
        field(&self.organization, "organization")?;
        let country = self.country.to_ascii_uppercase();
        if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(CsrError::InvalidCountry(self.country.clone()));
        }
        let utf8 = |oid, value: &str| -> Result<AttributeTypeAndValue, CsrError> {
            Ok(AttributeTypeAndValue {
                oid,
                value: Any::encode_from(&Utf8StringRef::new(value)?)?,
            })
        };
        let mut rdns = vec![AttributeTypeAndValue {
            oid: ID_AT_COUNTRY,
            value: Any::encode_from(&PrintableStringRef::new(&country)?)?,
        }];
        for (oid, value, name) in [
            (ID_AT_STATE, &self.state, "state"),
            (ID_AT_LOCALITY, &self.locality, "locality"),
        ] {
            if let Some(value) = value {
                field(value, name)?;
                rdns.push(utf8(oid, value)?);
            }
        }
        rdns.push(utf8(ID_AT_ORGANIZATION, &self.organization)?);
        if let Some(unit) = &self.organizational_unit {
            field(unit, "organizationalUnit")?;
            rdns.push(utf8(ID_AT_ORGANIZATIONAL_UNIT, unit)?);
        }
        rdns.push(utf8(ID_AT_COMMON_NAME, &self.common_name)?);
        if let Some(email) = &self.email {
            if !email.is_ascii() {
                return Err(CsrError::InvalidEmail);
            }
            field(email, "email")?;
            rdns.push(AttributeTypeAndValue {
                oid: ID_EMAIL_ADDRESS,
                value: Any::encode_from(&Ia5StringRef::new(email)?)?,
            });
        }
        let sequence: Vec<SetOf<AttributeTypeAndValue>> =
            rdns.into_iter().map(|atv| SetOf(vec![atv])).collect();
        Ok(Name::from_der(&sequence.to_der()?)?)
    }
}

/// A KMS key as x509-cert's builder sees it: its public key and signature algorithm, no private half.
#[derive(Clone)]
struct KmsKey {
    public_key: PublicKey,
    algorithm: AlgorithmIdentifierOwned,
}

#[derive(Clone)]
struct PublicKey(SubjectPublicKeyInfoOwned);

impl EncodePublicKey for PublicKey {
    fn to_public_key_der(&self) -> spki::Result<der::Document> {
        Ok(der::Document::encode_msg(&self.0)?)
    }
}

impl signature::Keypair for KmsKey {
    type VerifyingKey = PublicKey;

    fn verifying_key(&self) -> PublicKey {
        self.public_key.clone()
    }
}

impl DynSignatureAlgorithmIdentifier for KmsKey {
    fn signature_algorithm_identifier(&self) -> spki::Result<AlgorithmIdentifierOwned> {
        Ok(self.algorithm.clone())
    }
}

/// Makes a DER PKCS#10 CSR for `subject`, for the key behind `signer`, which signs the
/// CertificationRequestInfo (the KMS signs; nothing secret is here).
///
/// # Errors
/// [`CsrError`] for an invalid subject, a signer failure or an encoding failure.
pub fn build_csr(subject: &CsrSubject, signer: &dyn SealSigner) -> Result<Vec<u8>, CsrError> {
    let name = subject.to_name()?;
    let key = KmsKey {
        public_key: PublicKey(signer.public_key()?),
        algorithm: signer.algorithm().algorithm_identifier()?,
    };
    let builder_error = |error: x509_cert::builder::Error| CsrError::Builder(error.to_string());
    let mut builder = RequestBuilder::new(name).map_err(builder_error)?;
    let info = builder.finalize(&key).map_err(builder_error)?;
    let signature = signer.sign(&info)?;
    let request = builder
        .assemble(BitString::from_bytes(&signature)?, &key)
        .map_err(builder_error)?;
    Ok(request.to_der()?)
}

/// Why a returned certificate chain cannot be activated.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ActivationError {
    /// No certificate was uploaded.
    #[error("the certificate chain is empty")]
    EmptyChain,
    /// A certificate does not parse.
    #[error("certificate {index} of the chain does not parse: {detail}")]
    BadCertificate {
        /// Position, leaf = 0.
        index: usize,
        /// The decoder's message.
        detail: String,
    },
    /// The leaf certifies another key than the KMS key provisioned for it.
    #[error(
        "the leaf certificate's public key is not the provisioned KMS key: the CA certified another CSR"
    )]
    PublicKeyMismatch,
    /// A certificate is not signed by the next one in the chain.
    #[error(
        "certificate {index} ({subject}) is not signed by the next certificate ({issuer}): {detail}"
    )]
    BrokenLink {
        /// Position of the certificate whose signature failed.
        index: usize,
        /// Its subject.
        subject: String,
        /// The next certificate's subject.
        issuer: String,
        /// Why.
        detail: String,
    },
    /// The leaf is not yet valid.
    #[error("the leaf certificate is not valid before {not_before} (now {now})")]
    NotYetValid {
        /// notBefore, RFC 3339.
        not_before: String,
        /// The time checked, RFC 3339.
        now: String,
    },
    /// The leaf has expired.
    #[error("the leaf certificate expired at {not_after} (now {now})")]
    Expired {
        /// notAfter, RFC 3339.
        not_after: String,
        /// The time checked, RFC 3339.
        now: String,
    },
    /// keyUsage lacks digitalSignature and nonRepudiation (or does not parse).
    #[error("the leaf certificate's keyUsage allows neither digitalSignature nor nonRepudiation")]
    KeyUsage,
}

/// Checks an uploaded chain (DER, leaf first) for the KMS key `kms_public_key` at Unix time `now`: the
/// leaf's key is the KMS key, each certificate is signed by the next, the leaf is within its validity, and
/// keyUsage (when present) allows digitalSignature or nonRepudiation. Chain trust is the verifier's
/// business, not activation's: a chain ending below a root is accepted.
///
/// # Errors
/// The first [`ActivationError`] met.
pub fn check_activation_chain(
    chain: &[Vec<u8>],
    kms_public_key: &SubjectPublicKeyInfoOwned,
    now: i64,
) -> Result<(), ActivationError> {
    if chain.is_empty() {
        return Err(ActivationError::EmptyChain);
    }
    let entries = chain
        .iter()
        .enumerate()
        .map(|(index, der)| {
            CertEntry::from_der(der).map_err(|error| ActivationError::BadCertificate {
                index,
                detail: error.to_string(),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let leaf = &entries[0];
    let leaf_tbs = leaf.certificate.tbs_certificate();
    if leaf_tbs.subject_public_key_info() != kms_public_key {
        return Err(ActivationError::PublicKeyMismatch);
    }
    for (index, pair) in entries.windows(2).enumerate() {
        let (subject, issuer) = (&pair[0], &pair[1]);
        let link = || -> Result<(), String> {
            let raw = subject.raw().map_err(|error| error.to_string())?;
            let tbs = raw
                .tbs_certificate
                .to_der()
                .map_err(|error| error.to_string())?;
            verify(
                &raw.signature_algorithm,
                None,
                issuer
                    .certificate
                    .tbs_certificate()
                    .subject_public_key_info(),
                &tbs,
                raw.signature.raw_bytes(),
            )
            .map(|_| ())
            .map_err(|error| error.to_string())
        };
        link().map_err(|detail| ActivationError::BrokenLink {
            index,
            subject: subject.certificate.tbs_certificate().subject().to_string(),
            issuer: issuer.certificate.tbs_certificate().subject().to_string(),
            detail,
        })?;
    }
    if !valid_at(&leaf.certificate, now) {
        let summary = leaf.summary();
        return Err(if now < summary.not_before_unix {
            ActivationError::NotYetValid {
                not_before: summary.not_before,
                now: rfc3339(now),
            }
        } else {
            ActivationError::Expired {
                not_after: summary.not_after,
                now: rfc3339(now),
            }
        });
    }
    match leaf_tbs.get_extension::<KeyUsage>() {
        Ok(None) => Ok(()),
        Ok(Some((_, usage))) if usage.digital_signature() || usage.non_repudiation() => Ok(()),
        _ => Err(ActivationError::KeyUsage),
    }
}
