//! Timestamping records: stamps and their restamp chains, tenant TSA settings, the TSA failure log, and the local
//! TSA's key reference and certificate chain.

use serde::Deserialize;
use serde_json::json;

use super::{Result, Store, StoreError, Window};

/// A stored time-stamp.
#[derive(Debug, Clone, Deserialize)]
pub struct Stamp {
    /// Id (UUID).
    pub uid: String,
    /// Owning tenant.
    pub tenant: String,
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
    pub parent: Option<String>,
    /// End of the signer certificate's validity, RFC 3339.
    pub cert_not_after: Option<String>,
    /// How long the TSA took, in milliseconds.
    pub latency_ms: i64,
    /// RFC 3339.
    pub created_at: String,
}

/// What a new stamp records.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NewStamp {
    /// Owning tenant.
    pub tenant: String,
    /// Lower-case hex digest.
    pub hash_hex: String,
    /// Digest algorithm OID.
    pub hash_alg_oid: String,
    /// Serial, decimal.
    pub serial: String,
    /// genTime, RFC 3339.
    pub gen_time: String,
    /// TimeStampResp, base64.
    pub tsr: String,
    /// Provider slug.
    pub provider: String,
    /// Provider name.
    pub tsa_name: String,
    /// Label.
    pub label: Option<String>,
    /// Qualified.
    pub qualified: bool,
    /// Policy OID.
    pub policy_oid: String,
    /// Parent stamp, for restamps.
    pub parent: Option<String>,
    /// Signer certificate notAfter, RFC 3339.
    pub cert_not_after: Option<String>,
    /// TSA latency.
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
     tsa_name, label, qualified, policy_oid, parent, <string> cert_not_after AS cert_not_after, latency_ms, \
     <string> created_at AS created_at";

// Conditions of the hot lookups. They carry no ORDER BY on purpose: SurrealDB then serves them from the
// (tenant, hash) / hash / parent indexes; with `ORDER BY created_at` it walks the (tenant, created_at) index
// over every stamp of the tenant instead. The few rows per hash are sorted here. `tests.rs` checks the plans.
pub(super) const STAMPS_OF_HASH_IN_TENANT: &str = "tenant = $tenant AND hash_hex = $hash";
pub(super) const STAMPS_OF_HASH: &str = "hash_hex = $hash";
/// The tenant is checked on the rows, not in the query: with it in the query the planner prefers the
/// (tenant, created_at) index.
pub(super) const RESTAMPS_OF: &str = "parent = $parent_uid";

/// Sorts by creation, newest first (RFC 3339 strings of one format sort like their instants).
fn newest_first(mut stamps: Vec<Stamp>) -> Vec<Stamp> {
    stamps.sort_by(|a, b| {
        b.created_at
            .cmp(&a.created_at)
            .then_with(|| b.uid.cmp(&a.uid))
    });
    stamps
}

impl Store {
    /// Records a stamp. `dedupe_key` is unique: a second non-forced stamp of the same hash by the same tenant is a
    /// conflict (the caller then answers with the first).
    pub async fn insert_stamp(&self, stamp: &NewStamp, dedupe_key: &str) -> Result<Stamp> {
        let uid = uuid::Uuid::new_v4().to_string();
        let sql = format!(
            "CREATE stamp CONTENT {{ uid: $uid, tenant: $s.tenant, dedupe_key: $dedupe, hash_hex: $s.hash_hex, \
             hash_alg_oid: $s.hash_alg_oid, serial: $s.serial, gen_time: <datetime> $s.gen_time, tsr: $s.tsr, \
             provider: $s.provider, tsa_name: $s.tsa_name, label: $s.label ?? NONE, qualified: $s.qualified, \
             policy_oid: $s.policy_oid, parent: $s.parent ?? NONE, \
             cert_not_after: IF $s.cert_not_after THEN <datetime> $s.cert_not_after ELSE NONE END, \
             latency_ms: $s.latency_ms, created_at: time::now() }} RETURN {STAMP_FIELDS};"
        );
        let vars = json!({ "uid": uid, "dedupe": dedupe_key, "s": stamp });
        self.first(&sql, vars)
            .await?
            .ok_or(StoreError::Decode("stamp missing after create".into()))
    }

    /// The tenant's most recent stamp of this digest.
    pub async fn latest_stamp_of(&self, tenant: &str, hash_hex: &str) -> Result<Option<Stamp>> {
        let sql = format!("SELECT {STAMP_FIELDS} FROM stamp WHERE {STAMPS_OF_HASH_IN_TENANT};");
        let stamps: Vec<Stamp> = self
            .rows(&sql, json!({ "tenant": tenant, "hash": hash_hex }))
            .await?;
        Ok(newest_first(stamps).into_iter().next())
    }

