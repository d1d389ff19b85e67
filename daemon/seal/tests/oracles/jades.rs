//! JAdES: the contract's shape, our verifier, and jwcrypto (an independent JWS implementation) on the JWS.

use std::collections::BTreeMap;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sigil_seal::{
    HashAlgorithm, Indication, JadesBuilder, JadesObject, JadesOptions, SealCheck, SealSigner,
    SubIndication, TrustSettings, TrustStore, verify_jades,
};

use crate::support::{KeyKind, Pki, Tsa, now, pki, run, tsa, venv, write};

fn objects() -> Vec<JadesObject> {
    let mut objects = vec![JadesObject {
        uri: "sigill-envelope.json".into(),
        digest: HashAlgorithm::Sha256.digest(b"{\"envelope\":1}"),
        content_type: "application/vnd.sigill.ai-evidence+json".into(),
    }];
    for i in 0..127 {
        objects.push(JadesObject {
            uri: format!("objects/{i:04}"),
            digest: HashAlgorithm::Sha256.digest(format!("object {i}").as_bytes()),
            content_type: if i % 2 == 0 {
                "text/plain".into()
            } else {
                String::new()
            },
        });
    }
    objects
}

fn seal(pki: &Pki, tsa: Option<&Tsa>) -> String {
    let builder = JadesBuilder::new(
        &objects(),
        &pki.chain(),
        pki.key.algorithm(),
        JadesOptions::default(),
    )
    .unwrap();
    let signature = pki.key.sign(builder.to_be_signed()).unwrap();
    let mut jws = builder.assemble(&signature).unwrap();
    if let Some(tsa) = tsa {
        let token = tsa.stamp(jws.timestamp_input());
        jws.add_signature_timestamp(&token);
    }
    jws.to_json()
}

fn supplied() -> BTreeMap<String, Vec<u8>> {
    objects().into_iter().map(|o| (o.uri, o.digest)).collect()
}

const JWCRYPTO_CHECK: &str = r#"
import json, sys
from jwcrypto import jwk, jws
from jwcrypto.common import JWSEHeaderParameter
data = open(sys.argv[1]).read()
header = json.loads(jws.base64url_decode(json.loads(data)["signatures"][0]["protected"]))
import base64
cert = base64.b64decode(header["x5c"][0])
pem = b"-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(cert) + b"-----END CERTIFICATE-----\n"
key = jwk.JWK.from_pem(pem)
registry = {
    "sigT": JWSEHeaderParameter("JAdES signing time", True, True, None),
    "sigD": JWSEHeaderParameter("JAdES signed data objects", True, True, None),
}
token = jws.JWS(header_registry=registry)
token.allowed_algs = ["ES256", "ES384", "RS256", "PS256", "EdDSA"]
token.deserialize(data)
token.verify(key, detached_payload=b"")
print("jwcrypto: OK", header["alg"])
"#;

fn jwcrypto_verifies(pki: &Pki, json: &str) {
    write(pki.path(), "x.jades.json", json.as_bytes());
    write(pki.path(), "check.py", JWCRYPTO_CHECK.as_bytes());
    let python = venv().join("bin/python");
    let (ok, text) = run(
        pki.path(),
        python.to_str().unwrap(),
        &["check.py", "x.jades.json"],
    );
    assert!(
        ok && text.contains("jwcrypto: OK"),
        "jwcrypto rejected the JWS (install it into the oracle venv with `pip install jwcrypto` if missing):\n{text}"
    );
}

#[test]
fn jades_has_the_contract_shape_and_passes_jwcrypto() {
    for kind in [
        KeyKind::P256,
        KeyKind::P384,
        KeyKind::Rsa3072,
        KeyKind::Ed25519,
    ] {
        let pki = pki(kind);
        let json = seal(&pki, None);
        let document: serde_json::Value = serde_json::from_str(&json).unwrap();
        let entry = &document["signatures"][0];
        let header: serde_json::Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(entry["protected"].as_str().unwrap())
                .unwrap(),
        )
        .unwrap();
        let x5c0 = base64::engine::general_purpose::STANDARD
            .decode(header["x5c"][0].as_str().unwrap())
            .unwrap();
        assert_eq!(x5c0, pki.leaf_der);
        assert_eq!(
            header["x5t#S256"].as_str().unwrap(),
            URL_SAFE_NO_PAD.encode(HashAlgorithm::Sha256.digest(&x5c0))
        );
        assert_eq!(header["sigD"]["pars"][0], "sigill-envelope.json");
        assert_eq!(header["sigD"]["pars"].as_array().unwrap().len(), 128);
        assert_eq!(header["sigD"]["hashV"].as_array().unwrap().len(), 128);
        assert_eq!(header["sigD"]["ctys"][2], "");
        jwcrypto_verifies(&pki, &json);
    }
}

#[test]
fn our_verifier_passes_b_t_and_names_mismatches() {
    let pki = pki(KeyKind::P256);
    let tsa = tsa();
    let json = seal(&pki, Some(&tsa));
    let anchors = pki.anchors();
    let empty = TrustStore::new();
    let tsa_trust = tsa.trust();
    let settings = TrustSettings {
        anchors: &anchors,
        platform: &empty,
        tsa: &tsa_trust,
        now: now(),
    };
    let report = verify_jades(json.as_bytes(), &supplied(), &settings);
    assert_eq!(
        report.seal.verdict.indication,
        Indication::Passed,
        "{report:?}"
    );
    assert!(report.complete);
    assert_eq!(report.seal.level.map(|l| l.as_str()), Some("B-T"));
    assert!(report.seal.timestamp.as_ref().is_some_and(|t| t.trusted));
    assert_eq!(report.objects.len(), 128);

    // One altered object digest, one missing, one unreferenced.
    let mut altered = supplied();
    altered.insert("objects/0003".into(), vec![0; 32]);
    altered.remove("objects/0004");
    altered.insert("objects/extra".into(), vec![1; 32]);
    let report = verify_jades(json.as_bytes(), &altered, &settings);
    assert_eq!(
        report.seal.verdict.sub_indication,
        Some(SubIndication::HashFailure)
    );
    assert_eq!(report.seal.failed_check, Some(SealCheck::ContentDigest));
    assert!(report.seal.verdict.message.contains("objects/0003"));
    assert_eq!(report.missing, vec!["objects/0004".to_owned()]);
    assert_eq!(report.unreferenced, vec!["objects/extra".to_owned()]);
    assert!(!report.complete);

    // A signature over other bytes.
    let tampered = json.replacen("\"signature\":\"", "\"signature\":\"A", 1);
    let report = verify_jades(tampered.as_bytes(), &supplied(), &settings);
    assert_ne!(report.seal.verdict.indication, Indication::Passed);

    // Unknown anchors.
    let settings = TrustSettings {
        anchors: &empty,
        platform: &empty,
        tsa: &tsa_trust,
        now: now(),
    };
    let report = verify_jades(json.as_bytes(), &supplied(), &settings);
    assert_eq!(report.seal.trust.as_str(), "untrusted");
    assert_eq!(
        report.seal.verdict.sub_indication,
        Some(SubIndication::NoCertificateChainFound)
    );
}
