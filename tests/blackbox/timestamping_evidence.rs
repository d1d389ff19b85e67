//! Timestamping, part 5: what a stamp request means and what others may learn of it. Quotas counted in the store
//! (they survive `kill -9`), safe retries that never answer a request with a record of another meaning, only the
//! storing caller hearing `existing: false`, the tenant's evidence record by hash, and the public lookup's
//! disclosure chosen per tenant.

use std::sync::{Arc, Barrier};

use serde_json::json;

use crate::harness::{Daemon, assert_error, str_field};
use crate::timestamping::{fresh_hash, provider, put, stamp, stamp_ok, start, wait_local_tsa};
use crate::tsa_standins::{Behaviour, OpensslTsa, StandIn};

#[test]
fn the_monthly_quota_survives_kill9() {
    let mut daemon = start("[tsa]\nmonthly_stamp_limit = 3\n");
    wait_local_tsa(&daemon);
    let owner = daemon.owner_with_tenant();
    for _ in 0..3 {
        stamp_ok(&daemon, &owner.token, json!({ "hashHex": fresh_hash() }));
    }
    daemon.kill9();
    daemon.restart();
    wait_local_tsa(&daemon);
    let reply = stamp(&daemon, &owner.token, json!({ "hashHex": fresh_hash() }));
    assert_error(&reply, 402, "QUOTA_EXCEEDED");
}

/// A daemon with the local TSA and a qualified openssl stand-in `qtsa`.
fn with_qualified() -> (Daemon, StandIn) {
    const POLICY: &str = "0.4.0.2023.1.1";
    let tsa = OpensslTsa::new("Qualified TSA", POLICY);
    let server = StandIn::start(Behaviour::Tsa(tsa.clone()));
    let daemon = start(&provider(
        "qtsa",
        "Qualified TSA",
        &server.url(),
        &format!(
            "qualified = true\npolicy_oid = \"{POLICY}\"\n{}",
            tsa.anchor()
        ),
    ));
    wait_local_tsa(&daemon);
    (daemon, server)
}

#[test]
fn a_retry_is_never_answered_with_a_stamp_of_another_meaning() {
    let (daemon, _server) = with_qualified();
    let owner = daemon.owner_with_tenant();
    let hash = fresh_hash();
    let plain = stamp_ok(
        &daemon,
        &owner.token,
        json!({ "hashHex": hash, "tsaSlug": "local" }),
    );
    assert_eq!(plain["qualified"], false, "{plain}");

    // Qualified asked, a plain record exists: a new, qualified stamp.
    let qualified = stamp_ok(
        &daemon,
        &owner.token,
        json!({ "hashHex": hash, "qualified": true }),
    );
    assert_eq!(qualified["existing"], false, "{qualified}");
    assert_eq!(qualified["qualified"], true, "{qualified}");
    assert_eq!(qualified["tsaSlug"], "qtsa", "{qualified}");
    assert_ne!(qualified["id"], plain["id"]);

    // Its retry is answered by it; a plain retry by the first stamp.
    let again = stamp_ok(
        &daemon,
        &owner.token,
        json!({ "hashHex": hash, "qualified": true }),
    );
    assert_eq!(
        (&again["existing"], &again["id"]),
        (&json!(true), &qualified["id"])
    );
    let plain_again = stamp_ok(&daemon, &owner.token, json!({ "hashHex": hash }));
    assert_eq!(
        (&plain_again["existing"], &plain_again["id"]),
        (&json!(true), &plain["id"])
    );

    // An explicit slug is answered only by that TSA's stamp.
    let by_local = stamp_ok(
        &daemon,
        &owner.token,
        json!({ "hashHex": hash, "tsaSlug": "local" }),
    );
    assert_eq!(by_local["id"], plain["id"], "{by_local}");
    let other = fresh_hash();
    stamp_ok(
        &daemon,
        &owner.token,
        json!({ "hashHex": other, "tsaSlug": "local" }),
    );
    let by_qtsa = stamp_ok(
        &daemon,
        &owner.token,
        json!({ "hashHex": other, "tsaSlug": "qtsa" }),
    );
    assert_eq!(by_qtsa["existing"], false, "{by_qtsa}");
    assert_eq!(by_qtsa["tsaSlug"], "qtsa", "{by_qtsa}");
}

