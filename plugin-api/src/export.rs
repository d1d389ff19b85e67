//! Plumbing behind the export macros; not a public API (reachable as `sigil_plugin_api::__private` only so
//! that macro expansions in plugin crates can name it).
//!
//! It adapts each kind trait to one dispatch trait, provides the generic `extern "C"` shims that catch every
//! panic and poison the instance, and the const helpers that build the static descriptor.

use core::ffi::{CStr, c_char};
use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::abi::{
    PluginKind, SIGIL_PLUGIN_ABI_MAJOR, SIGIL_PLUGIN_ABI_MINOR, SIGIL_PLUGIN_FLAGS_NONE,
    SIGIL_PLUGIN_MAGIC, SIGIL_STATUS_OK, SigilBuffer, SigilInstance, SigilPluginDescriptor,
    SigilPluginVtable, SigilSlice, SigilStatus, Status,
};
use crate::error::PluginError;
use crate::messages::{
    HealthReport, KeyAlgorithm, SIGIL_OP_KMS_GENERATE_KEY, SIGIL_OP_KMS_LIST_KEYS,
    SIGIL_OP_KMS_PUBLIC_KEY, SIGIL_OP_KMS_SCHEDULE_DELETION, SIGIL_OP_KMS_SIGN, SIGIL_OP_PUSH_SEND,
    SIGIL_OP_PUSH_VALIDATE_RECIPIENT, SIGIL_OP_TSA_DESCRIBE, SIGIL_OP_TSA_TIMESTAMP,
    SignatureAlgorithm, decode_message, encode_message,
};
use crate::plugin::{KmsSigner, PushChannel, TsaBackend};

/// One plugin kind seen through a single dispatch interface; the shims are generic over it.
pub trait Plugin: Send + Sync + Sized + 'static {
    /// The kind written into the descriptor.
    const KIND: PluginKind;
    /// Builds an instance from its JSON config.
    fn create(config: Value) -> Result<Self, PluginError>;
    /// Reports health.
    fn health(&self) -> Result<HealthReport, PluginError>;
    /// Decodes the request for `op`, runs it, encodes the response.
    fn call(&self, op: &str, request: &[u8]) -> Result<Vec<u8>, PluginError>;
}

fn decode<T: DeserializeOwned>(op: &str, request: &[u8]) -> Result<T, PluginError> {
    decode_message(request).map_err(|error| {
        PluginError::invalid_input(format!("request for op `{op}` is malformed: {error}"))
    })
}

fn respond<T: Serialize>(response: Result<T, PluginError>) -> Result<Vec<u8>, PluginError> {
    let response = response?;
    encode_message(&response)
        .map_err(|error| PluginError::internal(format!("cannot encode the response: {error}")))
}

fn unknown_op(kind: PluginKind, op: &str) -> PluginError {
    PluginError::unsupported(format!(
        "op `{op}` is not defined for a {kind} plugin (known: {})",
        kind.ops().join(", ")
    ))
}

/// Adapts a [`TsaBackend`] to [`Plugin`].
pub struct TsaAdapter<T>(T);

impl<T: TsaBackend> Plugin for TsaAdapter<T> {
    const KIND: PluginKind = PluginKind::TsaBackend;

    fn create(config: Value) -> Result<Self, PluginError> {
        T::create(config).map(TsaAdapter)
    }

    fn health(&self) -> Result<HealthReport, PluginError> {
        self.0.health()
    }

    fn call(&self, op: &str, request: &[u8]) -> Result<Vec<u8>, PluginError> {
        match op {
            SIGIL_OP_TSA_DESCRIBE => respond(self.0.describe(decode(op, request)?)),
            SIGIL_OP_TSA_TIMESTAMP => respond(self.0.timestamp(decode(op, request)?)),
            _ => Err(unknown_op(Self::KIND, op)),
        }
    }
}

/// Adapts a [`KmsSigner`] to [`Plugin`].
pub struct KmsAdapter<T>(T);

impl<T: KmsSigner> Plugin for KmsAdapter<T> {
    const KIND: PluginKind = PluginKind::KmsSigner;

    fn create(config: Value) -> Result<Self, PluginError> {
        T::create(config).map(KmsAdapter)
    }

    fn health(&self) -> Result<HealthReport, PluginError> {
        self.0.health()
    }

