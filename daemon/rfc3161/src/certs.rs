//! The local TSA's certificate: [`build_tsa_certificate`] is sigil-cms's end-entity builder with the RFC 3161
//! §2.3 profile. The root CA builder and the certificate types are sigil-cms's, re-exported by this crate.

use spki::SubjectPublicKeyInfoOwned;
use x509_cert::{
    Certificate,
    ext::pkix::{KeyUsage, KeyUsages},
    name::Name,
};

use crate::{CertificateError, CertificateSigner, CertificateValidity, oids};
use sigil_cms::{EndEntityProfile, build_end_entity_certificate};

/// Builds a TSA certificate for `subject_key`, issued by `issuer` and signed by `issuer_signer`:
/// extendedKeyUsage critical with id-kp-timeStamping only (RFC 3161 §2.3), keyUsage critical
/// digitalSignature + nonRepudiation, basicConstraints cA FALSE, subject and authority key identifiers.
///
/// # Errors
/// [`CertificateError`] when the validity is invalid, the issuer is not a CA or does not match the
/// signer, or the signer fails.
pub fn build_tsa_certificate(
    subject: &Name,
    subject_key: &SubjectPublicKeyInfoOwned,
    validity: CertificateValidity,
    issuer: &Certificate,
    issuer_signer: &dyn CertificateSigner,
) -> Result<Certificate, CertificateError> {
    let profile = EndEntityProfile {
        key_usage: KeyUsage(KeyUsages::DigitalSignature | KeyUsages::NonRepudiation),
        extended_key_usage: vec![oids::ID_KP_TIME_STAMPING],
        extended_key_usage_critical: true,
    };
    build_end_entity_certificate(
        subject,
        subject_key,
        validity,
        issuer,
        issuer_signer,
        &profile,
    )
}

#[cfg(test)]
mod tests {
    use std::{
        str::FromStr,
        time::{Duration, SystemTime},
    };

    use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage};

    use super::*;
    use crate::{SoftwareKey, build_root_ca};

    #[test]
    fn tsa_certificates_carry_the_rfc3161_profile() {
        let validity = CertificateValidity::starting(SystemTime::now(), Duration::from_secs(3600));
        let root_key = SoftwareKey::generate_p256().unwrap();
        let root = build_root_ca(&Name::from_str("CN=Root").unwrap(), validity, &root_key).unwrap();
        let tsa_key = SoftwareKey::generate_p256().unwrap();
        let spki = tsa_key.subject_public_key_info().unwrap();
        let tsa = build_tsa_certificate(
            &Name::from_str("CN=TSA").unwrap(),
            &spki,
            validity,
            &root,
            &root_key,
        )
        .unwrap();
        let tbs = tsa.tbs_certificate();
        assert_eq!(tbs.issuer(), root.tbs_certificate().subject());
        let (critical, eku) = tbs.get_extension::<ExtendedKeyUsage>().unwrap().unwrap();
        assert!(critical);
        assert_eq!(eku.0, vec![oids::ID_KP_TIME_STAMPING]);
        let (critical, usage) = tbs.get_extension::<KeyUsage>().unwrap().unwrap();
        assert!(
            critical
                && usage.digital_signature()
                && usage.non_repudiation()
                && !usage.key_cert_sign()
        );
        let (_, constraints) = tbs.get_extension::<BasicConstraints>().unwrap().unwrap();
        assert!(!constraints.ca);
        let other = SoftwareKey::generate_p256().unwrap();
        assert!(matches!(
            build_tsa_certificate(
                &Name::from_str("CN=T").unwrap(),
                &spki,
                validity,
                &root,
                &other
            ),
            Err(CertificateError::IssuerKeyMismatch)
        ));
    }
}
