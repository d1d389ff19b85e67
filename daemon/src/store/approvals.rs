//! Approval requests of every kind (agent claims now; device challenges, multi-party approvals and signing
//! requests next): the request rows, their audit trail, the node leases that say which daemon holds a live
//! request's timer, and the signature nonces that make replays detectable across nodes and restarts.
//!
//! A request's state changes only by compare-and-set on its `version`, inside one transaction that also writes
//! its audit record and whatever statements the caller adds (the webhook outbox events), so two deciders cannot
//! both win and an event exists exactly when its change does.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{Result, Store, StoreError, Window, strip_nulls};
use crate::ids::{ApprovalId, TenantId, TenantScope};

/// Where a request is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApprovalState {
    /// Waiting for a decision.
    Pending,
    /// Approved (by a person or a policy).
    Approved,
    /// Rejected (by a person or a policy).
    Rejected,
    /// Not decided in time.
    Expired,
    /// Approved once, withdrawn since.
    Revoked,
}

impl std::fmt::Display for ApprovalState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl ApprovalState {
    /// The wire and store name.
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalState::Pending => "pending",
            ApprovalState::Approved => "approved",
            ApprovalState::Rejected => "rejected",
            ApprovalState::Expired => "expired",
            ApprovalState::Revoked => "revoked",
        }
    }

    /// Parses a wire name.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "pending" => ApprovalState::Pending,
            "approved" => ApprovalState::Approved,
            "rejected" => ApprovalState::Rejected,
            "expired" => ApprovalState::Expired,
            "revoked" => ApprovalState::Revoked,
            _ => return None,
        })
    }

    /// Whether the request still counts (waiting, or granted): a resubmission of an active request returns it.
    pub fn is_active(self) -> bool {
        matches!(self, ApprovalState::Pending | ApprovalState::Approved)
    }
}

/// Who made a decision.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DecidedBy {
    /// `user`, `policy` or `timer`.
    pub actor: String,
    /// The user id, or the policy's name.
    #[serde(default)]
    pub id: Option<String>,
    /// The reason given (a person's optional words, a policy's reason code).
    #[serde(default)]
    pub reason: Option<String>,
}

impl DecidedBy {
    /// A person's decision.
    pub fn user(user: &str, reason: Option<String>) -> Self {
        Self {
            actor: "user".into(),
            id: Some(user.into()),
            reason,
        }
    }

    /// A policy's decision, with its reason code (`agent_limit_reached`, `trusted_service`, ...).
    pub fn policy(name: &str, reason: &str) -> Self {
        Self {
            actor: "policy".into(),
            id: Some(name.into()),
            reason: Some(reason.into()),
        }
    }

    /// The expiry timer.
    pub fn timer() -> Self {
        Self {
            actor: "timer".into(),
            id: None,
            reason: Some("expired".into()),
        }
    }
}

/// A stored approval request.
#[derive(Debug, Clone, Deserialize)]
pub struct Approval {
    /// Its id (for agent claims, the claim id).
    pub uid: ApprovalId,
    /// `agent_claim`, later `device_challenge`, `multi_party`, `signing_request`.
    pub kind: String,
    /// The tenant whose people decide it.
    pub tenant: TenantId,
    /// The uniqueness key within its kind (one live request per slot).
    pub slot: String,
    /// The grouping the limits count in (for a claim: the namespace).
    pub realm: String,
    /// The requesting party (for a claim: the service slug).
    pub party: String,
    /// What is to be approved (for a claim: the agent's public key).
    pub principal: String,
    /// Current state.
    pub state: ApprovalState,
    /// Kind-specific fields.
    #[serde(default)]
    pub payload: Map<String, Value>,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds.
    pub updated_at: i64,
    /// When a pending request expires, unix milliseconds; none for requests that never expire.
    #[serde(default)]
    pub expires_at: Option<i64>,
    /// When it was decided, unix milliseconds.
    #[serde(default)]
    pub decided_at: Option<i64>,
    /// Who decided it.
    #[serde(default)]
    pub decided_by: Option<DecidedBy>,
    /// When an approval was granted (kept after a revocation), unix milliseconds.
    #[serde(default)]
    pub approved_at: Option<i64>,
    /// When it was revoked, unix milliseconds.
    #[serde(default)]
    pub revoked_at: Option<i64>,
    /// The node that holds its timer while it is pending.
    #[serde(default)]
    pub owner_node: Option<String>,
    /// Bumped by every change; the compare-and-set token.
    pub version: i64,
}

