//! The frozen v1 C ABI: constants, status codes, plugin kinds, the `#[repr(C)]` structs and the hook
//! signatures. Everything here is mirrored one-to-one in `include/sigil_plugin.h`; see [`crate::header`].
//!
//! Doc comments in this module are copied into the C header, so they avoid Rust-only markup (no intra-doc links).

use core::ffi::c_char;
use core::marker::{PhantomData, PhantomPinned};
use core::mem::ManuallyDrop;

c_constants! {
    fn abi_constants;

    /// Value of `SigilPluginDescriptor.magic`: the ASCII bytes "SIGILPLG" read as a big-endian u64. The host
    /// refuses a descriptor without it before reading anything else.
    pub const SIGIL_PLUGIN_MAGIC: u64 = 0x5349_4749_4C50_4C47;

    /// ABI major version. A plugin whose descriptor carries another major is refused. Any change that is not
    /// purely additive bumps it, and with it the entry symbol name.
    pub const SIGIL_PLUGIN_ABI_MAJOR: u32 = 1;

    /// ABI minor version of this header. Minors only append descriptor fields, vtable hooks, status codes,
    /// kinds, ops and optional JSON fields; a host accepts plugins built against any minor of its major.
    pub const SIGIL_PLUGIN_ABI_MINOR: u32 = 0;

    /// Name of the one symbol a plugin exports: `const SigilPluginDescriptor *sigil_plugin_entry_v1(void)`.
    pub const SIGIL_PLUGIN_ENTRY_SYMBOL: &str = "sigil_plugin_entry_v1";

    /// Value of `SigilPluginDescriptor.flags` when no flag is set. ABI v1.0 defines no flags; plugins set 0 and
    /// hosts ignore bits they do not know.
    pub const SIGIL_PLUGIN_FLAGS_NONE: u64 = 0;
}

c_enum! {
    /// What a plugin does: the value of `SigilPluginDescriptor.kind`. It decides which ops `call` accepts.
    pub type SigilPluginKind = u32;

    /// The kind of a plugin, decoded from the raw `SigilPluginKind` code.
    pub enum PluginKind {
        /// A transport to an RFC 3161 time-stamping authority. Ops: "describe", "timestamp".
        TsaBackend = SIGIL_PLUGIN_KIND_TSA_BACKEND = 1 => "tsa_backend",
        /// A key holder that signs (PKCS#11 token, cloud KMS, key file). Ops: "generate_key", "public_key",
        /// "sign", "list_keys", "schedule_deletion".
        KmsSigner = SIGIL_PLUGIN_KIND_KMS_SIGNER = 2 => "kms_signer",
        /// A notification channel to people or devices. Ops: "validate_recipient", "send".
        PushChannel = SIGIL_PLUGIN_KIND_PUSH_CHANNEL = 3 => "push_channel",
    }
}

c_enum! {
    /// Result of every hook that can fail. On anything but SIGIL_STATUS_OK the out buffer may hold an error
    /// message: JSON {"message": string, "class"?: string, "http_status"?: integer}. Hosts treat a code they
    /// do not know as SIGIL_STATUS_INTERNAL, so later minors may add codes.
    pub type SigilStatus = u32;

    /// A status code decoded from the raw `SigilStatus`.
    pub enum Status {
        /// Success. The out buffer holds the response message (it may be empty, which reads as {}).
        Ok = SIGIL_STATUS_OK = 0 => "ok",
        /// The config, op arguments or request message are malformed: not JSON, a required field missing, a
        /// value out of range. Retrying the same input fails again.
        InvalidInput = SIGIL_STATUS_INVALID_INPUT = 1 => "invalid_input",
        /// The op, algorithm or option is not implemented by this plugin (including an op this plugin kind
        /// does not define).
        Unsupported = SIGIL_STATUS_UNSUPPORTED = 2 => "unsupported",
        /// A referenced object does not exist (a key URI, a recipient).
        NotFound = SIGIL_STATUS_NOT_FOUND = 3 => "not_found",
        /// The backend failed: network or I/O error, an HTTP error status, an unparsable answer. The error
        /// message's class tells which. Usually worth a retry or a failover.
        Backend = SIGIL_STATUS_BACKEND = 4 => "backend",
        /// The backend did not answer in time.
        Timeout = SIGIL_STATUS_TIMEOUT = 5 => "timeout",
        /// The plugin panicked (or caught a fatal bug of its own) at the boundary. The instance is poisoned:
        /// every later call and health on it returns SIGIL_STATUS_PANICKED until the host destroys it and
        /// creates a new one.
        Panicked = SIGIL_STATUS_PANICKED = 6 => "panicked",
        /// Any other failure inside the plugin (a broken invariant, an exhausted resource).
        Internal = SIGIL_STATUS_INTERNAL = 7 => "internal",
        /// The backend refused the operation for lack of rights (wrong PIN, access policy, key usage).
        PermissionDenied = SIGIL_STATUS_PERMISSION_DENIED = 8 => "permission_denied",
    }
}

