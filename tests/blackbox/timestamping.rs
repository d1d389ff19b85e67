//! Timestamping, part 1: the local TSA checked by an independent oracle (`openssl ts -verify` against the chain
//! the daemon publishes) over `POST /tsr` and through the API, with ECDSA, RSA and a key in SoftHSM2; the access
//! rules of `/tsr`; and the `POST /tsa/stamp-hash` contract. Also the helpers the other `timestamping_*` modules
//! share.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};
use sha2::{Digest, Sha256, Sha384, Sha512};

use crate::harness::{
    Daemon, FAST_TEST_BASE, Reply, SIGILD, assert_error, assert_invalid_field, str_field,
};
use crate::tsa_standins::{openssl_fails, openssl_ok};

pub const SHA256_OID: &str = "2.16.840.1.101.3.4.2.1";
pub const SHA384_OID: &str = "2.16.840.1.101.3.4.2.2";
pub const SHA512_OID: &str = "2.16.840.1.101.3.4.2.3";
/// The local TSA's default policy (config/sigild.toml).
pub const LOCAL_POLICY: &str = "1.3.6.1.4.1.32473.1.1";
/// The local TSA's default display name.
pub const LOCAL_NAME: &str = "Sigil local TSA";

// ---- shared helpers ------------------------------------------------------------------------------------------

/// A complete config file: the base test settings (fast argon2, limits out of reach), no plugin-directory
/// watching (the build directory changes under concurrent builds), then `extra` (which may hold `[tsa]`,
/// `[local_tsa]`, `[[tsa_providers]]` and `[[plugins]]`).
pub fn config(extra: &str) -> String {
    format!(
        r#"
{FAST_TEST_BASE}

[plugin_host]
watch = false

{extra}
"#
    )
}

/// A daemon on [`config`]`(extra)`.
pub fn start(extra: &str) -> Daemon {
    Daemon::start_raw_with_env(&config(extra), &[])
}

/// A `[[tsa_providers]]` entry served by tsa-http at `url`; `fields` adds lines to the entry (e.g.
/// `qualified = true`).
pub fn provider(slug: &str, name: &str, url: &str, fields: &str) -> String {
    format!(
        r#"
[[tsa_providers]]
slug = "{slug}"
name = "{name}"
plugin = "tsa-http"
enabled = true
{fields}
[tsa_providers.config]
url = "{url}"
hash = "sha256"
timeout_ms = 2000
"#
    )
}

