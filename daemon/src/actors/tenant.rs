//! The tenant actor: one per tenant, started on first use and stopped when idle. It owns the tenant's rate-limit
//! buckets and a short-lived cache of memberships, so that per-tenant state is serialised in one place. Later
//! capabilities (TSA cursor, quotas) hang from it too.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use super::registry::{Forget, TenantRegistry};
use super::{ActorError, Runtime};
use crate::store::{Role, Store};

/// Which limit a request counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitClass {
    /// Requests authenticated with an API key.
    ApiKey,
    /// Requests authenticated with a session JWT.
    Session,
    /// Verification endpoints.
    Verification,
}

/// Builds a keyed per-minute limiter.
pub fn per_minute_limiter(per_minute: u32) -> DefaultKeyedRateLimiter<String> {
    let rate = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
    governor::RateLimiter::keyed(Quota::per_minute(rate))
}

/// Seconds to wait, rounded up, from a governor refusal.
pub fn retry_after_secs(not_until: &governor::NotUntil<governor::clock::QuantaInstant>) -> u64 {
    not_until
        .wait_time_from(DefaultClock::default().now())
        .as_secs_f64()
        .ceil()
        .max(1.0) as u64
}

struct Buckets {
    generation: u64,
    limiters: HashMap<LimitClass, DefaultKeyedRateLimiter<String>>,
}

/// The per-tenant actor.
pub struct TenantActor {
    tenant: String,
    runtime: Arc<Runtime>,
    registry: Addr<TenantRegistry>,
    buckets: Buckets,
    roles: HashMap<String, (Option<Role>, Instant)>,
    last_activity: Instant,
    /// Round-robin position over the tenant's TSA candidates.
    cursor: u64,
    /// Stamps counted this month (UTC), loaded from the store on first use each month.
    quota: Option<QuotaUsage>,
    /// The tenant's TSA allowlist, cached for `tenants.cache_ttl`.
    allowlist: Option<(Vec<String>, Instant)>,
}

/// This month's usage.
#[derive(Debug, Clone, Copy)]
struct QuotaUsage {
    month: (i32, u32),
    stamps: u64,
    qualified: u64,
}

impl TenantActor {
    pub(super) fn new(
        tenant: String,
        runtime: Arc<Runtime>,
        registry: Addr<TenantRegistry>,
    ) -> Self {
        let buckets = Self::buckets(&runtime);
        Self {
            tenant,
            runtime,
            registry,
            buckets,
            roles: HashMap::new(),
            last_activity: Instant::now(),
            cursor: 0,
            quota: None,
            allowlist: None,
        }
    }

    fn buckets(runtime: &Runtime) -> Buckets {
        let (generation, settings) = runtime.settings();
        let limits = &settings.limits;
        let limiters = HashMap::from([
            (
                LimitClass::ApiKey,
                per_minute_limiter(limits.api_key_per_minute),
            ),
            (
                LimitClass::Session,
                per_minute_limiter(limits.session_per_minute),
            ),
            (
                LimitClass::Verification,
                per_minute_limiter(limits.verification_per_minute),
            ),
        ]);
        Buckets {
            generation,
            limiters,
        }
    }

    fn store(&self) -> Store {
        self.runtime.store.clone()
    }

    /// Runs `body` and turns a panic into an error plus a restart, so a bug costs one request, not the tenant.
    fn guarded<T>(
        &mut self,
        ctx: &mut Context<Self>,
        body: impl FnOnce(&mut Self) -> T,
    ) -> Result<T, ActorError> {
        self.last_activity = Instant::now();
        match std::panic::catch_unwind(AssertUnwindSafe(|| body(self))) {
            Ok(value) => Ok(value),
            Err(_) => {
                tracing::error!(tenant = %self.tenant, "tenant actor panicked; restarting it");
                metrics::counter!("sigil_actor_restarts_total", "actor" => "tenant").increment(1);
                // Stopping a supervised actor makes the supervisor restart it with fresh state.
                ctx.stop();
                Err(ActorError::Panicked)
            }
        }
    }
}

impl Actor for TenantActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        tracing::debug!(tenant = %self.tenant, "tenant actor started");
        metrics::gauge!("sigil_tenant_actors").increment(1.0);
        let idle_timeout = self.runtime.settings().1.tenants.idle_timeout;
        let check_every =
            (idle_timeout / 4).clamp(Duration::from_millis(250), Duration::from_secs(30));
        ctx.run_interval(check_every, move |actor, _ctx| {
            if actor.last_activity.elapsed() >= idle_timeout {
                // The registry drops its address; once in-flight senders drop theirs, the mailbox closes and the
                // actor stops without the supervisor restarting it.
                actor.registry.do_send(Forget {
                    tenant: actor.tenant.clone(),
                });
            }
        });
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        tracing::debug!(tenant = %self.tenant, "tenant actor stopped");
        metrics::gauge!("sigil_tenant_actors").decrement(1.0);
    }
}

