//! The built cdylib, loaded as sigild loads it: dlopen, the entry symbol, `validate_descriptor`, then
//! `HostInstance` calls with JSON messages.
#![allow(unsafe_code)] // reason: loading a shared object and calling its entry symbol is FFI by nature.

use core::ffi::{c_char, c_int, c_void};
use std::ffi::{CStr, CString};
use std::path::PathBuf;

use p256::pkcs8::DecodePublicKey;
use sigil_plugin_api::serde_json::json;
use sigil_plugin_api::{
    GenerateKeyResponse, ListKeysResponse, PluginKind, SIGIL_PLUGIN_ENTRY_SYMBOL,
    SigilPluginEntryFn, SignResponse, Status, ValidatedDescriptor, validate_descriptor,
};
use signature::Verifier;

use crate::support::{Fixture, OpensslCheck, assert_openssl_accepts};

const RTLD_NOW: c_int = 2;
const RTLD_LOCAL: c_int = 0;

unsafe extern "C" {
    // In glibc's libc.so.6 since 2.34, which the Rust standard library already links.
    fn dlopen(filename: *const c_char, flags: c_int) -> *mut c_void;
    fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
    fn dlerror() -> *const c_char;
}

/// `libsigil_kms_soft.so`, which cargo builds next to this test binary (the lib is `cdylib` + `rlib`).
fn plugin_path() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    [deps, deps.parent().unwrap()]
        .into_iter()
        .map(|dir| dir.join("libsigil_kms_soft.so"))
        .find(|path| path.exists())
        .unwrap_or_else(|| {
            panic!(
                "libsigil_kms_soft.so not found near {}; run `cargo build -p sigil-kms-soft`",
                exe.display()
            )
        })
}

/// Loads the plugin and validates its descriptor. The library is never closed, as in sigild.
fn load() -> ValidatedDescriptor {
    let path = CString::new(plugin_path().to_str().unwrap()).unwrap();
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

#[test]
fn the_cdylib_serves_kms_ops_through_the_host_api() {
    let plugin = load();
    assert_eq!(plugin.kind(), PluginKind::KmsSigner);
    assert_eq!(plugin.name(), "kms-soft");
    assert_eq!(plugin.version(), env!("CARGO_PKG_VERSION"));

    let fixture = Fixture::new();
    let config = fixture.config(json!({"store_name": "abi"})).to_string();
    let instance = plugin.create_instance(config.as_bytes()).unwrap();
    assert!(
        instance
            .health()
            .unwrap()
            .detail
            .unwrap()
            .contains("\"abi\"")
    );

    let generated: GenerateKeyResponse = instance
        .call_message(
            "generate_key",
            &json!({"label": "abi-key", "algorithm": "ecdsa-p256"}),
        )
        .unwrap();
    assert_eq!(generated.key_uri, "sigil-soft:store=abi;object=abi-key");
    let message = b"through the C ABI";
    let signed: SignResponse = instance
        .call_message(
            "sign",
            &json!({"key_uri": generated.key_uri, "algorithm": "ecdsa-p256-sha256",
                    "data": sigil_plugin_api::Base64Bytes(message.to_vec())}),
        )
        .unwrap();
    let spki = &generated.public_key_spki_der.0;
    let verifying = p256::ecdsa::VerifyingKey::from_public_key_der(spki).unwrap();
    verifying
        .verify(
            message,
            &p256::ecdsa::Signature::from_der(&signed.signature).unwrap(),
        )
        .unwrap();
    assert_openssl_accepts(
        spki,
        message,
        &signed.signature,
        OpensslCheck::Digest("sha256"),
    );

    let listed: ListKeysResponse = instance.call_message("list_keys", &json!({})).unwrap();
    assert_eq!(listed.keys.len(), 1);

    // Errors cross the boundary with their status.
    let error = instance
        .call_message::<_, SignResponse>(
            "sign",
            &json!({"key_uri": "sigil-soft:store=abi;object=nope", "algorithm": "ed25519", "data": ""}),
        )
        .unwrap_err();
    assert_eq!(error.status, Status::NotFound);
    let error = instance
        .call_message::<_, GenerateKeyResponse>(
            "generate_key",
            &json!({"label": "x", "algorithm": "ml-dsa-65"}),
        )
        .unwrap_err();
    assert_eq!(error.status, Status::Unsupported);
    let error = instance.call("timestamp", b"{}").unwrap_err();
    assert_eq!(error.status, Status::Unsupported);
    let error = instance.call("sign", b"not json").unwrap_err();
    assert_eq!(error.status, Status::InvalidInput);

    // A wrong passphrase fails create through the ABI too.
    fixture.write_secret("passphrase", b"wrong\n");
    let error = plugin.create_instance(config.as_bytes()).unwrap_err();
    assert_eq!(error.status, Status::PermissionDenied);
}
