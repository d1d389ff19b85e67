//! Keys on the token: their attributes, label conflicts, lookups, keys made by other tools, scheduled
//! deletion, PINs, slots and health.

use cryptoki::object::{Attribute, AttributeType, ObjectClass};
use p256::pkcs8::DecodePublicKey;
use sigil_kms_pkcs11::Pkcs11Kms;
use sigil_kms_pkcs11::calendar::CivilDate;
use sigil_kms_pkcs11::keys;
use sigil_kms_pkcs11::token::Token;
use sigil_kms_pkcs11::uri::KeyUri;
use sigil_plugin_api::serde_json::json;
use sigil_plugin_api::{
    GenerateKeyRequest, KeyAlgorithm, KmsSigner, ListKeysRequest, PluginError, PublicKeyRequest,
    ScheduleDeletionRequest, SignatureAlgorithm, Status,
};
use signature::Verifier;

use crate::support::{MODULE, OTHER_TOKEN, PIN, TOKEN, generate, sign};

fn create_error(config: sigil_plugin_api::serde_json::Value) -> PluginError {
    match Pkcs11Kms::create(config) {
        Ok(_) => panic!("create succeeded"),
        Err(error) => error,
    }
}

/// A token handle of our own, to look at objects the way an auditor with the PIN would.
fn audit_token() -> Token {
    let pkcs11 = sigil_kms_pkcs11::module::initialised_module(
        MODULE.as_ref(),
        &[std::path::PathBuf::from(MODULE)],
    )
    .unwrap();
    Token::open(pkcs11, TOKEN.into(), None, PIN.to_owned().into()).unwrap()
}

softhsm_test! {
    fn generated_private_keys_are_sensitive_token_objects_that_only_sign(hsm) {
        let kms = hsm.open();
        generate(&kms, "p", KeyAlgorithm::EcdsaP256);
        generate(&kms, "r", KeyAlgorithm::Rsa2048);
        let token = audit_token();
        token.with_session(|session| {
            for label in ["p", "r"] {
                let uri = KeyUri::new(TOKEN, label);
                let key = keys::find_private_key(session, &uri).unwrap();
                assert_eq!(key.id.len(), 16, "a random CKA_ID");
                let attributes = session
                    .get_attributes(key.handle, &[
                        AttributeType::Token,
                        AttributeType::Private,
                        AttributeType::Sensitive,
                        AttributeType::Extractable,
                        AttributeType::AlwaysSensitive,
                        AttributeType::NeverExtractable,
                        AttributeType::Sign,
                        AttributeType::Derive,
                        AttributeType::Label,
                    ])
                    .unwrap();
                for expected in [
                    Attribute::Token(true),
                    Attribute::Private(true),
                    Attribute::Sensitive(true),
                    Attribute::Extractable(false),
                    Attribute::AlwaysSensitive(true),
                    Attribute::NeverExtractable(true),
                    Attribute::Sign(true),
                    Attribute::Derive(false),
                    Attribute::Label(label.as_bytes().to_vec()),
                ] {
                    assert!(attributes.contains(&expected), "{label}: {expected:?} in {attributes:?}");
                }
                // The token refuses to reveal the private value.
                let secret = if label == "p" { AttributeType::Value } else { AttributeType::PrivateExponent };
                let revealed = session.get_attributes(key.handle, &[secret]).unwrap_or_default();
                assert!(revealed.is_empty(), "{label}: the token revealed {revealed:?}");
                // The public half shares label and id.
                let public = session
                    .find_objects(&[
                        Attribute::Class(ObjectClass::PUBLIC_KEY),
                        Attribute::Label(label.as_bytes().to_vec()),
                        Attribute::Id(key.id.clone()),
                    ])
                    .unwrap();
                assert_eq!(public.len(), 1, "{label}");
            }
            Ok(())
        })
        .unwrap();
    }
}

