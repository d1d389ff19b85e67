//! Revocation data for seals, fetched when sealing: for each certificate of a chain, an OCSP response from its
//! AIA OCSP URL, else the CRL of its distribution point, each verified with sigil-cms before it is kept. No
//! HTTP types of the server here; the outbound client is the webhook outbox's guarded agent, with its own
//! `[seal]` address policy.
//!
//! Failures never fail a seal: a certificate whose data cannot be had is logged with the reason and skipped.
//! Calls block (ureq); callers run [`RevocationFetcher::fetch`] on the blocking pool. The work is bounded:
//! one total deadline (`[seal] revocation_timeout`) for a whole fetch, each request bounded by what remains;
//! at most [`MAX_CERTS_PER_CHAIN`] certificates of a chain and [`MAX_URLS_PER_CERT`] URLs of a certificate,
//! the certificates fetched concurrently; and at most [`MAX_CONCURRENT_FETCHES`] certificates fetched at once
//! in the whole daemon and [`MAX_FETCHES_PER_TENANT`] for one tenant, so that chains full of URLs pointing at a
//! blackhole cannot hold the blocking pool, nor one tenant's dead responders every place. A fetch past either
//! limit waits for a place until its deadline (then it is skipped and logged), not failing open at once.

use std::collections::HashMap;
use std::io::Read as _;
use std::sync::{Condvar, LazyLock, Mutex};
use std::time::{Duration, Instant};

use sigil_cms::CertEntry;
use sigil_cms::revocation::{
    CertStatusKind, Crl, OcspResponse, build_ocsp_request, crl_urls, issued_by, ocsp_urls,
    random_nonce,
};

use crate::config::SealConfig;

/// `removeFromCRL` (RFC 5280 §5.3.1): not a revocation.
const REASON_REMOVE_FROM_CRL: u8 = 8;

/// How old an OCSP response or CRL without `nextUpdate` may be when fetched, seconds.
const MAX_AGE_WITHOUT_NEXT_UPDATE: i64 = 24 * 3600;

/// At most this many certificates of a chain (leaf first) get revocation data.
pub const MAX_CERTS_PER_CHAIN: usize = 4;
/// At most this many URLs (OCSP first, then CRL distribution points) are tried for a certificate.
pub const MAX_URLS_PER_CERT: usize = 2;
/// At most this many certificates are being fetched for at once in the daemon.
pub const MAX_CONCURRENT_FETCHES: usize = 16;
/// At most this many of them for one tenant: a quarter, so that one tenant's (or its CA's) dead responders hold
/// at most that share.
pub const MAX_FETCHES_PER_TENANT: usize = MAX_CONCURRENT_FETCHES / 4;
/// At most this many fetches wait for a place at once in the daemon, and [`MAX_WAITING_PER_TENANT`] for one
/// tenant; past either a fetch goes without at once. A waiting fetch holds a blocking thread until its deadline,
/// so unbounded waiting would let a flood of seals for dead responders fill the blocking pool.
pub const MAX_WAITING_FETCHES: usize = 16;
/// See [`MAX_WAITING_FETCHES`].
pub const MAX_WAITING_PER_TENANT: usize = 4;

/// The daemon's fetch places.
static PLACES: LazyLock<Places> = LazyLock::new(Places::default);

/// Places for fetches, counted in all and per tenant; a freed place wakes the waiters.
#[derive(Default)]
struct Places {
    taken: Mutex<Taken>,
    freed: Condvar,
}

/// The places held and the fetches waiting for one.
#[derive(Default)]
struct Taken {
    held: Counts,
    waiting: Counts,
}

/// A count in all and per tenant.
#[derive(Default)]
struct Counts {
    total: usize,
    by_tenant: HashMap<String, usize>,
}

impl Counts {
    /// Whether one more for `tenant` stays within `limit` in all and `tenant_limit` for the tenant.
    fn has_room(&self, tenant: &str, limit: usize, tenant_limit: usize) -> bool {
        self.total < limit && self.by_tenant.get(tenant).copied().unwrap_or(0) < tenant_limit
    }

    fn add(&mut self, tenant: &str) {
        self.total += 1;
        *self.by_tenant.entry(tenant.to_string()).or_default() += 1;
    }

    /// Takes one of `tenant`'s away, forgetting a tenant at zero.
    fn remove(&mut self, tenant: &str) {
        self.total -= 1;
        if let Some(count) = self.by_tenant.get_mut(tenant) {
            *count -= 1;
            if *count == 0 {
                self.by_tenant.remove(tenant);
            }
        }
    }
}

