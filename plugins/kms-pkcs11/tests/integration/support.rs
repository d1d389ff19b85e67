//! Fixtures: a SoftHSM2 token directory per test, run in a child process; typed calls; the openssl oracle;
//! the cdylib loader.
#![allow(unsafe_code)] // reason: `load_cdylib` calls dlopen and the plugin's entry symbol, FFI by nature.

use core::ffi::{c_char, c_int, c_void};
use std::ffi::{CStr, CString};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use sigil_kms_pkcs11::Pkcs11Kms;
use sigil_plugin_api::serde_json::{Value, json};
use sigil_plugin_api::{
    Base64Bytes, GenerateKeyRequest, KeyAlgorithm, KmsSigner, PluginError,
    SIGIL_PLUGIN_ENTRY_SYMBOL, SigilPluginEntryFn, SignRequest, SignatureAlgorithm,
    ValidatedDescriptor, validate_descriptor,
};

/// Debian's SoftHSM2 module.
pub const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
/// The token every test uses, and its user PIN.
pub const TOKEN: &str = "sigil-test";
pub const PIN: &str = "1234";
/// A second token in the same directory, for "another token" cases.
pub const OTHER_TOKEN: &str = "other";
pub const OTHER_PIN: &str = "4321";

const CHILD_TEST_ENV: &str = "SIGIL_PKCS11_TEST";
const CHILD_DIR_ENV: &str = "SIGIL_PKCS11_TEST_DIR";