softhsm_test! {
    fn labels_are_unique_and_uris_must_name_this_token(hsm) {
        let kms = hsm.open();
        let (uri, _) = generate(&kms, "seal", KeyAlgorithm::EcdsaP256);
        let error = kms
            .generate_key(GenerateKeyRequest { label: "seal".into(), algorithm: KeyAlgorithm::Rsa2048 })
            .unwrap_err();
        assert_eq!(error.status, Status::InvalidInput);
        assert!(error.message.contains("conflict"), "{}", error.message);
        for label in ["", "a b", "x/y", &"a".repeat(65)] {
            let error = kms
                .generate_key(GenerateKeyRequest { label: label.into(), algorithm: KeyAlgorithm::EcdsaP256 })
                .unwrap_err();
            assert_eq!(error.status, Status::InvalidInput, "{label:?}");
        }
        let error = kms
            .generate_key(GenerateKeyRequest { label: "u".into(), algorithm: KeyAlgorithm::Unknown })
            .unwrap_err();
        assert_eq!(error.status, Status::Unsupported);

        // Eight threads race for one label on one instance: exactly one wins.
        let winners: usize = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    scope.spawn(|| {
                        kms.generate_key(GenerateKeyRequest { label: "raced".into(), algorithm: KeyAlgorithm::EcdsaP256 })
                            .is_ok() as usize
                    })
                })
                .collect();
            handles.into_iter().map(|handle| handle.join().unwrap()).sum()
        });
        assert_eq!(winners, 1);

        for (uri, status) in [
            (format!("pkcs11:token={OTHER_TOKEN};object=seal;type=private"), Status::NotFound),
            (format!("pkcs11:token={TOKEN};object=absent;type=private"), Status::NotFound),
            (format!("pkcs11:token={TOKEN};object=seal;id=%00;type=private"), Status::NotFound),
            (format!("pkcs11:token={TOKEN};object=seal;type=public"), Status::InvalidInput),
            (format!("pkcs11:token={TOKEN};object=seal?pin-value={PIN}"), Status::InvalidInput),
            ("sigil-soft:store=default;object=seal".to_owned(), Status::InvalidInput),
        ] {
            let error = sign(&kms, &uri, SignatureAlgorithm::EcdsaP256Sha256, b"x", false).unwrap_err();
            assert_eq!(error.status, status, "{uri}");
            let error = kms.public_key(PublicKeyRequest { key_uri: uri.clone() }).unwrap_err();
            assert_eq!(error.status, status, "{uri}");
            assert!(!error.message.contains(PIN) || !uri.contains("pin-value"), "{}", error.message);
        }
        // Attributes in another order still name the key.
        sign(&kms, &format!("pkcs11:type=private;object=seal;token={TOKEN}"), SignatureAlgorithm::EcdsaP256Sha256, b"x", false)
            .unwrap();
        assert!(uri.ends_with(";type=private"));
    }
}

