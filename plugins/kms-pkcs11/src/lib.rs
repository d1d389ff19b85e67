//! `kms-pkcs11`: a Sigil KMS signer plugin for keys on a PKCS#11 token (an HSM, a smart card, SoftHSM2),
//! through `cryptoki`. The token generates the keys and does every private-key operation; the plugin hashes,
//! encodes DER, and maps the KMS ops onto PKCS#11 calls.
//!
//! **Architecture Invariant:** no private key material ever passes through the plugin: generated private
//! keys are `CKA_SENSITIVE` and not `CKA_EXTRACTABLE`, and the plugin only ever asks the token for public
//! attributes. The PIN is read once at `create`, kept in a `secrecy` string, and never appears in a message.
//! The plugin never calls `C_Finalize` or `C_Logout` (see [`module`] and [`token`]).
//!
//! Code map: [`config`] parses the config table and reads the PIN, [`module`] admits modules (only those
//! `allowed_modules` lists), loads and initialises them once per process, [`token`] finds the token and pools
//! logged-in sessions, [`keys`] generates, finds, signs and retires key pairs, [`encoding`] builds SPKI and
//! signature DER, [`uri`] parses and prints `pkcs11:` URIs, [`calendar`] does the deletion dates. See
//! README.md for the config schema and security notes.

pub mod calendar;
pub mod config;
pub mod encoding;
pub mod keys;
pub mod module;
pub mod token;
pub mod uri;

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use cryptoki::mechanism::MechanismType;
use sigil_plugin_api::serde_json::Value;
use sigil_plugin_api::{
    GenerateKeyRequest, GenerateKeyResponse, HealthReport, KeyAlgorithm, KeyInfo, KmsSigner,
    ListKeysRequest, ListKeysResponse, PluginError, PublicKeyRequest, PublicKeyResponse,
    ScheduleDeletionRequest, ScheduleDeletionResponse, SignRequest, SignResponse,
};

use crate::config::Pkcs11Config;
use crate::keys::Deletion;
use crate::token::Token;
use crate::uri::KeyUri;

/// One `[[plugins]]` instance: a logged-in token. Ops run concurrently on separate sessions (see [`token`]);
/// only key generation is serialised, so two generations cannot both pass the label check.
pub struct Pkcs11Kms {
    token: Token,
    generate_lock: Mutex<()>,
}

impl Pkcs11Kms {
    /// Parses a key URI and checks that it names this instance's token.
    fn parse_uri(&self, text: &str) -> Result<KeyUri, PluginError> {
        let uri = KeyUri::parse(text)?;
        if uri.token != self.token.label() {
            return Err(PluginError::not_found(format!(
                "key {text} is on token {:?}; this instance serves token {:?}",
                uri.token,
                self.token.label()
            )));
        }
        Ok(uri)
    }
}

impl KmsSigner for Pkcs11Kms {
    fn create(config: Value) -> Result<Self, PluginError> {
        let mut config = Pkcs11Config::from_json(config)?;
        let pin = config.load_pin()?;
        let pkcs11 = module::initialised_module(&config.module, &config.allowed_modules)?;
        let token = Token::open(pkcs11, config.token_label, config.slot, pin)?;
        Ok(Pkcs11Kms {
            token,
            generate_lock: Mutex::new(()),
        })
    }

    fn health(&self) -> Result<HealthReport, PluginError> {
        let slot = self.token.find_slot()?;
        // A session from the pool or a new one, logged in: proves the PIN still works.
        self.token.with_session(|_| Ok(()))?;
        Ok(HealthReport {
            detail: Some(format!(
                "token {:?} in slot {}, logged in",
                self.token.label(),
                slot.id()
            )),
        })
    }

    fn generate_key(
        &self,
        request: GenerateKeyRequest,
    ) -> Result<GenerateKeyResponse, PluginError> {
        uri::validate_label(&request.label)?;
        if request.algorithm == KeyAlgorithm::Ed25519
            && !(self
                .token
                .supports(MechanismType::ECC_EDWARDS_KEY_PAIR_GEN)?
                && self.token.supports(MechanismType::EDDSA)?)
        {
            return Err(PluginError::unsupported(format!(
                "token {:?} has no CKM_EC_EDWARDS_KEY_PAIR_GEN / CKM_EDDSA: no Ed25519 keys",
                self.token.label()
            )));
        }
        // The guarded data is `()`; a panic while holding it leaves nothing inconsistent.
        let _generating = self
            .generate_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let spki = self
            .token
            .with_session(|session| keys::generate(session, &request.label, request.algorithm))?;
        Ok(GenerateKeyResponse {
            key_uri: KeyUri::new(self.token.label(), &request.label).to_string(),
            public_key_spki_der: spki.into(),
        })
    }

