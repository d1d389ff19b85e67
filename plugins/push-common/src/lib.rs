//! `sigil-push-common`: what the push channel plugins (`push-webhook`, `push-ntfy`, `push-webpush`) share, so
//! that the rules deciding where a notification may go and how an HTTP answer becomes an outcome are written
//! once.
//!
//! - [`rules`]: the `allowed_hosts` and `allow_private_networks` settings and the checks a recipient URL
//!   passes before anything is sent.
//! - [`delivery`]: the HTTP client every channel posts with (no redirects, no proxy, only addresses the
//!   address policy admits) and the mapping of its errors and statuses onto delivery outcomes and errors.
//! - `test_support` (feature `test-support`): a loopback HTTP stand-in for the plugins' tests.
//!
//! **Architecture Invariant:** this is a library linked into each plugin, not a plugin: it exports no ABI
//! entry point, and the wording of every message it builds is the plugins' contract, unchanged by the move.

#![forbid(unsafe_code)]

pub mod delivery;
pub mod rules;
#[cfg(feature = "test-support")]
pub mod test_support;

/// The SSRF address policy the rules and the agent apply, re-exported for the plugins' convenience.
pub use sigil_netpolicy as address_policy;