    fn call(&self, op: &str, request: &[u8]) -> Result<Vec<u8>, PluginError> {
        match op {
            SIGIL_OP_KMS_GENERATE_KEY => {
                let request: crate::GenerateKeyRequest = decode(op, request)?;
                // A name newer than this crate never reaches the trait: the plugin cannot know it either.
                if request.algorithm == KeyAlgorithm::Unknown {
                    return Err(PluginError::unsupported(
                        "key algorithm unknown to this plugin",
                    ));
                }
                respond(self.0.generate_key(request))
            }
            SIGIL_OP_KMS_PUBLIC_KEY => respond(self.0.public_key(decode(op, request)?)),
            SIGIL_OP_KMS_SIGN => {
                let request: crate::SignRequest = decode(op, request)?;
                if request.algorithm == SignatureAlgorithm::Unknown {
                    return Err(PluginError::unsupported(
                        "signature algorithm unknown to this plugin",
                    ));
                }
                respond(self.0.sign(request))
            }
            SIGIL_OP_KMS_LIST_KEYS => respond(self.0.list_keys(decode(op, request)?)),
            SIGIL_OP_KMS_SCHEDULE_DELETION => {
                respond(self.0.schedule_deletion(decode(op, request)?))
            }
            _ => Err(unknown_op(Self::KIND, op)),
        }
    }
}

/// Adapts a [`PushChannel`] to [`Plugin`].
pub struct PushAdapter<T>(T);

impl<T: PushChannel> Plugin for PushAdapter<T> {
    const KIND: PluginKind = PluginKind::PushChannel;

    fn create(config: Value) -> Result<Self, PluginError> {
        T::create(config).map(PushAdapter)
    }

    fn health(&self) -> Result<HealthReport, PluginError> {
        self.0.health()
    }

    fn call(&self, op: &str, request: &[u8]) -> Result<Vec<u8>, PluginError> {
        match op {
            SIGIL_OP_PUSH_VALIDATE_RECIPIENT => {
                respond(self.0.validate_recipient(decode(op, request)?))
            }
            SIGIL_OP_PUSH_SEND => respond(self.0.send(decode(op, request)?)),
            _ => Err(unknown_op(Self::KIND, op)),
        }
    }
}

/// What an instance handle points to.
struct Instance<P> {
    /// Set by the first panic inside a hook on this instance; from then on every hook answers PANICKED.
    /// A panic may have left `plugin` half-updated, and only re-creating it restores its invariants.
    poisoned: AtomicBool,
    plugin: P,
}

fn poisoned_error() -> PluginError {
    PluginError::new(
        Status::Panicked,
        "instance is poisoned by an earlier panic; destroy it and create a new one",
    )
}

/// Turns a caught panic into an error, without letting the payload's own destructor unwind into C.
fn panicked(payload: Box<dyn Any + Send>, hook: &str) -> PluginError {
    let detail = if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "non-string panic payload".to_owned()
    };
    drop_quietly(payload);
    PluginError::new(
        Status::Panicked,
        format!("plugin panicked in `{hook}`: {detail}"),
    )
}

/// Drops a value whose destructor might panic; such a second panic is swallowed, since unwinding out of an
/// `extern "C"` function aborts the host.
fn drop_quietly<T>(value: T) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(move || drop(value))) {
        // A panicking destructor of the panic payload itself: leak it rather than risk a third panic.
        std::mem::forget(payload);
    }
}

/// Writes `buffer` to a hook's out pointer, or releases it when the host passed null.
///
/// # Safety
/// `out` is null or points to a writable `SigilBuffer` (its old contents are not read).
unsafe fn write_out(out: *mut SigilBuffer, mut buffer: SigilBuffer) {
    if out.is_null() {
        // SAFETY: `buffer` was made here by `from_vec` (or is empty) and was never handed out.
        unsafe { buffer.release() };
    } else {
        // SAFETY: the caller promises a writable SigilBuffer; `write` does not read or drop the old value.
        unsafe { out.write(buffer) };
    }
}

/// Puts the error message in `out` and returns the status to report.
///
/// # Safety
/// As for [`write_out`].
unsafe fn report(out: *mut SigilBuffer, error: &PluginError) -> SigilStatus {
    // SAFETY: forwarded from the caller.
    unsafe { write_out(out, SigilBuffer::from_vec(error.to_message_bytes())) };
    error.raw_status()
}