    fn public_key(&self, request: PublicKeyRequest) -> Result<PublicKeyResponse, PluginError> {
        let uri = self.parse_uri(&request.key_uri)?;
        self.token.with_session(|session| {
            let key = keys::find_private_key(session, &uri)?;
            Ok(PublicKeyResponse {
                public_key_spki_der: keys::public_key_spki(session, &key)?.into(),
                algorithm: Some(key.algorithm),
            })
        })
    }

    fn sign(&self, request: SignRequest) -> Result<SignResponse, PluginError> {
        let uri = self.parse_uri(&request.key_uri)?;
        self.token.with_session(|session| {
            let key = keys::find_private_key(session, &uri)?;
            if !key.can_sign {
                let why = match keys::scheduled_deletion_last_day(session, &key) {
                    Some(last_day) => format!(
                        "it is scheduled for deletion after {} (CKA_END_DATE)",
                        last_day.plus_days(1).rfc3339()
                    ),
                    None => "its CKA_SIGN is false".to_owned(),
                };
                return Err(PluginError::permission_denied(format!(
                    "key {} may not sign: {why}",
                    request.key_uri
                )));
            }
            let signature = keys::sign(
                session,
                &key,
                request.algorithm,
                &request.data,
                request.prehashed,
            )?;
            Ok(SignResponse {
                signature: signature.into(),
            })
        })
    }

    /// The private keys that can sign: labelled, of a supported algorithm, `CKA_SIGN` true. Keys made by other
    /// tools are included. Where two keys share a label, their URIs carry `id=` so each stays addressable.
    fn list_keys(&self, _request: ListKeysRequest) -> Result<ListKeysResponse, PluginError> {
        let keys = self.token.with_session(keys::list_private_keys)?;
        let usable: Vec<_> = keys
            .into_iter()
            .filter(|key| key.can_sign && key.algorithm != KeyAlgorithm::Unknown)
            .filter_map(|key| Some((key.label.clone()?, key)))
            .collect();
        let mut label_counts = HashMap::new();
        for (label, _) in &usable {
            *label_counts.entry(label.clone()).or_insert(0usize) += 1;
        }
        let mut listed: Vec<KeyInfo> = usable
            .into_iter()
            .map(|(label, key)| {
                let mut uri = KeyUri::new(self.token.label(), &label);
                if label_counts[&label] > 1 && !key.id.is_empty() {
                    uri.id = Some(key.id);
                }
                KeyInfo {
                    key_uri: uri.to_string(),
                    label,
                    algorithm: key.algorithm,
                }
            })
            .collect();
        listed.sort_by(|a, b| (&a.label, &a.key_uri).cmp(&(&b.label, &b.key_uri)));
        Ok(ListKeysResponse { keys: listed })
    }

    fn schedule_deletion(
        &self,
        request: ScheduleDeletionRequest,
    ) -> Result<ScheduleDeletionResponse, PluginError> {
        let uri = self.parse_uri(&request.key_uri)?;
        let deletion = self.token.with_session(|session| {
            let key = keys::find_private_key(session, &uri)?;
            keys::schedule_deletion(session, &key, request.grace_days)
        })?;
        let deletion_date = match deletion {
            Deletion::Destroyed => calendar::now_rfc3339(),
            // Deleted after the last day of the grace period, so at least `grace_days` whole days from now.
            Deletion::Retired(last_day) => last_day.plus_days(1).rfc3339(),
        };
        Ok(ScheduleDeletionResponse {
            deletion_date: Some(deletion_date),
        })
    }
}

sigil_plugin_api::export_kms_signer!(
    Pkcs11Kms,
    name = "kms-pkcs11",
    version = env!("CARGO_PKG_VERSION")
);
