//! The approval engine shared by every kind of approval (agent claims now; device challenges, multi-party
//! approvals and signing requests next): submit and decide requests by compare-and-set in the store, with each
//! kind's outbox events committed in the same transaction, and keep a timer per live request this node holds
//! (an actor once its expiry is within a minute, an entry in an arbiter shard's ordered map until then; see
//! `actors/approval.rs`). After a restart the live requests are adopted again with their remaining time; an expiry that fell
//! while the daemon was down fires at once. Nodes sharing a store hold disjoint sets of live requests through
//! node leases; a lapsed node's requests are adopted by the next node that looks.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::actors::approval::{ApprovalTimers, FireFn};
use crate::ids::{ApprovalId, TenantScope};
use crate::store::{
    Approval, ApprovalState, Companions, DecidedBy, NewApproval, RealmGuard, Store, StoreError,
    Submitted, now_ms,
};

/// What a kind of approval adds to the engine: the statements (outbox events) that commit with each change of
/// one of its requests.
pub trait ApprovalKind: Send + Sync {
    /// The kind's name in the store (`agent_claim`, ...).
    fn name(&self) -> &'static str;
    /// Statements for a request entering the store (pending, or decided at once by a policy).
    fn on_submit(&self, new: &NewApproval) -> Companions;
    /// Statements for a change of state.
    fn on_transition(&self, approval: &Approval, to: ApprovalState, by: &DecidedBy) -> Companions;
}

/// Why the engine refused.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EngineError {
    /// No such request in the caller's tenant.
    #[error("approval request not found")]
    NotFound,
    /// The request is not in a state that allows this change (someone else decided first).
    #[error("the request is {0}")]
    State(ApprovalState),
    /// The counts a limit-dependent decision was based on changed; decide again.
    #[error("a concurrent change; retry")]
    Stale,
    /// The store failed.
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for EngineError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict(why) if why == "stale" => EngineError::Stale,
            other => EngineError::Store(other),
        }
    }
}

/// The engine. Cheap to clone.
#[derive(Clone)]
pub struct ApprovalEngine {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    node: String,
    lease: Duration,
    kinds: RwLock<HashMap<&'static str, Arc<dyn ApprovalKind>>>,
    timers: ApprovalTimers,
    after_commit: RwLock<Vec<Arc<dyn Fn() + Send + Sync>>>,
    observers: RwLock<Vec<Observer>>,
    /// Whether this engine has adopted the requests it holds once (its start): later checks look only at
    /// lapsed nodes' requests.
    adopted_once: std::sync::atomic::AtomicBool,
}

/// A callback told of every committed change of state, with the request as it now is.
pub type Observer = Arc<dyn Fn(&Approval) + Send + Sync>;

impl ApprovalEngine {
    /// An engine for `node`, with timers on `arbiters` whose work runs on the current tokio runtime.
    pub fn new(
        store: Store,
        node: String,
        lease: Duration,
        arbiters: Vec<actix::ArbiterHandle>,
    ) -> Self {
        let inner = Arc::new_cyclic(|weak: &std::sync::Weak<Inner>| {
            let weak = weak.clone();
            let fire: FireFn = Arc::new(move |uid: ApprovalId| {
                let weak = weak.clone();
                Box::pin(async move {
                    match weak.upgrade() {
                        Some(inner) => ApprovalEngine { inner }.expire(&uid).await,
                        None => true,
                    }
                })
            });
            Inner {
                store,
                node,
                lease,
                kinds: RwLock::default(),
                timers: ApprovalTimers::new(arbiters, tokio::runtime::Handle::current(), fire),
                after_commit: RwLock::default(),
                observers: RwLock::default(),
                adopted_once: std::sync::atomic::AtomicBool::new(false),
            }
        });
        Self { inner }
    }

    /// Registers a kind (its events). Kinds are registered at start, before requests of them arrive.
    pub fn register(&self, kind: Arc<dyn ApprovalKind>) {
        self.inner
            .kinds
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(kind.name(), kind);
    }

    /// Adds a callback run after every committed change (e.g. waking the webhook dispatcher).
    pub fn after_commit(&self, callback: Arc<dyn Fn() + Send + Sync>) {
        self.inner
            .after_commit
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(callback);
    }

    /// Adds an observer of every committed transition (e.g. a signing request following the device challenges
    /// that decide it). Observers run on the committing task and must not block: they spawn their work.
    pub fn observe(&self, observer: Observer) {
        self.inner
            .observers
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(observer);
    }

    fn observed(&self, approval: &Approval) {
        let observers = self
            .inner
            .observers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for observer in observers {
            observer(approval);
        }
    }

