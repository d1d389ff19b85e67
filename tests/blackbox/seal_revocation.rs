//! Revocation data for seals: a test CA whose leaves name a real `openssl ocsp` responder and a CRL served by
//! the test on loopback; seals of a good and a revoked certificate carry the OCSP responses (`ocspDers`, the
//! B-LTA DSS), `/seal/verify` reports them (a revoked signer is not PASSED), openssl checks what was
//! embedded, and with the responder down the CRL is used, then nothing, without failing the seal.

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};

use crate::harness::{Daemon, str_field};
use crate::seals::{form, post_form, provision, seal_bytes, simple_pdf};
use crate::timestamping::{config, sha256_hex, split_chain, wait_local_tsa};
use crate::tsa_standins::openssl_ok;

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `openssl ocsp` as a responder on `port`, killed on drop.
pub(crate) struct Responder(Child);

impl Responder {
    /// Starts it and waits for its "waiting for OCSP client connections" line. (A connection probe would not
    /// do: the responder serves one connection at a time and waits forever for a probe's request.)
    pub(crate) fn start(dir: &Path, port: u16) -> Responder {
        let mut child = Command::new("openssl")
            .args([
                "ocsp",
                "-index",
                "index.txt",
                "-port",
                &port.to_string(),
                "-rsigner",
                "ocsp.pem",
                "-rkey",
                "ocsp.key",
                "-CA",
                "ca.pem",
                "-nmin",
                "10",
                "-ignore_err",
            ])
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("openssl ocsp");
        let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        loop {
            line.clear();
            let read = std::io::BufRead::read_line(&mut stderr, &mut line).unwrap();
            assert!(read > 0, "the openssl OCSP responder exited");
            if line.contains("waiting for OCSP client connections") {
                break;
            }
        }
        // Keep draining its log so that it never blocks on a full pipe.
        std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
        Responder(child)
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Serves a CRL of the test CA, issued afresh for each GET (as a CA's CRL is newer than the signature it speaks
/// for: an older one shows nothing about a signature), on `listener` while `up` is set; answers 503 otherwise.
pub(crate) fn serve_crl(listener: TcpListener, dir: std::path::PathBuf, up: Arc<AtomicBool>) {
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut head = [0u8; 2048];
            let _ = stream.read(&mut head);
            let reply = if up.load(Ordering::SeqCst) {
                openssl_ok(
                    &dir,
                    &[
                        "ca", "-gencrl", "-config", "ca.cnf", "-cert", "ca.pem", "-keyfile",
                        "ca.key", "-crlexts", "crl_ext", "-out", "crl.pem",
                    ],
                );
                openssl_ok(
                    &dir,
                    &[
                        "crl", "-in", "crl.pem", "-outform", "DER", "-out", "crl.der",
                    ],
                );
                let body = std::fs::read(dir.join("crl.der")).unwrap_or_default();
                let mut reply = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/pkix-crl\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                )
                .into_bytes();
                reply.extend_from_slice(&body);
                reply
            } else {
                b"HTTP/1.1 503 Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                    .to_vec()
            };
            let _ = stream.write_all(&reply);
        }
    });
}

/// Provisions a P-256 seal certificate, has the test CA issue it with the leaf profile (AIA OCSP, CRL DP) as
/// `name.pem`, and activates it; returns its id.
pub(crate) fn issued_certificate(daemon: &Daemon, token: &str, dir: &Path, name: &str) -> String {
    let provisioned = provision(
        daemon,
        token,
        json!({ "commonName": format!("Seal {name}"), "organization": "Acme AS", "countryCode": "NO",
                "keyAlgorithm": "ecdsa-p256" }),
    );
    let id = str_field(&provisioned, "id");
    std::fs::write(
        dir.join(format!("{name}.csr")),
        str_field(&provisioned, "csrPem"),
    )
    .unwrap();
    issue_with_test_ca(dir, "leaf", &format!("{name}.csr"), &format!("{name}.pem"));
    let chain = std::fs::read_to_string(dir.join(format!("{name}.pem"))).unwrap()
        + &std::fs::read_to_string(dir.join("ca.pem")).unwrap();
    daemon
        .post(
            &format!("/seal/certificates/{id}/activate"),
            token,
            json!({ "certificatePem": chain }),
        )
        .expect(200);
    id
}

/// Has the test CA in `dir` issue the CSR at `csr` with the `profile` extensions of its `ca.cnf`, as `out` (PEM).
pub(crate) fn issue_with_test_ca(dir: &Path, profile: &str, csr: &str, out: &str) {
    openssl_ok(
        dir,
        &[
            "ca",
            "-batch",
            "-config",
            "ca.cnf",
            "-cert",
            "ca.pem",
            "-keyfile",
            "ca.key",
            "-extensions",
            profile,
            "-in",
            csr,
            "-out",
            out,
            "-notext",
        ],
    );
}

