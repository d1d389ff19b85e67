//! The on-disk keystore: `store.json` (format, name, how the key-encryption key is made, a check blob) and one
//! sealed `<label>.key` file per key, each written atomically with mode 0600.
//!
//! Writes go to a temporary file that is fsynced and then renamed (replacing) or hard-linked (creating, which
//! fails if the name exists, so two writers racing for one label cannot both win), and the directory is
//! fsynced after. Readers never lock: a rename or link is atomic, so they see a whole old file or a whole new
//! one. Writers of one instance are serialised by a mutex; the link-based create keeps two instances (the old
//! and the new copy during a hot reload) from clobbering each other.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sigil_plugin_api::serde_json;
use sigil_plugin_api::{Base64Bytes, KeyAlgorithm, PluginError};

use crate::calendar::{SECONDS_PER_DAY, now_unix};
use crate::config::{SoftKmsConfig, StoreSecret};
use crate::keypair::PrivateKey;
use crate::sealing::{AEAD_NAME, Argon2Params, Kek, SALT_LEN, Sealed, random_bytes};
use crate::uri::{KeyUri, validate_name};

/// The metadata file's name.
const METADATA_FILE: &str = "store.json";

/// The suffix of key files.
const KEY_SUFFIX: &str = ".key";

/// The on-disk format this code writes and reads.
const FORMAT: u32 = 1;

/// What the check blob seals. Its content is public; only authenticating it matters.
const CHECK_PLAINTEXT: &[u8] = b"sigil-kms-soft store check v1";

/// Neither file is ever near this; the bound keeps a planted huge file from being read into memory.
const MAX_FILE_LEN: u64 = 256 * 1024;

/// `store.json`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoreMetadata {
    format: u32,
    store: String,
    aead: String,
    kek: KekRecipe,
    /// [`CHECK_PLAINTEXT`] sealed under the KEK with [`check_associated_data`]: opening it proves the
    /// passphrase or key file is the right one before any key is touched.
    check: Sealed,
}

/// How the key-encryption key is made.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum KekRecipe {
    /// argon2id over the passphrase with this store's random salt.
    Argon2id {
        salt: Base64Bytes,
        memory_kib: u32,
        iterations: u32,
        parallelism: u32,
    },
    /// The 32 bytes of `key_file`, as they are.
    RawKey,
}

/// One `<label>.key` file. Everything but `sealed_private_key` is in clear so that listing needs no
/// decryption; `public_key_spki_der` is checked against the decrypted private key before it is served.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyFile {
    format: u32,
    /// The key's URI, also the AEAD associated data: a file copied to another label or store fails to open.
    pub key_uri: String,
    /// The key's label (the file name stem).
    pub label: String,
    /// The key pair type.
    pub algorithm: KeyAlgorithm,
    /// When the key was generated, Unix seconds.
    pub created_unix: u64,
    /// The public key, DER SubjectPublicKeyInfo.
    pub public_key_spki_der: Base64Bytes,
    /// The PKCS#8 private key, sealed.
    sealed_private_key: Sealed,
    /// Set by `schedule_deletion`: from this Unix time on the key file is removed. Not authenticated on
    /// purpose: whoever can write the directory can already delete or restore key files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_after_unix: Option<u64>,
}

/// An open store: the directory, its name and the key-encryption key.
pub struct Store {
    dir: PathBuf,
    name: String,
    kek: Kek,
    /// Serialises this instance's writers (create, schedule, purge).
    write_lock: Mutex<()>,
}

fn io_error(what: impl std::fmt::Display, error: io::Error) -> PluginError {
    PluginError::backend(format!("{what}: {error}"))
}

fn check_associated_data(store: &str) -> Vec<u8> {
    format!("sigil-kms-soft check:{store}").into_bytes()
}

impl Store {
    /// Opens the store the config points at, initialising it first if it is absent and the config allows.
    /// A wrong passphrase or key file fails here, with PERMISSION_DENIED.
    pub fn open(config: &SoftKmsConfig, secret: StoreSecret) -> Result<Store, PluginError> {
        let dir = config.dir.clone();
        match fs::metadata(&dir) {
            Ok(_) => {}
            Err(error) if error.kind() == io::ErrorKind::NotFound && config.create_if_missing => {
                fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(&dir)
                    .map_err(|error| io_error(format!("creating {}", dir.display()), error))?;
            }
            Err(error) => {
                return Err(PluginError::invalid_input(format!(
                    "store directory {}: {error}",
                    dir.display()
                )));
            }
        }
        check_directory(&dir)?;

        let metadata_path = dir.join(METADATA_FILE);
        let store = match read_json::<StoreMetadata>(&metadata_path)? {
            Some(metadata) => Store::unlock(dir, metadata, &secret, &config.store_name)?,
            None if !config.create_if_missing => {
                return Err(PluginError::invalid_input(format!(
                    "{} has no {METADATA_FILE} and create_if_missing is false",
                    dir.display()
                )));
            }
            None => Store::initialise(dir, config, &secret)?,
        };
        store.purge_expired()?;
        Ok(store)
    }