/// The `create` hook for plugin `P`.
///
/// # Safety
/// The ABI contract of `SigilCreateHook`: `config` is readable for the call, the out pointers are writable.
pub unsafe extern "C" fn create_hook<P: Plugin>(
    config: SigilSlice,
    out_instance: *mut *mut SigilInstance,
    out_error: *mut SigilBuffer,
) -> SigilStatus {
    // SAFETY: the ABI gives a writable (or null) out buffer; clear it first so every path leaves it valid.
    unsafe { write_out(out_error, SigilBuffer::EMPTY) };
    if out_instance.is_null() {
        let error = PluginError::invalid_input("create: out_instance is null");
        // SAFETY: as above.
        return unsafe { report(out_error, &error) };
    }
    // SAFETY: non-null and writable per the ABI; cleared so a failure leaves no stale handle.
    unsafe { out_instance.write(core::ptr::null_mut()) };
    // SAFETY: the ABI lends `config` for the duration of this call, and it is not kept beyond it.
    let Some(config) = (unsafe { config.as_bytes() }) else {
        let error = PluginError::invalid_input("create: config is null with a non-zero length");
        // SAFETY: as above.
        return unsafe { report(out_error, &error) };
    };
    // AssertUnwindSafe: on a panic nothing built here survives (there is no instance yet).
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let config: Value = decode_message(config).map_err(|error| {
            PluginError::invalid_input(format!("config is not valid JSON: {error}"))
        })?;
        P::create(config)
    }));
    let error = match outcome {
        Ok(Ok(plugin)) => {
            let instance = Box::new(Instance {
                poisoned: AtomicBool::new(false),
                plugin,
            });
            // SAFETY: checked non-null and writable above. OWNERSHIP: the box passes to the host as the handle
            // and comes back exactly once through `destroy_hook::<P>`.
            unsafe { out_instance.write(Box::into_raw(instance).cast::<SigilInstance>()) };
            return SIGIL_STATUS_OK;
        }
        Ok(Err(error)) => error,
        Err(payload) => panicked(payload, "create"),
    };
    // SAFETY: as above.
    unsafe { report(out_error, &error) }
}

/// Resolves a handle, or reports why it cannot be used.
///
/// # Safety
/// `instance` is null or a handle made by `create_hook::<P>` and not yet destroyed.
unsafe fn instance_ref<'a, P: Plugin>(
    instance: *mut SigilInstance,
) -> Result<&'a Instance<P>, PluginError> {
    // SAFETY: the caller promises a live handle from `create_hook::<P>`, i.e. a Box<Instance<P>>; only shared
    // references are ever made from it while calls run.
    let instance = unsafe { instance.cast::<Instance<P>>().as_ref() }
        .ok_or_else(|| PluginError::invalid_input("instance handle is null"))?;
    if instance.poisoned.load(Ordering::Acquire) {
        return Err(poisoned_error());
    }
    Ok(instance)
}

/// The `call` hook for plugin `P`.
///
/// # Safety
/// The ABI contract of `SigilCallHook`: a live handle of this plugin, a NUL-terminated `op`, a readable
/// `request` for the call, a writable out buffer.
pub unsafe extern "C" fn call_hook<P: Plugin>(
    instance: *mut SigilInstance,
    op: *const c_char,
    request: SigilSlice,
    out_response: *mut SigilBuffer,
) -> SigilStatus {
    // SAFETY: the ABI gives a writable (or null) out buffer; clear it first so every path leaves it valid.
    unsafe { write_out(out_response, SigilBuffer::EMPTY) };
    // SAFETY: the ABI passes a handle from our `create_hook::<P>` that `destroy` has not consumed.
    let instance = match unsafe { instance_ref::<P>(instance) } {
        Ok(instance) => instance,
        // SAFETY: as above.
        Err(error) => return unsafe { report(out_response, &error) },
    };
    if op.is_null() {
        // SAFETY: as above.
        return unsafe { report(out_response, &PluginError::invalid_input("op is null")) };
    }
    // SAFETY: non-null, and the ABI promises a NUL-terminated string that lives for the call.
    let Ok(op) = unsafe { CStr::from_ptr(op) }.to_str() else {
        let error = PluginError::invalid_input("op is not UTF-8");
        // SAFETY: as above.
        return unsafe { report(out_response, &error) };
    };
    // SAFETY: the ABI lends `request` for the duration of this call, and it is not kept beyond it.
    let Some(request) = (unsafe { request.as_bytes() }) else {
        let error = PluginError::invalid_input("request is null with a non-zero length");
        // SAFETY: as above.
        return unsafe { report(out_response, &error) };
    };
    // AssertUnwindSafe: a panic poisons the instance below, so no later call observes broken invariants.
    match catch_unwind(AssertUnwindSafe(|| instance.plugin.call(op, request))) {
        Ok(Ok(response)) => {
            // SAFETY: as above.
            unsafe { write_out(out_response, SigilBuffer::from_vec(response)) };
            SIGIL_STATUS_OK
        }
        // SAFETY: as above.
        Ok(Err(error)) => unsafe { report(out_response, &error) },
        Err(payload) => {
            instance.poisoned.store(true, Ordering::Release);
            // SAFETY: as above.
            unsafe { report(out_response, &panicked(payload, op)) }
        }
    }
}

