//! Agent authorization claims, the Sigilum surface of the approval engine: a service asks that an agent key
//! may act for a namespace; the namespace's owners approve, reject or revoke; services verify. Limits and the
//! namespace's policy decide first (auto-reject past a limit, auto-approve trusted services or agent addresses);
//! a pending claim expires after `[approvals] pending_expiry` unless the policy says otherwise. Every change
//! emits its `request.*` event to the service's webhooks through the outbox, in the same transaction.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::approvals::{ApprovalEngine, ApprovalKind, EngineError};
use crate::actors::Runtime;
use crate::ids::{ApprovalId, TenantScope, UserId};
use crate::store::{
    Approval, ApprovalState, Companions, DecidedBy, Namespace, NewApproval, NewOutboxEvent,
    RealmGuard, ServiceKeyRecord, StoreError, Submitted, Window, now_ms,
};

/// The engine's name for claims.
pub const KIND: &str = "agent_claim";
/// Approved agents per service in one namespace.
pub const AGENT_LIMIT: u64 = 10;
/// Services with an approved agent in one namespace.
pub const SERVICE_LIMIT: usize = 10;
/// Pending claims in one namespace (a policy may lift it).
pub const PENDING_LIMIT: u64 = 20;
/// The events a service's webhook can subscribe to.
pub const EVENTS: &[&str] = &[
    "request.submitted",
    "request.approved",
    "request.rejected",
    "request.revoked",
    "request.expired",
];
/// How often a decision made on counts that changed meanwhile is retried before giving up.
const STALE_RETRIES: usize = 8;

/// A claim as the service submits it (validated by the handler).
#[derive(Debug, Clone)]
pub struct ClaimSubmission {
    /// Namespace (lower case).
    pub namespace: String,
    /// `ed25519:<base64>`.
    pub public_key: String,
    /// The service's slug (equal to the key's).
    pub service: String,
    /// The agent's address as the service saw it.
    pub agent_ip: String,
    /// The service's nonce for this submission (replays refused).
    pub nonce: String,
    /// Optional subject.
    pub subject: Option<String>,
    /// Optional agent id.
    pub agent_id: Option<String>,
    /// Optional agent name.
    pub agent_name: Option<String>,
}

/// What a submission did.
#[derive(Debug, Clone)]
pub struct SubmitOutcome {
    /// The claim (new, or the active one already in its slot).
    pub claim: Approval,
    /// Whether it is new.
    pub created: bool,
}

/// Why a claim operation was refused.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClaimError {
    /// No such namespace.
    #[error("namespace not found")]
    NamespaceNotFound,
    /// No such claim in the caller's tenant.
    #[error("claim not found")]
    NotFound,
    /// The submission's nonce was used before by this service.
    #[error("nonce already used")]
    NonceReplay,
    /// The claim is not in a state that allows this.
    #[error("the claim is {0}")]
    State(ApprovalState),
    /// Approving would pass the agents-per-service limit.
    #[error("agent limit reached")]
    AgentLimit {
        /// The limit.
        limit: u64,
        /// Approved now.
        current: u64,
    },
    /// Approving would connect one service too many.
    #[error("service limit reached")]
    ServiceLimit {
        /// The limit.
        limit: usize,
        /// Connected now.
        connected: usize,
    },
    /// Concurrent changes kept invalidating the decision.
    #[error("the namespace is busy; retry")]
    Busy,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<EngineError> for ClaimError {
    fn from(error: EngineError) -> Self {
        match error {
            EngineError::NotFound => ClaimError::NotFound,
            EngineError::State(state) => ClaimError::State(state),
            EngineError::Stale => ClaimError::Busy,
            EngineError::Store(error) => ClaimError::Store(error),
        }
    }
}