    /// Checks `store.json` against the config and derives and verifies the key-encryption key.
    fn unlock(
        dir: PathBuf,
        metadata: StoreMetadata,
        secret: &StoreSecret,
        expected_name: &str,
    ) -> Result<Store, PluginError> {
        let bad = |why: String| {
            PluginError::invalid_input(format!("{}: {why}", dir.join(METADATA_FILE).display()))
        };
        if metadata.format != FORMAT {
            return Err(bad(format!(
                "format {} is not supported (expected {FORMAT})",
                metadata.format
            )));
        }
        if metadata.aead != AEAD_NAME {
            return Err(bad(format!("AEAD {:?} is not supported", metadata.aead)));
        }
        validate_name("store name", &metadata.store)?;
        if metadata.store != expected_name {
            return Err(bad(format!(
                "the store is named {:?} but the config says store_name = {expected_name:?}; key URIs carry the \
                 name, so it cannot change",
                metadata.store
            )));
        }
        let kek = match (&metadata.kek, secret) {
            (
                KekRecipe::Argon2id {
                    salt,
                    memory_kib,
                    iterations,
                    parallelism,
                },
                StoreSecret::Passphrase(passphrase),
            ) => {
                let params = Argon2Params {
                    memory_kib: *memory_kib,
                    iterations: *iterations,
                    parallelism: *parallelism,
                };
                Kek::from_passphrase(passphrase, salt, params)?
            }
            (KekRecipe::RawKey, StoreSecret::RawKey(key)) => Kek::from_raw(key.clone()),
            (KekRecipe::Argon2id { .. }, StoreSecret::RawKey(_)) => {
                return Err(bad(
                    "the store is locked with a passphrase, but the config gives key_file".into(),
                ));
            }
            (KekRecipe::RawKey, StoreSecret::Passphrase(_)) => {
                return Err(bad(
                    "the store is locked with a key_file, but the config gives a passphrase".into(),
                ));
            }
        };
        let store = Store {
            dir,
            name: metadata.store,
            kek,
            write_lock: Mutex::new(()),
        };
        store.verify_check_blob(&metadata.check)?;
        Ok(store)
    }

    /// Creates `store.json` for a new store.
    fn initialise(
        dir: PathBuf,
        config: &SoftKmsConfig,
        secret: &StoreSecret,
    ) -> Result<Store, PluginError> {
        // A directory with key files but no metadata lost its store.json (or is not ours): a new salt would
        // make every existing key undecryptable, so refuse instead of guessing.
        if !list_key_file_names(&dir)?.is_empty() {
            return Err(PluginError::invalid_input(format!(
                "{} holds key files but no {METADATA_FILE}; restore it from a backup instead of initialising a new store",
                dir.display()
            )));
        }
        let (recipe, kek) = match secret {
            StoreSecret::Passphrase(passphrase) => {
                let salt = random_bytes::<SALT_LEN>()?;
                let params = config.argon2_params();
                let kek = Kek::from_passphrase(passphrase, &salt, params)?;
                let recipe = KekRecipe::Argon2id {
                    salt: salt.to_vec().into(),
                    memory_kib: params.memory_kib,
                    iterations: params.iterations,
                    parallelism: params.parallelism,
                };
                (recipe, kek)
            }
            StoreSecret::RawKey(key) => (KekRecipe::RawKey, Kek::from_raw(key.clone())),
        };
        let metadata = StoreMetadata {
            format: FORMAT,
            store: config.store_name.clone(),
            aead: AEAD_NAME.to_owned(),
            kek: recipe,
            check: kek.seal(CHECK_PLAINTEXT, &check_associated_data(&config.store_name))?,
        };
        let bytes = to_json(&metadata)?;
        match write_atomically(&dir, METADATA_FILE, &bytes, WriteMode::CreateNew) {
            Ok(()) => Ok(Store {
                dir,
                name: config.store_name.clone(),
                kek,
                write_lock: Mutex::new(()),
            }),
            // Another instance initialised it between our read and our link: use theirs.
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {
                let metadata =
                    read_json::<StoreMetadata>(&dir.join(METADATA_FILE))?.ok_or_else(|| {
                        PluginError::backend(format!(
                            "{METADATA_FILE} vanished during initialisation"
                        ))
                    })?;
                Store::unlock(dir, metadata, secret, &config.store_name)
            }
            Err(error) => Err(io_error(
                format!("writing {}", dir.join(METADATA_FILE).display()),
                error,
            )),
        }
    }

