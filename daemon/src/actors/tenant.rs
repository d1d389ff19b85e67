//! The tenant actor: one per tenant, started on first use and stopped when idle. It owns a short-lived cache of
//! memberships and what a stamp must serialise per tenant: the round-robin cursor over TSA providers and the
//! cached allowlist, reached in one message per stamp ([`PlanStamp`]). Rate limits are not here (they are shared
//! concurrent limiters checked on the request's task, `http/limits.rs`), nor are quotas (counted in the store, so
//! that nodes agree).

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;

use super::registry::RegistryHandle;
use super::{ActorError, Runtime};
use crate::ids::{TenantId, TenantScope, UserId};
use crate::store::{Role, Store};

/// The per-tenant actor.
pub struct TenantActor {
    /// The tenant this actor acts for.
    scope: TenantScope,
    runtime: Arc<Runtime>,
    registry: RegistryHandle,
    roles: HashMap<UserId, (Option<Role>, Instant)>,
    last_activity: Instant,
    /// Round-robin position over the tenant's TSA candidates.
    cursor: u64,
    /// The tenant's TSA allowlist, cached for `tenants.cache_ttl`.
    allowlist: Option<(Vec<String>, Instant)>,
}

impl TenantActor {
    pub(super) fn new(tenant: TenantId, runtime: Arc<Runtime>, registry: RegistryHandle) -> Self {
        let scope = TenantScope::authenticated(tenant);
        Self {
            scope,
            runtime,
            registry,
            roles: HashMap::new(),
            last_activity: Instant::now(),
            cursor: 0,
            allowlist: None,
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
                tracing::error!(tenant = %self.scope.tenant(), "tenant actor panicked; restarting it");
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
        tracing::debug!(tenant = %self.scope.tenant(), "tenant actor started");
        metrics::gauge!("sigil_tenant_actors").increment(1.0);
        let idle_timeout = self.runtime.settings().1.tenants.idle_timeout;
        let check_every =
            (idle_timeout / 4).clamp(Duration::from_millis(250), Duration::from_secs(30));
        ctx.run_interval(check_every, move |actor, ctx| {
            if actor.last_activity.elapsed() >= idle_timeout {
                // The registry drops its address; once in-flight senders drop theirs, the mailbox closes and the
                // actor stops without the supervisor restarting it.
                actor.registry.forget(actor.scope.tenant(), &ctx.address());
            }
        });
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        tracing::debug!(tenant = %self.scope.tenant(), "tenant actor stopped");
        metrics::gauge!("sigil_tenant_actors").decrement(1.0);
    }
}

impl Supervised for TenantActor {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        // Start over from a clean slate: the caches may be what the panic left inconsistent.
        self.roles.clear();
        self.last_activity = Instant::now();
        self.allowlist = None;
    }
}

/// The user's role in this tenant, from the cache or the store.
#[derive(Message)]
#[rtype(result = "Result<Option<Role>, ActorError>")]
pub struct RoleOf {
    /// User id.
    pub user: UserId,
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
                let tenant = self.scope.tenant().clone();
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

/// A provider as [`PlanStamp`] sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CandidateInfo {
    /// Slug.
    pub slug: String,
    /// Whether it is qualified.
    pub qualified: bool,
}

/// Which providers a stamp may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StampSelection {
    /// Round-robin with failover over every eligible provider.
    Auto,
    /// This provider only.
    Slug(String),
}

/// Why no candidate is left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanRefusal {
    /// The named provider is not active.
    UnknownSlug(String),
    /// The named provider is not in the tenant's allowlist.
    NotAllowed(String),
    /// A qualified stamp was asked of a provider that is not qualified.
    NotQualified(String),
    /// No active provider is both allowed and (when asked) qualified.
    NoneEligible {
        /// A qualified stamp was asked.
        qualified: bool,
    },
    /// The allowlist could not be read.
    Store(String),
}

/// Plans one stamp in one message: applies the tenant's allowlist (cached) and the qualified filter to the active
/// providers (in configuration order), and for `Auto` rotates the eligible ones round-robin, one step further on
/// each call. Answers the slugs in the order to try them.
#[derive(Message)]
#[rtype(result = "Result<Vec<String>, PlanRefusal>")]
pub struct PlanStamp {
    /// Active providers, in configuration order.
    pub active: Vec<CandidateInfo>,
    /// Auto or one slug.
    pub selection: StampSelection,
    /// Only qualified providers.
    pub qualified: bool,
}

impl TenantActor {
    fn plan(
        &mut self,
        message: PlanStamp,
        allowlist: &[String],
    ) -> Result<Vec<String>, PlanRefusal> {
        let allowed = |slug: &str| allowlist.is_empty() || allowlist.iter().any(|s| s == slug);
        match message.selection {
            StampSelection::Slug(slug) => {
                let provider = message
                    .active
                    .iter()
                    .find(|p| p.slug == slug)
                    .ok_or_else(|| PlanRefusal::UnknownSlug(slug.clone()))?;
                if !allowed(&slug) {
                    return Err(PlanRefusal::NotAllowed(slug));
                }
                if message.qualified && !provider.qualified {
                    return Err(PlanRefusal::NotQualified(slug));
                }
                Ok(vec![slug])
            }
            StampSelection::Auto => {
                let mut eligible: Vec<String> = message
                    .active
                    .into_iter()
                    .filter(|p| allowed(&p.slug) && (!message.qualified || p.qualified))
                    .map(|p| p.slug)
                    .collect();
                if eligible.is_empty() {
                    return Err(PlanRefusal::NoneEligible {
                        qualified: message.qualified,
                    });
                }
                let start = (self.cursor % eligible.len() as u64) as usize;
                eligible.rotate_left(start);
                self.cursor = self.cursor.wrapping_add(1);
                Ok(eligible)
            }
        }
    }
}

impl Handler<PlanStamp> for TenantActor {
    type Result = ResponseActFuture<Self, Result<Vec<String>, PlanRefusal>>;

    fn handle(&mut self, message: PlanStamp, _ctx: &mut Context<Self>) -> Self::Result {
        self.last_activity = Instant::now();
        let ttl = self.runtime.settings().1.tenants.cache_ttl;
        if let Some((slugs, at)) = &self.allowlist
            && at.elapsed() < ttl
        {
            let slugs = slugs.clone();
            let planned = self.plan(message, &slugs);
            return Box::pin(async move { planned }.into_actor(self));
        }
        let store = self.store();
        let scope = self.scope.clone();
        Box::pin(
            async move { store.tenant_settings(&scope).await }
                .into_actor(self)
                .map(move |result, actor, _ctx| {
                    let slugs = result
                        .map_err(|e| PlanRefusal::Store(e.to_string()))?
                        .enabled_tsa_slugs;
                    actor.allowlist = Some((slugs.clone(), Instant::now()));
                    actor.plan(message, &slugs)
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
