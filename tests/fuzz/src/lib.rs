//! The entry functions of Sigil's fuzz targets, one per parser that takes outside bytes.
//!
//! Each `fuzz_targets/<name>.rs` calls [`<name>`](crate) and nothing else, and the corpus regression test
//! (`tests/corpus.rs`) calls the same functions on every file of `corpus/<name>/`, so what libFuzzer ran is
//! exactly what CI replays on stable. A function must not panic on any input; the asserts in them are
//! properties the parsers promise (a parsed request re-encodes to one that parses the same, ...).
//!
//! Only public APIs are used: the crates under `daemon/` are being reorganised, and a target that reached
//! into a module path would break with every move.

use sigil_plugin_api::{
    GenerateKeyRequest, GenerateKeyResponse, HealthReport, ListKeysRequest, ListKeysResponse,
    PublicKeyRequest, PublicKeyResponse, ScheduleDeletionRequest, ScheduleDeletionResponse,
    SendRequest, SendResponse, SignRequest, SignResponse, TsaDescribeRequest, TsaDescription,
    ValidateRecipientRequest, ValidateRecipientResponse, decode_message, encode_message,
};
use sigil_rfc3161::der::Decode;
use sigil_rfc3161::{
    Certificate, CertificateSummary, ParsedRequest, TimestampRequest, TimestampToken,
    TimestampVerdict, TrustStore, Verdict, VerifiedToken, VerifyError, inspect, parse_response,
    parse_token, verify_token_against_digest,
};

#[cfg(feature = "config")]
mod config_entry;
#[cfg(feature = "config")]
pub use config_entry::config;

/// A target's entry function: takes any bytes, panics only on a bug.
pub type Entry = fn(&[u8]);

/// Every target and its entry function, for the corpus regression test. `config` is listed only when the
/// crate is built with the `config` feature.
pub const TARGETS: &[(&str, Entry)] = &[
    ("tsq", tsq),
    ("tsr", tsr),
    ("token", token),
    ("certificate", certificate),
    ("plugin_message", plugin_message),
    ("pdf", pdf),
    ("cades", cades),
    ("httpsig", httpsig),
    ("device", device),
    ("connect", connect),
    #[cfg(feature = "config")]
    ("config", config),
];

/// The digest `tsr` checks tokens against: 32 bytes no real token stamps.
pub const FIXED_DIGEST: [u8; 32] = [0x5a; 32];

/// A `TimeStampReq` as the local TSA receives it (`POST /tsr`).
pub fn tsq(data: &[u8]) {
    let Ok(parsed) = ParsedRequest::from_der(data) else {
        return;
    };
    assert_eq!(parsed.digest.len(), parsed.hash_algorithm.output_len());
    // What was accepted rebuilds into a request that parses to the same thing, when it carried a nonce
    // (the builder always sets one).
    if let Some(nonce) = parsed.nonce.clone() {
        let rebuilt = TimestampRequest::with_nonce(
            parsed.hash_algorithm,
            &parsed.digest,
            parsed.policy,
            parsed.cert_req,
            nonce,
        )
        .expect("an accepted request rebuilds");
        let reparsed = ParsedRequest::from_der(&rebuilt.der).expect("a rebuilt request parses");
        assert_eq!(reparsed, parsed);
    }
}

/// A `TimeStampResp` (or a bare token, as `.tsr` files vary) as a remote TSA or a user uploads it:
/// `parse_response`, `inspect`, and `verify_token_against_digest` with an empty trust store and
/// [`FIXED_DIGEST`]; then once more against the token's own imprint, with its embedded certificates as
/// anchors, so that signature, ESS and chain checks run on fuzzed input too.
pub fn tsr(data: &[u8]) {
    if let Ok(response) = parse_response(data) {
        let _ = (response.status.code(), response.status.is_granted());
        if let Some(token) = &response.token {
            render(token);
        }
    }
    let inspected = inspect(data);
    if let Ok(token) = &inspected {
        render(token);
    }
    let empty = TrustStore::new();
    let result = verify_token_against_digest(data, &FIXED_DIGEST, &empty);
    render_verification(&result);
    if let Ok(token) = &inspected {
        let mut anchors = TrustStore::new();
        for certificate in &token.certificates {
            let _ = anchors.add_root(certificate);
        }
        let result = verify_token_against_digest(data, &token.message_imprint, &anchors);
        render_verification(&result);
    }
}

/// A bare token (`ContentInfo`), as stored records and `/tsa/inspect` take it.
pub fn token(data: &[u8]) {
    if let Ok(token) = parse_token(data) {
        render(&token);
    }
}

