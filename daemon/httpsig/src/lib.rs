//! HTTP message signatures for Sigil: RFC 9421 verification and signing (Ed25519), RFC 9530
//! `Content-Digest`, and the Sigilum agent profile built on them.
//!
//! Pure protocol code: a request is a borrowed [`Message`] (method, absolute target URI, header fields,
//! body bytes); there are no HTTP framework types, no I/O, no storage and no configuration syntax.
//! Structured fields (`Signature-Input`, `Signature`, `Content-Digest`) are parsed with the `sfv` crate.
//!
//! # RFC 9421 layer ([`rfc9421`])
//!
//! - Derived components supported: `@method`, `@target-uri`, `@authority` (lower-cased, default port
//!   removed), `@scheme`, `@path`, `@query`, `@request-target`, `@query-param;name="..."` (one line per
//!   occurrence, re-encoded as §2.2.8 says); plus header fields (trimmed, repeated fields joined with
//!   `", "`). Other component parameters (`;sf`, `;key`, `;bs`, `;req`, `;tr`) and other derived
//!   components are refused as unsupported, as are duplicate identifiers and upper-case field names.
//! - `@signature-params` is the inner list exactly as received when it can be isolated and re-parses to
//!   the same value; a signature over the canonical re-serialization is accepted as well (the two are
//!   byte-identical for normally serialized input).
//! - **Method case**: RFC 9421 signs `@method` as sent (upper case for standard methods); the Sigilum SDKs
//!   sign it in lower case. The verifier accepts a signature over the method as received, its lower-case
//!   form or its upper-case form. This widens nothing an attacker controls: the method is the same word.
//! - Ed25519 only (`alg="ed25519"`, case-insensitive, or no `alg`), verified with `verify_strict`.
//!
//! # Content-Digest ([`digest`])
//!
//! `sha-256` and `sha-512` are computed; every supported algorithm present must match the exact body
//! bytes (constant-time comparison), unknown algorithms are ignored, and a value with none supported
//! is refused.
//!
//! # Sigilum profile ([`sigilum`])
//!
//! [`sigilum::verify_sigilum`] checks, in this order, each failure with the Sigilum API's code:
//! 1. the six headers are present (`SIGNATURE_MISSING`) and none is over the size limit;
//! 2. exactly one signature, `created` > 0, `alg` ed25519, `keyid` and `nonce` present, a 64-byte
//!    signature under the same label (`SIGNATURE_INVALID`);
//! 3. freshness: `created` at most `max_age_secs` (300) old and at most `future_skew_secs` (5; Sigilum's
//!    server allows 0) in the future; a passed `expires` also fails (`SIGNATURE_EXPIRED`);
//! 4. the certificate: version 1, proof, DID, key id derivation, not expired, and its key and namespace
//!    equal to the headers; the namespace follows Sigilum's rule (`SIGNATURE_INVALID`);
//! 5. `keyid` equals the certificate's key id (`SIGNATURE_INVALID`);
//! 6. the covered components are the profile's set for a request with or without a body
//!    (`SIGNATURE_COMPONENTS_INVALID`). The set must match exactly but the order is the signer's (the
//!    SDKs' fixed order, or any other order a standard RFC 9421 signer chooses: the order is covered by
//!    the signature anyway). A body is a non-empty body on a method other than GET or HEAD (whose
//!    bodies the Sigilum server ignores); a body without `content-digest` fails here too;
//! 7. `content-digest` matches the body (`SIGNATURE_DIGEST_MISMATCH`);
//! 8. the Ed25519 signature over the base (`SIGNATURE_INVALID`).
//!
//! Route binding ([`sigilum::VerifiedAgent::check_namespace`]: the expected namespace is URL-decoded and
//! compared exactly, as the Sigilum server does; [`sigilum::VerifiedAgent::check_public_key`]) and nonce
//! replay ([`sigilum::SigilumError::NonceReplay`]) are the daemon's, with 403 and 409 statuses.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod digest;
mod message;
pub mod rfc9421;
pub mod sigilum;

pub use message::Message;
