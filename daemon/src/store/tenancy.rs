//! Tenants and their members, with the last-owner rule.

use serde::Deserialize;
use serde_json::json;

use super::Window;
use super::accounts::User;
use super::{Result, Store, StoreError};
use crate::ids::{TenantId, TenantScope, UserId};

/// Tenant role of a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// May manage members, API keys and settings.
    Owner,
    /// May use the tenant's services.
    Member,
}

impl Role {
    /// Parses `owner` / `member`.
    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "owner" => Some(Role::Owner),
            "member" => Some(Role::Member),
            _ => None,
        }
    }

    /// The stored and serialised name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Member => "member",
        }
    }
}

/// A tenant (organisation).
#[derive(Debug, Clone, Deserialize)]
pub struct Tenant {
    /// Stable id (UUID).
    pub uid: TenantId,
    /// Display name.
    pub name: String,
    /// RFC 3339.
    pub created_at: String,
}

/// A tenant as seen by one of its members.
#[derive(Debug, Clone)]
pub struct TenantMembership {
    /// The tenant.
    pub tenant: Tenant,
    /// The member's role in it.
    pub role: Role,
}

/// A member of a tenant, with the user's public fields.
#[derive(Debug, Clone)]
pub struct Member {
    /// User id.
    pub user_id: UserId,
    /// User email.
    pub email: String,
    /// User name.
    pub name: String,
    /// Role in the tenant.
    pub role: Role,
    /// When they joined (RFC 3339).
    pub created_at: String,
}

#[derive(Deserialize)]
struct MembershipRow {
    tenant: TenantId,
    user: UserId,
    role: Role,
    created_at: String,
}

impl Store {
    /// Creates a tenant owned by `owner` and makes it the owner's current tenant, in one transaction.
    pub async fn create_tenant(&self, owner: &UserId, name: &str) -> Result<Tenant> {
        let uid = TenantId::random();
        let sql = "BEGIN TRANSACTION;\
                   CREATE tenant CONTENT { uid: $uid, name: $name, created_at: time::now() };\
                   CREATE membership CONTENT { tenant: $uid, user: $owner, role: 'owner', created_at: time::now() };\
                   UPDATE user SET current_tenant = $uid WHERE uid = $owner;\
                   COMMIT TRANSACTION;\
                   SELECT * FROM tenant WHERE uid = $uid;";
        self.first(sql, json!({ "uid": uid, "name": name, "owner": owner }))
            .await?
            .ok_or(StoreError::Decode("tenant missing after create".into()))
    }

    /// A tenant by id.
    pub async fn tenant(&self, uid: &TenantId) -> Result<Option<Tenant>> {
        self.first(
            "SELECT * FROM tenant WHERE uid = $uid LIMIT 1;",
            json!({ "uid": uid }),
        )
        .await
    }

    /// The user's role in the tenant, if they are a member (the check that makes a [`TenantScope`] for a
    /// session).
    pub async fn role_of(&self, tenant: &TenantId, user: &UserId) -> Result<Option<Role>> {
        let sql = "SELECT * FROM membership WHERE tenant = $tenant AND user = $user LIMIT 1;";
        let row: Option<MembershipRow> = self
            .first(sql, json!({ "tenant": tenant, "user": user }))
            .await?;
        Ok(row.map(|row| row.role))
    }

    /// The tenants the user belongs to, oldest first.
    pub async fn tenants_of(
        &self,
        user: &UserId,
        window: Window,
    ) -> Result<(Vec<TenantMembership>, u64)> {
        let vars = json!({ "user": user, "limit": window.limit, "start": window.offset });
        let total = self
            .count(
                "SELECT count() FROM membership WHERE user = $user GROUP ALL;",
                vars.clone(),
            )
            .await?;
        let sql = "SELECT * FROM membership WHERE user = $user ORDER BY created_at, tenant LIMIT $limit START $start;";
        let memberships: Vec<MembershipRow> = self.rows(sql, vars).await?;
        let ids: Vec<&str> = memberships.iter().map(|m| m.tenant.as_str()).collect();
        let tenants: Vec<Tenant> = self
            .rows(
                "SELECT * FROM tenant WHERE uid IN $ids;",
                json!({ "ids": ids }),
            )
            .await?;
        let items = memberships
            .iter()
            .filter_map(|m| {
                let tenant = tenants.iter().find(|t| t.uid == m.tenant)?.clone();
                Some(TenantMembership {
                    tenant,
                    role: m.role,
                })
            })
            .collect();
        Ok((items, total))
    }

