//! The durable webhook outbox: endpoints (where an owner wants events delivered, with its secret encrypted by the
//! caller), events (written by the caller **in the same transaction** as the state change that causes them, see
//! [`NewOutboxEvent::create_statement`]), deliveries (one per event and endpoint, deterministic id, so fanning
//! out twice creates nothing new) and attempts (every try, with its outcome).
//!
//! Deliveries are claimed with a lease: a compare-and-set on `state`/`lease_until` (a row is taken only when it
//! is due and pending, or its lease has expired), so two nodes never both hold one row, and a crashed node's rows
//! are taken over when its lease ends. Times in these tables are Unix milliseconds (`int`), from the caller's
//! clock, so that tests can move time.
//!
//! The dispatcher acts for the daemon, not for a tenant: its reads and claims span tenants and say so in their
//! names (`..._all_tenants`, `..._any_tenant`). Everything an owner asks for takes a [`TenantScope`].

use serde::Deserialize;
use serde_json::{Value, json};

use super::{Result, Store, StoreError, Window, now_ms};
use crate::ids::{TenantId, TenantScope};

/// An event to deliver, as the code that causes it creates it.
#[derive(Debug, Clone)]
pub struct NewOutboxEvent {
    /// `evt_` + 32 hex ([`NewOutboxEvent::new_id`]); receivers deduplicate on it (`webhook-id`).
    pub id: String,
    /// The tenant whose state changed.
    pub tenant: TenantId,
    /// Whose endpoints receive it, e.g. `service:<uid>`.
    pub owner: String,
    /// The event name, e.g. `approval.approved`; endpoints subscribe to topics.
    pub topic: String,
    /// The exact body to deliver (JSON text); signed and sent byte for byte.
    pub body: String,
    /// A signature the daemon made over `body` when the event was created (a detached JWS for signing-request
    /// results), sent with every delivery to a `connect` endpoint.
    pub signature: Option<String>,
}

impl NewOutboxEvent {
    /// A SurrealQL statement creating this event that refers only to the bound variable `$<var>`, and the
    /// value to bind under that name; the caller puts it into its own transaction, so the event exists exactly
    /// when the change that causes it committed. `var` is a name chosen by the caller's code (letters, digits,
    /// `_`), never input.
    pub fn create_statement(&self, var: &str) -> (String, Value) {
        assert!(
            !var.is_empty() && var.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
            "outbox statement variable must be an identifier"
        );
        let sql = format!(
            "CREATE type::record('outbox_event', ${var}.uid) CONTENT {{ uid: ${var}.uid, tenant: ${var}.tenant, \
             owner: ${var}.owner, topic: ${var}.topic, body: ${var}.body, signature: ${var}.signature, \
             created_at: ${var}.created_at, fanned_out: false }};"
        );
        let mut value = json!({
            "uid": self.id,
            "tenant": self.tenant,
            "owner": self.owner,
            "topic": self.topic,
            "body": self.body,
            "created_at": now_ms(),
        });
        // Absent, not null: the field is `option<string>`, which takes NONE but not NULL.
        if let Some(signature) = &self.signature {
            value["signature"] = json!(signature);
        }
        (sql, value)
    }

    /// A fresh event id: `evt_` + 32 hex from the OS RNG.
    pub fn new_id() -> String {
        let mut bytes = [0u8; 16];
        aws_lc_rs::rand::fill(&mut bytes).expect("the OS RNG");
        format!("evt_{}", hex::encode(bytes))
    }
}

/// An endpoint to record. Secrets arrive sealed (`crate::secretbox`), never in clear.
#[derive(Debug, Clone)]
pub struct NewWebhookEndpoint {
    /// `wh_` + 16 hex.
    pub uid: String,
    /// Owner, e.g. `service:<uid>`.
    pub owner: String,
    /// `sigilum`, `sigil_auth` or `standard`.
    pub surface: String,
    /// Where deliveries go.
    pub url: String,
    /// Topics delivered.
    pub events: Vec<String>,
    /// The signing secret, sealed under the context `<uid>:secret`.
    pub secret_enc: String,
    /// A custom header sent with every delivery.
    pub auth_header: Option<String>,
    /// Its value, sealed under `<uid>:auth_value`.
    pub auth_value_enc: Option<String>,
}

/// A recorded endpoint.
#[derive(Debug, Clone, Deserialize)]
pub struct WebhookEndpoint {
    /// `wh_` + 16 hex.
    pub uid: String,
    /// Tenant.
    pub tenant: TenantId,
    /// Owner.
    pub owner: String,
    /// Surface.
    pub surface: String,
    /// URL.
    pub url: String,
    /// Topics.
    pub events: Vec<String>,
    /// Sealed secret.
    pub secret_enc: String,
    /// Custom header name.
    pub auth_header: Option<String>,
    /// Sealed custom header value.
    pub auth_value_enc: Option<String>,
    /// False once deleted.
    pub active: bool,
    /// Unix ms.
    pub created_at: i64,
}

