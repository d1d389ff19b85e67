//! A tenant's registry of signing-request issuers (seed 003, contract §4): who may sign the requests an app
//! hands to Sigil, from which origins, with which P-256 key. Keyed `<tenant>/<uid>`; the trust evaluation
//! reads the entries of one issuer.

use serde::Deserialize;
use serde_json::{Value, json};

use super::{Result, Store, now_ms, strip_nulls};
use crate::ids::{TenantId, TenantScope};

/// A registry entry.
#[derive(Debug, Clone, Deserialize)]
pub struct Issuer {
    /// `iss_` + 32 hex.
    pub uid: String,
    /// Owning tenant.
    pub tenant: TenantId,
    /// The proof's `issuer` this entry vouches for (`did:web:demo.app`, `demo.app`).
    pub issuer: String,
    /// A display name.
    pub name: String,
    /// The `dapp.origin` values its requests may carry (exact strings).
    pub origins: Vec<String>,
    /// The public P-256 JWK.
    pub public_jwk: Value,
    /// The proof's `key_id` this entry is for, if any.
    #[serde(default)]
    pub key_id: Option<String>,
    /// `active` or `revoked`.
    pub status: String,
    /// Unix milliseconds.
    pub added_at: i64,
    /// Unix milliseconds.
    pub updated_at: i64,
}

/// An entry to record.
#[derive(Debug, Clone)]
pub struct NewIssuer {
    /// `iss_` + 32 hex.
    pub uid: String,
    /// The proof's issuer.
    pub issuer: String,
    /// Display name.
    pub name: String,
    /// Allowed origins.
    pub origins: Vec<String>,
    /// Public JWK (public members only).
    pub public_jwk: Value,
    /// Optional key id.
    pub key_id: Option<String>,
}

/// A change to an entry; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct IssuerChange {
    /// New name.
    pub name: Option<String>,
    /// New origins.
    pub origins: Option<Vec<String>>,
    /// `active` or `revoked`.
    pub status: Option<String>,
}

fn issuer_key(tenant: &TenantId, uid: &str) -> String {
    format!("{tenant}/{uid}")
}

impl Store {
    /// Records an entry; `status` starts `active`.
    pub async fn create_issuer(&self, scope: &TenantScope, new: &NewIssuer) -> Result<Issuer> {
        let now = now_ms();
        let uid = &new.uid;
        let row = json!({
            "uid": uid, "tenant": scope.tenant(), "issuer": new.issuer, "name": new.name,
            "origins": new.origins, "public_jwk": new.public_jwk, "key_id": new.key_id, "status": "active",
            "added_at": now, "updated_at": now,
        });
        let rows: Vec<Issuer> = self
            .rows(
                "CREATE type::record('connect_issuer', $key) CONTENT $row RETURN AFTER;",
                json!({ "key": issuer_key(scope.tenant(), uid), "row": strip_nulls(row) }),
            )
            .await?;
        rows.into_iter().next().ok_or(super::StoreError::Decode(
            "CREATE connect_issuer returned nothing".into(),
        ))
    }

    /// The tenant's entries, oldest first (the order the trust evaluation takes "the first match" in).
    pub async fn issuers(&self, scope: &TenantScope) -> Result<Vec<Issuer>> {
        self.rows(
            "SELECT * FROM connect_issuer WHERE tenant = $tenant ORDER BY added_at, uid LIMIT 1000;",
            json!({ "tenant": scope.tenant() }),
        )
        .await
    }

    /// The tenant's entries for one issuer, oldest first.
    pub async fn issuers_named(&self, scope: &TenantScope, issuer: &str) -> Result<Vec<Issuer>> {
        self.rows(
            "SELECT * FROM connect_issuer WHERE tenant = $tenant AND issuer = $issuer \
             ORDER BY added_at, uid LIMIT 100;",
            json!({ "tenant": scope.tenant(), "issuer": issuer }),
        )
        .await
    }

    /// One entry of the tenant.
    pub async fn issuer(&self, scope: &TenantScope, uid: &str) -> Result<Option<Issuer>> {
        self.first(
            "SELECT * FROM type::record('connect_issuer', $key) WHERE tenant = $tenant;",
            json!({ "key": issuer_key(scope.tenant(), uid), "tenant": scope.tenant() }),
        )
        .await
    }

    /// Changes an entry; `None` when the tenant has none of that id.
    pub async fn update_issuer(
        &self,
        scope: &TenantScope,
        uid: &str,
        change: &IssuerChange,
    ) -> Result<Option<Issuer>> {
        let mut set = vec!["updated_at = $now"];
        if change.name.is_some() {
            set.push("name = $name");
        }
        if change.origins.is_some() {
            set.push("origins = $origins");
        }
        if change.status.is_some() {
            set.push("status = $status");
        }
        let sql = format!(
            "UPDATE type::record('connect_issuer', $key) SET {} WHERE tenant = $tenant RETURN AFTER;",
            set.join(", ")
        );
        let rows: Vec<Issuer> = self
            .rows(
                &sql,
                strip_nulls(json!({
                    "key": issuer_key(scope.tenant(), uid), "tenant": scope.tenant(), "now": now_ms(),
                    "name": change.name, "origins": change.origins, "status": change.status,
                })),
            )
            .await?;
        Ok(rows.into_iter().next())
    }

    /// Deletes an entry; `false` when the tenant has none of that id.
    pub async fn delete_issuer(&self, scope: &TenantScope, uid: &str) -> Result<bool> {
        let rows: Vec<Value> = self
            .rows(
                "DELETE type::record('connect_issuer', $key) WHERE tenant = $tenant RETURN BEFORE;",
                json!({ "key": issuer_key(scope.tenant(), uid), "tenant": scope.tenant() }),
            )
            .await?;
        Ok(!rows.is_empty())
    }
}
