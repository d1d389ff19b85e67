//! What the revocation data a seal carries says about its signer: OCSP responses and CRLs embedded in the
//! CMS (`RevocationInfoChoices`) or beside it (a PDF's DSS), each verified through sigil-cms against an
//! issuer that really issued the signer certificate. Nothing is fetched here; absent data is `none`.

use der::{Encode, Sequence, asn1::Any, asn1::ObjectIdentifier};
use sigil_cms::{
    CertEntry, SubIndication, Verdict,
    revocation::{
        CertStatus, CertStatusKind, Crl, ID_RI_OCSP_RESPONSE, OcspResponse, RevocationError,
        issued_by,
    },
    time::rfc3339,
};

/// Validation data found beside a signature (a PDF's DSS): certificates, OCSP responses and CRLs, DER.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ValidationData {
    /// Certificates (issuers, responders).
    pub certs: Vec<Vec<u8>>,
    /// `OCSPResponse`s.
    pub ocsps: Vec<Vec<u8>>,
    /// `CertificateList`s.
    pub crls: Vec<Vec<u8>>,
}

/// What the embedded revocation data says about the signer certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RevocationStatus {
    /// No verified OCSP response or CRL covers the signer.
    None,
    /// Not revoked when the data was produced.
    Good,
    /// Revoked.
    Revoked {
        /// The revocation time, RFC 3339.
        time: String,
        /// The revocation time, Unix seconds.
        time_unix: i64,
        /// The RFC 5280 reason code, if stated.
        reason: Option<u8>,
    },
    /// The OCSP responder did not know the certificate.
    Unknown,
    /// The only data saying the signer is not revoked proves nothing about the signature: produced before
    /// the trusted signature time-stamp, or, without one, no longer current (see the report's note).
    Stale,
}

impl RevocationStatus {
    /// `none`, `good`, `revoked`, `unknown`, `stale`.
    #[must_use]
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Good => "good",
            Self::Revoked { .. } => "revoked",
            Self::Unknown => "unknown",
            Self::Stale => "stale",
        }
    }
}

/// The signer's revocation status and where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevocationReport {
    /// The status.
    pub status: RevocationStatus,
    /// `ocsp` or `crl`; `None` with [`RevocationStatus::None`].
    pub source: Option<&'static str>,
    /// When the data was produced (OCSP `producedAt`, CRL `thisUpdate`), RFC 3339.
    pub produced_at: Option<String>,
    /// Embedded data about the signer that did not verify, and why.
    pub problems: Vec<String>,
    /// Why the status is `stale`.
    pub note: Option<String>,
}

impl RevocationReport {
    /// No data.
    #[must_use]
    pub fn none() -> Self {
        Self {
            status: RevocationStatus::None,
            source: None,
            produced_at: None,
            problems: Vec::new(),
            note: None,
        }
    }
}

/// `OtherRevocationInfoFormat` (RFC 5652 §10.2.1).
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
struct OtherRevocationInfoFormat {
    other_rev_info_format: ObjectIdentifier,
    other_rev_info: Any,
}

/// Splits a SignedData's `RevocationInfoChoices` into CRLs and (RFC 5940) OCSP responses.
pub(crate) fn from_revocation_choices(choices: &[Any], into: &mut ValidationData) {
    for choice in choices {
        let tag = der::Tagged::tag(choice);
        if tag == der::Tag::Sequence {
            if let Ok(der) = choice.to_der() {
                into.crls.push(der);
            }
        } else if tag.number() == der::TagNumber(1) && tag.is_context_specific() {
            let other = Any::new(der::Tag::Sequence, choice.value())
                .ok()
                .and_then(|any| any.decode_as::<OtherRevocationInfoFormat>().ok());
            if let Some(other) = other
                && other.other_rev_info_format == ID_RI_OCSP_RESPONSE
                && let Ok(der) = other.other_rev_info.to_der()
            {
                into.ocsps.push(der);
            }
        }
    }
}

/// At most this many distinct entries of each kind (certificates, OCSP responses, CRLs) are read from
/// [`ValidationData`]; a DSS can list the same stream, or many streams, any number of times.
pub const MAX_VALIDATION_ENTRIES: usize = 64;