/// A live request as the timers need it.
#[derive(Debug, Clone, Deserialize)]
pub struct LiveApproval {
    /// Id.
    pub uid: ApprovalId,
    /// When it expires, unix milliseconds.
    #[serde(default)]
    pub expires_at: Option<i64>,
}

/// A new request, or a fresh one in the slot of a finished one.
#[derive(Debug, Clone)]
pub struct NewApproval {
    /// Id.
    pub uid: ApprovalId,
    /// Kind.
    pub kind: &'static str,
    /// Slot.
    pub slot: String,
    /// Realm.
    pub realm: String,
    /// Party.
    pub party: String,
    /// Principal.
    pub principal: String,
    /// Initial state: pending, or decided at once by a policy.
    pub state: ApprovalState,
    /// Set when a policy decided at submission.
    pub decided_by: Option<DecidedBy>,
    /// For a pending request.
    pub expires_at: Option<i64>,
    /// Kind-specific fields.
    pub payload: Map<String, Value>,
    /// The node that will hold its timer.
    pub owner_node: Option<String>,
}

/// Statements to run in the same transaction as a state change (outbox events), each with its bound value.
#[derive(Debug, Clone, Default)]
pub struct Companions {
    statements: Vec<(String, Value)>,
}

impl Companions {
    /// No companion statements.
    pub fn none() -> Self {
        Self::default()
    }

    /// Adds a statement that refers only to the bound variable `$<var>`, bound to `value`. Use
    /// [`Companions::next_var`] for the name.
    pub fn push(&mut self, statement: String, value: Value) {
        self.statements.push((statement, value));
    }

    /// The variable name the next statement must use.
    pub fn next_var(&self) -> String {
        format!("companion{}", self.statements.len())
    }

    fn render(&self, vars: &mut Map<String, Value>) -> String {
        let mut sql = String::new();
        for (index, (statement, value)) in self.statements.iter().enumerate() {
            vars.insert(format!("companion{index}"), value.clone());
            sql.push_str(statement.trim_end_matches(';'));
            sql.push_str(";\n");
        }
        sql
    }
}

/// The optimistic lock of a realm: decisions that depend on its counts (limits) name the version they read, and
/// the write fails with [`StoreError::Conflict`]`("stale")` when another change of the realm came first.
#[derive(Debug, Clone)]
pub struct RealmGuard {
    /// `<kind>:<realm>`.
    pub key: String,
    /// The version read with the counts.
    pub seen: i64,
}

/// Counts of one realm, read together with its version.
#[derive(Debug, Clone, Default)]
pub struct RealmCounts {
    /// The realm's version when counted.
    pub version: i64,
    /// Pending requests in the realm, counted up to the cap the caller gave.
    pub pending: u64,
    /// Approved requests of the given party.
    pub approved_for_party: u64,
    /// Distinct parties with an approved request.
    pub approved_parties: Vec<String>,
}

/// How a submission went.
#[derive(Debug, Clone)]
pub enum Submitted {
    /// A new request (or a fresh one in a finished request's slot).
    Created(Box<Approval>),
    /// The slot already holds an active request, which is returned unchanged.
    Existing(Box<Approval>),
}

const STALE: &str = "sigil:stale";
const ACTIVE: &str = "sigil:active";
const STATE: &str = "sigil:state";

fn thrown(error: &StoreError, tag: &str) -> bool {
    matches!(error, StoreError::Query(message) if message.contains(tag))
}

/// Now, in unix milliseconds.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn guard_sql(guard: Option<&RealmGuard>, vars: &mut Map<String, Value>) -> &'static str {
    match guard {
        Some(guard) => {
            vars.insert("realm_key".into(), json!(guard.key));
            vars.insert("realm_seen".into(), json!(guard.seen));
            "LET $realm = (SELECT version FROM type::record('approval_realm', $realm_key));\
             IF (($realm[0].version) ?? 0) != $realm_seen { THROW 'sigil:stale' };\
             UPSERT type::record('approval_realm', $realm_key) SET version = $realm_seen + 1;"
        }
        None => "",
    }
}