#[test]
fn of_concurrent_identical_stamps_only_the_storer_hears_it_is_new() {
    let daemon = Arc::new(start(""));
    wait_local_tsa(&daemon);
    let owner = daemon.owner_with_tenant();
    let key = daemon.api_key(&owner.token, "live");
    let hash = fresh_hash();
    const CALLERS: usize = 24;
    let barrier = Arc::new(Barrier::new(CALLERS));
    let threads: Vec<_> = (0..CALLERS)
        .map(|_| {
            let (daemon, key, barrier, hash) =
                (daemon.clone(), key.clone(), barrier.clone(), hash.clone());
            std::thread::spawn(move || {
                barrier.wait();
                stamp_ok(&daemon, &key, json!({ "hashHex": hash }))
            })
        })
        .collect();
    let bodies: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let new: Vec<_> = bodies.iter().filter(|b| b["existing"] == false).collect();
    assert_eq!(
        new.len(),
        1,
        "exactly one caller stored the record: {bodies:?}"
    );
    for body in &bodies {
        assert_eq!(body["id"], new[0]["id"], "{body}");
    }
}

#[test]
fn the_evidence_record_by_hash_is_the_tenants_newest() {
    let daemon = start("");
    wait_local_tsa(&daemon);
    let owner = daemon.owner_with_tenant();
    let hash = fresh_hash();
    assert_error(
        &daemon.get(&format!("/api/transactions/by-hash/{hash}"), &owner.token),
        404,
        "NOT_FOUND",
    );
    let first = stamp_ok(
        &daemon,
        &owner.token,
        json!({ "hashHex": hash, "label": "contract.pdf" }),
    );
    let forced = stamp_ok(
        &daemon,
        &owner.token,
        json!({ "hashHex": hash, "force": true, "label": "again" }),
    );
    let record = daemon
        .get(&format!("/api/transactions/by-hash/{hash}"), &owner.token)
        .expect(200);
    assert_eq!(record["id"], forced["id"], "newest first: {record}");
    assert_ne!(record["id"], first["id"]);
    assert_eq!(record["hash"], hash.as_str());
    assert_eq!(record["alg"], "2.16.840.1.101.3.4.2.1");
    assert_eq!(record["genTime"], forced["genTime"]);
    assert_eq!(record["createdAt"], forced["createdAt"]);
    assert_eq!(record["label"], "again");
    assert_eq!(record["isRestamp"], false);
    assert_eq!(record["hasTsr"], true);
    for field in ["certNotBefore", "certNotAfter", "tsaName"] {
        assert!(record[field].is_string(), "{field}: {record}");
    }

    // A restamp's record says so.
    let restamp = daemon
        .post(
            "/tsa/restamp",
            &owner.token,
            json!({ "transactionId": str_field(&first, "id") }),
        )
        .expect(200);
    let restamped = daemon
        .get(
            &format!(
                "/api/transactions/by-hash/{}",
                str_field(&restamp, "hashHex")
            ),
            &owner.token,
        )
        .expect(200);
    assert_eq!(restamped["isRestamp"], true, "{restamped}");

    // Another tenant has no record of that hash.
    let other = daemon.owner_with_tenant();
    assert_error(
        &daemon.get(&format!("/api/transactions/by-hash/{hash}"), &other.token),
        404,
        "NOT_FOUND",
    );
}

#[test]
fn the_public_lookup_discloses_what_each_tenant_chose() {
    let daemon = start("");
    wait_local_tsa(&daemon);
    let hash = fresh_hash();
    let mut ids = Vec::new();
    for (disclosure, label) in [
        (None, "existence by default"),
        (Some("off"), "hidden"),
        (Some("full"), "shown"),
    ] {
        let owner = daemon.owner_with_tenant();
        if let Some(disclosure) = disclosure {
            let settings = put(
                &daemon,
                "/api/settings",
                &owner.token,
                json!({ "publicLookup": disclosure }),
            )
            .expect(200);
            assert_eq!(settings["publicLookup"], disclosure, "{settings}");
        }
        let stamped = stamp_ok(
            &daemon,
            &owner.token,
            json!({ "hashHex": hash, "label": label }),
        );
        ids.push(str_field(&stamped, "id"));
    }
    let found = daemon
        .get_public(&format!("/api/lookup/{hash}"))
        .expect(200);
    assert_eq!(found["found"], true, "{found}");
    assert_eq!(
        found["count"], 2,
        "the `off` tenant is not counted: {found}"
    );
    let text = found.to_string();
    assert!(
        !text.contains("hidden") && !text.contains(&ids[1]),
        "{found}"
    );
    assert!(
        !text.contains("existence by default") && !text.contains(&ids[0]),
        "{found}"
    );
    assert!(text.contains("shown") && text.contains(&ids[2]), "{found}");
    for record in found["records"].as_array().unwrap() {
        for field in ["genTime", "tsaName", "certNotAfter", "tsrBase64"] {
            assert!(record[field].is_string(), "{field}: {record}");
        }
    }
    // Bad values are refused by name.
    let owner = daemon.owner_with_tenant();
    let reply = put(
        &daemon,
        "/api/settings",
        &owner.token,
        json!({ "publicLookup": "everything" }),
    );
    crate::harness::assert_invalid_field(&reply, "publicLookup");
}
