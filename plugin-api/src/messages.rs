//! The v1 message schemas: the JSON that travels in request slices and response buffers, one request/response
//! pair per op, plus the op names.
//!
//! Evolution rule: within major 1, a message only gains optional fields (absent reads as the default) and
//! readers ignore fields they do not know, so nothing here uses `deny_unknown_fields`. Binary values (DER,
//! signatures, digests) are standard base64 with padding; readers also accept it unpadded. An empty message
//! (zero bytes) reads as `{}`.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::abi::PluginKind;

c_constants! {
    fn op_constants;

    /// TSA backend op: describe the TSA. Request TsaDescribeRequest {}, response TsaDescription.
    pub const SIGIL_OP_TSA_DESCRIBE: &str = "describe";
    /// TSA backend op: turn a DER TimeStampReq into a DER TimeStampResp. Request TimestampRequest, response
    /// TimestampResponse.
    pub const SIGIL_OP_TSA_TIMESTAMP: &str = "timestamp";
    /// KMS signer op: create a key pair. Request GenerateKeyRequest, response GenerateKeyResponse.
    pub const SIGIL_OP_KMS_GENERATE_KEY: &str = "generate_key";
    /// KMS signer op: fetch a key's public key. Request PublicKeyRequest, response PublicKeyResponse.
    pub const SIGIL_OP_KMS_PUBLIC_KEY: &str = "public_key";
    /// KMS signer op: sign a message or digest. Request SignRequest, response SignResponse.
    pub const SIGIL_OP_KMS_SIGN: &str = "sign";
    /// KMS signer op: list the keys the plugin can use. Request ListKeysRequest {}, response ListKeysResponse.
    pub const SIGIL_OP_KMS_LIST_KEYS: &str = "list_keys";
    /// KMS signer op: schedule a key's destruction. Request ScheduleDeletionRequest, response
    /// ScheduleDeletionResponse.
    pub const SIGIL_OP_KMS_SCHEDULE_DELETION: &str = "schedule_deletion";
    /// Push channel op: check a recipient address. Request ValidateRecipientRequest, response
    /// ValidateRecipientResponse.
    pub const SIGIL_OP_PUSH_VALIDATE_RECIPIENT: &str = "validate_recipient";
    /// Push channel op: deliver a notification. Request SendRequest, response SendResponse.
    pub const SIGIL_OP_PUSH_SEND: &str = "send";
}

impl PluginKind {
    /// The ops a plugin of this kind serves through `call`, in the order of the schemas.
    pub const fn ops(self) -> &'static [&'static str] {
        match self {
            PluginKind::TsaBackend => &[SIGIL_OP_TSA_DESCRIBE, SIGIL_OP_TSA_TIMESTAMP],
            PluginKind::KmsSigner => &[
                SIGIL_OP_KMS_GENERATE_KEY,
                SIGIL_OP_KMS_PUBLIC_KEY,
                SIGIL_OP_KMS_SIGN,
                SIGIL_OP_KMS_LIST_KEYS,
                SIGIL_OP_KMS_SCHEDULE_DELETION,
            ],
            PluginKind::PushChannel => &[SIGIL_OP_PUSH_VALIDATE_RECIPIENT, SIGIL_OP_PUSH_SEND],
        }
    }
}

/// Decodes a message, reading zero bytes as `{}`.
pub fn decode_message<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, serde_json::Error> {
    serde_json::from_slice(if bytes.is_empty() { b"{}" } else { bytes })
}

/// Encodes a message as compact JSON.
pub fn encode_message<T: Serialize>(message: &T) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(message)
}

/// Bytes that travel as a standard base64 string (DER, signatures, digests).
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Base64Bytes(pub Vec<u8>);

/// Standard alphabet; writes padding, reads with or without it.
const BASE64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

impl Base64Bytes {
    /// The base64 text.
    pub fn to_base64(&self) -> String {
        base64::Engine::encode(&BASE64, &self.0)
    }

    /// Parses base64 text (standard alphabet, padding optional).
    pub fn from_base64(text: &str) -> Result<Self, base64::DecodeError> {
        base64::Engine::decode(&BASE64, text).map(Base64Bytes)
    }
}

impl core::fmt::Debug for Base64Bytes {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Base64Bytes({})", self.to_base64())
    }
}

impl core::ops::Deref for Base64Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl From<Vec<u8>> for Base64Bytes {
    fn from(bytes: Vec<u8>) -> Self {
        Base64Bytes(bytes)
    }
}

