//! The Sigilum profile against the public Sigilum test vectors (signing, verification, the three negative
//! mutations, the fixture certificate) and a table of refusals with their API error codes.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::Value;
use sigil_httpsig::Message;
use sigil_httpsig::digest::{DigestAlgorithm, content_digest};
use sigil_httpsig::rfc9421::{self, SignatureSpec};
use sigil_httpsig::sigilum::{
    AgentIdentity, COMPONENTS_NO_BODY, COMPONENTS_WITH_BODY, Certificate, Policy, SigilumError,
    VerifiedAgent, sign_sigilum, verify_sigilum,
};

const VECTORS: &str = include_str!("vectors/http-signatures-rfc9421.json");
const IDENTITY: &str = include_str!("vectors/identity-record-v1.json");
const SUBJECT: &str = "user-123";

fn record() -> Value {
    serde_json::from_str(IDENTITY).unwrap()
}

fn identity() -> AgentIdentity {
    let r = record();
    AgentIdentity {
        namespace: r["namespace"].as_str().unwrap().to_owned(),
        seed: STANDARD
            .decode(r["privateKey"].as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap(),
        issued_at: r["certificate"]["issuedAt"].as_str().unwrap().to_owned(),
    }
}

/// An owned request, as a test mutates it.
#[derive(Clone, Debug)]
struct Req {
    method: String,
    uri: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Req {
    fn verify_with(&self, policy: &Policy, now: i64) -> Result<VerifiedAgent, SigilumError> {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let msg = Message {
            method: &self.method,
            target_uri: &self.uri,
            headers: &headers,
            body: Some(&self.body),
        };
        verify_sigilum(&msg, policy, now)
    }

    fn verify(&self) -> Result<VerifiedAgent, SigilumError> {
        self.verify_with(&Policy::default(), CREATED + 10)
    }

    fn header(&self, name: &str) -> &str {
        &self
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .unwrap()
            .1
    }

    fn set(mut self, name: &str, value: &str) -> Self {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    fn remove(mut self, name: &str) -> Self {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self
    }
}

const CREATED: i64 = 1_700_000_000;
const NONCE: &str = "123e4567-e89b-12d3-a456-426614174000";
const URI: &str = "https://api.sigilum.local/v1/namespaces/fixture-alice/claims";

fn signed(method: &str, uri: &str, body: &[u8]) -> Req {
    let b = (!body.is_empty()).then_some(body);
    let headers = sign_sigilum(&identity(), method, uri, b, SUBJECT, CREATED, NONCE).unwrap();
    Req {
        method: method.to_owned(),
        uri: uri.split('#').next().unwrap().to_owned(),
        headers,
        body: body.to_vec(),
    }
}

/// Re-signs `req` with an arbitrary component list and parameters (for refusals a normal SDK cannot make).
fn resign(
    req: Req,
    method_for_base: &str,
    components: &[&str],
    alg: Option<&str>,
    keyid: Option<&str>,
) -> Req {
    let req = req.remove("signature-input").remove("signature");
    let headers: Vec<(&str, &str)> = req
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let msg = Message {
        method: method_for_base,
        target_uri: &req.uri,
        headers: &headers,
        body: Some(&req.body),
    };
    let key_id = identity().key_id();
    let spec = SignatureSpec {
        label: "sig1",
        components,
        created: Some(CREATED),
        keyid: Some(keyid.unwrap_or(&key_id)),
        alg,
        nonce: Some(NONCE),
        ..SignatureSpec::default()
    };
    let s = rfc9421::sign_ed25519(&msg, &spec, &identity().seed).unwrap();
    req.set("signature-input", &s.signature_input)
        .set("signature", &s.signature)
}

/// The fixture certificate with `expiresAt` set and its proof re-made by the agent key.
fn cert_expiring(expires_at: &str) -> String {
    use ed25519_dalek::Signer as _;
    let mut cert = identity().certificate();
    cert.expires_at = Some(expires_at.to_owned());
    let key = ed25519_dalek::SigningKey::from_bytes(&identity().seed);
    cert.proof.sig = URL_SAFE_NO_PAD.encode(key.sign(cert.proof_payload().as_bytes()).to_bytes());
    cert.to_header_value()
}

#[test]
fn fixture_identity_and_certificate() {
    let r = record();
    let id = identity();
    assert_eq!(id.public_key_text(), r["publicKey"].as_str().unwrap());
    assert_eq!(id.did(), r["did"].as_str().unwrap());
    assert_eq!(id.key_id(), r["keyId"].as_str().unwrap());
    // The published certificate (with its extra issuedBy field) verifies as given.
    let published: Certificate = serde_json::from_value(r["certificate"].clone()).unwrap();
    assert_eq!(published.verify().unwrap(), id.public_key());
    // Ed25519 is deterministic: our certificate is the published one, proof included.
    assert_eq!(id.certificate(), published);
    // Header encoding round-trips, padded or not.
    let header = published.to_header_value();
    assert!(!header.contains('='));
    assert_eq!(Certificate::from_header_value(&header).unwrap(), published);
    let padded = STANDARD
        .encode(URL_SAFE_NO_PAD.decode(&header).unwrap())
        .replace('+', "-")
        .replace('/', "_");
    assert_eq!(Certificate::from_header_value(&padded).unwrap(), published);
    // A tampered certificate does not.
    let mut bad = published.clone();
    bad.issued_at = "2026-02-20T18:04:27Z".into();
    assert_eq!(bad.verify().unwrap_err().code(), "SIGNATURE_INVALID");
}

#[test]
fn positive_vectors() {
    let doc: Value = serde_json::from_str(VECTORS).unwrap();
    assert_eq!(doc["fixed"]["created"].as_i64(), Some(CREATED));
    assert_eq!(doc["fixed"]["nonce"].as_str(), Some(NONCE));
    for v in doc["vectors"].as_array().unwrap() {
        let name = v["name"].as_str().unwrap();
        let method = v["method"].as_str().unwrap();
        let body = v["body"].as_str().unwrap_or("").as_bytes();
        let req = signed(method, v["url"].as_str().unwrap(), body);
        assert_eq!(
            req.uri,
            v["expected_target_uri"].as_str().unwrap(),
            "{name}"
        );
        if let Some(d) = v["expected_content_digest"].as_str() {
            assert_eq!(req.header("content-digest"), d, "{name}");
        } else {
            assert!(
                !req.headers.iter().any(|(n, _)| n == "content-digest"),
                "{name}"
            );
        }
        let all = rfc9421::parse_signature_input(req.header("signature-input")).unwrap();
        let params = rfc9421::single_signature(&all).unwrap();
        let components: Vec<&str> = params.components.iter().map(|c| c.name()).collect();
        let expected: Vec<&str> = v["expected_components"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        assert_eq!(components, expected, "{name}");
        assert_eq!(
            params.serialized(),
            format!(
                "({});created={CREATED};keyid=\"{}\";alg=\"ed25519\";nonce=\"{NONCE}\"",
                expected
                    .iter()
                    .map(|c| format!("\"{c}\""))
                    .collect::<Vec<_>>()
                    .join(" "),
                identity().key_id()
            ),
            "{name}"
        );
        assert!(req.header("signature").starts_with("sig1=:"), "{name}");
        // The SDK signs @method in lower case over the fragment-free target URI.
        let headers: Vec<(&str, &str)> = req
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let lower = v["expected_method_component"].as_str().unwrap();
        let msg = Message {
            method: lower,
            target_uri: &req.uri,
            headers: &headers,
            body: Some(body),
        };
        let base = rfc9421::signature_base(&msg, params).unwrap();
        assert!(
            base.starts_with(&format!(
                "\"@method\": {lower}\n\"@target-uri\": {}\n",
                req.uri
            )),
            "{name}"
        );
        let sig = rfc9421::parse_signature(req.header("signature"))
            .unwrap()
            .remove(0)
            .1;
        let vk = ed25519_dalek::VerifyingKey::from_bytes(&identity().public_key()).unwrap();
        vk.verify_strict(
            base.as_bytes(),
            &ed25519_dalek::Signature::from_slice(&sig).unwrap(),
        )
        .unwrap();

        // The server sees the method as sent (upper case) and accepts it.
        let agent = req.verify().unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(agent.namespace, "fixture-alice");
        assert_eq!(agent.subject, SUBJECT);
        assert_eq!(agent.nonce, NONCE);
        assert_eq!(agent.created, CREATED);
        assert_eq!(agent.key_id, identity().key_id());
        assert_eq!(agent.public_key, identity().public_key());
        assert_eq!(agent.public_key_text, identity().public_key_text());
        assert_eq!(agent.certificate, identity().certificate());
    }
}

#[test]
fn negative_vectors() {
    let doc: Value = serde_json::from_str(VECTORS).unwrap();
    let vectors = doc["vectors"].as_array().unwrap();
    for n in doc["negative_vectors"].as_array().unwrap() {
        let name = n["name"].as_str().unwrap();
        let src = vectors
            .iter()
            .find(|v| v["name"] == n["source_vector"])
            .unwrap();
        let body = src["body"].as_str().unwrap_or("").as_bytes();
        let mut req = signed(
            src["method"].as_str().unwrap(),
            src["url"].as_str().unwrap(),
            body,
        );
        let value = n["value"].as_str().unwrap();
        let want = match n["mutation"].as_str().unwrap() {
            "method" => {
                req.method = value.to_owned();
                "SIGNATURE_INVALID"
            }
            "header" => {
                req = req.set(n["field"].as_str().unwrap(), value);
                "SIGNATURE_INVALID"
            }
            "body" => {
                req.body = value.as_bytes().to_vec();
                "SIGNATURE_DIGEST_MISMATCH"
            }
            other => panic!("unknown mutation {other}"),
        };
        let err = req.verify().unwrap_err();
        assert_eq!((err.code(), err.status()), (want, 401), "{name}: {err}");
        let reason = n["expected_reason_contains"].as_str().unwrap();
        assert!(
            err.to_string().contains(reason),
            "{name}: {err:?} lacks {reason:?}"
        );
    }
}

#[test]
fn refusals() {
    let get = signed("GET", URI, b"");
    let post = signed("POST", URI, b"{\"a\":1}");
    let policy = Policy::default();
    let small = Policy {
        max_header_bytes: 64,
        ..policy
    };
    let no_skew = Policy {
        future_skew_secs: 0,
        ..policy
    };
    let key_id = identity().key_id();
    let cert = get.header("sigilum-agent-cert").to_owned();
    let forged_cert = {
        let mut c = identity().certificate();
        c.namespace = "mallory".into();
        c.to_header_value()
    };
    let sha512 = content_digest(DigestAlgorithm::Sha512, &post.body);
    let reordered: Vec<&str> = COMPONENTS_WITH_BODY.iter().rev().copied().collect();
    let mut extra = COMPONENTS_NO_BODY.to_vec();
    extra.push("host");
    let sig1 = get
        .header("signature-input")
        .strip_prefix("sig1=")
        .unwrap()
        .to_owned();
    let sig_value = get
        .header("signature")
        .strip_prefix("sig1=")
        .unwrap()
        .to_owned();

    type Case = (&'static str, Req, Policy, i64, Option<&'static str>);
    let mut cases: Vec<Case> = vec![
        ("get ok", get.clone(), policy, CREATED + 10, None),
        ("post ok", post.clone(), policy, CREATED + 10, None),
        ("age limit", get.clone(), policy, CREATED + 300, None),
        (
            "expired",
            get.clone(),
            policy,
            CREATED + 301,
            Some("SIGNATURE_EXPIRED"),
        ),
        ("future within skew", get.clone(), policy, CREATED - 5, None),
        (
            "future beyond skew",
            get.clone(),
            policy,
            CREATED - 6,
            Some("SIGNATURE_EXPIRED"),
        ),
        (
            "future, Sigilum's zero skew",
            get.clone(),
            no_skew,
            CREATED - 1,
            Some("SIGNATURE_EXPIRED"),
        ),
        (
            "oversize header",
            get.clone(),
            small,
            CREATED,
            Some("SIGNATURE_INVALID"),
        ),
        (
            "oversize subject",
            get.clone().set("sigilum-subject", &"x".repeat(8193)),
            policy,
            CREATED,
            Some("SIGNATURE_INVALID"),
        ),
        (
            "subject tampered",
            get.clone().set("sigilum-subject", "other"),
            policy,
            CREATED,
            Some("SIGNATURE_INVALID"),
        ),
        (
            "uri tampered",
            Req {
                uri: format!("{URI}?x=1"),
                ..get.clone()
            },
            policy,
            CREATED,
            Some("SIGNATURE_INVALID"),
        ),
        (
            "upper-case method signed",
            resign(
                get.clone(),
                "GET",
                &COMPONENTS_NO_BODY,
                Some("ed25519"),
                None,
            ),
            policy,
            CREATED,
            None,
        ),
        (
            "alg upper case",
            resign(
                get.clone(),
                "get",
                &COMPONENTS_NO_BODY,
                Some("ED25519"),
                None,
            ),
            policy,
            CREATED,
            None,
        ),
        (
            "wrong alg",
            resign(
                get.clone(),
                "get",
                &COMPONENTS_NO_BODY,
                Some("hmac-sha256"),
                None,
            ),
            policy,
            CREATED,
            Some("SIGNATURE_INVALID"),
        ),
        (
            "no alg",
            resign(get.clone(), "get", &COMPONENTS_NO_BODY, None, None),
            policy,
            CREATED,
            Some("SIGNATURE_INVALID"),
        ),
        (
            "keyid mismatch",
            resign(
                get.clone(),
                "get",
                &COMPONENTS_NO_BODY,
                Some("ed25519"),
                Some("did:sigilum:fixture-alice#ed25519-0000000000000000"),
            ),
            policy,
            CREATED,
            Some("SIGNATURE_INVALID"),
        ),
        (
            "missing component",
            resign(
                get.clone(),
                "get",
                &COMPONENTS_NO_BODY[..5],
                Some("ed25519"),
                None,
            ),
            policy,
            CREATED,
            Some("SIGNATURE_COMPONENTS_INVALID"),
        ),
        (
            "subject not covered",
            resign(
                get.clone(),
                "get",
                &[
                    "@method",
                    "@target-uri",
                    "sigilum-namespace",
                    "sigilum-agent-key",
                    "sigilum-agent-cert",
                ],
                Some("ed25519"),
                None,
            ),
            policy,
            CREATED,
            Some("SIGNATURE_COMPONENTS_INVALID"),
        ),
        (
            "extra component",
            resign(
                get.clone().set("host", "api.sigilum.local"),
                "get",
                &extra,
                Some("ed25519"),
                None,
            ),
            policy,
            CREATED,
            Some("SIGNATURE_COMPONENTS_INVALID"),
        ),
        (
            "body components on get",
            resign(
                get.clone().set("content-digest", &sha512),
                "get",
                &COMPONENTS_WITH_BODY,
                Some("ed25519"),
                None,
            ),
            policy,
            CREATED,
            Some("SIGNATURE_COMPONENTS_INVALID"),
        ),
        (
            "body without content-digest covered",
            resign(
                post.clone(),
                "post",
                &COMPONENTS_NO_BODY,
                Some("ed25519"),
                None,
            ),
            policy,
            CREATED,
            Some("SIGNATURE_COMPONENTS_INVALID"),
        ),
        (
            "body without content-digest header",
            post.clone().remove("content-digest"),
            policy,
            CREATED,
            Some("SIGNATURE_COMPONENTS_INVALID"),
        ),
        (
            "reordered components (standard signer)",
            resign(post.clone(), "POST", &reordered, Some("ed25519"), None),
            policy,
            CREATED,
            None,
        ),
        (
            "sha-512 digest",
            resign(
                post.clone().set("content-digest", &sha512),
                "post",
                &COMPONENTS_WITH_BODY,
                Some("ed25519"),
                None,
            ),
            policy,
            CREATED,
            None,
        ),
        (
            "digest tampered",
            post.clone().set(
                "content-digest",
                &content_digest(DigestAlgorithm::Sha256, b"x"),
            ),
            policy,
            CREATED,
            Some("SIGNATURE_DIGEST_MISMATCH"),
        ),
        (
            "digest unsupported",
            post.clone().set("content-digest", "md5=:AAAA:"),
            policy,
            CREATED,
            Some("SIGNATURE_DIGEST_MISMATCH"),
        ),
        (
            "get body ignored",
            Req {
                body: b"ignored".to_vec(),
                ..get.clone()
            },
            policy,
            CREATED,
            None,
        ),
        (
            "two labels",
            get.clone()
                .set("signature-input", &format!("sig1={sig1}, sig2={sig1}")),
            policy,
            CREATED,
            Some("SIGNATURE_INVALID"),
        ),
        (
            "two signatures",
            get.clone()
                .set("signature", &format!("sig1={sig_value}, sig2={sig_value}")),
            policy,
            CREATED,
            Some("SIGNATURE_INVALID"),
        ),
        (
            "label mismatch",
            get.clone().set("signature", &format!("sig2={sig_value}")),
            policy,
            CREATED,
            Some("SIGNATURE_INVALID"),
        ),
        (
            "other label accepted",
            get.clone()
                .set("signature-input", &format!("mine={sig1}"))
                .set("signature", &format!("mine={sig_value}")),
            policy,
            CREATED,
            None,
        ),
        (
            "garbage input",
            get.clone().set("signature-input", "%%%"),
            policy,
            CREATED,
            Some("SIGNATURE_INVALID"),
        ),
        (
            "unterminated string",
            get.clone().set("signature-input", "sig1=(\"@method"),
            policy,
            CREATED,
            Some("SIGNATURE_INVALID"),
        ),
        (
            "item not inner list",
            get.clone().set("signature-input", "sig1=\"@method\""),
            policy,
            CREATED,
            Some("SIGNATURE_INVALID"),
        ),
        (
            "signature not byte sequence",
            get.clone().set("signature", "sig1=\"abc\""),
            policy,
            CREATED,
            Some("SIGNATURE_INVALID"),
        ),
        (
            "signature short",
            get.clone().set("signature", "sig1=:AAAA:"),
            policy,
            CREATED,
            Some("SIGNATURE_INVALID"),
        ),
        (
            "signature zero",
            get.clone().set(
                "signature",
                &format!("sig1=:{}:", STANDARD.encode([0u8; 64])),
            ),
            policy,
            CREATED,
            Some("SIGNATURE_INVALID"),
        ),
        (
            "created missing",
            get.clone().set(
                "signature-input",
                &sig1
                    .replace(&format!(";created={CREATED}"), "")
                    .replace("(", "sig1=("),
            ),
            policy,
            CREATED,
            Some("SIGNATURE_INVALID"),
        ),
        (
            "created zero",
            get.clone().set(
                "signature-input",
                &format!("sig1={}", sig1.replace(&CREATED.to_string(), "0")),
            ),
            policy,
            CREATED,
            Some("SIGNATURE_INVALID"),
        ),
        (
            "created string",
            get.clone().set(
                "signature-input",
                &format!("sig1={}", sig1.replace(&CREATED.to_string(), "\"1\"")),
            ),
            policy,
            CREATED,
            Some("SIGNATURE_INVALID"),
        ),
        (
            "nonce missing",
            get.clone().set(
                "signature-input",
                &format!("sig1={}", sig1.replace(&format!(";nonce=\"{NONCE}\""), "")),
            ),
            policy,
            CREATED,
            Some("SIGNATURE_INVALID"),
        ),
        (
            "keyid missing",
            get.clone().set(
                "signature-input",
                &format!("sig1={}", sig1.replace(&format!(";keyid=\"{key_id}\""), "")),
            ),
            policy,
            CREATED,
            Some("SIGNATURE_INVALID"),
        ),
        (
            "cert garbage",
            get.clone().set("sigilum-agent-cert", "!!!"),
            policy,
            CREATED,
            Some("SIGNATURE_INVALID"),
        ),
        (
            "cert not json",
            get.clone()
                .set("sigilum-agent-cert", &URL_SAFE_NO_PAD.encode("{")),
            policy,
            CREATED,
            Some("SIGNATURE_INVALID"),
        ),
        (
            "cert forged",
            get.clone().set("sigilum-agent-cert", &forged_cert),
            policy,
            CREATED,
            Some("SIGNATURE_INVALID"),
        ),
        (
            "key header other key",
            get.clone().set(
                "sigilum-agent-key",
                &format!("ed25519:{}", STANDARD.encode([9u8; 32])),
            ),
            policy,
            CREATED,
            Some("SIGNATURE_INVALID"),
        ),
        (
            "namespace rule",
            get.clone().set("sigilum-namespace", "-x"),
            policy,
            CREATED,
            Some("SIGNATURE_INVALID"),
        ),
        (
            "padded cert",
            get.clone().set(
                "sigilum-agent-cert",
                &format!("{cert}{}", "=".repeat((4 - cert.len() % 4) % 4)),
            ),
            policy,
            CREATED,
            None,
        ),
    ];
    // Certificates with an expiry (the SDKs write null, but the field is signed and honoured).
    for (name, expires_at, want) in [
        ("cert valid until later", "2023-11-14T22:14:00Z", None),
        (
            "cert expired",
            "2023-11-14T22:13:00Z",
            Some("SIGNATURE_INVALID"),
        ),
        (
            "cert expiry offset",
            "2023-11-14T23:13:30+01:00",
            Some("SIGNATURE_INVALID"),
        ),
        (
            "cert expiry not a time",
            "tomorrow",
            Some("SIGNATURE_INVALID"),
        ),
    ] {
        let req = get
            .clone()
            .set("sigilum-agent-cert", &cert_expiring(expires_at));
        let req = resign(req, "get", &COMPONENTS_NO_BODY, Some("ed25519"), None);
        cases.push((name, req, policy, CREATED + 10, want));
    }
    for h in [
        "signature-input",
        "signature",
        "sigilum-agent-cert",
        "sigilum-agent-key",
        "sigilum-namespace",
        "sigilum-subject",
    ] {
        cases.push((
            "missing header",
            get.clone().remove(h),
            policy,
            CREATED,
            Some("SIGNATURE_MISSING"),
        ));
    }
    for (name, req, policy, now, want) in cases {
        match (req.verify_with(&policy, now), want) {
            (Ok(_), None) => {}
            (Err(e), Some(code)) => {
                assert_eq!((e.code(), e.status()), (code, 401), "{name}: {e}");
                if name.starts_with("oversize") {
                    assert!(e.to_string().contains("oversize"), "{name}: {e}");
                }
            }
            (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn route_binding_and_replay_codes() {
    let agent = signed("GET", URI, b"").verify().unwrap();
    agent.check_namespace("fixture-alice").unwrap();
    agent.check_namespace("fixture%2Dalice").unwrap();
    for other in ["Fixture-Alice", "fixture-alice2", "%zz"] {
        let e = agent.check_namespace(other).unwrap_err();
        assert_eq!(
            (e.code(), e.status()),
            ("SIGNATURE_NAMESPACE_MISMATCH", 403),
            "{other}"
        );
    }
    agent
        .check_public_key(&identity().public_key_text())
        .unwrap();
    for other in [
        "ed25519:AAAA",
        "nonsense",
        &format!("ed25519:{}", STANDARD.encode([1u8; 32])),
    ] {
        let e = agent.check_public_key(other).unwrap_err();
        assert_eq!(
            (e.code(), e.status()),
            ("SIGNATURE_KEY_MISMATCH", 403),
            "{other}"
        );
    }
    let e = SigilumError::NonceReplay;
    assert_eq!((e.code(), e.status()), ("SIGNATURE_NONCE_REPLAY", 409));
}