impl Supervised for TenantActor {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        // Start over from a clean slate: buckets and caches may be what the panic left inconsistent.
        self.buckets = Self::buckets(&self.runtime);
        self.roles.clear();
        self.last_activity = Instant::now();
        self.quota = None;
        self.allowlist = None;
    }
}

/// Counts one request against the caller's bucket. `Err(RateLimited)` carries the seconds to wait.
#[derive(Message)]
#[rtype(result = "Result<(), ActorError>")]
pub struct Admit {
    /// Which limit.
    pub class: LimitClass,
    /// Whose bucket (API key id or user id).
    pub principal: String,
}

impl Handler<Admit> for TenantActor {
    type Result = Result<(), ActorError>;

    fn handle(&mut self, message: Admit, ctx: &mut Context<Self>) -> Self::Result {
        self.guarded(ctx, |actor| {
            if actor.buckets.generation != actor.runtime.settings().0 {
                // The config was reloaded with (possibly) new limits.
                actor.buckets = Self::buckets(&actor.runtime);
            }
            let limiter = actor
                .buckets
                .limiters
                .get(&message.class)
                .ok_or(ActorError::Panicked)?;
            limiter
                .check_key(&message.principal)
                .map_err(|not_until| ActorError::RateLimited {
                    retry_after_secs: retry_after_secs(&not_until),
                })
        })?
    }
}

/// The user's role in this tenant, from the cache or the store.
#[derive(Message)]
#[rtype(result = "Result<Option<Role>, ActorError>")]
pub struct RoleOf {
    /// User id.
    pub user: String,
}

impl Handler<RoleOf> for TenantActor {
    type Result = ResponseActFuture<Self, Result<Option<Role>, ActorError>>;

    fn handle(&mut self, message: RoleOf, ctx: &mut Context<Self>) -> Self::Result {
        let ttl = self.runtime.settings().1.tenants.cache_ttl;
        let cached = self.guarded(ctx, |actor| {
            actor
                .roles
                .get(&message.user)
                .filter(|(_, at)| at.elapsed() < ttl)
                .map(|(role, _)| *role)
        });
        match cached {
            Err(error) => Box::pin(async move { Err(error) }.into_actor(self)),
            Ok(Some(role)) => Box::pin(async move { Ok(role) }.into_actor(self)),
            Ok(None) => {
                let store = self.store();
                let tenant = self.tenant.clone();
                let user = message.user.clone();
                Box::pin(
                    async move { store.role_of(&tenant, &user).await }
                        .into_actor(self)
                        .map(move |result, actor, _ctx| {
                            let role = result.map_err(|e| ActorError::Store(e.to_string()))?;
                            actor.roles.insert(message.user, (role, Instant::now()));
                            Ok(role)
                        }),
                )
            }
        }
    }
}

/// Drops cached memberships after a change made through this node.
#[derive(Message)]
#[rtype(result = "()")]
pub struct InvalidateRoles;

impl Handler<InvalidateRoles> for TenantActor {
    type Result = ();

    fn handle(&mut self, _message: InvalidateRoles, _ctx: &mut Context<Self>) {
        self.roles.clear();
    }
}

/// Fault injection for the test suite: panics inside the actor.
#[derive(Message)]
#[rtype(result = "Result<(), ActorError>")]
pub struct InjectPanic;

impl Handler<InjectPanic> for TenantActor {
    type Result = Result<(), ActorError>;

    fn handle(&mut self, _message: InjectPanic, ctx: &mut Context<Self>) -> Self::Result {
        self.guarded(ctx, |_| panic!("injected panic in tenant actor"))
    }
}

/// Orders TSA candidates for the next stamp: round-robin, one step further on each call.
#[derive(Message)]
#[rtype(result = "Vec<String>")]
pub struct Rotate {
    /// Candidate slugs in configuration order.
    pub candidates: Vec<String>,
}

impl Handler<Rotate> for TenantActor {
    type Result = MessageResult<Rotate>;

    fn handle(&mut self, mut message: Rotate, _ctx: &mut Context<Self>) -> Self::Result {
        self.last_activity = Instant::now();
        if !message.candidates.is_empty() {
            let start = (self.cursor % message.candidates.len() as u64) as usize;
            message.candidates.rotate_left(start);
            self.cursor = self.cursor.wrapping_add(1);
        }
        MessageResult(message.candidates)
    }
}

/// A monthly quota refused a stamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuotaRefusal {
    /// The stamp limit is reached.
    Stamps(u64),
    /// The qualified-stamp limit is reached.
    Qualified(u64),
    /// Counting failed.
    Unavailable(String),
}

/// Reserves one stamp of this month's quota (released again with [`ReleaseStamp`] if the stamp fails).
#[derive(Message)]
#[rtype(result = "Result<(), QuotaRefusal>")]
pub struct ReserveStamp {
    /// A qualified stamp (counts against both quotas).
    pub qualified: bool,
}

fn current_month() -> (i32, u32) {
    use chrono::Datelike;
    let now = chrono::Utc::now();
    (now.year(), now.month())
}