/// The `health` hook for plugin `P`.
///
/// # Safety
/// The ABI contract of `SigilHealthHook`: a live handle of this plugin and a writable out buffer.
pub unsafe extern "C" fn health_hook<P: Plugin>(
    instance: *mut SigilInstance,
    out_report: *mut SigilBuffer,
) -> SigilStatus {
    // SAFETY: the ABI gives a writable (or null) out buffer; clear it first so every path leaves it valid.
    unsafe { write_out(out_report, SigilBuffer::EMPTY) };
    // SAFETY: the ABI passes a handle from our `create_hook::<P>` that `destroy` has not consumed.
    let instance = match unsafe { instance_ref::<P>(instance) } {
        Ok(instance) => instance,
        // SAFETY: as above.
        Err(error) => return unsafe { report(out_report, &error) },
    };
    // AssertUnwindSafe: a panic poisons the instance below.
    let outcome = catch_unwind(AssertUnwindSafe(|| respond(instance.plugin.health())));
    match outcome {
        Ok(Ok(report_bytes)) => {
            // SAFETY: as above.
            unsafe { write_out(out_report, SigilBuffer::from_vec(report_bytes)) };
            SIGIL_STATUS_OK
        }
        // SAFETY: as above.
        Ok(Err(error)) => unsafe { report(out_report, &error) },
        Err(payload) => {
            instance.poisoned.store(true, Ordering::Release);
            // SAFETY: as above.
            unsafe { report(out_report, &panicked(payload, "health")) }
        }
    }
}

/// The `destroy` hook for plugin `P`.
///
/// # Safety
/// The ABI contract of `SigilDestroyHook`: a handle of this plugin, passed exactly once, after every other hook
/// on it returned.
pub unsafe extern "C" fn destroy_hook<P: Plugin>(instance: *mut SigilInstance) {
    if instance.is_null() {
        return;
    }
    // SAFETY: the handle is the Box<Instance<P>> made by `create_hook::<P>`, handed back exactly once with no
    // other hook running on it, so we own it again.
    let instance = unsafe { Box::from_raw(instance.cast::<Instance<P>>()) };
    // A panicking Drop cannot be reported (destroy returns nothing) and must not unwind into the host.
    drop_quietly(instance);
}

/// The vtable for plugin `P`.
pub const fn vtable<P: Plugin>() -> SigilPluginVtable {
    SigilPluginVtable {
        struct_size: size_of::<SigilPluginVtable>() as u32,
        reserved: 0,
        create: Some(create_hook::<P>),
        call: Some(call_hook::<P>),
        health: Some(health_hook::<P>),
        destroy: Some(destroy_hook::<P>),
        free_buffer: Some(crate::abi::free_rust_buffer),
    }
}

/// The descriptor for a plugin; `name` and `version` are NUL-terminated (see [`nul_terminated`]).
pub const fn descriptor(
    kind: PluginKind,
    name: &'static [u8],
    version: &'static [u8],
    max_concurrency: u32,
    vtable: &'static SigilPluginVtable,
) -> SigilPluginDescriptor {
    SigilPluginDescriptor {
        magic: SIGIL_PLUGIN_MAGIC,
        struct_size: size_of::<SigilPluginDescriptor>() as u32,
        abi_major: SIGIL_PLUGIN_ABI_MAJOR,
        abi_minor: SIGIL_PLUGIN_ABI_MINOR,
        kind: kind.as_raw(),
        name: name.as_ptr().cast::<c_char>(),
        version: version.as_ptr().cast::<c_char>(),
        flags: SIGIL_PLUGIN_FLAGS_NONE,
        max_concurrency,
        reserved: 0,
        vtable,
    }
}

/// `text` plus a terminating NUL, as a fixed-size array (`N` must be `text.len() + 1`). Fails the build on an
/// interior NUL.
pub const fn nul_terminated<const N: usize>(text: &str) -> [u8; N] {
    let bytes = text.as_bytes();
    assert!(bytes.len() + 1 == N, "N must be text.len() + 1");
    let mut out = [0u8; N];
    let mut index = 0;
    while index < bytes.len() {
        assert!(
            bytes[index] != 0,
            "plugin name and version must not contain NUL"
        );
        out[index] = bytes[index];
        index += 1;
    }
    out
}

