//! The store on disk: encryption at rest, secret sources, wrong passphrases, tampering, deletion, health.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use sigil_kms_soft::SoftKms;
use sigil_kms_soft::config::SoftKmsConfig;
use sigil_kms_soft::store::Store;
use sigil_kms_soft::uri::KeyUri;
use sigil_plugin_api::serde_json::{self, Value, json};
use sigil_plugin_api::{
    GenerateKeyRequest, KeyAlgorithm, KmsSigner, ListKeysRequest, PublicKeyRequest,
    ScheduleDeletionRequest, SignatureAlgorithm, Status,
};

use crate::support::{Fixture, generate, sign};

fn create_error(config: Value) -> sigil_plugin_api::PluginError {
    match SoftKms::create(config) {
        Ok(_) => panic!("create succeeded"),
        Err(error) => error,
    }
}

fn read_json(path: &std::path::Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn write_json(path: &std::path::Path, value: &Value) {
    std::fs::write(path, serde_json::to_vec_pretty(value).unwrap()).unwrap();
}

#[test]
fn private_keys_are_sealed_at_rest_in_owner_only_files() {
    let fixture = Fixture::new();
    let kms = fixture.open();
    let (uri, _) = generate(&kms, "seal", KeyAlgorithm::EcdsaP256);
    let dir = fixture.store_dir();
    let key_path = dir.join("seal.key");
    let file_bytes = std::fs::read(&key_path).unwrap();
    for path in [&key_path, &dir.join("store.json")] {
        let mode = std::fs::metadata(path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{}", path.display());
    }
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["seal.key", "store.json"],
        "no temporary file is left"
    );

    // Decrypt through the crate's own store to learn the private key, then look for it in the file.
    let config = SoftKmsConfig::from_json(fixture.config(json!({}))).unwrap();
    let store = Store::open(&config, config.load_secret().unwrap()).unwrap();
    let file = store.load(&KeyUri::parse(&uri).unwrap()).unwrap();
    let key = store.unseal(&file).unwrap();
    let sigil_kms_soft::keypair::PrivateKey::P256(signing_key, _) = &key else {
        panic!("a P-256 key");
    };
    let scalar = signing_key.to_bytes().to_vec();
    let pkcs8 = key.to_pkcs8().unwrap();
    // Neither the secret scalar nor any 16 bytes of the PKCS#8 document appear in the file, raw, as hex or
    // (the whole document) as base64.
    let text = String::from_utf8(file_bytes.clone())
        .unwrap()
        .to_lowercase();
    assert!(
        !file_bytes
            .windows(32)
            .any(|window| window == scalar.as_slice())
    );
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    assert!(!text.contains(&hex(&scalar)));
    for window in pkcs8.windows(16) {
        assert!(!file_bytes.windows(16).any(|w| w == window));
        assert!(!text.contains(&hex(window)));
    }
    let base64 = sigil_plugin_api::Base64Bytes(pkcs8.to_vec()).to_base64();
    assert!(!String::from_utf8(file_bytes).unwrap().contains(&base64));
    let json = read_json(&key_path);
    let fields: Vec<_> = json.as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        fields,
        // serde_json's map is sorted.
        [
            "algorithm",
            "created_unix",
            "format",
            "key_uri",
            "label",
            "public_key_spki_der",
            "sealed_private_key"
        ]
        .map(String::from)
    );
}

#[test]
fn a_wrong_passphrase_is_refused_at_create() {
    let fixture = Fixture::new();
    let kms = fixture.open();
    let (uri, _) = generate(&kms, "seal", KeyAlgorithm::Ed25519);
    drop(kms);

    fixture.write_secret("passphrase", b"correct horse battery stapler\n");
    let error = create_error(fixture.config(json!({})));
    assert_eq!(error.status, Status::PermissionDenied);
    assert!(
        error.message.contains("does not unlock the store"),
        "{}",
        error.message
    );
    assert!(
        !error.message.contains("stapler"),
        "the passphrase leaked: {}",
        error.message
    );

    // The right passphrase still opens it, with or without the trailing newline.
    fixture.write_secret("passphrase", b"correct horse battery staple");
    let kms = fixture.open();
    sign(&kms, &uri, SignatureAlgorithm::Ed25519, b"x", false).unwrap();
}

#[test]
fn the_config_must_match_the_store() {
    let fixture = Fixture::new();
    drop(fixture.open());
    let key_file = fixture.write_secret("kek", &[9u8; 32]);
    let error =
        create_error(fixture.config(json!({"passphrase_file": null, "key_file": key_file})));
    assert_eq!(error.status, Status::InvalidInput);
    assert!(
        error.message.contains("locked with a passphrase"),
        "{}",
        error.message
    );

    let error = create_error(fixture.config(json!({"store_name": "other"})));
    assert_eq!(error.status, Status::InvalidInput);
    assert!(error.message.contains("cannot change"), "{}", error.message);

    let error = create_error(
        json!({"dir": fixture.root.path().join("absent"), "key_file": key_file, "create_if_missing": false}),
    );
    assert_eq!(error.status, Status::InvalidInput);
}

