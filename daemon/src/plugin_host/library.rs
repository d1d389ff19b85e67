//! Loading one plugin library: confinement to the plugin directory, the optional SHA-256 pin, a check that the
//! bytes are a complete ELF shared object for this host (a truncated file would otherwise fault with SIGBUS
//! when the loader touches a page past its end), a private copy per load (so a file replaced on disk never
//! changes code already mapped), `dlopen`, the entry symbol and the descriptor check. Libraries are never
//! unloaded; a private copy is removed from disk as soon as no generation uses it (its mapping stays valid).

#![allow(unsafe_code)] // reason: dlopen and the plugin entry point are FFI; each block carries a SAFETY note.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};
use sigil_plugin_api::{
    SIGIL_PLUGIN_ENTRY_SYMBOL, SigilPluginEntryFn, ValidatedDescriptor, validate_descriptor,
};

/// Why a plugin could not be loaded. Each message says which check failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LoadError {
    /// The file is missing, unreadable, or outside the plugin directory.
    #[error("plugin file {path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The file's hash is not the pinned one.
    #[error("plugin file {path} has SHA-256 {found}, but the config pins {pinned}")]
    PinMismatch {
        /// The file.
        path: PathBuf,
        /// Its hash.
        found: String,
        /// The configured pin.
        pinned: String,
    },
    /// The file is not a complete ELF shared object for this host (truncated, garbage, another architecture).
    #[error("plugin file {path} is not a loadable shared object: {reason}")]
    NotElf {
        /// The file.
        path: PathBuf,
        /// The first check that failed.
        reason: String,
    },
    /// `dlopen` failed or the entry symbol is missing.
    #[error("cannot load {path}: {reason}")]
    Library {
        /// The file.
        path: PathBuf,
        /// The loader's message.
        reason: String,
    },
    /// The descriptor failed validation.
    #[error("plugin {path} refused: {reason}")]
    Descriptor {
        /// The file.
        path: PathBuf,
        /// The validator's message, naming the field.
        reason: String,
    },
}

/// A loaded, validated plugin library.
#[derive(Debug, Clone)]
pub struct Library {
    /// The configured file (inside the plugin directory).
    pub source: PathBuf,
    /// The private copy that was actually loaded; the file is removed when the last clone of this library
    /// (every generation created from it) is gone.
    pub loaded_from: Arc<PrivateCopy>,
    /// SHA-256 of the file, hex.
    pub sha256: String,
    /// The checked descriptor; `None` when the library is not mapped in this process (`isolation = "process"`:
    /// a child maps the private copy instead).
    pub descriptor: Option<ValidatedDescriptor>,
}

/// SHA-256 of a file, hex.
pub fn file_sha256(path: &Path) -> std::io::Result<String> {
    let bytes = std::fs::read(path)?;
    Ok(hex::encode(Sha256::digest(&bytes)))
}

/// Loads `file` from `plugin_dir`, checking `pin`, via a unique copy in `copies_dir`. With `map` false, every
/// check runs and the private copy is made, but nothing is mapped here: a `sigild plugin-host` child maps it.
pub fn load(
    plugin_dir: &Path,
    file: &str,
    pin: Option<&str>,
    copies_dir: &Path,
    map: bool,
) -> Result<Library, LoadError> {
    let file_error = |path: &Path, reason: String| LoadError::File {
        path: path.to_path_buf(),
        reason,
    };
    let requested = plugin_dir.join(file);
    let dir = plugin_dir
        .canonicalize()
        .map_err(|e| file_error(plugin_dir, format!("plugin directory: {e}")))?;
    let source = requested
        .canonicalize()
        .map_err(|e| file_error(&requested, e.to_string()))?;
    // A symlink may not lead out of the plugin directory.
    if source.parent() != Some(dir.as_path()) {
        return Err(file_error(
            &requested,
            format!("resolves outside the plugin directory {}", dir.display()),
        ));
    }
    // Hash and copy the same bytes, so what was checked is what gets loaded.
    let bytes = std::fs::read(&source).map_err(|e| file_error(&source, e.to_string()))?;
    let sha256 = hex::encode(Sha256::digest(&bytes));
    if let Some(pinned) = pin
        && !pinned.eq_ignore_ascii_case(&sha256)
    {
        return Err(LoadError::PinMismatch {
            path: source,
            found: sha256,
            pinned: pinned.to_lowercase(),
        });
    }
    check_elf(&bytes).map_err(|reason| LoadError::NotElf {
        path: source.clone(),
        reason,
    })?;
    // A failed dlopen or descriptor check drops the copy here, which removes the file.
    let loaded_from = Arc::new(private_copy(&bytes, &source, &sha256, copies_dir)?);
    let descriptor = if map {
        Some(open(loaded_from.path(), &source)?)
    } else {
        None
    };
    Ok(Library {
        source,
        loaded_from,
        sha256,
        descriptor,
    })
}