/// What [`Store::create_webhook_endpoint`] did.
#[derive(Debug)]
pub enum EndpointCreation {
    /// Recorded.
    Created(Box<WebhookEndpoint>),
    /// The owner already has the maximum number of active endpoints.
    LimitReached,
}

/// A recorded event.
#[derive(Debug, Clone, Deserialize)]
pub struct OutboxEvent {
    /// `evt_...`.
    pub uid: String,
    /// Tenant.
    pub tenant: TenantId,
    /// Owner.
    pub owner: String,
    /// Topic.
    pub topic: String,
    /// Exact body.
    pub body: String,
    /// The daemon's signature over the body, if it made one.
    #[serde(default)]
    pub signature: Option<String>,
    /// Unix ms.
    pub created_at: i64,
}

/// A delivery of one event to one endpoint.
#[derive(Debug, Clone, Deserialize)]
pub struct WebhookDelivery {
    /// `dlv_` + 32 hex, derived from the event and endpoint ids.
    pub uid: String,
    /// Tenant.
    pub tenant: TenantId,
    /// Owner.
    pub owner: String,
    /// The event's id.
    pub event: String,
    /// The endpoint's id.
    pub endpoint: String,
    /// The event's topic.
    pub topic: String,
    /// `pending`, `delivering`, `delivered` or `failed`.
    pub state: String,
    /// Attempts made.
    pub attempts: i64,
    /// When the next attempt is due (Unix ms); meaningful while pending.
    pub next_attempt_at: i64,
    /// The node holding the lease while delivering.
    pub lease_owner: Option<String>,
    /// Until when that lease holds (Unix ms).
    pub lease_until: i64,
    /// The last HTTP status received.
    pub last_status: Option<i64>,
    /// The last failure, if the last attempt failed.
    pub last_error: Option<String>,
    /// When the event was created (Unix ms): retries stop 24 h after it.
    pub event_created_at: i64,
    /// Unix ms.
    pub created_at: i64,
}

/// One recorded attempt.
#[derive(Debug, Clone, Deserialize)]
pub struct WebhookAttempt {
    /// The delivery.
    pub delivery: String,
    /// When it started (Unix ms).
    pub at: i64,
    /// The HTTP status, when an answer came.
    pub status: Option<i64>,
    /// Why it failed without an answer (or with a non-2xx one).
    pub error: Option<String>,
    /// How long it took.
    pub duration_ms: i64,
}

/// The state a finished attempt leaves its delivery in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// A 2xx answer.
    Delivered,
    /// Failed; try again at this time (Unix ms).
    RetryAt(i64),
    /// Failed for good (out of the retry window, or the endpoint is gone).
    Failed,
}

/// The deterministic delivery id of an event at an endpoint, so that fanning out again creates nothing new.
pub fn delivery_id(event: &str, endpoint: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("{event}\n{endpoint}").as_bytes());
    format!("dlv_{}", hex::encode(&digest[..16]))
}

/// Drops null members, so that they are unbound and read as NONE in the query.
fn without_nulls(mut vars: Value) -> Value {
    if let Some(object) = vars.as_object_mut() {
        object.retain(|_, value| !value.is_null());
    }
    vars
}

const DUE: &str = "((state = 'pending' AND next_attempt_at <= $now) OR (state = 'delivering' AND lease_until <= $now))";

impl Store {
    /// Records an endpoint unless the owner already has `max_active` active ones. The per-owner counter record
    /// is written by every creation, so two concurrent creations conflict and the second re-checks the limit.
    pub async fn create_webhook_endpoint(
        &self,
        scope: &TenantScope,
        new: &NewWebhookEndpoint,
        max_active: usize,
    ) -> Result<EndpointCreation> {
        let sql = "BEGIN TRANSACTION;\
             UPSERT type::record('webhook_owner', $owner_key) SET creations = (creations ?? 0) + 1;\
             LET $active = (SELECT count() FROM webhook_endpoint WHERE tenant = $tenant AND owner = $owner \
                 AND active = true GROUP ALL)[0].count ?? 0;\
             IF $active >= $max { THROW 'sigil-webhook:limit' };\
             CREATE type::record('webhook_endpoint', $uid) CONTENT { uid: $uid, tenant: $tenant, owner: $owner, \
                 surface: $surface, url: $url, events: $events, secret_enc: $secret_enc, \
                 auth_header: $auth_header, auth_value_enc: $auth_value_enc, active: true, created_at: $now };\
             COMMIT TRANSACTION;\
             SELECT * FROM type::record('webhook_endpoint', $uid);";
        // An unbound variable reads as NONE, which the schema's option<> fields take (NULL they refuse).
        let vars = without_nulls(json!({
            "tenant": scope.tenant(), "owner": new.owner, "owner_key": format!("{}/{}", scope.id(), new.owner),
            "max": max_active as i64, "uid": new.uid, "surface": new.surface, "url": new.url,
            "events": new.events, "secret_enc": new.secret_enc, "auth_header": new.auth_header,
            "auth_value_enc": new.auth_value_enc, "now": now_ms(),
        }));
        match self.first::<WebhookEndpoint>(sql, vars).await {
            Ok(Some(endpoint)) => Ok(EndpointCreation::Created(Box::new(endpoint))),
            Ok(None) => Err(StoreError::Decode(
                "CREATE webhook_endpoint returned nothing".into(),
            )),
            Err(StoreError::Query(message)) if message.contains("sigil-webhook:limit") => {
                Ok(EndpointCreation::LimitReached)
            }
            Err(error) => Err(error),
        }
    }