/// A namespace owner's policy (the names are Sigilum's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct NamespacePolicy {
    /// Approve claims of the trusted services at once.
    pub auto_approve_trusted: bool,
    /// Service slugs trusted for auto-approval.
    pub trusted_services: Vec<String>,
    /// Approve claims whose agent address is in a trusted range at once.
    #[serde(rename = "autoApproveIP")]
    pub auto_approve_ip: bool,
    /// CIDRs trusted for auto-approval.
    #[serde(rename = "trustedIPRanges")]
    pub trusted_ip_ranges: Vec<String>,
    /// Refuse claims past [`PENDING_LIMIT`] pending ones.
    pub max_pending_limit: bool,
    /// Expire pending claims after `[approvals] pending_expiry`.
    pub auto_expire: bool,
}

impl Default for NamespacePolicy {
    fn default() -> Self {
        Self {
            auto_approve_trusted: false,
            trusted_services: Vec::new(),
            auto_approve_ip: false,
            trusted_ip_ranges: Vec::new(),
            max_pending_limit: true,
            auto_expire: true,
        }
    }
}

impl NamespacePolicy {
    /// Checks the CIDRs and slugs; the first problem as (field, message).
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.trusted_ip_ranges.len() > 100 || self.trusted_services.len() > 100 {
            return Err(("policy", "at most 100 trusted entries of each kind".into()));
        }
        for range in &self.trusted_ip_ranges {
            range
                .parse::<sigil_netpolicy::Cidr>()
                .map_err(|reason| ("trustedIPRanges", format!("{range}: {reason}")))?;
        }
        for slug in &self.trusted_services {
            if slug.is_empty() || slug.len() > 64 {
                return Err(("trustedServices", format!("{slug:?} is not a service slug")));
            }
        }
        Ok(())
    }

    fn trusts_address(&self, address: &str) -> bool {
        let Ok(ip) = address.trim().parse::<std::net::IpAddr>() else {
            return false;
        };
        self.trusted_ip_ranges.iter().any(|range| {
            range
                .parse::<sigil_netpolicy::Cidr>()
                .is_ok_and(|cidr| cidr.contains(ip))
        })
    }
}

/// The slot of a claim: one per (namespace, service, agent key).
pub fn slot(namespace: &str, service: &str, public_key: &str) -> String {
    // Length-prefixed, so no choice of field contents makes two triples collide.
    hex::encode(Sha256::digest(
        format!(
            "{}:{namespace}{}:{service}{}:{public_key}",
            namespace.len(),
            service.len(),
            public_key.len()
        )
        .as_bytes(),
    ))
}

/// A new claim id: `cl_` + 24 hex.
fn new_claim_id() -> ApprovalId {
    let bytes: [u8; 12] = rand::random();
    ApprovalId::new(format!("cl_{}", hex::encode(bytes)))
}

/// Unix milliseconds as ISO-8601 UTC.
pub fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A payload field as text.
pub fn field<'a>(claim: &'a Approval, name: &str) -> Option<&'a str> {
    claim.payload.get(name).and_then(Value::as_str)
}

/// The claim kind's events.
struct ClaimKind;

impl ClaimKind {
    fn event(
        payload: &Map<String, Value>,
        uid: &ApprovalId,
        topic: &str,
        extra: Value,
    ) -> Option<NewOutboxEvent> {
        let text = |name: &str| payload.get(name).cloned().unwrap_or(Value::Null);
        let mut data = json!({
            "claim_id": uid,
            "namespace": text("namespace"),
            "service": text("service"),
            "public_key": text("public_key"),
            "agent_ip": text("agent_ip"),
            "subject": text("subject"),
            "agent_id": text("agent_id"),
            "agent_name": text("agent_name"),
        });
        if let (Some(data), Value::Object(extra)) = (data.as_object_mut(), extra) {
            data.extend(extra);
        }
        let body = json!({ "event": topic, "timestamp": iso(now_ms()), "data": data });
        Some(NewOutboxEvent {
            id: NewOutboxEvent::new_id(),
            tenant: crate::ids::TenantId::new(payload.get("service_tenant")?.as_str()?),
            owner: format!("service:{}", payload.get("service_uid")?.as_str()?),
            topic: topic.to_string(),
            body: body.to_string(),
            signature: None,
        })
    }

    fn push(companions: &mut Companions, event: Option<NewOutboxEvent>) {
        if let Some(event) = event {
            let var = companions.next_var();
            let (statement, value) = event.create_statement(&var);
            companions.push(statement, value);
        }
    }

