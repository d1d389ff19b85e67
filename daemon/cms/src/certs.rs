//! Certificate building: a self-signed root CA ([`build_root_ca`]) and end-entity certificates issued by it
//! ([`build_end_entity_certificate`], on which formats build their profiles), made as hand-made
//! TBSCertificates and signed through [`CertificateSigner`], so the CA key can live in a KMS. Unlike
//! x509-cert's `profile::cabf::Root`, no particular subject attributes are demanded.

use std::time::SystemTime;

use der::{
    Encode, Sequence,
    asn1::{BitString, ObjectIdentifier, OctetString},
};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::{
    Certificate,
    crl::{CertificateList, TbsCertList},
    ext::{
        Extension,
        pkix::{AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages},
    },
    name::Name,
    time::{Time, Validity},
};

use crate::{BigInteger, CertificateSigner, HashAlgorithm, SignerError, oids, time::x509_time};

/// Bytes of randomness in certificate serial numbers (CA/B Forum asks for at least 64 bits).
const SERIAL_BYTES: usize = 16;

/// Why a certificate could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CertificateError {
    /// notAfter is not after notBefore, or a time is outside 1970..9999.
    #[error("invalid validity period")]
    InvalidValidity,
    /// The issuer's signer does not hold the issuer certificate's key.
    #[error("the signer's public key is not the issuer certificate's key")]
    IssuerKeyMismatch,
    /// The issuer certificate is not a CA.
    #[error("the issuer certificate is not a CA (basicConstraints cA is not set)")]
    IssuerNotCa,
    /// The signer failed.
    #[error(transparent)]
    Signer(#[from] SignerError),
    /// Encoding failed.
    #[error("certificate encoding failed: {0}")]
    Encoding(#[from] der::Error),
    /// The random source failed while making a serial number.
    #[error("random source failed: {0}")]
    Random(String),
}

/// The period a certificate is valid for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CertificateValidity {
    /// Start (whole seconds are kept).
    pub not_before: SystemTime,
    /// End (whole seconds are kept).
    pub not_after: SystemTime,
}