impl TenantActor {
    fn try_reserve(&mut self, qualified: bool) -> Result<(), QuotaRefusal> {
        let limits = self.runtime.settings().1.tsa.clone();
        let usage = self
            .quota
            .as_mut()
            .ok_or(QuotaRefusal::Unavailable("quota not loaded".into()))?;
        if limits.monthly_stamp_limit > 0 && usage.stamps >= limits.monthly_stamp_limit {
            return Err(QuotaRefusal::Stamps(limits.monthly_stamp_limit));
        }
        if qualified
            && limits.monthly_qualified_limit > 0
            && usage.qualified >= limits.monthly_qualified_limit
        {
            return Err(QuotaRefusal::Qualified(limits.monthly_qualified_limit));
        }
        usage.stamps += 1;
        usage.qualified += u64::from(qualified);
        Ok(())
    }
}

impl Handler<ReserveStamp> for TenantActor {
    type Result = ResponseActFuture<Self, Result<(), QuotaRefusal>>;

    fn handle(&mut self, message: ReserveStamp, _ctx: &mut Context<Self>) -> Self::Result {
        self.last_activity = Instant::now();
        let limits = self.runtime.settings().1.tsa.clone();
        let needs_counting = limits.monthly_stamp_limit > 0
            || (message.qualified && limits.monthly_qualified_limit > 0);
        if !needs_counting {
            return Box::pin(async { Ok(()) }.into_actor(self));
        }
        let month = current_month();
        if self.quota.is_some_and(|q| q.month == month) {
            let outcome = self.try_reserve(message.qualified);
            return Box::pin(async move { outcome }.into_actor(self));
        }
        // First stamp of the month on this actor: count what the store already holds.
        let store = self.store();
        let tenant = self.tenant.clone();
        let since = format!("{:04}-{:02}-01T00:00:00Z", month.0, month.1);
        Box::pin(
            async move {
                let stamps = store.count_stamps_since(&tenant, &since, false).await?;
                let qualified = store.count_stamps_since(&tenant, &since, true).await?;
                Ok::<_, crate::store::StoreError>((stamps, qualified))
            }
            .into_actor(self)
            .map(move |counted, actor, _ctx| {
                let (stamps, qualified) =
                    counted.map_err(|e| QuotaRefusal::Unavailable(e.to_string()))?;
                // Another reservation may have loaded the month meanwhile; keep the higher counts.
                let loaded = actor.quota.filter(|q| q.month == month);
                actor.quota = Some(QuotaUsage {
                    month,
                    stamps: loaded.map_or(stamps, |q| q.stamps.max(stamps)),
                    qualified: loaded.map_or(qualified, |q| q.qualified.max(qualified)),
                });
                actor.try_reserve(message.qualified)
            }),
        )
    }
}

/// Gives back a reservation whose stamp failed.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ReleaseStamp {
    /// It was a qualified stamp.
    pub qualified: bool,
}

impl Handler<ReleaseStamp> for TenantActor {
    type Result = ();

    fn handle(&mut self, message: ReleaseStamp, _ctx: &mut Context<Self>) {
        if let Some(usage) = self.quota.as_mut() {
            usage.stamps = usage.stamps.saturating_sub(1);
            usage.qualified = usage.qualified.saturating_sub(u64::from(message.qualified));
        }
    }
}

/// The tenant's TSA allowlist (`enabledTsaSlugs`; empty means every active provider).
#[derive(Message)]
#[rtype(result = "Result<Vec<String>, ActorError>")]
pub struct Allowlist;

impl Handler<Allowlist> for TenantActor {
    type Result = ResponseActFuture<Self, Result<Vec<String>, ActorError>>;

    fn handle(&mut self, _message: Allowlist, _ctx: &mut Context<Self>) -> Self::Result {
        self.last_activity = Instant::now();
        let ttl = self.runtime.settings().1.tenants.cache_ttl;
        if let Some((slugs, at)) = &self.allowlist
            && at.elapsed() < ttl
        {
            let slugs = slugs.clone();
            return Box::pin(async move { Ok(slugs) }.into_actor(self));
        }
        let store = self.store();
        let tenant = self.tenant.clone();
        Box::pin(
            async move { store.enabled_tsa_slugs(&tenant).await }
                .into_actor(self)
                .map(|result, actor, _ctx| {
                    let slugs = result.map_err(|e| ActorError::Store(e.to_string()))?;
                    actor.allowlist = Some((slugs.clone(), Instant::now()));
                    Ok(slugs)
                }),
        )
    }
}

/// Drops the cached allowlist after the tenant's settings changed through this node.
#[derive(Message)]
#[rtype(result = "()")]
pub struct InvalidateSettings;

impl Handler<InvalidateSettings> for TenantActor {
    type Result = ();

    fn handle(&mut self, _message: InvalidateSettings, _ctx: &mut Context<Self>) {
        self.allowlist = None;
    }
}
