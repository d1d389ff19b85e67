//! RFC 9421 layer against the specification's own example (Appendix B.2.6, Ed25519) and table-driven
//! derived-component and refusal cases.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sigil_httpsig::Message;
use sigil_httpsig::rfc9421::{
    Rfc9421Error, SignatureSpec, parse_signature, parse_signature_input, select_label,
    sign_ed25519, signature_base, single_signature, verify_ed25519, verify_message_ed25519,
};

// RFC 9421 Appendix B.2 "test-request" (B.2.6 covers part of it), verbatim:
//
//   POST /foo?param=Value&Pet=dog HTTP/1.1
//   Host: example.com
//   Date: Tue, 20 Apr 2021 02:07:55 GMT
//   Content-Type: application/json
//   Content-Digest: sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmT\
//     HWXvJwew==:
//   Content-Length: 18
//
//   {"hello": "world"}
const HEADERS: &[(&str, &str)] = &[
    ("Host", "example.com"),
    ("Date", "Tue, 20 Apr 2021 02:07:55 GMT"),
    ("Content-Type", "application/json"),
    (
        "Content-Digest",
        "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:",
    ),
    ("Content-Length", "18"),
];
const BODY: &[u8] = b"{\"hello\": \"world\"}";
const TARGET_URI: &str = "https://example.com/foo?param=Value&Pet=dog";

// B.2.6 header fields and signature base (RFC 8792 line wrapping undone).
const SIGNATURE_INPUT: &str = "sig-b26=(\"date\" \"@method\" \"@path\" \"@authority\" \"content-type\" \"content-length\");created=1618884473;keyid=\"test-key-ed25519\"";
const SIGNATURE: &str = "sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:";
const BASE: &str = "\"date\": Tue, 20 Apr 2021 02:07:55 GMT
\"@method\": POST
\"@path\": /foo
\"@authority\": example.com
\"content-type\": application/json
\"content-length\": 18
\"@signature-params\": (\"date\" \"@method\" \"@path\" \"@authority\" \"content-type\" \"content-length\");created=1618884473;keyid=\"test-key-ed25519\"";

// test-key-ed25519 (RFC 9421 B.1.4): the public key as a JWK `x` (RFC 8037) and the private key as the
// RFC's PKCS#8 PEM body, whose last 32 bytes are the seed (JWK `d` = n4Ni-HpISpVObnQMW0wOhCKROaIKqKtW_2ZYb2p9KcU).
const KEY_X: &str = "JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs";
const KEY_PKCS8: &str = "MC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF";
const KEY_D: &str = "n4Ni-HpISpVObnQMW0wOhCKROaIKqKtW_2ZYb2p9KcU";

fn key32(b64url: &str) -> [u8; 32] {
    URL_SAFE_NO_PAD.decode(b64url).unwrap().try_into().unwrap()
}