impl Status {
    /// Decodes a raw status, mapping codes this version does not know to [`Status::Internal`], as the ABI asks
    /// hosts to do.
    pub const fn from_raw_lossy(raw: SigilStatus) -> Self {
        match Self::from_raw(raw) {
            Some(status) => status,
            None => Status::Internal,
        }
    }
}

/// An instance of a plugin, created by the `create` hook. Opaque to the host.
///
/// OWNERSHIP: allocated by the plugin in `create`, owned by the host until it passes the handle to `destroy`
/// exactly once. The host never dereferences it.
#[repr(C)]
pub struct SigilInstance {
    // Zero-sized and neither Send, Sync nor Unpin: the Rust way to spell an opaque C struct (Rustonomicon, FFI).
    _opaque: [u8; 0],
    _not_send_sync_unpin: PhantomData<(*mut u8, PhantomPinned)>,
}

c_struct! {
    /// A borrowed byte range passed from the host to the plugin (config, request message).
    ///
    /// OWNERSHIP: the host owns the bytes. They stay valid and unchanged for the duration of the hook call that
    /// received the slice, and no longer; the plugin copies what it wants to keep and never writes through or
    /// frees `ptr`. An empty slice may have a null `ptr`, in which case `len` is 0.
    #[derive(Debug, Clone, Copy)]
    pub struct SigilSlice {
        /// First byte. OWNERSHIP: host memory, borrowed for the call only; null only when `len` is 0.
        pub ptr: *const u8,
        /// Number of bytes.
        pub len: usize,
    }
}

c_struct! {
    /// An owned byte buffer passed from the plugin to the host (response and error messages).
    ///
    /// OWNERSHIP: the plugin allocates the bytes; once the hook returns, the host owns the buffer and must
    /// release it exactly once with its own `free` function, never with the host allocator (the plugin may use
    /// another malloc or another Rust allocator). The empty buffer is all zeros and needs no release. Hooks
    /// overwrite the out buffer without reading it, and leave a valid (possibly empty) buffer on every path.
    #[derive(Debug)]
    pub struct SigilBuffer {
        /// First byte. OWNERSHIP: plugin memory, valid until `free` is called on this buffer; null when empty.
        pub ptr: *mut u8,
        /// Number of bytes the host may read from `ptr`.
        pub len: usize,
        /// Plugin-private (Rust plugins store the allocation's capacity here). The host never interprets it.
        pub cap: usize,
        /// Releases this buffer. Null only for the empty buffer. OWNERSHIP: a function of the plugin, valid as
        /// long as the plugin library stays loaded (hosts never unload plugin libraries).
        pub free: Option<SigilBufferFreeFn>,
    }
}