/// A DER certificate (embedded in tokens, or configured as a trust anchor), and the same bytes as a PEM
/// bundle of trust roots.
pub fn certificate(data: &[u8]) {
    if let Ok(certificate) = Certificate::from_der(data) {
        summarise(&certificate);
    }
    let mut store = TrustStore::new();
    let _ = store.add_root_der(data);
    let _ = store.add_intermediate_der(data);
    if let Ok(count) = TrustStore::new().add_pem_roots(data) {
        let mut store = TrustStore::new();
        store
            .add_pem_roots(data)
            .expect("the same bundle parses twice");
        assert_eq!(store.root_count(), count);
        for root in store.roots() {
            summarise(root);
        }
    }
}

/// The JSON of a plugin call: every message type the host reads from plugins (responses and the health
/// report) and that plugins read from the host (requests). Each decoded message must encode and decode
/// again to the same value.
pub fn plugin_message(data: &[u8]) {
    // Responses, which the host decodes from plugin output.
    round_trip::<TsaDescription>(data);
    round_trip::<sigil_plugin_api::TimestampResponse>(data);
    round_trip::<GenerateKeyResponse>(data);
    round_trip::<PublicKeyResponse>(data);
    round_trip::<SignResponse>(data);
    round_trip::<ListKeysResponse>(data);
    round_trip::<ScheduleDeletionResponse>(data);
    round_trip::<ValidateRecipientResponse>(data);
    round_trip::<SendResponse>(data);
    round_trip::<HealthReport>(data);
    // Requests, which the plugin side of the crate decodes.
    round_trip::<TsaDescribeRequest>(data);
    round_trip::<sigil_plugin_api::TimestampRequest>(data);
    round_trip::<GenerateKeyRequest>(data);
    round_trip::<PublicKeyRequest>(data);
    round_trip::<SignRequest>(data);
    round_trip::<ListKeysRequest>(data);
    round_trip::<ScheduleDeletionRequest>(data);
    round_trip::<ValidateRecipientRequest>(data);
    // `payload` is arbitrary JSON: floats may not survive a round trip of serde_json's default parser,
    // so only check that the re-encoding decodes.
    if let Ok(message) = decode_message::<SendRequest>(data) {
        let bytes = encode_message(&message).expect("a decoded message encodes");
        decode_message::<SendRequest>(&bytes).expect("an encoded message decodes");
    }
}

fn round_trip<T>(data: &[u8])
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + core::fmt::Debug,
{
    if let Ok(message) = decode_message::<T>(data) {
        let bytes = encode_message(&message).expect("a decoded message encodes");
        let again = decode_message::<T>(&bytes).expect("an encoded message decodes");
        assert_eq!(again, message, "{}", String::from_utf8_lossy(&bytes));
    }
}

/// What the API renders of a parsed token.
fn render(token: &TimestampToken) {
    let _ = (token.serial.to_decimal(), token.serial.to_hex());
    let _ = (token.version.to_decimal(), token.gen_time.to_rfc3339());
    let _ = (
        token.gen_time.unix_seconds(),
        token.gen_time.to_system_time(),
    );
    if let Some(nonce) = &token.nonce {
        let _ = (nonce.to_decimal(), nonce.to_hex());
    }
    for certificate in &token.certificates {
        summarise(certificate);
    }
}

fn summarise(certificate: &Certificate) {
    let summary = CertificateSummary::of(certificate);
    let _ = format!("{summary:?}");
}

fn render_verification(result: &Result<VerifiedToken, VerifyError>) {
    match result {
        Ok(verified) => {
            let _ = verified.trust.explanation();
            render(&verified.token);
        }
        Err(error) => {
            let _ = (error.to_string(), error.kind());
        }
    }
    let verdict = Verdict::of_result(result);
    let _ = (verdict.passed(), format!("{verdict:?}"));
}

/// A PDF as `/seal/sign` and `/seal/verify` receive it: parse, read revisions, signatures and DSS, then prepare
/// a signature update and embed a small DER into it. The update must keep the original as a byte prefix and
/// re-parse, and its ByteRange must leave out exactly the placeholder.
pub fn pdf(data: &[u8]) {
    let Ok(document) = sigil_pdf::Document::parse(data) else {
        return;
    };
    let _ = document.revisions();
    let _ = document.signatures();
    let _ = document.dss();
    let spec = sigil_pdf::SignatureSpec::new(sigil_pdf::SignatureKind::Signature, 64);
    let Ok(prepared) = sigil_pdf::prepare_signature(&document, &spec) else {
        return;
    };
    let [start, first_len, second_start, second_len] = prepared.byte_range();
    assert_eq!(start, 0);
    assert!(first_len <= second_start);
    assert_eq!(
        (second_start + second_len) as usize,
        prepared.bytes().len(),
        "the ByteRange ends at the end of the file"
    );
    let sealed = prepared
        .embed(&[0x30, 0x03, 0x02, 0x01, 0x01])
        .expect("a 5-byte DER fits a 64-byte placeholder");
    assert!(sealed.starts_with(data), "the original is a byte prefix");
    if let Ok(reparsed) = sigil_pdf::Document::parse(&sealed) {
        let _ = reparsed.signatures();
    }
}

