//! Timestamping, part 4: operating the TSAs. An operator-issued certificate for the local TSA's KMS key (and the
//! refusal of one for another key), the circuit breaker that moves a failing provider to the back of the rotation,
//! adding and removing providers with SIGHUP, and a local TSA chain that stays the same across restarts.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{Daemon, assert_error, assert_invalid_field, str_field};
use crate::timestamping::{
    Scratch, base64, config, fresh_hash, post_tsr, provider, sha256_hex, split_chain, stamp,
    stamp_ok, start, unbase64, wait_local_tsa,
};
use crate::tsa_standins::{Behaviour, OpensslTsa, StandIn, openssl_fails, openssl_ok};

/// How many times a poll is repeated (50 ms apart) before the test gives up.
const POLLS: usize = 1200;
const POLL_PAUSE: Duration = Duration::from_millis(50);

/// Compares two PEM texts by content, ignoring line wrapping.
fn same_pem(a: &str, b: &str) -> bool {
    let compact = |s: &str| s.split_whitespace().collect::<String>();
    compact(a) == compact(b)
}

/// Stops the daemon with SIGTERM, asserting a clean exit.
#[track_caller]
fn stop_cleanly(daemon: &mut Daemon) {
    let status = daemon.stop();
    assert_eq!(
        status.code(),
        Some(0),
        "sigild exited with {status} on SIGTERM; its log:\n{}",
        daemon.logs()
    );
}

/// The slugs `GET /proxy/services` lists.
fn listed_slugs(daemon: &Daemon) -> Vec<String> {
    daemon
        .get_public("/proxy/services")
        .expect(200)
        .as_array()
        .expect("an array")
        .iter()
        .map(|s| str_field(s, "proxySlug"))
        .collect()
}

/// Polls `/proxy/services` (bounded) until `wanted` says yes to its slugs.
#[track_caller]
fn wait_for_services(daemon: &Daemon, what: &str, wanted: impl Fn(&[String]) -> bool) {
    for _ in 0..POLLS {
        if wanted(&listed_slugs(daemon)) {
            return;
        }
        std::thread::sleep(POLL_PAUSE);
    }
    panic!(
        "/proxy/services never {what}: {:?}; log:\n{}",
        listed_slugs(daemon),
        daemon.logs()
    );
}

/// Waits (bounded) until the log contains `needle` at least `count` times.
#[track_caller]
fn wait_for_log_count(daemon: &Daemon, needle: &str, count: usize) {
    for _ in 0..POLLS {
        if daemon.logs().matches(needle).count() >= count {
            return;
        }
        std::thread::sleep(POLL_PAUSE);
    }
    panic!(
        "{needle:?} was not logged {count} times:\n{}",
        daemon.logs()
    );
}

/// `POST /tsa/verify-hash`; returns the 200 body.
#[track_caller]
fn verify_hash(daemon: &Daemon, hash_hex: &str, tsr_base64: &str) -> Value {
    daemon
        .post_public(
            "/tsa/verify-hash",
            json!({ "fileHashHex": hash_hex, "tsrBase64": tsr_base64 }),
        )
        .expect(200)
}

/// `ecparam -genkey` of a P-256 key into `file` in `dir`.
fn p256_key(dir: &Path, file: &str) {
    openssl_ok(
        dir,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            file,
        ],
    );
}

