//! The ESS signing-certificate attributes (RFC 2634 §5.4, RFC 5035): [`check_signing_certificate`] checks that
//! the signed attributes of a SignerInfo name the certificate whose key made the signature, which every CMS
//! verifier needs (RFC 3161 tokens, CAdES and PAdES signatures), and reports which attribute bound it.

use der::{Decode, Encode, asn1::ObjectIdentifier};
use x509_cert::{Certificate, ext::pkix::name::GeneralName};

use crate::{
    BigInteger, CertEntry, HashAlgorithm,
    asn1::{Attribute, IssuerSerial, SetOf, SigningCertificate, SigningCertificateV2},
    certificate::names_equal,
    oids,
};

/// The name of the `signing-certificate-v2` attribute in errors.
pub const SIGNING_CERTIFICATE_V2: &str = "signing-certificate-v2";
/// The name of the `signing-certificate` attribute in errors.
pub const SIGNING_CERTIFICATE: &str = "signing-certificate";

/// Which ESS signing-certificate attribute bound the signature to the signer certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EssBinding {
    /// `signing-certificate-v2` (RFC 5035) with this hash.
    SigningCertificateV2(HashAlgorithm),
    /// `signing-certificate` (RFC 2634, SHA-1 as a certificate identifier, which RFC 5816 still allows).
    SigningCertificate,
}

