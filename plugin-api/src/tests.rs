//! In-process tests of the host side against a KMS plugin exported with the real macro (this test binary is
//! the "library"): descriptor validation table, shims, panics and poisoning, concurrency bound, buffers.

use std::collections::HashMap;
use std::ffi::CString;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use crate::*;

/// A fake KMS: keys live in memory, a "signature" is the data reversed. Config switches let tests provoke
/// every failure path.
struct FakeKms {
    keys: Mutex<HashMap<String, (String, KeyAlgorithm)>>,
    fail_health: bool,
    /// Calls of `sign` running right now on this instance, and the most seen at once (reported by health).
    sign_in_flight: AtomicU32,
    sign_max_in_flight: AtomicU32,
}

impl KmsSigner for FakeKms {
    fn create(config: Value) -> Result<Self, PluginError> {
        if config.get("panic_on_create") == Some(&json!(true)) {
            panic!("asked to panic in create");
        }
        let fail_health = match config.get("fail_health") {
            None => false,
            Some(Value::Bool(flag)) => *flag,
            Some(_) => return Err(PluginError::invalid_input("fail_health must be a boolean")),
        };
        Ok(FakeKms {
            keys: Mutex::new(HashMap::new()),
            fail_health,
            sign_in_flight: AtomicU32::new(0),
            sign_max_in_flight: AtomicU32::new(0),
        })
    }

    fn health(&self) -> Result<HealthReport, PluginError> {
        if self.fail_health {
            return Err(PluginError::network("token unreachable"));
        }
        let max = self.sign_max_in_flight.load(Ordering::SeqCst);
        Ok(HealthReport {
            detail: Some(format!("fake token ready, max_sign_in_flight={max}")),
        })
    }

    fn generate_key(
        &self,
        request: GenerateKeyRequest,
    ) -> Result<GenerateKeyResponse, PluginError> {
        let key_uri = format!("file:fake/{}", request.label);
        self.keys
            .lock()
            .unwrap()
            .insert(key_uri.clone(), (request.label.clone(), request.algorithm));
        Ok(GenerateKeyResponse {
            key_uri,
            public_key_spki_der: request.label.into_bytes().into(),
        })
    }

    fn public_key(&self, request: PublicKeyRequest) -> Result<PublicKeyResponse, PluginError> {
        if request.key_uri == "pkcs11:object=panic" {
            panic!("asked to panic in public_key");
        }
        let keys = self.keys.lock().unwrap();
        let (label, algorithm) = keys
            .get(&request.key_uri)
            .ok_or_else(|| PluginError::not_found(format!("no key {}", request.key_uri)))?;
        Ok(PublicKeyResponse {
            public_key_spki_der: label.clone().into_bytes().into(),
            algorithm: Some(*algorithm),
        })
    }

    fn sign(&self, request: SignRequest) -> Result<SignResponse, PluginError> {
        let now = self.sign_in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.sign_max_in_flight.fetch_max(now, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(5));
        self.sign_in_flight.fetch_sub(1, Ordering::SeqCst);
        if !self.keys.lock().unwrap().contains_key(&request.key_uri) {
            return Err(PluginError::not_found(format!(
                "no key {}",
                request.key_uri
            )));
        }
        let mut signature = request.data.0;
        signature.reverse();
        Ok(SignResponse {
            signature: signature.into(),
        })
    }

    fn list_keys(&self, _request: ListKeysRequest) -> Result<ListKeysResponse, PluginError> {
        let keys = self.keys.lock().unwrap();
        let mut keys: Vec<KeyInfo> = keys
            .iter()
            .map(|(key_uri, (label, algorithm))| KeyInfo {
                key_uri: key_uri.clone(),
                label: label.clone(),
                algorithm: *algorithm,
            })
            .collect();
        keys.sort_by(|a, b| a.key_uri.cmp(&b.key_uri));
        Ok(ListKeysResponse { keys })
    }
}

crate::export_kms_signer!(
    FakeKms,
    name = "fake-kms",
    version = "0.0.1-test",
    max_concurrency = 2
);

