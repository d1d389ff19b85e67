//! Timestamping, part 2: remote TSAs through the tsa-http plugin, against loopback stand-ins. Failover past every
//! failure class, the 502 body when all fail, the failure log, round-robin, the tenant allowlist, monthly quotas
//! and qualified routing.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{Daemon, assert_error, assert_invalid_field, str_field};
use crate::timestamping::{
    LOCAL_NAME, SHA256_OID, Scratch, fresh_hash, provider, put, split_chain, stamp, stamp_ok,
    start, unbase64, wait_local_tsa,
};
use crate::tsa_standins::{Behaviour, OpensslTsa, StandIn, dead_url};

/// The attempt deadline of the failover tests; the slow stand-in answers long after it.
const ATTEMPT_TIMEOUT: &str = "2s";
const SLOW: Duration = Duration::from_secs(8);

/// A good openssl-backed stand-in.
fn good(name: &str, policy: &str) -> (Arc<OpensslTsa>, StandIn) {
    let tsa = OpensslTsa::new(name, policy);
    let server = StandIn::start(Behaviour::Tsa(tsa.clone()));
    (tsa, server)
}

/// Verifies a stamp's token with openssl against a stand-in's own root and TSA certificate.
#[track_caller]
fn assert_verifies_with(tsa: &OpensslTsa, body: &Value) {
    let scratch = Scratch::new();
    let root = tsa.root_pem();
    let cert = tsa.tsa_pem();
    scratch.verify_digest(
        &unbase64(&str_field(body, "tsrBase64")),
        body["hashHex"].as_str().expect("hashHex"),
        root.to_str().unwrap(),
        cert.to_str().unwrap(),
    );
}

/// Compares two PEM certificates by content, ignoring line wrapping.
fn same_pem(a: &str, b: &str) -> bool {
    let compact = |s: &str| s.split_whitespace().collect::<String>();
    compact(a) == compact(b)
}