/// Removes the private copies earlier processes left behind (their names carry another pid); this process maps
/// only its own. Called once at start-up, before anything is loaded.
pub fn remove_stale_copies(copies_dir: &Path) {
    let own = format!("-{}-", std::process::id());
    let Ok(entries) = std::fs::read_dir(copies_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".so")
            && !name.contains(&own)
            && let Err(error) = std::fs::remove_file(entry.path())
        {
            tracing::warn!(file = %entry.path().display(), %error, "cannot remove a stale plugin copy");
        }
    }
}

/// A private copy of a plugin file in the copies directory. Dropping it removes the file: a library mapped from
/// it stays mapped (the kernel keeps the inode while a mapping uses it), and names are never reused, so the
/// loader's by-path cache cannot confuse two copies.
#[derive(Debug)]
pub struct PrivateCopy(PathBuf);

impl PrivateCopy {
    /// Where the copy is.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for PrivateCopy {
    fn drop(&mut self) {
        if let Err(error) = std::fs::remove_file(&self.0)
            && error.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(file = %self.0.display(), %error, "cannot remove a plugin copy");
        }
    }
}

/// Writes the bytes to a fresh, unpredictable file name (the loader caches by path, and the copy must not change
/// under us): created exclusively, never through a symlink, readable by this user only.
fn private_copy(
    bytes: &[u8],
    source: &Path,
    sha256: &str,
    copies_dir: &Path,
) -> Result<PrivateCopy, LoadError> {
    use std::io::Write as _;
    use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
    let copy_error = |reason: String| LoadError::File {
        path: copies_dir.to_path_buf(),
        reason,
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(copies_dir)
        .map_err(|e| copy_error(e.to_string()))?;
    let stem = source
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("plugin");
    let name = format!(
        "{stem}-{}-{}-{}.so",
        &sha256[..12],
        std::process::id(),
        hex::encode(rand::random::<[u8; 12]>())
    );
    let path = copies_dir.join(name);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&path)
        .map_err(|e| copy_error(format!("creating {}: {e}", path.display())))?;
    // From here on the file is ours: dropping the guard on any error removes it.
    let copy = PrivateCopy(path);
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| copy_error(format!("writing {}: {e}", copy.0.display())))?;
    Ok(copy)
}

