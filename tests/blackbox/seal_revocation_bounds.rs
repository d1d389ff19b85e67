//! The bounds of the seal revocation fetch (`[seal] revocation_timeout`, the caps of `app/revocation.rs`, the
//! `[seal]` address policy), against servers the test runs on loopback with the PKI of
//! `tests/fixtures/revocation/make-bounds-pki.sh`: a server that counts requests and answers 503 or a redirect,
//! one that accepts and never answers (or sends a head and never the body), and a listener on 127.0.0.2, which
//! the test daemon's `revocation_allow_private_networks = ["127.0.0.1/32"]` does not admit. None of them hands
//! out revocation data, so every seal here is made without any: what is checked is that it is made, and which
//! URLs were contacted.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};

use serde_json::json;

use crate::harness::{Daemon, str_field};
use crate::seal_revocation::{dss_of, fetched_counts, sign_pades_hash, verify_pdf};
use crate::seals::{provision, seal_bytes, simple_pdf};
use crate::timestamping::{config, wait_local_tsa};
use crate::tsa_standins::openssl_ok;

/// The request paths one of the test's servers was asked for (or, for the blocked listener, one entry per
/// connection).
#[derive(Clone, Default)]
struct Hits(Arc<Mutex<Vec<String>>>);

impl Hits {
    fn record(&self, path: String) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(path);
    }

    /// What was asked so far, sorted (certificates are fetched for concurrently, so arrival order says nothing).
    fn sorted(&self) -> Vec<String> {
        let mut paths = self.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
        paths.sort();
        paths
    }

    fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    fn clear(&self) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

/// Reads one HTTP/1.1 request from `stream`, its head and the body its `content-length` announces (so that
/// closing the connection after answering does not reset it under the client); the request path.
fn read_request(stream: &TcpStream) -> Option<String> {
    let mut reader = BufReader::new(stream);
    let mut request_line = String::new();
    reader.read_line(&mut request_line).ok()?;
    let path = request_line.split_whitespace().nth(1)?.to_string();
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.trim().eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().ok()?;
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).ok()?;
    Some(path)
}

/// Answers every request at once and records its path: `/redirect/<rest>` is redirected (302) to
/// `/redirected/<rest>` on the same server, `/redirect-blocked/<rest>` to `http://127.0.0.2:<blocked_port>/<rest>`,
/// anything else is answered 503.
fn serve_counting(listener: TcpListener, blocked_port: u16, hits: Hits) {
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let Some(path) = read_request(&stream) else {
                continue;
            };
            let location = if let Some(rest) = path.strip_prefix("/redirect/") {
                Some(format!("http://127.0.0.1:{port}/redirected/{rest}"))
            } else {
                path.strip_prefix("/redirect-blocked/")
                    .map(|rest| format!("http://127.0.0.2:{blocked_port}/{rest}"))
            };
            hits.record(path);
            let reply = match location {
                Some(location) => format!(
                    "HTTP/1.1 302 Found\r\nlocation: {location}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                ),
                None => {
                    "HTTP/1.1 503 Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                        .to_string()
                }
            };
            let _ = stream.write_all(reply.as_bytes());
        }
    });
}

/// Accepts every connection and never answers: records the request's path and keeps the connection open until
/// the test process ends. A path under `/stall/` gets a 200 head promising a body, and a few bytes of it, and
/// then nothing more.
fn serve_hanging(listener: TcpListener, hits: Hits) {
    let held: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let hits = hits.clone();
            let held = held.clone();
            std::thread::spawn(move || {
                if let Some(path) = read_request(&stream) {
                    if path.starts_with("/stall/") {
                        let _ = stream.write_all(
                            b"HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: 4096\r\n\r\n0\x82",
                        );
                    }
                    hits.record(path);
                }
                held.lock().unwrap_or_else(|p| p.into_inner()).push(stream);
            });
        }
    });
}

/// Records one entry per connection to a listener nothing may reach.
fn serve_blocked(listener: TcpListener, hits: Hits) {
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            if stream.is_ok() {
                hits.record("connection".into());
            }
        }
    });
}

/// A daemon whose revocation fetches may reach 127.0.0.1 (and only that of loopback), the bounds PKI, and the
/// three servers its URLs point at.
struct Bounds {
    pki: tempfile::TempDir,
    daemon: Daemon,
    token: String,
    key: String,
    counting: Hits,
    hanging: Hits,
    blocked: Hits,
}