    /// Adds a user to a tenant. Already a member is a conflict.
    pub async fn add_member(&self, scope: &TenantScope, user: &User, role: Role) -> Result<Member> {
        let tenant = scope.tenant();
        let sql = "CREATE membership CONTENT { tenant: $tenant, user: $user, role: $role, created_at: time::now() } \
                   RETURN AFTER;";
        let vars = json!({ "tenant": tenant, "user": user.uid, "role": role.as_str() });
        let row: MembershipRow = match self.first(sql, vars).await {
            Err(StoreError::Duplicate(_)) => {
                return Err(StoreError::Conflict(format!(
                    "{} is already a member of this tenant",
                    user.email
                )));
            }
            other => other?.ok_or(StoreError::Decode(
                "CREATE membership returned nothing".into(),
            ))?,
        };
        Ok(Member {
            user_id: row.user,
            email: user.email.clone(),
            name: user.name.clone(),
            role: row.role,
            created_at: row.created_at,
        })
    }

    /// The members of a tenant, oldest first.
    pub async fn members(&self, scope: &TenantScope, window: Window) -> Result<(Vec<Member>, u64)> {
        let tenant = scope.tenant();
        let vars = json!({ "tenant": tenant, "limit": window.limit, "start": window.offset });
        let total = self
            .count(
                "SELECT count() FROM membership WHERE tenant = $tenant GROUP ALL;",
                vars.clone(),
            )
            .await?;
        let sql = "SELECT * FROM membership WHERE tenant = $tenant ORDER BY created_at, user LIMIT $limit START $start;";
        let memberships: Vec<MembershipRow> = self.rows(sql, vars).await?;
        let ids: Vec<&str> = memberships.iter().map(|m| m.user.as_str()).collect();
        let users: Vec<User> = self
            .rows(
                "SELECT * FROM user WHERE uid IN $ids;",
                json!({ "ids": ids }),
            )
            .await?;
        let items = memberships
            .into_iter()
            .filter_map(|m| {
                let user = users.iter().find(|u| u.uid == m.user)?;
                Some(Member {
                    user_id: m.user,
                    email: user.email.clone(),
                    name: user.name.clone(),
                    role: m.role,
                    created_at: m.created_at,
                })
            })
            .collect();
        Ok((items, total))
    }

    /// Removes a member. Removing the last owner is a conflict, checked in the same transaction as the delete.
    pub async fn remove_member(&self, scope: &TenantScope, user: &UserId) -> Result<()> {
        let tenant = scope.tenant();
        // The version bump comes first: of two concurrent removals in one tenant, one commits and the other
        // fails with a write conflict, is retried by `run`, and then sees the first one's effect.
        let sql = "BEGIN TRANSACTION;\
                   UPDATE tenant SET members_version += 1 WHERE uid = $tenant;\
                   LET $found = (SELECT * FROM membership WHERE tenant = $tenant AND user = $user);\
                   IF array::len($found) = 0 { THROW 'sigil:not_found' };\
                   DELETE membership WHERE tenant = $tenant AND user = $user;\
                   LET $owners = (SELECT * FROM membership WHERE tenant = $tenant AND role = 'owner');\
                   IF array::len($owners) = 0 { THROW 'sigil:last_owner' };\
                   UPDATE user SET current_tenant = NONE WHERE uid = $user AND current_tenant = $tenant;\
                   COMMIT TRANSACTION;";
        match self
            .run(sql, json!({ "tenant": tenant, "user": user }))
            .await
        {
            Ok(_) => Ok(()),
            Err(StoreError::Query(message)) if message.contains("sigil:not_found") => {
                Err(StoreError::NotFound("member"))
            }
            Err(StoreError::Query(message)) if message.contains("sigil:last_owner") => Err(
                StoreError::Conflict("a tenant must keep at least one owner".into()),
            ),
            Err(other) => Err(other),
        }
    }
}
