//! Approval-request actors: one supervised actor per live (pending) request that this node holds and whose
//! expiry is near, whose only job is its expiry timer. The actor is a cache of the stored request: the decision
//! itself is a compare-and-set in the store, so a timer that fires after a person decided simply loses and stops.
//!
//! A request that expires later than the horizon (a minute by default) gets no actor yet: it waits in an ordered
//! map of one of the arbiter shards, whose supervised [`TimerShard`] actor looks every tick (a second) and starts
//! the actors of the requests whose expiry came within the horizon. An actor with its context, mailbox and
//! tokio timer costs about a kilobyte and a half; a waiting entry costs two map entries, so a node can hold
//! hundreds of thousands of live requests (expiries of a day are the common case) in a few tens of megabytes.
//!
//! [`ApprovalTimers`] is the registry: a shared map behind a lock (no message hop to find an actor), actors
//! and shards spread over the arbiter pool. The work a timer triggers runs on the daemon's tokio runtime, not
//! on the arbiter, so a panic in it costs that one expiry attempt (retried), never the arbiter.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock, RwLockWriteGuard, Weak};
use std::time::Duration;

use actix::prelude::*;

use crate::ids::ApprovalId;

/// What a timer does when it fires: `true` when the request is finished with (expired, or decided
/// meanwhile), `false` to try again later (the store was unavailable).
pub type FireFn =
    Arc<dyn Fn(ApprovalId) -> Pin<Box<dyn Future<Output = bool> + Send>> + Send + Sync>;

/// When timers start their actors and retry.
#[derive(Debug, Clone, Copy)]
pub struct TimerTuning {
    /// A request expiring within this gets its actor at once; a later one waits in its shard's map until its
    /// expiry comes this close. Must be longer than `tick`, so that an actor always starts before its expiry.
    pub horizon: Duration,
    /// How often a shard moves the requests that came within the horizon to actors.
    pub tick: Duration,
    /// How long a failed expiry waits before the next attempt.
    pub retry_after: Duration,
}

impl Default for TimerTuning {
    fn default() -> Self {
        Self {
            horizon: Duration::from_secs(60),
            tick: Duration::from_secs(1),
            retry_after: Duration::from_secs(5),
        }
    }
}

/// The timers of the live requests this node holds. Cheap to clone.
#[derive(Clone)]
pub struct ApprovalTimers {
    inner: Arc<Inner>,
}

struct Inner {
    arbiters: Vec<ArbiterHandle>,
    next_arbiter: AtomicUsize,
    state: RwLock<State>,
    runtime: tokio::runtime::Handle,
    fire: FireFn,
    tuning: TimerTuning,
}

/// Where each live request's timer is. Both maps change under one lock, so a request is in exactly one place.
struct State {
    live: HashMap<ApprovalId, Timer>,
    /// Per arbiter shard: the requests waiting for their actor, ordered by expiry.
    waiting: Vec<BTreeSet<(i64, ApprovalId)>>,
}

/// One live request's timer.
enum Timer {
    /// In the map of shard `shard`, to expire at `expires_at_ms`.
    Waiting { shard: usize, expires_at_ms: i64 },
    /// Its actor runs.
    Actor(Addr<ApprovalActor>),
}

impl Inner {
    fn state(&self) -> RwLockWriteGuard<'_, State> {
        self.state
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn horizon_ms(&self) -> i64 {
        self.tuning.horizon.as_millis() as i64
    }
}

impl State {
    /// Takes a request's timer out of both maps; the actor to stop, if it had one.
    fn take(&mut self, uid: &ApprovalId) -> Option<Addr<ApprovalActor>> {
        match self.live.remove(uid)? {
            Timer::Waiting {
                shard,
                expires_at_ms,
            } => {
                self.waiting[shard].remove(&(expires_at_ms, uid.clone()));
                None
            }
            Timer::Actor(addr) => Some(addr),
        }
    }

    fn publish(&self) {
        metrics::gauge!("sigil_approval_timers").set(self.live.len() as f64);
    }
}

impl ApprovalTimers {
    /// Timers placed on `arbiters` (at least one) whose work runs on `runtime`, with the default tuning.
    pub fn new(
        arbiters: Vec<ArbiterHandle>,
        runtime: tokio::runtime::Handle,
        fire: FireFn,
    ) -> Self {
        Self::with_tuning(arbiters, runtime, fire, TimerTuning::default())
    }