impl Bounds {
    fn start(revocation_timeout: &str) -> Bounds {
        let pki = tempfile::tempdir().unwrap();
        let counting_listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let hanging_listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let blocked_listener = TcpListener::bind("127.0.0.2:0").unwrap();
        let port = |listener: &TcpListener| listener.local_addr().unwrap().port().to_string();
        let script = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/revocation/make-bounds-pki.sh")
            .canonicalize()
            .unwrap();
        let made = Command::new("sh")
            .arg(script)
            .args([
                port(&counting_listener),
                port(&hanging_listener),
                port(&blocked_listener),
            ])
            .current_dir(pki.path())
            .output()
            .unwrap();
        assert!(made.status.success(), "{made:?}");
        let (counting, hanging, blocked) = (Hits::default(), Hits::default(), Hits::default());
        let blocked_port = blocked_listener.local_addr().unwrap().port();
        serve_counting(counting_listener, blocked_port, counting.clone());
        serve_hanging(hanging_listener, hanging.clone());
        serve_blocked(blocked_listener, blocked.clone());

        let daemon = Daemon::start_raw_with_env(
            &config(&format!(
                "[seal]\nrevocation_allow_private_networks = [\"127.0.0.1/32\"]\nrevocation_timeout = \"{revocation_timeout}\"\n"
            )),
            &[],
        );
        wait_local_tsa(&daemon);
        let owner = daemon.owner_with_tenant();
        let key = daemon.api_key(&owner.token, "test");
        Bounds {
            pki,
            daemon,
            token: owner.token,
            key,
            counting,
            hanging,
            blocked,
        }
    }

    /// Provisions a P-256 seal certificate, has `issuer` (`root` or `int4`) issue it with the `section` of
    /// `leaves.cnf`, and activates it with the fixture's chain above that issuer; returns its id.
    fn leaf(&self, section: &str, issuer: &str) -> String {
        self.leaf_of(&self.token, section, issuer)
    }

    /// [`Bounds::leaf`] for the tenant of the owner session `token`.
    fn leaf_of(&self, token: &str, section: &str, issuer: &str) -> String {
        let dir = self.pki.path();
        let provisioned = provision(
            &self.daemon,
            token,
            json!({ "commonName": format!("Seal {section}"), "organization": "Acme AS",
                    "countryCode": "NO", "keyAlgorithm": "ecdsa-p256" }),
        );
        let id = str_field(&provisioned, "id");
        std::fs::write(
            dir.join(format!("{section}.csr")),
            str_field(&provisioned, "csrPem"),
        )
        .unwrap();
        openssl_ok(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{section}.csr"),
                "-CA",
                &format!("{issuer}.pem"),
                "-CAkey",
                &format!("{issuer}.key"),
                "-CAcreateserial",
                "-days",
                "10",
                "-sha256",
                "-extfile",
                "leaves.cnf",
                "-extensions",
                section,
                "-out",
                &format!("{section}.pem"),
            ],
        );
        let above = if issuer == "root" {
            "chain-root.pem"
        } else {
            "chain-long.pem"
        };
        let chain = std::fs::read_to_string(dir.join(format!("{section}.pem"))).unwrap()
            + &std::fs::read_to_string(dir.join(above)).unwrap();
        self.daemon
            .post(
                &format!("/seal/certificates/{id}/activate"),
                token,
                json!({ "certificatePem": chain }),
            )
            .expect(200);
        id
    }

    /// Seals a PDF at B-LTA with certificate `id` and asserts what a seal without revocation data looks like:
    /// level B-LTA, a DSS with no OCSP response and no CRL, and `/seal/verify` reporting no revocation data.
    fn seal_without_revocation_data(&self, id: &str) {
        let (headers, sealed) = seal_bytes(
            &self.daemon,
            &self.key,
            &simple_pdf(None),
            &[("level", "B-LTA"), ("certificateId", id)],
        );
        assert_eq!(
            headers.get("x-seal-level").unwrap(),
            "B-LTA",
            "{}",
            self.daemon.logs()
        );
        let dss = dss_of(&sealed);
        assert_eq!(fetched_counts(&dss), (0, 0), "{dss:?}");
        let verdict = verify_pdf(&self.daemon, &sealed);
        assert_eq!(
            verdict["pades"]["revocation"]["status"], "none",
            "{verdict}"
        );
    }
}

