//! Document seals: a tenant certificate provisioned in the KMS, signed by a test CA made with `openssl`, activated,
//! and used to seal a file; the `.p7s` checked by `openssl cms -verify -cades` and its signature time-stamp by
//! `openssl ts -verify`; `/seal/verify` with and without the CA as a `[seal]` trust root; the platform
//! certificate; the operation log and `.p7s` downloads; and the refusals (fields, roles, tenants, keys, sizes).

use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::harness::{Daemon, Reply, assert_error, assert_invalid_field, str_field};
use crate::timestamping::{config, sha256_hex, split_chain, wait_local_tsa};
use crate::tsa_standins::{openssl_fails, openssl_ok};

const BOUNDARY: &str = "sigil-test-boundary-7d1f";

/// The oracle venv of tests/oracles/setup.sh (pyHanko, jwcrypto).
pub(crate) fn venv() -> std::path::PathBuf {
    let venv = std::env::var_os("SIGIL_ORACLE_VENV").map_or_else(
        || {
            std::path::PathBuf::from(std::env::var_os("HOME").expect("HOME"))
                .join(".cache/sigil-oracles/venv")
        },
        std::path::PathBuf::from,
    );
    assert!(
        venv.join("bin/pyhanko").exists(),
        "pyHanko oracle missing at {}: run tests/oracles/setup.sh (or set SIGIL_ORACLE_VENV)",
        venv.display()
    );
    venv
}

