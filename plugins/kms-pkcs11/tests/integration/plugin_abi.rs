//! The built cdylib and the rlib in one process, as sigild has two copies of the plugin during a hot reload:
//! both initialise the one SoftHSM2 module (the second gets CKR_CRYPTOKI_ALREADY_INITIALIZED), share its
//! login, and outlive each other.

use p256::pkcs8::DecodePublicKey;
use sigil_kms_pkcs11::Pkcs11Kms;
use sigil_plugin_api::serde_json::json;
use sigil_plugin_api::{
    Base64Bytes, GenerateKeyResponse, KeyAlgorithm, KmsSigner, PluginKind, SignResponse,
    SignatureAlgorithm, Status,
};
use signature::Verifier;

use crate::support::{OpensslCheck, assert_openssl_accepts, generate, load_cdylib, sign};

fn verify_p256(spki: &[u8], message: &[u8], der: &[u8]) {
    p256::ecdsa::VerifyingKey::from_public_key_der(spki)
        .unwrap()
        .verify(message, &p256::ecdsa::Signature::from_der(der).unwrap())
        .unwrap();
}

softhsm_test! {
    fn two_copies_of_the_plugin_share_the_module_like_a_hot_reload(hsm) {
        // The "old" copy: the rlib linked into this test, initialised first.
        let old = hsm.open();
        let (old_uri, old_spki) = generate(&old, "before-reload", KeyAlgorithm::EcdsaP256);

        // The "new" copy: the cdylib through the host API.
        let plugin = load_cdylib();
        assert_eq!(plugin.kind(), PluginKind::KmsSigner);
        assert_eq!(plugin.name(), "kms-pkcs11");
        let config = hsm.config(json!({})).to_string();
        let new = plugin.create_instance(config.as_bytes()).unwrap();
        assert!(new.health().unwrap().detail.unwrap().contains("logged in"));
        let generated: GenerateKeyResponse = new
            .call_message("generate_key", &json!({"label": "after-reload", "algorithm": "ecdsa-p256"}))
            .unwrap();
        let new_spki = generated.public_key_spki_der.0.clone();

        // Each copy signs with the other's key.
        let message = b"hot reload";
        let der = sign(&old, &generated.key_uri, SignatureAlgorithm::EcdsaP256Sha256, message, false).unwrap();
        verify_p256(&new_spki, message, &der);
        let signed: SignResponse = new
            .call_message("sign", &json!({"key_uri": old_uri, "algorithm": "ecdsa-p256-sha256",
                                          "data": Base64Bytes(message.to_vec())}))
            .unwrap();
        verify_p256(&old_spki, message, &signed.signature);
        assert_openssl_accepts(&old_spki, message, &signed.signature, OpensslCheck::Digest("sha256"));

        // The old copy is drained and destroyed: its sessions close, the module stays initialised and the
        // new copy keeps its login.
        drop(old);
        let signed: SignResponse = new
            .call_message("sign", &json!({"key_uri": generated.key_uri, "algorithm": "ecdsa-p256-sha256",
                                          "data": Base64Bytes(message.to_vec())}))
            .unwrap();
        verify_p256(&new_spki, message, &signed.signature);

        // Concurrent calls through the host API, each on a session of its own.
        std::thread::scope(|scope| {
            for thread in 0..8u8 {
                let (new, uri, spki) = (&new, &generated.key_uri, &new_spki);
                scope.spawn(move || {
                    for round in 0..10u8 {
                        let message = [thread, round];
                        let signed: SignResponse = new
                            .call_message("sign", &json!({"key_uri": uri, "algorithm": "ecdsa-p256-sha256",
                                                          "data": Base64Bytes(message.to_vec())}))
                            .unwrap();
                        verify_p256(spki, &message, &signed.signature);
                    }
                });
            }
        });

        // Errors cross the boundary with their status.
        let error = new
            .call_message::<_, SignResponse>("sign", &json!({"key_uri": "pkcs11:token=sigil-test;object=nope",
                                                             "algorithm": "ecdsa-p256-sha256", "data": ""}))
            .unwrap_err();
        assert_eq!(error.status, Status::NotFound);
        let error = new.call("timestamp", b"{}").unwrap_err();
        assert_eq!(error.status, Status::Unsupported);

        // The new copy destroyed, a later instance of the rlib copy still works.
        drop(new);
        let later = Pkcs11Kms::create(hsm.config(json!({}))).unwrap();
        later.health().unwrap();
        sign(&later, &old_uri, SignatureAlgorithm::EcdsaP256Sha256, message, false).unwrap();
    }
}
