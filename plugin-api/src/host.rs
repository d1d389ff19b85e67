//! Host side, step two: a safe handle on one plugin instance. It owns the instance (destroyed on drop), copies
//! and releases every buffer the plugin returns, and enforces the descriptor's concurrency bound.
//!
//! It is synchronous on purpose: the crate knows nothing of async runtimes, and the daemon runs plugin calls on
//! a blocking pool anyway.

use std::ffi::CString;
use std::ptr::NonNull;
use std::sync::{Condvar, Mutex, PoisonError};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::abi::{PluginKind, SIGIL_STATUS_OK, SigilBuffer, SigilInstance, SigilSlice, Status};
use crate::descriptor::{PluginHooks, ValidatedDescriptor};
use crate::error::PluginError;
use crate::messages::{HealthReport, decode_message, encode_message};

/// Bounds how many hook calls run at once on one instance (the descriptor's `max_concurrency`).
struct CallGate {
    /// 0 means no bound.
    limit: u32,
    in_flight: Mutex<u32>,
    slot_freed: Condvar,
}

/// Holds one slot of a [`CallGate`] until dropped.
struct CallSlot<'a>(&'a CallGate);

impl CallGate {
    fn new(limit: u32) -> Self {
        CallGate {
            limit,
            in_flight: Mutex::new(0),
            slot_freed: Condvar::new(),
        }
    }

    /// Waits for a free slot. A plugin that declared a bound may not be thread-safe beyond it, so exceeding it
    /// would be undefined behaviour inside the plugin; waiting is the only safe answer.
    fn enter(&self) -> CallSlot<'_> {
        if self.limit != 0 {
            // The counter stays consistent even if a holder panicked, so a poisoned lock is still usable.
            let mut in_flight = self
                .in_flight
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            while *in_flight >= self.limit {
                in_flight = self
                    .slot_freed
                    .wait(in_flight)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            *in_flight += 1;
        }
        CallSlot(self)
    }
}

impl Drop for CallSlot<'_> {
    fn drop(&mut self) {
        if self.0.limit != 0 {
            let mut in_flight = self
                .0
                .in_flight
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            *in_flight -= 1;
            self.0.slot_freed.notify_one();
        }
    }
}

/// A live plugin instance, owned by the host. Calls are synchronous and may come from several threads.
///
/// Created by [`ValidatedDescriptor::create_instance`]; dropping it calls the plugin's `destroy`. After a
/// [`Status::Panicked`] answer the instance is poisoned: drop it and create a new one.
pub struct HostInstance {
    /// OWNERSHIP: made by the plugin's `create`, released exactly once by `destroy` in `Drop`.
    handle: NonNull<SigilInstance>,
    hooks: PluginHooks,
    kind: PluginKind,
    plugin_name: String,
    gate: CallGate,
}

// SAFETY: the ABI requires instances to accept hooks from any thread, and `call`/`health` from several threads
// at once up to `max_concurrency`, which `gate` enforces; `destroy` runs in Drop, which has exclusive access.
unsafe impl Send for HostInstance {}
// SAFETY: as above.
unsafe impl Sync for HostInstance {}

