//! The trust core: a TSA token is accepted only if its signer chains to an anchor of the provider that answered,
//! and `/tsa/verify-hash` reports `valid` only for the ETSI indication `PASSED`. A man in the middle of an
//! `http://` TSA, answering with tokens from a CA of its own, gets no stamp stored, no chain published and no
//! hash "proved".

use serde_json::{Value, json};

use crate::harness::{Daemon, assert_invalid_field, str_field};
use crate::timestamping::{fresh_hash, provider, stamp, stamp_ok, start, wait_local_tsa};
use crate::tsa_standins::{Behaviour, OpensslTsa, StandIn, openssl_ok};

/// The SHA-256 fingerprint of a PEM certificate, lowercase hex without colons (as Sigil names it).
fn fingerprint(tsa: &OpensslTsa) -> String {
    let root = tsa.root_pem();
    let out = openssl_ok(
        tsa.dir(),
        &[
            "x509",
            "-in",
            root.to_str().expect("utf-8 path"),
            "-noout",
            "-fingerprint",
            "-sha256",
        ],
    );
    out.trim()
        .rsplit('=')
        .next()
        .expect("fingerprint")
        .replace(':', "")
        .to_ascii_lowercase()
}

fn verify_hash(daemon: &Daemon, hash: &str, tsr: &str) -> Value {
    daemon
        .post_public(
            "/tsa/verify-hash",
            json!({ "fileHashHex": hash, "tsrBase64": tsr }),
        )
        .expect(200)
}

#[test]
fn a_tsa_answering_from_a_foreign_root_gets_nothing_stored_and_failover_continues() {
    // The operator anchored the genuine TSA's root; the network path answers with a forger's tokens, which
    // are well-formed, correctly signed and carry the genuine name.
    let genuine = OpensslTsa::new("Genuine TSA", "1.3.6.1.4.1.32473.7");
    let forger = OpensslTsa::new("Genuine TSA", "1.3.6.1.4.1.32473.7");
    let server = StandIn::start(Behaviour::Tsa(forger.clone()));
    let daemon = start(&provider(
        "genuine",
        "Genuine TSA",
        &server.url(),
        &genuine.anchor(),
    ));
    wait_local_tsa(&daemon);
    let owner = daemon.owner_with_tenant();

    let hash = fresh_hash();
    let reply = stamp(
        &daemon,
        &owner.token,
        json!({ "hashHex": hash, "tsaSlug": "genuine" }),
    );
    let body = reply.expect(502);
    let attempt = &body["failures"][0];
    assert_eq!(attempt["errorClass"], "parse", "{body}");
    let message = str_field(attempt, "message");
    assert!(
        message.contains(&fingerprint(&forger)),
        "the message names the unanchored root's SHA-256: {message}"
    );
    assert!(message.contains("Genuine TSA Root CA"), "{message}");
    assert!(server.hits() > 0, "the forger was asked");

    // Nothing was stored, and the forged chain is not published.
    let lookup = daemon
        .get_public(&format!("/api/lookup/{hash}"))
        .expect(200);
    assert_eq!(lookup["found"], false, "{lookup}");
    let chain = daemon.get_public("/proxy/services/genuine/certificates");
    assert_ne!(chain.status, 200, "{}", chain.text);

    // The failure is visible to the operator.
    let health = daemon.get("/api/tsa/health", &owner.token).expect(200);
    assert!(
        health.to_string().contains(&fingerprint(&forger)),
        "{health}"
    );

    // Auto routing fails over past the forger to the local TSA.
    for _ in 0..3 {
        let stamped = stamp_ok(&daemon, &owner.token, json!({ "hashHex": fresh_hash() }));
        assert_eq!(stamped["tsaSlug"], "local", "{stamped}");
    }
}

#[test]
fn the_local_root_does_not_anchor_a_remote_provider() {
    // A remote provider without anchors of its own: even a token the local TSA could vouch for is refused, and a
    // remote token never chains to the local root.
    let remote = OpensslTsa::new("Remote TSA", "1.3.6.1.4.1.32473.7");
    let server = StandIn::start(Behaviour::Tsa(remote.clone()));
    let daemon = start(&provider("remote", "Remote TSA", &server.url(), ""));
    wait_local_tsa(&daemon);
    let owner = daemon.owner_with_tenant();
    let body = stamp(
        &daemon,
        &owner.token,
        json!({ "hashHex": fresh_hash(), "tsaSlug": "remote" }),
    )
    .expect(502);
    assert_eq!(body["failures"][0]["errorClass"], "parse", "{body}");
    // The global anchors count for every remote provider.
    let global = start(&format!(
        "[tsa]\ntrust_roots_file = \"{}\"\n{}",
        remote.root_pem().display(),
        provider("remote", "Remote TSA", &server.url(), "")
    ));
    let owner = global.owner_with_tenant();
    let stamped = stamp_ok(
        &global,
        &owner.token,
        json!({ "hashHex": fresh_hash(), "tsaSlug": "remote" }),
    );
    assert_eq!(stamped["tsaSlug"], "remote", "{stamped}");
}