/// Where `cargo build --workspace` put the plugins: next to `sigild`.
pub fn built_plugin(file: &str) -> PathBuf {
    let path = Path::new(SIGILD)
        .parent()
        .expect("sigild has a directory")
        .join(file);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace` first",
        path.display()
    );
    path
}

/// Waits (bounded by attempts) until the local TSA is ready; returns its chain PEM (TSA certificate first).
#[track_caller]
pub fn wait_local_tsa(daemon: &Daemon) -> String {
    for _ in 0..1200 {
        let reply = daemon.get_public("/proxy/services/local/certificates");
        match reply.status {
            200 => {
                assert!(
                    reply
                        .header("content-type")
                        .is_some_and(|t| t.starts_with("application/x-pem-file")),
                    "{:?}",
                    reply.headers
                );
                return reply.text;
            }
            503 => std::thread::sleep(Duration::from_millis(50)),
            other => panic!("local TSA certificates: {other} {}", reply.text),
        }
    }
    panic!("the local TSA never became ready; log:\n{}", daemon.logs());
}

/// The PEM certificates of a chain, in order.
pub fn split_chain(pem: &str) -> Vec<String> {
    pem.split_inclusive("-----END CERTIFICATE-----")
        .map(str::trim)
        .filter(|c| c.starts_with("-----BEGIN CERTIFICATE-----"))
        .map(|c| format!("{c}\n"))
        .collect()
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

pub fn sha384_hex(data: &[u8]) -> String {
    hex::encode(Sha384::digest(data))
}

pub fn sha512_hex(data: &[u8]) -> String {
    hex::encode(Sha512::digest(data))
}

/// A SHA-256 hex digest nobody else stamped.
pub fn fresh_hash() -> String {
    sha256_hex(uuid::Uuid::new_v4().as_bytes())
}

/// `POST /tsa/stamp-hash`.
pub fn stamp(daemon: &Daemon, token: &str, body: Value) -> Reply {
    daemon.post("/tsa/stamp-hash", token, body)
}

/// `POST /tsa/stamp-hash` that must succeed; returns the body.
#[track_caller]
pub fn stamp_ok(daemon: &Daemon, token: &str, body: Value) -> Value {
    stamp(daemon, token, body).expect(200)
}

/// PUT a JSON body with a bearer token.
pub fn put(daemon: &Daemon, path: &str, token: &str, body: Value) -> Reply {
    daemon.send(
        daemon
            .client()
            .put(daemon.url(path))
            .bearer_auth(token)
            .json(&body),
    )
}

/// Decodes standard base64.
#[track_caller]
pub fn unbase64(text: &str) -> Vec<u8> {
    BASE64.decode(text).expect("valid base64")
}

pub fn base64(bytes: &[u8]) -> String {
    BASE64.encode(bytes)
}

/// `POST /tsr` with raw bytes; returns (status, content type, body bytes).
pub fn post_tsr(
    daemon: &Daemon,
    content_type: Option<&str>,
    bearer: Option<&str>,
    body: Vec<u8>,
) -> (u16, String, Vec<u8>) {
    let mut request = daemon.client().post(daemon.url("/tsr")).body(body);
    if let Some(content_type) = content_type {
        request = request.header("Content-Type", content_type);
    }
    if let Some(bearer) = bearer {
        request = request.bearer_auth(bearer);
    }
    let response = request.send().expect("POST /tsr");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (
        status,
        content_type,
        response.bytes().expect("reading /tsr").to_vec(),
    )
}

/// A scratch directory for oracle files.
pub struct Scratch(tempfile::TempDir);

impl Scratch {
    pub fn new() -> Scratch {
        Scratch(
            tempfile::Builder::new()
                .prefix("ts-oracle-")
                .tempdir()
                .expect("temp dir"),
        )
    }

    pub fn path(&self) -> &Path {
        self.0.path()
    }

    /// Writes `name` and returns its file name (openssl runs in this directory).
    pub fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> String {
        std::fs::write(self.0.path().join(name), bytes).expect("writing a scratch file");
        name.to_string()
    }

    /// Writes the chain as `tsa.pem` (first) and `root.pem` (last).
    pub fn write_chain(&self, chain_pem: &str) {
        let certs = split_chain(chain_pem);
        assert!(
            certs.len() >= 2,
            "the chain should hold a TSA certificate and a root: {chain_pem}"
        );
        self.write("tsa.pem", &certs[0]);
        self.write("root.pem", certs.last().expect("a root"));
    }

    /// `openssl ts -reply -in <tsr> -text`.
    pub fn reply_text(&self, tsr: &[u8]) -> String {
        let file = self.write("text.tsr", tsr);
        openssl_ok(self.path(), &["ts", "-reply", "-in", &file, "-text"])
    }

    /// `openssl ts -verify -digest <hex>` of a TimeStampResp against `root`/`tsa` (file names in this directory),
    /// and a negative check that another digest is refused.
    #[track_caller]
    pub fn verify_digest(&self, tsr: &[u8], digest_hex: &str, root: &str, tsa: &str) {
        let file = self.write("verify.tsr", tsr);
        openssl_ok(
            self.path(),
            &[
                "ts",
                "-verify",
                "-digest",
                digest_hex,
                "-in",
                &file,
                "-CAfile",
                root,
                "-untrusted",
                tsa,
            ],
        );
        let mut other = hex::decode(digest_hex).expect("hex digest");
        other[0] ^= 0x01;
        openssl_fails(
            self.path(),
            &[
                "ts",
                "-verify",
                "-digest",
                &hex::encode(other),
                "-in",
                &file,
                "-CAfile",
                root,
                "-untrusted",
                tsa,
            ],
        );
    }
}

/// A line's value from `openssl ts -reply -text`, e.g. `line_value(text, "Serial number:")`.
#[track_caller]
pub fn line_value(text: &str, prefix: &str) -> String {
    text.lines()
        .find_map(|l| l.trim().strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no {prefix:?} in:\n{text}"))
        .trim()
        .to_string()
}

/// `0x1F...` (openssl's serial) as a decimal string.
pub fn hex_to_decimal(hex_text: &str) -> String {
    let digits = hex_text.trim_start_matches("0x").trim_start_matches("0X");
    // Little-endian base-1e9 limbs.
    let mut limbs: Vec<u64> = vec![0];
    for c in digits.chars() {
        let mut carry = u64::from(c.to_digit(16).expect("hex digit"));
        for limb in &mut limbs {
            let value = *limb * 16 + carry;
            *limb = value % 1_000_000_000;
            carry = value / 1_000_000_000;
        }
        if carry > 0 {
            limbs.push(carry);
        }
    }
    let mut text = limbs.last().expect("a limb").to_string();
    for limb in limbs.iter().rev().skip(1) {
        text.push_str(&format!("{limb:09}"));
    }
    text
}

/// Asserts the documented fields of a fresh stamp-hash response.
#[track_caller]
pub fn assert_stamp_shape(body: &Value, hash_hex: &str, oid: &str) {
    for field in ["id", "serial", "genTime", "tsrBase64", "tsaName"] {
        assert!(
            body[field].as_str().is_some_and(|v| !v.is_empty()),
            "`{field}` in {body}"
        );
    }
    assert!(
        uuid::Uuid::parse_str(body["id"].as_str().unwrap()).is_ok(),
        "{body}"
    );
    assert!(
        body["serial"]
            .as_str()
            .unwrap()
            .chars()
            .all(|c| c.is_ascii_digit()),
        "{body}"
    );
    chrono::DateTime::parse_from_rfc3339(body["genTime"].as_str().unwrap())
        .unwrap_or_else(|e| panic!("genTime is not ISO 8601 ({e}): {body}"));
    assert_eq!(body["hashAlgorithmOid"], oid, "{body}");
    assert_eq!(body["hashHex"], hash_hex.to_ascii_lowercase(), "{body}");
    assert!(body["qualified"].is_boolean(), "{body}");
    assert!(
        body.as_object().unwrap().contains_key("policyOid"),
        "{body}"
    );
    assert_eq!(body["existing"], false, "{body}");
}

// ---- the local TSA against openssl ---------------------------------------------------------------------------

/// The whole oracle round trip of the local TSA over `POST /tsr`: the published chain, an `openssl ts -query`,
/// and `openssl ts -verify` by query file, by data and by digest (each with a negative control).
fn local_tsa_passes_the_openssl_oracle(daemon: &Daemon, key_marker: &str) {
    let chain = wait_local_tsa(daemon);
    let scratch = Scratch::new();
    scratch.write_chain(&chain);
    let dir = scratch.path();

    // The TSA certificate: the expected key type, a critical timeStamping EKU, issued by the published root.
    let cert = openssl_ok(dir, &["x509", "-in", "tsa.pem", "-noout", "-text"]);
    assert!(
        cert.contains(key_marker),
        "expected a {key_marker} key:\n{cert}"
    );
    assert!(
        cert.contains("Extended Key Usage: critical") && cert.contains("Time Stamping"),
        "{cert}"
    );
    openssl_ok(
        dir,
        &[
            "verify",
            "-CAfile",
            "root.pem",
            "-purpose",
            "timestampsign",
            "tsa.pem",
        ],
    );

    let data = format!("document {}", uuid::Uuid::new_v4());
    scratch.write("data.txt", &data);
    scratch.write("other.txt", "another document");
    openssl_ok(
        dir,
        &[
            "ts", "-query", "-data", "data.txt", "-sha256", "-cert", "-out", "q.tsq",
        ],
    );
    let query = std::fs::read(dir.join("q.tsq")).unwrap();
    let (status, content_type, reply) = post_tsr(
        daemon,
        Some("application/timestamp-query"),
        None,
        query.clone(),
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&reply));
    assert_eq!(content_type, "application/timestamp-reply");
    scratch.write("r.tsr", &reply);

    let text = scratch.reply_text(&reply);
    assert!(text.contains("Status: Granted."), "{text}");
    assert_eq!(line_value(&text, "Policy OID:"), LOCAL_POLICY, "{text}");
    assert_eq!(line_value(&text, "Hash Algorithm:"), "sha256", "{text}");

    fn verify<'a>(source: &[&'a str]) -> Vec<&'a str> {
        let mut args = vec!["ts", "-verify", "-in", "r.tsr"];
        args.extend_from_slice(source);
        args.extend_from_slice(&["-CAfile", "root.pem", "-untrusted", "tsa.pem"]);
        args
    }
    openssl_ok(dir, &verify(&["-queryfile", "q.tsq"]));
    openssl_ok(dir, &verify(&["-data", "data.txt"]));
    let digest = sha256_hex(data.as_bytes());
    openssl_ok(dir, &verify(&["-digest", &digest]));
    openssl_fails(dir, &verify(&["-data", "other.txt"]));
    // Trusting only another root must fail: the chain really is what makes it verify.
    let other = crate::tsa_standins::OpensslTsa::new("Unrelated TSA", "1.2.3.4");
    let other_root = other.root_pem();
    openssl_fails(
        dir,
        &[
            "ts",
            "-verify",
            "-in",
            "r.tsr",
            "-data",
            "data.txt",
            "-CAfile",
            other_root.to_str().unwrap(),
            "-untrusted",
            "tsa.pem",
        ],
    );

    // The same query again gets a fresh token (another serial) that verifies too.
    let (status, _, second) = post_tsr(daemon, Some("application/timestamp-query"), None, query);
    assert_eq!(status, 200);
    let second_text = scratch.reply_text(&second);
    assert_ne!(
        line_value(&second_text, "Serial number:"),
        line_value(&text, "Serial number:"),
        "serial numbers must be unique"
    );
}

#[test]
fn local_tsa_ecdsa_tokens_verify_with_openssl() {
    let daemon = start("");
    local_tsa_passes_the_openssl_oracle(&daemon, "id-ecPublicKey");
}

#[test]
fn local_tsa_rsa_tokens_verify_with_openssl() {
    let daemon = start("[local_tsa]\nalgorithm = \"rsa-2048\"\n");
    local_tsa_passes_the_openssl_oracle(&daemon, "rsaEncryption");
    let cert = {
        let scratch = Scratch::new();
        scratch.write_chain(&wait_local_tsa(&daemon));
        openssl_ok(
            scratch.path(),
            &["x509", "-in", "tsa.pem", "-noout", "-text"],
        )
    };
    assert!(cert.contains("(2048 bit)"), "{cert}");
}

const SOFTHSM_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
const INSTALL_SOFTHSM: &str =
    "install SoftHSM2 and OpenSC: `apt-get install -y softhsm2 opensc` (this test never skips)";

/// A private SoftHSM2 token `label` with user PIN `pin` in `dir`; returns the SOFTHSM2_CONF path.
fn softhsm_token(dir: &Path, label: &str, pin: &str) -> PathBuf {
    assert!(
        Path::new(SOFTHSM_MODULE).exists(),
        "{SOFTHSM_MODULE} is missing: {INSTALL_SOFTHSM}"
    );
    let tokens = dir.join("tokens");
    std::fs::create_dir_all(&tokens).unwrap();
    let conf = dir.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n",
            tokens.display()
        ),
    )
    .unwrap();
    let output = Command::new("softhsm2-util")
        .env("SOFTHSM2_CONF", &conf)
        .args([
            "--init-token",
            "--free",
            "--label",
            label,
            "--pin",
            pin,
            "--so-pin",
            "12345678",
        ])
        .output()
        .unwrap_or_else(|e| panic!("cannot run softhsm2-util ({e}): {INSTALL_SOFTHSM}"));
    assert!(
        output.status.success(),
        "softhsm2-util --init-token failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    conf
}

#[test]
fn local_tsa_key_in_softhsm_verifies_with_openssl() {
    let hsm = tempfile::Builder::new()
        .prefix("softhsm-")
        .tempdir()
        .unwrap();
    let conf = softhsm_token(hsm.path(), "sigil-tsa", "4321");
    let pin_file = hsm.path().join("pin");
    std::fs::write(&pin_file, "4321\n").unwrap();
    std::fs::set_permissions(
        &pin_file,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    built_plugin("libsigil_kms_pkcs11.so");
    let extra = format!(
        r#"
[[plugins]]
name = "local-kms"
file = "libsigil_kms_pkcs11.so"
[plugins.config]
module = "{SOFTHSM_MODULE}"
token_label = "sigil-tsa"
pin_file = "{}"
"#,
        pin_file.display()
    );
    let conf_text = conf.display().to_string();
    let daemon = Daemon::start_raw_with_env(&config(&extra), &[("SOFTHSM2_CONF", &conf_text)]);
    local_tsa_passes_the_openssl_oracle(&daemon, "id-ecPublicKey");

    // The key is on the token, not in the software keystore.
    let listed = Command::new("pkcs11-tool")
        .env("SOFTHSM2_CONF", &conf)
        .args([
            "--module",
            SOFTHSM_MODULE,
            "--token-label",
            "sigil-tsa",
            "--login",
            "--pin",
            "4321",
            "--list-objects",
            "--type",
            "privkey",
        ])
        .output()
        .unwrap_or_else(|e| panic!("cannot run pkcs11-tool ({e}): {INSTALL_SOFTHSM}"));
    let listed_text = String::from_utf8_lossy(&listed.stdout);
    assert!(
        listed.status.success() && listed_text.contains("sigil-local-tsa"),
        "the TSA key should be on the token:\n{listed_text}{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    let keystore = daemon.data_dir().join("keystore");
    assert!(
        !keystore.exists()
            || std::fs::read_dir(&keystore).unwrap().all(|e| !e
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".key")),
        "no software key may exist when local-kms is the HSM"
    );

    // Stamps through the API are signed by the token's key as well.
    let owner = daemon.owner_with_tenant();
    let hash = fresh_hash();
    let body = stamp_ok(&daemon, &owner.token, json!({ "hashHex": hash }));
    let scratch = Scratch::new();
    scratch.write_chain(&wait_local_tsa(&daemon));
    scratch.verify_digest(
        &unbase64(&str_field(&body, "tsrBase64")),
        &hash,
        "root.pem",
        "tsa.pem",
    );
}

#[test]
fn stamp_hash_with_the_local_tsa_verifies_with_openssl() {
    let daemon = start("");
    let owner = daemon.owner_with_tenant();
    let key = daemon.api_key(&owner.token, "live");
    let chain = wait_local_tsa(&daemon);
    let scratch = Scratch::new();
    scratch.write_chain(&chain);

    let data = format!("contract {}", uuid::Uuid::new_v4());
    for (hash, oid, name) in [
        (sha256_hex(data.as_bytes()), SHA256_OID, "sha256"),
        (sha384_hex(data.as_bytes()), SHA384_OID, "sha384"),
        (sha512_hex(data.as_bytes()), SHA512_OID, "sha512"),
    ] {
        let body = stamp_ok(
            &daemon,
            &key,
            json!({ "hashHex": hash, "tsaSlug": "auto", "label": "contract.pdf" }),
        );
        assert_stamp_shape(&body, &hash, oid);
        assert_eq!(body["tsaName"], LOCAL_NAME, "{body}");
        assert_eq!(body["tsaSlug"], "local", "{body}");
        assert_eq!(body["qualified"], false, "{body}");
        assert_eq!(
            body["policyOid"],
            Value::Null,
            "policyOid is only for qualified stamps: {body}"
        );
        let tsr = unbase64(&str_field(&body, "tsrBase64"));
        scratch.verify_digest(&tsr, &hash, "root.pem", "tsa.pem");
        // The response fields say what the token says.
        let text = scratch.reply_text(&tsr);
        assert_eq!(line_value(&text, "Hash Algorithm:"), name, "{text}");
        assert_eq!(
            hex_to_decimal(&line_value(&text, "Serial number:")),
            body["serial"].as_str().unwrap(),
            "{text}"
        );
    }
    // By data too: the SHA-256 stamp verifies against the file itself.
    let again = stamp_ok(
        &daemon,
        &key,
        json!({ "hashHex": sha256_hex(data.as_bytes()) }),
    );
    assert_eq!(again["existing"], true, "{again}");
    scratch.write("again.tsr", unbase64(&str_field(&again, "tsrBase64")));
    scratch.write("data.txt", &data);
    openssl_ok(
        scratch.path(),
        &[
            "ts",
            "-verify",
            "-in",
            "again.tsr",
            "-data",
            "data.txt",
            "-CAfile",
            "root.pem",
            "-untrusted",
            "tsa.pem",
        ],
    );
}

#[test]
fn tsr_refuses_other_media_types_and_rejects_garbage_in_rfc3161_terms() {
    let daemon = start("");
    wait_local_tsa(&daemon);
    let scratch = Scratch::new();
    scratch.write("data.txt", "x");
    openssl_ok(
        scratch.path(),
        &[
            "ts", "-query", "-data", "data.txt", "-sha256", "-out", "q.tsq",
        ],
    );
    let query = std::fs::read(scratch.path().join("q.tsq")).unwrap();
    for content_type in [
        Some("application/octet-stream"),
        Some("application/json"),
        None,
    ] {
        let mut request = daemon.client().post(daemon.url("/tsr")).body(query.clone());
        if let Some(content_type) = content_type {
            request = request.header("Content-Type", content_type);
        }
        assert_error(&daemon.send(request), 415, "UNSUPPORTED_MEDIA_TYPE");
    }

    // Garbage in the right media type: an RFC 3161 client gets a TimeStampResp with a rejection, not an error page.
    for garbage in [
        b"this is not DER".to_vec(),
        vec![0x30, 0x03, 0x02, 0x01, 0x01],
    ] {
        let (status, content_type, reply) =
            post_tsr(&daemon, Some("application/timestamp-query"), None, garbage);
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&reply));
        assert_eq!(content_type, "application/timestamp-reply");
        let text = scratch.reply_text(&reply);
        assert!(text.contains("Status: Rejected"), "{text}");
    }

    // Well-formed requests the TSA cannot serve are refused in RFC 3161 terms too, each with its failure info.
    openssl_ok(
        scratch.path(),
        &[
            "ts",
            "-query",
            "-data",
            "data.txt",
            "-sha256",
            "-tspolicy",
            "1.2.3.4",
            "-out",
            "policy.tsq",
        ],
    );
    openssl_ok(
        scratch.path(),
        &[
            "ts", "-query", "-data", "data.txt", "-sha1", "-out", "sha1.tsq",
        ],
    );
    for (file, failure) in [
        ("policy.tsq", "policy is not supported"),
        ("sha1.tsq", "unsupported algorithm"),
    ] {
        let query = std::fs::read(scratch.path().join(file)).unwrap();
        let (status, _, reply) =
            post_tsr(&daemon, Some("application/timestamp-query"), None, query);
        assert_eq!(status, 200);
        let text = scratch.reply_text(&reply);
        assert!(
            text.contains("Status: Rejected") && text.contains(failure),
            "{file}: {text}"
        );
    }
    daemon.get_public("/healthz").expect(200);
}

#[test]
fn tsr_off_is_not_served_but_the_api_still_stamps() {
    let daemon = start("[local_tsa]\nhttp = \"off\"\n");
    wait_local_tsa(&daemon);
    let owner = daemon.owner_with_tenant();
    let request = daemon
        .client()
        .post(daemon.url("/tsr"))
        .header("Content-Type", "application/timestamp-query")
        .body(vec![0x30, 0x00]);
    assert_error(&daemon.send(request), 404, "NOT_FOUND");
    let hash = fresh_hash();
    let body = stamp_ok(&daemon, &owner.token, json!({ "hashHex": hash }));
    assert_eq!(body["tsaSlug"], "local", "{body}");
}

#[test]
fn tsr_in_api_key_mode_needs_a_tenant_api_key() {
    let daemon = start("[local_tsa]\nhttp = \"api_key\"\n");
    wait_local_tsa(&daemon);
    let owner = daemon.owner_with_tenant();
    let key = daemon.api_key(&owner.token, "live");
    let scratch = Scratch::new();
    scratch.write("data.txt", "api key mode");
    openssl_ok(
        scratch.path(),
        &[
            "ts", "-query", "-data", "data.txt", "-sha256", "-cert", "-out", "q.tsq",
        ],
    );
    let query = std::fs::read(scratch.path().join("q.tsq")).unwrap();
    let send = |bearer: Option<&str>| {
        let mut request = daemon
            .client()
            .post(daemon.url("/tsr"))
            .header("Content-Type", "application/timestamp-query")
            .body(query.clone());
        if let Some(bearer) = bearer {
            request = request.bearer_auth(bearer);
        }
        daemon.send(request)
    };
    assert_error(&send(None), 401, "UNAUTHORIZED");
    assert_error(&send(Some("sk_live_not_a_real_key")), 401, "UNAUTHORIZED");
    // A session is not an API key.
    assert_error(&send(Some(&owner.token)), 401, "UNAUTHORIZED");
    let (status, content_type, reply) = post_tsr(
        &daemon,
        Some("application/timestamp-query"),
        Some(&key),
        query,
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&reply));
    assert_eq!(content_type, "application/timestamp-reply");
    assert!(scratch.reply_text(&reply).contains("Status: Granted."));
}

// ---- the stamp-hash contract ---------------------------------------------------------------------------------

#[test]
fn stamp_hash_picks_the_algorithm_by_digest_length_in_either_case() {
    let daemon = start("");
    let owner = daemon.owner_with_tenant();
    wait_local_tsa(&daemon);
    let seed = uuid::Uuid::new_v4();
    for (hash, oid) in [
        (sha256_hex(seed.as_bytes()), SHA256_OID),
        (sha384_hex(seed.as_bytes()), SHA384_OID),
        (sha512_hex(seed.as_bytes()), SHA512_OID),
    ] {
        let upper = hash.to_ascii_uppercase();
        let body = stamp_ok(&daemon, &owner.token, json!({ "hashHex": upper }));
        assert_stamp_shape(&body, &hash, oid);
        // Case does not make it another hash.
        let again = stamp_ok(&daemon, &owner.token, json!({ "hashHex": hash }));
        assert_eq!(again["existing"], true, "{again}");
        assert_eq!(again["id"], body["id"], "{again}");
    }
}

#[test]
fn stamp_hash_refuses_malformed_digests_labels_and_fields() {
    let daemon = start("");
    let owner = daemon.owner_with_tenant();
    wait_local_tsa(&daemon);
    let bad_hashes = [
        String::new(),
        "a".repeat(63),
        "a".repeat(65),
        "a".repeat(40),
        "a".repeat(95),
        "a".repeat(127),
        "a".repeat(129),
        "g".repeat(64),
        format!("{}z", "a".repeat(63)),
        "0x".to_string() + &"a".repeat(62),
        "é".repeat(32),
    ];
    for hash in bad_hashes {
        let reply = stamp(&daemon, &owner.token, json!({ "hashHex": hash }));
        assert_invalid_field(&reply, "hashHex");
    }
    for body in [
        json!({}),
        json!({ "label": "x" }),
        json!({ "hashHex": 42 }),
        json!({ "hashHex": null }),
    ] {
        assert_invalid_field(&stamp(&daemon, &owner.token, body), "hashHex");
    }
    let reply = stamp(
        &daemon,
        &owner.token,
        json!({ "hashHex": fresh_hash(), "label": "x".repeat(256) }),
    );
    assert_invalid_field(&reply, "label");
    // A multi-byte label of 255 characters is within the limit.
    let body = stamp_ok(
        &daemon,
        &owner.token,
        json!({ "hashHex": fresh_hash(), "label": "é".repeat(255) }),
    );
    assert_eq!(body["label"], "é".repeat(255), "{body}");
    assert_error(
        &stamp(
            &daemon,
            &owner.token,
            json!({ "hashHex": fresh_hash(), "unknown": 1 }),
        ),
        400,
        "INVALID_REQUEST",
    );
    // None of these made a record.
    let list = daemon
        .get("/api/transactions/details", &owner.token)
        .expect(200);
    assert_eq!(list["total"], 1, "{list}");
}

#[test]
fn stamp_hash_answers_an_existing_stamp_unless_forced() {
    let daemon = start("");
    let owner = daemon.owner_with_tenant();
    wait_local_tsa(&daemon);
    let hash = fresh_hash();
    let first = stamp_ok(
        &daemon,
        &owner.token,
        json!({ "hashHex": hash, "label": "v1" }),
    );
    assert_eq!(first["existing"], false, "{first}");
    let again = stamp_ok(&daemon, &owner.token, json!({ "hashHex": hash }));
    assert_eq!(again["existing"], true, "{again}");
    assert_eq!(again["id"], first["id"]);
    assert_eq!(again["tsrBase64"], first["tsrBase64"]);
    assert_eq!(again["serial"], first["serial"]);

    let forced = stamp_ok(
        &daemon,
        &owner.token,
        json!({ "hashHex": hash, "force": true }),
    );
    assert_eq!(forced["existing"], false, "{forced}");
    assert_ne!(forced["id"], first["id"], "force makes a new record");
    assert_ne!(
        forced["serial"], first["serial"],
        "and an independent token"
    );
    let after = stamp_ok(&daemon, &owner.token, json!({ "hashHex": hash }));
    assert_eq!(after["existing"], true, "{after}");
    assert!(
        after["id"] == first["id"] || after["id"] == forced["id"],
        "{after}"
    );
    let listed = daemon
        .get(
            &format!("/api/transactions/details?search={}", &hash[..16]),
            &owner.token,
        )
        .expect(200);
    assert_eq!(listed["total"], 2, "{listed}");
}

#[test]
fn stamp_hash_takes_api_keys_and_sessions_but_not_strangers() {
    let daemon = start("");
    let owner = daemon.owner_with_tenant();
    let key = daemon.api_key(&owner.token, "live");
    wait_local_tsa(&daemon);
    stamp_ok(&daemon, &key, json!({ "hashHex": fresh_hash() }));
    stamp_ok(&daemon, &owner.token, json!({ "hashHex": fresh_hash() }));
    let anonymous = daemon.post_public("/tsa/stamp-hash", json!({ "hashHex": fresh_hash() }));
    assert_error(&anonymous, 401, "UNAUTHORIZED");
    assert_error(
        &stamp(&daemon, "not-a-token", json!({ "hashHex": fresh_hash() })),
        401,
        "UNAUTHORIZED",
    );
    let list = daemon.get("/api/transactions/details", &key).expect(200);
    assert_eq!(list["total"], 2, "{list}");
}

#[test]
fn concurrent_identical_stamps_make_one_record_and_cost_one_stamp() {
    let daemon = std::sync::Arc::new(start("[tsa]\nmonthly_stamp_limit = 8\n"));
    wait_local_tsa(&daemon);
    let owner = daemon.owner_with_tenant();
    let key = daemon.api_key(&owner.token, "live");
    let hash = fresh_hash();
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(6));
    let threads: Vec<_> = (0..6)
        .map(|_| {
            let (daemon, key, hash, barrier) =
                (daemon.clone(), key.clone(), hash.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                stamp(&daemon, &key, json!({ "hashHex": hash }))
            })
        })
        .collect();
    let replies: Vec<Reply> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let ids: std::collections::HashSet<String> = replies
        .iter()
        .map(|r| str_field(&r.expect(200), "id"))
        .collect();
    assert_eq!(ids.len(), 1, "one hash, one record: {ids:?}");
    let found = daemon
        .get_public(&format!("/api/lookup/{hash}"))
        .expect(200);
    assert_eq!(found["count"], 1, "{found}");
    // One record is one stamp of the monthly quota of eight: seven more fit.
    let mut more = 0;
    while more < 10 && stamp(&daemon, &key, json!({ "hashHex": fresh_hash() })).status == 200 {
        more += 1;
    }
    assert_eq!(
        more, 7,
        "one stored record must cost one stamp of the quota (identical concurrent requests used more)"
    );
}
