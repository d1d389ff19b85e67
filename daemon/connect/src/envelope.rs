//! The envelope and its request: types, `sigil://v1/request?d=` parsing and every validation rule.

use base64::Engine as _;
use serde_json::{Map, Value};
use url::Url;

use crate::{DEFAULT_TTL_SECS, MAX_D_CHARS, MAX_TTL_SECS, Refusal, qubic, urls};

/// The largest integer a JSON number may carry here: 2^53, beyond which JavaScript (which builds and
/// canonicalizes the request) no longer represents every integer.
const MAX_EXACT_INTEGER: u64 = 1 << 53;
/// The longest `sign_message` message, in Unicode scalar values.
pub const MAX_MESSAGE_CHARS: usize = 2048;
/// The highest `sc_call` contract index.
pub const MAX_CONTRACT_INDEX: u8 = 63;

/// The request type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestType {
    /// A QU transfer.
    Transfer,
    /// A smart-contract call.
    ScCall,
    /// Sign a message with the wallet's identity.
    SignMessage,
    /// Verify a signature over a message.
    VerifyMessage,
    /// Connect the dApp to an identity with permissions.
    Connect,
}

impl RequestType {
    /// The wire name: `transfer`, `sc_call`, `sign_message`, `verify_message` or `connect`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Transfer => "transfer",
            Self::ScCall => "sc_call",
            Self::SignMessage => "sign_message",
            Self::VerifyMessage => "verify_message",
            Self::Connect => "connect",
        }
    }

    fn from_wire(text: &str) -> Option<Self> {
        Some(match text {
            "transfer" => Self::Transfer,
            "sc_call" => Self::ScCall,
            "sign_message" => Self::SignMessage,
            "verify_message" => Self::VerifyMessage,
            "connect" => Self::Connect,
            _ => return None,
        })
    }
}

/// A permission a `connect` request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// May request transfers.
    Transfer,
    /// May request smart-contract calls.
    ScCall,
    /// May request message signatures.
    SignMessage,
}

impl Permission {
    /// The wire name: `transfer`, `sc_call` or `sign_message`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Transfer => "transfer",
            Self::ScCall => "sc_call",
            Self::SignMessage => "sign_message",
        }
    }

    fn from_wire(text: &str) -> Option<Self> {
        Some(match text {
            "transfer" => Self::Transfer,
            "sc_call" => Self::ScCall,
            "sign_message" => Self::SignMessage,
            _ => return None,
        })
    }
}

/// The requesting dApp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dapp {
    /// Display name; `""` when absent.
    pub name: String,
    /// The dApp's origin, an https URL (as given).
    pub origin: String,
    /// Icon URL, as given (not validated beyond being a string).
    pub icon: Option<String>,
}

/// Type-specific, validated fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Details {
    /// `transfer`.
    Transfer {
        /// Destination identity (checksum verified).
        to: String,
        /// Positive amount as a canonical decimal string.
        amount: String,
        /// Source identity the dApp expects, when given (checksum verified).
        from: Option<String>,
        /// Ticks after the current one to target.
        tick_offset: Option<i64>,
    },
    /// `sc_call`.
    ScCall {
        /// Contract index, 0–63.
        contract_index: u8,
        /// The contract procedure's input type.
        input_type: u64,
        /// Source identity, when given.
        from: Option<String>,
        /// Non-negative amount as a canonical decimal string, when given.
        amount: Option<String>,
        /// The input payload, as given.
        payload: Option<String>,
        /// Ticks after the current one to target.
        tick_offset: Option<i64>,
    },
    /// `sign_message`.
    SignMessage {
        /// The message shown (and signed when `data` is absent).
        message: String,
        /// Raw bytes to sign instead of the message, decoded from standard base64.
        data: Option<Vec<u8>>,
        /// Identity the dApp expects to sign, when given.
        from: Option<String>,
    },
    /// `verify_message`.
    VerifyMessage {
        /// The message.
        message: String,
        /// The signature, as given (see [`crate::verify_message`]).
        signature: String,
        /// The public key, as given.
        public_key: String,
        /// Raw bytes that were signed instead of the message, decoded from standard base64.
        data: Option<Vec<u8>>,
    },
    /// `connect`.
    Connect {
        /// The permissions asked for, in the given order; empty when absent.
        permissions: Vec<Permission>,
    },
}