softhsm_test! {
    /// Keys made by pkcs11-tool are listed and sign; two keys with one label get `id=` URIs.
    fn keys_from_other_tools_are_listed_and_usable(hsm) {
        hsm.pkcs11_tool(&[
            "--login", "--pin", PIN, "--token-label", TOKEN, "--keypairgen", "--key-type", "EC:prime256v1",
            "--label", "external", "--id", "0a01", "--usage-sign",
        ]);
        hsm.pkcs11_tool(&[
            "--login", "--pin", PIN, "--token-label", TOKEN, "--keypairgen", "--key-type", "EC:prime256v1",
            "--label", "twin", "--id", "0b01", "--usage-sign",
        ]);
        hsm.pkcs11_tool(&[
            "--login", "--pin", PIN, "--token-label", TOKEN, "--keypairgen", "--key-type", "EC:prime256v1",
            "--label", "twin", "--id", "0b02", "--usage-sign",
        ]);
        // secp384r1 is not a Sigil algorithm: not listed.
        hsm.pkcs11_tool(&[
            "--login", "--pin", PIN, "--token-label", TOKEN, "--keypairgen", "--key-type", "EC:secp384r1",
            "--label", "p384", "--usage-sign",
        ]);
        let kms = hsm.open();
        generate(&kms, "ours", KeyAlgorithm::Ed25519);
        let keys = kms.list_keys(ListKeysRequest {}).unwrap().keys;
        let listed: Vec<_> = keys.iter().map(|key| (key.label.as_str(), key.key_uri.as_str(), key.algorithm)).collect();
        assert_eq!(
            listed,
            [
                ("external", "pkcs11:token=sigil-test;object=external;type=private", KeyAlgorithm::EcdsaP256),
                ("ours", "pkcs11:token=sigil-test;object=ours;type=private", KeyAlgorithm::Ed25519),
                ("twin", "pkcs11:token=sigil-test;object=twin;id=%0B%01;type=private", KeyAlgorithm::EcdsaP256),
                ("twin", "pkcs11:token=sigil-test;object=twin;id=%0B%02;type=private", KeyAlgorithm::EcdsaP256),
            ]
        );
        for uri in [keys[0].key_uri.as_str(), keys[3].key_uri.as_str()] {
            let spki = kms.public_key(PublicKeyRequest { key_uri: uri.into() }).unwrap().public_key_spki_der.0;
            let der = sign(&kms, uri, SignatureAlgorithm::EcdsaP256Sha256, b"interop", false).unwrap();
            p256::ecdsa::VerifyingKey::from_public_key_der(&spki)
                .unwrap()
                .verify(b"interop", &p256::ecdsa::Signature::from_der(&der).unwrap())
                .unwrap();
        }
        // The bare label is ambiguous: an error, not a guess.
        let error = sign(&kms, "pkcs11:token=sigil-test;object=twin", SignatureAlgorithm::EcdsaP256Sha256, b"x", false)
            .unwrap_err();
        assert_eq!(error.status, Status::Backend);
        assert!(error.message.contains("id="), "{}", error.message);
        // An object label taken by another tool's key blocks generation too.
        let error = kms
            .generate_key(GenerateKeyRequest { label: "external".into(), algorithm: KeyAlgorithm::EcdsaP256 })
            .unwrap_err();
        assert_eq!(error.status, Status::InvalidInput);
    }
}

softhsm_test! {
    fn scheduled_deletion_retires_the_key_and_grace_zero_destroys_it(hsm) {
        let kms = hsm.open();
        let (uri, spki) = generate(&kms, "old", KeyAlgorithm::EcdsaP256);
        generate(&kms, "keep", KeyAlgorithm::EcdsaP256);
        let response = kms
            .schedule_deletion(ScheduleDeletionRequest { key_uri: uri.clone(), grace_days: 30 })
            .unwrap();
        let expected = CivilDate::today().plus_days(31).rfc3339();
        assert_eq!(response.deletion_date.as_deref(), Some(expected.as_str()));

        let error = sign(&kms, &uri, SignatureAlgorithm::EcdsaP256Sha256, b"x", false).unwrap_err();
        assert_eq!(error.status, Status::PermissionDenied, "{}", error.message);
        assert!(error.message.contains("scheduled for deletion"), "{}", error.message);
        // The token itself refuses (CKA_SIGN is false); the public key's CKA_END_DATE is the last day of the
        // grace period.
        audit_token()
            .with_session(|session| {
                let key = keys::find_private_key(session, &KeyUri::parse(&uri).unwrap()).unwrap();
                assert!(!key.can_sign);
                assert_eq!(
                    keys::scheduled_deletion_last_day(session, &key),
                    Some(CivilDate::today().plus_days(30))
                );
                let refused = session.sign(&cryptoki::mechanism::Mechanism::Ecdsa, key.handle, &[0; 32]);
                assert!(refused.is_err(), "the token signed with a retired key");
                Ok(())
            })
            .unwrap();
        // The public key stays readable for verifying old signatures; the key leaves the list.
        let public = kms.public_key(PublicKeyRequest { key_uri: uri.clone() }).unwrap();
        assert_eq!(public.public_key_spki_der.0, spki);
        let labels: Vec<_> = kms.list_keys(ListKeysRequest {}).unwrap().keys.into_iter().map(|k| k.label).collect();
        assert_eq!(labels, ["keep"]);
        // A retry with a longer grace keeps the date.
        let again = kms
            .schedule_deletion(ScheduleDeletionRequest { key_uri: uri.clone(), grace_days: 60 })
            .unwrap();
        assert_eq!(again.deletion_date, response.deletion_date);

        // grace_days = 0 destroys both objects now, and frees the label.
        kms.schedule_deletion(ScheduleDeletionRequest { key_uri: uri.clone(), grace_days: 0 }).unwrap();
        let error = kms.public_key(PublicKeyRequest { key_uri: uri.clone() }).unwrap_err();
        assert_eq!(error.status, Status::NotFound);
        audit_token()
            .with_session(|session| {
                let left = session.find_objects(&[Attribute::Label(b"old".to_vec())]).unwrap();
                assert!(left.is_empty(), "objects left: {left:?}");
                Ok(())
            })
            .unwrap();
        generate(&kms, "old", KeyAlgorithm::Ed25519);
    }
}