    /// The owner's active endpoints, oldest first.
    pub async fn webhook_endpoints(
        &self,
        scope: &TenantScope,
        owner: &str,
    ) -> Result<Vec<WebhookEndpoint>> {
        self.rows(
            "SELECT * FROM webhook_endpoint WHERE tenant = $tenant AND owner = $owner AND active = true \
             ORDER BY created_at, uid;",
            json!({ "tenant": scope.tenant(), "owner": owner }),
        )
        .await
    }

    /// One of the owner's endpoints, active or not.
    pub async fn webhook_endpoint(
        &self,
        scope: &TenantScope,
        owner: &str,
        uid: &str,
    ) -> Result<Option<WebhookEndpoint>> {
        self.first(
            "SELECT * FROM webhook_endpoint WHERE tenant = $tenant AND owner = $owner AND uid = $uid LIMIT 1;",
            json!({ "tenant": scope.tenant(), "owner": owner, "uid": uid }),
        )
        .await
    }

    /// An endpoint by id, whatever its tenant: the dispatcher's read (it acts for the daemon).
    pub async fn webhook_endpoint_any_tenant(&self, uid: &str) -> Result<Option<WebhookEndpoint>> {
        self.first(
            "SELECT * FROM type::record('webhook_endpoint', $uid);",
            json!({ "uid": uid }),
        )
        .await
    }

    /// Deactivates an endpoint and fails its pending deliveries, in one transaction. `Ok(false)` when the owner
    /// has no such active endpoint. A delivery in flight finishes its attempt; it is failed when next claimed.
    pub async fn deactivate_webhook_endpoint(
        &self,
        scope: &TenantScope,
        owner: &str,
        uid: &str,
    ) -> Result<bool> {
        let sql = "BEGIN TRANSACTION;\
             LET $done = (UPDATE webhook_endpoint SET active = false WHERE tenant = $tenant AND owner = $owner \
                 AND uid = $uid AND active = true RETURN AFTER);\
             IF array::len($done) = 0 { THROW 'sigil-webhook:not-active' };\
             UPDATE webhook_delivery SET state = 'failed', last_error = 'endpoint deleted' \
                 WHERE endpoint = $uid AND state = 'pending';\
             COMMIT TRANSACTION;";
        let vars = json!({ "tenant": scope.tenant(), "owner": owner, "uid": uid });
        match self.run(sql, vars).await {
            Ok(_) => Ok(true),
            Err(StoreError::Query(message)) if message.contains("sigil-webhook:not-active") => {
                Ok(false)
            }
            Err(error) => Err(error),
        }
    }

    /// Deactivates the endpoints of one surface created before `before` (Unix ms), whatever the tenant: a
    /// signing request's callback endpoint (surface `connect`) is one per request and has nothing left to
    /// deliver once the request's day of retries is over. Returns how many. Deliberately cross-tenant, like
    /// every sweep.
    pub async fn retire_endpoints_all_tenants(&self, surface: &str, before: i64) -> Result<usize> {
        let rows: Vec<Value> = self
            .rows(
                "UPDATE webhook_endpoint SET active = false WHERE surface = $surface AND active = true \
                 AND created_at < $before RETURN uid;",
                json!({ "surface": surface, "before": before }),
            )
            .await?;
        Ok(rows.len())
    }

    /// Records an event on its own (callers that change state should put
    /// [`NewOutboxEvent::create_statement`] into their own transaction instead).
    pub async fn enqueue_event(&self, event: &NewOutboxEvent) -> Result<()> {
        let (statement, value) = event.create_statement("event");
        self.run(&statement, json!({ "event": value }))
            .await
            .map(|_| ())
    }

    /// Events not yet fanned out and created at `since` (Unix ms) or later, oldest first, of every tenant: the
    /// dispatcher's work list. The lower bound lets the index scan start past the entries of events already
    /// fanned out, which the store keeps as deletion markers until it compacts them: without it every poll
    /// stepped over all of them, and grew slower with every event.
    pub async fn new_events_all_tenants(
        &self,
        limit: usize,
        since: i64,
    ) -> Result<Vec<OutboxEvent>> {
        self.rows(
            "SELECT uid, tenant, owner, topic, body, signature, created_at FROM outbox_event WHERE fanned_out = false \
             AND created_at >= $since ORDER BY created_at LIMIT $limit;",
            json!({ "limit": limit as i64, "since": since }),
        )
        .await
    }

