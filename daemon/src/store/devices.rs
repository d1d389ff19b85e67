//! Sigil Auth devices: a tenant's registered devices (P-256 keys by fingerprint, their push address) and the
//! one-time registration challenges that prove possession of a key. Challenges and multi-party requests
//! themselves are approval requests (`approvals.rs`).

use serde::Deserialize;
use serde_json::json;

use super::{Result, Store, StoreError, now_ms, strip_nulls};
use crate::ids::{TenantId, TenantScope};

/// A registered device.
#[derive(Debug, Clone, Deserialize)]
pub struct Device {
    /// Owning tenant.
    pub tenant: TenantId,
    /// Lower-case hex SHA-256 of the compressed public key.
    pub fingerprint: String,
    /// The 33-byte compressed P-256 key, standard base64.
    pub public_key: String,
    /// A label.
    #[serde(default)]
    pub name: Option<String>,
    /// The push channel plugin instance that reaches it, if any.
    #[serde(default)]
    pub push_channel: Option<String>,
    /// Its address in that channel, encrypted at rest (`secretbox`).
    #[serde(default)]
    pub push_token_enc: Option<String>,
    /// Unix milliseconds.
    pub registered_at: i64,
    /// Unix milliseconds, once revoked.
    #[serde(default)]
    pub revoked_at: Option<i64>,
}

/// A device to register.
#[derive(Debug, Clone)]
pub struct NewDevice {
    /// Fingerprint.
    pub fingerprint: String,
    /// Public key, standard base64.
    pub public_key: String,
    /// Label.
    pub name: Option<String>,
    /// Push channel instance.
    pub push_channel: Option<String>,
    /// Push address, already encrypted.
    pub push_token_enc: Option<String>,
}

fn device_key(tenant: &TenantId, fingerprint: &str) -> String {
    format!("{tenant}/{fingerprint}")
}

impl Store {
    /// Records a registration challenge (its nonce, standard base64) until `expires_ms`.
    pub async fn create_registration_challenge(
        &self,
        scope: &TenantScope,
        challenge_id: &str,
        nonce: &str,
        expires_ms: i64,
    ) -> Result<()> {
        self.run(
            "CREATE type::record('device_registration', $id) CONTENT { tenant: $tenant, nonce: $nonce, \
             expires_at: $expires };",
            json!({ "id": challenge_id, "tenant": scope.tenant(), "nonce": nonce, "expires": expires_ms }),
        )
        .await
        .map(|_| ())
    }

    /// Takes a registration challenge of the tenant (once): its nonce, if it exists and has not expired.
    pub async fn take_registration_challenge(
        &self,
        scope: &TenantScope,
        challenge_id: &str,
    ) -> Result<Option<String>> {
        #[derive(Deserialize)]
        struct Row {
            nonce: String,
            expires_at: i64,
        }
        let rows: Vec<Row> = self
            .rows(
                "DELETE type::record('device_registration', $id) WHERE tenant = $tenant RETURN BEFORE;",
                json!({ "id": challenge_id, "tenant": scope.tenant() }),
            )
            .await?;
        Ok(rows
            .into_iter()
            .next()
            .filter(|row| row.expires_at > now_ms())
            .map(|row| row.nonce))
    }

    /// Registers a device; a revoked device of the same key is registered again, an active one is a conflict.
    pub async fn register_device(&self, scope: &TenantScope, new: &NewDevice) -> Result<Device> {
        let key = device_key(scope.tenant(), &new.fingerprint);
        let row = json!({
            "tenant": scope.tenant(), "fingerprint": new.fingerprint, "public_key": new.public_key,
            "name": new.name, "push_channel": new.push_channel, "push_token_enc": new.push_token_enc,
            "registered_at": now_ms(),
        });
        let sql = "BEGIN TRANSACTION;\
                   LET $old = (SELECT revoked_at FROM type::record('device', $key));\
                   IF array::len($old) > 0 AND $old[0].revoked_at = NONE { THROW 'sigil:registered' };\
                   UPSERT type::record('device', $key) CONTENT $row;\
                   COMMIT TRANSACTION;";
        match self
            .run(sql, json!({ "key": key, "row": strip_nulls(row) }))
            .await
        {
            Ok(_) => {}
            Err(StoreError::Query(message)) if message.contains("sigil:registered") => {
                return Err(StoreError::Conflict(
                    "the device is already registered".into(),
                ));
            }
            Err(error) => return Err(error),
        }
        self.device(scope, &new.fingerprint)
            .await?
            .ok_or(StoreError::Decode(
                "device missing after registration".into(),
            ))
    }

    /// A device of the tenant (revoked ones included).
    pub async fn device(&self, scope: &TenantScope, fingerprint: &str) -> Result<Option<Device>> {
        self.first(
            "SELECT * FROM type::record('device', $key);",
            json!({ "key": device_key(scope.tenant(), fingerprint) }),
        )
        .await
    }

    /// The active registrations of a fingerprint in every tenant: a device polls with its own signature, which
    /// proves the key, not a tenant. Deliberately cross-tenant.
    pub async fn active_devices_by_fingerprint_all_tenants(
        &self,
        fingerprint: &str,
    ) -> Result<Vec<Device>> {
        self.rows(
            "SELECT * FROM device WHERE fingerprint = $fingerprint AND revoked_at = NONE;",
            json!({ "fingerprint": fingerprint }),
        )
        .await
    }

    /// The tenant's devices, newest first.
    pub async fn devices(&self, scope: &TenantScope) -> Result<Vec<Device>> {
        self.rows(
            "SELECT * FROM device WHERE tenant = $tenant ORDER BY registered_at DESC LIMIT 1000;",
            json!({ "tenant": scope.tenant() }),
        )
        .await
    }

    /// Revokes an active device; `None` when the tenant has no such active device.
    pub async fn revoke_device(
        &self,
        scope: &TenantScope,
        fingerprint: &str,
    ) -> Result<Option<Device>> {
        let rows: Vec<Device> = self
            .rows(
                "UPDATE type::record('device', $key) SET revoked_at = $now WHERE revoked_at = NONE \
                 RETURN AFTER;",
                json!({ "key": device_key(scope.tenant(), fingerprint), "now": now_ms() }),
            )
            .await?;
        Ok(rows.into_iter().next())
    }
}