/// An operator CA in `dir`: `ca.key`, `ca.pem` (self-signed, CA:true) and the TSA extensions in `ext.cnf`.
fn operator_ca(dir: &Path) {
    p256_key(dir, "ca.key");
    openssl_ok(
        dir,
        &[
            "req",
            "-new",
            "-x509",
            "-key",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "30",
            "-subj",
            "/CN=Operator Root CA/O=Sigil Tests",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    std::fs::write(
        dir.join("ext.cnf"),
        "basicConstraints = critical,CA:FALSE\nkeyUsage = critical,digitalSignature\n\
         extendedKeyUsage = critical,timeStamping\nsubjectKeyIdentifier = hash\n\
         authorityKeyIdentifier = keyid\n",
    )
    .expect("writing ext.cnf");
}

/// Has the operator CA issue `out` (a TSA certificate) for the public key in `pubkey_file`, with a throwaway CSR
/// signed by `csr_key` (whose own key does not end up in the certificate).
fn issue_for_public_key(dir: &Path, csr_key: &str, pubkey_file: &str, subject: &str, out: &str) {
    let csr = format!("{out}.csr");
    openssl_ok(
        dir,
        &[
            "req", "-new", "-key", csr_key, "-out", &csr, "-subj", subject,
        ],
    );
    openssl_ok(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-force_pubkey",
            pubkey_file,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "30",
            "-extfile",
            "ext.cnf",
            "-out",
            out,
        ],
    );
}

/// Writes `name` = the certificate `leaf` then `ca.pem` (both files in `dir`); returns its absolute path.
fn write_chain_file(dir: &Path, leaf: &str, name: &str) -> String {
    let leaf_pem = std::fs::read_to_string(dir.join(leaf)).expect("reading the leaf");
    let ca_pem = std::fs::read_to_string(dir.join("ca.pem")).expect("reading ca.pem");
    let path = dir.join(name);
    std::fs::write(&path, format!("{leaf_pem}{ca_pem}")).expect("writing the chain file");
    path.to_str().expect("a UTF-8 temp path").to_string()
}

/// The local TSA's `[local_tsa]` section using the operator chain in `path`.
fn with_certificate_file(path: &str) -> String {
    config(&format!("[local_tsa]\ncertificate_file = \"{path}\"\n"))
}

#[test]
fn an_operator_certificate_replaces_the_generated_chain() {
    let mut daemon = start("");
    let generated = wait_local_tsa(&daemon);
    let generated_certs = split_chain(&generated);
    let scratch = Scratch::new();
    let dir = scratch.path();
    scratch.write("generated-tsa.pem", &generated_certs[0]);
    scratch.write(
        "generated-root.pem",
        generated_certs.last().expect("a generated root"),
    );
    openssl_ok(
        dir,
        &[
            "x509",
            "-in",
            "generated-tsa.pem",
            "-pubkey",
            "-noout",
            "-out",
            "leafpub.pem",
        ],
    );

    // The operator's CA certifies the KMS key without ever seeing its private key.
    operator_ca(dir);
    p256_key(dir, "throwaway.key");
    issue_for_public_key(
        dir,
        "throwaway.key",
        "leafpub.pem",
        "/CN=Operator TSA/O=Sigil Tests",
        "tsa.pem",
    );
    let issued_key = openssl_ok(dir, &["x509", "-in", "tsa.pem", "-pubkey", "-noout"]);
    assert!(
        same_pem(
            &issued_key,
            &std::fs::read_to_string(dir.join("leafpub.pem")).unwrap()
        ),
        "the operator certificate must carry the KMS key:\n{issued_key}"
    );
    let chain_path = write_chain_file(dir, "tsa.pem", "chain.pem");

    stop_cleanly(&mut daemon);
    daemon.write_raw_config(&with_certificate_file(&chain_path));
    daemon.restart();

    // The certificates endpoint serves the operator chain, TSA certificate first.
    let served = wait_local_tsa(&daemon);
    let served_certs = split_chain(&served);
    assert_eq!(served_certs.len(), 2, "{served}");
    let operator_tsa = std::fs::read_to_string(dir.join("tsa.pem")).unwrap();
    let operator_ca = std::fs::read_to_string(dir.join("ca.pem")).unwrap();
    assert!(
        same_pem(&served_certs[0], &operator_tsa),
        "{served}\nvs\n{operator_tsa}"
    );
    assert!(
        same_pem(&served_certs[1], &operator_ca),
        "{served}\nvs\n{operator_ca}"
    );

    // A token over RFC 3161 HTTP verifies against the operator CA.
    let data = format!("operator chain {}", uuid::Uuid::new_v4());
    scratch.write("data.txt", &data);
    openssl_ok(
        dir,
        &[
            "ts", "-query", "-data", "data.txt", "-sha256", "-cert", "-out", "q.tsq",
        ],
    );
    let query = std::fs::read(dir.join("q.tsq")).unwrap();
    let (status, content_type, reply) =
        post_tsr(&daemon, Some("application/timestamp-query"), None, query);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&reply));
    assert_eq!(content_type, "application/timestamp-reply");
    scratch.write("r.tsr", &reply);
    openssl_ok(
        dir,
        &[
            "ts",
            "-verify",
            "-queryfile",
            "q.tsq",
            "-in",
            "r.tsr",
            "-CAfile",
            "ca.pem",
            "-untrusted",
            "tsa.pem",
        ],
    );
    // Negative control: the generated root no longer certifies the signer.
    openssl_fails(
        dir,
        &[
            "ts",
            "-verify",
            "-queryfile",
            "q.tsq",
            "-in",
            "r.tsr",
            "-CAfile",
            "generated-root.pem",
            "-untrusted",
            "generated-tsa.pem",
        ],
    );
    let verified = verify_hash(&daemon, &sha256_hex(data.as_bytes()), &base64(&reply));
    assert_eq!(verified["valid"], true, "{verified}");
    assert_eq!(verified["details"]["trust"], "chained", "{verified}");

    // Stamps through the API are signed under the operator certificate too.
    let owner = daemon.owner_with_tenant();
    let hash = fresh_hash();
    let body = stamp_ok(
        &daemon,
        &owner.token,
        json!({ "hashHex": hash, "tsaSlug": "local" }),
    );
    scratch.verify_digest(
        &unbase64(&str_field(&body, "tsrBase64")),
        &hash,
        "ca.pem",
        "tsa.pem",
    );

    // A certificate for another key: the local TSA must not come up, the daemon keeps serving.
    p256_key(dir, "other.key");
    openssl_ok(
        dir,
        &["ec", "-in", "other.key", "-pubout", "-out", "otherpub.pem"],
    );
    issue_for_public_key(
        dir,
        "other.key",
        "otherpub.pem",
        "/CN=Operator TSA for another key/O=Sigil Tests",
        "wrong.pem",
    );
    let wrong_path = write_chain_file(dir, "wrong.pem", "wrong-chain.pem");
    stop_cleanly(&mut daemon);
    daemon.write_raw_config(&with_certificate_file(&wrong_path));
    daemon.restart();
    daemon.wait_for_log("not for the local TSA's KMS key");
    let request = daemon
        .client()
        .post(daemon.url("/tsr"))
        .header("Content-Type", "application/timestamp-query")
        .body(std::fs::read(dir.join("q.tsq")).unwrap());
    assert_error(&daemon.send(request), 503, "SERVICE_UNAVAILABLE");
    assert_error(
        &daemon.get_public("/proxy/services/local/certificates"),
        503,
        "SERVICE_UNAVAILABLE",
    );
    daemon.get_public("/healthz").expect(200);
    let logs = daemon.logs();
    assert!(
        logs.contains(&format!(
            "the first certificate of {wrong_path} is not for the local TSA's KMS key"
        )),
        "the log should name the refused file:\n{logs}"
    );
}

