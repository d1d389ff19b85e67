//! Revocation data for seals, fetched when sealing: for each certificate of a chain, an OCSP response from its
//! AIA OCSP URL, else the CRL of its distribution point, each verified with sigil-cms before it is kept. No
//! HTTP types of the server here; the outbound client is the webhook outbox's guarded agent, with its own
//! `[seal]` address policy.
//!
//! Failures never fail a seal: a certificate whose data cannot be had is logged with the reason and skipped.
//! Calls block (ureq); callers run [`RevocationFetcher::fetch`] on the blocking pool.

use std::io::Read as _;
use std::time::Duration;

use sigil_cms::CertEntry;
use sigil_cms::revocation::{
    CertStatusKind, Crl, OcspResponse, build_ocsp_request, crl_urls, issued_by, ocsp_urls,
    random_nonce,
};

use crate::config::SealConfig;

/// How old an OCSP response or CRL without `nextUpdate` may be when fetched, seconds.
const MAX_AGE_WITHOUT_NEXT_UPDATE: i64 = 24 * 3600;

/// Verified revocation data, DER, ready for a DSS or `ocspDers`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FetchedRevocation {
    /// `OCSPResponse`s.
    pub ocsps: Vec<Vec<u8>>,
    /// `CertificateList`s.
    pub crls: Vec<Vec<u8>>,
    /// Certificates the OCSP responses carry (delegated responders), for a DSS.
    pub certs: Vec<Vec<u8>>,
}

/// One chain to fetch for, and which sources to try.
pub struct ChainRequest {
    /// The certificates, DER (leaf first by convention; issuers are found by signature, not position).
    pub chain: Vec<Vec<u8>>,
    /// Only certificates with an AIA OCSP URL, and OCSP only (a TSA's chain): no CRL downloads for them.
    pub ocsp_only: bool,
}

/// Fetches revocation data through the guarded outbound client.
pub struct RevocationFetcher {
    agent: ureq::Agent,
    max_bytes: u64,
    timeout: Duration,
}

/// Why one source gave nothing usable.
type Failure = String;

/// A verified OCSP answer: the response DER, the status it gives, and the certificates it carries.
type OcspAnswer = (Vec<u8>, CertStatusKind, Vec<Vec<u8>>);

impl RevocationFetcher {
    /// A fetcher for the `[seal]` settings now in force; `None` when `revocation_fetch` is off.
    pub fn from_config(config: &SealConfig) -> Option<Self> {
        config.revocation_fetch.then(|| Self {
            agent: super::webhooks::dispatch::guarded_agent(
                config.revocation_address_policy(),
                config.revocation_timeout,
            ),
            max_bytes: config.revocation_max_bytes,
            timeout: config.revocation_timeout,
        })
    }

    /// Revocation data for every non-self-signed certificate of `chains` whose issuer is in the same chain.
    /// Blocks; at most two requests per certificate, each bounded by `[seal] revocation_timeout`.
    pub fn fetch(&self, chains: &[ChainRequest]) -> FetchedRevocation {
        let mut out = FetchedRevocation::default();
        for request in chains {
            let entries: Vec<CertEntry> = request
                .chain
                .iter()
                .filter_map(|der| CertEntry::from_der(der).ok())
                .collect();
            for certificate in &entries {
                let subject = certificate.summary().subject;
                let ocsp = ocsp_urls(&certificate.certificate);
                let crl = if request.ocsp_only {
                    Vec::new()
                } else {
                    crl_urls(&certificate.certificate)
                };
                if ocsp.is_empty() && crl.is_empty() {
                    continue;
                }
                let Some(issuer) = entries
                    .iter()
                    .find(|c| c.der != certificate.der && issued_by(certificate, c))
                else {
                    tracing::warn!(certificate = %subject, "no issuer in the chain; no revocation data fetched for it");
                    continue;
                };
                if self.fetch_one(certificate, issuer, &ocsp, &crl, &mut out) {
                    continue;
                }
                tracing::warn!(certificate = %subject, "no revocation data for this certificate; the seal carries none for it");
            }
        }
        out
    }

