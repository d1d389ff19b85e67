//! Host side, step one: checks a plugin's descriptor field by field before anything in it is trusted, and
//! refuses a mismatch with an error that names the field.
//!
//! Version negotiation: the major must match exactly; the minor is negotiated by size. The host copies
//! `min(struct_size, size_of::<SigilPluginDescriptor>())` bytes into a zeroed descriptor, so an older plugin's
//! missing tail reads as zero (absent) and a newer plugin's extra tail is never read. The vtable is read the
//! same way through its own `struct_size`.

use core::ffi::c_char;

use crate::abi::{
    PluginKind, SIGIL_PLUGIN_ABI_MAJOR, SIGIL_PLUGIN_DESCRIPTOR_V1_0_SIZE, SIGIL_PLUGIN_MAGIC,
    SIGIL_PLUGIN_VTABLE_V1_0_SIZE, SigilBufferFreeFn, SigilCallHook, SigilCreateHook,
    SigilDestroyHook, SigilHealthHook, SigilPluginDescriptor, SigilPluginVtable,
};

/// Longest accepted `name` and `version`, in bytes (without the NUL).
pub const SIGIL_PLUGIN_MAX_STRING_LEN: usize = 64;

/// Why a descriptor was refused. Every variant names the offending field (see [`DescriptorError::field`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DescriptorError {
    /// A pointer the ABI requires was null (`descriptor`, `name`, `version`, `vtable`, `vtable.create`, ...).
    #[error("plugin descriptor field `{field}`: null pointer")]
    NullPointer {
        /// The field.
        field: &'static str,
    },
    /// A struct pointer was not aligned for its type.
    #[error("plugin descriptor field `{field}`: misaligned pointer")]
    Misaligned {
        /// The field.
        field: &'static str,
    },
    /// `magic` is not [`crate::SIGIL_PLUGIN_MAGIC`]: not a Sigil plugin, or a corrupt one.
    #[error(
        "plugin descriptor field `magic`: expected {expected:#018x}, found {found:#018x} (not a Sigil plugin)"
    )]
    BadMagic {
        /// What the descriptor holds.
        found: u64,
        /// What the host expects.
        expected: u64,
    },
    /// `abi_major` differs from the host's.
    #[error(
        "plugin descriptor field `abi_major`: the plugin was built for ABI v{found}, this host speaks v{expected}"
    )]
    AbiMajorMismatch {
        /// The plugin's major.
        found: u32,
        /// The host's major.
        expected: u32,
    },
    /// `struct_size` (or `vtable.struct_size`) is below the v1.0 size.
    #[error(
        "plugin descriptor field `{field}`: {found} bytes is smaller than the v1.0 minimum of {minimum}"
    )]
    StructSizeTooSmall {
        /// `struct_size` or `vtable.struct_size`.
        field: &'static str,
        /// The declared size.
        found: u32,
        /// The smallest size the host accepts.
        minimum: u32,
    },
    /// `kind` is not a kind this host knows.
    #[error("plugin descriptor field `kind`: unknown plugin kind {found}")]
    UnknownKind {
        /// The raw kind.
        found: u32,
    },
    /// `name` or `version` is not an acceptable string.
    #[error("plugin descriptor field `{field}`: {reason}")]
    InvalidString {
        /// `name` or `version`.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

impl DescriptorError {
    /// The descriptor field the error is about, e.g. `"abi_major"` or `"vtable.call"`.
    pub fn field(&self) -> &'static str {
        match self {
            DescriptorError::NullPointer { field }
            | DescriptorError::Misaligned { field }
            | DescriptorError::StructSizeTooSmall { field, .. }
            | DescriptorError::InvalidString { field, .. } => field,
            DescriptorError::BadMagic { .. } => "magic",
            DescriptorError::AbiMajorMismatch { .. } => "abi_major",
            DescriptorError::UnknownKind { .. } => "kind",
        }
    }
}

/// The required hooks of a validated plugin, none null.
#[derive(Debug, Clone, Copy)]
pub struct PluginHooks {
    /// `vtable.create`.
    pub create: SigilCreateHook,
    /// `vtable.call`.
    pub call: SigilCallHook,
    /// `vtable.health`.
    pub health: SigilHealthHook,
    /// `vtable.destroy`.
    pub destroy: SigilDestroyHook,
    /// `vtable.free_buffer`.
    pub free_buffer: SigilBufferFreeFn,
}

/// A descriptor that passed [`validate_descriptor`], copied into host memory. Create instances with
/// [`ValidatedDescriptor::create_instance`].
#[derive(Debug, Clone)]
pub struct ValidatedDescriptor {
    pub(crate) kind: PluginKind,
    pub(crate) name: String,
    pub(crate) version: String,
    pub(crate) abi_minor: u32,
    pub(crate) struct_size: u32,
    pub(crate) vtable_size: u32,
    pub(crate) flags: u64,
    pub(crate) max_concurrency: u32,
    pub(crate) hooks: PluginHooks,
}