unsafe extern "C" {
    // The symbol the macro above defines; declaring it by its ABI name proves the name.
    fn sigil_plugin_entry_v1() -> *const SigilPluginDescriptor;
}

fn entry() -> *const SigilPluginDescriptor {
    // SAFETY: defined in this binary by export_kms_signer!; it only returns the address of a static.
    unsafe { sigil_plugin_entry_v1() }
}

fn fake_kms() -> ValidatedDescriptor {
    // SAFETY: the descriptor is a static of this binary, which is never unloaded.
    unsafe { validate_descriptor(entry()) }.expect("the exported descriptor is valid")
}

// ---------------------------------------------------------------------------------------------------------
// Descriptor validation
// ---------------------------------------------------------------------------------------------------------

/// A descriptor with a trailing field a future minor might add.
#[repr(C)]
struct NewerDescriptor {
    base: SigilPluginDescriptor,
    future: [u64; 3],
}

/// A vtable with a hook a future minor might add.
#[repr(C)]
struct NewerVtable {
    base: SigilPluginVtable,
    future_hook: usize,
}

/// Runs `validate_descriptor` on a copy of the exported descriptor after `edit`, with its own vtable copy
/// (also editable) and room for a newer minor's tail.
fn validate_edited(
    edit: impl FnOnce(&mut SigilPluginDescriptor, &mut SigilPluginVtable),
) -> Result<ValidatedDescriptor, DescriptorError> {
    // SAFETY: the exported descriptor is live static data; these are plain-data structs, so a bitwise copy
    // is a valid value.
    let mut descriptor = NewerDescriptor {
        base: unsafe { core::ptr::read(entry()) },
        future: [u64::MAX; 3],
    };
    // SAFETY: as above; the vtable pointer of a valid descriptor is non-null and live.
    let mut vtable = NewerVtable {
        base: unsafe { *descriptor.base.vtable },
        future_hook: usize::MAX,
    };
    edit(&mut descriptor.base, &mut vtable.base);
    if !descriptor.base.vtable.is_null() {
        descriptor.base.vtable = &vtable.base;
    }
    // SAFETY: the descriptor and vtable are locals with room for any struct_size the cases set (at most the
    // Newer* sizes), the strings are NUL-terminated statics or test buffers, and hooks are the real ones.
    unsafe { validate_descriptor(&descriptor.base) }
}

