//! Typed identifiers and the tenant scope. An id is a string on the wire and in the store (`serde(transparent)`),
//! but a distinct type in the code, so a user id cannot be passed where a tenant id is expected; and the store's
//! operations on tenant data take a [`TenantScope`], so a query that forgets its tenant does not compile.

use std::fmt;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps an id read from a trusted place (the store, a verified credential, a checked path segment).
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }

            /// A fresh random id (UUID v4).
            pub fn random() -> Self {
                Self(uuid::Uuid::new_v4().to_string())
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }
    };
}

id_type!(
    /// An approval request of any kind (for an agent claim: its `cl_` claim id).
    ApprovalId
);
id_type!(
    /// A tenant (organisation).
    TenantId
);
id_type!(
    /// A user account.
    UserId
);
id_type!(
    /// An API key (its record, never its secret).
    ApiKeyId
);
id_type!(
    /// A stamp record.
    StampId
);
id_type!(
    /// A stored session.
    SessionId
);
id_type!(
    /// A seal certificate.
    SealCertificateId
);
id_type!(
    /// A seal operation.
    SealOperationId
);
id_type!(
    /// A service of the agent directory (Sigilum surface).
    ServiceId
);
id_type!(
    /// A service's API key (its record, never its secret).
    ServiceKeyId
);

/// Proof that the caller was authenticated for this tenant (a member's session or one of its API keys), or that a
/// component acts for the tenant it belongs to (the tenant's actor). Tenant data is reached only through store
/// operations and service methods that take it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TenantScope(TenantId);

impl TenantScope {
    /// The scope of an authenticated caller, or of a member checked against the store. Only the authentication
    /// layer, the membership check (`app::tenants`) and the tenant's own actor create it.
    pub(crate) fn authenticated(tenant: TenantId) -> Self {
        Self(tenant)
    }

    /// The tenant.
    pub fn tenant(&self) -> &TenantId {
        &self.0
    }

    /// The tenant id as text.
    pub fn id(&self) -> &str {
        self.0.as_str()
    }
}

/// The environment an API key belongs to, from its prefix (`sgk_live_` or `sgk_test_`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyEnvironment {
    /// Production keys.
    Live,
    /// Test keys.
    Test,
}

impl KeyEnvironment {
    /// Parses `live` or `test`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "live" => Some(Self::Live),
            "test" => Some(Self::Test),
            _ => None,
        }
    }

    /// `live` or `test`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Live => "live",
            Self::Test => "test",
        }
    }
}
