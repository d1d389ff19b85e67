//! A minimal Sigil push channel: it "delivers" each notification by printing one JSON line to stderr.
//! Build it with `cargo build --release`; the plugin is `target/release/libstderr_push.so`.

use std::sync::atomic::{AtomicU64, Ordering};

use sigil_plugin_api::serde_json::{self, Value};
use sigil_plugin_api::{
    DeliveryOutcome, PluginError, PushChannel, SendRequest, SendResponse, ValidateRecipientRequest,
    ValidateRecipientResponse, export_push_channel,
};

/// One instance per `[[plugins]]` entry. Methods take `&self` and may run on several threads at once, so
/// mutable state lives in atomics (or behind a Mutex).
pub struct StderrPush {
    prefix: String,
    sent: AtomicU64,
}

impl PushChannel for StderrPush {
    fn create(config: Value) -> Result<Self, PluginError> {
        let prefix = match config.get("prefix") {
            None => "sigil".to_owned(),
            Some(Value::String(prefix)) => prefix.clone(),
            Some(_) => return Err(PluginError::invalid_input("`prefix` must be a string")),
        };
        Ok(StderrPush {
            prefix,
            sent: AtomicU64::new(0),
        })
    }

    fn validate_recipient(
        &self,
        request: ValidateRecipientRequest,
    ) -> Result<ValidateRecipientResponse, PluginError> {
        let valid = !request.recipient.is_empty();
        Ok(ValidateRecipientResponse {
            valid,
            reason: (!valid).then(|| "the recipient is empty".to_owned()),
        })
    }

    fn send(&self, request: SendRequest) -> Result<SendResponse, PluginError> {
        let number = self.sent.fetch_add(1, Ordering::Relaxed) + 1;
        let line = serde_json::json!({
            "to": request.recipient,
            "payload": request.payload,
            "idempotency_key": request.idempotency_key,
        });
        eprintln!("{}: {line}", self.prefix);
        Ok(SendResponse {
            delivery_id: format!("{}-{number}", self.prefix),
            outcome: DeliveryOutcome::Delivered,
            detail: None,
        })
    }
}

export_push_channel!(
    StderrPush,
    name = "stderr-push",
    version = env!("CARGO_PKG_VERSION")
);