    /// OCSP from each URL in turn, then CRLs; true when one verified.
    fn fetch_one(
        &self,
        certificate: &CertEntry,
        issuer: &CertEntry,
        ocsp: &[String],
        crl: &[String],
        out: &mut FetchedRevocation,
    ) -> bool {
        let subject = certificate.summary().subject;
        for url in ocsp {
            match self.ocsp(certificate, issuer, url) {
                Ok((der, status, certs)) => {
                    log_status(&subject, url, "ocsp", &status);
                    push_unique(&mut out.ocsps, der);
                    for cert in certs {
                        push_unique(&mut out.certs, cert);
                    }
                    return true;
                }
                Err(reason) => {
                    tracing::warn!(certificate = %subject, %url, %reason, "OCSP request for a seal certificate failed")
                }
            }
        }
        for url in crl {
            match self.crl(certificate, issuer, url) {
                Ok((der, status)) => {
                    log_status(&subject, url, "crl", &status);
                    push_unique(&mut out.crls, der);
                    return true;
                }
                Err(reason) => {
                    tracing::warn!(certificate = %subject, %url, %reason, "CRL download for a seal certificate failed")
                }
            }
        }
        false
    }

    fn ocsp(
        &self,
        certificate: &CertEntry,
        issuer: &CertEntry,
        url: &str,
    ) -> Result<OcspAnswer, Failure> {
        let nonce = random_nonce().map_err(|e| format!("no random nonce: {e}"))?;
        let request =
            build_ocsp_request(&certificate.certificate, &issuer.certificate, Some(&nonce))
                .map_err(|e| format!("cannot build the request: {e}"))?;
        let body = self.exchange(
            self.agent
                .post(url)
                .header("content-type", "application/ocsp-request")
                .config()
                .timeout_global(Some(self.timeout))
                .build()
                .send(&request[..]),
        )?;
        let response = OcspResponse::parse(&body).map_err(|e| e.to_string())?;
        let status = response
            .status_of(&certificate.certificate, issuer)
            .map_err(|e| e.to_string())?;
        // RFC 5019 responders may answer from a cache without the nonce; one that echoes must echo ours.
        if response.has_nonce() {
            response.check_nonce(&nonce).map_err(|e| e.to_string())?;
        }
        OcspResponse::check_fresh(&status, now_unix(), MAX_AGE_WITHOUT_NEXT_UPDATE)
            .map_err(|e| e.to_string())?;
        Ok((body, status.kind, response.certificates()))
    }

    fn crl(
        &self,
        certificate: &CertEntry,
        issuer: &CertEntry,
        url: &str,
    ) -> Result<(Vec<u8>, CertStatusKind), Failure> {
        let body = self.exchange(
            self.agent
                .get(url)
                .config()
                .timeout_global(Some(self.timeout))
                .build()
                .call(),
        )?;
        let crl = Crl::parse(&body).map_err(|e| e.to_string())?;
        let status = crl
            .status_of(&certificate.certificate, issuer)
            .map_err(|e| e.to_string())?;
        Crl::check_fresh(&status, now_unix(), MAX_AGE_WITHOUT_NEXT_UPDATE)
            .map_err(|e| e.to_string())?;
        Ok((body, status.kind))
    }

    /// A 200 answer's body, at most `max_bytes`.
    fn exchange(
        &self,
        outcome: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Vec<u8>, Failure> {
        let mut response = outcome.map_err(|error| match sigil_netpolicy::guard::refusal(&error) {
            Some(refused) => format!(
                "refused: {refused}; [seal] revocation_allow_private_networks can admit private networks"
            ),
            None => error.to_string(),
        })?;
        if response.status() != 200 {
            return Err(format!("answered HTTP {}", response.status().as_u16()));
        }
        let mut body = Vec::new();
        response
            .body_mut()
            .as_reader()
            .take(self.max_bytes + 1)
            .read_to_end(&mut body)
            .map_err(|e| format!("reading the answer: {e}"))?;
        if body.len() as u64 > self.max_bytes {
            return Err(format!(
                "the answer is larger than [seal] revocation_max_bytes ({})",
                self.max_bytes
            ));
        }
        Ok(body)
    }
}

fn log_status(subject: &str, url: &str, source: &str, status: &CertStatusKind) {
    match status {
        CertStatusKind::Good => {
            tracing::debug!(certificate = %subject, %url, source, "revocation status: good")
        }
        CertStatusKind::Unknown => {
            tracing::warn!(certificate = %subject, %url, source, "the OCSP responder does not know a seal certificate")
        }
        CertStatusKind::Revoked { time, .. } => tracing::warn!(
            certificate = %subject,
            %url,
            source,
            revoked_at = %sigil_cms::time::rfc3339(*time),
            "a seal certificate is revoked; the seal carries the proof and will not verify as PASSED"
        ),
    }
}

fn push_unique(list: &mut Vec<Vec<u8>>, der: Vec<u8>) {
    if !list.contains(&der) {
        list.push(der);
    }
}

fn now_unix() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs(),
    )
    .unwrap_or(i64::MAX)
}