/// A detached CMS (`.p7s`) as `/seal/verify` receives it: verified against a fixed digest with empty anchor
/// sets. Nothing may be reported as passed: with no anchor, no verdict can be earned.
pub fn cades(data: &[u8]) {
    let _ = sigil_cms::signed_data::parse_signed_data(data);
    let empty = sigil_seal::TrustStore::new();
    let settings = sigil_seal::TrustSettings {
        anchors: &empty,
        platform: &empty,
        tsa: &empty,
        now: 1_800_000_000,
    };
    let digest = sigil_seal::ContentDigest {
        algorithm: sigil_seal::HashAlgorithm::Sha256,
        digest: FIXED_DIGEST.to_vec(),
    };
    let report = sigil_seal::verify_cades(data, &[digest], &settings);
    assert_ne!(
        report.verdict.indication,
        sigil_seal::Indication::Passed,
        "a seal passed with no trust anchor"
    );
}

/// The instant `httpsig` verifies at: the `created` of its signed fixture request.
const HTTPSIG_NOW: i64 = 1_700_000_000;

/// Sigilum headers of one validly signed POST (signed once), for `httpsig` to graft fuzzed values onto.
fn httpsig_fixture() -> &'static [(String, String)] {
    static FIXTURE: std::sync::OnceLock<Vec<(String, String)>> = std::sync::OnceLock::new();
    FIXTURE.get_or_init(|| {
        let identity = sigil_httpsig::sigilum::AgentIdentity {
            namespace: "fuzz-agent".into(),
            seed: [7; 32],
            issued_at: "2026-01-01T00:00:00Z".into(),
        };
        sigil_httpsig::sigilum::sign_sigilum(
            &identity,
            "POST",
            "https://sigil.example/v1/x",
            Some(b"{}"),
            "subject",
            HTTPSIG_NOW,
            "nonce",
        )
        .expect("the fixture signs")
    })
}

/// `Signature-Input`, `Signature`, `Content-Digest` and a body, separated by newlines, as a server receives
/// them: the structured-field parsers, the signature base, and `verify_sigilum` on a request whose other
/// headers are a valid Sigilum signature's.
pub fn httpsig(data: &[u8]) {
    let _ = httpsig_verdict(data);
}

/// What `httpsig` computes, with `verify_sigilum`'s verdict (its error code on refusal) returned, so the
/// corpus test can check that the valid seed really reaches an accepted signature.
pub fn httpsig_verdict(data: &[u8]) -> Result<(), &'static str> {
    use sigil_httpsig::{Message, digest, rfc9421, sigilum};
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(4, '\n');
    let (input, signature, content_digest) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    );
    let body = parts.next().unwrap_or("").as_bytes();
    let _ = rfc9421::parse_signature(signature);
    let _ = digest::verify_content_digest(content_digest, body);
    let mut headers: Vec<(&str, &str)> = httpsig_fixture()
        .iter()
        .filter(|(name, _)| {
            !matches!(
                name.as_str(),
                "signature-input" | "signature" | "content-digest"
            )
        })
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    headers.extend([
        ("signature-input", input),
        ("signature", signature),
        ("content-digest", content_digest),
    ]);
    let msg = Message {
        method: "POST",
        target_uri: "https://sigil.example/v1/x",
        headers: &headers,
        body: Some(body),
    };
    if let Ok(all) = rfc9421::parse_signature_input(input) {
        for params in &all {
            // What parsed re-serializes to text that parses to the same signature.
            let again = rfc9421::parse_signature_input(&format!(
                "{}={}",
                params.label,
                params.serialized()
            ))
            .expect("a serialized signature parses");
            assert_eq!(again[0].components, params.components);
            let _ = rfc9421::signature_base(&msg, params);
        }
    }
    sigilum::verify_sigilum(&msg, &sigilum::Policy::default(), HTTPSIG_NOW)
        .map(|_| ())
        .map_err(|e| e.code())
}

/// The challenge `device` builds its challenge messages with (its seeds are signed over it).
pub const DEVICE_CHALLENGE: [u8; 32] = [0x5a; 32];
/// The MPA request id `device` builds its MPA messages with.
pub const DEVICE_REQUEST_ID: &str = "fuzz-request";

/// A device response as the server receives one, newline-separated: `device_public_key`, signature,
/// fingerprint, `X-Sigil-Device-Timestamp`, registration nonce, then the action JSON (the rest).
pub fn device(data: &[u8]) {
    let _ = device_verdict(data);
}

