//! Timestamping, part 3: what happens to stamps afterwards. Archival restamps, public verification and
//! inspection (of the daemon's tokens and of openssl's), public lookup, the transaction list with paging, search
//! and labels, tenant isolation of all of it, and durability across `kill -9`.

use std::collections::HashSet;

use serde_json::{Value, json};

use crate::harness::{Daemon, assert_error, assert_invalid_field, str_field};
use crate::timestamping::{
    SHA256_OID, SHA512_OID, Scratch, base64, fresh_hash, hex_to_decimal, line_value, put,
    sha256_hex, sha512_hex, stamp_ok, start, unbase64, wait_local_tsa,
};
use crate::tsa_standins::{OpensslTsa, openssl_fails, openssl_ok};

fn restamp(daemon: &Daemon, token: &str, body: Value) -> crate::harness::Reply {
    daemon.post("/tsa/restamp", token, body)
}

#[test]
fn restamp_chains_a_new_record_to_the_original() {
    let daemon = start("");
    let chain = wait_local_tsa(&daemon);
    let owner = daemon.owner_with_tenant();
    let key = daemon.api_key(&owner.token, "live");
    let original = stamp_ok(
        &daemon,
        &key,
        json!({ "hashHex": fresh_hash(), "label": "deed.pdf" }),
    );
    let original_id = str_field(&original, "id");

    let first = restamp(&daemon, &key, json!({ "transactionId": original_id })).expect(200);
    let first_id = str_field(&first, "id");
    assert_ne!(first_id, original_id);
    assert_eq!(first["parentTransactionId"], original_id, "{first}");
    assert!(first["tsaName"].as_str().is_some_and(|n| !n.is_empty()));
    chrono::DateTime::parse_from_rfc3339(first["genTime"].as_str().unwrap()).unwrap();
    // RFC 3161 §4: the new token covers the old token's bytes (SHA-512 of the stored TSR).
    let expected = sha512_hex(&unbase64(&str_field(&original, "tsrBase64")));
    assert_eq!(first["hashHex"], expected, "{first}");
    assert_eq!(first["hashAlgorithmOid"], SHA512_OID, "{first}");
    let scratch = Scratch::new();
    scratch.write_chain(&chain);
    scratch.verify_digest(
        &unbase64(&str_field(&first, "tsrBase64")),
        &expected,
        "root.pem",
        "tsa.pem",
    );

    // A restamp of the restamp, pinned to a slug; the original shows the whole chain.
    let second = restamp(
        &daemon,
        &owner.token,
        json!({ "transactionId": first_id, "tsaSlug": "local" }),
    )
    .expect(200);
    assert_eq!(second["parentTransactionId"], first_id, "{second}");
    let shown = daemon
        .get(&format!("/api/transactions/{original_id}"), &key)
        .expect(200);
    assert_eq!(shown["id"], original_id);
    assert_eq!(shown["parentTransactionId"], Value::Null, "{shown}");
    let restamps = shown["restamps"].as_array().expect("restamps array");
    let ids: HashSet<&str> = restamps.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert!(
        ids.contains(first_id.as_str()) && ids.contains(second["id"].as_str().unwrap()),
        "{shown}"
    );
    let shown_first = restamps
        .iter()
        .find(|r| r["id"] == first_id.as_str())
        .unwrap();
    assert_eq!(shown_first["parentTransactionId"], original_id);

    // Not found: another tenant's record, a malformed id, an unknown id.
    let other = daemon.owner_with_tenant();
    assert_error(
        &restamp(
            &daemon,
            &other.token,
            json!({ "transactionId": original_id }),
        ),
        404,
        "NOT_FOUND",
    );
    for id in [
        "not-a-uuid",
        "../../etc",
        "",
        &uuid::Uuid::new_v4().to_string(),
    ] {
        assert_error(
            &restamp(&daemon, &key, json!({ "transactionId": id })),
            404,
            "NOT_FOUND",
        );
    }
    assert_invalid_field(&restamp(&daemon, &key, json!({})), "transactionId");
    // The failed attempts stored nothing.
    let list = daemon.get("/api/transactions/details", &key).expect(200);
    assert_eq!(list["total"], 3, "{list}");
}

