//! Trust anchors and chain classification: [`TrustStore`] holds roots and extra intermediates, and
//! [`classify`] decides whether a signer certificate chains to a root at a given time ([`TrustStatus`]). Every
//! format classifies its signer through it (the time of a time-stamp token is its genTime; a seal's is the
//! time its signature is proven to exist). Revocation is not checked here (no CRL or OCSP fetching in a pure
//! protocol crate).

use x509_cert::{
    Certificate,
    ext::pkix::{BasicConstraints, KeyUsage},
};

use crate::{
    CertEntry, CertificateSummary, MalformedError,
    algorithms::{SignatureCheck, verify},
    certificate::names_equal,
    revocation::issued_by,
    time::unix_seconds,
};

/// How long a chain may be, leaf and root included.
const MAX_CHAIN_LENGTH: usize = 8;

/// Root certificates (trust anchors) and intermediates that may complete a chain or identify a signer
/// whose token does not embed its certificate, plus the verifier's algorithm policy (SHA-1).
#[derive(Clone, Debug, Default)]
pub struct TrustStore {
    roots: Vec<CertEntry>,
    intermediates: Vec<CertEntry>,
    /// (subject DER, issuer DER) pairs whose certificate signature already verified. A TSA signs thousands of
    /// tokens with one certificate; its issuer's signature on it need not be checked again for each. Only
    /// successes are remembered, and validity periods are still checked every time.
    verified_signatures: std::sync::Arc<std::sync::Mutex<VerifiedPairs>>,
    /// Pairs whose check failed for a reason that depends only on the two certificates (a bad signature, an
    /// issuer that is no CA, an unsupported algorithm), so a hostile token that repeats a bad chain costs one
    /// lookup instead of a signature verification. Bounded like the success memo.
    failed_pairs: std::sync::Arc<std::sync::Mutex<FailedPairs>>,
    /// Whether SHA-1 imprints and SHA-1 SignerInfo digests are accepted (verifying old tokens only).
    allow_sha1: bool,
}

impl TrustStore {
    fn memo(&self) -> std::sync::MutexGuard<'_, VerifiedPairs> {
        self.verified_signatures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn failures(&self) -> std::sync::MutexGuard<'_, FailedPairs> {
        self.failed_pairs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Accepts SHA-1 message imprints and SignerInfo digests again, for verifying tokens made before
    /// SHA-1 was retired. Off by default; never use it for tokens being issued or fetched now.
    #[must_use]
    pub fn allowing_sha1(mut self, allow: bool) -> Self {
        self.allow_sha1 = allow;
        self
    }

    /// Whether SHA-1 is accepted (see [`TrustStore::allowing_sha1`]).
    #[must_use]
    pub fn sha1_allowed(&self) -> bool {
        self.allow_sha1
    }

    /// How many trust anchors the store holds.
    #[must_use]
    pub fn root_count(&self) -> usize {
        self.roots.len()
    }

    /// Adds every anchor and intermediate of `other` (their memos are not shared).
    pub fn extend_from(&mut self, other: &TrustStore) {
        for root in &other.roots {
            if !self.roots.iter().any(|known| known.der == root.der) {
                self.roots.push(root.clone());
            }
        }
        for intermediate in &other.intermediates {
            if !self
                .intermediates
                .iter()
                .any(|known| known.der == intermediate.der)
            {
                self.intermediates.push(intermediate.clone());
            }
        }
    }
}

/// (subject DER, issuer DER) pairs whose signature verified.
type VerifiedPairs = std::collections::HashSet<(Vec<u8>, Vec<u8>)>;

/// (subject DER, issuer DER) pairs that can never chain, with the reason.
type FailedPairs = std::collections::HashMap<(Vec<u8>, Vec<u8>), UntrustedReason>;

/// Signature verifications one chain build may spend (memo hits are free). A token can embed many
/// certificates with the same names; without this bound the public verify route would be a CPU amplifier.
const MAX_SIGNATURE_CHECKS: usize = 16;

