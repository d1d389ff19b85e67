//! Loading and initialising PKCS#11 modules once per process (per copy of this plugin), and never finalising
//! them.
//!
//! Why never `C_Finalize`: a module's state is process-wide. sigild loads a second copy of this plugin during
//! a hot reload and never unloads the first, and two `[[plugins]]` entries may share one module; a finalize
//! by any of them would invalidate every other's sessions. So each context is initialised with
//! `CKF_OS_LOCKING_OK` (the module may be called from any thread), `CKR_CRYPTOKI_ALREADY_INITIALIZED` from
//! the other copy is success, and the context is kept in a static for the life of the process, which also
//! keeps `cryptoki` from `dlclose`-ing the module under the other copy.
//!
//! Loading a module runs its code in sigild, so a module is loaded only when the `allowed_modules` list of the
//! config admits it ([`admit`]): both paths are resolved to their real paths (every symlink followed) and
//! compared, and the real path is what gets loaded. A symlink, a `..` or a bind of the module path to a file
//! outside the list is therefore refused, and the file checked is the file loaded.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error, RvError};
use sigil_plugin_api::PluginError;

/// The initialised modules of this copy of the plugin, by canonical path. Never emptied (see the module doc).
static MODULES: Mutex<Vec<(PathBuf, Pkcs11)>> = Mutex::new(Vec::new());

/// Where the common PKCS#11 modules are installed by their distribution packages or vendor installers: the
/// default of `allowed_modules`. Files only, never directories: the module directories also hold modules such
/// as OpenSC's `pkcs11-spy.so`, which loads whatever module an environment variable names. Paths that do not
/// exist on a host are skipped. The README lists and explains them.
pub const DEFAULT_ALLOWED_MODULES: &[&str] = &[
    // SoftHSM2: Debian/Ubuntu (the link and its multiarch target), Fedora/RHEL, built from source.
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib64/pkcs11/libsofthsm2.so",
    "/usr/lib64/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
    // OpenSC (smart cards, USB tokens): Debian/Ubuntu, Fedora/RHEL, Arch.
    "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so",
    "/usr/lib/aarch64-linux-gnu/opensc-pkcs11.so",
    "/usr/lib64/opensc-pkcs11.so",
    "/usr/lib/opensc-pkcs11.so",
    // YubiHSM 2 (yubihsm-shell packages).
    "/usr/lib/x86_64-linux-gnu/pkcs11/yubihsm_pkcs11.so",
    "/usr/lib/aarch64-linux-gnu/pkcs11/yubihsm_pkcs11.so",
    "/usr/lib64/pkcs11/yubihsm_pkcs11.so",
    "/usr/lib/pkcs11/yubihsm_pkcs11.so",
    // Thales Luna client.
    "/usr/safenet/lunaclient/lib/libCryptoki2_64.so",
    // Entrust nShield.
    "/opt/nfast/toolkits/pkcs11/libcknfast.so",
    // AWS CloudHSM client SDK 5.
    "/opt/cloudhsm/lib/libcloudhsm_pkcs11.so",
];

/// The real path of `module` if `allowed` admits it: an entry whose real path is the module's real path.
/// Entries that do not exist are skipped. Refusals are INVALID_INPUT naming the setting; a module file that
/// every user may write is PERMISSION_DENIED (whoever can write it can run code in sigild).
pub fn admit(module: &Path, allowed: &[PathBuf]) -> Result<PathBuf, PluginError> {
    if !module.is_absolute() {
        return Err(PluginError::invalid_input(format!(
            "kms-pkcs11 config `module`: {} must be an absolute path",
            module.display()
        )));
    }
    let real = module.canonicalize().map_err(|error| {
        PluginError::invalid_input(format!(
            "kms-pkcs11 config `module`: PKCS#11 module {}: {error}",
            module.display()
        ))
    })?;
    let listed = allowed
        .iter()
        .filter_map(|entry| entry.canonicalize().ok())
        .any(|entry| entry == real);
    if !listed {
        let shown = if real == module {
            module.display().to_string()
        } else {
            format!("{} (real path {})", module.display(), real.display())
        };
        return Err(PluginError::invalid_input(format!(
            "kms-pkcs11 config `module`: {shown} is not in `allowed_modules`; loading a PKCS#11 module runs \
             its code, so only listed modules are loaded (add its path to `allowed_modules` if it is trusted)"
        )));
    }
    let metadata = std::fs::metadata(&real).map_err(|error| {
        PluginError::invalid_input(format!(
            "kms-pkcs11 config `module`: {}: {error}",
            real.display()
        ))
    })?;
    if !metadata.is_file() {
        return Err(PluginError::invalid_input(format!(
            "kms-pkcs11 config `module`: {} is not a file",
            real.display()
        )));
    }
    if metadata.permissions().mode() & 0o002 != 0 {
        return Err(PluginError::permission_denied(format!(
            "PKCS#11 module {} is writable by every user; refusing to load it",
            real.display()
        )));
    }
    Ok(real)
}

