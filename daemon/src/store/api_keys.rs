//! API keys: stored only as SHA-256 hashes, looked up by hash (through the key cache for the embedded engine).

use serde::Deserialize;
use serde_json::{Value, json};

use super::Window;
use super::{Result, Store, StoreError};
use crate::ids::{ApiKeyId, KeyEnvironment, TenantId, TenantScope, UserId};

/// An API key record. The secret itself is never stored, only its SHA-256.
#[derive(Debug, Clone, Deserialize)]
pub struct ApiKey {
    /// Stable id (UUID).
    pub uid: ApiKeyId,
    /// Owning tenant.
    pub tenant: TenantId,
    /// Owner-chosen name.
    pub name: String,
    /// `live` or `test`.
    pub environment: KeyEnvironment,
    /// The first characters of the key, for recognising it in lists.
    pub prefix: String,
    /// Hex SHA-256 of the full key.
    pub hash: String,
    /// User who created it.
    pub created_by: UserId,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339, absent when never used.
    pub last_used_at: Option<String>,
}

impl Store {
    /// Stores a new API key's hash and metadata.
    pub async fn create_api_key(
        &self,
        scope: &TenantScope,
        name: &str,
        environment: KeyEnvironment,
        prefix: &str,
        hash: &str,
        created_by: &UserId,
    ) -> Result<ApiKey> {
        let uid = ApiKeyId::random();
        let tenant = scope.tenant();
        let sql = "CREATE api_key CONTENT { uid: $uid, tenant: $tenant, name: $name, environment: $environment, \
                   prefix: $prefix, hash: $hash, created_by: $created_by, created_at: time::now(), \
                   last_used_at: NONE } RETURN AFTER;";
        let vars = json!({ "uid": uid, "tenant": tenant, "name": name, "environment": environment,
                           "prefix": prefix, "hash": hash, "created_by": created_by });
        self.first(sql, vars)
            .await?
            .ok_or(StoreError::Decode("CREATE api_key returned nothing".into()))
    }

    /// The tenant's keys, newest first.
    pub async fn api_keys(
        &self,
        scope: &TenantScope,
        window: Window,
    ) -> Result<(Vec<ApiKey>, u64)> {
        let vars =
            json!({ "tenant": scope.tenant(), "limit": window.limit, "start": window.offset });
        let total = self
            .count(
                "SELECT count() FROM api_key WHERE tenant = $tenant GROUP ALL;",
                vars.clone(),
            )
            .await?;
        let sql = "SELECT * FROM api_key WHERE tenant = $tenant ORDER BY created_at DESC, uid LIMIT $limit START $start;";
        Ok((self.rows(sql, vars).await?, total))
    }

    /// The key with this hash (unique index), if it exists and is not revoked.
    pub async fn api_key_by_hash(&self, hash: &str) -> Result<Option<ApiKey>> {
        if let Some(key) = self.api_keys.as_ref().and_then(|cache| cache.get(hash)) {
            return Ok(Some(key));
        }
        let ticket = self.api_keys.as_ref().map(|cache| cache.ticket());
        let key: Option<ApiKey> = self
            .first(
                "SELECT * FROM api_key WHERE hash = $hash LIMIT 1;",
                json!({ "hash": hash }),
            )
            .await?;
        if let (Some(cache), Some(ticket), Some(key)) = (&self.api_keys, ticket, &key) {
            cache.put(ticket, key);
        }
        Ok(key)
    }

    /// Deletes a key of this tenant. Revocation is immediate: the next request with it fails.
    pub async fn revoke_api_key(&self, scope: &TenantScope, uid: &ApiKeyId) -> Result<()> {
        let sql = "DELETE api_key WHERE tenant = $tenant AND uid = $uid RETURN BEFORE;";
        let deleted = self
            .rows::<Value>(sql, json!({ "tenant": scope.tenant(), "uid": uid }))
            .await;
        // Even after an error: the delete may have committed, and forgetting a live key only costs a read.
        if let Some(cache) = &self.api_keys {
            cache.forget(uid);
        }
        let deleted = deleted?;
        if deleted.is_empty() {
            Err(StoreError::NotFound("API key"))
        } else {
            Ok(())
        }
    }

    /// Records that a key was used now. The key cache learns it at once, when this is called, so that requests
    /// made before the returned write finishes do not record the use again.
    pub fn touch_api_key(
        &self,
        uid: &ApiKeyId,
    ) -> impl std::future::Future<Output = Result<()>> + Send + 'static {
        if let Some(cache) = &self.api_keys {
            cache.touched(uid, &chrono::Utc::now().to_rfc3339());
        }
        let (store, uid) = (self.clone(), uid.to_string());
        async move {
            store
                .run(
                    "UPDATE api_key SET last_used_at = time::now() WHERE uid = $uid;",
                    json!({ "uid": uid }),
                )
                .await
                .map(|_| ())
        }
    }
}
