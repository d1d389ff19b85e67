//! Tenant settings: the TSA allowlist, the public lookup's disclosure, and whether CAdES seals are kept.

use serde::Deserialize;
use serde_json::json;

use super::{Result, Store};
use crate::ids::{TenantId, TenantScope};

/// How much `GET /api/lookup/{hash}` discloses of a tenant's stamps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PublicLookup {
    /// Nothing: the tenant's stamps are not found by the public lookup.
    Off,
    /// That the hash was stamped, when and by which TSA, with the token; no label, no id.
    #[default]
    Existence,
    /// Everything the seed shows, labels and ids included.
    Full,
}

impl PublicLookup {
    /// The stored and API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            PublicLookup::Off => "off",
            PublicLookup::Existence => "existence",
            PublicLookup::Full => "full",
        }
    }
}

/// A tenant's timestamping settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct TenantSettings {
    /// Allowlist of TSA slugs (empty: every active provider).
    #[serde(default)]
    pub enabled_tsa_slugs: Vec<String>,
    /// Public lookup disclosure.
    #[serde(default)]
    pub public_lookup: PublicLookup,
    /// Keep each CAdES seal's `.p7s` for download (`GET /seal/operations/{id}/p7s`).
    #[serde(default)]
    pub store_cades_seals: bool,
}

impl Store {
    /// The tenant's timestamping settings (defaults when never set).
    pub async fn tenant_settings(&self, scope: &TenantScope) -> Result<TenantSettings> {
        let tenant = scope.tenant();
        let sql = "SELECT enabled_tsa_slugs, public_lookup, store_cades_seals \
                   FROM type::record('tenant_settings', $tenant);";
        Ok(self
            .first::<TenantSettings>(sql, json!({ "tenant": tenant }))
            .await?
            .unwrap_or_default())
    }

    /// Replaces the tenant's timestamping settings.
    pub async fn set_tenant_settings(
        &self,
        scope: &TenantScope,
        settings: &TenantSettings,
    ) -> Result<()> {
        let tenant = scope.tenant();
        // Keyed by the tenant (schema version 13).
        let sql = "UPSERT type::record('tenant_settings', $tenant) CONTENT { tenant: $tenant, \
                   enabled_tsa_slugs: $slugs, public_lookup: $lookup, store_cades_seals: $store_cades_seals, \
                   updated_at: time::now() };";
        let vars = json!({ "tenant": tenant, "slugs": settings.enabled_tsa_slugs,
                           "lookup": settings.public_lookup.as_str(),
                           "store_cades_seals": settings.store_cades_seals });
        self.run(sql, vars).await.map(|_| ())
    }

    /// The public-lookup disclosure of each of these tenants (tenants without settings are absent: default).
    pub async fn public_lookup_of(
        &self,
        tenants: &[TenantId],
    ) -> Result<std::collections::HashMap<TenantId, PublicLookup>> {
        #[derive(Deserialize)]
        struct Row {
            tenant: TenantId,
            public_lookup: PublicLookup,
        }
        let rows: Vec<Row> = self
            .rows(
                "SELECT tenant, public_lookup FROM tenant_settings WHERE tenant IN $tenants;",
                json!({ "tenants": tenants }),
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| (row.tenant, row.public_lookup))
            .collect())
    }
}