    fn verify_check_blob(&self, check: &Sealed) -> Result<(), PluginError> {
        match self.kek.open(check, &check_associated_data(&self.name)) {
            Some(plaintext) if plaintext.as_slice() == CHECK_PLAINTEXT => Ok(()),
            _ => Err(PluginError::permission_denied(format!(
                "the passphrase or key file does not unlock the store at {} (its check blob failed to authenticate)",
                self.dir.display()
            ))),
        }
    }

    /// The store's name (the `store=` of its URIs).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// For `health`: the directory is readable, `store.json` is intact and still opens with our key. Returns
    /// the number of key files.
    pub fn check(&self) -> Result<usize, PluginError> {
        check_directory(&self.dir)?;
        let metadata =
            read_json::<StoreMetadata>(&self.dir.join(METADATA_FILE))?.ok_or_else(|| {
                PluginError::backend(format!(
                    "{} has lost its {METADATA_FILE}",
                    self.dir.display()
                ))
            })?;
        self.verify_check_blob(&metadata.check)?;
        Ok(list_key_file_names(&self.dir)?.len())
    }

    fn lock_writers(&self) -> MutexGuard<'_, ()> {
        // The guarded data is `()`: a panic while holding it cannot leave anything inconsistent.
        self.write_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn key_file_name(label: &str) -> String {
        format!("{label}{KEY_SUFFIX}")
    }

    /// Generates a key and stores it sealed. A label already in use (even by a key scheduled for deletion)
    /// is refused with INVALID_INPUT.
    pub fn create_key(
        &self,
        label: &str,
        algorithm: KeyAlgorithm,
    ) -> Result<(KeyUri, Vec<u8>), PluginError> {
        let uri = KeyUri::new(&self.name, label)?;
        let file_name = Self::key_file_name(label);
        let conflict = || {
            PluginError::invalid_input(format!(
                "a key labelled {label:?} already exists in store {:?} (conflict)",
                self.name
            ))
        };
        // Checked before the (possibly slow, for RSA) generation; the link below is the authoritative check.
        if self.dir.join(&file_name).exists() {
            return Err(conflict());
        }
        let key = PrivateKey::generate(algorithm)?;
        let spki = key.public_key_spki()?;
        let pkcs8 = key.to_pkcs8()?;
        drop(key);
        let uri_text = uri.to_string();
        let file = KeyFile {
            format: FORMAT,
            key_uri: uri_text.clone(),
            label: label.to_owned(),
            algorithm,
            created_unix: now_unix(),
            public_key_spki_der: spki.clone().into(),
            sealed_private_key: self.kek.seal(&pkcs8, uri_text.as_bytes())?,
            delete_after_unix: None,
        };
        drop(pkcs8);
        let bytes = to_json(&file)?;
        let _writers = self.lock_writers();
        match write_atomically(&self.dir, &file_name, &bytes, WriteMode::CreateNew) {
            Ok(()) => Ok((uri, spki)),
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => Err(conflict()),
            Err(error) => Err(io_error(format!("writing {file_name}"), error)),
        }
    }