/// Responders that accept and never answer, or answer a head and never the body, cost a seal at most the
/// `revocation_timeout` deadline: the seal is made (B-LTA, no revocation data; `ocspDers` empty) although
/// the responder was reached. The harness client's 30-second timeout is the liveness guard.
#[test]
fn a_hanging_responder_does_not_hang_the_seal() {
    let bounds = Bounds::start("1s");

    // OCSP never answers (and takes the whole deadline, so the CRL may not be asked at all).
    let hang = bounds.leaf("hang", "root");
    let answer = sign_pades_hash(&bounds.daemon, &bounds.key, &hang);
    assert_eq!(answer["ocspDers"], json!([]), "{answer}");
    bounds.seal_without_revocation_data(&hang);
    assert!(
        bounds.hanging.sorted().contains(&"/ocsp".to_string()),
        "{:?}",
        bounds.hanging.sorted()
    );

    // OCSP fails at once, then the CRL distribution point never answers.
    let hang_crl = bounds.leaf("hang_crl", "root");
    bounds.seal_without_revocation_data(&hang_crl);
    assert!(
        bounds
            .counting
            .sorted()
            .contains(&"/ocsp/unavailable".to_string()),
        "{:?}",
        bounds.counting.sorted()
    );
    assert!(
        bounds
            .hanging
            .sorted()
            .contains(&"/crl/after-ocsp".to_string()),
        "{:?}",
        bounds.hanging.sorted()
    );

    // The answer's head arrives, its body never does.
    let stall = bounds.leaf("stall", "root");
    let answer = sign_pades_hash(&bounds.daemon, &bounds.key, &stall);
    assert_eq!(answer["ocspDers"], json!([]), "{answer}");
    bounds.seal_without_revocation_data(&stall);
    assert!(
        bounds.hanging.sorted().contains(&"/stall/ocsp".to_string()),
        "{:?}",
        bounds.hanging.sorted()
    );

    // The log says why: the requests timed out, the stalled one while its answer was being read.
    let logs = bounds.daemon.logs();
    assert!(logs.contains("timeout"), "{logs}");
    assert!(logs.contains("reading the answer"), "{logs}");
    assert!(
        logs.contains("no revocation data for this certificate"),
        "{logs}"
    );
}

/// At most `MAX_URLS_PER_CERT` (2) URLs of a certificate, OCSP first, and at most `MAX_CERTS_PER_CHAIN` (4)
/// certificates of a chain: a leaf naming three OCSP URLs and a CRL, under four intermediates each naming an
/// OCSP URL and two CRLs. Every server answers 503, so every URL within the caps is tried once, and no other.
#[test]
fn the_url_and_chain_caps_bound_what_a_seal_fetches() {
    let bounds = Bounds::start("5s");
    let id = bounds.leaf("many_urls", "int4");

    // B-LTA: OCSP and CRLs. The chain is the leaf, int4, int3, int2, int1, root: int1 is fifth, not fetched for
    // (the root names no URL).
    bounds.seal_without_revocation_data(&id);
    let expected = sorted_paths(&[
        "/ocsp/leaf/1",
        "/ocsp/leaf/2",
        "/ocsp/int4",
        "/crl/int4/1",
        "/ocsp/int3",
        "/crl/int3/1",
        "/ocsp/int2",
        "/crl/int2/1",
    ]);
    assert_eq!(
        bounds.counting.sorted(),
        expected,
        "{}",
        bounds.daemon.logs()
    );

    // ocspDers: OCSP only, no CRL is downloaded, so an intermediate's only URL is its OCSP responder.
    bounds.counting.clear();
    let answer = sign_pades_hash(&bounds.daemon, &bounds.key, &id);
    assert_eq!(answer["ocspDers"], json!([]), "{answer}");
    let expected = sorted_paths(&[
        "/ocsp/leaf/1",
        "/ocsp/leaf/2",
        "/ocsp/int4",
        "/ocsp/int3",
        "/ocsp/int2",
    ]);
    assert_eq!(
        bounds.counting.sorted(),
        expected,
        "{}",
        bounds.daemon.logs()
    );
    assert_eq!(bounds.hanging.sorted(), Vec::<String>::new());
}

