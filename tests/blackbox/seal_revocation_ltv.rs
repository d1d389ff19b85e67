//! pyHanko as the independent oracle of a B-LTA seal's long-term validation data: seals of a certificate from
//! the revocation test PKI (`tests/fixtures/revocation/make-pki.sh`) are made while its OCSP responder and CRL
//! server are up; then both are stopped and pyHanko validates each PDF from what its DSS carries alone.
//!
//! Two time-stamping set-ups. The local TSA: its generated certificates name no revocation service, and the
//! daemon puts its generated root's own CRL (revoking nothing, signed by the root's KMS key) in the DSS, so
//! pyHanko accepts the seal both with the TSA chain held to "check if declared" and with revocation data
//! required everywhere. A TSA whose certificate names an OCSP responder or a CRL (as a deployment's would):
//! revocation data required for every certificate of every chain, and the seal is accepted.
//!
//! The oracle is pyHanko's AdES long-term validation (`ades_lta_validation`, ETSI EN 319 102-1 § 5.6.3, what
//! `pyhanko sign adesverify` runs) with revocation data required for every certificate (OCSP or CRL), called
//! through pyHanko's API because its CLI cannot validate offline: `adesverify` fetches live for the validation
//! at the current time, and in pyhanko-certvalidator 0.33 a failed fetch hides the DSS's responses (its
//! `RevinfoManager` only returns the known OCSP responses and CRLs when no fetcher is configured or the fetch
//! succeeds), so with the responder down it reports "no revocation information could be found" for a signer
//! whose OCSP response is in the DSS. `sign validate` never reads the DSS, and pyHanko 0.38 no longer has
//! `--ltv-profile` (`validate_pdf_ltv_signature` is gone). Here online fetching is off
//! (`RevinfoOnlineFetchingRule.LOCAL_ONLY`): only the file's data can satisfy the requirement.

use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::harness::Daemon;
use crate::seal_revocation::{
    Responder, dss_of, fetched_counts, free_port, issue_with_test_ca, issued_certificate,
    serve_crl, verify_pdf,
};
use crate::seals::{seal_bytes, simple_pdf, venv, wait_platform, write_platform_root};
use crate::timestamping::{built_plugin, config, provider, split_chain, wait_local_tsa};
use crate::tsa_standins::{Behaviour, OpensslTsa, StandIn};

/// pyHanko's AdES LTA validation of the first signature of `argv[1]`, offline, trusting the PEM files
/// `argv[3..]`: revocation data (OCSP or CRL) is required for every certificate of the signer's chain, and for
/// the time-stamps' TSA chains when `argv[2]` is `require`; with `if-declared` a TSA chain's certificates need it
/// only when they name a revocation service (pyHanko's `CHECK_IF_DECLARED`, its CLI's `hard-fail`). Prints the
/// AdES indications and pyHanko's report; pyHanko logs why a path failed on stderr.
const PYHANKO_LTV: &str = r#"
import asyncio, sys
from pyhanko.keys import load_certs_from_pemder
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import DEFAULT_DIFF_POLICY
from pyhanko.sign.validation.ades import ades_lta_validation
from pyhanko.sign.validation.policy_decl import (
    CertificateFetchingRule, PdfSignatureValidationSpec, RevinfoOnlineFetchingRule,
    RevocationInfoGatheringSpec, SignatureValidationSpec)
from pyhanko.sign.validation.status import format_pretty_print_details
from pyhanko_certvalidator.context import CertValidationPolicySpec
from pyhanko_certvalidator.ltv.types import ValidationTimingInfo
from pyhanko_certvalidator.policy_decl import (
    REQUIRE_REVINFO, CertRevTrustPolicy, FreshnessReqType, RevocationCheckingPolicy,
    RevocationCheckingRule)
from pyhanko_certvalidator.registry import SimpleTrustManager

pdf, tsa_rule, anchors = sys.argv[1], sys.argv[2], sys.argv[3:]
trust = SimpleTrustManager.build(trust_roots=list(load_certs_from_pemder(anchors)))

def policy(checking):
    return CertValidationPolicySpec(
        trust_manager=trust,
        revinfo_policy=CertRevTrustPolicy(
            checking, freshness=None,
            freshness_req_type=FreshnessReqType.MAX_DIFF_REVOCATION_VALIDATION))

if tsa_rule == 'require':
    ts_policy = None
elif tsa_rule == 'if-declared':
    ts_policy = policy(RevocationCheckingPolicy(
        RevocationCheckingRule.CHECK_IF_DECLARED, RevocationCheckingRule.CHECK_IF_DECLARED))
