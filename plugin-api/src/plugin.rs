//! The safe Rust side for plugin authors: one trait per plugin kind, with typed ops. The export macros turn an
//! implementation into the C ABI (see [`crate::export_tsa_backend!`] and its siblings).
//!
//! Threading: the host may run ops and `health` on one instance from several threads at once (up to the
//! `max_concurrency` given to the export macro; by default without bound), hence `Send + Sync` and `&self`.
//! Keep mutable state behind a `Mutex` or atomics. `create` and `Drop` are never concurrent with ops on the
//! same instance.
//!
//! Panics: a panic in any method is caught at the boundary and reported as `PANICKED`; the instance is then
//! poisoned and answers `PANICKED` until the host drops it and creates a new one. Prefer returning
//! [`PluginError`]: a panic costs an instance, an error costs one request.

use serde_json::Value;

use crate::error::PluginError;
use crate::messages::{
    GenerateKeyRequest, GenerateKeyResponse, HealthReport, ListKeysRequest, ListKeysResponse,
    PublicKeyRequest, PublicKeyResponse, ScheduleDeletionRequest, ScheduleDeletionResponse,
    SendRequest, SendResponse, SignRequest, SignResponse, TimestampRequest, TimestampResponse,
    TsaDescribeRequest, TsaDescription, ValidateRecipientRequest, ValidateRecipientResponse,
};

/// A transport to an RFC 3161 time-stamping authority. The host builds the TimeStampReq and verifies the
/// TimeStampResp (imprint, nonce, signature); the plugin only carries bytes, so it needs no ASN.1.
pub trait TsaBackend: Send + Sync + Sized + 'static {
    /// Builds an instance from its config: the `config` table of the plugin's `[[plugins]]` entry in
    /// `sigild.toml`, as JSON (`{}` when absent). Return [`PluginError::invalid_input`] for a bad config.
    fn create(config: Value) -> Result<Self, PluginError>;

    /// Whether the instance can serve requests. Keep it cheap; it runs after create and periodically.
    fn health(&self) -> Result<HealthReport, PluginError> {
        Ok(HealthReport::default())
    }

    /// Op `describe`: who the TSA is and what it offers.
    fn describe(&self, request: TsaDescribeRequest) -> Result<TsaDescription, PluginError>;

    /// Op `timestamp`: sends the DER TimeStampReq to the TSA and returns its DER TimeStampResp unchanged.
    /// Report failures with their class: [`PluginError::network`], [`PluginError::timeout`],
    /// [`PluginError::http_status`], [`PluginError::parse`].
    fn timestamp(&self, request: TimestampRequest) -> Result<TimestampResponse, PluginError>;
}

/// A key holder that signs: a PKCS#11 token, a cloud KMS, key files. Keys are named by RFC 7512-style URIs.
/// The host verifies each signature against the key's public key before trusting it.
pub trait KmsSigner: Send + Sync + Sized + 'static {
    /// Builds an instance from its config (see [`TsaBackend::create`]).
    fn create(config: Value) -> Result<Self, PluginError>;

    /// Whether the instance can serve requests (token present, credentials valid). Keep it cheap.
    fn health(&self) -> Result<HealthReport, PluginError> {
        Ok(HealthReport::default())
    }

    /// Op `generate_key`: creates a key pair. Defaults to UNSUPPORTED, for backends whose keys are made
    /// elsewhere.
    fn generate_key(
        &self,
        request: GenerateKeyRequest,
    ) -> Result<GenerateKeyResponse, PluginError> {
        let _ = request;
        Err(PluginError::unsupported(
            "this KMS plugin does not generate keys",
        ))
    }

    /// Op `public_key`: the key's public half as a DER SubjectPublicKeyInfo.
    fn public_key(&self, request: PublicKeyRequest) -> Result<PublicKeyResponse, PluginError>;

    /// Op `sign`: signs `data` (the message, or its digest when `prehashed`). ECDSA signatures are DER.
    /// Answer [`PluginError::unsupported`] for a scheme the key or backend cannot do, and
    /// [`PluginError::not_found`] for an unknown key URI.
    fn sign(&self, request: SignRequest) -> Result<SignResponse, PluginError>;

    /// Op `list_keys`: the keys this instance can sign with. Defaults to UNSUPPORTED.
    fn list_keys(&self, request: ListKeysRequest) -> Result<ListKeysResponse, PluginError> {
        let _ = request;
        Err(PluginError::unsupported(
            "this KMS plugin does not list keys",
        ))
    }

    /// Op `schedule_deletion`: schedules the key's destruction after a grace period. Defaults to UNSUPPORTED.
    fn schedule_deletion(
        &self,
        request: ScheduleDeletionRequest,
    ) -> Result<ScheduleDeletionResponse, PluginError> {
        let _ = request;
        Err(PluginError::unsupported(
            "this KMS plugin does not delete keys",
        ))
    }
}

/// A notification channel to people or devices (mobile push, chat, SMS). Delivery is at least once: the host
/// retries on errors with the same `idempotency_key`.
pub trait PushChannel: Send + Sync + Sized + 'static {
    /// Builds an instance from its config (see [`TsaBackend::create`]).
    fn create(config: Value) -> Result<Self, PluginError>;

    /// Whether the instance can deliver (credentials valid, service reachable). Keep it cheap.
    fn health(&self) -> Result<HealthReport, PluginError> {
        Ok(HealthReport::default())
    }

    /// Op `validate_recipient`: whether an address is deliverable, checked when a recipient is registered.
    fn validate_recipient(
        &self,
        request: ValidateRecipientRequest,
    ) -> Result<ValidateRecipientResponse, PluginError>;

    /// Op `send`: delivers one notification. Return an error for transient failures (the host retries) and
    /// outcome `failed` for permanent ones.
    fn send(&self, request: SendRequest) -> Result<SendResponse, PluginError>;
}