/// A shape-valid trust proof (contract §4). Its signature is checked by [`crate::evaluate_trust`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    /// Always 1.
    pub version: u32,
    /// Always `ES256`.
    pub algorithm: String,
    /// The claimed issuer (non-empty), e.g. `did:web:demo.app` or `demo.app`.
    pub issuer: String,
    /// The signer's key id, when given.
    pub key_id: Option<String>,
    /// base64url-nopad SHA-256 of the canonical payload, as claimed.
    pub payload_hash: String,
    /// base64url-nopad raw `r‖s` ECDSA P-256 signature, as given.
    pub signature: String,
    /// The signer's public JWK, when given (parsed only when needed).
    pub public_jwk: Option<Value>,
}

/// A validated envelope.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// The request object exactly as received (unknown fields kept); this is what the proof covers.
    pub request: Value,
    /// The request type.
    pub kind: RequestType,
    /// The requesting dApp.
    pub dapp: Dapp,
    /// The nonce (16–128 of `A–Z a–z 0–9 - _ = +`); replay is the caller's check.
    pub nonce: String,
    /// Expiry in Unix seconds: as given, or `now + DEFAULT_TTL_SECS`.
    pub exp: u64,
    /// The type-specific fields.
    pub details: Details,
    /// Where the result is POSTed: the envelope's `callback`, else the URI's legacy `cb`.
    pub callback: Option<String>,
    /// Where the browser is sent back (not covered by the proof).
    pub redirect_uri: Option<String>,
    /// The trust proof, when present.
    pub proof: Option<Proof>,
    /// True when the JSON was a bare request (no `request` object).
    pub legacy_bare: bool,
}

fn refusal(reason: &'static str, message: impl Into<String>, field: &str) -> Refusal {
    Refusal::new(reason, message.into(), Some(field.to_owned()))
}