impl CertificateValidity {
    /// From `not_before` for `lifetime`.
    #[must_use]
    pub fn starting(not_before: SystemTime, lifetime: std::time::Duration) -> Self {
        Self {
            not_before,
            not_after: not_before + lifetime,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
struct TbsCertificateAsn {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    version: u8,
    serial_number: der::asn1::Int,
    signature: AlgorithmIdentifierOwned,
    issuer: Name,
    validity: Validity,
    subject: Name,
    subject_public_key_info: SubjectPublicKeyInfoOwned,
    #[asn1(context_specific = "3", tag_mode = "EXPLICIT")]
    extensions: Vec<Extension>,
}

#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
struct CertificateAsn {
    tbs_certificate: TbsCertificateAsn,
    signature_algorithm: AlgorithmIdentifierOwned,
    signature: BitString,
}

/// Builds a self-signed root CA certificate: basicConstraints critical cA TRUE with pathLen 0 (it issues
/// only end-entity certificates), keyUsage critical keyCertSign + cRLSign, subjectKeyIdentifier, and
/// a 128-bit random serial.
///
/// # Errors
/// [`CertificateError`] when the validity is invalid or the signer fails.
pub fn build_root_ca(
    subject: &Name,
    validity: CertificateValidity,
    signer: &dyn CertificateSigner,
) -> Result<Certificate, CertificateError> {
    let public_key = signer.public_key()?;
    let key_id = key_identifier(&public_key);
    let extensions = vec![
        extension(
            oids::ID_CE_BASIC_CONSTRAINTS,
            true,
            &BasicConstraints {
                ca: true,
                path_len_constraint: Some(0),
            },
        )?,
        extension(
            oids::ID_CE_KEY_USAGE,
            true,
            &KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign),
        )?,
        extension(
            oids::ID_CE_SUBJECT_KEY_IDENTIFIER,
            false,
            &OctetString::new(key_id)?,
        )?,
    ];
    build(subject, subject, public_key, validity, extensions, signer)
}

/// What an end-entity certificate built by [`build_end_entity_certificate`] may be used for.
#[derive(Clone, Debug)]
pub struct EndEntityProfile {
    /// keyUsage, written critical.
    pub key_usage: KeyUsage,
    /// extendedKeyUsage purposes; the extension is omitted when empty.
    pub extended_key_usage: Vec<ObjectIdentifier>,
    /// Whether extendedKeyUsage is marked critical (RFC 3161 §2.3 requires it for a TSA).
    pub extended_key_usage_critical: bool,
}

/// Builds an end-entity certificate for `subject_key`, issued by `issuer` and signed by `issuer_signer`:
/// basicConstraints cA FALSE, keyUsage critical and extendedKeyUsage from `profile`, subject and authority
/// key identifiers, and a 128-bit random serial. Formats build their certificate profiles on it (RFC 3161's
/// TSA certificate).
///
/// # Errors
/// [`CertificateError`] when the validity is invalid, the issuer is not a CA or does not match the
/// signer, or the signer fails.
pub fn build_end_entity_certificate(
    subject: &Name,
    subject_key: &SubjectPublicKeyInfoOwned,
    validity: CertificateValidity,
    issuer: &Certificate,
    issuer_signer: &dyn CertificateSigner,
    profile: &EndEntityProfile,
) -> Result<Certificate, CertificateError> {
    let issuer_tbs = issuer.tbs_certificate();
    if issuer_signer.public_key()? != *issuer_tbs.subject_public_key_info() {
        return Err(CertificateError::IssuerKeyMismatch);
    }
    let is_ca = issuer_tbs
        .get_extension::<BasicConstraints>()
        .ok()
        .flatten()
        .is_some_and(|(_, bc)| bc.ca);
    if !is_ca {
        return Err(CertificateError::IssuerNotCa);
    }
    let issuer_key_id = issuer_tbs
        .get_extension::<x509_cert::ext::pkix::SubjectKeyIdentifier>()
        .ok()
        .flatten()
        .map_or_else(
            || key_identifier(issuer_tbs.subject_public_key_info()),
            |(_, ski)| ski.0.as_bytes().to_vec(),
        );
    let mut extensions = vec![
        extension(
            oids::ID_CE_BASIC_CONSTRAINTS,
            false,
            &BasicConstraints {
                ca: false,
                path_len_constraint: None,
            },
        )?,
        extension(oids::ID_CE_KEY_USAGE, true, &profile.key_usage)?,
    ];
    if !profile.extended_key_usage.is_empty() {
        extensions.push(extension(
            oids::ID_CE_EXT_KEY_USAGE,
            profile.extended_key_usage_critical,
            &ExtendedKeyUsage(profile.extended_key_usage.clone()),
        )?);
    }
    extensions.push(extension(
        oids::ID_CE_SUBJECT_KEY_IDENTIFIER,
        false,
        &OctetString::new(key_identifier(subject_key))?,
    )?);
    extensions.push(extension(
        oids::ID_CE_AUTHORITY_KEY_IDENTIFIER,
        false,
        &AuthorityKeyIdentifier {
            key_identifier: Some(OctetString::new(issuer_key_id)?),
            authority_cert_issuer: None,
            authority_cert_serial_number: None,
        },
    )?);
    build(
        subject,
        issuer_tbs.subject(),
        subject_key.clone(),
        validity,
        extensions,
        issuer_signer,
    )
}

fn build(
    subject: &Name,
    issuer: &Name,
    public_key: SubjectPublicKeyInfoOwned,
    validity: CertificateValidity,
    extensions: Vec<Extension>,
    signer: &dyn CertificateSigner,
) -> Result<Certificate, CertificateError> {
    if validity.not_after <= validity.not_before {
        return Err(CertificateError::InvalidValidity);
    }
    let not_before: Time =
        x509_time(validity.not_before).map_err(|_| CertificateError::InvalidValidity)?;
    let not_after: Time =
        x509_time(validity.not_after).map_err(|_| CertificateError::InvalidValidity)?;
    let serial = BigInteger::random_positive(SERIAL_BYTES)
        .map_err(|error| CertificateError::Random(error.to_string()))?;
    let signature_algorithm = signer.algorithm().algorithm_identifier()?;
    let tbs = TbsCertificateAsn {
        version: 2,
        serial_number: serial.to_int(),
        signature: signature_algorithm.clone(),
        issuer: issuer.clone(),
        validity: Validity::new(not_before, not_after),
        subject: subject.clone(),
        subject_public_key_info: public_key,
        extensions,
    };
    let signature = signer.sign(&tbs.to_der()?)?;
    let certificate = CertificateAsn {
        tbs_certificate: tbs,
        signature_algorithm,
        signature: BitString::from_bytes(&signature)?,
    };
    Ok(der::Decode::from_der(&certificate.to_der()?)?)
}

/// An RFC 5280 v2 CRL of `issuer` that revokes nothing: `thisUpdate`, `nextUpdate`, the authority key identifier
/// and `cRLNumber` `number`, signed through `signer` (which must hold the issuer's key). Its DER.
///
/// For a CA that never revokes what it issued (Sigil's own local roots): a verifier that requires revocation
/// data for every certificate of a chain gets it from the CA itself, within `nextUpdate`.
///
/// # Errors
/// [`CertificateError`] when the signer holds another key, `next_update` is not after `this_update`, a time is
/// out of range, or signing or encoding fails.
pub fn build_empty_crl(
    issuer: &Certificate,
    signer: &dyn CertificateSigner,
    this_update: SystemTime,
    next_update: SystemTime,
    number: u64,
) -> Result<Vec<u8>, CertificateError> {
    let public_key = signer.public_key()?;
    if &public_key != issuer.tbs_certificate().subject_public_key_info() {
        return Err(CertificateError::IssuerKeyMismatch);
    }
    if next_update <= this_update {
        return Err(CertificateError::InvalidValidity);
    }
    let time = |at| x509_time(at).map_err(|_| CertificateError::InvalidValidity);
    let signature_algorithm = signer.algorithm().algorithm_identifier()?;
    let extensions = vec![
        extension(
            oids::ID_CE_AUTHORITY_KEY_IDENTIFIER,
            false,
            &AuthorityKeyIdentifier {
                key_identifier: Some(OctetString::new(key_identifier(&public_key))?),
                authority_cert_issuer: None,
                authority_cert_serial_number: None,
            },
        )?,
        extension(
            oids::ID_CE_CRL_NUMBER,
            false,
            &BigInteger::from_unsigned_bytes(&number.to_be_bytes()).to_int(),
        )?,
    ];
    let tbs: TbsCertList = TbsCertList {
        version: x509_cert::Version::V2,
        signature: signature_algorithm.clone(),
        issuer: issuer.tbs_certificate().subject().clone(),
        this_update: time(this_update)?,
        next_update: Some(time(next_update)?),
        revoked_certificates: None,
        crl_extensions: Some(extensions),
    };
    let signature = signer.sign(&tbs.to_der()?)?;
    Ok(CertificateList::<x509_cert::certificate::Rfc5280> {
        tbs_cert_list: tbs,
        signature_algorithm,
        signature: BitString::from_bytes(&signature)?,
    }
    .to_der()?)
}

fn extension(oid: ObjectIdentifier, critical: bool, value: &impl Encode) -> der::Result<Extension> {
    Ok(Extension {
        extn_id: oid,
        critical,
        extn_value: OctetString::new(value.to_der()?)?,
    })
}

/// RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits.
fn key_identifier(public_key: &SubjectPublicKeyInfoOwned) -> Vec<u8> {
    HashAlgorithm::Sha1.digest(public_key.subject_public_key.raw_bytes())
}

#[cfg(test)]
mod tests {
    use std::{str::FromStr, time::Duration};

    use x509_cert::ext::pkix::SubjectKeyIdentifier;

    use super::*;
    use crate::SoftwareKey;

    /// An end-entity profile for document signing, as a seal certificate would carry.
    fn signing_profile() -> EndEntityProfile {
        EndEntityProfile {
            key_usage: KeyUsage(KeyUsages::DigitalSignature | KeyUsages::NonRepudiation),
            extended_key_usage: Vec::new(),
            extended_key_usage_critical: false,
        }
    }

    #[test]
    fn root_and_end_entity_certificates_carry_their_profiles() {
        let validity = CertificateValidity::starting(SystemTime::now(), Duration::from_secs(3600));
        let root_key = SoftwareKey::generate_p256().unwrap();
        // No C or O in the subject: unlike x509-cert's CA/B profile, nothing is demanded.
        let root = build_root_ca(
            &Name::from_str("CN=Only A Common Name").unwrap(),
            validity,
            &root_key,
        )
        .unwrap();
        let tbs = root.tbs_certificate();
        assert_eq!(tbs.subject(), tbs.issuer());
        let (critical, constraints) = tbs.get_extension::<BasicConstraints>().unwrap().unwrap();
        assert!(critical && constraints.ca);
        let (critical, usage) = tbs.get_extension::<KeyUsage>().unwrap().unwrap();
        assert!(critical && usage.key_cert_sign() && !usage.digital_signature());

        let key = SoftwareKey::generate_p256().unwrap();
        let spki = key.subject_public_key_info().unwrap();
        let leaf = build_end_entity_certificate(
            &Name::from_str("CN=Seal").unwrap(),
            &spki,
            validity,
            &root,
            &root_key,
            &signing_profile(),
        )
        .unwrap();
        let tbs = leaf.tbs_certificate();
        assert_eq!(tbs.issuer(), root.tbs_certificate().subject());
        assert_eq!(tbs.subject_public_key_info(), &spki);
        let (critical, constraints) = tbs.get_extension::<BasicConstraints>().unwrap().unwrap();
        assert!(!critical && !constraints.ca);
        assert!(tbs.get_extension::<ExtendedKeyUsage>().unwrap().is_none());
        let (critical, usage) = tbs.get_extension::<KeyUsage>().unwrap().unwrap();
        assert!(
            critical
                && usage.digital_signature()
                && usage.non_repudiation()
                && !usage.key_cert_sign()
        );
        let (_, aki) = tbs
            .get_extension::<AuthorityKeyIdentifier>()
            .unwrap()
            .unwrap();
        let (_, root_ski) = root
            .tbs_certificate()
            .get_extension::<SubjectKeyIdentifier>()
            .unwrap()
            .unwrap();
        assert_eq!(aki.key_identifier.unwrap(), root_ski.0);
        assert_ne!(tbs.serial_number(), root.tbs_certificate().serial_number());
    }

    #[test]
    fn refuses_bad_inputs() {
        let now = SystemTime::now();
        let key = SoftwareKey::generate_p256().unwrap();
        let backwards = CertificateValidity {
            not_before: now,
            not_after: now - Duration::from_secs(1),
        };
        assert!(matches!(
            build_root_ca(&Name::from_str("CN=R").unwrap(), backwards, &key),
            Err(CertificateError::InvalidValidity)
        ));
        let validity = CertificateValidity::starting(now, Duration::from_secs(60));
        let root = build_root_ca(&Name::from_str("CN=R").unwrap(), validity, &key).unwrap();
        let other = SoftwareKey::generate_p256().unwrap();
        let spki = other.subject_public_key_info().unwrap();
        assert!(matches!(
            build_end_entity_certificate(
                &Name::from_str("CN=T").unwrap(),
                &spki,
                validity,
                &root,
                &other,
                &signing_profile(),
            ),
            Err(CertificateError::IssuerKeyMismatch)
        ));
        let leaf = build_end_entity_certificate(
            &Name::from_str("CN=T").unwrap(),
            &spki,
            validity,
            &root,
            &key,
            &signing_profile(),
        )
        .unwrap();
        assert!(matches!(
            build_end_entity_certificate(
                &Name::from_str("CN=U").unwrap(),
                &spki,
                validity,
                &leaf,
                &other,
                &signing_profile(),
            ),
            Err(CertificateError::IssuerNotCa)
        ));
    }

    #[test]
    fn an_empty_crl_verifies_under_its_issuer_and_revokes_nothing() {
        use crate::revocation::{CertStatusKind, Crl};
        let crate::testing::Pki {
            root,
            root_key,
            leaf,
            now,
        } = crate::testing::Pki::new();
        let start = SystemTime::now();
        let next = start + Duration::from_secs(7 * 24 * 3600);
        let der = build_empty_crl(&root, &root_key, start, next, 7).unwrap();
        let crl = Crl::parse(&der).unwrap();
        let issuer = crate::CertEntry::from_certificate(&root).unwrap();
        let status = crl.status_of(&leaf, &issuer).unwrap();
        assert_eq!(status.kind, CertStatusKind::Good);
        Crl::check_fresh(&status, now, 3600).unwrap();

        // openssl, which nobody here wrote, reads it as a v2 CRL verified by the root, with its number.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("crl.der"), &der).unwrap();
        std::fs::write(dir.path().join("root.der"), root.to_der().unwrap()).unwrap();
        let converted = std::process::Command::new("openssl")
            .args([
                "x509", "-inform", "DER", "-in", "root.der", "-out", "root.pem",
            ])
            .current_dir(dir.path())
            .status()
            .unwrap();
        assert!(converted.success());
        let output = std::process::Command::new("openssl")
            .args([
                "crl", "-inform", "DER", "-in", "crl.der", "-CAfile", "root.pem", "-noout", "-text",
            ])
            .current_dir(dir.path())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&output.stdout).to_string()
            + &String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{text}");
        assert!(text.contains("verify OK"), "{text}");
        assert!(
            text.contains("Version 2") && text.contains("No Revoked Certificates"),
            "{text}"
        );
        assert!(
            text.contains("X509v3 CRL Number") && text.contains("7"),
            "{text}"
        );

        // Only the issuer's key signs its CRL, and the period must run forward.
        let other = SoftwareKey::generate_p256().unwrap();
        assert!(matches!(
            build_empty_crl(&root, &other, start, next, 1),
            Err(CertificateError::IssuerKeyMismatch)
        ));
        assert!(matches!(
            build_empty_crl(&root, &root_key, next, start, 1),
            Err(CertificateError::InvalidValidity)
        ));
    }
}