/// Checks that `bytes` are a complete ELF shared object the host's loader can map without reading past the end
/// of the file: the identification (magic, class, byte order, version) matches this host, it is `ET_DYN` for
/// this machine, the program and section header tables lie within the file, and so does the file range of
/// every `PT_LOAD` segment and of every section that has file contents. Answers the first failed check.
pub fn check_elf(bytes: &[u8]) -> Result<(), String> {
    const EHDR64: usize = 64;
    const PHDR64: usize = 56;
    const SHDR64: usize = 64;
    const PT_LOAD: u32 = 1;
    const SHT_NOBITS: u32 = 8;
    const ET_DYN: u16 = 3;
    if bytes.len() < 16 || &bytes[..4] != b"\x7fELF" {
        return Err("no ELF magic".into());
    }
    if bytes[4] != 2 || !cfg!(target_pointer_width = "64") {
        return Err(format!(
            "ELF class {} is not this host's (64-bit)",
            bytes[4]
        ));
    }
    let little = cfg!(target_endian = "little");
    if bytes[5] != if little { 1 } else { 2 } {
        return Err(format!("ELF byte order {} is not this host's", bytes[5]));
    }
    if bytes[6] != 1 {
        return Err(format!("ELF version {} is not 1", bytes[6]));
    }
    if bytes.len() < EHDR64 {
        return Err(format!(
            "truncated: {} bytes, shorter than the ELF header",
            bytes.len()
        ));
    }
    let u16_at = |at: usize| -> Option<u16> {
        let raw: [u8; 2] = bytes.get(at..at.checked_add(2)?)?.try_into().ok()?;
        Some(if little {
            u16::from_le_bytes(raw)
        } else {
            u16::from_be_bytes(raw)
        })
    };
    let u32_at = |at: usize| -> Option<u32> {
        let raw: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(if little {
            u32::from_le_bytes(raw)
        } else {
            u32::from_be_bytes(raw)
        })
    };
    let u64_at = |at: usize| -> Option<u64> {
        let raw: [u8; 8] = bytes.get(at..at.checked_add(8)?)?.try_into().ok()?;
        Some(if little {
            u64::from_le_bytes(raw)
        } else {
            u64::from_be_bytes(raw)
        })
    };
    let len = bytes.len() as u64;
    // Whether [offset, offset + size) lies within the file.
    let within = |offset: u64, size: u64| offset.checked_add(size).is_some_and(|end| end <= len);
    let header = |at: usize| u16_at(at).ok_or_else(|| "truncated ELF header".to_string());
    let e_type = header(16)?;
    if e_type != ET_DYN {
        return Err(format!("ELF type {e_type} is not a shared object (ET_DYN)"));
    }
    let machine = header(18)?;
    let expected_machine: Option<u16> = if cfg!(target_arch = "x86_64") {
        Some(62)
    } else if cfg!(target_arch = "aarch64") {
        Some(183)
    } else if cfg!(target_arch = "riscv64") {
        Some(243)
    } else {
        None
    };
    if let Some(expected) = expected_machine
        && machine != expected
    {
        return Err(format!(
            "ELF machine {machine} is not this host's ({expected})"
        ));
    }
    let truncated = || "truncated ELF header".to_string();
    let phoff = u64_at(32).ok_or_else(truncated)?;
    let shoff = u64_at(40).ok_or_else(truncated)?;
    let phentsize = usize::from(header(54)?);
    let phnum = u64::from(header(56)?);
    let shentsize = usize::from(header(58)?);
    let mut shnum = u64::from(header(60)?);
    if phnum == 0 {
        return Err("no program headers".into());
    }
    if phentsize != PHDR64 {
        return Err(format!("program header size {phentsize} is not {PHDR64}"));
    }
    if !within(phoff, phnum * PHDR64 as u64) {
        return Err(format!(
            "truncated: the program header table ends past the file's {len} bytes"
        ));
    }
    for index in 0..phnum {
        let at = (phoff + index * PHDR64 as u64) as usize;
        let field = |offset: usize| u64_at(at + offset).ok_or_else(truncated);
        let p_type = u32_at(at).ok_or_else(truncated)?;
        let (p_offset, p_filesz) = (field(8)?, field(32)?);
        if p_type == PT_LOAD && !within(p_offset, p_filesz) {
            return Err(format!(
                "truncated: loadable segment {index} needs bytes up to {}, the file has {len}",
                p_offset.saturating_add(p_filesz)
            ));
        }
    }
    if shoff != 0 {
        if shentsize != SHDR64 {
            return Err(format!("section header size {shentsize} is not {SHDR64}"));
        }
        if !within(shoff, SHDR64 as u64) {
            return Err(format!(
                "truncated: the section header table starts past the file's {len} bytes"
            ));
        }
        if shnum == 0 {
            // Extended numbering: the count is in the first section header's size field.
            shnum = u64_at(shoff as usize + 32).ok_or_else(truncated)?;
        }
        if !shnum
            .checked_mul(SHDR64 as u64)
            .is_some_and(|size| within(shoff, size))
        {
            return Err(format!(
                "truncated: the section header table ends past the file's {len} bytes"
            ));
        }
        for index in 0..shnum {
            let at = (shoff + index * SHDR64 as u64) as usize;
            let sh_type = u32_at(at + 4).ok_or_else(truncated)?;
            let sh_offset = u64_at(at + 24).ok_or_else(truncated)?;
            let sh_size = u64_at(at + 32).ok_or_else(truncated)?;
            if sh_type != SHT_NOBITS && sh_type != 0 && !within(sh_offset, sh_size) {
                return Err(format!(
                    "truncated: section {index} needs bytes up to {}, the file has {len}",
                    sh_offset.saturating_add(sh_size)
                ));
            }
        }
    }
    Ok(())
}

/// Maps a private copy the parent already checked (in a `sigild plugin-host` child).
pub fn open_private_copy(path: &Path) -> Result<ValidatedDescriptor, LoadError> {
    open(path, path)
}