#[test]
fn a_raw_key_file_locks_a_store() {
    let fixture = Fixture::new();
    let key_file = fixture.write_secret("kek", &[0x42u8; 32]);
    let config = json!({"dir": fixture.store_dir(), "key_file": key_file, "store_name": "raw"});
    let kms = SoftKms::create(config.clone()).unwrap();
    let (uri, _) = generate(&kms, "k", KeyAlgorithm::EcdsaP256);
    assert_eq!(uri, "sigil-soft:store=raw;object=k");
    drop(kms);
    let kms = SoftKms::create(config.clone()).unwrap();
    sign(&kms, &uri, SignatureAlgorithm::EcdsaP256Sha256, b"x", false).unwrap();
    drop(kms);

    fixture.write_secret("kek", &[0x43u8; 32]);
    assert_eq!(
        create_error(config.clone()).status,
        Status::PermissionDenied
    );
    fixture.write_secret("kek", &[0x42u8; 31]);
    let error = create_error(config);
    assert_eq!(error.status, Status::InvalidInput);
    assert!(
        error.message.contains("exactly 32 raw bytes"),
        "{}",
        error.message
    );
}

#[test]
fn a_passphrase_can_come_from_the_environment() {
    // Setting a variable needs `unsafe` in edition 2024; PATH is always set, and any value will do.
    let fixture = Fixture::new();
    let config = fixture.config(json!({"passphrase_file": null, "passphrase_env": "PATH"}));
    let kms = SoftKms::create(config.clone()).unwrap();
    generate(&kms, "k", KeyAlgorithm::Ed25519);
    drop(kms);
    SoftKms::create(config).unwrap();

    let error = create_error(fixture.config(
        json!({"passphrase_file": null, "passphrase_env": "SIGIL_TEST_SURELY_UNSET_VARIABLE"}),
    ));
    assert_eq!(error.status, Status::InvalidInput);
}

/// Runs [`systemd_credential_child`] in a child process with `$CREDENTIALS_DIRECTORY` set, as systemd would.
#[test]
fn a_passphrase_can_be_a_systemd_credential() {
    let fixture = Fixture::new();
    let credentials = fixture.root.path().join("credentials");
    std::fs::create_dir(&credentials).unwrap();
    let path = credentials.join("sigil-kms");
    std::fs::write(&path, b"from systemd\n").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "store::systemd_credential_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("CREDENTIALS_DIRECTORY", &credentials)
        .env("SIGIL_TEST_STORE_DIR", fixture.store_dir())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "child failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // The parent (without the credential) cannot open the store with another passphrase.
    let error = create_error(fixture.config(json!({})));
    assert_eq!(error.status, Status::PermissionDenied);
}

#[test]
#[ignore = "run by a_passphrase_can_be_a_systemd_credential with CREDENTIALS_DIRECTORY set"]
fn systemd_credential_child() {
    let dir = std::env::var("SIGIL_TEST_STORE_DIR").expect("run by the parent test");
    let config = json!({"dir": dir, "credential": "sigil-kms", "argon2_memory_kib": 8192, "argon2_iterations": 1});
    let kms = SoftKms::create(config.clone()).unwrap();
    generate(&kms, "k", KeyAlgorithm::Ed25519);
    drop(kms);
    SoftKms::create(config).unwrap();
    let error = create_error(json!({"dir": dir, "credential": "../sigil-kms"}));
    assert_eq!(error.status, Status::InvalidInput);
}

#[test]
fn a_label_is_generated_once_even_under_races() {
    let fixture = Fixture::new();
    let kms = fixture.open();
    generate(&kms, "seal", KeyAlgorithm::Ed25519);
    let error = kms
        .generate_key(GenerateKeyRequest {
            label: "seal".into(),
            algorithm: KeyAlgorithm::EcdsaP256,
        })
        .unwrap_err();
    assert_eq!(error.status, Status::InvalidInput);
    assert!(error.message.contains("conflict"), "{}", error.message);

    // Two instances (as during a hot reload) and eight threads race for one label: exactly one wins.
    let other = fixture.open();
    let winners: usize = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|index| {
                let kms = if index % 2 == 0 { &kms } else { &other };
                scope.spawn(move || {
                    kms.generate_key(GenerateKeyRequest {
                        label: "raced".into(),
                        algorithm: KeyAlgorithm::EcdsaP256,
                    })
                    .is_ok() as usize
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().unwrap())
            .sum()
    });
    assert_eq!(winners, 1);

    for (label, status) in [("a/b", Status::InvalidInput), ("", Status::InvalidInput)] {
        let error = kms
            .generate_key(GenerateKeyRequest {
                label: label.into(),
                algorithm: KeyAlgorithm::Ed25519,
            })
            .unwrap_err();
        assert_eq!(error.status, status, "{label:?}");
    }
    let keys = kms.list_keys(ListKeysRequest {}).unwrap().keys;
    let labels: Vec<_> = keys.iter().map(|key| key.label.as_str()).collect();
    assert_eq!(labels, ["raced", "seal"]);
    assert_eq!(keys[1].algorithm, KeyAlgorithm::Ed25519);
    assert_eq!(keys[1].key_uri, "sigil-soft:store=default;object=seal");
}