impl Places {
    /// A place for `tenant`, waiting for one until `deadline` (unless too many wait already); `None` if none
    /// came free by then.
    fn acquire(&self, tenant: &str, deadline: Instant) -> Option<FetchPermit<'_>> {
        let mut taken = self.taken.lock().unwrap_or_else(|p| p.into_inner());
        let mut waiting = false;
        let permit = loop {
            if taken
                .held
                .has_room(tenant, MAX_CONCURRENT_FETCHES, MAX_FETCHES_PER_TENANT)
            {
                taken.held.add(tenant);
                break Some(FetchPermit {
                    places: self,
                    tenant: tenant.to_string(),
                });
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                break None;
            }
            if !waiting {
                if !taken
                    .waiting
                    .has_room(tenant, MAX_WAITING_FETCHES, MAX_WAITING_PER_TENANT)
                {
                    return None;
                }
                taken.waiting.add(tenant);
                waiting = true;
            }
            taken = self
                .freed
                .wait_timeout(taken, remaining)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        };
        if waiting {
            taken.waiting.remove(tenant);
        }
        permit
    }
}

/// One place, given back (and a waiter woken) on drop.
struct FetchPermit<'p> {
    places: &'p Places,
    tenant: String,
}

impl Drop for FetchPermit<'_> {
    fn drop(&mut self) {
        let mut taken = self.places.taken.lock().unwrap_or_else(|p| p.into_inner());
        taken.held.remove(&self.tenant);
        drop(taken);
        self.places.freed.notify_all();
    }
}

/// Verified revocation data, DER, ready for a DSS or `ocspDers`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FetchedRevocation {
    /// `OCSPResponse`s.
    pub ocsps: Vec<Vec<u8>>,
    /// `CertificateList`s.
    pub crls: Vec<Vec<u8>>,
    /// Certificates the OCSP responses carry (delegated responders), for a DSS.
    pub certs: Vec<Vec<u8>>,
    /// The first chain's leaf (the signer) is revoked by verified data just fetched: the revocation time
    /// (Unix seconds) and reason code. A `removeFromCRL` entry is not a revocation; a hold is.
    pub signer_revoked: Option<(i64, Option<u8>)>,
}

/// One chain to fetch for, and which sources to try.
pub struct ChainRequest {
    /// The certificates, DER (leaf first by convention; issuers are found by signature, not position).
    pub chain: Vec<Vec<u8>>,
    /// OCSP only (`ocspDers`, which carries no CRLs): no CRL downloads.
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

    /// Revocation data for the first [`MAX_CERTS_PER_CHAIN`] certificates of each of `chains` whose issuer is in
    /// the same chain, fetched concurrently for `tenant` (within its share of the daemon's places), all within
    /// one `[seal] revocation_timeout`, waiting for a place included. Blocks.
    pub fn fetch(&self, tenant: &str, chains: &[ChainRequest]) -> FetchedRevocation {
        let deadline = Instant::now() + self.timeout;
        let jobs = plan(chains);
        let results: Vec<(FetchedRevocation, bool)> = std::thread::scope(|scope| {
            let handles: Vec<_> = jobs
                .iter()
                .map(|job| {
                    let Job {
                        certificate,
                        issuer,
                        urls,
                        is_signer,
                    } = job;
                    scope.spawn(move || {
                        let subject = certificate.summary().subject;
                        let Some(_permit) = PLACES.acquire(tenant, deadline) else {
                            tracing::warn!(certificate = %subject, %tenant, limit = MAX_CONCURRENT_FETCHES, tenant_limit = MAX_FETCHES_PER_TENANT, "no revocation fetch place (none came free before the deadline, or too many fetches wait already); none for this certificate");
                            return (FetchedRevocation::default(), *is_signer);
                        };
                        let mut out = FetchedRevocation::default();
                        if !self.fetch_one(certificate, issuer, urls, deadline, &mut out) {
                            tracing::warn!(certificate = %subject, "no revocation data for this certificate; the seal carries none for it");
                        }
                        (out, *is_signer)
                    })
                })
                .collect();
            handles
                .into_iter()
                .filter_map(|handle| handle.join().ok())
                .collect()
        });
        let mut out = FetchedRevocation::default();
        for (part, is_signer) in results {
            for der in part.ocsps {
                push_unique(&mut out.ocsps, der);
            }
            for der in part.crls {
                push_unique(&mut out.crls, der);
            }
            for der in part.certs {
                push_unique(&mut out.certs, der);
            }
            if is_signer {
                out.signer_revoked = part.signer_revoked;
            }
        }
        out
    }

