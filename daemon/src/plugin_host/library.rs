//! Loading one plugin library: confinement to the plugin directory, the optional SHA-256 pin, a private copy per
//! load (so a file replaced on disk never changes code already mapped), `dlopen`, the entry symbol and the
//! descriptor check. Libraries are never unloaded.

#![allow(unsafe_code)] // reason: dlopen and the plugin entry point are FFI; each block carries a SAFETY note.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

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
    /// The private copy that was actually loaded.
    pub loaded_from: PathBuf,
    /// SHA-256 of the file, hex.
    pub sha256: String,
    /// The checked descriptor.
    pub descriptor: ValidatedDescriptor,
}

/// SHA-256 of a file, hex.
pub fn file_sha256(path: &Path) -> std::io::Result<String> {
    let bytes = std::fs::read(path)?;
    Ok(hex::encode(Sha256::digest(&bytes)))
}

/// Loads `file` from `plugin_dir`, checking `pin`, via a unique copy in `copies_dir`.
pub fn load(
    plugin_dir: &Path,
    file: &str,
    pin: Option<&str>,
    copies_dir: &Path,
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
    let loaded_from = private_copy(&bytes, &source, &sha256, copies_dir)?;
    let descriptor = open(&loaded_from, &source)?;
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

/// Writes the bytes to a fresh file name: the loader caches by path, and the copy must not change under us.
fn private_copy(
    bytes: &[u8],
    source: &Path,
    sha256: &str,
    copies_dir: &Path,
) -> Result<PathBuf, LoadError> {
    static SEQUENCE: AtomicU64 = AtomicU64::new(0);
    let copy_error = |reason: String| LoadError::File {
        path: copies_dir.to_path_buf(),
        reason,
    };
    std::fs::create_dir_all(copies_dir).map_err(|e| copy_error(e.to_string()))?;
    let stem = source
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("plugin");
    let name = format!(
        "{stem}-{}-{}-{}.so",
        &sha256[..12],
        std::process::id(),
        SEQUENCE.fetch_add(1, Ordering::Relaxed)
    );
    let path = copies_dir.join(name);
    std::fs::write(&path, bytes)
        .map_err(|e| copy_error(format!("writing {}: {e}", path.display())))?;
    Ok(path)
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