#[test]
fn unknown_keys_are_not_found_and_bad_uris_invalid() {
    let fixture = Fixture::new();
    let kms = fixture.open();
    generate(&kms, "seal", KeyAlgorithm::Ed25519);
    for (uri, status) in [
        ("sigil-soft:store=default;object=nope", Status::NotFound),
        ("sigil-soft:store=other;object=seal", Status::NotFound),
        (
            "sigil-soft:store=default;object=../seal",
            Status::InvalidInput,
        ),
        ("pkcs11:token=default;object=seal", Status::InvalidInput),
        ("file:/etc/shadow", Status::InvalidInput),
    ] {
        let error = sign(&kms, uri, SignatureAlgorithm::Ed25519, b"x", false).unwrap_err();
        assert_eq!(error.status, status, "{uri}");
        let error = kms
            .public_key(PublicKeyRequest {
                key_uri: uri.into(),
            })
            .unwrap_err();
        assert_eq!(error.status, status, "{uri}");
    }
}

#[test]
fn tampered_key_files_are_refused() {
    let fixture = Fixture::new();
    let kms = fixture.open();
    let (a, _) = generate(&kms, "a", KeyAlgorithm::EcdsaP256);
    let (b, _) = generate(&kms, "b", KeyAlgorithm::EcdsaP256);
    let dir = fixture.store_dir();
    let original_b = std::fs::read(dir.join("b.key")).unwrap();

    // a.key copied over b.key: its recorded URI no longer matches.
    std::fs::copy(dir.join("a.key"), dir.join("b.key")).unwrap();
    let error = sign(&kms, &b, SignatureAlgorithm::EcdsaP256Sha256, b"x", false).unwrap_err();
    assert_eq!(error.status, Status::Internal);
    // ...and with the URI fields rewritten too, the AEAD (URI as associated data) refuses it.
    let mut moved = read_json(&dir.join("a.key"));
    moved["key_uri"] = json!(b);
    moved["label"] = json!("b");
    write_json(&dir.join("b.key"), &moved);
    let error = sign(&kms, &b, SignatureAlgorithm::EcdsaP256Sha256, b"x", false).unwrap_err();
    assert!(
        error.message.contains("failed to authenticate"),
        "{}",
        error.message
    );

    // b's own file with a's public key: public_key refuses to serve the lie.
    let mut swapped: Value = serde_json::from_slice(&original_b).unwrap();
    swapped["public_key_spki_der"] = read_json(&dir.join("a.key"))["public_key_spki_der"].clone();
    write_json(&dir.join("b.key"), &swapped);
    let error = kms
        .public_key(PublicKeyRequest { key_uri: b.clone() })
        .unwrap_err();
    assert!(
        error.message.contains("does not match"),
        "{}",
        error.message
    );

    // A flipped ciphertext bit.
    let mut flipped = read_json(&dir.join("a.key"));
    let ciphertext = flipped["sealed_private_key"]["ciphertext"]
        .as_str()
        .unwrap()
        .to_owned();
    let replacement = if ciphertext.starts_with('A') {
        "B"
    } else {
        "A"
    };
    flipped["sealed_private_key"]["ciphertext"] =
        json!(format!("{replacement}{}", &ciphertext[1..]));
    write_json(&dir.join("a.key"), &flipped);
    let error = sign(&kms, &a, SignatureAlgorithm::EcdsaP256Sha256, b"x", false).unwrap_err();
    assert!(
        error.message.contains("failed to authenticate"),
        "{}",
        error.message
    );

    // Restored, b signs again.
    std::fs::write(dir.join("b.key"), &original_b).unwrap();
    sign(&kms, &b, SignatureAlgorithm::EcdsaP256Sha256, b"x", false).unwrap();
}

