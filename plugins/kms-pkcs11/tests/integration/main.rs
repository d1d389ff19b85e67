//! Black-box tests of the kms-pkcs11 plugin against real SoftHSM2 tokens: one binary (it links once), one
//! module per area. Every test runs in a child process of its own with a private SOFTHSM2_CONF and token
//! directory, because a PKCS#11 module reads its configuration once per process and the plugin (rightly)
//! never finalises it.

// The per-test SoftHSM2 fixture, the openssl oracle and the cdylib loader.
#[macro_use]
mod support;

// Key generation and signing for every algorithm, each signature checked by RustCrypto and by openssl.
mod signing;

// Keys on the token: attributes, conflicts, lookups, keys from other tools, deletion, PIN and health.
mod lifecycle;

// The built cdylib beside the rlib in one process, as during a hot reload, under concurrent calls.
mod plugin_abi;
