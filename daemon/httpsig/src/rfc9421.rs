//! Generic RFC 9421 HTTP message signatures: parsing `Signature-Input` and `Signature` with a structured-field
//! parser, building the signature base of §2.5, and Ed25519 signing and strict verification.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sfv::{
    BareItem, Dictionary, InnerList, Item, ItemSerializer, ListEntry, ListSerializer, Parser,
};

use crate::message::{Message, split_uri, strip_fragment};

/// Why an RFC 9421 signature could not be parsed, its base built, or its signature verified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rfc9421Error {
    /// A header field the operation needs is absent.
    #[error("the {0} header field is missing")]
    MissingHeader(&'static str),
    /// A header field is not the structured field it must be.
    #[error("{field} is not a valid structured field: {reason}")]
    Malformed {
        /// The header field name.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The requested label is not among the signatures.
    #[error("no signature labelled {0:?}")]
    LabelNotFound(String),
    /// A single signature was required but the message has another number.
    #[error("expected exactly one signature, found {0}")]
    NotExactlyOne(usize),
    /// A signature parameter has the wrong type or an unusable value.
    #[error("signature parameter {name}: {reason}")]
    BadParameter {
        /// The parameter name (or `label`).
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The same component identifier is covered twice.
    #[error("component {0} is covered twice")]
    DuplicateComponent(String),
    /// The component (or one of its parameters) is not one this crate can compute.
    #[error("component {0} is not supported")]
    UnsupportedComponent(String),
    /// A covered header field is absent from the message.
    #[error("covered header field {0} is absent from the message")]
    MissingComponent(String),
    /// A component value contains a line break and cannot be placed in a signature base.
    #[error("component {0} has a value that cannot be placed in a signature base")]
    InvalidComponentValue(String),
    /// The message's target URI is not an absolute `scheme://authority/...` URI.
    #[error("the target URI is not an absolute URI")]
    BadTargetUri,
    /// The `alg` parameter names an algorithm other than Ed25519.
    #[error("unsupported signature algorithm {0:?}")]
    UnsupportedAlgorithm(String),
    /// The signature value is not 64 bytes.
    #[error("the signature is not 64 bytes")]
    BadSignatureLength,
    /// The public key is not a valid Ed25519 point.
    #[error("the public key is not a valid Ed25519 key")]
    BadPublicKey,
    /// The signature does not verify over the signature base.
    #[error("the signature does not verify")]
    VerificationFailed,
}

/// One covered component identifier: a component name with its parameters, as an sfv String item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentId {
    name: String,
    serialized: String,
    has_params: bool,
    /// For `"@query-param";name="..."` (and no other parameter): the `name` value.
    query_name: Option<String>,
}

impl ComponentId {
    /// A component identifier without parameters, e.g. `@method` or `content-digest`.
    pub fn new(name: &str) -> Result<Self, Rfc9421Error> {
        let s = sfv::String::from_string(name.to_owned()).map_err(|(e, _)| {
            Rfc9421Error::BadParameter {
                name: "component".into(),
                reason: e.to_string(),
            }
        })?;
        Self::from_item(&Item::new(s))
    }

    fn from_item(item: &Item) -> Result<Self, Rfc9421Error> {
        let name = item
            .bare_item
            .as_string()
            .ok_or_else(|| Rfc9421Error::Malformed {
                field: "Signature-Input",
                reason: "a covered component is not a string".into(),
            })?;
        let serialized = ItemSerializer::new()
            .bare_item(&item.bare_item)
            .parameters(&item.params)
            .finish();
        Ok(Self {
            name: name.as_str().to_owned(),
            serialized,
            has_params: !item.params.is_empty(),
            query_name: (name.as_str() == "@query-param" && item.params.len() == 1)
                .then(|| item.params.get("name").and_then(|v| v.as_string()))
                .flatten()
                .map(|v| v.as_str().to_owned()),
        })
    }

    /// The component name, e.g. `@method`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The identifier as it appears in a signature base line, e.g. `"@method"`.
    pub fn serialized(&self) -> &str {
        &self.serialized
    }
}

/// The parsed parameters of one signature: its label, covered components and metadata parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureParams {
    /// The signature label (the dictionary key), e.g. `sig1`.
    pub label: String,
    /// The covered components, in the signer's order.
    pub components: Vec<ComponentId>,
    /// The `created` parameter (UNIX seconds).
    pub created: Option<i64>,
    /// The `expires` parameter (UNIX seconds).
    pub expires: Option<i64>,
    /// The `keyid` parameter.
    pub keyid: Option<String>,
    /// The `alg` parameter.
    pub alg: Option<String>,
    /// The `nonce` parameter.
    pub nonce: Option<String>,
    /// The `tag` parameter.
    pub tag: Option<String>,
    received: Option<String>,
    canonical: String,
}

