//! Document seals: a tenant's seal certificates (KMS key, CSR, activated chain), its seal operations, the KMS
//! keys waiting out their deletion grace period, and the platform seal key and chain.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Result, Store, StoreError, Window};
use crate::ids::{SealCertificateId, SealOperationId, TenantId, TenantScope};

/// A tenant's seal certificate.
#[derive(Debug, Clone, Deserialize)]
pub struct SealCertificate {
    /// Stable id (UUID).
    pub uid: SealCertificateId,
    /// Owning tenant.
    pub tenant: TenantId,
    /// Owner-chosen label (the common name when none was given).
    pub label: String,
    /// `provisioning`, `active` or `revoked`.
    pub status: String,
    /// `rsa-4096`, `rsa-3072` or `ecdsa-p256`.
    pub key_algorithm: String,
    /// The KMS plugin instance holding the key.
    pub kms: String,
    /// The key's URI in that instance.
    pub key_uri: String,
    /// The PKCS#10 request, PEM.
    pub csr_pem: String,
    /// The activated chain, PEM, leaf first.
    pub chain_pem: Option<String>,
    /// The leaf's subject once active.
    pub cert_subject: Option<String>,
    /// The leaf's notBefore, RFC 3339.
    pub cert_not_before: Option<String>,
    /// The leaf's notAfter, RFC 3339.
    pub cert_not_after: Option<String>,
    /// RFC 3339.
    pub created_at: String,
}

/// A certificate to record as provisioning.
#[derive(Debug, Clone, Serialize)]
pub struct NewSealCertificate {
    /// Its id, chosen before the KMS key (whose label carries it).
    pub uid: SealCertificateId,
    /// Label.
    pub label: String,
    /// Key algorithm.
    pub key_algorithm: String,
    /// KMS instance.
    pub kms: String,
    /// Key URI.
    pub key_uri: String,
    /// CSR, PEM.
    pub csr_pem: String,
}

/// The activated chain of a certificate.
#[derive(Debug, Clone)]
pub struct Activation {
    /// The chain, PEM, leaf first.
    pub chain_pem: String,
    /// The leaf's subject.
    pub subject: String,
    /// notBefore, RFC 3339.
    pub not_before: String,
    /// notAfter, RFC 3339.
    pub not_after: String,
}

/// A seal operation as recorded.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct SealOperation {
    /// Stable id (UUID).
    pub uid: SealOperationId,
    /// The uploaded file's name, if given.
    pub file_name: Option<String>,
    /// Size in bytes (0 for hash-only seals).
    pub size: i64,
    /// SHA-256 of the sealed content, lower-case hex (the digest given, for hash-only seals).
    pub document_hash: String,
    /// `cades`, `pades` or `jades`.
    pub format: String,
    /// `B-B` or `B-T`.
    pub level: String,
    /// The certificate used (the platform certificate's id is `platform`).
    pub certificate_id: String,
    /// Its label at sealing time.
    pub cert_label: String,
    /// The TSA that stamped the signature, if any.
    pub tsa_name: Option<String>,
    /// The caller's label.
    pub label: Option<String>,
    /// The `.p7s`, base64, when the tenant keeps CAdES seals.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p7s: Option<String>,
    /// RFC 3339.
    #[serde(skip_serializing)]
    pub created_at: String,
}

/// The platform seal key and chain, one per store.
#[derive(Debug, Clone, Deserialize)]
pub struct PlatformSealState {
    /// The key's URI.
    pub key_uri: String,
    /// Its algorithm.
    pub algorithm: String,
    /// The chain, PEM: platform certificate, then the platform root.
    pub chain_pem: String,
}

/// A KMS key whose deletion grace period has ended.
#[derive(Debug, Clone, Deserialize)]
pub struct DueKeyDeletion {
    /// Its id, to mark it done.
    pub uid: String,
    /// KMS instance.
    pub kms: String,
    /// Key URI.
    pub key_uri: String,
}

