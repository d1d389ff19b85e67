//! Tenants (the seeds' organisations), their members and their API keys. Every read and write is scoped to a
//! tenant the caller belongs to: another tenant's objects answer NOT_FOUND, as if they did not exist.

use std::sync::Arc;

use crate::actors::Runtime;
use crate::actors::registry::TenantRegistry;
use crate::actors::tenant::InvalidateRoles;
use crate::credentials;
use crate::error::{ApiError, ApiResult};
use crate::ids::{ApiKeyId, KeyEnvironment, TenantId, TenantScope, UserId};
use crate::store::{ApiKey, Member, Role, Store, Tenant, TenantMembership, Window};

/// Longest tenant or key name.
const MAX_NAME: usize = 200;

fn checked_name(field: &str, name: &str) -> ApiResult<String> {
    crate::text::checked_text(field, name, MAX_NAME)
}

/// A new API key: its record and the secret, which is shown this once and never stored.
pub struct CreatedKey {
    /// The stored record.
    pub key: ApiKey,
    /// The full key.
    pub secret: String,
}

/// The tenancy use cases.
#[derive(Clone)]
pub struct TenantService {
    runtime: Arc<Runtime>,
    registry: TenantRegistry,
}

impl TenantService {
    /// A service over the runtime and the tenant registry (whose actors cache memberships).
    pub fn new(runtime: Arc<Runtime>, registry: TenantRegistry) -> Self {
        Self { runtime, registry }
    }

    fn store(&self) -> &Store {
        &self.runtime.store
    }

    /// Creates a tenant owned by `user`, which becomes the user's current tenant.
    pub async fn create(&self, user: &UserId, name: &str) -> ApiResult<Tenant> {
        let name = checked_name("name", name)?;
        let tenant = self.store().create_tenant(user, &name).await?;
        tracing::info!(tenant = %tenant.uid, user = %user, "tenant created");
        Ok(tenant)
    }

    /// The user's tenants with their role in each.
    pub async fn tenants_of(
        &self,
        user: &UserId,
        window: Window,
    ) -> ApiResult<(Vec<TenantMembership>, u64)> {
        Ok(self.store().tenants_of(user, window).await?)
    }

    /// The caller's role in the tenant named by `tenant` and the scope that membership grants; NOT_FOUND when
    /// they are not a member (no existence leak).
    pub async fn member_of(
        &self,
        tenant: TenantId,
        user: &UserId,
    ) -> ApiResult<(TenantScope, Role)> {
        let role = self
            .store()
            .role_of(&tenant, user)
            .await?
            .ok_or_else(|| ApiError::not_found("tenant"))?;
        Ok((TenantScope::authenticated(tenant), role))
    }

    /// The tenant's members (any member may list them).
    pub async fn members(
        &self,
        tenant: TenantId,
        user: &UserId,
        window: Window,
    ) -> ApiResult<(Vec<Member>, u64)> {
        let (scope, _) = self.member_of(tenant, user).await?;
        Ok(self.store().members(&scope, window).await?)
    }

    /// Adds the account with this email to the tenant (owners only).
    pub async fn add_member(
        &self,
        tenant: TenantId,
        user: &UserId,
        email: &str,
        role: &str,
    ) -> ApiResult<Member> {
        let (scope, caller_role) = self.member_of(tenant, user).await?;
        if caller_role != Role::Owner {
            return Err(ApiError::forbidden("only owners may add members"));
        }
        let role = Role::parse(role)
            .ok_or_else(|| ApiError::invalid_field("role", "must be `owner` or `member`"))?;
        let email = crate::text::normalize_email(email)?;
        let store = self.store();
        let invitee = store.user_by_email(&email).await?.ok_or_else(|| {
            ApiError::not_found("user").with_details(
                serde_json::json!({ "field": "email", "reason": "no account with this email" }),
            )
        })?;
        let member = store.add_member(&scope, &invitee, role).await?;
        self.invalidate_roles(&scope).await;
        tracing::info!(tenant = %scope.tenant(), member = %member.user_id, role = role.as_str(), "member added");
        Ok(member)
    }

    /// Removes a member (owners; a member may remove themselves). The last owner stays.
    pub async fn remove_member(
        &self,
        tenant: TenantId,
        user: &UserId,
        member: UserId,
    ) -> ApiResult<()> {
        let (scope, role) = self.member_of(tenant, user).await?;
        if role != Role::Owner && *user != member {
            return Err(ApiError::forbidden("only owners may remove other members"));
        }
        self.store().remove_member(&scope, &member).await?;
        self.invalidate_roles(&scope).await;
        tracing::info!(tenant = %scope.tenant(), member = %member, "member removed");
        Ok(())
    }

    async fn invalidate_roles(&self, scope: &TenantScope) {
        // Best effort: the cache also expires on its own after `tenants.cache_ttl`.
        let _ = self
            .registry
            .lookup(scope.tenant())
            .send(InvalidateRoles)
            .await;
    }

    /// Creates an API key for the tenant (the caller must be an owner, checked by the caller's credentials).
    pub async fn create_api_key(
        &self,
        scope: &TenantScope,
        owner: &UserId,
        name: &str,
        environment: Option<&str>,
    ) -> ApiResult<CreatedKey> {
        let name = checked_name("name", name)?;
        let environment = match environment {
            None => KeyEnvironment::Live,
            Some(text) => KeyEnvironment::parse(text).ok_or_else(|| {
                ApiError::invalid_field("environment", "must be `live` or `test`")
            })?,
        };
        let generated = credentials::generate_api_key(environment.as_str());
        let key = self
            .store()
            .create_api_key(
                scope,
                &name,
                environment,
                &generated.prefix,
                &generated.hash,
                owner,
            )
            .await?;
        tracing::info!(tenant = %scope.tenant(), key = %key.uid, "API key created");
        Ok(CreatedKey {
            key,
            secret: generated.secret,
        })
    }

    /// The tenant's keys, never their secrets.
    pub async fn api_keys(
        &self,
        scope: &TenantScope,
        window: Window,
    ) -> ApiResult<(Vec<ApiKey>, u64)> {
        Ok(self.store().api_keys(scope, window).await?)
    }

    /// Revokes a key; it stops working at once.
    pub async fn revoke_api_key(&self, scope: &TenantScope, id: &ApiKeyId) -> ApiResult<()> {
        self.store().revoke_api_key(scope, id).await?;
        tracing::info!(tenant = %scope.tenant(), key = %id, "API key revoked");
        Ok(())
    }
}