/// Parses `sigil://v1/request?d=...[&cb=...]` and validates the envelope it carries.
///
/// Query values are decoded as `URLSearchParams` does (`+` is a space, percent-escapes are UTF-8); the
/// first `d` and the first `cb` count and other keys are ignored. `d` is checked for length before it is
/// decoded. A `cb` that differs from the payload's callback is refused; a `cb` alone becomes the
/// callback (the proof, if any, is then evaluated over it).
pub fn parse_uri(uri: &str, now: u64) -> Result<Envelope, Refusal> {
    let invalid_scheme = || {
        Refusal::new(
            "invalid_scheme",
            "expected sigil://v1/request?d=...".to_owned(),
            None,
        )
    };
    let url = Url::parse(uri).map_err(|_| invalid_scheme())?;
    if url.scheme() != "sigil" || url.host_str() != Some("v1") || url.path() != "/request" {
        return Err(invalid_scheme());
    }
    if url.port().is_some() || !url.username().is_empty() || url.password().is_some() {
        return Err(invalid_scheme());
    }
    let mut d = None;
    let mut cb = None;
    for (key, value) in url.query_pairs() {
        match key.as_ref() {
            "d" if d.is_none() => d = Some(value.into_owned()),
            "cb" if cb.is_none() => cb = Some(value.into_owned()),
            _ => {}
        }
    }
    let d = d.ok_or_else(|| {
        Refusal::new(
            "missing_payload",
            "the d parameter is missing".to_owned(),
            None,
        )
    })?;
    if d.chars().count() > MAX_D_CHARS {
        return Err(Refusal::new(
            "envelope_too_large",
            format!("d is longer than {MAX_D_CHARS} characters"),
            None,
        ));
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(d.as_bytes())
        .map_err(|_| {
            Refusal::new(
                "invalid_encoding",
                "d is not base64url without padding".to_owned(),
                None,
            )
        })?;
    let value: Value = serde_json::from_slice(&bytes)
        .map_err(|_| Refusal::new("invalid_json", "d is not UTF-8 JSON".to_owned(), None))?;
    parse_with_cb(&value, cb, now)
}

/// Validates an already-decoded envelope JSON: an object with a `request` object
/// (`{request, callback?, redirect_uri?, proof?}`), or a bare request (legacy).
pub fn parse_envelope(value: &Value, now: u64) -> Result<Envelope, Refusal> {
    parse_with_cb(value, None, now)
}

fn parse_with_cb(value: &Value, cb: Option<String>, now: u64) -> Result<Envelope, Refusal> {
    let Some(outer) = value.as_object() else {
        return Err(Refusal::new(
            "invalid_json",
            "the payload is not a JSON object".to_owned(),
            None,
        ));
    };
    let (request, legacy_bare) = match outer.get("request") {
        Some(Value::Object(_)) => (&outer["request"], false),
        _ => (value, true),
    };
    let fields = request.as_object().expect("an object in both forms");

    let kind = fields
        .get("type")
        .and_then(Value::as_str)
        .and_then(RequestType::from_wire)
        .ok_or_else(|| {
            refusal(
                "invalid_type",
                "type must be transfer, sc_call, sign_message, verify_message or connect",
                "request.type",
            )
        })?;
    let dapp = parse_dapp(fields)?;
    let nonce = parse_nonce(fields)?;
    let exp = parse_exp(fields, now)?;
    let details = match kind {
        RequestType::Transfer => parse_transfer(fields)?,
        RequestType::ScCall => parse_sc_call(fields)?,
        RequestType::SignMessage => parse_sign_message(fields)?,
        RequestType::VerifyMessage => parse_verify_message(fields)?,
        RequestType::Connect => parse_connect(fields)?,
    };

    // Envelope-level fields; in the bare form they are read from the request object itself.
    let callback = optional_string(outer, "callback", "callback_invalid", "callback")?;
    if let Some(callback) = &callback {
        urls::check_return_url(callback, &urls::CALLBACK, "callback")?;
    }
    let callback = match (callback, cb) {
        (Some(callback), Some(cb)) if callback != cb => {
            return Err(refusal(
                "callback_mismatch",
                "the cb parameter differs from the payload's callback",
                "callback",
            ));
        }
        (Some(callback), _) => Some(callback),
        (None, Some(cb)) => {
            urls::check_return_url(&cb, &urls::CALLBACK, "callback")?;
            Some(cb)
        }
        (None, None) => None,
    };
    let redirect_uri = optional_string(outer, "redirect_uri", "redirect_invalid", "redirect_uri")?;
    if let Some(redirect_uri) = &redirect_uri {
        urls::check_return_url(redirect_uri, &urls::REDIRECT, "redirect_uri")?;
    }
    let proof = if legacy_bare {
        None
    } else {
        parse_proof(outer.get("proof"))?
    };
    // The proof does not cover redirect_uri: a signed request may only send its result back to its own origin,
    // or whoever altered the link would receive what the trust level vouches for.
    if let (Some(redirect_uri), Some(_)) = (&redirect_uri, &proof) {
        urls::check_same_origin(redirect_uri, &dapp.origin)?;
    }
    // What a proof or an approver's device signs over must canonicalize (integers beyond ±2^53 cannot).
    crate::canonical::canonicalize(request)?;

    Ok(Envelope {
        request: request.clone(),
        kind,
        dapp,
        nonce,
        exp,
        details,
        callback,
        redirect_uri,
        proof,
        legacy_bare,
    })
}

/// A member that is absent or `null` (`None`), or a string; anything else is refused with `reason`.
fn optional_string(
    object: &Map<String, Value>,
    key: &str,
    reason: &'static str,
    field: &str,
) -> Result<Option<String>, Refusal> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(refusal(reason, format!("{key} must be a string"), field)),
    }
}

/// A present, non-null member.
fn present<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    object.get(key).filter(|value| !value.is_null())
}

