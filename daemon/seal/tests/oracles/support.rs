//! Shared fixtures: a test PKI made with `openssl` in a temp dir, a local TSA from sigil-rfc3161, and the
//! oracle command lines. A missing oracle is a test failure with the fix in the message, never a skip.

use std::{
    path::{Path, PathBuf},
    process::Command,
    str::FromStr,
    time::{Duration, SystemTime},
};

use sigil_cms::{Certificate, CertificateValidity, Name, SoftwareKey, der::Encode};
use sigil_rfc3161::{
    HashAlgorithm, ParsedRequest, SoftwareTsaSigner, TsaPolicy, build_root_ca,
    build_tsa_certificate, issue_token,
};
use sigil_seal::{CmsSignatureAlgorithm, SealSigner, SignerError, TrustStore};

pub fn run(dir: &Path, program: &str, args: &[&str]) -> (bool, String) {
    let output = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|error| {
            panic!("{program} could not run ({error}); run tests/oracles/setup.sh")
        });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

pub fn openssl(dir: &Path, args: &[&str]) -> String {
    let (ok, text) = run(dir, "openssl", args);
    assert!(ok, "openssl {args:?} failed:\n{text}");
    text
}

/// The oracle venv of tests/oracles/setup.sh.
pub fn venv() -> PathBuf {
    let venv = std::env::var_os("SIGIL_ORACLE_VENV").map_or_else(
        || PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/sigil-oracles/venv"),
        PathBuf::from,
    );
    assert!(
        venv.join("bin/pyhanko").exists(),
        "pyHanko oracle missing at {}: run tests/oracles/setup.sh (or set SIGIL_ORACLE_VENV)",
        venv.display()
    );
    venv
}

pub fn read(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap_or_else(|error| panic!("reading {name}: {error}"))
}

pub fn write(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::write(dir.join(name), bytes).unwrap_or_else(|error| panic!("writing {name}: {error}"));
}

pub fn pem_to_der(dir: &Path, pem: &str) -> Vec<u8> {
    let der = format!("{pem}.der");
    openssl(dir, &["x509", "-in", pem, "-outform", "DER", "-out", &der]);
    read(dir, &der)
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    P256,
    P384,
    Rsa3072,
    Rsa4096Pss,
    Ed25519,
}

/// A signing key for tests: sigil-cms's software key, or Ed25519 through aws-lc-rs.
pub enum TestKey {
    Soft(SoftwareKey),
    Ed25519(aws_lc_rs::signature::Ed25519KeyPair, Vec<u8>),
}

impl SealSigner for TestKey {
    fn algorithm(&self) -> CmsSignatureAlgorithm {
        match self {
            Self::Soft(key) => SealSigner::algorithm(key),
            Self::Ed25519(..) => CmsSignatureAlgorithm::Ed25519,
        }
    }
    fn public_key(&self) -> Result<sigil_cms::SubjectPublicKeyInfoOwned, SignerError> {
        match self {
            Self::Soft(key) => SealSigner::public_key(key),
            Self::Ed25519(_, spki) => sigil_cms::der::Decode::from_der(spki)
                .map_err(|e: sigil_cms::der::Error| SignerError::Failed(e.to_string())),
        }
    }
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignerError> {
        match self {
            Self::Soft(key) => key.sign_message(message),
            Self::Ed25519(pair, _) => Ok(pair.sign(message).as_ref().to_vec()),
        }
    }
}

/// A root and a leaf made by `openssl` in `dir`: `root.pem`, `leaf.pem`, the leaf's key.
pub struct Pki {
    pub dir: tempfile::TempDir,
    pub root_der: Vec<u8>,
    pub leaf_der: Vec<u8>,
    pub key: TestKey,
}

impl Pki {
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
    pub fn chain(&self) -> Vec<Vec<u8>> {
        vec![self.leaf_der.clone(), self.root_der.clone()]
    }
    pub fn anchors(&self) -> TrustStore {
        let mut store = TrustStore::new();
        store.add_root_der(&self.root_der).unwrap();
        store
    }
}

pub fn pki(kind: KeyKind) -> Pki {
    pki_with(kind, "keyUsage=critical,digitalSignature,nonRepudiation\n")
}