impl Store {
    /// Submits a request into its slot: created when the slot is empty or holds a finished request (which it
    /// replaces, keeping its audit trail), [`Submitted::Existing`] when the slot holds an active one.
    /// The audit record and `companions` commit with it.
    pub async fn submit_approval(
        &self,
        scope: &TenantScope,
        new: &NewApproval,
        guard: Option<&RealmGuard>,
        companions: &Companions,
    ) -> Result<Submitted> {
        let now = now_ms();
        let decided = new.state != ApprovalState::Pending;
        let row = json!({
            "uid": new.uid, "kind": new.kind, "tenant": scope.tenant(), "slot": new.slot,
            "realm": new.realm, "party": new.party, "principal": new.principal,
            "state": new.state.as_str(), "payload": new.payload, "created_at": now, "updated_at": now,
            "expires_at": new.expires_at, "decided_at": decided.then_some(now),
            "decided_by": new.decided_by,
            "approved_at": (new.state == ApprovalState::Approved).then_some(now),
            "revoked_at": Value::Null,
            "owner_node": if decided { None } else { new.owner_node.clone() },
            "version": 1,
        });
        let mut vars = Map::new();
        vars.insert("slot".into(), json!(format!("{}:{}", new.kind, new.slot)));
        vars.insert("row".into(), strip_nulls(row));
        vars.insert("tenant".into(), json!(scope.tenant()));
        vars.insert(
            "audit".into(),
            json!({ "approval": new.uid, "tenant": scope.tenant(), "at": now, "from": Value::Null,
                    "to": new.state.as_str(), "by": new.decided_by }),
        );
        let guard_sql = guard_sql(guard, &mut vars);
        let companions = companions.render(&mut vars);
        let sql = format!(
            "BEGIN TRANSACTION;\
             LET $old = (SELECT state, tenant FROM type::record('approval', $slot));\
             IF array::len($old) > 0 AND $old[0].state IN ['pending', 'approved'] {{ THROW '{ACTIVE}' }};\
             {guard_sql}\
             UPSERT type::record('approval', $slot) CONTENT $row;\
             CREATE approval_audit CONTENT $audit;\
             {companions}\
             COMMIT TRANSACTION;"
        );
        match self.run(&sql, Value::Object(vars)).await {
            Ok(_) => {}
            Err(error) if thrown(&error, ACTIVE) => {
                // Another submission of the same slot is active: answer it (scoped: a slot of another tenant's
                // realm is not revealed).
                let existing = self
                    .approval_in_slot(new.kind, &new.slot)
                    .await?
                    .filter(|found| found.tenant == *scope.tenant())
                    .ok_or(StoreError::Conflict(
                        "the request is held by another tenant".into(),
                    ))?;
                return Ok(Submitted::Existing(Box::new(existing)));
            }
            Err(error) if thrown(&error, STALE) => {
                return Err(StoreError::Conflict("stale".into()));
            }
            Err(error) => return Err(error),
        }
        let created = self
            .approval(scope, &new.uid)
            .await?
            .ok_or(StoreError::Decode("approval missing after submit".into()))?;
        Ok(Submitted::Created(Box::new(created)))
    }

    /// The request in a slot, whatever its tenant: a submission must see an active request of the slot before
    /// it decides anything.
    pub async fn approval_in_slot(&self, kind: &str, slot: &str) -> Result<Option<Approval>> {
        self.first(
            "SELECT * FROM type::record('approval', $slot);",
            json!({ "slot": format!("{kind}:{slot}") }),
        )
        .await
    }

    /// A request by id whatever its tenant: for the expiry timer, which acts for the request's own tenant.
    pub async fn approval_by_uid_all_tenants(&self, uid: &ApprovalId) -> Result<Option<Approval>> {
        self.first(
            "SELECT * FROM approval WHERE uid = $uid LIMIT 1;",
            json!({ "uid": uid }),
        )
        .await
    }

    /// A request of the tenant by id.
    pub async fn approval(
        &self,
        scope: &TenantScope,
        uid: &ApprovalId,
    ) -> Result<Option<Approval>> {
        self.first(
            "SELECT * FROM approval WHERE uid = $uid AND tenant = $tenant LIMIT 1;",
            json!({ "uid": uid, "tenant": scope.tenant() }),
        )
        .await
    }