/// An integral JSON number within ±2^53 (an integral float such as `1e6` counts).
fn integer(value: &Value) -> Option<i64> {
    let Value::Number(number) = value else {
        return None;
    };
    let limit = MAX_EXACT_INTEGER as i64;
    if let Some(signed) = number.as_i64() {
        return (-limit..=limit).contains(&signed).then_some(signed);
    }
    if number.is_u64() {
        return None; // above i64::MAX
    }
    let float = number.as_f64()?;
    (float.is_finite() && float.fract() == 0.0 && float.abs() <= MAX_EXACT_INTEGER as f64)
        .then_some(float as i64)
}

fn parse_dapp(fields: &Map<String, Value>) -> Result<Dapp, Refusal> {
    let dapp = match present(fields, "dapp") {
        Some(Value::Object(dapp)) => dapp,
        _ => {
            return Err(refusal(
                "origin_missing",
                "dapp must be an object with an origin",
                "request.dapp",
            ));
        }
    };
    let origin = match present(dapp, "origin") {
        None => {
            return Err(refusal(
                "origin_missing",
                "dapp.origin is missing",
                "request.dapp.origin",
            ));
        }
        Some(Value::String(origin)) => origin.clone(),
        Some(_) => {
            return Err(refusal(
                "origin_not_https",
                "dapp.origin must be an https URL",
                "request.dapp.origin",
            ));
        }
    };
    urls::check_origin(&origin)?;
    let name = optional_string(dapp, "name", "invalid_dapp", "request.dapp.name")?;
    let icon = optional_string(dapp, "icon", "invalid_dapp", "request.dapp.icon")?;
    // An icon approvers' devices would fetch: an https URL without credentials, or nothing.
    let icon = icon.filter(|icon| urls::is_plain_https(icon));
    Ok(Dapp {
        name: name.unwrap_or_default(),
        origin,
        icon,
    })
}

fn parse_nonce(fields: &Map<String, Value>) -> Result<String, Refusal> {
    let valid = |nonce: &str| {
        (16..=128).contains(&nonce.len())
            && nonce
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_=+".contains(&b))
    };
    match fields.get("nonce") {
        Some(Value::String(nonce)) if valid(nonce) => Ok(nonce.clone()),
        _ => Err(refusal(
            "nonce_invalid",
            "nonce must be 16-128 characters from A-Z a-z 0-9 - _ = +",
            "request.nonce",
        )),
    }
}

fn parse_exp(fields: &Map<String, Value>, now: u64) -> Result<u64, Refusal> {
    let Some(value) = present(fields, "exp") else {
        return Ok(now.saturating_add(DEFAULT_TTL_SECS));
    };
    let exp = integer(value).filter(|&exp| exp > 0).ok_or_else(|| {
        refusal(
            "exp_invalid",
            "exp must be a positive integer",
            "request.exp",
        )
    })? as u64;
    if exp <= now {
        return Err(refusal(
            "exp_expired",
            "the request has expired",
            "request.exp",
        ));
    }
    if exp > now.saturating_add(MAX_TTL_SECS) {
        return Err(refusal(
            "exp_too_far",
            format!("exp is more than {MAX_TTL_SECS} s ahead"),
            "request.exp",
        ));
    }
    Ok(exp)
}

fn parse_identity_field(
    fields: &Map<String, Value>,
    key: &str,
    required: bool,
) -> Result<Option<String>, Refusal> {
    let field = format!("request.{key}");
    match present(fields, key) {
        None if !required => Ok(None),
        Some(Value::String(text)) => match qubic::parse_identity(text) {
            Ok(_) => Ok(Some(text.clone())),
            Err(error) => Err(refusal("invalid_identity", error.message, &field)),
        },
        _ => Err(refusal(
            "invalid_identity",
            format!("{key} must be a 60-letter Qubic identity"),
            &field,
        )),
    }
}

