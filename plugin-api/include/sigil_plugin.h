/*
 * sigil_plugin.h: the C ABI (v1) between sigild and its dynamic plugins.
 *
 * GENERATED from the Rust crate sigil-plugin-api by sigil_plugin_api::c_header(). Do not edit: change the Rust
 * definitions, then run `SIGIL_BLESS=1 cargo test -p sigil-plugin-api --test abi header` and commit both.
 *
 * A plugin is a shared library that exports one function, sigil_plugin_entry_v1, returning a pointer to a
 * static SigilPluginDescriptor. Only scalars, opaque handles and byte buffers cross the boundary; payloads are
 * JSON messages documented in plugin-api/README.md. Lifecycle: the host loads the library (and never unloads
 * it), validates the descriptor, then calls create, health, call... and finally destroy on each instance.
 * Buffers returned by the plugin are released with their own free function; slices passed by the host are
 * borrowed for the duration of one call.
 */
#ifndef SIGIL_PLUGIN_H
#define SIGIL_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Marks the entry symbol as exported even when building with -fvisibility=hidden. */
#ifndef SIGIL_PLUGIN_EXPORT
#  if defined(_WIN32)
#    define SIGIL_PLUGIN_EXPORT __declspec(dllexport)
#  elif defined(__GNUC__)
#    define SIGIL_PLUGIN_EXPORT __attribute__((visibility("default")))
#  else
#    define SIGIL_PLUGIN_EXPORT
#  endif
#endif

/* ---- ABI identity ---- */

/**
 * Value of `SigilPluginDescriptor.magic`: the ASCII bytes "SIGILPLG" read as a big-endian u64. The host
 * refuses a descriptor without it before reading anything else.
 */
#define SIGIL_PLUGIN_MAGIC 0x534947494C504C47ull

/**
 * ABI major version. A plugin whose descriptor carries another major is refused. Any change that is not
 * purely additive bumps it, and with it the entry symbol name.
 */
#define SIGIL_PLUGIN_ABI_MAJOR 1u

/**
 * ABI minor version of this header. Minors only append descriptor fields, vtable hooks, status codes,
 * kinds, ops and optional JSON fields; a host accepts plugins built against any minor of its major.
 */
#define SIGIL_PLUGIN_ABI_MINOR 0u

/** Name of the one symbol a plugin exports: `const SigilPluginDescriptor *sigil_plugin_entry_v1(void)`. */
#define SIGIL_PLUGIN_ENTRY_SYMBOL "sigil_plugin_entry_v1"

/**
 * Value of `SigilPluginDescriptor.flags` when no flag is set. ABI v1.0 defines no flags; plugins set 0 and
 * hosts ignore bits they do not know.
 */
#define SIGIL_PLUGIN_FLAGS_NONE 0x0ull

/* ---- Plugin kinds ---- */

/** What a plugin does: the value of `SigilPluginDescriptor.kind`. It decides which ops `call` accepts. */
typedef uint32_t SigilPluginKind;

/** Values of SigilPluginKind. */
enum SigilPluginKindValue {
    /** A transport to an RFC 3161 time-stamping authority. Ops: "describe", "timestamp". */
    SIGIL_PLUGIN_KIND_TSA_BACKEND = 1u,
    /**
     * A key holder that signs (PKCS#11 token, cloud KMS, key file). Ops: "generate_key", "public_key",
     * "sign", "list_keys", "schedule_deletion".
     */
    SIGIL_PLUGIN_KIND_KMS_SIGNER = 2u,
    /** A notification channel to people or devices. Ops: "validate_recipient", "send". */
    SIGIL_PLUGIN_KIND_PUSH_CHANNEL = 3u,
};

/* ---- Status codes ---- */

/**
 * Result of every hook that can fail. On anything but SIGIL_STATUS_OK the out buffer may hold an error
 * message: JSON {"message": string, "class"?: string, "http_status"?: integer}. Hosts treat a code they
 * do not know as SIGIL_STATUS_INTERNAL, so later minors may add codes.
 */
typedef uint32_t SigilStatus;