    /// The key file's size and modification time: cheap to read, and changed by every rewrite of the file (a
    /// scheduled deletion, a restore), so a cached unsealed key can be checked against it before each use.
    pub fn file_stamp(&self, uri: &KeyUri) -> Result<(u64, std::time::SystemTime), PluginError> {
        let path = self.dir.join(Self::key_file_name(&uri.label));
        match std::fs::metadata(&path) {
            Ok(meta) => Ok((meta.len(), meta.modified().unwrap_or(std::time::UNIX_EPOCH))),
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                Err(PluginError::not_found(format!("no key {uri}")))
            }
            Err(error) => Err(io_error(format!("reading {}", path.display()), error)),
        }
    }

    /// Reads a key's file. A URI of another store, or of a key that does not exist, is NOT_FOUND.
    pub fn load(&self, uri: &KeyUri) -> Result<KeyFile, PluginError> {
        if uri.store != self.name {
            return Err(PluginError::not_found(format!(
                "key {uri} belongs to store {:?}; this instance serves store {:?}",
                uri.store, self.name
            )));
        }
        let path = self.dir.join(Self::key_file_name(&uri.label));
        let file = read_json::<KeyFile>(&path)?
            .ok_or_else(|| PluginError::not_found(format!("no key {uri}")))?;
        let expected = uri.to_string();
        if file.format != FORMAT || file.key_uri != expected || file.label != uri.label {
            return Err(PluginError::internal(format!(
                "{} does not describe key {expected}; it was altered or copied from elsewhere",
                path.display()
            )));
        }
        Ok(file)
    }

    /// Decrypts a key file's private key and checks it against the file's public key and algorithm, so a
    /// tampered clear field can neither redirect a signature nor be served as this key's public key.
    pub fn unseal(&self, file: &KeyFile) -> Result<PrivateKey, PluginError> {
        let pkcs8 = self
            .kek
            .open(&file.sealed_private_key, file.key_uri.as_bytes())
            .ok_or_else(|| {
                PluginError::internal(format!(
                    "the private key of {} failed to authenticate: the file was altered, or sealed under another \
                     store key",
                    file.key_uri
                ))
            })?;
        let key = PrivateKey::from_pkcs8(file.algorithm, &pkcs8)?;
        if key.public_key_spki()? != file.public_key_spki_der.0 {
            return Err(PluginError::internal(format!(
                "the public key recorded for {} does not match its private key; the file was altered",
                file.key_uri
            )));
        }
        Ok(key)
    }

    /// Every readable key file, sorted by label. A `.key` file that does not parse fails the listing with its
    /// name: a silently missing key is worse than a loud error.
    pub fn list(&self) -> Result<Vec<KeyFile>, PluginError> {
        let mut files = Vec::new();
        for label in list_key_file_names(&self.dir)? {
            let uri = KeyUri::new(&self.name, &label)?;
            match self.load(&uri) {
                Ok(file) => files.push(file),
                // Deleted between the directory read and the file read.
                Err(error) if error.status == sigil_plugin_api::Status::NotFound => {}
                Err(error) => return Err(error),
            }
        }
        Ok(files)
    }

    /// Marks a key for deletion `grace_days` from now (keeping an earlier date if one is already set, so a
    /// retried request changes nothing) and returns the deletion time. A time already reached deletes the key
    /// file at once.
    pub fn schedule_deletion(&self, uri: &KeyUri, grace_days: u32) -> Result<u64, PluginError> {
        let _writers = self.lock_writers();
        let mut file = self.load(uri)?;
        let now = now_unix();
        let requested = now.saturating_add(u64::from(grace_days) * SECONDS_PER_DAY);
        let delete_after = file
            .delete_after_unix
            .map_or(requested, |set| set.min(requested));
        let file_name = Self::key_file_name(&uri.label);
        if delete_after <= now {
            remove_durably(&self.dir, &file_name)?;
            return Ok(delete_after);
        }
        if file.delete_after_unix != Some(delete_after) {
            file.delete_after_unix = Some(delete_after);
            write_atomically(&self.dir, &file_name, &to_json(&file)?, WriteMode::Replace)
                .map_err(|error| io_error(format!("writing {file_name}"), error))?;
        }
        Ok(delete_after)
    }

    /// Removes the key files whose deletion time has passed. Runs at `create` and `list_keys`; files that do
    /// not parse are left alone (and reported by `list_keys`).
    pub fn purge_expired(&self) -> Result<(), PluginError> {
        let now = now_unix();
        let _writers = self.lock_writers();
        for label in list_key_file_names(&self.dir)? {
            let Ok(uri) = KeyUri::new(&self.name, &label) else {
                continue;
            };
            if let Ok(file) = self.load(&uri)
                && file.delete_after_unix.is_some_and(|at| at <= now)
            {
                remove_durably(&self.dir, &Self::key_file_name(&label))?;
            }
        }
        Ok(())
    }
}

/// Refuses a store directory that is not a directory or that other users may write: they could plant or
/// swap key files.
fn check_directory(dir: &Path) -> Result<(), PluginError> {
    let metadata = fs::metadata(dir)
        .map_err(|error| io_error(format!("store directory {}", dir.display()), error))?;
    if !metadata.is_dir() {
        return Err(PluginError::invalid_input(format!(
            "store directory {} is not a directory",
            dir.display()
        )));
    }
    let mode = metadata.permissions().mode();
    if mode & 0o022 != 0 {
        return Err(PluginError::permission_denied(format!(
            "store directory {} is writable by group or others (mode {:04o}); chmod 700 it",
            dir.display(),
            mode & 0o7777
        )));
    }
    // Readable: listing it is what every op does first.
    fs::read_dir(dir)
        .map(drop)
        .map_err(|error| io_error(format!("reading store directory {}", dir.display()), error))
}