/// `GET /api/tsa/health` entry of `slug`, once its failure count reaches `failures` (failures are logged
/// asynchronously).
#[track_caller]
fn health_of(daemon: &Daemon, token: &str, slug: &str, failures: u64) -> Value {
    for _ in 0..200 {
        let health = daemon.get("/api/tsa/health", token).expect(200);
        let entry = health["providers"]
            .as_array()
            .expect("providers array")
            .iter()
            .find(|p| p["slug"] == slug)
            .cloned()
            .unwrap_or_else(|| panic!("no {slug} in {health}"));
        if entry["failureCount"].as_u64().unwrap_or(0) >= failures {
            return entry;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{slug} never showed {failures} failure(s) in /api/tsa/health");
}

/// The error classes an entry of `/api/tsa/health` shows, from the node's and the log's recent failures.
fn classes(entry: &Value) -> HashSet<String> {
    let mut found = HashSet::new();
    for list in [&entry["node"]["recentFailures"], &entry["recentFailures"]] {
        for failure in list.as_array().into_iter().flatten() {
            let class = failure["errorClass"]
                .as_str()
                .or(failure["error_class"].as_str());
            if let Some(class) = class {
                found.insert(class.to_string());
            }
        }
    }
    found
}

#[test]
fn auto_fails_over_past_every_failure_class_to_the_good_tsa() {
    let (good_tsa, good_server) = good("Good TSA", "1.3.6.1.4.1.32473.7");
    let slow = StandIn::start(Behaviour::Slow(SLOW));
    let unavailable = StandIn::start(Behaviour::Status(503));
    let garbage = StandIn::start(Behaviour::Garbage);
    let dead = dead_url();
    let daemon = start(&format!(
        "[tsa]\nattempt_timeout = \"{ATTEMPT_TIMEOUT}\"\n\n[local_tsa]\nenabled = false\n{}{}{}{}{}",
        provider("dead", "Dead TSA", &dead, ""),
        provider("slow", "Slow TSA", &slow.url(), ""),
        provider("unavailable", "Unavailable TSA", &unavailable.url(), ""),
        provider("garbage", "Garbage TSA", &garbage.url(), ""),
        provider("good", "Good TSA", &good_server.url(), &good_tsa.anchor()),
    ));
    let owner = daemon.owner_with_tenant();

    // The public provider list shows exactly the configured, enabled remote TSAs.
    let services = daemon.get_public("/proxy/services").expect(200);
    let listed: Vec<&str> = services
        .as_array()
        .expect("an array")
        .iter()
        .map(|s| s["proxySlug"].as_str().expect("proxySlug"))
        .collect();
    assert_eq!(
        listed,
        ["dead", "slow", "unavailable", "garbage", "good"],
        "{services}"
    );
    for service in services.as_array().unwrap() {
        assert_eq!(service["isActive"], true, "{service}");
        assert_eq!(service["preferredHashOid"], SHA256_OID, "{service}");
        assert!(service["name"].as_str().is_some_and(|n| n.ends_with("TSA")));
        assert!(uuid::Uuid::parse_str(service["id"].as_str().unwrap()).is_ok());
    }
    let good_entry = &services.as_array().unwrap()[4];
    assert_eq!(good_entry["endpointUrl"], good_server.url());
    assert_eq!(good_entry["name"], "Good TSA");

    // Five consecutive stamps start the rotation at every provider in turn; each ends at the good TSA.
    for _ in 0..5 {
        let body = stamp_ok(&daemon, &owner.token, json!({ "hashHex": fresh_hash() }));
        assert_eq!(body["tsaSlug"], "good", "{body}");
        assert_eq!(body["tsaName"], "Good TSA", "{body}");
        assert_verifies_with(&good_tsa, &body);
    }
    assert_eq!(good_server.hits(), 5);
    for (name, server) in [
        ("slow", &slow),
        ("unavailable", &unavailable),
        ("garbage", &garbage),
    ] {
        assert!(server.hits() >= 1, "{name} was never tried");
    }

    // The failure log classifies every failure.
    for (slug, class) in [
        ("dead", "network"),
        ("slow", "timeout"),
        ("unavailable", "http_status"),
        ("garbage", "parse"),
    ] {
        let entry = health_of(&daemon, &owner.token, slug, 1);
        let seen = classes(&entry);
        assert!(
            seen.contains(class),
            "{slug} should show {class}, shows {seen:?}: {entry}"
        );
        assert_eq!(entry["successCount"], 0, "{entry}");
        if slug == "unavailable" {
            let node_failures = entry["node"]["recentFailures"].as_array().unwrap();
            assert!(
                node_failures.iter().all(|f| f["statusCode"] == 503),
                "{entry}"
            );
        }
    }
    let good_health = health_of(&daemon, &owner.token, "good", 0);
    assert_eq!(good_health["successCount"], 5, "{good_health}");
    assert_eq!(good_health["failureCount"], 0, "{good_health}");

    // The provider's chain is now known: the stand-in's TSA certificate first.
    let reply = daemon.get_public("/proxy/services/good/certificates");
    assert_eq!(reply.status, 200, "{}", reply.text);
    let chain = reply.text;
    let certs = split_chain(&chain);
    let expected = std::fs::read_to_string(good_tsa.tsa_pem()).unwrap();
    assert!(same_pem(&certs[0], &expected), "{chain}\nvs\n{expected}");
    // Health is for owners only.
    let key = daemon.api_key(&owner.token, "live");
    assert_error(&daemon.get("/api/tsa/health", &key), 403, "FORBIDDEN");
}

#[test]
fn auto_with_only_failing_tsas_is_502_with_every_attempt() {
    let slow = StandIn::start(Behaviour::Slow(SLOW));
    let unavailable = StandIn::start(Behaviour::Status(503));
    let garbage = StandIn::start(Behaviour::Garbage);
    let dead = dead_url();
    let daemon = start(&format!(
        "[tsa]\nattempt_timeout = \"{ATTEMPT_TIMEOUT}\"\n\n[local_tsa]\nenabled = false\n{}{}{}{}",
        provider("dead", "Dead TSA", &dead, ""),
        provider("slow", "Slow TSA", &slow.url(), ""),
        provider("unavailable", "Unavailable TSA", &unavailable.url(), ""),
        provider("garbage", "Garbage TSA", &garbage.url(), ""),
    ));
    let owner = daemon.owner_with_tenant();
    let hash = fresh_hash();
    let reply = stamp(&daemon, &owner.token, json!({ "hashHex": hash }));
    assert_eq!(reply.status, 502, "{}", reply.text);
    let body = reply.json();
    assert_eq!(body["message"], "All enabled TSAs failed.", "{body}");
    assert_eq!(body["attemptsTried"], 4, "{body}");
    let failures = body["failures"].as_array().expect("failures array");
    assert_eq!(failures.len(), 4, "{body}");
    let mut seen = HashSet::new();
    for failure in failures {
        for field in ["tsa", "errorClass", "statusCode", "message", "latencyMs"] {
            assert!(
                failure.as_object().unwrap().contains_key(field),
                "`{field}` missing in {failure}"
            );
        }
        assert!(
            failure["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{failure}"
        );
        assert!(failure["latencyMs"].is_u64(), "{failure}");
        let (class, status) = match failure["tsa"].as_str().unwrap() {
            "Dead TSA" => ("network", Some(Value::Null)),
            "Slow TSA" => ("timeout", Some(Value::Null)),
            "Unavailable TSA" => ("http_status", Some(json!(503))),
            // The seed allows the carrying 2xx here ("when known"); either is fine.
            "Garbage TSA" => ("parse", None),
            other => panic!("unexpected TSA {other}: {body}"),
        };
        assert_eq!(failure["errorClass"], class, "{failure}");
        if let Some(status) = status {
            assert_eq!(failure["statusCode"], status, "{failure}");
        } else {
            assert!(
                failure["statusCode"].is_null() || failure["statusCode"] == 200,
                "{failure}"
            );
        }
        seen.insert(failure["tsa"].as_str().unwrap().to_string());
    }
    assert_eq!(seen.len(), 4, "every provider is attempted once: {body}");

    // A pinned failing TSA: one attempt.
    let reply = stamp(
        &daemon,
        &owner.token,
        json!({ "hashHex": hash, "tsaSlug": "unavailable" }),
    );
    assert_eq!(reply.status, 502, "{}", reply.text);
    let body = reply.json();
    assert_eq!(body["attemptsTried"], 1, "{body}");
    assert_eq!(body["failures"][0]["errorClass"], "http_status", "{body}");
    assert_eq!(body["failures"][0]["statusCode"], 503, "{body}");

    // Nothing was stored.
    let list = daemon
        .get("/api/transactions/details", &owner.token)
        .expect(200);
    assert_eq!(list["total"], 0, "{list}");
}

/// Two openssl stand-ins (`alpha`, `beta`) plus the local TSA.
fn three_good_tsas() -> (Daemon, Arc<OpensslTsa>, Arc<OpensslTsa>, [StandIn; 2]) {
    let (alpha, alpha_server) = good("Alpha TSA", "1.3.6.1.4.1.32473.7");
    let (beta, beta_server) = good("Beta TSA", "1.3.6.1.4.1.32473.8");
    let daemon = start(&format!(
        "{}{}",
        provider("alpha", "Alpha TSA", &alpha_server.url(), &alpha.anchor()),
        provider("beta", "Beta TSA", &beta_server.url(), &beta.anchor()),
    ));
    wait_local_tsa(&daemon);
    (daemon, alpha, beta, [alpha_server, beta_server])
}

#[test]
fn auto_rotates_round_robin_through_the_enabled_tsas() {
    let (daemon, alpha, beta, _servers) = three_good_tsas();
    let owner = daemon.owner_with_tenant();
    let services = daemon.get_public("/proxy/services").expect(200);
    let enabled: Vec<String> = services
        .as_array()
        .unwrap()
        .iter()
        .map(|s| str_field(s, "proxySlug"))
        .collect();
    assert_eq!(enabled, ["local", "alpha", "beta"], "{services}");

    let local_chain = wait_local_tsa(&daemon);
    let mut sequence = Vec::new();
    for _ in 0..6 {
        let body = stamp_ok(&daemon, &owner.token, json!({ "hashHex": fresh_hash() }));
        let slug = str_field(&body, "tsaSlug");
        match slug.as_str() {
            "alpha" => assert_verifies_with(&alpha, &body),
            "beta" => assert_verifies_with(&beta, &body),
            "local" => {
                assert_eq!(body["tsaName"], LOCAL_NAME);
                let scratch = Scratch::new();
                scratch.write_chain(&local_chain);
                scratch.verify_digest(
                    &unbase64(&str_field(&body, "tsrBase64")),
                    body["hashHex"].as_str().unwrap(),
                    "root.pem",
                    "tsa.pem",
                );
            }
            other => panic!("unexpected provider {other}"),
        }
        sequence.push(slug);
    }
    let n = enabled.len();
    let rotation =
        (0..n).find(|k| (0..sequence.len()).all(|i| sequence[i] == enabled[(i + k) % n]));
    assert!(
        rotation.is_some(),
        "{sequence:?} is not a rotation of {enabled:?}"
    );

    // A second tenant has its own cursor but the same rotation.
    let other = daemon.owner_with_tenant();
    let mut other_sequence = Vec::new();
    for _ in 0..3 {
        let body = stamp_ok(&daemon, &other.token, json!({ "hashHex": fresh_hash() }));
        other_sequence.push(str_field(&body, "tsaSlug"));
    }
    let mut sorted = other_sequence.clone();
    sorted.sort();
    assert_eq!(sorted, ["alpha", "beta", "local"], "{other_sequence:?}");
}

#[test]
fn the_tenant_allowlist_restricts_auto_and_explicit_choices() {
    let (daemon, _alpha, beta, _servers) = three_good_tsas();
    let owner = daemon.owner_with_tenant();
    let key = daemon.api_key(&owner.token, "live");
    let (member_token, _, member_email) = daemon.user();
    daemon.add_member(&owner.token, &owner.tenant_id, &member_email, "member");
    let member = daemon.refresh_to(&member_token, &owner.tenant_id);

    let settings = daemon.get("/api/settings", &owner.token).expect(200);
    assert_eq!(settings["enabledTsaSlugs"], json!([]), "{settings}");
    let updated = put(
        &daemon,
        "/api/settings",
        &owner.token,
        json!({ "enabledTsaSlugs": ["beta"] }),
    )
    .expect(200);
    assert_eq!(updated["enabledTsaSlugs"], json!(["beta"]), "{updated}");
    assert_eq!(
        daemon.get("/api/settings", &owner.token).expect(200)["enabledTsaSlugs"],
        json!(["beta"])
    );

    for _ in 0..3 {
        let body = stamp_ok(&daemon, &key, json!({ "hashHex": fresh_hash() }));
        assert_eq!(body["tsaSlug"], "beta", "{body}");
        assert_verifies_with(&beta, &body);
    }
    let pinned = stamp_ok(
        &daemon,
        &key,
        json!({ "hashHex": fresh_hash(), "tsaSlug": "beta" }),
    );
    assert_eq!(pinned["tsaSlug"], "beta");
    for slug in ["alpha", "local"] {
        let reply = stamp(
            &daemon,
            &key,
            json!({ "hashHex": fresh_hash(), "tsaSlug": slug }),
        );
        assert_invalid_field(&reply, "tsaSlug");
    }
    let reply = stamp(
        &daemon,
        &key,
        json!({ "hashHex": fresh_hash(), "tsaSlug": "no-such-tsa" }),
    );
    assert_invalid_field(&reply, "tsaSlug");

    // Only an owner's session may change the list, and only to known slugs.
    let reply = put(
        &daemon,
        "/api/settings",
        &owner.token,
        json!({ "enabledTsaSlugs": ["beta", "no-such-tsa"] }),
    );
    assert_invalid_field(&reply, "enabledTsaSlugs");
    for token in [&member, &key] {
        let reply = put(
            &daemon,
            "/api/settings",
            token,
            json!({ "enabledTsaSlugs": ["alpha"] }),
        );
        assert_error(&reply, 403, "FORBIDDEN");
    }
    assert_error(
        &daemon.send(
            daemon
                .client()
                .put(daemon.url("/api/settings"))
                .json(&json!({ "enabledTsaSlugs": ["alpha"] })),
        ),
        401,
        "UNAUTHORIZED",
    );
    assert_eq!(
        daemon.get("/api/settings", &owner.token).expect(200)["enabledTsaSlugs"],
        json!(["beta"]),
        "refused updates changed nothing"
    );

    // Another tenant is not restricted by this tenant's list.
    let other = daemon.owner_with_tenant();
    stamp_ok(
        &daemon,
        &other.token,
        json!({ "hashHex": fresh_hash(), "tsaSlug": "alpha" }),
    );

    // An empty list makes every active TSA eligible again.
    put(
        &daemon,
        "/api/settings",
        &owner.token,
        json!({ "enabledTsaSlugs": [] }),
    )
    .expect(200);
    let body = stamp_ok(
        &daemon,
        &key,
        json!({ "hashHex": fresh_hash(), "tsaSlug": "alpha" }),
    );
    assert_eq!(body["tsaSlug"], "alpha", "{body}");
}

#[test]
fn the_monthly_stamp_limit_answers_402() {
    let daemon = start("[tsa]\nmonthly_stamp_limit = 2\n");
    wait_local_tsa(&daemon);
    let owner = daemon.owner_with_tenant();
    let first = fresh_hash();
    stamp_ok(&daemon, &owner.token, json!({ "hashHex": first }));
    stamp_ok(&daemon, &owner.token, json!({ "hashHex": fresh_hash() }));
    let third = fresh_hash();
    let reply = stamp(&daemon, &owner.token, json!({ "hashHex": third }));
    let refused = assert_error(&reply, 402, "QUOTA_EXCEEDED");
    // Forcing is a new stamp too.
    let forced = stamp(
        &daemon,
        &owner.token,
        json!({ "hashHex": first, "force": true }),
    );
    assert_error(&forced, 402, "QUOTA_EXCEEDED");
    // Answering an existing stamp costs nothing.
    let existing = stamp_ok(&daemon, &owner.token, json!({ "hashHex": first }));
    assert_eq!(existing["existing"], true);
    // The limit is per tenant.
    let other = daemon.owner_with_tenant();
    stamp_ok(&daemon, &other.token, json!({ "hashHex": fresh_hash() }));
    // The refused stamp stored nothing.
    let lookup = daemon
        .get_public(&format!("/api/lookup/{third}"))
        .expect(200);
    assert_eq!(lookup["found"], false, "{lookup}");
    let first_records = daemon
        .get_public(&format!("/api/lookup/{first}"))
        .expect(200);
    assert_eq!(first_records["count"], 1, "{first_records}");
    // The seed's 402 body: `{"message": "Monthly stamp limit of 50 reached. Upgrade your plan to continue."}`.
    assert_eq!(
        refused["message"], "Monthly stamp limit of 2 reached. Upgrade your plan to continue.",
        "the seed's 402 body carries a top-level `message`: {refused}"
    );
}

#[test]
fn qualified_stamps_need_a_qualified_tsa() {
    let daemon = start("");
    wait_local_tsa(&daemon);
    let owner = daemon.owner_with_tenant();
    let reply = stamp(
        &daemon,
        &owner.token,
        json!({ "hashHex": fresh_hash(), "qualified": true }),
    );
    assert_invalid_field(&reply, "qualified");
    let reply = stamp(
        &daemon,
        &owner.token,
        json!({ "hashHex": fresh_hash(), "qualified": true, "tsaSlug": "local" }),
    );
    assert_invalid_field(&reply, "qualified");
    let list = daemon
        .get("/api/transactions/details", &owner.token)
        .expect(200);
    assert_eq!(list["total"], 0, "{list}");
}

/// A plain stand-in `alpha`, a qualified one `qtsa` whose configured policy is its `default_policy`, and local.
fn with_a_qualified_tsa(extra: &str) -> (Daemon, Arc<OpensslTsa>, [StandIn; 2]) {
    const QUALIFIED_POLICY: &str = "0.4.0.2023.1.1";
    let (alpha, alpha_server) = good("Alpha TSA", "1.3.6.1.4.1.32473.7");
    let (qualified, qualified_server) = good("Qualified TSA", QUALIFIED_POLICY);
    let daemon = start(&format!(
        "{extra}\n{}{}",
        provider("alpha", "Alpha TSA", &alpha_server.url(), &alpha.anchor()),
        provider(
            "qtsa",
            "Qualified TSA",
            &qualified_server.url(),
            &format!(
                "qualified = true\npolicy_oid = \"{QUALIFIED_POLICY}\"\n{}",
                qualified.anchor()
            )
        ),
    ));
    wait_local_tsa(&daemon);
    (daemon, qualified, [alpha_server, qualified_server])
}

#[test]
fn qualified_stamps_go_only_to_qualified_tsas() {
    let (daemon, qualified, _servers) = with_a_qualified_tsa("");
    let owner = daemon.owner_with_tenant();
    let services = daemon.get_public("/proxy/services").expect(200);
    let qtsa = services
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["proxySlug"] == "qtsa")
        .cloned()
        .expect("qtsa listed");
    assert_eq!(qtsa["qualified"], true, "{qtsa}");
    for _ in 0..3 {
        let body = stamp_ok(
            &daemon,
            &owner.token,
            json!({ "hashHex": fresh_hash(), "qualified": true }),
        );
        assert_eq!(body["tsaSlug"], "qtsa", "{body}");
        assert_eq!(body["qualified"], true, "{body}");
        assert_eq!(body["policyOid"], qualified.policy, "{body}");
        assert_verifies_with(&qualified, &body);
        let scratch = Scratch::new();
        let text = scratch.reply_text(&unbase64(&str_field(&body, "tsrBase64")));
        assert!(
            text.contains(&format!("Policy OID: {}", qualified.policy)),
            "{text}"
        );
    }
    // A non-qualified request is answered as non-qualified, wherever it lands.
    for _ in 0..3 {
        let body = stamp_ok(&daemon, &owner.token, json!({ "hashHex": fresh_hash() }));
        if body["tsaSlug"] != "qtsa" {
            assert_eq!(body["qualified"], false, "{body}");
            assert_eq!(body["policyOid"], Value::Null, "{body}");
        }
    }
    // A pinned non-qualified TSA cannot give a qualified stamp.
    let reply = stamp(
        &daemon,
        &owner.token,
        json!({ "hashHex": fresh_hash(), "qualified": true, "tsaSlug": "alpha" }),
    );
    assert_invalid_field(&reply, "qualified");
    // A tenant that excludes the qualified TSA has none.
    put(
        &daemon,
        "/api/settings",
        &owner.token,
        json!({ "enabledTsaSlugs": ["alpha", "local"] }),
    )
    .expect(200);
    let reply = stamp(
        &daemon,
        &owner.token,
        json!({ "hashHex": fresh_hash(), "qualified": true }),
    );
    assert_invalid_field(&reply, "qualified");
}

#[test]
fn the_monthly_qualified_limit_answers_402_and_leaves_plain_stamps() {
    let (daemon, _qualified, _servers) =
        with_a_qualified_tsa("[tsa]\nmonthly_qualified_limit = 1\n");
    let owner = daemon.owner_with_tenant();
    let body = stamp_ok(
        &daemon,
        &owner.token,
        json!({ "hashHex": fresh_hash(), "qualified": true }),
    );
    assert_eq!(body["qualified"], true, "{body}");
    let reply = stamp(
        &daemon,
        &owner.token,
        json!({ "hashHex": fresh_hash(), "qualified": true }),
    );
    let error = assert_error(&reply, 402, "QUOTA_EXCEEDED");
    let message = error["message"]
        .as_str()
        .or(error["error"].as_str())
        .unwrap_or_default();
    assert!(
        message.contains("limit of 1") && message.contains("qualified"),
        "{error}"
    );
    // Plain stamps have their own (unlimited) quota.
    stamp_ok(&daemon, &owner.token, json!({ "hashHex": fresh_hash() }));
}

#[test]
fn concurrent_stamps_never_exceed_the_monthly_limit() {
    let daemon = Arc::new(start("[tsa]\nmonthly_stamp_limit = 3\n"));
    wait_local_tsa(&daemon);
    let owner = daemon.owner_with_tenant();
    let key = daemon.api_key(&owner.token, "live");
    let barrier = Arc::new(std::sync::Barrier::new(8));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (daemon, key, barrier) = (daemon.clone(), key.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                stamp(&daemon, &key, json!({ "hashHex": fresh_hash() })).status
            })
        })
        .collect();
    let mut statuses: Vec<u16> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 200, 200, 402, 402, 402, 402, 402]);
}