impl core::fmt::Debug for HostInstance {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("HostInstance")
            .field("plugin", &self.plugin_name)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl ValidatedDescriptor {
    /// Calls the plugin's `create` with a JSON config (empty bytes mean `{}`).
    pub fn create_instance(&self, config: &[u8]) -> Result<HostInstance, PluginError> {
        let mut handle: *mut SigilInstance = core::ptr::null_mut();
        let mut error = SigilBuffer::EMPTY;
        // SAFETY: hooks come from a validated descriptor whose library stays loaded (validate_descriptor's
        // contract); `config` outlives the call and both out pointers are valid locals.
        let raw_status =
            unsafe { (self.hooks.create)(SigilSlice::from_bytes(config), &mut handle, &mut error) };
        // SAFETY: the plugin filled `error` with a buffer of its own (or left it empty); we release it once.
        let error_bytes = unsafe { error.take() };
        if raw_status != SIGIL_STATUS_OK {
            // A non-null handle alongside an error breaks the ABI; it is leaked rather than trusted.
            return Err(PluginError::from_wire(raw_status, &error_bytes));
        }
        let handle = NonNull::new(handle).ok_or_else(|| {
            PluginError::internal(format!(
                "plugin {} returned OK from create without an instance",
                self.name
            ))
        })?;
        Ok(HostInstance {
            handle,
            hooks: self.hooks,
            kind: self.kind,
            plugin_name: self.name.clone(),
            gate: CallGate::new(self.max_concurrency),
        })
    }
}

impl HostInstance {
    /// What the plugin does.
    pub fn kind(&self) -> PluginKind {
        self.kind
    }

    /// The plugin's name.
    pub fn plugin_name(&self) -> &str {
        &self.plugin_name
    }

    /// Runs one op with a raw request message and returns the raw response message.
    pub fn call(&self, op: &str, request: &[u8]) -> Result<Vec<u8>, PluginError> {
        let op_c = CString::new(op)
            .map_err(|_| PluginError::invalid_input(format!("op name {op:?} contains NUL")))?;
        let mut response = SigilBuffer::EMPTY;
        let _slot = self.gate.enter();
        // SAFETY: a live handle (destroy only runs in Drop), hooks from a validated descriptor, the concurrency
        // bound held by `_slot`, and `op_c`, `request` and `response` all outlive the call.
        let raw_status = unsafe {
            (self.hooks.call)(
                self.handle.as_ptr(),
                op_c.as_ptr(),
                SigilSlice::from_bytes(request),
                &mut response,
            )
        };
        // SAFETY: the plugin filled `response` with a buffer of its own (or left it empty); released once.
        let bytes = unsafe { response.take() };
        if raw_status == SIGIL_STATUS_OK {
            Ok(bytes)
        } else {
            Err(PluginError::from_wire(raw_status, &bytes))
        }
    }

    /// Runs one op with typed messages (see [`crate::messages`](crate#messages) for the pairs).
    pub fn call_message<Request, Response>(
        &self,
        op: &str,
        request: &Request,
    ) -> Result<Response, PluginError>
    where
        Request: Serialize,
        Response: DeserializeOwned,
    {
        let request = encode_message(request).map_err(|error| {
            PluginError::invalid_input(format!("cannot encode request: {error}"))
        })?;
        let response = self.call(op, &request)?;
        decode_message(&response).map_err(|error| {
            PluginError::internal(format!(
                "plugin {} answered op `{op}` with a malformed message: {error}",
                self.plugin_name
            ))
        })
    }

    /// Asks the plugin whether the instance can serve calls.
    pub fn health(&self) -> Result<HealthReport, PluginError> {
        let mut report = SigilBuffer::EMPTY;
        let _slot = self.gate.enter();
        // SAFETY: as in `call`.
        let raw_status = unsafe { (self.hooks.health)(self.handle.as_ptr(), &mut report) };
        // SAFETY: as in `call`.
        let bytes = unsafe { report.take() };
        if raw_status != SIGIL_STATUS_OK {
            return Err(PluginError::from_wire(raw_status, &bytes));
        }
        // A healthy answer with a garbled report is still healthy.
        Ok(decode_message(&bytes).unwrap_or_default())
    }

    /// Whether an error means this instance must be replaced.
    pub fn is_poisoning(error: &PluginError) -> bool {
        error.status == Status::Panicked
    }
}

impl Drop for HostInstance {
    fn drop(&mut self) {
        // SAFETY: `&mut self` means no call or health is running; the handle came from `create` and is passed
        // to `destroy` exactly once, here.
        unsafe { (self.hooks.destroy)(self.handle.as_ptr()) };
    }
}