    fn committed(&self) {
        let callbacks = self
            .inner
            .after_commit
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for callback in callbacks {
            callback();
        }
    }

    fn kind(&self, name: &str) -> Option<Arc<dyn ApprovalKind>> {
        self.inner
            .kinds
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
    }

    /// This node's name in the leases.
    pub fn node(&self) -> &str {
        &self.inner.node
    }

    /// The store the engine writes to.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// How many live requests this node holds timers for.
    pub fn live(&self) -> usize {
        self.inner.timers.len()
    }

    /// Submits a request: stored first (with its kind's events), then, when pending and expiring, timed here.
    pub async fn submit(
        &self,
        scope: &TenantScope,
        mut new: NewApproval,
        guard: Option<&RealmGuard>,
    ) -> Result<Submitted, EngineError> {
        new.owner_node = Some(self.inner.node.clone());
        let companions = self
            .kind(new.kind)
            .map(|kind| kind.on_submit(&new))
            .unwrap_or_default();
        let submitted = self
            .inner
            .store
            .submit_approval(scope, &new, guard, &companions)
            .await?;
        if let Submitted::Created(approval) = &submitted {
            self.committed();
            if approval.state == ApprovalState::Pending
                && let Some(expires_at) = approval.expires_at
            {
                self.inner.timers.track(approval.uid.clone(), expires_at);
            }
        }
        Ok(submitted)
    }

    /// A request of the tenant.
    pub async fn get(
        &self,
        scope: &TenantScope,
        uid: &ApprovalId,
    ) -> Result<Approval, EngineError> {
        self.inner
            .store
            .approval(scope, uid)
            .await?
            .ok_or(EngineError::NotFound)
    }

    /// Moves a request from one of `from` to `to`: [`EngineError::State`] when it is elsewhere (also when a
    /// concurrent decider won), [`EngineError::Stale`] when the realm guard failed.
    pub async fn decide(
        &self,
        scope: &TenantScope,
        uid: &ApprovalId,
        from: &[ApprovalState],
        to: ApprovalState,
        by: DecidedBy,
        guard: Option<&RealmGuard>,
    ) -> Result<Approval, EngineError> {
        let current = self.get(scope, uid).await?;
        self.transition(scope, current, from, to, by, guard).await
    }

    /// As [`ApprovalEngine::decide`], for a request the caller has just read (and checked limits against). The
    /// caller's `current.payload` is written with the change, and `to` may be the current state: a kind records
    /// an answer that decides nothing yet (one approval of a multi-party request) the same way.
    pub async fn transition(
        &self,
        scope: &TenantScope,
        current: Approval,
        from: &[ApprovalState],
        to: ApprovalState,
        by: DecidedBy,
        guard: Option<&RealmGuard>,
    ) -> Result<Approval, EngineError> {
        if !from.contains(&current.state) {
            return Err(EngineError::State(current.state));
        }
        let companions = self
            .kind(&current.kind)
            .map(|kind| kind.on_transition(&current, to, &by))
            .unwrap_or_default();
        match self
            .inner
            .store
            .transition_approval(scope, &current, to, &by, guard, &companions)
            .await
        {
            Ok(changed) => {
                self.committed();
                if changed.state != ApprovalState::Pending {
                    self.inner.timers.forget(&changed.uid);
                }
                self.observed(&changed);
                Ok(changed)
            }
            Err(StoreError::Conflict(why)) if why == "state" => {
                // Someone else changed it first: say what it is now.
                let now = self.get(scope, &current.uid).await?;
                Err(EngineError::State(now.state))
            }
            Err(error) => Err(error.into()),
        }
    }

    /// The expiry of one request (its timer fired): `true` when finished with, `false` to retry later.
    async fn expire(&self, uid: &ApprovalId) -> bool {
        let found = match self.inner.store.approval_by_uid_all_tenants(uid).await {
            Ok(found) => found,
            Err(error) => {
                tracing::warn!(approval = %uid, %error, "could not read an expiring approval request; retrying");
                return false;
            }
        };
        let Some(current) = found else { return true };
        if current.state != ApprovalState::Pending {
            return true;
        }
        if current.expires_at.is_some_and(|at| at > now_ms()) {
            // Re-timed (a resubmission replaced it): follow the stored time.
            if let Some(at) = current.expires_at {
                self.inner.timers.track(current.uid.clone(), at);
            }
            return true;
        }
        // The timer acts for the request's own tenant, as that tenant's component.
        let scope = TenantScope::authenticated(current.tenant.clone());
        match self
            .transition(
                &scope,
                current,
                &[ApprovalState::Pending],
                ApprovalState::Expired,
                DecidedBy::timer(),
                None,
            )
            .await
        {
            Ok(_) => {
                metrics::counter!("sigil_approvals_expired_total").increment(1);
                true
            }
            Err(EngineError::State(_)) | Err(EngineError::NotFound) => true,
            Err(error) => {
                tracing::warn!(approval = %uid, %error, "could not expire an approval request; retrying");
                false
            }
        }
    }

