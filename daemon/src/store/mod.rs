//! Durable state in SurrealDB. This file opens the embedded or remote engine and holds the one query runner
//! (bound variables only, retries of write conflicts, error classification); each aggregate has its module:
//! `accounts` (users, sessions), `tenancy` (tenants, members), `api_keys` (with `key_cache`), `stamps`,
//! `quotas`, `settings`, `meta` (daemon secrets), `approvals` (approval requests, their audit trail, leases and
//! nonces), `directory` (the Sigilum surface's namespaces, services and service keys), `outbox` (webhook
//! endpoints, events, deliveries), and `schema` (migrations). Nothing outside this module writes SurrealQL.

mod accounts;
mod api_keys;
mod approvals;
mod devices;
mod directory;
mod issuers;
mod key_cache;
mod meta;
mod outbox;
mod quotas;
mod schema;
mod seals;
mod settings;
mod stamps;
mod tenancy;

use std::sync::Arc;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use surrealdb::Surreal;

use crate::config::{Config, StoreUrl};

pub use accounts::{Session, User};
pub use api_keys::ApiKey;
pub use approvals::{
    Approval, ApprovalState, Companions, DecidedBy, LiveApproval, NewApproval, RealmCounts,
    RealmGuard, Submitted, now_ms,
};
pub use devices::{Device, NewDevice};
pub use directory::{
    LimitRefusal, Limited, Namespace, NewService, Service, ServiceKey, ServiceKeyRecord,
    ServicePatch,
};
pub use issuers::{Issuer, IssuerChange, NewIssuer};
use key_cache::ApiKeyCache;
pub use outbox::{
    AttemptOutcome, EndpointCreation, NewOutboxEvent, NewWebhookEndpoint, OutboxEvent,
    WebhookAttempt, WebhookDelivery, WebhookEndpoint, delivery_id,
};
pub use quotas::{QuotaLimits, QuotaPeriod, QuotaRefusal};
pub use schema::SCHEMA_VERSION;
pub use seals::{
    Activation, DueKeyDeletion, NewSealCertificate, PlatformSealState, SealCertificate,
    SealOperation,
};
pub use settings::{PublicLookup, TenantSettings};
pub use stamps::{Failure, IfStamped, LocalTsaState, NewStamp, ProviderUsage, Stamp};
pub use tenancy::{Member, Role, Tenant, TenantMembership};

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
    writer: Option<GroupWriter<stamps::Pending>>,
    /// The group-commit writer of replay nonces (absent in the writers' own handles).
    nonces: Option<GroupWriter<approvals::PendingNonce>>,
    /// The group-commit writer of seal operations (absent in the writers' own handles).
    operations: Option<GroupWriter<seals::PendingOperation>>,
    /// Verified API keys by hash, for the embedded engine only (see [`ApiKeyCache`]).
    api_keys: Option<Arc<ApiKeyCache>>,
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

/// A window of a list and the total size of the list.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// Rows to skip.
    pub offset: u64,
    /// Rows to return.
    pub limit: u64,
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
            nonces: None,
            operations: None,
            api_keys,
        };
        schema::migrate(&store).await?;
        store.writer = Some(stamps::start_writer(&store));
        store.nonces = Some(approvals::start_nonce_writer(&store));
        store.operations = Some(seals::start_operation_writer(&store));
        Ok(store)
    }

    /// A handle without the group-commit writers, for the writers themselves (which must not keep themselves
    /// alive).
    fn without_writer(engine: Arc<Engine>, description: Arc<str>) -> Store {
        Store {
            engine,
            description,
            writer: None,
            nonces: None,
            operations: None,
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

    /// Rows of a query without variables, for tests of other modules that check what was written.
    #[cfg(test)]
    pub(crate) async fn rows_for_tests<T: DeserializeOwned>(&self, sql: &str) -> Vec<T> {
        self.rows(sql, json!({})).await.expect("test query")
    }

    /// Proves the store answers.
    pub async fn ping(&self) -> Result<()> {
        self.run("RETURN 1;", json!({})).await.map(|_| ())
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

/// An object without its `null` members: optional fields are absent (`NONE`) in the store rather than `NULL`.
fn strip_nulls(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            Value::Object(map.into_iter().filter(|(_, v)| !v.is_null()).collect())
        }
        other => other,
    }
}

/// A write waiting for a group-commit writer: it can be told that the store closed before it was written.
trait GroupedWrite: Send + 'static {
    /// Answers the waiter with `error`.
    fn fail(self, error: StoreError);
}