/// [`ValidationData`] parsed once, without duplicates and capped at [`MAX_VALIDATION_ENTRIES`] of each kind,
/// for judging every signature of a document.
#[derive(Debug, Default)]
pub struct PreparedValidationData {
    certs: Vec<CertEntry>,
    ocsps: Vec<Result<OcspResponse, RevocationError>>,
    crls: Vec<Result<Crl, RevocationError>>,
    /// How many entries were left out as duplicates or past the cap.
    pub dropped: usize,
}

impl ValidationData {
    /// Parses the entries once: duplicates removed, at most [`MAX_VALIDATION_ENTRIES`] of each kind kept.
    #[must_use]
    pub fn prepare(&self) -> PreparedValidationData {
        let mut dropped = 0;
        let mut distinct = |list: &[Vec<u8>]| -> Vec<Vec<u8>> {
            let mut kept: Vec<Vec<u8>> = Vec::new();
            for der in list {
                if kept.len() < MAX_VALIDATION_ENTRIES && !kept.contains(der) {
                    kept.push(der.clone());
                } else {
                    dropped += 1;
                }
            }
            kept
        };
        let (certs, ocsps, crls) = (
            distinct(&self.certs),
            distinct(&self.ocsps),
            distinct(&self.crls),
        );
        PreparedValidationData {
            certs: certs
                .iter()
                .filter_map(|der| CertEntry::from_der(der).ok())
                .collect(),
            ocsps: ocsps.iter().map(|der| OcspResponse::parse(der)).collect(),
            crls: crls.iter().map(|der| Crl::parse(der)).collect(),
            dropped,
        }
    }
}

/// `certificateHold` (RFC 5280 §5.3.1): revoked for now, may be released.
const REASON_CERTIFICATE_HOLD: u8 = 6;
/// `removeFromCRL` (RFC 5280 §5.3.1): the certificate is no longer (on hold, so) revoked.
const REASON_REMOVE_FROM_CRL: u8 = 8;

/// One verified statement about the signer.
struct Answer {
    source: &'static str,
    status: CertStatus,
}

impl Answer {
    /// Not revoked: `good`, or an entry that only says `removeFromCRL`.
    fn not_revoked(&self) -> bool {
        matches!(
            self.status.kind,
            CertStatusKind::Good
                | CertStatusKind::Revoked {
                    reason: Some(REASON_REMOVE_FROM_CRL),
                    ..
                }
        )
    }

    fn revoked_reason(&self) -> Option<Option<u8>> {
        match self.status.kind {
            CertStatusKind::Revoked { reason, .. } if reason != Some(REASON_REMOVE_FROM_CRL) => {
                Some(reason)
            }
            _ => None,
        }
    }

    /// The newer of two answers, OCSP preferred on a tie.
    fn newer_than(&self, other: &Answer) -> bool {
        (self.status.this_update, self.source == "ocsp")
            > (other.status.this_update, other.source == "ocsp")
    }
}