impl SignatureParams {
    /// The canonical sfv serialization of the inner list with its parameters.
    pub fn serialized(&self) -> &str {
        &self.canonical
    }

    /// The inner list's text exactly as received in `Signature-Input`, when it could be isolated and
    /// re-parses to the same value.
    pub fn received(&self) -> Option<&str> {
        self.received.as_deref()
    }

    /// The `@signature-params` value used first when verifying: the received text, else the canonical one.
    pub fn signature_params_value(&self) -> &str {
        self.received.as_deref().unwrap_or(&self.canonical)
    }

    fn params_candidates(&self) -> Vec<&str> {
        let mut v = vec![self.signature_params_value()];
        if v[0] != self.canonical {
            v.push(&self.canonical);
        }
        v
    }
}

/// Parses a `Signature-Input` field value: a Dictionary whose members are Inner Lists of String items.
/// Returns every signature in dictionary order. Duplicate components within one signature are an error.
pub fn parse_signature_input(value: &str) -> Result<Vec<SignatureParams>, Rfc9421Error> {
    let malformed = |reason: String| Rfc9421Error::Malformed {
        field: "Signature-Input",
        reason,
    };
    let dict: Dictionary = Parser::new(value)
        .parse()
        .map_err(|e| malformed(e.to_string()))?;
    let members = split_members(value);
    let mut out = Vec::with_capacity(dict.len());
    for (key, entry) in &dict {
        let ListEntry::InnerList(inner) = entry else {
            return Err(malformed(format!(
                "member {} is not an inner list",
                key.as_str()
            )));
        };
        let mut components: Vec<ComponentId> = Vec::with_capacity(inner.items.len());
        for item in &inner.items {
            let id = ComponentId::from_item(item)?;
            if components.iter().any(|c| c.serialized == id.serialized) {
                return Err(Rfc9421Error::DuplicateComponent(id.serialized));
            }
            components.push(id);
        }
        let canonical = serialize_inner_list(inner);
        let received = members
            .as_ref()
            .and_then(|m| {
                m.iter()
                    .rev()
                    .find(|(k, _)| *k == key.as_str())
                    .map(|(_, v)| *v)
            })
            .filter(|text| reparses_to(text, inner))
            .map(str::to_owned);
        let mut params = SignatureParams {
            label: key.as_str().to_owned(),
            components,
            created: None,
            expires: None,
            keyid: None,
            alg: None,
            nonce: None,
            tag: None,
            received,
            canonical,
        };
        for (pk, pv) in &inner.params {
            let bad = |reason: &str| Rfc9421Error::BadParameter {
                name: pk.as_str().to_owned(),
                reason: reason.into(),
            };
            match pk.as_str() {
                "created" | "expires" => {
                    let n = pv.as_integer().ok_or_else(|| bad("not an integer"))?;
                    let n = i64::from(n);
                    if pk.as_str() == "created" {
                        params.created = Some(n);
                    } else {
                        params.expires = Some(n);
                    }
                }
                "keyid" | "alg" | "nonce" | "tag" => {
                    let s = pv
                        .as_string()
                        .ok_or_else(|| bad("not a string"))?
                        .as_str()
                        .to_owned();
                    match pk.as_str() {
                        "keyid" => params.keyid = Some(s),
                        "alg" => params.alg = Some(s),
                        "nonce" => params.nonce = Some(s),
                        _ => params.tag = Some(s),
                    }
                }
                _ => {}
            }
        }
        out.push(params);
    }
    Ok(out)
}