impl From<&[u8]> for Base64Bytes {
    fn from(bytes: &[u8]) -> Self {
        Base64Bytes(bytes.to_vec())
    }
}

impl Serialize for Base64Bytes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_base64())
    }
}

impl<'de> Deserialize<'de> for Base64Bytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Base64Bytes::from_base64(&text).map_err(serde::de::Error::custom)
    }
}

/// Response of the `health` hook on success: `{"detail"?: string}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthReport {
    /// Free text for the operator, e.g. "token slot 0 logged in".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

// ---------------------------------------------------------------------------------------------------------
// TSA backend
// ---------------------------------------------------------------------------------------------------------

/// `describe` request: `{}` (no fields in v1).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TsaDescribeRequest {}

/// `describe` response: who the TSA is and what it offers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TsaDescription {
    /// Short stable identifier, lowercase, e.g. `"digicert"`; used in metrics labels and config.
    pub slug: String,
    /// Display name, e.g. `"DigiCert Timestamp Responder"`.
    pub name: String,
    /// Hash algorithms the TSA accepts in message imprints, as names (`"sha256"`, `"sha384"`, `"sha512"`) or
    /// dotted OIDs (`"2.16.840.1.101.3.4.2.1"`). Absent means unknown.
    #[serde(default)]
    pub hash_algorithms: Vec<String>,
    /// Whether the TSA issues qualified time stamps (eIDAS). Absent means false.
    #[serde(default)]
    pub qualified: bool,
    /// The TSA policy OID it stamps under, dotted, when fixed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_oid: Option<String>,
}

/// `timestamp` request: a DER-encoded RFC 3161 TimeStampReq, built and later verified by the host.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimestampRequest {
    /// The DER TimeStampReq, base64.
    pub request_der: Base64Bytes,
    /// How long the host will wait, in milliseconds; a hint for the plugin's own network timeouts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
}

/// `timestamp` response: the TSA's DER-encoded TimeStampResp, passed through unchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimestampResponse {
    /// The DER TimeStampResp, base64.
    pub response_der: Base64Bytes,
}

// ---------------------------------------------------------------------------------------------------------
// KMS signer
// ---------------------------------------------------------------------------------------------------------

/// A key pair type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum KeyAlgorithm {
    /// ECDSA on NIST P-256.
    #[serde(rename = "ecdsa-p256")]
    EcdsaP256,
    /// RSA, 2048-bit modulus.
    #[serde(rename = "rsa-2048")]
    Rsa2048,
    /// RSA, 3072-bit modulus.
    #[serde(rename = "rsa-3072")]
    Rsa3072,
    /// RSA, 4096-bit modulus.
    #[serde(rename = "rsa-4096")]
    Rsa4096,
    /// Ed25519.
    #[serde(rename = "ed25519")]
    Ed25519,
    /// A value newer than this version of the crate. Plugins answer UNSUPPORTED; written as `"unknown"`.
    #[serde(rename = "unknown", other)]
    Unknown,
}

/// A signature scheme: key type, padding and hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SignatureAlgorithm {
    /// ECDSA P-256 with SHA-256; the signature is a DER `ECDSA-Sig-Value`.
    #[serde(rename = "ecdsa-p256-sha256")]
    EcdsaP256Sha256,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    #[serde(rename = "rsa-pkcs1v15-sha256")]
    RsaPkcs1v15Sha256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    #[serde(rename = "rsa-pkcs1v15-sha384")]
    RsaPkcs1v15Sha384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    #[serde(rename = "rsa-pkcs1v15-sha512")]
    RsaPkcs1v15Sha512,
    /// RSASSA-PSS with SHA-256, MGF1-SHA-256, salt length 32.
    #[serde(rename = "rsa-pss-sha256")]
    RsaPssSha256,
    /// RSASSA-PSS with SHA-384, MGF1-SHA-384, salt length 48.
    #[serde(rename = "rsa-pss-sha384")]
    RsaPssSha384,
    /// RSASSA-PSS with SHA-512, MGF1-SHA-512, salt length 64.
    #[serde(rename = "rsa-pss-sha512")]
    RsaPssSha512,
    /// Pure Ed25519 (never prehashed).
    #[serde(rename = "ed25519")]
    Ed25519,
    /// A value newer than this version of the crate. Plugins answer UNSUPPORTED; written as `"unknown"`.
    #[serde(rename = "unknown", other)]
    Unknown,
}