    /// Renews this node's lease and adopts the live requests it should hold (the first time: its own after a
    /// restart, those without a holder and those of nodes whose lease lapsed; afterwards only those of nodes
    /// whose lease lapsed, so that the periodic check does not read every pending request), arming a timer for
    /// each one not timed yet. Returns how many were adopted now.
    pub async fn adopt(&self) -> Result<usize, StoreError> {
        use std::sync::atomic::Ordering;
        let now = now_ms();
        let store = &self.inner.store;
        store
            .renew_node_lease(&self.inner.node, now + self.inner.lease.as_millis() as i64)
            .await?;
        let live = if self.inner.adopted_once.load(Ordering::Acquire) {
            store
                .adopt_lapsed_all_tenants(&self.inner.node, now)
                .await?
        } else {
            let live = store
                .adopt_pending_all_tenants(&self.inner.node, now)
                .await?;
            self.inner.adopted_once.store(true, Ordering::Release);
            live
        };
        let mut adopted = 0;
        for request in live {
            if self.inner.timers.holds(&request.uid) {
                continue;
            }
            // A pending request without an expiry (policy: never expire) needs no timer.
            if let Some(at) = request.expires_at {
                self.inner.timers.track(request.uid, at);
                adopted += 1;
            }
        }
        Ok(adopted)
    }

    /// Renews the lease every third of its length and adopts lapsed nodes' requests every lease, until
    /// `stop` turns true; then stops the timers and gives the lease up so another node may take over at once.
    pub async fn run(&self, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut every = tokio::time::interval(self.inner.lease / 3);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = every.tick() => {
                    match self.adopt().await {
                        Ok(0) => {}
                        Ok(count) => tracing::info!(count, "adopted live approval requests"),
                        Err(error) => tracing::warn!(%error, "could not renew the approval lease"),
                    }
                }
                changed = stop.changed() => {
                    if changed.is_err() || *stop.borrow() {
                        break;
                    }
                }
            }
        }
        self.inner.timers.stop_all();
        if let Err(error) = self.inner.store.release_node_lease(&self.inner.node).await {
            tracing::warn!(%error, "could not release the approval lease");
        }
    }
}