    /// Moves a request from the state it had at `version` to `to` (which may be its state, to record an answer),
    /// writing `current.payload` as its payload, with its audit record and `companions`, in one transaction. [`StoreError::Conflict`]`("state")` when it changed since it was read (the caller
    /// re-reads and explains), `("stale")` when the realm guard failed.
    pub async fn transition_approval(
        &self,
        scope: &TenantScope,
        current: &Approval,
        to: ApprovalState,
        by: &DecidedBy,
        guard: Option<&RealmGuard>,
        companions: &Companions,
    ) -> Result<Approval> {
        let now = now_ms();
        let mut vars = Map::new();
        vars.insert(
            "slot".into(),
            json!(format!("{}:{}", current.kind, current.slot)),
        );
        vars.insert("uid".into(), json!(current.uid));
        vars.insert("tenant".into(), json!(scope.tenant()));
        vars.insert("version".into(), json!(current.version));
        vars.insert("to".into(), json!(to.as_str()));
        vars.insert("by".into(), serde_json::to_value(by).unwrap_or(Value::Null));
        vars.insert("now".into(), json!(now));
        vars.insert(
            "audit".into(),
            json!({ "approval": current.uid, "tenant": scope.tenant(), "at": now,
                    "from": current.state.as_str(), "to": to.as_str(), "by": by }),
        );
        // The caller's copy of the payload is written with the change (a kind may record answers in it).
        vars.insert("payload".into(), Value::Object(current.payload.clone()));
        let stamps = match to {
            // A decided request whose kind records something after the decision (a signing request's
            // result): who decided, and when, stay as they were.
            _ if to == current.state => "",
            ApprovalState::Approved => {
                "approved_at = $now, decided_at = $now, decided_by = $by, owner_node = NONE,"
            }
            ApprovalState::Revoked => "revoked_at = $now, revoked_by = $by, owner_node = NONE,",
            // Still pending (an answer recorded, a request amended): the timer's holder stays.
            ApprovalState::Pending => "",
            _ => "decided_at = $now, decided_by = $by, owner_node = NONE,",
        };
        let guard_sql = guard_sql(guard, &mut vars);
        let companions = companions.render(&mut vars);
        let sql = format!(
            "BEGIN TRANSACTION;\
             {guard_sql}\
             LET $changed = (UPDATE type::record('approval', $slot) SET state = $to, {stamps} \
                 payload = $payload, updated_at = $now, version += 1 \
                 WHERE uid = $uid AND tenant = $tenant AND version = $version RETURN AFTER);\
             IF array::len($changed) = 0 {{ THROW '{STATE}' }};\
             CREATE approval_audit CONTENT $audit;\
             {companions}\
             COMMIT TRANSACTION;"
        );
        match self.run(&sql, Value::Object(vars)).await {
            Ok(_) => {}
            Err(error) if thrown(&error, STATE) => {
                return Err(StoreError::Conflict("state".into()));
            }
            Err(error) if thrown(&error, STALE) => {
                return Err(StoreError::Conflict("stale".into()));
            }
            Err(error) => return Err(error),
        }
        self.approval(scope, &current.uid)
            .await?
            .ok_or(StoreError::Decode(
                "approval missing after transition".into(),
            ))
    }

    /// How many requests of a kind are pending in a realm of the tenant, counted up to `cap` (a limit needs to
    /// know whether it is reached, not by how much).
    pub async fn pending_in_realm(
        &self,
        scope: &TenantScope,
        kind: &str,
        realm: &str,
        cap: u64,
    ) -> Result<u64> {
        let rows: Vec<Value> = self
            .rows(
                "SELECT uid FROM approval WHERE kind = $kind AND realm = $realm AND tenant = $tenant \
                 AND state = 'pending' LIMIT $cap;",
                json!({ "kind": kind, "realm": realm, "tenant": scope.tenant(), "cap": cap.max(1) }),
            )
            .await?;
        Ok(rows.len() as u64)
    }