c_fn_types! {
    fn abi_fn_types;

    /// Releases a plugin-allocated buffer and resets the struct to the empty buffer. Callable from any thread.
    ///
    /// OWNERSHIP: `buffer` points to a host-owned SigilBuffer struct for the call only; the bytes it refers to
    /// are freed and must not be touched afterwards.
    pub type SigilBufferFreeFn = unsafe extern "C" fn(buffer: *mut SigilBuffer);

    /// Hook: creates an instance from a JSON config object (an empty `config` means {}). On success stores the
    /// new handle in *out_instance and returns SIGIL_STATUS_OK; otherwise leaves *out_instance null and may put
    /// an error message in *out_error.
    ///
    /// OWNERSHIP: `config` is borrowed for the call. *out_instance passes to the host (release with `destroy`).
    /// *out_error passes to the host (release with its `free`). Both out pointers are host memory, non-null.
    pub type SigilCreateHook = unsafe extern "C" fn(
        config: SigilSlice,
        out_instance: *mut *mut SigilInstance,
        out_error: *mut SigilBuffer,
    ) -> SigilStatus;

    /// Hook: runs one op on an instance. `op` names the op (a NUL-terminated ASCII string such as "sign") and
    /// `request` is its JSON request message (empty means {}). On SIGIL_STATUS_OK *out_response holds the
    /// JSON response message; otherwise it may hold an error message.
    ///
    /// Threading: the host may run `call` and `health` on one instance from several threads at once, up to
    /// the descriptor's `max_concurrency` (0: no bound), so the instance must be thread-safe.
    ///
    /// OWNERSHIP: `instance` is the plugin's handle, borrowed. `op` and `request` are host memory borrowed for
    /// the call. *out_response passes to the host (release with its `free`).
    pub type SigilCallHook = unsafe extern "C" fn(
        instance: *mut SigilInstance,
        op: *const c_char,
        request: SigilSlice,
        out_response: *mut SigilBuffer,
    ) -> SigilStatus;

    /// Hook: reports whether the instance can serve calls. SIGIL_STATUS_OK means healthy and *out_report may
    /// hold {"detail"?: string}; any other status means unhealthy, with an optional error message. It should
    /// be cheap: the host calls it after create, after a reload and periodically.
    ///
    /// OWNERSHIP: `instance` is borrowed. *out_report passes to the host (release with its `free`).
    pub type SigilHealthHook = unsafe extern "C" fn(
        instance: *mut SigilInstance,
        out_report: *mut SigilBuffer,
    ) -> SigilStatus;

    /// Hook: destroys an instance. Called exactly once per instance, after every call and health on it has
    /// returned; never concurrently with another hook on the same instance.
    ///
    /// OWNERSHIP: `instance` passes back to the plugin, which frees it; the host never uses it again.
    pub type SigilDestroyHook = unsafe extern "C" fn(instance: *mut SigilInstance);

    /// The entry symbol's type. It returns the plugin's descriptor, the same pointer on every call, and must not
    /// fail or block.
    ///
    /// OWNERSHIP: the descriptor is static data of the plugin, valid as long as the library stays loaded. The
    /// host only reads it.
    pub type SigilPluginEntryFn = unsafe extern "C" fn() -> *const SigilPluginDescriptor;
}

c_struct! {
    /// The hooks of a plugin. Append-only: a later minor adds hooks at the end and grows `struct_size`; a host
    /// reads only the prefix that both it and the plugin know, and treats a hook beyond the plugin's
    /// `struct_size` as absent.
    ///
    /// OWNERSHIP: static data of the plugin, valid as long as the library stays loaded; the host only reads it.
    #[derive(Debug, Clone, Copy)]
    pub struct SigilPluginVtable {
        /// sizeof(SigilPluginVtable) as the plugin was compiled.
        pub struct_size: u32,
        /// Set to 0; hosts ignore it.
        pub reserved: u32,
        /// Required. Creates an instance.
        pub create: Option<SigilCreateHook>,
        /// Required. Runs one op.
        pub call: Option<SigilCallHook>,
        /// Required. Reports health.
        pub health: Option<SigilHealthHook>,
        /// Required. Destroys an instance.
        pub destroy: Option<SigilDestroyHook>,
        /// Required. Releases any buffer this plugin returned; the same function (or an equivalent one) as the
        /// buffers' own `free`. Hosts that keep the buffer whole call the buffer's `free`.
        pub free_buffer: Option<SigilBufferFreeFn>,
    }
}

c_struct! {
    /// What the entry symbol returns: identity, version negotiation and the hooks of a plugin.
    ///
    /// The first four fields (magic, struct_size, abi_major, abi_minor; 20 bytes) keep their place in every
    /// future major, so a host can always tell a foreign major apart from garbage. Minor versions only append
    /// fields; the host reads min(struct_size, its own sizeof) bytes and treats the rest as zero.
    ///
    /// OWNERSHIP: static data of the plugin, valid as long as the library stays loaded; the host only reads it.
    #[derive(Debug)]
    pub struct SigilPluginDescriptor {
        /// SIGIL_PLUGIN_MAGIC.
        pub magic: u64,
        /// sizeof(SigilPluginDescriptor) as the plugin was compiled.
        pub struct_size: u32,
        /// SIGIL_PLUGIN_ABI_MAJOR as the plugin was compiled; must equal the host's.
        pub abi_major: u32,
        /// SIGIL_PLUGIN_ABI_MINOR as the plugin was compiled; any value is accepted.
        pub abi_minor: u32,
        /// One of the SIGIL_PLUGIN_KIND_* values.
        pub kind: SigilPluginKind,
        /// Plugin name: NUL-terminated, 1 to 64 bytes of [a-z0-9_-]. OWNERSHIP: static plugin data.
        pub name: *const c_char,
        /// Plugin version for logs, e.g. "1.4.2": NUL-terminated UTF-8, 1 to 64 bytes. OWNERSHIP: static
        /// plugin data.
        pub version: *const c_char,
        /// SIGIL_PLUGIN_FLAGS_NONE in v1.0; hosts ignore unknown bits.
        pub flags: u64,
        /// The most `call` and `health` invocations the host may run at once on one instance; 0 means no
        /// bound (the plugin is fully thread-safe and the host picks its own limit).
        pub max_concurrency: u32,
        /// Set to 0; hosts ignore it.
        pub reserved: u32,
        /// The hooks. OWNERSHIP: static plugin data, never null.
        pub vtable: *const SigilPluginVtable,
    }
}

