//! `sigil-fixture-faulty`: **a test fixture, never to be deployed.** A TSA backend plugin that misbehaves on
//! purpose, so that sigild's test suite can prove the host survives plugins that panic, answer garbage or
//! hang. It issues no time stamps.
//!
//! Config (JSON, from the instance's `config` table):
//!
//! | key | type | default | |
//! | --- | --- | --- | --- |
//! | `mode` | string | required | `panic`, `garbage`, `slow` or `ok_once_then_panic` |
//! | `delay_ms` | integer | 1000 | how long `slow` sleeps |
//! | `ops` | array of string | `["timestamp"]` | where the fault strikes: any of `describe`, `timestamp`, `health`; elsewhere the plugin behaves |
//! | `response_der` | base64 | a minimal TimeStampResp with status `rejection` | what a well-behaved `timestamp` answers |
//!
//! Modes, for each op listed in `ops`:
//! - `panic`: panics. The shim catches it (an unwind into the host would abort it), answers `PANICKED` and
//!   poisons the instance: every later hook answers `PANICKED`, as the ABI prescribes.
//! - `garbage`: answers `OK` with the bytes `\xff\x00 not json`, which no message parser accepts.
//! - `slow`: sleeps `delay_ms`, ignoring the request's `timeout_ms` hint on purpose (the host must enforce its
//!   own deadline), then answers `TIMEOUT` with class `timeout`.
//! - `ok_once_then_panic`: the first faulty-op call on an instance behaves, every later one panics; a
//!   re-created instance behaves once again (the host's recovery path).
//!
//! Why the hooks are written by hand against the raw ABI instead of through `export_tsa_backend!`: the safe
//! trait can only return typed messages, and `garbage` needs a `call` that returns bytes that are not JSON.
//! It also makes this crate a second, independent implementation of the plugin side of the ABI.

// reason: this crate implements the plugin side of the C ABI by hand (descriptor, vtable, buffers); every
// unsafe block carries a SAFETY note and every pointer an OWNERSHIP note.
#![allow(unsafe_code)]

use core::ffi::{CStr, c_char};
use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sigil_plugin_api::serde_json::{Value, json};
use sigil_plugin_api::{
    Base64Bytes, PluginError, PluginKind, SIGIL_PLUGIN_ABI_MAJOR, SIGIL_PLUGIN_ABI_MINOR,
    SIGIL_PLUGIN_FLAGS_NONE, SIGIL_PLUGIN_MAGIC, SIGIL_STATUS_OK, SigilBuffer, SigilInstance,
    SigilPluginDescriptor, SigilPluginVtable, SigilSlice, SigilStatus, Status, TimestampRequest,
    decode_message,
};

/// What `garbage` answers: a byte that is never valid UTF-8, a NUL, and text.
pub const GARBAGE: &[u8] = b"\xff\x00 not json";

/// `TimeStampResp { status { status rejection(2) } }`: a well-formed answer that claims nothing.
const REJECTION_RESP: &[u8] = &[0x30, 0x05, 0x30, 0x03, 0x02, 0x01, 0x02];

const DEFAULT_DELAY_MS: u64 = 1000;
const MAX_DELAY_MS: u64 = 600_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Panic,
    Garbage,
    Slow,
    OkOnceThenPanic,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Describe,
    Timestamp,
    Health,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Describe => "describe",
            Op::Timestamp => "timestamp",
            Op::Health => "health",
        }
    }
}

/// One instance. Hooks may run on several threads at once, so its mutable state is atomic.
struct Faulty {
    mode: Mode,
    delay: Duration,
    faulty_ops: Vec<Op>,
    response_der: Vec<u8>,
    /// Set by a caught panic; from then on every hook answers PANICKED until the host re-creates us.
    poisoned: AtomicBool,
    /// For `ok_once_then_panic`: whether the one well-behaved call has happened.
    served_once: AtomicBool,
}

fn invalid(problem: impl core::fmt::Display) -> PluginError {
    PluginError::invalid_input(format!("fixture-faulty config: {problem}"))
}