/// `generate_key` request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenerateKeyRequest {
    /// Human label stored with the key (PKCS#11 `CKA_LABEL`, a KMS alias, a file name stem).
    pub label: String,
    /// The key pair type.
    pub algorithm: KeyAlgorithm,
}

/// `generate_key` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenerateKeyResponse {
    /// The new key's reference, an RFC 7512-style URI: `pkcs11:token=...;object=...`, `file:...`, or a scheme
    /// of the plugin's own. The host stores it and passes it back verbatim.
    pub key_uri: String,
    /// The public key as a DER SubjectPublicKeyInfo, base64.
    pub public_key_spki_der: Base64Bytes,
}

/// `public_key` request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicKeyRequest {
    /// The key's URI.
    pub key_uri: String,
}

/// `public_key` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicKeyResponse {
    /// The public key as a DER SubjectPublicKeyInfo, base64.
    pub public_key_spki_der: Base64Bytes,
    /// The key pair type, when the plugin knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub algorithm: Option<KeyAlgorithm>,
}

/// `sign` request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignRequest {
    /// The key's URI.
    pub key_uri: String,
    /// The signature scheme; must fit the key.
    pub algorithm: SignatureAlgorithm,
    /// What to sign, base64: the message, or its digest when `prehashed` is true.
    pub data: Base64Bytes,
    /// Whether `data` is already the digest of the scheme's hash (its length must match). Absent means false.
    /// Never true with `ed25519`.
    #[serde(default)]
    pub prehashed: bool,
    /// How long the host will wait, in milliseconds; a hint for remote KMS calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
}

/// `sign` response. The host verifies the signature against the public key before trusting it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignResponse {
    /// The signature, base64. ECDSA signatures are DER `ECDSA-Sig-Value`, not raw r||s.
    pub signature: Base64Bytes,
}

/// `list_keys` request: `{}` (no fields in v1).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListKeysRequest {}

/// `list_keys` response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListKeysResponse {
    /// The keys the plugin can sign with.
    #[serde(default)]
    pub keys: Vec<KeyInfo>,
}

/// One entry of [`ListKeysResponse`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyInfo {
    /// The key's URI.
    pub key_uri: String,
    /// The key's label; absent reads as empty.
    #[serde(default)]
    pub label: String,
    /// The key pair type.
    pub algorithm: KeyAlgorithm,
}

/// `schedule_deletion` request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleDeletionRequest {
    /// The key's URI.
    pub key_uri: String,
    /// Days before the key is destroyed; 0 means as soon as the backend allows.
    pub grace_days: u32,
}

/// `schedule_deletion` response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleDeletionResponse {
    /// When the key will be destroyed, RFC 3339, when the backend says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_date: Option<String>,
}

// ---------------------------------------------------------------------------------------------------------
// Push channel
// ---------------------------------------------------------------------------------------------------------

/// `validate_recipient` request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidateRecipientRequest {
    /// The address in the channel's own syntax (a device token, a phone number, a chat id).
    pub recipient: String,
}

/// `validate_recipient` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidateRecipientResponse {
    /// Whether the channel can deliver to the recipient.
    pub valid: bool,
    /// Why not, for the operator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `send` request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendRequest {
    /// The address in the channel's own syntax.
    pub recipient: String,
    /// The notification, a JSON object whose shape the host and the channel agree on.
    pub payload: serde_json::Map<String, serde_json::Value>,
    /// Stable across retries of one notification; channels that can deduplicate use it.
    pub idempotency_key: String,
    /// How long the host will wait, in milliseconds; a hint for the plugin's own network timeouts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// A Web Push VAPID credential the host made for this delivery with a key it keeps in its KMS (added in
    /// version 1 of the API without changing it: absent in older hosts' requests). A channel that speaks Web
    /// Push sends it instead of signing with a key of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vapid: Option<VapidCredential>,
}

/// A VAPID credential (RFC 8292) for one Web Push delivery: `Authorization: vapid t=<token>, k=<public_key>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VapidCredential {
    /// The ES256 JWT: `aud` the origin of the subscription's endpoint, `exp` at most 24 hours ahead, `sub` the
    /// operator's contact.
    pub token: String,
    /// base64url (no padding) of the 65-byte uncompressed P-256 public key that verifies `token`: the
    /// `applicationServerKey` web apps subscribe with.
    pub public_key: String,
}