#[test]
fn descriptor_validation_table() {
    static UPPER: &[u8] = b"Fake-KMS\0";
    static EMPTY: &[u8] = b"\0";
    static LONG: [u8; 80] = [b'a'; 80]; // no NUL within the 64-byte limit
    static NOT_UTF8: &[u8] = b"v\xff1\0";
    let newer_descriptor = size_of::<NewerDescriptor>() as u32;
    let newer_vtable = size_of::<NewerVtable>() as u32;

    type Edit = Box<dyn FnOnce(&mut SigilPluginDescriptor, &mut SigilPluginVtable)>;
    let cases: Vec<(&str, Edit, Result<(), &str>)> = vec![
        ("as exported", Box::new(|_, _| {}), Ok(())),
        (
            "bad magic",
            Box::new(|d, _| d.magic = 0xDEAD_BEEF),
            Err("magic"),
        ),
        (
            "major 2",
            Box::new(|d, _| d.abi_major = 2),
            Err("abi_major"),
        ),
        (
            "major 0",
            Box::new(|d, _| d.abi_major = 0),
            Err("abi_major"),
        ),
        (
            "struct too small",
            Box::new(|d, _| d.struct_size = 40),
            Err("struct_size"),
        ),
        (
            "struct size 0",
            Box::new(|d, _| d.struct_size = 0),
            Err("struct_size"),
        ),
        (
            "newer minor with a longer struct",
            Box::new(move |d, _| {
                d.abi_minor = 9;
                d.struct_size = newer_descriptor;
            }),
            Ok(()),
        ),
        (
            "newer minor, same size",
            Box::new(|d, _| d.abi_minor = 3),
            Ok(()),
        ),
        ("kind 0", Box::new(|d, _| d.kind = 0), Err("kind")),
        ("kind 99", Box::new(|d, _| d.kind = 99), Err("kind")),
        (
            "null name",
            Box::new(|d, _| d.name = core::ptr::null()),
            Err("name"),
        ),
        (
            "empty name",
            Box::new(|d, _| d.name = EMPTY.as_ptr().cast()),
            Err("name"),
        ),
        (
            "uppercase name",
            Box::new(|d, _| d.name = UPPER.as_ptr().cast()),
            Err("name"),
        ),
        (
            "unterminated name",
            Box::new(|d, _| d.name = LONG.as_ptr().cast()),
            Err("name"),
        ),
        (
            "null version",
            Box::new(|d, _| d.version = core::ptr::null()),
            Err("version"),
        ),
        (
            "version not UTF-8",
            Box::new(|d, _| d.version = NOT_UTF8.as_ptr().cast()),
            Err("version"),
        ),
        (
            "null vtable",
            Box::new(|d, _| d.vtable = core::ptr::null()),
            Err("vtable"),
        ),
        (
            "vtable too small",
            Box::new(|_, v| v.struct_size = 16),
            Err("vtable.struct_size"),
        ),
        (
            "newer vtable",
            Box::new(move |_, v| v.struct_size = newer_vtable),
            Ok(()),
        ),
        (
            "null create",
            Box::new(|_, v| v.create = None),
            Err("vtable.create"),
        ),
        (
            "null call",
            Box::new(|_, v| v.call = None),
            Err("vtable.call"),
        ),
        (
            "null health",
            Box::new(|_, v| v.health = None),
            Err("vtable.health"),
        ),
        (
            "null destroy",
            Box::new(|_, v| v.destroy = None),
            Err("vtable.destroy"),
        ),
        (
            "null free_buffer",
            Box::new(|_, v| v.free_buffer = None),
            Err("vtable.free_buffer"),
        ),
    ];
    for (case, edit, expected) in cases {
        let outcome = validate_edited(edit);
        match (&outcome, expected) {
            (Ok(validated), Ok(())) => {
                assert_eq!(validated.kind(), PluginKind::KmsSigner, "{case}");
                assert_eq!(validated.name(), "fake-kms", "{case}");
            }
            (Err(error), Err(field)) => {
                assert_eq!(error.field(), field, "{case}: {error}");
                assert!(error.to_string().contains(field), "{case}: {error}");
            }
            _ => panic!("{case}: expected {expected:?}, got {outcome:?}"),
        }
    }
    // SAFETY: null is checked before anything is read.
    let error = unsafe { validate_descriptor(core::ptr::null()) }.unwrap_err();
    assert_eq!(error.field(), "descriptor");
}

#[test]
fn validated_descriptor_reports_what_the_macro_wrote() {
    let validated = fake_kms();
    assert_eq!(validated.kind(), PluginKind::KmsSigner);
    assert_eq!(validated.name(), "fake-kms");
    assert_eq!(validated.version(), "0.0.1-test");
    assert_eq!(validated.abi_minor(), SIGIL_PLUGIN_ABI_MINOR);
    assert_eq!(
        validated.struct_size() as usize,
        size_of::<SigilPluginDescriptor>()
    );
    assert_eq!(
        validated.vtable_size() as usize,
        size_of::<SigilPluginVtable>()
    );
    assert_eq!(validated.max_concurrency(), 2);
    assert_eq!(validated.flags(), SIGIL_PLUGIN_FLAGS_NONE);
    let validated_newer = validate_edited(|d, _| d.abi_minor = 9).unwrap();
    assert_eq!(validated_newer.abi_minor(), 9);
}

// ---------------------------------------------------------------------------------------------------------
// Calls through the host wrapper
// ---------------------------------------------------------------------------------------------------------