#[test]
fn failed_stamps_do_not_use_the_quota() {
    let (good_tsa, good_server) = good("Good TSA", "1.3.6.1.4.1.32473.7");
    let unavailable = StandIn::start(Behaviour::Status(503));
    let daemon = start(&format!(
        "[tsa]\nmonthly_stamp_limit = 1\n\n[local_tsa]\nenabled = false\n{}{}",
        provider("unavailable", "Unavailable TSA", &unavailable.url(), ""),
        provider("good", "Good TSA", &good_server.url(), &good_tsa.anchor()),
    ));
    let owner = daemon.owner_with_tenant();
    for _ in 0..3 {
        let reply = stamp(
            &daemon,
            &owner.token,
            json!({ "hashHex": fresh_hash(), "tsaSlug": "unavailable" }),
        );
        assert_eq!(reply.status, 502, "{}", reply.text);
    }
    let body = stamp_ok(
        &daemon,
        &owner.token,
        json!({ "hashHex": fresh_hash(), "tsaSlug": "good" }),
    );
    assert_eq!(body["tsaSlug"], "good");
    let reply = stamp(&daemon, &owner.token, json!({ "hashHex": fresh_hash() }));
    assert_error(&reply, 402, "QUOTA_EXCEEDED");
}

#[test]
fn a_request_that_names_one_failing_tsa_says_the_requested_tsa_failed() {
    let dead = dead_url();
    let (good_tsa, good_server) = good("Good TSA", "1.3.6.1.4.1.32473.7");
    let daemon = start(&format!(
        "[tsa]\nattempt_timeout = \"{ATTEMPT_TIMEOUT}\"\n\n[local_tsa]\nenabled = false\n{}{}",
        provider("dead", "Dead TSA", &dead, ""),
        provider("good", "Good TSA", &good_server.url(), &good_tsa.anchor()),
    ));
    let owner = daemon.owner_with_tenant();
    let reply = stamp(
        &daemon,
        &owner.token,
        json!({ "hashHex": fresh_hash(), "tsaSlug": "dead" }),
    );
    assert_eq!(reply.status, 502, "{}", reply.text);
    let body = reply.json();
    // The seed's body shape, with a message that does not claim every enabled TSA was tried.
    assert_eq!(body["message"], "The requested TSA failed.", "{body}");
    assert_eq!(body["error"], body["message"], "{body}");
    assert_eq!(body["code"], "ALL_TSAS_FAILED", "{body}");
    assert_eq!(body["attemptsTried"], 1, "{body}");
    assert_eq!(body["failures"][0]["tsa"], "Dead TSA", "{body}");
    assert_eq!(body["failures"][0]["errorClass"], "network", "{body}");
}

#[test]
fn a_provider_whose_plugin_failed_to_load_is_listed_inactive() {
    let (good_tsa, good_server) = good("Good TSA", "1.3.6.1.4.1.32473.7");
    let missing = r#"
[[tsa_providers]]
slug = "missing"
name = "Missing TSA"
plugin = "libsigil_no_such_plugin.so"
[tsa_providers.config]
url = "http://127.0.0.1:9/"
"#;
    let daemon = start(&format!(
        "{}{missing}",
        provider("good", "Good TSA", &good_server.url(), &good_tsa.anchor()),
    ));
    wait_local_tsa(&daemon);
    let services = daemon.get_public("/proxy/services").expect(200);
    let active = |slug: &str| {
        services
            .as_array()
            .expect("an array")
            .iter()
            .find(|s| s["proxySlug"] == slug)
            .unwrap_or_else(|| panic!("no {slug} in {services}"))["isActive"]
            .clone()
    };
    assert_eq!(active("missing"), false, "{services}");
    assert_eq!(active("good"), true, "{services}");
    assert_eq!(active("local"), true, "{services}");
}