/// Bound of the verified-signature memo; it is emptied when full (a store sees few distinct chains).
const VERIFIED_SIGNATURES_MAX: usize = 1024;

impl TrustStore {
    /// An empty store: every token classifies as `SelfSigned` or `Untrusted`.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a trust anchor.
    ///
    /// # Errors
    /// [`MalformedError`] if the certificate does not re-encode.
    pub fn add_root(&mut self, certificate: &Certificate) -> Result<(), MalformedError> {
        self.roots.push(entry(certificate)?);
        Ok(())
    }

    /// Adds a trust anchor from DER, keeping its exact bytes.
    ///
    /// # Errors
    /// [`MalformedError`] if the bytes are not a certificate.
    pub fn add_root_der(&mut self, der: &[u8]) -> Result<(), MalformedError> {
        self.roots.push(entry_der(der)?);
        Ok(())
    }

    /// Adds an intermediate (or a TSA certificate for tokens that do not embed theirs).
    ///
    /// # Errors
    /// [`MalformedError`] if the certificate does not re-encode.
    pub fn add_intermediate(&mut self, certificate: &Certificate) -> Result<(), MalformedError> {
        self.intermediates.push(entry(certificate)?);
        Ok(())
    }

    /// Adds an intermediate from DER, keeping its exact bytes.
    ///
    /// # Errors
    /// [`MalformedError`] if the bytes are not a certificate.
    pub fn add_intermediate_der(&mut self, der: &[u8]) -> Result<(), MalformedError> {
        self.intermediates.push(entry_der(der)?);
        Ok(())
    }

    /// Adds every certificate of a PEM bundle as a trust anchor; returns how many.
    ///
    /// # Errors
    /// [`MalformedError`] if the bundle does not parse.
    pub fn add_pem_roots(&mut self, pem: &[u8]) -> Result<usize, MalformedError> {
        let certificates = Certificate::load_pem_chain(pem).map_err(|source| MalformedError {
            what: "PEM certificate bundle",
            source,
        })?;
        for certificate in &certificates {
            self.add_root(certificate)?;
        }
        Ok(certificates.len())
    }

    /// The trust anchors.
    pub fn roots(&self) -> impl Iterator<Item = &Certificate> {
        self.roots.iter().map(|entry| &entry.certificate)
    }

    /// The trust anchors with their exact bytes.
    #[must_use]
    pub fn root_entries(&self) -> &[CertEntry] {
        &self.roots
    }

    /// The intermediates with their exact bytes: chain material, and signer certificates for objects that
    /// do not embed theirs.
    #[must_use]
    pub fn intermediate_entries(&self) -> &[CertEntry] {
        &self.intermediates
    }

    /// `chain` (leaf first, as a signed object carried it) with the issuers it lacks appended from the store's
    /// intermediates and anchors, so that each certificate's issuer is in the result where the store knows it:
    /// what revocation data is fetched with and what a DSS must hold when a token embeds only its signer's
    /// certificate. Issuers are matched by name and signature (not by trust: this completes, it does not
    /// judge); self-issued certificates need none; nothing is appended past eight certificates (a longer chain is
    /// returned as it is).
    #[must_use]
    pub fn complete_chain(&self, chain: &[CertEntry]) -> Vec<CertEntry> {
        let mut out: Vec<CertEntry> = chain.to_vec();
        let mut index = 0;
        while index < out.len() && out.len() < MAX_CHAIN_LENGTH {
            let certificate = &out[index];
            let self_issued = names_equal(
                certificate.certificate.tbs_certificate().issuer(),
                certificate.certificate.tbs_certificate().subject(),
            );
            let has_issuer = self_issued
                || out
                    .iter()
                    .any(|c| c.der != certificate.der && issued_by(certificate, c));
            if !has_issuer
                && let Some(issuer) = self
                    .intermediates
                    .iter()
                    .chain(&self.roots)
                    .find(|c| c.der != certificate.der && issued_by(certificate, c))
            {
                out.push(issuer.clone());
            }
            index += 1;
        }
        out
    }
}

