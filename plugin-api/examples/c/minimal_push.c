/*
 * minimal_push.c: a Sigil push channel written in C against sigil_plugin.h.
 *
 * It accepts any non-empty recipient and "delivers" a notification by counting it. A real plugin would parse
 * the JSON request with a JSON library (cJSON, jansson); this one only looks at the raw bytes.
 *
 * Build: cc -std=c11 -Wall -Wextra -O2 -shared -fPIC -I plugin-api/include -o libc_push.so minimal_push.c
 */
#include <sigil_plugin.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One instance. The host may call it from several threads at once, so its state is atomic. */
typedef struct CPush {
    atomic_ulong sent;
} CPush;

/* Releases a buffer made by reply(). OWNERSHIP: the bytes were malloc'ed by this plugin; the struct is the
 * host's and is reset to the empty buffer. */
static void c_push_free_buffer(SigilBuffer *buffer) {
    if (buffer == NULL) {
        return;
    }
    free(buffer->ptr);
    *buffer = (SigilBuffer){0};
}

/* Copies `json` into a malloc'ed buffer that passes to the host, and returns `status`. */
static SigilStatus reply(SigilBuffer *out, SigilStatus status, const char *json) {
    size_t len = strlen(json);
    uint8_t *bytes = malloc(len);
    if (bytes == NULL) {
        return SIGIL_STATUS_INTERNAL;
    }
    memcpy(bytes, json, len);
    *out = (SigilBuffer){.ptr = bytes, .len = len, .cap = len, .free = c_push_free_buffer};
    return status;
}

/* Whether the borrowed request bytes contain `needle` (the slice is not NUL-terminated). */
static int slice_contains(SigilSlice slice, const char *needle) {
    size_t needle_len = strlen(needle);
    for (size_t at = 0; slice.ptr != NULL && at + needle_len <= slice.len; at++) {
        if (memcmp(slice.ptr + at, needle, needle_len) == 0) {
            return 1;
        }
    }
    return 0;
}

static SigilStatus c_push_create(SigilSlice config, SigilInstance **out_instance, SigilBuffer *out_error) {
    (void)config; /* no settings */
    *out_instance = NULL;
    *out_error = (SigilBuffer){0};
    CPush *push = malloc(sizeof *push);
    if (push == NULL) {
        return reply(out_error, SIGIL_STATUS_INTERNAL, "{\"message\":\"out of memory\"}");
    }
    atomic_init(&push->sent, 0);
    *out_instance = (SigilInstance *)push;
    return SIGIL_STATUS_OK;
}

static SigilStatus c_push_call(SigilInstance *instance, const char *op, SigilSlice request,
                               SigilBuffer *out_response) {
    CPush *push = (CPush *)instance;
    *out_response = (SigilBuffer){0};
    if (strcmp(op, SIGIL_OP_PUSH_VALIDATE_RECIPIENT) == 0) {
        if (slice_contains(request, "\"recipient\":\"\"")) {
            return reply(out_response, SIGIL_STATUS_OK, "{\"valid\":false,\"reason\":\"empty recipient\"}");
        }
        return reply(out_response, SIGIL_STATUS_OK, "{\"valid\":true}");
    }
    if (strcmp(op, SIGIL_OP_PUSH_SEND) == 0) {
        unsigned long number = atomic_fetch_add(&push->sent, 1) + 1;
        char json[96];
        snprintf(json, sizeof json, "{\"delivery_id\":\"c-%lu\",\"outcome\":\"delivered\"}", number);
        return reply(out_response, SIGIL_STATUS_OK, json);
    }
    return reply(out_response, SIGIL_STATUS_UNSUPPORTED, "{\"message\":\"unknown op\"}");
}

static SigilStatus c_push_health(SigilInstance *instance, SigilBuffer *out_report) {
    (void)instance;
    *out_report = (SigilBuffer){0}; /* empty report: healthy, nothing to add */
    return SIGIL_STATUS_OK;
}

static void c_push_destroy(SigilInstance *instance) {
    free(instance);
}

static const SigilPluginVtable c_push_vtable = {
    .struct_size = sizeof(SigilPluginVtable),
    .create = c_push_create,
    .call = c_push_call,
    .health = c_push_health,
    .destroy = c_push_destroy,
    .free_buffer = c_push_free_buffer,
};

static const SigilPluginDescriptor c_push_descriptor = {
    .magic = SIGIL_PLUGIN_MAGIC,
    .struct_size = sizeof(SigilPluginDescriptor),
    .abi_major = SIGIL_PLUGIN_ABI_MAJOR,
    .abi_minor = SIGIL_PLUGIN_ABI_MINOR,
    .kind = SIGIL_PLUGIN_KIND_PUSH_CHANNEL,
    .name = "c-push",
    .version = "1.0.0",
    .flags = SIGIL_PLUGIN_FLAGS_NONE,
    .max_concurrency = 0, /* thread-safe: no bound */
    .vtable = &c_push_vtable,
};

SIGIL_PLUGIN_EXPORT const SigilPluginDescriptor *sigil_plugin_entry_v1(void) {
    return &c_push_descriptor;
}