impl Store {
    /// Records a provisioning certificate.
    pub async fn create_seal_certificate(
        &self,
        scope: &TenantScope,
        new: &NewSealCertificate,
    ) -> Result<SealCertificate> {
        let sql = "CREATE seal_certificate CONTENT { uid: $uid, tenant: $tenant, label: $label, \
                   status: 'provisioning', key_algorithm: $key_algorithm, kms: $kms, key_uri: $key_uri, \
                   csr_pem: $csr_pem, chain_pem: NONE, cert_subject: NONE, cert_not_before: NONE, \
                   cert_not_after: NONE, created_at: time::now() } RETURN AFTER;";
        let vars = json!({ "uid": new.uid, "tenant": scope.tenant(), "label": new.label,
                           "key_algorithm": new.key_algorithm, "kms": new.kms, "key_uri": new.key_uri,
                           "csr_pem": new.csr_pem });
        self.first(sql, vars).await?.ok_or(StoreError::Decode(
            "CREATE seal_certificate returned nothing".into(),
        ))
    }

    /// One of the tenant's certificates.
    pub async fn seal_certificate(
        &self,
        scope: &TenantScope,
        uid: &SealCertificateId,
    ) -> Result<Option<SealCertificate>> {
        self.first(
            "SELECT * FROM seal_certificate WHERE tenant = $tenant AND uid = $uid LIMIT 1;",
            json!({ "tenant": scope.tenant(), "uid": uid }),
        )
        .await
    }

    /// The tenant's certificates, newest first (revoked ones included).
    pub async fn seal_certificates(&self, scope: &TenantScope) -> Result<Vec<SealCertificate>> {
        self.rows(
            "SELECT * FROM seal_certificate WHERE tenant = $tenant ORDER BY created_at DESC, uid;",
            json!({ "tenant": scope.tenant() }),
        )
        .await
    }

    /// Marks a provisioning certificate active with its chain. Only from `provisioning`: a revoked one stays
    /// revoked, and two concurrent activations cannot both win.
    pub async fn activate_seal_certificate(
        &self,
        scope: &TenantScope,
        uid: &SealCertificateId,
        activation: &Activation,
    ) -> Result<SealCertificate> {
        let sql = "UPDATE seal_certificate SET status = 'active', chain_pem = $chain_pem, \
                   cert_subject = $subject, cert_not_before = $not_before, cert_not_after = $not_after, \
                   activated_at = time::now() \
                   WHERE tenant = $tenant AND uid = $uid AND status = 'provisioning' RETURN AFTER;";
        let vars = json!({ "tenant": scope.tenant(), "uid": uid, "chain_pem": activation.chain_pem,
                           "subject": activation.subject, "not_before": activation.not_before,
                           "not_after": activation.not_after });
        self.first(sql, vars).await?.ok_or_else(|| {
            StoreError::Conflict("the certificate is not waiting for activation".into())
        })
    }

    /// Revokes a certificate and records its key for deletion at `due_at` (Unix seconds), in one transaction.
    /// `Ok(false)` when there was nothing to revoke (unknown to this tenant, or already revoked).
    pub async fn revoke_seal_certificate(
        &self,
        scope: &TenantScope,
        uid: &SealCertificateId,
        due_at: i64,
    ) -> Result<bool> {
        let sql = "BEGIN TRANSACTION;\
                   LET $revoked = (UPDATE seal_certificate SET status = 'revoked', revoked_at = time::now() \
                       WHERE tenant = $tenant AND uid = $uid AND status != 'revoked' RETURN AFTER);\
                   IF array::len($revoked) = 0 { THROW 'sigil-seal:not-revocable' };\
                   FOR $row IN $revoked { CREATE kms_key_deletion CONTENT { uid: <string> rand::uuid::v4(), \
                       kms: $row.kms, key_uri: $row.key_uri, due_at: $due_at }; };\
                   COMMIT TRANSACTION;";
        let vars = json!({ "tenant": scope.tenant(), "uid": uid, "due_at": due_at });
        match self.run(sql, vars).await {
            Ok(_) => Ok(true),
            Err(StoreError::Query(message)) if message.contains("sigil-seal:not-revocable") => {
                Ok(false)
            }
            Err(error) => Err(error),
        }
    }