/// `GET /api/tsa/health` entry of `slug`.
#[track_caller]
fn health_entry(daemon: &Daemon, token: &str, slug: &str) -> Value {
    let health = daemon.get("/api/tsa/health", token).expect(200);
    health["providers"]
        .as_array()
        .expect("providers array")
        .iter()
        .find(|p| p["slug"] == slug)
        .cloned()
        .unwrap_or_else(|| panic!("no {slug} in {health}"))
}

#[test]
fn an_open_circuit_moves_a_failing_tsa_to_the_back() {
    let tsa = OpensslTsa::new("Good TSA", "1.3.6.1.4.1.32473.7");
    let good = StandIn::start(Behaviour::Tsa(tsa.clone()));
    let unavailable = StandIn::start(Behaviour::Status(503));
    let daemon = start(&format!(
        "[tsa]\ncircuit_failures = 2\ncircuit_cooldown = \"1h\"\n\n[local_tsa]\nenabled = false\n{}{}",
        provider("unavailable", "Unavailable TSA", &unavailable.url(), ""),
        provider("good", "Good TSA", &good.url(), &tsa.anchor()),
    ));
    let owner = daemon.owner_with_tenant();
    let stamp_at_good = || {
        let body = stamp_ok(&daemon, &owner.token, json!({ "hashHex": fresh_hash() }));
        assert_eq!(body["tsaSlug"], "good", "{body}");
    };

    for _ in 0..4 {
        stamp_at_good();
    }
    // Round-robin starts every other stamp at `unavailable`; keep stamping (bounded) until it failed twice.
    for _ in 0..8 {
        if unavailable.hits() >= 2 {
            break;
        }
        stamp_at_good();
    }
    assert_eq!(
        unavailable.hits(),
        2,
        "two failures (circuit_failures) open the circuit"
    );
    let entry = health_entry(&daemon, &owner.token, "unavailable");
    assert_eq!(entry["circuit"], "open", "{entry}");
    assert_eq!(entry["node"]["consecutiveFailures"], 2, "{entry}");
    let good_entry = health_entry(&daemon, &owner.token, "good");
    assert_eq!(good_entry["circuit"], "closed", "{good_entry}");

    // While `good` answers, the open provider is not asked any more, whatever the rotation says.
    let good_hits = good.hits();
    for _ in 0..4 {
        stamp_at_good();
    }
    assert_eq!(
        unavailable.hits(),
        2,
        "a provider with an open circuit was tried although another one answered"
    );
    assert_eq!(good.hits(), good_hits + 4);
    let entry = health_entry(&daemon, &owner.token, "unavailable");
    assert_eq!(entry["circuit"], "open", "{entry}");

    // As the only candidate it is still attempted.
    let reply = stamp(
        &daemon,
        &owner.token,
        json!({ "hashHex": fresh_hash(), "tsaSlug": "unavailable" }),
    );
    assert_eq!(reply.status, 502, "{}", reply.text);
    let body = reply.json();
    assert_eq!(body["attemptsTried"], 1, "{body}");
    assert_eq!(body["failures"][0]["tsa"], "Unavailable TSA", "{body}");
    assert_eq!(body["failures"][0]["statusCode"], 503, "{body}");
    assert_eq!(unavailable.hits(), 3);

    // With `good` gone too, auto still tries both: the closed one first, the open one last.
    drop(good);
    let reply = stamp(&daemon, &owner.token, json!({ "hashHex": fresh_hash() }));
    assert_eq!(reply.status, 502, "{}", reply.text);
    let body = reply.json();
    assert_eq!(body["attemptsTried"], 2, "{body}");
    let tried: Vec<&str> = body["failures"]
        .as_array()
        .expect("failures array")
        .iter()
        .map(|f| f["tsa"].as_str().expect("tsa"))
        .collect();
    assert_eq!(tried, ["Good TSA", "Unavailable TSA"], "{body}");
    assert_eq!(unavailable.hits(), 4);
}