else:
    sys.exit('unknown TSA rule ' + tsa_rule)
spec = PdfSignatureValidationSpec(
    SignatureValidationSpec(
        cert_validation_policy=policy(REQUIRE_REVINFO),
        ts_cert_validation_policy=ts_policy,
        revinfo_gathering_policy=RevocationInfoGatheringSpec(
            online_fetching_rule=RevinfoOnlineFetchingRule.LOCAL_ONLY,
            certificate_fetching_rule=CertificateFetchingRule.NEVER_FETCH)),
    diff_policy=DEFAULT_DIFF_POLICY)
with open(pdf, 'rb') as f:
    signature = PdfFileReader(f).embedded_regular_signatures[0]
    result = asyncio.run(ades_lta_validation(
        signature, spec, timing_info=ValidationTimingInfo.now()))
ts = result.signature_timestamp_status
print('AdES indication:', result.ades_subindic)
print('signature time-stamp AdES indication:', ts.ades_subindic if ts else None)
print('oldest document time-stamp:', result.oldest_evidence_record_timestamp)
print(format_pretty_print_details(result.api_status))
"#;

/// Runs [`PYHANKO_LTV`] in `dir` on `pdf` with `tsa_rule` and the trust anchors `anchors`; returns its output
/// (stdout, then stderr).
fn pyhanko_ltv(dir: &Path, pdf: &str, tsa_rule: &str, anchors: &[&str]) -> String {
    std::fs::write(dir.join("pyhanko_ltv.py"), PYHANKO_LTV).unwrap();
    let output = Command::new(venv().join("bin/python"))
        .arg("pyhanko_ltv.py")
        .args([pdf, tsa_rule])
        .args(anchors)
        .current_dir(dir)
        .output()
        .expect("the oracle venv's python");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "the pyHanko driver failed:\n{text}"
    );
    text
}

/// Asserts that pyHanko's report `text` of `pdf` judges the signature and its time-stamp valid with trusted
/// certificates, and that the document time-stamp gave a proof of existence.
fn assert_ltv_passed(pdf: &str, text: &str) {
    for expected in [
        "AdES indication: AdESPassed.OK",
        "signature time-stamp AdES indication: AdESPassed.OK",
        "The signer's certificate is trusted.",
        "The TSA certificate is trusted.",
        "The signature is judged VALID.",
    ] {
        assert!(
            text.contains(expected),
            "{pdf}: no {expected:?} in:\n{text}"
        );
    }
    assert!(
        !text.contains("oldest document time-stamp: None"),
        "{pdf}: the document time-stamp gave no proof of existence:\n{text}"
    );
}

/// Whether one line of `text` holds all of `words`.
fn line_with(text: &str, words: &[&str]) -> bool {
    text.lines()
        .any(|line| words.iter().all(|w| line.contains(w)))
}

/// The revocation test PKI in a temp dir, its CRL served on loopback while the flag is set; the OCSP responder's
/// port (not started).
fn revocation_pki() -> (tempfile::TempDir, u16, Arc<AtomicBool>) {
    let pki = tempfile::tempdir().unwrap();
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
        .current_dir(pki.path())
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    let crl_up = Arc::new(AtomicBool::new(true));
    serve_crl(crl_listener, pki.path().to_path_buf(), crl_up.clone());
    (pki, ocsp_port, crl_up)
}

/// `[seal]` trusting the test CA and fetching revocation data from loopback.
fn seal_config(dir: &Path) -> String {
    format!(
        "[seal]\ntrust_roots_file = \"{}\"\nrevocation_allow_private_networks = [\"127.0.0.0/8\"]\nrevocation_timeout = \"2s\"\n",
        dir.join("ca.pem").display()
    )
}

/// Seals the simple PDF at B-LTA with certificate `id` and writes it to `dir/name`; asserts B-LTA was reached.
fn seal_lta(daemon: &Daemon, key: &str, id: &str, dir: &Path, name: &str) -> Vec<u8> {
    let (headers, sealed) = seal_bytes(
        daemon,
        key,
        &simple_pdf(None),
        &[("level", "B-LTA"), ("certificateId", id)],
    );
    assert_eq!(
        headers.get("x-seal-level").unwrap(),
        "B-LTA",
        "{}",
        daemon.logs()
    );
    std::fs::write(dir.join(name), &sealed).unwrap();
    sealed
}

