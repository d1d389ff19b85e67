//! The agent directory of the Sigilum surface: namespaces (the `did:sigilum:<name>` identities a tenant owns),
//! services (the parties that ask agents' namespaces for approval) and the services' API keys, stored only as
//! SHA-256 hashes.
//!
//! Uniqueness: a namespace's record key is its lower-case name, so "taken?" is a point read and two tenants
//! cannot both create it; a service's slug has a unique index over every tenant, deleted services included (a
//! deleted service is a tombstone, so its slug never comes back for someone else while claims may still name
//! it). The per-tenant service limit and the per-service key limit are checked inside the transaction that
//! writes, which also bumps a counter record, so two concurrent creates conflict and the retry sees the first.

use serde::Deserialize;
use serde_json::{Value, json};

use super::{Result, Store, StoreError, Window};
use crate::ids::{ServiceId, ServiceKeyId, TenantId, TenantScope, UserId};

/// A namespace: a DID name owned by a tenant.
#[derive(Debug, Clone, Deserialize)]
pub struct Namespace {
    /// The lower-case name (also its record key).
    pub name: String,
    /// Owning tenant.
    pub tenant: TenantId,
    /// The user who created it (the DID's `owner`).
    pub created_by: UserId,
    /// RFC 3339.
    pub created_at: String,
}

/// A service of a tenant.
#[derive(Debug, Clone, Deserialize)]
pub struct Service {
    /// Stable id (UUID).
    pub uid: ServiceId,
    /// Owning tenant.
    pub tenant: TenantId,
    /// Display name.
    pub name: String,
    /// Globally unique slug.
    pub slug: String,
    /// The service's domain.
    pub domain: String,
    /// Free text.
    pub description: String,
    /// RFC 3339.
    pub created_at: String,
}

/// The fields of a new service, already validated.
#[derive(Debug, Clone)]
pub struct NewService {
    /// Display name.
    pub name: String,
    /// Slug.
    pub slug: String,
    /// Domain.
    pub domain: String,
    /// Description.
    pub description: String,
}

/// A change to a service; `None` keeps the field.
#[derive(Debug, Clone, Default)]
pub struct ServicePatch {
    /// New name.
    pub name: Option<String>,
    /// New domain.
    pub domain: Option<String>,
    /// New description.
    pub description: Option<String>,
}

/// A service's API key. The key itself is never stored, only its SHA-256.
#[derive(Debug, Clone, Deserialize)]
pub struct ServiceKey {
    /// Stable id (UUID).
    pub uid: ServiceKeyId,
    /// The service it authenticates.
    pub service: ServiceId,
    /// Owning tenant (the service's).
    pub tenant: TenantId,
    /// Owner-chosen name.
    pub name: String,
    /// Lower-case hex SHA-256 of the full key.
    pub hash: String,
    /// `...` and the key's last 4 characters, for recognising it in lists.
    pub key_prefix: String,
    /// Whether the owner marked it as the key of a gateway.
    pub gateway: bool,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339; absent while the key is active.
    pub revoked_at: Option<String>,
}

/// An active key found by its hash, with the service it speaks for.
#[derive(Debug, Clone)]
pub struct ServiceKeyRecord {
    /// The key (its `service` and `tenant` are the service's uid and tenant).
    pub key: ServiceKey,
    /// The service's slug, which claims name.
    pub service_slug: String,
}

/// Why creating a service or a key was refused by a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitRefusal {
    /// The tenant already has this many (non-deleted) services.
    Services(u64),
    /// The service already has this many active keys.
    Keys(u64),
}

/// What a create under a limit came to.
#[derive(Debug, Clone)]
pub enum Limited<T> {
    /// Written.
    Created(T),
    /// Refused by the limit.
    Refused(LimitRefusal),
}

const SERVICE_LIMIT_MARK: &str = "sigil-directory:service-limit";
const KEY_LIMIT_MARK: &str = "sigil-directory:key-limit";
const NO_SERVICE_MARK: &str = "sigil-directory:no-service";