fn open(path: &Path, source: &Path) -> Result<ValidatedDescriptor, LoadError> {
    let library_error = |reason: String| LoadError::Library {
        path: source.to_path_buf(),
        reason,
    };
    // SAFETY: loading runs the library's initialisers. Only files from the operator's plugin directory (and
    // optionally pinned) get here; that trust decision is the point of the directory and the pin.
    let library =
        unsafe { libloading::Library::new(path) }.map_err(|e| library_error(e.to_string()))?;
    // Never dlclose, even after a refusal: descriptors, vtables and any threads the plugin started must stay
    // valid for the life of the process, including while an old generation drains after a reload.
    let library: &'static libloading::Library = Box::leak(Box::new(library));
    // SAFETY: the symbol's type is fixed by the ABI: `extern "C" fn() -> *const SigilPluginDescriptor`.
    let entry: libloading::Symbol<'static, SigilPluginEntryFn> =
        unsafe { library.get(SIGIL_PLUGIN_ENTRY_SYMBOL.as_bytes()) }.map_err(|_| {
            library_error(format!(
                "no entry symbol `{SIGIL_PLUGIN_ENTRY_SYMBOL}` (not a Sigil v1 plugin)"
            ))
        })?;
    // SAFETY: calling the entry point is the ABI's first step; it returns a pointer to a static descriptor.
    let descriptor = unsafe { entry() };
    // SAFETY: the pointer came from the entry symbol, and the library is never unloaded (leaked above).
    unsafe { validate_descriptor(descriptor) }.map_err(|e| LoadError::Descriptor {
        path: source.to_path_buf(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A first-party plugin from this build, next to the test binary's `deps` directory.
    fn built_plugin() -> Option<Vec<u8>> {
        let exe = std::env::current_exe().ok()?;
        let dir = exe.parent()?.parent()?;
        std::fs::read(dir.join("libsigil_fixture_faulty.so")).ok()
    }

    /// A real shared object: the built plugin, or this test binary (a position-independent executable is
    /// `ET_DYN` too) when the plugins are not built.
    fn real_elf() -> Vec<u8> {
        built_plugin().unwrap_or_else(|| std::fs::read(std::env::current_exe().unwrap()).unwrap())
    }

    #[test]
    fn a_complete_library_passes() {
        check_elf(&real_elf()).unwrap();
    }

    #[test]
    fn every_truncation_is_refused() {
        let bytes = real_elf();
        for cut in [
            0,
            3,
            15,
            40,
            63,
            64,
            200,
            bytes.len() / 4,
            bytes.len() / 2,
            bytes.len() - 1,
        ] {
            assert!(
                check_elf(&bytes[..cut]).is_err(),
                "{cut} of {} bytes passed",
                bytes.len()
            );
        }
    }

    #[test]
    fn garbage_and_foreign_files_are_refused() {
        assert_eq!(
            check_elf(b"not an ELF file at all").unwrap_err(),
            "no ELF magic"
        );
        let mut other_class = real_elf();
        other_class[4] = 1;
        assert!(check_elf(&other_class).unwrap_err().contains("class"));
        let mut other_order = real_elf();
        other_order[5] = if cfg!(target_endian = "little") { 2 } else { 1 };
        assert!(check_elf(&other_order).unwrap_err().contains("byte order"));
        let mut executable = real_elf();
        executable[16] = 2;
        executable[17] = 0;
        assert!(check_elf(&executable).unwrap_err().contains("ET_DYN"));
        // A program header table pointing past the end.
        let mut far = real_elf();
        far[32..40].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(
            check_elf(&far)
                .unwrap_err()
                .contains("program header table")
        );
    }

    #[test]
    fn private_copies_are_exclusive_private_unpredictable_and_removed_on_drop() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let source = Path::new("/plugins/libthing.so");
        let first = private_copy(b"one", source, &"ab".repeat(32), dir.path()).unwrap();
        let second = private_copy(b"two", source, &"ab".repeat(32), dir.path()).unwrap();
        assert_ne!(first.path(), second.path());
        let name = first
            .path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert!(name.starts_with(&format!("libthing-abababababab-{}-", std::process::id())));
        let suffix = name.rsplit('-').next().unwrap().trim_end_matches(".so");
        assert_eq!(suffix.len(), 24, "{name}");
        let mode = std::fs::metadata(first.path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(std::fs::read(second.path()).unwrap(), b"two");
        let path = first.path().to_path_buf();
        drop(first);
        assert!(!path.exists());
        drop(second);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_failed_load_leaves_no_copy() {
        let plugins = tempfile::tempdir().unwrap();
        let copies = plugins.path().join("copies");
        // Passes the ELF check but is no Sigil plugin: dlopen or the entry symbol fails after the copy.
        let Some(mut bytes) = built_plugin() else {
            return;
        };
        bytes.truncate(bytes.len() / 2);
        std::fs::write(plugins.path().join("libtruncated.so"), &bytes).unwrap();
        std::fs::write(plugins.path().join("libgarbage.so"), b"garbage").unwrap();
        for file in ["libtruncated.so", "libgarbage.so"] {
            let error = load(plugins.path(), file, None, &copies, true).unwrap_err();
            assert!(matches!(error, LoadError::NotElf { .. }), "{error}");
        }
        let left = std::fs::read_dir(&copies).map_or(0, |entries| entries.count());
        assert_eq!(left, 0);
    }
}