/// This node's name: configured, or generated once and kept in the data directory (so a restarted node takes
/// its own live requests back at once). A throwaway `mem://` store gets a fresh name each start.
pub fn node_id(configured: Option<&str>, data_dir: &std::path::Path, persist: bool) -> String {
    if let Some(node) = configured {
        return node.to_string();
    }
    let fresh = || format!("node-{}", uuid::Uuid::new_v4().simple());
    if !persist {
        return fresh();
    }
    let path = data_dir.join("node-id");
    if let Ok(text) = std::fs::read_to_string(&path) {
        let text = text.trim();
        if !text.is_empty() && text.len() <= 64 {
            return text.to_string();
        }
    }
    let node = fresh();
    if let Err(error) = std::fs::write(&path, format!("{node}\n")) {
        tracing::warn!(path = %path.display(), %error, "could not keep the node id; a restart will adopt its requests after the lease lapses");
    }
    node
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::ids::TenantId;
    use serde_json::json;

    /// Records every event as a `probe` row in the same transaction, as the outbox does.
    struct Probe;

    impl ApprovalKind for Probe {
        fn name(&self) -> &'static str {
            "probe_kind"
        }
        fn on_submit(&self, new: &NewApproval) -> Companions {
            let mut companions = Companions::none();
            let var = companions.next_var();
            companions.push(
                format!("CREATE probe CONTENT ${var}"),
                json!({ "uid": new.uid, "event": "submitted" }),
            );
            companions
        }
        fn on_transition(
            &self,
            approval: &Approval,
            to: ApprovalState,
            _by: &DecidedBy,
        ) -> Companions {
            let mut companions = Companions::none();
            let var = companions.next_var();
            companions.push(
                format!("CREATE probe CONTENT ${var}"),
                json!({ "uid": approval.uid, "event": to.as_str() }),
            );
            companions
        }
    }

    fn request(uid: &str, expires_in_ms: i64) -> NewApproval {
        NewApproval {
            uid: ApprovalId::new(uid),
            kind: "probe_kind",
            slot: uid.into(),
            realm: "r".into(),
            party: "p".into(),
            principal: uid.into(),
            state: ApprovalState::Pending,
            decided_by: None,
            expires_at: Some(now_ms() + expires_in_ms),
            payload: serde_json::Map::new(),
            owner_node: None,
        }
    }

    async fn state_of(store: &Store, scope: &TenantScope, uid: &str) -> ApprovalState {
        store
            .approval(scope, &ApprovalId::new(uid))
            .await
            .unwrap()
            .unwrap()
            .state
    }

    /// Waits (bounded) until the request leaves `pending`.
    async fn settled(store: &Store, scope: &TenantScope, uid: &str) -> ApprovalState {
        for _ in 0..400 {
            let state = state_of(store, scope, uid).await;
            if state != ApprovalState::Pending {
                return state;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        ApprovalState::Pending
    }

    async fn events(store: &Store) -> Vec<(String, String)> {
        #[derive(serde::Deserialize)]
        struct Row {
            uid: String,
            event: String,
        }
        let rows: Vec<Row> = store
            .rows_for_tests("SELECT uid, event FROM probe ORDER BY uid, event;")
            .await;
        rows.into_iter().map(|row| (row.uid, row.event)).collect()
    }

    #[test]
    fn timers_expire_requests_decisions_stop_them_and_a_restart_adopts_the_rest() {
        let system = actix_rt::System::with_tokio_rt(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime")
        });
        system.block_on(async {
            let mut config = Config::default();
            config.storage.url = Some("mem://".into());
            let store = Store::open(&config).await.expect("store");
            let arbiter = actix::Arbiter::new();
            let scope = TenantScope::authenticated(TenantId::new("t1"));
            let engine = ApprovalEngine::new(
                store.clone(),
                "node-a".into(),
                Duration::from_secs(30),
                vec![arbiter.handle()],
            );
            engine.register(Arc::new(Probe));

            engine
                .submit(&scope, request("a-short", 200), None)
                .await
                .unwrap();
            engine
                .submit(&scope, request("b-long", 60_000), None)
                .await
                .unwrap();
            assert!(engine.inner.timers.holds(&ApprovalId::new("b-long")));
            // A person decides the long one: its timer goes.
            engine
                .decide(
                    &scope,
                    &ApprovalId::new("b-long"),
                    &[ApprovalState::Pending],
                    ApprovalState::Approved,
                    DecidedBy::user("u1", None),
                    None,
                )
                .await
                .unwrap();
            // The short one expires by its timer.
            assert_eq!(
                settled(&store, &scope, "a-short").await,
                ApprovalState::Expired
            );
            // A late decision loses to the timer.
            let late = engine
                .decide(
                    &scope,
                    &ApprovalId::new("a-short"),
                    &[ApprovalState::Pending],
                    ApprovalState::Approved,
                    DecidedBy::user("u1", None),
                    None,
                )
                .await;
            assert!(
                matches!(late, Err(EngineError::State(ApprovalState::Expired))),
                "{late:?}"
            );

            // Requests stored by a node that then "stopped": one whose expiry fell while it was down, one live.
            engine.inner.timers.stop_all();
            for (uid, expires_in) in [("c-overdue", -1_000), ("d-live", 60_000)] {
                let mut stored = request(uid, expires_in);
                stored.owner_node = Some("node-a".into());
                let companions = Probe.on_submit(&stored);
                store
                    .submit_approval(&scope, &stored, None, &companions)
                    .await
                    .unwrap();
            }
            // A restarted node with the same name adopts both: the overdue one expires at once.
            let restarted = ApprovalEngine::new(
                store.clone(),
                "node-a".into(),
                Duration::from_secs(30),
                vec![arbiter.handle()],
            );
            restarted.register(Arc::new(Probe));
            assert_eq!(restarted.adopt().await.unwrap(), 2);
            assert_eq!(
                settled(&store, &scope, "c-overdue").await,
                ApprovalState::Expired
            );
            assert_eq!(
                state_of(&store, &scope, "d-live").await,
                ApprovalState::Pending
            );
            assert!(restarted.inner.timers.holds(&ApprovalId::new("d-live")));

            // Every change wrote its event in its own transaction: exactly one per change.
            let seen = events(&store).await;
            let expected: Vec<(String, String)> = [
                ("a-short", "expired"),
                ("a-short", "submitted"),
                ("b-long", "approved"),
                ("b-long", "submitted"),
                ("c-overdue", "expired"),
                ("c-overdue", "submitted"),
                ("d-live", "submitted"),
            ]
            .iter()
            .map(|(uid, event)| (uid.to_string(), event.to_string()))
            .collect();
            assert_eq!(seen, expected);
            restarted.inner.timers.stop_all();
            arbiter.stop();
        });
    }
}