/// Runs a program of the oracle venv in `dir`; returns (success, stdout and stderr).
fn run_oracle(dir: &Path, program: &str, args: &[&str]) -> (bool, String) {
    let output = std::process::Command::new(venv().join("bin").join(program))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    (
        output.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

/// jwcrypto (an independent JWS implementation) verifies the JAdES signature with the key of `x5c[0]`.
const JWCRYPTO_CHECK: &str = r#"
import json, sys, base64
from jwcrypto import jwk, jws
from jwcrypto.common import JWSEHeaderParameter
data = open(sys.argv[1]).read()
header = json.loads(jws.base64url_decode(json.loads(data)["signatures"][0]["protected"]))
cert = base64.b64decode(header["x5c"][0])
pem = b"-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(cert) + b"-----END CERTIFICATE-----\n"
key = jwk.JWK.from_pem(pem)
registry = {
    "sigT": JWSEHeaderParameter("JAdES signing time", True, True, None),
    "sigD": JWSEHeaderParameter("JAdES signed data objects", True, True, None),
}
token = jws.JWS(header_registry=registry)
token.allowed_algs = ["ES256", "RS256"]
token.deserialize(data)
token.verify(key, detached_payload=b"")
print("jwcrypto: OK", header["alg"], header["sigD"]["pars"])
"#;

/// A multipart/form-data body: `(name, file name, bytes)` per part.
pub(crate) fn form(parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, file_name, bytes) in parts {
        body.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        match file_name {
            Some(file) => body.extend_from_slice(
                format!(
                    "Content-Disposition: form-data; name=\"{name}\"; filename=\"{file}\"\r\n\
                     Content-Type: application/octet-stream\r\n\r\n"
                )
                .as_bytes(),
            ),
            None => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
            ),
        }
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

pub(crate) fn post_form(daemon: &Daemon, path: &str, token: Option<&str>, body: Vec<u8>) -> Reply {
    let mut request = daemon
        .client()
        .post(daemon.url(path))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    daemon.send(request)
}

/// Seals `content` through `POST /seal/sign`, returning the reply (whose body is the `.p7s` on success).
fn seal(daemon: &Daemon, token: &str, content: &[u8], fields: &[(&str, &str)]) -> Reply {
    let mut parts: Vec<(&str, Option<&str>, &[u8])> =
        vec![("file", Some("document.json"), content)];
    for (name, value) in fields {
        parts.push((name, None, value.as_bytes()));
    }
    post_form(daemon, "/seal/sign", Some(token), form(&parts))
}

fn reply_bytes(daemon: &Daemon, request: reqwest::blocking::RequestBuilder) -> (u16, Vec<u8>) {
    let response = request
        .send()
        .unwrap_or_else(|e| panic!("request failed: {e}; log:\n{}", daemon.logs()));
    let status = response.status().as_u16();
    (status, response.bytes().expect("body").to_vec())
}

/// Seals through `/seal/sign` and returns the raw `.p7s` bytes (the reply text would mangle binary).
pub(crate) fn seal_bytes(
    daemon: &Daemon,
    token: &str,
    content: &[u8],
    fields: &[(&str, &str)],
) -> (reqwest::header::HeaderMap, Vec<u8>) {
    let mut parts: Vec<(&str, Option<&str>, &[u8])> =
        vec![("file", Some("document.json"), content)];
    for (name, value) in fields {
        parts.push((name, None, value.as_bytes()));
    }
    let response = daemon
        .client()
        .post(daemon.url("/seal/sign"))
        .bearer_auth(token)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(form(&parts))
        .send()
        .unwrap_or_else(|e| panic!("request failed: {e}; log:\n{}", daemon.logs()));
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.bytes().expect("body").to_vec();
    assert_eq!(
        status,
        200,
        "{}; log:\n{}",
        String::from_utf8_lossy(&bytes),
        daemon.logs()
    );
    (headers, bytes)
}

pub(crate) fn header(headers: &reqwest::header::HeaderMap, name: &str) -> String {
    headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header in {headers:?}"))
        .to_str()
        .expect("ASCII header")
        .to_string()
}

/// A test CA (P-256, keyCertSign) in `dir`: `ca.key`, `ca.pem`.
fn make_ca(dir: &Path) {
    openssl_ok(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-subj",
            "/CN=Sigil Test Seal CA/O=Test",
            "-days",
            "30",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
}

/// Has the test CA sign `csr.pem` into `leaf.pem` with keyUsage digitalSignature and nonRepudiation.
fn ca_sign(dir: &Path, csr: &str, leaf: &str) {
    std::fs::write(
        dir.join("leaf.ext"),
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,nonRepudiation\n",
    )
    .unwrap();
    openssl_ok(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            leaf,
            "-days",
            "20",
            "-extfile",
            "leaf.ext",
        ],
    );
}

/// Provisions a certificate; returns the 200 body.
#[track_caller]
pub(crate) fn provision(daemon: &Daemon, token: &str, body: Value) -> Value {
    daemon.post("/seal/certificates", token, body).expect(200)
}

/// The signature-time-stamp token of a `.p7s` and the signature value it covers.
fn timestamp_token(p7s: &[u8]) -> (Vec<u8>, Vec<u8>) {
    use sigil_cms::signed_data::{ID_AA_SIGNATURE_TIME_STAMP_TOKEN, parse_signed_data};
    let parsed = parse_signed_data(p7s).expect("the .p7s parses");
    let info = &parsed.signed_data.signer_infos.0[0];
    let attribute = info
        .unsigned_attrs
        .as_ref()
        .expect("unsigned attributes")
        .0
        .iter()
        .find(|a| a.attr_type == ID_AA_SIGNATURE_TIME_STAMP_TOKEN)
        .expect("a signature-time-stamp attribute");
    let token = sigil_cms::der::Encode::to_der(&attribute.attr_values.0[0]).unwrap();
    (token, info.signature.as_bytes().to_vec())
}

fn verify_form(daemon: &Daemon, content: &[u8], p7s: &[u8]) -> Reply {
    post_form(
        daemon,
        "/seal/verify",
        None,
        form(&[
            ("file", Some("document.json"), content),
            ("p7s", Some("document.json.p7s"), p7s),
        ]),
    )
}

/// Writes the platform root (PEM) to `path`, read from the chain `/seal/sign-pades-hash` answers with.
pub(crate) fn write_platform_root(daemon: &Daemon, key: &str, path: &std::path::Path) {
    let chain = daemon
        .post(
            "/seal/sign-pades-hash",
            key,
            json!({ "hashHex": sha256_hex(b"x"), "qualified": false }),
        )
        .expect(200)["certChainDers"]
        .clone();
    let root = BASE64.decode(chain[1].as_str().unwrap()).unwrap();
    std::fs::write(
        path,
        format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            BASE64.encode(&root)
        ),
    )
    .unwrap();
}

/// Waits until the platform seal certificate is listed (it is generated in the background at first start).
pub(crate) fn wait_platform(daemon: &Daemon, token: &str) -> Value {
    for _ in 0..600 {
        let list = daemon.get("/seal/certificates", token).expect(200);
        if let Some(last) = list.as_array().and_then(|l| l.last())
            && last["source"] == "platform"
        {
            return last.clone();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "the platform seal never became ready; log:\n{}",
        daemon.logs()
    );
}

#[test]
fn a_tenant_certificate_seals_a_file_that_openssl_verifies_with_its_timestamp() {
    let pki = tempfile::tempdir().unwrap();
    let dir = pki.path();
    make_ca(dir);
    let trusted = format!(
        "[seal]\ntrust_roots_file = \"{}\"\n",
        dir.join("ca.pem").display()
    );
    let daemon = Daemon::start_raw_with_env(&config(&trusted), &[]);
    let tsa_chain = split_chain(&wait_local_tsa(&daemon));
    std::fs::write(dir.join("tsaroot.pem"), tsa_chain.last().unwrap()).unwrap();
    let owner = daemon.owner_with_tenant();

    // Provision: RSA-4096 by default, a CSR signed by the KMS key.
    let provisioned = provision(
        &daemon,
        &owner.token,
        json!({ "commonName": "Acme Seal 2026", "organization": "Acme AS", "countryCode": "NO",
                "locality": "Oslo", "label": "acme" }),
    );
    assert_eq!(provisioned["status"], "provisioning");
    assert_eq!(provisioned["keyAlgorithm"], "rsa-4096");
    assert!(
        str_field(&provisioned, "kmsKeyArn").starts_with("file:")
            || !str_field(&provisioned, "kmsKeyArn").is_empty()
    );
    let id = str_field(&provisioned, "id");
    std::fs::write(dir.join("csr.pem"), str_field(&provisioned, "csrPem")).unwrap();
    let text = openssl_ok(
        dir,
        &["req", "-verify", "-in", "csr.pem", "-noout", "-text"],
    );
    assert!(
        text.contains("CN=Acme Seal 2026") || text.contains("CN = Acme Seal 2026"),
        "{text}"
    );
    assert!(text.contains("4096 bit"), "{text}");

    // Activate with the CA's certificate (leaf first, then the CA).
    ca_sign(dir, "csr.pem", "leaf.pem");
    let chain = std::fs::read_to_string(dir.join("leaf.pem")).unwrap()
        + &std::fs::read_to_string(dir.join("ca.pem")).unwrap();
    let active = daemon
        .post(
            &format!("/seal/certificates/{id}/activate"),
            &owner.token,
            json!({ "certificatePem": chain }),
        )
        .expect(200);
    assert_eq!(active["status"], "active");
    assert!(
        str_field(&active, "certSubject").contains("Acme Seal 2026"),
        "{active}"
    );
    assert!(active["certNotAfter"].is_string());

    // Seal a JSON file with an API key.
    let key = daemon.api_key(&owner.token, "live");
    let content = br#"{"invoice": 42, "amount": "100.00"}"#.to_vec();
    let (headers, p7s) = seal_bytes(
        &daemon,
        &key,
        &content,
        &[("certificateId", &id), ("label", "invoice-42")],
    );
    assert_eq!(
        header(&headers, "content-type"),
        "application/pkcs7-signature"
    );
    assert_eq!(header(&headers, "x-seal-certificate-id"), id);
    assert_eq!(header(&headers, "x-seal-format"), "cades");
    assert_eq!(header(&headers, "x-seal-level"), "B-T");
    assert_eq!(header(&headers, "x-seal-timestamped-by"), "Sigil local TSA");
    assert_eq!(header(&headers, "x-seal-qualified"), "false");
    let operation_id = header(&headers, "x-seal-operation-id");
    std::fs::write(dir.join("x.p7s"), &p7s).unwrap();
    std::fs::write(dir.join("content.json"), &content).unwrap();

    // Oracle 1: OpenSSL checks the CMS signature, the digest and the ESS signing-certificate-v2.
    let cms_verify = [
        "cms",
        "-verify",
        "-binary",
        "-inform",
        "DER",
        "-in",
        "x.p7s",
        "-content",
        "content.json",
        "-cades",
        "-purpose",
        "any",
        "-CAfile",
        "ca.pem",
        "-out",
        "/dev/null",
    ];
    openssl_ok(dir, &cms_verify);
    // Not vacuous: another content fails.
    std::fs::write(dir.join("content.json"), b"{\"invoice\": 43}").unwrap();
    openssl_fails(dir, &cms_verify);
    std::fs::write(dir.join("content.json"), &content).unwrap();

    // Oracle 2: the embedded token is over SHA-256 of the signature value and chains to the local TSA root.
    let (token, signature) = timestamp_token(&p7s);
    std::fs::write(dir.join("token.der"), &token).unwrap();
    let digest = hex::encode(Sha256::digest(&signature));
    let text = openssl_ok(
        dir,
        &[
            "ts",
            "-verify",
            "-digest",
            &digest,
            "-token_in",
            "-in",
            "token.der",
            "-CAfile",
            "tsaroot.pem",
        ],
    );
    assert!(text.contains("Verification: OK"), "{text}");

    // Oracle 3: pyHanko validates the detached signature and its time-stamp against the same roots.
    let (ok, text) = run_oracle(
        dir,
        "pyhanko",
        &[
            "sign",
            "validate",
            "--detached",
            "x.p7s",
            "--trust",
            "ca.pem",
            "--trust",
            "tsaroot.pem",
            "--trust-replace",
            "--no-revocation-check",
            "content.json",
        ],
    );
    assert!(ok, "pyHanko rejected the seal:\n{text}");
    assert!(
        text.contains("INTACT") && text.contains("TRUSTED") && !text.contains("UNTRUSTED"),
        "{text}"
    );
    assert!(
        text.to_lowercase().contains("timestamp"),
        "no timestamp in {text}"
    );

    // Our verifier: PASSED, chained to the configured root, B-T.
    let verdict = verify_form(&daemon, &content, &p7s).expect(200);
    assert_eq!(verdict["format"], "cades");
    let cades = &verdict["cades"];
    assert_eq!(cades["indication"], "PASSED", "{verdict}");
    assert_eq!(cades["hashMatch"], true);
    assert_eq!(cades["signatureValid"], true);
    assert_eq!(cades["certificate"]["trust"], "chained");
    assert_eq!(cades["level"], "B-T");
    assert_eq!(cades["tsrSource"], "embedded");
    assert_eq!(cades["timestamp"]["trusted"], true);
    assert_eq!(cades["fileHashHex"], sha256_hex(&content));
    assert!(cades["error"].is_null());

    // A tampered file: the seed's 400.
    let tampered = verify_form(&daemon, b"{\"invoice\": 43}", &p7s);
    let body = assert_error(&tampered, 400, "INVALID_REQUEST");
    assert_eq!(body["error"], "file hash does not match seal");
    assert_eq!(body["details"]["indication"], "FAILED");
    // A malformed .p7s, and no file.
    let malformed = verify_form(&daemon, &content, b"not a signature");
    assert_eq!(
        assert_error(&malformed, 400, "INVALID_REQUEST")["error"],
        "malformed .p7s or PDF"
    );
    let no_file = post_form(
        &daemon,
        "/seal/verify",
        None,
        form(&[("p7s", Some("x.p7s"), &p7s)]),
    );
    assert_invalid_field(&no_file, "file");

    // A standalone .tsr of the same file (a stamp made through /tsa/stamp-hash) is checked and reported as the
    // external time-stamp; one of another file is a tsrMatchError, not a 400.
    let stamp = daemon
        .post(
            "/tsa/stamp-hash",
            &key,
            json!({ "hashHex": sha256_hex(&content), "tsaSlug": "auto" }),
        )
        .expect(200);
    let tsr = BASE64.decode(str_field(&stamp, "tsrBase64")).unwrap();
    let with_tsr = post_form(
        &daemon,
        "/seal/verify",
        None,
        form(&[
            ("file", Some("document.json"), &content),
            ("p7s", Some("document.json.p7s"), &p7s),
            ("tsr", Some("document.tsr"), &tsr),
        ]),
    )
    .expect(200);
    assert_eq!(with_tsr["cades"]["tsrSource"], "external", "{with_tsr}");
    assert!(with_tsr["cades"]["tsrMatchError"].is_null());
    assert_eq!(with_tsr["cades"]["timestamp"]["trusted"], true);
    let other_stamp = daemon
        .post(
            "/tsa/stamp-hash",
            &key,
            json!({ "hashHex": sha256_hex(b"another file"), "tsaSlug": "auto" }),
        )
        .expect(200);
    let other_tsr = BASE64.decode(str_field(&other_stamp, "tsrBase64")).unwrap();
    let mismatched = post_form(
        &daemon,
        "/seal/verify",
        None,
        form(&[
            ("file", Some("document.json"), &content),
            ("p7s", Some("document.json.p7s"), &p7s),
            ("tsr", Some("other.tsr"), &other_tsr),
        ]),
    )
    .expect(200);
    assert!(
        mismatched["cades"]["tsrMatchError"].is_string(),
        "{mismatched}"
    );
    assert_eq!(mismatched["cades"]["tsrSource"], "embedded");
    let node = daemon
        .post_public(
            "/seal/verify-hash",
            json!({ "hashHex": sha256_hex(&content), "p7sBase64": BASE64.encode(&p7s),
                    "tsrBase64": BASE64.encode(&tsr) }),
        )
        .expect(200);
    assert_eq!(node["cades"]["tsrSource"], "external", "{node}");

    // The hash route of the public client (contract §3).
    let node = daemon
        .post_public(
            "/seal/verify-hash",
            json!({ "hashHex": sha256_hex(&content), "p7sBase64": BASE64.encode(&p7s) }),
        )
        .expect(200);
    assert_eq!(node["cades"]["hashMatch"], true);
    assert_eq!(node["cades"]["signatureValid"], true);
    assert_eq!(node["cades"]["certificate"]["trust"], "chained");
    let mismatch = daemon
        .post_public(
            "/seal/verify-hash",
            json!({ "hashHex": sha256_hex(b"other"), "p7sBase64": BASE64.encode(&p7s) }),
        )
        .expect(200);
    assert_eq!(mismatch["cades"]["hashMatch"], false);
    assert!(mismatch["cades"]["error"].is_string());

    // The operation log: found by label prefix and by hash prefix; no .p7s kept by default.
    let page = daemon
        .get("/seal/operations?search=invoice", &key)
        .expect(200);
    assert_eq!(page["total"], 1, "{page}");
    let item = &page["items"][0];
    assert_eq!(item["id"], operation_id.as_str());
    assert_eq!(item["documentHash"], sha256_hex(&content));
    assert_eq!(item["signatureType"], "cades");
    assert_eq!(item["certLabel"], "acme");
    assert_eq!(item["tsaName"], "Sigil local TSA");
    assert_eq!(item["hasP7s"], false);
    let by_hash = daemon
        .get(
            &format!("/seal/operations?search={}", &sha256_hex(&content)[..12]),
            &key,
        )
        .expect(200);
    assert_eq!(by_hash["total"], 1);
    let missing = daemon.get(&format!("/seal/operations/{operation_id}/p7s"), &key);
    let body = assert_error(&missing, 404, "NOT_FOUND");
    assert_eq!(
        body["error"],
        ".p7s not stored — enable Store CAdES seals in Settings, or download immediately after sealing."
    );

    // With storeCadesSeals on, a hash-only seal's .p7s is kept and downloadable as returned.
    daemon
        .send(
            daemon
                .client()
                .put(daemon.url("/api/settings"))
                .bearer_auth(&owner.token)
                .json(&json!({ "storeCadesSeals": true })),
        )
        .expect(200);
    let (status, hash_p7s) = reply_bytes(
        &daemon,
        daemon
            .client()
            .post(daemon.url("/seal/sign-hash"))
            .bearer_auth(&key)
            .json(&json!({ "hashHex": sha256_hex(&content), "certificateId": id, "qualified": false })),
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&hash_p7s));
    let page = daemon.get("/seal/operations?pageSize=1", &key).expect(200);
    assert_eq!(page["total"], 2);
    assert_eq!(page["items"][0]["hasP7s"], true);
    let stored_id = str_field(&page["items"][0], "id");
    let (status, stored) = reply_bytes(
        &daemon,
        daemon
            .client()
            .get(daemon.url(&format!("/seal/operations/{stored_id}/p7s")))
            .bearer_auth(&key),
    );
    assert_eq!(status, 200);
    assert_eq!(stored, hash_p7s);
    std::fs::write(dir.join("hash.p7s"), &hash_p7s).unwrap();
    openssl_ok(
        dir,
        &[
            "cms",
            "-verify",
            "-binary",
            "-inform",
            "DER",
            "-in",
            "hash.p7s",
            "-content",
            "content.json",
            "-cades",
            "-purpose",
            "any",
            "-CAfile",
            "ca.pem",
            "-out",
            "/dev/null",
        ],
    );
    // pqc is refused clearly.
    let pqc = daemon.post(
        "/seal/sign-hash",
        &key,
        json!({ "hashHex": sha256_hex(&content), "certificateId": id, "qualified": false, "pqc": true }),
    );
    assert_invalid_field(&pqc, "pqc");

    // The CMS of a PAdES signature for a client-computed ByteRange digest (contract §2 #7): no signing-time,
    // ESS signing-certificate-v2, the signature time-stamp; OpenSSL verifies it over the ByteRange bytes.
    let byte_range = b"%PDF-1.7 ... everything but /Contents ...".to_vec();
    let pades = daemon
        .post(
            "/seal/sign-pades-hash",
            &key,
            json!({ "hashHex": sha256_hex(&byte_range), "certificateId": id, "qualified": false }),
        )
        .expect(200);
    assert_eq!(pades["timestampedBy"], "Sigil local TSA");
    assert_eq!(pades["level"], "B-T");
    assert!(pades["operationId"].is_string());
    assert_eq!(pades["certChainDers"].as_array().unwrap().len(), 2);
    assert_eq!(pades["ocspDers"], json!([]));
    let cms = BASE64.decode(str_field(&pades, "cmsBase64")).unwrap();
    assert!(
        cms.len() <= 16384,
        "the client's /Contents slot is 16384 bytes, the CMS is {}",
        cms.len()
    );
    {
        use sigil_cms::signed_data::parse_signed_data;
        let parsed = parse_signed_data(&cms).unwrap();
        let signed = parsed.signed_data.signer_infos.0[0]
            .signed_attrs
            .as_ref()
            .unwrap();
        assert!(
            signed
                .0
                .iter()
                .all(|a| a.attr_type != sigil_cms::oids::ID_SIGNING_TIME),
            "PAdES forbids signing-time"
        );
    }
    timestamp_token(&cms);
    std::fs::write(dir.join("pades.cms"), &cms).unwrap();
    std::fs::write(dir.join("byterange.bin"), &byte_range).unwrap();
    openssl_ok(
        dir,
        &[
            "cms",
            "-verify",
            "-binary",
            "-inform",
            "DER",
            "-in",
            "pades.cms",
            "-content",
            "byterange.bin",
            "-cades",
            "-purpose",
            "any",
            "-CAfile",
            "ca.pem",
            "-out",
            "/dev/null",
        ],
    );
    let page = daemon.get("/seal/operations?pageSize=1", &key).expect(200);
    assert_eq!(page["items"][0]["signatureType"], "pades");

    // Another tenant sees none of these operations and cannot download them.
    let other = daemon.owner_with_tenant();
    assert_eq!(
        daemon.get("/seal/operations", &other.token).expect(200)["total"],
        0
    );
    assert_error(
        &daemon.get(&format!("/seal/operations/{stored_id}/p7s"), &other.token),
        404,
        "NOT_FOUND",
    );

    // Without the CA as a seal trust root the same seal is untrusted (reloaded config).
    daemon.write_raw_config(&config(""));
    daemon.sighup();
    daemon.wait_for_log("configuration reloaded");
    let verdict = verify_form(&daemon, &content, &p7s).expect(200);
    assert_eq!(
        verdict["cades"]["certificate"]["trust"], "untrusted",
        "{verdict}"
    );
    assert_ne!(verdict["cades"]["indication"], "PASSED");

    // Revocation: the certificate is revoked and seals no more.
    daemon
        .delete(&format!("/seal/certificates/{id}"), &owner.token)
        .expect(200);
    let list = daemon.get("/seal/certificates", &key).expect(200);
    assert_eq!(list[0]["status"], "revoked");
    let refused = seal(&daemon, &key, &content, &[("certificateId", &id)]);
    assert_invalid_field(&refused, "certificateId");
}

/// With `[local_tsa]` off, seal keys still live in the implicit `local-kms` (the seals' default KMS), whose key
/// file is made on first start as when the local TSA is on (it was not: provisioning answered 503, "key_file …:
/// No such file or directory").
#[test]
fn seal_keys_live_in_the_implicit_local_kms_with_the_local_tsa_disabled() {
    let daemon = Daemon::start_raw_with_env(&config("[local_tsa]\nenabled = false\n"), &[]);
    let owner = daemon.owner_with_tenant();
    let provisioned = provision(
        &daemon,
        &owner.token,
        json!({ "commonName": "Seal", "organization": "Acme AS", "countryCode": "NO",
                "keyAlgorithm": "ecdsa-p256" }),
    );
    assert!(
        str_field(&provisioned, "csrPem").starts_with("-----BEGIN CERTIFICATE REQUEST-----"),
        "{provisioned}"
    );
    let data_dir = daemon.data_dir();
    let key_file = data_dir.with_file_name(format!(
        "{}-keystore.key",
        data_dir.file_name().unwrap().to_string_lossy()
    ));
    assert!(key_file.exists(), "{}", key_file.display());
}

#[test]
fn without_a_certificate_of_its_own_a_tenant_seals_with_the_platform_certificate() {
    let daemon = Daemon::start_raw_with_env(&config(""), &[]);
    wait_local_tsa(&daemon);
    let owner = daemon.owner_with_tenant();
    let platform = wait_platform(&daemon, &owner.token);
    assert_eq!(platform["id"], "platform");
    assert_eq!(platform["status"], "active");
    assert!(str_field(&platform, "certSubject").contains("Sigil Platform Seal"));

    let key = daemon.api_key(&owner.token, "test");
    let content = b"plain text, not a PDF\n".to_vec();
    let (headers, p7s) = seal_bytes(&daemon, &key, &content, &[]);
    assert_eq!(header(&headers, "x-seal-certificate-id"), "platform");
    assert_eq!(header(&headers, "x-seal-level"), "B-T");
    let verdict = verify_form(&daemon, &content, &p7s).expect(200);
    assert_eq!(
        verdict["cades"]["certificate"]["trust"], "dev_ca",
        "{verdict}"
    );
    assert_eq!(verdict["cades"]["indication"], "PASSED", "{verdict}");

    // A stamp's answer carries the bare token too (the PAdES document time-stamp embeds it), and OpenSSL
    // accepts it as a token over the digest.
    let stamp = daemon
        .post(
            "/tsa/stamp-hash",
            &key,
            json!({ "hashHex": sha256_hex(&content), "tsaSlug": "auto" }),
        )
        .expect(200);
    let token = BASE64.decode(str_field(&stamp, "tokenBase64")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token.der"), &token).unwrap();
    std::fs::write(
        dir.path().join("tsaroot.pem"),
        split_chain(&wait_local_tsa(&daemon)).last().unwrap(),
    )
    .unwrap();
    let text = openssl_ok(
        dir.path(),
        &[
            "ts",
            "-verify",
            "-digest",
            &sha256_hex(&content),
            "-token_in",
            "-in",
            "token.der",
            "-CAfile",
            "tsaroot.pem",
        ],
    );
    assert!(text.contains("Verification: OK"), "{text}");

    // A member (not only owners and API keys) seals.
    let (member_token, _, member_email) = daemon.user();
    daemon.add_member(&owner.token, &owner.tenant_id, &member_email, "member");
    let member = daemon.refresh_to(&member_token, &owner.tenant_id);
    let (headers, _) = seal_bytes(
        &daemon,
        &member,
        b"member's file",
        &[("label", "by a member")],
    );
    assert_eq!(header(&headers, "x-seal-certificate-id"), "platform");

    // The platform certificate cannot be revoked or activated through the API.
    let revoke = daemon.delete("/seal/certificates/platform", &owner.token);
    assert_error(&revoke, 409, "CONFLICT");

    // A hash-only JAdES seal (contract §2 #3): jwcrypto verifies it, and /seal/verify-hash answers a `jades` node.
    let (status, jades) = reply_bytes(
        &daemon,
        daemon
            .client()
            .post(daemon.url("/seal/sign-hash"))
            .bearer_auth(&key)
            .json(
                &json!({ "hashHex": sha256_hex(&content), "qualified": false, "format": "jades",
                           "contentType": "text/plain" }),
            ),
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&jades));
    let parsed: Value = serde_json::from_slice(&jades).expect("JAdES JSON");
    assert!(
        parsed["signatures"][0]["header"]["etsiU"].is_array(),
        "no signature time-stamp: {parsed}"
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("seal.jades.json"), &jades).unwrap();
    std::fs::write(dir.path().join("check.py"), JWCRYPTO_CHECK).unwrap();
    let (ok, text) = run_oracle(dir.path(), "python", &["check.py", "seal.jades.json"]);
    assert!(
        ok && text.contains("jwcrypto: OK"),
        "jwcrypto rejected the JAdES:\n{text}"
    );
    let node = daemon
        .post_public(
            "/seal/verify-hash",
            json!({ "hashHex": sha256_hex(&content), "p7sBase64": BASE64.encode(&jades) }),
        )
        .expect(200);
    assert_eq!(node["jades"]["hashMatch"], true, "{node}");
    assert_eq!(node["jades"]["signatureValid"], true, "{node}");
    assert_eq!(node["jades"]["certificate"]["trust"], "dev_ca", "{node}");
    assert_eq!(node["jades"]["indication"], "PASSED", "{node}");
    let other = daemon
        .post_public(
            "/seal/verify-hash",
            json!({ "hashHex": sha256_hex(b"other"), "p7sBase64": BASE64.encode(&jades) }),
        )
        .expect(200);
    assert_eq!(other["jades"]["hashMatch"], false, "{other}");

    // Blind sealing of an envelope and object digests (contract §4–§6), then object verification.
    let envelope = sha256_hex(b"{\"envelope\": 1}");
    let (a, b) = (sha256_hex(b"object a"), sha256_hex(b"object b"));
    let sealed = daemon
        .post(
            "/seal/sign-hashes",
            &key,
            json!({ "envelopeHashHex": envelope, "qualified": false, "objects": [
                { "uri": "objects/a", "hashHex": a, "contentType": "text/plain" },
                { "uri": "objects/b", "hashHex": b } ] }),
        )
        .expect(200);
    assert_eq!(sealed["format"], "jades");
    assert_eq!(sealed["timestampedBy"], "Sigil local TSA");
    assert_eq!(sealed["pqc"], false);
    let signature = sealed["signature"].clone();
    let protected = signature["signatures"][0]["protected"].as_str().unwrap();
    let protected_header: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(protected)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        protected_header["sigD"]["pars"],
        json!(["sigill-envelope.json", "objects/a", "objects/b"])
    );
    assert_eq!(
        protected_header["sigD"]["ctys"],
        json!(["application/vnd.sigill.ai-evidence+json", "text/plain", ""])
    );
    std::fs::write(dir.path().join("objects.jades.json"), signature.to_string()).unwrap();
    let (ok, text) = run_oracle(dir.path(), "python", &["check.py", "objects.jades.json"]);
    assert!(
        ok && text.contains("jwcrypto: OK"),
        "jwcrypto rejected the JAdES:\n{text}"
    );
    let all = daemon
        .post_public(
            "/seal/verify-objects",
            json!({ "signature": signature, "digests": {
                "sigill-envelope.json": envelope, "objects/a": a, "objects/b": b } }),
        )
        .expect(200);
    let objects = &all["objects"];
    assert_eq!(objects["signatureValid"], true, "{all}");
    assert_eq!(objects["complete"], true, "{all}");
    assert_eq!(objects["matchedCount"], 3);
    assert_eq!(objects["pqc"], "absent");
    assert_eq!(objects["underlying"]["certificate"]["trust"], "platform");
    assert!(objects["underlying"]["timestamp"].is_object());
    let partial = daemon
        .post_public(
            "/seal/verify-objects",
            json!({ "signature": signature, "digests": {
                "sigill-envelope.json": envelope, "objects/a": b, "objects/z": a } }),
        )
        .expect(200);
    let objects = &partial["objects"];
    assert_eq!(objects["complete"], false);
    assert_eq!(objects["objects"][1]["hashMatch"], false, "{partial}");
    assert_eq!(objects["missing"], json!(["objects/b"]));
    assert_eq!(objects["unreferenced"], json!(["objects/z"]));
    for (uri, field) in [
        ("../etc", "objects[0].uri"),
        ("sigill-envelope.json", "objects[0].uri"),
        ("a//b", "objects[0].uri"),
    ] {
        let refused = daemon.post(
            "/seal/sign-hashes",
            &key,
            json!({ "envelopeHashHex": envelope, "qualified": false,
                    "objects": [ { "uri": uri, "hashHex": a } ] }),
        );
        assert_invalid_field(&refused, field);
    }

    // A PDF gets a PAdES signature inside it (B-T): the original is a byte prefix, qpdf, pdfsig and pyHanko
    // accept it, and /seal/verify finds it whole and signed by the platform chain.
    let original = simple_pdf(None);
    let (headers, sealed) = seal_bytes(
        &daemon,
        &key,
        &original,
        &[
            ("reason", "Approved"),
            ("location", "Oslo"),
            ("label", "pdf"),
        ],
    );
    assert_eq!(header(&headers, "content-type"), "application/pdf");
    assert_eq!(header(&headers, "x-seal-format"), "pades");
    assert_eq!(header(&headers, "x-seal-level"), "B-T");
    assert!(
        sealed.starts_with(&original),
        "the original must be a byte prefix"
    );
    let pdf_dir = tempfile::tempdir().unwrap();
    let pdf_path = pdf_dir.path();
    std::fs::write(pdf_path.join("sealed.pdf"), &sealed).unwrap();
    write_platform_root(&daemon, &key, &pdf_path.join("platform-root.pem"));
    std::fs::write(
        pdf_path.join("tsaroot.pem"),
        split_chain(&wait_local_tsa(&daemon)).last().unwrap(),
    )
    .unwrap();
    let qpdf = std::process::Command::new("qpdf")
        .args(["--check", "sealed.pdf"])
        .current_dir(pdf_path)
        .output()
        .expect("qpdf (apt-get install qpdf)");
    assert!(
        qpdf.status.success(),
        "qpdf --check: {}",
        String::from_utf8_lossy(&qpdf.stdout)
    );
    let pdfsig = std::process::Command::new("pdfsig")
        .arg("sealed.pdf")
        .current_dir(pdf_path)
        .output()
        .expect("pdfsig (apt-get install poppler-utils)");
    let text = String::from_utf8_lossy(&pdfsig.stdout);
    assert!(text.contains("Signature is Valid"), "pdfsig:\n{text}");
    assert!(text.contains("Total document signed"), "pdfsig:\n{text}");
    let (ok, text) = run_oracle(
        pdf_path,
        "pyhanko",
        &[
            "sign",
            "validate",
            "--trust",
            "platform-root.pem",
            "--trust",
            "tsaroot.pem",
            "--trust-replace",
            "--no-revocation-check",
            "sealed.pdf",
        ],
    );
    assert!(ok, "pyHanko rejected the sealed PDF:\n{text}");
    assert!(
        text.contains("INTACT") && text.contains("TRUSTED") && !text.contains("UNTRUSTED"),
        "{text}"
    );
    let verdict = post_form(
        &daemon,
        "/seal/verify",
        None,
        form(&[("file", Some("sealed.pdf"), &sealed)]),
    )
    .expect(200);
    assert_eq!(verdict["format"], "pades");
    let pades = &verdict["pades"];
    assert_eq!(pades["indication"], "PASSED", "{verdict}");
    assert_eq!(pades["hashMatch"], true);
    assert_eq!(pades["certificate"]["trust"], "dev_ca");
    assert_eq!(pades["coversWholeFile"], true);
    assert_eq!(pades["level"], "B-T");
    assert_eq!(pades["signatures"][0]["reason"], "Approved");
    // Sealing the sealed PDF again keeps the first signature valid; it no longer covers the whole file.
    let (_, twice) = seal_bytes(&daemon, &key, &sealed, &[]);
    assert!(twice.starts_with(&sealed));
    let verdict = post_form(
        &daemon,
        "/seal/verify",
        None,
        form(&[("file", Some("twice.pdf"), &twice)]),
    )
    .expect(200);
    let signatures = verdict["pades"]["signatures"].as_array().unwrap();
    assert_eq!(signatures.len(), 2, "{verdict}");
    assert_eq!(signatures[0]["indication"], "PASSED");
    assert_eq!(signatures[0]["coversWholeFile"], false);
    assert_eq!(signatures[0]["revisionsAfter"], 1);
    assert_eq!(signatures[1]["coversWholeFile"], true);
    // A changed byte inside the signed range: the seed's hash-mismatch 400.
    let mut tampered = sealed.clone();
    let at = original.len() / 2;
    tampered[at] ^= 0x01;
    let reply = post_form(
        &daemon,
        "/seal/verify",
        None,
        form(&[("file", Some("t.pdf"), &tampered)]),
    );
    assert_eq!(
        assert_error(&reply, 400, "INVALID_REQUEST")["error"],
        "file hash does not match seal"
    );
    // An encrypted PDF and a malformed one are refused with the reason; nothing half-written comes back.
    let encrypted = seal(&daemon, &key, &simple_pdf(Some("/Encrypt 9 0 R")), &[]);
    let body = assert_error(&encrypted, 400, "INVALID_REQUEST");
    assert_eq!(body["details"]["field"], "file");
    assert!(
        body["details"]["reason"]
            .as_str()
            .unwrap()
            .contains("encrypted"),
        "{body}"
    );
    let malformed = seal(&daemon, &key, b"%PDF-1.7\nnot really a pdf\n", &[]);
    let body = assert_error(&malformed, 400, "INVALID_REQUEST");
    assert_eq!(body["details"]["field"], "file");
}