impl Store {
    /// Records a namespace for the tenant. `name` must already be the validated lower-case form. A name taken by
    /// any tenant is a [`StoreError::Conflict`].
    pub async fn create_namespace(
        &self,
        scope: &TenantScope,
        name: &str,
        created_by: &UserId,
    ) -> Result<Namespace> {
        let sql = "CREATE type::record('agent_namespace', $name) CONTENT { name: $name, tenant: $tenant, \
                   created_by: $created_by, created_at: time::now() } RETURN AFTER;";
        let vars = json!({ "name": name, "tenant": scope.tenant(), "created_by": created_by });
        match self.first(sql, vars).await {
            Ok(Some(namespace)) => Ok(namespace),
            Ok(None) => Err(StoreError::Decode(
                "CREATE agent_namespace returned nothing".into(),
            )),
            Err(StoreError::Duplicate(_)) => Err(StoreError::Conflict(
                "this namespace is already taken".into(),
            )),
            Err(error) => Err(error),
        }
    }

    /// The tenant's namespaces, by name.
    pub async fn namespaces(
        &self,
        scope: &TenantScope,
        window: Window,
    ) -> Result<(Vec<Namespace>, u64)> {
        let vars =
            json!({ "tenant": scope.tenant(), "limit": window.limit, "start": window.offset });
        let total = self
            .count(
                "SELECT count() FROM agent_namespace WHERE tenant = $tenant GROUP ALL;",
                vars.clone(),
            )
            .await?;
        let rows = self
            .rows(
                "SELECT name, tenant, created_by, created_at FROM agent_namespace WHERE tenant = $tenant \
                 ORDER BY name LIMIT $limit START $start;",
                vars,
            )
            .await?;
        Ok((rows, total))
    }

    /// The namespace with this lower-case name, whichever tenant owns it: a deliberate cross-tenant read, since
    /// namespaces are DIDs and DIDs are public.
    pub async fn namespace_any_tenant(&self, name: &str) -> Result<Option<Namespace>> {
        self.first(
            "SELECT name, tenant, created_by, created_at FROM type::record('agent_namespace', $name);",
            json!({ "name": name }),
        )
        .await
    }

    /// Creates a service unless the tenant already has `limit` services; a slug taken by any tenant (deleted
    /// services included) is a [`StoreError::Conflict`].
    pub async fn create_service(
        &self,
        scope: &TenantScope,
        new: &NewService,
        limit: u64,
    ) -> Result<Limited<Service>> {
        let uid = ServiceId::random();
        // The counter record makes concurrent creates of one tenant write the same record, so they conflict and
        // the retried one counts the other's service.
        let sql = "BEGIN TRANSACTION;\
                   UPSERT type::record('directory_tenant', $tenant) SET services_version += 1;\
                   LET $count = array::len((SELECT uid FROM service WHERE tenant = $tenant AND deleted_at = NONE));\
                   IF $count >= $limit { THROW $mark };\
                   CREATE service CONTENT { uid: $uid, tenant: $tenant, name: $name, slug: $slug, domain: $domain, \
                       description: $description, keys_version: 0, created_at: time::now() };\
                   COMMIT TRANSACTION;";
        let vars = json!({ "tenant": scope.tenant(), "uid": uid, "name": new.name, "slug": new.slug,
                           "domain": new.domain, "description": new.description, "limit": limit,
                           "mark": SERVICE_LIMIT_MARK });
        match self.run(sql, vars).await {
            Ok(_) => {}
            Err(StoreError::Query(message)) if message.contains(SERVICE_LIMIT_MARK) => {
                let count = self.service_count(scope).await?;
                return Ok(Limited::Refused(LimitRefusal::Services(count)));
            }
            Err(StoreError::Duplicate(_)) => {
                return Err(StoreError::Conflict(format!(
                    "the slug `{}` is already taken",
                    new.slug
                )));
            }
            Err(error) => return Err(error),
        }
        self.service(scope, &uid)
            .await?
            .map(Limited::Created)
            .ok_or(StoreError::Decode("the created service is missing".into()))
    }

    /// How many (non-deleted) services the tenant has.
    pub async fn service_count(&self, scope: &TenantScope) -> Result<u64> {
        self.count(
            "SELECT count() FROM service WHERE tenant = $tenant AND deleted_at = NONE GROUP ALL;",
            json!({ "tenant": scope.tenant() }),
        )
        .await
    }

