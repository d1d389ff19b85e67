//! Timestamping records: stamps and their restamp chains, tenant TSA settings, the TSA failure log, and the local
//! TSA's key reference and certificate chain.

use serde::Deserialize;
use serde_json::json;

use surrealdb::types::Value as SurrealValue;

use super::{Result, Store, StoreError, Window};
use crate::ids::{StampId, TenantId, TenantScope};

/// A stored time-stamp: what was recorded, plus the id and creation time the store assigned.
#[derive(Debug, Clone, Deserialize)]
pub struct Stamp {
    /// Id (UUID).
    pub uid: StampId,
    /// The recorded stamp.
    #[serde(flatten)]
    pub record: NewStamp,
    /// RFC 3339.
    pub created_at: String,
}

/// What a stamp records.
#[derive(Debug, Clone, Deserialize)]
pub struct NewStamp {
    /// Owning tenant.
    pub tenant: TenantId,
    /// Lower-case hex of the stamped digest.
    pub hash_hex: String,
    /// OID of the digest's algorithm.
    pub hash_alg_oid: String,
    /// Token serial, decimal.
    pub serial: String,
    /// genTime, RFC 3339.
    pub gen_time: String,
    /// The TimeStampResp, base64.
    pub tsr: String,
    /// Provider slug.
    pub provider: String,
    /// Provider display name.
    pub tsa_name: String,
    /// Owner-chosen label.
    pub label: Option<String>,
    /// Made by a qualified TSA.
    pub qualified: bool,
    /// Policy OID of the token.
    pub policy_oid: String,
    /// The stamp this one restamps (archival chain).
    pub parent: Option<StampId>,
    /// End of the signer certificate's validity, RFC 3339.
    pub cert_not_after: Option<String>,
    /// Start of the signer certificate's validity, RFC 3339 (absent on stamps stored before schema 5).
    #[serde(default)]
    pub cert_not_before: Option<String>,
    /// How long the TSA took, in milliseconds.
    pub latency_ms: i64,
}

/// One logged TSA failure (stored snake_case, shown camelCase like the rest of the API).
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(rename_all(serialize = "camelCase"))]
pub struct Failure {
    /// Provider slug.
    pub provider: String,
    /// `network`, `timeout`, `http_status`, `parse` or `unknown`.
    pub error_class: String,
    /// HTTP status, for `http_status`.
    pub status_code: Option<i64>,
    /// What went wrong.
    pub message: String,
    /// Time spent.
    pub latency_ms: i64,
    /// When, RFC 3339.
    pub at: String,
}

/// Successes of one provider for one tenant.
#[derive(Debug, Clone, Deserialize)]
pub struct ProviderUsage {
    /// Provider slug.
    pub provider: String,
    /// Stamps made.
    pub count: u64,
    /// Mean latency of those stamps, in milliseconds.
    pub mean_latency_ms: Option<f64>,
}

/// The local TSA's durable state: which KMS key it signs with and its certificate chain.
#[derive(Debug, Clone, Deserialize)]
pub struct LocalTsaState {
    /// Key label in the KMS.
    pub key_label: String,
    /// Key URI in the KMS.
    pub key_uri: String,
    /// Key algorithm (`ecdsa-p256`, `rsa-2048`...).
    pub algorithm: String,
    /// PEM chain, TSA certificate first, root last.
    pub chain_pem: String,
}

const STAMP_FIELDS: &str = "uid, tenant, hash_hex, hash_alg_oid, serial, <string> gen_time AS gen_time, tsr, provider, \
     tsa_name, label, qualified, policy_oid, parent, <string> cert_not_after AS cert_not_after, \
     IF cert_not_before != NONE THEN <string> cert_not_before END AS cert_not_before, latency_ms, \
     <string> created_at AS created_at";

// Conditions of the hot lookups. They carry no ORDER BY on purpose: SurrealDB then serves them from the
// hash / parent / uid indexes; with `ORDER BY created_at` it walks the (tenant, created_at) index over every
// stamp of the tenant instead. The few rows per hash are sorted here. `tests.rs` checks the plans.
pub(super) const STAMPS_OF_HASH: &str = "hash_hex = $hash";
/// The tenant is checked on the rows, not in the query: with it in the query the planner prefers the
/// (tenant, created_at) index.
pub(super) const RESTAMPS_OF: &str = "parent = $parent_uid";
/// A stamp by its id; the tenant is checked on the row for the same reason.
pub(super) const STAMP_BY_UID: &str = "uid = $uid";

