//! Loading and initialising PKCS#11 modules once per process (per copy of this plugin), and never finalising
//! them.
//!
//! Why never `C_Finalize`: a module's state is process-wide. sigild loads a second copy of this plugin during
//! a hot reload and never unloads the first, and two `[[plugins]]` entries may share one module; a finalize
//! by any of them would invalidate every other's sessions. So each context is initialised with
//! `CKF_OS_LOCKING_OK` (the module may be called from any thread), `CKR_CRYPTOKI_ALREADY_INITIALIZED` from
//! the other copy is success, and the context is kept in a static for the life of the process, which also
//! keeps `cryptoki` from `dlclose`-ing the module under the other copy.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error, RvError};
use sigil_plugin_api::PluginError;

/// The initialised modules of this copy of the plugin, by canonical path. Never emptied (see the module doc).
static MODULES: Mutex<Vec<(PathBuf, Pkcs11)>> = Mutex::new(Vec::new());

/// The initialised context of the module at `path`, loading and initialising it on first use.
pub fn initialised_module(path: &Path) -> Result<Pkcs11, PluginError> {
    let canonical = path.canonicalize().map_err(|error| {
        PluginError::invalid_input(format!("PKCS#11 module {}: {error}", path.display()))
    })?;
    // Holding the lock across loading serialises first initialisations, which is what the spec asks of
    // C_Initialize; the list itself cannot be left inconsistent by a panic, so poisoning is ignored.
    let mut modules = MODULES.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((_, context)) = modules.iter().find(|(loaded, _)| *loaded == canonical) {
        return Ok(context.clone());
    }
    let context = Pkcs11::new(&canonical).map_err(|error| {
        PluginError::invalid_input(format!(
            "cannot load PKCS#11 module {}: {error}",
            canonical.display()
        ))
    })?;
    match context.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(Error::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(error) => {
            return Err(PluginError::backend(format!(
                "C_Initialize of {} failed: {error}",
                canonical.display()
            )));
        }
    }
    modules.push((canonical, context.clone()));
    Ok(context)
}
