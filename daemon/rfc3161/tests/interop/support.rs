//! Shared fixtures: temp dirs, the `openssl` command line, cached RSA keys and local PKIs.

use std::{
    path::{Path, PathBuf},
    process::Command,
    str::FromStr,
    sync::OnceLock,
    time::{Duration, SystemTime},
};

use sigil_rfc3161::{
    Accuracy, Certificate, CertificateValidity, Name, ObjectIdentifier, SoftwareKey,
    SoftwareTsaSigner, TsaPolicy, build_root_ca, build_tsa_certificate,
};

/// A policy OID under a private arc (OpenSSL names 1.2.3.4.1 `tsa_policy1`, which would hide the number).
pub const POLICY: &str = "1.3.6.1.4.1.57264.3161.1";

pub fn policy() -> ObjectIdentifier {
    ObjectIdentifier::new_unwrap(POLICY)
}

/// Runs `openssl` in `dir`, failing the test with its output when it exits non-zero.
pub fn openssl(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl on PATH");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "openssl {args:?} failed:\n{stdout}\n{stderr}"
    );
    format!("{stdout}{stderr}")
}

/// Runs `openssl` in `dir` and returns (success, combined output) without judging.
pub fn openssl_status(dir: &Path, args: &[&str]) -> (bool, String) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl on PATH");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

pub fn read(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap_or_else(|error| panic!("reading {name}: {error}"))
}

pub fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap_or_else(|error| panic!("writing {name}: {error}"));
    path
}

pub fn pem(label: &str, der: &[u8]) -> String {
    use std::fmt::Write;
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut encoded = String::new();
    for chunk in der.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                encoded.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                encoded.push('=');
            }
        }
    }
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in encoded.as_bytes().chunks(64) {
        let _ = writeln!(out, "{}", std::str::from_utf8(line).unwrap());
    }
    let _ = writeln!(out, "-----END {label}-----");
    out
}

pub fn cert_pem(certificate: &Certificate) -> String {
    use sigil_rfc3161::der::Encode;
    pem("CERTIFICATE", &certificate.to_der().unwrap())
}

/// One RSA-2048 key per test binary: RSA key generation is slow in unoptimised builds.
pub fn rsa_key() -> SoftwareKey {
    static PKCS8: OnceLock<Vec<u8>> = OnceLock::new();
    let der = PKCS8.get_or_init(|| {
        SoftwareKey::generate_rsa(2048)
            .unwrap()
            .to_pkcs8_der()
            .unwrap()
    });
    SoftwareKey::from_pkcs8_der(der).unwrap()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    P256,
    P384,
    Rsa,
    RsaPss,
}

pub fn key(kind: KeyKind) -> SoftwareKey {
    match kind {
        KeyKind::P256 => SoftwareKey::generate_p256().unwrap(),
        KeyKind::P384 => SoftwareKey::generate_p384().unwrap(),
        KeyKind::Rsa => rsa_key(),
        KeyKind::RsaPss => rsa_key().into_pss(),
    }
}

/// A root CA and a TSA certificate made by this crate's helpers.
pub struct LocalPki {
    pub root: Certificate,
    pub tsa: Certificate,
    pub signer: SoftwareTsaSigner,
}

pub fn validity() -> CertificateValidity {
    CertificateValidity::starting(
        SystemTime::now() - Duration::from_secs(3600),
        Duration::from_secs(86_400 * 30),
    )
}

/// Root key P-256 (cheap) and TSA key of `kind`.
pub fn local_pki(kind: KeyKind) -> LocalPki {
    let root_key = SoftwareKey::generate_p256().unwrap();
    let root_name = Name::from_str("CN=Sigil Test Root,O=Sigil,C=FR").unwrap();
    let root = build_root_ca(&root_name, validity(), &root_key).unwrap();
    let tsa_key = key(kind);
    let tsa_name = Name::from_str("CN=Sigil Test TSA,O=Sigil,C=FR").unwrap();
    let tsa = build_tsa_certificate(
        &tsa_name,
        &tsa_key.subject_public_key_info().unwrap(),
        validity(),
        &root,
        &root_key,
    )
    .unwrap();
    LocalPki {
        root,
        tsa: tsa.clone(),
        signer: SoftwareTsaSigner::new(tsa_key, vec![tsa]),
    }
}

pub fn tsa_policy() -> TsaPolicy {
    TsaPolicy {
        policy_oid: policy(),
        accuracy: Some(Accuracy {
            seconds: 1,
            millis: 0,
            micros: 0,
        }),
        ordering: false,
        include_tsa_name: true,
    }
}