    /// The counts a realm's limits look at, with the realm's version for a [`RealmGuard`].
    /// Pending requests are counted only up to `pending_up_to` (a limit needs to know whether it is reached,
    /// not by how much), so the cost of a submission does not grow with a realm's backlog.
    pub async fn realm_counts(
        &self,
        scope: &TenantScope,
        kind: &str,
        realm: &str,
        party: &str,
        pending_up_to: u64,
    ) -> Result<RealmCounts> {
        #[derive(Deserialize)]
        struct Version {
            version: i64,
        }
        #[derive(Deserialize)]
        struct Party {
            party: String,
        }
        let vars = json!({ "kind": kind, "realm": realm, "party": party, "tenant": scope.tenant(),
                           "realm_key": format!("{kind}:{realm}"), "cap": pending_up_to });
        // No pending query at all when no limit asks for it: under its `LIMIT`, SurrealDB's index scan reads
        // ahead in batches, so its cost grew with the realm's backlog.
        let pending_sql = if pending_up_to == 0 {
            "RETURN [];"
        } else {
            "SELECT uid FROM approval WHERE kind = $kind AND realm = $realm AND tenant = $tenant \
                 AND state = 'pending' LIMIT $cap;"
        };
        let sql = format!(
            "SELECT version FROM type::record('approval_realm', $realm_key);\
             {pending_sql}\
             SELECT count() FROM approval WHERE kind = $kind AND realm = $realm AND tenant = $tenant \
                 AND state = 'approved' AND party = $party GROUP ALL;\
             SELECT party FROM approval WHERE kind = $kind AND realm = $realm AND tenant = $tenant \
                 AND state = 'approved' GROUP BY party;"
        );
        let mut results = self.run(&sql, vars).await?;
        let parties: Vec<Party> = super::decode_rows(results.pop().unwrap_or(Value::Null))?;
        let approved: Vec<super::CountRow> =
            super::decode_rows(results.pop().unwrap_or(Value::Null))?;
        let pending: Vec<Value> = super::decode_rows(results.pop().unwrap_or(Value::Null))?;
        let version: Vec<Version> = super::decode_rows(results.pop().unwrap_or(Value::Null))?;
        Ok(RealmCounts {
            version: version.first().map_or(0, |v| v.version),
            // Empty when nothing asked for it (`RETURN []`).
            pending: pending.len() as u64,
            approved_for_party: approved.first().map_or(0, |c| c.count),
            approved_parties: parties.into_iter().map(|p| p.party).collect(),
        })
    }

    /// Requests of one realm of the tenant, newest first, optionally filtered.
    pub async fn approvals_in_realm(
        &self,
        scope: &TenantScope,
        kind: &str,
        realm: &str,
        state: Option<ApprovalState>,
        party: Option<&str>,
        window: Window,
    ) -> Result<(Vec<Approval>, u64)> {
        let filter = "kind = $kind AND realm = $realm AND tenant = $tenant \
                      AND (!$state OR state = $state) AND (!$party OR party = $party)";
        let vars = json!({ "kind": kind, "realm": realm, "tenant": scope.tenant(),
                           "state": state.map(ApprovalState::as_str), "party": party,
                           "limit": window.limit, "start": window.offset });
        let total = self
            .count(
                &format!("SELECT count() FROM approval WHERE {filter} GROUP ALL;"),
                vars.clone(),
            )
            .await?;
        let rows = self
            .rows(
                &format!(
                    "SELECT * FROM approval WHERE {filter} ORDER BY created_at DESC, uid \
                     LIMIT $limit START $start;"
                ),
                vars,
            )
            .await?;
        Ok((rows, total))
    }

    /// Approved requests of one party across every realm and tenant, oldest approval first: the feed a
    /// party (a service) caches. Deliberately cross-tenant: the party is authenticated by its own key and sees
    /// only what was granted to it.
    pub async fn approved_for_party_all_tenants(
        &self,
        kind: &str,
        party: &str,
        window: Window,
    ) -> Result<(Vec<Approval>, u64)> {
        let vars =
            json!({ "kind": kind, "party": party, "limit": window.limit, "start": window.offset });
        let total = self
            .count(
                "SELECT count() FROM approval WHERE kind = $kind AND party = $party AND state = 'approved' \
                 GROUP ALL;",
                vars.clone(),
            )
            .await?;
        let rows = self
            .rows(
                "SELECT * FROM approval WHERE kind = $kind AND party = $party AND state = 'approved' \
                 ORDER BY approved_at, uid LIMIT $limit START $start;",
                vars,
            )
            .await?;
        Ok((rows, total))
    }

    /// Approved requests of a realm whatever the party, across tenants (a realm belongs to one tenant): the
    /// public keys a DID document lists.
    pub async fn approved_in_realm_all_tenants(
        &self,
        kind: &str,
        realm: &str,
    ) -> Result<Vec<Approval>> {
        self.rows(
            "SELECT * FROM approval WHERE kind = $kind AND realm = $realm AND state = 'approved' \
             ORDER BY approved_at, uid LIMIT 1000;",
            json!({ "kind": kind, "realm": realm }),
        )
        .await
    }