/** Values of SigilStatus. */
enum SigilStatusValue {
    /** Success. The out buffer holds the response message (it may be empty, which reads as {}). */
    SIGIL_STATUS_OK = 0u,
    /**
     * The config, op arguments or request message are malformed: not JSON, a required field missing, a
     * value out of range. Retrying the same input fails again.
     */
    SIGIL_STATUS_INVALID_INPUT = 1u,
    /**
     * The op, algorithm or option is not implemented by this plugin (including an op this plugin kind
     * does not define).
     */
    SIGIL_STATUS_UNSUPPORTED = 2u,
    /** A referenced object does not exist (a key URI, a recipient). */
    SIGIL_STATUS_NOT_FOUND = 3u,
    /**
     * The backend failed: network or I/O error, an HTTP error status, an unparsable answer. The error
     * message's class tells which. Usually worth a retry or a failover.
     */
    SIGIL_STATUS_BACKEND = 4u,
    /** The backend did not answer in time. */
    SIGIL_STATUS_TIMEOUT = 5u,
    /**
     * The plugin panicked (or caught a fatal bug of its own) at the boundary. The instance is poisoned:
     * every later call and health on it returns SIGIL_STATUS_PANICKED until the host destroys it and
     * creates a new one.
     */
    SIGIL_STATUS_PANICKED = 6u,
    /** Any other failure inside the plugin (a broken invariant, an exhausted resource). */
    SIGIL_STATUS_INTERNAL = 7u,
    /** The backend refused the operation for lack of rights (wrong PIN, access policy, key usage). */
    SIGIL_STATUS_PERMISSION_DENIED = 8u,
};

/* ---- Op names (the `op` argument of the call hook) ---- */

/** TSA backend op: describe the TSA. Request TsaDescribeRequest {}, response TsaDescription. */
#define SIGIL_OP_TSA_DESCRIBE "describe"

/**
 * TSA backend op: turn a DER TimeStampReq into a DER TimeStampResp. Request TimestampRequest, response
 * TimestampResponse.
 */
#define SIGIL_OP_TSA_TIMESTAMP "timestamp"

/** KMS signer op: create a key pair. Request GenerateKeyRequest, response GenerateKeyResponse. */
#define SIGIL_OP_KMS_GENERATE_KEY "generate_key"

/** KMS signer op: fetch a key's public key. Request PublicKeyRequest, response PublicKeyResponse. */
#define SIGIL_OP_KMS_PUBLIC_KEY "public_key"

/** KMS signer op: sign a message or digest. Request SignRequest, response SignResponse. */
#define SIGIL_OP_KMS_SIGN "sign"

/** KMS signer op: list the keys the plugin can use. Request ListKeysRequest {}, response ListKeysResponse. */
#define SIGIL_OP_KMS_LIST_KEYS "list_keys"

/**
 * KMS signer op: schedule a key's destruction. Request ScheduleDeletionRequest, response
 * ScheduleDeletionResponse.
 */
#define SIGIL_OP_KMS_SCHEDULE_DELETION "schedule_deletion"

/**
 * Push channel op: check a recipient address. Request ValidateRecipientRequest, response
 * ValidateRecipientResponse.
 */
#define SIGIL_OP_PUSH_VALIDATE_RECIPIENT "validate_recipient"

/** Push channel op: deliver a notification. Request SendRequest, response SendResponse. */
#define SIGIL_OP_PUSH_SEND "send"

/* ---- Types ---- */

/**
 * An instance of a plugin, created by the create hook. Opaque to the host.
 *
 * OWNERSHIP: allocated by the plugin in create, owned by the host until it passes the handle to destroy
 * exactly once. The host never dereferences it.
 */
typedef struct SigilInstance SigilInstance;
typedef struct SigilSlice SigilSlice;
typedef struct SigilBuffer SigilBuffer;
typedef struct SigilPluginVtable SigilPluginVtable;
typedef struct SigilPluginDescriptor SigilPluginDescriptor;

/* ---- Hooks the plugin implements ---- */

/**
 * Releases a plugin-allocated buffer and resets the struct to the empty buffer. Callable from any thread.
 *
 * OWNERSHIP: `buffer` points to a host-owned SigilBuffer struct for the call only; the bytes it refers to
 * are freed and must not be touched afterwards.
 */
typedef void (*SigilBufferFreeFn)(SigilBuffer *buffer);

/**
 * Hook: creates an instance from a JSON config object (an empty `config` means {}). On success stores the
 * new handle in *out_instance and returns SIGIL_STATUS_OK; otherwise leaves *out_instance null and may put
 * an error message in *out_error.
 *
 * OWNERSHIP: `config` is borrowed for the call. *out_instance passes to the host (release with `destroy`).
 * *out_error passes to the host (release with its `free`). Both out pointers are host memory, non-null.
 */