/// An OpenSSL TSA in a temp dir: a self-signed TSA certificate with a critical timeStamping EKU, made
/// by `openssl req -x509`, and an openssl.cnf with a `[tsa]` section.
pub struct OpensslTsa {
    pub dir: tempfile::TempDir,
}

impl OpensslTsa {
    /// `ess_alg` is OpenSSL's `ess_cert_id_alg` (sha1 gives ESSCertID v1, sha256 ESSCertIDv2).
    pub fn new(kind: KeyKind, ess_alg: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path();
        match kind {
            KeyKind::P256 => {
                openssl(
                    path,
                    &[
                        "genpkey",
                        "-algorithm",
                        "EC",
                        "-pkeyopt",
                        "ec_paramgen_curve:P-256",
                        "-out",
                        "tsa.key",
                    ],
                );
            }
            KeyKind::P384 => {
                openssl(
                    path,
                    &[
                        "genpkey",
                        "-algorithm",
                        "EC",
                        "-pkeyopt",
                        "ec_paramgen_curve:P-384",
                        "-out",
                        "tsa.key",
                    ],
                );
            }
            KeyKind::Rsa | KeyKind::RsaPss => {
                openssl(
                    path,
                    &[
                        "genpkey",
                        "-algorithm",
                        "RSA",
                        "-pkeyopt",
                        "rsa_keygen_bits:2048",
                        "-out",
                        "tsa.key",
                    ],
                );
            }
        }
        make_self_signed(path, "tsa.key", "tsa.pem", "critical,timeStamping");
        write(path, "tsaserial", b"01\n");
        let config = format!(
            "[ tsa ]\ndefault_tsa = tsa_config1\n\n[ tsa_config1 ]\ndir = .\nserial = ./tsaserial\n\
             crypto_device = builtin\nsigner_cert = ./tsa.pem\n\
             # certs= repeats the signer certificate in the token: the duplicate real TSAs send.\n\
             certs = ./tsa.pem\nsigner_key = ./tsa.key\nsigner_digest = sha256\n\
             default_policy = {POLICY}\nother_policies = 1.2.3.4.2\ndigests = sha256, sha384, sha512\n\
             accuracy = secs:1, millisecs:500, microsecs:100\nclock_precision_digits = 3\nordering = yes\n\
             tsa_name = yes\ness_cert_id_chain = no\ness_cert_id_alg = {ess_alg}\n"
        );
        write(path, "openssl.cnf", config.as_bytes());
        Self { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `openssl ts -reply` for the query in `query_file`; the response only (works for refusals too).
    pub fn reply_response(&self, query_file: &str) -> Vec<u8> {
        let path = self.path();
        openssl(
            path,
            &[
                "ts",
                "-reply",
                "-config",
                "openssl.cnf",
                "-queryfile",
                query_file,
                "-out",
                "resp.tsr",
            ],
        );
        read(path, "resp.tsr")
    }

    /// `openssl ts -reply` for the query in `query_file`; returns (response, bare token).
    pub fn reply(&self, query_file: &str) -> (Vec<u8>, Vec<u8>) {
        let path = self.path();
        openssl(
            path,
            &[
                "ts",
                "-reply",
                "-config",
                "openssl.cnf",
                "-queryfile",
                query_file,
                "-out",
                "resp.tsr",
            ],
        );
        openssl(
            path,
            &[
                "ts",
                "-reply",
                "-config",
                "openssl.cnf",
                "-queryfile",
                query_file,
                "-token_out",
                "-out",
                "token.tst",
            ],
        );
        (read(path, "resp.tsr"), read(path, "token.tst"))
    }

    pub fn certificate_der(&self) -> Vec<u8> {
        openssl(
            self.path(),
            &[
                "x509", "-in", "tsa.pem", "-outform", "DER", "-out", "tsa.der",
            ],
        );
        read(self.path(), "tsa.der")
    }
}

/// `openssl req -x509` with the given EKU (`None` for no EKU extension).
pub fn make_self_signed(dir: &Path, key: &str, out: &str, eku: &str) {
    let mut args = vec![
        "req",
        "-x509",
        "-new",
        "-key",
        key,
        "-subj",
        "/C=FR/O=Sigil Interop/CN=OpenSSL TSA",
        "-days",
        "30",
        "-sha256",
        "-addext",
        "keyUsage=critical,digitalSignature,nonRepudiation",
        "-out",
        out,
    ];
    let eku_arg = format!("extendedKeyUsage={eku}");
    if !eku.is_empty() {
        args.extend(["-addext", eku_arg.as_str()]);
    }
    openssl(dir, &args);
}

pub fn sha256(data: &[u8]) -> Vec<u8> {
    sigil_rfc3161::HashAlgorithm::Sha256.digest(data)
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