    /// Turns an event into one pending delivery per active endpoint of its owner subscribed to its topic (at
    /// this moment), and marks it fanned out, in one transaction. Idempotent: delivery ids are derived from the
    /// event and endpoint ids, and existing ones are left alone. Returns the deliveries created or found.
    pub async fn fan_out_event_all_tenants(&self, event: &OutboxEvent, now: i64) -> Result<usize> {
        #[derive(Deserialize)]
        struct Target {
            uid: String,
        }
        let targets: Vec<Target> = self
            .rows(
                "SELECT uid FROM webhook_endpoint WHERE tenant = $tenant AND owner = $owner AND active = true \
                 AND events CONTAINS $topic;",
                json!({ "tenant": event.tenant, "owner": event.owner, "topic": event.topic }),
            )
            .await?;
        let rows: Vec<Value> = targets
            .iter()
            .map(|target| {
                let uid = delivery_id(&event.uid, &target.uid);
                json!({
                    "id": uid, "uid": uid, "tenant": event.tenant, "owner": event.owner, "event": event.uid,
                    "endpoint": target.uid, "topic": event.topic, "state": "pending", "attempts": 0,
                    "next_attempt_at": now, "lease_until": 0, "event_created_at": event.created_at,
                    "created_at": now,
                })
            })
            .collect();
        let sql = if rows.is_empty() {
            "UPDATE type::record('outbox_event', $event) SET fanned_out = true;"
        } else {
            "BEGIN TRANSACTION;\
             INSERT IGNORE INTO webhook_delivery $rows;\
             UPDATE type::record('outbox_event', $event) SET fanned_out = true;\
             COMMIT TRANSACTION;"
        };
        let count = rows.len();
        self.run(sql, json!({ "rows": rows, "event": event.uid }))
            .await?;
        Ok(count)
    }

    /// Claims up to `limit` deliveries of every tenant that are due at `now` (pending and due, or delivering
    /// under an expired lease) for `node` until `now + lease_ms`. The update re-checks the condition on each
    /// row, and concurrent claims of one row conflict (the loser's retry then finds it taken), so a row is held
    /// by one node at a time.
    pub async fn claim_due_deliveries_all_tenants(
        &self,
        node: &str,
        now: i64,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<WebhookDelivery>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let sql = format!(
            "LET $due = (SELECT id, next_attempt_at FROM webhook_delivery WHERE {DUE} \
                 ORDER BY next_attempt_at LIMIT $limit);\
             UPDATE $due.id SET state = 'delivering', lease_owner = $node, lease_until = $until \
                 WHERE {DUE} RETURN AFTER;"
        );
        let vars =
            json!({ "now": now, "until": now + lease_ms, "node": node, "limit": limit as i64 });
        self.rows(&sql, vars).await
    }

    /// Gives back the deliveries `node` was delivering when it stopped: at start, a node's own leases can only
    /// be its crashed predecessor's (node names are unique among running nodes), so they need not wait out
    /// their lease. Returns how many. Deliberately cross-tenant, like every dispatcher operation.
    pub async fn release_delivery_leases_of_node_all_tenants(
        &self,
        node: &str,
        now: i64,
    ) -> Result<usize> {
        let rows: Vec<Value> = self
            .rows(
                "UPDATE webhook_delivery SET state = 'pending', next_attempt_at = $now, lease_owner = NONE, \
                 lease_until = 0 WHERE state = 'delivering' AND lease_owner = $node RETURN AFTER;",
                json!({ "node": node, "now": now }),
            )
            .await?;
        Ok(rows.len())
    }

    /// The event a delivery carries, whatever its tenant: the dispatcher's read.
    pub async fn outbox_event_any_tenant(&self, uid: &str) -> Result<Option<OutboxEvent>> {
        self.first(
            "SELECT uid, tenant, owner, topic, body, signature, created_at FROM type::record('outbox_event', $uid);",
            json!({ "uid": uid }),
        )
        .await
    }