#[test]
fn verify_hash_accepts_the_right_file_and_refuses_everything_else() {
    let daemon = start("");
    let chain = wait_local_tsa(&daemon);
    let owner = daemon.owner_with_tenant();
    let hash = fresh_hash();
    let stamped = stamp_ok(&daemon, &owner.token, json!({ "hashHex": hash }));
    let tsr = str_field(&stamped, "tsrBase64");
    let verify = |body: Value| daemon.post_public("/tsa/verify-hash", body);

    for provided in [hash.clone(), hash.to_ascii_uppercase()] {
        let body = verify(json!({ "fileHashHex": provided, "tsrBase64": tsr })).expect(200);
        assert_eq!(body["valid"], true, "{body}");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
        let details = &body["details"];
        assert_eq!(details["serial"], stamped["serial"], "{body}");
        assert_eq!(details["genTime"], stamped["genTime"], "{body}");
        assert_eq!(details["hashAlgorithmOid"], SHA256_OID, "{body}");
        assert_eq!(details["claimedHashHex"], hash, "{body}");
        assert_eq!(details["providedHashHex"], hash, "{body}");
        assert_eq!(details["hashMatch"], true, "{body}");
    }

    let other = fresh_hash();
    let body = verify(json!({ "fileHashHex": other, "tsrBase64": tsr })).expect(200);
    assert_eq!(body["valid"], false, "{body}");
    assert_eq!(body["details"]["hashMatch"], false, "{body}");
    assert_eq!(body["details"]["claimedHashHex"], hash, "{body}");
    assert_eq!(body["details"]["providedHashHex"], other, "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));

    // One flipped bit in the signature (the last bytes of the TimeStampResp): the oracle refuses it, and so must
    // the daemon, while still parsing it.
    let mut tampered = unbase64(&tsr);
    *tampered.last_mut().unwrap() ^= 0x01;
    let scratch = Scratch::new();
    scratch.write_chain(&chain);
    scratch.write("tampered.tsr", &tampered);
    openssl_fails(
        scratch.path(),
        &[
            "ts",
            "-verify",
            "-digest",
            &hash,
            "-in",
            "tampered.tsr",
            "-CAfile",
            "root.pem",
            "-untrusted",
            "tsa.pem",
        ],
    );
    let body = verify(json!({ "fileHashHex": hash, "tsrBase64": base64(&tampered) })).expect(200);
    assert_eq!(body["valid"], false, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert_eq!(body["details"]["hashMatch"], true, "{body}");

    // Bad input is 400, never 500.
    let half = unbase64(&tsr);
    let truncated = base64(&half[..half.len() / 2]);
    for bad in [
        "!!! not base64 !!!".to_string(),
        String::new(),
        base64(b"hello world, not a token"),
        base64(&[0x30, 0x03, 0x02, 0x01, 0x00]),
        truncated,
    ] {
        let reply = verify(json!({ "fileHashHex": hash, "tsrBase64": bad }));
        assert_invalid_field(&reply, "tsrBase64");
    }
    for bad in ["xyz", ""] {
        let reply = verify(json!({ "fileHashHex": bad, "tsrBase64": tsr }));
        assert_invalid_field(&reply, "fileHashHex");
    }
    assert_error(&verify(json!({ "tsrBase64": tsr })), 400, "INVALID_REQUEST");
}

/// `notBefore=2026-04-28 12:00:00Z` (openssl `-dateopt iso_8601`) as a UTC time.
fn openssl_date(text: &str, field: &str) -> chrono::DateTime<chrono::Utc> {
    let value = line_value(text, &format!("{field}="));
    chrono::NaiveDateTime::parse_from_str(&value, "%Y-%m-%d %H:%M:%SZ")
        .unwrap_or_else(|e| panic!("{value}: {e}"))
        .and_utc()
}

fn iso(value: &Value) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(value.as_str().expect("a time string"))
        .unwrap_or_else(|e| panic!("{value} is not ISO 8601: {e}"))
        .to_utc()
}

#[test]
fn inspect_reads_daemon_tokens_and_openssl_tokens() {
    let daemon = start("");
    let chain = wait_local_tsa(&daemon);
    let owner = daemon.owner_with_tenant();
    let hash = fresh_hash();
    let stamped = stamp_ok(&daemon, &owner.token, json!({ "hashHex": hash }));
    let inspect = |tsr: &str| daemon.post_public("/tsa/inspect", json!({ "tsrBase64": tsr }));

    let body = inspect(stamped["tsrBase64"].as_str().unwrap()).expect(200);
    assert_eq!(body["genTime"], stamped["genTime"], "{body}");
    assert_eq!(body["serial"], stamped["serial"], "{body}");
    assert_eq!(body["hashAlg"], SHA256_OID, "{body}");
    assert!(
        body["tsaName"]
            .as_str()
            .is_some_and(|n| n.contains("Sigil Local TSA")),
        "{body}"
    );
    // The validity is the TSA certificate's, as openssl reads it.
    let scratch = Scratch::new();
    scratch.write_chain(&chain);
    let dates = openssl_ok(
        scratch.path(),
        &[
            "x509",
            "-in",
            "tsa.pem",
            "-noout",
            "-startdate",
            "-enddate",
            "-dateopt",
            "iso_8601",
        ],
    );
    assert_eq!(
        iso(&body["certNotBefore"]),
        openssl_date(&dates, "notBefore"),
        "{body}"
    );
    assert_eq!(
        iso(&body["certNotAfter"]),
        openssl_date(&dates, "notAfter"),
        "{body}"
    );

    // A token openssl made on its own, over SHA-512.
    let tsa = OpensslTsa::new("Inspect TSA", "1.3.6.1.4.1.32473.42");
    scratch.write("doc.txt", "a document stamped by openssl");
    openssl_ok(
        scratch.path(),
        &[
            "ts", "-query", "-data", "doc.txt", "-sha512", "-cert", "-out", "o.tsq",
        ],
    );
    let token = tsa
        .reply(&std::fs::read(scratch.path().join("o.tsq")).unwrap())
        .expect("openssl answers");
    let text = scratch.reply_text(&token);
    let body = inspect(&base64(&token)).expect(200);
    assert_eq!(body["hashAlg"], SHA512_OID, "{body}");
    assert_eq!(
        body["serial"],
        hex_to_decimal(&line_value(&text, "Serial number:")),
        "{body}\n{text}"
    );
    let stamped_at = line_value(&text, "Time stamp:")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let expected_time = chrono::NaiveDateTime::parse_from_str(&stamped_at, "%b %d %H:%M:%S %Y GMT")
        .unwrap_or_else(|e| panic!("{stamped_at}: {e}"))
        .and_utc();
    assert_eq!(
        iso(&body["genTime"]).timestamp(),
        expected_time.timestamp(),
        "{body}\n{text}"
    );
    assert!(
        body["tsaName"]
            .as_str()
            .is_some_and(|n| n.contains("Inspect TSA")),
        "{body}"
    );
    let tsa_dates = openssl_ok(
        tsa.dir(),
        &[
            "x509",
            "-in",
            "tsa.pem",
            "-noout",
            "-startdate",
            "-enddate",
            "-dateopt",
            "iso_8601",
        ],
    );
    assert_eq!(
        iso(&body["certNotAfter"]),
        openssl_date(&tsa_dates, "notAfter")
    );
    assert_eq!(
        iso(&body["certNotBefore"]),
        openssl_date(&tsa_dates, "notBefore")
    );
    // verify-hash agrees that this token covers the document, but it is valid only where the operator anchored
    // that TSA's root.
    let document_hash = sha512_hex(b"a document stamped by openssl");
    let verify = |daemon: &Daemon| {
        daemon
            .post_public(
                "/tsa/verify-hash",
                json!({ "fileHashHex": document_hash, "tsrBase64": base64(&token) }),
            )
            .expect(200)
    };
    let verified = verify(&daemon);
    assert_eq!(verified["details"]["hashMatch"], true, "{verified}");
    assert_eq!(verified["valid"], false, "{verified}");
    assert_eq!(verified["indication"], "INDETERMINATE", "{verified}");
    let anchored = start(&format!(
        "[tsa]\ntrust_roots_file = \"{}\"",
        tsa.root_pem().display()
    ));
    let verified = verify(&anchored);
    assert_eq!(verified["valid"], true, "{verified}");
    assert_eq!(verified["indication"], "PASSED", "{verified}");

    // Garbage is 400, never 500.
    for bad in ["%%%", "", &base64(b"not a token")] {
        assert_invalid_field(&inspect(bad), "tsrBase64");
    }
}

#[test]
fn lookup_finds_stamped_hashes_without_credentials() {
    let daemon = start("");
    wait_local_tsa(&daemon);
    let owner = daemon.owner_with_tenant();
    // Labels and ids are shown only by tenants that chose full disclosure.
    crate::timestamping::put(
        &daemon,
        "/api/settings",
        &owner.token,
        json!({ "publicLookup": "full" }),
    )
    .expect(200);
    let data = uuid::Uuid::new_v4();
    let short = sha256_hex(data.as_bytes());
    let long = sha512_hex(data.as_bytes());
    let short_stamp = stamp_ok(
        &daemon,
        &owner.token,
        json!({ "hashHex": short, "label": "short" }),
    );
    let long_stamp = stamp_ok(
        &daemon,
        &owner.token,
        json!({ "hashHex": long, "label": "long" }),
    );
    for (hash, stamp, label) in [
        (&short, &short_stamp, "short"),
        (&long, &long_stamp, "long"),
    ] {
        for path_hash in [hash.clone(), hash.to_ascii_uppercase()] {
            let found = daemon
                .get_public(&format!("/api/lookup/{path_hash}"))
                .expect(200);
            assert_eq!(found["found"], true, "{found}");
            assert_eq!(found["count"], 1, "{found}");
            let latest = &found["latest"];
            assert_eq!(latest["id"], stamp["id"], "{found}");
            assert_eq!(latest["tsaName"], stamp["tsaName"], "{found}");
            assert_eq!(latest["genTime"], stamp["genTime"], "{found}");
            assert_eq!(latest["label"], label, "{found}");
            assert_eq!(latest["tsrBase64"], stamp["tsrBase64"], "{found}");
            iso(&latest["certNotAfter"]);
            assert_eq!(found["records"].as_array().unwrap().len(), 1, "{found}");
        }
    }
    // A forced second stamp: two records, the newer one is `latest`.
    let forced = stamp_ok(
        &daemon,
        &owner.token,
        json!({ "hashHex": long, "force": true }),
    );
    let found = daemon
        .get_public(&format!("/api/lookup/{long}"))
        .expect(200);
    assert_eq!(found["count"], 2, "{found}");
    let ids: HashSet<&str> = found["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        HashSet::from([
            long_stamp["id"].as_str().unwrap(),
            forced["id"].as_str().unwrap()
        ])
    );
    assert_eq!(found["latest"]["id"], forced["id"], "{found}");

    let unknown = daemon
        .get_public(&format!("/api/lookup/{}", sha512_hex(b"never stamped")))
        .expect(200);
    assert_eq!(unknown["found"], false, "{unknown}");
    assert_eq!(unknown["count"], 0, "{unknown}");
    assert_eq!(unknown["latest"], Value::Null, "{unknown}");
    assert_eq!(unknown["records"], json!([]), "{unknown}");

    for bad in ["xyz", &"a".repeat(127), &"g".repeat(128), &"a".repeat(40)] {
        let reply = daemon.get_public(&format!("/api/lookup/{bad}"));
        assert_error(&reply, 400, "INVALID_REQUEST");
    }
}