fn entry(certificate: &Certificate) -> Result<CertEntry, MalformedError> {
    CertEntry::from_certificate(certificate).map_err(|source| MalformedError {
        what: "Certificate",
        source,
    })
}

fn entry_der(der: &[u8]) -> Result<CertEntry, MalformedError> {
    CertEntry::from_der(der).map_err(|source| MalformedError {
        what: "Certificate",
        source,
    })
}

/// How far a signer certificate is trusted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrustStatus {
    /// The certificate chains to a trust anchor: issuer names match, every signature verifies and every
    /// certificate is valid at the time in question. `chain` runs from the signer to the anchor.
    Chained {
        /// Signer first, anchor last.
        chain: Vec<CertificateSummary>,
    },
    /// The certificate is self-issued, verifies under its own key and is not a trust anchor.
    SelfSigned {
        /// The certificate itself: what an operator would have to trust.
        top: ChainTop,
    },
    /// No chain to a trust anchor was found.
    Untrusted {
        /// The last obstacle met while building the chain.
        reason: UntrustedReason,
        /// The highest certificate the chain reached: the root an operator would have to trust (or the
        /// certificate whose issuer is missing).
        top: ChainTop,
    },
}

impl TrustStatus {
    /// Whether the signer chains to a configured anchor.
    #[must_use]
    pub fn is_chained(&self) -> bool {
        matches!(self, TrustStatus::Chained { .. })
    }

    /// One sentence for operators: why the chain is not anchored, naming the certificate to trust and its
    /// SHA-256 fingerprint. `None` when chained.
    #[must_use]
    pub fn explanation(&self) -> Option<String> {
        match self {
            TrustStatus::Chained { .. } => None,
            TrustStatus::SelfSigned { top } => Some(format!(
                "the signer certificate is self-signed and not a trust anchor: {top}"
            )),
            TrustStatus::Untrusted { reason, top } => Some(format!(
                "no chain to a configured trust anchor ({reason}); the chain ends at {top}"
            )),
        }
    }
}

/// The certificate where chain building stopped, named so an operator knows exactly what to trust.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainTop {
    /// Subject, RFC 4514.
    pub subject: String,
    /// Issuer, RFC 4514 (equal to the subject for a root).
    pub issuer: String,
    /// SHA-256 of the certificate's DER, lowercase hex.
    pub sha256_hex: String,
}