    /// Keys of every tenant whose deletion is due at `now` (Unix seconds): the deletion job's work list, a
    /// deliberate cross-tenant read (the job acts for the daemon, not a tenant).
    pub async fn due_key_deletions_of_all_tenants(&self, now: i64) -> Result<Vec<DueKeyDeletion>> {
        self.rows(
            "SELECT uid, kms, key_uri FROM kms_key_deletion WHERE due_at <= $now LIMIT 100;",
            json!({ "now": now }),
        )
        .await
    }

    /// Forgets a deletion the KMS has carried out.
    pub async fn key_deletion_done(&self, uid: &str) -> Result<()> {
        self.run(
            "DELETE kms_key_deletion WHERE uid = $uid;",
            json!({ "uid": uid }),
        )
        .await
        .map(|_| ())
    }

    /// Records a seal operation; it is durable when this returns. Concurrent operations share one synced commit
    /// (see [`start_operation_writer`]). The creation time is assigned here.
    pub async fn record_seal_operation(
        &self,
        scope: &TenantScope,
        operation: &SealOperation,
    ) -> Result<()> {
        let Some(writer) = &self.operations else {
            return Err(StoreError::Unavailable("the store is closing".into()));
        };
        let row = operation_row(scope, operation, chrono::Utc::now());
        writer.submit(|done| PendingOperation { row, done }).await
    }

    /// Writes one batch of operations in one statement and answers each waiter with its outcome.
    async fn write_operations(&self, batch: Vec<PendingOperation>) {
        let (rows, waiters): (Vec<_>, Vec<_>) = batch.into_iter().map(|p| (p.row, p.done)).unzip();
        let mut vars = surrealdb::types::Object::new();
        vars.insert("rows", surrealdb::types::Value::Array(rows.into()));
        let written = self
            .run(
                "INSERT INTO seal_operation $rows RETURN NONE;",
                surrealdb::types::Value::Object(vars),
            )
            .await
            .map(|_| ());
        for done in waiters {
            let _ = done.send(written.clone());
        }
    }

    /// A page of the tenant's seal operations, newest first; `search` matches a label prefix or a hash prefix
    /// (case-insensitive).
    pub async fn seal_operations(
        &self,
        scope: &TenantScope,
        search: Option<&str>,
        window: Window,
    ) -> Result<(Vec<SealOperation>, u64)> {
        let filter = "tenant = $tenant AND (!$search OR \
                      string::starts_with(string::lowercase(label ?? ''), $search) OR \
                      string::starts_with(document_hash, $search))";
        let vars = json!({ "tenant": scope.tenant(), "search": search.map(str::to_lowercase),
                           "limit": window.limit, "start": window.offset });
        let total = self
            .count(
                &format!("SELECT count() FROM seal_operation WHERE {filter} GROUP ALL;"),
                vars.clone(),
            )
            .await?;
        let sql = format!(
            "SELECT uid, file_name, size, document_hash, format, level, certificate_id, cert_label, tsa_name, \
             label, created_at, (p7s != NONE) AS has_p7s FROM seal_operation WHERE {filter} \
             ORDER BY created_at DESC, uid LIMIT $limit START $start;"
        );
        let rows: Vec<Value> = self.rows(&sql, vars).await?;
        let operations = rows
            .into_iter()
            .map(|mut row| {
                // The list answers whether a `.p7s` is kept without reading it.
                let has = row.get("has_p7s").and_then(Value::as_bool).unwrap_or(false);
                if let Some(object) = row.as_object_mut() {
                    object.insert("p7s".into(), if has { json!("") } else { Value::Null });
                }
                serde_json::from_value(row).map_err(|error| StoreError::Decode(error.to_string()))
            })
            .collect::<Result<Vec<SealOperation>>>()?;
        Ok((operations, total))
    }