    fn decision_extra(to: ApprovalState, by: &DecidedBy) -> Value {
        let mut extra = Map::new();
        if to == ApprovalState::Approved && by.actor == "policy" {
            extra.insert("auto_approved".into(), Value::Bool(true));
        }
        if let Some(reason) = &by.reason
            && to != ApprovalState::Approved
        {
            extra.insert("reason".into(), Value::String(reason.clone()));
        }
        Value::Object(extra)
    }
}

impl ApprovalKind for ClaimKind {
    fn name(&self) -> &'static str {
        KIND
    }

    fn on_submit(&self, new: &NewApproval) -> Companions {
        let mut companions = Companions::none();
        Self::push(
            &mut companions,
            Self::event(&new.payload, &new.uid, "request.submitted", json!({})),
        );
        if let (Some(topic), Some(by)) = (topic_of(new.state), &new.decided_by) {
            Self::push(
                &mut companions,
                Self::event(
                    &new.payload,
                    &new.uid,
                    topic,
                    Self::decision_extra(new.state, by),
                ),
            );
        }
        companions
    }

    fn on_transition(&self, approval: &Approval, to: ApprovalState, by: &DecidedBy) -> Companions {
        let mut companions = Companions::none();
        if let Some(topic) = topic_of(to) {
            Self::push(
                &mut companions,
                Self::event(
                    &approval.payload,
                    &approval.uid,
                    topic,
                    Self::decision_extra(to, by),
                ),
            );
        }
        companions
    }
}

fn topic_of(state: ApprovalState) -> Option<&'static str> {
    match state {
        ApprovalState::Pending => None,
        ApprovalState::Approved => Some("request.approved"),
        ApprovalState::Rejected => Some("request.rejected"),
        ApprovalState::Expired => Some("request.expired"),
        ApprovalState::Revoked => Some("request.revoked"),
    }
}

/// How long an approved claim may be answered from memory without asking the store again. A change made on this
/// node reaches the memory before the change returns (the engine's observer), so this bounds only how long a
/// revocation made by another node sharing the store can go unseen here.
pub const VERIFIED_TTL: Duration = Duration::from_secs(2);
/// At most this many approved claims are remembered; past it the memory starts over.
const VERIFIED_CAPACITY: usize = 65_536;

/// What a verification answers about an approved claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovedClaim {
    /// The claim's id.
    pub uid: ApprovalId,
    /// When it was approved, unix milliseconds.
    pub approved_at: Option<i64>,
}

/// The approved claims recently verified, by slot, each with the time it was read from the store. Only approved
/// claims are kept (an unapproved slot is always read again), and every committed change of a claim removes its
/// slot through the engine's observer and bumps `generation`, so a store read that raced with a change is not
/// remembered.
#[derive(Default)]
struct VerifiedClaims {
    entries: RwLock<VerifiedEntries>,
}

#[derive(Default)]
struct VerifiedEntries {
    generation: u64,
    by_slot: HashMap<String, (ApprovedClaim, Instant)>,
}

impl VerifiedClaims {
    /// The remembered approved claim of `slot` while it is fresh, and the generation to remember a read with.
    fn get(&self, slot: &str) -> (Option<ApprovedClaim>, u64) {
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        let found = entries
            .by_slot
            .get(slot)
            .filter(|(_, read_at)| read_at.elapsed() < VERIFIED_TTL)
            .map(|(claim, _)| claim.clone());
        (found, entries.generation)
    }

    /// Remembers an approved claim read from the store, unless a change was committed since `generation`.
    fn remember(&self, slot: String, claim: ApprovedClaim, generation: u64, read_at: Instant) {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        if entries.generation != generation {
            return;
        }
        if entries.by_slot.len() >= VERIFIED_CAPACITY {
            entries
                .by_slot
                .retain(|_, (_, at)| at.elapsed() < VERIFIED_TTL);
            if entries.by_slot.len() >= VERIFIED_CAPACITY {
                entries.by_slot.clear();
            }
        }
        entries.by_slot.insert(slot, (claim, read_at));
    }