#[test]
fn ops_round_trip_through_the_shims() {
    let instance = fake_kms().create_instance(b"").unwrap();
    assert_eq!(instance.kind(), PluginKind::KmsSigner);
    assert_eq!(
        instance.health().unwrap().detail.as_deref(),
        Some("fake token ready, max_sign_in_flight=0")
    );

    let generated: GenerateKeyResponse = instance
        .call_message(
            SIGIL_OP_KMS_GENERATE_KEY,
            &GenerateKeyRequest {
                label: "seal".into(),
                algorithm: KeyAlgorithm::EcdsaP256,
            },
        )
        .unwrap();
    assert_eq!(generated.key_uri, "file:fake/seal");

    let public: PublicKeyResponse = instance
        .call_message(
            SIGIL_OP_KMS_PUBLIC_KEY,
            &PublicKeyRequest {
                key_uri: generated.key_uri.clone(),
            },
        )
        .unwrap();
    assert_eq!(&*public.public_key_spki_der, b"seal");

    let signed: SignResponse = instance
        .call_message(
            SIGIL_OP_KMS_SIGN,
            &SignRequest {
                key_uri: generated.key_uri.clone(),
                algorithm: SignatureAlgorithm::EcdsaP256Sha256,
                data: vec![1, 2, 3].into(),
                prehashed: false,
                timeout_ms: None,
            },
        )
        .unwrap();
    assert_eq!(&*signed.signature, &[3, 2, 1]);

    // An empty request reads as {}.
    let listed: ListKeysResponse =
        decode_message(&instance.call(SIGIL_OP_KMS_LIST_KEYS, b"").unwrap()).unwrap();
    assert_eq!(listed.keys.len(), 1);

    // A default trait method answers UNSUPPORTED.
    let error = instance
        .call(
            SIGIL_OP_KMS_SCHEDULE_DELETION,
            br#"{"key_uri":"file:fake/seal","grace_days":7}"#,
        )
        .unwrap_err();
    assert_eq!(error.status, Status::Unsupported);
}