#[test]
fn transactions_page_search_and_label() {
    let daemon = start("");
    wait_local_tsa(&daemon);
    let owner = daemon.owner_with_tenant();
    let key = daemon.api_key(&owner.token, "live");
    let mut stamps = Vec::new();
    for label in [
        Some("doc-alpha-report"),
        Some("doc-alpha-invoice"),
        Some("doc-beta-report"),
        Some("doc-gamma"),
        Some("doc-delta"),
        None,
    ] {
        let mut body = json!({ "hashHex": fresh_hash() });
        if let Some(label) = label {
            body["label"] = json!(label);
        }
        stamps.push(stamp_ok(&daemon, &key, body));
    }
    let list = |query: &str| {
        daemon
            .get(&format!("/api/transactions/details{query}"), &key)
            .expect(200)
    };
    let ids_of = |body: &Value| -> HashSet<String> {
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| str_field(i, "id"))
            .collect()
    };

    // Search: label substrings and hash prefixes.
    let alpha = list("?search=alpha");
    assert_eq!(alpha["total"], 2, "{alpha}");
    let report = list("?search=report");
    assert_eq!(
        ids_of(&report),
        HashSet::from([str_field(&stamps[0], "id"), str_field(&stamps[2], "id")])
    );
    let prefix = &stamps[5]["hashHex"].as_str().unwrap()[..12];
    let by_hash = list(&format!("?search={prefix}"));
    assert_eq!(
        ids_of(&by_hash),
        HashSet::from([str_field(&stamps[5], "id")]),
        "{by_hash}"
    );
    assert_eq!(list("?search=no-such-label")["total"], 0);

    // Paging (within a search that matches five records).
    let mut seen = HashSet::new();
    for (page, expected) in [(1, 2), (2, 2), (3, 1), (4, 0)] {
        let body = list(&format!("?search=doc-&page={page}&pageSize=2"));
        assert_eq!(body["total"], 5, "{body}");
        assert_eq!(body["page"], page, "{body}");
        assert_eq!(body["pageSize"], 2, "{body}");
        let items = body["items"].as_array().unwrap();
        assert_eq!(items.len(), expected, "{body}");
        for item in items {
            assert!(seen.insert(str_field(item, "id")), "{item} repeated");
        }
    }
    assert_eq!(seen.len(), 5);
    list("?search=doc-&pageSize=200");
    for query in ["?pageSize=201", "?pageSize=0", "?pageSize=abc"] {
        assert_invalid_field(
            &daemon.get(&format!("/api/transactions/details{query}"), &key),
            "pageSize",
        );
    }
    assert_invalid_field(
        &daemon.get("/api/transactions/details?page=0", &key),
        "page",
    );

    // Labels.
    let id = str_field(&stamps[5], "id");
    let path = format!("/api/transactions/{id}/label");
    let labelled = put(&daemon, &path, &key, json!({ "label": "renamed-later" })).expect(200);
    assert_eq!(labelled, json!({ "id": id, "label": "renamed-later" }));
    let shown = daemon
        .get(&format!("/api/transactions/{id}"), &owner.token)
        .expect(200);
    assert_eq!(shown["label"], "renamed-later", "{shown}");
    assert_eq!(
        ids_of(&list("?search=renamed")),
        HashSet::from([id.clone()])
    );
    put(
        &daemon,
        &path,
        &owner.token,
        json!({ "label": "x".repeat(255) }),
    )
    .expect(200);
    assert_invalid_field(
        &put(&daemon, &path, &key, json!({ "label": "x".repeat(256) })),
        "label",
    );
    assert_invalid_field(&put(&daemon, &path, &key, json!({})), "label");
    for unknown in [uuid::Uuid::new_v4().to_string(), "not-a-uuid".to_string()] {
        assert_error(
            &put(
                &daemon,
                &format!("/api/transactions/{unknown}/label"),
                &key,
                json!({ "label": "x" }),
            ),
            404,
            "NOT_FOUND",
        );
        assert_error(
            &daemon.get(&format!("/api/transactions/{unknown}"), &key),
            404,
            "NOT_FOUND",
        );
    }
    assert_error(
        &daemon.get_public("/api/transactions/details"),
        401,
        "UNAUTHORIZED",
    );

    // The plain listing (no search): every record, with the documented envelope and defaults.
    let all = list("");
    assert_eq!(all["total"], 6, "{all}");
    assert_eq!(all["page"], 1, "{all}");
    assert_eq!(all["pageSize"], 50, "{all}");
    assert_eq!(all["items"].as_array().unwrap().len(), 6, "{all}");
    let page = list("?page=2&pageSize=4");
    assert_eq!(page["items"].as_array().unwrap().len(), 2, "{page}");
    let mine = list(&format!("?tenantId={}", owner.tenant_id));
    assert_eq!(mine["total"], 6, "{mine}");
}