#[test]
fn sighup_adds_and_removes_tsa_providers() {
    let daemon = start("");
    wait_local_tsa(&daemon);
    let owner = daemon.owner_with_tenant();
    assert_eq!(listed_slugs(&daemon), ["local"]);

    let tsa = OpensslTsa::new("Added TSA", "1.3.6.1.4.1.32473.7");
    let server = StandIn::start(Behaviour::Tsa(tsa.clone()));
    daemon.write_raw_config(&config(&provider(
        "added",
        "Added TSA",
        &server.url(),
        &tsa.anchor(),
    )));
    daemon.sighup();
    wait_for_log_count(&daemon, "configuration reloaded", 1);
    wait_for_services(&daemon, "listed `added`", |slugs| {
        slugs.iter().any(|s| s == "added")
    });
    assert_eq!(listed_slugs(&daemon), ["local", "added"]);

    // The provider's plugin instance may still be loading: retry (bounded) while the stamp fails with 502.
    let hash = fresh_hash();
    let mut stamped = None;
    for _ in 0..POLLS {
        let reply = stamp(
            &daemon,
            &owner.token,
            json!({ "hashHex": hash, "tsaSlug": "added" }),
        );
        match reply.status {
            200 => {
                stamped = Some(reply.json());
                break;
            }
            502 => std::thread::sleep(POLL_PAUSE),
            other => panic!("stamp at the added TSA: {other} {}", reply.text),
        }
    }
    let body = stamped.unwrap_or_else(|| {
        panic!(
            "a stamp at the added TSA never succeeded; log:\n{}",
            daemon.logs()
        )
    });
    assert_eq!(body["tsaSlug"], "added", "{body}");
    assert_eq!(body["tsaName"], "Added TSA", "{body}");
    assert!(server.hits() >= 1);
    let root = tsa.root_pem();
    let cert = tsa.tsa_pem();
    Scratch::new().verify_digest(
        &unbase64(&str_field(&body, "tsrBase64")),
        &hash,
        root.to_str().unwrap(),
        cert.to_str().unwrap(),
    );

    // Removed again: gone from the list and refused by name.
    daemon.write_raw_config(&config(""));
    daemon.sighup();
    wait_for_log_count(&daemon, "configuration reloaded", 2);
    wait_for_services(&daemon, "dropped `added`", |slugs| {
        !slugs.iter().any(|s| s == "added")
    });
    assert_eq!(listed_slugs(&daemon), ["local"]);
    let hits = server.hits();
    let reply = stamp(
        &daemon,
        &owner.token,
        json!({ "hashHex": fresh_hash(), "tsaSlug": "added" }),
    );
    assert_invalid_field(&reply, "tsaSlug");
    let body = stamp_ok(&daemon, &owner.token, json!({ "hashHex": fresh_hash() }));
    assert_eq!(body["tsaSlug"], "local", "{body}");
    assert_eq!(server.hits(), hits, "a removed provider must not be asked");
}