impl ValidatedDescriptor {
    /// What the plugin does.
    pub fn kind(&self) -> PluginKind {
        self.kind
    }

    /// The plugin's name (`[a-z0-9_-]`, 1 to 64 bytes).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The plugin's version string.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The ABI minor the plugin was built against (it may be newer or older than the host's).
    pub fn abi_minor(&self) -> u32 {
        self.abi_minor
    }

    /// The plugin's `struct_size`.
    pub fn struct_size(&self) -> u32 {
        self.struct_size
    }

    /// The plugin's `vtable.struct_size`.
    pub fn vtable_size(&self) -> u32 {
        self.vtable_size
    }

    /// The plugin's flags (none are defined in v1.0).
    pub fn flags(&self) -> u64 {
        self.flags
    }

    /// The most concurrent `call`/`health` per instance the plugin allows; 0 means no bound.
    pub fn max_concurrency(&self) -> u32 {
        self.max_concurrency
    }

    /// The plugin's hooks, for hosts that drive the ABI themselves.
    pub fn hooks(&self) -> &PluginHooks {
        &self.hooks
    }
}

/// Copies `min(declared, size_of::<T>())` bytes from `source` over `zeroed` and returns it.
///
/// # Safety
/// `source` must point to at least `min(declared, size_of::<T>())` readable bytes, and `T` must be valid for
/// any mix of the copied bytes and zero bytes (true of the ABI structs: integers, raw pointers, nullable
/// function pointers, which the copied plugin data initialised).
unsafe fn read_prefix<T>(source: *const T, declared: u32, mut zeroed: T) -> T {
    let count = (declared as usize).min(size_of::<T>());
    // SAFETY: `source` has `count` readable bytes (caller), `zeroed` is a distinct local of size_of::<T>() >=
    // count bytes, so the ranges are valid and do not overlap.
    unsafe {
        core::ptr::copy_nonoverlapping(source.cast::<u8>(), (&raw mut zeroed).cast::<u8>(), count);
    }
    zeroed
}

/// Reads a NUL-terminated string of at most [`SIGIL_PLUGIN_MAX_STRING_LEN`] bytes, scanning no further than
/// one byte past that limit.
///
/// # Safety
/// `text` is null or points to readable bytes up to its NUL or to `SIGIL_PLUGIN_MAX_STRING_LEN + 1` bytes,
/// whichever comes first.
unsafe fn read_c_string(
    text: *const c_char,
    field: &'static str,
) -> Result<String, DescriptorError> {
    if text.is_null() {
        return Err(DescriptorError::NullPointer { field });
    }
    let invalid = |reason: String| DescriptorError::InvalidString { field, reason };
    let mut bytes = Vec::new();
    loop {
        // SAFETY: we read byte by byte and stop at the NUL or just past the length limit, within what the
        // caller promises is readable.
        let byte = unsafe { text.add(bytes.len()).cast::<u8>().read() };
        if byte == 0 {
            break;
        }
        if bytes.len() == SIGIL_PLUGIN_MAX_STRING_LEN {
            return Err(invalid(format!(
                "longer than {SIGIL_PLUGIN_MAX_STRING_LEN} bytes or not NUL-terminated"
            )));
        }
        bytes.push(byte);
    }
    if bytes.is_empty() {
        return Err(invalid("empty".to_owned()));
    }
    String::from_utf8(bytes).map_err(|_| invalid("not UTF-8".to_owned()))
}

const fn zeroed_descriptor() -> SigilPluginDescriptor {
    SigilPluginDescriptor {
        magic: 0,
        struct_size: 0,
        abi_major: 0,
        abi_minor: 0,
        kind: 0,
        name: core::ptr::null(),
        version: core::ptr::null(),
        flags: 0,
        max_concurrency: 0,
        reserved: 0,
        vtable: core::ptr::null(),
    }
}

const fn zeroed_vtable() -> SigilPluginVtable {
    SigilPluginVtable {
        struct_size: 0,
        reserved: 0,
        create: None,
        call: None,
        health: None,
        destroy: None,
        free_buffer: None,
    }
}

