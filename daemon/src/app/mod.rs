//! Application services: the use cases, free of HTTP. A handler in `http/` parses a request, calls one method
//! here with a typed tenant scope and typed input, and renders the domain result or error; nothing here knows
//! axum. Seals and approvals get their services beside [`timestamping`].

pub mod accounts;
pub mod approvals;
pub mod claims;
pub mod directory;
pub mod revocation;
pub mod seal_platform;
pub mod seals;
pub mod sigil_auth;
pub mod signing_requests;
pub mod tenants;
pub mod timestamping;
pub mod webhooks;
pub mod zip;

pub use crate::ids::TenantScope;