/// An amount: an integral JSON number (≤ 2^53) or a decimal string of digits without sign or leading
/// zeros that fits a `u64`; returned as a canonical decimal string.
fn parse_amount(value: Option<&Value>, allow_zero: bool) -> Result<String, Refusal> {
    let invalid = || {
        refusal(
            "invalid_amount",
            if allow_zero {
                "amount must be a non-negative integer (number or decimal string)"
            } else {
                "amount must be a positive integer (number or decimal string)"
            },
            "request.amount",
        )
    };
    let amount: u64 = match value {
        Some(Value::Number(_)) => integer(value.expect("some"))
            .and_then(|a| u64::try_from(a).ok())
            .ok_or_else(invalid)?,
        Some(Value::String(text)) => {
            let canonical = !text.is_empty()
                && text.bytes().all(|b| b.is_ascii_digit())
                && (text == "0" || !text.starts_with('0'));
            if !canonical {
                return Err(invalid());
            }
            text.parse().map_err(|_| invalid())?
        }
        _ => return Err(invalid()),
    };
    if amount == 0 && !allow_zero {
        return Err(invalid());
    }
    Ok(amount.to_string())
}

fn parse_tick_offset(fields: &Map<String, Value>) -> Result<Option<i64>, Refusal> {
    present(fields, "tick_offset")
        .map(|value| {
            integer(value).ok_or_else(|| {
                refusal(
                    "invalid_tick_offset",
                    "tick_offset must be an integer",
                    "request.tick_offset",
                )
            })
        })
        .transpose()
}

fn parse_transfer(fields: &Map<String, Value>) -> Result<Details, Refusal> {
    let to = parse_identity_field(fields, "to", true)?.expect("required");
    let amount = parse_amount(present(fields, "amount"), false)?;
    let from = parse_identity_field(fields, "from", false)?;
    let tick_offset = parse_tick_offset(fields)?;
    Ok(Details::Transfer {
        to,
        amount,
        from,
        tick_offset,
    })
}

fn parse_sc_call(fields: &Map<String, Value>) -> Result<Details, Refusal> {
    let contract_index = present(fields, "contract_index")
        .and_then(integer)
        .and_then(|index| u8::try_from(index).ok())
        .filter(|&index| index <= MAX_CONTRACT_INDEX)
        .ok_or_else(|| {
            refusal(
                "invalid_contract_index",
                "contract_index must be an integer from 0 to 63",
                "request.contract_index",
            )
        })?;
    let input_type = present(fields, "input_type")
        .and_then(integer)
        .and_then(|input| u64::try_from(input).ok())
        .ok_or_else(|| {
            refusal(
                "invalid_input_type",
                "input_type must be a non-negative integer",
                "request.input_type",
            )
        })?;
    let from = parse_identity_field(fields, "from", false)?;
    let amount = present(fields, "amount")
        .map(|value| parse_amount(Some(value), true))
        .transpose()?;
    let payload = optional_string(fields, "payload", "invalid_payload", "request.payload")?;
    let tick_offset = parse_tick_offset(fields)?;
    Ok(Details::ScCall {
        contract_index,
        input_type,
        from,
        amount,
        payload,
        tick_offset,
    })
}

fn parse_message(fields: &Map<String, Value>) -> Result<String, Refusal> {
    match fields.get("message") {
        Some(Value::String(message)) if !message.is_empty() => Ok(message.clone()),
        _ => Err(refusal(
            "message_empty",
            "message must be a non-empty string",
            "request.message",
        )),
    }
}

fn parse_data(fields: &Map<String, Value>) -> Result<Option<Vec<u8>>, Refusal> {
    const STANDARD_ANY_PADDING: base64::engine::GeneralPurpose =
        base64::engine::GeneralPurpose::new(
            &base64::alphabet::STANDARD,
            base64::engine::GeneralPurposeConfig::new()
                .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
        );
    let invalid = || {
        refusal(
            "invalid_data",
            "data must be standard base64",
            "request.data",
        )
    };
    match present(fields, "data") {
        None => Ok(None),
        Some(Value::String(text)) => STANDARD_ANY_PADDING
            .decode(text.as_bytes())
            .map(Some)
            .map_err(|_| invalid()),
        Some(_) => Err(invalid()),
    }
}