// SAFETY: a descriptor is immutable static data whose pointers refer to immutable static data (strings and the
// vtable); sharing it between threads only ever reads it. Nothing here dereferences the pointers safely.
unsafe impl Sync for SigilPluginDescriptor {}
// SAFETY: as for Sync; the struct owns nothing that is tied to a thread.
unsafe impl Send for SigilPluginDescriptor {}

/// Size of the v1.0 descriptor: hosts refuse a `struct_size` below it. It stays at this value in later minors.
pub const SIGIL_PLUGIN_DESCRIPTOR_V1_0_SIZE: usize =
    core::mem::offset_of!(SigilPluginDescriptor, vtable) + size_of::<*const SigilPluginVtable>();

/// Size of the v1.0 vtable: hosts refuse a `struct_size` below it. It stays at this value in later minors.
pub const SIGIL_PLUGIN_VTABLE_V1_0_SIZE: usize =
    core::mem::offset_of!(SigilPluginVtable, free_buffer) + size_of::<Option<SigilBufferFreeFn>>();

/// Bytes of the descriptor every major keeps in place (magic, struct_size, abi_major, abi_minor).
pub(crate) const SIGIL_PLUGIN_DESCRIPTOR_HEADER_SIZE: usize =
    core::mem::offset_of!(SigilPluginDescriptor, abi_minor) + size_of::<u32>();

// The v1 layout, frozen. A failing assertion here means a change broke every plugin already built: bump the
// major instead (new entry symbol, new structs). Only 64-bit targets are pinned; 32-bit targets get the same
// field order with their own pointer size.
#[cfg(target_pointer_width = "64")]
const _: () = {
    use core::mem::{align_of, offset_of};

    assert!(size_of::<SigilSlice>() == 16 && align_of::<SigilSlice>() == 8);
    assert!(offset_of!(SigilSlice, ptr) == 0);
    assert!(offset_of!(SigilSlice, len) == 8);

    assert!(size_of::<SigilBuffer>() == 32 && align_of::<SigilBuffer>() == 8);
    assert!(offset_of!(SigilBuffer, ptr) == 0);
    assert!(offset_of!(SigilBuffer, len) == 8);
    assert!(offset_of!(SigilBuffer, cap) == 16);
    assert!(offset_of!(SigilBuffer, free) == 24);

    assert!(size_of::<SigilPluginVtable>() == 48 && align_of::<SigilPluginVtable>() == 8);
    assert!(offset_of!(SigilPluginVtable, struct_size) == 0);
    assert!(offset_of!(SigilPluginVtable, reserved) == 4);
    assert!(offset_of!(SigilPluginVtable, create) == 8);
    assert!(offset_of!(SigilPluginVtable, call) == 16);
    assert!(offset_of!(SigilPluginVtable, health) == 24);
    assert!(offset_of!(SigilPluginVtable, destroy) == 32);
    assert!(offset_of!(SigilPluginVtable, free_buffer) == 40);

    assert!(size_of::<SigilPluginDescriptor>() == 64 && align_of::<SigilPluginDescriptor>() == 8);
    assert!(offset_of!(SigilPluginDescriptor, magic) == 0);
    assert!(offset_of!(SigilPluginDescriptor, struct_size) == 8);
    assert!(offset_of!(SigilPluginDescriptor, abi_major) == 12);
    assert!(offset_of!(SigilPluginDescriptor, abi_minor) == 16);
    assert!(offset_of!(SigilPluginDescriptor, kind) == 20);
    assert!(offset_of!(SigilPluginDescriptor, name) == 24);
    assert!(offset_of!(SigilPluginDescriptor, version) == 32);
    assert!(offset_of!(SigilPluginDescriptor, flags) == 40);
    assert!(offset_of!(SigilPluginDescriptor, max_concurrency) == 48);
    assert!(offset_of!(SigilPluginDescriptor, reserved) == 52);
    assert!(offset_of!(SigilPluginDescriptor, vtable) == 56);

    assert!(SIGIL_PLUGIN_DESCRIPTOR_V1_0_SIZE == 64);
    assert!(SIGIL_PLUGIN_VTABLE_V1_0_SIZE == 48);
    assert!(SIGIL_PLUGIN_DESCRIPTOR_HEADER_SIZE == 20);

    // Nullable function pointers are pointer-sized with null as None, which is what C expects.
    assert!(size_of::<Option<SigilCallHook>>() == 8);
    assert!(size_of::<SigilStatus>() == 4 && size_of::<SigilPluginKind>() == 4);
};