/// The labels of the `<label>.key` files, sorted. Other names (temporary files, `store.json`, strangers) are
/// ignored.
fn list_key_file_names(dir: &Path) -> Result<Vec<String>, PluginError> {
    let entries = fs::read_dir(dir)
        .map_err(|error| io_error(format!("reading store directory {}", dir.display()), error))?;
    let mut labels = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|error| io_error(format!("reading {}", dir.display()), error))?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if let Some(label) = name.strip_suffix(KEY_SUFFIX)
            && validate_name("label", label).is_ok()
        {
            labels.push(label.to_owned());
        }
    }
    labels.sort();
    Ok(labels)
}

fn to_json<T: Serialize>(value: &T) -> Result<Vec<u8>, PluginError> {
    let mut bytes = serde_json::to_vec_pretty(value)
        .map_err(|error| PluginError::internal(format!("cannot encode JSON: {error}")))?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// Reads and parses a JSON file; `None` when it does not exist.
fn read_json<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, PluginError> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(io_error(path.display(), error)),
    };
    let mut bytes = Vec::new();
    file.take(MAX_FILE_LEN + 1)
        .read_to_end(&mut bytes)
        .map_err(|error| io_error(path.display(), error))?;
    if bytes.len() as u64 > MAX_FILE_LEN {
        return Err(PluginError::internal(format!(
            "{} is larger than {MAX_FILE_LEN} bytes",
            path.display()
        )));
    }
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|error| PluginError::internal(format!("{} is corrupt: {error}", path.display())))
}

/// How [`write_atomically`] puts the new file in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WriteMode {
    /// Fail with `AlreadyExists` if the name is taken (hard link).
    CreateNew,
    /// Replace whatever is there (rename).
    Replace,
}

/// Writes `bytes` to `dir/name` so that a crash leaves the old file or the new one, never a torn one: a
/// temporary file (mode 0600, created exclusively) is written and fsynced, moved into place, and the
/// directory is fsynced so the new name itself survives a crash.
fn write_atomically(dir: &Path, name: &str, bytes: &[u8], mode: WriteMode) -> io::Result<()> {
    let nonce = random_bytes::<8>().map_err(|error| io::Error::other(error.message))?;
    let temporary = dir.join(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        nonce
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect::<String>()
    ));
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        let target = dir.join(name);
        match mode {
            WriteMode::Replace => fs::rename(&temporary, &target)?,
            WriteMode::CreateNew => {
                fs::hard_link(&temporary, &target)?;
                fs::remove_file(&temporary)?;
            }
        }
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        // Best effort: the temporary name is ignored by every reader anyway.
        let _ = fs::remove_file(&temporary);
    }
    result
}

/// Removes `dir/name` and fsyncs the directory so the removal survives a crash.
fn remove_durably(dir: &Path, name: &str) -> Result<(), PluginError> {
    match fs::remove_file(dir.join(name)) {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(io_error(format!("removing {name}"), error)),
    }
    File::open(dir)
        .and_then(|directory| directory.sync_all())
        .map_err(|error| io_error(format!("syncing {}", dir.display()), error))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_writes() {
        let dir = tempfile::tempdir().unwrap();
        write_atomically(dir.path(), "a.key", b"one", WriteMode::CreateNew).unwrap();
        let error =
            write_atomically(dir.path(), "a.key", b"two", WriteMode::CreateNew).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(dir.path().join("a.key")).unwrap(), b"one");
        write_atomically(dir.path(), "a.key", b"three", WriteMode::Replace).unwrap();
        assert_eq!(fs::read(dir.path().join("a.key")).unwrap(), b"three");
        let mode = fs::metadata(dir.path().join("a.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        // No temporary file is left behind, on success or on a refused create.
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(names, ["a.key"]);
    }

    #[test]
    fn key_file_names() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "b.key",
            "a.key",
            "store.json",
            ".a.key.1.ff.tmp",
            "bad name.key",
            ".key",
            "c.txt",
        ] {
            fs::write(dir.path().join(name), b"").unwrap();
        }
        assert_eq!(list_key_file_names(dir.path()).unwrap(), ["a", "b"]);
    }
}