/// Parses a `Signature` field value: a Dictionary of Byte Sequences, returned as `(label, bytes)` pairs.
pub fn parse_signature(value: &str) -> Result<Vec<(String, Vec<u8>)>, Rfc9421Error> {
    let malformed = |reason: String| Rfc9421Error::Malformed {
        field: "Signature",
        reason,
    };
    let dict: Dictionary = Parser::new(value)
        .parse()
        .map_err(|e| malformed(e.to_string()))?;
    dict.iter()
        .map(|(k, entry)| match entry {
            ListEntry::Item(Item {
                bare_item: BareItem::ByteSequence(b),
                ..
            }) => Ok((k.as_str().to_owned(), b.clone())),
            _ => Err(malformed(format!(
                "member {} is not a byte sequence",
                k.as_str()
            ))),
        })
        .collect()
}

/// The signature with label `label`.
pub fn select_label<'p>(
    signatures: &'p [SignatureParams],
    label: &str,
) -> Result<&'p SignatureParams, Rfc9421Error> {
    signatures
        .iter()
        .find(|s| s.label == label)
        .ok_or_else(|| Rfc9421Error::LabelNotFound(label.to_owned()))
}

/// The only signature, when there is exactly one.
pub fn single_signature(signatures: &[SignatureParams]) -> Result<&SignatureParams, Rfc9421Error> {
    match signatures {
        [one] => Ok(one),
        _ => Err(Rfc9421Error::NotExactlyOne(signatures.len())),
    }
}

/// Builds the RFC 9421 §2.5 signature base for `params` over `msg`, with `@method` as received and
/// `@signature-params` as received (see [`SignatureParams::signature_params_value`]).
pub fn signature_base(msg: &Message<'_>, params: &SignatureParams) -> Result<String, Rfc9421Error> {
    build_base(
        msg,
        msg.method,
        &params.components,
        params.signature_params_value(),
    )
}

pub(crate) fn build_base(
    msg: &Message<'_>,
    method: &str,
    components: &[ComponentId],
    params_text: &str,
) -> Result<String, Rfc9421Error> {
    let mut base = String::new();
    for c in components {
        let values = match &c.query_name {
            Some(name) => query_param_values(msg, name)?,
            None => vec![component_value(msg, method, c)?],
        };
        for value in values {
            if value.contains(['\r', '\n']) {
                return Err(Rfc9421Error::InvalidComponentValue(c.serialized.clone()));
            }
            base.push_str(&c.serialized);
            base.push_str(": ");
            base.push_str(&value);
            base.push('\n');
        }
    }
    base.push_str("\"@signature-params\": ");
    base.push_str(params_text);
    Ok(base)
}