typedef SigilStatus (*SigilCreateHook)(
    SigilSlice config,
    SigilInstance **out_instance,
    SigilBuffer *out_error);

/**
 * Hook: runs one op on an instance. `op` names the op (a NUL-terminated ASCII string such as "sign") and
 * `request` is its JSON request message (empty means {}). On SIGIL_STATUS_OK *out_response holds the
 * JSON response message; otherwise it may hold an error message.
 *
 * Threading: the host may run `call` and `health` on one instance from several threads at once, up to
 * the descriptor's `max_concurrency` (0: no bound), so the instance must be thread-safe.
 *
 * OWNERSHIP: `instance` is the plugin's handle, borrowed. `op` and `request` are host memory borrowed for
 * the call. *out_response passes to the host (release with its `free`).
 */
typedef SigilStatus (*SigilCallHook)(
    SigilInstance *instance,
    const char *op,
    SigilSlice request,
    SigilBuffer *out_response);

/**
 * Hook: reports whether the instance can serve calls. SIGIL_STATUS_OK means healthy and *out_report may
 * hold {"detail"?: string}; any other status means unhealthy, with an optional error message. It should
 * be cheap: the host calls it after create, after a reload and periodically.
 *
 * OWNERSHIP: `instance` is borrowed. *out_report passes to the host (release with its `free`).
 */
typedef SigilStatus (*SigilHealthHook)(
    SigilInstance *instance,
    SigilBuffer *out_report);

/**
 * Hook: destroys an instance. Called exactly once per instance, after every call and health on it has
 * returned; never concurrently with another hook on the same instance.
 *
 * OWNERSHIP: `instance` passes back to the plugin, which frees it; the host never uses it again.
 */
typedef void (*SigilDestroyHook)(SigilInstance *instance);

/**
 * The entry symbol's type. It returns the plugin's descriptor, the same pointer on every call, and must not
 * fail or block.
 *
 * OWNERSHIP: the descriptor is static data of the plugin, valid as long as the library stays loaded. The
 * host only reads it.
 */
typedef const SigilPluginDescriptor *(*SigilPluginEntryFn)(void);

/* ---- Structs ---- */

/**
 * A borrowed byte range passed from the host to the plugin (config, request message).
 *
 * OWNERSHIP: the host owns the bytes. They stay valid and unchanged for the duration of the hook call that
 * received the slice, and no longer; the plugin copies what it wants to keep and never writes through or
 * frees `ptr`. An empty slice may have a null `ptr`, in which case `len` is 0.
 */
struct SigilSlice {
    /** First byte. OWNERSHIP: host memory, borrowed for the call only; null only when `len` is 0. */
    const uint8_t *ptr;
    /** Number of bytes. */
    size_t len;
};

/**
 * An owned byte buffer passed from the plugin to the host (response and error messages).
 *
 * OWNERSHIP: the plugin allocates the bytes; once the hook returns, the host owns the buffer and must
 * release it exactly once with its own `free` function, never with the host allocator (the plugin may use
 * another malloc or another Rust allocator). The empty buffer is all zeros and needs no release. Hooks
 * overwrite the out buffer without reading it, and leave a valid (possibly empty) buffer on every path.
 */
struct SigilBuffer {
    /** First byte. OWNERSHIP: plugin memory, valid until `free` is called on this buffer; null when empty. */
    uint8_t *ptr;
    /** Number of bytes the host may read from `ptr`. */
    size_t len;
    /** Plugin-private (Rust plugins store the allocation's capacity here). The host never interprets it. */
    size_t cap;
    /**
     * Releases this buffer. Null only for the empty buffer. OWNERSHIP: a function of the plugin, valid as
     * long as the plugin library stays loaded (hosts never unload plugin libraries).
     */
    SigilBufferFreeFn free;
};

/**
 * The hooks of a plugin. Append-only: a later minor adds hooks at the end and grows `struct_size`; a host
 * reads only the prefix that both it and the plugin know, and treats a hook beyond the plugin's
 * `struct_size` as absent.
 *
 * OWNERSHIP: static data of the plugin, valid as long as the library stays loaded; the host only reads it.
 */
