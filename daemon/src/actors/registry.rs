//! The tenant registry: finds or lazily starts the supervised actor of a tenant, spreads tenants over a pool of
//! arbiters, and forgets actors that went idle. It is the only owner of tenant actor addresses.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use actix::prelude::*;

use super::Runtime;
use super::tenant::TenantActor;

/// Owns the map from tenant id to actor.
pub struct TenantRegistry {
    runtime: Arc<Runtime>,
    arbiters: Vec<ArbiterHandle>,
    tenants: HashMap<String, Addr<TenantActor>>,
}

impl TenantRegistry {
    /// A registry placing tenant actors on `arbiters` (at least one).
    pub fn new(runtime: Arc<Runtime>, arbiters: Vec<ArbiterHandle>) -> Self {
        Self {
            runtime,
            arbiters,
            tenants: HashMap::new(),
        }
    }

    fn arbiter_for(&self, tenant: &str) -> ArbiterHandle {
        let mut hasher = DefaultHasher::new();
        tenant.hash(&mut hasher);
        self.arbiters[(hasher.finish() as usize) % self.arbiters.len()].clone()
    }
}

impl Actor for TenantRegistry {
    type Context = Context<Self>;
}

/// The address of a tenant's actor, starting it if needed.
#[derive(Message)]
#[rtype(result = "Addr<TenantActor>")]
pub struct Lookup {
    /// Tenant id.
    pub tenant: String,
}

impl Handler<Lookup> for TenantRegistry {
    type Result = MessageResult<Lookup>;

    fn handle(&mut self, message: Lookup, ctx: &mut Context<Self>) -> Self::Result {
        if let Some(addr) = self.tenants.get(&message.tenant)
            && addr.connected()
        {
            return MessageResult(addr.clone());
        }
        // Not running, or its mailbox died with it (a panic that escaped the handler guard): start a fresh one.
        let runtime = self.runtime.clone();
        let registry = ctx.address();
        let tenant = message.tenant.clone();
        let addr = Supervisor::start_in_arbiter(&self.arbiter_for(&tenant), move |_| {
            TenantActor::new(tenant, runtime, registry)
        });
        self.tenants.insert(message.tenant, addr.clone());
        MessageResult(addr)
    }
}

/// Sent by an idle tenant actor: drop its address so it can stop.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Forget {
    /// Tenant id.
    pub tenant: String,
}

impl Handler<Forget> for TenantRegistry {
    type Result = ();

    fn handle(&mut self, message: Forget, _ctx: &mut Context<Self>) {
        if self.tenants.remove(&message.tenant).is_some() {
            tracing::debug!(tenant = %message.tenant, "tenant actor idle; released");
        }
    }
}

/// How many tenant actors are registered (for readiness and metrics).
#[derive(Message)]
#[rtype(result = "usize")]
pub struct Count;

impl Handler<Count> for TenantRegistry {
    type Result = usize;

    fn handle(&mut self, _message: Count, _ctx: &mut Context<Self>) -> usize {
        self.tenants.len()
    }
}

/// Stops the registry at shutdown, releasing every tenant actor address and the runtime it holds.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Shutdown;

impl Handler<Shutdown> for TenantRegistry {
    type Result = ();

    fn handle(&mut self, _message: Shutdown, ctx: &mut Context<Self>) {
        self.tenants.clear();
        ctx.stop();
    }
}