/// How long a group-commit writer waits for the rest of a batch it expects (see [`gather`]).
const GATHER_WAIT: std::time::Duration = std::time::Duration::from_millis(1);

/// Waits up to [`GATHER_WAIT`] until `pending` holds `expected` writes (or the queue closes). Writers answered
/// by one commit come back at slightly different times (each request has its own work before it writes again);
/// without this the first to come back is committed alone and the others wait for that synced commit, so one
/// round of writers costs two commits instead of one. After a smaller batch less is expected, so a load that
/// falls off costs at most one wait.
async fn gather<P>(
    receiver: &mut tokio::sync::mpsc::Receiver<P>,
    pending: &mut Vec<P>,
    expected: usize,
    batch: usize,
) {
    let deadline = tokio::time::Instant::now() + GATHER_WAIT;
    while pending.len() < expected {
        let room = batch - pending.len();
        match tokio::time::timeout_at(deadline, receiver.recv_many(pending, room)).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

/// The queue of a group-commit writer (the stamp, nonce and seal operation writers): cheap to clone, one task
/// behind it (see [`start_group_writer`]).
struct GroupWriter<P> {
    queue: tokio::sync::mpsc::Sender<P>,
    /// What the writer writes, for the error when it has stopped ("stamp", "nonce", …).
    name: &'static str,
}

impl<P> Clone for GroupWriter<P> {
    fn clone(&self) -> Self {
        GroupWriter {
            queue: self.queue.clone(),
            name: self.name,
        }
    }
}

impl<P: GroupedWrite> GroupWriter<P> {
    /// Starts the writer task for `store` (at most `queue` writes waiting, `batch` per statement); `write` commits
    /// one batch and answers each of its writes. The task holds the store weakly and ends with its last handle.
    fn start<F, Fut>(
        store: &Store,
        name: &'static str,
        queue: usize,
        batch: usize,
        write: F,
    ) -> Self
    where
        F: Fn(Store, Vec<P>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send,
    {
        GroupWriter {
            queue: start_group_writer(store, queue, batch, write),
            name,
        }
    }

    /// Queues the write that `make` builds around its answer channel, and waits for the answer, which comes after
    /// the write's batch committed.
    async fn submit<T>(
        &self,
        make: impl FnOnce(tokio::sync::oneshot::Sender<Result<T>>) -> P,
    ) -> Result<T> {
        let (done, answer) = tokio::sync::oneshot::channel();
        let stopped = || StoreError::Unavailable(format!("the {} writer stopped", self.name));
        self.queue.send(make(done)).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// Starts a group-commit task (the stamp, nonce and seal operation writers): concurrent writes queue (at most `queue`), and one
/// task hands whatever has queued (at most `batch`, gathered as [`gather`] says) to `write`, which commits it as
/// one statement and answers each waiter after the commit. The task holds the store weakly and ends with its
/// last handle.
fn start_group_writer<P, F, Fut>(
    store: &Store,
    queue: usize,
    batch: usize,
    write: F,
) -> tokio::sync::mpsc::Sender<P>
where
    P: GroupedWrite,
    F: Fn(Store, Vec<P>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<P>(queue);
    let engine = Arc::downgrade(&store.engine);
    let description = store.description.clone();
    tokio::spawn(async move {
        let mut pending = Vec::with_capacity(batch);
        // The size of the last batch: as many writers are probably on their way again.
        let mut expected = 1;
        while receiver.recv_many(&mut pending, batch).await > 0 {
            gather(&mut receiver, &mut pending, expected.min(batch), batch).await;
            expected = pending.len();
            let Some(engine) = engine.upgrade() else {
                for waiter in pending.drain(..) {
                    waiter.fail(StoreError::Unavailable("the store is closed".into()));
                }
                break;
            };
            write(
                Store::without_writer(engine, description.clone()),
                std::mem::take(&mut pending),
            )
            .await;
        }
    });
    sender
}