    /// The tenant's services, oldest first (deleted ones are gone).
    pub async fn services(&self, scope: &TenantScope) -> Result<Vec<Service>> {
        self.rows(
            "SELECT * FROM service WHERE tenant = $tenant AND deleted_at = NONE ORDER BY created_at, uid;",
            json!({ "tenant": scope.tenant() }),
        )
        .await
    }

    /// One of the tenant's services; `None` for another tenant's or a deleted one.
    pub async fn service(&self, scope: &TenantScope, uid: &ServiceId) -> Result<Option<Service>> {
        self.first(
            "SELECT * FROM service WHERE tenant = $tenant AND uid = $uid AND deleted_at = NONE LIMIT 1;",
            json!({ "tenant": scope.tenant(), "uid": uid }),
        )
        .await
    }

    /// Changes the given fields of one of the tenant's services; `None` when it is not the tenant's (or deleted).
    pub async fn update_service(
        &self,
        scope: &TenantScope,
        uid: &ServiceId,
        patch: &ServicePatch,
    ) -> Result<Option<Service>> {
        let sql = "UPDATE service SET name = $name ?? name, domain = $domain ?? domain, \
                   description = $description ?? description \
                   WHERE tenant = $tenant AND uid = $uid AND deleted_at = NONE RETURN AFTER;";
        let vars = json!({ "tenant": scope.tenant(), "uid": uid, "name": patch.name,
                           "domain": patch.domain, "description": patch.description });
        self.first(sql, vars).await
    }