    /// Whether a realm ever had a request (a namespace without owner but with history is deactivated).
    pub async fn realm_has_history_all_tenants(&self, kind: &str, realm: &str) -> Result<bool> {
        Ok(self
            .first::<Value>(
                "SELECT uid FROM approval WHERE kind = $kind AND realm = $realm LIMIT 1;",
                json!({ "kind": kind, "realm": realm }),
            )
            .await?
            .is_some())
    }

    /// Pending requests of a kind for one principal (a device's challenges), whatever the tenant: a device
    /// polls with its own signature, and the caller keeps the tenants where it is registered.
    pub async fn pending_for_principal_all_tenants(
        &self,
        kind: &str,
        principal: &str,
    ) -> Result<Vec<Approval>> {
        self.rows(
            "SELECT * FROM approval WHERE kind = $kind AND principal = $principal AND state = 'pending' \
             ORDER BY created_at LIMIT 100;",
            json!({ "kind": kind, "principal": principal }),
        )
        .await
    }

    /// Pending multi-party requests naming a device among their members, whatever the tenant (see
    /// [`Store::pending_for_principal_all_tenants`]).
    pub async fn pending_mpa_for_member_all_tenants(
        &self,
        fingerprint: &str,
    ) -> Result<Vec<Approval>> {
        self.rows(
            "SELECT * FROM approval WHERE kind = 'mpa_request' AND state = 'pending' \
             AND $fingerprint IN payload.member_fingerprints ORDER BY created_at LIMIT 100;",
            json!({ "fingerprint": fingerprint }),
        )
        .await
    }

    /// Requests of a kind that a crash may have left half done, whatever the tenant (the recovery sweep acts
    /// for each request's own tenant): decided without a `result_body` and untouched since `quiet_since`
    /// (Unix ms). At most `limit`, oldest first.
    pub async fn unfinished_results_all_tenants(
        &self,
        kind: &str,
        quiet_since: i64,
        limit: usize,
    ) -> Result<Vec<Approval>> {
        self.rows(
            "SELECT * FROM approval WHERE kind = $kind AND state != 'pending' AND payload.result_body = NONE \
             AND updated_at < $quiet ORDER BY updated_at LIMIT $limit;",
            json!({ "kind": kind, "quiet": quiet_since, "limit": limit as i64 }),
        )
        .await
    }

    /// Forgets a nonce recorded in `scope` (the request it protected was not created after all, so a retry
    /// with it must not count as a replay).
    pub async fn forget_nonce(&self, scope: &str, nonce: &str) -> Result<()> {
        self.run(
            "DELETE type::record('nonce', $key);",
            json!({ "key": format!("{scope}/{nonce}") }),
        )
        .await
        .map(|_| ())
    }

    /// Challenges and multi-party requests decided since `since` (Unix ms) on behalf of another request
    /// (their payload names a `parent`), whatever the tenant: the recovery sweep tells their parents. At most
    /// `limit`, oldest first.
    pub async fn decided_children_all_tenants(
        &self,
        kinds: &[&str],
        since: i64,
        limit: usize,
    ) -> Result<Vec<Approval>> {
        self.rows(
            "SELECT * FROM approval WHERE kind IN $kinds AND state != 'pending' AND payload.parent != NONE \
             AND updated_at > $since ORDER BY updated_at LIMIT $limit;",
            json!({ "kinds": kinds, "since": since, "limit": limit as i64 }),
        )
        .await
    }

    /// The audit trail of a request, oldest first.
    pub async fn approval_audit(
        &self,
        scope: &TenantScope,
        uid: &ApprovalId,
    ) -> Result<Vec<Value>> {
        self.rows(
            "SELECT `at`, `from`, `to`, `by` FROM approval_audit WHERE approval = $uid AND tenant = $tenant \
             ORDER BY `at`;",
            json!({ "uid": uid, "tenant": scope.tenant() }),
        )
        .await
    }

    /// The policy a realm's owners set for a kind (its shape is the kind's), if any.
    pub async fn realm_policy(
        &self,
        scope: &TenantScope,
        kind: &str,
        realm: &str,
    ) -> Result<Option<Value>> {
        #[derive(Deserialize)]
        struct Row {
            policy: Value,
        }
        Ok(self
            .first::<Row>(
                "SELECT policy FROM type::record('approval_policy', $key) WHERE tenant = $tenant;",
                json!({ "key": format!("{kind}:{realm}"), "tenant": scope.tenant() }),
            )
            .await?
            .map(|row| row.policy))
    }