fn component_value(
    msg: &Message<'_>,
    method: &str,
    c: &ComponentId,
) -> Result<String, Rfc9421Error> {
    if c.has_params {
        return Err(Rfc9421Error::UnsupportedComponent(c.serialized.clone()));
    }
    let uri = || split_uri(msg.target_uri).ok_or(Rfc9421Error::BadTargetUri);
    let path = |p: &str| {
        if p.is_empty() {
            "/".to_owned()
        } else {
            p.to_owned()
        }
    };
    Ok(match c.name.as_str() {
        "@method" => method.to_owned(),
        "@target-uri" => {
            uri()?;
            strip_fragment(msg.target_uri).to_owned()
        }
        "@authority" => {
            let u = uri()?;
            let scheme = u.scheme.to_ascii_lowercase();
            let auth = u.authority.to_ascii_lowercase();
            match (scheme.as_str(), auth.rsplit_once(':')) {
                ("https", Some((host, "443"))) | ("http", Some((host, "80"))) => host.to_owned(),
                _ => auth,
            }
        }
        "@scheme" => uri()?.scheme.to_ascii_lowercase(),
        "@path" => path(uri()?.path),
        "@query" => format!("?{}", uri()?.query.unwrap_or("")),
        "@request-target" => {
            let u = uri()?;
            match u.query {
                Some(q) => format!("{}?{q}", path(u.path)),
                None => path(u.path),
            }
        }
        name if name.starts_with('@')
            || name.is_empty()
            || name.bytes().any(|b| b.is_ascii_uppercase()) =>
        {
            return Err(Rfc9421Error::UnsupportedComponent(c.serialized.clone()));
        }
        name => msg
            .header(name)
            .ok_or_else(|| Rfc9421Error::MissingComponent(name.to_owned()))?,
    })
}

/// The values of the query parameter `name` (RFC 9421 §2.2.8): the query is parsed as
/// `application/x-www-form-urlencoded`, names and values are re-encoded with that percent-encode set (a
/// space as `%20`), and every occurrence of `name` yields one line, in URI order.
fn query_param_values(msg: &Message<'_>, name: &str) -> Result<Vec<String>, Rfc9421Error> {
    let query = split_uri(msg.target_uri)
        .ok_or(Rfc9421Error::BadTargetUri)?
        .query
        .unwrap_or("");
    let values: Vec<String> = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .filter_map(|pair| {
            let (n, v) = pair.split_once('=').unwrap_or((pair, ""));
            (form_reencode(n) == name).then(|| form_reencode(v))
        })
        .collect();
    if values.is_empty() {
        return Err(Rfc9421Error::MissingComponent(format!(
            "@query-param;name={name:?}"
        )));
    }
    Ok(values)
}

/// Decodes one form-urlencoded name or value (`+` is a space, `%XX` a byte) and percent-encodes the bytes
/// again, leaving only ASCII alphanumerics and `*-._` as they are.
fn form_reencode(raw: &str) -> String {
    let b = raw.as_bytes();
    let mut decoded = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match b[i] {
            b'+' => decoded.push(b' '),
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    decoded.push((h * 16 + l) as u8);
                    i += 2;
                }
                _ => decoded.push(b'%'),
            },
            c => decoded.push(c),
        }
        i += 1;
    }
    let mut out = String::with_capacity(decoded.len());
    for c in decoded {
        if c.is_ascii_alphanumeric() || matches!(c, b'*' | b'-' | b'.' | b'_') {
            out.push(c as char);
        } else {
            out.push_str(&format!("%{c:02X}"));
        }
    }
    out
}

/// Verifies one Ed25519 signature (`alg="ed25519"` or no `alg`) strictly over `msg`.
///
/// Accepted signature bases: `@method` as received, lower-cased (Sigilum) or upper-cased, and
/// `@signature-params` as received or canonically re-serialized; the signature must verify over one of them.
pub fn verify_ed25519(
    msg: &Message<'_>,
    params: &SignatureParams,
    signature: &[u8],
    public_key: &[u8; 32],
) -> Result<(), Rfc9421Error> {
    let key = VerifyingKey::from_bytes(public_key).map_err(|_| Rfc9421Error::BadPublicKey)?;
    verify_ed25519_with_key(msg, params, signature, &key, MethodCase::AsReceived)
}

/// Which spelling of `@method` [`verify_ed25519_with_key`] tries first. Every candidate base costs a full
/// Ed25519 verification until one verifies, so a profile that knows how its signers spell the method says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MethodCase {
    /// As received, then lower case, then upper case (standard RFC 9421 signers).
    AsReceived,
    /// Lower case first (the Sigilum profile's signers), then as received, then upper case.
    LowerFirst,
}

