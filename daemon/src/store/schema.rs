//! The versioned schema. Each migration moves the store from version N-1 to N in one transaction; start-up
//! applies the missing ones in order and refuses a store written by a newer sigild.

use serde::Deserialize;
use serde_json::{Value, json};

use super::{Result, Store, StoreError, decode_rows};

/// Migrations in order; index 0 creates version 1. Append only: never edit a migration that has shipped.
const MIGRATIONS: &[&str] = &[
    // 1: accounts, tenants, memberships, API keys, daemon metadata.
    "DEFINE TABLE meta SCHEMAFULL;
     DEFINE FIELD version ON meta TYPE option<int>;
     DEFINE FIELD secret ON meta TYPE option<string>;

     DEFINE TABLE user SCHEMAFULL;
     DEFINE FIELD uid ON user TYPE string;
     DEFINE FIELD email ON user TYPE string;
     DEFINE FIELD name ON user TYPE string;
     DEFINE FIELD password_hash ON user TYPE string;
     DEFINE FIELD is_admin ON user TYPE bool;
     DEFINE FIELD current_tenant ON user TYPE option<string>;
     DEFINE FIELD created_at ON user TYPE datetime;
     DEFINE INDEX user_uid ON user FIELDS uid UNIQUE;
     DEFINE INDEX user_email ON user FIELDS email UNIQUE;

     DEFINE TABLE tenant SCHEMAFULL;
     DEFINE FIELD uid ON tenant TYPE string;
     DEFINE FIELD name ON tenant TYPE string;
     DEFINE FIELD created_at ON tenant TYPE datetime;
     DEFINE INDEX tenant_uid ON tenant FIELDS uid UNIQUE;

     DEFINE TABLE membership SCHEMAFULL;
     DEFINE FIELD tenant ON membership TYPE string;
     DEFINE FIELD user ON membership TYPE string;
     DEFINE FIELD role ON membership TYPE string ASSERT $value IN ['owner', 'member'];
     DEFINE FIELD created_at ON membership TYPE datetime;
     DEFINE INDEX membership_pair ON membership FIELDS tenant, user UNIQUE;
     DEFINE INDEX membership_user ON membership FIELDS user;

     DEFINE TABLE api_key SCHEMAFULL;
     DEFINE FIELD uid ON api_key TYPE string;
     DEFINE FIELD tenant ON api_key TYPE string;
     DEFINE FIELD name ON api_key TYPE string;
     DEFINE FIELD environment ON api_key TYPE string ASSERT $value IN ['live', 'test'];
     DEFINE FIELD prefix ON api_key TYPE string;
     DEFINE FIELD hash ON api_key TYPE string;
     DEFINE FIELD created_by ON api_key TYPE string;
     DEFINE FIELD created_at ON api_key TYPE datetime;
     DEFINE FIELD last_used_at ON api_key TYPE option<datetime>;
     DEFINE INDEX api_key_uid ON api_key FIELDS uid UNIQUE;
     DEFINE INDEX api_key_hash ON api_key FIELDS hash UNIQUE;
     DEFINE INDEX api_key_tenant ON api_key FIELDS tenant;",
    // 2: timestamping: stamps, tenant settings, the TSA failure log, the local TSA's key and chain.
    "DEFINE TABLE stamp SCHEMAFULL;
     DEFINE FIELD uid ON stamp TYPE string;
     DEFINE FIELD tenant ON stamp TYPE string;
     DEFINE FIELD dedupe_key ON stamp TYPE string;
     DEFINE FIELD hash_hex ON stamp TYPE string;
     DEFINE FIELD hash_alg_oid ON stamp TYPE string;
     DEFINE FIELD serial ON stamp TYPE string;
     DEFINE FIELD gen_time ON stamp TYPE datetime;
     DEFINE FIELD tsr ON stamp TYPE string;
     DEFINE FIELD provider ON stamp TYPE string;
     DEFINE FIELD tsa_name ON stamp TYPE string;
     DEFINE FIELD label ON stamp TYPE option<string>;
     DEFINE FIELD qualified ON stamp TYPE bool;
     DEFINE FIELD policy_oid ON stamp TYPE string;
     DEFINE FIELD parent ON stamp TYPE option<string>;
     DEFINE FIELD cert_not_after ON stamp TYPE option<datetime>;
     DEFINE FIELD latency_ms ON stamp TYPE int;
     DEFINE FIELD created_at ON stamp TYPE datetime;
     DEFINE INDEX stamp_uid ON stamp FIELDS uid UNIQUE;
     DEFINE INDEX stamp_dedupe ON stamp FIELDS dedupe_key UNIQUE;
     DEFINE INDEX stamp_tenant_hash ON stamp FIELDS tenant, hash_hex;
     DEFINE INDEX stamp_hash ON stamp FIELDS hash_hex;
     DEFINE INDEX stamp_tenant_created ON stamp FIELDS tenant, created_at;
     DEFINE INDEX stamp_parent ON stamp FIELDS parent;

     DEFINE TABLE tenant_settings SCHEMAFULL;
     DEFINE FIELD tenant ON tenant_settings TYPE string;
     DEFINE FIELD enabled_tsa_slugs ON tenant_settings TYPE array<string>;
     DEFINE FIELD updated_at ON tenant_settings TYPE datetime;
     DEFINE INDEX tenant_settings_tenant ON tenant_settings FIELDS tenant UNIQUE;

     DEFINE TABLE tsa_failure SCHEMAFULL;
     DEFINE FIELD tenant ON tsa_failure TYPE string;
     DEFINE FIELD provider ON tsa_failure TYPE string;
     DEFINE FIELD error_class ON tsa_failure TYPE string;
     DEFINE FIELD status_code ON tsa_failure TYPE option<int>;
     DEFINE FIELD message ON tsa_failure TYPE string;
     DEFINE FIELD latency_ms ON tsa_failure TYPE int;
     DEFINE FIELD at ON tsa_failure TYPE datetime;
     DEFINE INDEX tsa_failure_tenant ON tsa_failure FIELDS tenant, at;

     DEFINE TABLE local_tsa SCHEMAFULL;
     DEFINE FIELD key_label ON local_tsa TYPE string;
     DEFINE FIELD key_uri ON local_tsa TYPE string;
     DEFINE FIELD algorithm ON local_tsa TYPE string;
     DEFINE FIELD chain_pem ON local_tsa TYPE string;
     DEFINE FIELD created_at ON local_tsa TYPE datetime;",
    // 3: a per-tenant version that every membership removal bumps, so that concurrent removals conflict
    // (write-write on the tenant record) instead of each passing the last-owner check on its own snapshot.
    "DEFINE FIELD members_version ON tenant TYPE int DEFAULT 0;
     UPDATE tenant SET members_version = 0;",
    // 4: a stamp's record key is its dedupe key (`<tenant>:<hash>` for the tenant's first stamp of a digest), so
    // the check made before every stamp is a point read and uniqueness needs no index. The (tenant, hash) index
    // goes with it: the per-digest lookups use the hash index. Existing stamps are re-keyed.
    "REMOVE INDEX IF EXISTS stamp_dedupe ON stamp;
     REMOVE INDEX IF EXISTS stamp_tenant_hash ON stamp;
     LET $old = SELECT * FROM stamp;
     DELETE stamp;
     FOR $row IN $old {
         CREATE type::record('stamp', $row.dedupe_key) CONTENT object::remove($row, 'id');
     };",
    // 5: sessions. A session JWT names its session; the session must still exist for the token to work, so
    // logging out or changing the password ends sessions at once. `started_at` (Unix seconds) bounds how long
    // refreshing can extend a session.
    "DEFINE TABLE IF NOT EXISTS session SCHEMAFULL;
     DEFINE FIELD IF NOT EXISTS sid ON session TYPE string;
     DEFINE FIELD IF NOT EXISTS user ON session TYPE string;
     DEFINE FIELD IF NOT EXISTS started_at ON session TYPE int;
     DEFINE INDEX IF NOT EXISTS session_sid ON session FIELDS sid UNIQUE;
     DEFINE INDEX IF NOT EXISTS session_user ON session FIELDS user;",
    // 6: every root the local TSA has used, keyed by the SHA-256 of its DER. Append-only: a root stays a trust
    // anchor for the local TSA's tokens after a key or chain change, so old tokens keep verifying, and every node
    // sharing the store trusts every node's local roots.
    // Also: monthly quota counters (one record per tenant and month, changed in one transaction per stamp, so a
    // restart or a second node neither resets nor multiplies them); the public lookup's disclosure per tenant;
    // the signer certificate's notBefore on stamps, for evidence records.
    "DEFINE TABLE IF NOT EXISTS local_tsa_anchor SCHEMAFULL;
     DEFINE FIELD IF NOT EXISTS pem ON local_tsa_anchor TYPE string;
     DEFINE FIELD IF NOT EXISTS subject ON local_tsa_anchor TYPE string;
     DEFINE FIELD IF NOT EXISTS first_used ON local_tsa_anchor TYPE datetime;

     DEFINE TABLE IF NOT EXISTS stamp_quota SCHEMAFULL;
     DEFINE FIELD IF NOT EXISTS tenant ON stamp_quota TYPE string;
     DEFINE FIELD IF NOT EXISTS month ON stamp_quota TYPE string;
     DEFINE FIELD IF NOT EXISTS stamps ON stamp_quota TYPE int;
     DEFINE FIELD IF NOT EXISTS qualified ON stamp_quota TYPE int;
     DEFINE FIELD IF NOT EXISTS counts_all ON stamp_quota TYPE bool;

     DEFINE FIELD IF NOT EXISTS public_lookup ON tenant_settings TYPE string DEFAULT 'existence'
         ASSERT $value IN ['off', 'existence', 'full'];
     UPDATE tenant_settings SET public_lookup = 'existence';

     DEFINE FIELD IF NOT EXISTS cert_not_before ON stamp TYPE option<datetime>;",
    // 7: document seals. Seal certificates (a tenant's KMS key, its CSR and, once activated, its chain), seal
    // operations (what was sealed, never the file; the `.p7s` only when the tenant keeps CAdES seals), KMS keys
    // due for deletion after their grace period (the deletion job's work list), the platform seal key and chain,
    // and the tenant setting that keeps `.p7s` files.
    "DEFINE TABLE IF NOT EXISTS seal_certificate SCHEMAFULL;
     DEFINE FIELD IF NOT EXISTS uid ON seal_certificate TYPE string;
     DEFINE FIELD IF NOT EXISTS tenant ON seal_certificate TYPE string;
     DEFINE FIELD IF NOT EXISTS label ON seal_certificate TYPE string;
     DEFINE FIELD IF NOT EXISTS status ON seal_certificate TYPE string
         ASSERT $value IN ['provisioning', 'active', 'revoked'];
     DEFINE FIELD IF NOT EXISTS key_algorithm ON seal_certificate TYPE string;
     DEFINE FIELD IF NOT EXISTS kms ON seal_certificate TYPE string;
     DEFINE FIELD IF NOT EXISTS key_uri ON seal_certificate TYPE string;
     DEFINE FIELD IF NOT EXISTS csr_pem ON seal_certificate TYPE string;
     DEFINE FIELD IF NOT EXISTS chain_pem ON seal_certificate TYPE option<string>;
     DEFINE FIELD IF NOT EXISTS cert_subject ON seal_certificate TYPE option<string>;
     DEFINE FIELD IF NOT EXISTS cert_not_before ON seal_certificate TYPE option<string>;
     DEFINE FIELD IF NOT EXISTS cert_not_after ON seal_certificate TYPE option<string>;
     DEFINE FIELD IF NOT EXISTS created_at ON seal_certificate TYPE datetime;
     DEFINE FIELD IF NOT EXISTS activated_at ON seal_certificate TYPE option<datetime>;
     DEFINE FIELD IF NOT EXISTS revoked_at ON seal_certificate TYPE option<datetime>;
     DEFINE INDEX IF NOT EXISTS seal_certificate_uid ON seal_certificate FIELDS uid UNIQUE;
     DEFINE INDEX IF NOT EXISTS seal_certificate_tenant ON seal_certificate FIELDS tenant;

     DEFINE TABLE IF NOT EXISTS seal_operation SCHEMAFULL;
     DEFINE FIELD IF NOT EXISTS uid ON seal_operation TYPE string;
     DEFINE FIELD IF NOT EXISTS tenant ON seal_operation TYPE string;
     DEFINE FIELD IF NOT EXISTS file_name ON seal_operation TYPE option<string>;
     DEFINE FIELD IF NOT EXISTS size ON seal_operation TYPE int;
     DEFINE FIELD IF NOT EXISTS document_hash ON seal_operation TYPE string;
     DEFINE FIELD IF NOT EXISTS format ON seal_operation TYPE string;
     DEFINE FIELD IF NOT EXISTS level ON seal_operation TYPE string;
     DEFINE FIELD IF NOT EXISTS certificate_id ON seal_operation TYPE string;
     DEFINE FIELD IF NOT EXISTS cert_label ON seal_operation TYPE string;
     DEFINE FIELD IF NOT EXISTS tsa_name ON seal_operation TYPE option<string>;
     DEFINE FIELD IF NOT EXISTS label ON seal_operation TYPE option<string>;
     DEFINE FIELD IF NOT EXISTS p7s ON seal_operation TYPE option<string>;
     DEFINE FIELD IF NOT EXISTS created_at ON seal_operation TYPE datetime;
     DEFINE INDEX IF NOT EXISTS seal_operation_uid ON seal_operation FIELDS uid UNIQUE;
     DEFINE INDEX IF NOT EXISTS seal_operation_tenant ON seal_operation FIELDS tenant, created_at;

     DEFINE TABLE IF NOT EXISTS kms_key_deletion SCHEMAFULL;
     DEFINE FIELD IF NOT EXISTS uid ON kms_key_deletion TYPE string;
     DEFINE FIELD IF NOT EXISTS kms ON kms_key_deletion TYPE string;
     DEFINE FIELD IF NOT EXISTS key_uri ON kms_key_deletion TYPE string;
     DEFINE FIELD IF NOT EXISTS due_at ON kms_key_deletion TYPE int;
     DEFINE INDEX IF NOT EXISTS kms_key_deletion_due ON kms_key_deletion FIELDS due_at;

     DEFINE TABLE IF NOT EXISTS seal_platform SCHEMAFULL;
     DEFINE FIELD IF NOT EXISTS key_uri ON seal_platform TYPE string;
     DEFINE FIELD IF NOT EXISTS algorithm ON seal_platform TYPE string;
     DEFINE FIELD IF NOT EXISTS chain_pem ON seal_platform TYPE string;
     DEFINE FIELD IF NOT EXISTS created_at ON seal_platform TYPE datetime;

     DEFINE FIELD IF NOT EXISTS store_cades_seals ON tenant_settings TYPE bool DEFAULT false;
     UPDATE tenant_settings SET store_cades_seals = false WHERE store_cades_seals = NONE;",
    // 8: approval requests of every kind, keyed by `<kind>:<slot>` (one live request per slot), their audit
    // trail, the per-realm version that limit-dependent decisions compare-and-set, the realms' policies, the
    // node leases that say which daemon holds a live request's timer, and replay nonces. Schemaless: a kind's
    // payload is its own.
    "DEFINE TABLE IF NOT EXISTS approval SCHEMALESS;
     DEFINE INDEX IF NOT EXISTS approval_uid ON approval FIELDS uid UNIQUE;
     DEFINE INDEX IF NOT EXISTS approval_realm_state ON approval FIELDS kind, realm, state;
     DEFINE INDEX IF NOT EXISTS approval_party_state ON approval FIELDS kind, party, state;
     DEFINE INDEX IF NOT EXISTS approval_live ON approval FIELDS state, owner_node;
     DEFINE TABLE IF NOT EXISTS approval_audit SCHEMALESS;
     DEFINE INDEX IF NOT EXISTS approval_audit_approval ON approval_audit FIELDS approval;
     DEFINE TABLE IF NOT EXISTS approval_realm SCHEMALESS;
     DEFINE TABLE IF NOT EXISTS approval_policy SCHEMALESS;
     DEFINE TABLE IF NOT EXISTS node_lease SCHEMALESS;
     DEFINE TABLE IF NOT EXISTS nonce SCHEMALESS;
     DEFINE INDEX IF NOT EXISTS nonce_expires ON nonce FIELDS expires;",
    // 9: the agent directory of the Sigilum surface. Namespaces keyed by their lower-case name (global, so a
    // point read answers "taken?"); services with a global slug index (a deleted service stays as a tombstone,
    // keeping its slug); service keys by SHA-256 only; and a per-tenant counter record that service creation
    // bumps, so concurrent creates conflict and the service limit holds.
    "DEFINE TABLE IF NOT EXISTS agent_namespace SCHEMAFULL;
     DEFINE FIELD IF NOT EXISTS name ON agent_namespace TYPE string;
     DEFINE FIELD IF NOT EXISTS tenant ON agent_namespace TYPE string;
     DEFINE FIELD IF NOT EXISTS created_by ON agent_namespace TYPE string;
     DEFINE FIELD IF NOT EXISTS created_at ON agent_namespace TYPE datetime;
     DEFINE INDEX IF NOT EXISTS agent_namespace_tenant ON agent_namespace FIELDS tenant;

     DEFINE TABLE IF NOT EXISTS service SCHEMAFULL;
     DEFINE FIELD IF NOT EXISTS uid ON service TYPE string;
     DEFINE FIELD IF NOT EXISTS tenant ON service TYPE string;
     DEFINE FIELD IF NOT EXISTS name ON service TYPE string;
     DEFINE FIELD IF NOT EXISTS slug ON service TYPE string;
     DEFINE FIELD IF NOT EXISTS domain ON service TYPE string;
     DEFINE FIELD IF NOT EXISTS description ON service TYPE string;
     DEFINE FIELD IF NOT EXISTS keys_version ON service TYPE int DEFAULT 0;
     DEFINE FIELD IF NOT EXISTS created_at ON service TYPE datetime;
     DEFINE FIELD IF NOT EXISTS deleted_at ON service TYPE option<datetime>;
     DEFINE INDEX IF NOT EXISTS service_uid ON service FIELDS uid UNIQUE;
     DEFINE INDEX IF NOT EXISTS service_slug ON service FIELDS slug UNIQUE;
     DEFINE INDEX IF NOT EXISTS service_tenant ON service FIELDS tenant;

     DEFINE TABLE IF NOT EXISTS service_key SCHEMAFULL;
     DEFINE FIELD IF NOT EXISTS uid ON service_key TYPE string;
     DEFINE FIELD IF NOT EXISTS service ON service_key TYPE string;
     DEFINE FIELD IF NOT EXISTS tenant ON service_key TYPE string;
     DEFINE FIELD IF NOT EXISTS name ON service_key TYPE string;
     DEFINE FIELD IF NOT EXISTS hash ON service_key TYPE string;
     DEFINE FIELD IF NOT EXISTS key_prefix ON service_key TYPE string;
     DEFINE FIELD IF NOT EXISTS gateway ON service_key TYPE bool;
     DEFINE FIELD IF NOT EXISTS created_at ON service_key TYPE datetime;
     DEFINE FIELD IF NOT EXISTS revoked_at ON service_key TYPE option<datetime>;
     DEFINE INDEX IF NOT EXISTS service_key_uid ON service_key FIELDS uid UNIQUE;
     DEFINE INDEX IF NOT EXISTS service_key_hash ON service_key FIELDS hash UNIQUE;
     DEFINE INDEX IF NOT EXISTS service_key_service ON service_key FIELDS service;

     DEFINE TABLE IF NOT EXISTS directory_tenant SCHEMAFULL;
     DEFINE FIELD IF NOT EXISTS services_version ON directory_tenant TYPE int DEFAULT 0;",
    // 10: the webhook outbox (store/outbox.rs). Endpoints (an owner's receiver: URL, topics, the signing secret
    // and an optional auth header value, both encrypted by the daemon before they get here), a per-owner
    // creation counter (makes concurrent creations conflict, so the endpoint limit holds), events (written in
    // the transaction of the change that causes them, then fanned out), deliveries (one per event and endpoint,
    // deterministic id; state, attempts, next attempt and the claim lease) and every attempt. Times are Unix ms.
    "DEFINE TABLE IF NOT EXISTS webhook_endpoint SCHEMAFULL;
     DEFINE FIELD IF NOT EXISTS uid ON webhook_endpoint TYPE string;
     DEFINE FIELD IF NOT EXISTS tenant ON webhook_endpoint TYPE string;
     DEFINE FIELD IF NOT EXISTS owner ON webhook_endpoint TYPE string;
     DEFINE FIELD IF NOT EXISTS surface ON webhook_endpoint TYPE string
         ASSERT $value IN ['sigilum', 'sigil_auth', 'standard'];
     DEFINE FIELD IF NOT EXISTS url ON webhook_endpoint TYPE string;
     DEFINE FIELD IF NOT EXISTS events ON webhook_endpoint TYPE array<string>;
     DEFINE FIELD IF NOT EXISTS secret_enc ON webhook_endpoint TYPE string;
     DEFINE FIELD IF NOT EXISTS auth_header ON webhook_endpoint TYPE option<string>;
     DEFINE FIELD IF NOT EXISTS auth_value_enc ON webhook_endpoint TYPE option<string>;
     DEFINE FIELD IF NOT EXISTS active ON webhook_endpoint TYPE bool;
     DEFINE FIELD IF NOT EXISTS created_at ON webhook_endpoint TYPE int;
     DEFINE INDEX IF NOT EXISTS webhook_endpoint_owner ON webhook_endpoint FIELDS tenant, owner;

     DEFINE TABLE IF NOT EXISTS webhook_owner SCHEMAFULL;
     DEFINE FIELD IF NOT EXISTS creations ON webhook_owner TYPE int;

     DEFINE TABLE IF NOT EXISTS outbox_event SCHEMAFULL;
     DEFINE FIELD IF NOT EXISTS uid ON outbox_event TYPE string;
     DEFINE FIELD IF NOT EXISTS tenant ON outbox_event TYPE string;
     DEFINE FIELD IF NOT EXISTS owner ON outbox_event TYPE string;
     DEFINE FIELD IF NOT EXISTS topic ON outbox_event TYPE string;
     DEFINE FIELD IF NOT EXISTS body ON outbox_event TYPE string;
     DEFINE FIELD IF NOT EXISTS created_at ON outbox_event TYPE int;
     DEFINE FIELD IF NOT EXISTS fanned_out ON outbox_event TYPE bool;
     DEFINE INDEX IF NOT EXISTS outbox_event_new ON outbox_event FIELDS fanned_out, created_at;

     DEFINE TABLE IF NOT EXISTS webhook_delivery SCHEMAFULL;
     DEFINE FIELD IF NOT EXISTS uid ON webhook_delivery TYPE string;
     DEFINE FIELD IF NOT EXISTS tenant ON webhook_delivery TYPE string;
     DEFINE FIELD IF NOT EXISTS owner ON webhook_delivery TYPE string;
     DEFINE FIELD IF NOT EXISTS event ON webhook_delivery TYPE string;
     DEFINE FIELD IF NOT EXISTS endpoint ON webhook_delivery TYPE string;
     DEFINE FIELD IF NOT EXISTS topic ON webhook_delivery TYPE string;
     DEFINE FIELD IF NOT EXISTS state ON webhook_delivery TYPE string
         ASSERT $value IN ['pending', 'delivering', 'delivered', 'failed'];
     DEFINE FIELD IF NOT EXISTS attempts ON webhook_delivery TYPE int;
     DEFINE FIELD IF NOT EXISTS next_attempt_at ON webhook_delivery TYPE int;
     DEFINE FIELD IF NOT EXISTS lease_owner ON webhook_delivery TYPE option<string>;
     DEFINE FIELD IF NOT EXISTS lease_until ON webhook_delivery TYPE int;
     DEFINE FIELD IF NOT EXISTS last_status ON webhook_delivery TYPE option<int>;
     DEFINE FIELD IF NOT EXISTS last_error ON webhook_delivery TYPE option<string>;
     DEFINE FIELD IF NOT EXISTS event_created_at ON webhook_delivery TYPE int;
     DEFINE FIELD IF NOT EXISTS created_at ON webhook_delivery TYPE int;
     DEFINE INDEX IF NOT EXISTS webhook_delivery_due ON webhook_delivery FIELDS state, next_attempt_at;
     DEFINE INDEX IF NOT EXISTS webhook_delivery_endpoint ON webhook_delivery FIELDS endpoint, created_at;

     DEFINE TABLE IF NOT EXISTS webhook_attempt SCHEMAFULL;
     DEFINE FIELD IF NOT EXISTS delivery ON webhook_attempt TYPE string;
     DEFINE FIELD IF NOT EXISTS tenant ON webhook_attempt TYPE string;
     DEFINE FIELD IF NOT EXISTS node ON webhook_attempt TYPE string;
     DEFINE FIELD IF NOT EXISTS at ON webhook_attempt TYPE int;
     DEFINE FIELD IF NOT EXISTS status ON webhook_attempt TYPE option<int>;
     DEFINE FIELD IF NOT EXISTS error ON webhook_attempt TYPE option<string>;
     DEFINE FIELD IF NOT EXISTS duration_ms ON webhook_attempt TYPE int;
     DEFINE INDEX IF NOT EXISTS webhook_attempt_delivery ON webhook_attempt FIELDS delivery, at;",
    // 11: Sigil Auth devices (keyed `<tenant>/<fingerprint>`; a fingerprint index for a device's own polls),
    // their one-time registration challenges, and an index of pending approvals by principal (a device's
    // challenges).
    "DEFINE TABLE IF NOT EXISTS device SCHEMALESS;
     DEFINE INDEX IF NOT EXISTS device_fingerprint ON device FIELDS fingerprint;
     DEFINE INDEX IF NOT EXISTS device_tenant ON device FIELDS tenant, registered_at;
     DEFINE TABLE IF NOT EXISTS device_registration SCHEMALESS;
     DEFINE INDEX IF NOT EXISTS approval_principal ON approval FIELDS kind, principal, state;",
    // 12: signing requests (seed 003). Results go to an app's callback through the outbox: an endpoint of the
    // new `connect` surface per request (an index finds those to retire once their request is long over), and
    // the daemon's detached signature over each result body kept with the event. The tenants' issuer registries (keyed `<tenant>/<uid>`; an index answers "this issuer?").
    "DEFINE FIELD OVERWRITE surface ON webhook_endpoint TYPE string
         ASSERT $value IN ['sigilum', 'sigil_auth', 'standard', 'connect'];
     DEFINE FIELD IF NOT EXISTS signature ON outbox_event TYPE option<string>;
     DEFINE INDEX IF NOT EXISTS webhook_endpoint_surface ON webhook_endpoint FIELDS surface, active, created_at;
     DEFINE TABLE IF NOT EXISTS connect_issuer SCHEMALESS;
     DEFINE INDEX IF NOT EXISTS connect_issuer_tenant ON connect_issuer FIELDS tenant, issuer;",
    // 13: tenant settings keyed by their tenant, so that reading them (every seal does) is a record lookup
    // rather than an index scan.
    "LET $settings = (SELECT * OMIT id FROM tenant_settings);
     DELETE tenant_settings;
     FOR $row IN $settings { CREATE type::record('tenant_settings', $row.tenant) CONTENT $row; };",
];