    /// Replaces a realm's policy for a kind.
    pub async fn set_realm_policy(
        &self,
        scope: &TenantScope,
        kind: &str,
        realm: &str,
        policy: &Value,
    ) -> Result<()> {
        self.run(
            "UPSERT type::record('approval_policy', $key) CONTENT { tenant: $tenant, policy: $policy, \
             updated_at: $now };",
            json!({ "key": format!("{kind}:{realm}"), "tenant": scope.tenant(), "policy": policy,
                    "now": now_ms() }),
        )
        .await
        .map(|_| ())
    }

    // ---- node leases: which daemon holds the timers of which live requests ----

    /// Records that `node` is alive until `until_ms`.
    pub async fn renew_node_lease(&self, node: &str, until_ms: i64) -> Result<()> {
        self.run(
            "UPSERT type::record('node_lease', $node) SET until = $until;",
            json!({ "node": node, "until": until_ms }),
        )
        .await
        .map(|_| ())
    }

    /// Gives up a node's lease (clean shutdown): the lease is kept, lapsed, so that another node's next
    /// [`Store::adopt_lapsed_all_tenants`] finds it and takes its requests.
    pub async fn release_node_lease(&self, node: &str) -> Result<()> {
        self.run(
            "UPSERT type::record('node_lease', $node) SET until = 0;",
            json!({ "node": node }),
        )
        .await
        .map(|_| ())
    }

    /// The nodes other than `node` whose lease is live at `now` (`live`), or lapsed (`!live`).
    async fn other_nodes(&self, node: &str, now: i64, live: bool) -> Result<Vec<String>> {
        #[derive(Deserialize)]
        struct Lease {
            node: String,
        }
        let sql = if live {
            "SELECT meta::id(id) AS node FROM node_lease WHERE until >= $now;"
        } else {
            "SELECT meta::id(id) AS node FROM node_lease WHERE until < $now;"
        };
        let leases: Vec<Lease> = self.rows(sql, json!({ "now": now })).await?;
        Ok(leases
            .into_iter()
            .map(|lease| lease.node)
            .filter(|other| other != node)
            .collect())
    }

    /// Takes over the pending requests whose holder's lease lapsed (or that have no holder), for `node`, and
    /// returns every pending request `node` now holds (id and expiry only: there may be very many).
    /// Deliberately cross-tenant: timers are a daemon's job. This reads every pending request: it is what a
    /// node does once, when it starts; the periodic check is [`Store::adopt_lapsed_all_tenants`].
    pub async fn adopt_pending_all_tenants(
        &self,
        node: &str,
        now: i64,
    ) -> Result<Vec<LiveApproval>> {
        let live = self.other_nodes(node, now, true).await?;
        // The node's own requests are not rewritten: only those of no holder, or of a holder that is not live.
        self.run(
            "UPDATE approval SET owner_node = $node \
             WHERE state = 'pending' AND (owner_node = NONE \
                 OR (owner_node != $node AND owner_node NOT IN $live));",
            json!({ "node": node, "live": live }),
        )
        .await?;
        self.rows(
            "SELECT uid, expires_at FROM approval WHERE state = 'pending' AND owner_node = $node;",
            json!({ "node": node }),
        )
        .await
    }

    /// Takes over, for `node`, the pending requests of every other node whose lease lapsed, and returns those
    /// taken (id and expiry). Its cost follows the requests taken, not the requests pending: each lapsed
    /// holder is one exact lookup in the `approval_live` index, so a live node can run it every few seconds
    /// with 100,000 requests pending. A lapsed lease that holds nothing any more is forgotten, in the same
    /// transaction, unless its node renewed it meanwhile.
    pub async fn adopt_lapsed_all_tenants(
        &self,
        node: &str,
        now: i64,
    ) -> Result<Vec<LiveApproval>> {
        let mut adopted = Vec::new();
        for lapsed in self.other_nodes(node, now, false).await? {
            let mut results = self
                .run(
                    "BEGIN TRANSACTION;\
                     IF array::len(SELECT VALUE uid FROM approval \
                             WHERE state = 'pending' AND owner_node = $lapsed LIMIT 1) = 0 { \
                         DELETE type::record('node_lease', $lapsed) WHERE until < $now };\
                     UPDATE approval SET owner_node = $node \
                         WHERE state = 'pending' AND owner_node = $lapsed RETURN uid, expires_at;\
                     COMMIT TRANSACTION;",
                    json!({ "node": node, "lapsed": lapsed, "now": now }),
                )
                .await?;
            // BEGIN and COMMIT answer NONE: the UPDATE's rows are the last real result.
            let last = results.drain(..).rev().find(|value| !value.is_null());
            let moved: Vec<LiveApproval> = super::decode_rows(last.unwrap_or(Value::Null))?;
            if !moved.is_empty() {
                tracing::info!(from = %lapsed, count = moved.len(), "took over a lapsed node's requests");
            }
            adopted.extend(moved);
        }
        Ok(adopted)
    }