    /// Records an attempt and, if `node` still holds the delivery's lease, moves the delivery on to `outcome`,
    /// in one transaction. The attempt is recorded even when the lease was lost (it happened). Returns whether
    /// the delivery was updated.
    pub async fn finish_delivery_attempt_all_tenants(
        &self,
        delivery: &WebhookDelivery,
        node: &str,
        attempt: &WebhookAttempt,
        outcome: AttemptOutcome,
    ) -> Result<bool> {
        let (state, next) = match outcome {
            AttemptOutcome::Delivered => ("delivered", 0),
            AttemptOutcome::RetryAt(at) => ("pending", at),
            AttemptOutcome::Failed => ("failed", 0),
        };
        let sql = "BEGIN TRANSACTION;\
             CREATE webhook_attempt CONTENT { delivery: $uid, tenant: $tenant, node: $node, at: $at, \
                 status: $status, error: $error, duration_ms: $duration };\
             UPDATE type::record('webhook_delivery', $uid) SET attempts += 1, state = $state, \
                 next_attempt_at = $next, lease_owner = NONE, lease_until = 0, last_status = $status, \
                 last_error = $error WHERE state = 'delivering' AND lease_owner = $node RETURN AFTER;\
             COMMIT TRANSACTION;";
        let vars = without_nulls(json!({
            "uid": delivery.uid, "tenant": delivery.tenant, "node": node, "at": attempt.at,
            "status": attempt.status, "error": attempt.error, "duration": attempt.duration_ms,
            "state": state, "next": next,
        }));
        // BEGIN and COMMIT answer NONE: the UPDATE's rows are the last real result.
        let results = self.run(sql, vars).await?;
        let last = results.into_iter().rev().find(|value| !value.is_null());
        let updated: Vec<Value> = super::decode_rows(last.unwrap_or(Value::Null))?;
        Ok(!updated.is_empty())
    }

    /// Fails a claimed delivery without an attempt (its endpoint or event is gone), if `node` holds it.
    pub async fn abandon_delivery_all_tenants(
        &self,
        delivery: &WebhookDelivery,
        node: &str,
        reason: &str,
    ) -> Result<()> {
        self.run(
            "UPDATE type::record('webhook_delivery', $uid) SET state = 'failed', lease_owner = NONE, \
             lease_until = 0, last_error = $reason WHERE state = 'delivering' AND lease_owner = $node;",
            json!({ "uid": delivery.uid, "node": node, "reason": reason }),
        )
        .await
        .map(|_| ())
    }

    /// The deliveries to one of the owner's endpoints, newest first, with the total.
    pub async fn webhook_deliveries(
        &self,
        scope: &TenantScope,
        owner: &str,
        endpoint: &str,
        window: Window,
    ) -> Result<(Vec<WebhookDelivery>, u64)> {
        let vars = json!({ "tenant": scope.tenant(), "owner": owner, "endpoint": endpoint,
                           "limit": window.limit as i64, "offset": window.offset as i64 });
        let total = self
            .count(
                "SELECT count() FROM webhook_delivery WHERE tenant = $tenant AND owner = $owner \
                 AND endpoint = $endpoint GROUP ALL;",
                vars.clone(),
            )
            .await?;
        let rows = self
            .rows(
                "SELECT * FROM webhook_delivery WHERE tenant = $tenant AND owner = $owner \
                 AND endpoint = $endpoint ORDER BY created_at DESC, uid DESC LIMIT $limit START $offset;",
                vars,
            )
            .await?;
        Ok((rows, total))
    }

    /// One delivery to one of the owner's endpoints.
    pub async fn webhook_delivery(
        &self,
        scope: &TenantScope,
        owner: &str,
        endpoint: &str,
        uid: &str,
    ) -> Result<Option<WebhookDelivery>> {
        self.first(
            "SELECT * FROM webhook_delivery WHERE tenant = $tenant AND owner = $owner AND endpoint = $endpoint \
             AND uid = $uid LIMIT 1;",
            json!({ "tenant": scope.tenant(), "owner": owner, "endpoint": endpoint, "uid": uid }),
        )
        .await
    }

    /// The attempts of some of the tenant's deliveries, oldest first.
    pub async fn webhook_attempts(
        &self,
        scope: &TenantScope,
        deliveries: &[String],
    ) -> Result<Vec<WebhookAttempt>> {
        if deliveries.is_empty() {
            return Ok(Vec::new());
        }
        self.rows(
            "SELECT delivery, at, status, error, duration_ms FROM webhook_attempt WHERE tenant = $tenant \
             AND delivery IN $deliveries ORDER BY at;",
            json!({ "tenant": scope.tenant(), "deliveries": deliveries }),
        )
        .await
    }