    /// Forgets a slot whose claim changed.
    fn invalidate(&self, slot: &str) {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        entries.generation += 1;
        entries.by_slot.remove(slot);
    }
}

/// The claims use cases. Cheap to clone.
#[derive(Clone)]
pub struct ClaimService {
    engine: ApprovalEngine,
    runtime: Arc<Runtime>,
    verified: Arc<VerifiedClaims>,
}

impl ClaimService {
    /// The service over the engine (registers the claim kind's events with it, and an observer that forgets a
    /// remembered approved claim as soon as it changes).
    pub fn new(engine: ApprovalEngine, runtime: Arc<Runtime>) -> Self {
        engine.register(Arc::new(ClaimKind));
        let verified = Arc::new(VerifiedClaims::default());
        let observed = Arc::downgrade(&verified);
        engine.observe(Arc::new(move |approval: &Approval| {
            if approval.kind == KIND
                && let Some(verified) = observed.upgrade()
            {
                verified.invalidate(&approval.slot);
            }
        }));
        Self {
            engine,
            runtime,
            verified,
        }
    }

    fn store(&self) -> &crate::store::Store {
        &self.runtime.store
    }

    /// The namespace's policy (the default when none was set).
    pub async fn policy(
        &self,
        scope: &TenantScope,
        namespace: &str,
    ) -> Result<NamespacePolicy, ClaimError> {
        Ok(self
            .store()
            .realm_policy(scope, KIND, namespace)
            .await?
            .and_then(|value| serde_json::from_value(value).ok())
            .unwrap_or_default())
    }

    /// Replaces the namespace's policy.
    pub async fn set_policy(
        &self,
        scope: &TenantScope,
        namespace: &str,
        policy: &NamespacePolicy,
    ) -> Result<(), ClaimError> {
        let value = serde_json::to_value(policy).unwrap_or(Value::Null);
        Ok(self
            .store()
            .set_realm_policy(scope, KIND, namespace, &value)
            .await?)
    }

