//! Black-box tests of the kms-soft plugin: one binary (it links once), one module per area.

// Shared fixtures: stores in temp dirs, the openssl oracle, typed calls.
mod support;

// Key generation and signing for every algorithm, each signature checked by RustCrypto and by openssl.
mod signing;

// The store on disk: encryption at rest, secrets, wrong passphrases, tampering, deletion.
mod store;

// The built cdylib, loaded with dlopen and driven through sigil-plugin-api's host API.
mod plugin_abi;