/// Declares a test whose body runs in its own process with its own SoftHSM2 tokens.
macro_rules! softhsm_test {
    ($(#[$meta:meta])* fn $name:ident($hsm:ident) $body:block) => {
        $(#[$meta])*
        #[test]
        fn $name() {
            let path = concat!(module_path!(), "::", stringify!($name));
            crate::support::in_own_softhsm(path, |$hsm: &crate::support::SoftHsm| $body);
        }
    };
}

/// The token directory of the running test (inside the child process).
pub struct SoftHsm {
    pub dir: PathBuf,
}

impl SoftHsm {
    /// A config for the main token, with `extra` merged in (`null` removes a field).
    pub fn config(&self, extra: Value) -> Value {
        let mut config = json!({
            "module": MODULE,
            "token_label": TOKEN,
            "pin_file": self.dir.join("pin"),
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

    pub fn open(&self) -> Pkcs11Kms {
        Pkcs11Kms::create(self.config(json!({}))).unwrap()
    }

    /// Runs `pkcs11-tool` on the module with `args` (the child's SOFTHSM2_CONF is inherited).
    pub fn pkcs11_tool(&self, args: &[&str]) -> String {
        let output = Command::new("pkcs11-tool")
            .arg("--module")
            .arg(MODULE)
            .args(args)
            .output()
            .expect("pkcs11-tool is missing: apt-get install -y opensc");
        assert!(
            output.status.success(),
            "pkcs11-tool {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}

fn run(command: &mut Command) {
    let output = command
        .output()
        .unwrap_or_else(|error| panic!("{command:?}: {error}"));
    assert!(
        output.status.success(),
        "{command:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// In the parent: makes a token directory with two initialised tokens and re-runs this very test in a child
/// process pointed at it. In the child: runs `body`. A missing SoftHSM2 is a failure, never a skip.
pub fn in_own_softhsm(test_path: &str, body: impl FnOnce(&SoftHsm)) {
    // module_path!() starts with the test binary's crate name, which the test filter does not include.
    let test_name = test_path
        .split_once("::")
        .map_or(test_path, |(_, rest)| rest);
    if std::env::var(CHILD_TEST_ENV).as_deref() == Ok(test_name) {
        let dir = PathBuf::from(std::env::var(CHILD_DIR_ENV).unwrap());
        body(&SoftHsm { dir });
        return;
    }
    let installed = Command::new("softhsm2-util")
        .arg("--version")
        .output()
        .is_ok();
    assert!(
        installed && Path::new(MODULE).exists(),
        "SoftHSM2 is not installed (softhsm2-util or {MODULE} missing): install it with \
         `apt-get install -y softhsm2 opensc` to run the PKCS#11 tests"
    );
    let root = tempfile::tempdir().unwrap();
    let tokens = root.path().join("tokens");
    std::fs::create_dir(&tokens).unwrap();
    let conf = root.path().join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n",
            tokens.display()
        ),
    )
    .unwrap();
    for (label, pin) in [(TOKEN, PIN), (OTHER_TOKEN, OTHER_PIN)] {
        run(Command::new("softhsm2-util")
            .args([
                "--init-token",
                "--free",
                "--label",
                label,
                "--pin",
                pin,
                "--so-pin",
                "5678",
            ])
            .env("SOFTHSM2_CONF", &conf));
    }
    let pin_file = root.path().join("pin");
    std::fs::write(&pin_file, format!("{PIN}\n")).unwrap();
    std::fs::set_permissions(&pin_file, std::fs::Permissions::from_mode(0o600)).unwrap();

    let output = Command::new(std::env::current_exe().unwrap())
        .args([test_name, "--exact", "--nocapture", "--test-threads=1"])
        .env("SOFTHSM2_CONF", &conf)
        .env(CHILD_TEST_ENV, test_name)
        .env(CHILD_DIR_ENV, root.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "{test_name} failed in its SoftHSM2 child process:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Generates a key and returns its URI and SPKI.
pub fn generate(kms: &Pkcs11Kms, label: &str, algorithm: KeyAlgorithm) -> (String, Vec<u8>) {
    let response = kms
        .generate_key(GenerateKeyRequest {
            label: label.into(),
            algorithm,
        })
        .unwrap_or_else(|error| panic!("generating {label}: {error}"));
    (response.key_uri, response.public_key_spki_der.0)
}

pub fn sign(
    kms: &Pkcs11Kms,
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

const RTLD_NOW: c_int = 2;
const RTLD_LOCAL: c_int = 0;

unsafe extern "C" {
    // In glibc's libc.so.6 since 2.34, which the Rust standard library already links.
    fn dlopen(filename: *const c_char, flags: c_int) -> *mut c_void;
    fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
    fn dlerror() -> *const c_char;
}

/// Loads `libsigil_kms_pkcs11.so` (built by cargo next to this test binary, the lib being `cdylib` + `rlib`)
/// and validates its descriptor. The library is never closed, as in sigild.
pub fn load_cdylib() -> ValidatedDescriptor {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    let library = [deps, deps.parent().unwrap()]
        .into_iter()
        .map(|dir| dir.join("libsigil_kms_pkcs11.so"))
        .find(|path| path.exists())
        .unwrap_or_else(|| {
            panic!(
                "libsigil_kms_pkcs11.so not found near {}; run `cargo build -p sigil-kms-pkcs11`",
                exe.display()
            )
        });
    let path = CString::new(library.to_str().unwrap()).unwrap();
    let symbol = CString::new(SIGIL_PLUGIN_ENTRY_SYMBOL).unwrap();
    // SAFETY: valid NUL-terminated strings; the handle is deliberately leaked (never dlclose).
    let handle = unsafe { dlopen(path.as_ptr(), RTLD_NOW | RTLD_LOCAL) };
    if handle.is_null() {
        // SAFETY: dlerror returns a NUL-terminated message after a failed dlopen.
        panic!("dlopen: {:?}", unsafe { CStr::from_ptr(dlerror()) });
    }
    // SAFETY: as above.
    let entry = unsafe { dlsym(handle, symbol.as_ptr()) };
    assert!(
        !entry.is_null(),
        "the plugin exports {SIGIL_PLUGIN_ENTRY_SYMBOL}"
    );
    // SAFETY: the symbol is the plugin's entry function, of type SigilPluginEntryFn by the ABI.
    let entry: SigilPluginEntryFn = unsafe { std::mem::transmute(entry) };
    // SAFETY: the descriptor comes from the entry symbol of a library that stays loaded.
    unsafe { validate_descriptor(entry()) }.expect("the descriptor is valid")
}