/// The schema version this binary writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

#[derive(Deserialize)]
struct VersionRow {
    version: Option<i64>,
}

/// The store's schema version; 0 for a new store.
pub async fn current_version(store: &Store) -> Result<i64> {
    // In a brand-new store the `meta` table does not exist yet, which SurrealDB reports as an error.
    let mut results = match store
        .run("SELECT version FROM meta:schema;", json!({}))
        .await
    {
        Err(StoreError::Query(message)) if message.contains("'meta' does not exist") => {
            return Ok(0);
        }
        other => other?,
    };
    let rows: Vec<VersionRow> = decode_rows(results.pop().unwrap_or(Value::Null))?;
    Ok(rows
        .into_iter()
        .next()
        .and_then(|row| row.version)
        .unwrap_or(0))
}

/// Applies every migration the store lacks; refuses a newer store.
pub async fn migrate(store: &Store) -> Result<()> {
    let found = current_version(store).await?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            found,
            known: SCHEMA_VERSION,
        });
    }
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let version = index as i64 + 1;
        // The version bump commits with the migration, so a crash leaves either both or neither.
        let sql = format!(
            "BEGIN TRANSACTION;\n{migration}\nUPSERT meta:schema SET version = $version;\nCOMMIT TRANSACTION;"
        );
        store.run(&sql, json!({ "version": version })).await?;
        tracing::info!(version, "store schema migrated");
    }
    Ok(())
}
