//! Fixtures shared by the test modules.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;

use sigil_kms_soft::SoftKms;
use sigil_plugin_api::serde_json::{Value, json};
use sigil_plugin_api::{
    Base64Bytes, GenerateKeyRequest, KeyAlgorithm, KmsSigner, PluginError, SignRequest,
    SignatureAlgorithm,
};
use tempfile::TempDir;

/// The cheapest argon2id parameters the plugin accepts, so each store costs milliseconds in debug builds.
pub const CHEAP_ARGON2: (u32, u32) = (8 * 1024, 1);

/// A temporary store directory with a passphrase file next to it.
pub struct Fixture {
    /// Holds both the store and the secrets; removed on drop.
    pub root: TempDir,
}

impl Fixture {
    pub fn new() -> Fixture {
        let root = tempfile::tempdir().unwrap();
        let fixture = Fixture { root };
        fixture.write_secret("passphrase", b"correct horse battery staple\n");
        fixture
    }

    /// The store directory (created by the plugin on first use).
    pub fn store_dir(&self) -> PathBuf {
        self.root.path().join("store")
    }

    /// Writes a secret file with mode 0600 and returns its path.
    pub fn write_secret(&self, name: &str, content: &[u8]) -> PathBuf {
        let path = self.root.path().join(name);
        std::fs::write(&path, content).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        path
    }

    /// A config using the passphrase file, with `extra` fields merged in.
    pub fn config(&self, extra: Value) -> Value {
        let mut config = json!({
            "dir": self.store_dir(),
            "passphrase_file": self.root.path().join("passphrase"),
            "argon2_memory_kib": CHEAP_ARGON2.0,
            "argon2_iterations": CHEAP_ARGON2.1,
        });
        let map = config.as_object_mut().unwrap();
        for (key, value) in extra.as_object().unwrap() {
            if value.is_null() {
                map.remove(key);
            } else {
                map.insert(key.clone(), value.clone());
            }
        }
        config
    }

    pub fn open(&self) -> SoftKms {
        SoftKms::create(self.config(json!({}))).unwrap()
    }
}

/// Generates a key and returns its URI and SPKI.
pub fn generate(kms: &SoftKms, label: &str, algorithm: KeyAlgorithm) -> (String, Vec<u8>) {
    let response = kms
        .generate_key(GenerateKeyRequest {
            label: label.into(),
            algorithm,
        })
        .unwrap();
    (response.key_uri, response.public_key_spki_der.0)
}

pub fn sign(
    kms: &SoftKms,
    key_uri: &str,
    algorithm: SignatureAlgorithm,
    data: &[u8],
    prehashed: bool,
) -> Result<Vec<u8>, PluginError> {
    kms.sign(SignRequest {
        key_uri: key_uri.into(),
        algorithm,
        data: data.into(),
        prehashed,
        timeout_ms: None,
    })
    .map(|response| response.signature.0)
}

/// PEM text for a DER SubjectPublicKeyInfo, as an operator would hand it to openssl.
pub fn spki_pem(spki_der: &[u8]) -> String {
    let base64 = Base64Bytes(spki_der.to_vec()).to_base64();
    let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
    for line in base64.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).unwrap());
        pem.push('\n');
    }
    pem.push_str("-----END PUBLIC KEY-----\n");
    pem
}

/// How openssl should check a signature.
#[derive(Debug, Clone, Copy)]
pub enum OpensslCheck {
    /// `openssl dgst -<hash> -verify` (ECDSA, RSA PKCS#1 v1.5).
    Digest(&'static str),
    /// `openssl dgst -<hash> -verify` with PSS padding, salt length = hash length.
    Pss(&'static str),
    /// `openssl pkeyutl -verify -rawin` (Ed25519 signs the message itself).
    Raw,
}

/// Asks openssl, an oracle nobody here wrote, whether `signature` over `message` verifies under the SPKI.
pub fn openssl_verifies(
    spki_der: &[u8],
    message: &[u8],
    signature: &[u8],
    check: OpensslCheck,
) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, bytes: &[u8]| -> PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    };
    let public = write("pub.pem", spki_pem(spki_der).as_bytes());
    let data = write("data", message);
    let sig = write("sig", signature);
    let mut command = Command::new("openssl");
    match check {
        OpensslCheck::Digest(hash) | OpensslCheck::Pss(hash) => {
            command
                .arg("dgst")
                .arg(format!("-{hash}"))
                .arg("-verify")
                .arg(&public);
            if matches!(check, OpensslCheck::Pss(_)) {
                command.args([
                    "-sigopt",
                    "rsa_padding_mode:pss",
                    "-sigopt",
                    "rsa_pss_saltlen:digest",
                ]);
            }
            command.arg("-signature").arg(&sig).arg(&data);
        }
        OpensslCheck::Raw => {
            command
                .args(["pkeyutl", "-verify", "-pubin", "-rawin", "-inkey"])
                .arg(&public)
                .arg("-in")
                .arg(&data)
                .arg("-sigfile")
                .arg(&sig);
        }
    }
    let output = command
        .output()
        .expect("openssl must be installed to run these tests (apt-get install -y openssl)");
    output.status.success()
}

/// Asserts openssl accepts the signature and refuses it with one bit flipped, so the oracle is not a yes-man.
pub fn assert_openssl_accepts(
    spki_der: &[u8],
    message: &[u8],
    signature: &[u8],
    check: OpensslCheck,
) {
    assert!(
        openssl_verifies(spki_der, message, signature, check),
        "openssl refused a signature the plugin made"
    );
    let mut tampered = signature.to_vec();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    assert!(
        !openssl_verifies(spki_der, message, &tampered, check),
        "openssl accepted a tampered signature: the oracle is broken"
    );
}
