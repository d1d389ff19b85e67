//! Seals against independent oracles: OpenSSL (`openssl cms -verify -cades`, `openssl ts -verify`,
//! `openssl req -verify`), pyHanko (`pyhanko sign validate --detached`) and jwcrypto for JAdES, plus our
//! verifier on CMS that OpenSSL made. One test binary with one module per area, so it links once. A missing
//! oracle fails the test: run `tests/oracles/setup.sh` once.

#![forbid(unsafe_code)]

// Test PKI (openssl), the local TSA, oracle runners.
mod support;
// Our CAdES through openssl, openssl ts and pyHanko, for every key type.
mod cades_oracles;
// openssl-made CMS through our verifier: passed, tampered, wrong anchors, missing ESS, self-signed.
mod foreign;
// JAdES: our verifier and jwcrypto.
mod jades;
// CSR through openssl, activation chain errors.
mod csr;