/// Judges the signer's revocation status from `sets`, with issuers looked for among `known` and the sets'
/// certificates (an issuer counts only if its key verifies the signer certificate).
///
/// What the data says decides, not where it comes from: a verified permanent revocation wins over everything
/// (the earliest revocation time when several say so); a `certificateHold` counts as revoked unless a later
/// answer says the certificate is not revoked; `removeFromCRL` counts as not revoked. Only then is a `good`
/// chosen (the newest), and only one that proves something about the signature: made at or after `proven`
/// (the trusted signature time-stamp's time), or, with no such proof, current at `now` (within its
/// `nextUpdate`). A `good` that proves nothing is `stale`, with a note; `unknown` comes before it.
pub(crate) fn judge_revocation<'a>(
    signer: &CertEntry,
    known: impl Iterator<Item = &'a CertEntry>,
    sets: &[&PreparedValidationData],
    proven: Option<i64>,
    now: i64,
) -> RevocationReport {
    let mut report = RevocationReport::none();
    if sets
        .iter()
        .all(|set| set.ocsps.is_empty() && set.crls.is_empty())
    {
        return report;
    }
    let is_issuer =
        |candidate: &&CertEntry| candidate.der != signer.der && issued_by(signer, candidate);
    let mut known = known;
    let Some(issuer) = known
        .find(is_issuer)
        .or_else(|| sets.iter().flat_map(|set| set.certs.iter()).find(is_issuer))
    else {
        return report;
    };
    let mut answers = Vec::new();
    let mut problems = Vec::new();
    let mut consider = |source: &'static str, outcome: Result<CertStatus, RevocationError>| {
        match outcome {
            Ok(status) => answers.push(Answer { source, status }),
            // Data about other certificates (the issuer's own, the TSA's) is expected beside the signer's.
            Err(RevocationError::NotCovered(_)) => {}
            Err(error) => problems.push(format!("{source}: {error}")),
        }
    };
    for set in sets {
        for parsed in &set.ocsps {
            let outcome = match parsed {
                Ok(response) => response.status_of(&signer.certificate, issuer),
                Err(error) => Err(error.clone()),
            };
            consider("ocsp", outcome);
        }
        for parsed in &set.crls {
            let outcome = match parsed {
                Ok(crl) => crl.status_of(&signer.certificate, issuer),
                Err(error) => Err(error.clone()),
            };
            consider("crl", outcome);
        }
    }
    report.problems = problems;
    let revoked = |answer: &Answer, reason: Option<u8>| RevocationStatus::Revoked {
        time: rfc3339(revoked_time(answer)),
        time_unix: revoked_time(answer),
        reason,
    };
    let permanent = answers
        .iter()
        .filter(|a| matches!(a.revoked_reason(), Some(r) if r != Some(REASON_CERTIFICATE_HOLD)))
        .min_by_key(|a| revoked_time(a));
    let hold = answers
        .iter()
        .filter(|a| a.revoked_reason() == Some(Some(REASON_CERTIFICATE_HOLD)))
        .filter(|hold| {
            !answers
                .iter()
                .any(|a| a.not_revoked() && a.status.this_update > hold.status.this_update)
        })
        .min_by_key(|a| revoked_time(a));
    if let Some(answer) = permanent.or(hold) {
        report.set(answer, revoked(answer, answer.revoked_reason().flatten()));
        return report;
    }
    let newest = |filter: &dyn Fn(&Answer) -> bool| -> Option<&Answer> {
        answers
            .iter()
            .filter(|a| filter(a))
            .fold(None, |best: Option<&Answer>, a| match best {
                Some(best) if !a.newer_than(best) => Some(best),
                _ => Some(a),
            })
    };
    let proves = |a: &Answer| match proven {
        Some(signed) => a.status.this_update >= signed,
        None => OcspResponse::check_fresh(&a.status, now, 0).is_ok(),
    };
    if let Some(answer) = newest(&|a: &Answer| a.not_revoked() && proves(a)) {
        report.set(answer, RevocationStatus::Good);
    } else if let Some(answer) =
        newest(&|a: &Answer| matches!(a.status.kind, CertStatusKind::Unknown))
    {
        report.set(answer, RevocationStatus::Unknown);
    } else if let Some(answer) = newest(&Answer::not_revoked) {
        report.set(answer, RevocationStatus::Stale);
        report.note = Some(match proven {
            Some(signed) => format!(
                "the newest revocation data saying the signer is not revoked ({}, thisUpdate {}) predates the \
                 signature time-stamp ({}), so it does not show the certificate was unrevoked when it signed",
                answer.source,
                rfc3339(answer.status.this_update),
                rfc3339(signed)
            ),
            None => format!(
                "the newest revocation data saying the signer is not revoked ({}, thisUpdate {}) is no longer \
                 current, and no trusted time-stamp proves when the signature was made",
                answer.source,
                rfc3339(answer.status.this_update)
            ),
        });
    }
    report
}

fn revoked_time(answer: &Answer) -> i64 {
    match answer.status.kind {
        CertStatusKind::Revoked { time, .. } => time,
        _ => i64::MAX,
    }
}

impl RevocationReport {
    fn set(&mut self, answer: &Answer, status: RevocationStatus) {
        self.status = status;
        self.source = Some(answer.source);
        self.produced_at = Some(rfc3339(answer.status.produced_at));
    }
}

