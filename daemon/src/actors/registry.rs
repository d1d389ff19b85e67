//! The tenant registry: finds or lazily starts the supervised actor of a tenant, spreads tenants over a pool of
//! arbiters, and forgets actors that went idle. It is the only owner of tenant actor addresses.
//!
//! It is a shared map behind a read-write lock, not an actor: every authenticated request finds its tenant's
//! actor with a read lock and no message hop, so no single mailbox serialises the whole daemon. The write lock
//! is taken only to start or forget an actor.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, RwLock, Weak};

use actix::prelude::*;

use super::Runtime;
use super::tenant::TenantActor;

/// Owns the map from tenant id to actor. Cheap to clone.
#[derive(Clone)]
pub struct TenantRegistry {
    inner: Arc<Inner>,
}

struct Inner {
    runtime: Arc<Runtime>,
    arbiters: Vec<ArbiterHandle>,
    tenants: RwLock<HashMap<String, Addr<TenantActor>>>,
}

/// What a tenant actor keeps of the registry: a weak handle, so that it can ask to be forgotten without keeping
/// the registry alive.
#[derive(Clone)]
pub struct RegistryHandle(Weak<Inner>);

impl RegistryHandle {
    /// Drops the tenant's address if it is still `addr` (a newer actor of the same tenant stays).
    pub fn forget(&self, tenant: &str, addr: &Addr<TenantActor>) {
        if let Some(inner) = self.0.upgrade() {
            let mut tenants = inner.tenants.write().unwrap_or_else(|p| p.into_inner());
            if tenants.get(tenant).is_some_and(|known| known == addr) {
                tenants.remove(tenant);
                tracing::debug!(%tenant, "tenant actor idle; released");
            }
        }
    }
}

impl TenantRegistry {
    /// A registry placing tenant actors on `arbiters` (at least one).
    pub fn new(runtime: Arc<Runtime>, arbiters: Vec<ArbiterHandle>) -> Self {
        assert!(!arbiters.is_empty(), "the tenant registry needs an arbiter");
        Self {
            inner: Arc::new(Inner {
                runtime,
                arbiters,
                tenants: RwLock::default(),
            }),
        }
    }

    fn arbiter_for(&self, tenant: &str) -> ArbiterHandle {
        let mut hasher = DefaultHasher::new();
        tenant.hash(&mut hasher);
        let arbiters = &self.inner.arbiters;
        arbiters[(hasher.finish() as usize) % arbiters.len()].clone()
    }

    /// The address of a tenant's actor, starting it if needed.
    pub fn lookup(&self, tenant: &str) -> Addr<TenantActor> {
        {
            let tenants = self.inner.tenants.read().unwrap_or_else(|p| p.into_inner());
            if let Some(addr) = tenants.get(tenant)
                && addr.connected()
            {
                return addr.clone();
            }
        }
        let mut tenants = self
            .inner
            .tenants
            .write()
            .unwrap_or_else(|p| p.into_inner());
        // Another request may have started it meanwhile.
        if let Some(addr) = tenants.get(tenant)
            && addr.connected()
        {
            return addr.clone();
        }
        // Not running, or its mailbox died with it (a panic that escaped the handler guard): start a fresh one.
        let runtime = self.inner.runtime.clone();
        let handle = RegistryHandle(Arc::downgrade(&self.inner));
        let id = crate::ids::TenantId::new(tenant);
        let addr = Supervisor::start_in_arbiter(&self.arbiter_for(tenant), move |_| {
            TenantActor::new(id, runtime, handle)
        });
        tenants.insert(tenant.to_string(), addr.clone());
        addr
    }

    /// How many tenant actors are registered (for readiness and metrics).
    pub fn count(&self) -> usize {
        self.inner
            .tenants
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    /// Releases every tenant actor address at shutdown.
    pub fn shutdown(&self) {
        self.inner
            .tenants
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}