    /// As [`ApprovalTimers::new`], with the given horizon, tick and retry delay. Starts one [`TimerShard`] per
    /// arbiter.
    pub fn with_tuning(
        arbiters: Vec<ArbiterHandle>,
        runtime: tokio::runtime::Handle,
        fire: FireFn,
        tuning: TimerTuning,
    ) -> Self {
        assert!(!arbiters.is_empty(), "approval timers need an arbiter");
        assert!(
            tuning.horizon > tuning.tick,
            "the horizon must be longer than the tick"
        );
        let shards = arbiters.len();
        let inner = Arc::new(Inner {
            arbiters,
            next_arbiter: AtomicUsize::new(0),
            state: RwLock::new(State {
                live: HashMap::new(),
                waiting: vec![BTreeSet::new(); shards],
            }),
            runtime,
            fire,
            tuning,
        });
        for (shard, arbiter) in inner.arbiters.iter().enumerate() {
            let registry = Arc::downgrade(&inner);
            Supervisor::start_in_arbiter(arbiter, move |_| TimerShard { shard, registry });
        }
        Self { inner }
    }

    /// Starts (or restarts) the timer of a live request that expires at `expires_at_ms` (unix milliseconds).
    pub fn track(&self, uid: ApprovalId, expires_at_ms: i64) {
        let shard =
            self.inner.next_arbiter.fetch_add(1, Ordering::Relaxed) % self.inner.arbiters.len();
        let near = expires_at_ms <= now_ms() + self.inner.horizon_ms();
        let actor = near.then(|| {
            let actor_uid = uid.clone();
            let registry = Arc::downgrade(&self.inner);
            Supervisor::start_in_arbiter(&self.inner.arbiters[shard], move |_| ApprovalActor {
                uid: actor_uid,
                expires_at_ms,
                registry,
            })
        });
        let previous = {
            let mut state = self.inner.state();
            let previous = state.take(&uid);
            match actor {
                Some(addr) => {
                    state.live.insert(uid, Timer::Actor(addr));
                }
                None => {
                    state.waiting[shard].insert((expires_at_ms, uid.clone()));
                    state.live.insert(
                        uid,
                        Timer::Waiting {
                            shard,
                            expires_at_ms,
                        },
                    );
                }
            }
            state.publish();
            previous
        };
        if let Some(previous) = previous {
            previous.do_send(Stop);
        }
    }

    /// Stops the timer of a request that was decided (a no-op when this node holds none for it).
    pub fn forget(&self, uid: &ApprovalId) {
        let removed = {
            let mut state = self.inner.state();
            let removed = state.take(uid);
            state.publish();
            removed
        };
        if let Some(addr) = removed {
            addr.do_send(Stop);
        }
    }

    /// Whether this node holds a timer for the request.
    pub fn holds(&self, uid: &ApprovalId) -> bool {
        self.inner
            .state
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .live
            .contains_key(uid)
    }

    /// How many timers are live (waiting or with their actor).
    pub fn len(&self) -> usize {
        self.inner
            .state
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .live
            .len()
    }

    /// Whether no timer is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many live requests have their actor running (the others wait in their shard's map).
    pub fn actors(&self) -> usize {
        self.inner
            .state
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .live
            .values()
            .filter(|timer| matches!(timer, Timer::Actor(_)))
            .count()
    }

    /// Stops every timer (shutdown; the requests stay pending in the store for the next holder).
    pub fn stop_all(&self) {
        let drained: Vec<_> = {
            let mut state = self.inner.state();
            state.waiting.iter_mut().for_each(BTreeSet::clear);
            let drained = state.live.drain().collect();
            state.publish();
            drained
        };
        for (_, timer) in drained {
            if let Timer::Actor(addr) = timer {
                addr.do_send(Stop);
            }
        }
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// One arbiter's shard of the waiting requests: every tick, starts the actors of those whose expiry came within
/// the horizon, on its own arbiter. Its state is the shared map, so a restart loses nothing.
pub struct TimerShard {
    shard: usize,
    registry: Weak<Inner>,
}

impl TimerShard {
    fn promote(&mut self, ctx: &mut Context<Self>) {
        let Some(registry) = self.registry.upgrade() else {
            ctx.stop();
            return;
        };
        let limit = now_ms() + registry.horizon_ms();
        let mut state = registry.state();
        let waiting = &mut state.waiting[self.shard];
        if waiting.first().is_none_or(|(at, _)| *at > limit) {
            return;
        }
        // Everything up to `limit` (ids are never empty, so `(limit + 1, "")` sorts after all of them).
        let later = waiting.split_off(&(limit.saturating_add(1), ApprovalId::new("")));
        let due = std::mem::replace(waiting, later);
        for (expires_at_ms, uid) in due {
            let actor = ApprovalActor {
                uid: uid.clone(),
                expires_at_ms,
                registry: self.registry.clone(),
            };
            let addr = Supervisor::start(move |_| actor);
            state.live.insert(uid, Timer::Actor(addr));
        }
    }
}

impl Actor for TimerShard {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let tick = self
            .registry
            .upgrade()
            .map_or(Duration::from_secs(1), |registry| registry.tuning.tick);
        ctx.run_interval(tick, Self::promote);
    }
}

impl Supervised for TimerShard {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        tracing::warn!(
            shard = self.shard,
            "approval timer shard restarting; its map is kept"
        );
        metrics::counter!("sigil_actor_restarts_total", "actor" => "approval_shard").increment(1);
    }
}