    /// Submits a claim for `namespace` on behalf of the authenticated `service`.
    pub async fn submit(
        &self,
        service: &ServiceKeyRecord,
        namespace: &Namespace,
        input: ClaimSubmission,
    ) -> Result<SubmitOutcome, ClaimError> {
        let config = self.runtime.settings().1;
        // The nonce is the service's: a replayed submission is refused before anything is decided.
        let nonce_scope = format!("claim:{}", service.key.service);
        let expires = now_ms() + config.approvals.nonce_ttl.as_millis() as i64;
        if !self
            .store()
            .record_nonce(&nonce_scope, &input.nonce, expires)
            .await?
        {
            return Err(ClaimError::NonceReplay);
        }
        // The claim belongs to the namespace's tenant: its owners decide it.
        let scope = TenantScope::authenticated(namespace.tenant.clone());
        let slot = slot(&namespace.name, &input.service, &input.public_key);
        let mut payload = Map::new();
        payload.insert("namespace".into(), json!(namespace.name));
        payload.insert("service".into(), json!(input.service));
        payload.insert("service_uid".into(), json!(service.key.service));
        payload.insert("service_tenant".into(), json!(service.key.tenant));
        payload.insert("public_key".into(), json!(input.public_key));
        payload.insert("agent_ip".into(), json!(input.agent_ip));
        payload.insert("subject".into(), json!(input.subject));
        payload.insert("agent_id".into(), json!(input.agent_id));
        payload.insert("agent_name".into(), json!(input.agent_name));
        // Read once: a retry after a concurrent change re-reads the counts, which is what changed.
        let policy = self.policy(&scope, &namespace.name).await?;
        for _ in 0..STALE_RETRIES {
            if let Some(active) = self.store().approval_in_slot(KIND, &slot).await?
                && active.state.is_active()
                && active.tenant == *scope.tenant()
            {
                return Ok(SubmitOutcome {
                    claim: active,
                    created: false,
                });
            }
            let counts = self
                .store()
                .realm_counts(
                    &scope,
                    KIND,
                    &namespace.name,
                    &input.service,
                    if policy.max_pending_limit {
                        PENDING_LIMIT
                    } else {
                        0
                    },
                )
                .await?;
            let connected = counts.approved_parties.contains(&input.service);
            let decision = if !connected && counts.approved_parties.len() >= SERVICE_LIMIT {
                Some((
                    ApprovalState::Rejected,
                    DecidedBy::policy("limits", "service_limit_reached"),
                ))
            } else if counts.approved_for_party >= AGENT_LIMIT {
                Some((
                    ApprovalState::Rejected,
                    DecidedBy::policy("limits", "agent_limit_reached"),
                ))
            } else if policy.max_pending_limit && counts.pending >= PENDING_LIMIT {
                Some((
                    ApprovalState::Rejected,
                    DecidedBy::policy("limits", "max_pending_reached"),
                ))
            } else if policy.auto_approve_trusted
                && policy.trusted_services.contains(&input.service)
            {
                Some((
                    ApprovalState::Approved,
                    DecidedBy::policy("auto_approve", "trusted_service"),
                ))
            } else if policy.auto_approve_ip && policy.trusts_address(&input.agent_ip) {
                Some((
                    ApprovalState::Approved,
                    DecidedBy::policy("auto_approve", "trusted_ip"),
                ))
            } else {
                None
            };
            let (state, decided_by) = match decision {
                Some((state, by)) => (state, Some(by)),
                None => (ApprovalState::Pending, None),
            };
            let expires_at = (state == ApprovalState::Pending && policy.auto_expire)
                .then(|| now_ms() + config.approvals.pending_expiry.as_millis() as i64);
            let new = NewApproval {
                uid: new_claim_id(),
                kind: KIND,
                slot: slot.clone(),
                realm: namespace.name.clone(),
                party: input.service.clone(),
                principal: input.public_key.clone(),
                state,
                decided_by,
                expires_at,
                payload: payload.clone(),
                owner_node: None,
            };
            let guard = RealmGuard {
                key: format!("{KIND}:{}", namespace.name),
                seen: counts.version,
            };
            // The realm's version guards the counts the decision read. A pending claim changes none of them
            // unless the namespace limits its pending claims, so it is written without the guard: concurrent
            // submissions to one namespace then do not refuse each other.
            let guarded = state != ApprovalState::Pending || policy.max_pending_limit;
            match self
                .engine
                .submit(&scope, new, guarded.then_some(&guard))
                .await
            {
                Ok(Submitted::Created(claim)) => {
                    metrics::counter!("sigil_claims_submitted_total", "outcome" => claim.state.as_str())
                        .increment(1);
                    return Ok(SubmitOutcome {
                        claim: *claim,
                        created: true,
                    });
                }
                Ok(Submitted::Existing(claim)) => {
                    return Ok(SubmitOutcome {
                        claim: *claim,
                        created: false,
                    });
                }
                Err(EngineError::Stale) => continue,
                // The slot's active claim belongs to another tenant's namespace of the same name: impossible
                // while names are unique, refused rather than revealed.
                Err(EngineError::Store(StoreError::Conflict(_))) => return Err(ClaimError::Busy),
                Err(error) => return Err(error.into()),
            }
        }
        Err(ClaimError::Busy)
    }

    /// A claim of the caller's tenant.
    pub async fn claim(
        &self,
        scope: &TenantScope,
        id: &ApprovalId,
    ) -> Result<Approval, ClaimError> {
        let claim = self.engine.get(scope, id).await?;
        if claim.kind != KIND {
            return Err(ClaimError::NotFound);
        }
        Ok(claim)
    }