/// Sorts by creation, newest first (RFC 3339 strings of one format sort like their instants).
fn newest_first(mut stamps: Vec<Stamp>) -> Vec<Stamp> {
    stamps.sort_by(|a, b| {
        b.created_at
            .cmp(&a.created_at)
            .then_with(|| b.uid.cmp(&a.uid))
    });
    stamps
}

/// The record key of a stamp: `<tenant>:<hash>` for the tenant's first stamp of a digest, which makes "has this
/// tenant stamped this digest?" a point read; later (forced or restamp) stamps of the same digest get a random
/// suffix.
fn stamp_key(tenant: &str, hash_hex: &str, suffix: Option<&str>) -> String {
    match suffix {
        None => format!("{tenant}:{hash_hex}"),
        Some(suffix) => format!("{tenant}:{hash_hex}:{suffix}"),
    }
}

/// Formats an instant the way SurrealDB renders a datetime as a string, so a stamp reads the same whether it was
/// just written or read back.
fn rfc3339(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

fn parse_instant(field: &str, text: &str) -> Result<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|at| at.with_timezone(&chrono::Utc))
        .map_err(|e| StoreError::Decode(format!("{field} `{text}`: {e}")))
}

/// What to do when the digest's first-stamp key is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IfStamped {
    /// Store nothing and report [`StoreError::Conflict`]: the caller answers with the existing stamp.
    Conflict,
    /// Store an additional stamp of the digest (`force`, restamps).
    Add,
}

/// A stamp ready to be written: its record, typed for the schema.
pub(super) struct Pending {
    stamp: Stamp,
    if_stamped: IfStamped,
    done: tokio::sync::oneshot::Sender<Result<Stamp>>,
}

impl Pending {
    fn row(&self, key: &str) -> Result<SurrealValue> {
        use surrealdb::types::{Datetime, Object, RecordId};
        let s = &self.stamp.record;
        let datetime = |field: &str, text: &str| -> Result<Datetime> {
            Ok(Datetime::from(parse_instant(field, text)?))
        };
        let mut row = Object::new();
        row.insert("id", RecordId::new("stamp", key.to_string()));
        row.insert("uid", self.stamp.uid.to_string());
        row.insert("tenant", s.tenant.to_string());
        row.insert("dedupe_key", key.to_string());
        row.insert("hash_hex", s.hash_hex.clone());
        row.insert("hash_alg_oid", s.hash_alg_oid.clone());
        row.insert("serial", s.serial.clone());
        row.insert("gen_time", datetime("gen_time", &s.gen_time)?);
        row.insert("tsr", s.tsr.clone());
        row.insert("provider", s.provider.clone());
        row.insert("tsa_name", s.tsa_name.clone());
        if let Some(label) = &s.label {
            row.insert("label", label.clone());
        }
        row.insert("qualified", s.qualified);
        row.insert("policy_oid", s.policy_oid.clone());
        if let Some(parent) = &s.parent {
            row.insert("parent", parent.to_string());
        }
        if let Some(not_after) = &s.cert_not_after {
            row.insert("cert_not_after", datetime("cert_not_after", not_after)?);
        }
        if let Some(not_before) = &s.cert_not_before {
            row.insert("cert_not_before", datetime("cert_not_before", not_before)?);
        }
        row.insert("latency_ms", s.latency_ms);
        row.insert(
            "created_at",
            datetime("created_at", &self.stamp.created_at)?,
        );
        Ok(SurrealValue::Object(row))
    }
}

/// Stamps waiting for the writer, at most.
const WRITER_QUEUE: usize = 4096;
/// Stamps written by one statement, at most.
const WRITER_BATCH: usize = 128;

/// Starts the stamp writer: a group commit. Concurrent stamps queue there and one task writes whatever has
/// queued in one `INSERT` (one transaction, one synced commit), so the per-statement cost of SurrealDB is paid
/// once per batch instead of once per stamp. A stamp is acknowledged only after its batch committed.
pub(super) fn start_writer(store: &Store) -> super::GroupWriter<Pending> {
    super::GroupWriter::start(
        store,
        "stamp",
        WRITER_QUEUE,
        WRITER_BATCH,
        |store, batch| async move { store.write_batch(batch).await },
    )
}

impl super::GroupedWrite for Pending {
    fn fail(self, error: StoreError) {
        let _ = self.done.send(Err(error));
    }
}