/// The actor of one live request whose expiry is near.
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
            let retry_after = registry.tuning.retry_after;
            ctx.spawn(
                async move { attempt.await.unwrap_or(false) }
                    .into_actor(actor)
                    .map(move |done, actor, ctx| {
                        if done {
                            if let Some(registry) = actor.registry.upgrade() {
                                let mut state = registry.state();
                                if matches!(
                                    state.live.get(&actor.uid),
                                    Some(Timer::Actor(addr)) if *addr == ctx.address()
                                ) {
                                    state.live.remove(&actor.uid);
                                    state.publish();
                                }
                            }
                            ctx.stop();
                        } else {
                            actor.arm(ctx, retry_after);
                        }
                    }),
            );
        });
    }
}

impl Actor for ApprovalActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let delay =
            Duration::from_millis(self.expires_at_ms.saturating_sub(now_ms()).max(0) as u64);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn system() -> actix_rt::SystemRunner {
        actix_rt::System::with_tokio_rt(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime")
        })
    }

    fn waiting(timers: &ApprovalTimers, uid: &str) -> bool {
        matches!(
            timers
                .inner
                .state
                .read()
                .unwrap()
                .live
                .get(&ApprovalId::new(uid)),
            Some(Timer::Waiting { .. })
        )
    }

    #[test]
    fn far_off_timers_wait_without_an_actor_then_fire_and_decisions_or_panics_do_not_lose_them() {
        system().block_on(async {
            let arbiters = [actix::Arbiter::new(), actix::Arbiter::new()];
            let fired = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
            let booms = Arc::new(AtomicUsize::new(0));
            let fire: FireFn = {
                let (fired, booms) = (fired.clone(), booms.clone());
                Arc::new(move |uid: ApprovalId| {
                    let (fired, booms) = (fired.clone(), booms.clone());
                    Box::pin(async move {
                        if uid.as_str() == "boom" && booms.fetch_add(1, Ordering::SeqCst) == 0 {
                            panic!("an expiry attempt that fails");
                        }
                        fired.lock().unwrap().push(uid.as_str().to_string());
                        true
                    })
                })
            };
            let timers = ApprovalTimers::with_tuning(
                arbiters.iter().map(|a| a.handle()).collect(),
                tokio::runtime::Handle::current(),
                fire,
                TimerTuning {
                    horizon: Duration::from_millis(300),
                    tick: Duration::from_millis(50),
                    retry_after: Duration::from_millis(50),
                },
            );
            let now = now_ms();
            timers.track(ApprovalId::new("near"), now + 100);
            for uid in ["far", "decided", "boom"] {
                timers.track(ApprovalId::new(uid), now + 1_000);
            }
            // Re-timed from far off to near: one timer, which fires once.
            timers.track(ApprovalId::new("retimed"), now + 3_600_000);
            assert!(waiting(&timers, "retimed"));
            timers.track(ApprovalId::new("retimed"), now + 200);
            assert!(!waiting(&timers, "retimed"));
            // A day away: waits in its shard's map, with no actor.
            timers.track(ApprovalId::new("tomorrow"), now + 86_400_000);
            assert!(waiting(&timers, "far") && waiting(&timers, "tomorrow"));
            assert_eq!(timers.len(), 6);
            // Decided while waiting: its timer goes.
            timers.forget(&ApprovalId::new("decided"));
            assert!(!timers.holds(&ApprovalId::new("decided")));

            for _ in 0..400 {
                if timers.len() == 1 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            let mut seen = fired.lock().unwrap().clone();
            seen.sort();
            // The panicking attempt was retried; the decided one never fired; the far-off one still waits.
            assert_eq!(seen, ["boom", "far", "near", "retimed"]);
            assert_eq!(booms.load(Ordering::SeqCst), 2);
            assert!(waiting(&timers, "tomorrow"));
            let state = timers.inner.state.read().unwrap();
            assert_eq!(state.waiting.iter().map(BTreeSet::len).sum::<usize>(), 1);
            drop(state);
            timers.stop_all();
            assert!(timers.is_empty());
            for arbiter in arbiters {
                arbiter.stop();
            }
        });
    }
}