    /// Approves a pending claim, within the limits. Returns it with the service's approved-agent count.
    pub async fn approve(
        &self,
        scope: &TenantScope,
        user: &UserId,
        id: &ApprovalId,
        reason: Option<String>,
    ) -> Result<(Approval, u64), ClaimError> {
        for _ in 0..STALE_RETRIES {
            let claim = self.claim(scope, id).await?;
            if claim.state != ApprovalState::Pending {
                return Err(ClaimError::State(claim.state));
            }
            let counts = self
                .store()
                .realm_counts(scope, KIND, &claim.realm, &claim.party, 0)
                .await?;
            if counts.approved_for_party >= AGENT_LIMIT {
                return Err(ClaimError::AgentLimit {
                    limit: AGENT_LIMIT,
                    current: counts.approved_for_party,
                });
            }
            let connected = counts.approved_parties.contains(&claim.party);
            if !connected && counts.approved_parties.len() >= SERVICE_LIMIT {
                return Err(ClaimError::ServiceLimit {
                    limit: SERVICE_LIMIT,
                    connected: counts.approved_parties.len(),
                });
            }
            let guard = RealmGuard {
                key: format!("{KIND}:{}", claim.realm),
                seen: counts.version,
            };
            match self
                .engine
                .transition(
                    scope,
                    claim,
                    &[ApprovalState::Pending],
                    ApprovalState::Approved,
                    DecidedBy::user(user, reason.clone()),
                    Some(&guard),
                )
                .await
            {
                Ok(approved) => return Ok((approved, counts.approved_for_party + 1)),
                Err(EngineError::Stale) => continue,
                Err(error) => return Err(error.into()),
            }
        }
        Err(ClaimError::Busy)
    }

    /// Rejects a pending claim.
    pub async fn reject(
        &self,
        scope: &TenantScope,
        user: &UserId,
        id: &ApprovalId,
        reason: Option<String>,
    ) -> Result<Approval, ClaimError> {
        let claim = self.claim(scope, id).await?;
        Ok(self
            .engine
            .transition(
                scope,
                claim,
                &[ApprovalState::Pending],
                ApprovalState::Rejected,
                DecidedBy::user(user, reason),
                None,
            )
            .await?)
    }

    /// Revokes an approved claim.
    pub async fn revoke(
        &self,
        scope: &TenantScope,
        user: &UserId,
        id: &ApprovalId,
        reason: Option<String>,
    ) -> Result<Approval, ClaimError> {
        let claim = self.claim(scope, id).await?;
        Ok(self
            .engine
            .transition(
                scope,
                claim,
                &[ApprovalState::Approved],
                ApprovalState::Revoked,
                DecidedBy::user(user, reason),
                None,
            )
            .await?)
    }

    /// The approved claim of (namespace, service, key), if any. Deliberately across tenants: the caller proved
    /// with its signature that it is the namespace's agent, and learns only whether it is authorized.
    ///
    /// An approved claim is answered from memory for up to [`VERIFIED_TTL`] after it was read from the store; a
    /// revocation (or any change) committed on this node is seen at once, one committed by another node sharing
    /// the store within that time.
    pub async fn verify(
        &self,
        namespace: &str,
        public_key: &str,
        service: &str,
    ) -> Result<Option<ApprovedClaim>, ClaimError> {
        let slot = slot(namespace, service, public_key);
        let (remembered, generation) = self.verified.get(&slot);
        if remembered.is_some() {
            return Ok(remembered);
        }
        let read_at = Instant::now();
        let found = self
            .store()
            .approval_in_slot(KIND, &slot)
            .await?
            .filter(|claim| claim.state == ApprovalState::Approved)
            .map(|claim| ApprovedClaim {
                uid: claim.uid,
                approved_at: claim.approved_at,
            });
        if let Some(claim) = &found {
            self.verified
                .remember(slot, claim.clone(), generation, read_at);
        }
        Ok(found)
    }

    /// The approved claims of one service across namespaces (the cache feed a service keeps).
    pub async fn approved_feed(
        &self,
        service: &str,
        window: Window,
    ) -> Result<(Vec<Approval>, u64), ClaimError> {
        Ok(self
            .store()
            .approved_for_party_all_tenants(KIND, service, window)
            .await?)
    }

    /// The claims of one namespace of the caller's tenant.
    pub async fn namespace_claims(
        &self,
        scope: &TenantScope,
        namespace: &str,
        state: Option<ApprovalState>,
        service: Option<&str>,
        window: Window,
    ) -> Result<(Vec<Approval>, u64), ClaimError> {
        Ok(self
            .store()
            .approvals_in_realm(scope, KIND, namespace, state, service, window)
            .await?)
    }