/// `GET /proxy/services/local/certificates` as raw bytes, once the local TSA is ready.
#[track_caller]
fn local_chain_bytes(daemon: &Daemon) -> Vec<u8> {
    wait_local_tsa(daemon);
    let response = daemon
        .client()
        .get(daemon.url("/proxy/services/local/certificates"))
        .send()
        .expect("GET the local chain");
    assert_eq!(response.status().as_u16(), 200);
    response.bytes().expect("reading the chain").to_vec()
}

#[test]
fn a_second_node_sees_the_same_local_tsa_chain_after_restart() {
    let mut daemon = start("");
    let chain = local_chain_bytes(&daemon);
    let owner = daemon.owner_with_tenant();
    let hash = fresh_hash();
    let stamped = stamp_ok(&daemon, &owner.token, json!({ "hashHex": hash }));
    let tsr = str_field(&stamped, "tsrBase64");
    assert_eq!(verify_hash(&daemon, &hash, &tsr)["valid"], true);

    for round in 1..=2 {
        stop_cleanly(&mut daemon);
        daemon.restart();
        let again = local_chain_bytes(&daemon);
        assert!(
            again == chain,
            "restart {round} changed the local TSA chain:\n{}\nvs\n{}",
            String::from_utf8_lossy(&again),
            String::from_utf8_lossy(&chain)
        );
        let verified = verify_hash(&daemon, &hash, &tsr);
        assert_eq!(verified["valid"], true, "restart {round}: {verified}");
        assert_eq!(verified["details"]["hashMatch"], true, "{verified}");
        assert_eq!(verified["details"]["trust"], "chained", "{verified}");
    }

    // The old token verifies with openssl against the chain the restarted daemon publishes.
    let scratch = Scratch::new();
    scratch.write_chain(&String::from_utf8(chain).expect("PEM is text"));
    scratch.verify_digest(&unbase64(&tsr), &hash, "root.pem", "tsa.pem");
}