/// A one-page PDF with a classic xref table; `trailer_extra` adds trailer entries (e.g. `/Encrypt`).
pub(crate) fn simple_pdf(trailer_extra: Option<&str>) -> Vec<u8> {
    let objects = [
        "<</Type/Catalog/Pages 2 0 R>>",
        "<</Type/Pages/Kids[3 0 R]/Count 1>>",
        "<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]/Contents 4 0 R/Resources<<>>>>",
        "<</Length 21>>\nstream\nBT /F1 12 Tf ET 0 0 m\nendstream",
    ];
    let mut out = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = Vec::new();
    for (i, object) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{object}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f\r\n", objects.len() + 1).as_bytes(),
    );
    for offset in offsets {
        out.extend_from_slice(format!("{offset:010} 00000 n\r\n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<</Size {}/Root 1 0 R{}>>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1,
            trailer_extra.unwrap_or("")
        )
        .as_bytes(),
    );
    out
}

#[test]
fn seal_refusals_name_the_field_role_tenant_check_or_limit() {
    let pki = tempfile::tempdir().unwrap();
    let dir = pki.path();
    make_ca(dir);
    let daemon = Daemon::start_raw_with_env(&config("[seal]\nmax_file_bytes = 4096\n"), &[]);
    let owner = daemon.owner_with_tenant();
    let base = json!({ "commonName": "Acme Seal", "organization": "Acme AS", "countryCode": "NO",
                       "keyAlgorithm": "ecdsa-p256" });

    // Each invalid field is named.
    for (field, value) in [
        ("countryCode", json!("Norway")),
        ("countryCode", json!("n0")),
        ("commonName", json!("")),
        ("organization", json!("x".repeat(65))),
        ("keyAlgorithm", json!("rsa-1024")),
        ("locality", json!("bad\u{0007}bell")),
    ] {
        let mut body = base.clone();
        body[field] = value;
        let reply = daemon.post("/seal/certificates", &owner.token, body);
        assert_invalid_field(&reply, field);
    }

    // A member may seal but not provision, activate or revoke; an API key neither.
    let (member_token, _, member_email) = daemon.user();
    daemon.add_member(&owner.token, &owner.tenant_id, &member_email, "member");
    let member = daemon.refresh_to(&member_token, &owner.tenant_id);
    assert_error(
        &daemon.post("/seal/certificates", &member, base.clone()),
        403,
        "FORBIDDEN",
    );
    let key = daemon.api_key(&owner.token, "live");
    assert_error(
        &daemon.post("/seal/certificates", &key, base.clone()),
        403,
        "FORBIDDEN",
    );
    let provisioned = provision(&daemon, &owner.token, base.clone());
    let id = str_field(&provisioned, "id");
    assert_error(
        &daemon.post(
            &format!("/seal/certificates/{id}/activate"),
            &member,
            json!({ "certificatePem": "x" }),
        ),
        403,
        "FORBIDDEN",
    );
    assert_error(
        &daemon.delete(&format!("/seal/certificates/{id}"), &member),
        403,
        "FORBIDDEN",
    );
    assert_eq!(
        daemon.get("/seal/certificates", &member).expect(200)[0]["id"],
        id.as_str()
    );

    // Another tenant's certificate is not found, for every route that names it.
    let other = daemon.owner_with_tenant();
    assert_error(
        &daemon.post(
            &format!("/seal/certificates/{id}/activate"),
            &other.token,
            json!({ "certificatePem": "x" }),
        ),
        404,
        "NOT_FOUND",
    );
    assert_error(
        &daemon.delete(&format!("/seal/certificates/{id}"), &other.token),
        404,
        "NOT_FOUND",
    );
    let other_key = daemon.api_key(&other.token, "live");
    assert_error(
        &seal(&daemon, &other_key, b"data", &[("certificateId", &id)]),
        404,
        "NOT_FOUND",
    );
    assert!(
        daemon
            .get("/seal/certificates", &other.token)
            .expect(200)
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["id"] != id.as_str())
    );

    // A chain for another key: refused, naming the failed check.
    openssl_ok(
        dir,
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "other.key",
            "-out",
            "other.csr",
            "-subj",
            "/CN=Someone Else",
        ],
    );
    ca_sign(dir, "other.csr", "other.pem");
    let wrong = daemon.post(
        &format!("/seal/certificates/{id}/activate"),
        &owner.token,
        json!({ "certificatePem": std::fs::read_to_string(dir.join("other.pem")).unwrap() }),
    );
    let body = assert_error(&wrong, 400, "INVALID_REQUEST");
    assert_eq!(body["details"]["field"], "certificatePem");
    assert!(
        body["details"]["reason"]
            .as_str()
            .unwrap()
            .contains("public key is not the provisioned KMS key"),
        "{body}"
    );
    // Not PEM at all.
    let garbage = daemon.post(
        &format!("/seal/certificates/{id}/activate"),
        &owner.token,
        json!({ "certificatePem": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n" }),
    );
    assert_invalid_field(&garbage, "certificatePem");

    // Over [seal] max_file_bytes: 413 in the API's error shape (sent raw: the server stops reading early).
    let body = form(&[("file", Some("big.bin"), &vec![b'a'; 8192])]);
    let head = format!(
        "POST /seal/sign HTTP/1.1\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {}",
        body.len()
    );
    let reply = daemon.send_raw(&head, &body);
    let error = assert_error(&reply, 413, "PAYLOAD_TOO_LARGE");
    assert_eq!(error["details"]["limit"], 4096);
    // No file at all, an unknown field, and a body that is not multipart.
    assert_invalid_field(&seal_without_file(&daemon, &key), "file");
    assert_invalid_field(&seal(&daemon, &key, b"x", &[("colour", "blue")]), "colour");
    let not_form = daemon.post("/seal/sign", &key, json!({ "file": "x" }));
    assert_error(&not_form, 415, "UNSUPPORTED_MEDIA_TYPE");
}

/// The kms-soft key file behind a `file:` key URI, in the implicit local-kms keystore of the data directory.
fn key_file(daemon: &Daemon, key_uri: &str) -> std::path::PathBuf {
    let label = key_uri
        .split(['/', ';', ':', '='])
        .find(|part| part.starts_with("seal-"))
        .unwrap_or_else(|| panic!("no seal label in {key_uri}"));
    daemon
        .data_dir()
        .join("keystore")
        .join(format!("{label}.key"))
}

#[test]
fn a_revoked_certificate_s_kms_key_is_scheduled_then_destroyed_by_the_deletion_job() {
    let daemon = Daemon::start_raw_with_env(&config("[testing]\nseal_key_grace_secs = 2\n"), &[]);
    let owner = daemon.owner_with_tenant();
    let provisioned = provision(
        &daemon,
        &owner.token,
        json!({ "commonName": "Doomed Seal", "organization": "Acme AS", "countryCode": "SE",
                "keyAlgorithm": "ecdsa-p256" }),
    );
    let id = str_field(&provisioned, "id");
    let file = key_file(&daemon, &str_field(&provisioned, "kmsKeyArn"));
    assert!(file.exists(), "no key file at {}", file.display());
    let before: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert!(before.get("delete_after_unix").is_none(), "{before}");

    daemon
        .delete(&format!("/seal/certificates/{id}"), &owner.token)
        .expect(200);
    // At once: the KMS holds the key for the 7-day grace period (it no longer signs with it).
    if let Ok(bytes) = std::fs::read(&file) {
        let after: Value = serde_json::from_slice(&bytes).unwrap();
        let created = after["created_unix"].as_u64().unwrap();
        let delete_after = after["delete_after_unix"]
            .as_u64()
            .expect("deletion scheduled");
        assert!(delete_after >= created + 6 * 24 * 3600, "{after}");
    }
    // A second revocation is a conflict, not a second schedule.
    assert_error(
        &daemon.delete(&format!("/seal/certificates/{id}"), &owner.token),
        409,
        "CONFLICT",
    );
    // The deletion job destroys the key once its (test-shortened) grace period is over.
    for _ in 0..200 {
        if !file.exists() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "the revoked key was never destroyed; log:\n{}",
        daemon.logs()
    );
}

fn seal_without_file(daemon: &Daemon, token: &str) -> Reply {
    post_form(
        daemon,
        "/seal/sign",
        Some(token),
        form(&[("label", None, b"nothing")]),
    )
}

/// The PDFs of tests/oracles/setup.sh (`SIGIL_PDF_CORPUS`, else the oracle cache): real files nobody here made.
fn pdf_corpus() -> Vec<std::path::PathBuf> {
    let dir = std::env::var_os("SIGIL_PDF_CORPUS").map_or_else(
        || {
            std::path::PathBuf::from(std::env::var_os("HOME").expect("HOME"))
                .join(".cache/sigil-oracles/pdf-corpus")
        },
        std::path::PathBuf::from,
    );
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| {
            panic!(
                "PDF corpus missing at {} ({e}): run tests/oracles/setup.sh",
                dir.display()
            )
        })
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| {
            path.extension()
                .is_some_and(|x| x.eq_ignore_ascii_case("pdf"))
        })
        .collect();
    files.sort();
    files
}