#[test]
fn verify_hash_is_valid_only_for_passed() {
    let daemon = start("");
    wait_local_tsa(&daemon);
    let owner = daemon.owner_with_tenant();
    let hash = fresh_hash();
    let stamped = stamp_ok(&daemon, &owner.token, json!({ "hashHex": hash }));
    let tsr = str_field(&stamped, "tsrBase64");
    let verified = verify_hash(&daemon, &hash, &tsr);
    assert_eq!(verified["valid"], true, "{verified}");
    assert_eq!(verified["indication"], "PASSED", "{verified}");
    assert_eq!(verified["subIndication"], Value::Null, "{verified}");

    // A sound token from a TSA nobody configured: three openssl commands "prove" any hash at any time.
    let stranger = OpensslTsa::new("Stranger TSA", "1.3.6.1.4.1.32473.7");
    let query = {
        let digest = hex::decode(&hash).expect("hex");
        let file = stranger.dir().join("forged.tsq");
        std::fs::write(stranger.dir().join("digest.hex"), &hash).expect("write");
        openssl_ok(
            stranger.dir(),
            &[
                "ts",
                "-query",
                "-digest",
                &hash,
                "-sha256",
                "-cert",
                "-out",
                file.to_str().expect("utf-8"),
            ],
        );
        assert_eq!(digest.len(), 32);
        std::fs::read(file).expect("query")
    };
    let forged = stranger.reply(&query).expect("openssl reply");
    use base64::Engine as _;
    let forged = base64::engine::general_purpose::STANDARD.encode(forged);
    let verified = verify_hash(&daemon, &hash, &forged);
    assert_eq!(verified["valid"], false, "{verified}");
    assert_eq!(verified["indication"], "INDETERMINATE", "{verified}");
    assert_eq!(
        verified["subIndication"], "NO_CERTIFICATE_CHAIN_FOUND",
        "{verified}"
    );
    assert_eq!(verified["details"]["hashMatch"], true, "{verified}");
    assert_eq!(verified["details"]["trust"], "untrusted", "{verified}");
    assert!(
        str_field(&verified, "message").contains(&fingerprint(&stranger)),
        "{verified}"
    );

    // The wrong file: failed, hash.
    let verified = verify_hash(&daemon, &fresh_hash(), &tsr);
    assert_eq!(verified["valid"], false, "{verified}");
    assert_eq!(verified["indication"], "FAILED", "{verified}");
    assert_eq!(verified["subIndication"], "HASH_FAILURE", "{verified}");
}

#[test]
fn verify_hash_takes_only_digest_lengths_and_echoes_nothing_unbounded() {
    let daemon = start("");
    for bad in ["ab".repeat(31), "ab".repeat(33), "ab".repeat(50_000)] {
        let reply = daemon.post_public(
            "/tsa/verify-hash",
            json!({ "fileHashHex": bad, "tsrBase64": "AAAA" }),
        );
        assert_invalid_field(&reply, "fileHashHex");
        assert!(
            reply.text.len() < 1_000,
            "echoed: {} bytes",
            reply.text.len()
        );
    }
}

#[test]
fn old_local_tokens_stay_passed_after_the_local_key_changes() {
    let mut daemon = start("");
    wait_local_tsa(&daemon);
    let owner = daemon.owner_with_tenant();
    let hash = fresh_hash();
    let stamped = stamp_ok(&daemon, &owner.token, json!({ "hashHex": hash }));
    let tsr = str_field(&stamped, "tsrBase64");
    let old_chain = wait_local_tsa(&daemon);

    // A new key label: a new key, a new root and a new TSA certificate.
    daemon.stop();
    daemon.rewrite_config("[local_tsa]\nkey_label = \"sigil-tsa-rotated\"");
    daemon.restart();
    let new_chain = wait_local_tsa(&daemon);
    assert_ne!(old_chain, new_chain, "the rotation made a new chain");
    let verified = verify_hash(&daemon, &hash, &tsr);
    assert_eq!(verified["indication"], "PASSED", "{verified}");
    assert_eq!(verified["valid"], true, "{verified}");
    // And the new key stamps and verifies too.
    let hash = fresh_hash();
    let stamped = stamp_ok(&daemon, &owner.token, json!({ "hashHex": hash }));
    let verified = verify_hash(&daemon, &hash, &str_field(&stamped, "tsrBase64"));
    assert_eq!(verified["valid"], true, "{verified}");
}