    /// Each URL in turn until one gives verified data or the deadline passes; true when one verified.
    /// `out.signer_revoked` is set when that data says the certificate is revoked.
    fn fetch_one(
        &self,
        certificate: &CertEntry,
        issuer: &CertEntry,
        urls: &[(&'static str, String)],
        deadline: Instant,
        out: &mut FetchedRevocation,
    ) -> bool {
        let subject = certificate.summary().subject;
        for (source, url) in urls {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                tracing::warn!(certificate = %subject, %url, "the revocation fetch deadline ([seal] revocation_timeout) passed");
                return false;
            }
            let outcome = if *source == "ocsp" {
                self.ocsp(certificate, issuer, url, remaining)
            } else {
                self.crl(certificate, issuer, url, remaining)
                    .map(|(der, status)| (der, status, Vec::new()))
            };
            match outcome {
                Ok((der, status, certs)) => {
                    log_status(&subject, url, source, &status);
                    if let CertStatusKind::Revoked { time, reason } = status
                        && reason != Some(REASON_REMOVE_FROM_CRL)
                    {
                        out.signer_revoked = Some((time, reason));
                    }
                    if *source == "ocsp" {
                        push_unique(&mut out.ocsps, der);
                    } else {
                        push_unique(&mut out.crls, der);
                    }
                    for cert in certs {
                        push_unique(&mut out.certs, cert);
                    }
                    return true;
                }
                Err(reason) if *source == "ocsp" => {
                    tracing::warn!(certificate = %subject, %url, %reason, "OCSP request for a seal certificate failed")
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
        timeout: Duration,
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
                .timeout_global(Some(timeout))
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
        OcspResponse::check_fresh(
            &status,
            chrono::Utc::now().timestamp(),
            MAX_AGE_WITHOUT_NEXT_UPDATE,
        )
        .map_err(|e| e.to_string())?;
        Ok((body, status.kind, response.certificates()))
    }

    fn crl(
        &self,
        certificate: &CertEntry,
        issuer: &CertEntry,
        url: &str,
        timeout: Duration,
    ) -> Result<(Vec<u8>, CertStatusKind), Failure> {
        let body = self.exchange(
            self.agent
                .get(url)
                .config()
                .timeout_global(Some(timeout))
                .build()
                .call(),
        )?;
        let crl = Crl::parse(&body).map_err(|e| e.to_string())?;
        let status = crl
            .status_of(&certificate.certificate, issuer)
            .map_err(|e| e.to_string())?;
        Crl::check_fresh(
            &status,
            chrono::Utc::now().timestamp(),
            MAX_AGE_WITHOUT_NEXT_UPDATE,
        )
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

/// One certificate to fetch revocation data for.
struct Job {
    /// The certificate.
    certificate: CertEntry,
    /// Its issuer, found in the same chain.
    issuer: CertEntry,
    /// What to try, in order: `("ocsp" | "crl", url)`, at most [`MAX_URLS_PER_CERT`].
    urls: Vec<(&'static str, String)>,
    /// The first certificate of the first chain: the signer.
    is_signer: bool,
}

/// What [`RevocationFetcher::fetch`] fetches, within the caps: of each chain the first
/// [`MAX_CERTS_PER_CHAIN`] certificates (by position, leaf first), of each certificate its OCSP URLs and then,
/// unless the chain is `ocsp_only`, its CRL distribution points, the first [`MAX_URLS_PER_CERT`] of them.
/// A certificate without a URL, or whose issuer is not in its chain, is left out (the latter logged).
fn plan(chains: &[ChainRequest]) -> Vec<Job> {
    let mut jobs = Vec::new();
    for (index, request) in chains.iter().enumerate() {
        let entries: Vec<CertEntry> = request
            .chain
            .iter()
            .filter_map(|der| CertEntry::from_der(der).ok())
            .collect();
        for (position, certificate) in entries.iter().take(MAX_CERTS_PER_CHAIN).enumerate() {
            let mut urls: Vec<(&'static str, String)> = ocsp_urls(&certificate.certificate)
                .into_iter()
                .map(|url| ("ocsp", url))
                .collect();
            if !request.ocsp_only {
                urls.extend(
                    crl_urls(&certificate.certificate)
                        .into_iter()
                        .map(|url| ("crl", url)),
                );
            }
            urls.truncate(MAX_URLS_PER_CERT);
            if urls.is_empty() {
                continue;
            }
            let Some(issuer) = entries
                .iter()
                .find(|c| c.der != certificate.der && issued_by(certificate, c))
            else {
                tracing::warn!(certificate = %certificate.summary().subject, "no issuer in the chain; no revocation data fetched for it");
                continue;
            };
            jobs.push(Job {
                certificate: certificate.clone(),
                issuer: issuer.clone(),
                urls,
                is_signer: index == 0 && position == 0,
            });
        }
    }
    jobs
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
            "a certificate of a seal's chain is revoked; a revoked signer's seal is refused"
        ),
    }
}

fn push_unique(list: &mut Vec<Vec<u8>>, der: Vec<u8>) {
    if !list.contains(&der) {
        list.push(der);
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::process::Command;

    use super::*;

    fn run(dir: &Path, program: &str, args: &[&str]) {
        let output = Command::new(program)
            .args(args)
            .current_dir(dir)
            .output()
            .expect(program);
        assert!(
            output.status.success(),
            "{program} {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// The PKI of `tests/fixtures/revocation/make-bounds-pki.sh` (its URLs name port 1; nothing is contacted)
    /// and a leaf that `int4` issues with the `many_urls` profile (three OCSP URLs, one CRL): the leaf, int4,
    /// int3, int2, int1 and the root, DER.
    fn long_chain(dir: &Path) -> Vec<Vec<u8>> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/revocation/make-bounds-pki.sh")
            .canonicalize()
            .expect("the fixture script");
        let script = script.to_str().expect("a UTF-8 path");
        run(dir, "sh", &[script, "1", "1", "1"]);
        run(
            dir,
            "openssl",
            &[
                "req",
                "-new",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                "leaf.key",
                "-out",
                "leaf.csr",
                "-subj",
                "/CN=Leaf",
            ],
        );
        run(
            dir,
            "openssl",
            &[
                "x509",
                "-req",
                "-in",
                "leaf.csr",
                "-CA",
                "int4.pem",
                "-CAkey",
                "int4.key",
                "-CAcreateserial",
                "-days",
                "10",
                "-extfile",
                "leaves.cnf",
                "-extensions",
                "many_urls",
                "-out",
                "leaf.pem",
            ],
        );
        let pem = std::fs::read_to_string(dir.join("leaf.pem")).expect("leaf.pem")
            + &std::fs::read_to_string(dir.join("chain-long.pem")).expect("chain-long.pem");
        sigil_cms::Certificate::load_pem_chain(pem.as_bytes())
            .expect("a PEM chain")
            .iter()
            .map(|c| CertEntry::from_certificate(c).expect("a certificate").der)
            .collect()
    }

    /// A job as `subject <- issuer: source path, ...`, the URLs without their scheme and authority.
    fn describe(job: &Job) -> String {
        let cn = |entry: &CertEntry| {
            let subject = entry.summary().subject;
            subject
                .split(',')
                .find_map(|part| part.strip_prefix("CN="))
                .unwrap_or_default()
                .to_string()
        };
        let urls: Vec<String> = job
            .urls
            .iter()
            .map(|(source, url)| {
                format!("{source} {}", url.trim_start_matches("http://127.0.0.1:1"))
            })
            .collect();
        format!(
            "{}{} <- {}: {}",
            if job.is_signer { "signer " } else { "" },
            cn(&job.certificate),
            cn(&job.issuer),
            urls.join(", ")
        )
    }

    #[test]
    fn only_the_first_certificates_of_a_chain_and_urls_of_a_certificate_are_planned() {
        let pki = tempfile::tempdir().expect("a temp dir");
        let chain = long_chain(pki.path());
        assert_eq!(chain.len(), 6);
        let jobs = plan(&[
            ChainRequest {
                chain: chain.clone(),
                ocsp_only: false,
            },
            ChainRequest {
                chain,
                ocsp_only: true,
            },
        ]);
        let described: Vec<String> = jobs.iter().map(describe).collect();
        assert_eq!(
            described,
            [
                // The leaf: its first two OCSP URLs; the third and the CRL are past the cap. int1 is the fifth
                // certificate: none for it.
                "signer Leaf <- Sigil Test Bounds Int4: ocsp /ocsp/leaf/1, ocsp /ocsp/leaf/2",
                "Sigil Test Bounds Int4 <- Sigil Test Bounds Int3: ocsp /ocsp/int4, crl /crl/int4/1",
                "Sigil Test Bounds Int3 <- Sigil Test Bounds Int2: ocsp /ocsp/int3, crl /crl/int3/1",
                "Sigil Test Bounds Int2 <- Sigil Test Bounds Int1: ocsp /ocsp/int2, crl /crl/int2/1",
                // OCSP only (`ocspDers`): no CRL; the leaf of a second chain is not the signer.
                "Leaf <- Sigil Test Bounds Int4: ocsp /ocsp/leaf/1, ocsp /ocsp/leaf/2",
                "Sigil Test Bounds Int4 <- Sigil Test Bounds Int3: ocsp /ocsp/int4",
                "Sigil Test Bounds Int3 <- Sigil Test Bounds Int2: ocsp /ocsp/int3",
                "Sigil Test Bounds Int2 <- Sigil Test Bounds Int1: ocsp /ocsp/int2",
            ]
        );
    }

    #[test]
    fn a_certificate_whose_issuer_is_not_in_its_chain_is_not_planned() {
        let pki = tempfile::tempdir().expect("a temp dir");
        let mut chain = long_chain(pki.path());
        // Without int4 the leaf has no issuer in the chain; the cap still counts it, so int3, int2 and int1
        // (the fourth) are fetched for, and none of them is the signer.
        chain.remove(1);
        let described: Vec<String> = plan(&[ChainRequest {
            chain,
            ocsp_only: false,
        }])
        .iter()
        .map(describe)
        .collect();
        assert_eq!(
            described,
            [
                "Sigil Test Bounds Int3 <- Sigil Test Bounds Int2: ocsp /ocsp/int3, crl /crl/int3/1",
                "Sigil Test Bounds Int2 <- Sigil Test Bounds Int1: ocsp /ocsp/int2, crl /crl/int2/1",
                "Sigil Test Bounds Int1 <- Sigil Test Bounds Root: ocsp /ocsp/int1, crl /crl/int1/1",
            ]
        );
    }

    #[test]
    fn places_are_shared_between_tenants_and_waited_for_by_a_bounded_few() {
        let places = Places::default();
        let past = Instant::now();
        let later = || Instant::now() + Duration::from_secs(60);
        // Four tenants take a share each, and past the daemon's limit nobody gets one.
        let held: Vec<FetchPermit> = ["a", "b", "c", "d"]
            .iter()
            .flat_map(|tenant| {
                let mine: Vec<FetchPermit> =
                    std::iter::from_fn(|| places.acquire(tenant, past)).collect();
                assert_eq!(mine.len(), MAX_FETCHES_PER_TENANT);
                mine
            })
            .collect();
        assert_eq!(held.len(), MAX_CONCURRENT_FETCHES);
        assert!(places.acquire("e", past).is_none());
        let waiting = || places.taken.lock().unwrap().waiting.total;
        std::thread::scope(|scope| {
            // Waiters, a tenant's share of them at most: a further one of that tenant goes without at once
            // (its deadline is a minute away), and so does anyone past the daemon's bound.
            let mut waiters = Vec::new();
            for tenant in ["e", "f", "g", "h"] {
                for _ in 0..MAX_WAITING_PER_TENANT {
                    waiters.push(
                        scope.spawn(|| places.acquire(tenant, later()).map(|p| p.tenant.clone())),
                    );
                }
            }
            // Liveness wait, not a measurement: until all of them wait.
            while waiting() < MAX_WAITING_FETCHES {
                std::thread::sleep(Duration::from_millis(1));
            }
            assert!(places.acquire("e", later()).is_none());
            assert!(places.acquire("z", later()).is_none());
            // The places freed go to the waiters, every one of them.
            drop(held);
            let mut got: Vec<String> = waiters
                .into_iter()
                .map(|waiter| waiter.join().unwrap().unwrap())
                .collect();
            got.sort();
            got.dedup();
            assert_eq!(got, ["e", "f", "g", "h"]);
        });
        // Every place and every wait given back is counted back.
        let taken = places.taken.lock().unwrap();
        assert_eq!(
            (
                taken.held.total,
                taken.held.by_tenant.len(),
                taken.waiting.total,
                taken.waiting.by_tenant.len()
            ),
            (0, 0, 0, 0)
        );
    }
}