/// What `device` computes, returning the purpose whose message the signature verified for, or the error
/// code of the last refusal, so the corpus test can check that the valid seeds really verify.
pub fn device_verdict(data: &[u8]) -> Result<&'static str, &'static str> {
    use sigil_device::messages::{
        challenge_message, decode_nonce, mpa_message, parse_poll_timestamp, poll_message,
        registration_message,
    };
    use sigil_device::{Decision, jcs, parse_fingerprint, parse_public_key, parse_signature};
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(6, '\n');
    let mut next = || parts.next().unwrap_or("");
    let (key, signature, fingerprint, timestamp, nonce, action) =
        (next(), next(), next(), next(), next(), next());

    let _ = parse_signature(signature);
    if let Ok(bytes) = parse_fingerprint(fingerprint) {
        let pictogram = sigil_device::pictogram(&bytes);
        assert_eq!(pictogram.speakable, pictogram.words.join(" "));
    }
    let action: Option<serde_json::Value> = serde_json::from_str(action).ok();
    if let Some(value) = &action
        && let Ok(canonical) = jcs::canonicalize(value)
    {
        // Canonical JSON parses back to a value with the same canonical form.
        let again: serde_json::Value =
            serde_json::from_str(&canonical).expect("canonical JSON parses");
        assert_eq!(jcs::canonicalize(&again).as_deref(), Ok(canonical.as_str()));
    }
    let key = parse_public_key(key).map_err(|error| error.code())?;
    assert_eq!(parse_public_key(&key.to_base64()).as_ref(), Ok(&key));

    let mut messages: Vec<(&'static str, Vec<u8>)> = Vec::new();
    if let Ok(nonce) = decode_nonce(nonce) {
        messages.push(("register", registration_message(&nonce)));
    }
    for (name, decision) in [("approve", Decision::Approve), ("deny", Decision::Deny)] {
        if let Ok(message) = challenge_message(decision, &DEVICE_CHALLENGE, action.as_ref()) {
            messages.push((name, message));
        }
    }
    for (name, decision) in [
        ("mpa-approve", Decision::Approve),
        ("mpa-deny", Decision::Deny),
    ] {
        if let Ok(message) = mpa_message(decision, DEVICE_REQUEST_ID, action.as_ref()) {
            messages.push((name, message));
        }
    }
    if let Ok(seconds) = parse_poll_timestamp(timestamp)
        && let Ok(message) = poll_message(fingerprint, seconds)
    {
        messages.push(("poll", message));
    }
    let mut verdict = Err("NO_MESSAGE");
    for (name, message) in &messages {
        match sigil_device::verify_response(&key, message, signature) {
            Ok(()) => {
                // Domain separation: one signature serves one purpose only.
                assert!(verdict.is_err(), "a signature verified for two purposes");
                verdict = Ok(*name);
            }
            Err(error) if verdict.is_err() => verdict = Err(error.code()),
            Err(_) => {}
        }
    }
    verdict
}

/// The clock `connect` validates envelopes at (seeds carry `exp` values just after it).
pub const CONNECT_NOW: u64 = 1_800_000_000;

/// A signing-request link or envelope as `POST /v1/requests` receives it: bytes starting with `sigil:` are a
/// link, anything else an envelope's JSON. What is accepted must canonicalize, its canonical payload must be
/// a fixed point (reparse and canonicalize again to the same text), and its trust is rated without a panic
/// against an empty registry and a registry naming its issuer.
pub fn connect(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = if text.starts_with("sigil:") {
        sigil_connect::parse_uri(text, CONNECT_NOW)
    } else {
        match serde_json::from_str::<serde_json::Value>(text) {
            Ok(value) => sigil_connect::parse_envelope(&value, CONNECT_NOW),
            Err(_) => return,
        }
    };
    let Ok(envelope) = parsed else { return };
    assert!(
        envelope.exp > CONNECT_NOW && envelope.exp <= CONNECT_NOW + sigil_connect::MAX_TTL_SECS
    );
    if let Ok(canonical) =
        sigil_connect::canonical_payload(&envelope.request, envelope.callback.as_deref())
    {
        let reparsed: serde_json::Value =
            serde_json::from_str(&canonical).expect("canonical JSON parses");
        assert_eq!(
            sigil_connect::canonicalize(&reparsed).expect("canonical JSON canonicalizes"),
            canonical
        );
        let _ = sigil_connect::payload_hash(&canonical);
    }
    let _ = sigil_connect::evaluate_trust(&envelope, &[]);
    if let Some(proof) = &envelope.proof {
        let entry = sigil_connect::RegistryEntry {
            id: "fuzz".into(),
            issuer: proof.issuer.clone(),
            origins: vec![envelope.dapp.origin.clone()],
            public_jwk: proof.public_jwk.clone().unwrap_or_default(),
            key_id: proof.key_id.clone(),
            revoked: false,
        };
        let _ = sigil_connect::evaluate_trust(&envelope, &[entry]);
    }
}