impl std::fmt::Display for ChainTop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}` (SHA-256 {})", self.subject, self.sha256_hex)?;
        if self.issuer != self.subject {
            write!(f, ", issued by `{}`", self.issuer)?;
        }
        Ok(())
    }
}

impl ChainTop {
    fn of(entry: &CertEntry) -> Self {
        let summary = entry.summary();
        Self {
            subject: summary.subject,
            issuer: summary.issuer,
            sha256_hex: crate::hex(&crate::HashAlgorithm::Sha256.digest(&entry.der)),
        }
    }
}

/// Why no chain was built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UntrustedReason {
    /// No known certificate has the issuer's name.
    #[error("issuer {issuer} is not among the embedded, intermediate or root certificates")]
    IssuerNotFound {
        /// The missing issuer, RFC 4514.
        issuer: String,
    },
    /// An issuer was found but its signature on the certificate does not verify.
    #[error("signature on {subject} does not verify under {issuer}")]
    SignatureInvalid {
        /// The certificate whose signature failed.
        subject: String,
        /// The candidate issuer.
        issuer: String,
    },
    /// A certificate in the chain uses an algorithm this crate does not verify.
    #[error("{subject} is signed with an unsupported algorithm: {detail}")]
    UnsupportedAlgorithm {
        /// The certificate.
        subject: String,
        /// What is unsupported.
        detail: String,
    },
    /// A certificate in the chain is outside its validity period at the time in question.
    #[error("{subject} is not valid at genTime")]
    NotValidAtTime {
        /// The certificate.
        subject: String,
    },
    /// An intermediate is not a CA (basicConstraints) or may not sign certificates (keyUsage).
    #[error("{subject} is not a CA certificate")]
    NotCa {
        /// The certificate.
        subject: String,
    },
    /// The chain exceeds eight certificates.
    #[error("chain longer than {MAX_CHAIN_LENGTH} certificates")]
    ChainTooLong,
    /// Building the chain needed more signature checks than one verification may spend.
    #[error("chain building gave up after {MAX_SIGNATURE_CHECKS} signature checks")]
    TooManyCandidates,
}

/// Classifies `leaf` at Unix time `at`, completing the chain from `embedded` (the certificates the signed
/// object carries), the store's intermediates and its roots. Issuer signatures are checked at most
/// sixteen times per call (memo hits are free), chains are at most eight long, and every certificate above
/// the leaf must be valid at `at`; the leaf's own validity is the caller's rule to check.
#[must_use]
pub fn classify(
    leaf: &CertEntry,
    embedded: &[CertEntry],
    store: &TrustStore,
    at: i64,
) -> TrustStatus {
    if store.root_entries().iter().any(|root| root.der == leaf.der) {
        return TrustStatus::Chained {
            chain: vec![leaf.summary()],
        };
    }
    let pool: Vec<&CertEntry> = embedded
        .iter()
        .chain(store.intermediate_entries())
        .collect();
    let mut budget = MAX_SIGNATURE_CHECKS;
    let mut chain = vec![leaf];
    let mut reason = None;
    'extend: while chain.len() < MAX_CHAIN_LENGTH {
        let current = chain[chain.len() - 1];
        let issuer_name = current.certificate.tbs_certificate().issuer();
        for root in store.root_entries() {
            if !names_equal(root.certificate.tbs_certificate().subject(), issuer_name) {
                continue;
            }
            match check_issued_by(store, current, root, at, false, &mut budget) {
                Ok(()) => {
                    chain.push(root);
                    let chain = chain.iter().map(|entry| entry.summary()).collect();
                    return TrustStatus::Chained { chain };
                }
                Err(why) => reason = Some(why),
            }
        }
        for candidate in &pool {
            if chain.iter().any(|entry| entry.der == candidate.der)
                || !names_equal(
                    candidate.certificate.tbs_certificate().subject(),
                    issuer_name,
                )
            {
                continue;
            }
            match check_issued_by(store, current, candidate, at, true, &mut budget) {
                Ok(()) => {
                    chain.push(candidate);
                    continue 'extend;
                }
                Err(why) => reason = Some(why),
            }
        }
        let reason = reason.unwrap_or_else(|| UntrustedReason::IssuerNotFound {
            issuer: issuer_name.to_string(),
        });
        let top = ChainTop::of(current);
        return if chain.len() == 1 && is_self_signed(leaf) {
            TrustStatus::SelfSigned { top }
        } else {
            TrustStatus::Untrusted { reason, top }
        };
    }
    TrustStatus::Untrusted {
        reason: UntrustedReason::ChainTooLong,
        top: ChainTop::of(chain[chain.len() - 1]),
    }
}

/// Whether `subject` is validly issued by `issuer` at `at`.
fn check_issued_by(
    store: &TrustStore,
    subject: &CertEntry,
    issuer: &CertEntry,
    at: i64,
    must_be_ca: bool,
    budget: &mut usize,
) -> Result<(), UntrustedReason> {
    let issuer_tbs = issuer.certificate.tbs_certificate();
    // The memo is consulted before anything is rendered or parsed: this is the per-token path.
    let pair = (subject.der.clone(), issuer.der.clone());
    if let Some(reason) = store.failures().get(&pair) {
        return Err(reason.clone());
    }
    if store.memo().contains(&pair) {
        return if valid_at(&issuer.certificate, at) {
            Ok(())
        } else {
            Err(UntrustedReason::NotValidAtTime {
                subject: issuer_tbs.subject().to_string(),
            })
        };
    }
    let issuer_name = issuer_tbs.subject().to_string();
    let subject_name = subject.certificate.tbs_certificate().subject().to_string();
    let ca = issuer_tbs
        .get_extension::<BasicConstraints>()
        .ok()
        .flatten()
        .is_some_and(|(_, bc)| bc.ca);
    let may_sign = issuer_tbs
        .get_extension::<KeyUsage>()
        .ok()
        .flatten()
        .is_none_or(|(_, ku)| ku.key_cert_sign());
    if (must_be_ca && !ca) || !may_sign {
        return Err(remember_failure(
            store,
            pair,
            UntrustedReason::NotCa {
                subject: issuer_name,
            },
        ));
    }
    if *budget == 0 {
        return Err(UntrustedReason::TooManyCandidates);
    }
    *budget -= 1;
    let raw = subject
        .raw()
        .map_err(|error| UntrustedReason::UnsupportedAlgorithm {
            subject: subject_name.clone(),
            detail: error.to_string(),
        })?;
    let tbs = der::Encode::to_der(&raw.tbs_certificate).map_err(|error| {
        UntrustedReason::UnsupportedAlgorithm {
            subject: subject_name.clone(),
            detail: error.to_string(),
        }
    })?;
    match verify(
        &raw.signature_algorithm,
        None,
        issuer_tbs.subject_public_key_info(),
        &tbs,
        raw.signature.raw_bytes(),
    ) {
        Ok(_) => {
            let mut verified = store.memo();
            if verified.len() >= VERIFIED_SIGNATURES_MAX {
                verified.clear();
            }
            verified.insert(pair);
        }
        Err(SignatureCheck::Invalid | SignatureCheck::KeyMismatch) => {
            return Err(remember_failure(
                store,
                pair,
                UntrustedReason::SignatureInvalid {
                    subject: subject_name,
                    issuer: issuer_name,
                },
            ));
        }
        Err(other) => {
            return Err(remember_failure(
                store,
                pair,
                UntrustedReason::UnsupportedAlgorithm {
                    subject: subject_name,
                    detail: other.to_string(),
                },
            ));
        }
    }
    if !valid_at(&issuer.certificate, at) {
        return Err(UntrustedReason::NotValidAtTime {
            subject: issuer_name,
        });
    }
    Ok(())
}

/// Remembers that `pair` can never chain (bounded like the success memo) and hands the reason back.
fn remember_failure(
    store: &TrustStore,
    pair: (Vec<u8>, Vec<u8>),
    reason: UntrustedReason,
) -> UntrustedReason {
    let mut failed = store.failures();
    if failed.len() >= VERIFIED_SIGNATURES_MAX {
        failed.clear();
    }
    failed.insert(pair, reason.clone());
    reason
}

/// Whether `certificate` is within its validity period at Unix time `at` (bounds included).
#[must_use]
pub fn valid_at(certificate: &Certificate, at: i64) -> bool {
    let validity = certificate.tbs_certificate().validity();
    unix_seconds(&validity.not_before) <= at && at <= unix_seconds(&validity.not_after)
}

fn is_self_signed(entry: &CertEntry) -> bool {
    let tbs = entry.certificate.tbs_certificate();
    if !names_equal(tbs.subject(), tbs.issuer()) {
        return false;
    }
    let Ok(raw) = entry.raw() else { return false };
    let Ok(tbs_der) = der::Encode::to_der(&raw.tbs_certificate) else {
        return false;
    };
    verify(
        &raw.signature_algorithm,
        None,
        tbs.subject_public_key_info(),
        &tbs_der,
        raw.signature.raw_bytes(),
    )
    .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Pki;

    #[test]
    fn a_leaf_issued_by_an_anchor_is_chained() {
        let pki = Pki::new();
        let mut store = TrustStore::new();
        store.add_root(&pki.root).unwrap();
        let status = classify(&pki.leaf_entry(), &[], &store, pki.now);
        let TrustStatus::Chained { chain } = &status else {
            panic!("not chained: {status:?}");
        };
        assert_eq!(chain.len(), 2);
        assert_eq!(chain[0].subject, "CN=Test Signer");
        assert_eq!(chain[1].subject, "CN=Test Root");
        assert_eq!(status.explanation(), None);
        // The second classification is served by the memo and agrees.
        assert_eq!(classify(&pki.leaf_entry(), &[], &store, pki.now), status);
        // An anchor classifies as a chain of itself.
        assert!(classify(&pki.root_entry(), &[], &store, pki.now).is_chained());
    }

    #[test]
    fn unanchored_chains_name_what_to_trust() {
        let pki = Pki::new();
        let empty = TrustStore::new();
        match classify(&pki.leaf_entry(), &[], &empty, pki.now) {
            TrustStatus::Untrusted {
                reason: UntrustedReason::IssuerNotFound { issuer },
                top,
            } => {
                assert_eq!(issuer, "CN=Test Root");
                assert_eq!(top.subject, "CN=Test Signer");
            }
            other => panic!("unexpected {other:?}"),
        }
        // The root embedded but not trusted: the chain reaches it and stops there.
        let embedded = [pki.root_entry()];
        match classify(&pki.leaf_entry(), &embedded, &empty, pki.now) {
            TrustStatus::Untrusted { top, .. } => assert_eq!(top.subject, "CN=Test Root"),
            other => panic!("unexpected {other:?}"),
        }
        let status = classify(&pki.root_entry(), &[], &empty, pki.now);
        assert!(matches!(status, TrustStatus::SelfSigned { .. }));
        assert!(status.explanation().unwrap().contains("self-signed"));
    }

    #[test]
    fn an_issuer_outside_its_validity_does_not_chain() {
        let pki = Pki::new();
        let mut store = TrustStore::new();
        store.add_root(&pki.root).unwrap();
        let later = pki.now + 2 * 3600;
        assert!(matches!(
            classify(&pki.leaf_entry(), &[], &store, later),
            TrustStatus::Untrusted {
                reason: UntrustedReason::NotValidAtTime { .. },
                ..
            }
        ));
        assert!(valid_at(&pki.leaf, pki.now) && !valid_at(&pki.leaf, later));
    }

    #[test]
    fn stores_merge_without_duplicates() {
        let pki = Pki::new();
        let mut a = TrustStore::new();
        a.add_root(&pki.root).unwrap();
        let mut b = TrustStore::new();
        b.add_root_der(&der::Encode::to_der(&pki.root).unwrap())
            .unwrap();
        b.add_intermediate(&pki.leaf).unwrap();
        a.extend_from(&b);
        assert_eq!(a.root_count(), 1);
        assert_eq!(a.intermediate_entries().len(), 1);
        assert!(
            TrustStore::new()
                .add_root_der(b"not a certificate")
                .is_err()
        );
        assert!(!a.sha1_allowed() && a.allowing_sha1(true).sha1_allowed());
    }

    #[test]
    fn a_chain_is_completed_with_the_issuers_the_store_knows() {
        let pki = Pki::new();
        let mut store = TrustStore::new();
        store.add_root(&pki.root).unwrap();
        // A lone leaf gets its anchor appended; the anchor itself is self-issued and needs nothing more.
        let completed = store.complete_chain(&[pki.leaf_entry()]);
        assert_eq!(completed, vec![pki.leaf_entry(), pki.root_entry()]);
        // A chain that already holds its issuer, or an issuer the store does not know, is left as it is.
        let whole = [pki.leaf_entry(), pki.root_entry()];
        assert_eq!(store.complete_chain(&whole), whole.to_vec());
        assert_eq!(
            TrustStore::new().complete_chain(&[pki.leaf_entry()]),
            vec![pki.leaf_entry()]
        );
        // A certificate of the same name but another key does not complete it: the signature decides.
        let other = Pki::new();
        let mut impostor = TrustStore::new();
        impostor.add_root(&other.root).unwrap();
        assert_eq!(
            impostor.complete_chain(&[pki.leaf_entry()]),
            vec![pki.leaf_entry()]
        );
    }
}