impl SigilSlice {
    /// The empty slice (null pointer, zero length).
    pub const EMPTY: SigilSlice = SigilSlice {
        ptr: core::ptr::null(),
        len: 0,
    };

    /// Borrows `bytes` as a slice for one hook call.
    ///
    /// OWNERSHIP: the returned value does not carry the borrow; the caller keeps `bytes` alive and unchanged
    /// until the hook it passes the slice to has returned.
    pub fn from_bytes(bytes: &[u8]) -> SigilSlice {
        SigilSlice {
            ptr: bytes.as_ptr(),
            len: bytes.len(),
        }
    }

    /// Views the bytes, or `None` if the slice is malformed (a null pointer with a non-zero length, or a length
    /// no Rust slice can have).
    ///
    /// # Safety
    /// Unless `ptr` is null, it must point to `len` readable bytes that stay valid and unchanged for `'a`
    /// (for a hook's argument: for the duration of the hook).
    pub unsafe fn as_bytes<'a>(&self) -> Option<&'a [u8]> {
        if self.ptr.is_null() {
            return (self.len == 0).then_some(&[]);
        }
        if self.len > isize::MAX as usize {
            return None;
        }
        // SAFETY: non-null, length within isize::MAX, and the caller promises `len` readable bytes live for 'a.
        Some(unsafe { core::slice::from_raw_parts(self.ptr, self.len) })
    }
}

impl Default for SigilSlice {
    fn default() -> Self {
        SigilSlice::EMPTY
    }
}

impl SigilBuffer {
    /// The empty buffer: all zeros, nothing to release.
    pub const EMPTY: SigilBuffer = SigilBuffer {
        ptr: core::ptr::null_mut(),
        len: 0,
        cap: 0,
        free: None,
    };

    /// Hands `bytes` over as a buffer that carries its own release function.
    ///
    /// OWNERSHIP: the allocation moves into the buffer; whoever ends up owning the buffer must release it with
    /// its `free`, which returns the memory to the allocator of the binary that called `from_vec`.
    pub fn from_vec(bytes: Vec<u8>) -> SigilBuffer {
        if bytes.is_empty() {
            return SigilBuffer::EMPTY;
        }
        let mut bytes = ManuallyDrop::new(bytes);
        SigilBuffer {
            ptr: bytes.as_mut_ptr(),
            len: bytes.len(),
            cap: bytes.capacity(),
            free: Some(free_rust_buffer),
        }
    }

    /// Whether the buffer holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Views the bytes without taking them.
    ///
    /// # Safety
    /// The buffer must have come from a hook (or [`SigilBuffer::from_vec`]) and not been released yet: `ptr`
    /// is null or points to `len` readable bytes.
    pub unsafe fn as_bytes(&self) -> &[u8] {
        if self.ptr.is_null() || self.len == 0 {
            return &[];
        }
        // SAFETY: the caller promises a live buffer, i.e. `len` readable bytes at a non-null `ptr`.
        unsafe { core::slice::from_raw_parts(self.ptr, self.len) }
    }

    /// Releases the buffer with its own `free` and leaves it empty. Releasing the empty buffer does nothing.
    ///
    /// A non-empty buffer without a `free` function is leaked rather than handed to the wrong allocator.
    ///
    /// # Safety
    /// The buffer must have come from a hook (or [`SigilBuffer::from_vec`]) and not been released yet.
    pub unsafe fn release(&mut self) {
        if let Some(free) = self.free {
            // SAFETY: `free` is the buffer's own release function and the caller promises it was not released
            // yet; it resets the struct, and we reset it again in case a foreign `free` forgot.
            unsafe { free(self) };
        }
        *self = SigilBuffer::EMPTY;
    }

