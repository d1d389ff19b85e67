//! Durable state in SurrealDB: opening the embedded or remote engine, the versioned schema and its forward
//! migrations, and typed operations for accounts, tenants, memberships and API keys. Nothing outside this module
//! writes SurrealQL.

mod quotas;
mod schema;
mod stamps;

use std::sync::Arc;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use surrealdb::Surreal;

use crate::config::{Config, StoreUrl};

pub use quotas::{QuotaLimits, QuotaRefusal, quota_key};
pub use schema::SCHEMA_VERSION;
pub use stamps::{
    Failure, IfStamped, LocalTsaState, NewStamp, ProviderUsage, PublicLookup, Stamp, TenantSettings,
};

/// Why a store operation failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The named thing does not exist (in the caller's scope).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A unique constraint or a state rule refused the write; the message is fit for clients.
    #[error("{0}")]
    Conflict(String),
    /// The store refused a duplicate (unique index, existing record or definition); the message is the store's
    /// own, for the log only. Typed operations turn the duplicates they expect into [`StoreError::Conflict`].
    #[error("duplicate: {0}")]
    Duplicate(String),
    /// The store cannot be reached or refused to open.
    #[error("{0}")]
    Unavailable(String),
    /// The on-disk schema is newer than this binary.
    #[error(
        "the store has schema version {found}, but this sigild only knows up to {known}; run a newer sigild"
    )]
    SchemaTooNew {
        /// Version in the store.
        found: i64,
        /// Newest version this binary knows.
        known: i64,
    },
    /// A query failed for another reason.
    #[error("store query failed: {0}")]
    Query(String),
    /// A row did not have the expected shape.
    #[error("unexpected row shape: {0}")]
    Decode(String),
}

type Result<T> = std::result::Result<T, StoreError>;

/// One open connection, embedded or remote.
enum Engine {
    /// The embedded engine, with its datastore kept so shutdown can close the storage engine cleanly.
    Local(
        Surreal<surrealdb::engine::local::Db>,
        Arc<surrealdb_engine_local::Datastore>,
    ),
    Remote(Surreal<surrealdb::engine::remote::ws::Client>),
}

/// The store handle. Cheap to clone; all clones share one connection.
#[derive(Clone)]
pub struct Store {
    engine: Arc<Engine>,
    description: Arc<str>,
    /// The group-commit writer of stamps (absent in the writer's own handle).
    writer: Option<stamps::StampWriter>,
    /// Verified API keys by hash, for the embedded engine only (see [`ApiKeyCache`]).
    api_keys: Option<Arc<ApiKeyCache>>,
}

/// API keys by hash, so that a request with a key does not cost a query. Only for the embedded engine: this
/// process is then the only writer of the store (`sigild admin` needs the daemon stopped), so revoking a key here
/// removes it here and revocation stays immediate. With a remote store other nodes could revoke a key unseen,
/// so every request asks the store.
///
/// Revocation is final: a fill takes a [`FillTicket`] (the revocation epoch) *before* it reads the store, and
/// the entry is kept only if no revocation happened since. A read that saw the key just before it was deleted
/// therefore cannot put it back after the revocation dropped it.
#[derive(Default)]
struct ApiKeyCache {
    inner: std::sync::Mutex<KeyCacheInner>,
}

#[derive(Default)]
struct KeyCacheInner {
    keys: std::collections::HashMap<String, ApiKey>,
    /// Bumped by every revocation, under the same lock as the map.
    revocations: u64,
}

/// The revocation epoch a cache fill started in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FillTicket(u64);

/// Keys cached at most; beyond that the cache starts over.
const API_KEY_CACHE_LIMIT: usize = 10_000;

impl ApiKeyCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, KeyCacheInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn get(&self, hash: &str) -> Option<ApiKey> {
        self.lock().keys.get(hash).cloned()
    }

    /// Taken before the store is read for a fill.
    fn ticket(&self) -> FillTicket {
        FillTicket(self.lock().revocations)
    }

    /// Caches a key read from the store, unless a revocation happened since `ticket` was taken (the read may
    /// predate it). Returns whether the key was cached.
    fn put(&self, ticket: FillTicket, key: &ApiKey) -> bool {
        let mut inner = self.lock();
        if inner.revocations != ticket.0 {
            return false;
        }
        if inner.keys.len() >= API_KEY_CACHE_LIMIT {
            inner.keys.clear();
        }
        inner.keys.insert(key.hash.clone(), key.clone());
        true
    }

    /// Drops every entry of this key (by id) and invalidates fills in progress. Call after the delete committed.
    fn forget(&self, uid: &str) {
        let mut inner = self.lock();
        inner.revocations += 1;
        inner.keys.retain(|_, key| key.uid != uid);
    }

    fn touched(&self, uid: &str, at: &str) {
        let mut inner = self.lock();
        for key in inner.keys.values_mut().filter(|key| key.uid == uid) {
            key.last_used_at = Some(at.to_string());
        }
    }
}