#[test]
fn transactions_are_invisible_to_other_tenants() {
    let daemon = start("");
    wait_local_tsa(&daemon);
    let a = daemon.owner_with_tenant();
    let b = daemon.owner_with_tenant();
    let b_key = daemon.api_key(&b.token, "live");
    let shared_hash = fresh_hash();
    let a_stamp = stamp_ok(
        &daemon,
        &a.token,
        json!({ "hashHex": shared_hash, "label": "secret-a" }),
    );
    let a_id = str_field(&a_stamp, "id");
    // The same hash in tenant B is B's own first stamp, not A's record.
    let b_stamp = stamp_ok(&daemon, &b_key, json!({ "hashHex": shared_hash }));
    assert_eq!(b_stamp["existing"], false, "{b_stamp}");
    assert_ne!(b_stamp["id"], a_stamp["id"]);
    let b_id = str_field(&b_stamp, "id");

    for token in [&b.token, &b_key] {
        assert_error(
            &daemon.get(&format!("/api/transactions/{a_id}"), token),
            404,
            "NOT_FOUND",
        );
        assert_error(
            &put(
                &daemon,
                &format!("/api/transactions/{a_id}/label"),
                token,
                json!({ "label": "mine now" }),
            ),
            404,
            "NOT_FOUND",
        );
        assert_error(
            &restamp(&daemon, token, json!({ "transactionId": a_id })),
            404,
            "NOT_FOUND",
        );
        assert_error(
            &daemon.get(
                &format!("/api/transactions/details?tenantId={}", a.tenant_id),
                token,
            ),
            404,
            "NOT_FOUND",
        );
        let search = daemon
            .get("/api/transactions/details?search=secret", token)
            .expect(200);
        assert_eq!(search["total"], 0, "{search}");
    }
    // A's label is untouched.
    let shown = daemon
        .get(&format!("/api/transactions/{a_id}"), &a.token)
        .expect(200);
    assert_eq!(shown["label"], "secret-a", "{shown}");
    assert_eq!(shown["restamps"], json!([]), "{shown}");
    let ids = |token: &str| -> Vec<String> {
        daemon.get("/api/transactions/details", token).expect(200)["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| str_field(i, "id"))
            .collect()
    };
    assert_eq!(ids(&a.token), [a_id]);
    assert_eq!(ids(&b.token), [b_id]);
}

#[test]
fn stamps_and_the_local_tsa_chain_survive_kill_9() {
    let mut daemon = start("");
    let chain_before = wait_local_tsa(&daemon);
    let owner = daemon.owner_with_tenant();
    let key = daemon.api_key(&owner.token, "live");
    let hash = fresh_hash();
    let stamped = stamp_ok(&daemon, &key, json!({ "hashHex": hash, "label": "kept" }));
    let id = str_field(&stamped, "id");

    daemon.kill9();
    daemon.restart();

    let chain_after = wait_local_tsa(&daemon);
    assert_eq!(
        chain_after, chain_before,
        "the local TSA must keep its key and chain"
    );
    let found = daemon
        .get("/api/transactions/details?search=kept", &key)
        .expect(200);
    assert_eq!(found["total"], 1, "{found}");
    assert_eq!(found["items"][0]["id"], id.as_str());
    let shown = daemon
        .get(&format!("/api/transactions/{id}"), &key)
        .expect(200);
    assert_eq!(shown["tsrBase64"], stamped["tsrBase64"]);
    assert_eq!(shown["label"], "kept");
    let again = stamp_ok(&daemon, &key, json!({ "hashHex": hash }));
    assert_eq!(again["existing"], true, "{again}");
    assert_eq!(again["id"], id.as_str());

    // Old and new tokens verify against the one chain.
    let fresh = fresh_hash();
    let after = stamp_ok(&daemon, &key, json!({ "hashHex": fresh }));
    let scratch = Scratch::new();
    scratch.write_chain(&chain_after);
    scratch.verify_digest(
        &unbase64(&str_field(&stamped, "tsrBase64")),
        &hash,
        "root.pem",
        "tsa.pem",
    );
    scratch.verify_digest(
        &unbase64(&str_field(&after, "tsrBase64")),
        &fresh,
        "root.pem",
        "tsa.pem",
    );
    // The plain listing (no search) has both.
    let list = daemon.get("/api/transactions/details", &key).expect(200);
    assert_eq!(list["total"], 2, "{list}");
}

/// Downloads a binary body with an API key.
fn get_bytes(daemon: &Daemon, path: &str, key: &str) -> (u16, Option<String>, Vec<u8>) {
    let response = daemon
        .client()
        .get(daemon.url(path))
        .bearer_auth(key)
        .send()
        .expect("request");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    (
        status,
        content_type,
        response.bytes().expect("body").to_vec(),
    )
}

#[test]
fn the_audit_package_holds_the_chain_checks_out_with_unzip_and_sha256sum_and_stays_in_its_tenant() {
    let daemon = start("");
    let chain = wait_local_tsa(&daemon);
    let owner = daemon.owner_with_tenant();
    let key = daemon.api_key(&owner.token, "live");
    let hash = fresh_hash();
    let original = stamp_ok(
        &daemon,
        &key,
        json!({ "hashHex": hash, "label": "deed.pdf" }),
    );
    let original_id = str_field(&original, "id");
    let restamped = restamp(&daemon, &key, json!({ "transactionId": original_id })).expect(200);
    let restamp_id = str_field(&restamped, "id");

    let (status, content_type, zip) = get_bytes(
        &daemon,
        &format!("/api/transactions/{original_id}/audit-package.zip"),
        &key,
    );
    assert_eq!(status, 200);
    assert_eq!(content_type.as_deref(), Some("application/zip"));

    // Independent tools read it: unzip lists and extracts it, sha256sum checks the manifest.
    let scratch = Scratch::new();
    scratch.write("package.zip", &zip);
    let dir = scratch.path().join("unpacked");
    let unzip = std::process::Command::new("unzip")
        .arg("-q")
        .arg(scratch.path().join("package.zip"))
        .arg("-d")
        .arg(&dir)
        .output()
        .expect("unzip runs");
    assert!(
        unzip.status.success(),
        "{}",
        String::from_utf8_lossy(&unzip.stderr)
    );
    let check = std::process::Command::new("sha256sum")
        .args(["-c", "MANIFEST.sha256"])
        .current_dir(&dir)
        .output()
        .expect("sha256sum runs");
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    let checked = String::from_utf8_lossy(&check.stdout);
    assert!(checked.contains("verification.json: OK"), "{checked}");

    // Both tokens of the chain, in order, verify with OpenSSL against the local root.
    let tokens = dir.join("tokens");
    let mut names: Vec<String> = std::fs::read_dir(&tokens)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            format!("00-{original_id}.tsr"),
            format!("01-{restamp_id}.tsr")
        ]
    );
    scratch.write_chain(&chain);
    scratch.verify_digest(
        &std::fs::read(tokens.join(&names[0])).unwrap(),
        &hash,
        "root.pem",
        "tsa.pem",
    );
    let restamp_digest = sha512_hex(&unbase64(&str_field(&original, "tsrBase64")));
    scratch.verify_digest(
        &std::fs::read(tokens.join(&names[1])).unwrap(),
        &restamp_digest,
        "root.pem",
        "tsa.pem",
    );

    // The report and the custody log say the same.
    let report: Value =
        serde_json::from_slice(&std::fs::read(dir.join("verification.json")).unwrap()).unwrap();
    let reports = report["tokens"].as_array().unwrap();
    assert_eq!(reports.len(), 2, "{report}");
    for entry in reports {
        assert_eq!(entry["indication"], "PASSED", "{entry}");
        assert_eq!(entry["valid"], true, "{entry}");
    }
    let custody: Value =
        serde_json::from_slice(&std::fs::read(dir.join("custody.json")).unwrap()).unwrap();
    assert_eq!(custody[0]["transactionId"], original_id, "{custody}");
    assert_eq!(custody[1]["parentTransactionId"], original_id, "{custody}");
    assert!(
        std::fs::read_dir(dir.join("certificates")).unwrap().count() >= 2,
        "each token's certificates are in the package"
    );

    // Another tenant cannot fetch it; a malformed id is a 404 too.
    let other = daemon.owner_with_tenant();
    let other_key = daemon.api_key(&other.token, "live");
    let (status, _, _) = get_bytes(
        &daemon,
        &format!("/api/transactions/{original_id}/audit-package.zip"),
        &other_key,
    );
    assert_eq!(status, 404);
    let (status, _, _) = get_bytes(&daemon, "/api/transactions/nope/audit-package.zip", &key);
    assert_eq!(status, 404);
}
