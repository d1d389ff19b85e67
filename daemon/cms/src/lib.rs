//! CMS (RFC 5652) and X.509 protocol code shared by Sigil's formats: the RFC 3161 time-stamp protocol
//! (`sigil-rfc3161`) today, CAdES, PAdES and JAdES seals and approvals later.
//!
//! It holds what is not specific to one format: liberal BER input ([`ber`]), the CMS and ESS wire structures
//! ([`asn1`]), OIDs ([`oids`]), arbitrary-length INTEGERs ([`BigInteger`]) and time helpers ([`time`]).
//!
//! Pure protocol code: typed inputs, typed results, no I/O, no HTTP, no storage and no configuration syntax.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod asn1;
pub mod ber;
mod integer;
pub mod oids;
pub mod time;

pub use ber::{BerError, WireEncoding};
pub use integer::BigInteger;

/// Re-exports of the crates and types that appear in this crate's API, so callers need not match versions.
pub use const_oid::ObjectIdentifier;
pub use spki::SubjectPublicKeyInfoOwned;
pub use x509_cert::{Certificate, name::Name};
pub use {der, spki, x509_cert};

/// Lowercase hex of `bytes`, as renderings and error messages of the formats show digests and serials.
#[must_use]
pub fn hex(bytes: &[u8]) -> String {
    use core::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, byte| {
            let _ = write!(out, "{byte:02x}");
            out
        })
}