impl Store {
    /// Records a stamp; it is durable when this returns. The uid and creation time are assigned here.
    pub async fn insert_stamp(&self, mut record: NewStamp, if_stamped: IfStamped) -> Result<Stamp> {
        // Times in SurrealDB's rendering, so the answer reads like the stamp read back later.
        record.gen_time = rfc3339(parse_instant("gen_time", &record.gen_time)?);
        if let Some(text) = &record.cert_not_after {
            record.cert_not_after = Some(rfc3339(parse_instant("cert_not_after", text)?));
        }
        if let Some(text) = &record.cert_not_before {
            record.cert_not_before = Some(rfc3339(parse_instant("cert_not_before", text)?));
        }
        let stamp = Stamp {
            uid: StampId::random(),
            record,
            created_at: rfc3339(chrono::Utc::now()),
        };
        let Some(writer) = &self.writer else {
            return Err(StoreError::Unavailable("the store is closing".into()));
        };
        writer
            .submit(|done| Pending {
                stamp,
                if_stamped,
                done,
            })
            .await
    }

    /// Writes one batch and answers each waiting stamp. Rows whose first-stamp key is taken are skipped by
    /// `INSERT IGNORE`; those that may add a stamp are written again under a fresh key.
    async fn write_batch(&self, batch: Vec<Pending>) {
        let mut waiting: Vec<(Pending, String)> = batch
            .into_iter()
            .map(|p| {
                let key = stamp_key(&p.stamp.record.tenant, &p.stamp.record.hash_hex, None);
                (p, key)
            })
            .collect();
        for _attempt in 0..3 {
            if waiting.is_empty() {
                return;
            }
            let mut rows = Vec::with_capacity(waiting.len());
            let mut valid = Vec::with_capacity(waiting.len());
            // A key twice in one batch: the second is answered as if the store had refused it.
            let mut keys = std::collections::HashSet::new();
            let mut repeated = Vec::new();
            for (pending, key) in waiting.drain(..) {
                if !keys.insert(key.clone()) {
                    repeated.push((pending, key));
                    continue;
                }
                match pending.row(&key) {
                    Ok(row) => {
                        rows.push(row);
                        valid.push((pending, key));
                    }
                    Err(error) => {
                        let _ = pending.done.send(Err(error));
                    }
                }
            }
            let mut vars = surrealdb::types::Object::new();
            vars.insert("rows", SurrealValue::Array(rows.into()));
            let written = self
                .run(
                    "INSERT IGNORE INTO stamp $rows RETURN dedupe_key;",
                    SurrealValue::Object(vars),
                )
                .await
                .and_then(|mut results| {
                    #[derive(Deserialize)]
                    struct Written {
                        dedupe_key: String,
                    }
                    let rows: Vec<Written> =
                        super::decode_rows(results.pop().unwrap_or(serde_json::Value::Null))?;
                    Ok(rows
                        .into_iter()
                        .map(|w| w.dedupe_key)
                        .collect::<std::collections::HashSet<_>>())
                });
            let written = match written {
                Ok(written) => written,
                Err(error) => {
                    for (pending, _) in valid.into_iter().chain(repeated) {
                        let _ = pending.done.send(Err(error.clone()));
                    }
                    return;
                }
            };
            let refused = repeated.into_iter().map(|(pending, _)| (pending, false));
            let answered = valid.into_iter().map(|(pending, key)| {
                let stored = written.contains(&key);
                (pending, stored)
            });
            for (pending, stored) in answered.chain(refused) {
                if stored {
                    let _ = pending.done.send(Ok(pending.stamp));
                } else if pending.if_stamped == IfStamped::Add {
                    let suffix = uuid::Uuid::new_v4().to_string();
                    let key = stamp_key(
                        &pending.stamp.record.tenant,
                        &pending.stamp.record.hash_hex,
                        Some(&suffix),
                    );
                    waiting.push((pending, key));
                } else {
                    let _ = pending.done.send(Err(StoreError::Conflict(
                        "the digest is already stamped".into(),
                    )));
                }
            }
        }
        for (pending, _) in waiting {
            let _ = pending
                .done
                .send(Err(StoreError::Conflict("no free stamp key; retry".into())));
        }
    }

    /// The tenant's first stamp of this digest: a point read of its record key.
    pub async fn first_stamp_of(
        &self,
        scope: &TenantScope,
        hash_hex: &str,
    ) -> Result<Option<Stamp>> {
        let sql = format!("SELECT {STAMP_FIELDS} FROM type::record('stamp', $key);");
        self.first(
            &sql,
            json!({ "key": stamp_key(scope.tenant(), hash_hex, None) }),
        )
        .await
    }