struct SigilPluginVtable {
    /** sizeof(SigilPluginVtable) as the plugin was compiled. */
    uint32_t struct_size;
    /** Set to 0; hosts ignore it. */
    uint32_t reserved;
    /** Required. Creates an instance. */
    SigilCreateHook create;
    /** Required. Runs one op. */
    SigilCallHook call;
    /** Required. Reports health. */
    SigilHealthHook health;
    /** Required. Destroys an instance. */
    SigilDestroyHook destroy;
    /**
     * Required. Releases any buffer this plugin returned; the same function (or an equivalent one) as the
     * buffers' own `free`. Hosts that keep the buffer whole call the buffer's `free`.
     */
    SigilBufferFreeFn free_buffer;
};

/**
 * What the entry symbol returns: identity, version negotiation and the hooks of a plugin.
 *
 * The first four fields (magic, struct_size, abi_major, abi_minor; 20 bytes) keep their place in every
 * future major, so a host can always tell a foreign major apart from garbage. Minor versions only append
 * fields; the host reads min(struct_size, its own sizeof) bytes and treats the rest as zero.
 *
 * OWNERSHIP: static data of the plugin, valid as long as the library stays loaded; the host only reads it.
 */
struct SigilPluginDescriptor {
    /** SIGIL_PLUGIN_MAGIC. */
    uint64_t magic;
    /** sizeof(SigilPluginDescriptor) as the plugin was compiled. */
    uint32_t struct_size;
    /** SIGIL_PLUGIN_ABI_MAJOR as the plugin was compiled; must equal the host's. */
    uint32_t abi_major;
    /** SIGIL_PLUGIN_ABI_MINOR as the plugin was compiled; any value is accepted. */
    uint32_t abi_minor;
    /** One of the SIGIL_PLUGIN_KIND_* values. */
    SigilPluginKind kind;
    /** Plugin name: NUL-terminated, 1 to 64 bytes of [a-z0-9_-]. OWNERSHIP: static plugin data. */
    const char *name;
    /**
     * Plugin version for logs, e.g. "1.4.2": NUL-terminated UTF-8, 1 to 64 bytes. OWNERSHIP: static
     * plugin data.
     */
    const char *version;
    /** SIGIL_PLUGIN_FLAGS_NONE in v1.0; hosts ignore unknown bits. */
    uint64_t flags;
    /**
     * The most `call` and `health` invocations the host may run at once on one instance; 0 means no
     * bound (the plugin is fully thread-safe and the host picks its own limit).
     */
    uint32_t max_concurrency;
    /** Set to 0; hosts ignore it. */
    uint32_t reserved;
    /** The hooks. OWNERSHIP: static plugin data, never null. */
    const SigilPluginVtable *vtable;
};

/* ---- Entry symbol ---- */

/** Defined by every plugin (type SigilPluginEntryFn); the name carries the ABI major. */
SIGIL_PLUGIN_EXPORT const SigilPluginDescriptor *sigil_plugin_entry_v1(void);

/* ---- Layout checks ---- */

/* The v1 layout on 64-bit targets, as the Rust definitions freeze it. */
#if UINTPTR_MAX == 0xFFFFFFFFFFFFFFFFu && (defined(__cplusplus) || \
    (defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L))