pub(crate) fn sign_pades_hash(daemon: &Daemon, key: &str, id: &str) -> Value {
    daemon
        .post(
            "/seal/sign-pades-hash",
            key,
            json!({ "hashHex": sha256_hex(b"a pdf byte range"), "certificateId": id }),
        )
        .expect(200)
}

pub(crate) fn verify_pdf(daemon: &Daemon, pdf: &[u8]) -> Value {
    post_form(
        daemon,
        "/seal/verify",
        None,
        form(&[("file", Some("sealed.pdf"), pdf)]),
    )
    .expect(200)
}

pub(crate) fn dss_of(pdf: &[u8]) -> sigil_pdf::Dss {
    sigil_pdf::Document::parse(pdf).unwrap().dss().unwrap()
}

/// The OCSP responses and CRLs of a DSS that were fetched: all of them less the local TSA root's own CRL, which
/// the daemon adds to every B-LTA seal the local TSA time-stamped (asserted present, once).
pub(crate) fn fetched_counts(dss: &sigil_pdf::Dss) -> (usize, usize) {
    use sigil_cms::der::Decode as _;
    let local = dss
        .crls
        .iter()
        .filter(|der| {
            sigil_cms::x509_cert::crl::CertificateList::<
                    sigil_cms::x509_cert::certificate::Rfc5280,
                >::from_der(der)
                .is_ok_and(|crl| {
                    crl.tbs_cert_list
                        .issuer
                        .to_string()
                        .contains("Sigil Local Root CA")
                })
        })
        .count();
    assert_eq!(local, 1, "the local TSA root's CRL, once: {dss:?}");
    (dss.ocsps.len(), dss.crls.len() - local)
}