    /// One of the tenant's stamps.
    pub async fn stamp(&self, tenant: &str, uid: &str) -> Result<Option<Stamp>> {
        let sql = format!(
            "SELECT {STAMP_FIELDS} FROM stamp WHERE tenant = $tenant AND uid = $uid LIMIT 1;"
        );
        self.first(&sql, json!({ "tenant": tenant, "uid": uid }))
            .await
    }

    /// The stamps that restamp `parent`, oldest first.
    pub async fn restamps_of(&self, tenant: &str, parent: &str) -> Result<Vec<Stamp>> {
        let sql = format!("SELECT {STAMP_FIELDS} FROM stamp WHERE {RESTAMPS_OF};");
        let rows: Vec<Stamp> = self.rows(&sql, json!({ "parent_uid": parent })).await?;
        let mut stamps = newest_first(rows.into_iter().filter(|s| s.tenant == tenant).collect());
        stamps.reverse();
        Ok(stamps)
    }

    /// A page of the tenant's stamps, newest first; `search` matches a label substring or a hash prefix.
    pub async fn stamps_page(
        &self,
        tenant: &str,
        search: Option<&str>,
        window: Window,
    ) -> Result<(Vec<Stamp>, u64)> {
        let filter = "tenant = $tenant AND (!$search OR string::contains(string::lowercase(label ?? ''), $search) \
                      OR string::starts_with(hash_hex, $search))";
        let vars = json!({ "tenant": tenant, "search": search.map(str::to_lowercase),
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
    pub async fn set_stamp_label(&self, tenant: &str, uid: &str, label: &str) -> Result<()> {
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
        tenant: &str,
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
    pub async fn provider_usage(&self, tenant: &str) -> Result<Vec<ProviderUsage>> {
        let sql = "SELECT provider, count() AS count, math::mean(latency_ms) AS mean_latency_ms FROM stamp \
                   WHERE tenant = $tenant GROUP BY provider;";
        self.rows(sql, json!({ "tenant": tenant })).await
    }

    /// The tenant's allowlist of TSA slugs (empty: every active provider).
    pub async fn enabled_tsa_slugs(&self, tenant: &str) -> Result<Vec<String>> {
        #[derive(Deserialize)]
        struct Row {
            enabled_tsa_slugs: Vec<String>,
        }
        let sql = "SELECT enabled_tsa_slugs FROM tenant_settings WHERE tenant = $tenant LIMIT 1;";
        Ok(self
            .first::<Row>(sql, json!({ "tenant": tenant }))
            .await?
            .map(|r| r.enabled_tsa_slugs)
            .unwrap_or_default())
    }

    /// Replaces the tenant's allowlist.
    pub async fn set_enabled_tsa_slugs(&self, tenant: &str, slugs: &[String]) -> Result<()> {
        let sql = "BEGIN TRANSACTION;\
                   DELETE tenant_settings WHERE tenant = $tenant;\
                   CREATE tenant_settings CONTENT { tenant: $tenant, enabled_tsa_slugs: $slugs, updated_at: time::now() };\
                   COMMIT TRANSACTION;";
        self.run(sql, json!({ "tenant": tenant, "slugs": slugs }))
            .await
            .map(|_| ())
    }

    /// Logs a failed TSA attempt made for a tenant.
    pub async fn record_tsa_failure(&self, tenant: &str, failure: &Failure) -> Result<()> {
        // Fields bound one by one: the struct serialises camelCase for the API, the table is snake_case.
        let sql = "CREATE tsa_failure CONTENT { tenant: $tenant, provider: $provider, error_class: $class, \
                   status_code: $status ?? NONE, message: $message, latency_ms: $latency, at: time::now() };";
        let vars = json!({ "tenant": tenant, "provider": failure.provider, "class": failure.error_class,
                           "status": failure.status_code, "message": failure.message, "latency": failure.latency_ms });
        self.run(sql, vars).await.map(|_| ())
    }

    /// The tenant's most recent TSA failures.
    pub async fn recent_tsa_failures(&self, tenant: &str, limit: u64) -> Result<Vec<Failure>> {
        let sql = "SELECT provider, error_class, status_code, message, latency_ms, <string> at AS at FROM tsa_failure \
                   WHERE tenant = $tenant ORDER BY at DESC LIMIT $limit;";
        self.rows(sql, json!({ "tenant": tenant, "limit": limit }))
            .await
    }

    /// Failures per provider for the tenant.
    pub async fn failure_counts(&self, tenant: &str) -> Result<Vec<(String, u64)>> {
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
}