    /// Copies the bytes out and releases the buffer.
    ///
    /// # Safety
    /// As for [`SigilBuffer::release`].
    pub unsafe fn take(&mut self) -> Vec<u8> {
        // SAFETY: forwarded to the caller's promise of a live, unreleased buffer.
        let bytes = unsafe { self.as_bytes() }.to_vec();
        // SAFETY: as above; the copy is made, so the bytes are no longer needed.
        unsafe { self.release() };
        bytes
    }
}

impl Default for SigilBuffer {
    fn default() -> Self {
        SigilBuffer::EMPTY
    }
}

/// The release function of buffers made by [`SigilBuffer::from_vec`].
///
/// # Safety
/// `buffer` is null or points to a buffer made by `from_vec` in this same binary and not yet released.
pub(crate) unsafe extern "C" fn free_rust_buffer(buffer: *mut SigilBuffer) {
    // SAFETY: the ABI hands us a host-owned, writable SigilBuffer (or null, which we ignore).
    let Some(buffer) = (unsafe { buffer.as_mut() }) else {
        return;
    };
    if !buffer.ptr.is_null() {
        // SAFETY: ptr, len and cap are exactly what `from_vec` took from a Vec of this binary's allocator, and
        // the caller promises the buffer was not released before.
        drop(unsafe { Vec::from_raw_parts(buffer.ptr, buffer.len, buffer.cap) });
    }
    *buffer = SigilBuffer::EMPTY;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffer_round_trip_and_free() {
        let mut buffer = SigilBuffer::from_vec(b"{\"ok\":true}".to_vec());
        assert!(!buffer.ptr.is_null());
        assert!(buffer.free.is_some());
        assert_eq!(buffer.len, 11);
        // SAFETY: fresh from from_vec, not released.
        assert_eq!(unsafe { buffer.as_bytes() }, b"{\"ok\":true}");
        // SAFETY: as above; `take` releases it.
        let copy = unsafe { buffer.take() };
        assert_eq!(copy, b"{\"ok\":true}");
        assert!(buffer.ptr.is_null() && buffer.len == 0 && buffer.free.is_none());
        // Releasing the (now empty) buffer again is harmless.
        // SAFETY: the empty buffer owns nothing.
        unsafe { buffer.release() };
    }

    #[test]
    fn empty_vec_becomes_the_empty_buffer() {
        let buffer = SigilBuffer::from_vec(Vec::with_capacity(32));
        assert!(buffer.ptr.is_null() && buffer.free.is_none() && buffer.is_empty());
    }

    #[test]
    fn free_hook_resets_the_struct_and_tolerates_null() {
        let mut buffer = SigilBuffer::from_vec(vec![1, 2, 3]);
        let free = buffer
            .free
            .expect("non-empty buffers carry a free function");
        // SAFETY: a live buffer made by from_vec in this binary.
        unsafe { free(&mut buffer) };
        assert!(buffer.ptr.is_null() && buffer.free.is_none());
        // SAFETY: null is documented as ignored.
        unsafe { free(core::ptr::null_mut()) };
    }

    #[test]
    fn slice_views() {
        let bytes = [7u8, 8, 9];
        let slice = SigilSlice::from_bytes(&bytes);
        // SAFETY: `bytes` outlives the view.
        assert_eq!(unsafe { slice.as_bytes() }, Some(&bytes[..]));
        // SAFETY: null with length 0 is the empty slice.
        assert_eq!(unsafe { SigilSlice::EMPTY.as_bytes() }, Some(&[][..]));
        let broken = SigilSlice {
            ptr: core::ptr::null(),
            len: 3,
        };
        // SAFETY: a null pointer is never dereferenced.
        assert_eq!(unsafe { broken.as_bytes() }, None);
    }

    #[test]
    fn status_codes_decode() {
        for status in Status::ALL {
            assert_eq!(Status::from_raw(status.as_raw()), Some(*status));
        }
        assert_eq!(Status::from_raw(999), None);
        assert_eq!(Status::from_raw_lossy(999), Status::Internal);
        assert_eq!(Status::Panicked.to_string(), "panicked");
        assert_eq!(PluginKind::from_raw(2), Some(PluginKind::KmsSigner));
        assert_eq!(PluginKind::from_raw(0), None);
    }
}