impl Faulty {
    fn from_config(config: &[u8]) -> Result<Faulty, PluginError> {
        let config: Value = decode_message(config).map_err(invalid)?;
        let mode = match config.get("mode").and_then(Value::as_str) {
            Some("panic") => Mode::Panic,
            Some("garbage") => Mode::Garbage,
            Some("slow") => Mode::Slow,
            Some("ok_once_then_panic") => Mode::OkOnceThenPanic,
            Some(other) => {
                return Err(invalid(format!(
                    "`mode` {other:?} is not panic, garbage, slow or ok_once_then_panic"
                )));
            }
            None => return Err(invalid("`mode` (a string) is required")),
        };
        let delay_ms = match config.get("delay_ms") {
            None => DEFAULT_DELAY_MS,
            Some(value) => value
                .as_u64()
                .filter(|&ms| ms <= MAX_DELAY_MS)
                .ok_or_else(|| invalid(format!("`delay_ms` must be 0..={MAX_DELAY_MS}")))?,
        };
        let faulty_ops = match config.get("ops") {
            None => vec![Op::Timestamp],
            Some(Value::Array(names)) => names
                .iter()
                .map(|name| match name.as_str() {
                    Some("describe") => Ok(Op::Describe),
                    Some("timestamp") => Ok(Op::Timestamp),
                    Some("health") => Ok(Op::Health),
                    _ => Err(invalid(format!(
                        "`ops` entry {name} is not describe, timestamp or health"
                    ))),
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(invalid("`ops` must be an array of op names")),
        };
        let response_der = match config.get("response_der") {
            None => REJECTION_RESP.to_vec(),
            Some(Value::String(text)) => {
                Base64Bytes::from_base64(text)
                    .map_err(|error| invalid(format!("`response_der` is not base64: {error}")))?
                    .0
            }
            Some(_) => return Err(invalid("`response_der` must be a base64 string")),
        };
        Ok(Faulty {
            mode,
            delay: Duration::from_millis(delay_ms),
            faulty_ops,
            response_der,
            poisoned: AtomicBool::new(false),
            served_once: AtomicBool::new(false),
        })
    }

    fn describe(&self) -> Vec<u8> {
        json!({
            "slug": "fixture-faulty",
            "name": "Faulty TSA (test fixture, never deploy)",
            "hash_algorithms": ["sha256"],
            "qualified": false,
        })
        .to_string()
        .into_bytes()
    }

    fn timestamp(&self, request: &[u8]) -> Result<Vec<u8>, PluginError> {
        decode_message::<TimestampRequest>(request).map_err(|error| {
            PluginError::invalid_input(format!("timestamp request is malformed: {error}"))
        })?;
        let response_der = Base64Bytes(self.response_der.clone()).to_base64();
        Ok(json!({ "response_der": response_der })
            .to_string()
            .into_bytes())
    }

    fn health(&self) -> Vec<u8> {
        json!({"detail": format!("fixture-faulty, mode {:?}: a test fixture, never deploy", self.mode)})
            .to_string()
            .into_bytes()
    }

    /// Runs `op`: well-behaved unless `op` is one of the faulty ones.
    fn run(
        &self,
        op: Op,
        well_behaved: impl FnOnce() -> Result<Vec<u8>, PluginError>,
    ) -> Result<Vec<u8>, PluginError> {
        if !self.faulty_ops.contains(&op) {
            return well_behaved();
        }
        match self.mode {
            Mode::Panic => panic!("fixture-faulty: deliberate panic in `{}`", op.name()),
            Mode::Garbage => Ok(GARBAGE.to_vec()),
            Mode::Slow => {
                std::thread::sleep(self.delay);
                Err(PluginError::timeout(format!(
                    "fixture-faulty: deliberately slow `{}` gave up after {} ms",
                    op.name(),
                    self.delay.as_millis()
                )))
            }
            Mode::OkOnceThenPanic => {
                if self.served_once.swap(true, Ordering::AcqRel) {
                    panic!(
                        "fixture-faulty: deliberate panic in `{}` after one good call",
                        op.name()
                    )
                }
                well_behaved()
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// Buffers
// ---------------------------------------------------------------------------------------------------------

/// Hands `bytes` over as a buffer.
///
/// OWNERSHIP: the allocation moves into the buffer; the host releases it exactly once with `free_buffer`,
/// which returns it to this library's allocator.
fn buffer_from_vec(bytes: Vec<u8>) -> SigilBuffer {
    if bytes.is_empty() {
        return SigilBuffer::EMPTY;
    }
    let mut bytes = std::mem::ManuallyDrop::new(bytes);
    SigilBuffer {
        ptr: bytes.as_mut_ptr(),
        len: bytes.len(),
        cap: bytes.capacity(),
        free: Some(free_buffer),
    }
}

/// The release function of every buffer this plugin returns (also `vtable.free_buffer`).
///
/// # Safety
/// `buffer` is null or points to a buffer made by [`buffer_from_vec`] and not released yet.
unsafe extern "C" fn free_buffer(buffer: *mut SigilBuffer) {
    // SAFETY: the ABI hands us a host-owned, writable SigilBuffer, or null, which is ignored.
    let Some(buffer) = (unsafe { buffer.as_mut() }) else {
        return;
    };
    if !buffer.ptr.is_null() {
        // SAFETY: ptr, len and cap are exactly what buffer_from_vec took from a Vec of this library's
        // allocator, and the caller promises the buffer was not released before.
        drop(unsafe { Vec::from_raw_parts(buffer.ptr, buffer.len, buffer.cap) });
    }
    *buffer = SigilBuffer::EMPTY;
}

/// Stores `buffer` in a hook's out pointer, or releases it if the host passed null.
///
/// # Safety
/// `out` is null or points to a writable `SigilBuffer`, whose old contents are not read.
unsafe fn put(out: *mut SigilBuffer, mut buffer: SigilBuffer) {
    if out.is_null() {
        // SAFETY: `buffer` was made by buffer_from_vec (or is empty) and never handed out.
        unsafe { free_buffer(&mut buffer) };
    } else {
        // SAFETY: writable per the caller; `write` neither reads nor drops the old value.
        unsafe { out.write(buffer) };
    }
}

/// Puts the error message in `out` and returns its status.
///
/// # Safety
/// As for [`put`].
unsafe fn report(out: *mut SigilBuffer, error: &PluginError) -> SigilStatus {
    // SAFETY: forwarded from the caller.
    unsafe { put(out, buffer_from_vec(error.to_message_bytes())) };
    error.raw_status()
}

fn panicked(payload: &(dyn Any + Send), hook: &str) -> PluginError {
    let detail = payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| {
            payload
                .downcast_ref::<&str>()
                .map(|text| (*text).to_owned())
        })
        .unwrap_or_else(|| "non-string panic payload".to_owned());
    PluginError::new(
        Status::Panicked,
        format!("plugin panicked in `{hook}`: {detail}"),
    )
}

fn poisoned_error() -> PluginError {
    PluginError::new(
        Status::Panicked,
        "instance is poisoned by an earlier panic; destroy it and create a new one",
    )
}

// ---------------------------------------------------------------------------------------------------------
// Hooks
// ---------------------------------------------------------------------------------------------------------

/// Resolves a handle; `None` for null.
///
/// # Safety
/// `instance` is null or a handle made by [`faulty_create`] and not yet destroyed.
unsafe fn resolve<'a>(instance: *mut SigilInstance) -> Option<&'a Faulty> {
    // SAFETY: per the caller, a live Box<Faulty> from faulty_create; only shared references are made from it
    // while hooks run, and destroy (the only mutable use) never overlaps them.
    unsafe { instance.cast::<Faulty>().as_ref() }
}

/// Runs `body` for a hook, turning a panic into PANICKED and poisoning the instance, and writes the outcome.
///
/// # Safety
/// As for [`put`].
unsafe fn finish(
    faulty: &Faulty,
    hook: &str,
    out: *mut SigilBuffer,
    body: impl FnOnce() -> Result<Vec<u8>, PluginError>,
) -> SigilStatus {
    // AssertUnwindSafe: a panic poisons the instance below, so no later call sees a half-updated state.
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(bytes)) => {
            // SAFETY: forwarded from the caller.
            unsafe { put(out, buffer_from_vec(bytes)) };
            SIGIL_STATUS_OK
        }
        // SAFETY: forwarded from the caller.
        Ok(Err(error)) => unsafe { report(out, &error) },
        Err(payload) => {
            faulty.poisoned.store(true, Ordering::Release);
            let error = panicked(payload.as_ref(), hook);
            // The payload is a String from this crate's own panic!, whose drop cannot panic.
            drop(payload);
            // SAFETY: forwarded from the caller.
            unsafe { report(out, &error) }
        }
    }
}

/// `vtable.create`.
///
/// # Safety
/// The ABI contract of `SigilCreateHook`: `config` readable for the call, out pointers writable.
unsafe extern "C" fn faulty_create(
    config: SigilSlice,
    out_instance: *mut *mut SigilInstance,
    out_error: *mut SigilBuffer,
) -> SigilStatus {
    // SAFETY: the ABI gives a writable (or null) out buffer; cleared so every path leaves it valid.
    unsafe { put(out_error, SigilBuffer::EMPTY) };
    if out_instance.is_null() {
        // SAFETY: as above.
        return unsafe {
            report(
                out_error,
                &PluginError::invalid_input("out_instance is null"),
            )
        };
    }
    // SAFETY: non-null and writable per the ABI; cleared so a failure leaves no stale handle.
    unsafe { out_instance.write(core::ptr::null_mut()) };
    // SAFETY: the ABI lends `config` for this call; it is parsed before returning and not kept.
    let Some(config) = (unsafe { config.as_bytes() }) else {
        let error = PluginError::invalid_input("config is null with a non-zero length");
        // SAFETY: as above.
        return unsafe { report(out_error, &error) };
    };
    match catch_unwind(|| Faulty::from_config(config)) {
        Ok(Ok(faulty)) => {
            // SAFETY: checked non-null and writable above. OWNERSHIP: the box passes to the host as the
            // handle and comes back exactly once through faulty_destroy.
            unsafe { out_instance.write(Box::into_raw(Box::new(faulty)).cast()) };
            SIGIL_STATUS_OK
        }
        // SAFETY: as above.
        Ok(Err(error)) => unsafe { report(out_error, &error) },
        // SAFETY: as above.
        Err(payload) => unsafe { report(out_error, &panicked(payload.as_ref(), "create")) },
    }
}

/// `vtable.call`: hand-written because `garbage` answers bytes that are not a message.
///
/// # Safety
/// The ABI contract of `SigilCallHook`: a live handle of this plugin, a NUL-terminated `op`, `request`
/// readable for the call, a writable out buffer.
unsafe extern "C" fn faulty_call(
    instance: *mut SigilInstance,
    op: *const c_char,
    request: SigilSlice,
    out_response: *mut SigilBuffer,
) -> SigilStatus {
    // SAFETY: the ABI gives a writable (or null) out buffer; cleared so every path leaves it valid.
    unsafe { put(out_response, SigilBuffer::EMPTY) };
    // SAFETY: the ABI passes a handle from faulty_create that destroy has not consumed.
    let Some(faulty) = (unsafe { resolve(instance) }) else {
        // SAFETY: as above.
        return unsafe {
            report(
                out_response,
                &PluginError::invalid_input("instance is null"),
            )
        };
    };
    if faulty.poisoned.load(Ordering::Acquire) {
        // SAFETY: as above.
        return unsafe { report(out_response, &poisoned_error()) };
    }
    if op.is_null() {
        // SAFETY: as above.
        return unsafe { report(out_response, &PluginError::invalid_input("op is null")) };
    }
    // SAFETY: non-null, and the ABI promises a NUL-terminated string that lives for the call.
    let op = unsafe { CStr::from_ptr(op) }.to_str().unwrap_or("");
    // SAFETY: the ABI lends `request` for this call; it is not kept beyond it.
    let Some(request) = (unsafe { request.as_bytes() }) else {
        let error = PluginError::invalid_input("request is null with a non-zero length");
        // SAFETY: as above.
        return unsafe { report(out_response, &error) };
    };
    let body = || match op {
        "describe" => faulty.run(Op::Describe, || Ok(faulty.describe())),
        "timestamp" => faulty.run(Op::Timestamp, || faulty.timestamp(request)),
        _ => Err(PluginError::unsupported(format!(
            "op `{op}` is not defined for a {} plugin",
            PluginKind::TsaBackend
        ))),
    };
    // SAFETY: as above.
    unsafe { finish(faulty, op, out_response, body) }
}

/// `vtable.health`.
///
/// # Safety
/// The ABI contract of `SigilHealthHook`: a live handle of this plugin and a writable out buffer.
unsafe extern "C" fn faulty_health(
    instance: *mut SigilInstance,
    out_report: *mut SigilBuffer,
) -> SigilStatus {
    // SAFETY: the ABI gives a writable (or null) out buffer; cleared so every path leaves it valid.
    unsafe { put(out_report, SigilBuffer::EMPTY) };
    // SAFETY: the ABI passes a handle from faulty_create that destroy has not consumed.
    let Some(faulty) = (unsafe { resolve(instance) }) else {
        // SAFETY: as above.
        return unsafe { report(out_report, &PluginError::invalid_input("instance is null")) };
    };
    if faulty.poisoned.load(Ordering::Acquire) {
        // SAFETY: as above.
        return unsafe { report(out_report, &poisoned_error()) };
    }
    // SAFETY: as above.
    unsafe {
        finish(faulty, "health", out_report, || {
            faulty.run(Op::Health, || Ok(faulty.health()))
        })
    }
}

/// `vtable.destroy`.
///
/// # Safety
/// The ABI contract of `SigilDestroyHook`: a handle of this plugin, passed exactly once, after every other
/// hook on it returned.
unsafe extern "C" fn faulty_destroy(instance: *mut SigilInstance) {
    if instance.is_null() {
        return;
    }
    // SAFETY: the handle is the Box<Faulty> made by faulty_create, handed back exactly once with no other
    // hook running on it, so it is ours again. Dropping plain data cannot panic.
    drop(unsafe { Box::from_raw(instance.cast::<Faulty>()) });
}

/// The hooks. OWNERSHIP: static data of this library, which the host never unloads.
static VTABLE: SigilPluginVtable = SigilPluginVtable {
    struct_size: size_of::<SigilPluginVtable>() as u32,
    reserved: 0,
    create: Some(faulty_create),
    call: Some(faulty_call),
    health: Some(faulty_health),
    destroy: Some(faulty_destroy),
    free_buffer: Some(free_buffer),
};

/// The descriptor. OWNERSHIP: static, as are the NUL-terminated name and version it points to.
static DESCRIPTOR: SigilPluginDescriptor = SigilPluginDescriptor {
    magic: SIGIL_PLUGIN_MAGIC,
    struct_size: size_of::<SigilPluginDescriptor>() as u32,
    abi_major: SIGIL_PLUGIN_ABI_MAJOR,
    abi_minor: SIGIL_PLUGIN_ABI_MINOR,
    kind: PluginKind::TsaBackend.as_raw(),
    name: c"fixture-faulty".as_ptr(),
    version: concat!(env!("CARGO_PKG_VERSION"), "\0")
        .as_ptr()
        .cast::<c_char>(),
    flags: SIGIL_PLUGIN_FLAGS_NONE,
    max_concurrency: 0,
    reserved: 0,
    vtable: &VTABLE,
};

/// The entry symbol (Sigil plugin ABI v1): returns the static descriptor.
#[unsafe(no_mangle)]
pub extern "C" fn sigil_plugin_entry_v1() -> *const SigilPluginDescriptor {
    &DESCRIPTOR
}

#[cfg(test)]
mod tests {
    use super::*;
    use sigil_plugin_api::{
        ErrorClass, HostInstance, TimestampResponse, TsaDescription, ValidatedDescriptor,
        validate_descriptor,
    };

    fn plugin() -> ValidatedDescriptor {
        // SAFETY: this library's own entry symbol; the test binary is never unloaded.
        unsafe { validate_descriptor(sigil_plugin_entry_v1()) }.unwrap()
    }

    fn instance(config: Value) -> HostInstance {
        plugin()
            .create_instance(config.to_string().as_bytes())
            .unwrap()
    }

    const STAMP: &[u8] = br#"{"request_der":"MAMCAQE=","timeout_ms":50}"#;

    #[test]
    fn the_descriptor_is_valid() {
        let plugin = plugin();
        assert_eq!(plugin.kind(), PluginKind::TsaBackend);
        assert_eq!(plugin.name(), "fixture-faulty");
        assert_eq!(plugin.version(), env!("CARGO_PKG_VERSION"));
    }

    #[test]
    fn bad_configs_are_invalid_input() {
        for config in [
            json!({}),
            json!({"mode": "explode"}),
            json!({"mode": 1}),
            json!({"mode": "slow", "delay_ms": -1}),
            json!({"mode": "panic", "ops": ["sign"]}),
            json!({"mode": "panic", "ops": "timestamp"}),
            json!({"mode": "garbage", "response_der": "***"}),
        ] {
            let error = plugin()
                .create_instance(config.to_string().as_bytes())
                .unwrap_err();
            assert_eq!(error.status, Status::InvalidInput, "{config}: {error}");
        }
        let error = plugin().create_instance(b"not json").unwrap_err();
        assert_eq!(error.status, Status::InvalidInput);
    }

    #[test]
    fn panic_poisons_the_instance_until_recreated() {
        let faulty = instance(json!({"mode": "panic"}));
        faulty.health().unwrap();
        faulty
            .call_message::<_, TsaDescription>("describe", &json!({}))
            .unwrap();
        let error = faulty.call("timestamp", STAMP).unwrap_err();
        assert_eq!(error.status, Status::Panicked);
        assert!(error.message.contains("deliberate panic"), "{error}");
        assert!(HostInstance::is_poisoning(&error));
        assert_eq!(
            faulty.call("describe", b"").unwrap_err().status,
            Status::Panicked
        );
        assert_eq!(faulty.health().unwrap_err().status, Status::Panicked);
        drop(faulty);
        let fresh = instance(json!({"mode": "panic"}));
        fresh.call("describe", b"").unwrap();
    }

    #[test]
    fn panic_in_health_when_asked() {
        let faulty = instance(json!({"mode": "panic", "ops": ["health"]}));
        faulty.call("timestamp", STAMP).unwrap();
        assert_eq!(faulty.health().unwrap_err().status, Status::Panicked);
    }

    #[test]
    fn garbage_is_ok_with_bytes_that_are_not_json() {
        let faulty = instance(json!({"mode": "garbage", "ops": ["describe", "timestamp"]}));
        assert_eq!(faulty.call("timestamp", STAMP).unwrap(), GARBAGE);
        assert_eq!(faulty.call("describe", b"").unwrap(), GARBAGE);
        let error = faulty
            .call_message::<_, TimestampResponse>("timestamp", &json!({"request_der": "MAA="}))
            .unwrap_err();
        assert_eq!(error.status, Status::Internal, "{error}");
        // Garbage costs nothing else: the instance is not poisoned.
        faulty.health().unwrap();
    }

    /// Proved without a clock: the delay slept is the configured one, and the error reports that delay, not
    /// the request's 50 ms hint, whether or not a hint is given.
    #[test]
    fn slow_sleeps_past_the_hint_then_times_out() {
        let config = json!({"mode": "slow", "delay_ms": 200});
        let parsed = Faulty::from_config(config.to_string().as_bytes()).unwrap();
        assert_eq!(parsed.delay, Duration::from_millis(200));

        let faulty = instance(config);
        let error = faulty.call("timestamp", STAMP).unwrap_err();
        assert_eq!(
            (error.status, error.class),
            (Status::Timeout, Some(ErrorClass::Timeout))
        );
        assert!(error.message.contains("gave up after 200 ms"), "{error}");
        assert!(!error.message.contains("50 ms"), "{error}");
        let unhinted = faulty
            .call("timestamp", br#"{"request_der":"MAMCAQE="}"#)
            .unwrap_err();
        assert_eq!(unhinted.message, error.message, "the hint changes nothing");
        faulty.call("describe", b"").unwrap();
    }

    #[test]
    fn ok_once_then_panic_recovers_after_recreation() {
        let config = json!({"mode": "ok_once_then_panic", "response_der": "MAUwAwIBAA=="});
        for _ in 0..2 {
            let faulty = instance(config.clone());
            let first: TimestampResponse = faulty
                .call_message("timestamp", &json!({"request_der": "MAA="}))
                .unwrap();
            assert_eq!(
                first.response_der.0,
                [0x30, 0x05, 0x30, 0x03, 0x02, 0x01, 0x00]
            );
            assert_eq!(
                faulty.call("timestamp", STAMP).unwrap_err().status,
                Status::Panicked
            );
        }
        let default = instance(json!({"mode": "ok_once_then_panic"}));
        let first: TimestampResponse = default
            .call_message("timestamp", &json!({"request_der": "MAA="}))
            .unwrap();
        assert_eq!(first.response_der.0, REJECTION_RESP);
    }

    #[test]
    fn unknown_ops_and_bad_requests_are_refused() {
        let faulty = instance(json!({"mode": "slow", "ops": ["describe"]}));
        assert_eq!(
            faulty.call("sign", b"{}").unwrap_err().status,
            Status::Unsupported
        );
        assert_eq!(
            faulty.call("timestamp", b"{}").unwrap_err().status,
            Status::InvalidInput
        );
    }
}
