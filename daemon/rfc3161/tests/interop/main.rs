//! Interoperability with OpenSSL (`openssl ts`) as the independent oracle, plus tampering and malformed
//! input tables. One test binary with one module per area, so it links once.

#![forbid(unsafe_code)]

// OpenSSL's tokens through this crate's parser and verifier.
mod openssl_reply;
// This crate's tokens through `openssl ts -verify`.
mod openssl_verify;
// Shared fixtures.
mod support;
// Altered tokens and unfit certificates, each with its own error.
mod tampering;
// Inputs that are not tokens at all: errors, never panics.
mod malformed;
// RFC 3161 rules beyond the basics, and the ETSI verdicts.
mod strict;