    // ---- nonces: replay detection shared by nodes and restarts ----

    /// Records a nonce in its scope until `expires_ms`; `false` when it was recorded before (a replay). Durable
    /// when this returns. Concurrent calls are written together by the nonce writer (one `INSERT IGNORE`, one
    /// synced commit per batch), since every signed request records one. An expired nonce stays refused until
    /// the sweeper forgets it (within a minute): harmless, because a request old enough for its nonce to have
    /// expired is refused for its age anyway (`nonce_ttl` ≥ the signature window).
    pub async fn record_nonce(&self, scope: &str, nonce: &str, expires_ms: i64) -> Result<bool> {
        let Some(writer) = &self.nonces else {
            return Err(StoreError::Unavailable("the store is closing".into()));
        };
        writer
            .submit(|done| PendingNonce {
                key: format!("{scope}/{nonce}"),
                expires: expires_ms,
                done,
            })
            .await
    }

    /// Writes one batch of nonces and answers each: `true` for those this batch recorded first.
    async fn write_nonces(&self, batch: Vec<PendingNonce>) {
        let mut seen = std::collections::HashSet::new();
        let mut rows = Vec::with_capacity(batch.len());
        for pending in &batch {
            if seen.insert(pending.key.as_str()) {
                rows.push(json!({ "key": pending.key, "expires": pending.expires }));
            }
        }
        let written = self
            .run(
                "INSERT IGNORE INTO nonce (SELECT VALUE { id: type::record('nonce', key), key: key, \
                 expires: expires } FROM $rows) RETURN key;",
                json!({ "rows": rows }),
            )
            .await
            .and_then(|mut results| {
                #[derive(Deserialize)]
                struct Written {
                    key: String,
                }
                let rows: Vec<Written> = super::decode_rows(results.pop().unwrap_or(Value::Null))?;
                Ok(rows.into_iter().map(|w| w.key).collect::<std::collections::HashSet<_>>())
            });
        match written {
            Ok(mut written) => {
                for pending in batch {
                    // A key twice in one batch: only the first is new.
                    let fresh = written.remove(&pending.key);
                    let _ = pending.done.send(Ok(fresh));
                }
            }
            Err(error) => {
                for pending in batch {
                    let _ = pending.done.send(Err(error.clone()));
                }
            }
        }
    }

    /// Forgets expired nonces; returns how many.
    pub async fn sweep_nonces(&self) -> Result<u64> {
        let rows: Vec<Value> = self
            .rows(
                "DELETE nonce WHERE expires < $now RETURN BEFORE;",
                json!({ "now": now_ms() }),
            )
            .await?;
        Ok(rows.len() as u64)
    }
}

/// A nonce waiting for the writer.
pub(super) struct PendingNonce {
    key: String,
    expires: i64,
    done: tokio::sync::oneshot::Sender<Result<bool>>,
}

/// Nonces waiting for the writer, at most.
const NONCE_QUEUE: usize = 8192;
/// Nonces written by one statement, at most.
const NONCE_BATCH: usize = 256;

/// Starts the nonce writer: a group commit like the stamp writer. Concurrent signed requests queue their nonces
/// there and one task writes whatever has queued in one `INSERT IGNORE`, so a burst of requests pays one synced
/// commit instead of one each. A nonce is answered only after its batch committed.
pub(super) fn start_nonce_writer(store: &Store) -> super::GroupWriter<PendingNonce> {
    super::GroupWriter::start(
        store,
        "nonce",
        NONCE_QUEUE,
        NONCE_BATCH,
        |store, batch| async move { store.write_nonces(batch).await },
    )
}

impl super::GroupedWrite for PendingNonce {
    fn fail(self, error: StoreError) {
        let _ = self.done.send(Err(error));
    }
}