#[test]
fn seals_carry_ocsp_or_crl_data_that_verifiers_read_and_survive_a_dead_responder() {
    let pki = tempfile::tempdir().unwrap();
    let dir = pki.path();
    let ocsp_port = free_port();
    let crl_listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let crl_port = crl_listener.local_addr().unwrap().port();
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/revocation/make-pki.sh")
        .canonicalize()
        .unwrap();
    let made = Command::new("sh")
        .arg(script)
        .args([ocsp_port.to_string(), crl_port.to_string()])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    let crl_up = Arc::new(AtomicBool::new(true));
    serve_crl(crl_listener, dir.to_path_buf(), crl_up.clone());

    let daemon = Daemon::start_raw_with_env(
        &config(&format!(
            "[seal]\ntrust_roots_file = \"{}\"\nrevocation_allow_private_networks = [\"127.0.0.0/8\"]\nrevocation_timeout = \"2s\"\n",
            dir.join("ca.pem").display()
        )),
        &[],
    );
    let tsa_chain = split_chain(&wait_local_tsa(&daemon));
    std::fs::write(dir.join("tsaroot.pem"), tsa_chain.last().unwrap()).unwrap();
    let owner = daemon.owner_with_tenant();
    let good = issued_certificate(&daemon, &owner.token, dir, "sealgood");
    let revoked = issued_certificate(&daemon, &owner.token, dir, "sealrevoked");
    openssl_ok(
        dir,
        &[
            "ca",
            "-config",
            "ca.cnf",
            "-cert",
            "ca.pem",
            "-keyfile",
            "ca.key",
            "-revoke",
            "sealrevoked.pem",
            "-crl_reason",
            "keyCompromise",
        ],
    );
    openssl_ok(
        dir,
        &[
            "ca", "-gencrl", "-config", "ca.cnf", "-cert", "ca.pem", "-keyfile", "ca.key",
            "-crlexts", "crl_ext", "-out", "crl.pem",
        ],
    );
    openssl_ok(
        dir,
        &[
            "crl", "-in", "crl.pem", "-outform", "DER", "-out", "crl.der",
        ],
    );
    let key = daemon.api_key(&owner.token, "test");
    let responder = Responder::start(dir, ocsp_port);

    // Good: ocspDers holds the responder's answer, which openssl verifies as "good".
    let answer = sign_pades_hash(&daemon, &key, &good);
    let ocsps = answer["ocspDers"].as_array().unwrap();
    assert_eq!(ocsps.len(), 1, "{answer}\n{}", daemon.logs());
    std::fs::write(
        dir.join("resp.der"),
        BASE64.decode(ocsps[0].as_str().unwrap()).unwrap(),
    )
    .unwrap();
    let text = openssl_ok(
        dir,
        &[
            "ocsp",
            "-respin",
            "resp.der",
            "-CAfile",
            "ca.pem",
            "-issuer",
            "ca.pem",
            "-cert",
            "sealgood.pem",
            "-verify_other",
            "ocsp.pem",
            "-no_nonce",
        ],
    );
    assert!(text.contains("Response verify OK"), "{text}");
    assert!(text.contains("sealgood.pem: good"), "{text}");

    // Revoked: the responder says so, and the seal is refused, naming the certificate.
    let refused = daemon
        .post(
            "/seal/sign-pades-hash",
            &key,
            json!({ "hashHex": sha256_hex(b"a pdf byte range"), "certificateId": revoked }),
        )
        .expect(400);
    assert_eq!(refused["code"], "INVALID_REQUEST", "{refused}");
    assert_eq!(refused["details"]["field"], "certificateId", "{refused}");
    assert!(
        refused["details"]["reason"]
            .as_str()
            .unwrap()
            .contains("revoked"),
        "{refused}"
    );

    // B-LTA PDFs: the DSS holds the OCSP response (and the responder certificate).
    let original = simple_pdf(None);
    let seal_pdf = |id: &str| {
        let (headers, sealed) = seal_bytes(
            &daemon,
            &key,
            &original,
            &[("level", "B-LTA"), ("certificateId", id)],
        );
        assert_eq!(
            headers.get("x-seal-level").unwrap(),
            "B-LTA",
            "{}",
            daemon.logs()
        );
        sealed
    };
    let good_pdf = seal_pdf(&good);
    let dss = dss_of(&good_pdf);
    assert_eq!(fetched_counts(&dss), (1, 0), "{dss:?}");
    let verdict = verify_pdf(&daemon, &good_pdf);
    let pades = &verdict["pades"];
    assert_eq!(pades["revocation"]["status"], "good", "{verdict}");
    assert_eq!(pades["revocation"]["source"], "ocsp", "{verdict}");
    assert_eq!(pades["indication"], "PASSED", "{verdict}");

    // A B-LTA seal with the revoked certificate is refused the same way.
    let refused = post_form(
        &daemon,
        "/seal/sign",
        Some(&key),
        form(&[
            ("file", Some("document.pdf"), &original[..]),
            ("level", None, b"B-LTA"),
            ("certificateId", None, revoked.as_bytes()),
        ]),
    )
    .expect(400);
    assert_eq!(refused["details"]["field"], "certificateId", "{refused}");

    // Responder down: the CRL distribution point is used instead, and openssl verifies that CRL.
    drop(responder);
    let crl_pdf = seal_pdf(&good);
    let dss = dss_of(&crl_pdf);
    assert_eq!(fetched_counts(&dss), (0, 1), "{dss:?}");
    std::fs::write(dir.join("embedded.crl"), &dss.crls[0]).unwrap();
    let text = openssl_ok(
        dir,
        &[
            "crl",
            "-in",
            "embedded.crl",
            "-inform",
            "DER",
            "-CAfile",
            "ca.pem",
            "-noout",
        ],
    );
    assert!(text.contains("verify OK"), "{text}");
    let verdict = verify_pdf(&daemon, &crl_pdf);
    assert_eq!(
        verdict["pades"]["revocation"]["status"], "good",
        "{verdict}"
    );
    assert_eq!(verdict["pades"]["revocation"]["source"], "crl", "{verdict}");
    assert_eq!(verdict["pades"]["indication"], "PASSED", "{verdict}");

    // Everything down: the seal is still made, without revocation data, and the log says why.
    crl_up.store(false, Ordering::SeqCst);
    let answer = sign_pades_hash(&daemon, &key, &good);
    assert_eq!(answer["ocspDers"], json!([]), "{answer}");
    let bare_pdf = seal_pdf(&good);
    let dss = dss_of(&bare_pdf);
    assert_eq!(fetched_counts(&dss), (0, 0), "{dss:?}");
    let verdict = verify_pdf(&daemon, &bare_pdf);
    assert_eq!(
        verdict["pades"]["revocation"]["status"], "none",
        "{verdict}"
    );
    let logs = daemon.logs();
    assert!(
        logs.contains("OCSP request for a seal certificate failed"),
        "{logs}"
    );
    assert!(logs.contains("answered HTTP 503"), "{logs}");

    // pyHanko judges the DSS's data in seal_revocation_ltv (its `sign validate` never reads the DSS, and
    // `sign adesverify` fetches live, so neither CLI command shows it offline).
}