    /// One of the tenant's seal operations, with its `.p7s` when kept.
    pub async fn seal_operation(
        &self,
        scope: &TenantScope,
        uid: &SealOperationId,
    ) -> Result<Option<SealOperation>> {
        self.first(
            "SELECT * FROM seal_operation WHERE tenant = $tenant AND uid = $uid LIMIT 1;",
            json!({ "tenant": scope.tenant(), "uid": uid }),
        )
        .await
    }

    /// The platform seal key and chain, if made.
    pub async fn platform_seal_state(&self) -> Result<Option<PlatformSealState>> {
        self.first(
            "SELECT key_uri, algorithm, chain_pem FROM seal_platform:current;",
            json!({}),
        )
        .await
    }

    /// Saves the platform seal key and chain.
    pub async fn save_platform_seal_state(
        &self,
        key_uri: &str,
        algorithm: &str,
        chain_pem: &str,
    ) -> Result<()> {
        self.run(
            "UPSERT seal_platform:current CONTENT { key_uri: $key_uri, algorithm: $algorithm, \
             chain_pem: $chain_pem, created_at: time::now() };",
            json!({ "key_uri": key_uri, "algorithm": algorithm, "chain_pem": chain_pem }),
        )
        .await
        .map(|_| ())
    }
}

/// A seal operation as the schema types it; `created_at` is `at`.
fn operation_row(
    scope: &TenantScope,
    op: &SealOperation,
    at: chrono::DateTime<chrono::Utc>,
) -> surrealdb::types::Value {
    use surrealdb::types::{Datetime, Object, Value};
    let mut row = Object::new();
    let optional = |row: &mut Object, name: &str, value: &Option<String>| {
        if let Some(value) = value {
            row.insert(name, value.clone());
        }
    };
    row.insert("uid", op.uid.to_string());
    row.insert("tenant", scope.tenant().to_string());
    optional(&mut row, "file_name", &op.file_name);
    row.insert("size", op.size);
    row.insert("document_hash", op.document_hash.clone());
    row.insert("format", op.format.clone());
    row.insert("level", op.level.clone());
    row.insert("certificate_id", op.certificate_id.clone());
    row.insert("cert_label", op.cert_label.clone());
    optional(&mut row, "tsa_name", &op.tsa_name);
    optional(&mut row, "label", &op.label);
    optional(&mut row, "p7s", &op.p7s);
    row.insert("created_at", Datetime::from(at));
    Value::Object(row)
}

/// A seal operation waiting for the writer.
pub(super) struct PendingOperation {
    row: surrealdb::types::Value,
    done: tokio::sync::oneshot::Sender<Result<()>>,
}

/// Operations waiting for the writer, at most.
const OPERATION_QUEUE: usize = 4096;
/// Operations written by one statement, at most.
const OPERATION_BATCH: usize = 128;

/// Starts the seal operation writer: a group commit like the stamp writer. Concurrent seals queue their
/// operation records there and one task writes whatever has queued in one `INSERT`, so a burst of seals pays one
/// synced commit instead of one each. A seal is answered only after its operation's batch committed.
pub(super) fn start_operation_writer(store: &Store) -> super::GroupWriter<PendingOperation> {
    super::GroupWriter::start(
        store,
        "seal operation",
        OPERATION_QUEUE,
        OPERATION_BATCH,
        |store, batch| async move { store.write_operations(batch).await },
    )
}

impl super::GroupedWrite for PendingOperation {
    fn fail(self, error: StoreError) {
        let _ = self.done.send(Err(error));
    }
}
