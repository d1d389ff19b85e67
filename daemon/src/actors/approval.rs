//! Approval-request actors: one supervised actor per live (pending) request that this node holds, whose only
//! job is its expiry timer. The actor is a cache of the stored request: the decision itself is a
//! compare-and-set in the store, so a timer that fires after a person decided simply loses and stops.
//!
//! [`ApprovalTimers`] is the registry: a shared map behind a lock (no message hop to find an actor), actors
//! spread over the arbiter pool. The work a timer triggers runs on the daemon's tokio runtime, not on the
//! arbiter, so a panic in it costs that one expiry attempt (retried), never the arbiter.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use actix::prelude::*;

use crate::ids::ApprovalId;

/// What a timer does when it fires: `true` when the request is finished with (expired, or decided
/// meanwhile), `false` to try again later (the store was unavailable).
pub type FireFn =
    Arc<dyn Fn(ApprovalId) -> Pin<Box<dyn Future<Output = bool> + Send>> + Send + Sync>;

/// How long a failed expiry waits before the next attempt.
const RETRY_AFTER: Duration = Duration::from_secs(5);

/// The timers of the live requests this node holds. Cheap to clone.
#[derive(Clone)]
pub struct ApprovalTimers {
    inner: Arc<Inner>,
}

struct Inner {
    arbiters: Vec<ArbiterHandle>,
    next_arbiter: AtomicUsize,
    live: RwLock<HashMap<ApprovalId, Addr<ApprovalActor>>>,
    runtime: tokio::runtime::Handle,
    fire: FireFn,
}

impl ApprovalTimers {
    /// Timers placed on `arbiters` (at least one) whose work runs on `runtime`.
    pub fn new(
        arbiters: Vec<ArbiterHandle>,
        runtime: tokio::runtime::Handle,
        fire: FireFn,
    ) -> Self {
        assert!(!arbiters.is_empty(), "approval timers need an arbiter");
        Self {
            inner: Arc::new(Inner {
                arbiters,
                next_arbiter: AtomicUsize::new(0),
                live: RwLock::default(),
                runtime,
                fire,
            }),
        }
    }

    /// Starts (or restarts) the timer of a live request that expires at `expires_at_ms` (unix milliseconds).
    pub fn track(&self, uid: ApprovalId, expires_at_ms: i64) {
        let index =
            self.inner.next_arbiter.fetch_add(1, Ordering::Relaxed) % self.inner.arbiters.len();
        let arbiter = self.inner.arbiters[index].clone();
        let actor_uid = uid.clone();
        let registry = Arc::downgrade(&self.inner);
        let addr = Supervisor::start_in_arbiter(&arbiter, move |_| ApprovalActor {
            uid: actor_uid,
            expires_at_ms,
            registry,
        });
        let previous = self
            .inner
            .live
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(uid, addr);
        if let Some(previous) = previous {
            previous.do_send(Stop);
        }
        metrics::gauge!("sigil_approval_timers").set(self.len() as f64);
    }

    /// Stops the timer of a request that was decided (a no-op when this node holds none for it).
    pub fn forget(&self, uid: &ApprovalId) {
        let removed = self
            .inner
            .live
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(uid);
        if let Some(addr) = removed {
            addr.do_send(Stop);
        }
        metrics::gauge!("sigil_approval_timers").set(self.len() as f64);
    }

    /// Whether this node holds a timer for the request.
    pub fn holds(&self, uid: &ApprovalId) -> bool {
        self.inner
            .live
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .contains_key(uid)
    }

    /// How many timers are live.
    pub fn len(&self) -> usize {
        self.inner
            .live
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .len()
    }

    /// Whether no timer is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Stops every timer (shutdown; the requests stay pending in the store for the next holder).
    pub fn stop_all(&self) {
        let drained: Vec<_> = self
            .inner
            .live
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .drain()
            .collect();
        for (_, addr) in drained {
            addr.do_send(Stop);
        }
    }
}

/// The actor of one live request.
pub struct ApprovalActor {
    uid: ApprovalId,
    expires_at_ms: i64,
    registry: Weak<Inner>,
}

impl ApprovalActor {
    fn arm(&self, ctx: &mut Context<Self>, delay: Duration) {
        ctx.run_later(delay, |actor, ctx| {
            let Some(registry) = actor.registry.upgrade() else {
                ctx.stop();
                return;
            };
            // The work runs on the daemon's runtime: a panic there fails this attempt's task, not the arbiter.
            let attempt = registry.runtime.spawn((registry.fire)(actor.uid.clone()));
            ctx.spawn(
                async move { attempt.await.unwrap_or(false) }
                    .into_actor(actor)
                    .map(|done, actor, ctx| {
                        if done {
                            if let Some(registry) = actor.registry.upgrade() {
                                let mut live =
                                    registry.live.write().unwrap_or_else(|p| p.into_inner());
                                if live
                                    .get(&actor.uid)
                                    .is_some_and(|addr| *addr == ctx.address())
                                {
                                    live.remove(&actor.uid);
                                }
                            }
                            ctx.stop();
                        } else {
                            actor.arm(ctx, RETRY_AFTER);
                        }
                    }),
            );
        });
    }
}

impl Actor for ApprovalActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let now = chrono::Utc::now().timestamp_millis();
        let delay = Duration::from_millis(self.expires_at_ms.saturating_sub(now).max(0) as u64);
        self.arm(ctx, delay);
    }
}

impl Supervised for ApprovalActor {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        tracing::warn!(approval = %self.uid, "approval actor restarting; its timer is re-armed");
        metrics::counter!("sigil_actor_restarts_total", "actor" => "approval").increment(1);
    }
}

/// Stops the actor for good (decided, replaced, or shutting down).
#[derive(Message)]
#[rtype(result = "()")]
struct Stop;

impl Handler<Stop> for ApprovalActor {
    type Result = ();

    fn handle(&mut self, _msg: Stop, ctx: &mut Context<Self>) {
        // Dropping the last address would also stop it; stopping explicitly ends a pending timer at once.
        ctx.stop();
    }
}