/// What happened to a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryOutcome {
    /// The channel confirmed delivery.
    Delivered,
    /// The channel accepted it for later delivery.
    Queued,
    /// The channel refused it for good (unknown recipient, payload rejected). Transient failures are errors
    /// (status BACKEND or TIMEOUT), which the host retries.
    Failed,
}

/// `send` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendResponse {
    /// The channel's id for the delivery, for logs and later lookups.
    pub delivery_id: String,
    /// What happened.
    pub outcome: DeliveryOutcome,
    /// Free text for the operator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Encodes, decodes and compares, and checks the exact JSON so the wire names are pinned.
    fn round_trip<T>(value: &T, expected: serde_json::Value)
    where
        T: Serialize + DeserializeOwned + PartialEq + core::fmt::Debug,
    {
        let bytes = encode_message(value).unwrap();
        let as_json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(as_json, expected);
        assert_eq!(&decode_message::<T>(&bytes).unwrap(), value);
    }

    #[test]
    fn schemas_round_trip_with_pinned_wire_names() {
        round_trip(&TsaDescribeRequest {}, json!({}));
        round_trip(
            &TsaDescription {
                slug: "freetsa".into(),
                name: "FreeTSA".into(),
                hash_algorithms: vec!["sha256".into(), "2.16.840.1.101.3.4.2.3".into()],
                qualified: false,
                policy_oid: Some("1.2.3.4.1".into()),
            },
            json!({"slug": "freetsa", "name": "FreeTSA", "hash_algorithms": ["sha256", "2.16.840.1.101.3.4.2.3"],
                   "qualified": false, "policy_oid": "1.2.3.4.1"}),
        );
        round_trip(
            &TimestampRequest {
                request_der: vec![0x30, 0x03, 0x02, 0x01, 0x01].into(),
                timeout_ms: None,
            },
            json!({"request_der": "MAMCAQE="}),
        );
        round_trip(
            &TimestampResponse {
                response_der: vec![0x30, 0x00].into(),
            },
            json!({"response_der": "MAA="}),
        );
        round_trip(
            &GenerateKeyRequest {
                label: "seal-2026".into(),
                algorithm: KeyAlgorithm::Rsa3072,
            },
            json!({"label": "seal-2026", "algorithm": "rsa-3072"}),
        );
        round_trip(
            &GenerateKeyResponse {
                key_uri: "pkcs11:token=sigil;object=seal-2026".into(),
                public_key_spki_der: vec![1, 2, 3].into(),
            },
            json!({"key_uri": "pkcs11:token=sigil;object=seal-2026", "public_key_spki_der": "AQID"}),
        );
        round_trip(
            &PublicKeyRequest {
                key_uri: "file:/var/lib/sigil/keys/a.pem".into(),
            },
            json!({"key_uri": "file:/var/lib/sigil/keys/a.pem"}),
        );
        round_trip(
            &PublicKeyResponse {
                public_key_spki_der: vec![9].into(),
                algorithm: Some(KeyAlgorithm::EcdsaP256),
            },
            json!({"public_key_spki_der": "CQ==", "algorithm": "ecdsa-p256"}),
        );
        round_trip(
            &SignRequest {
                key_uri: "pkcs11:object=a".into(),
                algorithm: SignatureAlgorithm::RsaPkcs1v15Sha256,
                data: vec![0xAA; 32].into(),
                prehashed: true,
                timeout_ms: Some(5000),
            },
            json!({"key_uri": "pkcs11:object=a", "algorithm": "rsa-pkcs1v15-sha256",
                   "data": "qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqo=", "prehashed": true, "timeout_ms": 5000}),
        );
        round_trip(
            &SignResponse {
                signature: vec![0x30].into(),
            },
            json!({"signature": "MA=="}),
        );
        round_trip(&ListKeysRequest {}, json!({}));
        round_trip(
            &ListKeysResponse {
                keys: vec![KeyInfo {
                    key_uri: "pkcs11:object=a".into(),
                    label: "a".into(),
                    algorithm: KeyAlgorithm::Ed25519,
                }],
            },
            json!({"keys": [{"key_uri": "pkcs11:object=a", "label": "a", "algorithm": "ed25519"}]}),
        );
        round_trip(
            &ScheduleDeletionRequest {
                key_uri: "pkcs11:object=a".into(),
                grace_days: 30,
            },
            json!({"key_uri": "pkcs11:object=a", "grace_days": 30}),
        );
        round_trip(&ScheduleDeletionResponse::default(), json!({}));
        round_trip(
            &ValidateRecipientRequest {
                recipient: "device:42".into(),
            },
            json!({"recipient": "device:42"}),
        );
        round_trip(
            &ValidateRecipientResponse {
                valid: false,
                reason: Some("unknown device".into()),
            },
            json!({"valid": false, "reason": "unknown device"}),
        );
        let payload = json!({"title": "Approve login?", "challenge_id": "c1"});
        round_trip(
            &SendRequest {
                recipient: "device:42".into(),
                payload: payload.as_object().unwrap().clone(),
                idempotency_key: "evt-1".into(),
                timeout_ms: None,
                vapid: None,
            },
            json!({"recipient": "device:42", "payload": payload, "idempotency_key": "evt-1"}),
        );
        round_trip(
            &SendRequest {
                recipient: "device:42".into(),
                payload: payload.as_object().unwrap().clone(),
                idempotency_key: "evt-1".into(),
                timeout_ms: Some(500),
                vapid: Some(VapidCredential {
                    token: "h.c.s".into(),
                    public_key: "BA".into(),
                }),
            },
            json!({"recipient": "device:42", "payload": payload, "idempotency_key": "evt-1",
                   "timeout_ms": 500, "vapid": {"token": "h.c.s", "public_key": "BA"}}),
        );
        round_trip(
            &SendResponse {
                delivery_id: "d-1".into(),
                outcome: DeliveryOutcome::Queued,
                detail: None,
            },
            json!({"delivery_id": "d-1", "outcome": "queued"}),
        );
        round_trip(
            &HealthReport {
                detail: Some("ok".into()),
            },
            json!({"detail": "ok"}),
        );
    }

    #[test]
    fn unknown_fields_are_ignored_and_optional_fields_default() {
        let description: TsaDescription =
            decode_message(br#"{"slug":"t","name":"T","future_field":{"x":1}}"#).unwrap();
        assert_eq!(description.hash_algorithms, Vec::<String>::new());
        assert!(!description.qualified);
        assert_eq!(description.policy_oid, None);

        let sign: SignRequest = decode_message(
            br#"{"key_uri":"file:k","algorithm":"ed25519","data":"AAEC","new_in_v1_7":true}"#,
        )
        .unwrap();
        assert!(!sign.prehashed);
        assert_eq!(sign.timeout_ms, None);
        assert_eq!(&*sign.data, &[0, 1, 2]);

        // Empty bytes read as {}, so field-less requests need no body at all.
        let _: TsaDescribeRequest = decode_message(b"").unwrap();
        let _: ListKeysRequest = decode_message(b"").unwrap();
        let _: HealthReport = decode_message(b"").unwrap();
        let _: TsaDescribeRequest = decode_message(br#"{"verbose":true}"#).unwrap();
    }

    #[test]
    fn unknown_enum_values_read_as_unknown() {
        let key: KeyInfo =
            decode_message(br#"{"key_uri":"file:k","algorithm":"ml-dsa-65"}"#).unwrap();
        assert_eq!(key.algorithm, KeyAlgorithm::Unknown);
        assert_eq!(key.label, "");
        let sign: SignRequest =
            decode_message(br#"{"key_uri":"file:k","algorithm":"ecdsa-p384-sha384","data":""}"#)
                .unwrap();
        assert_eq!(sign.algorithm, SignatureAlgorithm::Unknown);
    }

    #[test]
    fn malformed_messages_are_refused() {
        assert!(decode_message::<TimestampRequest>(br#"{"request_der":"!!"}"#).is_err());
        assert!(decode_message::<TimestampRequest>(b"{}").is_err());
        assert!(
            decode_message::<SendRequest>(
                br#"{"recipient":"r","payload":[1],"idempotency_key":"k"}"#
            )
            .is_err()
        );
        assert!(
            decode_message::<SendResponse>(br#"{"delivery_id":"d","outcome":"lost"}"#).is_err()
        );
        // Unpadded base64 is accepted.
        let request: TimestampRequest = decode_message(br#"{"request_der":"MAA"}"#).unwrap();
        assert_eq!(&*request.request_der, &[0x30, 0x00]);
    }

    #[test]
    fn every_kind_lists_its_ops() {
        assert_eq!(PluginKind::TsaBackend.ops(), &["describe", "timestamp"]);
        assert_eq!(PluginKind::KmsSigner.ops().len(), 5);
        assert_eq!(
            PluginKind::PushChannel.ops(),
            &["validate_recipient", "send"]
        );
    }
}