#  ifdef __cplusplus
#    define SIGIL_LAYOUT_ASSERT(cond, what) static_assert(cond, what)
#    define SIGIL_LAYOUT_ALIGNOF(type) alignof(type)
#  else
#    define SIGIL_LAYOUT_ASSERT(cond, what) _Static_assert(cond, what)
#    define SIGIL_LAYOUT_ALIGNOF(type) _Alignof(type)
#  endif
SIGIL_LAYOUT_ASSERT(sizeof(SigilSlice) == 16, "sizeof(SigilSlice)");
SIGIL_LAYOUT_ASSERT(SIGIL_LAYOUT_ALIGNOF(SigilSlice) == 8, "alignof(SigilSlice)");
SIGIL_LAYOUT_ASSERT(offsetof(SigilSlice, ptr) == 0, "offsetof(SigilSlice, ptr)");
SIGIL_LAYOUT_ASSERT(sizeof(((SigilSlice *)0)->ptr) == 8, "sizeof(SigilSlice.ptr)");
SIGIL_LAYOUT_ASSERT(offsetof(SigilSlice, len) == 8, "offsetof(SigilSlice, len)");
SIGIL_LAYOUT_ASSERT(sizeof(((SigilSlice *)0)->len) == 8, "sizeof(SigilSlice.len)");
SIGIL_LAYOUT_ASSERT(sizeof(SigilBuffer) == 32, "sizeof(SigilBuffer)");
SIGIL_LAYOUT_ASSERT(SIGIL_LAYOUT_ALIGNOF(SigilBuffer) == 8, "alignof(SigilBuffer)");
SIGIL_LAYOUT_ASSERT(offsetof(SigilBuffer, ptr) == 0, "offsetof(SigilBuffer, ptr)");
SIGIL_LAYOUT_ASSERT(sizeof(((SigilBuffer *)0)->ptr) == 8, "sizeof(SigilBuffer.ptr)");
SIGIL_LAYOUT_ASSERT(offsetof(SigilBuffer, len) == 8, "offsetof(SigilBuffer, len)");
SIGIL_LAYOUT_ASSERT(sizeof(((SigilBuffer *)0)->len) == 8, "sizeof(SigilBuffer.len)");
SIGIL_LAYOUT_ASSERT(offsetof(SigilBuffer, cap) == 16, "offsetof(SigilBuffer, cap)");
SIGIL_LAYOUT_ASSERT(sizeof(((SigilBuffer *)0)->cap) == 8, "sizeof(SigilBuffer.cap)");
SIGIL_LAYOUT_ASSERT(offsetof(SigilBuffer, free) == 24, "offsetof(SigilBuffer, free)");
SIGIL_LAYOUT_ASSERT(sizeof(((SigilBuffer *)0)->free) == 8, "sizeof(SigilBuffer.free)");
SIGIL_LAYOUT_ASSERT(sizeof(SigilPluginVtable) == 48, "sizeof(SigilPluginVtable)");
SIGIL_LAYOUT_ASSERT(SIGIL_LAYOUT_ALIGNOF(SigilPluginVtable) == 8, "alignof(SigilPluginVtable)");
SIGIL_LAYOUT_ASSERT(offsetof(SigilPluginVtable, struct_size) == 0, "offsetof(SigilPluginVtable, struct_size)");
SIGIL_LAYOUT_ASSERT(sizeof(((SigilPluginVtable *)0)->struct_size) == 4, "sizeof(SigilPluginVtable.struct_size)");
SIGIL_LAYOUT_ASSERT(offsetof(SigilPluginVtable, reserved) == 4, "offsetof(SigilPluginVtable, reserved)");
SIGIL_LAYOUT_ASSERT(sizeof(((SigilPluginVtable *)0)->reserved) == 4, "sizeof(SigilPluginVtable.reserved)");
SIGIL_LAYOUT_ASSERT(offsetof(SigilPluginVtable, create) == 8, "offsetof(SigilPluginVtable, create)");
SIGIL_LAYOUT_ASSERT(sizeof(((SigilPluginVtable *)0)->create) == 8, "sizeof(SigilPluginVtable.create)");
SIGIL_LAYOUT_ASSERT(offsetof(SigilPluginVtable, call) == 16, "offsetof(SigilPluginVtable, call)");
SIGIL_LAYOUT_ASSERT(sizeof(((SigilPluginVtable *)0)->call) == 8, "sizeof(SigilPluginVtable.call)");
SIGIL_LAYOUT_ASSERT(offsetof(SigilPluginVtable, health) == 24, "offsetof(SigilPluginVtable, health)");
SIGIL_LAYOUT_ASSERT(sizeof(((SigilPluginVtable *)0)->health) == 8, "sizeof(SigilPluginVtable.health)");
SIGIL_LAYOUT_ASSERT(offsetof(SigilPluginVtable, destroy) == 32, "offsetof(SigilPluginVtable, destroy)");
SIGIL_LAYOUT_ASSERT(sizeof(((SigilPluginVtable *)0)->destroy) == 8, "sizeof(SigilPluginVtable.destroy)");
SIGIL_LAYOUT_ASSERT(offsetof(SigilPluginVtable, free_buffer) == 40, "offsetof(SigilPluginVtable, free_buffer)");
SIGIL_LAYOUT_ASSERT(sizeof(((SigilPluginVtable *)0)->free_buffer) == 8, "sizeof(SigilPluginVtable.free_buffer)");
SIGIL_LAYOUT_ASSERT(sizeof(SigilPluginDescriptor) == 64, "sizeof(SigilPluginDescriptor)");
SIGIL_LAYOUT_ASSERT(SIGIL_LAYOUT_ALIGNOF(SigilPluginDescriptor) == 8, "alignof(SigilPluginDescriptor)");
SIGIL_LAYOUT_ASSERT(offsetof(SigilPluginDescriptor, magic) == 0, "offsetof(SigilPluginDescriptor, magic)");
SIGIL_LAYOUT_ASSERT(sizeof(((SigilPluginDescriptor *)0)->magic) == 8, "sizeof(SigilPluginDescriptor.magic)");
SIGIL_LAYOUT_ASSERT(offsetof(SigilPluginDescriptor, struct_size) == 8, "offsetof(SigilPluginDescriptor, struct_size)");
SIGIL_LAYOUT_ASSERT(sizeof(((SigilPluginDescriptor *)0)->struct_size) == 4, "sizeof(SigilPluginDescriptor.struct_size)");
SIGIL_LAYOUT_ASSERT(offsetof(SigilPluginDescriptor, abi_major) == 12, "offsetof(SigilPluginDescriptor, abi_major)");
SIGIL_LAYOUT_ASSERT(sizeof(((SigilPluginDescriptor *)0)->abi_major) == 4, "sizeof(SigilPluginDescriptor.abi_major)");
SIGIL_LAYOUT_ASSERT(offsetof(SigilPluginDescriptor, abi_minor) == 16, "offsetof(SigilPluginDescriptor, abi_minor)");
SIGIL_LAYOUT_ASSERT(sizeof(((SigilPluginDescriptor *)0)->abi_minor) == 4, "sizeof(SigilPluginDescriptor.abi_minor)");
SIGIL_LAYOUT_ASSERT(offsetof(SigilPluginDescriptor, kind) == 20, "offsetof(SigilPluginDescriptor, kind)");
SIGIL_LAYOUT_ASSERT(sizeof(((SigilPluginDescriptor *)0)->kind) == 4, "sizeof(SigilPluginDescriptor.kind)");
SIGIL_LAYOUT_ASSERT(offsetof(SigilPluginDescriptor, name) == 24, "offsetof(SigilPluginDescriptor, name)");
SIGIL_LAYOUT_ASSERT(sizeof(((SigilPluginDescriptor *)0)->name) == 8, "sizeof(SigilPluginDescriptor.name)");
SIGIL_LAYOUT_ASSERT(offsetof(SigilPluginDescriptor, version) == 32, "offsetof(SigilPluginDescriptor, version)");
SIGIL_LAYOUT_ASSERT(sizeof(((SigilPluginDescriptor *)0)->version) == 8, "sizeof(SigilPluginDescriptor.version)");
SIGIL_LAYOUT_ASSERT(offsetof(SigilPluginDescriptor, flags) == 40, "offsetof(SigilPluginDescriptor, flags)");
SIGIL_LAYOUT_ASSERT(sizeof(((SigilPluginDescriptor *)0)->flags) == 8, "sizeof(SigilPluginDescriptor.flags)");
SIGIL_LAYOUT_ASSERT(offsetof(SigilPluginDescriptor, max_concurrency) == 48, "offsetof(SigilPluginDescriptor, max_concurrency)");
SIGIL_LAYOUT_ASSERT(sizeof(((SigilPluginDescriptor *)0)->max_concurrency) == 4, "sizeof(SigilPluginDescriptor.max_concurrency)");
SIGIL_LAYOUT_ASSERT(offsetof(SigilPluginDescriptor, reserved) == 52, "offsetof(SigilPluginDescriptor, reserved)");
SIGIL_LAYOUT_ASSERT(sizeof(((SigilPluginDescriptor *)0)->reserved) == 4, "sizeof(SigilPluginDescriptor.reserved)");
SIGIL_LAYOUT_ASSERT(offsetof(SigilPluginDescriptor, vtable) == 56, "offsetof(SigilPluginDescriptor, vtable)");
SIGIL_LAYOUT_ASSERT(sizeof(((SigilPluginDescriptor *)0)->vtable) == 8, "sizeof(SigilPluginDescriptor.vtable)");
#  undef SIGIL_LAYOUT_ASSERT
#  undef SIGIL_LAYOUT_ALIGNOF
#endif

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* SIGIL_PLUGIN_H */