fn parse_sign_message(fields: &Map<String, Value>) -> Result<Details, Refusal> {
    let message = parse_message(fields)?;
    if message.chars().count() > MAX_MESSAGE_CHARS {
        return Err(refusal(
            "message_too_long",
            format!("message is longer than {MAX_MESSAGE_CHARS} characters"),
            "request.message",
        ));
    }
    let data = parse_data(fields)?;
    let signed: &[u8] = data.as_deref().unwrap_or(message.as_bytes());
    if signed.starts_with(crate::outcome::RESERVED_PREFIX) {
        // A message signed as is must never be mistaken for an authorization the same key makes.
        return Err(refusal(
            "message_reserved",
            "a message to sign may not start with SIGIL-CONNECT-",
            if data.is_some() {
                "request.data"
            } else {
                "request.message"
            },
        ));
    }
    let from = parse_identity_field(fields, "from", false)?;
    Ok(Details::SignMessage {
        message,
        data,
        from,
    })
}

fn parse_verify_message(fields: &Map<String, Value>) -> Result<Details, Refusal> {
    let message = parse_message(fields)?;
    let signature = match fields.get("signature") {
        Some(Value::String(signature)) => signature.clone(),
        _ => {
            return Err(refusal(
                "invalid_signature_field",
                "signature must be a string",
                "request.signature",
            ));
        }
    };
    let public_key = match fields.get("public_key") {
        Some(Value::String(public_key)) => public_key.clone(),
        _ => {
            return Err(refusal(
                "invalid_public_key",
                "public_key must be a string",
                "request.public_key",
            ));
        }
    };
    let data = parse_data(fields)?;
    Ok(Details::VerifyMessage {
        message,
        signature,
        public_key,
        data,
    })
}

fn parse_connect(fields: &Map<String, Value>) -> Result<Details, Refusal> {
    let invalid = || {
        refusal(
            "invalid_permissions",
            "permissions must be an array of transfer, sc_call, sign_message",
            "request.permissions",
        )
    };
    let permissions = match present(fields, "permissions") {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().and_then(Permission::from_wire))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(invalid)?,
        Some(_) => return Err(invalid()),
    };
    // Each permission once: a repeated one grants nothing more, and would only inflate the result body.
    for (index, permission) in permissions.iter().enumerate() {
        if permissions[..index].contains(permission) {
            return Err(refusal(
                "invalid_permissions",
                "a permission is listed twice",
                "request.permissions",
            ));
        }
    }
    Ok(Details::Connect { permissions })
}

fn parse_proof(value: Option<&Value>) -> Result<Option<Proof>, Refusal> {
    let invalid = |message: &str, field: &str| refusal("proof_invalid", message, field);
    let proof = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(proof)) => proof,
        Some(_) => return Err(invalid("proof must be an object", "proof")),
    };
    if proof.get("version").and_then(integer) != Some(1) {
        return Err(invalid("proof.version must be 1", "proof.version"));
    }
    if proof.get("algorithm").and_then(Value::as_str) != Some("ES256") {
        return Err(invalid("proof.algorithm must be ES256", "proof.algorithm"));
    }
    let issuer = match proof.get("issuer") {
        Some(Value::String(issuer)) if !issuer.is_empty() => issuer.clone(),
        _ => {
            return Err(invalid(
                "proof.issuer must be a non-empty string",
                "proof.issuer",
            ));
        }
    };
    let long_string = |key: &str| match proof.get(key) {
        Some(Value::String(text)) if text.chars().count() >= 16 => Ok(text.clone()),
        _ => Err(invalid(
            &format!("proof.{key} must be a string of at least 16 characters"),
            &format!("proof.{key}"),
        )),
    };
    let payload_hash = long_string("payload_hash")?;
    let signature = long_string("signature")?;
    let key_id = optional_string(proof, "key_id", "proof_invalid", "proof.key_id")?;
    let public_jwk = match proof.get("public_jwk") {
        None | Some(Value::Null) => None,
        Some(jwk @ Value::Object(_)) => Some(jwk.clone()),
        Some(_) => {
            return Err(invalid(
                "proof.public_jwk must be an object",
                "proof.public_jwk",
            ));
        }
    };
    Ok(Some(Proof {
        version: 1,
        algorithm: "ES256".to_owned(),
        issuer,
        key_id,
        payload_hash,
        signature,
        public_jwk,
    }))
}