softhsm_test! {
    fn wrong_pins_missing_tokens_and_slots_fail_create(hsm) {
        let wrong_pin = hsm.dir.join("wrong-pin");
        std::fs::write(&wrong_pin, "0000\n").unwrap();
        let error = create_error(hsm.config(json!({"pin_file": wrong_pin})));
        assert_eq!(error.status, Status::PermissionDenied);
        assert!(!error.message.contains("0000"), "{}", error.message);
        // An inline PIN works too (discouraged, but supported).
        Pkcs11Kms::create(hsm.config(json!({"pin_file": null, "pin": PIN}))).unwrap();

        let error = create_error(hsm.config(json!({"token_label": "absent"})));
        assert_eq!(error.status, Status::Backend);
        assert!(error.message.contains("no token labelled"), "{}", error.message);
        let error = create_error(hsm.config(json!({"module": "/nonexistent/libpkcs11.so"})));
        assert_eq!(error.status, Status::InvalidInput);

        // The right slot is accepted, another one refused.
        let slot = audit_token().find_slot().unwrap().id();
        Pkcs11Kms::create(hsm.config(json!({"slot": slot}))).unwrap();
        let error = create_error(hsm.config(json!({"slot": slot + 1})));
        assert_eq!(error.status, Status::Backend);
    }
}

softhsm_test! {
    fn health_needs_the_token_present_and_logged_in(hsm) {
        let kms = hsm.open();
        let detail = kms.health().unwrap().detail.unwrap();
        assert!(detail.contains(TOKEN) && detail.contains("logged in"), "{detail}");
        // A second instance and its drop (closing its sessions) leave the first one logged in.
        drop(hsm.open());
        kms.health().unwrap();

        // The token removed (as a pulled smart card or a deleted SoftHSM token): health fails.
        let output = std::process::Command::new("softhsm2-util")
            .args(["--delete-token", "--token", TOKEN])
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let error = kms.health().unwrap_err();
        assert_eq!(error.status, Status::Backend);
        assert!(error.message.contains("no token labelled"), "{}", error.message);
        assert_eq!(create_error(hsm.config(json!({}))).status, Status::Backend);
    }
}

softhsm_test! {
    /// `module` must be admitted by `allowed_modules` before it is loaded.
    fn only_listed_modules_are_loaded(hsm) {
        // Listed explicitly: loads and logs in.
        let listed = Pkcs11Kms::create(hsm.config(json!({"allowed_modules": [MODULE]}))).unwrap();
        listed.health().unwrap();

        // A real module, but not the listed one.
        let error = create_error(hsm.config(json!({
            "allowed_modules": ["/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so"],
        })));
        assert_eq!(error.status, Status::InvalidInput);
        assert!(error.message.contains("`allowed_modules`"), "{error}");

        // A file next to the token, reached through a symlink named like a module: refused, never loaded.
        let planted = hsm.dir.join("planted.so");
        std::fs::write(&planted, b"not an ELF file").unwrap();
        let link = hsm.dir.join("libsofthsm2.so");
        std::os::unix::fs::symlink(&planted, &link).unwrap();
        for module in [&planted, &link] {
            let error = create_error(hsm.config(json!({"module": module})));
            assert_eq!(error.status, Status::InvalidInput);
            assert!(
                error.message.contains("`allowed_modules`") && !error.message.contains("cannot load"),
                "{error}"
            );
        }
    }
}