#[test]
fn pyhanko_reads_the_dss_offline_and_the_local_roots_crl_covers_the_local_tsa() {
    let (pki, ocsp_port, crl_up) = revocation_pki();
    let dir = pki.path();
    let daemon = Daemon::start_raw_with_env(&config(&seal_config(dir)), &[]);
    let tsa_chain = split_chain(&wait_local_tsa(&daemon));
    std::fs::write(dir.join("tsaroot.pem"), tsa_chain.last().unwrap()).unwrap();
    let owner = daemon.owner_with_tenant();
    let good = issued_certificate(&daemon, &owner.token, dir, "sealgood");
    let key = daemon.api_key(&owner.token, "test");

    // Three seals while the services go down one by one: with the OCSP response in the DSS, with the CRL
    // (responder down), and with neither (both down, the negative control).
    let responder = Responder::start(dir, ocsp_port);
    let ocsp_pdf = seal_lta(&daemon, &key, &good, dir, "ocsp.pdf");
    drop(responder);
    let crl_pdf = seal_lta(&daemon, &key, &good, dir, "crl.pdf");
    crl_up.store(false, Ordering::SeqCst);
    let bare_pdf = seal_lta(&daemon, &key, &good, dir, "bare.pdf");
    // Each also carries the local TSA root's own CRL (made by the daemon, fetched from nobody).
    for (pdf, counts) in [(&ocsp_pdf, (1, 0)), (&crl_pdf, (0, 1)), (&bare_pdf, (0, 0))] {
        assert_eq!(fetched_counts(&dss_of(pdf)), counts);
    }
    // Our own verifier agrees on the signer's status before the oracle is asked.
    let verdict = verify_pdf(&daemon, &ocsp_pdf);
    assert_eq!(
        verdict["pades"]["revocation"]["status"], "good",
        "{verdict}"
    );

    // Trust: the test PKI's root and the local TSA's root, nothing else. The local TSA's certificates name no
    // revocation service, so its chain is held to "check if declared"; the signer's chain needs OCSP or CRL.
    let anchors = ["ca.pem", "tsaroot.pem"];
    for pdf in ["ocsp.pdf", "crl.pdf"] {
        let text = pyhanko_ltv(dir, pdf, "if-declared", &anchors);
        assert_ltv_passed(pdf, &text);
        assert!(
            !text.contains("no revocation information could be found"),
            "{pdf}:\n{text}"
        );
    }

    // The negative control: the same seal without revocation data in its DSS is refused, and pyHanko says why
    // (so the two above passed on the DSS's OCSP response and CRL, fetched by nobody).
    let text = pyhanko_ltv(dir, "bare.pdf", "if-declared", &anchors);
    assert!(!text.contains("AdESPassed"), "{text}");
    assert!(
        line_with(
            &text,
            &[
                "no revocation information could be found for the end-entity certificate",
                "Seal sealgood"
            ]
        ),
        "{text}"
    );

    // With revocation data required for the TSA chains too: the local TSA's certificate names no responder and
    // no CRL, and the local root's CRL in the DSS answers for it, so both time-stamps validate and the document
    // time-stamp gives the proof of existence.
    for pdf in ["ocsp.pdf", "crl.pdf"] {
        assert_ltv_passed(pdf, &pyhanko_ltv(dir, pdf, "require", &anchors));
    }
}

/// A seal with the platform certificate (the tenant has none of its own), time-stamped by the local TSA: no
/// certificate of either chain names a revocation service, and the two generated roots' own CRLs in the DSS
/// satisfy pyHanko requiring revocation data for every certificate of every chain, offline.
#[test]
fn pyhanko_requiring_revocation_data_everywhere_accepts_a_platform_seal_on_the_local_roots_crls() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path();
    let daemon = Daemon::start_raw_with_env(&config(""), &[]);
    let tsa_chain = split_chain(&wait_local_tsa(&daemon));
    std::fs::write(dir.join("tsaroot.pem"), tsa_chain.last().unwrap()).unwrap();
    let owner = daemon.owner_with_tenant();
    wait_platform(&daemon, &owner.token);
    let key = daemon.api_key(&owner.token, "test");
    write_platform_root(&daemon, &key, &dir.join("platform-root.pem"));
    let (headers, sealed) = seal_bytes(&daemon, &key, &simple_pdf(None), &[("level", "B-LTA")]);
    assert_eq!(headers.get("x-seal-level").unwrap(), "B-LTA");
    std::fs::write(dir.join("platform.pdf"), &sealed).unwrap();
    let dss = dss_of(&sealed);
    assert_eq!((dss.ocsps.len(), dss.crls.len()), (0, 2), "{dss:?}");

    let anchors = ["platform-root.pem", "tsaroot.pem"];
    let text = pyhanko_ltv(dir, "platform.pdf", "require", &anchors);
    assert_ltv_passed("platform.pdf", &text);
}