/// [`verify_ed25519`] with an already decoded key (a caller that caches keys saves the point decompression)
/// and the order in which the spellings of `@method` are tried; the bases accepted are the same.
pub fn verify_ed25519_with_key(
    msg: &Message<'_>,
    params: &SignatureParams,
    signature: &[u8],
    key: &VerifyingKey,
    case: MethodCase,
) -> Result<(), Rfc9421Error> {
    if let Some(alg) = &params.alg
        && !alg.eq_ignore_ascii_case("ed25519")
    {
        return Err(Rfc9421Error::UnsupportedAlgorithm(alg.clone()));
    }
    let signature: [u8; 64] = signature
        .try_into()
        .map_err(|_| Rfc9421Error::BadSignatureLength)?;
    let signature = Signature::from_bytes(&signature);
    let spellings = match case {
        MethodCase::AsReceived => [
            msg.method.to_owned(),
            msg.method.to_ascii_lowercase(),
            msg.method.to_ascii_uppercase(),
        ],
        MethodCase::LowerFirst => [
            msg.method.to_ascii_lowercase(),
            msg.method.to_owned(),
            msg.method.to_ascii_uppercase(),
        ],
    };
    let mut methods: Vec<String> = Vec::with_capacity(3);
    for m in spellings {
        if !methods.contains(&m) {
            methods.push(m);
        }
    }
    for params_text in params.params_candidates() {
        for method in &methods {
            let base = build_base(msg, method, &params.components, params_text)?;
            if key.verify_strict(base.as_bytes(), &signature).is_ok() {
                return Ok(());
            }
        }
    }
    Err(Rfc9421Error::VerificationFailed)
}

/// Reads `Signature-Input` and `Signature` from `msg`, picks the signature `label` (or the single one when
/// `label` is `None`) and verifies it with [`verify_ed25519`]. Returns the verified parameters; checking
/// `created`/`expires`, `keyid` and which components are covered is the caller's policy.
pub fn verify_message_ed25519(
    msg: &Message<'_>,
    label: Option<&str>,
    public_key: &[u8; 32],
) -> Result<SignatureParams, Rfc9421Error> {
    let input = msg
        .header("signature-input")
        .ok_or(Rfc9421Error::MissingHeader("Signature-Input"))?;
    let sigs = msg
        .header("signature")
        .ok_or(Rfc9421Error::MissingHeader("Signature"))?;
    let all = parse_signature_input(&input)?;
    let params = match label {
        Some(l) => select_label(&all, l)?,
        None => single_signature(&all)?,
    };
    let values = parse_signature(&sigs)?;
    let (_, sig) = values
        .iter()
        .find(|(l, _)| *l == params.label)
        .ok_or_else(|| Rfc9421Error::LabelNotFound(params.label.clone()))?;
    verify_ed25519(msg, params, sig, public_key)?;
    Ok(params.clone())
}

/// What to sign: label, covered component names and the signature parameters to emit (in the order
/// `created`, `expires`, `keyid`, `alg`, `nonce`, `tag`).
#[derive(Debug, Clone, Default)]
pub struct SignatureSpec<'a> {
    /// The signature label, e.g. `sig1`.
    pub label: &'a str,
    /// The covered component names, in order, without parameters.
    pub components: &'a [&'a str],
    /// `created`.
    pub created: Option<i64>,
    /// `expires`.
    pub expires: Option<i64>,
    /// `keyid`.
    pub keyid: Option<&'a str>,
    /// `alg`.
    pub alg: Option<&'a str>,
    /// `nonce`.
    pub nonce: Option<&'a str>,
    /// `tag`.
    pub tag: Option<&'a str>,
}

/// The two header field values a signature adds to a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    /// The `Signature-Input` value, `label=(...);params`.
    pub signature_input: String,
    /// The `Signature` value, `label=:base64:`.
    pub signature: String,
    /// The signature base that was signed.
    pub base: String,
}