/// Fails the build unless `name` is 1 to 64 bytes of `[a-z0-9_-]`, the rule the host enforces.
pub const fn check_plugin_name(name: &str) {
    let bytes = name.as_bytes();
    assert!(
        !bytes.is_empty() && bytes.len() <= 64,
        "plugin name must be 1 to 64 bytes"
    );
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        assert!(
            byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-' || byte == b'_',
            "plugin name must be [a-z0-9_-]"
        );
        index += 1;
    }
}

/// Fails the build unless `version` is 1 to 64 bytes, the rule the host enforces.
pub const fn check_plugin_version(version: &str) {
    assert!(
        !version.is_empty() && version.len() <= 64,
        "plugin version must be 1 to 64 bytes"
    );
}

/// Exports the plugin for a given adapter: the static descriptor and the entry symbol. Used by the per-kind
/// macros; not meant to be called directly.
#[doc(hidden)]
#[macro_export]
macro_rules! __export_plugin {
    ($adapter:ty, $name:expr, $version:expr, $max_concurrency:expr) => {
        const _: () = {
            const NAME: &str = $name;
            const VERSION: &str = $version;
            const _: () = $crate::__private::check_plugin_name(NAME);
            const _: () = $crate::__private::check_plugin_version(VERSION);
            static NAME_C: [u8; NAME.len() + 1] = $crate::__private::nul_terminated(NAME);
            static VERSION_C: [u8; VERSION.len() + 1] = $crate::__private::nul_terminated(VERSION);
            static VTABLE: $crate::SigilPluginVtable = $crate::__private::vtable::<$adapter>();
            static DESCRIPTOR: $crate::SigilPluginDescriptor = $crate::__private::descriptor(
                <$adapter as $crate::__private::Plugin>::KIND,
                &NAME_C,
                &VERSION_C,
                $max_concurrency,
                &VTABLE,
            );

            /// The plugin's entry symbol (Sigil plugin ABI v1): returns its static descriptor.
            #[unsafe(no_mangle)]
            pub extern "C" fn sigil_plugin_entry_v1() -> *const $crate::SigilPluginDescriptor {
                &DESCRIPTOR
            }
        };
    };
}

/// Exports a [`TsaBackend`](crate::TsaBackend) implementation as this library's plugin.
///
/// ```text
/// sigil_plugin_api::export_tsa_backend!(MyTsa, name = "my-tsa", version = env!("CARGO_PKG_VERSION"));
/// sigil_plugin_api::export_tsa_backend!(MyTsa, name = "my-tsa", version = "1.0.0", max_concurrency = 8);
/// ```
/// `name` (1 to 64 bytes of `[a-z0-9_-]`) and `version` (1 to 64 bytes) are checked at compile time.
/// `max_concurrency` bounds concurrent `call`/`health` per instance; omitted or 0 means no bound. Invoke one
/// export macro per library: each defines the `sigil_plugin_entry_v1` symbol.
#[macro_export]
macro_rules! export_tsa_backend {
    ($plugin:ty, name = $name:expr, version = $version:expr $(, max_concurrency = $max:expr)? $(,)?) => {
        $crate::__export_plugin!(
            $crate::__private::TsaAdapter<$plugin>,
            $name,
            $version,
            0 $(+ $max)?
        );
    };
}

/// Exports a [`KmsSigner`](crate::KmsSigner) implementation as this library's plugin. Same syntax as
/// [`export_tsa_backend!`].
#[macro_export]
macro_rules! export_kms_signer {
    ($plugin:ty, name = $name:expr, version = $version:expr $(, max_concurrency = $max:expr)? $(,)?) => {
        $crate::__export_plugin!(
            $crate::__private::KmsAdapter<$plugin>,
            $name,
            $version,
            0 $(+ $max)?
        );
    };
}

/// Exports a [`PushChannel`](crate::PushChannel) implementation as this library's plugin. Same syntax as
/// [`export_tsa_backend!`].
#[macro_export]
macro_rules! export_push_channel {
    ($plugin:ty, name = $name:expr, version = $version:expr $(, max_concurrency = $max:expr)? $(,)?) => {
        $crate::__export_plugin!(
            $crate::__private::PushAdapter<$plugin>,
            $name,
            $version,
            0 $(+ $max)?
        );
    };
}