    /// Queues a delivery again at `now`: state pending, attempts kept. A delivery in flight is left as it is
    /// (it is being delivered). `Ok(None)` when the owner has no such delivery at that endpoint.
    pub async fn redeliver_webhook_delivery(
        &self,
        scope: &TenantScope,
        owner: &str,
        endpoint: &str,
        uid: &str,
        now: i64,
    ) -> Result<Option<WebhookDelivery>> {
        let sql = "UPDATE webhook_delivery SET state = 'pending', next_attempt_at = $now, lease_owner = NONE, \
                       lease_until = 0 \
                   WHERE tenant = $tenant AND owner = $owner AND endpoint = $endpoint AND uid = $uid \
                       AND state != 'delivering';\
                   SELECT * FROM webhook_delivery WHERE tenant = $tenant AND owner = $owner \
                       AND endpoint = $endpoint AND uid = $uid LIMIT 1;";
        self.first(
            sql,
            json!({ "tenant": scope.tenant(), "owner": owner, "endpoint": endpoint, "uid": uid, "now": now }),
        )
        .await
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

    fn endpoint(uid: &str, owner: &str, events: &[&str]) -> NewWebhookEndpoint {
        NewWebhookEndpoint {
            uid: uid.into(),
            owner: owner.into(),
            surface: "sigilum".into(),
            url: "https://example.org/hook".into(),
            events: events.iter().map(|e| e.to_string()).collect(),
            secret_enc: "enc:v1:AAAA".into(),
            auth_header: None,
            auth_value_enc: None,
        }
    }

    #[tokio::test]
    async fn only_old_endpoints_of_the_surface_are_retired() {
        let store = memory_store().await;
        let mut callback = endpoint("wh_cb", "signing_request:sr_1", &["signing_request.result"]);
        callback.surface = "connect".into();
        store
            .create_webhook_endpoint(&scope("t1"), &callback, 5)
            .await
            .unwrap();
        store
            .create_webhook_endpoint(&scope("t2"), &endpoint("wh_keep", "service:s", &["a"]), 5)
            .await
            .unwrap();
        // Nothing is older than an hour ago.
        assert_eq!(
            store
                .retire_endpoints_all_tenants("connect", now_ms() - 3_600_000)
                .await
                .unwrap(),
            0
        );
        // Everything is older than the future: only the connect endpoint goes, whatever its tenant.
        assert_eq!(
            store
                .retire_endpoints_all_tenants("connect", now_ms() + 1_000)
                .await
                .unwrap(),
            1
        );
        let callback = store
            .webhook_endpoint_any_tenant("wh_cb")
            .await
            .unwrap()
            .unwrap();
        assert!(!callback.active);
        let kept = store
            .webhook_endpoint_any_tenant("wh_keep")
            .await
            .unwrap()
            .unwrap();
        assert!(kept.active);
    }

    fn event(tenant: &str, owner: &str, topic: &str) -> NewOutboxEvent {
        NewOutboxEvent {
            id: NewOutboxEvent::new_id(),
            tenant: TenantId::new(tenant),
            owner: owner.into(),
            topic: topic.into(),
            body: format!(r#"{{"event":"{topic}","n":1}}"#),
            signature: None,
        }
    }

    async fn created(
        store: &Store,
        scope: &TenantScope,
        new: &NewWebhookEndpoint,
    ) -> WebhookEndpoint {
        match store.create_webhook_endpoint(scope, new, 5).await.unwrap() {
            EndpointCreation::Created(endpoint) => *endpoint,
            EndpointCreation::LimitReached => panic!("limit reached"),
        }
    }

    #[test]
    fn ids_have_their_shapes() {
        let id = NewOutboxEvent::new_id();
        assert!(id.starts_with("evt_") && id.len() == 36, "{id}");
        assert!(id[4..].bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(id, NewOutboxEvent::new_id());
        assert_eq!(delivery_id("evt_a", "wh_b"), delivery_id("evt_a", "wh_b"));
        assert_ne!(delivery_id("evt_a", "wh_b"), delivery_id("evt_a", "wh_c"));
        assert_eq!(delivery_id("evt_a", "wh_b").len(), 36);
    }

    #[tokio::test]
    async fn endpoints_are_scoped_limited_and_deactivated() {
        let store = memory_store().await;
        let (a, b) = (scope("t-a"), scope("t-b"));
        let mut one = endpoint("wh_0000000000000001", "service:s1", &["x"]);
        one.auth_header = Some("Authorization".into());
        one.auth_value_enc = Some("enc:v1:BBBB".into());
        let first = created(&store, &a, &one).await;
        assert_eq!(first.tenant, "t-a");
        assert!(first.active);
        assert_eq!(first.auth_header.as_deref(), Some("Authorization"));
        for n in 2..=5 {
            created(
                &store,
                &a,
                &endpoint(&format!("wh_000000000000000{n}"), "service:s1", &["x"]),
            )
            .await;
        }
        let sixth = store
            .create_webhook_endpoint(
                &a,
                &endpoint("wh_0000000000000006", "service:s1", &["x"]),
                5,
            )
            .await
            .unwrap();
        assert!(matches!(sixth, EndpointCreation::LimitReached));
        // Another owner, and the same owner name in another tenant, have their own limits.
        created(
            &store,
            &a,
            &endpoint("wh_00000000000000a1", "service:s2", &["x"]),
        )
        .await;
        created(
            &store,
            &b,
            &endpoint("wh_00000000000000b1", "service:s1", &["x"]),
        )
        .await;

        assert_eq!(
            store
                .webhook_endpoints(&a, "service:s1")
                .await
                .unwrap()
                .len(),
            5
        );
        assert_eq!(
            store
                .webhook_endpoints(&b, "service:s1")
                .await
                .unwrap()
                .len(),
            1
        );
        assert!(
            store
                .webhook_endpoint(&b, "service:s1", &first.uid)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            !store
                .deactivate_webhook_endpoint(&b, "service:s1", &first.uid)
                .await
                .unwrap()
        );
        assert!(
            store
                .deactivate_webhook_endpoint(&a, "service:s1", &first.uid)
                .await
                .unwrap()
        );
        assert!(
            !store
                .deactivate_webhook_endpoint(&a, "service:s1", &first.uid)
                .await
                .unwrap()
        );
        assert_eq!(
            store
                .webhook_endpoints(&a, "service:s1")
                .await
                .unwrap()
                .len(),
            4
        );
        assert!(
            !store
                .webhook_endpoint(&a, "service:s1", &first.uid)
                .await
                .unwrap()
                .unwrap()
                .active
        );
        // A slot is free again.
        created(
            &store,
            &a,
            &endpoint("wh_0000000000000007", "service:s1", &["x"]),
        )
        .await;
    }

    #[tokio::test]
    async fn an_event_exists_only_if_its_transaction_commits() {
        let store = memory_store().await;
        let kept = event("t-a", "service:s1", "x");
        let (statement, value) = kept.create_statement("evt");
        store
            .run(
                &format!("BEGIN TRANSACTION; {statement} COMMIT TRANSACTION;"),
                json!({ "evt": value }),
            )
            .await
            .unwrap();
        let dropped = event("t-a", "service:s1", "x");
        let (statement, value) = dropped.create_statement("evt");
        let failed = store
            .run(
                &format!(
                    "BEGIN TRANSACTION; {statement} THROW 'the change failed'; COMMIT TRANSACTION;"
                ),
                json!({ "evt": value }),
            )
            .await;
        assert!(failed.is_err());
        let new = store.new_events_all_tenants(10, 0).await.unwrap();
        assert_eq!(new.len(), 1);
        assert_eq!(new[0].uid, kept.id);
        assert_eq!(new[0].body, kept.body);
        assert!(
            store
                .outbox_event_any_tenant(&dropped.id)
                .await
                .unwrap()
                .is_none()
        );
    }

    #[tokio::test]
    async fn fan_out_follows_subscriptions_and_is_idempotent() {
        let store = memory_store().await;
        let a = scope("t-a");
        let subscribed = created(
            &store,
            &a,
            &endpoint("wh_0000000000000001", "service:s1", &["x", "y"]),
        )
        .await;
        created(
            &store,
            &a,
            &endpoint("wh_0000000000000002", "service:s1", &["y"]),
        )
        .await;
        created(
            &store,
            &a,
            &endpoint("wh_0000000000000003", "service:other", &["x"]),
        )
        .await;
        created(
            &store,
            &scope("t-b"),
            &endpoint("wh_0000000000000004", "service:s1", &["x"]),
        )
        .await;
        let new = event("t-a", "service:s1", "x");
        store.enqueue_event(&new).await.unwrap();
        let recorded = store.new_events_all_tenants(10, 0).await.unwrap().remove(0);
        assert_eq!(
            store
                .fan_out_event_all_tenants(&recorded, 1_000)
                .await
                .unwrap(),
            1
        );
        assert!(
            store
                .new_events_all_tenants(10, 0)
                .await
                .unwrap()
                .is_empty()
        );
        // A re-run after a crash between the two steps creates nothing new.
        store
            .fan_out_event_all_tenants(&recorded, 2_000)
            .await
            .unwrap();
        let (deliveries, total) = store
            .webhook_deliveries(
                &a,
                "service:s1",
                &subscribed.uid,
                Window {
                    offset: 0,
                    limit: 10,
                },
            )
            .await
            .unwrap();
        assert_eq!(total, 1);
        assert_eq!(deliveries[0].uid, delivery_id(&new.id, &subscribed.uid));
        assert_eq!(deliveries[0].state, "pending");
        assert_eq!(deliveries[0].created_at, 1_000);
        assert_eq!(deliveries[0].topic, "x");
        // Another tenant does not see it.
        let (none, _) = store
            .webhook_deliveries(
                &scope("t-b"),
                "service:s1",
                &subscribed.uid,
                Window {
                    offset: 0,
                    limit: 10,
                },
            )
            .await
            .unwrap();
        assert!(none.is_empty());
    }

    async fn one_pending_delivery(store: &Store) -> (TenantScope, WebhookEndpoint, NewOutboxEvent) {
        let a = scope("t-a");
        let target = created(
            store,
            &a,
            &endpoint("wh_0000000000000001", "service:s1", &["x"]),
        )
        .await;
        let new = event("t-a", "service:s1", "x");
        store.enqueue_event(&new).await.unwrap();
        for recorded in store.new_events_all_tenants(10, 0).await.unwrap() {
            store
                .fan_out_event_all_tenants(&recorded, 1_000)
                .await
                .unwrap();
        }
        (a, target, new)
    }

    #[tokio::test]
    async fn two_claimers_one_winner_and_an_expired_lease_is_taken_over() {
        let store = memory_store().await;
        let (a, target, _) = one_pending_delivery(&store).await;
        let (first, second) = tokio::join!(
            store.claim_due_deliveries_all_tenants("node-a", 1_000, 1_000, 8),
            store.claim_due_deliveries_all_tenants("node-b", 1_000, 1_000, 8),
        );
        let (first, second) = (first.unwrap(), second.unwrap());
        assert_eq!(first.len() + second.len(), 1, "{first:?} {second:?}");
        let (winner, loser) = if first.is_empty() {
            ("node-b", "node-a")
        } else {
            ("node-a", "node-b")
        };
        let claimed = first.into_iter().chain(second).next().unwrap();
        assert_eq!(claimed.state, "delivering");
        assert_eq!(claimed.lease_owner.as_deref(), Some(winner));
        assert_eq!(claimed.lease_until, 2_000);
        // Not due before its lease ends...
        assert!(
            store
                .claim_due_deliveries_all_tenants(loser, 1_999, 1_000, 8)
                .await
                .unwrap()
                .is_empty()
        );
        // ...then taken over.
        let taken = store
            .claim_due_deliveries_all_tenants(loser, 2_000, 1_000, 8)
            .await
            .unwrap();
        assert_eq!(taken.len(), 1);
        assert_eq!(taken[0].lease_owner.as_deref(), Some(loser));
        // The first node's late result is recorded as an attempt but does not move the delivery.
        let late = WebhookAttempt {
            delivery: claimed.uid.clone(),
            at: 1_500,
            status: Some(200),
            error: None,
            duration_ms: 5,
        };
        assert!(
            !store
                .finish_delivery_attempt_all_tenants(
                    &claimed,
                    winner,
                    &late,
                    AttemptOutcome::Delivered
                )
                .await
                .unwrap()
        );
        let failed = WebhookAttempt {
            delivery: claimed.uid.clone(),
            at: 2_100,
            status: Some(500),
            error: Some("HTTP 500".into()),
            duration_ms: 7,
        };
        assert!(
            store
                .finish_delivery_attempt_all_tenants(
                    &taken[0],
                    loser,
                    &failed,
                    AttemptOutcome::RetryAt(9_000)
                )
                .await
                .unwrap()
        );
        let now = store
            .webhook_delivery(&a, "service:s1", &target.uid, &claimed.uid)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (now.state.as_str(), now.attempts, now.next_attempt_at),
            ("pending", 1, 9_000)
        );
        assert_eq!(
            (now.last_status, now.last_error.as_deref()),
            (Some(500), Some("HTTP 500"))
        );
        assert!(now.lease_owner.is_none());
        let attempts = store
            .webhook_attempts(&a, std::slice::from_ref(&claimed.uid))
            .await
            .unwrap();
        assert_eq!(
            attempts.iter().map(|t| t.at).collect::<Vec<_>>(),
            [1_500, 2_100]
        );
        // Not due until 9 000.
        assert!(
            store
                .claim_due_deliveries_all_tenants("node-c", 8_999, 1_000, 8)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            store
                .claim_due_deliveries_all_tenants("node-c", 9_000, 1_000, 8)
                .await
                .unwrap()
                .len(),
            1
        );
    }

    #[tokio::test]
    async fn delivered_then_redelivered_keeps_attempts_and_deleting_the_endpoint_stops_pending_ones()
     {
        let store = memory_store().await;
        let (a, target, _) = one_pending_delivery(&store).await;
        let claimed = store
            .claim_due_deliveries_all_tenants("n", 1_000, 1_000, 8)
            .await
            .unwrap()
            .remove(0);
        let ok = WebhookAttempt {
            delivery: claimed.uid.clone(),
            at: 1_100,
            status: Some(204),
            error: None,
            duration_ms: 1,
        };
        assert!(
            store
                .finish_delivery_attempt_all_tenants(&claimed, "n", &ok, AttemptOutcome::Delivered)
                .await
                .unwrap()
        );
        assert!(
            store
                .claim_due_deliveries_all_tenants("n", 99_000, 1_000, 8)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            store
                .redeliver_webhook_delivery(
                    &scope("t-b"),
                    "service:s1",
                    &target.uid,
                    &claimed.uid,
                    5_000
                )
                .await
                .unwrap()
                .is_none()
        );
        let again = store
            .redeliver_webhook_delivery(&a, "service:s1", &target.uid, &claimed.uid, 5_000)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (again.state.as_str(), again.attempts, again.next_attempt_at),
            ("pending", 1, 5_000)
        );
        assert!(
            store
                .deactivate_webhook_endpoint(&a, "service:s1", &target.uid)
                .await
                .unwrap()
        );
        let stopped = store
            .webhook_delivery(&a, "service:s1", &target.uid, &claimed.uid)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stopped.state, "failed");
        assert_eq!(stopped.last_error.as_deref(), Some("endpoint deleted"));
        assert!(
            store
                .claim_due_deliveries_all_tenants("n", 99_000, 1_000, 8)
                .await
                .unwrap()
                .is_empty()
        );
    }
}