    /// Approved claims of a namespace (the keys its DID document lists), oldest approval first.
    pub async fn approved_in_namespace(
        &self,
        namespace: &str,
    ) -> Result<Vec<Approval>, ClaimError> {
        Ok(self
            .store()
            .approved_in_realm_all_tenants(KIND, namespace)
            .await?)
    }

    /// Whether a namespace ever had a claim.
    pub async fn namespace_has_history(&self, namespace: &str) -> Result<bool, ClaimError> {
        Ok(self
            .store()
            .realm_has_history_all_tenants(KIND, namespace)
            .await?)
    }

    /// The audit trail of a claim of the caller's tenant.
    pub async fn audit(
        &self,
        scope: &TenantScope,
        id: &ApprovalId,
    ) -> Result<Vec<Value>, ClaimError> {
        self.claim(scope, id).await?;
        Ok(self.store().approval_audit(scope, id).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_validate_their_ranges_and_match_addresses() {
        let mut policy = NamespacePolicy {
            auto_approve_ip: true,
            trusted_ip_ranges: vec!["10.0.0.0/8".into(), "2001:db8::/32".into()],
            ..NamespacePolicy::default()
        };
        assert!(policy.validate().is_ok());
        for (address, trusted) in [
            ("10.1.2.3", true),
            ("11.0.0.1", false),
            ("2001:db8::1", true),
            ("not an address", false),
            ("", false),
        ] {
            assert_eq!(policy.trusts_address(address), trusted, "{address}");
        }
        policy.trusted_ip_ranges.push("10.0.0.1/8".into());
        assert_eq!(policy.validate().unwrap_err().0, "trustedIPRanges");
        // Sigilum's names on the wire.
        let wire: NamespacePolicy = serde_json::from_value(json!({
            "autoApproveTrusted": true, "trustedServices": ["svc"], "autoApproveIP": false,
            "trustedIPRanges": [], "maxPendingLimit": false, "autoExpire": false
        }))
        .unwrap();
        assert!(wire.auto_approve_trusted && !wire.max_pending_limit && !wire.auto_expire);
        assert!(serde_json::from_value::<NamespacePolicy>(json!({ "autoApprove": true })).is_err());
    }

    #[test]
    fn a_remembered_claim_goes_with_a_change_and_a_read_older_than_the_change_stays_forgotten() {
        let verified = VerifiedClaims::default();
        let claim = ApprovedClaim {
            uid: ApprovalId::new("cl_1"),
            approved_at: Some(1),
        };
        let (nothing, generation) = verified.get("s1");
        assert!(nothing.is_none());
        verified.remember("s1".into(), claim.clone(), generation, Instant::now());
        assert_eq!(verified.get("s1").0, Some(claim.clone()));
        // A committed change (a revocation) removes it before the change returns.
        verified.invalidate("s1");
        assert!(verified.get("s1").0.is_none());
        // A store read that began before that change is not remembered after it.
        verified.remember("s1".into(), claim.clone(), generation, Instant::now());
        assert!(verified.get("s1").0.is_none());
        // A read older than the bound is not answered from memory.
        if let Some(long_ago) = Instant::now().checked_sub(VERIFIED_TTL) {
            let (_, generation) = verified.get("s2");
            verified.remember("s2".into(), claim, generation, long_ago);
            assert!(verified.get("s2").0.is_none());
        }
    }

    #[test]
    fn a_slot_is_one_per_namespace_service_and_key() {
        let a = slot("alice", "svc", "ed25519:AAAA");
        assert_eq!(a, slot("alice", "svc", "ed25519:AAAA"));
        assert_ne!(a, slot("alice", "svc2", "ed25519:AAAA"));
        assert_ne!(a, slot("bob", "svc", "ed25519:AAAA"));
        // Field boundaries count: ("a:b", "c") differs from ("a", "b:c").
        assert_ne!(slot("a", "b:c", "k"), slot("a:b", "c", "k"));
    }
}