    /// One of the tenant's stamps.
    pub async fn stamp(&self, scope: &TenantScope, uid: &StampId) -> Result<Option<Stamp>> {
        let sql = format!("SELECT {STAMP_FIELDS} FROM stamp WHERE {STAMP_BY_UID};");
        let found: Option<Stamp> = self.first(&sql, json!({ "uid": uid })).await?;
        Ok(found.filter(|stamp| stamp.record.tenant == *scope.tenant()))
    }

    /// The stamps that restamp `parent`, oldest first.
    pub async fn restamps_of(&self, scope: &TenantScope, parent: &StampId) -> Result<Vec<Stamp>> {
        let sql = format!("SELECT {STAMP_FIELDS} FROM stamp WHERE {RESTAMPS_OF};");
        let rows: Vec<Stamp> = self.rows(&sql, json!({ "parent_uid": parent })).await?;
        let mut stamps = newest_first(
            rows.into_iter()
                .filter(|s| s.record.tenant == *scope.tenant())
                .collect(),
        );
        stamps.reverse();
        Ok(stamps)
    }

    /// A page of the tenant's stamps, newest first; `search` matches a label substring or a hash prefix.
    pub async fn stamps_page(
        &self,
        scope: &TenantScope,
        search: Option<&str>,
        window: Window,
    ) -> Result<(Vec<Stamp>, u64)> {
        let filter = "tenant = $tenant AND (!$search OR string::contains(string::lowercase(label ?? ''), $search) \
                      OR string::starts_with(hash_hex, $search))";
        let vars = json!({ "tenant": scope.tenant(), "search": search.map(str::to_lowercase),
                           "limit": window.limit, "start": window.offset });
        let total = self
            .count(
                &format!("SELECT count() FROM stamp WHERE {filter} GROUP ALL;"),
                vars.clone(),
            )
            .await?;
        let sql = format!(
            "SELECT {STAMP_FIELDS} FROM stamp WHERE {filter} ORDER BY created_at DESC, uid LIMIT $limit START $start;"
        );
        Ok((self.rows(&sql, vars).await?, total))
    }

    /// Sets a stamp's label (tenant-scoped).
    pub async fn set_stamp_label(
        &self,
        scope: &TenantScope,
        uid: &StampId,
        label: &str,
    ) -> Result<()> {
        let tenant = scope.tenant();
        let sql =
            "UPDATE stamp SET label = $label WHERE tenant = $tenant AND uid = $uid RETURN AFTER;";
        let updated: Vec<serde_json::Value> = self
            .rows(sql, json!({ "tenant": tenant, "uid": uid, "label": label }))
            .await?;
        if updated.is_empty() {
            Err(StoreError::NotFound("transaction"))
        } else {
            Ok(())
        }
    }

    /// The tenant's stamps of this digest, newest first (served by the hash index; the tenant is checked on the
    /// rows).
    pub async fn tenant_stamps_of(
        &self,
        scope: &TenantScope,
        hash_hex: &str,
    ) -> Result<Vec<Stamp>> {
        let sql = format!("SELECT {STAMP_FIELDS} FROM stamp WHERE {STAMPS_OF_HASH};");
        let rows: Vec<Stamp> = self.rows(&sql, json!({ "hash": hash_hex })).await?;
        Ok(newest_first(
            rows.into_iter()
                .filter(|stamp| stamp.record.tenant == *scope.tenant())
                .collect(),
        ))
    }

    /// Every tenant's stamps of this digest, newest first (the public lookup).
    pub async fn stamps_by_hash(&self, hash_hex: &str, limit: u64) -> Result<Vec<Stamp>> {
        let sql = format!("SELECT {STAMP_FIELDS} FROM stamp WHERE {STAMPS_OF_HASH};");
        let mut stamps = newest_first(self.rows(&sql, json!({ "hash": hash_hex })).await?);
        stamps.truncate(limit as usize);
        Ok(stamps)
    }

    /// How many stamps (or qualified stamps) the tenant made since `since` (RFC 3339).
    pub async fn count_stamps_since(
        &self,
        tenant: &TenantId,
        since: &str,
        qualified_only: bool,
    ) -> Result<u64> {
        let sql = "SELECT count() FROM stamp WHERE tenant = $tenant AND created_at >= <datetime> $since \
                   AND ($qualified = false OR qualified = true) GROUP ALL;";
        self.count(
            sql,
            json!({ "tenant": tenant, "since": since, "qualified": qualified_only }),
        )
        .await
    }