/// As [`pki`], with the leaf's extensions given (openssl x509 extfile syntax).
pub fn pki_with(kind: KeyKind, extensions: &str) -> Pki {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    openssl(
        d,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "root.key",
            "-out",
            "root.pem",
            "-subj",
            "/CN=Seal Test Root/O=Sigil/C=FR",
            "-days",
            "3",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    let genpkey: Vec<&str> = match kind {
        KeyKind::P256 => vec!["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
        KeyKind::P384 => vec!["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
        KeyKind::Rsa3072 => vec!["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:3072"],
        KeyKind::Rsa4096Pss => vec!["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:4096"],
        KeyKind::Ed25519 => vec!["-algorithm", "ED25519"],
    };
    let mut args = vec!["genpkey"];
    args.extend(genpkey);
    args.extend(["-out", "leaf.key"]);
    openssl(d, &args);
    // PKCS#8 explicitly: `pkey -outform DER` writes the traditional (SEC1, PKCS#1) forms.
    openssl(
        d,
        &[
            "pkcs8",
            "-topk8",
            "-nocrypt",
            "-in",
            "leaf.key",
            "-outform",
            "DER",
            "-out",
            "leaf.key.der",
        ],
    );
    let pkcs8 = read(d, "leaf.key.der");
    let key = match kind {
        KeyKind::Ed25519 => {
            openssl(
                d,
                &[
                    "pkey",
                    "-in",
                    "leaf.key",
                    "-pubout",
                    "-outform",
                    "DER",
                    "-out",
                    "leaf.pub.der",
                ],
            );
            let pair =
                aws_lc_rs::signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(&pkcs8).unwrap();
            TestKey::Ed25519(pair, read(d, "leaf.pub.der"))
        }
        KeyKind::Rsa4096Pss => {
            TestKey::Soft(SoftwareKey::from_pkcs8_der(&pkcs8).unwrap().into_pss())
        }
        _ => TestKey::Soft(SoftwareKey::from_pkcs8_der(&pkcs8).unwrap()),
    };
    openssl(
        d,
        &[
            "req",
            "-new",
            "-key",
            "leaf.key",
            "-subj",
            "/CN=Acme Seal/O=Acme AS/C=NO",
            "-out",
            "leaf.csr",
        ],
    );
    write(
        d,
        "leaf.ext",
        format!("basicConstraints=CA:FALSE\n{extensions}").as_bytes(),
    );
    openssl(
        d,
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "root.pem",
            "-CAkey",
            "root.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "leaf.ext",
            "-out",
            "leaf.pem",
        ],
    );
    let root_der = pem_to_der(d, "root.pem");
    let leaf_der = pem_to_der(d, "leaf.pem");
    Pki {
        dir,
        root_der,
        leaf_der,
        key,
    }
}

/// A local TSA (sigil-rfc3161's issuer with a P-256 software key) and its root.
pub struct Tsa {
    pub signer: SoftwareTsaSigner,
    pub root: Certificate,
}

pub fn tsa() -> Tsa {
    let validity = CertificateValidity::starting(
        SystemTime::now() - Duration::from_secs(3600),
        Duration::from_secs(86_400),
    );
    let root_key = SoftwareKey::generate_p256().unwrap();
    let root = build_root_ca(
        &Name::from_str("CN=Seal Test TSA Root,C=FR").unwrap(),
        validity,
        &root_key,
    )
    .unwrap();
    let key = SoftwareKey::generate_p256().unwrap();
    let cert = build_tsa_certificate(
        &Name::from_str("CN=Seal Test TSA,C=FR").unwrap(),
        &key.subject_public_key_info().unwrap(),
        validity,
        &root,
        &root_key,
    )
    .unwrap();
    Tsa {
        signer: SoftwareTsaSigner::new(key, vec![cert, root.clone()]),
        root,
    }
}

impl Tsa {
    /// A token (ContentInfo DER) over `hash(data)` with SHA-256.
    pub fn stamp(&self, data: &[u8]) -> Vec<u8> {
        let request = ParsedRequest {
            hash_algorithm: HashAlgorithm::Sha256,
            digest: HashAlgorithm::Sha256.digest(data),
            policy: None,
            nonce: None,
            cert_req: true,
        };
        let policy = TsaPolicy {
            policy_oid: sigil_rfc3161::ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.3161.1"),
            accuracy: None,
            ordering: false,
            include_tsa_name: false,
        };
        issue_token(&request, &self.signer, &policy, None, SystemTime::now())
            .unwrap()
            .token_der
    }

    pub fn trust(&self) -> TrustStore {
        let mut store = TrustStore::new();
        store.add_root(&self.root).unwrap();
        store
    }

    pub fn root_pem_file(&self, dir: &Path) -> PathBuf {
        let path = dir.join("tsaroot.pem");
        let der = self.root.to_der().unwrap();
        std::fs::write(&path, pem("CERTIFICATE", &der)).unwrap();
        path
    }
}

pub fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in encoded.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

pub fn now() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}