/// At most `MAX_CONCURRENT_FETCHES` (16) certificates are fetched for at once in the whole daemon, and at most
/// `MAX_FETCHES_PER_TENANT` (4) for one tenant; past either, a fetch waits for a place until its deadline
/// instead of going without at once. Calls to `/seal/sign-pades-hash` (one certificate each) are held by a
/// responder that never answers, with `revocation_timeout` at its maximum (10 s):
/// - tenant A's 4 take its share; its 5th waits, and tenant B's 4 still get places (8 at the responder, not 9);
/// - tenants C and D take theirs (16), and tenant E, past the daemon's 16, waits too;
/// - when A's first 4 reach their deadline and give their places back, A's 5th and E's call take places before
///   their own deadlines (each started a second or more later) and reach the responder: 18 in all.
///
/// The one-second spacings only order the calls; nothing here measures time. (How many may wait at once is
/// bounded too; the unit tests of `app/revocation.rs` show it.)
#[test]
fn fetch_places_are_shared_by_tenants_and_waited_for() {
    const SHARE: usize = 4;
    let bounds = Bounds::start("10s");
    // (API key, seal certificate) of tenants A to E; A is the bounds' own tenant.
    let mut tenants = vec![(bounds.key.clone(), bounds.leaf("hang", "root"))];
    for _ in 0..4 {
        let owner = bounds.daemon.owner_with_tenant();
        let leaf = bounds.leaf_of(&owner.token, "hang", "root");
        tenants.push((bounds.daemon.api_key(&owner.token, "test"), leaf));
    }
    // Liveness wait, not a measurement: until `count` calls are at the responder.
    let held = |count: usize| {
        let patience = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while bounds.hanging.len() < count {
            assert!(
                std::time::Instant::now() < patience,
                "{:?}\n{}",
                bounds.hanging.sorted(),
                bounds.daemon.logs()
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    };
    let second = std::time::Duration::from_secs(1);
    std::thread::scope(|scope| {
        let mut calls = Vec::new();
        let daemon = &bounds.daemon;
        let mut call = |tenant: usize| {
            let (key, leaf) = &tenants[tenant];
            calls.push(scope.spawn(move || sign_pades_hash(daemon, key, leaf)));
        };
        for _ in 0..SHARE {
            call(0);
        }
        held(SHARE);
        std::thread::sleep(second);
        call(0);
        for _ in 0..SHARE {
            call(1);
        }
        held(2 * SHARE);
        std::thread::sleep(second);
        // A's 5th is still waiting for a place of A's share.
        assert_eq!(bounds.hanging.len(), 2 * SHARE, "{}", bounds.daemon.logs());
        for _ in 0..SHARE {
            call(2);
        }
        for _ in 0..SHARE {
            call(3);
        }
        held(4 * SHARE);
        call(4);
        for call in calls {
            let answer = call.join().unwrap();
            assert_eq!(answer["ocspDers"], json!([]), "{answer}");
        }
    });
    assert_eq!(
        bounds.hanging.len(),
        4 * SHARE + 2,
        "{}",
        bounds.daemon.logs()
    );
}

/// The `[seal]` address policy: a redirect is an answer (302), not followed, whether it points at an allowed
/// address or at one the policy refuses; and a URL on an address outside `revocation_allow_private_networks`
/// is refused before any connection. The seals are made regardless.
#[test]
fn redirects_and_refused_addresses_are_not_followed() {
    let bounds = Bounds::start("5s");

    let redirect = bounds.leaf("redirect", "root");
    bounds.seal_without_revocation_data(&redirect);
    assert_eq!(
        bounds.counting.sorted(),
        ["/redirect-blocked/crl", "/redirect/ocsp"].map(String::from),
        "{}",
        bounds.daemon.logs()
    );

    let blocked = bounds.leaf("blocked", "root");
    let answer = sign_pades_hash(&bounds.daemon, &bounds.key, &blocked);
    assert_eq!(answer["ocspDers"], json!([]), "{answer}");
    bounds.seal_without_revocation_data(&blocked);

    assert_eq!(bounds.blocked.sorted(), Vec::<String>::new());
    let logs = bounds.daemon.logs();
    assert!(logs.contains("answered HTTP 302"), "{logs}");
    assert!(
        logs.contains("refused: 127.0.0.2 is a loopback address"),
        "{logs}"
    );
}

/// `paths` as the counting server's sorted list of request paths.
fn sorted_paths(paths: &[&str]) -> Vec<String> {
    let mut paths: Vec<String> = paths.iter().map(|p| p.to_string()).collect();
    paths.sort();
    paths
}