#[test]
fn every_corpus_pdf_is_sealed_and_verifies_or_is_refused_with_a_reason() {
    let daemon = Daemon::start_raw_with_env(&config("[seal]\nmax_file_bytes = 33554432\n"), &[]);
    wait_local_tsa(&daemon);
    let owner = daemon.owner_with_tenant();
    let key = daemon.api_key(&owner.token, "live");
    wait_platform(&daemon, &owner.token);
    let (mut sealed_count, mut refused) = (0, Vec::new());
    for path in pdf_corpus() {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let original = std::fs::read(&path).unwrap();
        if original.len() > 32 * 1024 * 1024 || !original.starts_with(b"%PDF-") {
            continue;
        }
        let before = post_form(
            &daemon,
            "/seal/verify",
            None,
            form(&[("file", Some("x.pdf"), &original)]),
        );
        let response = daemon
            .client()
            .post(daemon.url("/seal/sign"))
            .bearer_auth(&key)
            .header(
                "content-type",
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .body(form(&[("file", Some("x.pdf"), &original)]))
            .send()
            .unwrap();
        let status = response.status().as_u16();
        let bytes = response.bytes().unwrap().to_vec();
        if status != 200 {
            let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            assert_eq!(status, 400, "{name}: {body}");
            assert_eq!(body["details"]["field"], "file", "{name}: {body}");
            assert!(
                body["details"]["reason"]
                    .as_str()
                    .is_some_and(|r| !r.is_empty()),
                "{name}: {body}"
            );
            refused.push(format!("{name}: {}", body["details"]["reason"]));
            continue;
        }
        assert!(
            bytes.starts_with(&original),
            "{name}: the original is not a byte prefix"
        );
        let verdict = post_form(
            &daemon,
            "/seal/verify",
            None,
            form(&[("file", Some("x.pdf"), &bytes)]),
        );
        let verdict = verdict.expect(200);
        assert_eq!(
            verdict["pades"]["indication"], "PASSED",
            "{name}: {verdict}"
        );
        assert_eq!(verdict["pades"]["coversWholeFile"], true, "{name}");
        // Earlier signatures keep their verdict on the content they cover.
        if before.status == 200 {
            let old = before.json()["pades"]["signatures"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let new = verdict["pades"]["signatures"].as_array().unwrap();
            assert_eq!(new.len(), old.len() + 1, "{name}");
            for (a, b) in old.iter().zip(new) {
                assert_eq!(
                    a["hashMatch"], b["hashMatch"],
                    "{name}: an earlier signature changed"
                );
            }
        }
        sealed_count += 1;
    }
    eprintln!(
        "corpus: {sealed_count} sealed, {} refused: {refused:#?}",
        refused.len()
    );
    assert!(
        sealed_count >= 30,
        "only {sealed_count} corpus PDFs sealed; refused: {refused:#?}"
    );
}

/// `level=B-LTA` on a PDF: after the signature revision come a DSS revision (the signer's and the TSA's
/// certificates) and a document time-stamp revision; qpdf, pdfsig and pyHanko accept the file, pyHanko's
/// AdES validation reports the LTA updates, and /seal/verify verifies the signature and the document
/// time-stamp (which a change in the DSS revision breaks, the signature not). `level` outside
/// B-B/B-T/B-LTA and B-LTA on a file that is not a PDF are 400s naming the field.
#[test]
fn a_pdf_sealed_at_b_lta_carries_a_dss_and_a_document_timestamp_that_oracles_accept() {
    let daemon = Daemon::start_raw_with_env(&config(""), &[]);
    let tsa_chain = wait_local_tsa(&daemon);
    let owner = daemon.owner_with_tenant();
    wait_platform(&daemon, &owner.token);
    let key = daemon.api_key(&owner.token, "test");

    let original = simple_pdf(None);
    let (headers, sealed) = seal_bytes(&daemon, &key, &original, &[("level", "B-LTA")]);
    assert_eq!(header(&headers, "content-type"), "application/pdf");
    assert_eq!(header(&headers, "x-seal-level"), "B-LTA");
    assert_ne!(header(&headers, "x-seal-timestamped-by"), "none");
    let operations = daemon
        .get(
            &format!("/seal/operations?search={}", &sha256_hex(&original)[..12]),
            &key,
        )
        .expect(200);
    assert_eq!(operations["items"][0]["level"], "B-LTA", "{operations}");
    assert!(
        sealed.starts_with(&original),
        "the original must be a byte prefix"
    );
    let text = String::from_utf8_lossy(&sealed);
    assert!(text.contains("/DSS"), "no DSS revision");
    assert!(text.contains("/DocTimeStamp") && text.contains("/ETSI.RFC3161"));

    let pdf_dir = tempfile::tempdir().unwrap();
    let pdf_path = pdf_dir.path();
    std::fs::write(pdf_path.join("lta.pdf"), &sealed).unwrap();
    let chain = daemon
        .post(
            "/seal/sign-pades-hash",
            &key,
            json!({ "hashHex": sha256_hex(b"x"), "qualified": false }),
        )
        .expect(200)["certChainDers"]
        .clone();
    let root = BASE64.decode(chain[1].as_str().unwrap()).unwrap();
    std::fs::write(
        pdf_path.join("platform-root.pem"),
        format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            BASE64.encode(&root)
        ),
    )
    .unwrap();
    std::fs::write(
        pdf_path.join("tsaroot.pem"),
        split_chain(&tsa_chain).last().unwrap(),
    )
    .unwrap();
    let qpdf = std::process::Command::new("qpdf")
        .args(["--check", "lta.pdf"])
        .current_dir(pdf_path)
        .output()
        .expect("qpdf (apt-get install qpdf)");
    assert!(
        qpdf.status.success(),
        "qpdf --check: {}",
        String::from_utf8_lossy(&qpdf.stdout)
    );
    let pdfsig = std::process::Command::new("pdfsig")
        .arg("lta.pdf")
        .current_dir(pdf_path)
        .output()
        .expect("pdfsig (apt-get install poppler-utils)");
    let text = String::from_utf8_lossy(&pdfsig.stdout);
    assert!(text.contains("Signature is Valid"), "pdfsig:\n{text}");
    let trust = [
        "--trust",
        "platform-root.pem",
        "--trust",
        "tsaroot.pem",
        "--trust-replace",
        "--no-revocation-check",
    ];
    let mut args = vec!["sign", "validate"];
    args.extend(trust);
    args.push("lta.pdf");
    let (ok, text) = run_oracle(pdf_path, "pyhanko", &args);
    assert!(ok, "pyHanko rejected the B-LTA PDF:\n{text}");
    assert!(
        text.contains("INTACT") && text.contains("TRUSTED") && !text.contains("UNTRUSTED"),
        "{text}"
    );
    // pyHanko 0.38's AdES validation names no level; it reports the time-stamped signature intact and trusted,
    // extended with LTA updates (the DSS and the document time-stamp), which it judges VALID. Without
    // revocation data it also warns that it cannot get a control time for past (point-in-time) validation.
    let mut args = vec!["sign", "adesverify"];
    args.extend(trust);
    args.push("lta.pdf");
    let (ok, text) = run_oracle(pdf_path, "pyhanko", &args);
    assert!(ok, "pyHanko AdES validation failed:\n{text}");
    for expected in [
        ":INTACT:TRUSTED,",
        "TIMESTAMP_TOKEN<INTACT:TRUSTED>",
        "EXTENDED_WITH_LTA_UPDATES",
        "ACCEPTABLE_MODIFICATIONS",
    ] {
        assert!(text.contains(expected), "no {expected} in:\n{text}");
    }
    args.insert(2, "--pretty-print");
    let (ok, pretty) = run_oracle(pdf_path, "pyhanko", &args);
    assert!(ok, "pyHanko AdES validation failed:\n{pretty}");
    assert!(
        pretty.contains("The signature is judged VALID."),
        "{pretty}"
    );
    assert!(
        pretty.contains("All modifications relate to signature maintenance"),
        "{pretty}"
    );

    let verdict = post_form(
        &daemon,
        "/seal/verify",
        None,
        form(&[("file", Some("lta.pdf"), &sealed)]),
    )
    .expect(200);
    let pades = &verdict["pades"];
    assert_eq!(pades["indication"], "PASSED", "{verdict}");
    assert_eq!(pades["hashMatch"], true);
    assert_eq!(pades["revisionsAfter"], 2, "{verdict}");
    let signatures = pades["signatures"].as_array().unwrap();
    assert_eq!(signatures.len(), 2, "{verdict}");
    assert_eq!(signatures[0]["kind"], "signature");
    assert_eq!(signatures[1]["kind"], "docTimeStamp");
    assert_eq!(signatures[1]["coversWholeFile"], true);
    assert_eq!(signatures[1]["verified"], true, "{verdict}");
    assert_eq!(signatures[1]["valid"], true, "{verdict}");
    assert_eq!(signatures[1]["indication"], "PASSED", "{verdict}");
    assert_eq!(signatures[1]["timestamp"]["trusted"], true, "{verdict}");
    // A byte changed in the DSS revision (covered by the document time-stamp only): the signature still
    // verifies over its own range, the document time-stamp no longer does.
    let dss_at = find(&sealed, b"/Type/DSS")
        .or_else(|| find(&sealed, b"/Type /DSS"))
        .expect("the DSS dictionary");
    let mut tampered = sealed.clone();
    tampered[dss_at + 1] = b'X';
    let verdict = post_form(
        &daemon,
        "/seal/verify",
        None,
        form(&[("file", Some("lta.pdf"), &tampered)]),
    )
    .expect(200);
    let signatures = verdict["pades"]["signatures"].as_array().unwrap();
    assert_eq!(signatures[0]["indication"], "PASSED", "{verdict}");
    assert_eq!(signatures[1]["verified"], false, "{verdict}");
    assert_eq!(signatures[1]["valid"], false, "{verdict}");

    for (level, content) in [
        ("B-XX", original.clone()),
        ("B-LTA", b"{\"a\":1}\n".to_vec()),
    ] {
        let reply = seal(&daemon, &key, &content, &[("level", level)]);
        let body = assert_error(&reply, 400, "INVALID_REQUEST");
        assert_eq!(body["details"]["field"], "level", "{body}");
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
