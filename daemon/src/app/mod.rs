//! Application services: the use cases, free of HTTP. A handler in `http/` parses a request, calls one method
//! here with a typed tenant scope and typed input, and renders the domain result or error; nothing here knows
//! axum. Seals and approvals get their services beside [`timestamping`].

pub mod timestamping;

/// Proof that the caller was authenticated for this tenant (a member's session or one of its API keys). Tenant
/// data is reached through service methods that take it, so an unscoped use case does not compile.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TenantScope(String);

impl TenantScope {
    /// The scope of an authenticated caller. Only the authentication layer creates it.
    pub(crate) fn authenticated(tenant: String) -> Self {
        Self(tenant)
    }

    /// The tenant id.
    pub fn id(&self) -> &str {
        &self.0
    }
}