fn with_signature<'a>(extra: &'a [(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    HEADERS
        .iter()
        .copied()
        .chain(extra.iter().copied())
        .collect()
}

fn request<'a>(method: &'a str, headers: &'a [(&'a str, &'a str)]) -> Message<'a> {
    Message {
        method,
        target_uri: TARGET_URI,
        headers,
        body: Some(BODY),
    }
}

#[test]
fn b26_signature_base_and_published_signature() {
    let headers = with_signature(&[
        ("Signature-Input", SIGNATURE_INPUT),
        ("Signature", SIGNATURE),
    ]);
    let msg = request("POST", &headers);
    let all = parse_signature_input(SIGNATURE_INPUT).unwrap();
    let params = select_label(&all, "sig-b26").unwrap();
    assert_eq!(params.created, Some(1_618_884_473));
    assert_eq!(params.keyid.as_deref(), Some("test-key-ed25519"));
    assert_eq!(params.alg, None);
    assert_eq!(signature_base(&msg, params).unwrap(), BASE);
    // Received text and sfv re-serialization are byte-identical for normally serialized input.
    let received = SIGNATURE_INPUT.strip_prefix("sig-b26=").unwrap();
    assert_eq!(params.received(), Some(received));
    assert_eq!(params.serialized(), received);

    let verified = verify_message_ed25519(&msg, Some("sig-b26"), &key32(KEY_X)).unwrap();
    assert_eq!(&verified, params);
    assert_eq!(
        verify_message_ed25519(&msg, None, &key32(KEY_X)).unwrap(),
        verified
    );
}

#[test]
fn b26_signing_reproduces_the_published_headers() {
    let msg = request("POST", HEADERS);
    let spec = SignatureSpec {
        label: "sig-b26",
        components: &[
            "date",
            "@method",
            "@path",
            "@authority",
            "content-type",
            "content-length",
        ],
        created: Some(1_618_884_473),
        keyid: Some("test-key-ed25519"),
        ..SignatureSpec::default()
    };
    let der = base64::engine::general_purpose::STANDARD
        .decode(KEY_PKCS8)
        .unwrap();
    let seed: [u8; 32] = der[16..].try_into().unwrap();
    assert_eq!(seed, key32(KEY_D));
    let public = sigil_httpsig::sigilum::AgentIdentity {
        namespace: String::new(),
        seed,
        issued_at: String::new(),
    }
    .public_key();
    assert_eq!(public, key32(KEY_X));
    let signed = sign_ed25519(&msg, &spec, &seed).unwrap();
    assert_eq!(signed.base, BASE);
    assert_eq!(signed.signature_input, SIGNATURE_INPUT);
    assert_eq!(signed.signature, SIGNATURE); // Ed25519 is deterministic.
}

#[test]
fn b26_method_case_and_non_canonical_input() {
    let key = key32(KEY_X);
    // The method as received in lower case still verifies (upper-case candidate).
    let headers = with_signature(&[
        ("Signature-Input", SIGNATURE_INPUT),
        ("Signature", SIGNATURE),
    ]);
    verify_message_ed25519(&request("post", &headers), None, &key).unwrap();
    // Extra optional whitespace inside the inner list: the received text differs from the canonical
    // serialization; the RFC's signature (over the canonical text) verifies through the canonical fallback.
    let spaced = SIGNATURE_INPUT.replace("=(\"date\" ", "=( \"date\"  ");
    let all = parse_signature_input(&spaced).unwrap();
    let params = single_signature(&all).unwrap();
    assert_ne!(params.received(), Some(params.serialized()));
    assert_eq!(
        params.received().unwrap(),
        spaced.strip_prefix("sig-b26=").unwrap()
    );
    let extra = [
        ("Signature-Input", spaced.as_str()),
        ("Signature", SIGNATURE),
    ];
    let headers = with_signature(&extra);
    verify_message_ed25519(&request("POST", &headers), None, &key).unwrap();
}

#[test]
fn b26_tampering_is_refused() {
    let key = key32(KEY_X);
    let all = parse_signature_input(SIGNATURE_INPUT).unwrap();
    let params = single_signature(&all).unwrap();
    let sig = parse_signature(SIGNATURE).unwrap().remove(0).1;
    let tampered_date: Vec<(&str, &str)> = HEADERS
        .iter()
        .map(|&(n, v)| {
            if n == "Date" {
                (n, "Tue, 20 Apr 2021 02:07:56 GMT")
            } else {
                (n, v)
            }
        })
        .collect();
    let cases: Vec<(&str, Message<'_>, Rfc9421Error)> = vec![
        (
            "date",
            request("POST", &tampered_date),
            Rfc9421Error::VerificationFailed,
        ),
        (
            "method",
            request("PUT", HEADERS),
            Rfc9421Error::VerificationFailed,
        ),
        (
            "path",
            Message {
                target_uri: "https://example.com/bar",
                ..request("POST", HEADERS)
            },
            Rfc9421Error::VerificationFailed,
        ),
        (
            "missing header",
            request("POST", &HEADERS[..4]),
            Rfc9421Error::MissingComponent("content-length".into()),
        ),
    ];
    for (name, msg, want) in cases {
        assert_eq!(
            verify_ed25519(&msg, params, &sig, &key),
            Err(want),
            "{name}"
        );
    }
    let mut short = sig.clone();
    short.pop();
    assert_eq!(
        verify_ed25519(&request("POST", HEADERS), params, &short, &key),
        Err(Rfc9421Error::BadSignatureLength)
    );
    let mut other_key = key;
    other_key[0] ^= 1;
    assert!(verify_ed25519(&request("POST", HEADERS), params, &sig, &other_key).is_err());
}

#[test]
fn derived_components() {
    let headers = [
        ("X-Multi", " a "),
        ("x-multi", "b\t"),
        ("Host", "example.com"),
    ];
    let cases: &[(&str, &str, &str)] = &[
        (TARGET_URI, "@method", "POST"),
        (TARGET_URI, "@target-uri", TARGET_URI),
        (
            "https://example.com/foo?param=Value&Pet=dog#frag",
            "@target-uri",
            TARGET_URI,
        ),
        (TARGET_URI, "@authority", "example.com"),
        ("https://Example.COM:443/foo", "@authority", "example.com"),
        ("http://example.com:80/foo", "@authority", "example.com"),
        (
            "https://example.com:8443/foo",
            "@authority",
            "example.com:8443",
        ),
        ("https://user@example.com/foo", "@authority", "example.com"),
        ("HTTPS://example.com/foo", "@scheme", "https"),
        (TARGET_URI, "@path", "/foo"),
        ("https://example.com", "@path", "/"),
        (TARGET_URI, "@query", "?param=Value&Pet=dog"),
        ("https://example.com/foo", "@query", "?"),
        ("https://example.com/foo?", "@query", "?"),
        (TARGET_URI, "@request-target", "/foo?param=Value&Pet=dog"),
        ("https://example.com/foo", "@request-target", "/foo"),
        (TARGET_URI, "x-multi", "a, b"),
    ];
    for &(uri, component, want) in cases {
        let input = format!("s=(\"{component}\")");
        let all = parse_signature_input(&input).unwrap();
        let msg = Message {
            method: "POST",
            target_uri: uri,
            headers: &headers,
            body: None,
        };
        let base = signature_base(&msg, &all[0]).unwrap();
        let expected = format!("\"{component}\": {want}\n\"@signature-params\": (\"{component}\")");
        assert_eq!(base, expected, "{uri} {component}");
    }
}

#[test]
fn refusals() {
    let headers = [("Host", "example.com"), ("X-Bad", "a\nb")];
    let msg = Message {
        method: "GET",
        target_uri: TARGET_URI,
        headers: &headers,
        body: None,
    };
    let cases: &[(&str, Rfc9421Error)] = &[
        (
            "s=(\"@method\" \"@method\")",
            Rfc9421Error::DuplicateComponent("\"@method\"".into()),
        ),
        (
            "s=(\"@query-param\";name=\"Cat\")",
            Rfc9421Error::MissingComponent("@query-param;name=\"Cat\"".into()),
        ),
        (
            "s=(\"@query-param\")",
            Rfc9421Error::UnsupportedComponent("\"@query-param\"".into()),
        ),
        (
            "s=(\"@query-param\";name=\"Pet\";bs)",
            Rfc9421Error::UnsupportedComponent("\"@query-param\";name=\"Pet\";bs".into()),
        ),
        (
            "s=(\"host\";sf)",
            Rfc9421Error::UnsupportedComponent("\"host\";sf".into()),
        ),
        (
            "s=(\"@status\")",
            Rfc9421Error::UnsupportedComponent("\"@status\"".into()),
        ),
        (
            "s=(\"Host\")",
            Rfc9421Error::UnsupportedComponent("\"Host\"".into()),
        ),
        (
            "s=(\"date\")",
            Rfc9421Error::MissingComponent("date".into()),
        ),
        (
            "s=(\"x-bad\")",
            Rfc9421Error::InvalidComponentValue("\"x-bad\"".into()),
        ),
    ];
    for (input, want) in cases {
        let result = parse_signature_input(input).and_then(|all| signature_base(&msg, &all[0]));
        assert_eq!(result.as_ref(), Err(want), "{input}");
    }
    let relative = Message {
        target_uri: "/foo",
        ..msg
    };
    let all = parse_signature_input("s=(\"@path\")").unwrap();
    assert_eq!(
        signature_base(&relative, &all[0]),
        Err(Rfc9421Error::BadTargetUri)
    );

    for garbage in [
        "(",
        "s=(\"a",
        "s=(a)",
        "s=1",
        "s=(\"a\");created=\"x\"",
        "s=(\"a\");keyid=1",
        "\u{1}",
    ] {
        assert!(parse_signature_input(garbage).is_err(), "{garbage:?}");
    }
    for garbage in ["s=\"abc\"", "s=:abc", "s=(:AAAA:)", "s"] {
        assert!(parse_signature(garbage).is_err(), "{garbage:?}");
    }
    let two = parse_signature_input("a=(\"@method\"), b=(\"@path\")").unwrap();
    assert_eq!(single_signature(&two), Err(Rfc9421Error::NotExactlyOne(2)));
    assert_eq!(
        select_label(&two, "c"),
        Err(Rfc9421Error::LabelNotFound("c".into()))
    );
    assert_eq!(
        select_label(&two, "b").unwrap().received(),
        Some("(\"@path\")")
    );

    let alg = parse_signature_input("s=(\"@method\");alg=\"rsa-pss-sha512\"").unwrap();
    assert_eq!(
        verify_ed25519(&msg, &alg[0], &[0; 64], &key32(KEY_X)),
        Err(Rfc9421Error::UnsupportedAlgorithm("rsa-pss-sha512".into()))
    );
    assert_eq!(
        verify_message_ed25519(&msg, None, &key32(KEY_X)),
        Err(Rfc9421Error::MissingHeader("Signature-Input"))
    );
}

#[test]
fn query_params() {
    // RFC 9421 B.2.2 (rsa-pss-sha512, so only the base is checked), RFC 8792 line wrapping undone.
    let input = "sig-b22=(\"@authority\" \"content-digest\" \"@query-param\";name=\"Pet\");created=1618884473;keyid=\"test-key-rsa-pss\";tag=\"header-example\"";
    let b22 = "\"@authority\": example.com
\"content-digest\": sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:
\"@query-param\";name=\"Pet\": dog
\"@signature-params\": (\"@authority\" \"content-digest\" \"@query-param\";name=\"Pet\");created=1618884473;keyid=\"test-key-rsa-pss\";tag=\"header-example\"";
    let all = parse_signature_input(input).unwrap();
    assert_eq!(all[0].tag.as_deref(), Some("header-example"));
    assert_eq!(
        signature_base(&request("POST", HEADERS), &all[0]).unwrap(),
        b22
    );

    // RFC 9421 §2.2.8: names and values are decoded, then re-encoded (space as %20); repeats give one
    // line each, in order.
    let uri = "https://example.com/path?var=this%20is%20a%20big%0Avalue&bar=with+plus+whitespace&fa%C3%A7ade%22%3A%20=something&r=1&r=2&e";
    let msg = Message {
        method: "GET",
        target_uri: uri,
        headers: &[],
        body: None,
    };
    let cases: &[(&str, &[&str])] = &[
        ("var", &["this%20is%20a%20big%0Avalue"]),
        ("bar", &["with%20plus%20whitespace"]),
        ("fa%C3%A7ade%22%3A%20", &["something"]),
        ("r", &["1", "2"]),
        ("e", &[""]),
    ];
    for (name, values) in cases {
        let input = format!("s=(\"@query-param\";name=\"{name}\")");
        let all = parse_signature_input(&input).unwrap();
        let id = all[0].components[0].serialized();
        let mut expected: String = values.iter().map(|v| format!("{id}: {v}\n")).collect();
        expected.push_str(&format!("\"@signature-params\": ({id})"));
        assert_eq!(signature_base(&msg, &all[0]).unwrap(), expected, "{name}");
    }
}