/// Why the signed attributes do not bind the signer certificate.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EssError {
    /// Neither attribute is present.
    #[error("signed attribute signing-certificate or signing-certificate-v2 is missing")]
    Missing,
    /// The attribute (named) occurs twice, has other than one value, lists no certificate or does not
    /// decode.
    #[error("signed attribute {0} is malformed")]
    Malformed(&'static str),
    /// The ESSCertIDv2 uses a hash algorithm this crate does not compute.
    #[error("unsupported digest algorithm {0}")]
    UnsupportedHash(ObjectIdentifier),
    /// The attribute (named) identifies another certificate: its hash or its issuer and serial differ.
    #[error("{0} attribute does not match the signer certificate")]
    Mismatch(&'static str),
}

/// Checks that `attributes` (a SignerInfo's signed attributes) bind `signer`: `signing-certificate-v2` when
/// present, otherwise `signing-certificate`; the first ESSCertID must hash the signer certificate's bytes
/// as received and, when it carries an IssuerSerial, name the signer's issuer and serial. Other entries of the
/// attribute (the rest of the chain) and its policies are not checked.
///
/// # Errors
/// [`EssError`] naming the attribute and what is wrong with it.
pub fn check_signing_certificate(
    attributes: &SetOf<Attribute>,
    signer: &CertEntry,
) -> Result<EssBinding, EssError> {
    const V2: &str = SIGNING_CERTIFICATE_V2;
    const V1: &str = SIGNING_CERTIFICATE;
    let value = |oid, name| {
        attributes
            .single_value(oid)
            .map_err(|_| EssError::Malformed(name))
    };
    if let Some(value) = value(oids::ID_AA_SIGNING_CERTIFICATE_V2, V2)? {
        let attribute =
            SigningCertificateV2::from_der(&value.to_der().map_err(|_| EssError::Malformed(V2))?)
                .map_err(|_| EssError::Malformed(V2))?;
        let first = attribute.certs.first().ok_or(EssError::Malformed(V2))?;
        let hash = match &first.hash_algorithm {
            None => HashAlgorithm::Sha256,
            Some(alg) => HashAlgorithm::from_algorithm_identifier(alg)
                .ok_or(EssError::UnsupportedHash(alg.oid))?,
        };
        if hash.digest(&signer.der) != first.cert_hash.as_bytes()
            || !issuer_serial_matches(first.issuer_serial.as_ref(), &signer.certificate)
        {
            return Err(EssError::Mismatch(V2));
        }
        return Ok(EssBinding::SigningCertificateV2(hash));
    }
    if let Some(value) = value(oids::ID_AA_SIGNING_CERTIFICATE, V1)? {
        let attribute =
            SigningCertificate::from_der(&value.to_der().map_err(|_| EssError::Malformed(V1))?)
                .map_err(|_| EssError::Malformed(V1))?;
        let first = attribute.certs.first().ok_or(EssError::Malformed(V1))?;
        if HashAlgorithm::Sha1.digest(&signer.der) != first.cert_hash.as_bytes()
            || !issuer_serial_matches(first.issuer_serial.as_ref(), &signer.certificate)
        {
            return Err(EssError::Mismatch(V1));
        }
        return Ok(EssBinding::SigningCertificate);
    }
    Err(EssError::Missing)
}

/// Whether an ESSCertID's optional IssuerSerial names `certificate` (true when absent): the serial as an
/// integer and one of the issuer names as a directoryName equal to the certificate's issuer.
#[must_use]
pub fn issuer_serial_matches(
    issuer_serial: Option<&IssuerSerial>,
    certificate: &Certificate,
) -> bool {
    let Some(issuer_serial) = issuer_serial else {
        return true;
    };
    let tbs = certificate.tbs_certificate();
    let serial_ok = BigInteger::from_int(&issuer_serial.serial_number)
        == BigInteger::from_twos_complement(tbs.serial_number().as_bytes());
    let issuer_ok = issuer_serial.issuer.iter().any(|name| match name {
        GeneralName::DirectoryName(name) => names_equal(name, tbs.issuer()),
        _ => false,
    });
    serial_ok && issuer_ok
}

#[cfg(test)]
mod tests {
    use der::asn1::{Any, OctetString};

    use super::*;
    use crate::{
        asn1::{EssCertId, EssCertIdV2, IssuerAndSerialNumber, SignerIdentifier},
        testing::Pki,
    };

    fn attribute(oid: ObjectIdentifier, value: &impl Encode) -> Attribute {
        Attribute {
            attr_type: oid,
            attr_values: SetOf(vec![Any::from_der(&value.to_der().unwrap()).unwrap()]),
        }
    }

    fn issuer_serial(certificate: &Certificate) -> IssuerSerial {
        let tbs = certificate.tbs_certificate();
        IssuerSerial {
            issuer: vec![GeneralName::DirectoryName(tbs.issuer().clone())],
            serial_number: der::asn1::Int::new(tbs.serial_number().as_bytes()).unwrap(),
        }
    }

    fn v2(hash: &[u8], issuer_serial: Option<IssuerSerial>) -> Attribute {
        attribute(
            oids::ID_AA_SIGNING_CERTIFICATE_V2,
            &SigningCertificateV2 {
                certs: vec![EssCertIdV2 {
                    hash_algorithm: None,
                    cert_hash: OctetString::new(hash).unwrap(),
                    issuer_serial,
                }],
                policies: None,
            },
        )
    }

    #[test]
    fn binds_the_signer_by_either_attribute() {
        let pki = Pki::new();
        let signer = pki.leaf_entry();
        let sha256 = HashAlgorithm::Sha256.digest(&signer.der);
        let attributes = SetOf(vec![v2(&sha256, Some(issuer_serial(&pki.leaf)))]);
        assert_eq!(
            check_signing_certificate(&attributes, &signer),
            Ok(EssBinding::SigningCertificateV2(HashAlgorithm::Sha256))
        );

        let v1 = attribute(
            oids::ID_AA_SIGNING_CERTIFICATE,
            &SigningCertificate {
                certs: vec![EssCertId {
                    cert_hash: OctetString::new(HashAlgorithm::Sha1.digest(&signer.der)).unwrap(),
                    issuer_serial: None,
                }],
                policies: None,
            },
        );
        assert_eq!(
            check_signing_certificate(&SetOf(vec![v1]), &signer),
            Ok(EssBinding::SigningCertificate)
        );
    }

    #[test]
    fn names_what_is_wrong() {
        let pki = Pki::new();
        let signer = pki.leaf_entry();
        let sha256 = HashAlgorithm::Sha256.digest(&signer.der);
        assert_eq!(
            check_signing_certificate(&SetOf(Vec::new()), &signer),
            Err(EssError::Missing)
        );
        // Another certificate's hash, and the right hash with another certificate's issuer and serial.
        let root_hash = HashAlgorithm::Sha256.digest(&pki.root_entry().der);
        for attribute in [
            v2(&root_hash, None),
            v2(&sha256, Some(issuer_serial(&pki.root))),
        ] {
            assert_eq!(
                check_signing_certificate(&SetOf(vec![attribute]), &signer),
                Err(EssError::Mismatch(SIGNING_CERTIFICATE_V2))
            );
        }
        let twice = SetOf(vec![v2(&sha256, None), v2(&sha256, None)]);
        assert_eq!(
            check_signing_certificate(&twice, &signer),
            Err(EssError::Malformed(SIGNING_CERTIFICATE_V2))
        );
        let garbage = attribute(oids::ID_AA_SIGNING_CERTIFICATE_V2, &true);
        assert_eq!(
            check_signing_certificate(&SetOf(vec![garbage]), &signer),
            Err(EssError::Malformed(SIGNING_CERTIFICATE_V2))
        );
    }

    #[test]
    fn signer_identifiers_match_their_certificate_only() {
        let pki = Pki::new();
        let tbs = pki.leaf.tbs_certificate();
        let by_serial = SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: tbs.issuer().clone(),
            serial_number: der::asn1::Int::new(tbs.serial_number().as_bytes()).unwrap(),
        });
        assert!(by_serial.matches(&pki.leaf) && !by_serial.matches(&pki.root));
        let (_, ski) = tbs
            .get_extension::<x509_cert::ext::pkix::SubjectKeyIdentifier>()
            .unwrap()
            .unwrap();
        let by_key = SignerIdentifier::SubjectKeyIdentifier(ski.0.clone());
        assert!(by_key.matches(&pki.leaf) && !by_key.matches(&pki.root));
    }
}