/// The verdict of an otherwise sound seal whose signer is revoked: `FAILED REVOKED` when a trusted
/// time-stamp shows the signature was made at or after the revocation; otherwise `INDETERMINATE
/// REVOKED_NO_POE`. Never `PASSED`: even a signature proven to predate the revocation is not passed, because
/// the long-term validation that could pass it (EN 319 102-1 §5.6) is not built.
pub(crate) fn revoked_verdict(revoked_at: i64, proven_existence: Option<i64>) -> Verdict {
    match proven_existence {
        Some(existed) if existed >= revoked_at => Verdict::failed(
            SubIndication::Revoked,
            format!(
                "the signer certificate was revoked at {}, before the signature time-stamp ({})",
                rfc3339(revoked_at),
                rfc3339(existed)
            ),
        ),
        Some(existed) => Verdict::indeterminate(
            SubIndication::RevokedNoPoe,
            format!(
                "the signer certificate was revoked at {}, after the signature time-stamp ({}); a revoked \
                 certificate's seal is not passed without long-term validation",
                rfc3339(revoked_at),
                rfc3339(existed)
            ),
        ),
        None => Verdict::indeterminate(
            SubIndication::RevokedNoPoe,
            format!(
                "the signer certificate was revoked at {} and no trusted time-stamp proves the signature \
                 existed before",
                rfc3339(revoked_at)
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use der::Decode;

    #[test]
    fn a_revoked_signer_is_never_passed() {
        let cases = [
            (100, Some(150), SubIndication::Revoked),
            (100, Some(100), SubIndication::Revoked),
            (100, Some(50), SubIndication::RevokedNoPoe),
            (100, None, SubIndication::RevokedNoPoe),
        ];
        for (revoked_at, existed, sub) in cases {
            let verdict = revoked_verdict(revoked_at, existed);
            assert!(!verdict.passed());
            assert_eq!(
                verdict.sub_indication,
                Some(sub),
                "{revoked_at} {existed:?}"
            );
        }
    }

    #[test]
    fn revocation_choices_split_into_crls_and_ocsp_responses() {
        let crl = Any::new(der::Tag::Sequence, vec![0x02, 0x01, 0x01]).unwrap();
        let ocsp_body = [0x30u8, 0x03, 0x0a, 0x01, 0x00];
        let other = OtherRevocationInfoFormat {
            other_rev_info_format: ID_RI_OCSP_RESPONSE,
            other_rev_info: Any::from_der(&ocsp_body).unwrap(),
        };
        let inner = other.to_der().unwrap();
        let tagged = Any::new(
            der::Tag::ContextSpecific {
                constructed: true,
                number: der::TagNumber(1),
            },
            // The IMPLICIT [1] replaces the SEQUENCE header: its contents are the SEQUENCE's.
            inner[2..].to_vec(),
        )
        .unwrap();
        let mut data = ValidationData::default();
        from_revocation_choices(&[crl.clone(), tagged], &mut data);
        assert_eq!(data.crls, vec![crl.to_der().unwrap()]);
        assert_eq!(data.ocsps, vec![ocsp_body.to_vec()]);
    }

    /// The revocation test PKI (`tests/fixtures/revocation/make-pki.sh`) and openssl to make its data.
    struct Pki(tempfile::TempDir);

    impl Pki {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            let script = concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../tests/fixtures/revocation/make-pki.sh"
            );
            let pki = Pki(dir);
            pki.run("sh", &[script, "19001", "19002"]);
            std::fs::copy(pki.path("index.txt"), pki.path("index.orig")).unwrap();
            pki
        }

        fn path(&self, name: &str) -> std::path::PathBuf {
            self.0.path().join(name)
        }

        fn run(&self, program: &str, args: &[&str]) {
            let output = std::process::Command::new(program)
                .args(args)
                .current_dir(self.0.path())
                .output()
                .unwrap();
            assert!(
                output.status.success(),
                "{program} {args:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }

        fn cert(&self, name: &str) -> CertEntry {
            let pem = std::fs::read(self.path(&format!("{name}.pem"))).unwrap();
            let certificate = sigil_cms::Certificate::load_pem_chain(&pem)
                .unwrap()
                .remove(0);
            CertEntry::from_certificate(&certificate).unwrap()
        }

        /// Back to the CA database of make-pki.sh (only `revoked` revoked), then `name` revoked for `reason`.
        fn index(&self, revoke: Option<(&str, &str)>) {
            std::fs::copy(self.path("index.orig"), self.path("index.txt")).unwrap();
            if let Some((name, reason)) = revoke {
                let pem = format!("{name}.pem");
                self.run(
                    "openssl",
                    &[
                        "ca",
                        "-config",
                        "ca.cnf",
                        "-cert",
                        "ca.pem",
                        "-keyfile",
                        "ca.key",
                        "-revoke",
                        &pem,
                        "-crl_reason",
                        reason,
                    ],
                );
            }
        }

        /// A CRL of the current database with the given update times (`YYYYMMDDHHMMSSZ`), DER.
        fn crl(&self, last: i64, next: i64) -> Vec<u8> {
            let (last, next) = (openssl_time(last), openssl_time(next));
            self.run(
                "openssl",
                &[
                    "ca",
                    "-gencrl",
                    "-config",
                    "ca.cnf",
                    "-cert",
                    "ca.pem",
                    "-keyfile",
                    "ca.key",
                    "-crl_lastupdate",
                    &last,
                    "-crl_nextupdate",
                    &next,
                    "-out",
                    "t.crl.pem",
                ],
            );
            self.run(
                "openssl",
                &[
                    "crl",
                    "-in",
                    "t.crl.pem",
                    "-outform",
                    "DER",
                    "-out",
                    "t.crl.der",
                ],
            );
            std::fs::read(self.path("t.crl.der")).unwrap()
        }

        /// The delegated responder's answer about `name` from the current database, DER.
        fn ocsp(&self, name: &str) -> Vec<u8> {
            let pem = format!("{name}.pem");
            self.run(
                "openssl",
                &[
                    "ocsp",
                    "-issuer",
                    "ca.pem",
                    "-cert",
                    &pem,
                    "-no_nonce",
                    "-reqout",
                    "t.req",
                ],
            );
            self.run(
                "openssl",
                &[
                    "ocsp",
                    "-index",
                    "index.txt",
                    "-rsigner",
                    "ocsp.pem",
                    "-rkey",
                    "ocsp.key",
                    "-CA",
                    "ca.pem",
                    "-reqin",
                    "t.req",
                    "-respout",
                    "t.resp",
                    "-nmin",
                    "10",
                ],
            );
            std::fs::read(self.path("t.resp")).unwrap()
        }
    }

    fn openssl_time(unix: i64) -> String {
        let time = der::DateTime::from_unix_duration(std::time::Duration::from_secs(
            u64::try_from(unix).unwrap(),
        ))
        .unwrap();
        format!(
            "{:04}{:02}{:02}{:02}{:02}{:02}Z",
            time.year(),
            time.month(),
            time.day(),
            time.hour(),
            time.minutes(),
            time.seconds()
        )
    }

    fn now() -> i64 {
        i64::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs(),
        )
        .unwrap()
    }

    fn judge(
        pki: &Pki,
        signer: &str,
        ocsps: Vec<Vec<u8>>,
        crls: Vec<Vec<u8>>,
        proven: Option<i64>,
    ) -> RevocationReport {
        let ca = pki.cert("ca");
        let data = ValidationData {
            certs: Vec::new(),
            ocsps,
            crls,
        }
        .prepare();
        judge_revocation(
            &pki.cert(signer),
            std::iter::once(&ca),
            &[&data],
            proven,
            now(),
        )
    }

    #[test]
    fn a_revocation_wins_over_any_newer_or_ocsp_answer_that_says_good() {
        let pki = Pki::new();
        let hour = 3600;
        let listed = pki.crl(now() - 2 * hour, now() + hour);
        // The responder's database no longer has `revoked` as revoked: its answers say good.
        pki.index(None);
        std::fs::write(
            pki.path("index.txt"),
            std::fs::read_to_string(pki.path("index.orig"))
                .unwrap()
                .lines()
                .map(|line| {
                    // R, expiry, revocation: back to V, expiry, no revocation.
                    let mut fields: Vec<&str> = line.split('\t').collect();
                    if fields[0] == "R" {
                        (fields[0], fields[2]) = ("V", "");
                    }
                    fields.join("\t") + "\n"
                })
                .collect::<String>(),
        )
        .unwrap();
        let ocsp_good = pki.ocsp("revoked");
        let crl_good = pki.crl(now() - hour, now() + hour);
        for (ocsps, crls) in [
            (vec![ocsp_good.clone()], vec![listed.clone()]),
            (vec![], vec![crl_good.clone(), listed.clone()]),
            (vec![], vec![listed.clone(), crl_good.clone()]),
        ] {
            let report = judge(&pki, "revoked", ocsps, crls, None);
            assert!(
                matches!(
                    report.status,
                    RevocationStatus::Revoked {
                        reason: Some(1),
                        ..
                    }
                ),
                "{report:?}"
            );
            assert_eq!(report.source, Some("crl"));
        }
        // Without the revocation, the OCSP answer is taken.
        let report = judge(&pki, "revoked", vec![ocsp_good], vec![crl_good], None);
        assert_eq!(
            (report.status, report.source),
            (RevocationStatus::Good, Some("ocsp"))
        );
    }

    #[test]
    fn a_hold_is_revoked_until_a_later_answer_releases_it_and_remove_from_crl_is_not_revoked() {
        let pki = Pki::new();
        let hour = 3600;
        pki.index(Some(("good", "certificateHold")));
        let held = pki.crl(now() - 2 * hour, now() + hour);
        pki.index(None);
        let released = pki.crl(now() - hour, now() + hour);
        let before = pki.crl(now() - 3 * hour, now() + hour);
        pki.index(Some(("good", "removeFromCRL")));
        let removed = pki.crl(now() - hour, now() + hour);

        let report = judge(&pki, "good", vec![], vec![held.clone()], None);
        assert!(
            matches!(
                report.status,
                RevocationStatus::Revoked {
                    reason: Some(6),
                    ..
                }
            ),
            "{report:?}"
        );
        // An answer from before the hold does not release it.
        let report = judge(&pki, "good", vec![], vec![before, held.clone()], None);
        assert!(
            matches!(report.status, RevocationStatus::Revoked { .. }),
            "{report:?}"
        );
        let report = judge(&pki, "good", vec![], vec![held.clone(), released], None);
        assert_eq!(report.status, RevocationStatus::Good, "{report:?}");
        let report = judge(&pki, "good", vec![], vec![removed], None);
        assert_eq!(report.status, RevocationStatus::Good, "{report:?}");
    }

    #[test]
    fn good_counts_only_when_made_after_the_time_stamp_or_current_without_one() {
        let pki = Pki::new();
        let hour = 3600;
        let crl = pki.crl(now() - 2 * hour, now() + hour);
        let expired = pki.crl(now() - 3 * hour, now() - hour);
        // A time-stamp after the CRL: the CRL shows nothing about the signature.
        let report = judge(&pki, "good", vec![], vec![crl.clone()], Some(now() - hour));
        assert_eq!(report.status, RevocationStatus::Stale, "{report:?}");
        assert_eq!(report.source, Some("crl"));
        assert!(report.note.as_deref().unwrap().contains("predates"));
        // A time-stamp before it: good.
        let report = judge(
            &pki,
            "good",
            vec![],
            vec![crl.clone()],
            Some(now() - 3 * hour),
        );
        assert_eq!(report.status, RevocationStatus::Good, "{report:?}");
        // No time-stamp: good while current, stale once past nextUpdate.
        let report = judge(&pki, "good", vec![], vec![crl.clone()], None);
        assert_eq!(report.status, RevocationStatus::Good, "{report:?}");
        let report = judge(&pki, "good", vec![], vec![expired.clone()], None);
        assert_eq!(report.status, RevocationStatus::Stale, "{report:?}");
        assert!(report.note.as_deref().unwrap().contains("no longer"));
        // A revocation needs no freshness.
        let report = judge(&pki, "revoked", vec![], vec![expired], None);
        assert!(
            matches!(report.status, RevocationStatus::Revoked { .. }),
            "{report:?}"
        );
    }

    #[test]
    fn validation_data_is_deduplicated_and_capped_when_prepared() {
        let data = ValidationData {
            certs: vec![vec![1]; 3],
            ocsps: (0..100u8).map(|i| vec![i]).collect(),
            crls: vec![vec![0x30, 0x00]; 200],
        }
        .prepare();
        assert_eq!(
            (data.certs.len(), data.ocsps.len(), data.crls.len()),
            (0, MAX_VALIDATION_ENTRIES, 1)
        );
        assert_eq!(data.dropped, 2 + (100 - MAX_VALIDATION_ENTRIES) + 199);
    }
}
