//! The OpenAPI document: what the daemon serves at `/openapi.json` is the committed `docs/openapi.json` and what
//! `sigild openapi` prints, and every method it documents is routed while every other method of its paths is a
//! 405. (Its paths are checked against the router's in `daemon/src/http/openapi.rs`; its schemas against a real
//! daemon by `tests/openapi/schemathesis.sh`.)

use crate::harness::{Daemon, SIGILD};

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

fn committed_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.json")
}

#[test]
fn served_document_is_the_committed_copy_and_the_cli_output() {
    let daemon = Daemon::start();
    let reply = daemon.get_public("/openapi.json");
    assert_eq!(reply.status, 200, "{}", reply.text);
    let header = |name: &str| {
        reply
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(header("content-type"), "application/json");
    assert!(
        header("cache-control").starts_with("public"),
        "{}",
        header("cache-control")
    );
    let document = reply.json();
    assert_eq!(document["openapi"], "3.1.0");

    let printed = std::process::Command::new(SIGILD)
        .arg("openapi")
        .output()
        .expect("running sigild openapi");
    assert!(printed.status.success());
    assert_eq!(
        String::from_utf8_lossy(&printed.stdout),
        reply.text,
        "`sigild openapi` prints what is served"
    );

    let path = committed_path();
    if std::env::var_os("SIGIL_UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &reply.text).expect("writing docs/openapi.json");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == reply.text,
        "docs/openapi.json is not what the daemon serves: the API changed. Regenerate it with\n    \
         cargo run -p sigil-daemon -- openapi > docs/openapi.json\nor\n    \
         SIGIL_UPDATE_OPENAPI=1 cargo test -p sigil-daemon --test blackbox openapi\nand commit the diff."
    );
}

#[test]
fn every_documented_method_is_routed_and_no_other() {
    let daemon = Daemon::start();
    let document = daemon.get_public("/openapi.json").json();
    let paths = document["paths"].as_object().expect("paths");
    assert!(paths.len() > 80, "{} paths", paths.len());
    let client = daemon.client();
    let mut wrong = Vec::new();
    for (template, item) in paths {
        let path: String = template
            .split('/')
            .map(|segment| {
                if segment.starts_with('{') {
                    "x"
                } else {
                    segment
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        for method in METHODS {
            let documented = item.get(method).is_some();
            let request = client.request(method.to_uppercase().parse().unwrap(), daemon.url(&path));
            let reply = daemon.send(request);
            let unrouted = reply.status == 405
                || (reply.status == 404 && reply.text.contains("no such endpoint"));
            if documented == unrouted {
                wrong.push(format!(
                    "{method} {template}: documented {documented}, answered {} {}",
                    reply.status, reply.text
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "document and router disagree:\n{}",
        wrong.join("\n")
    );
}

/// Found by schemathesis: a JSON body that is not an object made `POST /v1/config/webhooks` panic (500).
#[test]
fn a_webhook_body_that_is_not_an_object_is_a_400() {
    let daemon = Daemon::start();
    let owner = daemon.owner_with_tenant();
    let key = daemon.api_key(&owner.token, "live");
    for body in [
        serde_json::json!([]),
        serde_json::json!(7),
        serde_json::json!("x"),
    ] {
        let reply = daemon.post("/v1/config/webhooks", &key, body.clone());
        assert_eq!(reply.status, 400, "{body}: {}", reply.text);
        assert_eq!(
            reply.json()["error"]["code"],
            "INVALID_REQUEST",
            "{}",
            reply.text
        );
    }
}

/// Found by schemathesis: the error normaliser replaced a DID resolution error result (`application/ld+json`)
/// with the common error body; a resolver client must get the resolution result it parses.
#[test]
fn did_resolution_errors_keep_their_resolution_result() {
    let daemon = Daemon::start();
    let reply = daemon.get_public("/1.0/identifiers/did:web:nope");
    assert_eq!(reply.status, 400, "{}", reply.text);
    let content_type = reply.headers["content-type"].to_str().unwrap();
    assert!(
        content_type.starts_with("application/ld+json"),
        "{content_type}"
    );
    assert_eq!(
        reply.json()["didResolutionMetadata"]["error"],
        "invalidDid",
        "{}",
        reply.text
    );
    let reply = daemon.get_public("/1.0/identifiers/did:sigilum:nobody-here");
    assert_eq!(reply.status, 404, "{}", reply.text);
    assert_eq!(
        reply.json()["didResolutionMetadata"]["error"],
        "notFound",
        "{}",
        reply.text
    );
}