/// See [`Store::close_watch`].
pub struct CloseWatch(Option<std::sync::Weak<surrealdb_engine_local::Datastore>>);

impl CloseWatch {
    /// Waits (bounded) until the embedded engine has closed. Call it inside the runtime, after dropping every
    /// store handle.
    pub async fn closed(self, limit: std::time::Duration) -> bool {
        let Some(datastore) = self.0 else { return true };
        let started = std::time::Instant::now();
        while datastore.strong_count() > 0 {
            if started.elapsed() > limit {
                return false;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        true
    }
}

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

/// A user account. `Debug` leaves out the password hash.
#[derive(Clone, Deserialize)]
pub struct User {
    /// Stable id (UUID).
    pub uid: String,
    /// Lower-cased email, unique.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// Instance administrator (operator).
    pub is_admin: bool,
    /// The tenant a refreshed session is scoped to.
    pub current_tenant: Option<String>,
    /// RFC 3339.
    pub created_at: String,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("uid", &self.uid)
            .field("email", &self.email)
            .field("name", &self.name)
            .field("password_hash", &format_args!("<redacted>"))
            .field("is_admin", &self.is_admin)
            .field("current_tenant", &self.current_tenant)
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// A tenant (organisation).
#[derive(Debug, Clone, Deserialize)]
pub struct Tenant {
    /// Stable id (UUID).
    pub uid: String,
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
    pub user_id: String,
    /// User email.
    pub email: String,
    /// User name.
    pub name: String,
    /// Role in the tenant.
    pub role: Role,
    /// When they joined (RFC 3339).
    pub created_at: String,
}

/// An API key record. The secret itself is never stored, only its SHA-256.
#[derive(Debug, Clone, Deserialize)]
pub struct ApiKey {
    /// Stable id (UUID).
    pub uid: String,
    /// Owning tenant.
    pub tenant: String,
    /// Owner-chosen name.
    pub name: String,
    /// `live` or `test`.
    pub environment: String,
    /// The first characters of the key, for recognising it in lists.
    pub prefix: String,
    /// Hex SHA-256 of the full key.
    pub hash: String,
    /// User who created it.
    pub created_by: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339, absent when never used.
    pub last_used_at: Option<String>,
}

/// A signed-in session: a session JWT names it, and works only while it exists.
#[derive(Debug, Clone, Deserialize)]
pub struct Session {
    /// Session id (UUID), the JWT's `sid`.
    pub sid: String,
    /// The user.
    pub user: String,
    /// Login time (Unix seconds); the session's absolute lifetime counts from here.
    pub started_at: u64,
}

/// A window of a list and the total size of the list.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// Rows to skip.
    pub offset: u64,
    /// Rows to return.
    pub limit: u64,
}

#[derive(Deserialize)]
struct MembershipRow {
    tenant: String,
    user: String,
    role: Role,
    created_at: String,
}

#[derive(Deserialize)]
struct CountRow {
    count: u64,
}

impl Store {
    /// Opens the configured store and brings its schema up to date.
    pub async fn open(config: &Config) -> Result<Store> {
        let url = config.store_url();
        let engine = match &url {
            StoreUrl::SurrealKv(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| {
                    StoreError::Unavailable(format!("cannot create {}: {e}", dir.display()))
                })?;
                let path = format!("surrealkv://{}", dir.display());
                let (db, datastore) = open_embedded(&path, config).await?;
                Engine::Local(db, datastore)
            }
            StoreUrl::Memory => {
                let (db, datastore) = open_embedded("memory", config).await?;
                Engine::Local(db, datastore)
            }
            StoreUrl::Remote(address) => Engine::Remote(open_remote(address, config).await?),
        };
        let namespace = config.storage.namespace.clone();
        let database = config.storage.database.clone();
        let use_result = match &engine {
            Engine::Local(db, _) => db.use_ns(namespace).use_db(database).await,
            Engine::Remote(db) => db.use_ns(namespace).use_db(database).await,
        };
        use_result
            .map_err(|e| StoreError::Unavailable(format!("selecting namespace/database: {e}")))?;
        let api_keys = matches!(engine, Engine::Local(..)).then(Arc::default);
        let mut store = Store {
            engine: Arc::new(engine),
            description: url.describe().into(),
            writer: None,
            api_keys,
        };
        schema::migrate(&store).await?;
        store.writer = Some(stamps::StampWriter::start(&store));
        Ok(store)
    }

    /// A handle without the stamp writer, for the writer itself (which must not keep itself alive).
    fn without_writer(engine: Arc<Engine>, description: Arc<str>) -> Store {
        Store {
            engine,
            description,
            writer: None,
            api_keys: None,
        }
    }

    /// Where this store lives, safe for logs.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// Runs SurrealQL with bound variables and returns each statement's result as JSON.
    /// Every statement, read or write, goes through here: when SurrealDB reports an optimistic-transaction
    /// conflict ("can be retried"), the whole query is run again, up to [`WRITE_ATTEMPTS`] times with a jittered,
    /// exponentially growing pause, so concurrent writers in one tenant queue up instead of failing.
    async fn run<V: surrealdb::types::SurrealValue + Clone>(
        &self,
        sql: &str,
        vars: V,
    ) -> Result<Vec<Value>> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let response = match &*self.engine {
                Engine::Local(db, _) => db.query(sql).bind(vars.clone()).await,
                Engine::Remote(db) => db.query(sql).bind(vars.clone()).await,
            };
            let outcome = response.map_err(classify).and_then(|mut response| {
                let count = response.num_statements();
                let mut results = Vec::with_capacity(count);
                let mut failures: Vec<StoreError> = Vec::new();
                for index in 0..count {
                    match response.take::<surrealdb::types::Value>(index) {
                        Ok(value) => results.push(value.into_json_value()),
                        Err(error) => failures.push(classify(error)),
                    }
                }
                // In a failed transaction every statement reports an error; the cause is the one that is not
                // "not executed due to a failed transaction".
                let echo = |e: &StoreError| {
                    e.to_string()
                        .contains("not executed due to a failed transaction")
                };
                let cause = failures.iter().position(|e| !echo(e)).unwrap_or(0);
                let failure = (!failures.is_empty()).then(|| failures.swap_remove(cause));
                match failure {
                    Some(error) => Err(error),
                    None => Ok(results),
                }
            });
            match outcome {
                Err(StoreError::Query(message)) if is_retryable(&message) => {
                    if attempt >= WRITE_ATTEMPTS {
                        tracing::warn!(attempts = attempt, error = %message, "store write conflict persisted; giving up");
                        return Err(StoreError::Query(message));
                    }
                    tokio::time::sleep(retry_delay(attempt)).await;
                }
                other => return other,
            }
        }
    }

    /// Runs SurrealQL and decodes the rows of its last statement.
    async fn rows<T: DeserializeOwned>(&self, sql: &str, vars: Value) -> Result<Vec<T>> {
        let mut results = self.run(sql, vars).await?;
        let last = results.pop().unwrap_or(Value::Null);
        decode_rows(last)
    }

    async fn first<T: DeserializeOwned>(&self, sql: &str, vars: Value) -> Result<Option<T>> {
        Ok(self.rows(sql, vars).await?.into_iter().next())
    }

    async fn count(&self, sql: &str, vars: Value) -> Result<u64> {
        Ok(self
            .first::<CountRow>(sql, vars)
            .await?
            .map_or(0, |row| row.count))
    }

    /// A handle that tells when the embedded engine has closed, i.e. when the last store handle is gone and the
    /// engine's own shutdown (WAL flush and close) has run. Closing is left to the engine: closing it by hand
    /// as well makes its own shutdown fail noisily.
    pub fn close_watch(&self) -> CloseWatch {
        match &*self.engine {
            Engine::Local(_, datastore) => CloseWatch(Some(Arc::downgrade(datastore))),
            Engine::Remote(_) => CloseWatch(None),
        }
    }

    /// Proves the store answers.
    pub async fn ping(&self) -> Result<()> {
        self.run("RETURN 1;", json!({})).await.map(|_| ())
    }

    // ---- accounts -------------------------------------------------------------------------------------------

    /// Creates a user. A taken email is a conflict.
    pub async fn create_user(&self, email: &str, name: &str, password_hash: &str) -> Result<User> {
        let uid = uuid::Uuid::new_v4().to_string();
        let sql = "CREATE user CONTENT { uid: $uid, email: $email, name: $name, password_hash: $hash, \
                   is_admin: false, current_tenant: NONE, created_at: time::now() } RETURN AFTER;";
        let vars = json!({ "uid": uid, "email": email, "name": name, "hash": password_hash });
        match self.first::<User>(sql, vars).await {
            Err(StoreError::Duplicate(_)) => Err(StoreError::Conflict(format!(
                "an account for {email} already exists"
            ))),
            other => other?.ok_or(StoreError::Decode("CREATE user returned nothing".into())),
        }
    }

    /// Finds a user by (lower-cased) email.
    pub async fn user_by_email(&self, email: &str) -> Result<Option<User>> {
        self.first(
            "SELECT * FROM user WHERE email = $email LIMIT 1;",
            json!({ "email": email }),
        )
        .await
    }

    /// Finds a user by id.
    pub async fn user_by_id(&self, uid: &str) -> Result<Option<User>> {
        self.first(
            "SELECT * FROM user WHERE uid = $uid LIMIT 1;",
            json!({ "uid": uid }),
        )
        .await
    }

    /// Grants or withdraws instance administration.
    pub async fn set_admin(&self, email: &str, is_admin: bool) -> Result<User> {
        let sql = "UPDATE user SET is_admin = $admin WHERE email = $email RETURN AFTER;";
        self.first(sql, json!({ "email": email, "admin": is_admin }))
            .await?
            .ok_or(StoreError::NotFound("user"))
    }

    /// Scopes the user's next refreshed session to a tenant.
    pub async fn set_current_tenant(&self, user: &str, tenant: &str) -> Result<()> {
        let sql = "UPDATE user SET current_tenant = $tenant WHERE uid = $uid;";
        self.run(sql, json!({ "uid": user, "tenant": tenant }))
            .await
            .map(|_| ())
    }

    // ---- tenants and members --------------------------------------------------------------------------------

    /// Creates a tenant owned by `owner` and makes it the owner's current tenant, in one transaction.
    pub async fn create_tenant(&self, owner: &str, name: &str) -> Result<Tenant> {
        let uid = uuid::Uuid::new_v4().to_string();
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
    pub async fn tenant(&self, uid: &str) -> Result<Option<Tenant>> {
        self.first(
            "SELECT * FROM tenant WHERE uid = $uid LIMIT 1;",
            json!({ "uid": uid }),
        )
        .await
    }

    /// The user's role in the tenant, if they are a member.
    pub async fn role_of(&self, tenant: &str, user: &str) -> Result<Option<Role>> {
        let sql = "SELECT * FROM membership WHERE tenant = $tenant AND user = $user LIMIT 1;";
        let row: Option<MembershipRow> = self
            .first(sql, json!({ "tenant": tenant, "user": user }))
            .await?;
        Ok(row.map(|row| row.role))
    }

    /// The tenants the user belongs to, oldest first.
    pub async fn tenants_of(
        &self,
        user: &str,
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
    pub async fn add_member(&self, tenant: &str, user: &User, role: Role) -> Result<Member> {
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
    pub async fn members(&self, tenant: &str, window: Window) -> Result<(Vec<Member>, u64)> {
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
    pub async fn remove_member(&self, tenant: &str, user: &str) -> Result<()> {
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

    // ---- API keys -------------------------------------------------------------------------------------------

    /// Stores a new API key's hash and metadata.
    pub async fn create_api_key(
        &self,
        tenant: &str,
        name: &str,
        environment: &str,
        prefix: &str,
        hash: &str,
        created_by: &str,
    ) -> Result<ApiKey> {
        let uid = uuid::Uuid::new_v4().to_string();
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
    pub async fn api_keys(&self, tenant: &str, window: Window) -> Result<(Vec<ApiKey>, u64)> {
        let vars = json!({ "tenant": tenant, "limit": window.limit, "start": window.offset });
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
    pub async fn revoke_api_key(&self, tenant: &str, uid: &str) -> Result<()> {
        let sql = "DELETE api_key WHERE tenant = $tenant AND uid = $uid RETURN BEFORE;";
        let deleted = self
            .rows::<Value>(sql, json!({ "tenant": tenant, "uid": uid }))
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
        uid: &str,
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

    // ---- sessions ---------------------------------------------------------------------------------------------

    /// Starts a session for the user (at login or registration); returns its id. Sessions of this user whose
    /// absolute lifetime ended before `expired_before` (Unix seconds) are cleared on the way.
    pub async fn start_session(&self, user: &str, now: u64, expired_before: u64) -> Result<String> {
        let sid = uuid::Uuid::new_v4().to_string();
        let sql = "DELETE session WHERE user = $user AND started_at < $cutoff;\
                   CREATE session CONTENT { sid: $sid, user: $user, started_at: $now };";
        self.run(
            sql,
            json!({ "sid": sid, "user": user, "now": now, "cutoff": expired_before }),
        )
        .await?;
        Ok(sid)
    }

    /// The live session with this id, if it exists and its user still does.
    pub async fn session(&self, sid: &str) -> Result<Option<Session>> {
        // One round trip: the session, and its user if that still exists (a deleted account's sessions die).
        let sql = "SELECT * FROM session WHERE sid = $sid LIMIT 1;\
                   SELECT uid FROM user WHERE uid = (SELECT VALUE user FROM session WHERE sid = $sid LIMIT 1)[0] LIMIT 1;";
        let mut results = self.run(sql, json!({ "sid": sid })).await?;
        let users = decode_rows::<Value>(results.pop().unwrap_or(Value::Null))?;
        let sessions = decode_rows::<Session>(results.pop().unwrap_or(Value::Null))?;
        Ok(sessions.into_iter().next().filter(|_| !users.is_empty()))
    }

    /// Ends one session (logout). Ending a session that is already gone is not an error.
    pub async fn end_session(&self, sid: &str) -> Result<()> {
        self.run("DELETE session WHERE sid = $sid;", json!({ "sid": sid }))
            .await
            .map(|_| ())
    }

    /// Replaces the user's password hash and ends every session of the user in one transaction, then starts a
    /// new session (for the caller who changed it); returns its id.
    pub async fn change_password(
        &self,
        user: &str,
        password_hash: &str,
        now: u64,
    ) -> Result<String> {
        let sid = uuid::Uuid::new_v4().to_string();
        let sql = "BEGIN TRANSACTION;\
                   LET $changed = (UPDATE user SET password_hash = $hash WHERE uid = $user RETURN AFTER);\
                   IF array::len($changed) = 0 { THROW 'sigil:not_found' };\
                   DELETE session WHERE user = $user;\
                   CREATE session CONTENT { sid: $sid, user: $user, started_at: $now };\
                   COMMIT TRANSACTION;";
        match self
            .run(
                sql,
                json!({ "user": user, "hash": password_hash, "sid": sid, "now": now }),
            )
            .await
        {
            Ok(_) => Ok(sid),
            Err(StoreError::Query(message)) if message.contains("sigil:not_found") => {
                Err(StoreError::NotFound("user"))
            }
            Err(other) => Err(other),
        }
    }

    // ---- daemon secrets -------------------------------------------------------------------------------------

    /// The JWT signing secret: created once, on first start, and shared by every node of a cluster.
    pub async fn jwt_secret(&self) -> Result<Vec<u8>> {
        #[derive(Deserialize)]
        struct SecretRow {
            secret: String,
        }
        let candidate = hex::encode(rand::random::<[u8; 32]>());
        // INSERT IGNORE keeps the first secret when two nodes race at first start.
        let sql = "INSERT IGNORE INTO meta { id: meta:jwt, secret: $secret };\
                   SELECT secret FROM meta:jwt;";
        let row = self
            .first::<SecretRow>(sql, json!({ "secret": candidate }))
            .await?
            .ok_or(StoreError::Decode("meta:jwt missing".into()))?;
        hex::decode(row.secret).map_err(|e| StoreError::Decode(format!("meta:jwt secret: {e}")))
    }
}

/// Opens the embedded engine with explicit cache sizes; SurrealKV would otherwise size them from system memory
/// (half of RAM for the block cache). `sync=every` makes each commit durable before it is acknowledged.
async fn open_embedded(
    path: &str,
    config: &Config,
) -> Result<(
    Surreal<surrealdb::engine::local::Db>,
    Arc<surrealdb_engine_local::Datastore>,
)> {
    use surrealdb_engine_local::Datastore;
    let mib = 1024 * 1024;
    let settings = surrealdb_cnf::ConfigMap::empty()
        .with_key_value(
            "surrealkv_block_cache_capacity",
            (config.storage.cache_mib * mib).to_string(),
        )
        .with_key_value(
            "surrealkv_max_memtable_size",
            (config.storage.memtable_mib * mib).to_string(),
        );
    let path = if path.starts_with("surrealkv://") {
        format!("{path}?sync=every")
    } else {
        path.to_string()
    };
    let unavailable = |e: anyhow::Error| StoreError::Unavailable(format!("opening {path}: {e:#}"));
    // The engine must have its version key before maintenance tasks write anything (see surrealdb-engine-local).
    let datastore = Datastore::builder()
        .with_config(settings)
        .without_maintenance_tasks()
        .build_with_path(&path)
        .await
        .map_err(unavailable)?;
    datastore.check_version().await.map_err(unavailable)?;
    datastore.bootstrap().await.map_err(unavailable)?;
    datastore.start_maintenance_tasks();
    let db =
        Surreal::<surrealdb::engine::local::Db>::unstable_from_datastore(datastore.clone(), None)
            .await
            .map_err(|e| StoreError::Unavailable(format!("opening {path}: {e}")))?;
    Ok((db, datastore))
}

async fn open_remote(
    address: &str,
    config: &Config,
) -> Result<Surreal<surrealdb::engine::remote::ws::Client>> {
    use surrealdb::engine::remote::ws::{Ws, Wss};
    let unavailable =
        |e: surrealdb::Error| StoreError::Unavailable(format!("connecting to {address}: {e}"));
    let db = if let Some(host) = address.strip_prefix("wss://") {
        Surreal::new::<Wss>(host).await.map_err(unavailable)?
    } else {
        Surreal::new::<Ws>(address.trim_start_matches("ws://"))
            .await
            .map_err(unavailable)?
    };
    if let Some(username) = &config.storage.username {
        let password = match &config.storage.password_file {
            Some(file) => std::fs::read_to_string(file)
                .map_err(|e| {
                    StoreError::Unavailable(format!("reading storage.password_file: {e}"))
                })?
                .trim_end_matches(['\r', '\n'])
                .to_string(),
            None => {
                return Err(StoreError::Unavailable(
                    "storage.username is set but storage.password_file is not".into(),
                ));
            }
        };
        let credentials = surrealdb::opt::auth::Root {
            username: username.clone(),
            password,
        };
        db.signin(credentials).await.map_err(unavailable)?;
    }
    Ok(db)
}

/// Turns a SurrealDB error into a matchable kind.
fn classify(error: surrealdb::Error) -> StoreError {
    let message = error.to_string();
    if message.contains("already contains") || message.contains("already exists") {
        StoreError::Duplicate(message)
    } else {
        StoreError::Query(message)
    }
}

/// Attempts of one query that keeps hitting write conflicts. With [`retry_delay`] the last attempt starts about
/// 2.5 s after the first, enough for dozens of writers contending for one record.
const WRITE_ATTEMPTS: u32 = 16;

/// The pause before attempt `attempt + 1`: exponential from 2 ms, capped at 200 ms, with full jitter in the upper
/// half so that writers that conflicted together do not retry together.
fn retry_delay(attempt: u32) -> std::time::Duration {
    let ceiling = (2u64 << attempt.min(10)).min(200);
    let millis = rand::Rng::gen_range(&mut rand::thread_rng(), ceiling / 2..=ceiling);
    std::time::Duration::from_millis(millis)
}

fn is_retryable(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    lower.contains("conflict") || lower.contains("can be retried")
}

fn decode_rows<T: DeserializeOwned>(value: Value) -> Result<Vec<T>> {
    let rows = match value {
        Value::Null => return Ok(Vec::new()),
        Value::Array(rows) => rows,
        single => vec![single],
    };
    rows.into_iter()
        .map(|row| {
            serde_json::from_value(row.clone())
                .map_err(|e| StoreError::Decode(format!("{e}: {row}")))
        })
        .collect()
}

#[cfg(test)]
mod tests;