/// The initialised context of `module`, loading and initialising it on first use, if `allowed` admits it
/// (see [`admit`]).
pub fn initialised_module(module: &Path, allowed: &[PathBuf]) -> Result<Pkcs11, PluginError> {
    let canonical = admit(module, allowed)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use sigil_plugin_api::Status;
    use std::os::unix::fs::symlink;

    /// A directory with `allowed.so` and `other.so` (not modules: nothing here is ever loaded).
    fn files() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let allowed = dir.path().join("allowed.so");
        let other = dir.path().join("other.so");
        for file in [&allowed, &other] {
            std::fs::write(file, b"not an ELF file").unwrap();
            std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        (dir, allowed, other)
    }

    fn refused(module: &Path, allowed: &[PathBuf]) -> PluginError {
        let error = admit(module, allowed).expect_err("refused");
        assert_eq!(error.status, Status::InvalidInput, "{error}");
        error
    }

    #[test]
    fn a_listed_module_is_admitted_by_its_real_path() {
        let (dir, allowed, _) = files();
        let list = [allowed.clone()];
        let real = allowed.canonicalize().unwrap();
        assert_eq!(admit(&allowed, &list).unwrap(), real);
        // Another name for the same file is the same file.
        let alias = dir.path().join("alias.so");
        symlink(&allowed, &alias).unwrap();
        assert_eq!(admit(&alias, &list).unwrap(), real);
        assert_eq!(
            admit(&dir.path().join("sub/../allowed.so"), &list).unwrap(),
            real
        );
        // A listed symlink admits its target, which is what loading it would load.
        assert_eq!(admit(&allowed, &[alias]).unwrap(), real);
    }

    #[test]
    fn a_module_outside_the_list_is_refused_naming_the_setting() {
        let (dir, allowed, other) = files();
        let list = [allowed.clone()];
        let error = refused(&other, &list);
        assert!(
            error.message.contains("`allowed_modules`")
                && error.message.contains("other.so")
                && !error.message.contains("cannot load"),
            "{error}"
        );
        // A symlink under an innocent name, or a `..`, leading outside the list.
        let link = dir.path().join("link.so");
        symlink(&other, &link).unwrap();
        let error = refused(&link, &list);
        assert!(
            error.message.contains("real path") && error.message.contains("other.so"),
            "{error}"
        );
        refused(&dir.path().join("sub/../other.so"), &list);
        // Nothing listed that exists admits nothing.
        refused(&allowed, &[dir.path().join("missing.so")]);
        // The default list does not admit an arbitrary file.
        let defaults: Vec<PathBuf> = DEFAULT_ALLOWED_MODULES.iter().map(PathBuf::from).collect();
        refused(&other, &defaults);
    }

    #[test]
    fn relative_missing_and_world_writable_modules_are_refused() {
        let (dir, allowed, _) = files();
        let list = [allowed.clone()];
        let error = refused(Path::new("allowed.so"), &list);
        assert!(error.message.contains("absolute"), "{error}");
        refused(&dir.path().join("missing.so"), &list);
        refused(dir.path(), &[dir.path().to_path_buf()]);
        std::fs::set_permissions(&allowed, std::fs::Permissions::from_mode(0o666)).unwrap();
        let error = admit(&allowed, &list).unwrap_err();
        assert_eq!(error.status, Status::PermissionDenied, "{error}");
    }

    /// The loader itself goes through the list: a refused file is never opened as a library.
    #[test]
    fn the_loader_refuses_before_loading() {
        let (_dir, allowed, other) = files();
        let error = match initialised_module(&other, &[allowed]) {
            Ok(_) => panic!("loaded"),
            Err(error) => error,
        };
        assert_eq!(error.status, Status::InvalidInput);
        assert!(error.message.contains("`allowed_modules`"), "{error}");
    }

    #[test]
    fn the_distribution_softhsm_link_is_admitted_by_default() {
        let module = Path::new(crate::config::DEFAULT_MODULE);
        if !module.exists() {
            return; // The token tests fail loudly without SoftHSM2; this one only checks the list.
        }
        let defaults: Vec<PathBuf> = DEFAULT_ALLOWED_MODULES.iter().map(PathBuf::from).collect();
        assert_eq!(
            admit(module, &defaults).unwrap(),
            module.canonicalize().unwrap()
        );
    }
}