    /// Deletes one of the tenant's services and revokes its keys, in one transaction. The record stays as a
    /// tombstone so that its slug is never reused. `false` when there was nothing to delete.
    pub async fn delete_service(&self, scope: &TenantScope, uid: &ServiceId) -> Result<bool> {
        let sql = "BEGIN TRANSACTION;\
                   LET $deleted = (UPDATE service SET deleted_at = time::now() \
                       WHERE tenant = $tenant AND uid = $uid AND deleted_at = NONE RETURN AFTER);\
                   IF array::len($deleted) = 0 { THROW $mark };\
                   UPDATE service_key SET revoked_at = time::now() \
                       WHERE service = $uid AND tenant = $tenant AND revoked_at = NONE;\
                   COMMIT TRANSACTION;";
        let vars = json!({ "tenant": scope.tenant(), "uid": uid, "mark": NO_SERVICE_MARK });
        match self.run(sql, vars).await {
            Ok(_) => Ok(true),
            Err(StoreError::Query(message)) if message.contains(NO_SERVICE_MARK) => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// Stores a new key of one of the tenant's services unless it already has `limit` active keys.
    /// [`StoreError::NotFound`] when the service is not the tenant's (or deleted).
    pub async fn create_service_key(
        &self,
        scope: &TenantScope,
        service: &ServiceId,
        name: &str,
        hash: &str,
        key_prefix: &str,
        limit: u64,
    ) -> Result<Limited<ServiceKey>> {
        let uid = ServiceKeyId::random();
        // Bumping the service's key counter serialises concurrent creates for one service (see the module doc).
        let sql = "BEGIN TRANSACTION;\
                   LET $service = (UPDATE service SET keys_version += 1 \
                       WHERE tenant = $tenant AND uid = $service_uid AND deleted_at = NONE RETURN AFTER);\
                   IF array::len($service) = 0 { THROW $no_service };\
                   LET $active = array::len((SELECT uid FROM service_key \
                       WHERE service = $service_uid AND revoked_at = NONE));\
                   IF $active >= $limit { THROW $key_limit };\
                   CREATE service_key CONTENT { uid: $uid, service: $service_uid, tenant: $tenant, name: $name, \
                       hash: $hash, key_prefix: $key_prefix, gateway: false, created_at: time::now() };\
                   COMMIT TRANSACTION;";
        let vars = json!({ "tenant": scope.tenant(), "service_uid": service, "uid": uid, "name": name,
                           "hash": hash, "key_prefix": key_prefix, "limit": limit,
                           "no_service": NO_SERVICE_MARK, "key_limit": KEY_LIMIT_MARK });
        match self.run(sql, vars).await {
            Ok(_) => {}
            Err(StoreError::Query(message)) if message.contains(NO_SERVICE_MARK) => {
                return Err(StoreError::NotFound("service"));
            }
            Err(StoreError::Query(message)) if message.contains(KEY_LIMIT_MARK) => {
                let active = self.service_keys(scope, service).await?;
                let active = active.iter().filter(|k| k.revoked_at.is_none()).count();
                return Ok(Limited::Refused(LimitRefusal::Keys(active as u64)));
            }
            Err(error) => return Err(error),
        }
        self.service_key(scope, service, &uid)
            .await?
            .map(Limited::Created)
            .ok_or(StoreError::Decode("the created key is missing".into()))
    }

    /// The keys of one of the tenant's services (revoked ones included), oldest first.
    pub async fn service_keys(
        &self,
        scope: &TenantScope,
        service: &ServiceId,
    ) -> Result<Vec<ServiceKey>> {
        self.rows(
            "SELECT * FROM service_key WHERE tenant = $tenant AND service = $service \
             ORDER BY created_at, uid;",
            json!({ "tenant": scope.tenant(), "service": service }),
        )
        .await
    }

    /// One key of one of the tenant's services.
    pub async fn service_key(
        &self,
        scope: &TenantScope,
        service: &ServiceId,
        uid: &ServiceKeyId,
    ) -> Result<Option<ServiceKey>> {
        self.first(
            "SELECT * FROM service_key WHERE tenant = $tenant AND service = $service AND uid = $uid LIMIT 1;",
            json!({ "tenant": scope.tenant(), "service": service, "uid": uid }),
        )
        .await
    }

    /// Revokes an active key of one of the tenant's services; it stops authenticating at once (keys are not
    /// cached). `None` when there is no such active key.
    pub async fn revoke_service_key(
        &self,
        scope: &TenantScope,
        service: &ServiceId,
        uid: &ServiceKeyId,
    ) -> Result<Option<ServiceKey>> {
        self.first(
            "UPDATE service_key SET revoked_at = time::now() \
             WHERE tenant = $tenant AND service = $service AND uid = $uid AND revoked_at = NONE RETURN AFTER;",
            json!({ "tenant": scope.tenant(), "service": service, "uid": uid }),
        )
        .await
    }

    /// Marks an active key of one of the tenant's services as a gateway's key. `None` when there is no such
    /// active key.
    pub async fn mark_service_key_gateway(
        &self,
        scope: &TenantScope,
        service: &ServiceId,
        uid: &ServiceKeyId,
    ) -> Result<Option<ServiceKey>> {
        self.first(
            "UPDATE service_key SET gateway = true \
             WHERE tenant = $tenant AND service = $service AND uid = $uid AND revoked_at = NONE RETURN AFTER;",
            json!({ "tenant": scope.tenant(), "service": service, "uid": uid }),
        )
        .await
    }

    /// The active key with this hash and its (non-deleted) service, whichever tenant owns them: the deliberate
    /// cross-tenant read that authenticates a service's `Bearer` key. The caller compares the hash again in
    /// constant time.
    pub async fn service_key_by_hash_any_tenant(
        &self,
        hash: &str,
    ) -> Result<Option<ServiceKeyRecord>> {
        let key: Option<ServiceKey> = self
            .first(
                "SELECT * FROM service_key WHERE hash = $hash AND revoked_at = NONE LIMIT 1;",
                json!({ "hash": hash }),
            )
            .await?;
        let Some(key) = key else { return Ok(None) };
        let slug: Option<Value> = self
            .first(
                "SELECT VALUE slug FROM service WHERE uid = $uid AND tenant = $tenant AND deleted_at = NONE LIMIT 1;",
                json!({ "uid": key.service, "tenant": key.tenant }),
            )
            .await?;
        Ok(match slug {
            Some(Value::String(service_slug)) => Some(ServiceKeyRecord { key, service_slug }),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn scope(tenant: &str) -> TenantScope {
        TenantScope::authenticated(TenantId::new(tenant))
    }

    async fn memory_store() -> Store {
        let mut config = Config::default();
        config.storage.url = Some("mem://".into());
        Store::open(&config).await.expect("open mem:// store")
    }

    fn new_service(slug: &str) -> NewService {
        NewService {
            name: format!("Service {slug}"),
            slug: slug.into(),
            domain: format!("{slug}.example"),
            description: String::new(),
        }
    }

    fn created<T: std::fmt::Debug>(outcome: Limited<T>) -> T {
        match outcome {
            Limited::Created(value) => value,
            Limited::Refused(refusal) => panic!("refused: {refusal:?}"),
        }
    }

    const ALL: Window = Window {
        offset: 0,
        limit: 100,
    };

    #[tokio::test]
    async fn namespaces_are_global_and_public() {
        let store = memory_store().await;
        let (a, b) = (scope("tenant-a"), scope("tenant-b"));
        let user = UserId::new("user-a");
        let created = store.create_namespace(&a, "acme", &user).await.unwrap();
        assert_eq!(
            (created.name.as_str(), created.tenant.as_str()),
            ("acme", "tenant-a")
        );
        assert_eq!(created.created_by, user);
        for tenant in [&a, &b] {
            let again = store.create_namespace(tenant, "acme", &user).await;
            assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
        }
        store.create_namespace(&a, "beta", &user).await.unwrap();
        let (mine, total) = store.namespaces(&a, ALL).await.unwrap();
        assert_eq!(total, 2);
        assert_eq!(
            mine.iter().map(|n| n.name.as_str()).collect::<Vec<_>>(),
            ["acme", "beta"]
        );
        assert_eq!(store.namespaces(&b, ALL).await.unwrap().1, 0);
        let found = store.namespace_any_tenant("acme").await.unwrap().unwrap();
        assert_eq!(found.tenant.as_str(), "tenant-a");
        assert!(
            store
                .namespace_any_tenant("nobody")
                .await
                .unwrap()
                .is_none()
        );
    }

    #[tokio::test]
    async fn services_are_scoped_limited_and_keep_their_slug() {
        let store = memory_store().await;
        let (a, b) = (scope("tenant-a"), scope("tenant-b"));
        let first = created(
            store
                .create_service(&a, &new_service("shop"), 2)
                .await
                .unwrap(),
        );
        // Slugs are global.
        let taken = store.create_service(&b, &new_service("shop"), 2).await;
        assert!(matches!(taken, Err(StoreError::Conflict(_))), "{taken:?}");
        created(
            store
                .create_service(&a, &new_service("shop-2"), 2)
                .await
                .unwrap(),
        );
        match store
            .create_service(&a, &new_service("shop-3"), 2)
            .await
            .unwrap()
        {
            Limited::Refused(LimitRefusal::Services(2)) => {}
            other => panic!("{other:?}"),
        }
        // Another tenant sees nothing of them.
        assert!(store.service(&b, &first.uid).await.unwrap().is_none());
        assert!(store.services(&b).await.unwrap().is_empty());
        let patch = ServicePatch {
            description: Some("new".into()),
            ..ServicePatch::default()
        };
        assert!(
            store
                .update_service(&b, &first.uid, &patch)
                .await
                .unwrap()
                .is_none()
        );
        assert!(!store.delete_service(&b, &first.uid).await.unwrap());
        let updated = store
            .update_service(&a, &first.uid, &patch)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (updated.name.as_str(), updated.description.as_str()),
            ("Service shop", "new")
        );
        // Deleting frees a place under the limit but not the slug.
        assert!(store.delete_service(&a, &first.uid).await.unwrap());
        assert!(!store.delete_service(&a, &first.uid).await.unwrap());
        assert!(store.service(&a, &first.uid).await.unwrap().is_none());
        assert_eq!(store.service_count(&a).await.unwrap(), 1);
        let reuse = store.create_service(&a, &new_service("shop"), 2).await;
        assert!(matches!(reuse, Err(StoreError::Conflict(_))), "{reuse:?}");
        created(
            store
                .create_service(&a, &new_service("shop-3"), 2)
                .await
                .unwrap(),
        );
    }

    #[tokio::test]
    async fn concurrent_creates_respect_the_service_limit() {
        let store = memory_store().await;
        let a = scope("tenant-a");
        let attempts = (0..6).map(|n| {
            let (store, a) = (store.clone(), a.clone());
            async move {
                store
                    .create_service(&a, &new_service(&format!("svc-{n}")), 3)
                    .await
            }
        });
        let outcomes = futures::future::join_all(attempts).await;
        let made = outcomes
            .iter()
            .filter(|o| matches!(o, Ok(Limited::Created(_))))
            .count();
        assert_eq!(made, 3, "{outcomes:?}");
        assert_eq!(store.service_count(&a).await.unwrap(), 3);
    }

    #[tokio::test]
    async fn concurrent_creates_respect_the_key_limit() {
        let store = memory_store().await;
        let a = scope("tenant-a");
        let service = created(
            store
                .create_service(&a, &new_service("shop"), 5)
                .await
                .unwrap(),
        );
        let attempts = (0..5).map(|n| {
            let (store, a, uid) = (store.clone(), a.clone(), service.uid.clone());
            async move {
                let hash = format!("{n:064x}");
                store
                    .create_service_key(&a, &uid, "k", &hash, "...0000", 2)
                    .await
            }
        });
        let outcomes = futures::future::join_all(attempts).await;
        let made = outcomes
            .iter()
            .filter(|o| matches!(o, Ok(Limited::Created(_))))
            .count();
        assert_eq!(made, 2, "{outcomes:?}");
        assert_eq!(store.service_keys(&a, &service.uid).await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn keys_are_limited_revocable_and_found_by_hash() {
        let store = memory_store().await;
        let (a, b) = (scope("tenant-a"), scope("tenant-b"));
        let service = created(
            store
                .create_service(&a, &new_service("shop"), 5)
                .await
                .unwrap(),
        );
        let key = |n: usize| (format!("{n:064x}"), format!("...{n:04}"));
        let (hash1, prefix1) = key(1);
        let first = created(
            store
                .create_service_key(&a, &service.uid, "one", &hash1, &prefix1, 2)
                .await
                .unwrap(),
        );
        assert!(!first.gateway && first.revoked_at.is_none());
        // Another tenant cannot add keys to the service.
        let (hash2, prefix2) = key(2);
        let foreign = store
            .create_service_key(&b, &service.uid, "x", &hash2, &prefix2, 2)
            .await;
        assert!(
            matches!(foreign, Err(StoreError::NotFound(_))),
            "{foreign:?}"
        );
        let second = created(
            store
                .create_service_key(&a, &service.uid, "two", &hash2, &prefix2, 2)
                .await
                .unwrap(),
        );
        let (hash3, prefix3) = key(3);
        match store
            .create_service_key(&a, &service.uid, "three", &hash3, &prefix3, 2)
            .await
            .unwrap()
        {
            Limited::Refused(LimitRefusal::Keys(2)) => {}
            other => panic!("{other:?}"),
        }
        let found = store
            .service_key_by_hash_any_tenant(&hash1)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (
                found.key.uid.as_str(),
                found.service_slug.as_str(),
                found.key.tenant.as_str()
            ),
            (first.uid.as_str(), "shop", "tenant-a")
        );
        assert!(
            store
                .revoke_service_key(&b, &service.uid, &first.uid)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            store
                .mark_service_key_gateway(&b, &service.uid, &first.uid)
                .await
                .unwrap()
                .is_none()
        );
        let marked = store
            .mark_service_key_gateway(&a, &service.uid, &second.uid)
            .await
            .unwrap()
            .unwrap();
        assert!(marked.gateway);
        let revoked = store
            .revoke_service_key(&a, &service.uid, &first.uid)
            .await
            .unwrap()
            .unwrap();
        assert!(revoked.revoked_at.is_some());
        assert!(
            store
                .revoke_service_key(&a, &service.uid, &first.uid)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            store
                .service_key_by_hash_any_tenant(&hash1)
                .await
                .unwrap()
                .is_none()
        );
        // A revoked key frees its place.
        created(
            store
                .create_service_key(&a, &service.uid, "three", &hash3, &prefix3, 2)
                .await
                .unwrap(),
        );
        assert_eq!(store.service_keys(&a, &service.uid).await.unwrap().len(), 3);
        assert!(
            store
                .service_keys(&b, &service.uid)
                .await
                .unwrap()
                .is_empty()
        );
        // Deleting the service revokes its keys.
        assert!(store.delete_service(&a, &service.uid).await.unwrap());
        assert!(
            store
                .service_key_by_hash_any_tenant(&hash2)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            store
                .service_key_by_hash_any_tenant(&hash3)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            store
                .service_keys(&a, &service.uid)
                .await
                .unwrap()
                .iter()
                .all(|k| k.revoked_at.is_some())
        );
    }
}