/// Signs `msg` with the Ed25519 key derived from `seed`; `@method` is taken from `msg.method` as given.
pub fn sign_ed25519(
    msg: &Message<'_>,
    spec: &SignatureSpec<'_>,
    seed: &[u8; 32],
) -> Result<SignedHeaders, Rfc9421Error> {
    let bad = |name: &str, e: sfv::Error| Rfc9421Error::BadParameter {
        name: name.into(),
        reason: e.to_string(),
    };
    let label = sfv::KeyRef::from_str(spec.label).map_err(|e| bad("label", e))?;
    let mut inner = InnerList::default();
    for c in spec.components {
        inner
            .items
            .push(Item::new(sf_string(c).map_err(|e| bad("component", e))?));
    }
    let mut put = |k: &str, v: BareItem| {
        inner.params.insert(
            sfv::Key::from_string(k.to_owned()).map_err(|(e, _)| bad(k, e))?,
            v,
        );
        Ok::<_, Rfc9421Error>(())
    };
    for (k, v) in [("created", spec.created), ("expires", spec.expires)] {
        if let Some(v) = v {
            put(
                k,
                BareItem::Integer(sfv::Integer::try_from(v).map_err(|e| bad(k, e))?),
            )?;
        }
    }
    for (k, v) in [
        ("keyid", spec.keyid),
        ("alg", spec.alg),
        ("nonce", spec.nonce),
        ("tag", spec.tag),
    ] {
        if let Some(v) = v {
            put(k, BareItem::String(sf_string(v).map_err(|e| bad(k, e))?))?;
        }
    }
    let signature_input = format!("{}={}", label.as_str(), serialize_inner_list(&inner));
    let parsed = parse_signature_input(&signature_input)?;
    let params = select_label(&parsed, spec.label)?;
    let base = build_base(msg, msg.method, &params.components, params.serialized())?;
    let sig = SigningKey::from_bytes(seed).sign(base.as_bytes());
    let signature = format!("{}=:{}:", label.as_str(), STANDARD.encode(sig.to_bytes()));
    Ok(SignedHeaders {
        signature_input,
        signature,
        base,
    })
}

fn sf_string(s: &str) -> Result<sfv::String, sfv::Error> {
    sfv::String::from_string(s.to_owned()).map_err(|(e, _)| e)
}

fn serialize_inner_list(inner: &InnerList) -> String {
    let entry = ListEntry::InnerList(inner.clone());
    let mut ser = ListSerializer::new();
    ser.members(std::iter::once(&entry));
    ser.finish().unwrap_or_default()
}

fn reparses_to(text: &str, inner: &InnerList) -> bool {
    let Ok(list) = Parser::new(text).parse::<sfv::List>() else {
        return false;
    };
    matches!(list.as_slice(), [ListEntry::InnerList(again)] if again == inner)
}

/// Splits a Dictionary field value into its top-level `(key, value text)` members without interpreting
/// them (commas inside strings and inner lists do not split). `None` on unbalanced input; the sfv parse
/// is the authority on validity, this only recovers the received text of each member.
fn split_members(value: &str) -> Option<Vec<(&str, &str)>> {
    let bytes = value.as_bytes();
    let (mut depth, mut in_string, mut escaped, mut start) = (0usize, false, false, 0usize);
    let mut parts = Vec::new();
    for (i, &b) in bytes.iter().enumerate() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'(' => depth += 1,
            b')' => depth = depth.checked_sub(1)?,
            b',' if depth == 0 => {
                parts.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if in_string || depth != 0 {
        return None;
    }
    parts.push(&value[start..]);
    Some(
        parts
            .into_iter()
            .map(|p| {
                let p = p.trim_matches([' ', '\t']);
                p.split_once('=').unwrap_or((p, ""))
            })
            .collect(),
    )
}