#[test]
fn scheduled_deletion_stops_signing_then_removes_the_key() {
    let fixture = Fixture::new();
    let kms = fixture.open();
    let (uri, spki) = generate(&kms, "old", KeyAlgorithm::EcdsaP256);
    let (keep, _) = generate(&kms, "keep", KeyAlgorithm::EcdsaP256);
    let before = sigil_kms_soft::calendar::now_unix();
    let response = kms
        .schedule_deletion(ScheduleDeletionRequest {
            key_uri: uri.clone(),
            grace_days: 30,
        })
        .unwrap();
    let date = response.deletion_date.unwrap();
    let expected = sigil_kms_soft::calendar::rfc3339(before + 30 * 86_400);
    assert_eq!(date[..13], expected[..13], "about 30 days from now");

    let error = sign(&kms, &uri, SignatureAlgorithm::EcdsaP256Sha256, b"x", false).unwrap_err();
    assert_eq!(error.status, Status::PermissionDenied);
    assert!(
        error.message.contains("scheduled for deletion"),
        "{}",
        error.message
    );
    // The public key stays available during the grace period, for verifying old signatures.
    let public = kms
        .public_key(PublicKeyRequest {
            key_uri: uri.clone(),
        })
        .unwrap();
    assert_eq!(public.public_key_spki_der.0, spki);
    let labels: Vec<_> = kms
        .list_keys(ListKeysRequest {})
        .unwrap()
        .keys
        .into_iter()
        .map(|k| k.label)
        .collect();
    assert_eq!(labels, ["keep"]);
    // The label stays taken until the file is gone.
    let error = kms
        .generate_key(GenerateKeyRequest {
            label: "old".into(),
            algorithm: KeyAlgorithm::Ed25519,
        })
        .unwrap_err();
    assert_eq!(error.status, Status::InvalidInput);
    // A retry keeps the earlier date.
    let again = kms
        .schedule_deletion(ScheduleDeletionRequest {
            key_uri: uri.clone(),
            grace_days: 60,
        })
        .unwrap();
    assert_eq!(again.deletion_date.unwrap(), date);

    // A date in the past (as after 30 days) is purged when a store is opened.
    let path = fixture.store_dir().join("old.key");
    let mut file = read_json(&path);
    file["delete_after_unix"] = json!(before - 1);
    write_json(&path, &file);
    drop(fixture.open());
    assert!(!path.exists());
    let error = sign(&kms, &uri, SignatureAlgorithm::EcdsaP256Sha256, b"x", false).unwrap_err();
    assert_eq!(error.status, Status::NotFound);

    // grace_days = 0 deletes at once, and the label can be reused.
    kms.schedule_deletion(ScheduleDeletionRequest {
        key_uri: keep.clone(),
        grace_days: 0,
    })
    .unwrap();
    assert!(!fixture.store_dir().join("keep.key").exists());
    generate(&kms, "keep", KeyAlgorithm::Ed25519);
}

#[test]
fn health_checks_the_directory_and_the_passphrase() {
    let fixture = Fixture::new();
    let kms = fixture.open();
    generate(&kms, "a", KeyAlgorithm::Ed25519);
    let report = kms.health().unwrap();
    assert!(report.detail.unwrap().contains("1 key file"));

    // store.json swapped for another store's (another passphrase): health notices.
    let other = Fixture::new();
    other.write_secret("passphrase", b"another passphrase\n");
    drop(other.open());
    let dir = fixture.store_dir();
    let saved = std::fs::read(dir.join("store.json")).unwrap();
    std::fs::copy(other.store_dir().join("store.json"), dir.join("store.json")).unwrap();
    assert_eq!(kms.health().unwrap_err().status, Status::PermissionDenied);
    std::fs::write(dir.join("store.json"), saved).unwrap();
    kms.health().unwrap();

    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o770)).unwrap();
    assert_eq!(kms.health().unwrap_err().status, Status::PermissionDenied);
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::rename(&dir, fixture.root.path().join("moved")).unwrap();
    assert_eq!(kms.health().unwrap_err().status, Status::Backend);
}

#[test]
fn unsafe_directories_and_orphaned_key_files_are_refused() {
    let fixture = Fixture::new();
    let dir = fixture.store_dir();
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let error = create_error(fixture.config(json!({})));
    assert_eq!(error.status, Status::PermissionDenied);
    assert!(
        error.message.contains("writable by group or others"),
        "{}",
        error.message
    );

    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::write(dir.join("lost.key"), b"{}").unwrap();
    let error = create_error(fixture.config(json!({})));
    assert_eq!(error.status, Status::InvalidInput);
    assert!(error.message.contains("no store.json"), "{}", error.message);

    let public = fixture.root.path().join("public-passphrase");
    std::fs::write(&public, b"x").unwrap();
    std::fs::set_permissions(&public, std::fs::Permissions::from_mode(0o644)).unwrap();
    let error = create_error(fixture.config(json!({"passphrase_file": public})));
    assert_eq!(error.status, Status::PermissionDenied);
}