    /// Stamps per provider for the tenant, with mean latency.
    pub async fn provider_usage(&self, scope: &TenantScope) -> Result<Vec<ProviderUsage>> {
        let tenant = scope.tenant();
        let sql = "SELECT provider, count() AS count, math::mean(latency_ms) AS mean_latency_ms FROM stamp \
                   WHERE tenant = $tenant GROUP BY provider;";
        self.rows(sql, json!({ "tenant": tenant })).await
    }

    /// Logs a failed TSA attempt made for a tenant.
    pub async fn record_tsa_failure(&self, scope: &TenantScope, failure: &Failure) -> Result<()> {
        let tenant = scope.tenant();
        // Fields bound one by one: the struct serialises camelCase for the API, the table is snake_case.
        let sql = "CREATE tsa_failure CONTENT { tenant: $tenant, provider: $provider, error_class: $class, \
                   status_code: $status ?? NONE, message: $message, latency_ms: $latency, at: time::now() };";
        let vars = json!({ "tenant": tenant, "provider": failure.provider, "class": failure.error_class,
                           "status": failure.status_code, "message": failure.message, "latency": failure.latency_ms });
        self.run(sql, vars).await.map(|_| ())
    }

    /// The tenant's most recent TSA failures.
    pub async fn recent_tsa_failures(
        &self,
        scope: &TenantScope,
        limit: u64,
    ) -> Result<Vec<Failure>> {
        let tenant = scope.tenant();
        let sql = "SELECT provider, error_class, status_code, message, latency_ms, <string> at AS at FROM tsa_failure \
                   WHERE tenant = $tenant ORDER BY at DESC LIMIT $limit;";
        self.rows(sql, json!({ "tenant": tenant, "limit": limit }))
            .await
    }

    /// Failures per provider for the tenant.
    pub async fn failure_counts(&self, scope: &TenantScope) -> Result<Vec<(String, u64)>> {
        let tenant = scope.tenant();
        #[derive(Deserialize)]
        struct Row {
            provider: String,
            count: u64,
        }
        let sql = "SELECT provider, count() AS count FROM tsa_failure WHERE tenant = $tenant GROUP BY provider;";
        let rows: Vec<Row> = self.rows(sql, json!({ "tenant": tenant })).await?;
        Ok(rows.into_iter().map(|r| (r.provider, r.count)).collect())
    }

    /// The local TSA's state, if it was set up before.
    pub async fn local_tsa_state(&self) -> Result<Option<LocalTsaState>> {
        self.first("SELECT * FROM local_tsa:current;", json!({}))
            .await
    }

    /// Saves the local TSA's state (one record, shared by every node).
    pub async fn save_local_tsa_state(
        &self,
        state_key_label: &str,
        key_uri: &str,
        algorithm: &str,
        chain_pem: &str,
    ) -> Result<()> {
        let sql = "UPSERT local_tsa:current CONTENT { key_label: $label, key_uri: $uri, algorithm: $algorithm, \
                   chain_pem: $chain, created_at: time::now() };";
        let vars = json!({ "label": state_key_label, "uri": key_uri, "algorithm": algorithm, "chain": chain_pem });
        self.run(sql, vars).await.map(|_| ())
    }

    /// Records a root the local TSA uses as a permanent anchor for its tokens (kept if already there).
    pub async fn record_local_tsa_anchor(
        &self,
        sha256_hex: &str,
        pem: &str,
        subject: &str,
    ) -> Result<()> {
        let sql = "INSERT IGNORE INTO local_tsa_anchor { id: type::record('local_tsa_anchor', $id), pem: $pem, \
                   subject: $subject, first_used: time::now() };";
        let vars = json!({ "id": sha256_hex, "pem": pem, "subject": subject });
        self.run(sql, vars).await.map(|_| ())
    }

    /// Every root the local TSA has ever used (PEM), oldest first.
    pub async fn local_tsa_anchors(&self) -> Result<Vec<String>> {
        #[derive(Deserialize)]
        struct Row {
            pem: String,
        }
        let rows: Vec<Row> = self
            .rows(
                "SELECT pem, first_used FROM local_tsa_anchor ORDER BY first_used;",
                json!({}),
            )
            .await?;
        Ok(rows.into_iter().map(|row| row.pem).collect())
    }
}
