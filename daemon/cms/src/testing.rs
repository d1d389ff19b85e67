//! A small PKI for this crate's unit tests: a P-256 root and an end-entity certificate it issued.

use std::{
    str::FromStr,
    time::{Duration, SystemTime},
};

use x509_cert::{
    Certificate,
    ext::pkix::{KeyUsage, KeyUsages},
    name::Name,
};

use crate::{
    CertEntry, CertificateValidity, EndEntityProfile, SoftwareKey, build_end_entity_certificate,
    build_root_ca,
};

/// A root and a leaf, valid for an hour from `start`.
pub(crate) struct Pki {
    pub root: Certificate,
    /// The root's key, which issued the leaf.
    pub root_key: SoftwareKey,
    pub leaf: Certificate,
    /// Unix seconds inside both validity periods.
    pub now: i64,
}

impl Pki {
    pub(crate) fn new() -> Self {
        let start = SystemTime::now();
        let validity = CertificateValidity::starting(start, Duration::from_secs(3600));
        let root_key = SoftwareKey::generate_p256().unwrap();
        let root = build_root_ca(
            &Name::from_str("CN=Test Root").unwrap(),
            validity,
            &root_key,
        )
        .unwrap();
        let leaf_key = SoftwareKey::generate_p256().unwrap();
        let leaf = build_end_entity_certificate(
            &Name::from_str("CN=Test Signer").unwrap(),
            &leaf_key.subject_public_key_info().unwrap(),
            validity,
            &root,
            &root_key,
            &EndEntityProfile {
                key_usage: KeyUsage(KeyUsages::DigitalSignature.into()),
                extended_key_usage: Vec::new(),
                extended_key_usage_critical: false,
            },
        )
        .unwrap();
        let now = i64::try_from(
            start
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_secs(),
        )
        .unwrap()
            + 60;
        Self {
            root,
            root_key,
            leaf,
            now,
        }
    }

    pub(crate) fn leaf_entry(&self) -> CertEntry {
        CertEntry::from_certificate(&self.leaf).unwrap()
    }

    pub(crate) fn root_entry(&self) -> CertEntry {
        CertEntry::from_certificate(&self.root).unwrap()
    }
}
