//! The stable plugin boundary of Sigil: the C ABI v1 that dynamic plugins (TSA backends, KMS signers, push
//! channels) build against, and the only crate a plugin author needs.
//!
//! **Architecture Invariant:** this crate knows nothing of the daemon: no async runtime, no HTTP, no
//! database, no config syntax. It depends on serde, serde_json, base64 and thiserror only. It is an **API
//! Boundary**: its C side (`include/sigil_plugin.h`, generated from [`abi`](crate#abi)) is frozen for major 1;
//! later minors only append.
//!
//! For plugin authors (see `README.md` for the full guide):
//! - implement [`TsaBackend`], [`KmsSigner`] or [`PushChannel`] and export it with [`export_tsa_backend!`],
//!   [`export_kms_signer!`] or [`export_push_channel!`] in a `crate-type = ["cdylib"]` crate;
//! - every panic is caught at the boundary and reported as [`Status::Panicked`], poisoning the instance.
//!
//! For the host:
//! - resolve [`SIGIL_PLUGIN_ENTRY_SYMBOL`] (type [`SigilPluginEntryFn`]), pass its result to
//!   [`validate_descriptor`], then [`ValidatedDescriptor::create_instance`] and call through [`HostInstance`].
//!
//! # ABI
//! The `#[repr(C)]` types ([`SigilPluginDescriptor`], [`SigilPluginVtable`], [`SigilBuffer`],
//! [`SigilSlice`], [`SigilInstance`]), the hook signatures, status codes, kinds and op names are defined once
//! in this crate; [`c_header`] renders them as C.
//!
//! # Messages
//! Each op is a pair of JSON messages ([`TimestampRequest`] / [`TimestampResponse`], [`SignRequest`] /
//! [`SignResponse`], ...). New fields are optional and unknown fields are ignored.

#![deny(missing_docs)]
#![allow(unsafe_code)] // reason: this crate is the FFI boundary; every unsafe block carries a SAFETY note.

#[macro_use]
mod layout;

mod abi;
mod descriptor;
mod error;
mod header;
mod host;
mod messages;
mod plugin;

#[doc(hidden)]
#[path = "export.rs"]
pub mod __private;

pub use abi::*;
pub use descriptor::*;
pub use error::*;
pub use header::c_header;
pub use host::*;
pub use messages::*;
pub use plugin::*;

/// The JSON library of the message types, re-exported so plugins use the same version
/// (`sigil_plugin_api::serde_json::Value` is the type of a plugin's config).
pub use serde_json;

#[cfg(test)]
mod tests;