/// Checks a descriptor returned by a plugin's entry symbol, field by field, and copies what it needs.
///
/// Order of checks: pointer, `magic`, `abi_major`, `struct_size`, `kind`, `name`, `version`, `vtable`,
/// `vtable.struct_size`, then each required hook. An older minor is accepted (down to the v1.0 size), a
/// newer minor too (its unknown tail is not read).
///
/// # Safety
/// `descriptor` must be null or the pointer the entry symbol returned: its first 20 bytes (magic, struct_size,
/// abi_major, abi_minor) readable, and for a matching major, `struct_size` bytes readable, `name`/`version`
/// null or NUL-terminated, `vtable` null or pointing to `vtable.struct_size` readable bytes, and the hooks
/// honouring the ABI. The plugin library must stay loaded for as long as the result, its clones or any
/// instance made from it live (Sigil never unloads plugins); the safe methods of the result rely on all this.
pub unsafe fn validate_descriptor(
    descriptor: *const SigilPluginDescriptor,
) -> Result<ValidatedDescriptor, DescriptorError> {
    if descriptor.is_null() {
        return Err(DescriptorError::NullPointer {
            field: "descriptor",
        });
    }
    if !descriptor.is_aligned() {
        return Err(DescriptorError::Misaligned {
            field: "descriptor",
        });
    }
    // SAFETY: the first 20 bytes are readable in every major (caller); these place expressions only compute
    // addresses of fields inside them, and each read is aligned because the struct pointer is.
    let (magic, struct_size, abi_major) = unsafe {
        (
            (&raw const (*descriptor).magic).read(),
            (&raw const (*descriptor).struct_size).read(),
            (&raw const (*descriptor).abi_major).read(),
        )
    };
    if magic != SIGIL_PLUGIN_MAGIC {
        return Err(DescriptorError::BadMagic {
            found: magic,
            expected: SIGIL_PLUGIN_MAGIC,
        });
    }
    if abi_major != SIGIL_PLUGIN_ABI_MAJOR {
        return Err(DescriptorError::AbiMajorMismatch {
            found: abi_major,
            expected: SIGIL_PLUGIN_ABI_MAJOR,
        });
    }
    if (struct_size as usize) < SIGIL_PLUGIN_DESCRIPTOR_V1_0_SIZE {
        return Err(DescriptorError::StructSizeTooSmall {
            field: "struct_size",
            found: struct_size,
            minimum: SIGIL_PLUGIN_DESCRIPTOR_V1_0_SIZE as u32,
        });
    }
    // SAFETY: `struct_size` bytes are readable (caller) and we copy at most that many; every field of the
    // descriptor is an integer or a raw pointer, valid for any bytes.
    let copy = unsafe { read_prefix(descriptor, struct_size, zeroed_descriptor()) };

    let kind =
        PluginKind::from_raw(copy.kind).ok_or(DescriptorError::UnknownKind { found: copy.kind })?;
    // SAFETY: the caller promises `name` and `version` are null or NUL-terminated static strings.
    let name = unsafe { read_c_string(copy.name, "name") }?;
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    {
        return Err(DescriptorError::InvalidString {
            field: "name",
            reason: format!("{name:?} is not [a-z0-9_-]"),
        });
    }
    // SAFETY: as above.
    let version = unsafe { read_c_string(copy.version, "version") }?;

    if copy.vtable.is_null() {
        return Err(DescriptorError::NullPointer { field: "vtable" });
    }
    if !copy.vtable.is_aligned() {
        return Err(DescriptorError::Misaligned { field: "vtable" });
    }
    // SAFETY: a non-null, aligned vtable pointer whose first field is readable (caller).
    let vtable_size = unsafe { (&raw const (*copy.vtable).struct_size).read() };
    if (vtable_size as usize) < SIGIL_PLUGIN_VTABLE_V1_0_SIZE {
        return Err(DescriptorError::StructSizeTooSmall {
            field: "vtable.struct_size",
            found: vtable_size,
            minimum: SIGIL_PLUGIN_VTABLE_V1_0_SIZE as u32,
        });
    }
    // SAFETY: `vtable_size` bytes are readable (caller); the vtable holds an integer and nullable function
    // pointers, valid for the plugin's bytes and for zeros.
    let vtable = unsafe { read_prefix(copy.vtable, vtable_size, zeroed_vtable()) };
    let hooks = PluginHooks {
        create: vtable.create.ok_or(DescriptorError::NullPointer {
            field: "vtable.create",
        })?,
        call: vtable.call.ok_or(DescriptorError::NullPointer {
            field: "vtable.call",
        })?,
        health: vtable.health.ok_or(DescriptorError::NullPointer {
            field: "vtable.health",
        })?,
        destroy: vtable.destroy.ok_or(DescriptorError::NullPointer {
            field: "vtable.destroy",
        })?,
        free_buffer: vtable.free_buffer.ok_or(DescriptorError::NullPointer {
            field: "vtable.free_buffer",
        })?,
    };

    Ok(ValidatedDescriptor {
        kind,
        name,
        version,
        abi_minor: copy.abi_minor,
        struct_size,
        vtable_size,
        flags: copy.flags,
        max_concurrency: copy.max_concurrency,
        hooks,
    })
}