#[test]
fn pyhanko_requiring_revocation_data_everywhere_accepts_a_seal_whose_tsa_names_a_responder() {
    strict_ltv_with_a_deployment_tsa("tsa", false);
}

#[test]
fn pyhanko_requiring_revocation_data_everywhere_accepts_a_seal_whose_tsa_names_only_a_crl() {
    strict_ltv_with_a_deployment_tsa("tsa_crl", false);
}

/// A TSA whose tokens carry only its own certificate: its issuer comes from the TSA trust anchors, so the TSA's
/// OCSP request can be made and the DSS still answers for it.
#[test]
fn pyhanko_requiring_revocation_data_everywhere_accepts_a_seal_whose_tsa_embeds_only_its_certificate()
 {
    strict_ltv_with_a_deployment_tsa("tsa", true);
}

/// A deployment's TSA: an `openssl ts` stand-in whose certificate the test CA issues with `profile` (`tsa`:
/// AIA OCSP, the same responder as the signer's; `tsa_crl`: a CRL distribution point only), reached through
/// tsa-http; the local TSA is off so that it stamps both the signature and the document. The B-LTA seal's DSS
/// must answer for both chains, and pyHanko, requiring revocation data everywhere and fetching nothing, accepts it.
/// With `own_certificate_only` its tokens embed the TSA certificate alone.
fn strict_ltv_with_a_deployment_tsa(profile: &str, own_certificate_only: bool) {
    let (pki, ocsp_port, crl_up) = revocation_pki();
    let dir = pki.path();
    let tsa = OpensslTsa::new("LTV Test TSA", "1.3.6.1.4.1.32473.7");
    let csr = tsa.dir().join("tsa.csr");
    let tsa_pem = tsa.tsa_pem();
    issue_with_test_ca(
        dir,
        profile,
        csr.to_str().unwrap(),
        tsa_pem.to_str().unwrap(),
    );
    std::fs::copy(dir.join("ca.pem"), tsa.root_pem()).unwrap();
    if own_certificate_only {
        tsa.embed_only_its_own_certificate();
    }
    let server = StandIn::start(Behaviour::Tsa(tsa.clone()));
    built_plugin("libsigil_tsa_http.so");
    let daemon = Daemon::start_raw_with_env(
        &config(&format!(
            "{}\n[local_tsa]\nenabled = false\n{}",
            seal_config(dir),
            provider(
                "ltv",
                "LTV Test TSA",
                &server.url(),
                &format!("trust_roots_file = \"{}\"", dir.join("ca.pem").display())
            )
        )),
        &[],
    );
    let owner = daemon.owner_with_tenant();
    let good = issued_certificate(&daemon, &owner.token, dir, "sealgood");
    let key = daemon.api_key(&owner.token, "test");

    let responder = Responder::start(dir, ocsp_port);
    let sealed = seal_lta(&daemon, &key, &good, dir, "lta.pdf");
    drop(responder);
    crl_up.store(false, Ordering::SeqCst);
    assert_eq!(
        server.hits(),
        2,
        "the signature and the document time-stamp"
    );
    // The signer's OCSP response and the TSA's (or the CRL its certificate names), and the certificates:
    // signer, CA, TSA, responder.
    let dss = dss_of(&sealed);
    let expected = if profile == "tsa" { (2, 0) } else { (1, 1) };
    assert_eq!((dss.ocsps.len(), dss.crls.len()), expected, "{dss:?}");
    let certs: Vec<Vec<u8>> = ["sealgood.pem", "ca.pem", "ocsp.pem"]
        .iter()
        .map(|name| pem_der(&std::fs::read_to_string(dir.join(name)).unwrap()))
        .chain([pem_der(&std::fs::read_to_string(&tsa_pem).unwrap())])
        .collect();
    for cert in &certs {
        assert!(
            dss.certs.contains(cert),
            "a certificate is missing: {dss:?}"
        );
    }

    // Trust: the test CA alone (it is the signer's root and the TSA's). Revocation data is required for every
    // certificate of every chain, and nothing is fetched: the DSS answers for the signer and for the TSA.
    let text = pyhanko_ltv(dir, "lta.pdf", "require", &["ca.pem"]);
    assert_ltv_passed("lta.pdf", &text);
    assert!(
        text.contains("TSA certificate subject: \"Common Name: LTV Test TSA\""),
        "{text}"
    );
    assert!(!text.contains("Validation error"), "{text}");
}

/// The DER of a single-certificate PEM.
fn pem_der(pem: &str) -> Vec<u8> {
    let body: String = pem
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect();
    BASE64.decode(body).unwrap()
}