#[test]
fn errors_map_to_statuses() {
    let instance = fake_kms().create_instance(b"{}").unwrap();
    let cases: &[(&str, &[u8], Status)] = &[
        ("sign", b"not json", Status::InvalidInput),
        ("sign", br#"{"key_uri":"x"}"#, Status::InvalidInput),
        (
            "sign",
            br#"{"key_uri":"file:none","algorithm":"ed25519","data":""}"#,
            Status::NotFound,
        ),
        (
            "sign",
            br#"{"key_uri":"file:none","algorithm":"slh-dsa","data":""}"#,
            Status::Unsupported,
        ),
        (
            "generate_key",
            br#"{"label":"x","algorithm":"ml-dsa-44"}"#,
            Status::Unsupported,
        ),
        ("timestamp", b"{}", Status::Unsupported),
        ("", b"{}", Status::Unsupported),
    ];
    for (op, request, expected) in cases {
        let error = instance.call(op, request).unwrap_err();
        assert_eq!(error.status, *expected, "{op} {error}");
        assert!(!error.message.is_empty());
    }
    let error = instance.call("si\0gn", b"{}").unwrap_err();
    assert_eq!(error.status, Status::InvalidInput);
}

#[test]
fn create_failures_carry_status_and_message() {
    let kms = fake_kms();
    let error = kms.create_instance(b"{not json").unwrap_err();
    assert_eq!(error.status, Status::InvalidInput);
    assert!(error.message.contains("config"), "{error}");

    let error = kms
        .create_instance(br#"{"fail_health":"yes"}"#)
        .unwrap_err();
    assert_eq!(error.status, Status::InvalidInput);
    assert_eq!(error.message, "fail_health must be a boolean");

    let error = kms
        .create_instance(br#"{"panic_on_create":true}"#)
        .unwrap_err();
    assert_eq!(error.status, Status::Panicked);
    assert!(
        error.message.contains("asked to panic in create"),
        "{error}"
    );

    let sick = kms.create_instance(br#"{"fail_health":true}"#).unwrap();
    let error = sick.health().unwrap_err();
    assert_eq!(error.status, Status::Backend);
    assert_eq!(error.class, Some(ErrorClass::Network));
}

#[test]
fn a_panic_becomes_panicked_and_poisons_the_instance() {
    let kms = fake_kms();
    let instance = kms.create_instance(b"{}").unwrap();
    instance
        .call(
            SIGIL_OP_KMS_GENERATE_KEY,
            br#"{"label":"a","algorithm":"ed25519"}"#,
        )
        .unwrap();

    let error = instance
        .call(
            SIGIL_OP_KMS_PUBLIC_KEY,
            br#"{"key_uri":"pkcs11:object=panic"}"#,
        )
        .unwrap_err();
    assert_eq!(error.status, Status::Panicked);
    assert!(
        error.message.contains("asked to panic in public_key"),
        "{error}"
    );
    assert!(HostInstance::is_poisoning(&error));

    // Every later call and health answers PANICKED, even ones that would succeed.
    let error = instance
        .call(SIGIL_OP_KMS_PUBLIC_KEY, br#"{"key_uri":"file:fake/a"}"#)
        .unwrap_err();
    assert_eq!(error.status, Status::Panicked);
    assert!(error.message.contains("poisoned"), "{error}");
    assert_eq!(instance.health().unwrap_err().status, Status::Panicked);

    // Destroying the poisoned instance is fine, and a new one serves again.
    drop(instance);
    let fresh = kms.create_instance(b"{}").unwrap();
    fresh.health().unwrap();
    fresh
        .call(
            SIGIL_OP_KMS_GENERATE_KEY,
            br#"{"label":"a","algorithm":"ed25519"}"#,
        )
        .unwrap();
}

#[test]
fn the_host_enforces_max_concurrency() {
    let instance = fake_kms().create_instance(b"{}").unwrap();
    instance
        .call(
            SIGIL_OP_KMS_GENERATE_KEY,
            br#"{"label":"k","algorithm":"rsa-2048"}"#,
        )
        .unwrap();
    std::thread::scope(|scope| {
        for _ in 0..6 {
            scope.spawn(|| {
                for _ in 0..3 {
                    instance
                        .call(
                            SIGIL_OP_KMS_SIGN,
                            br#"{"key_uri":"file:fake/k","algorithm":"rsa-pss-sha256","data":"AA=="}"#,
                        )
                        .unwrap();
                }
            });
        }
    });
    // Six threads, eighteen 5 ms signatures, a bound of 2: the plugin saw two at once, never more.
    let detail = instance.health().unwrap().detail.unwrap();
    assert!(detail.ends_with("max_sign_in_flight=2"), "{detail}");
}

// ---------------------------------------------------------------------------------------------------------
// The raw hooks, as a careless or hostile host might call them
// ---------------------------------------------------------------------------------------------------------

#[test]
fn raw_hooks_tolerate_bad_arguments() {
    let hooks = *fake_kms().hooks();
    let mut out = SigilBuffer::EMPTY;

    // SAFETY: each call below passes arguments the shims check (null pointers, bad lengths); the buffers are
    // locals released with their own free function.
    unsafe {
        let status = (hooks.create)(SigilSlice::EMPTY, core::ptr::null_mut(), &mut out);
        assert_eq!(status, SIGIL_STATUS_INVALID_INPUT);
        out.release();

        let broken = SigilSlice {
            ptr: core::ptr::null(),
            len: 5,
        };
        let mut handle = core::ptr::null_mut();
        let status = (hooks.create)(broken, &mut handle, &mut out);
        assert_eq!(status, SIGIL_STATUS_INVALID_INPUT);
        assert!(handle.is_null());
        out.release();

        // Null out buffers are allowed: the message is dropped, the status still tells.
        let status = (hooks.create)(SigilSlice::EMPTY, &mut handle, core::ptr::null_mut());
        assert_eq!(status, SIGIL_STATUS_OK);
        assert!(!handle.is_null());

        let op = CString::new("list_keys").unwrap();
        let status = (hooks.call)(
            core::ptr::null_mut(),
            op.as_ptr(),
            SigilSlice::EMPTY,
            &mut out,
        );
        assert_eq!(status, SIGIL_STATUS_INVALID_INPUT);
        out.release();

        let status = (hooks.call)(handle, core::ptr::null(), SigilSlice::EMPTY, &mut out);
        assert_eq!(status, SIGIL_STATUS_INVALID_INPUT);
        out.release();

        let bad_op = b"\xff\xfe\0";
        let status = (hooks.call)(handle, bad_op.as_ptr().cast(), SigilSlice::EMPTY, &mut out);
        assert_eq!(status, SIGIL_STATUS_INVALID_INPUT);
        out.release();

        let status = (hooks.call)(handle, op.as_ptr(), broken, &mut out);
        assert_eq!(status, SIGIL_STATUS_INVALID_INPUT);
        out.release();

        let status = (hooks.call)(handle, op.as_ptr(), SigilSlice::EMPTY, &mut out);
        assert_eq!(status, SIGIL_STATUS_OK);
        assert_eq!(out.as_bytes(), br#"{"keys":[]}"#);
        // The vtable's free_buffer releases buffers just like their own free does.
        (hooks.free_buffer)(&mut out);
        assert!(out.ptr.is_null() && out.free.is_none());

        let status = (hooks.health)(core::ptr::null_mut(), &mut out);
        assert_eq!(status, SIGIL_STATUS_INVALID_INPUT);
        out.release();

        (hooks.destroy)(handle);
        // Destroying null is a no-op.
        (hooks.destroy)(core::ptr::null_mut());
    }
}

// ---------------------------------------------------------------------------------------------------------
// The other adapters, driven through their generic hooks without an export macro
// ---------------------------------------------------------------------------------------------------------

/// A push channel whose `health` panics on demand.
struct FlakyPush {
    panic_in_health: bool,
}

impl PushChannel for FlakyPush {
    fn create(config: Value) -> Result<Self, PluginError> {
        Ok(FlakyPush {
            panic_in_health: config["panic_in_health"] == json!(true),
        })
    }

    fn health(&self) -> Result<HealthReport, PluginError> {
        if self.panic_in_health {
            panic!("health exploded");
        }
        Ok(HealthReport::default())
    }

    fn validate_recipient(
        &self,
        request: ValidateRecipientRequest,
    ) -> Result<ValidateRecipientResponse, PluginError> {
        let valid = request.recipient.starts_with("device:");
        Ok(ValidateRecipientResponse {
            valid,
            reason: (!valid).then(|| "recipients look like device:<id>".to_owned()),
        })
    }

    fn send(&self, request: SendRequest) -> Result<SendResponse, PluginError> {
        Ok(SendResponse {
            delivery_id: format!("{}:{}", request.recipient, request.idempotency_key),
            outcome: DeliveryOutcome::Delivered,
            detail: None,
        })
    }
}

/// Calls a hook-level op and decodes the answer.
fn raw_call(
    vtable: &SigilPluginVtable,
    handle: *mut SigilInstance,
    op: &str,
    request: &[u8],
) -> (SigilStatus, Vec<u8>) {
    let op = CString::new(op).unwrap();
    let mut out = SigilBuffer::EMPTY;
    // SAFETY: a live handle of this vtable's plugin, and arguments that outlive the call.
    let status = unsafe {
        (vtable.call.unwrap())(
            handle,
            op.as_ptr(),
            SigilSlice::from_bytes(request),
            &mut out,
        )
    };
    // SAFETY: a buffer the hook just filled.
    (status, unsafe { out.take() })
}

#[test]
fn push_adapter_dispatches_and_poisons_on_health_panic() {
    let vtable = __private::vtable::<__private::PushAdapter<FlakyPush>>();
    let create = vtable.create.unwrap();
    let health = vtable.health.unwrap();
    let destroy = vtable.destroy.unwrap();
    let config = br#"{"panic_in_health":true}"#;
    let mut handle = core::ptr::null_mut();
    let mut out = SigilBuffer::EMPTY;
    // SAFETY: valid config slice and out pointers.
    let status = unsafe { create(SigilSlice::from_bytes(config), &mut handle, &mut out) };
    assert_eq!(status, SIGIL_STATUS_OK);

    let (status, body) = raw_call(
        &vtable,
        handle,
        "validate_recipient",
        br#"{"recipient":"sms:1"}"#,
    );
    assert_eq!(status, SIGIL_STATUS_OK);
    let answer: ValidateRecipientResponse = decode_message(&body).unwrap();
    assert!(!answer.valid && answer.reason.is_some());

    let (status, body) = raw_call(
        &vtable,
        handle,
        "send",
        br#"{"recipient":"device:1","payload":{"a":1},"idempotency_key":"k1","extra":"ignored"}"#,
    );
    assert_eq!(status, SIGIL_STATUS_OK);
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap(),
        json!({"delivery_id": "device:1:k1", "outcome": "delivered"})
    );

    // SAFETY: live handle, local out buffer.
    let status = unsafe { health(handle, &mut out) };
    assert_eq!(status, SIGIL_STATUS_PANICKED);
    // SAFETY: filled by the hook.
    let error = PluginError::from_wire(status, &unsafe { out.take() });
    assert!(error.message.contains("health exploded"), "{error}");

    let (status, _) = raw_call(&vtable, handle, "send", b"{}");
    assert_eq!(status, SIGIL_STATUS_PANICKED);
    // SAFETY: the handle is destroyed exactly once.
    unsafe { destroy(handle) };
}

/// A TSA backend that answers with the request bytes reversed.
struct MirrorTsa;

impl TsaBackend for MirrorTsa {
    fn create(_config: Value) -> Result<Self, PluginError> {
        Ok(MirrorTsa)
    }

    fn describe(&self, _request: TsaDescribeRequest) -> Result<TsaDescription, PluginError> {
        Ok(TsaDescription {
            slug: "mirror".into(),
            name: "Mirror TSA".into(),
            ..TsaDescription::default()
        })
    }

    fn timestamp(&self, request: TimestampRequest) -> Result<TimestampResponse, PluginError> {
        if request.request_der.is_empty() {
            return Err(PluginError::http_status(400, "empty request"));
        }
        let mut response = request.request_der.0;
        response.reverse();
        Ok(TimestampResponse {
            response_der: response.into(),
        })
    }
}

#[test]
fn tsa_adapter_dispatches_and_reports_error_classes() {
    let vtable = __private::vtable::<__private::TsaAdapter<MirrorTsa>>();
    let mut handle = core::ptr::null_mut();
    let mut out = SigilBuffer::EMPTY;
    // SAFETY: valid config slice and out pointers.
    let status = unsafe { (vtable.create.unwrap())(SigilSlice::EMPTY, &mut handle, &mut out) };
    assert_eq!(status, SIGIL_STATUS_OK);

    let (status, body) = raw_call(&vtable, handle, "describe", b"");
    assert_eq!(status, SIGIL_STATUS_OK);
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap(),
        json!({"slug": "mirror", "name": "Mirror TSA", "hash_algorithms": [], "qualified": false})
    );

    let (status, body) = raw_call(&vtable, handle, "timestamp", br#"{"request_der":"AQI="}"#);
    assert_eq!(status, SIGIL_STATUS_OK);
    let response: TimestampResponse = decode_message(&body).unwrap();
    assert_eq!(&*response.response_der, &[2, 1]);

    let (status, body) = raw_call(&vtable, handle, "timestamp", br#"{"request_der":""}"#);
    let error = PluginError::from_wire(status, &body);
    assert_eq!(error.status, Status::Backend);
    assert_eq!(error.class, Some(ErrorClass::HttpStatus));
    assert_eq!(error.http_status, Some(400));

    // SAFETY: the handle is destroyed exactly once.
    unsafe { (vtable.destroy.unwrap())(handle) };
}
